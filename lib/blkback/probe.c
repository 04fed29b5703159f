/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which devices this backend serves: the watch on its backend dir, each
 * device found there probed once, and the devices a dead predecessor left
 * taken over (adoption).  One device's handshake from then on is xenbus.c's.
 *
 *   /local/domain/0/backend/vbd/1/51728   state 1          new: features, 2
 *                                         state 2 or 4     adopted: the
 *                                                          rings mapped again
 *                                         state 5 or 6,    adopted at that
 *                                           online 1       state: a guest's
 *                                                          reset goes on
 *                                         state 5,         a detach: 6, not
 *                                           online 0       served
 *                                         state 6,         the toolstack's
 *                                           online 0       to remove
 *
 * The state and the frontend's keys are read in one transaction with the
 * probe's writes, so a device removed meanwhile is never brought back; its
 * requests are pipelined on the bus's wire client (xs_batch.c): all in one
 * window, 3 round trips for 10 requests.  A
 * device whose dir is seen changed and reads Initialising again was
 * removed and made anew before we looked: the old one is dropped and the
 * new one probed (xenbus.c says why the state tells).
 * Path components are strict decimals, and the frontend path must lie
 * under the frontend domain's own home.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blkback/blkback.h"
#include "util/crashpoint.h"

/* A write in a chain of them: true if done (errno says why not). */
#define WR(xs, t, dir, key, ...) (vbd__xb_printf((xs), (t), (dir), (key), __VA_ARGS__) == 0)

struct probe_job {
	vbd__bb_dev *d;
	int state;     /* the backend's state found */
	char fe[sizeof(((vbd__bb_dev *)0)->fe)];
};

/* The backend's frontend key: a path under prefix (the frontend domain's
 * home), of path characters, no empty component, no trailing slash. */
static bool fe_path_ok(const char *fe, const char *prefix)
{
	return fe && strlen(fe) < sizeof(((vbd__bb_dev *)0)->fe) &&
	       strncmp(fe, prefix, strlen(prefix)) == 0 &&
	       strspn(fe, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/_@") ==
	           strlen(fe) && !strstr(fe, "//") && fe[strlen(fe) - 1] != '/';
}

static int probe_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct probe_job *j = ud;
	vbd__bb_dev *d = j->d;
	vbd_blkback *b = d->b;
	char path[192], prefix[48], *fe, *id, *probe;
	unsigned len;
	int s = vbd__xb_read_state(xs, t, d->be);
	long long online;
	bool ok;

	/* InitWait or Connected: left by a backend of this domain that died;
	 * adopted below.  Closing or Closed with online 1: it died in a close
	 * the frontend began (a guest's takeover reset), which a device still
	 * online comes back from: adopted at that state, the reset goes on.
	 * Closing with online 0: it died in a detach, and this one, with
	 * nothing mapped, finishes the close (probe); Closed with online 0 is
	 * the toolstack's to remove. */
	if (s == VBD_STATE_CLOSING || s == VBD_STATE_CLOSED) {
		snprintf(path, sizeof(path), "%s/online", d->be);
		id = xs_read(xs, t, path, &len);
		online = id ? vbd__parse_num(id) : -1;
		free(id);
		if (online == 0 && s == VBD_STATE_CLOSING)
			return 5;
		if (online != 1)
			return 1;
	} else if (s != VBD_STATE_INITIALISING && s != VBD_STATE_INITWAIT &&
	           s != VBD_STATE_CONNECTED) {
		return 1;     /* not new (or gone): nothing to do */
	}
	j->state = s;
	snprintf(path, sizeof(path), "%s/frontend", d->be);
	fe = xs_read(xs, t, path, &len);
	snprintf(path, sizeof(path), "%s/frontend-id", d->be);
	id = xs_read(xs, t, path, &len);
	snprintf(prefix, sizeof(prefix), "/local/domain/%u/", d->fe_domid);
	ok = id && vbd__parse_num(id) == (long long)d->fe_domid && fe_path_ok(fe, prefix);
	if (ok)
		snprintf(j->fe, sizeof(j->fe), "%s", fe);
	free(fe);
	free(id);
	if (!ok)
		return 2;
	probe = xs_read(xs, t, j->fe, &len);   /* the frontend must exist */
	free(probe);
	if (!probe)
		return 3;
	if (s != VBD_STATE_INITIALISING)
		return 4;     /* adopted: its features are there, its state stays */
	ok = (!b->max_indirect ||
	      WR(xs, t, d->be, "feature-max-indirect-segments", "%u", b->max_indirect)) &&
	     WR(xs, t, d->be, "multi-queue-max-queues", "%u", b->max_queues) &&
	     WR(xs, t, d->be, "max-ring-page-order", "%u", b->max_order) &&
	     WR(xs, t, d->be, "state", "%d", VBD_STATE_INITWAIT);
	return ok ? 0 : -(errno ? errno : EIO);
}

/* The probe's transaction pipelined (xs_batch.c): the state,
 * frontend-id, frontend and the frontend's dir read and the features and
 * InitWait written in one window, between the start and the commit (3
 * round trips for 10 requests).  A probe runs for a new device's first
 * event (check_dev(): a dir removed that was ours is remembered, and
 * read for nothing), so the state is nearly always Initialising; one that
 * is not a probe's stops the batch, and the requests after it, sent
 * already, are answered and dropped: 10 requests where the state read
 * alone, a round trip before the rest, cost 3.  Each read is a check that
 * decides as probe_body() does, in its order; a no aborts the transaction
 * with the writes in it.
 * The frontend's dir is read at the path a toolstack names it by, before
 * its `frontend` key is known: a key naming another path, and a state
 * whose online decides (Closing, Closed), go probe_body()'s way instead
 * (PROBE_SLOW). */
#define PROBE_SLOW 6

struct probe_pipe {
	struct probe_job *j;
	bool id_ok;
	char guess[VBD__XB_PATH_MAX];
};

static int probe_state_check(const char *val, int err, void *ud)
{
	struct probe_pipe *p = ud;
	unsigned long long v;
	int s = !val ? err : vbd__parse_num_max(val, VBD_STATE_RECONFIGURED, &v) < 0 ? -EINVAL : (int)v;

	if (s == VBD_STATE_CLOSING || s == VBD_STATE_CLOSED)
		return PROBE_SLOW;
	if (s != VBD_STATE_INITIALISING && s != VBD_STATE_INITWAIT && s != VBD_STATE_CONNECTED)
		return 1;
	p->j->state = s;
	return 0;
}

static int probe_id_check(const char *val, int err, void *ud)
{
	struct probe_pipe *p = ud;

	(void)err;
	p->id_ok = val && vbd__parse_num(val) == (long long)p->j->d->fe_domid;
	return 0;
}

static int probe_fe_check(const char *fe, int err, void *ud)
{
	struct probe_pipe *p = ud;
	struct probe_job *j = p->j;
	char prefix[48];

	(void)err;
	snprintf(prefix, sizeof(prefix), "/local/domain/%u/", j->d->fe_domid);
	if (!p->id_ok || !fe_path_ok(fe, prefix))
		return 2;
	snprintf(j->fe, sizeof(j->fe), "%s", fe);
	return strcmp(fe, p->guess) ? PROBE_SLOW : 0;
}

static int probe_exists_check(const char *val, int err, void *ud)
{
	struct probe_pipe *p = ud;

	(void)err;
	if (!val)
		return 3;
	/* Adopted: its features are there, its state stays. */
	return p->j->state != VBD_STATE_INITIALISING ? 4 : 0;
}

/* probe_body()'s result, or PROBE_SLOW.  With a result of 0 the target's
 * keys, read after the writes in the same window, are in tk. */
static int probe_pipelined(struct probe_job *j, struct vbd__bb_target_keys *tk)
{
	vbd__bb_dev *d = j->d;
	vbd_blkback *b = d->b;
	struct probe_pipe p = { .j = j };
	char path[VBD__XB_PATH_MAX + 16];
	vbd__xb_batch *bt;
	int r;

	if (vbd__xb_frontend_path(p.guess, sizeof(p.guess), d->fe_domid, "vbd", d->devid) < 0)
		return PROBE_SLOW;
	if ((r = vbd__xb_batch_new(&bt)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/state", d->be);
	r = vbd__xb_batch_check(bt, path, probe_state_check, &p);
	snprintf(path, sizeof(path), "%s/frontend-id", d->be);
	if (r == 0)
		r = vbd__xb_batch_check(bt, path, probe_id_check, &p);
	snprintf(path, sizeof(path), "%s/frontend", d->be);
	if (r == 0)
		r = vbd__xb_batch_check(bt, path, probe_fe_check, &p);
	if (r == 0)
		r = vbd__xb_batch_check(bt, p.guess, probe_exists_check, &p);
	if (r == 0 && b->max_indirect)
		r = vbd__xb_batch_printf(bt, d->be, "feature-max-indirect-segments", "%u",
		                         b->max_indirect);
	if (r == 0)
		r = vbd__xb_batch_printf(bt, d->be, "multi-queue-max-queues", "%u", b->max_queues);
	if (r == 0)
		r = vbd__xb_batch_printf(bt, d->be, "max-ring-page-order", "%u", b->max_order);
	if (r == 0)
		r = vbd__xb_batch_printf(bt, d->be, "state", "%d", VBD_STATE_INITWAIT);
	if (r == 0)
		r = vbd__bb_target_batch(d, bt, tk);
	/* An event of those keys taken before the window's answers is one of
	 * a change they saw (backend_changed() skips it). */
	d->disk.keys_seen = vbd__xb_bus_replies(b->bus);
	if (r == 0)
		r = vbd__xb_bus_run(b->bus, bt, NULL);
	vbd__xb_batch_free(bt);
	return r;
}

static void probe(vbd_blkback *b, unsigned fe_domid, uint32_t devid)
{
	vbd__bb_dev *d = calloc(1, sizeof(*d));
	struct probe_job j;
	struct vbd__bb_target_keys tk = { .de.r = -EIO, .dio.r = -EIO };
	char path[192];
	bool fresh, keys = false;
	int r;

	if (!d) {
		vbd__bb_log(b, VBD_LOG_ERR, "probing %s/%u/%u: out of memory", b->base, fe_domid, devid);
		return;
	}
	VBD__BB_ADD(b->mem, sizeof(*d));
	d->b = b;
	d->fe_domid = fe_domid;
	d->devid = devid;
	d->be_state = VBD_STATE_INITIALISING;
	d->fe_state = -1;
	d->disk.fd = -1;
	snprintf(d->be, sizeof(d->be), "%s/%u/%u", b->base, fe_domid, devid);
	j.d = d;
	j.state = -1;
	j.fe[0] = 0;
	r = probe_pipelined(&j, &tk);
	keys = r == 0;
	if (r == PROBE_SLOW) {
		j.state = -1;
		j.fe[0] = 0;
		r = vbd__xb_txn(b->xs, probe_body, &j);
	}
	if (r == 5) {
		vbd__bb_log(b, VBD_LOG_INFO, "%s: left Closing by an earlier backend: Closed", d->be);
		vbd__xb_switch_state(b->xs, d->be, VBD_STATE_CLOSED);
		r = 1;
	}
	if (r == 4 && j.state >= VBD_STATE_CLOSING) {
		/* In a reset: the frontend's state watch takes it on from
		 * here, as frontend_changed does for a device it served all
		 * along (Closed after the frontend's Closed, InitWait after
		 * its Initialising).  Nothing of the dead backend's is mapped
		 * here, and its rings are not taken again. */
		vbd__bb_log(b, VBD_LOG_INFO, "%s: adopted from an earlier backend at %s, online",
		            d->be, vbd_state_name(j.state));
		d->be_state = j.state;
		r = 0;
	} else if (r == 4) {
		/* Served as from InitWait: the frontend's state watch maps its
		 * rings (still granted) and connect() writes Connected again.
		 * Requests the dead backend took and never answered are taken
		 * again: the ring is attached at rsp_prod. */
		vbd__bb_log(b, VBD_LOG_INFO, "%s: adopted from an earlier backend", d->be);
		d->be_state = VBD_STATE_INITWAIT;
		r = 0;
	} else if (r == 0) {
		d->be_state = VBD_STATE_INITWAIT;
	}
	if (r != 0) {
		if (r == 2)
			vbd__bb_log(b, VBD_LOG_WARNING, "%s: bad frontend or frontend-id; not served",
			            d->be);
		else if (r == 3)
			vbd__bb_log(b, VBD_LOG_DEBUG, "%s: frontend %s missing; not yet", d->be, j.fe);
		else if (r < 0)
			vbd__bb_log(b, VBD_LOG_WARNING, "%s: probe: %s", d->be, strerror(-r));
		__atomic_fetch_sub(&b->mem, sizeof(*d), __ATOMIC_RELAXED);
		free(d);
		vbd__bb_target_keys_free(&tk);
		return;
	}
	memcpy(d->fe, j.fe, sizeof(d->fe));
	d->next = b->devs;
	b->devs = d;
	vbd__bb_log(b, VBD_LOG_INFO, "%s: probed, frontend %s", d->be, d->fe);
	vbd__crashpoint("blkback.initwait");
	/* physical-device(-path) are under the backend dir, whose watch
	 * hands their events to backend_changed (vbd__bb_scan): no watch of
	 * their own, but one look now for what the hotplug step (or a dead
	 * predecessor's) wrote before this probe, read in the probe's window
	 * when that went as guessed.  The frontend's state is in another
	 * domain's dir: its watch fires once at once. */
	vbd__bb_backend_changed(d, NULL, keys ? &tk : NULL);
	vbd__bb_target_keys_free(&tk);
	if (d->replaced)
		return;
	snprintf(path, sizeof(path), "%s/state", d->fe);
	d->fe_early = 1;
	r = vbd__xb_watch_take(b->bus, path, vbd__bb_frontend_changed, d, NULL, &d->w_fe, &fresh);
	if (r < 0) {
		vbd__bb_fatal(d, r, "watching %s", path);
	} else if (!fresh) {
		/* A watch an earlier device at this path left set: no first
		 * event comes, so the look is ours (it may free d); the event
		 * of the toolstack's Initialising may still come after it. */
		d->fe_early = 2;
		vbd__bb_frontend_changed(path, d);
	}
}

/* ------------------------------------------------------------------ scan */

static vbd__bb_dev *find(vbd_blkback *b, unsigned fe_domid, uint32_t devid)
{
	vbd__bb_dev *d;

	for (d = b->devs; d; d = d->next)
		if (d->fe_domid == fe_domid && d->devid == devid)
			return d;
	return NULL;
}

/* A path component as a strict decimal below max; its length in *len. */
static long long component(const char *s, unsigned long long max, size_t *len)
{
	char buf[16];
	long long v;

	*len = strcspn(s, "/");
	if (*len == 0 || *len >= sizeof(buf))
		return -1;
	memcpy(buf, s, *len);
	buf[*len] = 0;
	v = vbd__parse_num(buf);
	return v >= 0 && (unsigned long long)v <= max && (buf[0] != '0' || *len == 1) ? v : -1;
}

/* Devices let go at Closed and offline (a detach, the toolstack's to
 * remove): their nodes' removal, an event per node, is no news.  Only an
 * event of the dir itself or of its state is looked at, as a new device
 * at the path writes its state; anything else of theirs costs no read.
 * Nor does any event the wire client took before the reply to the commit
 * that wrote Closed (closed_seen): our Closed's, and the Closing we or the
 * toolstack wrote before, whose events may be handled after the frontend's
 * Closed when it came quickly (our Closing went through libxenstore, its
 * event on the wire behind the frontend's).  Where Closed itself went
 * through libxenstore, the first of the state's events after it is taken
 * for ours (own_state).  A fixed few, the oldest forgotten first (which
 * costs reads, nothing more). */
static int retired_find(const vbd_blkback *b, unsigned fe_domid, uint32_t devid)
{
	unsigned i;

	for (i = 0; i < VBD__BB_RETIRED; i++)
		if (b->retired[i].used && b->retired[i].fe_domid == fe_domid &&
		    b->retired[i].devid == devid)
			return (int)i;
	return -1;
}

void vbd__bb_retire(vbd_blkback *b, unsigned fe_domid, uint32_t devid, bool wrote_closed,
                    uint64_t closed_seen)
{
	int k = retired_find(b, fe_domid, devid);
	unsigned i = k >= 0 ? (unsigned)k : b->retired_next++ % VBD__BB_RETIRED;

	b->retired[i].used = true;
	b->retired[i].own_state = wrote_closed && closed_seen == VBD__XB_NO_EVENT;
	b->retired[i].closed_seen = closed_seen;
	b->retired[i].fe_domid = fe_domid;
	b->retired[i].devid = devid;
}

bool vbd__bb_key_is(const vbd__bb_dev *d, const char *path, const char *key)
{
	size_t n = strlen(d->be);

	return !strncmp(path, d->be, n) && path[n] == '/' && !strcmp(path + n + 1, key);
}

/* An event at path, rest of it past the device's dir ("" for the dir
 * itself, "/state", ...; path NULL: a scan's look at the dir): probe the
 * device if new, forget it if removed, hand its target's keys to
 * backend_changed. */
static void check_dev(vbd_blkback *b, unsigned fe_domid, uint32_t devid, const char *path,
                      const char *rest)
{
	vbd__bb_dev *d = find(b, fe_domid, devid);
	bool dir_event = !*rest;
	char *v;
	int k;

	if (!d) {
		k = retired_find(b, fe_domid, devid);
		if (k >= 0 && path && b->retired[k].closed_seen != VBD__XB_NO_EVENT &&
		    vbd__xb_bus_event_before(b->bus, b->retired[k].closed_seen))
			return;    /* older than our Closed's commit: no news */
		if (k >= 0 && !dir_event && strcmp(rest, "/state") != 0)
			return;
		if (k >= 0 && !dir_event && b->retired[k].own_state) {
			b->retired[k].own_state = false;
			return;
		}
		if (k >= 0 && dir_event && path) {
			/* The dir's removal, or a new device's dir, whose state,
			 * written with it, is an event after this one: either
			 * way nothing to read now. */
			b->retired[k].used = false;
			return;
		}
		/* A new device's dir, or its state, the first of its nodes'
		 * events: its probe reads the state anyway.  Any other node
		 * of a device not served (a probe that failed), or a scan's
		 * look: a read first, not a transaction each. */
		if ((path && (dir_event || !strcmp(rest, "/state"))) ||
		    vbd__xb_backend_live(b->xs, b->base, fe_domid, devid)) {
			if (k >= 0)
				b->retired[k].used = false;
			probe(b, fe_domid, devid);
		} else if (k >= 0 && dir_event) {
			b->retired[k].used = false;
		}
		return;
	}
	if (path && (!strcmp(rest, "/physical-device") || !strcmp(rest, "/physical-device-path"))) {
		vbd__bb_backend_changed(d, path, NULL);
		return;
	}
	if (!dir_event)
		return;
	v = vbd__xb_read(b->xs, XBT_NULL, "%s", d->be);
	if (!v && errno == ENOENT) {
		vbd__bb_dev_free(d, false);
	} else if (v && vbd__xb_read_state(b->xs, XBT_NULL, d->be) == VBD_STATE_INITIALISING) {
		/* Removed and made again before we looked: a new device
		 * (xenbus.c).  Freed without a write, the new one probed. */
		vbd__bb_log(b, VBD_LOG_INFO,
		            "%s: removed and made again for a new device; the old one is dropped",
		            d->be);
		d->replaced = true;
		vbd__bb_dev_free(d, false);
	}
	free(v);
}

static bool holds_domain(const vbd_blkback *b, unsigned fe_domid)
{
	const vbd__bb_dev *d;

	for (d = b->devs; d; d = d->next)
		if (d->fe_domid == fe_domid)
			return true;
	return false;
}

static void scan_domain(vbd_blkback *b, unsigned fe_domid)
{
	char dir[96];
	char **ids;
	unsigned n = 0, i;
	vbd__bb_dev *d, *next;

	snprintf(dir, sizeof(dir), "%s/%u", b->base, fe_domid);
	ids = xs_directory(b->xs, XBT_NULL, dir, &n);
	for (d = b->devs; d; d = d->next)
		if (d->fe_domid == fe_domid)
			d->seen = false;
	for (i = 0; ids && i < n; i++) {
		size_t len;
		long long id = component(ids[i], UINT32_MAX, &len);

		if (id < 0 || ids[i][len])
			continue;
		check_dev(b, fe_domid, (uint32_t)id, NULL, "");
		d = find(b, fe_domid, (uint32_t)id);
		if (d)
			d->seen = true;
	}
	free(ids);
	if (!ids && errno != ENOENT)
		return;     /* could not list: keep what we have */
	for (d = b->devs; d; d = next) {
		next = d->next;
		if (d->fe_domid == fe_domid && !d->seen)
			vbd__bb_dev_free(d, false);
	}
}

void vbd__bb_scan(vbd_blkback *b, const char *path)
{
	size_t bl = strlen(b->base), len;
	long long dom, id;
	const char *p;

	if (strncmp(path, b->base, bl) != 0 || (path[bl] && path[bl] != '/')) {
		/* An ancestor of base (or base itself first) */
		char **doms;
		unsigned n = 0, i;
		vbd__bb_dev *d, *next;

		/* After the first look, holding nothing: a new device's own
		 * nodes' events will say it is there. */
		if (b->scanned && !b->devs)
			return;
		b->scanned = true;
		doms = xs_directory(b->xs, XBT_NULL, b->base, &n);
		for (i = 0; doms && i < n; i++) {
			dom = component(doms[i], DOMID_FIRST_RESERVED - 1, &len);
			if (dom >= 0 && !doms[i][len])
				scan_domain(b, (unsigned)dom);
		}
		if (!doms && errno == ENOENT)
			for (d = b->devs; d; d = next) {
				next = d->next;
				vbd__bb_dev_free(d, false);
			}
		free(doms);
		return;
	}
	p = path + bl;
	if (!*p) {
		vbd__bb_scan(b, "/");
		return;
	}
	dom = component(p + 1, DOMID_FIRST_RESERVED - 1, &len);
	if (dom < 0)
		return;
	p += 1 + len;
	if (!*p) {
		/* The domain's dir made or removed: what is new there says so
		 * by its own nodes' events; a scan finds only what we serve
		 * gone. */
		if (holds_domain(b, (unsigned)dom))
			scan_domain(b, (unsigned)dom);
		return;
	}
	id = component(p + 1, UINT32_MAX, &len);
	if (id < 0)
		return;
	p += 1 + len;
	check_dev(b, (unsigned)dom, (uint32_t)id, path, p);
}
