/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mem_bench - what the bundled blkback holds per connected device, and
 * whether it gives it back when the devices go.
 *
 * The backend runs alone in a child process (this program re-executed with
 * --serve), so that its RSS is its own: the embedded store, the simulated
 * hypervisor, the toolstack and the N frontends are in the parent.  The
 * parent attaches N devices (backendtype=tap: blkback serves each sparse
 * file itself, no loop device), 4 per guest domain, each frontend
 * connecting with --queues rings of order --order, then detaches them all.
 * It asks the child for its numbers at four points:
 *
 *   before  after one device came, read a page through each ring and went
 *           (the first attach and the first worker make what every later
 *           one reuses: the store connection's buffers, glibc's arena of
 *           the worker threads)
 *   idle    all N connected, no I/O (no ring has a worker yet: a worker
 *           starts at its ring's first request)
 *   used    the same N after a 4 KiB read through each of their rings:
 *           every ring's worker, its stack, its io_uring, the grants
 *           mapped (no target: what a device in use costs beside the idle
 *           one's)
 *   after   all N gone; then again after malloc_trim(0) in the child
 *
 * and prints, per connected device, (idle - before) / N of the child's RSS
 * (and (used - before) / N)
 * (/proc/PID/statm), of its heap in use (mallinfo2 uordblks + hblkhd), and
 * of blkback's own count of what it allocated (vbd_blkback_stats.mem_bytes),
 * and after/before as a ratio.  Targets: <= 64 KiB per idle device; after
 * <= 1.10 x before.  A benchmark reports; it never fails on a number.  Exit
 * status is non-zero only if it could not run.
 *
 * Example: mem_bench -n 1000              (about 15 s on 2 CPUs)
 *          mem_bench --quick              (N=50, a few seconds)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xenstore.h>

#include "common.h"
#include "simhv_fixture.h"
#include "store_fixture.h"
#include "vbd/blkback.h"
#include "vbd/blkfront.h"
#include "vbd/dev.h"
#include "vbd/disk.h"
#include "vbd/transport.h"

#define PER_DOM 4               /* disks per guest: xvdb..xvde */

/* --- the child: blkback alone ------------------------------------------------------------ */

struct sample {
	uint64_t rss, heap, mem, connected, devices;
};

static uint64_t rss_of(pid_t pid)
{
	char path[64];
	unsigned long size, res;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fscanf(f, "%lu %lu", &size, &res);
	fclose(f);
	return n == 2 ? (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* Serves the store at argv's socket through the hypervisor at its socket;
 * on each byte from stdin ('m': measure, 't': malloc_trim then measure,
 * 'q': quit) writes one line "rss heap mem connected devices". */
static int serve(const char *store, const char *hv, unsigned queues, unsigned order)
{
	vbd_blkback_options bo = VBD_BLKBACK_OPTIONS_INIT;
	vbd_xport_options xo = VBD_XPORT_OPTIONS_INIT;
	vbd_errbuf err = { "" };
	vbd_xport *x = NULL;
	vbd_blkback *b = NULL;
	int r;

	xo.kind = VBD_XPORT_SIM;
	xo.sim_path = hv;
	if ((r = vbd_xport_open(&x, &xo, &err)) < 0) {
		fprintf(stderr, "mem_bench backend: transport: %s\n", err.msg);
		return 1;
	}
	bo.xenstored_path = store;
	bo.xport = x;
	bo.kind = "vbd3";
	bo.max_queues = queues;
	bo.max_ring_page_order = order;
	if ((r = vbd_blkback_new(&b, &bo, &err)) < 0) {
		fprintf(stderr, "mem_bench backend: %s\n", err.msg);
		return 1;
	}
	for (;;) {
		struct pollfd p[2] = { { vbd_blkback_get_fd(b), POLLIN, 0 }, { 0, POLLIN, 0 } };
		char c;

		poll(p, 2, vbd_blkback_get_timeout_ms(b));
		vbd_blkback_process(b);
		if (!p[1].revents)
			continue;
		if (read(0, &c, 1) != 1 || c == 'q')
			break;
		if (c == 't')
			malloc_trim(0);
		{
			vbd_blkback_stats st = { .size = sizeof(st) };
			struct mallinfo2 mi = mallinfo2();

			vbd_blkback_get_stats(b, &st);
			printf("%llu %llu %llu %llu %llu\n", (unsigned long long)rss_of(getpid()),
			       (unsigned long long)(mi.uordblks + mi.hblkhd),
			       (unsigned long long)st.mem_bytes, (unsigned long long)st.connected,
			       (unsigned long long)st.devices);
			fflush(stdout);
		}
	}
	vbd_blkback_free(b);
	vbd_xport_free(x);
	return 0;
}

/* --- the parent: store, hypervisor, toolstack, frontends --------------------------------- */

typedef struct host {
	vbd_test_store t;
	vbd_test_simhv hv;
	struct xs_handle *h;
	vbd_ctx *c;
	pid_t child;
	FILE *to, *from;            /* the child's stdin and stdout */
	unsigned n, queues, ndom;
	vbd_xport **fx;             /* per guest domain */
	vbd_blkfront **f;           /* per device */
	vbd_disk_spec **spec;
} host;

static int spawn_backend(host *x, const char *self, unsigned order)
{
	char hv[PATH_MAX], q[16], o[16];
	int in[2], out[2];

	vbd_test_simhv_path(&x->hv, 0, hv);
	snprintf(q, sizeof(q), "%u", x->queues);
	snprintf(o, sizeof(o), "%u", order);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	x->child = fork();
	if (x->child < 0)
		return -errno;
	if (x->child == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl(self, self, "--serve", x->t.socket, hv, q, o, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	x->to = fdopen(in[1], "w");
	x->from = fdopen(out[0], "r");
	return x->to && x->from ? 0 : -ENOMEM;
}

static int measure(host *x, char cmd, struct sample *s)
{
	unsigned long long v[5];

	fputc(cmd, x->to);
	fflush(x->to);
	if (fscanf(x->from, "%llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5)
		return -EIO;
	*s = (struct sample){ v[0], v[1], v[2], v[3], v[4] };
	return 0;
}

static unsigned dom_of(unsigned i)
{
	return 1 + i / PER_DOM;
}

/* The toolstack's operation and device i's frontend, driven until the
 * operation ends. */
static int drive(host *x, unsigned i, bench_done *d, bool make_front)
{
	uint64_t deadline = bench_now_ns() + 30000000000ull;
	unsigned dom = dom_of(i);

	while (!d->called) {
		struct pollfd p[2] = { { vbd_ctx_get_fd(x->c), POLLIN, 0 }, { -1, POLLIN, 0 } };

		if (!x->f[i] && make_front) {
			vbd_blkfront_options fo = VBD_BLKFRONT_OPTIONS_INIT;
			vbd_errbuf err = { "" };
			char gxs[PATH_MAX + 16];
			int r;

			snprintf(gxs, sizeof(gxs), "%s.d/%u", x->t.socket, dom);
			fo.xenstored_path = gxs;
			fo.xport = x->fx[dom - 1];
			fo.domid = dom;
			fo.devid = x->spec[i]->devid;
			fo.max_queues = x->queues;
			r = vbd_blkfront_new(&x->f[i], &fo, &err);
			if (r < 0) {
				fprintf(stderr, "mem_bench: blkfront: %s\n", err.msg);
				return r;
			}
		}
		if (x->f[i])
			p[1].fd = vbd_blkfront_get_fd(x->f[i]);
		poll(p, 2, 10);
		vbd_ctx_process(x->c);
		if (x->f[i])
			vbd_blkfront_process(x->f[i]);
		if (bench_now_ns() > deadline) {
			fprintf(stderr, "mem_bench: device %u: no end within 30 s\n", i);
			return -ETIMEDOUT;
		}
	}
	if (d->result < 0)
		fprintf(stderr, "mem_bench: device %u: %s\n", i, d->msg);
	return d->result;
}

static int dev_attach(host *x, unsigned i)
{
	vbd_attach_options ao = VBD_ATTACH_OPTIONS_INIT;
	bench_done d = { 0 };
	int r;

	ao.domid = dom_of(i);
	ao.spec = x->spec[i];
	ao.timeout_ms = 20000;
	if ((r = vbd_dev_attach(x->c, &ao, bench_on_done, &d)) < 0) {
		fprintf(stderr, "mem_bench: attach: %s\n", vbd_ctx_last_error(x->c));
		return r;
	}
	if ((r = drive(x, i, &d, true)) < 0)
		return r;
	return vbd_blkfront_wait_connected(x->f[i], 10000);
}

/* A 4 KiB read through each of device i's rings (the frontend takes its
 * queues in turn). */
static int dev_touch(host *x, unsigned i)
{
	static uint8_t buf[4096];
	unsigned q;
	int r;

	for (q = 0; q < x->queues; q++)
		if ((r = vbd_blkfront_read(x->f[i], (uint64_t)q * sizeof(buf), buf, sizeof(buf))) < 0)
			return r;
	return 0;
}

static int dev_detach(host *x, unsigned i)
{
	vbd_detach_options dd = VBD_DETACH_OPTIONS_INIT;
	bench_done d = { 0 };
	int r;

	dd.domid = dom_of(i);
	dd.devid = x->spec[i]->devid;
	dd.force = true;
	r = vbd_dev_detach(x->c, &dd, bench_on_done, &d);
	if (r == 0)
		r = drive(x, i, &d, false);
	x->f[i] = vbd_blkfront_free(x->f[i]);
	return r;
}

static int domain_add(host *x, unsigned dom)
{
	struct xs_permissions home[2] = { { 0, XS_PERM_NONE }, { dom, XS_PERM_READ } };
	char path[64], name[32];
	int r;

	snprintf(path, sizeof(path), "/local/domain/%u", dom);
	snprintf(name, sizeof(name), "guest%u", dom);
	if (!xs_introduce_domain(x->h, dom, 0, 0) || !xs_mkdir(x->h, XBT_NULL, path) ||
	    !xs_set_permissions(x->h, XBT_NULL, path, home, 2))
		return -errno;
	strcat(path, "/name");
	if (!xs_write(x->h, XBT_NULL, path, name, strlen(name)))
		return -errno;
	if ((r = vbd_test_simhv_domain_add(&x->hv, dom)) < 0)
		return r;
	return vbd_test_simhv_xport(&x->hv, dom, &x->fx[dom - 1]);
}

/* Device i: its own sparse file on tap, vdev xvdb + i % 4 in its guest. */
static int make_spec(host *x, unsigned i)
{
	char s[PATH_MAX + 96], img[PATH_MAX + 32];
	const char *one[1] = { s };
	vbd_errbuf err = { "" };
	int fd;

	snprintf(img, sizeof(img), "%s/d%u.img", x->t.dir, i);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		return -errno;
	close(fd);
	snprintf(s, sizeof(s), "format=raw,vdev=xvd%c,access=rw,backendtype=tap,target=%s",
	         'b' + i % PER_DOM, img);
	if (vbd_disk_spec_parse(1, one, &x->spec[i], &err) < 0) {
		fprintf(stderr, "mem_bench: %s: %s\n", s, err.msg);
		return -EINVAL;
	}
	return 0;
}

static int host_start(host *x, const char *self, unsigned order)
{
	vbd_ctx_options co = VBD_CTX_OPTIONS_INIT;
	unsigned i;
	int r;

	x->ndom = (x->n + PER_DOM - 1) / PER_DOM;
	x->fx = calloc(x->ndom, sizeof(*x->fx));
	x->f = calloc(x->n, sizeof(*x->f));
	x->spec = calloc(x->n, sizeof(*x->spec));
	if (!x->fx || !x->f || !x->spec)
		return -ENOMEM;
	if ((r = vbd_test_store_start(&x->t, NULL)) < 0 || (r = vbd_test_simhv_start(&x->hv)) < 0)
		return r;
	x->h = vbd_test_xs_open(&x->t, 0);
	if (!x->h)
		return -errno;
	for (i = 0; i < x->ndom; i++)
		if ((r = domain_add(x, i + 1)) < 0)
			return r;
	for (i = 0; i < x->n; i++)
		if ((r = make_spec(x, i)) < 0)
			return r;
	co.xenstored_path = x->t.socket;
	if ((r = vbd_ctx_new(&x->c, &co, NULL)) < 0)
		return r;
	return spawn_backend(x, self, order);
}

static void host_stop(host *x)
{
	unsigned i;

	if (x->to) {
		fputc('q', x->to);
		fclose(x->to);
	}
	if (x->from)
		fclose(x->from);
	if (x->child > 0)
		waitpid(x->child, NULL, 0);
	for (i = 0; x->f && i < x->n; i++)
		vbd_blkfront_free(x->f[i]);
	for (i = 0; x->spec && i < x->n; i++)
		vbd_disk_spec_free(x->spec[i]);
	for (i = 0; x->fx && i < x->ndom; i++)
		vbd_xport_free(x->fx[i]);
	vbd_ctx_free(x->c);
	if (x->h)
		xs_close(x->h);
	vbd_test_simhv_stop(&x->hv);
	vbd_test_store_stop(&x->t);
	free(x->fx);
	free(x->f);
	free(x->spec);
}

static void usage(FILE *o)
{
	fputs("usage: mem_bench [-n N] [--queues Q] [--order O] [--quick] [--csv FILE]\n"
	      "  N devices (200), Q rings each (1), ring-page-order O (0); --quick: N=50;\n"
	      "  --csv: also append CSV rows to FILE (see bench/README.md)\n", o);
}

static double kib(double v)
{
	return v / 1024.0;
}

/* The results as CSV rows: per idle device, and what stays once all went. */
static void csv_rows(const host *x, const struct sample *before, const struct sample *idle,
                     const struct sample *used, const struct sample *after,
                     const struct sample *trimmed)
{
	double per = ((double)idle->rss - (double)before->rss) / x->n;
	double heap = ((double)idle->heap - (double)before->heap) / x->n;
	double mem = ((double)idle->mem - (double)before->mem) / x->n;
	double ratio = (double)after->rss / (double)before->rss;

	bench_csv_row(&(bench_row){ .workload = "idle", .queues = x->queues, .n = x->n,
	                            .metric = "rss_per_device", .value = kib(per), .unit = "KiB",
	                            .target = "<=64", .verdict = bench_verdict(per <= 65536) });
	bench_csv_row(&(bench_row){ .workload = "idle", .queues = x->queues, .n = x->n,
	                            .metric = "heap_per_device", .unit = "KiB",
	                            .value = kib(heap) });
	bench_csv_row(&(bench_row){ .workload = "idle", .queues = x->queues, .n = x->n,
	                            .metric = "counted_per_device", .unit = "KiB",
	                            .value = kib(mem) });
	bench_csv_row(&(bench_row){ .workload = "used", .queues = x->queues, .n = x->n,
	                            .metric = "rss_per_device", .unit = "KiB",
	                            .value = kib(((double)used->rss - (double)before->rss) / x->n) });
	bench_csv_row(&(bench_row){ .workload = "after", .queues = x->queues, .n = x->n,
	                            .metric = "rss", .value = kib(after->rss), .unit = "KiB",
	                            .baseline = kib(before->rss), .target = "<=1.10",
	                            .verdict = bench_verdict(ratio <= 1.10) });
	bench_csv_row(&(bench_row){ .workload = "trimmed", .queues = x->queues, .n = x->n,
	                            .metric = "rss", .value = kib(trimmed->rss), .unit = "KiB",
	                            .baseline = kib(before->rss) });
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "queues", required_argument, NULL, 'q' },
		{ "order", required_argument, NULL, 'o' },
		{ "quick", no_argument, NULL, 'Q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	host x = { .n = 200, .queues = 1 };
	struct sample before, idle, used, after, trimmed;
	unsigned long v, order = 0;
	uint64_t t0, t1, t2;
	unsigned i;
	int c, r;

	if (argc == 6 && !strcmp(argv[1], "--serve"))
		return serve(argv[2], argv[3], (unsigned)atoi(argv[4]), (unsigned)atoi(argv[5]));
	if (bench_csv_init("mem_bench", &argc, argv) < 0)
		return 2;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (bench_parse_count(optarg, &v) < 0 || v < 1 || v > 4000)
				goto bad;
			x.n = (unsigned)v;
			break;
		case 'q':
			if (bench_parse_count(optarg, &v) < 0 || v < 1 || v > 16)
				goto bad;
			x.queues = (unsigned)v;
			break;
		case 'o':
			if (bench_parse_count(optarg, &v) < 0 || v > 4)
				goto bad;
			order = v;
			break;
		case 'Q':
			x.n = 50;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	signal(SIGPIPE, SIG_IGN);
	/* The store and hypervisor sockets a hotplug step or child may use. */
	if ((r = host_start(&x, "/proc/self/exe", (unsigned)order)) < 0) {
		fprintf(stderr, "mem_bench: setup: %s\n", strerror(-r));
		goto fail;
	}
	/* One device first: what the first attach makes stays for all. */
	if ((r = dev_attach(&x, 0)) < 0 || (r = dev_touch(&x, 0)) < 0 ||
	    (r = dev_detach(&x, 0)) < 0 || (r = measure(&x, 'm', &before)) < 0)
		goto fail;
	t0 = bench_now_ns();
	for (i = 0; i < x.n; i++)
		if ((r = dev_attach(&x, i)) < 0)
			goto fail;
	t1 = bench_now_ns();
	if ((r = measure(&x, 'm', &idle)) < 0)
		goto fail;
	for (i = 0; i < x.n; i++)
		if ((r = dev_touch(&x, i)) < 0)
			goto fail;
	if ((r = measure(&x, 'm', &used)) < 0)
		goto fail;
	for (i = 0; i < x.n; i++)
		if ((r = dev_detach(&x, i)) < 0)
			goto fail;
	t2 = bench_now_ns();
	if ((r = measure(&x, 'm', &after)) < 0 || (r = measure(&x, 't', &trimmed)) < 0)
		goto fail;
	printf("mem_bench: %u devices, %u queue(s), ring-page-order %lu; attach %.1f s, detach %.1f s; "
	       "backend connected %llu of %llu at idle\n",
	       x.n, x.queues, order, (double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9,
	       (unsigned long long)idle.connected, (unsigned long long)idle.devices);
	printf("%-10s %12s %12s %12s\n", "", "rss KiB", "heap KiB", "counted KiB");
	printf("%-10s %12.0f %12.0f %12.0f\n", "before", kib(before.rss), kib(before.heap),
	       kib(before.mem));
	printf("%-10s %12.0f %12.0f %12.0f\n", "idle", kib(idle.rss), kib(idle.heap), kib(idle.mem));
	printf("%-10s %12.0f %12.0f %12.0f\n", "used", kib(used.rss), kib(used.heap), kib(used.mem));
	printf("%-10s %12.0f %12.0f %12.0f\n", "after", kib(after.rss), kib(after.heap),
	       kib(after.mem));
	printf("%-10s %12.0f %12.0f %12.0f\n", "trimmed", kib(trimmed.rss), kib(trimmed.heap),
	       kib(trimmed.mem));
	{
		double per = ((double)idle.rss - (double)before.rss) / x.n;
		double ratio = (double)after.rss / (double)before.rss;

		printf("per idle device: rss %.1f KiB, heap %.1f KiB, counted %.1f KiB  "
		       "(target rss <= 64 KiB: %s)\n", kib(per),
		       kib(((double)idle.heap - (double)before.heap) / x.n),
		       kib(((double)idle.mem - (double)before.mem) / x.n), per <= 65536 ? "PASS" : "MISS");
		printf("per device used (a read through each ring): rss %.1f KiB, heap %.1f KiB, "
		       "counted %.1f KiB\n", kib(((double)used.rss - (double)before.rss) / x.n),
		       kib(((double)used.heap - (double)before.heap) / x.n),
		       kib(((double)used.mem - (double)before.mem) / x.n));
		printf("after / before: rss %.2f, after malloc_trim %.2f  (target <= 1.10: %s)\n", ratio,
		       (double)trimmed.rss / (double)before.rss, ratio <= 1.10 ? "PASS" : "MISS");
	}
	bench_csv_config("order=%lu", order);
	csv_rows(&x, &before, &idle, &used, &after, &trimmed);
	host_stop(&x);
	return 0;
bad:
	usage(stderr);
	return 2;
fail:
	if (r < 0)
		fprintf(stderr, "mem_bench: %s\n", strerror(-r));
	host_stop(&x);
	return 1;
}
