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
kept() {  # kept MARK VDEV: the guest did not report VDEV gone after the mark
	! domu_console sr | tail -n +"$(( $1 + 1 ))" | grep -qF -- "- $2 removed"
}

cp "$2" /etc/xen/scripts/vbd-block && chmod 0755 /etc/xen/scripts/vbd-block || { echo "FAIL: installing vbd-block"; exit 1; }
mkdir -p /data && mount -t tmpfs -o size=32m tmpfs /data
# A save image is about the guest's memory (160 MB).
mkdir -p /save && mount -t tmpfs -o size=400m tmpfs /save
make_disk /data/ours.img 8 VBDLAB-OURS
make_disk /data/xls.img 8 VBDLAB-XLS
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
mark=$(console_lines)
check "xl save" xl save sr /save/sr.save
check "no loop device while saved" test "$(loops)" = 0
check "xl restore" xl restore /save/sr.save
rm -f /save/sr.save
d2=$(xl domid sr)
check "both Connected after restore" both_connected $d2
check "xl block-list shows both" sh -c "xl block-list sr | grep -q 51728 && xl block-list sr | grep -q 51744"
xl block-list sr
check "the saved configuration still lists both" cfg_is 'xvdb xvdc '
# The guest's init reports a disk that goes away: neither may.
sleep 2
check "the guest kept xvdb" kept "$mark" xvdb
check "the guest kept xvdc" kept "$mark" xvdc
check "vbdctl status knows xvdb" sh -c "$vbdctl status sr | grep -q xvdb"
check "vbdctl verify passes after restore" $vbdctl verify sr xvdb

echo "== restart: the guest boots again with both disks and reads both labels"
# xl rebuilds a restarting guest from libxl's configuration, as for xl
# reboot; the lab guest's init does not reboot (busybox reboot signals
# PID 1, a shell), but it powers off, and on_poweroff=restart restarts it.
mark=$(console_lines)
check "xl shutdown (on_poweroff=restart)" xl shutdown sr
i=0; while { ! xl domid sr >/dev/null 2>&1 || [ "$(xl domid sr)" = "$d2" ]; } && [ $i -lt 120 ]; do sleep 0.5; i=$((i+1)); done
d3=$(xl domid sr 2>/dev/null || echo none)
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
xl destroy sr
check "no loop device left" test "$(loops)" = 0
summary
