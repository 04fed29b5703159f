/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Transactions: an overlay of node copies over the committed tree.
 *
 * Example: client transaction 7 reads /a (gen 12) and writes /a/b (absent).
 * The overlay holds {/a: copy, base 12, modified (new child)}, {/a/b: new,
 * base 0}.  If another client writes /a/c meanwhile, /a's gen moves past 12
 * and TRANSACTION_END answers EAGAIN; the client redoes the whole
 * transaction.  Otherwise both copies replace the tree's nodes at once.
 *
 * An implicit transaction (id 0) wraps each single request that changes the
 * tree.  It records no reads (nothing can interleave with one request), so
 * it never conflicts; it only makes the request all-or-nothing.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "xs_internal.h"
#include "util/crashpoint.h"

void vbd__txn_init(xs_txn *t, uint32_t id)
{
	memset(t, 0, sizeof(*t));
	t->id = id;
}

/*
 * Each request that changes the tree runs in an implicit transaction, whose
 * overlay and event maps used to be made and freed around it: a bucket
 * array and an entry per node touched, every request.  The store keeps one
 * implicit transaction and its maps, emptied after each request; a map is
 * freed instead when a request left it large (more than
 * XS_IMPLICIT_KEEP buckets: a removal of a big subtree), so that what a
 * peak took goes back.
 */
#define XS_IMPLICIT_KEEP 64

void vbd__txn_reuse(xs_txn *t)
{
	vbd__hmap m[3] = { t->overlay, t->events[0], t->events[1] };

	vbd__txn_init(t, 0);
	t->overlay = m[0];
	t->events[0] = m[1];
	t->events[1] = m[2];
	t->reused = true;
}

void vbd__txn_release_maps(xs_txn *t)
{
	vbd__hmap_done(&t->overlay);
	vbd__hmap_done(&t->events[0]);
	vbd__hmap_done(&t->events[1]);
}

/* A client transaction's memory is charged to the domain of the connection
 * that holds it; an implicit one lives for one request and is not. */
static void charge(vbd_store *s, xs_txn *t, int64_t bytes)
{
	if (!t->id)
		return;
	t->mem += (uint64_t)bytes;
	vbd__acct(s, t->domid)->txn += bytes;
}

void vbd__txn_begin(vbd_store *s, xs_txn *t, uint32_t id, unsigned domid)
{
	vbd__txn_init(t, id);
	t->release_seq = s->release_seq;
	t->domid = domid;
	charge(s, t, (int64_t)sizeof(*t));
}

/* An event's permissions are in its own block until a later change of
 * the node replaces them. */
static void pevent_perms_done(xs_pevent *e, xs_perms *p)
{
	if (p->p && p->p != e->own[0] && p->p != e->own[1])
		free(p->p);
	p->p = NULL;
	p->n = 0;
}

void vbd__txn_done(vbd_store *s, xs_txn *t)
{
	xs_tnode *tn, *tnext;
	xs_pevent *e, *enext;

	for (tn = t->ohead; tn; tn = tnext) {
		tnext = tn->onext;
		vbd__node_free(tn->node);
		free(tn);
	}
	for (e = t->ehead; e; e = enext) {
		enext = e->next;
		pevent_perms_done(e, &e->perms);
		pevent_perms_done(e, &e->old_perms);
		free(e);
	}
	if (t->reused) {
		vbd__hmap_clear(&t->overlay, XS_IMPLICIT_KEEP);
		vbd__hmap_clear(&t->events[0], XS_IMPLICIT_KEEP);
		vbd__hmap_clear(&t->events[1], XS_IMPLICIT_KEEP);
	} else {
		vbd__txn_release_maps(t);
	}
	vbd__node_free(t->special[0]);
	vbd__node_free(t->special[1]);
	t->special[0] = t->special[1] = NULL;
	charge(s, t, -(int64_t)t->mem);
	t->ohead = t->otail = NULL;
	t->ehead = t->etail = NULL;
	t->recount = NULL;
	t->touched = 0;
	t->owned_delta = 0;
}

static uint64_t tnode_mem(const xs_tnode *tn)
{
	return sizeof(*tn) + sizeof(vbd__hent) + tn->path_len + 1 +
	       (tn->node ? vbd__node_mem(tn->node) : 0);
}

/* Whether a client transaction of an unprivileged actor may grow by bytes. */
static bool over(const vbd_store *s, const xs_txn *t, const xs_actor *a, uint64_t bytes)
{
	return t->id && !a->priv && vbd__acct_over(s, t->domid, (int64_t)bytes);
}

static void mark(xs_txn *t, xs_tnode *tn)
{
	if (!t->id || tn->recount)
		return;
	tn->recount = true;
	tn->rnext = t->recount;
	t->recount = tn;
}

int vbd__txn_settle(vbd_store *s, xs_txn *t, const xs_actor *a)
{
	xs_tnode *tn;
	bool grew;

	while ((tn = t->recount)) {
		uint64_t now = tnode_mem(tn);

		t->recount = tn->rnext;
		tn->recount = false;
		tn->rnext = NULL;
		charge(s, t, (int64_t)(now - tn->charged));
		tn->charged = now;
	}
	grew = t->mem > t->settled;
	t->settled = t->mem;
	return grew && over(s, t, a, 0) ? -ENOMEM : 0;
}

/*
 * Adds an overlay entry for path that notes the generation the node has
 * now.  Nothing of the node is copied: a read needs only the generation,
 * for the conflict check at commit, and a later read sees the tree (if the
 * node changed meanwhile, the commit fails anyway).  So a read costs the
 * same whatever the node holds, and one that is refused costs nothing more.
 */
static int record(vbd_store *s, xs_txn *t, const xs_actor *a, const char *path,
                  size_t len, xs_tnode **ret)
{
	const xs_node *cur = vbd__hmap_get(&s->tree, path, len);
	xs_tnode *tn;

	if (t->id && !a->priv && t->touched >= s->lim.nodes_per_transaction)
		return -ENOSPC;
	if (over(s, t, a, sizeof(*tn) + sizeof(vbd__hent) + len + 1))
		return -ENOMEM;
	/* The path in the entry's own block: one allocation, not two. */
	tn = calloc(1, sizeof(*tn) + len + 1);
	if (!tn)
		return -ENOMEM;
	tn->path = (char *)(tn + 1);
	memcpy(tn->path, path, len);
	tn->path[len] = 0;
	tn->path_len = (uint32_t)len;
	tn->base_gen = cur ? cur->gen : 0;
	if (vbd__hmap_put(&t->overlay, tn->path, len, tn) < 0) {
		free(tn);
		return -ENOMEM;
	}
	if (t->otail)
		t->otail->onext = tn;
	else
		t->ohead = tn;
	t->otail = tn;
	t->touched++;
	tn->charged = tnode_mem(tn);
	charge(s, t, (int64_t)tn->charged);
	*ret = tn;
	return 0;
}

/* The entry for path, holding the transaction's own copy of the node, for
 * a change. */
static int lookup(vbd_store *s, xs_txn *t, const xs_actor *a, const char *path,
                  size_t len, xs_tnode **ret)
{
	xs_tnode *tn = vbd__hmap_get(&t->overlay, path, len);
	const xs_node *cur;
	int r;

	if (!tn && (r = record(s, t, a, path, len, &tn)) < 0)
		return r;
	if (!tn->copied) {
		/* The copy is charged before it is made: it is what a guest
		 * could otherwise multiply past any bound. */
		cur = vbd__hmap_get(&s->tree, path, len);
		if (cur && over(s, t, a, vbd__node_mem(cur)))
			return -ENOMEM;
		if (cur && !(tn->node = vbd__node_dup(cur)))
			return -ENOMEM;
		tn->copied = true;
		mark(t, tn);
	}
	*ret = tn;
	return 0;
}

int vbd__txn_get(vbd_store *s, xs_txn *t, const xs_actor *a, const char *path,
                 size_t len, const xs_node **ret)
{
	xs_tnode *tn = t ? vbd__hmap_get(&t->overlay, path, len) : NULL;
	int r;

	if (tn && tn->copied) {
		*ret = tn->node;
		return 0;
	}
	if (!tn && t && t->id && (r = record(s, t, a, path, len, &tn)) < 0)
		return r;
	*ret = vbd__hmap_get(&s->tree, path, len);
	return 0;
}

int vbd__txn_modify(vbd_store *s, xs_txn *t, const xs_actor *a, const char *path,
                    size_t len, xs_node **ret)
{
	xs_tnode *tn;
	int r = lookup(s, t, a, path, len, &tn);

	if (r < 0)
		return r;
	if (!tn->node)
		return -ENOENT;
	tn->modified = true;
	tn->mod_seq = ++t->mods;
	mark(t, tn);
	/* A fresh generation, so that a DIRECTORY_PART listing inside the
	 * transaction restarts when the transaction changes the children. */
	tn->node->gen = ++s->gen;
	*ret = tn->node;
	return 0;
}

int vbd__txn_insert(vbd_store *s, xs_txn *t, const xs_actor *a, xs_node *n)
{
	xs_tnode *tn;
	int r = lookup(s, t, a, n->path, n->path_len, &tn);

	if (r < 0)
		return r;
	if (tn->node)
		return -EEXIST;
	tn->node = n;
	tn->modified = true;
	tn->written = true;
	tn->mod_seq = ++t->mods;
	mark(t, tn);
	n->gen = ++s->gen;
	if (n->perms.n && n->perms.p[0].id == a->domid)
		t->owned_delta++;
	return 0;
}

void vbd__txn_mark_written(xs_txn *t, const char *path, size_t len)
{
	xs_tnode *tn = vbd__hmap_get(&t->overlay, path, len);

	if (tn) {
		tn->written = true;
		tn->mod_seq = ++t->mods;
	}
}

int vbd__txn_delete(vbd_store *s, xs_txn *t, const xs_actor *a, const char *path,
                    size_t len)
{
	xs_tnode *tn;
	int r = lookup(s, t, a, path, len, &tn);

	if (r < 0)
		return r;
	if (!tn->node)
		return 0;
	if (tn->node->perms.n && tn->node->perms.p[0].id == a->domid)
		t->owned_delta--;
	vbd__node_free(tn->node);
	tn->node = NULL;
	tn->modified = true;
	tn->mod_seq = ++t->mods;
	mark(t, tn);
	return 0;
}

/*
 * One pending event per (path, kind), however often a transaction changes
 * the node: a transaction that rewrites one node 20000 times holds one
 * record, not 20000 (the count is bounded by the nodes it touched).  A
 * watcher that may read the node in its first or its latest state hears
 * of it.
 */
static int64_t pevent_mem(const xs_pevent *e)
{
	return (int64_t)(sizeof(*e) + sizeof(vbd__hent) + e->path_len + 1 +
	                 (e->perms.n + e->old_perms.n) * sizeof(xs_perm));
}

int vbd__txn_event(vbd_store *s, xs_txn *t, const char *path, size_t len, bool exact,
                   const xs_perms *perms, const xs_perms *old_perms)
{
	xs_pevent *e = vbd__hmap_get(&t->events[exact], path, len);
	int64_t before;
	xs_perms np;
	size_t off;
	uint32_t on;

	if (e) {
		if (vbd__perms_copy(&np, perms) < 0)
			return -ENOMEM;
		before = pevent_mem(e);
		if (!e->old_perms.n)
			e->old_perms = e->perms;
		else
			pevent_perms_done(e, &e->perms);
		e->perms = np;
		charge(s, t, pevent_mem(e) - before);
		return 0;
	}
	/* One block: the record, its path, then both permission lists. */
	on = old_perms ? old_perms->n : 0;
	off = (sizeof(*e) + len + 1 + _Alignof(xs_perm) - 1) & ~(_Alignof(xs_perm) - 1);
	e = calloc(1, off + ((size_t)perms->n + on) * sizeof(xs_perm));
	if (!e)
		return -ENOMEM;
	memcpy(e->path, path, len);
	e->path[len] = 0;
	e->path_len = (uint32_t)len;
	e->exact = exact;
	e->own[0] = (xs_perm *)((char *)e + off);
	e->own[1] = e->own[0] + perms->n;
	if (perms->n) {
		memcpy(e->own[0], perms->p, perms->n * sizeof(xs_perm));
		e->perms = (xs_perms){ e->own[0], perms->n };
	}
	if (on) {
		memcpy(e->own[1], old_perms->p, on * sizeof(xs_perm));
		e->old_perms = (xs_perms){ e->own[1], on };
	}
	if (vbd__hmap_put(&t->events[exact], e->path, len, e) < 0) {
		free(e);
		return -ENOMEM;
	}
	if (t->etail)
		t->etail->next = e;
	else
		t->ehead = e;
	t->etail = e;
	charge(s, t, pevent_mem(e));
	return 0;
}

static void owned_add(vbd_store *s, const xs_node *n, int d)
{
	if (n->perms.n) {
		s->owned[n->perms.p[0].id & 0xFFFF] += (uint32_t)d;
		vbd__acct(s, n->perms.p[0].id)->nodes += d * (int64_t)vbd__node_mem(n);
	}
}

/* Moves the node charges as the commit would (sign +1), or back (-1). */
static void node_charges(vbd_store *s, const xs_txn *t, int sign)
{
	const xs_tnode *tn;

	for (tn = t->ohead; tn; tn = tn->onext) {
		const xs_node *old;

		if (!tn->modified)
			continue;
		old = vbd__hmap_get(&s->tree, tn->path, tn->path_len);
		if (old)
			owned_add(s, old, -sign);
		if (tn->node)
			owned_add(s, tn->node, sign);
	}
}

/* Whether the commit of a guest's request takes the owner of a node it
 * writes past the memory quota (cxenstored charges a node to its owner and
 * refuses the write that does so). */
static bool nodes_over_quota(vbd_store *s, const xs_txn *t, const xs_actor *a)
{
	const xs_tnode *tn;
	bool over = false;

	if (a->priv || !s->lim.memory_per_domain)
		return false;
	node_charges(s, t, +1);
	for (tn = t->ohead; tn && !over; tn = tn->onext)
		over = tn->modified && tn->node && tn->node->perms.n &&
		       vbd__acct_over(s, tn->node->perms.p[0].id, 0);
	node_charges(s, t, -1);
	return over;
}

/* What many removed nodes leave free lies between nodes that stay, so
 * glibc keeps it: after 1000 devices came and went the sim host's RSS was
 * 5x what it was before.  Once the tree has shrunk by XS_TRIM_NODES since
 * its peak (a few dozen devices' nodes), the heap is trimmed at once; a
 * smaller shrink arms a timer, and the heap is trimmed when the store has
 * seen no shrink for XS_TRIM_IDLE_MS (the last devices of a burst, and
 * what the host process freed beside the store: 1.86x after 1000 devices
 * without it).  A commit that does not shrink the tree costs one
 * comparison; one that does, one timerfd_settime. */
#define XS_TRIM_NODES 1024
#define XS_TRIM_IDLE_MS 250

void vbd__store_trim(vbd_store *s)
{
	uint64_t n;

	if (s->trim.fd >= 0)
		while (read(s->trim.fd, &n, sizeof(n)) > 0)
			;
	s->trim.armed = false;
	s->trim_peak = s->tree.count;
	/* The tree's bucket array grew with the peak (8 bytes a bucket, one
	 * or two buckets a node: 1 MiB at 1000 devices) and is all touched. */
	vbd__hmap_shrink(&s->tree);
	/* Also when called from the commit of the implicit transaction
	 * (give_back): the commit uses its lists, not its maps, from there on. */
	vbd__txn_release_maps(&s->implicit);
	vbd__conn_buf_cache_free(s);
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void trim_arm(vbd_store *s, int ms)
{
	struct itimerspec t = { .it_value = { ms / 1000, (long)(ms % 1000) * 1000000L } };

	if (s->trim.fd >= 0 && timerfd_settime(s->trim.fd, 0, &t, NULL) == 0)
		s->trim.armed = ms != 0;
}

void vbd__store_trim_disarm(vbd_store *s)
{
	if (s->trim.armed)
		trim_arm(s, 0);
	s->trim.armed = false;
}

static void give_back(vbd_store *s)
{
	if (s->tree.count > s->trim_peak) {
		s->trim_peak = s->tree.count;
		return;
	}
	if (s->tree.count == s->trim_peak)
		return;
	if (s->trim_peak - s->tree.count >= XS_TRIM_NODES) {
		vbd__store_trim_disarm(s);
		vbd__store_trim(s);
		return;
	}
	trim_arm(s, XS_TRIM_IDLE_MS);
}

int vbd__txn_commit(vbd_store *s, xs_txn *t, const xs_actor *a)
{
	xs_tnode *tn;
	xs_pevent *e;
	size_t inserts = 0;
	int r = 0, k;

	if (t->id) {
		/* A domain released meanwhile may be reintroduced under the same
		 * id; permissions written for the old one must not reach it
		 * (XSA-322).  The client redoes the transaction. */
		if (t->release_seq != s->release_seq) {
			r = -EAGAIN;
			goto out;
		}
		for (tn = t->ohead; tn; tn = tn->onext) {
			const xs_node *cur = vbd__hmap_get(&s->tree, tn->path, tn->path_len);

			if ((cur ? cur->gen : 0) != tn->base_gen) {
				r = -EAGAIN;
				goto out;
			}
		}
		/* A copy keeps the generation of the special node it was made
		 * from. */
		for (k = 0; k < 2; k++)
			if (t->special[k] && t->special[k]->gen != s->special[k]->gen) {
				r = -EAGAIN;
				goto out;
			}
		if (!a->priv && t->owned_delta > 0 &&
		    (int64_t)s->owned[a->domid & 0xFFFF] + t->owned_delta >
		            (int64_t)s->lim.nodes_per_domain) {
			r = -ENOSPC;
			goto out;
		}
	}
	if (nodes_over_quota(s, t, a)) {
		r = -ENOMEM;
		goto out;
	}
	for (tn = t->ohead; tn; tn = tn->onext)
		inserts += tn->modified && tn->node &&
		           !vbd__hmap_get(&s->tree, tn->path, tn->path_len);
	r = vbd__hmap_reserve(&s->tree, inserts);
	if (r < 0)
		goto out;

	/* From here on nothing can fail. */
	if (s->trace_subs)
		vbd__trace_commit(s, t, a);
	for (tn = t->ohead; tn; tn = tn->onext) {
		size_t len;
		xs_node *old;

		if (!tn->modified)
			continue;
		len = tn->path_len;
		old = vbd__hmap_get(&s->tree, tn->path, len);
		if (old)
			owned_add(s, old, -1);
		if (tn->node) {
			/* A node that stays keeps its blocks (vbd__node_assign). */
			tn->node->gen = ++s->gen;
			if (old) {
				vbd__node_assign(old, tn->node);
			} else {
				old = tn->node;
				vbd__hmap_put(&s->tree, old->path, old->path_len, old);
			}
			owned_add(s, old, +1);
			tn->node = NULL;
		} else if (old) {
			vbd__hmap_del(&s->tree, tn->path, len);
			vbd__node_free(old);
		}
	}
	s->st.nodes = s->tree.count;
	give_back(s);
	for (k = 0; k < 2; k++) {
		xs_perms p;

		if (!t->special[k])
			continue;
		p = s->special[k]->perms;
		s->special[k]->perms = t->special[k]->perms;
		t->special[k]->perms = p;
		s->special[k]->gen = ++s->gen;
	}
	vbd__crashpoint("store.commit-applied");
	for (e = t->ehead; e; e = e->next)
		vbd__watch_fire(s, e->path, e->path_len, e->exact, &e->perms,
		                e->old_perms.n ? &e->old_perms : NULL);
out:
	vbd__txn_done(s, t);
	return r;
}
