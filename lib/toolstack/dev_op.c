/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One attach or detach in progress, after its synchronous start (dev.c):
 * the hotplug step (built in, a script, or the backend domain's), the wait
 * for both ends, the rollback of a failed attach, and the wait for a
 * backend in another domain to remove its dir.  Everything here runs from
 * vbd_ctx_process().  The waits themselves are dev_wait.c's.
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

static void op_unlink(vbd_dev_op *op)
{
	vbd_dev_op **pp;

	for (pp = &op->c->ops; *pp; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			break;
		}
}

/* Nothing of the operation runs any more: no wait, no pending step, no
 * script (killed).  Idempotent. */
void vbd__dev_op_stop(vbd_dev_op *op)
{
	vbd__dev_wait_stop(op);
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

/* XENBUS_PATH is relative to the backend domain's home. */
static void xenbus_path(const vbd_dev_op *op, char *buf, size_t size)
{
	snprintf(buf, size, "%s", op->p.be + strlen("/local/domain/") +
	         (size_t)snprintf(NULL, 0, "%u/", op->bdom));
}

static void unplugged(vbd_ctx *c, int r, void *ud);

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

	vbd__dev_op_progress(op, op->rolling_back ? VBD_DEV_STEP_ROLLBACK : VBD_DEV_STEP_HOTPLUG);
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
			r = vbd__dev_gone_wait_start(op, next, ud);
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
		vbd__dev_rm_plan pl;
		vbd__xb_part part;
		vbd__hp_known k = { .params = add ? op->params : NULL, .mode = op->readonly ? "r" : "w",
		                    .cdrom = op->cdrom, .fresh = add,
		                    .sweep = op->force || op->rolling_back,
		                    .also = add ? NULL : vbd__dev_remove_nodes_in, .also_ud = &op->p,
		                    .bus = c->bus, .also_part = add ? NULL : &part };

		vbd__dev_rm_part(&pl, &op->p, &part);

		if ((r = vbd__ctx_own_domid(c, &k.self)) < 0) {
			vbd__dev_rm_plan_free(&pl);
			next(c, r, ud);
			return;
		}
		r = vbd__hotplug_run(c->xs, c->bus->socket, op->p.be, action, &k, &c->err);
		vbd__dev_rm_plan_free(&pl);
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
	vbd__dev_wait_stop(op);
	op->rolling_back = true;
	vbd__log(op->c, VBD_LOG_WARNING, "%s: attach failed, rolling back: %s", op->p.be,
	         op->err.msg);
	vbd__dev_op_progress(op, VBD_DEV_STEP_ROLLBACK);
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

	vbd__dev_wait_stop(op);
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
	r = vbd__dev_wait_start(op, waited);
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

	vbd__dev_op_fresh(c);
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
			vbd__dev_op_progress(op, VBD_DEV_STEP_HOTPLUG);
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
	if ((op->result = vbd__dev_wait_start(op, waited)) < 0) {
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
	op->nodes_seen = VBD__XB_NO_EVENT;
	op->done = done;
	op->ud = ud;
	*ret = op;
	return 0;
}

/* Starts the rest from the loop; the operation is then the ctx's. */
int vbd__dev_op_launch(vbd_dev_op *op, void (*cancel_all)(vbd_ctx *))
{
	int r = vbd__ctx_timer(op->c, 0, begin, op, &op->defer);

	/* vbd_ctx_free() ends what is in progress: the context calls back
	 * down here, it never reaches up. */
	if (r >= 0 && (r = vbd__ctx_on_free(op->c, cancel_all)) < 0) {
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
