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

static int add_num(vbd__xb_batch *b, const char *dir, const char *key, struct vbd__bb_num *n,
                   unsigned long long max)
{
	char path[XENSTORE_ABS_PATH_MAX + 2];

	n->max = max;
	n->r = -EIO;
	n->done = false;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, key) > XENSTORE_ABS_PATH_MAX)
		return -ENAMETOOLONG;
	return vbd__xb_batch_check(b, path, vbd__bb_num_check, n);
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

/* A string a fetch read: NULL as a failed or absent read (RD's NULL). */
static int dup_check(const char *val, int err, void *ud)
{
	char **s = ud;

	(void)err;
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

int vbd__bb_read_target(vbd__bb_dev *d, struct vbd__bb_target_keys *t)
{
	char path[XENSTORE_ABS_PATH_MAX + 2];
	vbd__xb_batch *bt;
	int r;

#define TK(key, fn, ud) do { if (r == 0) { \
		snprintf(path, sizeof(path), "%s/%s", d->be, key); \
		r = vbd__xb_batch_check(bt, path, fn, ud); } } while (0)
	if ((r = vbd__xb_batch_new(&bt)) < 0)
		return r;
	TK("physical-device", dup_check, &t->pd);
	TK("physical-device-path", tk_check, t);
	if (r == 0)
		r = vbd__xb_batch_wait(bt);
	if (!strcmp(d->b->kind, "vbd3"))
		TK("params", dup_check, &t->params);
	TK("mode", dup_check, &t->mode);
	TK("device-type", dup_check, &t->type);
	if (r == 0)
		r = add_num(bt, d->be, "discard-enable", &t->de, 1);
	if (r == 0)
		r = add_num(bt, d->be, "direct-io-safe", &t->dio, 1);
#undef TK
	if (r == 0)
		r = fetch(d, bt);
	vbd__xb_batch_free(bt);
	return r;
}
