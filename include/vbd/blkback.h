/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/blkback.h - a userspace block backend (blkback), after Linux
 * xen-blkback: it serves every VBD under
 * /local/domain/<domid>/backend/vbd/<frontend-domid>/<devid> from the block
 * device or file its hotplug step named, over shared rings mapped through a
 * vbd_xport (vbd/transport.h).
 *
 *     vbd_blkback *b;
 *     vbd_blkback_options o = VBD_BLKBACK_OPTIONS_INIT;
 *     o.xport = x;                        // borrowed; outlives b
 *     vbd_blkback_new(&b, &o, &err);
 *     for (;;) {
 *             poll({vbd_blkback_get_fd(b), POLLIN}, vbd_blkback_get_timeout_ms(b));
 *             vbd_blkback_process(b);     // the xenstore side runs here
 *     }
 *     vbd_blkback_free(b);
 *
 * Threads: the xenstore side (probe, handshake, teardown, resize, error
 * nodes, the log callback) runs only in the caller's thread, inside these
 * calls.  The data path runs in one worker thread per ring (queue), started
 * when a device connects and joined when it disconnects; workers never call
 * back and never touch xenstore: a ring a worker had to stop is reported
 * through the fd and handled in the next vbd_blkback_process().  A
 * vbd_blkback is used from one thread at a time; objects are independent.
 *
 * I/O goes through the page cache (pread/pwrite on the target), or with
 * O_DIRECT where the backend directory has direct-io-safe = 1 and the
 * target takes it (requests not aligned for it, and targets that refuse
 * it, go buffered: see vbd_blkback_stats); feature-flush-cache is offered
 * and a flush is an fdatasync(), so a frontend that flushes gets what a
 * disk with a volatile write cache promises.
 *
 * The library never prints or exits: failures are return values, a
 * vbd_errbuf, the log callback and, for a device, its error node.
 */
#ifndef VBD_BLKBACK_H
#define VBD_BLKBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbd/bus.h"
#include "vbd/common.h"
#include "vbd/error.h"
#include "vbd/status.h"
#include "vbd/transport.h"

VBD_BEGIN_DECLS

typedef struct vbd_blkback vbd_blkback;

#define VBD_BLKBACK_OPTIONS_VERSION 3

typedef struct vbd_blkback_options {
	unsigned version;               /* VBD_BLKBACK_OPTIONS_VERSION or older */
	/* The xenstore daemon's socket; NULL: $XENSTORED_PATH, else
	 * libxenstore's default. */
	const char *xenstored_path;
	vbd_xport *xport;               /* required; borrowed */
	vbd_domid domid;                 /* the backend's own domain (0) */
	/* Offered max-ring-page-order, at most 4; 0: 4; VBD_OPT_ZERO: one
	 * page only. */
	unsigned max_ring_page_order;
	/* Offered multi-queue-max-queues, 1..64; 0: the online CPUs (Linux's
	 * xenblk_max_queues default): each ring has a worker thread. */
	unsigned max_queues;
	/* Offered feature-max-indirect-segments, at most 4096 (8 indirect
	 * pages); 0: 256; VBD_OPT_ZERO: indirect requests are not offered (and
	 * answered EOPNOTSUPP). */
	unsigned max_indirect_segments;
	/* Persistent grants kept mapped per ring, at most; a ring never holds
	 * more than its slots can name at once (ring requests x pages per
	 * request: segments and indirect pages).  0: 8192, so that a one-page
	 * ring of 256-segment requests (32 x 1 MiB in flight) finds every data
	 * page it uses mapped (indirect pages are kept where room is left);
	 * VBD_OPT_ZERO: feature-persistent is not offered. */
	unsigned persistent_grants_max;
	bool no_discard;                /* do not offer discard (offered where the target can) */
	/* Re-check each device's size this often and announce a change
	 * (0: never; vbd_blkback_refresh() does it on demand). */
	unsigned resize_poll_ms;
	/* Called from the calling thread only, inside vbd_blkback calls;
	 * levels are vbd_log_level (vbd/common.h). */
	void (*log)(int level, const char *msg, void *userdata);
	void *log_userdata;
	/* A bus to share (vbd/bus.h): b takes a reference and uses its
	 * connections; xenstored_path is then ignored.  NULL: b makes its own.
	 * vbd_blkback_process() then runs every callback due on the bus, and b
	 * is used from the bus's thread only. */
	vbd_bus *bus;
	/* The backend kind served: NULL or "vbd", <home>/backend/vbd, the
	 * kernel blkback's (libxl's backendtype=phy); "vbd3",
	 * <home>/backend/vbd3 (backendtype=tap), so that this backend serves
	 * tap disks next to a kernel blkback serving phy ones.  A vbd3
	 * device's params must be "aio:<path>" and its physical-device-path
	 * that path. */
	const char *kind;
	/* Version 2. */
	/* Persistent grants kept mapped by all rings of all devices together,
	 * at most: each is a memory mapping of this process, and a process
	 * has vm.max_map_count of them (65530 by default), so that frontends
	 * with many busy queues must not take them all.  A ring at the budget
	 * replaces its own least recently used grant or maps for the request
	 * only.  0: half of vm.max_map_count as read at vbd_blkback_new()
	 * (32765 if unreadable); VBD_OPT_ZERO: none is kept (every page is
	 * mapped for its request only). */
	unsigned persistent_grants_total;
	/* Version 3.  Busy-poll (as SPDK, or io_uring's SQPOLL): a ring's
	 * worker with nothing to do watches the ring (and its io_uring's
	 * completions) for up to this many microseconds before it sleeps on
	 * the event channel; while it watches, the frontend is not asked to
	 * notify.  Saves the event and the wakeup of a request that comes
	 * within the bound, for the CPU the spin burns.  0: off (the
	 * default); at most 1000000. */
	unsigned poll_us;
} vbd_blkback_options;

/* Every field but version 0 means its default, as `{ .version = 3 }`. */
#define VBD_BLKBACK_OPTIONS_INIT { .version = VBD_BLKBACK_OPTIONS_VERSION }

/* Connects to xenstore and watches the backend directory; devices already
 * there are probed by the first vbd_blkback_process().  -EINVAL for a bad
 * option, -ECONNREFUSED when no xenstore daemon answers; err (may be NULL)
 * says which.  *ret is untouched on failure. */
VBD_PUBLIC int vbd_blkback_new(vbd_blkback **ret, const vbd_blkback_options *o, vbd_errbuf *err);

/* Stops every worker, unmaps every ring and grant, closes the targets, and
 * switches each served device whose state node still exists to Closed (6).
 * Accepts NULL; returns NULL. */
VBD_PUBLIC vbd_blkback *vbd_blkback_free(vbd_blkback *b);

/* The one fd to poll for POLLIN (an epoll set over the xenstore watch fd and
 * the workers' reports).  Owned by b. */
VBD_PUBLIC int vbd_blkback_get_fd(vbd_blkback *b);
/* Milliseconds until process() has timed work (the resize poll), -1: none. */
VBD_PUBLIC int vbd_blkback_get_timeout_ms(vbd_blkback *b);
/* Handles watch events, stopped rings and due timers without blocking on
 * the fd (xenstore requests are synchronous round trips).  Returns the
 * number of things done (>= 0) or a negative errno for a failure of b
 * itself; a device's failure goes to its error node and the log. */
VBD_PUBLIC int vbd_blkback_process(vbd_blkback *b);

/* Re-reads the size of every open target; for each that changed, the data
 * path uses the new size at once and a Connected device gets `sectors` and
 * `state` (4 again) rewritten in one transaction, which the frontend sees
 * as a resize.  Returns the number of devices that changed, or -errno. */
VBD_PUBLIC int vbd_blkback_refresh(vbd_blkback *b);

typedef struct vbd_blkback_stats {
	/* sizeof(this struct) as the caller has it, set by the caller: the
	 * library fills only what fits (vbd/common.h). */
	size_t size;
	uint64_t devices;           /* backend directories being served */
	uint64_t connected;         /* of those, at Connected */
	uint64_t rings;             /* rings mapped now */
	uint64_t requests;          /* answered, whatever the status */
	uint64_t errors;            /* answered BLKIF_RSP_ERROR (invalid or failed) */
	uint64_t unsupported;       /* answered BLKIF_RSP_EOPNOTSUPP */
	uint64_t rings_stopped;     /* stopped for a protocol violation */
	uint64_t fatal_errors;      /* error nodes written */
	uint64_t bytes_read;        /* from targets, for READ */
	uint64_t bytes_written;
	uint64_t grant_maps;        /* vbd_gnt_map() calls on the data path */
	uint64_t pgrants;           /* persistent grants mapped now */
	uint64_t pgrant_hits;       /* segments served from a mapped persistent grant */
	uint64_t pgrant_evictions;  /* unmapped to make room (LRU) */
	uint64_t mem_bytes;         /* held for the devices served now: their
	                             * state, rings' scratch and persistent-grant
	                             * tables, io_uring queues (SQ/CQ rings and
	                             * SQEs) and in-flight tables (not the worker
	                             * stacks, nor the guest pages mapped) */
	uint64_t pgrants_budget;    /* the most persistent grants all rings may
	                             * keep mapped (options.persistent_grants_total) */
	uint64_t pgrant_uncached;   /* segments of persistent rings mapped for
	                             * their request only: no room in the ring's
	                             * cache or the budget, or a failed map */
	uint64_t pgrant_map_failures; /* maps of a persistent grant that failed
	                             * for want of mappings or memory, and were
	                             * retried for the request only */
	/* O_DIRECT, for targets whose backend directory says direct-io-safe
	 * = 1 (libxl's disk option of that name). */
	uint64_t direct_targets;    /* targets served with O_DIRECT now */
	uint64_t direct_refused;    /* targets asked for it and served
	                             * buffered: the file system refused it at
	                             * open, or a transfer (EINVAL, EFAULT),
	                             * which was then done buffered */
	uint64_t direct_unaligned;  /* requests to an O_DIRECT target served
	                             * buffered: not aligned as its O_DIRECT
	                             * needs (a 512-byte sector of a 4 KiB-
	                             * sector device) */
	/* How responses reach the frontends: requests / rsp_pushes is how
	 * many a push of rsp_prod carries on average, notifies how many of
	 * those pushes found the frontend waiting (RING_PUSH_RESPONSES_AND_
	 * CHECK_NOTIFY) and sent it an event. */
	uint64_t rsp_pushes;
	uint64_t notifies;
	/* Reads the io_uring engine copied from the page cache itself
	 * (preadv2 with RWF_NOWAIT), with no submission: while the target
	 * answers from memory, each read is tried so first. */
	uint64_t cached_reads;
} vbd_blkback_stats;

/* Counters since vbd_blkback_new(), read without stopping the workers.
 * mem_bytes is a level, not a counter: 0 when no device is served.
 * -EINVAL without b or ret, or for a ret->size below sizeof(size_t). */
VBD_PUBLIC int vbd_blkback_get_stats(vbd_blkback *b, vbd_blkback_stats *ret);

/* The counters of one device b serves: frontend domain fe_domid, devid (the
 * backend directory's last two names).  Counted from when b began serving
 * the directory, across reconnects of the frontend, by each ring's worker
 * without locks and summed here; a request is counted once it decodes as a
 * well-formed request of its kind, its sectors once its segments are
 * checked.  -EINVAL without b or ret, or for a ret->size below
 * sizeof(size_t); -ENOENT when b serves no such device. */
VBD_PUBLIC int vbd_blkback_get_dev_stats(vbd_blkback *b, vbd_domid fe_domid, uint32_t devid,
                                         vbd_dev_stats *ret);

/* Publishes every served device's counters for other processes, as Linux
 * xen-blkback's sysfs directory lays them out, under root:
 * root/bus/xen-backend/devices/vbd-<fe_domid>-<devid>/statistics/<name>,
 * one decimal and a newline per file, each replaced whole (written aside
 * and renamed), so vbd_dev_stats_read_sysfs(root, ...) reads them.  The
 * directories are made as needed; the directory of a device no longer
 * served is removed.  Call it as often as readers want fresh numbers (the
 * counters are not written anywhere else).  0, -EINVAL without b or root,
 * or the -errno of a failed mkdir, write or rename. */
VBD_PUBLIC int vbd_blkback_write_stats(vbd_blkback *b, const char *root);

VBD_END_DECLS

#endif
