/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/store.h - the embedded xenstore daemon.
 *
 * A complete xenstore server that speaks the wire protocol of
 * xen/io/xs_wire.h on Unix sockets, so that the real libxenstore and
 * xenstore-utils work against it unchanged (point them at it with
 * XENSTORED_PATH=<socket>).  It is a library object: no globals, no threads,
 * no signals, no logging of its own, never exits.  The caller drives it from
 * its own event loop:
 *
 *     vbd_store *s;
 *     vbd_store_options o = VBD_STORE_OPTIONS_INIT;
 *     o.socket_path = "/run/vbd/xenstored/socket";
 *     r = vbd_store_new(&s, &o, &err);
 *     for (;;) { poll({vbd_store_get_fd(s), POLLIN}); vbd_store_process(s); }
 *     vbd_store_free(s);
 *
 * Connections on the main socket act as dom0 (privileged).  A domain
 * introduced with XS_INTRODUCE or vbd_store_domain_add() gets a socket of its
 * own, "<socket_path>.d/<domid>", whose connections act as that unprivileged
 * domain: relative paths resolve to /local/domain/<domid> and every
 * permission and quota applies.
 *
 * Thread safety: a vbd_store may be used from one thread at a time.  Distinct
 * objects are independent.
 */
#ifndef VBD_STORE_H
#define VBD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "vbd/common.h"
#include "vbd/error.h"

VBD_BEGIN_DECLS

typedef struct vbd_store vbd_store;

/* Resource limits; a field left 0 gets the default after it.  Defaults are
 * cxenstored's where it has one.  They apply
 * to unprivileged connections, except max_payload and path syntax, which
 * apply to all, and max_pending_bytes_priv, which bounds what a dom0 client
 * that never reads can make the daemon hold. */
typedef struct vbd_store_limits {
	unsigned nodes_per_domain;      /* 1000: nodes a domain may own */
	unsigned watches_per_domain;    /* 128 */
	unsigned transactions_per_conn; /* 10 open at once */
	unsigned nodes_per_transaction; /* 1024 nodes touched */
	unsigned perms_per_node;        /* 5 entries */
	unsigned value_size;            /* 2048 bytes */
	unsigned outstanding;           /* 20 unread replies + events; more
	                                 * requests wait until the client reads */
	unsigned max_payload;           /* 4096 (XENSTORE_PAYLOAD_MAX) */
	size_t max_pending_bytes;       /* 256 KiB of queued events per
	                                 * unprivileged connection; past it the
	                                 * oldest are dropped and counted */
	size_t max_pending_bytes_priv;  /* 16 MiB, the same for dom0 */
	unsigned conns_per_domain;      /* 64 connections per guest domain;
	                                 * dom0's are never refused */
	/* Since options version 2.  Bytes a guest domain may make the daemon
	 * hold: the nodes it owns, its connections' transactions, watches
	 * and queued output.  A request that would take it past the hard
	 * quota fails with ENOMEM, and events for it are dropped; dom0 is
	 * exempt.  The soft quota only marks the domain in CONTROL "quota
	 * <domid>".  VBD_OPT_ZERO: no quota. */
	unsigned memory_per_domain_soft; /* 2 MiB */
	unsigned memory_per_domain;      /* 2.5 MiB, the hard quota */
} vbd_store_limits;

/* Every field 0: every default. */
#define VBD_STORE_LIMITS_INIT { .nodes_per_domain = 0 }

/* 2 added the memory quota; version 1 options get its defaults.  3 added
 * listen_fd. */
#define VBD_STORE_OPTIONS_VERSION 3

typedef struct vbd_store_options {
	unsigned version;        /* VBD_STORE_OPTIONS_VERSION or older */
	/* Main (dom0) socket.  NULL: no listening socket; connections come only
	 * through vbd_store_adopt_fd().  An existing stale socket file is
	 * replaced; a live one (a daemon answers) is -EADDRINUSE. */
	const char *socket_path;
	unsigned socket_mode;    /* permission bits of the sockets; 0: 0600 */
	vbd_store_limits limits;
	/* Since version 3.  0: none, the store binds socket_path itself.
	 * Else a listening Unix stream socket someone else bound (systemd's
	 * socket activation passes it as fd 3, sd_listen_fds(3)): the store
	 * serves dom0 there, takes the path it is bound to as its socket_path
	 * (socket_path must be NULL or that path) and creates the domains'
	 * sockets beside it as usual.  The store owns the fd once
	 * vbd_store_new() succeeds and never removes its file, which belongs
	 * to whoever bound it; on failure the caller still owns it.  -EINVAL
	 * for an fd that is not such a socket. */
	int listen_fd;
} vbd_store_options;

#define VBD_STORE_OPTIONS_INIT { .version = VBD_STORE_OPTIONS_VERSION }

/* Counters, for status output, tests and benchmarks. */
typedef struct vbd_store_stats {
	/* sizeof(this struct) as the caller has it, set by the caller: the
	 * library fills only what fits (vbd/common.h). */
	size_t size;
	uint64_t nodes;              /* nodes in the committed tree */
	uint64_t connections;
	uint64_t domains;            /* introduced, not counting dom0 */
	uint64_t watches;
	uint64_t transactions;       /* open */
	uint64_t requests;           /* handled since start */
	uint64_t events_sent;        /* watch events queued for delivery */
	uint64_t events_dropped;     /* dropped because a client did not read */
	uint64_t events_filtered;    /* not sent: watcher may not read the node */
	uint64_t conns_killed;       /* closed for a protocol violation */
	uint64_t pending_bytes;      /* queued output, all connections */
	uint64_t pending_bytes_max;  /* high-water mark of pending_bytes */
	uint64_t generation;         /* tree generation counter */
} vbd_store_stats;

/* Creates a store holding "/" (owner dom0, perms "n0") and the special nodes
 * @introduceDomain and @releaseDomain, and binds socket_path if given.
 * Returns 0 or a negative errno; *ret is untouched on failure. */
VBD_PUBLIC int vbd_store_new(vbd_store **ret, const vbd_store_options *opts, vbd_errbuf *err);

/* Closes every connection and socket (socket files are unlinked) and frees
 * the store.  Accepts NULL.  Returns NULL. */
VBD_PUBLIC vbd_store *vbd_store_free(vbd_store *s);

/* The one fd to poll for POLLIN.  Owned by the store. */
VBD_PUBLIC int vbd_store_get_fd(const vbd_store *s);

/* Handles everything that is ready without blocking: accepts, reads and
 * answers requests, flushes output.  Returns the number of things done
 * (>= 0) or a negative errno for a failure of the store itself (a client's
 * failure only closes that client). */
VBD_PUBLIC int vbd_store_process(vbd_store *s);

/* Blocking helper: waits up to timeout_ms (-1: forever) for the fd, then
 * processes.  A thin loop over the two calls above.  -EINTR is returned as
 * is, so that a caller's signal handling can run. */
VBD_PUBLIC int vbd_store_run_once(vbd_store *s, int timeout_ms);

/* Takes over a connected stream socket as a client connection acting as
 * domain domid (0: privileged).  The domain must be introduced unless it is
 * 0.  On success the store owns fd; on failure the caller still does.
 * -EMFILE when the domain has conns_per_domain connections already. */
VBD_PUBLIC int vbd_store_adopt_fd(vbd_store *s, int fd, vbd_domid domid);

/* Introduces a domain as XS_INTRODUCE does: creates its socket (when the
 * store has a socket_path) and fires @introduceDomain.  Writes no nodes: a
 * toolstack writes /local/domain/<domid>.  -EEXIST if introduced already,
 * -EINVAL for domid 0 or >= VBD_DOMID_FIRST_RESERVED. */
VBD_PUBLIC int vbd_store_domain_add(vbd_store *s, vbd_domid domid);

/* Releases a domain as XS_RELEASE does: closes its connections and socket,
 * deletes every node it owns, removes it from every permission list (a reused
 * domid inherits nothing), and fires @releaseDomain.  -ENOENT if unknown. */
VBD_PUBLIC int vbd_store_domain_remove(vbd_store *s, vbd_domid domid);

/* Path of a domain's socket, "<socket_path>.d/<domid>", into buf.
 * -ENOENT if the domain is unknown, -ENOTSUP if the store has no socket,
 * -ENAMETOOLONG if buf is too small. */
VBD_PUBLIC int vbd_store_domain_socket(const vbd_store *s, vbd_domid domid,
                                       char *buf, size_t size);

/* 0, or -EINVAL without s or ret, or for a ret->size below sizeof(size_t). */
VBD_PUBLIC int vbd_store_get_stats(const vbd_store *s, vbd_store_stats *ret);

/* Fault injection, for tests of xenstore clients: the nth request the store
 * handles from now on from domain domid (n >= 1; domid VBD_DOMID_ALL: from anyone) is
 * answered with XS_ERROR naming -err (e.g. -EIO, -EAGAIN, -EACCES) without
 * being executed.  With persistent, that request and every later one (from
 * domid) fail.  nth 0 disarms.  A client test arms n = 1, 2, ... to make each
 * of its xenstore operations fail in turn, through the real libxenstore. */
VBD_PUBLIC void vbd_store_fail_request(vbd_store *s, vbd_domid domid, uint64_t nth, int err,
                                       int persistent);

/* Main socket path or NULL. */
VBD_PUBLIC const char *vbd_store_socket_path(const vbd_store *s);

VBD_END_DECLS

#endif
