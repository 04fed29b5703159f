#!/usr/bin/env bash
# Many operations on one context at once: examples/bulk_attach starts 64
# attaches over 16 guests (4 each) through vbd_dev_attach() on one context,
# all at once and then 5 at a time; each must reach both ends Connected,
# and the detaches started the same way must leave no node and no loop
# device behind.  Correctness, not timing.
#   test_bulk_attach.sh VBDCTL BULK_ATTACH
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl> <bulk_attach>}
BULK=${2:?usage: $0 <path-to-vbdctl> <bulk_attach>}
. "$(dirname "$0")/harness.sh"
sim_setup bulk
mkdir -p "$tmp/disks"

ours() { losetup -a | grep -c "$tmp/disks/"; }   # loop devices on our files
# A run that failed may leave some, on files the example has removed.
sim_cleanup_more() {
	local l
	for l in $(losetup -a | grep "$tmp/disks/" | cut -d: -f1); do losetup -d "$l"; done
}
leftovers() {  # any backend, frontend or /libxl node of a guest's VBDs
	local d
	for d in $(seq 16); do
		xenstore-exists "/local/domain/0/backend/vbd/$((d))" && return 0
		xenstore-exists "/libxl/$d/device/vbd" && return 0
	done
	return 1
}

check "sim start" 0 "$VBDCTL" sim start --guests 16
for k in 0 5; do
	check "64 attaches, $k in flight (0: all), Connected, detached" 0 \
		timeout 120 "$BULK" 16 4 "$tmp/disks" "$k"
	has "all 64 Connected (k=$k)" "64 attached, both ends Connected (0 failed)"
	has "all 64 detached (k=$k)" "64 detached"
	check "no nodes left (k=$k)" 1 leftovers
	check "no loop device left (k=$k)" 0 test "$(ours)" = 0
done
check "sim stop" 0 "$VBDCTL" sim stop
summary
