/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the others wrote that a device's handshake reads (xenbus.c): the
 * frontend's state, its top keys and every queue's ring keys, and the
 * hotplug step's keys of the target.  They go pipelined on the bus's wire
 * client (xs_batch.c, vbd__xb_batch_fetch), a window a step where one
 * read's answer decides what the next reads are:
 *
 *     state                                     1 round trip
 *     protocol, feature-persistent,
 *       multi-queue-num-queues, ring-page-order 1
 *     queue-N/ring-ref<k>, queue-N/event-channel  1 (per 128 keys)
 *
 * which in InitWait, where the next event is most likely the frontend's
 * Initialised, go as one window with the ring keys of the likely layout
 * guessed (below, "the frontend, guessed"): 1 round trip, 2 when the
 * guess was wrong, 2 for the watch's first event, the state alone first.
 *
 *     physical-device, physical-device-path     1, then only with a target:
 *     (params), mode, device-type,
 *       discard-enable, direct-io-safe          1
 *
 * Each read is a check that keeps its answer (a number as
 * vbd__xb_read_num() takes it, a string as a read gives it); xenbus.c
 * judges them afterwards in the order, and with the limits and messages,
 * of one-by-one reads.  A read that failed, or that a broken fetch did not
 * answer, holds its error, as a failed one-by-one read did.  Each read is
 * its own snapshot, as libxenstore's are.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blkback/blkback.h"

/* ---------------------------------------------------------- the frontend */

int vbd__bb_num_check(const char *val, int err, void *ud)
{
	struct vbd__bb_num *n = ud;

	n->done = true;
	n->r = !val ? (err < 0 ? err : -EIO) : vbd__parse_num_max(val, n->max, &n->v);
	return 0;
}

static int fe_str_check(const char *val, int err, void *ud)
{
	struct vbd__bb_str *s = ud;
	size_t n;

	s->done = true;
	if (!val) {
		s->r = err < 0 ? err : -EIO;
		return 0;
	}
	n = strnlen(val, sizeof(s->val) - 1);
	memcpy(s->val, val, n);
	s->val[n] = 0;
	s->r = 0;
	return 0;
}

/* A number's read into n; fn (ud) judges it when given, else it goes on. */
static int add_num_fn(vbd__xb_batch *b, const char *dir, const char *key, struct vbd__bb_num *n,
                      unsigned long long max, vbd__xb_check_fn fn, void *ud)
{
	char path[XENSTORE_ABS_PATH_MAX + 2];

	n->max = max;
	n->r = -EIO;
	n->done = false;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, key) > XENSTORE_ABS_PATH_MAX)
		return -ENAMETOOLONG;
	return fn ? vbd__xb_batch_check(b, path, fn, ud)
	          : vbd__xb_batch_check(b, path, vbd__bb_num_check, n);
}

static int add_num(vbd__xb_batch *b, const char *dir, const char *key, struct vbd__bb_num *n,
                   unsigned long long max)
{
	return add_num_fn(b, dir, key, n, max, NULL, NULL);
}

/* The batch's reads, pipelined on the bus's wire client: 0 or -errno of
 * the fetch (a read it did not answer is not done: the caller says it
 * failed with that). */
static int fetch(vbd__bb_dev *d, vbd__xb_batch *b)
{
	return vbd__xb_bus_fetch(d->b->bus, b, NULL);
}

static void num_failed(struct vbd__bb_num *n, int r)
{
	if (!n->done)
		n->r = r < 0 ? r : -EIO;
}

/* Reads into k, in one window, the frontend's state (with state) and its
 * top keys (with top).  A read that fails, or that the fetch did not
 * answer, holds its error: the caller judges each key as if it had been
 * read alone.  (The top keys are not read with the state: on a state
 * event that is not Initialised they would be requests for nothing.) */
void vbd__bb_read_fe(vbd__bb_dev *d, struct vbd__bb_fe_keys *k, bool state, bool top)
{
	vbd_blkback *b = d->b;
	char path[XENSTORE_ABS_PATH_MAX + 2];
	vbd__xb_batch *bt;
	int r;

	memset(k, 0, sizeof(*k));
	if ((r = vbd__xb_batch_new(&bt)) == 0) {
		if (state)
			r = add_num(bt, d->fe, "state", &k->state, VBD_STATE_RECONFIGURED);
		if (r == 0 && top) {
			snprintf(path, sizeof(path), "%s/protocol", d->fe);
			r = vbd__xb_batch_check(bt, path, fe_str_check, &k->proto);
		}
		if (r == 0 && top)
			r = add_num(bt, d->fe, "feature-persistent", &k->persistent, UINT32_MAX);
		if (r == 0 && top)
			r = add_num(bt, d->fe, "multi-queue-num-queues", &k->nq, b->max_queues);
		if (r == 0 && top)
			r = add_num(bt, d->fe, "ring-page-order", &k->order, b->max_order);
		if (r == 0)
			r = fetch(d, bt);
		vbd__xb_batch_free(bt);
	}
	num_failed(&k->state, r);
	num_failed(&k->persistent, r);
	num_failed(&k->nq, r);
	num_failed(&k->order, r);
	if (!k->proto.done)
		k->proto.r = r < 0 ? r : -EIO;
	k->have = top;
}

void vbd__bb_ring_key(const vbd__bb_dev *d, unsigned nq, unsigned q, unsigned j, unsigned pages,
                      bool has_order, char *dir, char *key)
{
	if (nq == 1)
		snprintf(dir, VBD__BB_RING_DIR_MAX, "%s", d->fe);
	else
		snprintf(dir, VBD__BB_RING_DIR_MAX, "%s/queue-%u", d->fe, q);
	if (j == pages)
		snprintf(key, VBD__BB_RING_KEY_MAX, "event-channel");
	else if (has_order)
		snprintf(key, VBD__BB_RING_KEY_MAX, "ring-ref%u", j);
	else
		snprintf(key, VBD__BB_RING_KEY_MAX, "ring-ref");
}

/* ---------------------------------------------- the frontend, guessed
 *
 * A state event in InitWait is most likely the frontend's Initialised,
 * with its ring keys written in the transaction that wrote the state.
 * Read in turn that is three round trips (the state, then the top keys,
 * then the ring keys whose names the top keys give); with the ring keys
 * of the likely shapes sent after the top keys, one.  Linux's blkfront
 * and ours write no ring-page-order unless told to, and as many queues as
 * offered up to 4 (Linux's no more than the guest's vCPUs: one vCPU, one
 * queue, its keys at the top of the dir).  So, of a frontend of a domain
 * that never connected here, with 4 queues offered:
 *
 *     state                                  3 or 4: go on; else stop
 *     protocol, feature-persistent,
 *       multi-queue-num-queues, ring-page-order  a shape below: go on
 *     ring-ref, event-channel                1 queue: stop, that shape
 *     queue-0/ring-ref, queue-0/event-channel,
 *       ..., queue-3/event-channel           4 queues
 *
 * and of one that did (this device's last connect, else its domain's
 * last, remembered past a detach), that shape alone.  The ring keys read
 * are used only when the top keys of the same window say their shape;
 * another shape's are read after, as without a guess.  The stops save
 * what is not yet sent: nothing on a socket, whose one window holds it
 * all, but on the xenbus device, a request a round trip, the reads of
 * the shapes not written.  An early event (the watch's first, at once)
 * most likely finds the frontend Initialising: its state goes alone, the
 * rest after it only if it said 3 or 4, so that nothing is read for
 * nothing and Initialised costs 2 round trips. */

int vbd__bb_fe_shape(const struct vbd__bb_fe_keys *k, struct vbd__bb_shape *s)
{
	s->nq = 1;
	s->order = 0;
	if (k->nq.r == 0)
		s->nq = (unsigned)k->nq.v;
	else if (k->nq.r != -ENOENT)
		return -ENOSYS;
	if (s->nq == 0)
		return -ENOSYS;
	s->has_order = k->order.r != -ENOENT;
	if (k->order.r == 0)
		s->order = (unsigned)k->order.v;
	else if (s->has_order)
		return -EINVAL;
	return 0;
}

static bool same_shape(const struct vbd__bb_shape *a, const struct vbd__bb_shape *b)
{
	return a->nq == b->nq && a->order == b->order && a->has_order == b->has_order;
}

static unsigned shape_keys(const struct vbd__bb_shape *s)
{
	return s->nq * ((1u << s->order) + 1);
}

/* Which of k's guesses the top keys in it say, with where its keys start
 * in gring: -1 if none. */
static int guess_of(const struct vbd__bb_fe_keys *k, const struct vbd__bb_shape *s,
                    unsigned *off)
{
	unsigned g;

	*off = 0;
	for (g = 0; g < k->nguess; g++) {
		if (same_shape(&k->guess[g], s))
			return (int)g;
		*off += shape_keys(&k->guess[g]);
	}
	return -1;
}

void vbd__bb_shape_seen(vbd__bb_dev *d, const struct vbd__bb_shape *s)
{
	vbd_blkback *b = d->b;
	unsigned i;

	d->shape = *s;
	for (i = 0; i < VBD__BB_SHAPES; i++) {
		if (b->shapes[i].s.nq && b->shapes[i].fe_domid == d->fe_domid) {
			b->shapes[i].s = *s;
			return;
		}
	}
	b->shapes[b->shapes_next].fe_domid = d->fe_domid;
	b->shapes[b->shapes_next].s = *s;
	b->shapes_next = (b->shapes_next + 1) % VBD__BB_SHAPES;
}

/* The shapes d's frontend most likely wrote, into s: how many. */
static unsigned likely_shapes(const vbd__bb_dev *d, struct vbd__bb_shape *s)
{
	const vbd_blkback *b = d->b;
	unsigned n = 0, i;

	if (d->shape.nq)
		s[n++] = d->shape;
	for (i = 0; i < VBD__BB_SHAPES && n == 0; i++)
		if (b->shapes[i].s.nq && b->shapes[i].fe_domid == d->fe_domid)
			s[n++] = b->shapes[i].s;
	if (n == 0) {
		s[n++] = (struct vbd__bb_shape){ 1, 0, false };
		if (b->max_queues > 1)
			s[n++] = (struct vbd__bb_shape){ b->max_queues < 4 ? b->max_queues : 4, 0,
			                                 false };
	}
	/* Only what fits the window: more would cost a round trip of its
	 * own, as the read without a guess does. */
	for (i = 0; i < n && shape_keys(&s[i]) <= VBD__BB_GUESS_KEYS; i++)
		;
	if (i == 2 && shape_keys(&s[0]) + shape_keys(&s[1]) > VBD__BB_GUESS_KEYS)
		i = 1;
	return i;
}

/* The state: on at Initialised or Connected, the states that connect. */
static int guess_state_check(const char *val, int err, void *ud)
{
	struct vbd__bb_fe_keys *k = ud;

	vbd__bb_num_check(val, err, &k->state);
	return k->state.r == 0 &&
	       (k->state.v == VBD_STATE_INITIALISED || k->state.v == VBD_STATE_CONNECTED) ? 0 : 1;
}

/* The last top key: on if the top keys say a shape guessed. */
static int guess_order_check(const char *val, int err, void *ud)
{
	struct vbd__bb_fe_keys *k = ud;
	struct vbd__bb_shape s;
	unsigned off;

	vbd__bb_num_check(val, err, &k->order);
	return vbd__bb_fe_shape(k, &s) == 0 && guess_of(k, &s, &off) >= 0 ? 0 : 1;
}

/* The first shape's last key: the second's are for nothing when the top
 * keys said the first. */
static int guess_first_check(const char *val, int err, void *ud)
{
	struct vbd__bb_fe_keys *k = ud;
	struct vbd__bb_shape s;

	vbd__bb_num_check(val, err, &k->gring[shape_keys(&k->guess[0]) - 1]);
	return vbd__bb_fe_shape(k, &s) == 0 && same_shape(&s, &k->guess[0]) ? 1 : 0;
}

int vbd__bb_fe_guess_rec(vbd__bb_dev *d, struct vbd__bb_fe_keys *k, bool wait,
                         vbd__xb_batch **ret)
{
	vbd_blkback *b = d->b;
	char path[XENSTORE_ABS_PATH_MAX + 2], dir[VBD__BB_RING_DIR_MAX], key[VBD__BB_RING_KEY_MAX];
	struct vbd__bb_shape s[2];
	vbd__xb_batch *bt;
	unsigned g, q, j, off = 0, n = likely_shapes(d, s);
	int r;

	memset(k, 0, sizeof(*k));
	*ret = NULL;
	if (n == 0)
		return -ENOENT;
	if ((r = vbd__xb_batch_new(&bt)) < 0)
		return r;
	memcpy(k->guess, s, n * sizeof(*s));
	k->nguess = n;
	r = add_num_fn(bt, d->fe, "state", &k->state, VBD_STATE_RECONFIGURED, guess_state_check, k);
	if (r == 0 && wait)
		r = vbd__xb_batch_wait(bt);
	if (r == 0) {
		snprintf(path, sizeof(path), "%s/protocol", d->fe);
		r = vbd__xb_batch_check(bt, path, fe_str_check, &k->proto);
	}
	if (r == 0)
		r = add_num(bt, d->fe, "feature-persistent", &k->persistent, UINT32_MAX);
	if (r == 0)
		r = add_num(bt, d->fe, "multi-queue-num-queues", &k->nq, b->max_queues);
	if (r == 0)
		r = add_num_fn(bt, d->fe, "ring-page-order", &k->order, b->max_order,
		               guess_order_check, k);
	for (g = 0; g < n && r == 0; g++) {
		unsigned pages = 1u << s[g].order, last = off + shape_keys(&s[g]) - 1;

		for (q = 0; q < s[g].nq && r == 0; q++) {
			for (j = 0; j <= pages && r == 0; j++, off++) {
				vbd__bb_ring_key(d, s[g].nq, q, j, pages, s[g].has_order, dir, key);
				r = add_num_fn(bt, dir, key, &k->gring[off], UINT32_MAX,
				               g == 0 && n > 1 && off == last ? guess_first_check : NULL,
				               k);
			}
		}
	}
	if (r < 0) {
		vbd__xb_batch_free(bt);
		memset(k, 0, sizeof(*k));
		return r;
	}
	*ret = bt;
	return 0;
}

void vbd__bb_fe_guess_done(struct vbd__bb_fe_keys *k, int r)
{
	num_failed(&k->state, r);
	/* A read not answered (the batch stopped before it, the connection
	 * broke) is read again as without a guess: the top keys by
	 * connect_rings(), a shape's keys by vbd__bb_read_rings(). */
	k->have = k->proto.done && k->persistent.done && k->nq.done && k->order.done;
}

void vbd__bb_read_fe_guess(vbd__bb_dev *d, struct vbd__bb_fe_keys *k, bool wait)
{
	vbd__xb_batch *bt;

	if (vbd__bb_fe_guess_rec(d, k, wait, &bt) < 0) {
		/* Not sent: as without a guess. */
		vbd__bb_read_fe(d, k, true, false);
		return;
	}
	vbd__bb_fe_guess_done(k, fetch(d, bt));
	vbd__xb_batch_free(bt);
}

bool vbd__bb_guessed_rings(const struct vbd__bb_fe_keys *k, const struct vbd__bb_shape *s,
                           struct vbd__bb_num *ring)
{
	unsigned off, i, n = shape_keys(s);

	if (!k->have || guess_of(k, s, &off) < 0)
		return false;
	for (i = 0; i < n; i++)
		if (!k->gring[off + i].done)
			return false;
	memcpy(ring, &k->gring[off], n * sizeof(*ring));
	return true;
}

int vbd__bb_ring_keys_rec(vbd__bb_dev *d, vbd__xb_batch *b, unsigned nq, unsigned pages,
                          bool has_order, struct vbd__bb_num *ring, vbd__xb_check_fn last,
                          void *ud)
{
	unsigned i, j, per = pages + 1;
	int r = 0;

	for (i = 0; i < nq && r == 0; i++) {
		char dir[VBD__BB_RING_DIR_MAX], key[VBD__BB_RING_KEY_MAX];

		for (j = 0; j <= pages && r == 0; j++) {
			vbd__bb_ring_key(d, nq, i, j, pages, has_order, dir, key);
			r = add_num_fn(b, dir, key, &ring[i * per + j], UINT32_MAX,
			               i + 1 == nq && j == pages ? last : NULL, ud);
		}
	}
	return r;
}

/* Every queue's ring refs and event channel (ring: pages refs, then the
 * port, per queue), pipelined, as many queues a batch as fit; what was not
 * read failed with the fetch's error. */
void vbd__bb_read_rings(vbd__bb_dev *d, unsigned nq, unsigned pages, bool has_order,
                        struct vbd__bb_num *ring)
{
	unsigned i, j, per = pages + 1;
	vbd__xb_batch *bt = NULL;
	int r;

	for (i = 0, r = 0; i < nq && r >= 0; i++) {
		char dir[VBD__BB_RING_DIR_MAX], key[VBD__BB_RING_KEY_MAX];

		if (!bt && (r = vbd__xb_batch_new(&bt)) < 0)
			break;
		for (j = 0; j <= pages && r == 0; j++) {
			vbd__bb_ring_key(d, nq, i, j, pages, has_order, dir, key);
			r = add_num(bt, dir, key, &ring[i * per + j], UINT32_MAX);
		}
		if (r == 0 && (i + 1 == nq || vbd__xb_batch_count(bt) + per > VBD__XB_BATCH_MAX)) {
			r = fetch(d, bt);
			bt = vbd__xb_batch_free(bt);
		}
	}
	vbd__xb_batch_free(bt);
	for (j = 0; j < nq * per; j++)
		num_failed(&ring[j], r);
}

/* ------------------------------------------------------------ the target */

/* "fd:4" -> 253, 4.  Hex without 0x, as the hotplug scripts write it. */
int vbd__bb_parse_pdev(const char *s, unsigned *maj, unsigned *min)
{
	unsigned long long a = 0, b = 0;
	const char *p = s;
	int n;

	for (n = 0; *p && *p != ':'; p++, n++) {
		if (n >= 8 || !strchr("0123456789abcdefABCDEF", *p))
			return -EINVAL;
		a = a * 16 + (unsigned)(*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
	}
	if (n == 0 || *p != ':')
		return -EINVAL;
	for (p++, n = 0; *p; p++, n++) {
		if (n >= 8 || !strchr("0123456789abcdefABCDEF", *p))
			return -EINVAL;
		b = b * 16 + (unsigned)(*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
	}
	if (n == 0 || a > 0xfff || b > 0xfffff)
		return -EINVAL;
	*maj = (unsigned)a;
	*min = (unsigned)b;
	return 0;
}

bool vbd__bb_pdp_ok(const char *pdp)
{
	return pdp[0] == '/' && strlen(pdp) < sizeof(((struct vbd__bb_disk *)0)->path);
}

/* A string a fetch read: NULL as a failed or absent read (RD's NULL).
 * The last value is kept when a transaction's window makes the read again
 * (a retry after a conflict): the string starts NULL. */
static int dup_check(const char *val, int err, void *ud)
{
	char **s = ud;

	(void)err;
	free(*s);
	*s = val ? strdup(val) : NULL;
	return 0;
}

/* After physical-device-path: whether the rest is worth reading. */
static int tk_check(const char *val, int err, void *ud)
{
	struct vbd__bb_target_keys *t = ud;
	unsigned maj, min;

	dup_check(val, err, &t->pdp);
	if (!t->pd && !t->pdp)
		return 1;       /* not yet */
	if (t->pd && vbd__bb_parse_pdev(t->pd, &maj, &min) < 0)
		return 1;
	if (t->pdp && !vbd__bb_pdp_ok(t->pdp))
		return 1;
	return 0;
}

/* The backend dir's key, read into fn(ud). */
static int add_key(vbd__xb_batch *bt, const vbd__bb_dev *d, const char *key, vbd__xb_check_fn fn,
                   void *ud)
{
	char path[XENSTORE_ABS_PATH_MAX + 2];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", d->be, key) > XENSTORE_ABS_PATH_MAX)
		return -ENAMETOOLONG;
	return vbd__xb_batch_check(bt, path, fn, ud);
}

/* The target's keys after physical-device(-path): params (vbd3), mode,
 * device-type, discard-enable and direct-io-safe. */
static int add_target_rest(vbd__bb_dev *d, vbd__xb_batch *bt, struct vbd__bb_target_keys *t)
{
	int r = 0;

	if (!strcmp(d->b->kind, "vbd3"))
		r = add_key(bt, d, "params", dup_check, &t->params);
	if (r == 0)
		r = add_key(bt, d, "mode", dup_check, &t->mode);
	if (r == 0)
		r = add_key(bt, d, "device-type", dup_check, &t->type);
	if (r == 0)
		r = add_num(bt, d->be, "discard-enable", &t->de, 1);
	if (r == 0)
		r = add_num(bt, d->be, "direct-io-safe", &t->dio, 1);
	return r;
}

int vbd__bb_target_batch(vbd__bb_dev *d, vbd__xb_batch *bt, struct vbd__bb_target_keys *t)
{
	int r = add_key(bt, d, "physical-device", dup_check, &t->pd);

	if (r == 0)
		r = add_key(bt, d, "physical-device-path", dup_check, &t->pdp);
	return r ? r : add_target_rest(d, bt, t);
}

void vbd__bb_target_keys_free(struct vbd__bb_target_keys *t)
{
	free(t->pd);
	free(t->pdp);
	free(t->params);
	free(t->mode);
	free(t->type);
	memset(t, 0, sizeof(*t));
}

int vbd__bb_read_target(vbd__bb_dev *d, struct vbd__bb_target_keys *t)
{
	vbd__xb_batch *bt;
	int r;

	if ((r = vbd__xb_batch_new(&bt)) < 0)
		return r;
	r = add_key(bt, d, "physical-device", dup_check, &t->pd);
	if (r == 0)
		r = add_key(bt, d, "physical-device-path", tk_check, t);
	if (r == 0)
		r = vbd__xb_batch_wait(bt);
	if (r == 0)
		r = add_target_rest(d, bt, t);
	if (r == 0) {
		d->disk.keys_seen = vbd__xb_bus_replies(d->b->bus);
		r = fetch(d, bt);
	}
	vbd__xb_batch_free(bt);
	return r;
}
