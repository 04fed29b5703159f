/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The C xenstored's trace, read line by line for the replay (verify_log.c
 * has a worked example; docs/protocol.md the format).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/verify_log.h"

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

	if (!vbd__xsl_num(&q, end, 99991231, &ymd) || q >= end || *q++ != ' ' || !vbd__xsl_num(&q, end, 23, &h) ||
	    q >= end || *q++ != ':' || !vbd__xsl_num(&q, end, 59, &m) || q >= end || *q++ != ':' ||
	    !vbd__xsl_num(&q, end, 60, &s) || q >= end || *q++ != ' ')
		return false;
	if (ymd % 100 < 1 || ymd % 100 > 31 || ymd / 100 % 100 < 1 || ymd / 100 % 100 > 12)
		return false;
	*ret = vbd__xsl_epoch_ns((unsigned)(ymd / 10000), (unsigned)(ymd / 100 % 100), (unsigned)(ymd % 100),
	                (unsigned)h, (unsigned)m, (unsigned)s, 0);
	*p = q;
	return true;
}

/* Remembers a request that changed path (as given). */
static void remember(vbd_xslog *x, conn *c, const char *path, size_t len)
{
	struct recent *r;
	char *copy = strndup(path, len);

	if (!copy)
		return;
	if (x->nrecent < RECENT) {
		r = &x->recent[x->nrecent++];
	} else {
		free(x->recent[0].path);   /* the oldest goes */
		memmove(&x->recent[0], &x->recent[1], (RECENT - 1) * sizeof(x->recent[0]));
		r = &x->recent[RECENT - 1];
	}
	memset(r, 0, sizeof(*r));
	r->c = c;
	r->path = copy;
	r->line = x->sum.lines;
}

/* The domain d of "/local/domain/<d>/" + rel == abs, or -1. */
static int home_of(const char *abs, const char *rel)
{
	unsigned long long d;
	const char *p = abs;
	size_t n = strlen(rel);

	if (strncmp(p, "/local/domain/", 14))
		return -1;
	p += 14;
	if (!vbd__xsl_num(&p, p + strlen(p), VBD_DOMID_FIRST_RESERVED - 1, &d) || *p != '/' ||
	    strlen(p + 1) != n || memcmp(p + 1, rel, n))
		return -1;
	return (int)d;
}

/* A connection's domain, from the watch events a change fires: xenstored
 * gives a watcher the path relative to the watcher's home when it watched
 * a relative path, absolute otherwise, and a watcher's events in the order
 * of the changes.  So an event is matched to the oldest recent change of
 * that node whose event this watcher has not had yet: a relative request
 * path R of a connection not named yet, with an absolute event path A,
 * gives A = /local/domain/<d>/R; an event path R to a connection not named
 * yet, for an absolute change A, the same. */
static void name_from_event(vbd_xslog *x, conn *to, const char *path, size_t len)
{
	char ev[4096];
	size_t i, j;

	if (len >= sizeof(ev))
		return;
	memcpy(ev, path, len);
	ev[len] = 0;
	for (i = 0; i < x->nrecent; i++) {
		struct recent *r = &x->recent[i];
		bool told = false;
		int h = -1;

		if (!r->c)
			continue;
		for (j = 0; j < 4; j++)
			told |= r->told[j] == to;
		if (told)
			continue;
		if (ev[0] == '/' && r->path[0] == '/' && !strcmp(r->path, ev))
			h = -2;        /* this change fired it: nothing to learn */
		else if (ev[0] == '/' && r->path[0] != '/' && r->c->domid < 0)
			h = home_of(ev, r->path);
		else if (ev[0] != '/' && r->path[0] == '/' && to->domid < 0)
			h = home_of(r->path, ev);
		else if (ev[0] != '/' && r->path[0] != '/' && r->c == to && !strcmp(r->path, ev))
			h = -2;
		if (h == -1)
			continue;
		for (j = 0; j < 4; j++)
			if (!r->told[j]) {
				r->told[j] = to;
				break;
			}
		if (h >= 0) {
			conn *who = ev[0] == '/' ? r->c : to;

			who->domid = h;
			vbd__xsl_named(x, who);
		}
		return;
	}
}

static bool word_is(const char *p, size_t len, const char *w)
{
	return strlen(w) == len && !memcmp(p, w, len);
}

void vbd__xsl_c_line(vbd_xslog *x, const char *p, const char *end, bool ambiguous)
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
		if (!(c = vbd__xsl_conn_get(x, p, (size_t)(end - p), true)))
			return;
		/* Pointers are reused: this one is new. */
		vbd__xsl_conn_drop_pending(x, c);
		c->domid = x->introducing >= 0 ? x->introducing : 0;
		return;
	}
	if (end - p > 19 && !memcmp(p, "DESTROY connection ", 19)) {
		if ((c = vbd__xsl_conn_get(x, p + 19, (size_t)(end - p - 19), false)))
			vbd__xsl_conn_free(x, c);
		return;
	}
	if (end - p > 3 && !memcmp(p, "IN ", 3)) {
		out = false;
		p += 3;
	} else if (end - p > 4 && !memcmp(p, "OUT ", 4)) {
		out = true;
		p += 4;
	} else {
		/* xenstored's own notes (rate limiting, delays, its restarts of
		 * the trace) are no records, and no surprise either. */
		static const char *const notes[] = { "CREATE ", "DESTROY ", "wrl: ", "***", "watch event ",
		                                     "dropping duplicate watch", "Delaying transaction",
		                                     "Stalling connection", "CONN ", "orphaned node",
		                                     "TDB: ", NULL };
		size_t i;

		for (i = 0; notes[i]; i++)
			if ((size_t)(end - p) >= strlen(notes[i]) && !memcmp(p, notes[i], strlen(notes[i])))
				return;
		if (end > p)
			x->sum.unparsed++;
		return;
	}
	if (!c_token(&p, end, &tok, &toklen)) {
		x->sum.unparsed++;
		return;
	}
	c = vbd__xsl_conn_get(x, tok, toklen, true);
	/* Xen 4.19 on names the domain: "(d5)". */
	if (end - p > 3 && p[0] == '(' && p[1] == 'd') {
		unsigned long long d;
		const char *q = p + 2;

		if (vbd__xsl_num(&q, end, VBD_DOMID_FIRST_RESERVED - 1, &d) && q < end && *q == ')') {
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
		vbd__xsl_feed_lost(x, x->sum.lines);             /* past MAX_CONNS */
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
			remember(x, c, body, plen);
			vbd__xsl_change(x, c, op, body, plen, op == VBD_CHANGE_WRITE ? v : NULL, vlen, false, 0, t,
			       ambiguous);
		} else if (word_is(type, typelen, "TRANSACTION_START")) {
			vbd__xsl_req_push(x, c, R_START);
		} else if (word_is(type, typelen, "TRANSACTION_END")) {
			r = vbd__xsl_req_push(x, c, R_END);
			/* The transaction ended is the only one open, or the log
			 * cannot say which. */
			if (c->nt == 1) {
				effect *e = c->t[0].e;

				vbd__xsl_txn_close(c, &c->t[0]);
				if (blen >= 1 && body[0] == 'T' && e) {
					e->state = W_WAIT;
					e->seq = e->line = x->sum.lines;
					e->time_ns = t;
					vbd__xsl_enqueue(x, e);
					vbd__xsl_req_bind(c, r, e);
				} else {
					vbd__xsl_effect_free(e);  /* aborted: nothing */
				}
			} else {
				/* Two open, or one that started before the log: what
				 * it wrote was taken as outside it, or is unknown. */
				vbd__xsl_feed_lost(x, x->sum.lines);
			}
		} else if (word_is(type, typelen, "INTRODUCE")) {
			unsigned long long d;
			const char *q = body;

			r = vbd__xsl_req_push(x, c, R_INTRODUCE);
			if (vbd__xsl_num(&q, body + blen, VBD_DOMID_FIRST_RESERVED - 1, &d))
				x->introducing = (int)d;
		} else {
			vbd__xsl_req_push(x, c, R_OTHER);
		}
		return;
	}
	/* An answer.  Watch events are no answers, but may name a domain. */
	if (word_is(type, typelen, "WATCH_EVENT")) {
		const char *sp = memchr(body, ' ', blen);

		name_from_event(x, c, body, sp ? (size_t)(sp - body) : blen);
		return;
	}
	if (!(r = vbd__xsl_req_pop(c)))
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

				if (vbd__xsl_num(&q, body + blen, UINT32_MAX, &id) && !vbd__xsl_txn_open(x, c, (uint32_t)id, t))
					vbd__xsl_feed_lost(x, x->sum.lines);
			}
			break;
		case R_INTRODUCE:
			x->introducing = -1;
			break;
		default:
			break;
		}
	}
	vbd__xsl_flush(x, false);
}

