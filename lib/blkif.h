/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The blkif ring protocol as Xen's public headers define it (xen/io/ring.h,
 * xen/io/blkif.h, included, not copied), for the bundled blkback and
 * blkfront.  ring.h leaves the memory barriers to the includer.  The peers
 * are other processes or domains on other CPUs, so these are real fences:
 *   xen_rmb: loads before it (a producer index) happen before loads after
 *            it (the entries that index covers);
 *   xen_wmb: stores before it (entries) are visible before stores after it
 *            (the producer index that publishes them);
 *   xen_mb:  a full fence (between publishing an index and reading the
 *            peer's event index, RING_PUSH_*_AND_CHECK_NOTIFY).
 */
#ifndef VBD_LIB_BLKIF_H
#define VBD_LIB_BLKIF_H

/* Without an interface version, xen-compat.h picks the legacy one, under
 * which ring.h maps xen_mb() to mb(), which nothing defines here. */
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#endif

#define xen_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>

/* Pages in a ring of 2^order pages, and the requests it holds. */
#define VBD_BLKIF_RING_SIZE(order) \
	__CONST_RING_SIZE(blkif, (unsigned long)VBD_PAGE_SIZE << (order))

#endif
