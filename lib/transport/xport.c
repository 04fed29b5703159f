/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transport's public entry points: argument checks, the fault seam, and
 * dispatch to the implementation's ops table (sim.c or xen.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "transport/xport.h"
#include "util/err.h"
#include "util/opts.h"

static const char *const op_names[VBD__XOP_COUNT] = {
#define X(e, s) [VBD__XOP_##e] = s,
	VBD__XOPS(X)
#undef X
};

/* ---- region records ----
 *
 * A map is made on whatever thread asks: blkback's ring workers map the
 * grants their requests bring.  The first malloc() a thread makes gives it
 * one of glibc's per-thread arenas (up to 8 per CPU), and an arena keeps
 * its touched pages after its blocks are freed: 2000 workers that each
 * malloc'd one 32-byte record left about 170 KiB behind in the backend
 * after every device had gone.  So the records of maps, and the table that
 * finds them, are pages mapped for them: a page of records goes back when
 * its last record is freed, but for one kept empty (so that a map and its
 * unmap per request, without persistent grants, do not map and unmap a page
 * each); the table goes back when the map empties.  Shares' records carry
 * their references, of any count, and come from the heap. */

struct rpage {
	struct rpage *next, *prev;     /* pages with a free record */
	vbd__region *free;
	unsigned used;
};

#define RPAGE_RECS ((VBD_PAGE_SIZE - sizeof(struct rpage)) / sizeof(vbd__region))

static pthread_mutex_t rpages_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rpage *rpages;           /* those with a free record */
static size_t rpages_mapped;
static bool rpage_spare;               /* one of them is empty */

static void rpage_unlink(struct rpage *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		rpages = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->next = p->prev = NULL;
}

static void rpage_link(struct rpage *p)
{
	p->prev = NULL;
	p->next = rpages;
	if (rpages)
		rpages->prev = p;
	rpages = p;
}

static struct rpage *rpage_new(void)
{
	struct rpage *p = mmap(NULL, VBD_PAGE_SIZE, PROT_READ | PROT_WRITE,
	                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	vbd__region *recs;
	size_t i;

	if (p == MAP_FAILED)
		return NULL;
	recs = (vbd__region *)(p + 1);
	for (i = 0; i < RPAGE_RECS; i++)
		recs[i].next = i + 1 < RPAGE_RECS ? &recs[i + 1] : NULL;
	p->free = recs;
	p->used = 0;
	rpage_link(p);
	rpages_mapped++;
	return p;
}

vbd__region *vbd__region_new(unsigned refs)
{
	vbd__region *r = NULL;
	struct rpage *p;

	if (refs) {
		r = malloc(sizeof(*r) + (size_t)refs * sizeof(uint32_t));
		if (r)
			r->pooled = false;
		return r;
	}
	pthread_mutex_lock(&rpages_lock);
	if ((p = rpages) || (p = rpage_new())) {
		r = p->free;
		p->free = r->next;
		if (!p->used)
			rpage_spare = false;
		if (++p->used == RPAGE_RECS)
			rpage_unlink(p);
		r->pooled = true;
	}
	pthread_mutex_unlock(&rpages_lock);
	return r;
}

void vbd__region_free(vbd__region *r)
{
	struct rpage *p;

	if (!r || !r->pooled) {
		free(r);
		return;
	}
	p = (struct rpage *)((uintptr_t)r & ~(uintptr_t)(VBD_PAGE_SIZE - 1));
	pthread_mutex_lock(&rpages_lock);
	if (p->used-- == RPAGE_RECS)
		rpage_link(p);
	if (p->used || !rpage_spare) {
		r->next = p->free;
		p->free = r;
		if (!p->used)
			rpage_spare = true;
	} else {
		rpage_unlink(p);
		munmap(p, VBD_PAGE_SIZE);
		rpages_mapped--;
	}
	pthread_mutex_unlock(&rpages_lock);
}

size_t vbd__region_pages(void)
{
	size_t n;

	pthread_mutex_lock(&rpages_lock);
	n = rpages_mapped;
	pthread_mutex_unlock(&rpages_lock);
	return n;
}

/* ---- regions: a hash table from address to region ---- */

static size_t region_hash(const void *addr, size_t nb)
{
	uintptr_t v = (uintptr_t)addr / VBD_PAGE_SIZE;

	return (size_t)((v * 0x9E3779B97F4A7C15ull) >> 20) & (nb - 1);
}

#define REGION_NB_MIN (VBD_PAGE_SIZE / sizeof(vbd__region *))

static void buckets_free(vbd__region **b, size_t nb)
{
	if (b)
		munmap(b, nb * sizeof(*b));
}

int vbd__region_add(vbd__region_map *m, vbd__region *r)
{
	size_t h;

	if (m->n + 1 > m->nb) {
		size_t nb = m->nb ? m->nb * 2 : REGION_NB_MIN, i;
		vbd__region **b = mmap(NULL, nb * sizeof(*b), PROT_READ | PROT_WRITE,
		                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (b == MAP_FAILED)
			return -ENOMEM;
		for (i = 0; i < m->nb; i++)
			while (m->b[i]) {
				vbd__region *e = m->b[i];

				m->b[i] = e->next;
				h = region_hash(e->addr, nb);
				e->next = b[h];
				b[h] = e;
			}
		buckets_free(m->b, m->nb);
		m->b = b;
		m->nb = nb;
	}
	h = region_hash(r->addr, m->nb);
	r->next = m->b[h];
	m->b[h] = r;
	m->n++;
	return 0;
}

static vbd__region **region_slot(vbd__region_map *m, void *addr, bool shared)
{
	vbd__region **pp;

	if (!m->nb)
		return NULL;
	for (pp = &m->b[region_hash(addr, m->nb)]; *pp; pp = &(*pp)->next)
		if ((*pp)->addr == addr && (*pp)->shared == shared)
			return pp;
	return NULL;
}

vbd__region *vbd__region_find(vbd__region_map *m, void *addr, bool shared)
{
	vbd__region **pp = region_slot(m, addr, shared);

	return pp ? *pp : NULL;
}

vbd__region *vbd__region_take(vbd__region_map *m, void *addr, bool shared)
{
	vbd__region **pp = region_slot(m, addr, shared), *r;

	if (!pp)
		return NULL;
	r = *pp;
	*pp = r->next;
	if (!--m->n)
		vbd__region_map_done(m);
	return r;
}

vbd__region *vbd__region_pop(vbd__region_map *m)
{
	size_t i;

	for (i = 0; i < m->nb; i++)
		if (m->b[i])
			return vbd__region_take(m, m->b[i]->addr, m->b[i]->shared);
	return NULL;
}

void vbd__region_map_done(vbd__region_map *m)
{
	buckets_free(m->b, m->nb);
	m->b = NULL;
	m->nb = m->n = 0;
}

/* ---- faults ---- */

int vbd__xport_fail(vbd_xport *x, const char *op, unsigned nth, int err, bool persistent)
{
	int i = -1;

	if (!x)
		return -EINVAL;
	if (op) {
		for (i = 0; i < VBD__XOP_COUNT; i++)
			if (!strcmp(op, op_names[i]))
				break;
		if (i == VBD__XOP_COUNT)
			return -EINVAL;
	}
	pthread_mutex_lock(&x->lock);
	x->fault.op = i;
	x->fault.nth = nth;
	x->fault.count = 0;
	x->fault.err = err < 0 ? err : -EIO;
	x->fault.persistent = persistent;
	__atomic_store_n(&x->armed, nth != 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&x->lock);
	return 0;
}

static int fault(vbd_xport *x, int op)
{
	struct vbd__xport_fault *f = &x->fault;
	int r = 0;

	if (!__atomic_load_n(&x->armed, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&x->lock);
	if (f->nth && (f->op < 0 || f->op == op)) {
		f->count++;
		if (f->count == f->nth || (f->persistent && f->count > f->nth))
			r = f->err;
	}
	pthread_mutex_unlock(&x->lock);
	return r;
}

/* ---- handles ---- */

int vbd_xport_open(vbd_xport **ret, const vbd_xport_options *o, vbd_errbuf *err)
{
	vbd_xport_options def = VBD_XPORT_OPTIONS_INIT;
	vbd_xport *x;
	int r;

	if (!ret)
		return vbd__errf(err, -EINVAL, "transport: no place for the handle");
	if (VBD__OPTS_LOAD(&def, o, VBD_XPORT_OPTIONS_VERSION, sizeof(def)) < 0)
		return vbd__errf(err, -EINVAL, "transport: options version %u, expected 1..%u",
		                 o->version, VBD_XPORT_OPTIONS_VERSION);
	o = &def;
	if (o->kind != VBD_XPORT_DEFAULT && o->kind != VBD_XPORT_SIM && o->kind != VBD_XPORT_XEN)
		return vbd__errf(err, -EINVAL, "transport: unknown kind %d", (int)o->kind);
	x = calloc(1, sizeof(*x));
	if (!x)
		return vbd__errf(err, -ENOMEM, "transport: out of memory");
	x->kind = o->kind;
	if (x->kind == VBD_XPORT_DEFAULT)
		x->kind = o->sim_path || getenv("VBD_SIMHV_PATH") ? VBD_XPORT_SIM : VBD_XPORT_XEN;
	x->ops = x->kind == VBD_XPORT_SIM ? &vbd__xport_sim_ops : &vbd__xport_xen_ops;
	pthread_mutex_init(&x->lock, NULL);
	r = x->ops->open(x, o, err);
	if (r < 0) {
		pthread_mutex_destroy(&x->lock);
		free(x);
		return r;
	}
	*ret = x;
	return 0;
}

vbd_xport *vbd_xport_free(vbd_xport *x)
{
	if (!x)
		return NULL;
	while (x->evtchns)
		vbd_evtchn_close(x->evtchns);
	x->ops->close(x);
	pthread_mutex_destroy(&x->lock);
	free(x);
	return NULL;
}

vbd_xport_kind vbd_xport_get_kind(vbd_xport *x)
{
	return x ? x->kind : VBD_XPORT_DEFAULT;
}

/* ---- grants ---- */

int vbd_gnt_share(vbd_xport *x, unsigned domid, unsigned count, bool writable,
                  uint32_t *ret_refs, void **ret_addr)
{
	int r;

	if (!x || count == 0 || !ret_refs || !ret_addr)
		return -EINVAL;
	r = fault(x, VBD__XOP_SHARE);
	return r < 0 ? r : x->ops->share(x, domid, count, writable, ret_refs, ret_addr);
}

int vbd_gnt_unshare(vbd_xport *x, void *addr, unsigned count)
{
	int r;

	if (!x || !addr || count == 0)
		return -EINVAL;
	r = fault(x, VBD__XOP_UNSHARE);
	return r < 0 ? r : x->ops->unshare(x, addr, count);
}

int vbd_gnt_map(vbd_xport *x, unsigned domid, unsigned count, const uint32_t *refs,
                bool writable, void **ret_addr)
{
	int r;

	if (!x || count == 0 || !refs || !ret_addr)
		return -EINVAL;
	r = fault(x, VBD__XOP_MAP);
	return r < 0 ? r : x->ops->map(x, domid, count, refs, writable, ret_addr);
}

int vbd_gnt_unmap(vbd_xport *x, void *addr, unsigned count)
{
	int r;

	if (!x || !addr || count == 0)
		return -EINVAL;
	r = fault(x, VBD__XOP_UNMAP);
	return r < 0 ? r : x->ops->unmap(x, addr, count);
}

/* ---- event channels ---- */

int vbd_evtchn_open(vbd_xport *x, vbd_evtchn **ret)
{
	vbd_evtchn *e;
	int r;

	if (!x || !ret)
		return -EINVAL;
	r = fault(x, VBD__XOP_EVTCHN_OPEN);
	if (r < 0)
		return r;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->x = x;
	e->fd = -1;
	r = x->ops->evtchn_open(e);
	if (r < 0) {
		free(e);
		return r;
	}
	pthread_mutex_lock(&x->lock);
	e->next = x->evtchns;
	x->evtchns = e;
	pthread_mutex_unlock(&x->lock);
	*ret = e;
	return 0;
}

vbd_evtchn *vbd_evtchn_close(vbd_evtchn *e)
{
	vbd_evtchn **pp;
	vbd_xport *x;

	if (!e)
		return NULL;
	x = e->x;
	pthread_mutex_lock(&x->lock);
	for (pp = &x->evtchns; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	pthread_mutex_unlock(&x->lock);
	x->ops->evtchn_close(e);
	free(e);
	return NULL;
}

int vbd_evtchn_fd(vbd_evtchn *e)
{
	return e ? e->fd : -EINVAL;
}

int vbd_evtchn_alloc_unbound(vbd_evtchn *e, unsigned remote_domid, uint32_t *ret_port)
{
	int r;

	if (!e || !ret_port)
		return -EINVAL;
	r = fault(e->x, VBD__XOP_ALLOC_UNBOUND);
	return r < 0 ? r : e->x->ops->alloc_unbound(e, remote_domid, ret_port);
}

int vbd_evtchn_bind_interdomain(vbd_evtchn *e, unsigned remote_domid, uint32_t remote_port,
                                uint32_t *ret_port)
{
	int r;

	if (!e || !ret_port)
		return -EINVAL;
	r = fault(e->x, VBD__XOP_BIND_INTERDOMAIN);
	return r < 0 ? r : e->x->ops->bind_interdomain(e, remote_domid, remote_port, ret_port);
}

/* ---- several calls as one ---- */

static bool xop_ok(vbd_xport *x, const vbd__xop *o)
{
	switch (o->op) {
	case VBD__XOP_SHARE:
	case VBD__XOP_MAP:
		return o->count && o->refs && o->addr;
	case VBD__XOP_ALLOC_UNBOUND:
	case VBD__XOP_BIND_INTERDOMAIN:
		return o->e && o->e->x == x && o->port;
	default:
		return false;
	}
}

void vbd__xop_undo(vbd_xport *x, const vbd__xop *o)
{
	switch (o->op) {
	case VBD__XOP_SHARE:
		(void)x->ops->unshare(x, *o->addr, o->count);
		break;
	case VBD__XOP_MAP:
		(void)x->ops->unmap(x, *o->addr, o->count);
		break;
	default:
		(void)x->ops->unbind(o->e, *o->port);
		break;
	}
}

static int xop_do(vbd_xport *x, const vbd__xop *o)
{
	switch (o->op) {
	case VBD__XOP_SHARE:
		return x->ops->share(x, o->domid, o->count, o->writable, o->refs, o->addr);
	case VBD__XOP_MAP:
		return x->ops->map(x, o->domid, o->count, o->refs, o->writable, o->addr);
	case VBD__XOP_ALLOC_UNBOUND:
		return x->ops->alloc_unbound(o->e, o->domid, o->port);
	default:
		return x->ops->bind_interdomain(o->e, o->domid, o->remote_port, o->port);
	}
}

int vbd__xport_run(vbd_xport *x, vbd__xop *ops, unsigned n, unsigned *ret_failed)
{
	unsigned i, failed = 0;
	int r = 0;

	if (!ret_failed)
		ret_failed = &failed;
	*ret_failed = 0;
	if (!x || !ops || n == 0 || n > VBD__XOP_RUN_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		*ret_failed = i;
		if (!xop_ok(x, &ops[i]))
			return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		*ret_failed = i;
		if ((r = fault(x, ops[i].op)) < 0)
			return r;
	}
	if (x->ops->run)
		return x->ops->run(x, ops, n, ret_failed);
	for (i = 0; i < n; i++) {
		*ret_failed = i;
		if ((r = xop_do(x, &ops[i])) < 0)
			break;
	}
	if (r < 0)
		while (i-- > 0)
			vbd__xop_undo(x, &ops[i]);
	return r;
}

int vbd_evtchn_unbind(vbd_evtchn *e, uint32_t port)
{
	int r;

	if (!e)
		return -EINVAL;
	r = fault(e->x, VBD__XOP_UNBIND);
	return r < 0 ? r : e->x->ops->unbind(e, port);
}

int vbd_evtchn_notify(vbd_evtchn *e, uint32_t port)
{
	int r;

	if (!e)
		return -EINVAL;
	r = fault(e->x, VBD__XOP_NOTIFY);
	return r < 0 ? r : e->x->ops->notify(e, port);
}

int vbd_evtchn_pending(vbd_evtchn *e)
{
	int r;

	if (!e)
		return -EINVAL;
	r = fault(e->x, VBD__XOP_PENDING);
	return r < 0 ? r : e->x->ops->pending(e);
}

int vbd_evtchn_unmask(vbd_evtchn *e, uint32_t port)
{
	int r;

	if (!e)
		return -EINVAL;
	r = fault(e->x, VBD__XOP_UNMASK);
	return r < 0 ? r : e->x->ops->unmask(e, port);
}
