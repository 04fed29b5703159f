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
#include "util/opts.h"
#include "vbd/dev.h"
#include "vbd/verify.h"

typedef struct vlist {
	vbd_violation *v;
	size_t n, cap;
} vlist;

static void add(vlist *l, const char *rule, const char *node, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add(vlist *l, const char *rule, const char *node, const char *fmt, ...)
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

/* Where the reads of one device go: one transaction, so that they all see
 * the device as it was at one moment (a device detached between its state
 * read and its ring-ref read would otherwise look like a broken one). */
typedef struct snap {
	struct xs_handle *xs;
	xs_transaction_t t;
} snap;

/* The number at dir/k: absent when there is none, -1 if it is not one. */
static long long key_num(const snap *sn, const char *dir, const char *k, long long absent)
{
	unsigned long long v;
	int r = vbd__xb_read_num(sn->xs, sn->t, dir, k, LLONG_MAX, &v);

	return r == 0 ? (long long)v : r == -EINVAL ? -1 : absent;
}

/* State of one end: -1 absent, -2 not a state (reported). */
static int state_of(const snap *sn, const char *dir, vlist *l)
{
	int r = vbd__xb_read_state(sn->xs, sn->t, dir);
	char path[224], *s;

	if (r >= 0)
		return r;
	if (r != -EINVAL)
		return -1;
	/* Read again for the message; gone meanwhile: absent. */
	s = vbd__xb_read(sn->xs, sn->t, "%s/state", dir);
	if (!s)
		return -1;
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

static void check_one_of(const snap *sn, vlist *l, const char *dir, const char *k,
                         const char *rule, const char *const *ok)
{
	char path[224], *s = vbd__xb_read(sn->xs, sn->t, "%s/%s", dir, k);
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

static void ring_keys(const snap *sn, vlist *l, const char *be, const char *fe)
{
	long long nq = key_num(sn, fe, "multi-queue-num-queues", 1);
	long long maxq = key_num(sn, be, "multi-queue-max-queues", 1);
	long long order = key_num(sn, fe, "ring-page-order", -2);
	long long maxo = key_num(sn, be, "max-ring-page-order", 0);
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
			s = vbd__xb_read(sn->xs, sn->t, "%s/ring-ref", qdir);
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
				s = vbd__xb_read(sn->xs, sn->t, "%s/%s", qdir, k);
				if (!s || vbd__parse_num(s) < 0) {
					snprintf(path, sizeof(path), "%s/%s", qdir, k);
					add(l, "ring-keys", path, "missing or not a grant reference (ring-page-order %lld)",
					    order);
				}
				free(s);
			}
		}
		s = vbd__xb_read(sn->xs, sn->t, "%s/event-channel", qdir);
		if (!s || vbd__parse_num(s) < 0) {
			snprintf(path, sizeof(path), "%s/event-channel", qdir);
			add(l, "ring-keys", path, "missing or not a port number");
		}
		free(s);
	}
}

/* The rules that look at the nodes as they are. */
static void check_static(const snap *sn, const char *be, const char *fe, int bs, int fs, vlist *l)
{
	static const char *const protocols[] = { "x86_32-abi", "x86_64-abi", "arm-abi", NULL };
	static const char *const hotplug[] = { "connected", "error", "busy", NULL };
	static const char *const online[] = { "0", "1", NULL };
	char path[224], *s;

	if (fe && (fs == 3 || fs == 4) && bs >= 0 && bs < 2)
		add(l, "frontend-early", fe, "frontend %s while the backend is %s (before InitWait)",
		    vbd_state_name(fs), vbd_state_name(bs));
	if (bs == 4 && fs >= 0 && fs < 3)
		add(l, "backend-early", be, "backend Connected while the frontend is %s",
		    vbd_state_name(fs));
	if (bs == 4) {
		long long ss = key_num(sn, be, "sector-size", -1);

		if (key_num(sn, be, "sectors", -1) < 0) {
			snprintf(path, sizeof(path), "%s/sectors", be);
			add(l, "connect-keys", path, "missing or not a number while Connected");
		}
		if (key_num(sn, be, "info", -1) < 0) {
			snprintf(path, sizeof(path), "%s/info", be);
			add(l, "connect-keys", path, "missing or not a number while Connected");
		}
		if (ss < 512 || (ss & (ss - 1))) {
			snprintf(path, sizeof(path), "%s/sector-size", be);
			add(l, "connect-keys", path, "%lld: missing, or not a power of two >= 512", ss);
		}
	}
	if (fe && (fs == 3 || fs == 4) && bs >= 2)
		ring_keys(sn, l, be, fe);
	if (fe)
		check_one_of(sn, l, fe, "protocol", "protocol", protocols);
	s = vbd__xb_read(sn->xs, sn->t, "%s/physical-device", be);
	if (s && !is_hex_pair(s)) {
		snprintf(path, sizeof(path), "%s/physical-device", be);
		add(l, "physical-device", path, "\"%s\" is not hex major:minor", s);
	}
	free(s);
	check_one_of(sn, l, be, "hotplug-status", "hotplug-status", hotplug);
	check_one_of(sn, l, be, "online", "online", online);
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

static int snap_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	dev_snap *d = ud;
	snap sn = { xs, t };

	d->states.n = d->keys.n = 0;   /* a retry starts afresh */
	d->bs = state_of(&sn, d->be, &d->states);
	d->fs = state_of(&sn, d->fe, &d->states);
	if (d->c->verify_window)
		d->c->verify_window(d->be, d->c->verify_window_ud);
	if (d->always || d->bs >= 0 || d->fs >= 0)
		check_static(&sn, d->be, d->fe, d->bs, d->fs, &d->keys);
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

/* Moves src's violations to the end of dst. */
static void append(vlist *dst, vlist *src)
{
	size_t i;

	for (i = 0; i < src->n; i++)
		add(dst, src->v[i].rule, src->v[i].node, "%s", src->v[i].detail);
	free(src->v);
	src->v = NULL;
	src->n = src->cap = 0;
}

static bool legal(bool backend, int from, int to)
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

static unsigned unseen_states(bool backend, int from, int to, unsigned writes);

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
		append(&l, &d.keys);
		/* Seen once, now: whatever came before the state read was not. */
		h.backend_state = d.bs < -1 ? -1 : d.bs;
		h.frontend_state = d.fs < -1 ? -1 : d.fs;
		h.backend_unseen = unseen_states(true, -1, h.backend_state, 0);
		h.frontend_unseen = unseen_states(false, -1, h.frontend_state, 0);
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
	char **active;       /* "rule node" of violations already reported */
	size_t nactive;
} vdev;

struct vbd_verifier {
	vbd_ctx *c;
	int domid;
	vbd_verify_fn fn;           /* the first API: transitions and violations */
	vbd_verify_event_fn efn;    /* or everything, gaps included */
	void *ud;
	vbd__watch *w;
	vbd__timer *pass;           /* due at once while a device is marked */
	vdev *devs, **tail;         /* in the order first seen */
};

static void vdev_free(vdev *d)
{
	size_t i;

	for (i = 0; i < d->nactive; i++)
		free(d->active[i]);
	free(d->active);
	free(d->be);
	free(d->fe);
	free(d);
}

/* The device a changed path belongs to: (domid, devid) from either end. */
static bool parse_path(const char *p, unsigned *domid, uint32_t *devid)
{
	unsigned a, b, dev;
	int n = 0;

	/* Either kind of backend: vbd (phy) or vbd3 (tap). */
	if ((sscanf(p, "/local/domain/%u/backend/vbd/%u/%u%n", &a, &b, &dev, &n) == 3 ||
	     sscanf(p, "/local/domain/%u/backend/vbd3/%u/%u%n", &a, &b, &dev, &n) == 3) &&
	    (p[n] == 0 || p[n] == '/')) {
		*domid = b;
		*devid = dev;
		return true;
	}
	if (sscanf(p, "/local/domain/%u/device/vbd/%u%n", &a, &dev, &n) == 2 &&
	    (p[n] == 0 || p[n] == '/')) {
		*domid = a;
		*devid = dev;
		return true;
	}
	return false;
}

static void emit(vbd_verifier *v, vbd_verify_event *e)
{
	if (e->v)
		e->unobserved = 0;
	else if (e->unseen)
		e->unobserved = (unsigned)__builtin_popcount(e->unseen);
	else if (e->old_state == e->new_state)
		e->unobserved = e->writes;    /* values between two equal reads */
	else
		e->unobserved = 0;
	if (v->efn)
		v->efn(e, v->ud);
	else if (e->v || e->old_state != e->new_state)
		v->fn(e->domid, e->devid, e->side, e->old_state, e->new_state, e->v, v->ud);
}

static void report_new(vbd_verifier *v, vdev *d, const vlist *l)
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
		for (j = 0; now[i] && j < d->nactive; j++)
			seen |= !strcmp(now[i], d->active[j]);
		if (!seen) {
			vbd_verify_event e = { d->domid, d->devid,
			                       strstr(l->v[i].node, "/backend/") ? "backend" : "frontend",
			                       -1, -1, 0, 0, &l->v[i], 0 };
			emit(v, &e);
		}
	}
	for (j = 0; j < d->nactive; j++)
		free(d->active[j]);
	free(d->active);
	d->active = now;
	d->nactive = l->n;
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
static unsigned unseen_states(bool backend, int from, int to, unsigned writes)
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
	vbd_verify_event e = { d->domid, d->devid, backend ? "backend" : "frontend", *prev, now,
	                       writes, 0, NULL, 0 };
	char node[224];

	if (now < -1)
		return;        /* not a state: state-value says so */
	/* The held step is settled by its late event, or by the end going
	 * away first: that event may then come only after the device is
	 * forgotten, so the states are named now, as not observed. */
	if (*jump && (writes > 0 || now < 0)) {
		vbd_verify_event g = { d->domid, d->devid, e.side, *prev, *prev, 1, *jump, NULL, 0 };

		emit(v, &g);
		if (writes > 0)
			writes--;
		e.writes = writes;
	}
	*jump = 0;
	if (now == *prev && (now >= 0 ? writes <= 1 : writes == 0))
		return;
	if (now != *prev && *prev >= 0 && now >= 0 && writes == 1)
		*jump = unseen_states(backend, *prev, now, 2);
	e.unseen = unseen_states(backend, *prev, now, writes);
	emit(v, &e);
	if (now != *prev && !legal(backend, *prev, now)) {
		snprintf(node, sizeof(node), "%s/state", backend ? d->be : d->fe);
		add(l, backend ? "backend-transition" : "frontend-transition", node,
		    "%s -> %s is not a step of the protocol", vbd_state_name(*prev), vbd_state_name(now));
	}
	*prev = now;
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
	append(&l, &sn.keys);
	report_new(v, d, &l);
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
	vdev *d;

	if (!parse_path(path, &domid, &devid) || (v->domid >= 0 && domid != (unsigned)v->domid))
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
	v->fn = fn;
	v->efn = efn;
	v->ud = userdata;
	v->tail = &v->devs;
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
