#!/usr/bin/env bash
# The main job on the embedded default, no Xen needed: a simulated Xen host
# (libvbd's xenstore daemon, the simulated hypervisor, the bundled blkback in
# dom0 and a guest running the bundled blkfront, each its own process), then
# a disk's whole life: attach to Connected, the verifier's verdict on the
# handshake, data through the shared ring checked against the file, status,
# resize, detach, and proof that nothing is left.  Then guest2 as a driver
# domain: its own backend and hotplug daemon (vbdctl devd) serve a disk of
# guest1.
# Usage: examples/demo.sh [BUILD_DIR]
set -euo pipefail

build=${1:-build}
vbdctl=$(readlink -f "$build/cli/vbdctl")
work=$(mktemp -d /tmp/vbd-demo.XXXXXX)
export VBD_SIM_DIR=$work/sim
export XENSTORED_PATH=$VBD_SIM_DIR/xenstored.sock
img=$work/disk.img
watch_pid=
devd0_pid=
dd_pids=

cleanup() {
	[ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null || true
	[ -n "$devd0_pid" ] && kill "$devd0_pid" 2>/dev/null || true
	[ -n "$dd_pids" ] && kill $dd_pids 2>/dev/null && wait $dd_pids 2>/dev/null || true
	"$vbdctl" sim stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
step() {
	local t0 t1 status=0
	printf '\n== %s\n' "$1"
	shift
	t0=$(now_ms)
	"$@" || status=$?
	t1=$(now_ms)
	printf -- '-- %d ms%s\n' $((t1 - t0)) "$([ $status = 0 ] || echo ", FAILED ($status)")"
	return $status
}
show() { printf '$ %s\n' "$*"; "$@"; }
fail() { echo "FAILED: $*"; return 1; }

start_host() {
	show "$vbdctl" sim start --guests 2
	host=$(cat "$VBD_SIM_DIR/host.pid")
	kids=$(pgrep -P "$host" | tr '\n' ' ')
	echo "host pid $host; its processes (backend, guest1, guest2): $kids"
	echo "Xen's own clients work against it:"
	show xenstore-ls /local/domain/1
}

make_disk() {
	show truncate -s 64M "$img"
	show mkfs.ext4 -q -F -L demo-disk "$img"
}

follow() {
	# The verifier follows every state change of guest1's devices from now on.
	"$vbdctl" watch guest1 > "$work/watch.log" 2>&1 &
	watch_pid=$!
	echo "vbdctl watch guest1 runs (pid $watch_pid)"
	sleep 0.3
}

attach() {
	show "$vbdctl" attach guest1 "format=raw,vdev=xvdb,access=rw,target=$img"
}

handshake() {
	sleep 0.2
	kill -INT "$watch_pid"
	local rc=0
	wait "$watch_pid" || rc=$?
	watch_pid=
	echo "every state change of both ends, as the verifier saw it:"
	cat "$work/watch.log"
	# 3: no violation, but some transitions went by unread (it says which).
	[ $rc = 0 ] || [ $rc = 3 ] || fail "the verifier reported a violation"
	# One look sees the device as it is now, not how it got there: a
	# Connected device is "incomplete" (exit 3), never a bare PASS.
	rc=0
	show "$vbdctl" verify guest1 xvdb || rc=$?
	[ $rc = 3 ] || fail "verify: exit $rc"
}

data() {
	# 4 MiB of random data written at 1 MiB from inside the guest, through
	# blkfront, the shared ring and the backend's worker, into the file.
	head -c 4M /dev/urandom > "$work/pattern"
	show "$vbdctl" io guest1 xvdb write 1048576 4194304 --file "$work/pattern"
	show "$vbdctl" io guest1 xvdb flush
	echo "the file holds what the guest wrote:"
	show cmp "$work/pattern" <(dd if="$img" bs=1M skip=1 count=4 status=none)
	echo "and the guest reads it back through the ring:"
	show "$vbdctl" io guest1 xvdb read 1048576 4194304 --file "$work/readback"
	show cmp "$work/pattern" "$work/readback"
	echo "the guest sees the filesystem mkfs wrote (ext4's magic, 53 ef, at byte 1080):"
	"$vbdctl" io guest1 xvdb read 0 4096 | od -A d -t x1 -j 1080 -N 2 | head -1
}

status() {
	show "$vbdctl" status guest1
	show "$vbdctl" status guest1 xvdb --json
	show "$vbdctl" io guest1 xvdb info
}

resize() {
	local node before after
	node=$(xenstore-read /local/domain/0/backend/vbd/1/51728/node)
	before=$("$vbdctl" io guest1 xvdb info | awk '/^sectors/ {print $2}')
	show truncate -s 128M "$img"
	show losetup -c "$node"
	# The backend notices the new size (it re-checks every 2 s), rewrites
	# sectors and state; the guest's frontend re-reads sectors.
	for _ in $(seq 100); do
		after=$("$vbdctl" io guest1 xvdb info | awk '/^sectors/ {print $2}')
		[ "$after" != "$before" ] && break
		sleep 0.1
	done
	echo "the guest sees $before -> $after sectors"
	[ "$after" = 262144 ] || fail "resize not seen by the guest"
}

detach() {
	show "$vbdctl" detach guest1 xvdb
	echo "what is left:"
	if xenstore-exists /local/domain/0/backend/vbd/1/51728 ||
	   xenstore-exists /local/domain/1/device/vbd/51728 ||
	   xenstore-exists /libxl/1/device/vbd/51728; then fail "nodes left"; fi
	echo "  no nodes (backend, frontend, /libxl)"
	[ -z "$(losetup -j "$img")" ] || fail "loop device left"
	echo "  no loop device on $img"
	show "$vbdctl" status
}

driver_domain() {
	# guest2's own sockets: what it reaches xenstore and the hypervisor by.
	local xs=$VBD_SIM_DIR/xenstored.sock.d/2 hv=$VBD_SIM_DIR/simhv.sock.d/2 i
	echo "in guest2: the bundled blkback and the hotplug daemon, on guest2's sockets"
	echo "\$ vbdctl backend --domain 2 &    \$ vbdctl devd &"
	XENSTORED_PATH=$xs VBD_SIMHV_PATH=$hv "$vbdctl" backend --domain 2 --ready-fd 3 \
		3>"$work/be.ready" 2>"$work/dd-backend.log" &
	dd_pids=$!
	"$vbdctl" devd --socket "$xs" --ready-fd 3 3>"$work/devd.ready" >"$work/devd.log" 2>&1 &
	dd_pids="$dd_pids $!"
	for i in $(seq 100); do
		[ -s "$work/be.ready" ] && [ -s "$work/devd.ready" ] && break
		sleep 0.05
	done
	show "$vbdctl" attach guest1 "backend=guest2,format=raw,vdev=xvdc,access=rw,target=$img"
	echo "guest2's devd made the loop device and recorded it in guest2's data/libvbd:"
	show xenstore-ls /local/domain/2/data/libvbd/backend
	echo "guest1 reads the disk through guest2 (ext4's magic, 53 ef, at byte 1080):"
	"$vbdctl" io guest1 xvdc read 0 4096 | od -A d -t x1 -j 1080 -N 2 | head -1
	show "$vbdctl" detach guest1 xvdc
	# (devd says so once the dir is gone, which is what detach waits for)
	for i in $(seq 100); do grep -q 'remove ok' "$work/devd.log" && break; sleep 0.05; done
	echo "what guest2's devd did, one line per step:"
	cat "$work/devd.log"
	[ -z "$(losetup -j "$img")" ] || fail "loop device left"
	echo "  no loop device on $img"
	kill $dd_pids
	wait $dd_pids
	dd_pids=
}

guest_dies() {
	# dom0's hotplug daemon keeps a reaper: it follows @releaseDomain.
	echo "in dom0: \$ VBDCTL_LOG=info vbdctl devd &    (its reaper tears down the devices of domains that die)"
	VBDCTL_LOG=info "$vbdctl" devd --ready-fd 3 3>"$work/devd0.ready" >"$work/devd0.log" 2>&1 &
	devd0_pid=$!
	local i fe
	for i in $(seq 100); do [ -s "$work/devd0.ready" ] && break; sleep 0.05; done
	show "$vbdctl" attach guest1 "format=raw,vdev=xvdb,access=rw,target=$img"
	"$vbdctl" io guest1 xvdb read 0 67108864 >/dev/null 2>&1 &
	local io=$!
	sleep 0.1
	for fe in $(pgrep -P "$host"); do
		tr '\0' ' ' < "/proc/$fe/cmdline" | grep -q -- "frontend --domain 1" && break
	done
	echo "guest1 dies in the middle of a 64 MiB read: kill -9 $fe (its frontend),"
	echo "and its domain is released, as the hypervisor and xenstored do when a domain dies:"
	kill -9 "$fe"
	wait "$io" 2>/dev/null || true
	show "$vbdctl" store domain remove 1
	for i in $(seq 100); do
		xenstore-exists /libxl/1/device/vbd/51728 || break
		sleep 0.1
	done
	echo "what dom0's devd did:"
	cat "$work/devd0.log"
	echo "what is left:"
	if xenstore-exists /local/domain/0/backend/vbd/1/51728 ||
	   xenstore-exists /libxl/1/device/vbd/51728; then fail "nodes left"; fi
	echo "  no nodes (backend, /libxl)"
	for i in $(seq 50); do [ -z "$(losetup -j "$img")" ] && break; sleep 0.1; done
	[ -z "$(losetup -j "$img")" ] || fail "loop device left"
	echo "  no loop device on $img"
	kill "$devd0_pid"
	wait "$devd0_pid" || fail "devd did not stop cleanly"
	devd0_pid=
}

stop_host() {
	show "$vbdctl" sim stop
	local p
	for p in $host $kids; do
		# gone, or a zombie left for an init that does not reap (containers)
		if [ -e "/proc/$p" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$p/stat" 2>/dev/null; then
			fail "process $p still runs"
		fi
	done
	echo "no process left ($host $kids)"
	[ ! -e "$XENSTORED_PATH" ] || fail "socket left"
	echo "no socket left"
}

step "start a simulated Xen host: xenstore, hypervisor, backend, 2 guests" start_host
step "create a disk image" make_disk
step "start the verifier, following guest1" follow
step "attach it to guest1 as xvdb: to Connected" attach
step "the handshake, with the verifier's verdict" handshake
step "write and read back through the ring, compared with the file" data
step "status: table and JSON" status
step "resize the disk while connected" resize
step "detach: nothing left" detach
step "guest2 as a driver domain serves a disk of guest1" driver_domain
step "guest1 dies mid-I/O: dom0's devd reaps its disk" guest_dies
step "stop the host: no processes left" stop_host
printf '\ndemo finished: every step passed\n'
