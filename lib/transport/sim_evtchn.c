/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VBD_XPORT_SIM's event channels.  Each vbd_evtchn is an epoll set of its
 * ports' inbound eventfds (level-triggered).  pending() takes one ready
 * port, reads its eventfd and masks the port (EPOLL_CTL_MOD with no
 * events); unmask() re-arms EPOLLIN, so an event that came while masked
 * shows at once.  notify() writes the port's notify eventfd, which is the
 * peer's inbound one: no broker round trip on the data path.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "transport/sim_internal.h"

struct sim_port {
	uint32_t port;
	int in_fd, out_fd;
	bool masked;
};

/* The ports bound on one handle, unordered: a handle holds one or a few
 * (a table indexed by port number cost every handle 12 bytes per port of
 * its domain, 24 KiB each for a backend serving 2000 rings). */
struct sim_evt {
	struct sim_port *p;
	uint32_t n, cap;
};

int vbd__sim_evtchn_open(vbd_evtchn *e)
{
	struct sim_evt *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	e->fd = epoll_create1(EPOLL_CLOEXEC);
	if (e->fd < 0) {
		int r = -errno;

		free(v);
		return r;
	}
	e->impl = v;
	return 0;
}

static struct sim_port *port_find(struct sim_evt *v, uint32_t port)
{
	uint32_t i;

	for (i = 0; i < v->n; i++)
		if (v->p[i].port == port)
			return &v->p[i];
	return NULL;
}

static void port_drop(vbd_evtchn *e, struct sim_port *p)
{
	struct sim_evt *v = e->impl;

	epoll_ctl(e->fd, EPOLL_CTL_DEL, p->in_fd, NULL);
	close(p->in_fd);
	close(p->out_fd);
	*p = v->p[--v->n];
}

int vbd__sim_unbind_call(vbd_evtchn *e, uint32_t port)
{
	struct sim *s = e->x->impl;
	struct simhv_req q = { .op = SIMHV_OP_EVT_UNBIND, .port = port };
	const struct simhv_rep *rep;
	int r;

	pthread_mutex_lock(&s->lock);
	r = vbd__sim_call(s, &q, NULL, 0, 0, &rep, NULL);
	pthread_mutex_unlock(&s->lock);
	return r == -EPIPE ? 0 : r;
}

void vbd__sim_evtchn_close(vbd_evtchn *e)
{
	struct sim_evt *v = e->impl;

	while (v->n) {
		(void)vbd__sim_unbind_call(e, v->p[0].port);
		port_drop(e, &v->p[0]);
	}
	free(v->p);
	free(v);
	close(e->fd);
}

/* An alloc's or bind's reply taken: the port on e, its inbound eventfd in
 * e's set.  The fds are taken either way (closed on failure).  0, or
 * -errno with the port still the broker's (the caller unbinds it, if not
 * 0). */
int vbd__sim_port_accept(vbd_evtchn *e, uint32_t port, int *fds, uint32_t *ret_port)
{
	struct sim_evt *v = e->impl;
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	if (port == 0 || port >= 0x10000 || port_find(v, port)) {
		r = -EPROTO;
		goto fail;
	}
	if (v->n == v->cap) {
		uint32_t cap = v->cap ? 2 * v->cap : 4;
		struct sim_port *np = realloc(v->p, cap * sizeof(*np));

		if (!np) {
			r = -ENOMEM;
			goto fail;
		}
		v->p = np;
		v->cap = cap;
	}
	ev.data.u32 = port;
	if (epoll_ctl(e->fd, EPOLL_CTL_ADD, fds[0], &ev) < 0) {
		r = -errno;
		goto fail;
	}
	v->p[v->n++] = (struct sim_port){ port, fds[0], fds[1], false };
	*ret_port = port;
	return 0;
fail:
	vbd__sim_close_fds(fds, 2);
	return r;
}

/* Sends an alloc or bind request and takes the port it returns. */
static int port_new(vbd_evtchn *e, const struct simhv_req *q, uint32_t *ret_port)
{
	struct sim *s = e->x->impl;
	const struct simhv_rep *rep;
	int fds[SIMHV_FDS_MAX] = { -1, -1 };
	uint32_t port;
	int r;

	pthread_mutex_lock(&s->lock);
	r = vbd__sim_call(s, q, NULL, 2, 2, &rep, fds);
	port = r >= 0 ? rep->port : 0;
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return r;
	r = vbd__sim_port_accept(e, port, fds, ret_port);
	if (r < 0 && port)
		(void)vbd__sim_unbind_call(e, port);
	return r;
}

int vbd__sim_alloc_unbound(vbd_evtchn *e, unsigned remote_domid, uint32_t *ret_port)
{
	struct simhv_req q = { .op = SIMHV_OP_EVT_ALLOC, .domid = remote_domid };

	return port_new(e, &q, ret_port);
}

int vbd__sim_bind_interdomain(vbd_evtchn *e, unsigned remote_domid, uint32_t remote_port,
                                uint32_t *ret_port)
{
	struct simhv_req q = { .op = SIMHV_OP_EVT_BIND, .domid = remote_domid,
	                       .port = remote_port };

	return port_new(e, &q, ret_port);
}

int vbd__sim_unbind(vbd_evtchn *e, uint32_t port)
{
	struct sim_port *p = port_find(e->impl, port);
	int r;

	if (!p)
		return -EINVAL;
	r = vbd__sim_unbind_call(e, port);
	if (r < 0)
		return r;
	port_drop(e, p);
	return 0;
}

int vbd__sim_notify(vbd_evtchn *e, uint32_t port)
{
	struct sim_port *p = port_find(e->impl, port);
	uint64_t one = 1;

	if (!p)
		return -EINVAL;
	/* EAGAIN only if the counter is at 2^64-2: the event is pending. */
	if (write(p->out_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

int vbd__sim_pending(vbd_evtchn *e)
{
	struct epoll_event ev, mask = { .events = 0 };
	struct sim_port *p;
	uint64_t v;
	int n;

	do
		n = epoll_wait(e->fd, &ev, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EAGAIN;
	p = port_find(e->impl, ev.data.u32);
	if (!p)
		return -EAGAIN;
	mask.data.u32 = ev.data.u32;
	if (epoll_ctl(e->fd, EPOLL_CTL_MOD, p->in_fd, &mask) < 0)
		return -errno;
	p->masked = true;
	(void)!read(p->in_fd, &v, sizeof(v));
	return (int)ev.data.u32;
}

int vbd__sim_unmask(vbd_evtchn *e, uint32_t port)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = port };
	struct sim_port *p = port_find(e->impl, port);

	if (!p)
		return -EINVAL;
	if (!p->masked)
		return 0;
	if (epoll_ctl(e->fd, EPOLL_CTL_MOD, p->in_fd, &ev) < 0)
		return -errno;
	p->masked = false;
	return 0;
}
