/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/dev.h - attach and detach a VBD, and follow it to Connected.
 *
 * Attach writes the frontend, backend and /libxl/<domid>/device/vbd/<devid>
 * nodes as libxl does (tests/golden/libxl-4.17-block-attach.txt), in one
 * transaction; runs the hotplug step (built in, or a script exactly as libxl
 * runs one); then follows both ends until they are Connected (or the point
 * the caller asked for).  Attached is not connected: a device whose ends do
 * not get there within the timeout is rolled back, and the error says why
 * (the script's hotplug-error, a driver's error node, the last states seen).
 *
 * Thread safety: an operation belongs to its context and follows its rule
 * (vbd/ctx.h): calls and callbacks in the one thread using the context at
 * the time.  Several operations may run on one context, and operations on
 * different contexts in different threads at once.
 */
#ifndef VBD_DEV_H
#define VBD_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbd/common.h"
#include "vbd/ctx.h"
#include "vbd/disk.h"
#include "vbd/hotplug.h"

VBD_BEGIN_DECLS

typedef enum vbd_wait_for {
	VBD_WAIT_CONNECTED = 0,   /* both ends Connected (default); InitWait for an
	                           * empty cdrom drive, which never connects */
	VBD_WAIT_INITWAIT,        /* the backend reached InitWait: hotplug done, driver bound */
	VBD_WAIT_NONE,            /* nodes written and hotplug done */
} vbd_wait_for;

/* What an attach or detach in progress does now, for a caller that shows
 * it (vbdctl's line on a terminal).  The library fills one and passes it to
 * the operation's progress callback (the options' progress, version 2):
 * once as each step begins, and again whenever an end's state changes
 * during the wait.  Fields are appended in later versions: a caller reads
 * a field only when p->size covers it. */
typedef enum vbd_dev_step {
	VBD_DEV_STEP_HOTPLUG = 1,     /* the hotplug step runs (add; a detach's remove) */
	VBD_DEV_STEP_WAIT,            /* waiting for both ends (the states below) */
	VBD_DEV_STEP_ROLLBACK,        /* the attach failed: removing what it made */
} vbd_dev_step;

typedef struct vbd_dev_progress {
	size_t size;                  /* sizeof the library's struct */
	vbd_domid domid;              /* the frontend's domain */
	uint32_t devid;
	bool detach;                  /* a detach (else an attach) */
	vbd_dev_step step;
	int backend_state;            /* VBD_STATE_*, -1 absent or not read yet */
	int frontend_state;
	/* What the step waits for, for a person: "both ends Connected",
	 * "the backend in InitWait", "both ends Closed", "the hotplug script
	 * /etc/xen/scripts/block", "domain 3 to remove its backend dir"...
	 * Valid during the call. */
	const char *waiting_for;
} vbd_dev_progress;

/* Called from vbd_ctx_process() only, never after done; it must not free
 * the context. */
typedef void (*vbd_dev_progress_fn)(vbd_ctx *c, const vbd_dev_progress *p, void *userdata);

#define VBD_ATTACH_OPTIONS_VERSION 2

typedef struct vbd_attach_options {
	unsigned version;             /* VBD_ATTACH_OPTIONS_VERSION or older */
	vbd_domid domid;               /* the frontend (guest) domain */
	vbd_domid backend_domid;       /* 0 unless a driver domain serves it */
	const vbd_disk_spec *spec;    /* what to attach; vbd_disk_spec_parse() */
	vbd_wait_for wait;
	unsigned timeout_ms;          /* for the whole attach; 0: 30000 */
	/* Hotplug: NULL runs the built-in step (vbd/hotplug.h); a path runs that
	 * script as libxl does ("add"/"remove", XENBUS_PATH..., 40 s). */
	const char *script;
	unsigned script_timeout_ms;   /* then SIGKILL; 0: 40000, as libxl */
	/* Version 2: what the attach waits for, as it changes (NULL: not told). */
	vbd_dev_progress_fn progress;
	void *progress_userdata;
} vbd_attach_options;

#define VBD_ATTACH_OPTIONS_INIT { .version = VBD_ATTACH_OPTIONS_VERSION }

/* How an attach or detach ended, called from vbd_ctx_process(): result 0 or
 * a negative errno as for the _wait calls; message says why (valid only
 * during the call; also what vbd_ctx_last_error() returns then). */
typedef void (*vbd_dev_done_fn)(vbd_ctx *c, int result, const char *message, void *userdata);

/* Non-blocking attach.  Checks the domains and the target and writes the
 * nodes before it returns; the hotplug step (a script is followed through a
 * pidfd in the context's fd), the wait and any rollback then run from
 * vbd_ctx_process(), and done is called once at the end.  A negative return
 * (the errors below, for what fails before the nodes are written) means
 * nothing was written and done will never be called.  Several operations
 * may be in progress on one context.  vbd_ctx_free() rolls back an attach
 * still in progress, without calling done. */
VBD_PUBLIC int vbd_dev_attach(vbd_ctx *c, const vbd_attach_options *o, vbd_dev_done_fn done,
                              void *userdata);

/* Blocking attach: a thin loop over the context's fd and vbd_ctx_process().
 * 0 on success; on failure every node written is removed, the hotplug
 * remove step runs if add did, and vbd_ctx_last_error() says why:
 * -EEXIST (a device with this vdev exists), -ENOENT (no such domain or
 * target), -EROFS, -EBUSY (sharing), -ETIMEDOUT (an end never got there:
 * the message gives both states), -EIO (a driver wrote an error node, quoted). */
VBD_PUBLIC int vbd_dev_attach_wait(vbd_ctx *c, const vbd_attach_options *o);

#define VBD_DETACH_OPTIONS_VERSION 2

typedef struct vbd_detach_options {
	unsigned version;             /* VBD_DETACH_OPTIONS_VERSION or older */
	vbd_domid domid;
	uint32_t devid;
	unsigned timeout_ms;          /* for the ends to reach Closed; 0: 10000 */
	bool force;                   /* clean up anyway after the timeout */
	/* Version 2: what the detach waits for, as it changes (NULL: not told). */
	vbd_dev_progress_fn progress;
	void *progress_userdata;
} vbd_detach_options;

#define VBD_DETACH_OPTIONS_INIT { .version = VBD_DETACH_OPTIONS_VERSION }

/* Non-blocking detach: asks both ends to close before it returns (a
 * negative return: nothing changed, done never called); the wait, the
 * hotplug remove step and the removal run from vbd_ctx_process().
 * vbd_ctx_free() leaves a detach in progress where it is (vbd_dev_list()
 * shows it; a forced detach finishes it). */
VBD_PUBLIC int vbd_dev_detach(vbd_ctx *c, const vbd_detach_options *o, vbd_dev_done_fn done,
                              void *userdata);

/* Blocking detach: online=0 and state=5 in one transaction, wait for both
 * ends to reach Closed, run the hotplug remove step, delete the frontend,
 * backend and /libxl nodes in one transaction (pruning empty parents).
 * -ENOENT if there is no such device, -ETIMEDOUT if the ends did not close
 * (nothing deleted unless force). */
VBD_PUBLIC int vbd_dev_detach_wait(vbd_ctx *c, const vbd_detach_options *o);

#define VBD_REAP_OPTIONS_VERSION 1

typedef struct vbd_reap_options {
	unsigned version;             /* VBD_REAP_OPTIONS_VERSION or older */
	/* The domain that is gone, or VBD_DOMID_ALL: every domain with a
	 * /libxl copy or a backend dir of ours that no longer exists. */
	vbd_domid domid;
	unsigned timeout_ms;          /* for a backend still running to reach Closed; 0: 10000 */
} vbd_reap_options;

#define VBD_REAP_OPTIONS_INIT { .version = VBD_REAP_OPTIONS_VERSION, .domid = VBD_DOMID_ALL }

/* Non-blocking reap: the devices of a frontend domain that no longer
 * exists are detached as a forced detach does (online=0 and Closing, the
 * wait for Closed where a backend still runs, bounded by timeout_ms, the
 * hotplug remove step by its record, the frontend, backend and /libxl
 * nodes).  The devices are the ones the domain's /libxl copy lists and
 * those in this domain's own backend dir for it, never what the dead
 * domain's directories say.  "No longer exists": libxenlight has no such
 * domain, or says it is dying (destroyed, held only by the grants a
 * backend still maps), where a hypervisor runs; else xenstore says it was
 * never introduced or was released.  All devices are detached at once; done is
 * called once when the last one ended, with 0 or the first failure.
 * A negative return means nothing was started and done is never called:
 * -EINVAL, -EBUSY (domid names a domain that still exists; detach its
 * devices instead), or the -errno of the xenstore read that failed.
 * Reaping a domain with no device left calls done with 0.  vbd_ctx_free()
 * leaves a reap in progress as it leaves a detach. */
VBD_PUBLIC int vbd_dev_reap(vbd_ctx *c, const vbd_reap_options *o, vbd_dev_done_fn done,
                            void *userdata);

/* Blocking reap: a thin loop over vbd_dev_reap(). */
VBD_PUBLIC int vbd_dev_reap_wait(vbd_ctx *c, const vbd_reap_options *o);

/* Following: a reaper reaps every domain that is gone (vbd_dev_reap() with
 * VBD_DOMID_ALL) each time xenstore announces a release (@releaseDomain,
 * which says that a domain went, not which), and once at the start, for
 * what died before.  Releases during a pass make one more pass after it.
 * fn (may be NULL) runs from vbd_ctx_process() after each pass with its
 * result and message, as a done callback.  o->domid must be VBD_DOMID_ALL;
 * o->timeout_ms is each pass's.  -EINVAL, or the -errno of the watch.
 * This is what a long-running agent in dom0 keeps on its context.
 *
 * Thread safety: a vbd_reaper belongs to its context and follows its rule
 * (vbd/ctx.h).  Free it before the context; it may be freed from its own
 * callback.  Freed during a pass, the pass's detaches still finish, untold. */
typedef struct vbd_reaper vbd_reaper;
typedef void (*vbd_reaper_fn)(vbd_reaper *r, int result, const char *message, void *userdata);

VBD_PUBLIC int vbd_reaper_new(vbd_ctx *c, const vbd_reap_options *o, vbd_reaper_fn fn,
                              void *userdata, vbd_reaper **ret);
VBD_PUBLIC vbd_reaper *vbd_reaper_free(vbd_reaper *r);

#define VBD_DEVD_OPTIONS_VERSION 1

typedef struct vbd_devd_options {
	unsigned version;             /* VBD_DEVD_OPTIONS_VERSION or older */
	unsigned script_timeout_ms;   /* a hotplug script is killed after it; 0: 40000 */
	bool no_reap;                 /* in dom0: no vbd_reaper of its own */
	unsigned reap_timeout_ms;     /* the reaper's vbd_reap_options.timeout_ms */
} vbd_devd_options;

#define VBD_DEVD_OPTIONS_INIT { .version = VBD_DEVD_OPTIONS_VERSION }

/* The hotplug daemon of the domain the context acts as (its home's domid):
 * what xl devd is for a libxl driver domain, and in dom0 what makes udev
 * optional.  It watches <home>/backend/vbd and <home>/backend/vbd3 (tap
 * disks) and, for each backend:
 * - online=1, state Initialising or InitWait, no hotplug-status: the ADD
 *   step (the built-in one, vbd_hotplug_builtin(), when the device's script
 *   is vbd-block or absent; else the script, run as libxl runs it);
 * - online=0 and Closed: the REMOVE step, then, in a driver domain, the
 *   backend dir is removed (dom0's detach waits for that);
 * - gone: the built-in REMOVE when this domain holds a record of its ADD.
 * A script that fails without writing hotplug-status gets
 * hotplug-error=<its message> and hotplug-status=error.
 * In dom0 the script of a device that is not vbd-block is the toolstack's
 * to run (libxl's, or vbdctl attach's), read from the /libxl copy: devd
 * leaves such devices alone.  In dom0 it also keeps a vbd_reaper (unless
 * o->no_reap): devices of domains that die are torn down.
 * The watch's first event makes a pass over every backend, so a devd
 * started after another one stopped finishes what that one left: plugged
 * backends (hotplug-status present) are left alone, offline Closed ones get
 * REMOVE, and so do those whose dir went while no devd ran: this domain's
 * records of its ADDs (/libvbd in dom0, data/libvbd in a driver domain)
 * name them; REMOVE deletes the record, so it runs once.  The built-in ADD claims its backend in a transaction, so a
 * vbdctl attach or udev running it at the same time is safe.
 * fn (may be NULL) runs from vbd_ctx_process() after each step devd ran:
 * be_path (NULL for a reaper's pass), the step, its result (0 or -errno)
 * and message.  Returns 0, -EINVAL, or the -errno of the watch or of
 * finding this domain's id.
 *
 * Thread safety: a vbd_devd belongs to its context and follows its rule
 * (vbd/ctx.h).  Free it before the context, and not from its own callback;
 * a script still running is killed, and runs again under the next devd. */
typedef struct vbd_devd vbd_devd;
typedef void (*vbd_devd_fn)(vbd_devd *d, const char *be_path, vbd_hotplug_action action,
                            int result, const char *message, void *userdata);

VBD_PUBLIC int vbd_devd_new(vbd_ctx *c, const vbd_devd_options *o, vbd_devd_fn fn,
                            void *userdata, vbd_devd **ret);
VBD_PUBLIC vbd_devd *vbd_devd_free(vbd_devd *d);

VBD_END_DECLS

#endif
