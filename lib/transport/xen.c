/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VBD_XPORT_XEN: libxengntshr (gntalloc), libxengnttab (gntdev) and
 * libxenevtchn (evtchn), one xenevtchn handle per vbd_evtchn.
 *
 * Where Xen differs from the simulation (vbd/transport.h says so too):
 * - unshare never answers -EBUSY: gntalloc ends access lazily, once the peer
 *   has unmapped;
 * - a failed map is whatever gntdev says (usually -EINVAL for any bad ref,
 *   including one granted to another domain).
 * xenevtchn_pending() blocks on a handle with nothing pending (the library
 * opens the device blocking), so pending() polls the fd first.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xentoollog.h>

#include "transport/xport.h"
#include "util/err.h"

struct xen {
	pthread_mutex_t lock;        /* the regions */
	xengnttab_handle *gt;
	xengntshr_handle *gs;
	vbd__region_map regions;
};

/* The library never logs: the Xen libraries get a logger that drops
 * everything (NULL would make them log to stderr). */
static void nolog_vmessage(struct xentoollog_logger *l, xentoollog_level level, int errnoval,
                           const char *context, const char *format, va_list al)
{
	(void)l;
	(void)level;
	(void)errnoval;
	(void)context;
	(void)format;
	(void)al;
}

static void nolog_destroy(struct xentoollog_logger *l)
{
	(void)l;
}

static xentoollog_logger nolog = { nolog_vmessage, NULL, nolog_destroy };

static int errno_dev(int e)
{
	/* No device node, or no driver behind it: not on Xen. */
	return e == ENOENT || e == ENXIO || e == ENODEV ? -ENODEV : -e;
}

static int xen_open(vbd_xport *x, const vbd_xport_options *o, vbd_errbuf *err)
{
	struct xen *s;
	xenevtchn_handle *ev;
	int e_gt = 0, e_gs = 0, e_ev = 0, r;

	(void)o;
	s = calloc(1, sizeof(*s));
	if (!s)
		return vbd__errf(err, -ENOMEM, "xen transport: out of memory");
	s->gt = xengnttab_open(&nolog, 0);
	if (!s->gt)
		e_gt = errno;
	s->gs = xengntshr_open(&nolog, 0);
	if (!s->gs)
		e_gs = errno;
	/* Event channels are opened per vbd_evtchn; check the device now. */
	ev = xenevtchn_open(&nolog, 0);
	if (!ev)
		e_ev = errno;
	else
		xenevtchn_close(ev);
	/* A domain may have only one of the grant devices (a backend needs
	 * gntdev, a frontend gntalloc); each call fails with -ENODEV when its
	 * device is missing.  Without both, or without event channels, this
	 * is not a Xen domain that can run a driver. */
	if (e_ev || (e_gt && e_gs)) {
		r = errno_dev(e_ev ? e_ev : e_gt);
		vbd__errf(err, r, "xen transport: not usable here (not running on Xen?): "
		          "/dev/xen/gntdev: %s, /dev/xen/gntalloc: %s, /dev/xen/evtchn: %s",
		          e_gt ? strerror(e_gt) : "ok", e_gs ? strerror(e_gs) : "ok",
		          e_ev ? strerror(e_ev) : "ok");
		if (s->gt)
			xengnttab_close(s->gt);
		if (s->gs)
			xengntshr_close(s->gs);
		free(s);
		return r;
	}
	pthread_mutex_init(&s->lock, NULL);
	x->impl = s;
	return 0;
}

static void xen_close(vbd_xport *x)
{
	struct xen *s = x->impl;
	vbd__region *rg;

	while ((rg = vbd__region_pop(&s->regions))) {
		if (rg->shared)
			xengntshr_unshare(s->gs, rg->addr, rg->count);
		else
			xengnttab_unmap(s->gt, rg->addr, rg->count);
		vbd__region_free(rg);
	}
	vbd__region_map_done(&s->regions);
	if (s->gt)
		xengnttab_close(s->gt);
	if (s->gs)
		xengntshr_close(s->gs);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int region_new(struct xen *s, void *addr, unsigned count, bool shared)
{
	vbd__region *rg = vbd__region_new(0);
	int r;

	if (!rg)
		return -ENOMEM;
	rg->id = 0;
	rg->addr = addr;
	rg->count = count;
	rg->shared = shared;
	pthread_mutex_lock(&s->lock);
	r = vbd__region_add(&s->regions, rg);
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		vbd__region_free(rg);
	return r;
}

static int xen_share(vbd_xport *x, unsigned domid, unsigned count, bool writable,
                     uint32_t *ret_refs, void **ret_addr)
{
	struct xen *s = x->impl;
	uint32_t *refs;
	void *addr;
	int r;

	if (!s->gs)
		return -ENODEV;
	if (count > INT32_MAX)
		return -E2BIG;
	refs = calloc(count, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	addr = xengntshr_share_pages(s->gs, domid, (int)count, refs, writable);
	if (!addr) {
		r = -errno;
		goto out;
	}
	r = region_new(s, addr, count, true);
	if (r < 0) {
		xengntshr_unshare(s->gs, addr, count);
		goto out;
	}
	memcpy(ret_refs, refs, count * sizeof(*refs));
	*ret_addr = addr;
out:
	free(refs);
	return r;
}

static vbd__region *region_take(struct xen *s, void *addr, unsigned count, bool shared)
{
	vbd__region *rg;

	pthread_mutex_lock(&s->lock);
	rg = vbd__region_find(&s->regions, addr, shared);
	if (rg && rg->count == count)
		vbd__region_take(&s->regions, addr, shared);
	else
		rg = NULL;
	pthread_mutex_unlock(&s->lock);
	return rg;
}

static int xen_unshare(vbd_xport *x, void *addr, unsigned count)
{
	struct xen *s = x->impl;
	vbd__region *rg = region_take(s, addr, count, true);

	if (!rg)
		return -EINVAL;
	vbd__region_free(rg);
	return xengntshr_unshare(s->gs, addr, count) < 0 ? -errno : 0;
}

/* A request's segments at blkback's default feature-max-indirect-segments. */
#define MAP_REFS_ON_STACK 256u

static int xen_map(vbd_xport *x, unsigned domid, unsigned count, const uint32_t *refs,
                   bool writable, void **ret_addr)
{
	struct xen *s = x->impl;
	uint32_t small[MAP_REFS_ON_STACK], *copy = small;
	void *addr;
	int r;

	if (!s->gt)
		return -ENODEV;
	/* The library's prototype takes the refs non-const.  The copy is on
	 * the stack unless it is large: a ring worker makes most maps, and its
	 * first malloc() would give it a heap arena of its own (see xport.c). */
	if (count > MAP_REFS_ON_STACK && !(copy = malloc(count * sizeof(*copy))))
		return -ENOMEM;
	memcpy(copy, refs, count * sizeof(*copy));
	addr = xengnttab_map_domain_grant_refs(s->gt, count, domid, copy,
	                                       PROT_READ | (writable ? PROT_WRITE : 0));
	r = addr ? 0 : -errno;
	if (copy != small)
		free(copy);
	if (r < 0)
		return r;
	r = region_new(s, addr, count, false);
	if (r < 0) {
		xengnttab_unmap(s->gt, addr, count);
		return r;
	}
	*ret_addr = addr;
	return 0;
}

static int xen_unmap(vbd_xport *x, void *addr, unsigned count)
{
	struct xen *s = x->impl;
	vbd__region *rg = region_take(s, addr, count, false);

	if (!rg)
		return -EINVAL;
	vbd__region_free(rg);
	return xengnttab_unmap(s->gt, addr, count) < 0 ? -errno : 0;
}

static int xen_evtchn_open(vbd_evtchn *e)
{
	xenevtchn_handle *h = xenevtchn_open(&nolog, 0);

	if (!h)
		return errno_dev(errno);
	e->impl = h;
	e->fd = xenevtchn_fd(h);
	return 0;
}

static void xen_evtchn_close(vbd_evtchn *e)
{
	/* Closing the handle unbinds its ports. */
	xenevtchn_close(e->impl);
}

static int xen_alloc_unbound(vbd_evtchn *e, unsigned remote_domid, uint32_t *ret_port)
{
	xenevtchn_port_or_error_t p = xenevtchn_bind_unbound_port(e->impl, remote_domid);

	if (p < 0)
		return -errno;
	*ret_port = (uint32_t)p;
	return 0;
}

static int xen_bind_interdomain(vbd_evtchn *e, unsigned remote_domid, uint32_t remote_port,
                                uint32_t *ret_port)
{
	xenevtchn_port_or_error_t p = xenevtchn_bind_interdomain(e->impl, remote_domid,
	                                                         remote_port);

	if (p < 0)
		return -errno;
	*ret_port = (uint32_t)p;
	return 0;
}

static int xen_unbind(vbd_evtchn *e, uint32_t port)
{
	return xenevtchn_unbind(e->impl, port) < 0 ? -errno : 0;
}

static int xen_notify(vbd_evtchn *e, uint32_t port)
{
	return xenevtchn_notify(e->impl, port) < 0 ? -errno : 0;
}

static int xen_pending(vbd_evtchn *e)
{
	struct pollfd p = { .fd = e->fd, .events = POLLIN };
	xenevtchn_port_or_error_t port;

	/* xenevtchn.h: poll before each xenevtchn_pending, which may block. */
	if (poll(&p, 1, 0) < 0)
		return -errno;
	if (!(p.revents & POLLIN))
		return -EAGAIN;
	port = xenevtchn_pending(e->impl);
	return port < 0 ? -errno : (int)port;
}

static int xen_unmask(vbd_evtchn *e, uint32_t port)
{
	return xenevtchn_unmask(e->impl, port) < 0 ? -errno : 0;
}

const struct vbd__xport_ops vbd__xport_xen_ops = {
	.name = "xen",
	.open = xen_open,
	.close = xen_close,
	.share = xen_share,
	.unshare = xen_unshare,
	.map = xen_map,
	.unmap = xen_unmap,
	.evtchn_open = xen_evtchn_open,
	.evtchn_close = xen_evtchn_close,
	.alloc_unbound = xen_alloc_unbound,
	.bind_interdomain = xen_bind_interdomain,
	.unbind = xen_unbind,
	.notify = xen_notify,
	.pending = xen_pending,
	.unmask = xen_unmask,
};
