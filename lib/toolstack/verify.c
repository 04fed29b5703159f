/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The handshake verifier (rules in vbd/verify.h).
 *
 * Example: a frontend writes state 3 while its backend still says 1.  The
 * follower sees the event for .../device/vbd/51728/state, finds the device,
 * reads both ends, reports the transition 1 -> 3 on the frontend, then
 * "frontend-early" (frontend Initialised, backend Initialising).  A rule that
 * still fails on the next event is not reported again; one that passes and
 * fails later is.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/ctx.h"
#include "toolstack/trace_follow.h"
#include "toolstack/verify_rules.h"
#include "util/opts.h"
#include "vbd/dev.h"
#include "vbd/verify.h"

typedef vbd__vlist vlist;
#define add vbd__vlist_add

void vbd__vlist_add(vlist *l, const char *rule, const char *node, const char *fmt, ...)
{
	va_list ap;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		vbd_violation *nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n].rule = rule;
	snprintf(l->v[l->n].node, sizeof(l->v[0].node), "%s", node);
	va_start(ap, fmt);
	vsnprintf(l->v[l->n].detail, sizeof(l->v[0].detail), fmt, ap);
	va_end(ap);
	l->n++;
}

/* Reads through the seam: path formatted, NULL when absent. */
static char *rd_get(const vbd__vreader *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *rd_get(const vbd__vreader *rd, const char *fmt, ...)
{
	char path[3200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return rd->read(rd->ud, path);
}

/* The number at dir/k: absent when there is none, -1 if it is not one. */
static long long key_num(const vbd__vreader *rd, const char *dir, const char *k, long long absent)
{
	char *s = rd_get(rd, "%s/%s", dir, k);
	long long v;

	if (!s)
		return absent;
	/* 20 digits at most: strtoll's range check does the rest. */
	v = strlen(s) <= 20 ? vbd__parse_num(s) : -1;
	free(s);
	return v;
}

int vbd__verify_state_of(const vbd__vreader *rd, const char *dir, vlist *l)
{
	char path[224], *s = rd_get(rd, "%s/state", dir);
	long long v;

	if (!s)
		return -1;
	v = strlen(s) <= 20 ? vbd__parse_num(s) : -1;
	if (v >= 0 && v <= VBD_STATE_RECONFIGURED) {
		free(s);
		return (int)v;
	}
	snprintf(path, sizeof(path), "%s/state", dir);
	add(l, "state-value", path, "\"%s\" is not a xenbus state (0..8)", s);
	free(s);
	return -2;
}

static bool is_hex_pair(const char *s)
{
	const char *colon = strchr(s, ':');
	const char *p;

	if (!colon || colon == s || !colon[1])
		return false;
	for (p = s; *p; p++)
		if (p != colon && !((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		                    (*p >= 'A' && *p <= 'F')))
			return false;
	return true;
}

static void check_one_of(const vbd__vreader *rd, vlist *l, const char *dir, const char *k,
                         const char *rule, const char *const *ok)
{
	char path[224], *s = rd_get(rd, "%s/%s", dir, k);
	const char *const *o;

	if (!s)
		return;
	for (o = ok; *o; o++)
		if (!strcmp(s, *o))
			break;
	if (!*o) {
		snprintf(path, sizeof(path), "%s/%s", dir, k);
		add(l, rule, path, "\"%s\" is not one of the values the protocol allows", s);
	}
	free(s);
}

static void ring_keys(const vbd__vreader *rd, vlist *l, const char *be, const char *fe)
{
	long long nq = key_num(rd, fe, "multi-queue-num-queues", 1);
	long long maxq = key_num(rd, be, "multi-queue-max-queues", 1);
	long long order = key_num(rd, fe, "ring-page-order", -2);
	long long maxo = key_num(rd, be, "max-ring-page-order", 0);
	char path[320];
	long long q, r;

	if (nq < 1 || nq > maxq) {
		snprintf(path, sizeof(path), "%s/multi-queue-num-queues", fe);
		add(l, "ring-keys", path, "%lld queues; the backend offers 1..%lld", nq, maxq);
		return;
	}
	if (order != -2 && (order < 0 || order > maxo || order > 16)) {
		snprintf(path, sizeof(path), "%s/ring-page-order", fe);
		add(l, "ring-keys", path, "order %lld; the backend offers 0..%lld", order, maxo);
		return;
	}
	for (q = 0; q < nq; q++) {
		char qdir[256];
		char *s;

		if (nq == 1)
			snprintf(qdir, sizeof(qdir), "%s", fe);
		else
			snprintf(qdir, sizeof(qdir), "%s/queue-%lld", fe, q);
		if (order == -2) {
			s = rd_get(rd, "%s/ring-ref", qdir);
			if (!s || vbd__parse_num(s) < 0) {
				snprintf(path, sizeof(path), "%s/ring-ref", qdir);
				if (s)
					add(l, "ring-keys", path, "\"%s\" is not a grant reference", s);
				else
					add(l, "ring-keys", path, "missing while the frontend is %s",
					    "Initialised or Connected");
			}
			free(s);
		} else {
			for (r = 0; r < (1LL << order); r++) {
				char k[32];

				snprintf(k, sizeof(k), "ring-ref%lld", r);
				s = rd_get(rd, "%s/%s", qdir, k);
				if (!s || vbd__parse_num(s) < 0) {
					snprintf(path, sizeof(path), "%s/%s", qdir, k);
					add(l, "ring-keys", path, "missing or not a grant reference (ring-page-order %lld)",
					    order);
				}
				free(s);
			}
		}
		s = rd_get(rd, "%s/event-channel", qdir);
		if (!s || vbd__parse_num(s) < 0) {
			snprintf(path, sizeof(path), "%s/event-channel", qdir);
			add(l, "ring-keys", path, "missing or not a port number");
		}
		free(s);
	}
}

void vbd__verify_static(const vbd__vreader *rd, const char *be, const char *fe, int bs, int fs,
                        bool whole, vlist *l)
{
	static const char *const protocols[] = { "x86_32-abi", "x86_64-abi", "arm-abi", NULL };
	static const char *const hotplug[] = { "connected", "error", "busy", NULL };
	static const char *const online[] = { "0", "1", NULL };
	char path[224], *s;

	if (!whole)
		goto values;
	if (fe && (fs == 3 || fs == 4) && bs >= 0 && bs < 2)
		add(l, "frontend-early", fe, "frontend %s while the backend is %s (before InitWait)",
		    vbd_state_name(fs), vbd_state_name(bs));
	if (bs == 4 && fs >= 0 && fs < 3)
		add(l, "backend-early", be, "backend Connected while the frontend is %s",
		    vbd_state_name(fs));
	if (bs == 4) {
		long long ss = key_num(rd, be, "sector-size", -1);

		if (key_num(rd, be, "sectors", -1) < 0) {
			snprintf(path, sizeof(path), "%s/sectors", be);
			add(l, "connect-keys", path, "missing or not a number while Connected");
		}
		if (key_num(rd, be, "info", -1) < 0) {
			snprintf(path, sizeof(path), "%s/info", be);
			add(l, "connect-keys", path, "missing or not a number while Connected");
		}
		if (ss < 512 || (ss & (ss - 1))) {
			snprintf(path, sizeof(path), "%s/sector-size", be);
			add(l, "connect-keys", path, "%lld: missing, or not a power of two >= 512", ss);
		}
	}
	if (fe && (fs == 3 || fs == 4) && bs >= 2)
		ring_keys(rd, l, be, fe);
values:
	if (fe)
		check_one_of(rd, l, fe, "protocol", "protocol", protocols);
	s = rd_get(rd, "%s/physical-device", be);
	if (s && !is_hex_pair(s)) {
		snprintf(path, sizeof(path), "%s/physical-device", be);
		add(l, "physical-device", path, "\"%s\" is not hex major:minor", s);
	}
	free(s);
	check_one_of(rd, l, be, "hotplug-status", "hotplug-status", hotplug);
	check_one_of(rd, l, be, "online", "online", online);
}

/* One device read in one transaction: both states ("state-value"
 * violations in states) and, when always or an end exists, the rules on
 * the nodes (in keys). */
typedef struct dev_snap {
	vbd_ctx *c;
	const char *be, *fe;
	bool always;
	int bs, fs;
	vlist states, keys;
} dev_snap;

/* The follower's side of the reader seam: the store, in the transaction. */
typedef struct xs_at {
	struct xs_handle *xs;
	xs_transaction_t t;
} xs_at;

static char *xs_at_read(void *ud, const char *path)
{
	xs_at *a = ud;

	return vbd__xb_read(a->xs, a->t, "%s", path);
}

static int snap_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	dev_snap *d = ud;
	xs_at at = { xs, t };
	vbd__vreader rd = { xs_at_read, &at };

	d->states.n = d->keys.n = 0;   /* a retry starts afresh */
	d->bs = vbd__verify_state_of(&rd, d->be, &d->states);
	d->fs = vbd__verify_state_of(&rd, d->fe, &d->states);
	if (d->c->verify_window)
		d->c->verify_window(d->be, d->c->verify_window_ud);
	if (d->always || d->bs >= 0 || d->fs >= 0)
		vbd__verify_static(&rd, d->be, d->fe, d->bs, d->fs, true, &d->keys);
	return 0;
}

/* 0, or -errno when no transaction could be run or committed (a device
 * that changed on every one of the tries). */
static int read_dev(dev_snap *d)
{
	int r = vbd__xb_txn(d->c->xs, snap_body, d);

	if (r < 0) {
		d->bs = d->fs = -1;
		d->states.n = d->keys.n = 0;
	}
	return r;
}

void vbd__vlist_append(vlist *dst, vlist *src)
{
	size_t i;

	for (i = 0; i < src->n; i++)
		add(dst, src->v[i].rule, src->v[i].node, "%s", src->v[i].detail);
	free(src->v);
	src->v = NULL;
	src->n = src->cap = 0;
}

bool vbd__verify_legal(bool backend, int from, int to)
{
	if (from < 0 || to < 0 || from == to || to >= VBD_STATE_CLOSING || to > from)
		return true;
	/* Reconnect: Closed -> InitWait (blkback), Closed -> Initialising (blkfront). */
	if (from == VBD_STATE_CLOSED)
		return backend ? (to == VBD_STATE_INITWAIT || to == VBD_STATE_INITIALISING)
		               : to == VBD_STATE_INITIALISING;
	return false;
}

/* Where a device lives (vbd__dev_locate), as two strings. */
static int locate(vbd_ctx *c, unsigned domid, uint32_t devid, char **be, char **fe)
{
	vbd__dev_loc loc;
	int r = vbd__dev_locate(c, domid, devid, &loc);

	if (r < 0)
		return r;
	*be = strdup(loc.be);
	*fe = strdup(loc.fe);
	return *be && *fe ? 0 : -ENOMEM;
}

vbd_violation *vbd_violation_free(vbd_violation *v, size_t n)
{
	(void)n;        /* the elements own nothing (yet) */
	free(v);
	return NULL;
}

int vbd_dev_verify(vbd_ctx *c, unsigned domid, uint32_t devid, vbd_violation **ret, size_t *ret_n)
{
	return vbd_dev_verify_history(c, domid, devid, ret, ret_n, NULL);
}

int vbd_dev_verify_history(vbd_ctx *c, unsigned domid, uint32_t devid, vbd_violation **ret,
                           size_t *ret_n, vbd_verify_history *ret_history)
{
	vbd_verify_history h = { .size = sizeof(h) };
	char *be = NULL, *fe = NULL, *s;
	vlist l = { NULL, 0, 0 };
	int r;

	if (!c || !ret || !ret_n || (ret_history && ret_history->size < sizeof(ret_history->size)))
		return -EINVAL;
	/* A new call's message, not chained to an earlier call's. */
	c->err.msg[0] = 0;
	if ((r = locate(c, domid, devid, &be, &fe)) < 0) {
		r = vbd__errf(&c->err, r, "locating device %u of domain %u: %s", devid, domid, strerror(-r));
		goto out;
	}
	s = vbd__xb_read(c->xs, XBT_NULL, "%s", be);
	if (!s) {
		r = errno == ENOENT ? vbd__errf(&c->err, -ENOENT, "domain %u has no device %u (%s)",
		                                domid, devid, be)
		                    : vbd__errf(&c->err, -errno, "reading %s: %s", be, strerror(errno));
		goto out;
	}
	free(s);
	{
		dev_snap d = { .c = c, .be = be, .fe = fe, .always = true };

		if ((r = read_dev(&d)) < 0) {
			r = vbd__errf(&c->err, r, "reading %s: %s", be, strerror(-r));
			free(d.states.v);
			free(d.keys.v);
			goto out;
		}
		l = d.states;
		vbd__vlist_append(&l, &d.keys);
		/* Seen once, now: whatever came before the state read was not. */
		h.backend_state = d.bs < -1 ? -1 : d.bs;
		h.frontend_state = d.fs < -1 ? -1 : d.fs;
		h.backend_unseen = vbd__verify_unseen(true, -1, h.backend_state, 0);
		h.frontend_unseen = vbd__verify_unseen(false, -1, h.frontend_state, 0);
		h.unobserved = (unsigned)__builtin_popcount(h.backend_unseen) +
		               (unsigned)__builtin_popcount(h.frontend_unseen);
	}
	if (ret_history)
		vbd__out_fill(ret_history, &h, sizeof(h));
	*ret = l.v;
	*ret_n = l.n;
	l.v = NULL;
	r = 0;
out:
	free(l.v);
	free(be);
	free(fe);
	return r;
}

/* ---- following ----
 *
 * A watch event names a path, never a value: the follower reads the states
 * when it gets round to it, and an end may have moved on by then.  Reading
 * on every event made that worse than it needs to be: six attaches at once
 * raise some 380 events, each read and checked with about fifteen round
 * trips, and the follower ended up so far behind that it first read devices
 * already Connected, or already removed (and said nothing about those).  So
 * events only mark their device; one pass per vbd_ctx_process() (a timer
 * due at once, which runs after the events are drained) reads each marked
 * device once.  What it still cannot read is said, never passed over: each
 * event on a state node counts one write, and a transition that needed
 * writes the follower did not read carries the states it did not see
 * (vbd_verify_event.unseen), and writes between two reads that found the
 * same value (a device created and removed in between included) are
 * reported as such.
 */

typedef struct vdev {
	struct vdev *next;
	unsigned domid;
	uint32_t devid;
	char *be, *fe;
	int bs, fs;          /* last read: -1 absent */
	unsigned bw, fw;     /* writes of each state node since that read */
	bool dirty;
	unsigned bj, fj;     /* states a one-write step passed by (see transition()) */
	vbd__vactive active; /* violations already reported */
} vdev;

struct vbd_verifier {
	vbd_ctx *c;
	int domid;
	vbd__vsink sink;            /* writer -1, seq and time 0: a reader knows neither */
	vbd__watch *w;
	vbd__trace_follower *tf;    /* the store's trace, when it offers it: then no watch */
	vbd__timer *pass;           /* due at once while a device is marked */
	vdev *devs, **tail;         /* in the order first seen */
};

static void vdev_free(vdev *d)
{
	vbd__vactive_done(&d->active);
	free(d->be);
	free(d->fe);
	free(d);
}

/* One decimal number of p without sign or leading zero, at most max: its
 * end, or NULL. */
static const char *num_at(const char *p, unsigned long max, unsigned long *ret)
{
	unsigned long v = 0;
	const char *q = p;

	if (*q < '0' || *q > '9' || (*q == '0' && q[1] >= '0' && q[1] <= '9'))
		return NULL;
	for (; *q >= '0' && *q <= '9'; q++) {
		v = v * 10 + (unsigned long)(*q - '0');
		if (v > max)
			return NULL;
	}
	*ret = v;
	return q;
}

bool vbd__verify_parse_path(const char *p, unsigned *domid, uint32_t *devid, size_t *dirlen,
                            bool *backend)
{
	static const char dom[] = "/local/domain/";
	const unsigned long maxdom = VBD_DOMID_FIRST_RESERVED - 1;
	unsigned long a, b, dev;
	const char *q;

	if (strncmp(p, dom, sizeof(dom) - 1) || !(q = num_at(p + sizeof(dom) - 1, maxdom, &a)))
		return false;
	/* Either kind of backend: vbd (phy) or vbd3 (tap). */
	if (!strncmp(q, "/backend/vbd/", 13) || !strncmp(q, "/backend/vbd3/", 14)) {
		q += q[12] == '/' ? 13 : 14;
		if (!(q = num_at(q, maxdom, &b)) || *q++ != '/' || !(q = num_at(q, UINT32_MAX, &dev)))
			return false;
		*domid = (unsigned)b;
		*backend = true;
	} else if (!strncmp(q, "/device/vbd/", 12)) {
		if (!(q = num_at(q + 12, UINT32_MAX, &dev)))
			return false;
		*domid = (unsigned)a;
		*backend = false;
	} else {
		return false;
	}
	if (*q && *q != '/')
		return false;
	*devid = (uint32_t)dev;
	*dirlen = (size_t)(q - p);
	return true;
}

void vbd__verify_emit(vbd__vsink *s, vbd_verify_event *e, bool unobserved_set)
{
	if (unobserved_set)
		;
	else if (e->v)
		e->unobserved = 0;
	else if (e->unseen)
		e->unobserved = (unsigned)__builtin_popcount(e->unseen);
	else if (e->old_state == e->new_state)
		e->unobserved = e->writes;    /* values between two equal reads */
	else
		e->unobserved = 0;
	e->writer = s->writer;
	e->seq = s->seq;
	e->time_ns = s->time_ns;
	if (e->v)
		s->violations++;
	if (s->efn)
		s->efn(e, s->ud);
	else if (s->fn && (e->v || e->old_state != e->new_state))
		s->fn(e->domid, e->devid, e->side, e->old_state, e->new_state, e->v, s->ud);
}

void vbd__vactive_done(vbd__vactive *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

void vbd__verify_report_new(vbd__vsink *s, vbd__vactive *a, unsigned domid, uint32_t devid,
                            const vlist *l)
{
	char **now = calloc(l->n ? l->n : 1, sizeof(*now));
	size_t i, j;

	if (!now)
		return;
	for (i = 0; i < l->n; i++) {
		bool seen = false;
		size_t len = strlen(l->v[i].rule) + strlen(l->v[i].node) + 2;

		now[i] = malloc(len);
		if (now[i])
			snprintf(now[i], len, "%s %s", l->v[i].rule, l->v[i].node);
		for (j = 0; now[i] && j < a->n; j++)
			seen |= !strcmp(now[i], a->v[j]);
		if (!seen) {
			vbd_verify_event e = { .domid = domid, .devid = devid,
			                       .side = strstr(l->v[i].node, "/backend/") ? "backend"
			                                                                 : "frontend",
			                       .old_state = -1, .new_state = -1, .v = &l->v[i] };
			vbd__verify_emit(s, &e, false);
		}
	}
	vbd__vactive_done(a);
	a->v = now;
	a->n = l->n;
}

void vbd__verify_step(vbd__vsink *s, unsigned domid, uint32_t devid, bool backend, const char *dir,
                      int *prev, int now, unsigned writes, unsigned unseen, vlist *l)
{
	vbd_verify_event e = { .domid = domid, .devid = devid, .side = backend ? "backend" : "frontend",
	                       .old_state = *prev, .new_state = now, .writes = writes,
	                       .unseen = unseen };
	char node[224];

	vbd__verify_emit(s, &e, false);
	if (now != *prev && !vbd__verify_legal(backend, *prev, now)) {
		snprintf(node, sizeof(node), "%s/state", dir);
		add(l, backend ? "backend-transition" : "frontend-transition", node,
		    "%s -> %s is not a step of the protocol", vbd_state_name(*prev), vbd_state_name(now));
	}
	*prev = now;
}

/* The states each end passes through on the way the protocol describes
 * (docs/protocol.md): blkback 1 2 4 5 6, blkfront 1 3 4 6. */
#define PATH_BACKEND  (1u << 1 | 1u << 2 | 1u << 4 | 1u << 5 | 1u << 6)
#define PATH_FRONTEND (1u << 1 | 1u << 3 | 1u << 4 | 1u << 6)

/* Which states of the end's path lie between what was read last (from) and
 * now, and went unread: every end starts Initialising, so a first read of
 * anything else missed what came before; a removal after unread writes
 * missed them; and two or more writes between two reads of different
 * values passed states by.  One write from one value to another is a step
 * the end took (Mini-OS goes from Initialising to Connected). */
unsigned vbd__verify_unseen(bool backend, int from, int to, unsigned writes)
{
	unsigned path = backend ? PATH_BACKEND : PATH_FRONTEND, mask = 0;
	int lo = from < 0 ? 0 : from, hi = to < 0 ? VBD_STATE_CLOSED + 1 : to, s;

	if (from >= 0 && to >= 0 && writes == 1)
		return 0;
	if (from >= 0 && to < 0 && writes == 0)
		return 0;
	if (from < 0 && to < 0)
		return 0;      /* written and removed between two reads: values unknown */
	for (s = lo + 1; s < hi; s++)
		mask |= path & (1u << s);
	return mask;
}

/* One end's state, read as now, last read as *prev with writes events in
 * between: report the step (or the gap), check it.
 *
 * A read can run ahead of the events: the event of a write to 3 is handled
 * after the end wrote 4, and the read gives 4 with one write counted, as a
 * direct step would.  The event of that 4 then comes with nothing changed.
 * So a one-write step that passed states of the end's way by is held in
 * *jump, and a write that changed nothing after it names those states as
 * not observed after all (a resize rewrites Connected that way too, and is
 * then reported the same: the follower cannot tell them apart).  An end
 * that is gone before that event came settles it the same way. */
static void transition(vbd_verifier *v, vdev *d, bool backend, int *prev, int now, unsigned writes,
                       unsigned *jump, vlist *l)
{
	unsigned unseen;

	if (now < -1)
		return;        /* not a state: state-value says so */
	/* The held step is settled by its late event, or by the end going
	 * away first: that event may then come only after the device is
	 * forgotten, so the states are named now, as not observed. */
	if (*jump && (writes > 0 || now < 0)) {
		vbd_verify_event g = { .domid = d->domid, .devid = d->devid,
		                       .side = backend ? "backend" : "frontend", .old_state = *prev,
		                       .new_state = *prev, .writes = 1, .unseen = *jump };

		vbd__verify_emit(&v->sink, &g, false);
		if (writes > 0)
			writes--;
	}
	*jump = 0;
	if (now == *prev && (now >= 0 ? writes <= 1 : writes == 0))
		return;
	if (now != *prev && *prev >= 0 && now >= 0 && writes == 1)
		*jump = vbd__verify_unseen(backend, *prev, now, 2);
	unseen = vbd__verify_unseen(backend, *prev, now, writes);
	vbd__verify_step(&v->sink, d->domid, d->devid, backend, backend ? d->be : d->fe, prev, now,
	                 writes, unseen, l);
}

/* Reads a marked device; true when both ends are gone (forget it: a new
 * device of the same id starts afresh). */
static bool check_dev(vbd_verifier *v, vdev *d)
{
	dev_snap sn = { .c = v->c, .be = d->be, .fe = d->fe };
	vlist l;
	int bs, fs;

	read_dev(&sn);        /* unreadable: taken for gone, as a failed read was */
	bs = sn.bs;
	fs = sn.fs;
	l = sn.states;
	transition(v, d, true, &d->bs, bs, d->bw, &d->bj, &l);
	transition(v, d, false, &d->fs, fs, d->fw, &d->fj, &l);
	d->bw = d->fw = 0;
	vbd__vlist_append(&l, &sn.keys);
	vbd__verify_report_new(&v->sink, &d->active, d->domid, d->devid, &l);
	free(l.v);
	return bs == -1 && fs == -1;
}

static void on_pass(vbd_ctx *c, void *ud)
{
	vbd_verifier *v = ud;
	vdev **pp = &v->devs, *d;

	(void)c;
	v->pass = NULL;
	while ((d = *pp)) {
		if (d->dirty) {
			d->dirty = false;
			if (check_dev(v, d)) {
				*pp = d->next;
				vdev_free(d);
				continue;
			}
		}
		pp = &d->next;
	}
	v->tail = pp;
}

static bool is_state_of(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && !strcmp(path + n, "/state");
}

static void on_change(vbd_ctx *c, const char *path, void *ud)
{
	vbd_verifier *v = ud;
	unsigned domid;
	uint32_t devid;
	size_t dirlen;
	bool backend;
	vdev *d;

	if (!vbd__verify_parse_path(path, &domid, &devid, &dirlen, &backend) ||
	    (v->domid >= 0 && domid != (unsigned)v->domid))
		return;
	for (d = v->devs; d; d = d->next)
		if (d->domid == domid && d->devid == devid)
			break;
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d || locate(c, domid, devid, &d->be, &d->fe) < 0) {
			if (d)
				vdev_free(d);
			return;
		}
		d->domid = domid;
		d->devid = devid;
		d->bs = d->fs = -1;
		*v->tail = d;
		v->tail = &d->next;
	}
	if (is_state_of(path, d->be))
		d->bw++;
	else if (is_state_of(path, d->fe))
		d->fw++;
	d->dirty = true;
	/* Due at once: vbd_ctx_process() runs timers after it has drained the
	 * watch events, so the pass sees the whole batch. */
	if (!v->pass && vbd__ctx_timer(c, 0, on_pass, v, &v->pass) < 0)
		on_pass(c, v);
}

static int follow(vbd_ctx *c, int domid, vbd_verify_fn fn, vbd_verify_event_fn efn, void *userdata,
                  vbd_verifier **ret)
{
	vbd_verifier *v;
	int r;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->c = c;
	v->domid = domid;
	v->sink.fn = fn;
	v->sink.efn = efn;
	v->sink.ud = userdata;
	v->sink.writer = -1;
	v->tail = &v->devs;
	/* Every value, in order, with its writer, where the store offers it;
	 * else what watch events and late reads show. */
	r = vbd__trace_follower_new(c, domid, &v->sink, &v->tf);
	if (r == -ENOMEM) {
		free(v);
		return r;
	}
	if (r == 0) {
		*ret = v;
		return 0;
	}
	/* Both ends of any device live under /local/domain. */
	r = vbd__ctx_watch(c, "/local/domain", on_change, v, &v->w);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	return 0;
}

int vbd_verifier_new(vbd_ctx *c, vbd_domid domid, vbd_verify_fn fn, void *userdata, vbd_verifier **ret)
{
	if (!c || !fn || !ret)
		return -EINVAL;
	return follow(c, domid == VBD_DOMID_ALL ? -1 : (int)domid, fn, NULL, userdata, ret);
}

int vbd_verifier_follow(vbd_ctx *c, vbd_domid domid, vbd_verify_event_fn fn, void *userdata,
                        vbd_verifier **ret)
{
	if (!c || !fn || !ret)
		return -EINVAL;
	return follow(c, domid == VBD_DOMID_ALL ? -1 : (int)domid, NULL, fn, userdata, ret);
}

vbd_verifier *vbd_verifier_free(vbd_verifier *v)
{
	if (!v)
		return NULL;
	vbd__trace_follower_free(v->tf);
	vbd__ctx_unwatch(v->c, v->w);
	vbd__ctx_timer_cancel(v->c, v->pass);
	while (v->devs) {
		vdev *d = v->devs;
		v->devs = d->next;
		vdev_free(d);
	}
	free(v);
	return NULL;
}
