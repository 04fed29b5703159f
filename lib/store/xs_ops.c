/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Request handlers, one per message type, in a table indexed by type.
 *
 * The dispatcher does the checks every request shares (transaction id,
 * privilege), wraps requests that change the tree in an implicit
 * transaction, and turns a negative errno into XS_ERROR "<NAME>".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xs_internal.h"

typedef struct xs_req {
	const struct xsd_sockmsg *h;
	char *p;               /* payload, NUL-terminated at p[len] */
	uint32_t len;
} xs_req;

typedef int (*op_fn)(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t,
                     const xs_req *rq);

enum {
	F_NOTID = 1,   /* tx_id must be 0 */
	F_PRIV  = 2,   /* dom0 only */
	F_WRITE = 4,   /* changes the tree; replies "OK" after commit */
};

static int reply(vbd_store *s, xs_conn *c, const xs_req *rq, const void *d, size_t len)
{
	return vbd__conn_send(s, c, rq->h->type, rq->h->req_id, rq->h->tx_id, d, len,
	                      NULL, 0, false);
}

static int reply_ok(vbd_store *s, xs_conn *c, const xs_req *rq)
{
	return reply(s, c, rq, "OK", 3);
}

static const char *errno_name(int e)
{
	size_t i;

	for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (xsd_errors[i].errnum == e)
			return xsd_errors[i].errstring;
	return "EIO";
}

/* Splits the payload into at most max NUL-terminated strings; every string
 * must be terminated.  Returns the count or -EINVAL. */
static int split(const xs_req *rq, const char **v, int max)
{
	uint32_t off = 0;
	int n = 0;

	while (off < rq->len) {
		size_t l = strnlen(rq->p + off, rq->len - off);

		if (off + l == rq->len || n == max)
			return -EINVAL;
		v[n++] = rq->p + off;
		off += (uint32_t)l + 1;
	}
	return n;
}

/* Exactly one string. */
static int one_arg(const xs_req *rq, const char **ret)
{
	const char *v[1];
	int n = split(rq, v, 1);

	if (n != 1)
		return -EINVAL;
	*ret = v[0];
	return 0;
}

static int special_index(const char *p)
{
	return strcmp(p, XS_SPECIAL_INTRO) == 0 ? 0 : 1;
}

/*
 * The error for a missing node: ENOENT if the actor may read the nearest
 * existing ancestor, else EACCES, as cxenstored's errno_from_parents.  So
 * a guest cannot tell a missing node from one it may not see, and cannot
 * map other domains' trees.  *ret_parent_exists: whether the parent itself
 * is there (RM of a missing child is fine then).
 */
static int missing_errno(vbd_store *s, const xs_actor *a, xs_txn *t, const char *path,
                         bool *ret_parent_exists)
{
	size_t len = strlen(path);
	const xs_node *n = NULL;
	int r;

	*ret_parent_exists = false;
	while (!n && len > 1) {
		len = vbd__path_parent_len(path, len);
		if ((r = vbd__txn_get(s, t, a, path, len, &n)) < 0)
			return r;
		if (n && len == vbd__path_parent_len(path, strlen(path)))
			*ret_parent_exists = true;
	}
	if (!n || !(vbd__actor_mask(a, &n->perms) & XS_PERM_READ))
		return -EACCES;
	return -ENOENT;
}

static int get_readable(vbd_store *s, const xs_actor *a, xs_txn *t, const char *path,
                        const xs_node **ret)
{
	const xs_node *n;
	bool parent;
	int r;

	if (path[0] == '@')
		n = t && t->special[special_index(path)] ? t->special[special_index(path)] :
		    s->special[special_index(path)];
	else if ((r = vbd__txn_get(s, t, a, path, strlen(path), &n)) < 0)
		return r;
	if (!n)
		return missing_errno(s, a, t, path, &parent);
	if (!(vbd__actor_mask(a, &n->perms) & XS_PERM_READ))
		return -EACCES;
	*ret = n;
	return 0;
}

/* The one argument is a path: canonicalised into path (XS_CANON_MAX). */
static int path_arg(const xs_req *rq, const xs_actor *a, bool special, char *path)
{
	const char *arg;
	int r = one_arg(rq, &arg);

	return r < 0 ? r : vbd__path_canon(a->domid, arg, special, path);
}

/* The one argument names a node the actor may read. */
static int readable_arg(vbd_store *s, const xs_actor *a, xs_txn *t, const xs_req *rq,
                        bool special, const xs_node **ret)
{
	char path[XS_CANON_MAX];
	int r = path_arg(rq, a, special, path);

	return r < 0 ? r : get_readable(s, a, t, path, ret);
}

static int op_read(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	const xs_node *n;
	int r = readable_arg(s, a, t, rq, false, &n);

	return r < 0 ? r : reply(s, c, rq, n->value, n->vlen);
}

/* Creates path and any missing parents, or sets the value of an existing
 * node.  value NULL: MKDIR (an existing node is left as it is). */
static int create_or_set(vbd_store *s, xs_txn *t, const xs_actor *a, const char *path,
                         const char *value, uint32_t vlen)
{
	size_t len = strlen(path), anc = len, missing = 0, pos;
	const xs_node *cur, *parent = NULL;
	xs_node *n;
	int r;

	if ((r = vbd__txn_get(s, t, a, path, len, &cur)) < 0)
		return r;
	if (cur) {
		if (!(vbd__actor_mask(a, &cur->perms) & XS_PERM_WRITE))
			return -EACCES;
		if (!value)
			return 0;
		if ((r = vbd__txn_modify(s, t, a, path, len, &n)) < 0)
			goto failed;
		if ((r = vbd__node_set_value(n, value, vlen)) < 0 ||
		    (r = vbd__txn_event(s, t, path, len, false, &n->perms, NULL)) < 0)
			goto failed;
		vbd__txn_mark_written(t, path, len);
		return 0;
	}
	/* Walk up to the nearest existing ancestor ("/" always exists). */
	while (!parent) {
		anc = vbd__path_parent_len(path, anc);
		missing++;
		if ((r = vbd__txn_get(s, t, a, path, anc, &parent)) < 0)
			return r;
	}
	if (!(vbd__actor_mask(a, &parent->perms) & XS_PERM_WRITE))
		return -EACCES;
	if (!a->priv && (int64_t)s->owned[a->domid & 0xFFFF] + t->owned_delta +
	                    (int64_t)missing > (int64_t)s->lim.nodes_per_domain)
		return -ENOSPC;

	/* From here on only ENOMEM can stop us; the caller discards an implicit
	 * transaction, and a client's is marked failed. */
	for (pos = anc; pos < len;) {
		size_t end = pos + 1, plen = pos == 1 ? 1 : pos;
		xs_node *p;

		while (end < len && path[end] != '/')
			end++;
		n = vbd__node_new(path, end);
		if (!n) {
			r = -ENOMEM;
			goto failed;
		}
		if ((r = vbd__txn_modify(s, t, a, path, plen, &p)) < 0 ||
		    (r = vbd__perms_copy(&n->perms, &p->perms)) < 0 ||
		    (r = vbd__node_add_kid(p, path + (pos == 1 ? 1 : pos + 1),
		                           end - (pos == 1 ? 1 : pos + 1))) < 0) {
			vbd__node_free(n);
			goto failed;
		}
		/* Domains own what they create. */
		if (!a->priv && n->perms.n)
			n->perms.p[0].id = a->domid;
		if (end == len && value && (r = vbd__node_set_value(n, value, vlen)) < 0) {
			vbd__node_free(n);
			goto failed;
		}
		if ((r = vbd__txn_insert(s, t, a, n)) < 0) {
			vbd__node_free(n);
			goto failed;
		}
		if (end == len && (r = vbd__txn_event(s, t, path, len, false, &n->perms, NULL)) < 0)
			goto failed;
		pos = end;
	}
	return 0;
failed:
	t->failed = true;
	return r;
}

static int op_write(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	char path[XS_CANON_MAX];
	size_t plen = strnlen(rq->p, rq->len);
	int r;

	(void)c;
	if (plen == rq->len)
		return -EINVAL;
	if (!a->priv && rq->len - plen - 1 > s->lim.value_size)
		return -ENOSPC;
	if ((r = vbd__path_canon(a->domid, rq->p, false, path)) < 0)
		return r;
	return create_or_set(s, t, a, path, rq->p + plen + 1, (uint32_t)(rq->len - plen - 1));
}

static int op_mkdir(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	char path[XS_CANON_MAX];
	int r = path_arg(rq, a, false, path);

	(void)c;
	return r < 0 ? r : create_or_set(s, t, a, path, NULL, 0);
}

/* Collects the subtree below path into a list of paths, without recursion
 * (XSA-418); every node is read through t, so a client transaction's
 * limits are met before anything is deleted. */
typedef struct path_list {
	char **v;
	size_t n, cap;
} path_list;

static void path_list_done(path_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int path_list_add(path_list *l, const char *a, size_t alen, const char *b, size_t blen)
{
	char *p;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	p = malloc(alen + blen + 2);
	if (!p)
		return -ENOMEM;
	memcpy(p, a, alen);
	if (b) {
		p[alen] = '/';
		memcpy(p + alen + 1, b, blen);
		p[alen + 1 + blen] = 0;
	} else {
		p[alen] = 0;
	}
	l->v[l->n++] = p;
	return 0;
}

int vbd__ops_rm_tree(vbd_store *s, xs_txn *t, const xs_actor *a, const char *path, size_t len)
{
	path_list l = { NULL, 0, 0 };
	const xs_node *n;
	xs_node *parent;
	xs_perms root_perms = { NULL, 0 };
	size_t i, plen;
	int r;

	if ((r = path_list_add(&l, path, len, NULL, 0)) < 0)
		goto out;
	for (i = 0; i < l.n; i++) {
		uint32_t off;

		if ((r = vbd__txn_get(s, t, a, l.v[i], strlen(l.v[i]), &n)) < 0)
			goto out;
		if (!n)
			continue;
		if (i == 0 && (r = vbd__perms_copy(&root_perms, &n->perms)) < 0)
			goto out;
		for (off = 0; off < n->kids_len;) {
			size_t kl = strlen(n->kids + off);

			if ((r = path_list_add(&l, l.v[i], strlen(l.v[i]), n->kids + off, kl)) < 0)
				goto out;
			off += (uint32_t)kl + 1;
		}
	}
	plen = vbd__path_parent_len(path, len);
	if ((r = vbd__txn_get(s, t, a, path, plen, &n)) < 0)
		goto out;

	/* Everything is read: from here on only ENOMEM can stop us. */
	for (i = l.n; i-- > 0;) {
		size_t pl = strlen(l.v[i]);

		if ((r = vbd__txn_get(s, t, a, l.v[i], pl, &n)) < 0)
			goto failed;
		if (!n)
			continue;
		if (i > 0 && (r = vbd__txn_event(s, t, l.v[i], pl, true, &n->perms, NULL)) < 0)
			goto failed;
		if ((r = vbd__txn_delete(s, t, a, l.v[i], pl)) < 0)
			goto failed;
	}
	if ((r = vbd__txn_modify(s, t, a, path, plen, &parent)) < 0)
		goto failed;
	vbd__node_del_kid(parent, vbd__path_basename(path, len),
	                  len - (size_t)(vbd__path_basename(path, len) - path));
	r = vbd__txn_event(s, t, path, len, false, &root_perms, NULL);
	if (r < 0)
		goto failed;
	goto out;
failed:
	t->failed = true;
out:
	vbd__perms_done(&root_perms);
	path_list_done(&l);
	return r;
}

static int op_rm(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	char path[XS_CANON_MAX];
	const xs_node *n;
	size_t len;
	int r;

	(void)c;
	if ((r = path_arg(rq, a, false, path)) < 0)
		return r;
	len = strlen(path);
	if (len == 1)
		return -EINVAL;
	if ((r = vbd__txn_get(s, t, a, path, len, &n)) < 0)
		return r;
	if (!n) {
		/* Missing is fine if the parent is there, and the caller may
		 * know that (else it could probe with RM what READ hides). */
		bool parent;

		r = missing_errno(s, a, t, path, &parent);
		return r == -ENOENT && parent ? 0 : r;
	}
	if (!(vbd__actor_mask(a, &n->perms) & XS_PERM_WRITE))
		return -EACCES;
	return vbd__ops_rm_tree(s, t, a, path, len);
}

static int op_directory(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	const xs_node *n;
	int r = readable_arg(s, a, t, rq, false, &n);

	if (r < 0)
		return r;
	if (n->kids_len > s->lim.max_payload)
		return -E2BIG;
	return reply(s, c, rq, n->kids, n->kids_len);
}

/*
 * DIRECTORY_PART "path\0offset\0" -> "<gen>\0" + whole names from byte
 * offset of the "a\0b\0" listing; the last part ends with an extra "\0".
 * Example, a 6000-byte listing: offset 0 -> gen + ~4070 bytes of names;
 * offset 4070 -> gen + the rest + "\0".  A changed gen tells the client to
 * start over.
 */
static int op_directory_part(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t,
                             const xs_req *rq)
{
	char path[XS_CANON_MAX], out[XENSTORE_PAYLOAD_MAX];
	const char *v[2];
	const xs_node *n;
	unsigned offset;
	size_t used, room, take = 0;
	int r;

	if (split(rq, v, 2) != 2 || vbd__parse_uint(v[1], 0x7FFFFFFF, &offset) < 0)
		return -EINVAL;
	if ((r = vbd__path_canon(a->domid, v[0], false, path)) < 0 ||
	    (r = get_readable(s, a, t, path, &n)) < 0)
		return r;
	if (offset > n->kids_len)
		return -EINVAL;
	used = (size_t)snprintf(out, sizeof(out), "%llu", (unsigned long long)n->gen) + 1;
	room = s->lim.max_payload - used - 1;
	while (offset + take < n->kids_len) {
		size_t l = strlen(n->kids + offset + take) + 1;

		if (take + l > room)
			break;
		take += l;
	}
	if (take)
		memcpy(out + used, n->kids + offset, take);
	used += take;
	if (offset + take == n->kids_len)
		out[used++] = 0;
	return reply(s, c, rq, out, used);
}

static int op_get_perms(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	char out[XENSTORE_PAYLOAD_MAX];
	const xs_node *n;
	size_t len;
	int r = readable_arg(s, a, t, rq, true, &n);

	if (r < 0)
		return r;
	len = vbd__perms_format(&n->perms, out, sizeof(out));
	if (len > s->lim.max_payload || len > sizeof(out))
		return -E2BIG;
	return reply(s, c, rq, out, len);
}

static int op_set_perms(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	char path[XS_CANON_MAX];
	size_t plen = strnlen(rq->p, rq->len), len;
	xs_perms np = { NULL, 0 }, old = { NULL, 0 };
	const xs_node *cur;
	xs_node *n;
	uint32_t i;
	int r;

	(void)c;
	if (plen + 1 >= rq->len)
		return -EINVAL;
	if ((r = vbd__path_canon(a->domid, rq->p, true, path)) < 0)
		return r;
	if ((r = vbd__perms_parse(rq->p + plen + 1, rq->len - plen - 1, &np)) < 0)
		return r;
	if (!a->priv && np.n > s->lim.perms_per_node) {
		r = -ENOSPC;
		goto out;
	}
	/* Entries naming a domain that does not exist grant nothing, ever; an
	 * owner that does not exist is refused (both as cxenstored). */
	for (i = 0; i < np.n; i++)
		if (np.p[i].id != 0 && !vbd__domain_find(s, np.p[i].id))
			np.p[i].perm |= XS_PERM_IGNORE;
	if (np.p[0].perm & XS_PERM_IGNORE) {
		r = -ENOENT;
		goto out;
	}
	if (path[0] == '@') {
		/* The special nodes live outside the tree, but a change of
		 * their permissions is part of the transaction like any other:
		 * made on a copy, applied at commit. */
		int k = special_index(path);

		cur = t->special[k] ? t->special[k] : s->special[k];
		if (!(vbd__actor_mask(a, &cur->perms) & XS_PERM_OWNER)) {
			r = -EACCES;
			goto out;
		}
		if (!t->special[k] && !(t->special[k] = vbd__node_dup(s->special[k]))) {
			r = -ENOMEM;
			goto out;
		}
		vbd__perms_done(&t->special[k]->perms);
		t->special[k]->perms = np;
		return 0;
	}
	len = strlen(path);
	if ((r = vbd__txn_get(s, t, a, path, len, &cur)) < 0)
		goto out;
	if (!cur) {
		bool parent;

		r = missing_errno(s, a, t, path, &parent);
		goto out;
	}
	if (!(vbd__actor_mask(a, &cur->perms) & XS_PERM_OWNER)) {
		r = -EACCES;
		goto out;
	}
	/* A guest may not give its node away, nor take one (XSA-352). */
	if (!a->priv && np.p[0].id != cur->perms.p[0].id) {
		r = -EPERM;
		goto out;
	}
	if ((r = vbd__txn_modify(s, t, a, path, len, &n)) < 0)
		goto failed;
	/* Owner counts follow at commit; a guest cannot change the owner. */
	old = n->perms;
	n->perms = np;
	np.p = NULL;
	r = vbd__txn_event(s, t, path, len, false, &n->perms, &old);
	vbd__perms_done(&old);
	if (r < 0)
		goto failed;
	return 0;
failed:
	t->failed = true;
out:
	vbd__perms_done(&np);
	return r;
}

static int watch_args(const xs_req *rq, const xs_actor *a, char *abs, const char **given,
                      const char **token)
{
	const char *v[2];

	if (split(rq, v, 2) != 2)
		return -EINVAL;
	*given = v[0];
	*token = v[1];
	return vbd__path_canon(a->domid, v[0], true, abs);
}

static int op_watch(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	char path[XS_CANON_MAX];
	const char *given, *token;
	int r;

	(void)t;
	if ((r = watch_args(rq, a, path, &given, &token)) < 0 ||
	    (r = vbd__watch_add(s, c, given, path, token)) < 0)
		return r;
	if ((r = reply_ok(s, c, rq)) < 0)
		return r;
	/* The first event comes at once, whether the node exists or not. */
	vbd__conn_send(s, c, XS_WATCH_EVENT, 0, 0, given, strlen(given) + 1, token,
	               strlen(token) + 1, true);
	return 0;
}

static int op_unwatch(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	char path[XS_CANON_MAX];
	const char *given, *token;
	int r;

	(void)t;
	if ((r = watch_args(rq, a, path, &given, &token)) < 0 ||
	    (r = vbd__watch_del(s, c, path, token)) < 0)
		return r;
	return reply_ok(s, c, rq);
}

static xs_txn *find_txn(xs_conn *c, uint32_t id)
{
	xs_txn *t;

	for (t = c->txns; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

static int op_txn_start(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	char out[16];
	xs_txn *nt;
	uint32_t id;

	(void)t;
	if (!a->priv && c->ntxns >= s->lim.transactions_per_conn)
		return -ENOSPC;
	nt = malloc(sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	do {
		id = ++c->next_txid;
	} while (id == 0 || find_txn(c, id));
	vbd__txn_begin(s, nt, id, c->domid);
	nt->next = c->txns;
	c->txns = nt;
	c->ntxns++;
	s->st.transactions++;
	return reply(s, c, rq, out, (size_t)snprintf(out, sizeof(out), "%u", id) + 1);
}

static int op_txn_end(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	const char *arg;
	xs_txn **pp;
	int r;

	if (!t)
		return -ENOENT;
	if ((r = one_arg(rq, &arg)) < 0 || (strcmp(arg, "T") && strcmp(arg, "F")))
		return -EINVAL;
	for (pp = &c->txns; *pp != t; pp = &(*pp)->next)
		;
	*pp = t->next;
	c->ntxns--;
	s->st.transactions--;
	if (arg[0] == 'F')
		vbd__txn_done(s, t);
	else if (t->failed) {
		vbd__txn_done(s, t);
		r = -EAGAIN;
	} else
		r = vbd__txn_commit(s, t, a);
	free(t);
	return r < 0 ? r : reply_ok(s, c, rq);
}

static int domid_arg(const xs_req *rq, unsigned *ret)
{
	const char *arg;
	int r;

	if ((r = one_arg(rq, &arg)) < 0)
		return r;
	return vbd__parse_uint(arg, 0xFFFF, ret);
}

static int op_get_domain_path(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t,
                              const xs_req *rq)
{
	char out[32];
	unsigned id;
	int r;

	(void)a;
	(void)t;
	if ((r = domid_arg(rq, &id)) < 0)
		return r;
	return reply(s, c, rq, out, (size_t)snprintf(out, sizeof(out), "/local/domain/%u", id) + 1);
}

static int op_introduce(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	const char *v[3];
	unsigned id;
	int r;

	(void)a;
	(void)t;
	if (split(rq, v, 3) != 3 || vbd__parse_uint(v[0], 0xFFFF, &id) < 0)
		return -EINVAL;
	r = vbd_store_domain_add(s, id);
	if (r < 0 && r != -EEXIST)
		return r;
	return reply_ok(s, c, rq);
}

static int op_release(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	unsigned id;
	int r;

	(void)a;
	(void)t;
	if ((r = domid_arg(rq, &id)) < 0 || (r = vbd__domain_release(s, id)) < 0)
		return r;
	return reply_ok(s, c, rq);
}

static int op_is_introduced(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t,
                            const xs_req *rq)
{
	unsigned id;
	int r;

	(void)a;
	(void)t;
	if ((r = domid_arg(rq, &id)) < 0)
		return r;
	return reply(s, c, rq, (id == 0 || vbd__domain_find(s, id)) ? "T" : "F", 2);
}

static int op_set_target(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	const char *v[2];
	unsigned id, target;
	xs_domain *d;

	(void)a;
	(void)t;
	if (split(rq, v, 2) != 2 || vbd__parse_uint(v[0], 0xFFFF, &id) < 0 ||
	    vbd__parse_uint(v[1], 0xFFFF, &target) < 0)
		return -EINVAL;
	d = vbd__domain_find(s, id);
	if (!d || !vbd__domain_find(s, target))
		return -ENOENT;
	d->has_target = true;
	d->target = target;
	return reply_ok(s, c, rq);
}

static int op_resume(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	unsigned id;
	int r;

	(void)a;
	(void)t;
	if ((r = domid_arg(rq, &id)) < 0)
		return r;
	if (!vbd__domain_find(s, id))
		return -ENOENT;
	return reply_ok(s, c, rq);
}

static int op_reset_watches(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t,
                            const xs_req *rq)
{
	(void)a;
	(void)t;
	vbd__watch_free_all(s, c);
	vbd__conn_drop_txns(s, c);
	return reply_ok(s, c, rq);
}

/* The tunable limits, by the names `vbdctl store` and CONTROL quota use. */
#define QUOTAS(X) \
	X(nodes-per-domain, nodes_per_domain) \
	X(watches-per-domain, watches_per_domain) \
	X(transactions-per-conn, transactions_per_conn) \
	X(nodes-per-transaction, nodes_per_transaction) \
	X(perms-per-node, perms_per_node) \
	X(value-size, value_size) \
	X(outstanding, outstanding) \
	X(conns-per-domain, conns_per_domain) \
	X(memory-per-domain-soft, memory_per_domain_soft) \
	X(memory-per-domain, memory_per_domain)

/* CONTROL "quota <domid>": what the domain holds, against its quotas. */
static int quota_of(vbd_store *s, xs_conn *c, const xs_req *rq, const char *arg)
{
	char out[1024];
	const xs_acct *m;
	const xs_domain *d;
	unsigned id;
	int64_t total;
	int len;

	if (vbd__parse_uint(arg, 0xFFFF, &id) < 0)
		return -EINVAL;
	d = id ? vbd__domain_find(s, id) : NULL;
	if (id && !d)
		return -ENOENT;
	m = vbd__acct(s, id);
	total = vbd__acct_total(s, id);
	len = snprintf(out, sizeof(out),
	               "%-24s %lld\n%-24s %lld\n%-24s %lld\n%-24s %lld\n%-24s %lld\n"
	               "%-24s %u\n%-24s %u\n%-24s %u\n%-24s %s\n",
	               "memory", (long long)total,
	               "memory-nodes", (long long)m->nodes,
	               "memory-transactions", (long long)m->txn,
	               "memory-output", (long long)m->out,
	               "memory-watches", (long long)m->watch,
	               "nodes", s->owned[id],
	               "watches", d ? d->nwatches : 0,
	               "connections", d ? d->nconns : 0,
	               "memory-quota",
	               !id ? "exempt" :
	               s->lim.memory_per_domain && total > (int64_t)s->lim.memory_per_domain ?
	               "over-hard" :
	               s->lim.memory_per_domain_soft &&
	               total > (int64_t)s->lim.memory_per_domain_soft ? "over-soft" : "ok");
	return reply(s, c, rq, out, (size_t)len + 1);
}

/* CONTROL "conns": a line per connection, "pid P domid D events E" and the
 * requests it made by type ("read 12 write 3"), for finding where a client's
 * round trips go.  What does not fit in one reply is cut at a whole line and
 * said with a last line "more N". */
static int conns_list(vbd_store *s, xs_conn *c, const xs_req *rq, char *out, size_t size)
{
	static const char *const names[XS_TYPE_COUNT] = {
		[XS_CONTROL] = "control", [XS_DIRECTORY] = "directory", [XS_READ] = "read",
		[XS_GET_PERMS] = "get_perms", [XS_WATCH] = "watch", [XS_UNWATCH] = "unwatch",
		[XS_TRANSACTION_START] = "txn_start", [XS_TRANSACTION_END] = "txn_end",
		[XS_INTRODUCE] = "introduce", [XS_RELEASE] = "release",
		[XS_GET_DOMAIN_PATH] = "get_domain_path", [XS_WRITE] = "write",
		[XS_MKDIR] = "mkdir", [XS_RM] = "rm", [XS_SET_PERMS] = "set_perms",
		[XS_IS_DOMAIN_INTRODUCED] = "is_introduced", [XS_RESUME] = "resume",
		[XS_SET_TARGET] = "set_target", [XS_RESET_WATCHES] = "reset_watches",
		[XS_DIRECTORY_PART] = "directory_part",
	};
	char line[768];
	size_t len = 0, more = 0;
	const xs_conn *k;

	for (k = s->conns; k; k = k->next) {
		int n = snprintf(line, sizeof(line), "pid %ld domid %u events %u",
		                 (long)k->pid, k->domid, k->nevents);

		for (unsigned t = 0; t < XS_TYPE_COUNT; t++)
			if (k->nreq[t])
				n += snprintf(line + n, sizeof(line) - (size_t)n, " %s %u",
				              names[t] ? names[t] : "other", k->nreq[t]);
		/* Room kept for the "more" line. */
		if (more || len + (size_t)n + 2 + 32 > size) {
			more++;
			continue;
		}
		memcpy(out + len, line, (size_t)n);
		len += (size_t)n;
		out[len++] = '\n';
	}
	if (more)
		len += (size_t)snprintf(out + len, size - len, "more %zu\n", more);
	out[len] = '\0';
	return reply(s, c, rq, out, len + 1);
}

static int op_control(vbd_store *s, xs_conn *c, const xs_actor *a, xs_txn *t, const xs_req *rq)
{
	const char *v[4];
	char out[XENSTORE_PAYLOAD_MAX];
	int n = split(rq, v, 4), len = 0;
	unsigned val;

	(void)a;
	(void)t;
	if (n < 1)
		return -EINVAL;
	if (strcmp(v[0], "check") == 0 && n == 1) {
		int r = vbd__acct_check(s);

		return r < 0 ? r : reply_ok(s, c, rq);
	}
	/* Whether "trace" is offered: off, the daemon answers it as a real
	 * xenstored does, so that clients' fallback can be tested. */
	if (strcmp(v[0], "trace-offer") == 0 && n == 2) {
		if (vbd__parse_uint(v[1], 1, &val) < 0)
			return -EINVAL;
		s->trace_off = !val;
		return reply_ok(s, c, rq);
	}
	if (strcmp(v[0], "trace") == 0 && n <= 2 && !s->trace_off) {
		/* Replied to before the connection turns into a trace: the
		 * reply is the last xenstore message it carries. */
		if (n == 2 && vbd__parse_uint(v[1], 0x7FFFFFFF, &val) < 0)
			return -EINVAL;
		if (c->nwatches || c->txns)
			return -EBUSY;
		if ((len = reply_ok(s, c, rq)) < 0)
			return len;
		return vbd__trace_subscribe(s, c, n == 2 ? val : 0);
	}
	if (strcmp(v[0], "help") == 0 && n == 1) {
		static const char help[] =
			"check\nconns\nhelp\nquota [<name> <value> | <domid>]\nstats\ntrace [<bytes>]\ntrace-offer 0|1\n";
		return reply(s, c, rq, help, sizeof(help));
	}
	if (strcmp(v[0], "quota") == 0 && n == 1) {
#define X(name, field) len += snprintf(out + len, sizeof(out) - (size_t)len, \
                                       "%-24s %u\n", #name, s->lim.field);
		QUOTAS(X)
#undef X
		return reply(s, c, rq, out, (size_t)len + 1);
	}
	if (strcmp(v[0], "quota") == 0 && n == 2)
		return quota_of(s, c, rq, v[1]);
	if (strcmp(v[0], "quota") == 0 && n == 3) {
		/* 0 would stall or refuse everything: never a useful limit. */
		if (vbd__parse_uint(v[2], 0x7FFFFFFF, &val) < 0 || val == 0)
			return -EINVAL;
#define X(name, field) if (strcmp(v[1], #name) == 0) { s->lim.field = val; return reply_ok(s, c, rq); }
		QUOTAS(X)
#undef X
		return -EINVAL;
	}
	if (strcmp(v[0], "conns") == 0 && n == 1)
		return conns_list(s, c, rq, out, sizeof(out));
	if (strcmp(v[0], "stats") == 0 && n == 1) {
		vbd_store_stats stv = { .size = sizeof(stv) }, *st = &stv;

		vbd_store_get_stats(s, st);
#define S(f) len += snprintf(out + len, sizeof(out) - (size_t)len, "%-18s %llu\n", #f, \
                             (unsigned long long)st->f);
		S(nodes) S(connections) S(domains) S(watches) S(transactions) S(requests)
		S(events_sent) S(events_dropped) S(events_filtered) S(conns_killed)
		S(pending_bytes) S(pending_bytes_max) S(generation)
#undef S
		return reply(s, c, rq, out, (size_t)len + 1);
	}
	return -EINVAL;
}

static const struct {
	op_fn fn;
	unsigned flags;
} ops[XS_TYPE_COUNT] = {
	[XS_CONTROL]              = { op_control, F_NOTID | F_PRIV },
	[XS_DIRECTORY]            = { op_directory, 0 },
	[XS_READ]                 = { op_read, 0 },
	[XS_GET_PERMS]            = { op_get_perms, 0 },
	[XS_WATCH]                = { op_watch, F_NOTID },
	[XS_UNWATCH]              = { op_unwatch, F_NOTID },
	[XS_TRANSACTION_START]    = { op_txn_start, F_NOTID },
	[XS_TRANSACTION_END]      = { op_txn_end, 0 },
	[XS_INTRODUCE]            = { op_introduce, F_NOTID | F_PRIV },
	[XS_RELEASE]              = { op_release, F_NOTID | F_PRIV },
	[XS_GET_DOMAIN_PATH]      = { op_get_domain_path, F_NOTID },
	[XS_WRITE]                = { op_write, F_WRITE },
	[XS_MKDIR]                = { op_mkdir, F_WRITE },
	[XS_RM]                   = { op_rm, F_WRITE },
	[XS_SET_PERMS]            = { op_set_perms, F_WRITE },
	[XS_IS_DOMAIN_INTRODUCED] = { op_is_introduced, F_NOTID },
	[XS_RESUME]               = { op_resume, F_NOTID | F_PRIV },
	[XS_SET_TARGET]           = { op_set_target, F_NOTID | F_PRIV },
	[XS_RESET_WATCHES]        = { op_reset_watches, F_NOTID },
	[XS_DIRECTORY_PART]       = { op_directory_part, 0 },
};

void vbd__ops_handle(vbd_store *s, xs_conn *c, const struct xsd_sockmsg *h, char *payload)
{
	xs_req rq = { h, payload, h->len };
	xs_txn *t = NULL, *implicit = &s->implicit;
	xs_actor a;
	int r;

	s->st.requests++;
	if (h->type < XS_TYPE_COUNT)
		c->nreq[h->type]++;
	vbd__actor_of(s, c, &a);
	if (s->fail_at && (s->fail_domid < 0 || (unsigned)s->fail_domid == c->domid) &&
	    ++s->fail_count >= s->fail_at && (s->fail_count == s->fail_at || s->fail_persistent)) {
		r = s->fail_err;
		goto out;
	}
	if (h->type >= XS_TYPE_COUNT || !ops[h->type].fn) {
		r = -EINVAL;
		goto out;
	}
	if ((ops[h->type].flags & F_NOTID) && h->tx_id) {
		r = -EINVAL;
		goto out;
	}
	if ((ops[h->type].flags & F_PRIV) && !a.priv) {
		r = -EACCES;
		goto out;
	}
	if (h->tx_id) {
		t = find_txn(c, h->tx_id);
		if (!t) {
			r = -ENOENT;
			goto out;
		}
	} else if (ops[h->type].flags & F_WRITE) {
		vbd__txn_reuse(implicit);
		t = implicit;
	}
	r = ops[h->type].fn(s, c, &a, t, &rq);
	if (t && t != implicit && (ops[h->type].flags & F_WRITE)) {
		/* What the request added to a client transaction is charged
		 * now; past the quota the request fails, and having changed the
		 * transaction, so does its commit. */
		int rs = vbd__txn_settle(s, t, &a);

		if (rs < 0 && r >= 0) {
			t->failed = true;
			r = rs;
		}
	}
	if (t == implicit) {
		if (r >= 0)
			r = vbd__txn_commit(s, t, &a);
		else
			vbd__txn_done(s, t);
	}
	if (r >= 0 && (ops[h->type].flags & F_WRITE))
		r = reply_ok(s, c, &rq);
out:
	if (r < 0) {
		const char *e = errno_name(-r);
		vbd__conn_send(s, c, XS_ERROR, h->req_id, h->tx_id, e, strlen(e) + 1, NULL, 0, false);
	}
}
