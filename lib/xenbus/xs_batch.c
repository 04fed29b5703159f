/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A transaction's requests sent together: the wire allows several
 * outstanding requests on one connection, answered in order and matched
 * by req_id (docs/protocol.md), and libxenstore sends one and waits for
 * its reply before the next.  An attach's nodes transaction is about fifty
 * requests, so it pays fifty round trips there, and a handful here:
 *
 *     b: ABSENT /libxl/1/device/vbd/51728, ..., RM .../error,
 *        MKDIR be, SET_PERMS be n0 r1, WRITE be/frontend, ... (51 requests)
 *     vbd__xb_batch_run(w, b, &failed)
 *       -> TRANSACTION_START              one round trip, the id: 7
 *       -> 51 requests with tx_id 7       one send, then their 51 replies
 *                                         (on the xenbus device: one at
 *                                         a time, see below)
 *       -> TRANSACTION_END "T"            one round trip; EAGAIN: again
 *
 * Every reply is checked: its req_id and tx_id are the request's, its type
 * the request's or XS_ERROR, its length within the payload limit; anything
 * else is -EPROTO and the connection is closed (the stream can no longer be
 * trusted to line up).  The first XS_ERROR (named as in Xen's xsd_errors
 * table) fails the batch and the transaction ends with abort, so nothing
 * of it is left.  A window is at most 64 requests and 32 KiB on a socket
 * (WINDOW_SOCK below), one request on the xenbus device.
 *
 * A check whose no makes the rest pointless is followed by a wait
 * (vbd__xb_batch_wait): the window ends there, and what comes after is
 * sent only once its reply says go on.  A wire client counts its requests
 * and its sends, each a round trip (vbd__xb_wire_counts).
 *
 * A transaction belongs to the connection that started it, so the whole
 * of it (start, requests, end) goes over the wire client's own connection,
 * opened as libxenstore opens its own: the daemon's socket, else the
 * xenbus device (a device is written one message per write(), which is
 * how Linux's xenbus device reads its requests).
 *
 * On the xenbus device a window is one request: its reply is read before
 * the next is written.  Linux's device (xenbus_dev_frontend.c) keeps one
 * message buffer per open file, and the request it queues for the
 * kernel's xenbus thread points into that buffer for its payload instead
 * of holding a copy; the thread puts it on the ring later, so a second
 * message written before then overwrites the first one's path and value
 * (and a short message leaves stale bytes after its own).  The store then
 * runs requests nobody sent: reads of the wrong key, writes of one key's
 * value under another's name.  Only a reply proves the thread is done
 * with the buffer.  So on a device a batch costs a round trip per request,
 * as libxenstore does, but still a single transaction of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xenbus/xenbus.h"

#define HDR sizeof(struct xsd_sockmsg)
/* Requests in flight at once on a socket: past the daemon's quota of
 * outstanding requests (20 in xenstored and in the embedded store) a
 * daemon only stops reading the connection until its replies are read,
 * and they are read as soon as the window is sent.  The window is also at
 * most SEND_MAX bytes, so that its send never waits on the daemon reading
 * (a unix socket buffers about 200 KiB): a daemon that waits on this
 * client reading its replies cannot then wait on a client that waits on
 * it.  On the xenbus device, one (see above). */
#define WINDOW_SOCK 64u
#define SEND_MAX (32u * 1024)
/* Replies read ahead: at least one whole message. */
#define RBUF (16u * (HDR + XENSTORE_PAYLOAD_MAX))

struct vbd__xb_wire {
	int fd;
	bool sock;          /* a socket: one sendmsg per window; else a device,
	                     * one request at a time */
	uint32_t next_req;
	/* Requests sent, and sends each waited on: round trips. */
	unsigned long long nreq, nsend;
	size_t rlen;        /* bytes of replies read but not yet taken */
	char rbuf[RBUF];
};

typedef struct batch_op {
	size_t off;         /* of its message (header, payload) in msgs */
	size_t path_off;    /* of its path, in msgs too */
	unsigned flags;
	vbd__xb_check_fn check;   /* a READ whose value decides: or NULL */
	void *check_ud;
	size_t exp_off;     /* VBD__XB_OP_SAME: the answer expected, in exp */
	uint32_t exp_len;   /* NO_NODE: ENOENT expected */
} batch_op;

#define NO_NODE UINT32_MAX
/* The window ends after this request (vbd__xb_batch_wait()). */
#define OP_WAIT 0x100u

struct vbd__xb_batch {
	batch_op ops[VBD__XB_BATCH_MAX];
	unsigned n;
	char *msgs;         /* the messages, back to back, as they are sent */
	size_t len, cap;
	char *exp;          /* the answers VBD__XB_OP_SAME requests expect */
	size_t elen, ecap;
};

/* ------------------------------------------------------------ recording */

int vbd__xb_batch_new(vbd__xb_batch **ret)
{
	vbd__xb_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	*ret = b;
	return 0;
}

vbd__xb_batch *vbd__xb_batch_free(vbd__xb_batch *b)
{
	if (b) {
		free(b->msgs);
		free(b->exp);
	}
	free(b);
	return NULL;
}

/* Grows *buf (of *cap) to hold need bytes: 0 or -ENOMEM. */
static int reserve(char **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 8192;
	char *m;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if (!(m = realloc(*buf, c)))
		return -ENOMEM;
	*buf = m;
	*cap = c;
	return 0;
}

/* Appends one message: path NUL, then val (len bytes: a WRITE's value is
 * not NUL-terminated; SET_PERMS's list is, entry by entry). */
static int add(vbd__xb_batch *b, uint32_t type, unsigned flags, const char *path,
               const char *val, size_t len)
{
	size_t plen = strlen(path) + 1, need = HDR + plen + len;
	struct xsd_sockmsg h = { type, 0, 0, (uint32_t)(plen + len) };
	batch_op *op;

	if (plen > XENSTORE_ABS_PATH_MAX + 1)
		return -ENAMETOOLONG;
	if (plen + len > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	if (b->n == VBD__XB_BATCH_MAX)
		return -ENOSPC;
	if (reserve(&b->msgs, &b->cap, b->len + need) < 0)
		return -ENOMEM;
	op = &b->ops[b->n++];
	memset(op, 0, sizeof(*op));
	op->off = b->len;
	op->path_off = b->len + HDR;
	op->flags = flags;
	memcpy(b->msgs + b->len, &h, HDR);
	memcpy(b->msgs + b->len + HDR, path, plen);
	if (len)
		memcpy(b->msgs + b->len + HDR + plen, val, len);
	b->len += need;
	return 0;
}

int vbd__xb_batch_absent(vbd__xb_batch *b, const char *path)
{
	return add(b, XS_READ, VBD__XB_OP_ABSENT, path, NULL, 0);
}

int vbd__xb_batch_check(vbd__xb_batch *b, const char *path, vbd__xb_check_fn fn, void *ud)
{
	int r = add(b, XS_READ, 0, path, NULL, 0);

	if (r == 0) {
		b->ops[b->n - 1].check = fn;
		b->ops[b->n - 1].check_ud = ud;
	}
	return r;
}

/* Records a request whose answer must be exp (len bytes; NULL: ENOENT). */
static int add_same(vbd__xb_batch *b, uint32_t type, unsigned flags, const char *path,
                    const char *exp, size_t len)
{
	batch_op *op;
	int r;

	if (exp && len > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	if (reserve(&b->exp, &b->ecap, b->elen + len) < 0)
		return -ENOMEM;
	if ((r = add(b, type, VBD__XB_OP_SAME | flags, path, NULL, 0)) < 0)
		return r;
	op = &b->ops[b->n - 1];
	op->exp_off = b->elen;
	op->exp_len = exp ? (uint32_t)len : NO_NODE;
	if (exp && len)
		memcpy(b->exp + b->elen, exp, len);
	b->elen += exp ? len : 0;
	return 0;
}

int vbd__xb_batch_same(vbd__xb_batch *b, const char *path, const char *val, size_t len)
{
	return add_same(b, XS_READ, 0, path, val, val ? len : 0);
}

int vbd__xb_batch_same_exists(vbd__xb_batch *b, const char *path, bool exists)
{
	return add_same(b, XS_READ, VBD__XB_OP_ANY_VALUE, path, exists ? "" : NULL, 0);
}

int vbd__xb_batch_same_dir(vbd__xb_batch *b, const char *path, char *const *names, unsigned n)
{
	char list[XENSTORE_PAYLOAD_MAX];
	size_t len = 0;
	unsigned i;

	for (i = 0; names && i < n; i++) {
		size_t k = strlen(names[i]) + 1;

		if (len + k > sizeof(list))
			return -E2BIG;
		memcpy(list + len, names[i], k);
		len += k;
	}
	return add_same(b, XS_DIRECTORY, 0, path, names ? list : NULL, len);
}

int vbd__xb_batch_append(vbd__xb_batch *dst, const vbd__xb_batch *src)
{
	unsigned i;

	if (dst->n + src->n > VBD__XB_BATCH_MAX)
		return -ENOSPC;
	if (reserve(&dst->msgs, &dst->cap, dst->len + src->len) < 0 ||
	    reserve(&dst->exp, &dst->ecap, dst->elen + src->elen) < 0)
		return -ENOMEM;
	for (i = 0; i < src->n; i++) {
		batch_op *op = &dst->ops[dst->n++];

		*op = src->ops[i];
		op->off += dst->len;
		op->path_off += dst->len;
		op->exp_off += dst->elen;
	}
	if (src->len)
		memcpy(dst->msgs + dst->len, src->msgs, src->len);
	if (src->elen)
		memcpy(dst->exp + dst->elen, src->exp, src->elen);
	dst->len += src->len;
	dst->elen += src->elen;
	return 0;
}

int vbd__xb_batch_rm(vbd__xb_batch *b, const char *path)
{
	return add(b, XS_RM, VBD__XB_OP_ENOENT_OK, path, NULL, 0);
}

int vbd__xb_batch_mkdir(vbd__xb_batch *b, const char *path)
{
	return add(b, XS_MKDIR, 0, path, NULL, 0);
}

int vbd__xb_batch_set_perms(vbd__xb_batch *b, const char *path,
                            const struct xs_permissions *perms, unsigned n)
{
	/* "n0\0r1\0": as libxenstore's xs_perm_to_string spells each entry. */
	static const char letter[4] = { 'n', 'r', 'w', 'b' };
	char list[XENSTORE_PAYLOAD_MAX];
	size_t len = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		int k = snprintf(list + len, sizeof(list) - len, "%c%u",
		                 letter[perms[i].perms & (XS_PERM_READ | XS_PERM_WRITE)], perms[i].id);

		if (k < 0 || (size_t)k + 1 >= sizeof(list) - len)
			return -E2BIG;
		len += (size_t)k + 1;   /* and its NUL */
	}
	return add(b, XS_SET_PERMS, 0, path, list, len);
}

int vbd__xb_batch_printf(vbd__xb_batch *b, const char *dir, const char *key, const char *fmt, ...)
{
	char path[XENSTORE_ABS_PATH_MAX + 1], val[XENSTORE_PAYLOAD_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vbd__xb_format(path, val, dir, key, fmt, ap);
	va_end(ap);
	return n < 0 ? n : add(b, XS_WRITE, 0, path, val, (size_t)n);
}

int vbd__xb_batch_wait(vbd__xb_batch *b)
{
	if (!b->n)
		return -EINVAL;
	b->ops[b->n - 1].flags |= OP_WAIT;
	return 0;
}

unsigned vbd__xb_batch_count(const vbd__xb_batch *b)
{
	return b->n;
}

/* -------------------------------------------------------------- the wire */

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
	vbd__xb_wire *w = malloc(sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->sock = sock;
	w->next_req = 1;
	w->nreq = w->nsend = 0;
	w->rlen = 0;
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

vbd__xb_wire *vbd__xb_wire_free(vbd__xb_wire *w)
{
	if (w && w->fd >= 0)
		close(w->fd);
	free(w);
	return NULL;
}

bool vbd__xb_wire_broken(const vbd__xb_wire *w)
{
	return w->fd < 0;
}

void vbd__xb_wire_counts(const vbd__xb_wire *w, unsigned long long *requests,
                         unsigned long long *round_trips)
{
	*requests = w ? w->nreq : 0;
	*round_trips = w ? w->nsend : 0;
}

/* A connection out of step with its replies is of no further use. */
static int broken(vbd__xb_wire *w, int err)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	return err;
}

static int send_all(vbd__xb_wire *w, const char *p, size_t len)
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

/* The next reply, whole, at w->rbuf: its header in *h.  The caller takes
 * it with take().  0, -EPROTO for a length past the payload limit, -EPIPE
 * when the daemon closed the connection, -errno. */
static int recv_reply(vbd__xb_wire *w, struct xsd_sockmsg *h)
{
	for (;;) {
		ssize_t n;

		if (w->rlen >= HDR) {
			memcpy(h, w->rbuf, HDR);
			if (h->len > XENSTORE_PAYLOAD_MAX)
				return -EPROTO;
			if (w->rlen >= HDR + h->len)
				return 0;
		}
		n = read(w->fd, w->rbuf + w->rlen, sizeof(w->rbuf) - w->rlen);
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

/* Receives the reply to a request {type, req, tx}: 0 for success (its
 * payload NUL-terminated in out, when given), the XS_ERROR's -errno; or,
 * the connection closed (vbd__xb_wire_broken()), -EPROTO for a reply that
 * is not this request's and -errno when none could be read. */
static int reply_to(vbd__xb_wire *w, uint32_t type, uint32_t req, uint32_t tx, char *out,
                    size_t size, size_t *got)
{
	struct xsd_sockmsg h;
	int r = recv_reply(w, &h);

	if (r < 0)
		return broken(w, r);
	if (h.req_id != req || h.tx_id != tx || (h.type != type && h.type != XS_ERROR))
		return broken(w, -EPROTO);
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
	return r;
}

/* One request outside the batch (start, end): sent and answered. */
static int request(vbd__xb_wire *w, uint32_t type, uint32_t tx, const char *payload,
                   char *out, size_t size)
{
	char msg[HDR + 8];
	uint32_t len = (uint32_t)strlen(payload) + 1;
	struct xsd_sockmsg h = { type, w->next_req++, tx, len };
	int r;

	w->nreq++;
	memcpy(msg, &h, HDR);
	memcpy(msg + HDR, payload, len);
	if ((r = send_all(w, msg, HDR + len)) < 0)
		return broken(w, r);
	return reply_to(w, type, h.req_id, tx, out, size, NULL);
}

static int end(vbd__xb_wire *w, uint32_t tx, bool abort)
{
	return request(w, XS_TRANSACTION_END, tx, abort ? "F" : "T", NULL, 0);
}

/* A VBD__XB_OP_SAME request's answer (err, or got bytes of val) against
 * what it expects: 0 the same, -EAGAIN another (what was read before the
 * transaction has changed since), or the failure that is neither. */
static int same_answer(const vbd__xb_batch *b, const batch_op *op, int err, const char *val,
                       size_t got)
{
	if (err == -ENOENT)
		return op->exp_len == NO_NODE ? 0 : -EAGAIN;
	if (err < 0)
		return err;
	if (op->exp_len == NO_NODE)
		return -EAGAIN;
	if (op->flags & VBD__XB_OP_ANY_VALUE)
		return 0;
	return got == op->exp_len && !memcmp(val, b->exp + op->exp_off, got) ? 0 : -EAGAIN;
}

/* The batch's requests in transaction tx: 0, or the first failure with
 * its op in *ret_op (a check's positive result too: it stops the batch);
 * requests already sent are answered before returning, so that the stream
 * stays in step. */
static int send_batch(vbd__xb_wire *w, vbd__xb_batch *b, uint32_t tx, unsigned *ret_op)
{
	char val[XENSTORE_PAYLOAD_MAX + 1];   /* a checked READ's value */
	unsigned window = w->sock ? WINDOW_SOCK : 1, i, j, k;
	int first = 0;

	for (i = 0; i < b->n && !first; i += k) {
		size_t from, to;
		uint32_t req0 = w->next_req;
		int r;

		k = b->n - i < window ? b->n - i : window;
		from = b->ops[i].off;
		for (j = 0; j + 1 < k; j++) {
			size_t next = i + j + 2 < b->n ? b->ops[i + j + 2].off : b->len;

			if ((b->ops[i + j].flags & OP_WAIT) || next - from > SEND_MAX)
				k = j + 1;
		}
		to = i + k < b->n ? b->ops[i + k].off : b->len;

		for (j = 0; j < k; j++) {
			struct xsd_sockmsg h;

			memcpy(&h, b->msgs + b->ops[i + j].off, HDR);
			h.req_id = w->next_req++;
			h.tx_id = tx;
			w->nreq++;
			memcpy(b->msgs + b->ops[i + j].off, &h, HDR);
		}
		if ((r = send_all(w, b->msgs + from, to - from)) < 0)
			return broken(w, r);
		for (j = 0; j < k; j++) {
			const batch_op *op = &b->ops[i + j];
			struct xsd_sockmsg h;

			bool same = op->flags & VBD__XB_OP_SAME;
			size_t got = 0;

			memcpy(&h, b->msgs + op->off, HDR);
			r = reply_to(w, h.type, req0 + j, tx, op->check || same ? val : NULL,
			             sizeof(val), &got);
			if (w->fd < 0)
				return r;
			if (same && !first) {
				r = same_answer(b, op, r, val, got);
				if (r != 0) {
					first = r;
					*ret_op = i + j;
				}
				continue;
			}
			if (op->check && !first) {
				/* Not after an earlier failure: the batch is lost. */
				r = op->check(r < 0 ? NULL : val, r, op->check_ud);
				if (r != 0) {
					first = r;
					*ret_op = i + j;
				}
				continue;
			}
			if (op->flags & VBD__XB_OP_ABSENT)
				r = r == -ENOENT ? 0 : r == 0 ? -EEXIST : r;
			else if ((op->flags & VBD__XB_OP_ENOENT_OK) && r == -ENOENT)
				r = 0;
			if (r < 0 && !first) {
				first = r;
				*ret_op = i + j;
			}
		}
	}
	return first;
}

int vbd__xb_batch_run(vbd__xb_wire *w, vbd__xb_batch *b, const char **ret_failed)
{
	unsigned try;

	if (w->fd < 0)
		return -ENOTCONN;
	for (try = 0; try < VBD__XB_TXN_TRIES; try++) {
		char id[16];
		long long tx;
		unsigned op = 0;
		int r;

		r = request(w, XS_TRANSACTION_START, 0, "", id, sizeof(id));
		if (r < 0)
			return r;
		tx = vbd__parse_num(id);
		if (tx <= 0 || tx > UINT32_MAX)
			return broken(w, -EPROTO);
		r = send_batch(w, b, (uint32_t)tx, &op);
		if (r != 0) {
			if (w->fd >= 0)
				end(w, (uint32_t)tx, true);
			if (ret_failed && r < 0 && w->fd >= 0)
				*ret_failed = b->msgs + b->ops[op].path_off;
			return r;
		}
		r = end(w, (uint32_t)tx, false);
		if (r < 0 && w->fd >= 0)
			/* An end refused before it ran (the store's fault seam
			 * answers without running the request) leaves the
			 * transaction open on this connection, which outlives
			 * it: abort it.  One that did run is gone, and this
			 * gets ENOENT. */
			end(w, (uint32_t)tx, true);
		if (r != -EAGAIN)
			return r;
		vbd__xb_txn_pause(try);
	}
	return -EAGAIN;
}

int vbd__xb_batch_fetch(vbd__xb_wire *w, vbd__xb_batch *b, const char **ret_failed)
{
	unsigned op = 0;
	int r;

	if (w->fd < 0)
		return -ENOTCONN;
	r = send_batch(w, b, 0, &op);
	if (r < 0 && ret_failed && w->fd >= 0)
		*ret_failed = b->msgs + b->ops[op].path_off;
	return r;
}

int vbd__xb_bus_wire(vbd_bus *bus, vbd__xb_wire **ret)
{
	int r;

	if (bus->wire && vbd__xb_wire_broken(bus->wire))
		bus->wire = vbd__xb_wire_free(bus->wire);
	if (!bus->wire && (r = vbd__xb_wire_open(bus->socket, &bus->wire)) < 0)
		return r;
	*ret = bus->wire;
	return 0;
}

int vbd__xb_bus_run(vbd_bus *bus, vbd__xb_batch *b, const char **ret_failed)
{
	vbd__xb_wire *w;
	int r = vbd__xb_bus_wire(bus, &w);

	return r < 0 ? r : vbd__xb_batch_run(w, b, ret_failed);
}

int vbd__xb_bus_fetch(vbd_bus *bus, vbd__xb_batch *b, const char **ret_failed)
{
	vbd__xb_wire *w;
	int r = vbd__xb_bus_wire(bus, &w);

	return r < 0 ? r : vbd__xb_batch_fetch(w, b, ret_failed);
}
