/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a replayed xenstored log is turned into, for both formats' parsers
 * (verify_log_c.c, verify_log_o.c) and the replay's own API
 * (verify_log.c): connections, their requests and transactions, and the
 * effects of each request (changes with their writer), queued in the
 * log's order and fed to the checker when their answer says they took.
 *
 *     parser: IN WRITE /a 1 on conn C -> req pushed, effect made
 *             OUT WRITE OK on C       -> effect applied (queued; fed in order)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/verify_log.h"

/* ---- effects, in the log's order ---- */

void vbd__xsl_req_bind(conn *c, req *r, effect *e)
{
	r->e = e;
	e->rc = c;
	e->rslot = (size_t)(r - c->r);
}

void vbd__xsl_effect_free(effect *e)
{
	size_t i;

	if (!e)
		return;
	if (e->rc && e->rc->r[e->rslot].e == e)
		e->rc->r[e->rslot].e = NULL;
	for (i = 0; i < e->n; i++) {
		free(e->c[i].path);
		free(e->c[i].value);
	}
	free(e->c);
	free(e);
}

effect *vbd__xsl_effect_new(vbd_xslog *x, int writer, int64_t time_ns)
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

int vbd__xsl_effect_add(effect *e, vbd_change_op op, const char *path, size_t plen, const char *v,
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

void vbd__xsl_feed_lost(vbd_xslog *x, uint64_t seq)
{
	vbd_change ch = { .op = VBD_CHANGE_LOST, .lost = 1, .seq = seq, .writer = -1 };

	x->sum.unknown++;
	vbd_checker_feed(x->k, &ch);
}

void vbd__xsl_apply(vbd_xslog *x, effect *e)
{
	size_t i, last = 0;

	if (e->state == W_UNKNOWN || e->overflow) {
		vbd__xsl_feed_lost(x, e->seq);
		return;
	}
	if (e->state != W_APPLY)
		return;
	/* A connection named since (vbd__xsl_named()) wrote all of it. */
	if (e->writer < 0 && e->owner)
		e->writer = e->owner->domid;
	for (i = 0; i < e->n; i++)
		if (e->c[i].state != W_NONE)
			last = i;
	for (i = 0; i < e->n; i++) {
		vbd_change ch = { .op = e->c[i].op, .path = e->c[i].path, .value = e->c[i].value,
		                  .value_len = e->c[i].len, .writer = e->writer, .seq = e->seq,
		                  .time_ns = e->time_ns, .more = i < last };
		char *ap = NULL;
		size_t alen;

		if (e->c[i].state == W_NONE)
			continue;
		if (e->c[i].state == W_WAIT) {
			vbd__xsl_feed_lost(x, e->seq);      /* its answer never came */
			continue;
		}
		if (e->c[i].rel) {
			/* Relative to a home the log never named: unknown. */
			if (!e->owner || !(ap = vbd__xsl_abs_path(e->owner, e->c[i].path,
			                                          strlen(e->c[i].path), &alen))) {
				vbd__xsl_feed_lost(x, e->seq);
				continue;
			}
			ch.path = ap;
		}
		x->sum.changes++;
		vbd_checker_feed(x->k, &ch);
		free(ap);
	}
}

/* Whether a settled commit still waits for its writer's domain. */
static bool unnamed(const vbd_xslog *x, const effect *e, bool all)
{
	size_t i;

	if (all || e->state != W_APPLY || !e->owner || e->owner->domid >= 0 ||
	    x->sum.lines - e->line > NAME_WAIT)
		return false;
	if (e->writer < 0)
		return true;
	for (i = 0; i < e->n; i++)
		if (e->c[i].rel)
			return true;
	return false;
}

void vbd__xsl_named(vbd_xslog *x, conn *c)
{
	(void)c;
	vbd__xsl_flush(x, false);
}

/* Feeds what is settled at the head of the queue. */
void vbd__xsl_flush(vbd_xslog *x, bool all)
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
		if (unnamed(x, e, all))
			break;
		x->head = e->next;
		if (!x->head)
			x->tail = &x->head;
		x->nqueue--;
		vbd__xsl_apply(x, e);
		vbd__xsl_effect_free(e);
	}
}

void vbd__xsl_enqueue(vbd_xslog *x, effect *e)
{
	e->next = NULL;
	*x->tail = e;
	x->tail = &e->next;
	x->nqueue++;
}

/* ---- connections ---- */

conn *vbd__xsl_conn_get(vbd_xslog *x, const char *key, size_t klen, bool create)
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
void vbd__xsl_conn_drop_pending(vbd_xslog *x, conn *c)
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
			vbd__xsl_feed_lost(x, c->t[i].e->seq);   /* ended unseen: committed or not */
		vbd__xsl_effect_free(c->t[i].e);
	}
	c->nt = 0;
}

void vbd__xsl_conn_free(vbd_xslog *x, conn *c)
{
	effect *e;
	size_t i;

	vbd__xsl_conn_drop_pending(x, c);
	for (e = x->head; e; e = e->next) {
		if (e->owner == c)
			e->owner = NULL;
		if (e->rc == c)
			e->rc = NULL;
	}
	for (i = 0; i < x->nrecent; i++) {
		size_t j;

		if (x->recent[i].c == c)
			x->recent[i].c = NULL;
		for (j = 0; j < 4; j++)
			if (x->recent[i].told[j] == c)
				x->recent[i].told[j] = NULL;
	}
	for (i = 0; i < x->nconns; i++)
		if (x->conns[i] == c) {
			x->conns[i] = x->conns[--x->nconns];
			break;
		}
	free(c);
}

req *vbd__xsl_req_push(vbd_xslog *x, conn *c, int type)
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

req *vbd__xsl_req_pop(conn *c)
{
	req *r;

	if (!c->nr)
		return NULL;
	r = &c->r[c->r0];
	c->r0 = (c->r0 + 1) % MAX_REQS;
	c->nr--;
	return r;
}

txn *vbd__xsl_txn_find(conn *c, uint32_t id)
{
	size_t i;

	for (i = 0; i < c->nt; i++)
		if (c->t[i].id == id)
			return &c->t[i];
	return NULL;
}

txn *vbd__xsl_txn_open(vbd_xslog *x, conn *c, uint32_t id, int64_t time_ns)
{
	txn *t;

	if ((t = vbd__xsl_txn_find(c, id)))
		return t;
	if (c->nt == MAX_TXNS)
		return NULL;
	t = &c->t[c->nt];
	t->id = id;
	if (!(t->e = vbd__xsl_effect_new(x, c->domid, time_ns)))
		return NULL;
	c->nt++;
	return t;
}

void vbd__xsl_forget(conn *c, const effect *e)
{
	size_t i;

	for (i = 0; i < c->nr; i++) {
		req *r = &c->r[(c->r0 + i) % MAX_REQS];

		if (r->type == R_TXN_CHANGE && r->e == e)
			r->e = NULL;
	}
}

void vbd__xsl_txn_close(conn *c, txn *t)
{
	vbd__xsl_forget(c, t->e);
	*t = c->t[--c->nt];
}

/* ---- shared line helpers ---- */

bool vbd__xsl_num(const char **p, const char *end, unsigned long long max, unsigned long long *ret)
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
int64_t vbd__xsl_epoch_ns(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s,
                        unsigned ms)
{
	/* A log's clock before the epoch or past 2200 is no time the
	 * replay can give (0: unknown), and would overflow. */
	if (y < 1970 || y > 2200)
		return 0;
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
char *vbd__xsl_abs_path(const conn *c, const char *p, size_t len, size_t *ret_len)
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
void vbd__xsl_change(vbd_xslog *x, conn *c, vbd_change_op op, const char *p, size_t plen, const char *v,
                   size_t vlen, bool has_tid, uint32_t tid, int64_t time_ns, bool truncated)
{
	size_t alen = 0;
	char *ap = vbd__xsl_abs_path(c, p, plen, &alen);
	bool rel = false;
	effect *e;
	txn *t = NULL;
	req *r;

	/* Relative, of a connection whose domain is not known yet: kept as
	 * given, resolved when its commit is fed (vbd__xsl_apply()). */
	if (!ap && plen && p[0] != '/' && plen <= MAX_LINE && (ap = strndup(p, plen))) {
		alen = plen;
		rel = true;
	}
	if (has_tid ? tid != 0 : c->nt > 0) {
		if (has_tid)
			t = vbd__xsl_txn_open(x, c, tid, time_ns);
		else if (c->nt == 1)
			t = &c->t[0];
		if (!t) {                 /* two open: which one, the log does not say */
			r = vbd__xsl_req_push(x, c, R_OTHER);
			r->tid = tid;
			vbd__xsl_feed_lost(x, x->sum.lines);
			free(ap);
			return;
		}
		r = vbd__xsl_req_push(x, c, R_TXN_CHANGE);
		r->e = t->e;
		r->tid = tid;
		r->ci = t->e->n;
		t->e->owner = c;
		if (!ap || truncated || vbd__xsl_effect_add(t->e, op, ap ? ap : "", alen, v, vlen) < 0) {
			t->e->overflow = true;   /* at its commit: unknown */
		} else {
			t->e->c[t->e->n - 1].state = x->format == VBD_XSLOG_CXENSTORED ? W_WAIT : W_APPLY;
			t->e->c[t->e->n - 1].rel = rel;
		}
		free(ap);
		return;
	}
	if (!(e = vbd__xsl_effect_new(x, c->domid, time_ns))) {
		free(ap);
		return;
	}
	e->state = W_WAIT;
	e->owner = c;
	if (!ap || truncated || vbd__xsl_effect_add(e, op, ap, alen, v, vlen) < 0)
		e->overflow = true;
	else
		e->c[0].rel = rel;
	free(ap);
	r = vbd__xsl_req_push(x, c, R_CHANGE);
	vbd__xsl_req_bind(c, r, e);
	r->tid = 0;
	vbd__xsl_enqueue(x, e);
}
