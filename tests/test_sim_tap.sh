#!/usr/bin/env bash
# backendtype=tap on the simulated host: the host's own backend (kind vbd,
# standing in for the kernel's blkback) serves a phy disk while a second
# vbdctl backend --kind vbd3 serves a tap disk of the same guest; both
# Connected, both read and written by the guest's bundled frontend, each
# backend serving its own kind only; then the detach of each.
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl>}
. "$(dirname "$0")/harness.sh"
sim_setup simtap
tap=
sim_cleanup_more() { [ -n "$tap" ] && kill "$tap" 2>/dev/null && wait "$tap"; }

until_state() {  # until_state NODE VALUE
	local i
	for i in $(seq 400); do
		[ "$(xenstore-read "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
until_file() {  # until_file PATH: exists and is not empty
	local i
	for i in $(seq 400); do [ -s "$1" ] && return 0; sleep 0.05; done
	return 1
}
has_open() {  # has_open PID FILE: the process holds FILE open
	local l
	for l in /proc/"$1"/fd/*; do [ "$(readlink "$l")" = "$2" ] && return 0; done
	return 1
}
host_backend() {  # the pid of the host's own backend (kind vbd)
	local p
	for p in $(pgrep -P "$(cat "$VBD_SIM_DIR/host.pid")"); do
		if tr '\0' ' ' < "/proc/$p/cmdline" | grep -q -- "vbdctl backend"; then echo "$p"; return; fi
	done
}

truncate -s 16M "$tmp/phy.img"
truncate -s 8M "$tmp/tap.img"
be=/local/domain/0/backend
check "sim start" 0 "$VBDCTL" sim start --guests 1

# Nobody serves vbd3 yet: the host's backend leaves a tap disk alone.
check "a tap disk without a vbd3 backend times out" 1 \
	"$VBDCTL" attach guest1 "format=raw,vdev=xvdc,access=rw,backendtype=tap,target=$tmp/tap.img" \
	--timeout 2
has "the timeout names the backend's state" "backend Initialising"
check "and is rolled back" 1 xenstore-exists $be/vbd3/1/51744

# The second backend, on the host's sockets, serving backend/vbd3 only.
# It publishes its counters in the host backend's directory: each keeps
# the other's entries.
# Its persistent grants are bounded in all (a small budget; I/O still works).
VBD_SIMHV_PATH=$VBD_SIM_DIR/simhv.sock "$VBDCTL" backend --kind vbd3 --ready-fd 3 \
	--persistent-grants-total 8 \
	--stats-dir "$VBD_SIM_DIR/backend-stats" 3>"$tmp/ready" 2>"$tmp/tap.log" &
tap=$!
check "vbdctl backend --kind vbd3 is ready" 0 until_file "$tmp/ready"
check "backend: bad kind" 2 "$VBDCTL" backend --kind qdisk
has "backend: bad kind says what is served" "expected vbd or vbd3"
check "backend: bad persistent-grants-total" 2 "$VBDCTL" backend --persistent-grants-total many

check "attach a phy disk" 0 \
	"$VBDCTL" attach guest1 "format=raw,vdev=xvdb,access=rw,target=$tmp/phy.img" --timeout 20
check "attach a tap disk" 0 \
	"$VBDCTL" attach guest1 "format=raw,vdev=xvdc,access=rw,backendtype=tap,target=$tmp/tap.img" \
	--timeout 20
check "phy: backend/vbd Connected" 0 test "$(xenstore-read $be/vbd/1/51728/state)" = 4
check "tap: backend/vbd3 Connected" 0 test "$(xenstore-read $be/vbd3/1/51744/state)" = 4
check "tap: frontend Connected" 0 test "$(xenstore-read /local/domain/1/device/vbd/51744/state)" = 4
check "tap: params aio:PATH" 0 test "$(xenstore-read $be/vbd3/1/51744/params)" = "aio:$tmp/tap.img"
check "tap: type vbd3" 0 test "$(xenstore-read $be/vbd3/1/51744/type)" = vbd3
check "tap: the frontend's backend" 0 \
	test "$(xenstore-read /local/domain/1/device/vbd/51744/backend)" = $be/vbd3/1/51744
check "tap: the copy's backend" 0 test "$(xenstore-read /libxl/1/device/vbd/51744/backend)" = $be/vbd3/1/51744
check "each kind in its own dir" 1 xenstore-exists $be/vbd/1/51744
check "  (and the phy disk)" 1 xenstore-exists $be/vbd3/1/51728
check "tap: no loop device" 0 test "$(loops_of "$tmp/tap.img")" = 0
check "phy: a loop device" 0 test "$(loops_of "$tmp/phy.img")" = 1
check "the vbd3 backend holds the tap image" 0 has_open "$tap" "$tmp/tap.img"
hb=$(host_backend)
check "the host's backend does not" 1 has_open "$hb" "$tmp/tap.img"
check "the vbd3 backend holds no loop device" 1 sh -c "ls -l /proc/$tap/fd | grep -q /dev/loop"
check "verify the tap disk (no violation; history unseen)" 3 "$VBDCTL" verify guest1 xvdc
has "verify the tap disk: incomplete" "incomplete: 4 transitions unobserved"
check "status shows both" 0 "$VBDCTL" status guest1
has "status: the tap disk" "aio:$tmp/tap.img"
has "status: the phy disk" "$tmp/phy.img"
check "status --json" 0 "$VBDCTL" status guest1 --json
has "status --json: the vbd3 dir" "\"$be/vbd3/1/51744\""
has "status --json: the vbd dir" "\"$be/vbd/1/51728\""

head -c 1M /dev/urandom > "$tmp/p1"
head -c 1M /dev/urandom > "$tmp/p2"
check "write the tap disk through the ring" 0 "$VBDCTL" io guest1 xvdc write 4096 1048576 --file "$tmp/p1"
check "write the phy disk through the ring" 0 "$VBDCTL" io guest1 xvdb write 4096 1048576 --file "$tmp/p2"
check "flush both" 0 sh -c "'$VBDCTL' io guest1 xvdc flush && '$VBDCTL' io guest1 xvdb flush"
check "the tap image has its data" 0 cmp "$tmp/p1" <(dd if="$tmp/tap.img" bs=4k skip=1 count=256 status=none)
check "the phy image has its data" 0 cmp "$tmp/p2" <(dd if="$tmp/phy.img" bs=4k skip=1 count=256 status=none)
check "read the tap disk back" 0 "$VBDCTL" io guest1 xvdc read 4096 1048576 --file "$tmp/b1"
check "  equal" 0 cmp "$tmp/p1" "$tmp/b1"
check "info: the tap disk's size" 0 "$VBDCTL" io guest1 xvdc info
has "info: 8 MiB" "sectors 16384"
# Both backends publish every second into one directory.
both_counted() {
	local i
	for i in $(seq 40); do
		out=$("$VBDCTL" status guest1 --json 2>&1)
		[ "$(grep -c '"wr_sect": 2048' <<<"$out")" = 2 ] && return 0
		sleep 0.1
	done
	return 1
}
check "status: both disks' counters, from one directory" 0 both_counted
check "  the tap disk's entry is named by its kind" 0 \
	test -d "$VBD_SIM_DIR/backend-stats/bus/xen-backend/devices/vbd3-1-51744/statistics"
check "  and the phy disk's is still there" 0 \
	test -d "$VBD_SIM_DIR/backend-stats/bus/xen-backend/devices/vbd-1-51728/statistics"

check "detach the tap disk" 0 "$VBDCTL" detach guest1 xvdc --timeout 20
check "its vbd3 dir gone" 1 xenstore-exists $be/vbd3
check "its frontend gone" 1 xenstore-exists /local/domain/1/device/vbd/51744
check "its copy gone" 1 xenstore-exists /libxl/1/device/vbd/51744
check "the vbd3 backend let the image go" 1 has_open "$tap" "$tmp/tap.img"
check "the phy disk still Connected" 0 test "$(xenstore-read $be/vbd/1/51728/state)" = 4
check "detach the phy disk" 0 "$VBDCTL" detach guest1 xvdb --timeout 20
check "its vbd dir gone" 1 xenstore-exists $be/vbd/1
check "no loop device left" 0 no_loops "$tmp/phy.img"

kill "$tap"
wait "$tap"
check "the vbd3 backend exits 0 on SIGTERM" 0 test $? = 0
tap=
check "sim stop" 0 "$VBDCTL" sim stop
summary
