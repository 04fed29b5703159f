#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# vbdctl is a client of the public API: it is linked to libvbd.so and takes
# no internal (vbd__) symbol from it.  What it needs that the public headers
# do not offer is missing API, not a reason to link the static library.
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
exit $fail
