/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The frontend's side of the xenbus handshake (blkfront.c's object), after Linux
 * xen-blkfront (blkback_changed, talk_to_blkback, blkfront_connect) and,
 * with skip_initialised, Mini-OS (init_blkfront).
 *
 *   us  backend   what happens
 *   1   1         wait (watches on our state and the backend's)
 *   1   2         grant rings, allocate ports; one transaction: ring keys,
 *                 event-channel(s), protocol, feature-persistent, state 3
 *   3   4         read sectors, info, sector-size (required), features; 4
 *   4   4 again   re-read sectors: a resize, told through resized()
 *   *   5/6/gone  fail pending I/O, unbind, end grants; 6
 *   close():      drain, 5; backend 5/6 -> teardown, 6; backend 6 -> done
 *
 * Mini-OS writes its ring keys and state 4 in one transaction as soon as it
 * starts, without waiting for InitWait or going through 3, then waits for
 * the backend's 4; skip_initialised does the same.
 *
 * Every value read from the backend's directory is parsed strictly; a
 * required one missing or malformed is fatal: error/device/vbd/<devid>/error
 * under our home gets "<errno> <message>" and we go to Closing, as
 * xenbus_dev_fatal() does.
 *
 * Round trips: each step's requests are pipelined on the bus's wire
 * client (xs_batch.c), so a step waits on the store once per batch, not
 * once per request (on a socket; through the xenbus device, as in a PV
 * guest, the client has one request in flight at a time, a limit of
 * Linux's device: there each request is a round trip, as libxenstore's):
 *
 *   start       device keys (3); 2 watches; both states (2)      4 round trips
 *   backend 2   its state with its 2 offers (the offers alone
 *               when start read it); a transaction of the ring
 *               keys and state 3 (start, one window, end)       1 + 3
 *   backend 4   one transaction: its state, its 12 disk keys, our
 *               state read and 4 written, in one window whose
 *               answers decide the commit (connect_txn)          3
 *   5/6         its state; state 6                               1 + 3
 *
 * An offer read with the state for a step the state does not start is read
 * for nothing (2 requests, not round trips): the state is read after an
 * event named the backend, whose next state is most often that one.  So is
 * the Connected transaction at a backend event that was not its Connected:
 * aborted, it costs 16 requests and 2 round trips more than the state's
 * read alone.  The one such event that comes often is the backend's
 * InitWait read at start, whose write fell between our watch and that
 * read: its event still comes (one attach in five in attach_bench).  So
 * after a start that read InitWait the next backend event reads the state
 * alone first, and runs the transaction only if it says Connected: 4
 * round trips then, not 3.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blkfront/blkfront.h"
#include "util/crashpoint.h"

void vbd__bf_why(vbd_blkfront *f, const char *fmt, ...)
{
	va_list ap;

	if (f->why[0])
		return;     /* the first cause is the one to report */
	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
}

/* ---- xenstore helpers ---- */

/* dir/key as a strict decimal: 0, -ENOENT, -EINVAL, -errno (*ret 0). */
int vbd__bf_read_num(vbd_blkfront *f, const char *dir, const char *key, long long *ret)
{
	unsigned long long v = 0;
	int r = vbd__xb_read_num(f->xs, XBT_NULL, dir, key, LLONG_MAX, &v);

	*ret = r == 0 ? (long long)v : 0;
	return r;
}

/* A state node: 0..8, or -ENOENT, or VBD_STATE_UNKNOWN for anything else
 * (as Linux's xenbus_read_driver_state).  EACCES counts as absent: to a
 * guest, xenstored answers it for a node that is gone from under a
 * directory the guest may not read (the backend's, once removed). */
static int read_state(vbd_blkfront *f, const char *dir)
{
	int r = vbd__xb_read_state(f->xs, XBT_NULL, dir);

	if (r == -ENOENT || r == -EACCES)
		return -ENOENT;
	return r < 0 ? VBD_STATE_UNKNOWN : r;
}

/* ---- pipelined reads ----
 *
 * A step's keys are read together (vbd__xb_batch_fetch): the requests go
 * out at once on the bus's wire client and their replies come back in
 * order, one round trip for all of them instead of one each.  Each read
 * is its own snapshot, as one-by-one reads are, taken in the order given:
 * the backend's state first, so that keys it wrote with that state in one
 * transaction are read at least as new as it.  Each key then goes through
 * the same strict parse as a read of its own (key_num, key_state): the
 * backend may be a driver domain's, and its values are not trusted. */


static void key_set(struct vbd__bf_key *k, const char *val, int err)
{
	k->err = err;
	k->len = val ? strlen(val) : 0;
	snprintf(k->val, sizeof(k->val), "%s", val ? val : "");
}

static int key_take(const char *val, int err, void *ud)
{
	key_set(ud, val, err);
	return 0;       /* every key is wanted, whatever another one says */
}

int vbd__bf_key_state(const struct vbd__bf_key *k);

/* The backend's state, the keys after it wanted only at Connected (1:
 * not read).  Read with its state at an event that was not Connected,
 * the disk's twelve keys were twelve requests for nothing. */
static int key_take_connected(const char *val, int err, void *ud)
{
	key_set(ud, val, err);
	return vbd__bf_key_state(ud) == VBD_STATE_CONNECTED ? 0 : 1;
}

/* Reads each of k[0..n) (dir/key): pipelined on the bus's wire client;
 * one by one through libxenstore when that cannot be (no wire client, or
 * it broke: nothing it read is taken then).  With connected_first, k[0]
 * is the backend's state, and the rest are read, a round trip later, only
 * when it is Connected (else they stay absent). */
static void keys_absent(struct vbd__bf_key *k, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		key_set(&k[i], NULL, -ENOENT);
}

/* Each of k[0..n) with a key added to b as a read that keeps its answer.
 * With connected_first k[0] is the backend's state, whose answer other
 * than Connected stops the batch; with wait too, the rest is sent only
 * after that answer. */
static int add_keys(vbd__xb_batch *b, struct vbd__bf_key *k, unsigned n, bool connected_first,
                    bool wait)
{
	char path[XENSTORE_ABS_PATH_MAX + 2];
	unsigned i;
	int r = 0;

	for (i = 0; r == 0 && i < n; i++) {
		if (!k[i].key)
			continue;
		snprintf(path, sizeof(path), "%s/%s", k[i].dir, k[i].key);
		r = vbd__xb_batch_check(b, path, i == 0 && connected_first ? key_take_connected : key_take,
		                         &k[i]);
		if (r == 0 && i == 0 && connected_first && wait)
			r = vbd__xb_batch_wait(b);
	}
	return r;
}

bool vbd__bf_fetch(vbd_blkfront *f, struct vbd__bf_key *k, unsigned n, bool connected_first)
{
	vbd__xb_batch *b = NULL;
	unsigned i;
	int r;

	keys_absent(k, n);
	r = vbd__xb_batch_new(&b);
	if (r == 0)
		r = add_keys(b, k, n, connected_first, connected_first);
	if (r == 0)
		r = vbd__xb_bus_fetch(f->bus, b, NULL);
	vbd__xb_batch_free(b);
	if (r >= 0)
		return true;     /* 1: not Connected, the rest not read */
	vbd__bf_log(f, VBD_LOG_INFO, "%s: pipelined reads: %s: one by one", f->fe, vbd_strerror(r));
	for (i = 0; i < n; i++) {
		char *v;

		if (!k[i].key)
			continue;
		v = vbd__xb_read(f->xs, XBT_NULL, "%s/%s", k[i].dir, k[i].key);
		key_set(&k[i], v, v ? 0 : errno == ENOENT ? -ENOENT : -(errno ? errno : EIO));
		free(v);
	}
	return false;
}

/* k as vbd__xb_read_num() parses a key (20 digits at most, 0..max): 0 and
 * *ret, -ENOENT, -EINVAL, -errno (*ret 0). */
int vbd__bf_key_num(const struct vbd__bf_key *k, unsigned long long max, long long *ret)
{
	unsigned long long v;

	*ret = 0;
	if (k->err < 0)
		return k->err;
	if (k->len > 20 || vbd__parse_num_max(k->val, max, &v) < 0)
		return -EINVAL;
	*ret = (long long)v;
	return 0;
}

/* k a state node, as read_state() takes it. */
int vbd__bf_key_state(const struct vbd__bf_key *k)
{
	long long v;
	int r = vbd__bf_key_num(k, VBD_STATE_RECONFIGURED, &v);

	if (r == -ENOENT || r == -EACCES)
		return -ENOENT;
	return r < 0 ? VBD_STATE_UNKNOWN : (int)v;
}

/* An optional unsigned key of the backend: def when absent; a malformed one
 * is logged and taken as absent (Linux's xenbus_read_unsigned). */
static unsigned long long key_opt(vbd_blkfront *f, const struct vbd__bf_key *k, unsigned long long def)
{
	long long v;
	int r = vbd__bf_key_num(k, LLONG_MAX, &v);

	if (r == -EINVAL)
		vbd__bf_log(f, VBD_LOG_WARNING, "%s/%s is malformed: ignored", f->be, k->key);
	return r < 0 ? def : (unsigned long long)v;
}

/* What the backend offers at InitWait, and what it says of the disk at
 * Connected: the keys of talk_to_backend() and connect(). */
enum { O_ORDER, O_QUEUES, NOFFER };
_Static_assert(NOFFER == VBD__BF_NOFFER, "the offers kept at start");
enum { C_SECTORS, C_INFO, C_SSIZE, C_PSS, C_FLUSH, C_BARRIER, C_DISCARD, C_DGRAN, C_DALIGN,
       C_DSECURE, C_PERSISTENT, C_INDIRECT, NCONNECT };

static void offer_keys(vbd_blkfront *f, struct vbd__bf_key *k)
{
	static const char *const names[NOFFER] = { "max-ring-page-order",
	                                           "multi-queue-max-queues" };
	unsigned i;

	for (i = 0; i < NOFFER; i++) {
		k[i].dir = f->be;
		k[i].key = names[i];
	}
}

/* Records both states and the backend's offers (k: 2 + NOFFER keys) in
 * b.  The offers with the backend's state: most often it is at InitWait
 * by now, and the first step shares the rings without reading them
 * again. */
static int start_rec(vbd_blkfront *f, vbd__xb_batch *b, struct vbd__bf_key *k)
{
	k[0] = (struct vbd__bf_key){ .dir = f->fe, .key = "state" };
	k[1] = (struct vbd__bf_key){ .dir = f->be, .key = "state" };
	offer_keys(f, k + 2);
	keys_absent(k, 2 + NOFFER);
	return b ? add_keys(b, k, 2 + NOFFER, false, false) : 0;
}

/* What they said: ours returned, the backend's in *be, the offers kept.
 * seen: the bus's replies before their window (VBD__XB_NO_EVENT: they
 * were read one by one). */
static int start_take(vbd_blkfront *f, const struct vbd__bf_key *k, uint64_t seen, int *be)
{
	f->start_seen = seen;
	memcpy(f->start_offers, k + 2, sizeof(f->start_offers));
	f->offers_kept = true;
	*be = vbd__bf_key_state(&k[1]);
	return vbd__bf_key_state(&k[0]);
}

int vbd__bf_start_states(vbd_blkfront *f, int *be)
{
	struct vbd__bf_key k[2 + NOFFER];
	uint64_t seen = vbd__xb_bus_replies(f->bus);

	start_rec(f, NULL, k);
	return start_take(f, k, vbd__bf_fetch(f, k, 2 + NOFFER, false) ? seen : VBD__XB_NO_EVENT,
	                  be);
}

bool vbd__bf_start_window(vbd_blkfront *f, struct vbd__bf_key *dev, vbd__xb_watch_fn fn,
                          int *fs, int *bs)
{
	struct vbd__bf_key k[2 + NOFFER];
	uint64_t seen = vbd__xb_bus_replies(f->bus);
	char path[XENSTORE_ABS_PATH_MAX + 2];
	vbd__xb_batch *b = NULL;
	int r;

	keys_absent(dev, 3);
	r = vbd__xb_batch_new(&b);
	if (r == 0)
		r = add_keys(b, dev, 3, false, false);
	/* The watches before the states: a change after the reads is an
	 * event of its own (blkfront.c). */
	if (r == 0) {
		snprintf(path, sizeof(path), "%s/state", f->fe);
		r = vbd__xb_watch_take_rec(f->bus, b, path, fn, f, &f->w_fe, &f->fe_first);
	}
	if (r == 0) {
		snprintf(path, sizeof(path), "%s/state", f->be);
		r = vbd__xb_watch_take_rec(f->bus, b, path, fn, f, &f->w_be, &f->be_first);
	}
	if (r == 0)
		r = start_rec(f, b, k);
	if (r == 0)
		r = vbd__xb_bus_fetch(f->bus, b, NULL);
	vbd__xb_batch_free(b);
	/* A watch is held once taken: NULL before (a new frontend's). */
	if (f->w_fe && !vbd__xb_watch_sent(f->bus, f->w_fe))
		f->w_fe = NULL;
	if (f->w_be && !vbd__xb_watch_sent(f->bus, f->w_be))
		f->w_be = NULL;
	if (r < 0 || !f->w_fe || !f->w_be)
		return false;
	*fs = start_take(f, k, seen, bs);
	return true;
}

/* discard-* are read whether or not feature-discard is 1: one round trip
 * for all, three reads more only for a backend without discard. */
static void connect_keys(vbd_blkfront *f, struct vbd__bf_key *k)
{
	static const char *const names[NCONNECT] = {
		"sectors", "info", "sector-size", "physical-sector-size", "feature-flush-cache",
		"feature-barrier", "feature-discard", "discard-granularity", "discard-alignment",
		"discard-secure", "feature-persistent", "feature-max-indirect-segments",
	};
	unsigned i;

	for (i = 0; i < NCONNECT; i++) {
		k[i].dir = f->be;
		k[i].key = names[i];
	}
	if (f->o.no_persistent)
		k[C_PERSISTENT].key = NULL;
	if (!f->o.max_indirect_segments)
		k[C_INDIRECT].key = NULL;
}

/* The backend's state a step reads, with the keys of the step that state
 * may start (what: its offers, its disk, or nothing), in one round trip. */
enum { BE_STATE_ONLY, BE_OFFERS, BE_CONNECT };

struct be_read {
	unsigned what;
	struct vbd__bf_key k[1 + NCONNECT];      /* the state, then the step's keys */
};

/* rd's keys for what: the state, then the step's; how many. */
static unsigned be_keys(vbd_blkfront *f, struct be_read *rd, unsigned what)
{
	unsigned n = what == BE_OFFERS ? NOFFER : what == BE_CONNECT ? NCONNECT : 0;

	rd->what = what;
	rd->k[0].dir = f->be;
	rd->k[0].key = "state";
	if (what == BE_OFFERS)
		offer_keys(f, rd->k + 1);
	else if (what == BE_CONNECT)
		connect_keys(f, rd->k + 1);
	return 1 + n;
}

static int read_be(vbd_blkfront *f, struct be_read *rd, unsigned what)
{
	vbd__bf_fetch(f, rd->k, be_keys(f, rd, what), what == BE_CONNECT);
	return vbd__bf_key_state(&rd->k[0]);
}

static bool pow2(unsigned long long v)
{
	return v && !(v & (v - 1));
}

/* ---- our state, in a transaction ----
 *
 * vbd__bf_switch_state()'s transaction reads our state node first (never recreate
 * one the toolstack removed), then writes the ring keys (Initialised) and
 * the state.  Its requests are pipelined (vbd__xb_batch_run): start, one
 * window, commit; the state read's check aborts it when the node is gone.
 * Rings past a batch (16 queues of 16 pages) go through libxenstore's
 * transaction, a request at a time, as does everything when the wire
 * client cannot be opened. */

/* Where the ring keys go: a batch, or a libxenstore transaction. */
struct sink {
	vbd__xb_batch *b;
	struct xs_handle *xs;
	xs_transaction_t t;
};

static int put(struct sink *s, const char *dir, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int put(struct sink *s, const char *dir, const char *key, const char *fmt, ...)
{
	char val[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (s->b)
		return vbd__xb_batch_printf(s->b, dir, key, "%s", val);
	return vbd__xb_printf(s->xs, s->t, dir, key, "%s", val);
}

static int write_rings(vbd_blkfront *f, struct sink *s)
{
	unsigned order = f->info.ring_page_order, i, j;
	char dir[160], key[32];
	int r;

	if (order) {
		r = put(s, f->fe, "ring-page-order", "%u", order);
		if (r < 0)
			return r;
	}
	if (f->nq > 1) {
		r = put(s, f->fe, "multi-queue-num-queues", "%u", f->nq);
		if (r < 0)
			return r;
	}
	for (i = 0; i < f->nq; i++) {
		vbd__bf_queue *q = &f->q[i];

		if (f->nq > 1)
			snprintf(dir, sizeof(dir), "%s/queue-%u", f->fe, i);
		else
			snprintf(dir, sizeof(dir), "%s", f->fe);
		for (j = 0; j < 1u << order; j++) {
			if (order)
				snprintf(key, sizeof(key), "ring-ref%u", j);
			else
				snprintf(key, sizeof(key), "ring-ref");
			r = put(s, dir, key, "%u", q->ring_refs[j]);
			if (r < 0)
				return r;
		}
		r = put(s, dir, "event-channel", "%u", q->port);
		if (r < 0)
			return r;
	}
	r = put(s, f->fe, "protocol", "%s", XEN_IO_PROTO_ABI_NATIVE);
	if (r < 0)
		return r;
	return put(s, f->fe, "feature-persistent", "%u", f->o.no_persistent ? 0 : 1);
}

struct state_txn {
	vbd_blkfront *f;
	int state;
	bool rings;                 /* also the ring keys */
};

/* The libxenstore transaction's body. */
static int state_txn_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct state_txn *st = ud;
	struct sink s = { NULL, xs, t };
	char path[160], *v;
	unsigned len;
	int r;

	/* Never recreate a state node the toolstack removed. */
	snprintf(path, sizeof(path), "%s/state", st->f->fe);
	v = xs_read(xs, t, path, &len);
	if (!v)
		return -(errno ? errno : EIO);
	free(v);
	if (st->rings) {
		r = write_rings(st->f, &s);
		if (r < 0)
			return r;
	}
	return vbd__xb_printf(xs, t, st->f->fe, "state", "%d", st->state);
}

/* The batch's state read: gone (or unreadable) aborts, with that error. */
static int state_present(const char *val, int err, void *ud)
{
	(void)val;
	(void)ud;
	return err < 0 ? err : 0;
}

/* The rings to set up with the state's transaction: nq queues of order,
 * err saying why they could not be; done 1 until tried, then 0 or the
 * setup's -errno; unrecorded, their keys did not fit in the batch (more
 * than VBD__XB_BATCH_MAX: a libxenstore transaction writes them). */
struct rings_plan {
	unsigned nq, order;
	vbd_errbuf *err;
	int done;
	bool unrecorded;
	/* The backend's state and offers fetched with the transaction's
	 * start (vbd__xb_batch_before_start): pre, read into rd, nq and order
	 * from them once judged; not_now, its state was not InitWait. */
	vbd__xb_batch *pre;
	struct be_read *rd;
	bool judged, not_now;
};

/* What a start's work returns when the backend's state read with the
 * start says not now (xs_batch.c aborts the transaction). */
#define NOT_NOW 3

static void rings_shape(vbd_blkfront *f, const struct vbd__bf_key *k, unsigned *nq,
                        unsigned *order);

static int rings_setup(vbd_blkfront *f, struct rings_plan *p)
{
	p->done = vbd__bf_queues_setup(f, p->nq, p->order, p->err);
	if (p->done == 0) {
		f->rings_up = true;
		vbd__crashpoint("blkfront.ring-granted");
	}
	return p->done;
}

struct at_start {
	vbd_blkfront *f;
	struct rings_plan *p;
	int state;
};

/* While the store starts the transaction: the rings granted, then their
 * keys and the state recorded after the state's check. */
static int setup_at_start(vbd__xb_batch *b, void *ud)
{
	struct at_start *a = ud;
	struct sink s = { b, NULL, XBT_NULL };
	int r;

	if (a->p->rd) {
		a->p->judged = true;
		if (vbd__xb_batch_pre_result(b) < 0 ||
		    vbd__bf_key_state(&a->p->rd->k[0]) != VBD_STATE_INITWAIT) {
			a->p->not_now = true;
			return NOT_NOW;
		}
		rings_shape(a->f, a->p->rd->k + 1, &a->p->nq, &a->p->order);
	}
	r = rings_setup(a->f, a->p);
	if (r < 0)
		return r;
	r = write_rings(a->f, &s);
	if (r == 0)
		r = vbd__xb_batch_printf(b, a->f->fe, "state", "%d", a->state);
	a->p->unrecorded = r < 0;
	return r;
}

/* The transaction pipelined: 0, -errno; -ENOSPC or the wire client's
 * -errno, before anything was sent, for the libxenstore one.  With p, the
 * rings are set up while the store starts it (vbd__xb_batch_at_start),
 * one round trip of the hypervisor's beside the store's. */
static int state_batch(vbd_blkfront *f, int state, bool rings, struct rings_plan *p,
                       bool *sent)
{
	struct sink s = { NULL, NULL, XBT_NULL };
	struct at_start a = { f, p, state };
	char path[sizeof(f->fe) + 8];
	vbd__xb_wire *w;
	int r = vbd__xb_batch_new(&s.b);

	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/state", f->fe);
	r = vbd__xb_batch_check(s.b, path, state_present, NULL);
	if (r == 0 && p) {
		vbd__xb_batch_at_start(s.b, setup_at_start, &a);
		if (p->pre)
			vbd__xb_batch_before_start(s.b, p->pre);
	} else if (r == 0 && rings) {
		r = write_rings(f, &s);
	}
	if (r == 0 && !p)
		r = vbd__xb_batch_printf(s.b, f->fe, "state", "%d", state);
	if (r == 0)
		r = vbd__xb_bus_wire(f->bus, &w);
	if (r == 0) {
		*sent = true;
		r = vbd__xb_batch_run(w, s.b, NULL);
	}
	vbd__xb_batch_free(s.b);
	return r;
}

static void state_switched(vbd_blkfront *f, int state)
{
	vbd__bf_log(f, VBD_LOG_DEBUG, "%s: state %d -> %d", f->fe, f->state, state);
	f->state = state;
	f->own_events++;    /* its event tells us nothing (on_watch) */
}

/* Our state, with the rings' keys when rings (set up first by p when
 * given: then p->done < 0 says the setup failed, and why in p->err). */
static int switch_state(vbd_blkfront *f, int state, bool rings, struct rings_plan *p)
{
	struct state_txn st = { f, state, rings };
	bool sent = false;
	int r = state_batch(f, state, rings, p, &sent), rs;

	/* The backend's offers were to come with the start: without them
	 * (not now, or not fetched) nothing of ours was set up or written. */
	if (p && p->rd && (p->not_now || !p->judged))
		return r;
	if (r < 0 && p && p->done < 0)
		return r;
	/* Nothing sent, so the rings not set up either: now, then the
	 * libxenstore transaction below writes their keys. */
	if (r < 0 && !sent && p && p->done > 0 && (rs = rings_setup(f, p)) < 0)
		return rs;
	if (r < 0 && p && p->unrecorded)
		sent = false;     /* the rings are up; the keys go the other way */
	if (r < 0 && !sent) {
		if (r != -ENOSPC)
			vbd__bf_log(f, VBD_LOG_INFO, "%s: pipelined transaction: %s: one by one",
			            f->fe, vbd_strerror(r));
		r = vbd__xb_txn(f->xs, state_txn_body, &st);
	}
	if (r == 0)
		state_switched(f, state);
	return r;
}

int vbd__bf_switch_state(vbd_blkfront *f, int state, bool rings)
{
	return switch_state(f, state, rings, NULL);
}

/* ---- failures and teardown ---- */

/* Fails and forgets everything the rings held. */
void vbd__bf_disconnect(vbd_blkfront *f, int result)
{
	f->connected = false;
	f->info.connected = false;
	vbd__bf_fail_all(f, result);
	vbd__bf_queues_teardown(f);
	f->rings_up = false;
}

void vbd__bf_fatal(vbd_blkfront *f, int err, const char *fmt, ...)
{
	char msg[400], node[48];
	va_list ap;
	int r, sw = 0;

	if (f->broken)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f->broken = true;
	f->connected = false;
	f->info.connected = false;
	vbd__bf_why(f, "%s", msg);
	vbd__bf_log(f, VBD_LOG_ERR, "%s: %s", f->fe, msg);
	/* Pending I/O fails now; no response of this ring is read again. */
	vbd__bf_fail_all(f, -EIO);
	snprintf(node, sizeof(node), "device/vbd/%u", f->o.devid);
	r = vbd__xb_dev_fatal(f->xs, f->o.domid, node, err, msg,
	                      f->state < VBD_STATE_CLOSING ? f->fe : NULL, &sw);
	if (r < 0)
		vbd__bf_log(f, VBD_LOG_WARNING, "writing /local/domain/%u/error/%s/error: %s",
		            f->o.domid, node, strerror(-r));
	if (f->state >= VBD_STATE_CLOSING)
		return;
	if (sw == 0) {
		vbd__bf_log(f, VBD_LOG_DEBUG, "%s: state %d -> %d", f->fe, f->state, VBD_STATE_CLOSING);
		f->state = VBD_STATE_CLOSING;
	} else {
		vbd__bf_log(f, VBD_LOG_WARNING, "%s: could not switch to Closing", f->fe);
	}
}

/* ---- the handshake ---- */

/* The rings the backend's offers k allow us: nq queues of order. */
static void rings_shape(vbd_blkfront *f, const struct vbd__bf_key *k, unsigned *nq,
                        unsigned *order)
{
	*order = (unsigned)key_opt(f, &k[O_ORDER], 0);
	if (*order > f->o.max_ring_page_order)
		*order = f->o.max_ring_page_order;
	*nq = (unsigned)key_opt(f, &k[O_QUEUES], 1);
	if (*nq == 0)
		*nq = 1;
	if (*nq > f->o.max_queues)
		*nq = f->o.max_queues;
}

/* After the transaction that wrote the rings' keys (switch_state()'s r). */
static void rings_written(vbd_blkfront *f, const struct rings_plan *p, int r)
{
	if (r < 0 && p->done < 0) {
		vbd__bf_fatal(f, -r, "setting up %u rings of %u pages: %s", p->nq, 1u << p->order,
		              p->err->msg[0] ? p->err->msg : vbd_strerror(r));
		return;
	}
	if (r < 0) {
		vbd__bf_fatal(f, -r, "writing ring details: %s", vbd_strerror(r));
		return;
	}
	vbd__bf_log(f, VBD_LOG_INFO, "%s: %u queue(s), ring order %u, %u requests each", f->fe,
	            p->nq, p->order, f->info.ring_size);
	vbd__crashpoint("blkfront.initialised");
}

static int rings_state(const vbd_blkfront *f)
{
	return f->o.skip_initialised ? VBD_STATE_CONNECTED : VBD_STATE_INITIALISED;
}

/* Grants the rings and writes their keys with our next state.  k: the
 * backend's offers, read with its state (read_be), or NULL: read here. */
static void talk_to_backend(vbd_blkfront *f, const struct vbd__bf_key *k)
{
	struct vbd__bf_key own[NOFFER];
	struct rings_plan plan;
	vbd_errbuf err = { "" };

	if (!k) {
		offer_keys(f, own);
		vbd__bf_fetch(f, own, NOFFER, false);
		k = own;
	}
	/* The rings set up while the store starts the transaction that
	 * writes their keys. */
	plan = (struct rings_plan){ 1, 0, &err, 1, false, NULL, NULL, false, false };
	rings_shape(f, k, &plan.nq, &plan.order);
	rings_written(f, &plan, switch_state(f, rings_state(f), true, &plan));
}

/* The backend's first event with our rings not up (we started before its
 * InitWait): its state and offers read with our transaction's start, and
 * at InitWait the rings set up before the start's reply is read, their
 * keys and our state written: 1.  0: not now (its state, read into rd,
 * was another: nothing of ours written); -1: nothing read (rd holds
 * nothing). */
static int talk_fetched(vbd_blkfront *f, struct be_read *rd)
{
	vbd_errbuf err = { "" };
	struct rings_plan plan = { 1, 0, &err, 1, false, NULL, rd, false, false };
	unsigned n = be_keys(f, rd, BE_OFFERS);
	int r;

	keys_absent(rd->k, n);
	if (vbd__xb_batch_new(&plan.pre) < 0)
		return -1;
	r = add_keys(plan.pre, rd->k, n, false, false);
	if (r == 0)
		r = switch_state(f, rings_state(f), true, &plan);
	vbd__xb_batch_free(plan.pre);
	if (!plan.judged)
		return -1;
	if (plan.not_now)
		return 0;
	rings_written(f, &plan, r);
	return 1;
}

/* What the backend says about the disk (k: its keys), into f->info, and
 * the request slots sized for it: 0, or -1 with why it cannot connect
 * (an errno for vbd__bf_fatal and the message) in code and msg. */
static int disk_prepare(vbd_blkfront *f, const struct vbd__bf_key *k, int *code, char *msg,
                        size_t size)
{
	long long v[3];
	unsigned long long pss, segs;
	unsigned i;
	int r;

	for (i = 0; i < 3; i++) {       /* sectors, info, sector-size: required */
		r = vbd__bf_key_num(&k[C_SECTORS + i], LLONG_MAX, &v[i]);
		if (r < 0) {
			*code = r == -ENOENT ? ENOENT : EPROTO;
			snprintf(msg, size, "reading %s/%s: %s", f->be, k[C_SECTORS + i].key,
			         r == -EINVAL ? "malformed" : vbd_strerror(r));
			return -1;
		}
	}
	*code = EPROTO;
	if ((unsigned long long)v[0] > UINT64_MAX >> 9) {
		snprintf(msg, size, "%s/sectors %lld is too large", f->be, v[0]);
		return -1;
	}
	if (!pow2((unsigned long long)v[2]) || v[2] < 512 || v[2] > VBD_PAGE_SIZE) {
		snprintf(msg, size, "%s/sector-size %lld is not 512..4096, a power of 2", f->be, v[2]);
		return -1;
	}
	if (v[1] > UINT32_MAX) {
		snprintf(msg, size, "%s/info %lld is out of range", f->be, v[1]);
		return -1;
	}
	f->info.sectors = (uint64_t)v[0];
	f->info.info = (unsigned)v[1];
	f->info.sector_size = (unsigned)v[2];
	pss = key_opt(f, &k[C_PSS], (unsigned long long)v[2]);
	if (!pow2(pss) || pss < (unsigned long long)v[2] || pss > (1u << 20)) {
		vbd__bf_log(f, VBD_LOG_WARNING, "%s/physical-sector-size %llu ignored", f->be, pss);
		pss = (unsigned long long)v[2];
	}
	f->info.physical_sector_size = (unsigned)pss;
	f->info.flush = key_opt(f, &k[C_FLUSH], 0) != 0;
	f->info.barrier = key_opt(f, &k[C_BARRIER], 0) != 0;
	f->info.discard = key_opt(f, &k[C_DISCARD], 0) != 0;
	if (f->info.discard) {
		unsigned long long g = key_opt(f, &k[C_DGRAN], f->info.sector_size);
		unsigned long long a = key_opt(f, &k[C_DALIGN], 0);

		f->info.discard_granularity = g <= UINT32_MAX ? (unsigned)g : 0;
		f->info.discard_alignment = a <= UINT32_MAX ? (unsigned)a : 0;
		f->info.discard_secure = key_opt(f, &k[C_DSECURE], 0) != 0;
	}
	f->info.persistent = !f->o.no_persistent && key_opt(f, &k[C_PERSISTENT], 0) != 0;
	segs = f->o.max_indirect_segments ? key_opt(f, &k[C_INDIRECT], 0) : 0;
	if (segs > f->o.max_indirect_segments)
		segs = f->o.max_indirect_segments;
	f->info.indirect_segments = (unsigned)segs;
	r = vbd__bf_io_prepare(f);
	if (r < 0) {
		*code = -r;
		snprintf(msg, size, "allocating request slots: %s", vbd_strerror(r));
		return -1;
	}
	return 0;
}

static void connected(vbd_blkfront *f)
{
	f->connected = true;
	f->info.connected = true;
	vbd__bf_log(f, VBD_LOG_INFO, "%s: connected, %llu sectors of %u bytes%s%s%s, %s grants, "
	            "%u segments per request", f->fe, (unsigned long long)f->info.sectors,
	            f->info.sector_size, f->info.flush ? ", flush" : "",
	            f->info.barrier ? ", barrier" : "", f->info.discard ? ", discard" : "",
	            f->info.persistent ? "persistent" : "per-request", f->max_segs);
}

/* The backend is Connected: what it says about the disk.  k: its keys,
 * read with its state (read_be), or NULL: read here. */
static void connect(vbd_blkfront *f, const struct vbd__bf_key *k)
{
	struct vbd__bf_key own[NCONNECT];
	char msg[sizeof(((vbd_errbuf *)0)->msg)];
	int code, r;

	if (!k) {
		connect_keys(f, own);
		vbd__bf_fetch(f, own, NCONNECT, false);
		k = own;
	}
	if (disk_prepare(f, k, &code, msg, sizeof(msg)) < 0) {
		vbd__bf_fatal(f, code, "%s", msg);
		return;
	}
	if (f->state != VBD_STATE_CONNECTED) {
		r = vbd__bf_switch_state(f, VBD_STATE_CONNECTED, false);
		if (r < 0) {
			vbd__bf_fatal(f, -r, "switching to Connected: %s", vbd_strerror(r));
			return;
		}
	}
	connected(f);
}

/* ---- Connected in one transaction ----
 *
 * At the backend's first event after our rings went out, its state is
 * most often Connected.  Then the state, its disk's keys, our own state
 * and our Connected go in one transaction of one window: start, window,
 * commit, 3 round trips where the state's read, the keys' (a round trip
 * later) and our transaction took 5; the same 17 requests.  The window's
 * answers decide the commit before it is sent: a backend that is not
 * Connected, keys that connect() would refuse, or our state gone, abort
 * it and nothing is written.  vbd__bf_step() then goes on with what the window
 * read (a backend not yet Connected cost 16 requests for nothing and 2
 * round trips more), or, the transaction failed, reads as read_be()
 * does; either way connect() says why it cannot connect. */
struct connect_job {
	vbd_blkfront *f;
	struct be_read *rd;
};

/* Our state's read, the last of the window's reads: the disk's keys are
 * in, so this is where they are judged. */
static int cj_own(const char *val, int err, void *ud)
{
	struct connect_job *j = ud;
	char msg[sizeof(((vbd_errbuf *)0)->msg)];
	int code;

	(void)val;
	if (err < 0)
		return err;     /* removed (never recreate it), or unreadable */
	return disk_prepare(j->f, j->rd->k + 1, &code, msg, sizeof(msg)) < 0 ? 1 : 0;
}

/* 1: Connected, written; 0: not (rd holds what the window read); -errno:
 * the transaction did not run or failed (rd holds nothing). */
static int connect_txn(vbd_blkfront *f, struct be_read *rd)
{
	struct connect_job j = { f, rd };
	char path[sizeof(f->fe) + 8];
	vbd__xb_batch *b = NULL;
	unsigned n = be_keys(f, rd, BE_CONNECT);
	int r;

	keys_absent(rd->k, n);
	r = vbd__xb_batch_new(&b);
	if (r == 0)
		r = add_keys(b, rd->k, n, true, false);
	snprintf(path, sizeof(path), "%s/state", f->fe);
	if (r == 0)
		r = vbd__xb_batch_check(b, path, cj_own, &j);
	if (r == 0)
		r = vbd__xb_batch_printf(b, f->fe, "state", "%d", VBD_STATE_CONNECTED);
	if (r == 0)
		r = vbd__xb_bus_run(f->bus, b, NULL);
	vbd__xb_batch_free(b);
	if (r == 0) {
		state_switched(f, VBD_STATE_CONNECTED);
		connected(f);
		return 1;
	}
	return r > 0 ? 0 : r;
}

static void check_resize(vbd_blkfront *f)
{
	long long v;
	int r = vbd__bf_read_num(f, f->be, "sectors", &v);

	if (r < 0 || (unsigned long long)v > UINT64_MAX >> 9) {
		vbd__bf_log(f, VBD_LOG_WARNING, "%s/sectors unreadable on a resize: ignored", f->be);
		return;
	}
	if ((uint64_t)v == f->info.sectors)
		return;
	vbd__bf_log(f, VBD_LOG_INFO, "%s: resized from %llu to %lld sectors", f->fe,
	            (unsigned long long)f->info.sectors, v);
	if (!f->resize_due)
		f->resize_old = f->info.sectors;
	f->resize_due = true;
	f->resize_new = (uint64_t)v;
	f->info.sectors = (uint64_t)v;
}

/* The backend closed, went away, or we are closing and it followed. */
static void backend_closed(vbd_blkfront *f, int bstate)
{
	if (f->state == VBD_STATE_CLOSED)
		return;
	if (!f->closing)
		vbd__bf_why(f, "the backend %s", bstate < 0 ? "went away" :
		        bstate == VBD_STATE_CLOSING ? "is closing" : "closed");
	vbd__bf_disconnect(f, f->closing ? -ECANCELED : -EIO);
	vbd__crashpoint("blkfront.closing");
	if (vbd__bf_switch_state(f, VBD_STATE_CLOSED, false) < 0)
		f->state = VBD_STATE_CLOSED;      /* our node is gone: nothing to tell */
}

static const struct {
	int want;          /* the backend's state that ends this wait */
	int next;          /* what we write then */
} reset_steps[] = {
	[VBD__BF_RESET_CLOSING] = { VBD_STATE_CLOSING, VBD_STATE_CLOSED },
	[VBD__BF_RESET_CLOSED] = { VBD_STATE_CLOSED, VBD_STATE_INITIALISING },
	[VBD__BF_RESET_INIT] = { VBD_STATE_INITWAIT, -1 },
};

/* The reset of a taken-over device (see blkfront.h): true once it is done
 * and the handshake goes on with the backend's state bs. */
static bool reset_step(vbd_blkfront *f, int bs)
{
	int want = reset_steps[f->reset].want, next = reset_steps[f->reset].next;

	if (f->broken || f->closing) {
		/* Closing from wherever the reset is: the normal path. */
		f->reset = VBD__BF_RESET_NONE;
		return true;
	}
	/* The backend may have gone from Closing to Closed between looks. */
	if (bs == want || (want == VBD_STATE_CLOSING && bs == VBD_STATE_CLOSED)) {
		if (next < 0) {
			vbd__bf_log(f, VBD_LOG_INFO, "%s: taken over: reset done", f->fe);
			f->reset = VBD__BF_RESET_NONE;
			return true;
		}
		if (vbd__bf_switch_state(f, next, false) < 0) {
			vbd__bf_fatal(f, -EIO, "taking over: writing state %s failed",
			              vbd_state_name(next));
			f->reset = VBD__BF_RESET_NONE;
			return false;
		}
		f->reset++;
		f->reset_deadline = vbd__now_ms() + VBD__BF_RESET_WAIT_MS;
		f->xs_dirty = true;     /* the backend may be there already */
		return false;
	}
	if (bs == -ENOENT) {
		f->reset = VBD__BF_RESET_NONE;
		vbd__bf_fatal(f, -ENODEV, "taking over: the backend went away waiting for its %s",
		              vbd_state_name(want));
		return false;
	}
	if (vbd__now_ms() >= f->reset_deadline) {
		char have[24];

		if (bs >= 0)
			snprintf(have, sizeof(have), "%s", vbd_state_name(bs));
		else
			snprintf(have, sizeof(have), "an unreadable state");
		f->reset = VBD__BF_RESET_NONE;
		vbd__bf_fatal(f, -ETIMEDOUT, "taking over: the backend stayed %s for %d s, "
		              "not %s", have, VBD__BF_RESET_WAIT_MS / 1000, vbd_state_name(want));
	}
	return false;
}

/* The device was removed under us: failed and forgotten, nothing written
 * (its nodes are gone, or another frontend's now). */
static void device_gone(vbd_blkfront *f)
{
	vbd__bf_disconnect(f, -EIO);
	f->state = VBD_STATE_CLOSED;
	f->closed_done = true;
	f->reset = VBD__BF_RESET_NONE;
}

void vbd__bf_step(vbd_blkfront *f)
{
	struct be_read rd = { .what = BE_STATE_ONLY };
	const struct vbd__bf_key *offers, *disk;
	bool be_fresh, kept = f->offers_kept;
	int own, bs, done = 0, fetched = -1;

	/* What the start read serves this step only. */
	f->offers_kept = false;
	f->start_seen = VBD__XB_NO_EVENT;
	if (f->closed_done)
		return;
	/* Our own state is read again only after an event named it, not
	 * one of our own writes' (on_watch): the backend's events, most of
	 * a handshake's, cannot have changed it. */
	own = f->own_read ? f->state : read_state(f, f->fe);
	f->own_read = own >= 0;
	if (own == -ENOENT) {
		/* The toolstack removed the device under us. */
		vbd__bf_why(f, "%s/state was removed", f->fe);
		device_gone(f);
		return;
	}
	if (own == VBD_STATE_INITIALISING && f->state != VBD_STATE_INITIALISING) {
		/* Only the toolstack writes Initialising, when it makes the
		 * device: ours was removed and a new one made at its path
		 * before we looked (a forced detach and an attach of the same
		 * vdev).  Ours is gone as if we had seen the removal; the new
		 * one is another frontend's to serve. */
		vbd__bf_why(f, "%s was removed and made again", f->fe);
		device_gone(f);
		return;
	}
	/* The backend's likewise, after an event that named it: our own
	 * writes' events (Initialised, Connected, Closed) cannot have changed
	 * it.  A reset's waits look each time, as their deadlines come. */
	be_fresh = !f->be_read || f->reset != VBD__BF_RESET_NONE;
	if (be_fresh) {
		/* With the keys of the step its next state most likely starts:
		 * its offers before our rings, its disk after them. */
		unsigned what = BE_STATE_ONLY;

		if (f->reset == VBD__BF_RESET_NONE && !f->broken && !f->closing) {
			if (f->state == VBD_STATE_INITIALISING && !f->rings_up)
				what = BE_OFFERS;
			else if (f->rings_up && !f->connected)
				what = BE_CONNECT;
		}
		if (what == BE_CONNECT && f->state == VBD_STATE_INITIALISED) {
			/* After a start that read InitWait this event may be
			 * that write's: its state alone first, then the
			 * transaction only if it says Connected. */
			bs = f->be_stale ? read_be(f, &rd, BE_STATE_ONLY) : VBD_STATE_CONNECTED;
			if (bs == VBD_STATE_CONNECTED && (done = connect_txn(f, &rd)) >= 0)
				bs = vbd__bf_key_state(&rd.k[0]);
			else if (bs == VBD_STATE_CONNECTED)
				bs = read_be(f, &rd, what);
		} else if (what == BE_OFFERS && (fetched = talk_fetched(f, &rd)) >= 0) {
			bs = vbd__bf_key_state(&rd.k[0]);
		} else {
			bs = read_be(f, &rd, what);
		}
		f->be_stale = false;
	} else {
		bs = f->be_state;
	}
	/* The offers read with the state this step acts on: now, or at
	 * start if nothing of the backend's changed since. */
	offers = rd.what == BE_OFFERS ? rd.k + 1 : !be_fresh && kept ? f->start_offers : NULL;
	disk = rd.what == BE_CONNECT ? rd.k + 1 : NULL;
	f->be_state = bs;
	f->be_read = bs != VBD_STATE_UNKNOWN;    /* unreadable: ask again */
	if (done > 0 || fetched > 0) {
		f->be_seen = true;
		return;
	}
	if (f->reset != VBD__BF_RESET_NONE && !reset_step(f, bs))
		return;
	if (bs == -ENOENT && !f->be_seen && f->state != VBD_STATE_CLOSED) {
		/* Not there yet.  Mini-OS does not wait for it. */
		if (f->o.skip_initialised && f->state == VBD_STATE_INITIALISING && !f->rings_up &&
		    !f->broken && !f->closing)
			talk_to_backend(f, offers);
		return;
	}
	if (bs != -ENOENT)
		f->be_seen = true;

	if (f->state == VBD_STATE_CLOSED) {
		if (bs == -ENOENT || bs == VBD_STATE_CLOSED || bs == VBD_STATE_UNKNOWN)
			f->closed_done = true;
		return;
	}
	switch (bs) {
	case VBD_STATE_INITWAIT:
		if (f->state == VBD_STATE_INITIALISING && !f->rings_up && !f->broken && !f->closing)
			talk_to_backend(f, offers);
		break;
	case VBD_STATE_CONNECTED:
		if (f->broken || f->closing)
			break;
		/* A backend that skipped InitWait: rings first (Linux does). */
		if (f->state == VBD_STATE_INITIALISING && !f->rings_up)
			talk_to_backend(f, offers);
		if (f->broken)
			break;
		if (!f->connected && f->rings_up)
			connect(f, disk);
		else if (f->connected && be_fresh)
			check_resize(f);     /* the backend wrote its state again */
		break;
	case VBD_STATE_CLOSED:
		/* Closed from an earlier connection: a backend that reconnects
		 * goes back to InitWait when it sees our Initialising. */
		if (f->state == VBD_STATE_INITIALISING && !f->rings_up && !f->closing &&
		    !f->broken)
			break;
		/* fall through */
	case VBD_STATE_CLOSING:
	case -ENOENT:
		backend_closed(f, bs);
		break;
	default:
		if (f->o.skip_initialised && f->state == VBD_STATE_INITIALISING && !f->rings_up &&
		    !f->broken && !f->closing)
			talk_to_backend(f, offers);
		break;
	}
}

/* close(): once nothing is in flight, Closing. */
void vbd__bf_close_step(vbd_blkfront *f)
{
	unsigned i, inflight = 0;

	if (!f->closing || f->state >= VBD_STATE_CLOSING)
		return;
	for (i = 0; i < f->nq; i++)
		inflight += vbd__bf_ring_inflight(&f->q[i].ring);
	if (inflight && f->connected)
		return;
	if (vbd__bf_switch_state(f, VBD_STATE_CLOSING, false) < 0) {
		vbd__bf_why(f, "%s/state could not be written", f->fe);
		vbd__bf_disconnect(f, -ECANCELED);
		f->state = VBD_STATE_CLOSED;
		f->closed_done = true;
		return;
	}
	f->xs_dirty = true;     /* the backend may be Closed already */
}
