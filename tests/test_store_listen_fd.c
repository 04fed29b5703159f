/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_store_listen_fd - the store on a listening socket someone else bound,
 * as systemd's socket activation hands one over (vbd_store_options.listen_fd):
 * clients on it act as dom0, domains get their sockets beside its path, the
 * store never removes the file it did not create, and an fd it refuses stays
 * the caller's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "vbd/store.h"

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX];
	int fd;
};

/* A socket bound as systemd binds one: blocking, inheritable, listening. */
static int bind_at(const char *path, int type, int do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type, 0);

	assert_true(fd >= 0);
	assert_true((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) < sizeof(sa.sun_path));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 16), 0);
	return fd;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) < sizeof(sa.sun_path));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int is_socket(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/vbd-listen-fd.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	assert_true((size_t)snprintf(f->path, sizeof(f->path), "%s/socket", f->dir) < sizeof(f->path));
	f->fd = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->fd >= 0)
		close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_serves_and_leaves_file(void **state)
{
	struct fx *f = *state;
	vbd_store_options o = VBD_STORE_OPTIONS_INIT;
	vbd_store_stats st = { .size = sizeof(st) };
	char dpath[PATH_MAX], want[PATH_MAX + 16];
	vbd_store *s = NULL;
	int c;

	f->fd = bind_at(f->path, SOCK_STREAM, 1);
	o.listen_fd = f->fd;
	assert_int_equal(vbd_store_new(&s, &o, NULL), 0);
	assert_string_equal(vbd_store_socket_path(s), f->path);
	/* Taken over non-blocking and close-on-exec: an inherited fd has
	 * neither, and a blocking accept would hang the caller's loop. */
	assert_true(fcntl(f->fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(f->fd, F_GETFD) & FD_CLOEXEC);

	c = connect_to(f->path);
	assert_true(vbd_store_process(s) >= 0);
	assert_int_equal(vbd_store_get_stats(s, &st), 0);
	assert_int_equal(st.connections, 1);

	assert_int_equal(vbd_store_domain_add(s, 5), 0);
	assert_int_equal(vbd_store_domain_socket(s, 5, dpath, sizeof(dpath)), 0);
	snprintf(want, sizeof(want), "%s.d/5", f->path);
	assert_string_equal(dpath, want);
	assert_true(is_socket(dpath));

	vbd_store_free(s);
	f->fd = -1;     /* the store's, closed */
	close(c);
	/* The binder's file stays, the store's own go. */
	assert_true(is_socket(f->path));
	assert_false(is_socket(dpath));
	snprintf(want, sizeof(want), "%s.d", f->path);
	assert_int_equal(access(want, F_OK), -1);
}

static void test_same_path_accepted(void **state)
{
	struct fx *f = *state;
	vbd_store_options o = VBD_STORE_OPTIONS_INIT;
	vbd_store *s = NULL;

	f->fd = bind_at(f->path, SOCK_STREAM, 1);
	o.listen_fd = f->fd;
	o.socket_path = f->path;
	assert_int_equal(vbd_store_new(&s, &o, NULL), 0);
	vbd_store_free(s);
	f->fd = -1;
	assert_true(is_socket(f->path));
}

/* Each refusal leaves the fd open and the caller's, and the file in place. */
static void refused(struct fx *f, const vbd_store_options *o)
{
	vbd_errbuf err = { "" };
	vbd_store *s = NULL;

	assert_int_equal(vbd_store_new(&s, o, &err), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err.msg, "fd"));
	if (f->fd >= 0)
		assert_true(fcntl(f->fd, F_GETFD) >= 0);
	assert_true(is_socket(f->path));
}

static void test_refusals(void **state)
{
	struct fx *f = *state;
	vbd_store_options o = VBD_STORE_OPTIONS_INIT;
	int pair[2];

	f->fd = bind_at(f->path, SOCK_STREAM, 0);
	o.listen_fd = f->fd;
	refused(f, &o);   /* not listening */
	close(f->fd);
	unlink(f->path);

	f->fd = bind_at(f->path, SOCK_DGRAM, 0);
	o.listen_fd = f->fd;
	refused(f, &o);   /* a datagram socket */
	close(f->fd);
	unlink(f->path);

	f->fd = bind_at(f->path, SOCK_STREAM, 1);
	o.listen_fd = f->fd;
	o.socket_path = "/elsewhere/socket";
	refused(f, &o);   /* another path than its own */
	o.socket_path = NULL;

	/* Unnamed: there is no path to put the domains' sockets beside. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	o.listen_fd = pair[0];
	refused(f, &o);   /* unnamed */
	assert_true(fcntl(pair[0], F_GETFD) >= 0);
	close(pair[0]);
	close(pair[1]);
}

/* A version 2 caller's struct ends before listen_fd: whatever follows it in
 * memory is never read. */
static void test_version2_ignores_tail(void **state)
{
	struct {
		vbd_store_options o;
		int junk;
	} v2;
	vbd_store *s = NULL;

	(void)state;
	memset(&v2, 0xff, sizeof(v2));
	memset(&v2.o, 0, offsetof(vbd_store_options, listen_fd));
	v2.o.version = 2;
	assert_int_equal(vbd_store_new(&s, &v2.o, NULL), 0);
	assert_null(vbd_store_socket_path(s));
	vbd_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_serves_and_leaves_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_path_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test(test_version2_ignores_tail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
