/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reap: the devices of a domain that is gone, detached as a forced detach.
 *
 * Example: guest 8 had xvdb (51728) from dom0 and died; xl did not clean.
 *   /libxl/8/device/vbd/51728                    (dom0's copy, still there)
 *   /local/domain/0/backend/vbd/8/51728          (ours; online=1, state=4)
 *   /local/domain/8/...                          (gone with the domain)
 *   loop7 over the image, /libvbd's record of it (dom0's)
 * vbd_dev_reap(domid 8): domain 8 is not there (libxenlight, else the
 * store's introduced list), so each devid found in the /libxl copy and in
 * our own backend dir for 8 gets a forced detach: online=0, Closing, the
 * wait for Closed while a backend still runs (bounded), the remove step by
 * the record (loop7 freed), the three dirs deleted.  done once, after the
 * last of them.
 *
 *
 * Example: driver domain 2 served guest 1's xvdb and died; guest 1 lives.
 *   /libxl/1/device/vbd/51728/backend = /local/domain/2/backend/vbd/1/51728
 *   /local/domain/1/device/vbd/51728             (state=4, the guest's)
 * vbd_dev_reap(VBD_DOMID_ALL, or domid 2): the copy names domain 2, which
 * is gone, so the device is detached as one with a gone backend: a backend
 * dir still there gets online=0 and state=Closed for the frontend to
 * follow (Linux blkfront closes on it), then the frontend dir goes (the
 * guest's xenbus unregisters the device; a Linux frontend ignores its
 * backend dir vanishing), then the copy and what is left of the backend
 * dir.  No hotplug: it was domain 2's, and went with it.
 *
 * A gone frontend whose dir is still there (xenstored keeps a dead
 * domain's nodes until the toolstack removes them) has that dir removed
 * after the Closing, so that a backend still listening sees both in that
 * order: Linux blkback answers with Closed only then.  One whose dir went
 * first left a Linux blkback unregistered without Closed: the wait for it
 * is a short grace (dev.c), not the whole timeout.
 *
 * The trust rule: which devices, and where their backends are, come from
 * dom0's own nodes (the /libxl copy, our backend dir) and the hypervisor's
 * or store's word on the domain; nothing written by the dead domain (or by
 * a driver domain) decides anything.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/dev_internal.h"
#include "util/opts.h"

/* At most this many devices per reap: a store quota keeps a domain's
 * devices far below it (1000 nodes), and the list is dom0's. */
#define REAP_MAX 4096

typedef struct reap_dev {
	unsigned domid;
	uint32_t devid;
	unsigned gone;             /* VBD__GONE_*: which ends' domains */
} reap_dev;

/* Whether a domain is gone, asked once per domain and reap. */
#define GONE_CACHE 32

struct vbd__reap {
	vbd__reap *next;
	vbd_ctx *c;
	unsigned timeout_ms;
	reap_dev *devs;
	unsigned n, cap;
	unsigned pending;          /* detaches started and not ended */
	unsigned gc_id[GONE_CACHE];
	bool gc_gone[GONE_CACHE];
	unsigned gc_n;
	int result;                /* the first failure */
	vbd_errbuf err;
	vbd__timer *defer;
	vbd_dev_done_fn done;
	void *ud;
};

static void reap_free(vbd__reap *rp)
{
	if (!rp)
		return;
	vbd__ctx_timer_cancel(rp->c, rp->defer);
	free(rp->devs);
	free(rp);
}

static void reap_unlink(vbd__reap *rp)
{
	vbd__reap **pp;

	for (pp = &rp->c->reaps; *pp; pp = &(*pp)->next)
		if (*pp == rp) {
			*pp = rp->next;
			break;
		}
}

/* vbd_ctx_free(): the detaches are left where they are (dev.c); so is the
 * reap, without a callback. */
static void reaps_cancel(vbd_ctx *c)
{
	vbd__reap *rp;

	while ((rp = c->reaps)) {
		c->reaps = rp->next;
		reap_free(rp);
	}
}

static void reap_note(vbd__reap *rp, int r)
{
	if (r < 0 && rp->result >= 0) {
		rp->result = r;
		rp->err = rp->c->err;
	}
}

static void reap_finish(vbd__reap *rp)
{
	vbd_ctx *c = rp->c;
	vbd_dev_done_fn done = rp->done;
	void *ud = rp->ud;
	int r = rp->result;

	reap_unlink(rp);
	if (!done) {                /* its reaper was freed */
		reap_free(rp);
		return;
	}
	c->err = rp->err;
	if (r >= 0)
		c->err.msg[0] = 0;
	reap_free(rp);
	done(c, r, c->err.msg, ud);
}

static void one_done(vbd_ctx *c, int r, const char *msg, void *ud)
{
	vbd__reap *rp = ud;

	(void)msg;
	(void)c;
	reap_note(rp, r);
	if (--rp->pending == 0)
		reap_finish(rp);
}

static void nothing_to_do(vbd_ctx *c, void *ud)
{
	vbd__reap *rp = ud;

	(void)c;
	rp->defer = NULL;
	reap_finish(rp);
}

static int add_dev(vbd__reap *rp, unsigned domid, uint32_t devid, unsigned gone)
{
	unsigned i;

	for (i = 0; i < rp->n; i++)
		if (rp->devs[i].domid == domid && rp->devs[i].devid == devid) {
			rp->devs[i].gone |= gone;
			return 0;
		}
	if (rp->n == REAP_MAX)
		return -E2BIG;
	if (rp->n == rp->cap) {
		unsigned cap = rp->cap ? rp->cap * 2 : 8;
		reap_dev *d = realloc(rp->devs, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		rp->devs = d;
		rp->cap = cap;
	}
	rp->devs[rp->n].domid = domid;
	rp->devs[rp->n].devid = devid;
	rp->devs[rp->n].gone = gone;
	rp->n++;
	return 0;
}

/* vbd__domain_gone() through the reap's cache: 1, 0, -errno.  Our own
 * domain is never gone. */
static int is_gone(vbd__reap *rp, unsigned own, unsigned domid)
{
	unsigned i;
	int g;

	if (domid == own)
		return 0;
	for (i = 0; i < rp->gc_n; i++)
		if (rp->gc_id[i] == domid)
			return rp->gc_gone[i];
	if ((g = vbd__domain_gone(rp->c, domid)) < 0)
		return g;
	if (rp->gc_n < GONE_CACHE) {
		rp->gc_id[rp->gc_n] = domid;
		rp->gc_gone[rp->gc_n++] = g;
	}
	return g;
}

/* A directory's entries as ids: names that are not a decimal number below
 * max are skipped.  ENOENT is an empty list. */
static int list_ids(vbd_ctx *c, const char *dir, unsigned long long max, unsigned long long **ret,
                    unsigned *ret_n)
{
	unsigned long long *ids;
	unsigned n, i, k = 0;
	char **names = xs_directory(c->xs, XBT_NULL, dir, &n);

	*ret = NULL;
	*ret_n = 0;
	if (!names)
		return errno == ENOENT ? 0 :
		       vbd__errf(&c->err, -(errno ? errno : EIO), "listing %s: %s", dir,
		                 strerror(errno ? errno : EIO));
	ids = calloc(n ? n : 1, sizeof(*ids));
	if (!ids) {
		free(names);
		return vbd__errf(&c->err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		long long v = vbd__parse_num(names[i]);

		if (v >= 0 && (unsigned long long)v < max)
			ids[k++] = (unsigned long long)v;
	}
	free(names);
	*ret = ids;
	*ret_n = k;
	return 0;
}

/* The devices of one domain G in dom0's /libxl copies that have a gone
 * end and concern target (VBD_DOMID_ALL: any): G's own if G is gone, and
 * those whose backend domain, as the copy names it, is gone (a dead driver
 * domain).  The copy is dom0's: a dead domain's nodes decide nothing. */
static int collect_libxl(vbd__reap *rp, unsigned own, unsigned g, unsigned target)
{
	vbd_ctx *c = rp->c;
	unsigned long long *ids;
	vbd__dev_loc loc;
	char dir[64];
	unsigned n, i, gone;
	int r, fe;

	if ((fe = is_gone(rp, own, g)) < 0)
		return fe;
	snprintf(dir, sizeof(dir), "/libxl/%u/device/vbd", g);
	if ((r = list_ids(c, dir, 1ULL << 32, &ids, &n)) < 0)
		return r;
	for (i = 0; i < n && r >= 0; i++) {
		gone = fe ? VBD__GONE_FE : 0;
		if ((r = vbd__dev_locate(c, g, (uint32_t)ids[i], &loc)) < 0) {
			vbd__errf(&c->err, r, "reading /libxl/%u/device/vbd/%llu: %s", g, ids[i],
			          strerror(-r));
			break;
		}
		if (loc.in_libxl && loc.bdom != own && loc.bdom < VBD_DOMID_FIRST_RESERVED) {
			if ((r = is_gone(rp, own, loc.bdom)) < 0)
				break;
			if (r)
				gone |= VBD__GONE_BE;
		}
		r = 0;
		if (!gone || (target != VBD_DOMID_ALL && target != g &&
		              !((gone & VBD__GONE_BE) && loc.bdom == target)))
			continue;
		if ((r = add_dev(rp, g, (uint32_t)ids[i], gone)) < 0)
			vbd__errf(&c->err, r, "listing the devices of domain %u: %s", g, strerror(-r));
	}
	free(ids);
	return r;
}

/* The devices with a gone end that concern target (VBD_DOMID_ALL: every
 * gone domain): from the /libxl copies of every domain, and from our own
 * backend dirs for gone frontends (a device whose copy is gone). */
static int collect(vbd__reap *rp, unsigned own, unsigned target)
{
	vbd_ctx *c = rp->c;
	unsigned long long *ids, *devs;
	unsigned n, m, i, j, k;
	char dir[96];
	int r, g;

	if ((r = list_ids(c, "/libxl", VBD_DOMID_FIRST_RESERVED, &ids, &n)) < 0)
		return r;
	for (i = 0; i < n && r >= 0; i++)
		if (ids[i] != own)
			r = collect_libxl(rp, own, (unsigned)ids[i], target);
	free(ids);
	/* Our backend dirs of both kinds: vbd, and vbd3 for tap disks. */
	for (k = 0; k < 2 && r >= 0; k++) {
		const char *kind = k ? "vbd3" : "vbd";

		snprintf(dir, sizeof(dir), "/local/domain/%u/backend/%s", own, kind);
		if ((r = list_ids(c, dir, VBD_DOMID_FIRST_RESERVED, &ids, &n)) < 0)
			return r;
		for (i = 0; i < n && r >= 0; i++) {
			if (ids[i] == own || (target != VBD_DOMID_ALL && ids[i] != target))
				continue;
			if ((g = is_gone(rp, own, (unsigned)ids[i])) <= 0) {
				r = g;
				continue;
			}
			snprintf(dir, sizeof(dir), "/local/domain/%u/backend/%s/%llu", own, kind, ids[i]);
			if ((r = list_ids(c, dir, 1ULL << 32, &devs, &m)) < 0)
				break;
			for (j = 0; j < m && r >= 0; j++)
				r = add_dev(rp, (unsigned)ids[i], (uint32_t)devs[j], VBD__GONE_FE);
			free(devs);
			if (r < 0)
				vbd__errf(&c->err, r, "listing the devices of domain %llu: %s", ids[i],
				          strerror(-r));
		}
		free(ids);
	}
	return r;
}

/* vbd_dev_reap() with the options loaded; the reap in *ret. */
static int reap_start(vbd_ctx *c, const vbd_reap_options *o, vbd_dev_done_fn done, void *ud,
                      vbd__reap **ret)
{
	vbd__reap *rp;
	unsigned own, i;
	int r;

	c->err.msg[0] = 0;
	if ((r = vbd__ctx_own_domid(c, &own)) < 0)
		return r;
	if (!(rp = calloc(1, sizeof(*rp))))
		return vbd__errf(&c->err, -ENOMEM, "out of memory");
	rp->c = c;
	rp->timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
	rp->done = done;
	rp->ud = ud;
	/* Reaps are cancelled before the operations (the last registered
	 * runs first): the loop an attach's rollback runs there must find no
	 * reap to call back. */
	if ((r = vbd__ctx_on_free(c, vbd__dev_ops_cancel)) < 0 ||
	    (r = vbd__ctx_on_free(c, reaps_cancel)) < 0) {
		vbd__errf(&c->err, r, "too many kinds of operation on this context");
		goto fail;
	}
	if (o->domid != VBD_DOMID_ALL) {
		if ((r = is_gone(rp, own, o->domid)) < 0)
			goto fail;
		if (!r) {
			r = vbd__errf(&c->err, -EBUSY, "domain %u exists; reap is for domains that are "
			              "gone (detach its devices instead)", o->domid);
			goto fail;
		}
	}
	if ((r = collect(rp, own, o->domid)) < 0)
		goto fail;
	for (i = 0; i < rp->n; i++) {
		vbd_detach_options d = VBD_DETACH_OPTIONS_INIT;

		d.domid = rp->devs[i].domid;
		d.devid = rp->devs[i].devid;
		d.timeout_ms = rp->timeout_ms;
		d.force = true;
		vbd__log(c, VBD_LOG_INFO, "reaping device %u of domain %u, %s", d.devid, d.domid,
		         rp->devs[i].gone == VBD__GONE_FE ? "which is gone" :
		         rp->devs[i].gone == VBD__GONE_BE ? "whose backend's domain is gone" :
		         "which is gone, as is its backend's domain");
		r = vbd__dev_detach(c, &d, rp->devs[i].gone, one_done, rp);
		if (r == -ENOENT)
			continue;    /* detached meanwhile */
		if (r < 0) {
			/* The others go on; this one is the failure reported. */
			reap_note(rp, r);
			continue;
		}
		rp->pending++;
	}
	if (!rp->pending && (r = vbd__ctx_timer(c, 0, nothing_to_do, rp, &rp->defer)) < 0) {
		vbd__errf(&c->err, r, "out of memory");
		goto fail;
	}
	rp->next = c->reaps;
	c->reaps = rp;
	*ret = rp;
	return 0;
fail:
	reap_free(rp);
	return r;
}

int vbd_dev_reap(vbd_ctx *c, const vbd_reap_options *o, vbd_dev_done_fn done, void *ud)
{
	vbd_reap_options lo;
	vbd__reap *rp;

	if (!c || !o || VBD__OPTS_LOAD(&lo, o, VBD_REAP_OPTIONS_VERSION, sizeof(lo)) < 0 || !done)
		return -EINVAL;
	if (lo.domid >= VBD_DOMID_FIRST_RESERVED && lo.domid != VBD_DOMID_ALL)
		return -EINVAL;
	return reap_start(c, &lo, done, ud, &rp);
}

/* ---- the blocking form ---- */

int vbd_dev_reap_wait(vbd_ctx *c, const vbd_reap_options *o)
{
	struct vbd__dev_sync sw = { false, 0 };
	int r = vbd_dev_reap(c, o, vbd__dev_sync_done, &sw);

	return r < 0 ? r : vbd__dev_sync_loop(c, &sw);
}

/* ---- the reaper: a reap of every gone domain after each release ----
 *
 * @releaseDomain says that some domain went, never which: each event makes
 * one pass over every gone domain.  Events during a pass make one more pass
 * after it, however many they are.  The watch's first event, at once, makes
 * the first pass: what died before the reaper started is found too. */

struct vbd_reaper {
	vbd_ctx *c;
	vbd__watch *w;
	vbd_reap_options o;
	vbd__reap *running;        /* the pass in progress */
	bool again;                /* a release during the pass */
	bool in_fn, dead;          /* freed from its own callback: free after it */
	vbd_reaper_fn fn;
	void *ud;
};

static void reaper_destroy(vbd_reaper *rr)
{
	vbd__ctx_unwatch(rr->c, rr->w);
	if (rr->running)
		rr->running->done = NULL;   /* its detaches go on; nobody is told */
	free(rr);
}

static void pass_start(vbd_reaper *rr);

static void pass_done(vbd_ctx *c, int r, const char *msg, void *ud)
{
	vbd_reaper *rr = ud;

	(void)c;
	rr->running = NULL;
	if (rr->fn) {
		rr->in_fn = true;
		rr->fn(rr, r, msg, rr->ud);
		rr->in_fn = false;
		if (rr->dead) {
			reaper_destroy(rr);
			return;
		}
	}
	if (rr->again) {
		rr->again = false;
		pass_start(rr);
	}
}

static void pass_start(vbd_reaper *rr)
{
	int r = reap_start(rr->c, &rr->o, pass_done, rr, &rr->running);

	if (r < 0) {
		/* Nothing started (xenstore could not list, no memory): said
		 * now; the next release tries again. */
		rr->running = NULL;
		if (rr->fn) {
			rr->in_fn = true;
			rr->fn(rr, r, rr->c->err.msg, rr->ud);
			rr->in_fn = false;
			if (rr->dead)
				reaper_destroy(rr);
		}
	}
}

static void on_release(vbd_ctx *c, const char *path, void *ud)
{
	vbd_reaper *rr = ud;

	(void)c;
	(void)path;
	if (rr->running)
		rr->again = true;
	else
		pass_start(rr);
}

int vbd_reaper_new(vbd_ctx *c, const vbd_reap_options *o, vbd_reaper_fn fn, void *ud,
                   vbd_reaper **ret)
{
	vbd_reaper *rr;
	int r;

	if (!c || !o || !ret)
		return -EINVAL;
	if (!(rr = calloc(1, sizeof(*rr))))
		return vbd__errf(&c->err, -ENOMEM, "out of memory");
	if (VBD__OPTS_LOAD(&rr->o, o, VBD_REAP_OPTIONS_VERSION, sizeof(rr->o)) < 0 ||
	    rr->o.domid != VBD_DOMID_ALL) {
		free(rr);
		return -EINVAL;
	}
	rr->c = c;
	rr->fn = fn;
	rr->ud = ud;
	if ((r = vbd__ctx_watch(c, "@releaseDomain", on_release, rr, &rr->w)) < 0) {
		free(rr);
		return vbd__errf(&c->err, r, "watching @releaseDomain: %s", strerror(-r));
	}
	*ret = rr;
	return 0;
}

vbd_reaper *vbd_reaper_free(vbd_reaper *rr)
{
	if (!rr)
		return NULL;
	if (rr->in_fn) {
		rr->dead = true;
		vbd__ctx_unwatch(rr->c, rr->w);
		rr->w = NULL;
		return NULL;
	}
	reaper_destroy(rr);
	return NULL;
}
