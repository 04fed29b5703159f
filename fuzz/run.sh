#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs every libFuzzer target of a build for a while:
#
#     fuzz/run.sh BUILD_DIR SECONDS
#
# Each target BUILD_DIR/fuzz/<name> runs for SECONDS starting from
# fuzz/corpus/<name>.  New inputs go to a temporary copy of the corpus, so
# the repository stays clean; FUZZ_SAVE=1 merges the new ones back instead
# (with -merge=1, keeping only inputs that add coverage).  Crash, leak and
# timeout reproducers land in fuzz/ (crash-*, leak-*, timeout-* are
# git-ignored).  Exits non-zero if any target found something.
# FUZZ_JOBS=N runs N fuzzing processes per target (default 1).
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 BUILD_DIR SECONDS" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
jobs=${FUZZ_JOBS:-1}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbd-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

status=0
found=0
for src in "$here"/fuzz_*.c; do
	name=$(basename "$src" .c)
	bin=$build/fuzz/$name
	if [ ! -x "$bin" ]; then
		echo "$name: $bin not built (configure with CC=clang -DVBD_FUZZ=ON)" >&2
		status=1
		continue
	fi
	found=$((found + 1))
	seeds=$here/corpus/$name
	work=$tmp/$name
	mkdir -p "$work"
	if [ -d "$seeds" ]; then
		cp -a "$seeds"/. "$work"/
	fi
	echo "== $name: ${seconds}s, $jobs job(s)"
	args=(-max_len=16384 -timeout=25 -rss_limit_mb=2048
	      -max_total_time="$seconds" -print_final_stats=1
	      -artifact_prefix="$here/")
	if [ "$jobs" -gt 1 ]; then
		args+=(-jobs="$jobs" -workers="$jobs")
	fi
	rc=0
	(cd "$tmp" && "$bin" "${args[@]}" "$work") || rc=$?
	for log in "$tmp"/fuzz-*.log; do   # -jobs writes one log per job
		[ -e "$log" ] || continue
		echo "-- $(basename "$log")"
		tail -n 40 "$log"
		rm -f "$log"
	done
	if [ "$rc" -ne 0 ]; then
		echo "$name: FAILED (exit $rc); reproducers: $here/{crash,leak,timeout,oom}-*" >&2
		status=1
	else
		echo "$name: no crash in ${seconds}s"
	fi
	if [ "${FUZZ_SAVE:-0}" = 1 ] && [ -d "$seeds" ]; then
		"$bin" -merge=1 -max_len=16384 "$seeds" "$work" >/dev/null 2>&1 ||
			echo "$name: merge into $seeds failed" >&2
	fi
done
if [ "$found" -eq 0 ]; then
	echo "no fuzz targets found in $build/fuzz" >&2
	exit 1
fi
exit $status
