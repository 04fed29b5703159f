/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulated hypervisor (vbd/simhv.h): grant tables, grant memory and
 * event channels for processes that act as domains.
 *
 * Grant memory lives in arenas, one memfd per (granter, grantee, writable)
 * triple, of which the broker keeps a read-write and a read-only fd (the
 * latter opened through /proc/self/fd, so that the kernel itself refuses a
 * writable mapping).  A grant entry points at one page ("slot") of an arena.
 * So a map call needs at most two fds whatever the number of pages, and the
 * broker holds two fds per pair of domains, not one per share call.  An fd
 * reaches only pages that the same granter gave the same grantee with the
 * same access, so a client that keeps one gains nothing Xen would refuse it
 * beyond the pages it was given.
 *
 * Example: dom0 shares 2 pages with dom1, writable; dom1 maps them, then
 * dom0's process dies:
 *
 *   SHARE(1, 2, rw) from dom0   arena (0,1,rw) slots 0,1; refs 8,9 in dom0's
 *                               table; reply: refs, slots, the arena's RW fd
 *   MAP(0, [8,9], rw) from dom1 slot map counts 1,1; reply: id, slots, RW fd
 *   dom0's connection closes    refs 8,9 freed (ended); slots 0,1 stay,
 *                               still mapped: dom1's pages remain valid
 *   UNMAP(id) from dom1         counts 0: slots punched (zeroed) and freed;
 *                               the arena, now empty, is closed.
 *
 * A slot is freed when no grant entry holds it and no one maps it; it is
 * zeroed (hole punched) when freed, to release the memory, and again when
 * allocated, because a mapper holding the arena's fd could have written to
 * it in between.
 *
 * Event channels: alloc_unbound creates two eventfds, the allocating port's
 * inbound one and the future binder's; the allocator gets both (the second
 * is where its notifications go).  A bind hands them to the binder the
 * other way round; the broker keeps its copies for as long as the
 * allocator's port lives.  So, as on Xen, when the binder unbinds or dies
 * the allocator's port is unbound again and can be bound anew (Linux's
 * blkback rebinds the same port when frontend state events repeat), and the
 * allocator's notify fd stays right.  The binder's port, when the allocator
 * goes, leads nowhere (PORT_DEAD).
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "simhv/simhv_wire.h"
#include "util/listen.h"
#include "transport/xport.h"
#include "util/opts.h"
#include "util/err.h"

#define DOMID_LIMIT ((unsigned)VBD_DOMID_FIRST_RESERVED)
#define GNT_RESERVED 8u          /* refs 0..7 are the toolstack's on Xen */
#define ARENA_SLOTS_MAX (1u << 20)
#define DOM0_CONNS_MAX 1024u
#define READS_PER_PROCESS 32     /* messages per connection per process() */

enum { SRC_LISTEN = 1, SRC_CONN };
enum { PORT_FREE, PORT_UNBOUND, PORT_BOUND, PORT_DEAD };

typedef struct hv_conn hv_conn;

typedef struct hv_arena {
	struct hv_arena *next;
	unsigned granter, grantee;
	bool writable;
	int fd_rw, fd_ro;
	uint32_t cap;            /* slots the file holds */
	uint32_t top;            /* slots [top, cap) never used */
	uint32_t used;
	uint32_t nfree;
	uint32_t *free;          /* stack of freed slots */
	uint32_t *mapcnt;
	uint8_t *granted;
} hv_arena;

typedef struct hv_gnt {
	hv_conn *owner;          /* NULL: free */
	hv_arena *ar;
	uint32_t slot;
	uint16_t grantee;
	bool writable;
	bool mark;               /* seen in this UNSHARE (duplicates) */
} hv_gnt;

typedef struct hv_port {
	uint8_t state;
	hv_conn *owner;
	uint32_t rdom, rport;
	int fd_in, fd_peer;      /* PORT_UNBOUND: this port's inbound eventfd
	                          * and the binder's; else -1 */
} hv_port;

typedef struct hv_domain {
	int kind;                /* SRC_LISTEN */
	struct hv_domain *next;
	unsigned id;
	vbd__listener listen;    /* <path>.d/<id> (dom0: path); acts as id */
	unsigned nconns;
	hv_gnt *gnt;
	uint32_t gnt_cap, gnt_top, gnt_used, gnt_nfree;
	uint32_t *gnt_free;
	hv_port *ports;
	uint32_t port_cap, ports_used;
} hv_domain;

struct hv_page {
	hv_arena *ar;
	uint32_t slot;
};

typedef struct hv_map {
	struct hv_map *next;
	uint64_t id;
	uint32_t count;
	struct hv_page pg[];
} hv_map;

struct hv_conn {
	int kind;                /* SRC_CONN */
	hv_conn *next;
	hv_domain *dom;
	int fd;
	bool dead;
	unsigned ngrants, nports;
	uint64_t mapped;
	uint64_t next_map_id;
	hv_map *maps;
	/* one reply the socket did not take; nothing more is read until sent */
	void *out;
	size_t out_len;
	int out_fds[SIMHV_FDS_MAX];
	unsigned out_nfds;
};

struct vbd_simhv {
	int epfd;
	char *path;
	hv_domain *domains;
	hv_conn *conns;
	hv_arena *arenas;
	vbd__simhv_limits lim;
	vbd_simhv_stats st;
	int spare_fd;            /* given up to drop a client when out of fds */
	uint8_t *rbuf, *wbuf;
	uint32_t *scratch;       /* SIMHV_REFS_MAX slots */
};

/* Handlers return a status for the reply, or KILL for a violation. */
#define KILL INT_MIN

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static hv_domain *domain_find(vbd_simhv *h, unsigned id)
{
	hv_domain *d;

	for (d = h->domains; d; d = d->next)
		if (d->id == id)
			return d;
	return NULL;
}

/* ---- arenas and slots ---- */

static void arena_free(vbd_simhv *h, hv_arena *a)
{
	hv_arena **pp;

	for (pp = &h->arenas; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	close_fd(&a->fd_rw);
	close_fd(&a->fd_ro);
	free(a->free);
	free(a->mapcnt);
	free(a->granted);
	free(a);
}

static void punch(hv_arena *a, uint32_t slot, uint32_t n)
{
	/* Best effort: fails only for reasons that would have failed the
	 * memfd already; the page is then merely not zeroed. */
	(void)!fallocate(a->fd_rw, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	                 (off_t)slot * VBD_PAGE_SIZE, (off_t)n * VBD_PAGE_SIZE);
}

/* Frees the slot if nothing holds it any more; the arena with its last. */
static void slot_release(vbd_simhv *h, hv_arena *a, uint32_t slot)
{
	if (a->granted[slot] || a->mapcnt[slot])
		return;
	punch(a, slot, 1);
	a->free[a->nfree++] = slot;
	a->used--;
	h->st.pages--;
	if (a->used == 0)
		arena_free(h, a);
}

static hv_arena *arena_get(vbd_simhv *h, unsigned granter, unsigned grantee, bool writable,
                           int *ret_err)
{
	char proc[64];
	hv_arena *a;

	for (a = h->arenas; a; a = a->next)
		if (a->granter == granter && a->grantee == grantee && a->writable == writable)
			return a;
	a = calloc(1, sizeof(*a));
	if (!a) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	a->granter = granter;
	a->grantee = grantee;
	a->writable = writable;
	a->fd_ro = -1;
	a->fd_rw = memfd_create("vbd-simhv-grants", MFD_CLOEXEC);
	if (a->fd_rw < 0)
		goto fail;
	/* A new open file description, read-only: mmap(PROT_WRITE,
	 * MAP_SHARED) of it fails with EACCES in the mapper's kernel. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", a->fd_rw);
	a->fd_ro = open(proc, O_RDONLY | O_CLOEXEC);
	if (a->fd_ro < 0)
		goto fail;
	a->next = h->arenas;
	h->arenas = a;
	return a;
fail:
	*ret_err = -errno;
	close_fd(&a->fd_rw);
	free(a);
	return NULL;
}

static int arena_grow(hv_arena *a, uint32_t need)
{
	uint32_t cap = a->cap ? a->cap : 64, *fr, *mc;
	uint8_t *gr;

	while (cap < need)
		cap *= 2;
	if (cap > ARENA_SLOTS_MAX)
		cap = ARENA_SLOTS_MAX;
	if (cap < need)
		return -ENOSPC;
	fr = realloc(a->free, cap * sizeof(*fr));
	if (!fr)
		return -ENOMEM;
	a->free = fr;
	mc = realloc(a->mapcnt, cap * sizeof(*mc));
	if (!mc)
		return -ENOMEM;
	a->mapcnt = mc;
	gr = realloc(a->granted, cap);
	if (!gr)
		return -ENOMEM;
	a->granted = gr;
	if (ftruncate(a->fd_rw, (off_t)cap * VBD_PAGE_SIZE) < 0)
		return -errno;
	memset(mc + a->cap, 0, (cap - a->cap) * sizeof(*mc));
	memset(gr + a->cap, 0, cap - a->cap);
	a->cap = cap;
	return 0;
}

/* Takes n slots, zeroed, into out[]; all or nothing. */
static int arena_alloc(vbd_simhv *h, hv_arena *a, uint32_t n, uint32_t *out)
{
	uint32_t i, run;
	int r;

	if (a->nfree + (a->cap - a->top) < n) {
		r = arena_grow(a, a->top + (n - a->nfree));
		if (r < 0)
			return r;
	}
	for (i = 0; i < n; i++) {
		out[i] = a->nfree ? a->free[--a->nfree] : a->top++;
		a->granted[out[i]] = 1;
	}
	for (i = 0; i < n; i += run) {
		for (run = 1; i + run < n && out[i + run] == out[i] + run; run++)
			;
		punch(a, out[i], run);
	}
	a->used += n;
	h->st.pages += n;
	return 0;
}

/* ---- grant tables ---- */

static uint32_t gnt_avail(const vbd_simhv *h, const hv_domain *d)
{
	uint32_t lim = h->lim.grants;

	return d->gnt_nfree + (d->gnt_top < lim ? lim - d->gnt_top : 0);
}

static int gnt_reserve(vbd_simhv *h, hv_domain *d, uint32_t n)
{
	uint32_t need = d->gnt_top + (n > d->gnt_nfree ? n - d->gnt_nfree : 0), cap;
	hv_gnt *g;
	uint32_t *fr;

	if (need <= d->gnt_cap)
		return 0;
	cap = d->gnt_cap ? d->gnt_cap : 64;
	while (cap < need)
		cap *= 2;
	if (cap > h->lim.grants && need <= h->lim.grants)
		cap = h->lim.grants;
	g = realloc(d->gnt, cap * sizeof(*g));
	if (!g)
		return -ENOMEM;
	memset(g + d->gnt_cap, 0, (cap - d->gnt_cap) * sizeof(*g));
	d->gnt = g;
	fr = realloc(d->gnt_free, cap * sizeof(*fr));
	if (!fr)
		return -ENOMEM;
	d->gnt_free = fr;
	d->gnt_cap = cap;
	return 0;
}

static uint32_t gnt_alloc(hv_domain *d)
{
	return d->gnt_nfree ? d->gnt_free[--d->gnt_nfree] : d->gnt_top++;
}

/* Ends access: the entry is free, its page goes when no one maps it. */
static void gnt_end(vbd_simhv *h, hv_domain *d, uint32_t ref)
{
	hv_gnt *g = &d->gnt[ref];
	hv_arena *a = g->ar;

	g->owner->ngrants--;
	g->owner = NULL;
	g->ar = NULL;
	d->gnt_free[d->gnt_nfree++] = ref;
	d->gnt_used--;
	h->st.grants--;
	a->granted[g->slot] = 0;
	slot_release(h, a, g->slot);
}

static bool gnt_valid(const hv_domain *d, uint32_t ref)
{
	return ref >= GNT_RESERVED && ref < d->gnt_top && ref < d->gnt_cap && d->gnt[ref].owner;
}

/* ---- event channels ---- */

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

static void port_close(vbd_simhv *h, hv_domain *d, uint32_t port)
{
	hv_port *p = &d->ports[port], *q;
	hv_domain *rd;

	if (p->state == PORT_BOUND) {
		rd = domain_find(h, p->rdom);
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
}

/* ---- connections ---- */

static void map_drop(vbd_simhv *h, hv_conn *c, hv_map *m)
{
	uint32_t i;

	for (i = 0; i < m->count; i++) {
		m->pg[i].ar->mapcnt[m->pg[i].slot]--;
		slot_release(h, m->pg[i].ar, m->pg[i].slot);
	}
	c->mapped -= m->count;
	h->st.maps -= m->count;
	free(m);
}

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
	for (i = GNT_RESERVED; c->ngrants && i < d->gnt_top && i < d->gnt_cap; i++)
		if (d->gnt[i].owner == c)
			gnt_end(h, d, i);
	while (c->maps) {
		hv_map *m = c->maps;

		c->maps = m->next;
		map_drop(h, c, m);
	}
	for (i = 1; c->nports && i < d->port_cap; i++)
		if (d->ports[i].state != PORT_FREE && d->ports[i].owner == c)
			port_close(h, d, i);
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close_fd(&c->fd);
	out_clear(c);
	d->nconns--;
	h->st.conns--;
	if (violation)
		h->st.conns_killed++;
}

static void conn_reap(vbd_simhv *h)
{
	hv_conn **pp = &h->conns, *c;

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

struct reply {
	struct simhv_rep *rep;
	struct simhv_item *items;
	int fds[SIMHV_FDS_MAX];
	unsigned nfds;
	int close_fds[SIMHV_FDS_MAX];   /* ours, closed once sent */
	unsigned nclose;
};

static int op_share(vbd_simhv *h, hv_conn *c, const struct simhv_req *q, const uint32_t *items,
                    unsigned n, struct reply *rp)
{
	hv_domain *d = c->dom;
	bool writable = q->flags & SIMHV_F_WRITABLE;
	uint32_t *slots = h->scratch;
	hv_arena *a;
	uint32_t i;
	int r = 0;

	(void)items;
	if (n || q->port || q->id || (q->flags & ~SIMHV_F_WRITABLE))
		return KILL;
	if (q->count == 0 || q->domid >= DOMID_LIMIT)
		return -EINVAL;
	if (q->count > h->lim.refs_per_call || q->count > SIMHV_REFS_MAX)
		return -E2BIG;
	if (gnt_avail(h, d) < q->count)
		return -ENOSPC;
	r = gnt_reserve(h, d, q->count);
	if (r < 0)
		return r;
	a = arena_get(h, d->id, q->domid, writable, &r);
	if (!a)
		return r;
	r = arena_alloc(h, a, q->count, slots);
	if (r < 0) {
		if (a->used == 0)
			arena_free(h, a);
		return r;
	}
	for (i = 0; i < q->count; i++) {
		uint32_t slot = slots[i], ref = gnt_alloc(d);
		hv_gnt *g = &d->gnt[ref];

		g->owner = c;
		g->ar = a;
		g->slot = slot;
		g->grantee = (uint16_t)q->domid;
		g->writable = writable;
		g->mark = false;
		rp->items[i].a = ref;
		rp->items[i].b = slot;
	}
	c->ngrants += q->count;
	d->gnt_used += q->count;
	h->st.grants += q->count;
	rp->rep->count = q->count;
	rp->fds[0] = a->fd_rw;
	rp->nfds = 1;
	return 0;
}

static int op_unshare(vbd_simhv *h, hv_conn *c, const struct simhv_req *q, const uint32_t *refs,
                      unsigned n, struct reply *rp)
{
	hv_domain *d = c->dom;
	uint32_t i, marked;
	int r = 0;

	(void)rp;
	if (n != q->count || q->domid || q->flags || q->port || q->id)
		return KILL;
	if (n == 0)
		return -EINVAL;
	/* All or nothing: check every ref first; a duplicate is -EINVAL. */
	for (marked = 0; marked < n; marked++) {
		hv_gnt *g;

		if (!gnt_valid(d, refs[marked]) || d->gnt[refs[marked]].owner != c ||
		    d->gnt[refs[marked]].mark) {
			r = -EINVAL;
			break;
		}
		g = &d->gnt[refs[marked]];
		g->mark = true;
		if (g->ar->mapcnt[g->slot]) {
			r = -EBUSY;
			marked++;
			break;
		}
	}
	for (i = 0; i < marked; i++)
		d->gnt[refs[i]].mark = false;
	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		gnt_end(h, d, refs[i]);
	return 0;
}

static int op_map(vbd_simhv *h, hv_conn *c, const struct simhv_req *q, const uint32_t *refs,
                  unsigned n, struct reply *rp)
{
	bool writable = q->flags & SIMHV_F_WRITABLE;
	hv_domain *gd;
	hv_map *m;
	uint32_t i;

	if (n != q->count || q->port || q->id || (q->flags & ~SIMHV_F_WRITABLE))
		return KILL;
	if (n == 0 || q->domid >= DOMID_LIMIT)
		return -EINVAL;
	if (n > h->lim.refs_per_call)
		return -E2BIG;
	gd = domain_find(h, q->domid);
	if (!gd)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		const hv_gnt *g;

		if (!gnt_valid(gd, refs[i]))
			return -EINVAL;
		g = &gd->gnt[refs[i]];
		if (g->grantee != c->dom->id || (writable && !g->writable))
			return -EACCES;
	}
	if (c->mapped + n > h->lim.mapped_pages)
		return -ENOSPC;
	m = malloc(sizeof(*m) + n * sizeof(m->pg[0]));
	if (!m)
		return -ENOMEM;
	m->id = c->next_map_id++;
	m->count = n;
	rp->nfds = 0;
	for (i = 0; i < n; i++) {
		const hv_gnt *g = &gd->gnt[refs[i]];
		int fd = writable ? g->ar->fd_rw : g->ar->fd_ro;
		unsigned k;

		for (k = 0; k < rp->nfds && rp->fds[k] != fd; k++)
			;
		/* At most two arenas (rw and ro) per granter and grantee. */
		if (k == rp->nfds)
			rp->fds[rp->nfds++] = fd;
		m->pg[i].ar = g->ar;
		m->pg[i].slot = g->slot;
		g->ar->mapcnt[g->slot]++;
		rp->items[i].a = k;
		rp->items[i].b = g->slot;
	}
	m->next = c->maps;
	c->maps = m;
	c->mapped += n;
	h->st.maps += n;
	rp->rep->count = n;
	rp->rep->id = m->id;
	return 0;
}

static int op_unmap(vbd_simhv *h, hv_conn *c, const struct simhv_req *q, const uint32_t *items,
                    unsigned n, struct reply *rp)
{
	hv_map **pp, *m;

	(void)items;
	(void)rp;
	if (n || q->domid || q->count || q->flags || q->port)
		return KILL;
	for (pp = &c->maps; (m = *pp); pp = &m->next)
		if (m->id == q->id) {
			*pp = m->next;
			map_drop(h, c, m);
			return 0;
		}
	return -EINVAL;
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

static int op_evt_alloc(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
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

static int op_evt_bind(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
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
	rd = q->domid < DOMID_LIMIT ? domain_find(h, q->domid) : NULL;
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

static int op_evt_unbind(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                         const uint32_t *items, unsigned n, struct reply *rp)
{
	hv_port *p = port_get(c->dom, q->port);

	(void)items;
	(void)rp;
	if (n || q->domid || q->count || q->flags || q->id)
		return KILL;
	if (!p || p->owner != c)
		return -EINVAL;
	port_close(h, c->dom, q->port);
	return 0;
}

typedef int (*op_fn)(vbd_simhv *h, hv_conn *c, const struct simhv_req *q, const uint32_t *items,
                     unsigned n, struct reply *rp);

static const op_fn ops[SIMHV_OP_COUNT] = {
	[SIMHV_OP_SHARE] = op_share,
	[SIMHV_OP_UNSHARE] = op_unshare,
	[SIMHV_OP_MAP] = op_map,
	[SIMHV_OP_UNMAP] = op_unmap,
	[SIMHV_OP_EVT_ALLOC] = op_evt_alloc,
	[SIMHV_OP_EVT_BIND] = op_evt_bind,
	[SIMHV_OP_EVT_UNBIND] = op_evt_unbind,
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
		arena_free(h, h->arenas);
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
	if (domain_find(h, domid))
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
	d = domain_find(h, domid);
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
