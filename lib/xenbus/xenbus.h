/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The xenbus client layer, after Linux's drivers/xen/xenbus client under
 * xen-blkback and xen-blkfront: what every xenstore user of libvbd (the
 * toolstack, the verifier, blkback, blkfront) does the same way.
 *
 *   bus.c   the loop: two connections (or one), one epoll fd, watches (a
 *           table by id), timers, followed fds, deferred frees, reads
 *   xs.c    strict typed reads (a number, a state), printf-style writes, the
 *           one transaction-retry policy, switch_state, dev_fatal, paths
 *   xs_batch.c  a transaction's requests pipelined on a connection of its
 *           own, where the round trips of libxenstore are measured to matter
 *
 *     vbd__xb_read_state(bus, XBT_NULL, "/local/domain/1/device/vbd/51712")
 *         -> VBD_STATE_INITIALISING, or -ENOENT, or -EINVAL for garbage
 *     vbd__xb_switch_state(bus, be, VBD_STATE_CLOSING)
 *         -> one transaction: read the state (absent: do nothing, 1), write it
 *
 * Nothing here knows the toolstack or a driver.
 */
#ifndef VBD_LIB_XENBUS_H
#define VBD_LIB_XENBUS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xenstore.h>
#include <xen/xen.h>        /* DOMID_FIRST_RESERVED */
#include <xen/io/xs_wire.h> /* XENSTORE_ABS_PATH_MAX, XENSTORE_PAYLOAD_MAX */

#include "util/err.h"
#include "vbd/bus.h"
#include "vbd/common.h"     /* vbd_state: VBD_STATE_*, vbd_state_name() */

/* ------------------------------------------------------- bus.c, bus_watch.c */

typedef void (*vbd__xb_log_fn)(int level, const char *msg, void *userdata);

struct vbd_bus {
	unsigned refs;
	/* Two connections to one daemon: xs, libxenstore's, for requests
	 * one at a time (it never watches, so libxenstore reads its replies
	 * inline), and the wire client's (wire.c) for the watches and the
	 * pipelined transactions (xs_batch.c).  The wire client is opened
	 * with the bus, and again after a break, its watches set again. */
	struct xs_handle *xs;
	struct vbd__xb_wire *wire;
	/* Wire clients replaced inside a callback, freed after it. */
	struct vbd__xb_wire **retired;
	unsigned nretired;
	/* The running watch callback's event: the wire client's reply count
	 * when it came; VBD__XB_NO_EVENT outside one. */
	uint64_t ev_seq;
	int epfd;                   /* the one fd: the wire's, the kick, every followed fd */
	int kick_fd;                /* an eventfd: events wait in the wire client */
	bool host_xenstore;         /* the host's xenstored, not a chosen socket */
	char *socket;               /* the socket connected to; NULL: libxenstore's default */
	vbd__xb_log_fn log;
	void *log_ud;
	struct vbd_bus_watch *watches;
	/* Live watches by id: an event finds its watch in one step, however
	 * many watches a backend serving a thousand devices holds. */
	struct vbd_bus_watch **wtab;
	unsigned wtab_size, nwatches;
	/* Watches released, kept set for a later take of the same path
	 * (vbd__xb_watch_release), oldest first; VBD__XB_IDLE_MAX at most. */
	struct vbd_bus_watch *idle;
	unsigned nidle;
	unsigned ndead;             /* entries marked dead, freed by reap() */
	struct vbd__xb_timer *timers;
	struct vbd__xb_io *ios;
	unsigned next_token;
	int depth;                  /* inside a callback: defer frees */
	/* Its last user is letting go: the daemon drops the watches with the
	 * connection, so none is removed with a request of its own
	 * (vbd__xb_bus_last_user()). */
	bool closing;
};

/* Frees what was marked dead (watches, timers, fds followed): called only
 * where no callback runs (bus->depth 0), by the loop and by a removal
 * made outside it. */
void vbd__xb_bus_reap(vbd_bus *bus);
/* bus_watch.c, for the loop: an event to its watch's callback (ud: the
 * bus; seq: the wire's reply count when it came); the dead watches freed;
 * every watch gone with the bus; every live watch set again on a new
 * connection w (0 or the first WATCH's -errno). */
void vbd__xb_watch_fired(const char *path, const char *token, uint64_t seq, void *ud);
void vbd__xb_watches_reap(vbd_bus *bus);
void vbd__xb_watches_end(vbd_bus *bus);
int vbd__xb_watches_set(vbd_bus *bus, struct vbd__xb_wire *w);

/* Called by a user about to free what it set on bus and unref it: if it
 * holds the last reference, the watches it removes on the way go without
 * an UNWATCH each (the daemon drops them with the connection); a bus
 * another user holds keeps removing them. */
void vbd__xb_bus_last_user(vbd_bus *bus);
/* Whether the event whose callback runs came before the reply to every
 * wire request sent once vbd__xb_bus_replies() said replies: then each
 * of those requests saw the change the event tells of (its connection's
 * messages keep their order), and a read among them need not be made
 * again for it.  False outside a watch callback.
 *
 *     d->seen = vbd__xb_bus_replies(bus);  fetch(...physical-device...);
 *     ... in the watch callback:
 *     if (vbd__xb_bus_event_before(bus, d->seen)) return;   // read already
 */
#define VBD__XB_NO_EVENT UINT64_MAX
uint64_t vbd__xb_bus_replies(vbd_bus *bus);
bool vbd__xb_bus_event_before(vbd_bus *bus, uint64_t replies);

/* The public vbd_bus_watch: one type inside and out. */
typedef struct vbd_bus_watch vbd__xb_watch;
typedef struct vbd__xb_timer vbd__xb_timer;
typedef struct vbd__xb_io vbd__xb_io;

/* Callbacks run only from vbd_bus_process(); userdata last. */
typedef vbd_bus_watch_fn vbd__xb_watch_fn;
typedef void (*vbd__xb_timer_fn)(void *userdata);
typedef void (*vbd__xb_io_fn)(int fd, void *userdata);

uint64_t vbd__now_ms(void);
/* One formatter for every log callback of libvbd. */
void vbd__logv_to(vbd__xb_log_fn log, void *ud, int level, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
void vbd__xb_log(vbd_bus *bus, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Registers a watch; fn runs from vbd_bus_process() for each event,
 * including the first one xenstore sends at once.  0 or -errno (err, which
 * may be NULL, says why). */
int vbd__xb_watch_add(vbd_bus *bus, const char *path, vbd__xb_watch_fn fn, void *ud,
                      vbd_errbuf *err, vbd__xb_watch **ret);
/* Accepts NULL and a watch already removed; safe inside its own callback. */
void vbd__xb_watch_remove(vbd_bus *bus, vbd__xb_watch *w);

/* A driver's watch on one device's node, set at its attach and removed at
 * its detach, costs two requests each time the same device comes again.
 * Released, a watch stays set in xenstore, idle (its events dropped), for
 * a take of the same path; the oldest of more than VBD__XB_IDLE_MAX is
 * removed for real, and all of them when a new watch is refused (a
 * guest's watches count against a quota).  A take reuses an idle watch
 * (*fresh false) or adds one (*fresh true).  A reused watch sends no
 * first event: the caller reads what it watches itself, after the take;
 * an event of a change made while it was idle may still come, after the
 * take, like any other.  Release accepts NULL and a removed or released
 * watch, and is safe inside the watch's own callback; the bus's end
 * removes idle watches with the rest. */
/* A frontend holds two per device: 8 devices' worth. */
#define VBD__XB_IDLE_MAX 16
void vbd__xb_watch_release(vbd_bus *bus, vbd__xb_watch *w);
int vbd__xb_watch_take(vbd_bus *bus, const char *path, vbd__xb_watch_fn fn, void *ud,
                       vbd_errbuf *err, vbd__xb_watch **ret, bool *fresh);
struct vbd__xb_batch;
/* A take whose WATCH goes out in the caller's batch b, beside its other
 * requests, in one vbd__xb_bus_fetch(): an idle watch is taken again as
 * above (nothing recorded); a new one is recorded in b and is in the
 * bus's table at once (its first event may come during the fetch).
 * -ENOMEM, or b's recording error.  After the fetch, whatever it returned,
 * vbd__xb_watch_sent() says whether *ret is set: true, a watch like any
 * other; false, it is gone (its WATCH failed, or the batch did before
 * it: an UNWATCH is sent in case it was set) and the caller takes it the
 * one-request way if it still wants it.  No idle watch is dropped for a
 * refused one here: vbd__xb_watch_take() does that. */
int vbd__xb_watch_take_rec(vbd_bus *bus, struct vbd__xb_batch *b, const char *path,
                           vbd__xb_watch_fn fn, void *ud, vbd__xb_watch **ret, bool *fresh);
bool vbd__xb_watch_sent(vbd_bus *bus, vbd__xb_watch *w);
/* fn runs once from vbd_bus_process() at deadline_ms (CLOCK_MONOTONIC). */
int vbd__xb_timer_add(vbd_bus *bus, uint64_t deadline_ms, vbd__xb_timer_fn fn, void *ud,
                      vbd__xb_timer **ret);
/* Accepts NULL; a timer that fired is gone: never cancel it afterwards. */
void vbd__xb_timer_cancel(vbd_bus *bus, vbd__xb_timer *t);
/* Follows fd (POLLIN) through the bus's fd; fn runs from process(). */
int vbd__xb_io_add(vbd_bus *bus, int fd, vbd__xb_io_fn fn, void *ud, vbd__xb_io **ret);
/* Before fd is closed.  Accepts NULL. */
void vbd__xb_io_cancel(vbd_bus *bus, vbd__xb_io *io);

/* ----------------------------------------------------------------- xs.c */

/* One retry policy for every transaction of libvbd: this many tries, with
 * a short growing pause between them so that racing writers spread out. */
#define VBD__XB_TXN_TRIES 64
/* The pause before try + 1 (0.5 ms a try, 10 ms at most). */
void vbd__xb_txn_pause(unsigned try);

/* The body of a transaction: < 0 aborts with that error, 0 commits, > 0
 * aborts and is returned as it is (nothing to write after all). */
typedef int (*vbd__xb_txn_body)(struct xs_handle *xs, xs_transaction_t t, void *ud);

/* Runs body in a transaction and commits, redoing the whole transaction on
 * EAGAIN: at the commit, or body's -EAGAIN (a conflict seen before the
 * commit: vbd__xb_rm()).  Returns body's result (0 after the commit),
 * -errno of a failed start or commit, or -EAGAIN when every try
 * conflicted. */
int vbd__xb_txn(struct xs_handle *xs, vbd__xb_txn_body body, void *ud);

/* A non-negative decimal ("0", "51712"; no sign, no blanks), or -1. */
long long vbd__parse_num(const char *s);
/* A value another domain wrote, as a number in 0..max: the strict decimal
 * above, 20 characters at most (so the work is bounded whatever its
 * length).  0 and *ret, or -EINVAL (*ret untouched). */
int vbd__parse_num_max(const char *s, unsigned long long max, unsigned long long *ret);

/* Reads a node as a NUL-terminated string (NULL if absent: errno ENOENT). */
char *vbd__xb_read(struct xs_handle *xs, xs_transaction_t t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* dir/key as a strict decimal in 0..max: 0 and *ret; -ENOENT if absent,
 * -EINVAL if not such a number, -errno if xenstore could not say (never
 * taken for absent).  *ret is untouched on failure. */
int vbd__xb_read_num(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *key,
                     unsigned long long max, unsigned long long *ret);
/* dir/state: a vbd_state (0..8), -ENOENT if absent, -EINVAL for anything
 * else, -errno if xenstore could not say. */
int vbd__xb_read_state(struct xs_handle *xs, xs_transaction_t t, const char *dir);

/* 1 if the node exists, 0 if not, -errno if xenstore could not say
 * (never taken for absent). */
int vbd__xb_exists(struct xs_handle *xs, xs_transaction_t t, const char *path);

/* dir/key into path (XENSTORE_ABS_PATH_MAX + 1 bytes) and the value fmt
 * makes into val (XENSTORE_PAYLOAD_MAX + 1): its length, -ENAMETOOLONG,
 * -E2BIG or -EINVAL. */
int vbd__xb_format(char *path, char *val, const char *dir, const char *key, const char *fmt,
                   va_list ap);
/* A unix stream socket connected to path: the fd (close-on-exec), or
 * -errno. */
int vbd__xb_connect_unix(const char *path);

/* Writes dir/key = the formatted value: 0 or -errno (-ENAMETOOLONG past
 * xenstore's path limit, -E2BIG for a value past its payload limit). */
int vbd__xb_printf(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *key,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Removes path and everything under it: 0, also when it was absent, or
 * -errno.  In a transaction, -EAGAIN where Xen's C xenstored answers EIO:
 * it does when the transaction's copy of the node or of its parent was
 * read before another client removed them (two REMOVEs of one device, the
 * detach's and a hotplug daemon's, each listing the sharing key then
 * removing it).  That is a conflict the commit would have refused, found
 * early; vbd__xb_txn() runs the body again. */
int vbd__xb_rm(struct xs_handle *xs, xs_transaction_t t, const char *path);

/* Writes dir/state = state in one transaction that reads it first: 0; 1
 * when the node is gone (a removed device is never brought back); -errno.
 * A state node holding garbage is overwritten. */
int vbd__xb_switch_state(struct xs_handle *xs, const char *dir, vbd_state state);
/* Whether base/<fe_domid>/<devid> is a backend device dir a probe may take
 * (state Initialising, InitWait, Connected or Closing, or Closed with
 * online 1: a guest's reset a dead backend left), or xenstore could not
 * say.  One read (two at Closed), before a probe's transaction: Linux's
 * xenbus_dev_changed also looks first, so that the events of a device's
 * removal (one per key) cost a read each, not a transaction. */
bool vbd__xb_backend_live(struct xs_handle *xs, const char *base, unsigned fe_domid,
                          uint32_t devid);

/* Where xenbus_dev_fatal() reports: writes "<errno> <message>" to
 * /local/domain/<home>/error/<nodename>/error, nodename relative to the
 * writer's home (device/vbd/51712, backend/vbd/1/51712).  err may be
 * negative or positive.  Then, with dir, switches dir to Closing as
 * vbd__xb_switch_state() does, its result in *ret_switch.  Returns 0 or
 * -errno of the error node's write. */
int vbd__xb_dev_fatal(struct xs_handle *xs, unsigned home, const char *nodename, int err,
                      const char *msg, const char *dir, int *ret_switch);

/* Device paths, as Linux's xenbus and libxl name them. */
#define VBD__XB_PATH_MAX 160
/* /local/domain/<bdom>/backend/<type>/<fedom>/<devid> */
int vbd__xb_backend_path(char *buf, size_t size, unsigned bdom, const char *type, unsigned fedom,
                         uint32_t devid);
/* /local/domain/<fedom>/device/<type>/<devid> */
int vbd__xb_frontend_path(char *buf, size_t size, unsigned fedom, const char *type,
                          uint32_t devid);

/* ----------------------------------------------------------- xs_batch.c */

/* A transaction's requests recorded, then sent together over a wire
 * client's connection, a window of up to 64 (and 32 KiB) in flight at
 * once on a socket (one on the xenbus device, whose Linux side cannot
 * take a second request before the first is on the ring: xs_batch.c),
 * every reply checked (req_id, tx_id, type, length).  One thread at a
 * time, as the bus.
 *
 *     vbd__xb_batch_new(&b);
 *     vbd__xb_batch_absent(b, dir);              // exists: -EEXIST
 *     vbd__xb_batch_mkdir(b, dir);
 *     vbd__xb_batch_printf(b, dir, "state", "%d", 1);
 *     r = vbd__xb_batch_run(w, b, &failed);      // the transaction, retried
 */
typedef struct vbd__xb_batch vbd__xb_batch;
typedef struct vbd__xb_wire vbd__xb_wire;

/* Requests in one batch at most. */
#define VBD__XB_BATCH_MAX 128
/* Requests in flight at once on a socket: a window, one round trip. */
#define VBD__XB_WINDOW 64
#define VBD__XB_OP_ABSENT    1u   /* a READ that must find nothing */
#define VBD__XB_OP_ENOENT_OK 2u   /* absent is success (an RM) */
#define VBD__XB_OP_SAME      4u   /* answered as expected, or -EAGAIN */
#define VBD__XB_OP_ANY_VALUE 8u   /* with SAME: whether the node exists only */

int vbd__xb_batch_new(vbd__xb_batch **ret);
/* Accepts NULL; returns NULL. */
vbd__xb_batch *vbd__xb_batch_free(vbd__xb_batch *b);
/* Each records one request: 0, -ENAMETOOLONG (path), -E2BIG (payload),
 * -ENOSPC (past VBD__XB_BATCH_MAX), -ENOMEM.  Nothing is sent yet. */
int vbd__xb_batch_absent(vbd__xb_batch *b, const char *path);
/* A READ whose value decides whether the batch goes on: fn gets it
 * (NUL-terminated; NULL with err < 0 when the read failed, -ENOENT for an
 * absent node) and returns 0 to go on, or what the batch returns after
 * aborting the transaction: < 0 an error, > 0 a result as vbd__xb_txn()'s
 * body returns it.  The requests after it are in flight already: they are
 * sent, and abort throws them away.  fn runs from vbd__xb_batch_run(). */
typedef int (*vbd__xb_check_fn)(const char *val, int err, void *ud);
int vbd__xb_batch_check(vbd__xb_batch *b, const char *path, vbd__xb_check_fn fn, void *ud);
/* The same for a DIRECTORY: fn gets the names, each NUL-terminated, len
 * bytes in all (0: no child), or NULL with err < 0 (-ENOENT: no such
 * node; -E2BIG: more than one answer holds, which DIRECTORY_PART would
 * page through: not done here). */
typedef int (*vbd__xb_dir_fn)(const char *names, size_t len, int err, void *ud);
int vbd__xb_batch_dir(vbd__xb_batch *b, const char *path, vbd__xb_dir_fn fn, void *ud);
/* A WATCH of path with token: fn gets its answer as a check's ("OK", or
 * NULL and err < 0), and not at all when an earlier request of the batch
 * failed (whether the watch is set is then unknown).  Watches are not
 * transactional: a batch holding one is only fetched (vbd__xb_batch_run()
 * refuses it with -EINVAL).  The bus's own watch comes from
 * vbd__xb_watch_take_rec(), not from here. */
int vbd__xb_batch_watch(vbd__xb_batch *b, const char *path, const char *token,
                        vbd__xb_check_fn fn, void *ud);
/* A listing kept as it came: vbd__xb_list_take() as a DIRECTORY's fn (ud:
 * the list) copies the names (err -ENOMEM if it cannot) and goes on;
 * vbd__xb_list_clear() frees them, and says not answered (err 1). */
typedef struct vbd__xb_list {
	char *names;                /* NUL-separated, and one more at names[len]; NULL: none */
	size_t len;
	int err;                    /* 0, -ENOENT, -errno; 1: not answered */
} vbd__xb_list;
int vbd__xb_list_take(const char *names, size_t len, int err, void *ud);
void vbd__xb_list_clear(vbd__xb_list *l);
/* A READ's answer kept the same way: vbd__xb_value_take() as its check fn
 * (ud: the value) sets got, err (0, -ENOENT, -errno; -ENOMEM if the copy
 * failed) and val (a copy, the caller's to free) and goes on. */
typedef struct vbd__xb_value {
	bool got;
	int err;
	char *val;
} vbd__xb_value;
int vbd__xb_value_take(const char *val, int err, void *ud);
/* What the caller read before the transaction and decided on, read again
 * in it: another answer fails the batch with -EAGAIN (the transaction
 * aborted; the caller reads again and records a new batch), so a decision
 * made on reads outside a transaction holds as if they were in it.
 *   _same: path's value is the len bytes at val (NULL: there is no such
 *   node; a value may hold NUL bytes);
 *   _same_exists: path exists, or not, whatever its value;
 *   _same_dir: path's children are names[0..n), in that order (NULL: no
 *   such node). */
int vbd__xb_batch_same(vbd__xb_batch *b, const char *path, const char *val, size_t len);
int vbd__xb_batch_same_exists(vbd__xb_batch *b, const char *path, bool exists);
int vbd__xb_batch_same_dir(vbd__xb_batch *b, const char *path, char *const *names, unsigned n);
/* Ends a window after the last request recorded: what is recorded next is
 * sent only once its replies are in and checked, so that a check's no
 * costs nothing of what comes after (a probe's state read before its
 * writes).  0, or -EINVAL on an empty batch. */
int vbd__xb_batch_wait(vbd__xb_batch *b);
/* Appends src's requests to dst's: 0, -ENOSPC, -ENOMEM.  dst's
 * vbd__xb_batch_while() stays; src's is not taken. */
int vbd__xb_batch_append(vbd__xb_batch *dst, const vbd__xb_batch *src);
/* fn(ud) runs once a run has sent the batch's first window and before it
 * reads the replies: work of the caller's own (a loop device configured)
 * that overlaps the store's, where both must be done before the commit.
 * Once per vbd__xb_batch_run() try.  Its failure fails the run as a
 * check's would, the transaction aborted (-EAGAIN: made again by a caller
 * that records the batch again); vbd__xb_batch_while_err() says it was
 * fn's. */
void vbd__xb_batch_while(vbd__xb_batch *b, int (*fn)(void *ud), void *ud);
int vbd__xb_batch_while_err(const vbd__xb_batch *b);
/* fn(b, ud) runs once, in the first vbd__xb_batch_run() try, after its
 * TRANSACTION_START is sent and before that reply is read: the caller's
 * own work overlapping the store's (a ring's pages granted through the
 * hypervisor), which may record requests in b that depend on it (they
 * are sent after it).  Its failure (< 0), or a result (> 0), ends the
 * run with it, the transaction started meanwhile aborted and nothing of
 * b sent.  A retry does not run it again: what it recorded is sent
 * again. */
void vbd__xb_batch_at_start(vbd__xb_batch *b, int (*fn)(vbd__xb_batch *b, void *ud), void *ud);
/* Its failure (< 0) in the last run, 0 if it did not fail or did not run:
 * whether a run's error was fn's. */
int vbd__xb_batch_start_err(const vbd__xb_batch *b);
/* pre's requests, outside any transaction (a fetch: the peer's keys that
 * the start's work decides on), go in the first try's start window: sent
 * with TRANSACTION_START in one send, their replies and checks taken
 * before b's vbd__xb_batch_at_start() work runs and before the start's
 * reply is read.  So a step that reads, then writes in a transaction,
 * pays the read's round trip and the start's in one.  The work may then
 * return > 0 (not now: what pre read says so): the started transaction is
 * aborted and the run returns that, nothing of b sent.  pre must stay
 * until the run returns; it is fetched once, not in a retry.  Where it
 * cannot share the start's window (the xenbus device, or pre past one
 * window, or with a wait or a while work of its own), it is fetched
 * first, then the start sent: the same answers, one round trip more.
 * _pre_result: what its fetch returned (as vbd__xb_batch_fetch()). */
void vbd__xb_batch_before_start(vbd__xb_batch *b, vbd__xb_batch *pre);
int vbd__xb_batch_pre_result(const vbd__xb_batch *b);
int vbd__xb_batch_rm(vbd__xb_batch *b, const char *path);
int vbd__xb_batch_mkdir(vbd__xb_batch *b, const char *path);
int vbd__xb_batch_set_perms(vbd__xb_batch *b, const char *path,
                            const struct xs_permissions *perms, unsigned n);
int vbd__xb_batch_printf(vbd__xb_batch *b, const char *dir, const char *key,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));
unsigned vbd__xb_batch_count(const vbd__xb_batch *b);

/* Runs b as one transaction on w: start, the requests, commit; the whole
 * again on EAGAIN at commit, as vbd__xb_txn().  0; a check's positive
 * result (the transaction aborted); the first failing
 * request's -errno (-EEXIST for an ABSENT that found its node), the
 * transaction aborted, that request's path in *ret_failed (pointing into
 * b); -EPROTO for a reply that is not its request's (w is then closed:
 * vbd__xb_wire_broken()); -errno of the start or commit. */
int vbd__xb_batch_run(vbd__xb_wire *w, vbd__xb_batch *b, const char **ret_failed);

/* Runs b's requests outside any transaction, pipelined as above: reads a
 * peer's keys in one round trip instead of one each (a driver's step).
 * Each request is its own snapshot, as libxenstore's one-by-one reads are.
 * Returns as vbd__xb_batch_run() does, without a start, end or retry. */
int vbd__xb_batch_fetch(vbd__xb_wire *w, vbd__xb_batch *b, const char **ret_failed);

/* Connects as libxenstore does to path (a socket, else a device opened
 * read-write); NULL: xenstored's socket, else the xenbus device. */
int vbd__xb_wire_open(const char *path, vbd__xb_wire **ret);
/* Takes fd (a connected socket when sock, else a xenbus device: one
 * request in flight at a time). */
int vbd__xb_wire_adopt(int fd, bool sock, vbd__xb_wire **ret);
/* Accepts NULL; returns NULL. */
vbd__xb_wire *vbd__xb_wire_free(vbd__xb_wire *w);
/* Its connection closed after a protocol error. */
bool vbd__xb_wire_broken(const vbd__xb_wire *w);
/* WATCH and UNWATCH of path with token on w (wire.c): 0 or -errno. */
int vbd__xbw_watch(vbd__xb_wire *w, const char *path, const char *token);
int vbd__xbw_unwatch(vbd__xb_wire *w, const char *path, const char *token);
/* Runs fn for each watch event w holds or can read now without waiting,
 * in order: first those queued while a request waited, then those read
 * in one read() each time.  The number run, or -errno with the
 * connection closed (a message that is no event: -EPROTO).  seq is the
 * count of replies taken before the event came (vbd__xbw_replies()): one
 * connection's messages keep their order, so an event with seq <= S came
 * before the reply to every request sent once the count was S, and each
 * of those requests saw its change (a transaction's, from its start). */
typedef void (*vbd__xbw_event_fn)(const char *path, const char *token, uint64_t seq,
                                  void *ud);
int vbd__xbw_events(vbd__xb_wire *w, vbd__xbw_event_fn fn, void *ud);
/* Whether buf (len bytes read) starts with one whole message of at most
 * max payload bytes: 0 and its header in *h, -EAGAIN for more bytes to
 * come, -EPROTO for a length past max. */
int vbd__xb_msg_whole(const char *buf, size_t len, uint32_t max, struct xsd_sockmsg *h);
/* An event waits in w, queued or read whole. */
bool vbd__xbw_pending(const vbd__xb_wire *w);
/* Replies w took so far (NULL: 0); a new connection counts on from the
 * one it replaced. */
uint64_t vbd__xbw_replies(const vbd__xb_wire *w);
void vbd__xbw_replies_from(vbd__xb_wire *w, const vbd__xb_wire *old);
/* w's fd, for a poll; and the fd w writes (an eventfd's 1) when a wait
 * leaves an event that no poll of its fd would show. */
int vbd__xbw_fd(const vbd__xb_wire *w);
void vbd__xbw_kick_to(vbd__xb_wire *w, int fd);
/* Requests w sent, and its round trips (sends it waited on, a window or
 * one request each).  w may be NULL (none yet): 0 and 0. */
void vbd__xb_wire_counts(const vbd__xb_wire *w, unsigned long long *requests,
                         unsigned long long *round_trips);
/* The bus's wire client, reopened after a break to the daemon its
 * libxenstore handle talks to, with the bus's watches set again there
 * (bus.c).  0 or -errno. */
int vbd__xb_bus_wire(vbd_bus *bus, vbd__xb_wire **ret);
/* vbd__xb_batch_run() and vbd__xb_batch_fetch() of b on the bus's wire
 * client, or vbd__xb_bus_wire()'s error. */
int vbd__xb_bus_run(vbd_bus *bus, vbd__xb_batch *b, const char **ret_failed);
int vbd__xb_bus_fetch(vbd_bus *bus, vbd__xb_batch *b, const char **ret_failed);

/* One part of a transaction whose writes depend on what it reads first:
 * reads() records its reads (checks, vbd__xb_batch_check or _dir, their
 * functions keeping what they need in ud, from scratch: it runs again on
 * each try); plan() records what those answers decide (removals,
 * writes; nothing is fine). */
typedef struct vbd__xb_part {
	int (*reads)(vbd__xb_batch *b, void *ud);
	int (*plan)(vbd__xb_batch *b, void *ud);
	void *ud;
} vbd__xb_part;
/* Runs parts[0..n) as one transaction on the bus's wire client in two
 * windows: every part's reads, then every part's plan, then the commit;
 * the whole again on EAGAIN at commit.  4 round trips however many
 * requests each window has (up to VBD__XB_BATCH_MAX; more windows past 64
 * on a socket; one round trip each on the xenbus device).  0; a check's or
 * a plan's result (the transaction aborted); -errno as
 * vbd__xb_batch_run(). */
int vbd__xb_bus_run_parts(vbd_bus *bus, const vbd__xb_part *parts, unsigned n);

#endif
