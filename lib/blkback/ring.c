/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One ring (queue) of a device: its mapping, its event channel and the
 * data path.  Its worker thread (worker.c) runs one of two engines, chosen
 * at connect: the io_uring one (uring.c, many requests in flight) or,
 * where io_uring is unavailable or not wanted, the synchronous one below.
 *
 * The synchronous worker takes one request at a time: copy the entry out of
 * the ring (once), consume it, check the copy, map its grants,
 * pread/pwrite, unmap, answer, push.  So every response is written before the next request is
 * taken, no slot is ever reused while in use, and a ring of any size needs
 * no request table.  Queues give the parallelism (one worker each).
 *
 *     req_prod 5, req_cons 3 -> take 3, answer, take 4, answer;
 *     final check: none left, req_event = 6, sleep on the event channel
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "blkback/blkback.h"
#include "transport/run.h"
#include "util/crashpoint.h"

unsigned vbd__bb_pgrant_limit(unsigned pgrants_max, unsigned ring_size, unsigned max_indirect)
{
	uint64_t segs = max_indirect > BLKIF_MAX_SEGMENTS_PER_REQUEST ? max_indirect
	                                                               : BLKIF_MAX_SEGMENTS_PER_REQUEST;
	/* An indirect request's own pages are cached too. */
	uint64_t ind = max_indirect > BLKIF_MAX_SEGMENTS_PER_REQUEST
	               ? (segs + VBD__BB_SEGS_PER_PAGE - 1) / VBD__BB_SEGS_PER_PAGE : 0;
	uint64_t most = (uint64_t)ring_size * (segs + ind);

	return most < pgrants_max ? (unsigned)most : pgrants_max;
}

static void scratch_point(vbd__bb_ring *r, void *p, unsigned n)
{
	char *c = p;

	r->segs = (struct blkif_request_segment *)c;
	c += n * sizeof(*r->segs);
	r->pages_of = (void **)c;
	c += n * sizeof(*r->pages_of);
	r->iov = (struct iovec *)c;
	c += n * sizeof(*r->iov);
	r->refs = (uint32_t *)c;
	c += n * sizeof(*r->refs);
	r->seen = (uint16_t *)c;
	r->scratch_n = n;
}

_Static_assert(sizeof(((vbd__bb_ring *)0)->direct.seen) / sizeof(uint16_t) >=
               2 * BLKIF_MAX_SEGMENTS_PER_REQUEST, "a direct request's duplicate check fits");

static void scratch_inline(vbd__bb_ring *r)
{
	r->segs = r->direct.segs;
	r->refs = r->direct.refs;
	r->seen = r->direct.seen;
	r->pages_of = r->direct.pages_of;
	r->iov = r->direct.iov;
	r->scratch_n = BLKIF_MAX_SEGMENTS_PER_REQUEST;
}

int vbd__bb_ring_scratch(vbd__bb_ring *r, unsigned n)
{
	size_t page, one, bytes;
	unsigned offered = r->dev->b->max_indirect, want = n;
	void *p;

	if (n <= r->scratch_n)
		return 0;
	page = (size_t)sysconf(_SC_PAGESIZE);
	/* Doubling, so that a frontend raising its request size step by step
	 * remaps a few times, not once per size; never past what was offered
	 * (the request was checked against it). */
	if (n < 2 * r->scratch_n)
		n = 2 * r->scratch_n;
	if (n > offered)
		n = offered > want ? offered : want;
	one = sizeof(*r->segs) + sizeof(*r->pages_of) + sizeof(*r->iov) + sizeof(*r->refs);
	bytes = (size_t)n * one + vbd__bb_seen_cap(n) * sizeof(*r->seen);
	bytes = (bytes + page - 1) / page * page;
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	/* Nothing in it outlives a request: no copy. */
	if (r->scratch_map) {
		munmap(r->scratch_map, r->scratch_bytes);
		vbd__bb_mem_sub(r, r->scratch_bytes);
	}
	r->scratch_map = p;
	r->scratch_bytes = bytes;
	vbd__bb_mem_add(r, bytes);
	scratch_point(r, p, n);
	return 0;
}

void vbd__bb_ring_init(vbd__bb_ring *r, vbd__bb_dev *d, unsigned index, enum vbd__bb_abi abi,
                       bool persistent)
{
	memset(r, 0, sizeof(*r));
	r->dev = d;
	r->index = index;
	r->abi = abi;
	r->persistent = persistent;
	r->stop_fd = -1;
	/* Without the kernel's randomness the key is fixed: the check stays
	 * right, only its worst case (all refs colliding) is open to a
	 * frontend that picks them. */
	if (getrandom(&r->ref_key, sizeof(r->ref_key), GRND_NONBLOCK) != sizeof(r->ref_key))
		r->ref_key = 0x9E3779B1u;
	r->ref_key |= 1u;
	scratch_inline(r);
	vbd__pgrant_init(&r->pg, 0);
}

/* Rings mapped together: VBD__XOP_RUN_MAX operations a run, two a ring. */
#define RUN_RINGS (VBD__XOP_RUN_MAX / 2)

/* rings[0..n)'s pages mapped and their ports bound, in one run: 0, or -errno
 * with why, nothing of the run's kept. */
static int rings_map_bind(vbd__bb_dev *d, unsigned first, unsigned n, const uint32_t *refs,
                          unsigned pages, const uint32_t *evtchns, char *why, size_t whylen)
{
	vbd_blkback *b = d->b;
	unsigned domid = d->fe_domid, i, failed;
	vbd__xop ops[2 * RUN_RINGS];
	void *sring[RUN_RINGS];
	uint32_t port[RUN_RINGS];
	int rc;

	for (i = 0; i < n; i++) {
		vbd__bb_ring *r = &d->rings[first + i];

		ops[2 * i] = (vbd__xop){ .op = VBD__XOP_MAP, .domid = domid, .count = pages,
		                         .writable = true,
		                         .refs = (uint32_t *)&refs[(size_t)(first + i) * pages],
		                         .addr = &sring[i] };
		ops[2 * i + 1] = (vbd__xop){ .op = VBD__XOP_BIND_INTERDOMAIN, .e = r->ev,
		                             .domid = domid, .remote_port = evtchns[first + i],
		                             .port = &port[i] };
	}
	rc = vbd__xport_run(b->x, ops, 2 * n, &failed);
	if (rc < 0) {
		i = first + failed / 2;
		if (failed % 2 == 0)
			snprintf(why, whylen, "mapping ring-ref %u (%u pages) of domain %u: %s",
			         refs[(size_t)i * pages], pages, domid, strerror(-rc));
		else
			snprintf(why, whylen, "binding event-channel %u of domain %u: %s", evtchns[i],
			         domid, strerror(-rc));
		return rc;
	}
	for (i = 0; i < n; i++) {
		vbd__bb_ring *r = &d->rings[first + i];

		r->sring = sring[i];
		r->pages = pages;
		r->port = port[i];
		r->bound = true;
	}
	return 0;
}

/* A mapped ring attached where the frontend's indexes say. */
static int ring_attach(vbd__bb_ring *r, char *why, size_t whylen)
{
	vbd_blkback *b = r->dev->b;
	size_t bytes = (size_t)r->pages * VBD_PAGE_SIZE;
	RING_IDX req_prod, rsp_prod;
	int rc;

	/* The frontend may reconnect with a ring it used before: start where
	 * its responses end, if its indexes are consistent.  Each index is read
	 * once. */
	req_prod = __atomic_load_n(&((blkif_sring_t *)r->sring)->req_prod, __ATOMIC_RELAXED);
	rsp_prod = __atomic_load_n(&((blkif_sring_t *)r->sring)->rsp_prod, __ATOMIC_RELAXED);
	if (r->abi == VBD__BB_ABI_X86_32) {
		BACK_RING_ATTACH(&r->br.x32, (vbd__blkif32_sring_t *)r->sring, rsp_prod, bytes);
		r->size = r->br.x32.nr_ents;
	} else {
		BACK_RING_ATTACH(&r->br.n64, (blkif_sring_t *)r->sring, rsp_prod, bytes);
		r->size = r->br.n64.nr_ents;
	}
	if (req_prod - rsp_prod > r->size) {
		snprintf(why, whylen, "ring %u: req_prod %u - rsp_prod %u exceeds the ring size %u",
		         r->index, req_prod, rsp_prod, r->size);
		return -EPROTO;
	}
	r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->stop_fd < 0) {
		rc = -errno;
		snprintf(why, whylen, "ring %u: eventfd: %s", r->index, strerror(errno));
		return rc;
	}
	/* Nothing is allocated for requests or grants not yet seen: the
	 * scratch and the grant table grow with what the frontend sends. */
	if (r->persistent)
		vbd__pgrant_init(&r->pg, vbd__bb_pgrant_limit(b->pgrants_max, r->size,
		                                              b->max_indirect));
	return 0;
}

int vbd__bb_rings_connect(vbd__bb_dev *d, const uint32_t *refs, unsigned pages,
                          const uint32_t *evtchns, char *why, size_t whylen)
{
	unsigned i, n;
	int rc;

	for (i = 0; i < d->nr_rings; i++) {
		rc = vbd_evtchn_open(d->b->x, &d->rings[i].ev);
		if (rc < 0) {
			d->rings[i].ev = NULL;
			snprintf(why, whylen, "opening an event channel: %s", strerror(-rc));
			return rc;
		}
	}
	/* Every ring's pages and port in one run: one round trip on the
	 * simulated hypervisor, not two per ring. */
	for (i = 0; i < d->nr_rings; i += n) {
		n = d->nr_rings - i < RUN_RINGS ? d->nr_rings - i : RUN_RINGS;
		rc = rings_map_bind(d, i, n, refs, pages, evtchns, why, whylen);
		if (rc < 0)
			return rc;
	}
	for (i = 0; i < d->nr_rings; i++)
		if ((rc = ring_attach(&d->rings[i], why, whylen)) < 0)
			return rc;
	return 0;
}

int vbd__bb_io_fd(vbd__bb_ring *r, const struct iovec *iov, unsigned cnt, off_t off)
{
	bool unaligned;
	int fd = vbd__bb_disk_fd_for(&r->dev->disk, iov, cnt, off, &unaligned);

	if (unaligned)
		VBD__BB_ADD(r->n.direct_unaligned, 1);
	return fd;
}

int vbd__bb_io_refused(vbd__bb_ring *r, int fd, int err)
{
	bool first;

	if (!vbd__bb_disk_direct_failed(&r->dev->disk, fd, err, &first))
		return -1;
	if (first)
		VBD__BB_ADD(r->dev->b->direct_refused, 1);
	return r->dev->disk.fd;
}

int vbd__bb_do_io(vbd__bb_ring *r, int fd, struct iovec *iov, unsigned cnt, off_t off, bool write)
{
	while (cnt > 0) {
		int c = cnt > IOV_MAX ? IOV_MAX : (int)cnt;
		ssize_t n = write ? pwritev(fd, iov, c, off) : preadv(fd, iov, c, off);

		if (n < 0) {
			int err = -errno, bfd;

			if (err == -EINTR)
				continue;
			/* O_DIRECT refused it: the rest goes buffered. */
			if ((bfd = vbd__bb_io_refused(r, fd, err)) >= 0) {
				fd = bfd;
				continue;
			}
			return err;
		}
		if (n == 0)
			return -EIO;   /* the target shrank under us */
		off += n;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
			if (fd != r->dev->disk.fd && !vbd__bb_disk_aligned(&r->dev->disk, iov, cnt, off))
				fd = r->dev->disk.fd;
		}
	}
	return 0;
}

void vbd__bb_rw_count(vbd__bb_ring *r, uint64_t nr_sectors, bool write)
{
	if (write)
		VBD__BB_ADD(r->n.bytes_written, nr_sectors * 512u);
	else
		VBD__BB_ADD(r->n.bytes_read, nr_sectors * 512u);
}

/* Reads or writes a checked request's segments, now. */
static int rw(vbd__bb_ring *r, const struct vbd__bb_req *req,
              const struct blkif_request_segment *segs, unsigned n, bool write)
{
	unsigned cnt, batch_n;
	void *base;
	int rc;

	rc = vbd__bb_rw_map(r, segs, n, write, r->seq, r->iov, &cnt, &base, &batch_n);
	if (rc < 0)
		return rc;
	rc = vbd__bb_do_io(r, vbd__bb_io_fd(r, r->iov, cnt, (off_t)(req->sector * 512u)), r->iov, cnt,
	                   (off_t)(req->sector * 512u), write);
	if (rc == 0)
		vbd__bb_rw_count(r, req->nr_sectors, write);
	vbd__bb_rw_unmap(r, base, batch_n);
	return rc;
}

/* The indirect pages' segment entries, copied into r->segs once; only the
 * copy is looked at.  The pages come from the persistent cache where it
 * holds them (a 1 MiB request's one page: no map and unmap per request),
 * else they are mapped read-only for this copy and unmapped. */
static int copy_indirect(vbd__bb_ring *r, const struct vbd__bb_req *req)
{
	void *pages[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	vbd_blkback *b = r->dev->b;
	unsigned i, left;
	void *base;
	int rc;

	if (vbd__bb_ind_pages(r, req->indirect_grefs, req->nr_indirect, pages) == 0) {
		for (i = 0, left = req->nr_segs; left; i++) {
			unsigned k = left < VBD__BB_SEGS_PER_PAGE ? left : VBD__BB_SEGS_PER_PAGE;

			memcpy(r->segs + (size_t)i * VBD__BB_SEGS_PER_PAGE, pages[i],
			       k * sizeof(*r->segs));
			left -= k;
		}
		return 0;
	}
	VBD__BB_ADD(r->n.grant_maps, 1);
	rc = vbd_gnt_map(b->x, r->dev->fe_domid, req->nr_indirect, req->indirect_grefs, false, &base);
	if (rc < 0)
		return rc;
	memcpy(r->segs, base, req->nr_segs * sizeof(*r->segs));
	vbd_gnt_unmap(b->x, base, req->nr_indirect);
	return 0;
}

/* As Linux's dispatch_rw_block_io() and dispatch_discard_io() count: a
 * barrier is a flush; an indirect request counts as the operation it
 * carries (req->kind). */
static void count_kind(vbd__bb_ring *r, uint8_t kind)
{
	switch (kind) {
	case BLKIF_OP_READ:
		VBD__BB_ADD(r->dn.rd_req, 1);
		break;
	case BLKIF_OP_WRITE:
		VBD__BB_ADD(r->dn.wr_req, 1);
		break;
	case BLKIF_OP_FLUSH_DISKCACHE:
	case BLKIF_OP_WRITE_BARRIER:
		VBD__BB_ADD(r->dn.f_req, 1);
		break;
	case BLKIF_OP_DISCARD:
		VBD__BB_ADD(r->dn.ds_req, 1);
		break;
	}
}

static void limits_of(const vbd__bb_ring *r, struct vbd__bb_limits *l)
{
	const vbd__bb_dev *d = r->dev;

	*l = (struct vbd__bb_limits){
		.sectors = __atomic_load_n(&d->disk.sectors, __ATOMIC_RELAXED),
		.max_indirect = d->b->max_indirect,
		.readonly = d->disk.readonly,
		.discard = d->disk.discard,
		.discard_secure = false,
		.persistent = r->persistent,
		.ref_key = r->ref_key,
	};
}

int vbd__bb_req_take(vbd__bb_ring *r, const void *entry, struct vbd__bb_req *req)
{
	struct vbd__bb_limits l;

	limits_of(r, &l);
	return vbd__bb_req_decode(r->abi, entry, &l, req);
}

int vbd__bb_req_begin(vbd__bb_ring *r, struct vbd__bb_req *req,
                      const struct blkif_request_segment **ret_segs)
{
	vbd__bb_dev *d = r->dev;
	struct vbd__bb_limits l;
	const struct blkif_request_segment *segs = req->seg;
	int st, rc;

	limits_of(r, &l);
	count_kind(r, req->kind);
	if (req->kind == BLKIF_OP_DISCARD) {
		rc = vbd__bb_disk_discard(&d->disk, req->sector, req->nr_sectors, req->secure);
		return rc == 0 ? BLKIF_RSP_OKAY : rc == -EOPNOTSUPP ? BLKIF_RSP_EOPNOTSUPP
		                                                    : BLKIF_RSP_ERROR;
	}
	if (vbd__bb_ring_scratch(r, req->nr_segs) < 0)
		return BLKIF_RSP_ERROR;
	if (req->op == BLKIF_OP_INDIRECT) {
		if (copy_indirect(r, req) < 0)
			return BLKIF_RSP_ERROR;
		segs = r->segs;
	}
	if (!req->nr_segs)
		return BLKIF_RSP_OKAY;
	st = vbd__bb_req_check_segs(&l, req, segs, req->nr_segs, r->seen);
	if (st != BLKIF_RSP_OKAY)
		return (int16_t)st;
	if (req->kind == BLKIF_OP_READ)
		VBD__BB_ADD(r->dn.rd_sect, req->nr_sectors);
	else
		VBD__BB_ADD(r->dn.wr_sect, req->nr_sectors);
	r->seq++;
	*ret_segs = segs;
	return VBD__BB_REQ_RW;
}

int16_t vbd__bb_req_exec(vbd__bb_ring *r, struct vbd__bb_req *req)
{
	const struct blkif_request_segment *segs;
	int st;

	st = vbd__bb_req_begin(r, req, &segs);
	if (st == VBD__BB_REQ_RW &&
	    rw(r, req, segs, req->nr_segs, req->kind != BLKIF_OP_READ) < 0)
		return BLKIF_RSP_ERROR;
	if (st != VBD__BB_REQ_RW && st != BLKIF_RSP_OKAY)
		return (int16_t)st;
	/* A flush or barrier completes once what came before it and its own
	 * data are durable; earlier requests of this ring are done already
	 * (the io_uring engine drains its in-flight requests before it runs
	 * one). */
	if (req->kind == BLKIF_OP_FLUSH_DISKCACHE || req->kind == BLKIF_OP_WRITE_BARRIER)
		if (vbd__bb_disk_flush(&r->dev->disk) < 0)
			return BLKIF_RSP_ERROR;
	return BLKIF_RSP_OKAY;
}

/* Acts on one copied entry now; returns the response status. */
static int16_t handle(vbd__bb_ring *r, const void *entry, struct vbd__bb_req *req)
{
	int st = vbd__bb_req_take(r, entry, req);

	return st != BLKIF_RSP_OKAY ? (int16_t)st : vbd__bb_req_exec(r, req);
}

void vbd__bb_rsp_put(vbd__bb_ring *r, const struct vbd__bb_req *req, int16_t st)
{
	VBD__BB_ADD(r->n.requests, 1);
	if (st == BLKIF_RSP_ERROR)
		VBD__BB_ADD(r->n.errors, 1);
	else if (st == BLKIF_RSP_EOPNOTSUPP)
		VBD__BB_ADD(r->n.unsupported, 1);
	ON_RING(r, R, {
		vbd__bb_rsp_write(r->abi, RING_GET_RESPONSE(R, R->rsp_prod_pvt), req, st);
		R->rsp_prod_pvt++;
	});
}

void vbd__bb_rsp_push(vbd__bb_ring *r)
{
	bool notify;

	/* The macro's xen_wmb orders the responses before rsp_prod, and its
	 * xen_mb orders rsp_prod before the read of rsp_event. */
	ON_RING(r, R, RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(R, notify));
	VBD__BB_ADD(r->n.rsp_pushes, 1);
	vbd__crashpoint("blkback.response-pushed");
	if (notify) {
		VBD__BB_ADD(r->n.notifies, 1);
		vbd_evtchn_notify(r->ev, r->port);
	}
}

int vbd__bb_ring_peek(vbd__bb_ring *r, RING_IDX *ret_cons, RING_IDX *ret_prod)
{
	ON_RING(r, R, {
		*ret_cons = R->req_cons;
		*ret_prod = __atomic_load_n(&R->sring->req_prod, __ATOMIC_RELAXED);
		/* The entries up to req_prod are read after it. */
		xen_rmb();
		if (RING_REQUEST_PROD_OVERFLOW(R, *ret_prod)) {
			snprintf(r->why, sizeof(r->why),
			         "ring %u: req_prod %u is more than %u ahead of rsp_prod %u", r->index,
			         *ret_prod, r->size, R->rsp_prod_pvt);
			return -EPROTO;
		}
	});
	return 0;
}

int vbd__bb_sync_pass(vbd__bb_ring *r)
{
	union {
		blkif_request_t n64;
		union vbd__blkif32_request x32;
	} copy;
	struct vbd__bb_req req;
	RING_IDX rc = 0, rp = 0;
	int16_t st;

	if (vbd__bb_ring_peek(r, &rc, &rp) < 0)
		return -EPROTO;
	while (rc != rp) {
		ON_RING(r, R, {
			if (RING_REQUEST_CONS_OVERFLOW(R, rc))
				return 1;
			if (r->abi == VBD__BB_ABI_X86_32)
				RING_COPY_REQUEST(&r->br.x32, rc, &copy.x32);
			else
				RING_COPY_REQUEST(&r->br.n64, rc, &copy.n64);
			/* Consumed before it is answered: the slot is ours to
			 * overwrite with the response. */
			R->req_cons = ++rc;
		});
		vbd__crashpoint("blkback.request-taken");
		st = handle(r, &copy, &req);
		vbd__crashpoint("blkback.io-done");
		vbd__bb_rsp_put(r, &req, st);
		vbd__bb_rsp_push(r);
	}
	return vbd__bb_ring_more(r) ? 1 : 0;
}

int vbd__bb_ring_more(vbd__bb_ring *r)
{
	int more = 0;

	if (r->polling) {
		/* req_event stays behind req_cons, so that the frontend's
		 * RING_PUSH_REQUESTS_AND_CHECK_NOTIFY does not notify. */
		ON_RING(r, R, more = __atomic_load_n(&R->sring->req_prod, __ATOMIC_RELAXED) !=
		                     R->req_cons);
		return more;
	}
	/* RING_FINAL_CHECK's xen_mb orders the write of req_event before the
	 * re-read of req_prod, so a request pushed in between is seen here or
	 * notified. */
	ON_RING(r, R, RING_FINAL_CHECK_FOR_REQUESTS(R, more));
	return more;
}

static void fold(uint64_t *to, uint64_t *from)
{
	*to += __atomic_exchange_n(from, 0, __ATOMIC_RELAXED);
}

void vbd__bb_ring_disconnect(vbd__bb_ring *r)
{
	vbd_blkback *b = r->dev->b;
	void *addr;

	/* Before the channel's fd is closed below. */
	vbd__xb_io_cancel(b->bus, r->arm);
	r->arm = NULL;
	if (r->running) {
		(void)!write(r->stop_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
		pthread_join(r->thread, NULL);
		r->running = false;
	}
	vbd__bb_uring_close(r);
	if (r->stack)
		munmap(r->stack, r->stack_bytes);
	r->stack = NULL;
	while ((addr = vbd__pgrant_pop(&r->pg))) {
		vbd_gnt_unmap(b->x, addr, 1);
		vbd__bb_budget_put(b, 1);
	}
	__atomic_store_n(&r->n.pgrants, 0, __ATOMIC_RELAXED);
	vbd__bb_mem_sub(r, r->pg.bytes);
	vbd__pgrant_done(&r->pg);
	fold(&b->done.requests, &r->n.requests);
	fold(&b->done.errors, &r->n.errors);
	fold(&b->done.unsupported, &r->n.unsupported);
	fold(&b->done.bytes_read, &r->n.bytes_read);
	fold(&b->done.bytes_written, &r->n.bytes_written);
	fold(&b->done.grant_maps, &r->n.grant_maps);
	fold(&b->done.pgrant_hits, &r->n.pgrant_hits);
	fold(&b->done.pgrant_evictions, &r->n.pgrant_evictions);
	fold(&b->done.pgrant_uncached, &r->n.pgrant_uncached);
	fold(&b->done.pgrant_map_failures, &r->n.pgrant_map_failures);
	fold(&b->done.direct_unaligned, &r->n.direct_unaligned);
	fold(&b->done.rsp_pushes, &r->n.rsp_pushes);
	fold(&b->done.notifies, &r->n.notifies);
	fold(&b->done.cached_reads, &r->n.cached_reads);
	fold(&r->dev->dn_done.oo_req, &r->dn.oo_req);
	fold(&r->dev->dn_done.rd_req, &r->dn.rd_req);
	fold(&r->dev->dn_done.wr_req, &r->dn.wr_req);
	fold(&r->dev->dn_done.f_req, &r->dn.f_req);
	fold(&r->dev->dn_done.ds_req, &r->dn.ds_req);
	fold(&r->dev->dn_done.rd_sect, &r->dn.rd_sect);
	fold(&r->dev->dn_done.wr_sect, &r->dn.wr_sect);
	if (r->bound)
		vbd_evtchn_unbind(r->ev, r->port);
	r->bound = false;
	r->ev = vbd_evtchn_close(r->ev);
	if (r->sring)
		vbd_gnt_unmap(b->x, r->sring, r->pages);
	r->sring = NULL;
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	r->stop_fd = -1;
	if (r->scratch_map) {
		munmap(r->scratch_map, r->scratch_bytes);
		vbd__bb_mem_sub(r, r->scratch_bytes);
	}
	r->scratch_map = NULL;
	r->scratch_bytes = 0;
	scratch_inline(r);
}
