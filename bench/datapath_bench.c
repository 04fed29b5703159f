/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * datapath_bench - the bundled blkfront -> shared rings -> blkback data path
 * against plain pread/pwrite on the same file, in the same run.
 *
 * One process holds the whole host: the embedded store and the simulated
 * hypervisor (the test fixtures' threads), the bundled blkback (its xenstore
 * side in a thread; each ring has a worker thread of its own), and the
 * frontend in the main thread, acting as guest domain 1 on that domain's own
 * store and hypervisor sockets, so the permission and grant rules are the
 * real ones.  The device is attached with libvbd's attach, either
 *
 *   loop   built-in hotplug: blkback serves a loop device over the file
 *          (what `vbdctl attach` does for a file), or
 *   file   a two-line hotplug script that names the file itself in
 *          physical-device-path: blkback serves the file directly, so the
 *          difference from the direct baseline is the rings alone.
 *
 * Each workload runs as ring and as direct baseline alternately (rounds, the
 * order swapping), so that drift in machine load hits both alike:
 *
 *   4k-randread  QD1 and QD32: ring = the frontend keeps QD requests in
 *                flight (vbd_blkfront_submit, resubmitted from the
 *                completion); direct = QD threads doing pread.
 *   1m-seqread, 1m-seqwrite  QD1 and QD8, the same way.
 *
 * The file (--size, 256 MiB) is written with data first and read once, and
 * the device is read once end to end through the ring before anything is
 * timed: everything is in the page cache, for the direct baseline too (and,
 * for the loop backing, in the loop device's cache as well).  So this
 * measures the cost of the path, not of a disk.  It prints IOPS and MB/s,
 * ratios and the targets: ring >= 80% of direct IOPS at QD32, >= 90% of
 * direct bandwidth for 1 MiB.  A benchmark reports; it never fails on a
 * timing.  Exit status is non-zero only if it could not run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
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

#define DOM 1
#define DEVID 51728u            /* xvdb */
#define MAX_QD 64

/* xorshift64*: cheap, and each thread has its own. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* --- the host in this process -------------------------------------------------------- */

typedef struct host {
	vbd_test_store t;
	vbd_test_simhv hv;
	struct xs_handle *h;
	vbd_ctx *c;
	vbd_xport *bx, *fx;         /* dom0's (backend) and the guest's */
	vbd_blkback *b;
	vbd_test_loop bloop;        /* the backend's xenstore side */
	char guest_xs[PATH_MAX + 16];
	char img[PATH_MAX + 16];
	char script[PATH_MAX + 16];
	uint64_t size;
	vbd_disk_spec *spec;
	vbd_blkfront *f;
} host;

/* A file's worth of data (not a hole: a hole would read as shared zero
 * pages), then read once, so that it is all in the page cache. */
static int make_image(host *x)
{
	const size_t chunk = 1u << 20;
	uint64_t off, seed = 0x9e3779b97f4a7c15ull;
	uint64_t *buf = malloc(chunk);
	int fd, r = 0;
	size_t i;

	if (!buf)
		return -ENOMEM;
	fd = open(x->img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	for (off = 0; off < x->size; off += chunk) {
		for (i = 0; i < chunk / 8; i++)
			buf[i] = rnd(&seed);
		if (pwrite(fd, buf, chunk, (off_t)off) != (ssize_t)chunk) {
			r = -EIO;
			break;
		}
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	for (off = 0; r == 0 && off < x->size; off += chunk)
		if (pread(fd, buf, chunk, (off_t)off) != (ssize_t)chunk)
			r = -EIO;
	close(fd);
out:
	free(buf);
	return r;
}

/* The "file" backing: blkback serves physical-device-path, as it would a
 * qdisk-style target, with no loop device in between. */
static int make_script(host *x)
{
	static const char body[] =
		"#!/bin/sh\n"
		"# datapath_bench: serve params itself, no loop device\n"
		"[ \"$1\" = add ] || exit 0\n"
		"p=$(xenstore-read \"$XENBUS_PATH/params\") || exit 1\n"
		"exec xenstore-write \"$XENBUS_PATH/physical-device-path\" \"$p\" "
		"\"$XENBUS_PATH/hotplug-status\" connected\n";
	FILE *f;

	snprintf(x->script, sizeof(x->script), "%s/serve-file.sh", x->t.dir);
	f = fopen(x->script, "we");
	if (!f)
		return -errno;
	fputs(body, f);
	if (fclose(f) != 0 || chmod(x->script, 0755) < 0)
		return -errno;
	return 0;
}

/* blkback takes poll_us at vbd_blkback_new(): --poll-us makes a new one
 * for each setting, with no device attached. */
static int backend_start(host *x, unsigned poll_us)
{
	vbd_blkback_options bo = VBD_BLKBACK_OPTIONS_INIT;
	vbd_errbuf err = { "" };
	int r;

	bo.xenstored_path = x->t.socket;
	bo.xport = x->bx;
	bo.poll_us = poll_us;
	if ((r = vbd_blkback_new(&x->b, &bo, &err)) < 0) {
		fprintf(stderr, "datapath_bench: blkback: %s\n", err.msg);
		return r;
	}
	return vbd_test_loop_start_blkback(&x->bloop, x->b);
}

static int backend_restart(host *x, unsigned poll_us)
{
	vbd_test_loop_stop(&x->bloop);
	x->b = vbd_blkback_free(x->b);
	vbd_test_loop_init(&x->bloop);
	return backend_start(x, poll_us);
}

static int host_start(host *x)
{
	struct xs_permissions home[2] = { { 0, XS_PERM_NONE }, { DOM, XS_PERM_READ } };
	vbd_ctx_options co = VBD_CTX_OPTIONS_INIT;
	vbd_errbuf err = { "" };
	char s[PATH_MAX + 64];
	const char *one[1] = { s };
	int r;

	vbd_test_loop_init(&x->bloop);
	if ((r = vbd_test_store_start(&x->t, NULL)) < 0 ||
	    (r = vbd_test_simhv_start(&x->hv)) < 0) {
		fprintf(stderr, "datapath_bench: fixtures: %s\n", strerror(-r));
		return r;
	}
	/* For the hotplug script's xenstore-read/-write. */
	setenv("XENSTORED_PATH", x->t.socket, 1);
	x->h = vbd_test_xs_open(&x->t, 0);
	if (!x->h || !xs_introduce_domain(x->h, DOM, 0, 0) ||
	    !xs_mkdir(x->h, XBT_NULL, "/local/domain/1") ||
	    !xs_set_permissions(x->h, XBT_NULL, "/local/domain/1", home, 2) ||
	    !xs_write(x->h, XBT_NULL, "/local/domain/1/name", "guest1", 6)) {
		fprintf(stderr, "datapath_bench: xenstore setup: %s\n", strerror(errno));
		return -EIO;
	}
	if ((r = vbd_test_simhv_domain_add(&x->hv, DOM)) < 0 ||
	    (r = vbd_test_simhv_xport(&x->hv, 0, &x->bx)) < 0 ||
	    (r = vbd_test_simhv_xport(&x->hv, DOM, &x->fx)) < 0) {
		fprintf(stderr, "datapath_bench: simulated hypervisor: %s\n", strerror(-r));
		return r;
	}
	snprintf(x->guest_xs, sizeof(x->guest_xs), "%s.d/%d", x->t.socket, DOM);
	co.xenstored_path = x->t.socket;
	if ((r = vbd_ctx_new(&x->c, &co, NULL)) < 0) {
		fprintf(stderr, "datapath_bench: vbd_ctx_new: %s\n", strerror(-r));
		return r;
	}
	snprintf(x->img, sizeof(x->img), "%s/disk.img", x->t.dir);
	if ((r = make_image(x)) < 0 || (r = make_script(x)) < 0) {
		fprintf(stderr, "datapath_bench: %s: %s\n", x->img, strerror(-r));
		return r;
	}
	snprintf(s, sizeof(s), "format=raw,vdev=xvdb,access=rw,target=%s", x->img);
	if ((r = vbd_disk_spec_parse(1, one, &x->spec, &err)) < 0) {
		fprintf(stderr, "datapath_bench: %s: %s\n", s, err.msg);
		return r;
	}

	return backend_start(x, 0);
}

static bool zero_copy;      /* --zero-copy: buffers granted once */

/* Zero-copy buffers are granted once per device, as a real user would
 * (granting per run would leave the backend's persistent-grant cache full
 * of pages no one uses again): one arena, carved anew by each run. */
#define ZC_ARENA (9u << 20)
static struct {
	vbd_blkfront *owner;
	uint8_t *base;
	size_t used;
} zc;

/* The frontend freed, and its arena with it: a frontend made after it at
 * the same address must not take the freed arena for its own. */
static void frontend_free(host *x)
{
	if (zc.owner == x->f)
		zc.owner = NULL;
	x->f = vbd_blkfront_free(x->f);
}

static void host_stop(host *x)
{
	frontend_free(x);
	vbd_test_loop_stop(&x->bloop);
	x->b = vbd_blkback_free(x->b);
	vbd_ctx_free(x->c);
	vbd_xport_free(x->fx);
	vbd_xport_free(x->bx);
	if (x->h)
		xs_close(x->h);
	vbd_disk_spec_free(x->spec);
	vbd_test_simhv_stop(&x->hv);
	vbd_test_store_stop(&x->t);     /* removes the image too */
}

/* The toolstack's operation and the guest's frontend, driven together until
 * the operation ends. */
static int drive(host *x, bench_done *d, const vbd_blkfront_options *fo)
{
	uint64_t deadline = bench_now_ns() + 30000000000ull;

	while (!d->called) {
		struct pollfd p[2] = { { vbd_ctx_get_fd(x->c), POLLIN, 0 }, { -1, POLLIN, 0 } };

		if (!x->f && fo) {
			vbd_errbuf err = { "" };
			int r = vbd_blkfront_new(&x->f, fo, &err);

			if (r < 0) {
				fprintf(stderr, "datapath_bench: blkfront: %s\n", err.msg);
				return r;
			}
		}
		if (x->f)
			p[1].fd = vbd_blkfront_get_fd(x->f);
		poll(p, 2, 10);
		vbd_ctx_process(x->c);
		if (x->f)
			vbd_blkfront_process(x->f);
		if (bench_now_ns() > deadline) {
			fprintf(stderr, "datapath_bench: no end within 30 s\n");
			return -ETIMEDOUT;
		}
	}
	if (d->result < 0)
		fprintf(stderr, "datapath_bench: %s\n", d->msg);
	return d->result;
}

static int dev_attach(host *x, bool file_backing, unsigned queues, unsigned poll_us)
{
	vbd_blkfront_options fo = VBD_BLKFRONT_OPTIONS_INIT;
	vbd_attach_options ao = VBD_ATTACH_OPTIONS_INIT;
	bench_done d = { 0 };
	int r;

	fo.xenstored_path = x->guest_xs;
	fo.xport = x->fx;
	fo.domid = DOM;
	fo.devid = DEVID;
	fo.max_queues = queues;
	fo.poll_us = poll_us;
	ao.domid = DOM;
	ao.spec = x->spec;
	ao.timeout_ms = 20000;
	ao.script = file_backing ? x->script : NULL;
	r = vbd_dev_attach(x->c, &ao, bench_on_done, &d);
	if (r < 0) {
		fprintf(stderr, "datapath_bench: attach: %s\n", vbd_ctx_last_error(x->c));
		return r;
	}
	return drive(x, &d, &fo);
}

static int dev_detach(host *x)
{
	vbd_detach_options dd = VBD_DETACH_OPTIONS_INIT;
	bench_done d = { 0 };
	int r;

	dd.domid = DOM;
	dd.devid = DEVID;
	dd.force = true;
	r = vbd_dev_detach(x->c, &dd, bench_on_done, &d);
	if (r == 0)
		r = drive(x, &d, NULL);
	frontend_free(x);
	return r;
}

/* --- workloads ---------------------------------------------------------------------------- */

typedef struct workload {
	const char *name;
	bool write, random;
	size_t bs;
	unsigned qd;
	bool bandwidth;             /* report MB/s, else IOPS */
	double target;              /* ring/direct at least this; 0: none */
} workload;

static const workload workloads[] = {
	{ "4k-randread QD1", false, true, 4096, 1, false, 0 },
	{ "4k-randread QD32", false, true, 4096, 32, false, 0.80 },
	{ "1m-seqread QD1", false, false, 1u << 20, 1, true, 0.90 },
	{ "1m-seqwrite QD1", true, false, 1u << 20, 1, true, 0.90 },
	{ "1m-seqread QD8", false, false, 1u << 20, 8, true, 0.90 },
	{ "1m-seqwrite QD8", true, false, 1u << 20, 8, true, 0.90 },
};
#define NWORK (sizeof(workloads) / sizeof(workloads[0]))

/* What both engines share: where the next I/O goes, and the count. */
typedef struct run {
	const workload *w;
	uint64_t size;              /* bytes addressable */
	_Atomic uint64_t next;      /* sequential: the next offset */
	_Atomic uint64_t ios;
	uint64_t deadline;
	_Atomic bool stop;
	_Atomic int error;
} run;

static uint64_t last_ios;   /* requests done by the last run_*() */

/* User and system CPU seconds of the whole process: the frontend, the
 * backend's workers and the direct threads alike. */
static double proc_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t next_offset(run *r, uint64_t *seed)
{
	uint64_t blocks = r->size / r->w->bs;

	if (r->w->random)
		return (rnd(seed) % blocks) * r->w->bs;
	return (atomic_fetch_add(&r->next, 1) % blocks) * r->w->bs;
}

/* Direct: QD threads, each one pread/pwrite after the other. */
typedef struct dthread {
	run *r;
	int fd;
	pthread_t th;
	uint64_t seed;
	void *buf;
} dthread;

static void *direct_main(void *arg)
{
	dthread *t = arg;
	run *r = t->r;
	uint64_t n = 0;

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		uint64_t off = next_offset(r, &t->seed);
		ssize_t k = r->w->write ? pwrite(t->fd, t->buf, r->w->bs, (off_t)off)
		                        : pread(t->fd, t->buf, r->w->bs, (off_t)off);

		if (k != (ssize_t)r->w->bs) {
			r->error = k < 0 ? -errno : -EIO;
			break;
		}
		/* The clock only now and then: it is not free at 1M IOPS. */
		if ((++n & 63) == 0 && bench_now_ns() >= r->deadline)
			r->stop = true;
		if (n >= 64) {
			atomic_fetch_add_explicit(&r->ios, n, memory_order_relaxed);
			n = 0;
		}
	}
	atomic_fetch_add(&r->ios, n);
	return NULL;
}

static int run_direct(const char *path, const workload *w, uint64_t size, double seconds,
                      double *ret_rate)
{
	dthread t[MAX_QD];
	run r = { .w = w, .size = size };
	unsigned i, started = 0;
	uint64_t t0, t1;
	int fd, rc = 0;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (i = 0; i < w->qd; i++) {
		t[i] = (dthread){ .r = &r, .fd = fd, .seed = 0x1234567ull * (i + 1) };
		t[i].buf = aligned_alloc(4096, w->bs);
		if (!t[i].buf) {
			rc = -ENOMEM;
			goto out;
		}
		memset(t[i].buf, 0x5a, w->bs);
	}
	t0 = bench_now_ns();
	r.deadline = t0 + (uint64_t)(seconds * 1e9);
	for (i = 0; i < w->qd; i++) {
		if ((rc = -pthread_create(&t[i].th, NULL, direct_main, &t[i])) < 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(t[i].th, NULL);
	t1 = bench_now_ns();
	if (rc == 0)
		rc = r.error;
	*ret_rate = (double)r.ios / ((double)(t1 - t0) / 1e9);
	last_ios = r.ios;
out:
	for (i = 0; i < w->qd; i++)
		free(t[i].buf);
	close(fd);
	return rc;
}

/* Ring: QD requests in flight, each resubmitted from its completion. */
typedef struct slot {
	run *r;
	host *x;
	void *buf;
	uint64_t seed;
	unsigned *inflight;
} slot;

static void slot_done(int result, void *ud);

static int slot_submit(slot *s)
{
	uint64_t off = next_offset(s->r, &s->seed);
	int rc;

	rc = vbd_blkfront_submit(s->x->f, s->r->w->write ? VBD_BLKFRONT_WRITE : VBD_BLKFRONT_READ,
	                         off, s->buf, s->r->w->bs, slot_done, s);
	if (rc == 0)
		(*s->inflight)++;
	return rc;
}

static void slot_done(int result, void *ud)
{
	slot *s = ud;
	run *r = s->r;
	int rc;

	(*s->inflight)--;
	if (result < 0) {
		r->error = result;
		r->stop = true;
		return;
	}
	r->ios++;
	if ((r->ios & 15) == 0 && bench_now_ns() >= r->deadline)
		r->stop = true;
	if (r->stop)
		return;
	rc = slot_submit(s);
	if (rc < 0) {
		r->error = rc;
		r->stop = true;
	}
}


static void *ring_buf(host *x, size_t len)
{
	void *p = NULL;

	if (!zero_copy)
		return aligned_alloc(4096, len);
	if (zc.owner != x->f) {
		if (vbd_blkfront_buffer_alloc(x->f, ZC_ARENA, &p) < 0)
			return NULL;
		zc.owner = x->f;
		zc.base = p;
		zc.used = 0;
	}
	len = (len + 4095) & ~(size_t)4095;
	if (zc.used + len > ZC_ARENA)
		return NULL;
	p = zc.base + zc.used;
	zc.used += len;
	return p;
}

static void ring_buf_free(host *x, void *p)
{
	(void)x;
	if (zero_copy)
		zc.used = 0;     /* the run is over: all its buffers go at once */
	else
		free(p);
}

static int run_ring(host *x, const workload *w, uint64_t size, double seconds, double *ret_rate)
{
	slot s[MAX_QD];
	run r = { .w = w, .size = size };
	unsigned i, inflight = 0;
	uint64_t t0, t1;
	int rc = 0;

	for (i = 0; i < w->qd; i++) {
		s[i] = (slot){ .r = &r, .x = x, .seed = 0x7654321ull * (i + 1), .inflight = &inflight };
		s[i].buf = ring_buf(x, w->bs);
		if (!s[i].buf) {
			while (i--)
				ring_buf_free(x, s[i].buf);
			return -ENOMEM;
		}
		memset(s[i].buf, 0xa5, w->bs);
	}
	t0 = bench_now_ns();
	r.deadline = t0 + (uint64_t)(seconds * 1e9);
	for (i = 0; i < w->qd && rc == 0; i++)
		rc = slot_submit(&s[i]);
	if (rc < 0)
		r.stop = true;
	while (inflight) {
		struct pollfd p = { vbd_blkfront_get_fd(x->f), POLLIN, 0 };
		int t = vbd_blkfront_get_timeout_ms(x->f);

		/* 0: a busy-poll saw a response; process() takes it at once. */
		if (t != 0)
			poll(&p, 1, t);
		if (vbd_blkfront_process(x->f) < 0) {
			rc = -EIO;
			break;
		}
	}
	t1 = bench_now_ns();
	if (rc == 0)
		rc = r.error;
	*ret_rate = (double)r.ios / ((double)(t1 - t0) / 1e9);
	last_ios = r.ios;
	for (i = 0; i < w->qd; i++)
		ring_buf_free(x, s[i].buf);
	return rc;
}

/* The whole device through the ring once: the loop device's own cache. */
static int warm(host *x, uint64_t size)
{
	const size_t chunk = 1u << 20;
	void *buf = aligned_alloc(4096, chunk);
	uint64_t off;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (off = 0; off < size && r == 0; off += chunk)
		r = vbd_blkfront_read(x->f, off, buf, chunk);
	free(buf);
	return r;
}

/* --- main ------------------------------------------------------------------------------------ */

typedef struct result {
	double ring, direct;        /* IOPS, summed over rounds then averaged */
	/* The process's CPU seconds and requests of each side's runs: CPU per
	 * request, which other load on the machine moves far less than the
	 * rates (a run's share of contended CPUs varies with its thread
	 * count: QD threads for direct, two for the ring). */
	double ring_cpu, direct_cpu;
	uint64_t ring_ios, direct_ios;
} result;

/* A run of one side, with its CPU time and requests added to o. */
static int timed(host *x, const workload *w, double seconds, bool ring, result *o, double *rate)
{
	double c0 = proc_cpu_s();
	int r = ring ? run_ring(x, w, x->size, seconds, rate)
	             : run_direct(x->img, w, x->size, seconds, rate);

	if (ring) {
		o->ring_cpu += proc_cpu_s() - c0;
		o->ring_ios += last_ios;
	} else {
		o->direct_cpu += proc_cpu_s() - c0;
		o->direct_ios += last_ios;
	}
	return r;
}

/* What the ring runs of one workload cost in grants, per request: the
 * profile of the zero-copy cliff (a working set beyond the backend's
 * persistent-grant cache maps and unmaps on every request). */
static void print_grant_costs(const vbd_blkback_stats *a, const vbd_blkback_stats *b)
{
	double req = (double)(b->requests - a->requests);
	double hits = (double)(b->pgrant_hits - a->pgrant_hits);

	if (req < 1)
		return;
	printf("%-18s   per request: %.2f grant maps, %.2f evictions, %.1f persistent hits",
	       "", (double)(b->grant_maps - a->grant_maps) / req,
	       (double)(b->pgrant_evictions - a->pgrant_evictions) / req, hits / req);
	/* Segments mapped for their request only: the cache or the budget
	 * full, or a map that failed for want of mappings. */
	if (b->pgrant_uncached != a->pgrant_uncached)
		printf(", %.1f uncached (%.2f failed maps)",
		       (double)(b->pgrant_uncached - a->pgrant_uncached) / req,
		       (double)(b->pgrant_map_failures - a->pgrant_map_failures) / req);
	printf("\n");
	/* How the backend answers: many responses a push is a batch the
	 * frontend waits for whole; one a push lets it work beside the
	 * backend (blkback's uring.c, flush()). */
	if (b->rsp_pushes == a->rsp_pushes)
		return;
	printf("%-18s   responses: %.1f a push, %.2f notifies a request", "",
	       req / (double)(b->rsp_pushes - a->rsp_pushes), (double)(b->notifies - a->notifies) / req);
	/* Reads the io_uring engine copied from the page cache itself. */
	if (b->cached_reads > a->cached_reads)
		printf(", %.2f copied from the page cache", (double)(b->cached_reads - a->cached_reads) / req);
	printf("\n");
}

/* The engine --engine (or the environment) asked blkback for. */
static const char *engine_asked(void)
{
	const char *e = getenv("VBD_BLKBACK_ENGINE");

	return e ? e : "uring";
}

/* One workload's result as a CSV row: ring against direct. */
static void csv_result(const workload *w, const char *backing, unsigned queues, const result *o)
{
	double unit = w->bandwidth ? (double)w->bs / 1e6 : 1;  /* MB/s from requests/s */
	char tgt[16];

	snprintf(tgt, sizeof(tgt), ">=%.2f", w->target);
	bench_csv_config("backing=%s engine=%s zero_copy=%d", backing,
	                 engine_asked(),
	                 zero_copy);
	bench_csv_row(&(bench_row){ .workload = w->name, .op = w->write ? "write" : "read",
	                            .qd = w->qd, .size = w->bs, .queues = queues,
	                            .metric = w->bandwidth ? "bandwidth" : "iops",
	                            .value = o->ring * unit,
	                            .unit = w->bandwidth ? "MB/s" : "IOPS",
	                            .baseline = o->direct * unit,
	                            .target = w->target ? tgt : NULL,
	                            .verdict = w->target ? bench_verdict(o->ring / o->direct >=
	                                                                 w->target) : NULL });
}

/* --poll-us N: 4 KiB random read at QD1 and QD32 with both drivers'
 * poll_us 0, then N, each against direct, and the CPU the process burns
 * per request (getrusage: the frontend, the backend's workers, or the
 * direct threads).  The target: ring >= 25% of direct at QD1 with
 * polling on.  Returns 0, or -errno if it could not run. */
static const workload poll_workloads[] = {
	{ "4k-randread QD1", false, true, 4096, 1, false, 0.25 },
	{ "4k-randread QD32", false, true, 4096, 32, false, 0 },
	/* What polling does for a large request at QD1, whose service
	 * outlasts a short bound: no target of its own (the 1 MiB targets
	 * are the main run's). */
	{ "1m-seqread QD1", false, false, 1u << 20, 1, true, 0 },
	{ "1m-seqwrite QD1", true, false, 1u << 20, 1, true, 0 },
};
#define NPOLLW (sizeof(poll_workloads) / sizeof(poll_workloads[0]))
/* --poll-us N[,N...]: the bounds compared with polling off. */
#define MAX_POLL 4

/* A --poll-us result as CSV: the rate against direct (the target on QD1
 * with polling on), and the CPU time per request of each. */
static void csv_poll(const workload *w, bool file_backing, unsigned queues, unsigned us,
                     double ring, double direct, double cpu_ring, double cpu_direct)
{
	bool target = w->target && us;
	char tgt[16];

	snprintf(tgt, sizeof(tgt), ">=%.2f", w->target);
	bench_csv_config("backing=%s engine=%s zero_copy=%d poll_us=%u",
	                 file_backing ? "file" : "loop",
	                 engine_asked(),
	                 zero_copy, us);
	bench_csv_row(&(bench_row){ .workload = w->name, .op = w->write ? "write" : "read",
	                            .qd = w->qd, .size = w->bs, .queues = queues,
	                            .metric = w->bandwidth ? "bandwidth" : "iops",
	                            .value = w->bandwidth ? ring * (double)w->bs / 1e6 : ring,
	                            .unit = w->bandwidth ? "MB/s" : "IOPS",
	                            .baseline = w->bandwidth ? direct * (double)w->bs / 1e6 : direct,
	                            .target = target ? tgt : NULL,
	                            .verdict = target ? bench_verdict(ring / direct >= w->target)
	                                              : NULL });
	bench_csv_row(&(bench_row){ .workload = w->name, .op = w->write ? "write" : "read",
	                            .qd = w->qd, .size = w->bs, .queues = queues,
	                            .metric = "cpu_per_request",
	                            .value = cpu_ring, .unit = "us", .baseline = cpu_direct });
}

/* Each workload with polling off, then at each of the npoll bounds in
 * poll_us; ret_ratio[pass]: the first one's ring/direct at each. */
static int poll_compare(host *x, bool file_backing, unsigned queues, const unsigned *poll_us,
                        unsigned npoll, unsigned long rounds, double seconds,
                        double ret_ratio[1 + MAX_POLL])
{
	unsigned pass, wi, k;
	int r;

	printf("%-18s %-8s %12s %12s %7s %14s %14s %9s %9s\n", "", "poll", "ring", "direct",
	       "ratio", "ring CPU/req", "direct CPU/req", "notifies", "events");
	for (pass = 0; pass <= npoll; pass++) {
		unsigned us = pass ? poll_us[pass - 1] : 0;
		vbd_blkfront_info i0 = { .size = sizeof(i0) }, i1 = { .size = sizeof(i1) };

		if ((r = backend_restart(x, us)) < 0 ||
		    (r = dev_attach(x, file_backing, queues, us)) < 0)
			return r;
		if ((r = warm(x, x->size)) < 0) {
			fprintf(stderr, "datapath_bench: warm-up read: %s\n", strerror(-r));
			return r;
		}
		for (wi = 0; wi < NPOLLW; wi++) {
			const workload *w = &poll_workloads[wi];
			double ring = 0, direct = 0, cpu_ring = 0, cpu_direct = 0;
			uint64_t n_ring = 0, n_direct = 0;
			char label[16];

			vbd_blkfront_get_info(x->f, &i0);
			for (k = 0; k < rounds; k++) {
				double a = 0, d = 0, c0;
				unsigned j;

				for (j = 0; j < 2; j++) {
					/* Alternate which goes first. */
					bool do_ring = (j == 0) == (k % 2 == 0);

					c0 = proc_cpu_s();
					r = do_ring ? run_ring(x, w, x->size, seconds, &a)
					            : run_direct(x->img, w, x->size, seconds, &d);
					if (r < 0) {
						fprintf(stderr, "datapath_bench: %s: %s (%s)\n", w->name,
						        strerror(-r), vbd_blkfront_last_error(x->f));
						return r;
					}
					if (do_ring) {
						cpu_ring += proc_cpu_s() - c0;
						n_ring += last_ios;
					} else {
						cpu_direct += proc_cpu_s() - c0;
						n_direct += last_ios;
					}
				}
				ring += a / (double)rounds;
				direct += d / (double)rounds;
			}
			vbd_blkfront_get_info(x->f, &i1);
			snprintf(label, sizeof(label), us ? "%u us" : "off", us);
			if (w->bandwidth)
				printf("%-18s %-8s %7.0f MB/s %7.0f MB/s", w->name, label,
				       ring * (double)w->bs / 1e6, direct * (double)w->bs / 1e6);
			else
				printf("%-18s %-8s %7.0f IOPS %7.0f IOPS", w->name, label, ring, direct);
			printf(" %6.1f%% %11.1f us %11.1f us %9.2f %9.2f\n", 100 * ring / direct,
			       n_ring ? 1e6 * cpu_ring / (double)n_ring : 0,
			       n_direct ? 1e6 * cpu_direct / (double)n_direct : 0,
			       n_ring ? (double)(i1.notifies - i0.notifies) / (double)n_ring : 0,
			       n_ring ? (double)(i1.events - i0.events) / (double)n_ring : 0);
			fflush(stdout);
			csv_poll(w, file_backing, queues, us, ring, direct,
			         n_ring ? 1e6 * cpu_ring / (double)n_ring : 0,
			         n_direct ? 1e6 * cpu_direct / (double)n_direct : 0);
			if (wi == 0)
				ret_ratio[pass] = ring / direct;
		}
		if ((r = dev_detach(x)) < 0)
			return r;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: datapath_bench [--size MiB] [--seconds S] [--rounds R]\n"
	        "                      [--backing loop|file|both] [--queues 1|2|both]\n"
	        "                      [--engine uring|sync] [--zero-copy] [--poll-us N[,N...]]\n"
	        "                      [--workload W]\n"
	        "\n"
	        "The bundled blkfront -> rings -> blkback path against pread/pwrite on the\n"
	        "same (page-cached) file, in one process: 4 KiB random read at QD1 and QD32,\n"
	        "1 MiB sequential read and write at QD1 and QD8.\n"
	        "\n"
	        "  -m, --size MiB     the file (256)\n"
	        "  -s, --seconds S    per measurement (1.0)\n"
	        "  -r, --rounds R     ring/direct alternations per workload (2)\n"
	        "  -b, --backing B    loop: built-in hotplug, a loop device over the file;\n"
	        "                     file: blkback serves the file itself; both (default)\n"
	        "  -q, --queues Q     1, 2 or both (default)\n"
	        "  -z, --zero-copy    I/O buffers from vbd_blkfront_buffer_alloc(): granted\n"
	        "                     once, no copy in the frontend\n"
	        "  -e, --engine E     blkback's I/O engine: uring (the default; synchronous\n"
	        "                     where io_uring is unavailable) or sync\n"
	        "  -p, --poll-us N[,N...]\n"
	        "                     instead: 4 KiB random read at QD1 and QD32, 1 MiB\n"
	        "                     sequential read and write at QD1, with both drivers'\n"
	        "                     busy-poll off, then at each bound N microseconds (up to\n"
	        "                     4), with the process's CPU time per request (getrusage)\n"
	        "                     and the event-channel notifies and events per request;\n"
	        "                     target: ring >= 25%% of 4 KiB QD1's direct with polling on\n"

	        "  -w, --workload W   only this one, named as in the output (\"1m-seqread QD8\"):\n"
	        "                     for a profile (bench/README.md)\n"
	        "      --csv FILE     also append CSV rows to FILE (see bench/README.md)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 'm' },
		{ "seconds", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "backing", required_argument, NULL, 'b' },
		{ "queues", required_argument, NULL, 'q' },
		{ "zero-copy", no_argument, NULL, 'z' },
		{ "engine", required_argument, NULL, 'e' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ "workload", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static const char *const backing_name[2] = { "loop", "file" };
	host x = { 0 };
	unsigned long size_mib = 256, rounds = 2;
	unsigned poll_us[MAX_POLL], npoll = 0;
	double seconds = 1.0;
	bool do_backing[2] = { true, true };
	bool do_queues[2] = { true, true };
	result res[2][2][NWORK];
	vbd_blkback_stats bs = { .size = sizeof(bs) };
	int c, rc = 1, r;
	unsigned bk, qi, wi, k;
	const char *only = NULL;
	char *end;

	memset(res, 0, sizeof(res));
	if (bench_csv_init("datapath_bench", &argc, argv) < 0)
		return 2;
	while ((c = getopt_long(argc, argv, "m:s:r:b:q:ze:p:w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			for (wi = 0; wi < NWORK && strcmp(workloads[wi].name, optarg); wi++)
				;
			if (wi == NWORK)
				goto bad_arg;
			only = optarg;
			break;
		case 'z':
			zero_copy = true;
			break;
		case 'e':
			/* blkback reads it at each ring's connect. */
			if (strcmp(optarg, "uring") && strcmp(optarg, "sync"))
				goto bad_arg;
			setenv("VBD_BLKBACK_ENGINE", optarg, 1);
			break;
		case 'p':
			for (end = optarg, npoll = 0; npoll == 0 || *end == ','; npoll++) {
				unsigned long v = strtoul(end + (npoll ? 1 : 0), &end, 10);

				if (npoll == MAX_POLL || v < 1 || v > 1000000)
					goto bad_arg;
				poll_us[npoll] = (unsigned)v;
			}
			if (*end)
				goto bad_arg;
			break;
		case 'm':
			size_mib = strtoul(optarg, &end, 10);
			if (*end || size_mib < 16 || size_mib > 65536)
				goto bad_arg;
			break;
		case 's':
			seconds = strtod(optarg, &end);
			if (*end || seconds <= 0 || seconds > 600)
				goto bad_arg;
			break;
		case 'r':
			rounds = strtoul(optarg, &end, 10);
			if (*end || rounds < 1 || rounds > 100)
				goto bad_arg;
			break;
		case 'b':
			do_backing[0] = !strcmp(optarg, "loop") || !strcmp(optarg, "both");
			do_backing[1] = !strcmp(optarg, "file") || !strcmp(optarg, "both");
			if (!do_backing[0] && !do_backing[1])
				goto bad_arg;
			break;
		case 'q':
			do_queues[0] = !strcmp(optarg, "1") || !strcmp(optarg, "both");
			do_queues[1] = !strcmp(optarg, "2") || !strcmp(optarg, "both");
			if (!do_queues[0] && !do_queues[1])
				goto bad_arg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad_arg;
		}
	}
	if (optind != argc)
		goto bad_arg;
	signal(SIGPIPE, SIG_IGN);
	x.size = (uint64_t)size_mib << 20;

	if (host_start(&x) < 0)
		goto out;
	printf("datapath_bench: %lu MiB file %s, in the page cache; %.2f s per measurement, "
	       "%lu rounds; %ld CPUs; blkback engine asked: %s\n", size_mib, x.img, seconds, rounds,
	       sysconf(_SC_NPROCESSORS_ONLN),
	       engine_asked());
	printf("ring: blkfront (this thread) -> shared rings -> blkback workers (threads), "
	       "simulated hypervisor;\ndirect: QD threads doing pread/pwrite on the file\n\n");
	fflush(stdout);

	if (npoll) {
		double ratio[2][2][1 + MAX_POLL] = { { { 0 } } };
		unsigned pi;

		for (bk = 0; bk < 2; bk++)
			for (qi = 0; qi < 2; qi++) {
				if (!do_backing[bk] || !do_queues[qi])
					continue;
				printf("[%s backing%s, %u queue%s] busy-poll off, then", backing_name[bk],
				       zero_copy ? ", zero-copy buffers" : "", qi + 1, qi ? "s" : "");
				for (pi = 0; pi < npoll; pi++)
					printf("%s %u us", pi ? "," : "", poll_us[pi]);
				printf(", both drivers\n");
				if (poll_compare(&x, bk == 1, qi + 1, poll_us, npoll, rounds, seconds,
				                 ratio[bk][qi]) < 0)
					goto out;
				printf("\n");
			}
		for (bk = 0; bk < 2; bk++)
			for (qi = 0; qi < 2; qi++)
				for (pi = 0; do_backing[bk] && do_queues[qi] && pi < npoll; pi++)
					printf("target 4k-randread QD1 %s%s, %u queue%s, poll %u us: ring >= 25%% "
					       "of direct: %5.1f%% (off: %5.1f%%)  %s\n", backing_name[bk],
					       zero_copy ? " zero-copy" : "", qi + 1, qi ? "s" : " ",
					       poll_us[pi], 100 * ratio[bk][qi][1 + pi],
					       100 * ratio[bk][qi][0],
					       ratio[bk][qi][1 + pi] >= 0.25 ? "PASS" : "MISS");
		rc = 0;
		goto out;
	}
	for (bk = 0; bk < 2; bk++) {
		for (qi = 0; qi < 2; qi++) {
			vbd_blkfront_info info = { .size = sizeof(info) };

			if (!do_backing[bk] || !do_queues[qi])
				continue;
			if (dev_attach(&x, bk == 1, qi + 1, 0) < 0)
				goto out;
			vbd_blkfront_get_info(x.f, &info);
			printf("[%s backing%s, %u queue%s] ring order %u (%u requests each), %u segments "
			       "per request (%zu KiB), persistent grants %s\n", backing_name[bk],
			       zero_copy ? ", zero-copy buffers" : "",
			       info.queues, info.queues > 1 ? "s" : "", info.ring_page_order,
			       info.ring_size, info.indirect_segments, info.max_request_bytes >> 10,
			       info.persistent ? "on" : "off");
			if ((r = warm(&x, x.size)) < 0) {
				fprintf(stderr, "datapath_bench: warm-up read: %s\n", strerror(-r));
				goto out;
			}
			printf("%-18s %12s %12s %8s\n", "", "ring", "direct", "ratio");
			for (wi = 0; wi < NWORK; wi++) {
				const workload *w = &workloads[wi];
				result *o = &res[bk][qi][wi];
				double unit = w->bandwidth ? (double)w->bs / 1e6 : 1.0;
				vbd_blkback_stats b0 = { .size = sizeof(b0) }, b1 = { .size = sizeof(b1) };

				if (only && strcmp(w->name, only))
					continue;
				vbd_blkback_get_stats(x.b, &b0);
				for (k = 0; k < rounds; k++) {
					double a = 0, d = 0;

					/* Alternate which goes first. */
					if (k % 2 == 0) {
						r = timed(&x, w, seconds, true, o, &a);
						if (r == 0)
							r = timed(&x, w, seconds, false, o, &d);
					} else {
						r = timed(&x, w, seconds, false, o, &d);
						if (r == 0)
							r = timed(&x, w, seconds, true, o, &a);
					}
					if (r < 0) {
						fprintf(stderr, "datapath_bench: %s: %s (%s)\n", w->name,
						        strerror(-r), vbd_blkfront_last_error(x.f));
						goto out;
					}
					o->ring += a / (double)rounds;
					o->direct += d / (double)rounds;
				}
				printf("%-18s %9.0f %s %9.0f %s %7.0f%%\n", w->name, o->ring * unit,
				       w->bandwidth ? "MB/s" : "IOPS", o->direct * unit,
				       w->bandwidth ? "MB/s" : "IOPS", 100 * o->ring / o->direct);
				csv_result(w, backing_name[bk], qi + 1, o);
				vbd_blkback_get_stats(x.b, &b1);
				print_grant_costs(&b0, &b1);
				if (o->ring_ios && o->direct_ios) {
					double rc_us = o->ring_cpu * 1e6 / (double)o->ring_ios;
					double dc_us = o->direct_cpu * 1e6 / (double)o->direct_ios;

					printf("%-18s   CPU per request: ring %.2f us, direct %.2f us "
					       "(direct / ring %.0f%%)\n", "", rc_us, dc_us,
					       100 * dc_us / rc_us);
				}
				fflush(stdout);
			}
			if (dev_detach(&x) < 0)
				goto out;
			printf("\n");
		}
	}
	vbd_blkback_get_stats(x.b, &bs);

	for (bk = 0; bk < 2; bk++)
		for (qi = 0; qi < 2; qi++)
			for (wi = 0; wi < NWORK; wi++) {
				const workload *w = &workloads[wi];
				const result *o = &res[bk][qi][wi];
				double ratio;

				if (!do_backing[bk] || !do_queues[qi] || w->target == 0 ||
				    (only && strcmp(w->name, only)))
					continue;
				ratio = o->ring / o->direct;
				printf("target %-16s %s%s, %u queue%s: ring >= %.0f%% of direct: %5.1f%%  %s\n",
				       w->name, backing_name[bk], zero_copy ? " zero-copy" : "", qi + 1, qi ? "s" : " ", 100 * w->target,
				       100 * ratio, ratio >= w->target ? "PASS" : "MISS");
			}
	printf("\nblkback: %llu requests, %llu errors, %llu MB read, %llu MB written, %llu grant "
	       "maps, %llu persistent-grant hits\n",
	       (unsigned long long)bs.requests, (unsigned long long)bs.errors,
	       (unsigned long long)(bs.bytes_read / 1000000),
	       (unsigned long long)(bs.bytes_written / 1000000),
	       (unsigned long long)bs.grant_maps, (unsigned long long)bs.pgrant_hits);
	rc = 0;
out:
	host_stop(&x);
	return rc;

bad_arg:
	usage(stderr);
	return 2;
}
