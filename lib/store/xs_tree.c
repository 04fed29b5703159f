/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Nodes and the string-keyed hash map that holds the tree, the transaction
 * overlays and the watch index.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xs_internal.h"

/* A word at a time: a path is hashed at every lookup of it and of each of
 * its ancestors, so this loop was the store's hottest (byte-wise FNV-1a,
 * one multiply per byte).  Each 8-byte word is mixed in with a multiply
 * and a fold of the high half into the low one (the bucket is taken from
 * the low bits); the tail is a zero-padded word, the length is mixed in
 * first, and a final avalanche (MurmurHash3's fmix64) spreads every input
 * bit over the result. */
uint64_t vbd__hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)len, w;

	for (; len >= 8; s += 8, len -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 32;
	}
	if (len) {
		w = 0;
		memcpy(&w, s, len);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 32;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static vbd__hent **find_slot(const vbd__hmap *m, const char *key, size_t klen, uint64_t h)
{
	vbd__hent **pp = &m->b[h & (m->nb - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
			return pp;
	return pp;
}

void *vbd__hmap_get(const vbd__hmap *m, const char *key, size_t klen)
{
	vbd__hent **pp;

	if (!m->nb)
		return NULL;
	pp = find_slot(m, key, klen, vbd__hash(key, klen));
	return *pp ? (*pp)->val : NULL;
}

static int rehash(vbd__hmap *m, size_t nb)
{
	vbd__hent **b = calloc(nb, sizeof(*b));
	size_t i;

	if (!b)
		return -ENOMEM;
	for (i = 0; i < m->nb; i++) {
		vbd__hent *e = m->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

static int grow(vbd__hmap *m)
{
	return rehash(m, m->nb ? m->nb * 2 : 16);
}

void vbd__hmap_shrink(vbd__hmap *m)
{
	size_t nb = 16;
	vbd__hent *e;

	while (nb < m->count * 2)
		nb *= 2;
	if (nb < m->nb)
		(void)rehash(m, nb);     /* no memory: the old buckets serve */
	while ((e = m->spare)) {
		m->spare = e->next;
		free(e);
	}
	m->nspare = 0;
}

int vbd__hmap_put(vbd__hmap *m, const char *key, size_t klen, void *val)
{
	uint64_t h = vbd__hash(key, klen);
	vbd__hent **pp, *e;

	if (m->count + 1 > m->nb) {
		int r = grow(m);
		if (r < 0 && !m->nb)
			return r;
	}
	pp = find_slot(m, key, klen, h);
	if (*pp) {
		(*pp)->key = key;
		(*pp)->val = val;
		return 0;
	}
	if (m->spare) {
		e = m->spare;
		m->spare = e->next;
		m->nspare--;
	} else {
		e = malloc(sizeof(*e));
		if (!e)
			return -ENOMEM;
	}
	e->next = NULL;
	e->hash = h;
	e->key = key;
	e->klen = (uint32_t)klen;
	e->val = val;
	*pp = e;
	m->count++;
	return 0;
}

void *vbd__hmap_del(vbd__hmap *m, const char *key, size_t klen)
{
	vbd__hent **pp, *e;
	void *v;

	if (!m->nb)
		return NULL;
	pp = find_slot(m, key, klen, vbd__hash(key, klen));
	e = *pp;
	if (!e)
		return NULL;
	*pp = e->next;
	v = e->val;
	/* A few entries are kept for the next inserts (the tree's: a commit
	 * that removes a node and one that adds one), no more than a small
	 * map holds; vbd__hmap_shrink() and vbd__hmap_done() free them. */
	if (m->nspare < XS_HMAP_SPARE_KEEP) {
		e->next = m->spare;
		m->spare = e;
		m->nspare++;
	} else {
		free(e);
	}
	m->count--;
	return v;
}

int vbd__hmap_reserve(vbd__hmap *m, size_t n)
{
	vbd__hent *e;

	while (m->nb < m->count + n)
		if (grow(m) < 0)
			return -ENOMEM;
	while (m->nspare < n) {
		e = malloc(sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->next = m->spare;
		m->spare = e;
		m->nspare++;
	}
	return 0;
}

vbd__hent *vbd__hmap_next(const vbd__hmap *m, size_t *bucket, vbd__hent *e)
{
	if (e && e->next)
		return e->next;
	for (*bucket = e ? *bucket + 1 : 0; *bucket < m->nb; (*bucket)++)
		if (m->b[*bucket])
			return m->b[*bucket];
	return NULL;
}

void vbd__hmap_done(vbd__hmap *m)
{
	size_t i;

	for (i = 0; i < m->nb; i++) {
		vbd__hent *e = m->b[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	while (m->spare) {
		vbd__hent *e = m->spare;
		m->spare = e->next;
		free(e);
	}
	m->nspare = 0;
	free(m->b);
	m->b = NULL;
	m->nb = m->count = 0;
}

void vbd__hmap_clear(vbd__hmap *m, size_t keep)
{
	size_t i;

	if (m->nb > keep || m->count + m->nspare > keep) {
		vbd__hmap_done(m);
		return;
	}
	for (i = 0; i < m->nb && m->count; i++) {
		vbd__hent *e = m->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = m->spare;
			m->spare = e;
			m->nspare++;
			m->count--;
		}
		m->b[i] = NULL;
	}
}

/* The path lives in the node's own block, right after it: one allocation,
 * not two, for every node a request makes or copies. */
xs_node *vbd__node_new(const char *path, size_t len)
{
	xs_node *n = calloc(1, sizeof(*n) + len + 1);

	if (!n)
		return NULL;
	n->path = (char *)(n + 1);
	memcpy(n->path, path, len);
	n->path[len] = 0;
	n->path_len = (uint32_t)len;
	return n;
}

xs_node *vbd__node_dup(const xs_node *o)
{
	xs_node *n = vbd__node_new(o->path, o->path_len);

	if (!n)
		return NULL;
	n->gen = o->gen;
	if (vbd__node_set_value(n, o->value, o->vlen) < 0 ||
	    vbd__perms_copy(&n->perms, &o->perms) < 0)
		goto fail;
	if (o->kids_len) {
		/* A copy is mostly made to add or remove a child: room for a few
		 * more names now (as vbd__node_add_kid() would grow it) spares
		 * the realloc of the add.  Only a transaction's copy has the room:
		 * the commit moves the names into the tree's node
		 * (vbd__node_assign()) when they fit in its buffer. */
		uint32_t cap = 64;

		while (cap < o->kids_len + 32)
			cap *= 2;
		n->kids = malloc(cap);
		if (!n->kids)
			goto fail;
		memcpy(n->kids, o->kids, o->kids_len);
		n->kids_len = o->kids_len;
		n->kids_cap = cap;
	}
	return n;
fail:
	vbd__node_free(n);
	return NULL;
}

void vbd__node_free(xs_node *n)
{
	if (!n)
		return;
	free(n->value);
	free(n->kids);
	vbd__perms_done(&n->perms);
	free(n);
}

/*
 * A commit used to put the transaction's copy of a changed node in the
 * tree and free the tree's own: a node that lives long (a guest's
 * /local/domain/N/device, changed by each of its devices' attach and
 * detach) was then made anew among the short-lived nodes of the devices
 * being attached.  Once those were gone, its five blocks (node, path,
 * children, permissions, hash entry) each kept a heap page of the peak
 * resident: measured after 400 devices came and went over 100 guests,
 * 479 resident pages held under 1 KiB of live data, and the nodes of
 * device directories, their paths, children and hash entries were what
 * held them.  So the tree's node stays where it was made and takes the
 * copy's content, into its own blocks when the content fits.
 */
void vbd__node_assign(xs_node *dst, xs_node *src)
{
	char *c;
	uint32_t l;
	xs_perms p;

	if (src->vlen && src->vlen <= dst->vlen) {
		memcpy(dst->value, src->value, src->vlen);
		dst->vlen = src->vlen;
	} else {
		c = dst->value, dst->value = src->value, src->value = c;
		l = dst->vlen, dst->vlen = src->vlen, src->vlen = l;
	}
	if (!src->kids_len) {
		/* Children made at a peak came with a buffer of the peak: it
		 * goes with the last of them (a guest's /libxl/N/device, whose
		 * only child is vbd while it has devices). */
		free(dst->kids);
		dst->kids = NULL;
		dst->kids_len = dst->kids_cap = 0;
	} else if (dst->kids && src->kids_len <= dst->kids_cap) {
		memcpy(dst->kids, src->kids, src->kids_len);
		dst->kids_len = src->kids_len;
	} else {
		c = dst->kids, dst->kids = src->kids, src->kids = c;
		l = dst->kids_len, dst->kids_len = src->kids_len, src->kids_len = l;
		l = dst->kids_cap, dst->kids_cap = src->kids_cap, src->kids_cap = l;
	}
	if (src->perms.n && src->perms.n == dst->perms.n) {
		memcpy(dst->perms.p, src->perms.p, src->perms.n * sizeof(*src->perms.p));
	} else {
		p = dst->perms, dst->perms = src->perms, src->perms = p;
	}
	dst->gen = src->gen;
	vbd__node_free(src);
}

/* A value no longer than the one the node has goes into its block: a
 * WRITE that changes a copied node's value (a state 1 -> 3) allocates
 * nothing more.  The block of a transaction's copy is freed at commit, or
 * its content copied into the tree's node (vbd__node_assign()). */
int vbd__node_set_value(xs_node *n, const char *v, uint32_t len)
{
	char *nv = NULL;

	if (len && len <= n->vlen) {
		memmove(n->value, v, len);
		n->vlen = len;
		return 0;
	}
	if (len) {
		nv = malloc(len);
		if (!nv)
			return -ENOMEM;
		memcpy(nv, v, len);
	}
	free(n->value);
	n->value = nv;
	n->vlen = len;
	return 0;
}

int vbd__node_add_kid(xs_node *n, const char *name, size_t len)
{
	if (n->kids_len + len + 1 > n->kids_cap) {
		uint32_t cap = n->kids_cap ? n->kids_cap : 64;
		char *k;

		while (cap < n->kids_len + len + 1)
			cap *= 2;
		k = realloc(n->kids, cap);
		if (!k)
			return -ENOMEM;
		n->kids = k;
		n->kids_cap = cap;
	}
	memcpy(n->kids + n->kids_len, name, len);
	n->kids[n->kids_len + len] = 0;
	n->kids_len += (uint32_t)len + 1;
	return 0;
}

void vbd__node_del_kid(xs_node *n, const char *name, size_t len)
{
	uint32_t off = 0;

	while (off < n->kids_len) {
		size_t l = strlen(n->kids + off);

		if (l == len && memcmp(n->kids + off, name, len) == 0) {
			memmove(n->kids + off, n->kids + off + l + 1, n->kids_len - off - l - 1);
			n->kids_len -= (uint32_t)l + 1;
			return;
		}
		off += (uint32_t)l + 1;
	}
}

/* Counts what the node's owner controls (path, value, children's names,
 * permissions) plus the node's own bookkeeping, so that many tiny nodes
 * cost what they really do. */
uint64_t vbd__node_mem(const xs_node *n)
{
	return sizeof(*n) + sizeof(vbd__hent) + n->path_len + 1 + n->vlen + n->kids_len +
	       (uint64_t)n->perms.n * sizeof(*n->perms.p);
}

int64_t vbd__acct_total(const vbd_store *s, unsigned domid)
{
	const xs_acct *a = &s->acct[domid & 0xFFFF];

	return a->nodes + a->txn + a->out + a->watch;
}

bool vbd__acct_over(const vbd_store *s, unsigned domid, int64_t add)
{
	return domid != 0 && s->lim.memory_per_domain &&
	       vbd__acct_total(s, domid) + add > (int64_t)s->lim.memory_per_domain;
}

/*
 * The node counts and node memory kept per owner, recounted from the tree:
 * they move at every commit and release, and a count that drifts is
 * silent until a quota refuses too early or too late, or a release leaves
 * nodes of the dead domain for the next one with its id.  O(nodes), for
 * CONTROL "check" (cxenstored's check_store recounts the same).  Each
 * node's share is taken off its owner, every domid must then be at 0, and
 * the shares are put back: no table of 65,536 counts to allocate (under
 * the fuzzer's sanitizers, two large mappings and their page faults at
 * every check).
 */
int vbd__acct_check(vbd_store *s)
{
	vbd__hent *e;
	size_t b, id;
	int r = 0;

	for (e = NULL; (e = vbd__hmap_next(&s->tree, &b, e));) {
		const xs_node *n = e->val;

		if (!n->perms.n)
			continue;
		s->owned[n->perms.p[0].id & 0xFFFF]--;
		s->acct[n->perms.p[0].id & 0xFFFF].nodes -= (int64_t)vbd__node_mem(n);
	}
	for (id = 0; id < 0x10000 && r == 0; id++)
		if (s->owned[id] || s->acct[id].nodes)
			r = -EIO;
	for (e = NULL; (e = vbd__hmap_next(&s->tree, &b, e));) {
		const xs_node *n = e->val;

		if (!n->perms.n)
			continue;
		s->owned[n->perms.p[0].id & 0xFFFF]++;
		s->acct[n->perms.p[0].id & 0xFFFF].nodes += (int64_t)vbd__node_mem(n);
	}
	return r;
}

xs_node *vbd__node_new_n0(const char *name)
{
	xs_node *n = vbd__node_new(name, strlen(name));

	if (!n)
		return NULL;
	n->perms.p = calloc(1, sizeof(*n->perms.p));
	if (!n->perms.p) {
		vbd__node_free(n);
		return NULL;
	}
	n->perms.n = 1;     /* "n0": dom0 only */
	return n;
}
