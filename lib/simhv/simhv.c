/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulated hypervisor (vbd/simhv.h): grant tables, grant memory and
 * event channels for processes that act as domains.
 *
 * This file holds the object: its sockets, one per domain, the connections
 * and the wire (simhv_wire.h); grant.c holds grant memory and grant tables,
 * evtchn.c event channels.
 *
 * Everything a client sends is hostile: a message that breaks the framing
 * (size, unknown op, non-zero unused fields, fds sent to us) closes that
 * connection and releases what it held; a well-formed request that cannot be
 * done gets -errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "simhv/simhv_internal.h"
#include "util/opts.h"
#include "util/err.h"

#define DOM0_CONNS_MAX 1024u
#define READS_PER_PROCESS 32     /* messages per connection per process() */

hv_domain *vbd__simhv_domain_find(vbd_simhv *h, unsigned id)
{
	hv_domain *d;

	for (d = h->domains; d; d = d->next)
		if (d->id == id)
			return d;
	return NULL;
}

/* ---- connections ---- */

static void out_clear(hv_conn *c)
{
	unsigned i;

	for (i = 0; i < c->out_nfds; i++)
		close_fd(&c->out_fds[i]);
	c->out_nfds = 0;
	free(c->out);
	c->out = NULL;
	c->out_len = 0;
}

/* Releases everything the connection held.  The struct stays (dead) until
 * conn_reap(), as epoll events of this round may still point at it. */
static void conn_kill(vbd_simhv *h, hv_conn *c, bool violation)
{
	hv_domain *d = c->dom;
	uint32_t i;

	if (c->dead)
		return;
	c->dead = true;
	h->conns_dead = true;
	for (i = GNT_RESERVED; c->ngrants && i < d->gnt_top && i < d->gnt_cap; i++)
		if (d->gnt[i].owner == c)
			vbd__simhv_gnt_end(h, d, i);
	vbd__simhv_maps_drop(h, c);
	for (i = 1; c->nports && i < d->port_cap; i++)
		if (d->ports[i].state != PORT_FREE && d->ports[i].owner == c)
			vbd__simhv_port_close(h, d, i);
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close_fd(&c->fd);
	out_clear(c);
	d->nconns--;
	h->st.conns--;
	if (violation)
		h->st.conns_killed++;
}

/* At the end of every vbd_simhv_process(): the walk only after a kill, not
 * once per message over the connections of every domain. */
static void conn_reap(vbd_simhv *h)
{
	hv_conn **pp = &h->conns, *c;

	if (!h->conns_dead)
		return;
	h->conns_dead = false;
	while ((c = *pp)) {
		if (c->dead) {
			*pp = c->next;
			free(c);
		} else {
			pp = &c->next;
		}
	}
}

static int conn_new(vbd_simhv *h, int fd, hv_domain *d)
{
	struct epoll_event ev = { .events = EPOLLIN };
	unsigned max = d->id == 0 ? DOM0_CONNS_MAX : h->lim.conns;
	hv_conn *c;

	if (d->nconns >= max)
		return -EMFILE;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->kind = SRC_CONN;
	c->dom = d;
	c->fd = fd;
	c->next_map_id = 1;
	ev.data.ptr = c;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;

		free(c);
		return r;
	}
	c->next = h->conns;
	h->conns = c;
	d->nconns++;
	h->st.conns++;
	return 0;
}

/* Sends a reply; what the socket does not take waits in c->out (with
 * copies of the fds, which the caller may close) and stops reading. */
static void conn_send(vbd_simhv *h, hv_conn *c, const void *buf, size_t len, const int *fds,
                      unsigned nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * SIMHV_FDS_MAX)];
	} cm;
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct epoll_event ev = { .events = EPOLLOUT };
	ssize_t n;
	unsigned i;

	if (nfds) {
		struct cmsghdr *ch;

		memset(&cm, 0, sizeof(cm));
		m.msg_control = cm.b;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		ch = CMSG_FIRSTHDR(&m);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(ch), fds, sizeof(int) * nfds);
	}
	n = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n >= 0 && (size_t)n == len)
		return;
	if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
		conn_kill(h, c, false);
		return;
	}
	c->out = malloc(len);
	if (!c->out) {
		conn_kill(h, c, false);
		return;
	}
	memcpy(c->out, buf, len);
	c->out_len = len;
	for (i = 0; i < nfds; i++) {
		c->out_fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (c->out_fds[i] < 0) {
			c->out_nfds = i;
			conn_kill(h, c, false);
			return;
		}
	}
	c->out_nfds = nfds;
	ev.data.ptr = c;
	if (epoll_ctl(h->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		conn_kill(h, c, false);
}

static void conn_flush(vbd_simhv *h, hv_conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN };
	void *buf = c->out;
	size_t len = c->out_len;
	int fds[SIMHV_FDS_MAX];
	unsigned nfds = c->out_nfds, i;

	for (i = 0; i < nfds; i++)
		fds[i] = c->out_fds[i];
	c->out = NULL;
	c->out_nfds = 0;
	c->out_len = 0;
	ev.data.ptr = c;
	if (epoll_ctl(h->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		conn_kill(h, c, false);
	} else {
		/* Requeues itself (with new copies) if still full. */
		conn_send(h, c, buf, len, fds, nfds);
	}
	free(buf);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
}

/* ---- requests ---- */

typedef int (*op_fn)(vbd_simhv *h, hv_conn *c, const struct simhv_req *q, const uint32_t *items,
                     unsigned n, struct reply *rp);

static const op_fn ops[SIMHV_OP_COUNT] = {
	[SIMHV_OP_SHARE] = vbd__simhv_op_share,
	[SIMHV_OP_UNSHARE] = vbd__simhv_op_unshare,
	[SIMHV_OP_MAP] = vbd__simhv_op_map,
	[SIMHV_OP_UNMAP] = vbd__simhv_op_unmap,
	[SIMHV_OP_EVT_ALLOC] = vbd__simhv_op_evt_alloc,
	[SIMHV_OP_EVT_BIND] = vbd__simhv_op_evt_bind,
	[SIMHV_OP_EVT_UNBIND] = vbd__simhv_op_evt_unbind,
};

/* One message of len bytes in h->rbuf. */
static void handle(vbd_simhv *h, hv_conn *c, size_t len)
{
	struct simhv_req q;
	struct simhv_rep *rep = (struct simhv_rep *)h->wbuf;
	struct reply rp = { .rep = rep, .items = (struct simhv_item *)(rep + 1) };
	size_t items_len;
	unsigned i;
	int r;

	if (len < sizeof(q) || (len - sizeof(q)) % 4) {
		conn_kill(h, c, true);
		return;
	}
	memcpy(&q, h->rbuf, sizeof(q));
	items_len = len - sizeof(q);
	if (q.op == 0 || q.op >= SIMHV_OP_COUNT || q.pad) {
		conn_kill(h, c, true);
		return;
	}
	memset(rep, 0, sizeof(*rep));
	rep->op = q.op;
	/* The items are u32s at offset 32 of a malloc'ed buffer: aligned. */
	r = ops[q.op](h, c, &q, (const uint32_t *)(h->rbuf + sizeof(q)),
	              (unsigned)(items_len / 4), &rp);
	if (r == KILL) {
		conn_kill(h, c, true);
		return;
	}
	if (r < 0) {
		rep->count = 0;
		rep->port = 0;
		rep->id = 0;
		rp.nfds = 0;
	}
	rep->status = r;
	conn_send(h, c, h->wbuf, sizeof(*rep) + rep->count * sizeof(struct simhv_item), rp.fds,
	          rp.nfds);
	for (i = 0; i < rp.nclose; i++)
		close(rp.close_fds[i]);
}

static void conn_read(vbd_simhv *h, hv_conn *c)
{
	int budget;

	for (budget = 0; budget < READS_PER_PROCESS && !c->dead && !c->out; budget++) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * 16)];
		} cm;
		struct iovec iov = { h->rbuf, SIMHV_REQ_MAX + 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
		                    .msg_control = cm.b, .msg_controllen = sizeof(cm.b) };
		struct cmsghdr *ch;
		bool fds = false;
		ssize_t n;

		n = recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0) {
			/* EOF (a zero-length message reads the same way) */
			conn_kill(h, c, false);
			return;
		}
		for (ch = CMSG_FIRSTHDR(&m); ch; ch = CMSG_NXTHDR(&m, ch)) {
			if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_RIGHTS) {
				size_t k, nf = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				int fd;

				for (k = 0; k < nf; k++) {
					memcpy(&fd, CMSG_DATA(ch) + k * sizeof(int), sizeof(fd));
					close(fd);
				}
			}
			fds = true;
		}
		/* Clients never send fds or anything else out of band. */
		if (fds || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
			conn_kill(h, c, true);
			return;
		}
		handle(h, c, (size_t)n);
	}
}

/* ---- sockets and domains ---- */

static void domain_free(vbd_simhv *h, hv_domain *d)
{
	hv_conn *c;
	uint32_t i;

	for (c = h->conns; c; c = c->next)
		if (c->dom == d)
			conn_kill(h, c, false);
	if (d->listen.fd >= 0)
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, d->listen.fd, NULL);
	vbd__listener_close(&d->listen);
	/* Every grant and port was a connection's, all gone now. */
	for (i = 0; i < d->port_cap; i++) {
		close_fd(&d->ports[i].fd_in);
		close_fd(&d->ports[i].fd_peer);
	}
	free(d->gnt);
	free(d->gnt_free);
	free(d->ports);
	free(d);
}

/* The domain's socket: path for dom0, "<path>.d/<id>" for a guest; none
 * when the hypervisor has no path (connections come through adopt_fd). */
static int domain_new(vbd_simhv *h, unsigned id)
{
	struct epoll_event ev = { .events = EPOLLIN };
	hv_domain *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->kind = SRC_LISTEN;
	d->id = id;
	vbd__listener_init(&d->listen, id);
	d->gnt_top = GNT_RESERVED;
	if (h->path) {
		r = id ? vbd__listener_open_domain(&d->listen, h->path, SOCK_SEQPACKET, 0600)
		       : vbd__listener_open(&d->listen, h->path, SOCK_SEQPACKET, 0600);
		if (r < 0) {
			free(d);
			return r;
		}
		ev.data.ptr = d;
		if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, d->listen.fd, &ev) < 0) {
			r = -errno;
			domain_free(h, d);
			return r;
		}
	}
	d->next = h->domains;
	h->domains = d;
	return 0;
}

int vbd_simhv_new(vbd_simhv **ret, const char *path, vbd_errbuf *err)
{
	vbd__simhv_limits lim = VBD__SIMHV_LIMITS_INIT;
	vbd_simhv *h;
	int r;

	if (!ret)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->lim = lim;
	h->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0) {
		r = -errno;
		goto fail;
	}
	h->rbuf = malloc(SIMHV_REQ_MAX + 1);
	h->wbuf = malloc(SIMHV_REP_MAX);
	h->scratch = malloc(SIMHV_REFS_MAX * sizeof(*h->scratch));
	if (path)
		h->path = strdup(path);
	if (!h->rbuf || !h->wbuf || !h->scratch || (path && !h->path)) {
		r = -ENOMEM;
		goto fail;
	}
	r = domain_new(h, 0);
	if (r < 0)
		goto fail;
	*ret = h;
	return 0;
fail:
	vbd_simhv_free(h);
	return vbd__errf(err, r, "simhv: %s%s: %s", path ? "listening on " : "setting up",
	                 path ? path : "", strerror(-r));
}

vbd_simhv *vbd_simhv_free(vbd_simhv *h)
{
	if (!h)
		return NULL;
	while (h->domains) {
		hv_domain *d = h->domains;

		h->domains = d->next;
		domain_free(h, d);
	}
	conn_reap(h);
	/* Every slot was held by a connection's grant or mapping. */
	while (h->arenas)
		vbd__simhv_arena_free(h, h->arenas);
	if (h->path) {
		vbd__listener_remove_dir(h->path);
		free(h->path);
	}
	close_fd(&h->epfd);
	close_fd(&h->spare_fd);
	free(h->rbuf);
	free(h->wbuf);
	free(h->scratch);
	free(h);
	return NULL;
}

int vbd_simhv_get_fd(vbd_simhv *h)
{
	return h ? h->epfd : -EINVAL;
}

static void accept_all(vbd_simhv *h, hv_domain *d)
{
	int fd;

	/* Over the limit or out of memory: the client sees EOF. */
	while ((fd = vbd__listener_accept(&d->listen, &h->spare_fd)) >= 0)
		if (conn_new(h, fd, d) < 0)
			close(fd);
}

int vbd_simhv_process(vbd_simhv *h)
{
	struct epoll_event ev[64];
	int n, i;

	if (!h)
		return -EINVAL;
	n = epoll_wait(h->epfd, ev, 64, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		if (*(int *)ev[i].data.ptr == SRC_LISTEN) {
			accept_all(h, ev[i].data.ptr);
		} else {
			hv_conn *c = ev[i].data.ptr;

			if (!c->dead && c->out && (ev[i].events & EPOLLOUT))
				conn_flush(h, c);
			if (!c->dead && !c->out && (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				conn_read(h, c);
			if (!c->dead && (ev[i].events & (EPOLLHUP | EPOLLERR)) && c->out)
				conn_kill(h, c, false);
		}
	}
	conn_reap(h);
	return n;
}

int vbd_simhv_domain_add(vbd_simhv *h, unsigned domid)
{
	if (!h || domid == 0 || domid >= DOMID_LIMIT)
		return -EINVAL;
	if (vbd__simhv_domain_find(h, domid))
		return -EEXIST;
	return domain_new(h, domid);
}

int vbd_simhv_domain_remove(vbd_simhv *h, unsigned domid)
{
	hv_domain **pp, *d;

	if (!h || domid == 0 || domid >= DOMID_LIMIT)
		return -EINVAL;
	for (pp = &h->domains; (d = *pp); pp = &d->next)
		if (d->id == domid) {
			*pp = d->next;
			domain_free(h, d);
			conn_reap(h);
			return 0;
		}
	return -ENOENT;
}

int vbd_simhv_get_stats(vbd_simhv *h, vbd_simhv_stats *ret)
{
	if (!h || !ret || ret->size < sizeof(ret->size))
		return -EINVAL;
	return vbd__out_fill(ret, &h->st, sizeof(h->st));
}

void vbd__simhv_set_limits(vbd_simhv *h, const vbd__simhv_limits *l)
{
	if (!h || !l)
		return;
	h->lim = *l;
	if (h->lim.refs_per_call > SIMHV_REFS_MAX)
		h->lim.refs_per_call = SIMHV_REFS_MAX;
	if (h->lim.ports > 0x10000)
		h->lim.ports = 0x10000;
	if (h->lim.grants > 0x100000)
		h->lim.grants = 0x100000;
}

int vbd__simhv_adopt_fd(vbd_simhv *h, int fd, unsigned domid)
{
	hv_domain *d;
	int type = 0, fl;
	socklen_t sl = sizeof(type);

	if (!h || fd < 0)
		return -EINVAL;
	d = vbd__simhv_domain_find(h, domid);
	if (!d)
		return -ENOENT;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) < 0)
		return -errno;
	if (type != SOCK_SEQPACKET)
		return -EINVAL;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return conn_new(h, fd, d);
}

size_t vbd__simhv_table_bytes(const vbd_simhv *h)
{
	const hv_domain *d;
	size_t n = 0;

	for (d = h->domains; d; d = d->next)
		n += (size_t)d->gnt_cap * (sizeof(*d->gnt) + sizeof(*d->gnt_free)) +
		     (size_t)d->port_cap * sizeof(*d->ports);
	return n;
}

/* What a domain still holds; NULL if nothing. */
static const char *domain_left(const hv_domain *d, uint32_t *at)
{
	uint32_t i;

	if (d->nconns)
		return "a connection";
	if (d->gnt_used || d->gnt_nfree + GNT_RESERVED != d->gnt_top)
		return "grant entries in use";
	for (i = 0; i < d->gnt_top && i < d->gnt_cap; i++)
		if (d->gnt[i].owner || d->gnt[i].ar || d->gnt[i].mark) {
			*at = i;
			return "a grant entry";
		}
	if (d->ports_used)
		return "ports in use";
	for (i = 0; i < d->port_cap; i++)
		if (d->ports[i].state != PORT_FREE || d->ports[i].owner ||
		    d->ports[i].fd_in >= 0 || d->ports[i].fd_peer >= 0) {
			*at = i;
			return "a port";
		}
	return NULL;
}

int vbd__simhv_reset(vbd_simhv *h, char *what, size_t what_len)
{
	vbd__simhv_limits lim = VBD__SIMHV_LIMITS_INIT;
	const char *left = NULL;
	hv_domain *d;
	uint32_t at = 0;
	unsigned id = 0;
	int r;

	if (!h || h->path)
		return -EINVAL;
	conn_reap(h);
	if (h->conns)
		left = "a connection", id = h->conns->dom->id;
	else if (h->arenas)
		left = "a grant arena (pages)", id = h->arenas->granter;
	else if (h->st.grants || h->st.maps || h->st.ports || h->st.pages || h->st.conns)
		left = "a counter not back to 0";
	for (d = h->domains; d && !left; d = d->next)
		if ((left = domain_left(d, &at)))
			id = d->id;
	if (left) {
		if (what)
			snprintf(what, what_len, "%s (dom%u, #%u; stats grants %llu maps %llu "
			         "ports %llu pages %llu conns %llu)", left, id, at,
			         (unsigned long long)h->st.grants, (unsigned long long)h->st.maps,
			         (unsigned long long)h->st.ports, (unsigned long long)h->st.pages,
			         (unsigned long long)h->st.conns);
		return -EBUSY;
	}
	while (h->domains) {
		d = h->domains;
		h->domains = d->next;
		domain_free(h, d);
	}
	memset(&h->st, 0, sizeof(h->st));
	h->lim = lim;
	r = domain_new(h, 0);
	return r;
}
