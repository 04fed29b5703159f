/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "simhv_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void *simhv_thread(void *arg)
{
	vbd_test_simhv *t = arg;

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = vbd_simhv_get_fd(t->hv), .events = POLLIN },
			{ .fd = t->stop_pipe[0], .events = POLLIN },
			{ .fd = t->wake_pipe[0], .events = POLLIN },
		};
		char buf[64];

		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[2].revents)
			(void)!read(t->wake_pipe[0], buf, sizeof(buf));
		pthread_mutex_lock(&t->lock);
		vbd_simhv_process(t->hv);
		pthread_mutex_unlock(&t->lock);
	}
	return NULL;
}

int vbd_test_simhv_start(vbd_test_simhv *t)
{
	const char *tmp = getenv("TMPDIR");
	int r;

	memset(t, 0, sizeof(*t));
	t->stop_pipe[0] = t->stop_pipe[1] = -1;
	t->wake_pipe[0] = t->wake_pipe[1] = -1;
	snprintf(t->dir, sizeof(t->dir), "%s/vbdhv.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(t->dir))
		return -errno;
	if ((size_t)snprintf(t->socket, sizeof(t->socket), "%.*s/simhv",
	                     (int)(sizeof(t->socket) - 8), t->dir) >= sizeof(t->socket))
		return -ENAMETOOLONG;
	r = vbd_simhv_new(&t->hv, t->socket);
	if (r < 0)
		goto fail;
	if (pipe2(t->stop_pipe, O_CLOEXEC) < 0 ||
	    pipe2(t->wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	pthread_mutex_init(&t->lock, NULL);
	r = -pthread_create(&t->thread, NULL, simhv_thread, t);
	if (r < 0) {
		pthread_mutex_destroy(&t->lock);
		goto fail;
	}
	t->running = true;
	return 0;
fail:
	vbd_test_simhv_stop(t);
	return r;
}

void vbd_test_simhv_stop(vbd_test_simhv *t)
{
	char cmd[PATH_MAX + 16];
	int i;

	if (t->running) {
		(void)!write(t->stop_pipe[1], "x", 1);
		pthread_join(t->thread, NULL);
		pthread_mutex_destroy(&t->lock);
		t->running = false;
	}
	t->hv = vbd_simhv_free(t->hv);
	for (i = 0; i < 2; i++) {
		if (t->stop_pipe[i] >= 0)
			close(t->stop_pipe[i]);
		if (t->wake_pipe[i] >= 0)
			close(t->wake_pipe[i]);
		t->stop_pipe[i] = t->wake_pipe[i] = -1;
	}
	if (t->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
		(void)!system(cmd);
		t->dir[0] = 0;
	}
}

int vbd_test_simhv_call(vbd_test_simhv *t, int (*fn)(vbd_simhv *hv, void *arg), void *arg)
{
	int r;

	pthread_mutex_lock(&t->lock);
	r = fn(t->hv, arg);
	pthread_mutex_unlock(&t->lock);
	if (t->running)
		(void)!write(t->wake_pipe[1], "w", 1);
	return r;
}

static int stats_fn(vbd_simhv *hv, void *arg)
{
	vbd_simhv_get_stats(hv, arg);
	return 0;
}

void vbd_test_simhv_stats(vbd_test_simhv *t, vbd_simhv_stats *ret)
{
	vbd_test_simhv_call(t, stats_fn, ret);
}

static int add_fn(vbd_simhv *hv, void *arg)
{
	return vbd_simhv_domain_add(hv, *(unsigned *)arg);
}

static int remove_fn(vbd_simhv *hv, void *arg)
{
	return vbd_simhv_domain_remove(hv, *(unsigned *)arg);
}

int vbd_test_simhv_domain_add(vbd_test_simhv *t, unsigned domid)
{
	return vbd_test_simhv_call(t, add_fn, &domid);
}

int vbd_test_simhv_domain_remove(vbd_test_simhv *t, unsigned domid)
{
	return vbd_test_simhv_call(t, remove_fn, &domid);
}

void vbd_test_simhv_path(vbd_test_simhv *t, unsigned domid, char *buf)
{
	if (domid == 0)
		snprintf(buf, PATH_MAX, "%s", t->socket);
	else
		snprintf(buf, PATH_MAX, "%.*s.d/%u", PATH_MAX - 32, t->socket, domid);
}

int vbd_test_simhv_xport(vbd_test_simhv *t, unsigned domid, vbd_xport **ret)
{
	vbd_xport_options o = VBD_XPORT_OPTIONS_INIT;
	char path[PATH_MAX];

	vbd_test_simhv_path(t, domid, path);
	o.kind = VBD_XPORT_SIM;
	o.sim_path = path;
	return vbd_xport_open(ret, &o, NULL);
}

int vbd_test_simhv_raw_connect(vbd_test_simhv *t, unsigned domid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[PATH_MAX];
	int fd, r;

	vbd_test_simhv_path(t, domid, path);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

bool vbd_test_simhv_wait(vbd_test_simhv *t, bool (*check)(const vbd_simhv_stats *s, void *arg),
                         void *arg, int timeout_ms)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	vbd_simhv_stats st;
	int waited;

	for (waited = 0;; waited += 5) {
		vbd_test_simhv_stats(t, &st);
		if (check(&st, arg))
			return true;
		if (waited >= timeout_ms)
			return false;
		nanosleep(&ts, NULL);
	}
}
