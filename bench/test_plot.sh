#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/plot.sh on a small CSV of each benchmark: each of the four plots is
# drawn as PNG and SVG and holds what its rows say (the series names and the
# run labels appear in the SVG); a directory without CSV draws nothing and
# fails.  Exit 77 (skipped) without gnuplot (Debian: gnuplot-nox, in `make
# deps`).
#   test_plot.sh SOURCE_DIR
set -eu

src=$1
command -v gnuplot >/dev/null 2>&1 || { echo "SKIP: gnuplot not installed (gnuplot-nox)"; exit 77; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail=0
H=bench,config,workload,op,qd,size,queues,n,metric,value,unit,baseline,ratio,target,verdict,note

cat >"$t/datapath_bench.csv" <<CSV
$H
datapath_bench,backing=file engine=uring zero_copy=0,4k-randread QD32,read,32,4096,1,,iops,150000,IOPS,400000,0.375,>=0.80,MISS,
datapath_bench,backing=file engine=uring zero_copy=0,1m-seqwrite QD8,write,8,1048576,1,,bandwidth,2500,MB/s,6100,0.41,>=0.90,MISS,"a ""quoted"", note"
datapath_bench,backing=loop engine=sync zero_copy=1,1m-seqwrite QD8,write,8,1048576,2,,bandwidth,3000,MB/s,6000,0.5,>=0.90,MISS,
CSV
cat >"$t/attach_bench-pct.csv" <<CSV
bench,config,workload,metric,pct,value,unit
attach_bench,mode=latency,builtin-file,attach,0,1.5,ms
attach_bench,mode=latency,builtin-file,attach,100,9,ms
attach_bench,mode=latency,builtin-file,detach,0,1,ms
attach_bench,mode=latency,script-file,attach,0,80,ms
attach_bench,mode=latency,script-file,attach,100,190,ms
attach_bench,mode=latency cpus=1,builtin-file,attach,0,0.7,ms
attach_bench,mode=latency cpus=1,builtin-file,attach,100,1.4,ms
CSV
cat >"$t/attach_bench.csv" <<CSV
$H
attach_bench,mode=latency,builtin-file,attach,,,,,p50,2.5,ms,,,,,
attach_bench,mode=scale,builtin,attach+detach,,,,10,per_device,5.5,ms,,,,,
attach_bench,mode=scale,builtin,attach+detach,,,,1000,per_device,11,ms,,,,,3 failed
attach_bench,mode=scale,script,attach+detach,,,,10,per_device,110,ms,,,,,
CSV
cat >"$t/mem_bench.csv" <<CSV
$H
mem_bench,order=0,idle,,,,1,1000,rss_per_device,14.7,KiB,,,<=64,PASS,
mem_bench,order=0,idle,,,,1,1000,heap_per_device,2.7,KiB,,,,,
mem_bench,order=0,idle,,,,4,500,rss_per_device,55.1,KiB,,,<=64,PASS,
mem_bench,order=0,idle,,,,4,500,counted_per_device,4.5,KiB,,,,,
mem_bench,order=0,used,,,,4,500,rss_per_device,187.7,KiB,,,,,
CSV

out=$(sh "$src/bench/plot.sh" "$t" 2>&1) || { echo "plot.sh failed:"; echo "$out"; exit 1; }
# expect PLOT TEXT...: PLOT.png is a PNG, PLOT.svg an SVG holding each TEXT.
expect() {
	p=$1
	shift
	if [ "$(head -c 8 "$t/$p.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" != 89504e470d0a1a0a ]; then
		echo "$p.png: missing or not a PNG"
		fail=1
	fi
	for s in "$@"; do
		if ! grep -qF -- "$s" "$t/$p.svg" 2>/dev/null; then
			echo "$p.svg: no \"$s\""
			fail=1
		fi
	done
}
expect datapath "backing=file engine=uring zero_copy=0 q1" "backing=loop engine=sync zero_copy=1 q2" \
	"4k-randread QD32" "1m-seqwrite QD8"
expect attach_cdf "builtin-file" "script-file" "builtin-file@1cpu"
expect scale "builtin (each run)" "script (mean)"
expect memory "1000x1 order=0" "500x4 order=0" "counted"

# Nothing to draw: said, and a failure.
mkdir "$t/empty"
if out=$(sh "$src/bench/plot.sh" "$t/empty" 2>&1) || ! printf '%s\n' "$out" | grep -q "nothing to draw"; then
	echo "empty directory: wanted a failure saying nothing to draw, got:"
	printf '%s\n' "$out"
	fail=1
fi
[ "$fail" = 0 ] && echo ok
exit "$fail"
