/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The relay that counts round trips (xs_relay.h).  Each message is
 * followed through its header.  A request sent while every earlier
 * request of its connection is answered starts a round trip: the client
 * waited for the answers before it sent this one.  Requests sent together
 * (a pipelined window) are one round trip; requests sent one after the
 * other's reply are one each.  The relay takes a reply into account
 * before it passes it on, so the count follows from what the client does,
 * not from timing.  A watch event is no answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>
#include <xen/io/xs_wire.h>

#include "xs_relay.h"

#define RELAY_CONNS 8

struct rside {                   /* one direction's message framing */
	unsigned char hdr[sizeof(struct xsd_sockmsg)];
	size_t hlen;
	size_t body_left;
};

struct rconn {
	int c, s;                    /* the client's end, the store's end; -1: unused */
	unsigned id;                 /* the relay's count of accepted connections then */
	unsigned out;                /* requests not yet answered */
	unsigned trip;               /* the round trip its requests are on */
	struct rside up, down;
};

struct vbd_test_relay {
	char path[PATH_MAX + 16];
	char to[PATH_MAX + 16];
	int lfd, stop[2];
	pthread_t thread;
	pthread_mutex_t lock;
	unsigned trips;              /* under lock, as log */
	unsigned accepted;
	vbd_test_relay_trip log[VBD_TEST_RELAY_LOG];
	/* vbd_test_relay_on(), under lock: run by the relay's thread. */
	uint32_t hook_type;
	void (*hook)(void *ud);
	void *hook_ud;
	bool hook_ran;
	struct rconn conn[RELAY_CONNS];
};

/* One whole header of connection k, a request (up) or a reply. */
static void relay_count(vbd_test_relay *r, struct rconn *k, const struct xsd_sockmsg *h, bool up)
{
	void (*fn)(void *) = NULL;
	void *ud = NULL;

	pthread_mutex_lock(&r->lock);
	if (up && r->hook && h->type == r->hook_type) {
		fn = r->hook;
		ud = r->hook_ud;
		r->hook = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	/* Before the bytes that hold this request are passed on. */
	if (fn) {
		fn(ud);
		pthread_mutex_lock(&r->lock);
		r->hook_ran = true;
		pthread_mutex_unlock(&r->lock);
	}
	pthread_mutex_lock(&r->lock);
	if (up) {
		if (k->out++ == 0) {
			k->trip = r->trips++;
			if (k->trip < VBD_TEST_RELAY_LOG)
				r->log[k->trip] = (vbd_test_relay_trip){ k->id, h->type, 0, 0 };
		}
		if (k->trip < VBD_TEST_RELAY_LOG) {
			r->log[k->trip].last = h->type;
			r->log[k->trip].requests++;
		}
	} else if (h->type != XS_WATCH_EVENT && k->out) {
		k->out--;
	}
	pthread_mutex_unlock(&r->lock);
}

/* Follows n bytes of one direction of k. */
static void rside_feed(vbd_test_relay *r, struct rconn *k, bool up, const unsigned char *p,
                       size_t n)
{
	struct rside *d = up ? &k->up : &k->down;

	while (n) {
		size_t m;

		if (d->body_left) {
			m = n < d->body_left ? n : d->body_left;
			d->body_left -= m;
			p += m;
			n -= m;
			continue;
		}
		m = sizeof(d->hdr) - d->hlen < n ? sizeof(d->hdr) - d->hlen : n;
		memcpy(d->hdr + d->hlen, p, m);
		d->hlen += m;
		p += m;
		n -= m;
		if (d->hlen == sizeof(d->hdr)) {
			struct xsd_sockmsg h;

			memcpy(&h, d->hdr, sizeof(h));
			d->hlen = 0;
			d->body_left = h.len;
			relay_count(r, k, &h, up);
		}
	}
}

static bool write_full(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void rconn_close(struct rconn *k)
{
	if (k->c >= 0)
		close(k->c);
	if (k->s >= 0)
		close(k->s);
	memset(k, 0, sizeof(*k));
	k->c = k->s = -1;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return fd < 0 ? -1 : (close(fd), -1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void relay_accept(vbd_test_relay *r)
{
	int c = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
	unsigned i;

	if (c < 0)
		return;
	for (i = 0; i < RELAY_CONNS && r->conn[i].c >= 0; i++)
		;
	if (i == RELAY_CONNS) {
		close(c);
		return;
	}
	r->conn[i].c = c;
	r->conn[i].s = unix_connect(r->to);
	pthread_mutex_lock(&r->lock);
	r->conn[i].id = r->accepted++;
	pthread_mutex_unlock(&r->lock);
	if (r->conn[i].s < 0)
		rconn_close(&r->conn[i]);
}

static void *relay_main(void *arg)
{
	static unsigned char buf[1 << 17];
	vbd_test_relay *r = arg;

	for (;;) {
		struct pollfd p[2 + 2 * RELAY_CONNS];
		unsigned i, n = 2;

		p[0] = (struct pollfd){ .fd = r->stop[0], .events = POLLIN };
		p[1] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
		for (i = 0; i < RELAY_CONNS; i++) {
			p[n++] = (struct pollfd){ .fd = r->conn[i].c, .events = POLLIN };
			p[n++] = (struct pollfd){ .fd = r->conn[i].s, .events = POLLIN };
		}
		if (poll(p, n, -1) < 0)
			continue;
		if (p[0].revents)
			return NULL;
		if (p[1].revents & POLLIN)
			relay_accept(r);
		for (i = 0; i < RELAY_CONNS; i++) {
			struct rconn *k = &r->conn[i];
			int side;

			for (side = 0; side < 2 && k->c >= 0; side++) {
				short ev = p[2 + 2 * i + side].revents;
				int from = side ? k->s : k->c, to = side ? k->c : k->s;
				ssize_t got;

				if (!ev)
					continue;
				got = read(from, buf, sizeof(buf));
				if (got < 0 && errno == EINTR)
					continue;
				if (got <= 0) {
					rconn_close(k);
					break;
				}
				/* Counted before it is passed on (see above). */
				rside_feed(r, k, !side, buf, (size_t)got);
				if (!write_full(to, buf, (size_t)got))
					rconn_close(k);
			}
		}
	}
}

vbd_test_relay *vbd_test_relay_start(const char *dir, const char *to)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	vbd_test_relay *r = calloc(1, sizeof(*r));
	unsigned i;

	assert_non_null(r);
	for (i = 0; i < RELAY_CONNS; i++)
		rconn_close(&r->conn[i]);
	snprintf(r->path, sizeof(r->path), "%s/relay", dir);
	snprintf(r->to, sizeof(r->to), "%s", to);
	assert_true(strlen(r->path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, r->path, strlen(r->path) + 1);
	r->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(r->lfd >= 0);
	assert_int_equal(bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(r->lfd, 8), 0);
	assert_int_equal(pipe2(r->stop, O_CLOEXEC), 0);
	pthread_mutex_init(&r->lock, NULL);
	assert_int_equal(pthread_create(&r->thread, NULL, relay_main, r), 0);
	return r;
}

const char *vbd_test_relay_path(const vbd_test_relay *r)
{
	return r->path;
}

unsigned vbd_test_relay_trips(vbd_test_relay *r)
{
	unsigned n;

	pthread_mutex_lock(&r->lock);
	n = r->trips;
	pthread_mutex_unlock(&r->lock);
	return n;
}

unsigned vbd_test_relay_log(vbd_test_relay *r, unsigned from, vbd_test_relay_trip *ret,
                            unsigned max)
{
	unsigned n = 0;

	pthread_mutex_lock(&r->lock);
	for (; n < max && from + n < r->trips && from + n < VBD_TEST_RELAY_LOG; n++)
		ret[n] = r->log[from + n];
	pthread_mutex_unlock(&r->lock);
	return n;
}

void vbd_test_relay_on(vbd_test_relay *r, uint32_t type, void (*fn)(void *ud), void *ud)
{
	pthread_mutex_lock(&r->lock);
	r->hook_type = type;
	r->hook = fn;
	r->hook_ud = ud;
	r->hook_ran = false;
	pthread_mutex_unlock(&r->lock);
}

bool vbd_test_relay_hook_ran(vbd_test_relay *r)
{
	bool ran;

	pthread_mutex_lock(&r->lock);
	ran = r->hook_ran;
	pthread_mutex_unlock(&r->lock);
	return ran;
}

vbd_test_relay *vbd_test_relay_stop(vbd_test_relay *r)
{
	unsigned i;

	if (!r)
		return NULL;
	assert_int_equal(write(r->stop[1], "x", 1), 1);
	pthread_join(r->thread, NULL);
	for (i = 0; i < RELAY_CONNS; i++)
		rconn_close(&r->conn[i]);
	close(r->lfd);
	close(r->stop[0]);
	close(r->stop[1]);
	unlink(r->path);
	pthread_mutex_destroy(&r->lock);
	free(r);
	return NULL;
}
