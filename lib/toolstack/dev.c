/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Attach and detach: the nodes, the hotplug step, and the wait for both ends.
 *
 * Example: attach xvdb (51728) of /data/disk0.img to domain 1, backend dom0.
 *   1. one transaction writes
 *        /local/domain/0/backend/vbd/1/51728/{frontend,params,script,...}  (n0,r1)
 *        /local/domain/1/device/vbd/51728/{backend,backend-id,state,...}   (n1,r0)
 *        /libxl/1/device/vbd/51728/{frontend,backend,params,...,state=1}   (n0)
 *      after checking that none of the three exists (-EEXIST otherwise);
 *   2. the hotplug step writes physical-device (loop device for a file);
 *      built in, for dom0's own backend, it sets up the loop device before
 *      1 and its writes end 1's transaction;
 *   3. a watch on both dirs follows the states to 4/4 (or to 2, or not at all)
 *      and fails early on hotplug-status=error, an error node, or Closing;
 *   4. any failure removes what 1 and 2 made.
 * The layout is libxl 4.17's key for key (tests/golden/).
 *
 * The trust rule: nothing here acts on a value read from a directory
 * another domain can write.  The /libxl copy (dom0's) says where the device
 * is and which script it has; what the built-in step set up is in its own
 * record (hotplug/record.c).  A backend in another domain (a driver
 * domain) is that domain's: its hotplug step runs there, on its files, so
 * here the target is neither looked for nor opened, and no hotplug runs.
 * Detach then waits, after both ends closed, for that domain to remove its
 * backend dir (its remove step ran), as libxl does, and removes the
 * frontend and /libxl nodes and what is left of the backend's.
 *
 * Here: the entry points and their synchronous start.  The nodes are
 * dev_nodes.c's, the steps from the loop on dev_op.c's, the checks of the
 * input dev_validate.c's.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/dev_internal.h"
#include "toolstack/hotplug/hotplug_internal.h"
#include "toolstack/libxl_cfg.h"
#include "util/opts.h"
#include "util/crashpoint.h"

/* The build sets it (CMake's VBD_SCRIPT_DIR): the directory vbd-block is
 * installed in is the one named in xenstore. */
#ifndef VBD_SCRIPT_DIR
#error "VBD_SCRIPT_DIR is not defined"
#endif
#ifndef VBD_HOTPLUG_SCRIPT
#define VBD_HOTPLUG_SCRIPT VBD_SCRIPT_DIR "/vbd-block"
#endif

/* The nodes' transaction, run by libxl_cfg.c inside its read-modify-write
 * of the guest's saved configuration (libxl's order: the lock, the JSON
 * edited, the transaction, the JSON written, the lock released). */
struct write_args {
	vbd_ctx *c;
	const vbd_attach_options *o;
	const vbd__dev_paths *p;
	const char *params, *script;
	vbd__hp_add *add;          /* the built-in ADD's writes go in the transaction */
	bool committed;
	uint64_t seen;             /* the bus's replies before its commit's */
};

static int write_nodes(void *ud)
{
	struct write_args *a = ud;
	int r;

	vbd__crashpoint("attach.before-nodes");
	/* Nothing failed so far: a message after a failure is the nodes', and
	 * none says that the step's writes failed and said why to the step. */
	a->c->err.msg[0] = 0;
	r = vbd__dev_write_nodes(a->c, a->o, a->p, a->params, a->script,
	                         a->add ? vbd__hp_add_batch : NULL, a->add);
	if (r < 0 && a->add && !a->c->err.msg[0])
		vbd__errf(&a->c->err, r, "hotplug add (built in) for %s: %s", a->p->be,
		          vbd__hp_add_error(a->add));
	a->committed = r >= 0;
	/* Pipelined on the bus's wire client, the commit's reply the last it
	 * took: the events of what it wrote came before it. */
	if (r >= 0)
		a->seen = vbd__xb_bus_replies(a->c->bus) - 1;
	return r;
}

/* Removes what the start of an attach wrote: the nodes, and with them, if
 * the built-in ADD was in their transaction, its record and index entry,
 * its loop device freed by the record, in the REMOVE step's transaction.
 * The message of the failure that got here stays. */
static void unattach(vbd_ctx *c, const vbd__dev_paths *p, bool added)
{
	vbd_errbuf keep = c->err;
	vbd__dev_rm_plan pl;
	vbd__xb_part part;
	vbd__hp_known k = { .also = vbd__dev_remove_nodes_in, .also_ud = (void *)p,
	                    .bus = c->bus, .also_part = &part };

	vbd__dev_rm_part(&pl, p, &part);
	if (added && vbd__ctx_own_domid(c, &k.self) >= 0)
		vbd__hotplug_run(c->xs, c->bus->socket, p->be, VBD_HOTPLUG_REMOVE, &k, &c->err);
	else
		vbd__dev_remove_nodes(c, p);
	vbd__dev_rm_plan_free(&pl);
	c->err = keep;
}

static void unwrite_nodes(void *ud)
{
	struct write_args *a = ud;

	unattach(a->c, a->p, a->add && a->committed);
}

/* Whether a device's script is run as a script: any but none, empty or our
 * own vbd-block, which is the built-in step in-process. */
static bool runs_script(const char *script)
{
	return script && *script && strcmp(script, VBD_HOTPLUG_SCRIPT) != 0;
}

int vbd_dev_attach(vbd_ctx *c, const vbd_attach_options *o, vbd_dev_done_fn done, void *ud)
{
	char *params = NULL, *abs_script = NULL;
	vbd_attach_options lo;
	vbd_dev_op *op = NULL;
	const char *script;
	unsigned own;
	int r;

	if (!c || !o || VBD__OPTS_LOAD(&lo, o, VBD_ATTACH_OPTIONS_VERSION,
	                               offsetof(vbd_attach_options, progress), sizeof(lo)) < 0 || !done)
		return -EINVAL;
	o = &lo;
	if (!o->spec)
		return -EINVAL;
	c->err.msg[0] = 0;
	if ((r = vbd__dev_op_new(c, false, done, ud, &op)) < 0)
		return r;
	vbd__dev_paths_init(&op->p, o->spec->backendtype && !strcmp(o->spec->backendtype, "tap") ?
	                    VBD__KIND_VBD3 : VBD__KIND_VBD, o->backend_domid, o->domid, o->spec->devid);
	op->bdom = o->backend_domid;
	op->domid = o->domid;
	op->devid = o->spec->devid;
	op->progress = o->progress;
	op->progress_ud = o->progress_userdata;
	op->goal = o->wait;
	op->timeout_ms = o->timeout_ms ? o->timeout_ms : 30000;
	op->script_timeout_ms = o->script_timeout_ms;
	if ((r = vbd__ctx_own_domid(c, &own)) < 0)
		goto fail;
	op->foreign = o->backend_domid != own;
	/* As libxl: a relative script is under the scripts dir, and the node
	 * holds the absolute path (detach runs it from anywhere). */
	if (o->script && o->script[0] && o->script[0] != '/') {
		if (asprintf(&abs_script, "%s/%s", VBD_SCRIPT_DIR, o->script) < 0) {
			abs_script = NULL;
			r = vbd__errf(&c->err, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	script = abs_script ? abs_script : o->script ? o->script : VBD_HOTPLUG_SCRIPT;
	/* A script of a backend in another domain is that domain's file. */
	if (runs_script(script) && !op->foreign && (r = vbd__script_check(c, script)) < 0)
		goto fail;
	if (runs_script(script) && !(op->script = strdup(script))) {
		r = vbd__errf(&c->err, -ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = vbd__dev_validate(c, o, op->foreign, &params)) < 0)
		goto fail;
	/* An empty CD-ROM drive never connects: a blkback (Linux's or ours)
	 * waits in InitWait for the physical-device that no hotplug step
	 * writes for it.  Attached is as far as it goes. */
	if (!*params && op->goal == VBD_WAIT_CONNECTED)
		op->goal = VBD_WAIT_INITWAIT;
	{
		struct write_args wa = { c, o, &op->p, params, script, NULL, false, VBD__XB_NO_EVENT };

		/* dom0's own backend with the built-in step: the loop device now,
		 * its record, physical-device and hotplug-status in the nodes'
		 * transaction (vbd__hp_add_begin).  The dir is made there, so the
		 * step reads none of it: only dom0 writes it (n0,r1). */
		if (!op->script && !op->foreign) {
			vbd__hp_known k = { .self = own, .params = params,
			                    .mode = o->spec->readonly ? "r" : "w",
			                    .cdrom = o->spec->cdrom, .fresh = true };

			r = vbd__hp_add_begin(c->xs, c->bus->socket, op->p.be, &k, &c->err, &wa.add);
			if (r < 0) {
				vbd__errf(&c->err, r, "hotplug add (built in) for %s", op->p.be);
				goto fail;
			}
		}
		r = vbd__lxcfg_attach(c, o, params, script, write_nodes, unwrite_nodes, &wa);
		/* Undone (a failure after the commit), the loop device went with
		 * the record: either way it is not ours to free any more. */
		vbd__hp_add_end(wa.add, wa.committed);
		op->added = op->plugged = wa.add && r >= 0;
		if (r < 0)
			goto fail;
		op->nodes_seen = wa.seen;
		/* What the commit wrote, until an event after it says more. */
		if (wa.seen != VBD__XB_NO_EVENT)
			op->be_state = op->fe_state = VBD_STATE_INITIALISING;
	}
	/* The built-in step takes them from here, not back from the store. */
	op->params = params;
	params = NULL;
	op->readonly = o->spec->readonly;
	op->cdrom = o->spec->cdrom;
	if ((r = vbd__dev_op_launch(op, vbd__dev_ops_cancel)) < 0) {
		vbd_errbuf keep;

		vbd__errf(&c->err, r, "out of memory");
		keep = c->err;
		unattach(c, &op->p, op->added);
		vbd__lxcfg_forget(c, o->domid, o->spec->devid);
		c->err = keep;
		goto fail;
	}
	free(params);
	free(abs_script);
	return 0;
fail:
	free(params);
	free(abs_script);
	vbd__dev_op_free(op);
	return r;
}

int vbd_dev_detach(vbd_ctx *c, const vbd_detach_options *o, vbd_dev_done_fn done, void *ud)
{
	vbd_detach_options lo;

	if (!c || !o || VBD__OPTS_LOAD(&lo, o, VBD_DETACH_OPTIONS_VERSION,
	                               offsetof(vbd_detach_options, progress), sizeof(lo)) < 0 || !done)
		return -EINVAL;
	return vbd__dev_detach(c, &lo, 0, done, ud);
}

/* The copy's backend and script, what a detach starts from: read together
 * in one pipelined fetch (one round trip, not two); a key the fetch did not
 * answer is read alone.  0, or the -errno of a read that failed (absent is
 * not a failure: val NULL). */
static int read_lx(vbd_ctx *c, unsigned domid, uint32_t devid, vbd__xb_value k[2])
{
	static const char *const key[2] = { "backend", "script" };
	char path[64];
	vbd__xb_batch *b = NULL;
	unsigned i;
	int r = vbd__xb_batch_new(&b);

	memset(k, 0, 2 * sizeof(*k));
	for (i = 0; i < 2 && r == 0; i++) {
		snprintf(path, sizeof(path), "/libxl/%u/device/vbd/%u/%s", domid, devid, key[i]);
		r = vbd__xb_batch_check(b, path, vbd__xb_value_take, &k[i]);
	}
	if (r == 0)
		vbd__xb_bus_fetch(c->bus, b, NULL);
	vbd__xb_batch_free(b);
	for (i = 0; i < 2; i++) {
		if (k[i].got) {
			k[i].err = k[i].err == -ENOENT ? 0 : k[i].err;
			continue;
		}
		k[i].val = vbd__xb_read(c->xs, XBT_NULL, "/libxl/%u/device/vbd/%u/%s", domid, devid,
		                        key[i]);
		k[i].err = k[i].val || errno == ENOENT ? 0 : -(errno ? errno : EIO);
	}
	return k[0].err ? k[0].err : k[1].err;
}

/* A backend that already saw its frontend vanish, before the reap's
 * Closing, has had its last event: Linux blkback then unregisters and
 * writes Closed only if it was Closing already.  A backend that answers
 * a vanished frontend with Closed (ours) does so at once; this long. */
#define GONE_GRACE_MS 2000

int vbd__dev_detach(vbd_ctx *c, const vbd_detach_options *o, unsigned gone, vbd_dev_done_fn done,
                    void *ud)
{
	vbd_dev_op *op = NULL;
	vbd__dev_loc loc;
	vbd__xb_value lx[2];
	char *script = NULL;
	bool be_there, fe_there;
	unsigned own;
	int r;

	c->err.msg[0] = 0;
	if ((r = vbd__dev_op_new(c, true, done, ud, &op)) < 0)
		return r;
	op->force = o->force;
	op->domid = o->domid;
	op->devid = o->devid;
	op->progress = o->progress;
	op->progress_ud = o->progress_userdata;
	op->timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
	r = read_lx(c, o->domid, o->devid, lx);
	script = lx[1].val;
	if (r == 0)
		r = vbd__dev_locate_from(c, o->domid, o->devid, lx[0].val, &loc);
	free(lx[0].val);
	if (r < 0) {
		r = vbd__errf(&c->err, r, "reading /libxl/%u/device/vbd/%u: %s", o->domid, o->devid,
		              strerror(-r));
		goto fail;
	}
	op->bdom = loc.bdom;
	if ((r = vbd__ctx_own_domid(c, &own)) < 0)
		goto fail;
	op->foreign = op->bdom != own;
	/* Forced, an end whose domain is gone is handled as a reap handles it:
	 * nobody there will answer.  Could not say: as if it lived. */
	if (!gone && o->force) {
		if (vbd__domain_gone(c, o->domid) > 0)
			gone |= VBD__GONE_FE;
		if (op->foreign && op->bdom < VBD_DOMID_FIRST_RESERVED &&
		    vbd__domain_gone(c, op->bdom) > 0)
			gone |= VBD__GONE_BE;
		c->err.msg[0] = 0;
	}
	vbd__dev_paths_init(&op->p, loc.kind, op->bdom, o->domid, o->devid);
	if (runs_script(script)) {
		op->script = script;
		script = NULL;
	}
	if (!loc.in_libxl) {
		/* No copy: a device written by someone else, or half removed. */
		int eb = vbd__xb_exists(c->xs, XBT_NULL, op->p.be);
		int ef = vbd__xb_exists(c->xs, XBT_NULL, op->p.fe);

		if (eb < 0 || ef < 0) {
			r = vbd__errf(&c->err, eb < 0 ? eb : ef, "reading the device nodes: %s",
			              strerror(-(eb < 0 ? eb : ef)));
			goto fail;
		}
		if (!eb && !ef) {
			unsigned n = 0;

			/* Forced, with nothing in the store but a loop device
			 * tagged for this backend (its store died, or its
			 * attach before the record): the remove step frees it. */
			if (o->force && !op->foreign &&
			    vbd__hp_tagged_loops(c->xs, c->bus->socket, op->p.be, &n, &c->err) == 0 && n) {
				c->err.msg[0] = 0;
				vbd__log(c, VBD_LOG_INFO, "%s: no nodes; %u loop device(s) left for it "
				         "are freed", op->p.be, n);
				op->bound = false;
				op->gone = VBD__GONE_FE | VBD__GONE_BE;
				goto launch;
			}
			r = vbd__errf(&c->err, -ENOENT, "domain %u has no device %u", o->domid, o->devid);
			goto fail;
		}
	}
	/* A backend still Initialising has no driver to answer: no wait then.
	 * Its state is read in the transaction that asks it to close. */
	op->gone = gone;
	if (!gone) {
		int st;

		if ((r = vbd__dev_close_backend(c, &op->p, &st)) < 0)
			goto fail;
		op->bound = st >= VBD_STATE_INITWAIT;
		/* What the close found or wrote: its wait reads it again only
		 * after an event says it changed. */
		op->be_state = st < 0 ? -1 : st == VBD_STATE_CLOSED ? st : VBD_STATE_CLOSING;
		op->be_known = true;
		vbd__crashpoint("detach.closing");
	} else {
		r = vbd__dev_read_state(c, op->p.be);
		if (r < -1) {
			r = vbd__errf(&c->err, r, "reading %s/state: %s", op->p.be, strerror(-r));
			goto fail;
		}
		op->bound = r >= VBD_STATE_INITWAIT;
		if ((r = vbd__dev_close_gone(c, &op->p, gone, &be_there, &fe_there)) < 0)
			goto fail;
		if (gone & VBD__GONE_BE) {
			/* Closed is written for the frontend to follow: wait for a
			 * live frontend that can (it has a backend dir to read). */
			r = vbd__dev_read_state(c, op->p.fe);
			op->bound = be_there && !(gone & VBD__GONE_FE) && r >= VBD_STATE_INITWAIT &&
			            r != VBD_STATE_CLOSED;
		} else if (!fe_there && op->bound) {
			op->grace = true;
			if (op->timeout_ms > GONE_GRACE_MS)
				op->timeout_ms = GONE_GRACE_MS;
		}
	}
launch:
	if ((r = vbd__dev_op_launch(op, vbd__dev_ops_cancel)) < 0) {
		vbd__errf(&c->err, r, "out of memory");
		goto fail;
	}
	free(script);
	return 0;
fail:
	free(script);
	vbd__dev_op_free(op);
	return r;
}

/* ---- the blocking forms: loops over the same core ---- */

void vbd__dev_sync_done(vbd_ctx *c, int result, const char *msg, void *ud)
{
	struct vbd__dev_sync *sw = ud;

	(void)c;
	(void)msg;
	sw->done = true;
	sw->result = result;
}

int vbd__dev_sync_loop(vbd_ctx *c, struct vbd__dev_sync *sw)
{
	while (!sw->done) {
		struct pollfd pf = { vbd_ctx_get_fd(c), POLLIN, 0 };
		int r;

		if (poll(&pf, 1, vbd_ctx_get_timeout_ms(c)) < 0 && errno != EINTR)
			return vbd__errf(&c->err, -errno, "poll: %s", strerror(errno));
		r = vbd_ctx_process(c);
		if (r < 0)
			return r;
	}
	return sw->result;
}

int vbd_dev_attach_wait(vbd_ctx *c, const vbd_attach_options *o)
{
	struct vbd__dev_sync sw = { false, 0 };
	int r = vbd_dev_attach(c, o, vbd__dev_sync_done, &sw);

	return r < 0 ? r : vbd__dev_sync_loop(c, &sw);
}

int vbd_dev_detach_wait(vbd_ctx *c, const vbd_detach_options *o)
{
	struct vbd__dev_sync sw = { false, 0 };
	int r = vbd_dev_detach(c, o, vbd__dev_sync_done, &sw);

	return r < 0 ? r : vbd__dev_sync_loop(c, &sw);
}

static void sync_script_done(vbd_ctx *c, int r, void *ud)
{
	vbd__dev_sync_done(c, r, NULL, ud);
}

/* vbd_ctx_free(): attaches in progress are rolled back (a script's remove
 * run to completion), detaches left where they are (status shows them,
 * detach --force finishes them); no callbacks. */
void vbd__dev_ops_cancel(vbd_ctx *c)
{
	vbd_dev_op *op;

	/* All stopped first: a remove script below runs the loop, which must
	 * not move (or call back) any other operation. */
	for (op = c->ops; op; op = op->next)
		vbd__dev_op_stop(op);
	while ((op = c->ops)) {
		c->ops = op->next;
		if (!op->detach) {
			/* An attach not done: its remove step, whichever way, to the
			 * end, then its nodes.  (Rolling back, it was killed in its
			 * remove step: the nodes go anyway.) */
			if (op->plugged && !op->rolling_back) {
				struct vbd__dev_sync sw = { false, 0 };

				op->plugged = false;
				vbd__dev_hotplug(op, VBD_HOTPLUG_REMOVE, sync_script_done, &sw);
				if (!sw.done)
					vbd__dev_sync_loop(c, &sw);
				op->job = NULL;
			}
			if (op->nodes_gone || vbd__dev_remove_nodes(c, &op->p) >= 0)
				vbd__dev_forget_cfg(op);
		}
		vbd__dev_op_free(op);
	}
	vbd__dev_kept_free(c);
}
