/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/hotplug.h - the hotplug step of a VBD, built in.
 *
 * Does what Xen's /etc/xen/scripts/block does for one backend, in-process and
 * without forking: given the backend directory (its params and mode), it
 * makes the target available as a block device (a regular file through a
 * loop device), checks that the sharing is allowed, and writes
 * physical-device (hex major:minor, "7:f"), physical-device-path, node (for a
 * loop device) and hotplug-status=connected; remove frees the loop device.
 * Unlike the script it takes no global lock and scans no other VBD: its cost
 * does not grow with the number of VBDs on the host.
 *
 * Thread safety: it uses only the caller's xs handle, in the calling
 * thread; steps for different backends may run at once in several threads
 * (each with its own handle), as they may run in several processes.
 */
#ifndef VBD_HOTPLUG_H
#define VBD_HOTPLUG_H

#include "vbd/common.h"
#include "vbd/error.h"

VBD_BEGIN_DECLS

struct xs_handle;

typedef enum vbd_hotplug_action {
	VBD_HOTPLUG_ADD,
	VBD_HOTPLUG_REMOVE,
} vbd_hotplug_action;

/* be_path: the backend directory, absolute or relative to the calling
 * domain's home (XENBUS_PATH, "backend/vbd/5/51712").  xs: a libxenstore
 * handle (real xenstored or the embedded daemon).
 *
 * ADD is idempotent: with physical-device present it succeeds at once, and
 * two ADDs of one backend at once (udev and a toolstack, say) end with one
 * loop device, the one whose transaction committed first.  A backend the
 * toolstack has taken offline (online = 0: it is being removed) gets
 * nothing: ADD returns 0 and writes nothing, so an ADD that comes after
 * REMOVE leaves no loop device behind.  On
 * failure it writes hotplug-error=<message> and hotplug-status=error (busy
 * for a sharing conflict), leaves no loop device behind, and returns:
 * -ENOENT (no such target or backend), -EROFS (access=w on a read-only
 * target), -EBUSY (sharing conflict or mounted), -ENODEV (neither a block
 * device nor a regular file), -EINVAL (bad params/mode), -EPERM (a backend of another domain: that
 * domain runs its own step).
 * ADD tags the loop device it makes in its lo_file_name ("libvbd", a hash
 * of the store's socket, the backend's entry), so that REMOVE frees it even
 * when no record names it (ADD killed before its commit, a store that died)
 * and vbd_loop_orphan_list() (vbd/status.h) lists it; the store is taken
 * to be the one $XENSTORED_PATH names, as xs_open() took it (unset: the
 * host's).  A context's attach and detach use its own socket instead.
 * REMOVE frees what ADD set up, as ADD recorded it where only the calling
 * domain (and dom0) can write: /libvbd in dom0, data/libvbd under a driver
 * domain's home; node, params and physical-device in the backend dir are
 * never trusted.  It is idempotent too. */
VBD_PUBLIC int vbd_hotplug_builtin(struct xs_handle *xs, const char *be_path,
                                   vbd_hotplug_action action, vbd_errbuf *err);

/* Whether a uevent should run the step for be_path: what udev's rule asks
 * (vbdctl hotplug --udev) before vbd_hotplug_builtin().  Returns 1 (run
 * it), 0 (leave it; err says why) or -errno (-EINVAL, -EPERM as above, or
 * the store's error).  It is 0:
 * - when <own home>/libxl/disable_udev exists, libxl's sign (before 4.6)
 *   that the toolstack runs the hotplug scripts and udev must not;
 * - for ADD, when the device's script is not vbd-block: the script named
 *   in the toolstack's copy, /libxl/<domid>/device/vbd/<devid>/script,
 *   where only dom0 writes (in dom0; the backend's own script when there is
 *   no copy, and in a driver domain, whose backends are its own).  Any
 *   other script (block, block-drbd ...) is the toolstack's to run;
 * - for REMOVE, when this domain has no record of an ADD of that backend,
 *   or when the backend is online again (a later attach of the same device:
 *   a remove event that comes late must not free it).
 * Neither this nor the step takes a lock: a toolstack that runs vbd-block
 * itself (libxl since 4.6 always does, vbdctl attach runs the step in
 * process) may run it at the same time, and ADD and REMOVE are safe to run
 * twice and at once (see above). */
VBD_PUBLIC int vbd_hotplug_udev_check(struct xs_handle *xs, const char *be_path,
                                      vbd_hotplug_action action, vbd_errbuf *err);

VBD_END_DECLS

#endif
