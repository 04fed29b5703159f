/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The waits of an operation (dev_op.c): for both ends to get where it
 * goes (an attach: Connected, or the backend in InitWait; a detach:
 * Closed), failing early on an error node, hotplug-status=error or an end
 * closing; and for a backend in another domain to remove its dir.
 *
 * Example: the attach of dev.c's example, its hotplug step done.
 *   vbd__dev_wait_start      -> the context's kept watches on the guest's
 *                               backend dir, its device/vbd and both error
 *                               dirs; a deadline; a check due at once
 *   check                    -> one pipelined fetch: the backend's state
 *                               and both error nodes (pre_fetch)
 *   backend state=4 event    -> op_event marks the backend dirty; recheck
 *                               runs check() once after the burst: the
 *                               backend's state, then the frontend's
 *   both ends Connected      -> done(op, 0): dev_op.c's end of the wait
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/dev_internal.h"

enum {
	DIRTY_BE = 1,               /* the backend's state */
	DIRTY_FE = 2,               /* the frontend's state */
	DIRTY_HOTPLUG = 4,          /* hotplug-status */
	DIRTY_ERR = 8,              /* either error node */
	DIRTY_ALL = 15,
};

void vbd__dev_wait_stop(vbd_dev_op *op)
{
	vbd_ctx *c = op->c;
	unsigned i;

	vbd__ctx_unwatch(c, op->wb);
	for (i = 0; i < 4; i++) {
		vbd__dev_kept_put(c, op->kept[i]);
		op->kept[i] = NULL;
	}
	vbd__ctx_timer_cancel(c, op->timer);
	vbd__ctx_timer_cancel(c, op->recheck);
	op->wb = NULL;
	op->timer = op->recheck = NULL;
	op->waiting = false;
}

int vbd__dev_read_state(vbd_ctx *c, const char *dir)
{
	int r = vbd__xb_read_state(c->xs, XBT_NULL, dir);

	return r == -ENOENT || r == -EINVAL ? -1 : r;
}


void vbd__dev_op_fresh(vbd_ctx *c)
{
	c->err.msg[0] = 0;
}

/* Tells the caller's progress callback (vbd/dev.h) what the operation
 * does now, when that differs from what it told last. */
void vbd__dev_op_progress(vbd_dev_op *op, vbd_dev_step step)
{
	vbd_dev_progress p = { .size = sizeof(p) };
	char what[200];

	if (!op->progress ||
	    (step == op->told_step && op->be_state == op->told_be && op->fe_state == op->told_fe))
		return;
	op->told_step = step;
	op->told_be = op->be_state;
	op->told_fe = op->fe_state;
	if (step == VBD_DEV_STEP_WAIT)
		snprintf(what, sizeof(what), "%s", op->detach ? "both ends Closed" :
		         op->goal == VBD_WAIT_INITWAIT ? "the backend in InitWait" :
		         "both ends Connected");
	else if (op->foreign && (step != VBD_DEV_STEP_HOTPLUG || op->detach))
		snprintf(what, sizeof(what), "domain %u to remove its backend dir", op->bdom);
	else if (op->foreign)
		snprintf(what, sizeof(what), "domain %u's hotplug step", op->bdom);
	else if (op->script)
		snprintf(what, sizeof(what), "the hotplug script %s", op->script);
	else
		snprintf(what, sizeof(what), "the hotplug step");
	p.domid = op->domid;
	p.devid = op->devid;
	p.detach = op->detach;
	p.step = step;
	p.backend_state = op->be_state;
	p.frontend_state = op->fe_state;
	p.waiting_for = what;
	op->progress(op->c, &p, op->progress_ud);
}

/* Whether the frontend's state can decide the wait now.  A frontend
 * follows its backend: it connects only after the backend is Connected,
 * and a backend answers a frontend that closes by closing (Linux blkback's
 * frontend_changed, ours); at a detach the backend is Closed last.  So
 * until the backend is where the wait goes, or closing, the frontend's
 * state is left unread, its events kept in dirty: about three reads of a
 * value the guest writes fewer per attach+detach.  A caller's progress
 * callback is told every change of either end (vbd/dev.h): then it is
 * read at each. */
static bool fe_decides(const vbd_dev_op *op)
{
	if (op->progress)
		return true;
	if (op->detach)
		return op->be_state == VBD_STATE_CLOSED || op->be_state < VBD_STATE_INITWAIT;
	return op->goal != VBD_WAIT_INITWAIT &&
	       (op->be_state == VBD_STATE_CONNECTED || op->be_state >= VBD_STATE_CLOSING);
}

/* The nodes check() reads, read together: each it will read, given what
 * it knows before reading, in one pipelined fetch on the context's wire
 * client (xs_batch.c), one round trip instead of one each.  The first
 * check of an attach reads the backend's state and both error nodes: 3
 * round trips -> 1.  A node the answers show is wanted after all (the
 * frontend's state once the backend is Connected, the hotplug and error
 * nodes once an end closes) is read on its own; so is every node when
 * the fetch fails (nothing of it is taken then). */
enum { PRE_BE, PRE_FE, PRE_HP, PRE_BE_ERR, PRE_FE_ERR, PRE_N };

struct pre {
	vbd__xb_value k[PRE_N];     /* every node is wanted, whatever another says */
};

static void pre_free(struct pre *p)
{
	unsigned i;

	for (i = 0; i < PRE_N; i++)
		free(p->k[i].val);
	memset(p, 0, sizeof(*p));
}

static void pre_fetch(vbd_dev_op *op, unsigned dirty, struct pre *p)
{
	char be[sizeof(op->p.be) + 8], fe[sizeof(op->p.fe) + 8], hp[sizeof(op->p.be) + 16];
	const char *path[PRE_N] = { NULL };
	vbd__xb_batch *b = NULL;
	unsigned i, n = 0;
	int r;

	snprintf(be, sizeof(be), "%s/state", op->p.be);
	snprintf(fe, sizeof(fe), "%s/state", op->p.fe);
	snprintf(hp, sizeof(hp), "%s/hotplug-status", op->p.be);
	if (dirty & DIRTY_BE)
		path[PRE_BE] = be;
	if ((dirty & DIRTY_FE) && fe_decides(op))
		path[PRE_FE] = fe;
	if (dirty & DIRTY_HOTPLUG)
		path[PRE_HP] = hp;
	if (dirty & DIRTY_ERR) {
		path[PRE_BE_ERR] = op->p.be_err;
		path[PRE_FE_ERR] = op->p.fe_err;
	}
	for (i = 0; i < PRE_N; i++)
		n += path[i] != NULL;
	if (n < 2 || vbd__xb_batch_new(&b) < 0)
		return;     /* one read is one round trip either way */
	for (i = 0, r = 0; i < PRE_N && r == 0; i++)
		if (path[i])
			r = vbd__xb_batch_check(b, path[i], vbd__xb_value_take, &p->k[i]);
	if (r == 0)
		r = vbd__xb_bus_fetch(op->c->bus, b, NULL);
	vbd__xb_batch_free(b);
	if (r != 0)
		pre_free(p);
}

/* The state of end i (dir), fetched or read now: as vbd__dev_read_state. */
static int pre_state(vbd_dev_op *op, struct pre *p, unsigned i, const char *dir)
{
	unsigned long long v;
	int r;

	if (!p->k[i].got)
		return vbd__dev_read_state(op->c, dir);
	if (p->k[i].err)
		return p->k[i].err == -ENOENT ? -1 : p->k[i].err;
	r = vbd__parse_num_max(p->k[i].val, VBD_STATE_RECONFIGURED, &v);
	return r == -EINVAL ? -1 : r < 0 ? r : (int)v;
}

/* Node i (path), fetched or read now: its value (the caller's to free) or
 * NULL, as vbd__xb_read. */
static char *pre_value(vbd_dev_op *op, struct pre *p, unsigned i, const char *path)
{
	char *v;

	if (!p->k[i].got)
		return vbd__xb_read(op->c->xs, XBT_NULL, "%s", path);
	v = p->k[i].val;
	p->k[i].val = NULL;
	return v;
}

/* check()'s reads and decisions, the nodes in pre taken from it. */
static void check_read(vbd_dev_op *op, unsigned dirty, struct pre *pre)
{
	vbd_ctx *c = op->c;
	char hp[sizeof(op->p.be) + 16];
	char *v;
	int st;

	if (dirty & DIRTY_BE) {
		if ((st = pre_state(op, pre, PRE_BE, op->p.be)) < -1) {
			op->dirty = dirty;   /* xenstore could not say: next event or deadline */
			return;
		}
		op->be_state = st;
	}
	if ((dirty & DIRTY_FE) && !fe_decides(op)) {
		op->dirty |= DIRTY_FE;   /* read when it does */
		dirty &= ~(unsigned)DIRTY_FE;
	}
	if (dirty & DIRTY_FE) {
		if ((st = pre_state(op, pre, PRE_FE, op->p.fe)) < -1) {
			op->dirty = dirty;
			return;
		}
		op->fe_state = st;
	}
	vbd__dev_op_progress(op, VBD_DEV_STEP_WAIT);
	if (op->detach) {
		/* Closed, gone, or never bound to a driver: nothing to wait for. */
		if ((op->be_state == VBD_STATE_CLOSED || op->be_state < VBD_STATE_INITWAIT) &&
		    (op->fe_state == VBD_STATE_CLOSED || op->fe_state < VBD_STATE_INITWAIT))
			op->wait_done(op, 0);
		return;
	}
	/* An end closing while connecting: say why if a driver or the hotplug
	 * step wrote it, whether or not those events came in this burst. */
	if (op->be_state >= VBD_STATE_CLOSING || op->fe_state >= VBD_STATE_CLOSING)
		dirty |= DIRTY_HOTPLUG | DIRTY_ERR;
	snprintf(hp, sizeof(hp), "%s/hotplug-status", op->p.be);
	v = dirty & DIRTY_HOTPLUG ? pre_value(op, pre, PRE_HP, hp) : NULL;
	if (v && strcmp(v, "error") == 0) {
		char *he = vbd__xb_read(c->xs, XBT_NULL, "%s/hotplug-error", op->p.be);
		vbd__errf(&c->err, -EIO, "hotplug failed: hotplug-error says \"%s\"", he ? he : "");
		free(he);
		free(v);
		op->wait_done(op, -EIO);
		return;
	}
	free(v);
	v = NULL;
	if (dirty & DIRTY_ERR) {
		v = pre_value(op, pre, PRE_BE_ERR, op->p.be_err);
		if (!v)
			v = pre_value(op, pre, PRE_FE_ERR, op->p.fe_err);
	}
	if (v) {
		vbd__errf(&c->err, -EIO, "a driver reported an error: \"%s\" (backend %s, frontend %s)",
		          v, vbd_state_name(op->be_state), vbd_state_name(op->fe_state));
		free(v);
		op->wait_done(op, -EIO);
		return;
	}
	if (op->be_state >= VBD_STATE_CLOSING || op->fe_state >= VBD_STATE_CLOSING) {
		vbd__errf(&c->err, -EIO, "the device closed while connecting (backend %s, frontend %s)",
		          vbd_state_name(op->be_state), vbd_state_name(op->fe_state));
		op->wait_done(op, -EIO);
		return;
	}
	if (op->goal == VBD_WAIT_INITWAIT && op->be_state >= VBD_STATE_INITWAIT)
		op->wait_done(op, 0);
	else if (op->be_state == VBD_STATE_CONNECTED && op->fe_state == VBD_STATE_CONNECTED)
		op->wait_done(op, 0);
}

/* Runs on every event of the watched nodes: decides whether the ends got
 * where the operation waits for them, or failed on the way. */
static void check(vbd_ctx *c, const char *path, void *ud)
{
	vbd_dev_op *op = ud;
	unsigned dirty = op->dirty;
	struct pre pre = { 0 };

	vbd__dev_op_fresh(c);
	(void)path;
	if (!op->waiting)
		return;
	/* Only what an event said changed is read again. */
	op->dirty = 0;
	pre_fetch(op, dirty, &pre);
	check_read(op, dirty, &pre);
	pre_free(&pre);
}

static void recheck(vbd_ctx *c, void *ud)
{
	vbd_dev_op *op = ud;

	vbd__dev_op_fresh(c);
	op->recheck = NULL;
	check(c, NULL, op);
}

static bool ends_with(const char *path, const char *dir, const char *leaf)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && path[n] == '/' && !strcmp(path + n + 1, leaf);
}

/* A watch event, on one of the context's kept watches: any device's of
 * the guest.  The drivers write a dozen keys into the watched directories
 * on the way to Connected, each an event: only the nodes check() reads
 * matter, and a burst of them makes one check(), run by a timer due at
 * once, which vbd_ctx_process() fires after it has taken every pending
 * event.  An event before the wait (during the hotplug step, or before the
 * first pass of the loop) is kept in dirty for it. */
static void op_event(vbd_ctx *c, const char *path, vbd_dev_op *op)
{

	vbd__dev_op_fresh(c);
	unsigned d = 0;

	if (op->wb)
		return;              /* the gone-wait: its own watch */
	/* What the nodes' commit wrote (states 1, error nodes removed), or
	 * what it overwrote: known without a read. */
	if (op->nodes_seen != VBD__XB_NO_EVENT && vbd__xb_bus_event_before(c->bus, op->nodes_seen))
		return;
	if (!strcmp(path, op->p.be) || ends_with(path, op->p.be, "state"))
		d = DIRTY_BE;        /* the dir itself: made or removed */
	else if (!strcmp(path, op->p.fe) || ends_with(path, op->p.fe, "state"))
		d = DIRTY_FE;
	else if (ends_with(path, op->p.be, "hotplug-status") && (op->script || op->foreign))
		d = DIRTY_HOTPLUG;   /* the built-in step's own is known: it returned */
	else if (!strncmp(path, op->p.be_err, strlen(op->p.be_err)) ||
	         !strncmp(path, op->p.fe_err, strlen(op->p.fe_err)))
		d = DIRTY_ERR;
	if (!d)
		return;
	op->dirty |= d;
	if (!op->waiting || !op->kept[0] || op->recheck)
		return;
	if (vbd__ctx_timer(c, 0, recheck, op, &op->recheck) < 0)
		check(c, path, op);    /* no memory for the timer: check now */
}

static void timed_out(vbd_ctx *c, void *ud)
{
	vbd_dev_op *op = ud;

	vbd__dev_op_fresh(c);
	op->timer = NULL;
	op->be_state = vbd__dev_read_state(c, op->p.be);
	op->fe_state = vbd__dev_read_state(c, op->p.fe);
	if (op->grace) {
		/* Not a failure: see GONE_GRACE_MS in dev.c. */
		vbd__log(c, VBD_LOG_INFO, "%s: the backend (%s) did not answer its frontend's "
		         "removal, as Linux blkback does not; going on", op->p.be,
		         vbd_state_name(op->be_state));
		op->wait_done(op, 0);
		return;
	}
	vbd__errf(&c->err, -ETIMEDOUT, "timed out waiting for %s: backend %s (%d), frontend %s (%d)",
	          op->detach ? "both ends to close" :
	          op->goal == VBD_WAIT_INITWAIT ? "the backend to reach InitWait" :
	          "both ends to connect",
	          vbd_state_name(op->be_state), op->be_state, vbd_state_name(op->fe_state),
	          op->fe_state);
	op->wait_done(op, -ETIMEDOUT);
}

/* The directory path names, up to its last '/', in buf. */
static const char *parent_of(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	snprintf(buf, size, "%.*s", (int)n, path);
	return buf;
}

/* Follows both directories (and, attaching, both error nodes) through the
 * context's kept watches, with one deadline.  What changed since the
 * operation's nodes were written (or its close) is in dirty: a kept watch
 * made before its launch saw every change, and an event taken before the
 * reply to the nodes' commit tells of what it wrote (op_event() drops it).
 * So the first check(), a timer due at once, reads only that, and what a
 * watch made since may have missed; a detach also reads the frontend's state, which it never wrote,
 * and a script's or another domain's hotplug-status is read once (the
 * built-in step's is what it returned: only a closing end makes check()
 * read it, to say why). */
int vbd__dev_wait_start(vbd_dev_op *op, void (*done)(vbd_dev_op *, int))
{
	vbd_ctx *c = op->c;
	char be[sizeof(op->p.be)], fe[sizeof(op->p.fe)], be_err[sizeof(op->p.be_err)],
	     fe_err[sizeof(op->p.fe_err)], tmp[sizeof(op->p.be_err) + sizeof(op->p.fe_err)];
	int r;

	op->wait_done = done;
	op->waiting = true;
	/* error/<nodename>/error: the watched dir is the nodename's parent. */
	parent_of(parent_of(op->p.be_err, tmp, sizeof(tmp)), be_err, sizeof(be_err));
	parent_of(parent_of(op->p.fe_err, tmp, sizeof(tmp)), fe_err, sizeof(fe_err));
	r = vbd__ctx_timer(c, vbd__now_ms() + op->timeout_ms, timed_out, op, &op->timer);
	if (r < 0 ||
	    (r = vbd__dev_kept_get(c, parent_of(op->p.be, be, sizeof(be)), op_event, &op->kept[0])) < 0 ||
	    (r = vbd__dev_kept_get(c, parent_of(op->p.fe, fe, sizeof(fe)), op_event, &op->kept[1])) < 0 ||
	    (!op->detach && (r = vbd__dev_kept_get(c, be_err, op_event, &op->kept[2])) < 0) ||
	    (!op->detach && (r = vbd__dev_kept_get(c, fe_err, op_event, &op->kept[3])) < 0) ||
	    (r = vbd__ctx_timer(c, 0, recheck, op, &op->recheck)) < 0) {
		vbd__dev_wait_stop(op);
		return r;
	}
	if (op->kept[0]->serial > op->kept_serial || (op->detach && !op->be_known))
		op->dirty |= DIRTY_BE;
	if (op->kept[1]->serial > op->kept_serial || op->detach)
		op->dirty |= DIRTY_FE;
	if (!op->detach && (op->script || op->foreign))
		op->dirty |= DIRTY_HOTPLUG;
	if (!op->detach && (op->kept[2]->serial > op->kept_serial ||
	                    op->kept[3]->serial > op->kept_serial))
		op->dirty |= DIRTY_ERR;
	return 0;
}

/* ---- a backend in another domain: the wait for it to remove its dir ---- */

static void gone_end(vbd_dev_op *op, int r)
{
	vbd__dev_wait_stop(op);
	op->gone_next(op->c, r, op->gone_ud);
}

static void gone_check(vbd_ctx *c, const char *path, void *ud)
{
	vbd_dev_op *op = ud;
	int e;

	vbd__dev_op_fresh(c);
	(void)path;
	if (!op->waiting)
		return;
	e = vbd__xb_exists(c->xs, XBT_NULL, op->p.be);
	if (e == 0)
		gone_end(op, 0);
	/* e < 0, xenstore could not say: the next event or the deadline. */
}

static void gone_timed_out(vbd_ctx *c, void *ud)
{
	vbd_dev_op *op = ud;

	vbd__dev_op_fresh(c);
	op->timer = NULL;
	vbd__errf(&c->err, -ETIMEDOUT, "timed out waiting for domain %u to remove %s (its hotplug "
	          "remove step; --force removes the nodes, and frees nothing of domain %u's)",
	          op->bdom, op->p.be, op->bdom);
	gone_end(op, -ETIMEDOUT);
}

/* The backend's domain runs its remove step once both ends are Closed with
 * online=0, then removes its backend dir (xl devd; libxl waits for that,
 * LIBXL_DESTROY_TIMEOUT, 10 s).  next(c, 0 or -ETIMEDOUT, ud) after. */
int vbd__dev_gone_wait_start(vbd_dev_op *op, void (*next)(vbd_ctx *, int, void *), void *ud)
{
	vbd_ctx *c = op->c;
	unsigned ms = op->timeout_ms < 10000 ? op->timeout_ms : 10000;
	int r;

	op->gone_next = next;
	op->gone_ud = ud;
	op->waiting = true;
	r = vbd__ctx_timer(c, vbd__now_ms() + ms, gone_timed_out, op, &op->timer);
	if (r < 0 || (r = vbd__ctx_watch(c, op->p.be, gone_check, op, &op->wb)) < 0) {
		vbd__dev_wait_stop(op);
		return r;
	}
	return 0;
}
