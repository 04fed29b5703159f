/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"

/* The errno values libvbd returns, with what they mean here. */
#define VBD_ERRORS(X) \
	X(EINVAL, "invalid argument") \
	X(ENOENT, "no such device, domain, node or file") \
	X(EEXIST, "device already exists") \
	X(EACCES, "permission denied") \
	X(EPERM, "operation not permitted") \
	X(EBUSY, "device busy or shared in a conflicting mode") \
	X(EAGAIN, "transaction conflict, retry") \
	X(ETIMEDOUT, "timed out") \
	X(ENOSPC, "quota or space exhausted") \
	X(E2BIG, "too big") \
	X(ENOMEM, "out of memory") \
	X(EIO, "I/O error") \
	X(EROFS, "read-only target") \
	X(ENODEV, "not a block device or regular file") \
	X(EPROTO, "protocol violation by the other end") \
	X(ECONNREFUSED, "xenstore daemon not reachable") \
	X(ECANCELED, "cancelled") \
	X(ENOTSUP, "not supported here") \
	X(ENOTCONN, "not connected") \
	X(ELOOP, "too many levels of symbolic links (a link loop)") \
	X(ENOTDIR, "a path component is not a directory") \
	X(ENAMETOOLONG, "path too long") \
	X(EBADMSG, "a file that should hold a number does not")

const char *vbd_strerror(int r)
{
	switch (-r) {
	case 0:
		return "success";
#define X(e, s) case e: return "-" #e ": " s;
	VBD_ERRORS(X)
#undef X
	default:
		return "unknown error";
	}
}

int vbd__errf(vbd_errbuf *e, int r, const char *fmt, ...)
{
	char old[sizeof(e->msg)];
	va_list ap;
	int n;

	if (!e)
		return r;
	snprintf(old, sizeof(old), "%s", e->msg);
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	/* Keep the earlier message as the cause, as much of it as fits. */
	if (old[0] && n >= 0 && (size_t)n + 3 < sizeof(e->msg)) {
		size_t room = sizeof(e->msg) - (size_t)n - 3;
		size_t ol = strnlen(old, room);

		memcpy(e->msg + n, ": ", 2);
		memcpy(e->msg + n + 2, old, ol);
		e->msg[n + 2 + ol] = 0;
	}
	return r;
}
