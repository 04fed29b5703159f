/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The embedded store's internal hooks, for the fuzzer: keep one store
 * across inputs and put it back as new between them, at a fraction of the
 * cost of vbd_store_free() and vbd_store_new() (whose per-domain tables
 * are 2.3 MB).
 */
#ifndef VBD_LIB_STORE_HOOKS_H
#define VBD_LIB_STORE_HOOKS_H

#include <stddef.h>

#include "vbd/store.h"

/* The limits s runs with now (the defaults applied; CONTROL "quota" over
 * the wire changes them). */
void vbd__store_limits(const vbd_store *s, vbd_store_limits *ret);

/* With every connection gone, checks that the store holds nothing but its
 * tree: no connection, watch, transaction, trace subscriber or queued
 * output (trace records included), in its lists as in its counters, and
 * that each domain's node count and node memory are exactly what the tree holds (every owner in the tree, every domain,
 * dom0, and the ndomids ids in domids: those the caller's requests named,
 * e.g. a domain released and reaped meanwhile, or an owner whose nodes are
 * all gone).  If so, puts it back as vbd_store_new() left it: the tree only
 * "/", the special nodes as new, no domain, limits lim (from
 * vbd__store_limits() on the new store), generation, statistics, the
 * trace's sequence number and offer (CONTROL "trace-offer") and the
 * injected failure of vbd_store_fail_request() back to their start.
 * -EBUSY if something is left, what (at least 128 bytes) saying what if
 * not NULL: the store is then good only for vbd_store_free().  -EINVAL for
 * a store with sockets (socket_path or listen_fd); -ENOMEM. */
int vbd__store_reset(vbd_store *s, const vbd_store_limits *lim,
                     const unsigned *domids, size_t ndomids, char *what,
                     size_t what_len);

/* Ends the connection on fd (one given to vbd_store_adopt_fd()) as if its
 * client had closed it, everything it held dropped and uncharged, but gives
 * the fd back open instead of closing it: the caller owns it again and may
 * adopt it as a new connection.  What the client sent that the store did
 * not read is discarded and the store sends nothing more; what the store
 * sent before is the client's to read (the fuzzer reads everything first),
 * so that nothing of the old connection is left in the socket.  So the
 * fuzzer keeps its sockets across inputs.  Call it outside
 * vbd_store_process().  -ENOENT if no live connection has fd (the store
 * ended it and closed the fd), -EINVAL. */
int vbd__store_detach_fd(vbd_store *s, int fd);

/* Whether a node of the tree, or a special node, still names domid in its
 * permission list (as owner or in an entry): after domid's release none
 * may (XSA-322).  1 with the first such node's path in path (truncated to
 * path_len), 0 if none, -EINVAL.  What a client would see by walking the
 * tree with GET_PERMS as dom0, in time proportional to the tree and
 * without a request. */
int vbd__store_perms_name(const vbd_store *s, unsigned domid, char *path,
                          size_t path_len);

#endif
