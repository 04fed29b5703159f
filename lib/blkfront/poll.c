/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The frontend's busy-poll (options.poll_us), at the end of process().
 *
 * What a sleep would cost the backend is a notify and this thread a
 * wakeup (tens of microseconds for both in a VM); a response often comes
 * sooner.  So with poll_us the rings are watched that long first, with
 * rsp_event left behind rsp_cons, which tells the backend not to notify
 * (RING_PUSH_RESPONSES_AND_CHECK_NOTIFY compares it with the old rsp_prod).
 * Only when the bound passes is rsp_event set and the ring looked at once
 * more, as RING_FINAL_CHECK_FOR_RESPONSES does, before the caller sleeps:
 *
 *   QD1, poll_us 50: push request 7; spin 9 us; rsp_prod 7 -> 8: ready,
 *   the caller's loop comes back at once (get_timeout_ms() 0), and
 *   process() collects it and runs its callback first, before any system
 *   call: the callback's next request is on the ring at once;
 *   idle: nothing in flight, no spin, rsp_event left behind; the next
 *   request is pushed unarmed, so get_timeout_ms() says 0 and the next
 *   process() spins for it.  The rings are armed only when a spin
 *   ends without a response, and stay so until one is collected.
 */
#include "blkfront/blkfront.h"
#include "util/spin.h"

static bool inflight(vbd_blkfront *f)
{
	unsigned i;

	for (i = 0; i < f->nq; i++)
		if (vbd__bf_ring_inflight(&f->q[i].ring))
			return true;
	return false;
}

void vbd__bf_poll(vbd_blkfront *f)
{
	uint64_t end;
	unsigned i;
	bool more = false;

	f->rsp_ready = false;
	if (!f->poll_ns || !f->rings_up || f->broken || f->armed || !inflight(f))
		return;
	end = vbd__spin_clock_ns() + f->poll_ns;
	for (;;) {
		for (i = 0; i < f->nq; i++)
			if (vbd__bf_ring_ready(&f->q[i].ring)) {
				f->rsp_ready = true;
				return;
			}
		if (vbd__spin_clock_ns() >= end)
			break;
		vbd__cpu_relax();
	}
	for (i = 0; i < f->nq; i++)
		more |= vbd__bf_ring_arm(&f->q[i].ring);
	f->armed = true;
	f->rsp_ready = more;
}

bool vbd__bf_poll_due(vbd_blkfront *f)
{
	return f->rsp_ready ||
	       (f->poll_ns && !f->armed && f->rings_up && !f->broken && inflight(f));
}
