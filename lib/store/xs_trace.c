/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The change trace: every committed change, in commit order, with its
 * value, the writing domain, a sequence number and the commit time, sent
 * to the dom0 connections that asked for it (CONTROL "trace").
 *
 * Example: domain 5 writes /local/domain/5/device/vbd/51712/state = "4"
 * while the tree has the node with "3".  The commit of that request queues
 * to each subscriber one record
 *     write\0 41\0 1796551944123456789\0 5\0 /local/.../state\0 4
 * (without the spaces: seq 41, commit time, writer 5, path, value).  A
 * client transaction that created /a/b and /a/b/c and removed /x (holding
 * /x/y) gives, at its commit, "rm /x" (one record for the subtree), then
 * "mkdir /a/b", then "write /a/b/c": removals first, a node after the
 * nodes it was created under, otherwise in the order the transaction
 * last changed them, and only the values it committed.  An aborted or
 * failed transaction gives nothing.
 *
 * A subscriber may have trace_max bytes queued.  A record that does not fit
 * is dropped and counted; once the queue has drained to half of that, one
 * "lost" record with the count goes out before anything else, so the
 * store's memory stays bounded and no other client waits for a slow
 * reader.  With no subscriber, a commit tests one counter and nothing more.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xs_internal.h"

int vbd__trace_subscribe(vbd_store *s, xs_conn *c, size_t max)
{
	size_t cap = s->lim.max_pending_bytes_priv;

	if (c->trace)
		return 0;
	if (!max)
		max = XS_TRACE_MAX_DEFAULT;
	c->trace = true;
	c->trace_max = max < cap ? max : cap;
	c->trace_lost = 0;
	c->tnext = s->trace_head;
	s->trace_head = c;
	s->trace_subs++;
	return 0;
}

void vbd__trace_unsubscribe(vbd_store *s, xs_conn *c)
{
	xs_conn **pp;

	if (!c->trace)
		return;
	for (pp = &s->trace_head; *pp; pp = &(*pp)->tnext)
		if (*pp == c) {
			*pp = c->tnext;
			s->trace_subs--;
			break;
		}
	c->tnext = NULL;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool send_lost(vbd_store *s, xs_conn *c)
{
	char head[96];
	int hl = snprintf(head, sizeof(head), "lost%c%" PRIu64 "%c%" PRId64 "%c-1%c%c%" PRIu64, 0,
	                  s->trace_seq, 0, now_ns(), 0, 0, 0, c->trace_lost);

	if (vbd__conn_send(s, c, XS_CONTROL, 0, 0, head, (size_t)hl, NULL, 0, false) < 0)
		return false;
	c->trace_lost = 0;
	return true;
}

void vbd__trace_drained(vbd_store *s, xs_conn *c)
{
	if (c->trace_lost && !c->dead && c->out_bytes <= c->trace_max / 2)
		send_lost(s, c);
}

/* One record to every subscriber.  seq counts changes, not deliveries: a
 * subscriber that lost some sees the gap its marker accounts for. */
static void emit(vbd_store *s, const char *op, int64_t when, unsigned writer,
                 const char *path, size_t plen, const char *value, size_t vlen)
{
	char head[XS_CANON_MAX + 96];
	xs_conn *c, *next;
	int hl;

	hl = snprintf(head, sizeof(head), "%s%c%" PRIu64 "%c%" PRId64 "%c%u%c", op, 0,
	              ++s->trace_seq, 0, when, 0, writer, 0);
	if (hl < 0 || (size_t)hl + plen + 1 > sizeof(head))
		return;
	memcpy(head + hl, path, plen);
	head[(size_t)hl + plen] = 0;
	hl += (int)plen + 1;
	for (c = s->trace_head; c; c = next) {
		size_t blen = XS_HDR_SIZE + (size_t)hl + vlen;

		/* vbd__conn_send() kills a connection it cannot queue a reply
		 * for, which unlinks it. */
		next = c->tnext;
		if (c->dead)
			continue;
		if (c->trace_lost && (c->out_bytes > c->trace_max / 2 || !send_lost(s, c))) {
			c->trace_lost++;
			continue;
		}
		if (c->out_bytes + blen > c->trace_max ||
		    vbd__conn_send(s, c, XS_CONTROL, 0, 0, head, (size_t)hl, value, vlen, false) < 0)
			c->trace_lost++;
	}
}

static bool removed(const xs_tnode *tn)
{
	return tn && tn->modified && !tn->node;
}

/* The record of a node present after the commit, if it is a change. */
static void emit_node(vbd_store *s, xs_tnode *tn, int64_t when, unsigned writer)
{
	const xs_node *old = vbd__hmap_get(&s->tree, tn->path, tn->path_len);
	const xs_node *n = tn->node;

	tn->traced = true;
	if (old && !tn->written &&
	    (old->vlen == n->vlen && (!n->vlen || memcmp(old->value, n->value, n->vlen) == 0)))
		return;   /* its children or permissions changed, not its value */
	emit(s, old || n->vlen ? "write" : "mkdir", when, writer, tn->path, tn->path_len,
	     n->value, n->vlen);
}

/* A node created by this commit, unless already traced. */
static xs_tnode *created(vbd_store *s, const xs_txn *t, const char *path, size_t len)
{
	xs_tnode *tn = vbd__hmap_get(&t->overlay, path, len);

	if (!tn || !tn->modified || !tn->node || tn->traced ||
	    vbd__hmap_get(&s->tree, path, len))
		return NULL;
	return tn;
}

static int by_mod_seq(const void *a, const void *b)
{
	uint32_t x = (*(xs_tnode *const *)a)->mod_seq, y = (*(xs_tnode *const *)b)->mod_seq;

	return x < y ? -1 : x > y;
}

void vbd__trace_commit(vbd_store *s, const xs_txn *t, const xs_actor *a)
{
	int64_t when = now_ns();
	xs_tnode *tn, **v;
	size_t n = 0, i;

	/* In the order the transaction last changed each node: a client that
	 * writes the keys and then the state (in one transaction that read
	 * the state first) is traced so, as its requests were. */
	for (tn = t->ohead; tn; tn = tn->onext)
		n += tn->modified;
	v = malloc((n ? n : 1) * sizeof(*v));
	if (!v) {
		/* Nothing may fail here: the subscribers are told instead. */
		xs_conn *c;

		s->trace_seq += n;
		for (c = s->trace_head; c; c = c->tnext)
			c->trace_lost += n;
		return;
	}
	n = 0;
	for (tn = t->ohead; tn; tn = tn->onext)
		if (tn->modified) {
			tn->traced = false;
			v[n++] = tn;
		}
	qsort(v, n, sizeof(*v), by_mod_seq);
	/* Removals: the top of each removed subtree stands for all of it. */
	for (i = 0; i < n; i++) {
		size_t pl;

		tn = v[i];
		if (!removed(tn) || !vbd__hmap_get(&s->tree, tn->path, tn->path_len))
			continue;
		pl = tn->path_len > 1 ? vbd__path_parent_len(tn->path, tn->path_len) : 0;
		if (pl && removed(vbd__hmap_get(&t->overlay, tn->path, pl)))
			continue;
		emit(s, "rm", when, a->domid, tn->path, tn->path_len, NULL, 0);
	}
	/* Creations and changes, each node after the ones created above it:
	 * the highest untraced creation on its way up goes first, in turn
	 * (no recursion: paths can be deep). */
	for (i = 0; i < n; i++) {
		tn = v[i];
		if (!tn->node)
			continue;
		while (!tn->traced) {
			xs_tnode *top = tn, *up;
			size_t len = tn->path_len;

			/* A node that existed has no creation above it. */
			while (len > 1) {
				len = vbd__path_parent_len(tn->path, len);
				if (!(up = created(s, t, tn->path, len)))
					break;
				top = up;
			}
			emit_node(s, top, when, a->domid);
		}
	}
	free(v);
}
