/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Between the files of the device operations: dev.c (the entry points),
 * dev_nodes.c (libxl's key layout and the transactions on it), dev_op.c
 * (an operation's steps after its start) and dev_validate.c (the checks of
 * an attach's input).  Nothing outside them includes this.
 */
#ifndef VBD_LIB_DEV_INTERNAL_H
#define VBD_LIB_DEV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <xenstore.h>

#include "toolstack/ctx.h"
#include "toolstack/script.h"
#include "util/err.h"
#include "vbd/dev.h"
#include "vbd/hotplug.h"

/* A device's directories and the drivers' error nodes. */
typedef struct vbd__dev_paths {
	vbd__dev_kind kind;
	char be[96], fe[96], lx[96];
	char be_err[128], fe_err[128];
} vbd__dev_paths;

void vbd__dev_paths_init(vbd__dev_paths *p, vbd__dev_kind kind, unsigned bdom, unsigned dom,
                         uint32_t devid);

/* ---- the nodes (dev_nodes.c); each sets c->err on failure ---- */

/* Records more of the nodes' transaction: reads its writes were decided on
 * in chk (vbd__xb_batch_same: sent first), the writes in wr (sent last).
 * 0 or -errno. */
typedef int (*vbd__dev_also_fn)(vbd__xb_batch *chk, vbd__xb_batch *wr, void *ud);
/* One transaction, its requests pipelined: the three dirs in libxl's
 * layout, after checking that none exists (-EEXIST otherwise); stale error
 * nodes at the path go; then also's if not NULL (the built-in hotplug ADD,
 * vbd__hp_add_batch), made again from its reads when one of them is
 * answered otherwise in the transaction; also's failure the caller puts
 * into words. */
int vbd__dev_write_nodes(vbd_ctx *c, const vbd_attach_options *o, const vbd__dev_paths *p,
                         const char *params, const char *script, vbd__dev_also_fn also,
                         void *also_ud);
/* One transaction: the three dirs, both error nodes, empty parents. */
int vbd__dev_remove_nodes(vbd_ctx *c, const vbd__dev_paths *p);
/* Its body, in transaction t (paths: a vbd__dev_paths): for the built-in
 * hotplug REMOVE to end its own transaction with (vbd__hp_known). */
int vbd__dev_remove_nodes_in(struct xs_handle *xs, xs_transaction_t t, void *paths);
/* The same as a part of a pipelined transaction (vbd__xb_part): its parents
 * listed in one window, its removals planned from them in the next
 * (dev_nodes.c).  vbd__dev_rm_part() fills pl (which holds the listings)
 * and *ret for p; vbd__dev_rm_plan_free() frees what pl holds. */
#define VBD__DEV_RM_PATHS 5
#define VBD__DEV_RM_ANC 8
struct vbd__dev_rm_anc {
	char dir[128];
	vbd__xb_list list;
	bool value_read;            /* a guest's dir: its value read too */
	bool has_value;             /* and it has one: kept */
};
struct vbd__dev_rm_path {
	const char *path;
	bool cut;                   /* more parents than were listed */
	unsigned nanc;              /* its parents the prune may remove, nearest first */
	struct vbd__dev_rm_anc anc[VBD__DEV_RM_ANC];
};
typedef struct vbd__dev_rm_plan {
	const vbd__dev_paths *p;
	char be_err[128], fe_err[128];
	struct vbd__dev_rm_path path[VBD__DEV_RM_PATHS];
} vbd__dev_rm_plan;
void vbd__dev_rm_part(vbd__dev_rm_plan *pl, const vbd__dev_paths *p, vbd__xb_part *ret);
void vbd__dev_rm_plan_free(vbd__dev_rm_plan *pl);
/* One transaction: online=0 and, unless Closed, state=Closing; the state it
 * found in *ret_state if not NULL (-1: absent or not a number). */
int vbd__dev_close_backend(vbd_ctx *c, const vbd__dev_paths *p, int *ret_state);

/* The detach of a reap (dev_reap.c): which ends' domains are gone. */
enum {
	VBD__GONE_FE = 1,           /* the frontend's domain */
	VBD__GONE_BE = 2,           /* the backend's domain (a driver domain) */
};
/* One transaction that asks a device with a gone end to close, as the
 * drivers left alive can see it (docs/protocol.md, "Domains that die"):
 *   VBD__GONE_BE: a backend dir still there gets online=0 and state=Closed
 *     (nobody serves it any more), which a frontend follows to Closed;
 *   VBD__GONE_FE: online=0, state=Closing, then the frontend dir removed,
 *     so that a backend still listening sees its frontend vanish after
 *     the Closing (Linux blkback answers that with Closed, never before).
 * *ret_be and *ret_fe say whether each dir was there. */
int vbd__dev_close_gone(vbd_ctx *c, const vbd__dev_paths *p, unsigned gone, bool *ret_be,
                        bool *ret_fe);

/* ---- the checks of an attach's input (dev_validate.c) ---- */

/* 0 and the params node's value in *ret_params (malloc'd), or -errno with
 * the message in c->err.  Nothing is written. */
int vbd__dev_validate(vbd_ctx *c, const vbd_attach_options *o, bool foreign, char **ret_params);
/* Whether the frontend domain's existence is checked in the nodes'
 * transaction (its home read in the first window) instead of before it:
 * where xenstore is what says a domain exists (no libxenlight), a round
 * trip fewer, and the check holds until the commit. */
bool vbd__dev_home_in_txn(vbd_ctx *c, unsigned domid);

/* ---- one operation in progress (dev_op.c) ---- */

/* Everything after the synchronous start runs from vbd_ctx_process(): the
 * hotplug step (a script is followed through its pidfd), the wait for both
 * ends, the rollback.  One struct per operation holds all its state. */
struct vbd_dev_op {
	vbd_dev_op *next;
	vbd_ctx *c;
	bool detach;
	vbd__dev_paths p;
	unsigned bdom;
	char *script;               /* NULL: built in */
	char *params;               /* attach: the params node as written (the built-in step's) */
	bool readonly, cdrom;       /* attach: the mode and device-type as written */
	unsigned script_timeout_ms;
	unsigned timeout_ms;
	vbd_wait_for goal;          /* attach */
	bool force;                 /* detach */
	bool bound;                 /* detach: a driver answered; wait for Closed */
	bool plugged;               /* attach: add ran (or may have): remove must */
	bool added;                 /* attach: the built-in add was in the nodes' transaction */
	bool nodes_gone;            /* the built-in REMOVE's transaction removed the nodes */
	bool foreign;               /* the backend's domain is not ours: it runs hotplug */
	unsigned gone;              /* detach: VBD__GONE_*, from a reap */
	bool grace;                 /* detach: its deadline is a grace, not a failure */
	bool rolling_back;
	bool waiting;
	int be_state, fe_state;
	int result;                 /* the first failure */
	vbd_errbuf err;
	vbd__watch *wb;             /* the gone-wait's (a foreign backend's dir) */
	struct vbd__dev_kept *kept[4];  /* the wait's: the dirs' parents, kept by the context */
	/* The four dirs whose events are this operation's, in the context's
	 * index from launch to free: the backend's and the frontend's, and the
	 * error nodes' (error/<nodename>, each holding its error). */
	struct vbd__dev_opkey {
		struct vbd__dev_opkey *next;
		vbd_dev_op *op;
		const char *dir;
	} keys[4];
	bool indexed;
	char be_errdir[128], fe_errdir[128];
	unsigned kept_serial;       /* the context's kept watches made before launch: serial <= */
	bool be_known;              /* detach: be_state is what its close found or wrote */
	vbd__timer *timer, *defer;
	vbd__timer *recheck;        /* check() once after a burst of events */
	unsigned dirty;             /* DIRTY_*: what changed since check() read it */
	/* An attach: the bus's replies before the one to the commit of its
	 * nodes (VBD__XB_NO_EVENT: none known); the events taken before that
	 * reply tell of what it wrote, or of what it overwrote. */
	uint64_t nodes_seen;
	vbd__script *job;
	void (*wait_done)(vbd_dev_op *, int);       /* the wait's end (dev_wait.c) */
	void (*gone_next)(vbd_ctx *, int, void *);  /* foreign: after the backend dir went */
	void *gone_ud;
	vbd_dev_done_fn done;
	void *ud;
	/* What is reported to progress (vbd/dev.h), and what was last, so
	 * that a burst of events that changes nothing is not reported. */
	vbd_domid domid;
	uint32_t devid;
	vbd_dev_progress_fn progress;
	void *progress_ud;
	vbd_dev_step told_step;
	int told_be, told_fe;
};


/* vbd_dev_detach() with gone = VBD__GONE_* for a reap's device: the
 * options already loaded. */
int vbd__dev_detach(vbd_ctx *c, const vbd_detach_options *o, unsigned gone, vbd_dev_done_fn done,
                    void *ud);

int vbd__dev_op_new(vbd_ctx *c, bool detach, vbd_dev_done_fn done, void *ud, vbd_dev_op **ret);
/* The context's index of its operations by dir (dev_opidx.c): added at
 * launch, taken out at free (idempotent). */
void vbd__dev_op_index(vbd_dev_op *op);
void vbd__dev_op_unindex(vbd_dev_op *op);
/* The operations an event at path, from a watch on watched, is for: up to
 * VBD__DEV_FOUND_MAX in hit, and their count; -1 if there are more. */
#define VBD__DEV_FOUND_MAX 16
int vbd__dev_op_find(vbd_ctx *c, const char *watched, const char *path,
                     vbd_dev_op *hit[VBD__DEV_FOUND_MAX]);
/* Starts the rest from the loop; the operation is then the ctx's, and
 * cancel_all (dev.c's vbd__dev_ops_cancel) runs at vbd_ctx_free(). */
int vbd__dev_op_launch(vbd_dev_op *op, void (*cancel_all)(vbd_ctx *));
/* Cancels the operations in progress without callbacks, from vbd_ctx_free()
 * (registered by vbd__dev_op_launch). */
void vbd__dev_ops_cancel(vbd_ctx *c);

/* The blocking forms (vbd_dev_*_wait): vbd__dev_sync_done is the done
 * callback that fills a vbd__dev_sync, vbd__dev_sync_loop runs the
 * context's loop until it is done and returns its result. */
struct vbd__dev_sync {
	bool done;
	int result;
};
void vbd__dev_sync_done(vbd_ctx *c, int result, const char *msg, void *ud);
int vbd__dev_sync_loop(vbd_ctx *c, struct vbd__dev_sync *sw);
/* Nothing of the operation runs any more: no wait, no pending step, no
 * script (killed).  Idempotent. */
void vbd__dev_op_stop(vbd_dev_op *op);
void vbd__dev_op_free(vbd_dev_op *op);
/* The device leaves its guest's saved libxl configuration (libxl_cfg.c):
 * after its nodes are removed.  Best effort, warnings only. */
void vbd__dev_forget_cfg(vbd_dev_op *op);
/* The hotplug step, either way, then next(c, result, ud); see dev_op.c. */
void vbd__dev_hotplug(vbd_dev_op *op, vbd_hotplug_action action,
                      void (*next)(vbd_ctx *, int, void *), void *ud);
/* A state: -1 if the node is absent (or not a number), -errno if xenstore
 * could not say.  No caller may take "could not say" for "absent". */
int vbd__dev_read_state(vbd_ctx *c, const char *dir);
/* A step of one operation run from the loop (an event, a timer) starts
 * with the context's message empty: it holds whatever another operation
 * last reported, and vbd__errf keeps an earlier message as the cause, so
 * two operations failing together chained each other's reasons. */
void vbd__dev_op_fresh(vbd_ctx *c);
/* Tells the caller's progress callback the operation's step (dev_wait.c;
 * the steps, dev_op.c, tell theirs through it too). */
void vbd__dev_op_progress(vbd_dev_op *op, vbd_dev_step step);
/* The wait for both ends (watches, a deadline): 0 or -errno; then
 * done(op, result) once, from the loop (dev_op.c's end of the wait).
 * vbd__dev_wait_stop() ends it without a word. */
int vbd__dev_wait_start(vbd_dev_op *op, void (*done)(vbd_dev_op *, int));
void vbd__dev_wait_stop(vbd_dev_op *op);
/* The wait for a backend in another domain to remove its dir: then
 * next(c, 0 or -ETIMEDOUT, ud). */
int vbd__dev_gone_wait_start(vbd_dev_op *op, void (*next)(vbd_ctx *, int, void *), void *ud);
/* An event of a kept watch, for one operation of the device it is under. */
typedef void (*vbd__dev_tell_fn)(vbd_ctx *c, const char *path, vbd_dev_op *op);
/* The watches of the waits, kept by the context (dev_opidx.c): one per
 * watched dir, its users counted; a released one stays, up to a few idle.
 * Its events go to tell (dev_op.c's) for each operation of the device
 * they are under. */
typedef struct vbd__dev_kept {
	struct vbd__dev_kept *next;
	vbd_ctx *c;
	vbd__watch *w;
	vbd__dev_tell_fn tell;
	unsigned users;             /* waits using it */
	unsigned serial;            /* made after an operation's launch: new to it */
	char path[];
} vbd__dev_kept;
int vbd__dev_kept_get(vbd_ctx *c, const char *path, vbd__dev_tell_fn tell,
                      vbd__dev_kept **ret);
void vbd__dev_kept_put(vbd_ctx *c, vbd__dev_kept *k);
/* vbd_ctx_free(): the watches the context kept for its waits go. */
void vbd__dev_kept_free(vbd_ctx *c);

#endif
