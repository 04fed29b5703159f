/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd-lab-stamp: the lab benchmark's clock (tests/xenlab/bench.sh).  It runs
 * one command and times it against xenstore, in one process, with no fork
 * per event (a fork+exec costs ~80 ms in the lab's dom0, as much as what is
 * measured):
 *
 *   vbd-lab-stamp BACKEND_DIR FRONTEND_DIR -- xl block-attach g ... vdev=xvdc ...
 *   STAMP 112.4 be/state=2
 *   STAMP 2310.9 be/physical-device=7:0
 *   STAMP 2315.0 fe/state=3
 *   STAMP 2398.2 be/state=4
 *   STAMP 2403.7 fe/state=4
 *   RESULT mode=up done_ms=2403.7 cmd_ms=3120.5 cmd_rc=0
 *
 * Times are milliseconds since the command was started (CLOCK_MONOTONIC).
 * It watches both directories before starting the command and reads only the
 * node an event names, so a value written and overwritten between two events
 * shows as its last value (the same blind spot as any xenstore-watch log).
 * Mode "up" (the default) is done when both state nodes read 4 (Connected);
 * --gone is done when both directories are gone.  It returns when it is done
 * and the command has exited (with every change the command made stamped),
 * or after --timeout seconds (done_ms=-1).  The
 * exit status is non-zero only if it could not measure (no xenstore, no such
 * command); the command's own status is cmd_rc, its output goes to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

/* The nodes worth a stamp, relative to their directory. */
static const char *const tracked[] = { "state", "hotplug-status", "physical-device" };
#define N_TRACKED (sizeof(tracked) / sizeof(tracked[0]))

struct side {
	const char *tag; /* "be" or "fe" */
	const char *dir;
	char last[N_TRACKED][64];
	bool gone;
};

static int sigchld_pipe[2] = { -1, -1 };

static void on_sigchld(int sig)
{
	int saved = errno;

	(void)sig;
	(void)!write(sigchld_pipe[1], "c", 1);
	errno = saved;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A value for a log line and a CSV field: printable ASCII without space or
 * comma, cut at 48 characters (the values come from drivers and scripts,
 * which another domain can drive). */
static void sanitize(const char *in, unsigned len, char *out, size_t outsz)
{
	size_t o = 0;

	for (unsigned i = 0; i < len && o + 1 < outsz && o < 48; i++)
		out[o++] = (in[i] > 0x20 && in[i] < 0x7f && in[i] != ',') ? in[i] : '?';
	out[o] = '\0';
}

/* Reads node K of side S; stamps it if it changed (t0 < 0: only notes it). */
static void look(struct xs_handle *xs, struct side *s, size_t k, double t0)
{
	char path[512], val[64];
	unsigned len = 0;
	char *v;

	snprintf(path, sizeof(path), "%s/%s", s->dir, tracked[k]);
	v = xs_read(xs, XBT_NULL, path, &len);
	if (v)
		sanitize(v, len, val, sizeof(val));
	else
		snprintf(val, sizeof(val), "(none)");
	free(v);
	if (strcmp(val, s->last[k]) != 0) {
		snprintf(s->last[k], sizeof(s->last[k]), "%s", val);
		if (t0 >= 0)
			printf("STAMP %.1f %s/%s=%s\n", now_ms() - t0, s->tag, tracked[k], val);
	}
}

static bool dir_exists(struct xs_handle *xs, const char *dir)
{
	unsigned len;
	char *v = xs_read(xs, XBT_NULL, dir, &len);

	free(v);
	return v != NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: vbd-lab-stamp [--gone] [--timeout S] BACKEND_DIR FRONTEND_DIR -- COMMAND [ARG...]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct side sides[2] = { { .tag = "be" }, { .tag = "fe" } };
	struct xs_handle *xs;
	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
	bool gone_mode = false, done = false, exited = false;
	double t0, done_ms = -1, cmd_ms = -1, timeout_s = 120;
	int a = 1, cmd_rc = -1, status;
	pid_t pid;

	for (; a < argc && strncmp(argv[a], "--", 2) == 0 && argv[a][2]; a++) {
		if (strcmp(argv[a], "--gone") == 0)
			gone_mode = true;
		else if (strcmp(argv[a], "--timeout") == 0 && a + 1 < argc)
			timeout_s = atof(argv[++a]);
		else
			return usage();
	}
	if (argc - a < 4 || strcmp(argv[a + 2], "--") != 0 || timeout_s <= 0)
		return usage();
	sides[0].dir = argv[a];
	sides[1].dir = argv[a + 1];

	if (!(xs = xs_open(0))) {
		fprintf(stderr, "vbd-lab-stamp: cannot open xenstore: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		if (!xs_watch(xs, sides[i].dir, sides[i].tag)) {
			fprintf(stderr, "vbd-lab-stamp: watch %s: %s\n", sides[i].dir, strerror(errno));
			return 1;
		}
		/* What is there before the command is no step of it. */
		for (size_t k = 0; k < N_TRACKED; k++)
			look(xs, &sides[i], k, -1);
		sides[i].gone = !dir_exists(xs, sides[i].dir);
	}
	if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) < 0 || sigaction(SIGCHLD, &sa, NULL) < 0) {
		fprintf(stderr, "vbd-lab-stamp: %s\n", strerror(errno));
		return 1;
	}
	fflush(stdout);
	t0 = now_ms();
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "vbd-lab-stamp: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		/* Its output goes with our errors: stdout is for the stamps. */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execvp(argv[a + 3], &argv[a + 3]);
		fprintf(stderr, "vbd-lab-stamp: %s: %s\n", argv[a + 3], strerror(errno));
		_exit(127);
	}

	while (!(done && exited)) {
		struct pollfd pf[2] = { { .fd = xs_fileno(xs), .events = POLLIN },
			                { .fd = sigchld_pipe[0], .events = POLLIN } };
		double left = timeout_s * 1e3 - (now_ms() - t0);
		char buf[16];
		char **ev;

		if (left <= 0)
			break;
		if (poll(pf, 2, (int)left + 1) < 0 && errno != EINTR)
			break;
		while (read(sigchld_pipe[0], buf, sizeof(buf)) > 0)
			;
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			cmd_ms = now_ms() - t0;
			cmd_rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			exited = true;
			/* Every change the command made is in the store now, and the
			 * store sent their events before it answers this read: once
			 * it returns, libxenstore's reader has queued them all, so the
			 * drain below stamps them even when both ends were done before
			 * the command ran. */
			(void)dir_exists(xs, sides[0].dir);
		}
		/* xs_check_watch: the events already read off the socket. */
		while ((ev = xs_check_watch(xs)) != NULL) {
			const char *p = ev[XS_WATCH_PATH];

			for (int i = 0; i < 2; i++) {
				size_t dl = strlen(sides[i].dir);

				if (strncmp(p, sides[i].dir, dl) != 0 || (p[dl] != '/' && p[dl] != '\0'))
					continue;
				for (size_t k = 0; k < N_TRACKED; k++)
					if (p[dl] == '\0' || strcmp(p + dl + 1, tracked[k]) == 0)
						look(xs, &sides[i], k, t0);
				if (p[dl] == '\0' || gone_mode) {
					bool g = !dir_exists(xs, sides[i].dir);

					if (g != sides[i].gone)
						printf("STAMP %.1f %s/dir=%s\n", now_ms() - t0, sides[i].tag,
						       g ? "gone" : "there");
					sides[i].gone = g;
				}
			}
			free(ev);
		}
		if (!done) {
			if (gone_mode)
				done = sides[0].gone && sides[1].gone;
			else
				done = strcmp(sides[0].last[0], "4") == 0 && strcmp(sides[1].last[0], "4") == 0;
			if (done)
				done_ms = now_ms() - t0;
		}
	}
	if (!exited) {
		/* Timed out with the command still running: stop it, so that the
		 * next sample does not run beside it. */
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
		cmd_ms = now_ms() - t0;
		cmd_rc = 124;
	}
	printf("RESULT mode=%s done_ms=%.1f cmd_ms=%.1f cmd_rc=%d\n", gone_mode ? "gone" : "up",
	       done ? done_ms : -1.0, cmd_ms, cmd_rc);
	xs_close(xs);
	return 0;
}
