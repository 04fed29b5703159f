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
 * of it (start, requests, end) goes over the wire client's own connection
 * (wire.c), opened as libxenstore opens its own: the daemon's socket, else
 * the xenbus device (a device is written one message per write(), which
 * is how Linux's xenbus device reads its requests).  The bus's watches
 * ride it too: an event met while a reply is awaited waits in wire.c's
 * queue for the loop.
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

#include "xenbus/xs_batch_internal.h"

/* Requests in flight at once on a socket: past the daemon's quota of
 * outstanding requests (20 in xenstored and in the embedded store) a
 * daemon only stops reading the connection until its replies are read,
 * and they are read as soon as the window is sent.  The window is also at
 * most SEND_MAX bytes, so that its send never waits on the daemon reading
 * (a unix socket buffers about 200 KiB): a daemon that waits on this
 * client reading its replies cannot then wait on a client that waits on
 * it.  On the xenbus device, one (see above). */
#define WINDOW_SOCK ((unsigned)VBD__XB_WINDOW)
#define SEND_MAX (32u * 1024)

static int end(vbd__xb_wire *w, uint32_t tx, bool abort)
{
	return vbd__xbw_request(w, XS_TRANSACTION_END, tx, abort ? "F" : "T", 2, NULL, 0);
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

/* -EINVAL, its op in *ret_op, if b holds a request never made in a
 * transaction (a WATCH); else 0. */
static int notx(const vbd__xb_batch *b, unsigned *ret_op)
{
	unsigned i;

	for (i = 0; i < b->n; i++)
		if (b->ops[i].flags & OP_NOTX) {
			*ret_op = i;
			return -EINVAL;
		}
	return 0;
}

/* Ops [i, i + k) numbered from the wire's next req_id, in tx. */
static void stamp(vbd__xb_wire *w, vbd__xb_batch *b, unsigned i, unsigned k, uint32_t tx)
{
	unsigned j;

	for (j = 0; j < k; j++) {
		struct xsd_sockmsg h;

		memcpy(&h, b->msgs + b->ops[i + j].off, HDR);
		h.req_id = w->next_req++;
		h.tx_id = tx;
		w->nreq++;
		memcpy(b->msgs + b->ops[i + j].off, &h, HDR);
	}
}

/* The replies of ops [i, i + k), numbered from req0, each checked as its
 * op says: the first failure (its op in *ret_op) in *first, which stops
 * the checks after it.  0, or the error that broke the connection. */
static int window_replies(vbd__xb_wire *w, vbd__xb_batch *b, unsigned i, unsigned k,
                          uint32_t req0, uint32_t tx, int *first, unsigned *ret_op)
{
	char val[XENSTORE_PAYLOAD_MAX + 1];   /* a checked READ's value */
	unsigned j;
	int r;

	for (j = 0; j < k; j++) {
		const batch_op *op = &b->ops[i + j];
		struct xsd_sockmsg h;
		bool same = op->flags & VBD__XB_OP_SAME;
		size_t got = 0;

		memcpy(&h, b->msgs + op->off, HDR);
		r = vbd__xbw_reply(w, h.type, req0 + j, tx, op->check || op->dir || same ? val : NULL,
		                   sizeof(val), &got);
		if (w->fd < 0)
			return r;
		if (*first)
			continue;     /* the batch is lost: its replies only read */
		if (same)
			r = same_answer(b, op, r, val, got);
		else if (op->dir)
			r = op->dir(r < 0 ? NULL : val, r < 0 ? 0 : got, r, op->check_ud);
		else if (op->check)
			r = op->check(r < 0 ? NULL : val, r, op->check_ud);
		else if (op->flags & VBD__XB_OP_ABSENT)
			r = r == -ENOENT ? 0 : r == 0 ? -EEXIST : r;
		else if ((op->flags & VBD__XB_OP_ENOENT_OK) && r == -ENOENT)
			r = 0;
		if (r != 0 && (same || op->dir || op->check || r < 0)) {
			*first = r;
			*ret_op = i + j;
		}
	}
	return 0;
}

/* The batch's requests in transaction tx: 0, or the first failure with
 * its op in *ret_op (a check's positive result too: it stops the batch;
 * -EINVAL for a request never made in a transaction, with nothing sent);
 * requests already sent are answered before returning, so that the stream
 * stays in step. */
/* How many of b's requests from i go in one send: at most a window less
 * `keep` requests (kept for the caller's own, 0 if none are left), up to
 * and including one that waits (OP_WAIT), and, past the first, no more
 * than SEND_MAX bytes. */
static unsigned window_len(const vbd__xb_wire *w, const vbd__xb_batch *b, unsigned i,
                           unsigned keep)
{
	unsigned window = w->sock ? WINDOW_SOCK : 1, j, k;
	size_t from = b->ops[i].off;

	if (window <= keep)
		return 0;
	window -= keep;
	k = b->n - i < window ? b->n - i : window;
	for (j = 0; j + 1 < k; j++) {
		size_t next = i + j + 2 < b->n ? b->ops[i + j + 2].off : b->len;

		if ((b->ops[i + j].flags & OP_WAIT) || next - from > SEND_MAX)
			k = j + 1;
	}
	return k;
}

static int send_batch(vbd__xb_wire *w, vbd__xb_batch *b, uint32_t tx, unsigned *ret_op)
{
	unsigned i, k;
	int first = 0, r0;

	if (tx && (r0 = notx(b, ret_op)) < 0)
		return r0;

	for (i = 0; i < b->n && !first; i += k) {
		size_t from = b->ops[i].off, to;
		uint32_t req0 = w->next_req;
		int r;

		k = window_len(w, b, i, 0);
		to = i + k < b->n ? b->ops[i + k].off : b->len;
		stamp(w, b, i, k, tx);
		if ((r = vbd__xbw_send(w, b->msgs + from, to - from)) < 0)
			return vbd__xbw_fail(w, r);
		/* The caller's work while the store does the first window. */
		if (i == 0 && b->while_fn)
			b->while_err = b->while_fn(b->while_ud);
		if ((r = window_replies(w, b, i, k, req0, tx, &first, ret_op)) < 0)
			return r;
		/* Its failure ends the batch after the window's replies, as a
		 * check's (nothing after the window is sent). */
		if (i == 0 && !first && b->while_err) {
			first = b->while_err;
			*ret_op = 0;
		}
	}
	return first;
}

/* Its reply: 0 and the transaction's id in *tx, or -errno. */
static int begin_reply(vbd__xb_wire *w, uint32_t req, uint32_t *tx)
{
	char id[16];
	long long v;
	int r = vbd__xbw_reply(w, XS_TRANSACTION_START, req, 0, id, sizeof(id), NULL);

	if (r < 0)
		return r;
	v = vbd__parse_num(id);
	if (v <= 0 || v > UINT32_MAX)
		return vbd__xbw_fail(w, -EPROTO);
	*tx = (uint32_t)v;
	return 0;
}

/* pre's window and TRANSACTION_START in one send (vbd__xb_batch_before_start),
 * pre's replies taken, its result in *result; or, where they cannot share
 * a window, pre fetched, then the start sent.  The start's req_id in
 * *req; 0, or -errno (nothing started, or the connection broken). */
static int pre_and_start(vbd__xb_wire *w, vbd__xb_batch *pre, uint32_t *req, int *result)
{
	struct xsd_sockmsg h = { XS_TRANSACTION_START, 0, 0, 1 };
	unsigned op = 0;
	/* All of pre in one window with a request's room kept for the start,
	 * the start's bytes too. */
	bool one = pre->n && !pre->while_fn && pre->len + HDR + 1 <= SEND_MAX &&
	           window_len(w, pre, 0, 1) == pre->n;
	uint32_t req0 = w->next_req;
	int r;

	if (!one || vbd__xb_batch_room(pre, HDR + 1) < 0) {
		*result = vbd__xb_batch_fetch(w, pre, NULL);
		if (w->fd < 0)
			return *result < 0 ? *result : -EPIPE;
		return vbd__xbw_request_send(w, XS_TRANSACTION_START, 0, "", 1, req);
	}
	stamp(w, pre, 0, pre->n, 0);
	h.req_id = *req = w->next_req++;
	w->nreq++;
	memcpy(pre->msgs + pre->len, &h, HDR);
	pre->msgs[pre->len + HDR] = 0;
	if ((r = vbd__xbw_send(w, pre->msgs, pre->len + HDR + 1)) < 0)
		return vbd__xbw_fail(w, r);
	*result = 0;
	return window_replies(w, pre, 0, pre->n, req0, 0, result, &op);
}

/* TRANSACTION_START: 0 and its id in *tx, or -errno; b's start work
 * (vbd__xb_batch_at_start) between the request and its reply, once, with
 * b's pre fetched before it (vbd__xb_batch_before_start).  A start work's
 * > 0: the transaction aborted, that returned. */
static int begin(vbd__xb_wire *w, uint32_t *tx, vbd__xb_batch *b)
{
	uint32_t req = 0;
	bool first = b && !b->start_done && (b->start_fn || b->pre);
	int r, done = 0;

	if (first && b->pre)
		r = pre_and_start(w, b->pre, &req, &b->pre_result);
	else
		r = vbd__xbw_request_send(w, XS_TRANSACTION_START, 0, "", 1, &req);
	if (r < 0)
		return r;
	if (first) {
		b->start_done = true;
		if (b->start_fn)
			done = b->start_fn(b, b->start_ud);
		if (done < 0)
			b->start_err = done;
	}
	if ((r = begin_reply(w, req, tx)) < 0)
		return r;
	if (done != 0) {
		end(w, *tx, true);
		return done;
	}
	return 0;
}

/* TRANSACTION_END "T": 0, -EAGAIN (run it all again), or -errno. */
static int commit(vbd__xb_wire *w, uint32_t tx)
{
	int r = end(w, tx, false);

	if (r < 0 && w->fd >= 0)
		/* An end refused before it ran (the store's fault seam answers
		 * without running the request) leaves the transaction open on
		 * this connection, which outlives it: abort it.  One that did
		 * run is gone, and this gets ENOENT. */
		end(w, tx, true);
	return r;
}

int vbd__xb_batch_run(vbd__xb_wire *w, vbd__xb_batch *b, const char **ret_failed)
{
	unsigned try, op = 0;

	/* Refused before the transaction starts: nothing is sent. */
	if (notx(b, &op) < 0) {
		if (ret_failed)
			*ret_failed = b->msgs + b->ops[op].path_off;
		return -EINVAL;
	}
	if (w->fd < 0)
		return -ENOTCONN;
	for (try = 0; try < VBD__XB_TXN_TRIES; try++) {
		uint32_t tx;
		int r = begin(w, &tx, b);

		if (r != 0)
			return r;
		r = send_batch(w, b, tx, &op);
		if (r != 0) {
			if (w->fd >= 0)
				end(w, tx, true);
			if (ret_failed && r < 0 && w->fd >= 0)
				*ret_failed = b->msgs + b->ops[op].path_off;
			return r;
		}
		r = commit(w, tx);
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

int vbd__xb_bus_run_parts(vbd_bus *bus, const vbd__xb_part *parts, unsigned n)
{
	vbd__xb_batch *b[2] = { NULL, NULL };
	vbd__xb_wire *w;
	unsigned try, i, k, op = 0;
	int r = vbd__xb_bus_wire(bus, &w);

	if (r < 0 || (r = vbd__xb_batch_new(&b[0])) < 0 || (r = vbd__xb_batch_new(&b[1])) < 0)
		goto out;
	for (try = 0; try < VBD__XB_TXN_TRIES; try++) {
		uint32_t tx;

		/* The reads are recorded again each try: a part starts afresh. */
		vbd__xb_batch_clear(b[0]);
		vbd__xb_batch_clear(b[1]);
		for (i = 0; i < n && r == 0; i++)
			r = parts[i].reads(b[0], parts[i].ud);
		if (r < 0 || (r = begin(w, &tx, NULL)) < 0)
			goto out;
		for (k = 0; k < 2; k++) {
			for (i = 0; k == 1 && i < n && r == 0; i++)
				r = parts[i].plan(b[1], parts[i].ud);
			if (r == 0)
				r = send_batch(w, b[k], tx, &op);
			if (r != 0) {
				if (w->fd >= 0)
					end(w, tx, true);
				goto out;
			}
		}
		r = commit(w, tx);
		if (r != -EAGAIN)
			goto out;
		r = 0;
		vbd__xb_txn_pause(try);
	}
	r = -EAGAIN;
out:
	vbd__xb_batch_free(b[0]);
	vbd__xb_batch_free(b[1]);
	return r;
}
