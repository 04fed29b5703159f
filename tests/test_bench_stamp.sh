#!/usr/bin/env bash
# vbd-lab-stamp, the lab benchmark's clock (tests/xenlab/bench_stamp.c),
# against a simulated host: it sees an attach reach both Connected and a
# detach remove both directories, stamps the steps between, keeps the
# command's output out of its own, carries the command's status, and says
# -1 (not a time) when the devices never get there.
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl> <path-to-vbd-lab-stamp>}
STAMP=${2:?usage: $0 <path-to-vbdctl> <path-to-vbd-lab-stamp>}
. "$(dirname "$0")/harness.sh"
sim_setup stamp
IMG=$tmp/d.img
truncate -s 8M "$IMG"
BE=/local/domain/0/backend/vbd/1/51728
FE=/local/domain/1/device/vbd/51728
check "sim start" 0 "$VBDCTL" sim start --guests 1

check "attach, timed to Connected" 0 "$STAMP" --timeout 60 $BE $FE -- \
	"$VBDCTL" attach guest1 "vdev=xvdb,format=raw,access=rw,target=$IMG" --timeout 30
has "the attach's backend connects" "be/state=4"
has "the attach's frontend connects" "fe/state=4"
has "the hotplug step is stamped" "be/physical-device=7:"
has "the command's status" "cmd_rc=0"
[[ $out == *"RESULT mode=up done_ms="[0-9]* ]] && pass=$((pass + 1)) ||
	{ fail=$((fail + 1)); printf 'FAIL: attach: no time to Connected in:\n%s\n' "$out"; }

# The command's output goes to stderr: stdout holds stamps only.
so=$("$STAMP" --gone --timeout 10 /nowhere/a /nowhere/b -- echo "RESULT mode=fake" 2>/dev/null)
[[ $so != *fake* && $so == "RESULT mode=gone "* ]] && pass=$((pass + 1)) ||
	{ fail=$((fail + 1)); printf 'FAIL: the command printed among the stamps:\n%s\n' "$so"; }

check "detach, timed until both directories are gone" 0 "$STAMP" --gone --timeout 60 $BE $FE -- \
	"$VBDCTL" detach guest1 xvdb --timeout 30
has "the backend directory goes" "be/dir=gone"
has "the frontend directory goes" "fe/dir=gone"
[[ $out == *"RESULT mode=gone done_ms="[0-9]* ]] && pass=$((pass + 1)) ||
	{ fail=$((fail + 1)); printf 'FAIL: detach: no time in:\n%s\n' "$out"; }

# Nothing connects: no time, after the timeout; the command's status kept.
check "a command that attaches nothing" 0 "$STAMP" --timeout 1 $BE $FE -- sh -c 'exit 3'
has "no time when nothing connects" "done_ms=-1.0"
has "the command's own status" "cmd_rc=3"
[[ $out != *STAMP* ]] && pass=$((pass + 1)) ||
	{ fail=$((fail + 1)); printf 'FAIL: steps stamped that did not happen:\n%s\n' "$out"; }
# Done needs both ends: a backend at 4 beside a frontend at 3 is not.
# (Where the wait runs out by design, it is long enough for the command's
# writes on a loaded machine: they are what is stamped.)
B2=/local/domain/0/backend/vbd/1/51800 F2=/local/domain/1/device/vbd/51800
check "one end Connected" 0 "$STAMP" --timeout 6 $B2 $F2 -- \
	sh -c "xenstore-write $B2/state 4 && xenstore-write $F2/state 3"
has "the backend's step" "be/state=4"
has "the frontend's step" "fe/state=3"
has "one end Connected is not done" "done_ms=-1.0"
check "then the other" 0 "$STAMP" --timeout 30 $B2 $F2 -- xenstore-write $F2/state 4
[[ $out == *"fe/state=4"* && $out == *"RESULT mode=up done_ms="[0-9]* && $out != *"be/state"* ]] &&
	pass=$((pass + 1)) || { fail=$((fail + 1)); printf 'FAIL: both Connected, only the change stamped:\n%s\n' "$out"; }
# A value another domain wrote reaches a terminal and a CSV field: no
# control character, space or comma gets through.
check "a hostile value" 0 "$STAMP" --timeout 6 $B2 $F2 -- xenstore-write $B2/hotplug-status $'a,b c\033[2J'
has "the value, escaped" "be/hotplug-status=a?b?c?[2J"
xenstore-rm $B2; xenstore-rm /local/domain/1/device/vbd/51800
check "usage error" 2 "$STAMP" $BE $FE true
check "a command that does not exist" 0 "$STAMP" --gone $BE $FE -- /nonexistent/cmd
has "exec failure is the command's status" "cmd_rc=127"
summary
