#!/bin/bash
# Lab test, in xenlab's dom0: vbdctl against Xen 4.17's xenstored, xl, and
# the kernel's xen-blkback (dom0) and xen-blkfront (a PV guest).
# Usage: lifecycle.sh VBDCTL VBD_BLOCK_SCRIPT
. "$(dirname "$0")/common.sh"
vbdctl=$1
set -u
loops() { /usr/bin/losetup -a 2>/dev/null | grep -c "/data/" ; }

# libxl runs the script named in a device's /libxl copy on xl block-detach:
# vbdctl's built-in hotplug names vbd-block there, which calls vbdctl.
cp "$2" /etc/xen/scripts/vbd-block && chmod 0755 /etc/xen/scripts/vbd-block || { echo "FAIL: installing vbd-block"; exit 1; }
mkdir -p /data && mount -t tmpfs -o size=128m tmpfs /data
for i in 1 2 3 4; do make_disk /data/disk$i.img 8 VBDLAB-DISK$i; done
guest_cfg lab > /data/g.cfg
xl create /data/g.cfg || { echo "FAIL: xl create"; exit 1; }
d=$(xl domid lab)
domu_wait_console lab "init" 60 >/dev/null 2>&1 || true
BE=/local/domain/0/backend/vbd/$d

echo "== vbdctl attach (built-in hotplug) of xvdb"
# The verifier follows the whole handshake of the real drivers.
$vbdctl watch lab > /data/watch.log 2>&1 &
watch_pid=$!
sleep 0.5
t0=$(now_ms)
check "vbdctl attach xvdb reaches Connected" \
	$vbdctl attach lab format=raw,vdev=xvdb,access=rw,target=/data/disk1.img --timeout 90
t1=$(now_ms)
check "backend 51728 state 4" xs_wait $BE/51728/state 4 5
check "frontend 51728 state 4" xs_wait /local/domain/$d/device/vbd/51728/state 4 5
check "the guest sees xvdb" domu_wait_console lab "+ xvdb" 60
check "xl block-list shows it" sh -c "xl block-list lab | grep -q 51728"
$vbdctl status lab
$vbdctl status lab xvdb --json > /data/st.json; cat /data/st.json
check "status --json: both Connected" sh -c "grep -q '\"frontend_state_name\": \"Connected\"' /data/st.json"
check "vbdctl verify: no violation by the real drivers" no_violation $vbdctl verify lab xvdb
echo "TIME vbdctl attach (builtin): $((t1 - t0)) ms"

echo "== vbdctl detach xvdb"
check "vbdctl detach xvdb" $vbdctl detach lab xvdb --timeout 30
check "backend dir gone" xs_wait_gone $BE/51728 5
check "no /libxl copy" sh -c "! xenstore-exists /libxl/$d/device/vbd/51728"
check "the guest sees xvdb go" domu_wait_console lab "- xvdb" 60
check "no loop device left" test "$(loops)" = 0
kill -INT $watch_pid
wait $watch_pid
watch_rc=$?
echo "--- vbdctl watch, over attach and detach:"; cat /data/watch.log
check "vbdctl watch: no violation by the real drivers" test "$watch_rc" = 0 -o "$watch_rc" = 3
check "vbdctl watch saw the frontend connect" grep -q "frontend .*-> Connected" /data/watch.log
check "vbdctl watch ends with its verdict" grep -q "summary:" /data/watch.log

echo "== xl block-attach, then vbdctl status and detach"
t2=$(now_ms)
check "xl block-attach xvdc" xl block-attach lab format=raw,vdev=xvdc,access=rw,target=/data/disk2.img
check "xvdc Connected" xs_wait $BE/51744/state 4 60
t3=$(now_ms)
echo "TIME xl block-attach + Connected: $((t3 - t2)) ms"
check "vbdctl status lists xl's device" sh -c "$vbdctl status lab | grep -q xvdc"
check "vbdctl detach of xl's device" $vbdctl detach lab xvdc --timeout 30
check "xvdc gone" xs_wait_gone $BE/51744 5
check "no loop device left after xl's device" test "$(loops)" = 0

echo "== vbdctl attach with Xen's own block script, then xl block-detach"
t4=$(now_ms)
check "vbdctl attach xvdd --script /etc/xen/scripts/block" \
	$vbdctl attach lab format=raw,vdev=xvdd,access=rw,target=/data/disk3.img \
	--script /etc/xen/scripts/block --timeout 90
t5=$(now_ms)
echo "TIME vbdctl attach (Xen's block script): $((t5 - t4)) ms"
check "the guest sees xvdd" domu_wait_console lab "+ xvdd" 60
check "xl block-detach of vbdctl's device" xl block-detach lab xvdd
check "xvdd gone" xs_wait_gone $BE/51760 10
check "no loop device left after xl block-detach" test "$(loops)" = 0

echo "== vbdctl attach (built-in), then xl block-detach (runs vbd-block remove)"
check "vbdctl attach xvde" $vbdctl attach lab format=raw,vdev=xvde,access=rw,target=/data/disk4.img --timeout 90
xenstore-ls -f $BE/51776 | grep -E "script|node|physical-device|params"
# A watch on the backend dir shows what libxl deletes and when.
xenstore-watch -n 40 $BE/51776 > /data/xvde.watch 2>&1 &
wpid=$!
check "xl block-detach of a built-in device" xl -vvv block-detach lab xvde 2> /data/xl-detach.log
check "xvde gone" xs_wait_gone $BE/51776 10
check "no loop device left after built-in + xl detach" test "$(loops)" = 0
kill $wpid 2>/dev/null
if [ "$(loops)" != 0 ]; then
	echo "--- losetup -a"; /usr/bin/losetup -a
	echo "--- xl -vvv block-detach (hotplug lines)"; grep -iE "hotplug|script|vbd-block|remove|error" /data/xl-detach.log | head -40
	echo "--- watch events on the backend dir"; head -40 /data/xvde.watch
	echo "--- /libvbd"; xenstore-ls -f /libvbd 2>&1 | head
fi

echo "== bad input: nothing written"
check "unknown domain refused" sh -c "! $vbdctl attach nosuch format=raw,vdev=xvdf,target=/data/disk1.img"
check "missing target refused" sh -c "! $vbdctl attach lab format=raw,vdev=xvdf,target=/data/nope.img"
check "no xvdf nodes" sh -c "! xenstore-exists $BE/51792"

echo "== domains come from the hypervisor (libxenlight), not from xenstore alone"
# A home in xenstore with a name, but no such domain in the hypervisor.
xenstore-write /local/domain/777/name ghost
VBDCTL_LOG=debug $vbdctl attach ghost format=raw,vdev=xvdf,target=/data/disk1.img > /data/ghost.log 2>&1
cat /data/ghost.log
check "a name only xenstore knows is refused (libxenlight)" grep -q "no domain named 'ghost' (libxenlight)" /data/ghost.log
VBDCTL_LOG=debug $vbdctl attach 777 format=raw,vdev=xvdf,target=/data/disk1.img > /data/ghost.log 2>&1
check "an id only xenstore knows is refused (libxenlight)" grep -q "no domain 777 (libxenlight)" /data/ghost.log
check "no ghost nodes" sh -c "! xenstore-exists /local/domain/0/backend/vbd/777"
xenstore-rm /local/domain/777

if [ "$t1" -gt "$t0" ] && [ "$t3" -gt "$t2" ]; then
	echo "RATIO vbdctl attach / xl block-attach (to Connected): $(( (t1 - t0) * 100 / (t3 - t2) ))%"
fi
xl destroy lab
summary
