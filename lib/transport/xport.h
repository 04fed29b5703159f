/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transport seam inside the library: one ops table per implementation
 * (sim.c, xen.c), the dispatch in xport.c that checks arguments and injects
 * faults, and the internal hooks of the simulated hypervisor that tests and
 * the fuzzer use.
 */
#ifndef VBD_LIB_TRANSPORT_XPORT_H
#define VBD_LIB_TRANSPORT_XPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbd/simhv.h"
#include "vbd/transport.h"

#include "transport/run.h"

/* Undoes a done op of a run: the call that ends what it made (unshare,
 * unmap, unbind), without the fault check.  For implementations' run. */
void vbd__xop_undo(vbd_xport *x, const vbd__xop *o);

/* One implementation.  Arguments are checked before these are called; the
 * results follow vbd/transport.h.  close_port is unbind without the fault
 * check (teardown).  run may be NULL (vbd__xport_run()). */
struct vbd__xport_ops {
	const char *name;
	int (*open)(vbd_xport *x, const vbd_xport_options *o, vbd_errbuf *err);
	void (*close)(vbd_xport *x);
	int (*share)(vbd_xport *x, unsigned domid, unsigned count, bool writable,
	             uint32_t *ret_refs, void **ret_addr);
	int (*unshare)(vbd_xport *x, void *addr, unsigned count);
	int (*map)(vbd_xport *x, unsigned domid, unsigned count, const uint32_t *refs,
	           bool writable, void **ret_addr);
	int (*unmap)(vbd_xport *x, void *addr, unsigned count);
	int (*evtchn_open)(vbd_evtchn *e);
	void (*evtchn_close)(vbd_evtchn *e);
	int (*alloc_unbound)(vbd_evtchn *e, unsigned remote_domid, uint32_t *ret_port);
	int (*bind_interdomain)(vbd_evtchn *e, unsigned remote_domid, uint32_t remote_port,
	                        uint32_t *ret_port);
	int (*unbind)(vbd_evtchn *e, uint32_t port);
	int (*notify)(vbd_evtchn *e, uint32_t port);
	int (*pending)(vbd_evtchn *e);
	int (*unmask)(vbd_evtchn *e, uint32_t port);
	int (*run)(vbd_xport *x, vbd__xop *ops, unsigned n, unsigned *ret_failed);
};

extern const struct vbd__xport_ops vbd__xport_sim_ops;
extern const struct vbd__xport_ops vbd__xport_xen_ops;

/* A region of pages this process shares or maps, found by its address. */
typedef struct vbd__region {
	struct vbd__region *next;
	void *addr;
	unsigned count;
	bool shared;          /* vbd_gnt_share (else vbd_gnt_map) */
	bool pooled;          /* in a page of records (vbd__region_new) */
	uint64_t id;          /* sim: the broker's mapping id */
	uint32_t refs[];      /* sim, shared: the grant references */
} vbd__region;

typedef struct vbd__region_map {
	vbd__region **b;
	size_t nb, n;
} vbd__region_map;

/* A record with room for refs grant references, or NULL; any thread, no
 * lock needed.  Records without references come from pages mapped for
 * them, not from the heap (see xport.c); vbd__region_free() takes either. */
vbd__region *vbd__region_new(unsigned refs);
void vbd__region_free(vbd__region *r);
/* Pages of records mapped now, in the whole process (for tests). */
size_t vbd__region_pages(void);

/* The map's own table is mapped pages too, given back when it empties. */
int vbd__region_add(vbd__region_map *m, vbd__region *r);
/* Unlinks and returns the region at addr of the given kind, or NULL. */
vbd__region *vbd__region_take(vbd__region_map *m, void *addr, bool shared);
vbd__region *vbd__region_find(vbd__region_map *m, void *addr, bool shared);
/* Unlinks and returns any region, or NULL when empty. */
vbd__region *vbd__region_pop(vbd__region_map *m);
void vbd__region_map_done(vbd__region_map *m);

struct vbd__xport_fault {
	int op;               /* VBD__XOP_*, or -1: any */
	uint64_t nth, count;  /* nth 0: disarmed */
	int err;
	bool persistent;
};

struct vbd_xport {
	const struct vbd__xport_ops *ops;
	vbd_xport_kind kind;
	pthread_mutex_t lock;     /* the implementation's state and the fault */
	int armed;                /* read without the lock (atomic) */
	struct vbd__xport_fault fault;
	vbd_evtchn *evtchns;      /* open handles, closed by vbd_xport_free */
	void *impl;
};

struct vbd_evtchn {
	vbd_xport *x;
	vbd_evtchn *next;
	int fd;                   /* what vbd_evtchn_fd() returns */
	void *impl;
};

/*
 * Fault injection: the nth call (n >= 1, counted from now) of op ("share",
 * "map", ... as in VBD__XOPS; NULL: any operation, counted together) fails
 * with err (negative errno) without doing anything.  With persistent, that
 * call and every later one fail.  nth 0 disarms.  -EINVAL for an unknown op.
 */
int vbd__xport_fail(vbd_xport *x, const char *op, unsigned nth, int err, bool persistent);

/* The simulated hypervisor's internal hooks, which its tests reach through here. */
#include "simhv/simhv_hooks.h"

#endif
