/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBD_UTIL_LISTEN_H
#define VBD_UTIL_LISTEN_H

#include <stdbool.h>

/* The Unix-socket server skeleton that the store and the simulated
 * hypervisor share.  A daemon at "/run/x/socket" listens there for dom0 and,
 * for each guest domain it knows, at "/run/x/socket.d/<domid>": a peer's
 * identity is the socket it came through, never anything it says.
 *
 *     vbd__listener l;
 *     vbd__listener_init(&l, 5);
 *     r = vbd__listener_open_domain(&l, "/run/x/socket", SOCK_STREAM, 0600);
 *     ... on EPOLLIN of l.fd:
 *     while ((fd = vbd__listener_accept(&l, &spare_fd)) >= 0)
 *             conn_new(fd, l.domid);
 *     ...
 *     vbd__listener_close(&l);            closes, removes socket.d/5
 *     vbd__listener_remove_dir("/run/x/socket");
 *
 * The owner keeps the fd in its own epoll set: registration is its business. */

/* A listening Unix socket of type (SOCK_STREAM, SOCK_SEQPACKET) at path,
 * non-blocking and CLOEXEC, chmod'ed to mode.  A stale socket file (nobody
 * answers on it) is replaced; a live one is -EADDRINUSE.  *ret gets the fd. */
int vbd__unix_listen(const char *path, int type, unsigned mode, int *ret);

typedef struct vbd__listener {
	int fd;              /* -1: not listening */
	unsigned domid;      /* who the connections accepted here act as */
	char *path;          /* the socket file (owned); NULL: none */
	bool adopted;        /* the socket came bound from our caller (systemd's
	                      * socket activation): its file is the binder's to
	                      * remove, never ours */
} vbd__listener;

/* Nothing open yet: fd -1, no path. */
void vbd__listener_init(vbd__listener *l, unsigned domid);
/* Listens at path.  On failure l is left as init left it and nothing that
 * was there before (a live socket) is touched. */
int vbd__listener_open(vbd__listener *l, const char *path, int type, unsigned mode);
/* Takes over fd, a listening Unix socket of type bound to a path by someone
 * else (systemd passes one as fd 3): l->path is read from the socket, the fd
 * made non-blocking and CLOEXEC.  -EINVAL for anything else (not a Unix
 * socket, another type, not listening, an abstract or unnamed address); on
 * failure the caller still owns fd.  Closing closes fd and leaves its file. */
int vbd__listener_adopt(vbd__listener *l, int fd, int type);
/* Listens at "<base>.d/<domid>", making the directory (0755) if needed. */
int vbd__listener_open_domain(vbd__listener *l, const char *base, int type, unsigned mode);
/* Closes the socket and removes its file.  Idempotent. */
void vbd__listener_close(vbd__listener *l);
/* Removes "<base>.d" once the last domain socket in it is gone (a directory
 * that still holds something stays). */
void vbd__listener_remove_dir(const char *base);
/* The next pending connection (non-blocking, CLOEXEC), or < 0 when there is
 * none or accept failed.  Out of fds, a pending client would keep the socket
 * readable and spin the caller's loop: *spare_fd (an fd kept open on
 * /dev/null, or -1) is given up to accept that client and drop it, then
 * taken again. */
int vbd__listener_accept(vbd__listener *l, int *spare_fd);

#endif
