/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of vbd_blkfront: the device (handshake, lifecycle), its queues
 * (one ring and event channel each) and the I/O that goes through them.
 *
 *   blkfront.c   the object, the xenstore handshake, process(), close
 *   io.c         submit, splitting into ring requests, the grant pool,
 *                completions
 *   ring.c       the front ring: ids, pushing, and the checks on every
 *                response (fuzz/fuzz_blkif_rsp.c drives it alone)
 */
#ifndef VBD_LIB_BLKFRONT_H
#define VBD_LIB_BLKFRONT_H

#include <stdbool.h>
#include <stdint.h>

#include "vbd/blkfront.h"
/* Without an interface version, xen/io/ring.h takes the legacy one and maps
 * xen_mb() & co. to mb(), which nothing defines, over lib/blkif.h's fences.
 * (To move into lib/blkif.h.) */
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#endif
#include "blkif.h"
#include "xenbus/xenbus.h"

#define VBD__BF_MAX_ORDER   4u
#define VBD__BF_MAX_QUEUES  16u
/* Segments one indirect page describes, and the most a request can have. */
#define VBD__BF_SEGS_PER_IND (VBD_PAGE_SIZE / sizeof(struct blkif_request_segment))
#define VBD__BF_MAX_INDIRECT (BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * VBD__BF_SEGS_PER_IND)

/* ---- ring.c: the front ring and the response checks ---- */

/* What a checked response says: the id it completes and how. */
typedef struct vbd__bf_rsp {
	unsigned id;
	int result;                 /* 0, -EIO, -EOPNOTSUPP */
} vbd__bf_rsp;

typedef struct vbd__bf_ring {
	blkif_front_ring_t fr;
	unsigned size;              /* requests: a power of two */
	uint8_t *op;                /* [size] operation pushed with each id */
	uint8_t *sub_op;            /* [size] indirect_op of BLKIF_OP_INDIRECT */
	bool *busy;                 /* [size] a request with this id is in flight */
	unsigned *free_ids;         /* [size] stack of ids not in flight */
	unsigned nfree;
	bool broken;
	char why[160];              /* the violation, once broken */
	uint64_t pushes;            /* vbd__bf_ring_push() calls (tests) */
	/* Busy-polling (poll_us): collect leaves rsp_event alone, so that the
	 * backend does not notify; vbd__bf_ring_arm() sets it before a sleep. */
	bool polling;
} vbd__bf_ring;

/* Attaches to 2^order zeroed pages at sring (initialising the shared
 * header).  -ENOMEM. */
int vbd__bf_ring_init(vbd__bf_ring *r, void *sring, unsigned order);
void vbd__bf_ring_done(vbd__bf_ring *r);
unsigned vbd__bf_ring_inflight(const vbd__bf_ring *r);
/* The next request slot, with a free id written into it and op recorded;
 * NULL when the ring is full or broken.  The caller fills the rest and
 * calls vbd__bf_ring_push() (after any number of these). */
blkif_request_t *vbd__bf_ring_next(vbd__bf_ring *r, uint8_t op, uint8_t sub_op, unsigned *ret_id);
/* Publishes the requests built since the last push; true if the backend
 * must be notified. */
bool vbd__bf_ring_push(vbd__bf_ring *r);
/* Takes up to max checked responses off the ring into out[]: > 0 count, 0
 * none, -EPROTO when the backend broke the protocol (r->why says how; the
 * ring then stays broken and yields nothing more; responses checked good
 * before the bad one are still returned first, and r->broken is set).  Each id returned is
 * free again.  Re-arms rsp_event when the ring is drained, unless polling. */
int vbd__bf_ring_collect(vbd__bf_ring *r, vbd__bf_rsp *out, unsigned max);
/* Whether rsp_prod has moved past what was consumed (unchecked: collect
 * checks).  For the busy-poll: reads one index, writes nothing. */
bool vbd__bf_ring_ready(const vbd__bf_ring *r);
/* Before sleeping: rsp_event = rsp_cons + 1, then one more look.  True if
 * a response came meanwhile (collect it: no event will say so). */
bool vbd__bf_ring_arm(vbd__bf_ring *r);

/* ---- io.c ---- */

typedef struct vbd__bf_io vbd__bf_io;
struct vbd__bf_io {
	vbd__bf_io *next;
	vbd_blkfront_op op;
	uint64_t offset;
	uint8_t *buf;
	size_t len;
	size_t issued;              /* bytes handed to ring requests */
	unsigned inflight;          /* its ring requests not yet answered */
	bool queued;                /* in the wait list (not fully issued) */
	int result;                 /* the first failure */
	vbd_blkfront_done_fn done;
	void *ud;
};

/* A granted page: persistent pool entry, or one page of a per-request
 * share. */
typedef struct vbd__bf_page {
	struct vbd__bf_page *next;  /* pool free list */
	void *addr;
	uint32_t ref;
} vbd__bf_page;

/* A caller's buffer granted once (vbd_blkfront_buffer_alloc): I/O in it
 * goes to the backend without a copy. */
typedef struct vbd__bf_buf {
	struct vbd__bf_buf *next;
	uint8_t *addr;
	unsigned npages;
	uint32_t *refs;             /* [npages] */
	unsigned users;             /* ring requests in flight on it */
} vbd__bf_buf;

/* One ring request in flight (Linux's "shadow"), indexed by its id. */
typedef struct vbd__bf_slot {
	vbd__bf_io *io;             /* NULL once the I/O was failed */
	vbd__bf_buf *zc;            /* the data is in this granted buffer */
	size_t buf_off, len;
	unsigned npages;            /* data pages, then nind indirect pages */
	unsigned nind;
	vbd__bf_page **pages;       /* [max pages]: persistent pool pages */
	void *share;                /* non-persistent: one vbd_gnt_share() */
	uint32_t *refs;             /* [max pages] its refs */
} vbd__bf_slot;

/* Pages shared together by one vbd_gnt_share() (a pool chunk, or a request's
 * pages whose end of access failed with -EBUSY and is retried). */
typedef struct vbd__bf_share {
	struct vbd__bf_share *next;
	void *addr;
	unsigned count;
	vbd__bf_page *pages;        /* pool chunks: their entries */
} vbd__bf_share;

typedef struct vbd__bf_queue {
	unsigned index;
	void *sring;                /* 2^order pages shared with the backend */
	uint32_t ring_refs[1u << VBD__BF_MAX_ORDER];
	vbd_evtchn *evtchn;
	uint32_t port;
	vbd__bf_ring ring;
	vbd__bf_slot *slots;        /* [ring.size] */
	void *slot_mem;             /* every slot's pages and refs, one block */
	unsigned depth;             /* requests in flight at most */
	vbd__bf_page *pool_free;    /* persistent pages not in use */
	vbd__bf_share *chunks;      /* persistent pool chunks */
	unsigned pool_pages, pool_max, pool_nfree;
	bool notify;                /* requests pushed: kick the backend */
} vbd__bf_queue;

/* One key read: as vbd__xb_read() would have found it. */
struct vbd__bf_key {
	const char *dir, *key;      /* key NULL: not read (absent) */
	int err;                    /* 0, -ENOENT, -errno */
	size_t len;                 /* the value's length; val holds its first 159 bytes */
	char val[160];
};
/* What the backend offers at InitWait: max-ring-page-order and
 * multi-queue-max-queues (xenbus.c). */
#define VBD__BF_NOFFER 2

struct vbd_blkfront {
	vbd_blkfront_options o;
	vbd_bus *bus;               /* its own, or the one the options gave */
	struct xs_handle *xs;       /* the bus's request connection */
	vbd_xport *x;
	int epfd;
	char fe[96], be[128];
	unsigned bdom;
	vbd__xb_watch *w_fe, *w_be;
	bool xs_dirty;              /* a watch fired: run the handshake */
	bool own_read;              /* our state node read since its last event */
	bool be_read;               /* the backend's state read since its last event */
	/* The backend's state was read at start at InitWait: its write may
	 * have come between our watch and that read, and its event may still
	 * come.  The next backend event reads the state alone before the
	 * Connected transaction (connect_txn), which that event would abort. */
	bool be_stale;
	int be_state;               /* what that read found (-ENOENT: absent) */
	bool fe_first, be_first;    /* the watch's first event not yet seen */
	/* The wire's replies before the start's reads of both states
	 * (VBD__XB_NO_EVENT: none, or they were not pipelined): until the
	 * first step, an event the wire took before their replies tells of a
	 * change they saw (on_watch). */
	uint64_t start_seen;
	/* The backend's offers, read with its state at start: the rings'
	 * shape if that state is InitWait and no event of the backend's came
	 * before the first step (vbd__bf_step). */
	struct vbd__bf_key start_offers[VBD__BF_NOFFER];
	bool offers_kept;
	unsigned own_events;        /* our state writes whose events are still to come */
	bool be_seen;               /* the backend's state existed once */

	int state;                  /* ours, as last written */
	bool rings_up;
	bool connected;             /* features read, I/O allowed */
	bool broken;
	bool closing;               /* close() asked */
	bool closed_done;           /* both ends Closed, or the backend gone */
	/* Taken over from a dead frontend (its device Initialised or
	 * Connected): its connection is reset first, as Linux's xenbus does
	 * for a kexec'd guest.  We wrote Closing and wait for the backend's
	 * Closing, wrote Closed and wait for its Closed, wrote Initialising
	 * and wait for its InitWait; then the handshake runs as for a new
	 * device.  Each wait is bounded by reset_deadline (ms). */
	enum { VBD__BF_RESET_NONE, VBD__BF_RESET_CLOSING, VBD__BF_RESET_CLOSED,
	       VBD__BF_RESET_INIT } reset;
	uint64_t reset_deadline;
	char why[512];

	vbd_blkfront_info info;
	vbd__bf_queue *q;           /* [info.queues] */
	unsigned nq;
	unsigned next_q;
	unsigned max_segs;          /* per request: 11, or indirect */

	vbd__bf_io *wait_head, **wait_tail;   /* accepted, not fully issued */
	vbd__bf_io *done_head, **done_tail;   /* finished: callbacks due */
	unsigned ios;               /* accepted and not yet called back */
	bool in_callbacks;          /* submit() only queues: one pump after */
	unsigned io_limit;
	vbd__bf_share *deferred;    /* ended late: retried from process() */
	vbd__bf_buf *bufs;          /* granted caller buffers */
	uint64_t resize_old, resize_new;
	bool resize_due;
	uint64_t poll_ns;           /* options.poll_us; 0: never spin */
	bool rsp_ready;             /* a ring is unarmed with a response on it */
	bool armed;                 /* polling: rsp_event set since the last
	                             * response collected */
};

/* Ends access to every granted buffer (vbd_blkfront_free). */
void vbd__bf_buffers_free(vbd_blkfront *f);

void vbd__bf_log(vbd_blkfront *f, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* io.c */
int vbd__bf_queues_setup(vbd_blkfront *f, unsigned nq, unsigned order, vbd_errbuf *err);
void vbd__bf_queues_teardown(vbd_blkfront *f);
/* After connect: sizes slots and the pool for the negotiated segments. */
int vbd__bf_io_prepare(vbd_blkfront *f);
/* Issues queued I/O into the rings while slots and pages last. */
void vbd__bf_pump(vbd_blkfront *f);
/* Takes responses off every queue; -EPROTO once the backend broke one. */
int vbd__bf_collect(vbd_blkfront *f);
/* poll.c: the end of process() with poll_us: spins on the rings until a response
 * comes (f->rsp_ready: the caller comes back at once) or poll_us passed
 * (every ring re-armed: the caller sleeps on the event channel). */
void vbd__bf_poll(vbd_blkfront *f);
/* Whether process() has polling to do now: a response seen, or I/O in
 * flight on rings not armed (get_timeout_ms() 0). */
bool vbd__bf_poll_due(vbd_blkfront *f);
/* Fails every I/O, queued or in flight, with result (their slots let go of
 * them; pages stay until teardown). */
void vbd__bf_fail_all(vbd_blkfront *f, int result);
/* Calls back what finished, then pumps once: what the callbacks submitted
 * goes out in one push. */
void vbd__bf_run_callbacks(vbd_blkfront *f);
void vbd__bf_retry_deferred(vbd_blkfront *f);
void vbd__bf_drop_callbacks(vbd_blkfront *f);

/* xenbus.c: the handshake with the backend through xenstore. */
/* How long the backend may take to follow each step of a reset. */
#define VBD__BF_RESET_WAIT_MS 10000
/* The first cause of the device's failure, kept for its last error. */
void vbd__bf_why(vbd_blkfront *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* dir/key as a strict decimal: 0, -ENOENT, -EINVAL, -errno (*ret 0). */
int vbd__bf_read_num(vbd_blkfront *f, const char *dir, const char *key, long long *ret);
/* Each of k[0..n) read, pipelined (see xenbus.c): true if they were, in
 * one round trip on the bus's wire client; false if read one by one. */
bool vbd__bf_fetch(vbd_blkfront *f, struct vbd__bf_key *k, unsigned n, bool connected_first);
/* At start: both states in one round trip, the backend's offers with its
 * (kept in f).  Ours is returned, the backend's in *be (a state, -ENOENT,
 * or VBD_STATE_UNKNOWN). */
int vbd__bf_start_states(vbd_blkfront *f, int *be);
/* The start in one round trip: the device's keys into dev[0..3)
 * (virtual-device, backend, backend-id), the watches on both states (fn
 * theirs) and what vbd__bf_start_states() reads, all in one window, f->be
 * set beforehand to the path the backend most likely has.  True when all
 * was answered: both watches are held, our state returned and the
 * backend's in *bs; the caller still checks that dev's backend is f->be.
 * False: a watch whose WATCH failed is not held (f->w_fe or f->w_be
 * NULL), and nothing read is taken. */
bool vbd__bf_start_window(vbd_blkfront *f, struct vbd__bf_key *dev, vbd__xb_watch_fn fn,
                          int *fs, int *bs);
/* k as a number (0..max) or a state, parsed as their one-by-one reads. */
int vbd__bf_key_num(const struct vbd__bf_key *k, unsigned long long max, long long *ret);
int vbd__bf_key_state(const struct vbd__bf_key *k);
/* Our state, in a transaction that read it (with the ring keys). */
int vbd__bf_switch_state(vbd_blkfront *f, int state, bool rings);
/* Fails and forgets everything the rings held. */
void vbd__bf_disconnect(vbd_blkfront *f, int result);
/* What the watches' events call for: the handshake's next step; and
 * close()'s, once nothing is in flight. */
void vbd__bf_step(vbd_blkfront *f);
void vbd__bf_close_step(vbd_blkfront *f);
/* The backend broke the protocol: the error node, Closing. */
void vbd__bf_fatal(vbd_blkfront *f, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
