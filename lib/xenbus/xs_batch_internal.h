/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A batch as xs_batch_rec.c records it and xs_batch.c sends it: the
 * messages back to back, and for each request what its reply is checked
 * against.  Internal to those two files.
 */
#ifndef VBD_LIB_XENBUS_XS_BATCH_INTERNAL_H
#define VBD_LIB_XENBUS_XS_BATCH_INTERNAL_H

#include "xenbus/xenbus.h"

#define HDR sizeof(struct xsd_sockmsg)

typedef struct batch_op {
	size_t off;         /* of its message (header, payload) in msgs */
	size_t path_off;    /* of its path, in msgs too */
	unsigned flags;
	vbd__xb_check_fn check;   /* a READ whose value decides: or NULL */
	vbd__xb_dir_fn dir;       /* a DIRECTORY whose names decide: or NULL */
	void *check_ud;
	size_t exp_off;     /* VBD__XB_OP_SAME: the answer expected, in exp */
	uint32_t exp_len;   /* NO_NODE: ENOENT expected */
} batch_op;

#define NO_NODE UINT32_MAX
/* The window ends after this request (vbd__xb_batch_wait()). */
#define OP_WAIT 0x100u
/* Never inside a transaction (a WATCH): the batch is only fetched. */
#define OP_NOTX 0x200u

struct vbd__xb_batch {
	batch_op ops[VBD__XB_BATCH_MAX];
	unsigned n;
	char *msgs;         /* the messages, back to back, as they are sent */
	size_t len, cap;
	char *exp;          /* the answers VBD__XB_OP_SAME requests expect */
	size_t elen, ecap;
	int (*while_fn)(void *ud);   /* vbd__xb_batch_while() */
	void *while_ud;
	int while_err;      /* its last run's result */
	/* vbd__xb_batch_at_start(): its work, run once, in the first try. */
	int (*start_fn)(vbd__xb_batch *b, void *ud);
	void *start_ud;
	bool start_done;
	int start_err;      /* its failure (< 0), if it failed */
	/* vbd__xb_batch_before_start(): fetched with the first try's start. */
	vbd__xb_batch *pre;
	int pre_result;
};

/* Empties b for recording again, its buffers kept (xs_batch_rec.c). */
void vbd__xb_batch_clear(vbd__xb_batch *b);
/* Room for extra bytes after b's messages, not recorded: 0 or -ENOMEM. */
int vbd__xb_batch_room(vbd__xb_batch *b, size_t extra);

/* ---- the connection (wire.c) ---- */

/* Replies read ahead: at least one whole message. */
#define VBD__XBW_RBUF (16u * (HDR + XENSTORE_PAYLOAD_MAX))

struct vbd__xbw_event;

struct vbd__xb_wire {
	int fd;             /* -1: broken */
	bool sock;          /* a socket: one sendmsg per window; else a device,
	                     * one request at a time */
	uint32_t next_req;
	/* Requests sent, and sends each waited on: round trips. */
	unsigned long long nreq, nsend;
	/* Replies taken, counted on from the connection this one replaced:
	 * an event is stamped with the count when it came (wire.c). */
	uint64_t nreplies;
	/* Events met while a request waited, in order (wire.c). */
	struct vbd__xbw_event *evq, **evq_tail;
	size_t evq_bytes;
	int kick_fd;        /* written when events wait unseen; -1: none */
	bool kicked;
	size_t rlen;        /* bytes read but not yet taken */
	char rbuf[VBD__XBW_RBUF];
};

/* Closes w's connection (it can no longer be trusted to line up): err. */
int vbd__xbw_fail(vbd__xb_wire *w, int err);
/* Sends len bytes of whole messages (one write() each on a device): one
 * round trip in the counts.  0 or -errno. */
int vbd__xbw_send(vbd__xb_wire *w, const char *p, size_t len);
/* Receives the reply to a request {type, req, tx}, queueing the events
 * before it: 0 for success (its payload NUL-terminated in out, when
 * given, its length in *got), the XS_ERROR's -errno; or, the connection
 * closed (vbd__xb_wire_broken()), -EPROTO for a reply that is not this
 * request's and -errno when none could be read. */
int vbd__xbw_reply(vbd__xb_wire *w, uint32_t type, uint32_t req, uint32_t tx, char *out,
                   size_t size, size_t *got);
/* One request of len payload bytes, sent and answered as above; or only
 * sent (_send: its req_id in *ret_req, for vbd__xbw_reply() later). */
int vbd__xbw_request(vbd__xb_wire *w, uint32_t type, uint32_t tx, const char *payload,
                     size_t len, char *out, size_t size);
int vbd__xbw_request_send(vbd__xb_wire *w, uint32_t type, uint32_t tx, const char *payload,
                          size_t len, uint32_t *ret_req);

#endif
