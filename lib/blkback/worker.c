/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A ring's worker thread: started at the ring's first event (the main
 * loop follows the event channel from Connected until then), it runs the
 * ring's engine pass after pass and sleeps on the channel between them,
 * or busy-polls first with poll_us.  ring.c connects and disconnects the
 * ring, and stops and joins the worker.
 *
 *     Connected: arm -> the bind's pending event taken, ring empty:
 *                the main loop follows the channel
 *     request 0 notified -> first_event -> worker: pass, pass, sleep
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blkback/blkback.h"
#include "util/spin.h"

/* Busy-polls up to the bound (options.poll_us) for a request on the ring
 * or a completion of the io_uring: true as soon as one is there, false
 * once the bound passed.  A sleep costs the frontend a notify and this
 * thread a wakeup; a request often comes sooner than that:
 *
 *   QD1, poll_us 50: answer request 7, spin; req_prod 8 after 12 us:
 *   take it without an event; idle 50 us: req_event = req_cons + 1, look
 *   once more (vbd__bb_ring_more), sleep on the event channel. */
static bool spin(vbd__bb_ring *r)
{
	uint64_t end = vbd__spin_clock_ns() + r->dev->b->poll_ns;
	RING_IDX cons = 0;

	ON_RING(r, R, cons = R->req_cons);
	for (;;) {
		RING_IDX prod = 0;

		ON_RING(r, R, prod = __atomic_load_n(&R->sring->req_prod, __ATOMIC_RELAXED));
		if (prod != cons || vbd__bb_uring_ready(r))
			return true;
		if (vbd__spin_clock_ns() >= end)
			return false;
		vbd__cpu_relax();
	}
}

static void *worker(void *arg)
{
	vbd__bb_ring *r = arg;
	bool poll_next = r->dev->b->poll_ns != 0;
	int rc;

	for (;;) {
		/* The io_uring's fd is readable once a completion waits. */
		struct pollfd p[3] = {
			{ .fd = vbd_evtchn_fd(r->ev), .events = POLLIN },
			{ .fd = r->stop_fd, .events = POLLIN },
			{ .fd = -1, .events = POLLIN },
		};

		/* With poll_us, every pass after work (or a wakeup) leaves
		 * req_event alone and is followed by a spin; the pass after a
		 * spin that found nothing arms req_event, then sleeps. */
		r->polling = poll_next;
		rc = r->u ? vbd__bb_uring_do_ring(r) : vbd__bb_sync_pass(r);
		if (rc < 0)
			break;
		if (rc > 0) {
			poll_next = r->dev->b->poll_ns != 0;
			continue;
		}
		if (r->polling) {
			poll_next = spin(r);
			continue;
		}
		poll_next = r->dev->b->poll_ns != 0;
		/* The io_uring's queue is made at the ring's first request:
		 * its fd is looked up after the pass. */
		p[2].fd = vbd__bb_uring_fd(r);
		if (poll(p, 3, -1) < 0 && errno != EINTR) {
			rc = -errno;
			snprintf(r->why, sizeof(r->why), "ring %u: poll: %s", r->index, strerror(errno));
			break;
		}
		if (p[1].revents) {
			vbd__bb_uring_drain(r);
			return NULL;
		}
		if (p[0].revents) {
			int port;

			/* Unmasked before the ring is read, so that an event
			 * for a request pushed meanwhile is not lost. */
			while ((port = vbd_evtchn_pending(r->ev)) >= 0)
				vbd_evtchn_unmask(r->ev, (uint32_t)port);
			if (port != -EAGAIN) {
				rc = port;
				snprintf(r->why, sizeof(r->why), "ring %u: event channel: %s", r->index,
				         strerror(-port));
				break;
			}
		}
	}
	/* Stopped: no I/O left in flight into the guest's pages; then tell
	 * the main thread, which writes the error node. */
	vbd__bb_uring_drain(r);
	__atomic_store_n(&r->failed, rc, __ATOMIC_RELEASE);
	(void)!write(r->dev->b->notify_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
	return NULL;
}

/* A worker needs little stack (its buffers are the ring's): 256 KiB, not
 * 8 MiB.  The stack is the ring's own mapping, unmapped when the worker is
 * joined: a stack glibc allocates goes to its cache of freed stacks (up to
 * 40 MiB), and the pages a worker touched stay in the RSS after its device
 * went. */
#define STACK_BYTES (256u * 1024)

int vbd__bb_ring_start(vbd__bb_ring *r)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	pthread_attr_t attr;
	sigset_t all, old;
	int rc;

	r->stack_bytes = STACK_BYTES + page;
	r->stack = mmap(NULL, r->stack_bytes, PROT_READ | PROT_WRITE,
	                MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (r->stack == MAP_FAILED) {
		r->stack = NULL;
		return -ENOMEM;
	}
	/* The lowest page is the guard an overflow faults on. */
	if (mprotect(r->stack, page, PROT_NONE) < 0 ||
	    (rc = -pthread_attr_init(&attr)) < 0) {
		rc = -ENOMEM;
		goto unmap;
	}
	pthread_attr_setstack(&attr, (char *)r->stack + page, STACK_BYTES);
	/* Signals stay with the caller's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&r->thread, &attr, worker, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc == 0) {
		r->running = true;
		return 0;
	}
unmap:
	munmap(r->stack, r->stack_bytes);
	r->stack = NULL;
	return rc;
}

/* The ring's first event: the worker takes over (the event is left
 * pending: the channel's fd is level-triggered, and the worker reads it). */
static void first_event(int fd, void *ud)
{
	vbd__bb_ring *r = ud;
	int rc;

	(void)fd;
	vbd__xb_io_cancel(r->dev->b->bus, r->arm);
	r->arm = NULL;
	rc = vbd__bb_ring_start(r);
	if (rc < 0)
		vbd__bb_fatal(r->dev, rc, "starting the worker of ring %u", r->index);
}

/* A worker starts when its ring is first used, not at Connected: a device
 * attached and idle (or not used yet) holds no thread, no stack and no
 * io_uring, and the handshake's last step makes no clone beside the
 * frontend's Connected step.  The first request waits for the start
 * instead, once. */
int vbd__bb_ring_arm(vbd__bb_ring *r)
{
	vbd_blkback *b = r->dev->b;
	int rc, port;

	/* The engine, chosen now, after Connected is written (it serves only
	 * the requests that follow): io_uring unless it is unavailable (built
	 * without it, refused by seccomp, an old kernel, RLIMIT_MEMLOCK) or
	 * VBD_BLKBACK_ENGINE=sync asks for the synchronous one.  Its queue
	 * comes at the first request (uring.c). */
	if (vbd__bb_uring_wanted()) {
		rc = vbd__bb_uring_open(r);
		if (rc < 0 && rc != -ENOSYS && !b->uring_warned) {
			b->uring_warned = true;
			vbd__bb_log(b, VBD_LOG_WARNING,
			            "io_uring unavailable (%s): rings use the synchronous engine",
			            strerror(-rc));
		}
	}
	/* The event the bind left pending (Xen sets a newly bound port
	 * pending, and so does the simulated hypervisor) is taken, then the
	 * ring looked at, as a worker's pass does: a request pushed before is
	 * seen here, one pushed after is notified. */
	while ((port = vbd_evtchn_pending(r->ev)) >= 0)
		vbd_evtchn_unmask(r->ev, (uint32_t)port);
	if (port != -EAGAIN || vbd__bb_ring_more(r))
		return vbd__bb_ring_start(r);
	return vbd__xb_io_add(b->bus, vbd_evtchn_fd(r->ev), first_event, r, &r->arm);
}
