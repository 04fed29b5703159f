/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every vbdctl command shares: how much to say (--quiet, --verbose),
 * which store socket to use, the daemons' stop signals, numbers and domain
 * ids on the command line, and whole reads and writes on a stream socket.  Output for a person is in
 * term.c, the simulated host's directories in sim_common.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <xen/xen.h>

#include "vbdctl.h"

int vbdctl_verbosity;

bool vbdctl_verbosity_opt(const char *arg)
{
	if (!strcmp(arg, "-q") || !strcmp(arg, "--quiet"))
		vbdctl_verbosity = -1;
	else if (!strcmp(arg, "-v") || !strcmp(arg, "--verbose"))
		vbdctl_verbosity = 1;
	else
		return false;
	return true;
}

int vbdctl_signalfd(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

const char *vbdctl_socket(const char *opt)
{
	const char *env = getenv("XENSTORED_PATH");

	if (opt)
		return opt;
	if (env && *env)
		return env;
	return VBDCTL_DEFAULT_SOCKET;
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

int vbdctl_parse_domid(const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v == 0 || v >= DOMID_FIRST_RESERVED) {
		vbdctl_err("bad domain id '%s': expected 1..%u", s, DOMID_FIRST_RESERVED - 1);
		return -EINVAL;
	}
	*ret = (unsigned)v;
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
