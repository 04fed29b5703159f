/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bundled blkfront against a raw backend written here: the test plays
 * dom0's blkback by hand (xenstore keys as dom0, the frontend's rings mapped
 * with vbd_gnt_map, requests served from memory in a thread), so that it can
 * also misbehave: unknown or repeated ids, wrong operations, garbage status,
 * rsp_prod overflow, missing or garbage keys, vanishing.
 *
 * The frontend is domain 1 on its own xenstore socket and its own simulated
 * hypervisor socket, so the permissions and grant rules are the real ones.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "simhv_fixture.h"
#include "store_fixture.h"
#include "vbd/blkfront.h"
#include "vbd/simhv.h"
#include "vbd/transport.h"
#include "xs_relay.h"
/* (see lib/blkfront/blkfront.h: xen/io/ring.h wants an interface version) */
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#endif
#include "blkif.h"
#include "transport/xport.h"        /* vbd__xport_fail */
#include "blkfront/blkfront.h"      /* vbd__bf_ring, for the id boundary */

#define DOM 1
#define DEVID 51712u
#define FE "/local/domain/1/device/vbd/51712"
#define BE_DOM0 "/local/domain/0/backend/vbd/1/51712"
/* The backend's dir: dom0's, as libxl writes it, unless a test says. */
static char be_path[64];
#define BE be_path
#define DISK_SECTORS 16384u     /* 8 MiB */
#define MAXQ 8

enum bad {
	BAD_NONE = 0,
	BAD_UNKNOWN_ID,
	BAD_ID_RING_SIZE,   /* id == the ring's size: one past the last slot */
	BAD_DUP_ID,         /* answer the first request twice, the second never */
	BAD_WRONG_OP,
	BAD_STATUS,
	BAD_PROD_OVERFLOW,
	BAD_HOLD,           /* never answer */
};

struct bq {
	void *sring;
	unsigned pages;
	blkif_back_ring_t br;
	vbd_evtchn *e;
	uint32_t port;
};

/* The raw backend. */
struct be {
	vbd_xport *x;
	struct xs_handle *h;
	pthread_t thread;
	int stop[2];
	bool running;
	uint8_t *disk;
	/* what it advertises at InitWait and at Connected */
	unsigned max_queues, max_order, indirect;
	bool persistent, flush, discard, readonly;
	const char *sectors, *sector_size;       /* NULL: omitted */
	bool no_connect;                         /* stay in InitWait */
	bool late;                               /* at 1 until be_initwait() */
	_Atomic int bad;
	/* what it saw */
	unsigned nq, order;
	char fe_persistent[8];
	_Atomic unsigned requests, indirect_requests, max_segs_seen;
	_Atomic unsigned grefs_first;            /* distinct first-segment grefs (capped) */
	uint32_t grefs[64];
	_Atomic int state;
	struct bq q[MAXQ];
	bool mapped;
};

struct fx {
	vbd_test_store t;
	vbd_test_simhv hv;
	char fe_xs[PATH_MAX + 16];
	struct xs_handle *h;
	vbd_xport *fx;
	struct be be;
	vbd_blkfront *f;
	vbd_blkfront_options o;
	_Atomic unsigned resized;
	uint64_t resized_to;
	vbd_test_relay *relay;      /* test_handshake_round_trips' */
};

/* ---- small helpers ---- */

static void xw(struct xs_handle *h, xs_transaction_t t, const char *dir, const char *key,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void xw(struct xs_handle *h, xs_transaction_t t, const char *dir, const char *key,
               const char *fmt, ...)
{
	char path[256], val[256];
	va_list ap;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	xs_write(h, t, path, val, (unsigned)strlen(val));
}

static int xr_int(struct xs_handle *h, const char *dir, const char *key, int def)
{
	char *v = vbd_test_xs_readf(h, "%s/%s", dir, key);
	int r = v ? atoi(v) : def;

	free(v);
	return r;
}

/* ---- the raw backend ---- */

static void be_unmap(struct be *b)
{
	unsigned i;

	for (i = 0; i < b->nq; i++) {
		if (b->q[i].e) {
			vbd_evtchn_unbind(b->q[i].e, b->q[i].port);
			b->q[i].e = vbd_evtchn_close(b->q[i].e);
		}
		if (b->q[i].sring) {
			vbd_gnt_unmap(b->x, b->q[i].sring, b->q[i].pages);
			b->q[i].sring = NULL;
		}
	}
	b->mapped = false;
}

static void be_set_state(struct be *b, int s)
{
	b->state = s;      /* before the frontend can see it */
	xw(b->h, XBT_NULL, BE, "state", "%d", s);
}

/* Frontend at 3 or 4: map its rings (as blkback's connect_ring) and connect. */
static int be_connect(struct be *b)
{
	unsigned i, j;
	xs_transaction_t t;

	b->order = (unsigned)xr_int(b->h, FE, "ring-page-order", 0);
	b->nq = (unsigned)xr_int(b->h, FE, "multi-queue-num-queues", 1);
	if (b->nq < 1 || b->nq > MAXQ || b->order > 4)
		return -EINVAL;
	{
		char *v = vbd_test_xs_readf(b->h, FE "/feature-persistent");

		snprintf(b->fe_persistent, sizeof(b->fe_persistent), "%s", v ? v : "");
		free(v);
	}
	for (i = 0; i < b->nq; i++) {
		char dir[160], key[32];
		uint32_t refs[16];

		if (b->nq > 1)
			snprintf(dir, sizeof(dir), FE "/queue-%u", i);
		else
			snprintf(dir, sizeof(dir), FE);
		for (j = 0; j < 1u << b->order; j++) {
			if (b->order)
				snprintf(key, sizeof(key), "ring-ref%u", j);
			else
				snprintf(key, sizeof(key), "ring-ref");
			refs[j] = (uint32_t)xr_int(b->h, dir, key, -1);
		}
		b->q[i].pages = 1u << b->order;
		if (vbd_gnt_map(b->x, DOM, b->q[i].pages, refs, true, &b->q[i].sring) < 0)
			return -EIO;
		BACK_RING_INIT(&b->q[i].br, (blkif_sring_t *)b->q[i].sring,
		               (size_t)VBD_PAGE_SIZE << b->order);
		if (vbd_evtchn_open(b->x, &b->q[i].e) < 0)
			return -EIO;
		if (vbd_evtchn_bind_interdomain(b->q[i].e, DOM,
		                                (uint32_t)xr_int(b->h, dir, "event-channel", -1),
		                                &b->q[i].port) < 0)
			return -EIO;
	}
	b->mapped = true;
	b->state = 4;
	do {
		t = xs_transaction_start(b->h);
		if (b->sectors)
			xw(b->h, t, BE, "sectors", "%s", b->sectors);
		xw(b->h, t, BE, "info", "%u", b->readonly ? 4u : 0u);
		if (b->sector_size)
			xw(b->h, t, BE, "sector-size", "%s", b->sector_size);
		xw(b->h, t, BE, "physical-sector-size", "4096");
		xw(b->h, t, BE, "feature-flush-cache", "%d", b->flush);
		xw(b->h, t, BE, "feature-discard", "%d", b->discard);
		xw(b->h, t, BE, "feature-persistent", "%d", b->persistent);
		xw(b->h, t, BE, "state", "4");
	} while (!xs_transaction_end(b->h, t, false) && errno == EAGAIN);
	b->state = 4;
	return 0;
}

static void *seg_map(struct be *b, uint32_t gref)
{
	void *p = NULL;

	if (vbd_gnt_map(b->x, DOM, 1, &gref, true, &p) < 0)
		return NULL;
	return p;
}

/* One request: 0 ok, -1 error. */
static int be_do(struct be *b, const blkif_request_t *req)
{
	const struct blkif_request_segment *seg = req->seg;
	struct blkif_request_segment iseg[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * 512];
	uint8_t op = req->operation;
	uint64_t sector = req->sector_number;
	unsigned nseg = req->nr_segments, i;

	b->requests++;
	if (op == BLKIF_OP_FLUSH_DISKCACHE || op == BLKIF_OP_WRITE_BARRIER)
		return 0;
	if (op == BLKIF_OP_DISCARD) {
		const blkif_request_discard_t *d = (const void *)req;

		if (d->sector_number + d->nr_sectors > DISK_SECTORS)
			return -1;
		memset(b->disk + d->sector_number * 512, 0, d->nr_sectors * 512);
		return 0;
	}
	if (op == BLKIF_OP_INDIRECT) {
		const blkif_request_indirect_t *ind = (const void *)req;
		unsigned npages;

		b->indirect_requests++;
		op = ind->indirect_op;
		nseg = ind->nr_segments;
		sector = ind->sector_number;
		if (nseg > b->indirect || nseg == 0)
			return -1;
		npages = (nseg + 511) / 512;
		for (i = 0; i < npages; i++) {
			void *p = seg_map(b, ind->indirect_grefs[i]);

			if (!p)
				return -1;
			memcpy(&iseg[i * 512], p, VBD_PAGE_SIZE);
			vbd_gnt_unmap(b->x, p, 1);
		}
		seg = iseg;
	} else if (nseg == 0 || nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
		return -1;
	}
	if (nseg > b->max_segs_seen)
		b->max_segs_seen = nseg;
	if (b->grefs_first < 64) {
		for (i = 0; i < b->grefs_first; i++)
			if (b->grefs[i] == seg[0].gref)
				break;
		if (i == b->grefs_first)
			b->grefs[b->grefs_first++] = seg[0].gref;
	}
	for (i = 0; i < nseg; i++) {
		unsigned first = seg[i].first_sect, last = seg[i].last_sect, n;
		uint8_t *p;

		if (first > last || last > 7)
			return -1;
		n = last - first + 1;
		if (sector + n > DISK_SECTORS)
			return -1;
		p = seg_map(b, seg[i].gref);
		if (!p)
			return -1;
		if (op == BLKIF_OP_READ)
			memcpy(p + first * 512, b->disk + sector * 512, n * 512);
		else if (op == BLKIF_OP_WRITE)
			memcpy(b->disk + sector * 512, p + first * 512, n * 512);
		vbd_gnt_unmap(b->x, p, 1);
		sector += n;
	}
	return 0;
}

static void be_serve(struct be *b, struct bq *q)
{
	RING_IDX rc = q->br.req_cons, rp;
	int notify, bad = b->bad;
	bool dup_done = false;

	rp = q->br.sring->req_prod;
	xen_rmb();  /* req_prod before the requests */
	if (bad == BAD_HOLD)
		return;
	if (bad == BAD_DUP_ID && rp - rc < 2)
		return;     /* wait for two requests */
	while (rc != rp) {
		blkif_request_t req;
		blkif_response_t *rsp;
		int st;

		RING_COPY_REQUEST(&q->br, rc, &req);
		q->br.req_cons = ++rc;
		st = be_do(b, &req);
		rsp = RING_GET_RESPONSE(&q->br, q->br.rsp_prod_pvt);
		rsp->id = req.id;
		rsp->operation = req.operation == BLKIF_OP_INDIRECT
		                 ? ((blkif_request_indirect_t *)&req)->indirect_op : req.operation;
		rsp->status = st ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY;
		switch (bad) {
		case BAD_UNKNOWN_ID:
			rsp->id = 1000;
			break;
		case BAD_ID_RING_SIZE:
			rsp->id = RING_SIZE(&q->br);
			break;
		case BAD_WRONG_OP:
			rsp->operation ^= 1;
			break;
		case BAD_STATUS:
			rsp->status = 7;
			break;
		case BAD_DUP_ID:
			if (!dup_done) {
				/* this one, and the same id again in place of the next */
				q->br.rsp_prod_pvt++;
				rsp = RING_GET_RESPONSE(&q->br, q->br.rsp_prod_pvt);
				rsp->id = req.id;
				rsp->operation = req.operation;
				rsp->status = 0;
				dup_done = true;
				q->br.req_cons = ++rc;     /* swallow the second request */
			}
			break;
		default:
			break;
		}
		q->br.rsp_prod_pvt++;
	}
	RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->br, notify);
	if (bad == BAD_PROD_OVERFLOW)
		q->br.sring->rsp_prod += 1000;
	if (notify || bad)
		vbd_evtchn_notify(q->e, q->port);
}

static void be_step(struct be *b)
{
	int fs = xr_int(b->h, FE, "state", -1);
	unsigned i;

	if (b->state == 2 && (fs == 3 || fs == 4) && !b->no_connect) {
		if (be_connect(b) < 0) {
			be_unmap(b);
			be_set_state(b, 5);
		}
	} else if (fs == 5 && b->state != 5 && b->state != 6) {
		be_unmap(b);
		be_set_state(b, 5);
	} else if (fs == 6 && b->state != 6) {
		be_unmap(b);
		be_set_state(b, 6);
	}
	for (i = 0; b->mapped && i < b->nq; i++) {
		int port;

		while ((port = vbd_evtchn_pending(b->q[i].e)) >= 0)
			vbd_evtchn_unmask(b->q[i].e, (uint32_t)port);
		be_serve(b, &b->q[i]);
	}
}

static void *be_main(void *arg)
{
	struct be *b = arg;

	for (;;) {
		struct pollfd p[1 + MAXQ] = { { .fd = b->stop[0], .events = POLLIN } };
		unsigned i, n = 1;

		for (i = 0; b->mapped && i < b->nq; i++) {
			p[n].fd = vbd_evtchn_fd(b->q[i].e);
			p[n++].events = POLLIN;
		}
		poll(p, n, 5);
		if (p[0].revents)
			break;
		be_step(b);
	}
	return NULL;
}

static void be_start(struct fx *x)
{
	struct be *b = &x->be;

	assert_int_equal(pipe(b->stop), 0);
	assert_int_equal(pthread_create(&b->thread, NULL, be_main, b), 0);
	b->running = true;
}

static void be_stop(struct be *b)
{
	if (!b->running)
		return;
	(void)!write(b->stop[1], "x", 1);
	pthread_join(b->thread, NULL);
	close(b->stop[0]);
	close(b->stop[1]);
	b->running = false;
	be_unmap(b);
}

/* ---- fixture ---- */

static void on_resize(uint64_t old, uint64_t now, void *ud)
{
	struct fx *x = ud;

	(void)old;
	x->resized_to = now;
	x->resized++;
}

static void log_cb(int level, const char *msg, void *ud)
{
	(void)ud;
	if (getenv("VBD_TEST_VERBOSE") || level <= 3)
		fprintf(stderr, "  blkfront[%d]: %s\n", level, msg);
}

/* What the backend advertises at InitWait, and its state 2. */
static void be_offers(struct fx *x, xs_transaction_t t)
{
	struct be *b = &x->be;

	if (b->max_queues)
		xw(x->h, t, BE, "multi-queue-max-queues", "%u", b->max_queues);
	if (b->max_order)
		xw(x->h, t, BE, "max-ring-page-order", "%u", b->max_order);
	if (b->indirect)
		xw(x->h, t, BE, "feature-max-indirect-segments", "%u", b->indirect);
	xw(x->h, t, BE, "state", "2");
}

/* The backend at InitWait, advertising b's limits (at 1 if late); the
 * frontend dir at 1. */
static void write_nodes(struct fx *x)
{
	struct xs_permissions fe_perms[2] = { { DOM, XS_PERM_NONE }, { 0, XS_PERM_READ } };
	struct xs_permissions be_perms[2] = { { 0, XS_PERM_NONE }, { DOM, XS_PERM_READ } };
	struct xs_permissions home[2] = { { 0, XS_PERM_NONE }, { DOM, XS_PERM_READ } };
	struct xs_permissions err[1] = { { DOM, XS_PERM_NONE } };
	struct be *b = &x->be;
	xs_transaction_t t;

	do {
		t = xs_transaction_start(x->h);
		xs_mkdir(x->h, t, "/local/domain/1");
		xs_set_permissions(x->h, t, "/local/domain/1", home, 2);
		xs_mkdir(x->h, t, "/local/domain/1/error");
		xs_set_permissions(x->h, t, "/local/domain/1/error", err, 1);
		xs_mkdir(x->h, t, FE);
		xs_set_permissions(x->h, t, FE, fe_perms, 2);
		xw(x->h, t, FE, "backend", "%s", BE);
		xw(x->h, t, FE, "backend-id", "0");
		xw(x->h, t, FE, "virtual-device", "%u", DEVID);
		xw(x->h, t, FE, "device-type", "disk");
		xw(x->h, t, FE, "state", "1");
		xs_mkdir(x->h, t, BE);
		xs_set_permissions(x->h, t, BE, be_perms, 2);
		xw(x->h, t, BE, "frontend", "%s", FE);
		xw(x->h, t, BE, "frontend-id", "1");
		if (b->late)
			xw(x->h, t, BE, "state", "1");
		else
			be_offers(x, t);
	} while (!xs_transaction_end(x->h, t, false) && errno == EAGAIN);
	b->state = b->late ? 1 : 2;
}

/* A late backend's InitWait (b->late): its offers and state. */
static void be_initwait(struct fx *x)
{
	xs_transaction_t t;

	do {
		t = xs_transaction_start(x->h);
		be_offers(x, t);
	} while (!xs_transaction_end(x->h, t, false) && errno == EAGAIN);
	x->be.state = 2;
}

static int setup(void **state)
{
	vbd_blkfront_options o = VBD_BLKFRONT_OPTIONS_INIT;
	struct fx *x = calloc(1, sizeof(*x));
	unsigned i;

	assert_non_null(x);
	snprintf(be_path, sizeof(be_path), "%s", BE_DOM0);
	assert_int_equal(vbd_test_store_start(&x->t, NULL), 0);
	assert_int_equal(vbd_test_store_domain_add(&x->t, DOM), 0);
	snprintf(x->fe_xs, sizeof(x->fe_xs), "%s.d/%d", x->t.socket, DOM);
	assert_int_equal(vbd_test_simhv_start(&x->hv), 0);
	assert_int_equal(vbd_test_simhv_domain_add(&x->hv, DOM), 0);

	x->h = vbd_test_xs_open(&x->t, 0);
	assert_non_null(x->h);
	x->be.h = vbd_test_xs_open(&x->t, 0);
	assert_non_null(x->be.h);
	assert_int_equal(vbd_test_simhv_xport(&x->hv, 0, &x->be.x), 0);
	assert_int_equal(vbd_test_simhv_xport(&x->hv, DOM, &x->fx), 0);
	x->be.disk = malloc((size_t)DISK_SECTORS * 512);
	assert_non_null(x->be.disk);
	for (i = 0; i < DISK_SECTORS * 512u; i++)
		x->be.disk[i] = (uint8_t)(i * 7 + i / 4096);
	x->be.max_queues = 4;
	x->be.max_order = 4;
	x->be.indirect = 256;
	x->be.persistent = true;
	x->be.flush = true;
	x->be.discard = true;
	x->be.sectors = "16384";
	x->be.sector_size = "512";

	o.xenstored_path = x->fe_xs;
	o.xport = x->fx;
	o.domid = DOM;
	o.devid = DEVID;
	o.resized = on_resize;
	o.resized_userdata = x;
	o.log = log_cb;
	x->o = o;
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	x->f = vbd_blkfront_free(x->f);
	x->relay = vbd_test_relay_stop(x->relay);
	be_stop(&x->be);
	x->fx = vbd_xport_free(x->fx);
	x->be.x = vbd_xport_free(x->be.x);
	if (x->be.h)
		xs_close(x->be.h);
	if (x->h)
		xs_close(x->h);
	vbd_test_simhv_stop(&x->hv);
	vbd_test_store_stop(&x->t);
	free(x->be.disk);
	free(x);
	return 0;
}

/* Nodes, backend thread, frontend; connected. */
static void start(struct fx *x)
{
	vbd_errbuf err = { "" };

	write_nodes(x);
	be_start(x);
	if (vbd_blkfront_new(&x->f, &x->o, &err) < 0)
		fail_msg("vbd_blkfront_new: %s", err.msg);
}

static void connect_ok(struct fx *x)
{
	start(x);
	if (vbd_blkfront_wait_connected(x->f, 10000) != 0)
		fail_msg("not connected: %s", vbd_blkfront_last_error(x->f));
}

/* Runs the frontend's loop until its state is at least s. */
static void run_until_state(struct fx *x, int s)
{
	int i;

	for (i = 0; i < 1000 && vbd_blkfront_get_state(x->f) < s; i++) {
		struct pollfd p = { .fd = vbd_blkfront_get_fd(x->f), .events = POLLIN };

		poll(&p, 1, 10);
		vbd_blkfront_process(x->f);
	}
	assert_true(vbd_blkfront_get_state(x->f) >= s);
}

static void close_ok(struct fx *x)
{
	assert_int_equal(vbd_blkfront_close(x->f, 10000), 0);
	assert_int_equal(vbd_blkfront_get_state(x->f), 6);
	assert_int_equal(x->be.state, 6);
}

/* ---- tests ---- */

static void test_handshake(void **state)
{
	struct fx *x = *state;
	vbd_blkfront_info info = { .size = sizeof(info) };
	char *v;

	connect_ok(x);
	assert_int_equal(vbd_blkfront_get_state(x->f), 4);
	assert_int_equal(vbd_blkfront_get_info(x->f, &info), 0);
	assert_true(info.connected);
	assert_int_equal(info.sectors, DISK_SECTORS);
	assert_int_equal(info.sector_size, 512);
	assert_int_equal(info.physical_sector_size, 4096);
	assert_int_equal(info.queues, 4);
	assert_int_equal(info.ring_page_order, 0);     /* our default */
	assert_int_equal(info.ring_size, 32);
	assert_true(info.persistent && info.flush && info.discard);
	assert_int_equal(info.indirect_segments, 256);
	assert_int_equal(x->be.nq, 4);
	assert_string_equal(x->be.fe_persistent, "1");
	v = vbd_test_xs_readf(x->h, FE "/protocol");
	assert_non_null(v);
	assert_string_equal(v, XEN_IO_PROTO_ABI_NATIVE);
	free(v);
	v = vbd_test_xs_readf(x->h, FE "/queue-3/event-channel");
	assert_non_null(v);
	free(v);
	close_ok(x);
}

static void test_skip_initialised(void **state)
{
	struct fx *x = *state;
	vbd_errbuf err = { "" };
	uint8_t buf[4096];

	/* Mini-OS order: the frontend starts before the backend's InitWait. */
	x->o.skip_initialised = true;
	x->be.max_queues = x->be.max_order = x->be.indirect = 0;
	write_nodes(x);
	xw(x->h, XBT_NULL, BE, "state", "1");
	x->be.state = 1;
	assert_int_equal(vbd_blkfront_new(&x->f, &x->o, &err), 0);
	vbd_blkfront_process(x->f);
	run_until_state(x, 4);
	/* Ring keys and state 4 came together; no InitWait seen: one queue,
	 * one page. */
	assert_int_equal(xr_int(x->h, FE, "state", -1), 4);
	assert_int_equal(xr_int(x->h, FE, "ring-ref", -1) >= 0, 1);
	assert_int_equal(xr_int(x->h, FE, "multi-queue-num-queues", -1), -1);
	xw(x->h, XBT_NULL, BE, "state", "2");
	x->be.state = 2;
	be_start(x);
	assert_int_equal(vbd_blkfront_wait_connected(x->f, 10000), 0);
	assert_int_equal(vbd_blkfront_read(x->f, 4096, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, x->be.disk + 4096, sizeof(buf));
	close_ok(x);
}

static void test_negotiation(void **state)
{
	struct fx *x = *state;
	unsigned bq, bo;

	/* Each pair once, against our own maxima of 3 queues and order 2. */
	be_start(x);
	for (bq = 0; bq <= 4; bq++) {
		for (bo = 0; bo <= 4; bo++) {
			vbd_errbuf err = { "" };
			vbd_blkfront_info info = { .size = sizeof(info) };
			uint8_t buf[8192];

			be_stop(&x->be);
			x->be.max_queues = bq;
			x->be.max_order = bo;
			xs_rm(x->h, XBT_NULL, BE);
			xs_rm(x->h, XBT_NULL, FE);
			write_nodes(x);
			be_start(x);
			x->o.max_queues = 3;
			x->o.max_ring_page_order = 2;
			if (vbd_blkfront_new(&x->f, &x->o, &err) < 0)
				fail_msg("%s", err.msg);
			assert_int_equal(vbd_blkfront_wait_connected(x->f, 10000), 0);
			vbd_blkfront_get_info(x->f, &info);
			assert_int_equal(info.queues, bq == 0 ? 1 : bq < 3 ? bq : 3);
			assert_int_equal(info.ring_page_order, bo < 2 ? bo : 2);
			assert_int_equal(info.ring_size, 32u << info.ring_page_order);
			assert_int_equal(x->be.nq, info.queues);
			assert_int_equal(x->be.order, info.ring_page_order);
			assert_int_equal(vbd_blkfront_read(x->f, 8192, buf, sizeof(buf)), 0);
			assert_memory_equal(buf, x->be.disk + 8192, sizeof(buf));
			close_ok(x);
			x->f = vbd_blkfront_free(x->f);
		}
	}
}

/* 8 queues of 16 pages: more ring keys than one pipelined batch holds,
 * written through libxenstore's transaction instead (switch_state). */
static void test_rings_past_a_batch(void **state)
{
	struct fx *x = *state;
	vbd_blkfront_info info = { .size = sizeof(info) };
	uint8_t buf[8192];

	x->be.max_queues = 8;
	x->be.max_order = 4;
	x->o.max_queues = 8;
	x->o.max_ring_page_order = 4;
	connect_ok(x);
	vbd_blkfront_get_info(x->f, &info);
	assert_int_equal(info.queues, 8);
	assert_int_equal(info.ring_page_order, 4);
	assert_int_equal(x->be.nq, 8);
	assert_int_equal(x->be.order, 4);
	assert_int_equal(vbd_blkfront_read(x->f, 8192, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, x->be.disk + 8192, sizeof(buf));
	close_ok(x);
}

/* Writes then reads back count bytes at off, several I/Os in flight. */
static void io_roundtrip(struct fx *x, uint64_t off, size_t count)
{
	uint8_t *w = malloc(count), *r = malloc(count);
	size_t i;

	assert_non_null(w);
	assert_non_null(r);
	for (i = 0; i < count; i++)
		w[i] = (uint8_t)(i * 13 + off / 512);
	assert_int_equal(vbd_blkfront_write(x->f, off, w, count), 0);
	assert_memory_equal(x->be.disk + off, w, count);
	memset(r, 0, count);
	assert_int_equal(vbd_blkfront_read(x->f, off, r, count), 0);
	assert_memory_equal(r, w, count);
	free(w);
	free(r);
}

static void test_data_modes(void **state)
{
	struct fx *x = *state;
	unsigned mode;

	/* persistent on/off x indirect on/off */
	be_start(x);
	for (mode = 0; mode < 4; mode++) {
		vbd_errbuf err = { "" };
		vbd_blkfront_info info = { .size = sizeof(info) };

		be_stop(&x->be);
		xs_rm(x->h, XBT_NULL, BE);
		xs_rm(x->h, XBT_NULL, FE);
		x->be.requests = x->be.indirect_requests = x->be.max_segs_seen = 0;
		x->be.grefs_first = 0;
		x->o.no_persistent = !(mode & 1);
		x->o.max_indirect_segments = mode & 2 ? 64 : VBD_OPT_ZERO;
		x->o.max_queues = 1;
		write_nodes(x);
		be_start(x);
		if (vbd_blkfront_new(&x->f, &x->o, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(vbd_blkfront_wait_connected(x->f, 10000), 0);
		vbd_blkfront_get_info(x->f, &info);
		assert_int_equal(info.persistent, (bool)(mode & 1));
		assert_string_equal(x->be.fe_persistent, mode & 1 ? "1" : "0");
		assert_int_equal(info.indirect_segments, mode & 2 ? 64 : 0);
		assert_int_equal(info.max_request_bytes, (mode & 2 ? 64 : 11) * 4096u);
		/* 1 MiB + 3 sectors, at an odd sector: split into many requests */
		io_roundtrip(x, 512 * 7, 1024 * 1024 + 3 * 512);
		/* small ones, many times: persistent pages are reused */
		for (int i = 0; i < 40; i++)
			io_roundtrip(x, 4096u * (unsigned)i, 4096);
		if (mode & 2) {
			assert_true(x->be.indirect_requests > 0);
			assert_int_equal(x->be.max_segs_seen, 64);
		} else {
			assert_int_equal(x->be.indirect_requests, 0);
			assert_int_equal(x->be.max_segs_seen, 11);
		}
		vbd_blkfront_get_info(x->f, &info);
		if (mode & 1) {
			assert_true(x->be.grefs_first < 64);     /* a pool, reused */
			assert_true(info.grants > 0);
		} else {
			assert_int_equal(info.grants, 0);        /* ended on each response */
		}
		close_ok(x);
		vbd_blkfront_get_info(x->f, &info);
		assert_int_equal(info.grants_deferred, 0);
		x->f = vbd_blkfront_free(x->f);
	}
}

struct cnt {
	int done, ok, eio, other;
};

static void cnt_done(int result, void *ud)
{
	struct cnt *c = ud;

	c->done++;
	if (result == 0)
		c->ok++;
	else if (result == -EIO)
		c->eio++;
	else
		c->other++;
}

static void run_until_done(struct fx *x, struct cnt *c, int n)
{
	int i;

	for (i = 0; i < 2000 && c->done < n; i++) {
		struct pollfd p = { .fd = vbd_blkfront_get_fd(x->f), .events = POLLIN };

		poll(&p, 1, 5);
		vbd_blkfront_process(x->f);
	}
	assert_int_equal(c->done, n);
}

static void test_async_queue_full(void **state)
{
	struct fx *x = *state;
	struct cnt c = { 0 };
	static uint8_t bufs[200][4096];
	int n = 0, r;

	x->o.max_queues = 2;
	x->o.queue_depth = 4;
	connect_ok(x);
	x->be.bad = BAD_HOLD;
	while ((r = vbd_blkfront_submit(x->f, VBD_BLKFRONT_READ, (uint64_t)n * 4096, bufs[n],
	                                4096, cnt_done, &c)) == 0)
		n++;
	assert_int_equal(r, -EAGAIN);
	assert_int_equal(n, 8);
	x->be.bad = BAD_NONE;
	run_until_done(x, &c, n);
	assert_int_equal(c.ok, n);
	for (int i = 0; i < n; i++)
		assert_memory_equal(bufs[i], x->be.disk + i * 4096, 4096);
	/* bad arguments */
	assert_int_equal(vbd_blkfront_submit(x->f, VBD_BLKFRONT_READ, 100, bufs[0], 512, cnt_done,
	                                     &c), -EINVAL);
	assert_int_equal(vbd_blkfront_submit(x->f, VBD_BLKFRONT_READ, 0, bufs[0], 100, cnt_done,
	                                     &c), -EINVAL);
	assert_int_equal(vbd_blkfront_submit(x->f, VBD_BLKFRONT_READ, DISK_SECTORS * 512ull,
	                                     bufs[0], 512, cnt_done, &c), -EINVAL);
	assert_int_equal(vbd_blkfront_flush(x->f), 0);
	assert_int_equal(vbd_blkfront_discard(x->f, 0, 8192), 0);
	assert_true(x->be.disk[100] == 0 && x->be.disk[8191] == 0);
	close_ok(x);
	assert_int_equal(vbd_blkfront_submit(x->f, VBD_BLKFRONT_READ, 0, bufs[0], 512, cnt_done,
	                                     &c), -ENOTCONN);
}

/* A completion that submits its I/O once more, as a QD-N loop does. */
struct again {
	struct fx *x;
	struct cnt *c;
	uint8_t *buf;
	uint64_t off;
	bool resubmitted;
};

static void again_done(int result, void *ud)
{
	struct again *a = ud;

	cnt_done(result, a->c);
	if (a->resubmitted)
		return;
	a->resubmitted = true;
	assert_int_equal(vbd_blkfront_submit(a->x->f, VBD_BLKFRONT_READ, a->off, a->buf, 4096,
	                                     again_done, a), 0);
}

/* Eight responses published at once run eight callbacks in one process();
 * the eight I/Os they submit go onto the ring in one push, not one each. */
static void test_batched_resubmit(void **state)
{
	struct fx *x = *state;
	struct cnt c = { 0 };
	static uint8_t bufs[8][4096];
	struct again a[8];
	uint64_t pushes;
	int i;

	x->o.max_queues = 1;
	connect_ok(x);
	x->be.bad = BAD_HOLD;
	for (i = 0; i < 8; i++) {
		a[i] = (struct again){ x, &c, bufs[i], (uint64_t)i * 4096, false };
		assert_int_equal(vbd_blkfront_submit(x->f, VBD_BLKFRONT_READ, a[i].off, bufs[i],
		                                     4096, again_done, &a[i]), 0);
	}
	/* Outside process(), each submit goes out at once. */
	assert_int_equal(x->f->q[0].ring.pushes, 8);
	pushes = x->f->q[0].ring.pushes;
	/* The held backend answers all eight with one rsp_prod. */
	x->be.bad = BAD_NONE;
	run_until_done(x, &c, 16);
	assert_int_equal(c.ok, 16);
	assert_int_equal(x->f->q[0].ring.pushes - pushes, 1);
	for (i = 0; i < 8; i++)
		assert_memory_equal(bufs[i], x->be.disk + i * 4096, 4096);
	close_ok(x);
}

static void test_readonly(void **state)
{
	struct fx *x = *state;
	uint8_t buf[512] = { 0 };

	x->be.readonly = true;
	x->be.discard = false;
	x->be.flush = false;
	connect_ok(x);
	assert_int_equal(vbd_blkfront_write(x->f, 0, buf, sizeof(buf)), -EROFS);
	assert_int_equal(vbd_blkfront_flush(x->f), -EOPNOTSUPP);
	assert_int_equal(vbd_blkfront_read(x->f, 0, buf, sizeof(buf)), 0);
	close_ok(x);
}

static void test_resize(void **state)
{
	struct fx *x = *state;
	vbd_blkfront_info info = { .size = sizeof(info) };
	xs_transaction_t t;
	int i;

	connect_ok(x);
	do {
		t = xs_transaction_start(x->h);
		xw(x->h, t, BE, "sectors", "8192");
		xw(x->h, t, BE, "state", "4");
	} while (!xs_transaction_end(x->h, t, false) && errno == EAGAIN);
	for (i = 0; i < 500 && !x->resized; i++) {
		struct pollfd p = { .fd = vbd_blkfront_get_fd(x->f), .events = POLLIN };

		poll(&p, 1, 10);
		vbd_blkfront_process(x->f);
	}
	assert_int_equal(x->resized, 1);
	assert_int_equal(x->resized_to, 8192);
	vbd_blkfront_get_info(x->f, &info);
	assert_int_equal(info.sectors, 8192);
	assert_true(info.connected);
	close_ok(x);
}

/* The frontend's requests of one type so far ("read", "txn_start"): its
 * connections are domain 1's in the store's CONTROL conns. */
static long long frontend_count(struct fx *x, const char *type)
{
	char *out = xs_control_command(x->h, "conns", NULL, 0), *line, *save = NULL, *p;
	char key[32];
	long long n = 0;

	assert_non_null(out);
	snprintf(key, sizeof(key), " %s ", type);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strstr(line, " domid 1 ") && (p = strstr(line, key)))
			n += strtoll(p + strlen(key), NULL, 10);
	free(out);
	return n;
}

static long long frontend_reads(struct fx *x)
{
	return frontend_count(x, "read");
}

/* The backend's InitWait written before the frontend looked, its event
 * on a watch kept on a shared bus from an earlier frontend of the device:
 * the event comes before the replies to the start's reads, which saw that
 * InitWait, and the start read the offers with it.  So the frontend reads
 * nothing again: the device's keys and both states with the offers, then
 * the Initialised transaction.  Taking the event as news (before) read the
 * backend's state and offers once more, a round trip; and its Connected
 * later read the state alone first, another. */
static void test_stale_backend_event(void **state)
{
	struct fx *x = *state;
	vbd_bus_options bo = VBD_BUS_OPTIONS_INIT;
	vbd_errbuf err = { "" };
	vbd_bus *bus = NULL;
	long long reads;

	bo.xenstored_path = x->o.xenstored_path;
	assert_int_equal(vbd_bus_new(&bus, &bo, &err), 0);
	x->o.bus = bus;
	write_nodes(x);
	/* The earlier frontend: started, let go at once; its watches stay. */
	if (vbd_blkfront_new(&x->f, &x->o, &err) < 0)
		fail_msg("vbd_blkfront_new: %s", err.msg);
	x->f = vbd_blkfront_free(x->f);
	xw(x->h, XBT_NULL, BE, "state", "2");
	reads = frontend_reads(x);
	if (vbd_blkfront_new(&x->f, &x->o, &err) < 0)
		fail_msg("vbd_blkfront_new: %s", err.msg);
	run_until_state(x, 3);
	print_message("start to Initialised: %lld reads\n", frontend_reads(x) - reads);
	/* virtual-device, backend, backend-id; both states and 2 offers; our
	 * state in the transaction. */
	assert_int_equal(frontend_reads(x) - reads, 3 + 4 + 1);
	be_start(x);
	if (vbd_blkfront_wait_connected(x->f, 10000) != 0)
		fail_msg("not connected: %s", vbd_blkfront_last_error(x->f));
	close_ok(x);
	x->f = vbd_blkfront_free(x->f);
	vbd_bus_unref(bus);
}

/* An event of the backend's (its state written again, as a resize does)
 * makes the frontend read what the event named and what it acts on, the
 * backend's state and size, not its own state, which no event named. */
static void test_backend_event_reads(void **state)
{
	struct fx *x = *state;
	long long before;
	int i, k;

	connect_ok(x);
	before = 0;
	for (k = 0; k < 6; k++) {
		/* The first takes the events of the handshake's end along. */
		if (k == 1)
			before = frontend_reads(x);
		xw(x->h, XBT_NULL, BE, "state", "4");
		for (i = 0; i < 20; i++) {
			struct pollfd p = { .fd = vbd_blkfront_get_fd(x->f), .events = POLLIN };

			poll(&p, 1, 10);
			vbd_blkfront_process(x->f);
		}
	}
	print_message("5 backend events: %lld reads by the frontend\n", frontend_reads(x) - before);
	assert_true(frontend_reads(x) - before <= 5 * 2);
	close_ok(x);
}

/* The handshake's round trips, the frontend's every connection counted:
 * the start's one window (the device's keys, the watches on both states,
 * both states with the backend's offers), the Initialised transaction
 * (start, one window, commit), then at the backend's Connected the
 * Connected transaction, whose one window reads the backend's state, its
 * disk's keys and our state, and writes our Connected (three): 7; 8 when
 * the start found the backend before InitWait (its state and offers at
 * its event).  10 with the keys, each watch and the states a round trip
 * each; 12 with the offers read on their own and the backend's state read
 * alone at its Connected; a read or a transaction's request at a time, as
 * libxenstore makes them, 41. */
/* The nodes, the backend, then a frontend through a relay to Connected:
 * the round trips it made to the store. */
static unsigned connected_trips(struct fx *x)
{
	unsigned trips;

	x->relay = vbd_test_relay_start(x->t.dir, x->fe_xs);
	x->o.xenstored_path = vbd_test_relay_path(x->relay);
	connect_ok(x);
	trips = vbd_test_relay_trips(x->relay);
	print_message("attach to Connected: %u round trips to the store\n", trips);
	return trips;
}

static void test_handshake_round_trips(void **state)
{
	struct fx *x = *state;
	vbd_test_relay_trip log[64];
	unsigned trips, n, i, connect_window = 0, rings_window = 0;

	trips = connected_trips(x);
	assert_true(trips <= 7);
	/* The window of the Connected transaction: a read first (the
	 * backend's state), our state written last, the 12 keys between.
	 * The Initialised one's, the first such: our state read, then each
	 * key once (4 queues: the count, 8 ring keys, protocol,
	 * feature-persistent), and our state. */
	n = vbd_test_relay_log(x->relay, 0, log, 64);
	for (i = 0; i < n; i++) {
		if (log[i].type != XS_READ || log[i].last != XS_WRITE)
			continue;
		if (!rings_window)
			rings_window = log[i].requests;
		else if (log[i].requests >= 14)
			connect_window = log[i].requests;
	}
	print_message("the Initialised transaction's window: %u requests; the Connected one's: "
	              "%u\n", rings_window, connect_window);
	assert_int_equal(rings_window, 1 + 1 + 4 * 2 + 2 + 1);
	assert_int_equal(connect_window, 15);
	close_ok(x);
}

/* A frontend that started before the backend's InitWait: at its event,
 * the backend's state and offers are read with the Initialised
 * transaction's start, the rings granted before the start's reply is
 * read: 6 round trips from the InitWait to Connected, as from a start
 * that found it (7 when that event's read went first).  An event before
 * it that is not InitWait aborts the transaction started with the read:
 * nothing of ours written. */
static void test_initwait_after_start(void **state)
{
	struct fx *x = *state;
	vbd_store_stats st = { .size = sizeof(st) };
	unsigned trips, base;
	int i;

	x->be.late = true;
	x->relay = vbd_test_relay_start(x->t.dir, x->fe_xs);
	x->o.xenstored_path = vbd_test_relay_path(x->relay);
	start(x);
	for (i = 0; i < 20; i++) {
		struct pollfd p = { .fd = vbd_blkfront_get_fd(x->f), .events = POLLIN };

		poll(&p, 1, 5);
		vbd_blkfront_process(x->f);
	}
	assert_int_equal(vbd_blkfront_get_state(x->f), 1);
	/* An event that is not InitWait: not now, the transaction started
	 * with the read aborted, nothing of ours written. */
	xw(x->h, XBT_NULL, BE, "state", "1");
	for (i = 0; i < 20; i++) {
		struct pollfd p = { .fd = vbd_blkfront_get_fd(x->f), .events = POLLIN };

		poll(&p, 1, 5);
		vbd_blkfront_process(x->f);
	}
	assert_int_equal(vbd_blkfront_get_state(x->f), 1);
	assert_null(vbd_test_xs_readf(x->h, FE "/queue-0/ring-ref"));
	vbd_test_store_stats(&x->t, &st);
	assert_int_equal(st.transactions, 0);
	base = vbd_test_relay_trips(x->relay);
	be_initwait(x);
	if (vbd_blkfront_wait_connected(x->f, 10000) != 0)
		fail_msg("not connected: %s", vbd_blkfront_last_error(x->f));
	trips = vbd_test_relay_trips(x->relay);
	print_message("InitWait after the start, to Connected: %u round trips (%u before the "
	              "InitWait)\n", trips, base);
	/* The start's window, and the event's 2 (the read with the start,
	 * the abort). */
	assert_true(base <= 3);
	assert_true(trips - base <= 6);
	assert_int_equal(x->be.nq, 4);
	close_ok(x);
}

/* What domain 1 holds in the store: its watches (CONTROL quota). */
static unsigned domain_watches(struct fx *x)
{
	char *out = xs_control_command(x->h, "quota", "1", 2), *p;
	unsigned n;

	assert_non_null(out);
	p = strstr(out, "\nwatches ");
	assert_non_null(p);
	n = (unsigned)strtoul(p + 9, NULL, 10);
	free(out);
	return n;
}

/* A backend elsewhere than where libxl puts dom0's (a "vbd3" dir here; a
 * driver domain's alike): the start's window watched and read a guess
 * that the device's keys then contradict.  The watch on the guess is
 * taken out (one UNWATCH), the backend's own set and both states read
 * again: three round trips more than in dom0, as many as a start made
 * before it guessed (10), and the frontend holds its two watches and no
 * more. */
static void test_backend_elsewhere(void **state)
{
	struct fx *x = *state;
	unsigned trips;

	snprintf(be_path, sizeof(be_path), "/local/domain/0/backend/vbd3/%u/%u", DOM, DEVID);
	trips = connected_trips(x);
	assert_true(trips <= 10);
	assert_int_equal(frontend_count(x, "unwatch"), 1);
	assert_int_equal(domain_watches(x), 2);
	close_ok(x);
}

static void ignore_event(const char *path, void *ud)
{
	(void)path;
	(void)ud;
}

/* The start's WATCH of the backend's state refused: the domain's watch
 * quota is full with watches a shared bus keeps idle for devices gone.
 * The long way takes it again, the idle ones giving way, and the
 * frontend connects holding its two watches. */
static void test_start_watch_refused(void **state)
{
	char quota[] = "watches-per-domain\0" "3";
	struct fx *x = *state;
	vbd_bus_options bo = VBD_BUS_OPTIONS_INIT;
	vbd_errbuf err = { "" };
	vbd__xb_watch *w = NULL;
	vbd_bus *bus = NULL;
	bool fresh;
	char *ok;
	int i;

	bo.xenstored_path = x->o.xenstored_path;
	assert_int_equal(vbd_bus_new(&bus, &bo, &err), 0);
	x->o.bus = bus;
	for (i = 0; i < 2; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/local/domain/1/device/vbd/%d/state", 51728 + 16 * i);
		assert_int_equal(vbd__xb_watch_take(bus, path, ignore_event, NULL, &err, &w, &fresh), 0);
		vbd__xb_watch_release(bus, w);
	}
	assert_int_equal(domain_watches(x), 2);
	ok = xs_control_command(x->h, "quota", quota, sizeof(quota));
	assert_non_null(ok);
	free(ok);
	connect_ok(x);
	/* The 2 idle ones; the window's 2, the backend's refused; the long
	 * way's, refused, then set once the idle ones went (2 UNWATCHes). */
	assert_int_equal(frontend_count(x, "watch"), 2 + 2 + 2);
	assert_int_equal(frontend_count(x, "unwatch"), 2);
	assert_int_equal(domain_watches(x), 2);
	close_ok(x);
	x->f = vbd_blkfront_free(x->f);
	vbd_bus_unref(bus);
}

/* The device fails: pending I/O fails, an error node, Closing, then
 * Closed once the backend follows. */
static void expect_broken(struct fx *x, const char *why)
{
	char *v;

	run_until_state(x, 6);
	assert_non_null(strstr(vbd_blkfront_last_error(x->f), why));
	v = vbd_test_xs_readf(x->h, "/local/domain/1/error/device/vbd/51712/error");
	assert_non_null(v);
	assert_non_null(strstr(v, why));
	free(v);
	assert_int_equal(vbd_blkfront_read(x->f, 0, (uint8_t[512]){ 0 }, 512), -ENOTCONN);
}

static void hostile_rsp(struct fx *x, int bad, const char *why)
{
	static uint8_t buf[2][4096];
	struct cnt c = { 0 };

	x->o.max_queues = 1;
	connect_ok(x);
	x->be.bad = bad;
	assert_int_equal(vbd_blkfront_submit(x->f, VBD_BLKFRONT_READ, 0, buf[0], 4096, cnt_done,
	                                     &c), 0);
	assert_int_equal(vbd_blkfront_submit(x->f, VBD_BLKFRONT_READ, 4096, buf[1], 4096, cnt_done,
	                                     &c), 0);
	run_until_done(x, &c, 2);
	if (bad == BAD_DUP_ID) {
		assert_int_equal(c.ok, 1);     /* the first answer was good */
		assert_int_equal(c.eio, 1);
	} else {
		assert_int_equal(c.eio, 2);
	}
	expect_broken(x, why);
}

static void test_rsp_unknown_id(void **state)
{
	hostile_rsp(*state, BAD_UNKNOWN_ID, "is not a ring slot");
}

static void test_rsp_id_ring_size(void **state)
{
	hostile_rsp(*state, BAD_ID_RING_SIZE, "is not a ring slot");
}

/* The id check at its boundary, on the ring alone: ids 0..size-1 in flight
 * (or only some), one response with a chosen id.  id == size is one past
 * every per-id array: a check off by one reads busy[size] (ASan: heap
 * overflow; without it, most likely "no request in flight", not this
 * message).  An id above 2^32 must not be cut to an id in flight. */
static int ring_answer(unsigned order, unsigned pending, uint64_t id, unsigned *ret_id,
                       char *why, size_t whylen)
{
	size_t bytes = (size_t)VBD_PAGE_SIZE << order;
	void *sring = aligned_alloc(VBD_PAGE_SIZE, bytes);
	vbd__bf_ring r;
	vbd__bf_rsp out[1];
	blkif_response_t *rsp;
	unsigned i, got;
	int n;

	assert_non_null(sring);
	memset(sring, 0, bytes);
	assert_int_equal(vbd__bf_ring_init(&r, sring, order), 0);
	if (pending == UINT_MAX)
		pending = r.size;
	for (i = 0; i < pending; i++) {
		assert_non_null(vbd__bf_ring_next(&r, BLKIF_OP_READ, 0, &got));
		assert_int_equal(got, i);
	}
	vbd__bf_ring_push(&r);
	rsp = RING_GET_RESPONSE(&r.fr, 0);
	rsp->id = id == UINT64_MAX - 1 ? r.size : id == UINT64_MAX - 2 ? r.size - 1 : id;
	rsp->operation = BLKIF_OP_READ;
	rsp->status = BLKIF_RSP_OKAY;
	r.fr.sring->rsp_prod = 1;
	n = vbd__bf_ring_collect(&r, out, 1);
	if (n == 1) {
		*ret_id = out[0].id;
		assert_int_equal(vbd__bf_ring_inflight(&r), pending - 1);
	} else {
		assert_true(r.broken);
		assert_int_equal(vbd__bf_ring_inflight(&r), pending);   /* nothing freed */
	}
	snprintf(why, whylen, "%s", r.why);
	vbd__bf_ring_done(&r);
	free(sring);
	return n;
}

#define ID_SIZE (UINT64_MAX - 1)        /* ring_answer: the ring's size */
#define ID_LAST (UINT64_MAX - 2)        /* ring_answer: the ring's size - 1 */

static void test_rsp_id_boundary(void **state)
{
	char why[160];
	unsigned order, id = 0;

	(void)state;
	for (order = 0; order <= 1; order++) {
		/* Every id in flight: the last slot answers, one past it breaks. */
		assert_int_equal(ring_answer(order, UINT_MAX, ID_LAST, &id, why, sizeof(why)), 1);
		assert_int_equal(id, (32u << order) - 1);       /* blkif: 32 slots a page */
		assert_int_equal(ring_answer(order, UINT_MAX, ID_SIZE, &id, why, sizeof(why)), -EPROTO);
		assert_non_null(strstr(why, "is not a ring slot"));
		assert_int_equal(ring_answer(order, UINT_MAX, UINT64_MAX, &id, why, sizeof(why)),
		                 -EPROTO);
		assert_non_null(strstr(why, "is not a ring slot"));
		/* 2^32 + 0 is not id 0, though id 0 is in flight. */
		assert_int_equal(ring_answer(order, UINT_MAX, 1ull << 32, &id, why, sizeof(why)),
		                 -EPROTO);
		assert_non_null(strstr(why, "is not a ring slot"));
		/* A slot, but a free one: the last, and one past what is pending. */
		assert_int_equal(ring_answer(order, 1, ID_LAST, &id, why, sizeof(why)), -EPROTO);
		assert_non_null(strstr(why, "no request in flight"));
		assert_int_equal(ring_answer(order, 3, 3, &id, why, sizeof(why)), -EPROTO);
		assert_non_null(strstr(why, "no request in flight"));
		/* Nothing pending at all: rsp_prod itself is refused first. */
		assert_int_equal(ring_answer(order, 0, 0, &id, why, sizeof(why)), -EPROTO);
		assert_non_null(strstr(why, "responses for"));
	}
}

static void test_rsp_duplicate_id(void **state)
{
	hostile_rsp(*state, BAD_DUP_ID, "no request in flight");
}

static void test_rsp_wrong_op(void **state)
{
	hostile_rsp(*state, BAD_WRONG_OP, "answers operation");
}

static void test_rsp_bad_status(void **state)
{
	hostile_rsp(*state, BAD_STATUS, "status 7");
}

static void test_rsp_prod_overflow(void **state)
{
	hostile_rsp(*state, BAD_PROD_OVERFLOW, "responses for");
}

static void bad_connect(struct fx *x, const char *sectors, const char *ssize, const char *why)
{
	x->be.sectors = sectors;
	x->be.sector_size = ssize;
	start(x);
	assert_int_equal(vbd_blkfront_wait_connected(x->f, 10000), -ENOTCONN);
	expect_broken(x, why);
}

static void test_connect_no_sector_size(void **state)
{
	bad_connect(*state, "16384", NULL, "sector-size");
}

static void test_connect_garbage_sector_size(void **state)
{
	bad_connect(*state, "16384", "513", "sector-size");
}

static void test_connect_garbage_sectors(void **state)
{
	bad_connect(*state, "12x", "512", "sectors");
}

/* Past what a pipelined read keeps of a value (its first 159 bytes) and
 * past 20 digits: malformed, not the number its first digits make. */
static void test_connect_long_sectors(void **state)
{
	static char v[301];

	memset(v, '0', 300);
	memcpy(v + 295, "16384", 5);
	bad_connect(*state, v, "512", "sectors: malformed");
}

static void test_connect_no_sectors(void **state)
{
	bad_connect(*state, NULL, "512", "sectors");
}

static void test_backend_vanishes(void **state)
{
	struct fx *x = *state;
	static uint8_t buf[4096];
	struct cnt c = { 0 };

	connect_ok(x);
	x->be.bad = BAD_HOLD;
	assert_int_equal(vbd_blkfront_submit(x->f, VBD_BLKFRONT_READ, 0, buf, 4096, cnt_done, &c),
	                 0);
	be_stop(&x->be);
	assert_true(xs_rm(x->h, XBT_NULL, BE));
	run_until_done(x, &c, 1);
	assert_int_equal(c.eio, 1);
	run_until_state(x, 6);
	assert_non_null(strstr(vbd_blkfront_last_error(x->f), "went away"));
}

static void test_backend_closes(void **state)
{
	struct fx *x = *state;
	static uint8_t buf[4096];
	struct cnt c = { 0 };

	connect_ok(x);
	x->be.bad = BAD_HOLD;
	assert_int_equal(vbd_blkfront_submit(x->f, VBD_BLKFRONT_READ, 0, buf, 4096, cnt_done, &c),
	                 0);
	be_stop(&x->be);
	xw(x->h, XBT_NULL, BE, "state", "5");
	run_until_done(x, &c, 1);
	assert_int_equal(c.eio, 1);
	run_until_state(x, 6);
}

static void test_bad_backend_path(void **state)
{
	struct fx *x = *state;
	vbd_errbuf err = { "" };

	write_nodes(x);
	/* The guest owns its frontend dir and could write anything there. */
	xw(x->h, XBT_NULL, FE, "backend", "/local/domain/0/backend/vbd/2/51712");
	assert_int_equal(vbd_blkfront_new(&x->f, &x->o, &err), -EPROTO);
	xw(x->h, XBT_NULL, FE, "backend", "/local/domain/00/backend/vbd/1/51712");
	assert_int_equal(vbd_blkfront_new(&x->f, &x->o, &err), -EPROTO);
	/* Only the two kinds libxl writes for a disk: vbd and vbd3 (tap). */
	xw(x->h, XBT_NULL, FE, "backend", "/local/domain/0/backend/vbd4/1/51712");
	assert_int_equal(vbd_blkfront_new(&x->f, &x->o, &err), -EPROTO);
	xw(x->h, XBT_NULL, FE, "backend", "/local/domain/0/backend/qdisk/1/51712");
	assert_int_equal(vbd_blkfront_new(&x->f, &x->o, &err), -EPROTO);
	xw(x->h, XBT_NULL, FE, "backend", "/local/domain/0/backend/vbd3/1/51712");
	assert_int_equal(vbd_blkfront_new(&x->f, &x->o, &err), 0);
	x->f = vbd_blkfront_free(x->f);
	xw(x->h, XBT_NULL, FE, "backend", "%s", BE);
	xw(x->h, XBT_NULL, FE, "backend-id", "3");
	assert_int_equal(vbd_blkfront_new(&x->f, &x->o, &err), -EPROTO);
	assert_null(x->f);
}


/* The backend still maps a request's pages when the frontend ends access
 * (-EBUSY): they are kept, counted, retried, and ended later. */
static void test_unshare_busy(void **state)
{
	struct fx *x = *state;
	vbd_blkfront_info info = { .size = sizeof(info) };
	uint8_t buf[8192];
	int i;

	x->o.no_persistent = true;
	connect_ok(x);
	assert_int_equal(vbd__xport_fail(x->fx, "unshare", 1, -EBUSY, true), 0);
	assert_int_equal(vbd_blkfront_read(x->f, 0, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, x->be.disk, sizeof(buf));
	vbd_blkfront_get_info(x->f, &info);
	assert_int_equal(info.grants_deferred, 2);
	assert_int_equal(info.grants, 0);
	assert_int_equal(vbd_blkfront_get_timeout_ms(x->f), 100);
	vbd_blkfront_process(x->f);
	vbd_blkfront_get_info(x->f, &info);
	assert_int_equal(info.grants_deferred, 2);
	vbd__xport_fail(x->fx, NULL, 0, 0, false);
	for (i = 0; i < 10 && info.grants_deferred; i++) {
		vbd_blkfront_process(x->f);
		vbd_blkfront_get_info(x->f, &info);
	}
	assert_int_equal(info.grants_deferred, 0);
	assert_int_equal(vbd_blkfront_get_timeout_ms(x->f), -1);
	close_ok(x);
}

/* Each transport call of a whole session (handshake, I/O, close) fails in
 * turn: the frontend fails cleanly or carries on, never crashes or leaks. */
static void test_xport_faults(void **state)
{
	struct fx *x = *state;
	unsigned n, fired = 0;

	be_start(x);
	for (n = 1; n <= 80; n++) {
		vbd_errbuf err = { "" };
		uint8_t buf[65536];
		int r;

		be_stop(&x->be);
		xs_rm(x->h, XBT_NULL, BE);
		xs_rm(x->h, XBT_NULL, FE);
		x->o.no_persistent = !(n & 1);
		x->o.max_queues = 2;
		write_nodes(x);
		be_start(x);
		assert_int_equal(vbd_blkfront_new(&x->f, &x->o, &err), 0);
		assert_int_equal(vbd__xport_fail(x->fx, NULL, n, -EIO, false), 0);
		r = vbd_blkfront_wait_connected(x->f, 10000);
		if (r == 0) {
			r = vbd_blkfront_read(x->f, 4096, buf, sizeof(buf));
			assert_true(r == 0 || r == -EIO || r == -ENOTCONN);
			if (r == 0)
				assert_memory_equal(buf, x->be.disk + 4096, sizeof(buf));
		} else {
			assert_int_equal(r, -ENOTCONN);
			fired++;
		}
		r = vbd_blkfront_close(x->f, 3000);
		assert_true(r == 0 || r == -ETIMEDOUT);
		assert_int_equal(vbd_blkfront_get_state(x->f), 6);
		vbd__xport_fail(x->fx, NULL, 0, 0, false);
		x->f = vbd_blkfront_free(x->f);
	}
	assert_true(fired > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skip_initialised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rings_past_a_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_queue_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batched_resubmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_event_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initwait_after_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_elsewhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_watch_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_backend_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsp_unknown_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsp_id_ring_size, setup, teardown),
		cmocka_unit_test(test_rsp_id_boundary),
		cmocka_unit_test_setup_teardown(test_rsp_duplicate_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsp_wrong_op, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsp_bad_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsp_prod_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_no_sector_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_garbage_sector_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_garbage_sectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_no_sectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_long_sectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_vanishes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_backend_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unshare_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xport_faults, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
