/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Several transport calls as one (vbd__xport_run()), for the bundled
 * drivers: a ring's setup in one round trip on the simulated hypervisor.
 * The rest of the seam is in xport.h.
 */
#ifndef VBD_LIB_TRANSPORT_RUN_H
#define VBD_LIB_TRANSPORT_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "vbd/transport.h"

/* The operations that can be made to fail, by name, for vbd__xport_fail(). */
#define VBD__XOPS(X) \
	X(SHARE, "share") \
	X(UNSHARE, "unshare") \
	X(MAP, "map") \
	X(UNMAP, "unmap") \
	X(EVTCHN_OPEN, "evtchn_open") \
	X(ALLOC_UNBOUND, "alloc_unbound") \
	X(BIND_INTERDOMAIN, "bind_interdomain") \
	X(UNBIND, "unbind") \
	X(NOTIFY, "notify") \
	X(PENDING, "pending") \
	X(UNMASK, "unmask")

enum {
#define X(e, s) VBD__XOP_##e,
	VBD__XOPS(X)
#undef X
	VBD__XOP_COUNT
};

/* One operation of vbd__xport_run(), with the arguments and results of the
 * call of the same name (vbd/transport.h). */
typedef struct vbd__xop {
	int op;                   /* VBD__XOP_SHARE, _MAP, _ALLOC_UNBOUND, _BIND_INTERDOMAIN */
	vbd_evtchn *e;            /* ALLOC_UNBOUND, BIND_INTERDOMAIN: the handle */
	unsigned domid;           /* the grantee, the granter, the remote domain */
	unsigned count;           /* SHARE, MAP: pages */
	bool writable;            /* SHARE, MAP */
	uint32_t *refs;           /* SHARE: out [count]; MAP: in [count] */
	void **addr;              /* SHARE, MAP: out */
	uint32_t remote_port;     /* BIND_INTERDOMAIN */
	uint32_t *port;           /* ALLOC_UNBOUND, BIND_INTERDOMAIN: out */
} vbd__xop;

/* Runs ops[0..n) as one call: 0 with every op done, or the first failure
 * (its index in *ret_failed) with none of them done, what was done undone
 * and the results undefined.  Each op is checked and counted by the fault
 * seam as its own call, in order; a fault stops the run before anything
 * is done.  Where the implementation has run (the simulated hypervisor:
 * the requests pipelined, one round trip), that; else one call after the
 * other (on Xen each is an ioctl, no round trip to save).  A ring's setup
 * (blkfront: share + alloc per queue; blkback: map + bind per ring). */
#define VBD__XOP_RUN_MAX 64u
int vbd__xport_run(vbd_xport *x, vbd__xop *ops, unsigned n, unsigned *ret_failed);

#endif
