/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The data path of vbd_blkfront: queues, the grant pool, splitting I/O into
 * ring requests, and completions.
 *
 * An I/O waits in one FIFO until it is fully issued.  Each ring request
 * takes up to max_segs pages (11, or the indirect maximum), so a 1 MiB read
 * with 11 segments per request becomes 24 requests (23 of 44 KiB, one of
 * 12 KiB), spread over the queues in turn as their slots free up; the I/O
 * completes when the last of them is answered, with the first error any of
 * them had.
 *
 * Pages: the caller's buffer is never granted.  With persistent grants each
 * queue keeps a pool of pages granted once (grown in chunks, at most
 * depth largest requests, up to 1056 pages), taken per
 * request and given back on its response, as Linux blkfront does.  Without,
 * each request shares fresh pages and ends access on its response; if the
 * backend still maps them (-EBUSY), they go on a deferred list retried from
 * process() and at close, and are counted in info.grants_deferred.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "blkfront/blkfront.h"
#include "transport/run.h"
#include "util/crashpoint.h"

#define POOL_CHUNK 32u
/* Pages in one queue's persistent pool at most: what Linux blkback keeps
 * mapped per ring by default (max_persistent_grants), so that every page
 * of the pool stays mapped in any backend left at its defaults.  A larger
 * pool would make such a backend map and unmap pages on every request. */
#define POOL_MAX 1056u
#define COLLECT_BATCH 64u

static void share_defer(vbd_blkfront *f, void *addr, unsigned count)
{
	vbd__bf_share *s;
	int r = vbd_gnt_unshare(f->x, addr, count);

	if (r == 0)
		return;
	if (r != -EBUSY) {
		vbd__bf_log(f, VBD_LOG_WARNING, "ending access to %u pages: %s", count,
		            vbd_strerror(r));
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		/* Nothing to remember it by: the transport ends it when it is
		 * freed.  Say so rather than lose it silently. */
		vbd__bf_log(f, VBD_LOG_ERR, "%u pages still mapped by the backend are left to "
		            "vbd_xport_free()", count);
		return;
	}
	s->addr = addr;
	s->count = count;
	s->next = f->deferred;
	f->deferred = s;
	f->info.grants_deferred += count;
}

void vbd__bf_retry_deferred(vbd_blkfront *f)
{
	vbd__bf_share **p = &f->deferred, *s;

	while ((s = *p)) {
		int r = vbd_gnt_unshare(f->x, s->addr, s->count);

		if (r == -EBUSY) {
			p = &s->next;
			continue;
		}
		if (r < 0)
			vbd__bf_log(f, VBD_LOG_WARNING, "ending access to %u pages: %s", s->count,
			            vbd_strerror(r));
		f->info.grants_deferred -= s->count;
		*p = s->next;
		free(s);
	}
}

/* ---- queues ---- */

static void queue_teardown(vbd_blkfront *f, vbd__bf_queue *q)
{
	vbd__bf_share *c;
	unsigned i;

	if (q->evtchn) {
		epoll_ctl(f->epfd, EPOLL_CTL_DEL, vbd_evtchn_fd(q->evtchn), NULL);
		if (q->port)
			vbd_evtchn_unbind(q->evtchn, q->port);
		q->evtchn = vbd_evtchn_close(q->evtchn);
	}
	for (i = 0; q->slots && i < q->ring.size; i++) {
		vbd__bf_slot *s = &q->slots[i];

		/* A request never answered lets go of the caller's buffer only
		 * now, with the ring: the backend could write into it until. */
		if (s->zc) {
			s->zc->users--;
			s->zc = NULL;
		}
		if (s->share) {
			f->info.grants -= s->npages + s->nind;
			share_defer(f, s->share, s->npages + s->nind);
		}
	}
	free(q->slot_mem);
	q->slot_mem = NULL;
	free(q->slots);
	q->slots = NULL;
	while ((c = q->chunks)) {
		q->chunks = c->next;
		f->info.grants -= c->count;
		share_defer(f, c->addr, c->count);
		free(c->pages);
		free(c);
	}
	q->pool_free = NULL;
	q->pool_nfree = 0;
	vbd__bf_ring_done(&q->ring);
	if (q->sring) {
		share_defer(f, q->sring, 1u << f->info.ring_page_order);
		q->sring = NULL;
	}
}

void vbd__bf_queues_teardown(vbd_blkfront *f)
{
	unsigned i;

	for (i = 0; f->q && i < f->nq; i++)
		queue_teardown(f, &f->q[i]);
	free(f->q);
	f->q = NULL;
	f->nq = 0;
}

_Static_assert(2 * VBD__BF_MAX_QUEUES <= VBD__XOP_RUN_MAX, "one run for every queue's setup");

int vbd__bf_queues_setup(vbd_blkfront *f, unsigned nq, unsigned order, vbd_errbuf *err)
{
	vbd__xop ops[2 * VBD__BF_MAX_QUEUES];
	void *sring[VBD__BF_MAX_QUEUES];
	uint32_t port[VBD__BF_MAX_QUEUES];
	unsigned i, failed;
	int r;

	f->q = calloc(nq, sizeof(*f->q));
	if (!f->q)
		return -ENOMEM;
	f->nq = nq;
	f->info.queues = nq;
	f->info.ring_page_order = order;
	for (i = 0; i < nq; i++) {
		vbd__bf_queue *q = &f->q[i];

		q->index = i;
		r = vbd_evtchn_open(f->x, &q->evtchn);
		if (r < 0) {
			q->evtchn = NULL;
			vbd__errf(err, r, "opening an event channel for queue %u", i);
			goto fail;
		}
		ops[2 * i] = (vbd__xop){ .op = VBD__XOP_SHARE, .domid = f->bdom, .count = 1u << order,
		                         .writable = true, .refs = q->ring_refs, .addr = &sring[i] };
		ops[2 * i + 1] = (vbd__xop){ .op = VBD__XOP_ALLOC_UNBOUND, .e = q->evtchn,
		                             .domid = f->bdom, .port = &port[i] };
	}
	/* Every ring granted and every channel allocated in one call: one
	 * round trip on the simulated hypervisor, not two per queue. */
	r = vbd__xport_run(f->x, ops, 2 * nq, &failed);
	if (r < 0) {
		if (failed % 2 == 0)
			vbd__errf(err, r, "granting the ring of queue %u (%u pages)", failed / 2,
			          1u << order);
		else
			vbd__errf(err, r, "allocating an event channel for queue %u", failed / 2);
		goto fail;
	}
	/* Every queue's first, so that a failure below ends them all. */
	for (i = 0; i < nq; i++) {
		f->q[i].sring = sring[i];
		f->q[i].port = port[i];
	}
	for (i = 0; i < nq; i++) {
		vbd__bf_queue *q = &f->q[i];
		struct epoll_event ev = { .events = EPOLLIN };

		r = vbd__bf_ring_init(&q->ring, q->sring, order);
		if (r < 0)
			goto fail;
		q->slots = calloc(q->ring.size, sizeof(*q->slots));
		if (!q->slots) {
			r = -ENOMEM;
			goto fail;
		}
		q->depth = f->o.queue_depth && f->o.queue_depth < q->ring.size ? f->o.queue_depth
		                                                                : q->ring.size;
		ev.data.u32 = i + 1;
		if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, vbd_evtchn_fd(q->evtchn), &ev) < 0) {
			r = -errno;
			goto fail;
		}
	}
	f->info.ring_size = f->q[0].ring.size;
	f->info.queue_depth = f->q[0].depth;
	f->io_limit = f->q[0].depth * nq;
	return 0;
fail:
	vbd__bf_queues_teardown(f);
	return r;
}

int vbd__bf_io_prepare(vbd_blkfront *f)
{
	unsigned segs = BLKIF_MAX_SEGMENTS_PER_REQUEST, nind = 0, i, j;
	vbd__bf_page **pages;
	uint32_t *refs;

	if (f->info.indirect_segments > segs) {
		segs = f->info.indirect_segments;
		nind = (segs + VBD__BF_SEGS_PER_IND - 1) / VBD__BF_SEGS_PER_IND;
	} else {
		f->info.indirect_segments = 0;
	}
	f->max_segs = segs;
	f->info.max_request_bytes = (size_t)segs * VBD_PAGE_SIZE;
	for (i = 0; i < f->nq; i++) {
		vbd__bf_queue *q = &f->q[i];

		/* Enough for depth largest requests, as Linux blkfront sizes
		 * its per-ring pool, up to POOL_MAX pages (what a backend
		 * caches per ring by default): 1 MiB requests go 4 at a time,
		 * not one after the other; and never less than one largest
		 * request, so that a lone request always finds its pages.  The
		 * pool grows only as requests need it. */
		q->pool_max = q->depth * (segs + nind);
		if (q->pool_max > POOL_MAX)
			q->pool_max = POOL_MAX;
		if (q->pool_max < segs + nind)
			q->pool_max = segs + nind;
		/* One block for all the slots, not cleared: a request fills
		 * what it uses, and the pages are touched as requests come.
		 * (A calloc() a slot cleared 64 of them while the Connected
		 * transaction waited: 40 us for two queues.)  Again for a
		 * connect whose transaction ran again. */
		free(q->slot_mem);
		q->slot_mem = malloc((size_t)q->ring.size * (segs + nind) *
		                     (sizeof(vbd__bf_page *) + sizeof(uint32_t)));
		if (!q->slot_mem)
			return -ENOMEM;
		pages = q->slot_mem;
		refs = (uint32_t *)(pages + (size_t)q->ring.size * (segs + nind));
		for (j = 0; j < q->ring.size; j++) {
			q->slots[j].pages = pages + (size_t)j * (segs + nind);
			q->slots[j].refs = refs + (size_t)j * (segs + nind);
		}
	}
	return 0;
}

/* ---- pages ---- */

static int pool_grow(vbd_blkfront *f, vbd__bf_queue *q, unsigned need)
{
	unsigned n = need > POOL_CHUNK ? need : POOL_CHUNK, i;
	vbd__bf_share *c;
	uint32_t *refs;
	int r;

	if (n > q->pool_max - q->pool_pages)
		n = q->pool_max - q->pool_pages;
	if (n < need)
		return -EAGAIN;
	c = calloc(1, sizeof(*c));
	refs = calloc(n, sizeof(*refs));
	if (c)
		c->pages = calloc(n, sizeof(*c->pages));
	if (!c || !refs || !c->pages) {
		r = -ENOMEM;
		goto out;
	}
	r = vbd_gnt_share(f->x, f->bdom, n, true, refs, &c->addr);
	if (r < 0)
		goto out;
	c->count = n;
	for (i = 0; i < n; i++) {
		c->pages[i].addr = (uint8_t *)c->addr + (size_t)i * VBD_PAGE_SIZE;
		c->pages[i].ref = refs[i];
		c->pages[i].next = q->pool_free;
		q->pool_free = &c->pages[i];
	}
	c->next = q->chunks;
	q->chunks = c;
	q->pool_pages += n;
	q->pool_nfree += n;
	f->info.grants += n;
	c = NULL;
	r = 0;
out:
	if (c)
		free(c->pages);
	free(c);
	free(refs);
	return r;
}

/* Pages for a request on slot s: 0, -EAGAIN (none now: wait for responses)
 * or -errno. */
static int pages_get(vbd_blkfront *f, vbd__bf_queue *q, vbd__bf_slot *s, unsigned n)
{
	vbd__bf_page *p;
	unsigned i;
	int r;

	if (f->info.persistent) {
		if (q->pool_nfree < n) {
			r = pool_grow(f, q, n - q->pool_nfree);
			if (r < 0)
				return r;
		}
		q->pool_nfree -= n;
		for (i = 0; i < n; i++) {
			p = q->pool_free;
			q->pool_free = p->next;
			s->pages[i] = p;
			s->refs[i] = p->ref;
		}
		return 0;
	}
	r = vbd_gnt_share(f->x, f->bdom, n, true, s->refs, &s->share);
	if (r < 0) {
		s->share = NULL;
		return r;
	}
	f->info.grants += n;
	return 0;
}

static void *page_addr(vbd_blkfront *f, vbd__bf_slot *s, unsigned i)
{
	if (f->info.persistent)
		return s->pages[i]->addr;
	return (uint8_t *)s->share + (size_t)i * VBD_PAGE_SIZE;
}

static void pages_put(vbd_blkfront *f, vbd__bf_queue *q, vbd__bf_slot *s)
{
	unsigned i, n = s->npages + s->nind;

	if (s->share) {
		f->info.grants -= n;
		share_defer(f, s->share, n);
		s->share = NULL;
	} else if (f->info.persistent) {
		for (i = 0; i < n; i++) {
			s->pages[i]->next = q->pool_free;
			q->pool_free = s->pages[i];
			s->pages[i] = NULL;
		}
		q->pool_nfree += n;
	}
	s->npages = s->nind = 0;
}

/* ---- issuing ---- */

static void io_finish(vbd_blkfront *f, vbd__bf_io *io)
{
	io->next = NULL;
	*f->done_tail = io;
	f->done_tail = &io->next;
}

static bool io_issued(const vbd__bf_io *io)
{
	if (io->result < 0)
		return true;
	if (io->op == VBD_BLKFRONT_FLUSH || io->op == VBD_BLKFRONT_DISCARD)
		return io->issued > 0 || io->inflight > 0;
	return io->issued == io->len;
}

static vbd__bf_queue *pick_queue(vbd_blkfront *f)
{
	unsigned i;

	for (i = 0; i < f->nq; i++) {
		vbd__bf_queue *q = &f->q[(f->next_q + i) % f->nq];

		if (vbd__bf_ring_inflight(&q->ring) < q->depth && q->ring.nfree > 0) {
			f->next_q = (q->index + 1) % f->nq;
			return q;
		}
	}
	return NULL;
}

/* The granted buffer that holds [p, p + len) from a page boundary on, if
 * any: such I/O needs no copy. */
static vbd__bf_buf *zc_buf(vbd_blkfront *f, const uint8_t *p, size_t len)
{
	vbd__bf_buf *b;

	if ((uintptr_t)p % VBD_PAGE_SIZE)
		return NULL;
	for (b = f->bufs; b; b = b->next)
		if (p >= b->addr && p + len <= b->addr + (size_t)b->npages * VBD_PAGE_SIZE)
			return b;
	return NULL;
}

int vbd_blkfront_buffer_alloc(vbd_blkfront *f, size_t len, void **ret)
{
	vbd__bf_buf *b;
	size_t n;
	int r;

	if (!f || !ret || !len || len > VBD_BLKFRONT_BUFFER_MAX)
		return -EINVAL;
	n = (len + VBD_PAGE_SIZE - 1) / VBD_PAGE_SIZE;
	b = calloc(1, sizeof(*b));
	if (b)
		b->refs = calloc(n, sizeof(*b->refs));
	if (!b || !b->refs) {
		if (b)
			free(b->refs);
		free(b);
		return -ENOMEM;
	}
	r = vbd_gnt_share(f->x, f->bdom, (unsigned)n, true, b->refs, (void **)&b->addr);
	if (r < 0) {
		free(b->refs);
		free(b);
		return r;
	}
	b->npages = (unsigned)n;
	b->next = f->bufs;
	f->bufs = b;
	f->info.grants += n;
	*ret = b->addr;
	return 0;
}

static void buf_end(vbd_blkfront *f, vbd__bf_buf *b)
{
	f->info.grants -= b->npages;
	share_defer(f, b->addr, b->npages);
	free(b->refs);
	free(b);
}

int vbd_blkfront_buffer_free(vbd_blkfront *f, void *buf)
{
	vbd__bf_buf **pp, *b;

	if (!f || !buf)
		return -EINVAL;
	for (pp = &f->bufs; (b = *pp); pp = &b->next)
		if (b->addr == buf)
			break;
	if (!b)
		return -EINVAL;
	if (b->users)
		return -EBUSY;
	*pp = b->next;
	buf_end(f, b);
	return 0;
}

void vbd__bf_buffers_free(vbd_blkfront *f)
{
	vbd__bf_buf *b;

	while ((b = f->bufs)) {
		f->bufs = b->next;
		buf_end(f, b);
	}
}

/* One ring request for the next part of io: 0, -EAGAIN (no pages now) or
 * -errno (the I/O fails). */
static int issue(vbd_blkfront *f, vbd__bf_queue *q, vbd__bf_io *io)
{
	uint16_t handle = (uint16_t)f->o.devid;
	size_t chunk = 0;
	unsigned nseg = 0, nind = 0, id, i;
	vbd__bf_slot tmp = { 0 }, *s;
	vbd__bf_buf *zc = NULL;
	blkif_request_t *req;
	uint8_t op, sub = 0;
	int r;

	switch (io->op) {
	case VBD_BLKFRONT_FLUSH:
		op = f->info.flush ? BLKIF_OP_FLUSH_DISKCACHE : BLKIF_OP_WRITE_BARRIER;
		break;
	case VBD_BLKFRONT_DISCARD:
		op = BLKIF_OP_DISCARD;
		break;
	default:
		chunk = io->len - io->issued;
		if (chunk > (size_t)f->max_segs * VBD_PAGE_SIZE)
			chunk = (size_t)f->max_segs * VBD_PAGE_SIZE;
		zc = zc_buf(f, io->buf + io->issued, chunk);
		nseg = (unsigned)((chunk + VBD_PAGE_SIZE - 1) / VBD_PAGE_SIZE);
		op = io->op == VBD_BLKFRONT_READ ? BLKIF_OP_READ : BLKIF_OP_WRITE;
		if (nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
			nind = (nseg + VBD__BF_SEGS_PER_IND - 1) / VBD__BF_SEGS_PER_IND;
			sub = op;
			op = BLKIF_OP_INDIRECT;
		}
		break;
	}

	/* Pages first: the ring slot is taken only once nothing can fail.
	 * vbd__bf_ring_next() hands out the id on top of the free stack. */
	/* From the frontend's pages: the data pages, then the indirect ones;
	 * with the caller's granted buffer (zc), only the indirect ones, at
	 * the slot's first places. */
	if (nseg && (!zc || nind)) {
		s = &q->slots[q->ring.free_ids[q->ring.nfree - 1]];
		tmp.pages = s->pages;
		tmp.refs = s->refs;
		r = pages_get(f, q, &tmp, zc ? nind : nseg + nind);
		if (r < 0)
			return r;
	}
	req = vbd__bf_ring_next(&q->ring, op, sub, &id);
	s = &q->slots[id];
	s->io = io;
	s->buf_off = io->issued;
	s->len = chunk;
	s->npages = zc ? 0 : nseg;
	s->nind = nind;
	s->share = tmp.share;
	s->zc = zc;
	if (zc)
		zc->users++;

	if (io->op == VBD_BLKFRONT_FLUSH) {
		req->nr_segments = 0;
		req->handle = handle;
		io->issued = 1;
	} else if (io->op == VBD_BLKFRONT_DISCARD) {
		blkif_request_discard_t *d = (blkif_request_discard_t *)req;

		d->flag = 0;
		d->handle = handle;
		d->sector_number = io->offset >> 9;
		d->nr_sectors = io->len >> 9;
		io->issued = io->len ? io->len : 1;
	} else {
		struct blkif_request_segment *seg = req->seg;
		uint64_t sector = (io->offset + io->issued) >> 9;
		unsigned ind0 = zc ? 0 : nseg;      /* where the indirect pages are */

		for (i = 0; i < nseg; i++) {
			size_t at = (size_t)i * VBD_PAGE_SIZE;
			size_t n = chunk - at < VBD_PAGE_SIZE ? chunk - at : VBD_PAGE_SIZE;

			if (!zc && io->op == VBD_BLKFRONT_WRITE)
				memcpy(page_addr(f, s, i), io->buf + io->issued + at, n);
			if (nind) {
				seg = page_addr(f, s, ind0 + i / VBD__BF_SEGS_PER_IND);
				seg += i % VBD__BF_SEGS_PER_IND;
			} else {
				seg = &req->seg[i];
			}
			seg->gref = zc ? zc->refs[(size_t)(io->buf + io->issued + at - zc->addr) /
			                          VBD_PAGE_SIZE]
			               : s->refs[i];
			seg->first_sect = 0;
			seg->last_sect = (uint8_t)((n >> 9) - 1);
		}
		if (nind) {
			blkif_request_indirect_t *ind = (blkif_request_indirect_t *)req;

			ind->indirect_op = sub;
			ind->nr_segments = (uint16_t)nseg;
			ind->sector_number = sector;
			ind->handle = handle;
			for (i = 0; i < nind; i++)
				ind->indirect_grefs[i] = s->refs[ind0 + i];
		} else {
			req->nr_segments = (uint8_t)nseg;
			req->handle = handle;
			req->sector_number = sector;
		}
		io->issued += chunk;
	}
	io->inflight++;
	q->notify = true;
	return 0;
}

static bool anything_inflight(vbd_blkfront *f)
{
	unsigned i;

	for (i = 0; i < f->nq; i++)
		if (vbd__bf_ring_inflight(&f->q[i].ring))
			return true;
	return false;
}

void vbd__bf_pump(vbd_blkfront *f)
{
	vbd__bf_io *io;
	unsigned i;
	bool notify;

	while ((io = f->wait_head) && f->connected && !f->broken) {
		vbd__bf_queue *q;
		int r;

		if (!io_issued(io)) {
			q = pick_queue(f);
			if (!q)
				break;
			r = issue(f, q, io);
			if (r == -EAGAIN)
				break;
			if (r < 0) {
				/* No pages now: wait for responses to free some,
				 * unless nothing is in flight to do so. */
				if ((r == -ENOSPC || r == -ENOMEM) && anything_inflight(f))
					break;
				vbd__bf_log(f, VBD_LOG_WARNING, "I/O at %llu failed: %s",
				            (unsigned long long)io->offset, vbd_strerror(r));
				io->result = r;
			}
			if (!io_issued(io))
				continue;
		}
		f->wait_head = io->next;
		if (!f->wait_head)
			f->wait_tail = &f->wait_head;
		io->queued = false;
		if (io->inflight == 0)
			io_finish(f, io);
	}
	for (i = 0; i < f->nq; i++) {
		vbd__bf_queue *q = &f->q[i];

		if (!q->notify)
			continue;
		q->notify = false;
		notify = vbd__bf_ring_push(&q->ring);
		vbd__crashpoint("blkfront.request-pushed");
		if (notify) {
			vbd_evtchn_notify(q->evtchn, q->port);
			f->info.notifies++;
		}
	}
}

static void complete(vbd_blkfront *f, vbd__bf_queue *q, const vbd__bf_rsp *rsp)
{
	vbd__bf_slot *s = &q->slots[rsp->id];
	vbd__bf_io *io = s->io;
	unsigned i;

	if (io) {
		if (rsp->result == 0 && io->op == VBD_BLKFRONT_READ) {
			for (i = 0; i < s->npages; i++) {
				size_t at = (size_t)i * VBD_PAGE_SIZE;
				size_t n = s->len - at < VBD_PAGE_SIZE ? s->len - at : VBD_PAGE_SIZE;

				memcpy(io->buf + s->buf_off + at, page_addr(f, s, i), n);
			}
		}
		if (rsp->result == -EOPNOTSUPP && io->op == VBD_BLKFRONT_FLUSH) {
			/* As Linux: the backend cannot flush after all. */
			vbd__bf_log(f, VBD_LOG_WARNING, "the backend refused a flush: disabled");
			f->info.flush = f->info.barrier = false;
		}
		if (rsp->result == -EOPNOTSUPP && io->op == VBD_BLKFRONT_DISCARD) {
			vbd__bf_log(f, VBD_LOG_WARNING, "the backend refused a discard: disabled");
			f->info.discard = false;
		}
		if (rsp->result < 0 && io->result == 0)
			io->result = rsp->result == -EOPNOTSUPP &&
			             io->op != VBD_BLKFRONT_FLUSH && io->op != VBD_BLKFRONT_DISCARD
			             ? -EIO : rsp->result;
		io->inflight--;
		s->io = NULL;
		if (io->inflight == 0 && !io->queued)
			io_finish(f, io);
	}
	if (s->zc) {
		s->zc->users--;
		s->zc = NULL;
	}
	pages_put(f, q, s);
}

int vbd__bf_collect(vbd_blkfront *f)
{
	vbd__bf_rsp rsp[COLLECT_BATCH];
	unsigned i;
	int n, k;

	for (i = 0; i < f->nq && !f->broken; i++) {
		vbd__bf_queue *q = &f->q[i];

		q->ring.polling = f->poll_ns != 0;
		do {
			n = vbd__bf_ring_collect(&q->ring, rsp, COLLECT_BATCH);
			/* Consumed: rsp_event is behind rsp_cons again. */
			if (n > 0 && q->ring.polling)
				f->armed = false;
			for (k = 0; k < n; k++)
				complete(f, q, &rsp[k]);
		} while (n == (int)COLLECT_BATCH);
		if (q->ring.broken) {
			vbd__bf_fatal(f, EPROTO, "queue %u: %s", i, q->ring.why);
			return -EPROTO;
		}
	}
	return 0;
}

void vbd__bf_fail_all(vbd_blkfront *f, int result)
{
	vbd__bf_io *io;
	unsigned i, j;

	while ((io = f->wait_head)) {
		f->wait_head = io->next;
		if (io->result == 0)
			io->result = result;
		io->next = NULL;
		io->queued = false;
		if (io->inflight == 0)
			io_finish(f, io);
	}
	f->wait_tail = &f->wait_head;
	/* The requests in flight are never answered now: their slots let go
	 * of the I/O (their pages stay granted until teardown). */
	for (i = 0; i < f->nq; i++) {
		for (j = 0; f->q[i].slots && j < f->q[i].ring.size; j++) {
			vbd__bf_slot *s = &f->q[i].slots[j];

			if (!(io = s->io))
				continue;
			s->io = NULL;
			if (io->result == 0)
				io->result = result;
			if (--io->inflight == 0)
				io_finish(f, io);
		}
	}
}

void vbd__bf_run_callbacks(vbd_blkfront *f)
{
	vbd__bf_io *io;

	/* Detach the list first: a callback may submit, and what it submits
	 * completes in a later round. */
	io = f->done_head;
	f->done_head = NULL;
	f->done_tail = &f->done_head;
	f->in_callbacks = true;
	while (io) {
		vbd__bf_io *next = io->next;

		f->ios--;
		io->done(io->result, io->ud);
		free(io);
		io = next;
	}
	f->in_callbacks = false;
	/* What the callbacks submitted, in one batch. */
	vbd__bf_pump(f);
}

void vbd__bf_drop_callbacks(vbd_blkfront *f)
{
	vbd__bf_io *io;

	vbd__bf_fail_all(f, -ECANCELED);
	while ((io = f->done_head)) {
		f->done_head = io->next;
		free(io);
	}
	f->done_tail = &f->done_head;
	f->ios = 0;
}
