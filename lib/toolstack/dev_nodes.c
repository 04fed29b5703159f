/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device's nodes in libxl's layout, and the transactions that write,
 * remove and close them.
 *
 * Example: xvdb (51728) of /data/disk0.img for domain 1, backend dom0.
 *   /local/domain/0/backend/vbd/1/51728  (n0,r1): frontend, params, script,
 *       frontend-id, online=1, removable, bootable, state=1, dev, type=phy,
 *       mode, device-type, discard-enable, specification
 *   /local/domain/1/device/vbd/51728     (n1,r0): backend, backend-id,
 *       state=1, virtual-device, device-type, trusted, protocol
 *   /libxl/1/device/vbd/51728            (n0): frontend, backend, then the
 *       backend's keys from params on
 * are written in one transaction that first finds none of the three (else
 * -EEXIST).  For dom0's own backend with the built-in hotplug step, the
 * step's writes (physical-device, hotplug-status, its record and index
 * entry: hotplug/step.c) end the same transaction: the caller set up the
 * loop device before it.  Removing takes the three dirs and the drivers' error nodes,
 * then each parent left empty, up to a domain's home or /libxl.
 * The layout is libxl 4.17's key for key (tests/golden/).
 *
 * backendtype=tap differs in three places only, as in libxl since it serves
 * tap again: the backend dir is backend/vbd3/1/51728 (the frontend's
 * "backend" and the /libxl copy's say so), params is "aio:/data/disk0.img",
 * and type is "vbd3".  The frontend dir and the /libxl copy stay under vbd.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/dev_internal.h"

const char *vbd__dev_kind_name(vbd__dev_kind kind)
{
	return kind == VBD__KIND_VBD3 ? "vbd3" : "vbd";
}

void vbd__dev_paths_init(vbd__dev_paths *p, vbd__dev_kind kind, unsigned bdom, unsigned dom,
                         uint32_t devid)
{
	const char *k = vbd__dev_kind_name(kind);

	p->kind = kind;
	snprintf(p->be, sizeof(p->be), "/local/domain/%u/backend/%s/%u/%u", bdom, k, dom, devid);
	snprintf(p->fe, sizeof(p->fe), "/local/domain/%u/device/vbd/%u", dom, devid);
	snprintf(p->lx, sizeof(p->lx), "/libxl/%u/device/vbd/%u", dom, devid);
	/* Where Linux's xenbus_dev_fatal() writes: error/<nodename>/error under
	 * the writing domain's home. */
	snprintf(p->be_err, sizeof(p->be_err), "/local/domain/%u/error/backend/%s/%u/%u/error",
	         bdom, k, dom, devid);
	snprintf(p->fe_err, sizeof(p->fe_err), "/local/domain/%u/error/device/vbd/%u/error",
	         dom, devid);
}

/* The drivers' error nodes of a device: error/<nodename> under each
 * writer's home (vbd__dev_paths' be_err/fe_err without the final "/error"). */
static void error_dirs(const vbd__dev_paths *p, char be[128], char fe[128])
{
	snprintf(be, 128, "%s", p->be_err);
	snprintf(fe, 128, "%s", p->fe_err);
	*strrchr(be, '/') = 0;
	*strrchr(fe, '/') = 0;
}

typedef struct kv {
	const char *k;
	char v[3100];
} kv;

/* The backend keys, in libxl's order; also the /libxl copy's. */
static unsigned backend_keys(kv *out, const vbd_attach_options *o, const vbd__dev_paths *p,
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
	KV("state", "%d", VBD_STATE_INITIALISING);
	KV("dev", "%s", d->vdev);
	/* libxl's string for the backend type: "vbd3" for tap since it
	 * serves tap again (docs/protocol.md). */
	KV("type", "%s", p->kind == VBD__KIND_VBD3 ? "vbd3" : "phy");
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

static unsigned frontend_keys(kv *out, const vbd_attach_options *o, const vbd__dev_paths *p)
{
	const vbd_disk_spec *d = o->spec;
	unsigned n = 0;

#define KV(key, ...) do { out[n].k = key; snprintf(out[n].v, sizeof(out[n].v), __VA_ARGS__); n++; } while (0)
	KV("backend", "%s", p->be);
	KV("backend-id", "%u", o->backend_domid);
	KV("state", "%d", VBD_STATE_INITIALISING);
	KV("virtual-device", "%u", d->devid);
	KV("device-type", "%s", d->cdrom ? "cdrom" : "disk");
	KV("trusted", "%d", d->trusted ? 1 : 0);
	KV("protocol", "x86_64-abi");
#undef KV
	return n;
}

/* The kind in a backend path of dom0's own /libxl copy:
 * /local/domain/<n>/backend/<kind>/...  Anything else is vbd, the
 * default, as before there were two kinds. */
static vbd__dev_kind kind_of(const char *be)
{
	unsigned n;
	int end = 0;

	if (sscanf(be, "/local/domain/%u/backend/%n", &n, &end) == 1 && end &&
	    !strncmp(be + end, "vbd3/", 5))
		return VBD__KIND_VBD3;
	return VBD__KIND_VBD;
}

int vbd__dev_locate(vbd_ctx *c, unsigned domid, uint32_t devid, vbd__dev_loc *ret)
{
	char *be = vbd__xb_read(c->xs, XBT_NULL, "/libxl/%u/device/vbd/%u/backend", domid, devid);
	int r;

	if (!be && errno != ENOENT)
		return -(errno ? errno : EIO);
	r = vbd__dev_locate_from(c, domid, devid, be, ret);
	free(be);
	return r;
}

int vbd__dev_locate_from(vbd_ctx *c, unsigned domid, uint32_t devid, const char *be,
                         vbd__dev_loc *ret)
{
	ret->in_libxl = be != NULL;
	if (!be || sscanf(be, "/local/domain/%u/", &ret->bdom) != 1)
		ret->bdom = 0;
	ret->kind = be ? kind_of(be) : VBD__KIND_VBD;
	if (!ret->in_libxl) {
		/* No copy (half removed, or written by someone else): dom0's own
		 * vbd3 dir, when there is one and no vbd dir. */
		char p1[96], p3[96];
		int ev, e3;

		snprintf(p1, sizeof(p1), "/local/domain/0/backend/vbd/%u/%u", domid, devid);
		snprintf(p3, sizeof(p3), "/local/domain/0/backend/vbd3/%u/%u", domid, devid);
		ev = vbd__xb_exists(c->xs, XBT_NULL, p1);
		e3 = ev ? 0 : vbd__xb_exists(c->xs, XBT_NULL, p3);

		if (ev < 0 || e3 < 0)
			return ev < 0 ? ev : e3;
		if (e3)
			ret->kind = VBD__KIND_VBD3;
	}
	snprintf(ret->be, sizeof(ret->be), "/local/domain/%u/backend/%s/%u/%u", ret->bdom,
	         vbd__dev_kind_name(ret->kind), domid, devid);
	snprintf(ret->fe, sizeof(ret->fe), "/local/domain/%u/device/vbd/%u", domid, devid);
	return 0;
}

/* Records the dir, its perms and its keys: 0 or -errno. */
static int write_dir(vbd__xb_batch *b, const char *dir, struct xs_permissions *perms,
                     unsigned nperms, const kv *keys, unsigned n)
{
	unsigned i;
	int r;

	/* The dir and its perms first: the keys inherit them. */
	if ((r = vbd__xb_batch_mkdir(b, dir)) < 0 ||
	    (r = vbd__xb_batch_set_perms(b, dir, perms, nperms)) < 0)
		return r;
	for (i = 0; i < n; i++)
		if ((r = vbd__xb_batch_printf(b, dir, keys[i].k, "%s", keys[i].v)) < 0)
			return r;
	return 0;
}

struct write_job {
	vbd_ctx *c;
	const vbd_attach_options *o;
	const vbd__dev_paths *p;
	kv be[16], fe[8], lx[18];
	unsigned nbe, nfe, nlx;
	const char *failed;      /* the node a request could not read or write */
	vbd__dev_also_fn also;
	void *also_ud;
	bool also_failed;        /* also said why itself */
	bool no_home;            /* the frontend domain's home is missing */
};

/* The frontend domain's home, read first in the transaction: absent, the
 * domain does not exist, and nothing of the transaction lands. */
static int home_check(const char *val, int err, void *ud)
{
	struct write_job *w = ud;

	(void)val;
	w->no_home = err == -ENOENT;
	return err < 0 ? err : 0;
}

/* also's checks ahead of *b's requests, its writes after them: the reads
 * its writes were decided on are answered first, before anything of the
 * transaction is written (so none is a read of its own writes), and fail
 * it early.  0, or also's failure (w->also_failed) or a recording's. */
static int with_also(struct write_job *w, vbd__xb_batch **b)
{
	vbd__xb_batch *chk = NULL, *wr = NULL;
	int r;

	if (!w->also)
		return 0;
	w->also_failed = false;
	if ((r = vbd__xb_batch_new(&chk)) < 0 || (r = vbd__xb_batch_new(&wr)) < 0)
		goto out;
	if ((r = w->also(chk, wr, w->also_ud)) < 0) {
		w->also_failed = true;
		goto out;
	}
	if ((r = vbd__xb_batch_append(chk, *b)) < 0 || (r = vbd__xb_batch_append(chk, wr)) < 0)
		goto out;
	vbd__xb_batch_free(*b);
	*b = chk;
	chk = NULL;
out:
	vbd__xb_batch_free(chk);
	vbd__xb_batch_free(wr);
	return r;
}

/* The transaction's requests, sent together (xs_batch.c): about fifty, so
 * one round trip per window instead of one per request. */
static int write_body(vbd__xb_batch *b, struct write_job *w)
{
	const vbd_attach_options *o = w->o;
	const vbd__dev_paths *p = w->p;
	const char *dirs[3] = { p->lx, p->be, p->fe };
	struct xs_permissions be_perms[2] = { { o->backend_domid, XS_PERM_NONE }, { o->domid, XS_PERM_READ } };
	struct xs_permissions fe_perms[2] = { { o->domid, XS_PERM_NONE }, { o->backend_domid, XS_PERM_READ } };
	struct xs_permissions lx_perms[1] = { { 0, XS_PERM_NONE } };
	char home[32];
	int d, e;

	snprintf(home, sizeof(home), "/local/domain/%u", o->domid);
	if (vbd__dev_home_in_txn(w->c, o->domid) &&
	    (e = vbd__xb_batch_check(b, home, home_check, w)) < 0)
		return e;
	/* "Device exists" is decided on libxl's copy, like xl; the two dirs
	 * are checked too, so a leftover is never overwritten (-EEXIST, and
	 * the transaction with everything after it is aborted). */
	for (d = 0; d < 3; d++)
		if ((e = vbd__xb_batch_absent(b, dirs[d])) < 0)
			return e;
	/* Error nodes left by drivers of an earlier device at this path
	 * (a crash, another toolstack) are not this device's. */
	{
		char be_err[128], fe_err[128];

		error_dirs(p, be_err, fe_err);
		if ((e = vbd__xb_batch_rm(b, be_err)) < 0 || (e = vbd__xb_batch_rm(b, fe_err)) < 0)
			return e;
	}
	if ((e = write_dir(b, p->be, be_perms, 2, w->be, w->nbe)) < 0 ||
	    (e = write_dir(b, p->fe, fe_perms, 2, w->fe, w->nfe)) < 0)
		return e;
	return write_dir(b, p->lx, lx_perms, 1, w->lx, w->nlx);
}

int vbd__dev_write_nodes(vbd_ctx *c, const vbd_attach_options *o, const vbd__dev_paths *p,
                         const char *params, const char *script,
                         vbd__dev_also_fn also, void *also_ud)
{
	/* On the heap (about 130 KB): contexts in different threads attach at
	 * once, so nothing here may be static. */
	struct write_job *w = calloc(1, sizeof(*w));
	vbd__xb_batch *b = NULL;
	vbd__xb_wire *wire;
	unsigned i, try;
	int r;

	if (!w)
		return vbd__errf(&c->err, -ENOMEM, "writing the device nodes: out of memory");
	w->c = c;
	w->o = o;
	w->p = p;
	w->also = also;
	w->also_ud = also_ud;
	w->nbe = backend_keys(w->be, o, p, params, script);
	w->nfe = frontend_keys(w->fe, o, p);
	w->lx[w->nlx].k = "frontend";
	snprintf(w->lx[w->nlx++].v, sizeof(w->lx[0].v), "%s", p->fe);
	w->lx[w->nlx].k = "backend";
	snprintf(w->lx[w->nlx++].v, sizeof(w->lx[0].v), "%s", p->be);
	for (i = 1; i < w->nbe; i++)   /* the backend keys but "frontend", already there */
		w->lx[w->nlx++] = w->be[i];

	for (try = 0;; try++) {
		w->failed = NULL;
		w->no_home = false;
		b = vbd__xb_batch_free(b);
		if ((r = vbd__xb_batch_new(&b)) < 0 || (r = write_body(b, w)) < 0 ||
		    (r = vbd__xb_bus_wire(c->bus, &wire)) < 0 || (r = with_also(w, &b)) < 0)
			goto out;
		r = vbd__xb_batch_run(wire, b, &w->failed);
		/* What also did while the store worked failed: it says why. */
		if (r < 0 && (vbd__xb_batch_while_err(b) || vbd__xb_batch_start_err(b)))
			w->also_failed = true;
		/* Another answer to a read also decided on (or a commit that
		 * kept meeting another's): read again, record again. */
		if (r != -EAGAIN || !also || try + 1 >= VBD__XB_TXN_TRIES)
			break;
		vbd__xb_txn_pause(try);
	}
out:
	if (r < 0 && w->also_failed)
		;   /* the caller says why */
	else if (r == -ENOENT && w->no_home)
		vbd__errf(&c->err, r, "frontend domain: no domain %u (/local/domain/%u is missing)",
		          o->domid, o->domid);
	else if (r == -EEXIST)
		vbd__errf(&c->err, r, "device %s of domain %u exists already (%s); "
		          "detach it first (--force for leftovers)", o->spec->vdev, o->domid, w->failed);
	else if (r < 0 && w->failed)
		vbd__errf(&c->err, r, "writing the device nodes: %s: %s", w->failed, strerror(-r));
	else if (r < 0)
		vbd__errf(&c->err, r, "writing the device nodes: %s", strerror(-r));
	vbd__xb_batch_free(b);
	free(w);
	return r;
}

/* Whether only dom0 can give dir a value: under /libxl, or under dom0's
 * home, where every node of libxl's layout is dom0's (n0, read at most for
 * a guest).  A guest's home has nodes the guest may write (its device/,
 * its error/), so theirs are read. */
static bool dom0_only(const char *dir)
{
	return !strncmp(dir, "/libxl/", 7) || !strncmp(dir, "/local/domain/0/", 16);
}

/* A parent the prune never removes: /local/domain/<id>, a guest's error/
 * (libxl makes it with the home; dom0's is made by the first driver
 * error) and /libxl.  An empty /libxl/<id> goes: libxl's own keys there
 * keep a domain's. */
static bool kept_parent(const char *dir)
{
	unsigned depth = 0;
	const char *q;

	for (q = dir; *q; q++)
		depth += *q == '/';
	return (!strncmp(dir, "/local/domain/", 14) && depth <= 3) ||
	       (!strncmp(dir, "/local/domain/", 14) && depth == 4 &&
	        !strcmp(strrchr(dir, '/'), "/error") && strcmp(dir, "/local/domain/0/error")) ||
	       (!strncmp(dir, "/libxl", 6) && depth <= 1);
}

/* Removes path and then its parents left empty, up to a domain's home or
 * /libxl/<domid>, as libxl's libxl__xs_path_cleanup: a parent goes if it
 * has no other child and no value.  The parents are looked at before
 * anything goes; then path goes, and the highest parent that would be
 * left empty goes with everything under it, in one request more.
 *
 * Example: /local/domain/0/backend/vbd/1/51728, the guest's last device:
 * backend/vbd/1 lists {51728}, backend/vbd {1}, backend {vbd, vbd3}, so
 * the device and then backend/vbd go: 5 requests, where removing the
 * device and then each emptied parent took 7.  A path that is not there has nothing to remove,
 * but its parent, if empty, goes as above (a driver domain removed its
 * backend dir first).
 *
 * The value of a parent only dom0 writes is not read: libxl's layout gives
 * none of them one, and neither does this library; a guest's are read.
 * 0 or -errno. */
static int remove_pruned(struct xs_handle *xs, xs_transaction_t t, const char *path)
{
	char dir[256], *slash, **kids, *v;
	size_t top;
	unsigned n, i;
	bool first = true, there = true, listed, keep;

	snprintf(dir, sizeof(dir), "%s", path);
	top = strlen(dir);
	while ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = 0;   /* dir: the parent; slash + 1: its child on the path */
		if (kept_parent(dir))
			break;
		kids = xs_directory(xs, t, dir, &n);
		if (!kids && errno != ENOENT)
			return -(errno ? errno : EIO);
		if (!kids)
			return 0;     /* only the first parent can be absent: path too */
		for (i = 0, listed = false; i < n; i++)
			listed |= !strcmp(kids[i], slash + 1);
		free(kids);
		if (first)
			there = listed;
		first = false;
		if (n > (listed ? 1u : 0u))
			break;        /* another child stays */
		v = dom0_only(dir) ? NULL : vbd__xb_read(xs, t, "%s", dir);
		keep = v && *v;
		free(v);
		if (keep)
			break;
		top = strlen(dir);
	}
	if (top == strlen(path) && !there)
		return 0;
	/* When a parent goes too, the device's own dir goes first, by a
	 * request of its own: a Linux frontend's xenbus takes the removal of
	 * "device/vbd" (fewer than two components below its watch on
	 * "device") for nothing, so only an event that names device/vbd/<id>
	 * unplugs the guest's disk.  libxl removes the leaf first too. */
	if (top < strlen(path) && there) {
		int r = vbd__xb_rm(xs, t, path);

		if (r < 0)
			return r;
	}
	snprintf(dir, sizeof(dir), "%.*s", (int)top, path);
	return vbd__xb_rm(xs, t, dir);
}

int vbd__dev_remove_nodes_in(struct xs_handle *xs, xs_transaction_t t, void *paths)
{
	const vbd__dev_paths *p = paths;
	char be_err[128], fe_err[128];
	const char *dirs[5] = { p->fe, p->be, p->lx, be_err, fe_err };
	int i, r;

	/* A driver's error node outlives nothing: the next attach of this
	 * vdev would otherwise fail on it at once. */
	error_dirs(p, be_err, fe_err);
	for (i = 0; i < 5; i++)
		if ((r = remove_pruned(xs, t, dirs[i])) < 0)
			return r;
	return 0;
}

/* ---- the same, pipelined: remove_pruned() in two windows ----
 *
 * Every parent remove_pruned() could look at is listed (and a guest's
 * value read) in the first window, 15-20 requests answered together; then
 * each path is planned as remove_pruned() decides it, and the removals go
 * in the second window.  The five paths' parents are apart (so what one
 * removes, another's listing does not show), but for the two error dirs
 * of a frontend in dom0, both under /local/domain/0/error; that is one of
 * the cases below that goes one by one.  4 round trips where one by one a
 * detach's removal took about 20.  An error node's dir is rarely there
 * (a driver wrote an error): only its nearest parent is listed, and when
 * that is there and the prune would look further, the plan says so (2)
 * and the caller removes one by one: so the requests are those the prune
 * makes one by one, but for the two values of a guest's dirs, read
 * whether or not another device keeps them. */

static void rm_plan_clear(vbd__dev_rm_plan *pl)
{
	unsigned i, j;

	for (i = 0; i < VBD__DEV_RM_PATHS; i++)
		for (j = 0; j < pl->path[i].nanc; j++)
			vbd__xb_list_clear(&pl->path[i].anc[j].list);
	memset(pl->path, 0, sizeof(pl->path));
}

static int take_value(const char *val, int err, void *ud)
{
	struct vbd__dev_rm_anc *a = ud;

	a->has_value = err == 0 && val && *val;
	return 0;
}

static int rm_plan_reads(vbd__xb_batch *b, void *ud)
{
	vbd__dev_rm_plan *pl = ud;
	const vbd__dev_paths *p = pl->p;
	unsigned i;
	int r = 0;

	rm_plan_clear(pl);
	error_dirs(p, pl->be_err, pl->fe_err);
	pl->path[0].path = p->fe;
	pl->path[1].path = p->be;
	pl->path[2].path = p->lx;
	pl->path[3].path = pl->be_err;
	pl->path[4].path = pl->fe_err;
	for (i = 0; i < VBD__DEV_RM_PATHS && r == 0; i++) {
		struct vbd__dev_rm_path *rp = &pl->path[i];
		char dir[sizeof(rp->anc[0].dir)], *slash;
		bool error_dir = i >= 3;

		snprintf(dir, sizeof(dir), "%s", rp->path);
		while (r == 0 && (slash = strrchr(dir, '/')) && slash != dir) {
			struct vbd__dev_rm_anc *a;

			*slash = 0;
			if (kept_parent(dir))
				break;
			if (rp->nanc == VBD__DEV_RM_ANC || (error_dir && rp->nanc == 1)) {
				rp->cut = true;
				break;
			}
			a = &rp->anc[rp->nanc++];
			snprintf(a->dir, sizeof(a->dir), "%s", dir);
			r = vbd__xb_batch_dir(b, a->dir, vbd__xb_list_take, &a->list);
			a->value_read = !error_dir && !dom0_only(dir);
			if (r == 0 && a->value_read)
				r = vbd__xb_batch_check(b, a->dir, take_value, a);
		}
	}
	return r;
}

/* remove_pruned(), decided on the listings. */
static int rm_plan_path(vbd__xb_batch *b, const struct vbd__dev_rm_path *rp)
{
	char top[sizeof(rp->anc[0].dir)], child[sizeof(rp->anc[0].dir)];
	bool first = true, there = true;
	size_t plen = strlen(rp->path), t = plen;
	unsigned j;
	int r;

	for (j = 0; j < rp->nanc; j++) {
		const struct vbd__dev_rm_anc *a = &rp->anc[j];
		const char *q, *name;
		unsigned n = 0;
		bool listed = false;
		size_t dl = strlen(a->dir);

		if (a->list.err && a->list.err != -ENOENT)
			return a->list.err > 0 ? -EIO : a->list.err;
		if (a->list.err == -ENOENT)
			return 0;     /* only the first parent can be absent: path too */
		/* The child on the path below this parent. */
		name = rp->path + dl + 1;
		snprintf(child, sizeof(child), "%.*s", (int)strcspn(name, "/"), name);
		for (q = a->list.names; q && q < a->list.names + a->list.len; q += strlen(q) + 1) {
			n++;
			listed |= !strcmp(q, child);
		}
		if (first)
			there = listed;
		first = false;
		if (n > (listed ? 1u : 0u))
			break;          /* another child stays */
		if (!a->value_read && !dom0_only(a->dir))
			return 2;       /* its value was not read: one by one */
		if (a->has_value)
			break;
		t = dl;
		if (j + 1 == rp->nanc && rp->cut)
			return 2;       /* the next parent was not listed */
	}
	if (t == plen && !there)
		return 0;
	/* As remove_pruned(): the device's own dir first when a parent goes. */
	if (t < plen && there && (r = vbd__xb_batch_rm(b, rp->path)) < 0)
		return r;
	snprintf(top, sizeof(top), "%.*s", (int)t, rp->path);
	return vbd__xb_batch_rm(b, top);
}

static int rm_plan_removals(vbd__xb_batch *b, void *ud)
{
	vbd__dev_rm_plan *pl = ud;
	unsigned i;
	int r = 0;

	for (i = 0; i < VBD__DEV_RM_PATHS && r == 0; i++)
		r = rm_plan_path(b, &pl->path[i]);
	return r;
}

void vbd__dev_rm_part(vbd__dev_rm_plan *pl, const vbd__dev_paths *p, vbd__xb_part *ret)
{
	memset(pl, 0, sizeof(*pl));
	pl->p = p;
	ret->reads = rm_plan_reads;
	ret->plan = rm_plan_removals;
	ret->ud = pl;
}

void vbd__dev_rm_plan_free(vbd__dev_rm_plan *pl)
{
	rm_plan_clear(pl);
}

int vbd__dev_remove_nodes(vbd_ctx *c, const vbd__dev_paths *p)
{
	vbd__dev_rm_plan pl;
	vbd__xb_part part;
	int r;

	vbd__dev_rm_part(&pl, p, &part);
	r = vbd__xb_bus_run_parts(c->bus, &part, 1);
	vbd__dev_rm_plan_free(&pl);
	if (r != 0)     /* one by one, as it always could */
		r = vbd__xb_txn(c->xs, vbd__dev_remove_nodes_in, (void *)p);

	if (r < 0)
		vbd__errf(&c->err, r, "removing the device nodes: %s", strerror(-r));
	return r;
}


/* Ask both ends to close: online=0, state=Closing unless already Closed.
 * The state it found is the caller's too (-1: absent or not a number), so
 * that nobody reads it again. */

struct close_job {
	const vbd__dev_paths *p;
	int state;
};

static int close_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct close_job *j = ud;
	const vbd__dev_paths *p = j->p;
	int st = vbd__xb_read_state(xs, t, p->be), r;

	j->state = st < 0 ? -1 : st;
	if (st == -ENOENT)
		return 0;
	if (st < 0 && st != -EINVAL)   /* garbage is not Closed: ask it to close */
		return st;
	r = vbd__xb_printf(xs, t, p->be, "online", "0");
	if (r == 0 && st != VBD_STATE_CLOSED)
		r = vbd__xb_printf(xs, t, p->be, "state", "%d", VBD_STATE_CLOSING);
	return r;
}

/* The batch's read of the backend's state: on when it is not Closed (the
 * writes after it, in flight already, stand); 1 when it is absent
 * (nothing to close), 2 when it is Closed (the writes were for another
 * state: the transaction again, one by one). */
static int close_check(const char *val, int err, void *ud)
{
	struct close_job *j = ud;
	unsigned long long v;

	if (err == -ENOENT)
		return 1;
	if (err < 0)
		return err;
	if (vbd__parse_num_max(val, VBD_STATE_RECONFIGURED, &v) < 0)
		return 0;          /* garbage is not Closed, as close_body() */
	j->state = (int)v;
	return v == VBD_STATE_CLOSED ? 2 : 0;
}

/* close_body() pipelined, guessing the backend is not Closed: its state
 * read, online and state written in one window (3 round trips, not 5).
 * 0 (closed, or nothing there: j->state -1), 2: Closed after all, or
 * -errno: the caller runs close_body() instead (both are idempotent). */
static int close_batch(vbd_ctx *c, struct close_job *j)
{
	char path[sizeof(j->p->be) + 8];
	vbd__xb_batch *b = NULL;
	int r = vbd__xb_batch_new(&b);

	snprintf(path, sizeof(path), "%s/state", j->p->be);
	if (r == 0)
		r = vbd__xb_batch_check(b, path, close_check, j);
	if (r == 0)
		r = vbd__xb_batch_printf(b, j->p->be, "online", "0");
	if (r == 0)
		r = vbd__xb_batch_printf(b, j->p->be, "state", "%d", VBD_STATE_CLOSING);
	if (r == 0)
		r = vbd__xb_bus_run(c->bus, b, NULL);
	vbd__xb_batch_free(b);
	if (r == 1) {
		j->state = -1;
		r = 0;
	}
	return r;
}

int vbd__dev_close_backend(vbd_ctx *c, const vbd__dev_paths *p, int *ret_state)
{
	struct close_job j = { p, -1 };
	int r = close_batch(c, &j);

	if (r != 0) {
		j.state = -1;
		r = vbd__xb_txn(c->xs, close_body, &j);
	}

	if (r < 0)
		return vbd__errf(&c->err, r, "asking %s to close: %s", p->be, strerror(-r));
	if (ret_state)
		*ret_state = j.state;
	return r;
}

/* A device with a gone end (a reap): see dev_internal.h.  Nothing read
 * here decides anything but whether a node is there: the paths are dom0's
 * (from the /libxl copy), and the dead domain's values are only replaced. */

struct gone_job {
	const vbd__dev_paths *p;
	unsigned gone;
	bool be, fe;
};

static int gone_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct gone_job *j = ud;
	int eb = vbd__xb_exists(xs, t, j->p->be), ef = vbd__xb_exists(xs, t, j->p->fe), r = 0;

	if (eb < 0 || ef < 0)
		return eb < 0 ? eb : ef;
	j->be = eb;
	j->fe = ef;
	/* A gone backend's dir is never made again: a frontend whose backend
	 * dir went learns it from its own dir's removal. */
	if (eb && (j->gone & VBD__GONE_BE)) {
		r = vbd__xb_printf(xs, t, j->p->be, "online", "0");
		if (r == 0)
			r = vbd__xb_printf(xs, t, j->p->be, "state", "%d", VBD_STATE_CLOSED);
	} else if (eb) {
		struct close_job cj = { j->p, -1 };

		r = close_body(xs, t, &cj);
	}
	if (r == 0 && ef && (j->gone & VBD__GONE_FE))
		r = vbd__xb_rm(xs, t, j->p->fe);
	return r;
}

int vbd__dev_close_gone(vbd_ctx *c, const vbd__dev_paths *p, unsigned gone, bool *ret_be,
                        bool *ret_fe)
{
	struct gone_job j = { p, gone, false, false };
	int r = vbd__xb_txn(c->xs, gone_body, &j);

	if (r < 0)
		return vbd__errf(&c->err, r, "asking %s to close: %s", p->be, strerror(-r));
	*ret_be = j.be;
	*ret_fe = j.fe;
	return 0;
}
