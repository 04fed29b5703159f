/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The trace reader.  Example: after a subcommand nobody has (the daemon
 * must refuse it) and "trace\0", the store answers "OK", then
 * sends one message per change, type XS_CONTROL, ids 0, payload
 *     write\0 41\0 1796551944123456789\0 5\0 /local/domain/5/x\0 4
 * (without the spaces), which becomes { VBD_CHANGE_WRITE, "/local/domain/5/x",
 * "4", 1, writer 5, seq 41, time }.  Everything in a record is checked: the
 * store is trusted, but a socket named by the caller may be anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <xen/xen.h>
#include <xen/io/xs_wire.h>

#include "xenbus/trace.h"
#include "xenbus/xenbus.h"

#define HDR ((size_t)sizeof(struct xsd_sockmsg))
#define BUF_SIZE (2 * (HDR + VBD__TRACE_PAYLOAD_MAX))
/* How long the subscription's reply may take: the store answers at once;
 * this only keeps a wedged daemon from hanging the caller. */
#define REPLY_TIMEOUT_MS 10000

struct vbd__trace {
	int fd;
	size_t len;               /* bytes in buf */
	char buf[BUF_SIZE + 1];
};

int vbd__trace_fd(const vbd__trace *t)
{
	return t->fd;
}

vbd__trace *vbd__trace_free(vbd__trace *t)
{
	if (t) {
		if (t->fd >= 0)
			close(t->fd);
		free(t);
	}
	return NULL;
}

static int field(char **p, char *end, char **ret)
{
	char *z = memchr(*p, 0, (size_t)(end - *p));

	if (!z)
		return -EPROTO;
	*ret = *p;
	*p = z + 1;
	return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EPROTO;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -EPROTO;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

int vbd__trace_parse(char *p, size_t len, vbd_change *ret)
{
	static const char *const ops[] = {
		[VBD_CHANGE_WRITE] = "write", [VBD_CHANGE_MKDIR] = "mkdir",
		[VBD_CHANGE_RM] = "rm", [VBD_CHANGE_LOST] = "lost",
	};
	char *end = p + len, *op, *seq, *when, *writer, *path;
	vbd_change ch = { 0 };
	uint64_t v;
	unsigned i;

	if (field(&p, end, &op) < 0 || field(&p, end, &seq) < 0 || field(&p, end, &when) < 0 ||
	    field(&p, end, &writer) < 0 || field(&p, end, &path) < 0)
		return -EPROTO;
	for (i = VBD_CHANGE_WRITE; i <= VBD_CHANGE_LOST; i++)
		if (strcmp(op, ops[i]) == 0)
			ch.op = (vbd_change_op)i;
	if (!ch.op || parse_u64(seq, &ch.seq) < 0 || parse_u64(when, &v) < 0 || v > INT64_MAX)
		return -EPROTO;
	ch.time_ns = (int64_t)v;
	if (strcmp(writer, "-1") == 0)
		ch.writer = -1;
	else if (parse_u64(writer, &v) < 0 || v > 0xFFFF)
		return -EPROTO;
	else
		ch.writer = (int)v;
	ch.value = p;
	ch.value_len = (size_t)(end - p);
	if (ch.op == VBD_CHANGE_LOST) {
		char num[24];

		/* The count is the value; there is no path. */
		if (*path || !ch.value_len || ch.value_len >= sizeof(num))
			return -EPROTO;
		memcpy(num, ch.value, ch.value_len);
		num[ch.value_len] = 0;
		if (parse_u64(num, &ch.lost) < 0)
			return -EPROTO;
		ch.path = "";
		ch.value = NULL;
		ch.value_len = 0;
	} else {
		if (path[0] != '/' || (ch.op != VBD_CHANGE_WRITE && ch.value_len))
			return -EPROTO;
		ch.path = path;
	}
	*ret = ch;
	return 0;
}

static int send_all(int fd, const void *p, size_t len)
{
	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p = (const char *)p + w;
		len -= (size_t)w;
	}
	return 0;
}

/* Reads into t->buf until it holds one whole message (blocking, bounded). */
static int recv_msg(vbd__trace *t, struct xsd_sockmsg *h)
{
	for (;;) {
		struct pollfd pfd = { t->fd, POLLIN, 0 };
		int r = vbd__xb_msg_whole(t->buf, t->len, VBD__TRACE_PAYLOAD_MAX, h);
		ssize_t n;

		if (r != -EAGAIN)
			return r;
		if (poll(&pfd, 1, REPLY_TIMEOUT_MS) == 0)
			return -ETIMEDOUT;
		n = read(t->fd, t->buf + t->len, BUF_SIZE - t->len);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0)
			return -EPIPE;
		if (n > 0)
			t->len += (size_t)n;
	}
}

static void consume(vbd__trace *t, size_t n)
{
	memmove(t->buf, t->buf + n, t->len - n);
	t->len -= n;
}

/* The error of a refused CONTROL: EACCES for a guest, else "not offered"
 * (a daemon without the subcommand says EINVAL, or, older, ENOSYS). */
static int refused(const vbd__trace *t, const struct xsd_sockmsg *h)
{
	return h->len == 7 && memcmp(t->buf + HDR, "EACCES", 7) == 0 ? -EACCES : -EOPNOTSUPP;
}

/* Whether the daemon refuses a CONTROL subcommand that none has: 0 if it
 * does (EINVAL, as xenstored and ours do), -EOPNOTSUPP if it acks it,
 * -EACCES, or the exchange's failure.  Asked first because a daemon that
 * answers any CONTROL it does not know with OK (oxenstored acks an
 * unknown debug command) would take the subscription for one too: its
 * client would wait for records that never come.  The probe's answer is
 * one line in a daemon's own log (a help text, many lines, would be read
 * back from a C xenstored trace as a record it could not tell). */
static int refuses_unknown(vbd__trace *t)
{
	static const char probe[] = "libvbd-no-such-subcommand";
	struct xsd_sockmsg h = { XS_CONTROL, 2, 0, sizeof(probe) };
	int r;

	if ((r = send_all(t->fd, &h, HDR)) < 0 || (r = send_all(t->fd, probe, sizeof(probe))) < 0 ||
	    (r = recv_msg(t, &h)) < 0)
		return r;
	if (h.type == XS_ERROR)
		r = refused(t, &h) == -EACCES ? -EACCES : 0;
	else
		r = h.type == XS_CONTROL && h.req_id == 2 ? -EOPNOTSUPP : -EPROTO;
	consume(t, HDR + h.len);
	return r;
}

int vbd__trace_open(const char *socket_path, size_t max, vbd__trace **ret)
{
	struct xsd_sockmsg h = { XS_CONTROL, 1, 0, 0 };
	char req[32];
	vbd__trace *t;
	int r, n;

	if (!socket_path)
		socket_path = getenv("XENSTORED_PATH");
	if (!socket_path)
		socket_path = "/run/xenstored/socket";
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = vbd__xb_connect_unix(socket_path);
	if (t->fd < 0) {
		r = t->fd;
		goto fail;
	}
	if ((r = refuses_unknown(t)) < 0)
		goto fail;
	n = max ? snprintf(req, sizeof(req), "trace%c%zu", 0, max) : snprintf(req, sizeof(req), "trace");
	h.len = (uint32_t)n + 1;
	if ((r = send_all(t->fd, &h, HDR)) < 0 || (r = send_all(t->fd, req, (size_t)n + 1)) < 0 ||
	    (r = recv_msg(t, &h)) < 0)
		goto fail;
	if (h.type == XS_ERROR) {
		r = refused(t, &h);
		goto fail;
	}
	if (h.type != XS_CONTROL || h.req_id != 1 || h.len != 3 || memcmp(t->buf + HDR, "OK", 3) != 0) {
		r = -EPROTO;
		goto fail;
	}
	consume(t, HDR + h.len);
	if (fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) | O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	*ret = t;
	return 0;
fail:
	vbd__trace_free(t);
	return r;
}

int vbd__trace_read(vbd__trace *t, vbd__trace_fn fn, void *ud)
{
	for (;;) {
		size_t off = 0;
		ssize_t n = read(t->fd, t->buf + t->len, BUF_SIZE - t->len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		t->len += (size_t)n;
		while (t->len - off >= HDR) {
			struct xsd_sockmsg h;
			vbd_change ch;

			memcpy(&h, t->buf + off, HDR);
			if (h.type != XS_CONTROL || h.req_id || h.tx_id || h.len > VBD__TRACE_PAYLOAD_MAX)
				return -EPROTO;
			if (t->len - off < HDR + h.len)
				break;
			if (vbd__trace_parse(t->buf + off + HDR, h.len, &ch) < 0)
				return -EPROTO;
			fn(&ch, ud);
			off += HDR + h.len;
		}
		consume(t, off);
	}
}
