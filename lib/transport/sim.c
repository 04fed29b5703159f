/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VBD_XPORT_SIM, the client side: one SOCK_SEQPACKET connection to the
 * simulated hypervisor (lib/simhv/) per vbd_xport, one request and one reply
 * per call under the handle's mutex (grant calls come from many threads).
 * vbd__xport_run() sends several requests before it reads their replies,
 * which the broker answers in order: a ring's setup in one round trip.
 *
 * Grant pages arrive as fds plus page indexes (simhv_wire.h).  A region is
 * reserved PROT_NONE, then each run of consecutive pages of one fd is mapped
 * over it with MAP_FIXED; the fds are closed at once.  Unmapping is munmap
 * first, then telling the broker, so that its map count never claims less
 * than what is mapped.
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

#include "transport/sim_internal.h"
#include "util/err.h"

void vbd__sim_close_fds(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Sends one request, under s->lock.  0, or -EPIPE when the broker is
 * gone, -errno. */
int vbd__sim_send(struct sim *s, const struct simhv_req *q, const uint32_t *items)
{
	struct iovec iov[2] = { { (void *)q, sizeof(*q) },
	                        { (void *)items, (q->op == SIMHV_OP_UNSHARE ||
	                                          q->op == SIMHV_OP_MAP) ? 4u * q->count : 0 } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = iov[1].iov_len ? 2 : 1 };
	ssize_t n;

	if (s->fd < 0)
		return -EPIPE;
	do
		n = sendmsg(s->fd, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET || errno == ENOTCONN ? -EPIPE : -errno;
	return 0;
}

/* The reply to q, the next on the connection, under s->lock.  Returns the
 * reply's status (or a transport error: -EPIPE when the broker is gone,
 * -EPROTO for a reply that does not fit the request); on success, the
 * number of fds, which fds[] receives (between min_fds and max_fds of them,
 * the caller's now), and *ret_rep points into s->buf. */
int vbd__sim_recv(struct sim *s, const struct simhv_req *q, unsigned min_fds, unsigned max_fds,
                    const struct simhv_rep **ret_rep, int *fds)
{
	int got[SIMHV_FDS_MAX];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * SIMHV_FDS_MAX)];
	} cm;
	struct iovec iov = { s->buf, SIMHV_REP_MAX + 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
	                    .msg_controllen = sizeof(cm.b) };
	const struct simhv_rep *rep = (const struct simhv_rep *)s->buf;
	struct cmsghdr *ch;
	unsigned nfds = 0, i;
	ssize_t n;
	size_t want;
	int r;

	if (s->fd < 0)
		return -EPIPE;
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
	vbd__sim_close_fds(got, nfds);
	return r;
}

/* One request and its reply, under s->lock (vbd__sim_recv() says what it
 * returns). */
int vbd__sim_call(struct sim *s, const struct simhv_req *q, const uint32_t *items,
                unsigned min_fds, unsigned max_fds, const struct simhv_rep **ret_rep, int *fds)
{
	int r = vbd__sim_send(s, q, items);

	return r < 0 ? r : vbd__sim_recv(s, q, min_fds, max_fds, ret_rep, fds);
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
		vbd__region_free(rg);
	}
	vbd__region_map_done(&s->regions);
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->lock);
	free(s->buf);
	free(s);
}

/* A SHARE's reply (at s->buf, its grant memory fd) taken, under s->lock:
 * its refs into rg, its pages mapped here over a fresh region, rg recorded.
 * 0 (rg the map's now; ret_refs and *ret_addr filled), or -errno with the
 * grants still the broker's, rg->refs saying which: the caller ends them. */
int vbd__sim_share_accept(struct sim *s, vbd__region *rg, unsigned count, int fd,
                        uint32_t *ret_refs, void **ret_addr)
{
	struct simhv_item *it = (struct simhv_item *)(s->buf + sizeof(struct simhv_rep));
	void *addr = NULL;
	unsigned i;
	int r;

	for (i = 0; i < count; i++)
		rg->refs[i] = it[i].a;
	/* The items say (ref, page); map_items wants (fd index, page). */
	for (i = 0; i < count; i++)
		it[i].a = 0;
	r = map_items(count, it, &fd, 1, PROT_READ | PROT_WRITE, &addr);
	if (r < 0)
		return r;
	rg->addr = addr;
	rg->count = count;
	rg->shared = true;
	rg->id = 0;
	r = vbd__region_add(&s->regions, rg);
	if (r < 0) {
		munmap(addr, (size_t)count * VBD_PAGE_SIZE);
		return r;
	}
	memcpy(ret_refs, rg->refs, count * sizeof(*ret_refs));
	*ret_addr = addr;
	return 0;
}

/* Ends the grants of a SHARE not taken (share_accept failed), under s->lock. */
void vbd__sim_share_end(struct sim *s, const vbd__region *rg, unsigned count)
{
	struct simhv_req q = { .op = SIMHV_OP_UNSHARE, .count = count };
	const struct simhv_rep *rep;

	(void)vbd__sim_call(s, &q, rg->refs, 0, 0, &rep, NULL);
}

static int sim_share(vbd_xport *x, unsigned domid, unsigned count, bool writable,
                     uint32_t *ret_refs, void **ret_addr)
{
	struct sim *s = x->impl;
	struct simhv_req q = { .op = SIMHV_OP_SHARE, .domid = domid, .count = count,
	                       .flags = writable ? SIMHV_F_WRITABLE : 0 };
	const struct simhv_rep *rep;
	vbd__region *rg;
	int fd = -1, r;

	if (count > SIMHV_REFS_MAX)
		return -E2BIG;
	if (!(rg = vbd__region_new(count)))
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	r = vbd__sim_call(s, &q, NULL, 1, 1, &rep, &fd);
	if (r >= 0) {
		r = vbd__sim_share_accept(s, rg, count, fd, ret_refs, ret_addr);
		if (r == 0)
			rg = NULL;
		else
			vbd__sim_share_end(s, rg, count);     /* the grants we could not hand out */
	}
	pthread_mutex_unlock(&s->lock);
	if (fd >= 0)
		close(fd);
	vbd__region_free(rg);
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
	r = vbd__sim_call(s, &q, rg->refs, 0, 0, &rep, NULL);
	/* With the broker gone our grants are gone too. */
	if (r >= 0 || r == -EPIPE) {
		vbd__region_take(&s->regions, addr, true);
		munmap(addr, (size_t)count * VBD_PAGE_SIZE);
		vbd__region_free(rg);
		r = 0;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* A MAP's reply (at s->buf, nfds fds) taken, under s->lock: its pages
 * mapped over a fresh region, rg recorded.  0 (rg the map's now), or
 * -errno with the mapping still the broker's (rg->id: the caller ends it
 * with vbd__sim_map_end()). */
int vbd__sim_map_accept(struct sim *s, vbd__region *rg, unsigned count, bool writable,
                      const int *fds, unsigned nfds, void **ret_addr)
{
	const struct simhv_rep *rep = (const struct simhv_rep *)s->buf;
	void *addr = NULL;
	int r;

	rg->id = rep->id;
	r = map_items(count, (const struct simhv_item *)(rep + 1), fds, nfds,
	              PROT_READ | (writable ? PROT_WRITE : 0), &addr);
	if (r < 0)
		return r;
	rg->addr = addr;
	rg->count = count;
	rg->shared = false;
	r = vbd__region_add(&s->regions, rg);
	if (r < 0) {
		munmap(addr, (size_t)count * VBD_PAGE_SIZE);
		return r;
	}
	*ret_addr = addr;
	return 0;
}

void vbd__sim_map_end(struct sim *s, uint64_t id)
{
	struct simhv_req q = { .op = SIMHV_OP_UNMAP, .id = id };
	const struct simhv_rep *rep;

	(void)vbd__sim_call(s, &q, NULL, 0, 0, &rep, NULL);
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
	int r, nfds = 0;

	if (count > SIMHV_REFS_MAX)
		return -E2BIG;
	if (!(rg = vbd__region_new(0)))
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	r = vbd__sim_call(s, &q, refs, 1, SIMHV_FDS_MAX, &rep, fds);
	if (r >= 0) {
		nfds = r;
		r = vbd__sim_map_accept(s, rg, count, writable, fds, (unsigned)nfds, ret_addr);
		if (r == 0)
			rg = NULL;
		else
			vbd__sim_map_end(s, rg->id);
	}
	pthread_mutex_unlock(&s->lock);
	vbd__sim_close_fds(fds, (unsigned)nfds);
	vbd__region_free(rg);
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
	vbd__region_free(rg);
	r = vbd__sim_call(s, &q, NULL, 0, 0, &rep, NULL);
	/* The pages are gone here whatever the broker says; without a
	 * broker there is nothing left to tell. */
	if (r == -EPIPE)
		r = 0;
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

const struct vbd__xport_ops vbd__xport_sim_ops = {
	.name = "sim",
	.open = sim_open,
	.close = sim_close,
	.share = sim_share,
	.unshare = sim_unshare,
	.map = sim_map,
	.unmap = sim_unmap,
	.evtchn_open = vbd__sim_evtchn_open,
	.evtchn_close = vbd__sim_evtchn_close,
	.alloc_unbound = vbd__sim_alloc_unbound,
	.bind_interdomain = vbd__sim_bind_interdomain,
	.unbind = vbd__sim_unbind,
	.notify = vbd__sim_notify,
	.pending = vbd__sim_pending,
	.unmask = vbd__sim_unmask,
	.run = vbd__sim_run,
};
