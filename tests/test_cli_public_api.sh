#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# vbdctl is a client of the public API: it is linked to libvbd.so and takes
# no internal (vbd__) symbol from it.  What it needs that the public headers
# do not offer is missing API, not a reason to link the static library.
# Its start loads no library it does not need itself: every attach and
# detach pays for each one (libsystemd brought five, about 60 system calls
# per start, milliseconds each on an emulated dom0), so its direct needs are
# the list below and nothing else (the rest comes through libvbd.so).
# Usage: test_cli_public_api.sh VBDCTL
set -u
vbdctl=$1
fail=0

internal=$(nm -D --undefined-only "$vbdctl" | grep ' vbd__')
if [ -n "$internal" ]; then
	echo "FAIL: vbdctl uses internal symbols:"
	echo "$internal"
	fail=1
else
	echo "ok: no internal symbol"
fi
if nm -D --undefined-only "$vbdctl" | grep -q ' vbd_'; then
	echo "ok: vbdctl takes vbd_* from a shared library"
else
	echo "FAIL: vbdctl takes no vbd_* symbol dynamically (linked statically?)"
	fail=1
fi
if ldd "$vbdctl" | grep -q 'libvbd\.so'; then
	echo "ok: linked to libvbd.so"
else
	echo "FAIL: vbdctl is not linked to libvbd.so"
	fail=1
fi
# vbdctl's own DT_NEEDED entries: libvbd, the two its code calls directly
# (libxenstore's constants and libyajl's JSON output) and libc.
allowed=' libvbd.so.0 libxenstore.so.4 libyajl.so.2 libc.so.6 '
needed=$(readelf -d "$vbdctl" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] || { echo "FAIL: readelf found no NEEDED entry in $vbdctl"; fail=1; }
extra=
for lib in $needed; do
	case $lib in
	# A sanitizer build's runtimes (build-asan), not vbdctl's own.
	libasan.so.* | libubsan.so.* | liblsan.so.* | libtsan.so.* | libclang_rt.*) continue ;;
	esac
	case $allowed in *" $lib "*) ;; *) extra="$extra $lib" ;; esac
done
if [ -n "$extra" ]; then
	echo "FAIL: vbdctl loads libraries beyond its list at every start:$extra"
	fail=1
else
	echo "ok: vbdctl's own libraries:" $needed
fi
exit $fail
