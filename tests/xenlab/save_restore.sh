#!/bin/bash
# Lab test, in xenlab's dom0: a disk attached by vbdctl survives xl save +
# xl restore (and a restart, xl reboot's path) of an xl-managed guest, next to one of xl's
# own, because attach keeps libxl's saved domain configuration (the
# libxl-json userdata) in step; once vbdctl detached it, it stays gone.
# Usage: save_restore.sh VBDCTL VBD_BLOCK_SCRIPT
. "$(dirname "$0")/common.sh"
vbdctl=$1
set -u
loops() { /usr/bin/losetup -a 2>/dev/null | grep -c "/data/" ; }
# The disks of the guest's saved configuration, as "vdev vdev".
cfg_disks() {
	local d
	d=$(xl domid sr) || return 1
	grep -o '"vdev": *"[^"]*"' /var/lib/xen/userdata-d.$d.*.libxl-json | sed 's/.*"\([^"]*\)"$/\1/' | tr '\n' ' '
}
# both_connected DOMID: both disks' ends Connected.
both_connected() {
	local d=$1 ok=0
	xs_wait /local/domain/0/backend/vbd/$d/51728/state 4 60 || ok=1
	xs_wait /local/domain/$d/device/vbd/51728/state 4 30 || ok=1
	xs_wait /local/domain/0/backend/vbd/$d/51744/state 4 60 || ok=1
	xs_wait /local/domain/$d/device/vbd/51744/state 4 30 || ok=1
	return $ok
}
# A console line the guest prints after the mark: the log goes on across
# save and restore, so what counts is what came after.
console_after() {  # console_after MARK_LINES STRING [TIMEOUT_S]
	local end=$(( $(now_ms) + ${3:-60} * 1000 ))
	until domu_console sr | tail -n +"$(( $1 + 1 ))" | grep -qF -- "$2"; do
		[ "$(now_ms)" -ge $end ] && return 1; sleep 0.2
	done
}
console_lines() { domu_console sr | wc -l; }
cfg_is() { [ "$(cfg_disks)" = "$1" ]; }

cp "$2" /etc/xen/scripts/vbd-block && chmod 0755 /etc/xen/scripts/vbd-block || { echo "FAIL: installing vbd-block"; exit 1; }
mkdir -p /data && mount -t tmpfs -o size=32m tmpfs /data
# A save image is about the guest's memory (160 MB).
mkdir -p /save && mount -t tmpfs -o size=400m tmpfs /save
make_disk /data/ours.img 8 VBDLAB-OURS
make_disk /data/xls.img 8 VBDLAB-XLS
make_disk /data/b.img 8 VBDLAB-B
guest_cfg sr | sed 's/^on_poweroff = .*/on_poweroff = "restart"/' > /data/sr.cfg
xl create /data/sr.cfg || { echo "FAIL: xl create"; exit 1; }
d=$(xl domid sr)
domu_wait_console sr "init" 60 >/dev/null 2>&1 || true

echo "== one disk by vbdctl, one by xl"
t0=$(now_ms)
check "vbdctl attach xvdb" $vbdctl attach sr format=raw,vdev=xvdb,access=rw,target=/data/ours.img --timeout 90
t1=$(now_ms)
check "xl block-attach xvdc" xl block-attach sr format=raw,vdev=xvdc,access=rw,target=/data/xls.img
check "both Connected" both_connected $d
t2=$(now_ms)
echo "TIME vbdctl attach (configuration kept in step): $((t1 - t0)) ms; xl block-attach + Connected: $((t2 - t1)) ms"
check "the guest reads our label" domu_wait_console sr "sector0='VBDLAB-OURS'" 60
check "the guest reads xl's label" domu_wait_console sr "sector0='VBDLAB-XLS'" 60
echo "saved configuration's disks: $(cfg_disks)"
check "the saved configuration lists both" cfg_is 'xvdb xvdc '
grep -B3 -A12 '"vdev": "xvdb"' /var/lib/xen/userdata-d.$d.*.libxl-json | head -16
check "no lock file left" sh -c "! ls /var/lib/xen/userdata-l.$d.* 2>/dev/null | grep -q ."

echo "== xl save + xl restore"
check "xl save" xl save sr /save/sr.save
check "no loop device while saved" test "$(loops)" = 0
check "xl restore" xl restore /save/sr.save
rm -f /save/sr.save
d2=$(xl domid sr)
check "both Connected after restore" both_connected $d2
check "xl block-list shows both" sh -c "xl block-list sr | grep -q 51728 && xl block-list sr | grep -q 51744"
xl block-list sr
check "the saved configuration still lists both" cfg_is 'xvdb xvdc '
# (The guest's init would not say a disk went: Linux's blkfront keeps the
# device of a frontend dir that is gone after a restore.  Both ends
# Connected above is the proof; the restart below shows the labels read.)
check "vbdctl status knows xvdb" sh -c "$vbdctl status sr | grep -q xvdb"
check "vbdctl verify: no violation after restore" no_violation $vbdctl verify sr xvdb

echo "== restart: the guest boots again with both disks and reads both labels"
# xl rebuilds a restarting guest from libxl's configuration, as for xl
# reboot; the lab guest's init does not reboot (busybox reboot signals
# PID 1, a shell), but it powers off, and on_poweroff=restart restarts it.
mark=$(console_lines)
check "xl shutdown (on_poweroff=restart)" xl shutdown sr
# (Under load the restart, a whole domain build under emulation, has taken
# more than a minute: up to three are allowed.)
# One lookup per round, and the same new number on two rounds in a row:
# while xl tears the old domain down and builds the new one, the name has
# been seen to resolve and then vanish again (a CI run read "none" just
# after the loop ended).
d3=none; prev=none; i=0
while [ $i -lt 360 ]; do
	cur=$(xl domid sr 2>/dev/null) || cur=none
	case $cur in ''|*[!0-9]*) cur=none ;; esac
	if [ "$cur" != none ] && [ "$cur" != "$d2" ] && [ "$cur" = "$prev" ]; then
		d3=$cur; break
	fi
	prev=$cur; sleep 0.5; i=$((i+1))
done
echo "restarted as domain $d3"
check "restarted as a new domain" test "$d3" != "$d2" -a "$d3" != none
check "both Connected after the restart" both_connected $d3
check "after the restart the guest reads our label" console_after "$mark" "sector0='VBDLAB-OURS'" 90
check "after the restart the guest reads xl's label" console_after "$mark" "sector0='VBDLAB-XLS'" 90

echo "== vbdctl detach, then xl save + xl restore: ours stays gone"
check "vbdctl detach xvdb" $vbdctl detach sr xvdb --timeout 30
check "the saved configuration lists xl's only" cfg_is 'xvdc '
check "xl save (2)" xl save sr /save/sr.save
check "xl restore (2)" xl restore /save/sr.save
rm -f /save/sr.save
d4=$(xl domid sr)
check "xl's disk Connected" xs_wait /local/domain/0/backend/vbd/$d4/51744/state 4 60
check "ours not back" sh -c "! xenstore-exists /local/domain/0/backend/vbd/$d4/51728"
check "xl block-list: xl's only" sh -c "xl block-list sr | grep -q 51744 && ! xl block-list sr | grep -q 51728"
# The other way to keep the configuration in step: the attach driven through
# libxenlight (xl block-attach is libxl_device_disk_add) with our hotplug
# step as its script, timed against vbdctl attach of the same image.
# (xl block-detach leaves libxl's entry in the configuration: libxl drops
# it when it next rebuilds the domain.)
t3=$(now_ms)
check "xl block-attach xvdd with script=vbd-block" xl block-attach sr format=raw,vdev=xvdd,access=rw,script=vbd-block,target=/data/b.img
check "xvdd Connected" xs_wait /local/domain/0/backend/vbd/$d4/51760/state 4 60
t4=$(now_ms)
echo "TIME xl block-attach through libxenlight with script=vbd-block + Connected: $((t4 - t3)) ms"
check "xl block-detach xvdd" xl block-detach sr xvdd
check "xvdd gone" xs_wait_gone /local/domain/0/backend/vbd/$d4/51760 30
t5=$(now_ms)
check "vbdctl attach xvde (configuration kept in step)" $vbdctl attach sr format=raw,vdev=xvde,access=rw,target=/data/b.img --timeout 90
t6=$(now_ms)
echo "TIME vbdctl attach with the configuration kept in step, to Connected: $((t6 - t5)) ms"
check "vbdctl detach xvde" $vbdctl detach sr xvde --timeout 30
xl destroy sr
check "no loop device left" test "$(loops)" = 0
summary
