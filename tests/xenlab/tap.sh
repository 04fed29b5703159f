#!/bin/bash
# Lab test, in xenlab's dom0: backendtype=tap next to phy on real Xen.
#   1. The kernel's xen-blkback serves a phy disk (backend/vbd) and
#      vbdctl backend --kind vbd3 serves a tap disk (backend/vbd3) of the
#      same PV guest; the guest's kernel blkfront reads both labels.
#   2. What xl 4.17, which knows no vbd3 kind, does with the tap disk:
#      block-list lists it, block-detach fails and changes nothing, and
#      destroy leaves the vbd3 dir, which dom0's vbdctl devd (its reaper)
#      removes unasked.  docs/protocol.md and vbdctl(8) say so.
# Usage: tap.sh VBDCTL VBD_BLOCK_SCRIPT
. "$(dirname "$0")/common.sh"
vbdctl=$1
set -u
loops() { /usr/bin/losetup -a 2>/dev/null | grep -c "/tap/" ; }

cp "$2" /etc/xen/scripts/vbd-block && chmod 0755 /etc/xen/scripts/vbd-block || { echo "FAIL: installing vbd-block"; exit 1; }
mkdir -p /tap && mount -t tmpfs -o size=64m tmpfs /tap
make_disk /tap/phy.img 8 VBDTAP-PHY
make_disk /tap/tap.img 8 VBDTAP-TAP
check "the kernel's blkback is there" sh -c "modprobe xen_blkback 2>/dev/null; test -d /sys/bus/xen-backend/drivers/vbd"

$vbdctl backend --domain 0 --kind vbd3 --verbose > /tap/backend.log 2>&1 &
be_pid=$!
# dom0's hotplug daemon and reaper, as a host would run it.
VBDCTL_LOG=info $vbdctl devd > /tap/devd.log 2>&1 &
devd_pid=$!
sleep 0.5
check "vbdctl backend --kind vbd3 runs next to the kernel's blkback" kill -0 $be_pid

guest_cfg tap > /tap/g.cfg
xl create /tap/g.cfg || { echo "FAIL: xl create"; exit 1; }
d=$(xl domid tap)
domu_wait_console tap "init" 60 >/dev/null 2>&1 || true

echo "== a phy disk (kernel blkback) and a tap disk (vbdctl backend --kind vbd3)"
check "attach phy xvdb to Connected" \
	$vbdctl attach tap format=raw,vdev=xvdb,access=rw,target=/tap/phy.img --timeout 90
check "attach tap xvdc to Connected" \
	$vbdctl attach tap format=raw,vdev=xvdc,access=rw,backendtype=tap,target=/tap/tap.img --timeout 90
check "xvdb under backend/vbd" xs_wait /local/domain/0/backend/vbd/$d/51728/state 4 5
check "xvdc under backend/vbd3" xs_wait /local/domain/0/backend/vbd3/$d/51744/state 4 5
check "the kernel's blkback holds phy's loop device only" test "$(loops)" = 1
check "the guest reads phy's label" domu_wait_console tap "+ xvdb" 60
check "the guest reads tap's label" domu_wait_console tap "+ xvdc" 60
grep -E "\+ xvd[bc]" /var/log/xen/console/guest-tap.log
check "  VBDTAP-PHY" sh -c "grep '+ xvdb' /var/log/xen/console/guest-tap.log | grep -q VBDTAP-PHY"
check "  VBDTAP-TAP" sh -c "grep '+ xvdc' /var/log/xen/console/guest-tap.log | grep -q VBDTAP-TAP"
check "vbdctl verify xvdc (kernel blkfront, vbd3 backend)" no_violation $vbdctl verify tap xvdc
$vbdctl status tap

echo "== what xl 4.17 does with the vbd3 device"
xl block-list tap > /tap/bl.txt 2>&1; cat /tap/bl.txt
check "xl block-list lists the tap disk with its vbd3 path" \
	grep -q "/local/domain/0/backend/vbd3/$d/51744" /tap/bl.txt
xl block-detach tap xvdc > /tap/bd.txt 2>&1
bd_rc=$?
cat /tap/bd.txt
check "xl block-detach of the tap disk fails (4.17 knows no vbd3)" test "$bd_rc" != 0
check "  saying so" grep -q "Unrecognized disk backend type" /tap/bd.txt
check "  and changes nothing: still Connected" xs_wait /local/domain/0/backend/vbd3/$d/51744/state 4 2
check "vbdctl detach of the tap disk" $vbdctl detach tap xvdc --timeout 30
check "no vbd3 dir left after vbdctl detach" sh -c "! xenstore-exists /local/domain/0/backend/vbd3/$d"
check "the guest saw xvdc go" domu_wait_console tap "- xvdc" 30
check "tap again" \
	$vbdctl attach tap format=raw,vdev=xvdc,access=rw,backendtype=tap,target=/tap/tap.img --timeout 90
xl destroy tap
echo "after xl destroy: vbd3 dir $(xenstore-exists /local/domain/0/backend/vbd3/$d && echo present || echo gone)," \
	"vbd dir $(xenstore-exists /local/domain/0/backend/vbd/$d && echo present || echo gone)"
check "dom0's devd reaps the vbd3 dir xl destroy leaves" xs_wait_gone /local/domain/0/backend/vbd3/$d 30
check "no vbd dir left" sh -c "! xenstore-exists /local/domain/0/backend/vbd/$d"
check "no loop device left" test "$(loops)" = 0
check "the vbd3 backend let the image go" sh -c "! ls -l /proc/$be_pid/fd 2>/dev/null | grep -q /tap/tap.img"

kill $be_pid $devd_pid
wait $be_pid 2>/dev/null
echo "--- vbd3 backend log"; tail -30 /tap/backend.log
echo "--- dom0's devd"; cat /tap/devd.log
summary
