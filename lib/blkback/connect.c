/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device's connect (xenbus.c runs the rest of its handshake): the rings
 * the frontend's keys name, mapped and bound, and the transaction that
 * writes the disk's keys with Connected, once the target is open too.
 * Where it is open already, the frontend's keys go with that
 * transaction's start, and the rings are mapped before its reply is read,
 * the round trips overlapping:
 *
 *     fe event in InitWait
 *       -> its state, top keys and likely ring keys (peer.c) and
 *          TRANSACTION_START, one send (vbd__xb_batch_before_start)
 *       -> their answers: plan_top, plan_refs, rings mapped
 *          (connect_on_keys), then the start's reply
 *       -> state read, 14 keys, state 4 (one window; a layout not
 *          guessed: its ring keys too, the rings mapped at the last
 *          answer) -> commit
 *       -> each ring's channel followed: its worker at its first request
 *
 * A state that does not connect says not now: that transaction aborted,
 * the step goes on from what was read.  Where the target opens later, the
 * keys are read on their own and the rings mapped at once (plan_rings),
 * Connected written when it opens (vbd__bb_update_status).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blkback/blkback.h"
#include "util/crashpoint.h"

/* The rings connect_rings() read from the frontend's keys, to map:
 * every queue's pages' refs, then their ports.  r: 1 not mapped yet, then
 * 0 or the map's -errno (why says it). */
struct ring_plan {
	uint32_t *refs, *ports;
	unsigned pages;
	struct vbd__bb_shape s;
	int r;
	char why[200];
};

struct connect_job {
	vbd__bb_dev *d;
	bool resize_only;
	struct ring_plan *plan;     /* or NULL: the rings are mapped */
};

static int rings_map(vbd__bb_dev *d, struct ring_plan *p);
static int plan_top(vbd__bb_dev *d, struct vbd__bb_fe_keys *k, struct vbd__bb_shape *s, bool now);
static int plan_refs(vbd__bb_dev *d, const struct vbd__bb_shape *s, const struct vbd__bb_num *ring,
                     struct ring_plan *p);

/* While the store starts the Connected transaction: the rings mapped and
 * bound (a round trip to the hypervisor beside the store's). */
static int map_at_start(vbd__xb_batch *b, void *ud)
{
	struct connect_job *j = ud;

	(void)b;
	return rings_map(j->d, j->plan);
}

/* The state read decides; the keys after it are in flight already and
 * thrown away with the transaction when it says no (xs_batch.c). */
static int connect_check(const char *val, int err, void *ud)
{
	struct connect_job *j = ud;
	unsigned long long v;
	int s = err < 0 ? err : vbd__parse_num_max(val, VBD_STATE_RECONFIGURED, &v) < 0 ? -EINVAL
	                                                                                 : (int)v;

	if (s == -ENOENT)
		return 1;
	if (s == VBD_STATE_INITIALISING)
		return 2;     /* a new device's dir */
	if (s < 0 && s != -EINVAL)
		return s;
	if (j->resize_only && s != VBD_STATE_CONNECTED)
		return 1;
	return 0;
}

/* One transaction, its requests pipelined: the state read, the keys, the
 * state.  0, 1 (gone, or not Connected for a resize), 2 (a new device's
 * dir), or -errno. */
static int connect_txn(struct connect_job *j, vbd__xb_batch *pre,
                       int (*work)(vbd__xb_batch *b, void *ud), void *ud)
{
	vbd__bb_dev *d = j->d;
	const struct vbd__bb_disk *k = &d->disk;
	unsigned long long sectors = __atomic_load_n(&k->sectors, __ATOMIC_RELAXED);
	const char *be = d->be;
	char state[VBD__XB_PATH_MAX + 8];
	vbd__xb_batch *b;
	int r;

	if ((r = vbd__xb_batch_new(&b)) < 0)
		return r;
	snprintf(state, sizeof(state), "%s/state", be);
#define WB(key, ...) do { if (r == 0) r = vbd__xb_batch_printf(b, be, key, __VA_ARGS__); } while (0)
	r = vbd__xb_batch_check(b, state, connect_check, j);
	if (!j->resize_only) {
		WB("feature-flush-cache", "1");
		WB("feature-barrier", "1");
		WB("feature-discard", "%d", k->discard ? 1 : 0);
		WB("feature-persistent", "%d", d->b->pgrants_max ? 1 : 0);
	}
	WB("sectors", "%llu", sectors);
	if (!j->resize_only) {
		WB("info", "%u", (k->cdrom ? VDISK_CDROM : 0) | (k->readonly ? VDISK_READONLY : 0));
		WB("sector-size", "%u", k->sector_size);
		WB("physical-sector-size", "%u", k->physical_sector_size);
		if (k->discard) {
			WB("discard-granularity", "%u", k->discard_granularity);
			WB("discard-alignment", "0");
			WB("discard-secure", "0");
		}
	}
	WB("state", "%d", VBD_STATE_CONNECTED);
#undef WB
	if (r == 0 && work)
		vbd__xb_batch_at_start(b, work, ud);
	if (r == 0 && pre)
		vbd__xb_batch_before_start(b, pre);
	if (r == 0)
		r = vbd__xb_bus_run(d->b->bus, b, NULL);
	vbd__xb_batch_free(b);
	return r;
}

static void rings_failed(vbd__bb_dev *d, struct ring_plan *p);

/* After the Connected transaction's run r, with p the rings it mapped
 * (or NULL): the rings followed, or why not. */
static void connect_done(vbd__bb_dev *d, struct ring_plan *p, int r)
{
	unsigned i;

	if (p && p->r < 0) {
		rings_failed(d, p);     /* the transaction aborted */
		return;
	}
	if (r == 2)
		vbd__bb_found_replaced(d, VBD_STATE_INITIALISING);
	if (r > 0)
		return;     /* the device is going away, or not ours */
	if (r < 0) {
		vbd__bb_fatal(d, r, "writing the connect keys to %s", d->be);
		return;
	}
	d->be_state = VBD_STATE_CONNECTED;
	for (i = 0; i < d->nr_rings; i++) {
		r = vbd__bb_ring_arm(&d->rings[i]);
		if (r < 0) {
			vbd__bb_fatal(d, r, "following the event channel of ring %u", i);
			return;
		}
	}
	vbd__bb_log(d->b, VBD_LOG_INFO, "%s: connected, %u ring(s) of %u page(s), %s%s", d->be,
	            d->nr_rings, d->rings ? d->rings[0].pages : 0,
	            d->abi == VBD__BB_ABI_X86_32 ? "x86_32-abi" : "64-bit abi",
	            d->persistent ? ", persistent grants" : "");
}

/* Connected, with the device's keys; with p, the rings are mapped while
 * the store starts the transaction. */
static void connect(vbd__bb_dev *d, struct ring_plan *p)
{
	struct connect_job j = { d, false, p };

	connect_done(d, p, connect_txn(&j, NULL, p ? map_at_start : NULL, &j));
}

/* What a start's work returns when the frontend's keys fetched with the
 * start say not now (xs_batch.c aborts the transaction); beside
 * connect_check()'s 1 and 2. */
#define NOT_NOW 3

struct fetched {
	struct connect_job j;
	struct vbd__bb_fe_keys *k;
	struct ring_plan p;
	struct vbd__bb_shape s;
	struct vbd__bb_num *ring;   /* the ring keys, read in the transaction */
	unsigned nring;
	bool judged, mapped;
};

/* The rings f->ring names, planned and mapped, once however many tries
 * (the keys do not change while the frontend is Initialised); a failure
 * aborts the transaction, rings_failed() then says why. */
static int map_fetched(struct fetched *f)
{
	int r;

	if (f->mapped)
		return 0;
	f->mapped = true;
	r = plan_refs(f->j.d, &f->s, f->ring, &f->p);
	return r < 0 ? r : rings_map(f->j.d, &f->p);
}

/* The last ring key's answer, in the transaction: the rings mapped before
 * the commit. */
static int rings_read_in(const char *val, int err, void *ud)
{
	struct fetched *f = ud;

	vbd__bb_num_check(val, err, &f->ring[f->nring - 1]);
	return map_fetched(f);
}

/* While the store starts the Connected transaction, the frontend's state
 * and keys fetched with the start in: the rings planned and mapped (their
 * keys guessed and read with the state), or their keys read in the
 * transaction, mapped at the last one's answer; or not now (a state that
 * does not connect, top keys missing or bad: the caller goes on as
 * without the fetch, with what it read, and says what is wrong). */
static int connect_on_keys(vbd__xb_batch *b, void *ud)
{
	struct fetched *f = ud;
	const struct vbd__bb_num *st = &f->k->state;
	vbd__bb_dev *d = f->j.d;
	unsigned pages;

	vbd__bb_fe_guess_done(f->k, vbd__xb_batch_pre_result(b));
	f->judged = true;
	if (st->r < 0 || (st->v != VBD_STATE_INITIALISED && st->v != VBD_STATE_CONNECTED))
		return NOT_NOW;
	vbd__bb_disconnect(d);     /* idempotent: nothing mapped twice */
	if (plan_top(d, f->k, &f->s, true) < 0)
		return NOT_NOW;
	pages = 1u << f->s.order;
	f->nring = f->s.nq * (pages + 1);
	f->ring = calloc(f->nring, sizeof(*f->ring));
	if (!f->ring) {
		vbd__bb_disconnect(d);
		return NOT_NOW;
	}
	f->j.plan = &f->p;
	f->p.r = 1;
	if (vbd__bb_guessed_rings(f->k, &f->s, f->ring))
		return map_fetched(f);
	if (vbd__xb_batch_count(b) + f->nring > VBD__XB_BATCH_MAX ||
	    vbd__bb_ring_keys_rec(d, b, f->s.nq, pages, f->s.has_order, f->ring, rings_read_in,
	                          f) < 0) {
		f->j.plan = NULL;
		vbd__bb_disconnect(d);
		return NOT_NOW;
	}
	return 0;
}

bool vbd__bb_connect_fetched(vbd__bb_dev *d, struct vbd__bb_fe_keys *k)
{
	struct fetched f = { .j = { d, false, NULL }, .k = k };
	vbd__xb_batch *pre;
	int r;

	if (vbd__bb_fe_guess_rec(d, k, false, &pre) < 0) {
		vbd__bb_read_fe_guess(d, k, false);
		return false;
	}
	r = connect_txn(&f.j, pre, connect_on_keys, &f);
	vbd__xb_batch_free(pre);
	free(f.ring);
	if (!f.judged)      /* the run failed before the fetch's answers */
		vbd__bb_fe_guess_done(k, r < 0 ? r : -EIO);
	if (!f.j.plan)
		return false;
	connect_done(d, f.j.plan, r);
	return true;
}

/* Connects when the target is open and the rings are bound, whichever was
 * last. */
void vbd__bb_update_status(vbd__bb_dev *d)
{
	if (d->disk.fd < 0 || !d->rings_bound || d->be_state == VBD_STATE_CONNECTED ||
	    d->be_state >= VBD_STATE_CLOSING)
		return;
	connect(d, NULL);
}

int vbd__bb_announce_size(vbd__bb_dev *d)
{
	struct connect_job j = { d, true, NULL };
	int r = connect_txn(&j, NULL, NULL, NULL);

	if (r == 2)
		vbd__bb_found_replaced(d, VBD_STATE_INITIALISING);
	return r > 0 ? 0 : r;
}


/* The frontend's top keys judged (k: read with its state, or read here),
 * its rings made (unmapped), their shape in *s.  On failure the error
 * node is written, unless now (inside a transaction's start, where
 * nothing can be sent: -EAGAIN where it would read or fail), and nothing
 * is held. */
static int plan_top(vbd__bb_dev *d, struct vbd__bb_fe_keys *k, struct vbd__bb_shape *s, bool now)
{
	vbd_blkback *b = d->b;
	unsigned i;
	int r;

	if (!k->have && now)
		return -EAGAIN;
	if (!k->have)
		vbd__bb_read_fe(d, k, false, true);
	if (k->proto.r < 0 || strcmp(k->proto.val, XEN_IO_PROTO_ABI_X86_64) == 0 ||
	    strcmp(k->proto.val, XEN_IO_PROTO_ABI_ARM) == 0) {
		d->abi = VBD__BB_ABI_64;
	} else if (strcmp(k->proto.val, XEN_IO_PROTO_ABI_X86_32) == 0) {
		d->abi = VBD__BB_ABI_X86_32;
	} else if (now) {
		return -EAGAIN;
	} else {
		vbd__bb_fatal(d, -ENOSYS, "unknown fe protocol %.32s", k->proto.val);
		return -ENOSYS;
	}

	d->persistent = k->persistent.r == 0 && k->persistent.v != 0 && b->pgrants_max > 0;

	r = vbd__bb_fe_shape(k, s);
	if (r < 0 && now)
		return -EAGAIN;
	if (r == -ENOSYS) {
		vbd__bb_fatal(d, -ENOSYS, "invalid number of requested queues (max %u)",
		              b->max_queues);
		return -ENOSYS;
	} else if (r < 0) {
		vbd__bb_fatal(d, -EINVAL, "invalid ring-page-order (max %u)", b->max_order);
		return -EINVAL;
	}
	d->rings = calloc(s->nq, sizeof(*d->rings));
	if (!d->rings) {
		if (now)
			return -EAGAIN;
		vbd__bb_fatal(d, -ENOMEM, "allocating %u rings", s->nq);
		return -ENOMEM;
	}
	d->nr_rings = s->nq;
	VBD__BB_ADD(b->mem, s->nq * sizeof(*d->rings));
	for (i = 0; i < s->nq; i++)
		vbd__bb_ring_init(&d->rings[i], d, i, d->abi, d->persistent);
	return 0;
}

/* ring (per queue: its pages' refs, then its port) into p: 0; or -errno,
 * with why in p (a key missing or not a number). */
static int plan_refs(vbd__bb_dev *d, const struct vbd__bb_shape *s, const struct vbd__bb_num *ring,
                     struct ring_plan *p)
{
	unsigned i, j, pages = 1u << s->order, per = pages + 1;
	uint32_t *refs = calloc(s->nq * per, sizeof(*refs));  /* every queue's pages, then their ports */
	uint32_t *ports = refs + s->nq * pages;

	if (!refs) {
		p->r = -ENOMEM;
		snprintf(p->why, sizeof(p->why), "allocating %u rings", s->nq);
		return p->r;
	}
	for (i = 0; i < s->nq; i++) {
		for (j = 0; j <= pages; j++) {
			const struct vbd__bb_num *n = &ring[i * per + j];
			char dir[VBD__BB_RING_DIR_MAX], key[VBD__BB_RING_KEY_MAX];

			if (n->r < 0) {
				vbd__bb_ring_key(d, s->nq, i, j, pages, s->has_order, dir, key);
				free(refs);
				p->r = n->r == -ENOENT ? -EINVAL : n->r;
				snprintf(p->why, sizeof(p->why), "reading %s/%s", dir, key);
				return p->r;
			}
			if (j < pages)
				refs[i * pages + j] = (uint32_t)n->v;
			else
				ports[i] = (uint32_t)n->v;
		}
	}
	*p = (struct ring_plan){ refs, ports, pages, *s, 1, "" };
	return 0;
}

/* Reads the frontend's ring keys into p, the rings made (unmapped): read
 * with the top keys when guessed right, else here.  On failure the error
 * node is written and nothing is held. */
static int plan_rings(vbd__bb_dev *d, struct vbd__bb_fe_keys *k, struct ring_plan *p)
{
	struct vbd__bb_shape s;
	struct vbd__bb_num *ring;
	int r = plan_top(d, k, &s, false);

	if (r < 0)
		return r;
	ring = calloc(s.nq * ((1u << s.order) + 1), sizeof(*ring));
	if (!ring) {
		vbd__bb_fatal(d, -ENOMEM, "allocating %u rings", s.nq);
		vbd__bb_disconnect(d);
		return -ENOMEM;
	}
	if (!vbd__bb_guessed_rings(k, &s, ring))
		vbd__bb_read_rings(d, s.nq, 1u << s.order, s.has_order, ring);
	r = plan_refs(d, &s, ring, p);
	free(ring);
	if (r < 0) {
		vbd__bb_fatal(d, r, "%s", p->why);
		vbd__bb_disconnect(d);
	}
	return r;
}

/* Maps and binds every ring of p, which it lets go of: 0, or -errno with
 * why in p (rings_failed() then says it, outside any transaction). */
static int rings_map(vbd__bb_dev *d, struct ring_plan *p)
{
	p->r = vbd__bb_rings_connect(d, p->refs, p->pages, p->ports, p->why, sizeof(p->why));
	free(p->refs);
	p->refs = NULL;
	if (p->r == 0) {
		d->rings_bound = true;
		vbd__bb_shape_seen(d, &p->s);
		vbd__crashpoint("blkback.ring-mapped");
	}
	return p->r;
}

/* The map's failure: the error node, and nothing stays mapped. */
static void rings_failed(vbd__bb_dev *d, struct ring_plan *p)
{
	vbd__bb_fatal(d, p->r, "%s", p->why);
	vbd__bb_disconnect(d);
}

/* The rings of the frontend's keys mapped, then Connected once the target
 * is open: where it is already, the rings are mapped while the store
 * starts the Connected transaction. */
void vbd__bb_connect_rings(vbd__bb_dev *d, struct vbd__bb_fe_keys *k)
{
	struct ring_plan p;

	if (plan_rings(d, k, &p) < 0)
		return;
	if (d->disk.fd >= 0) {
		connect(d, &p);
		free(p.refs);   /* not mapped: the transaction failed before */
		return;
	}
	if (rings_map(d, &p) < 0)
		rings_failed(d, &p);
}
