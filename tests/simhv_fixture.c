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

static int hv_fd(void *obj)
{
	return vbd_simhv_get_fd(obj);
}

static int hv_process(void *obj)
{
	return vbd_simhv_process(obj);
}

int vbd_test_simhv_start(vbd_test_simhv *t)
{
	int r;

	memset(t, 0, sizeof(*t));
	vbd_test_loop_init(&t->loop);
	if ((r = vbd_test_tmpdir(t->dir, sizeof(t->dir), "vbdhv")) < 0)
		return r;
	if ((size_t)snprintf(t->socket, sizeof(t->socket), "%.*s/simhv",
	                     (int)(sizeof(t->socket) - 8), t->dir) >= sizeof(t->socket)) {
		vbd_test_rmdir(t->dir);
		return -ENAMETOOLONG;
	}
	r = vbd_simhv_new(&t->hv, t->socket, NULL);
	if (r == 0)
		r = vbd_test_loop_start(&t->loop, t->hv, hv_fd, NULL, hv_process);
	if (r < 0)
		vbd_test_simhv_stop(t);
	return r;
}

void vbd_test_simhv_stop(vbd_test_simhv *t)
{
	vbd_test_loop_stop(&t->loop);
	t->hv = vbd_simhv_free(t->hv);
	vbd_test_rmdir(t->dir);
}

struct hv_call {
	int (*fn)(vbd_simhv *hv, void *arg);
	void *arg;
};

static int hv_call(void *obj, void *arg)
{
	struct hv_call *c = arg;

	return c->fn(obj, c->arg);
}

int vbd_test_simhv_call(vbd_test_simhv *t, int (*fn)(vbd_simhv *hv, void *arg), void *arg)
{
	struct hv_call c = { fn, arg };

	return vbd_test_loop_call(&t->loop, hv_call, &c);
}

static int stats_fn(vbd_simhv *hv, void *arg)
{
	((vbd_simhv_stats *)arg)->size = sizeof(vbd_simhv_stats);
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
	vbd_simhv_stats st = { .size = sizeof(st) };
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
