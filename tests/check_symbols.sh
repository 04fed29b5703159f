#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The shared library exports exactly the names of lib/libvbd.sym, and every
# function a public header declares VBD_PUBLIC is among them (a name left
# out of the map would be hidden, and callers would fail to link).
#   check_symbols.sh <libvbd.so> <libvbd.sym> <include/vbd>
set -eu
so=$1 map=$2 inc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Names in the map: "<tab>name;" lines between "global:" and "local:".
sed -n '/global:/,/local:/p' "$map" | sed -n 's/^[[:space:]]*\([a-z_0-9]*\);$/\1/p' |
	sort >"$tmp/map"
# Defined dynamic symbols, without their version suffix and the version
# nodes themselves.
nm -D --defined-only "$so" | awk '{ print $3 }' | sed 's/@.*//' | grep -v '^LIBVBD_' |
	sort >"$tmp/so"
# Functions declared VBD_PUBLIC: the name before the first '(' of the line.
grep -h 'VBD_PUBLIC' "$inc"/*.h | grep -v '#define' |
	sed -n 's/^VBD_PUBLIC [^(]*[ *]\([a-z_0-9]*\)(.*/\1/p' | sort >"$tmp/hdr"

rc=0
if ! cmp -s "$tmp/map" "$tmp/so"; then
	echo "exported names differ from the map (< map only, > library only):"
	diff "$tmp/map" "$tmp/so" | grep '^[<>]' || true
	rc=1
fi
if ! cmp -s "$tmp/hdr" "$tmp/map"; then
	echo "VBD_PUBLIC declarations differ from the map (< headers only, > map only):"
	diff "$tmp/hdr" "$tmp/map" | grep '^[<>]' || true
	rc=1
fi
[ $rc = 0 ] && echo "ok: $(wc -l <"$tmp/map") names"
exit $rc
