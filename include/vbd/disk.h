/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/disk.h - naming and describing a disk: vdev names, device ids, and
 * xl's disk specification syntax (xl-disk-configuration(5)).
 *
 * Thread safety: no state of its own; any thread may call these at once.
 * A vbd_disk_spec is used by one thread at a time.
 */
#ifndef VBD_DISK_H
#define VBD_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbd/common.h"
#include "vbd/error.h"

VBD_BEGIN_DECLS

/* Device id of a vdev name, as xen-vbd-interface(7) defines it:
 *   xvd<letters>[<part>], d<disk>p<part>   202<<8 | D<<4 | P (D, P <= 15)
 *                                           1<<28 | D<<8 | P otherwise
 *   hd<letter>[<part>]                      (D<2 ? 3 : 22)<<8 | (D&1)<<6 | P
 *   sd<letter>[<part>]                      8<<8 | D<<4 | P
 *   a bare decimal number                   itself (below 1<<28... see below)
 * Letters are bijective base 26 (a=0, z=25, aa=26).  No leading zero in a
 * partition number.  Ids from 2<<28 up are reserved.  -EINVAL for anything
 * else, with no partial result. */
VBD_PUBLIC int vbd_vdev_to_devid(const char *vdev, uint32_t *ret_devid);

/* The canonical name of a device id ("xvda", "xvdq3", "hdc", "sda1"), or
 * its decimal form when no naming scheme covers it.  -ENAMETOOLONG if size
 * is too small, -EINVAL for a reserved id. */
VBD_PUBLIC int vbd_devid_to_vdev(uint32_t devid, char *buf, size_t size);

/* A parsed disk specification.  Strings are owned by the struct. */
typedef struct vbd_disk_spec {
	char *target;          /* params: a path, LABEL=..., UUID=...; NULL: empty cdrom */
	char *vdev;            /* as given */
	uint32_t devid;        /* vbd_vdev_to_devid(vdev) */
	bool readonly;         /* access=r (cdroms always) */
	bool cdrom;            /* devtype=cdrom */
	char *format;          /* "raw", "qcow2", ...; NULL: raw */
	char *script;          /* script=, or NULL */
	char *backend_domain;  /* backend=, a name or an id; NULL: dom0 */
	char *backendtype;     /* backendtype= ("phy", "qdisk", "standalone"); NULL: default */
	int discard;           /* -1: default, 0: no-discard, 1: discard */
	bool direct_io_safe;
	bool trusted;          /* default true; untrusted marks the backend hostile */
} vbd_disk_spec;

/* Parses xl disk spec strings with libxlutil's xlu_disk_parse (xl's own
 * parser): one spec may be split over several strings, as on xl's command
 * line.  On failure *ret is untouched and err says what xl's parser said. */
VBD_PUBLIC int vbd_disk_spec_parse(int nspecs, const char *const *specs,
                                   vbd_disk_spec **ret, vbd_errbuf *err);
VBD_PUBLIC vbd_disk_spec *vbd_disk_spec_free(vbd_disk_spec *spec);

/* Resolves a target: "LABEL=x" / "UUID=y" through libblkid to the device
 * that carries it (-ENOENT if none), anything else returned as it is.
 * *ret_path is malloc'd. */
VBD_PUBLIC int vbd_disk_target_resolve(const char *target, char **ret_path, vbd_errbuf *err);

/* What a target holds, as libblkid sees it. */
typedef struct vbd_target_info {
	/* sizeof(this struct) as the caller has it, set by the caller: the
	 * library fills only what fits (vbd/common.h). */
	size_t size;
	long long bytes;           /* its size */
	bool block;                /* a block device (else a regular file) */
	char type[32];             /* a filesystem ("ext4", "swap") or a
	                            * partition table ("dos", "gpt"); "" if none */
	char label[128];
	char uuid[64];
} vbd_target_info;

/* Probes path (a regular file or block device) read-only.  -ENOENT,
 * -ENODEV (neither kind), -errno from open, -EINVAL (ret->size unset); a
 * target holding nothing libblkid knows is success with an empty type. */
VBD_PUBLIC int vbd_disk_target_probe(const char *path, vbd_target_info *ret, vbd_errbuf *err);

VBD_END_DECLS

#endif
