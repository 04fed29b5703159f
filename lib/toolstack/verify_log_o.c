/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * oxenstored's access log, read line by line for the replay (format and
 * limits in docs/protocol.md).  Example:
 *     [20261206T10:00:01.250Z]  D3           write     device/vbd/51712/state 3
 * is domain 3 writing its frontend's state outside a transaction; the same
 * with "D3.7" is inside its transaction 7, which counts at a later
 * "D3.7 commit" (or "coalesce") line and not at all after "conflict".
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/verify_log.h"

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

	if (q >= end || *q++ != '[' || !vbd__xsl_num(&q, end, 99991231, &ymd) || q >= end || *q++ != 'T' ||
	    !vbd__xsl_num(&q, end, 23, &h) || q >= end || *q++ != ':' || !vbd__xsl_num(&q, end, 59, &m) || q >= end ||
	    *q++ != ':' || !vbd__xsl_num(&q, end, 60, &s) || q >= end || *q++ != '.' || !vbd__xsl_num(&q, end, 999, &ms))
		return false;
	/* File lines: "[date] "; a level and key may follow the date. */
	while (q < end && *q != ']')
		q++;
	if (q >= end)
		return false;
	if (ymd % 100 < 1 || ymd % 100 > 31 || ymd / 100 % 100 < 1 || ymd / 100 % 100 > 12)
		return false;
	*ret = vbd__xsl_epoch_ns((unsigned)(ymd / 10000), (unsigned)(ymd / 100 % 100), (unsigned)(ymd % 100),
	                (unsigned)h, (unsigned)m, (unsigned)s, (unsigned)ms);
	*p = q + 1;
	return true;
}

/* Every later line of a connection settles its writes before it: a client
 * sends on after its answer, and an error answer is logged when sent. */
static void o_settle(vbd_xslog *x, conn *c)
{
	req *r;

	while ((r = vbd__xsl_req_pop(c)))
		if (r->type == R_CHANGE && r->e && r->e->state == W_WAIT)
			r->e->state = W_APPLY;
	c->window_settled = false;
	(void)x;
}

void vbd__xsl_o_line(vbd_xslog *x, char *p, char *end)
{
	static const char *const ops[] = {
		"write", "mkdir", "rm", "commit", "conflict", "coalesce", "error", "newconn", "endconn",
		"w event", "w notfired", "t start", "t end", "is introduced", "reset watches", "read",
		"directory", "getperms", "watch", "unwatch", "introduce", "release", "getdomain",
		"resume", "setperms", "settarget", "debug", "invalid", NULL,
	};
	const char *key, *con, *q, *op = NULL;
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
	/* "r(2):A13.3 write ...": oxenstored replaying, request by request,
	 * a transaction whose commit conflicted, then committing the replay
	 * ("r(2):A13.3 commit") or not.  The replay is taken as a connection
	 * of its own (keyed with its prefix) of the same domain: its
	 * requests count only if its own commit line comes. */
	key = p;
	if (end - p > 4 && p[0] == 'r' && p[1] == '(') {
		q = p + 2;
		if (vbd__xsl_num(&q, end, UINT32_MAX, &d) && end - q > 2 && q[0] == ')' && q[1] == ':')
			p = (char *)q + 2;
	}
	con = p;
	while (p < end && *p != ' ')
		p++;
	conlen = (size_t)(p - con);
	/* "D5", "D5.3", "A12" (a socket: dom0's), "A12.3" */
	q = con + 1;
	if (conlen < 2 || (con[0] != 'D' && con[0] != 'A') || !vbd__xsl_num(&q, con + conlen, UINT32_MAX, &d)) {
		x->sum.unparsed++;    /* "=======>" (live update) and others */
		return;
	}
	if (q < con + conlen) {
		if (*q++ != '.' || !vbd__xsl_num(&q, con + conlen, UINT32_MAX, &tid) || q != con + conlen) {
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

		if (!(c = vbd__xsl_conn_get(x, key, (size_t)((dot ? dot : con + conlen) - key), true))) {
			vbd__xsl_feed_lost(x, x->sum.lines);
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
			vbd__xsl_feed_lost(x, x->sum.lines);   /* an error for a write taken as done */
		vbd__xsl_flush(x, false);
		return;
	}
	if (!strcmp(op, "endconn")) {
		o_settle(x, c);
		vbd__xsl_conn_drop_pending(x, c);
		vbd__xsl_flush(x, false);
		vbd__xsl_conn_free(x, c);
		return;
	}
	if (!strcmp(op, "newconn")) {
		vbd__xsl_conn_drop_pending(x, c);
		return;
	}
	if (!strcmp(op, "commit") || !strcmp(op, "coalesce") || !strcmp(op, "conflict")) {
		txn *tx = has_tid ? vbd__xsl_txn_find(c, (uint32_t)tid) : NULL;

		if (tx) {
			effect *e = tx->e;

			vbd__xsl_txn_close(c, tx);
			if (op[1] == 'o' && op[2] == 'n') {
				vbd__xsl_effect_free(e);         /* conflict: EAGAIN, nothing */
			} else {
				e->state = W_APPLY;
				e->seq = e->line = x->sum.lines;
				e->time_ns = t;
				vbd__xsl_enqueue(x, e);
			}
		}
		vbd__xsl_flush(x, false);
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
		vbd__xsl_change(x, c, cop, p, plen, cop == VBD_CHANGE_WRITE ? v : NULL, vlen, true, (uint32_t)tid,
		       t, truncated);
	}
	vbd__xsl_flush(x, false);
}

