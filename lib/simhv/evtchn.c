/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulated hypervisor's event channels: EVT_ALLOC, EVT_BIND and
 * EVT_UNBIND.
 *
 * alloc_unbound creates two eventfds, the allocating port's
 * inbound one and the future binder's; the allocator gets both (the second
 * is where its notifications go).  A bind hands them to the binder the
 * other way round; the broker keeps its copies for as long as the
 * allocator's port lives.  So, as on Xen, when the binder unbinds or dies
 * the allocator's port is unbound again and can be bound anew (Linux's
 * blkback rebinds the same port when frontend state events repeat), and the
 * allocator's notify fd stays right.  The binder's port, when the allocator
 * goes, leads nowhere (PORT_DEAD).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "simhv/simhv_internal.h"

static hv_port *port_get(hv_domain *d, uint32_t port)
{
	if (port == 0 || port >= d->port_cap || d->ports[port].state == PORT_FREE)
		return NULL;
	return &d->ports[port];
}

static int port_alloc(vbd_simhv *h, hv_domain *d, uint32_t *ret)
{
	uint32_t p, cap;
	hv_port *np;

	for (p = 1; p < d->port_cap; p++)
		if (d->ports[p].state == PORT_FREE)
			break;
	if (p >= h->lim.ports)
		return -ENOSPC;
	if (p >= d->port_cap) {
		cap = d->port_cap ? d->port_cap * 2 : 64;
		if (cap > h->lim.ports)
			cap = h->lim.ports;
		np = realloc(d->ports, cap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		for (uint32_t i = d->port_cap; i < cap; i++)
			np[i] = (hv_port){ .state = PORT_FREE, .fd_in = -1, .fd_peer = -1 };
		d->ports = np;
		d->port_cap = cap;
	}
	*ret = p;
	return 0;
}

void vbd__simhv_port_close(vbd_simhv *h, hv_domain *d, uint32_t port)
{
	hv_port *p = &d->ports[port], *q;
	hv_domain *rd;

	if (p->state == PORT_BOUND) {
		rd = vbd__simhv_domain_find(h, p->rdom);
		q = rd ? port_get(rd, p->rport) : NULL;
		if (q && q->state == PORT_BOUND && q->rdom == d->id && q->rport == port) {
			if (q->fd_in >= 0) {
				/* The allocator's port: unbound again, for its
				 * remote domain, as Xen leaves it. */
				q->state = PORT_UNBOUND;
				q->rport = 0;
			} else {
				/* The binder's port leads nowhere: its
				 * notifications go to an eventfd no one reads. */
				q->state = PORT_DEAD;
			}
		}
	}
	close_fd(&p->fd_in);
	close_fd(&p->fd_peer);
	p->owner->nports--;
	p->owner = NULL;
	p->state = PORT_FREE;
	d->ports_used--;
	h->st.ports--;
	if (d->ports_used == 0) {
		/* Every port is free, its fds closed: the table goes, as a
		 * guest's grant table does with its last entry. */
		free(d->ports);
		d->ports = NULL;
		d->port_cap = 0;
	}
}

static int evtfd_pair(int *a, int *b)
{
	*a = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	*b = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (*a >= 0 && *b >= 0)
		return 0;
	close_fd(a);
	close_fd(b);
	return -errno;
}

int vbd__simhv_op_evt_alloc(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                            const uint32_t *items, unsigned n, struct reply *rp)
{
	hv_domain *d = c->dom;
	hv_port *p;
	uint32_t port;
	int r;

	(void)items;
	if (n || q->count || q->flags || q->port || q->id)
		return KILL;
	if (q->domid >= DOMID_LIMIT)
		return -EINVAL;
	r = port_alloc(h, d, &port);
	if (r < 0)
		return r;
	p = &d->ports[port];
	r = evtfd_pair(&p->fd_in, &p->fd_peer);
	if (r < 0)
		return r;
	p->state = PORT_UNBOUND;
	p->owner = c;
	p->rdom = q->domid;
	p->rport = 0;
	c->nports++;
	d->ports_used++;
	h->st.ports++;
	rp->rep->port = port;
	rp->fds[0] = p->fd_in;
	rp->fds[1] = p->fd_peer;
	rp->nfds = 2;
	return 0;
}

int vbd__simhv_op_evt_bind(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                           const uint32_t *items, unsigned n, struct reply *rp)
{
	hv_domain *d = c->dom, *rd;
	hv_port *rp_, *p;
	uint32_t port;
	uint64_t one = 1;
	int r;

	(void)items;
	if (n || q->count || q->flags || q->id)
		return KILL;
	rd = q->domid < DOMID_LIMIT ? vbd__simhv_domain_find(h, q->domid) : NULL;
	rp_ = rd ? port_get(rd, q->port) : NULL;
	if (!rp_ || rp_->state != PORT_UNBOUND || rp_->rdom != d->id)
		return -EINVAL;
	r = port_alloc(h, d, &port);
	if (r < 0)
		return r;
	/* port_alloc may have moved d's ports, rd's when rd is d. */
	rp_ = &rd->ports[q->port];
	p = &d->ports[port];
	p->state = PORT_BOUND;
	p->owner = c;
	p->rdom = rd->id;
	p->rport = q->port;
	p->fd_in = p->fd_peer = -1;
	rp_->state = PORT_BOUND;
	rp_->rport = port;
	c->nports++;
	d->ports_used++;
	h->st.ports++;
	/* As Xen does, the new port starts pending. */
	(void)!write(rp_->fd_peer, &one, sizeof(one));
	rp->rep->port = port;
	rp->fds[0] = rp_->fd_peer;
	rp->fds[1] = rp_->fd_in;
	rp->nfds = 2;
	/* The broker keeps its copies: a later binder gets the same pair. */
	return 0;
}

int vbd__simhv_op_evt_unbind(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                             const uint32_t *items, unsigned n, struct reply *rp)
{
	hv_port *p = port_get(c->dom, q->port);

	(void)items;
	(void)rp;
	if (n || q->domid || q->count || q->flags || q->id)
		return KILL;
	if (!p || p->owner != c)
		return -EINVAL;
	vbd__simhv_port_close(h, c->dom, q->port);
	return 0;
}

