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
 * vbd_simhv_process(); no threads, no signals, no logging.  A vbd_simhv may
 * be used from one thread at a time.  Clients that speak the wire protocol
 * wrongly (lib/simhv/simhv_wire.h) are disconnected, and everything they
 * held is released; vbd_simhv_stats.conns_killed counts them.
 *
 * The sockets are SOCK_SEQPACKET, mode 0600.  Grant memory is memfds, of
 * which the hypervisor holds two per (granter, grantee, access) triple, and
 * each unbound port holds two eventfds: size RLIMIT_NOFILE for that.
 */
#ifndef VBD_SIMHV_H
#define VBD_SIMHV_H

#include <stddef.h>
#include <stdint.h>

#include "vbd/common.h"
#include "vbd/error.h"

VBD_BEGIN_DECLS

typedef struct vbd_simhv vbd_simhv;

typedef struct vbd_simhv_stats {
	/* sizeof(this struct) as the caller has it, set by the caller: the
	 * library fills only what fits (vbd/common.h). */
	size_t size;
	uint64_t grants;          /* grant entries in use, all domains */
	uint64_t maps;            /* pages mapped by some domain */
	uint64_t ports;           /* event-channel ports open */
	uint64_t conns;
	uint64_t pages;           /* grant pages alive: granted, or ended but
	                           * still mapped */
	uint64_t conns_killed;    /* closed for a malformed message */
} vbd_simhv_stats;

/* Listens on path (dom0), a SOCK_SEQPACKET socket; a stale socket file is
 * replaced, a live one is -EADDRINUSE.  Limits per domain: 32768 grant
 * entries (Xen's 64 frames of v1 entries; refs 0-7 are reserved, as Xen
 * leaves them to the toolstack), 4096 ports (port 0 is never used), 64
 * connections (dom0: 1024), 4096 pages per share or map call, 131072 pages
 * mapped at once per connection.  Grant calls beyond a limit fail with
 * -ENOSPC (-E2BIG for the pages per call); a connection beyond the limit is
 * closed at once.  path NULL: no sockets at all (the fuzzer adopts
 * socketpairs through an internal call instead). */
VBD_PUBLIC int vbd_simhv_new(vbd_simhv **ret, const char *path, vbd_errbuf *err);
/* Closes every connection and socket (socket files are unlinked, and the
 * "<path>.d" directory if empty).  Accepts NULL; returns NULL. */
VBD_PUBLIC vbd_simhv *vbd_simhv_free(vbd_simhv *h);
VBD_PUBLIC int vbd_simhv_get_fd(vbd_simhv *h);
/* Never blocks.  >= 0, or -errno for a failure of the object itself. */
VBD_PUBLIC int vbd_simhv_process(vbd_simhv *h);
/* Makes "<path>.d/<domid>" (domid 1 .. 0x7FEF).  -EEXIST if it exists. */
VBD_PUBLIC int vbd_simhv_domain_add(vbd_simhv *h, vbd_domid domid);
/* Closes the domain's socket and connections and releases all it held:
 * its grants end (other domains' mappings of them stay valid until
 * unmapped), its mappings and ports go (peers' ports lead nowhere).
 * -ENOENT if unknown. */
VBD_PUBLIC int vbd_simhv_domain_remove(vbd_simhv *h, vbd_domid domid);
/* 0, or -EINVAL without h or ret, or for a ret->size below sizeof(size_t). */
VBD_PUBLIC int vbd_simhv_get_stats(vbd_simhv *h, vbd_simhv_stats *ret);

VBD_END_DECLS

#endif
