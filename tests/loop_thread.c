/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "loop_thread.h"
#include "vbd/blkback.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *loop_main(void *arg)
{
	vbd_test_loop *l = arg;

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = l->get_fd(l->obj), .events = POLLIN },
			{ .fd = l->stop_pipe[0], .events = POLLIN },
			{ .fd = l->wake_pipe[0], .events = POLLIN },
		};
		char buf[64];

		if (poll(p, 3, l->get_timeout_ms ? l->get_timeout_ms(l->obj) : -1) < 0 &&
		    errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[2].revents)
			(void)!read(l->wake_pipe[0], buf, sizeof(buf));
		pthread_mutex_lock(&l->lock);
		l->process(l->obj);
		pthread_mutex_unlock(&l->lock);
	}
	return NULL;
}

void vbd_test_loop_init(vbd_test_loop *l)
{
	memset(l, 0, sizeof(*l));
	l->stop_pipe[0] = l->stop_pipe[1] = -1;
	l->wake_pipe[0] = l->wake_pipe[1] = -1;
}

int vbd_test_loop_start(vbd_test_loop *l, void *obj, int (*get_fd)(void *),
                        int (*get_timeout_ms)(void *), int (*process)(void *))
{
	int r;

	l->obj = obj;
	l->get_fd = get_fd;
	l->get_timeout_ms = get_timeout_ms;
	l->process = process;
	if (pipe2(l->stop_pipe, O_CLOEXEC) < 0 ||
	    pipe2(l->wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		vbd_test_loop_stop(l);
		return r;
	}
	pthread_mutex_init(&l->lock, NULL);
	r = -pthread_create(&l->thread, NULL, loop_main, l);
	if (r < 0) {
		pthread_mutex_destroy(&l->lock);
		vbd_test_loop_stop(l);
		return r;
	}
	l->running = true;
	return 0;
}

void vbd_test_loop_stop(vbd_test_loop *l)
{
	int i;

	if (l->running) {
		(void)!write(l->stop_pipe[1], "x", 1);
		pthread_join(l->thread, NULL);
		pthread_mutex_destroy(&l->lock);
		l->running = false;
	}
	for (i = 0; i < 2; i++) {
		if (l->stop_pipe[i] >= 0)
			close(l->stop_pipe[i]);
		if (l->wake_pipe[i] >= 0)
			close(l->wake_pipe[i]);
		l->stop_pipe[i] = l->wake_pipe[i] = -1;
	}
}

int vbd_test_loop_call(vbd_test_loop *l, int (*fn)(void *obj, void *arg), void *arg)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = fn(l->obj, arg);
	pthread_mutex_unlock(&l->lock);
	if (l->running)
		(void)!write(l->wake_pipe[1], "w", 1);
	return r;
}

static int bb_fd(void *obj)
{
	return vbd_blkback_get_fd(obj);
}

static int bb_timeout(void *obj)
{
	return vbd_blkback_get_timeout_ms(obj);
}

static int bb_process(void *obj)
{
	return vbd_blkback_process(obj);
}

int vbd_test_loop_start_blkback(vbd_test_loop *l, struct vbd_blkback *b)
{
	return vbd_test_loop_start(l, b, bb_fd, bb_timeout, bb_process);
}

int vbd_test_tmpdir(char *dir, size_t size, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");

	if ((size_t)snprintf(dir, size, "%s/%s.XXXXXX", tmp ? tmp : "/tmp", prefix) >= size)
		return -ENAMETOOLONG;
	return mkdtemp(dir) ? 0 : -errno;
}

void vbd_test_rmdir(char *dir)
{
	char cmd[PATH_MAX + 16];

	if (!dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", PATH_MAX - 1, dir);
	(void)!system(cmd);
	dir[0] = 0;
}
