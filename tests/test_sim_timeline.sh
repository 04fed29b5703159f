#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The handshake timeline on the simulated host: vbdctl watch --timeline
# --svg follows an attach and a detach through the bundled drivers and a
# guest writing a hostile state; the rows show both lanes, the states the
# watch could not read as such, the violation where it happened, nothing a
# terminal would obey; the SVG parses as XML and holds the lanes and the
# marker.  verify --timeline --svg draws what one look read.
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl>}
here=$(dirname "$0")
. "$here/harness.sh"
sim_setup simtl
watch=
sim_cleanup_more() { [ -n "$watch" ] && kill "$watch" 2>/dev/null && wait "$watch"; }

svg_check() {  # svg_check FILE EXPECTATIONS...
	/usr/bin/python3 "$here/check_timeline_svg.py" "$@"
}
no_controls() {  # no byte a terminal obeys but the newline
	! grep -q "$(printf '[\001-\011\013-\037\177]')" "$1"
}

truncate -s 16M "$tmp/d.img"
check "sim start" 0 "$VBDCTL" sim start --guests 1

"$VBDCTL" watch guest1 --timeline --svg "$tmp/watch.svg" > "$tmp/watch.log" 2>&1 &
watch=$!
# Until the watch is seen to follow, make a frontend (xvdp) at Initialising:
# each try a new one, as a toolstack makes it (no writer violation).
xz=/local/domain/1/device/vbd/51952
for i in $(seq 600); do
	xenstore-rm $xz 2>/dev/null
	xenstore-write $xz/state 1
	grep -q " dom1 xvdp .*Initialising" "$tmp/watch.log" && break
	sleep 0.05
done
check "the watch draws rows" 0 wait_log 1 " dom1 xvdp .*Initialising"
# A hostile state: not a number, with what a terminal and XML would obey.
xenstore-write $xz/state "$(printf '4\033]0;owned\007<b>&x')"
check "the violation is drawn" 0 wait_log 1 " dom1 xvdp .* X "
xenstore-rm $xz

check "attach through the bundled drivers" 0 \
	"$VBDCTL" attach guest1 "format=raw,vdev=xvdb,access=rw,target=$tmp/d.img" --timeout 20
check "backend lane reaches Connected" 0 wait_log 1 "dom1 xvdb     Connected "
check "frontend lane reaches Connected" 0 wait_log 1 "dom1 xvdb     |                 Connected "
check "verify --timeline of the connected disk" 3 \
	"$VBDCTL" verify guest1 xvdb --timeline --svg "$tmp/verify.svg"
has "verify draws the states it could not see" "? InitWait"
has "verify draws what it read" "dom1 xvdb     Connected "
has "verify still gives its verdict" "incomplete: 4 transitions unobserved"
check "verify's SVG: two lanes, the unseen states, no violation" 0 \
	svg_check "$tmp/verify.svg" devices=1 unseen=4
# Colour on a terminal that wants it (gaps yellow), none with NO_COLOR or off a terminal.
yellow=$(printf '\033[33m')
tty_has() {  # tty_has ENV...: verify --timeline on a pty (script(1)) shows yellow
	env "$@" script -qec "$VBDCTL verify guest1 xvdb --timeline" /dev/null | grep -qF "$yellow"
}
check "colour on a terminal" 0 tty_has TERM=xterm
check "no colour with NO_COLOR" 1 tty_has TERM=xterm NO_COLOR=1
check "no colour on TERM=dumb" 1 tty_has TERM=dumb
check "verify --timeline off a terminal" 3 sh -c '"$0" verify guest1 xvdb --timeline > "$1"' "$VBDCTL" "$tmp/plain"
check "no escape sequence off a terminal" 0 no_controls "$tmp/plain"
check "detach" 0 "$VBDCTL" detach guest1 xvdb
check "backend lane gone" 0 wait_log 1 "dom1 xvdb     (gone) "
check "frontend lane gone" 0 wait_log 1 "dom1 xvdb     |\{0,1\} *(gone) "
kill -INT "$watch"
wait "$watch"
rc=$?
watch=
check "the watch ends on SIGINT with its verdict (violations)" 0 test "$rc" = 1
out=$(cat "$tmp/watch.log")
has "the header" "     time device        backend           frontend          writer"
has "the violation's rule and node" "!! state-value at /local/domain/1/device/vbd/51952/state:"
has "its value escaped" '\x1b]0;owned\x07<b>&x'
# The sim host's store offers its change trace: the watch draws commit
# times and writers, and the test's dom0 writing a guest's state breaks
# the writer rule; a one-shot verify reads, so its times are a reader's.
has "the writer's own state" "dom1 xvdb     |                 Connected         dom1"
has "dom0 writing a guest's state" "!! writer at /local/domain/1/device/vbd/51952/state:"
has "the summary" "summary: dom 1 xvdb"
check "a reader's time is marked as such" 0 grep -q "~" "$tmp/plain"
check "no control character in the rows" 0 no_controls "$tmp/watch.log"
check "the watch's SVG: both devices' lanes, the violation marker" 0 \
	svg_check "$tmp/watch.svg" devices=2 rules=state-value,writer unseen='*' writes='*' \
	'title-has=\x1b]0;owned\x07<b>&x'
[ "$fail" = 0 ] || cat "$tmp/watch.log"
check "sim stop" 0 "$VBDCTL" sim stop
summary
