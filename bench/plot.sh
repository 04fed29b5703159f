#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Draws the CSV that the benchmarks wrote into DIR (make bench: BENCH_CSV_DIR)
# as PNG and SVG beside it, with gnuplot (Debian: gnuplot-nox):
#   datapath.*     ring / direct for each workload (op, size, QD), one bar per
#                  run (backing, engine, zero-copy, queues); from datapath_bench.csv
#   attach_cdf.*   attach latency CDF of each variant (built-in, script, ...),
#                  from the percentiles in attach_bench-pct.csv
#   scale.*        attach+detach cost per device against N, each run a point,
#                  from attach_bench.csv (scale mode)
#   memory.*       blkback's memory per idle device (RSS, heap, counted) for
#                  each N x queues, from mem_bench.csv
# A plot whose CSV is missing or holds no such rows is left out and said so.
# For example, after `make bench`, `bench/plot.sh build/bench/results/<time>`
# writes datapath.png, datapath.svg, ... there.
#
# The columns are those of bench/README.md.  Only the last one (note) can
# hold a quoted comma, so the fields used here are split at commas.
#   plot.sh DIR
set -eu

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: plot.sh DIR  (a directory of benchmark CSV files)" >&2
	exit 2
fi
dir=$1
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "plot.sh: gnuplot not found (Debian: gnuplot-nox); no plots" >&2
	exit 3
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
drawn=0

# draw NAME GNUPLOT-COMMANDS: the same plot as NAME.png and NAME.svg in DIR.
draw() {
	for t in png svg; do
		# noenhanced: names such as zero_copy are text, not markup
		case $t in
		png) term="pngcairo size 1000,600 font 'sans,10'" ;;
		svg) term="svg size 1000,600 dynamic font 'sans,10'" ;;
		esac
		printf 'set terminal %s noenhanced\nset output "%s/%s.%s"\n%s\n' "$term" "$dir" "$1" "$t" "$2" |
			gnuplot
	done
	echo "plot.sh: $dir/$1.png, $dir/$1.svg"
	drawn=$((drawn + 1))
}

# rows FILE: its data rows, or nothing when it is missing.
rows() {
	[ -f "$dir/$1" ] && tail -n +2 "$dir/$1" || true
}

# --- ring against direct ---------------------------------------------------
# One line per workload, one column per run: the ratio.  Field numbers:
# 2 config, 3 workload, 7 queues, 9 metric, 13 ratio.
rows datapath_bench.csv | awk -F, '
	$9 == "iops" || $9 == "bandwidth" {
		run = $2 " q" $7
		if (!(run in ri)) { ri[run] = ++nr; rn[nr] = run }
		if (!($3 in wi)) { wi[$3] = ++nw; wn[nw] = $3 }
		v[wi[$3], ri[run]] = $13
	}
	END {
		if (!nw) exit
		printf "workload"
		for (r = 1; r <= nr; r++) printf "\t\"%s\"", rn[r]
		printf "\n"
		for (w = 1; w <= nw; w++) {
			printf "\"%s\"", wn[w]
			for (r = 1; r <= nr; r++) printf "\t%s", ((w, r) in v) && v[w, r] != "" ? v[w, r] : "-"
			printf "\n"
		}
	}' >"$tmp/datapath"
if [ -s "$tmp/datapath" ]; then
	cols=$(head -n 1 "$tmp/datapath" | awk -F'\t' '{ print NF }')
	draw datapath "
set datafile separator '\t'
set datafile missing '-'
set title 'blkfront -> rings -> blkback against pread/pwrite on the same file (page cache)'
set ylabel 'ring / direct (IOPS or MB/s)'
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key outside right top vertical
set xtics rotate by -25
set grid ytics
plot for [i=2:$cols] '$tmp/datapath' using i:xtic(1) title columnheader(i), \
     0.8 with lines dashtype 2 lc 'gray' title 'target 4k QD32', \
     0.9 with lines dashtype 3 lc 'black' title 'target 1 MiB'"
else
	echo "plot.sh: no datapath_bench rows in $dir; datapath plot left out"
fi

# --- attach latency CDF ----------------------------------------------------
# One block per variant: value, percentile.  Fields: 2 config (cpus=1: the
# run with the host and the bench on one CPU), 3 workload, 4 metric, 5 pct,
# 6 value.
rows attach_bench-pct.csv | awk -F, '
	$4 == "attach" {
		w = $3 ($2 ~ /cpus=1( |$)/ ? "@1cpu" : "")
		if (!(w in vi)) { vi[w] = ++nv; vn[nv] = w }
		k = vi[w]; d[k] = d[k] $6 " " $5 "\n"
	}
	END { for (k = 1; k <= nv; k++) printf "# %s\n%s\n\n", vn[k], d[k] }' >"$tmp/cdf"
names=$(grep '^# ' "$tmp/cdf" | cut -c3- | tr '\n' ' ')
if [ -n "$names" ]; then
	draw attach_cdf "
set title 'attach -> both Connected, one device: distribution over the cycles'
set xlabel 'attach latency (ms, log scale)'
set ylabel 'percentile'
set logscale x
set yrange [0:100]
set key bottom right
set grid
names = '$names'
plot for [i=0:words(names)-1] '$tmp/cdf' index i using 1:2 with steps lw 2 title word(names, i+1)"
else
	echo "plot.sh: no attach_bench percentiles in $dir; attach CDF left out"
fi

# --- cost per device against N --------------------------------------------
# Fields: 3 workload (builtin, script), 8 n, 9 metric, 10 value.
rows attach_bench.csv | awk -F, '
	$9 == "per_device" {
		if (!($3 in li)) { li[$3] = ++nl; ln[nl] = $3 }
		k = li[$3]; d[k] = d[k] $8 " " $10 "\n"
	}
	END { for (k = 1; k <= nl; k++) printf "# %s\n%s\n\n", ln[k], d[k] }' >"$tmp/scale"
names=$(grep '^# ' "$tmp/scale" | cut -c3- | tr '\n' ' ')
if [ -n "$names" ]; then
	draw scale "
set title 'attach + detach, one device after the other: cost per device'
set xlabel 'devices N (log scale)'
set ylabel 'ms per device (total / N)'
set logscale x
set yrange [0:*]
set key top left
set grid
set offsets graph 0.05, graph 0.05, 0, 0
names = '$names'
plot for [i=0:words(names)-1] '$tmp/scale' index i using 1:2 with points pt 7 lc i+1 \\
         title word(names, i+1) . ' (each run)', \\
     for [i=0:words(names)-1] '$tmp/scale' index i using 1:2 smooth unique with lines lc i+1 \\
         title word(names, i+1) . ' (mean)'"
else
	echo "plot.sh: no attach_bench scale rows in $dir; scale plot left out"
fi

# --- memory per device ----------------------------------------------------
# One line per N x queues: RSS, heap, counted of an idle device (the used
# device's RSS row is not drawn).  Fields: 2 config, 3 workload, 7 queues,
# 8 n, 9 metric, 10 value.
rows mem_bench.csv | awk -F, '
	$3 == "idle" && $9 ~ /_per_device$/ {
		run = $8 "x" $7 " " $2
		if (!(run in ri)) { ri[run] = ++nr; rn[nr] = run }
		v[ri[run], $9] = $10
	}
	END {
		if (!nr) exit
		print "run\trss\theap\tcounted"
		for (r = 1; r <= nr; r++) {
			printf "\"%s\"", rn[r]
			for (m = 1; m <= 3; m++) {
				k = (m == 1 ? "rss" : m == 2 ? "heap" : "counted") "_per_device"
				printf "\t%s", (r, k) in v ? v[r, k] : "-"
			}
			printf "\n"
		}
	}' >"$tmp/memory"
if [ -s "$tmp/memory" ]; then
	draw memory "
set datafile separator '\t'
set datafile missing '-'
set title 'blkback memory per idle connected device (N devices x queues, ring order)'
set ylabel 'KiB per device'
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set grid ytics
plot for [i=2:4] '$tmp/memory' using i:xtic(1) title columnheader(i), \
     64 with lines dashtype 2 lc 'gray' title 'target RSS'"
else
	echo "plot.sh: no mem_bench rows in $dir; memory plot left out"
fi

[ "$drawn" -gt 0 ] || { echo "plot.sh: nothing to draw in $dir" >&2; exit 1; }
