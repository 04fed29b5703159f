/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The io_uring engine of a ring: many requests in flight, completions
 * reaped in batches.  Where the target completes I/O inside io_uring_enter
 * (its pages cached), each request is submitted and answered as it is
 * taken (flush()), and a read is first copied from the page cache without
 * the io_uring at all (cached_read()); else, one submission per batch taken
 * off the ring, one push and at most one notification per pass:
 *
 *     req_prod 8, req_cons 3, rsp_prod 3
 *       take 3..7 (five reads): five SQEs, one io_uring_enter
 *       completions of 5, 3, 4 reaped: slots 3, 4, 5 done
 *       responses 3, 4, 5 written, one push (rsp_prod 6), one notify
 *       6, 7 in flight: final check (req_event 9), sleep on the event
 *       channel and on the io_uring's fd
 *
 * Responses are written in ring order: request i's response goes out once
 * every request before it has its own.  So rsp_prod always means "every
 * request before it is answered", which is what a restarted backend relies
 * on when it attaches at rsp_prod and takes the rest again; a slow request
 * delays the responses after it, not their I/O.  A slot of the in-flight
 * table is the request's ring index modulo the ring size: the ring's own
 * overflow check (req_cons - rsp_prod_pvt < size) bounds what is in flight.
 *
 * A flush, a barrier and a discard drain first: what was taken before them
 * completes (its pages unmapped, its status known) before they run, on the
 * synchronous path, so a flush makes every earlier write durable.  A
 * request with more pieces than one readv takes (IOV_MAX) runs
 * synchronously too.  Persistent grants that an unanswered request uses are
 * never evicted (the cache's floor is the oldest unanswered request).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blkback/blkback.h"
#include "util/crashpoint.h"

bool vbd__bb_uring_wanted(void)
{
	const char *e = getenv("VBD_BLKBACK_ENGINE");

	return !e || strcmp(e, "sync") != 0;
}

#ifndef VBD_HAVE_LIBURING

bool vbd__bb_uring_built(void)
{
	return false;
}

int vbd__bb_uring_open(vbd__bb_ring *r)
{
	(void)r;
	return -ENOSYS;
}

void vbd__bb_uring_close(vbd__bb_ring *r)
{
	(void)r;
}

int vbd__bb_uring_fd(const vbd__bb_ring *r)
{
	(void)r;
	return -1;
}

int vbd__bb_uring_do_ring(vbd__bb_ring *r)
{
	(void)r;
	return -ENOSYS;
}

void vbd__bb_uring_drain(vbd__bb_ring *r)
{
	(void)r;
}

size_t vbd__bb_uring_bytes(const vbd__bb_ring *r)
{
	(void)r;
	return 0;
}

size_t vbd__bb_uring_queue_bytes(const vbd__bb_ring *r)
{
	(void)r;
	return 0;
}

bool vbd__bb_uring_ready(const vbd__bb_ring *r)
{
	(void)r;
	return false;
}

#else
#include <liburing.h>

enum { SLOT_FREE, SLOT_IO, SLOT_DONE };

struct slot {
	uint64_t id;
	uint64_t seq;              /* r->seq when taken: the cache's floor */
	uint64_t nr_sectors;
	off_t off;                 /* of what is left to transfer */
	size_t left;
	void *base;                /* the request's one-call mapping */
	unsigned batch_n;
	struct iovec *iov;         /* inl, or a grown array of cap */
	unsigned cap;
	struct iovec *cur;         /* what is left to transfer: cnt from cur */
	unsigned cnt;
	int fd;                    /* the target's descriptor it uses */
	int16_t status;
	uint8_t op, state;
	bool write;
	struct iovec inl[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};

struct vbd__bb_uring {
	struct io_uring q;         /* made at the first request (up) */
	bool up;
	struct slot *slots;        /* size; mapped at the first request */
	size_t slots_bytes, iov_bytes;
	size_t queue_bytes;        /* the SQ and CQ rings and the SQE array */
	unsigned size;
	unsigned inflight;         /* submitted (or queued), not completed */
	unsigned queued;           /* SQEs not yet submitted */
	/* The last submission was complete when io_uring_enter returned (a
	 * read or write of cached pages): each request is then submitted and
	 * answered as it is taken, not with its batch (see flush()). */
	bool inline_io;
	/* A buffered write was still in flight after its own submission: the
	 * kernel hands this target's buffered writes to its io-wq threads
	 * (ext4 does), which costs a thread's wake-up and one back for each.
	 * Such writes are done here, with pwritev, from then on (see take()). */
	bool punted_writes;
	/* preadv2(RWF_NOWAIT) refused (EOPNOTSUPP, EINVAL): reads go through
	 * the io_uring only (see cached_read()). */
	bool no_nowait;
	struct slot *last;         /* the request the last flush() submitted */
	/* The target's descriptors registered with the io_uring (0 the
	 * buffered one, 1 the O_DIRECT one or empty): an SQE names its index,
	 * and the kernel skips the lookup and the reference count of the
	 * file that a plain descriptor costs per request. */
	bool fixed;
};

bool vbd__bb_uring_built(void)
{
	return true;
}

static void mem_add(vbd__bb_ring *r, size_t n)
{
	VBD__BB_ADD(r->dev->b->mem, n);
}

static void mem_sub(vbd__bb_ring *r, size_t n)
{
	__atomic_fetch_sub(&r->dev->b->mem, n, __ATOMIC_RELAXED);
}

static size_t page_up(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (n + page - 1) / page * page;
}

/* What the kernel mapped into this process for q: the SQ ring (its head,
 * tail and index array), the CQ ring (with its CQEs; one mapping with the
 * SQ ring where the kernel has IORING_FEAT_SINGLE_MMAP) and the SQE array.
 * A one-page blkif ring (32 requests) costs three pages, or two with
 * SINGLE_MMAP; an order-4 ring (512 requests) 13 pages. */
static size_t queue_bytes(const struct io_uring *q)
{
	size_t sqe = sizeof(struct io_uring_sqe) << ((q->flags & IORING_SETUP_SQE128) ? 1 : 0);
	size_t n = page_up(q->sq.ring_sz) + page_up((size_t)q->sq.ring_entries * sqe);

	if (!(q->features & IORING_FEAT_SINGLE_MMAP))
		n += page_up(q->cq.ring_sz);
	return n;
}

/* The engine for r.  Its queue is made at the ring's first request
 * (queue_up()): an idle ring holds none (a one-page ring's costs 8 KiB of
 * kernel memory mapped into this process, 32 KiB for a device with four
 * queues).  Whether the kernel gives io_uring at all is asked once per
 * backend, here, with a queue of one entry, so that a kernel or a seccomp
 * policy that refuses it is logged as the ring starts (ring.c). */
int vbd__bb_uring_open(vbd__bb_ring *r)
{
	vbd_blkback *b = r->dev->b;
	struct vbd__bb_uring *u;

	if (b->uring_probe == 0) {
		struct io_uring q;
		int rc = io_uring_queue_init(1, &q, 0);

		if (rc == 0)
			io_uring_queue_exit(&q);
		b->uring_probe = rc == 0 ? 1 : rc;
	}
	if (b->uring_probe < 0)
		return b->uring_probe;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->size = r->size;
	u->inline_io = true;
	r->u = u;
	return 0;
}

/* The queue, at the first request: 0, or -errno (the ring then goes on
 * with the synchronous engine: RLIMIT_MEMLOCK spent by many rings, on a
 * kernel that counts io_uring's memory there). */
static int queue_up(vbd__bb_ring *r)
{
	struct vbd__bb_uring *u = r->u;
	int rc;

	/* At most r->size requests are unanswered, so the SQ never fills and
	 * the CQ (twice the SQ) never overflows. */
	rc = __atomic_load_n(&r->dev->b->uring_queue_fail, __ATOMIC_RELAXED);
	if (rc == 0)
		rc = io_uring_queue_init(u->size, &u->q, 0);
	if (rc < 0)
		return rc;
	u->up = true;
	u->queue_bytes = queue_bytes(&u->q);
	mem_add(r, u->queue_bytes);
	return 0;
}

static void iov_unmap(struct slot *s)
{
	if (s->iov != s->inl)
		munmap(s->iov, s->cap * sizeof(*s->iov));
}

void vbd__bb_uring_close(vbd__bb_ring *r)
{
	struct vbd__bb_uring *u = r->u;

	if (!u)
		return;
	if (u->slots) {
		for (unsigned i = 0; i < u->size; i++)
			iov_unmap(&u->slots[i]);
		munmap(u->slots, u->slots_bytes);
		mem_sub(r, u->slots_bytes + u->iov_bytes);
	}
	if (u->up) {
		io_uring_queue_exit(&u->q);
		mem_sub(r, u->queue_bytes);
	}
	free(u);
	r->u = NULL;
}

int vbd__bb_uring_fd(const vbd__bb_ring *r)
{
	return r->u && r->u->up ? r->u->q.ring_fd : -1;
}

bool vbd__bb_uring_ready(const vbd__bb_ring *r)
{
	/* The CQ tail is shared memory the kernel advances: no syscall. */
	return r->u && r->u->up && io_uring_cq_ready(&r->u->q) > 0;
}

size_t vbd__bb_uring_bytes(const vbd__bb_ring *r)
{
	return r->u ? r->u->slots_bytes + r->u->iov_bytes + r->u->queue_bytes : 0;
}

size_t vbd__bb_uring_queue_bytes(const vbd__bb_ring *r)
{
	return r->u ? r->u->queue_bytes : 0;
}

static int slots_alloc(vbd__bb_ring *r)
{
	struct vbd__bb_uring *u = r->u;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t bytes = ((size_t)u->size * sizeof(struct slot) + page - 1) / page * page;
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -ENOMEM;
	/* The target is open by now (the device connected); without the
	 * registration (an old kernel, RLIMIT_NOFILE) the descriptors are
	 * named as they are. */
	u->fixed = io_uring_register_files(&u->q, (int[]){ r->dev->disk.fd, r->dev->disk.dfd },
	                                   2) == 0;
	u->slots = p;
	u->slots_bytes = bytes;
	for (unsigned i = 0; i < u->size; i++) {
		u->slots[i].iov = u->slots[i].inl;
		u->slots[i].cap = BLKIF_MAX_SEGMENTS_PER_REQUEST;
	}
	mem_add(r, bytes);
	return 0;
}

/* A slot's iovec array for n segments: grown in pages of its own, not from
 * the heap, since the worker calls this (lib/transport/xport.c says why a
 * worker mallocs nothing). */
static int iov_room(vbd__bb_ring *r, struct slot *s, unsigned n)
{
	size_t page, bytes;
	struct iovec *v;

	if (n <= s->cap)
		return 0;
	page = (size_t)sysconf(_SC_PAGESIZE);
	bytes = ((size_t)n * sizeof(struct iovec) + page - 1) / page * page;
	v = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v == MAP_FAILED)
		return -ENOMEM;
	if (s->iov != s->inl) {
		iov_unmap(s);
		r->u->iov_bytes -= s->cap * sizeof(*v);
		mem_sub(r, s->cap * sizeof(*v));
	}
	s->iov = v;
	s->cap = (unsigned)(bytes / sizeof(*v));
	r->u->iov_bytes += bytes;
	mem_add(r, bytes);
	return 0;
}

static void prep(vbd__bb_ring *r, struct slot *s)
{
	struct vbd__bb_uring *u = r->u;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->q);

	int fd = s->fd;

	if (u->fixed)
		fd = s->fd == r->dev->disk.fd ? 0 : 1;
	/* Never NULL: no more SQEs are queued than slots are in flight.  One
	 * piece (a 4 KiB request, or pages that were mapped together) is a
	 * plain read or write: no iovec array for the kernel to copy in. */
	if (s->cnt == 1 && s->write)
		io_uring_prep_write(sqe, fd, s->cur->iov_base, (unsigned)s->cur->iov_len,
		                    (uint64_t)s->off);
	else if (s->cnt == 1)
		io_uring_prep_read(sqe, fd, s->cur->iov_base, (unsigned)s->cur->iov_len,
		                   (uint64_t)s->off);
	else if (s->write)
		io_uring_prep_writev(sqe, fd, s->cur, s->cnt, (uint64_t)s->off);
	else
		io_uring_prep_readv(sqe, fd, s->cur, s->cnt, (uint64_t)s->off);
	if (u->fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = (uint64_t)(s - u->slots);
	u->queued++;
}

static void submit(vbd__bb_ring *r)
{
	struct vbd__bb_uring *u = r->u;
	int rc;

	while (u->queued) {
		rc = io_uring_submit(&u->q);
		if (rc == -EINTR)
			continue;
		/* Anything else (EAGAIN, EBUSY: the kernel short of memory or
		 * of CQ room) leaves the SQEs queued: the next pass, or the
		 * drain, submits them. */
		if (rc <= 0)
			return;
		u->queued -= (unsigned)rc < u->queued ? (unsigned)rc : u->queued;
	}
}

/* Steps over n transferred bytes of s's iovecs. */
static void advance(struct slot *s, size_t n)
{
	s->off += (off_t)n;
	s->left -= n;
	while (s->cnt && n >= s->cur->iov_len) {
		n -= s->cur->iov_len;
		s->cur++;
		s->cnt--;
	}
	if (s->cnt) {
		s->cur->iov_base = (char *)s->cur->iov_base + n;
		s->cur->iov_len -= n;
	}
}

static void finish(vbd__bb_ring *r, struct slot *s, int16_t st)
{
	vbd__bb_rw_unmap(r, s->base, s->batch_n);
	s->base = NULL;
	if (st == BLKIF_RSP_OKAY)
		vbd__bb_rw_count(r, s->nr_sectors, s->write);
	s->status = st;
	s->state = SLOT_DONE;
}

static void complete(vbd__bb_ring *r, uint64_t data, int res)
{
	struct vbd__bb_uring *u = r->u;
	struct slot *s;
	int bfd;

	if (data >= u->size)
		return;   /* not ours: nothing else submits on this ring */
	s = &u->slots[data];
	if (res == -EAGAIN || res == -EINTR) {
		prep(r, s);
		return;
	}
	if (res < 0 && (bfd = vbd__bb_io_refused(r, s->fd, res)) >= 0) {
		/* O_DIRECT refused it: the rest again, buffered. */
		s->fd = bfd;
		prep(r, s);
		return;
	}
	if (res > 0 && (size_t)res < s->left) {
		/* Short: the rest goes again, from where it stopped (buffered
		 * if it is no longer aligned for O_DIRECT). */
		advance(s, (size_t)res);
		if (s->fd != r->dev->disk.fd && !vbd__bb_disk_aligned(&r->dev->disk, s->cur, s->cnt, s->off))
			s->fd = r->dev->disk.fd;
		prep(r, s);
		return;
	}
	u->inflight--;
	/* 0 before the end: the target shrank under us. */
	finish(r, s, res > 0 ? BLKIF_RSP_OKAY : BLKIF_RSP_ERROR);
	vbd__crashpoint("blkback.io-done");
}

static unsigned reap(vbd__bb_ring *r)
{
	struct vbd__bb_uring *u = r->u;
	struct io_uring_cqe *cqes[64];
	unsigned n, i, all = 0;

	do {
		n = io_uring_peek_batch_cqe(&u->q, cqes, 64);
		for (i = 0; i < n; i++)
			complete(r, cqes[i]->user_data, cqes[i]->res);
		io_uring_cq_advance(&u->q, n);
		all += n;
	} while (n == 64);
	return all;
}

/* Responses of the done slots at the head, in ring order; one push. */
static void publish(vbd__bb_ring *r)
{
	struct vbd__bb_uring *u = r->u;
	RING_IDX pvt = 0, cons = 0;
	unsigned n = 0;

	if (!u->slots)
		return;
	ON_RING(r, R, { pvt = R->rsp_prod_pvt; cons = R->req_cons; });
	for (; pvt != cons; pvt++, n++) {
		struct slot *s = &u->slots[pvt % u->size];
		struct vbd__bb_req req = { .id = s->id, .op = s->op };

		if (s->state != SLOT_DONE)
			break;
		vbd__bb_rsp_put(r, &req, s->status);
		s->state = SLOT_FREE;
	}
	if (n)
		vbd__bb_rsp_push(r);
}

void vbd__bb_uring_drain(vbd__bb_ring *r)
{
	struct vbd__bb_uring *u = r->u;
	int rc;

	if (!u || !u->slots)
		return;
	/* Pages the kernel may still write are not unmapped before their
	 * completion: wait for every one, however long.  What is still
	 * queued goes in the same call as the wait. */
	while (u->inflight) {
		rc = io_uring_submit_and_wait(&u->q, 1);
		if (rc > 0)
			u->queued -= (unsigned)rc < u->queued ? (unsigned)rc : u->queued;
		reap(r);
	}
	publish(r);
}

/* Submits what is queued, reaps what completed and answers it.  Whether
 * the kernel completed the submission before returning decides how the
 * next requests go (u->inline_io).  A target that answers from memory does
 * each request's copy inside io_uring_enter: batching those holds every
 * response of a batch until the last copy is done, and the frontend, which
 * could be taking them on the other CPU, waits.  Answered one by one, the
 * two sides overlap, as the synchronous engine's do (4 KiB reads at QD32:
 * 2x the rate; 1 MiB at QD8: 2.3x, on 2 CPUs).  A target that does not
 * complete inline (a disk, O_DIRECT) keeps one submission per batch: its
 * requests are in flight together either way, and the batch saves calls. */
static void flush(vbd__bb_ring *r)
{
	struct vbd__bb_uring *u = r->u;
	unsigned sent = u->queued;

	submit(r);
	if (sent && sent > u->queued)
		u->inline_io = reap(r) >= sent - u->queued;
	else
		reap(r);
	if (sent == 1 && u->last && u->last->state == SLOT_IO && u->last->write &&
	    u->last->fd == r->dev->disk.fd) {
		/* Says nothing of the target's reads: they stay inline. */
		u->punted_writes = true;
		u->inline_io = true;
	}
	u->last = NULL;
	/* Short transfers and EAGAIN were queued again by the reap. */
	submit(r);
	publish(r);
}

/* A read of the buffered target while the target answers from memory
 * (u->inline_io): preadv2(RWF_NOWAIT) copies what the page cache holds,
 * without an SQE, an io_uring_enter and a CQE around the copy (for want
 * of it the synchronous engine was the faster on cached 4 KiB reads,
 * bench/README.md).  True if that was
 * all of it; what the cache did not hold (EAGAIN, or a short count) goes
 * through the io_uring from where the copy stopped. */
static bool cached_read(vbd__bb_ring *r, struct slot *s)
{
	struct vbd__bb_uring *u = r->u;
	ssize_t n;

	if (s->write || !u->inline_io || u->no_nowait || s->fd != r->dev->disk.fd)
		return false;
	n = preadv2(s->fd, s->cur, (int)s->cnt, s->off, RWF_NOWAIT);
	if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL))
		u->no_nowait = true;    /* the kernel's or the file system's */
	if (n <= 0)
		return false;
	if ((size_t)n < s->left) {
		advance(s, (size_t)n);
		return false;
	}
	VBD__BB_ADD(r->n.cached_reads, 1);
	finish(r, s, BLKIF_RSP_OKAY);
	vbd__crashpoint("blkback.io-done");
	return true;
}

/* Acts on one taken entry: its slot is done, or its I/O queued. */
static void take(vbd__bb_ring *r, const void *entry, RING_IDX idx)
{
	struct vbd__bb_uring *u = r->u;
	struct slot *s = &u->slots[idx % u->size];
	const struct blkif_request_segment *segs;
	struct vbd__bb_req req;
	RING_IDX head = 0;
	int st;

	st = vbd__bb_req_take(r, entry, &req);
	s->id = req.id;
	s->op = req.op;
	s->seq = r->seq;
	s->state = SLOT_DONE;
	s->status = (int16_t)st;
	if (st != BLKIF_RSP_OKAY)
		return;
	if (req.kind == BLKIF_OP_FLUSH_DISKCACHE || req.kind == BLKIF_OP_WRITE_BARRIER ||
	    req.kind == BLKIF_OP_DISCARD) {
		/* Not counted as unanswered while earlier ones drain. */
		s->state = SLOT_FREE;
		vbd__bb_uring_drain(r);
		s->status = vbd__bb_req_exec(r, &req);
		s->state = SLOT_DONE;
		return;
	}
	st = vbd__bb_req_begin(r, &req, &segs);
	if (st != VBD__BB_REQ_RW) {
		s->status = (int16_t)st;
		return;
	}
	s->seq = r->seq;
	s->status = BLKIF_RSP_ERROR;
	s->base = NULL;
	if (iov_room(r, s, req.nr_segs) < 0)
		return;
	s->write = req.kind != BLKIF_OP_READ;
	s->nr_sectors = req.nr_sectors;
	s->off = (off_t)(req.sector * 512u);
	s->left = (size_t)req.nr_sectors * 512u;
	ON_RING(r, R, head = R->rsp_prod_pvt);
	if (vbd__bb_rw_map(r, segs, req.nr_segs, s->write, u->slots[head % u->size].seq, s->iov,
	                   &s->cnt, &s->base, &s->batch_n) < 0)
		return;
	s->cur = s->iov;
	s->fd = vbd__bb_io_fd(r, s->cur, s->cnt, s->off);
	if (s->cnt > IOV_MAX || (s->write && u->punted_writes && s->fd == r->dev->disk.fd)) {
		st = vbd__bb_do_io(r, s->fd, s->cur, s->cnt, s->off, s->write);
		finish(r, s, st == 0 ? BLKIF_RSP_OKAY : BLKIF_RSP_ERROR);
		vbd__crashpoint("blkback.io-done");
		return;
	}
	if (cached_read(r, s))
		return;
	s->state = SLOT_IO;
	u->inflight++;
	u->last = s;
	prep(r, s);
}

int vbd__bb_uring_do_ring(vbd__bb_ring *r)
{
	struct vbd__bb_uring *u = r->u;
	union {
		blkif_request_t n64;
		union vbd__blkif32_request x32;
	} copy;
	RING_IDX rc = 0, rp = 0;
	bool full = false;

	if (!u->up) {
		if (vbd__bb_ring_peek(r, &rc, &rp) < 0)
			return -EPROTO;
		if (rc == rp)
			return vbd__bb_ring_more(r) ? 1 : 0;
		if (queue_up(r) < 0) {
			/* This ring goes on with the synchronous engine: the
			 * worker's next pass (1: at once) takes the request. */
			vbd__bb_uring_close(r);
			return 1;
		}
	}
	reap(r);
	if (vbd__bb_ring_peek(r, &rc, &rp) < 0)
		return -EPROTO;
	/* The table is sized for a full ring, and made when the first
	 * request comes: an idle ring holds none. */
	if (rc != rp && !u->slots && slots_alloc(r) < 0) {
		snprintf(r->why, sizeof(r->why), "ring %u: no memory for its in-flight table",
		         r->index);
		return -ENOMEM;
	}
	while (rc != rp) {
		RING_IDX idx = rc;

		ON_RING(r, R, {
			/* Every slot unanswered: the rest waits for completions. */
			if (RING_REQUEST_CONS_OVERFLOW(R, rc)) {
				full = true;
				break;
			}
			if (r->abi == VBD__BB_ABI_X86_32)
				RING_COPY_REQUEST(&r->br.x32, rc, &copy.x32);
			else
				RING_COPY_REQUEST(&r->br.n64, rc, &copy.n64);
			/* Consumed before it is answered: the slot is ours to
			 * overwrite with a response. */
			R->req_cons = ++rc;
		});
		if (full)
			break;
		vbd__crashpoint("blkback.request-taken");
		take(r, &copy, idx);
		if (u->inline_io)
			flush(r);
	}
	/* One io_uring_enter for what is left of the batch. */
	flush(r);
	if (full)
		return u->inflight ? 0 : 1;
	return vbd__bb_ring_more(r) ? 1 : 0;
}

#endif
