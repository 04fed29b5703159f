/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/verify.h - the handshake verifier: checks a device's two ends against
 * the rules of the blkif xenstore protocol (xen/io/blkif.h, docs/protocol.md).
 *
 * Rules, each reported by name with the node and the values seen:
 *   state-value          a state is a number 0..8
 *   backend-transition   the backend goes only forward (states may be skipped,
 *   frontend-transition  since a watcher can miss fast steps), to Closing or
 *                        Closed from anywhere, or back for a reconnect
 *                        (backend Closed -> InitWait, frontend Closed -> Initialising)
 *   frontend-early       the frontend is Initialised/Connected while the
 *                        backend has not reached InitWait
 *   backend-early        the backend is Connected while the frontend is before
 *                        Initialised (Mini-OS's skip from 1 to 4 is allowed)
 *   connect-keys         a Connected backend publishes sectors, info and
 *                        sector-size (a power of two >= 512), as numbers
 *   ring-keys            an Initialised/Connected frontend has its ring keys:
 *                        ring-ref, or ring-ref0..N-1 for ring-page-order (within
 *                        max-ring-page-order), per queue-<n>/ for
 *                        multi-queue-num-queues (within multi-queue-max-queues),
 *                        and event-channel
 *   protocol             x86_32-abi, x86_64-abi or arm-abi
 *   physical-device      hex major:minor
 *   hotplug-status       connected, error or busy
 *   online               0 or 1
 *
 * Thread safety: a vbd_verifier belongs to its context and follows its
 * rule (vbd/ctx.h); its callback runs inside vbd_ctx_process().  Free it
 * before the context.
 */
#ifndef VBD_VERIFY_H
#define VBD_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "vbd/common.h"
#include "vbd/ctx.h"

VBD_BEGIN_DECLS

typedef struct vbd_violation {
	const char *rule;       /* one of the names above */
	char node[192];         /* the node involved */
	char detail[256];       /* what was seen, and what the rule wants */
} vbd_violation;

/* Checks the device's nodes as they are now (every rule but the two
 * transition rules).  *ret (may be NULL when none; free it with
 * vbd_violation_free()) and *ret_n get the violations: 0 of them means the
 * device passes.  -ENOENT if there is no such device. */
VBD_PUBLIC int vbd_dev_verify(vbd_ctx *c, vbd_domid domid, uint32_t devid,
                              vbd_violation **ret, size_t *ret_n);

/* What one look at a device could not see of how it came to be as it is.
 * A struct the library fills: set size first (vbd/common.h). */
typedef struct vbd_verify_history {
	size_t size;
	int backend_state, frontend_state;   /* as read: -1 absent */
	/* As vbd_verify_event.unseen, from (none) to the state read: the states
	 * of each end's way that it must have passed and nobody here saw. */
	unsigned backend_unseen, frontend_unseen;
	unsigned unobserved;      /* transitions not observed: both masks' bits */
} vbd_verify_history;

/* As vbd_dev_verify(), and *ret_history (may be NULL) says how much of the
 * device's history this one look saw.  It reads the nodes as they are, so
 * a device past Initialising came there through states it did not see,
 * and the transition rules could not be checked on them: then unobserved
 * is not 0, and no violation is not a pass (vbdctl verify says
 * "incomplete").  Only a device whose ends are both Initialising (or
 * absent) was seen whole. */
VBD_PUBLIC int vbd_dev_verify_history(vbd_ctx *c, vbd_domid domid, uint32_t devid,
                                      vbd_violation **ret, size_t *ret_n,
                                      vbd_verify_history *ret_history);
/* Frees what vbd_dev_verify() returned.  Accepts NULL; returns NULL. */
VBD_PUBLIC vbd_violation *vbd_violation_free(vbd_violation *v, size_t n);

/* Following: every change of the VBDs of domid (VBD_DOMID_ALL: all) is checked as it
 * happens, the transition rules included.  fn runs from vbd_ctx_process()
 * for each change of a state (old -1 when first seen) and for each
 * violation (v non-NULL). */
typedef struct vbd_verifier vbd_verifier;
typedef void (*vbd_verify_fn)(vbd_domid domid, uint32_t devid, const char *side, int old_state,
                              int new_state, const vbd_violation *v, void *userdata);

VBD_PUBLIC int vbd_verifier_new(vbd_ctx *c, vbd_domid domid, vbd_verify_fn fn, void *userdata,
                                vbd_verifier **ret);

/* What a follower reports: a state it read, or a violation (v non-NULL).
 *
 * A watch event says that a node changed, never to what: the follower reads
 * the states after the events, and an end may have moved on more than one
 * step by then.  It never passes over what it did not see.  writes is the
 * number of writes of the end's state node since the previous read (one
 * per event); unseen has bit s set for each state s of the end's way
 * through the protocol (backend Initialising, InitWait, Connected, Closing,
 * Closed; frontend Initialising, Initialised, Connected, Closed) that lies
 * between old_state and new_state and was not read: states before the first
 * read (every end starts Initialising), writes before a removal, states
 * passed by when several writes fell between two reads.  Writes between two
 * reads that gave the same value are reported with old_state == new_state
 * and the count in writes (both -1: a device created and removed in
 * between; a read that ran ahead of its events is found out this way, and
 * then unseen names the states its step passed by).  unseen is 0 when the
 * step from old_state to new_state is all that happened (one write). */
typedef struct vbd_verify_event {
	vbd_domid domid;
	uint32_t devid;
	const char *side;         /* "backend" or "frontend" */
	int old_state;            /* -1: none yet */
	int new_state;            /* -1: gone */
	unsigned writes;
	unsigned unseen;          /* 1u << state, for each state not read */
	const vbd_violation *v;   /* non-NULL: a violation, not a state */
	/* Transitions this report says were not observed: the bits of unseen,
	 * or, when it read the same value on both sides, the writes in
	 * between.  A device whose reports add up to more than 0 was not seen
	 * whole: no violation then is not a pass. */
	unsigned unobserved;
	/* Added with the change stream (below); a follower that reads the
	 * store after watch events knows neither: writer -1, seq and time_ns 0. */
	int writer;               /* domid that wrote the change reported; -1 unknown */
	uint64_t seq;             /* the change's place in its stream; 0 unknown */
	int64_t time_ns;          /* when it was committed, ns since the epoch; 0 unknown */
} vbd_verify_event;

typedef void (*vbd_verify_event_fn)(const vbd_verify_event *e, void *userdata);

/* As vbd_verifier_new(), with every report as an event.  vbd_verifier_new()'s
 * callback gets the changes of a state and the violations, not the gaps. */
VBD_PUBLIC int vbd_verifier_follow(vbd_ctx *c, vbd_domid domid, vbd_verify_event_fn fn, void *userdata,
                                   vbd_verifier **ret);
VBD_PUBLIC vbd_verifier *vbd_verifier_free(vbd_verifier *v);

/* ---- Judging a device's whole history: the change stream ----
 *
 * A follower that reads after watch events sees a late state, not each
 * value (above).  A source that gives every committed change, in commit
 * order, with its value and the domain that wrote it, lets the checker
 * judge the real sequence: the embedded store's trace (a dom0 client
 * subscribes; vbd_verifier_follow() uses it when the store offers it), or
 * a xenstored log replayed (vbdctl verify --log).  The checker keeps its
 * own copy of each device's two directories, built from the changes alone,
 * and runs every rule above at each change, and one more:
 *
 *   writer               each end's state is written by that end's domain;
 *                        the toolstack's domain writes only Initialising
 *                        when it creates an end, and the backend's Closing
 *                        (and Closed once the backend's domain is gone)
 *                        when it removes a device
 */
typedef enum vbd_change_op {
	VBD_CHANGE_WRITE = 1,     /* path has value (created or changed) */
	VBD_CHANGE_MKDIR,         /* path exists (created empty if it was absent) */
	VBD_CHANGE_RM,            /* path and everything under it are gone */
	VBD_CHANGE_LOST,          /* the source lost lost changes here */
} vbd_change_op;

typedef struct vbd_change {
	vbd_change_op op;
	const char *path;         /* absolute */
	const char *value;        /* WRITE: value_len bytes, not terminated */
	size_t value_len;
	int writer;               /* domid of the writing connection; -1 unknown */
	uint64_t seq;             /* order in the source; 0 unknown */
	int64_t time_ns;          /* commit time, ns since the epoch; 0 unknown */
	uint64_t lost;            /* LOST: how many changes the source dropped */
	/* Nonzero: the next change belongs to the same commit (a transaction's
	 * writes).  The rules on the nodes then run after the commit's last
	 * change, on what a reader could have seen; the transition and writer
	 * rules run at each change.  0 (every change its own commit) is always
	 * safe. */
	int more;
} vbd_change;

typedef struct vbd_checker vbd_checker;

/* A checker of the VBDs of domid (VBD_DOMID_ALL: all) fed by
 * vbd_checker_feed(); fn gets every report as an event, in order, with
 * writer, seq and time_ns of the change that caused it.  toolstack_domid
 * is the domain whose writes are the toolstack's (0 on most hosts). */
VBD_PUBLIC int vbd_checker_new(vbd_domid domid, vbd_domid toolstack_domid, vbd_verify_event_fn fn,
                               void *userdata, vbd_checker **ret);
/* One change, in the source's order.  -EINVAL for a change that is not one
 * (no path, unknown op); changes outside any VBD are ignored. */
VBD_PUBLIC int vbd_checker_feed(vbd_checker *k, const vbd_change *ch);

/* What the checker saw: set size first (vbd/common.h). */
typedef struct vbd_checker_summary {
	size_t size;
	unsigned devices;         /* devices seen */
	unsigned violations;      /* violations reported */
	unsigned unobserved;      /* transitions it knows it did not see */
	uint64_t lost;            /* changes the source said it lost */
} vbd_checker_summary;
VBD_PUBLIC int vbd_checker_summary_get(const vbd_checker *k, vbd_checker_summary *ret);
VBD_PUBLIC vbd_checker *vbd_checker_free(vbd_checker *k);

/* ---- Replaying a xenstored log into a checker ----
 *
 * Xen's own xenstored can log what it is asked: the C xenstored's trace
 * (xenstored -T FILE, or xenstore-control logfile FILE and log on) and
 * oxenstored's access log.  A vbd_xslog reads one (bytes in any pieces, as
 * read from the file) and feeds the checker the committed changes, in
 * commit order, each with the domain of the connection that made it:
 * writes inside a transaction at its successful end, nothing of an aborted
 * or failed one, nothing of a request answered with an error.  What the
 * log cannot tell (a value cut short, a connection whose domain it never
 * named, a transaction whose end it never showed) is counted in unknown
 * and fed to the checker as lost, so the history is then not whole.
 * docs/protocol.md describes both formats and their limits. */
typedef enum vbd_xslog_format {
	VBD_XSLOG_AUTO = 0,       /* recognised from the first lines */
	VBD_XSLOG_CXENSTORED,     /* the C xenstored's trace */
	VBD_XSLOG_OXENSTORED,     /* oxenstored's access log */
} vbd_xslog_format;

typedef struct vbd_xslog vbd_xslog;

/* A reader that feeds k (which must outlive it). */
VBD_PUBLIC int vbd_xslog_new(vbd_checker *k, vbd_xslog_format format, vbd_xslog **ret);
/* The next len bytes of the log.  -EINVAL when the format was given as
 * AUTO and the first lines are of neither. */
VBD_PUBLIC int vbd_xslog_feed(vbd_xslog *x, const char *buf, size_t len);

/* What the replay read: set size first (vbd/common.h). */
typedef struct vbd_xslog_summary {
	size_t size;
	vbd_xslog_format format;  /* as recognised */
	uint64_t lines;           /* lines read */
	uint64_t changes;         /* committed changes fed to the checker */
	uint64_t unparsed;        /* lines that are no record of either format */
	uint64_t unknown;         /* things the log could not tell (above) */
	uint64_t first_unparsed;  /* the first of the unparsed lines (from 1); 0: none */
} vbd_xslog_summary;

/* The end of the log: what is still waiting for an answer the log does not
 * hold is unknown.  Then fills *ret (may be NULL). */
VBD_PUBLIC int vbd_xslog_finish(vbd_xslog *x, vbd_xslog_summary *ret);
VBD_PUBLIC vbd_xslog *vbd_xslog_free(vbd_xslog *x);

VBD_END_DECLS

#endif
