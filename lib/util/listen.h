/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBD_UTIL_LISTEN_H
#define VBD_UTIL_LISTEN_H

/* A listening Unix socket of type (SOCK_STREAM, SOCK_SEQPACKET) at path,
 * non-blocking and CLOEXEC, chmod'ed to mode.  A stale socket file (nobody
 * answers on it) is replaced; a live one is -EADDRINUSE.  *ret gets the fd. */
int vbd__unix_listen(const char *path, int type, unsigned mode, int *ret);

#endif
