#!/usr/bin/env bash
# make check-xen: boots real Xen 4.17 + a Debian dom0 under QEMU with
# ../shared/xenlab (about a minute) and runs the lab tests in dom0 with this
# build shared in:
#   store_diff.sh     one xenstore-utils transcript against Xen's xenstored
#                     and against `vbdctl store serve`, which must match;
#   lifecycle.sh      vbdctl attach/status/detach against the kernel's
#                     blkback and blkfront, next to xl's own, both ways;
#   drivers.sh        the bundled userspace blkback and blkfront on the xen
#                     transport, against a guest's kernel blkfront and
#                     against each other;
#   driver_domain.sh  storage driver domains: one whose xl devd runs
#                     vbd-block, one that runs vbdctl devd and is destroyed
#                     under a connected guest;
#   death.sh          guests that die (xl destroy, on_crash=preserve, a
#                     destroy behind the toolstack's back) and vbdctl top
#                     over the kernel blkback's counters;
#   tap.sh            backendtype=tap served by vbdctl backend --kind vbd3
#                     next to the kernel's blkback, and what xl 4.17 does
#                     with such a disk;
#   save_restore.sh   a vbdctl disk survives xl save + restore and a
#                     restart of an xl-managed guest;
#   packages.sh       the built Debian packages' files in dom0's root: their
#                     vbdctl attaches to Connected and the script path it
#                     writes to xenstore is where the package put it;
#   log_replay.sh     vbdctl verify --log replays xenstored's own log of
#                     attaches and detaches (vbdctl's and xl's): pass, the
#                     history whole; a toolstack's write of a driver's
#                     state is reported (rule writer).
# Not in the default list: bench.sh (make bench-xen), the lab benchmark of
# attach -> Connected by vbdctl, xl and our blkback; its "CSV," console
# lines are collected into BUILD_DIR/bench-xen.csv.
# Usage: tests/xenlab/run.sh BUILD_DIR [--xenstored c|o]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
shift
# The lab lives in shared/ beside the checkout (as CI lays it out); a clone
# of a local checkout also finds it beside the repository it came from.
xenlab=${XENLAB:-$top/../shared/xenlab/xenlab.sh}
if [ -z "${XENLAB:-}" ] && [ ! -x "$xenlab" ]; then
	origin=$(git -C "$top" config --get remote.origin.url 2>/dev/null || true)
	if [ -n "$origin" ] && [ -d "$origin" ] && [ -x "$origin/../shared/xenlab/xenlab.sh" ]; then
		xenlab=$(cd "$origin/.." && pwd)/shared/xenlab/xenlab.sh
	fi
fi
work=${XENLAB_WORK:-/tmp/xenlab}
[ -x "$xenlab" ] || { echo "check-xen: no xenlab at $xenlab (set XENLAB)" >&2; exit 2; }

stage=$(mktemp -d /tmp/vbd-xenlab.XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/tests"
cp "$build/cli/vbdctl" "$stage/bin/"
# bench.sh times vbdctl as installed: the build tree's binary carries a
# RUNPATH to build/lib (and an empty entry, the working directory), which
# makes the loader try each of vbdctl's own libraries there and in each
# hardware-capability subdirectory first, some fifty failed system calls
# per start that no installed vbdctl makes (xl makes none either).  Its
# RUNPATH removed as `cmake --install` does; compressed, since the lab
# resolves the libraries of every ELF file in the share with the host's
# ldd, and this one finds libvbd.so.0 only where the lab puts it in dom0.
cp "$build/cli/vbdctl" "$stage/vbdctl.installed"
printf 'file(RPATH_REMOVE FILE "${F}")\n' >"$stage/rpath.cmake"
cmake -DF="$stage/vbdctl.installed" -P "$stage/rpath.cmake" >/dev/null
gzip "$stage/vbdctl.installed"
rm -f "$stage/rpath.cmake"
# VBD_BENCH_BASELINE=FILE: another build's vbdctl, which bench.sh times
# beside this one (it runs on this build's libvbd: a baseline of the CLI).
if [ -n "${VBD_BENCH_BASELINE:-}" ]; then
	cp "$VBD_BENCH_BASELINE" "$stage/bin/vbdctl-baseline"
fi
cp "$build/tests/vbd-lab-destroy" "$stage/bin/"
cp "$build/tests/vbd-lab-stamp" "$stage/bin/"
cp "$build/tests/vbd-lab-xbpipe" "$stage/bin/"
# VBD_LAB_EXTRA="FILE...": more host binaries for dom0's PATH (strace,
# perf: their libraries are added as for any ELF file in the share).
[ -z "${VBD_LAB_EXTRA:-}" ] || cp $VBD_LAB_EXTRA "$stage/bin/"
cp "$top"/tests/xenlab/*.sh "$stage/tests/"
cp "$top"/hotplug/vbd-block "$stage/"
# The driver domain runs dd.sh from the share's root at boot.
cp "$top"/tests/xenlab/dd.sh "$stage/dd.sh"
# VBD_LAB_TESTS="a b": run only those lab tests (tests/xenlab/a.sh ...), in
# that order; each gets VBDCTL and the vbd-block script as arguments.
tests=${VBD_LAB_TESTS:-store_diff lifecycle drivers driver_domain death tap save_restore packages log_replay}
for t in $tests; do
	[ -f "$top/tests/xenlab/$t.sh" ] || { echo "check-xen: no lab test $t" >&2; exit 2; }
done
# packages.sh gets the files of the built Debian packages, unpacked with
# dpkg -x as the root they would be installed into (dom0 has no dpkg):
# those of VBD_LAB_DEBS, else build-deb/, made by `make deb` if empty.
if [[ " $tests " == *" packages "* ]]; then
	debs=${VBD_LAB_DEBS:-$top/build-deb}
	if ! ls "$debs"/*.deb >/dev/null 2>&1; then
		[ -z "${VBD_LAB_DEBS:-}" ] || { echo "check-xen: no .deb in $debs" >&2; exit 2; }
		make -C "$top" deb >&2
	fi
	pkgroot=$(mktemp -d /tmp/vbd-pkgroot.XXXXXX)
	for d in "$debs"/*.deb; do
		case $d in *-dbgsym_*) continue ;; esac
		dpkg -x "$d" "$pkgroot"
	done
	# As one tar: the lab resolves the libraries of every ELF file in the
	# share with the host's ldd, and this libvbd.so.0 is not the host's.
	tar -C "$pkgroot" -cf "$stage/pkgroot.tar" .
	rm -rf "$pkgroot"
fi
{
	cat <<'DOM0'
#!/bin/sh
. /xenlab/lib.sh
cd /xenlab/share
echo "== xenstored in dom0: $XENLAB_XENSTORED"
rc=0
DOM0
	# bench.sh's rounds (a number, or its default).
	case ${VBD_BENCH_N:-} in '' | *[!0-9]*) ;; *) echo "export VBD_BENCH_N=$VBD_BENCH_N" ;; esac
	echo 'mkdir -p /xenlab/installed && gzip -dc vbdctl.installed.gz >/xenlab/installed/vbdctl && chmod 0755 /xenlab/installed/vbdctl'
	for t in $tests; do
		v=/xenlab/share/bin/vbdctl
		[ "$t" = bench ] && v=/xenlab/installed/vbdctl
		echo "bash tests/$t.sh $v /xenlab/share/vbd-block || rc=1"
	done
	echo 'exit $rc'
} >"$stage/dom0.sh"
chmod +x "$stage/dom0.sh"

# The whole run's bound: about 5 minutes on an idle 2-CPU machine, three
# times that under load (QEMU emulates every CPU instruction).
rc=0
# Its copy of the console, where the lab writes it by default; removed
# first, so that a run given another --log leaves no old figures here.
rm -f "$work/last-run.log"
"$xenlab" --work "$work" run --timeout "${VBD_LAB_TIMEOUT:-1500}" --dom0-script "$stage/dom0.sh" \
	--share "$stage" --log "$work/last-run.log" "$@" || rc=$?
# A benchmark's figures, as CSV: its "CSV," lines in that copy, whose
# lines start with a host time stamp "[  12.345] ".
if grep -q '^\[[ 0-9.]*\] CSV,' "$work/last-run.log" 2>/dev/null; then
	{
		echo "table,subject,round,metric,value,target,verdict"
		sed -n 's/^\[[ 0-9.]*\] CSV,//p' "$work/last-run.log"
	} >"$build/bench-xen.csv"
	echo "check-xen: figures in $build/bench-xen.csv" >&2
fi
exit "$rc"
