/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the simulated host's commands share (cmd_sim.c, cmd_frontend.c,
 * cmd_io.c): where a host's files are, numbers on the command line, and
 * whole reads and writes on the frontend's I/O socket.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"
#include "vbdctl.h"

const char *vbdctl_sim_dir(const char *opt)
{
	const char *env = getenv("VBD_SIM_DIR");

	if (opt)
		return opt;
	return env && *env ? env : VBDCTL_SIM_DEFAULT_DIR;
}

/* The host a client command (io, stop) talks to: --dir, else $VBD_SIM_DIR,
 * else the one whose xenstore $XENSTORED_PATH names (what sim start told to
 * export: DIR/xenstored.sock, with the host's pid file beside it), else the
 * default. */
const char *vbdctl_sim_client_dir(const char *opt, char *buf, size_t size)
{
	const char *env = getenv("VBD_SIM_DIR"), *xs = getenv("XENSTORED_PATH"), *slash;
	static const char sock[] = "/xenstored.sock";
	size_t n;

	if (opt || (env && *env) || !xs)
		return vbdctl_sim_dir(opt);
	slash = strrchr(xs, '/');
	n = slash ? (size_t)(slash - xs) : 0;
	if (!slash || strcmp(slash, sock) || n + sizeof("/host.pid") > size)
		return vbdctl_sim_dir(NULL);
	snprintf(buf, size, "%.*s/host.pid", (int)n, xs);
	if (access(buf, F_OK) < 0)
		return vbdctl_sim_dir(NULL);
	buf[n] = 0;
	return buf;
}

int vbdctl_parse_u64(const char *what, const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v > max) {
		vbdctl_err("bad %s '%s': expected 0..%" PRIu64, what, s, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int xfer_all(int fd, void *buf, size_t len, bool out)
{
	char *p = buf;

	while (len) {
		ssize_t n = out ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vbdctl_write_all(int fd, const void *buf, size_t len)
{
	return xfer_all(fd, (void *)buf, len, true);
}

int vbdctl_read_all(int fd, void *buf, size_t len)
{
	return xfer_all(fd, buf, len, false);
}
