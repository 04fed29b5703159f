/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of vbd_ctx: the toolstack's context on a bus (lib/xenbus): its
 * watches, deadlines and fds with callbacks that get the context, cleanup
 * hooks, the error buffer.
 */
#ifndef VBD_LIB_CTX_H
#define VBD_LIB_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <xenstore.h>

#include "util/err.h"
#include "vbd/ctx.h"
#include "xenbus/xenbus.h"

/* The context's watches, timers and followed fds live on its bus
 * (lib/xenbus); these wrap them so that callbacks get the context. */
typedef struct vbd__watch vbd__watch;
typedef void (*vbd__watch_fn)(vbd_ctx *c, const char *path, void *ud);
typedef struct vbd__timer vbd__timer;
typedef struct vbd__io vbd__io;

typedef struct vbd_dev_op vbd_dev_op;
typedef struct vbd__reap vbd__reap;

/* Run by vbd_ctx_free(), last registered first, before the bus goes. */
typedef void (*vbd__ctx_cleanup_fn)(vbd_ctx *c);
#define VBD__CTX_CLEANUPS 4

#define VBD__DEV_OPIDX 256          /* buckets of the operations' index */

struct vbd_ctx {
	vbd_bus *bus;               /* its own, or the one the options gave */
	struct xs_handle *xs;       /* the bus's request connection */
	vbd_errbuf err;
	void (*log)(int level, const char *msg, void *ud);
	void *log_ud;
	vbd__watch *watches;        /* this context's entries on the bus */
	vbd__timer *timers;
	vbd__io *ios;
	unsigned ndead;             /* entries marked dead, freed by reap() */
	int depth;                  /* inside one of its callbacks: defer frees */
	vbd__ctx_cleanup_fn cleanups[VBD__CTX_CLEANUPS];
	unsigned ncleanups;
	vbd_dev_op *ops;            /* attaches and detaches in progress */
	/* The same, found by the dirs their waits follow (dev_op.c): a kept
	 * watch's event goes to its device's operations only. */
	struct vbd__dev_opkey *opidx[VBD__DEV_OPIDX];
	struct vbd__dev_kept *kept; /* their waits' watches, kept (dev_opidx.c), */
	unsigned kept_serial;       /* each numbered when made */
	bool own_known;             /* own_domid read once: a connection's */
	unsigned own_domid;         /* domain does not change (domain.c) */
	vbd__reap *reaps;           /* reaps in progress (dev_reap.c) */
	bool host_xenstore;         /* the host's xenstored, not a chosen socket */
	bool lx_tried;
	void *lx, *lx_logger;       /* libxenlight, where a hypervisor runs (domain.c) */
	/* Test seam: libxl's userdata files in this directory, for a domain of
	 * this uuid (default "test"), with no libxenlight (libxl_cfg.c). */
	const char *lxcfg_dir, *lxcfg_uuid;
	/* Test seam: run inside the verifier's transaction over one device,
	 * between its state reads and its key reads (verify.c). */
	void (*verify_window)(const char *be, void *ud);
	void *verify_window_ud;
};

void vbd__log(vbd_ctx *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Registers a watch; fn runs from vbd_ctx_process() for each event,
 * including the first one xenstore sends at once. */
int vbd__ctx_watch(vbd_ctx *c, const char *path, vbd__watch_fn fn, void *ud, vbd__watch **ret);
void vbd__ctx_unwatch(vbd_ctx *c, vbd__watch *w);
int vbd__ctx_timer(vbd_ctx *c, uint64_t deadline_ms, void (*fn)(vbd_ctx *, void *), void *ud,
                   vbd__timer **ret);
void vbd__ctx_timer_cancel(vbd_ctx *c, vbd__timer *t);
/* Follows fd (POLLIN) through the context's fd; fn runs from process(). */
int vbd__ctx_io(vbd_ctx *c, int fd, void (*fn)(vbd_ctx *, int, void *), void *ud, vbd__io **ret);
void vbd__ctx_io_cancel(vbd_ctx *c, vbd__io *io);
/* The domain the context's connection acts as (lib/toolstack/domain.c). */
int vbd__ctx_own_domid(vbd_ctx *c, unsigned *ret_domid);
/* The context's libxenlight handle (a libxl_ctx *), made on first use;
 * NULL where no hypervisor runs or the context is not the host's
 * xenstored (domain.c). */
void *vbd__ctx_libxl(vbd_ctx *c);
/* 1 if domain domid no longer exists (libxenlight has no such domain
 * where a hypervisor runs; else the store says it is not introduced), 0 if
 * it does, -errno (message in c->err) if neither could say.  Dom0 is never
 * gone. */
int vbd__domain_gone(vbd_ctx *c, unsigned domid);
/* Registers fn to run from vbd_ctx_free() (once however often it is
 * registered): what a file of the toolstack keeps in the context and must
 * undo.  0 or -ENOSPC. */
int vbd__ctx_on_free(vbd_ctx *c, vbd__ctx_cleanup_fn fn);

/* The backend's kind: backend/vbd (phy, blkback) or backend/vbd3 (tap, a
 * userspace backend), as libxl names them. */
typedef enum vbd__dev_kind {
	VBD__KIND_VBD = 0,
	VBD__KIND_VBD3,
} vbd__dev_kind;

const char *vbd__dev_kind_name(vbd__dev_kind kind);

/* Where a device lives.  libxl's /libxl copy names the backend domain
 * (XSA-178: never the backend's own keys); without a copy, dom0.  The paths
 * follow from the ids.  -errno if xenstore could not say. */
typedef struct vbd__dev_loc {
	unsigned bdom;
	vbd__dev_kind kind;      /* from the copy's backend path; no copy: the dir there */
	bool in_libxl;           /* the copy exists */
	char be[96], fe[96];
} vbd__dev_loc;

int vbd__dev_locate(vbd_ctx *c, unsigned domid, uint32_t devid, vbd__dev_loc *ret);
/* The same from the copy's backend value, read already (NULL: no copy). */
int vbd__dev_locate_from(vbd_ctx *c, unsigned domid, uint32_t devid, const char *be,
                         vbd__dev_loc *ret);

#endif
