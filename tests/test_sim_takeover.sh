#!/usr/bin/env bash
# A restarted guest's frontend takes over its connected vbds (vbdctl sim
# restart guestN); then the toolstack force-detaches one and attaches the
# same vdev again while the guest does not look (stopped: the removal and
# the new device reach it together, as they do to a busy guest).  The
# guest must see that the device under its frontend is a new one, not its
# old one going on: the new attach reaches Connected, and I/O works on it.
# Then the same without a restart, and with the guest looking between the
# two (the plain path).
# All the while vbdctl watch follows the store's change trace (every write,
# with its writer): the restarted frontend resets the device (Closing,
# Closed, Initialising, as Linux's xenbus does for a kexec'd guest) and no
# end steps backwards outside Closed.  A backend that does not follow the
# reset makes the takeover fail, naming the state it stayed in.
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl>}
. "$(dirname "$0")/harness.sh"
sim_setup takeover
IMG=$tmp/d.img
SPEC="format=raw,vdev=xvdb,access=rw,target=$IMG"
truncate -s 8M "$IMG"
head -c 4096 /dev/urandom > "$tmp/pattern"
stopped="" watch=""
sim_cleanup_more() {
	[ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
	[ -n "$watch" ] && kill "$watch" 2>/dev/null && wait "$watch"
}
wait_in() {  # wait_in LOG PATTERN [TRIES of 50 ms: 600]
	local i
	for i in $(seq "${3:-600}"); do grep -q -- "$2" "$1" && return 0; sleep 0.05; done
	return 1
}
# watch_ready: until the watch is seen to follow.  Each try attaches an
# empty CD-ROM drive (hdc: a handshake of its own, no target) and, if the
# watch showed none of it, detaches it for the next try.
watch_ready() {
	local i
	for i in $(seq 50); do
		"$VBDCTL" attach guest1 vdev=hdc,devtype=cdrom --wait none > /dev/null || return 1
		wait_in "$tmp/watch.log" " hdc .*-> InitWait" 40 && return 0
		"$VBDCTL" detach guest1 hdc > /dev/null || return 1
	done
	return 1
}

guest_pid() { "$VBDCTL" sim status 2>/dev/null | awk '$1 == "guest1" { print $2 }'; }

# again WHAT: force-detach xvdb and attach it again with guest1 stopped in
# between, then the new device must connect and carry I/O.
again() {
	local g att
	g=$(guest_pid)
	kill -STOP "$g"
	stopped=$g
	check "$1: detach --force (the guest stopped)" 0 \
		"$VBDCTL" detach --force guest1 xvdb --timeout 1
	"$VBDCTL" attach guest1 "$SPEC" --timeout 10 > "$tmp/att.log" 2>&1 &
	att=$!
	# The attach has written its nodes (the backend is InitWait) before
	# the guest looks again.
	for _ in $(seq 100); do
		[ "$(xenstore-read /local/domain/0/backend/vbd/1/51728/state 2>/dev/null)" = 2 ] && break
		sleep 0.05
	done
	kill -CONT "$g"
	stopped=""
	wait "$att"
	check "$1: attach again at once: Connected (exit $?)" 0 grep -q "both ends Connected" "$tmp/att.log"
	[ "$fail" = 0 ] || cat "$tmp/att.log"
	check "$1: write on the new device" 0 \
		timeout 20 "$VBDCTL" io guest1 xvdb write 0 4096 --file "$tmp/pattern"
	check "$1: read it back" 0 timeout 20 "$VBDCTL" io guest1 xvdb read 0 4096 --file "$tmp/back"
	check "$1: the same data" 0 cmp "$tmp/pattern" "$tmp/back"
}

check "sim start" 0 "$VBDCTL" sim start
"$VBDCTL" watch guest1 > "$tmp/watch.log" 2>&1 &
watch=$!
check "watch follows" 0 watch_ready
check "attach" 0 "$VBDCTL" attach guest1 "$SPEC" --timeout 10
check "watch: xvdb Connected" 0 wait_in "$tmp/watch.log" " xvdb .*frontend Initialised -> Connected"
check "sim restart guest1" 0 "$VBDCTL" sim restart guest1
# Taken over: the restarted frontend connects anew (I/O is served again).
check "I/O through the restarted guest" 0 timeout 20 "$VBDCTL" io guest1 xvdb write 0 4096 --file "$tmp/pattern"
# The reset, seen whole by the watch.
check "watch: frontend Connected -> Closing" 0 \
	wait_in "$tmp/watch.log" " xvdb .*frontend Connected -> Closing  (written by dom 1)"
check "watch: backend Closed -> InitWait" 0 wait_in "$tmp/watch.log" " xvdb .*backend  Closed -> InitWait"
check "watch: frontend Closed -> Initialising" 0 \
	wait_in "$tmp/watch.log" " xvdb .*frontend Closed -> Initialising  (written by dom 1)"
check "watch: connected again" 0 wait_in "$tmp/watch.log" " xvdb .*backend  InitWait -> Connected"
kill -INT "$watch"
wait "$watch"
rc=$?
watch=""
check "watch: it ended on SIGINT (exit $rc: 0, or 3 if hdc was seen in part)" 0 \
	test "$rc" = 0 -o "$rc" = 3
check "watch: no violation over the restart" 1 grep -q VIOLATION "$tmp/watch.log"
check "watch: xvdb seen whole" 0 \
	grep -q "summary: dom 1 xvdb   no violation, every transition observed" "$tmp/watch.log"
[ "$fail" = 0 ] || cat "$tmp/watch.log"
check "detach hdc" 0 "$VBDCTL" detach guest1 hdc
again "taken over"
again "its own"
# A backend that does not follow the reset (stopped): the takeover fails
# after its bounded wait, naming the state the backend stayed in.
b=$("$VBDCTL" sim status 2>/dev/null | awk '$1 == "backend" { print $2 }')
kill -STOP "$b"
stopped=$b
check "sim restart guest1 (the backend stopped)" 0 "$VBDCTL" sim restart guest1
check "I/O fails: the backend did not follow" 1 \
	timeout 30 "$VBDCTL" io guest1 xvdb write 0 4096 --file "$tmp/pattern"
has "the error names the backend's state" "the backend stayed Connected for 10 s, not Closing"
kill -CONT "$b"
stopped=""
check "detach --force after the failed takeover" 0 "$VBDCTL" detach --force guest1 xvdb --timeout 10
check "attach again" 0 "$VBDCTL" attach guest1 "$SPEC" --timeout 10
check "detach" 0 "$VBDCTL" detach guest1 xvdb --timeout 10
check "no loop device left" 0 no_loops "$IMG"
summary
