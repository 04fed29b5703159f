#!/usr/bin/env bash
# vbdctl attach / detach / status as a user types them, against the embedded
# daemon (vbdctl store serve), with real loop devices.  No driver runs here,
# so attaches use --wait none (test_sim.sh runs the bundled drivers); what this
# checks is the command line: argument order, exit codes, messages, JSON,
# and that failures leave nothing behind.
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl>}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbd-cli.XXXXXX") || exit 1
export XENSTORED_PATH=$tmp/socket
. "$(dirname "$0")/harness.sh"
cleanup() {
	[ -f "$tmp/pid" ] && kill "$(cat "$tmp/pid")" 2>/dev/null
	free_loops "$tmp"/*.img
	rm -rf "$tmp"
}
trap cleanup EXIT

loops() { loops_of "$tmp/disk.img"; }

"$VBDCTL" store serve --socket "$tmp/socket" --daemon --pidfile "$tmp/pid" || exit 1
"$VBDCTL" store domain add 3 --name guest3 >/dev/null || exit 1
truncate -s 8M "$tmp/disk.img"
truncate -s 8M "$tmp/disk2.img"
spec="format=raw,vdev=xvdb,access=rw,target=$tmp/disk.img"

check "attach --help" 0 "$VBDCTL" attach --help
has "attach --help" "Usage: vbdctl attach DOM SPEC"
check "attach, options after the spec, by name" 0 "$VBDCTL" attach guest3 "$spec" --wait none --timeout 5
has "attach says what" "xvdb (51728) attached to domain 3"
check "one loop device" 0 test "$(loops)" = 1
check "backend written" 0 xenstore-exists /local/domain/0/backend/vbd/3/51728/physical-device
check "attach again" 1 "$VBDCTL" attach 3 "$spec" --wait none
has "attach again says exists" "exists already"
check "status" 0 "$VBDCTL" status guest3
has "status lists xvdb" "xvdb"
has "status shows the target" "$tmp/disk.img"
check "status --json" 0 "$VBDCTL" status 3 xvdb --json
has "json vdev" '"vdev": "xvdb"'
has "json in_libxl" '"in_libxl": true'
has "json schema_version" '"schema_version": 1'
check "status --json of no device" 0 "$VBDCTL" status 3 xvdc --json
check "no device is []" 0 test "$out" = "[]"
check "status --format json is --json" 0 "$VBDCTL" status 3 xvdb --format json
has "--format json: schema_version" '"schema_version": 1'
check "status --format bogus" 2 "$VBDCTL" status --format yaml
has "--format names the choices" "text, json or xl"
# xl block-list's columns and widths; no driver runs here, so the frontend
# is Initialising (1) and has no ring keys (-1).
check "status --format xl" 0 "$VBDCTL" status guest3 --format xl
xl_expect=$(printf '%-5s %-3s %-6s %-5s %-6s %-8s %-30s\n%-5d %-3d %-6d %-5d %-6d %-8d %-30s' \
	Vdev BE handle state evt-ch ring-ref BE-path \
	51728 0 3 1 -1 -1 /local/domain/0/backend/vbd/3/51728)
check "--format xl: exactly xl's table" 0 test "$out" = "$xl_expect"
check "list (alias)" 0 "$VBDCTL" list
check "verify (no driver yet: both Initialising)" 0 "$VBDCTL" verify guest3 xvdb
has "verify passes" "PASS xvdb"
# Past Initialising, one look cannot have seen how the device got there: no
# violation is then "incomplete", with its own exit status, never PASS.
xenstore-write /local/domain/0/backend/vbd/3/51728/state 2
check "verify: backend InitWait, one state unseen" 3 "$VBDCTL" verify guest3 xvdb
has "verify: incomplete" "incomplete: 1 transition unobserved (backend Initialising)"
check "verify: incomplete is not PASS" 1 grep -q PASS <<< "$out"
xenstore-write /local/domain/0/backend/vbd/3/51728/state 1
xenstore-write /local/domain/3/device/vbd/51728/protocol x86_65-abi
check "verify finds a bad protocol" 1 "$VBDCTL" verify guest3 xvdb
has "verify names the rule" "VIOLATION protocol"
check "verify: no such device" 1 "$VBDCTL" verify guest3 xvdc

# Text a guest writes reaches the admin's terminal escaped, in every human
# output: control characters (a newline included), C1 controls, bytes that
# are not UTF-8 and bidi overrides show as \xNN.
evil=$'\e]0;owned\a\e[2J\nPASS \xc2\x9b31m\x9b\xe2\x80\xae\xc3\xa9'
shown='\x1b]0;owned\x07\x1b[2J\x0aPASS \xc2\x9b31m\x9b\xe2\x80\xae'$'\xc3\xa9'
raw() {  # raw "what": $out holds no control byte but newline, no C1, no bidi
	if LC_ALL=C grep -aq $'[\x01-\x09\x0b-\x1f\x7f]\|\xc2[\x80-\x9f]\|\xe2\x80\xae\|\x9b' <<< "$out"; then
		fail=$((fail + 1)); printf 'FAIL: %s: raw control bytes in:\n%q\n' "$1" "$out"
	else pass=$((pass + 1)); fi
}
xenstore-write /local/domain/3/error/device/vbd/51728/error "$evil"
check "status shows a guest's error node" 0 "$VBDCTL" status guest3
has "status: the error node, escaped" "frontend error: $shown"
raw "status"
xenstore-write /local/domain/3/device/vbd/51728/protocol "$evil"
check "verify on a guest's protocol" 1 "$VBDCTL" verify guest3 xvdb
has "verify: the value, escaped" "\"$shown\" is not one of"
raw "verify"
xenstore-rm /local/domain/3/error
xenstore-write /local/domain/3/device/vbd/51728/protocol x86_64-abi
"$VBDCTL" watch guest3 --timeout 20 > "$tmp/watch.log" 2>&1 &
watch=$!
for i in $(seq 200); do
	xenstore-write /local/domain/3/device/vbd/51728/state "$evil"
	grep -aq "state-value" "$tmp/watch.log" && break
	sleep 0.05
done
kill "$watch"; wait "$watch" 2>/dev/null
out=$(cat "$tmp/watch.log")
has "watch: the state value, escaped" "\"$shown\" is not a xenbus state"
raw "watch"
xenstore-write /local/domain/3/device/vbd/51728/state 1
# attach's error message carries a driver's error node.
"$VBDCTL" attach guest3 "format=raw,vdev=xvdc,access=rw,target=$tmp/disk2.img" --timeout 20 \
	> "$tmp/attach.out" 2>&1 &
attach=$!
for i in $(seq 200); do
	xenstore-exists /local/domain/3/device/vbd/51744/state && break
	sleep 0.05
done
xenstore-write /local/domain/3/error/device/vbd/51744/error "$evil"
wait "$attach"
check "attach failed on the guest's error node" 0 test $? = 1
out=$(cat "$tmp/attach.out")
has "attach: the error node, escaped" "$shown"
raw "attach"
check "watch with a timeout" 0 "$VBDCTL" watch guest3 --timeout 0.3
check "watch --help" 0 "$VBDCTL" watch --help

# The watch's verdict per device when interrupted: every transition seen,
# or "incomplete" when states were written faster than it read them.  These
# are a late reader's (after watch events): the store's change trace is
# turned off, so that the store answers the subscription as xenstored does.
check "the trace turned off" 0 trace_offer 0
# watch_ready LOG: until the watch in LOG is seen to follow.  Each try is a
# new device written once (its one step seen whole, or not at all).
watch_ready() {
	local i
	for i in $(seq 0 199); do
		xenstore-write "/local/domain/3/device/vbd/$((60000 + i))/state" 1
		grep -q "(none) -> Initialising" "$1" && return 0
		sleep 0.05
	done
	return 1
}
probes_rm() {
	local i
	for i in $(seq 0 199); do xenstore-rm "/local/domain/3/device/vbd/$((60000 + i))" 2>/dev/null; done
}
wait_in() {  # wait_in LOG PATTERN
	local i
	for i in $(seq 600); do grep -q -- "$2" "$1" && return 0; sleep 0.05; done
	return 1
}
xp=/local/domain/3/device/vbd/51952     # xvdp
"$VBDCTL" watch guest3 > "$tmp/whole.log" 2>&1 &
watch=$!
check "watch follows" 0 watch_ready "$tmp/whole.log"
xenstore-write $xp/state 1
check "watch: xvdp appears" 0 wait_in "$tmp/whole.log" " xvdp .*(none) -> Initialising"
xenstore-write $xp/state 3
check "watch: xvdp Initialised" 0 wait_in "$tmp/whole.log" " xvdp .*Initialising -> Initialised"
xenstore-write $xp/state 4
check "watch: xvdp Connected" 0 wait_in "$tmp/whole.log" " xvdp .*Initialised -> Connected"
xenstore-rm $xp
check "watch: xvdp gone" 0 wait_in "$tmp/whole.log" " xvdp .*Connected -> (gone)"
kill -INT "$watch"; wait "$watch"
check "watch: every transition seen, exit 0" 0 test $? = 0
out=$(cat "$tmp/whole.log")
has "watch summary: xvdp whole" "summary: dom 3 xvdp   no violation, every transition observed"
probes_rm

"$VBDCTL" watch guest3 > "$tmp/gaps.log" 2>&1 &
watch=$!
check "watch follows (2)" 0 watch_ready "$tmp/gaps.log"
# Written while the watch cannot read: three states, then a step back and
# forth that a late reader cannot see at all.
kill -STOP "$watch"
xenstore-write $xp/state 1; xenstore-write $xp/state 3; xenstore-write $xp/state 4
kill -CONT "$watch"
check "watch: xvdp read Connected" 0 wait_in "$tmp/gaps.log" " xvdp .* -> Connected"
# A barrier: the watch handles events in order, so once it has printed a
# device written after the three, it has taken all of their events (a run
# stopped it with one of them still queued, and counted it with the next
# two).
xenstore-write "/local/domain/3/device/vbd/60199/state" 1
check "watch: the events of the three states taken" 0 \
	wait_in "$tmp/gaps.log" "60199 .*(none) -> Initialising"
kill -STOP "$watch"
xenstore-write $xp/state 1; xenstore-write $xp/state 4
kill -CONT "$watch"
check "watch: the hidden step back is named" 0 \
	wait_in "$tmp/gaps.log" " xvdp .*Connected -> Connected  \[2 writes not observed\]"
kill -INT "$watch"; wait "$watch"
check "watch: no violation seen, history incomplete: exit 3" 0 test $? = 3
out=$(cat "$tmp/gaps.log")
has "watch summary: xvdp incomplete" "summary: dom 3 xvdp   incomplete: "
check "watch: no whole verdict for xvdp" 1 grep -q "xvdp .*every transition observed" "$tmp/gaps.log"
xenstore-rm $xp
probes_rm
# With the trace, the same hidden step back is seen, with its writer.
check "the trace turned on" 0 trace_offer 1
"$VBDCTL" watch guest3 > "$tmp/trace.log" 2>&1 &
watch=$!
check "watch follows (trace)" 0 watch_ready "$tmp/trace.log"
kill -STOP "$watch"
xenstore-write $xp/state 1; xenstore-write $xp/state 4; xenstore-write $xp/state 1
xenstore-write $xp/state 4
kill -CONT "$watch"
check "watch (trace): the hidden step back is a violation" 0 \
	wait_in "$tmp/trace.log" " xvdp .*VIOLATION frontend-transition"
check "watch (trace): each step seen" 0 \
	wait_in "$tmp/trace.log" " xvdp .*Connected -> Initialising  (written by dom 0)"
check "watch (trace): the writer rule" 0 wait_in "$tmp/trace.log" " xvdp .*VIOLATION writer"
kill -INT "$watch"; wait "$watch"
check "watch (trace): violations, exit 1" 0 test $? = 1
xenstore-rm $xp
probes_rm
check "detach by name" 0 "$VBDCTL" detach guest3 xvdb
has "detach says what" "xvdb detached from domain 3"
check "no loop left" 0 no_loops "$tmp/disk.img"
check "no nodes left" 1 xenstore-exists /local/domain/0/backend/vbd/3
check "detach again" 1 "$VBDCTL" detach 3 xvdb
has "detach again says why" "has no device 51728"

# An empty CD-ROM drive (devtype=cdrom without a target), as xl accepts it.
check "attach an empty cdrom" 0 "$VBDCTL" attach guest3 vdev=hdc,devtype=cdrom --wait none
has "attach says what" "hdc (5632) attached to domain 3"
check "status of the empty drive" 0 "$VBDCTL" status guest3 hdc
has "status says empty" "(empty cdrom drive)"
check "status --json of the empty drive" 0 "$VBDCTL" status guest3 hdc --json
has "json says empty" '"empty": true'
check "no hotplug for the empty drive" 1 xenstore-exists /local/domain/0/backend/vbd/3/5632/hotplug-status
check "detach the empty drive, --quiet" 0 "$VBDCTL" detach guest3 hdc --quiet
check "--quiet: nothing said" 0 test -z "$out"
check "attach --quiet (before the command)" 0 "$VBDCTL" --quiet attach guest3 vdev=hdc,devtype=cdrom --wait none
check "--quiet attach: nothing said" 0 test -z "$out"
check "a failed attach --quiet still says why" 1 "$VBDCTL" attach guest3 vdev=hdc,devtype=cdrom --wait none -q
has "--quiet: the error" "exists already"
check "detach --verbose" 0 "$VBDCTL" detach guest3 hdc --verbose
has "--verbose: the result" "hdc detached from domain 3"
check "attach --verbose: the library's log" 0 "$VBDCTL" attach guest3 vdev=hdc,devtype=cdrom --wait none -v
has "--verbose: info lines" "vbdctl: info: "
has "--verbose: and the result" "hdc (5632) attached to domain 3"
check "detach it again" 0 "$VBDCTL" detach guest3 hdc
check "its nodes gone" 1 xenstore-exists /local/domain/0/backend/vbd/3/5632
check "an empty disk is refused" 2 "$VBDCTL" attach guest3 vdev=xvdc --wait none

# The udev rule: the kernel's uevent for a backend as udev hands it to
# vbd-block (90-vbd.rules adds UDEV_CALL=1), on a backend libxl wrote.
# vbd-block runs vbdctl hotplug --udev, which acts only for vbd-block's own
# devices, never when libxl/disable_udev is set, and frees only what it set up.
vbd_block=$(dirname "$0")/../hotplug/vbd-block
be=/local/domain/0/backend/vbd/3/51744
uevent() {  # uevent add|remove: vbd-block as udev runs it
	env -i PATH="$(dirname "$VBDCTL"):/usr/sbin:/usr/bin:/sbin:/bin" XENSTORED_PATH="$XENSTORED_PATH" \
		ACTION="$1" SUBSYSTEM=xen-backend DEVPATH=/devices/vbd-3-51744 SEQNUM=4242 \
		XENBUS_TYPE=vbd XENBUS_PATH=backend/vbd/3/51744 XENBUS_BASE_PATH=backend UDEV_CALL=1 \
		"$vbd_block" "$1"
}
for k in "params=$tmp/disk2.img" mode=w online=1 frontend-id=3 state=1 \
	script=/etc/xen/scripts/block-drbd; do
	xenstore-write "$be/${k%%=*}" "${k#*=}"
	xenstore-write "/libxl/3/device/vbd/51744/${k%%=*}" "${k#*=}"
done
check "hotplug --help names --udev" 0 "$VBDCTL" hotplug --help
has "hotplug --help says --udev" "--udev"
check "hotplug --udev without an action" 2 "$VBDCTL" hotplug --udev
check "uevent add, script block-drbd" 0 uevent add
has "uevent add says why not" "block-drbd, not vbd-block"
check "no loop device for block-drbd's target" 0 test "$(loops_of "$tmp/disk2.img")" = 0
check "no physical-device for block-drbd's target" 1 xenstore-exists "$be/physical-device"
xenstore-write "$be/script" /etc/xen/scripts/vbd-block
check "uevent add, block-drbd in dom0's copy, vbd-block in the backend" 0 uevent add
check "the copy wins" 0 test "$(loops_of "$tmp/disk2.img")" = 0
xenstore-write /libxl/3/device/vbd/51744/script /etc/xen/scripts/vbd-block
xenstore-write /local/domain/0/libxl/disable_udev 1
check "uevent add, libxl/disable_udev set" 0 uevent add
has "uevent add names disable_udev" "disable_udev is set"
check "no loop device with disable_udev" 0 test "$(loops_of "$tmp/disk2.img")" = 0
xenstore-rm /local/domain/0/libxl/disable_udev
check "uevent add, script vbd-block" 0 uevent add
check "one loop device" 0 test "$(loops_of "$tmp/disk2.img")" = 1
check "connected" 0 test "$(xenstore-read "$be/hotplug-status")" = connected
check "the toolstack runs vbd-block too" 0 env PATH="$(dirname "$VBDCTL"):$PATH" XENBUS_PATH=backend/vbd/3/51744 "$vbd_block" add
check "still one loop device" 0 test "$(loops_of "$tmp/disk2.img")" = 1
check "uevent remove of an online backend" 0 uevent remove
has "uevent remove says online" "is online"
check "its loop device stays" 0 test "$(loops_of "$tmp/disk2.img")" = 1
xenstore-write "$be/online" 0
check "uevent remove once offline" 0 uevent remove
check "its loop device freed" 0 test "$(loops_of "$tmp/disk2.img")" = 0
check "uevent add after remove" 0 uevent add
check "no loop device after remove" 0 test "$(loops_of "$tmp/disk2.img")" = 0
xenstore-rm /local/domain/0/backend/vbd/3
xenstore-rm /libxl/3

# Bad input: a clear error naming the problem, exit 2 for usage, nothing written.
check "no spec" 2 "$VBDCTL" attach 3
check "bad spec" 2 "$VBDCTL" attach 3 "format=raw,vdev=xvdb,access=maybe,target=$tmp/disk.img"
has "bad spec names the problem" "access"
check "bad vdev in spec" 2 "$VBDCTL" attach 3 "format=raw,vdev=qqq,target=$tmp/disk.img"
check "bad --wait" 2 "$VBDCTL" attach 3 "$spec" --wait soon
check "bad --timeout" 2 "$VBDCTL" attach 3 "$spec" --timeout -1
check "unknown domain" 1 "$VBDCTL" attach nosuch "$spec" --wait none
has "unknown domain named" "no domain named 'nosuch'"
check "missing target" 1 "$VBDCTL" attach 3 "format=raw,vdev=xvdb,target=$tmp/none.img" --wait none
has "missing target named" "none.img"
check "bad vdev for detach" 2 "$VBDCTL" detach 3 xvd
check "nothing written by the failures" 1 xenstore-exists /local/domain/0/backend/vbd/3
check "no /libxl copy written" 1 xenstore-exists /libxl/3/device/vbd/51728
check "unknown command" 2 "$VBDCTL" frobnicate

# A domain that is gone: its home and its own nodes went with it, dom0's
# /libxl copy and the loop device stay.  detach by id finds the device by
# that copy; reap finds every device of every gone domain.
"$VBDCTL" store domain add 8 --name guest8 >/dev/null || exit 1
"$VBDCTL" store domain add 9 --name guest9 >/dev/null || exit 1
check "attach to 8" 0 "$VBDCTL" attach 8 "$spec" --wait none
check "attach to 9" 0 "$VBDCTL" attach 9 "format=raw,vdev=xvdc,access=rw,target=$tmp/disk2.img" --wait none
check "reap --help" 0 "$VBDCTL" reap --help
has "reap --help" "Usage: vbdctl reap [DOM]"
check "reap a live domain" 1 "$VBDCTL" reap 8
has "reap a live domain says why" "domain 8 exists"
check "reap: nothing gone yet" 0 "$VBDCTL" reap
check "still attached" 0 test "$(loops)" = 1
check "domain 8 dies" 0 "$VBDCTL" store domain remove 8
check "domain 9 dies" 0 "$VBDCTL" store domain remove 9
check "detach --force of a gone domain, by id" 0 "$VBDCTL" detach 8 xvdb --force --timeout 1
has "detach of a gone domain says what" "xvdb detached from domain 8"
check "its loop device freed" 0 test "$(loops)" = 0
check "its nodes deleted" 1 xenstore-exists /libxl/8
check "detach of a gone domain, nothing left" 1 "$VBDCTL" detach 8 xvdb
has "says domain and device are gone" "no domain 8, and no device xvdb of it"
check "9's loop device stays until reaped" 0 test "$(loops_of "$tmp/disk2.img")" = 1
check "reap every gone domain" 0 "$VBDCTL" reap --timeout 1
check "9's loop device freed" 0 test "$(loops_of "$tmp/disk2.img")" = 0
check "9's nodes deleted" 1 xenstore-exists /libxl/9
check "9's backend dir deleted" 1 xenstore-exists /local/domain/0/backend/vbd/9
check "reap by id: nothing left" 0 "$VBDCTL" reap 9
check "reap: too many arguments" 2 "$VBDCTL" reap 8 9

# verify --log: a C xenstored trace replayed (no store needed)
BE=/local/domain/0/backend/vbd/3/51712
cat > "$tmp/xs.trace" <<TRACE
CREATE connection 0xa1
IN 0xa1 20261206 10:00:01 INTRODUCE (3 1234 5 )
CREATE connection 0xb2
OUT 0xa1 20261206 10:00:01 INTRODUCE (OK )
IN 0xa1 20261206 10:00:02 WRITE ($BE/state 1)
OUT 0xa1 20261206 10:00:02 WRITE (OK )
IN 0xb2 20261206 10:00:02 WRITE (device/vbd/51712/state 1)
OUT 0xb2 20261206 10:00:02 WRITE (OK )
TRACE
check "verify --log: a whole history passes" 0 "$VBDCTL" verify --log "$tmp/xs.trace"
has "verify --log: PASS, whole" "PASS 1 device: no violation, history whole"
has "verify --log: the writer and time" "10:00:02.000 #7       dom 3 xvda   frontend (none) -> Initialising by dom 3"
printf '\n' | cat - "$tmp/xs.trace" > "$tmp/xs4.trace"
check "verify --log: an empty first line is no line not understood" 0 "$VBDCTL" verify --log "$tmp/xs4.trace"
printf 'IN 0xa1 20261206 10:00:03 WRITE (/local/domain/3/device/vbd/51712/state \xff4)\nOUT 0xa1 20261206 10:00:03 WRITE (OK )\n' >> "$tmp/xs.trace"
check "verify --log: a toolstack's write of a driver's state" 1 "$VBDCTL" verify --log "$tmp/xs.trace" --log-format cxenstored
has "verify --log: writer, escaped" 'VIOLATION writer: /local/domain/3/device/vbd/51712/state'
has "verify --log: the value escaped" '"\xff4" is not a xenbus state'
printf 'IN 0xc3 20261206 10:00:04 WRITE (%s/online 1)\n' "$BE" > "$tmp/xs2.trace"
check "verify --log: an answer the log lacks: incomplete" 3 "$VBDCTL" verify --log "$tmp/xs2.trace"
head -n 2 "$tmp/xs.trace" > "$tmp/xs3.trace"
printf 'IN 0xa1 2026120 10:00:03 WRITE (/local/domain/3/device/vbd/51712/state 4)\n' >> "$tmp/xs3.trace"
check "verify --log: a line not understood: incomplete" 3 "$VBDCTL" verify --log "$tmp/xs3.trace" --log-format cxenstored
has "verify --log: says how many" "and 1 line not understood"
has "verify --log: says which" "the first line not understood is line 3"
check "verify --log: neither format" 1 "$VBDCTL" verify --log /etc/passwd
check "verify --log: no such file" 1 "$VBDCTL" verify --log "$tmp/nope"
check "verify --log: bad format name" 2 "$VBDCTL" verify --log "$tmp/xs.trace" --log-format xml
check "verify --log: bad domain" 2 "$VBDCTL" verify --log "$tmp/xs.trace" guest3

summary
