/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the benchmarks share: the clock, samples and their statistics, and
 * the parsing of count arguments.
 *
 * Example: 3 samples of 5, 1 and 9 ms, sorted to 1, 5, 9:
 * bench_pct_ns(s, 50) is 5 ms (the nearest rank, ceil(0.5 * 3) = 2nd),
 * bench_pct_ns(s, 99) 9 ms, bench_median_ns(s) 5 ms, bench_mean_ns(s, 0, 2)
 * 3 ms.
 */
#ifndef VBD_BENCH_COMMON_H
#define VBD_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vbd/ctx.h"

typedef struct samples {
	uint64_t *ns;
	size_t n;
} samples;

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Sorts the samples in place, as the statistics below expect. */
void bench_sort(samples *s);
/* Nearest-rank percentile p (0..100] of sorted samples; 0 when empty. */
double bench_pct_ns(const samples *s, double p);
/* Median of sorted samples (the mean of the middle two for an even count). */
double bench_median_ns(const samples *s);
/* Mean of samples [lo, hi) in the order they were taken; 0 when empty. */
double bench_mean_ns(const samples *s, size_t lo, size_t hi);

/* A decimal count up to 100000000 into ret.  0 or -EINVAL. */
int bench_parse_count(const char *s, unsigned long *ret);

/* How an attach or detach ended: bench_on_done, as its done callback
 * (vbd_dev_done_fn), fills the bench_done its userdata points to. */
typedef struct bench_done {
	bool called;
	int result;
	char msg[512];
} bench_done;
void bench_on_done(vbd_ctx *c, int result, const char *msg, void *ud);

/*
 * Results as CSV, for bench/plot.sh.  bench_csv_init() takes "--csv FILE"
 * out of argv; without it, BENCH_CSV_DIR names a directory and the file is
 * DIR/<bench>.csv; with neither, the calls below do nothing.  Rows are
 * appended (the runs of one program with other options share a file) and
 * the header goes first into an empty file.  Percentiles go to a second file
 * beside it, <file without .csv>-pct.csv, made at their first row.
 *
 * Example: store_bench --pin same, its write median 21.4 us against the
 * echo's 9.8, target <= 3x, gives the row
 *   store_bench,pin=same,write,,,,,,median,21.4,us,9.8,2.18367,<=3,PASS,
 * (workload, op, qd, size, queues, n: empty where a number is 0 or a string
 * NULL; ratio = value / baseline, empty without a baseline).
 */
typedef struct bench_row {
	const char *workload;
	const char *op;             /* read, write, attach, ... */
	unsigned long qd, size, queues, n;
	const char *metric;
	double value;
	const char *unit;
	double baseline;            /* 0: none */
	const char *target;         /* "<=1.5", ">=0.80"; NULL: none */
	const char *verdict;        /* "PASS", "MISS"; NULL: no target */
	const char *note;           /* why a miss, a failure count; NULL: none */
} bench_row;

/* 0 when CSV is off or opened, -errno when the file cannot be opened. */
int bench_csv_init(const char *bench, int *argc, char **argv);
/* The run's options that are no column (printf-like), e.g. "engine=uring". */
void bench_csv_config(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bench_csv_row(const bench_row *r);
/* p0, p1, ..., p100 (nearest rank) of sorted samples, in ns / div unit. */
void bench_csv_pcts(const char *workload, const char *metric, const samples *s, double div,
                    const char *unit);
/* "PASS" or "MISS". */
const char *bench_verdict(bool pass);
/* Writes s as one CSV field: quoted if it holds a comma, quote or newline,
 * control characters as '?' (notes can carry a peer's message). */
void bench_csv_field(FILE *f, const char *s);

#endif
