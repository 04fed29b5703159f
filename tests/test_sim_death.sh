#!/usr/bin/env bash
# Domains that die on the simulated host, with dom0's reaper (vbdctl reap
# --follow) running as an agent would run it:
#   1. a guest killed in the middle of its I/O (its processes SIGKILLed,
#      its domain removed): the reaper tears its device down (nodes, the
#      hotplug record, the loop device), and the bundled backend lives on
#      and serves another guest;
#   2. a driver domain (guest3 running vbdctl backend for its own backend
#      dirs, and the hotplug step as itself) killed under a connected guest:
#      the guest's frontend is told (its device goes; I/O on it fails) and
#      dom0's nodes are cleaned, while the guest's other disk works on.
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl>}
. "$(dirname "$0")/harness.sh"
sim_setup death
follower="" dd="" io=""
sim_cleanup_more() {
	local p
	for p in $follower $dd $io; do kill -9 "$p" 2>/dev/null; done
}

child() {  # the pid of the host's child whose command line matches $1
	local p
	for p in $(pgrep -P "$(cat "$VBD_SIM_DIR/host.pid")"); do
		if tr '\0' ' ' < "/proc/$p/cmdline" | grep -q -- "$1"; then echo "$p"; return; fi
	done
}
until_true() {  # until_true CMD...: up to 10 s for CMD to succeed
	local i
	for i in $(seq 100); do "$@" && return 0; sleep 0.1; done
	return 1
}
alive() { [ -e "/proc/$1" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
state_is() { [ "$(xenstore-read "$1/state" 2>/dev/null)" = "$2" ]; }
gone() { ! xenstore-exists "$1" 2>/dev/null; }
as_dd() {  # a command run inside driver domain 3, on its own sockets
	XENSTORED_PATH=$VBD_SIM_DIR/xenstored.sock.d/3 VBD_SIMHV_PATH=$VBD_SIM_DIR/simhv.sock.d/3 "$@"
}

for i in 1 2 3; do truncate -s 16M "$tmp/d$i.img"; done
head -c 1M /dev/urandom > "$tmp/pattern"

check "sim start" 0 "$VBDCTL" sim start --guests 3
"$VBDCTL" reap --follow --timeout 5 2> "$tmp/follow.log" &
follower=$!
backend=$(child "backend --domain 0")

# ---- 1. a guest killed mid-I/O ----
check "attach guest1 xvdb" 0 \
	"$VBDCTL" attach guest1 "format=raw,vdev=xvdb,access=rw,target=$tmp/d1.img" --timeout 20
check "attach guest2 xvdb" 0 \
	"$VBDCTL" attach guest2 "format=raw,vdev=xvdb,access=rw,target=$tmp/d2.img" --timeout 20
check "guest1's disk is a loop device" 0 test "$(loops_of "$tmp/d1.img")" = 1
# Reads in a loop: the kill lands with requests in flight or about to be.
( while "$VBDCTL" io guest1 xvdb read 0 16777216 > /dev/null 2>&1; do :; done ) &
io=$!
until_true test -s "$VBD_SIM_DIR/backend-stats/bus/xen-backend/devices/vbd-1-51728/statistics/rd_req"
sleep 0.3
g1=$(child "frontend --domain 1")
kill -9 "$g1"
kill -9 "$io" 2>/dev/null
wait "$io" 2>/dev/null
io=""
check "guest1's domain removed" 0 "$VBDCTL" store domain remove 1
check "the reaper removed guest1's nodes" 0 until_true gone /libxl/1
check "no backend dir of guest1 left" 1 xenstore-exists /local/domain/0/backend/vbd/1
check "no hotplug record of guest1 left" 1 xenstore-exists /libvbd/backend/0-1-51728
check "guest1's loop device freed" 0 no_loops "$tmp/d1.img"
check "the bundled backend lives on" 0 alive "$backend"
check "it serves guest2: write" 0 "$VBDCTL" io guest2 xvdb write 0 1048576 --file "$tmp/pattern"
check "it serves guest2: read" 0 "$VBDCTL" io guest2 xvdb read 0 1048576 --file "$tmp/back"
check "guest2 reads what it wrote" 0 cmp "$tmp/pattern" "$tmp/back"
out=$(cat "$tmp/follow.log")
has "the reaper says what it reaped" "reaping device 51728 of domain 1, which is gone"
check "the backend answered: no forcing" 1 grep -q "forcing" "$tmp/follow.log"

# ---- 2. a driver domain killed under a connected guest ----
# Through env, so that $! is the backend itself.
env XENSTORED_PATH="$VBD_SIM_DIR/xenstored.sock.d/3" VBD_SIMHV_PATH="$VBD_SIM_DIR/simhv.sock.d/3" \
	"$VBDCTL" backend --domain 3 2> "$tmp/dd.log" &
dd=$!
be=/local/domain/3/backend/vbd/2/51744
fe=/local/domain/2/device/vbd/51744
check "attach guest2 xvdc, served by domain 3" 0 "$VBDCTL" attach guest2 \
	"format=raw,vdev=xvdc,access=rw,target=$tmp/d3.img" --backend-domain 3 --wait none
check "the driver domain's hotplug step" 0 as_dd env XENBUS_PATH=backend/vbd/2/51744 \
	"$VBDCTL" hotplug add
check "backend Connected" 0 until_true state_is "$be" 4
check "frontend Connected" 0 until_true state_is "$fe" 4
check "guest2 writes through the driver domain" 0 \
	"$VBDCTL" io guest2 xvdc write 0 1048576 --file "$tmp/pattern"
check "flush through the driver domain" 0 "$VBDCTL" io guest2 xvdc flush
check "and it is in the file" 0 cmp "$tmp/pattern" <(head -c 1M "$tmp/d3.img")
kill -9 "$dd"
wait "$dd" 2>/dev/null
check "the driver domain's backend is dead" 1 alive "$dd"
dd=""
kill -9 "$(child "frontend --domain 3")" 2>/dev/null
check "the driver domain removed" 0 "$VBDCTL" store domain remove 3
check "the reaper removed guest2's frontend dir" 0 until_true gone "$fe"
check "and dom0's /libxl copy" 0 until_true gone /libxl/2/device/vbd/51744
check "no backend dir left" 1 xenstore-exists "$be"
check "guest2's frontend was told: xvdc is gone" 1 "$VBDCTL" io guest2 xvdc info
check "guest2's frontend lives on" 0 alive "$(child "frontend --domain 2")"
check "guest2's other disk still works" 0 "$VBDCTL" io guest2 xvdb read 0 1048576 --file "$tmp/back"
check "and reads what it wrote" 0 cmp "$tmp/pattern" "$tmp/back"
check "guest2's xvdb untouched" 0 state_is /local/domain/0/backend/vbd/2/51728 4
out=$(cat "$tmp/follow.log")
has "the reaper says why" "reaping device 51744 of domain 2, whose backend's domain is gone"
check "the reaper lives on" 0 alive "$follower"
kill -TERM "$follower"
wait "$follower"
check "reap --follow ends on SIGTERM with 0" 0 test $? = 0
follower=""
# The driver domain's loop device was its own: on a real host it went with
# the domain; here the test frees it.
free_loops "$tmp/d3.img"

check "detach guest2 xvdb" 0 "$VBDCTL" detach guest2 xvdb
check "sim stop" 0 "$VBDCTL" sim stop
check "the bundled backend ended" 1 alive "$backend"
check "no loop device left" 0 no_loops "$tmp/d2.img"
summary
