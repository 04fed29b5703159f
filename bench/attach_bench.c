/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * attach_bench - how long an attach takes to reach both-Connected, and how
 * that cost grows with the number of devices on the host.
 *
 * It is a toolstack client of a running simulated host (`vbdctl sim start`,
 * found through $XENSTORED_PATH): the bundled blkback in dom0 and a guest
 * process running blkfront for each of its devices, so an attach here is
 * the whole thing (nodes, hotplug, both drivers' handshake).  It drives the
 * library directly, vbd_dev_attach_wait() and vbd_dev_detach_wait() on one
 * context, so that no process start is timed unless asked for (--vbdctl).
 *
 *   latency  one device attached and detached again, over and over, in
 *            interleaved rounds (a slice of each variant per round, the
 *            order rotating, so that drift in machine load hits all alike):
 *              builtin-file   built-in hotplug, a file (a loop device is
 *                             set up and torn down on every attach)
 *              builtin-blk    built-in hotplug, a block device (--blockdev)
 *              script-file    the same attaches through --script, as libxl
 *              script-blk     runs it (e.g. /etc/xen/scripts/block)
 *              cli-file       `vbdctl attach` and `vbdctl detach` spawned and
 *                             waited for (--vbdctl), to show what a process
 *                             start adds
 *            Prints p50/p99 of attach and detach, and the ratios against
 *            builtin-file: the targets are p50 <= 1 ms and script >= 20x.
 *
 *   scale    N devices (4 per guest: guest1 xvdb..xvde, guest2 ...), each on
 *            a sparse file of its own, attached one after the other, then
 *            detached one after the other.  Prints the totals and the cost
 *            per device; run it for two N in the same host and compare (the
 *            script attach_bench.sh does).
 *
 *   bulk     the same N devices attached all through the non-blocking
 *            vbd_dev_attach() on one context, K in flight at once, until all
 *            are Connected, then detached the same way (vbd_dev_detach()).
 *            Prints the wall time of each: the target is N=1000 in 2 s.
 *
 * A benchmark reports; it never fails on a timing.  Exit status is non-zero
 * only if it could not run (an attach or detach failed: the library's
 * message is printed).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <getopt.h>
#include <sched.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "common.h"
#include "steps.h"
#include "vbd/ctx.h"
#include "vbd/dev.h"
#include "vbd/disk.h"

#define DISKS_PER_GUEST 4
/* The latency loop rotates over this many vdevs: see run_latency(). */
#define ROTATE 8
#define FILE_BYTES (64ll << 20)     /* sparse: costs no space */

extern char **environ;

static double pct_ms(const samples *s, double p)
{
	return bench_pct_ns(s, p) / 1e6;
}

static double mean_ms(const samples *s, size_t lo, size_t hi)
{
	return bench_mean_ns(s, lo, hi) / 1e6;
}

/* --- one device ------------------------------------------------------------------ */

typedef struct bench {
	vbd_ctx *c;
	struct xs_handle *xs;       /* only to clean up after a failed cycle */
	unsigned timeout_ms;
	char why[512];              /* the last failed attach or detach, for the CSV */
} bench;

static int parse_spec(const char *vdev, const char *target, bool readonly, vbd_disk_spec **ret)
{
	vbd_errbuf err = { "" };
	char s[PATH_MAX + 96];
	const char *one[1] = { s };
	int r;

	snprintf(s, sizeof(s), "format=raw,vdev=%s,access=%s,target=%s", vdev,
	         readonly ? "ro" : "rw", target);
	r = vbd_disk_spec_parse(1, one, ret, &err);
	if (r < 0)
		fprintf(stderr, "attach_bench: %s: %s\n", s, err.msg);
	return r;
}

static int attach_one(bench *b, unsigned domid, const vbd_disk_spec *spec, const char *script)
{
	vbd_attach_options o = VBD_ATTACH_OPTIONS_INIT;
	int r;

	o.domid = domid;
	o.spec = spec;
	o.script = script;
	o.timeout_ms = b->timeout_ms;
	r = vbd_dev_attach_wait(b->c, &o);
	if (r < 0) {
		snprintf(b->why, sizeof(b->why), "attach %s to domain %u: %s", spec->vdev, domid,
		         vbd_ctx_last_error(b->c));
		fprintf(stderr, "attach_bench: %s\n", b->why);
	}
	return r;
}

static int detach_one(bench *b, unsigned domid, uint32_t devid)
{
	vbd_detach_options o = VBD_DETACH_OPTIONS_INIT;
	int r;

	o.domid = domid;
	o.devid = devid;
	o.timeout_ms = b->timeout_ms;
	r = vbd_dev_detach_wait(b->c, &o);
	if (r < 0) {
		snprintf(b->why, sizeof(b->why), "detach %u from domain %u: %s", devid, domid,
		         vbd_ctx_last_error(b->c));
		fprintf(stderr, "attach_bench: %s\n", b->why);
	}
	return r;
}

static void cleanup_error_node(bench *b, unsigned domid, uint32_t devid)
{
	char path[128];

	if (!b->xs)
		return;
	snprintf(path, sizeof(path), "/local/domain/0/error/backend/vbd/%u/%u", domid, devid);
	xs_rm(b->xs, XBT_NULL, path);
	snprintf(path, sizeof(path), "/local/domain/%u/error/device/vbd/%u", domid, devid);
	xs_rm(b->xs, XBT_NULL, path);
}

/* A counter from the embedded store's CONTROL stats, or -1. */
static long long store_stat(bench *b, const char *name)
{
	char *out, *p;
	long long v = -1;

	if (!b->xs)
		return -1;
	out = xs_control_command(b->xs, "stats", NULL, 0);
	if (!out)
		return -1;
	p = strstr(out, name);
	if (p)
		v = strtoll(p + strlen(name), NULL, 10);
	free(out);
	return v;
}

/* The store's CONTROL "conns" (a line per connection: pid, domid, events,
 * then "type count" pairs), summed per process, so that a cycle's requests
 * can be told apart by who made them and of which type. */
#define CONN_PROCS 16
#define CONN_TYPES 24
typedef struct {
	long pid;
	unsigned domid;
	long long events, requests;
	char type[CONN_TYPES][20];
	long long count[CONN_TYPES];
} conn_proc;

static conn_proc *conn_find(conn_proc *p, size_t *n, long pid)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (p[i].pid == pid)
			return &p[i];
	if (*n == CONN_PROCS)
		return NULL;
	memset(&p[*n], 0, sizeof(p[*n]));
	p[*n].pid = pid;
	return &p[(*n)++];
}

static void conn_add(conn_proc *e, const char *type, long long count)
{
	size_t t;

	e->requests += count;
	for (t = 0; t < CONN_TYPES && e->type[t][0]; t++)
		if (strcmp(e->type[t], type) == 0)
			break;
	if (t == CONN_TYPES)
		return;
	snprintf(e->type[t], sizeof(e->type[t]), "%s", type);
	e->count[t] += count;
}

/* Returns the number of processes in p, or -1 without a store to ask. */
static int conns_read(bench *b, conn_proc *p)
{
	char *out, *line, *save = NULL;
	size_t n = 0;

	if (!b->xs || !(out = xs_control_command(b->xs, "conns", NULL, 0)))
		return -1;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char type[20];
		long pid;
		unsigned domid;
		long long ev, cnt;
		int used;
		conn_proc *e;
		const char *q;

		if (sscanf(line, "pid %ld domid %u events %lld%n", &pid, &domid, &ev, &used) != 3)
			continue;
		if (!(e = conn_find(p, &n, pid)))
			continue;
		e->domid = domid;
		e->events += ev;
		for (q = line + used; sscanf(q, " %19s %lld%n", type, &cnt, &used) == 2; q += used)
			conn_add(e, type, cnt);
	}
	free(out);
	return (int)n;
}

/* Which part of the simulated host a process is, from its command line. */
static void proc_role(long pid, char *buf, size_t size)
{
	char path[64], cmd[512];
	const char *role = "other";
	size_t len, i;
	FILE *f;

	if (pid == (long)getpid()) {
		snprintf(buf, size, "toolstack (this program, hotplug in it)");
		return;
	}
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	f = fopen(path, "r");
	len = f ? fread(cmd, 1, sizeof(cmd) - 1, f) : 0;
	if (f)
		fclose(f);
	for (i = 0; i < len; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	cmd[len] = '\0';
	if (strstr(cmd, " backend"))
		role = "backend";
	else if (strstr(cmd, " frontend"))
		role = "guest frontend";
	else if (strstr(cmd, " sim "))
		role = "sim host";
	snprintf(buf, size, "%s", role);
}

/* Prints what each process asked of the store between two reads of
 * "conns", per cycle of m; returns the sum over the processes. */
static double conns_print(const conn_proc *p0, int n0, const conn_proc *p1, int n1, unsigned long m)
{
	double total = 0;
	int i, j;
	size_t t, u;

	for (i = 0; i < n1; i++) {
		const conn_proc *a = NULL, *e = &p1[i];
		char role[64], types[512];
		long long rq = e->requests, ev = e->events;
		size_t tl = 0;

		for (j = 0; j < n0; j++)
			if (p0[j].pid == e->pid)
				a = &p0[j];
		if (a) {
			rq -= a->requests;
			ev -= a->events;
		}
		if (rq == 0 && ev == 0)
			continue;
		types[0] = '\0';
		for (t = 0; t < CONN_TYPES && e->type[t][0]; t++) {
			long long c = e->count[t];

			for (u = 0; a && u < CONN_TYPES && a->type[u][0]; u++)
				if (strcmp(a->type[u], e->type[t]) == 0)
					c -= a->count[u];
			if (c && tl < sizeof(types))
				tl += (size_t)snprintf(types + tl, sizeof(types) - tl, " %s %.1f",
				                       e->type[t], (double)c / (double)m);
		}
		proc_role(e->pid, role, sizeof(role));
		printf("  %-40s domid %u: %6.1f requests,%s; %.1f watch events\n", role, e->domid,
		       (double)rq / (double)m, types, (double)ev / (double)m);
		total += (double)rq / (double)m;
	}
	return total;
}

/* vbdctl with argv, waited for; its output goes to /dev/null unless it fails. */
static int run_cli(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	int status, r;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "attach_bench: %s %s failed (status %#x)\n", argv[0], argv[1], status);
		return -EIO;
	}
	return 0;
}

/* --- CSV ---------------------------------------------------------------------------- */

/* p50 and p99 of sorted attach and detach times as CSV rows (N devices, or 0),
 * and in latency mode (n == 0) the distributions as percentiles. */
static void csv_times(const char *name, unsigned long n, const samples *att, const samples *det,
                      unsigned long failures)
{
	char note[64];

	snprintf(note, sizeof(note), "%lu failed", failures);
	if (n == 0) {
		bench_csv_pcts(name, "attach", att, 1e6, "ms");
		bench_csv_pcts(name, "detach", det, 1e6, "ms");
	}
	bench_csv_row(&(bench_row){ .workload = name, .op = "attach", .n = n, .metric = "p50",
	                            .value = pct_ms(att, 50), .unit = "ms",
	                            .note = failures ? note : NULL });
	bench_csv_row(&(bench_row){ .workload = name, .op = "attach", .n = n, .metric = "p99",
	                            .value = pct_ms(att, 99), .unit = "ms" });
	bench_csv_row(&(bench_row){ .workload = name, .op = "detach", .n = n, .metric = "p50",
	                            .value = pct_ms(det, 50), .unit = "ms" });
	bench_csv_row(&(bench_row){ .workload = name, .op = "detach", .n = n, .metric = "p99",
	                            .value = pct_ms(det, 99), .unit = "ms" });
}

/* A target line as a CSV row: value (against baseline, when not 0). */
static void csv_target(const char *name, const char *metric, double value, const char *unit,
                       double baseline, const char *target, bool pass)
{
	bench_csv_row(&(bench_row){ .workload = name, .op = "attach", .metric = metric,
	                            .value = value, .unit = unit, .baseline = baseline,
	                            .target = target, .verdict = bench_verdict(pass) });
}

/* A run that stopped, as a CSV row with its cause, so that the CSV says why
 * a variant has no figures. */
static void csv_failed(const char *name, const char *why)
{
	bench_csv_row(&(bench_row){ .workload = name, .op = "attach", .metric = "run_failed",
	                            .value = 1, .unit = "runs", .note = why });
}

/* --- latency ------------------------------------------------------------------------ */

/* The CPUs this process may run on: 1 when the bench and the simulated
 * host it drives were put on one (attach_bench.sh's second latency run),
 * where no handoff between the processes crosses CPUs. */
static int cpus_allowed(void)
{
	cpu_set_t cs;

	return sched_getaffinity(0, sizeof(cs), &cs) == 0 ? CPU_COUNT(&cs) : 0;
}

enum { V_BUILTIN_FILE, V_BUILTIN_BLK, V_SCRIPT_FILE, V_SCRIPT_BLK, V_CLI_FILE, V_COUNT };
static const char *const vname[V_COUNT] = {
	"builtin-file", "builtin-blk", "script-file", "script-blk", "cli-file"
};

typedef struct variant {
	bool on;
	unsigned long iterations, failures;
	vbd_disk_spec *spec[ROTATE];
	const char *script;
	samples attach, detach;
} variant;

typedef struct latency_args {
	const char *guest, *file, *blockdev, *script, *vbdctl;
	unsigned long iterations, script_iterations, rounds, warmup;
	unsigned nvdev;            /* vdevs rotated over: ROTATE, or 1 */
	unsigned long cycle;       /* all variants: picks the vdev */
	int64_t call0, call1;      /* the last attach call's bounds, CLOCK_REALTIME */
} latency_args;

static const char *const rot_vdev[ROTATE] = {
	"xvdb", "xvdc", "xvdd", "xvde", "xvdf", "xvdg", "xvdh", "xvdi"
};

static int one_cycle(bench *b, variant *v, int which, unsigned domid, latency_args *a,
                     uint64_t *ret_attach, uint64_t *ret_detach)
{
	unsigned k = (unsigned)(a->cycle++ % a->nvdev);
	const vbd_disk_spec *spec = v->spec[k];
	uint64_t t0, t1, t2;
	int r;

	if (which == V_CLI_FILE) {
		char s[PATH_MAX + 96];
		char *att[] = { (char *)a->vbdctl, "attach", (char *)a->guest, s, NULL };
		char *det[] = { (char *)a->vbdctl, "detach", (char *)a->guest, (char *)rot_vdev[k],
		                NULL };

		snprintf(s, sizeof(s), "format=raw,vdev=%s,access=rw,target=%s", rot_vdev[k],
		         a->file);
		t0 = bench_now_ns();
		r = run_cli(att);
		t1 = bench_now_ns();
		if (r == 0)
			r = run_cli(det);
		t2 = bench_now_ns();
	} else {
		a->call0 = bench_steps_now();
		t0 = bench_now_ns();
		r = attach_one(b, domid, spec, v->script);
		t1 = bench_now_ns();
		a->call1 = bench_steps_now();
		if (r == 0)
			r = detach_one(b, domid, spec->devid);
		t2 = bench_now_ns();
		if (r < 0) {
			/* Whatever is left of it, so that the next cycle can run. */
			vbd_detach_options o = VBD_DETACH_OPTIONS_INIT;

			o.domid = domid;
			o.devid = spec->devid;
			o.timeout_ms = 1000;
			o.force = true;
			vbd_dev_detach_wait(b->c, &o);
			/* A driver's error node outlives the device, and the next
			 * attach of this vdev would take it for its own (README.md). */
			cleanup_error_node(b, domid, spec->devid);
		}
	}
	*ret_attach = t1 - t0;
	*ret_detach = t2 - t1;
	return r;
}

/* Why the vdevs rotate: a detach returns when both ends are Closed and the
 * nodes are gone, but the drivers may not have finished with the old device
 * yet, and an attach of the same vdev at once can be taken for the old
 * device coming back (see bench/README.md).  With ROTATE vdevs a path comes
 * back only after ROTATE-1 other cycles.  --same-vdev shows the race. */
static int run_latency(bench *b, latency_args *a)
{
	variant v[V_COUNT] = { { 0 } };
	unsigned domid;
	unsigned long k, round;
	uint64_t ta, td;
	int i, j, r, ncpu = cpus_allowed();
	double base = 0;

	r = vbd_ctx_domain_lookup(b->c, a->guest, &domid);
	if (r < 0) {
		fprintf(stderr, "attach_bench: no domain %s: %s\n", a->guest, vbd_ctx_last_error(b->c));
		return r;
	}
	v[V_BUILTIN_FILE].on = true;
	v[V_BUILTIN_BLK].on = a->blockdev != NULL;
	v[V_SCRIPT_FILE].on = a->script != NULL;
	v[V_SCRIPT_BLK].on = a->script && a->blockdev;
	v[V_CLI_FILE].on = a->vbdctl != NULL;
	for (i = 0; i < V_COUNT; i++) {
		if (!v[i].on)
			continue;
		v[i].iterations = i == V_SCRIPT_FILE || i == V_SCRIPT_BLK ? a->script_iterations
		                                                          : a->iterations;
		v[i].script = i == V_SCRIPT_FILE || i == V_SCRIPT_BLK ? a->script : NULL;
		for (k = 0; k < a->nvdev; k++) {
			r = parse_spec(rot_vdev[k], i == V_BUILTIN_BLK || i == V_SCRIPT_BLK ? a->blockdev
			                                                                   : a->file,
			               false, &v[i].spec[k]);
			if (r < 0)
				goto out;
		}
		v[i].attach.ns = calloc(v[i].iterations, sizeof(uint64_t));
		v[i].detach.ns = calloc(v[i].iterations, sizeof(uint64_t));
		if (!v[i].attach.ns || !v[i].detach.ns) {
			r = -ENOMEM;
			goto out;
		}
	}

	for (i = 0; i < V_COUNT; i++)
		for (k = 0; v[i].on && k < a->warmup; k++) {
			r = one_cycle(b, &v[i], i, domid, a, &ta, &td);
			if (r < 0) {
				fprintf(stderr, "attach_bench: %s, warm-up failed\n", vname[i]);
				csv_failed(vname[i], b->why);
				goto out;
			}
		}

	for (round = 0; round < a->rounds; round++) {
		for (j = 0; j < V_COUNT; j++) {
			unsigned long lo, hi;

			i = (int)((round + (unsigned long)j) % V_COUNT);
			if (!v[i].on)
				continue;
			lo = round * v[i].iterations / a->rounds;
			hi = (round + 1) * v[i].iterations / a->rounds;
			for (k = lo; k < hi; k++) {
				r = one_cycle(b, &v[i], i, domid, a, &ta, &td);
				if (r < 0) {
					/* Reported, not timed; too many and the run is void. */
					fprintf(stderr, "attach_bench: %s, cycle %lu failed\n", vname[i], k);
					if (++v[i].failures > v[i].iterations / 20 + 2) {
						csv_failed(vname[i], b->why);
						goto out;
					}
					continue;
				}
				v[i].attach.ns[v[i].attach.n++] = ta;
				v[i].detach.ns[v[i].detach.n++] = td;
			}
		}
	}

	printf("attach_bench latency: domain %s (%u), vdevs %s..%s, %lu iterations (scripts %lu) "
	       "in %lu interleaved rounds\n", a->guest, domid, rot_vdev[0], rot_vdev[a->nvdev - 1],
	       a->iterations, a->script_iterations, a->rounds);
	printf("  file %s%s%s%s%s; this process on %d CPU%s\n\n", a->file,
	       a->blockdev ? ", block device " : "", a->blockdev ? a->blockdev : "",
	       a->script ? ", script " : "", a->script ? a->script : "", ncpu, ncpu == 1 ? "" : "s");
	printf("%-13s %10s %10s %10s %10s %10s %8s\n", "", "attach p50", "p99", "detach p50", "p99",
	       "x builtin", "failed");
	printf("%-13s %10s %10s %10s %10s %10s\n", "", "(ms)", "(ms)", "(ms)", "(ms)",
	       "(p50)");
	for (i = 0; i < V_COUNT; i++) {
		double p50;

		if (!v[i].on)
			continue;
		bench_sort(&v[i].attach);
		bench_sort(&v[i].detach);
		p50 = pct_ms(&v[i].attach, 50);
		if (i == V_BUILTIN_FILE)
			base = p50;
		printf("%-13s %10.3f %10.3f %10.3f %10.3f %10.1f %8lu\n", vname[i], p50,
		       pct_ms(&v[i].attach, 99), pct_ms(&v[i].detach, 50), pct_ms(&v[i].detach, 99),
		       base > 0 ? p50 / base : 0, v[i].failures);
		csv_times(vname[i], 0, &v[i].attach, &v[i].detach, v[i].failures);
	}
	printf("\n");
	printf("target attach p50 <= 1 ms (builtin-file, %d CPU%s): %.3f ms  %s\n", ncpu,
	       ncpu == 1 ? "" : "s", base, base <= 1.0 ? "PASS" : "MISS");
	csv_target(vname[V_BUILTIN_FILE], "p50", base, "ms", 0, "<=1", base <= 1.0);
	if (v[V_BUILTIN_BLK].on) {
		double p = pct_ms(&v[V_BUILTIN_BLK].attach, 50);

		printf("target attach p50 <= 1 ms (builtin-blk, %d CPU%s):  %.3f ms  %s\n", ncpu,
		       ncpu == 1 ? "" : "s", p, p <= 1.0 ? "PASS" : "MISS");
		csv_target(vname[V_BUILTIN_BLK], "p50", p, "ms", 0, "<=1", p <= 1.0);
		printf("(the loop device's share of builtin-file: %.3f ms)\n", base - p);
	}
	if (v[V_SCRIPT_FILE].on) {
		double s = pct_ms(&v[V_SCRIPT_FILE].attach, 50);

		printf("target script-file/builtin-file >= 20x:   %.1fx  %s\n", s / base,
		       s / base >= 20 ? "PASS" : "MISS");
		csv_target(vname[V_SCRIPT_FILE], "p50", s, "ms", base, ">=20", s / base >= 20);
	}
	if (v[V_SCRIPT_BLK].on) {
		double s = pct_ms(&v[V_SCRIPT_BLK].attach, 50);
		double bb = pct_ms(&v[V_BUILTIN_BLK].attach, 50);

		printf("target script-blk/builtin-blk >= 20x:     %.1fx  %s\n", s / bb,
		       s / bb >= 20 ? "PASS" : "MISS");
		csv_target(vname[V_SCRIPT_BLK], "p50", s, "ms", bb, ">=20", s / bb >= 20);
	}
	if (v[V_CLI_FILE].on)
		printf("(cli-file: the same attach as builtin-file through `vbdctl attach`, a\n"
		       " process start and a new xenstore connection included: +%.3f ms)\n",
		       pct_ms(&v[V_CLI_FILE].attach, 50) - base);

	/* What one cycle costs the store, all clients together (this one, the
	 * backend, the guest): untimed cycles between two stats reads.  Where
	 * the store offers its change trace, the same cycles' handshake steps
	 * are timed from it (its subscription is a connection of its own, no
	 * request counted). */
	{
		conn_proc p0[CONN_PROCS], p1[CONN_PROCS];
		bench_steps *steps = NULL;
		int n0, n1;
		long long rq0, ev0, rq1, ev1;
		unsigned long m = 20;

		if (bench_steps_open(domid, &steps) < 0)
			steps = NULL;
		n0 = conns_read(b, p0);
		rq0 = store_stat(b, "requests");
		ev0 = store_stat(b, "events_sent");
		for (k = 0; k < m; k++) {
			if (one_cycle(b, &v[V_BUILTIN_FILE], V_BUILTIN_FILE, domid, a, &ta, &td) < 0)
				break;
			bench_steps_drain(steps);
			bench_steps_call(steps, a->call0, a->call1);
		}
		rq1 = store_stat(b, "requests");
		ev1 = store_stat(b, "events_sent");
		n1 = conns_read(b, p1);
		if (k == m && rq0 >= 0 && rq1 >= 0) {
			/* The counting's own requests between the two reads (a
			 * "stats" and a "conns") are not the cycle's. */
			double per = (double)(rq1 - rq0 - 2) / (double)m;

			printf("per builtin-file attach+detach, all clients: %.0f xenstore requests, "
			       "%.0f watch events; by process:\n", per, (double)(ev1 - ev0) / (double)m);
			if (n0 >= 0 && n1 >= 0)
				conns_print(p0, n0, p1, n1, m);
			printf("target xenstore requests per attach+detach <= 120: %.0f  %s\n", per,
			       per <= 120 ? "PASS" : "MISS");
			csv_target(vname[V_BUILTIN_FILE], "xenstore_requests", per, "requests", 0,
			           "<=120", per <= 120);
		}
		if (steps)
			bench_steps_report(steps, vname[V_BUILTIN_FILE]);
		bench_steps_free(steps);
	}
	r = 0;
out:
	for (i = 0; i < V_COUNT; i++) {
		for (k = 0; k < ROTATE; k++)
			vbd_disk_spec_free(v[i].spec[k]);
		free(v[i].attach.ns);
		free(v[i].detach.ns);
	}
	return r;
}

/* --- scale ---------------------------------------------------------------------- */

typedef struct scale_args {
	unsigned long devices;
	const char *dir, *script, *label;
} scale_args;

static int make_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, FILE_BYTES) < 0)
		r = -errno;
	close(fd);
	return r;
}

static void rss_kb(const char *pid_file, long *ret)
{
	char path[PATH_MAX], line[256];
	FILE *f;

	*ret = -1;
	snprintf(path, sizeof(path), "/proc/%s/status", pid_file);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			*ret = strtol(line + 6, NULL, 10);
	fclose(f);
}

/* N sparse files in dir and their specs, 4 per guest: guest1 xvdb..xvde,
 * guest2 ... */
static int devices_prepare(bench *b, const char *dir, unsigned long n, vbd_disk_spec **specs,
                           unsigned *domids)
{
	static const char *const vdevs[DISKS_PER_GUEST] = { "xvdb", "xvdc", "xvdd", "xvde" };
	unsigned long i;
	int r;

	for (i = 0; i < n; i++) {
		char path[PATH_MAX], guest[32];

		snprintf(path, sizeof(path), "%s/d%lu.img", dir, i);
		r = make_file(path);
		if (r < 0) {
			fprintf(stderr, "attach_bench: %s: %s\n", path, strerror(-r));
			return r;
		}
		r = parse_spec(vdevs[i % DISKS_PER_GUEST], path, false, &specs[i]);
		if (r < 0)
			return r;
		snprintf(guest, sizeof(guest), "guest%lu", i / DISKS_PER_GUEST + 1);
		r = vbd_ctx_domain_lookup(b->c, guest, &domids[i]);
		if (r < 0) {
			fprintf(stderr, "attach_bench: no domain %s (the host needs %lu guests): %s\n",
			        guest, (n + DISKS_PER_GUEST - 1) / DISKS_PER_GUEST,
			        vbd_ctx_last_error(b->c));
			return r;
		}
	}
	return 0;
}

static void devices_forget(const char *dir, unsigned long n, vbd_disk_spec **specs)
{
	unsigned long i;

	for (i = 0; specs && i < n; i++) {
		char path[PATH_MAX];

		vbd_disk_spec_free(specs[i]);
		snprintf(path, sizeof(path), "%s/d%lu.img", dir, i);
		unlink(path);
	}
}

/* A device a run left attached, detached by force: the host is left as
 * it was, even after a failure. */
static void force_detach(bench *b, unsigned domid, uint32_t devid)
{
	vbd_detach_options o = VBD_DETACH_OPTIONS_INIT;

	o.domid = domid;
	o.devid = devid;
	o.timeout_ms = 2000;
	o.force = true;
	vbd_dev_detach_wait(b->c, &o);
}

static int run_scale(bench *b, const scale_args *a)
{
	vbd_disk_spec **specs = NULL;
	unsigned *domids = NULL;
	samples att = { 0 }, det = { 0 };
	unsigned long i, n = a->devices, attached = 0, failures = 0, skipped = 0;
	bool *ok = NULL;            /* attached now */
	uint64_t t0, t_att, t_det, lost = 0;   /* lost: failed attempts and pauses */
	long rss;
	int r = 0;

	specs = calloc(n, sizeof(*specs));
	domids = calloc(n, sizeof(*domids));
	att.ns = calloc(n, sizeof(uint64_t));
	det.ns = calloc(n, sizeof(uint64_t));
	ok = calloc(n, sizeof(*ok));
	if (!specs || !domids || !att.ns || !det.ns || !ok) {
		r = -ENOMEM;
		goto out;
	}
	r = devices_prepare(b, a->dir, n, specs, domids);
	if (r < 0)
		goto out;

	t0 = bench_now_ns();
	for (i = 0; i < n; i++) {
		uint64_t t = bench_now_ns();

		unsigned tries = 0;

		/* A failure is reported and retried (its time counts), after
		 * a pause that lets the drivers drop what they still hold of
		 * the rolled-back device.  See README.md. */
		while ((r = attach_one(b, domids[i], specs[i], a->script)) < 0) {
			fprintf(stderr, "attach_bench: attach %lu of %lu failed\n", i + 1, n);
			failures++;
			cleanup_error_node(b, domids[i], specs[i]->devid);
			if (++tries == 5)
				break;
			usleep(200000);
			lost += bench_now_ns() - t;
			t = bench_now_ns();
		}
		if (r < 0) {
			/* Left out, and said so: the rest still measures. */
			skipped++;
			if (skipped > n / 20 + 1)
				goto out;
			ok[i] = false;
			continue;
		}
		ok[i] = true;
		att.ns[att.n++] = bench_now_ns() - t;
		attached++;
	}
	t_att = bench_now_ns() - t0 - lost;

	t0 = bench_now_ns();
	for (i = 0; i < n; i++) {
		uint64_t t = bench_now_ns();

		if (!ok[i])
			continue;
		r = detach_one(b, domids[i], specs[i]->devid);
		if (r < 0) {
			fprintf(stderr, "attach_bench: detach %lu of %lu failed\n", i + 1, n);
			goto out;
		}
		ok[i] = false;
		attached--;
		det.ns[det.n++] = bench_now_ns() - t;
	}
	t_det = bench_now_ns() - t0;

	{
		/* In order of attach: the first and the last tenth, to show growth. */
		size_t m = att.n, tenth = m >= 10 ? m / 10 : 1;
		double first = mean_ms(&att, 0, tenth), last = mean_ms(&att, m - tenth, m);
		double dfirst = mean_ms(&det, 0, tenth), dlast = mean_ms(&det, m - tenth, m);

		bench_sort(&att);
		bench_sort(&det);
		printf("scale %s N=%lu: attach total %.1f ms (%.3f ms/device), detach total %.1f ms "
		       "(%.3f ms/device), attach+detach %.3f ms/device\n",
		       a->label, n, (double)t_att / 1e6, (double)t_att / 1e6 / (double)n,
		       (double)t_det / 1e6, (double)t_det / 1e6 / (double)n,
		       (double)(t_att + t_det) / 1e6 / (double)n);
		printf("scale %s N=%lu: attach p50 %.3f p99 %.3f ms, first tenth %.3f, last tenth "
		       "%.3f ms; detach p50 %.3f p99 %.3f ms, first tenth %.3f, last tenth %.3f ms\n",
		       a->label, n, pct_ms(&att, 50), pct_ms(&att, 99), first, last, pct_ms(&det, 50),
		       pct_ms(&det, 99), dfirst, dlast);
		/* One line a script can take apart. */
		if (failures)
			printf("scale %s N=%lu: %lu failed attaches (retried after 200 ms, up to 5 "
			       "times; see stderr; %.1f ms not counted above); %lu devices left out\n",
			       a->label, n, failures, (double)lost / 1e6, skipped);
		printf("RESULT scale %s %lu %.6f %.6f %lu %lu %.6f %.6f\n", a->label, n,
		       (double)t_att / 1e6 / (double)n, (double)t_det / 1e6 / (double)n, failures,
		       skipped, pct_ms(&att, 50), pct_ms(&det, 50));
		bench_csv_row(&(bench_row){ .workload = a->label, .op = "attach+detach", .n = n,
		                            .metric = "per_device", .unit = "ms",
		                            .value = (double)(t_att + t_det) / 1e6 / (double)n });
		csv_times(a->label, n, &att, &det, failures);
	}
	rss_kb("self", &rss);
	if (rss >= 0)
		printf("scale %s N=%lu: this process's RSS %ld KiB\n", a->label, n, rss);
	r = 0;
out:
	/* Leave the host as it was, even after a failure. */
	for (i = 0; attached && i < n; i++)
		if (ok[i])
			force_detach(b, domids[i], specs[i]->devid);
	devices_forget(a->dir, n, specs);
	free(specs);
	free(ok);
	free(domids);
	free(att.ns);
	free(det.ns);
	return r;
}

/* --- bulk ---------------------------------------------------------------------- */

/* All N attaches through the non-blocking vbd_dev_attach() on one context,
 * up to in_flight at once (0: all), then all N detaches the same way: the
 * wall time from the first call to the last done.  Target: N=1000 over 250
 * guests all Connected in 2 s. */
#define BULK_TARGET_MS 2000.0

typedef struct bulk_args {
	unsigned long devices, in_flight;
	const char *dir, *label;
} bulk_args;

typedef struct bulk_run {
	bench *b;
	unsigned long running, ended, failed;
	bool detach;
} bulk_run;

typedef struct bulk_dev {
	bulk_run *run;
	bool ok;                    /* attached now */
	unsigned long idx;
} bulk_dev;

static void bulk_done(vbd_ctx *c, int result, const char *message, void *userdata)
{
	bulk_dev *d = userdata;
	bulk_run *run = d->run;

	(void)c;
	run->running--;
	run->ended++;
	if (result < 0) {
		run->failed++;
		fprintf(stderr, "attach_bench: %s %lu failed: %s\n", run->detach ? "detach" : "attach",
		        d->idx + 1, message);
	} else {
		d->ok = !run->detach;
	}
}

/* Where the CPU of a pass went, by process: this one (the toolstack), and,
 * on a simulated host, the host (store and hypervisor), the backend and
 * all the guests' frontends together, found in the host's status file
 * beside $XENSTORED_PATH.  In seconds of user + system time. */
typedef struct bulk_cpu {
	/* This process's, read before and after the others are: a pass's is
	 * from the first reading's self_after to the next one's self. */
	double self, self_after, host, backend, guests;
	bool sim;                   /* the host's processes were found */
} bulk_cpu;

/* A process's CPU from /proc/PID/stat: utime + stime, in clock ticks (10
 * ms here), all its threads, the exited ones too. */
static double proc_stat_cpu_s(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* The name may hold anything: fields resume after its last ')'; the
	 * 14th and 15th (11 and 12 after it) are utime and stime. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	                 &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A process's CPU in seconds.  The ticks of /proc/PID/stat round each
 * process down to 10 ms: a guest's frontend that spends 4 ms on its four
 * devices reads 0, and 250 of them read 0 s together.  So the threads'
 * run time in nanoseconds (/proc/PID/task/TID/schedstat, its first field)
 * is summed, and the ticks count where they say more (threads that have
 * exited, which the tasks no longer list). */
static double proc_cpu_s(long pid)
{
	char path[64], tpath[64 + 300];
	unsigned long long ns, sum = 0;
	struct dirent *e;
	double ticks = proc_stat_cpu_s(pid), fine;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	d = opendir(path);
	if (!d)
		return ticks;
	while ((e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(tpath, sizeof(tpath), "%s/%s/schedstat", path, e->d_name);
		f = fopen(tpath, "re");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		fclose(f);
	}
	closedir(d);
	fine = (double)sum / 1e9;
	return fine > ticks ? fine : ticks;
}

static double self_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void bulk_cpu_read(bulk_cpu *c)
{
	const char *xs = getenv("XENSTORED_PATH"), *slash;
	char path[PATH_MAX], line[256];
	FILE *f;

	memset(c, 0, sizeof(*c));
	c->self = c->self_after = self_cpu_s();
	if (!xs || !(slash = strrchr(xs, '/')) ||
	    snprintf(path, sizeof(path), "%.*s/status", (int)(slash - xs), xs) >= (int)sizeof(path))
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char what[32];
		long pid;

		if (sscanf(line, "%31s %ld", what, &pid) != 2 || pid <= 0)
			continue;
		if (!strcmp(what, "host")) {
			c->host += proc_cpu_s(pid);
			c->sim = true;
		} else if (!strcmp(what, "backend")) {
			c->backend += proc_cpu_s(pid);
		} else if (!strncmp(what, "guest", 5)) {
			c->guests += proc_cpu_s(pid);
		}
	}
	fclose(f);
	/* Reading 250 guests' threads is not the pass's work. */
	c->self_after = self_cpu_s();
}

static void bulk_cpu_print(const char *pass, const bulk_cpu *a, const bulk_cpu *b)
{
	printf("  %s CPU: toolstack %.2f s", pass, b->self - a->self_after);
	if (a->sim && b->sim)
		printf(", host (store + hypervisor) %.2f s, backend %.2f s, frontends %.2f s",
		       b->host - a->host, b->backend - a->backend, b->guests - a->guests);
	printf("\n");
}

/* Starts every wanted operation, at most k running at once, and turns the
 * context's loop until all ended.  Returns the wall time in ns, or -errno
 * if the loop broke. */
static int64_t bulk_pass(bench *b, bulk_run *run, bulk_dev *devs, vbd_disk_spec **specs,
                         const unsigned *domids, unsigned long n, unsigned long k)
{
	unsigned long next = 0, wanted = 0, i;
	uint64_t t0 = bench_now_ns();
	int r;

	for (i = 0; i < n; i++)
		wanted += run->detach ? devs[i].ok : true;
	run->running = run->ended = run->failed = 0;
	while (run->ended < wanted) {
		struct pollfd p = { vbd_ctx_get_fd(b->c), POLLIN, 0 };
		int t;

		for (; next < n && (!k || run->running < k); next++) {
			if (run->detach) {
				vbd_detach_options o = VBD_DETACH_OPTIONS_INIT;

				if (!devs[next].ok)
					continue;
				o.domid = domids[next];
				o.devid = specs[next]->devid;
				o.timeout_ms = b->timeout_ms;
				r = vbd_dev_detach(b->c, &o, bulk_done, &devs[next]);
			} else {
				vbd_attach_options o = VBD_ATTACH_OPTIONS_INIT;

				o.domid = domids[next];
				o.spec = specs[next];
				o.timeout_ms = b->timeout_ms;
				r = vbd_dev_attach(b->c, &o, bulk_done, &devs[next]);
			}
			if (r < 0) {
				/* Never started: done is not called. */
				fprintf(stderr, "attach_bench: %s %lu: %s\n",
				        run->detach ? "detach" : "attach", next + 1,
				        vbd_ctx_last_error(b->c));
				run->ended++;
				run->failed++;
				continue;
			}
			run->running++;
		}
		if (run->ended >= wanted)
			break;
		t = vbd_ctx_get_timeout_ms(b->c);
		if (poll(&p, 1, t) < 0 && errno != EINTR)
			return -errno;
		if ((r = vbd_ctx_process(b->c)) < 0)
			return r;
	}
	return (int64_t)(bench_now_ns() - t0);
}

static int run_bulk(bench *b, const bulk_args *a)
{
	vbd_disk_spec **specs = NULL;
	unsigned *domids = NULL;
	bulk_dev *devs = NULL;
	bulk_run run = { .b = b };
	bulk_cpu cpu[3];
	unsigned long i, n = a->devices, att_failed;
	int64_t t_att, t_det;
	double ms;
	int r;

	specs = calloc(n, sizeof(*specs));
	domids = calloc(n, sizeof(*domids));
	devs = calloc(n, sizeof(*devs));
	if (!specs || !domids || !devs) {
		r = -ENOMEM;
		goto out;
	}
	r = devices_prepare(b, a->dir, n, specs, domids);
	if (r < 0)
		goto out;
	for (i = 0; i < n; i++) {
		devs[i].run = &run;
		devs[i].idx = i;
	}

	run.detach = false;
	bulk_cpu_read(&cpu[0]);
	t_att = bulk_pass(b, &run, devs, specs, domids, n, a->in_flight);
	bulk_cpu_read(&cpu[1]);
	if (t_att < 0) {
		r = (int)t_att;
		fprintf(stderr, "attach_bench: the loop: %s\n", strerror(-r));
		goto out;
	}
	att_failed = run.failed;
	run.detach = true;
	t_det = bulk_pass(b, &run, devs, specs, domids, n, a->in_flight);
	bulk_cpu_read(&cpu[2]);
	if (t_det < 0) {
		r = (int)t_det;
		fprintf(stderr, "attach_bench: the loop: %s\n", strerror(-r));
		goto out;
	}
	ms = (double)t_att / 1e6;
	printf("bulk %s N=%lu in-flight %s%lu: attach all %.1f ms (%lu failed), detach all %.1f ms "
	       "(%lu failed)\n", a->label, n, a->in_flight ? "" : "all=", a->in_flight ? a->in_flight : n,
	       ms, att_failed, (double)t_det / 1e6, run.failed);
	bulk_cpu_print("attach", &cpu[0], &cpu[1]);
	bulk_cpu_print("detach", &cpu[1], &cpu[2]);
	printf("RESULT bulk %s %lu %lu %.3f %.3f %lu %lu\n", a->label, n, a->in_flight, ms,
	       (double)t_det / 1e6, att_failed, run.failed);
	{
		char note[96], tgt[16];

		snprintf(note, sizeof(note), "in_flight=%lu attach_failed=%lu detach_failed=%lu",
		         a->in_flight ? a->in_flight : n, att_failed, run.failed);
		snprintf(tgt, sizeof(tgt), "<=%.0f", BULK_TARGET_MS);
		bench_csv_row(&(bench_row){ .workload = "bulk", .op = "attach", .n = n,
		                            .metric = "all_connected", .value = ms, .unit = "ms",
		                            .target = n >= 1000 ? tgt : NULL,
		                            .verdict = n >= 1000 ? bench_verdict(ms <= BULK_TARGET_MS &&
		                                                                 !att_failed) : NULL,
		                            .note = note });
		bench_csv_row(&(bench_row){ .workload = "bulk", .op = "detach", .n = n,
		                            .metric = "all_gone", .value = (double)t_det / 1e6,
		                            .unit = "ms", .note = note });
	}
	if (n >= 1000)
		printf("target N=%lu all Connected <= %.0f ms: %.1f ms  %s\n", n, BULK_TARGET_MS, ms,
		       ms <= BULK_TARGET_MS && !att_failed ? "PASS" : "MISS");
	r = att_failed || run.failed ? -EIO : 0;
out:
	/* Leave the host as it was, even after a failure. */
	for (i = 0; devs && i < n; i++)
		if (devs[i].ok)
			force_detach(b, domids[i], specs[i]->devid);
	devices_forget(a->dir, n, specs);
	free(specs);
	free(domids);
	free(devs);
	return r;
}

/* --- main ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: attach_bench latency --file F [--blockdev DEV] [--script PATH]\n"
	        "                    [--vbdctl PATH] [--guest NAME] [--same-vdev]\n"
	        "                    [--iterations N] [--script-iterations N] [--rounds R]\n"
	        "                    [--warmup N]\n"
	        "       attach_bench scale --devices N --dir DIR [--script PATH] [--label L]\n"
	        "       attach_bench bulk --devices N --dir DIR [--in-flight K] [--label L]\n"
	        "\n"
	        "A client of a running simulated host (vbdctl sim start; $XENSTORED_PATH).\n"
	        "latency: attach -> both Connected and detach of one device, p50/p99, for the\n"
	        "built-in hotplug and a script, a file and a block device.  scale: N devices\n"
	        "(4 per guest, sparse files in DIR) attached, then detached, one by one.\n"
	        "bulk: the same N devices attached all through vbd_dev_attach(), K at a time\n"
	        "(0: all at once), then detached so: the wall time of each, target 2 s.\n"
	        "\n"
	        "  -n, --iterations N         attach+detach cycles per variant (200)\n"
	        "  -s, --script-iterations N  for the script variants (200)\n"
	        "  -r, --rounds R             interleaving rounds (10)\n"
	        "  -w, --warmup N             unmeasured cycles of each first (3)\n"
	        "  -t, --timeout-ms MS        per attach or detach (30000)\n"
	        "  -k, --in-flight K          bulk: operations running at once (64; 0: all)\n"
	        "  -v, --same-vdev            attach xvdb every time instead of rotating over\n"
	        "                             xvdb..xvdi (shows a driver race: README.md)\n"
	        "      --csv FILE             also append CSV rows to FILE (see bench/README.md)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "blockdev", required_argument, NULL, 'b' },
		{ "script", required_argument, NULL, 'S' },
		{ "vbdctl", required_argument, NULL, 'V' },
		{ "guest", required_argument, NULL, 'g' },
		{ "same-vdev", no_argument, NULL, 'v' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "script-iterations", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "devices", required_argument, NULL, 'N' },
		{ "dir", required_argument, NULL, 'd' },
		{ "label", required_argument, NULL, 'l' },
		{ "in-flight", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	latency_args la = { .guest = "guest1", .nvdev = ROTATE, .iterations = 200,
	                    .script_iterations = 200, .rounds = 10, .warmup = 3 };
	scale_args sa = { .label = NULL };
	bulk_args ba = { .in_flight = 64 };
	unsigned long timeout = 30000;
	bench b = { 0 };
	const char *mode;
	struct rlimit rl;
	int c, r;

	if (bench_csv_init("attach_bench", &argc, argv) < 0)
		return 2;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	mode = argv[1];
	bench_csv_config("mode=%s cpus=%d", mode, cpus_allowed());
	if (!strcmp(mode, "-h") || !strcmp(mode, "--help")) {
		usage(stdout);
		return 0;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "f:b:S:V:g:vn:s:r:w:t:N:d:l:k:h", longopts, NULL)) != -1) {
		unsigned long *num = NULL;

		switch (c) {
		case 'f': la.file = optarg; break;
		case 'b': la.blockdev = optarg; break;
		case 'S': la.script = sa.script = optarg; break;
		case 'V': la.vbdctl = optarg; break;
		case 'g': la.guest = optarg; break;
		case 'v': la.nvdev = 1; break;
		case 'n': num = &la.iterations; break;
		case 's': num = &la.script_iterations; break;
		case 'r': num = &la.rounds; break;
		case 'w': num = &la.warmup; break;
		case 't': num = &timeout; break;
		case 'N': num = &sa.devices; break;
		case 'd': sa.dir = ba.dir = optarg; break;
		case 'l': sa.label = ba.label = optarg; break;
		case 'k': num = &ba.in_flight; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (num && bench_parse_count(optarg, num) < 0)
			goto bad_arg;
	}
	if (optind != argc)
		goto bad_arg;
	b.timeout_ms = (unsigned)timeout;

	/* Every attached device holds fds in the toolstack only while its
	 * operation runs, but be generous. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);

	r = vbd_ctx_new(&b.c, NULL, NULL);
	if (r < 0) {
		fprintf(stderr, "attach_bench: no xenstore (is a simulated host running and "
		        "XENSTORED_PATH set?): %s\n", strerror(-r));
		return 1;
	}
	b.xs = xs_open(XS_OPEN_SOCKETONLY);
	if (!strcmp(mode, "latency")) {
		if (!la.file || la.iterations == 0 || la.rounds == 0)
			goto bad_arg_ctx;
		if (la.rounds > la.iterations)
			la.rounds = la.iterations;
		if (la.script && la.script_iterations < la.rounds)
			la.script_iterations = la.rounds;
		r = run_latency(&b, &la);
	} else if (!strcmp(mode, "scale")) {
		if (!sa.dir || sa.devices == 0)
			goto bad_arg_ctx;
		if (!sa.label)
			sa.label = sa.script ? "script" : "builtin";
		r = run_scale(&b, &sa);
	} else if (!strcmp(mode, "bulk")) {
		ba.devices = sa.devices;
		if (!ba.dir || ba.devices == 0)
			goto bad_arg_ctx;
		if (!ba.label)
			ba.label = "builtin";
		r = run_bulk(&b, &ba);
	} else {
		goto bad_arg_ctx;
	}
	vbd_ctx_free(b.c);
	if (b.xs)
		xs_close(b.xs);
	return r < 0 ? 1 : 0;

bad_arg_ctx:
	vbd_ctx_free(b.c);
	if (b.xs)
		xs_close(b.xs);
bad_arg:
	usage(stderr);
	return 2;
}
