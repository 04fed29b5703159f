#!/usr/bin/env bash
# examples/check_log judges a xenstored log through the public API as
# vbdctl verify --log does: the same devices and violations, the same exit
# status, and a file that is no log refused.
#   test_example_check_log.sh VBDCTL CHECK_LOG
set -u
export LC_ALL=C
VBDCTL=${1:?usage: $0 <path-to-vbdctl> <path-to-check_log>}
CHECK_LOG=${2:?usage: $0 <path-to-vbdctl> <path-to-check_log>}
. "$(dirname "$0")/harness.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$(dirname "$0")/golden/timeline-log.trace

"$VBDCTL" verify --log "$log" > "$tmp/vbdctl.out" 2>&1
want_rc=$?
check "check_log: the exit status vbdctl verify --log gives ($want_rc)" "$want_rc" "$CHECK_LOG" "$log"
want_v=$(grep -c "VIOLATION" "$tmp/vbdctl.out")
has "check_log: as many violations as vbdctl reports" "$want_v violations"
has "check_log: the writer of a state" "(written by dom"
check "check_log: a file that is no log" 2 "$CHECK_LOG" /etc/passwd
summary
