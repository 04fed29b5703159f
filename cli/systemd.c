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
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

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

void vbdctl_notify(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (!getenv("NOTIFY_SOCKET"))
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	/* A lost notification is systemd's timeout to report, not a reason
	 * to stop serving: the result is not acted on. */
	if (s)
		(void)sd_notify(0, s);
	free(s);
}

int vbdctl_listen_fd(int *ret)
{
	/* 1: LISTEN_FDS and LISTEN_PID are removed, so that nothing this
	 * process starts takes them for its own. */
	int n = sd_listen_fds(1);

	if (n < 0) {
		vbdctl_err("socket activation: %s", strerror(-n));
		return n;
	}
	if (n > 1) {
		vbdctl_err("socket activation: %d sockets passed, expected one (ListenStream=)", n);
		return -EINVAL;
	}
	*ret = n ? SD_LISTEN_FDS_START : -1;
	return n;
}
