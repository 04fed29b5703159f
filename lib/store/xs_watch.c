/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Watches, indexed by absolute path.
 *
 * A change of /local/domain/5/device/vbd/51712/state looks up watches on
 * that path and on each ancestor up to "/": depth lookups, whatever the
 * number of watches.  A watch set with a relative path ("device/vbd") gets
 * events with the domain prefix stripped ("device/vbd/51712/state").
 * Delivery is permission-checked (XSA-115): a connection only hears of nodes
 * it may read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xs_internal.h"
#include "util/crashpoint.h"

static void index_unlink(vbd_store *s, xs_watch *w)
{
	if (w->iprev)
		w->iprev->inext = w->inext;
	else if (w->inext)
		vbd__hmap_put(&s->watch_index, w->inext->path, w->inext->path_len, w->inext);
	else
		vbd__hmap_del(&s->watch_index, w->path, w->path_len);
	if (w->inext)
		w->inext->iprev = w->iprev;
	w->inext = w->iprev = NULL;
}

static int64_t watch_mem(const xs_watch *w)
{
	return (int64_t)(sizeof(*w) + w->path_len + 1 + strlen(w->token) + 1);
}

static void watch_free(vbd_store *s, xs_watch *w)
{
	xs_domain *d = w->conn->priv ? NULL : vbd__domain_find(s, w->conn->domid);

	vbd__acct(s, w->conn->domid)->watch -= watch_mem(w);
	index_unlink(s, w);
	if (d && d->nwatches)
		d->nwatches--;
	s->st.watches--;
	free(w->path);
	free(w->token);
	free(w);
}

int vbd__watch_add(vbd_store *s, xs_conn *c, const char *given, const char *abs,
                   const char *token)
{
	size_t tlen = strlen(token), plen = strlen(abs);
	xs_domain *d = c->priv ? NULL : vbd__domain_find(s, c->domid);
	xs_watch *w, *head;

	if (tlen > XS_TOKEN_MAX)
		return -E2BIG;
	for (w = c->watches; w; w = w->cnext)
		if (strcmp(w->path, abs) == 0 && strcmp(w->token, token) == 0)
			return -EEXIST;
	if (d && d->nwatches >= s->lim.watches_per_domain)
		return -E2BIG;
	if (!c->priv && vbd__acct_over(s, c->domid, (int64_t)(sizeof(*w) + plen + tlen + 2)))
		return -ENOMEM;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->path = strdup(abs);
	w->token = strdup(token);
	if (!w->path || !w->token)
		goto nomem;
	w->path_len = (uint32_t)plen;
	w->conn = c;
	if (given[0] != '/' && given[0] != '@')
		w->strip = (uint32_t)(plen - strlen(given));
	head = vbd__hmap_get(&s->watch_index, w->path, plen);
	if (vbd__hmap_put(&s->watch_index, w->path, plen, w) < 0)
		goto nomem;
	w->inext = head;
	if (head)
		head->iprev = w;
	w->cnext = c->watches;
	c->watches = w;
	c->nwatches++;
	if (d)
		d->nwatches++;
	s->st.watches++;
	vbd__acct(s, c->domid)->watch += watch_mem(w);
	return 0;
nomem:
	free(w->path);
	free(w->token);
	free(w);
	return -ENOMEM;
}

int vbd__watch_del(vbd_store *s, xs_conn *c, const char *abs, const char *token)
{
	xs_watch **pp, *w;

	for (pp = &c->watches; (w = *pp); pp = &w->cnext) {
		if (strcmp(w->path, abs) == 0 && strcmp(w->token, token) == 0) {
			*pp = w->cnext;
			c->nwatches--;
			watch_free(s, w);
			return 0;
		}
	}
	return -ENOENT;
}

void vbd__watch_free_all(vbd_store *s, xs_conn *c)
{
	while (c->watches) {
		xs_watch *w = c->watches;
		c->watches = w->cnext;
		watch_free(s, w);
	}
	c->nwatches = 0;
}

static void deliver(vbd_store *s, const char *key, size_t klen, const char *path,
                    size_t len, const xs_perms *perms, const xs_perms *old_perms)
{
	xs_watch *w = vbd__hmap_get(&s->watch_index, key, klen);

	for (; w; w = w->inext) {
		xs_conn *c = w->conn;
		xs_actor a;

		if (c->dead)
			continue;
		vbd__actor_of(s, c, &a);
		if (!(vbd__actor_mask(&a, perms) & XS_PERM_READ) &&
		    !(old_perms && (vbd__actor_mask(&a, old_perms) & XS_PERM_READ))) {
			s->st.events_filtered++;
			continue;
		}
		if (w->strip > len)
			continue;
		vbd__conn_send(s, c, XS_WATCH_EVENT, 0, 0, path + w->strip, len - w->strip + 1,
		               w->token, strlen(w->token) + 1, true);
		vbd__crashpoint("store.firing-watches");
	}
}

void vbd__watch_fire(vbd_store *s, const char *path, size_t len, bool exact,
                     const xs_perms *perms, const xs_perms *old_perms)
{
	size_t l = len;

	if (!s->watch_index.count)
		return;
	if (exact) {
		deliver(s, path, len, path, len, perms, old_perms);
		return;
	}
	for (;;) {
		deliver(s, path, l, path, len, perms, old_perms);
		if (l <= 1)
			break;
		l = vbd__path_parent_len(path, l);
	}
}

void vbd__watch_fire_special(vbd_store *s, int which)
{
	const xs_node *n = s->special[which];

	deliver(s, n->path, n->path_len, n->path, n->path_len, &n->perms, NULL);
}
