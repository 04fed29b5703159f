/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulated hypervisor's grant memory and grant tables: SHARE, UNSHARE,
 * MAP and UNMAP.
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
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "simhv/simhv_internal.h"

#define ARENA_SLOTS_MAX (1u << 20)

/* ---- arenas and slots ---- */

void vbd__simhv_arena_free(vbd_simhv *h, hv_arena *a)
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
		vbd__simhv_arena_free(h, a);
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

/* A domain whose last grant entry ended gives its table back: a guest
 * keeps none between its devices (the table was made at its first share,
 * in the middle of the heap, and would pin those pages). */
static void gnt_table_free(hv_domain *d)
{
	free(d->gnt);
	free(d->gnt_free);
	d->gnt = NULL;
	d->gnt_free = NULL;
	d->gnt_cap = 0;
	d->gnt_nfree = 0;
	d->gnt_top = GNT_RESERVED;
}

static uint32_t gnt_alloc(hv_domain *d)
{
	return d->gnt_nfree ? d->gnt_free[--d->gnt_nfree] : d->gnt_top++;
}

/* Ends access: the entry is free, its page goes when no one maps it. */
void vbd__simhv_gnt_end(vbd_simhv *h, hv_domain *d, uint32_t ref)
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
	if (d->gnt_used == 0)
		gnt_table_free(d);
}

static bool gnt_valid(const hv_domain *d, uint32_t ref)
{
	return ref >= GNT_RESERVED && ref < d->gnt_top && ref < d->gnt_cap && d->gnt[ref].owner;
}
void vbd__simhv_map_drop(vbd_simhv *h, hv_conn *c, hv_map *m)
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

void vbd__simhv_maps_drop(vbd_simhv *h, hv_conn *c)
{
	uint32_t i;

	for (i = 0; i < c->mtab_cap; i++)
		while (c->mtab[i]) {
			hv_map *m = c->mtab[i];

			c->mtab[i] = m->next;
			vbd__simhv_map_drop(h, c, m);
		}
	free(c->mtab);
	c->mtab = NULL;
	c->mtab_cap = c->nmaps = 0;
}

/* Room for one more mapping in c's table: it doubles when full. */
static int maps_reserve(hv_conn *c)
{
	uint32_t cap = c->mtab_cap ? c->mtab_cap * 2 : 16, i;
	hv_map **t;

	if (c->nmaps < c->mtab_cap)
		return 0;
	if (cap < c->mtab_cap)
		return -ENOMEM;
	t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (i = 0; i < c->mtab_cap; i++)
		while (c->mtab[i]) {
			hv_map *m = c->mtab[i];

			c->mtab[i] = m->next;
			m->next = t[m->id & (cap - 1)];
			t[m->id & (cap - 1)] = m;
		}
	free(c->mtab);
	c->mtab = t;
	c->mtab_cap = cap;
	return 0;
}

int vbd__simhv_op_share(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                        const uint32_t *items, unsigned n, struct reply *rp)
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
			vbd__simhv_arena_free(h, a);
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

int vbd__simhv_op_unshare(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                          const uint32_t *refs, unsigned n, struct reply *rp)
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
		vbd__simhv_gnt_end(h, d, refs[i]);
	return 0;
}

int vbd__simhv_op_map(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                      const uint32_t *refs, unsigned n, struct reply *rp)
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
	gd = vbd__simhv_domain_find(h, q->domid);
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
	if (maps_reserve(c) < 0)
		return -ENOMEM;
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
	m->next = c->mtab[m->id & (c->mtab_cap - 1)];
	c->mtab[m->id & (c->mtab_cap - 1)] = m;
	c->nmaps++;
	c->mapped += n;
	h->st.maps += n;
	rp->rep->count = n;
	rp->rep->id = m->id;
	return 0;
}

int vbd__simhv_op_unmap(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                        const uint32_t *items, unsigned n, struct reply *rp)
{
	hv_map **pp, *m;

	(void)items;
	(void)rp;
	if (n || q->domid || q->count || q->flags || q->port)
		return KILL;
	if (!c->mtab_cap)
		return -EINVAL;
	for (pp = &c->mtab[q->id & (c->mtab_cap - 1)]; (m = *pp); pp = &m->next)
		if (m->id == q->id) {
			*pp = m->next;
			c->nmaps--;
			vbd__simhv_map_drop(h, c, m);
			return 0;
		}
	return -EINVAL;
}

