/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One attach or detach in progress, after its synchronous start (dev.c):
 * the hotplug step (built in, a script, or the backend domain's), the wait
 * for both ends, the rollback of a failed attach, and the wait for a
 * backend in another domain to remove its dir.  Everything here runs from
 * vbd_ctx_process().
 *
 * Example: the attach of dev.c's example, its nodes written.
 *   begin (from the loop)    -> hotplug add (built in: done in the call,
 *                               in the nodes' transaction) -> plugged
 *   plugged                  -> wait_start: watches on both dirs and both
 *                               error nodes, a deadline
 *   backend state=4 event    -> op_event marks the backend dirty;
 *                               recheck runs check() once after the burst
 *   both ends Connected      -> waited(0) -> op_finish -> done(c, 0, "", ud)
 * Had hotplug-status said error instead: waited(-EIO) -> rollback ->
 * hotplug remove -> unplugged -> the nodes removed -> done(c, -EIO, why, ud).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/dev_internal.h"
#include "toolstack/hotplug/hotplug_internal.h"
#include "toolstack/libxl_cfg.h"
#include "util/crashpoint.h"

/* ---- one attach or detach in progress ---- */

enum {
	DIRTY_BE = 1,               /* the backend's state */
	DIRTY_FE = 2,               /* the frontend's state */
	DIRTY_HOTPLUG = 4,          /* hotplug-status */
	DIRTY_ERR = 8,              /* either error node */
	DIRTY_ALL = 15,
};

static void op_unlink(vbd_dev_op *op)
{
	vbd_dev_op **pp;

	for (pp = &op->c->ops; *pp; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			break;
		}
}

static void wait_stop(vbd_dev_op *op)
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

/* Nothing of the operation runs any more: no wait, no pending step, no
 * script (killed).  Idempotent. */
void vbd__dev_op_stop(vbd_dev_op *op)
{
	wait_stop(op);
	vbd__ctx_timer_cancel(op->c, op->defer);
	op->defer = NULL;
	if (op->job)
		vbd__script_cancel(op->job);
	op->job = NULL;
}

void vbd__dev_op_free(vbd_dev_op *op)
{
	vbd__dev_op_unindex(op);
	vbd__dev_op_stop(op);
	free(op->script);
	free(op->params);
	free(op);
}

/* A step of one operation run from the loop (an event, a timer) starts
 * with the context's message empty: it holds whatever another operation
 * last reported, and vbd__errf keeps an earlier message as the cause, so
 * two operations failing together chained each other's reasons. */
static void op_fresh(vbd_ctx *c)
{
	c->err.msg[0] = 0;
}

/* Records r as the operation's failure unless one is recorded already: the
 * first failure is the one reported. */
static void op_note(vbd_dev_op *op, int r)
{
	if (r < 0 && op->result >= 0) {
		op->result = r;
		op->err = op->c->err;
	}
}

static void op_finish(vbd_dev_op *op)
{
	vbd_ctx *c = op->c;
	vbd_dev_done_fn done = op->done;
	void *ud = op->ud;
	int r = op->result;

	op_unlink(op);
	c->err = op->err;
	if (r >= 0)
		c->err.msg[0] = 0;
	else
		vbd__log(c, VBD_LOG_WARNING, "%s: %s failed: %s", op->p.be,
		         op->detach ? "detach" : "attach", op->err.msg);
	vbd__dev_op_free(op);
	done(c, r, c->err.msg, ud);
}

/* Tells the caller's progress callback (vbd/dev.h) what the operation
 * does now, when that differs from what it told last. */
static void op_progress(vbd_dev_op *op, vbd_dev_step step)
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

/* XENBUS_PATH is relative to the backend domain's home. */
static void xenbus_path(const vbd_dev_op *op, char *buf, size_t size)
{
	snprintf(buf, size, "%s", op->p.be + strlen("/local/domain/") +
	         (size_t)snprintf(NULL, 0, "%u/", op->bdom));
}

static void unplugged(vbd_ctx *c, int r, void *ud);
static int gone_wait_start(vbd_dev_op *op, void (*next)(vbd_ctx *, int, void *), void *ud);

/* The hotplug step, either way, then next(c, result, ud): at once for the
 * built-in one, from the loop for a script.  For a backend in another
 * domain, that domain's: add is not ours to run, and remove is the wait
 * for that domain to have removed its backend dir. */
void vbd__dev_hotplug(vbd_dev_op *op, vbd_hotplug_action action,
                    void (*next)(vbd_ctx *, int, void *), void *ud)
{
	vbd_ctx *c = op->c;
	const char *verb = action == VBD_HOTPLUG_ADD ? "add" : "remove";
	char rel[128];
	int r;

	op_progress(op, op->rolling_back ? VBD_DEV_STEP_ROLLBACK : VBD_DEV_STEP_HOTPLUG);
	if (op->foreign && (op->gone & VBD__GONE_BE)) {
		/* Nothing runs there any more to remove its dir: what is left
		 * of it goes with the nodes. */
		next(c, 0, ud);
		return;
	}
	if (op->foreign) {
		if (action == VBD_HOTPLUG_ADD) {
			next(c, 0, ud);
			return;
		}
		/* A rollback has not asked the ends to close yet. */
		r = vbd__dev_close_backend(c, &op->p, NULL);
		if (r >= 0)
			r = gone_wait_start(op, next, ud);
		if (r < 0)
			next(c, r, ud);
		return;
	}
	if (!op->script) {
		/* What this operation wrote, the step does not read back
		 * (vbd__hp_known); a detach's REMOVE goes by dom0's record.  The
		 * nodes go after REMOVE anyway: in its transaction, which then
		 * need not clear the backend's keys one by one. */
		bool add = action == VBD_HOTPLUG_ADD;
		vbd__hp_known k = { .params = add ? op->params : NULL, .mode = op->readonly ? "r" : "w",
		                    .cdrom = op->cdrom, .fresh = add,
		                    .sweep = op->force || op->rolling_back,
		                    .also = add ? NULL : vbd__dev_remove_nodes_in, .also_ud = &op->p };

		if ((r = vbd__ctx_own_domid(c, &k.self)) < 0) {
			next(c, r, ud);
			return;
		}
		r = vbd__hotplug_run(c->xs, c->bus->socket, op->p.be, action, &k, &c->err);
		op->nodes_gone = !add && r >= 0;
		if (r < 0)
			vbd__errf(&c->err, r, "hotplug %s (built in) for %s", verb, op->p.be);
		next(c, r, ud);
		return;
	}
	xenbus_path(op, rel, sizeof(rel));
	r = vbd__script_start(c, op->script, verb, rel,
	                      op->script_timeout_ms ? op->script_timeout_ms : 40000, next, ud,
	                      &op->job);
	if (r < 0)
		next(c, r, ud);
}

/* A device whose nodes are gone leaves the guest's saved libxl
 * configuration too (libxl_cfg.c); its ids are in the /libxl path. */
void vbd__dev_forget_cfg(vbd_dev_op *op)
{
	unsigned domid, devid;

	if (sscanf(op->p.lx, "/libxl/%u/device/vbd/%u", &domid, &devid) == 2)
		vbd__lxcfg_forget(op->c, domid, devid);
}

/* Attach failed after the nodes were written: remove what add made, then
 * the nodes. */
static void rollback(vbd_dev_op *op, int r)
{
	op_note(op, r);
	wait_stop(op);
	op->rolling_back = true;
	vbd__log(op->c, VBD_LOG_WARNING, "%s: attach failed, rolling back: %s", op->p.be,
	         op->err.msg);
	op_progress(op, VBD_DEV_STEP_ROLLBACK);
	if (op->plugged) {
		op->plugged = false;
		/* online = 0 before REMOVE, as a detach: a hotplug ADD that comes
		 * late (udev's for the kernel's uevent, say) then sets nothing up
		 * that nobody would free.  Best effort: the first failure is the
		 * one reported, and REMOVE runs whatever this says. */
		if (!op->foreign)
			vbd__dev_close_backend(op->c, &op->p, NULL);
		vbd__dev_hotplug(op, VBD_HOTPLUG_REMOVE, unplugged, op);
		return;
	}
	if (vbd__dev_remove_nodes(op->c, &op->p) >= 0)
		vbd__dev_forget_cfg(op);
	op_finish(op);
}

/* A state: -1 if the node is absent (or not a number), -errno if xenstore
 * could not say.  No caller may take "could not say" for "absent". */
int vbd__dev_read_state(vbd_ctx *c, const char *dir)
{
	int r = vbd__xb_read_state(c->xs, XBT_NULL, dir);

	return r == -ENOENT || r == -EINVAL ? -1 : r;
}

static void waited(vbd_dev_op *op, int r);

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

/* Runs on every event of the watched nodes: decides whether the ends got
 * where the operation waits for them, or failed on the way. */
static void check(vbd_ctx *c, const char *path, void *ud)
{
	vbd_dev_op *op = ud;
	unsigned dirty = op->dirty;
	char *v;
	int st;

	op_fresh(c);
	(void)path;
	if (!op->waiting)
		return;
	/* Only what an event said changed is read again. */
	op->dirty = 0;
	if (dirty & DIRTY_BE) {
		if ((st = vbd__dev_read_state(c, op->p.be)) < -1) {
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
		if ((st = vbd__dev_read_state(c, op->p.fe)) < -1) {
			op->dirty = dirty;
			return;
		}
		op->fe_state = st;
	}
	op_progress(op, VBD_DEV_STEP_WAIT);
	if (op->detach) {
		/* Closed, gone, or never bound to a driver: nothing to wait for. */
		if ((op->be_state == VBD_STATE_CLOSED || op->be_state < VBD_STATE_INITWAIT) &&
		    (op->fe_state == VBD_STATE_CLOSED || op->fe_state < VBD_STATE_INITWAIT))
			waited(op, 0);
		return;
	}
	/* An end closing while connecting: say why if a driver or the hotplug
	 * step wrote it, whether or not those events came in this burst. */
	if (op->be_state >= VBD_STATE_CLOSING || op->fe_state >= VBD_STATE_CLOSING)
		dirty |= DIRTY_HOTPLUG | DIRTY_ERR;
	v = dirty & DIRTY_HOTPLUG ? vbd__xb_read(c->xs, XBT_NULL, "%s/hotplug-status", op->p.be) : NULL;
	if (v && strcmp(v, "error") == 0) {
		char *he = vbd__xb_read(c->xs, XBT_NULL, "%s/hotplug-error", op->p.be);
		vbd__errf(&c->err, -EIO, "hotplug failed: hotplug-error says \"%s\"", he ? he : "");
		free(he);
		free(v);
		waited(op, -EIO);
		return;
	}
	free(v);
	v = NULL;
	if (dirty & DIRTY_ERR) {
		v = vbd__xb_read(c->xs, XBT_NULL, "%s", op->p.be_err);
		if (!v)
			v = vbd__xb_read(c->xs, XBT_NULL, "%s", op->p.fe_err);
	}
	if (v) {
		vbd__errf(&c->err, -EIO, "a driver reported an error: \"%s\" (backend %s, frontend %s)",
		          v, vbd_state_name(op->be_state), vbd_state_name(op->fe_state));
		free(v);
		waited(op, -EIO);
		return;
	}
	if (op->be_state >= VBD_STATE_CLOSING || op->fe_state >= VBD_STATE_CLOSING) {
		vbd__errf(&c->err, -EIO, "the device closed while connecting (backend %s, frontend %s)",
		          vbd_state_name(op->be_state), vbd_state_name(op->fe_state));
		waited(op, -EIO);
		return;
	}
	if (op->goal == VBD_WAIT_INITWAIT && op->be_state >= VBD_STATE_INITWAIT)
		waited(op, 0);
	else if (op->be_state == VBD_STATE_CONNECTED && op->fe_state == VBD_STATE_CONNECTED)
		waited(op, 0);
}

static void recheck(vbd_ctx *c, void *ud)
{
	vbd_dev_op *op = ud;

	op_fresh(c);
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

	op_fresh(c);
	unsigned d = 0;

	if (op->wb)
		return;              /* the gone-wait: its own watch */
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

	op_fresh(c);
	op->timer = NULL;
	op->be_state = vbd__dev_read_state(c, op->p.be);
	op->fe_state = vbd__dev_read_state(c, op->p.fe);
	if (op->grace) {
		/* Not a failure: see GONE_GRACE_MS in dev.c. */
		vbd__log(c, VBD_LOG_INFO, "%s: the backend (%s) did not answer its frontend's "
		         "removal, as Linux blkback does not; going on", op->p.be,
		         vbd_state_name(op->be_state));
		waited(op, 0);
		return;
	}
	vbd__errf(&c->err, -ETIMEDOUT, "timed out waiting for %s: backend %s (%d), frontend %s (%d)",
	          op->detach ? "both ends to close" :
	          op->goal == VBD_WAIT_INITWAIT ? "the backend to reach InitWait" :
	          "both ends to connect",
	          vbd_state_name(op->be_state), op->be_state, vbd_state_name(op->fe_state),
	          op->fe_state);
	waited(op, -ETIMEDOUT);
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
 * made before its launch saw every change.  So the first check(), a timer
 * due at once, reads only that, and what a watch made since may have
 * missed; a detach also reads the frontend's state, which it never wrote,
 * and a script's or another domain's hotplug-status is read once (the
 * built-in step's is what it returned: only a closing end makes check()
 * read it, to say why). */
static int wait_start(vbd_dev_op *op)
{
	vbd_ctx *c = op->c;
	char be[sizeof(op->p.be)], fe[sizeof(op->p.fe)], be_err[sizeof(op->p.be_err)],
	     fe_err[sizeof(op->p.fe_err)], tmp[sizeof(op->p.be_err) + sizeof(op->p.fe_err)];
	int r;

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
		wait_stop(op);
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
	wait_stop(op);
	op->gone_next(op->c, r, op->gone_ud);
}

static void gone_check(vbd_ctx *c, const char *path, void *ud)
{
	vbd_dev_op *op = ud;
	int e;

	op_fresh(c);
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

	op_fresh(c);
	op->timer = NULL;
	vbd__errf(&c->err, -ETIMEDOUT, "timed out waiting for domain %u to remove %s (its hotplug "
	          "remove step; --force removes the nodes, and frees nothing of domain %u's)",
	          op->bdom, op->p.be, op->bdom);
	gone_end(op, -ETIMEDOUT);
}

/* The backend's domain runs its remove step once both ends are Closed with
 * online=0, then removes its backend dir (xl devd; libxl waits for that,
 * LIBXL_DESTROY_TIMEOUT, 10 s).  next(c, 0 or -ETIMEDOUT, ud) after. */
static int gone_wait_start(vbd_dev_op *op, void (*next)(vbd_ctx *, int, void *), void *ud)
{
	vbd_ctx *c = op->c;
	unsigned ms = op->timeout_ms < 10000 ? op->timeout_ms : 10000;
	int r;

	op->gone_next = next;
	op->gone_ud = ud;
	op->waiting = true;
	r = vbd__ctx_timer(c, vbd__now_ms() + ms, gone_timed_out, op, &op->timer);
	if (r < 0 || (r = vbd__ctx_watch(c, op->p.be, gone_check, op, &op->wb)) < 0) {
		wait_stop(op);
		return r;
	}
	return 0;
}

/* ---- attach: nodes (at start), hotplug add, wait, or rollback ---- */

static void unplugged(vbd_ctx *c, int r, void *ud)
{
	vbd_dev_op *op = ud;

	op->job = NULL;
	if (op->rolling_back) {
		/* The first failure stays the one reported. */
		if (op->nodes_gone || vbd__dev_remove_nodes(c, &op->p) >= 0)
			vbd__dev_forget_cfg(op);
		op_finish(op);
		return;
	}
	/* detach */
	if (r < 0 && !op->force) {
		op_note(op, r);
		op_finish(op);
		return;
	}
	if (r < 0)
		vbd__log(c, VBD_LOG_WARNING, "%s: %s; forcing", op->p.be, c->err.msg);
	vbd__crashpoint("detach.removed");
	r = op->nodes_gone ? 0 : vbd__dev_remove_nodes(c, &op->p);
	op_note(op, r);
	if (r >= 0)
		vbd__dev_forget_cfg(op);
	op_finish(op);
}

static void waited(vbd_dev_op *op, int r)
{
	vbd_ctx *c = op->c;

	wait_stop(op);
	if (!op->detach) {
		if (r < 0) {
			rollback(op, r);
			return;
		}
		op_finish(op);
		return;
	}
	if (r < 0 && !op->force) {
		op_note(op, r);
		op_finish(op);
		return;
	}
	if (r < 0)
		vbd__log(c, VBD_LOG_WARNING, "%s: %s; forcing", op->p.be, c->err.msg);
	/* Both ends are Closed (or forced): free what the backend served from. */
	vbd__crashpoint("detach.closed");
	vbd__dev_hotplug(op, VBD_HOTPLUG_REMOVE, unplugged, op);
}

static void plugged(vbd_ctx *c, int r, void *ud)
{
	vbd_dev_op *op = ud;

	op->job = NULL;
	if (r < 0) {
		if (op->script) {
			char *he = vbd__xb_read(c->xs, XBT_NULL, "%s/hotplug-error", op->p.be);
			if (he) {
				vbd__errf(&c->err, r, "hotplug-error says \"%s\"", he);
				free(he);
			}
		}
		rollback(op, r);
		return;
	}
	if (op->goal == VBD_WAIT_NONE) {
		op_finish(op);
		return;
	}
	r = wait_start(op);
	if (r < 0)
		rollback(op, r);
	else
		vbd__crashpoint("attach.waiting");
}

/* The first step from the loop, so that no callback runs inside the
 * starting call. */
static void begin(vbd_ctx *c, void *ud)
{
	vbd_dev_op *op = ud;

	op_fresh(c);
	(void)c;
	op->defer = NULL;
	if (!op->detach) {
		vbd__crashpoint("attach.nodes-written");
		vbd__log(c, VBD_LOG_INFO, "%s: nodes written, %s", op->p.be,
		         op->foreign ? "hotplug is the backend domain's" : "running hotplug");
		op->plugged = true;   /* a failed add may have left something: remove runs */
		if (op->added) {
			/* Done in the call, in the nodes' transaction: told all
			 * the same, the step's progress comes before the wait's. */
			op_progress(op, VBD_DEV_STEP_HOTPLUG);
			plugged(c, 0, op);
			return;
		}
		vbd__dev_hotplug(op, VBD_HOTPLUG_ADD, plugged, op);
		return;
	}
	if (!op->bound) {
		waited(op, 0);
		return;
	}
	if ((op->result = wait_start(op)) < 0) {
		op->err = c->err;
		op_finish(op);
	}
}

int vbd__dev_op_new(vbd_ctx *c, bool detach, vbd_dev_done_fn done, void *ud, vbd_dev_op **ret)
{
	vbd_dev_op *op = calloc(1, sizeof(*op));

	if (!op)
		return vbd__errf(&c->err, -ENOMEM, "out of memory");
	op->c = c;
	op->detach = detach;
	op->be_state = op->fe_state = -1;
	op->told_be = op->told_fe = -1;
	op->done = done;
	op->ud = ud;
	*ret = op;
	return 0;
}

/* Starts the rest from the loop; the operation is then the ctx's. */
int vbd__dev_op_launch(vbd_dev_op *op)
{
	int r = vbd__ctx_timer(op->c, 0, begin, op, &op->defer);

	/* vbd_ctx_free() ends what is in progress: the context calls back
	 * down here, it never reaches up. */
	if (r >= 0 && (r = vbd__ctx_on_free(op->c, vbd__dev_ops_cancel)) < 0) {
		vbd__ctx_timer_cancel(op->c, op->defer);
		op->defer = NULL;
	}
	if (r < 0)
		return r;
	op->kept_serial = op->c->kept_serial;
	op->next = op->c->ops;
	op->c->ops = op;
	vbd__dev_op_index(op);
	return 0;
}
