/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/bus.h - a xenstore bus: one client connection, its watches and
 * deadlines, driven by the caller's event loop, shared by any number of
 * libvbd objects in one process.
 *
 *     vbd_bus *bus;
 *     vbd_bus_options bo = VBD_BUS_OPTIONS_INIT;
 *     vbd_bus_new(&bus, &bo);                     // $XENSTORED_PATH or the default
 *     fo.bus = bus;                               // each vbd_blkfront_options, vbd_ctx_options...
 *     vbd_blkfront_new(&f1, &fo, &err);           // takes its own reference
 *     vbd_blkfront_new(&f2, &fo, &err);
 *     vbd_bus_unref(bus);                         // the objects keep it alive
 *     for (;;) {
 *             poll({vbd_blkfront_get_fd(f1), ...}, ...);
 *             vbd_blkfront_process(f1);           // runs every callback due on the bus
 *             vbd_blkfront_process(f2);
 *     }
 *
 * Without a bus in its options, each object makes its own (as before).
 * With one, N objects use the bus's connections instead of their own: the
 * xenstore daemon sees the bus's two however many devices a process
 * serves.
 *
 * Connections: a bus holds two to the same daemon: a libxenstore handle
 * for requests one at a time (it never watches, so libxenstore reads its
 * replies inline, with no thread), and libvbd's own client of the wire
 * protocol for the watches and for transactions sent pipelined.  Watch
 * events are read off that connection by the bus's loop, as many as have
 * arrived in one read(); the fd shows them even when a request's wait
 * has already read them off the socket.  If it breaks, the loop opens
 * another and sets every watch again (each fires once, as a new watch).
 * single_connection is kept for compatibility: it changes nothing.
 *
 * Watches: vbd_bus_watch_add() is xenstore's watch, on the bus's loop.
 *
 *     vbd_bus_watch *w;
 *     vbd_bus_watch_add(bus, "/local/domain/1/device/vbd", changed, g, &w, &err);
 *     ...                        // changed(path, g) from vbd_bus_process()
 *     vbd_bus_watch_remove(bus, w);
 *
 * Reads: vbd_bus_read() and vbd_bus_directory() ask the daemon on the
 * bus's request connection, so a process that only needs a few reads
 * besides its objects opens no connection of its own.
 *
 * Thread safety: a bus and every object on it are used from one thread at a
 * time.  Any of those objects' process() calls (or vbd_bus_process()) runs
 * every watch and deadline callback due on the bus, whichever object they
 * belong to.  Buses are independent of each other.
 */
#ifndef VBD_BUS_H
#define VBD_BUS_H

#include <stdbool.h>
#include <stddef.h>

#include "vbd/common.h"
#include "vbd/error.h"

VBD_BEGIN_DECLS

typedef struct vbd_bus vbd_bus;

#define VBD_BUS_OPTIONS_VERSION 1

typedef struct vbd_bus_options {
	unsigned version;             /* VBD_BUS_OPTIONS_VERSION */
	/* The xenstore daemon's socket; NULL: $XENSTORED_PATH, else
	 * libxenstore's default (the real xenstored). */
	const char *xenstored_path;
	/* The bus's own messages (vbd_log_level); called from the calling
	 * thread only, inside libvbd calls.  NULL: none. */
	void (*log)(int level, const char *msg, void *userdata);
	void *log_userdata;
	/* Kept for compatibility: ignored, every bus holds two connections
	 * (see above). */
	bool single_connection;
} vbd_bus_options;

/* Every field but version 0 means its default, as `{ .version = 1 }`. */
#define VBD_BUS_OPTIONS_INIT { .version = VBD_BUS_OPTIONS_VERSION }

/* Connects.  -EINVAL for bad options, -ECONNREFUSED when no daemon answers,
 * -ENOMEM; err (may be NULL) says which, naming the socket.  *ret (one
 * reference) is untouched on failure.  libxenstore reads
 * the socket only from $XENSTORED_PATH: with opts->xenstored_path, the
 * variable is set for the instant of connecting and put back, under a lock
 * that every libvbd bus takes, so concurrent calls each connect where they
 * were told.  Code outside libvbd that reads the variable (or calls
 * xs_open()) in another thread at that instant may see libvbd's value. */
VBD_PUBLIC int vbd_bus_new(vbd_bus **ret, const vbd_bus_options *opts, vbd_errbuf *err);
/* Another reference; returns bus (NULL for NULL). */
VBD_PUBLIC vbd_bus *vbd_bus_ref(vbd_bus *bus);
/* Drops a reference; the last one disconnects and frees.  Accepts NULL;
 * returns NULL. */
VBD_PUBLIC vbd_bus *vbd_bus_unref(vbd_bus *bus);

/* The fd to poll for POLLIN: watch events, and any fd an object on the bus
 * follows (a hotplug script's).  Owned by the bus. */
VBD_PUBLIC int vbd_bus_get_fd(vbd_bus *bus);
/* Milliseconds until the next deadline on the bus, -1 if none. */
VBD_PUBLIC int vbd_bus_get_timeout_ms(vbd_bus *bus);
/* Runs the callbacks due: pending watch events, ready fds, expired
 * deadlines.  Never blocks on the fd.  Returns how many ran (>= 0), or a
 * negative errno for a failure of the bus itself (its watch connection
 * broke and no daemon answers a new one). */
VBD_PUBLIC int vbd_bus_process(vbd_bus *bus);

/* A xenstore watch on the bus. */
typedef struct vbd_bus_watch vbd_bus_watch;
/* path: the node that changed (at or under the watched path), or the
 * watched path itself for the event every watch gets when it is set. */
typedef void (*vbd_bus_watch_fn)(const char *path, void *userdata);

/* Watches path (absolute, or relative to the caller's home) and everything
 * under it.  As xenstore's watches, it fires once at once, then on each
 * change; fn runs only inside vbd_bus_process() or a process() of any
 * object on the bus, never inside this call.  Events of one change may be
 * merged or not: read what you need when fn runs.  0 and *ret (may be NULL
 * when the watch is never removed before the bus goes), -EINVAL for bad
 * arguments, -errno of the daemon (EACCES, ENOSPC for its watch quota,
 * ...), -ENOMEM; err (may be NULL) says why.  When it fails, fn is never
 * called. */
VBD_PUBLIC int vbd_bus_watch_add(vbd_bus *bus, const char *path, vbd_bus_watch_fn fn,
                                 void *userdata, vbd_bus_watch **ret, vbd_errbuf *err);
/* Stops the watch: fn is not called for it again, even for events already
 * queued.  Safe inside any callback, its own included.  Accepts NULL;
 * returns NULL.  A watch left when the bus's last reference goes is
 * removed with it. */
VBD_PUBLIC vbd_bus_watch *vbd_bus_watch_remove(vbd_bus *bus, vbd_bus_watch *w);

/* The value of the node at path, NUL-terminated, in *ret_value (free() it).
 * 0; -ENOENT when there is no such node; -EACCES; -errno of the daemon;
 * -EINVAL for bad arguments.  *ret_value is untouched on failure. */
VBD_PUBLIC int vbd_bus_read(vbd_bus *bus, const char *path, char **ret_value);
/* The names of the children of path, in the daemon's order: *ret_names (an
 * array of *ret_n strings, freed with vbd_bus_names_free()) and *ret_n.
 * 0 (also for a node without children, *ret_n 0); errors as
 * vbd_bus_read().  Both are untouched on failure. */
VBD_PUBLIC int vbd_bus_directory(vbd_bus *bus, const char *path, char ***ret_names,
                                 size_t *ret_n);
/* Frees what vbd_bus_directory() returned.  Accepts NULL. */
VBD_PUBLIC void vbd_bus_names_free(char **names, size_t n);

VBD_END_DECLS

#endif
