#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vbdctl's handshake timeline on fixed sequences of the verifier's reports
# (tests/test_timeline_render.c): the terminal rows equal their golden copy
# (tests/golden/timeline-*.txt) and hold no control character; each SVG
# parses as XML (/usr/bin/python3's xml.etree) and holds the lanes and
# markers of its sequence (tests/check_timeline_svg.py).
# With VBDCTL, the same of vbdctl verify --log on a fixed xenstored trace.
# Usage: test_timeline.sh RENDER SOURCE-DIR-OF-TESTS [VBDCTL]
#        test_timeline.sh --update RENDER DIR [VBDCTL]: rewrites the golden copies.
set -u
export LC_ALL=C
update=0
[ "${1:-}" = --update ] && { update=1; shift; }
render=${1:?usage}
dir=${2:?usage}
vbdctl=${3:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbd-timeline.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

svg_want() {  # the SVG's expected lanes and markers, one argument a line
	case $1 in
	clean) echo devices=1 ;;
	violation) printf '%s\n' devices=1 rules=writer,frontend-transition ;;
	gaps) printf '%s\n' devices=3 unseen=7 writes=2 lost=1 gap=2 ;;
	checker) printf '%s\n' devices=1 rules=backend-early,writer,frontend-transition writes=2 gap=2 ;;
	hostile) printf '%s\n' devices=1 rules=physical-device,protocol \
		'title-has=\x1b]0;owned\x07\x1b[2J\x0aPASS <svg onload="x">&amp;' \
		'title-has=\xe2\x80\xae\xef\xbf\xbe\xc3(\x7f\xc2\x85]]>' \
		'title-has="8:0\x1b[31m" is not hex' ;;
	esac
}

for c in clean violation gaps checker hostile; do
	if ! "$render" "$c" "$tmp/$c.txt" "$tmp/$c.svg"; then
		bad "$c: the renderer failed"
		continue
	fi
	golden=$dir/golden/timeline-$c.txt
	if [ "$update" = 1 ]; then
		cp "$tmp/$c.txt" "$golden"
	fi
	if diff -u "$golden" "$tmp/$c.txt"; then ok; else bad "$c: terminal rows differ from $golden"; fi
	# No byte a terminal would obey: every one of them came out as \xNN.
	if grep -q "$(printf '[\001-\011\013-\037\177]')" "$tmp/$c.txt"; then
		bad "$c: a control character reached the terminal rows"
	else
		ok
	fi
	# 80 columns, counted in characters.
	long=$(LC_ALL=C.UTF-8 /usr/bin/python3 -c '
import sys
for n, l in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    if len(l.rstrip("\n")) > 80: print("line %d: %d columns" % (n, len(l.rstrip("\n"))))
' "$tmp/$c.txt")
	if [ -z "$long" ]; then ok; else bad "$c: wider than 80 columns: $long"; fi
	mapfile -t want < <(svg_want "$c")
	if out=$(/usr/bin/python3 "$dir/check_timeline_svg.py" "$tmp/$c.svg" "${want[@]}"); then
		ok
	else
		bad "$c: the SVG: $out"
	fi
done
# verify --log --timeline --svg: a C xenstored trace (tests/golden/timeline-log.trace:
# an attach, the frontend's Initialising written and overwritten at once, the
# guest writing the backend's state) replayed through the library's checker.
if [ -n "$vbdctl" ]; then
	"$vbdctl" verify --log "$dir/golden/timeline-log.trace" --timeline --svg "$tmp/log.svg" \
		> "$tmp/log.txt" 2>&1
	rc=$?
	if [ "$rc" = 1 ]; then ok; else bad "verify --log: exit $rc, want 1 (violations)"; fi
	[ "$update" = 1 ] && cp "$tmp/log.txt" "$dir/golden/timeline-log.txt"
	if diff -u "$dir/golden/timeline-log.txt" "$tmp/log.txt"; then ok; else
		bad "verify --log --timeline: rows differ from golden/timeline-log.txt"; fi
	if out=$(/usr/bin/python3 "$dir/check_timeline_svg.py" "$tmp/log.svg" devices=1 \
		rules=backend-early,writer,frontend-transition); then ok; else bad "verify --log --svg: $out"; fi
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
