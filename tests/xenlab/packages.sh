#!/bin/bash
# Lab test, in xenlab's dom0: the built Debian packages on a real Xen host.
# run.sh unpacks their files (dpkg -x) and puts them in the share as
# pkgroot.tar; dom0 is a busybox initramfs without dpkg, so they are
# unpacked over / as dpkg would place them.  Then the packaged /usr/bin/vbdctl (with the packaged
# libvbd.so.0) attaches a disk to a PV guest's kernel blkfront through the
# kernel's blkback, the script it writes to xenstore is the packaged
# vbd-block at that very path, the guest reads the disk, and detach leaves
# nothing.
# Usage: packages.sh VBDCTL VBD_BLOCK_SCRIPT (both unused: the packaged
# ones are the subject)
. "$(dirname "$0")/common.sh"
set -u
root=/tmp/pkgroot
pk=/usr/bin/vbdctl
loops() { /usr/bin/losetup -a 2>/dev/null | grep -c "/pk/" ; }

mkdir -p $root && tar -C $root -xf /xenlab/share/pkgroot.tar
check "the packages' files are in the share" test -x $root/usr/bin/vbdctl
tar -C / -xf /xenlab/share/pkgroot.tar || { echo "FAIL: unpacking the packages' files into /"; exit 1; }
check "the packaged vbdctl runs with the packaged libvbd.so.0" sh -c "$pk --help >/dev/null"
check "  installed as the package lays it out" test -e /usr/lib/x86_64-linux-gnu/libvbd.so.0
check "the packaged script is in /etc/xen/scripts" cmp $root/etc/xen/scripts/vbd-block /etc/xen/scripts/vbd-block

mkdir -p /pk && mount -t tmpfs -o size=32m tmpfs /pk
make_disk /pk/disk.img 8 VBDLAB-PACKAGED
guest_cfg pkg > /pk/g.cfg
xl create /pk/g.cfg || { echo "FAIL: xl create"; exit 1; }
d=$(xl domid pkg)
domu_wait_console pkg "xen-blkfront loaded" 120 >/dev/null 2>&1 || true
BE=/local/domain/0/backend/vbd/$d/51728

t0=$(now_ms)
check "the packaged vbdctl attaches to Connected" \
	$pk attach pkg format=raw,vdev=xvdb,access=rw,target=/pk/disk.img --timeout 90
echo "TIME packaged vbdctl attach to Connected: $(($(now_ms) - t0)) ms"
script=$(xenstore-read $BE/script)
echo "xenstore names the script $script"
check "the script xenstore names is the packaged one's path" test "$script" = /etc/xen/scripts/vbd-block
check "  and that file is the packaged script" cmp "$script" $root/etc/xen/scripts/vbd-block
check "the guest reads the disk" domu_wait_console pkg "+ xvdb sectors=16384 ro=0 sector0='VBDLAB-PACKAGED'" 60
check "one loop device" test "$(loops)" = 1
$pk status pkg
# libxl runs the script, which runs the vbdctl PATH finds: the packaged one.
check "xl detaches it by the packaged script" env PATH=/usr/sbin:/usr/bin:/sbin:/bin xl block-detach pkg xvdb
check "no backend left" xs_wait_gone $BE 30
check "no loop device left" test "$(loops)" = 0
xl destroy pkg
umount /pk
summary
