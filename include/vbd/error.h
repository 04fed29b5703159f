/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/error.h - error reporting.
 *
 * Every libvbd call that can fail returns an int >= 0 on success or a
 * negative errno value.  The detail (which node, which script, what it
 * printed) comes one way for each kind of call:
 *   - a call that makes an object (vbd_ctx_new, vbd_store_new,
 *     vbd_simhv_new, vbd_xport_open, vbd_blkback_new, vbd_blkfront_new) or
 *     works on no object (vbd_disk_*, vbd_hotplug_builtin) fills the
 *     vbd_errbuf it is given as its last argument (NULL: not wanted);
 *   - a call on an object that can say more keeps the message in the
 *     object, read with the object's last_error call: vbd_ctx_last_error()
 *     for a context and the operations on it (an asynchronous operation's
 *     done callback also gets it), vbd_blkfront_last_error() for a
 *     frontend, whose device fails on its own too.
 * The other calls' errno says all there is (the store, simhv and
 * transport calls on their objects).
 *
 * Thread safety: vbd_strerror() may be called from any thread; a
 * vbd_errbuf is the caller's and is written only by the call it is given
 * to.
 */
#ifndef VBD_ERROR_H
#define VBD_ERROR_H

#include <stddef.h>

#include "vbd/common.h"

VBD_BEGIN_DECLS

/* A detailed message: "what failed: why".  Empty when nothing was said. */
typedef struct vbd_errbuf {
	char msg[1024];
} vbd_errbuf;

/* A short description of a negative errno value as libvbd uses it
 * ("-EEXIST: device already exists").  Never NULL. */
VBD_PUBLIC const char *vbd_strerror(int r);

VBD_END_DECLS

#endif
