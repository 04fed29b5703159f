#!/bin/bash
# Lab test, in xenlab's dom0: a disk served by a storage driver domain.
# dd1 runs the kernel's xen-blkback and `xl devd`, which runs the hotplug
# script a backend names (vbd-block, hence `vbdctl hotplug`) inside dd1.
# dom0's vbdctl writes the nodes, runs no hotplug for dd1's backend and
# never looks at the target in its own filesystem: /images/disk.img exists
# in dom0 too, with another label, and the guest must read dd1's.
# Usage: driver_domain.sh VBDCTL VBD_BLOCK_SCRIPT  (dd.sh in the share root
# installs vbdctl and vbd-block inside dd1)
. "$(dirname "$0")/common.sh"
vbdctl=$1
set -u
# dd_loops_are DD LIST: wait (15 s) until DD's dd.sh last reported LIST.
dd_loops_are() {
	local i=0
	until [ "$(domu_console "$1" | sed -n 's/.*loop devices: //p' | tail -n 1 | tr -d '\r')" = "$2" ]; do
		[ $i -ge 75 ] && return 1
		sleep 0.2
		i=$((i + 1))
	done
}
dom0_loops() { /usr/bin/losetup -a 2>/dev/null | grep -c "/images/" ; }

cp "$2" /etc/xen/scripts/vbd-block && chmod 0755 /etc/xen/scripts/vbd-block
# The same path in dom0, with another label: dom0 must not use it.
mkdir -p /images
make_disk /images/disk.img 8 DOM0-NOT-THIS-ONE

dd_config dd1 > /tmp/dd1.cfg
guest_cfg ddg > /tmp/ddg.cfg
xl create /tmp/dd1.cfg || { echo "FAIL: xl create dd1"; exit 1; }
xl create /tmp/ddg.cfg || { echo "FAIL: xl create ddg"; exit 1; }
DD=$(xl domid dd1)
G=$(xl domid ddg)
check "dd1 is ready (vbdctl and vbd-block installed, xl devd running)" \
	domu_wait_console dd1 "VBD-DD-READY domid=$DD" 120
domu_wait_console ddg "xen-blkfront loaded" 120 >/dev/null 2>&1 || true
BE=/local/domain/$DD/backend/vbd/$G/51728
FE=/local/domain/$G/device/vbd/51728

echo "== vbdctl attach ddg backend=dd1 (hotplug runs in dd1)"
t0=$(now_ms)
check "vbdctl attach backend=dd1 reaches Connected" \
	$vbdctl attach ddg "backend=dd1,format=raw,vdev=xvdb,access=rw,target=/images/disk.img" --timeout 90
t1=$(now_ms)
echo "TIME vbdctl attach backend=dd1 to Connected: $((t1 - t0)) ms"
xenstore-ls -f $BE | grep -E "script|params|physical-device|hotplug|state"
check "the guest reads dd1's disk, not dom0's file of the same name" \
	domu_wait_console ddg "+ xvdb sectors=16384 ro=0 sector0='VBD-DD-DISK'" 60
check "dd1 looped its own image" dd_loops_are dd1 loop0=/images/disk.img
check "dom0 made no loop device" test "$(dom0_loops)" = 0
check "dom0 recorded nothing under /libvbd for dd1's backend" \
	sh -c "! xenstore-ls -f /libvbd 2>/dev/null | grep -q 'backend/vbd/$G/51728\|$DD-$G-51728'"
$vbdctl status ddg
check "vbdctl verify: no violation" no_violation $vbdctl verify ddg xvdb

echo "== vbdctl detach (dd1 runs remove)"
check "vbdctl detach" $vbdctl detach ddg xvdb --timeout 30
check "frontend removed" xs_wait_gone $FE 10
check "backend removed" xs_wait_gone $BE 30
check "no /libxl copy" sh -c "! xenstore-exists /libxl/$G/device/vbd/51728"
check "the guest saw xvdb go" domu_wait_console ddg "- xvdb" 30
check "dd1 freed its loop device" dd_loops_are dd1 none
check "dom0 still has no loop device" test "$(dom0_loops)" = 0

xl destroy dd1

echo "== dd2: vbdctl devd is the driver domain's hotplug daemon (no xl devd)"
DD_EXTRA=xenlab.devd=0 dd_config dd2 > /tmp/dd2.cfg
xl create /tmp/dd2.cfg || { echo "FAIL: xl create dd2"; exit 1; }
DD2=$(xl domid dd2)
check "dd2 is ready with vbdctl devd" domu_wait_console dd2 "VBD-DD-READY domid=$DD2" 120
console_has() { domu_console "$1" | grep -q -- "$2"; }  # console_has NAME REGEX
# console_count_is NAME FIXED N: N lines with FIXED, waiting up to 30 s.
console_count_is() {
	local i=0
	until [ "$(domu_console "$1" | grep -cF -- "$2")" = "$3" ]; do
		[ $i -ge 150 ] && return 1
		sleep 0.2
		i=$((i + 1))
	done
}
check "dd2 runs no xl devd" console_has dd2 'xl devd not started'
check "dd2 runs vbdctl devd" console_has dd2 'vbdctl devd started'
BE2=/local/domain/$DD2/backend/vbd/$G/51744
FE2=/local/domain/$G/device/vbd/51744
t0=$(now_ms)
check "vbdctl attach backend=dd2 reaches Connected (vbdctl devd in dd2 did the hotplug)" \
	$vbdctl attach ddg "backend=dd2,format=raw,vdev=xvdc,access=rw,target=/images/disk.img" --timeout 90
t1=$(now_ms)
echo "TIME vbdctl attach backend=dd2 (vbdctl devd) to Connected: $((t1 - t0)) ms"
xenstore-ls -f $BE2 | grep -E "script|params|physical-device|hotplug|state"
check "the guest reads dd2's disk" \
	domu_wait_console ddg "+ xvdc sectors=16384 ro=0 sector0='VBD-DD-DISK'" 60
check "dd2 looped its own image" dd_loops_are dd2 loop0=/images/disk.img
check "dd2's devd said it ran add" domu_wait_console dd2 "devd: /local/domain/$DD2/backend/vbd/$G/51744 add ok" 20
check "vbdctl detach from dd2" $vbdctl detach ddg xvdc --timeout 30
check "backend removed by dd2's devd" xs_wait_gone $BE2 30
check "dd2 freed its loop device" dd_loops_are dd2 none
check "the guest saw xvdc go" domu_wait_console ddg "- xvdc" 30

echo "== dd2 destroyed under a connected guest"
check "attach xvdc again through dd2" \
	$vbdctl attach ddg "backend=dd2,format=raw,vdev=xvdc,access=rw,target=/images/disk.img" --timeout 90
check "the guest reads it again" console_count_is ddg "+ xvdc sectors=16384 ro=0 sector0='VBD-DD-DISK'" 2
$vbdctl reap --follow > /tmp/reap-dd2.log 2>&1 &
reap_pid=$!
t0=$(now_ms)
xl destroy dd2
check "dom0's frontend dir of the dead driver domain's disk is removed" xs_wait_gone $FE2 30
check "no /libxl copy left" sh -c "! xenstore-exists /libxl/$G/device/vbd/51744"
check "no backend path left under the dead domain" sh -c "! xenstore-exists /local/domain/$DD2"
check "the guest's frontend was told: the guest saw xvdc go" console_count_is ddg "- xvdc" 2
t1=$(now_ms)
echo "TIME xl destroy dd2 to the guest's disk gone: $((t1 - t0)) ms"
check "vbdctl status shows nothing of ddg" sh -c "! $vbdctl status ddg | grep -q xvdc"
kill -TERM $reap_pid; wait $reap_pid
echo "--- reap --follow:"; cat /tmp/reap-dd2.log
echo "--- dd2's console (last 30 lines):"; domu_console dd2 | tail -n 30
xl destroy ddg
summary
