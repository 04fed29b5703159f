/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd_ctx: one libxenstore connection, its watch fd, and deadlines.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "toolstack/ctx.h"
#include "util/opts.h"

uint64_t vbd__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void vbd__log(vbd_ctx *c, int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!c->log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->log(level, buf, c->log_ud);
}

/* libxenstore takes the daemon's socket only from XENSTORED_PATH, read by
 * xs_open(), and the environment is the whole process's.  A context told
 * its own socket sets the variable for its two xs_open() calls and puts the
 * caller's value back; without a lock, two contexts made at once in two
 * threads set and restore it under each other's feet, and one connects to
 * the other's socket, or to whatever the variable named before: with a
 * guest's socket there, every request of that context is then refused with
 * EACCES.  So the set, both opens and the restore are one critical section
 * for all of libvbd's contexts. */
static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;

/* Opens both connections to path (NULL: wherever XENSTORED_PATH or
 * libxenstore's default says); where gets the socket's name for messages.
 * 0, -ENOMEM, or -ECONNREFUSED. */
static int open_handles(vbd_ctx *c, const char *path, char *where, size_t size)
{
	const char *env;
	char *old = NULL;
	bool set;
	int r = 0;

	pthread_mutex_lock(&env_lock);
	env = getenv("XENSTORED_PATH");
	/* Already the right value: the environment is left alone. */
	set = path && !(env && strcmp(env, path) == 0);
	if (set) {
		if (env && !(old = strdup(env))) {
			r = -ENOMEM;
			goto out;
		}
		if (setenv("XENSTORED_PATH", path, 1) < 0) {
			r = -(errno ? errno : ENOMEM);
			free(old);
			set = false;
			goto out;
		}
	}
	env = getenv("XENSTORED_PATH");
	c->host_xenstore = !env;
	snprintf(where, size, "%s", env ? env : "the default xenstored socket");
	c->xs = xs_open(0);
	c->xsw = c->xs ? xs_open(0) : NULL;
	if (!c->xs || !c->xsw)
		r = -ECONNREFUSED;
out:
	if (set) {
		if (old)
			setenv("XENSTORED_PATH", old, 1);
		else
			unsetenv("XENSTORED_PATH");
		free(old);
	}
	pthread_mutex_unlock(&env_lock);
	return r;
}

int vbd_ctx_new(vbd_ctx **ret, const vbd_ctx_options *opts, vbd_errbuf *err)
{
	vbd_ctx_options def = VBD_CTX_OPTIONS_INIT;
	char where[512] = "the xenstore socket";
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
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epfd < 0) {
		r = -errno;
		free(c);
		return r;
	}
	r = open_handles(c, opts->xenstored_path, where, sizeof(where));
	if (r < 0) {
		if (c->xsw)
			xs_close(c->xsw);
		if (c->xs)
			xs_close(c->xs);
		close(c->epfd);
		free(c);
		return vbd__errf(err, r, "context: connecting to xenstore at %s", where);
	}
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, xs_fileno(c->xsw), &ev) < 0) {
			r = -errno;
			xs_close(c->xsw);
			xs_close(c->xs);
			close(c->epfd);
			free(c);
			return r;
		}
	}
	vbd__log(c, VBD_LOG_DEBUG, "connected to xenstore at %s", where);
	*ret = c;
	return 0;
}

static void wtab_remove(vbd_ctx *c, vbd__watch *w)
{
	vbd__watch **pp;

	if (!c->wtab_size)
		return;
	for (pp = &c->wtab[w->id & (c->wtab_size - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == w) {
			*pp = w->hnext;
			c->nwatches--;
			return;
		}
}

/* Adds w to the table, doubling it past two entries a bucket. */
static int wtab_add(vbd_ctx *c, vbd__watch *w)
{
	if (c->nwatches + 1 > 2 * c->wtab_size) {
		unsigned size = c->wtab_size ? 2 * c->wtab_size : 64, i;
		vbd__watch **t = calloc(size, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (i = 0; i < c->wtab_size; i++) {
			vbd__watch *x, *next;

			for (x = c->wtab[i]; x; x = next) {
				next = x->hnext;
				x->hnext = t[x->id & (size - 1)];
				t[x->id & (size - 1)] = x;
			}
		}
		free(c->wtab);
		c->wtab = t;
		c->wtab_size = size;
	}
	w->hnext = c->wtab[w->id & (c->wtab_size - 1)];
	c->wtab[w->id & (c->wtab_size - 1)] = w;
	c->nwatches++;
	return 0;
}

static vbd__watch *wtab_find(vbd_ctx *c, const char *token)
{
	vbd__watch *w;
	unsigned long id;
	char *end;

	if (strncmp(token, "vbd-", 4) || !c->wtab_size)
		return NULL;
	id = strtoul(token + 4, &end, 10);
	if (*end)
		return NULL;
	for (w = c->wtab[id & (c->wtab_size - 1)]; w; w = w->hnext)
		if (w->id == id && !w->dead)
			return w;
	return NULL;
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
			free(w->path);
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
	vbd__dev_ops_cancel(c);
	vbd__ctx_domain_done(c);
	for (io = c->ios; io; io = io->next)
		io->dead = true;
	for (w = c->watches; w; w = w->next)
		w->dead = true;
	for (t = c->timers; t; t = t->next)
		t->dead = true;
	c->ndead = 1;
	reap(c);
	free(c->wtab);
	if (c->xsw)
		xs_close(c->xsw);
	if (c->xs)
		xs_close(c->xs);
	close(c->epfd);
	free(c);
	return NULL;
}

int vbd_ctx_get_fd(vbd_ctx *c)
{
	return c ? c->epfd : -EINVAL;
}

int vbd_ctx_get_timeout_ms(vbd_ctx *c)
{
	uint64_t now = vbd__now_ms(), next = UINT64_MAX;
	vbd__timer *t;

	if (!c)
		return -1;
	for (t = c->timers; t; t = t->next)
		if (!t->dead && t->deadline_ms < next)
			next = t->deadline_ms;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now > 0x7fffffff ? 0x7fffffff : next - now);
}

int vbd_ctx_process(vbd_ctx *c)
{
	uint64_t now;
	vbd__timer *t;
	char **ev;
	int n = 0;

	struct epoll_event evs[16];
	int k, ready;

	if (!c)
		return -EINVAL;
	c->depth++;
	/* Only the fds of vbd__io entries matter here; libxenstore's is
	 * drained below whether or not it showed up. */
	ready = epoll_wait(c->epfd, evs, 16, 0);
	for (k = 0; k < ready; k++) {
		vbd__io *io = evs[k].data.ptr;

		if (io && !io->dead) {
			io->fn(c, io->fd, io->ud);
			n++;
		}
	}
	while ((ev = xs_check_watch(c->xsw))) {
		vbd__watch *w = wtab_find(c, ev[XS_WATCH_TOKEN]);

		if (w)
			w->fn(c, ev[XS_WATCH_PATH], w->ud);
		free(ev);
		n++;
	}
	now = vbd__now_ms();
	for (t = c->timers; t; t = t->next) {
		if (!t->dead && t->deadline_ms <= now) {
			t->dead = true;
			c->ndead++;
			t->fn(c, t->ud);
			n++;
		}
	}
	if (--c->depth == 0)
		reap(c);
	return n;
}

const char *vbd_ctx_last_error(vbd_ctx *c)
{
	return c ? c->err.msg : "";
}

int vbd__ctx_watch(vbd_ctx *c, const char *path, vbd__watch_fn fn, void *ud, vbd__watch **ret)
{
	vbd__watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->path = strdup(path);
	if (!w->path) {
		free(w);
		return -ENOMEM;
	}
	w->id = ++c->next_token;
	snprintf(w->token, sizeof(w->token), "vbd-%u", w->id);
	w->fn = fn;
	w->ud = ud;
	/* In the table first: the watch fires as soon as it is set. */
	if (wtab_add(c, w) < 0) {
		free(w->path);
		free(w);
		return vbd__errf(&c->err, -ENOMEM, "watching %s: out of memory", path);
	}
	if (!xs_watch(c->xsw, path, w->token)) {
		int r = -errno;
		wtab_remove(c, w);
		free(w->path);
		free(w);
		return vbd__errf(&c->err, r, "watching %s: %s", path, strerror(-r));
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
	xs_unwatch(c->xsw, w->path, w->token);
	wtab_remove(c, w);
	w->dead = true;
	c->ndead++;
	if (!c->depth)
		reap(c);
}

int vbd__ctx_timer(vbd_ctx *c, uint64_t deadline_ms, void (*fn)(vbd_ctx *, void *), void *ud,
                   vbd__timer **ret)
{
	vbd__timer *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->deadline_ms = deadline_ms;
	t->fn = fn;
	t->ud = ud;
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
	t->dead = true;
	c->ndead++;
	if (!c->depth)
		reap(c);
}

int vbd__ctx_io(vbd_ctx *c, int fd, void (*fn)(vbd_ctx *, int, void *), void *ud, vbd__io **ret)
{
	vbd__io *io = calloc(1, sizeof(*io));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!io)
		return -ENOMEM;
	io->fd = fd;
	io->fn = fn;
	io->ud = ud;
	ev.data.ptr = io;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;
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
	/* Before the fd is closed, so that no event names a freed entry. */
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->dead = true;
	c->ndead++;
	if (!c->depth)
		reap(c);
}

char *vbd__xs_read(vbd_ctx *c, xs_transaction_t t, const char *fmt, ...)
{
	char path[3200];
	unsigned len;
	va_list ap;
	char *v;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	v = xs_read(c->xs, t, path, &len);
	return v;   /* libxenstore NUL-terminates */
}

char *vbd__xs_read_key(vbd_ctx *c, const char *dir, const char *key)
{
	return vbd__xs_read(c, XBT_NULL, "%s/%s", dir, key);
}

long long vbd__parse_num(const char *s)
{
	char *end;
	long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno || *end ? -1 : v;
}

int vbd__xs_read_num(vbd_ctx *c, const char *dir, const char *key, long long *ret)
{
	char *s = vbd__xs_read_key(c, dir, key);
	long long v;

	if (!s)
		return errno == ENOENT ? -ENOENT : -(errno ? errno : EIO);
	v = vbd__parse_num(s);
	free(s);
	if (v < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

