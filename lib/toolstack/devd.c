/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devd: the hotplug step for every vbd backend of the domain it runs in, as
 * xl devd runs it for a libxl driver domain.
 *
 * Example: devd runs in driver domain 2; dom0 attaches guest 1's xvdb with
 * backend=2 and writes
 *   /local/domain/2/backend/vbd/1/51728  online=1 state=1 params=/img ...
 * The watch on /local/domain/2/backend/vbd fires for it: online=1, state
 * Initialising, no hotplug-status, so devd runs the step's ADD (built in:
 * a loop device over /img, physical-device, hotplug-status=connected).  At
 * detach dom0 writes online=0 and the backend goes Closed: devd runs
 * REMOVE (the loop device is freed by this domain's record) and removes
 * the backend dir, which is what dom0's detach waits for.
 *
 * One runner per device: the built-in ADD claims the backend in a
 * transaction, so an ADD by devd and one by udev or vbdctl attach end with
 * one loop device; REMOVE goes by this domain's record and is a no-op
 * without one.  In dom0 a script other than vbd-block is the toolstack's to
 * run (libxl since 4.6, vbdctl attach): devd leaves it.  In a driver domain
 * nobody else runs it, and devd runs it as libxl runs scripts.
 *
 * A tap disk (backend/vbd3, served by a userspace backend) is handled the
 * same way under its own watch; the built-in step makes no loop device
 * for it.
 *
 * Restart: the watch's first event makes a pass over every backend; what
 * is plugged (hotplug-status set) is left alone, what is offline and
 * Closed gets REMOVE.  A backend whose dir went while no devd ran is found
 * by this domain's record of its ADD (data/libvbd/backend/2-1-51728 for
 * the one above): built-in REMOVE, which deletes the record, so once.  A
 * script killed with the devd that ran it left no hotplug-status: it runs
 * again.
 *
 * The trust rule: in dom0 the backend dir and the /libxl copy are dom0's;
 * in a driver domain its own backend dir is its own (and dom0's).  Nothing
 * a frontend writes is read here.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/ctx.h"
#include "toolstack/hotplug/hotplug_internal.h"
#include "toolstack/script.h"
#include "util/opts.h"
#include "vbd/dev.h"
#include "vbd/hotplug.h"

/* Devices of one frontend, frontends of this backend domain: a store
 * quota keeps them far below this; the list is this domain's own. */
#define DEVD_SCAN_MAX 4096

typedef struct devd_job devd_job;

/* One backend kind this domain serves: vbd (kernel blkback, or the
 * bundled backend) and vbd3 (tap, a userspace backend). */
typedef struct devd_kind {
	vbd_devd *d;
	char home[64];              /* /local/domain/<own>/backend/<kind> */
	size_t rel;                 /* where "backend/<kind>" starts in home */
	vbd__watch *w;
} devd_kind;

struct devd_job {
	devd_job *next;
	vbd_devd *d;
	devd_kind *k;
	char be[96];
	vbd_hotplug_action action;
	vbd__script *s;
};

struct vbd_devd {
	vbd_ctx *c;
	vbd_devd_options o;
	unsigned own;
	devd_kind kinds[2];         /* vbd, vbd3 */
	vbd_reaper *reaper;         /* dom0 only */
	devd_job *jobs;             /* scripts running */
	vbd_devd_fn fn;
	void *ud;
};

static void examine(devd_kind *k, unsigned fe, unsigned devid);

static void report(vbd_devd *d, const char *be, vbd_hotplug_action action, int r)
{
	vbd_ctx *c = d->c;

	if (r < 0)
		vbd__log(c, VBD_LOG_WARNING, "devd: %s: hotplug %s failed: %s", be ? be : "reap",
		         action == VBD_HOTPLUG_ADD ? "add" : "remove", c->err.msg);
	else
		vbd__log(c, VBD_LOG_INFO, "devd: %s: hotplug %s done", be,
		         action == VBD_HOTPLUG_ADD ? "add" : "remove");
	if (d->fn)
		d->fn(d, be, action, r, r < 0 ? c->err.msg : "", d->ud);
}

/* Whether this domain holds a record of an ADD of be: the built-in
 * REMOVE's only work. */
static int has_record(vbd_devd *d, const char *be)
{
	vbd__hp h = { .xs = d->c->xs, .err = &d->c->err };
	char *v = NULL;
	int r;

	if ((r = vbd__hp_name(&h, be)) < 0)
		return r;
	r = vbd__hp_rec_read(&h, "key", &v);
	free(v);
	return r == -ENOENT ? 0 : r < 0 ? r : 1;
}

static devd_job *job_find(vbd_devd *d, const char *be)
{
	devd_job *j;

	for (j = d->jobs; j; j = j->next)
		if (!strcmp(j->be, be))
			return j;
	return NULL;
}

static void job_unlink(vbd_devd *d, devd_job *j)
{
	devd_job **pp;

	for (pp = &d->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			return;
		}
}

/* After a REMOVE in a driver domain: its backend dir goes, as xl devd
 * removes it; dom0's detach waits for that. */
static int remove_dir(vbd_devd *d, const char *be)
{
	int r;

	if (d->own == 0)
		return 0;           /* the toolstack's, with the /libxl copy */
	if ((r = vbd__xb_rm(d->c->xs, XBT_NULL, be)) < 0)
		return vbd__errf(&d->c->err, r, "removing %s: %s", be, strerror(-r));
	return 0;
}

static void script_done(vbd_ctx *c, int r, void *ud)
{
	devd_job *j = ud;
	vbd_devd *d = j->d;
	unsigned fe, devid;
	bool again = true;
	char hs[128];

	job_unlink(d, j);
	snprintf(hs, sizeof(hs), "%s/hotplug-status", j->be);
	if (r < 0 && j->action == VBD_HOTPLUG_ADD) {
		/* libxl's scripts write hotplug-status=error themselves; one that
		 * died without a word still must not leave the toolstack waiting. */
		if (vbd__xb_exists(c->xs, XBT_NULL, hs) == 0) {
			vbd_errbuf keep = c->err;

			if (vbd__xb_printf(c->xs, XBT_NULL, j->be, "hotplug-error", "%s", keep.msg) < 0 ||
			    vbd__xb_printf(c->xs, XBT_NULL, j->be, "hotplug-status", "error") < 0)
				again = false;   /* else the next pass runs it again, and again */
			c->err = keep;
		}
	}
	if (r >= 0 && j->action == VBD_HOTPLUG_REMOVE)
		r = remove_dir(d, j->be);
	report(d, j->be, j->action, r);
	/* Events for this device during the run were left to its end. */
	if (again && sscanf(j->be + strlen(j->k->home), "/%u/%u", &fe, &devid) == 2)
		examine(j->k, fe, devid);
	free(j);
}

static int run_script(devd_kind *k, const char *be, const char *script, vbd_hotplug_action action)
{
	vbd_devd *d = k->d;
	vbd_ctx *c = d->c;
	devd_job *j;
	int r;

	if ((r = vbd__script_check(c, script)) < 0)
		return r;
	if (!(j = calloc(1, sizeof(*j))))
		return vbd__errf(&c->err, -ENOMEM, "out of memory");
	j->d = d;
	j->k = k;
	j->action = action;
	snprintf(j->be, sizeof(j->be), "%s", be);
	/* XENBUS_PATH is relative to this domain's home, as libxl sets it. */
	r = vbd__script_start(c, script, action == VBD_HOTPLUG_ADD ? "add" : "remove",
	                      be + k->rel,
	                      d->o.script_timeout_ms ? d->o.script_timeout_ms : 40000, script_done,
	                      j, &j->s);
	if (r < 0) {
		free(j);
		return r;
	}
	j->next = d->jobs;
	d->jobs = j;
	return 0;
}

/* One backend: what it needs now, if anything. */
static void examine(devd_kind *k, unsigned fe, unsigned devid)
{
	vbd_devd *d = k->d;
	vbd_ctx *c = d->c;
	struct xs_handle *xs = c->xs;
	vbd_hotplug_action action = VBD_HOTPLUG_ADD;
	unsigned long long online = 0;
	char be[96], hs[128], from[160], *script = NULL;
	int r, state;

	snprintf(be, sizeof(be), "%s/%u/%u", k->home, fe, devid);
	if (job_find(d, be))
		return;             /* its end looks again */
	c->err.msg[0] = 0;
	if ((r = vbd__xb_exists(xs, XBT_NULL, be)) == 0) {
		/* Gone without an offline Closed first (a toolstack's forced
		 * removal): what the built-in step set up is freed by its
		 * record.  A script has nothing left to go on. */
		if ((r = has_record(d, be)) > 0) {
			r = vbd__hotplug_run(xs, c->bus->socket, be, VBD_HOTPLUG_REMOVE, NULL, &c->err);
			report(d, be, VBD_HOTPLUG_REMOVE, r);
		}
		return;
	}
	if (r < 0)
		goto fail;
	r = vbd__xb_read_num(xs, XBT_NULL, be, "online", 1, &online);
	if (r < 0 && r != -ENOENT)
		goto fail;
	if ((state = vbd__xb_read_state(xs, XBT_NULL, be)) == -ENOENT)
		return;             /* being written, or being removed */
	snprintf(hs, sizeof(hs), "%s/hotplug-status", be);
	if (online && (state == VBD_STATE_INITIALISING || state == VBD_STATE_INITWAIT)) {
		if ((r = vbd__xb_exists(xs, XBT_NULL, hs)) != 0)
			goto out;   /* plugged (or failed) already, or unreadable */
		action = VBD_HOTPLUG_ADD;
	} else if (!online && state == VBD_STATE_CLOSED) {
		action = VBD_HOTPLUG_REMOVE;
	} else {
		return;
	}
	if ((r = vbd__hp_read_script(xs, d->own, fe, devid, be, &script, from, sizeof(from),
	                             &c->err)) < 0)
		goto fail;
	if (script && !vbd__hp_script_is_ours(script)) {
		if (d->own == 0)
			goto out;   /* the toolstack runs it in dom0 */
		if ((r = run_script(k, be, script, action)) < 0)
			goto fail;
		goto out;
	}
	if (action == VBD_HOTPLUG_REMOVE) {
		if ((r = has_record(d, be)) < 0)
			goto fail;
		if (r > 0 && (r = vbd__hotplug_run(xs, c->bus->socket, be, action, NULL, &c->err)) < 0)
			goto fail;
		/* In dom0, REMOVE with no record is done: nothing to tell.  In a
		 * driver domain the dir still goes. */
		if (r == 0 && d->own == 0)
			goto out;
		r = remove_dir(d, be);
	} else {
		r = vbd__hotplug_run(xs, c->bus->socket, be, action, NULL, &c->err);
	}
	report(d, be, action, r);
	goto out;
fail:
	report(d, be, action, r);
out:
	free(script);
}

/* A directory's decimal entries below max; ENOENT is none. */
static int list_ids(vbd_devd *d, const char *dir, unsigned long long max, unsigned **ret,
                    unsigned *ret_n)
{
	char **names = xs_directory(d->c->xs, XBT_NULL, dir, ret_n);
	unsigned i, k = 0;
	unsigned *ids;

	*ret = NULL;
	if (!names) {
		*ret_n = 0;
		return errno == ENOENT ? 0 :
		       vbd__errf(&d->c->err, -(errno ? errno : EIO), "listing %s: %s", dir,
		                 strerror(errno ? errno : EIO));
	}
	if (*ret_n > DEVD_SCAN_MAX)
		*ret_n = DEVD_SCAN_MAX;
	if (!(ids = calloc(*ret_n ? *ret_n : 1, sizeof(*ids)))) {
		free(names);
		return vbd__errf(&d->c->err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < *ret_n; i++) {
		long long v = vbd__parse_num(names[i]);

		if (v >= 0 && (unsigned long long)v < max)
			ids[k++] = (unsigned)v;
	}
	free(names);
	*ret = ids;
	*ret_n = k;
	return 0;
}

/* Every backend of frontend fe, or of every frontend (fe < 0). */
static void scan(devd_kind *k, long fe)
{
	vbd_devd *d = k->d;
	unsigned *fes = NULL, *devs, nfe = 1, ndev, i, j;
	char dir[96];
	int r;

	if (fe < 0 && (r = list_ids(d, k->home, VBD_DOMID_FIRST_RESERVED, &fes, &nfe)) < 0) {
		report(d, k->home, VBD_HOTPLUG_ADD, r);
		return;
	}
	for (i = 0; i < nfe; i++) {
		unsigned f = fes ? fes[i] : (unsigned)fe;

		snprintf(dir, sizeof(dir), "%s/%u", k->home, f);
		if ((r = list_ids(d, dir, 1ULL << 32, &devs, &ndev)) < 0) {
			report(d, dir, VBD_HOTPLUG_ADD, r);
			continue;
		}
		for (j = 0; j < ndev; j++)
			examine(k, f, devs[j]);
		free(devs);
	}
	free(fes);
}

/* This domain's records of backends whose dir is gone: an earlier devd
 * died before it saw them go (or nothing ran while they went).  Each gets
 * the built-in REMOVE, which deletes the record, so it happens once.  Only
 * entries naming a vbd backend of this domain are looked at; the records
 * are where only this domain and dom0 write. */
static void scan_records(vbd_devd *d)
{
	char dir[96], be[BE_MAX], **names;
	unsigned n, i, q, bdom, fe, devid;

	if (d->own == 0)
		snprintf(dir, sizeof(dir), "%s/backend", DOM0_ROOT);
	else
		snprintf(dir, sizeof(dir), "/local/domain/%u/data/libvbd/backend", d->own);
	if (!(names = xs_directory(d->c->xs, XBT_NULL, dir, &n))) {
		if (errno != ENOENT)
			report(d, dir, VBD_HOTPLUG_REMOVE,
			       vbd__errf(&d->c->err, -(errno ? errno : EIO), "listing %s: %s", dir,
			                 strerror(errno ? errno : EIO)));
		return;
	}
	for (i = 0; i < n && i < DEVD_SCAN_MAX; i++) {
		if (!vbd__hp_entry_parse(names[i], be, sizeof(be), &bdom, &fe) || bdom != d->own)
			continue;
		for (q = 0; q < 2; q++) {
			devd_kind *k = &d->kinds[q];
			size_t hl = strlen(k->home);
			int end = 0;

			if (strncmp(be, k->home, hl) ||
			    sscanf(be + hl, "/%u/%u%n", &fe, &devid, &end) != 2 || be[hl + (size_t)end])
				continue;
			/* A dir still there was examined by the pass over the dirs. */
			if (vbd__xb_exists(d->c->xs, XBT_NULL, be) == 0)
				examine(k, fe, devid);
		}
	}
	free(names);
}

/* Events name the node that changed: a device's, or a directory above the
 * devices (the first event, a frontend's dir going). */
static void on_event(vbd_ctx *c, const char *path, void *ud)
{
	devd_kind *k = ud;
	vbd_devd *d = k->d;
	size_t n = strlen(k->home);
	unsigned fe, devid;
	int got, end = 0;

	(void)c;
	if (strncmp(path, k->home, n) || (path[n] && path[n] != '/')) {
		scan(k, -1);
		scan_records(d);
		return;
	}
	got = sscanf(path + n, "/%u%n/%u", &fe, &end, &devid);
	if (got == 2) {
		examine(k, fe, devid);
		return;
	}
	if (got == 1 && !path[n + (size_t)end] && fe < VBD_DOMID_FIRST_RESERVED)
		scan(k, fe);
	else
		scan(k, -1);
	/* A directory above the devices that went took its devices with it
	 * in one event: their records say which. */
	scan_records(d);
}

static void on_reap(vbd_reaper *rr, int r, const char *message, void *ud)
{
	vbd_devd *d = ud;

	(void)rr;
	(void)message;
	if (r < 0)
		report(d, NULL, VBD_HOTPLUG_REMOVE, r);
}

int vbd_devd_new(vbd_ctx *c, const vbd_devd_options *o, vbd_devd_fn fn, void *userdata,
                 vbd_devd **ret)
{
	vbd_reap_options ro = VBD_REAP_OPTIONS_INIT;
	vbd_devd *d;
	unsigned q;
	int r;

	if (!c || !o || !ret)
		return -EINVAL;
	if (!(d = calloc(1, sizeof(*d))))
		return vbd__errf(&c->err, -ENOMEM, "out of memory");
	if (VBD__OPTS_LOAD(&d->o, o, VBD_DEVD_OPTIONS_VERSION, sizeof(d->o)) < 0) {
		free(d);
		return -EINVAL;
	}
	d->c = c;
	d->fn = fn;
	d->ud = userdata;
	c->err.msg[0] = 0;
	if ((r = vbd__ctx_own_domid(c, &d->own)) < 0)
		goto fail;
	for (q = 0; q < 2; q++) {
		devd_kind *k = &d->kinds[q];

		k->d = d;
		k->rel = (size_t)snprintf(k->home, sizeof(k->home), "/local/domain/%u/", d->own);
		snprintf(k->home + k->rel, sizeof(k->home) - k->rel, "backend/%s", q ? "vbd3" : "vbd");
	}
	if (d->own == 0 && !d->o.no_reap) {
		ro.timeout_ms = d->o.reap_timeout_ms;
		if ((r = vbd_reaper_new(c, &ro, on_reap, d, &d->reaper)) < 0)
			goto fail;
	}
	/* Its first event, at once, makes the pass that picks up what a
	 * devd before this one left. */
	for (q = 0; q < 2; q++) {
		devd_kind *k = &d->kinds[q];

		if ((r = vbd__ctx_watch(c, k->home, on_event, k, &k->w)) < 0) {
			vbd__errf(&c->err, r, "watching %s: %s", k->home, strerror(-r));
			goto fail;
		}
	}
	*ret = d;
	return 0;
fail:
	vbd__ctx_unwatch(c, d->kinds[0].w);
	vbd_reaper_free(d->reaper);
	free(d);
	return r;
}

vbd_devd *vbd_devd_free(vbd_devd *d)
{
	devd_job *j;

	if (!d)
		return NULL;
	vbd__ctx_unwatch(d->c, d->kinds[0].w);
	vbd__ctx_unwatch(d->c, d->kinds[1].w);
	vbd_reaper_free(d->reaper);
	/* A script killed here left no hotplug-status: the next devd runs it
	 * again. */
	while ((j = d->jobs)) {
		d->jobs = j->next;
		vbd__script_cancel(j->s);
		free(j);
	}
	free(d);
	return NULL;
}
