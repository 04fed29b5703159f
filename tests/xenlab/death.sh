#!/bin/bash
# Lab test, in xenlab's dom0: guests that die with vbdctl's disks attached,
# and the kernel blkback's counters as vbdctl top shows them.
# - `xl destroy` of a running guest: the reaper in dom0 (following
#   @releaseDomain) leaves nothing: no backend dir, no /libxl copy, no
#   record under /libvbd, no loop device.
# - a guest that crashes with on_crash=preserve (xl sysrq c): its devices
#   stay while the domain stays; after `xl destroy`, nothing is left.
# - vbdctl top samples the kernel blkback's sysfs counters while the guest
#   reads its disk.
# Usage: death.sh VBDCTL VBD_BLOCK_SCRIPT
. "$(dirname "$0")/common.sh"
vbdctl=$1
set -u
loops() { /usr/bin/losetup -a 2>/dev/null | grep -c "/death/" ; }
# nothing_left D: no trace of domain D's vbds in dom0's store or loop devices.
nothing_left() {
	! xenstore-exists /local/domain/0/backend/vbd/$1 &&
		! xenstore-exists /libxl/$1/device/vbd &&
		! xenstore-ls -f /libvbd 2>/dev/null | grep -q "/libvbd/[a-z]*/0-$1-" &&
		test "$(loops)" = 0
}
# wait_nothing_left D SECONDS
wait_nothing_left() {
	local i=0
	until nothing_left "$1"; do
		[ $i -ge $(($2 * 5)) ] && return 1
		sleep 0.2
		i=$((i + 1))
	done
}

cp "$2" /etc/xen/scripts/vbd-block && chmod 0755 /etc/xen/scripts/vbd-block || { echo "FAIL: installing vbd-block"; exit 1; }
mkdir -p /death && mount -t tmpfs -o size=96m tmpfs /death
for i in 1 2 3; do make_disk /death/disk$i.img 8 VBDLAB-DEATH$i; done

# dom0's reaper, as an agent would keep it.
$vbdctl reap --follow > /death/reap.log 2>&1 &
reap_pid=$!

echo "== xl destroy of a guest with two vbdctl disks"
guest_cfg dg1 > /death/dg1.cfg
xl create /death/dg1.cfg || { echo "FAIL: xl create dg1"; exit 1; }
d1=$(xl domid dg1)
domu_wait_console dg1 "xen-blkfront loaded" 120 >/dev/null 2>&1 || true
# Counters while the guest reads: top samples the kernel blkback's sysfs.
$vbdctl top dg1 --interval 0.5 --count 40 > /death/top.log 2>&1 &
top_pid=$!
check "attach xvdb" $vbdctl attach dg1 format=raw,vdev=xvdb,access=rw,target=/death/disk1.img --timeout 90
check "attach xvdc" $vbdctl attach dg1 format=raw,vdev=xvdc,access=rw,target=/death/disk2.img --timeout 90
check "the guest reads xvdb" domu_wait_console dg1 "+ xvdb sectors=16384 ro=0 sector0='VBDLAB-DEATH1'" 60
check "the guest reads xvdc" domu_wait_console dg1 "+ xvdc sectors=16384 ro=0 sector0='VBDLAB-DEATH2'" 60
check "two loop devices" test "$(loops)" = 2
$vbdctl status dg1 --json > /death/st.json
check "status --json has the kernel's counters" grep -q '"rd_req"' /death/st.json
wait $top_pid
echo "--- vbdctl top:"; cat /death/top.log
# A line per device and sample: SAMPLE DOM VDEV RD_REQ/s ...  A rate in a
# device's first sample is counted from zero, so only a later one counts:
# the counters moved between two samples while the guest read its label.
check "vbdctl top saw the guest's reads move the kernel's counters" \
	awk '$3 == "xvdb" && $4 != "-" { if (!first) first = $1; else if ($4 + 0 > 0) found = 1 }
	     END { exit !found }' /death/top.log
t0=$(now_ms)
xl destroy dg1
check "after xl destroy, nothing is left of dg1's disks" wait_nothing_left "$d1" 30
t1=$(now_ms)
echo "TIME xl destroy to all reaped: $((t1 - t0)) ms"

echo "== a guest that crashes, preserved (on_crash=preserve), then destroyed"
{ guest_cfg dg2; echo 'on_crash = "preserve"'; } > /death/dg2.cfg
xl create /death/dg2.cfg || { echo "FAIL: xl create dg2"; exit 1; }
d2=$(xl domid dg2)
domu_wait_console dg2 "xen-blkfront loaded" 120 >/dev/null 2>&1 || true
check "attach xvdb to dg2" $vbdctl attach dg2 format=raw,vdev=xvdb,access=rw,target=/death/disk3.img --timeout 90
check "dg2 reads xvdb" domu_wait_console dg2 "+ xvdb sectors=16384 ro=0 sector0='VBDLAB-DEATH3'" 60
xl sysrq dg2 c
crashed() { xl list dg2 2>/dev/null | awk 'NR == 2 { exit !($5 ~ /c/) }'; }
i=0; until crashed || [ $i -ge 150 ]; do sleep 0.2; i=$((i + 1)); done
xl list
check "dg2 crashed and is preserved" crashed
sleep 2
check "a preserved domain's disk stays" sh -c "xenstore-exists /local/domain/0/backend/vbd/$d2/51728 && test \"\$(/usr/bin/losetup -a | grep -c /death/)\" = 1"
check "reap of a domain that still exists is refused" sh -c "! $vbdctl reap $d2"
t0=$(now_ms)
xl destroy dg2
check "after xl destroy of the preserved domain, nothing is left" wait_nothing_left "$d2" 30
t1=$(now_ms)
echo "TIME xl destroy (crashed) to all reaped: $((t1 - t0)) ms"

kill -TERM $reap_pid
wait $reap_pid
reap_rc=$?
echo "--- vbdctl reap --follow:"; cat /death/reap.log
check "the reaper stopped cleanly on SIGTERM" test "$reap_rc" = 0
umount /death
summary
