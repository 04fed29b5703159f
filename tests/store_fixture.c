/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "store_fixture.h"
#include "xenbus/xenbus.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <xen/io/xs_wire.h>

static int store_fd(void *obj)
{
	return vbd_store_get_fd(obj);
}

static int store_process(void *obj)
{
	return vbd_store_process(obj);
}

int vbd_test_store_start(vbd_test_store *t, const vbd_store_limits *limits)
{
	vbd_store_options o = VBD_STORE_OPTIONS_INIT;
	int r;

	memset(t, 0, sizeof(*t));
	vbd_test_loop_init(&t->loop);
	if ((r = vbd_test_tmpdir(t->dir, sizeof(t->dir), "vbdtest")) < 0)
		return r;
	if ((size_t)snprintf(t->socket, sizeof(t->socket), "%.*s/socket",
	                     (int)(sizeof(t->socket) - 8), t->dir) >= sizeof(t->socket)) {
		vbd_test_rmdir(t->dir);
		return -ENAMETOOLONG;
	}
	o.socket_path = t->socket;
	if (limits)
		o.limits = *limits;
	r = vbd_store_new(&t->store, &o, NULL);
	if (r == 0)
		r = vbd_test_loop_start(&t->loop, t->store, store_fd, NULL, store_process);
	if (r < 0)
		vbd_test_store_stop(t);
	return r;
}

void vbd_test_store_stop(vbd_test_store *t)
{
	vbd_test_loop_stop(&t->loop);
	t->store = vbd_store_free(t->store);
	vbd_test_rmdir(t->dir);
}

struct store_call {
	int (*fn)(vbd_store *s, void *arg);
	void *arg;
};

static int store_call(void *obj, void *arg)
{
	struct store_call *c = arg;

	return c->fn(obj, c->arg);
}

int vbd_test_store_call(vbd_test_store *t, int (*fn)(vbd_store *s, void *arg), void *arg)
{
	struct store_call c = { fn, arg };

	return vbd_test_loop_call(&t->loop, store_call, &c);
}

static int stats_fn(vbd_store *s, void *arg)
{
	((vbd_store_stats *)arg)->size = sizeof(vbd_store_stats);
	vbd_store_get_stats(s, arg);
	return 0;
}

void vbd_test_store_stats(vbd_test_store *t, vbd_store_stats *ret)
{
	vbd_test_store_call(t, stats_fn, ret);
}

static int add_fn(vbd_store *s, void *arg)
{
	return vbd_store_domain_add(s, *(unsigned *)arg);
}

static int remove_fn(vbd_store *s, void *arg)
{
	return vbd_store_domain_remove(s, *(unsigned *)arg);
}

int vbd_test_store_domain_add(vbd_test_store *t, unsigned domid)
{
	return vbd_test_store_call(t, add_fn, &domid);
}

int vbd_test_store_domain_remove(vbd_test_store *t, unsigned domid)
{
	return vbd_test_store_call(t, remove_fn, &domid);
}

struct sock_arg {
	unsigned domid;
	char *buf;
	size_t size;
};

static int sock_fn(vbd_store *s, void *arg)
{
	struct sock_arg *a = arg;
	return vbd_store_domain_socket(s, a->domid, a->buf, a->size);
}

static int socket_for(vbd_test_store *t, unsigned domid, char *buf, size_t size)
{
	struct sock_arg a = { domid, buf, size };

	if (domid == 0) {
		if (strlen(t->socket) >= size)
			return -ENAMETOOLONG;
		memcpy(buf, t->socket, strlen(t->socket) + 1);
		return 0;
	}
	return vbd_test_store_call(t, sock_fn, &a);
}

struct xs_handle *vbd_test_xs_open(vbd_test_store *t, unsigned domid)
{
	char path[PATH_MAX];

	if (socket_for(t, domid, path, sizeof(path)) < 0)
		return NULL;
	setenv("XENSTORED_PATH", path, 1);
	return xs_open(XS_OPEN_SOCKETONLY);
}

char *vbd_test_xs_readf(struct xs_handle *h, const char *fmt, ...)
{
	char path[1024];
	unsigned len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return xs_read(h, XBT_NULL, path, &len);
}

int vbd_test_raw_connect(vbd_test_store *t, unsigned domid)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int r = socket_for(t, domid, path, sizeof(path));

	return r < 0 ? r : vbd__xb_connect_unix(path);
}

int vbd_test_raw_send(int fd, uint32_t type, uint32_t req_id, uint32_t tx_id,
                      const void *payload, uint32_t len)
{
	struct xsd_sockmsg h = { type, req_id, tx_id, len };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	size_t want = sizeof(h) + len;
	ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);

	if (n < 0)
		return -errno;
	if ((size_t)n != want)
		return -EIO;
	return 0;
}

size_t vbd_test_msg_put(char *buf, size_t at, uint32_t type, uint32_t req_id, uint32_t tx_id,
                        const void *payload, uint32_t len)
{
	struct xsd_sockmsg h = { type, req_id, tx_id, len };

	memcpy(buf + at, &h, sizeof(h));
	memcpy(buf + at + sizeof(h), payload, len);
	return at + sizeof(h) + len;
}

struct vbd__xb_wire *vbd_test_wire_peer(const void *buf, size_t len, bool eof, int *ret_other)
{
	vbd__xb_wire *w;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (vbd__xb_wire_adopt(sv[0], true, &w) < 0 || write(sv[1], buf, len) != (ssize_t)len)
		abort();
	if (eof)
		shutdown(sv[1], SHUT_WR);
	*ret_other = sv[1];
	return w;
}

static int read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);
		ssize_t n;

		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = read(fd, (char *)buf + done, len - done);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		done += n;
	}
	return 0;
}

int vbd_test_raw_recv(int fd, uint32_t *type, uint32_t *req_id, uint32_t *tx_id,
                      char *buf, size_t size, int timeout_ms)
{
	struct xsd_sockmsg h;
	int r = read_full(fd, &h, sizeof(h), timeout_ms);

	if (r < 0)
		return r;
	if (h.len + 1 > size)
		return -EMSGSIZE;
	r = read_full(fd, buf, h.len, timeout_ms);
	if (r < 0)
		return r;
	buf[h.len] = 0;
	if (type)
		*type = h.type;
	if (req_id)
		*req_id = h.req_id;
	if (tx_id)
		*tx_id = h.tx_id;
	return (int)h.len;
}
