/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd_ctx: the toolstack's context on a xenstore bus (lib/xenbus), its own
 * or one the caller shares.  The bus runs the loop; the context keeps its
 * own entries on it, so that freeing the context removes exactly them, and
 * its callbacks get the context.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/ctx.h"
#include "util/opts.h"

struct vbd__watch {
	vbd__watch *next;
	vbd_ctx *c;
	vbd__watch_fn fn;
	void *ud;
	vbd__xb_watch *w;
	bool dead;
};

struct vbd__timer {
	vbd__timer *next;
	vbd_ctx *c;
	void (*fn)(vbd_ctx *c, void *ud);
	void *ud;
	vbd__xb_timer *t;
	bool dead;
};

struct vbd__io {
	vbd__io *next;
	vbd_ctx *c;
	void (*fn)(vbd_ctx *c, int fd, void *ud);
	void *ud;
	vbd__xb_io *io;
	bool dead;
};

void vbd__log(vbd_ctx *c, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vbd__logv_to(c->log, c->log_ud, level, fmt, ap);
	va_end(ap);
}

int vbd_ctx_new(vbd_ctx **ret, const vbd_ctx_options *opts, vbd_errbuf *err)
{
	vbd_ctx_options def = VBD_CTX_OPTIONS_INIT;
	vbd_ctx *c;
	int r;

	if (!ret)
		return vbd__errf(err, -EINVAL, "context: no result pointer");
	if (VBD__OPTS_LOAD(&def, opts, VBD_CTX_OPTIONS_VERSION, sizeof(def)) < 0)
		return vbd__errf(err, -EINVAL, "context: options version %u, expected 1..%u",
		                 opts->version, VBD_CTX_OPTIONS_VERSION);
	opts = &def;
	c = calloc(1, sizeof(*c));
	if (!c)
		return vbd__errf(err, -ENOMEM, "context: out of memory");
	c->log = opts->log;
	c->log_ud = opts->log_userdata;
	if (opts->bus) {
		c->bus = vbd_bus_ref(opts->bus);
	} else {
		vbd_bus_options bo = VBD_BUS_OPTIONS_INIT;

		bo.xenstored_path = opts->xenstored_path;
		bo.log = opts->log;
		bo.log_userdata = opts->log_userdata;
		r = vbd_bus_new(&c->bus, &bo, err);
		if (r < 0) {
			free(c);
			return r;
		}
	}
	c->xs = c->bus->xs;
	c->host_xenstore = c->bus->host_xenstore;
	*ret = c;
	return 0;
}

int vbd__ctx_on_free(vbd_ctx *c, vbd__ctx_cleanup_fn fn)
{
	unsigned i;

	for (i = 0; i < c->ncleanups; i++)
		if (c->cleanups[i] == fn)
			return 0;
	if (c->ncleanups == VBD__CTX_CLEANUPS)
		return -ENOSPC;
	c->cleanups[c->ncleanups++] = fn;
	return 0;
}

static void reap(vbd_ctx *c)
{
	vbd__watch **pw = &c->watches, *w;
	vbd__timer **pt = &c->timers, *t;
	vbd__io **pi = &c->ios, *io;

	if (!c->ndead)
		return;
	c->ndead = 0;
	while ((io = *pi)) {
		if (io->dead) {
			*pi = io->next;
			free(io);
		} else {
			pi = &io->next;
		}
	}
	while ((w = *pw)) {
		if (w->dead) {
			*pw = w->next;
			free(w);
		} else {
			pw = &w->next;
		}
	}
	while ((t = *pt)) {
		if (t->dead) {
			*pt = t->next;
			free(t);
		} else {
			pt = &t->next;
		}
	}
}

vbd_ctx *vbd_ctx_free(vbd_ctx *c)
{
	vbd__watch *w;
	vbd__timer *t;
	vbd__io *io;

	if (!c)
		return NULL;
	/* The bus goes with the context: its watches go with its connection,
	 * without an UNWATCH each (four round trips at the end of every
	 * vbdctl attach).  A bus another user holds keeps them removed. */
	vbd__xb_bus_last_user(c->bus);
	while (c->ncleanups > 0)
		c->cleanups[--c->ncleanups](c);
	c->depth++;     /* the lists are walked: free after */
	for (io = c->ios; io; io = io->next)
		vbd__ctx_io_cancel(c, io);
	for (w = c->watches; w; w = w->next)
		vbd__ctx_unwatch(c, w);
	for (t = c->timers; t; t = t->next)
		vbd__ctx_timer_cancel(c, t);
	c->depth = 0;
	c->ndead = 1;
	reap(c);
	vbd_bus_unref(c->bus);
	free(c);
	return NULL;
}

int vbd_ctx_get_fd(vbd_ctx *c)
{
	return c ? vbd_bus_get_fd(c->bus) : -EINVAL;
}

int vbd_ctx_get_timeout_ms(vbd_ctx *c)
{
	return c ? vbd_bus_get_timeout_ms(c->bus) : -1;
}

int vbd_ctx_process(vbd_ctx *c)
{
	return c ? vbd_bus_process(c->bus) : -EINVAL;
}

const char *vbd_ctx_last_error(vbd_ctx *c)
{
	return c ? c->err.msg : "";
}

/* Around each callback: what it removes is freed once the outermost of the
 * context's callbacks returns. */
static void leave(vbd_ctx *c)
{
	if (--c->depth == 0)
		reap(c);
}

static void watch_fired(const char *path, void *ud)
{
	vbd__watch *w = ud;
	vbd_ctx *c = w->c;

	if (w->dead)
		return;
	c->depth++;
	w->fn(c, path, w->ud);
	leave(c);
}

int vbd__ctx_watch(vbd_ctx *c, const char *path, vbd__watch_fn fn, void *ud, vbd__watch **ret)
{
	vbd__watch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return vbd__errf(&c->err, -ENOMEM, "watching %s: out of memory", path);
	w->c = c;
	w->fn = fn;
	w->ud = ud;
	r = vbd__xb_watch_add(c->bus, path, watch_fired, w, &c->err, &w->w);
	if (r < 0) {
		free(w);
		return r;
	}
	w->next = c->watches;
	c->watches = w;
	if (ret)
		*ret = w;
	return 0;
}

void vbd__ctx_unwatch(vbd_ctx *c, vbd__watch *w)
{
	if (!w || w->dead)
		return;
	vbd__xb_watch_remove(c->bus, w->w);
	w->dead = true;
	c->ndead++;
	if (!c->depth)
		reap(c);
}

static void timer_fired(void *ud)
{
	vbd__timer *t = ud;
	vbd_ctx *c = t->c;

	/* The bus forgets a timer that fired; so does the context. */
	t->dead = true;
	c->ndead++;
	c->depth++;
	t->fn(c, t->ud);
	leave(c);
}

int vbd__ctx_timer(vbd_ctx *c, uint64_t deadline_ms, void (*fn)(vbd_ctx *, void *), void *ud,
                   vbd__timer **ret)
{
	vbd__timer *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->c = c;
	t->fn = fn;
	t->ud = ud;
	r = vbd__xb_timer_add(c->bus, deadline_ms, timer_fired, t, &t->t);
	if (r < 0) {
		free(t);
		return r;
	}
	t->next = c->timers;
	c->timers = t;
	if (ret)
		*ret = t;
	return 0;
}

void vbd__ctx_timer_cancel(vbd_ctx *c, vbd__timer *t)
{
	if (!t || t->dead)
		return;
	vbd__xb_timer_cancel(c->bus, t->t);
	t->dead = true;
	c->ndead++;
	if (!c->depth)
		reap(c);
}

static void io_ready(int fd, void *ud)
{
	vbd__io *io = ud;
	vbd_ctx *c = io->c;

	if (io->dead)
		return;
	c->depth++;
	io->fn(c, fd, io->ud);
	leave(c);
}

int vbd__ctx_io(vbd_ctx *c, int fd, void (*fn)(vbd_ctx *, int, void *), void *ud, vbd__io **ret)
{
	vbd__io *io = calloc(1, sizeof(*io));
	int r;

	if (!io)
		return -ENOMEM;
	io->c = c;
	io->fn = fn;
	io->ud = ud;
	r = vbd__xb_io_add(c->bus, fd, io_ready, io, &io->io);
	if (r < 0) {
		free(io);
		return r;
	}
	io->next = c->ios;
	c->ios = io;
	*ret = io;
	return 0;
}

void vbd__ctx_io_cancel(vbd_ctx *c, vbd__io *io)
{
	if (!io || io->dead)
		return;
	vbd__xb_io_cancel(c->bus, io->io);
	io->dead = true;
	c->ndead++;
	if (!c->depth)
		reap(c);
}
