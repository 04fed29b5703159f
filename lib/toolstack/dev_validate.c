/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The checks of an attach's input, before anything is written: both
 * domains exist, the backend type is phy (kernel blkback, backend/vbd) or
 * tap (a userspace backend, backend/vbd3), the format is one they serve
 * (raw), and the target resolves to a regular file or block device that
 * opens as the disk asks (read-only or read-write), or, when it does not,
 * a message that says what refused it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "toolstack/dev_internal.h"
#include "vbd/disk.h"

/* Says which open of the target was refused, and why as far as can be
 * known: EPERM is not a read-only file system, and a refusal to read has
 * nothing to do with access=w. */
static int open_refused(vbd_ctx *c, const char *path, bool writable, int e)
{
	const char *how = writable ? "for writing (access=w)" : "for reading";
	int flags = 0, fd;

	if (e == EROFS)
		return vbd__errf(&c->err, -EROFS, "target %s is on a read-only file system or device, "
		                 "and so cannot be opened %s", path, how);
	if (e == EPERM && writable && (fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) >= 0) {
		if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
			flags = 0;
		close(fd);
		if (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL))
			return vbd__errf(&c->err, -EPERM, "target %s is %s (chattr +%c), and so cannot "
			                 "be opened %s", path, flags & FS_IMMUTABLE_FL ? "immutable" :
			                 "append-only", flags & FS_IMMUTABLE_FL ? 'i' : 'a', how);
	}
	if (e == EPERM)
		return vbd__errf(&c->err, -EPERM, "opening target %s %s was refused (%s): not by "
		                 "its mode or file system; a security module or a file access "
		                 "monitor said no", path, how, strerror(e));
	return vbd__errf(&c->err, -e, "target %s cannot be opened %s: %s", path, how, strerror(e));
}

bool vbd__dev_home_in_txn(vbd_ctx *c, unsigned domid)
{
	/* dom0 exists whether or not anyone wrote its home. */
	return domid != 0 && !vbd__ctx_libxl(c);
}

/* Checks what can be checked before anything is written.  The target of a
 * backend in another domain is that domain's to find: not looked for here. */
int vbd__dev_validate(vbd_ctx *c, const vbd_attach_options *o, bool foreign, char **ret_params)
{
	const vbd_disk_spec *d = o->spec;
	char *params = NULL;
	struct stat st;
	unsigned id;
	char buf[16];
	bool tap;
	int r, fd;

	snprintf(buf, sizeof(buf), "%u", o->domid);
	if (!vbd__dev_home_in_txn(c, o->domid) && (r = vbd_ctx_domain_lookup(c, buf, &id)) < 0)
		return vbd__errf(&c->err, r, "frontend domain");
	/* A backend in the context's own domain: that domain runs. */
	snprintf(buf, sizeof(buf), "%u", o->backend_domid);
	if (foreign && (r = vbd_ctx_domain_lookup(c, buf, &id)) < 0)
		return vbd__errf(&c->err, r, "backend domain");
	/* phy (blkback) and tap (vbd3, served by a userspace backend such as
	 * vbdctl backend --kind vbd3): a disk asked for another must not
	 * silently get one of these. */
	tap = d->backendtype && !strcmp(d->backendtype, "tap");
	if (d->backendtype && strcmp(d->backendtype, "phy") != 0 && !tap)
		return vbd__errf(&c->err, -ENOTSUP, "backendtype=%s is not supported: only phy (the "
		                 "default, kernel blkback) and tap (backend vbd3, a userspace backend) "
		                 "are", d->backendtype);
	if (!d->target) {
		if (!d->cdrom)
			return vbd__errf(&c->err, -EINVAL, "%s: no target (only a cdrom may be empty)", d->vdev);
		if (tap)
			return vbd__errf(&c->err, -ENOTSUP, "%s: an empty cdrom drive is served by "
			                 "backendtype=phy only, not tap", d->vdev);
		*ret_params = strdup("");
		return *ret_params ? 0 : -ENOMEM;
	}
	if (strlen(d->target) > 1024)
		return vbd__errf(&c->err, -E2BIG, "target is %zu characters long; at most 1024",
		                 strlen(d->target));
	if (d->format && strcmp(d->format, "raw") != 0)
		return vbd__errf(&c->err, -ENOTSUP, "format %s: the %s backend serves raw images only",
		                 d->format, tap ? "tap (vbd3)" : "phy");
	/* tap's params is "<format>:<path>", libxl's name of the format
	 * first: raw is "aio" (tapdisk's driver for raw images). */
	if (tap && d->target[0] != '/')
		return vbd__errf(&c->err, -EINVAL, "target %s: backendtype=tap takes an absolute "
		                 "path", d->target);
	if (foreign) {
		if (tap ? asprintf(ret_params, "aio:%s", d->target) < 0 :
		    !(*ret_params = strdup(d->target))) {
			*ret_params = NULL;
			return vbd__errf(&c->err, -ENOMEM, "out of memory");
		}
		return 0;
	}
	if ((r = vbd_disk_target_resolve(d->target, &params, &c->err)) < 0)
		return r;
	if (stat(params, &st) < 0) {
		r = vbd__errf(&c->err, -errno, "target %s: %s", params, strerror(errno));
		free(params);
		return r;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		r = vbd__errf(&c->err, -ENODEV, "target %s is neither a regular file nor a block device",
		              params);
		free(params);
		return r;
	}
	/* As root, only a read-only file system or device, an immutable or
	 * append-only file, or a security module says no; opening for writing
	 * is what asks all of them. */
	fd = open(params, (d->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		r = open_refused(c, params, !d->readonly, errno);
		free(params);
		return r;
	}
	close(fd);
	if (tap) {
		char *p = NULL;

		r = asprintf(&p, "aio:%s", params);
		free(params);
		if (r < 0)
			return vbd__errf(&c->err, -ENOMEM, "out of memory");
		params = p;
	}
	*ret_params = params;
	return 0;
}
