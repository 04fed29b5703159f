/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/simhv.h - the simulated hypervisor behind VBD_XPORT_SIM.
 *
 * It keeps each domain's grant table and event-channel ports, and hands out
 * shared memory (memfd, read-only fds for read-only grants) and eventfds over
 * Unix sockets, so that the toolstack, a backend and each guest can be
 * separate processes, as on Xen.  Identity comes from the socket a process
 * connected to: "<path>" is dom0, "<path>.d/<domid>" is that domain, made by
 * vbd_simhv_domain_add().  Nothing a client says changes it.  When a
 * connection closes, its grants are ended (pages stay valid for mappers until
 * they unmap, as on Xen), its mappings are dropped and its ports closed.
 *
 * Like vbd_store, a library object driven by the caller's loop: one fd and
 * vbd_simhv_process(); no threads, no signals.
 */
#ifndef VBD_SIMHV_H
#define VBD_SIMHV_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef VBD_PUBLIC
#define VBD_PUBLIC __attribute__((visibility("default")))
#endif

typedef struct vbd_simhv vbd_simhv;

typedef struct vbd_simhv_stats {
	uint64_t grants;          /* grant entries in use, all domains */
	uint64_t maps;            /* pages mapped by some domain */
	uint64_t ports;           /* event-channel ports open */
	uint64_t conns;
} vbd_simhv_stats;

/* Listens on path (dom0).  Limits per domain: 32768 grant entries (Xen's
 * 64 frames of v1 entries) and 4096 ports. */
VBD_PUBLIC int vbd_simhv_new(vbd_simhv **ret, const char *path);
VBD_PUBLIC vbd_simhv *vbd_simhv_free(vbd_simhv *h);
VBD_PUBLIC int vbd_simhv_get_fd(vbd_simhv *h);
/* Never blocks.  >= 0, or -errno for a failure of the object itself. */
VBD_PUBLIC int vbd_simhv_process(vbd_simhv *h);
/* Makes "<path>.d/<domid>".  -EEXIST if it exists. */
VBD_PUBLIC int vbd_simhv_domain_add(vbd_simhv *h, unsigned domid);
/* Closes the domain's socket and connections and releases all it held. */
VBD_PUBLIC int vbd_simhv_domain_remove(vbd_simhv *h, unsigned domid);
VBD_PUBLIC void vbd_simhv_get_stats(vbd_simhv *h, vbd_simhv_stats *ret);

#ifdef __cplusplus
}
#endif

#endif
