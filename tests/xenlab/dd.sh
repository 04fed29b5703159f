#!/bin/sh
# Runs inside the lab's driver domain at boot (tests/xenlab/driver_domain.sh):
# installs vbdctl and vbd-block where `xl devd` finds them (or, booted with
# xenlab.devd=0, starts `vbdctl devd` in its place), makes the image the
# guest must see, then reports the loop devices whenever they change.
say() { echo "dd.sh: $*"; }
domid=$(xenstore-read domid) || say "MISSING: xenstore-read domid"
cp /xenlab/share/bin/vbdctl /usr/local/sbin/vbdctl 2>/dev/null ||
	{ mkdir -p /usr/local/sbin && cp /xenlab/share/bin/vbdctl /usr/local/sbin/vbdctl; }
cp /xenlab/share/vbd-block /etc/xen/scripts/vbd-block && chmod 0755 /etc/xen/scripts/vbd-block
dd if=/dev/zero of=/images/disk.img bs=1M count=8 2>/dev/null &&
	printf VBD-DD-DISK | dd of=/images/disk.img conv=notrunc 2>/dev/null
vbdctl --help >/dev/null 2>&1 || say "MISSING: vbdctl does not run here"
# Booted with xenlab.devd=0 (no xl devd): vbdctl devd is this domain's
# hotplug daemon, and says each step on the console.
if grep -q 'xenlab.devd=0' /proc/cmdline; then
	# (a read loop, not sed: busybox's sed holds its output back)
	vbdctl devd 2>&1 | while IFS= read -r l; do echo "dd.sh: devd: $l"; done &
	say "vbdctl devd started"
fi
echo "VBD-DD-READY domid=$domid"
prev=""
while :; do
	cur=""
	for f in /sys/block/loop*/loop/backing_file; do
		[ -e "$f" ] || continue
		read -r b < "$f"; f=${f#/sys/block/}; cur="$cur ${f%%/*}=$b"
	done
	[ "$cur" = "$prev" ] || say "loop devices:${cur:- none}"
	prev=$cur
	sleep 0.2
done
