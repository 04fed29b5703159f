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

#include "toolstack/verify_log.h"

/* ---- lines ---- */

static vbd_xslog_format detect(const char *p, size_t len)
{
	static const char *const c_starts[] = { "IN 0x", "OUT 0x", "IN (nil)", "CREATE connection ",
	                                        "io: ", "obj: ", "wrl: ", "***", NULL };
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
		if (!len)
			return;          /* an empty line is no record in either format */
		x->format = detect(p, len);
		if (x->format == VBD_XSLOG_AUTO) {
			x->sum.unparsed++;
			if (x->sum.lines >= DETECT_LINES)
				x->err = -EINVAL;
			return;
		}
	}
	if (x->format == VBD_XSLOG_CXENSTORED)
		vbd__xsl_c_line(x, p, p + len, ambiguous);
	else
		vbd__xsl_o_line(x, p, p + len);
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
	uint64_t unparsed;

	if (x->too_long) {
		x->sum.lines++;
		x->sum.unparsed++;
		if (!x->sum.first_unparsed)
			x->sum.first_unparsed = x->sum.lines;
		vbd__xsl_feed_lost(x, x->sum.lines);
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
	unparsed = x->sum.unparsed;
	line(x, x->line, x->len, x->joining);
	if (x->sum.unparsed != unparsed && !x->sum.first_unparsed)
		x->sum.first_unparsed = x->sum.lines;
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
		vbd__xsl_conn_drop_pending(x, x->conns[i]);
	vbd__xsl_flush(x, true);
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
	size_t i;

	if (!x)
		return NULL;
	while ((e = x->head)) {
		x->head = e->next;
		vbd__xsl_effect_free(e);
	}
	while (x->nconns) {
		conn *c = x->conns[--x->nconns];
		size_t j;

		for (j = 0; j < c->nt; j++)
			vbd__xsl_effect_free(c->t[j].e);
		free(c);
	}
	for (i = 0; i < x->nrecent; i++)
		free(x->recent[i].path);
	free(x->line);
	free(x);
	return NULL;
}
