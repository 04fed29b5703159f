/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemons (store serve, devd, backend) under systemd: readiness and
 * status by sd_notify, the store's socket from socket activation, and log
 * priorities for the journal.
 *
 * Under a Type=notify unit, vbdctl devd sends
 *     READY=1\nSTATUS=running the hotplug steps of this domain's backends
 * once its watches are set, and STOPPING=1 on SIGTERM.  Without NOTIFY_SOCKET
 * every call here is a no-op, so the same binary runs from a shell.
 *
 * Logs go to stderr (and devd's steps to stdout) with a "<N>" syslog
 * priority in front of each line when that stream is the journal, which
 * systemd's stream reader turns into the entry's PRIORITY= ("<3>vbdctl:
 * cannot serve ..." is an error).  Chosen over sd_journal_print() because it
 * keeps one output path: the same lines, with or without systemd, in a
 * terminal, a test's pipe or the journal; and JOURNAL_STREAM tells exactly
 * when the prefix is read (only when the stream's device and inode are the
 * journal's, not when a unit redirects it to a file).  The library's log
 * levels are syslog's numbers (vbd_log_level), so they are the prefix as is.
 *
 * Both protocols are spoken here rather than through libsystemd: they are
 * a datagram and two environment variables (sd_notify(3),
 * sd_listen_fds(3)), and libsystemd would bring five more libraries into
 * every vbdctl start, attach and detach included: about 60 more system
 * calls at each start, milliseconds each on an emulated dom0
 * (bench/README.md, lab).
 * Example: NOTIFY_SOCKET=@/org/x/notify (abstract: '@' is the leading
 * NUL byte), one sendto() of "READY=1\nSTATUS=..."; LISTEN_PID=1234
 * LISTEN_FDS=1: fd 3 is the listening socket, when 1234 is this process.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vbdctl.h"

/* Whether fd is the stream JOURNAL_STREAM ("DEV:INODE") names. */
static bool is_journal(int fd)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (!e || sscanf(e, "%llu:%llu%n", &dev, &ino, &n) != 2 || e[n] || fstat(fd, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void vbdctl_journal_prefix(FILE *f, int level)
{
	/* Computed once per stream: a daemon's stdout and stderr do not
	 * change under it, and this runs for every line. */
	static int out = -1, err = -1;
	int *known = f == stdout ? &out : f == stderr ? &err : NULL;

	if (!known)
		return;
	if (*known < 0)
		*known = is_journal(fileno(f));
	if (*known && level >= 0 && level <= 7)
		fprintf(f, "<%d>", level);
}

/* The first fd socket activation passes (SD_LISTEN_FDS_START). */
#define LISTEN_FDS_START 3

/* One datagram to the socket NOTIFY_SOCKET names: a path, or an abstract
 * name written with a leading '@'.  Other address kinds (vsock) are not
 * spoken; a unit that uses them gets no notification, as without one. */
static int notify_send(const char *addr, const char *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(addr);
	socklen_t salen;
	ssize_t n;
	int fd, r = 0;

	if ((addr[0] != '/' && addr[0] != '@') || len < 2 || len > sizeof(sa.sun_path))
		return -EAFNOSUPPORT;
	memcpy(sa.sun_path, addr, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	/* An abstract name is exactly its bytes: no trailing NUL counted. */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	                    (sa.sun_path[0] ? 1 : 0));
	if (salen > sizeof(sa))
		salen = sizeof(sa);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = sendto(fd, s, strlen(s), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != strlen(s))
		r = -EMSGSIZE;
	close(fd);
	return r;
}

void vbdctl_notify(const char *fmt, ...)
{
	const char *addr = getenv("NOTIFY_SOCKET");
	va_list ap;
	char *s = NULL;

	if (!addr)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	/* A lost notification is systemd's timeout to report, not a reason
	 * to stop serving: the result is not acted on. */
	if (s)
		(void)notify_send(addr, s);
	free(s);
}

/* A decimal number and nothing else; -1 if s is not one. */
static long long parse_dec(const char *s)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno || *end ? -1 : v;
}

/* The fds passed to this process (LISTEN_PID is its pid), from
 * LISTEN_FDS_START on, marked close-on-exec; 0 when none are.  The
 * variables are removed, so that nothing this process starts takes them
 * for its own. */
static int listen_fds(void)
{
	const char *p = getenv("LISTEN_PID"), *f = getenv("LISTEN_FDS");
	long long pid, n;
	int i, r = 0, fl;

	if (!p || !f) {
		r = 0;
		goto out;
	}
	pid = parse_dec(p);
	n = parse_dec(f);
	if (pid <= 0 || n < 0) {
		r = -EINVAL;
		goto out;
	}
	if (pid != (long long)getpid()) {
		r = 0;
		goto out;
	}
	if (n > INT_MAX - LISTEN_FDS_START) {
		r = -EINVAL;
		goto out;
	}
	for (i = LISTEN_FDS_START; i < LISTEN_FDS_START + (int)n; i++) {
		if ((fl = fcntl(i, F_GETFD)) < 0 ||
		    (!(fl & FD_CLOEXEC) && fcntl(i, F_SETFD, fl | FD_CLOEXEC) < 0)) {
			r = -errno;
			goto out;
		}
	}
	r = (int)n;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}

int vbdctl_listen_fd(int *ret)
{
	int n = listen_fds();

	if (n < 0) {
		vbdctl_err("socket activation: %s", strerror(-n));
		return n;
	}
	if (n > 1) {
		vbdctl_err("socket activation: %d sockets passed, expected one (ListenStream=)", n);
		return -EINVAL;
	}
	*ret = n ? LISTEN_FDS_START : -1;
	return n;
}
