/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The front end of one blkif ring: request ids, publishing requests, and
 * the checks every response passes before anything acts on it.
 *
 * The backend writes rsp_prod and the responses, and may write anything at
 * any time.  So rsp_prod is read once, checked against what we pushed, and
 * only then (after a read barrier) are the responses it covers copied out,
 * one at a time, and the copy checked:
 *
 *   pushed ids 3 and 7 (READ), rsp_cons 10, rsp_prod 12:
 *     12 - 10 = 2 <= 2 in flight              ok
 *     copy ring[10]: id 7, op READ, status 0  7 in flight, op matches: done
 *     copy ring[11]: id 7, ...                7 no longer in flight: broken
 *
 * A broken ring yields nothing more: the caller fails what was pending and
 * never reads a response (or a buffer) of it again.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blkfront/blkfront.h"

static int ring_break(vbd__bf_ring *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int ring_break(vbd__bf_ring *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->broken) {
		va_start(ap, fmt);
		vsnprintf(r->why, sizeof(r->why), fmt, ap);
		va_end(ap);
		r->broken = true;
	}
	return -EPROTO;
}

int vbd__bf_ring_init(vbd__bf_ring *r, void *sring, unsigned order)
{
	blkif_sring_t *s = sring;
	unsigned i;

	memset(r, 0, sizeof(*r));
	SHARED_RING_INIT(s);
	FRONT_RING_INIT(&r->fr, s, (size_t)VBD_PAGE_SIZE << order);
	r->size = RING_SIZE(&r->fr);
	r->op = calloc(r->size, sizeof(*r->op));
	r->sub_op = calloc(r->size, sizeof(*r->sub_op));
	r->busy = calloc(r->size, sizeof(*r->busy));
	r->free_ids = calloc(r->size, sizeof(*r->free_ids));
	if (!r->op || !r->sub_op || !r->busy || !r->free_ids) {
		vbd__bf_ring_done(r);
		return -ENOMEM;
	}
	/* Lowest ids first, so that a fresh ring uses 0, 1, 2... */
	for (i = 0; i < r->size; i++)
		r->free_ids[i] = r->size - 1 - i;
	r->nfree = r->size;
	return 0;
}

void vbd__bf_ring_done(vbd__bf_ring *r)
{
	free(r->op);
	free(r->sub_op);
	free(r->busy);
	free(r->free_ids);
	r->op = r->sub_op = NULL;
	r->busy = NULL;
	r->free_ids = NULL;
	r->nfree = 0;
}

unsigned vbd__bf_ring_inflight(const vbd__bf_ring *r)
{
	return r->size - r->nfree;
}

blkif_request_t *vbd__bf_ring_next(vbd__bf_ring *r, uint8_t op, uint8_t sub_op, unsigned *ret_id)
{
	blkif_request_t *req;
	unsigned id;

	/* Ids in flight and ring slots in use are the same count: an id is
	 * freed only when its response has been consumed. */
	if (r->broken || r->nfree == 0 || RING_FULL(&r->fr))
		return NULL;
	id = r->free_ids[--r->nfree];
	r->busy[id] = true;
	r->op[id] = op;
	r->sub_op[id] = sub_op;
	req = RING_GET_REQUEST(&r->fr, r->fr.req_prod_pvt);
	r->fr.req_prod_pvt++;
	memset(req, 0, sizeof(*req));
	req->operation = op;
	req->id = id;
	*ret_id = id;
	return req;
}

bool vbd__bf_ring_push(vbd__bf_ring *r)
{
	int notify;

	/* The macro's xen_wmb orders the request bodies before req_prod; its
	 * xen_mb orders req_prod before the read of the backend's req_event. */
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&r->fr, notify);
	r->pushes++;
	return notify;
}

static bool op_matches(const vbd__bf_ring *r, unsigned id, uint8_t op)
{
	if (op == r->op[id])
		return true;
	/* Linux blkback answers an indirect request with its indirect_op;
	 * echoing BLKIF_OP_INDIRECT itself is unambiguous too. */
	return r->op[id] == BLKIF_OP_INDIRECT && op == r->sub_op[id];
}

int vbd__bf_ring_collect(vbd__bf_ring *r, vbd__bf_rsp *out, unsigned max)
{
	unsigned n = 0;

	if (r->broken)
		return -EPROTO;
	while (n < max) {
		RING_IDX rp, cons = r->fr.rsp_cons;
		/* Requests pushed and not yet answered: the most responses
		 * the backend may have produced. */
		RING_IDX pending = r->fr.req_prod_pvt - cons;
		int more;

		rp = *(volatile RING_IDX *)&r->fr.sring->rsp_prod;
		/* Read rsp_prod before the responses it publishes. */
		xen_rmb();
		if ((RING_IDX)(rp - cons) > pending) {
			ring_break(r, "rsp_prod %u: %u responses for %u requests in flight", rp,
			           rp - cons, pending);
			goto broken;
		}
		while (cons != rp && n < max) {
			blkif_response_t rsp;
			unsigned id;

			RING_COPY_RESPONSE(&r->fr, cons, &rsp);
			if (rsp.id >= r->size) {
				ring_break(r, "response %u: id %llu is not a ring slot", cons,
				           (unsigned long long)rsp.id);
				goto broken;
			}
			id = (unsigned)rsp.id;
			if (!r->busy[id]) {
				ring_break(r, "response %u: id %u has no request in flight", cons, id);
				goto broken;
			}
			if (!op_matches(r, id, rsp.operation)) {
				ring_break(r, "response %u: id %u answers operation %u, not %u", cons,
				           id, rsp.operation, r->op[id]);
				goto broken;
			}
			switch (rsp.status) {
			case BLKIF_RSP_OKAY:
				out[n].result = 0;
				break;
			case BLKIF_RSP_ERROR:
				out[n].result = -EIO;
				break;
			case BLKIF_RSP_EOPNOTSUPP:
				out[n].result = -EOPNOTSUPP;
				break;
			default:
				ring_break(r, "response %u: id %u has status %d", cons, id, rsp.status);
				goto broken;
			}
			out[n].id = id;
			n++;
			r->busy[id] = false;
			r->free_ids[r->nfree++] = id;
			r->fr.rsp_cons = ++cons;
		}
		if (cons != rp)
			break;      /* out[] is full: the caller comes back */
		if (r->polling)
			break;      /* rsp_event stays behind: no notify */
		/* Drained: ask for an event on the next response, then look
		 * once more (the macro's xen_mb orders the rsp_event store
		 * before that read). */
		RING_FINAL_CHECK_FOR_RESPONSES(&r->fr, more);
		if (!more)
			break;
	}
	return (int)n;
broken:
	/* The good responses before the bad one are the caller's; the next
	 * call says -EPROTO. */
	return n ? (int)n : -EPROTO;
}

bool vbd__bf_ring_ready(const vbd__bf_ring *r)
{
	return __atomic_load_n(&r->fr.sring->rsp_prod, __ATOMIC_RELAXED) != r->fr.rsp_cons;
}

bool vbd__bf_ring_arm(vbd__bf_ring *r)
{
	int more;

	/* The macro's xen_mb orders the rsp_event store before the re-read of
	 * rsp_prod: a response pushed in between is seen here or notified. */
	RING_FINAL_CHECK_FOR_RESPONSES(&r->fr, more);
	return more;
}
