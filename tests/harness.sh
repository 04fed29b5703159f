# Sourced by tests/test_cli.sh and tests/test_sim.sh: the check counter, a
# loop device count, and the closing line.  Commands run with stdout and
# stderr in $out, which has() then searches.
# shellcheck shell=bash
pass=0 fail=0
check() {  # check "what" expected-exit command...
	local what=$1 want=$2 got
	shift 2
	out=$("$@" 2>&1)
	got=$?
	if [ "$got" = "$want" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		printf 'FAIL: %s: exit %s, want %s\n%s\n' "$what" "$got" "$want" "$out"
	fi
}
has() {  # has "what" needle (in $out)
	if [[ $out == *"$2"* ]]; then pass=$((pass + 1)); else
		fail=$((fail + 1)); printf 'FAIL: %s: no "%s" in:\n%s\n' "$1" "$2" "$out"; fi
}
loops_of() { losetup -j "$1" -O NAME -n 2>/dev/null | grep -c loop; }  # loops_of FILE
free_loops() {  # free_loops FILE...: detach every loop device on them
	local f l
	for f in "$@"; do
		for l in $(losetup -j "$f" -O NAME -n 2>/dev/null); do losetup -d "$l"; done
	done
}
summary() {  # the closing line, and the status
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
}
