/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One device's handshake, as Linux xen-blkback's xenbus.c does it
 * over lib/xenbus (docs/protocol.md, "Handshake, backend side"):
 *
 *   probe             (probe.c) backend state 1: offer features, watch the
 *                     frontend's state, go to 2
 *   backend_changed   physical-device appears (an event of the backend dir's
 *                     watch, probe.c): open the target
 *   frontend_changed  3/4: read the ring keys (peer.c: in InitWait, with
 *                     the state, the top ones and the ring keys of the
 *                     likely layout in one round trip, pipelined on the
 *                     bus's wire client; another layout's in one more),
 *                     map the rings and bind (connect.c);
 *                     5: Closing; 6: disconnect, Closed (pipelined with
 *                     the read of online), forget the device if offline;
 *                     1 after Closed: back to InitWait
 *   connect           (connect.c) when the target is open and the rings
 *                     are bound, whichever comes last: one transaction
 *                     with the disk's keys and state 4, the rings mapped
 *                     while the store starts it; each ring's worker at its
 *                     first request
 *
 *     be 1 --probe--> 2;  fe 3 -> rings bound;  physical-device -> open
 *       -> connect -> be 4;  fe 6 -> be 6;  online=0 -> forgotten
 *
 * Everything the frontend writes is hostile: numbers are parsed strictly
 * and bounded, and a bad value is a fatal error of that device only.  A
 * state is written only in a transaction that has read it, so that a
 * removed device is never brought back by a late write.
 *
 * A device removed and made again at the same path (a forced detach and a
 * new attach of the same vdev) can reach this backend as one burst of
 * events, read after both: the dir is there, the old device's watches
 * fire on the new one's nodes.  Only the state tells them apart: the
 * toolstack makes a device at Initialising, and this backend never writes
 * Initialising (its probe writes InitWait in the transaction that read
 * Initialising).  So every transaction that writes a device's keys, and
 * the scan that sees its dir change, takes Initialising as "not this
 * device any more": nothing is written, the device is marked replaced,
 * and vbd__bb_reap_replaced() frees it and probes the new one afresh
 * (its features offered again, its own target opened).
 *
 *   be 4 (ours); toolstack: online=0, 5, rm, mkdir, state=1, online=1
 *     -> the fe watch sees 1, the scan sees the dir: ours read 1, not 4
 *     -> replaced: old rings and target closed, new probe: be 1 -> 2
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "blkback/blkback.h"
#include "util/crashpoint.h"

/* dir/key as a string, NULL if absent (errno ENOENT) or unreadable. */
#define RD(d, dir, key) vbd__xb_read((d)->b->xs, XBT_NULL, "%s/%s", (dir), (key))

/* The state read in a transaction of d's is Initialising: the dir is a
 * new device's (see the top of this file).  Marks d; true if so. */
bool vbd__bb_found_replaced(vbd__bb_dev *d, int s)
{
	if (s != VBD_STATE_INITIALISING)
		return false;
	if (!d->replaced)
		vbd__bb_log(d->b, VBD_LOG_INFO,
		            "%s: removed and made again for a new device; the old one is dropped",
		            d->be);
	d->replaced = true;
	return true;
}

struct switch_job {
	const char *be;
	vbd_state state;
	int found;
};

static int switch_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct switch_job *j = ud;
	int s = vbd__xb_read_state(xs, t, j->be);

	j->found = s;
	if (s == -ENOENT || s == VBD_STATE_INITIALISING)
		return 1;    /* removed (never recreate it), or a new device's */
	if (s < 0 && s != -EINVAL)
		return s;
	return vbd__xb_printf(xs, t, j->be, "state", "%d", (int)j->state);
}

/* The state switch of d: 0, or what switched() says. */
static int dev_switch(vbd__bb_dev *d, vbd_state state)
{
	struct switch_job j = { d->be, state, -1 };
	int r = vbd__xb_txn(d->b->xs, switch_body, &j);

	if (r > 0 && vbd__bb_found_replaced(d, j.found))
		return -ESTALE;
	return r;
}

/* What a state switch's result means for the device: 0 done, -ENOENT if
 * the node is gone (never recreated), -ESTALE if it is a new device's,
 * -errno. */
static int switched(vbd__bb_dev *d, vbd_state state, int r)
{
	if (r == -ESTALE)
		return r;
	if (r == 0) {
		vbd__bb_log(d->b, VBD_LOG_DEBUG, "%s: state %d -> %d", d->be, d->be_state, state);
		d->be_state = state;
		return 0;
	}
	if (r > 0)
		return -ENOENT;
	vbd__bb_log(d->b, VBD_LOG_WARNING, "%s: switching to state %d: %s", d->be, state,
	            strerror(-r));
	return r;
}

static int switch_state(vbd__bb_dev *d, vbd_state state)
{
	if (d->replaced)
		return -ESTALE;
	if (d->be_state == state)
		return 0;
	return switched(d, state, dev_switch(d, state));
}

void vbd__bb_fatal(vbd__bb_dev *d, int err, const char *fmt, ...)
{
	vbd_blkback *b = d->b;
	bool closing = d->be_state == VBD_STATE_CLOSING;
	char msg[256], node[96];
	va_list ap;
	int r, sw = 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vbd__bb_log(b, VBD_LOG_ERR, "%s: %s: %s", d->be, msg, strerror(err < 0 ? -err : err));
	b->fatal_errors++;
	/* The error node is the path's, and a new device's attach would
	 * take the old one's error for its own. */
	if (d->replaced || vbd__bb_found_replaced(d, vbd__xb_read_state(b->xs, XBT_NULL, d->be)))
		return;
	snprintf(node, sizeof(node), "backend/%s/%u/%u", b->kind, d->fe_domid, d->devid);
	r = vbd__xb_dev_fatal(b->xs, b->domid, node, err, msg, NULL, NULL);
	if (r < 0)
		vbd__bb_log(b, VBD_LOG_WARNING, "writing /local/domain/%u/error/%s/error: %s", b->domid,
		            node, strerror(-r));
	if (!closing) {
		sw = dev_switch(d, VBD_STATE_CLOSING);
		switched(d, VBD_STATE_CLOSING, sw);
	}
}

void vbd__bb_disconnect(vbd__bb_dev *d)
{
	unsigned i;

	for (i = 0; i < d->nr_rings; i++)
		vbd__bb_ring_disconnect(&d->rings[i]);
	if (d->rings)
		__atomic_fetch_sub(&d->b->mem, d->nr_rings * sizeof(*d->rings), __ATOMIC_RELAXED);
	free(d->rings);
	d->rings = NULL;
	d->nr_rings = 0;
	d->rings_bound = false;
}

void vbd__bb_dev_free(vbd__bb_dev *d, bool close_state)
{
	vbd_blkback *b = d->b;
	vbd__bb_dev **p;
	char be[sizeof(d->be)];
	bool again;

	vbd__bb_disconnect(d);
	if (close_state)
		switch_state(d, VBD_STATE_CLOSED);
	again = d->replaced && !b->freeing;
	memcpy(be, d->be, sizeof(be));
	/* Kept set for a device at the same path again, unless all goes. */
	if (b->freeing)
		vbd__xb_watch_remove(b->bus, d->w_fe);
	else
		vbd__xb_watch_release(b->bus, d->w_fe);
	vbd__bb_disk_close(&d->disk);
	for (p = &b->devs; *p; p = &(*p)->next) {
		if (*p == d) {
			*p = d->next;
			break;
		}
	}
	vbd__bb_log(b, VBD_LOG_INFO, "%s: no longer served", d->be);
	__atomic_fetch_sub(&b->mem, sizeof(*d), __ATOMIC_RELAXED);
	free(d);
#ifdef __GLIBC__
	/* What a device leaves free in the heap lies between allocations
	 * that stay (other devices', the bus's), so glibc keeps it: RSS was
	 * 1.8x its starting value after 1000 devices came and went, 1.03x
	 * with this.  A device's going is rare and costs many xenstore round
	 * trips; one trim is small beside them. */
	malloc_trim(0);
#endif
	if (again)
		vbd__bb_scan(b, be);    /* the new device at its path */
}

int vbd__bb_reap_replaced(vbd_blkback *b)
{
	vbd__bb_dev *d;
	int n = 0;

	/* From the head each time: the probe puts the new device there. */
	for (;;) {
		for (d = b->devs; d && !d->replaced; d = d->next)
			;
		if (!d)
			return n;
		vbd__bb_dev_free(d, false);
		n++;
	}
}

/* ---------------------------------------------------------- the frontend */

static bool is_online(vbd__bb_dev *d)
{
	unsigned long long v;

	return vbd__xb_read_num(d->b->xs, XBT_NULL, d->be, "online", 1, &v) == 0 && v == 1;
}

struct close_job {
	const char *be;
	bool online;
	int found;      /* the state read, or -1 if online said enough */
};

/* Closed after the frontend's Closed, with online read in the same
 * transaction.  online 0 is a detach of this device (the toolstack makes
 * a device with online 1, and a new one at the path has it so), and the
 * node being there says the dir is: Closed is written with no state read.
 * Otherwise (online 1: a reset; absent or not a number) the state is read
 * as switch_body does. */
static int close_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct close_job *j = ud;
	unsigned long long v = 2;
	int r = vbd__xb_read_num(xs, t, j->be, "online", 1, &v), s;

	if (r < 0 && r != -ENOENT && r != -EINVAL)
		return r;
	j->online = r == 0 && v == 1;
	j->found = -1;
	if (r < 0 || v != 0) {
		s = vbd__xb_read_state(xs, t, j->be);
		j->found = s;
		if (s == -ENOENT || s == VBD_STATE_INITIALISING)
			return 1;
		if (s < 0 && s != -EINVAL)
			return s;
	}
	return vbd__xb_printf(xs, t, j->be, "state", "%d", VBD_STATE_CLOSED);
}

/* close_body()'s online read, pipelined with the write of Closed: online
 * 0 lets the write stand; anything else needs the state read first, which
 * close_body() does (CLOSE_SLOW), the write thrown away with the
 * transaction. */
#define CLOSE_SLOW 7

static int close_check(const char *val, int err, void *ud)
{
	struct vbd__bb_num n = { .max = 1 };

	(void)ud;
	vbd__bb_num_check(val, err, &n);
	if (n.r < 0 && n.r != -ENOENT && n.r != -EINVAL)
		return n.r;
	return n.r == 0 && n.v == 0 ? 0 : CLOSE_SLOW;
}

/* A detach's Closed in 3 round trips (start, online and the write, end):
 * 0, CLOSE_SLOW, or -errno as vbd__xb_txn(close_body) returns it. */
static int close_pipelined(vbd__bb_dev *d)
{
	char path[VBD__XB_PATH_MAX + 8];
	vbd__xb_batch *bt;
	int r;

	if ((r = vbd__xb_batch_new(&bt)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/online", d->be);
	r = vbd__xb_batch_check(bt, path, close_check, NULL);
	if (r == 0)
		r = vbd__xb_batch_printf(bt, d->be, "state", "%d", VBD_STATE_CLOSED);
	if (r == 0)
		r = vbd__xb_bus_run(d->b->bus, bt, NULL);
	vbd__xb_batch_free(bt);
	return r;
}

/* The frontend is Closed: ours too, and whether the device is still
 * online (*online) read before that write or with it.  *seen: the bus's
 * replies before the one to the wire commit that wrote Closed, or
 * VBD__XB_NO_EVENT (nothing written, or written through libxenstore). */
static int close_dev(vbd__bb_dev *d, bool *online, uint64_t *seen)
{
	struct close_job j = { d->be, false, -1 };
	int r;

	*seen = VBD__XB_NO_EVENT;
	if (d->replaced)
		return -ESTALE;
	if (d->be_state == VBD_STATE_CLOSED) {
		*online = is_online(d);
		return 0;
	}
	r = close_pipelined(d);
	/* Its commit's reply was the wire's last: the events before it (our
	 * Closed's among them) are stamped at most one less. */
	if (r == 0)
		*seen = vbd__xb_bus_replies(d->b->bus) - 1;
	if (r == CLOSE_SLOW)
		r = vbd__xb_txn(d->b->xs, close_body, &j);
	*online = j.online;
	if (r > 0 && vbd__bb_found_replaced(d, j.found))
		r = -ESTALE;
	return switched(d, VBD_STATE_CLOSED, r);
}

/* The frontend's state read into k says Initialised, or Connected (Mini-OS
 * goes there from Initialising). */
static bool fe_ready(const struct vbd__bb_fe_keys *k)
{
	return k->state.r == 0 &&
	       (k->state.v == VBD_STATE_INITIALISED || k->state.v == VBD_STATE_CONNECTED);
}

void vbd__bb_frontend_changed(const char *path, void *ud)
{
	vbd__bb_dev *d = ud;
	struct vbd__bb_fe_keys k;
	bool early = d->fe_early > 0;
	int st;

	(void)path;
	if (d->replaced)
		return;                  /* the new device's, not ours */
	if (early)
		d->fe_early--;
	/* In InitWait the frontend's next state is Initialised, its ring keys
	 * written with it: read them with the state.  An early event (the
	 * watch's first, at once) most likely finds it still Initialising:
	 * the rest waits on the state's answer, not to be sent for nothing. */
	if (d->be_state == VBD_STATE_INITWAIT && d->disk.fd >= 0) {
		/* Initialised (most likely after a later event; after the
		 * early one when the frontend answered InitWait before our
		 * watch's first event was read, as Linux's blkfront does):
		 * the keys come with the Connected transaction's start
		 * (connect.c), not in a round trip of their own before it. */
		if (early)
			vbd__bb_read_fe(d, &k, true, false);
		if ((!early || fe_ready(&k)) && vbd__bb_connect_fetched(d, &k)) {
			d->fe_state = (int)k.state.v;
			return;
		}
	} else if (d->be_state == VBD_STATE_INITWAIT) {
		vbd__bb_read_fe_guess(d, &k, early);
	} else {
		vbd__bb_read_fe(d, &k, true, false);
	}
	st = k.state.r < 0 ? k.state.r : (int)k.state.v;
	if (st == -ENOENT)
		st = VBD_STATE_UNKNOWN;
	else if (st == -EINVAL)
		st = -1;                 /* not a state: fatal below */
	else if (st < 0)
		return;                  /* xenstore could not say */
	d->fe_state = st;
	switch (st) {
	case VBD_STATE_INITIALISING:   /* a reconnect after Closed, or a new frontend */
		/* Back to InitWait only from Closed, as Linux: a frontend that
		 * takes over a connected device (a guest's restarted) first
		 * resets it through Closing and Closed, where its
		 * predecessor's rings went. */
		if (d->be_state == VBD_STATE_CLOSED) {
			vbd__bb_disconnect(d);
			vbd__bb_log(d->b, VBD_LOG_INFO, "%s: frontend reconnects", d->be);
			switch_state(d, VBD_STATE_INITWAIT);
		}
		break;
	case VBD_STATE_INITIALISED:
	case VBD_STATE_CONNECTED:      /* Mini-OS goes here from Initialising */
		/* Two quick changes may reach us as one: connect on either. */
		if (d->be_state == VBD_STATE_CONNECTED || d->be_state == VBD_STATE_CLOSING ||
		    d->be_state == VBD_STATE_CLOSED)
			break;
		vbd__bb_disconnect(d);    /* idempotent: nothing mapped twice */
		vbd__bb_connect_rings(d, &k);
		break;
	case VBD_STATE_CLOSING:
		vbd__crashpoint("blkback.fe-closing");
		switch_state(d, VBD_STATE_CLOSING);
		vbd__crashpoint("blkback.closing-written");
		break;
	case VBD_STATE_CLOSED: {
		/* online read with Closed, in its transaction (close_dev):
		 * once both ends are Closed the toolstack may remove the
		 * device and a new attach may write online=1 at the same
		 * path, which must not keep this one alive. */
		bool online = false, wrote = d->be_state != VBD_STATE_CLOSED;
		uint64_t seen;

		vbd__bb_disconnect(d);
		vbd__crashpoint("blkback.closing");
		wrote &= close_dev(d, &online, &seen) == 0;
		if (!online) {
			vbd__bb_retire(d->b, d->fe_domid, d->devid, wrote, seen);
			vbd__bb_dev_free(d, false);
			break;
		}
		vbd__crashpoint("blkback.closed-written");
		break;
	}
	case VBD_STATE_UNKNOWN:        /* the frontend is gone */
		vbd__bb_dev_free(d, true);
		break;
	default:
		if (st < 0)
			vbd__bb_fatal(d, -EINVAL, "saw a frontend state that is not one");
		else
			vbd__bb_fatal(d, -EINVAL, "saw state %d at frontend", st);
		break;
	}
}

/* ------------------------------------------------------------ the target */

/* /dev/block/M:m, or the name sysfs gives the device. */
static int open_by_number(struct vbd__bb_disk *k, unsigned maj, unsigned min, bool ro, bool discard,
                          char *why, size_t whylen)
{
	char path[160], buf[512], *name;
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof(path), "/dev/block/%u:%u", maj, min);
	r = vbd__bb_disk_open(k, path, ro, discard, why, whylen);
	if (r != -ENOENT)
		return r;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", maj, min);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "no block device %x:%x", maj, min);
		return -ENODEV;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	name = strstr(buf, "DEVNAME=");
	if (!name) {
		snprintf(why, whylen, "no device name for %x:%x", maj, min);
		return -ENODEV;
	}
	name += 8;
	name[strcspn(name, "\n")] = 0;
	if (strstr(name, "..")) {
		snprintf(why, whylen, "odd device name for %x:%x", maj, min);
		return -ENODEV;
	}
	snprintf(path, sizeof(path), "/dev/%.140s", name);
	return vbd__bb_disk_open(k, path, ro, discard, why, whylen);
}

/* 0, or -errno after a fatal error of the device. */
static int check_tap_params(vbd__bb_dev *d, const char *params, const char *pdp)
{
	int r = 0;

	if (!params || strncmp(params, "aio:", 4)) {
		r = -ENOTSUP;
		vbd__bb_fatal(d, r, "params %s: a vbd3 backend here serves aio:<path> (raw) only",
		              params ? "has another format" : "missing");
	} else if (!pdp || strcmp(pdp, params + 4)) {
		r = -EINVAL;
		vbd__bb_fatal(d, r, "physical-device-path is not the path in params");
	}
	return r;
}

void vbd__bb_backend_changed(vbd__bb_dev *d, const char *path, struct vbd__bb_target_keys *read)
{
	struct vbd__bb_disk *k = &d->disk;
	struct vbd__bb_target_keys t = { .de.r = -EIO, .dio.r = -EIO };
	char *pd, *pdp, *mode, *type, why[320];
	unsigned long long de = 1;
	unsigned maj = 0, min = 0;
	bool have_pd, ro;
	int r;

	if (d->replaced)
		return;
	/* Open already: only a changed physical-device is worth a look (a
	 * warning), not what else the hotplug step writes after it, nor a
	 * write the read that opened it saw (the attach's commit: its events
	 * come in a burst, the first of them the probe's). */
	if (k->fd >= 0 && path && (!vbd__bb_key_is(d, path, "physical-device") ||
	                           vbd__xb_bus_event_before(d->b->bus, k->keys_seen)))
		return;
	if (k->fd < 0 && read) {
		t = *read;               /* read in the probe's window */
		memset(read, 0, sizeof(*read));
	} else if (k->fd >= 0)
		t.pd = RD(d, d->be, "physical-device");
	else if ((r = vbd__bb_read_target(d, &t)) < 0)
		/* As reads that all failed: nothing to open yet. */
		vbd__bb_log(d->b, VBD_LOG_WARNING, "%s: reading the target's keys: %s", d->be,
		            strerror(-r));
	pd = t.pd;
	pdp = t.pdp;
	mode = t.mode;
	type = t.type;
	have_pd = pd != NULL;
	if (have_pd && vbd__bb_parse_pdev(pd, &maj, &min) < 0) {
		vbd__bb_fatal(d, -EINVAL, "parsing physical-device %.32s", pd);
		goto out;
	}
	if (k->fd >= 0) {
		if (have_pd && k->have_pdev && (maj != k->major || min != k->minor))
			vbd__bb_log(d->b, VBD_LOG_WARNING,
			            "%s: physical-device changed from %x:%x to %x:%x; ignored", d->be,
			            k->major, k->minor, maj, min);
		goto out;
	}
	if (!have_pd && !pdp)
		goto out;        /* not yet: the hotplug step has not run */
	if (pdp && !vbd__bb_pdp_ok(pdp)) {
		vbd__bb_fatal(d, -EINVAL, "bad physical-device-path");
		goto out;
	}
	/* vbd3 (tap): params is "<format>:<path>"; only aio (raw) is served,
	 * and the hotplug step's physical-device-path must be that path. */
	if (!strcmp(d->b->kind, "vbd3") && (r = check_tap_params(d, t.params, pdp)) < 0)
		goto out;
	ro = !mode || !strchr(mode, 'w');
	if (t.de.r == 0)
		de = t.de.v;
	k->direct_wanted = t.dio.r == 0 && t.dio.v == 1;
	if (pdp)
		r = vbd__bb_disk_open(k, pdp, ro, d->b->feature_discard && de && !ro, why, sizeof(why));
	else
		r = open_by_number(k, maj, min, ro, d->b->feature_discard && de && !ro, why,
		                   sizeof(why));
	if (r < 0) {
		k->fd = -1;
		vbd__bb_fatal(d, r, "%s", why);
		goto out;
	}
	if (k->is_blk) {
		struct stat st;

		fstat(k->fd, &st);
		if (have_pd && (major(st.st_rdev) != maj || minor(st.st_rdev) != min)) {
			vbd__bb_disk_close(k);
			vbd__bb_fatal(d, -EINVAL, "physical-device-path %s is not physical-device %x:%x",
			              pdp, maj, min);
			goto out;
		}
		k->major = major(st.st_rdev);
		k->minor = minor(st.st_rdev);
		k->have_pdev = true;
	}
	k->cdrom = type && strcmp(type, "cdrom") == 0;
	vbd__bb_log(d->b, VBD_LOG_INFO, "%s: serving %s (%llu sectors%s%s)", d->be, k->path,
	            (unsigned long long)k->sectors, ro ? ", read-only" : "",
	            k->dfd >= 0 ? ", O_DIRECT" : "");
	if (k->direct_wanted && k->dfd < 0) {
		VBD__BB_ADD(d->b->direct_refused, 1);
		vbd__bb_log(d->b, VBD_LOG_WARNING, "%s: direct-io-safe, but %s: buffered", d->be,
		            k->direct_why);
	}
	vbd__bb_update_status(d);
out:
	free(pd);
	free(pdp);
	free(t.params);
	free(mode);
	free(type);
}
