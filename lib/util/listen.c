/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Listening Unix sockets for the daemons (the store, the simulated
 * hypervisor): the main socket and one per guest domain, accepting, and
 * removal.  Both daemons replace what a crashed predecessor left, and both
 * must never take over a socket someone still serves.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/listen.h"

static int sockopt_int(int fd, int name, int *ret)
{
	socklen_t len = sizeof(*ret);

	return getsockopt(fd, SOL_SOCKET, name, ret, &len) < 0 ? -errno : 0;
}

int vbd__unix_listen(const char *path, int type, unsigned mode, int *ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, probe, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		if (r != -EADDRINUSE)
			goto fail;
		/* Replace a stale socket file, refuse a live one. */
		probe = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
		if (probe < 0) {
			r = -errno;
			goto fail;
		}
		r = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		close(probe);
		if (r == 0) {
			r = -EADDRINUSE;
			goto fail;
		}
		if (unlink(path) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			r = -errno;
			goto fail;
		}
	}
	if (chmod(path, (mode_t)mode) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		unlink(path);
		goto fail;
	}
	*ret = fd;
	return 0;
fail:
	close(fd);
	return r;
}

void vbd__listener_init(vbd__listener *l, unsigned domid)
{
	l->fd = -1;
	l->domid = domid;
	l->path = NULL;
	l->adopted = false;
}

int vbd__listener_open(vbd__listener *l, const char *path, int type, unsigned mode)
{
	int r;

	l->path = strdup(path);
	if (!l->path)
		return -ENOMEM;
	r = vbd__unix_listen(l->path, type, mode, &l->fd);
	if (r < 0) {
		free(l->path);
		l->path = NULL;
		l->fd = -1;
	}
	return r;
}

int vbd__listener_adopt(vbd__listener *l, int fd, int type)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int v, fl;
	char *path;

	if (fd < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return fd < 0 ? -EBADF : -errno;
	if (sa.sun_family != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path) ||
	    !sa.sun_path[0])
		return -EINVAL;
	if (sockopt_int(fd, SO_TYPE, &v) < 0 || v != type ||
	    sockopt_int(fd, SO_ACCEPTCONN, &v) < 0 || !v)
		return -EINVAL;
	path = strndup(sa.sun_path, len - offsetof(struct sockaddr_un, sun_path));
	if (!path)
		return -ENOMEM;
	fl = fcntl(fd, F_GETFL);
	/* Inherited fds come without O_NONBLOCK or FD_CLOEXEC: without the
	 * first, accepting would block the caller's loop, without the second
	 * hotplug scripts and workers would inherit the listening socket. */
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		free(path);
		return -errno;
	}
	l->fd = fd;
	l->path = path;
	l->adopted = true;
	return 0;
}

int vbd__listener_open_domain(vbd__listener *l, const char *base, int type, unsigned mode)
{
	char dir[PATH_MAX], path[PATH_MAX];

	if ((size_t)snprintf(dir, sizeof(dir), "%s.d", base) >= sizeof(dir) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%u", dir, l->domid) >= sizeof(path))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return vbd__listener_open(l, path, type, mode);
}

void vbd__listener_close(vbd__listener *l)
{
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
	if (l->path) {
		if (!l->adopted)
			unlink(l->path);
		free(l->path);
		l->path = NULL;
	}
	l->adopted = false;
}

void vbd__listener_remove_dir(const char *base)
{
	char dir[PATH_MAX];

	if ((size_t)snprintf(dir, sizeof(dir), "%s.d", base) < sizeof(dir))
		rmdir(dir);
}

int vbd__listener_accept(vbd__listener *l, int *spare_fd)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0)
			return fd;
		if ((errno != EMFILE && errno != ENFILE) || *spare_fd < 0)
			return -errno;
		close(*spare_fd);
		fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		*spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
}
