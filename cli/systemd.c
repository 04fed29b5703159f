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
 * libsystemd speaks both protocols (sd_notify(3), sd_listen_fds(3)) and is
 * loaded only when its environment asks for one of them: NOTIFY_SOCKET or
 * LISTEN_FDS set, i.e. a daemon started by systemd.  Linked, it would bring
 * five more libraries (gcrypt, gpg-error, lz4, cap and itself) into every
 * vbdctl start, attach and detach included: about 60 more system calls at
 * each start, milliseconds each on an emulated dom0 (bench/README.md,
 * lab).  Example: a Type=notify unit runs `vbdctl devd` with
 * NOTIFY_SOCKET=/run/systemd/notify; its first vbdctl_notify() loads
 * libsystemd.so.0 and calls sd_notify(0, "READY=1\nSTATUS=...").  A unit
 * that asks while libsystemd cannot be loaded gets an error that says so.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* libsystemd's two entry points, loaded at the first call that needs them;
 * NULL (and *why set) when it cannot be loaded. */
struct sd_lib {
	int (*notify)(int unset_environment, const char *state);
	int (*listen_fds)(int unset_environment);
};

static const struct sd_lib *sd_lib(const char **why)
{
	static struct sd_lib lib;
	static const char *err;
	static bool tried;

	if (!tried) {
		void *h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);

		tried = true;
		if (h) {
			lib.notify = (int (*)(int, const char *))dlsym(h, "sd_notify");
			lib.listen_fds = (int (*)(int))dlsym(h, "sd_listen_fds");
		}
		if (!lib.notify || !lib.listen_fds) {
			const char *e = dlerror();

			err = e ? strdup(e) : NULL;
			if (!err)
				err = "libsystemd.so.0: sd_notify or sd_listen_fds not found";
			lib.notify = NULL;
			lib.listen_fds = NULL;
		}
	}
	*why = err;
	return lib.notify ? &lib : NULL;
}

void vbdctl_notify(const char *fmt, ...)
{
	static bool said;
	const struct sd_lib *lib;
	const char *why;
	va_list ap;
	char *s = NULL;

	if (!getenv("NOTIFY_SOCKET"))
		return;
	lib = sd_lib(&why);
	if (!lib) {
		/* Once: systemd's start timeout follows, and this says why. */
		if (!said)
			vbdctl_err("NOTIFY_SOCKET is set, but libsystemd cannot be loaded to "
			           "notify systemd: %s", why);
		said = true;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	/* A lost notification is systemd's timeout to report, not a reason
	 * to stop serving: the result is not acted on. */
	if (s)
		(void)lib->notify(0, s);
	free(s);
}

int vbdctl_listen_fd(int *ret)
{
	const struct sd_lib *lib;
	const char *why;
	int n;

	*ret = -1;
	if (!getenv("LISTEN_FDS"))
		return 0;
	lib = sd_lib(&why);
	if (!lib) {
		vbdctl_err("socket activation: LISTEN_FDS is set, but libsystemd cannot be "
		           "loaded: %s", why);
		return -ENOSYS;
	}
	/* 1: LISTEN_FDS and LISTEN_PID are removed, so that nothing this
	 * process starts takes them for its own. */
	n = lib->listen_fds(1);
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
