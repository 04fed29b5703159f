/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The xenstored log replay's parts (verify_log.c): the queue of commits in
 * the log's order and the connections, shared by the two formats' readers
 * (verify_log_c.c, the C xenstored's trace; verify_log_o.c, oxenstored's
 * access log).
 */
#ifndef VBD_TOOLSTACK_VERIFY_LOG_H
#define VBD_TOOLSTACK_VERIFY_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbd/verify.h"

#define MAX_LINE      (16 * 1024)  /* a 4 KiB value, escaped, and its path */
#define MAX_CONNS     4096
#define MAX_REQS      64           /* requests of one connection awaiting an answer */
#define MAX_TXNS      16           /* open transactions of one connection (xenstored's quota: 10) */
#define MAX_TXN_CHG   4096         /* changes of one transaction */
#define MAX_QUEUE     65536        /* commits awaiting their answer */
#define O_WINDOW      256          /* lines after which an oxenstored write unanswered is taken as done */
#define DETECT_LINES  64
#define RECENT        64           /* requests remembered to name a connection's domain */
#define NAME_WAIT     256          /* lines a commit waits for its writer's domain */

enum { W_WAIT, W_APPLY, W_NONE, W_UNKNOWN };

typedef struct chg {
	vbd_change_op op;
	char *path;
	char *value;
	size_t len;
	int state;                   /* W_WAIT until its answer (in a transaction) */
	bool rel;                    /* path relative to the writer's home, not yet known */
} chg;

typedef struct effect {
	struct effect *next;
	int state;
	int writer;
	uint64_t seq, line;
	int64_t time_ns;
	chg *c;
	size_t n, cap;
	bool overflow;               /* more changes than it could hold */
	struct conn *owner;          /* oxenstored: whose next line settles it */
	/* The one request that points at it (a write outside a transaction, a
	 * transaction's end), found again when it is freed: a commit fed
	 * before its answer came (the queue full, oxenstored's window) must
	 * not be left behind in a request that the answer then reads. */
	struct conn *rc;
	size_t rslot;
} effect;

typedef struct req {
	int type;                    /* R_* */
	effect *e;                   /* WRITE outside / END: the commit; inside: the transaction */
	size_t ci;                   /* inside: which change */
	uint32_t tid;                /* oxenstored: the transaction */
} req;

enum { R_CHANGE = 1, R_TXN_CHANGE, R_START, R_END, R_INTRODUCE, R_OTHER };

/* r->e = e, remembered by e (effect.rc). */
void vbd__xsl_req_bind(struct conn *c, req *r, effect *e);

typedef struct txn {
	uint32_t id;
	effect *e;
} txn;

typedef struct conn {
	char key[40];
	int domid;                   /* -1: not named by the log */
	req r[MAX_REQS];
	size_t r0, nr;               /* a ring */
	txn t[MAX_TXNS];
	size_t nt;
	bool window_settled;         /* a write taken as done without a later line */
	int introduce_domid;         /* C: the domain of a pending INTRODUCE */
} conn;

struct vbd_xslog {
	vbd_checker *k;
	vbd_xslog_format format;
	vbd_xslog_summary sum;
	char *line;
	size_t len;
	bool too_long, joining;
	conn *conns[MAX_CONNS];
	size_t nconns;
	effect *head, **tail;
	size_t nqueue;
	int introducing;             /* C: domid of an INTRODUCE awaiting its answer, or -1 */
	/* C: the last requests that changed a node, to name a connection's
	 * domain from the watch events they fire (verify_log_c.c). */
	struct recent {
		struct conn *c;
		char *path;          /* as the request gave it */
		uint64_t line;
		struct conn *told[4];   /* watchers whose event for it came */
	} recent[RECENT];
	size_t nrecent;
	int err;
};


void vbd__xsl_change(vbd_xslog *x, conn *c, vbd_change_op op, const char *p, size_t plen, const char *v,
                   size_t vlen, bool has_tid, uint32_t tid, int64_t time_ns, bool truncated);
conn *vbd__xsl_conn_get(vbd_xslog *x, const char *key, size_t klen, bool create);
void vbd__xsl_conn_drop_pending(vbd_xslog *x, conn *c);
void vbd__xsl_conn_free(vbd_xslog *x, conn *c);
req *vbd__xsl_req_push(vbd_xslog *x, conn *c, int type);
req *vbd__xsl_req_pop(conn *c);
txn *vbd__xsl_txn_find(conn *c, uint32_t id);
txn *vbd__xsl_txn_open(vbd_xslog *x, conn *c, uint32_t id, int64_t time_ns);
/* Closes t: its answers still to come no longer point at its changes. */
void vbd__xsl_txn_close(conn *c, txn *t);
void vbd__xsl_forget(conn *c, const effect *e);
void vbd__xsl_flush(vbd_xslog *x, bool all);
void vbd__xsl_feed_lost(vbd_xslog *x, uint64_t seq);
void vbd__xsl_effect_free(effect *e);
void vbd__xsl_enqueue(vbd_xslog *x, effect *e);
bool vbd__xsl_num(const char **p, const char *end, unsigned long long max, unsigned long long *ret);
int64_t vbd__xsl_epoch_ns(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s,
                        unsigned ms);
effect *vbd__xsl_effect_new(vbd_xslog *x, int writer, int64_t time_ns);
int vbd__xsl_effect_add(effect *e, vbd_change_op op, const char *path, size_t plen, const char *v,
                      size_t vlen);
char *vbd__xsl_abs_path(const conn *c, const char *p, size_t len, size_t *ret_len);
void vbd__xsl_apply(vbd_xslog *x, effect *e);
/* What waits for connection c's domain, now known. */
void vbd__xsl_named(vbd_xslog *x, conn *c);

/* One line of each format (without its newline). */
void vbd__xsl_c_line(vbd_xslog *x, const char *p, const char *end, bool ambiguous);
void vbd__xsl_o_line(vbd_xslog *x, char *p, char *end);

#endif
