/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Listening Unix sockets for the daemons (the store, the simulated
 * hypervisor): both replace what a crashed predecessor left, and both must
 * never take over a socket someone still serves.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/listen.h"

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
