/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd_blkback: the object, its fd and process(), counters and resize.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "blkback/blkback.h"
#include "util/opts.h"
#include "util/spin.h"

void vbd__bb_log(vbd_blkback *b, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vbd__logv_to(b->log, b->log_userdata, level, fmt, ap);
	va_end(ap);
}

/* The mappings a process may have (vm.max_map_count), or Linux's default
 * where it cannot be read. */
static unsigned max_map_count(void)
{
	unsigned long n = 0;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");

	if (f) {
		if (fscanf(f, "%lu", &n) != 1)
			n = 0;
		fclose(f);
	}
	if (n == 0)
		return 65530;
	return n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

static void base_changed(const char *path, void *ud)
{
	vbd__bb_scan(ud, path);
}

int vbd_blkback_new(vbd_blkback **ret, const vbd_blkback_options *o, vbd_errbuf *err)
{
	struct epoll_event ev = { .events = EPOLLIN };
	vbd_blkback_options lo;
	vbd_blkback *b;
	int r;

	if (!ret || !o)
		return vbd__errf(err, -EINVAL, "blkback: no %s", ret ? "options" : "result pointer");
	if (VBD__OPTS_LOAD(&lo, o, VBD_BLKBACK_OPTIONS_VERSION,
	                   offsetof(vbd_blkback_options, persistent_grants_total),
	                   offsetof(vbd_blkback_options, poll_us), sizeof(lo)) < 0)
		return vbd__errf(err, -EINVAL, "blkback: options version %u, expected 1..%u",
		                 o->version, VBD_BLKBACK_OPTIONS_VERSION);
	o = &lo;
	lo.max_ring_page_order = vbd__opt_uint(lo.max_ring_page_order, 4);
	lo.max_indirect_segments = vbd__opt_uint(lo.max_indirect_segments, 256);
	lo.persistent_grants_max = vbd__opt_uint(lo.persistent_grants_max, 8192);
	lo.persistent_grants_total = vbd__opt_uint(lo.persistent_grants_total,
	                                           max_map_count() / 2);
	if (!o->xport)
		return vbd__errf(err, -EINVAL, "blkback: no transport (options.xport)");
	if (o->max_ring_page_order > VBD__BB_MAX_ORDER ||
	    o->max_queues > VBD__BB_MAX_QUEUES || o->max_indirect_segments > VBD__BB_MAX_INDIRECT_SEGS ||
	    o->persistent_grants_max > (1u << 20) || o->domid >= DOMID_FIRST_RESERVED ||
	    o->poll_us > VBD__POLL_US_MAX)
		return vbd__errf(err, -EINVAL,
		                 "blkback: an option is out of range (max_ring_page_order <= %u, "
		                 "max_queues 0..%u, max_indirect_segments <= %u, "
		                 "persistent_grants_max <= %u, domid < 32752, poll_us <= %u)",
		                 VBD__BB_MAX_ORDER, VBD__BB_MAX_QUEUES,
		                 (unsigned)VBD__BB_MAX_INDIRECT_SEGS, 1u << 20, VBD__POLL_US_MAX);
	if (o->kind && strcmp(o->kind, "vbd") && strcmp(o->kind, "vbd3"))
		return vbd__errf(err, -EINVAL, "blkback: kind %.16s: only vbd and vbd3 are served",
		                 o->kind);
	b = calloc(1, sizeof(*b));
	if (!b)
		return vbd__errf(err, -ENOMEM, "blkback: out of memory");
	b->epfd = b->notify_fd = -1;
	b->x = o->xport;
	b->log = o->log;
	b->log_userdata = o->log_userdata;
	b->domid = o->domid;
	b->max_order = o->max_ring_page_order;
	b->max_queues = o->max_queues;
	if (!b->max_queues) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		b->max_queues = n < 1 ? 1 : n > VBD__BB_MAX_QUEUES ? VBD__BB_MAX_QUEUES : (unsigned)n;
	}
	b->max_indirect = o->max_indirect_segments;
	/* Fewer than a direct request's segments would not be "indirect". */
	if (b->max_indirect && b->max_indirect <= BLKIF_MAX_SEGMENTS_PER_REQUEST)
		b->max_indirect = BLKIF_MAX_SEGMENTS_PER_REQUEST + 1;
	b->pgrants_max = o->persistent_grants_max;
	b->pgrants_total_max = o->persistent_grants_total;
	b->poll_ns = (uint64_t)o->poll_us * 1000;
	b->feature_discard = !o->no_discard;
	b->resize_poll_ms = o->resize_poll_ms;
	snprintf(b->kind, sizeof(b->kind), "%s", o->kind ? o->kind : "vbd");
	snprintf(b->base, sizeof(b->base), "/local/domain/%u/backend/%s", b->domid, b->kind);

	if (o->bus) {
		b->bus = vbd_bus_ref(o->bus);
	} else {
		vbd_bus_options bo = VBD_BUS_OPTIONS_INIT;

		bo.xenstored_path = o->xenstored_path;
		bo.log = o->log;
		bo.log_userdata = o->log_userdata;
		r = vbd_bus_new(&b->bus, &bo, err);
		if (r < 0) {
			vbd__errf(err, r, "blkback: %s", err && err->msg[0] ? err->msg :
			          "connecting to xenstore");
			goto fail;
		}
	}
	b->xs = b->bus->xs;
	{
		/* The connect transaction's connection (xs_batch.c), opened now
		 * so that a serving backend holds the same fds from its start:
		 * one opened at the first connect would look like a leak. */
		vbd__xb_wire *w;

		if ((r = vbd__xb_bus_wire(b->bus, &w)) < 0) {
			vbd__errf(err, r, "blkback: connecting to xenstore: %s", strerror(-r));
			goto fail;
		}
	}
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	b->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->epfd < 0 || b->notify_fd < 0) {
		r = vbd__errf(err, -errno, "blkback: epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	ev.data.fd = vbd_bus_get_fd(b->bus);
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0) {
		r = vbd__errf(err, -errno, "blkback: epoll_ctl: %s", strerror(errno));
		goto fail;
	}
	ev.data.fd = b->notify_fd;
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0) {
		r = vbd__errf(err, -errno, "blkback: epoll_ctl: %s", strerror(errno));
		goto fail;
	}
	/* Fires at once: the first process() probes what is there already. */
	r = vbd__xb_watch_add(b->bus, b->base, base_changed, b, NULL, &b->w_base);
	if (r < 0) {
		vbd__errf(err, r, "blkback: watching %s: %s", b->base, strerror(-r));
		goto fail;
	}
	if (b->resize_poll_ms)
		b->next_poll_ms = vbd__now_ms() + b->resize_poll_ms;
	*ret = b;
	return 0;
fail:
	vbd_blkback_free(b);
	return r;
}

vbd_blkback *vbd_blkback_free(vbd_blkback *b)
{
	if (!b)
		return NULL;
	b->freeing = true;
	while (b->devs)
		vbd__bb_dev_free(b->devs, true);
	if (b->bus) {
		vbd__xb_watch_remove(b->bus, b->w_base);
		b->bus = vbd_bus_unref(b->bus);
	}
	if (b->epfd >= 0)
		close(b->epfd);
	if (b->notify_fd >= 0)
		close(b->notify_fd);
	free(b);
	return NULL;
}

int vbd_blkback_get_fd(vbd_blkback *b)
{
	return b ? b->epfd : -EINVAL;
}

int vbd_blkback_get_timeout_ms(vbd_blkback *b)
{
	int t;
	uint64_t now;

	if (!b)
		return -1;
	t = vbd_bus_get_timeout_ms(b->bus);
	if (b->resize_poll_ms) {
		now = vbd__now_ms();
		int p = b->next_poll_ms <= now ? 0 : (int)(b->next_poll_ms - now);

		if (t < 0 || p < t)
			t = p;
	}
	return t;
}

/* Rings their workers stopped: the error node and Closing, once. */
static int reap_stopped(vbd_blkback *b)
{
	vbd__bb_dev *d, *next;
	uint64_t v;
	unsigned i;
	int n = 0;

	while (read(b->notify_fd, &v, sizeof(v)) == sizeof(v))
		;
	for (d = b->devs; d; d = next) {
		next = d->next;
		for (i = 0; i < d->nr_rings; i++) {
			vbd__bb_ring *r = &d->rings[i];
			int failed = __atomic_load_n(&r->failed, __ATOMIC_ACQUIRE);

			if (!failed || r->reported)
				continue;
			r->reported = true;
			b->rings_stopped++;
			n++;
			vbd__bb_fatal(d, failed, "%s", r->why);
			break;   /* the device is Closing; its other rings wait for the frontend */
		}
	}
	return n;
}

int vbd_blkback_process(vbd_blkback *b)
{
	int n, r;

	if (!b)
		return -EINVAL;
	n = reap_stopped(b);
	r = vbd_bus_process(b->bus);
	if (r < 0)
		return r;
	n += r;
	if (b->resize_poll_ms && vbd__now_ms() >= b->next_poll_ms) {
		vbd_blkback_refresh(b);
		b->next_poll_ms = vbd__now_ms() + b->resize_poll_ms;
		n++;
	}
	/* Last: one burst of events may hold a device's removal and its new
	 * device's creation, seen only as a whole (xenbus.c). */
	n += vbd__bb_reap_replaced(b);
	return n;
}

int vbd_blkback_refresh(vbd_blkback *b)
{
	vbd__bb_dev *d;
	int n = 0;

	if (!b)
		return -EINVAL;
	for (d = b->devs; d; d = d->next) {
		int64_t s = vbd__bb_disk_sectors(&d->disk);
		int r;

		if (s < 0 || (uint64_t)s == __atomic_load_n(&d->disk.sectors, __ATOMIC_RELAXED))
			continue;
		vbd__bb_log(b, VBD_LOG_INFO, "%s: size %llu -> %lld sectors", d->be,
		            (unsigned long long)d->disk.sectors, (long long)s);
		__atomic_store_n(&d->disk.sectors, (uint64_t)s, __ATOMIC_RELAXED);
		n++;
		if (d->be_state != VBD_STATE_CONNECTED)
			continue;
		r = vbd__bb_announce_size(d);
		if (r < 0)
			vbd__bb_log(b, VBD_LOG_WARNING, "%s: announcing the new size: %s", d->be,
			            strerror(-r));
	}
	return n;
}

int vbd_blkback_get_stats(vbd_blkback *b, vbd_blkback_stats *out)
{
	vbd_blkback_stats st = { 0 }, *ret = &st;
	struct vbd__bb_counters t;
	vbd__bb_dev *d;
	unsigned i;

	if (!b || !out || out->size < sizeof(out->size))
		return -EINVAL;
	t = b->done;
	t.pgrants = 0;
	for (d = b->devs; d; d = d->next) {
		ret->devices++;
		ret->connected += d->be_state == VBD_STATE_CONNECTED;
		ret->direct_targets += d->disk.fd >= 0 && d->disk.dfd >= 0 &&
		                       !__atomic_load_n(&d->disk.direct_off, __ATOMIC_RELAXED);
		for (i = 0; i < d->nr_rings; i++) {
			vbd__bb_ring *r = &d->rings[i];

			ret->rings += r->sring != NULL;
			t.requests += VBD__BB_GET(r->n.requests);
			t.errors += VBD__BB_GET(r->n.errors);
			t.unsupported += VBD__BB_GET(r->n.unsupported);
			t.bytes_read += VBD__BB_GET(r->n.bytes_read);
			t.bytes_written += VBD__BB_GET(r->n.bytes_written);
			t.grant_maps += VBD__BB_GET(r->n.grant_maps);
			t.pgrants += VBD__BB_GET(r->n.pgrants);
			t.pgrant_hits += VBD__BB_GET(r->n.pgrant_hits);
			t.pgrant_evictions += VBD__BB_GET(r->n.pgrant_evictions);
			t.pgrant_uncached += VBD__BB_GET(r->n.pgrant_uncached);
			t.pgrant_map_failures += VBD__BB_GET(r->n.pgrant_map_failures);
			t.direct_unaligned += VBD__BB_GET(r->n.direct_unaligned);
			t.rsp_pushes += VBD__BB_GET(r->n.rsp_pushes);
			t.notifies += VBD__BB_GET(r->n.notifies);
			t.cached_reads += VBD__BB_GET(r->n.cached_reads);
		}
	}
	ret->requests = t.requests;
	ret->errors = t.errors;
	ret->unsupported = t.unsupported;
	ret->rings_stopped = b->rings_stopped;
	ret->fatal_errors = b->fatal_errors;
	ret->bytes_read = t.bytes_read;
	ret->bytes_written = t.bytes_written;
	ret->grant_maps = t.grant_maps;
	ret->pgrants = t.pgrants;
	ret->pgrant_hits = t.pgrant_hits;
	ret->pgrant_evictions = t.pgrant_evictions;
	ret->mem_bytes = VBD__BB_GET(b->mem);
	ret->pgrants_budget = b->pgrants_total_max;
	ret->pgrant_uncached = t.pgrant_uncached;
	ret->pgrant_map_failures = t.pgrant_map_failures;
	ret->direct_refused = VBD__BB_GET(b->direct_refused);
	ret->direct_unaligned = t.direct_unaligned;
	ret->rsp_pushes = t.rsp_pushes;
	ret->notifies = t.notifies;
	ret->cached_reads = t.cached_reads;
	return vbd__out_fill(out, &st, sizeof(st));
}

int vbd_blkback_get_dev_stats(vbd_blkback *b, vbd_domid fe_domid, uint32_t devid,
                              vbd_dev_stats *out)
{
	vbd_dev_stats st = { 0 };
	struct vbd__bb_dev_counters t;
	vbd__bb_dev *d;
	unsigned i;

	if (!b || !out || out->size < sizeof(out->size))
		return -EINVAL;
	for (d = b->devs; d; d = d->next)
		if (d->fe_domid == fe_domid && d->devid == devid)
			break;
	if (!d)
		return -ENOENT;
	t = d->dn_done;
	for (i = 0; i < d->nr_rings; i++) {
		const struct vbd__bb_dev_counters *n = &d->rings[i].dn;

		t.oo_req += VBD__BB_GET(n->oo_req);
		t.rd_req += VBD__BB_GET(n->rd_req);
		t.wr_req += VBD__BB_GET(n->wr_req);
		t.f_req += VBD__BB_GET(n->f_req);
		t.ds_req += VBD__BB_GET(n->ds_req);
		t.rd_sect += VBD__BB_GET(n->rd_sect);
		t.wr_sect += VBD__BB_GET(n->wr_sect);
	}
	st.oo_req = t.oo_req;
	st.rd_req = t.rd_req;
	st.wr_req = t.wr_req;
	st.f_req = t.f_req;
	st.ds_req = t.ds_req;
	st.rd_sect = t.rd_sect;
	st.wr_sect = t.wr_sect;
	return vbd__out_fill(out, &st, sizeof(st));
}
