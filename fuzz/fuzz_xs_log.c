/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for the verifier's input: a xenstored log (vbd_xslog_*) replayed
 * into the checker (vbd_checker_*), the path `vbdctl verify --log` takes.
 *
 * Input: byte 0 picks the format (its value mod 3: auto, C xenstored's
 * trace, oxenstored's access log), byte 1 the size of the pieces the rest
 * is fed in (1..256; 0 means all at once); the rest is the log.
 *
 * Oracles (each violation an abort()): the reports and summaries are the
 * same when the log comes all at once and in pieces; every report names a
 * side, states within -1..8 and a writer within -1..DOMID_FIRST_RESERVED;
 * the checker's violation count is the number of violation reports; a
 * replay feeds no more changes than it read lines, when it read any.
 *
 *     "\x01\x07CREATE connection 0xa1\nIN 0xa1 20261206 10:00:02 WRITE
 *      (/local/domain/0/backend/vbd/3/51712/state 1)\nOUT 0xa1 ... (OK )\n"
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbd/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct tally {
	uint64_t hash;
	unsigned events, violations;
} tally;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_xs_log: %s\n", what);
	abort();
}

static void mix(tally *t, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		t->hash = (t->hash ^ b[i]) * 1099511628211ull;
}

static void on_event(const vbd_verify_event *e, void *ud)
{
	tally *t = ud;

	if (!e->side || (strcmp(e->side, "backend") && strcmp(e->side, "frontend")))
		die("a report without its side");
	if (e->old_state < -1 || e->old_state > 8 || e->new_state < -1 || e->new_state > 8)
		die("a state out of range");
	if (e->writer < -1 || e->writer >= (int)VBD_DOMID_FIRST_RESERVED)
		die("a writer out of range");
	t->events++;
	mix(t, &e->domid, sizeof(e->domid));
	mix(t, &e->devid, sizeof(e->devid));
	mix(t, e->side, strlen(e->side));
	mix(t, &e->old_state, sizeof(e->old_state));
	mix(t, &e->new_state, sizeof(e->new_state));
	mix(t, &e->unobserved, sizeof(e->unobserved));
	mix(t, &e->writer, sizeof(e->writer));
	mix(t, &e->seq, sizeof(e->seq));
	if (e->v) {
		t->violations++;
		if (!e->v->rule || memchr(e->v->node, 0, sizeof(e->v->node)) == NULL ||
		    memchr(e->v->detail, 0, sizeof(e->v->detail)) == NULL)
			die("a violation not terminated");
		mix(t, e->v->rule, strlen(e->v->rule));
		mix(t, e->v->node, strlen(e->v->node));
		mix(t, e->v->detail, strlen(e->v->detail));
	}
}

static int replay(vbd_xslog_format fmt, const uint8_t *log, size_t len, size_t step, tally *t,
                  vbd_checker_summary *ks, vbd_xslog_summary *ls)
{
	vbd_checker *k = NULL;
	vbd_xslog *x = NULL;
	size_t i;
	int r = 0;

	memset(t, 0, sizeof(*t));
	t->hash = 14695981039346656037ull;
	if (vbd_checker_new(VBD_DOMID_ALL, 0, on_event, t, &k) < 0 || vbd_xslog_new(k, fmt, &x) < 0)
		die("new");
	for (i = 0; i < len && r == 0; i += step)
		r = vbd_xslog_feed(x, (const char *)log + i, len - i < step ? len - i : step);
	if (r == 0)
		r = vbd_xslog_finish(x, ls);
	vbd_checker_summary_get(k, ks);
	vbd_xslog_free(x);
	vbd_checker_free(k);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vbd_checker_summary ka = { .size = sizeof(ka) }, kb = { .size = sizeof(kb) };
	vbd_xslog_summary la = { .size = sizeof(la) }, lb = { .size = sizeof(lb) };
	vbd_xslog_format fmt;
	tally a, b;
	size_t step;
	int ra, rb;

	if (size < 2)
		return 0;
	fmt = (vbd_xslog_format)(data[0] % 3);
	step = data[1] ? data[1] : size;
	data += 2;
	size -= 2;
	ra = replay(fmt, data, size, size ? size : 1, &a, &ka, &la);
	rb = replay(fmt, data, size, step, &b, &kb, &lb);
	if (ra != rb)
		die("a different result in pieces");
	if (a.hash != b.hash || a.events != b.events)
		die("different reports in pieces");
	if (ka.violations != kb.violations || ka.unobserved != kb.unobserved ||
	    ka.devices != kb.devices || ka.lost != kb.lost)
		die("a different checker summary in pieces");
	if (ra == 0 && (la.lines != lb.lines || la.changes != lb.changes ||
	                la.unknown != lb.unknown || la.unparsed != lb.unparsed))
		die("a different replay summary in pieces");
	if (ka.violations != a.violations)
		die("violations counted and reported differ");
	if (ra == 0 && la.changes > la.lines)
		die("more changes than lines");
	return 0;
}
