/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client of the embedded store's change trace (docs/protocol.md,
 * "The change trace"): a connection of its own, which libxenstore never
 * sees, read by the small reader here.
 *
 *     vbd__trace *t;
 *     r = vbd__trace_open(socket, 0, &t);   // -EOPNOTSUPP: not offered
 *     poll(vbd__trace_fd(t)); vbd__trace_read(t, fn, ud);   // fn per change
 */
#ifndef VBD_XENBUS_TRACE_H
#define VBD_XENBUS_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "vbd/verify.h"

/* The largest record payload the store sends: the op, three numbers, a
 * path of up to 3072 bytes plus its canonical prefix, and a value of up
 * to 4096. */
#define VBD__TRACE_PAYLOAD_MAX 8192u

typedef struct vbd__trace vbd__trace;

/* Subscribes on a connection of its own to the store at socket_path (NULL:
 * XENSTORED_PATH, else /run/xenstored/socket), which may queue max bytes for
 * it (0: the store's default).  -EOPNOTSUPP if the daemon refuses the
 * request as one it does not know (a real xenstored), -EACCES if it refuses
 * this connection (a guest's), -ECONNREFUSED / -ENOENT if nothing answers,
 * -EPROTO on a reply that makes no sense. */
int vbd__trace_open(const char *socket_path, size_t max, vbd__trace **ret);
int vbd__trace_fd(const vbd__trace *t);
typedef void (*vbd__trace_fn)(const vbd_change *ch, void *ud);
/* Reads what the socket holds and calls fn for each complete record, in
 * order.  0 when the socket is drained, -EPIPE when the store closed it,
 * -EPROTO on a record that is not one (the stream cannot be trusted past
 * it: the caller stops following). */
int vbd__trace_read(vbd__trace *t, vbd__trace_fn fn, void *ud);
vbd__trace *vbd__trace_free(vbd__trace *t);

/* Parses one record's payload (len bytes, hostile) into ret, whose path and
 * value point into p.  -EPROTO if it is not one. */
int vbd__trace_parse(char *p, size_t len, vbd_change *ret);

#endif
