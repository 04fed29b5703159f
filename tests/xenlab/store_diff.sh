#!/usr/bin/env bash
# Runs xs_transcript.sh against the real xenstored and against
# `vbdctl store serve` on the same machine, and fails on any difference.
# In xenlab's dom0 (make check-xen) the real one is Xen 4.17's xenstored.
# Usage: store_diff.sh [VBDCTL]
set -u
here=$(cd "$(dirname "$0")" && pwd)
vbdctl=${1:-vbdctl}
tmp=$(mktemp -d /tmp/vbd-diff.XXXXXX)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT

unset XENSTORED_PATH
if ! xenstore-read / >/dev/null 2>&1 && ! xenstore-ls / >/dev/null 2>&1; then
	echo "store_diff: no real xenstored answers here" >&2
	exit 2
fi
bash "$here/xs_transcript.sh" >"$tmp/real.txt"

"$vbdctl" store serve --socket "$tmp/sock" --daemon --pidfile "$tmp/pid" || exit 1
pid=$(cat "$tmp/pid")
XENSTORED_PATH=$tmp/sock bash "$here/xs_transcript.sh" >"$tmp/vbd.txt"

steps=$(grep -c '^\[' "$tmp/real.txt")
if diff -u "$tmp/real.txt" "$tmp/vbd.txt"; then
	echo "store_diff: $steps xenstore-utils steps, identical against the real xenstored and libvbd's"
	echo "1 passed, 0 failed"
	exit 0
fi
echo "store_diff: transcripts differ (real xenstored first, libvbd's second)"
echo "0 passed, 1 failed"
exit 1
