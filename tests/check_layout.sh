#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The source layout's rules, read from the `#include "..."` lines of lib/
# and cli/:
#   1. the drivers and their client layer (lib/xenbus, lib/blkback,
#      lib/blkfront) include nothing from lib/toolstack: the toolstack sits
#      on them, never under them;
#   2. the include graph between the directories of lib/ has no cycle;
#   3. no .c or .h in lib/ or cli/ is over MAX_LINES lines, unless it is
#      listed below with the one concept that makes it long.
# A quoted include resolves as the compiler finds it: beside the including
# file, then in lib/, include/ and cli/; one found nowhere (a system or
# generated header) is left out.
#
# For example, `#include "toolstack/ctx.h"` in lib/blkback/xenbus.c
# breaks rule 1, and "util/x.h" including "store/y.h" while lib/store
# includes lib/util breaks rule 2 (tsort reports the loop).
#   check_layout.sh <source dir>
#   check_layout.sh --self-test      (each rule on a small tree of its own)
set -eu

if [ "${1:-}" = --self-test ]; then
	t=$(mktemp -d)
	trap 'rm -rf "$t"' EXIT
	fail=0
	# expect <name> <0|1> <grep pattern>: runs the check on $t/<name>.
	expect() {
		out=$(sh "$0" "$t/$1" 2>&1) && got=0 || got=1
		if [ "$got" != "$2" ] || ! printf '%s\n' "$out" | grep -q "$3"; then
			echo "self-test $1: exit $got, wanted $2 and \"$3\" in:"
			printf '%s\n' "$out"
			fail=1
		fi
	}
	for n in ok up cycle long; do
		mkdir -p "$t/$n/lib/xenbus" "$t/$n/lib/toolstack" "$t/$n/lib/util" "$t/$n/cli" "$t/$n/include"
		echo '#include "util/u.h"' >"$t/$n/lib/xenbus/b.c"
		echo '#include "xenbus/b.h"' >"$t/$n/lib/toolstack/t.c"
		: >"$t/$n/lib/util/u.h"
		: >"$t/$n/lib/xenbus/b.h"
	done
	echo '#include "toolstack/t.h"' >>"$t/up/lib/xenbus/b.c"
	: >"$t/up/lib/toolstack/t.h"
	echo '#include "xenbus/b.h"' >"$t/cycle/lib/util/u.h"
	seq 801 >"$t/long/cli/big.c"
	expect ok 0 "layout: ok"
	expect up 1 "lib/xenbus/b.c includes lib/toolstack/t.h"
	expect cycle 1 "has a cycle"
	expect long 1 "cli/big.c has 801 lines"
	[ "$fail" -eq 0 ] && echo "layout self-test: ok"
	exit "$fail"
fi

cd "${1:-.}"
MAX_LINES=800

# Files allowed over MAX_LINES: "path<TAB>the one concept it holds".
long_ok() {
	cat <<'EOF'
lib/blkfront/xenbus.c	the frontend's xenbus handshake: its steps, the keys they read and the transactions they write, one state struct per device
lib/store/xs_ops.c	the message handlers' table, one handler per xenstore message type
EOF
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0

find lib cli include -name '*.[ch]' | LC_ALL=C sort >"$tmp/known"
find lib cli -name '*.[ch]' | LC_ALL=C sort >"$tmp/files"

# "including-file included-file", resolved; and rule 1's violations.
# (the file names hold no spaces: they are split on purpose)
awk '
	FNR == NR { known[$0] = 1; next }
	/^[ \t]*#[ \t]*include[ \t]*"/ {
		inc = $0
		sub(/^[^"]*"/, "", inc)
		sub(/".*$/, "", inc)
		dir = FILENAME
		sub(/\/[^\/]*$/, "", dir)
		n = split(dir "/" inc " lib/" inc " include/" inc " cli/" inc, cand, " ")
		for (i = 1; i <= n; i++)
			if (cand[i] in known) {
				print FILENAME, cand[i]
				break
			}
	}
' "$tmp/known" $(cat "$tmp/files") >"$tmp/edges"

awk '
	$1 ~ /^lib\/(xenbus|blkback|blkfront)\// && $2 ~ /^lib\/toolstack\// {
		print "layout: " $1 " includes " $2 " (the drivers and xenbus sit under the toolstack)"
	}
' "$tmp/edges" >"$tmp/up"
if [ -s "$tmp/up" ]; then
	cat "$tmp/up"
	rc=1
fi

# Directory edges within lib/, self-edges dropped.
awk '
	function dirof(p) { sub(/\/[^\/]*$/, "", p); return p }
	$1 ~ /^lib\// && $2 ~ /^lib\// {
		a = dirof($1); b = dirof($2)
		if (a != b)
			print a, b
	}
' "$tmp/edges" | LC_ALL=C sort -u >"$tmp/dirs"
if ! tsort "$tmp/dirs" >/dev/null 2>"$tmp/loop"; then
	echo "layout: the include graph between directories of lib/ has a cycle:"
	sed 's/^/  /' "$tmp/loop"
	echo "  edges (includer included):"
	sed 's/^/    /' "$tmp/dirs"
	rc=1
fi

# Files over the limit and not listed; and listed ones that no longer need it.
long_ok | cut -f1 | LC_ALL=C sort >"$tmp/ok"
xargs wc -l <"$tmp/files" | awk -v max="$MAX_LINES" '$2 != "total" && $1 > max { print $2, $1 }' |
	LC_ALL=C sort >"$tmp/long"
while read -r f n; do
	if ! grep -qxF "$f" "$tmp/ok"; then
		echo "layout: $f has $n lines (over $MAX_LINES): split it by concept, or list it in $0 with the reason"
		rc=1
	fi
done <"$tmp/long"
cut -d' ' -f1 "$tmp/long" | LC_ALL=C join -v1 "$tmp/ok" - | while read -r f; do
	echo "layout: note: $f is listed as long but is not over $MAX_LINES lines; the entry can go"
done

[ "$rc" -eq 0 ] && echo "layout: ok ($(wc -l <"$tmp/files") files, $(wc -l <"$tmp/dirs") directory edges)"
exit "$rc"
