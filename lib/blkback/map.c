/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A request's grants mapped for its I/O, shared by both engines: a
 * segment's page comes from the ring's persistent-grant cache (pgrant.c),
 * is added to it (within the ring's maximum and the backend-wide budget,
 * evicting at most EVICT_BUDGET entries no request in flight uses), or is
 * mapped with the request's other misses in one call for that request
 * only.  A miss whose own mapping fails for want of memory or mappings
 * joins that call; a bad grant fails the request.
 *
 *     segs 4 (grefs 7 8 9 10), cache holds 7 9:
 *       7, 9 -> cached pages; 8 -> added (a map of one page);
 *       10 -> budget spent: mapped with the request, unmapped after it
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "blkback/blkback.h"

/* Persistent-cache misses a request may fill by evicting: each costs an
 * unmap and a map, one page each; the rest of a request's misses are
 * mapped in one call for that request only.  A working set larger than
 * the cache then costs two calls per request, not two per page. */
#define EVICT_BUDGET 8u

/* One entry of the backend-wide budget of cached grants, if one is left.
 * Every cached grant is a mapping of its own in this process, and mappings
 * are limited (vm.max_map_count): the budget keeps the cache of all rings
 * together below that, whatever frontends send.  A compare-and-swap, so
 * that the count never passes the budget, not even for a moment. */
static bool budget_take(vbd_blkback *b)
{
	unsigned n = __atomic_load_n(&b->pgrants_total, __ATOMIC_RELAXED);

	do {
		if (n >= b->pgrants_total_max)
			return false;
	} while (!__atomic_compare_exchange_n(&b->pgrants_total, &n, n + 1, true, __ATOMIC_RELAXED,
	                                      __ATOMIC_RELAXED));
	return true;
}

void vbd__bb_budget_put(vbd_blkback *b, unsigned n)
{
	__atomic_fetch_sub(&b->pgrants_total, n, __ATOMIC_RELAXED);
}

/* Whether a failed map is the backend's shortage (too many mappings, no
 * memory: the same grant maps in one batch, or later), not the frontend's
 * bad gref (-EINVAL, -EACCES), which fails the request. */
static bool map_shortage(int rc)
{
	return rc == -ENOMEM || rc == -ENOSPC || rc == -EAGAIN || rc == -EFAULT;
}

/* A persistent-cache miss of gref: 1 when it is mapped and cached at
 * *ret_addr, 0 when it is to be mapped for the request only, or the
 * -errno of a map that failed for the frontend's fault.  It joins the
 * cache if the backend-wide budget has an entry for it, or in place of the
 * ring's own least recently used entry (*evict_left more evictions
 * allowed); a map that fails for want of mappings leaves it uncached. */
static int cache_miss(vbd__bb_ring *r, uint32_t gref, uint64_t floor, unsigned *evict_left,
                      void **ret_addr)
{
	vbd_blkback *b = r->dev->b;
	size_t had = r->pg.bytes;
	void *evicted;
	bool fresh;
	int rc;

	if (!*evict_left)
		return 0;
	/* A new entry takes one of the budget's; one that replaces an
	 * evicted entry takes over its. */
	fresh = r->pg.count < r->pg.max && budget_take(b);
	if (vbd__pgrant_make_room(&r->pg, floor, fresh, &evicted) < 0) {
		if (fresh)
			vbd__bb_budget_put(b, 1);
		return 0;
	}
	if (r->pg.bytes != had) {
		vbd__bb_mem_sub(r, had);
		vbd__bb_mem_add(r, r->pg.bytes);
	}
	if (evicted) {
		(*evict_left)--;
		if (fresh)
			vbd__bb_budget_put(b, 1);
		vbd_gnt_unmap(b->x, evicted, 1);
		VBD__BB_ADD(r->n.pgrant_evictions, 1);
		__atomic_fetch_sub(&r->n.pgrants, 1, __ATOMIC_RELAXED);
	}
	VBD__BB_ADD(r->n.grant_maps, 1);
	rc = vbd_gnt_map(b->x, r->dev->fe_domid, 1, &gref, true, ret_addr);
	if (rc < 0) {
		vbd__bb_budget_put(b, 1);
		if (!map_shortage(rc))
			return rc;
		VBD__BB_ADD(r->n.pgrant_map_failures, 1);
		return 0;
	}
	vbd__pgrant_add(&r->pg, gref, *ret_addr, r->seq);
	VBD__BB_ADD(r->n.pgrants, 1);
	return 1;
}

/* Maps each segment's page into r->pages_of[]: from the persistent cache,
 * or all at once for one request.  *ret_base is the one-call mapping (of
 * r->batch_n pages, to unmap after).  Cached pages that requests from
 * `floor` on use are not evicted: their I/O may be in flight. */
static int map_segs(vbd__bb_ring *r, const struct blkif_request_segment *segs, unsigned n,
                    bool writable, uint64_t floor, void **ret_base, bool *batched)
{
	vbd_blkback *b = r->dev->b;
	unsigned domid = r->dev->fe_domid, i, evict_left = EVICT_BUDGET, nb = 0;
	void *base;
	int rc;

	*ret_base = NULL;
	r->batch_n = 0;
	if (!r->persistent) {
		for (i = 0; i < n; i++)
			r->refs[i] = segs[i].gref;
		VBD__BB_ADD(r->n.grant_maps, 1);
		rc = vbd_gnt_map(b->x, domid, n, r->refs, writable, &base);
		if (rc < 0)
			return rc;
		for (i = 0; i < n; i++)
			r->pages_of[i] = (char *)base + (size_t)i * VBD_PAGE_SIZE;
		*ret_base = base;
		r->batch_n = n;
		return 0;
	}
	/* Persistent: the frontend granted every page writable and keeps it
	 * granted; misses that go into the cache are mapped writable one page
	 * each, so that each can be unmapped alone when evicted. */
	for (i = 0; i < n; i++) {
		void *addr = vbd__pgrant_get(&r->pg, segs[i].gref, r->seq);

		batched[i] = false;
		if (addr) {
			VBD__BB_ADD(r->n.pgrant_hits, 1);
			r->pages_of[i] = addr;
			continue;
		}
		rc = cache_miss(r, segs[i].gref, floor, &evict_left, &addr);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			r->pages_of[i] = addr;
			continue;
		}
		VBD__BB_ADD(r->n.pgrant_uncached, 1);
		batched[i] = true;
		r->refs[nb++] = segs[i].gref;
	}
	if (!nb)
		return 0;
	VBD__BB_ADD(r->n.grant_maps, 1);
	rc = vbd_gnt_map(b->x, domid, nb, r->refs, true, &base);
	if (rc < 0)
		return rc;
	for (i = 0, nb = 0; i < n; i++)
		if (batched[i])
			r->pages_of[i] = (char *)base + (size_t)nb++ * VBD_PAGE_SIZE;
	*ret_base = base;
	r->batch_n = nb;
	return 0;
}

/* An indirect request's pages from the persistent cache, as Linux blkback
 * keeps them with the data pages: found, or mapped (writable, as every
 * persistent grant) and added while the cache has room.  Nothing is
 * evicted for them (floor 0: every entry counts as in use), so they never
 * push out a data page that I/O in flight uses.  0, or -ENOENT when one is
 * not cached (no room, the budget spent, or the frontend granted it
 * read-only): the caller maps them for this request only, as without
 * persistent grants. */
int vbd__bb_ind_pages(vbd__bb_ring *r, const uint32_t *grefs, unsigned n, void **pages)
{
	unsigned i, evict_left = 1;
	int rc;

	if (!r->persistent || r->ind_transient)
		return -ENOENT;
	for (i = 0; i < n; i++) {
		pages[i] = vbd__pgrant_get(&r->pg, grefs[i], r->seq + 1);
		if (pages[i])
			continue;
		rc = cache_miss(r, grefs[i], 0, &evict_left, &pages[i]);
		if (rc > 0)
			continue;
		/* Refused writable (not a shortage): this frontend grants
		 * its indirect pages read-only; map them so from now on. */
		if (rc < 0)
			r->ind_transient = true;
		return -ENOENT;
	}
	return 0;
}

void vbd__bb_rw_unmap(vbd__bb_ring *r, void *base, unsigned batch_n)
{
	if (base)
		vbd_gnt_unmap(r->dev->b->x, base, batch_n);
}

int vbd__bb_rw_map(vbd__bb_ring *r, const struct blkif_request_segment *segs, unsigned n,
                   bool write, uint64_t floor, struct iovec *iov, unsigned *ret_cnt,
                   void **ret_base, unsigned *ret_batch_n)
{
	bool transient[VBD__BB_MAX_INDIRECT_SEGS];
	unsigned i, cnt = 0;
	int rc;

	/* A read fills the guest's pages: they are mapped writable. */
	rc = map_segs(r, segs, n, !write, floor, ret_base, transient);
	if (rc < 0)
		return rc;
	*ret_batch_n = r->batch_n;
	for (i = 0; i < n; i++) {
		char *p = (char *)r->pages_of[i] + segs[i].first_sect * 512u;
		size_t len = (size_t)(segs[i].last_sect - segs[i].first_sect + 1) * 512u;

		if (cnt && (char *)iov[cnt - 1].iov_base + iov[cnt - 1].iov_len == p) {
			iov[cnt - 1].iov_len += len;
		} else {
			iov[cnt].iov_base = p;
			iov[cnt].iov_len = len;
			cnt++;
		}
	}
	*ret_cnt = cnt;
	return 0;
}

