/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VBD_XPORT_SIM, the client side: one SOCK_SEQPACKET connection to the
 * simulated hypervisor (lib/simhv/) per vbd_xport, one request and one reply
 * per call under the handle's mutex (grant calls come from many threads).
 *
 * Grant pages arrive as fds plus page indexes (simhv_wire.h).  A region is
 * reserved PROT_NONE, then each run of consecutive pages of one fd is mapped
 * over it with MAP_FIXED; the fds are closed at once.  Unmapping is munmap
 * first, then telling the broker, so that its map count never claims less
 * than what is mapped.
 *
 * Event channels: each vbd_evtchn is an epoll set of its ports' inbound
 * eventfds (level-triggered).  pending() takes one ready port, reads its
 * eventfd and masks the port (EPOLL_CTL_MOD with no events); unmask()
 * re-arms EPOLLIN, so an event that came while masked shows at once.
 * notify() writes the port's notify eventfd, which is the peer's inbound
 * one: no broker round trip on the data path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "simhv/simhv_wire.h"
#include "transport/xport.h"
#include "util/err.h"

struct sim {
	pthread_mutex_t lock;     /* the socket, buf and the regions */
	int fd;
	vbd__region_map regions;
	uint8_t *buf;             /* SIMHV_REP_MAX + 1, replies */
};

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

static void close_fds(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* One request and its reply, under s->lock.  Returns the reply's status (or
 * a transport error: -EPIPE when the broker is gone, -EPROTO for a reply
 * that does not fit the request); on success, the number of fds, which
 * fds[] receives (between min_fds and max_fds of them, the caller's now),
 * and *ret_rep points into s->buf. */
static int call(struct sim *s, const struct simhv_req *q, const uint32_t *items,
                unsigned min_fds, unsigned max_fds, const struct simhv_rep **ret_rep, int *fds)
{
	int got[SIMHV_FDS_MAX];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * SIMHV_FDS_MAX)];
	} cm;
	struct iovec iov[2] = { { (void *)q, sizeof(*q) },
	                        { (void *)items, (q->op == SIMHV_OP_UNSHARE ||
	                                          q->op == SIMHV_OP_MAP) ? 4u * q->count : 0 } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = iov[1].iov_len ? 2 : 1 };
	const struct simhv_rep *rep = (const struct simhv_rep *)s->buf;
	struct cmsghdr *ch;
	unsigned nfds = 0, i;
	ssize_t n;
	size_t want;
	int r;

	if (s->fd < 0)
		return -EPIPE;
	do
		n = sendmsg(s->fd, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r = errno == ECONNRESET || errno == ENOTCONN ? -EPIPE : -errno;
		return r;
	}
	memset(&m, 0, sizeof(m));
	iov[0].iov_base = s->buf;
	iov[0].iov_len = SIMHV_REP_MAX + 1;
	m.msg_iov = iov;
	m.msg_iovlen = 1;
	m.msg_control = cm.b;
	m.msg_controllen = sizeof(cm.b);
	do
		n = recvmsg(s->fd, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	for (ch = CMSG_FIRSTHDR(&m); ch; ch = CMSG_NXTHDR(&m, ch)) {
		if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; i < (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(ch) + i * sizeof(int), sizeof(fd));
			if (nfds < SIMHV_FDS_MAX)
				got[nfds++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0) {
		/* The broker closed the connection: it considers us dead. */
		close(s->fd);
		s->fd = -1;
		r = -EPIPE;
		goto bad;
	}
	r = -EPROTO;
	if ((size_t)n < sizeof(*rep) || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    rep->op != q->op || rep->status > 0)
		goto bad;
	if (rep->status < 0) {
		if (nfds || (size_t)n != sizeof(*rep))
			goto bad;
		return rep->status;
	}
	want = sizeof(*rep);
	if (q->op == SIMHV_OP_SHARE || q->op == SIMHV_OP_MAP) {
		if (rep->count != q->count)
			goto bad;
		want += rep->count * sizeof(struct simhv_item);
	} else if (rep->count) {
		goto bad;
	}
	if ((size_t)n != want || nfds < min_fds || nfds > max_fds)
		goto bad;
	for (i = 0; i < nfds; i++)
		fds[i] = got[i];
	*ret_rep = rep;
	return (int)nfds;
bad:
	close_fds(got, nfds);
	return r;
}

/* Maps count pages given as (fd index, page) items over a fresh region. */
static int map_items(unsigned count, const struct simhv_item *it, const int *fds, unsigned nfds,
                     int prot, void **ret_addr)
{
	size_t len = (size_t)count * VBD_PAGE_SIZE;
	uint8_t *base;
	unsigned i, run;
	int r;

	base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	for (i = 0; i < count; i += run) {
		if (it[i].a >= nfds) {
			r = -EPROTO;
			goto fail;
		}
		for (run = 1; i + run < count && it[i + run].a == it[i].a &&
		              it[i + run].b == it[i].b + run; run++)
			;
		if (mmap(base + (size_t)i * VBD_PAGE_SIZE, (size_t)run * VBD_PAGE_SIZE, prot,
		         MAP_SHARED | MAP_FIXED, fds[it[i].a],
		         (off_t)it[i].b * VBD_PAGE_SIZE) == MAP_FAILED) {
			r = -errno;
			goto fail;
		}
	}
	*ret_addr = base;
	return 0;
fail:
	munmap(base, len);
	return r;
}

static int sim_open(vbd_xport *x, const vbd_xport_options *o, vbd_errbuf *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = o->sim_path ? o->sim_path : getenv("VBD_SIMHV_PATH");
	struct sim *s;
	int r;

	if (!path || !*path)
		return vbd__errf(err, -ENOENT, "simulated hypervisor: no socket path "
		                 "(options.sim_path or $VBD_SIMHV_PATH)");
	if (strlen(path) >= sizeof(sa.sun_path))
		return vbd__errf(err, -ENAMETOOLONG, "simulated hypervisor: %s: path too long",
		                 path);
	strcpy(sa.sun_path, path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return vbd__errf(err, -ENOMEM, "simulated hypervisor: out of memory");
	s->fd = -1;
	s->buf = malloc(SIMHV_REP_MAX + 1);
	if (!s->buf) {
		r = vbd__errf(err, -ENOMEM, "simulated hypervisor: out of memory");
		goto fail;
	}
	s->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		r = vbd__errf(err, -errno, "simulated hypervisor: socket: %m");
		goto fail;
	}
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = vbd__errf(err, -errno, "simulated hypervisor: %s: %m", path);
		goto fail;
	}
	pthread_mutex_init(&s->lock, NULL);
	x->impl = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	free(s);
	return r;
}

static void sim_close(vbd_xport *x)
{
	struct sim *s = x->impl;
	vbd__region *rg;

	/* Unmap everything; closing the connection then makes the broker
	 * end our grants and drop our mappings. */
	while ((rg = vbd__region_pop(&s->regions))) {
		munmap(rg->addr, (size_t)rg->count * VBD_PAGE_SIZE);
		free(rg);
	}
	vbd__region_map_done(&s->regions);
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->lock);
	free(s->buf);
	free(s);
}

static int sim_share(vbd_xport *x, unsigned domid, unsigned count, bool writable,
                     uint32_t *ret_refs, void **ret_addr)
{
	struct sim *s = x->impl;
	struct simhv_req q = { .op = SIMHV_OP_SHARE, .domid = domid, .count = count,
	                       .flags = writable ? SIMHV_F_WRITABLE : 0 };
	const struct simhv_rep *rep;
	vbd__region *rg = NULL;
	struct simhv_req uq;
	void *addr = NULL;
	int fd = -1, r;
	unsigned i;

	if (count > SIMHV_REFS_MAX)
		return -E2BIG;
	rg = malloc(sizeof(*rg) + count * sizeof(rg->refs[0]));
	if (!rg)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	r = call(s, &q, NULL, 1, 1, &rep, &fd);
	if (r < 0)
		goto out;
	for (i = 0; i < count; i++)
		rg->refs[i] = ((const struct simhv_item *)(rep + 1))[i].a;
	/* The items say (ref, page); map_items wants (fd index, page). */
	{
		struct simhv_item *it = (struct simhv_item *)(s->buf + sizeof(*rep));

		for (i = 0; i < count; i++)
			it[i].a = 0;
		r = map_items(count, it, &fd, 1, PROT_READ | PROT_WRITE, &addr);
	}
	if (r >= 0) {
		rg->addr = addr;
		rg->count = count;
		rg->shared = true;
		rg->id = 0;
		r = vbd__region_add(&s->regions, rg);
		if (r >= 0) {
			memcpy(ret_refs, rg->refs, count * sizeof(*ret_refs));
			*ret_addr = addr;
			rg = NULL;
			goto out;
		}
		munmap(addr, (size_t)count * VBD_PAGE_SIZE);
	}
	/* Undo: end the grants we could not hand out. */
	uq = (struct simhv_req){ .op = SIMHV_OP_UNSHARE, .count = count };
	(void)call(s, &uq, rg->refs, 0, 0, &rep, NULL);
out:
	pthread_mutex_unlock(&s->lock);
	if (fd >= 0)
		close(fd);
	free(rg);
	return r;
}

static int sim_unshare(vbd_xport *x, void *addr, unsigned count)
{
	struct sim *s = x->impl;
	struct simhv_req q = { .op = SIMHV_OP_UNSHARE, .count = count };
	const struct simhv_rep *rep;
	vbd__region *rg;
	int r;

	pthread_mutex_lock(&s->lock);
	rg = vbd__region_find(&s->regions, addr, true);
	if (!rg || rg->count != count) {
		r = -EINVAL;
		goto out;
	}
	r = call(s, &q, rg->refs, 0, 0, &rep, NULL);
	/* With the broker gone our grants are gone too. */
	if (r >= 0 || r == -EPIPE) {
		vbd__region_take(&s->regions, addr, true);
		munmap(addr, (size_t)count * VBD_PAGE_SIZE);
		free(rg);
		r = 0;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int sim_map(vbd_xport *x, unsigned domid, unsigned count, const uint32_t *refs,
                   bool writable, void **ret_addr)
{
	struct sim *s = x->impl;
	struct simhv_req q = { .op = SIMHV_OP_MAP, .domid = domid, .count = count,
	                       .flags = writable ? SIMHV_F_WRITABLE : 0 };
	const struct simhv_rep *rep;
	vbd__region *rg;
	int fds[SIMHV_FDS_MAX] = { -1, -1 };
	void *addr = NULL;
	int r, nfds = 0;

	if (count > SIMHV_REFS_MAX)
		return -E2BIG;
	rg = malloc(sizeof(*rg));
	if (!rg)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	r = call(s, &q, refs, 1, SIMHV_FDS_MAX, &rep, fds);
	if (r < 0)
		goto out;
	nfds = r;
	rg->id = rep->id;
	r = map_items(count, (const struct simhv_item *)(rep + 1), fds, (unsigned)nfds,
	              PROT_READ | (writable ? PROT_WRITE : 0), &addr);
	if (r >= 0) {
		rg->addr = addr;
		rg->count = count;
		rg->shared = false;
		r = vbd__region_add(&s->regions, rg);
		if (r >= 0) {
			*ret_addr = addr;
			rg = NULL;
			goto out;
		}
		munmap(addr, (size_t)count * VBD_PAGE_SIZE);
	}
	q = (struct simhv_req){ .op = SIMHV_OP_UNMAP, .id = rg->id };
	(void)call(s, &q, NULL, 0, 0, &rep, NULL);
out:
	pthread_mutex_unlock(&s->lock);
	close_fds(fds, (unsigned)nfds);
	free(rg);
	return r;
}

static int sim_unmap(vbd_xport *x, void *addr, unsigned count)
{
	struct sim *s = x->impl;
	const struct simhv_rep *rep;
	struct simhv_req q = { .op = SIMHV_OP_UNMAP };
	vbd__region *rg;
	int r;

	pthread_mutex_lock(&s->lock);
	rg = vbd__region_find(&s->regions, addr, false);
	if (!rg || rg->count != count) {
		r = -EINVAL;
		goto out;
	}
	vbd__region_take(&s->regions, addr, false);
	munmap(addr, (size_t)count * VBD_PAGE_SIZE);
	q.id = rg->id;
	free(rg);
	r = call(s, &q, NULL, 0, 0, &rep, NULL);
	/* The pages are gone here whatever the broker says; without a
	 * broker there is nothing left to tell. */
	if (r == -EPIPE)
		r = 0;
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- event channels ---- */

static int sim_evtchn_open(vbd_evtchn *e)
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

static int unbind_call(vbd_evtchn *e, uint32_t port)
{
	struct sim *s = e->x->impl;
	struct simhv_req q = { .op = SIMHV_OP_EVT_UNBIND, .port = port };
	const struct simhv_rep *rep;
	int r;

	pthread_mutex_lock(&s->lock);
	r = call(s, &q, NULL, 0, 0, &rep, NULL);
	pthread_mutex_unlock(&s->lock);
	return r == -EPIPE ? 0 : r;
}

static void sim_evtchn_close(vbd_evtchn *e)
{
	struct sim_evt *v = e->impl;

	while (v->n) {
		(void)unbind_call(e, v->p[0].port);
		port_drop(e, &v->p[0]);
	}
	free(v->p);
	free(v);
	close(e->fd);
}

/* Sends an alloc or bind request and takes the port it returns. */
static int port_new(vbd_evtchn *e, const struct simhv_req *q, uint32_t *ret_port)
{
	struct sim *s = e->x->impl;
	struct sim_evt *v = e->impl;
	struct epoll_event ev = { .events = EPOLLIN };
	const struct simhv_rep *rep;
	int fds[SIMHV_FDS_MAX] = { -1, -1 };
	uint32_t port;
	int r;

	pthread_mutex_lock(&s->lock);
	r = call(s, q, NULL, 2, 2, &rep, fds);
	port = r >= 0 ? rep->port : 0;
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return r;
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
	close_fds(fds, 2);
	if (port)
		(void)unbind_call(e, port);
	return r;
}

static int sim_alloc_unbound(vbd_evtchn *e, unsigned remote_domid, uint32_t *ret_port)
{
	struct simhv_req q = { .op = SIMHV_OP_EVT_ALLOC, .domid = remote_domid };

	return port_new(e, &q, ret_port);
}

static int sim_bind_interdomain(vbd_evtchn *e, unsigned remote_domid, uint32_t remote_port,
                                uint32_t *ret_port)
{
	struct simhv_req q = { .op = SIMHV_OP_EVT_BIND, .domid = remote_domid,
	                       .port = remote_port };

	return port_new(e, &q, ret_port);
}

static int sim_unbind(vbd_evtchn *e, uint32_t port)
{
	struct sim_port *p = port_find(e->impl, port);
	int r;

	if (!p)
		return -EINVAL;
	r = unbind_call(e, port);
	if (r < 0)
		return r;
	port_drop(e, p);
	return 0;
}

static int sim_notify(vbd_evtchn *e, uint32_t port)
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

static int sim_pending(vbd_evtchn *e)
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

static int sim_unmask(vbd_evtchn *e, uint32_t port)
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

const struct vbd__xport_ops vbd__xport_sim_ops = {
	.name = "sim",
	.open = sim_open,
	.close = sim_close,
	.share = sim_share,
	.unshare = sim_unshare,
	.map = sim_map,
	.unmap = sim_unmap,
	.evtchn_open = sim_evtchn_open,
	.evtchn_close = sim_evtchn_close,
	.alloc_unbound = sim_alloc_unbound,
	.bind_interdomain = sim_bind_interdomain,
	.unbind = sim_unbind,
	.notify = sim_notify,
	.pending = sim_pending,
	.unmask = sim_unmask,
};
