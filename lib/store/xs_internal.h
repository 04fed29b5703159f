/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the embedded xenstore daemon.
 *
 * Data model
 *   The committed tree is a hash map from absolute path to node.  A node
 *   keeps its children's names in one "a\0b\0" buffer, which is also the
 *   DIRECTORY reply.  Nothing walks the tree recursively (XSA-418): subtree
 *   operations use an explicit stack.
 *
 *   Every operation that changes the tree runs inside a transaction: the
 *   client's own (tx_id != 0) or an implicit one made for that one request.
 *   A transaction is an overlay map path -> copy of the node (or "absent")
 *   plus the generation each node had when first touched.  Commit checks
 *   those generations against the tree (EAGAIN on any difference), then
 *   moves the copies in and fires the events the transaction recorded.  So a
 *   request that fails half-way simply drops its overlay: nothing is left
 *   half-done (XSA-414/415), and a request's events go out only if it
 *   succeeded.
 *
 *   Watches are indexed by path, so firing an event for /a/b/c costs one
 *   lookup per ancestor, not one per watch.
 */
#ifndef VBD_XS_INTERNAL_H
#define VBD_XS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <xen/xen.h>
#include <xen/io/xs_wire.h>

#include "util/listen.h"
#include "vbd/store.h"

#define XS_HDR_SIZE       ((uint32_t)sizeof(struct xsd_sockmsg))
#define XS_DOMID_MAX      ((unsigned)DOMID_FIRST_RESERVED)
#define XS_CANON_MAX      (XENSTORE_ABS_PATH_MAX + 32)
#define XS_TOKEN_MAX      (XENSTORE_PAYLOAD_MAX - XENSTORE_ABS_PATH_MAX - 2)
#define XS_SPECIAL_INTRO  "@introduceDomain"
#define XS_SPECIAL_REL    "@releaseDomain"

/* Permission bits; XS_PERM_OWNER is never stored, only computed. */
enum {
	XS_PERM_NONE  = 0,
	XS_PERM_READ  = 1,
	XS_PERM_WRITE = 2,
	XS_PERM_BOTH  = 3,
	XS_PERM_OWNER = 4,
	/* Stored with an entry naming a domain that did not exist when the
	 * entry was set: shown and inherited, but it grants nothing, so a
	 * domain created later with that id gets nothing (as cxenstored). */
	XS_PERM_IGNORE = 16,
};

typedef struct xs_perm {
	uint32_t id;
	uint32_t perm;
} xs_perm;

typedef struct xs_perms {
	xs_perm *p;
	uint32_t n;
} xs_perms;

typedef struct xs_node {
	char *path;
	uint32_t path_len;
	char *value;
	uint32_t vlen;
	xs_perms perms;
	char *kids;           /* "name\0name\0" */
	uint32_t kids_len;
	uint32_t kids_cap;
	uint64_t gen;         /* changes with value, perms and children */
} xs_node;

/* ---- hash map: string key (borrowed from the value) -> pointer ---- */
typedef struct vbd__hent {
	struct vbd__hent *next;
	uint64_t hash;
	const char *key;
	uint32_t klen;
	void *val;
} vbd__hent;

typedef struct vbd__hmap {
	vbd__hent **b;
	size_t nb;
	size_t count;
	vbd__hent *spare;     /* entries reserved by vbd__hmap_reserve(), kept
	                       * by vbd__hmap_del() and vbd__hmap_clear() */
	size_t nspare;
} vbd__hmap;

/* Entries vbd__hmap_del() keeps for the next inserts, at most. */
#define XS_HMAP_SPARE_KEEP 16

uint64_t vbd__hash(const char *s, size_t len);
void *vbd__hmap_get(const vbd__hmap *m, const char *key, size_t klen);
/* Inserts or replaces; the key must stay valid while the entry lives. */
int vbd__hmap_put(vbd__hmap *m, const char *key, size_t klen, void *val);
void *vbd__hmap_del(vbd__hmap *m, const char *key, size_t klen);
/* Makes the next n inserts unable to fail (commit must not fail half-way). */
int vbd__hmap_reserve(vbd__hmap *m, size_t n);
void vbd__hmap_done(vbd__hmap *m);
/* Empties m but keeps its buckets and entries for the next inserts, when
 * it holds at most keep buckets; vbd__hmap_done() otherwise. */
void vbd__hmap_clear(vbd__hmap *m, size_t keep);
/* Gives back what a peak left: buckets down to twice the count (16 at
 * least), the reserved entries.  Not between a reserve and its inserts. */
void vbd__hmap_shrink(vbd__hmap *m);
/* Iteration: for (e = NULL; (e = vbd__hmap_next(m, &i, e));) */
vbd__hent *vbd__hmap_next(const vbd__hmap *m, size_t *bucket, vbd__hent *e);

/* ---- paths (xs_path.c) ---- */
struct xs_conn;
/* Canonicalises a request path for conn into out (XS_CANON_MAX bytes):
 * relative -> /local/domain/<domid>/rel.  allow_special admits the two
 * special watch names.  -EINVAL on a bad path. */
int vbd__path_canon(unsigned domid, const char *in, bool allow_special, char *out);
bool vbd__path_is_special(const char *p);
/* Only legal characters, no "//" (the scan of vbd__path_canon()). */
bool vbd__path_chars_ok(const char *in, size_t len);
/* Length of the parent of path ("/" for "/a"); path must not be "/". */
size_t vbd__path_parent_len(const char *path, size_t len);
const char *vbd__path_basename(const char *path, size_t len);
/* Strict decimal domid parse; -EINVAL on junk. */
int vbd__parse_uint(const char *s, unsigned max, unsigned *ret);

/* ---- permissions (xs_perms.c) ---- */
int vbd__perms_parse(const char *strs, size_t len, xs_perms *ret);
/* Appends "n0\0r5\0"... to buf; returns bytes needed (may exceed size). */
size_t vbd__perms_format(const xs_perms *p, char *buf, size_t size);
int vbd__perms_copy(xs_perms *dst, const xs_perms *src);
void vbd__perms_done(xs_perms *p);
/* Access mask (XS_PERM_*) of a connection acting as domid, privileged or
 * not, with optional target domain (has_target), on perms. */
unsigned vbd__perms_mask(const xs_perms *p, unsigned domid, bool priv,
                         bool has_target, unsigned target);

/* ---- nodes and the committed tree (xs_tree.c) ---- */
xs_node *vbd__node_new(const char *path, size_t len);
/* A node of dom0's only ("n0": the root and the special nodes, XSA-115). */
xs_node *vbd__node_new_n0(const char *name);
xs_node *vbd__node_dup(const xs_node *n);
void vbd__node_free(xs_node *n);
/* Moves src's content (value, children, permissions, generation) into dst,
 * the node of the same path in the tree, keeping dst's own blocks where
 * src's content fits in them; frees src. */
void vbd__node_assign(xs_node *dst, xs_node *src);
int vbd__node_set_value(xs_node *n, const char *v, uint32_t len);
int vbd__node_add_kid(xs_node *n, const char *name, size_t len);
void vbd__node_del_kid(xs_node *n, const char *name, size_t len);

/* ---- the store object ---- */
typedef struct xs_buf {
	struct xs_buf *next;
	uint32_t len;         /* header + payload */
	uint32_t off;         /* bytes already written */
	bool event;
	bool small;           /* data has XS_BUF_SMALL bytes: goes back to the cache */
	uint8_t data[];
} xs_buf;

/* A message of at most XS_BUF_SMALL bytes (most replies, most events) gets
 * a buffer of that size, taken from the store's cache of up to
 * XS_BUF_CACHE freed ones when it has one. */
#define XS_BUF_SMALL 128u
#define XS_BUF_CACHE 16u

typedef struct xs_watch {
	struct xs_watch *cnext;        /* in conn's list */
	struct xs_watch *inext, *iprev;/* in the index bucket for path */
	struct xs_conn *conn;
	char *path;                    /* absolute, or a special name */
	uint32_t path_len;
	char *token;
	uint32_t strip;                /* prefix to strip from event paths */
} xs_watch;

typedef struct xs_tnode {
	struct xs_tnode *onext;        /* access order */
	struct xs_tnode *rnext;        /* in the transaction's recount list */
	char *path;
	uint32_t path_len;
	xs_node *node;                 /* with copied: the transaction's own
	                                * version, NULL: absent */
	uint64_t base_gen;             /* 0: was absent */
	uint64_t charged;              /* bytes charged for this entry */
	bool copied;                   /* else only read: the tree has the node */
	bool modified;
	bool recount;                  /* changed since charged */
	bool written;                  /* created or set by a WRITE/MKDIR (the trace) */
	uint32_t mod_seq;              /* when last changed, in the transaction */
	bool traced;                   /* already in the trace of its commit */
} xs_tnode;

typedef struct xs_pevent {
	struct xs_pevent *next;
	bool exact;
	xs_perms perms;                /* who may see it */
	xs_perms old_perms;            /* also these (perm changes), may be empty */
	xs_perm *own[2];               /* the first perms and old_perms, kept in
	                                * this block after the path: not freed */
	uint32_t path_len;
	char path[];
} xs_pevent;

typedef struct xs_txn {
	struct xs_txn *next;           /* in conn's list */
	uint32_t id;                   /* 0: implicit, one request */
	unsigned domid;                /* charged for it (client transactions) */
	uint64_t mem;                  /* bytes charged to domid */
	uint64_t settled;              /* mem after the last request */
	xs_tnode *recount;             /* entries changed since last charged */
	vbd__hmap overlay;
	xs_tnode *ohead, *otail;
	uint32_t touched;
	uint32_t mods;                 /* changes so far (mod_seq) */
	bool failed;                   /* a request failed half-way: commit is EAGAIN */
	int64_t owned_delta;           /* nodes owned by the conn's domain */
	uint64_t release_seq;          /* store's release count at start */
	xs_pevent *ehead, *etail;
	vbd__hmap events[2];           /* recursive, exact: path -> pevent */
	xs_node *special[2];           /* copies of the special nodes it changed */
	bool reused;                   /* the store's implicit one: its maps are
	                                * emptied, not freed (vbd__txn_reuse) */
} xs_txn;

enum xs_src_kind { XS_SRC_LISTEN, XS_SRC_DOMAIN, XS_SRC_CONN, XS_SRC_TRIM };

/* The idle trim's timer (xs_txn.c, give_back). */
typedef struct xs_trim {
	int kind;                      /* XS_SRC_TRIM, first: epoll tag */
	int fd;                        /* timerfd, CLOCK_MONOTONIC */
	bool armed;
} xs_trim;

/* Memory a domain makes the daemon hold, in bytes, by kind.  Its total is
 * what the memory quota bounds (cxenstored's per-domain accounting). */
typedef struct xs_acct {
	int64_t nodes;                 /* nodes it owns, in the committed tree */
	int64_t txn;                   /* its connections' open transactions */
	int64_t out;                   /* output queued for its connections */
	int64_t watch;                 /* its watches */
} xs_acct;

typedef struct xs_domain {
	int kind;                      /* XS_SRC_DOMAIN, first: epoll tag */
	vbd__listener listen;          /* <socket_path>.d/<id>; acts as id */
	struct xs_domain *next;
	unsigned id;
	bool has_target;
	unsigned target;
	bool dead;
	uint32_t nwatches;
	uint32_t nconns;
} xs_domain;

#define XS_IN_SIZE (16u * 1024u)

typedef struct xs_conn {
	int kind;                      /* XS_SRC_CONN, first: epoll tag */
	int fd;
	struct xs_conn *next, *prev;
	unsigned domid;
	bool priv;
	bool dead;
	bool want_in, want_out;        /* what epoll is told */
	bool stalled;                  /* input left unparsed: too much unread output */
	bool eof;                      /* client closed its side: flush, then close */
	bool dirty;                    /* output queued since the last flush */
	struct xs_conn *dnext;         /* in the store's dirty list */
	uint32_t in_len;
	uint8_t *in;                   /* XS_IN_SIZE */
	xs_buf *out_head, *out_tail;
	uint32_t out_replies, out_events;
	size_t out_bytes, out_event_bytes;
	xs_watch *watches;
	uint32_t nwatches;
	xs_txn *txns;
	uint32_t ntxns;
	uint32_t next_txid;            /* per connection, as cxenstored: an id
	                                * tells nothing of other connections */
	bool trace;                    /* subscribed to the change trace: takes
	                                * no more requests (xs_trace.c) */
	size_t trace_max;              /* bytes it may have queued */
	uint64_t trace_lost;           /* records dropped since the last marker */
	struct xs_conn *tnext;         /* in the store's list of subscribers */
	pid_t pid;                     /* the peer's, at connect (0: unknown) */
	uint32_t nreq[XS_TYPE_COUNT];  /* requests handled, by type, and */
	uint32_t nevents;              /* watch events queued: CONTROL "conns" */
} xs_conn;

struct vbd_store {
	int kind;                      /* XS_SRC_LISTEN, first: epoll tag */
	vbd__listener listen;          /* the main socket; acts as dom0 */
	int epfd;
	vbd_store_limits lim;
	unsigned socket_mode;
	vbd__hmap tree;
	xs_node *special[2];           /* @introduceDomain, @releaseDomain */
	uint64_t gen;
	vbd__hmap watch_index;
	xs_txn implicit;               /* a request's implicit transaction, reused */
	xs_conn *conns;
	xs_conn *dead_conns;
	xs_domain *domains;
	bool domains_dead;             /* some of them released: reap_domains() has work */
	xs_conn *dirty, *dirty_tail;    /* connections with output to flush */
	xs_buf *buf_cache;             /* freed small output buffers */
	uint32_t buf_cached;
	char scratch[XENSTORE_PAYLOAD_MAX + 1];
	uint32_t *owned;               /* nodes owned, by domid (0..0xFFFF) */
	xs_acct *acct;                 /* memory charged, by domid (0..0xFFFF) */
	uint64_t release_seq;          /* RELEASEs so far: fails transactions that span one */
	uint64_t fail_count;           /* vbd_store_fail_request(): requests seen from fail_domid */
	uint64_t fail_at;              /* ... the one to fail */
	int fail_domid;                /* -1: any */
	int fail_err;
	bool fail_persistent;
	int spare_fd;                  /* given up to accept and drop a client at EMFILE */
	uint32_t trace_subs;           /* connections subscribed to the trace */
	xs_conn *trace_head;           /* ... their list */
	bool trace_off;                /* CONTROL trace-offer 0: "trace" refused */
	uint64_t trace_seq;            /* changes traced so far */
	size_t trim_peak;              /* most nodes since the heap was last trimmed */
	xs_trim trim;                  /* fires XS_TRIM_IDLE_MS after the last shrink */
	vbd_store_stats st;
};

/* The identity a request acts with: a connection, or the store itself. */
typedef struct xs_actor {
	unsigned domid;
	bool priv;
	bool has_target;
	unsigned target;
} xs_actor;

xs_domain *vbd__domain_find(const vbd_store *s, unsigned id);
void vbd__actor_of(const vbd_store *s, const xs_conn *c, xs_actor *ret);
unsigned vbd__actor_mask(const xs_actor *a, const xs_perms *p);

/* ---- memory accounting (xs_tree.c) ---- */
/* What a node holds, charged to its owner while it is in the tree. */
uint64_t vbd__node_mem(const xs_node *n);
int64_t vbd__acct_total(const vbd_store *s, unsigned domid);
/* Whether charging add more bytes to domid passes its hard quota.  dom0 is
 * never over (as cxenstored), nor anyone when the quota is 0. */
bool vbd__acct_over(const vbd_store *s, unsigned domid, int64_t add);
/* 0 if the nodes and node memory charged to each domain are what the tree
 * holds, -EIO if not, -ENOMEM. */
int vbd__acct_check(vbd_store *s);
static inline xs_acct *vbd__acct(vbd_store *s, unsigned domid)
{
	return &s->acct[domid & 0xFFFF];
}

/* ---- transactions (xs_txn.c) ---- */
void vbd__txn_init(xs_txn *t, uint32_t id);
/* Init for one more request's implicit transaction in t, keeping the maps
 * (buckets and entries) the last one left (vbd__txn_done() empties them). */
void vbd__txn_reuse(xs_txn *t);
/* Frees what the reused maps hold. */
void vbd__txn_release_maps(xs_txn *t);
/* Init for a client transaction of a connection acting as domid: also
 * notes the release count, and charges domid for it. */
void vbd__txn_begin(vbd_store *s, xs_txn *t, uint32_t id, unsigned domid);
/* Frees t's contents and returns what it was charged. */
void vbd__txn_done(vbd_store *s, xs_txn *t);
/* Charges what the last request changed in a client transaction; -ENOMEM
 * if that takes the domain of an unprivileged actor past its quota. */
int vbd__txn_settle(vbd_store *s, xs_txn *t, const xs_actor *a);
/* Node at path as the transaction sees it (t NULL: committed tree).  *ret is
 * NULL if absent.  -ENOSPC when a client transaction touches too many nodes. */
int vbd__txn_get(vbd_store *s, xs_txn *t, const xs_actor *a, const char *path,
                 size_t len, const xs_node **ret);
/* A writable copy of an existing node in the overlay. */
int vbd__txn_modify(vbd_store *s, xs_txn *t, const xs_actor *a, const char *path,
                    size_t len, xs_node **ret);
/* Puts a new node (must be absent) into the overlay; takes n. */
int vbd__txn_insert(vbd_store *s, xs_txn *t, const xs_actor *a, xs_node *n);
int vbd__txn_delete(vbd_store *s, xs_txn *t, const xs_actor *a, const char *path,
                    size_t len);
int vbd__txn_event(vbd_store *s, xs_txn *t, const char *path, size_t len, bool exact,
                   const xs_perms *perms, const xs_perms *old_perms);
/* Checks (client transactions), applies, fires events, and frees t's
 * contents.  -EAGAIN on conflict (nothing applied). */
int vbd__txn_commit(vbd_store *s, xs_txn *t, const xs_actor *a);

/* ---- watches (xs_watch.c) ---- */
int vbd__watch_add(vbd_store *s, xs_conn *c, const char *given, const char *abs,
                   const char *token);
int vbd__watch_del(vbd_store *s, xs_conn *c, const char *abs, const char *token);
void vbd__watch_free_all(vbd_store *s, xs_conn *c);
void vbd__watch_fire(vbd_store *s, const char *path, size_t len, bool exact,
                     const xs_perms *perms, const xs_perms *old_perms);
void vbd__watch_fire_special(vbd_store *s, int which);

/* ---- connections (xs_conn.c) ---- */
int vbd__conn_new(vbd_store *s, int fd, unsigned domid, xs_conn **ret);
void vbd__conn_kill(vbd_store *s, xs_conn *c);
/* Ends c as vbd__conn_kill() and a reap of c would, its watches,
 * transactions, trace subscription, queued output, partial input and
 * their charges all gone, but leaves its fd open, with the bytes the
 * client sent and the store did not read discarded: the same socket can
 * be adopted again as a new connection.  Returns the fd, or -ENOENT if c
 * is dead already (its fd closed).  Outside vbd_store_process() only: c is
 * freed (no other dead connection is). */
int vbd__conn_detach(vbd_store *s, xs_conn *c);
void vbd__conn_reap(vbd_store *s);
void vbd__conn_on_event(vbd_store *s, xs_conn *c, uint32_t events);
/* Queues a message; payload given as up to 3 parts. */
int vbd__conn_send(vbd_store *s, xs_conn *c, uint32_t type, uint32_t req_id,
                   uint32_t tx_id, const void *p1, size_t l1,
                   const void *p2, size_t l2, bool event);
void vbd__conn_flush(vbd_store *s, xs_conn *c);
void vbd__conn_drop_txns(vbd_store *s, xs_conn *c);
/* Frees the cached output buffers. */
void vbd__conn_buf_cache_free(vbd_store *s);

/* ---- the change trace (xs_trace.c) ---- */
#define XS_TRACE_MAX_DEFAULT (1024u * 1024u)
/* Makes c a trace subscriber that may have max bytes queued (0: the
 * default); -EBUSY if it has watches or transactions. */
int vbd__trace_subscribe(vbd_store *s, xs_conn *c, size_t max);
/* Queues the changes t is about to commit to every subscriber; called
 * before the tree changes (it tells a creation from a change by it). */
void vbd__trace_commit(vbd_store *s, const xs_txn *t, const xs_actor *a);
/* A subscriber's queue drained: the lost marker, if one is due. */
void vbd__trace_drained(vbd_store *s, xs_conn *c);
void vbd__trace_unsubscribe(vbd_store *s, xs_conn *c);
/* Notes that a WRITE set path's value in t (a rewrite of the same value is a change). */
void vbd__txn_mark_written(xs_txn *t, const char *path, size_t len);

/* ---- request dispatch (xs_ops.c) ---- */
void vbd__ops_handle(vbd_store *s, xs_conn *c, const struct xsd_sockmsg *h,
                     char *payload);
/* Removes the subtree at path (which must exist) within t, recording events. */
int vbd__ops_rm_tree(vbd_store *s, xs_txn *t, const xs_actor *a, const char *path,
                     size_t len);

/* ---- domains (store.c) ---- */
int vbd__domain_release(vbd_store *s, unsigned domid);

/* xs_txn.c: the heap given back now (the trim timer fired), and the
 * timer stopped (a reset). */
void vbd__store_trim(vbd_store *s);
void vbd__store_trim_disarm(vbd_store *s);

#endif
