/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd__store_reset(): a used store back to new, and
 * vbd__store_detach_fd(): a connection ended with its socket kept, for the
 * fuzzer (see store_hooks.h).  Kept apart from store.c: nothing but the
 * fuzzer calls them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_hooks.h"
#include "xs_internal.h"

void vbd__store_limits(const vbd_store *s, vbd_store_limits *ret)
{
	*ret = s->lim;
}

int vbd__store_detach_fd(vbd_store *s, int fd)
{
	xs_conn *c;

	if (!s || fd < 0)
		return -EINVAL;
	for (c = s->conns; c; c = c->next)
		if (c->fd == fd)
			return vbd__conn_detach(s, c);
	return -ENOENT;
}

static bool perms_name(const xs_perms *p, unsigned domid)
{
	uint32_t i;

	for (i = 0; i < p->n; i++)
		if (p->p[i].id == domid)
			return true;
	return false;
}

int vbd__store_perms_name(const vbd_store *s, unsigned domid, char *path,
                          size_t path_len)
{
	const xs_node *n = NULL;
	vbd__hent *e;
	size_t b;
	int k;

	if (!s || (path_len && !path))
		return -EINVAL;
	for (k = 0; k < 2 && !n; k++)
		if (perms_name(&s->special[k]->perms, domid))
			n = s->special[k];
	for (e = NULL; !n && (e = vbd__hmap_next(&s->tree, &b, e));)
		if (perms_name(&((const xs_node *)e->val)->perms, domid))
			n = e->val;
	if (!n)
		return 0;
	if (path_len)
		snprintf(path, path_len, "%s", n->path);
	return 1;
}

static int busy(char *what, size_t what_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int busy(char *what, size_t what_len, const char *fmt, ...)
{
	va_list ap;

	if (what && what_len) {
		va_start(ap, fmt);
		vsnprintf(what, what_len, fmt, ap);
		va_end(ap);
	}
	return -EBUSY;
}

/* Nothing but nodes charged to domid: its share of the tree was taken off
 * already, so everything must be 0. */
static int check_acct(const vbd_store *s, unsigned domid, char *what, size_t what_len)
{
	const xs_acct *a = &s->acct[domid & 0xFFFF];

	if (s->owned[domid & 0xFFFF] || a->nodes || a->txn || a->out || a->watch)
		return busy(what, what_len,
		            "dom%u: %u nodes and %lld bytes more than the tree holds, "
		            "%lld in transactions, %lld in output, %lld in watches",
		            domid, s->owned[domid & 0xFFFF], (long long)a->nodes,
		            (long long)a->txn, (long long)a->out, (long long)a->watch);
	return 0;
}

int vbd__store_reset(vbd_store *s, const vbd_store_limits *lim,
                     const unsigned *domids, size_t ndomids, char *what,
                     size_t what_len)
{
	const xs_domain *d;
	xs_domain *dn;
	vbd__hent *e;
	xs_node *special[2], *root;
	size_t b, i;
	int r, k;

	if (!s || !lim || (ndomids && !domids) || s->listen.fd >= 0 || s->listen.path)
		return -EINVAL;
	if (s->conns || s->dead_conns || s->dirty)
		return busy(what, what_len, "a connection is left");
	/* Trace records are queued on their subscribers' connections: none
	 * is left if no subscriber is. */
	if (s->trace_subs || s->trace_head)
		return busy(what, what_len, "%u trace subscribers left", s->trace_subs);
	if (s->watch_index.count)
		return busy(what, what_len, "%zu watched paths left in the index",
		            s->watch_index.count);
	if (s->st.connections || s->st.watches || s->st.transactions || s->st.pending_bytes)
		return busy(what, what_len, "counters: %llu connections, %llu watches, "
		            "%llu transactions, %llu bytes pending",
		            (unsigned long long)s->st.connections,
		            (unsigned long long)s->st.watches,
		            (unsigned long long)s->st.transactions,
		            (unsigned long long)s->st.pending_bytes);
	if (s->st.nodes != s->tree.count)
		return busy(what, what_len, "%llu nodes counted, %zu in the tree",
		            (unsigned long long)s->st.nodes, s->tree.count);
	for (d = s->domains; d; d = d->next)
		if (d->nconns || d->nwatches)
			return busy(what, what_len, "dom%u: %u connections, %u watches",
			            d->id, d->nconns, d->nwatches);
	/* Take each node's share off its owner; then every owner, every
	 * domain and dom0 must be at 0. */
	for (e = NULL; (e = vbd__hmap_next(&s->tree, &b, e));) {
		const xs_node *n = e->val;

		if (!n->perms.n)
			return busy(what, what_len, "%s has no owner", n->path);
		s->owned[n->perms.p[0].id & 0xFFFF]--;
		vbd__acct(s, n->perms.p[0].id)->nodes -= (int64_t)vbd__node_mem(n);
	}
	for (e = NULL; (e = vbd__hmap_next(&s->tree, &b, e));) {
		const xs_node *n = e->val;

		r = check_acct(s, n->perms.p[0].id, what, what_len);
		if (r < 0)
			return r;
	}
	for (d = s->domains; d; d = d->next)
		if ((r = check_acct(s, d->id, what, what_len)) < 0)
			return r;
	if ((r = check_acct(s, 0, what, what_len)) < 0)
		return r;
	for (i = 0; i < ndomids; i++)
		if ((r = check_acct(s, domids[i], what, what_len)) < 0)
			return r;

	/* Everything checked: the tables are all 0 again.  Now as new. */
	special[0] = vbd__node_new_n0(XS_SPECIAL_INTRO);
	special[1] = vbd__node_new_n0(XS_SPECIAL_REL);
	root = vbd__node_new_n0("/");
	if (!special[0] || !special[1] || !root) {
		vbd__node_free(special[0]);
		vbd__node_free(special[1]);
		vbd__node_free(root);
		return -ENOMEM;
	}
	for (e = NULL; (e = vbd__hmap_next(&s->tree, &b, e));)
		vbd__node_free(e->val);
	vbd__hmap_done(&s->tree);
	vbd__hmap_done(&s->watch_index);
	while ((dn = s->domains)) {
		s->domains = dn->next;
		vbd__listener_close(&dn->listen);
		free(dn);
	}
	for (k = 0; k < 2; k++) {
		vbd__node_free(s->special[k]);
		s->special[k] = special[k];
	}
	s->gen = 0;
	root->gen = ++s->gen;
	if (vbd__hmap_put(&s->tree, root->path, 1, root) < 0) {
		vbd__node_free(root);
		return -ENOMEM;
	}
	s->acct[0].nodes = (int64_t)vbd__node_mem(root);
	s->owned[0] = 1;
	s->lim = *lim;
	s->release_seq = 0;
	s->trace_seq = 0;
	s->trace_off = false;
	s->trim_peak = 0;
	vbd__store_trim_disarm(s);
	s->fail_count = s->fail_at = 0;
	s->fail_domid = 0;
	s->fail_err = 0;
	s->fail_persistent = false;
	memset(&s->st, 0, sizeof(s->st));
	s->st.nodes = 1;
	if (s->spare_fd < 0)
		s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return 0;
}
