/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static struct {
	FILE *rows, *pcts;          /* pcts: opened at its first row */
	const char *bench;
	char config[256];
	char pct_path[4096 + 8];
	bool pct_failed;            /* said once */
} csv;

static const char row_header[] =
	"bench,config,workload,op,qd,size,queues,n,metric,value,unit,baseline,ratio,target,"
	"verdict,note\n";
static const char pct_header[] = "bench,config,workload,metric,pct,value,unit\n";

static FILE *csv_open(const char *path, const char *header)
{
	FILE *f = fopen(path, "ae");

	if (!f)
		return NULL;
	if (ftell(f) == 0)
		fputs(header, f);
	return f;
}

int bench_csv_init(const char *bench, int *argc, char **argv)
{
	char path[4096];
	const char *dir = getenv("BENCH_CSV_DIR"), *file = NULL;
	size_t len;
	int i, j;

	if (csv.rows)
		fclose(csv.rows);
	if (csv.pcts)
		fclose(csv.pcts);
	csv.rows = csv.pcts = NULL;
	csv.config[0] = '\0';
	csv.pct_path[0] = '\0';
	csv.pct_failed = false;
	csv.bench = bench;
	for (i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--csv"))
			continue;
		if (i + 1 >= *argc) {
			fprintf(stderr, "%s: --csv needs a file\n", bench);
			return -EINVAL;
		}
		file = argv[i + 1];
		for (j = i; j + 2 <= *argc; j++)
			argv[j] = argv[j + 2];
		*argc -= 2;
		break;
	}
	if (file)
		len = (size_t)snprintf(path, sizeof(path), "%s", file);
	else if (dir && *dir)
		len = (size_t)snprintf(path, sizeof(path), "%s/%s.csv", dir, bench);
	else
		return 0;
	if (len >= sizeof(path))
		return -ENAMETOOLONG;
	if (len > 4 && !strcmp(path + len - 4, ".csv"))
		len -= 4;
	if (!(csv.rows = csv_open(path, row_header))) {
		int r = -errno;

		fprintf(stderr, "%s: %s: %s\n", bench, path, strerror(errno));
		return r;
	}
	snprintf(csv.pct_path, sizeof(csv.pct_path), "%.*s-pct.csv", (int)len, path);
	return 0;
}

void bench_csv_config(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(csv.config, sizeof(csv.config), fmt, ap);
	va_end(ap);
}

void bench_csv_field(FILE *f, const char *s)
{
	const char *p;

	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		for (p = s; *p; p++)
			fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, f);
		return;
	}
	fputc('"', f);
	for (p = s; *p; p++) {
		if (*p == '"')
			fputc('"', f);
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, f);
	}
	fputc('"', f);
}

static void csv_count(FILE *f, unsigned long v)
{
	if (v)
		fprintf(f, "%lu", v);
	fputc(',', f);
}

void bench_csv_row(const bench_row *r)
{
	FILE *f = csv.rows;

	if (!f)
		return;
	bench_csv_field(f, csv.bench);
	fputc(',', f);
	bench_csv_field(f, csv.config);
	fputc(',', f);
	bench_csv_field(f, r->workload);
	fputc(',', f);
	bench_csv_field(f, r->op);
	fputc(',', f);
	csv_count(f, r->qd);
	csv_count(f, r->size);
	csv_count(f, r->queues);
	csv_count(f, r->n);
	bench_csv_field(f, r->metric);
	fprintf(f, ",%.6g,", r->value);
	bench_csv_field(f, r->unit);
	if (r->baseline != 0)
		fprintf(f, ",%.6g,%.6g,", r->baseline, r->value / r->baseline);
	else
		fputs(",,,", f);
	bench_csv_field(f, r->target);
	fputc(',', f);
	bench_csv_field(f, r->verdict);
	fputc(',', f);
	bench_csv_field(f, r->note);
	fputc('\n', f);
	fflush(f);
}

void bench_csv_pcts(const char *workload, const char *metric, const samples *s, double div,
                    const char *unit)
{
	FILE *f;
	int p;

	if (!csv.rows || s->n == 0 || csv.pct_failed)
		return;
	if (!csv.pcts && !(csv.pcts = csv_open(csv.pct_path, pct_header))) {
		fprintf(stderr, "%s: %s: %s\n", csv.bench, csv.pct_path, strerror(errno));
		csv.pct_failed = true;
		return;
	}
	f = csv.pcts;
	for (p = 0; p <= 100; p++) {
		bench_csv_field(f, csv.bench);
		fputc(',', f);
		bench_csv_field(f, csv.config);
		fputc(',', f);
		bench_csv_field(f, workload);
		fputc(',', f);
		bench_csv_field(f, metric);
		fprintf(f, ",%d,%.6g,", p, bench_pct_ns(s, p) / div);
		bench_csv_field(f, unit);
		fputc('\n', f);
	}
	fflush(f);
}

const char *bench_verdict(bool pass)
{
	return pass ? "PASS" : "MISS";
}
