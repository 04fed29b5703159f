/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The wire client's connection: the daemon's socket (or the xenbus
 * device) spoken to in xenstore's own messages (docs/protocol.md), for the
 * transactions xs_batch.c sends pipelined and for the bus's watches.
 *
 * Watches ride this connection, not a libxenstore handle of their own.
 * libxenstore reads a watched handle's every message in a thread of its
 * own, a read() for the header and one for the payload, and hands each
 * event over through a pipe: an attach's commit of twenty nodes under a
 * backend's watched dir is forty reads in that thread before the loop
 * sees the first.  Here the loop reads whatever has arrived in one read()
 * and runs each event from that buffer:
 *
 *     vbd__xbw_watch(w, "/local/domain/0/backend/vbd", "vbd-1")
 *         -> WATCH, its reply (events that come first are queued)
 *     ... the daemon sends twenty WATCH_EVENTs ...
 *     vbd__xbw_events(w, fired, ud)       one read(), fired() twenty times
 *
 * Events can arrive at any time, so a request's wait for its reply takes
 * any event it meets (in order, with the path and token checked) into a
 * queue, bounded in bytes; the queue is handed out first by the next
 * vbd__xbw_events().  The bus learns that something waits from
 * vbd__xbw_pending() and from the kick fd, written when a wait queues
 * the first event or leaves bytes read ahead (bus.c).  Anything that is
 * neither an event nor the awaited reply is -EPROTO: the connection is
 * closed (vbd__xb_wire_broken()), and the bus opens another and sets its
 * watches again there.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xenbus/xs_batch_internal.h"

/* Events queued while a request waits: past this many bytes the daemon is
 * sending more than any loop could run, and the connection is given up. */
#define EVQ_MAX (4u << 20)

struct vbd__xbw_event {
	struct vbd__xbw_event *next;
	uint64_t seq;                /* replies taken before it came */
	uint32_t len;                /* payload: path\0token\0 */
	char payload[];
};

int vbd__xb_connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* As libxenstore's get_handle(): a socket is connected to, anything else
 * (the xenbus device) opened read-write. */
static int open_path(const char *path, bool *sock)
{
	struct stat st;
	int fd;

	if (stat(path, &st) < 0)
		return -errno;
	*sock = S_ISSOCK(st.st_mode);
	if (*sock)
		return vbd__xb_connect_unix(path);
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int vbd__xb_wire_adopt(int fd, bool sock, vbd__xb_wire **ret)
{
	vbd__xb_wire *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->sock = sock;
	w->next_req = 1;
	w->kick_fd = -1;
	w->evq_tail = &w->evq;
	*ret = w;
	return 0;
}

int vbd__xb_wire_open(const char *path, vbd__xb_wire **ret)
{
	/* libxenstore's order without XENSTORED_PATH: xenstored's socket in
	 * its run dir, then the xenbus device (the older name last). */
	static const char *const dev[] = { "/dev/xen/xenbus", "/proc/xen/xenbus" };
	const char *rundir = getenv("XENSTORED_RUNDIR");
	char sock_path[256];
	bool sock = false;
	int fd, r;
	unsigned i;

	if (!path) {
		snprintf(sock_path, sizeof(sock_path), "%s/socket",
		         rundir ? rundir : "/var/run/xenstored");
		path = sock_path;
		for (i = 0, fd = open_path(path, &sock); fd < 0 && i < 2; i++)
			fd = open_path(dev[i], &sock);
	} else {
		fd = open_path(path, &sock);
	}
	if (fd < 0)
		return fd;
	if ((r = vbd__xb_wire_adopt(fd, sock, ret)) < 0)
		close(fd);
	return r;
}

static void evq_clear(vbd__xb_wire *w)
{
	struct vbd__xbw_event *e;

	while ((e = w->evq)) {
		w->evq = e->next;
		free(e);
	}
	w->evq_tail = &w->evq;
	w->evq_bytes = 0;
}

vbd__xb_wire *vbd__xb_wire_free(vbd__xb_wire *w)
{
	if (!w)
		return NULL;
	if (w->fd >= 0)
		close(w->fd);
	evq_clear(w);
	free(w);
	return NULL;
}

bool vbd__xb_wire_broken(const vbd__xb_wire *w)
{
	return !w || w->fd < 0;
}

void vbd__xb_wire_counts(const vbd__xb_wire *w, unsigned long long *requests,
                         unsigned long long *round_trips)
{
	*requests = w ? w->nreq : 0;
	*round_trips = w ? w->nsend : 0;
}

int vbd__xbw_fail(vbd__xb_wire *w, int err)
{
	uint64_t one = 1;

	if (w->fd >= 0) {
		close(w->fd);
		/* The loop opens another, its watches set there (bus.c). */
		if (w->kick_fd >= 0)
			(void)!write(w->kick_fd, &one, sizeof(one));
	}
	w->fd = -1;
	w->rlen = 0;
	return err;
}

int vbd__xbw_send(vbd__xb_wire *w, const char *p, size_t len)
{
	w->nsend++;
	while (len) {
		ssize_t n;

		if (w->sock) {
			struct iovec iov = { (void *)p, len };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

			n = sendmsg(w->fd, &mh, MSG_NOSIGNAL);
		} else {
			/* Linux's xenbus device takes one message per write():
			 * bytes past the first message of a write are lost
			 * (and a window there is that one message). */
			struct xsd_sockmsg h;

			memcpy(&h, p, HDR);
			n = write(w->fd, p, HDR + h.len);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vbd__xb_msg_whole(const char *buf, size_t len, uint32_t max, struct xsd_sockmsg *h)
{
	if (len < HDR)
		return -EAGAIN;
	memcpy(h, buf, HDR);
	if (h->len > max)
		return -EPROTO;
	return len >= HDR + h->len ? 0 : -EAGAIN;
}

/* The next message, whole, at w->rbuf: its header in *h.  block: wait for
 * it; else -EAGAIN when none is whole yet.  0, -EPROTO for a length past
 * the payload limit, -EPIPE when the daemon closed the connection, -errno. */
static int next_msg(vbd__xb_wire *w, struct xsd_sockmsg *h, bool block)
{
	for (;;) {
		int r = vbd__xb_msg_whole(w->rbuf, w->rlen, XENSTORE_PAYLOAD_MAX, h);
		ssize_t n;

		if (r != -EAGAIN)
			return r;
		if (!block && w->sock) {
			n = recv(w->fd, w->rbuf + w->rlen, sizeof(w->rbuf) - w->rlen, MSG_DONTWAIT);
		} else {
			if (!block) {
				/* The device has no MSG_DONTWAIT: ask first. */
				struct pollfd p = { w->fd, POLLIN, 0 };

				if (poll(&p, 1, 0) <= 0)
					return -EAGAIN;
			}
			n = read(w->fd, w->rbuf + w->rlen, sizeof(w->rbuf) - w->rlen);
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !block)
			return -EAGAIN;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0)
			return -EPIPE;
		if (n > 0)
			w->rlen += (size_t)n;
	}
}

static void take(vbd__xb_wire *w, const struct xsd_sockmsg *h)
{
	size_t n = HDR + h->len;

	memmove(w->rbuf, w->rbuf + n, w->rlen - n);
	w->rlen -= n;
}

/* A WATCH_EVENT's payload, path\0token\0: both there and not empty,
 * nothing after. */
static bool event_ok(const char *p, uint32_t len)
{
	const char *nul = len ? memchr(p, 0, len) : NULL;

	if (!nul || nul == p)
		return false;
	len -= (uint32_t)(nul + 1 - p);
	p = nul + 1;
	return len > 1 && memchr(p, 0, len) == p + len - 1;
}

/* The event at w->rbuf into the queue. */
static int queue_event(vbd__xb_wire *w, const struct xsd_sockmsg *h)
{
	struct vbd__xbw_event *e;

	if (!event_ok(w->rbuf + HDR, h->len))
		return -EPROTO;
	if (w->evq_bytes + h->len > EVQ_MAX)
		return -ENOBUFS;
	if (!(e = malloc(sizeof(*e) + h->len)))
		return -ENOMEM;
	e->next = NULL;
	e->seq = w->nreplies;
	e->len = h->len;
	memcpy(e->payload, w->rbuf + HDR, h->len);
	*w->evq_tail = e;
	w->evq_tail = &e->next;
	w->evq_bytes += h->len;
	return 0;
}

/* The loop is told (the bus's kick fd) that an event waits where its
 * poll cannot see it: queued by a wait, or read ahead whole after a
 * reply.  Once, until vbd__xbw_events() has taken them all; a message
 * read ahead in part needs nothing, its rest makes the fd readable. */
static void kick(vbd__xb_wire *w)
{
	uint64_t one = 1;
	struct xsd_sockmsg h;

	if (w->kicked || w->kick_fd < 0)
		return;
	if (!w->evq && (vbd__xb_msg_whole(w->rbuf, w->rlen, XENSTORE_PAYLOAD_MAX, &h) < 0 ||
	                h.type != XS_WATCH_EVENT))
		return;
	if (write(w->kick_fd, &one, sizeof(one)) == sizeof(one))
		w->kicked = true;
}

/* The next message that is not an event, whole, at w->rbuf (events before
 * it queued). */
static int recv_reply(vbd__xb_wire *w, struct xsd_sockmsg *h)
{
	for (;;) {
		int r = next_msg(w, h, true);

		if (r < 0 || h->type != XS_WATCH_EVENT)
			return r;
		if ((r = queue_event(w, h)) < 0)
			return r;
		take(w, h);
	}
}

/* An XS_ERROR's payload, "ENOENT\0", as -errno: Xen's own table of names.
 * A name not in it is EINVAL's place in that table: -EINVAL. */
static int error_of(const char *p, uint32_t len)
{
	unsigned i;

	for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++) {
		size_t k = strlen(xsd_errors[i].errstring);

		if (len >= k && !memcmp(p, xsd_errors[i].errstring, k) &&
		    (len == k || (len == k + 1 && !p[k])))
			return -xsd_errors[i].errnum;
	}
	return -EINVAL;
}

int vbd__xbw_reply(vbd__xb_wire *w, uint32_t type, uint32_t req, uint32_t tx, char *out,
                   size_t size, size_t *got)
{
	struct xsd_sockmsg h;
	int r = recv_reply(w, &h);

	if (r < 0)
		return vbd__xbw_fail(w, r);
	if (h.req_id != req || h.tx_id != tx || (h.type != type && h.type != XS_ERROR))
		return vbd__xbw_fail(w, -EPROTO);
	w->nreplies++;
	if (h.type == XS_ERROR)
		r = error_of(w->rbuf + HDR, h.len);
	else if (out) {
		size_t n = h.len < size ? h.len : size - 1;

		memcpy(out, w->rbuf + HDR, n);
		out[n] = 0;
		if (got)
			*got = n;
	}
	take(w, &h);
	kick(w);
	return r;
}

int vbd__xbw_request_send(vbd__xb_wire *w, uint32_t type, uint32_t tx, const char *payload,
                          size_t len, uint32_t *ret_req)
{
	char msg[HDR + XENSTORE_PAYLOAD_MAX];
	struct xsd_sockmsg h = { type, w->next_req, tx, (uint32_t)len };
	int r;

	if (w->fd < 0)
		return -ENOTCONN;
	if (len > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	w->next_req++;
	w->nreq++;
	memcpy(msg, &h, HDR);
	memcpy(msg + HDR, payload, len);
	if ((r = vbd__xbw_send(w, msg, HDR + len)) < 0)
		return vbd__xbw_fail(w, r);
	*ret_req = h.req_id;
	return 0;
}

int vbd__xbw_request(vbd__xb_wire *w, uint32_t type, uint32_t tx, const char *payload,
                     size_t len, char *out, size_t size)
{
	uint32_t req;
	int r = vbd__xbw_request_send(w, type, tx, payload, len, &req);

	return r < 0 ? r : vbd__xbw_reply(w, type, req, tx, out, size, NULL);
}

/* WATCH or UNWATCH of path with token. */
static int watch_op(vbd__xb_wire *w, uint32_t type, const char *path, const char *token)
{
	char p[XENSTORE_PAYLOAD_MAX];
	size_t a = strlen(path) + 1, b = strlen(token) + 1;

	if (a + b > sizeof(p))
		return -E2BIG;
	memcpy(p, path, a);
	memcpy(p + a, token, b);
	return vbd__xbw_request(w, type, 0, p, a + b, NULL, 0);
}

int vbd__xbw_watch(vbd__xb_wire *w, const char *path, const char *token)
{
	return watch_op(w, XS_WATCH, path, token);
}

int vbd__xbw_unwatch(vbd__xb_wire *w, const char *path, const char *token)
{
	return watch_op(w, XS_UNWATCH, path, token);
}

uint64_t vbd__xbw_replies(const vbd__xb_wire *w)
{
	return w ? w->nreplies : 0;
}

void vbd__xbw_replies_from(vbd__xb_wire *w, const vbd__xb_wire *old)
{
	if (old && old->nreplies > w->nreplies)
		w->nreplies = old->nreplies;
}

int vbd__xbw_fd(const vbd__xb_wire *w)
{
	return w->fd;
}

void vbd__xbw_kick_to(vbd__xb_wire *w, int fd)
{
	w->kick_fd = fd;
}

bool vbd__xbw_pending(const vbd__xb_wire *w)
{
	struct xsd_sockmsg h;

	if (!w || w->evq)
		return w != NULL;
	return vbd__xb_msg_whole(w->rbuf, w->rlen, XENSTORE_PAYLOAD_MAX, &h) == 0;
}

int vbd__xbw_events(vbd__xb_wire *w, vbd__xbw_event_fn fn, void *ud)
{
	char p[XENSTORE_PAYLOAD_MAX + 1];
	struct xsd_sockmsg h;
	int n = 0, r;

	for (;;) {
		struct vbd__xbw_event *e = w->evq;
		const char *tok;
		uint64_t seq = w->nreplies;

		if (e) {
			seq = e->seq;
			/* Out of the queue before its call, which may queue
			 * more (a request it sends waits). */
			w->evq = e->next;
			if (!w->evq)
				w->evq_tail = &w->evq;
			w->evq_bytes -= e->len;
			memcpy(p, e->payload, e->len);
			free(e);
		} else {
			if (w->fd < 0) {
				w->kicked = false;
				return n;
			}
			r = next_msg(w, &h, false);
			if (r == -EAGAIN) {
				w->kicked = false;
				return n;
			}
			if (r < 0)
				return vbd__xbw_fail(w, r);
			/* No request waits here: only events may come. */
			if (h.type != XS_WATCH_EVENT || !event_ok(w->rbuf + HDR, h.len))
				return vbd__xbw_fail(w, -EPROTO);
					/* Copied out: a request fn sends reads into rbuf. */
			memcpy(p, w->rbuf + HDR, h.len);
			take(w, &h);
		}
		tok = p + strlen(p) + 1;
		fn(p, tok, seq, ud);
		n++;
	}
}
