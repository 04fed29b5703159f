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

#endif
