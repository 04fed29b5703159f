#!/usr/bin/env bash
# A driver domain on the simulated host: guest2 serves guest1's disk.  It
# runs vbdctl backend (the bundled blkback) and vbdctl devd (its hotplug
# daemon) on its own sockets, as a driver domain runs blkback and xl devd;
# dom0 only writes the nodes.  Then devd killed and restarted: mid-hotplug
# (a script blocked in its add; a devd stopped between its watch event and
# its step), with a device offline and Closed, and with a device's nodes
# removed behind its back.
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl>}
. "$(dirname "$0")/harness.sh"
sim_setup simdd
DD_XS=$VBD_SIM_DIR/xenstored.sock.d/2      # guest2's own sockets
DD_HV=$VBD_SIM_DIR/simhv.sock.d/2
BE=/local/domain/2/backend/vbd/1/51728
REC=/local/domain/2/data/libvbd/backend/2-1-51728
bepid= devdpid=
sim_cleanup_more() {
	[ -n "$devdpid" ] && kill -9 "$devdpid" 2>/dev/null
	[ -n "$bepid" ] && kill "$bepid" 2>/dev/null && wait "$bepid" 2>/dev/null
}

n_loops() { loops_of "$tmp/d1.img"; }
until_true() {  # until_true COMMAND...: within 20 s
	local i
	for i in $(seq 400); do "$@" && return 0; sleep 0.05; done
	return 1
}
node_is() { [ "$(xenstore-read "$1" 2>/dev/null)" = "$2" ]; }
lines() { grep -c -- "$2" "$1"; }   # lines FILE NEEDLE
lines_are() { [ "$(lines "$1" "$2")" = "$3" ]; }   # lines_are FILE NEEDLE N
start_devd() {  # start_devd LOG: a devd of guest2, up once it watches
	"$VBDCTL" devd --socket "$DD_XS" --ready-fd 3 3>"$tmp/ready" >"$1" 2>&1 &
	devdpid=$!
	until_true test -s "$tmp/ready"
	rm -f "$tmp/ready"
}
stop_devd() { kill -9 "$devdpid"; wait "$devdpid" 2>/dev/null; devdpid=; }
nothing_left() {  # nothing_left WHAT: no node, record or loop device
	check "$1: no backend dir" 1 xenstore-exists "$BE"
	check "$1: no frontend dir" 1 xenstore-exists /local/domain/1/device/vbd/51728
	check "$1: no /libxl copy" 1 xenstore-exists /libxl/1/device/vbd/51728
	check "$1: no record in the driver domain" 1 xenstore-exists "$REC"
	check "$1: no loop device" 0 no_loops "$tmp/d1.img"
}

truncate -s 16M "$tmp/d1.img"
printf 'dd-label' | dd of="$tmp/d1.img" conv=notrunc status=none

check "sim start" 0 "$VBDCTL" sim start --guests 2
check "devd --help" 0 "$VBDCTL" devd --help
has "--help names the options" "--script-timeout S"
check "devd: bad option" 2 "$VBDCTL" devd --reap-timeout 0
check "devd: no arguments" 2 "$VBDCTL" devd extra
XENSTORED_PATH=$DD_XS VBD_SIMHV_PATH=$DD_HV "$VBDCTL" backend --domain 2 \
	--ready-fd 3 3>"$tmp/be-ready" >"$tmp/be.log" 2>&1 &
bepid=$!
check "guest2's backend up" 0 until_true test -s "$tmp/be-ready"
start_devd "$tmp/devd1.log"

# ---- through the driver domain ----
check "attach through the driver domain" 0 "$VBDCTL" attach guest1 \
	"backend=guest2,format=raw,vdev=xvdb,access=rw,target=$tmp/d1.img" --timeout 20
check "backend Connected" 0 node_is "$BE/state" 4
check "frontend Connected" 0 node_is /local/domain/1/device/vbd/51728/state 4
check "guest2's devd did the add" 0 until_true grep -q "^$BE add ok$" "$tmp/devd1.log"
check "one loop device" 0 test "$(n_loops)" = 1
check "physical-device is that loop device" 0 \
	test "$(xenstore-read "$BE/node")" = "$(losetup -j "$tmp/d1.img" -O NAME -n)"
check "recorded in the driver domain's data/libvbd" 0 xenstore-exists "$REC/node"
check "not in dom0's /libvbd" 1 xenstore-exists /libvbd/backend/2-1-51728
check "the guest reads its disk" 0 "$VBDCTL" io guest1 xvdb read 0 4096 --file "$tmp/back"
check "  what the file holds" 0 test "$(head -c 8 "$tmp/back")" = dd-label
check "status shows backend 2" 0 "$VBDCTL" status guest1 xvdb
has "  and Connected" "Connected"
check "detach" 0 "$VBDCTL" detach guest1 xvdb --timeout 20
check "guest2's devd did the remove" 0 until_true grep -q "^$BE remove ok$" "$tmp/devd1.log"
nothing_left "detach"
stop_devd

# ---- devd killed mid-hotplug: a script blocked in its add ----
# The device's script waits for $tmp/gate, then runs the built-in step.
# It outlives the devd that ran it (as it would a killed xl devd), so two
# of them end up racing for the device.
cat >"$tmp/slow-block" <<-SCRIPT
	#!/bin/sh
	exec >>"$tmp/script.log" 2>&1
	echo "\$1 start"
	while [ ! -e "$tmp/gate" ]; do sleep 0.05; done
	"$VBDCTL" hotplug "\$1"; r=\$?
	echo "\$1 end \$r"
	exit \$r
	SCRIPT
chmod +x "$tmp/slow-block"
start_devd "$tmp/devd2.log"
"$VBDCTL" attach guest1 "backend=guest2,format=raw,vdev=xvdb,access=rw,script=$tmp/slow-block,target=$tmp/d1.img" \
	--timeout 60 >"$tmp/attach.out" 2>&1 &
a=$!
check "script: the add is running" 0 until_true grep -q "add start" "$tmp/script.log"
check "script: nothing plugged yet" 1 xenstore-exists "$BE/hotplug-status"
stop_devd
start_devd "$tmp/devd3.log"
check "script: the new devd runs it again" 0 until_true lines_are "$tmp/script.log" "add start" 2
touch "$tmp/gate"
wait $a
check "script: the attach reaches Connected" 0 test $? = 0
check "script: both runs ended" 0 until_true lines_are "$tmp/script.log" "add end 0" 2
check "script: exactly one loop device" 0 test "$(n_loops)" = 1
check "script: the new devd reported it" 0 until_true grep -q "^$BE add ok$" "$tmp/devd3.log"
check "script: the guest reads its disk" 0 "$VBDCTL" io guest1 xvdb read 0 4096 --file "$tmp/back"
check "script: detach" 0 "$VBDCTL" detach guest1 xvdb --timeout 20
check "script: the script's remove ran" 0 grep -q "remove end 0" "$tmp/script.log"
nothing_left "script"
stop_devd

# ---- devd stopped between its watch event and its step, then killed ----
start_devd "$tmp/devd4.log"
kill -STOP "$devdpid"
"$VBDCTL" attach guest1 "backend=guest2,format=raw,vdev=xvdb,access=rw,target=$tmp/d1.img" \
	--timeout 60 >"$tmp/attach.out" 2>&1 &
a=$!
check "stopped: the backend waits in InitWait" 0 until_true node_is "$BE/state" 2
check "stopped: no loop device yet" 0 test "$(n_loops)" = 0
stop_devd
start_devd "$tmp/devd5.log"
wait $a
check "stopped: the attach reaches Connected" 0 test $? = 0
check "stopped: exactly one loop device" 0 test "$(n_loops)" = 1
check "stopped: the new devd did the add" 0 until_true grep -q "^$BE add ok$" "$tmp/devd5.log"

# ---- devd killed, the device then offline and Closed ----
stop_devd
"$VBDCTL" detach guest1 xvdb --timeout 60 >"$tmp/detach.out" 2>&1 &
a=$!
check "closed: the backend goes Closed" 0 until_true node_is "$BE/state" 6
check "closed: offline" 0 node_is "$BE/online" 0
check "closed: the loop device stays meanwhile" 0 test "$(n_loops)" = 1
start_devd "$tmp/devd6.log"
wait $a
check "closed: the detach ends" 0 test $? = 0
# (devd says so after the dir went, which is what the detach waited for)
check "closed: the new devd ran remove once" 0 until_true lines_are "$tmp/devd6.log" "remove ok" 1
check "closed: and nothing else" 0 test "$(grep -c . "$tmp/devd6.log")" = 1
nothing_left "closed"
stop_devd
start_devd "$tmp/devd7.log"
sleep 0.3
check "closed: the devd after it has nothing to do" 0 test ! -s "$tmp/devd7.log"

# ---- devd killed, the device's nodes then removed behind its back ----
check "gone: attach" 0 "$VBDCTL" attach guest1 \
	"backend=guest2,format=raw,vdev=xvdb,access=rw,target=$tmp/d1.img" --timeout 20
check "gone: one loop device" 0 test "$(n_loops)" = 1
stop_devd
check "gone: the guest lets go" 0 "$VBDCTL" detach guest1 xvdb --force --timeout 1
# (the forced detach waited for nobody: the record and the loop device
# are still the driver domain's)
check "gone: its nodes went" 1 xenstore-exists "$BE"
check "gone: the record stays" 0 xenstore-exists "$REC"
check "gone: the loop device stays" 0 test "$(n_loops)" = 1
start_devd "$tmp/devd8.log"
check "gone: the new devd runs remove" 0 until_true grep -q "^$BE remove ok$" "$tmp/devd8.log"
check "gone: once" 0 test "$(grep -c . "$tmp/devd8.log")" = 1
nothing_left "gone"
stop_devd

kill "$bepid"
wait "$bepid"
check "guest2's backend stops cleanly" 0 test $? = 0
bepid=
check "sim stop" 0 "$VBDCTL" sim stop
summary
