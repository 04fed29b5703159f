/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulated hypervisor's internal hooks, for tests and the fuzzer:
 * limits small enough to reach, and connections handed in as socketpairs
 * instead of through the sockets.
 */
#ifndef VBD_LIB_SIMHV_HOOKS_H
#define VBD_LIB_SIMHV_HOOKS_H

#include "vbd/simhv.h"

typedef struct vbd__simhv_limits {
	unsigned grants;          /* grant entries per domain, the 8 reserved
	                           * included: 32768 */
	unsigned ports;           /* ports per domain, 0 included (unusable): 4096 */
	unsigned conns;           /* connections per domain: 64 (dom0: 1024) */
	unsigned refs_per_call;   /* pages per share or map: 4096 */
	unsigned mapped_pages;    /* pages mapped at once per connection: 131072 */
} vbd__simhv_limits;

#define VBD__SIMHV_LIMITS_INIT { 32768, 4096, 64, 4096, 131072 }

/* Replaces the limits; existing grants and ports beyond them stay. */
void vbd__simhv_set_limits(vbd_simhv *h, const vbd__simhv_limits *l);
/* Takes a connected SOCK_SEQPACKET socket as a connection of domid (0, or
 * added with vbd_simhv_domain_add).  On success the broker owns fd. */
int vbd__simhv_adopt_fd(vbd_simhv *h, int fd, unsigned domid);

/* Bytes the domains' grant and port tables hold: none for a domain with
 * no grant entry and no port (a guest between its devices). */
size_t vbd__simhv_table_bytes(const vbd_simhv *h);

/* For the fuzzer, between inputs: with every connection gone, checks that
 * the broker holds nothing (no grant entry, mapping, port, page, arena or
 * connection, in its tables as in its counters) and, if so, puts it back as
 * vbd_simhv_new() left it: guests removed, dom0's tables emptied, default
 * limits, stats zero.  -EBUSY if something is left (then nothing changes);
 * what, in what (at least 128 bytes), if not NULL.  Only for a broker
 * without sockets (path NULL). */
int vbd__simhv_reset(vbd_simhv *h, char *what, size_t what_len);

#endif
