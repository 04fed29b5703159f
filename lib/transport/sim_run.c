/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VBD_XPORT_SIM's vbd__xport_run(): several requests sent before their
 * replies are read, which the broker answers in order; a ring's setup in
 * one round trip.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "transport/sim_internal.h"

/* Requests sent before their replies are read: the replies of so few fit
 * in what the socket buffers many times over, so that no send waits on a
 * broker that waits on us to read. */
#define RUN_WINDOW 16u

struct run_op {
	vbd__region *rg;      /* SHARE, MAP: the region until it is recorded */
	enum { RUN_NONE, RUN_DONE, RUN_BROKER } state;  /* BROKER: done there only */
	uint32_t port;        /* a port op's, when RUN_BROKER */
};

static void run_req(const vbd__xop *o, struct simhv_req *q)
{
	memset(q, 0, sizeof(*q));
	q->domid = o->domid;
	switch (o->op) {
	case VBD__XOP_SHARE:
	case VBD__XOP_MAP:
		q->op = o->op == VBD__XOP_SHARE ? SIMHV_OP_SHARE : SIMHV_OP_MAP;
		q->count = o->count;
		q->flags = o->writable ? SIMHV_F_WRITABLE : 0;
		break;
	case VBD__XOP_ALLOC_UNBOUND:
		q->op = SIMHV_OP_EVT_ALLOC;
		break;
	default:
		q->op = SIMHV_OP_EVT_BIND;
		q->port = o->remote_port;
		break;
	}
}

/* One op's reply taken, under s->lock: 0 (RUN_DONE), or -errno (RUN_BROKER
 * if the broker did it and this side could not take it). */
static int run_take(struct sim *s, const vbd__xop *o, struct run_op *st)
{
	int fds[SIMHV_FDS_MAX] = { -1, -1 };
	const struct simhv_rep *rep;
	struct simhv_req q;
	int r, nfds;

	run_req(o, &q);
	if (o->op == VBD__XOP_ALLOC_UNBOUND || o->op == VBD__XOP_BIND_INTERDOMAIN) {
		r = vbd__sim_recv(s, &q, 2, 2, &rep, fds);
		if (r < 0)
			return r;
		st->port = rep->port;
		r = vbd__sim_port_accept(o->e, st->port, fds, o->port);    /* takes the fds */
		st->state = r == 0 ? RUN_DONE : st->port ? RUN_BROKER : RUN_NONE;
		return r;
	}
	r = vbd__sim_recv(s, &q, 1, o->op == VBD__XOP_SHARE ? 1 : SIMHV_FDS_MAX, &rep, fds);
	if (r < 0)
		return r;
	nfds = r;
	if (o->op == VBD__XOP_SHARE)
		r = vbd__sim_share_accept(s, st->rg, o->count, fds[0], o->refs, o->addr);
	else
		r = vbd__sim_map_accept(s, st->rg, o->count, o->writable, fds, (unsigned)nfds, o->addr);
	vbd__sim_close_fds(fds, (unsigned)nfds);
	if (r == 0)
		st->rg = NULL;     /* recorded */
	st->state = r == 0 ? RUN_DONE : RUN_BROKER;
	return r;
}

/* Every request of a window sent, then their replies read in order. */
int vbd__sim_run(vbd_xport *x, vbd__xop *ops, unsigned n, unsigned *ret_failed)
{
	struct sim *s = x->impl;
	struct run_op st[VBD__XOP_RUN_MAX];
	unsigned i, j, k, sent;
	int first = 0, r;

	memset(st, 0, sizeof(st));
	for (i = 0; i < n; i++) {
		bool share = ops[i].op == VBD__XOP_SHARE;

		if (!share && ops[i].op != VBD__XOP_MAP)
			continue;
		if (ops[i].count > SIMHV_REFS_MAX)
			first = -E2BIG;
		else if (!(st[i].rg = vbd__region_new(share ? ops[i].count : 0)))
			first = -ENOMEM;
		if (first) {
			*ret_failed = i;
			goto out;
		}
	}
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < n && !first; i += k) {
		k = n - i < RUN_WINDOW ? n - i : RUN_WINDOW;
		for (sent = 0; sent < k; sent++) {
			const vbd__xop *o = &ops[i + sent];
			struct simhv_req q;

			run_req(o, &q);
			r = vbd__sim_send(s, &q, o->op == VBD__XOP_MAP ? o->refs : NULL);
			if (r < 0) {
				first = r;
				*ret_failed = i + sent;
				break;
			}
		}
		/* Each sent request's reply, whatever came of the others. */
		for (j = 0; j < sent; j++) {
			r = run_take(s, &ops[i + j], &st[i + j]);
			if (r < 0 && !first) {
				first = r;
				*ret_failed = i + j;
			}
		}
	}
	/* What the broker made that this side could not take: ended there. */
	for (i = 0; i < n; i++) {
		if (st[i].state != RUN_BROKER)
			continue;
		if (ops[i].op == VBD__XOP_SHARE)
			vbd__sim_share_end(s, st[i].rg, ops[i].count);
		else if (ops[i].op == VBD__XOP_MAP)
			vbd__sim_map_end(s, st[i].rg->id);
	}
	pthread_mutex_unlock(&s->lock);
	/* All or nothing: a failure undoes what the others did. */
	for (i = n; first && i-- > 0;) {
		const vbd__xop *o = &ops[i];

		if (st[i].state == RUN_BROKER && o->op != VBD__XOP_SHARE && o->op != VBD__XOP_MAP)
			(void)vbd__sim_unbind_call(o->e, st[i].port);
		if (st[i].state == RUN_DONE)
			vbd__xop_undo(x, o);
	}
out:
	for (i = 0; i < n; i++)
		vbd__region_free(st[i].rg);
	return first;
}
