/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void bench_sort(samples *s)
{
	qsort(s->ns, s->n, sizeof(uint64_t), cmp_u64);
}

double bench_pct_ns(const samples *s, double p)
{
	size_t k;

	if (s->n == 0)
		return 0;
	k = (size_t)(p / 100.0 * (double)s->n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > s->n)
		k = s->n;
	return (double)s->ns[k - 1];
}

double bench_median_ns(const samples *s)
{
	if (s->n == 0)
		return 0;
	if (s->n % 2)
		return (double)s->ns[s->n / 2];
	return ((double)s->ns[s->n / 2 - 1] + (double)s->ns[s->n / 2]) / 2.0;
}

double bench_mean_ns(const samples *s, size_t lo, size_t hi)
{
	double sum = 0;
	size_t i;

	if (hi <= lo)
		return 0;
	for (i = lo; i < hi; i++)
		sum += (double)s->ns[i];
	return sum / (double)(hi - lo);
}

int bench_parse_count(const char *s, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 100000000ul)
		return -EINVAL;
	*ret = v;
	return 0;
}

void bench_on_done(vbd_ctx *c, int result, const char *msg, void *ud)
{
	bench_done *d = ud;

	(void)c;
	d->called = true;
	d->result = result;
	snprintf(d->msg, sizeof(d->msg), "%s", msg);
}
