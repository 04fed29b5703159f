/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The benchmarks' CSV writer (common.c) on a small fixture: "--csv FILE"
 * taken out of argv, BENCH_CSV_DIR, the header once per file, empty columns,
 * quoting and control characters in a note, ratio = value / baseline, and
 * p0..p100 of three samples.
 */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failed;

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			failed = 1;                                                            \
		}                                                                              \
	} while (0)

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		failed = 1;
		buf[0] = '\0';
		return buf;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void expect_text(const char *path, const char *want)
{
	const char *got = slurp(path);

	if (strcmp(got, want)) {
		fprintf(stderr, "%s:\n--- got\n%s--- wanted\n%s---\n", path, got, want);
		failed = 1;
	}
}

static const char header[] =
	"bench,config,workload,op,qd,size,queues,n,metric,value,unit,baseline,ratio,target,"
	"verdict,note\n";

int main(void)
{
	char dir[] = "/tmp/bench_csv.XXXXXX", file[256], pct[256], other[256], cmd[300];
	char a0[] = "x", a1[] = "--pin", a2[] = "same", a3[] = "--csv", a5[] = "--quick";
	char bad[] = "/nonexistent-dir/x.csv";
	char *argv[7] = { a0, a1, a2, a3, file, a5, NULL };
	uint64_t ns[3] = { 5000000, 1000000, 9000000 };
	samples s = { ns, 3 };
	int argc = 6, p;
	char want[16384];
	size_t off;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(file, sizeof(file), "%s/run.csv", dir);
	snprintf(pct, sizeof(pct), "%s/run-pct.csv", dir);

	/* --csv FILE: taken out of argv, the rest kept in order. */
	CHECK(bench_csv_init("store_bench", &argc, argv) == 0);
	CHECK(argc == 4);
	CHECK(!strcmp(argv[1], "--pin") && !strcmp(argv[2], "same") && !strcmp(argv[3], "--quick"));
	CHECK(argv[4] == NULL);
	bench_csv_config("pin=%s", "same");
	bench_csv_row(&(bench_row){ .workload = "write", .metric = "median", .value = 21.4,
	                            .unit = "us", .baseline = 9.8, .target = "<=3",
	                            .verdict = bench_verdict(true) });
	bench_csv_row(&(bench_row){ .workload = "4k-randread", .op = "read", .qd = 32,
	                            .size = 4096, .queues = 2, .n = 0, .metric = "iops",
	                            .value = 1e6, .unit = "IOPS", .baseline = 2e6,
	                            .target = ">=0.80", .verdict = bench_verdict(false),
	                            .note = "cause: \"slow\", load\n13\x1b[2J" });
	bench_sort(&s);
	bench_csv_pcts("builtin-file", "attach", &s, 1e6, "ms");

	/* The same file again (another run of the program): no second header. */
	argc = 6;
	argv[1] = a1, argv[2] = a2, argv[3] = a3, argv[4] = file, argv[5] = a5;
	CHECK(bench_csv_init("store_bench", &argc, argv) == 0);
	bench_csv_row(&(bench_row){ .workload = "read", .metric = "median", .value = 3,
	                            .unit = "us" });

	expect_text(file, "bench,config,workload,op,qd,size,queues,n,metric,value,unit,baseline,"
	                  "ratio,target,verdict,note\n"
	                  "store_bench,pin=same,write,,,,,,median,21.4,us,9.8,2.18367,<=3,PASS,\n"
	                  "store_bench,pin=same,4k-randread,read,32,4096,2,,iops,1e+06,IOPS,2e+06,"
	                  "0.5,>=0.80,MISS,\"cause: \"\"slow\"\", load?13?[2J\"\n"
	                  "store_bench,,read,,,,,,median,3,us,,,,,\n");
	off = (size_t)snprintf(want, sizeof(want), "bench,config,workload,metric,pct,value,unit\n");
	for (p = 0; p <= 100; p++)
		off += (size_t)snprintf(want + off, sizeof(want) - off,
		                        "store_bench,pin=same,builtin-file,attach,%d,%d,ms\n", p,
		                        p == 0 ? 1 : p <= 33 ? 1 : p <= 66 ? 5 : 9);
	expect_text(pct, want);

	/* BENCH_CSV_DIR: DIR/<bench>.csv. */
	argc = 1;
	setenv("BENCH_CSV_DIR", dir, 1);
	CHECK(bench_csv_init("mem_bench", &argc, argv) == 0);
	bench_csv_row(&(bench_row){ .workload = "idle", .n = 50, .metric = "rss_per_device",
	                            .value = 15000, .unit = "B" });
	snprintf(other, sizeof(other), "%s/mem_bench.csv", dir);
	snprintf(want, sizeof(want), "%smem_bench,,idle,,,,,50,rss_per_device,15000,B,,,,,\n",
	         header);
	expect_text(other, want);
	/* No percentiles, no file for them. */
	snprintf(other, sizeof(other), "%s/mem_bench-pct.csv", dir);
	CHECK(access(other, F_OK) != 0);

	/* Neither: nothing written, no error. */
	unsetenv("BENCH_CSV_DIR");
	CHECK(bench_csv_init("attach_bench", &argc, argv) == 0);
	bench_csv_row(&(bench_row){ .workload = "x", .metric = "y", .value = 1, .unit = "ms" });
	snprintf(other, sizeof(other), "%s/attach_bench.csv", dir);
	CHECK(access(other, F_OK) != 0);

	/* An unwritable place is an error, said once. */
	argc = 3;
	argv[1] = a3, argv[2] = bad;
	CHECK(bench_csv_init("store_bench", &argc, argv) == -ENOENT);
	/* --csv without a file. */
	argc = 2;
	argv[1] = a3;
	CHECK(bench_csv_init("store_bench", &argc, argv) == -EINVAL);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		failed = 1;
	if (failed)
		return 1;
	printf("ok\n");
	return 0;
}
