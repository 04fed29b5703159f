/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hotplug scripts, run as libxl runs them.  (File named script.c: a local
 * spawn.h would shadow the system one.)  posix_spawn rather than fork:
 * libxenstore keeps a reader thread, and a fork of a threaded process may only
 * call async-signal-safe functions before exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "script.h"

extern char **environ;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* environ with the four XENBUS variables set (replacing any inherited). */
static char **make_env(const char *script, const char *xenbus_path, char *own[4])
{
	static const char *const names[] = { "XENBUS_PATH=", "XENBUS_TYPE=", "XENBUS_BASE_PATH=",
	                                     "script=" };
	size_t n = 0, i, k;
	char **env;

	for (i = 0; environ[i]; i++)
		n++;
	env = calloc(n + 5, sizeof(*env));
	if (!env)
		return NULL;
	own[0] = malloc(strlen(xenbus_path) + sizeof("XENBUS_PATH="));
	if (own[0])
		sprintf(own[0], "XENBUS_PATH=%s", xenbus_path);
	own[1] = strdup("XENBUS_TYPE=vbd");
	own[2] = strdup("XENBUS_BASE_PATH=backend");
	own[3] = malloc(strlen(script) + sizeof("script="));
	if (own[3])
		sprintf(own[3], "script=%s", script);
	for (k = 0; k < 4; k++)
		if (!own[k]) {
			free(env);
			return NULL;
		}
	for (i = 0, n = 0; environ[i]; i++) {
		bool ours = false;
		for (k = 0; k < 4; k++)
			ours |= strncmp(environ[i], names[k], strlen(names[k])) == 0;
		if (!ours)
			env[n++] = environ[i];
	}
	for (k = 0; k < 4; k++)
		env[n++] = own[k];
	env[n] = NULL;
	return env;
}

int vbd__run_hotplug_script(const char *script, const char *verb, const char *xenbus_path,
                            unsigned timeout_ms, vbd_errbuf *err)
{
	char *own[4] = { NULL, NULL, NULL, NULL }, **env = NULL;
	char *argv[3] = { (char *)script, (char *)verb, NULL };
	char out[4096];
	size_t used = 0;
	posix_spawn_file_actions_t fa;
	int pipefd[2] = { -1, -1 }, pidfd = -1, status = 0, r, k;
	uint64_t deadline = now_ms() + timeout_ms;
	bool killed = false;
	pid_t pid = -1;

	out[0] = 0;
	env = make_env(script, xenbus_path, own);
	if (!env) {
		r = vbd__errf(err, -ENOMEM, "running %s: out of memory", script);
		goto out;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = vbd__errf(err, -errno, "running %s: pipe: %s", script, strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	r = posix_spawn(&pid, script, &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	pipefd[1] = -1;
	if (r != 0) {
		r = vbd__errf(err, -r, "running %s %s: %s", script, verb, strerror(r));
		pid = -1;
		goto out;
	}
	pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		r = vbd__errf(err, -errno, "pidfd_open: %s", strerror(errno));
		kill(pid, SIGKILL);
		goto reap;
	}
	for (;;) {
		struct pollfd p[2] = { { pidfd, POLLIN, 0 }, { pipefd[0], POLLIN, 0 } };
		uint64_t now = now_ms();
		int n;

		if (now >= deadline) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		n = poll(p, pipefd[0] >= 0 ? 2 : 1, (int)(deadline - now));
		if (n < 0 && errno != EINTR)
			break;
		if (pipefd[0] >= 0 && (p[1].revents & (POLLIN | POLLHUP))) {
			char buf[512];
			ssize_t got = read(pipefd[0], buf, sizeof(buf));

			if (got <= 0) {
				close(pipefd[0]);
				pipefd[0] = -1;
			} else {
				/* Keep the tail: the last lines say why. */
				if (used + (size_t)got >= sizeof(out)) {
					size_t drop = used + (size_t)got - sizeof(out) + 1;
					memmove(out, out + drop, used - drop);
					used -= drop;
				}
				memcpy(out + used, buf, (size_t)got);
				used += (size_t)got;
				out[used] = 0;
			}
		}
		if (p[0].revents & POLLIN)
			break;
	}
reap:
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	while (used && (out[used - 1] == '\n' || out[used - 1] == ' '))
		out[--used] = 0;
	if (killed)
		r = vbd__errf(err, -ETIMEDOUT, "%s %s did not finish within %u s and was killed%s%s",
		              script, verb, timeout_ms / 1000, used ? "; it printed: " : "", out);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		r = 0;
	else if (WIFEXITED(status))
		r = vbd__errf(err, -EIO, "%s %s exited with status %d%s%s", script, verb,
		              WEXITSTATUS(status), used ? "; it printed: " : "", out);
	else
		r = vbd__errf(err, -EIO, "%s %s was killed by signal %d", script, verb, WTERMSIG(status));
out:
	if (pidfd >= 0)
		close(pidfd);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	for (k = 0; k < 4; k++)
		free(own[k]);
	free(env);
	return r;
}
