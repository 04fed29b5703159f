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
 *   3. a watch on both dirs follows the states to 4/4 (or to 2, or not at all)
 *      and fails early on hotplug-status=error, an error node, or Closing;
 *   4. any failure removes what 1 and 2 made.
 * The layout is libxl 4.17's key for key (tests/golden/).
 *
 * The trust rule: nothing here acts on a value read from a directory
 * another domain can write.  The /libxl copy (dom0's) says where the device
 * is and which script it has; what the built-in step set up is in its own
 * record (hotplug_builtin.c).  A backend in another domain (a driver
 * domain) is that domain's: its hotplug step runs there, on its files, so
 * here the target is neither looked for nor opened, and no hotplug runs.
 * Detach then waits, after both ends closed, for that domain to remove its
 * backend dir (its remove step ran), as libxl does, and removes the
 * frontend and /libxl nodes and what is left of the backend's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "toolstack/ctx.h"
#include "toolstack/script.h"
#include "util/xs_txn.h"
#include "vbd/dev.h"
#include "vbd/hotplug.h"
#include "util/opts.h"

#ifndef VBD_SCRIPT_DIR
#define VBD_SCRIPT_DIR "/etc/xen/scripts"
#endif
#ifndef VBD_HOTPLUG_SCRIPT
#define VBD_HOTPLUG_SCRIPT VBD_SCRIPT_DIR "/vbd-block"
#endif

#define TXN_RETRIES 64

const char *vbd_state_name(int state)
{
	static const char *const names[] = {
		"Unknown", "Initialising", "InitWait", "Initialised", "Connected",
		"Closing", "Closed", "Reconfiguring", "Reconfigured",
	};
	return state >= 0 && state < 9 ? names[state] : "Invalid";
}

typedef struct dev_paths {
	char be[96], fe[96], lx[96];
	char be_err[128], fe_err[128];
} dev_paths;

static void dev_paths_init(dev_paths *p, unsigned bdom, unsigned dom, uint32_t devid)
{
	snprintf(p->be, sizeof(p->be), "/local/domain/%u/backend/vbd/%u/%u", bdom, dom, devid);
	snprintf(p->fe, sizeof(p->fe), "/local/domain/%u/device/vbd/%u", dom, devid);
	snprintf(p->lx, sizeof(p->lx), "/libxl/%u/device/vbd/%u", dom, devid);
	/* Where Linux's xenbus_dev_fatal() writes: error/<nodename>/error under
	 * the writing domain's home. */
	snprintf(p->be_err, sizeof(p->be_err), "/local/domain/%u/error/backend/vbd/%u/%u/error",
	         bdom, dom, devid);
	snprintf(p->fe_err, sizeof(p->fe_err), "/local/domain/%u/error/device/vbd/%u/error",
	         dom, devid);
}

/* The drivers' error nodes of a device: error/<nodename> under each
 * writer's home (dev_paths' be_err/fe_err without the final "/error"). */
static void error_dirs(const dev_paths *p, char be[128], char fe[128])
{
	snprintf(be, 128, "%s", p->be_err);
	snprintf(fe, 128, "%s", p->fe_err);
	*strrchr(be, '/') = 0;
	*strrchr(fe, '/') = 0;
}

/* Whether a device's script is run as a script: any but none, empty or our
 * own vbd-block, which is the built-in step in-process. */
static bool runs_script(const char *script)
{
	return script && *script && strcmp(script, VBD_HOTPLUG_SCRIPT) != 0;
}

/* 1 if path exists, 0 if not, -errno if xenstore could not say. */
static int node_exists(vbd_ctx *c, xs_transaction_t t, const char *path)
{
	char *v = vbd__xs_read(c, t, "%s", path);

	if (!v)
		return errno == ENOENT ? 0 : -errno;
	free(v);
	return 1;
}

typedef struct kv {
	const char *k;
	char v[3100];
} kv;

/* The backend keys, in libxl's order; also the /libxl copy's. */
static unsigned backend_keys(kv *out, const vbd_attach_options *o, const dev_paths *p,
                             const char *params, const char *script)
{
	const vbd_disk_spec *d = o->spec;
	unsigned n = 0;

#define KV(key, ...) do { out[n].k = key; snprintf(out[n].v, sizeof(out[n].v), __VA_ARGS__); n++; } while (0)
	KV("frontend", "%s", p->fe);
	KV("params", "%s", params);
	KV("script", "%s", script);
	KV("frontend-id", "%u", o->domid);
	KV("online", "1");
	KV("removable", "%d", d->cdrom ? 1 : 0);
	KV("bootable", "1");
	KV("state", "1");
	KV("dev", "%s", d->vdev);
	KV("type", "phy");
	KV("mode", "%s", d->readonly ? "r" : "w");
	KV("device-type", "%s", d->cdrom ? "cdrom" : "disk");
	/* libxl's default is !!readwrite: no discard on a read-only disk. */
	KV("discard-enable", "%d", d->discard < 0 ? !d->readonly : d->discard);
	if (d->direct_io_safe)
		KV("direct-io-safe", "1");
	KV("specification", "xen");
#undef KV
	return n;
}

static unsigned frontend_keys(kv *out, const vbd_attach_options *o, const dev_paths *p)
{
	const vbd_disk_spec *d = o->spec;
	unsigned n = 0;

#define KV(key, ...) do { out[n].k = key; snprintf(out[n].v, sizeof(out[n].v), __VA_ARGS__); n++; } while (0)
	KV("backend", "%s", p->be);
	KV("backend-id", "%u", o->backend_domid);
	KV("state", "1");
	KV("virtual-device", "%u", d->devid);
	KV("device-type", "%s", d->cdrom ? "cdrom" : "disk");
	KV("trusted", "%d", d->trusted ? 1 : 0);
	KV("protocol", "x86_64-abi");
#undef KV
	return n;
}

int vbd__dev_locate(vbd_ctx *c, unsigned domid, uint32_t devid, vbd__dev_loc *ret)
{
	char *be = vbd__xs_read(c, XBT_NULL, "/libxl/%u/device/vbd/%u/backend", domid, devid);

	if (!be && errno != ENOENT)
		return -(errno ? errno : EIO);
	ret->in_libxl = be != NULL;
	if (!be || sscanf(be, "/local/domain/%u/", &ret->bdom) != 1)
		ret->bdom = 0;
	free(be);
	snprintf(ret->be, sizeof(ret->be), "/local/domain/%u/backend/vbd/%u/%u", ret->bdom, domid, devid);
	snprintf(ret->fe, sizeof(ret->fe), "/local/domain/%u/device/vbd/%u", domid, devid);
	return 0;
}

static bool write_dir(vbd_ctx *c, xs_transaction_t t, const char *dir,
                      struct xs_permissions *perms, unsigned nperms, const kv *keys, unsigned n)
{
	char path[256];
	unsigned i;

	/* The dir and its perms first: the keys inherit them. */
	if (!xs_mkdir(c->xs, t, dir) || !xs_set_permissions(c->xs, t, dir, perms, nperms))
		return false;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, keys[i].k);
		if (!xs_write(c->xs, t, path, keys[i].v, strlen(keys[i].v)))
			return false;
	}
	return true;
}

struct write_job {
	vbd_ctx *c;
	const vbd_attach_options *o;
	const dev_paths *p;
	kv be[16], fe[8], lx[18];
	unsigned nbe, nfe, nlx;
	const char *failed;      /* the node a body could not read or write */
};

static int write_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct write_job *w = ud;
	const vbd_attach_options *o = w->o;
	const dev_paths *p = w->p;
	const char *dirs[3] = { p->lx, p->be, p->fe };
	struct xs_permissions be_perms[2] = { { o->backend_domid, XS_PERM_NONE }, { o->domid, XS_PERM_READ } };
	struct xs_permissions fe_perms[2] = { { o->domid, XS_PERM_NONE }, { o->backend_domid, XS_PERM_READ } };
	struct xs_permissions lx_perms[1] = { { 0, XS_PERM_NONE } };
	int d, e;

	(void)xs;
	/* "Device exists" is decided on libxl's copy, like xl; the two dirs
	 * are checked too, so a leftover is never overwritten. */
	for (d = 0; d < 3; d++) {
		e = node_exists(w->c, t, dirs[d]);
		if (e) {
			w->failed = dirs[d];
			return e < 0 ? e : -EEXIST;
		}
	}
	w->failed = NULL;
	/* Error nodes left by drivers of an earlier device at this path
	 * (a crash, another toolstack) are not this device's. */
	{
		char be_err[128], fe_err[128];

		error_dirs(p, be_err, fe_err);
		if ((!xs_rm(w->c->xs, t, be_err) && errno != ENOENT) ||
		    (!xs_rm(w->c->xs, t, fe_err) && errno != ENOENT))
			return -(errno ? errno : EIO);
	}
	if (!write_dir(w->c, t, p->be, be_perms, 2, w->be, w->nbe) ||
	    !write_dir(w->c, t, p->fe, fe_perms, 2, w->fe, w->nfe) ||
	    !write_dir(w->c, t, p->lx, lx_perms, 1, w->lx, w->nlx))
		return -(errno ? errno : EIO);
	return 0;
}

static int write_nodes(vbd_ctx *c, const vbd_attach_options *o, const dev_paths *p,
                       const char *params, const char *script)
{
	/* On the heap (about 130 KB): contexts in different threads attach at
	 * once, so nothing here may be static. */
	struct write_job *w = calloc(1, sizeof(*w));
	unsigned i;
	int r;

	if (!w)
		return vbd__errf(&c->err, -ENOMEM, "writing the device nodes: out of memory");
	w->c = c;
	w->o = o;
	w->p = p;
	w->nbe = backend_keys(w->be, o, p, params, script);
	w->nfe = frontend_keys(w->fe, o, p);
	w->lx[w->nlx].k = "frontend";
	snprintf(w->lx[w->nlx++].v, sizeof(w->lx[0].v), "%s", p->fe);
	w->lx[w->nlx].k = "backend";
	snprintf(w->lx[w->nlx++].v, sizeof(w->lx[0].v), "%s", p->be);
	for (i = 1; i < w->nbe; i++)   /* the backend keys but "frontend", already there */
		w->lx[w->nlx++] = w->be[i];

	r = vbd__xs_txn(c->xs, TXN_RETRIES, write_body, w);
	if (r == -EEXIST)
		vbd__errf(&c->err, r, "device %s of domain %u exists already (%s); "
		          "detach it first (--force for leftovers)", o->spec->vdev, o->domid, w->failed);
	else if (r < 0 && w->failed)
		vbd__errf(&c->err, r, "reading %s: %s", w->failed, strerror(-r));
	else if (r < 0)
		vbd__errf(&c->err, r, "writing the device nodes: %s", strerror(-r));
	free(w);
	return r;
}

/* Removes path's empty parents, up to a domain's home or /libxl/<domid>. */
static bool prune(vbd_ctx *c, xs_transaction_t t, const char *path)
{
	char dir[256];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/')) && slash != dir) {
		unsigned n, depth = 0;
		char **kids, *v, *q;

		*slash = 0;
		for (q = dir; *q; q++)
			depth += *q == '/';
		/* Keep /local/domain/<id>, a guest's error/ (libxl makes it
		 * with the home; dom0's is made by the first driver error) and
		 * /libxl.  An empty /libxl/<id> goes: libxl's own keys there
		 * keep a domain's. */
		if ((!strncmp(dir, "/local/domain/", 14) && depth <= 3) ||
		    (!strncmp(dir, "/local/domain/", 14) && depth == 4 &&
		     !strcmp(strrchr(dir, '/'), "/error") && strcmp(dir, "/local/domain/0/error")) ||
		    (!strncmp(dir, "/libxl", 6) && depth <= 1))
			break;
		kids = xs_directory(c->xs, t, dir, &n);
		if (!kids) {
			if (errno == ENOENT)
				continue;
			return false;
		}
		free(kids);
		v = vbd__xs_read(c, t, "%s", dir);
		if (n || (v && *v)) {
			free(v);
			break;
		}
		free(v);
		if (!xs_rm(c->xs, t, dir))
			return false;
	}
	return true;
}

struct remove_job {
	vbd_ctx *c;
	const dev_paths *p;
};

static int remove_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct remove_job *j = ud;
	char be_err[128], fe_err[128];
	const char *dirs[5] = { j->p->fe, j->p->be, j->p->lx, be_err, fe_err };
	int i;

	/* A driver's error node outlives nothing: the next attach of this
	 * vdev would otherwise fail on it at once. */
	error_dirs(j->p, be_err, fe_err);
	for (i = 0; i < 5; i++)
		if (!(xs_rm(xs, t, dirs[i]) || errno == ENOENT) || !prune(j->c, t, dirs[i]))
			return -(errno ? errno : EIO);
	return 0;
}

static int remove_nodes(vbd_ctx *c, const dev_paths *p)
{
	struct remove_job j = { c, p };
	int r = vbd__xs_txn(c->xs, TXN_RETRIES, remove_body, &j);

	if (r < 0)
		vbd__errf(&c->err, r, "removing the device nodes: %s", strerror(-r));
	return r;
}

/* ---- one attach or detach in progress ---- */

enum {
	DIRTY_BE = 1,               /* the backend's state */
	DIRTY_FE = 2,               /* the frontend's state */
	DIRTY_HOTPLUG = 4,          /* hotplug-status */
	DIRTY_ERR = 8,              /* either error node */
	DIRTY_ALL = 15,
};

/* Everything after the synchronous start runs from vbd_ctx_process(): the
 * hotplug step (a script is followed through its pidfd), the wait for both
 * ends, the rollback.  One struct per operation holds all its state. */
struct vbd_dev_op {
	vbd_dev_op *next;
	vbd_ctx *c;
	bool detach;
	dev_paths p;
	unsigned bdom;
	char *script;               /* NULL: built in */
	unsigned script_timeout_ms;
	unsigned timeout_ms;
	vbd_wait_for goal;          /* attach */
	bool force;                 /* detach */
	bool bound;                 /* detach: a driver answered; wait for Closed */
	bool plugged;               /* attach: add ran (or may have): remove must */
	bool foreign;               /* the backend's domain is not ours: it runs hotplug */
	bool rolling_back;
	bool waiting;
	int be_state, fe_state;
	int result;                 /* the first failure */
	vbd_errbuf err;
	vbd__watch *wb, *wf, *we1, *we2;
	vbd__timer *timer, *defer;
	vbd__timer *recheck;        /* check() once after a burst of events */
	unsigned dirty;             /* DIRTY_*: what changed since check() read it */
	vbd__script *job;
	void (*gone_next)(vbd_ctx *, int, void *);  /* foreign: after the backend dir went */
	void *gone_ud;
	vbd_dev_done_fn done;
	void *ud;
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

	vbd__ctx_unwatch(c, op->wb);
	vbd__ctx_unwatch(c, op->wf);
	vbd__ctx_unwatch(c, op->we1);
	vbd__ctx_unwatch(c, op->we2);
	vbd__ctx_timer_cancel(c, op->timer);
	vbd__ctx_timer_cancel(c, op->recheck);
	op->wb = op->wf = op->we1 = op->we2 = NULL;
	op->timer = op->recheck = NULL;
	op->waiting = false;
}

/* Nothing of the operation runs any more: no wait, no pending step, no
 * script (killed).  Idempotent. */
static void op_stop(vbd_dev_op *op)
{
	wait_stop(op);
	vbd__ctx_timer_cancel(op->c, op->defer);
	op->defer = NULL;
	if (op->job)
		vbd__script_cancel(op->job);
	op->job = NULL;
}

static void op_free(vbd_dev_op *op)
{
	op_stop(op);
	free(op->script);
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
	op_free(op);
	done(c, r, c->err.msg, ud);
}

/* XENBUS_PATH is relative to the backend domain's home. */
static void xenbus_path(const vbd_dev_op *op, char *buf, size_t size)
{
	snprintf(buf, size, "%s", op->p.be + strlen("/local/domain/") +
	         (size_t)snprintf(NULL, 0, "%u/", op->bdom));
}

static void unplugged(vbd_ctx *c, int r, void *ud);
static int close_backend(vbd_ctx *c, const dev_paths *p);
static int gone_wait_start(vbd_dev_op *op, void (*next)(vbd_ctx *, int, void *), void *ud);

/* The hotplug step, either way, then next(c, result, ud): at once for the
 * built-in one, from the loop for a script.  For a backend in another
 * domain, that domain's: add is not ours to run, and remove is the wait
 * for that domain to have removed its backend dir. */
static void hotplug(vbd_dev_op *op, vbd_hotplug_action action,
                    void (*next)(vbd_ctx *, int, void *), void *ud)
{
	vbd_ctx *c = op->c;
	const char *verb = action == VBD_HOTPLUG_ADD ? "add" : "remove";
	char rel[128];
	int r;

	if (op->foreign) {
		if (action == VBD_HOTPLUG_ADD) {
			next(c, 0, ud);
			return;
		}
		/* A rollback has not asked the ends to close yet. */
		r = close_backend(c, &op->p);
		if (r >= 0)
			r = gone_wait_start(op, next, ud);
		if (r < 0)
			next(c, r, ud);
		return;
	}
	if (!op->script) {
		r = vbd_hotplug_builtin(c->xs, op->p.be, action, &c->err);
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

/* Attach failed after the nodes were written: remove what add made, then
 * the nodes. */
static void rollback(vbd_dev_op *op, int r)
{
	op_note(op, r);
	wait_stop(op);
	op->rolling_back = true;
	vbd__log(op->c, VBD_LOG_WARNING, "%s: attach failed, rolling back: %s", op->p.be,
	         op->err.msg);
	if (op->plugged) {
		op->plugged = false;
		hotplug(op, VBD_HOTPLUG_REMOVE, unplugged, op);
		return;
	}
	remove_nodes(op->c, &op->p);
	op_finish(op);
}

/* A state: -1 if the node is absent (or not a number), -errno if xenstore
 * could not say.  No caller may take "could not say" for "absent". */
static int read_state(vbd_ctx *c, const char *dir)
{
	long long st;
	int r = vbd__xs_read_num(c, dir, "state", &st);

	if (r == -ENOENT || r == -EINVAL || (r == 0 && st > 8))
		return -1;
	return r < 0 ? r : (int)st;
}

static void waited(vbd_dev_op *op, int r);

/* Runs on every event of the watched nodes: decides whether the ends got
 * where the operation waits for them, or failed on the way. */
static void check(vbd_ctx *c, const char *path, void *ud)
{
	vbd_dev_op *op = ud;
	unsigned dirty = op->dirty;
	char *v;
	int st;

	(void)path;
	if (!op->waiting)
		return;
	/* Only what an event said changed is read again. */
	op->dirty = 0;
	if (dirty & DIRTY_BE) {
		if ((st = read_state(c, op->p.be)) < -1) {
			op->dirty = dirty;   /* xenstore could not say: next event or deadline */
			return;
		}
		op->be_state = st;
	}
	if (dirty & DIRTY_FE) {
		if ((st = read_state(c, op->p.fe)) < -1) {
			op->dirty = dirty;
			return;
		}
		op->fe_state = st;
	}
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
	v = dirty & DIRTY_HOTPLUG ? vbd__xs_read(c, XBT_NULL, "%s/hotplug-status", op->p.be) : NULL;
	if (v && strcmp(v, "error") == 0) {
		char *he = vbd__xs_read(c, XBT_NULL, "%s/hotplug-error", op->p.be);
		vbd__errf(&c->err, -EIO, "hotplug failed: hotplug-error says \"%s\"", he ? he : "");
		free(he);
		free(v);
		waited(op, -EIO);
		return;
	}
	free(v);
	v = NULL;
	if (dirty & DIRTY_ERR) {
		v = vbd__xs_read(c, XBT_NULL, "%s", op->p.be_err);
		if (!v)
			v = vbd__xs_read(c, XBT_NULL, "%s", op->p.fe_err);
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

	op->recheck = NULL;
	check(c, NULL, op);
}

static bool ends_with(const char *path, const char *dir, const char *leaf)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && path[n] == '/' && !strcmp(path + n + 1, leaf);
}

/* A watch event.  The drivers write a dozen keys into the watched
 * directories on the way to Connected, each an event: only the nodes
 * check() reads matter (the first event of each watch names the watched
 * path itself), and a burst of them makes one check(), run by a timer due
 * at once, which vbd_ctx_process() fires after it has taken every pending
 * event. */
static void on_event(vbd_ctx *c, const char *path, void *ud)
{
	vbd_dev_op *op = ud;

	unsigned d = 0;

	if (!op->waiting)
		return;
	if (!strcmp(path, op->p.be) || !strcmp(path, op->p.fe))
		d = DIRTY_ALL;       /* a watch's first event, or the dir itself */
	else if (ends_with(path, op->p.be, "state"))
		d = DIRTY_BE;
	else if (ends_with(path, op->p.fe, "state"))
		d = DIRTY_FE;
	else if (ends_with(path, op->p.be, "hotplug-status"))
		d = DIRTY_HOTPLUG;
	else if (!strncmp(path, op->p.be_err, strlen(op->p.be_err)) ||
	         !strncmp(path, op->p.fe_err, strlen(op->p.fe_err)))
		d = DIRTY_ERR;
	if (!d)
		return;
	op->dirty |= d;
	if (op->recheck)
		return;
	if (vbd__ctx_timer(c, 0, recheck, op, &op->recheck) < 0)
		check(c, path, op);    /* no memory for the timer: check now */
}

static void timed_out(vbd_ctx *c, void *ud)
{
	vbd_dev_op *op = ud;

	op->timer = NULL;
	op->be_state = read_state(c, op->p.be);
	op->fe_state = read_state(c, op->p.fe);
	vbd__errf(&c->err, -ETIMEDOUT, "timed out waiting for %s: backend %s (%d), frontend %s (%d)",
	          op->detach ? "both ends to close" :
	          op->goal == VBD_WAIT_INITWAIT ? "the backend to reach InitWait" :
	          "both ends to connect",
	          vbd_state_name(op->be_state), op->be_state, vbd_state_name(op->fe_state),
	          op->fe_state);
	waited(op, -ETIMEDOUT);
}

/* Watches both directories (and, attaching, both error nodes) with one
 * deadline; each watch fires once at once, so check() runs first thing. */
static int wait_start(vbd_dev_op *op)
{
	vbd_ctx *c = op->c;
	int r;

	op->waiting = true;
	r = vbd__ctx_timer(c, vbd__now_ms() + op->timeout_ms, timed_out, op, &op->timer);
	if (r < 0 ||
	    (r = vbd__ctx_watch(c, op->p.be, on_event, op, &op->wb)) < 0 ||
	    (r = vbd__ctx_watch(c, op->p.fe, on_event, op, &op->wf)) < 0 ||
	    (!op->detach && (r = vbd__ctx_watch(c, op->p.be_err, on_event, op, &op->we1)) < 0) ||
	    (!op->detach && (r = vbd__ctx_watch(c, op->p.fe_err, on_event, op, &op->we2)) < 0)) {
		wait_stop(op);
		return r;
	}
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

	(void)path;
	if (!op->waiting)
		return;
	e = node_exists(c, XBT_NULL, op->p.be);
	if (e == 0)
		gone_end(op, 0);
	/* e < 0, xenstore could not say: the next event or the deadline. */
}

static void gone_timed_out(vbd_ctx *c, void *ud)
{
	vbd_dev_op *op = ud;

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
		remove_nodes(c, &op->p);
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
	op_note(op, remove_nodes(c, &op->p));
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
	hotplug(op, VBD_HOTPLUG_REMOVE, unplugged, op);
}

static void plugged(vbd_ctx *c, int r, void *ud)
{
	vbd_dev_op *op = ud;

	op->job = NULL;
	if (r < 0) {
		if (op->script) {
			char *he = vbd__xs_read(c, XBT_NULL, "%s/hotplug-error", op->p.be);
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
}

/* The first step from the loop, so that no callback runs inside the
 * starting call. */
static void begin(vbd_ctx *c, void *ud)
{
	vbd_dev_op *op = ud;

	(void)c;
	op->defer = NULL;
	if (!op->detach) {
		vbd__log(c, VBD_LOG_INFO, "%s: nodes written, %s", op->p.be,
		         op->foreign ? "hotplug is the backend domain's" : "running hotplug");
		op->plugged = true;   /* a failed add may have left something: remove runs */
		hotplug(op, VBD_HOTPLUG_ADD, plugged, op);
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

static int op_new(vbd_ctx *c, bool detach, vbd_dev_done_fn done, void *ud, vbd_dev_op **ret)
{
	vbd_dev_op *op = calloc(1, sizeof(*op));

	if (!op)
		return vbd__errf(&c->err, -ENOMEM, "out of memory");
	op->c = c;
	op->detach = detach;
	op->done = done;
	op->ud = ud;
	*ret = op;
	return 0;
}

/* Starts the rest from the loop; the operation is then the ctx's. */
static int op_launch(vbd_dev_op *op)
{
	int r = vbd__ctx_timer(op->c, 0, begin, op, &op->defer);

	if (r < 0)
		return r;
	op->next = op->c->ops;
	op->c->ops = op;
	return 0;
}

/* Says which open of the target was refused, and why as far as can be
 * known: EPERM is not a read-only file system, and a refusal to read has
 * nothing to do with access=w. */
static int open_refused(vbd_ctx *c, const char *path, bool writable, int e)
{
	const char *how = writable ? "for writing (access=w)" : "for reading";
	int flags = 0, fd;

	if (e == EROFS)
		return vbd__errf(&c->err, -EROFS, "target %s is on a read-only file system or device, "
		                 "and so cannot be opened %s", path, how);
	if (e == EPERM && writable && (fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) >= 0) {
		if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
			flags = 0;
		close(fd);
		if (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL))
			return vbd__errf(&c->err, -EPERM, "target %s is %s (chattr +%c), and so cannot "
			                 "be opened %s", path, flags & FS_IMMUTABLE_FL ? "immutable" :
			                 "append-only", flags & FS_IMMUTABLE_FL ? 'i' : 'a', how);
	}
	if (e == EPERM)
		return vbd__errf(&c->err, -EPERM, "opening target %s %s was refused (%s): not by "
		                 "its mode or file system; a security module or a file access "
		                 "monitor said no", path, how, strerror(e));
	return vbd__errf(&c->err, -e, "target %s cannot be opened %s: %s", path, how, strerror(e));
}

/* Checks what can be checked before anything is written.  The target of a
 * backend in another domain is that domain's to find: not looked for here. */
static int validate(vbd_ctx *c, const vbd_attach_options *o, bool foreign, char **ret_params)
{
	const vbd_disk_spec *d = o->spec;
	char *params = NULL;
	struct stat st;
	unsigned id;
	char buf[16];
	int r, fd;

	snprintf(buf, sizeof(buf), "%u", o->domid);
	if ((r = vbd_ctx_domain_lookup(c, buf, &id)) < 0)
		return vbd__errf(&c->err, r, "frontend domain");
	snprintf(buf, sizeof(buf), "%u", o->backend_domid);
	if ((r = vbd_ctx_domain_lookup(c, buf, &id)) < 0)
		return vbd__errf(&c->err, r, "backend domain");
	/* Only the phy backend (blkback) is served: a disk asked for another
	 * must not silently get this one. */
	if (d->backendtype && strcmp(d->backendtype, "phy") != 0)
		return vbd__errf(&c->err, -ENOTSUP, "backendtype=%s is not supported: only phy (the "
		                 "default) is", d->backendtype);
	if (!d->target) {
		if (!d->cdrom)
			return vbd__errf(&c->err, -EINVAL, "%s: no target (only a cdrom may be empty)", d->vdev);
		*ret_params = strdup("");
		return *ret_params ? 0 : -ENOMEM;
	}
	if (strlen(d->target) > 1024)
		return vbd__errf(&c->err, -E2BIG, "target is %zu characters long; at most 1024",
		                 strlen(d->target));
	if (d->format && strcmp(d->format, "raw") != 0)
		return vbd__errf(&c->err, -ENOTSUP, "format %s: the phy backend serves raw images only",
		                 d->format);
	if (foreign) {
		*ret_params = strdup(d->target);
		return *ret_params ? 0 : vbd__errf(&c->err, -ENOMEM, "out of memory");
	}
	if ((r = vbd_disk_target_resolve(d->target, &params, &c->err)) < 0)
		return r;
	if (stat(params, &st) < 0) {
		r = vbd__errf(&c->err, -errno, "target %s: %s", params, strerror(errno));
		free(params);
		return r;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		r = vbd__errf(&c->err, -ENODEV, "target %s is neither a regular file nor a block device",
		              params);
		free(params);
		return r;
	}
	/* As root, only a read-only file system or device, an immutable or
	 * append-only file, or a security module says no; opening for writing
	 * is what asks all of them. */
	fd = open(params, (d->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		r = open_refused(c, params, !d->readonly, errno);
		free(params);
		return r;
	}
	close(fd);
	*ret_params = params;
	return 0;
}

int vbd_dev_attach(vbd_ctx *c, const vbd_attach_options *o, vbd_dev_done_fn done, void *ud)
{
	char *params = NULL, *abs_script = NULL;
	vbd_attach_options lo;
	vbd_dev_op *op = NULL;
	const char *script;
	unsigned own;
	int r;

	if (!c || !o || VBD__OPTS_LOAD(&lo, o, VBD_ATTACH_OPTIONS_VERSION, sizeof(lo)) < 0 || !done)
		return -EINVAL;
	o = &lo;
	if (!o->spec)
		return -EINVAL;
	c->err.msg[0] = 0;
	if ((r = op_new(c, false, done, ud, &op)) < 0)
		return r;
	dev_paths_init(&op->p, o->backend_domid, o->domid, o->spec->devid);
	op->bdom = o->backend_domid;
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
	if ((r = validate(c, o, op->foreign, &params)) < 0)
		goto fail;
	if ((r = write_nodes(c, o, &op->p, params, script)) < 0)
		goto fail;
	if ((r = op_launch(op)) < 0) {
		vbd_errbuf keep;

		vbd__errf(&c->err, r, "out of memory");
		keep = c->err;
		remove_nodes(c, &op->p);
		c->err = keep;
		goto fail;
	}
	free(params);
	free(abs_script);
	return 0;
fail:
	free(params);
	free(abs_script);
	op_free(op);
	return r;
}

/* Ask both ends to close: online=0, state=5 unless already Closed. */
struct close_job {
	vbd_ctx *c;
	const dev_paths *p;
};

static int close_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct close_job *j = ud;
	char path[160], *st;
	bool ok = true;

	st = vbd__xs_read(j->c, t, "%s/state", j->p->be);
	if (!st)
		return errno == ENOENT ? 0 : -(errno ? errno : EIO);
	snprintf(path, sizeof(path), "%s/online", j->p->be);
	ok = xs_write(xs, t, path, "0", 1);
	if (ok && strcmp(st, "6") != 0) {
		snprintf(path, sizeof(path), "%s/state", j->p->be);
		ok = xs_write(xs, t, path, "5", 1);
	}
	free(st);
	return ok ? 0 : -(errno ? errno : EIO);
}

static int close_backend(vbd_ctx *c, const dev_paths *p)
{
	struct close_job j = { c, p };
	int r = vbd__xs_txn(c->xs, TXN_RETRIES, close_body, &j);

	if (r < 0)
		vbd__errf(&c->err, r, "asking %s to close: %s", p->be, strerror(-r));
	return r;
}

int vbd_dev_detach(vbd_ctx *c, const vbd_detach_options *o, vbd_dev_done_fn done, void *ud)
{
	vbd_detach_options lo;
	vbd_dev_op *op = NULL;
	vbd__dev_loc loc;
	char *script = NULL;
	unsigned own;
	int r;

	if (!c || !o || VBD__OPTS_LOAD(&lo, o, VBD_DETACH_OPTIONS_VERSION, sizeof(lo)) < 0 || !done)
		return -EINVAL;
	o = &lo;
	c->err.msg[0] = 0;
	if ((r = op_new(c, true, done, ud, &op)) < 0)
		return r;
	op->force = o->force;
	op->timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
	if ((r = vbd__dev_locate(c, o->domid, o->devid, &loc)) < 0) {
		r = vbd__errf(&c->err, r, "reading /libxl/%u/device/vbd/%u: %s", o->domid, o->devid,
		              strerror(-r));
		goto fail;
	}
	op->bdom = loc.bdom;
	if ((r = vbd__ctx_own_domid(c, &own)) < 0)
		goto fail;
	op->foreign = op->bdom != own;
	dev_paths_init(&op->p, op->bdom, o->domid, o->devid);
	if (!(script = vbd__xs_read(c, XBT_NULL, "%s/script", op->p.lx)) && errno != ENOENT) {
		r = vbd__errf(&c->err, -errno, "reading %s: %s", op->p.lx, strerror(errno));
		goto fail;
	}
	if (runs_script(script)) {
		op->script = script;
		script = NULL;
	}
	if (!loc.in_libxl) {
		/* No copy: a device written by someone else, or half removed. */
		int eb = node_exists(c, XBT_NULL, op->p.be), ef = node_exists(c, XBT_NULL, op->p.fe);

		if (eb < 0 || ef < 0) {
			r = vbd__errf(&c->err, eb < 0 ? eb : ef, "reading the device nodes: %s",
			              strerror(-(eb < 0 ? eb : ef)));
			goto fail;
		}
		if (!eb && !ef) {
			r = vbd__errf(&c->err, -ENOENT, "domain %u has no device %u", o->domid, o->devid);
			goto fail;
		}
	}
	/* A backend still Initialising has no driver to answer: no wait then. */
	r = read_state(c, op->p.be);
	if (r < -1) {
		r = vbd__errf(&c->err, r, "reading %s/state: %s", op->p.be, strerror(-r));
		goto fail;
	}
	op->bound = r >= VBD_STATE_INITWAIT;
	if ((r = close_backend(c, &op->p)) < 0)
		goto fail;
	if ((r = op_launch(op)) < 0) {
		vbd__errf(&c->err, r, "out of memory");
		goto fail;
	}
	free(script);
	return 0;
fail:
	free(script);
	op_free(op);
	return r;
}

/* ---- the blocking forms: loops over the same core ---- */

struct sync_wait {
	bool done;
	int result;
};

static void sync_done(vbd_ctx *c, int result, const char *msg, void *ud)
{
	struct sync_wait *sw = ud;

	(void)c;
	(void)msg;
	sw->done = true;
	sw->result = result;
}

static int sync_loop(vbd_ctx *c, struct sync_wait *sw)
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
	struct sync_wait sw = { false, 0 };
	int r = vbd_dev_attach(c, o, sync_done, &sw);

	return r < 0 ? r : sync_loop(c, &sw);
}

int vbd_dev_detach_wait(vbd_ctx *c, const vbd_detach_options *o)
{
	struct sync_wait sw = { false, 0 };
	int r = vbd_dev_detach(c, o, sync_done, &sw);

	return r < 0 ? r : sync_loop(c, &sw);
}

static void sync_script_done(vbd_ctx *c, int r, void *ud)
{
	sync_done(c, r, NULL, ud);
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
		op_stop(op);
	while ((op = c->ops)) {
		c->ops = op->next;
		if (!op->detach) {
			/* An attach not done: its remove step, whichever way, to the
			 * end, then its nodes.  (Rolling back, it was killed in its
			 * remove step: the nodes go anyway.) */
			if (op->plugged && !op->rolling_back) {
				struct sync_wait sw = { false, 0 };

				op->plugged = false;
				hotplug(op, VBD_HOTPLUG_REMOVE, sync_script_done, &sw);
				if (!sw.done)
					sync_loop(c, &sw);
				op->job = NULL;
			}
			remove_nodes(c, &op->p);
		}
		op_free(op);
	}
}
