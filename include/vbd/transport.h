/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/transport.h - what a split driver needs from the hypervisor: grants
 * (share pages with a domain, map a peer's pages) and event channels.
 *
 * The calls follow libxengntshr, libxengnttab and libxenevtchn, so that the
 * bundled blkback and blkfront run unchanged on two implementations:
 *
 *   VBD_XPORT_XEN  libxengnttab/libxengntshr/libxenevtchn on a Xen host.
 *   VBD_XPORT_SIM  the simulated hypervisor (vbd/simhv.h): separate
 *                  processes on one Linux machine, each acting as one
 *                  domain.  It enforces what Xen enforces: a grant maps only
 *                  in the domain it was granted to, read-only grants map
 *                  read-only (the kernel refuses a writable mapping), no map
 *                  after access ended, end of access refused while the peer
 *                  still maps the page, and a process's grants and ports are
 *                  released when it dies.
 *
 * Where the two differ: on Xen, vbd_gnt_unshare() never fails with -EBUSY
 * (gntalloc ends access lazily, once the peer has unmapped), and a failed
 * map is whatever gntdev reports (usually -EINVAL, also for a ref granted to
 * another domain).  As on Xen, when the port that bound to an unbound port
 * goes (unbind, or its process dies), the unbound port is unbound again and
 * may be bound anew; in the sim, the bound side's port then leads nowhere
 * when it is the allocator that goes.
 *
 * Sim specifics: each vbd_xport is one connection to the simulated
 * hypervisor, acting as the domain its socket stands for; each grant or
 * port call is one request and reply (notify, pending and unmask are local:
 * eventfds).  When the hypervisor is gone or has cut the connection off
 * (its domain was removed), calls that need it fail with -EPIPE, while
 * unshare, unmap and unbind still release what is local and return 0.
 * A forked child must open its own vbd_xport; it may not use its parent's.
 *
 * Thread safety: a vbd_xport's grant calls may be made from several threads
 * at once (in the sim they take turns on the connection).  A vbd_evtchn is
 * used by one thread at a time (open one per thread that waits for events,
 * as with xenevtchn_open); opening and closing handles of one vbd_xport from
 * several threads is fine.
 */
#ifndef VBD_TRANSPORT_H
#define VBD_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "vbd/common.h"
#include "vbd/error.h"

VBD_BEGIN_DECLS

#define VBD_PAGE_SIZE 4096u

typedef struct vbd_xport vbd_xport;
typedef struct vbd_evtchn vbd_evtchn;

typedef enum vbd_xport_kind {
	VBD_XPORT_DEFAULT = 0,   /* sim_path or $VBD_SIMHV_PATH set: sim; else xen */
	VBD_XPORT_SIM,
	VBD_XPORT_XEN,
} vbd_xport_kind;

#define VBD_XPORT_OPTIONS_VERSION 1

typedef struct vbd_xport_options {
	unsigned version;        /* VBD_XPORT_OPTIONS_VERSION or older */
	vbd_xport_kind kind;
	/* sim: the simulated hypervisor's socket for this process's domain
	 * ("<path>" acts as dom0, "<path>.d/<domid>" as that domain); NULL:
	 * $VBD_SIMHV_PATH. */
	const char *sim_path;
} vbd_xport_options;

#define VBD_XPORT_OPTIONS_INIT { .version = VBD_XPORT_OPTIONS_VERSION }

/* -ENOENT/-ECONNREFUSED (sim: no hypervisor at the path), -ENODEV (xen: the
 * grant or event-channel device is missing).  The message says which. */
VBD_PUBLIC int vbd_xport_open(vbd_xport **ret, const vbd_xport_options *o, vbd_errbuf *err);
/* Unmaps, ends and unbinds whatever is left, and closes the vbd_evtchn
 * handles still open on x (their pointers become invalid).  Accepts NULL;
 * returns NULL. */
VBD_PUBLIC vbd_xport *vbd_xport_free(vbd_xport *x);
VBD_PUBLIC vbd_xport_kind vbd_xport_get_kind(vbd_xport *x);

/* Grants (as xengntshr_share_pages): count fresh zeroed pages, mapped in
 * this process at *ret_addr, granted to domid (writable or read-only);
 * ret_refs[count] gets their grant references.  -ENOSPC when the domain's
 * grant table is full; -E2BIG (sim) for more than 4096 pages in one call;
 * -EINVAL for count 0 or a domid >= VBD_DOMID_FIRST_RESERVED.  The pages
 * stay mapped here until vbd_gnt_unshare() (with the same addr and count). */
VBD_PUBLIC int vbd_gnt_share(vbd_xport *x, vbd_domid domid, unsigned count, bool writable,
                             uint32_t *ret_refs, void **ret_addr);
/* Ends access to pages shared by one vbd_gnt_share() call and unmaps them.
 * -EBUSY (nothing ended; sim only, see above) while the peer still maps any
 * of them; -EINVAL if addr and count are not those of a share call. */
VBD_PUBLIC int vbd_gnt_unshare(vbd_xport *x, void *addr, unsigned count);

/* Maps count pages granted by domid, contiguously (as
 * xengnttab_map_domain_grant_refs), read-only unless writable.  A ref may
 * appear more than once.  -EINVAL: a ref that is not in use, or domid does
 * not exist; -EACCES: granted to another domain, or writable asked of a
 * read-only grant; -ENOSPC (sim): more than 131072 pages mapped at once on
 * this handle.  Nothing is mapped on failure.  The pages stay valid after
 * the granter ends access or dies, until unmapped. */
VBD_PUBLIC int vbd_gnt_map(vbd_xport *x, vbd_domid domid, unsigned count, const uint32_t *refs,
                           bool writable, void **ret_addr);
/* Unmaps what one vbd_gnt_map() call mapped; -EINVAL if addr and count are
 * not those of a map call. */
VBD_PUBLIC int vbd_gnt_unmap(vbd_xport *x, void *addr, unsigned count);

/* Event channels (as libxenevtchn).  Ports belong to the handle that
 * allocated or bound them: the other calls give -EINVAL for any other port.
 * Closing a handle unbinds its ports; it accepts NULL and returns NULL. */
VBD_PUBLIC int vbd_evtchn_open(vbd_xport *x, vbd_evtchn **ret);
VBD_PUBLIC vbd_evtchn *vbd_evtchn_close(vbd_evtchn *e);
/* Readable when a port has an event: then call vbd_evtchn_pending(). */
VBD_PUBLIC int vbd_evtchn_fd(vbd_evtchn *e);
/* A new port that remote_domid may bind to.  -ENOSPC (sim): 4096 ports per
 * domain. */
VBD_PUBLIC int vbd_evtchn_alloc_unbound(vbd_evtchn *e, vbd_domid remote_domid, uint32_t *ret_port);
/* -EINVAL: the remote port is not unbound for this domain.  As on Xen, the
 * new local port starts with an event pending. */
VBD_PUBLIC int vbd_evtchn_bind_interdomain(vbd_evtchn *e, vbd_domid remote_domid,
                                           uint32_t remote_port, uint32_t *ret_port);
/* The peer's port stays open but leads nowhere. */
VBD_PUBLIC int vbd_evtchn_unbind(vbd_evtchn *e, uint32_t port);
/* Also fine (0, the event is dropped) when the peer is gone or not bound
 * yet. */
VBD_PUBLIC int vbd_evtchn_notify(vbd_evtchn *e, uint32_t port);
/* A port with an event (it stays masked until vbd_evtchn_unmask()), or
 * -EAGAIN if none.  Events that arrive while a port is masked are kept
 * (several as one) and show as soon as it is unmasked. */
VBD_PUBLIC int vbd_evtchn_pending(vbd_evtchn *e);
VBD_PUBLIC int vbd_evtchn_unmask(vbd_evtchn *e, uint32_t port);

VBD_END_DECLS

#endif
