/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/ctx.h - a libvbd context: the toolstack on a xenbus (vbd/bus.h: its
 * two xenstore connections and one fd), driven by the caller's event loop.
 *
 *     vbd_ctx *c;
 *     vbd_ctx_new(&c, NULL, &err);           // $XENSTORED_PATH or the default
 *     for (;;) {
 *             poll({vbd_ctx_get_fd(c), POLLIN}, vbd_ctx_get_timeout_ms(c));
 *             vbd_ctx_process(c);            // callbacks happen only here
 *     }
 *
 * The connection is the real libxenstore's, to the real xenstored on a Xen
 * host or to libvbd's embedded daemon.  Thread safety: one thread at a time
 * per context; contexts are independent, and may be made at once in several
 * threads with different sockets (see vbd_ctx_new).  The library never
 * prints or exits: it reports through return values, vbd_ctx_last_error()
 * and the log callback.
 */
#ifndef VBD_CTX_H
#define VBD_CTX_H

#include <stdint.h>

#include "vbd/bus.h"
#include "vbd/common.h"
#include "vbd/error.h"

VBD_BEGIN_DECLS

typedef struct vbd_ctx vbd_ctx;

#define VBD_CTX_OPTIONS_VERSION 1

typedef struct vbd_ctx_options {
	unsigned version;             /* VBD_CTX_OPTIONS_VERSION or older */
	/* The xenstore daemon's socket; NULL: $XENSTORED_PATH, else
	 * libxenstore's default (the real xenstored). */
	const char *xenstored_path;
	/* Called from the calling thread only, inside libvbd calls. */
	void (*log)(int level, const char *msg, void *userdata);
	void *log_userdata;
	/* A bus to share (vbd/bus.h): the context takes a reference and uses
	 * its connections, fd and loop; xenstored_path is then ignored.  NULL:
	 * the context makes its own.  vbd_ctx_process() then runs every
	 * callback due on the bus, and the context is used from the bus's
	 * thread only. */
	vbd_bus *bus;
} vbd_ctx_options;

#define VBD_CTX_OPTIONS_INIT { .version = VBD_CTX_OPTIONS_VERSION }

/* Connects.  -EINVAL (options), -ECONNREFUSED when no daemon answers,
 * -ENOMEM; err (may be NULL) says which, naming the socket.  *ret is
 * untouched on failure.  libxenstore reads the socket only
 * from $XENSTORED_PATH: with opts->xenstored_path, the variable is set for
 * the instant of connecting and put back, under a lock that every libvbd
 * context takes, so concurrent calls each connect where they were told.
 * Code outside libvbd that reads the variable (or calls xs_open()) in
 * another thread at that instant may see libvbd's value. */
VBD_PUBLIC int vbd_ctx_new(vbd_ctx **ret, const vbd_ctx_options *opts, vbd_errbuf *err);
/* Cancels what is in progress (without callbacks), disconnects, frees.
 * Accepts NULL; returns NULL. */
VBD_PUBLIC vbd_ctx *vbd_ctx_free(vbd_ctx *c);

/* The fd to poll for POLLIN (readable when xenstore watch events wait). */
VBD_PUBLIC int vbd_ctx_get_fd(vbd_ctx *c);
/* Milliseconds until the next deadline (a poll() timeout), -1 if none. */
VBD_PUBLIC int vbd_ctx_get_timeout_ms(vbd_ctx *c);
/* Handles pending watch events and expired deadlines; runs callbacks.
 * Never blocks on the fd (xenstore requests are synchronous round trips).
 * Returns >= 0 or a negative errno for a failure of the context itself. */
VBD_PUBLIC int vbd_ctx_process(vbd_ctx *c);

/* The detailed message of the last failure ("" if none). */
VBD_PUBLIC const char *vbd_ctx_last_error(vbd_ctx *c);

/* Domains: by decimal id or by name (/local/domain/<id>/name).  -ENOENT if
 * no such domain. */
VBD_PUBLIC int vbd_ctx_domain_lookup(vbd_ctx *c, const char *name_or_id, vbd_domid *ret_domid);

VBD_END_DECLS

#endif
