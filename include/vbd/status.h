/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/status.h - what VBDs exist and what state they are in.
 *
 * Thread safety: vbd_dev_list() follows its context's rule (vbd/ctx.h);
 * the array it returns is the caller's, with no tie to the context.
 */
#ifndef VBD_STATUS_H
#define VBD_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbd/common.h"
#include "vbd/ctx.h"

VBD_BEGIN_DECLS

/* One device's request counters, named as Linux xen-blkback names them in
 * sysfs (/sys/bus/xen-backend/devices/vbd-<domid>-<devid>/statistics/) and
 * xentop shows them.  A struct the library fills: set size first
 * (vbd/common.h). */
typedef struct vbd_dev_stats {
	size_t size;
	/* Requests the backend had to leave on the ring for lack of its own
	 * resources.  The bundled backend takes a request only when it can
	 * serve it: always 0 there. */
	uint64_t oo_req;
	uint64_t rd_req, wr_req;   /* reads and writes, direct or indirect */
	uint64_t f_req;            /* flushes and barriers */
	uint64_t ds_req;           /* discards */
	uint64_t rd_sect, wr_sect; /* 512-byte sectors read and written */
} vbd_dev_stats;

/* One device, as xenstore shows it.  Strings are NULL when the node is
 * absent; states are -1 then. */
typedef struct vbd_dev_info {
	vbd_domid domid;
	uint32_t devid;
	char vdev[32];             /* canonical name of devid */
	vbd_domid backend_domid;
	bool in_libxl;             /* libxl's /libxl copy exists (what xl block-list shows) */
	int backend_state, frontend_state;
	char *backend_path, *frontend_path;
	char *params, *mode, *device_type, *script;
	char *physical_device, *node, *hotplug_status, *hotplug_error;
	char *backend_error, *frontend_error;   /* error/<nodename>/error of each end */
	char *protocol, *ring_ref, *event_channel;
	long long sectors;         /* -1 unknown */
	long sector_size, info;
	int queues, ring_page_order;
	bool feature_flush, feature_barrier, feature_discard, feature_persistent;
	/* What params names holds, probed with libblkid on this machine
	 * (vbd_disk_target_probe); target_size -1 when it could not be probed. */
	long long target_size;
	char *target_type, *target_label, *target_uuid;
	/* Request counters, when the caller read them (vbd_dev_list() leaves
	 * has_stats false): from vbd_dev_stats_read_sysfs() or
	 * vbd_blkback_get_dev_stats(); vbd_dev_info_json() prints them as
	 * "statistics". */
	bool has_stats;
	vbd_dev_stats stats;
} vbd_dev_info;


/* The counters of a device the kernel's blkback serves in this domain, read
 * from <root>/bus/xen-backend/devices/vbd-<domid>-<devid>/statistics/
 * (root NULL or "": /sys; another root is a copy laid out the same way,
 * where a tap disk's, vbd3-<domid>-<devid>, is found as well).
 * No context and no xenstore: -ENOENT when the directory or one of the
 * seven files is missing (no such device, or not the kernel's), -EBADMSG
 * when a file does not hold one decimal that fits in 64 bits, -EINVAL for
 * a reserved domid, no ret or a ret->size below sizeof(size_t).  *ret is
 * untouched on failure. */
VBD_PUBLIC int vbd_dev_stats_read_sysfs(const char *root, vbd_domid domid, uint32_t devid,
                                        vbd_dev_stats *ret);

/* The VBDs of domid (VBD_DOMID_ALL: of every domain), only devid's if devid >= 0: the
 * devices libxl's copy lists, and backend dirs without a copy (half-made or
 * left by a crash), so that vbdctl status shows what detach --force cleans. */
VBD_PUBLIC int vbd_dev_list(vbd_ctx *c, vbd_domid domid, int64_t devid, vbd_dev_info **ret,
                            size_t *ret_n);
VBD_PUBLIC void vbd_dev_info_free(vbd_dev_info *v, size_t n);

/* The version of the objects vbd_dev_info_json() prints, the first key of
 * each ("schema_version").  It grows by one when a key changes meaning,
 * type or unit, or goes away; new keys do not change it.  The schema is in
 * vbdctl-json(7). */
#define VBD_DEV_INFO_JSON_SCHEMA_VERSION 1

/* The list as JSON (libyajl): an array of objects, "[]" when n is 0;
 * *ret is malloc'd.  Strings are written as UTF-8: a byte that is not part
 * of a well-formed sequence becomes U+FFFD, one per byte.  -EINVAL without ret, or with n > 0 and no v;
 * -ENOMEM. */
VBD_PUBLIC int vbd_dev_info_json(const vbd_dev_info *v, size_t n, bool pretty, char **ret);

/* A loop device the built-in hotplug step made (vbd_hotplug_builtin(),
 * vbd/hotplug.h) on this context's store that no record names: its attach
 * was killed between the loop device and the commit of its record, or the
 * record went with a store that died.  Nothing frees it but
 * vbdctl detach --force (vbd_dev_detach() with force) of the device its
 * entry names, which frees every loop device tagged for that device.
 * The step tags each loop device it makes in its lo_file_name: "libvbd",
 * a hash of the store's socket and the backend's entry ("0-5-51712":
 * backend domain, frontend domain, devid).  A struct the library fills:
 * set size first (vbd/common.h). */
typedef struct vbd_loop_orphan {
	size_t size;
	char device[32];           /* "/dev/loop3" */
	/* The entry as the tag holds it, bytes as the kernel gave them back:
	 * any process that may configure a loop device can write a tag, so
	 * escape it before a terminal.  "<bdom>-<fe>-<devid>" for a vbd
	 * backend, "-<type>" appended for another type, "p<escaped path>"
	 * for a backend outside that layout, "#<hash>" for one whose entry
	 * did not fit. */
	char entry[64];
	/* Whether entry names a backend by domains and devid: then the
	 * three below say which (detach --force <domid> <devid> frees it). */
	bool has_dev;
	vbd_domid backend_domid, domid;
	uint32_t devid;
	/* What the device is bound to, as sysfs shows it
	 * (/sys/block/loopN/loop/backing_file), "" when it could not be
	 * read; a path the kernel resolved, " (deleted)" appended when the
	 * file was removed.  Escape it before a terminal too. */
	char backing_file[4096];
} vbd_loop_orphan;

/* Lists the orphan loop devices (above) of this context's store: those
 * bound, tagged for its store, that no record in this domain's records
 * (/libvbd in dom0, data/libvbd in a driver domain) names.  ret points to
 * max structs, each ret[0].size bytes long (set ret[0].size to
 * sizeof(vbd_loop_orphan); ret may be NULL when max is 0): the first
 * min(max, found) are filled, in the order of their device numbers, each
 * with its size set as ret[0].size says; *ret_n gets how many were found,
 * which may be more than max (call again with room for them).  A loop
 * device an attach is setting up right now shows until its record is
 * committed; one another program configured never shows, as its
 * lo_file_name does not start with this store's tag (losetup writes the
 * file's path there).  Loop devices are asked with LOOP_GET_STATUS64,
 * which needs read access to /dev/loopN: a device that cannot be opened
 * is skipped.  0, -EINVAL (no context, no ret_n, max > 0 without ret or
 * with ret[0].size below sizeof(size_t)), or the store's error reading a
 * record; *ret_n is untouched on failure. */
VBD_PUBLIC int vbd_loop_orphan_list(vbd_ctx *c, vbd_loop_orphan *ret, size_t max, size_t *ret_n);

/* What vbdctl status --json prints: vbd_dev_info_json()'s array, the n
 * devices of v, followed by one object per orphan loop device of o (no of
 * them, o[0].size bytes apart, as vbd_loop_orphan_list() filled them): a
 * device object of the domid and devid its entry names, every node absent
 * (null), with the loop device under "orphan_loop"; domid, devid and
 * backend_domid are null when the entry names no device (vbdctl-json(7)).
 * "[]" when both are empty; *ret is malloc'd.  -EINVAL without ret, with
 * n > 0 and no v, or no > 0 and no o or an o[0].size short of the struct;
 * -ENOMEM. */
VBD_PUBLIC int vbd_status_json(const vbd_dev_info *v, size_t n, const vbd_loop_orphan *o,
                               size_t no, bool pretty, char **ret);

VBD_END_DECLS

#endif
