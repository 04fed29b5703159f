#!/usr/bin/env bash
# Prints a transcript of xenstore-utils commands (their stdout, stderr and
# exit codes) run against whatever daemon XENSTORED_PATH (or the default
# socket) names.  Run against the real xenstored and against libvbd's daemon,
# the two transcripts must be identical: see store_diff.sh.
# Everything happens under /vbdtest and /local/domain/0/vbdrel, which it
# removes first and last.
set -u
export LC_ALL=C

n=0
run() {
	local out rc
	n=$((n + 1))
	out=$("$@" 2>&1)
	rc=$?
	local cmd="$*" o=$out
	[ ${#cmd} -gt 100 ] && cmd="${cmd:0:100}... (${#cmd} chars)"
	[ ${#o} -gt 400 ] && o="${o:0:400}... (${#o} chars)"
	printf '[%d] $ %s\n%s\n(exit %d)\n' "$n" "$cmd" "$o" "$rc"
}

xenstore-rm /vbdtest 2>/dev/null
xenstore-rm /local/domain/0/vbdrel 2>/dev/null

# values, implicit parents, reads
run xenstore-write /vbdtest/a 1 /vbdtest/b/c 2 /vbdtest/b/d/e deep
run xenstore-read /vbdtest/a /vbdtest/b/c /vbdtest/b/d/e
run xenstore-read /vbdtest/b
run xenstore-read /vbdtest/missing
run xenstore-read /vbdtest/missing/deeper
run xenstore-write /vbdtest/empty ""
run xenstore-read /vbdtest/empty
run xenstore-write /vbdtest/big "$(printf 'x%.0s' $(seq 3000))"
run sh -c 'xenstore-read /vbdtest/big | wc -c'
run xenstore-write /vbdtest/esc 'a\tb\x41'
run xenstore-read /vbdtest/esc
run xenstore-read -R /vbdtest/esc

# bad paths
run xenstore-write /vbdtest//x 1
run xenstore-write /vbdtest/x/ 1
run xenstore-write '/vbdtest/a b' 1
run xenstore-write /vbdtest/a.b 1
run xenstore-read ''

# listings
run xenstore-ls /vbdtest
run xenstore-ls -p /vbdtest
run xenstore-ls -f /vbdtest
run xenstore-list /vbdtest
run xenstore-list /vbdtest/a
run xenstore-list /vbdtest/missing
run xenstore-exists /vbdtest/b
run xenstore-exists /vbdtest/nope

# permissions
run xenstore-chmod /vbdtest/b n0 r5 w7 b9
run xenstore-ls -p /vbdtest
run xenstore-chmod -r /vbdtest/b n3 r0
run xenstore-ls -p /vbdtest/b
run xenstore-write /vbdtest/b/new 1
run xenstore-ls -p /vbdtest/b
run xenstore-chmod /vbdtest/nope n0
run xenstore-chmod /vbdtest/a x0

# removal
run xenstore-rm /vbdtest/b/c
run xenstore-rm /vbdtest/b/c
run xenstore-rm /vbdtest/nope/deeper
run xenstore-write /vbdtest/p/q/r 1
run xenstore-rm -t /vbdtest/p/q/r
run xenstore-exists /vbdtest/p
run xenstore-ls /vbdtest

# a directory longer than one reply (DIRECTORY_PART)
args=()
for i in $(seq 1 300); do args+=("/vbdtest/wide/entry-with-a-long-name-$i" "$i"); done
run xenstore-write "${args[@]}"
run sh -c 'xenstore-list /vbdtest/wide | wc -l'
run sh -c 'xenstore-list /vbdtest/wide | sort | md5sum'
run sh -c 'xenstore-ls /vbdtest/wide | wc -l'

# relative paths resolve to /local/domain/0
run xenstore-write vbdrel/x 1
run xenstore-read /local/domain/0/vbdrel/x
run xenstore-read vbdrel/x
run xenstore-rm vbdrel

# watches: the first event, a change, a child, a removal
(sleep 0.5; xenstore-write /vbdtest/w 1; sleep 0.2; xenstore-write /vbdtest/w/kid 2;
 sleep 0.2; xenstore-rm /vbdtest/w) &
run timeout 10 xenstore-watch -n 4 /vbdtest/w
wait
(sleep 0.5; xenstore-write /vbdtest/sib 1; sleep 0.2; xenstore-write /vbdtest/w2 1) &
run timeout 10 xenstore-watch -n 2 /vbdtest/w2
wait

run xenstore-rm /vbdtest
run xenstore-exists /vbdtest
