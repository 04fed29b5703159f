/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/blkfront.h - a userspace block frontend: one virtual block device of
 * the guest domain this process acts as, after Linux xen-blkfront.
 *
 *     vbd_blkfront_options o = VBD_BLKFRONT_OPTIONS_INIT;
 *     o.xport = x;  o.domid = 5;  o.devid = 51712;    // device/vbd/51712
 *     vbd_blkfront_new(&f, &o, &err);
 *     vbd_blkfront_wait_connected(f, 10000);          // or poll get_fd()
 *     vbd_blkfront_submit(f, VBD_BLKFRONT_READ, 0, buf, 4096, done, ud);
 *     for (;;) {
 *             poll({vbd_blkfront_get_fd(f), POLLIN}, vbd_blkfront_get_timeout_ms(f));
 *             vbd_blkfront_process(f);                 // done() is called here
 *     }
 *     vbd_blkfront_close(f, 10000);                    // Closing, Closed
 *     vbd_blkfront_free(f);
 *
 * It talks to xenstore through the guest's own connection (so the store's
 * permissions apply), and to the backend through the shared rings and event
 * channels of a vbd_xport (vbd/transport.h).  The backend is hostile: every
 * key it writes and every response it puts on a ring is checked; a response
 * that breaks the protocol marks the device broken (pending I/O fails with
 * -EIO, an error node is written, the frontend goes to Closing).
 *
 * Data goes through pages the frontend grants to the backend, never through
 * the caller's buffer: writes are copied in when a request is built, reads
 * copied out when its response has been checked.
 *
 * Thread safety: one thread at a time per vbd_blkfront; frontends are
 * independent.  No threads of its own.  Callbacks (I/O completions, resize
 * notices, log) happen only inside vbd_blkfront_process() and the blocking
 * helpers built on it; a callback may submit I/O but must not free or close
 * the frontend.  When a call that takes a callback fails, the callback is
 * never called.
 */
#ifndef VBD_BLKFRONT_H
#define VBD_BLKFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbd/bus.h"
#include "vbd/common.h"
#include "vbd/error.h"
#include "vbd/transport.h"

VBD_BEGIN_DECLS

typedef struct vbd_blkfront vbd_blkfront;

#define VBD_BLKFRONT_OPTIONS_VERSION 2

typedef struct vbd_blkfront_options {
	unsigned version;              /* VBD_BLKFRONT_OPTIONS_VERSION or older */
	/* The xenstore socket of this guest ("<socket>.d/<domid>" with the
	 * embedded daemon); NULL: $XENSTORED_PATH, else libxenstore's default. */
	const char *xenstored_path;
	vbd_xport *xport;              /* borrowed; must outlive the frontend */
	vbd_domid domid;                /* this guest */
	uint32_t devid;                /* device/vbd/<devid> in /local/domain/<domid> */
	/* Ring pages are 2^order, order = min(this, the backend's
	 * max-ring-page-order).  Default 0 (one page, 32 requests) as Linux:
	 * the persistent-grant pool grows with the ring, and larger rings pay
	 * only under deep parallel I/O.  At most 4. */
	unsigned max_ring_page_order;
	/* Queues (ring + event channel each) = min(this, the backend's
	 * multi-queue-max-queues, absent meaning 1).  1..16; 0: 4. */
	unsigned max_queues;
	bool no_persistent;            /* do not offer feature-persistent (offered) */
	/* Segments per indirect request = min(this, the backend's
	 * feature-max-indirect-segments), at most 4096 (8 indirect pages);
	 * 0: 256; VBD_OPT_ZERO: indirect requests are never used. */
	unsigned max_indirect_segments;
	/* Mini-OS order: write the ring keys and state Connected in one
	 * transaction at once, without waiting for the backend's InitWait and
	 * without state Initialised.  The ring then has what the backend had
	 * advertised by that moment (else one page, one queue). */
	bool skip_initialised;
	/* Requests in flight per queue; 0: the ring's size. */
	unsigned queue_depth;
	/* The backend changed the size of a connected device (a resize):
	 * called from vbd_blkfront_process(). */
	void (*resized)(uint64_t old_sectors, uint64_t new_sectors, void *userdata);
	void *resized_userdata;
	void (*log)(int level, const char *msg, void *userdata);   /* vbd_log_level */
	void *log_userdata;
	/* A bus to share (vbd/bus.h), connected as this guest: the frontend
	 * takes a reference and uses its connections; xenstored_path is then
	 * ignored.  NULL: it makes its own.  N frontends on one bus hold its
	 * two connections, not 2N.  vbd_blkfront_process() then runs every
	 * callback due on the bus, and the frontend is used from the bus's
	 * thread only. */
	vbd_bus *bus;
	/* Version 2.  Busy-poll (as SPDK, or io_uring's SQPOLL): with I/O in
	 * flight, vbd_blkfront_process() watches the rings for up to this
	 * many microseconds before it returns to let the caller sleep, and
	 * while it watches the backend is not asked to notify.  A response
	 * within the bound saves the event and the wakeup; the cost is the
	 * CPU spent spinning.  0: off (the default); at most 1000000. */
	unsigned poll_us;
} vbd_blkfront_options;

/* Every field but version 0 means its default, as `{ .version = 2 }`. */
#define VBD_BLKFRONT_OPTIONS_INIT { .version = VBD_BLKFRONT_OPTIONS_VERSION }

/* Connects to xenstore as the guest, reads virtual-device and backend (which
 * must be /local/domain/<n>/backend/vbd/<domid>/<devid>, or backend/vbd3/ for
 * libxl's backendtype=tap, n = backend-id) and
 * sets the watches.  The handshake runs in vbd_blkfront_process().
 * -EINVAL (options), -ECONNREFUSED (no xenstore), -ENOENT (no such device),
 * -EPROTO (a malformed key), -ENOMEM.  *ret is untouched on failure. */
VBD_PUBLIC int vbd_blkfront_new(vbd_blkfront **ret, const vbd_blkfront_options *o,
                                vbd_errbuf *err);
/* Unbinds, ends the grants it can and frees, without a handshake and without
 * callbacks (pending I/O is dropped).  Grants the backend still maps stay
 * until vbd_xport_free().  Accepts NULL; returns NULL. */
VBD_PUBLIC vbd_blkfront *vbd_blkfront_free(vbd_blkfront *f);

/* One fd to poll for POLLIN: xenstore watch events and every queue's event
 * channel. */
VBD_PUBLIC int vbd_blkfront_get_fd(vbd_blkfront *f);
/* Milliseconds until process() has work without an event (retrying grants
 * the backend still mapped; 0 when a busy-poll saw a response), -1 if none. */
VBD_PUBLIC int vbd_blkfront_get_timeout_ms(vbd_blkfront *f);
/* Runs the handshake, collects responses, issues queued I/O and calls the
 * callbacks.  Never blocks (with options.poll_us it may spin that long,
 * no longer; a response the spin saw is collected, and its callback run,
 * first thing in the next call, before any system call: a caller that
 * calls again at once when get_timeout_ms() says 0, without poll(2),
 * answers a polled ring fastest).  >= 0, or a negative errno for a
 * failure of the object itself (xenstore connection lost). */
VBD_PUBLIC int vbd_blkfront_process(vbd_blkfront *f);

/* The frontend's xenbus state (vbd_state: 1 Initialising ... 6 Closed). */
VBD_PUBLIC int vbd_blkfront_get_state(vbd_blkfront *f);
/* Why the device failed or closed ("" if it did not). */
VBD_PUBLIC const char *vbd_blkfront_last_error(vbd_blkfront *f);

#define VBD_BLKFRONT_INFO_CDROM     1u   /* VDISK_CDROM */
#define VBD_BLKFRONT_INFO_REMOVABLE 2u
#define VBD_BLKFRONT_INFO_READONLY  4u

typedef struct vbd_blkfront_info {
	/* sizeof(this struct) as the caller has it, set by the caller: the
	 * library fills only what fits (vbd/common.h). */
	size_t size;
	bool connected;                /* I/O can be submitted */
	vbd_domid backend_domid;
	uint32_t virtual_device;       /* the frontend's virtual-device */
	uint64_t sectors;              /* 512-byte units, whatever sector_size is */
	unsigned sector_size;          /* offsets and lengths are multiples of it */
	unsigned physical_sector_size;
	unsigned info;                 /* VBD_BLKFRONT_INFO_* (unknown bits kept) */
	bool flush;                    /* feature-flush-cache */
	bool barrier;                  /* feature-barrier */
	bool discard;
	unsigned discard_granularity, discard_alignment;
	bool discard_secure;
	bool persistent;               /* negotiated: both ends offered it */
	unsigned queues;
	unsigned ring_page_order;
	unsigned ring_size;            /* requests per ring */
	unsigned queue_depth;
	unsigned indirect_segments;    /* per request; 0: indirect not used */
	size_t max_request_bytes;      /* one ring request; larger I/O is split */
	uint64_t grants;               /* data pages granted now */
	uint64_t grants_deferred;      /* ended late: the backend still mapped them */
	uint64_t notifies;             /* event-channel notifications sent */
	uint64_t events;               /* event-channel events received */
} vbd_blkfront_info;

/* A snapshot.  -EINVAL only for bad arguments (ret->size unset among them). */
VBD_PUBLIC int vbd_blkfront_get_info(vbd_blkfront *f, vbd_blkfront_info *ret);

/* Runs process() until both ends are Connected.  0; -ETIMEDOUT; -ENOTCONN
 * (the device closed or failed first; last_error says why). */
VBD_PUBLIC int vbd_blkfront_wait_connected(vbd_blkfront *f, int timeout_ms);

typedef enum vbd_blkfront_op {
	VBD_BLKFRONT_READ = 0,
	VBD_BLKFRONT_WRITE,
	VBD_BLKFRONT_FLUSH,            /* feature-flush-cache, else a barrier */
	VBD_BLKFRONT_DISCARD,
} vbd_blkfront_op;

/* Completion: result 0, or -EIO (the backend failed it, or the device
 * failed or closed), -EOPNOTSUPP (the backend refused the operation),
 * -ECANCELED (closed before it was issued). */
typedef void (*vbd_blkfront_done_fn)(int result, void *userdata);

/* Queues one I/O of len bytes at offset (bytes) and returns; done() is
 * called once from process().  The buffer (unused for FLUSH and DISCARD)
 * must stay valid until then.  An I/O larger than one ring request
 * (info.max_request_bytes) is split.  Called outside a callback, it puts
 * the I/O on the ring at once; from a completion callback, after the
 * round's last callback, so that what one round resubmits goes to the
 * backend in one batch.  Errors, with done() never called:
 * -EINVAL (offset or len not a multiple of sector_size, len 0 for
 * READ/WRITE/DISCARD, past the end, bad op), -ENOTCONN (not connected,
 * closing or broken), -EROFS (write or discard to a read-only device),
 * -EOPNOTSUPP (the backend offers no flush or discard), -EAGAIN (as many
 * I/Os are pending as the queues hold requests: process, then retry),
 * -ENOMEM. */
VBD_PUBLIC int vbd_blkfront_submit(vbd_blkfront *f, vbd_blkfront_op op, uint64_t offset,
                                   void *buf, size_t len, vbd_blkfront_done_fn done,
                                   void *userdata);

/* Zero-copy buffers.  A buffer from here is granted to the backend once
 * (len rounded up to pages, at most VBD_BLKFRONT_BUFFER_MAX); READ and
 * WRITE of a range of it that starts on a page boundary of it go to the
 * backend without a copy (each ring request then holds at most 11 pages).
 * Any other buffer works as before, through the frontend's own pages.  The
 * backend may write to it while it is granted: treat it as shared memory.
 * -EINVAL, -ENOMEM, or the transport's error (-ENOSPC: grant table full).
 * buffer_free: -EBUSY while I/O in it is in flight; access ends once the
 * backend has unmapped it (at once, or later: info.grants_deferred).
 * vbd_blkfront_free() ends the rest. */
#define VBD_BLKFRONT_BUFFER_MAX (64u << 20)
VBD_PUBLIC int vbd_blkfront_buffer_alloc(vbd_blkfront *f, size_t len, void **ret);
VBD_PUBLIC int vbd_blkfront_buffer_free(vbd_blkfront *f, void *buf);

/* Blocking helpers over submit() and process(), without a timeout (a
 * backend that never answers is noticed by its state).  Return the I/O's
 * result or submit()'s error. */
VBD_PUBLIC int vbd_blkfront_read(vbd_blkfront *f, uint64_t offset, void *buf, size_t len);
VBD_PUBLIC int vbd_blkfront_write(vbd_blkfront *f, uint64_t offset, const void *buf, size_t len);
VBD_PUBLIC int vbd_blkfront_flush(vbd_blkfront *f);
VBD_PUBLIC int vbd_blkfront_discard(vbd_blkfront *f, uint64_t offset, uint64_t len);

/* The clean end: stops taking I/O, lets what is in flight finish, then
 * Closing (5); when the backend is Closing or Closed, unbinds and ends the
 * grants, then Closed (6); waits for the backend's Closed.  Queued I/O not
 * yet issued completes with -ECANCELED.  0; -ETIMEDOUT (the frontend is
 * Closed but the backend did not follow, or grants stay mapped: see
 * info.grants_deferred). */
VBD_PUBLIC int vbd_blkfront_close(vbd_blkfront *f, int timeout_ms);

VBD_END_DECLS

#endif
