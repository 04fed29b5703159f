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
# FUZZ_JOBS=N runs N fuzzing processes per target (default 1), one corpus
# shared; FUZZ_RUNS is then their total (each runs FUZZ_RUNS / N), and the
# summary adds up the processes' executions.
# FUZZ_WORK=DIR keeps the working corpora in DIR/<name> (seeded from
# fuzz/corpus/<name> the first time) instead of a temporary copy, so that a
# later run goes on from where this one stopped.
# FUZZ_RUNS=N also stops each target after N executions (libFuzzer's
# -runs), whichever of the two comes first.
# FUZZ_TARGETS="a b ..." runs only those targets, in that order (default:
# every fuzz_*.c, by name).
# FUZZ_LOG=FILE appends one summary line per target to FILE: date, target,
# seconds allowed and taken, executions, executions per second, coverage
# (cov, ft), corpus size, reproducers written and the verdict.
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
keep=${FUZZ_WORK:-}
if [ -n "$keep" ]; then
	mkdir -p "$keep"
	keep=$(cd "$keep" && pwd)
fi

# summary NAME OUTPUT VERDICT TOOK CRASHES [JOBLOG...]: one line for
# FUZZ_LOG, from libFuzzer's final statistics (each job's log's once, when
# there are job logs: with -jobs the parent's output repeats each log) and
# its last status line.
summary() {
	local runs eps cov ft corp stats=("${@:6}")
	[ ${#stats[@]} -gt 0 ] || stats=("$2")
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "${stats[@]}" | awk '{s += $1} END {print s + 0}')
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "${stats[@]}" | awk '{s += $1} END {print s + 0}')
	cov=$(grep -o 'cov: [0-9]*' "$2" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$2" | tail -n 1 | cut -d' ' -f2)
	corp=$(grep -o 'corp: [0-9]*/[0-9]*[bKM]*' "$2" | tail -n 1 | cut -d' ' -f2)
	printf '%s %s seconds=%s took=%ss execs=%s exec/s=%s cov=%s ft=%s corpus=%s crashes=%s %s\n' \
	       "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$seconds" "$4" "$runs" "$eps" \
	       "${cov:-?}" "${ft:-?}" "${corp:-?}" "$5" "$3"
}

# Reproducers in fuzz/, for counting what a run added.
artifacts() {
	find "$here" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
	     -o -name 'oom-*' \) 2>/dev/null | wc -l
}

status=0
found=0
if [ -n "${FUZZ_TARGETS:-}" ]; then
	targets=$FUZZ_TARGETS
else
	targets=$(cd "$here" && ls fuzz_*.c | sed 's/\.c$//')
fi
for name in $targets; do
	bin=$build/fuzz/$name
	if [ ! -x "$bin" ]; then
		echo "$name: $bin not built (configure with CC=clang -DVBD_FUZZ=ON)" >&2
		status=1
		continue
	fi
	found=$((found + 1))
	seeds=$here/corpus/$name
	work=${keep:-$tmp}/$name
	if [ ! -d "$work" ]; then
		mkdir -p "$work"
		if [ -d "$seeds" ]; then
			cp -a "$seeds"/. "$work"/
		fi
	fi
	echo "== $name: ${seconds}s${FUZZ_RUNS:+ or $FUZZ_RUNS executions}, $jobs job(s)"
	args=(-max_len=16384 -timeout=25 -rss_limit_mb=2048
	      -max_total_time="$seconds" -print_final_stats=1
	      -artifact_prefix="$here/")
	if [ -n "${FUZZ_RUNS:-}" ]; then
		args+=(-runs="$(((FUZZ_RUNS + jobs - 1) / jobs))")
	fi
	if [ "$jobs" -gt 1 ]; then
		args+=(-jobs="$jobs" -workers="$jobs")
	fi
	rc=0
	out=$tmp/$name.out
	found_before=$(artifacts)
	started=$(date +%s)
	set +e
	(cd "$tmp" && "$bin" "${args[@]}" "$work" 2>&1) | tee "$out"
	rc=${PIPESTATUS[0]}
	set -e
	joblogs=()
	for log in "$tmp"/fuzz-*.log; do   # -jobs writes one log per job
		[ -e "$log" ] || continue
		mv "$log" "$tmp/$name.job-$(basename "$log")"
		joblogs+=("$tmp/$name.job-$(basename "$log")")
	done
	if [ "$rc" -ne 0 ]; then
		echo "$name: FAILED (exit $rc); reproducers: $here/{crash,leak,timeout,oom}-*" >&2
		status=1
		verdict="FAILED(exit=$rc)"
	else
		echo "$name: no crash in $(($(date +%s) - started))s"
		verdict=ok
	fi
	if [ -n "${FUZZ_LOG:-}" ]; then
		summary "$name" "$out" "$verdict" "$(($(date +%s) - started))" \
		        "$(($(artifacts) - found_before))" "${joblogs[@]}" >>"$FUZZ_LOG"
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
