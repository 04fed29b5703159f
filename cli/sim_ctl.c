/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl sim stop, restart and status: the commands that talk to a running
 * simulated host (cmd_sim.c), through its pid file, a queued signal
 * (SIGRTMIN with the request as its value) and its DIR/status file.
 */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "sim.h"
#include "vbdctl.h"

#define SIM_MAX_GUESTS 1000

/* A host that died (killed: its store and hypervisor with it) leaves its
 * sockets and files; its processes went with it (PR_SET_PDEATHSIG).
 * Removes what it left; returns how many. */
static unsigned remove_remains(const char *dir)
{
	static const char *const pats[] = { "xenstored.sock.d/*", "simhv.sock.d/*", "guest*.sock",
	                                    "xenstored.sock", "simhv.sock", "status", "status.tmp",
	                                    "host.pid" };
	char pat[PATH_MAX];
	unsigned i, n = 0;
	size_t k;

	for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		glob_t g;

		snprintf(pat, sizeof(pat), "%s/%s", dir, pats[i]);
		if (glob(pat, 0, NULL, &g) != 0)
			continue;
		for (k = 0; k < g.gl_pathc; k++)
			n += unlink(g.gl_pathv[k]) == 0;
		globfree(&g);
	}
	vbdctl_sim_path(pat, sizeof(pat), dir, "xenstored.sock.d");
	rmdir(pat);
	vbdctl_sim_path(pat, sizeof(pat), dir, "simhv.sock.d");
	rmdir(pat);
	return n;
}

/* The options of the sim's client commands: --dir, and --timeout (in
 * *timeout_s) where timeout_s is not NULL.  -1 to go on, else the exit
 * code. */
static int ctl_options(int argc, char **argv, const char **dir, uint64_t *timeout_s)
{
	static const struct option with_t[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "timeout", required_argument, NULL, 't' },
		{ 0 }
	}, without_t[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const struct option *opts = timeout_s ? with_t : without_t;
	int o;

	while ((o = getopt_long(argc, argv, timeout_s ? "d:t:h" : "d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'd': *dir = optarg; break;
		case 't':
			if (vbdctl_parse_u64("timeout", optarg, 3600, timeout_s) < 0)
				return VBDCTL_EXIT_USAGE;
			break;
		case 'h': fputs(vbdctl_sim_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(vbdctl_sim_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	return -1;
}

int vbdctl_sim_stop(int argc, char **argv)
{
	const char *dir = NULL;
	char dirbuf[PATH_MAX];
	uint64_t timeout_s = 10;
	pid_t pid;
	int o, pfd;

	if ((o = ctl_options(argc, argv, &dir, &timeout_s)) >= 0)
		return o;
	dir = vbdctl_sim_client_dir(dir, dirbuf, sizeof(dirbuf));
	if (vbdctl_sim_read_pid(dir, &pid) == 0 && !vbdctl_sim_running(pid)) {
		printf("vbdctl: the simulated host in %s (pid %ld) had died; removed %u files it left\n",
		       dir, (long)pid, remove_remains(dir));
		return VBDCTL_EXIT_OK;
	}
	if (vbdctl_sim_read_pid(dir, &pid) < 0 || (pfd = pidfd_open(pid, 0)) < 0) {
		vbdctl_err("sim stop: no simulated host runs in %s", dir);
		return VBDCTL_EXIT_FAIL;
	}
	pidfd_send_signal(pfd, SIGTERM, NULL, 0);
	{
		struct pollfd p = { pfd, POLLIN, 0 };

		/* The host gives its processes 10 s; then it is its own turn. */
		if (poll(&p, 1, (int)(timeout_s * 1000 + 5000)) <= 0) {
			vbdctl_err("sim stop: host %ld did not stop; killing it", (long)pid);
			pidfd_send_signal(pfd, SIGKILL, NULL, 0);
			poll(&p, 1, 5000);
		}
	}
	close(pfd);
	printf("vbdctl: simulated host in %s stopped\n", dir);
	return VBDCTL_EXIT_OK;
}

/* The status file's seq line, 0 if none. */
static uint64_t status_seq(const char *path)
{
	char line[128];
	uint64_t v = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "seq %" SCNu64, &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Asks the host for request v (sim_request) and waits, up to timeout_ms,
 * for the status file it then rewrites (its seq moves on). */
static int ask(const char *dir, int v, int timeout_ms)
{
	char path[PATH_MAX];
	uint64_t before;
	union sigval sv = { .sival_int = v };
	uint64_t deadline = vbdctl_mono_ms() + (uint64_t)timeout_ms;
	pid_t pid;

	if (vbdctl_sim_read_pid(dir, &pid) < 0 || !vbdctl_sim_running(pid)) {
		vbdctl_err("sim: no simulated host runs in %s", dir);
		return -ESRCH;
	}
	vbdctl_sim_path(path, sizeof(path), dir, "status");
	before = status_seq(path);
	if (sigqueue(pid, SIGRTMIN, sv) < 0) {
		vbdctl_err("sim: cannot signal the host (pid %ld): %s", (long)pid, strerror(errno));
		return -errno;
	}
	while (vbdctl_mono_ms() < deadline) {
		if (status_seq(path) != before)
			return 0;
		usleep(10000);
	}
	vbdctl_err("sim: the host (pid %ld) did not answer", (long)pid);
	return -ETIMEDOUT;
}

/* The line of child `what` in the status file: its pid and state. */
static int child_state(const char *dir, const char *what, long *pid, char *state, size_t size)
{
	char path[PATH_MAX], line[128], name[32], st[16];
	long p;
	FILE *f;

	vbdctl_sim_path(path, sizeof(path), dir, "status");
	if (!(f = fopen(path, "re")))
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%31s %ld %15s", name, &p, st) == 3 && !strcmp(name, what)) {
			fclose(f);
			*pid = p;
			snprintf(state, size, "%s", st);
			return 0;
		}
	}
	fclose(f);
	return -ENOENT;
}

int vbdctl_sim_restart(int argc, char **argv)
{
	const char *dir = NULL, *what;
	char dirbuf[PATH_MAX], state[16];
	uint64_t timeout_s = 30, deadline, n = 0;
	long old = 0, pid;
	int o, v;

	if ((o = ctl_options(argc, argv, &dir, &timeout_s)) >= 0)
		return o;
	if (optind + 1 != argc) {
		vbdctl_err("sim restart: which process: backend or guestN");
		return VBDCTL_EXIT_USAGE;
	}
	what = argv[optind];
	if (!strcmp(what, "backend"))
		v = 0;
	else if (!strncmp(what, "guest", 5) &&
	         vbdctl_parse_u64("guest", what + 5, SIM_MAX_GUESTS, &n) == 0 && n)
		v = (int)n;
	else {
		vbdctl_err("sim restart: '%s' is not backend or guestN", what);
		return VBDCTL_EXIT_USAGE;
	}
	dir = vbdctl_sim_client_dir(dir, dirbuf, sizeof(dirbuf));
	if (child_state(dir, what, &old, state, sizeof(state)) < 0) {
		vbdctl_err("sim restart: the host in %s has no %s", dir, what);
		return VBDCTL_EXIT_FAIL;
	}
	if (ask(dir, v, 5000) < 0)
		return VBDCTL_EXIT_FAIL;
	/* Up once its line names another pid, ready. */
	deadline = vbdctl_mono_ms() + timeout_s * 1000;
	while (vbdctl_mono_ms() < deadline) {
		if (child_state(dir, what, &pid, state, sizeof(state)) == 0 && pid != old) {
			if (!strcmp(state, "ready")) {
				printf("vbdctl: %s restarted (pid %ld)\n", what, pid);
				return VBDCTL_EXIT_OK;
			}
			if (!strcmp(state, "gone")) {
				vbdctl_err("sim restart: %s (pid %ld) ended before it was ready; see %s/host.log",
				           what, pid, dir);
				return VBDCTL_EXIT_FAIL;
			}
		}
		usleep(10000);
	}
	vbdctl_err("sim restart: %s not ready within %" PRIu64 " s", what, timeout_s);
	return VBDCTL_EXIT_FAIL;
}

int vbdctl_sim_status(int argc, char **argv)
{
	const char *dir = NULL;
	char dirbuf[PATH_MAX], path[PATH_MAX], line[128];
	FILE *f;
	int o;

	if ((o = ctl_options(argc, argv, &dir, NULL)) >= 0)
		return o;
	if (optind != argc) {
		vbdctl_err("sim status: unexpected argument '%s'", argv[optind]);
		return VBDCTL_EXIT_USAGE;
	}
	dir = vbdctl_sim_client_dir(dir, dirbuf, sizeof(dirbuf));
	if (ask(dir, -1, 5000) < 0)
		return VBDCTL_EXIT_FAIL;
	vbdctl_sim_path(path, sizeof(path), dir, "status");
	if (!(f = fopen(path, "re"))) {
		vbdctl_err("sim status: %s: %s", path, strerror(errno));
		return VBDCTL_EXIT_FAIL;
	}
	while (fgets(line, sizeof(line), f))
		fputs(line, stdout);
	fclose(f);
	return VBDCTL_EXIT_OK;
}
