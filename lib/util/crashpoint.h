/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBD_UTIL_CRASHPOINT_H
#define VBD_UTIL_CRASHPOINT_H
/*
 * Deterministic crash points, for the crash matrix (tests/crash_matrix.sh).
 *
 * A process whose environment has VBD_CRASHPOINT=<name>[:<nth>] kills itself
 * with SIGKILL at the nth (default first) time it passes
 * vbd__crashpoint("<name>"): no sleep, no race.  The variable is read once
 * per process, with secure_getenv (ignored in a setuid or setgid process);
 * unset, a point costs one predictable branch.  It is the caller's own
 * environment: no other domain can set it.
 *
 * The points, one call site each (tests/README.md, "Crash matrix", says what each
 * step leaves behind and how it recovers):
 *
 * toolstack client (vbdctl attach / detach, lib/toolstack):
 *   attach.before-nodes      before the transaction that writes the nodes
 *   attach.nodes-written     after it, before the hotplug step
 *   hotplug.loop-attached    built-in add: loop device set up, nothing recorded
 *   hotplug.committed        built-in add: its record, physical-device and
 *                            hotplug-status committed (one transaction: there
 *                            is no step between the record and
 *                            physical-device), the loop fd still open
 *   attach.waiting           waiting for Connected, after the hotplug step
 *   detach.closing           detach: both ends asked to close (Closing)
 *   detach.closed            detach: both ends Closed, before hotplug remove
 *   detach.removed           detach: hotplug remove done, before the nodes go
 * store (the simulated host process, lib/store):
 *   store.commit-applied     a transaction's changes applied, before its
 *                            watch events and its reply
 *   store.firing-watches     one watch event queued, before the next
 * backend (vbdctl backend, lib/blkback):
 *   blkback.initwait         InitWait written
 *   blkback.ring-mapped      ring mapped and bound, before Connected
 *   blkback.request-taken    a request taken off the ring, before its I/O
 *   blkback.io-done          its I/O done, before its response
 *   blkback.response-pushed  response pushed, before the notify
 *   blkback.fe-closing       the frontend's Closing seen (a guest's
 *                            takeover reset, or its own close), before the
 *                            backend's Closing
 *   blkback.closing-written  the backend's Closing written, before the
 *                            frontend's Closed
 *   blkback.closing          the frontend Closed: rings unmapped, before the
 *                            backend's Closed
 *   blkback.closed-written   the backend's Closed written with online=1 (a
 *                            reset), before the frontend's Initialising
 * frontend (vbdctl frontend, lib/blkfront):
 *   blkfront.ring-granted    ring granted, event channel bound, before
 *                            Initialised
 *   blkfront.initialised     Initialised written, before Connected
 *   blkfront.request-pushed  a request pushed on the ring, before the notify
 *   blkfront.closing         tearing a device down (Closing seen)
 */

extern int vbd__crashpoint_armed;   /* -1 unread, 0 unset, 1 set */
void vbd__crashpoint_hit(const char *name);

static inline void vbd__crashpoint(const char *name)
{
	if (__builtin_expect(__atomic_load_n(&vbd__crashpoint_armed, __ATOMIC_RELAXED) != 0, 0))
		vbd__crashpoint_hit(name);
}

#endif
