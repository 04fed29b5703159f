#!/bin/bash
# Lab test, in xenlab's dom0: guests that die with vbdctl's disks attached,
# and the kernel blkback's counters as vbdctl top shows them.
# - `xl destroy` of a running guest: the reaper in dom0 (following
#   @releaseDomain) leaves nothing: no backend dir, no /libxl copy, no
#   record under /libvbd, no loop device.
# - a guest that crashes with on_crash=preserve (xl sysrq c): its devices
#   stay while the domain stays; after `xl destroy`, nothing is left.
# - a guest destroyed by the hypervisor call alone (vbd-lab-destroy), as a
#   toolstack that died half-way leaves it: the reaper alone tears its
#   devices down, and the dying domain can then go.
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
# until_ok SECONDS COMMAND...: true once COMMAND is, false after SECONDS.
until_ok() {
	local i=0 n=$(($1 * 5))
	shift
	until "$@"; do
		[ $i -ge $n ] && return 1
		sleep 0.2
		i=$((i + 1))
	done
}
# reaped_after WHAT D COMMAND...: COMMAND ends domain D; then nothing of its
# disks may be left within 40 s, and the time it took is said.
reaped_after() {
	local what=$1 d=$2 t0
	shift 2
	t0=$(now_ms)
	"$@"
	check "after $what, nothing is left of its disks" until_ok 40 nothing_left "$d"
	echo "TIME $what to all reaped: $(($(now_ms) - t0)) ms"
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
# Its first sample (a header, no device yet) is printed before the attach,
# so every rate it shows later was read while it ran.
$vbdctl top dg1 --interval 0.5 --count 60 > /death/top.log 2>&1 &
top_pid=$!
until_ok 30 grep -q RD_REQ /death/top.log
check "attach xvdb" $vbdctl attach dg1 format=raw,vdev=xvdb,access=rw,target=/death/disk1.img --timeout 90
check "attach xvdc" $vbdctl attach dg1 format=raw,vdev=xvdc,access=rw,target=/death/disk2.img --timeout 90
check "the guest reads xvdb" domu_wait_console dg1 "+ xvdb sectors=16384 ro=0 sector0='VBDLAB-DEATH1'" 60
check "the guest reads xvdc" domu_wait_console dg1 "+ xvdc sectors=16384 ro=0 sector0='VBDLAB-DEATH2'" 60
check "two loop devices" test "$(loops)" = 2
$vbdctl status dg1 --json > /death/st.json
check "status --json has the kernel's counters" grep -q '"rd_req"' /death/st.json
wait $top_pid
echo "--- vbdctl top:"; cat /death/top.log
# A line per device and sample: SAMPLE DOM VDEV RD_REQ/s ...; the device
# did not exist when top started, so a rate above zero is reads counted
# between two of its samples: the guest reading its label.
check "vbdctl top saw the guest's reads move the kernel's counters" \
	awk '$3 == "xvdb" && $4 != "-" && $4 + 0 > 0 { found = 1 } END { exit !found }' /death/top.log
reaped_after "xl destroy" "$d1" xl destroy dg1

echo "== a guest that crashes, preserved (on_crash=preserve), then destroyed"
# xl sysrq c asks the guest's kernel to crash; the kernel's default sysrq
# mask leaves that key out unless sysrq_always_enabled.
{ guest_cfg dg2 | sed 's/^extra = "/&sysrq_always_enabled /'; echo 'on_crash = "preserve"'; } > /death/dg2.cfg
xl create /death/dg2.cfg || { echo "FAIL: xl create dg2"; exit 1; }
d2=$(xl domid dg2)
domu_wait_console dg2 "xen-blkfront loaded" 120 >/dev/null 2>&1 || true
check "attach xvdb to dg2" $vbdctl attach dg2 format=raw,vdev=xvdb,access=rw,target=/death/disk3.img --timeout 90
check "dg2 reads xvdb" domu_wait_console dg2 "+ xvdb sectors=16384 ro=0 sector0='VBDLAB-DEATH3'" 60
xl sysrq dg2 c
crashed() { xl list dg2 2>/dev/null | awk 'NR == 2 { exit !($5 ~ /c/) }'; }
until_ok 30 crashed
xl list
check "dg2 crashed and is preserved" crashed
sleep 2
check "a preserved domain's disk stays" sh -c "xenstore-exists /local/domain/0/backend/vbd/$d2/51728 && test \"\$(/usr/bin/losetup -a | grep -c /death/)\" = 1"
check "reap of a domain that still exists is refused" sh -c "! $vbdctl reap $d2"
reaped_after "xl destroy of the crashed, preserved domain" "$d2" xl destroy dg2

echo "== a guest destroyed behind the toolstack's back (the hypervisor call alone)"
# xl destroy tears the devices down itself (they are in its /libxl copy);
# here nobody does but dom0's reaper.  The domain stays a dying zombie
# while the kernel blkback maps its grants, so the reaper must not wait for
# it to vanish first.
guest_cfg dg3 > /death/dg3.cfg
xl create /death/dg3.cfg || { echo "FAIL: xl create dg3"; exit 1; }
d3=$(xl domid dg3)
domu_wait_console dg3 "xen-blkfront loaded" 120 >/dev/null 2>&1 || true
check "attach xvdb to dg3" $vbdctl attach dg3 format=raw,vdev=xvdb,access=rw,target=/death/disk1.img --timeout 90
check "dg3 reads xvdb" domu_wait_console dg3 "+ xvdb sectors=16384 ro=0 sector0='VBDLAB-DEATH1'" 60
reaped_after "a destroy by the hypervisor call alone (vbd-lab-destroy)" "$d3" vbd-lab-destroy "$d3"
gone3() { ! xl list "$d3" >/dev/null 2>&1; }
until_ok 20 gone3
xl list
check "no zombie: the domain is gone once its disk was torn down" gone3
check "the reaper said what it reaped" grep -q "domain $d3" /death/reap.log

kill -TERM $reap_pid
wait $reap_pid
reap_rc=$?
echo "--- vbdctl reap --follow:"; cat /death/reap.log
check "the reaper stopped cleanly on SIGTERM" test "$reap_rc" = 0
umount /death
summary
