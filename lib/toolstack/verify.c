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
 * that is gone before that event came settles it the same way.  A pass
 * that finds the end as it was, with no write of it counted, is the
 * other end's or another node's: the held step stays held for its event
 * (dropped there, the states it passed by went unnamed: a detach's
 * Closing, when the frontend's event came between the backend's two). */
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
		*jump = 0;
	}
	if (now == *prev && (now >= 0 ? writes <= 1 : writes == 0))
		return;
	*jump = 0;
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
