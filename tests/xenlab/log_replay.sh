#!/bin/bash
# Lab test, in xenlab's dom0: vbdctl verify --log replays Xen 4.17's own
# xenstored log of a vbdctl attach and detach and of an xl block-attach and
# block-detach, all driven by the real drivers, and says pass with the
# history whole; then a state a toolstack writes for a driver (dom0's
# xenstore-write of a frontend's state) is reported by the writer rule.
# C xenstored: its trace (xenstore-control logfile + log on).  oxenstored:
# its access log.
# Usage: log_replay.sh VBDCTL VBD_BLOCK_SCRIPT
. "$(dirname "$0")/common.sh"
vbdctl=$1
set -u

cp "$2" /etc/xen/scripts/vbd-block && chmod 0755 /etc/xen/scripts/vbd-block || { echo "FAIL: installing vbd-block"; exit 1; }
mkdir -p /data && mount -t tmpfs -o size=128m tmpfs /data
for i in 1 2 3; do make_disk /data/rdisk$i.img 8 VBDLOG-DISK$i; done

if [ "$XENLAB_XENSTORED" = oxenstored ]; then
	fmt=oxenstored
	# The access log is on by default; its lines are cut at 180 characters
	# unless the config says more (a cut value is "could not tell").
	log=$(sed -n 's/^access-log-file *= *//p' /etc/xen/oxenstored.conf 2>/dev/null)
	log=${log:-/var/log/xen/xenstored-access.log}
	: > "$log" 2>/dev/null || true
else
	fmt=cxenstored
	log=/data/xs.trace
	check "C xenstored: trace file" xenstore-control logfile $log
	check "C xenstored: trace on" xenstore-control log on
fi
echo "== $fmt log at $log"

# The guest comes after the log starts: its connection's domain is named
# (INTRODUCE).  vbdctl watch follows too, for comparison.
guest_cfg rlab > /data/g.cfg
xl create /data/g.cfg || { echo "FAIL: xl create"; exit 1; }
d=$(xl domid rlab)
domu_wait_console rlab "init" 60 >/dev/null 2>&1 || true
BE=/local/domain/0/backend/vbd/$d
$vbdctl watch rlab > /data/watch.log 2>&1 &
watch_pid=$!
sleep 0.5

echo "== vbdctl attach, the guest reads it, vbdctl detach"
check "vbdctl attach xvdb" $vbdctl attach rlab format=raw,vdev=xvdb,access=rw,target=/data/rdisk1.img --timeout 90
check "the guest sees xvdb (and read its first sector)" domu_wait_console rlab "+ xvdb" 60
check "vbdctl detach xvdb" $vbdctl detach rlab xvdb --timeout 30
check "xvdb gone" xs_wait_gone $BE/51728 10
check "the guest sees xvdb go" domu_wait_console rlab "- xvdb" 60

echo "== xl block-attach and block-detach"
check "xl block-attach xvdc" xl block-attach rlab format=raw,vdev=xvdc,access=rw,target=/data/rdisk2.img
check "xvdc Connected" xs_wait $BE/51744/state 4 60
check "the guest sees xvdc" domu_wait_console rlab "+ xvdc" 60
check "xl block-detach xvdc" xl block-detach rlab xvdc
check "xvdc gone" xs_wait_gone $BE/51744 10
sleep 1
kill -INT $watch_pid; wait $watch_pid
echo "--- vbdctl watch (follower) exit $?:"; tail -4 /data/watch.log

cp "$log" /data/clean.log
echo "--- the log: $(wc -l < /data/clean.log) lines; its first lines:"; head -5 /data/clean.log
$vbdctl verify --log /data/clean.log --log-format $fmt > /data/replay.out 2>&1
rc=$?
echo "--- vbdctl verify --log (exit $rc):"; cat /data/replay.out
n=$(sed -n 's/^log: the first line not understood is line \([0-9]*\)$/\1/p' /data/replay.out)
[ -n "$n" ] && { echo "--- lines $n.. of the log:"; sed -n "$n,$((n + 4))p" /data/clean.log; }
check "replay of the real drivers' handshakes: pass, history whole (exit 0)" test $rc = 0
check "the replay saw both devices" grep -q "summary: dom $d xvdc" /data/replay.out
check "the replay saw the frontend connect, written by the guest" \
	grep -q "frontend Initialised -> Connected by dom $d" /data/replay.out
check "the replay recognises the format" sh -c "$vbdctl verify --log /data/clean.log > /dev/null; test \$? = 0"

echo "== a toolstack writes a driver's state: the writer rule"
check "vbdctl attach xvdd" $vbdctl attach rlab format=raw,vdev=xvdd,access=rw,target=/data/rdisk3.img --timeout 90
# The value it has already (Connected): harmless to the drivers, and still
# not the toolstack's to write.
check "dom0 writes the frontend's state" xenstore-write /local/domain/$d/device/vbd/51760/state 4
check "vbdctl detach xvdd" $vbdctl detach rlab xvdd --timeout 30
sleep 1
cp "$log" /data/writer.log
$vbdctl verify --log /data/writer.log > /data/replay2.out 2>&1
rc=$?
echo "--- vbdctl verify --log (exit $rc):"; grep -E "VIOLATION|summary|log:|PASS|FAIL|INCOMPLETE" /data/replay2.out
check "the replay fails (exit 1)" test $rc = 1
check "the replay reports writer on the frontend's state, by dom0" \
	grep -q "VIOLATION writer: /local/domain/$d/device/vbd/51760/state: .*(by dom 0)" /data/replay2.out

[ "$fmt" = cxenstored ] && xenstore-control log off
xl destroy rlab
summary
