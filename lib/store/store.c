/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store object: sockets, the epoll set the caller polls, domains.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/listen.h"
#include "xs_internal.h"
#include "util/opts.h"
#include "util/err.h"

xs_domain *vbd__domain_find(const vbd_store *s, unsigned id)
{
	xs_domain *d;

	for (d = s->domains; d; d = d->next)
		if (d->id == id && !d->dead)
			return d;
	return NULL;
}

void vbd__actor_of(const vbd_store *s, const xs_conn *c, xs_actor *ret)
{
	const xs_domain *d = c->priv ? NULL : vbd__domain_find(s, c->domid);

	ret->domid = c->domid;
	ret->priv = c->priv;
	ret->has_target = d && d->has_target;
	ret->target = d ? d->target : 0;
}

unsigned vbd__actor_mask(const xs_actor *a, const xs_perms *p)
{
	return vbd__perms_mask(p, a->domid, a->priv, a->has_target, a->target);
}

/* The defaults of vbd/store.h for the fields left 0. */
static void limits_default(vbd_store_limits *l)
{
	l->nodes_per_domain = vbd__opt_uint(l->nodes_per_domain, 1000);
	l->watches_per_domain = vbd__opt_uint(l->watches_per_domain, 128);
	l->transactions_per_conn = vbd__opt_uint(l->transactions_per_conn, 10);
	l->nodes_per_transaction = vbd__opt_uint(l->nodes_per_transaction, 1024);
	l->perms_per_node = vbd__opt_uint(l->perms_per_node, 5);
	l->value_size = vbd__opt_uint(l->value_size, 2048);
	l->outstanding = vbd__opt_uint(l->outstanding, 20);
	l->max_payload = vbd__opt_uint(l->max_payload, 4096);
	if (!l->max_pending_bytes)
		l->max_pending_bytes = 256u << 10;
	if (!l->max_pending_bytes_priv)
		l->max_pending_bytes_priv = 16u << 20;
	l->conns_per_domain = vbd__opt_uint(l->conns_per_domain, 64);
	l->memory_per_domain_soft = vbd__opt_uint(l->memory_per_domain_soft, 2u << 20);
	l->memory_per_domain = vbd__opt_uint(l->memory_per_domain, 5u << 19);
}

int vbd_store_new(vbd_store **ret, const vbd_store_options *opts, vbd_errbuf *err)
{
	vbd_store_options def;
	struct epoll_event ev = { .events = EPOLLIN };
	vbd_store *s;
	xs_node *root;
	int r;

	if (!ret)
		return vbd__errf(err, -EINVAL, "store: no result pointer");
	/* Version 1 ends before the memory quota: those keep their defaults;
	 * version 2 before listen_fd. */
	if (VBD__OPTS_LOAD(&def, opts, VBD_STORE_OPTIONS_VERSION,
	                   offsetof(vbd_store_options, limits.memory_per_domain_soft),
	                   offsetof(vbd_store_options, listen_fd), sizeof(def)) < 0)
		return vbd__errf(err, -EINVAL, "store: options version %u, expected 1..%u",
		                 opts->version, VBD_STORE_OPTIONS_VERSION);
	opts = &def;
	limits_default(&def.limits);
	if (opts->limits.max_payload < 1024 || opts->limits.max_payload > XENSTORE_PAYLOAD_MAX ||
	    opts->limits.outstanding == 0)
		return vbd__errf(err, -EINVAL, "store: limits out of range (max_payload 1024..%u, outstanding >= 1)",
		                 XENSTORE_PAYLOAD_MAX);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->kind = XS_SRC_LISTEN;
	vbd__listener_init(&s->listen, 0);
	s->epfd = -1;
	s->trim.kind = XS_SRC_TRIM;
	s->trim.fd = -1;
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	s->lim = opts->limits;
	s->socket_mode = opts->socket_mode ? opts->socket_mode : 0600;
	s->owned = calloc(0x10000, sizeof(*s->owned));
	s->acct = calloc(0x10000, sizeof(*s->acct));
	s->special[0] = vbd__node_new_n0(XS_SPECIAL_INTRO);
	s->special[1] = vbd__node_new_n0(XS_SPECIAL_REL);
	root = vbd__node_new_n0("/");
	if (!s->owned || !s->acct || !s->special[0] || !s->special[1] || !root)
		goto nomem;
	root->gen = ++s->gen;
	if (vbd__hmap_put(&s->tree, root->path, 1, root) < 0)
		goto nomem;
	s->acct[0].nodes = (int64_t)vbd__node_mem(root);
	root = NULL;
	s->owned[0] = 1;
	s->st.nodes = 1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		r = -errno;
		goto fail;
	}
	if (opts->listen_fd) {
		r = vbd__listener_adopt(&s->listen, opts->listen_fd, SOCK_STREAM);
		if (r == 0 && opts->socket_path && strcmp(opts->socket_path, s->listen.path))
			r = -EINVAL;
		if (r < 0)
			goto fail;
	} else if (opts->socket_path) {
		r = vbd__listener_open(&s->listen, opts->socket_path, SOCK_STREAM, s->socket_mode);
		if (r < 0)
			goto fail;
	}
	ev.data.ptr = s;
	if (s->listen.fd >= 0 && epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen.fd, &ev) < 0) {
		r = -errno;
		goto fail;
	}
	s->trim.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ev.data.ptr = &s->trim;
	if (s->trim.fd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->trim.fd, &ev) < 0) {
		r = -errno;
		goto fail;
	}
	*ret = s;
	return 0;
nomem:
	r = -ENOMEM;
fail:
	/* The caller's listen_fd stays the caller's: the free must not close
	 * it (it leaves its file in any case). */
	if (s->listen.adopted)
		s->listen.fd = -1;
	vbd__node_free(root);
	vbd_store_free(s);
	if (opts->listen_fd)
		return vbd__errf(err, r, "store: taking over listening socket fd %d%s%s: %s",
		                 opts->listen_fd, opts->socket_path ? " as " : "",
		                 opts->socket_path ? opts->socket_path : "", strerror(-r));
	return vbd__errf(err, r, "store: %s%s: %s", opts->socket_path ? "listening on " : "setting up",
	                 opts->socket_path ? opts->socket_path : "", strerror(-r));
}

static void domain_close(vbd_store *s, xs_domain *d)
{
	if (d->listen.fd >= 0)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, d->listen.fd, NULL);
	vbd__listener_close(&d->listen);
}

/* Frees released domains; their epoll entries are gone already.  Runs at
 * the end of every vbd_store_process(): the walk only after a release, not
 * once per message over every domain of the host. */
static void reap_domains(vbd_store *s)
{
	xs_domain **pp = &s->domains, *d;

	if (!s->domains_dead)
		return;
	s->domains_dead = false;
	while ((d = *pp)) {
		if (d->dead) {
			*pp = d->next;
			free(d);
		} else {
			pp = &d->next;
		}
	}
}

vbd_store *vbd_store_free(vbd_store *s)
{
	size_t i;
	vbd__hent *e;
	xs_domain *d;

	if (!s)
		return NULL;
	while (s->conns)
		vbd__conn_kill(s, s->conns);
	vbd__conn_reap(s);
	for (d = s->domains; d; d = d->next) {
		domain_close(s, d);
		d->dead = true;
	}
	s->domains_dead = true;
	reap_domains(s);
	for (e = NULL; (e = vbd__hmap_next(&s->tree, &i, e));)
		vbd__node_free(e->val);
	vbd__hmap_done(&s->tree);
	vbd__hmap_done(&s->watch_index);
	vbd__txn_release_maps(&s->implicit);
	vbd__conn_buf_cache_free(s);
	vbd__node_free(s->special[0]);
	vbd__node_free(s->special[1]);
	if (s->listen.path)
		vbd__listener_remove_dir(s->listen.path);
	vbd__listener_close(&s->listen);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	if (s->trim.fd >= 0)
		close(s->trim.fd);
	free(s->owned);
	free(s->acct);
	free(s);
	return NULL;
}

int vbd_store_get_fd(const vbd_store *s)
{
	return s ? s->epfd : -EINVAL;
}

void vbd_store_fail_request(vbd_store *s, vbd_domid domid, uint64_t nth, int err, int persistent)
{
	if (!s)
		return;
	s->fail_count = 0;
	s->fail_at = nth;
	s->fail_domid = domid == VBD_DOMID_ALL ? -1 : (int)domid;
	s->fail_err = err < 0 ? err : -EIO;
	s->fail_persistent = persistent != 0;
}

const char *vbd_store_socket_path(const vbd_store *s)
{
	return s ? s->listen.path : NULL;
}

int vbd_store_get_stats(const vbd_store *s, vbd_store_stats *ret)
{
	vbd_store_stats st;

	if (!s || !ret || ret->size < sizeof(ret->size))
		return -EINVAL;
	st = s->st;
	st.generation = s->gen;
	return vbd__out_fill(ret, &st, sizeof(st));
}

static void accept_all(vbd_store *s, vbd__listener *l)
{
	int fd;

	while ((fd = vbd__listener_accept(l, &s->spare_fd)) >= 0)
		if (vbd__conn_new(s, fd, l->domid, NULL) < 0)
			close(fd);
}

static void flush_dirty(vbd_store *s)
{
	while (s->dirty) {
		xs_conn *c = s->dirty;

		s->dirty = c->dnext;
		if (!s->dirty)
			s->dirty_tail = NULL;
		c->dirty = false;
		c->dnext = NULL;
		if (!c->dead)
			vbd__conn_flush(s, c);
	}
}

int vbd_store_process(vbd_store *s)
{
	struct epoll_event ev[64];
	int n, i;

	if (!s)
		return -EINVAL;
	n = epoll_wait(s->epfd, ev, 64, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		int kind = *(int *)ev[i].data.ptr;

		if (kind == XS_SRC_LISTEN) {
			accept_all(s, &s->listen);
		} else if (kind == XS_SRC_TRIM) {
			vbd__store_trim(s);
		} else if (kind == XS_SRC_DOMAIN) {
			xs_domain *d = ev[i].data.ptr;
			if (!d->dead)
				accept_all(s, &d->listen);
		} else {
			xs_conn *c = ev[i].data.ptr;
			if (!c->dead)
				vbd__conn_on_event(s, c, ev[i].events);
		}
	}
	flush_dirty(s);
	vbd__conn_reap(s);
	reap_domains(s);
	return n;
}

int vbd_store_run_once(vbd_store *s, int timeout_ms)
{
	struct pollfd p;

	if (!s)
		return -EINVAL;
	p.fd = s->epfd;
	p.events = POLLIN;
	if (poll(&p, 1, timeout_ms) < 0)
		return -errno;
	return vbd_store_process(s);
}

int vbd_store_adopt_fd(vbd_store *s, int fd, unsigned domid)
{
	int fl;

	if (!s || fd < 0)
		return -EINVAL;
	if (domid != 0 && !vbd__domain_find(s, domid))
		return -ENOENT;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return vbd__conn_new(s, fd, domid, NULL);
}

int vbd_store_domain_socket(const vbd_store *s, unsigned domid, char *buf, size_t size)
{
	const xs_domain *d;
	int n;

	if (!s || !buf)
		return -EINVAL;
	d = vbd__domain_find(s, domid);
	if (!d)
		return -ENOENT;
	if (!d->listen.path)
		return -ENOTSUP;
	n = snprintf(buf, size, "%s", d->listen.path);
	return (size_t)n < size ? 0 : -ENAMETOOLONG;
}

int vbd_store_domain_add(vbd_store *s, unsigned domid)
{
	struct epoll_event ev = { .events = EPOLLIN };
	xs_domain *d;
	int r;

	if (!s || domid == 0 || domid >= XS_DOMID_MAX)
		return -EINVAL;
	if (vbd__domain_find(s, domid))
		return -EEXIST;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->kind = XS_SRC_DOMAIN;
	d->id = domid;
	vbd__listener_init(&d->listen, domid);
	if (s->listen.path) {
		r = vbd__listener_open_domain(&d->listen, s->listen.path, SOCK_STREAM,
		                              s->socket_mode);
		if (r < 0)
			goto fail;
		ev.data.ptr = d;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, d->listen.fd, &ev) < 0) {
			r = -errno;
			goto fail;
		}
	}
	d->next = s->domains;
	s->domains = d;
	s->st.domains++;
	vbd__watch_fire_special(s, 0);
	return 0;
fail:
	domain_close(s, d);
	free(d);
	return r;
}

static int cmp_len(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
	return la < lb ? -1 : la > lb;
}

/* Deletes every node domid owns, shortest path first (a subtree goes with
 * its top), in one implicit transaction acting as dom0. */
static int delete_owned(vbd_store *s, unsigned domid)
{
	xs_actor a = { 0, true, false, 0 };
	char **v = NULL;
	size_t n = 0, i, b;
	vbd__hent *e;
	xs_txn t;
	int r = 0;

	if (!s->owned[domid])
		return 0;
	v = calloc(s->owned[domid], sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (e = NULL; (e = vbd__hmap_next(&s->tree, &b, e));) {
		xs_node *nd = e->val;
		if (nd->perms.n && nd->perms.p[0].id == domid && n < s->owned[domid])
			v[n++] = nd->path;
	}
	qsort(v, n, sizeof(*v), cmp_len);
	vbd__txn_init(&t, 0);
	for (i = 0; i < n && r >= 0; i++) {
		const xs_node *nd;
		size_t len = strlen(v[i]);

		/* The path strings belong to tree nodes, which stay until commit. */
		r = vbd__txn_get(s, &t, &a, v[i], len, &nd);
		if (r >= 0 && nd)
			r = vbd__ops_rm_tree(s, &t, &a, v[i], len);
	}
	if (r >= 0)
		r = vbd__txn_commit(s, &t, &a);
	else
		vbd__txn_done(s, &t);
	free(v);
	return r;
}

/* Removes domid from every permission list, so that a later domain with the
 * same id inherits nothing (XSA-322). */
static void strip_perms(vbd_store *s, unsigned domid)
{
	vbd__hent *e;
	size_t b;
	int k;

	for (e = NULL; (e = vbd__hmap_next(&s->tree, &b, e));) {
		xs_node *nd = e->val;
		uint32_t i, j;

		for (i = j = 1; i < nd->perms.n; i++)
			if (nd->perms.p[i].id != domid)
				nd->perms.p[j++] = nd->perms.p[i];
		if (nd->perms.n && j != nd->perms.n) {
			/* The owner's charge follows the shorter list. */
			vbd__acct(s, nd->perms.p[0].id)->nodes -=
				(int64_t)((nd->perms.n - j) * sizeof(*nd->perms.p));
			nd->perms.n = j;
			nd->gen = ++s->gen;
		}
	}
	for (k = 0; k < 2; k++) {
		xs_perms *p = &s->special[k]->perms;
		uint32_t i, j;

		for (i = j = 1; i < p->n; i++)
			if (p->p[i].id != domid)
				p->p[j++] = p->p[i];
		if (p->n)
			p->n = j;
		/* A special node cannot be deleted with what the domain owned:
		 * it goes back to dom0, as in cxenstored, so that a domain
		 * reusing the id does not own it (found by the fuzzer). */
		if (p->n && p->p[0].id == domid)
			p->p[0].id = 0;
	}
}

int vbd__domain_release(vbd_store *s, unsigned domid)
{
	xs_domain *d = vbd__domain_find(s, domid), *o;
	xs_conn *c, *next;
	int r;

	if (!d)
		return -ENOENT;
	/* The one step that can fail comes first, so that a failed release
	 * changes nothing. */
	r = delete_owned(s, domid);
	if (r < 0)
		return r;
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->domid == domid)
			vbd__conn_kill(s, c);
	}
	domain_close(s, d);
	d->dead = true;
	s->domains_dead = true;
	s->st.domains--;
	for (o = s->domains; o; o = o->next)
		if (o->has_target && o->target == domid)
			o->has_target = false;
	strip_perms(s, domid);
	s->release_seq++;
	vbd__watch_fire_special(s, 1);
	return 0;
}

int vbd_store_domain_remove(vbd_store *s, unsigned domid)
{
	if (!s)
		return -EINVAL;
	return vbd__domain_release(s, domid);
}
