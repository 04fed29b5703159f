/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd_bus: the xenstore client loop every libvbd object runs on.  Two
 * connections: libxenstore's for requests one at a time, and the wire
 * client's (wire.c) for the watches and the pipelined transactions; one
 * epoll fd over the wire client, its kick and every fd an object follows;
 * watches found by id (bus_watch.c); timers.
 *
 *     wire: WATCH_EVENT /local/domain/0/backend/vbd/1/51712/state "vbd-7"
 *       -> wtab[7 & mask] -> w->fn(path, w->ud)     (from vbd_bus_process)
 *
 * Entries removed while a callback runs are only marked dead and freed
 * when the outermost process() returns, so a callback may remove its own
 * watch, or any other, safely.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"
#include "util/opts.h"
#include "xenbus/xenbus.h"

struct vbd__xb_timer {
	vbd__xb_timer *next;
	uint64_t deadline_ms;       /* CLOCK_MONOTONIC */
	vbd__xb_timer_fn fn;
	void *ud;
	bool dead;
};

struct vbd__xb_io {
	vbd__xb_io *next;
	int fd;
	vbd__xb_io_fn fn;
	void *ud;
	bool dead;
};

uint64_t vbd__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void vbd__logv_to(vbd__xb_log_fn log, void *ud, int level, const char *fmt, va_list ap)
{
	char buf[1024];

	if (!log)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	log(level, buf, ud);
}

void vbd__xb_log(vbd_bus *bus, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vbd__logv_to(bus->log, bus->log_ud, level, fmt, ap);
	va_end(ap);
}

/* libxenstore takes the daemon's socket only from XENSTORED_PATH, read by
 * xs_open(), and the environment is the whole process's.  A bus told its
 * own socket sets the variable for its xs_open() call and puts the
 * caller's value back; without a lock, two buses made at once in two
 * threads set and restore it under each other's feet, and one connects to
 * the other's socket, or to whatever the variable named before: with a
 * guest's socket there, every request of that bus is then refused with
 * EACCES.  So the set, the open and the restore are one critical section
 * for all of libvbd's buses. */
static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;

/* Opens the request connection to path (NULL: wherever XENSTORED_PATH or
 * libxenstore's default says); where gets the socket's name for messages.
 * 0, -ENOMEM, or -ECONNREFUSED. */
static int open_handles(vbd_bus *bus, const char *path, char *where, size_t size)
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
	bus->host_xenstore = !env;
	if (env && !(bus->socket = strdup(env))) {
		r = -ENOMEM;
		goto out;
	}
	snprintf(where, size, "%s", env ? env : "the default xenstored socket");
	bus->xs = xs_open(0);
	if (!bus->xs)
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

int vbd_bus_new(vbd_bus **ret, const vbd_bus_options *opts, vbd_errbuf *err)
{
	struct epoll_event ev = { .events = EPOLLIN };
	char where[512] = "xenstore";
	vbd_bus_options o;
	vbd__xb_wire *w;
	vbd_bus *bus;
	int r;

	if (!ret)
		return vbd__errf(err, -EINVAL, "vbd_bus_new: no place for the bus");
	if ((r = VBD__OPTS_LOAD(&o, opts, VBD_BUS_OPTIONS_VERSION, sizeof(o))) < 0)
		return vbd__errf(err, r, "vbd_bus_new: options version %u is not one this library "
		                 "knows (1..%u)", opts->version, VBD_BUS_OPTIONS_VERSION);
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return vbd__errf(err, -ENOMEM, "vbd_bus_new: out of memory");
	bus->refs = 1;
	bus->log = o.log;
	bus->log_ud = o.log_userdata;
	bus->kick_fd = -1;
	bus->ev_seq = VBD__XB_NO_EVENT;
	bus->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (bus->epfd < 0) {
		r = vbd__errf(err, -errno, "epoll_create1: %s", strerror(errno));
		goto fail;
	}
	bus->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ev.data.ptr = &bus->kick_fd;
	if (bus->kick_fd < 0 || epoll_ctl(bus->epfd, EPOLL_CTL_ADD, bus->kick_fd, &ev) < 0) {
		r = vbd__errf(err, -errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
	/* o.single_connection: every bus holds two connections now. */
	r = open_handles(bus, o.xenstored_path, where, sizeof(where));
	if (r < 0 || (r = vbd__xb_bus_wire(bus, &w)) < 0) {
		vbd__errf(err, r, "cannot connect to xenstore at %s: %s", where, strerror(-r));
		goto fail;
	}
	vbd__xb_log(bus, VBD_LOG_DEBUG, "connected to xenstore at %s", where);
	*ret = bus;
	return 0;
fail:
	vbd_bus_unref(bus);
	return r;
}

vbd_bus *vbd_bus_ref(vbd_bus *bus)
{
	if (bus)
		bus->refs++;
	return bus;
}

void vbd__xb_bus_reap(vbd_bus *bus)
{
	vbd__xb_timer **pt = &bus->timers, *t;
	vbd__xb_io **pi = &bus->ios, *io;

	if (!bus->ndead)
		return;
	bus->ndead = 0;
	while ((io = *pi)) {
		if (io->dead) {
			*pi = io->next;
			free(io);
		} else {
			pi = &io->next;
		}
	}
	vbd__xb_watches_reap(bus);
	while ((t = *pt)) {
		if (t->dead) {
			*pt = t->next;
			free(t);
		} else {
			pt = &t->next;
		}
	}
}

/* Frees the wire clients replaced while callbacks ran. */
static void retire(vbd_bus *bus)
{
	while (bus->nretired)
		vbd__xb_wire_free(bus->retired[--bus->nretired]);
}

vbd_bus *vbd_bus_unref(vbd_bus *bus)
{
	vbd__xb_timer *t;
	vbd__xb_io *io;

	if (!bus || --bus->refs > 0)
		return NULL;
	/* What its users left behind (each removes its own before letting go). */
	for (io = bus->ios; io; io = io->next)
		io->dead = true;
	for (t = bus->timers; t; t = t->next)
		t->dead = true;
	bus->ndead = 1;
	vbd__xb_bus_reap(bus);
	vbd__xb_watches_end(bus);
	if (bus->xs)
		xs_close(bus->xs);
	retire(bus);
	free(bus->retired);
	vbd__xb_wire_free(bus->wire);
	if (bus->kick_fd >= 0)
		close(bus->kick_fd);
	if (bus->epfd >= 0)
		close(bus->epfd);
	free(bus->socket);
	free(bus);
	return NULL;
}

int vbd_bus_get_fd(vbd_bus *bus)
{
	return bus ? bus->epfd : -EINVAL;
}

int vbd_bus_get_timeout_ms(vbd_bus *bus)
{
	uint64_t now = vbd__now_ms(), next = UINT64_MAX;
	vbd__xb_timer *t;

	if (!bus)
		return -1;
	for (t = bus->timers; t; t = t->next)
		if (!t->dead && t->deadline_ms < next)
			next = t->deadline_ms;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now > 0x7fffffff ? 0x7fffffff : next - now);
}

uint64_t vbd__xb_bus_replies(vbd_bus *bus)
{
	return vbd__xbw_replies(bus->wire);
}

bool vbd__xb_bus_event_before(vbd_bus *bus, uint64_t replies)
{
	return bus->ev_seq != VBD__XB_NO_EVENT && bus->ev_seq <= replies;
}

/* A new wire client w for bus (the last one broke, or none yet): its fd
 * followed and every watch of the bus set on it again, each firing once
 * as a new watch does.  0 or -errno; w is the bus's unless the epoll set
 * refused its fd. */
static int rewire(vbd_bus *bus, vbd__xb_wire *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &bus->wire };

	if (epoll_ctl(bus->epfd, EPOLL_CTL_ADD, vbd__xbw_fd(w), &ev) < 0)
		return -errno;
	vbd__xbw_kick_to(w, bus->kick_fd);
	vbd__xbw_replies_from(w, bus->wire);
	/* The old one (its fd already out of the epoll set, closed when it
	 * broke) may be the one a vbd__xbw_events() below us is walking, a
	 * callback's request having found it broken: freed once the
	 * outermost process() returns.  Its queued events are the old
	 * connection's; each watch fires again on the new one. */
	if (bus->wire) {
		vbd__xb_wire **slot = realloc(bus->retired, (bus->nretired + 1) * sizeof(*slot));

		if (slot) {
			bus->retired = slot;
			bus->retired[bus->nretired++] = bus->wire;
		} else if (!bus->depth) {
			vbd__xb_wire_free(bus->wire);
		}   /* else: lost, not freed under a caller */
	}
	bus->wire = w;
	if (!bus->depth)
		retire(bus);
	return vbd__xb_watches_set(bus, w);
}

int vbd__xb_bus_wire(vbd_bus *bus, vbd__xb_wire **ret)
{
	vbd__xb_wire *w;
	int r;

	if (bus->wire && !vbd__xb_wire_broken(bus->wire)) {
		*ret = bus->wire;
		return 0;
	}
	if ((r = vbd__xb_wire_open(bus->socket, &w)) < 0)
		return r;
	/* Once in place (only its watches' failing to be set again can go
	 * wrong then) it stays, broken or not, for the next try. */
	r = rewire(bus, w);
	if (bus->wire != w) {
		vbd__xb_wire_free(w);
		return r;
	}
	*ret = w;
	return r;
}

int vbd_bus_process(vbd_bus *bus)
{
	struct epoll_event evs[16];
	vbd__xb_wire *w;
	vbd__xb_timer *t;
	uint64_t now;
	bool wire = false;
	int k, ready, r, n = 0;

	if (!bus)
		return -EINVAL;
	bus->depth++;
	ready = epoll_wait(bus->epfd, evs, 16, 0);
	for (k = 0; k < ready; k++) {
		vbd__xb_io *io = evs[k].data.ptr;

		if (evs[k].data.ptr == &bus->kick_fd) {
			uint64_t v;

			(void)!read(bus->kick_fd, &v, sizeof(v));
			wire = true;
		} else if (evs[k].data.ptr == &bus->wire) {
			wire = true;
		} else if (io && !io->dead) {
			io->fn(io->fd, io->ud);
			n++;
		}
	}
	if (wire || vbd__xbw_pending(bus->wire)) {
		r = vbd__xbw_events(bus->wire, vbd__xb_watch_fired, bus);
		if (r > 0)
			n += r;
	}
	now = vbd__now_ms();
	for (t = bus->timers; t; t = t->next) {
		if (!t->dead && t->deadline_ms <= now) {
			t->dead = true;
			bus->ndead++;
			t->fn(t->ud);
			n++;
		}
	}
	/* Closed under it (the daemon went, or sent what is no event, here
	 * or in a request's wait): another connection, with every watch set
	 * again there, or the loop has lost its daemon. */
	if (vbd__xb_wire_broken(bus->wire) && (r = vbd__xb_bus_wire(bus, &w)) < 0) {
		vbd__xb_log(bus, VBD_LOG_ERR, "the xenstore connection for watches is lost: %s",
		            strerror(-r));
		n = r;
	}
	if (--bus->depth == 0) {
		vbd__xb_bus_reap(bus);
		retire(bus);
	}
	return n;
}

void vbd__xb_bus_last_user(vbd_bus *bus)
{
	if (bus->refs == 1)
		bus->closing = true;
}

int vbd__xb_timer_add(vbd_bus *bus, uint64_t deadline_ms, vbd__xb_timer_fn fn, void *ud,
                      vbd__xb_timer **ret)
{
	vbd__xb_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->deadline_ms = deadline_ms;
	t->fn = fn;
	t->ud = ud;
	t->next = bus->timers;
	bus->timers = t;
	if (ret)
		*ret = t;
	return 0;
}

void vbd__xb_timer_cancel(vbd_bus *bus, vbd__xb_timer *t)
{
	if (!t || t->dead)
		return;
	t->dead = true;
	bus->ndead++;
	if (!bus->depth)
		vbd__xb_bus_reap(bus);
}

int vbd__xb_io_add(vbd_bus *bus, int fd, vbd__xb_io_fn fn, void *ud, vbd__xb_io **ret)
{
	vbd__xb_io *io = calloc(1, sizeof(*io));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!io)
		return -ENOMEM;
	io->fd = fd;
	io->fn = fn;
	io->ud = ud;
	ev.data.ptr = io;
	if (epoll_ctl(bus->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;

		free(io);
		return r;
	}
	io->next = bus->ios;
	bus->ios = io;
	*ret = io;
	return 0;
}

void vbd__xb_io_cancel(vbd_bus *bus, vbd__xb_io *io)
{
	if (!io || io->dead)
		return;
	/* Before the fd is closed, so that no event names a freed entry. */
	epoll_ctl(bus->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->dead = true;
	bus->ndead++;
	if (!bus->depth)
		vbd__xb_bus_reap(bus);
}

int vbd_bus_read(vbd_bus *bus, const char *path, char **ret_value)
{
	unsigned len;
	char *v;

	if (!bus || !path || !ret_value)
		return -EINVAL;
	errno = 0;
	v = xs_read(bus->xs, XBT_NULL, path, &len);   /* libxenstore NUL-terminates */
	if (!v)
		return -(errno ? errno : EIO);
	*ret_value = v;
	return 0;
}

int vbd_bus_directory(vbd_bus *bus, const char *path, char ***ret_names, size_t *ret_n)
{
	unsigned n = 0;
	char **names;

	if (!bus || !path || !ret_names || !ret_n)
		return -EINVAL;
	errno = 0;
	names = xs_directory(bus->xs, XBT_NULL, path, &n);
	if (!names && errno)
		return -errno;
	/* No children: libxenstore may return an empty array or NULL with
	 * errno 0; callers get an array either way. */
	if (!names && !(names = calloc(1, sizeof(*names))))
		return -ENOMEM;
	*ret_names = names;
	*ret_n = n;
	return 0;
}

void vbd_bus_names_free(char **names, size_t n)
{
	/* libxenstore's one block: the array and the strings after it. */
	(void)n;
	free(names);
}
