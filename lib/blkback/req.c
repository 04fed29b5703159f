/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Request decoding and validation on the backend's private copy (XSA-155).
 *
 *     READ, 2 segments, sector 100, seg {gref 9, 0..7}, {gref 10, 0..3}
 *       decode: op known, 0 < 2 <= 11           -> OKAY, nr_segs 2
 *       segs:   0 <= 7 < 8, 0 <= 3 < 8, 12 sectors; 100 + 12 <= disk size
 *                                               -> OKAY, nr_sectors 12
 *     the same with last_sect 8, or a disk of 111 sectors -> ERROR
 */
#include <stdlib.h>
#include <string.h>

#include "blkback/req.h"

/* The 64-bit ABIs are this host's blkif.h structs: fail the build where
 * they are not (a 32-bit host would need the x86_32 entry as native). */
_Static_assert(offsetof(struct blkif_request, id) == 8, "64-bit blkif layout");
_Static_assert(offsetof(struct blkif_request, sector_number) == 16, "64-bit blkif layout");
_Static_assert(offsetof(struct blkif_request, seg) == 24, "64-bit blkif layout");
_Static_assert(sizeof(struct blkif_request) == 112, "64-bit blkif layout");
_Static_assert(offsetof(struct blkif_request_discard, nr_sectors) == 24, "64-bit blkif layout");
_Static_assert(offsetof(struct blkif_request_indirect, id) == 8, "64-bit blkif layout");
_Static_assert(offsetof(struct blkif_request_indirect, sector_number) == 16, "64-bit blkif layout");
_Static_assert(offsetof(struct blkif_request_indirect, handle) == 24, "64-bit blkif layout");
_Static_assert(offsetof(struct blkif_request_indirect, indirect_grefs) == 28, "64-bit blkif layout");
_Static_assert(offsetof(struct blkif_response, status) == 10, "64-bit blkif layout");
_Static_assert(sizeof(struct blkif_response) == 16, "64-bit blkif layout");
_Static_assert(sizeof(struct blkif_request_segment) == 8, "segment layout");

/* x86_32-abi, from the ABI's 4-byte alignment of uint64_t. */
_Static_assert(offsetof(struct vbd__blkif32_rw, id) == 4, "x86_32 layout");
_Static_assert(offsetof(struct vbd__blkif32_rw, sector_number) == 12, "x86_32 layout");
_Static_assert(offsetof(struct vbd__blkif32_rw, seg) == 20, "x86_32 layout");
_Static_assert(sizeof(struct vbd__blkif32_rw) == 108, "x86_32 layout");
_Static_assert(offsetof(struct vbd__blkif32_discard, nr_sectors) == 20, "x86_32 layout");
_Static_assert(offsetof(struct vbd__blkif32_indirect, handle) == 20, "x86_32 layout");
_Static_assert(offsetof(struct vbd__blkif32_indirect, indirect_grefs) == 24, "x86_32 layout");
_Static_assert(sizeof(union vbd__blkif32_request) == 108, "x86_32 layout");
_Static_assert(sizeof(struct vbd__blkif32_response) == 12, "x86_32 layout");
_Static_assert(offsetof(struct vbd__blkif32_response, status) == 10, "x86_32 layout");
_Static_assert(offsetof(struct vbd__blkif32_sring, ring) == 64, "x86_32 layout");
_Static_assert(sizeof(union vbd__blkif32_sring_entry) == 108, "x86_32 layout");

/* The fields every op has, wherever the ABI puts them. */
struct hdr {
	uint8_t op, nr8, flag8;
	uint16_t nr16;
	uint64_t id, sector, nr_sectors;
	uint32_t igrefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};

static void hdr_of(enum vbd__bb_abi abi, const void *entry, struct hdr *h)
{
	if (abi == VBD__BB_ABI_X86_32) {
		const union vbd__blkif32_request *r = entry;

		h->op = r->operation;
		h->nr8 = r->rw.nr_segments;
		h->flag8 = r->discard.flag;
		h->nr16 = r->indirect.nr_segments;
		h->id = r->rw.id;
		h->sector = r->rw.sector_number;
		h->nr_sectors = r->discard.nr_sectors;
		/* By offset: the packed members may be unaligned. */
		memcpy(h->igrefs, (const char *)entry + offsetof(struct vbd__blkif32_indirect,
		                                                  indirect_grefs), sizeof(h->igrefs));
		memcpy(h->seg, (const char *)entry + offsetof(struct vbd__blkif32_rw, seg),
		       sizeof(h->seg));
	} else {
		const struct blkif_request *r = entry;
		const struct blkif_request_discard *d = entry;
		const struct blkif_request_indirect *in = entry;

		h->op = r->operation;
		h->nr8 = r->nr_segments;
		h->flag8 = d->flag;
		h->nr16 = in->nr_segments;
		h->id = r->id;
		h->sector = r->sector_number;
		h->nr_sectors = d->nr_sectors;
		memcpy(h->igrefs, in->indirect_grefs, sizeof(h->igrefs));
		memcpy(h->seg, r->seg, sizeof(h->seg));
	}
}

/* sector + n <= limit, without overflow. */
static bool fits(uint64_t sector, uint64_t n, uint64_t limit)
{
	return sector <= limit && n <= limit - sector;
}

int vbd__bb_req_decode(enum vbd__bb_abi abi, const void *entry, const struct vbd__bb_limits *l,
                       struct vbd__bb_req *req)
{
	struct hdr h;
	unsigned i;

	memset(req, 0, sizeof(*req));
	hdr_of(abi, entry, &h);
	req->id = h.id;
	req->op = h.op;
	req->kind = h.op;
	req->sector = h.sector;

	switch (h.op) {
	case BLKIF_OP_READ:
	case BLKIF_OP_WRITE:
	case BLKIF_OP_WRITE_BARRIER:
	case BLKIF_OP_FLUSH_DISKCACHE:
		/* Flushes and barriers may carry no data; reads and writes must. */
		if (h.nr8 > BLKIF_MAX_SEGMENTS_PER_REQUEST)
			return BLKIF_RSP_ERROR;
		if (h.nr8 == 0 && (h.op == BLKIF_OP_READ || h.op == BLKIF_OP_WRITE))
			return BLKIF_RSP_ERROR;
		if (h.op != BLKIF_OP_READ && l->readonly)
			return BLKIF_RSP_ERROR;
		req->nr_segs = h.nr8;
		memcpy(req->seg, h.seg, h.nr8 * sizeof(req->seg[0]));
		return BLKIF_RSP_OKAY;
	case BLKIF_OP_DISCARD:
		if (!l->discard)
			return BLKIF_RSP_EOPNOTSUPP;
		req->secure = h.flag8 & BLKIF_DISCARD_SECURE;
		if (req->secure && !l->discard_secure)
			return BLKIF_RSP_EOPNOTSUPP;
		req->nr_sectors = h.nr_sectors;
		if (l->readonly || !fits(h.sector, h.nr_sectors, l->sectors))
			return BLKIF_RSP_ERROR;
		return BLKIF_RSP_OKAY;
	case BLKIF_OP_INDIRECT:
		if (!l->max_indirect)
			return BLKIF_RSP_EOPNOTSUPP;
		req->kind = h.nr8;   /* indirect_op sits where nr_segments does */
		if (req->kind != BLKIF_OP_READ && req->kind != BLKIF_OP_WRITE)
			return BLKIF_RSP_ERROR;
		if (h.nr16 == 0 || h.nr16 > l->max_indirect || h.nr16 > VBD__BB_MAX_INDIRECT_SEGS)
			return BLKIF_RSP_ERROR;
		if (req->kind == BLKIF_OP_WRITE && l->readonly)
			return BLKIF_RSP_ERROR;
		req->nr_segs = h.nr16;
		req->nr_indirect = (h.nr16 + VBD__BB_SEGS_PER_PAGE - 1) / VBD__BB_SEGS_PER_PAGE;
		for (i = 0; i < req->nr_indirect; i++)
			req->indirect_grefs[i] = h.igrefs[i];
		return BLKIF_RSP_OKAY;
	default:
		return BLKIF_RSP_EOPNOTSUPP;
	}
}

/* Whether segs[0..n) are strictly increasing or strictly decreasing in
 * their refs: then no two are equal, with no table.  A frontend's pages
 * mostly come so (a granted buffer's consecutive refs, a pool handing back
 * a request's pages in reverse). */
static bool monotone(const struct blkif_request_segment *s, unsigned n)
{
	unsigned i;

	if (n < 2)
		return true;
	if (s[1].gref > s[0].gref) {
		for (i = 2; i < n; i++)
			if (s[i].gref <= s[i - 1].gref)
				return false;
	} else {
		for (i = 1; i < n; i++)
			if (s[i].gref >= s[i - 1].gref)
				return false;
	}
	return true;
}

/* Whether a ref is in segs[0..n) twice: each segment's index + 1 put into
 * seen (vbd__bb_seen_cap(n) entries, cleared here) at its ref's hash, the
 * next free entry on a collision.  Half full at most, so every probe ends.
 * The hash multiplies by the ring's odd key, which the frontend does not
 * know, so it cannot choose refs that all collide.  Not a sort: glibc's
 * qsort() mallocs for arrays of 1 KiB or more (256 refs), and a ring's
 * worker calls no malloc (lib/transport/xport.c says why). */
static bool ref_twice(const struct blkif_request_segment *segs, unsigned n, uint32_t key,
                      uint16_t *seen)
{
	unsigned cap = vbd__bb_seen_cap(n), shift = 32, i, h;

	for (h = cap; h > 1; h >>= 1)
		shift--;
	memset(seen, 0, cap * sizeof(*seen));
	for (i = 0; i < n; i++) {
		uint32_t ref = segs[i].gref;

		for (h = (uint32_t)(ref * key) >> shift; seen[h]; h = (h + 1) & (cap - 1))
			if (segs[seen[h] - 1].gref == ref)
				return true;
		seen[h] = (uint16_t)(i + 1);
	}
	return false;
}

int vbd__bb_req_check_segs(const struct vbd__bb_limits *l, struct vbd__bb_req *req,
                           const struct blkif_request_segment *segs, unsigned n,
                           uint16_t *seen)
{
	uint64_t total = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		uint8_t first = segs[i].first_sect, last = segs[i].last_sect;

		if (first > last || last >= VBD_PAGE_SIZE / 512)
			return BLKIF_RSP_ERROR;
		total += (uint64_t)(last - first + 1);
	}
	if (!fits(req->sector, total, l->sectors))
		return BLKIF_RSP_ERROR;
	if (l->persistent && !monotone(segs, n) && ref_twice(segs, n, l->ref_key | 1u, seen))
		return BLKIF_RSP_ERROR;
	req->nr_sectors = total;
	return BLKIF_RSP_OKAY;
}

void vbd__bb_rsp_write(enum vbd__bb_abi abi, void *slot, const struct vbd__bb_req *req,
                       int16_t status)
{
	if (abi == VBD__BB_ABI_X86_32) {
		struct vbd__blkif32_response r;

		memset(&r, 0, sizeof(r));
		r.id = req->id;
		r.operation = req->op;
		r.status = status;
		memcpy(slot, &r, sizeof(r));
	} else {
		struct blkif_response r;

		memset(&r, 0, sizeof(r));
		r.id = req->id;
		r.operation = req->op;
		r.status = status;
		memcpy(slot, &r, sizeof(r));
	}
}
