#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The install as a user gets it (make check-install, root):
#   1. make deb; dpkg -i of libvbd0, libvbd-dev and vbdctl, and of
#      python3-vbd when the tree has the binding (python/vbd);
#   2. vbdctl from /usr/bin attaches a disk on the simulated host to
#      Connected, and the hotplug script xenstore names is the file the
#      vbdctl package installed;
#   3. a small C program built with `pkg-config --cflags --libs libvbd`,
#      with `pkg-config --static` (libvbd.a linked in: every library it
#      needs comes from libvbd.pc), and with CMake's find_package(libvbd)
#      (libvbd::vbd and libvbd::vbd_static), each run against the sim host;
#      `import vbd` from outside the tree finds the installed package and
#      libvbd.so.0, and reads the attached disk's status;
#   4. dpkg -r keeps only the conffile (/etc/xen/scripts/vbd-block), and
#      dpkg --purge leaves no file of ours: the file lists of /etc, /usr,
#      /lib, /var and /opt before and after hold the same paths of ours;
#   5. make install DESTDIR=... puts each file where a host looks for it,
#      and make uninstall leaves no file;
#   6. a build configured with another VBD_SCRIPT_DIR installs vbd-block
#      there, its udev rule runs it from there, and its vbdctl names it so
#      in xenstore: one path for all three.
# The machine is shared: packages of ours installed before are a failure
# (the test would remove them), and whatever it installs is removed on
# every exit.
#   check_install.sh <build dir> <deb output dir>
set -u
export LC_ALL=C
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:?usage: $0 <build dir> <deb output dir>}
DEB_OUT=${2:?usage: $0 <build dir> <deb output dir>}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
case $DEB_OUT in /*) ;; *) DEB_OUT=$top/$DEB_OUT ;; esac
PKGS="libvbd0 libvbd-dev vbdctl"
[ -f "$top/python/vbd/__init__.py" ] && PKGS="$PKGS python3-vbd"
. "$top/tests/harness.sh"

if [ "$(id -u)" != 0 ]; then
	echo "check_install: needs root (dpkg -i, loop devices)" >&2
	exit 1
fi
installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^[ih]i'; }
present() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -qv '^[un]n'; }
for p in $PKGS python3-vbd; do
	if present "$p"; then
		echo "check_install: $p is already on this machine; not touching it" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbd-install.XXXXXX") || exit 1
export VBD_SIM_DIR=$tmp/sim
export XENSTORED_PATH=$VBD_SIM_DIR/xenstored.sock
cleanup() {
	[ -x /usr/bin/vbdctl ] && /usr/bin/vbdctl sim stop >/dev/null 2>&1
	[ -x "$tmp/alt/cli/vbdctl" ] && "$tmp/alt/cli/vbdctl" sim stop >/dev/null 2>&1
	free_loops "$tmp"/*.img
	for p in $PKGS; do present "$p" && dpkg --purge "$p" >/dev/null 2>&1; done
	# Pages of ours man-db formatted during the test (see snapshot).
	[ -f "$tmp/before" ] && find /var/cache/man -cnewer "$tmp/before" \
		\( -name 'vbd*' -o -name 'libvbd*' \) -type f -delete 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# Every path under the roots a package can write to.  Not man-db's cache of
# formatted pages, which reading vbdctl(8) fills (systemd-analyze verify
# does, for Documentation=) and man-db's own daily job empties.
snapshot() { find /etc /usr /lib /var /opt -xdev -path /var/cache/man -prune -o -print 2>/dev/null | sort; }
snapshot >"$tmp/before"

# 1. The packages.
check "make deb" 0 make -C "$top" deb BUILD="$BUILD" DEB_OUT="$DEB_OUT"
[ "$fail" = 0 ] || { printf '%s\n' "$out" | tail -30; summary; exit; }
debs=()
for p in $PKGS; do debs+=("$DEB_OUT/${p}_"*.deb); done
check "dpkg -i ${PKGS// /, }" 0 dpkg -i "${debs[@]}"
[ "$fail" = 0 ] || { summary; exit; }
for p in $PKGS; do dpkg -L "$p"; done | sort -u >"$tmp/ours"

check "vbdctl is found on PATH in /usr/bin" 0 test "$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v vbdctl)" = /usr/bin/vbdctl
lib=$(ldd /usr/bin/vbdctl | awk '$1 == "libvbd.so.0" { print $3 }')
check "vbdctl runs on the installed libvbd.so.0" 0 \
	test "$(readlink -f "$lib")" = "$(readlink -f /usr/lib/*/libvbd.so.0)"
check "libvbd.so.0 is the SONAME" 0 sh -c \
	"readelf -d /usr/lib/*/libvbd.so.0.* | grep -q 'SONAME.*\\[libvbd.so.0\\]'"
check "the udev rule is in udev's directory" 0 test -f /lib/udev/rules.d/90-vbd.rules
check "the udev rule runs the installed script" 0 grep -q 'RUN+="/etc/xen/scripts/vbd-block ' /lib/udev/rules.d/90-vbd.rules
# The other parts' files, when the tree has them (systemd/, completion/).
units=$(grep -E '^/lib/systemd/system/vbd-.*\.(service|socket)$' "$tmp/ours" | sed 's/@\.service$/@1.service/')
if [ -n "$units" ]; then
	check "systemd-analyze verify of the installed units" 0 systemd-analyze verify $(
		for u in $units; do case $u in *@1.service) basename "$u" ;; *) echo "$u" ;; esac; done)
fi
if grep -qx /usr/share/bash-completion/completions/vbdctl "$tmp/ours"; then
	check "the completion defines vbdctl's" 0 bash -c \
		'. /usr/share/bash-completion/completions/vbdctl && complete -p vbdctl'
fi
check "the man pages are installed" 0 test -f /usr/share/man/man8/vbdctl.8.gz -a -f /usr/share/man/man3/libvbd.3.gz

# 2. The sim host, from the installed vbdctl.
truncate -s 16M "$tmp/d1.img"
check "sim start" 0 /usr/bin/vbdctl sim start --guests 1
check "attach to Connected" 0 /usr/bin/vbdctl attach guest1 \
	"format=raw,vdev=xvdb,access=rw,target=$tmp/d1.img" --timeout 20
check "backend Connected" 0 test "$(xenstore-read /local/domain/0/backend/vbd/1/51728/state)" = 4
script=$(xenstore-read /local/domain/0/backend/vbd/1/51728/script 2>&1)
check "xenstore names the script /etc/xen/scripts/vbd-block" 0 test "$script" = /etc/xen/scripts/vbd-block
check "the script xenstore names is the vbdctl package's" 0 sh -c "dpkg -S '$script' | grep -q '^vbdctl: '"
check "the script xenstore names runs" 2 "$script"
has "the script's usage" "usage:"
check "the libxl record names the same script" 0 \
	test "$(xenstore-read /libxl/1/device/vbd/51728/script)" = "$script"

# 3. Programs built against the installed package, run against the sim.
mkdir -p "$tmp/prog"
cat >"$tmp/prog/lookup.c" <<'EOF'
#include <stdio.h>
#include <vbd/ctx.h>

int main(void)
{
	vbd_errbuf err = { { 0 } };
	vbd_domid domid;
	vbd_ctx *c;
	int r;

	if ((r = vbd_ctx_new(&c, NULL, &err)) < 0) {
		fprintf(stderr, "vbd_ctx_new: %s: %s\n", vbd_strerror(r), err.msg);
		return 1;
	}
	r = vbd_ctx_domain_lookup(c, "guest1", &domid);
	if (r < 0)
		fprintf(stderr, "lookup: %s\n", vbd_ctx_last_error(c));
	else
		printf("guest1 is %u\n", (unsigned)domid);
	vbd_ctx_free(c);
	return r < 0;
}
EOF
cd "$tmp/prog" || exit 1
check "cc with pkg-config --cflags --libs libvbd" 0 sh -c \
	'cc -Wall -Werror -o dyn lookup.c $(pkg-config --cflags --libs libvbd)'
check "the program runs" 0 ./dyn
has "the program finds the guest" "guest1 is 1"
check "linked to libvbd.so.0" 0 sh -c "readelf -d dyn | grep -q 'NEEDED.*libvbd.so.0'"
# libvbd linked statically: libvbd.a, and every library it needs from
# libvbd.pc (Debian has no static libyajl, so those stay shared).
# --as-needed: pkg-config's own -lvbd then adds no NEEDED libvbd.so.0.
check "cc with pkg-config --static --libs libvbd" 0 sh -c \
	'cc -Wall -Werror -o static lookup.c $(pkg-config --cflags libvbd) -Wl,--as-needed \
	    -Wl,-Bstatic -lvbd -Wl,-Bdynamic $(pkg-config --static --libs libvbd)'
check "the static program runs" 0 ./static
has "the static program finds the guest" "guest1 is 1"
check "the static program has libvbd in it" 1 sh -c "readelf -d static | grep -q 'NEEDED.*libvbd'"
cat >"$tmp/prog/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(lookup C)
find_package(libvbd 0.1 REQUIRED)
add_executable(lookup lookup.c)
target_link_libraries(lookup PRIVATE libvbd::vbd)
add_executable(lookup_static lookup.c)
target_link_libraries(lookup_static PRIVATE libvbd::vbd_static)
EOF
check "cmake find_package(libvbd)" 0 cmake -S "$tmp/prog" -B "$tmp/prog/b"
check "cmake build against libvbd::vbd and libvbd::vbd_static" 0 cmake --build "$tmp/prog/b"
check "the CMake program runs" 0 "$tmp/prog/b/lookup"
has "the CMake program finds the guest" "guest1 is 1"
check "libvbd::vbd is the shared library" 0 sh -c "readelf -d '$tmp/prog/b/lookup' | grep -q 'NEEDED.*libvbd.so.0'"
check "the libvbd::vbd_static program runs" 0 "$tmp/prog/b/lookup_static"
check "libvbd::vbd_static is libvbd.a" 1 sh -c "readelf -d '$tmp/prog/b/lookup_static' | grep -q 'NEEDED.*libvbd'"
cd "$top" || exit 1

if [[ " $PKGS " == *" python3-vbd "* ]]; then
	check "import vbd outside the tree" 0 env -u PYTHONPATH -u VBD_LIBRARY -C / /usr/bin/python3 -c '
import vbd
print(vbd.__file__)
with vbd.Context() as ctx:
	print(ctx.status("guest1", "xvdb"))'
	has "the installed package" "/usr/lib/python3/dist-packages/vbd/__init__.py"
	has "the disk's status" "xvdb"
fi

check "detach" 0 /usr/bin/vbdctl detach guest1 xvdb
check "sim stop" 0 /usr/bin/vbdctl sim stop
check "no loop device left" 0 no_loops "$tmp/d1.img"

# 4. Removal, then purge.
check "dpkg -r" 0 dpkg -r $PKGS
check "dpkg -r keeps the conffile" 0 test -f /etc/xen/scripts/vbd-block
check "dpkg -r removes vbdctl" 1 test -e /usr/bin/vbdctl
check "dpkg --purge" 0 dpkg --purge $PKGS
snapshot >"$tmp/after"
# Paths that are new after the purge and are ours: listed by a package of
# ours, or named for us (a file made at run time).  Other paths may come
# and go on a shared machine.
comm -13 "$tmp/before" "$tmp/after" >"$tmp/new"
left=$( { grep -Fxf "$tmp/ours" "$tmp/new"; grep -i 'vbd' "$tmp/new"; } | sort -u)
check "dpkg --purge leaves no file of ours" 0 test -z "$left"
[ -z "$left" ] || printf 'left behind:\n%s\n' "$left"
gone=$(comm -23 "$tmp/before" "$tmp/after" | grep -Fxf "$tmp/ours")
check "the packages removed no file that was there before" 0 test -z "$gone"
[ -z "$gone" ] || printf 'removed:\n%s\n' "$gone"

# 5. make install / make uninstall with DESTDIR.
root=$tmp/root
check "make install DESTDIR" 0 make -C "$top" install BUILD="$BUILD" DESTDIR="$root"
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD/CMakeCache.txt")
rules=$(sed -n 's/^VBD_UDEV_RULES_DIR:PATH=//p' "$BUILD/CMakeCache.txt")
udevdir=$(pkg-config --variable=udevdir udev 2>/dev/null || echo /lib/udev)
check "the rules directory is udev's own" 0 test "$rules" = "${udevdir:-/lib/udev}/rules.d"
check "vbd-block in /etc/xen/scripts whatever the prefix" 0 test -x "$root/etc/xen/scripts/vbd-block"
check "the udev rule in udev's directory" 0 test -f "$root$rules/90-vbd.rules"
check "vbdctl under the prefix" 0 test -x "$root$prefix/bin/vbdctl"
check "libvbd.so.0 -> libvbd.so.0.1.0" 0 test "$(readlink "$root$prefix/lib/libvbd.so.0")" = libvbd.so.0.1.0
check "libvbd.so -> libvbd.so.0" 0 test "$(readlink "$root$prefix/lib/libvbd.so")" = libvbd.so.0
check "libvbd.a" 0 test -f "$root$prefix/lib/libvbd.a"
check "libvbd.pc" 0 grep -q '^Requires.private: xenstore' "$root$prefix/lib/pkgconfig/libvbd.pc"
check "the CMake package" 0 test -f "$root$prefix/lib/cmake/libvbd/libvbdConfig.cmake"
check "headers in include/vbd" 0 test -f "$root$prefix/include/vbd/ctx.h"
check "man pages" 0 test -f "$root$prefix/share/man/man8/vbdctl.8"
check "make uninstall DESTDIR" 0 make -C "$top" uninstall BUILD="$BUILD" DESTDIR="$root"
check "make uninstall leaves no file" 0 test -z "$(find "$root" ! -type d)"
check "nor a directory of ours" 0 test -z "$(find "$root" -name '*vbd*')"

# 6. Another script directory, set at configure time.
alt=$tmp/alt altdir=/opt/vbd-check/scripts
check "configure with VBD_SCRIPT_DIR=$altdir" 0 cmake -S "$top" -B "$alt" -DVBD_TESTS=OFF \
	-DVBD_SCRIPT_DIR=$altdir -DCMAKE_INSTALL_PREFIX=/usr
check "build it" 0 cmake --build "$alt" -j 2
check "install it" 0 env DESTDIR="$tmp/altroot" cmake --install "$alt"
check "vbd-block in VBD_SCRIPT_DIR" 0 test -x "$tmp/altroot$altdir/vbd-block"
check "the udev rule runs it from there" 0 grep -q "RUN+=\"$altdir/vbd-block " "$alt/hotplug/90-vbd.rules"
check "sim start" 0 "$alt/cli/vbdctl" sim start --guests 1
check "attach" 0 "$alt/cli/vbdctl" attach guest1 "format=raw,vdev=xvdb,access=rw,target=$tmp/d1.img" --timeout 20
check "xenstore names the script in VBD_SCRIPT_DIR" 0 \
	test "$(xenstore-read /local/domain/0/backend/vbd/1/51728/script)" = "$altdir/vbd-block"
check "detach" 0 "$alt/cli/vbdctl" detach guest1 xvdb
check "sim stop" 0 "$alt/cli/vbdctl" sim stop

summary
