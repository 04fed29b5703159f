/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One test per xenstore security advisory listed in docs/protocol.md ("Limits
 * a store enforces").  Each test attacks the embedded store the way the
 * advisory's bug class attacked cxenstored or oxenstored, then checks that
 * the daemon survived, answered correctly, stayed bounded and told the
 * attacker nothing.  Where docs/protocol.md groups several advisories under one
 * bug class, one test covers the group and is named for its first number.
 *
 * Most traffic goes through raw sockets (struct xc below): the exact errno
 * names are visible, and we can send what libxenstore never would.  The
 * real libxenstore is used where "an ordinary client keeps working" is the
 * point.  Events that arrive while a raw client waits for a reply are
 * stashed on the client; xc_sync() is a round trip after which every event
 * caused by an earlier, already answered request of any client has been
 * stashed, because the daemon queues a connection's events and replies in
 * one FIFO.  That makes "no event arrived" checks exact, without sleeps.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <xen/io/xs_wire.h>

#include "store_fixture.h"

#define TIMEOUT_MS 5000
#define MSG_BUF (64 * 1024)     /* far above anything a correct daemon sends */
#define EV_MAX 512              /* events stashed per client; more are counted */
#define MAX_OPEN 64

static vbd_test_store T;
static char *pipeline_buf;      /* freed by teardown if a test fails */

/* ------------------------------------------------------------------------ */
/* Raw client */

typedef struct xev {
	char *path;
	char *token;
} xev;

typedef struct xc {
	int fd;
	unsigned domid;
	uint32_t next_req;
	uint32_t type;          /* of the last reply */
	uint32_t tx;            /* of the last reply */
	int len;                /* payload length of the last reply */
	size_t max_msg;         /* largest payload received, replies and events */
	unsigned nev;           /* stashed events */
	unsigned ev_lost;       /* events received while the stash was full */
	uint64_t ev_total;      /* events received since open */
	xev ev[EV_MAX];
	char buf[MSG_BUF + 1];  /* payload of the last message, NUL-terminated */
} xc;

static xc *open_xc[MAX_OPEN];
static struct xs_handle *open_xs[MAX_OPEN];

/* Checks whose failure must not hide the checks after them: reported at
 * once, the test fails at its end (end_checks()). */
static unsigned soft_failures;

#define check(cond, ...) do { \
	if (!(cond)) { \
		print_error("CHECK FAILED at line %d: %s: ", __LINE__, #cond); \
		print_error(__VA_ARGS__); \
		print_error("\n"); \
		soft_failures++; \
	} \
} while (0)

static void end_checks(void)
{
	if (soft_failures)
		fail_msg("%u check(s) failed", soft_failures);
}

static const char *ename(int r)
{
	const char *n;

	if (r == 0)
		return "OK";
	if (r > 0)
		return "positive";
	n = strerrorname_np(-r);
	return n ? n : "unknown";
}

/* Asserts that expr (0 or -errno) is want, naming both on failure. */
#define assert_xs(expr, want) do { \
	int r_ = (expr), w_ = (want); \
	if (r_ != w_) \
		fail_msg("%s: got %s (%d), want %s", #expr, ename(r_), r_, ename(w_)); \
} while (0)

#define assert_xs2(expr, want1, want2) do { \
	int r_ = (expr), w1_ = (want1), w2_ = (want2); \
	if (r_ != w1_ && r_ != w2_) \
		fail_msg("%s: got %s (%d), want %s or %s", #expr, ename(r_), r_, \
		         ename(w1_), ename(w2_)); \
} while (0)

static int errno_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (!strcmp(xsd_errors[i].errstring, name))
			return xsd_errors[i].errnum;
	fail_msg("XS_ERROR with unknown name \"%s\"", name);
	return EPROTO;
}

static xc *xc_open(unsigned domid)
{
	struct timeval tv = { .tv_sec = TIMEOUT_MS / 1000 };
	xc *c;
	int fd = vbd_test_raw_connect(&T, domid);
	unsigned i;

	if (fd < 0)
		fail_msg("connect as dom%u: %s", domid, ename(fd));
	/* A daemon that stops reading must fail the send, not hang the test. */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->fd = fd;
	c->domid = domid;
	for (i = 0; i < MAX_OPEN; i++)
		if (!open_xc[i]) {
			open_xc[i] = c;
			break;
		}
	assert_true(i < MAX_OPEN);
	return c;
}

static void xc_clear(xc *c)
{
	unsigned i;

	for (i = 0; i < c->nev; i++) {
		free(c->ev[i].path);
		free(c->ev[i].token);
	}
	c->nev = 0;
	c->ev_lost = 0;
}

static void xc_close(xc *c)
{
	unsigned i;

	if (!c)
		return;
	for (i = 0; i < MAX_OPEN; i++)
		if (open_xc[i] == c)
			open_xc[i] = NULL;
	if (c->fd >= 0)
		close(c->fd);
	xc_clear(c);
	free(c);
}

static struct xs_handle *xs_tracked(unsigned domid)
{
	struct xs_handle *h = vbd_test_xs_open(&T, domid);
	unsigned i;

	assert_non_null(h);
	for (i = 0; i < MAX_OPEN; i++)
		if (!open_xs[i]) {
			open_xs[i] = h;
			break;
		}
	assert_true(i < MAX_OPEN);
	return h;
}

static void xs_untrack(struct xs_handle *h)
{
	unsigned i;

	for (i = 0; i < MAX_OPEN; i++)
		if (open_xs[i] == h)
			open_xs[i] = NULL;
	xs_close(h);
}

static void stash(xc *c, const char *path, const char *token)
{
	c->ev_total++;
	if (c->nev == EV_MAX) {
		c->ev_lost++;
		return;
	}
	c->ev[c->nev].path = strdup(path);
	c->ev[c->nev].token = strdup(token);
	assert_non_null(c->ev[c->nev].path);
	assert_non_null(c->ev[c->nev].token);
	c->nev++;
}

/* Receives one message into c->buf.  Events are checked and stashed.
 * Returns 1 for an event, 0 for anything else, or -errno. */
static int xc_recv(xc *c, int timeout_ms, uint32_t *ret_req)
{
	uint32_t type, req, tx;
	int n = vbd_test_raw_recv(c->fd, &type, &req, &tx, c->buf, sizeof(c->buf),
	                          timeout_ms);
	size_t plen;

	if (n < 0)
		return n;
	if ((size_t)n > c->max_msg)
		c->max_msg = n;
	if (type == XS_WATCH_EVENT) {
		/* "path\0token\0", req_id = tx_id = 0 */
		assert_int_equal(req, 0);
		assert_int_equal(tx, 0);
		plen = strnlen(c->buf, n);
		if (plen + 1 >= (size_t)n || c->buf[n - 1] != 0 ||
		    strlen(c->buf + plen + 1) != (size_t)n - plen - 2)
			fail_msg("malformed watch event (%d bytes)", n);
		stash(c, c->buf, c->buf + plen + 1);
		return 1;
	}
	c->type = type;
	c->tx = tx;
	c->len = n;
	if (ret_req)
		*ret_req = req;
	return 0;
}

/* Sends one request and waits for its reply.  0, or -errno from the
 * XS_ERROR name, or a transport error (-ETIMEDOUT, -EPIPE, ...). */
static int xc_call(xc *c, uint32_t type, uint32_t tx, const void *p, uint32_t len)
{
	uint32_t id = ++c->next_req, rid = 0;
	int r = vbd_test_raw_send(c->fd, type, id, tx, p, len);

	if (r < 0)
		return r;
	for (;;) {
		r = xc_recv(c, TIMEOUT_MS, &rid);
		if (r < 0)
			return r;
		if (r == 1)
			continue;
		assert_int_equal(rid, id);
		assert_int_equal(c->tx, tx);
		if (c->type == XS_ERROR) {
			if (c->len < 1 || c->buf[c->len - 1] != 0)
				fail_msg("XS_ERROR payload not NUL-terminated");
			return -errno_of(c->buf);
		}
		if (c->type != type)
			fail_msg("reply type %u to request type %u", c->type, type);
		return 0;
	}
}

/* Request whose payload is the NULL-terminated list of strings, each
 * followed by its NUL. */
static int xc_req(xc *c, uint32_t type, uint32_t tx, ...)
{
	static char p[2 * XENSTORE_PAYLOAD_MAX];
	const char *s;
	size_t n = 0, l;
	va_list ap;

	va_start(ap, tx);
	while ((s = va_arg(ap, const char *))) {
		l = strlen(s) + 1;
		assert_true(n + l <= sizeof(p));
		memcpy(p + n, s, l);
		n += l;
	}
	va_end(ap);
	return xc_call(c, type, tx, p, n);
}

static int xc_write_n(xc *c, uint32_t tx, const char *path, const void *v, size_t vlen)
{
	size_t pl = strlen(path) + 1;
	char *p = malloc(pl + vlen + 1);
	int r;

	assert_non_null(p);
	memcpy(p, path, pl);
	memcpy(p + pl, v, vlen);
	r = xc_call(c, XS_WRITE, tx, p, pl + vlen);
	free(p);
	return r;
}

static int xc_write(xc *c, uint32_t tx, const char *path, const char *v)
{
	return xc_write_n(c, tx, path, v, strlen(v));
}

#define xc_read(c, tx, path)    xc_req((c), XS_READ, (tx), (path), NULL)
#define xc_mkdir(c, tx, path)   xc_req((c), XS_MKDIR, (tx), (path), NULL)
#define xc_rm(c, tx, path)      xc_req((c), XS_RM, (tx), (path), NULL)
#define xc_dir(c, tx, path)     xc_req((c), XS_DIRECTORY, (tx), (path), NULL)
#define xc_getperms(c, tx, path) xc_req((c), XS_GET_PERMS, (tx), (path), NULL)
#define xc_setperms(c, tx, ...) xc_req((c), XS_SET_PERMS, (tx), __VA_ARGS__, NULL)
#define xc_watch(c, path, tok)  xc_req((c), XS_WATCH, 0, (path), (tok), NULL)
#define xc_unwatch(c, path, tok) xc_req((c), XS_UNWATCH, 0, (path), (tok), NULL)

static void assert_reply(xc *c, const void *want, size_t len)
{
	if ((size_t)c->len != len || memcmp(c->buf, want, len)) {
		char shown[128];
		size_t i, n = c->len < 120 ? c->len : 120;

		for (i = 0; i < n; i++)
			shown[i] = c->buf[i] ? c->buf[i] : '|';
		shown[n] = 0;
		fail_msg("reply \"%s\" (%d bytes), want %zu bytes", shown, c->len, len);
	}
}

/* A reply made of NUL-terminated strings, given as one literal with its
 * embedded NULs: assert_strs(c, "n0\0r5\0"). */
#define assert_strs(c, lit) assert_reply((c), (lit), sizeof(lit) - 1)

static void assert_value(xc *c, uint32_t tx, const char *path, const char *want)
{
	assert_xs(xc_read(c, tx, path), 0);
	assert_reply(c, want, strlen(want));
}

static int xc_tx_start(xc *c)
{
	int r = xc_req(c, XS_TRANSACTION_START, 0, "", NULL);
	char *end;
	unsigned long id;

	if (r < 0)
		return r;
	id = strtoul(c->buf, &end, 10);
	if (c->len < 2 || c->buf[c->len - 1] != 0 || *end || id == 0 || id > INT32_MAX ||
	    c->buf[0] == '0')
		fail_msg("bad transaction id \"%s\"", c->buf);
	return (int)id;
}

static int xc_tx_end(xc *c, int id, bool commit)
{
	return xc_req(c, XS_TRANSACTION_END, (uint32_t)id, commit ? "T" : "F", NULL);
}

/* A round trip: afterwards, every event due to earlier requests of any
 * client that have been answered is in the stash. */
static void xc_sync(xc *c)
{
	assert_xs(xc_req(c, XS_GET_DOMAIN_PATH, 0, "0", NULL), 0);
}

/* Removes the stashed events matching path and token (NULL: any) and
 * returns how many there were. */
static unsigned xc_take(xc *c, const char *path, const char *token)
{
	unsigned i, o = 0, n = 0;

	for (i = 0; i < c->nev; i++) {
		xev e = c->ev[i];

		if ((!path || !strcmp(e.path, path)) && (!token || !strcmp(e.token, token))) {
			free(e.path);
			free(e.token);
			n++;
		} else {
			c->ev[o++] = e;
		}
	}
	c->nev = o;
	return n;
}

/* WATCH, then the one immediate event, which must come (strict) or may
 * come (!strict: an unreadable node or special watch of a guest). */
static void watch_and_drain(xc *c, const char *path, const char *token, bool strict)
{
	unsigned n;

	assert_xs(xc_watch(c, path, token), 0);
	xc_sync(c);
	n = xc_take(c, path, token);
	if (strict ? n != 1 : n > 1)
		fail_msg("WATCH %s: %u initial events", path, n);
	if (!strict)
		print_message("dom%u WATCH %s: %u initial event(s)\n", c->domid, path, n);
}

static void send_header(int fd, uint32_t type, uint32_t len)
{
	struct xsd_sockmsg h = { type, 1, 0, len };

	assert_int_equal(send(fd, &h, sizeof(h), MSG_NOSIGNAL), sizeof(h));
}

/* The daemon must close the connection without answering (watch events
 * queued before the close may still come). */
static void expect_closed(xc *c)
{
	uint32_t type = 0;
	int r;

	do
		r = vbd_test_raw_recv(c->fd, &type, NULL, NULL, c->buf, sizeof(c->buf),
		                      TIMEOUT_MS);
	while (r >= 0 && type == XS_WATCH_EVENT);
	if (r >= 0)
		fail_msg("got a message of type %u (%d bytes) instead of EOF", type, r);
	if (r != -EPIPE && r != -ECONNRESET)
		fail_msg("expected EOF, got %s", ename(r));
}

/* ------------------------------------------------------------------------ */
/* Store helpers */

static vbd_store_stats stats(void)
{
	vbd_store_stats s;

	vbd_test_store_stats(&T, &s);
	return s;
}

/* Polls until the daemon has noticed closed connections. */
static void wait_connections(uint64_t n)
{
	int i;

	for (i = 0; i < 1000; i++) {
		if (stats().connections == n)
			return;
		usleep(5000);
	}
	fail_msg("connections stayed at %llu, want %llu",
	         (unsigned long long)stats().connections, (unsigned long long)n);
}

/* Introduces domid and gives it its home, as a toolstack would. */
static void guest_home(xc *d, unsigned domid)
{
	char home[64], owner[16];

	assert_int_equal(vbd_test_store_domain_add(&T, domid), 0);
	snprintf(home, sizeof(home), "/local/domain/%u", domid);
	snprintf(owner, sizeof(owner), "n%u", domid);
	assert_xs(xc_mkdir(d, 0, home), 0);
	assert_xs(xc_setperms(d, 0, home, owner), 0);
}

/* Creates prefix0, prefix1, ... until the node quota says ENOSPC. */
static unsigned fill_quota(xc *g, const char *prefix, unsigned limit)
{
	char p[64];
	unsigned i;
	int r;

	for (i = 0; i < limit; i++) {
		snprintf(p, sizeof(p), "%s%u", prefix, i);
		r = xc_write(g, 0, p, "q");
		if (r == -ENOSPC)
			return i;
		assert_xs(r, 0);
	}
	fail_msg("dom%u created %u nodes without hitting its quota", g->domid, limit);
	return 0;
}

static void drop_quota(xc *g, const char *prefix, unsigned n)
{
	char p[64];
	unsigned i;

	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s%u", prefix, i);
		assert_xs(xc_rm(g, 0, p), 0);
	}
}

static void make_nodes(xc *g, const char *prefix, unsigned n)
{
	char p[64];
	unsigned i;

	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s%u", prefix, i);
		assert_xs(xc_write(g, 0, p, "n"), 0);
	}
}

/* ------------------------------------------------------------------------ */
/* Fixtures */

static void on_alarm(int sig)
{
	static const char msg[] = "test_store_advisories: test timed out\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(2);
}

/* The store lives in this process: a SIGPIPE raised by its thread (a write
 * to a client that has gone) would kill the whole test binary.  The header
 * promises "no signals", so it is recorded and fails the test instead. */
static volatile sig_atomic_t sigpipe_store, sigpipe_other;

static void on_sigpipe(int sig)
{
	(void)sig;
	if (T.loop.running && pthread_equal(pthread_self(), T.loop.thread))
		sigpipe_store++;
	else
		sigpipe_other++;
}

static int start(const vbd_store_limits *l)
{
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, on_sigpipe);
	sigpipe_store = sigpipe_other = 0;
	soft_failures = 0;
	alarm(60);      /* a daemon that stops answering a libxenstore call */
	return vbd_test_store_start(&T, l);
}

static int setup_default(void **state)
{
	(void)state;
	return start(NULL) < 0 ? -1 : 0;
}

static int setup_small_quota(void **state)
{
	vbd_store_limits l = VBD_STORE_LIMITS_INIT;

	(void)state;
	l.nodes_per_domain = 10;
	return start(&l) < 0 ? -1 : 0;
}

static int setup_quota20(void **state)
{
	vbd_store_limits l = VBD_STORE_LIMITS_INIT;

	(void)state;
	l.nodes_per_domain = 20;
	return start(&l) < 0 ? -1 : 0;
}

static int setup_xsa326(void **state)
{
	vbd_store_limits l = VBD_STORE_LIMITS_INIT;

	(void)state;
	/* So that the transaction limit, not the node quota, is what a huge
	 * transaction hits; and so that an unbounded dom0 queue shows fast. */
	l.nodes_per_domain = 4000;
	l.max_pending_bytes_priv = 1u << 20;
	l.conns_per_domain = 32;
	return start(&l) < 0 ? -1 : 0;
}

/* The store thread gets a small stack: a daemon that recurses once per
 * path component overflows it on a 1500-deep tree (XSA-418). */
#define SMALL_STACK (256u << 10)

static int setup_small_stack(void **state)
{
	pthread_attr_t saved, small;
	int r;

	(void)state;
	if (pthread_getattr_default_np(&saved) || pthread_attr_init(&small) ||
	    pthread_attr_setstacksize(&small, SMALL_STACK) ||
	    pthread_setattr_default_np(&small))
		return -1;
	r = start(NULL);
	pthread_setattr_default_np(&saved);
	pthread_attr_destroy(&small);
	pthread_attr_destroy(&saved);
	return r < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	unsigned i;
	int r = 0;

	(void)state;
	for (i = 0; i < MAX_OPEN; i++) {
		if (open_xc[i])
			xc_close(open_xc[i]);
		if (open_xs[i]) {
			xs_close(open_xs[i]);
			open_xs[i] = NULL;
		}
	}
	free(pipeline_buf);
	pipeline_buf = NULL;
	/* Whatever the attack did, the per-domain node counts and node memory
	 * still match the tree: a drift would move a quota silently. */
	{
		struct xs_handle *h = vbd_test_xs_open(&T, 0);
		char *ok = h ? xs_control_command(h, "check", NULL, 0) : NULL;

		if (!ok) {
			print_error("CONTROL check after the test: %s\n", strerror(errno));
			r = -1;
		}
		free(ok);
		if (h)
			xs_close(h);
	}
	vbd_test_store_stop(&T);
	alarm(0);
	/* One raised in the test's own thread (libxenstore writing to a
	 * connection the daemon closed) is not the store's doing. */
	if (sigpipe_store) {
		print_error("SIGPIPE raised %d time(s) by the store thread\n",
		            (int)sigpipe_store);
		return -1;
	}
	return r;
}

/* ------------------------------------------------------------------------ */
/* XSA-72: oversized requests and replies.
 *
 * cxenstored trusted the length a client announced and built replies
 * without bounding them.  A header over XENSTORE_PAYLOAD_MAX must end that
 * connection only; replies that would exceed it must be errors (DIRECTORY:
 * E2BIG, the client then pages with DIRECTORY_PART). */

/* Reads a whole directory through DIRECTORY_PART; returns the number of
 * names, checking that every chunk fits the payload limit. */
static unsigned directory_part_all(xc *c, const char *path)
{
	char off[32], gen[64] = "";
	unsigned names = 0, rounds;
	size_t offset = 0;

	for (rounds = 0; rounds < 100; rounds++) {
		size_t glen, dlen, i;
		const char *data;
		bool last;

		snprintf(off, sizeof(off), "%zu", offset);
		assert_xs(xc_req(c, XS_DIRECTORY_PART, 0, path, off, NULL), 0);
		assert_true(c->len <= XENSTORE_PAYLOAD_MAX);
		glen = strnlen(c->buf, c->len);
		assert_true(glen > 0 && glen < (size_t)c->len);
		assert_true(glen < sizeof(gen));
		if (rounds == 0)
			memcpy(gen, c->buf, glen + 1);
		else
			assert_string_equal(gen, c->buf);       /* nothing changed */
		data = c->buf + glen + 1;
		dlen = c->len - glen - 1;
		assert_true(dlen >= 1 && data[dlen - 1] == 0);
		last = dlen == 1 || data[dlen - 2] == 0;
		if (last)
			dlen--;                                 /* the extra "\0" */
		for (i = 0; i < dlen; i += strlen(data + i) + 1)
			names++;
		offset += dlen;
		if (last)
			return names;
		assert_true(dlen > 0);                          /* progress */
	}
	fail_msg("DIRECTORY_PART did not finish");
	return 0;
}

static void test_xsa72_oversized_payload(void **state)
{
	xc *d = xc_open(0), *other = xc_open(0), *bad, *g;
	struct xs_handle *xs = xs_tracked(0);
	vbd_store_stats s0, s1;
	static char big[2 * XENSTORE_PAYLOAD_MAX];
	char path[64], **names;
	unsigned i, num;
	size_t n;
	void *v;
	int r;

	(void)state;
	guest_home(d, 1);
	assert_xs(xc_write(other, 0, "/other", "alive"), 0);
	s0 = stats();

	/* A header announcing one byte too many, nothing following. */
	bad = xc_open(0);
	send_header(bad->fd, XS_WRITE, XENSTORE_PAYLOAD_MAX + 1);
	expect_closed(bad);
	xc_close(bad);
	/* The same with the payload actually sent. */
	bad = xc_open(0);
	memset(big, 'x', XENSTORE_PAYLOAD_MAX + 1);
	r = vbd_test_raw_send(bad->fd, XS_WRITE, 1, 0, big, XENSTORE_PAYLOAD_MAX + 1);
	assert_true(r == 0 || r == -EPIPE || r == -ECONNRESET);
	expect_closed(bad);
	xc_close(bad);
	/* A length that wraps a naive "header + len" computation. */
	bad = xc_open(0);
	send_header(bad->fd, XS_READ, UINT32_MAX);
	expect_closed(bad);
	xc_close(bad);
	/* And from a guest. */
	bad = xc_open(1);
	send_header(bad->fd, XS_WRITE, 0x10000);
	expect_closed(bad);
	xc_close(bad);
	s1 = stats();
	assert_true(s1.conns_killed >= s0.conns_killed + 4);

	/* Everybody else is unaffected. */
	assert_value(other, 0, "/other", "alive");
	assert_true(xs_write(xs, XBT_NULL, "/libxs", "ok", 2));
	v = xs_read(xs, XBT_NULL, "/libxs", &num);
	assert_non_null(v);
	assert_int_equal(num, 2);
	free(v);
	g = xc_open(1);
	assert_xs(xc_write(g, 0, "x", "y"), 0);

	/* Exactly the maximum is a valid request. */
	memcpy(big, "/big", 5);
	memset(big + 5, 'v', XENSTORE_PAYLOAD_MAX - 5);
	assert_xs(xc_call(d, XS_WRITE, 0, big, XENSTORE_PAYLOAD_MAX), 0);
	assert_xs(xc_read(d, 0, "/big"), 0);
	assert_int_equal(d->len, XENSTORE_PAYLOAD_MAX - 5);

	/* A listing of ~5400 bytes: E2BIG, never an oversized reply. */
	for (i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "/dir/child-0123456789abcdef-%03u", i);
		assert_xs(xc_write(d, 0, path, ""), 0);
	}
	assert_xs(xc_dir(d, 0, "/dir"), -E2BIG);
	/* The guest may not read "/dir" (it inherited "n0"): either answer
	 * is fine as long as it is not the listing. */
	assert_xs2(xc_dir(g, 0, "/dir"), -E2BIG, -EACCES);
	assert_int_equal(directory_part_all(d, "/dir"), 200);
	/* Offsets a client invents: never an out-of-bounds read, never an
	 * oversized reply. */
	assert_xs(xc_call(d, XS_DIRECTORY_PART, 0, "/dir", 5), -EINVAL);
	assert_xs(xc_req(d, XS_DIRECTORY_PART, 0, "/dir", "abc", NULL), -EINVAL);
	assert_xs(xc_req(d, XS_DIRECTORY_PART, 0, "/dir", "-1", NULL), -EINVAL);
	assert_xs(xc_req(d, XS_DIRECTORY_PART, 0, "/dir", "", NULL), -EINVAL);
	assert_xs2(xc_req(d, XS_DIRECTORY_PART, 0, "/dir", "999999", NULL), 0, -EINVAL);
	assert_true(d->len <= XENSTORE_PAYLOAD_MAX);
	assert_xs2(xc_req(d, XS_DIRECTORY_PART, 0, "/dir", "18446744073709551615", NULL),
	           0, -EINVAL);
	assert_true(d->len <= XENSTORE_PAYLOAD_MAX);
	assert_xs2(xc_req(d, XS_DIRECTORY_PART, 0, "/dir", "5401", NULL), 0, -EINVAL);
	assert_xs2(xc_req(d, XS_DIRECTORY_PART, 0, "/dir", "3", NULL), 0, -EINVAL);
	assert_true(d->len <= XENSTORE_PAYLOAD_MAX);
	/* Requests shorter than what they announce to hold. */
	assert_xs(xc_call(d, XS_READ, 0, "/dir", 4), -EINVAL);
	assert_xs(xc_call(d, XS_READ, 0, NULL, 0), -EINVAL);
	assert_xs(xc_call(d, XS_WRITE, 0, "/dir", 4), -EINVAL);
	assert_xs(xc_call(d, XS_WATCH, 0, "/dir\0tok", 8), -EINVAL);
	assert_xs(xc_call(d, XS_SET_PERMS, 0, "/dir\0n0", 7), -EINVAL);
	assert_xs(xc_call(d, XS_INTRODUCE, 0, "9\0001\0", 4), -EINVAL);
	assert_xs(xc_call(g, XS_GET_DOMAIN_PATH, 0, "1", 1), -EINVAL);
	assert_xs(xc_req(d, 9999, 0, "/dir", NULL), -EINVAL);
	assert_xs(xc_dir(d, 0, "/dir"), -E2BIG);        /* still serving */
	/* libxenstore falls back to DIRECTORY_PART by itself. */
	names = xs_directory(xs, XBT_NULL, "/dir", &num);
	assert_non_null(names);
	assert_int_equal(num, 200);
	free(names);

	/* GET_PERMS: a node with as many entries as one request can carry,
	 * and children inheriting them, dom0- and guest-created. */
	assert_xs(xc_write(d, 0, "/p", "v"), 0);
	memcpy(big, "/p\0n0\0w1", 9);
	n = 9;
	for (i = 1000; n + 6 <= XENSTORE_PAYLOAD_MAX; i++)
		n += snprintf(big + n, 7, "r%u", i) + 1;
	assert_xs(xc_call(d, XS_SET_PERMS, 0, big, n), 0);
	assert_xs(xc_getperms(d, 0, "/p"), 0);
	assert_reply(d, big + 3, n - 3);
	assert_xs(xc_write(d, 0, "/p/d", "v"), 0);
	assert_xs(xc_getperms(d, 0, "/p/d"), 0);
	assert_reply(d, big + 3, n - 3);
	assert_xs(xc_write(g, 0, "/p/g", "v"), 0);
	assert_xs(xc_getperms(g, 0, "/p/g"), 0);
	assert_true(g->len <= XENSTORE_PAYLOAD_MAX);
	assert_true(g->len >= 3 && !memcmp(g->buf, "n1\0", 3));
	assert_xs(xc_getperms(d, 0, "/p/g"), 0);
	assert_true(d->len <= XENSTORE_PAYLOAD_MAX);

	assert_true(d->max_msg <= XENSTORE_PAYLOAD_MAX);
	assert_true(g->max_msg <= XENSTORE_PAYLOAD_MAX);
	assert_true(other->max_msg <= XENSTORE_PAYLOAD_MAX);
}

/* ------------------------------------------------------------------------ */
/* XSA-115: watch events leak the names of nodes the watcher may not read,
 * and special watches must not be usable by unprivileged callers. */

static void test_xsa115_watch_event_leak(void **state)
{
	xc *d = xc_open(0), *g;
	vbd_store_stats s0, s1;
	unsigned i;

	(void)state;
	guest_home(d, 1);
	assert_xs(xc_write(d, 0, "/secret/a", "s"), 0);         /* inherits "n0" */
	assert_xs(xc_write(d, 0, "/pub", "p"), 0);
	assert_xs(xc_setperms(d, 0, "/pub", "r0"), 0);          /* readable by all */
	g = xc_open(1);
	watch_and_drain(g, "/", "root", false);
	watch_and_drain(g, "/secret", "sec", false);
	s0 = stats();

	/* Every kind of change under the unreadable subtree. */
	assert_xs(xc_write(d, 0, "/secret/a", "s2"), 0);
	assert_xs(xc_write(d, 0, "/secret/b", "s"), 0);
	assert_xs(xc_setperms(d, 0, "/secret/b", "n0", "r2"), 0);
	assert_xs(xc_rm(d, 0, "/secret/b"), 0);
	assert_xs(xc_mkdir(d, 0, "/secret/c"), 0);
	assert_xs(xc_rm(d, 0, "/secret"), 0);
	/* Then changes the guest may see. */
	assert_xs(xc_write(d, 0, "/pub", "p2"), 0);
	assert_xs(xc_write(d, 0, "/local/domain/1/vis", "v"), 0);
	xc_sync(g);
	for (i = 0; i < g->nev; i++)
		if (!strncmp(g->ev[i].path, "/secret", 7))
			fail_msg("guest saw event %s (token %s)", g->ev[i].path, g->ev[i].token);
	assert_int_equal(xc_take(g, "/pub", "root"), 1);
	assert_int_equal(xc_take(g, "/local/domain/1/vis", "root"), 1);
	assert_int_equal(g->nev, 0);
	s1 = stats();
	assert_true(s1.events_filtered >= s0.events_filtered + 6);

	/* Special watches: a guest may register them but gets nothing while
	 * the special nodes keep their default perms "n0". */
	watch_and_drain(g, "@introduceDomain", "i", false);
	watch_and_drain(g, "@releaseDomain", "r", false);
	watch_and_drain(d, "@introduceDomain", "di", true);
	watch_and_drain(d, "@releaseDomain", "dr", true);
	assert_xs(xc_req(d, XS_INTRODUCE, 0, "2", "1", "1", NULL), 0);
	assert_xs(xc_req(d, XS_RELEASE, 0, "2", NULL), 0);
	assert_int_equal(vbd_test_store_domain_add(&T, 3), 0);
	assert_int_equal(vbd_test_store_domain_remove(&T, 3), 0);
	xc_sync(d);
	assert_int_equal(xc_take(d, "@introduceDomain", "di"), 2);
	assert_int_equal(xc_take(d, "@releaseDomain", "dr"), 2);
	xc_sync(g);
	assert_int_equal(g->nev, 0);
	/* Nor can the guest grant itself access. */
	assert_xs(xc_setperms(g, 0, "@introduceDomain", "n1"), -EACCES);
	assert_xs(xc_setperms(g, 0, "@releaseDomain", "n0", "r1"), -EACCES);
	/* Once dom0 grants it, delivery follows the perms. */
	assert_xs(xc_setperms(d, 0, "@introduceDomain", "n0", "r1"), 0);
	xc_sync(g);
	xc_clear(g);
	assert_xs(xc_req(d, XS_INTRODUCE, 0, "4", "1", "1", NULL), 0);
	assert_xs(xc_req(d, XS_RELEASE, 0, "4", NULL), 0);
	xc_sync(d);
	xc_sync(g);
	assert_int_equal(xc_take(g, "@introduceDomain", "i"), 1);
	assert_int_equal(g->nev, 0);    /* still no @releaseDomain */
	assert_true(g->max_msg <= XENSTORE_PAYLOAD_MAX);
}

/* ------------------------------------------------------------------------ */
/* XSA-324: a huge watch token made events bigger than the payload limit. */

static void test_xsa324_huge_watch_token(void **state)
{
	xc *d = xc_open(0), *g;
	char tok[1100], path[XENSTORE_ABS_PATH_MAX + 2], w[32];
	vbd_store_stats s;
	unsigned i;
	size_t n;
	int r;

	(void)state;
	guest_home(d, 1);
	g = xc_open(1);
	memset(tok, 'T', sizeof(tok));
	tok[1023] = 0;
	assert_xs(xc_watch(g, "/local/domain/1", tok), -E2BIG);
	assert_xs(xc_watch(d, "/", tok), -E2BIG);
	tok[1022] = 0;
	watch_and_drain(g, "/local/domain/1", tok, true);
	watch_and_drain(d, "/", tok, true);

	/* The longest absolute path with the longest token: exactly 4096. */
	n = snprintf(path, sizeof(path), "/local/domain/1/");
	while (n < XENSTORE_ABS_PATH_MAX) {
		path[n] = (n % 64 == 63 && n < XENSTORE_ABS_PATH_MAX - 1) ? '/' : 'a';
		n++;
	}
	path[n] = 0;
	assert_xs(xc_write(d, 0, path, "v"), 0);
	xc_sync(d);
	xc_sync(g);
	assert_int_equal(xc_take(d, path, tok), 1);
	assert_int_equal(xc_take(g, path, tok), 1);
	assert_int_equal(d->max_msg, XENSTORE_PAYLOAD_MAX);
	assert_int_equal(g->max_msg, XENSTORE_PAYLOAD_MAX);
	path[n] = 'a';
	path[n + 1] = 0;
	assert_xs(xc_write(d, 0, path, "v"), -EINVAL);

	/* Many watches with huge tokens: the count limit holds whatever the
	 * token size, and nothing sent exceeds the payload limit. */
	for (i = 1; i < 1000; i++) {
		snprintf(w, sizeof(w), "w%u", i);
		r = xc_watch(g, w, tok);
		if (r < 0)
			break;
	}
	assert_xs(r, -E2BIG);
	assert_int_equal(i, 128);
	assert_xs(xc_watch(g, "another", "t"), -E2BIG);
	xc_sync(g);
	assert_int_equal(xc_take(g, NULL, tok) + g->ev_lost, 127);
	xc_clear(g);
	assert_xs(xc_write(g, 0, "w1", "v"), 0);
	xc_sync(g);
	assert_true(xc_take(g, "w1", tok) == 1);
	assert_true(g->max_msg <= XENSTORE_PAYLOAD_MAX);
	assert_true(d->max_msg <= XENSTORE_PAYLOAD_MAX);
	s = stats();
	assert_true(s.watches <= 128 + 1);
}

/* ------------------------------------------------------------------------ */
/* XSA-325: a guest closing its connection must not look like the domain
 * going away: @releaseDomain fires on RELEASE, once. */

static void test_xsa325_release_after_conn_close(void **state)
{
	xc *d = xc_open(0), *g, *bad;
	struct xs_handle *gx;
	vbd_store_stats s;
	uint64_t conns;
	unsigned len, i;
	void *v;
	int r = 0;

	(void)state;
	watch_and_drain(d, "@releaseDomain", "rel", true);
	watch_and_drain(d, "@introduceDomain", "intro", true);
	assert_xs(xc_req(d, XS_INTRODUCE, 0, "5", "1", "1", NULL), 0);
	xc_sync(d);
	assert_int_equal(xc_take(d, "@introduceDomain", "intro"), 1);
	assert_xs(xc_mkdir(d, 0, "/local/domain/5"), 0);
	assert_xs(xc_setperms(d, 0, "/local/domain/5", "n5"), 0);
	conns = stats().connections;

	/* The guest leaves with a watch, an open transaction and an unread
	 * reply behind. */
	g = xc_open(5);
	assert_xs(xc_write(g, 0, "data", "x"), 0);
	watch_and_drain(g, "data", "w", true);
	assert_true(xc_tx_start(g) > 0);
	assert_xs(vbd_test_raw_send(g->fd, XS_READ, 99, 0, "data", 5), 0);
	xc_close(g);
	wait_connections(conns);
	/* Killed for a protocol violation: same thing. */
	bad = xc_open(5);
	send_header(bad->fd, XS_WRITE, 5000);
	expect_closed(bad);
	xc_close(bad);
	wait_connections(conns);
	/* And a libxenstore client coming and going. */
	gx = xs_tracked(5);
	v = xs_read(gx, XBT_NULL, "data", &len);
	assert_non_null(v);
	free(v);
	xs_untrack(gx);
	wait_connections(conns);

	xc_sync(d);
	assert_int_equal(xc_take(d, "@releaseDomain", NULL), 0);
	assert_xs(xc_req(d, XS_IS_DOMAIN_INTRODUCED, 0, "5", NULL), 0);
	assert_strs(d, "T\0");
	assert_value(d, 0, "/local/domain/5/data", "x");
	s = stats();
	assert_int_equal(s.domains, 1);
	assert_int_equal(s.transactions, 0);
	assert_int_equal(s.watches, 2);
	/* The domain still works, and the watch of the closed connection no
	 * longer counts against its quota. */
	g = xc_open(5);
	assert_value(g, 0, "data", "x");
	for (i = 0; i < 200; i++) {
		char p[16];

		snprintf(p, sizeof(p), "w%u", i);
		r = xc_watch(g, p, "t");
		if (r < 0)
			break;
	}
	assert_xs(r, -E2BIG);
	assert_int_equal(i, 128);
	xc_close(g);
	wait_connections(conns);

	/* The real release fires exactly once. */
	assert_xs(xc_req(d, XS_RELEASE, 0, "5", NULL), 0);
	xc_sync(d);
	assert_int_equal(xc_take(d, "@releaseDomain", "rel"), 1);
	assert_xs(xc_req(d, XS_RELEASE, 0, "5", NULL), -ENOENT);
	assert_xs(xc_req(d, XS_IS_DOMAIN_INTRODUCED, 0, "5", NULL), 0);
	assert_strs(d, "F\0");
	assert_xs(xc_read(d, 0, "/local/domain/5"), -ENOENT);
	assert_true(vbd_test_raw_connect(&T, 5) < 0);
	xc_sync(d);
	assert_int_equal(xc_take(d, "@releaseDomain", NULL), 0);
	/* Through the library API as well. */
	assert_int_equal(vbd_test_store_domain_add(&T, 6), 0);
	assert_int_equal(vbd_test_store_domain_remove(&T, 6), 0);
	assert_int_equal(vbd_test_store_domain_remove(&T, 6), -ENOENT);
	xc_sync(d);
	assert_int_equal(xc_take(d, "@releaseDomain", "rel"), 1);
	assert_int_equal(xc_take(d, "@introduceDomain", "intro"), 1);
	assert_int_equal(d->nev, 0);
	assert_int_equal(stats().domains, 0);
}

/* ------------------------------------------------------------------------ */
/* XSA-326 / XSA-416: clients that never read (replies, event floods) and
 * huge transactions must not make the daemon's memory grow unbounded. */

/* Pipelines n READs of path without reading; returns how many bytes of the
 * requests went out before the daemon stopped reading.  *ret_buf keeps the
 * requests for pipeline_drain(). */
static size_t pipeline_flood(xc *c, const char *path, unsigned n, char **ret_buf,
                             size_t *ret_total)
{
	size_t pl = strlen(path) + 1, one = sizeof(struct xsd_sockmsg) + pl;
	size_t total = one * n, off = 0;
	char *buf = malloc(total);
	unsigned i;
	ssize_t w;

	assert_non_null(buf);
	free(pipeline_buf);
	pipeline_buf = buf;
	for (i = 0; i < n; i++) {
		struct xsd_sockmsg h = { XS_READ, i + 1, 0, pl };

		memcpy(buf + i * one, &h, sizeof(h));
		memcpy(buf + i * one + sizeof(h), path, pl);
	}
	while (off < total) {
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };

		w = send(c->fd, buf + off, total - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			off += w;
			continue;
		}
		assert_true(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		if (poll(&p, 1, 300) == 0)
			break;          /* the daemon stopped reading us: good */
	}
	*ret_buf = buf;
	*ret_total = total;
	return off;
}

/* Waits until the daemon has handled all it is going to handle. */
static void wait_quiet(void)
{
	uint64_t last = stats().requests;
	int i, still = 0;

	for (i = 0; i < 300 && still < 10; i++) {
		uint64_t now;

		usleep(10000);
		now = stats().requests;
		still = now == last ? still + 1 : 0;
		last = now;
	}
}

/* Reads all n replies (each a value of vlen bytes), sending the rest of
 * the requests as the daemon takes them. */
static void pipeline_drain(xc *c, char *buf, size_t off, size_t total, unsigned n,
                           size_t vlen)
{
	unsigned got = 0;
	time_t deadline = time(NULL) + 30;

	while (got < n) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN | (off < total ? POLLOUT : 0) };
		uint32_t type, req, tx;
		int r;

		assert_true(time(NULL) < deadline);
		assert_true(poll(&p, 1, TIMEOUT_MS) > 0);
		if (p.revents & POLLOUT) {
			ssize_t w = send(c->fd, buf + off, total - off, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w > 0)
				off += w;
		}
		if (!(p.revents & POLLIN))
			continue;
		r = vbd_test_raw_recv(c->fd, &type, &req, &tx, c->buf, sizeof(c->buf),
		                      TIMEOUT_MS);
		if (r < 0)
			fail_msg("reply %u of %u: %s", got + 1, n, ename(r));
		assert_int_equal(type, XS_READ);
		assert_int_equal(req, got + 1);
		assert_int_equal(r, vlen);
		got++;
	}
	assert_ptr_equal(buf, pipeline_buf);
	free(pipeline_buf);
	pipeline_buf = NULL;
}

static void test_xsa326_unread_replies_and_floods(void **state)
{
	xc *d = xc_open(0), *g, *g2, *d2, *w;
	struct xs_handle *xs = xs_tracked(0);
	static char val[4000];
	char *reqs, tok[1001];
	vbd_store_stats s, s0;
	size_t off, total;
	uint64_t max0;
	unsigned i, j, len;
	int tx, r;
	void *v;

	(void)state;
	guest_home(d, 1);
	memset(val, 'v', 4000);
	assert_xs(xc_write_n(d, 0, "/local/domain/1/v", val, 2000), 0);
	assert_xs(xc_write_n(d, 0, "/big4k", val, 4000), 0);

	/* 1. A guest pipelines 10000 READs and reads nothing. */
	g = xc_open(1);
	off = pipeline_flood(g, "/local/domain/1/v", 10000, &reqs, &total);
	wait_quiet();
	s = stats();
	print_message("guest pipeline: sent %zu/%zu bytes, pending %llu, max %llu\n",
	              off, total, (unsigned long long)s.pending_bytes,
	              (unsigned long long)s.pending_bytes_max);
	assert_true(s.pending_bytes_max < (1u << 20));
	/* Other clients, even of the same domain, are served meanwhile. */
	assert_xs(xc_read(d, 0, "/local/domain/1/v"), 0);
	assert_int_equal(d->len, 2000);
	g2 = xc_open(1);
	assert_xs(xc_read(g2, 0, "v"), 0);
	assert_int_equal(g2->len, 2000);
	v = xs_read(xs, XBT_NULL, "/big4k", &len);
	assert_non_null(v);
	assert_int_equal(len, 4000);
	free(v);
	/* And the pipeliner gets every answer, in order, once it reads. */
	pipeline_drain(g, reqs, off, total, 10000, 2000);
	assert_true(stats().pending_bytes_max < (1u << 20));

	/* 2. A guest watches its home and never reads while dom0 writes there
	 * 10000 times: its queue stops at max_pending_bytes, the rest is
	 * dropped and counted. */
	w = xc_open(1);
	memset(tok, 'F', 1000);
	tok[1000] = 0;
	watch_and_drain(w, "/local/domain/1/f", tok, true);
	s0 = stats();
	max0 = s0.pending_bytes_max;
	for (i = 0; i < 10000; i += 100) {
		char p[64];
		uint32_t first = d->next_req + 1, rid;

		for (j = i; j < i + 100; j++) {
			int pl = snprintf(p, sizeof(p), "/local/domain/1/f%c%u", 0, j);

			assert_xs(vbd_test_raw_send(d->fd, XS_WRITE, ++d->next_req, 0, p, pl), 0);
		}
		for (j = 0; j < 100; j++) {
			assert_int_equal(xc_recv(d, TIMEOUT_MS, &rid), 0);
			assert_int_equal(d->type, XS_WRITE);
			assert_int_equal(rid, first + j);
		}
	}
	s = stats();
	print_message("event flood: dropped %llu, pending %llu, max %llu\n",
	              (unsigned long long)(s.events_dropped - s0.events_dropped),
	              (unsigned long long)s.pending_bytes,
	              (unsigned long long)s.pending_bytes_max);
	assert_true(s.events_dropped > s0.events_dropped);
	assert_true(s.pending_bytes <= (256u << 10) + (16u << 10));
	assert_true(s.pending_bytes_max <= (max0 > (272u << 10) ? max0 : (272u << 10)));
	assert_value(d, 0, "/local/domain/1/f", "9999");
	v = xs_read(xs, XBT_NULL, "/local/domain/1/f", &len);
	assert_non_null(v);
	free(v);
	/* The flooded guest's own request is still answered, after what was
	 * kept of its events. */
	assert_value(w, 0, "f", "9999");
	i = xc_take(w, "/local/domain/1/f", tok) + w->ev_lost;
	print_message("event flood: the watcher received %u events\n", i);
	assert_true(i > 0 && i < 10000);
	assert_int_equal(w->nev, 0);
	assert_true(w->max_msg <= XENSTORE_PAYLOAD_MAX);
	xc_clear(w);

	/* 3. A transaction touching more than nodes_per_transaction nodes. */
	s0 = stats();
	tx = xc_tx_start(g2);
	assert_true(tx > 0);
	for (i = 0; i < 1100; i++) {
		char p[32];

		snprintf(p, sizeof(p), "t/n%u", i);
		r = xc_write(g2, tx, p, "x");
		if (r < 0)
			break;
	}
	assert_xs(r, -ENOSPC);
	print_message("huge transaction: ENOSPC at write %u\n", i);
	assert_true(i >= 1000 && i <= 1024);
	assert_xs2(xc_tx_end(g2, tx, false), 0, -ENOENT);
	assert_xs(xc_read(g2, 0, "t"), -ENOENT);
	s = stats();
	assert_int_equal(s.nodes, s0.nodes);
	assert_int_equal(s.transactions, 0);

	/* 3b. Rewriting one node over and over in a transaction touches one
	 * node, but each write may not leave a record (an event to fire at
	 * commit) behind: the transaction's memory must stay bounded too.  A
	 * 2000-byte path makes each record big. */
	{
		char lp[2001];
		uint64_t before;

		memset(lp, 'l', 2000);
		lp[2000] = 0;
		assert_xs(xc_write(g2, 0, lp, "0"), 0);
		watch_and_drain(d, "/local/domain/1", "home", true);
		tx = xc_tx_start(g2);
		assert_true(tx > 0);
		for (i = 0; i < 20000; i++) {
			r = xc_write(g2, tx, lp, i & 1 ? "a" : "b");
			if (r < 0)
				break;
		}
		assert_xs2(r, 0, -ENOSPC);
		before = stats().events_sent;
		r = xc_tx_end(g2, tx, true);
		assert_xs2(r, 0, -ENOSPC);
		s = stats();
		print_message("20000 rewrites in one transaction: %u accepted, commit %s, "
		              "%llu events fired\n", i, ename(r),
		              (unsigned long long)(s.events_sent - before));
		check(s.events_sent - before <= 2 * 1024,
		      "one transaction of one node fired %llu events: a record per "
		      "request is kept until commit, unbounded",
		      (unsigned long long)(s.events_sent - before));
		xc_sync(d);
		xc_clear(d);
		assert_xs(xc_unwatch(d, "/local/domain/1", "home"), 0);
		assert_xs(xc_rm(g2, 0, lp), 0);
	}

	/* 4. dom0 pipelines 5000 READs of a 4000-byte value (20 MB of
	 * replies): bounded by max_pending_bytes_priv (1 MiB here). */
	d2 = xc_open(0);
	off = pipeline_flood(d2, "/big4k", 5000, &reqs, &total);
	wait_quiet();
	s = stats();
	print_message("dom0 pipeline: sent %zu/%zu bytes, pending %llu, max %llu\n",
	              off, total, (unsigned long long)s.pending_bytes,
	              (unsigned long long)s.pending_bytes_max);
	assert_true(s.pending_bytes_max <= (1u << 20) + (64u << 10));
	assert_value(g2, 0, "f", "9999");
	pipeline_drain(d2, reqs, off, total, 5000, 4000);
	s = stats();
	assert_true(s.pending_bytes_max <= (1u << 20) + (64u << 10));
	assert_true(s.pending_bytes < (64u << 10));

	/* 5. A guest opens more connections than the daemon takes in all:
	 * dom0 (the toolstack) must still get in. */
	{
		xc *many[40];
		xc *late;
		struct xs_handle *x2;

		for (i = 0; i < 40; i++)
			many[i] = xc_open(1);
		late = xc_open(0);
		r = xc_read(late, 0, "/local/domain/1/f");
		check(r == 0, "dom0 locked out after a guest opened 40 connections: %s",
		      ename(r));
		if (r == 0) {
			x2 = xs_tracked(0);
			v = xs_read(x2, XBT_NULL, "/local/domain/1/f", &len);
			check(v != NULL, "libxenstore as dom0: %s", strerror(errno));
			free(v);
			xs_untrack(x2);
		}
		for (i = 0; i < 40; i++)
			xc_close(many[i]);
		xc_close(late);
	}
	assert_xs(xc_read(d, 0, "/local/domain/1/f"), 0);
	end_checks();
}

/* ------------------------------------------------------------------------ */
/* XSA-326, memory: a guest may make the daemon hold only so much memory
 * (cxenstored's per-domain memory quota, 2.5 MiB by default).
 *
 * The attack: ~1000 nodes with 3000-character names under one parent, then
 * many connections with many transactions each reading that parent.  A
 * daemon that copies a node into a transaction on the first read holds the
 * parent's 3 MB child list once per transaction (1.87 GB with 63 x 10).
 * Here 8 x 10 transactions: the unbounded daemon grows by about 240 MB. */

static long rss_kib(void)
{
	long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &size, &res), 2);
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* One line "<name> <value>" of CONTROL "quota <domid>". */
static long long quota_field(xc *d, unsigned domid, const char *name)
{
	char id[16];
	const char *p;
	size_t nl = strlen(name);

	snprintf(id, sizeof(id), "%u", domid);
	assert_xs(xc_req(d, XS_CONTROL, 0, "quota", id, NULL), 0);
	for (p = d->buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, nl) && p[nl] == ' ')
			return strtoll(p + nl, NULL, 10);
	fail_msg("CONTROL quota %u: no line \"%s\" in \"%s\"", domid, name, d->buf);
	return -1;
}

#define ATTACK_CONNS 8
#define ATTACK_TXNS 10

static void test_xsa326_memory_quota(void **state)
{
	static char path[XENSTORE_ABS_PATH_MAX + 1];
	xc *d = xc_open(0), *g, *c[ATTACK_CONNS];
	struct xs_handle *xs = xs_tracked(0);
	long long nodes_mem, mem, hard = 5ll << 19;
	int tx[ATTACK_CONNS][ATTACK_TXNS], r = 0;
	unsigned i, j, created;
	long rss0, grown;
	uint64_t conns;
	char tok[1001];
	void *v;

	(void)state;
	guest_home(d, 1);
	v = xs_read(xs, XBT_NULL, "/local/domain/1", NULL);
	assert_non_null(v);
	free(v);
	conns = stats().connections;   /* both answered: both accepted */
	g = xc_open(1);
	/* 1. The guest creates nodes with 3000-character names until it is
	 * refused: by the memory quota, long before the node quota. */
	memset(path, 'x', sizeof(path) - 1);
	for (i = 0; i < 1000; i++) {
		int l = snprintf(path, sizeof(path), "/local/domain/1/a/%05u", i);

		path[l] = 'x';
		path[3018] = 0;
		r = xc_write(g, 0, path, "");
		if (r < 0)
			break;
	}
	created = i;
	print_message("3000-character names: %u created, then %s\n", created, ename(r));
	check(r == -ENOMEM, "creation ended with %s after %u nodes, want ENOMEM "
	      "(the memory quota)", ename(r), created);
	/* Some room, so that the transactions below are not refused at once. */
	for (i = 0; i < 10 && i < created; i++) {
		int l = snprintf(path, sizeof(path), "/local/domain/1/a/%05u", i);

		path[l] = 'x';
		assert_xs(xc_rm(g, 0, path), 0);
	}

	/* 2. 8 connections x 10 transactions read the parent. */
	rss0 = rss_kib();
	for (i = 0; i < ATTACK_CONNS; i++) {
		c[i] = xc_open(1);
		for (j = 0; j < ATTACK_TXNS; j++) {
			tx[i][j] = xc_tx_start(c[i]);
			assert_xs(xc_read(c[i], (uint32_t)tx[i][j], "/local/domain/1/a"), 0);
		}
	}
	grown = rss_kib() - rss0;
	print_message("%u transactions reading the parent: RSS grew by %ld KiB\n",
	              ATTACK_CONNS * ATTACK_TXNS, grown);
	check(grown < 32 * 1024, "the daemon grew by %ld KiB for %u reads in "
	      "transactions", grown, ATTACK_CONNS * ATTACK_TXNS);
	end_checks();

	/* dom0 keeps working meanwhile. */
	assert_xs(xc_write(d, 0, "/local/domain/0/after", "ok"), 0);
	assert_value(d, 0, "/local/domain/0/after", "ok");
	v = xs_read(xs, XBT_NULL, "/local/domain/1/a", NULL);
	assert_non_null(v);
	free(v);

	/* 3. The accounting: within the quota, and each kind where it belongs. */
	nodes_mem = quota_field(d, 1, "memory-nodes");
	mem = quota_field(d, 1, "memory");
	print_message("guest 1: %lld bytes charged, %lld of them for its nodes\n", mem,
	              nodes_mem);
	assert_true(mem <= hard);
	assert_true(nodes_mem > 2 * 1000 * (long long)created);  /* path + name in parent */
	assert_true(quota_field(d, 1, "memory-transactions") > 0);
	assert_true(quota_field(d, 0, "memory-transactions") == 0);

	/* A change in a transaction copies the parent's 1 MB child list: the
	 * copy is charged, and refused. */
	snprintf(path, sizeof(path), "/local/domain/1/a/new");
	assert_xs(xc_write(c[0], (uint32_t)tx[0][0], path, ""), -ENOMEM);
	assert_xs2(xc_tx_end(c[0], tx[0][0], true), -EAGAIN, -ENOMEM);
	/* So is a watch past the quota, once the guest is near it. */
	memset(tok, 'w', 1000);
	tok[1000] = 0;
	assert_xs(xc_watch(g, "/local/domain/1/a", tok), 0);
	assert_true(quota_field(d, 1, "memory-watches") >= 1000);
	xc_sync(g);
	xc_clear(g);
	/* And so is a node write that passes it. */
	{
		static char val[2049];

		memset(val, 'v', 2048);
		for (i = 0; i < 400; i++) {
			snprintf(path, sizeof(path), "/local/domain/1/v%u", i);
			r = xc_write(g, 0, path, val);
			if (r < 0)
				break;
		}
		assert_xs(r, -ENOMEM);
		assert_true(quota_field(d, 1, "memory") <= hard);
	}
	nodes_mem = quota_field(d, 1, "memory-nodes");

	/* 4. Transactions ended, some committed and some aborted, the others
	 * left open on closed connections; the watch dropped with its
	 * connection: the charge comes back to exactly the nodes' share. */
	for (i = 0; i < ATTACK_CONNS; i++) {
		for (j = i == 0; j < ATTACK_TXNS / 2; j++)
			assert_xs(xc_tx_end(c[i], tx[i][j], j & 1), 0);
		xc_close(c[i]);
	}
	xc_close(g);
	wait_connections(conns);
	assert_int_equal(quota_field(d, 1, "memory-transactions"), 0);
	assert_int_equal(quota_field(d, 1, "memory-watches"), 0);
	assert_int_equal(quota_field(d, 1, "memory-output"), 0);
	assert_int_equal(quota_field(d, 1, "memory-nodes"), nodes_mem);
	assert_int_equal(quota_field(d, 1, "memory"), nodes_mem);

	/* 5. Released, the domain holds nothing at all. */
	assert_int_equal(vbd_test_store_domain_remove(&T, 1), 0);
	assert_int_equal(vbd_test_store_domain_add(&T, 1), 0);
	assert_int_equal(quota_field(d, 1, "memory"), 0);
}

/* ------------------------------------------------------------------------ */
/* Not advisories: what an attack as a hostile guest found (issue 8). */

/* Transaction ids are numbered per connection: what a guest is handed
 * tells it nothing of other domains' activity. */
static void test_txn_ids_per_connection(void **state)
{
	xc *d = xc_open(0), *g, *g2;
	int a, b, i, first;

	(void)state;
	guest_home(d, 1);
	g = xc_open(1);
	g2 = xc_open(1);
	a = xc_tx_start(g);
	for (i = 0; i < 5; i++)
		assert_true(xc_tx_start(d) > 0);
	first = xc_tx_start(g2);
	b = xc_tx_start(g);
	if (b != a + 1 || first != a)
		fail_msg("guest ids %d then %d, a fresh connection's first %d: other "
		         "connections' transactions show through", a, b, first);
	/* Unique on the connection and never 0, also after ends. */
	assert_xs(xc_tx_end(g, a, false), 0);
	i = xc_tx_start(g);
	assert_true(i != b && i > 0);
}

/* A guest cannot map nodes it may not read: missing or there, they answer
 * EACCES alike; ENOENT only where it may read the nearest existing
 * ancestor (cxenstored's errno_from_parents). */
static void test_guest_existence_oracle(void **state)
{
	static const char *const hidden[] = { "/secret/x", "/secret/missing",
	                                      "/secret/missing/deeper" };
	xc *d = xc_open(0), *g;
	unsigned i;
	int tx;

	(void)state;
	guest_home(d, 1);
	assert_xs(xc_write(d, 0, "/secret/x", "v"), 0);
	assert_xs(xc_setperms(d, 0, "/secret", "n0"), 0);
	assert_xs(xc_setperms(d, 0, "/secret/x", "n0"), 0);
	g = xc_open(1);
	tx = xc_tx_start(g);
	for (i = 0; i < 3; i++) {
		const char *p = hidden[i];
		int r[7];

		r[0] = xc_read(g, 0, p);
		r[1] = xc_getperms(g, 0, p);
		r[2] = xc_dir(g, 0, p);
		r[3] = xc_req(g, XS_DIRECTORY_PART, 0, p, "0", NULL);
		r[4] = xc_setperms(g, 0, p, "n1");
		r[5] = xc_rm(g, 0, p);
		r[6] = xc_read(g, (uint32_t)tx, p);
		print_message("%s: READ %s GET_PERMS %s DIRECTORY %s DIRECTORY_PART %s "
		              "SET_PERMS %s RM %s READ in a transaction %s\n", p,
		              ename(r[0]), ename(r[1]), ename(r[2]), ename(r[3]),
		              ename(r[4]), ename(r[5]), ename(r[6]));
		check(r[0] == -EACCES && r[1] == -EACCES && r[2] == -EACCES &&
		      r[3] == -EACCES && r[4] == -EACCES && r[5] == -EACCES &&
		      r[6] == -EACCES, "%s tells a guest whether it exists", p);
	}
	assert_xs(xc_tx_end(g, tx, false), 0);
	/* Under what it may read, missing is ENOENT, and RM of a missing
	 * child is fine. */
	assert_xs(xc_read(g, 0, "missing"), -ENOENT);
	assert_xs(xc_getperms(g, 0, "missing/deeper"), -ENOENT);
	assert_xs(xc_dir(g, 0, "/local/domain/1/missing"), -ENOENT);
	assert_xs(xc_rm(g, 0, "missing"), 0);
	assert_xs(xc_rm(g, 0, "missing/deeper"), -ENOENT);
	/* dom0 still tells the truth. */
	assert_xs(xc_read(d, 0, "/secret/missing"), -ENOENT);
	assert_xs(xc_rm(d, 0, "/secret/missing"), 0);
	end_checks();
}

/* SET_PERMS on a special node is part of its transaction: invisible
 * outside it until commit, gone with an abort. */
static void test_special_perms_in_transaction(void **state)
{
	xc *d = xc_open(0), *d2 = xc_open(0);
	int tx;

	(void)state;
	guest_home(d, 1);
	tx = xc_tx_start(d);
	assert_xs(xc_setperms(d, (uint32_t)tx, "@releaseDomain", "n0", "r1"), 0);
	assert_xs(xc_getperms(d, (uint32_t)tx, "@releaseDomain"), 0);
	assert_strs(d, "n0\0r1\0");
	assert_xs(xc_getperms(d2, 0, "@releaseDomain"), 0);
	assert_strs(d2, "n0\0");
	assert_xs(xc_tx_end(d, tx, false), 0);
	assert_xs(xc_getperms(d2, 0, "@releaseDomain"), 0);
	assert_strs(d2, "n0\0");

	tx = xc_tx_start(d);
	assert_xs(xc_setperms(d, (uint32_t)tx, "@introduceDomain", "n0", "r1"), 0);
	assert_xs(xc_tx_end(d, tx, true), 0);
	assert_xs(xc_getperms(d2, 0, "@introduceDomain"), 0);
	assert_strs(d2, "n0\0r1\0");
	/* A change meanwhile makes the commit a conflict. */
	tx = xc_tx_start(d);
	assert_xs(xc_setperms(d, (uint32_t)tx, "@introduceDomain", "n0"), 0);
	assert_xs(xc_setperms(d2, 0, "@introduceDomain", "n0", "b1"), 0);
	assert_xs(xc_tx_end(d, tx, true), -EAGAIN);
	assert_xs(xc_getperms(d2, 0, "@introduceDomain"), 0);
	assert_strs(d2, "n0\0b1\0");
}

/* CONTROL stats reports the tree's real generation. */
static void test_control_stats_generation(void **state)
{
	xc *d = xc_open(0);
	unsigned long long g1, g2;
	const char *p;

	(void)state;
	assert_xs(xc_req(d, XS_CONTROL, 0, "stats", NULL), 0);
	p = strstr(d->buf, "generation");
	assert_non_null(p);
	g1 = strtoull(p + 10, NULL, 10);
	assert_xs(xc_write(d, 0, "/gen", "1"), 0);
	assert_xs(xc_req(d, XS_CONTROL, 0, "stats", NULL), 0);
	p = strstr(d->buf, "generation");
	assert_non_null(p);
	g2 = strtoull(p + 10, NULL, 10);
	if (g1 == 0 || g2 <= g1 || g2 != stats().generation)
		fail_msg("generation %llu, then %llu after a write; the store's is %llu", g1,
		         g2, (unsigned long long)stats().generation);
}

/* ------------------------------------------------------------------------ */
/* XSA-330 / XSA-484: RESET_WATCHES must drop everything the caller holds,
 * every time, and is not valid inside a transaction. */

static void test_xsa330_reset_watches(void **state)
{
	xc *d = xc_open(0), *g;
	vbd_store_stats s0, s;
	int tx[11], r;
	unsigned it, i;
	char p[32];

	(void)state;
	guest_home(d, 1);
	g = xc_open(1);
	s0 = stats();
	for (it = 0; it < 20; it++) {
		/* The same paths and tokens every round: EEXIST would show that
		 * the previous reset kept them. */
		for (i = 0; i < 100; i++) {
			snprintf(p, sizeof(p), "w%u", i);
			assert_xs(xc_watch(g, p, "t"), 0);
		}
		for (i = 0; i < 10; i++) {
			tx[i] = xc_tx_start(g);
			assert_true(tx[i] > 0);
			snprintf(p, sizeof(p), "w%u", i);
			assert_xs(xc_write(g, tx[i], p, "in-tx"), 0);
		}
		assert_xs(xc_req(g, XS_RESET_WATCHES, 0, "", NULL), 0);
		s = stats();
		assert_int_equal(s.watches, 0);
		assert_int_equal(s.transactions, 0);
		assert_int_equal(s.nodes, s0.nodes);
		assert_xs(xc_read(g, tx[0], "w0"), -ENOENT);
		assert_xs(xc_req(g, XS_RESET_WATCHES, 0, "", NULL), 0);  /* again: fine */
		xc_sync(g);
		xc_clear(g);
	}
	/* The per-domain counters were reset as well, not just the lists. */
	for (i = 0; i < 200; i++) {
		snprintf(p, sizeof(p), "w%u", i);
		r = xc_watch(g, p, "t");
		if (r < 0)
			break;
	}
	assert_xs(r, -E2BIG);
	assert_int_equal(i, 128);
	for (i = 0; i < 11; i++) {
		tx[i] = xc_tx_start(g);
		if (tx[i] < 0)
			break;
	}
	assert_xs(tx[i], -ENOSPC);
	assert_int_equal(i, 10);

	/* Inside a transaction: EINVAL, and nothing dropped. */
	assert_xs(xc_req(g, XS_RESET_WATCHES, tx[0], "", NULL), -EINVAL);
	assert_xs2(xc_req(g, XS_RESET_WATCHES, 0xdead, "", NULL), -EINVAL, -ENOENT);
	s = stats();
	assert_int_equal(s.watches, 128);
	assert_int_equal(s.transactions, 10);
	assert_xs(xc_read(g, tx[0], "w0"), -ENOENT);    /* tx alive, node absent */

	assert_xs(xc_req(g, XS_RESET_WATCHES, 0, "", NULL), 0);
	s = stats();
	assert_int_equal(s.watches, 0);
	assert_int_equal(s.transactions, 0);
	xc_sync(g);
	xc_clear(g);
	/* The dropped watches are really gone. */
	assert_xs(xc_write(d, 0, "/local/domain/1/w0", "x"), 0);
	xc_sync(g);
	assert_int_equal(g->nev, 0);
	s = stats();
	assert_int_equal(s.nodes, s0.nodes + 1);
	assert_true(s.pending_bytes < (16u << 10));
}

/* ------------------------------------------------------------------------ */
/* XSA-322, the other way round: a permission naming a domain that does not
 * exist yet must not reach a domain created later with that id. */

static void test_xsa322_perm_for_absent_domain(void **state)
{
	xc *d = xc_open(0), *g;

	(void)state;
	assert_xs(xc_write(d, 0, "/secret", "s"), 0);
	/* 8 does not exist: the entry is kept (and shown) but grants nothing. */
	assert_xs(xc_setperms(d, 0, "/secret", "n0", "r8"), 0);
	assert_xs(xc_getperms(d, 0, "/secret"), 0);
	assert_strs(d, "n0\0r8\0");
	/* Children inherit the entry, ignored as well. */
	assert_xs(xc_write(d, 0, "/secret/kid", "k"), 0);
	/* An owner that does not exist is refused. */
	assert_xs(xc_setperms(d, 0, "/secret", "n8"), -ENOENT);
	assert_xs(xc_getperms(d, 0, "/secret"), 0);
	assert_strs(d, "n0\0r8\0");

	guest_home(d, 8);
	g = xc_open(8);
	assert_xs(xc_read(g, 0, "/secret"), -EACCES);
	assert_xs(xc_read(g, 0, "/secret/kid"), -EACCES);
	/* Set again now that 8 exists, the same entry does grant. */
	assert_xs(xc_setperms(d, 0, "/secret", "n0", "r8"), 0);
	assert_value(g, 0, "/secret", "s");
	assert_xs(xc_read(g, 0, "/secret/kid"), -EACCES);
}

/* XSA-322 for the special nodes: they cannot be deleted with a released
 * domain, so their ownership goes back to dom0 (found by the fuzzer). */
static void test_xsa322_special_node_owner_released(void **state)
{
	xc *d = xc_open(0);

	(void)state;
	guest_home(d, 6);
	assert_xs(xc_setperms(d, 0, "@releaseDomain", "n6", "r6"), 0);
	assert_xs(xc_getperms(d, 0, "@releaseDomain"), 0);
	assert_strs(d, "n6\0r6\0");
	assert_xs(xc_req(d, XS_RELEASE, 0, "6", NULL), 0);
	assert_xs(xc_getperms(d, 0, "@releaseDomain"), 0);
	assert_strs(d, "n0\0");
}

/* ------------------------------------------------------------------------ */
/* XSA-352: a guest handing a node to another owner (and so its quota). */

static void test_xsa352_owner_change_by_guest(void **state)
{
	xc *d = xc_open(0), *g;
	unsigned n;

	(void)state;
	guest_home(d, 1);
	g = xc_open(1);
	assert_xs(xc_write(g, 0, "node", "v"), 0);
	assert_xs(xc_getperms(g, 0, "node"), 0);
	assert_strs(g, "n1\0");
	assert_xs(xc_setperms(g, 0, "node", "n0"), -EPERM);
	/* To a domain that exists: refused as an owner change. */
	guest_home(d, 2);
	assert_xs(xc_setperms(g, 0, "node", "n2", "r1"), -EPERM);
	/* To one that does not: refused first because it does not (cxenstored's
	 * order), and either way nothing changes. */
	assert_xs(xc_setperms(g, 0, "node", "n9", "r1"), -ENOENT);
	assert_xs(xc_setperms(g, 0, "node", "b0", "b1"), -EPERM);
	assert_xs(xc_getperms(d, 0, "/local/domain/1/node"), 0);
	assert_strs(d, "n1\0");
	/* Too many entries from a guest. */
	assert_xs(xc_setperms(g, 0, "node", "n1", "r2", "r3", "r4", "r5", "r6"), -ENOSPC);
	assert_xs(xc_getperms(g, 0, "node"), 0);
	assert_strs(g, "n1\0");
	/* Keeping the owner is allowed. */
	assert_xs(xc_setperms(g, 0, "node", "n1", "r2"), 0);
	assert_xs(xc_getperms(g, 0, "node"), 0);
	assert_strs(g, "n1\0r2\0");
	assert_value(g, 0, "node", "v");

	/* A node the guest may write but does not own: no perms change, no
	 * taking it over. */
	assert_xs(xc_write(d, 0, "/local/domain/1/dnode", "v"), 0);
	assert_xs(xc_setperms(d, 0, "/local/domain/1/dnode", "n0", "w1"), 0);
	assert_xs(xc_setperms(g, 0, "dnode", "n0", "w1", "r1"), -EACCES);
	assert_xs(xc_setperms(g, 0, "dnode", "n1"), -EACCES);
	assert_xs(xc_write(g, 0, "dnode", "w"), 0);
	assert_xs(xc_getperms(d, 0, "/local/domain/1/dnode"), 0);
	assert_strs(d, "n0\0w1\0");

	/* Ownership decides the quota: dom0 taking a node back frees one. */
	n = fill_quota(g, "q", 20);
	assert_true(n > 0);
	assert_xs(xc_setperms(d, 0, "/local/domain/1/node", "n0", "r1"), 0);
	assert_xs(xc_write(g, 0, "extra", "x"), 0);
	assert_xs(xc_write(g, 0, "extra2", "x"), -ENOSPC);
	assert_xs(xc_setperms(g, 0, "node", "n1"), -EACCES);
}

/* ------------------------------------------------------------------------ */
/* XSA-353: "/" has perms like any node and they are checked. */

static void test_xsa353_root_permissions(void **state)
{
	xc *d = xc_open(0), *g;
	char listing[256];
	int llen;

	(void)state;
	guest_home(d, 1);
	g = xc_open(1);
	assert_xs(xc_getperms(d, 0, "/"), 0);
	assert_strs(d, "n0\0");
	assert_xs(xc_dir(d, 0, "/"), 0);
	assert_true(d->len < (int)sizeof(listing));
	memcpy(listing, d->buf, d->len);
	llen = d->len;

	assert_xs2(xc_write(g, 0, "/", "x"), -EACCES, -EINVAL);
	assert_xs2(xc_rm(g, 0, "/"), -EACCES, -EINVAL);
	assert_xs(xc_rm(d, 0, "/"), -EINVAL);
	assert_xs2(xc_setperms(g, 0, "/", "n1"), -EACCES, -EPERM);
	assert_xs2(xc_setperms(g, 0, "/", "n0", "b1"), -EACCES, -EPERM);
	assert_xs(xc_mkdir(g, 0, "/top"), -EACCES);
	assert_xs(xc_write(g, 0, "/top", "v"), -EACCES);
	assert_xs(xc_write(g, 0, "/top/a/b", "v"), -EACCES);
	assert_xs(xc_setperms(g, 0, "/local", "n1"), -EACCES);
	assert_xs(xc_read(g, 0, "/"), -EACCES);
	assert_xs(xc_dir(g, 0, "/"), -EACCES);
	assert_xs(xc_getperms(g, 0, "/"), -EACCES);
	/* In a transaction too. */
	{
		int tx = xc_tx_start(g);

		assert_true(tx > 0);
		assert_xs(xc_write(g, tx, "/top", "v"), -EACCES);
		assert_xs2(xc_setperms(g, tx, "/", "n1"), -EACCES, -EPERM);
		assert_xs2(xc_tx_end(g, tx, true), 0, -EAGAIN);
	}

	/* Nothing changed. */
	assert_xs(xc_getperms(d, 0, "/"), 0);
	assert_strs(d, "n0\0");
	assert_xs(xc_dir(d, 0, "/"), 0);
	assert_reply(d, listing, llen);
	assert_xs(xc_read(d, 0, "/top"), -ENOENT);

	/* The perms of "/" are really consulted, not hard-coded. */
	assert_xs(xc_setperms(d, 0, "/", "n0", "w1"), 0);
	assert_xs(xc_write(g, 0, "/granted", "v"), 0);
	assert_xs(xc_dir(g, 0, "/"), -EACCES);          /* w is not r */
	assert_xs(xc_setperms(d, 0, "/", "n0"), 0);
	assert_xs(xc_write(g, 0, "/granted2", "v"), -EACCES);
	assert_xs(xc_write(g, 0, "/granted", "w"), 0);  /* its own node */
	assert_xs(xc_rm(d, 0, "/granted"), 0);
	assert_xs(xc_getperms(d, 0, "/"), 0);
	assert_strs(d, "n0\0");
	assert_xs(xc_dir(d, 0, "/"), 0);
	assert_reply(d, listing, llen);
}

/* ------------------------------------------------------------------------ */
/* XSA-414 / XSA-415: a node creation that fails half-way (quota hit while
 * creating parents) inside a transaction must leave nothing behind and
 * keep the owner's node accounting exact. */

static void test_xsa414_failed_create_in_transaction(void **state)
{
	xc *d = xc_open(0), *g1, *g2;
	vbd_store_stats s0;
	char big[3000];
	unsigned n1, n2;
	int tx, r;

	(void)state;
	guest_home(d, 1);
	guest_home(d, 2);       /* the control: same history minus the failures */
	g1 = xc_open(1);
	g2 = xc_open(2);
	make_nodes(g1, "f", 5); /* owns 6 of its 10, home included */
	make_nodes(g2, "f", 5);
	s0 = stats();

	/* Committed: six new nodes, the fifth is over quota. */
	tx = xc_tx_start(g1);
	assert_true(tx > 0);
	assert_xs(xc_write(g1, tx, "p/q/r/s/t/u", "v"), -ENOSPC);
	assert_xs(xc_write(g1, tx, "p/q/r/s/t/u/v/w/x/y/z", "v"), -ENOSPC);
	r = xc_read(g1, tx, "p");
	if (r != -ENOENT)
		print_message("note: after the failed write the transaction sees \"p\": %s\n",
		              ename(r));
	assert_xs(xc_write(g1, tx, "ok", "v"), 0);
	assert_xs(xc_tx_end(g1, tx, true), 0);
	assert_xs(xc_read(g1, 0, "p"), -ENOENT);
	assert_xs(xc_read(d, 0, "/local/domain/1/p"), -ENOENT);
	assert_value(d, 0, "/local/domain/1/ok", "v");
	assert_xs(xc_rm(g1, 0, "ok"), 0);

	/* Aborted. */
	tx = xc_tx_start(g1);
	assert_true(tx > 0);
	assert_xs(xc_write(g1, tx, "p/q/r/s/t/u", "v"), -ENOSPC);
	assert_xs(xc_mkdir(g1, tx, "m/n/o/p/q/r"), -ENOSPC);
	assert_xs(xc_tx_end(g1, tx, false), 0);
	assert_xs(xc_read(d, 0, "/local/domain/1/p"), -ENOENT);
	assert_xs(xc_read(d, 0, "/local/domain/1/m"), -ENOENT);

	/* Outside a transaction, and a failure on the value size after the
	 * parents would have been created. */
	assert_xs(xc_write(g1, 0, "p/q/r/s/t/u", "v"), -ENOSPC);
	assert_xs(xc_mkdir(g1, 0, "m/n/o/p/q/r"), -ENOSPC);
	memset(big, 'b', sizeof(big));
	assert_xs(xc_write_n(g1, 0, "p/q/r", big, sizeof(big)), -ENOSPC);
	tx = xc_tx_start(g1);
	assert_true(tx > 0);
	assert_xs(xc_write_n(g1, tx, "p/q/r", big, sizeof(big)), -ENOSPC);
	assert_xs(xc_tx_end(g1, tx, true), 0);
	assert_xs(xc_read(d, 0, "/local/domain/1/p"), -ENOENT);
	assert_xs(xc_read(d, 0, "/local/domain/1/m"), -ENOENT);
	assert_int_equal(stats().nodes, s0.nodes);
	assert_int_equal(stats().transactions, 0);

	/* The accounting: dom1 can create exactly what the control can. */
	n1 = fill_quota(g1, "z", 20);
	n2 = fill_quota(g2, "z", 20);
	assert_int_equal(n1, n2);
	assert_int_equal(n2, 4);        /* 10 - home - f0..f4 */
	drop_quota(g1, "z", n1);
	assert_int_equal(fill_quota(g1, "y", 20), n2);
}

/* ------------------------------------------------------------------------ */
/* XSA-418: deep trees overflowed recursive tree walks.  The store thread
 * runs on a 256 KiB stack here. */

static void test_xsa418_deep_tree(void **state)
{
	xc *d = xc_open(0), *d2 = xc_open(0);
	char deep[XENSTORE_ABS_PATH_MAX + 8], deep3[XENSTORE_ABS_PATH_MAX + 8];
	vbd_store_stats s0, s;
	size_t n;
	unsigned round;
	int tx;

	(void)state;
	{
		pthread_attr_t at;
		size_t sz = 0;

		/* The store thread really has the small stack. */
		assert_int_equal(pthread_getattr_np(T.loop.thread, &at), 0);
		pthread_attr_getstacksize(&at, &sz);
		pthread_attr_destroy(&at);
		assert_true(sz <= SMALL_STACK);
	}
	for (n = 0; n + 2 <= XENSTORE_ABS_PATH_MAX - 2; n += 2)
		memcpy(deep + n, "/a", 2);
	deep[n] = 0;                    /* 1535 components, 3070 characters */
	assert_int_equal(n, 3070);
	s0 = stats();

	for (round = 0; round < 3; round++) {
		assert_xs(xc_write(d, 0, deep, "bottom"), 0);
		s = stats();
		assert_int_equal(s.nodes, s0.nodes + 1535);
		assert_value(d, 0, deep, "bottom");
		assert_xs(xc_dir(d, 0, deep), 0);
		assert_int_equal(d->len, 0);
		strcpy(deep + n, "/b");         /* 3072: the longest path */
		assert_xs(xc_write(d, 0, deep, "b"), 0);
		assert_xs(xc_getperms(d, 0, deep), 0);
		assert_strs(d, "n0\0");
		strcpy(deep + n, "/bb");
		assert_xs(xc_write(d, 0, deep, "b"), -EINVAL);
		deep[n] = 0;
		assert_xs(xc_dir(d, 0, deep), 0);
		assert_strs(d, "b\0");

		/* A watch at the bottom, one at the top. */
		watch_and_drain(d, deep, "deep", true);
		watch_and_drain(d2, "/a", "top", true);
		tx = xc_tx_start(d);
		assert_true(tx > 0);
		assert_xs(xc_write(d, tx, deep, "in-tx"), 0);
		assert_xs(xc_tx_end(d, tx, true), 0);
		xc_sync(d);
		xc_sync(d2);
		xc_clear(d);
		xc_clear(d2);

		assert_xs(xc_rm(d, 0, "/a"), 0);
		xc_sync(d);
		xc_sync(d2);
		assert_true(xc_take(d, deep, "deep") >= 1);
		assert_true(xc_take(d2, "/a", "top") >= 1);
		xc_clear(d);
		xc_clear(d2);
		assert_xs(xc_read(d, 0, deep), -ENOENT);
		assert_xs(xc_read(d, 0, "/a"), -ENOENT);
		assert_int_equal(stats().nodes, s0.nodes);
		assert_xs(xc_unwatch(d, deep, "deep"), 0);
		assert_xs(xc_unwatch(d2, "/a", "top"), 0);
	}

	/* Built in a transaction, removed in another. */
	tx = xc_tx_start(d);
	assert_true(tx > 0);
	assert_xs(xc_write(d, tx, deep, "t"), 0);
	assert_xs(xc_tx_end(d, tx, true), 0);
	assert_value(d, 0, deep, "t");
	tx = xc_tx_start(d);
	assert_true(tx > 0);
	assert_xs(xc_rm(d, tx, "/a"), 0);
	assert_xs(xc_tx_end(d, tx, true), 0);
	assert_xs(xc_read(d, 0, "/a"), -ENOENT);
	assert_int_equal(stats().nodes, s0.nodes);

	/* A deep tree owned by a domain that is then released.  Over the wire,
	 * so that the deletion runs on the store's small stack. */
	assert_xs(xc_req(d, XS_INTRODUCE, 0, "3", "1", "1", NULL), 0);
	assert_xs(xc_mkdir(d, 0, "/local/domain"), 0);
	s0 = stats();
	n = snprintf(deep3, sizeof(deep3), "/local/domain/3");
	assert_xs(xc_mkdir(d, 0, deep3), 0);
	assert_xs(xc_setperms(d, 0, deep3, "n3"), 0);
	while (n + 2 <= XENSTORE_ABS_PATH_MAX) {
		memcpy(deep3 + n, "/a", 2);
		n += 2;
	}
	deep3[n] = 0;
	assert_xs(xc_write(d, 0, deep3, "x"), 0);
	assert_xs(xc_req(d, XS_RELEASE, 0, "3", NULL), 0);
	assert_xs(xc_read(d, 0, "/local/domain/3"), -ENOENT);
	assert_int_equal(stats().nodes, s0.nodes);
	assert_xs(xc_write(d, 0, "/alive", "yes"), 0);
}

/* ------------------------------------------------------------------------ */
/* XSA-322 / XSA-417 / XSA-419 / XSA-483: what a destroyed domain owned and
 * was granted must go with it, so that a new domain reusing its id
 * inherits nothing, nodes nor access nor quota use. */

static void test_xsa322_destroyed_domain_and_domid_reuse(void **state)
{
	xc *d = xc_open(0), *g7, *g8, *g9;
	vbd_store_stats s1, s2;
	unsigned a, b, c;
	int tx, r;

	(void)state;
	assert_xs(xc_req(d, XS_INTRODUCE, 0, "7", "1", "1", NULL), 0);
	assert_xs(xc_mkdir(d, 0, "/local/domain/7"), 0);
	assert_xs(xc_setperms(d, 0, "/local/domain/7", "n7"), 0);
	guest_home(d, 8);               /* the control, never released */
	assert_xs(xc_write(d, 0, "/tool/shared", "secret"), 0);
	assert_xs(xc_setperms(d, 0, "/tool/shared", "n0", "r7", "w8"), 0);
	assert_xs(xc_write(d, 0, "/tool/owned7", "x"), 0);
	assert_xs(xc_setperms(d, 0, "/tool/owned7", "n7"), 0);
	/* Domain 9 is 7's device model: full access to 7's nodes. */
	assert_int_equal(vbd_test_store_domain_add(&T, 9), 0);
	assert_xs(xc_req(d, XS_SET_TARGET, 0, "9", "7", NULL), 0);
	/* 8 may write in 7's home; what it creates there is 8's. */
	assert_xs(xc_setperms(d, 0, "/local/domain/7", "n7", "w8"), 0);
	/* A dom0-owned subtree inside 7's home goes with the home. */
	assert_xs(xc_write(d, 0, "/local/domain/7/backend/x", "y"), 0);
	assert_xs(xc_setperms(d, 0, "/local/domain/7/backend", "n0"), 0);
	watch_and_drain(d, "@releaseDomain", "rel", true);

	g7 = xc_open(7);
	assert_xs(xc_write(g7, 0, "data/a", "1"), 0);
	assert_xs(xc_write(g7, 0, "data/b", "2"), 0);
	assert_value(g7, 0, "/tool/shared", "secret");
	g8 = xc_open(8);
	assert_xs(xc_write(g8, 0, "/local/domain/7/from8", "8"), 0);
	assert_xs(xc_getperms(g8, 0, "/local/domain/7/from8"), 0);
	assert_true(g8->len >= 3 && !memcmp(g8->buf, "n8\0", 3));
	g9 = xc_open(9);
	assert_value(g9, 0, "/local/domain/7/data/a", "1");
	watch_and_drain(g7, "data", "w", true);
	assert_true(xc_tx_start(g7) > 0);
	/* home, data, a, b, owned7, backend/x: 6 of 20 */
	a = fill_quota(g7, "q", 40);
	assert_int_equal(a, 14);
	s1 = stats();

	assert_xs(xc_req(d, XS_RELEASE, 0, "7", NULL), 0);
	xc_sync(d);
	assert_int_equal(xc_take(d, "@releaseDomain", "rel"), 1);
	s2 = stats();
	/* home subtree: home, data, a, b, q0..q13, backend, x, from8; and
	 * owned7 */
	assert_int_equal(s1.nodes - s2.nodes, 8 + a);
	assert_int_equal(s2.domains, 2);
	assert_int_equal(s2.transactions, 0);
	assert_int_equal(s2.watches, 1);
	assert_xs(xc_read(d, 0, "/local/domain/7"), -ENOENT);
	assert_xs(xc_read(d, 0, "/tool/owned7"), -ENOENT);
	assert_xs(xc_getperms(d, 0, "/tool/shared"), 0);
	assert_strs(d, "n0\0w8\0");
	assert_value(d, 0, "/tool/shared", "secret");
	expect_closed(g7);
	xc_close(g7);
	assert_true(vbd_test_raw_connect(&T, 7) < 0);

	/* A new domain 7. */
	assert_xs(xc_req(d, XS_INTRODUCE, 0, "7", "2", "2", NULL), 0);
	assert_xs(xc_req(d, XS_IS_DOMAIN_INTRODUCED, 0, "7", NULL), 0);
	assert_strs(d, "T\0");
	assert_xs(xc_mkdir(d, 0, "/local/domain/7"), 0);
	assert_xs(xc_setperms(d, 0, "/local/domain/7", "n7"), 0);
	g7 = xc_open(7);
	assert_xs(xc_read(g7, 0, "/tool/shared"), -EACCES);
	assert_xs(xc_write(g7, 0, "/tool/shared", "mine"), -EACCES);
	assert_xs(xc_read(g7, 0, "/tool/owned7"), -EACCES);   /* gone, and hidden */
	assert_xs(xc_write(g7, 0, "/tool/owned7", "x"), -EACCES);
	assert_xs(xc_read(g7, 0, "data/a"), -ENOENT);
	assert_xs(xc_read(g7, 0, "backend/x"), -ENOENT);
	assert_xs(xc_dir(g7, 0, "/local/domain/7"), 0);
	assert_int_equal(g7->len, 0);
	/* Its old watch is gone too: nothing fires. */
	assert_xs(xc_write(d, 0, "/local/domain/7/data", "new"), 0);
	xc_sync(g7);
	assert_int_equal(g7->nev, 0);
	assert_xs(xc_rm(d, 0, "/local/domain/7/data"), 0);
	/* The target relation died with the old 7. */
	assert_xs(xc_read(g9, 0, "/local/domain/7"), -EACCES);
	assert_xs(xc_write(g9, 0, "/local/domain/7/dm", "x"), -EACCES);
	/* Quota use starts from zero, like a fresh domain's; and 8 got back
	 * the node that went with 7's home. */
	b = fill_quota(g7, "q", 40);
	c = fill_quota(g8, "q", 40);
	assert_int_equal(b, c);
	assert_int_equal(c, 19);
	/* dom8's grant survived 7's release and still works. */
	assert_xs(xc_write(g8, 0, "/tool/shared", "by8"), 0);

	/* A transaction begun before a release may not carry a grant to the
	 * released id past it: commit it between release and reuse, then
	 * see what the new 7 may read.  (EAGAIN at commit would do too.) */
	assert_xs(xc_mkdir(d, 0, "/tool2"), 0);
	tx = xc_tx_start(d);
	assert_true(tx > 0);
	assert_xs(xc_write(d, tx, "/tool2/y", "stale"), 0);
	assert_xs(xc_setperms(d, tx, "/tool2/y", "n0", "r7"), 0);
	assert_xs(xc_req(d, XS_RELEASE, 0, "7", NULL), 0);
	r = xc_tx_end(d, tx, true);
	assert_xs2(r, 0, -EAGAIN);
	assert_xs(xc_req(d, XS_INTRODUCE, 0, "7", "3", "3", NULL), 0);
	xc_close(g7);
	g7 = xc_open(7);
	r = xc_read(g7, 0, "/tool2/y");
	check(r == -EACCES || r == -ENOENT,
	      "a grant to 7 committed after 7's release reaches the next 7: %s", ename(r));
	end_checks();
}

/* ------------------------------------------------------------------------ */
/* XSA-421: nodes created and deleted inside one transaction broke the
 * quota accounting (and let a guest create arbitrarily many nodes). */

static void test_xsa421_create_delete_in_transaction(void **state)
{
	xc *d = xc_open(0), *g1, *g2;
	vbd_store_stats s0, s;
	unsigned round, j, i, n1, n2;
	char p[32];
	int tx;

	(void)state;
	guest_home(d, 1);
	guest_home(d, 2);
	g1 = xc_open(1);
	g2 = xc_open(2);
	watch_and_drain(d, "/local/domain/1", "dw", true);
	watch_and_drain(g1, "/local/domain/1", "gw", true);
	s0 = stats();

	for (round = 0; round < 5; round++) {
		tx = xc_tx_start(g1);
		assert_true(tx > 0);
		assert_xs(xc_write(g1, tx, "n", "v"), 0);
		assert_xs(xc_rm(g1, tx, "n"), 0);
		assert_xs(xc_write(g1, tx, "sub/a/b", "v"), 0);
		assert_xs(xc_write(g1, tx, "sub/c", "v"), 0);
		assert_xs(xc_rm(g1, tx, "sub"), 0);
		/* More creations in one transaction than the quota, never more
		 * than 8 alive at once.  A daemon that counts every creation may
		 * say ENOSPC; one that undercounts deletions shows below. */
		for (j = 0; j < 3; j++) {
			for (i = 0; i < 8; i++) {
				snprintf(p, sizeof(p), "m%u", i);
				assert_xs2(xc_write(g1, tx, p, "v"), 0, -ENOSPC);
			}
			for (i = 0; i < 8; i++) {
				snprintf(p, sizeof(p), "m%u", i);
				assert_xs(xc_rm(g1, tx, p), 0);
			}
		}
		assert_xs(xc_read(d, 0, "/local/domain/1/sub"), -ENOENT);
		assert_xs(xc_tx_end(g1, tx, true), 0);
	}
	assert_xs(xc_read(g1, 0, "n"), -ENOENT);
	assert_xs(xc_read(g1, 0, "sub"), -ENOENT);
	assert_xs(xc_read(d, 0, "/local/domain/1/m0"), -ENOENT);
	assert_xs(xc_dir(d, 0, "/local/domain/1"), 0);
	assert_int_equal(d->len, 0);
	s = stats();
	assert_int_equal(s.nodes, s0.nodes);
	assert_int_equal(s.transactions, 0);

	/* Events, if any, stay inside the guest's home and are well formed. */
	xc_sync(d);
	xc_sync(g1);
	for (i = 0; i < d->nev; i++)
		assert_true(!strncmp(d->ev[i].path, "/local/domain/1", 15));
	for (i = 0; i < g1->nev; i++)
		assert_true(!strncmp(g1->ev[i].path, "/local/domain/1", 15));
	print_message("create+delete: %u events to dom0, %u to the guest\n", d->nev, g1->nev);
	xc_clear(d);
	xc_clear(g1);

	/* Exact accounting: same room as the untouched control. */
	n1 = fill_quota(g1, "z", 40);
	n2 = fill_quota(g2, "z", 40);
	assert_int_equal(n1, n2);
	assert_int_equal(n2, 9);
	/* And deleting in a transaction what exists outside frees quota once. */
	tx = xc_tx_start(g1);
	assert_true(tx > 0);
	assert_xs(xc_rm(g1, tx, "z0"), 0);
	assert_xs(xc_write(g1, tx, "z0", "again"), 0);
	assert_xs(xc_rm(g1, tx, "z0"), 0);
	assert_xs(xc_tx_end(g1, tx, true), 0);
	assert_xs(xc_read(g1, 0, "z0"), -ENOENT);
	assert_xs(xc_write(g1, 0, "extra", "x"), 0);
	assert_xs(xc_write(g1, 0, "extra2", "x"), -ENOSPC);
}

/* ------------------------------------------------------------------------ */
/* XSA-481: "/local/domain/" spellings.  Paths are never canonicalised:
 * anything but the one spelling is EINVAL, so no spelling reaches another
 * domain's home. */

static const char *const bad_paths[] = {
	"/local/domain//1",
	"/local/domain/1/",
	"local/domain/../2",
	"/local/domain/1/./x",
	"/local/domain/2/secret/",
	"//local/domain/2/secret",
	"/local//domain/2/secret",
	"/local/domain/2//secret",
	"/local/domain/./2/secret",
	"/local/domain/1/../2/secret",
	"/local/domain/2/./secret",
	"../2/secret",
	"../../domain/2/secret",
	"./x",
	".",
	"..",
	"",
	"/local/domain/ 2/secret",
	"/local/domain/2\\secret",
	"/local/domain/+2/secret",
	"/local/domain/2/secret%00",
	"@local/domain/2",
	"/local/domain/2/secret\n",
};

static void test_xsa481_local_domain_canonicalisation(void **state)
{
	xc *d = xc_open(0), *g;
	char rel[2100];
	size_t i;

	(void)state;
	guest_home(d, 1);
	guest_home(d, 2);
	assert_xs(xc_write(d, 0, "/local/domain/2/secret", "s2"), 0);
	assert_xs(xc_write(d, 0, "/local/domain/1/mine", "m1"), 0);
	g = xc_open(1);

	for (i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		const char *p = bad_paths[i];

#define assert_einval(expr) do { \
	int r_ = (expr); \
	if (r_ != -EINVAL) \
		fail_msg("path \"%s\": %s: got %s, want EINVAL", p, #expr, ename(r_)); \
} while (0)
		assert_einval(xc_read(g, 0, p));
		assert_einval(xc_write(g, 0, p, "pwn"));
		assert_einval(xc_mkdir(g, 0, p));
		assert_einval(xc_rm(g, 0, p));
		assert_einval(xc_dir(g, 0, p));
		assert_einval(xc_getperms(g, 0, p));
		assert_einval(xc_setperms(g, 0, p, "n1"));
		assert_einval(xc_watch(g, p, "t"));
		assert_einval(xc_read(d, 0, p));
		assert_einval(xc_write(d, 0, p, "pwn"));
		assert_einval(xc_mkdir(d, 0, p));
		assert_einval(xc_rm(d, 0, p));
		assert_einval(xc_setperms(d, 0, p, "n1"));
#undef assert_einval
	}

	/* Valid spellings that are other nodes, or 2's own: no access. */
	assert_xs(xc_read(g, 0, "/local/domain/2/secret"), -EACCES);
	assert_xs(xc_write(g, 0, "/local/domain/2/secret", "pwn"), -EACCES);
	assert_xs(xc_rm(g, 0, "/local/domain/2/secret"), -EACCES);
	assert_xs(xc_rm(g, 0, "/local/domain/2"), -EACCES);
	assert_xs(xc_dir(g, 0, "/local/domain/2"), -EACCES);
	assert_xs(xc_read(g, 0, "/local/domain/02/secret"), -EACCES);  /* hidden */
	assert_xs(xc_write(g, 0, "/local/domain/02/secret", "pwn"), -EACCES);
	assert_xs(xc_read(g, 0, "local/domain/2/secret"), -ENOENT);
	assert_xs(xc_write(g, 0, "local/domain/2/secret", "own"), 0);   /* under 1's home */
	assert_value(d, 0, "/local/domain/1/local/domain/2/secret", "own");
	assert_value(g, 0, "mine", "m1");
	assert_value(g, 0, "/local/domain/1/mine", "m1");

	/* A watch on 2's home reports nothing of it. */
	assert_xs2(xc_watch(g, "/local/domain/2", "spy"), 0, -EACCES);
	xc_sync(g);
	xc_clear(g);
	assert_xs(xc_write(d, 0, "/local/domain/2/secret", "s3"), 0);
	assert_xs(xc_rm(d, 0, "/local/domain/2/secret"), 0);
	assert_xs(xc_write(d, 0, "/local/domain/2/secret", "s2"), 0);
	xc_sync(g);
	assert_int_equal(g->nev, 0);

	/* Relative path length limit. */
	memset(rel, 'r', 2049);
	rel[2049] = 0;
	assert_xs(xc_write(g, 0, rel, "v"), -EINVAL);
	rel[2048] = 0;
	assert_xs(xc_write(g, 0, rel, "v"), 0);
	assert_xs(xc_rm(g, 0, rel), 0);

	assert_xs(xc_req(g, XS_GET_DOMAIN_PATH, 0, "2", NULL), 0);
	assert_strs(g, "/local/domain/2\0");
	assert_xs(xc_req(g, XS_GET_DOMAIN_PATH, 0, "x", NULL), -EINVAL);

	/* Nothing moved. */
	assert_value(d, 0, "/local/domain/2/secret", "s2");
	assert_xs(xc_getperms(d, 0, "/local/domain/2/secret"), 0);
	assert_strs(d, "n2\0");
	assert_xs(xc_dir(d, 0, "/local/domain/2"), 0);
	assert_strs(d, "secret\0");
	assert_value(d, 0, "/local/domain/1/mine", "m1");
	assert_xs(xc_read(d, 0, "/local/domain/1/x"), -ENOENT);
	assert_xs(xc_read(d, 0, "/local/domain/02"), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_xsa72_oversized_payload,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_xsa115_watch_event_leak,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_xsa324_huge_watch_token,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_xsa325_release_after_conn_close,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_xsa326_unread_replies_and_floods,
		                                setup_xsa326, teardown),
		cmocka_unit_test_setup_teardown(test_xsa326_memory_quota,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_txn_ids_per_connection,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_guest_existence_oracle,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_special_perms_in_transaction,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_control_stats_generation,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_xsa330_reset_watches,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_xsa352_owner_change_by_guest,
		                                setup_small_quota, teardown),
		cmocka_unit_test_setup_teardown(test_xsa353_root_permissions,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_xsa414_failed_create_in_transaction,
		                                setup_small_quota, teardown),
		cmocka_unit_test_setup_teardown(test_xsa418_deep_tree,
		                                setup_small_stack, teardown),
		cmocka_unit_test_setup_teardown(test_xsa322_perm_for_absent_domain,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_xsa322_special_node_owner_released,
		                                setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_xsa322_destroyed_domain_and_domid_reuse,
		                                setup_quota20, teardown),
		cmocka_unit_test_setup_teardown(test_xsa421_create_delete_in_transaction,
		                                setup_small_quota, teardown),
		cmocka_unit_test_setup_teardown(test_xsa481_local_domain_canonicalisation,
		                                setup_default, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
