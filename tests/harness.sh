# Sourced by the shell tests (test_cli, test_sim*, test_completion,
# test_examples): the check counter, a loop device count and a wait for
# none, the closing line, and a simulated host's temporary setup.  Commands
# run with stdout and stderr in $out, which has() then searches.
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
# no_loops FILE: none left on FILE.  A loop device that another process
# still has open (a backend closing it, a racing attach between
# LOOP_CTL_GET_FREE and its EBUSY) is freed on that last close, after the
# detach has returned (LOOP_CLR_FD only sets autoclear): wait a moment.
no_loops() {
	local i
	for i in $(seq 30); do [ "$(loops_of "$1")" = 0 ] && return 0; sleep 0.1; done
	losetup -a >&2
	return 1
}
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
# sim_setup NAME: a temporary directory ($tmp) and the simulated host's
# paths in it, for a test that runs `vbdctl sim`; on exit, sim_cleanup.
# A test with more to stop defines sim_cleanup_more, which runs first.
sim_setup() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbd-$1.XXXXXX") || exit 1
	export VBD_SIM_DIR=$tmp/sim
	export XENSTORED_PATH=$VBD_SIM_DIR/xenstored.sock
	trap sim_cleanup EXIT
}
sim_cleanup() {
	declare -F sim_cleanup_more >/dev/null && sim_cleanup_more
	"$VBDCTL" sim stop >/dev/null 2>&1
	free_loops "$tmp"/*.img
	rm -rf "$tmp"
}

# trace_offer 0|1: CONTROL trace-offer to the store at $XENSTORED_PATH (the
# one request no xenstore-utils client sends here: theirs wants a hypervisor).
trace_offer() {
	python3 - "$1" <<'PY'
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["XENSTORED_PATH"])
p = b"trace-offer\0" + sys.argv[1].encode() + b"\0"
s.sendall(struct.pack("=IIII", 0, 1, 0, len(p)) + p)   # XS_CONTROL
h = b""
while len(h) < 16:
    c = s.recv(16 - len(h))
    if not c:
        sys.exit(1)
    h += c
sys.exit(0 if struct.unpack("=IIII", h)[0] == 0 else 1)
PY
}

# wait_log N PATTERN: until N lines of $tmp/watch.log (a vbdctl watch's
# output) match, for up to 30 s.
wait_log() {
	local i
	for i in $(seq 600); do
		[ "$(grep -c -- "$2" "$tmp/watch.log")" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
