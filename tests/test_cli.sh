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
check "list (alias)" 0 "$VBDCTL" list
check "verify (no driver yet: both Initialising)" 0 "$VBDCTL" verify guest3 xvdb
has "verify passes" "PASS xvdb"
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
check "detach by name" 0 "$VBDCTL" detach guest3 xvdb
has "detach says what" "xvdb detached from domain 3"
check "no loop left" 0 no_loops "$tmp/disk.img"
check "no nodes left" 1 xenstore-exists /local/domain/0/backend/vbd/3
check "detach again" 1 "$VBDCTL" detach 3 xvdb
has "detach again says why" "has no device 51728"

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

summary
