#!/usr/bin/env bash
# The simulated host end to end, as a user drives it: vbdctl sim start, then
# attach to Connected through the bundled blkback and blkfront (separate
# processes, the simulated hypervisor between them), data through the ring,
# status, detach; a guest or the backend killed mid-I/O, cleaned by
# detach --force, a killed guest's domain removed and reaped; sim stop leaves no process, socket or loop device.
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl>}
. "$(dirname "$0")/harness.sh"
sim_setup sim

loops() { loops_of "$1"; }
no_loops_now() { [ "$(loops "$1")" = 0 ]; }
child() {  # the pid of the host's child whose command line matches $1
	local p
	for p in $(pgrep -P "$(cat "$VBD_SIM_DIR/host.pid")"); do
		if tr '\0' ' ' < "/proc/$p/cmdline" | grep -q -- "$1"; then echo "$p"; return; fi
	done
}

for i in 1 2 3 4; do truncate -s 16M "$tmp/d$i.img"; done

check "sim start" 0 "$VBDCTL" sim start --guests 2
has "sim start prints the environment" "export XENSTORED_PATH=$XENSTORED_PATH"
check "sim start twice is refused" 1 "$VBDCTL" sim start
has "second start says why" "runs already"
host=$(cat "$VBD_SIM_DIR/host.pid")
kids=$(pgrep -P "$host" | tr '\n' ' ')
check "three processes: backend and two guests" 0 test "$(echo $kids | wc -w)" = 3
check "guests are named" 0 xenstore-read /local/domain/2/name
# The host runs without glibc's cache of freed blocks (its memory after many
# devices, cli/cmd_sim.c), its children with the environment sim start had.
check "the host runs without glibc's cache of freed blocks" 0 \
	grep -qz '^GLIBC_TUNABLES=.*glibc\.malloc\.tcache_count=0$' "/proc/$host/environ"
for k in $kids; do
	check "child $k: sim start's environment" 1 \
		grep -qz 'tcache_count=0\|^VBDCTL_SIM_' "/proc/$k/environ"
done

check "attach to Connected through the bundled drivers" 0 \
	"$VBDCTL" attach guest1 "format=raw,vdev=xvdb,access=rw,target=$tmp/d1.img" --timeout 20
check "backend Connected" 0 test "$(xenstore-read /local/domain/0/backend/vbd/1/51728/state)" = 4
check "frontend Connected" 0 test "$(xenstore-read /local/domain/1/device/vbd/51728/state)" = 4
check "ring keys written by the guest" 0 sh -c "xenstore-exists /local/domain/1/device/vbd/51728/event-channel || xenstore-exists /local/domain/1/device/vbd/51728/queue-0/event-channel"
# One look at a Connected device: no violation, but not a pass either, as
# the four states each end went through on the way were not seen.
check "verify: no violation, history incomplete" 3 "$VBDCTL" verify guest1 xvdb
has "verify: incomplete, not PASS" "incomplete: 4 transitions unobserved"
check "verify prints no PASS" 1 grep -q PASS <<< "$out"
# xl block-list's row of a connected disk: the frontend's state and its
# event channel and ring reference as numbers.
fe=/local/domain/1/device/vbd/51728
check "status --format xl, connected" 0 "$VBDCTL" status guest1 --format xl
xl_row=$(printf '%-5d %-3d %-6d %-5d %-6d %-8d %-30s' 51728 0 1 4 \
	"$(xenstore-read $fe/event-channel 2>/dev/null || echo -1)" \
	"$(xenstore-read $fe/ring-ref 2>/dev/null || echo -1)" /local/domain/0/backend/vbd/1/51728)
has "--format xl: the connected row" "$xl_row"

head -c 3M /dev/urandom > "$tmp/pattern"
check "write through the ring" 0 "$VBDCTL" io guest1 xvdb write 65536 3145728 --file "$tmp/pattern"
check "flush" 0 "$VBDCTL" io guest1 xvdb flush
check "the file has the data" 0 cmp "$tmp/pattern" <(dd if="$tmp/d1.img" bs=64k skip=1 count=48 status=none)
check "read back through the ring" 0 "$VBDCTL" io guest1 xvdb read 65536 3145728 --file "$tmp/back"
check "read back equals written" 0 cmp "$tmp/pattern" "$tmp/back"
check "read past the end is refused" 1 "$VBDCTL" io guest1 xvdb read 16777216 4096
check "unaligned read is refused" 1 "$VBDCTL" io guest1 xvdb read 100 4096
check "info" 0 "$VBDCTL" io guest1 xvdb info
has "info: 16 MiB" "sectors 32768"
has "info: connected" "connected 1"
check "discard" 0 "$VBDCTL" io guest1 xvdb discard 1048576 1048576
# The backend publishes per-device counters every second; status and top
# find them through XENSTORED_PATH.  3 MiB written and read: 6144 sectors.
stats_now() {
	local i
	for i in $(seq 40); do
		out=$("$VBDCTL" status guest1 xvdb --json 2>&1)
		[[ $out == *'"ds_req": 1'* ]] && return 0
		sleep 0.1
	done
	return 1
}
check "status --json shows the counters" 0 stats_now
out=$("$VBDCTL" status guest1 xvdb --json 2>&1)
has "statistics: written sectors" '"wr_sect": 6144'
has "statistics: read sectors" '"rd_sect": 6144'
has "statistics: a discard" '"ds_req": 1'
has "statistics: nothing out of requests" '"oo_req": 0'
check "status: the counters under the device" 0 "$VBDCTL" status guest1 xvdb
has "status: a requests line" "requests: rd "
has "status: read and written sectors" "(6144 sect) wr "
has "status: the discard" "discard 1 oo 0"
out=$("$VBDCTL" status guest1 xvdb --json 2>&1)
check "status --json without counters has no statistics" 0 \
	env VBD_STATS_DIR=$tmp/none "$VBDCTL" status guest1 xvdb --json
check "  (none)" 1 grep -q statistics <<<"$out"
check "top --count 2" 0 "$VBDCTL" top guest1 xvdb --count 2 --interval 0.6
has "top: the header" "RD_REQ/s"
has "top: sample 2" "2        1     xvdb"
check "top: a header and two samples" 0 test "$(grep -c . <<<"$out")" = 3
"$VBDCTL" top guest1 xvdb --count 2 --interval 2 >"$tmp/top" 2>&1 &
toppid=$!
sleep 0.2
"$VBDCTL" io guest1 xvdb read 0 1048576 --file "$tmp/mb" >/dev/null 2>&1
wait "$toppid"
out=$(cat "$tmp/top")
check "top shows a read rate while a guest reads" 0 \
	awk '$1 ~ /^[12]$/ && $6 > 0 { found = 1 } END { exit !found }' "$tmp/top"
check "top: no escape sequences when not on a terminal" 1 grep -q $'\033' "$tmp/top"
check "top: bad interval" 2 "$VBDCTL" top --interval 0
if command -v script >/dev/null; then  # util-linux: a terminal for top
	check "top on a terminal" 0 script -qec "'$VBDCTL' top guest1 xvdb --count 2 --interval 0.3" /dev/null
	check "top redraws in place on a terminal" 0 test "$(grep -o $'\033\\[H\033\\[2J' <<<"$out" | wc -l)" = 2
fi
check "io to a device the guest lacks" 1 "$VBDCTL" io guest1 xvdc read 0 512
has "io says no device" "no such device"
check "io to an unknown domain" 1 "$VBDCTL" io nosuch xvdb read 0 512

# An empty CD-ROM drive: the bundled blkback, as Linux's, waits in InitWait
# for a physical-device that never comes; the guest's frontend waits too.
check "attach an empty cdrom" 0 "$VBDCTL" attach guest1 vdev=hdc,devtype=cdrom --timeout 20
has "attach says InitWait" "backend in InitWait (an empty drive connects no further)"
check "backend in InitWait" 0 test "$(xenstore-read /local/domain/0/backend/vbd/1/5632/state)" = 2
check "status shows it empty" 0 "$VBDCTL" status guest1 hdc
has "status says empty" "(empty cdrom drive)"
check "the guest sees no medium" 0 "$VBDCTL" io guest1 hdc info
has "info: not connected" "connected 0"
check "detach the empty drive" 0 "$VBDCTL" detach guest1 hdc --timeout 20
check "its nodes gone" 1 xenstore-exists /local/domain/0/backend/vbd/1/5632

# A guest that does not answer (its frontend stopped): the attach times out
# mid-handshake and rolls back everything.
g2=$(child "frontend --domain 2")
kill -STOP "$g2"
check "attach to a stopped guest times out" 1 \
	"$VBDCTL" attach guest2 "format=raw,vdev=xvdd,access=rw,target=$tmp/d2.img" --timeout 1
has "the timeout says where each end was" "backend InitWait"
check "the timed-out attach left no nodes" 1 xenstore-exists /local/domain/0/backend/vbd/2/51760
check "nor a loop device" 0 no_loops "$tmp/d2.img"
# On a terminal (a pty, through script(1)) the attach says on one line what
# it waits for, redrawn in place and erased before the error; off a
# terminal, and with --quiet, nothing of it.
cmd=$(printf '%q ' "$VBDCTL" attach guest2 "format=raw,vdev=xvdd,access=rw,target=$tmp/d2.img" --timeout 1.5)
check "attach on a terminal times out" 1 script -qec "stty cols 200; $cmd" /dev/null
has "the line says what it waits for, both states" \
	"): waiting for both ends Connected, backend InitWait, frontend Initialising"
has "the line is drawn in place" $'\r\e[Kattach xvdd to domain 2 ('
has "and erased before the error" $'\r\e[Kvbdctl: attach xvdd to domain 2 failed (-ETIMEDOUT'
tty=$out
check "the line is redrawn" 0 test "$(grep -o $'\r\e\[K' <<< "$tty" | wc -l)" -ge 3
# A narrow terminal: the line is cut to its width, or "\r" would go back
# to the last wrapped piece only.
check "attach on a 40-column terminal times out" 1 script -qec "stty cols 40; $cmd --timeout 1" /dev/null
longest=$(sed 's/\r\x1b\[K/\n/g' <<< "$out" | grep -v '^vbdctl: ' | tr -d '\r' | awk '{ if (length > m) m = length } END { print m + 0 }')
check "the line fits in 39 columns" 0 test "$longest" -le 39 -a "$longest" -gt 20
check "attach off a terminal times out" 1 eval "$cmd"
off=$out
check "off a terminal: no line" 0 test "${off//$'\r'/}" = "$off"
check "off a terminal: only the error" 0 test "$(grep -c . <<< "$off")" = 1
check "attach --quiet on a terminal times out" 1 script -qec "stty cols 200; $cmd --quiet" /dev/null
has "--quiet: the error" "vbdctl: attach xvdd to domain 2 failed (-ETIMEDOUT"
check "--quiet on a terminal: no line" 0 test "${out//$'\e[K'/}" = "$out"
check "and left nothing" 0 no_loops "$tmp/d2.img"

# Interrupted while it waits on that guest: the attach rolls back.
until_state() {  # until_state NODE VALUE
	local i
	for i in $(seq 400); do
		[ "$(xenstore-read "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
until_exists() {  # until_exists NODE
	local i
	for i in $(seq 400); do xenstore-exists "$1" && return 0; sleep 0.05; done
	return 1
}
until_file() {  # until_file PATH
	local i
	for i in $(seq 400); do [ -e "$1" ] && return 0; sleep 0.05; done
	return 1
}
# (env --default-signal: a background job of a script starts with SIGINT
# ignored, a command typed at a terminal does not.)
for sig in INT TERM; do
	env --default-signal=INT "$VBDCTL" attach guest2 \
		"format=raw,vdev=xvdd,access=rw,target=$tmp/d2.img" --timeout 60 > "$tmp/int.out" 2>&1 &
	a=$!
	check "SIG$sig: the attach waits in InitWait" 0 \
		until_state /local/domain/0/backend/vbd/2/51760/state 2
	check "SIG$sig: the hotplug step ran" 0 \
		until_exists /local/domain/0/backend/vbd/2/51760/physical-device
	check "SIG$sig: the attach holds a loop device" 1 no_loops_now "$tmp/d2.img"
	kill -$sig $a
	wait $a
	check "SIG$sig: the attach exits 128+N" 0 test $? = $((128 + $(kill -l $sig)))
	out=$(cat "$tmp/int.out")
	has "SIG$sig: the attach says so" "interrupted by SIG$sig: rolled back, nothing left"
	check "SIG$sig: no backend nodes left" 1 xenstore-exists /local/domain/0/backend/vbd/2/51760
	check "SIG$sig: no frontend nodes left" 1 xenstore-exists /local/domain/2/device/vbd/51760
	check "SIG$sig: no /libxl copy left" 1 xenstore-exists /libxl/2/device/vbd/51760
	check "SIG$sig: no loop device left" 0 no_loops "$tmp/d2.img"
done
# A second interrupt during the rollback (a remove step that takes its
# time) stops it and says what is left.
# The remove step waits for $tmp/go; it outlives the interrupted vbdctl.
cat > "$tmp/slow-block" <<-SCRIPT
	#!/bin/sh
	if [ "\$1" = remove ]; then
		touch "$tmp/removing"
		while [ ! -e "$tmp/go" ]; do sleep 0.05; done
	fi
	"$VBDCTL" hotplug "\$@"; r=\$?
	[ "\$1" = remove ] && touch "$tmp/removed"
	exit \$r
	SCRIPT
chmod +x "$tmp/slow-block"
env --default-signal=INT "$VBDCTL" attach guest2 "format=raw,vdev=xvdd,access=rw,target=$tmp/d2.img" \
	--timeout 60 --script "$tmp/slow-block" > "$tmp/int.out" 2>&1 &
a=$!
check "twice: the attach waits in InitWait" 0 until_state /local/domain/0/backend/vbd/2/51760/state 2
check "twice: the hotplug step ran" 0 until_exists /local/domain/0/backend/vbd/2/51760/physical-device
kill -INT $a
check "twice: the rollback runs the remove step" 0 until_file "$tmp/removing"
kill -INT $a
wait $a
check "twice: the attach exits 130" 0 test $? = 130
out=$(cat "$tmp/int.out")
has "twice: the first interrupt rolls back" "rolling back (interrupt again to stop)"
has "twice: the second says what stays" "interrupted again: the rollback of xvdd stopped"
has "twice: and how to remove it" "vbdctl detach 2 xvdd --force removes it"
check "twice: the device is left" 0 xenstore-exists /local/domain/0/backend/vbd/2/51760
touch "$tmp/go"
check "twice: the remove step ends" 0 until_file "$tmp/removed"
check "twice: detach --force cleans up" 0 "$VBDCTL" detach guest2 xvdd --timeout 1 --force
check "twice: no loop device left" 0 no_loops "$tmp/d2.img"
# An interrupted detach says where it stopped.
check "attach to the stopped guest, no wait" 0 \
	"$VBDCTL" attach guest2 "format=raw,vdev=xvdd,access=rw,target=$tmp/d2.img" --wait none
env --default-signal=INT "$VBDCTL" detach guest2 xvdd --timeout 60 > "$tmp/int.out" 2>&1 &
a=$!
check "the detach asked the backend to close" 0 \
	until_state /local/domain/0/backend/vbd/2/51760/online 0
kill -INT $a
wait $a
check "the interrupted detach exits 130" 0 test $? = 130
out=$(cat "$tmp/int.out")
has "the detach says where it stopped" "interrupted by SIGINT: stopped with the backend"
has "the detach says the device is held" "its device still held; vbdctl detach 2 xvdd finishes it"
check "detach --force after it" 0 "$VBDCTL" detach guest2 xvdd --timeout 1 --force
check "no loop device after it" 0 no_loops "$tmp/d2.img"
kill -CONT "$g2"

check "attach --json prints the device" 0 \
	"$VBDCTL" attach guest2 "format=raw,vdev=xvde,access=rw,target=$tmp/d2.img" --json
has "attach --json: Connected" '"frontend_state_name": "Connected"'
has "attach --json: the vdev" '"vdev": "xvde"'
check "detach xvde" 0 "$VBDCTL" detach guest2 xvde
check "a failed attach --json says why, as JSON" 1 \
	"$VBDCTL" attach guest2 "format=raw,vdev=xvde,access=rw,target=$tmp/nope.img" --json
has "failed attach --json: errno" '"errno": -2'
has "failed attach --json: schema_version" '"schema_version": 1'

# The non-blocking attach from an application's loop (examples/attach_async.c).
example=$(dirname "$VBDCTL")/../examples/attach_async
check "examples/attach_async attaches from its own loop" 0 \
	"$example" guest2 "format=raw,vdev=xvdf,access=rw,target=$tmp/d2.img"
has "the example reached Connected" "xvdf attached to domain 2, both ends Connected"
check "detach the example's disk" 0 "$VBDCTL" detach guest2 xvdf

# Six disks attached to guest1 at once and detached at once, with vbdctl
# watch following: every device shows, each end from (none) to (gone), and
# each step says what the watch could not see instead of passing it over
# (as a late reader: the store's change trace turned off).
check "the trace turned off" 0 trace_offer 0
"$VBDCTL" watch guest1 > "$tmp/watch.log" 2>&1 &
watch=$!
# Until the watch is seen to follow, write a frontend state (xvdp).
xz=/local/domain/1/device/vbd/51952
for i in $(seq 600); do
	xenstore-write $xz/state 1
	grep -q " xvdp .*(none) -> Initialising" "$tmp/watch.log" && break
	sleep 0.05
done
xenstore-rm $xz
check "the watch follows" 0 wait_log 1 " xvdp .*Initialising -> (gone)"
# A device created and removed while the watch could not read it.
kill -STOP "$watch"
xenstore-write $xz/state 1 && xenstore-rm $xz
kill -CONT "$watch"
check "the watch reports a device it could not read" 0 \
	wait_log 1 " xvdp .*(none) -> (gone)  \[1 write not observed\]"
six="c d e f g h"
for l in $six; do
	truncate -s 16M "$tmp/m$l.img"
	"$VBDCTL" attach guest1 "format=raw,vdev=xvd$l,access=rw,target=$tmp/m$l.img" --timeout 20 \
		> "$tmp/attach.$l" 2>&1 &
done
rc=0
for j in $(jobs -p); do [ "$j" = "$watch" ] || wait "$j" || rc=1; done
check "six attaches at once succeed" 0 test "$rc" = 0
# The guest's frontend serves seven devices now (xvdb and six) on one bus:
# its one libxenstore connection and the pipelined client's.  Nothing else connects through guest1's socket, so
# the store's ends of the connections there are the frontend's.
# (ss is iproute2's, which make check installs.)
guest_conns() {
	ss -xHn state established | awk -v p="$XENSTORED_PATH.d/$1" '$4 == p' | wc -l
}
check "guest1's frontend holds two xenstore connections for seven devices" 0 \
	test "$(guest_conns 1)" = 2
check "the watch saw all twelve ends Connected" 0 wait_log 12 " xvd[c-h] .* -> Connected"
for l in $six; do "$VBDCTL" detach guest1 "xvd$l" > "$tmp/detach.$l" 2>&1 & done
rc=0
for j in $(jobs -p); do [ "$j" = "$watch" ] || wait "$j" || rc=1; done
check "six detaches at once succeed" 0 test "$rc" = 0
check "the watch saw all twelve ends gone" 0 wait_log 12 " xvd[c-h] .* -> (gone)"
kill "$watch"; wait "$watch" 2>/dev/null
check "the trace turned on" 0 trace_offer 1
# Per device and end, the lines chain from (none) to (gone); a step that
# passes states of the end's way by (backend 1 2 4 5 6, frontend 1 3 4 6)
# names them as not observed, or (a read ahead of its events) the next line
# for that end does, as "X -> X [not observed: ...]".
watch_ok() {
	awk -v devs="$six" '
	function num(s) {
		if (s == "(none)") return 0; if (s == "(gone)") return 7
		if (s == "Initialising") return 1; if (s == "InitWait") return 2
		if (s == "Initialised") return 3; if (s == "Connected") return 4
		if (s == "Closing") return 5; if (s == "Closed") return 6
		return -1
	}
	$5 == "VIOLATION" { print "violation: " $0; bad = 1; next }
	$4 ~ /^xvd[c-h]$/ && $7 == "->" {
		k = $4 " " $5; a = num($6); b = num($8); named = index($0, "not observed") > 0
		if (!(k in last) && a != 0) { print "does not start at (none): " $0; bad = 1 }
		# (none) and (gone) are both "no state node".
		if ((k in last) && last[k] != a && !(last[k] == 7 && a == 0)) {
			print "does not chain: " $0; bad = 1
		}
		if (k in pend) {
			if (!((a == b || a == 0 && b == 7) && named)) {
				print "passed a state by silently: " pend[k]; bad = 1
			}
			delete pend[k]
		}
		last[k] = b
		way = $5 == "backend" ? " 1 2 4 5 6 " : " 1 3 4 6 "
		for (s = a + 1; s < b; s++)
			if (index(way, " " s " ") && !named) { pend[k] = $0; break }
	}
	END {
		n = split(devs, d, " ")
		for (i = 1; i <= n; i++)
			for (e = 0; e < 2; e++) {
				k = "xvd" d[i] " " (e ? "frontend" : "backend")
				if (!(k in last)) { print "never seen: " k; bad = 1 }
				else if (last[k] != 7) { print "not seen gone: " k; bad = 1 }
			}
		for (k in pend) { print "passed a state by silently: " pend[k]; bad = 1 }
		exit bad
	}' "$tmp/watch.log"
}
check "the watch shows every device and end, gaps named" 0 watch_ok
[ "$fail" = 0 ] || cat "$tmp/watch.log"

check "read-only attach to guest2" 0 \
	"$VBDCTL" attach guest2 "format=raw,vdev=xvdb,access=ro,target=$tmp/d2.img" --timeout 20
# sim start printed XENSTORED_PATH only: io finds the host's dir from it.
check "io finds the host from XENSTORED_PATH" 0 env -u VBD_SIM_DIR "$VBDCTL" io guest2 xvdb info
has "io without VBD_SIM_DIR: the device's info" "sectors 32768"
check "io --dir without the environment" 0 \
	env -u VBD_SIM_DIR -u XENSTORED_PATH "$VBDCTL" io guest2 xvdb info --dir "$VBD_SIM_DIR"
check "a guest cannot write a read-only disk" 1 \
	"$VBDCTL" io guest2 xvdb write 0 4096 --file "$tmp/pattern"
check "status --json" 0 "$VBDCTL" status --json
has "status: Connected" '"frontend_state_name": "Connected"'
check "detach guest2" 0 "$VBDCTL" detach guest2 xvdb
check "guest2's loop device is gone" 0 no_loops "$tmp/d2.img"

# A guest killed in the middle of its I/O: the backend sees no Closing, so a
# plain detach times out; --force cleans everything.  Its second disk stays
# until the domain is gone (its home removed, released) and reaped.
check "attach guest1 xvdc" 0 \
	"$VBDCTL" attach guest1 "format=raw,vdev=xvdc,access=rw,target=$tmp/d4.img" --timeout 20
g1=$(child "frontend --domain 1")
"$VBDCTL" io guest1 xvdb read 0 16777216 > /dev/null 2>&1 &
io=$!
sleep 0.05
kill -9 "$g1"
wait "$io" 2>/dev/null
check "detach of a dead guest's device times out" 1 "$VBDCTL" detach guest1 xvdb --timeout 1
check "detach --force cleans it" 0 "$VBDCTL" detach guest1 xvdb --timeout 1 --force
check "no nodes left" 1 xenstore-exists /local/domain/0/backend/vbd/1/51728
check "no loop device left" 0 no_loops "$tmp/d1.img"
check "reap refuses a domain that exists" 1 "$VBDCTL" reap 1
check "its second disk is still held" 0 test "$(loops "$tmp/d4.img")" = 1
check "its hotplug record is there" 0 xenstore-exists /libvbd/backend/0-1-51744
check "its sharing entry is there" 0 sh -c "xenstore-ls /libvbd | grep -q '0-1-51744'"
check "the dead guest's domain removed" 0 "$VBDCTL" store domain remove 1
check "its frontend nodes went with it" 1 xenstore-exists /local/domain/1/device/vbd/51744
check "reap the gone domain" 0 "$VBDCTL" reap 1 --timeout 1
check "reap: no backend nodes left" 1 xenstore-exists /local/domain/0/backend/vbd/1
check "reap: no /libxl copy left" 1 xenstore-exists /libxl/1
check "reap: no hotplug record left" 1 xenstore-exists /libvbd/backend/0-1-51744
check "reap: no sharing entry left" 1 sh -c "xenstore-ls /libvbd 2>/dev/null | grep -q '0-1-51744'"
check "reap: no loop device left" 0 no_loops "$tmp/d4.img"

# A forced detach while the backend still maps the guest's ring (stopped
# here): the guest lets go of the device at once, and ends the ring's grant
# once the backend unmaps it, not only when the guest process ends.
grants() { "$VBDCTL" sim status | awk '$1 == "grants" { print $2 }'; }
in_log() {  # in_log TEXT: host.log says TEXT within 10 s
	local i
	for i in $(seq 100); do grep -q -- "$1" "$VBD_SIM_DIR/host.log" && return 0; sleep 0.1; done
	return 1
}
log_count() {  # log_count N TEXT: host.log says TEXT N times within 10 s
	local i
	for i in $(seq 100); do [ "$(grep -c -- "$2" "$VBD_SIM_DIR/host.log")" -ge "$1" ] && return 0; sleep 0.1; done
	return 1
}
grants_back() {  # grants_back N: the hypervisor holds N grants within 10 s
	local i
	for i in $(seq 100); do [ "$(grants)" = "$1" ] && return 0; sleep 0.1; done
	return 1
}
g0=$(grants)
check "attach guest2 xvdc" 0 \
	"$VBDCTL" attach guest2 "format=raw,vdev=xvdc,access=rw,target=$tmp/d3.img" --timeout 20
be=$(child backend)
kill -STOP "$be"
check "forced detach while the backend is stopped" 0 \
	"$VBDCTL" detach guest2 xvdc --timeout 1 --force
check "the guest let go of xvdc" 0 in_log "guest2: device 51744 removed"
check "its ring still granted while the backend maps it" 0 test "$(grants)" -gt "$g0"
kill -CONT "$be"
check "the guest ends the grants once the backend unmaps" 0 grants_back "$g0"
check "no loop device after the forced detach" 0 no_loops "$tmp/d3.img"
# The same with the guest stopped too: it learns of the backend's Closing
# and the device's removal in one go, and its scan sees the device gone
# before its frontend has let go of the ring (the crash matrix's forced
# detach after a killed attach met this by chance).  The frontend is kept
# until it has, and its grant ended once the backend unmaps.
check "attach guest2 xvdc" 0 \
	"$VBDCTL" attach guest2 "format=raw,vdev=xvdc,access=rw,target=$tmp/d3.img" --timeout 20
be=$(child backend) g2=$(child "frontend --domain 2")
kill -STOP "$be" "$g2"
check "forced detach while the backend and the guest are stopped" 0 \
	"$VBDCTL" detach guest2 xvdc --timeout 1 --force
kill -CONT "$g2"
check "the guest let go of xvdc again" 0 log_count 2 "guest2: device 51744 removed"
check "its ring still granted while the stopped backend maps it" 0 test "$(grants)" -gt "$g0"
kill -CONT "$be"
check "the guest ends the ring's grant once the backend unmaps" 0 grants_back "$g0"
check "with no page left to the transport" 1 grep -q "left to vbd_xport_free" "$VBD_SIM_DIR/host.log"

# The backend killed while a device is connected: detach --force cleans.
check "attach guest2 xvdc" 0 \
	"$VBDCTL" attach guest2 "format=raw,vdev=xvdc,access=rw,target=$tmp/d3.img" --timeout 20
kill -9 "$(child backend)"
check "detach after the backend died needs --force" 0 \
	"$VBDCTL" detach guest2 xvdc --timeout 1 --force
check "no nodes left after the backend died" 1 xenstore-exists /local/domain/0/backend/vbd/2
check "no loop device after the backend died" 0 no_loops "$tmp/d3.img"

# reap --follow in the background, as dom0's agent would run it: a guest
# that dies later is reaped when its domain is released, unasked.
check "attach guest2 xvdd (no backend runs now)" 0 \
	"$VBDCTL" attach guest2 "format=raw,vdev=xvdd,access=rw,target=$tmp/d1.img" --wait none
"$VBDCTL" reap --follow --timeout 1 2> "$tmp/follow.log" &
follower=$!
gone_and_freed() {
	local i
	for i in $(seq 100); do
		! xenstore-exists /libxl/2 && [ "$(loops "$tmp/d1.img")" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
check "guest2's disk held while it lives" 0 test "$(loops "$tmp/d1.img")" = 1
kill -9 "$(child "frontend --domain 2")"
check "guest2's domain removed" 0 "$VBDCTL" store domain remove 2
check "reap --follow reaped it" 0 gone_and_freed
check "reap --follow: no backend nodes left" 1 xenstore-exists /local/domain/0/backend/vbd/2
kill -TERM "$follower"
wait "$follower"
check "reap --follow ends on SIGTERM with 0" 0 test $? = 0
out=$(cat "$tmp/follow.log")
has "reap --follow says what it reaped" "reaping device 51760 of domain 2, which is gone"

check "sim stop" 0 "$VBDCTL" sim stop
# Gone, or a zombie waiting for an init that does not reap (containers).
alive() { [ -e "/proc/$1" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
for p in $host $kids; do
	check "process $p is gone" 1 alive "$p"
done
check "no xenstore socket left" 1 test -e "$XENSTORED_PATH"
# guest1 was killed above: its I/O socket goes too.
check "no socket left, the killed guest's included" 0 \
	test -z "$(find "$VBD_SIM_DIR" -type s)"
check "sim stop when none runs" 1 "$VBDCTL" sim stop
summary
