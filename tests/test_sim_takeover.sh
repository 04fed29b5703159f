#!/usr/bin/env bash
# A restarted guest's frontend takes over its connected vbds (vbdctl sim
# restart guestN); then the toolstack force-detaches one and attaches the
# same vdev again while the guest does not look (stopped: the removal and
# the new device reach it together, as they do to a busy guest).  The
# guest must see that the device under its frontend is a new one, not its
# old one going on: the new attach reaches Connected, and I/O works on it.
# Then the same without a restart, and with the guest looking between the
# two (the plain path).
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl>}
. "$(dirname "$0")/harness.sh"
sim_setup takeover
IMG=$tmp/d.img
SPEC="format=raw,vdev=xvdb,access=rw,target=$IMG"
truncate -s 8M "$IMG"
head -c 4096 /dev/urandom > "$tmp/pattern"
stopped=""
sim_cleanup_more() { [ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null; }

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
check "attach" 0 "$VBDCTL" attach guest1 "$SPEC" --timeout 10
check "sim restart guest1" 0 "$VBDCTL" sim restart guest1
# Taken over: the restarted frontend connects anew (I/O is served again).
check "I/O through the restarted guest" 0 timeout 20 "$VBDCTL" io guest1 xvdb write 0 4096 --file "$tmp/pattern"
again "taken over"
again "its own"
check "detach" 0 "$VBDCTL" detach guest1 xvdb --timeout 10
check "no loop device left" 0 no_loops "$IMG"
summary
