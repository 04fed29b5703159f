#!/usr/bin/env bash
# Runs attach_bench against simulated hosts of its own (vbdctl sim start, in a
# private VBD_SIM_DIR under /tmp):
#   1. latency: one guest; attach -> both Connected and detach of one device,
#      built-in hotplug and Xen's /etc/xen/scripts/block, a file and a block
#      device (a loop device made here), and through the vbdctl CLI; then the
#      built-in file attach again with the host and the bench on one CPU
#      (taskset -c 0), where no handoff between their processes crosses CPUs;
#   2. scale: 250 guests; N devices (4 per guest) attached then detached, at a
#      small and a large N, built in and through the script;
#   3. bulk: the large N attached all through the non-blocking API, K at a
#      time, then detached so (target: N=1000 all Connected in 2 s).
# Prints the targets with PASS/MISS; never fails on a timing.
# Usage: bench/attach_bench.sh BUILD_DIR      (BENCH_QUICK=1: a short run)
# BENCH_CSV_DIR: attach_bench's CSV and the scale targets' rows go there
# (bench/README.md).
set -uo pipefail

build=$(readlink -f "${1:-build}")
bench=$build/bench/attach_bench
vbdctl=$build/cli/vbdctl
script=/etc/xen/scripts/block
quick=${BENCH_QUICK:-0}
work=$(mktemp -d /tmp/vbd-attach-bench.XXXXXX)
# The host's directory (its sockets, and the backend's --stats-dir, where a
# new device's counters are files created: 8 inodes a device) where a real
# host has /run/vbd-sim: a tmpfs.  On a disk file system each create costs
# a scan of recently freed inodes (ext4: the backend's CPU in a bulk attach
# of 1000 went 4.1 -> 2.3 s on tmpfs).
simroot=
if [ "$(stat -f -c %T /run 2>/dev/null)" = tmpfs ]; then
	simroot=$(mktemp -d /run/vbd-attach-bench.XXXXXX)
elif [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	simroot=$(mktemp -d /dev/shm/vbd-attach-bench.XXXXXX)
fi
export VBD_SIM_DIR=${simroot:-$work}/sim
export XENSTORED_PATH=$VBD_SIM_DIR/xenstored.sock
loopdev=

# The small N runs `reps` times and the median counts: at N=10 one slow
# attach would otherwise make the whole baseline.
if [ "$quick" = 1 ]; then
	lat_n=30; lat_script_n=10; lat_rounds=5
	guests=25; small=10; large=100; script_small=10; script_large=0; reps=3
	bulk_k="64"
else
	lat_n=200; lat_script_n=100; lat_rounds=10
	guests=250; small=10; large=1000; script_small=10; script_large=100; reps=5
	bulk_k="64 0"
fi

cleanup() {
	"$vbdctl" sim stop >/dev/null 2>&1
	[ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null
	rm -rf "$work" ${simroot:+"$simroot"}
}
trap cleanup EXIT

# The script's own needs: xenstore-* in PATH (xenstore-utils, found through
# XENSTORED_PATH, which it inherits), /var/run/xen-hotplug for its lock and
# /var/log/xen for its log; xen-utils-common brings the scripts.
if [ ! -x "$script" ]; then
	echo "attach_bench: $script missing (Debian: xen-utils-common); script runs skipped"
	script=
else
	mkdir -p /var/run/xen-hotplug /var/log/xen
fi

rss() {  # rss PID: resident KiB
	awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "?"
}
backend_pid() {
	local p
	for p in $(pgrep -P "$(cat "$VBD_SIM_DIR/host.pid")"); do
		if tr '\0' ' ' < "/proc/$p/cmdline" | grep -q -- " backend "; then echo "$p"; return; fi
	done
}
memory() {  # memory WHEN
	local h b
	h=$(cat "$VBD_SIM_DIR/host.pid")
	b=$(backend_pid)
	printf '(%s: host process RSS %s KiB, backend RSS %s KiB, %s fds; %s loop devices on the machine)\n' \
		"$1" "$(rss "$h")" "$(rss "$b")" "$(ls "/proc/$b/fd" 2>/dev/null | wc -l)" \
		"$(losetup -a | wc -l)"
}

echo "== attach latency: one device, built-in hotplug vs $script"
"$vbdctl" sim start --guests 1 >/dev/null || { cat "$VBD_SIM_DIR/host.log"; exit 1; }
truncate -s 64M "$work/file.img" "$work/blk.img"
loopdev=$(losetup -f --show "$work/blk.img") || { echo "attach_bench: no loop device"; exit 1; }
memory "before"
"$bench" latency --file "$work/file.img" --blockdev "$loopdev" \
	${script:+--script "$script"} --vbdctl "$vbdctl" \
	--iterations "$lat_n" --script-iterations "$lat_script_n" --rounds "$lat_rounds"
memory "after"
"$vbdctl" sim stop >/dev/null
losetup -d "$loopdev"
loopdev=

# The other placement: every process of the host (store, simulated
# hypervisor, the drivers) and this toolstack on one CPU.  A handoff
# between processes on two CPUs wakes the other one (store_bench's split
# echo above against its same-CPU echo says what that costs here).
if command -v taskset >/dev/null; then
	echo
	echo "== attach latency, the host and the bench on one CPU (taskset -c 0)"
	taskset -c 0 "$vbdctl" sim start --guests 1 >/dev/null || { cat "$VBD_SIM_DIR/host.log"; exit 1; }
	taskset -c 0 "$bench" latency --file "$work/file.img" --iterations "$lat_n" \
		--script-iterations 0 --rounds "$lat_rounds"
	"$vbdctl" sim stop >/dev/null
else
	echo "attach_bench: no taskset (util-linux); the one-CPU latency run skipped"
fi

echo
echo "== scale: N devices over $guests guests, 4 per guest, attached one by one, then detached"
t0=$(date +%s%N)
"$vbdctl" sim start --guests "$guests" >/dev/null || { tail "$VBD_SIM_DIR/host.log"; exit 1; }
echo "(sim start --guests $guests: $((($(date +%s%N) - t0) / 1000000)) ms; fd limit $(ulimit -n))"
mkdir -p "$work/files"
memory "before"
out=$work/scale.txt
: > "$out"
for i in $(seq "$reps"); do
	"$bench" scale --devices "$small" --dir "$work/files" | tee -a "$out"
done
memory "after N=$small x $reps"
"$bench" scale --devices "$large" --dir "$work/files" | tee -a "$out"
memory "after N=$large"
if [ -n "$script" ]; then
	for i in $(seq "$reps"); do
		"$bench" scale --devices "$script_small" --dir "$work/files" --script "$script" |
			tee -a "$out"
	done
	if [ "$script_large" != 0 ]; then
		"$bench" scale --devices "$script_large" --dir "$work/files" --script "$script" |
			tee -a "$out"
	fi
fi
echo
echo "== bulk: N=$large over $guests guests through vbd_dev_attach(), K in flight (0: all)"
for k in $bulk_k; do
	"$bench" bulk --devices "$large" --dir "$work/files" --in-flight "$k" | tee -a "$out"
done
memory "after bulk"
"$vbdctl" sim stop >/dev/null

echo
# Per label and N: the median over the runs of total/N (attach + detach), and
# of the per-attach p50 + per-detach p50, which one slow attach cannot move.
# The scale runs' rows only: the bulk runs' share the file (and N).
summary() {  # summary LABEL N
	awk -v l="$1" -v n="$2" '$1 == "RESULT" && $2 == "scale" && $3 == l && $4 == n { print $5 + $6, $9 + $10 }' "$out" |
		sort -n | awk '{ c[NR] = $1; p[NR] = $2 } END {
			if (NR) printf "%.3f %.3f %d\n", c[int((NR + 1) / 2)], p[int((NR + 1) / 2)], NR }'
}
verdict() {  # verdict WHAT SMALL LARGE
	local s l
	s=$(summary "$1" "$2") l=$(summary "$1" "$3")
	[ -n "$s" ] && [ -n "$l" ] || return 0
	set -- "$1" "$2" "$3" $s $l
	awk -v w="$1" -v ns="$2" -v nl="$3" -v cs="$4" -v ps="$5" -v rs="$6" -v cl="$7" -v pl="$8" \
	    -v csv="${BENCH_CSV_DIR:+$BENCH_CSV_DIR/attach_bench.csv}" 'BEGIN {
		r = cl / cs
		printf "%s per-device cost (attach+detach) at N=%d: %.3f ms; at N=%d: %.3f ms (median of %d runs)\n", w, nl, cl, ns, cs, rs
		printf "  ratio %.2fx (p50 attach + p50 detach: %.3f vs %.3f ms, %.2fx)\n", r, pl, ps, pl / ps
		if (w == "builtin")
			printf "target per-device cost N=%d <= 1.5x N=%d: %.2fx  %s\n", nl, ns, r, r <= 1.5 ? "PASS" : "MISS"
		# The same as a CSV row (bench/README.md); the baseline is N=small.
		if (csv != "")
			printf "attach_bench,mode=scale,%s,attach+detach,,,,%d,per_device_median,%.6g,ms,%.6g,%.6g,%s,%s,median of %d runs against N=%d\n", w, nl, cl, cs, r, w == "builtin" ? "<=1.5" : "", w == "builtin" ? (r <= 1.5 ? "PASS" : "MISS") : "", rs, ns >> csv
	}'
}
verdict builtin "$small" "$large"
[ -n "$script" ] && verdict script "$script_small" "$script_large"
