/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replaying a xenstored log into the checker (vbd_xslog_*, vbd/verify.h;
 * the formats in docs/protocol.md).
 *
 * Example (the C xenstored's trace; a NUL of a message shows as a space):
 *     CREATE connection 0x5581a0
 *     IN 0x5581a0 20261206 10:00:01 TRANSACTION_START ( )
 *     OUT 0x5581a0 20261206 10:00:01 TRANSACTION_START (17 )
 *     IN 0x5581a0 20261206 10:00:01 WRITE (/local/domain/0/backend/vbd/3/51712/state 1)
 *     OUT 0x5581a0 20261206 10:00:01 WRITE (OK )
 *     IN 0x5581a0 20261206 10:00:01 TRANSACTION_END (T )
 *     OUT 0x5581a0 20261206 10:00:01 TRANSACTION_END (OK )
 * The connection was created outside an INTRODUCE: a socket of dom0's, so
 * its writes are domain 0's.  The write is inside the transaction (the
 * trace does not print a request's transaction id: a connection's requests
 * between the reply to its TRANSACTION_START and its TRANSACTION_END are
 * taken as in it, and with two open at once it cannot tell, and says so).
 * The commit is placed where its TRANSACTION_END came in, since xenstored
 * runs a request when it reads it, and fed to the checker once its answer
 * says OK; an answer ERROR (EAGAIN) drops it.  Effects wait in one queue
 * in the log's order, so what is fed keeps the order of the commits.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/verify_rules.h"
#include "vbd/verify.h"

#define MAX_LINE      (16 * 1024)  /* a 4 KiB value, escaped, and its path */
#define MAX_CONNS     4096
#define MAX_REQS      64           /* requests of one connection awaiting an answer */
#define MAX_TXNS      16           /* open transactions of one connection (xenstored's quota: 10) */
#define MAX_TXN_CHG   4096         /* changes of one transaction */
#define MAX_QUEUE     65536        /* commits awaiting their answer */
#define O_WINDOW      256          /* lines after which an oxenstored write unanswered is taken as done */
#define DETECT_LINES  64

enum { W_WAIT, W_APPLY, W_NONE, W_UNKNOWN };

typedef struct chg {
	vbd_change_op op;
	char *path;
	char *value;
	size_t len;
	int state;                   /* W_WAIT until its answer (in a transaction) */
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
} effect;

typedef struct req {
	int type;                    /* R_* */
	effect *e;                   /* WRITE outside / END: the commit; inside: the transaction */
	size_t ci;                   /* inside: which change */
	uint32_t tid;                /* oxenstored: the transaction */
} req;

enum { R_CHANGE = 1, R_TXN_CHANGE, R_START, R_END, R_INTRODUCE, R_OTHER };

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
	int err;
};

/* ---- effects, in the log's order ---- */

static void effect_free(effect *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < e->n; i++) {
		free(e->c[i].path);
		free(e->c[i].value);
	}
	free(e->c);
	free(e);
}

static effect *effect_new(vbd_xslog *x, int writer, int64_t time_ns)
{
	effect *e = calloc(1, sizeof(*e));

	if (!e) {
		x->err = -ENOMEM;
		return NULL;
	}
	e->writer = writer;
	e->seq = e->line = x->sum.lines;
	e->time_ns = time_ns;
	return e;
}

static int effect_add(effect *e, vbd_change_op op, const char *path, size_t plen, const char *v,
                      size_t vlen)
{
	chg *c;

	if (e->n >= MAX_TXN_CHG) {
		e->overflow = true;
		return -ENOSPC;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 4;
		chg *nc = realloc(e->c, cap * sizeof(*nc));

		if (!nc)
			return -ENOMEM;
		e->c = nc;
		e->cap = cap;
	}
	c = &e->c[e->n];
	memset(c, 0, sizeof(*c));
	c->op = op;
	c->state = W_APPLY;
	if (!(c->path = strndup(path, plen)))
		return -ENOMEM;
	if (v && !(c->value = malloc(vlen ? vlen : 1))) {
		free(c->path);
		return -ENOMEM;
	}
	if (v)
		memcpy(c->value, v, vlen);
	c->len = vlen;
	e->n++;
	return 0;
}

static void feed_lost(vbd_xslog *x, uint64_t seq)
{
	vbd_change ch = { .op = VBD_CHANGE_LOST, .lost = 1, .seq = seq, .writer = -1 };

	x->sum.unknown++;
	vbd_checker_feed(x->k, &ch);
}

static void apply(vbd_xslog *x, effect *e)
{
	size_t i, last = 0;

	if (e->state == W_UNKNOWN || e->overflow) {
		feed_lost(x, e->seq);
		return;
	}
	if (e->state != W_APPLY)
		return;
	for (i = 0; i < e->n; i++)
		if (e->c[i].state != W_NONE)
			last = i;
	for (i = 0; i < e->n; i++) {
		vbd_change ch = { .op = e->c[i].op, .path = e->c[i].path, .value = e->c[i].value,
		                  .value_len = e->c[i].len, .writer = e->writer, .seq = e->seq,
		                  .time_ns = e->time_ns, .more = i < last };

		if (e->c[i].state == W_NONE)
			continue;
		if (e->c[i].state == W_WAIT) {
			feed_lost(x, e->seq);      /* its answer never came */
			continue;
		}
		x->sum.changes++;
		vbd_checker_feed(x->k, &ch);
	}
}

/* Feeds what is settled at the head of the queue. */
static void flush(vbd_xslog *x, bool all)
{
	effect *e;

	while ((e = x->head)) {
		if (e->state == W_WAIT) {
			if (x->format == VBD_XSLOG_OXENSTORED && x->sum.lines - e->line > O_WINDOW) {
				e->state = W_APPLY;
				if (e->owner)
					e->owner->window_settled = true;
			} else if (all || x->nqueue > MAX_QUEUE) {
				e->state = W_UNKNOWN;
			} else {
				break;
			}
		}
		x->head = e->next;
		if (!x->head)
			x->tail = &x->head;
		x->nqueue--;
		apply(x, e);
		effect_free(e);
	}
}

static void enqueue(vbd_xslog *x, effect *e)
{
	e->next = NULL;
	*x->tail = e;
	x->tail = &e->next;
	x->nqueue++;
}

/* ---- connections ---- */

static conn *conn_get(vbd_xslog *x, const char *key, size_t klen, bool create)
{
	conn *c;
	size_t i;

	if (klen >= sizeof(c->key))
		return NULL;
	for (i = 0; i < x->nconns; i++)
		if (!strncmp(x->conns[i]->key, key, klen) && !x->conns[i]->key[klen])
			return x->conns[i];
	if (!create || x->nconns >= MAX_CONNS || !(c = calloc(1, sizeof(*c))))
		return NULL;
	memcpy(c->key, key, klen);
	c->domid = -1;
	c->introduce_domid = -1;
	x->conns[x->nconns++] = c;
	return c;
}

/* Its requests still waiting are unknown; its open transactions end
 * without a word. */
static void conn_drop_pending(vbd_xslog *x, conn *c)
{
	size_t i;

	for (i = 0; i < c->nr; i++) {
		req *r = &c->r[(c->r0 + i) % MAX_REQS];

		if ((r->type == R_CHANGE || r->type == R_END) && r->e && r->e->state == W_WAIT)
			r->e->state = W_UNKNOWN;
	}
	c->nr = 0;
	for (i = 0; i < c->nt; i++) {
		if (c->t[i].e && c->t[i].e->n)
			feed_lost(x, c->t[i].e->seq);   /* ended unseen: committed or not */
		effect_free(c->t[i].e);
	}
	c->nt = 0;
}

static void conn_free(vbd_xslog *x, conn *c)
{
	effect *e;
	size_t i;

	conn_drop_pending(x, c);
	for (e = x->head; e; e = e->next)
		if (e->owner == c)
			e->owner = NULL;
	for (i = 0; i < x->nconns; i++)
		if (x->conns[i] == c) {
			x->conns[i] = x->conns[--x->nconns];
			break;
		}
	free(c);
}

static req *req_push(vbd_xslog *x, conn *c, int type)
{
	req *r;

	if (c->nr == MAX_REQS) {
		/* A connection that never gets answers: its oldest is unknown. */
		r = &c->r[c->r0];
		if ((r->type == R_CHANGE || r->type == R_END) && r->e && r->e->state == W_WAIT)
			r->e->state = W_UNKNOWN;
		else if (r->type == R_TXN_CHANGE && r->e && r->ci < r->e->n)
			r->e->c[r->ci].state = W_WAIT;
		c->r0 = (c->r0 + 1) % MAX_REQS;
		c->nr--;
		(void)x;
	}
	r = &c->r[(c->r0 + c->nr++) % MAX_REQS];
	memset(r, 0, sizeof(*r));
	r->type = type;
	return r;
}

static req *req_pop(conn *c)
{
	req *r;

	if (!c->nr)
		return NULL;
	r = &c->r[c->r0];
	c->r0 = (c->r0 + 1) % MAX_REQS;
	c->nr--;
	return r;
}

static txn *txn_find(conn *c, uint32_t id)
{
	size_t i;

	for (i = 0; i < c->nt; i++)
		if (c->t[i].id == id)
			return &c->t[i];
	return NULL;
}

static txn *txn_open(vbd_xslog *x, conn *c, uint32_t id, int64_t time_ns)
{
	txn *t;

	if ((t = txn_find(c, id)))
		return t;
	if (c->nt == MAX_TXNS)
		return NULL;
	t = &c->t[c->nt];
	t->id = id;
	if (!(t->e = effect_new(x, c->domid, time_ns)))
		return NULL;
	c->nt++;
	return t;
}

static void txn_close(conn *c, txn *t)
{
	*t = c->t[--c->nt];
}

/* ---- shared line helpers ---- */

static bool num(const char **p, const char *end, unsigned long long max, unsigned long long *ret)
{
	unsigned long long v = 0;
	const char *q = *p;

	if (q >= end || *q < '0' || *q > '9')
		return false;
	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		v = v * 10 + (unsigned)(*q - '0');
		if (v > max)
			return false;
	}
	*p = q;
	*ret = v;
	return true;
}

/* Seconds since the epoch of a civil date in UTC (the log's own clock). */
static int64_t epoch_ns(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s,
                        unsigned ms)
{
	/* Days from civil, H. Hinnant's algorithm. */
	int yy = (int)y - (mo <= 2);
	int era = (yy >= 0 ? yy : yy - 399) / 400;
	unsigned yoe = (unsigned)(yy - era * 400);
	unsigned doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days = (int64_t)era * 146097 + doe - 719468;

	return ((days * 86400 + h * 3600 + mi * 60 + s) * 1000 + ms) * 1000000;
}

/* An absolute path for what connection c named: relative paths are below
 * its domain's home.  NULL when the log never named its domain. */
static char *abs_path(const conn *c, const char *p, size_t len, size_t *ret_len)
{
	char *out;
	int n;

	if (len && p[0] == '/') {
		*ret_len = len;
		return strndup(p, len);
	}
	if (c->domid < 0 || len > MAX_LINE)
		return NULL;
	out = malloc(len + 32);
	if (!out)
		return NULL;
	n = snprintf(out, 32, "/local/domain/%d/", c->domid);
	memcpy(out + n, p, len);
	out[n + len] = 0;
	*ret_len = (size_t)n + len;
	return out;
}

/* A write, mkdir or rm of connection c: in its transaction (tid, or the
 * one open), or as its own commit.  path/value as the log shows them. */
static void change(vbd_xslog *x, conn *c, vbd_change_op op, const char *p, size_t plen, const char *v,
                   size_t vlen, bool has_tid, uint32_t tid, int64_t time_ns, bool truncated)
{
	size_t alen = 0;
	char *ap = abs_path(c, p, plen, &alen);
	effect *e;
	txn *t = NULL;
	req *r;

	if (has_tid ? tid != 0 : c->nt > 0) {
		if (has_tid)
			t = txn_open(x, c, tid, time_ns);
		else if (c->nt == 1)
			t = &c->t[0];
		if (!t) {                 /* two open: which one, the log does not say */
			r = req_push(x, c, R_OTHER);
			r->tid = tid;
			feed_lost(x, x->sum.lines);
			free(ap);
			return;
		}
		r = req_push(x, c, R_TXN_CHANGE);
		r->e = t->e;
		r->tid = tid;
		r->ci = t->e->n;
		if (!ap || truncated || effect_add(t->e, op, ap ? ap : "", alen, v, vlen) < 0)
			t->e->overflow = true;   /* at its commit: unknown */
		else
			t->e->c[t->e->n - 1].state = x->format == VBD_XSLOG_CXENSTORED ? W_WAIT : W_APPLY;
		free(ap);
		return;
	}
	if (!(e = effect_new(x, c->domid, time_ns))) {
		free(ap);
		return;
	}
	e->state = W_WAIT;
	e->owner = c;
	if (!ap || truncated || effect_add(e, op, ap, alen, v, vlen) < 0)
		e->overflow = true;
	free(ap);
	r = req_push(x, c, R_CHANGE);
	r->e = e;
	r->tid = 0;
	enqueue(x, e);
}

/* ---- the C xenstored's trace ---- */

/* "0x55..." or "(nil)": the connection's key. */
static bool c_token(const char **p, const char *end, const char **tok, size_t *toklen)
{
	const char *q = *p;

	while (q < end && *q != ' ')
		q++;
	if (q == *p)
		return false;
	*tok = *p;
	*toklen = (size_t)(q - *p);
	*p = q < end ? q + 1 : q;
	return true;
}

static bool c_time(const char **p, const char *end, int64_t *ret)
{
	unsigned long long ymd, h, m, s;
	const char *q = *p;

	if (!num(&q, end, 99991231, &ymd) || q >= end || *q++ != ' ' || !num(&q, end, 23, &h) ||
	    q >= end || *q++ != ':' || !num(&q, end, 59, &m) || q >= end || *q++ != ':' ||
	    !num(&q, end, 60, &s) || q >= end || *q++ != ' ')
		return false;
	if (ymd % 100 < 1 || ymd % 100 > 31 || ymd / 100 % 100 < 1 || ymd / 100 % 100 > 12)
		return false;
	*ret = epoch_ns((unsigned)(ymd / 10000), (unsigned)(ymd / 100 % 100), (unsigned)(ymd % 100),
	                (unsigned)h, (unsigned)m, (unsigned)s, 0);
	*p = q;
	return true;
}

static bool word_is(const char *p, size_t len, const char *w)
{
	return strlen(w) == len && !memcmp(p, w, len);
}

static void c_line(vbd_xslog *x, const char *p, const char *end, bool ambiguous)
{
	const char *tok, *type, *body;
	size_t toklen, typelen, blen;
	bool out;
	int64_t t;
	conn *c;
	req *r;

	if (end - p > 4 && !memcmp(p, "io: ", 4))
		p += 4;                                  /* Xen 4.18 on */
	else if (end - p > 5 && !memcmp(p, "obj: ", 5))
		p += 5;
	if (end - p > 18 && !memcmp(p, "CREATE connection ", 18)) {
		p += 18;
		if (!(c = conn_get(x, p, (size_t)(end - p), true)))
			return;
		/* Pointers are reused: this one is new. */
		conn_drop_pending(x, c);
		c->domid = x->introducing >= 0 ? x->introducing : 0;
		return;
	}
	if (end - p > 19 && !memcmp(p, "DESTROY connection ", 19)) {
		if ((c = conn_get(x, p + 19, (size_t)(end - p - 19), false)))
			conn_free(x, c);
		return;
	}
	if (end - p > 3 && !memcmp(p, "IN ", 3)) {
		out = false;
		p += 3;
	} else if (end - p > 4 && !memcmp(p, "OUT ", 4)) {
		out = true;
		p += 4;
	} else {
		if (!(end - p > 7 && (!memcmp(p, "CREATE ", 7) || !memcmp(p, "DESTROY", 7))))
			x->sum.unparsed++;
		return;
	}
	if (!c_token(&p, end, &tok, &toklen)) {
		x->sum.unparsed++;
		return;
	}
	c = conn_get(x, tok, toklen, true);
	/* Xen 4.19 on names the domain: "(d5)". */
	if (end - p > 3 && p[0] == '(' && p[1] == 'd') {
		unsigned long long d;
		const char *q = p + 2;

		if (num(&q, end, VBD_DOMID_FIRST_RESERVED - 1, &d) && q < end && *q == ')') {
			if (c)
				c->domid = (int)d;
			p = q + 1 < end ? q + 2 : q + 1;
		}
	}
	if (!c_time(&p, end, &t) || !c_token(&p, end, &type, &typelen) || p >= end || *p != '(' ||
	    end[-1] != ')') {
		x->sum.unparsed++;
		return;
	}
	body = p + 1;
	blen = (size_t)(end - 1 - body);
	if (!c) {
		feed_lost(x, x->sum.lines);             /* past MAX_CONNS */
		return;
	}
	if (!out) {
		if (word_is(type, typelen, "WRITE") || word_is(type, typelen, "MKDIR") ||
		    word_is(type, typelen, "RM")) {
			const char *sp = memchr(body, ' ', blen);
			size_t plen = sp ? (size_t)(sp - body) : blen;
			vbd_change_op op = type[0] == 'W' ? VBD_CHANGE_WRITE
			                 : type[0] == 'M' ? VBD_CHANGE_MKDIR : VBD_CHANGE_RM;
			const char *v = sp ? sp + 1 : body + blen;
			size_t vlen = (size_t)(body + blen - v);

			if (op != VBD_CHANGE_WRITE)
				vlen = 0;
			change(x, c, op, body, plen, op == VBD_CHANGE_WRITE ? v : NULL, vlen, false, 0, t,
			       ambiguous);
		} else if (word_is(type, typelen, "TRANSACTION_START")) {
			req_push(x, c, R_START);
		} else if (word_is(type, typelen, "TRANSACTION_END")) {
			r = req_push(x, c, R_END);
			/* The transaction ended is the only one open, or the log
			 * cannot say which. */
			if (c->nt == 1) {
				effect *e = c->t[0].e;

				c->t[0].e = NULL;
				txn_close(c, &c->t[0]);
				if (blen >= 1 && body[0] == 'T' && e) {
					e->state = W_WAIT;
					e->seq = e->line = x->sum.lines;
					e->time_ns = t;
					enqueue(x, e);
					r->e = e;
				} else {
					effect_free(e);  /* aborted: nothing */
				}
			} else {
				/* Two open, or one that started before the log: what
				 * it wrote was taken as outside it, or is unknown. */
				feed_lost(x, x->sum.lines);
			}
		} else if (word_is(type, typelen, "INTRODUCE")) {
			unsigned long long d;
			const char *q = body;

			r = req_push(x, c, R_INTRODUCE);
			if (num(&q, body + blen, VBD_DOMID_FIRST_RESERVED - 1, &d))
				x->introducing = (int)d;
		} else {
			req_push(x, c, R_OTHER);
		}
		return;
	}
	/* An answer.  Watch events are no answers. */
	if (word_is(type, typelen, "WATCH_EVENT"))
		return;
	if (!(r = req_pop(c)))
		return;
	{
		bool ok = !word_is(type, typelen, "ERROR");

		switch (r->type) {
		case R_CHANGE:
		case R_END:
			if (r->e)
				r->e->state = ok ? W_APPLY : W_NONE;
			break;
		case R_TXN_CHANGE:
			/* The transaction may have gone meanwhile (ended unseen). */
			if (r->e && r->ci < r->e->n) {
				size_t i;

				for (i = 0; i < c->nt; i++)
					if (c->t[i].e == r->e)
						r->e->c[r->ci].state = ok ? W_APPLY : W_NONE;
			}
			break;
		case R_START:
			if (ok) {
				unsigned long long id;
				const char *q = body;

				if (num(&q, body + blen, UINT32_MAX, &id) && !txn_open(x, c, (uint32_t)id, t))
					feed_lost(x, x->sum.lines);
			}
			break;
		case R_INTRODUCE:
			x->introducing = -1;
			break;
		default:
			break;
		}
	}
	flush(x, false);
}

/* ---- oxenstored's access log ---- */

/* OCaml's String.escaped undone, in place: the length. */
static size_t o_unescape(char *s, size_t len)
{
	size_t i = 0, o = 0;

	while (i < len) {
		if (s[i] != '\\' || i + 1 >= len) {
			s[o++] = s[i++];
			continue;
		}
		switch (s[i + 1]) {
		case 'n': s[o++] = '\n'; i += 2; break;
		case 't': s[o++] = '\t'; i += 2; break;
		case 'r': s[o++] = '\r'; i += 2; break;
		case 'b': s[o++] = '\b'; i += 2; break;
		case '\\': case '"': case '\'': case ' ':
			s[o++] = s[i + 1];
			i += 2;
			break;
		default:
			if (i + 3 < len + 0 && s[i + 1] >= '0' && s[i + 1] <= '9' && s[i + 2] >= '0' &&
			    s[i + 2] <= '9' && s[i + 3] >= '0' && s[i + 3] <= '9') {
				int v = (s[i + 1] - '0') * 100 + (s[i + 2] - '0') * 10 + (s[i + 3] - '0');

				s[o++] = (char)(v & 0xff);
				i += 4;
			} else {
				s[o++] = s[i++];
			}
		}
	}
	return o;
}

static bool o_time(const char **p, const char *end, int64_t *ret)
{
	unsigned long long ymd, h, m, s, ms;
	const char *q = *p;

	if (q >= end || *q++ != '[' || !num(&q, end, 99991231, &ymd) || q >= end || *q++ != 'T' ||
	    !num(&q, end, 23, &h) || q >= end || *q++ != ':' || !num(&q, end, 59, &m) || q >= end ||
	    *q++ != ':' || !num(&q, end, 60, &s) || q >= end || *q++ != '.' || !num(&q, end, 999, &ms))
		return false;
	/* File lines: "[date] "; a level and key may follow the date. */
	while (q < end && *q != ']')
		q++;
	if (q >= end)
		return false;
	if (ymd % 100 < 1 || ymd % 100 > 31 || ymd / 100 % 100 < 1 || ymd / 100 % 100 > 12)
		return false;
	*ret = epoch_ns((unsigned)(ymd / 10000), (unsigned)(ymd / 100 % 100), (unsigned)(ymd % 100),
	                (unsigned)h, (unsigned)m, (unsigned)s, (unsigned)ms);
	*p = q + 1;
	return true;
}

/* Every later line of a connection settles its writes before it: a client
 * sends on after its answer, and an error answer is logged when sent. */
static void o_settle(vbd_xslog *x, conn *c)
{
	req *r;

	while ((r = req_pop(c)))
		if (r->type == R_CHANGE && r->e && r->e->state == W_WAIT)
			r->e->state = W_APPLY;
	c->window_settled = false;
	(void)x;
}

static void o_line(vbd_xslog *x, char *p, char *end)
{
	static const char *const ops[] = {
		"write", "mkdir", "rm", "commit", "conflict", "coalesce", "error", "newconn", "endconn",
		"w event", "w notfired", "t start", "t end", "is introduced", "reset watches", "read",
		"directory", "getperms", "watch", "unwatch", "introduce", "release", "getdomain",
		"resume", "setperms", "settarget", "debug", "invalid", NULL,
	};
	const char *con, *q, *op = NULL;
	size_t conlen, oplen = 0, i;
	unsigned long long d, tid = 0;
	bool has_tid = false, truncated;
	int64_t t;
	conn *c;

	if (!o_time((const char **)&p, end, &t)) {
		x->sum.unparsed++;
		return;
	}
	while (p < end && *p == ' ')
		p++;
	con = p;
	while (p < end && *p != ' ')
		p++;
	conlen = (size_t)(p - con);
	/* "D5", "D5.3", "A12" (a socket: dom0's), "A12.3" */
	q = con + 1;
	if (conlen < 2 || (con[0] != 'D' && con[0] != 'A') || !num(&q, con + conlen, UINT32_MAX, &d)) {
		x->sum.unparsed++;    /* "=======>" (live update) and others */
		return;
	}
	if (q < con + conlen) {
		if (*q++ != '.' || !num(&q, con + conlen, UINT32_MAX, &tid) || q != con + conlen) {
			x->sum.unparsed++;
			return;
		}
		has_tid = true;
	}
	while (p < end && *p == ' ')
		p++;
	for (i = 0; ops[i]; i++) {
		size_t n = strlen(ops[i]);

		if ((size_t)(end - p) >= n && !memcmp(p, ops[i], n) && (p + n == end || p[n] == ' ')) {
			op = ops[i];
			oplen = n;
			break;
		}
	}
	if (!op) {
		x->sum.unparsed++;
		return;
	}
	p += oplen;
	while (p < end && *p == ' ')
		p++;
	/* A line longer than access-log-nb-chars is cut to end in "..". */
	truncated = end - p >= 2 && end[-1] == '.' && end[-2] == '.';
	/* Keyed without its transaction: one connection. */
	{
		const char *dot = memchr(con, '.', conlen);

		if (!(c = conn_get(x, con, dot ? (size_t)(dot - con) : conlen, true))) {
			feed_lost(x, x->sum.lines);
			return;
		}
	}
	if (c->domid < 0)
		c->domid = con[0] == 'D' && d < VBD_DOMID_FIRST_RESERVED ? (int)d : con[0] == 'A' ? 0 : -1;
	if (!strcmp(op, "error")) {
		/* The answer to this connection's oldest write still waiting in
		 * that transaction: it changed nothing. */
		size_t k;

		for (k = 0; k < c->nr; k++) {
			req *r = &c->r[(c->r0 + k) % MAX_REQS];

			if (r->tid != (uint32_t)tid)
				continue;
			if (r->type == R_CHANGE && r->e && r->e->state == W_WAIT)
				r->e->state = W_NONE;
			else if (r->type == R_TXN_CHANGE && r->e && r->ci < r->e->n)
				r->e->c[r->ci].state = W_NONE;
			r->type = R_OTHER;
			break;
		}
		if (k == c->nr && c->window_settled)
			feed_lost(x, x->sum.lines);   /* an error for a write taken as done */
		flush(x, false);
		return;
	}
	if (!strcmp(op, "endconn")) {
		o_settle(x, c);
		conn_drop_pending(x, c);
		flush(x, false);
		conn_free(x, c);
		return;
	}
	if (!strcmp(op, "newconn")) {
		conn_drop_pending(x, c);
		return;
	}
	if (!strcmp(op, "commit") || !strcmp(op, "coalesce") || !strcmp(op, "conflict")) {
		txn *tx = has_tid ? txn_find(c, (uint32_t)tid) : NULL;

		if (tx) {
			effect *e = tx->e;

			txn_close(c, tx);
			if (op[1] == 'o' && op[2] == 'n') {
				effect_free(e);         /* conflict: EAGAIN, nothing */
			} else {
				e->state = W_APPLY;
				e->seq = e->line = x->sum.lines;
				e->time_ns = t;
				enqueue(x, e);
			}
		}
		flush(x, false);
		return;
	}
	if (strcmp(op, "w event"))
		o_settle(x, c);
	if (!strcmp(op, "write") || !strcmp(op, "mkdir") || !strcmp(op, "rm")) {
		size_t len = o_unescape(p, (size_t)(end - p));
		const char *sp = memchr(p, ' ', len);
		size_t plen = sp ? (size_t)(sp - p) : len;
		vbd_change_op cop = op[0] == 'w' ? VBD_CHANGE_WRITE
		                  : op[0] == 'm' ? VBD_CHANGE_MKDIR : VBD_CHANGE_RM;
		const char *v = sp ? sp + 1 : p + len;
		size_t vlen = cop == VBD_CHANGE_WRITE ? (size_t)(p + len - v) : 0;

		/* A cut path is no path; a cut value of a write is unknown. */
		change(x, c, cop, p, plen, cop == VBD_CHANGE_WRITE ? v : NULL, vlen, true, (uint32_t)tid,
		       t, truncated);
	}
	flush(x, false);
}

/* ---- lines ---- */

static vbd_xslog_format detect(const char *p, size_t len)
{
	static const char *const c_starts[] = { "IN 0x", "OUT 0x", "IN (nil)", "CREATE connection ",
	                                        "io: ", "obj: ", NULL };
	size_t i;

	for (i = 0; c_starts[i]; i++)
		if (len >= strlen(c_starts[i]) && !memcmp(p, c_starts[i], strlen(c_starts[i])))
			return VBD_XSLOG_CXENSTORED;
	if (len > 20 && p[0] == '[' && p[1] >= '0' && p[1] <= '9' && p[9] == 'T' &&
	    memchr(p, ']', len))
		return VBD_XSLOG_OXENSTORED;
	return VBD_XSLOG_AUTO;
}

static void line(vbd_xslog *x, char *p, size_t len, bool ambiguous)
{
	if (x->format == VBD_XSLOG_AUTO) {
		x->format = detect(p, len);
		if (x->format == VBD_XSLOG_AUTO) {
			x->sum.unparsed++;
			if (x->sum.lines >= DETECT_LINES)
				x->err = -EINVAL;
			return;
		}
	}
	if (x->format == VBD_XSLOG_CXENSTORED)
		c_line(x, p, p + len, ambiguous);
	else
		o_line(x, p, p + len);
}

int vbd_xslog_new(vbd_checker *k, vbd_xslog_format format, vbd_xslog **ret)
{
	vbd_xslog *x;

	if (!k || !ret || format < VBD_XSLOG_AUTO || format > VBD_XSLOG_OXENSTORED)
		return -EINVAL;
	if (!(x = calloc(1, sizeof(*x))))
		return -ENOMEM;
	if (!(x->line = malloc(MAX_LINE + 1))) {
		free(x);
		return -ENOMEM;
	}
	x->k = k;
	x->format = format;
	x->tail = &x->head;
	x->introducing = -1;
	x->sum.size = sizeof(x->sum);
	*ret = x;
	return 0;
}

/* The C trace prints a value's newline as it is: a record line without
 * its closing ")" goes on in the next line.  Such a record is taken, and
 * counted unknown, since a value can hold text shaped like a record. */
static void end_of_line(vbd_xslog *x)
{
	bool c = x->format == VBD_XSLOG_CXENSTORED ||
	         (x->format == VBD_XSLOG_AUTO && detect(x->line, x->len) == VBD_XSLOG_CXENSTORED);

	if (x->too_long) {
		x->sum.lines++;
		x->sum.unparsed++;
		feed_lost(x, x->sum.lines);
		x->too_long = x->joining = false;
		x->len = 0;
		return;
	}
	if (c && x->len && x->line[x->len - 1] != ')' && x->len > 3 &&
	    (!memcmp(x->line, "IN ", 3) || !memcmp(x->line, "OUT ", 4) || !memcmp(x->line, "io: ", 4))) {
		if (x->len < MAX_LINE) {
			x->line[x->len++] = '\n';
			x->joining = true;
			return;
		}
	}
	x->sum.lines++;
	if (x->joining)
		x->sum.unknown++;
	line(x, x->line, x->len, x->joining);
	x->joining = false;
	x->len = 0;
}

int vbd_xslog_feed(vbd_xslog *x, const char *buf, size_t len)
{
	size_t i;

	if (!x || (!buf && len))
		return -EINVAL;
	for (i = 0; i < len && !x->err; i++) {
		if (buf[i] == '\n') {
			end_of_line(x);
			continue;
		}
		if (x->len >= MAX_LINE) {
			x->too_long = true;
			continue;
		}
		x->line[x->len++] = buf[i];
	}
	return x->err;
}

int vbd_xslog_finish(vbd_xslog *x, vbd_xslog_summary *ret)
{
	vbd_xslog_summary s;
	size_t i;

	if (!x || (ret && ret->size < sizeof(ret->size)))
		return -EINVAL;
	if (x->len || x->too_long || x->joining)
		end_of_line(x);
	x->joining = false;
	for (i = 0; i < x->nconns; i++)
		conn_drop_pending(x, x->conns[i]);
	flush(x, true);
	if (x->format == VBD_XSLOG_AUTO && x->sum.lines)
		x->err = x->err ? x->err : -EINVAL;
	if (ret) {
		s = x->sum;
		s.format = x->format;
		s.size = ret->size < sizeof(s) ? ret->size : sizeof(s);
		memcpy(ret, &s, s.size);
	}
	return x->err;
}

vbd_xslog *vbd_xslog_free(vbd_xslog *x)
{
	effect *e;

	if (!x)
		return NULL;
	while ((e = x->head)) {
		x->head = e->next;
		effect_free(e);
	}
	while (x->nconns) {
		conn *c = x->conns[--x->nconns];
		size_t i;

		for (i = 0; i < c->nt; i++)
			effect_free(c->t[i].e);
		free(c);
	}
	free(x->line);
	free(x);
	return NULL;
}
