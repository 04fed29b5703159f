/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd_blkfront: a frontend's device as an object of its caller's loop (one
 * fd, process()), and the I/O calls on it.  The handshake with the
 * backend through xenstore is xenbus.c's; the rings and requests io.c's.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "blkfront/blkfront.h"
#include "util/crashpoint.h"
#include "util/opts.h"
#include "util/spin.h"

void vbd__bf_log(vbd_blkfront *f, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vbd__logv_to(f->o.log, f->o.log_userdata, level, fmt, ap);
	va_end(ap);
}

/* ---- the object ---- */

static void on_watch(const char *path, void *ud)
{
	vbd_blkfront *f = ud;
	size_t n = strlen(f->be), m = strlen(f->fe);

	/* Each watch's first event is the one it fires when set, before
	 * vbd_blkfront_new() read both states. */
	if (f->fe_first && !strncmp(path, f->fe, m) && !strcmp(path + m, "/state")) {
		f->fe_first = false;
		f->xs_dirty = true;
		return;
	}
	if (f->be_first && !strncmp(path, f->be, n) && !strcmp(path + n, "/state")) {
		f->be_first = false;
		f->xs_dirty = true;
		return;
	}
	/* Before the first step, an event the wire took before the replies
	 * to the start's reads tells of a change they saw: the backend's
	 * InitWait written before we looked, on a watch kept from an earlier
	 * frontend of the device.  Counted on the same wire (its count not
	 * started again by a new connection since). */
	if (f->start_seen != VBD__XB_NO_EVENT && vbd__xb_bus_replies(f->bus) >= f->start_seen &&
	    vbd__xb_bus_event_before(f->bus, f->start_seen))
		return;
	/* Our own state writes' events, one each, come in the order of the
	 * commits: a change of anyone else's to our state, or its removal,
	 * is an event more, which comes after them or takes the place of one
	 * of ours (then ours, after it, is the one that says read again).
	 * Either way our state is read again after any change not ours, and
	 * not after the events of the Initialised, Connected and Closed we
	 * wrote ourselves. */
	if (f->own_events && !strncmp(path, f->fe, m) && !strcmp(path + m, "/state")) {
		f->own_events--;
		f->xs_dirty = true;
		return;
	}

	/* Anything but the backend's node (our state's, its dir's removal),
	 * and anything but ours. */
	if (strncmp(path, f->be, n) || (path[n] && path[n] != '/'))
		f->own_read = false;
	if (strncmp(path, f->fe, m) || (path[m] && path[m] != '/')) {
		f->be_read = false;
		f->offers_kept = false;
	}
	f->xs_dirty = true;
}

/* "/local/domain/<n>/backend/<kind>/<domid>/<devid>", n a plain decimal,
 * kind vbd (a kernel blkback) or vbd3 (libxl's backendtype=tap, a
 * userspace backend): the frontend speaks the same protocol to both. */
static int parse_backend(vbd_blkfront *f, const char *be, unsigned *ret_bdom)
{
	static const char pre[] = "/local/domain/";
	char want[sizeof(f->be)];
	const char *p = be, *end;
	long long n;
	char num[12];

	if (strncmp(p, pre, sizeof(pre) - 1) != 0)
		return -EPROTO;
	p += sizeof(pre) - 1;
	end = strchr(p, '/');
	if (!end || end == p || (size_t)(end - p) >= sizeof(num))
		return -EPROTO;
	memcpy(num, p, (size_t)(end - p));
	num[end - p] = 0;
	n = vbd__parse_num(num);
	if (n < 0 || n >= DOMID_FIRST_RESERVED || (num[0] == '0' && num[1]))
		return -EPROTO;
	if ((size_t)snprintf(want, sizeof(want), "/local/domain/%lld/backend/vbd/%u/%u", n,
	                     f->o.domid, f->o.devid) >= sizeof(want))
		return -EPROTO;
	if (strcmp(want, be) != 0 &&
	    ((size_t)snprintf(want, sizeof(want), "/local/domain/%lld/backend/vbd3/%u/%u", n,
	                      f->o.domid, f->o.devid) >= sizeof(want) || strcmp(want, be) != 0))
		return -EPROTO;
	*ret_bdom = (unsigned)n;
	return 0;
}

static void log_to_owner(int level, const char *msg, void *ud)
{
	vbd_blkfront *f = ud;

	if (f->o.log)
		f->o.log(level, msg, f->o.log_userdata);
}

/* The device's keys as read (dev: virtual-device, backend, backend-id),
 * checked and taken: the device's number, the backend's path and domain.
 * 0 or -errno, err saying which key is wrong. */
static int take_dev_keys(vbd_blkfront *f, const struct vbd__bf_key *dev, vbd_errbuf *err)
{
	long long n;
	int r = vbd__bf_key_num(&dev[0], LLONG_MAX, &n);

	if (r == -ENOENT)
		r = vbd__bf_read_num(f, f->fe, "virtual-device-ext", &n);
	if (r < 0 || n > UINT32_MAX) {
		r = r == -ENOENT ? -ENOENT : -EPROTO;
		return vbd__errf(err, r, "blkfront: %s/virtual-device: %s", f->fe,
		                 r == -ENOENT ? "no such device" : "malformed");
	}
	f->info.virtual_device = (uint32_t)n;
	if (dev[1].err < 0)
		return vbd__errf(err, dev[1].err, "blkfront: reading %s/backend", f->fe);
	if (dev[1].len >= sizeof(f->be) || parse_backend(f, dev[1].val, &f->bdom) < 0)
		return vbd__errf(err, -EPROTO, "blkfront: %s/backend \"%.100s\" is not "
		                 "/local/domain/<n>/backend/vbd[3]/%u/%u", f->fe, dev[1].val,
		                 f->o.domid, f->o.devid);
	memcpy(f->be, dev[1].val, dev[1].len + 1);     /* shorter than f->be: checked */
	r = vbd__bf_key_num(&dev[2], LLONG_MAX, &n);
	if (r < 0 || n != (long long)f->bdom)
		return vbd__errf(err, -EPROTO, "blkfront: %s/backend-id does not name domain %u",
		                 f->fe, f->bdom);
	f->info.backend_domid = f->bdom;
	return 0;
}

int vbd_blkfront_new(vbd_blkfront **ret, const vbd_blkfront_options *o, vbd_errbuf *err)
{
	vbd_errbuf werr = { "" };
	struct epoll_event ev = { .events = EPOLLIN };
	char path[160], guess[sizeof(((vbd_blkfront *)0)->be)];
	struct vbd__bf_key dev[3];
	vbd_blkfront_options lo;
	vbd_blkfront *f;
	bool fast;
	int r, r2, bs;

	if (!ret || !o ||
	    VBD__OPTS_LOAD(&lo, o, VBD_BLKFRONT_OPTIONS_VERSION,
	                   offsetof(vbd_blkfront_options, poll_us), sizeof(lo)) < 0 ||
	    !o->xport)
		return vbd__errf(err, -EINVAL, "blkfront: bad options");
	o = &lo;
	lo.max_ring_page_order = vbd__opt_uint(lo.max_ring_page_order, 0);
	lo.max_queues = vbd__opt_uint(lo.max_queues, 4);
	lo.max_indirect_segments = vbd__opt_uint(lo.max_indirect_segments, 256);
	if (o->max_ring_page_order > VBD__BF_MAX_ORDER || o->max_queues == 0 ||
	    o->max_queues > VBD__BF_MAX_QUEUES || o->max_indirect_segments > VBD__BF_MAX_INDIRECT ||
	    o->domid >= DOMID_FIRST_RESERVED || o->poll_us > VBD__POLL_US_MAX)
		return vbd__errf(err, -EINVAL, "blkfront: an option is out of range");
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->o = *o;
	f->x = o->xport;
	f->poll_ns = (uint64_t)o->poll_us * 1000;
	f->epfd = -1;
	f->wait_tail = &f->wait_head;
	f->done_tail = &f->done_head;
	f->state = VBD_STATE_INITIALISING;
	f->start_seen = VBD__XB_NO_EVENT;
	snprintf(f->fe, sizeof(f->fe), "/local/domain/%u/device/vbd/%u", o->domid, o->devid);

	if (o->bus) {
		f->bus = vbd_bus_ref(o->bus);
	} else {
		vbd_bus_options bo = VBD_BUS_OPTIONS_INIT;

		bo.xenstored_path = o->xenstored_path;
		bo.log = log_to_owner;
		bo.log_userdata = f;
		r = vbd_bus_new(&f->bus, &bo, NULL);
		if (r < 0) {
			vbd__errf(err, r, "blkfront: connecting to xenstore%s%s",
			          o->xenstored_path ? " at " : "",
			          o->xenstored_path ? o->xenstored_path : "");
			goto fail;
		}
	}
	f->xs = f->bus->xs;
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (f->epfd < 0) {
		r = -errno;
		goto fail;
	}
	ev.data.u32 = 0;
	if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, vbd_bus_get_fd(f->bus), &ev) < 0) {
		r = -errno;
		goto fail;
	}
	/* The watches before both states are read: a change after the reads
	 * is an event of its own, so the first event of each, the one
	 * xenstore sends at once, tells nothing the reads did not (on_watch).
	 * A watch a frontend of the same device left on a shared bus is taken
	 * again (vbd__xb_watch_release): no request, and no first event.
	 *
	 * All of it, with the device's keys, in one round trip where the
	 * backend is in dom0, as libxl writes it for most (the keys say where
	 * it is, and the watch and reads need its path before they come).
	 * Elsewhere, or when anything failed, the long way below: the keys,
	 * a watch, the states, each a round trip, the frontend's watch kept
	 * when it was set. */
	dev[0] = (struct vbd__bf_key){ .dir = f->fe, .key = "virtual-device" };
	dev[1] = (struct vbd__bf_key){ .dir = f->fe, .key = "backend" };
	dev[2] = (struct vbd__bf_key){ .dir = f->fe, .key = "backend-id" };
	snprintf(guess, sizeof(guess), "/local/domain/0/backend/vbd/%u/%u", o->domid, o->devid);
	memcpy(f->be, guess, sizeof(guess));
	fast = vbd__bf_start_window(f, dev, on_watch, &r, &bs);
	if (!fast)
		vbd__bf_fetch(f, dev, 3, false);
	if ((r2 = take_dev_keys(f, dev, err)) < 0) {
		r = r2;
		goto fail;
	}
	if (f->w_be && strcmp(f->be, guess) != 0) {
		/* Elsewhere: the watch on the guess goes (kept idle if an
		 * earlier frontend left it), the states are read again. */
		if (f->be_first)
			vbd__xb_watch_remove(f->bus, f->w_be);
		else
			vbd__xb_watch_release(f->bus, f->w_be);
		f->w_be = NULL;
		fast = false;
	}
	if (!fast) {
		snprintf(path, sizeof(path), "%s/state", f->fe);
		r = f->w_fe ? 0 : vbd__xb_watch_take(f->bus, path, on_watch, f, &werr, &f->w_fe,
		                                     &f->fe_first);
		if (r == 0 && !f->w_be) {
			snprintf(path, sizeof(path), "%s/state", f->be);
			r = vbd__xb_watch_take(f->bus, path, on_watch, f, &werr, &f->w_be,
			                       &f->be_first);
		}
		if (r < 0) {
			vbd__errf(err, r, "blkfront: %s", werr.msg);
			goto fail;
		}
		r = vbd__bf_start_states(f, &bs);
	}
	if (r == -ENOENT) {
		vbd__errf(err, r, "blkfront: %s/state is missing", f->fe);
		goto fail;
	}
	if (r == VBD_STATE_INITIALISED || r == VBD_STATE_CONNECTED) {
		/* A previous frontend died (a guest's frontend restarted) with
		 * its rings up: reset the connection, then start again.  The
		 * backend unmaps the old rings when it sees Closed. */
		vbd__bf_log(f, VBD_LOG_INFO, "%s: found %s: taking it over", f->fe,
		            vbd_state_name(r));
		f->reset = VBD__BF_RESET_CLOSING;
		f->reset_deadline = vbd__now_ms() + VBD__BF_RESET_WAIT_MS;
		r = vbd__bf_switch_state(f, VBD_STATE_CLOSING, false);
		if (r < 0) {
			vbd__errf(err, r, "blkfront: writing %s/state", f->fe);
			goto fail;
		}
	} else if (r == VBD_STATE_CLOSED) {
		/* A previous frontend closed cleanly: start again. */
		r = vbd__bf_switch_state(f, VBD_STATE_INITIALISING, false);
		if (r < 0) {
			vbd__errf(err, r, "blkfront: writing %s/state", f->fe);
			goto fail;
		}
	} else if (r != VBD_STATE_INITIALISING) {
		r = vbd__errf(err, -EBUSY, "blkfront: %s is in use (state %d)", f->fe, r);
		goto fail;
	}
	/* Ours is what was read or written; the backend's was read with it,
	 * as vbd__bf_step() would on the watches' first events (a write of ours to
	 * Initialising after it is followed by the backend's change, an
	 * event).  A reset reads it at each step. */
	f->own_read = true;
	if (f->reset == VBD__BF_RESET_NONE) {
		f->be_state = bs;
		f->be_read = f->be_state != VBD_STATE_UNKNOWN;
		/* Unless its event, if it comes, is known to be older than the
		 * read (start_seen). */
		f->be_stale = f->be_state == VBD_STATE_INITWAIT && f->start_seen == VBD__XB_NO_EVENT;
	} else {
		f->offers_kept = false;
	}
	f->xs_dirty = true;     /* the handshake starts in process() */
	*ret = f;
	return 0;
fail:
	vbd_blkfront_free(f);
	return r;
}

vbd_blkfront *vbd_blkfront_free(vbd_blkfront *f)
{
	vbd__bf_share *s;

	if (!f)
		return NULL;
	vbd__bf_drop_callbacks(f);
	vbd__bf_queues_teardown(f);
	vbd__bf_buffers_free(f);
	vbd__bf_retry_deferred(f);
	if (f->deferred)
		vbd__bf_log(f, VBD_LOG_WARNING, "%s: %llu pages still mapped by the backend are "
		            "left to vbd_xport_free()", f->fe,
		            (unsigned long long)f->info.grants_deferred);
	while ((s = f->deferred)) {
		f->deferred = s->next;
		free(s);
	}
	if (f->bus) {
		/* Kept set on a shared bus, for a frontend of the same device. */
		vbd__xb_watch_release(f->bus, f->w_fe);
		vbd__xb_watch_release(f->bus, f->w_be);
		vbd_bus_unref(f->bus);
	}
	if (f->epfd >= 0)
		close(f->epfd);
	free(f);
	return NULL;
}

int vbd_blkfront_get_fd(vbd_blkfront *f)
{
	return f ? f->epfd : -EINVAL;
}

int vbd_blkfront_get_timeout_ms(vbd_blkfront *f)
{
	if (!f)
		return -1;
	if (f->xs_dirty || f->done_head || f->resize_due || vbd__bf_poll_due(f))
		return 0;
	if (f->reset != VBD__BF_RESET_NONE) {
		/* Wake at the deadline to see whether the backend followed. */
		uint64_t now = vbd__now_ms();
		int t = now >= f->reset_deadline ? 0 : (int)(f->reset_deadline - now);

		return f->deferred && t > 100 ? 100 : t;
	}
	return f->deferred ? 100 : -1;
}

int vbd_blkfront_process(vbd_blkfront *f)
{
	unsigned i;
	int r, n = 0;

	if (!f)
		return -EINVAL;
	/* A response the busy-poll saw (vbd__bf_poll): collected, and what
	 * its callback submits pushed, before any system call, so that the
	 * backend works on the next request while this thread reads xenstore
	 * and the event channels below.  At QD1 the two epoll_waits were on
	 * the round trip's path: 4 KiB reads, 310k -> 390k a second. */
	if (f->rsp_ready && f->rings_up && !f->broken) {
		vbd__bf_collect(f);
		if (f->done_head) {
			vbd__bf_run_callbacks(f);
			n++;
		}
	}
	r = vbd_bus_process(f->bus);
	if (r < 0)
		return r;
	n += r;
	if (f->reset != VBD__BF_RESET_NONE && vbd__now_ms() >= f->reset_deadline)
		f->xs_dirty = true;     /* the reset's wait is over: look */
	if (f->xs_dirty) {
		f->xs_dirty = false;
		vbd__bf_step(f);
		n++;
	}
	/* Events: unmask first, so that a response pushed while we collect
	 * raises a new one. */
	for (i = 0; i < f->nq; i++) {
		vbd__bf_queue *q = &f->q[i];
		int port;

		while ((port = vbd_evtchn_pending(q->evtchn)) >= 0) {
			vbd_evtchn_unmask(q->evtchn, (uint32_t)port);
			f->info.events++;
			n++;
		}
	}
	if (f->rings_up && !f->broken)
		vbd__bf_collect(f);
	vbd__bf_retry_deferred(f);
	vbd__bf_pump(f);
	vbd__bf_close_step(f);
	if (f->xs_dirty) {
		f->xs_dirty = false;
		vbd__bf_step(f);
	}
	if (f->resize_due) {
		f->resize_due = false;
		if (f->o.resized)
			f->o.resized(f->resize_old, f->resize_new, f->o.resized_userdata);
		n++;
	}
	if (f->done_head) {
		vbd__bf_run_callbacks(f);
		n++;
	}
	/* Last, after what the callbacks submitted went out. */
	vbd__bf_poll(f);
	return n;
}

int vbd_blkfront_get_state(vbd_blkfront *f)
{
	return f ? f->state : -EINVAL;
}

const char *vbd_blkfront_last_error(vbd_blkfront *f)
{
	return f ? f->why : "";
}

int vbd_blkfront_get_info(vbd_blkfront *f, vbd_blkfront_info *ret)
{
	if (!f || !ret || ret->size < sizeof(ret->size))
		return -EINVAL;
	return vbd__out_fill(ret, &f->info, sizeof(f->info));
}

/* One round of the caller's loop, for the blocking helpers. */
static int wait_once(vbd_blkfront *f, int timeout_ms)
{
	struct pollfd p = { .fd = f->epfd, .events = POLLIN };
	int t = vbd_blkfront_get_timeout_ms(f);

	if (t < 0 || (timeout_ms >= 0 && timeout_ms < t))
		t = timeout_ms;
	/* With nothing to wait for, no poll(): one system call fewer a
	 * response while the rings are busy-polled. */
	if (t != 0 && poll(&p, 1, t) < 0 && errno != EINTR)
		return -errno;
	return vbd_blkfront_process(f);
}

static int remaining(uint64_t deadline)
{
	uint64_t now = vbd__now_ms();

	return now >= deadline ? 0 : (int)(deadline - now > 0x7fffffff ? 0x7fffffff : deadline - now);
}

int vbd_blkfront_wait_connected(vbd_blkfront *f, int timeout_ms)
{
	uint64_t deadline;
	int r;

	if (!f)
		return -EINVAL;
	deadline = vbd__now_ms() + (uint64_t)(timeout_ms < 0 ? 0x7fffffff : timeout_ms);
	for (;;) {
		if (f->connected)
			return 0;
		if (f->broken || f->closing ||
		    (f->state >= VBD_STATE_CLOSING && f->reset == VBD__BF_RESET_NONE))
			return -ENOTCONN;
		if (remaining(deadline) == 0)
			return -ETIMEDOUT;
		r = wait_once(f, remaining(deadline));
		if (r < 0)
			return r;
	}
}

int vbd_blkfront_submit(vbd_blkfront *f, vbd_blkfront_op op, uint64_t offset, void *buf,
                        size_t len, vbd_blkfront_done_fn done, void *userdata)
{
	uint64_t size;
	vbd__bf_io *io;

	if (!f || !done || (unsigned)op > VBD_BLKFRONT_DISCARD)
		return -EINVAL;
	if (!f->connected || f->broken || f->closing)
		return -ENOTCONN;
	size = f->info.sectors << 9;
	switch (op) {
	case VBD_BLKFRONT_FLUSH:
		if (!f->info.flush && !f->info.barrier)
			return -EOPNOTSUPP;
		offset = 0;
		len = 0;
		break;
	case VBD_BLKFRONT_DISCARD:
		if (!f->info.discard)
			return -EOPNOTSUPP;
		/* fall through */
	case VBD_BLKFRONT_WRITE:
		if (f->info.info & VBD_BLKFRONT_INFO_READONLY)
			return -EROFS;
		/* fall through */
	case VBD_BLKFRONT_READ:
		if (len == 0 || offset % f->info.sector_size || len % f->info.sector_size ||
		    offset > size || len > size - offset || (op != VBD_BLKFRONT_DISCARD && !buf))
			return -EINVAL;
		break;
	}
	if (f->ios >= f->io_limit)
		return -EAGAIN;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->op = op;
	io->offset = offset;
	io->buf = buf;
	io->len = len;
	io->done = done;
	io->ud = userdata;
	io->queued = true;
	*f->wait_tail = io;
	f->wait_tail = &io->next;
	f->ios++;
	/* From a completion callback, the I/O waits for the pump after the
	 * last callback: what a round of completions resubmits goes out in
	 * one push (one barrier, at most one notification). */
	if (!f->in_callbacks)
		vbd__bf_pump(f);
	return 0;
}

struct sync_io {
	bool done;
	int result;
};

static void sync_done(int result, void *ud)
{
	struct sync_io *s = ud;

	s->done = true;
	s->result = result;
}

static int sync_io(vbd_blkfront *f, vbd_blkfront_op op, uint64_t offset, void *buf, size_t len)
{
	struct sync_io s = { false, 0 };
	int r;

	if (!f)
		return -EINVAL;
	while ((r = vbd_blkfront_submit(f, op, offset, buf, len, sync_done, &s)) == -EAGAIN) {
		r = wait_once(f, -1);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	while (!s.done) {
		r = wait_once(f, -1);
		if (r < 0)
			return r;
	}
	return s.result;
}

int vbd_blkfront_read(vbd_blkfront *f, uint64_t offset, void *buf, size_t len)
{
	return sync_io(f, VBD_BLKFRONT_READ, offset, buf, len);
}

int vbd_blkfront_write(vbd_blkfront *f, uint64_t offset, const void *buf, size_t len)
{
	/* Only read from: submit takes one pointer for both directions. */
	return sync_io(f, VBD_BLKFRONT_WRITE, offset, (void *)(uintptr_t)buf, len);
}

int vbd_blkfront_flush(vbd_blkfront *f)
{
	return sync_io(f, VBD_BLKFRONT_FLUSH, 0, NULL, 0);
}

int vbd_blkfront_discard(vbd_blkfront *f, uint64_t offset, uint64_t len)
{
	if (len > SIZE_MAX)
		return -EINVAL;
	return sync_io(f, VBD_BLKFRONT_DISCARD, offset, NULL, (size_t)len);
}

int vbd_blkfront_close(vbd_blkfront *f, int timeout_ms)
{
	uint64_t deadline;
	vbd__bf_io *io, **p;
	int r;

	if (!f)
		return -EINVAL;
	deadline = vbd__now_ms() + (uint64_t)(timeout_ms < 0 ? 0x7fffffff : timeout_ms);
	if (!f->closing) {
		f->closing = true;
		/* What was never issued is cancelled; what is partly issued
		 * finishes the parts in flight, then fails. */
		p = &f->wait_head;
		while ((io = *p)) {
			if (io->result == 0)
				io->result = -ECANCELED;
			if (io->inflight == 0) {
				*p = io->next;
				io->queued = false;
				io->next = NULL;
				*f->done_tail = io;
				f->done_tail = &io->next;
			} else {
				p = &io->next;
			}
		}
		f->wait_tail = p;
		f->xs_dirty = true;
	}
	for (;;) {
		vbd_blkfront_process(f);
		if (f->closed_done && !f->deferred)
			return 0;
		if (remaining(deadline) == 0)
			break;
		r = wait_once(f, remaining(deadline));
		if (r < 0)
			return r;
		if (f->closed_done && !f->deferred)
			return 0;
	}
	/* Out of time: we are done either way. */
	if (f->state != VBD_STATE_CLOSED) {
		vbd__bf_why(f, "the backend did not close in time");
		vbd__bf_disconnect(f, -ECANCELED);
		if (vbd__bf_switch_state(f, VBD_STATE_CLOSED, false) < 0)
			f->state = VBD_STATE_CLOSED;
		vbd__bf_run_callbacks(f);
	}
	return -ETIMEDOUT;
}
