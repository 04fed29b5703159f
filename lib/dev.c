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
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx.h"
#include "script.h"
#include "util/xs_txn.h"
#include "vbd/dev.h"
#include "vbd/hotplug.h"

#ifndef VBD_HOTPLUG_SCRIPT
#define VBD_HOTPLUG_SCRIPT "/etc/xen/scripts/vbd-block"
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
	KV("discard-enable", "%d", d->discard < 0 ? !d->cdrom : d->discard);
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
		/* Keep /local/domain/<id> and /libxl/<id>. */
		if ((!strncmp(dir, "/local/domain/", 14) && depth <= 3) ||
		    (!strncmp(dir, "/libxl", 6) && depth <= 2))
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
	const char *dirs[3] = { j->p->fe, j->p->be, j->p->lx };
	int i;

	for (i = 0; i < 3; i++)
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

/* The hotplug step: built in (no fork) for our own script path or none,
 * else the script, run exactly as libxl runs it. */
static int hotplug(vbd_ctx *c, const dev_paths *p, unsigned bdom, const char *script,
                   unsigned timeout_ms, vbd_hotplug_action action)
{
	const char *verb = action == VBD_HOTPLUG_ADD ? "add" : "remove";
	char rel[128];
	int r;

	if (!script || !*script || strcmp(script, VBD_HOTPLUG_SCRIPT) == 0) {
		r = vbd_hotplug_builtin(c->xs, p->be, action, &c->err);
		if (r < 0)
			vbd__errf(&c->err, r, "hotplug %s (built in) for %s", verb, p->be);
		return r;
	}
	/* XENBUS_PATH is relative to the backend domain's home. */
	snprintf(rel, sizeof(rel), "%s", p->be + strlen("/local/domain/") +
	         (size_t)snprintf(NULL, 0, "%u/", bdom));
	r = vbd__run_hotplug_script(script, verb, rel, timeout_ms ? timeout_ms : 40000, &c->err);
	if (r < 0 && action == VBD_HOTPLUG_ADD) {
		char *he = vbd__xs_read(c, XBT_NULL, "%s/hotplug-error", p->be);
		if (he) {
			vbd__errf(&c->err, r, "hotplug-error says \"%s\"", he);
			free(he);
		}
	}
	return r;
}

/* ---- waiting for the ends ---- */

typedef struct waiter {
	const dev_paths *p;
	vbd_wait_for goal;       /* attach */
	bool detach;
	bool done;
	int result;
	int be_state, fe_state;
	vbd__timer *timer;
} waiter;

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

static void finish(vbd_ctx *c, waiter *w, int r)
{
	(void)c;
	if (w->done)
		return;
	w->done = true;
	w->result = r;
}

static void check(vbd_ctx *c, const char *path, void *ud)
{
	waiter *w = ud;
	char *v;

	(void)path;
	if (w->done)
		return;
	w->be_state = read_state(c, w->p->be);
	w->fe_state = read_state(c, w->p->fe);
	/* xenstore could not say: decide on the next event or the deadline. */
	if (w->be_state < -1 || w->fe_state < -1)
		return;
	if (w->detach) {
		/* Closed, gone, or never bound to a driver: nothing to wait for. */
		if ((w->be_state == VBD_STATE_CLOSED || w->be_state < VBD_STATE_INITWAIT) &&
		    (w->fe_state == VBD_STATE_CLOSED || w->fe_state < VBD_STATE_INITWAIT ||
		     w->fe_state == -1))
			finish(c, w, 0);
		return;
	}
	v = vbd__xs_read(c, XBT_NULL, "%s/hotplug-status", w->p->be);
	if (v && strcmp(v, "error") == 0) {
		char *he = vbd__xs_read(c, XBT_NULL, "%s/hotplug-error", w->p->be);
		vbd__errf(&c->err, -EIO, "hotplug failed: hotplug-error says \"%s\"", he ? he : "");
		free(he);
		free(v);
		finish(c, w, -EIO);
		return;
	}
	free(v);
	v = vbd__xs_read(c, XBT_NULL, "%s", w->p->be_err);
	if (!v)
		v = vbd__xs_read(c, XBT_NULL, "%s", w->p->fe_err);
	if (v) {
		vbd__errf(&c->err, -EIO, "a driver reported an error: \"%s\" (backend %s, frontend %s)",
		          v, vbd_state_name(w->be_state), vbd_state_name(w->fe_state));
		free(v);
		finish(c, w, -EIO);
		return;
	}
	if (w->be_state >= VBD_STATE_CLOSING || w->fe_state >= VBD_STATE_CLOSING) {
		vbd__errf(&c->err, -EIO, "the device closed while connecting (backend %s, frontend %s)",
		          vbd_state_name(w->be_state), vbd_state_name(w->fe_state));
		finish(c, w, -EIO);
		return;
	}
	if (w->goal == VBD_WAIT_INITWAIT && w->be_state >= VBD_STATE_INITWAIT)
		finish(c, w, 0);
	else if (w->be_state == VBD_STATE_CONNECTED && w->fe_state == VBD_STATE_CONNECTED)
		finish(c, w, 0);
}

static void timed_out(vbd_ctx *c, void *ud)
{
	waiter *w = ud;

	w->timer = NULL;
	if (w->done)
		return;
	w->be_state = read_state(c, w->p->be);
	w->fe_state = read_state(c, w->p->fe);
	vbd__errf(&c->err, -ETIMEDOUT, "timed out waiting for %s: backend %s (%d), frontend %s (%d)",
	          w->detach ? "both ends to close" :
	          w->goal == VBD_WAIT_INITWAIT ? "the backend to reach InitWait" :
	          "both ends to connect",
	          vbd_state_name(w->be_state), w->be_state, vbd_state_name(w->fe_state), w->fe_state);
	finish(c, w, -ETIMEDOUT);
}

/* The blocking loop: the context's fd and deadlines, nothing else. */
static int wait_loop(vbd_ctx *c, waiter *w, unsigned timeout_ms)
{
	vbd__watch *wb = NULL, *wf = NULL, *we1 = NULL, *we2 = NULL;
	int r;

	r = vbd__ctx_timer(c, vbd__now_ms() + timeout_ms, timed_out, w, &w->timer);
	if (r < 0 ||
	    (r = vbd__ctx_watch(c, w->p->be, check, w, &wb)) < 0 ||
	    (r = vbd__ctx_watch(c, w->p->fe, check, w, &wf)) < 0 ||
	    (!w->detach && (r = vbd__ctx_watch(c, w->p->be_err, check, w, &we1)) < 0) ||
	    (!w->detach && (r = vbd__ctx_watch(c, w->p->fe_err, check, w, &we2)) < 0))
		goto out;
	while (!w->done) {
		struct pollfd pf = { vbd_ctx_get_fd(c), POLLIN, 0 };

		if (poll(&pf, 1, vbd_ctx_get_timeout_ms(c)) < 0 && errno != EINTR) {
			r = vbd__errf(&c->err, -errno, "poll: %s", strerror(errno));
			goto out;
		}
		r = vbd_ctx_process(c);
		if (r < 0)
			goto out;
	}
	r = w->result;
out:
	vbd__ctx_unwatch(c, wb);
	vbd__ctx_unwatch(c, wf);
	vbd__ctx_unwatch(c, we1);
	vbd__ctx_unwatch(c, we2);
	vbd__ctx_timer_cancel(c, w->timer);
	return r;
}

/* Checks what can be checked before anything is written. */
static int validate(vbd_ctx *c, const vbd_attach_options *o, char **ret_params)
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
	/* As root, only a read-only file system, device or immutable file says
	 * no; opening for writing is what asks all of them. */
	fd = open(params, (d->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		r = vbd__errf(&c->err, errno == EPERM ? -EROFS : -errno, "target %s cannot be opened %s: %s",
		              params, d->readonly ? "for reading" : "for writing (access=w)",
		              strerror(errno));
		free(params);
		return r;
	}
	close(fd);
	*ret_params = params;
	return 0;
}

int vbd_dev_attach_wait(vbd_ctx *c, const vbd_attach_options *o)
{
	const char *script;
	char *params = NULL;
	dev_paths p;
	waiter w = { 0 };
	bool nodes = false, plugged = false;
	int r;

	if (!c || !o || o->version != VBD_ATTACH_OPTIONS_VERSION || !o->spec)
		return -EINVAL;
	c->err.msg[0] = 0;
	dev_paths_init(&p, o->backend_domid, o->domid, o->spec->devid);
	script = o->script ? o->script : VBD_HOTPLUG_SCRIPT;
	if ((r = validate(c, o, &params)) < 0)
		goto out;
	if ((r = write_nodes(c, o, &p, params, script)) < 0)
		goto out;
	nodes = true;
	vbd__log(c, VBD_LOG_INFO, "%s: nodes written, running hotplug", p.be);
	plugged = true;       /* a failed add may have left something: remove runs */
	if ((r = hotplug(c, &p, o->backend_domid, script, o->script_timeout_ms, VBD_HOTPLUG_ADD)) < 0)
		goto out;
	if (o->wait == VBD_WAIT_NONE)
		goto out;
	w.p = &p;
	w.goal = o->wait;
	r = wait_loop(c, &w, o->timeout_ms ? o->timeout_ms : 30000);
out:
	if (r < 0 && nodes) {
		vbd_errbuf keep = c->err;

		/* Roll back; the first failure stays the one reported. */
		vbd__log(c, VBD_LOG_WARNING, "%s: attach failed, rolling back: %s", p.be, keep.msg);
		if (plugged)
			hotplug(c, &p, o->backend_domid, script, o->script_timeout_ms, VBD_HOTPLUG_REMOVE);
		remove_nodes(c, &p);
		c->err = keep;
	}
	free(params);
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

int vbd_dev_detach_wait(vbd_ctx *c, const vbd_detach_options *o)
{
	char *script = NULL;
	vbd__dev_loc loc;
	unsigned bdom;
	waiter w = { 0 };
	bool bound;
	dev_paths p;
	int r;

	if (!c || !o || o->version != VBD_DETACH_OPTIONS_VERSION)
		return -EINVAL;
	c->err.msg[0] = 0;
	if ((r = vbd__dev_locate(c, o->domid, o->devid, &loc)) < 0) {
		r = vbd__errf(&c->err, r, "reading /libxl/%u/device/vbd/%u: %s", o->domid, o->devid,
		              strerror(-r));
		goto out;
	}
	bdom = loc.bdom;
	dev_paths_init(&p, bdom, o->domid, o->devid);
	if (!(script = vbd__xs_read(c, XBT_NULL, "%s/script", p.lx)) && errno != ENOENT)
		goto read_failed;
	if (!loc.in_libxl) {
		/* No copy: a device written by someone else, or half removed. */
		int eb = node_exists(c, XBT_NULL, p.be), ef = node_exists(c, XBT_NULL, p.fe);

		if (eb < 0 || ef < 0) {
			r = vbd__errf(&c->err, eb < 0 ? eb : ef, "reading the device nodes: %s",
			              strerror(-(eb < 0 ? eb : ef)));
			goto out;
		}
		if (!eb && !ef) {
			r = vbd__errf(&c->err, -ENOENT, "domain %u has no device %u", o->domid, o->devid);
			goto out;
		}
	}
	/* Ask both ends to close: online=0, state=5 unless already Closed.  A
	 * backend still Initialising has no driver to answer: no wait then. */
	r = read_state(c, p.be);
	if (r < -1) {
		r = vbd__errf(&c->err, r, "reading %s/state: %s", p.be, strerror(-r));
		goto out;
	}
	bound = r >= VBD_STATE_INITWAIT;
	{
		struct close_job j = { c, &p };

		r = vbd__xs_txn(c->xs, TXN_RETRIES, close_body, &j);
		if (r < 0) {
			vbd__errf(&c->err, r, "asking %s to close: %s", p.be, strerror(-r));
			goto out;
		}
	}
	w.p = &p;
	w.detach = true;
	r = bound ? wait_loop(c, &w, o->timeout_ms ? o->timeout_ms : 10000) : 0;
	if (r < 0 && !o->force)
		goto out;
	if (r < 0)
		vbd__log(c, VBD_LOG_WARNING, "%s: %s; forcing", p.be, c->err.msg);
	/* Both ends are Closed (or forced): free what the backend served from. */
	r = hotplug(c, &p, bdom, script, 0, VBD_HOTPLUG_REMOVE);
	if (r < 0 && !o->force)
		goto out;
	r = remove_nodes(c, &p);
	goto out;
read_failed:
	r = vbd__errf(&c->err, -errno, "reading %s: %s", p.lx, strerror(errno));
out:
	free(script);
	return r;
}
