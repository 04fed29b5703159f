# Sourced by the lab tests in dom0: the check counter and a guest's config.
# shellcheck shell=bash
. /xenlab/lib.sh
pass=0 fail=0
check() {  # check "what" command...
	local what=$1; shift
	if "$@"; then echo "PASS: $what"; pass=$((pass + 1)); else echo "FAIL: $what"; fail=$((fail + 1)); fi
}
# guest_cfg NAME: a PV guest with the lab's kernel and blkfront ramdisk, no disk.
guest_cfg() {
	cat <<CFG
name = "$1"
type = "pv"
kernel = "$XENLAB_DOMU_KERNEL"
ramdisk = "$XENLAB_DOMU_RAMDISK"
extra = "console=hvc0 loglevel=4"
memory = 160
vcpus = 1
disk = [ ]
on_poweroff = "destroy"
CFG
}
# no_violation COMMAND...: vbdctl verify/watch saw no violation: exit 0
# (history seen whole) or 3 (none seen, but some transitions unobserved,
# which a one-shot verify of a connected device always has).
no_violation() {
	"$@"
	local r=$?
	[ $r = 0 ] || [ $r = 3 ]
}
# summary: the closing line, and the status.
summary() {
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
}
