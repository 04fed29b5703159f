/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of vbd_blkback, shared by its files:
 *   blkback.c  the object: options, the fd, process(), stats, refresh
 *   probe.c    which devices are served: the backend dir's scan, probe,
 *              adoption of what a dead backend left
 *   xenbus.c   one device's handshake (backend_changed, frontend_changed,
 *              connect, disconnect, remove)
 *   peer.c     what the frontend and the hotplug step wrote, read pipelined
 *   disk.c     the target: open, size, flush, discard
 *   ring.c     one ring: map, bind, its worker, the data path and its
 *              synchronous engine
 *   uring.c    the io_uring engine: many requests of a ring in flight
 *   req.c      request decoding and checks (no I/O; fuzzed)
 *   pgrant.c   the persistent-grant LRU
 *
 * Ownership and threads: the main thread (the caller's) owns devices and
 * rings and creates and joins workers.  While a worker runs it alone touches
 * its ring's shared pages, grants, cache and counters; the device fields it
 * reads (fd, readonly, discard) are fixed while any ring runs, except the
 * size, which is atomic.
 */
#ifndef VBD_LIB_BLKBACK_H
#define VBD_LIB_BLKBACK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "blkback/pgrant.h"
#include "blkback/req.h"
#include "vbd/blkback.h"
#include "xenbus/xenbus.h"

#define VBD__BB_MAX_QUEUES 64
#define VBD__BB_MAX_ORDER 4
/* Devices let go at a detach whose removal events are skipped (probe.c):
 * as many as a bulk detach has in flight (attach_bench's 64), and some. */
#define VBD__BB_RETIRED 128
/* Frontend domains whose ring shape is remembered (peer.c's guess). */
#define VBD__BB_SHAPES 64

typedef struct vbd__bb_dev vbd__bb_dev;
typedef struct vbd__bb_ring vbd__bb_ring;

/* Counters a worker updates and the main thread reads (relaxed atomics). */
struct vbd__bb_counters {
	uint64_t requests, errors, unsupported, bytes_read, bytes_written;
	uint64_t grant_maps, pgrants, pgrant_hits, pgrant_evictions;
	uint64_t pgrant_uncached, pgrant_map_failures;
	uint64_t direct_unaligned;
	uint64_t rsp_pushes, notifies;
	uint64_t cached_reads;
};

/* Per device, what Linux counts in statistics/ (vbd_dev_stats): each ring's
 * worker adds to its own, the main thread sums them with the device's. */
struct vbd__bb_dev_counters {
	uint64_t oo_req, rd_req, wr_req, f_req, ds_req, rd_sect, wr_sect;
};

/* Runs stmt with R naming the ring's back-ring in its ABI's type: the
 * ring.h macros are generic over the type, the entries are not. */
#define ON_RING(r, R, stmt) do { \
	if ((r)->abi == VBD__BB_ABI_X86_32) { \
		vbd__blkif32_back_ring_t *R = &(r)->br.x32; \
		stmt; \
	} else { \
		blkif_back_ring_t *R = &(r)->br.n64; \
		stmt; \
	} \
} while (0)

struct vbd__bb_uring;

#define VBD__BB_ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define VBD__BB_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

struct vbd__bb_ring {
	vbd__bb_dev *dev;
	unsigned index;
	enum vbd__bb_abi abi;
	union {
		blkif_back_ring_t n64;
		vbd__blkif32_back_ring_t x32;
	} br;
	void *sring;               /* mapped ring pages */
	unsigned pages;
	unsigned size;             /* requests it holds */
	vbd_evtchn *ev;
	uint32_t port;             /* local port */
	bool bound;
	int stop_fd;               /* eventfd: the worker should return */
	struct vbd__bb_uring *u;   /* the io_uring engine, or NULL: synchronous */
	pthread_t thread;
	bool running;
	/* Connected, no worker yet: the main loop follows the ring's event
	 * channel for the first event, which starts it (vbd__bb_ring_arm). */
	vbd__xb_io *arm;
	void *stack;               /* the worker's, with a guard page below */
	size_t stack_bytes;
	bool persistent;           /* negotiated */
	struct vbd__pgrant_cache pg;
	uint64_t seq;              /* requests taken, for the cache's "used" */
	bool ind_transient;        /* indirect pages are mapped per request */
	unsigned batch_n;          /* pages of this request's one-call mapping */
	/* Worker scratch for one request's segments: the inline arrays below
	 * for a direct request, a mapping grown (vbd__bb_ring_scratch) for the
	 * largest indirect request the frontend has sent, up to what was
	 * offered.  scratch_n: the entries the pointers hold. */
	unsigned scratch_n;
	void *scratch_map;         /* the grown one, or NULL */
	size_t scratch_bytes;
	struct blkif_request_segment *segs;
	uint32_t *refs;
	uint16_t *seen;            /* the duplicate check's table (req.h) */
	uint32_t ref_key;          /* its hash's key: random, odd */
	void **pages_of;           /* per segment: its mapped page */
	struct iovec *iov;
	struct {
		struct blkif_request_segment segs[BLKIF_MAX_SEGMENTS_PER_REQUEST];
		uint32_t refs[BLKIF_MAX_SEGMENTS_PER_REQUEST];
		uint16_t seen[32];         /* vbd__bb_seen_cap(11) */
		void *pages_of[BLKIF_MAX_SEGMENTS_PER_REQUEST];
		struct iovec iov[BLKIF_MAX_SEGMENTS_PER_REQUEST];
	} direct;
	struct vbd__bb_counters n;
	struct vbd__bb_dev_counters dn;
	/* Set by the worker when it stops the ring for a protocol violation;
	 * read by the main thread after the report on notify_fd. */
	int failed;                /* 0, or -errno */
	/* The worker is busy-polling (poll_us): the engines' end-of-pass
	 * check leaves req_event alone (vbd__bb_ring_more). */
	bool polling;
	bool reported;             /* the main thread wrote the error node */
	char why[160];
};

struct vbd__bb_disk {
	int fd;                    /* -1: not open; buffered */
	/* O_DIRECT (disk.c): asked for by direct-io-safe, set before
	 * vbd__bb_disk_open(); the second descriptor, or -1 (direct_why says
	 * why); its alignment; set once a transfer on it failed (atomic). */
	bool direct_wanted;
	int dfd;
	unsigned dio_off_align, dio_mem_align;
	bool direct_off;
	char direct_why[160];
	bool is_blk, readonly, cdrom;
	bool discard;              /* offered */
	unsigned discard_granularity;
	uint64_t sectors;          /* 512-byte units; atomic while rings run */
	unsigned sector_size, physical_sector_size;
	unsigned major, minor;     /* physical-device as first read, or 0:0 */
	bool have_pdev;
	/* The wire client's reply count as the target's keys were sent for
	 * (vbd__xb_bus_replies()): a physical-device event older than that
	 * read tells nothing it did not. */
	uint64_t keys_seen;
	char path[256];            /* what was opened */
};

/* How a frontend lays out its rings: nq queues (each in queue-N/ past
 * one) of 1 << order pages, the refs numbered (ring-ref<k>) when it wrote
 * ring-page-order, else the one ring-ref. */
struct vbd__bb_shape {
	unsigned nq, order;
	bool has_order;
};

struct vbd__bb_dev {
	vbd__bb_dev *next;
	vbd_blkback *b;
	unsigned fe_domid;
	uint32_t devid;
	char be[128];              /* backend directory */
	char fe[128];              /* frontend directory, from `frontend` */
	vbd_state be_state;        /* the state this backend last wrote */
	int fe_state;              /* last seen; -1 before the first event */
	vbd__xb_watch *w_fe;        /* the frontend's state */
	/* Frontend events still to come that most likely find it
	 * Initialising: the watch's first, or for a reused watch the probe's
	 * look and the event of the toolstack's write of Initialising, which
	 * the watch, idle then, may still deliver.  Their guess waits on the
	 * state (peer.c). */
	unsigned fe_early;
	struct vbd__bb_shape shape;  /* of the last connect; nq 0: none yet */
	struct vbd__bb_disk disk;
	vbd__bb_ring *rings;
	unsigned nr_rings;
	bool rings_bound;          /* mapped and bound, not yet started */
	bool persistent;           /* negotiated */
	enum vbd__bb_abi abi;
	bool seen;                 /* scan marker */
	bool replaced;             /* its dir was removed and made again for a
	                            * new device: freed and probed anew at the
	                            * end of process(), written to no more */
	struct vbd__bb_dev_counters dn_done;  /* of rings already torn down */
	/* What vbd_blkback_write_stats() last published (stats.c): a device
	 * whose counters did not move is not written again. */
	struct vbd__bb_dev_counters published;
	bool published_ok;
};

struct vbd_blkback {
	vbd_bus *bus;              /* its own, or the one the options gave */
	struct xs_handle *xs;      /* the bus's request connection */
	void (*log)(int level, const char *msg, void *userdata);
	void *log_userdata;
	vbd_xport *x;
	unsigned domid;
	unsigned max_order, max_queues, max_indirect, pgrants_max, resize_poll_ms;
	/* Persistent grants all rings may keep mapped together, and how many
	 * they do (atomic: workers take and give back). */
	unsigned pgrants_total_max, pgrants_total;
	bool feature_discard;
	char base[64];             /* /local/domain/<domid>/backend/<kind> */
	char kind[8];              /* "vbd" or "vbd3" */
	vbd__xb_watch *w_base;
	vbd__bb_dev *devs;
	bool scanned;              /* the base dir looked at once, all of it */
	struct {
		bool used;
		bool own_state;        /* our Closed's event still to come */
		uint64_t closed_seen;  /* vbd__bb_retire() */
		unsigned fe_domid;
		uint32_t devid;
	} retired[VBD__BB_RETIRED];   /* probe.c */
	unsigned retired_next;
	/* The ring shape of each frontend domain's last connect, the oldest
	 * given up for a new domain: the guess for its next (peer.c), as a
	 * domain's devices have one driver, and a device detached and
	 * attached again is a new vbd__bb_dev.  nq 0: unused. */
	struct {
		unsigned fe_domid;
		struct vbd__bb_shape s;
	} shapes[VBD__BB_SHAPES];
	unsigned shapes_next;
	int epfd;                  /* the fd the caller polls */
	int notify_fd;             /* eventfd: a worker stopped its ring */
	uint64_t next_poll_ms;
	struct vbd__bb_counters done;  /* of rings already torn down */
	uint64_t rings_stopped, fatal_errors;
	uint64_t direct_refused;   /* atomic: workers add a refusal at I/O */
	bool uring_warned;         /* io_uring's failure was logged */
	int uring_probe;           /* io_uring given by the kernel: 0 not asked
	                            * yet, 1 yes, else -errno (uring.c) */
	int uring_queue_fail;      /* test seam: -errno for every ring's queue
	                            * made at its first request (atomic) */
	bool freeing;              /* vbd_blkback_free(): probe nothing new */
	uint64_t mem;              /* bytes held for devices (atomic: workers
	                            * grow their buffers) */
	uint64_t poll_ns;          /* options.poll_us: a worker's busy-poll */
};

void vbd__bb_log(vbd_blkback *b, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* probe.c: the backend dir (or an ancestor) changed at path. */
void vbd__bb_scan(vbd_blkback *b, const char *path);
/* probe.c: a device let go at Closed and offline: the events of its
 * nodes' removal are not looked at, nor any event the bus's wire client
 * took before the reply to the commit that wrote Closed (closed_seen, as
 * vbd__xb_bus_event_before() counts: our Closed's, the toolstack's
 * Closing's, however late they are handled), or, where Closed went
 * through libxenstore (closed_seen VBD__XB_NO_EVENT, wrote_closed), the
 * first event of its state. */
void vbd__bb_retire(vbd_blkback *b, unsigned fe_domid, uint32_t devid, bool wrote_closed,
                    uint64_t closed_seen);

struct vbd__bb_target_keys;

/* xenbus.c.  frontend_changed is the watch probe.c sets on the
 * frontend's state; backend_changed gets the backend dir's events of
 * physical-device and physical-device-path from vbd__bb_scan (path NULL:
 * a look, not an event; read: the target's keys the probe read, taken
 * from it, or NULL: read here). */
void vbd__bb_frontend_changed(const char *path, void *ud);
void vbd__bb_backend_changed(vbd__bb_dev *d, const char *path, struct vbd__bb_target_keys *read);
/* Whether path is d's backend dir's node key. */
bool vbd__bb_key_is(const vbd__bb_dev *d, const char *path, const char *key);
void vbd__bb_dev_free(vbd__bb_dev *d, bool close_state);
/* Devices found replaced: freed, their dirs probed again; how many. */
int vbd__bb_reap_replaced(vbd_blkback *b);
void vbd__bb_fatal(vbd__bb_dev *d, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vbd__bb_announce_size(vbd__bb_dev *d);

/* peer.c: what the frontend and the hotplug step wrote, read pipelined.
 * A number, as vbd__xb_read_num() takes it: r is 0 (v set), -ENOENT,
 * -EINVAL (not a strict decimal in 0..max), or -errno. */
struct vbd__bb_num {
	unsigned long long max, v;
	int r;
	bool done;
};
/* The protocol: its first bytes (an unknown one is shown cut anyway). */
struct vbd__bb_str {
	char val[48];
	int r;
	bool done;
};
/* Ring keys guessed at most: with the state and the four top keys, one
 * window on a socket. */
#define VBD__BB_GUESS_KEYS (VBD__XB_WINDOW - 5)
/* The frontend's state and the keys at the top of its dir; with a guess
 * (vbd__bb_read_fe_guess), the ring keys of up to two shapes read in the
 * same window, gring holding each in turn (nq * (pages + 1) as
 * vbd__bb_read_rings() fills them). */
struct vbd__bb_fe_keys {
	struct vbd__bb_num state, persistent, nq, order;
	struct vbd__bb_str proto;
	bool have;          /* the four below the state read */
	unsigned nguess;
	struct vbd__bb_shape guess[2];
	struct vbd__bb_num gring[VBD__BB_GUESS_KEYS];
};
/* The target's keys, read pipelined: physical-device and -path in one
 * window, then (params for vbd3) mode, device-type, discard-enable and
 * direct-io-safe in the next, sent only when the first two say there is
 * a target to open; each judged after (xenbus.c), as one-by-one reads. */
struct vbd__bb_target_keys {
	char *pd, *pdp, *params, *mode, *type;
	struct vbd__bb_num de, dio;
};

/* A vbd__xb_batch_check() function that fills a struct vbd__bb_num
 * (its max set); goes on always. */
int vbd__bb_num_check(const char *val, int err, void *ud);
/* Into k, in one window: the frontend's state (with state), its top keys
 * (with top). */
void vbd__bb_read_fe(vbd__bb_dev *d, struct vbd__bb_fe_keys *k, bool state, bool top);
/* The same with the state, the top keys and the ring keys of the shapes
 * the frontend most likely wrote, in one window: for a state event in
 * InitWait.  The batch stops at a state that is neither Initialised nor
 * Connected, and at top keys that say no shape guessed (what was sent
 * already is answered and dropped); with wait, the state goes alone, the
 * rest only after it said Initialised or Connected: an event that most
 * likely is not.  The top keys not all answered: have is false. */
void vbd__bb_read_fe_guess(vbd__bb_dev *d, struct vbd__bb_fe_keys *k, bool wait);
/* Its two halves: the batch recorded (0, or -errno: nothing recorded, k
 * empty), then, once fetched, k judged on the fetch's result r. */
int vbd__bb_fe_guess_rec(vbd__bb_dev *d, struct vbd__bb_fe_keys *k, bool wait,
                         vbd__xb_batch **ret);
void vbd__bb_fe_guess_done(struct vbd__bb_fe_keys *k, int r);
/* d connected with shape s: the guess for its domain's next connects. */
void vbd__bb_shape_seen(vbd__bb_dev *d, const struct vbd__bb_shape *s);
/* The shape the top keys in k say: 0, -ENOSYS for a bad queue count,
 * -EINVAL for a bad ring-page-order. */
int vbd__bb_fe_shape(const struct vbd__bb_fe_keys *k, struct vbd__bb_shape *s);
/* Into ring, the keys of shape s read with k's top keys, if guessed and
 * all answered: true; false, and ring untouched, if not. */
bool vbd__bb_guessed_rings(const struct vbd__bb_fe_keys *k, const struct vbd__bb_shape *s,
                           struct vbd__bb_num *ring);
/* The same reads recorded in b (a transaction's), the last one's answer
 * to last(val, err, ud), which fills its own (ring[nq * (pages + 1) - 1],
 * vbd__bb_num_check()): 0, or the recording's -errno. */
int vbd__bb_ring_keys_rec(vbd__bb_dev *d, vbd__xb_batch *b, unsigned nq, unsigned pages,
                          bool has_order, struct vbd__bb_num *ring, vbd__xb_check_fn last,
                          void *ud);
/* Every queue's keys into ring (nq * (pages + 1)): pages refs, then the
 * event channel, per queue. */
void vbd__bb_read_rings(vbd__bb_dev *d, unsigned nq, unsigned pages, bool has_order,
                        struct vbd__bb_num *ring);
/* The target's keys into t (t->de.r and t->dio.r preset to -EIO): 0, 1
 * when physical-device(-path) say there is nothing to open (the rest not
 * read), or -errno of the fetch. */
int vbd__bb_read_target(vbd__bb_dev *d, struct vbd__bb_target_keys *t);
/* The same keys, all of them, added to bt (a probe's transaction reads
 * them in its window: the built-in hotplug step wrote them with the
 * device's nodes, and opening the target need not wait for two round trips
 * more); each read goes on whatever it finds.  0 or -errno. */
int vbd__bb_target_batch(vbd__bb_dev *d, vbd__xb_batch *bt, struct vbd__bb_target_keys *t);
void vbd__bb_target_keys_free(struct vbd__bb_target_keys *t);
/* "fd:4" -> 253, 4: 0 or -EINVAL. */
int vbd__bb_parse_pdev(const char *s, unsigned *maj, unsigned *min);
/* A physical-device-path the disk can take: absolute, within its path. */
bool vbd__bb_pdp_ok(const char *pdp);
/* Where queue q of nq keeps its keys (dir), and the name of its key j of
 * pages (key): ring-ref<j> (ring-ref without an order), j == pages the
 * event channel. */
#define VBD__BB_RING_DIR_MAX 160
#define VBD__BB_RING_KEY_MAX 24
void vbd__bb_ring_key(const vbd__bb_dev *d, unsigned nq, unsigned q, unsigned j, unsigned pages,
                      bool has_order, char *dir, char *key);

/* disk.c: opens path (read-only or not) and fills d; 0 or -errno with a
 * message in why. */
int vbd__bb_disk_open(struct vbd__bb_disk *d, const char *path, bool readonly, bool want_discard,
                      char *why, size_t whylen);
void vbd__bb_disk_close(struct vbd__bb_disk *d);
/* Whether iov (cnt pieces) at off meets the O_DIRECT alignment. */
bool vbd__bb_disk_aligned(const struct vbd__bb_disk *d, const struct iovec *iov, unsigned cnt,
                          off_t off);
/* The descriptor to transfer iov at off with: the O_DIRECT one if there
 * is one and the transfer is aligned for it, else the buffered one
 * (*ret_unaligned: because of its alignment). */
int vbd__bb_disk_fd_for(const struct vbd__bb_disk *d, const struct iovec *iov, unsigned cnt,
                        off_t off, bool *ret_unaligned);
/* After a transfer on fd failed with err: whether it is O_DIRECT's
 * refusal, to be done again on the buffered descriptor (the target is
 * buffered from then on; *ret_first: it just became so). */
bool vbd__bb_disk_direct_failed(struct vbd__bb_disk *d, int fd, int err, bool *ret_first);
/* The target's current size in sectors, or -errno. */
int64_t vbd__bb_disk_sectors(const struct vbd__bb_disk *d);
int vbd__bb_disk_flush(const struct vbd__bb_disk *d);
/* 0, -EOPNOTSUPP, or -errno. */
int vbd__bb_disk_discard(const struct vbd__bb_disk *d, uint64_t sector, uint64_t nr, bool secure);

/* xenbus.c: the state Initialising, read in a transaction of d's, says
 * its dir is a new device's: d marked replaced, true.  Every ring of d
 * disconnected and freed (idempotent). */
bool vbd__bb_found_replaced(vbd__bb_dev *d, int s);
void vbd__bb_disconnect(vbd__bb_dev *d);
/* connect.c: the rings of the frontend's keys k mapped, and Connected
 * written once the target is open (then, with the mapping overlapping
 * the transaction's start); Connected when the target is open and the
 * rings are bound, whichever came last (a no-op otherwise). */
void vbd__bb_connect_rings(vbd__bb_dev *d, struct vbd__bb_fe_keys *k);
/* For a state event in InitWait with the target open: the frontend's
 * state and keys (vbd__bb_read_fe_guess()'s) fetched with the Connected
 * transaction's start, and, at Initialised or Connected with the keys all
 * in, the rings mapped while the start is answered and Connected written:
 * true.  Else false, that transaction aborted, with k holding what the
 * fetch read, to go on from as after vbd__bb_read_fe_guess(). */
bool vbd__bb_connect_fetched(vbd__bb_dev *d, struct vbd__bb_fe_keys *k);
void vbd__bb_update_status(vbd__bb_dev *d);

/* ring.c */
/* An unconnected ring: what vbd__bb_ring_disconnect() may be called on. */
void vbd__bb_ring_init(vbd__bb_ring *r, vbd__bb_dev *d, unsigned index, enum vbd__bb_abi abi,
                       bool persistent);
/* Every ring of d (d->rings[0..nr_rings), initialised) connected: ring i's
 * pages refs[i * pages..] mapped and the frontend's port evtchns[i] bound,
 * all in one transport run; the workers start later.  0, or -errno with
 * why (what is connected is d's to disconnect). */
int vbd__bb_rings_connect(vbd__bb_dev *d, const uint32_t *refs, unsigned pages,
                          const uint32_t *evtchns, char *why, size_t whylen);
/* A connected ring's worker starts at its first event (arm: the main loop
 * follows the event channel until then) or at once (start): 0 or -errno. */
int vbd__bb_ring_arm(vbd__bb_ring *r);
int vbd__bb_ring_start(vbd__bb_ring *r);
/* Stops and joins the worker, unmaps everything, unbinds; idempotent. */
void vbd__bb_ring_disconnect(vbd__bb_ring *r);
/* The most persistent grants a ring can use: what the options allow, and no
 * more than its requests can name at once (ring slots x pages per
 * request: max_indirect segments and their indirect pages when indirect
 * requests are offered, else 11). */
unsigned vbd__bb_pgrant_limit(unsigned pgrants_max, unsigned ring_size, unsigned max_indirect);
/* Makes r's scratch hold n segments (n <= what was offered).  0 or -ENOMEM. */
int vbd__bb_ring_scratch(vbd__bb_ring *r, unsigned n);

/* The ring's req_cons and req_prod, the entries up to req_prod read after
 * it; -EPROTO (r->why says why) if the frontend's req_prod is more than a
 * ring ahead of the responses. */
int vbd__bb_ring_peek(vbd__bb_ring *r, RING_IDX *ret_cons, RING_IDX *ret_prod);

/* The backend's memory count (vbd_blkback_get_stats): grown by a ring's
 * worker, freed by the main thread once it is joined. */
static inline void vbd__bb_mem_add(vbd__bb_ring *r, size_t n)
{
	VBD__BB_ADD(r->dev->b->mem, n);
}

static inline void vbd__bb_mem_sub(vbd__bb_ring *r, size_t n)
{
	__atomic_fetch_sub(&r->dev->b->mem, n, __ATOMIC_RELAXED);
}

/* Gives n entries back to the backend-wide budget of cached grants
 * (map.c). */
void vbd__bb_budget_put(vbd_blkback *b, unsigned n);

/* ring.c: the steps of a request, for both engines (worker only). */
/* Decodes and checks a copied entry's header: a BLKIF_RSP_* status. */
int vbd__bb_req_take(vbd__bb_ring *r, const void *entry, struct vbd__bb_req *req);
/* What vbd__bb_req_begin() returns for a read or write whose segments
 * passed their checks: *ret_segs are to be transferred (vbd__bb_rw_map). */
#define VBD__BB_REQ_RW 1
/* Counts a taken request and acts on it as far as its transfer: a discard
 * is done, an indirect request's segments copied; every segment checked.
 * A BLKIF_RSP_* status, or VBD__BB_REQ_RW. */
int vbd__bb_req_begin(vbd__bb_ring *r, struct vbd__bb_req *req,
                      const struct blkif_request_segment **ret_segs);
/* A taken request carried out now, flush included; its status. */
int16_t vbd__bb_req_exec(vbd__bb_ring *r, struct vbd__bb_req *req);
/* Maps n checked segments and fills iov (n entries at most, adjacent
 * pieces merged) with what to transfer.  Cached grants that requests from
 * number `floor` on use are kept.  The mapping to give back is *ret_base
 * (*ret_batch_n pages). */
int vbd__bb_rw_map(vbd__bb_ring *r, const struct blkif_request_segment *segs, unsigned n,
                   bool write, uint64_t floor, struct iovec *iov, unsigned *ret_cnt,
                   void **ret_base, unsigned *ret_batch_n);
void vbd__bb_rw_unmap(vbd__bb_ring *r, void *base, unsigned batch_n);
/* The n indirect pages of a request from the persistent cache (found or
 * added, none evicted) into pages[]: 0, or -ENOENT to map them for the
 * request only. */
int vbd__bb_ind_pages(vbd__bb_ring *r, const uint32_t *grefs, unsigned n, void **pages);
void vbd__bb_rw_count(vbd__bb_ring *r, uint64_t nr_sectors, bool write);
/* preadv/pwritev until done: 0 or -errno.  On r's target, through fd, the
 * descriptor vbd__bb_io_fd() picked (and again buffered where O_DIRECT
 * refuses it, or where what is left is no longer aligned for it). */
int vbd__bb_do_io(vbd__bb_ring *r, int fd, struct iovec *iov, unsigned cnt, off_t off, bool write);
/* The descriptor for iov at off (vbd__bb_disk_fd_for), counted. */
int vbd__bb_io_fd(vbd__bb_ring *r, const struct iovec *iov, unsigned cnt, off_t off);
/* fd's transfer failed with err: the buffered descriptor to do it again
 * with (O_DIRECT refused it, counted), or -1. */
int vbd__bb_io_refused(vbd__bb_ring *r, int fd, int err);
/* Writes the response for req in the next response slot (not yet seen by
 * the frontend); vbd__bb_rsp_push() publishes what was put, and notifies. */
void vbd__bb_rsp_put(vbd__bb_ring *r, const struct vbd__bb_req *req, int16_t st);
void vbd__bb_rsp_push(vbd__bb_ring *r);
/* The end of an engine's pass: whether requests wait.  Sets req_event and
 * looks once more first (RING_FINAL_CHECK_FOR_REQUESTS), unless the
 * worker is busy-polling. */
int vbd__bb_ring_more(vbd__bb_ring *r);
/* The synchronous engine's pass over what the ring holds: 1 look again,
 * 0 empty, -EPROTO stopped (ring.c). */
int vbd__bb_sync_pass(vbd__bb_ring *r);

/* uring.c: the io_uring engine.  VBD_BLKBACK_ENGINE=sync in the
 * environment asks for the synchronous engine. */
bool vbd__bb_uring_wanted(void);
/* Whether this build has the io_uring engine. */
bool vbd__bb_uring_built(void);
/* Sets up r->u for a connected ring (main thread): 0, or -errno (no
 * io_uring: built without it, -ENOSYS, or refused by the kernel). */
int vbd__bb_uring_open(vbd__bb_ring *r);
/* Frees r->u once the worker is joined; NULL is fine. */
void vbd__bb_uring_close(vbd__bb_ring *r);
/* The fd that is readable when completions wait. */
int vbd__bb_uring_fd(const vbd__bb_ring *r);
/* One pass: completions reaped, requests taken and submitted, responses
 * pushed.  1: look again, 0: sleep, -errno: stopped (r->why says why). */
int vbd__bb_uring_do_ring(vbd__bb_ring *r);
/* Waits for every request in flight and pushes their responses. */
void vbd__bb_uring_drain(vbd__bb_ring *r);
/* Whether completions wait in r's io_uring (false for the synchronous
 * engine): the busy-poll's second thing to watch. */
bool vbd__bb_uring_ready(const vbd__bb_ring *r);
/* Bytes the engine holds for r (in vbd_blkback_stats.mem_bytes): its
 * queue, from connect, and its in-flight table, from the first request. */
size_t vbd__bb_uring_bytes(const vbd__bb_ring *r);
/* Of those, the io_uring's own mappings (SQ and CQ rings, SQE array). */
size_t vbd__bb_uring_queue_bytes(const vbd__bb_ring *r);

#endif
