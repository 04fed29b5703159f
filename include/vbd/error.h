/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/error.h - error reporting.
 *
 * Every libvbd call that can fail returns an int >= 0 on success or a
 * negative errno value.  Calls that can say more (which node, which script,
 * what it printed) also fill a vbd_errbuf the caller passes, or, through a
 * context, the message vbd_ctx_last_error() returns.
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
