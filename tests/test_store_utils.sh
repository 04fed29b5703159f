#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The real xenstore-utils (Debian's xenstore-read, -write, -ls, ...) against
# `vbdctl store serve`.  Usage: test_store_utils.sh <path-to-vbdctl>
#
# Every client runs under timeout(1), every wait is bounded, and a trap kills
# whatever daemon this script started, so a hung daemon fails the test instead
# of hanging CTest.  Output formats are xenstore_client.c's (Xen 4.17).

set -u
export LC_ALL=C

VBDCTL=${1:?usage: $0 <path-to-vbdctl>}
TMO=10                      # seconds for one client call

for t in xenstore-read xenstore-write xenstore-ls xenstore-list xenstore-rm \
         xenstore-exists xenstore-chmod xenstore-watch timeout; do
	if ! command -v "$t" >/dev/null; then
		# make check installs xenstore-utils: a missing client is a broken
		# setup, never a silent skip.
		echo "FAIL: $t not installed (apt-get install xenstore-utils)"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbd-utils.XXXXXX") || exit 1
SOCK=$tmp/socket
GSOCK=$tmp/socket.d/5
export XENSTORED_PATH=$SOCK
unset XENSTORED_RUNDIR

pids=()                     # every process this script started
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.2
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
forget() {  # PID: reaped or gone, so never signal that number again
	local i
	for i in "${!pids[@]}"; do
		[[ ${pids[i]} == "$1" ]] && unset 'pids[i]'
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass=0
fail=0

show() {    # prints a value with a margin, making a missing final newline visible
	if [[ -z $1 ]]; then
		echo "    <empty>"
	else
		printf '%s' "$1" | sed 's/^/    |/'
		[[ $1 == *$'\n' ]] || printf '\\ no newline at end\n'
	fi
}

expect() {  # name expected got
	if [[ "$2" == "$3" ]]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $1"
		echo "  expected:"; show "$2"
		echo "  got:";      show "$3"
	fi
}

expect_match() {  # name extended-regex got
	if [[ "$3" =~ $2 ]]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $1"
		echo "  expected to match: $2"
		echo "  got:"; show "$3"
	fi
}

# run CMD...: runs CMD under a timeout; sets rc, out (exact stdout) and err.
run() {
	timeout -k 2 "$TMO" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out"; printf .)
	out=${out%.}
	err=$(cat "$tmp/err")
}

# Prefix for a client on the guest's (domain 5's) socket.
G=(env "XENSTORED_PATH=$GSOCK")

lines() {   # the exact text of its arguments, one per line, into $text
	if (($# == 0)); then
		text=
	else
		printf -v text '%s\n' "$@"
	fi
}

# ok NAME CMD...: CMD must exit 0 with nothing on stdout.
ok() {
	local name=$1
	shift
	run "$@"
	expect "$name: exit status (stderr: $err)" 0 "$rc"
	expect "$name: stdout" "" "$out"
}

# out_is NAME CMD... -- LINES...: CMD must exit 0 and print exactly LINES.
out_is() {
	local name=$1 cmd=()
	shift
	while (($#)) && [[ $1 != -- ]]; do
		cmd+=("$1")
		shift
	done
	shift
	run "${cmd[@]}"
	lines "$@"
	expect "$name: exit status (stderr: $err)" 0 "$rc"
	expect "$name: stdout" "$text" "$out"
}

# rc_is NAME WANT CMD...
rc_is() {
	local name=$1 want=$2
	shift 2
	run "$@"
	expect "$name: exit status (stderr: $err)" "$want" "$rc"
}

wait_for() {  # SECONDS CMD...: true once CMD succeeds, false on timeout
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.05
	done
}

is_socket() { [[ -S $1 ]]; }
no_file() { [[ ! -e $1 ]]; }
socket_or_dead() { is_socket "$1" || proc_gone "$2"; }
proc_gone() {   # a process that is gone or a zombie
	local st
	[[ -r /proc/$1/stat ]] || return 0
	st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 0
	[[ -z $st || $st == Z ]]
}
lines_at_least() { [[ -f $1 ]] && (($(wc -l <"$1") >= $2)); }

# wait_exit PID: waits (bounded) for a child of this shell; sets wrc.
wait_exit() {
	if wait_for "$TMO" proc_gone "$1"; then
		wait "$1" 2>/dev/null
		wrc=$?
		forget "$1"
	else
		wrc=timeout
	fi
}

# A line of `xenstore-ls -p` without -f: the value padded with ". . ." to
# column 60 (max_width is 80 when stdout is not a terminal), then the perms.
ls_p_line() {  # depth name value perms
	local s w
	printf -v s '%*s%s = "%s"' "$1" '' "$2" "$3"
	w=${#s}
	s+=' '
	for ((w = w + 1; w < 60; w++)); do
		if ((w & 1)); then s+='.'; else s+=' '; fi
	done
	printf -v line '%s  (%s)' "$s" "$4"
}

# start_daemon SOCKET LOG: foreground `store serve` in the background; sets dpid.
start_daemon() {
	"$VBDCTL" store serve --socket "$1" >"$2" 2>&1 &
	dpid=$!
	pids+=("$dpid")
	wait_for "$TMO" socket_or_dead "$1" "$dpid"
	if ! is_socket "$1" || proc_gone "$dpid"; then
		echo "FATAL: daemon died or did not create $1 within ${TMO}s"
		sed 's/^/    log: /' "$2"
		exit 1
	fi
}

# watch_start NAME COUNT PATH [SOCKET]: starts `xenstore-watch -n COUNT PATH`
# (on SOCKET, default the main one) and waits for its first (initial) event.
# Sets wpid.
watch_start() {
	rm -f "$tmp/watch.out"
	XENSTORED_PATH=${4:-$SOCK} timeout -k 2 "$TMO" xenstore-watch -n "$2" "$3" \
		>"$tmp/watch.out" 2>"$tmp/watch.err" &
	wpid=$!
	pids+=("$wpid")
	if wait_for "$TMO" lines_at_least "$tmp/watch.out" 1; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $1: no initial watch event within ${TMO}s"
	fi
}

# (the "." keeps trailing newlines in the comparison)
lines_dot() { lines "$@"; text+=.; }

# watch_end NAME LINES...: the watcher must exit 0 having printed exactly LINES.
watch_end() {
	local name=$1
	shift
	wait_exit "$wpid"
	expect "$name: watcher exit status ($(cat "$tmp/watch.err"))" 0 "$wrc"
	lines_dot "$@"
	expect "$name: events" "$text" "$(cat "$tmp/watch.out"; printf .)"
}

# --- main daemon --------------------------------------------------------------

start_daemon "$SOCK" "$tmp/daemon.log"
main_pid=$dpid

# --- write / read -------------------------------------------------------------

ok "write" xenstore-write /test/key value
out_is "read" xenstore-read /test/key -- value
ok "overwrite" xenstore-write /test/key value2
out_is "read after overwrite" xenstore-read /test/key -- value2
ok "write with spaces" xenstore-write /test/sp "hello world"
out_is "read with spaces" xenstore-read /test/sp -- "hello world"
ok "write empty value" xenstore-write /test/empty ""
out_is "read empty value" xenstore-read /test/empty -- ""
# xenstore-write turns \t into a tab; xenstore-read escapes it back, -R not.
ok "write escaped" xenstore-write /test/esc 'a\tb\x41'
out_is "read escaped" xenstore-read /test/esc -- 'a\tbA'
run xenstore-read -R /test/esc
expect "read -R: exit status" 0 "$rc"
expect "read -R: raw bytes, no newline" $'a\tbA' "$out"
out_is "read -p" xenstore-read -p /test/key -- "/test/key: value2"
out_is "read two keys" xenstore-read /test/key /test/sp -- value2 "hello world"
big=$(head -c 3000 /dev/zero | tr '\0' 'v')
ok "write 3000-byte value" xenstore-write /test/bigval "$big"
out_is "read 3000-byte value" xenstore-read /test/bigval -- "$big"
# Relative paths of a dom0 socket client resolve against /local/domain/0.
ok "write relative" xenstore-write rel/x 7
out_is "read relative via absolute" xenstore-read /local/domain/0/rel/x -- 7
out_is "read relative" xenstore-read rel/x -- 7

# --- missing keys ---------------------------------------------------------------

run xenstore-read /no/such/key
expect "read missing: exit status" 1 "$rc"
expect "read missing: stdout" "" "$out"
expect_match "read missing: message" "couldn't read path /no/such/key" "$err"
rc_is "read missing among present" 1 xenstore-read /test/key /no/such/key
rc_is "read invalid path" 1 xenstore-read '/bad//path'
rc_is "write path with a trailing /" 1 xenstore-write /test/trail/ x
rc_is "write path with a space" 1 xenstore-write '/test/a b' x
rc_is "write path with a dot" 1 xenstore-write /test/a.b x
p3072=/$(head -c 3071 /dev/zero | tr '\0' 'p')
ok "write a 3072-character path" xenstore-write "$p3072" x
out_is "read a 3072-character path" xenstore-read "$p3072" -- x
rc_is "write a 3073-character path" 1 xenstore-write "${p3072}q" x
ok "rm the long path" xenstore-rm "$p3072"

# --- several pairs, implicit parents ------------------------------------------

ok "write three pairs" xenstore-write /multi/a 1 /multi/b 2 /multi/c/d 3
out_is "pairs: read back" xenstore-read /multi/a /multi/b /multi/c/d -- 1 2 3
out_is "implicit parent has empty value" xenstore-read /multi/c -- ""
ok "write deep" xenstore-write /deep/a/b/c/d leaf
out_is "deep implicit parents" xenstore-read /deep /deep/a /deep/a/b /deep/a/b/c -- "" "" "" ""
out_is "deep leaf" xenstore-read /deep/a/b/c/d -- leaf

# --- xenstore-ls ------------------------------------------------------------------

out_is "ls tree" xenstore-ls /multi -- \
	'a = "1"' 'b = "2"' 'c = ""' ' d = "3"'
out_is "ls -f" xenstore-ls -f /multi -- \
	'/multi/a = "1"' '/multi/b = "2"' '/multi/c = ""' '/multi/c/d = "3"'
out_is "ls -f -p" xenstore-ls -f -p /multi -- \
	'/multi/a = "1"   (n0)' '/multi/b = "2"   (n0)' \
	'/multi/c = ""   (n0)' '/multi/c/d = "3"   (n0)'
ls_p_line 0 a 1 n0; l1=$line
ls_p_line 0 c "" n0; l2=$line
ls_p_line 1 d 3 n0; l3=$line
ls_p_line 0 b 2 n0
out_is "ls -p" xenstore-ls -p /multi -- "$l1" "$line" "$l2" "$l3"
expect "ls -p: literal first line" \
	'a = "1"  . . . . . . . . . . . . . . . . . . . . . . . . . .  (n0)' "$l1"
out_is "ls deep" xenstore-ls /deep -- \
	'a = ""' ' b = ""' '  c = ""' '   d = "leaf"'
run xenstore-ls
expect "ls /: exit status" 0 "$rc"
expect_match "ls /: has multi" $'(^|\n)multi = ""\n a = "1"\n' "$out"
expect_match "ls /: has local/domain/0/rel" $'(^|\n)local = ""\n domain = ""\n  0 = ""\n' "$out"
rc_is "ls missing" 1 xenstore-ls /no/such

# --- xenstore-list ----------------------------------------------------------------

out_is "list" xenstore-list /multi -- a b c
out_is "list -p" xenstore-list -p /multi -- /multi/a /multi/b /multi/c
out_is "list leaf" xenstore-list /multi/a --
run xenstore-list /no/such
expect "list missing: exit status" 1 "$rc"
expect_match "list missing: message" "could not list path /no/such" "$err"

# --- xenstore-exists --------------------------------------------------------------

ok "exists present" xenstore-exists /multi/a
ok "exists implicit parent" xenstore-exists /deep/a/b/c
ok "exists two present" xenstore-exists /multi/a /multi/b
rc_is "exists missing" 1 xenstore-exists /multi/zz
rc_is "exists one missing" 1 xenstore-exists /multi/a /multi/zz
rc_is "exists under missing parent" 1 xenstore-exists /nothing/here

# --- xenstore-rm ------------------------------------------------------------------

ok "rm leaf" xenstore-rm /multi/a
rc_is "rm leaf: gone" 1 xenstore-exists /multi/a
ok "rm subtree" xenstore-rm /multi/c
rc_is "rm subtree: child gone" 1 xenstore-exists /multi/c/d
rc_is "rm subtree: node gone" 1 xenstore-exists /multi/c
out_is "rm: sibling kept" xenstore-list /multi -- b
ok "rm missing node, parent exists" xenstore-rm /multi/never
run xenstore-rm /no/such/parent
expect "rm under missing parent: exit status" 1 "$rc"
expect_match "rm under missing parent: message" "could not remove path /no/such/parent" "$err"
rc_is "rm /" 1 xenstore-rm /
ok "rm: write for -t" xenstore-write /tidy/a/b/c/d 1 /tidy/keep 1 /tv/x val /tv/x/y 1
ok "rm -t" xenstore-rm -t /tidy/a/b/c/d
rc_is "rm -t: empty parents pruned" 1 xenstore-exists /tidy/a
out_is "rm -t: stops at a parent with children" xenstore-list /tidy -- keep
ok "rm -t stops at a parent with a value" xenstore-rm -t /tv/x/y
out_is "rm -t: parent with value kept" xenstore-read /tv/x -- val
out_is "rm -t: its children gone" xenstore-list /tv/x --
ok "rm -t: last child" xenstore-rm -t /tidy/keep
rc_is "rm -t: prunes up to the top" 1 xenstore-exists /tidy

# --- large directory (DIRECTORY_PART) ---------------------------------------------

names=()
pairs=()
for ((i = 0; i < 400; i++)); do
	printf -v n 'entry-with-a-fairly-long-name-%03d' "$i"
	names+=("$n")
	pairs+=("/big/$n" "$i")
done
ok "big dir: write 400 nodes in one call" xenstore-write "${pairs[@]}"
lines "${names[@]}"; want_list=$text
expect "big dir: names exceed one payload" 1 $(( $(printf '%s\0' "${names[@]}" | wc -c) > 3 * 4096 ))
run xenstore-list /big
expect "big dir: list exit status (stderr: $err)" 0 "$rc"
sorted=$(printf '%s' "$out" | sort; printf .)
expect "big dir: list complete" "$want_list" "${sorted%.}"
want_ls=
for ((i = 0; i < 400; i++)); do
	want_ls+="${names[i]} = \"$i\""$'\n'
done
run xenstore-ls /big
expect "big dir: ls exit status (stderr: $err)" 0 "$rc"
sorted=$(printf '%s' "$out" | sort; printf .)
expect "big dir: ls complete" "$want_ls" "${sorted%.}"
ok "big dir: rm" xenstore-rm /big
rc_is "big dir: gone" 1 xenstore-exists /big

# --- directory sizes around the payload limit ----------------------------------------
# k names of 9 characters (10 bytes with the NUL) plus one name of v
# characters: the "name\0..." string is 10k + v + 1 bytes.  Sweeping v moves
# it across 4096 (DIRECTORY -> E2BIG -> DIRECTORY_PART) and across the
# boundaries of the DIRECTORY_PART chunks, where an off-by-one loses or
# repeats a name or the final empty chunk.

sweep_dir() {  # PATH K VMIN VMAX
	local path=$1 k=$2 v i base=() pairs=() want got prev=
	for ((i = 0; i < k; i++)); do
		printf -v n 'e%08d' "$i"
		base+=("$n")
		pairs+=("$path/$n" "")
	done
	run xenstore-write "${pairs[@]}"
	expect "sweep $k: write $k nodes (stderr: $err)" 0 "$rc"
	for ((v = $3; v <= $4; v++)); do
		n=v$(head -c $((v - 1)) /dev/zero | tr '\0' 'x')
		[[ -n $prev ]] && timeout "$TMO" xenstore-rm "$path/$prev"
		timeout "$TMO" xenstore-write "$path/$n" ""
		prev=$n
		lines "${base[@]}" "$n"
		want=$(printf '%s' "$text" | sort; printf .)
		run xenstore-list "$path"
		got=$(printf '%s' "$out" | sort; printf .)
		expect "sweep: list of $((10 * k + v + 1)) bytes of names (rc $rc, $err)" "$want" "$got"
	done
	ok "sweep $k: rm" xenstore-rm "$path"
}
sweep_dir /sweep1 408 1 40      # 4082..4121 bytes: one reply, then parts
sweep_dir /sweep2 816 1 40      # 8162..8201 bytes: two or three parts

# --- a guest domain -------------------------------------------------------------------
# Introduced before any perms name it: real xenstored ignores perm entries
# that were set before their domain existed (XSA-322).

run "$VBDCTL" store domain add 5 --name guest5 --socket "$SOCK"
expect "domain add: exit status (stderr: $err)" 0 "$rc"
wait_for "$TMO" is_socket "$GSOCK"
expect "domain add: guest socket exists" yes "$([[ -S $GSOCK ]] && echo yes || echo no)"
out_is "domain add: name" xenstore-read /local/domain/5/name -- guest5
# Adding it again is refused and changes nothing: not its name, not a device
# directory a toolstack wrote meanwhile.
ok "domain add again: a frontend dir" xenstore-write /local/domain/5/device/vbd/51712/state 4
run "$VBDCTL" store domain add 5 --socket "$SOCK"
expect "domain add again: exit status" 1 "$rc"
expect_match "domain add again: says why" "domain 5 already exists" "$err"
out_is "domain add again: name kept" xenstore-read /local/domain/5/name -- guest5
out_is "domain add again: device kept" xenstore-read /local/domain/5/device/vbd/51712/state -- 4
ok "domain add again: clean up" xenstore-rm /local/domain/5/device/vbd
run xenstore-ls -f -p /local/domain
expect "ls -f -p /local/domain: exit status" 0 "$rc"
# libxl 4.17's layout (tests/golden/libxl-4.17-block-attach.txt): the home,
# device/ and control/ owned by dom0 and readable by the domain; the leaves
# the guest writes owned by the domain.
for node in "" /name /domid /device /control; do
	expect_match "domain add: /local/domain/5$node is (n0,r5)" \
		"(^|"$'\n'")/local/domain/5$node = [^"$'\n'"]* +\\(n0,r5\\)"$'\n' "$out"
done
for node in /data /drivers /feature /attr /error /control/shutdown /control/feature-poweroff \
            /control/feature-reboot /control/feature-suspend /control/sysrq \
            /device/suspend/event-channel; do
	expect_match "domain add: /local/domain/5$node is (n5)" \
		"(^|"$'\n'")/local/domain/5$node = \"\" +\\(n5\\)"$'\n' "$out"
done

# --- xenstore-chmod and permissions -------------------------------------------

ok "perm: write" xenstore-write /perm/secret s /perm/shared sh
ok "chmod" xenstore-chmod /perm/shared n0 r5
out_is "chmod: ls -f -p" xenstore-ls -f -p /perm -- \
	'/perm/secret = "s"   (n0)' '/perm/shared = "sh"   (n0,r5)'
ok "chmod -r: write" xenstore-write /perm/tree/a 1 /perm/tree/b/c 2
ok "chmod -r" xenstore-chmod -r /perm/tree n0 b5
out_is "chmod -r: applied to the subtree" xenstore-ls -f -p /perm/tree -- \
	'/perm/tree/a = "1"   (n0,b5)' '/perm/tree/b = ""   (n0,b5)' \
	'/perm/tree/b/c = "2"   (n0,b5)'
ok "chmod -u: write" xenstore-write /up/a/b 1
ok "chmod -u" xenstore-chmod -u /up/a/b n0 r5
out_is "chmod -u: applied to the parents" xenstore-ls -f -p /up -- \
	'/up/a = ""   (n0,r5)' '/up/a/b = "1"   (n0,r5)'
ok "new node inherits the parent's perms" xenstore-write /perm/tree/b/new 3
out_is "inherited perms" xenstore-ls -f -p /perm/tree/b -- \
	'/perm/tree/b/c = "2"   (n0,b5)' '/perm/tree/b/new = "3"   (n0,b5)'
rc_is "chmod missing node" 1 xenstore-chmod /no/such n0

# --- the guest's view ------------------------------------------------------------------

out_is "guest: read own name" "${G[@]}" xenstore-read /local/domain/5/name -- guest5
out_is "guest: read own name, relative" "${G[@]}" xenstore-read name -- guest5
run "${G[@]}" xenstore-read /perm/secret
expect "guest: read dom0-only node: exit status" 1 "$rc"
expect "guest: read dom0-only node: stdout" "" "$out"
expect_match "guest: read dom0-only node: message" "couldn't read path /perm/secret" "$err"
rc_is "guest: exists on dom0-only node" 1 "${G[@]}" xenstore-exists /perm/secret
rc_is "guest: list dom0-only dir" 1 "${G[@]}" xenstore-list /perm
out_is "guest: read r5 node" "${G[@]}" xenstore-read /perm/shared -- sh
rc_is "guest: write r5 node" 1 "${G[@]}" xenstore-write /perm/shared x
out_is "guest: r5 node unchanged" xenstore-read /perm/shared -- sh
ok "guest: write b5 node" "${G[@]}" xenstore-write /perm/tree/a 9
out_is "guest: b5 write seen by dom0" xenstore-read /perm/tree/a -- 9
out_is "guest: read -u parent" "${G[@]}" xenstore-read /up/a -- ""
rc_is "guest: create under /" 1 "${G[@]}" xenstore-write /guestnode x
rc_is "guest: not created" 1 xenstore-exists /guestnode
rc_is "guest: rm dom0-only node" 1 "${G[@]}" xenstore-rm /perm/secret
ok "guest: dom0-only node still there" xenstore-exists /perm/secret
rc_is "guest: create directly in its read-only home" 1 "${G[@]}" xenstore-write foo 1
ok "guest: write in own data/, relative" "${G[@]}" xenstore-write data/x 1
out_is "guest: own write seen by dom0" xenstore-read /local/domain/5/data/x -- 1
run xenstore-ls -f -p /local/domain/5/data
expect_match "guest: created node owned by the guest" \
	'^/local/domain/5/data/x = "1" +\([nrwb]5[,)]' "$out"
v2048=$(head -c 2048 /dev/zero | tr '\0' 'g')
ok "guest: 2048-byte value (the quota)" "${G[@]}" xenstore-write data/v "$v2048"
out_is "guest: 2048-byte value read back" xenstore-read /local/domain/5/data/v -- "$v2048"
rc_is "guest: 2049-byte value" 1 "${G[@]}" xenstore-write data/v "${v2048}g"
ok "guest: chmod own node" "${G[@]}" xenstore-chmod data/x n5 r6
out_is "guest: own chmod applied" xenstore-ls -f -p /local/domain/5/data -- \
	'/local/domain/5/data/x = "1"   (n5,r6)' \
	"/local/domain/5/data/v = \"$v2048\"   (n5)"
rc_is "guest: give own node away" 1 "${G[@]}" xenstore-chmod data/x n0
rc_is "guest: chmod dom0-owned node" 1 "${G[@]}" xenstore-chmod /perm/shared n5
ok "chmod: take read away" xenstore-chmod /perm/shared n0
rc_is "guest: denied after chmod" 1 "${G[@]}" xenstore-read /perm/shared
ok "chmod: give read back" xenstore-chmod /perm/shared n0 r5
out_is "guest: allowed after chmod" "${G[@]}" xenstore-read /perm/shared -- sh
# A guest's watch reports only the nodes it may read (XSA-115).
watch_start "guest watch" 2 /perm "$GSOCK"
ok "guest watch: write an unreadable node" xenstore-write /perm/secret s
ok "guest watch: write a readable node" xenstore-write /perm/shared sh
watch_end "guest watch" /perm /perm/shared

run "$VBDCTL" store domain remove 5 --socket "$SOCK"
expect "domain remove: exit status (stderr: $err)" 0 "$rc"
wait_for "$TMO" no_file "$GSOCK"
expect "domain remove: guest socket removed" no "$([[ -e $GSOCK ]] && echo yes || echo no)"
rc_is "domain remove: home deleted" 1 xenstore-exists /local/domain/5
out_is "domain remove: domid stripped from perms" xenstore-ls -f -p /perm -- \
	'/perm/secret = "s"   (n0)' '/perm/shared = "sh"   (n0)' \
	'/perm/tree = ""   (n0)' '/perm/tree/a = "9"   (n0)' \
	'/perm/tree/b = ""   (n0)' '/perm/tree/b/c = "2"   (n0)' \
	'/perm/tree/b/new = "3"   (n0)'

# --- xenstore-watch -------------------------------------------------------------------

ok "watch: setup" xenstore-write /w/node v
watch_start "watch change" 2 /w/node
ok "watch: change" xenstore-write /w/node/child 1
watch_end "watch change" /w/node /w/node/child

watch_start "watch own write" 2 /w/node
ok "watch: write the node itself" xenstore-write /w/node v2
watch_end "watch own write" /w/node /w/node

watch_start "watch missing node" 1 /w/missing
watch_end "watch missing node" /w/missing

watch_start "watch creation" 2 /w/missing
ok "watch: create" xenstore-write /w/missing 1
watch_end "watch creation" /w/missing /w/missing

watch_start "watch rm" 2 /w/node
ok "watch: rm" xenstore-rm /w/node
watch_end "watch rm" /w/node /w/node

watch_start "watch chmod" 2 /w/missing
ok "watch: chmod" xenstore-chmod /w/missing b0
watch_end "watch chmod" /w/missing /w/missing

# Removing an ancestor fires a watch on a descendant with its own path.
ok "watch: setup deep" xenstore-write /w2/a/b 1
watch_start "watch ancestor rm" 2 /w2/a/b
ok "watch: rm ancestor" xenstore-rm /w2
watch_end "watch ancestor rm" /w2/a/b /w2/a/b

watch_start "watch @introduceDomain" 2 @introduceDomain
run "$VBDCTL" store domain add 6 --name guest6 --socket "$SOCK"
expect "domain add 6: exit status (stderr: $err)" 0 "$rc"
watch_end "watch @introduceDomain" @introduceDomain @introduceDomain
watch_start "watch @releaseDomain" 2 @releaseDomain
run "$VBDCTL" store domain remove 6 --socket "$SOCK"
expect "domain remove 6: exit status (stderr: $err)" 0 "$rc"
watch_end "watch @releaseDomain" @releaseDomain @releaseDomain

# A relative watch reports relative paths.
watch_start "watch relative" 2 relw
ok "watch: write relative" xenstore-write /local/domain/0/relw/k 1
watch_end "watch relative" relw relw/k

# --- xenstore-control (when a working one is installed) -----------------------------

if timeout 5 xenstore-control help >/dev/null 2>&1 || \
   { command -v xenstore-control >/dev/null && \
     timeout 5 xenstore-control check >/dev/null 2>&1; }; then
	rc_is "xenstore-control check" 0 xenstore-control check
else
	echo "note: no working xenstore-control, its checks skipped"
fi

# --- a second daemon on a live socket -----------------------------------------------

run "$VBDCTL" store serve --socket "$SOCK"
expect_match "serve on a live socket fails (stderr: $err)" '^([1-9]|[1-9][0-9]|1[01][0-9]|12[0-3])$' "$rc"
out_is "live socket still served" xenstore-read /test/key -- value2

# --- SIGTERM -----------------------------------------------------------------------------

# An idle client (a watcher that never writes) must not hold up shutdown.
watch_start "watcher during shutdown" 1000 /test
kill -TERM "$main_pid"
wait_exit "$main_pid"
expect "SIGTERM: daemon exit status" 0 "$wrc"
expect "SIGTERM: socket removed" no "$([[ -e $SOCK ]] && echo yes || echo no)"
rc_is "SIGTERM: clients fail afterwards" 1 xenstore-read /test/key
wait_exit "$wpid"
expect "SIGTERM: watcher saw only the initial event" "/test" "$(cat "$tmp/watch.out")"

# --- SIGINT (job control on, so that the background job does not ignore SIGINT) -------

set -m
"$VBDCTL" store serve --socket "$tmp/sock-int" >"$tmp/int.log" 2>&1 &
ipid=$!
set +m
pids+=("$ipid")
if wait_for "$TMO" is_socket "$tmp/sock-int"; then
	ok "SIGINT daemon: write" env "XENSTORED_PATH=$tmp/sock-int" xenstore-write /x 1
	kill -INT "$ipid"
	wait_exit "$ipid"
	expect "SIGINT: daemon exit status" 0 "$wrc"
	expect "SIGINT: socket removed" no "$([[ -e $tmp/sock-int ]] && echo yes || echo no)"
else
	fail=$((fail + 1))
	echo "FAIL: SIGINT daemon did not start"; sed 's/^/    log: /' "$tmp/int.log"
fi

# --- a stale socket file is replaced ------------------------------------------------------

start_daemon "$tmp/sock-stale" "$tmp/stale1.log"
kill -KILL "$dpid"
wait_exit "$dpid"
expect "stale: socket file left by SIGKILL" yes "$([[ -S $tmp/sock-stale ]] && echo yes || echo no)"
"$VBDCTL" store serve --socket "$tmp/sock-stale" >"$tmp/stale2.log" 2>&1 &
dpid=$!
pids+=("$dpid")
if wait_for "$TMO" eval 'XENSTORED_PATH=$tmp/sock-stale timeout 2 xenstore-write /s 1 2>/dev/null'; then
	out_is "stale: new daemon serves" env "XENSTORED_PATH=$tmp/sock-stale" xenstore-read /s -- 1
else
	fail=$((fail + 1))
	echo "FAIL: stale: new daemon did not serve"; sed 's/^/    log: /' "$tmp/stale2.log"
fi
kill -TERM "$dpid"
wait_exit "$dpid"
expect "stale: daemon exit status" 0 "$wrc"

# --- --daemon --pidfile ------------------------------------------------------------------

DSOCK=$tmp/sock-d
run "$VBDCTL" store serve --socket "$DSOCK" --pidfile "$tmp/pid" --daemon
expect "daemon mode: parent exit status (stderr: $err)" 0 "$rc"
dmpid=$(cat "$tmp/pid" 2>/dev/null)
expect_match "daemon mode: pidfile holds a pid" '^[0-9]+$' "$dmpid"
if [[ $dmpid =~ ^[0-9]+$ ]]; then
	pids+=("$dmpid")
	expect "daemon mode: process alive" yes "$(proc_gone "$dmpid" && echo no || echo yes)"
	read -r -a st <"/proc/$dmpid/stat"
	read -r -a me <"/proc/$BASHPID/stat"
	# fields: 3 ppid, 5 session
	expect "daemon mode: detached from the shell (ppid ${st[3]})" yes \
		"$([[ ${st[3]} != "$$" ]] && echo yes || echo no)"
	expect "daemon mode: own session (sid ${st[5]}, ours ${me[5]})" yes \
		"$([[ ${st[5]} != "${me[5]}" ]] && echo yes || echo no)"
	wait_for "$TMO" is_socket "$DSOCK"
	ok "daemon mode: write" env "XENSTORED_PATH=$DSOCK" xenstore-write /d 1
	out_is "daemon mode: read" env "XENSTORED_PATH=$DSOCK" xenstore-read /d -- 1
	kill -TERM "$dmpid"
	if wait_for "$TMO" proc_gone "$dmpid"; then
		forget "$dmpid"
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: daemon mode: process still alive ${TMO}s after SIGTERM"
	fi
	expect "daemon mode: socket removed" no "$([[ -e $DSOCK ]] && echo yes || echo no)"
fi

if ((fail)); then
	for f in "$tmp"/*.log; do
		[[ -s $f ]] || continue
		echo "--- ${f##*/} (last 20 lines)"
		tail -n 20 "$f"
	done
fi
echo "$pass passed, $fail failed"
((fail == 0))
