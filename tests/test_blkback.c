/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bundled blkback against a raw frontend played by the test: the test
 * writes the toolstack's and the frontend's xenstore keys itself (the
 * frontend through the guest's own connection), shares ring and data pages
 * as domain 1 through the simulated hypervisor, and pushes raw requests,
 * well-formed and hostile.  The target is a file in a temporary directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "blkback/blkback.h"
#include "blkback/pgrant.h"
#include "blkback/req.h"
#include "simhv_fixture.h"
#include "transport/xport.h"        /* vbd__xport_fail */
#include "store_fixture.h"
#include "xs_relay.h"
#include "vbd/blkback.h"

#define FE_DOM 1
#define DEVID 51712
#define SECTORS 8192u            /* 4 MiB */
#define NDATA 64                 /* data pages the frontend shares */
#define TIMEOUT_MS 5000

struct fq {
	void *ring;
	uint32_t refs[16];
	unsigned pages;
	blkif_front_ring_t fr;
	vbd__blkif32_front_ring_t fr32;
	vbd_evtchn *ev;
	uint32_t port;
};

struct fx {
	vbd_test_store st;
	vbd_test_simhv hv;
	struct xs_handle *h0, *h1;
	vbd_xport *xb, *xf;
	vbd_blkback *b;
	vbd_blkback_options o;
	char dir[PATH_MAX], img[PATH_MAX + 16];
	const char *target;          /* what file_read() reads: img, or a block device */
	char be[128], fe[128];
	struct fq q[4];
	unsigned nq;
	bool x32;
	void *data;
	uint32_t drefs[NDATA];
	uint64_t next_id;
};

/* ---------------------------------------------------------------- helpers */

static void xs_put(struct xs_handle *h, xs_transaction_t t, const char *dir, const char *key,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void xs_put(struct xs_handle *h, xs_transaction_t t, const char *dir, const char *key,
                   const char *fmt, ...)
{
	char path[256], val[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", dir, key);
	if (!xs_write(h, t, path, val, strlen(val)))
		fail_msg("writing %s: %s", path, strerror(errno));
}

static long long xs_num(struct xs_handle *h, const char *dir, const char *key)
{
	char *v = vbd_test_xs_readf(h, "%s/%s", dir, key);
	long long n = v ? strtoll(v, NULL, 10) : -1;

	free(v);
	return n;
}

static bool xs_has(struct xs_handle *h, const char *path)
{
	char *v = vbd_test_xs_readf(h, "%s", path);

	free(v);
	return v != NULL;
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off >> 9) * 31 + off * 7 + 1);
}

/* Runs the backend's loop for up to ms, or until cond holds. */
static bool pump_until(struct fx *f, bool (*cond)(struct fx *, void *), void *arg, int ms)
{
	for (int waited = 0;; waited += 5) {
		struct pollfd p = { .fd = vbd_blkback_get_fd(f->b), .events = POLLIN };

		assert_true(vbd_blkback_process(f->b) >= 0);
		if (cond && cond(f, arg))
			return true;
		if (waited >= ms)
			return false;
		poll(&p, 1, 5);
	}
}

static bool be_state_is(struct fx *f, void *arg)
{
	return xs_num(f->h0, f->be, "state") == *(int *)arg;
}

static void wait_be_state(struct fx *f, int state)
{
	if (!pump_until(f, be_state_is, &state, TIMEOUT_MS))
		fail_msg("backend state %lld, expected %d", xs_num(f->h0, f->be, "state"), state);
}

static void settle(struct fx *f)
{
	pump_until(f, NULL, NULL, 100);
}

static vbd_blkback_stats stats(struct fx *f)
{
	vbd_blkback_stats s = { .size = sizeof(s) };

	assert_int_equal(vbd_blkback_get_stats(f->b, &s), 0);
	return s;
}

static void log_cb(int level, const char *msg, void *ud)
{
	(void)ud;
	/* Quiet: the hostile tests make errors on purpose. */
	if (getenv("VBD_TEST_VERBOSE") || level < VBD_LOG_ERR)
		fprintf(stderr, "blkback[%d]: %s\n", level, msg);
}

/* ------------------------------------------------------------- fixture */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct xs_permissions home[2] = { { 0, XS_PERM_NONE }, { FE_DOM, XS_PERM_READ } };
	vbd_blkback_options o = VBD_BLKBACK_OPTIONS_INIT;
	const char *tmp = getenv("TMPDIR");
	unsigned char buf[65536];
	int fd;

	assert_non_null(f);
	assert_int_equal(vbd_test_store_start(&f->st, NULL), 0);
	assert_int_equal(vbd_test_store_domain_add(&f->st, FE_DOM), 0);
	assert_int_equal(vbd_test_simhv_start(&f->hv), 0);
	assert_int_equal(vbd_test_simhv_domain_add(&f->hv, FE_DOM), 0);
	assert_int_equal(vbd_test_simhv_domain_add(&f->hv, 2), 0);
	f->h0 = vbd_test_xs_open(&f->st, 0);
	f->h1 = vbd_test_xs_open(&f->st, FE_DOM);
	assert_non_null(f->h0);
	assert_non_null(f->h1);
	assert_true(xs_write(f->h0, XBT_NULL, "/local/domain/1/device", "", 0));
	assert_true(xs_set_permissions(f->h0, XBT_NULL, "/local/domain/1", home, 2));
	assert_true(xs_set_permissions(f->h0, XBT_NULL, "/local/domain/1/device", home, 2));
	assert_int_equal(vbd_test_simhv_xport(&f->hv, 0, &f->xb), 0);
	assert_int_equal(vbd_test_simhv_xport(&f->hv, FE_DOM, &f->xf), 0);

	snprintf(f->dir, sizeof(f->dir), "%s/vbdbb.XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->img, sizeof(f->img), "%s/disk.img", f->dir);
	fd = open(f->img, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	for (uint64_t off = 0; off < SECTORS * 512ull; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(off + i);
		assert_int_equal(pwrite(fd, buf, sizeof(buf), (off_t)off), (ssize_t)sizeof(buf));
	}
	close(fd);
	assert_int_equal(vbd_gnt_share(f->xf, 0, NDATA, true, f->drefs, &f->data), 0);

	snprintf(f->be, sizeof(f->be), "/local/domain/0/backend/vbd/%d/%d", FE_DOM, DEVID);
	snprintf(f->fe, sizeof(f->fe), "/local/domain/%d/device/vbd/%d", FE_DOM, DEVID);
	o.xenstored_path = f->st.socket;
	o.xport = f->xb;
	o.log = log_cb;
	o.max_queues = 4;     /* not the machine's CPU count */
	f->o = o;
	f->next_id = 0x100;
	f->target = f->img;
	*state = f;
	return 0;
}

static void fe_close_rings(struct fx *f)
{
	for (unsigned i = 0; i < f->nq; i++) {
		struct fq *q = &f->q[i];

		if (q->ev) {
			vbd_evtchn_unbind(q->ev, q->port);
			q->ev = vbd_evtchn_close(q->ev);
		}
		if (q->ring)
			assert_int_equal(vbd_gnt_unshare(f->xf, q->ring, q->pages), 0);
		q->ring = NULL;
	}
	f->nq = 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[PATH_MAX + 16];

	f->b = vbd_blkback_free(f->b);
	fe_close_rings(f);
	/* Everything the backend mapped is unmapped: the frontend can end
	 * access to its pages. */
	assert_int_equal(vbd_gnt_unshare(f->xf, f->data, NDATA), 0);
	vbd_xport_free(f->xf);
	vbd_xport_free(f->xb);
	xs_close(f->h0);
	xs_close(f->h1);
	vbd_test_simhv_stop(&f->hv);
	vbd_test_store_stop(&f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	(void)!system(cmd);
	free(f);
	return 0;
}

static void start(struct fx *f)
{
	vbd_errbuf err = { "" };

	if (vbd_blkback_new(&f->b, &f->o, &err) < 0)
		fail_msg("vbd_blkback_new: %s", err.msg);
}

/* The toolstack's two directories, as libxl writes them. */
static void layout(struct fx *f, const char *mode)
{
	struct xs_permissions be_perms[2] = { { 0, XS_PERM_NONE }, { FE_DOM, XS_PERM_READ } };
	struct xs_permissions fe_perms[2] = { { FE_DOM, XS_PERM_NONE }, { 0, XS_PERM_READ } };
	xs_transaction_t t;

	do {
		t = xs_transaction_start(f->h0);
		assert_true(t != XBT_NULL);
		/* Perms first: the keys inherit them. */
		assert_true(xs_mkdir(f->h0, t, f->be));
		assert_true(xs_set_permissions(f->h0, t, f->be, be_perms, 2));
		assert_true(xs_mkdir(f->h0, t, f->fe));
		assert_true(xs_set_permissions(f->h0, t, f->fe, fe_perms, 2));
		xs_put(f->h0, t, f->be, "frontend", "%s", f->fe);
		xs_put(f->h0, t, f->be, "frontend-id", "%d", FE_DOM);
		xs_put(f->h0, t, f->be, "online", "1");
		xs_put(f->h0, t, f->be, "mode", "%s", mode);
		xs_put(f->h0, t, f->be, "device-type", "disk");
		xs_put(f->h0, t, f->be, "params", "%s", f->img);
		xs_put(f->h0, t, f->be, "state", "1");
		xs_put(f->h0, t, f->fe, "backend", "%s", f->be);
		xs_put(f->h0, t, f->fe, "backend-id", "0");
		xs_put(f->h0, t, f->fe, "virtual-device", "%d", DEVID);
		xs_put(f->h0, t, f->fe, "device-type", "disk");
		xs_put(f->h0, t, f->fe, "state", "1");
	} while (!xs_transaction_end(f->h0, t, false) && errno == EAGAIN);
}

/* What the hotplug step writes when it is done. */
static void hotplug(struct fx *f)
{
	xs_put(f->h0, XBT_NULL, f->be, "physical-device-path", "%s", f->img);
	xs_put(f->h0, XBT_NULL, f->be, "hotplug-status", "connected");
}

struct fe_opts {
	unsigned queues;       /* 0: 1 without the multi-queue key */
	int order;             /* -1: no ring-page-order key (ring-ref) */
	const char *protocol;  /* NULL: none written */
	bool persistent;
	int state;             /* 3, or 4 for Mini-OS */
};

/* The frontend's half of the handshake: share and initialise the rings,
 * allocate the ports, write the keys, switch state. */
static void fe_connect(struct fx *f, const struct fe_opts *o)
{
	unsigned nq = o->queues ? o->queues : 1, pages = o->order < 0 ? 1 : 1u << o->order;
	xs_transaction_t t;

	f->x32 = o->protocol && strcmp(o->protocol, "x86_32-abi") == 0;
	f->nq = nq;
	for (unsigned i = 0; i < nq; i++) {
		struct fq *q = &f->q[i];

		q->pages = pages;
		assert_int_equal(vbd_gnt_share(f->xf, 0, pages, true, q->refs, &q->ring), 0);
		if (f->x32) {
			SHARED_RING_INIT((vbd__blkif32_sring_t *)q->ring);
			FRONT_RING_INIT(&q->fr32, (vbd__blkif32_sring_t *)q->ring, pages * VBD_PAGE_SIZE);
		} else {
			SHARED_RING_INIT((blkif_sring_t *)q->ring);
			FRONT_RING_INIT(&q->fr, (blkif_sring_t *)q->ring, pages * VBD_PAGE_SIZE);
		}
		assert_int_equal(vbd_evtchn_open(f->xf, &q->ev), 0);
		assert_int_equal(vbd_evtchn_alloc_unbound(q->ev, 0, &q->port), 0);
	}
	do {
		t = xs_transaction_start(f->h1);
		assert_true(t != XBT_NULL);
		if (o->queues)
			xs_put(f->h1, t, f->fe, "multi-queue-num-queues", "%u", nq);
		if (o->order >= 0)
			xs_put(f->h1, t, f->fe, "ring-page-order", "%d", o->order);
		for (unsigned i = 0; i < nq; i++) {
			char dir[160];

			if (o->queues > 1)
				snprintf(dir, sizeof(dir), "%s/queue-%u", f->fe, i);
			else
				snprintf(dir, sizeof(dir), "%s", f->fe);
			for (unsigned k = 0; k < pages; k++) {
				char key[24];

				if (o->order >= 0)
					snprintf(key, sizeof(key), "ring-ref%u", k);
				else
					snprintf(key, sizeof(key), "ring-ref");
				xs_put(f->h1, t, dir, key, "%u", f->q[i].refs[k]);
			}
			xs_put(f->h1, t, dir, "event-channel", "%u", f->q[i].port);
		}
		if (o->protocol)
			xs_put(f->h1, t, f->fe, "protocol", "%s", o->protocol);
		xs_put(f->h1, t, f->fe, "feature-persistent", "%d", o->persistent);
		xs_put(f->h1, t, f->fe, "state", "%d", o->state ? o->state : 3);
	} while (!xs_transaction_end(f->h1, t, false) && errno == EAGAIN);
}

static void fe_state(struct fx *f, int s)
{
	xs_put(f->h1, XBT_NULL, f->fe, "state", "%d", s);
}

/* libxl's detach: online=0 and Closing, in one transaction. */
static void detach_start(struct fx *f)
{
	xs_transaction_t t;

	do {
		t = xs_transaction_start(f->h0);
		xs_put(f->h0, t, f->be, "online", "0");
		xs_put(f->h0, t, f->be, "state", "5");
	} while (!xs_transaction_end(f->h0, t, false) && errno == EAGAIN);
}

/* The usual way up: layout, hotplug, frontend, Connected. */
static void up(struct fx *f, const struct fe_opts *o)
{
	layout(f, "w");
	start(f);
	hotplug(f);
	wait_be_state(f, 2);
	fe_connect(f, o);
	wait_be_state(f, 4);
}

static const struct fe_opts plain = { 0, -1, "x86_64-abi", false, 3 };

/* ------------------------------------------------------------- requests */

struct req {
	uint8_t op, nr, flag;
	uint16_t nr16;               /* indirect */
	uint64_t id, sector, nr_sectors;
	uint32_t igrefs[8];
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};

/* op on n whole data pages from page p0, at sector. */
static struct req rq(uint8_t op, uint64_t sector, unsigned n, unsigned p0, struct fx *f)
{
	struct req r = { .op = op, .nr = (uint8_t)n, .sector = sector };

	for (unsigned i = 0; i < n && i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) {
		r.seg[i].gref = f->drefs[p0 + i];
		r.seg[i].first_sect = 0;
		r.seg[i].last_sect = 7;
	}
	return r;
}

/* The request in the frontend's ABI, in the next slot. */
static void put_req(struct fx *f, struct fq *q, const struct req *r)
{
	if (f->x32) {
		union vbd__blkif32_request *e = RING_GET_REQUEST(&q->fr32, q->fr32.req_prod_pvt);

		memset(e, 0, sizeof(*e));
		e->operation = r->op;
		if (r->op == BLKIF_OP_DISCARD) {
			e->discard.flag = r->flag;
			e->discard.id = r->id;
			e->discard.sector_number = r->sector;
			e->discard.nr_sectors = r->nr_sectors;
		} else if (r->op == BLKIF_OP_INDIRECT) {
			e->indirect.indirect_op = r->nr;
			e->indirect.nr_segments = r->nr16;
			e->indirect.id = r->id;
			e->indirect.sector_number = r->sector;
			memcpy((char *)e + offsetof(struct vbd__blkif32_indirect, indirect_grefs),
			       r->igrefs, sizeof(r->igrefs));
		} else {
			e->rw.nr_segments = r->nr;
			e->rw.id = r->id;
			e->rw.sector_number = r->sector;
			memcpy((char *)e + offsetof(struct vbd__blkif32_rw, seg), r->seg, sizeof(r->seg));
		}
		q->fr32.req_prod_pvt++;
	} else {
		blkif_request_t *e = RING_GET_REQUEST(&q->fr, q->fr.req_prod_pvt);

		memset(e, 0, sizeof(*e));
		e->operation = r->op;
		if (r->op == BLKIF_OP_DISCARD) {
			blkif_request_discard_t *d = (blkif_request_discard_t *)e;

			d->flag = r->flag;
			d->id = r->id;
			d->sector_number = r->sector;
			d->nr_sectors = r->nr_sectors;
		} else if (r->op == BLKIF_OP_INDIRECT) {
			blkif_request_indirect_t *in = (blkif_request_indirect_t *)e;

			in->indirect_op = r->nr;
			in->nr_segments = r->nr16;
			in->id = r->id;
			in->sector_number = r->sector;
			memcpy(in->indirect_grefs, r->igrefs, sizeof(r->igrefs));
		} else {
			e->nr_segments = r->nr;
			e->id = r->id;
			e->sector_number = r->sector;
			memcpy(e->seg, r->seg, sizeof(r->seg));
		}
		q->fr.req_prod_pvt++;
	}
}

static void push(struct fx *f, struct fq *q)
{
	int notify;

	if (f->x32)
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->fr32, notify);
	else
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->fr, notify);
	if (notify)
		assert_int_equal(vbd_evtchn_notify(q->ev, q->port), 0);
}

static bool has_rsp(struct fx *f, void *arg)
{
	struct fq *q = arg;
	RING_IDX prod = f->x32 ? q->fr32.sring->rsp_prod : q->fr.sring->rsp_prod;

	return prod != (f->x32 ? q->fr32.rsp_cons : q->fr.rsp_cons);
}

/* Takes one response: its status; checks its id and op. */
static int16_t get_rsp(struct fx *f, struct fq *q, uint64_t id, uint8_t op)
{
	uint64_t rid;
	uint8_t rop;
	int16_t st;

	if (!pump_until(f, has_rsp, q, TIMEOUT_MS))
		fail_msg("no response to request %llu", (unsigned long long)id);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (f->x32) {
		struct vbd__blkif32_response *r = RING_GET_RESPONSE(&q->fr32, q->fr32.rsp_cons);

		rid = r->id;
		rop = r->operation;
		st = r->status;
		q->fr32.rsp_cons++;
	} else {
		blkif_response_t *r = RING_GET_RESPONSE(&q->fr, q->fr.rsp_cons);

		rid = r->id;
		rop = r->operation;
		st = r->status;
		q->fr.rsp_cons++;
	}
	assert_int_equal(rid, id);
	assert_int_equal(rop, op);
	return st;
}

/* One request on queue qi, answered. */
static int16_t io(struct fx *f, unsigned qi, struct req r)
{
	r.id = f->next_id++;
	put_req(f, &f->q[qi], &r);
	push(f, &f->q[qi]);
	return get_rsp(f, &f->q[qi], r.id, r.op);
}

static unsigned char *page(struct fx *f, unsigned i)
{
	return (unsigned char *)f->data + (size_t)i * VBD_PAGE_SIZE;
}

static void file_read(struct fx *f, void *buf, size_t len, uint64_t off)
{
	int fd = open(f->target, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static off_t file_size(struct fx *f)
{
	struct stat st;

	assert_int_equal(stat(f->img, &st), 0);
	return st.st_size;
}

/* Writes n pages from p0 at sector (filled with seed), reads them back
 * into other pages, compares with the file. */
static void check_rw(struct fx *f, unsigned qi, uint64_t sector, unsigned n, unsigned p0,
                     unsigned seed)
{
	unsigned char *buf = malloc((size_t)n * VBD_PAGE_SIZE);

	assert_non_null(buf);
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < VBD_PAGE_SIZE; k++)
			page(f, p0 + i)[k] = (unsigned char)(seed + i * 13 + k * 3);
	assert_int_equal(io(f, qi, rq(BLKIF_OP_WRITE, sector, n, p0, f)), BLKIF_RSP_OKAY);
	file_read(f, buf, (size_t)n * VBD_PAGE_SIZE, sector * 512);
	assert_memory_equal(buf, page(f, p0), (size_t)n * VBD_PAGE_SIZE);
	memset(page(f, p0 + n), 0, (size_t)n * VBD_PAGE_SIZE);
	assert_int_equal(io(f, qi, rq(BLKIF_OP_READ, sector, n, p0 + n, f)), BLKIF_RSP_OKAY);
	assert_memory_equal(buf, page(f, p0 + n), (size_t)n * VBD_PAGE_SIZE);
	free(buf);
}

/* ------------------------------------------------------------- handshake */

static void test_options(void **state)
{
	struct fx *f = *state;
	vbd_blkback_options o = f->o;
	vbd_errbuf err = { "" };
	vbd_blkback *b = NULL;

	o.xport = NULL;
	assert_int_equal(vbd_blkback_new(&b, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "xport"));
	o = f->o;
	o.max_ring_page_order = 5;
	assert_int_equal(vbd_blkback_new(&b, &o, NULL), -EINVAL);
	o = f->o;
	o.version = 99;
	assert_int_equal(vbd_blkback_new(&b, &o, NULL), -EINVAL);
	assert_null(b);
	assert_null(vbd_blkback_free(NULL));
}

/* kind vbd3 (libxl's backendtype=tap): only backend/vbd3 is served, a
 * device there connects from params aio:<path> and the hotplug step's
 * physical-device-path; a vbd device next to it is left to the kernel's
 * blkback; another format, or a physical-device-path that is not the
 * params' path, is a fatal error of that device. */
static void test_kind_vbd3(void **state)
{
	struct fx *f = *state;
	vbd_blkback_options o = f->o;
	char vbd_be[sizeof(f->be)], err_node[128], *e;
	vbd_blkback *b = NULL;
	vbd_errbuf err = { "" };

	o.kind = "vbd4";
	assert_int_equal(vbd_blkback_new(&b, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "vbd3"));
	assert_null(b);

	/* A phy device for the kernel's blkback: never touched. */
	layout(f, "w");
	hotplug(f);
	snprintf(vbd_be, sizeof(vbd_be), "%s", f->be);
	snprintf(f->be, sizeof(f->be), "/local/domain/0/backend/vbd3/%d/%d", FE_DOM, DEVID);
	f->o.kind = "vbd3";
	start(f);
	settle(f);
	assert_int_equal(xs_num(f->h0, vbd_be, "state"), 1);
	assert_true(xs_rm(f->h0, XBT_NULL, "/local/domain/0/backend/vbd"));
	assert_true(xs_rm(f->h0, XBT_NULL, f->fe));

	/* The tap device: hostile params first. */
	layout(f, "w");
	xs_put(f->h0, XBT_NULL, f->be, "params", "vhd:%s", f->img);
	wait_be_state(f, 2);
	hotplug(f);
	wait_be_state(f, 5);
	snprintf(err_node, sizeof(err_node), "/local/domain/0/error/backend/vbd3/%d/%d/error",
	         FE_DOM, DEVID);
	e = vbd_test_xs_readf(f->h0, "%s", err_node);
	assert_non_null(e);
	assert_non_null(strstr(e, "aio:"));
	free(e);
	f->b = vbd_blkback_free(f->b);
	assert_true(xs_rm(f->h0, XBT_NULL, "/local/domain/0/backend/vbd3"));
	assert_true(xs_rm(f->h0, XBT_NULL, "/local/domain/0/error"));
	assert_true(xs_rm(f->h0, XBT_NULL, f->fe));

	/* physical-device-path elsewhere than params says. */
	layout(f, "w");
	xs_put(f->h0, XBT_NULL, f->be, "params", "aio:%s.other", f->img);
	start(f);
	wait_be_state(f, 2);
	hotplug(f);
	wait_be_state(f, 5);
	f->b = vbd_blkback_free(f->b);
	assert_true(xs_rm(f->h0, XBT_NULL, "/local/domain/0/backend/vbd3"));
	assert_true(xs_rm(f->h0, XBT_NULL, "/local/domain/0/error"));
	assert_true(xs_rm(f->h0, XBT_NULL, f->fe));

	/* As libxl writes it: served. */
	layout(f, "w");
	xs_put(f->h0, XBT_NULL, f->be, "params", "aio:%s", f->img);
	start(f);
	hotplug(f);
	fe_connect(f, &plain);
	wait_be_state(f, 4);
	check_rw(f, 0, 16, 2, 0, 5);
}

static void test_probe_keys(void **state)
{
	struct fx *f = *state;

	layout(f, "w");
	start(f);
	wait_be_state(f, 2);
	assert_int_equal(xs_num(f->h0, f->be, "feature-max-indirect-segments"), 256);
	assert_int_equal(xs_num(f->h0, f->be, "multi-queue-max-queues"), 4);
	assert_int_equal(xs_num(f->h0, f->be, "max-ring-page-order"), 4);
	/* Nothing to serve from yet: stays at InitWait. */
	fe_connect(f, &plain);
	settle(f);
	assert_int_equal(xs_num(f->h0, f->be, "state"), 2);
	assert_int_equal(stats(f).rings, 1);
	hotplug(f);
	wait_be_state(f, 4);
	assert_int_equal(xs_num(f->h0, f->be, "sectors"), SECTORS);
	assert_int_equal(xs_num(f->h0, f->be, "sector-size"), 512);
	assert_int_equal(xs_num(f->h0, f->be, "physical-sector-size"), 512);
	assert_int_equal(xs_num(f->h0, f->be, "info"), 0);
	assert_int_equal(xs_num(f->h0, f->be, "feature-flush-cache"), 1);
	assert_int_equal(xs_num(f->h0, f->be, "feature-barrier"), 1);
	assert_int_equal(xs_num(f->h0, f->be, "feature-discard"), 1);
	assert_int_equal(xs_num(f->h0, f->be, "discard-secure"), 0);
	assert_true(xs_num(f->h0, f->be, "discard-granularity") >= 512);
	assert_int_equal(xs_num(f->h0, f->be, "feature-persistent"), 1);
	check_rw(f, 0, 64, 2, 0, 1);
}

static void test_device_first(void **state)
{
	struct fx *f = *state;

	up(f, &plain);
	check_rw(f, 0, 0, 4, 0, 2);
	assert_int_equal(stats(f).connected, 1);
}

static void test_minios_skips_initialised(void **state)
{
	struct fx *f = *state;
	struct fe_opts o = plain;

	o.state = 4;
	o.protocol = NULL;      /* absent: native */
	up(f, &o);
	check_rw(f, 0, 8, 1, 0, 3);
}

/* The backend probes a device already there when it starts. */
static void test_existing_device(void **state)
{
	struct fx *f = *state;

	layout(f, "w");
	hotplug(f);
	fe_connect(f, &plain);
	start(f);
	wait_be_state(f, 4);
	check_rw(f, 0, 100, 2, 0, 4);
}

static void test_ring_orders(void **state)
{
	struct fx *f = *state;
	int orders[] = { 0, 2, 4 };

	up(f, &(struct fe_opts){ 0, 0, "x86_64-abi", false, 3 });
	check_rw(f, 0, 16, 3, 0, 5);
	for (unsigned i = 0; i < 3; i++) {
		unsigned size;

		fe_state(f, 6);
		wait_be_state(f, 6);
		fe_close_rings(f);
		fe_state(f, 1);
		wait_be_state(f, 2);
		fe_connect(f, &(struct fe_opts){ 0, orders[i], "x86_64-abi", false, 3 });
		wait_be_state(f, 4);
		/* More requests than one page's ring holds, one by one. */
		size = RING_SIZE(&f->q[0].fr);
		assert_int_equal(size, VBD_BLKIF_RING_SIZE(orders[i]));
		for (unsigned k = 0; k < 40; k++)
			assert_int_equal(io(f, 0, rq(BLKIF_OP_READ, k * 8, 1, 0, f)), BLKIF_RSP_OKAY);
		check_rw(f, 0, 200 + i * 64, 2, 4, 6 + i);
	}
}

static void test_full_ring(void **state)
{
	struct fx *f = *state;
	struct fq *q = &f->q[0];
	unsigned size;

	up(f, &(struct fe_opts){ 0, 1, "x86_64-abi", false, 3 });
	size = RING_SIZE(&q->fr);
	/* A full ring in one push: every slot answered, in order. */
	for (unsigned k = 0; k < size; k++) {
		struct req r = rq(BLKIF_OP_READ, k, 1, k % NDATA, f);

		r.id = 1000 + k;
		r.seg[0].last_sect = 0;
		put_req(f, q, &r);
	}
	push(f, q);
	for (unsigned k = 0; k < size; k++)
		assert_int_equal(get_rsp(f, q, 1000 + k, BLKIF_OP_READ), BLKIF_RSP_OKAY);
	assert_int_equal(stats(f).requests, size);
}

static void test_multi_queue(void **state)
{
	struct fx *f = *state;

	for (unsigned nq = 2; nq <= 4; nq++) {
		if (nq == 2) {
			up(f, &(struct fe_opts){ nq, 1, "x86_64-abi", false, 3 });
		} else {
			fe_state(f, 6);
			wait_be_state(f, 6);
			fe_close_rings(f);
			fe_state(f, 1);
			wait_be_state(f, 2);
			fe_connect(f, &(struct fe_opts){ nq, 1, "x86_64-abi", false, 3 });
			wait_be_state(f, 4);
		}
		assert_int_equal(stats(f).rings, nq);
		for (unsigned i = 0; i < nq; i++)
			check_rw(f, i, 512 + i * 64, 2, i * 8, 20 + i);
	}
}

/* Every queue busy at once: full rings of writes to separate regions,
 * answered by the four workers in parallel. */
static void test_concurrent_queues(void **state)
{
	struct fx *f = *state;
	unsigned size, per = 16;   /* pages per queue */
	unsigned char *buf = malloc(VBD_PAGE_SIZE);

	assert_non_null(buf);
	up(f, &(struct fe_opts){ 4, 0, "x86_64-abi", false, 3 });
	size = RING_SIZE(&f->q[0].fr);
	for (unsigned i = 0; i < 4 * per; i++)
		memset(page(f, i), (int)(0x40 + i), VBD_PAGE_SIZE);
	for (unsigned qi = 0; qi < 4; qi++) {
		for (unsigned k = 0; k < size; k++) {
			/* Queue qi writes its pages round and round over its region. */
			struct req r = rq(BLKIF_OP_WRITE, (uint64_t)(qi * per + k % per) * 8, 1,
			                  qi * per + k % per, f);

			r.id = qi * 1000 + k;
			put_req(f, &f->q[qi], &r);
		}
	}
	for (unsigned qi = 0; qi < 4; qi++)
		push(f, &f->q[qi]);
	for (unsigned qi = 0; qi < 4; qi++)
		for (unsigned k = 0; k < size; k++)
			assert_int_equal(get_rsp(f, &f->q[qi], qi * 1000 + k, BLKIF_OP_WRITE),
			                 BLKIF_RSP_OKAY);
	for (unsigned i = 0; i < 4 * per; i++) {
		file_read(f, buf, VBD_PAGE_SIZE, (uint64_t)i * VBD_PAGE_SIZE);
		assert_memory_equal(buf, page(f, i), VBD_PAGE_SIZE);
	}
	assert_int_equal(stats(f).requests, 4 * size);
	free(buf);
}

static void test_too_many_queues(void **state)
{
	struct fx *f = *state;

	layout(f, "w");
	start(f);
	hotplug(f);
	wait_be_state(f, 2);
	xs_put(f->h1, XBT_NULL, f->fe, "multi-queue-num-queues", "5");
	fe_connect(f, &plain);
	wait_be_state(f, 5);
	assert_true(xs_has(f->h0, "/local/domain/0/error/backend/vbd/1/51712/error"));
	assert_int_equal(stats(f).rings, 0);
}

static void test_bad_protocol(void **state)
{
	struct fx *f = *state;
	char *e;

	layout(f, "w");
	start(f);
	hotplug(f);
	wait_be_state(f, 2);
	fe_connect(f, &(struct fe_opts){ 0, -1, "sparc-abi", false, 3 });
	wait_be_state(f, 5);
	e = vbd_test_xs_readf(f->h0, "/local/domain/0/error/backend/vbd/1/51712/error");
	assert_non_null(e);
	assert_non_null(strstr(e, "sparc-abi"));
	assert_int_equal(atoi(e), ENOSYS);
	free(e);
	assert_int_equal(stats(f).fatal_errors, 1);
}

/* A device at InitWait, its backend new; again: the last one's backend,
 * rings and nodes (its error node too) gone first. */
static void to_initwait(struct fx *f, bool again)
{
	if (again) {
		f->b = vbd_blkback_free(f->b);
		fe_close_rings(f);
		assert_true(xs_rm(f->h0, XBT_NULL, "/local/domain/0/error") || errno == ENOENT);
		assert_true(xs_rm(f->h0, XBT_NULL, f->be));
		assert_true(xs_rm(f->h0, XBT_NULL, f->fe));
	}
	layout(f, "w");
	start(f);
	hotplug(f);
	wait_be_state(f, 2);
}

static void test_bad_ring_keys(void **state)
{
	struct fx *f = *state;

	layout(f, "w");
	start(f);
	hotplug(f);
	wait_be_state(f, 2);
	/* An order above the offer. */
	xs_put(f->h1, XBT_NULL, f->fe, "ring-page-order", "5");
	xs_put(f->h1, XBT_NULL, f->fe, "state", "3");
	wait_be_state(f, 5);
	assert_int_equal(stats(f).rings, 0);
}

static void test_ring_ref_garbage(void **state)
{
	struct fx *f = *state;

	layout(f, "w");
	start(f);
	hotplug(f);
	wait_be_state(f, 2);
	xs_put(f->h1, XBT_NULL, f->fe, "ring-ref", "12abc");
	xs_put(f->h1, XBT_NULL, f->fe, "event-channel", "1");
	xs_put(f->h1, XBT_NULL, f->fe, "state", "3");
	wait_be_state(f, 5);
	assert_int_equal(stats(f).rings, 0);
}

/* The per-queue keys are read together, after the top ones: a bad key of
 * the second queue still fails the device with the message that names
 * it, and nothing of the first queue stays mapped. */
static void test_ring_keys_hostile_queue(void **state)
{
	struct fx *f = *state;
	/* val NULL: the key removed.  The message names the key. */
	static const struct {
		const char *key, *val;
	} cases[] = {
		{ "queue-1/event-channel", "0x5" },
		{ "queue-1/ring-ref1", NULL },
		{ "queue-0/ring-ref0", "4294967296" },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[256], path[256], *e;

		to_initwait(f, i > 0);
		fe_connect(f, &(struct fe_opts){ 2, 1, "x86_64-abi", false, 1 });
		if (cases[i].val)
			xs_put(f->h1, XBT_NULL, f->fe, cases[i].key, "%s", cases[i].val);
		else {
			snprintf(path, sizeof(path), "%s/%s", f->fe, cases[i].key);
			assert_true(xs_rm(f->h1, XBT_NULL, path));
		}
		fe_state(f, 3);
		wait_be_state(f, 5);
		e = vbd_test_xs_readf(f->h0, "/local/domain/0/error/backend/vbd/1/51712/error");
		assert_non_null(e);
		snprintf(want, sizeof(want), "reading %s/%s", f->fe, cases[i].key);
		if (!strstr(e, want) || atoi(e) != EINVAL)
			fail_msg("case %u: error node \"%s\", want %d and \"%s\"", i, e, EINVAL, want);
		free(e);
		assert_int_equal(stats(f).rings, 0);
	}
}

/* The backend's round trips to the store: each request of its libxenstore
 * connections is one, and each send of its wire client (xs_batch.c) one.
 * own: domain 0's connections that are the test's (the oldest). */
static unsigned dom0_conns(struct fx *f, unsigned n, long long *reqs)
{
	char *out = xs_control_command(f->h0, "conns", NULL, 0), *line, *save = NULL;
	unsigned seen = 0;

	assert_non_null(out);
	*reqs = 0;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tok, *s2 = NULL;
		unsigned i = 0;

		if (!strstr(line, " domid 0 ") || seen++ >= n)
			continue;
		/* "pid P domid D events E type count type count ..." */
		for (tok = strtok_r(line, " ", &s2); tok; tok = strtok_r(NULL, " ", &s2), i++)
			if (i >= 7 && i % 2)
				*reqs += strtoll(tok, NULL, 10);
	}
	free(out);
	return seen;
}

static long long backend_round_trips(struct fx *f, unsigned own)
{
	unsigned long long wreq, wrt;
	long long reqs;
	unsigned n = dom0_conns(f, 0, &reqs);

	dom0_conns(f, n - own, &reqs);
	vbd__xb_wire_counts(f->b->bus->wire, &wreq, &wrt);
	return reqs - (long long)wreq + (long long)wrt;
}

static long long backend_requests(struct fx *f, unsigned own)
{
	long long reqs;
	unsigned n = dom0_conns(f, 0, &reqs);

	dom0_conns(f, n - own, &reqs);
	return reqs;
}

/* The backend's round trips and requests from the frontend's connect
 * (shape o) to the backend's Connected, I/O on every queue checked after:
 * the rings are the ones the keys named. */
static void initialised_cost(struct fx *f, unsigned own, const struct fe_opts *o, long long *rt,
                             long long *rq)
{
	unsigned nq = o->queues ? o->queues : 1;

	settle(f);
	*rt = backend_round_trips(f, own);
	*rq = backend_requests(f, own);
	fe_connect(f, o);
	wait_be_state(f, 4);
	settle(f);
	*rt = backend_round_trips(f, own) - *rt;
	*rq = backend_requests(f, own) - *rq;
	assert_int_equal(stats(f).rings, nq);
	for (unsigned i = 0; i < nq; i++)
		check_rw(f, i, 8 * i, 1, 0, 90 + i);
}

/* The backend's round trips from the frontend's Initialised (layout o) to
 * its Connected: at most max. */
static void layout_round_trips(struct fx *f, const struct fe_opts *o, long long max)
{
	long long none, rt, rq;
	unsigned own = dom0_conns(f, 0, &none);

	to_initwait(f, false);
	initialised_cost(f, own, o, &rt, &rq);
	print_message("Initialised -> Connected, %u queue(s), order %d: %lld round trips, "
	              "%lld requests of the backend\n", o->queues ? o->queues : 1, o->order, rt, rq);
	assert_true(rt <= max);
}

/* Of a shape not guessed (two queues of two pages): the state and the
 * top keys with the connect transaction's start, every queue's ring keys
 * in its window, the rings mapped at the last one's answer, the commit: 3
 * round trips.  Each key a round trip, it was 14; the state read alone,
 * then the top keys, 6; the state's window, the ring keys', the
 * transaction's three, 5. */
static void test_initialised_round_trips(void **state)
{
	layout_round_trips(*state, &(struct fe_opts){ 2, 1, "x86_64-abi", false, 3 }, 3);
}

/* Of the shapes Linux's blkfront and ours write by default (no
 * ring-page-order; one queue, or one per vCPU up to 4 and the 4 offered
 * here), the ring keys are read with the state, with the connect
 * transaction's start, and mapped before its reply is read: 3 round
 * trips (4 when the state's window went first).  The guess is both
 * shapes' keys, one's for nothing. */
static void guessed_round_trips(struct fx *f, const struct fe_opts *o)
{
	layout_round_trips(f, o, 3);
}

static uint64_t hv_maps(struct fx *f);

/* A state event in InitWait that is not Initialised (the frontend wrote
 * Initialising again): the keys' fetch with the connect transaction's
 * start says not now, the transaction is aborted (2 round trips, nothing
 * written), and the Initialised after it connects in 3. */
static void test_initwait_event_not_initialised(void **state)
{
	struct fx *f = *state;
	vbd_store_stats st = { .size = sizeof(st) };
	long long none, rt, rq;
	unsigned own = dom0_conns(f, 0, &none);

	to_initwait(f, false);
	settle(f);
	rt = backend_round_trips(f, own);
	rq = backend_requests(f, own);
	fe_state(f, 1);
	settle(f);
	rt = backend_round_trips(f, own) - rt;
	rq = backend_requests(f, own) - rq;
	print_message("Initialising again in InitWait: %lld round trips, %lld requests\n", rt, rq);
	assert_true(rt <= 2);
	assert_int_equal(xs_num(f->h0, f->be, "state"), 2);
	assert_false(xs_has(f->h0, "/local/domain/0/backend/vbd/1/51712/sectors"));
	vbd_test_store_stats(&f->st, &st);
	assert_int_equal(st.transactions, 0);
	assert_int_equal(hv_maps(f), 0);
	initialised_cost(f, own, &plain, &rt, &rq);
	assert_true(rt <= 3);
}

static void test_initialised_guessed_one_queue(void **state)
{
	guessed_round_trips(*state, &plain);
}

static void test_initialised_guessed_queues(void **state)
{
	guessed_round_trips(*state, &(struct fe_opts){ 4, -1, "x86_64-abi", false, 3 });
}

/* After Closed and Initialising, the shape of the last connect is the one
 * guessed, alone: its ring keys in the state's window again.  A frontend
 * that comes back with another shape is read as one not guessed. */
static void test_reconnect_guessed_round_trips(void **state)
{
	struct fx *f = *state;
	const struct fe_opts two = { 2, 1, "x86_64-abi", false, 3 };
	long long none, rt, rq, rt1, rq1;
	unsigned own = dom0_conns(f, 0, &none);

	layout(f, "w");
	start(f);
	hotplug(f);
	wait_be_state(f, 2);
	initialised_cost(f, own, &two, &rt1, &rq1);
	for (int i = 0; i < 2; i++) {
		fe_state(f, 5);
		wait_be_state(f, 5);
		fe_state(f, 6);
		wait_be_state(f, 6);
		fe_close_rings(f);
		if (i == 1) {
			/* The old shape's keys, which the new one's do not
			 * overwrite. */
			static const char *const old[] = { "queue-0", "queue-1", "ring-page-order",
			                                   "multi-queue-num-queues" };
			char path[256];

			for (unsigned k = 0; k < 4; k++) {
				snprintf(path, sizeof(path), "%s/%s", f->fe, old[k]);
				assert_true(xs_rm(f->h1, XBT_NULL, path));
			}
		}
		fe_state(f, 1);
		wait_be_state(f, 2);
		initialised_cost(f, own, i == 0 ? &two : &plain, &rt, &rq);
		print_message("reconnect with %s shape: %lld round trips, %lld requests (first "
		              "connect %lld, %lld)\n", i == 0 ? "the same" : "another", rt, rq,
		              rt1, rq1);
		assert_true(rt <= 3);
	}
}

/* The probe's reads are hostile too: a frontend outside the frontend
 * domain's home, or a frontend-id that is not the domain, is not served;
 * a frontend at another path than the usual one is (the probe's one-by-one
 * way), and one whose dir is missing is not yet. */
static void test_probe_frontend_keys(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *key, *val;
		int state;          /* the backend's, after */
	} cases[] = {
		{ "frontend", "/local/domain/0/device/vbd/51712", 1 },
		{ "frontend", "/local/domain/1/device/vbd/51712/../x", 1 },
		{ "frontend-id", "2", 1 },
		{ "frontend-id", "01x", 1 },
		{ "frontend", "/local/domain/1/device/vbd/51713", 1 },      /* missing */
		{ "frontend", "/local/domain/1/device/vbd-other/51712", 2 },
	};
	struct xs_permissions fe_perms[2] = { { FE_DOM, XS_PERM_NONE }, { 0, XS_PERM_READ } };
	char path[256];

	assert_true(xs_mkdir(f->h0, XBT_NULL, "/local/domain/1/device/vbd-other/51712"));
	assert_true(xs_set_permissions(f->h0, XBT_NULL, "/local/domain/1/device/vbd-other/51712",
	                               fe_perms, 2));
	xs_put(f->h0, XBT_NULL, "/local/domain/1/device/vbd-other/51712", "state", "1");
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f->b = vbd_blkback_free(f->b);
		xs_rm(f->h0, XBT_NULL, f->be);
		layout(f, "w");
		xs_put(f->h0, XBT_NULL, f->be, cases[i].key, "%s", cases[i].val);
		start(f);
		if (cases[i].state == 2)
			wait_be_state(f, 2);
		else
			settle(f);
		if (xs_num(f->h0, f->be, "state") != cases[i].state ||
		    stats(f).devices != (cases[i].state == 2))
			fail_msg("%s %s: state %lld, %u device(s)", cases[i].key, cases[i].val,
			         xs_num(f->h0, f->be, "state"), (unsigned)stats(f).devices);
		/* Its features are offered with InitWait, not before. */
		snprintf(path, sizeof(path), "%s/max-ring-page-order", f->be);
		assert_int_equal(xs_has(f->h0, path), cases[i].state == 2);
	}
}

/* The backend started and settled: its round trips so far (own: the
 * test's connections), to count a probe's from. */
static long long start_counting(struct fx *f, unsigned own)
{
	start(f);
	settle(f);
	return backend_round_trips(f, own);
}

/* A new device's probe, from the toolstack's nodes to InitWait: the
 * probe's transaction (start, one window with the state read first and
 * the target's keys last, the commit), the frontend's state watched and
 * read: 5.  With the target's keys looked at after the transaction it was
 * 6 (they are not there yet: one round trip); with the state read a round
 * trip before the rest, 7; each request a round trip, 14. */
static void test_probe_round_trips(void **state)
{
	struct fx *f = *state;
	long long none, rt;
	unsigned own = dom0_conns(f, 0, &none);

	rt = start_counting(f, own);
	layout(f, "w");
	wait_be_state(f, 2);
	settle(f);
	rt = backend_round_trips(f, own) - rt;
	print_message("a probe: %lld round trips of the backend\n", rt);
	assert_true(rt <= 5);
}

/* The toolstack's dirs, then the target's keys as the built-in hotplug
 * step writes them: not in the layout's transaction, but in one of their
 * own before the backend looks (it runs when pumped), so their event comes
 * after the dir's, which the probe answers. */
static void layout_hotplugged(struct fx *f)
{
	xs_transaction_t t;

	layout(f, "w");
	do {
		t = xs_transaction_start(f->h0);
		xs_put(f->h0, t, f->be, "physical-device-path", "%s", f->img);
		xs_put(f->h0, t, f->be, "hotplug-status", "connected");
	} while (!xs_transaction_end(f->h0, t, false) && errno == EAGAIN);
}

/* The built-in hotplug step writes the target's keys in the device's own
 * transaction: the probe's window reads them, and the target is open
 * when the probe is done, in the same 5 round trips (7 when they were
 * read after the probe: physical-device and -path, then the rest). */
static void test_probe_opens_target(void **state)
{
	struct fx *f = *state;
	long long none, rt;
	unsigned own = dom0_conns(f, 0, &none);

	rt = start_counting(f, own);
	layout_hotplugged(f);
	wait_be_state(f, 2);
	settle(f);
	rt = backend_round_trips(f, own) - rt;
	print_message("a probe with the target's keys there: %lld round trips of the backend\n", rt);
	assert_true(f->b->devs && f->b->devs->disk.fd >= 0);
	assert_true(rt <= 5);
	fe_connect(f, &plain);
	wait_be_state(f, 4);
	check_rw(f, 0, 16, 2, 0, 21);
}

/* A frontend at Initialised before the backend's watch on its state gives
 * its first event (Linux's blkfront answers InitWait at once): the probe's
 * look at the state (5 round trips with the probe) finds it, and the ring
 * keys come with the Connected transaction's start: 3 more.  They were
 * read in a round trip of their own first: 4. */
static void test_initialised_at_first_look(void **state)
{
	struct fx *f = *state;
	long long none, rt;
	unsigned own = dom0_conns(f, 0, &none);

	rt = start_counting(f, own);
	/* All of it before the backend looks (it runs when pumped). */
	layout_hotplugged(f);
	fe_connect(f, &plain);
	wait_be_state(f, 4);
	settle(f);
	rt = backend_round_trips(f, own) - rt;
	print_message("probe to Connected, the frontend Initialised at the first look: %lld round "
	              "trips of the backend\n", rt);
	assert_true(rt <= 8);
	check_rw(f, 0, 16, 2, 0, 22);
}

static void test_x86_32(void **state)
{
	struct fx *f = *state;

	up(f, &(struct fe_opts){ 0, 1, "x86_32-abi", false, 3 });
	check_rw(f, 0, 300, 3, 0, 7);
	assert_int_equal(io(f, 0, (struct req){ .op = 77 }), BLKIF_RSP_EOPNOTSUPP);
	{
		struct req r = { .op = BLKIF_OP_DISCARD, .sector = 8, .nr_sectors = 8 };

		assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	}
	check_rw(f, 0, 304, 1, 10, 8);
}

/* ------------------------------------------------------------- data path */

static void test_partial_segments(void **state)
{
	struct fx *f = *state;
	struct req r;
	unsigned char buf[3 * 512];

	up(f, &plain);
	memset(page(f, 0), 0xee, VBD_PAGE_SIZE);
	memset(page(f, 1), 0xee, VBD_PAGE_SIZE);
	r = rq(BLKIF_OP_READ, 1000, 2, 0, f);
	r.seg[0].first_sect = 6;     /* 2 sectors */
	r.seg[0].last_sect = 7;
	r.seg[1].first_sect = 3;     /* 1 sector */
	r.seg[1].last_sect = 3;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	file_read(f, buf, sizeof(buf), 1000 * 512);
	assert_memory_equal(page(f, 0) + 6 * 512, buf, 1024);
	assert_memory_equal(page(f, 1) + 3 * 512, buf + 1024, 512);
	/* The rest of the pages is untouched. */
	assert_int_equal(page(f, 0)[6 * 512 - 1], 0xee);
	assert_int_equal(page(f, 1)[3 * 512 - 1], 0xee);
	assert_int_equal(page(f, 1)[4 * 512], 0xee);
	assert_int_equal(stats(f).bytes_read, 1536);
}

static void test_flush_barrier(void **state)
{
	struct fx *f = *state;

	up(f, &plain);
	assert_int_equal(io(f, 0, (struct req){ .op = BLKIF_OP_FLUSH_DISKCACHE }), BLKIF_RSP_OKAY);
	assert_int_equal(io(f, 0, (struct req){ .op = BLKIF_OP_WRITE_BARRIER }), BLKIF_RSP_OKAY);
	/* A barrier with data writes it. */
	memset(page(f, 0), 0x5a, VBD_PAGE_SIZE);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_WRITE_BARRIER, 40, 1, 0, f)), BLKIF_RSP_OKAY);
	{
		unsigned char buf[VBD_PAGE_SIZE];

		file_read(f, buf, sizeof(buf), 40 * 512);
		assert_memory_equal(buf, page(f, 0), sizeof(buf));
	}
}

/* One push: writes, a barrier over the first write's sectors, a discard
 * of sectors just written, a flush.  Each runs after what came before it
 * (the io_uring engine drains what is in flight before a barrier, a flush
 * or a discard, and submits a batch only once it is taken), and the
 * responses come in ring order. */
static void test_ordered_batch(void **state)
{
	struct fx *f = *state;
	struct fq *q = &f->q[0];
	unsigned char buf[VBD_PAGE_SIZE], want[VBD_PAGE_SIZE];
	struct req rs[] = {
		rq(BLKIF_OP_WRITE, 40, 1, 0, f),
		rq(BLKIF_OP_WRITE_BARRIER, 40, 1, 1, f),
		rq(BLKIF_OP_WRITE, 2048, 1, 2, f),
		{ .op = BLKIF_OP_DISCARD, .sector = 2048, .nr_sectors = 8 },
		rq(BLKIF_OP_WRITE, 48, 1, 0, f),
		{ .op = BLKIF_OP_FLUSH_DISKCACHE },
	};

	up(f, &plain);
	memset(page(f, 0), 0x11, VBD_PAGE_SIZE);
	memset(page(f, 1), 0x22, VBD_PAGE_SIZE);
	memset(page(f, 2), 0x33, VBD_PAGE_SIZE);
	for (unsigned i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
		rs[i].id = 500 + i;
		put_req(f, q, &rs[i]);
	}
	push(f, q);
	for (unsigned i = 0; i < sizeof(rs) / sizeof(rs[0]); i++)
		assert_int_equal(get_rsp(f, q, 500 + i, rs[i].op), BLKIF_RSP_OKAY);
	file_read(f, buf, sizeof(buf), 40 * 512);
	memset(want, 0x22, sizeof(want));
	assert_memory_equal(buf, want, sizeof(buf));
	file_read(f, buf, sizeof(buf), 2048 * 512);
	memset(want, 0, sizeof(want));
	assert_memory_equal(buf, want, sizeof(buf));
	file_read(f, buf, sizeof(buf), 48 * 512);
	memset(want, 0x11, sizeof(want));
	assert_memory_equal(buf, want, sizeof(buf));
}

/* Many one-page writes in one push through a cache of 4 persistent
 * grants: a request may not evict a page that a request taken before it
 * and not yet answered still uses (its I/O may be in flight). */
static void test_persistent_in_flight(void **state)
{
	struct fx *f = *state;
	struct fq *q = &f->q[0];
	unsigned char buf[VBD_PAGE_SIZE], want[VBD_PAGE_SIZE];

	f->o.persistent_grants_max = 4;
	up(f, &(struct fe_opts){ 0, -1, "x86_64-abi", true, 3 });
	for (unsigned k = 0; k < 16; k++) {
		struct req r = rq(BLKIF_OP_WRITE, 8 * k, 1, k, f);

		memset(page(f, k), 0x40 + k, VBD_PAGE_SIZE);
		r.id = 700 + k;
		put_req(f, q, &r);
	}
	push(f, q);
	for (unsigned k = 0; k < 16; k++)
		assert_int_equal(get_rsp(f, q, 700 + k, BLKIF_OP_WRITE), BLKIF_RSP_OKAY);
	for (unsigned k = 0; k < 16; k++) {
		file_read(f, buf, sizeof(buf), 8 * k * 512);
		memset(want, 0x40 + k, sizeof(want));
		assert_memory_equal(buf, want, sizeof(buf));
	}
	assert_int_equal(stats(f).errors, 0);
	assert_int_equal(stats(f).pgrants, 4);
}

/* Eight requests in one push to a target that answers from memory (its
 * pages cached): each is answered in a push of its own, as its copy ends,
 * not all eight after the last copy (the frontend could be taking the
 * first ones on another CPU meanwhile).  The same holds for writes, whether
 * the kernel does them inline or hands buffered writes to its io-wq (ext4
 * does; the backend then writes them itself after the first): the second
 * eight are answered one by one either way.  Either engine. */
static void test_answered_as_done(void **state)
{
	struct fx *f = *state;
	struct fq *q = &f->q[0];
	unsigned char buf[VBD_PAGE_SIZE], want[VBD_PAGE_SIZE];
	vbd_blkback_stats a, b;

	up(f, &plain);
	/* In the page cache: written, then read once. */
	check_rw(f, 0, 0, 8, 0, 9);
	for (unsigned round = 0; round < 3; round++) {
		uint8_t op = round == 0 ? BLKIF_OP_READ : BLKIF_OP_WRITE;

		for (unsigned k = 0; k < 8; k++) {
			struct req r = rq(op, 8 * k, 1, 8 + k, f);

			memset(page(f, 8 + k), op == BLKIF_OP_READ ? 0 : 0x50 + round * 8 + k,
			       VBD_PAGE_SIZE);
			r.id = 900 + k;
			put_req(f, q, &r);
		}
		a = stats(f);
		push(f, q);
		for (unsigned k = 0; k < 8; k++)
			assert_int_equal(get_rsp(f, q, 900 + k, op), BLKIF_RSP_OKAY);
		b = stats(f);
		assert_int_equal(b.requests - a.requests, 8);
		for (unsigned k = 0; k < 8; k++) {
			file_read(f, buf, sizeof(buf), 8 * k * 512);
			memcpy(want, page(f, 8 + k), sizeof(want));
			assert_memory_equal(buf, want, sizeof(buf));
		}
		/* The first writes may meet the io-wq: the backend learns it. */
		if (round != 1 && b.rsp_pushes - a.rsp_pushes != 8)
			fail_msg("round %u: 8 requests answered in %llu pushes, not 8", round,
			         (unsigned long long)(b.rsp_pushes - a.rsp_pushes));
		assert_true(b.notifies - a.notifies <= b.rsp_pushes - a.rsp_pushes);
	}
	assert_int_equal(stats(f).errors, 0);
}

/* A ring whose io_uring queue cannot be made at its first request (the
 * kernel's memory for it spent) goes on with the synchronous engine: that
 * request and the next are answered, and the ring holds no queue. */
static void test_queue_fails_first_request(void **state)
{
	struct fx *f = *state;

	up(f, &plain);
	if (!f->b->devs->rings[0].u)
		skip();     /* the synchronous engine already */
	__atomic_store_n(&f->b->uring_queue_fail, -ENOMEM, __ATOMIC_RELAXED);
	check_rw(f, 0, 0, 2, 0, 3);
	assert_null(f->b->devs->rings[0].u);
	assert_int_equal(vbd__bb_uring_queue_bytes(&f->b->devs->rings[0]), 0);
	__atomic_store_n(&f->b->uring_queue_fail, 0, __ATOMIC_RELAXED);
	check_rw(f, 0, 64, 2, 4, 5);
	assert_int_equal(stats(f).errors, 0);
}

/* This process's threads (/proc/self/task). */
static unsigned threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A ring's worker starts at its first request, not at Connected: a
 * connected device nobody uses holds no thread and no stack; the first
 * request on a ring is served all the same, and starts that ring's worker
 * only; a ring that never served one goes with no worker to join.  The
 * synchronous engine: io_uring's own workers would be threads of this
 * process too, coming and going as the kernel likes. */
static void test_worker_at_first_request(void **state)
{
	static const struct fe_opts two = { 2, -1, "x86_64-abi", false, 3 };
	struct fx *f = *state;
	const char *was = getenv("VBD_BLKBACK_ENGINE");
	char *saved = was ? strdup(was) : NULL;
	unsigned before = threads();

	setenv("VBD_BLKBACK_ENGINE", "sync", 1);
	up(f, &two);
	if (saved)
		setenv("VBD_BLKBACK_ENGINE", saved, 1);
	else
		unsetenv("VBD_BLKBACK_ENGINE");
	free(saved);
	assert_int_equal(f->b->devs->nr_rings, 2);
	assert_int_equal(threads(), before);
	assert_false(f->b->devs->rings[0].running);
	assert_non_null(f->b->devs->rings[1].arm);
	check_rw(f, 1, 0, 2, 0, 9);
	assert_int_equal(threads(), before + 1);
	assert_true(f->b->devs->rings[1].running);
	assert_null(f->b->devs->rings[1].arm);
	assert_false(f->b->devs->rings[0].running);
	assert_non_null(f->b->devs->rings[0].arm);
	fe_state(f, 6);
	wait_be_state(f, 6);
	assert_int_equal(threads(), before);
	assert_int_equal(stats(f).errors, 0);
}

/* VBD_BLKBACK_ENGINE chooses the engine at connect: "sync" the
 * synchronous one; otherwise io_uring, where it is built and the kernel
 * gives one (else the backend says once why not). */
static void test_engine_choice(void **state)
{
	struct fx *f = *state;
	const char *was = getenv("VBD_BLKBACK_ENGINE");
	char *saved = was ? strdup(was) : NULL;

	setenv("VBD_BLKBACK_ENGINE", "sync", 1);
	up(f, &plain);
	assert_null(f->b->devs->rings[0].u);
	check_rw(f, 0, 0, 2, 0, 3);
	fe_state(f, 6);
	wait_be_state(f, 6);
	fe_close_rings(f);
	fe_state(f, 1);
	wait_be_state(f, 2);
	setenv("VBD_BLKBACK_ENGINE", "uring", 1);
	fe_connect(f, &plain);
	wait_be_state(f, 4);
	if (vbd__bb_uring_built() && !f->b->uring_warned)
		assert_non_null(f->b->devs->rings[0].u);
	else
		assert_null(f->b->devs->rings[0].u);
	check_rw(f, 0, 64, 2, 4, 5);
	if (saved)
		setenv("VBD_BLKBACK_ENGINE", saved, 1);
	else
		unsetenv("VBD_BLKBACK_ENGINE");
	free(saved);
}

static void test_discard(void **state)
{
	struct fx *f = *state;
	unsigned char buf[65536], zero[65536] = { 0 };
	struct stat before, after;
	struct req r = { .op = BLKIF_OP_DISCARD, .sector = 2048, .nr_sectors = 128 };

	up(f, &plain);
	assert_int_equal(stat(f->img, &before), 0);
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	file_read(f, buf, sizeof(buf), 2048 * 512);
	assert_memory_equal(buf, zero, sizeof(buf));
	assert_int_equal(stat(f->img, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_true(after.st_blocks < before.st_blocks);
	/* Secure discard is not offered; a range past the end is refused. */
	r.flag = BLKIF_DISCARD_SECURE;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_EOPNOTSUPP);
	r.flag = 0;
	r.sector = SECTORS - 8;
	r.nr_sectors = 9;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r.nr_sectors = UINT64_MAX;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	assert_int_equal(file_size(f), SECTORS * 512);
}

static void test_no_discard(void **state)
{
	struct fx *f = *state;

	f->o.no_discard = true;
	up(f, &plain);
	assert_int_equal(xs_num(f->h0, f->be, "feature-discard"), 0);
	assert_int_equal(io(f, 0, (struct req){ .op = BLKIF_OP_DISCARD, .nr_sectors = 8 }),
	                 BLKIF_RSP_EOPNOTSUPP);
}

/* What the simulated hypervisor has mapped for domain 0, in pages. */
static uint64_t hv_maps(struct fx *f)
{
	vbd_simhv_stats s = { .size = sizeof(s) };

	vbd_test_simhv_stats(&f->hv, &s);
	return s.maps;
}

/* A ring's map or bind the hypervisor refuses at connect, which maps the
 * rings while the store starts the Connected transaction: that transaction
 * is aborted (no key of it written), the error node says why, the backend
 * goes Closing, no transaction stays open, and nothing of the rings stays
 * mapped. */
static void test_ring_map_fails_at_connect(void **state)
{
	static const char *const ops[] = { "map", "bind_interdomain" };
	/* Guessed (keys read with the start, mapped before its reply), and
	 * not (keys read in the transaction, mapped at the last answer). */
	const struct fe_opts two = { 2, 1, "x86_64-abi", false, 3 };
	unsigned i;

	for (i = 0; i < 4; i++) {
		vbd_store_stats st = { .size = sizeof(st) };
		struct fx *f = *state;
		char *e;

		to_initwait(f, i > 0);
		assert_int_equal(vbd__xport_fail(f->xb, ops[i % 2], 1, -ENOMEM, false), 0);
		fe_connect(f, i < 2 ? &plain : &two);
		wait_be_state(f, 5);
		assert_int_equal(vbd__xport_fail(f->xb, NULL, 0, 0, false), 0);
		e = vbd_test_xs_readf(f->h0, "/local/domain/0/error/backend/vbd/1/51712/error");
		assert_non_null(e);
		assert_int_equal(atoi(e), ENOMEM);
		free(e);
		assert_false(xs_has(f->h0, "/local/domain/0/backend/vbd/1/51712/sectors"));
		assert_int_equal(hv_maps(f), 0);
		assert_int_equal(stats(f).fatal_errors, 1);
		vbd_test_store_stats(&f->st, &st);
		assert_int_equal(st.transactions, 0);
	}
}

/* Segments in indirect pages, which the frontend grants read-only. */
static void test_indirect(void **state)
{
	struct fx *f = *state;
	struct blkif_request_segment *segs;
	unsigned char *buf;
	uint32_t iref;
	void *ipage;
	struct req r = { .op = BLKIF_OP_INDIRECT, .nr = BLKIF_OP_WRITE, .nr16 = 40, .sector = 4000 };

	up(f, &plain);
	assert_int_equal(vbd_gnt_share(f->xf, 0, 1, false, &iref, &ipage), 0);
	segs = ipage;
	for (unsigned i = 0; i < 40; i++) {
		segs[i] = (struct blkif_request_segment){ f->drefs[i], 0, 7 };
		memset(page(f, i), (int)(i + 1), VBD_PAGE_SIZE);
	}
	r.igrefs[0] = iref;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	buf = malloc(40 * VBD_PAGE_SIZE);
	assert_non_null(buf);
	file_read(f, buf, 40 * VBD_PAGE_SIZE, 4000 * 512);
	assert_memory_equal(buf, f->data, 40 * VBD_PAGE_SIZE);
	memset(f->data, 0, 40 * VBD_PAGE_SIZE);
	r.nr = BLKIF_OP_READ;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	assert_memory_equal(buf, f->data, 40 * VBD_PAGE_SIZE);
	free(buf);

	/* Hostile: more than offered, none, a bad segment inside, a bad op. */
	r.nr16 = 257;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r.nr16 = 0;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r.nr16 = 40;
	segs[17].last_sect = 8;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	segs[17].last_sect = 7;
	r.nr = BLKIF_OP_FLUSH_DISKCACHE;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r.nr = BLKIF_OP_READ;
	r.igrefs[0] = 99999;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r.igrefs[0] = iref;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	f->b = vbd_blkback_free(f->b);
	assert_int_equal(vbd_gnt_unshare(f->xf, ipage, 1), 0);
}

/* With persistent grants, an indirect page is kept mapped with the data
 * pages: ten requests through one indirect page map it once, not ten
 * times.  One granted read-only (the way a frontend without persistent
 * grants gives it) is refused writable, and from then on mapped read-only
 * per request: the data still right.  A bad indirect gref still fails. */
static void test_indirect_persistent(void **state)
{
	struct fx *f = *state;
	struct blkif_request_segment *segs;
	struct req r = { .op = BLKIF_OP_INDIRECT, .nr = BLKIF_OP_WRITE, .nr16 = 20, .sector = 800 };
	uint32_t iref, roref;
	void *ipage, *ropage;
	vbd_blkback_stats s;
	unsigned k;

	up(f, &(struct fe_opts){ 0, -1, "x86_64-abi", true, 3 });
	assert_int_equal(vbd_gnt_share(f->xf, 0, 1, true, &iref, &ipage), 0);
	assert_int_equal(vbd_gnt_share(f->xf, 0, 1, false, &roref, &ropage), 0);
	segs = ipage;
	for (unsigned i = 0; i < 20; i++) {
		segs[i] = (struct blkif_request_segment){ f->drefs[i], 0, 7 };
		memset(page(f, i), (int)(i + 7), VBD_PAGE_SIZE);
	}
	memcpy(ropage, ipage, VBD_PAGE_SIZE);
	r.igrefs[0] = iref;
	for (k = 0; k < 10; k++) {
		r.nr = k % 2 ? BLKIF_OP_READ : BLKIF_OP_WRITE;
		assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	}
	s = stats(f);
	/* 20 data pages and the indirect one, each mapped once. */
	assert_int_equal(s.grant_maps, 21);
	assert_int_equal(s.pgrants, 21);
	assert_int_equal(s.pgrant_hits, 10 * 20 - 20);
	assert_int_equal(hv_maps(f), 1 + 21);

	r.igrefs[0] = roref;
	memset(f->data, 0, 20 * VBD_PAGE_SIZE);
	r.nr = BLKIF_OP_READ;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(((unsigned char *)page(f, i))[VBD_PAGE_SIZE - 1], i + 7);
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	r.igrefs[0] = 99999;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	s = stats(f);
	assert_int_equal(s.errors, 1);
	/* The refused writable map (counted, not cached), then one read-only
	 * map per request: no retry of the writable one. */
	assert_int_equal(s.grant_maps, 21 + 1 + 3);
	assert_int_equal(s.pgrants, 21);
	f->b = vbd_blkback_free(f->b);
	assert_int_equal(vbd_gnt_unshare(f->xf, ipage, 1), 0);
	assert_int_equal(vbd_gnt_unshare(f->xf, ropage, 1), 0);
}

static void test_no_indirect(void **state)
{
	struct fx *f = *state;

	f->o.max_indirect_segments = VBD_OPT_ZERO;
	up(f, &plain);
	assert_false(xs_has(f->h0, "/local/domain/0/backend/vbd/1/51712/feature-max-indirect-segments"));
	assert_int_equal(io(f, 0, (struct req){ .op = BLKIF_OP_INDIRECT, .nr = 0, .nr16 = 4 }),
	                 BLKIF_RSP_EOPNOTSUPP);
}

static void test_persistent(void **state)
{
	struct fx *f = *state;
	vbd_blkback_stats s = { .size = sizeof(s) };

	up(f, &(struct fe_opts){ 0, -1, "x86_64-abi", true, 3 });
	for (unsigned k = 0; k < 10; k++)
		check_rw(f, 0, 16 * k, 2, 0, 30 + k);
	s = stats(f);
	/* 4 pages, each mapped once, then found 36 more times. */
	assert_int_equal(s.pgrants, 4);
	assert_int_equal(s.grant_maps, 4);
	assert_int_equal(s.pgrant_hits, 36);
	assert_int_equal(s.pgrant_evictions, 0);
}

static void test_persistent_lru(void **state)
{
	struct fx *f = *state;
	vbd_blkback_stats s = { .size = sizeof(s) };

	f->o.persistent_grants_max = 4;
	up(f, &(struct fe_opts){ 0, -1, "x86_64-abi", true, 3 });
	/* 6 distinct pages through a cache of 4: evictions, no failures. */
	check_rw(f, 0, 0, 3, 0, 40);
	s = stats(f);
	assert_int_equal(s.pgrants, 4);
	assert_int_equal(s.pgrant_evictions, 2);
	/* A request wider than the cache still works (the overflow is mapped
	 * for the request only). */
	check_rw(f, 0, 64, 6, 10, 41);
	assert_int_equal(stats(f).pgrants, 4);
	assert_int_equal(stats(f).errors, 0);
}

/* Four busy queues, each with room for 8192 grants, share a backend-wide
 * budget of 6: all together never keep more mapped, every request still
 * succeeds with the right data (what does not fit is mapped for its
 * request only), and the budget comes back when the rings go. */
static void test_persistent_total_budget(void **state)
{
	struct fx *f = *state;
	unsigned per = 16, size;
	unsigned char buf[VBD_PAGE_SIZE];
	vbd_blkback_stats s;

	f->o.persistent_grants_total = 6;
	up(f, &(struct fe_opts){ 4, 0, "x86_64-abi", true, 3 });
	size = RING_SIZE(&f->q[0].fr);
	for (unsigned pass = 0; pass < 3; pass++) {
		bool write = pass < 2;

		for (unsigned i = 0; i < 4 * per; i++)
			memset(page(f, i), write ? (int)(0x20 * pass + i) : 0, VBD_PAGE_SIZE);
		for (unsigned qi = 0; qi < 4; qi++) {
			for (unsigned k = 0; k < size; k++) {
				unsigned pg = qi * per + k % per;
				struct req r = rq(write ? BLKIF_OP_WRITE : BLKIF_OP_READ,
				                  (uint64_t)pg * 8, 1, pg, f);

				/* A read lands each page once: the last one wins. */
				r.id = qi * 1000 + k;
				put_req(f, &f->q[qi], &r);
			}
		}
		for (unsigned qi = 0; qi < 4; qi++)
			push(f, &f->q[qi]);
		for (unsigned qi = 0; qi < 4; qi++)
			for (unsigned k = 0; k < size; k++)
				assert_int_equal(get_rsp(f, &f->q[qi], qi * 1000 + k,
				                         write ? BLKIF_OP_WRITE : BLKIF_OP_READ),
				                 BLKIF_RSP_OKAY);
		s = stats(f);
		assert_true(s.pgrants <= 6);
		/* What is mapped: 4 ring pages and the cached grants, no more. */
		assert_int_equal(hv_maps(f), 4 + s.pgrants);
		assert_int_equal(__atomic_load_n(&f->b->pgrants_total, __ATOMIC_RELAXED), s.pgrants);
	}
	for (unsigned i = 0; i < 4 * per; i++) {
		file_read(f, buf, sizeof(buf), (uint64_t)i * VBD_PAGE_SIZE);
		assert_memory_equal(buf, page(f, i), VBD_PAGE_SIZE);
		assert_int_equal(buf[0], (unsigned char)(0x20 + i));
	}
	s = stats(f);
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.pgrants_budget, 6);
	/* Past the budget a page is mapped for its request only (io_uring:
	 * the rings' entries in flight cannot go) or replaces its ring's
	 * least recently used one (the synchronous engine has none in flight). */
	assert_true(s.pgrant_uncached > 0 || s.pgrant_evictions > 0);
	assert_int_equal(s.pgrant_map_failures, 0);
	fe_state(f, 6);
	wait_be_state(f, 6);
	assert_int_equal(stats(f).pgrants, 0);
	assert_int_equal(__atomic_load_n(&f->b->pgrants_total, __ATOMIC_RELAXED), 0);
}

/* A budget of none (VBD_OPT_ZERO): persistent grants are still
 * negotiated, every page is mapped for its request only. */
static void test_persistent_total_none(void **state)
{
	struct fx *f = *state;
	vbd_blkback_stats s;

	f->o.persistent_grants_total = VBD_OPT_ZERO;
	up(f, &(struct fe_opts){ 0, -1, "x86_64-abi", true, 3 });
	assert_int_equal(xs_num(f->h0, f->be, "feature-persistent"), 1);
	check_rw(f, 0, 0, 3, 0, 60);
	s = stats(f);
	assert_int_equal(s.pgrants, 0);
	assert_int_equal(s.pgrants_budget, 0);
	assert_int_equal(s.pgrant_uncached, 6);
	assert_int_equal(s.errors, 0);
}

/* The default budget is half of what the process may map. */
static void test_persistent_total_default(void **state)
{
	struct fx *f = *state;
	unsigned long n = 65530;
	FILE *mc = fopen("/proc/sys/vm/max_map_count", "re");

	if (mc) {
		assert_int_equal(fscanf(mc, "%lu", &n), 1);
		fclose(mc);
	}
	start(f);
	assert_int_equal(stats(f).pgrants_budget, n / 2);
}

/* A cache miss whose own map fails for want of mappings (-ENOMEM, as mmap
 * past vm.max_map_count) is mapped with the request's other uncached
 * pages instead, and the request succeeds; a batch that fails too, or a
 * bad grant (-EINVAL), fails the request alone. */
static void test_persistent_map_fallback(void **state)
{
	struct fx *f = *state;
	vbd_blkback_stats s;

	up(f, &(struct fe_opts){ 0, -1, "x86_64-abi", true, 3 });
	/* The write's first page: its single map fails; its second maps. */
	assert_int_equal(vbd__xport_fail(f->xb, "map", 1, -ENOMEM, false), 0);
	check_rw(f, 0, 0, 2, 0, 70);
	s = stats(f);
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.pgrant_map_failures, 1);
	assert_int_equal(s.pgrant_uncached, 1);
	assert_int_equal(s.pgrants, 3);
	/* No mapping at all: the request fails, the ring goes on. */
	assert_int_equal(vbd__xport_fail(f->xb, "map", 1, -ENOMEM, true), 0);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_WRITE, 64, 1, 10, f)), BLKIF_RSP_ERROR);
	/* The frontend's fault (a bad gref) is no shortage: no retry. */
	assert_int_equal(vbd__xport_fail(f->xb, "map", 1, -EINVAL, false), 0);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_WRITE, 64, 1, 11, f)), BLKIF_RSP_ERROR);
	s = stats(f);
	assert_int_equal(s.errors, 2);
	assert_int_equal(s.pgrant_map_failures, 2);
	assert_int_equal(vbd__xport_fail(f->xb, NULL, 0, 0, false), 0);
	check_rw(f, 0, 64, 2, 12, 71);
	assert_int_equal(stats(f).errors, 2);
	assert_int_equal(hv_maps(f), 1 + stats(f).pgrants);
}

static void test_persistent_not_offered(void **state)
{
	struct fx *f = *state;

	f->o.persistent_grants_max = VBD_OPT_ZERO;
	up(f, &(struct fe_opts){ 0, -1, "x86_64-abi", true, 3 });
	assert_int_equal(xs_num(f->h0, f->be, "feature-persistent"), 0);
	check_rw(f, 0, 0, 2, 0, 50);
	assert_int_equal(stats(f).pgrants, 0);
}

/* ------------------------------------------------------------ hostile */

/* Every bad request is refused, the ring goes on, and nothing outside the
 * disk (or the request) is touched. */
static void test_hostile_requests(void **state)
{
	struct fx *f = *state;
	unsigned char before[VBD_PAGE_SIZE], after[VBD_PAGE_SIZE];
	uint32_t other_ref, ro_ref;
	void *other_page, *ro_page;
	struct req r;
	vbd_blkback_stats s = { .size = sizeof(s) };

	up(f, &plain);
	file_read(f, before, sizeof(before), 0);

	assert_int_equal(io(f, 0, (struct req){ .op = BLKIF_OP_RESERVED_1 }), BLKIF_RSP_EOPNOTSUPP);
	assert_int_equal(io(f, 0, (struct req){ .op = 200, .nr = 1 }), BLKIF_RSP_EOPNOTSUPP);

	r = rq(BLKIF_OP_WRITE, 0, 1, 0, f);
	r.nr = 0;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r = rq(BLKIF_OP_WRITE, 0, 11, 0, f);
	r.nr = 12;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r.nr = 255;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);

	r = rq(BLKIF_OP_WRITE, 0, 1, 0, f);
	r.seg[0].first_sect = 5;
	r.seg[0].last_sect = 4;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r.seg[0].first_sect = 0;
	r.seg[0].last_sect = 8;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r.seg[0].first_sect = 200;
	r.seg[0].last_sect = 255;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);

	/* Past the end, by one sector, and wrapping around. */
	r = rq(BLKIF_OP_WRITE, SECTORS - 7, 1, 0, f);
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r = rq(BLKIF_OP_WRITE, UINT64_MAX - 3, 1, 0, f);
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r = rq(BLKIF_OP_READ, SECTORS, 1, 0, f);
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	/* The last page is fine. */
	r = rq(BLKIF_OP_READ, SECTORS - 8, 1, 0, f);
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);

	/* Grants: not in use, granted to another domain, read-only for a read. */
	r = rq(BLKIF_OP_READ, 0, 1, 0, f);
	r.seg[0].gref = 77777;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	assert_int_equal(vbd_gnt_share(f->xf, 2, 1, true, &other_ref, &other_page), 0);
	r.seg[0].gref = other_ref;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	assert_int_equal(vbd_gnt_share(f->xf, 0, 1, false, &ro_ref, &ro_page), 0);
	r.seg[0].gref = ro_ref;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	/* ...which is fine for a write (the backend only reads it). */
	r = rq(BLKIF_OP_WRITE, 0, 1, 0, f);
	r.seg[0].gref = ro_ref;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	file_read(f, after, sizeof(after), 0);
	assert_true(after[0] == 0 && after[4095] == 0);
	/* Put sector 0..7 back. */
	memcpy(page(f, 0), before, sizeof(before));
	assert_int_equal(io(f, 0, rq(BLKIF_OP_WRITE, 0, 1, 0, f)), BLKIF_RSP_OKAY);

	/* Duplicate refs are fine without persistent grants. */
	r = rq(BLKIF_OP_READ, 8, 2, 0, f);
	r.seg[1].gref = r.seg[0].gref;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);

	s = stats(f);
	assert_int_equal(s.unsupported, 2);
	assert_int_equal(s.errors, 12);
	assert_int_equal(file_size(f), SECTORS * 512);
	/* Still serving. */
	check_rw(f, 0, 8, 2, 2, 60);
	assert_int_equal(xs_num(f->h0, f->be, "state"), 4);
	f->b = vbd_blkback_free(f->b);
	assert_int_equal(vbd_gnt_unshare(f->xf, other_page, 1), 0);
	assert_int_equal(vbd_gnt_unshare(f->xf, ro_page, 1), 0);
}

static void test_duplicate_persistent_refs(void **state)
{
	struct fx *f = *state;
	struct req r;

	up(f, &(struct fe_opts){ 0, -1, "x86_64-abi", true, 3 });
	r = rq(BLKIF_OP_WRITE, 0, 3, 0, f);
	r.seg[2].gref = r.seg[0].gref;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	/* In order but for a repeat (the check skips its table for refs
	 * strictly in order either way): rising, falling, and at the start. */
	r = rq(BLKIF_OP_WRITE, 0, 3, 0, f);
	r.seg[2].gref = r.seg[1].gref;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r.seg[0].gref = r.seg[2].gref = f->drefs[5];
	r.seg[1].gref = f->drefs[4];
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r.seg[0].gref = r.seg[1].gref = f->drefs[5];
	r.seg[2].gref = f->drefs[4];
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	r.seg[0].gref = r.seg[1].gref = f->drefs[4];
	r.seg[2].gref = f->drefs[5];
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	assert_int_equal(stats(f).pgrants, 0);
	/* Falling and distinct: fine. */
	r.seg[0].gref = f->drefs[6];
	r.seg[1].gref = f->drefs[5];
	r.seg[2].gref = f->drefs[4];
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	assert_int_equal(stats(f).pgrants, 3);
	check_rw(f, 0, 0, 3, 0, 61);
}

static void test_readonly_disk(void **state)
{
	struct fx *f = *state;
	unsigned char before[VBD_PAGE_SIZE], after[VBD_PAGE_SIZE];

	layout(f, "r");
	start(f);
	hotplug(f);
	fe_connect(f, &plain);
	wait_be_state(f, 4);
	assert_int_equal(xs_num(f->h0, f->be, "info"), VDISK_READONLY);
	assert_int_equal(xs_num(f->h0, f->be, "feature-discard"), 0);
	file_read(f, before, sizeof(before), 0);
	memset(page(f, 0), 0x11, VBD_PAGE_SIZE);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_WRITE, 0, 1, 0, f)), BLKIF_RSP_ERROR);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_WRITE_BARRIER, 0, 1, 0, f)), BLKIF_RSP_ERROR);
	assert_int_equal(io(f, 0, (struct req){ .op = BLKIF_OP_INDIRECT, .nr = BLKIF_OP_WRITE,
	                                        .nr16 = 12 }), BLKIF_RSP_ERROR);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_READ, 0, 1, 1, f)), BLKIF_RSP_OKAY);
	file_read(f, after, sizeof(after), 0);
	assert_memory_equal(before, after, sizeof(before));
	assert_memory_equal(page(f, 1), before, sizeof(before));
}

static void test_producer_overflow(void **state)
{
	struct fx *f = *state;
	struct fq *q = &f->q[0];
	char *e;

	up(f, &plain);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_READ, 0, 1, 0, f)), BLKIF_RSP_OKAY);
	q->fr.sring->req_prod = q->fr.req_prod_pvt + RING_SIZE(&q->fr) + 1;
	assert_int_equal(vbd_evtchn_notify(q->ev, q->port), 0);
	wait_be_state(f, 5);
	e = vbd_test_xs_readf(f->h0, "/local/domain/0/error/backend/vbd/1/51712/error");
	assert_non_null(e);
	assert_non_null(strstr(e, "req_prod"));
	free(e);
	assert_int_equal(stats(f).rings_stopped, 1);
	/* Nothing was answered. */
	assert_int_equal(q->fr.sring->rsp_prod, q->fr.rsp_cons);
	/* The frontend closes; the backend follows and unmaps. */
	fe_state(f, 6);
	wait_be_state(f, 6);
	assert_int_equal(stats(f).rings, 0);
}

static void test_inconsistent_ring_at_connect(void **state)
{
	struct fx *f = *state;

	layout(f, "w");
	start(f);
	hotplug(f);
	wait_be_state(f, 2);
	/* The keys, with the state left at 1; then a ring whose producer is
	 * far ahead of its consumer, then Initialised. */
	fe_connect(f, &(struct fe_opts){ 0, -1, "x86_64-abi", false, 1 });
	f->q[0].fr.sring->req_prod = 1000;
	fe_state(f, 3);
	wait_be_state(f, 5);
	assert_int_equal(stats(f).rings, 0);
}

/* ------------------------------------------------------------ lifecycle */

static void test_close_and_reconnect(void **state)
{
	struct fx *f = *state;

	up(f, &plain);
	check_rw(f, 0, 0, 1, 0, 70);
	fe_state(f, 5);
	wait_be_state(f, 5);
	fe_state(f, 6);
	wait_be_state(f, 6);
	assert_int_equal(stats(f).rings, 0);
	assert_int_equal(stats(f).devices, 1);      /* still online */
	fe_close_rings(f);
	fe_state(f, 1);
	wait_be_state(f, 2);
	fe_connect(f, &(struct fe_opts){ 2, 2, "x86_64-abi", true, 3 });
	wait_be_state(f, 4);
	check_rw(f, 1, 64, 2, 0, 71);
	assert_int_equal(stats(f).requests, 4);
}

/* A backend that dies in the middle of a frontend's reset (a guest taking
 * its device over: Closing, Closed, Initialising) leaves the device at
 * Closing or Closed with online=1.  Freeing ours here writes Closed, so
 * the state a dead one leaves is written back before the next starts.
 * The next one takes the reset on from there, as Linux's blkback goes
 * on for a device it served all along; a device the toolstack was
 * detaching (online=0) is finished and not served. */
static void restart_at(struct fx *f, int state)
{
	f->b = vbd_blkback_free(f->b);
	xs_put(f->h0, XBT_NULL, f->be, "state", "%d", state);
	start(f);
	settle(f);
}

static void test_adopt_in_reset(void **state)
{
	struct fx *f = *state;

	up(f, &plain);
	check_rw(f, 0, 0, 1, 0, 80);
	/* Killed with both ends Closing. */
	fe_state(f, 5);
	wait_be_state(f, 5);
	restart_at(f, 5);
	assert_int_equal(stats(f).devices, 1);
	assert_int_equal(xs_num(f->h0, f->be, "state"), 5);
	fe_close_rings(f);
	fe_state(f, 6);
	wait_be_state(f, 6);
	fe_state(f, 1);
	wait_be_state(f, 2);
	fe_connect(f, &plain);
	wait_be_state(f, 4);
	check_rw(f, 0, 8, 1, 0, 81);
	/* Killed with both ends Closed, before the frontend's Initialising. */
	fe_state(f, 5);
	wait_be_state(f, 5);
	fe_state(f, 6);
	wait_be_state(f, 6);
	fe_close_rings(f);
	restart_at(f, 6);
	assert_int_equal(stats(f).devices, 1);
	assert_int_equal(xs_num(f->h0, f->be, "state"), 6);
	fe_state(f, 1);
	wait_be_state(f, 2);
	fe_connect(f, &plain);
	wait_be_state(f, 4);
	check_rw(f, 0, 16, 1, 0, 82);
	assert_int_equal(stats(f).rings, 1);
	/* Killed in a detach (online=0, Closing): finished, not served. */
	xs_put(f->h0, XBT_NULL, f->be, "online", "0");
	restart_at(f, 5);
	fe_close_rings(f);
	assert_int_equal(xs_num(f->h0, f->be, "state"), 6);
	assert_int_equal(stats(f).devices, 0);
	/* Closed with online=0: the toolstack's to remove, left alone. */
	restart_at(f, 6);
	assert_int_equal(stats(f).devices, 0);
	assert_int_equal(xs_num(f->h0, f->be, "state"), 6);
}

static vbd_dev_stats dev_stats(struct fx *f)
{
	vbd_dev_stats s = { .size = sizeof(s) };

	assert_int_equal(vbd_blkback_get_dev_stats(f->b, FE_DOM, DEVID, &s), 0);
	return s;
}

/* Each kind of request moves its own counter, as Linux's statistics/ do,
 * and a reconnect of the frontend keeps them. */
static void test_dev_stats(void **state)
{
	struct fx *f = *state;
	vbd_dev_stats s = { .size = sizeof(s) };

	up(f, &plain);
	s = dev_stats(f);
	assert_int_equal(s.rd_req + s.wr_req + s.f_req + s.ds_req + s.rd_sect + s.wr_sect, 0);
	check_rw(f, 0, 0, 2, 0, 80);        /* one write and one read of 16 sectors */
	assert_int_equal(io(f, 0, (struct req){ .op = BLKIF_OP_FLUSH_DISKCACHE }), BLKIF_RSP_OKAY);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_WRITE_BARRIER, 40, 1, 0, f)), BLKIF_RSP_OKAY);
	assert_int_equal(io(f, 0, (struct req){ .op = BLKIF_OP_DISCARD, .sector = 2048,
	                                        .nr_sectors = 128 }),
	                 BLKIF_RSP_OKAY);
	s = dev_stats(f);
	assert_int_equal(s.rd_req, 1);
	assert_int_equal(s.wr_req, 1);
	assert_int_equal(s.f_req, 2);
	assert_int_equal(s.ds_req, 1);
	assert_int_equal(s.rd_sect, 16);
	assert_int_equal(s.wr_sect, 16 + 8);
	assert_int_equal(s.oo_req, 0);

	/* Kept across a reconnect; the other queue counts to the same device. */
	fe_state(f, 5);
	wait_be_state(f, 5);
	fe_state(f, 6);
	wait_be_state(f, 6);
	assert_int_equal(dev_stats(f).rd_req, 1);
	fe_close_rings(f);
	fe_state(f, 1);
	wait_be_state(f, 2);
	fe_connect(f, &(struct fe_opts){ 2, 2, "x86_64-abi", true, 3 });
	wait_be_state(f, 4);
	check_rw(f, 1, 64, 1, 0, 81);
	s = dev_stats(f);
	assert_int_equal(s.rd_req, 2);
	assert_int_equal(s.wr_req, 2);
	assert_int_equal(s.rd_sect, 16 + 8);
	assert_int_equal(s.wr_sect, 16 + 8 + 8);

	/* A caller's older, shorter struct gets what fits. */
	{
		struct {
			size_t size;
			uint64_t oo_req, rd_req;
		} old = { sizeof(old), 7, 7 };

		assert_int_equal(vbd_blkback_get_dev_stats(f->b, FE_DOM, DEVID, (vbd_dev_stats *)&old),
		                 0);
		assert_int_equal(old.oo_req, 0);
		assert_int_equal(old.rd_req, 2);
	}
	assert_int_equal(vbd_blkback_get_dev_stats(f->b, FE_DOM, DEVID + 1, &s), -ENOENT);
	assert_int_equal(vbd_blkback_get_dev_stats(f->b, FE_DOM + 1, DEVID, &s), -ENOENT);
	assert_int_equal(vbd_blkback_get_dev_stats(NULL, FE_DOM, DEVID, &s), -EINVAL);
	assert_int_equal(vbd_blkback_get_dev_stats(f->b, FE_DOM, DEVID, NULL), -EINVAL);
	s.size = 0;
	assert_int_equal(vbd_blkback_get_dev_stats(f->b, FE_DOM, DEVID, &s), -EINVAL);
}

/* Another process reads the published counters as it reads the kernel's
 * sysfs; a device no longer served loses its directory. */
static void test_publish_stats(void **state)
{
	struct fx *f = *state;
	vbd_dev_stats s = { .size = sizeof(s) };
	char root[PATH_MAX + 16], stale[PATH_MAX + 128];
	struct stat st;

	up(f, &plain);
	check_rw(f, 0, 0, 1, 0, 90);
	snprintf(root, sizeof(root), "%s/pub", f->dir);
	snprintf(stale, sizeof(stale), "%s/bus/xen-backend/devices/vbd-9-5632", root);
	assert_int_equal(vbd_blkback_write_stats(f->b, root), 0);
	assert_int_equal(vbd_dev_stats_read_sysfs(root, FE_DOM, DEVID, &s), 0);
	assert_int_equal(s.rd_req, 1);
	assert_int_equal(s.wr_sect, 8);
	/* Counters that did not move are not written again (each write is a
	 * new file renamed over the old: a new inode); files someone removed
	 * are. */
	{
		char p[PATH_MAX + 128];
		struct stat a, b2;

		snprintf(p, sizeof(p), "%s/bus/xen-backend/devices/vbd-%d-%d/statistics/rd_req",
		         root, FE_DOM, DEVID);
		assert_int_equal(stat(p, &a), 0);
		assert_int_equal(vbd_blkback_write_stats(f->b, root), 0);
		assert_int_equal(stat(p, &b2), 0);
		assert_int_equal(a.st_ino, b2.st_ino);
		snprintf(p, sizeof(p), "%s/bus/xen-backend/devices/vbd-%d-%d/statistics/wr_sect",
		         root, FE_DOM, DEVID);
		assert_int_equal(unlink(p), 0);
		assert_int_equal(vbd_blkback_write_stats(f->b, root), 0);
		assert_int_equal(vbd_dev_stats_read_sysfs(root, FE_DOM, DEVID, &s), 0);
		assert_int_equal(s.wr_sect, 8);
	}
	check_rw(f, 0, 8, 1, 0, 91);
	assert_int_equal(mkdir(stale, 0755), 0);
	strcat(stale, "/statistics");
	assert_int_equal(mkdir(stale, 0755), 0);
	assert_int_equal(vbd_blkback_write_stats(f->b, root), 0);
	assert_int_equal(vbd_dev_stats_read_sysfs(root, FE_DOM, DEVID, &s), 0);
	assert_int_equal(s.rd_req, 2);
	assert_int_equal(stat(stale, &st), -1);
	/* Nothing but the seven counters is left beside them. */
	{
		char p[PATH_MAX + 128];

		snprintf(p, sizeof(p), "%s/bus/xen-backend/devices/vbd-%d-%d/statistics/.rd_req.new",
		         root, FE_DOM, DEVID);
		assert_int_equal(stat(p, &st), -1);
	}
	/* A vbd3 backend's entry in the same directory is not this one's to
	 * remove, and the reader finds a tap disk's counters there. */
	{
		static const char *const names[] = { "oo_req", "rd_req", "wr_req", "f_req",
			                             "ds_req", "rd_sect", "wr_sect" };
		char p[PATH_MAX + 160];
		size_t i;
		FILE *fp;

		snprintf(p, sizeof(p), "%s/bus/xen-backend/devices/vbd3-9-5648", root);
		assert_int_equal(mkdir(p, 0755), 0);
		strcat(p, "/statistics");
		assert_int_equal(mkdir(p, 0755), 0);
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(p, sizeof(p), "%s/bus/xen-backend/devices/vbd3-9-5648/statistics/%s",
			         root, names[i]);
			assert_non_null(fp = fopen(p, "w"));
			fprintf(fp, "%zu\n", i + 10);
			fclose(fp);
		}
		assert_int_equal(vbd_blkback_write_stats(f->b, root), 0);
		assert_int_equal(vbd_dev_stats_read_sysfs(root, 9, 5648, &s), 0);
		assert_int_equal(s.oo_req, 10);
		assert_int_equal(s.wr_sect, 16);
		assert_int_equal(vbd_dev_stats_read_sysfs(root, FE_DOM, DEVID, &s), 0);
		assert_int_equal(s.rd_req, 2);
	}
	assert_int_equal(vbd_blkback_write_stats(f->b, NULL), -EINVAL);
	assert_int_equal(vbd_blkback_write_stats(NULL, root), -EINVAL);
	f->b = vbd_blkback_free(f->b);
}

/* Transactions the backend started so far: the store's CONTROL conns
 * lists connections newest first, and the backend's two (up() makes it
 * after the test's own) are the first of domain 0. */
static long long backend_txns(struct fx *f)
{
	char *out = xs_control_command(f->h0, "conns", NULL, 0), *line, *save = NULL, *p;
	long long n = 0;
	int seen = 0;

	assert_non_null(out);
	for (line = strtok_r(out, "\n", &save); line && seen < 2; line = strtok_r(NULL, "\n", &save)) {
		if (!strstr(line, " domid 0 "))
			continue;
		seen++;
		if ((p = strstr(line, " txn_start ")))
			n += strtoll(p + strlen(" txn_start "), NULL, 10);
	}
	free(out);
	assert_int_equal(seen, 2);
	return n;
}

static void test_offline_removal(void **state)
{
	struct fx *f = *state;
	long long txns;

	up(f, &plain);
	detach_start(f);
	fe_state(f, 5);
	fe_state(f, 6);
	wait_be_state(f, 6);
	settle(f);
	assert_int_equal(stats(f).devices, 0);
	assert_int_equal(stats(f).rings, 0);
	/* The toolstack removes the nodes, the hotplug step's keys first,
	 * each an event; nothing is recreated, and a device no longer
	 * served is not probed again (a transaction each) on the way. */
	txns = backend_txns(f);
	xs_rm(f->h0, XBT_NULL, "/local/domain/0/backend/vbd/1/51712/physical-device-path");
	settle(f);
	xs_rm(f->h0, XBT_NULL, "/local/domain/0/backend/vbd/1/51712/mode");
	settle(f);
	xs_rm(f->h0, XBT_NULL, f->be);
	xs_rm(f->h0, XBT_NULL, f->fe);
	settle(f);
	assert_false(xs_has(f->h0, f->be));
	assert_int_equal(backend_txns(f), txns);
}

/* The grant table's bound comes from what was negotiated: a ring of 32
 * slots with direct requests only can name 32 x 11 grants at once, so a
 * larger allowance would never fill. */
static void test_pgrant_limit(void **state)
{
	(void)state;
	assert_int_equal(vbd__bb_pgrant_limit(1056, 32, 0), 32 * 11);
	assert_int_equal(vbd__bb_pgrant_limit(100, 32, 0), 100);
	assert_int_equal(vbd__bb_pgrant_limit(1056, 32, 256), 1056);
	/* A ring full of indirect requests: their data and indirect pages. */
	assert_int_equal(vbd__bb_pgrant_limit(1u << 20, 32, 256), 32 * (256 + 1));
	assert_int_equal(vbd__bb_pgrant_limit(1u << 20, 32, 1024), 32 * (1024 + 2));
	assert_int_equal(vbd__bb_pgrant_limit(1u << 20, 512, 4096), 1u << 20);
	assert_int_equal(vbd__bb_pgrant_limit(1u << 20, 1, 0), 11);
	assert_int_equal(vbd__bb_pgrant_limit(0, 32, 256), 0);
}

/* The table grows as it fills, keeping every entry and the LRU order
 * across each growth, and stops at its bound. */
static void test_pgrant_growth(void **state)
{
	struct vbd__pgrant_cache c;
	void *ev;
	char pages[40];

	(void)state;
	vbd__pgrant_init(&c, 40);
	assert_int_equal(c.bytes, 0);
	assert_null(vbd__pgrant_get(&c, 1, 0));
	for (unsigned g = 0; g < 40; g++) {
		assert_int_equal(vbd__pgrant_make_room(&c, g, true, &ev), 0);
		assert_null(ev);
		vbd__pgrant_add(&c, 1000 + g, &pages[g], g);
		if (g == 15)
			assert_int_equal(c.bytes, vbd__pgrant_bytes_for(16));
	}
	assert_int_equal(c.bytes, vbd__pgrant_bytes_for(40));
	for (unsigned g = 0; g < 40; g++)
		assert_ptr_equal(vbd__pgrant_get(&c, 1000 + g, 100), &pages[g]);
	/* At the bound: the least recently used (1000, looked up first) goes. */
	assert_int_equal(vbd__pgrant_make_room(&c, 101, true, &ev), 0);
	assert_ptr_equal(ev, &pages[0]);
	assert_null(vbd__pgrant_get(&c, 1000, 101));
	assert_int_equal(c.bytes, vbd__pgrant_bytes_for(40));
	while (vbd__pgrant_pop(&c))
		;
	vbd__pgrant_done(&c);
	assert_int_equal(c.bytes, 0);
}

/* One request's segments through the cache as the ring's worker does:
 * look up, make room (at most 8 evictions), add; or map for the request
 * only.  Returns the hits. */
static unsigned pgrant_request(struct vbd__pgrant_cache *c, uint64_t req, uint32_t first,
                               unsigned n, unsigned *evictions)
{
	static char page;
	unsigned hits = 0, budget = 8;
	void *ev;

	for (uint32_t g = first; g < first + n; g++) {
		if (vbd__pgrant_get(c, g, req)) {
			hits++;
			continue;
		}
		if (!budget || vbd__pgrant_make_room(c, req, true, &ev) < 0)
			continue;
		if (ev) {
			budget--;
			(*evictions)++;
		}
		vbd__pgrant_add(c, g, &page, req);
	}
	return hits;
}

/* The zero-copy cliff, on the cache alone: requests of 16 grants sweep 128
 * grants through a cache of 64.  Plain LRU evicted each entry just before
 * its next use (no hit at all, 8 maps and unmaps a request); now the sweep
 * keeps much of the cache.  A smaller working set that comes next still
 * takes the cache over. */
static void test_pgrant_sweep(void **state)
{
	struct vbd__pgrant_cache c;
	unsigned hits = 0, ev = 0, pass, k;
	uint64_t req = 0;

	(void)state;
	vbd__pgrant_init(&c, 64);
	for (pass = 0; pass < 20; pass++) {
		hits = ev = 0;
		for (k = 0; k < 8; k++)
			hits += pgrant_request(&c, ++req, 1000 + 16 * k, 16, &ev);
	}
	/* A sweep of 128 lookups: 64 hits would be ideal; plain LRU had 0, and
	 * 64 evictions (each request its 8). */
	if (hits < 40 || ev > 48)
		fail_msg("a sweep of 128 through 64: %u hits, %u evictions", hits, ev);
	assert_int_equal(c.count, 64);
	/* A new set of 48 grants, used over and over, ends up all hits. */
	for (pass = 0; pass < 40; pass++) {
		hits = ev = 0;
		for (k = 0; k < 3; k++)
			hits += pgrant_request(&c, ++req, 5000 + 16 * k, 16, &ev);
	}
	assert_int_equal(hits, 48);
	assert_int_equal(ev, 0);
	while (vbd__pgrant_pop(&c))
		;
	vbd__pgrant_done(&c);
}

/* Bytes of this process's io_uring mappings (SQ/CQ rings, SQE arrays), as
 * /proc/self/maps lists them: the kernel's own account of the queues. */
static uint64_t uring_mapped(void)
{
	FILE *m = fopen("/proc/self/maps", "re");
	char line[512];
	uint64_t sum = 0;

	assert_non_null(m);
	while (fgets(line, sizeof(line), m)) {
		unsigned long lo, hi;

		if (strstr(line, "[io_uring]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			sum += hi - lo;
	}
	fclose(m);
	return sum;
}

/* What the backend holds for a device follows what the frontend uses, not
 * the most it could: 4 queues with persistent grants negotiated cost little
 * while idle (the grant tables and indirect scratch grow with use), and every
 * byte is given back when the rings and then the device go. */
static void test_memory_per_device(void **state)
{
	struct fx *f = *state;
	uint64_t idle, busy, closed, queues, uring_before;
	struct blkif_request_segment *segs;
	uint32_t iref;
	void *ipage;
	struct req r = { .op = BLKIF_OP_INDIRECT, .nr = BLKIF_OP_WRITE, .nr16 = 40, .sector = 4000 };

	up(f, &(struct fe_opts){ 4, 0, "x86_64-abi", true, 3 });
	idle = stats(f).mem_bytes;
	/* The device and its four rings, nothing sized for a request or a
	 * grant not yet seen: not even an io_uring queue (its SQ and CQ
	 * rings and SQEs, mapped by the kernel), made at a ring's first
	 * request; the process's io_uring mappings say none is there. */
	queues = 0;
	for (unsigned q = 0; q < 4; q++)
		queues += vbd__bb_uring_queue_bytes(&f->b->devs->rings[q]);
	assert_int_equal(queues, 0);
	assert_int_equal(uring_mapped(), 0);
	if (idle == 0 || idle > 16 * 1024)
		fail_msg("an idle device with 4 queues holds %llu bytes", (unsigned long long)idle);

	/* Persistent grants on queue 0 take one page of table; an indirect
	 * request of 40 segments grows that ring's scratch to hold 40. */
	check_rw(f, 0, 0, 3, 0, 90);
	assert_int_equal(stats(f).pgrants, 6);    /* 3 pages written, 3 read back */
	assert_int_equal(vbd_gnt_share(f->xf, 0, 1, false, &iref, &ipage), 0);
	segs = ipage;
	for (unsigned i = 0; i < 40; i++)
		segs[i] = (struct blkif_request_segment){ f->drefs[i], 0, 7 };
	r.igrefs[0] = iref;
	uring_before = vbd__bb_uring_bytes(&f->b->devs->rings[0]);
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	busy = stats(f).mem_bytes;
	/* Between 40 and 46 grants cached: a table of 64 entries; 40 segments
	 * of scratch (36 bytes each, and the duplicate check's 128 entries
	 * of 2): one page; with the io_uring engine,
	 * queue 0's io_uring queue (the other three still have none), its
	 * in-flight table (whole pages) and one slot's 40 iovecs (a page of
	 * their own, grown by the worker, which takes nothing from the heap). */
	assert_in_range(stats(f).pgrants, 40, 46);
	assert_int_equal(vbd__bb_uring_queue_bytes(&f->b->devs->rings[0]), uring_mapped());
	if (f->b->devs->rings[0].u)
		assert_int_equal(vbd__bb_uring_bytes(&f->b->devs->rings[0]) - uring_before,
		                 (uint64_t)sysconf(_SC_PAGESIZE));
	assert_int_equal(busy - idle, vbd__pgrant_bytes_for(64) + (uint64_t)sysconf(_SC_PAGESIZE) +
	                              vbd__bb_uring_bytes(&f->b->devs->rings[0]));
	assert_int_equal(vbd_gnt_unshare(f->xf, ipage, 1), 0);

	/* The rings go: only the device's own state stays. */
	fe_state(f, 6);
	wait_be_state(f, 6);
	closed = stats(f).mem_bytes;
	assert_true(closed > 0);
	assert_true(closed < idle);
	assert_true(closed <= 2048);

	/* The device goes: nothing. */
	xs_rm(f->h0, XBT_NULL, f->be);
	settle(f);
	assert_int_equal(stats(f).devices, 0);
	assert_int_equal(stats(f).mem_bytes, 0);
}

static void test_backend_dir_removed(void **state)
{
	struct fx *f = *state;

	up(f, &plain);
	xs_rm(f->h0, XBT_NULL, "/local/domain/0/backend/vbd/1");
	settle(f);
	assert_int_equal(stats(f).devices, 0);
	assert_int_equal(stats(f).rings, 0);
	assert_false(xs_has(f->h0, f->be));
	/* A new device under the same name is probed afresh. */
	layout(f, "w");
	wait_be_state(f, 2);
}

/* A forced detach and a new attach of the same vdev, all done while the
 * backend was not looking (busy, or slow to tear its rings down): the
 * toolstack asks the old device to close, removes both dirs and writes the
 * new device's at the same paths before the backend reads a single event.
 * Only the state tells them apart: the new dir starts at Initialising,
 * which this backend never writes after its probe.  The new device must
 * be probed afresh (its features offered, the new target opened), and
 * nothing of the old one may be written into it. */
static void force_detach_and_again(struct fx *f, bool fe_first)
{
	detach_start(f);
	/* The order of the removals is the order of the events: the
	 * frontend's first reaches the old device's own watch before the
	 * scan sees its dir. */
	if (fe_first)
		assert_true(xs_rm(f->h0, XBT_NULL, f->fe));
	assert_true(xs_rm(f->h0, XBT_NULL, f->be));
	if (!fe_first)
		assert_true(xs_rm(f->h0, XBT_NULL, f->fe));
	layout(f, "w");
	hotplug(f);
}

static void check_new_device(struct fx *f)
{
	wait_be_state(f, 2);
	settle(f);
	assert_int_equal(xs_num(f->h0, f->be, "state"), 2);
	/* The probe's keys: written again only by a new probe. */
	assert_int_equal(xs_num(f->h0, f->be, "max-ring-page-order"), 4);
	assert_int_equal(xs_num(f->h0, f->be, "multi-queue-max-queues"), 4);
	assert_int_equal(stats(f).devices, 1);
	assert_int_equal(stats(f).rings, 0);
	fe_close_rings(f);
	fe_connect(f, &plain);
	wait_be_state(f, 4);
	check_rw(f, 0, 24, 1, 0, 91);
}

static void test_same_path_connected(void **state)
{
	struct fx *f = *state;

	up(f, &plain);
	check_rw(f, 0, 0, 1, 0, 90);
	force_detach_and_again(f, false);
	check_new_device(f);
	force_detach_and_again(f, true);
	check_new_device(f);
}

/* The same with the old device Closed and online (a guest's reset half
 * done): the new frontend's Initialising is what the old device waits
 * for to go back to InitWait, in a dir that is no longer its own. */
static void test_same_path_in_reset(void **state)
{
	struct fx *f = *state;

	up(f, &plain);
	check_rw(f, 0, 0, 1, 0, 92);
	fe_state(f, 5);
	wait_be_state(f, 5);
	fe_state(f, 6);
	wait_be_state(f, 6);
	force_detach_and_again(f, false);
	check_new_device(f);
	fe_state(f, 5);
	wait_be_state(f, 5);
	fe_state(f, 6);
	wait_be_state(f, 6);
	force_detach_and_again(f, true);
	check_new_device(f);
}

static void test_frontend_removed(void **state)
{
	struct fx *f = *state;

	up(f, &plain);
	xs_rm(f->h0, XBT_NULL, f->fe);
	wait_be_state(f, 6);
	assert_int_equal(stats(f).devices, 0);
}

static void test_resize(void **state)
{
	struct fx *f = *state;
	struct req r;

	up(f, &plain);
	r = rq(BLKIF_OP_WRITE, SECTORS, 1, 0, f);
	assert_int_equal(io(f, 0, r), BLKIF_RSP_ERROR);
	assert_int_equal(truncate(f->img, (off_t)(2 * SECTORS) * 512), 0);
	assert_int_equal(vbd_blkback_refresh(f->b), 1);
	assert_int_equal(xs_num(f->h0, f->be, "sectors"), 2 * SECTORS);
	assert_int_equal(xs_num(f->h0, f->be, "state"), 4);
	check_rw(f, 0, SECTORS, 1, 0, 80);
	assert_int_equal(vbd_blkback_refresh(f->b), 0);
	/* Shrinking takes effect on the data path at once. */
	assert_int_equal(truncate(f->img, (off_t)(SECTORS / 2) * 512), 0);
	assert_int_equal(vbd_blkback_refresh(f->b), 1);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_READ, SECTORS / 2, 1, 0, f)), BLKIF_RSP_ERROR);
	assert_int_equal(file_size(f), (off_t)(SECTORS / 2) * 512);
}

static void test_resize_poll(void **state)
{
	struct fx *f = *state;
	long long want = 3 * SECTORS;

	f->o.resize_poll_ms = 20;
	up(f, &plain);
	assert_true(vbd_blkback_get_timeout_ms(f->b) <= 20);
	assert_int_equal(truncate(f->img, (off_t)want * 512), 0);
	for (int i = 0; i < 200 && xs_num(f->h0, f->be, "sectors") != want; i++)
		settle(f);
	assert_int_equal(xs_num(f->h0, f->be, "sectors"), want);
}

/* A free loop device over path, opened (O_RDWR); -errno if none can be had. */
static int loop_attach(const char *path, char *dev, size_t len)
{
	for (int tries = 0; tries < 10; tries++) {
		int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC), n, lfd, ffd, r;

		if (ctl < 0)
			return -errno;
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		close(ctl);
		if (n < 0)
			return -errno;
		snprintf(dev, len, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		ffd = open(path, O_RDWR | O_CLOEXEC);
		if (lfd < 0 || ffd < 0)
			return -ENODEV;
		r = ioctl(lfd, LOOP_SET_FD, ffd);
		close(ffd);
		if (r == 0) {
			struct loop_info64 li;

			/* Gone with its last descriptor, also when an assertion
			 * ends the test before its LOOP_CLR_FD. */
			if (ioctl(lfd, LOOP_GET_STATUS64, &li) == 0) {
				li.lo_flags |= LO_FLAGS_AUTOCLEAR;
				ioctl(lfd, LOOP_SET_STATUS64, &li);
			}
			return lfd;
		}
		close(lfd);
		if (errno != EBUSY)
			return -errno;
	}
	return -EBUSY;
}

/* physical-device only (major:minor in hex), as the hotplug scripts write
 * it for a loop device: the backend finds the node itself. */
static void test_block_device(void **state)
{
	struct fx *f = *state;
	char dev[64];
	struct stat st;
	int lfd = loop_attach(f->img, dev, sizeof(dev));

	if (lfd < 0) {
		fprintf(stderr, "no loop device (%s): skipped\n", strerror(-lfd));
		skip();
	}
	assert_int_equal(fstat(lfd, &st), 0);
	/* Compare through the device: its page cache is not the file's. */
	f->target = dev;
	layout(f, "w");
	start(f);
	xs_put(f->h0, XBT_NULL, f->be, "physical-device", "%x:%x", major(st.st_rdev),
	       minor(st.st_rdev));
	wait_be_state(f, 2);
	fe_connect(f, &plain);
	wait_be_state(f, 4);
	assert_int_equal(xs_num(f->h0, f->be, "sectors"), SECTORS);
	assert_true(xs_num(f->h0, f->be, "sector-size") >= 512);
	check_rw(f, 0, 128, 4, 0, 90);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_READ, SECTORS, 1, 0, f)), BLKIF_RSP_ERROR);
	assert_int_equal(io(f, 0, (struct req){ .op = BLKIF_OP_FLUSH_DISKCACHE }), BLKIF_RSP_OKAY);
	/* A later change of physical-device is only warned about. */
	xs_put(f->h0, XBT_NULL, f->be, "physical-device", "fd:99");
	settle(f);
	check_rw(f, 0, 256, 1, 0, 91);
	f->b = vbd_blkback_free(f->b);
	ioctl(lfd, LOOP_CLR_FD, 0);
	close(lfd);
}

/* A guest's reads leave the image's access time alone (O_NOATIME): set two
 * days back, a relatime mount would otherwise update it at the first read. */
static void test_reads_keep_atime(void **state)
{
	struct fx *f = *state;
	struct timespec ts[2] = { { .tv_sec = time(NULL) - 2 * 86400 }, { .tv_nsec = UTIME_OMIT } };
	struct stat st;
	int fd;

	up(f, &plain);
	assert_int_equal(utimensat(AT_FDCWD, f->img, ts, 0), 0);
	/* Whether this file system updates atime at all: a read of another
	 * descriptor, without O_NOATIME, then the time set back again. */
	fd = open(f->img, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	assert_int_equal(pread(fd, &st, 1, 4096), 1);
	close(fd);
	assert_int_equal(stat(f->img, &st), 0);
	if (st.st_atime == ts[0].tv_sec) {
		fprintf(stderr, "%s: no atime updates here: skipped\n", f->dir);
		skip();
	}
	assert_int_equal(utimensat(AT_FDCWD, f->img, ts, 0), 0);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_READ, 64, 2, 0, f)), BLKIF_RSP_OKAY);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_READ, 2048, 4, 0, f)), BLKIF_RSP_OKAY);
	assert_int_equal(stat(f->img, &st), 0);
	assert_int_equal(st.st_atime, ts[0].tv_sec);
}

/* ------------------------------------------------------------- O_DIRECT */

/* Whether fd of this process was opened with O_DIRECT, as the kernel
 * says in /proc/self/fdinfo. */
static bool fd_is_direct(int fd)
{
	char path[64], line[128];
	unsigned long flags = 0;
	bool found = false;
	FILE *fi;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	fi = fopen(path, "re");
	assert_non_null(fi);
	while (fgets(line, sizeof(line), fi))
		if (sscanf(line, "flags: %lo", &flags) == 1)
			found = true;
	fclose(fi);
	assert_true(found);
	return (flags & O_DIRECT) != 0;
}

/* Pages of the image in the page cache over [off, off + len). */
static unsigned cached_pages(struct fx *f, uint64_t off, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = len / pg;
	unsigned char vec[64];
	unsigned count = 0;
	int fd = open(f->img, O_RDONLY | O_CLOEXEC);
	void *m;

	assert_true(fd >= 0 && n <= sizeof(vec));
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
	assert_true(m != MAP_FAILED);
	assert_int_equal(mincore(m, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	munmap(m, len);
	close(fd);
	return count;
}

/* Drops the image's cached pages (written back first). */
static void drop_cache(struct fx *f)
{
	int fd = open(f->img, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fdatasync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
}

/* A 4-page read at sector into pages 20..23: OKAY, the image's pattern,
 * and whether the engine copied it from the page cache itself. */
static bool read_checked(struct fx *f, uint64_t sector)
{
	vbd_blkback_stats a = stats(f), b;
	unsigned char want[4 * VBD_PAGE_SIZE];

	memset(page(f, 20), 0, sizeof(want));
	assert_int_equal(io(f, 0, rq(BLKIF_OP_READ, sector, 4, 20, f)), BLKIF_RSP_OKAY);
	b = stats(f);
	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = pattern(sector * 512 + i);
	assert_memory_equal(page(f, 20), want, sizeof(want));
	assert_true(b.cached_reads - a.cached_reads <= 1);
	return b.cached_reads != a.cached_reads;
}

/* The io_uring engine, while its target answers from memory, copies a read
 * from the page cache itself (preadv2 with RWF_NOWAIT) with no submission;
 * what the cache does not hold goes through the io_uring from where that
 * copy stopped.  A read of cached pages is counted as such, and all three
 * reads bring the image's bytes: one of cached pages, one whose last two
 * pages were dropped from the cache, and one with none cached.  The last
 * two are seldom counted: RWF_NOWAIT starts the readahead of what it
 * misses, and where the disk answers before the call looks again (once in
 * a CI run under ASan) the read comes back whole, from the cache. */
static void test_cached_reads(void **state)
{
	struct fx *f = *state;
	const uint64_t part = 1024, none = 2048;    /* sectors: 512 KiB, 1 MiB */
	int fd, whole;

	up(f, &plain);
	if (!f->b->devs->rings[0].u)
		skip();     /* the synchronous engine (no io_uring here) */
	/* The fixture wrote the image: its pages are cached.  The first read
	 * shows the engine that the target completes inline. */
	read_checked(f, 0);
	assert_true(read_checked(f, 8));
	drop_cache(f);
	/* Two pages back into the cache, read through a descriptor that does
	 * no readahead. */
	fd = open(f->img, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0);
	assert_int_equal(pread(fd, page(f, 30), 2 * VBD_PAGE_SIZE, (off_t)(part * 512)),
	                 2 * VBD_PAGE_SIZE);
	close(fd);
	if (cached_pages(f, part * 512, 2 * VBD_PAGE_SIZE) != 2 ||
	    cached_pages(f, part * 512 + 2 * VBD_PAGE_SIZE, 2 * VBD_PAGE_SIZE) != 0 ||
	    cached_pages(f, none * 512, 4 * VBD_PAGE_SIZE) != 0) {
		print_message("the file system keeps its pages cached (tmpfs?): "
		              "reads past the cache not tried\n");
		return;
	}
	whole = read_checked(f, part);
	whole += read_checked(f, none);
	if (whole)
		print_message("%d read(s) past the cache came back whole: quick readahead\n", whole);
	assert_int_equal(stats(f).errors, 0);
}

/* Whether the file system under path takes O_DIRECT (statx and open);
 * *ret_bypass: its direct I/O says it bypasses the page cache (statx
 * gives its alignment: tmpfs, whose pages are its storage, does not). */
static bool fs_has_direct(const char *path, bool *ret_bypass)
{
	struct statx sx;
	int fd;

	*ret_bypass = false;
	if (statx(AT_FDCWD, path, 0, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN)) {
		if (!sx.stx_dio_offset_align)
			return false;
		*ret_bypass = true;
	}
	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* direct-io-safe on a file: the target has an O_DIRECT descriptor beside
 * its buffered one, a guest's writes and reads bypass the page cache, and
 * what goes through the ring is what the file holds, for whole pages and
 * for pieces of them, with either engine.  Where the file system has no
 * O_DIRECT, the device is served buffered and that is counted. */
static void direct_file(struct fx *f, const char *engine)
{
	struct vbd__bb_disk *k;
	unsigned char buf[3 * 512];
	struct req r;
	bool bypass;

	setenv("VBD_BLKBACK_ENGINE", engine, 1);
	layout(f, "w");
	xs_put(f->h0, XBT_NULL, f->be, "direct-io-safe", "1");
	start(f);
	hotplug(f);
	wait_be_state(f, 2);
	fe_connect(f, &plain);
	wait_be_state(f, 4);
	unsetenv("VBD_BLKBACK_ENGINE");
	k = &f->b->devs->disk;
	if (!fs_has_direct(f->img, &bypass)) {
		fprintf(stderr, "%s has no O_DIRECT: the buffered fallback checked\n", f->dir);
		assert_int_equal(k->dfd, -1);
		assert_int_equal(stats(f).direct_targets, 0);
		assert_int_equal(stats(f).direct_refused, 1);
		check_rw(f, 0, 128, 4, 0, 70);
		return;
	}
	assert_int_equal(stats(f).direct_targets, 1);
	assert_int_equal(stats(f).direct_refused, 0);
	assert_true(k->dfd >= 0);
	assert_true(fd_is_direct(k->dfd));
	assert_false(fd_is_direct(k->fd));

	/* Whole pages: written and read back past the page cache. */
	drop_cache(f);
	check_rw(f, 0, 128, 4, 0, 71);
	drop_cache(f);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_WRITE, 256, 4, 0, f)), BLKIF_RSP_OKAY);
	assert_int_equal(io(f, 0, rq(BLKIF_OP_READ, 256, 4, 8, f)), BLKIF_RSP_OKAY);
	if (bypass)
		assert_int_equal(cached_pages(f, 256 * 512, 4 * VBD_PAGE_SIZE), 0);
	else
		fprintf(stderr, "%s: direct I/O without statx alignment: page cache not checked\n",
		        f->dir);
	assert_memory_equal(page(f, 0), page(f, 8), 4 * VBD_PAGE_SIZE);

	/* Pieces of pages (sectors 6-7 of one, 3 of the next): a write, then
	 * the file and a read back agree with it. */
	for (unsigned i = 0; i < 2 * VBD_PAGE_SIZE; i++)
		page(f, 0)[i] = (unsigned char)(i * 7 + 1);
	r = rq(BLKIF_OP_WRITE, 1001, 2, 0, f);
	r.seg[0].first_sect = 6;
	r.seg[0].last_sect = 7;
	r.seg[1].first_sect = 3;
	r.seg[1].last_sect = 3;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	file_read(f, buf, sizeof(buf), 1001 * 512);
	assert_memory_equal(page(f, 0) + 6 * 512, buf, 1024);
	assert_memory_equal(page(f, 1) + 3 * 512, buf + 1024, 512);
	memset(page(f, 2), 0xee, 2 * VBD_PAGE_SIZE);
	r = rq(BLKIF_OP_READ, 1001, 2, 2, f);
	r.seg[0].first_sect = 6;
	r.seg[0].last_sect = 7;
	r.seg[1].first_sect = 3;
	r.seg[1].last_sect = 3;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	assert_memory_equal(page(f, 2) + 6 * 512, buf, 1024);
	assert_memory_equal(page(f, 3) + 3 * 512, buf + 1024, 512);
	assert_int_equal(page(f, 3)[3 * 512 - 1], 0xee);
	assert_int_equal(page(f, 3)[4 * 512], 0xee);
	/* A flush still makes it durable. */
	assert_int_equal(io(f, 0, (struct req){ .op = BLKIF_OP_FLUSH_DISKCACHE }), BLKIF_RSP_OKAY);
	assert_int_equal(stats(f).direct_targets, 1);
	assert_int_equal(stats(f).errors, 0);
}

static void test_direct_file_uring(void **state)
{
	direct_file(*state, "uring");
}

static void test_direct_file_sync(void **state)
{
	direct_file(*state, "sync");
	assert_null(((struct fx *)*state)->b->devs->rings[0].u);
}

/* Without direct-io-safe, buffered only. */
static void test_direct_not_asked(void **state)
{
	struct fx *f = *state;

	up(f, &plain);
	assert_int_equal(f->b->devs->disk.dfd, -1);
	check_rw(f, 0, 128, 2, 0, 72);
	assert_int_equal(stats(f).direct_targets, 0);
	assert_int_equal(stats(f).direct_refused, 0);
	assert_int_equal(stats(f).direct_unaligned, 0);
}

/* A loop device of 4 KiB logical blocks, direct-io-safe: a guest's
 * 512-byte sectors are not what its O_DIRECT takes, and are served
 * buffered, correctly; whole blocks go direct.  Then the backend is told
 * a smaller alignment than the device's: the kernel refuses the transfer
 * (EINVAL), which is done again buffered, and the target stays buffered. */
static void test_direct_4k_device(void **state)
{
	struct fx *f = *state;
	char dev[64];
	struct stat st;
	unsigned char buf[2 * 512], want[2 * 512];
	struct req r;
	int lfd = loop_attach(f->img, dev, sizeof(dev));

	if (lfd < 0) {
		fprintf(stderr, "no loop device (%s): skipped\n", strerror(-lfd));
		skip();
	}
	if (ioctl(lfd, LOOP_SET_BLOCK_SIZE, 4096) < 0) {
		fprintf(stderr, "loop block size 4096: %s: skipped\n", strerror(errno));
		ioctl(lfd, LOOP_CLR_FD, 0);
		close(lfd);
		skip();
	}
	assert_int_equal(fstat(lfd, &st), 0);
	f->target = dev;
	layout(f, "w");
	xs_put(f->h0, XBT_NULL, f->be, "direct-io-safe", "1");
	start(f);
	xs_put(f->h0, XBT_NULL, f->be, "physical-device", "%x:%x", major(st.st_rdev),
	       minor(st.st_rdev));
	wait_be_state(f, 2);
	fe_connect(f, &plain);
	wait_be_state(f, 4);
	assert_int_equal(xs_num(f->h0, f->be, "sector-size"), 4096);
	assert_int_equal(stats(f).direct_targets, 1);
	assert_true(fd_is_direct(f->b->devs->disk.dfd));
	assert_int_equal(f->b->devs->disk.dio_off_align, 4096);

	check_rw(f, 0, 128, 4, 0, 80);
	assert_int_equal(stats(f).direct_unaligned, 0);

	/* Sector 1001 (first_sect 1, then sector 2 of the next page): not
	 * 4 KiB aligned. */
	for (unsigned i = 0; i < 2 * VBD_PAGE_SIZE; i++)
		page(f, 0)[i] = (unsigned char)(i * 5 + 3);
	r = rq(BLKIF_OP_WRITE, 1001, 2, 0, f);
	r.seg[0].first_sect = 1;
	r.seg[0].last_sect = 1;
	r.seg[1].first_sect = 2;
	r.seg[1].last_sect = 2;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	memcpy(want, page(f, 0) + 512, 512);
	memcpy(want + 512, page(f, 1) + 1024, 512);
	file_read(f, buf, sizeof(buf), 1001 * 512);
	assert_memory_equal(buf, want, sizeof(want));
	memset(page(f, 2), 0, 2 * VBD_PAGE_SIZE);
	r.op = BLKIF_OP_READ;
	r.seg[0].gref = f->drefs[2];
	r.seg[1].gref = f->drefs[3];
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	assert_memory_equal(page(f, 2) + 512, want, 512);
	assert_memory_equal(page(f, 3) + 1024, want + 512, 512);
	assert_int_equal(stats(f).direct_unaligned, 2);
	assert_int_equal(stats(f).direct_targets, 1);

	/* Told 512: the same kind of request reaches O_DIRECT, which the
	 * device refuses; it is served all the same. */
	f->b->devs->disk.dio_off_align = 512;
	for (unsigned i = 0; i < VBD_PAGE_SIZE; i++)
		page(f, 0)[i] = (unsigned char)(i * 11 + 5);
	r = rq(BLKIF_OP_WRITE, 2001, 1, 0, f);
	r.seg[0].first_sect = 1;
	r.seg[0].last_sect = 2;
	assert_int_equal(io(f, 0, r), BLKIF_RSP_OKAY);
	file_read(f, buf, sizeof(buf), 2001 * 512);
	assert_memory_equal(buf, page(f, 0) + 512, sizeof(buf));
	assert_int_equal(stats(f).direct_refused, 1);
	assert_int_equal(stats(f).direct_targets, 0);
	check_rw(f, 0, 256, 2, 0, 81);
	assert_int_equal(stats(f).errors, 0);
	f->b = vbd_blkback_free(f->b);
	ioctl(lfd, LOOP_CLR_FD, 0);
	close(lfd);
}

static void test_bad_physical_device(void **state)
{
	struct fx *f = *state;

	layout(f, "w");
	start(f);
	wait_be_state(f, 2);
	xs_put(f->h0, XBT_NULL, f->be, "physical-device", "0x7:zz");
	wait_be_state(f, 5);
	assert_true(xs_has(f->h0, "/local/domain/0/error/backend/vbd/1/51712/error"));
}

/* The hotplug step's keys: physical-device and -path in one round trip,
 * the rest of the target's keys (mode, device-type, discard-enable,
 * direct-io-safe) in one more; 6 when each was one. */
static void test_target_round_trips(void **state)
{
	struct fx *f = *state;
	long long none, rt;
	unsigned own = dom0_conns(f, 0, &none);

	layout(f, "w");
	start(f);
	wait_be_state(f, 2);
	settle(f);
	rt = backend_round_trips(f, own);
	hotplug(f);
	settle(f);
	rt = backend_round_trips(f, own) - rt;
	print_message("the target's keys: %lld round trips of the backend\n", rt);
	assert_true(f->b->devs && f->b->devs->disk.fd >= 0);
	assert_true(rt <= 2);
}

/* A physical-device-path that is not absolute, or past the target's
 * path, fails the device with the message that says so; nothing after it
 * is looked at. */
static void test_bad_physical_device_path(void **state)
{
	struct fx *f = *state;
	char big[300], path[256], *e;

	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = 0;
	for (int i = 0; i < 2; i++) {
		if (i) {
			f->b = vbd_blkback_free(f->b);
			assert_true(xs_rm(f->h0, XBT_NULL, "/local/domain/0/error"));
			assert_true(xs_rm(f->h0, XBT_NULL, f->be));
		}
		layout(f, "w");
		start(f);
		wait_be_state(f, 2);
		snprintf(path, sizeof(path), "%s/physical-device-path", f->be);
		assert_true(xs_write(f->h0, XBT_NULL, path, i ? big : "disk.img",
		                     strlen(i ? big : "disk.img")));
		wait_be_state(f, 5);
		e = vbd_test_xs_readf(f->h0, "/local/domain/0/error/backend/vbd/1/51712/error");
		assert_non_null(e);
		if (atoi(e) != EINVAL || !strstr(e, "bad physical-device-path"))
			fail_msg("error node \"%s\"", e);
		free(e);
	}
}

/* A detach's end: the frontend's Closed read, then Closed written in one
 * transaction with online read in the same window: 4 round trips (5 when
 * the transaction's requests went one by one). */
static void test_detach_round_trips(void **state)
{
	struct fx *f = *state;
	long long none, rt;
	unsigned own = dom0_conns(f, 0, &none);

	up(f, &plain);
	detach_start(f);
	fe_state(f, 5);
	settle(f);
	rt = backend_round_trips(f, own);
	fe_state(f, 6);
	wait_be_state(f, 6);
	settle(f);
	rt = backend_round_trips(f, own) - rt;
	print_message("the frontend's Closed to ours: %lld round trips of the backend\n", rt);
	assert_int_equal(stats(f).devices, 0);
	assert_true(rt <= 4);
}

static void fe_closed_now(void *ud)
{
	fe_state(ud, 6);
}

/* A detach where the frontend's Closed reaches the store while the
 * backend's Closing is on its way (the relay writes it just before
 * passing the backend's commit on), so that the event of the backend's
 * own Closing comes after the frontend's Closed and is handled after the
 * device was let go.  It, and every event older than the commit that
 * wrote Closed, is no news: nothing is probed, nothing read, until the
 * toolstack removes the dir (the old rule, "the first state event after
 * Closed is ours", took the Closing's for it, then probed twice: 6 round
 * trips more). */
static void test_retired_late_events(void **state)
{
	struct fx *f = *state;
	vbd_test_relay *rl = vbd_test_relay_start(f->dir, f->st.socket);
	long long none, rt;
	unsigned own = dom0_conns(f, 0, &none);

	f->o.xenstored_path = vbd_test_relay_path(rl);
	up(f, &plain);
	detach_start(f);
	settle(f);
	rt = backend_round_trips(f, own);
	vbd_test_relay_on(rl, XS_TRANSACTION_END, fe_closed_now, f);
	fe_state(f, 5);
	wait_be_state(f, 6);
	assert_true(vbd_test_relay_hook_ran(rl));
	settle(f);
	assert_int_equal(stats(f).devices, 0);
	/* The toolstack removes the dir: the retired device's last event. */
	assert_true(xs_rm(f->h0, XBT_NULL, f->be));
	settle(f);
	rt = backend_round_trips(f, own) - rt;
	print_message("the frontend's Closing to the dir's removal: %lld round trips of the backend\n",
	              rt);
	assert_int_equal(stats(f).devices, 0);
	/* 9 today: the Closing's read and transaction, the Closed's read
	 * and transaction; 19 with the old rule. */
	assert_true(rt <= 10);
	f->b = vbd_blkback_free(f->b);
	vbd_test_relay_stop(rl);
}

static void test_hostile_frontend_state(void **state)
{
	struct fx *f = *state;

	up(f, &plain);
	fe_state(f, 9);
	wait_be_state(f, 5);
	assert_true(xs_has(f->h0, "/local/domain/0/error/backend/vbd/1/51712/error"));
	xs_put(f->h1, XBT_NULL, f->fe, "state", "garbage");
	settle(f);
	fe_state(f, 6);
	wait_be_state(f, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_options),
		T(test_probe_keys),
		T(test_kind_vbd3),
		T(test_device_first),
		T(test_minios_skips_initialised),
		T(test_existing_device),
		T(test_ring_orders),
		T(test_full_ring),
		T(test_multi_queue),
		T(test_concurrent_queues),
		T(test_too_many_queues),
		T(test_bad_protocol),
		T(test_bad_ring_keys),
		T(test_ring_ref_garbage),
		T(test_ring_keys_hostile_queue),
		T(test_initialised_round_trips),
		T(test_initialised_guessed_one_queue),
		T(test_initialised_guessed_queues),
		T(test_initwait_event_not_initialised),
		T(test_reconnect_guessed_round_trips),
		T(test_probe_round_trips),
		T(test_probe_frontend_keys),
		T(test_target_round_trips),
		T(test_bad_physical_device_path),
		T(test_detach_round_trips),
		T(test_x86_32),
		T(test_partial_segments),
		T(test_flush_barrier),
		T(test_ordered_batch),
		T(test_persistent_in_flight),
		T(test_engine_choice),
		T(test_worker_at_first_request),
		T(test_ring_map_fails_at_connect),
		T(test_discard),
		T(test_no_discard),
		T(test_indirect),
		T(test_no_indirect),
		T(test_indirect_persistent),
		T(test_persistent),
		T(test_persistent_lru),
		T(test_persistent_not_offered),
		T(test_persistent_total_budget),
		T(test_persistent_total_none),
		T(test_persistent_total_default),
		T(test_persistent_map_fallback),
		T(test_hostile_requests),
		T(test_duplicate_persistent_refs),
		T(test_readonly_disk),
		T(test_producer_overflow),
		T(test_inconsistent_ring_at_connect),
		T(test_close_and_reconnect),
		T(test_dev_stats),
		T(test_publish_stats),
		T(test_offline_removal),
		T(test_adopt_in_reset),
		cmocka_unit_test(test_pgrant_limit),
		cmocka_unit_test(test_pgrant_growth),
		cmocka_unit_test(test_pgrant_sweep),
		T(test_memory_per_device),
	T(test_backend_dir_removed),
		T(test_frontend_removed),
		T(test_same_path_connected),
		T(test_same_path_in_reset),
		T(test_resize),
		T(test_resize_poll),
		T(test_hostile_frontend_state),
		T(test_block_device),
		T(test_bad_physical_device),
		T(test_reads_keep_atime),
		T(test_direct_file_uring),
		T(test_answered_as_done),
		T(test_cached_reads),
		T(test_queue_fails_first_request),
		T(test_retired_late_events),
		T(test_probe_opens_target),
		T(test_initialised_at_first_look),
		T(test_direct_file_sync),
		T(test_direct_not_asked),
		T(test_direct_4k_device),
#undef T
	};

	/* VBD_TEST_FILTER=test_x86* runs those only, while working on them. */
	if (getenv("VBD_TEST_FILTER"))
		cmocka_set_test_filter(getenv("VBD_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
