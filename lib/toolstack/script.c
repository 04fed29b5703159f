/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hotplug scripts, run as libxl runs them.  (File named script.c: a local
 * spawn.h would shadow the system one.)  posix_spawn rather than fork:
 * libxenstore keeps a reader thread, and a fork of a threaded process may only
 * call async-signal-safe functions before exec.  The child is followed
 * through the context's loop: its pidfd, its output pipe and a deadline.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "toolstack/script.h"

extern char **environ;

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

int vbd__script_check(vbd_ctx *c, const char *script)
{
	struct stat st;

	if (stat(script, &st) < 0)
		return vbd__errf(&c->err, -errno, "hotplug script %s: %s", script, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return vbd__errf(&c->err, -EACCES, "hotplug script %s is not a regular file, and so "
		                 "cannot be executed", script);
	if (access(script, X_OK) < 0)
		return vbd__errf(&c->err, -errno, "hotplug script %s cannot be executed: %s", script,
		                 strerror(errno));
	return 0;
}

struct vbd__script {
	vbd_ctx *c;
	pid_t pid;
	int pidfd, out_fd;
	vbd__io *pid_io, *out_io;
	vbd__timer *timer;
	bool killed;
	unsigned timeout_ms;
	char name[256], verb[8];
	char out[4096];            /* the tail of what it printed */
	size_t used;
	vbd__script_done_fn done;
	void *ud;
};

static void drain(vbd__script *s)
{
	char buf[512];             /* smaller than out: drop <= used below */
	ssize_t got;

	while (s->out_fd >= 0 && (got = read(s->out_fd, buf, sizeof(buf))) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				break;
			return;
		}
		/* Keep the tail: the last lines say why. */
		if (s->used + (size_t)got >= sizeof(s->out)) {
			size_t drop = s->used + (size_t)got - sizeof(s->out) + 1;

			memmove(s->out, s->out + drop, s->used - drop);
			s->used -= drop;
		}
		memcpy(s->out + s->used, buf, (size_t)got);
		s->used += (size_t)got;
		s->out[s->used] = 0;
	}
	/* EOF (or an error): no more output to follow. */
	if (s->out_fd >= 0) {
		vbd__ctx_io_cancel(s->c, s->out_io);
		s->out_io = NULL;
		close(s->out_fd);
		s->out_fd = -1;
	}
}

static void on_output(vbd_ctx *c, int fd, void *ud)
{
	(void)c;
	(void)fd;
	drain(ud);
}

/* Stops following the child and frees s; the child must have been reaped. */
static void script_free(vbd__script *s)
{
	vbd__ctx_io_cancel(s->c, s->pid_io);
	vbd__ctx_io_cancel(s->c, s->out_io);
	vbd__ctx_timer_cancel(s->c, s->timer);
	if (s->pidfd >= 0)
		close(s->pidfd);
	if (s->out_fd >= 0)
		close(s->out_fd);
	free(s);
}

static void on_exit_(vbd_ctx *c, int fd, void *ud)
{
	vbd__script *s = ud;
	vbd__script_done_fn done = s->done;
	void *dud = s->ud;
	siginfo_t si;
	int r;

	(void)fd;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
		return;      /* not yet (spurious) */
	/* What it printed before exiting is in the pipe now, unless a
	 * grandchild still holds the pipe open: take what is there. */
	drain(s);
	while (s->used && (s->out[s->used - 1] == '\n' || s->out[s->used - 1] == ' '))
		s->out[--s->used] = 0;
	if (s->killed)
		r = vbd__errf(&c->err, -ETIMEDOUT, "%s %s did not finish within %u s and was killed%s%s",
		              s->name, s->verb, s->timeout_ms / 1000, s->used ? "; it printed: " : "",
		              s->out);
	else if (si.si_code == CLD_EXITED && si.si_status == 0)
		r = 0;
	else if (si.si_code == CLD_EXITED)
		r = vbd__errf(&c->err, -EIO, "%s %s exited with status %d%s%s", s->name, s->verb,
		              si.si_status, s->used ? "; it printed: " : "", s->out);
	else
		r = vbd__errf(&c->err, -EIO, "%s %s was killed by signal %d", s->name, s->verb,
		              si.si_status);
	script_free(s);
	done(c, r, dud);
}

static void on_deadline(vbd_ctx *c, void *ud)
{
	vbd__script *s = ud;

	(void)c;
	s->timer = NULL;
	s->killed = true;
	/* pidfd_send_signal cannot hit a recycled pid; the exit shows up on
	 * the pidfd next. */
	pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
}

int vbd__script_start(vbd_ctx *c, const char *script, const char *verb, const char *xenbus_path,
                      unsigned timeout_ms, vbd__script_done_fn done, void *ud, vbd__script **ret)
{
	char *own[4] = { NULL, NULL, NULL, NULL }, **env = NULL;
	char *argv[3] = { (char *)script, (char *)verb, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none, dfl;
	int pipefd[2] = { -1, -1 }, r, k;
	vbd__script *s;

	s = calloc(1, sizeof(*s));
	if (!s)
		return vbd__errf(&c->err, -ENOMEM, "running %s: out of memory", script);
	s->c = c;
	s->pidfd = s->out_fd = -1;
	s->pid = -1;
	s->timeout_ms = timeout_ms;
	s->done = done;
	s->ud = ud;
	snprintf(s->name, sizeof(s->name), "%s", script);
	snprintf(s->verb, sizeof(s->verb), "%s", verb);
	env = make_env(script, xenbus_path, own);
	if (!env) {
		r = vbd__errf(&c->err, -ENOMEM, "running %s: out of memory", script);
		goto fail;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = vbd__errf(&c->err, -errno, "running %s: pipe: %s", script, strerror(errno));
		goto fail;
	}
	s->out_fd = pipefd[0];
	/* Only our end is non-blocking: the child's stdout must block. */
	if (fcntl(s->out_fd, F_SETFL, O_NONBLOCK) < 0) {
		r = vbd__errf(&c->err, -errno, "running %s: pipe: %s", script, strerror(errno));
		close(pipefd[1]);
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	/* The caller's signal mask and ignored signals are its own, not the
	 * script's: a caller that takes SIGINT/SIGTERM through a signalfd
	 * (vbdctl attach) blocks them, and exec would pass that on. */
	posix_spawnattr_init(&sa);
	sigemptyset(&none);
	sigemptyset(&dfl);
	for (k = 1; k < NSIG; k++)
		if (k != SIGKILL && k != SIGSTOP)
			sigaddset(&dfl, k);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &dfl);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(&s->pid, script, &fa, &sa, argv, env);
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r != 0) {
		s->pid = -1;
		r = vbd__errf(&c->err, -r, "running %s %s: %s", script, verb, strerror(r));
		goto fail;
	}
	s->pidfd = pidfd_open(s->pid, 0);
	if (s->pidfd < 0) {
		r = vbd__errf(&c->err, -errno, "pidfd_open: %s", strerror(errno));
		kill(s->pid, SIGKILL);
		goto fail;
	}
	if ((r = vbd__ctx_io(c, s->pidfd, on_exit_, s, &s->pid_io)) < 0 ||
	    (r = vbd__ctx_io(c, s->out_fd, on_output, s, &s->out_io)) < 0 ||
	    (r = vbd__ctx_timer(c, vbd__now_ms() + timeout_ms, on_deadline, s, &s->timer)) < 0) {
		vbd__errf(&c->err, r, "running %s: %s", script, strerror(-r));
		kill(s->pid, SIGKILL);
		goto fail;
	}
	for (k = 0; k < 4; k++)
		free(own[k]);
	free(env);
	*ret = s;
	return 0;
fail:
	if (s->pid > 0)
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
	for (k = 0; k < 4; k++)
		free(own[k]);
	free(env);
	script_free(s);
	return r;
}

void vbd__script_cancel(vbd__script *s)
{
	if (!s)
		return;
	pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
	while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
		;
	script_free(s);
}
