/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device's connect (xenbus.c runs the rest of its handshake): the rings
 * the frontend's keys name, mapped and bound, and the transaction that
 * writes the disk's keys with Connected, once the target is open too.
 * Where it is open already, the rings are mapped while the store starts
 * that transaction, the two round trips overlapping:
 *
 *     fe 3 -> keys read (peer.c) -> plan_rings
 *       -> TRANSACTION_START sent, rings mapped (map_at_start), its reply
 *       -> state read, 14 keys, state 4 (one window) -> commit
 *       -> each ring's channel followed: its worker at its first request
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
static int connect_txn(struct connect_job *j)
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
	if (r == 0 && j->plan)
		vbd__xb_batch_at_start(b, map_at_start, j);
	if (r == 0)
		r = vbd__xb_bus_run(d->b->bus, b, NULL);
	vbd__xb_batch_free(b);
	return r;
}

static void rings_failed(vbd__bb_dev *d, struct ring_plan *p);

/* Connected, with the device's keys; with p, the rings are mapped while
 * the store starts the transaction. */
static void connect(vbd__bb_dev *d, struct ring_plan *p)
{
	struct connect_job j = { d, false, p };
	unsigned i;
	int r;

	r = connect_txn(&j);
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
	int r = connect_txn(&j);

	if (r == 2)
		vbd__bb_found_replaced(d, VBD_STATE_INITIALISING);
	return r > 0 ? 0 : r;
}


/* Reads the frontend's ring keys into p, the rings made (unmapped).  On
 * failure the error node is written and nothing is held.  k: the top
 * keys, and the ring keys guessed, when the state's read brought them. */
static int plan_rings(vbd__bb_dev *d, struct vbd__bb_fe_keys *k, struct ring_plan *p)
{
	vbd_blkback *b = d->b;
	uint32_t *refs, *ports;             /* every queue's pages, then their ports */
	struct vbd__bb_num *ring = NULL;     /* per queue: pages refs, then the port */
	struct vbd__bb_shape s;
	unsigned i, j, nq, pages, per;
	int r;

	if (!k->have)
		vbd__bb_read_fe(d, k, false, true);
	if (k->proto.r < 0 || strcmp(k->proto.val, XEN_IO_PROTO_ABI_X86_64) == 0 ||
	    strcmp(k->proto.val, XEN_IO_PROTO_ABI_ARM) == 0) {
		d->abi = VBD__BB_ABI_64;
	} else if (strcmp(k->proto.val, XEN_IO_PROTO_ABI_X86_32) == 0) {
		d->abi = VBD__BB_ABI_X86_32;
	} else {
		vbd__bb_fatal(d, -ENOSYS, "unknown fe protocol %.32s", k->proto.val);
		return -ENOSYS;
	}

	d->persistent = k->persistent.r == 0 && k->persistent.v != 0 && b->pgrants_max > 0;

	r = vbd__bb_fe_shape(k, &s);
	if (r == -ENOSYS) {
		vbd__bb_fatal(d, -ENOSYS, "invalid number of requested queues (max %u)",
		              b->max_queues);
		return -ENOSYS;
	} else if (r < 0) {
		vbd__bb_fatal(d, -EINVAL, "invalid ring-page-order (max %u)", b->max_order);
		return -EINVAL;
	}
	nq = s.nq;
	pages = 1u << s.order;
	per = pages + 1;

	d->rings = calloc(nq, sizeof(*d->rings));
	ring = calloc(nq * per, sizeof(*ring));
	refs = calloc(nq * per, sizeof(*refs));
	if (!d->rings || !ring || !refs) {
		free(d->rings);
		d->rings = NULL;
		free(ring);
		free(refs);
		vbd__bb_fatal(d, -ENOMEM, "allocating %u rings", nq);
		return -ENOMEM;
	}
	d->nr_rings = nq;
	VBD__BB_ADD(b->mem, nq * sizeof(*d->rings));
	for (i = 0; i < nq; i++)
		vbd__bb_ring_init(&d->rings[i], d, i, d->abi, d->persistent);
	ports = refs + nq * pages;

	/* Read with the top keys when guessed right; else now. */
	if (!vbd__bb_guessed_rings(k, &s, ring))
		vbd__bb_read_rings(d, nq, pages, s.has_order, ring);
	for (i = 0; i < nq; i++) {
		char dir[VBD__BB_RING_DIR_MAX], key[VBD__BB_RING_KEY_MAX];
		const struct vbd__bb_num *n;

		for (j = 0; j <= pages; j++) {
			n = &ring[i * per + j];
			if (n->r < 0) {
				vbd__bb_ring_key(d, nq, i, j, pages, s.has_order, dir, key);
				r = n->r;
				vbd__bb_fatal(d, r == -ENOENT ? -EINVAL : r, "reading %s/%s", dir, key);
				goto fail;
			}
			if (j < pages)
				refs[i * pages + j] = (uint32_t)n->v;
			else
				ports[i] = (uint32_t)n->v;
		}
	}
	free(ring);
	*p = (struct ring_plan){ refs, ports, pages, s, 1, "" };
	return 0;
fail:
	free(ring);
	free(refs);
	vbd__bb_disconnect(d);
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
