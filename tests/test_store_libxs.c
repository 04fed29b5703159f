/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_store_libxs - every xenstore message type through the real
 * libxenstore (xenstore.h, -lxenstore) against the embedded store, plus raw
 * sockets for what libxenstore never sends.
 *
 * Each test gets a fresh store (per-test setup) and checks the exact reply
 * or the exact errno that /tmp/store-semantics.md promises.  Whether a watch
 * event did NOT arrive is decided without timeouts: after the change under
 * test, dom0 writes a "sync" node that the watcher also watches, and the
 * watcher reads events until the sync event.  The store handles requests in
 * order, so an event for the earlier change would have come first.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <xenstore.h>
#include <xen/io/xs_wire.h>

#include "store_fixture.h"

#define MAX_HANDLES 40
#define MAX_FDS 8
#define EVENT_TIMEOUT_MS 5000

struct fx {
	vbd_test_store t;
	bool started;
	struct xs_handle *h0;
	struct xs_handle *hs[MAX_HANDLES];
	unsigned nh;
	int fds[MAX_FDS];
	unsigned nfd;
	unsigned sync_seq;
};

/* Small limits for the quota tests. */
static const vbd_store_limits small_limits = {
	.nodes_per_domain = 8,
	.watches_per_domain = 3,
	.transactions_per_conn = 2,
	.nodes_per_transaction = 4,
	.perms_per_node = 3,
	.value_size = 16,
	.outstanding = 20,
	.max_payload = 4096,
	.max_pending_bytes = 256u << 10,
	.max_pending_bytes_priv = 16u << 20,
	.conns_per_domain = 64,
};

/* ------------------------------------------------------------------ */
/* Fixture                                                             */

static int start(void **state, const vbd_store_limits *limits)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (vbd_test_store_start(&f->t, limits) < 0) {
		free(f);
		return -1;
	}
	f->started = true;
	f->h0 = vbd_test_xs_open(&f->t, 0);
	if (!f->h0) {
		vbd_test_store_stop(&f->t);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return start(state, NULL);
}

static int setup_small(void **state)
{
	return start(state, &small_limits);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	unsigned i;
	int r = 0;
	char *ok;

	if (!f)
		return 0;
	/* Whatever the test did, the store's per-domain node counts and node
	 * memory still match its tree (CONTROL check recounts them). */
	ok = xs_control_command(f->h0, "check", NULL, 0);
	if (!ok) {
		print_error("CONTROL check after the test: %s\n", strerror(errno));
		r = -1;
	}
	free(ok);
	for (i = 0; i < f->nh; i++)
		xs_close(f->hs[i]);
	for (i = 0; i < f->nfd; i++)
		close(f->fds[i]);
	xs_close(f->h0);
	if (f->started)
		vbd_test_store_stop(&f->t);
	free(f);
	return r;
}

/* A libxenstore handle on domid's socket, closed by the teardown. */
static struct xs_handle *open_h(struct fx *f, unsigned domid)
{
	struct xs_handle *h = vbd_test_xs_open(&f->t, domid);

	assert_non_null(h);
	assert_true(f->nh < MAX_HANDLES);
	f->hs[f->nh++] = h;
	return h;
}

/* Closes a handle opened with open_h before the teardown. */
static void close_h(struct fx *f, struct xs_handle *h)
{
	unsigned i;

	for (i = 0; i < f->nh; i++) {
		if (f->hs[i] == h) {
			f->hs[i] = f->hs[--f->nh];
			break;
		}
	}
	xs_close(h);
}

static int raw_open(struct fx *f, unsigned domid)
{
	int fd = vbd_test_raw_connect(&f->t, domid);

	assert_true(fd >= 0);
	assert_true(f->nfd < MAX_FDS);
	f->fds[f->nfd++] = fd;
	return fd;
}

/* A closed client is noticed by the store asynchronously: waits (up to 5 s)
 * until it has `want` connections, and returns the stats. */
static void wait_connections(struct fx *f, uint64_t want, vbd_store_stats *st)
{
	unsigned i;

	for (i = 0; i < 500; i++) {
		vbd_test_store_stats(&f->t, st);
		if (st->connections == want)
			return;
		usleep(10000);
	}
	fail_msg("store has %llu connections, expected %llu",
	         (unsigned long long)st->connections, (unsigned long long)want);
}

/* ------------------------------------------------------------------ */
/* Helpers on values and permissions                                   */

static void write_str(struct xs_handle *h, xs_transaction_t t, const char *path,
                      const char *val)
{
	if (!xs_write(h, t, path, val, strlen(val)))
		fail_msg("xs_write(%s, %s): %s", path, val, strerror(errno));
}

static void assert_read(struct xs_handle *h, xs_transaction_t t,
                        const char *path, const char *expect)
{
	unsigned len = 0;
	char *v = xs_read(h, t, path, &len);

	if (!v)
		fail_msg("xs_read(%s): %s, expected \"%s\"", path, strerror(errno), expect);
	assert_int_equal(len, strlen(expect));
	assert_string_equal(v, expect);
	free(v);
}

static void assert_read_err(struct xs_handle *h, xs_transaction_t t,
                            const char *path, int err)
{
	unsigned len;
	char *v = xs_read(h, t, path, &len);
	int e = errno;

	if (v)
		fail_msg("xs_read(%s) returned \"%s\", expected %s", path, v, strerror(err));
	assert_int_equal(e, err);
}

static void assert_write_err(struct xs_handle *h, xs_transaction_t t,
                             const char *path, const char *val, int err)
{
	bool ok = xs_write(h, t, path, val, strlen(val));
	int e = errno;

	if (ok)
		fail_msg("xs_write(%s) succeeded, expected %s", path, strerror(err));
	assert_int_equal(e, err);
}

/* "n0,r5,b6" -> array.  Returns the count. */
static unsigned parse_perms(const char *s, struct xs_permissions *p, unsigned max)
{
	unsigned n = 0;

	while (*s) {
		char *end;

		assert_true(n < max);
		switch (*s) {
		case 'n': p[n].perms = XS_PERM_NONE; break;
		case 'r': p[n].perms = XS_PERM_READ; break;
		case 'w': p[n].perms = XS_PERM_WRITE; break;
		case 'b': p[n].perms = XS_PERM_READ | XS_PERM_WRITE; break;
		default: fail_msg("bad perm spec %s", s);
		}
		p[n].id = strtoul(s + 1, &end, 10);
		n++;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

static bool set_perms(struct xs_handle *h, xs_transaction_t t, const char *path,
                      const char *spec)
{
	struct xs_permissions p[16];
	unsigned n = parse_perms(spec, p, 16);

	return xs_set_permissions(h, t, path, p, n);
}

static void set_perms_ok(struct xs_handle *h, const char *path, const char *spec)
{
	if (!set_perms(h, XBT_NULL, path, spec))
		fail_msg("xs_set_permissions(%s, %s): %s", path, spec, strerror(errno));
}

/* Perms of path as "n0,r5" (empty string and errno on failure). */
static void get_perms_str(struct xs_handle *h, const char *path, char *buf, size_t size)
{
	unsigned n = 0, i;
	struct xs_permissions *p = xs_get_permissions(h, XBT_NULL, path, &n);
	size_t off = 0;

	buf[0] = 0;
	if (!p)
		fail_msg("xs_get_permissions(%s): %s", path, strerror(errno));
	for (i = 0; i < n; i++) {
		char c;

		switch (p[i].perms & (XS_PERM_READ | XS_PERM_WRITE)) {
		case XS_PERM_READ: c = 'r'; break;
		case XS_PERM_WRITE: c = 'w'; break;
		case XS_PERM_READ | XS_PERM_WRITE: c = 'b'; break;
		default: c = 'n'; break;
		}
		off += snprintf(buf + off, size - off, "%s%c%u", i ? "," : "", c, p[i].id);
		assert_true(off < size);
	}
	free(p);
}

static void assert_perms(struct xs_handle *h, const char *path, const char *expect)
{
	char buf[256];

	get_perms_str(h, path, buf, sizeof(buf));
	assert_string_equal(buf, expect);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Directory listing sorted and joined with ',' ("" if empty). */
static void assert_dir(struct xs_handle *h, xs_transaction_t t, const char *path,
                       const char *expect)
{
	unsigned n = 0, i;
	char **d = xs_directory(h, t, path, &n);
	char buf[4096];
	size_t off = 0;

	if (!d)
		fail_msg("xs_directory(%s): %s", path, strerror(errno));
	qsort(d, n, sizeof(*d), cmp_str);
	buf[0] = 0;
	for (i = 0; i < n; i++) {
		off += snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? "," : "", d[i]);
		assert_true(off < sizeof(buf));
	}
	free(d);
	assert_string_equal(buf, expect);
}

/* Introduces domid through XS_INTRODUCE and gives it a home it owns, as a
 * toolstack does.  Returns a handle on its socket. */
static struct xs_handle *guest(struct fx *f, unsigned domid)
{
	char home[64];

	char owner[16];

	assert_true(xs_introduce_domain(f->h0, domid, 1000 + domid, 1));
	snprintf(home, sizeof(home), "/local/domain/%u", domid);
	assert_true(xs_mkdir(f->h0, XBT_NULL, home));
	snprintf(owner, sizeof(owner), "n%u", domid);
	set_perms_ok(f->h0, home, owner);
	return open_h(f, domid);
}

/* Introduces domid without writing any node.  Returns a handle. */
static struct xs_handle *guest_bare(struct fx *f, unsigned domid)
{
	assert_true(xs_introduce_domain(f->h0, domid, 1000 + domid, 1));
	return open_h(f, domid);
}

/* ------------------------------------------------------------------ */
/* Watch helpers                                                       */

/* The next watch event within timeout_ms, through xs_fileno + xs_check_watch. */
static char **next_event(struct xs_handle *h, int timeout_ms)
{
	struct timespec start, now;
	int fd = xs_fileno(h);

	assert_true(fd >= 0);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char **ev = xs_check_watch(h);
		long left;

		if (ev)
			return ev;
		assert_int_equal(errno, EAGAIN);
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
		                     (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			return NULL;
		(void)poll(&p, 1, (int)left);
	}
}

static void expect_event(struct xs_handle *h, const char *path, const char *token)
{
	char **ev = next_event(h, EVENT_TIMEOUT_MS);

	if (!ev)
		fail_msg("no watch event (expected %s %s)", path, token);
	if (strcmp(ev[XS_WATCH_PATH], path) || strcmp(ev[XS_WATCH_TOKEN], token))
		fail_msg("event (%s, %s), expected (%s, %s)", ev[XS_WATCH_PATH],
		         ev[XS_WATCH_TOKEN], path, token);
	free(ev);
}

#define MAX_EV 32
struct evlist {
	unsigned n;
	char path[MAX_EV][256];
	char token[MAX_EV][64];
};

/* Creates the sync node (readable by every domain) and watches it from w. */
static void sync_arm(struct fx *f, struct xs_handle *w, const char *path)
{
	write_str(f->h0, XBT_NULL, path, "0");
	set_perms_ok(f->h0, path, "r0");
	assert_true(xs_watch(w, path, "sync"));
	expect_event(w, path, "sync");
}

/* dom0 writes the sync node; returns in *l every event w got before the
 * sync event. */
static void sync_collect(struct fx *f, struct xs_handle *w, const char *path,
                         struct evlist *l)
{
	char val[16];

	snprintf(val, sizeof(val), "%u", ++f->sync_seq);
	l->n = 0;
	write_str(f->h0, XBT_NULL, path, val);
	for (;;) {
		char **ev = next_event(w, EVENT_TIMEOUT_MS);

		if (!ev)
			fail_msg("sync event for %s never came", path);
		if (!strcmp(ev[XS_WATCH_TOKEN], "sync") &&
		    !strcmp(ev[XS_WATCH_PATH], path)) {
			free(ev);
			return;
		}
		if (l->n < MAX_EV) {
			snprintf(l->path[l->n], sizeof(l->path[0]), "%s", ev[XS_WATCH_PATH]);
			snprintf(l->token[l->n], sizeof(l->token[0]), "%s", ev[XS_WATCH_TOKEN]);
		}
		l->n++;
		free(ev);
	}
}

static void assert_no_events(struct fx *f, struct xs_handle *w, const char *sync)
{
	struct evlist l;

	sync_collect(f, w, sync, &l);
	if (l.n)
		fail_msg("%u unexpected event(s), first (%s, %s)", l.n, l.path[0], l.token[0]);
}

/* Exactly one event (path, token) before the sync event. */
static void assert_only_event(struct fx *f, struct xs_handle *w, const char *sync,
                              const char *path, const char *token)
{
	struct evlist l;

	sync_collect(f, w, sync, &l);
	if (l.n != 1)
		fail_msg("%u events, expected only (%s, %s)%s%s", l.n, path, token,
		         l.n ? "; first " : "", l.n ? l.path[0] : "");
	assert_string_equal(l.path[0], path);
	assert_string_equal(l.token[0], token);
}

static bool evlist_has(const struct evlist *l, const char *path, const char *token)
{
	unsigned i;

	for (i = 0; i < l->n && i < MAX_EV; i++)
		if (!strcmp(l->path[i], path) && !strcmp(l->token[i], token))
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* Raw socket helpers                                                  */

static uint32_t raw_req_id = 0x1000;

/* Sends one request and returns the reply's payload length; events that
 * arrive before the reply are counted in *events (NULL: none allowed). */
static int raw_call(int fd, uint32_t type, uint32_t tx, const void *payload,
                    uint32_t len, uint32_t *rtype, char *buf, size_t size,
                    unsigned *events)
{
	uint32_t id = ++raw_req_id, ty, rid, rtx;
	int n;

	assert_int_equal(vbd_test_raw_send(fd, type, id, tx, payload, len), 0);
	for (;;) {
		n = vbd_test_raw_recv(fd, &ty, &rid, &rtx, buf, size, EVENT_TIMEOUT_MS);
		if (n < 0)
			fail_msg("raw reply to type %u: %s", type, strerror(-n));
		if (ty != XS_WATCH_EVENT)
			break;
		if (!events)
			fail_msg("unexpected watch event %s", buf);
		(*events)++;
	}
	assert_int_equal(rid, id);
	assert_int_equal(rtx, tx);
	*rtype = ty;
	return n;
}

static void raw_expect_error(int fd, uint32_t type, uint32_t tx, const void *payload,
                             uint32_t len, const char *err)
{
	char buf[4200];
	uint32_t ty;
	int n = raw_call(fd, type, tx, payload, len, &ty, buf, sizeof(buf), NULL);

	if (ty != XS_ERROR)
		fail_msg("type %u: reply type %u \"%s\", expected XS_ERROR %s", type, ty, buf, err);
	assert_int_equal(n, strlen(err) + 1);
	assert_string_equal(buf, err);
}

static void raw_expect_ok(int fd, uint32_t type, uint32_t tx, const void *payload,
                          uint32_t len)
{
	char buf[4200];
	uint32_t ty;
	int n = raw_call(fd, type, tx, payload, len, &ty, buf, sizeof(buf), NULL);

	if (ty != type)
		fail_msg("type %u: reply type %u \"%s\", expected OK", type, ty, buf);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "OK\0", 3);
}

/* WATCH on a raw socket: the OK reply, then the initial event.  Returns
 * the reply type (XS_ERROR: buf holds the error and no event follows). */
static uint32_t raw_watch(int fd, const char *path, const char *token, char *buf,
                          size_t size)
{
	char req[512];
	uint32_t ty, ety;
	int len = snprintf(req, sizeof(req), "%s%c%s", path, 0, token) + 1;
	int n;

	raw_call(fd, XS_WATCH, 0, req, len, &ty, buf, size, NULL);
	if (ty != XS_WATCH)
		return ty;
	n = vbd_test_raw_recv(fd, &ety, NULL, NULL, req, sizeof(req), EVENT_TIMEOUT_MS);
	assert_true(n > 0);
	assert_int_equal(ety, XS_WATCH_EVENT);
	assert_string_equal(req, path);
	return ty;
}

/* TRANSACTION_START on a raw socket; returns the id. */
static uint32_t raw_txn_start(int fd)
{
	char buf[64];
	uint32_t ty;
	int n = raw_call(fd, XS_TRANSACTION_START, 0, "", 1, &ty, buf, sizeof(buf), NULL);

	assert_int_equal(ty, XS_TRANSACTION_START);
	assert_true(n >= 2);
	assert_int_equal(buf[n - 1], 0);
	return (uint32_t)strtoul(buf, NULL, 10);
}

/* ================================================================== */
/* Basic operations                                                    */

static void test_write_read(void **state)
{
	struct fx *f = *state;
	unsigned len = 99;
	char *v;

	write_str(f->h0, XBT_NULL, "/a", "hello");
	assert_read(f->h0, XBT_NULL, "/a", "hello");

	/* Overwrite, binary value with an embedded NUL, empty value. */
	write_str(f->h0, XBT_NULL, "/a", "x");
	assert_read(f->h0, XBT_NULL, "/a", "x");
	assert_true(xs_write(f->h0, XBT_NULL, "/bin", "a\0b", 3));
	v = xs_read(f->h0, XBT_NULL, "/bin", &len);
	assert_non_null(v);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "a\0b", 3);
	free(v);
	assert_true(xs_write(f->h0, XBT_NULL, "/empty", "", 0));
	assert_read(f->h0, XBT_NULL, "/empty", "");
}

static void test_read_missing_enoent(void **state)
{
	struct fx *f = *state;

	assert_read_err(f->h0, XBT_NULL, "/nope", ENOENT);
	assert_read_err(f->h0, XBT_NULL, "/nope/deeper", ENOENT);
}

static void test_write_creates_parents(void **state)
{
	struct fx *f = *state;

	write_str(f->h0, XBT_NULL, "/p/q/r/s", "v");
	assert_read(f->h0, XBT_NULL, "/p/q/r/s", "v");
	assert_read(f->h0, XBT_NULL, "/p", "");
	assert_read(f->h0, XBT_NULL, "/p/q", "");
	assert_dir(f->h0, XBT_NULL, "/p", "q");
	assert_dir(f->h0, XBT_NULL, "/p/q/r", "s");
	assert_perms(f->h0, "/p/q", "n0");
}

static void test_mkdir(void **state)
{
	struct fx *f = *state;

	assert_true(xs_mkdir(f->h0, XBT_NULL, "/m/n"));
	assert_read(f->h0, XBT_NULL, "/m/n", "");
	assert_dir(f->h0, XBT_NULL, "/m", "n");
	/* An existing node is fine and left alone. */
	write_str(f->h0, XBT_NULL, "/m/n", "keep");
	assert_true(xs_mkdir(f->h0, XBT_NULL, "/m/n"));
	assert_read(f->h0, XBT_NULL, "/m/n", "keep");
}

static void test_rm_subtree(void **state)
{
	struct fx *f = *state;

	write_str(f->h0, XBT_NULL, "/r/a/b", "1");
	write_str(f->h0, XBT_NULL, "/r/a/c/d", "2");
	write_str(f->h0, XBT_NULL, "/r/z", "3");
	assert_true(xs_rm(f->h0, XBT_NULL, "/r/a"));
	assert_read_err(f->h0, XBT_NULL, "/r/a", ENOENT);
	assert_read_err(f->h0, XBT_NULL, "/r/a/b", ENOENT);
	assert_read_err(f->h0, XBT_NULL, "/r/a/c/d", ENOENT);
	assert_dir(f->h0, XBT_NULL, "/r", "z");
	/* Recreating after rm starts empty. */
	write_str(f->h0, XBT_NULL, "/r/a/new", "4");
	assert_dir(f->h0, XBT_NULL, "/r/a", "new");
}

static void test_rm_missing(void **state)
{
	struct fx *f = *state;
	bool ok;

	write_str(f->h0, XBT_NULL, "/rm", "");
	/* Missing node, existing parent: OK. */
	assert_true(xs_rm(f->h0, XBT_NULL, "/rm/ghost"));
	/* Missing parent: ENOENT. */
	ok = xs_rm(f->h0, XBT_NULL, "/rm/ghost/child");
	assert_false(ok);
	assert_int_equal(errno, ENOENT);
	ok = xs_rm(f->h0, XBT_NULL, "/nothere/child");
	assert_false(ok);
	assert_int_equal(errno, ENOENT);
}

static void test_rm_root_einval(void **state)
{
	struct fx *f = *state;
	bool ok;

	write_str(f->h0, XBT_NULL, "/keep", "1");
	ok = xs_rm(f->h0, XBT_NULL, "/");
	assert_false(ok);
	assert_int_equal(errno, EINVAL);
	assert_read(f->h0, XBT_NULL, "/keep", "1");
}

static void test_directory(void **state)
{
	struct fx *f = *state;
	unsigned n = 42;
	char **d;

	write_str(f->h0, XBT_NULL, "/d/c1", "");
	write_str(f->h0, XBT_NULL, "/d/c3", "");
	write_str(f->h0, XBT_NULL, "/d/c2/deep", "");
	assert_dir(f->h0, XBT_NULL, "/d", "c1,c2,c3");

	assert_true(xs_mkdir(f->h0, XBT_NULL, "/emptydir"));
	d = xs_directory(f->h0, XBT_NULL, "/emptydir", &n);
	assert_non_null(d);
	assert_int_equal(n, 0);
	free(d);

	n = 0;
	d = xs_directory(f->h0, XBT_NULL, "/nodir", &n);
	assert_null(d);
	assert_int_equal(errno, ENOENT);
}

#define BIG_N 300

static void big_name(char *buf, size_t size, unsigned i)
{
	snprintf(buf, size, "child-%04u-abcdefghijklmnop", i);
}

static void make_big_dir(struct fx *f, const char *dir)
{
	char path[256], name[64];
	unsigned i;

	for (i = 0; i < BIG_N; i++) {
		big_name(name, sizeof(name), i);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		write_str(f->h0, XBT_NULL, path, "");
	}
}

/* > 4096 bytes of names: DIRECTORY says E2BIG, libxenstore falls back on
 * DIRECTORY_PART and must still get every name exactly once. */
static void test_directory_part_big(void **state)
{
	struct fx *f = *state;
	char name[64];
	unsigned n = 0, i;
	char **d;
	bool seen[BIG_N] = { false };

	make_big_dir(f, "/big");
	d = xs_directory(f->h0, XBT_NULL, "/big", &n);
	if (!d)
		fail_msg("xs_directory(/big): %s", strerror(errno));
	assert_int_equal(n, BIG_N);
	for (i = 0; i < n; i++) {
		unsigned k;

		assert_int_equal(sscanf(d[i], "child-%4u-", &k), 1);
		assert_true(k < BIG_N);
		big_name(name, sizeof(name), k);
		assert_string_equal(d[i], name);
		assert_false(seen[k]);
		seen[k] = true;
	}
	free(d);

	/* And the same from inside a transaction. */
	{
		xs_transaction_t t = xs_transaction_start(f->h0);

		assert_true(t != XBT_NULL);
		d = xs_directory(f->h0, t, "/big", &n);
		assert_non_null(d);
		assert_int_equal(n, BIG_N);
		free(d);
		assert_true(xs_transaction_end(f->h0, t, true));
	}
}

static void test_directory_e2big_raw(void **state)
{
	struct fx *f = *state;
	int fd;

	make_big_dir(f, "/big");
	fd = raw_open(f, 0);
	raw_expect_error(fd, XS_DIRECTORY, 0, "/big", 5, "E2BIG");
}

/* Walks DIRECTORY_PART by hand: chunks are whole names, all carry the same
 * generation, the last one ends with an extra NUL. */
static void test_directory_part_raw_chunks(void **state)
{
	struct fx *f = *state;
	static char all[BIG_N * 40];
	char buf[4200], req[64], gen[32] = "", name[64];
	size_t off = 0;
	unsigned chunks = 0, i;
	int fd;

	make_big_dir(f, "/big");
	fd = raw_open(f, 0);
	for (;;) {
		uint32_t ty;
		int len = snprintf(req, sizeof(req), "/big%c%zu", 0, off) + 1;
		int n = raw_call(fd, XS_DIRECTORY_PART, 0, req, len, &ty, buf, sizeof(buf), NULL);
		size_t glen, body;

		assert_int_equal(ty, XS_DIRECTORY_PART);
		assert_true(n <= 4096);
		glen = strnlen(buf, n);
		assert_true(glen > 0 && glen < (size_t)n);
		if (!chunks) {
			assert_true(glen < sizeof(gen));
			memcpy(gen, buf, glen + 1);
		}
		else
			assert_string_equal(buf, gen);
		body = n - glen - 1;
		assert_true(body > 0);
		/* Whole names only: the chunk ends with a NUL. */
		assert_int_equal(buf[n - 1], 0);
		assert_true(off + body <= sizeof(all));
		memcpy(all + off, buf + glen + 1, body);
		chunks++;
		assert_true(chunks < 100);
		if (body == 1 || (body >= 2 && buf[n - 2] == 0)) {
			off += body;
			break;
		}
		off += body;
	}
	assert_true(chunks >= 2);
	/* Drop the final extra NUL and check the names. */
	assert_int_equal(all[off - 1], 0);
	assert_int_equal(all[off - 2], 0);
	off--;
	{
		bool seen[BIG_N] = { false };
		size_t p = 0;
		unsigned count = 0;

		while (p < off) {
			unsigned k;

			assert_int_equal(sscanf(all + p, "child-%4u-", &k), 1);
			assert_true(k < BIG_N);
			big_name(name, sizeof(name), k);
			assert_string_equal(all + p, name);
			assert_false(seen[k]);
			seen[k] = true;
			count++;
			p += strlen(all + p) + 1;
		}
		assert_int_equal(count, BIG_N);
		for (i = 0; i < BIG_N; i++)
			assert_true(seen[i]);
	}
}

static void test_directory_part_small_and_generation(void **state)
{
	struct fx *f = *state;
	char buf[4200], gen1[32];
	uint32_t ty;
	int fd, n;
	static const char req[] = "/dp\0" "0";

	write_str(f->h0, XBT_NULL, "/dp/only", "");
	fd = raw_open(f, 0);
	n = raw_call(fd, XS_DIRECTORY_PART, 0, req, sizeof(req), &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_DIRECTORY_PART);
	assert_true(strlen(buf) < sizeof(gen1));
	strcpy(gen1, buf);
	assert_true(strlen(gen1) > 0);
	/* "<gen>\0only\0\0" */
	assert_int_equal(n, strlen(gen1) + 1 + 5 + 1);
	assert_memory_equal(buf + strlen(gen1) + 1, "only\0\0", 6);

	write_str(f->h0, XBT_NULL, "/dp/second", "");
	n = raw_call(fd, XS_DIRECTORY_PART, 0, req, sizeof(req), &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_DIRECTORY_PART);
	assert_string_not_equal(buf, gen1);
	assert_int_equal(n, strlen(buf) + 1 + 5 + 7 + 1);
}

static void test_get_set_perms(void **state)
{
	struct fx *f = *state;
	bool ok;
	unsigned n;

	assert_int_equal(vbd_test_store_domain_add(&f->t, 5), 0);
	assert_int_equal(vbd_test_store_domain_add(&f->t, 6), 0);
	assert_int_equal(vbd_test_store_domain_add(&f->t, 7), 0);
	assert_perms(f->h0, "/", "n0");
	write_str(f->h0, XBT_NULL, "/pp", "");
	assert_perms(f->h0, "/pp", "n0");
	set_perms_ok(f->h0, "/pp", "n0,r5,w6,b7");
	assert_perms(f->h0, "/pp", "n0,r5,w6,b7");
	/* Children inherit. */
	write_str(f->h0, XBT_NULL, "/pp/child/grandchild", "");
	assert_perms(f->h0, "/pp/child", "n0,r5,w6,b7");
	assert_perms(f->h0, "/pp/child/grandchild", "n0,r5,w6,b7");
	/* dom0 may give a node away. */
	set_perms_ok(f->h0, "/pp", "b5");
	assert_perms(f->h0, "/pp", "b5");

	ok = set_perms(f->h0, XBT_NULL, "/ghost", "n0");
	assert_false(ok);
	assert_int_equal(errno, ENOENT);
	assert_null(xs_get_permissions(f->h0, XBT_NULL, "/ghost", &n));
	assert_int_equal(errno, ENOENT);
}

static void test_set_perms_bad_string_raw(void **state)
{
	struct fx *f = *state;
	int fd;
	static const char bad1[] = "/bp\0x5";
	static const char bad2[] = "/bp\0r";
	static const char bad3[] = "/bp\0rabc";

	write_str(f->h0, XBT_NULL, "/bp", "");
	fd = raw_open(f, 0);
	raw_expect_error(fd, XS_SET_PERMS, 0, bad1, sizeof(bad1), "EINVAL");
	raw_expect_error(fd, XS_SET_PERMS, 0, bad2, sizeof(bad2), "EINVAL");
	raw_expect_error(fd, XS_SET_PERMS, 0, bad3, sizeof(bad3), "EINVAL");
	assert_perms(f->h0, "/bp", "n0");
}

static void test_relative_paths_dom0(void **state)
{
	struct fx *f = *state;

	write_str(f->h0, XBT_NULL, "rel/x", "1");
	assert_read(f->h0, XBT_NULL, "/local/domain/0/rel/x", "1");
	assert_read(f->h0, XBT_NULL, "rel/x", "1");
	assert_dir(f->h0, XBT_NULL, "rel", "x");
	assert_true(xs_rm(f->h0, XBT_NULL, "rel"));
	assert_read_err(f->h0, XBT_NULL, "/local/domain/0/rel", ENOENT);
}

static void test_relative_paths_guest(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);

	write_str(g, XBT_NULL, "data/x", "guest");
	assert_read(f->h0, XBT_NULL, "/local/domain/5/data/x", "guest");
	assert_read(g, XBT_NULL, "data/x", "guest");
	assert_read(g, XBT_NULL, "/local/domain/5/data/x", "guest");
	assert_dir(g, XBT_NULL, "data", "x");
	assert_true(xs_mkdir(g, XBT_NULL, "dir"));
	assert_read(f->h0, XBT_NULL, "/local/domain/5/dir", "");
	assert_true(xs_rm(g, XBT_NULL, "data"));
	assert_read_err(f->h0, XBT_NULL, "/local/domain/5/data", ENOENT);
	assert_perms(g, "dir", "n5");
}

static void test_invalid_paths(void **state)
{
	struct fx *f = *state;
	static const char *bad[] = {
		"/a//b", "/a/", "", "/a b", "/a$", "/a.b", "//", "@other", "@introduceDomainX",
	};
	static char longp[3100];
	unsigned i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_read_err(f->h0, XBT_NULL, bad[i], EINVAL);
		assert_write_err(f->h0, XBT_NULL, bad[i], "v", EINVAL);
	}
	/* The special names are only for watches and perms. */
	assert_read_err(f->h0, XBT_NULL, "@introduceDomain", EINVAL);
	assert_write_err(f->h0, XBT_NULL, "@releaseDomain", "v", EINVAL);

	/* Absolute: 3072 chars fine, 3073 not. */
	longp[0] = '/';
	memset(longp + 1, 'a', 3071);
	longp[3072] = 0;
	write_str(f->h0, XBT_NULL, longp, "1");
	assert_read(f->h0, XBT_NULL, longp, "1");
	longp[3072] = 'a';
	longp[3073] = 0;
	assert_write_err(f->h0, XBT_NULL, longp, "1", EINVAL);
	assert_read_err(f->h0, XBT_NULL, longp, EINVAL);

	/* Relative: 2048 fine, 2049 not. */
	memset(longp, 'b', 2048);
	longp[2048] = 0;
	write_str(f->h0, XBT_NULL, longp, "2");
	assert_read(f->h0, XBT_NULL, longp, "2");
	longp[2048] = 'b';
	longp[2049] = 0;
	assert_write_err(f->h0, XBT_NULL, longp, "2", EINVAL);
}

static void test_unknown_type_raw(void **state)
{
	struct fx *f = *state;
	int fd = raw_open(f, 0);

	char buf[64];
	uint32_t ty;

	raw_expect_error(fd, 999, 0, "", 0, "EINVAL");
	raw_expect_error(fd, XS_TYPE_COUNT, 0, "/", 2, "EINVAL");
	raw_expect_error(fd, XS_SET_TARGET + 1, 0, "1", 2, "EINVAL"); /* was XS_RESTRICT */
	/* An event is not a request: some error, and the connection lives. */
	raw_call(fd, XS_WATCH_EVENT, 0, "/\0t", 4, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_ERROR);
	write_str(f->h0, XBT_NULL, "/alive", "1");
	assert_int_equal(raw_call(fd, XS_READ, 0, "/alive", 7, &ty, buf, sizeof(buf), NULL), 1);
	assert_int_equal(ty, XS_READ);
	assert_string_equal(buf, "1");
}

static void test_not_nul_terminated_raw(void **state)
{
	struct fx *f = *state;
	int fd = raw_open(f, 0);

	write_str(f->h0, XBT_NULL, "/a", "1");
	raw_expect_error(fd, XS_READ, 0, "/a", 2, "EINVAL");
	raw_expect_error(fd, XS_WATCH, 0, "/a\0tok", 6, "EINVAL");
	raw_expect_error(fd, XS_RM, 0, "/a", 2, "EINVAL");
	assert_read(f->h0, XBT_NULL, "/a", "1");
}

static void test_oversized_header_closes_raw(void **state)
{
	struct fx *f = *state;
	int fd = raw_open(f, 0);
	char buf[64];
	uint32_t ty;
	int n;
	static char big[4097];

	memset(big, 'a', sizeof(big));
	big[0] = '/';
	(void)vbd_test_raw_send(fd, XS_WRITE, 1, 0, big, sizeof(big));
	n = vbd_test_raw_recv(fd, &ty, NULL, NULL, buf, sizeof(buf), EVENT_TIMEOUT_MS);
	if (n >= 0)
		fail_msg("got a reply (type %u \"%s\") to a 4097-byte payload", ty, buf);
	assert_true(n == -EPIPE || n == -ECONNRESET);
	/* The store itself survives. */
	write_str(f->h0, XBT_NULL, "/after", "1");
	assert_read(f->h0, XBT_NULL, "/after", "1");
}

static void test_max_payload_accepted(void **state)
{
	struct fx *f = *state;
	static char val[4096];
	unsigned len;
	char *v;

	/* "/v\0" + 4093 bytes = exactly 4096. */
	memset(val, 'z', sizeof(val));
	assert_true(xs_write(f->h0, XBT_NULL, "/v", val, 4093));
	v = xs_read(f->h0, XBT_NULL, "/v", &len);
	assert_non_null(v);
	assert_int_equal(len, 4093);
	assert_memory_equal(v, val, 4093);
	free(v);
}

static void test_reply_echoes_ids_raw(void **state)
{
	struct fx *f = *state;
	int fd = raw_open(f, 0);
	uint32_t ty, rid, rtx, t;
	char buf[64];
	int n;

	write_str(f->h0, XBT_NULL, "/e", "v");
	assert_int_equal(vbd_test_raw_send(fd, XS_READ, 0xdeadbeef, 0, "/e", 3), 0);
	n = vbd_test_raw_recv(fd, &ty, &rid, &rtx, buf, sizeof(buf), EVENT_TIMEOUT_MS);
	assert_int_equal(n, 1);
	assert_int_equal(ty, XS_READ);
	assert_int_equal(rid, 0xdeadbeef);
	assert_int_equal(rtx, 0);
	assert_string_equal(buf, "v");

	t = raw_txn_start(fd);
	assert_true(t != 0);
	assert_int_equal(vbd_test_raw_send(fd, XS_READ, 77, t, "/e", 3), 0);
	n = vbd_test_raw_recv(fd, &ty, &rid, &rtx, buf, sizeof(buf), EVENT_TIMEOUT_MS);
	assert_int_equal(n, 1);
	assert_int_equal(ty, XS_READ);
	assert_int_equal(rid, 77);
	assert_int_equal(rtx, t);

	/* Errors echo the ids too. */
	assert_int_equal(vbd_test_raw_send(fd, XS_READ, 78, t, "/none", 6), 0);
	n = vbd_test_raw_recv(fd, &ty, &rid, &rtx, buf, sizeof(buf), EVENT_TIMEOUT_MS);
	assert_int_equal(ty, XS_ERROR);
	assert_int_equal(rid, 78);
	assert_int_equal(rtx, t);
	assert_string_equal(buf, "ENOENT");
	assert_int_equal(n, 7);
}

/* ================================================================== */
/* Watches                                                             */

static void test_watch_initial_event(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);

	sync_arm(f, w, "/sync");
	assert_true(xs_watch(w, "/w/not/there", "tok"));
	expect_event(w, "/w/not/there", "tok");
	assert_no_events(f, w, "/sync");
}

static void test_watch_write_and_descendants(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);

	write_str(f->h0, XBT_NULL, "/w/a", "");
	sync_arm(f, w, "/sync");
	assert_true(xs_watch(w, "/w", "tok"));
	expect_event(w, "/w", "tok");

	write_str(f->h0, XBT_NULL, "/w", "self");
	assert_only_event(f, w, "/sync", "/w", "tok");
	write_str(f->h0, XBT_NULL, "/w/a/b", "1");
	assert_only_event(f, w, "/sync", "/w/a/b", "tok");
	write_str(f->h0, XBT_NULL, "/w/a/b", "2");
	assert_only_event(f, w, "/sync", "/w/a/b", "tok");
	assert_true(xs_mkdir(f->h0, XBT_NULL, "/w/m"));
	assert_only_event(f, w, "/sync", "/w/m", "tok");
	set_perms_ok(f->h0, "/w/a", "r0");
	assert_only_event(f, w, "/sync", "/w/a", "tok");
	/* A sibling sharing the prefix is not a descendant. */
	write_str(f->h0, XBT_NULL, "/wx", "1");
	write_str(f->h0, XBT_NULL, "/", "");
	assert_no_events(f, w, "/sync");
}

static void test_watch_mkdir_existing_no_event(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);

	write_str(f->h0, XBT_NULL, "/mk", "v");
	sync_arm(f, w, "/sync");
	assert_true(xs_watch(w, "/mk", "tok"));
	expect_event(w, "/mk", "tok");
	assert_true(xs_mkdir(f->h0, XBT_NULL, "/mk"));
	assert_no_events(f, w, "/sync");
}

static void test_watch_rm_missing_no_event(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);

	write_str(f->h0, XBT_NULL, "/rmm", "");
	sync_arm(f, w, "/sync");
	assert_true(xs_watch(w, "/rmm", "tok"));
	expect_event(w, "/rmm", "tok");
	assert_true(xs_rm(f->h0, XBT_NULL, "/rmm/ghost"));
	assert_no_events(f, w, "/sync");
}

/* RM of an ancestor: the watch on the removed node fires once with its path;
 * watches on existing descendants fire with their own paths; a watch on a
 * descendant that does not exist stays silent. */
static void test_watch_rm_fires_descendants(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);
	struct evlist l;

	write_str(f->h0, XBT_NULL, "/rmw/a/b", "1");
	write_str(f->h0, XBT_NULL, "/rmw/c", "2");
	sync_arm(f, w, "/sync");
	assert_true(xs_watch(w, "/rmw", "top"));
	expect_event(w, "/rmw", "top");
	assert_true(xs_watch(w, "/rmw/a/b", "deep"));
	expect_event(w, "/rmw/a/b", "deep");
	assert_true(xs_watch(w, "/rmw/c", "side"));
	expect_event(w, "/rmw/c", "side");
	assert_true(xs_watch(w, "/rmw/ghost", "ghost"));
	expect_event(w, "/rmw/ghost", "ghost");

	assert_true(xs_rm(f->h0, XBT_NULL, "/rmw"));
	sync_collect(f, w, "/sync", &l);
	if (!evlist_has(&l, "/rmw", "top") || !evlist_has(&l, "/rmw/a/b", "deep") ||
	    !evlist_has(&l, "/rmw/c", "side"))
		fail_msg("missing rm events (got %u, first %s %s)", l.n, l.path[0], l.token[0]);
	assert_false(evlist_has(&l, "/rmw/ghost", "ghost"));
	assert_int_equal(l.n, 3);
}

static void test_watch_eexist(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);
	bool ok;

	assert_true(xs_watch(w, "/ee", "tok"));
	expect_event(w, "/ee", "tok");
	ok = xs_watch(w, "/ee", "tok");
	assert_false(ok);
	assert_int_equal(errno, EEXIST);
	/* Another token, or another path, is a different watch. */
	assert_true(xs_watch(w, "/ee", "tok2"));
	expect_event(w, "/ee", "tok2");
	assert_true(xs_watch(w, "/ee/x", "tok"));
	expect_event(w, "/ee/x", "tok");
}

static void test_unwatch(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);
	bool ok;

	sync_arm(f, w, "/sync");
	assert_true(xs_watch(w, "/uw", "tok"));
	expect_event(w, "/uw", "tok");
	assert_true(xs_unwatch(w, "/uw", "tok"));
	write_str(f->h0, XBT_NULL, "/uw", "1");
	assert_no_events(f, w, "/sync");
	ok = xs_unwatch(w, "/uw", "tok");
	assert_false(ok);
	assert_int_equal(errno, ENOENT);
	ok = xs_unwatch(w, "/never", "tok");
	assert_false(ok);
	assert_int_equal(errno, ENOENT);
}

static void test_watch_token_size(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);
	static char tok[1100];
	bool ok;

	memset(tok, 't', 1022);
	tok[1022] = 0;
	assert_true(xs_watch(w, "/tk", tok));
	expect_event(w, "/tk", tok);
	memset(tok, 'u', 1023);
	tok[1023] = 0;
	ok = xs_watch(w, "/tk", tok);
	assert_false(ok);
	assert_int_equal(errno, E2BIG);
}

static void test_watch_invalid_path(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);
	bool ok;

	ok = xs_watch(w, "/a//b", "tok");
	assert_false(ok);
	assert_int_equal(errno, EINVAL);
	ok = xs_watch(w, "@other", "tok");
	assert_false(ok);
	assert_int_equal(errno, EINVAL);
}

static void test_watch_transaction_events_at_commit(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);
	xs_transaction_t t;

	sync_arm(f, w, "/sync");
	assert_true(xs_watch(w, "/tw", "tok"));
	expect_event(w, "/tw", "tok");

	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	write_str(f->h0, t, "/tw/a", "1");
	assert_no_events(f, w, "/sync");
	assert_true(xs_transaction_end(f->h0, t, false));
	assert_only_event(f, w, "/sync", "/tw/a", "tok");

	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	write_str(f->h0, t, "/tw/b", "1");
	assert_true(xs_transaction_end(f->h0, t, true));
	assert_no_events(f, w, "/sync");
}

static void test_watch_relative_dom0(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);

	sync_arm(f, w, "/sync");
	assert_true(xs_watch(w, "relw", "tok"));
	expect_event(w, "relw", "tok");
	write_str(f->h0, XBT_NULL, "/local/domain/0/relw/x", "1");
	assert_only_event(f, w, "/sync", "relw/x", "tok");
	write_str(f->h0, XBT_NULL, "relw", "2");
	assert_only_event(f, w, "/sync", "relw", "tok");
	assert_true(xs_unwatch(w, "relw", "tok"));
}

static void test_watch_relative_guest(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);

	sync_arm(f, g, "/gsync");
	assert_true(xs_watch(g, "dev", "tok"));
	expect_event(g, "dev", "tok");
	write_str(f->h0, XBT_NULL, "/local/domain/5/dev/y", "1");
	assert_only_event(f, g, "/gsync", "dev/y", "tok");
	/* The guest's own relative write too. */
	write_str(g, XBT_NULL, "dev/z", "1");
	assert_only_event(f, g, "/gsync", "dev/z", "tok");
	/* An absolute watch on the same node reports absolute paths. */
	assert_true(xs_watch(g, "/local/domain/5/dev", "abs"));
	expect_event(g, "/local/domain/5/dev", "abs");
	write_str(f->h0, XBT_NULL, "/local/domain/5/dev/q", "1");
	{
		struct evlist l;

		sync_collect(f, g, "/gsync", &l);
		assert_int_equal(l.n, 2);
		assert_true(evlist_has(&l, "dev/q", "tok"));
		assert_true(evlist_has(&l, "/local/domain/5/dev/q", "abs"));
	}
}

static void test_watch_special_dom0(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);

	sync_arm(f, w, "/sync");
	assert_true(xs_watch(w, "@introduceDomain", "in"));
	expect_event(w, "@introduceDomain", "in");
	assert_true(xs_watch(w, "@releaseDomain", "out"));
	expect_event(w, "@releaseDomain", "out");

	assert_true(xs_introduce_domain(f->h0, 7, 1234, 5));
	assert_only_event(f, w, "/sync", "@introduceDomain", "in");
	assert_true(xs_release_domain(f->h0, 7));
	assert_only_event(f, w, "/sync", "@releaseDomain", "out");

	/* The library API fires them as well. */
	assert_int_equal(vbd_test_store_domain_add(&f->t, 8), 0);
	assert_only_event(f, w, "/sync", "@introduceDomain", "in");
	assert_int_equal(vbd_test_store_domain_remove(&f->t, 8), 0);
	assert_only_event(f, w, "/sync", "@releaseDomain", "out");
}

/* Special watches are only delivered to conns that may read the special
 * node: default perms "n0". */
static void test_watch_special_guest_filtered(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	struct evlist l;

	sync_arm(f, g, "/gsync");
	assert_true(xs_watch(g, "@introduceDomain", "in"));
	expect_event(g, "@introduceDomain", "in");
	assert_true(xs_watch(g, "@releaseDomain", "out"));
	expect_event(g, "@releaseDomain", "out");

	assert_true(xs_introduce_domain(f->h0, 7, 1, 1));
	assert_true(xs_release_domain(f->h0, 7));
	assert_no_events(f, g, "/gsync");

	/* dom0 lets domain 5 read @introduceDomain. */
	assert_perms(f->h0, "@introduceDomain", "n0");
	set_perms_ok(f->h0, "@introduceDomain", "n0,r5");
	assert_perms(f->h0, "@introduceDomain", "n0,r5");
	sync_collect(f, g, "/gsync", &l);   /* drop a possible set_perms event */
	assert_true(xs_introduce_domain(f->h0, 7, 1, 1));
	assert_only_event(f, g, "/gsync", "@introduceDomain", "in");
	assert_true(xs_release_domain(f->h0, 7));
	assert_no_events(f, g, "/gsync");
}

/* A guest watching what it cannot read gets the initial event only. */
static void test_watch_permission_filtered(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	struct evlist l;

	write_str(f->h0, XBT_NULL, "/local/domain/5/secret", "s");
	set_perms_ok(f->h0, "/local/domain/5/secret", "n0");
	write_str(f->h0, XBT_NULL, "/local/domain/5/open", "o");
	sync_arm(f, g, "/gsync");

	assert_true(xs_watch(g, "secret", "s"));
	expect_event(g, "secret", "s");
	assert_true(xs_watch(g, "open", "o"));
	expect_event(g, "open", "o");

	write_str(f->h0, XBT_NULL, "/local/domain/5/secret", "s2");
	write_str(f->h0, XBT_NULL, "/local/domain/5/secret/child", "c");
	assert_no_events(f, g, "/gsync");
	write_str(f->h0, XBT_NULL, "/local/domain/5/open", "o2");
	assert_only_event(f, g, "/gsync", "open", "o");

	/* Removal is judged by the perms before removal. */
	assert_true(xs_rm(f->h0, XBT_NULL, "/local/domain/5/secret"));
	assert_no_events(f, g, "/gsync");
	assert_true(xs_rm(f->h0, XBT_NULL, "/local/domain/5/open"));
	assert_only_event(f, g, "/gsync", "open", "o");

	/* Made readable, it is delivered. */
	write_str(f->h0, XBT_NULL, "/local/domain/5/secret", "s3");
	set_perms_ok(f->h0, "/local/domain/5/secret", "n0,r5");
	sync_collect(f, g, "/gsync", &l);
	write_str(f->h0, XBT_NULL, "/local/domain/5/secret", "s4");
	assert_only_event(f, g, "/gsync", "secret", "s");
}

static void test_xs_read_watch_blocking(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);
	unsigned num = 0;
	char **ev;

	assert_true(xs_watch(w, "/rw", "tok"));
	ev = xs_read_watch(w, &num);
	assert_non_null(ev);
	assert_int_equal(num, 2);
	assert_string_equal(ev[XS_WATCH_PATH], "/rw");
	assert_string_equal(ev[XS_WATCH_TOKEN], "tok");
	free(ev);
	write_str(f->h0, XBT_NULL, "/rw/k", "1");
	ev = xs_read_watch(w, &num);
	assert_non_null(ev);
	assert_string_equal(ev[XS_WATCH_PATH], "/rw/k");
	assert_string_equal(ev[XS_WATCH_TOKEN], "tok");
	free(ev);
}

static void test_watch_event_wire_format_raw(void **state)
{
	struct fx *f = *state;
	int fd = raw_open(f, 0);
	char buf[256];
	uint32_t ty, rid, rtx;
	int n;
	static const char req[] = "/wf\0tk";

	raw_expect_ok(fd, XS_WATCH, 0, req, sizeof(req));
	n = vbd_test_raw_recv(fd, &ty, &rid, &rtx, buf, sizeof(buf), EVENT_TIMEOUT_MS);
	assert_int_equal(ty, XS_WATCH_EVENT);
	assert_int_equal(rid, 0);
	assert_int_equal(rtx, 0);
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "/wf\0tk\0", 7);
}

static void test_reset_watches_raw(void **state)
{
	struct fx *f = *state;
	int fd = raw_open(f, 0);
	char buf[256];
	uint32_t ty, t;
	unsigned events = 0;
	static const char req[] = "/rst\0tk";

	raw_expect_ok(fd, XS_WATCH, 0, req, sizeof(req));
	assert_true(vbd_test_raw_recv(fd, &ty, NULL, NULL, buf, sizeof(buf),
	                              EVENT_TIMEOUT_MS) > 0);
	assert_int_equal(ty, XS_WATCH_EVENT);
	t = raw_txn_start(fd);

	/* Not inside a transaction. */
	raw_expect_error(fd, XS_RESET_WATCHES, t, "", 1, "EINVAL");
	raw_expect_ok(fd, XS_RESET_WATCHES, 0, "", 1);

	/* The watch is gone: a write that it would have reported comes before
	 * the reply to a later request, so none may be skipped. */
	write_str(f->h0, XBT_NULL, "/rst", "1");
	raw_call(fd, XS_READ, 0, "/rst", 5, &ty, buf, sizeof(buf), &events);
	assert_int_equal(events, 0);
	assert_int_equal(ty, XS_READ);
	/* The transaction is gone too. */
	raw_expect_error(fd, XS_READ, t, "/rst", 5, "ENOENT");
	/* And the watch can be set again (no EEXIST). */
	raw_expect_ok(fd, XS_WATCH, 0, req, sizeof(req));
}

/* ================================================================== */
/* Transactions                                                        */

static void test_txn_isolation(void **state)
{
	struct fx *f = *state;
	struct xs_handle *o = open_h(f, 0);
	xs_transaction_t t;

	write_str(f->h0, XBT_NULL, "/ti/old", "0");
	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	write_str(f->h0, t, "/ti/a", "1");
	write_str(f->h0, t, "/ti/old", "changed");
	assert_true(xs_rm(f->h0, t, "/ti/old"));
	write_str(f->h0, t, "/ti/old", "again");
	/* The transaction sees its own writes. */
	assert_read(f->h0, t, "/ti/a", "1");
	assert_read(f->h0, t, "/ti/old", "again");
	assert_dir(f->h0, t, "/ti", "a,old");
	/* Nobody else does, not even the same conn outside it. */
	assert_read_err(o, XBT_NULL, "/ti/a", ENOENT);
	assert_read_err(f->h0, XBT_NULL, "/ti/a", ENOENT);
	assert_read(o, XBT_NULL, "/ti/old", "0");
	assert_dir(o, XBT_NULL, "/ti", "old");

	assert_true(xs_transaction_end(f->h0, t, false));
	assert_read(o, XBT_NULL, "/ti/a", "1");
	assert_read(o, XBT_NULL, "/ti/old", "again");
}

static void test_txn_rm_hidden_until_commit(void **state)
{
	struct fx *f = *state;
	struct xs_handle *o = open_h(f, 0);
	xs_transaction_t t;

	write_str(f->h0, XBT_NULL, "/tr/x/y", "1");
	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	assert_true(xs_rm(f->h0, t, "/tr/x"));
	assert_read_err(f->h0, t, "/tr/x/y", ENOENT);
	assert_read(o, XBT_NULL, "/tr/x/y", "1");
	assert_true(xs_transaction_end(f->h0, t, false));
	assert_read_err(o, XBT_NULL, "/tr/x/y", ENOENT);
	assert_dir(o, XBT_NULL, "/tr", "");
}

static void test_txn_perms_in_txn(void **state)
{
	struct fx *f = *state;
	xs_transaction_t t;

	assert_int_equal(vbd_test_store_domain_add(&f->t, 5), 0);
	write_str(f->h0, XBT_NULL, "/tp", "");
	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	assert_true(set_perms(f->h0, t, "/tp", "n0,r5"));
	assert_perms(f->h0, "/tp", "n0");
	assert_true(xs_transaction_end(f->h0, t, false));
	assert_perms(f->h0, "/tp", "n0,r5");
}

static void test_txn_eagain_read_conflict(void **state)
{
	struct fx *f = *state;
	struct xs_handle *o = open_h(f, 0);
	xs_transaction_t t;
	bool ok;

	write_str(f->h0, XBT_NULL, "/tc/x", "1");
	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	assert_read(f->h0, t, "/tc/x", "1");
	write_str(o, XBT_NULL, "/tc/x", "2");
	write_str(f->h0, t, "/tc/y", "from-txn");
	ok = xs_transaction_end(f->h0, t, false);
	assert_false(ok);
	assert_int_equal(errno, EAGAIN);
	assert_read_err(o, XBT_NULL, "/tc/y", ENOENT);
	assert_read(o, XBT_NULL, "/tc/x", "2");
	/* The transaction is gone. */
	ok = xs_transaction_end(f->h0, t, false);
	assert_false(ok);
	assert_int_equal(errno, ENOENT);
}

static void test_txn_eagain_absent_conflict(void **state)
{
	struct fx *f = *state;
	struct xs_handle *o = open_h(f, 0);
	xs_transaction_t t;
	bool ok;

	write_str(f->h0, XBT_NULL, "/ta", "");
	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	assert_read_err(f->h0, t, "/ta/absent", ENOENT);
	write_str(o, XBT_NULL, "/ta/absent", "now");
	write_str(f->h0, t, "/ta/other", "1");
	ok = xs_transaction_end(f->h0, t, false);
	assert_false(ok);
	assert_int_equal(errno, EAGAIN);
	assert_read_err(o, XBT_NULL, "/ta/other", ENOENT);
}

static void test_txn_eagain_write_conflict(void **state)
{
	struct fx *f = *state;
	struct xs_handle *o = open_h(f, 0);
	xs_transaction_t t;
	bool ok;

	write_str(f->h0, XBT_NULL, "/tw2/x", "1");
	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	write_str(f->h0, t, "/tw2/x", "txn");
	write_str(o, XBT_NULL, "/tw2/x", "other");
	ok = xs_transaction_end(f->h0, t, false);
	assert_false(ok);
	assert_int_equal(errno, EAGAIN);
	assert_read(o, XBT_NULL, "/tw2/x", "other");
}

static void test_txn_unrelated_change_commits(void **state)
{
	struct fx *f = *state;
	struct xs_handle *o = open_h(f, 0);
	xs_transaction_t t;

	write_str(f->h0, XBT_NULL, "/tu/x", "1");
	write_str(f->h0, XBT_NULL, "/other/z", "1");
	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	assert_read(f->h0, t, "/tu/x", "1");
	write_str(f->h0, t, "/tu/x", "2");
	write_str(o, XBT_NULL, "/other/z", "2");
	assert_true(xs_transaction_end(f->h0, t, false));
	assert_read(o, XBT_NULL, "/tu/x", "2");
}

static void test_txn_abort_discards(void **state)
{
	struct fx *f = *state;
	xs_transaction_t t;
	bool ok;

	write_str(f->h0, XBT_NULL, "/tab/keep", "1");
	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	write_str(f->h0, t, "/tab/new", "1");
	write_str(f->h0, t, "/tab/keep", "2");
	assert_true(xs_rm(f->h0, t, "/tab/keep"));
	assert_true(xs_transaction_end(f->h0, t, true));
	assert_read_err(f->h0, XBT_NULL, "/tab/new", ENOENT);
	assert_read(f->h0, XBT_NULL, "/tab/keep", "1");
	/* Gone after abort: using it is ENOENT. */
	assert_read_err(f->h0, t, "/tab/keep", ENOENT);
	ok = xs_transaction_end(f->h0, t, true);
	assert_false(ok);
	assert_int_equal(errno, ENOENT);
}

static void test_txn_unknown_id(void **state)
{
	struct fx *f = *state;
	int fd = raw_open(f, 0);
	static const char wr[] = "/tx\0v";
	bool ok;

	write_str(f->h0, XBT_NULL, "/tx", "1");
	raw_expect_error(fd, XS_READ, 12345, "/tx", 4, "ENOENT");
	raw_expect_error(fd, XS_WRITE, 12345, wr, sizeof(wr) - 1, "ENOENT");
	raw_expect_error(fd, XS_TRANSACTION_END, 12345, "T", 2, "ENOENT");
	assert_read_err(f->h0, 4242, "/tx", ENOENT);
	ok = xs_transaction_end(f->h0, 4242, false);
	assert_false(ok);
	assert_int_equal(errno, ENOENT);
	assert_read(f->h0, XBT_NULL, "/tx", "1");
}

/* A transaction belongs to its connection. */
static void test_txn_other_conn_enoent(void **state)
{
	struct fx *f = *state;
	struct xs_handle *o = open_h(f, 0);
	xs_transaction_t t;

	write_str(f->h0, XBT_NULL, "/toc", "1");
	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	assert_read_err(o, t, "/toc", ENOENT);
	assert_true(xs_transaction_end(f->h0, t, true));
}

static void test_txn_start_raw(void **state)
{
	struct fx *f = *state;
	int fd = raw_open(f, 0);
	char buf[64];
	uint32_t ty, t;
	int n;

	n = raw_call(fd, XS_TRANSACTION_START, 0, "", 1, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_TRANSACTION_START);
	assert_int_equal(n, strlen(buf) + 1);
	assert_true(buf[0] >= '1' && buf[0] <= '9');
	assert_int_equal(strspn(buf, "0123456789"), strlen(buf));
	t = strtoul(buf, NULL, 10);
	assert_true(t != 0);

	/* tx_id must be 0 for these. */
	raw_expect_error(fd, XS_TRANSACTION_START, t, "", 1, "EINVAL");
	raw_expect_error(fd, XS_WATCH, t, "/x\0t", 5, "EINVAL");
	raw_expect_error(fd, XS_UNWATCH, t, "/x\0t", 5, "EINVAL");
	raw_expect_error(fd, XS_GET_DOMAIN_PATH, t, "1", 2, "EINVAL");
	raw_expect_error(fd, XS_IS_DOMAIN_INTRODUCED, t, "1", 2, "EINVAL");
	raw_expect_error(fd, XS_INTRODUCE, t, "3\0" "1\0" "1", 6, "EINVAL");
	raw_expect_error(fd, XS_RELEASE, t, "3", 2, "EINVAL");
	raw_expect_error(fd, XS_RESUME, t, "3", 2, "EINVAL");
	raw_expect_error(fd, XS_SET_TARGET, t, "3\0" "4", 4, "EINVAL");
	raw_expect_error(fd, XS_CONTROL, t, "check", 6, "EINVAL");

	/* Commit with "T", a second one aborted with "F". */
	raw_expect_ok(fd, XS_TRANSACTION_END, t, "T", 2);
	t = raw_txn_start(fd);
	raw_expect_ok(fd, XS_TRANSACTION_END, t, "F", 2);
}

static void test_txn_guest_limit(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	xs_transaction_t t[11];
	unsigned i;

	for (i = 0; i < 10; i++) {
		t[i] = xs_transaction_start(g);
		assert_true(t[i] != XBT_NULL);
	}
	t[10] = xs_transaction_start(g);
	assert_int_equal(t[10], XBT_NULL);
	assert_int_equal(errno, ENOSPC);
	assert_true(xs_transaction_end(g, t[0], true));
	t[10] = xs_transaction_start(g);
	assert_true(t[10] != XBT_NULL);

	/* dom0 has no such limit. */
	for (i = 0; i < 11; i++)
		assert_true(xs_transaction_start(f->h0) != XBT_NULL);
}

/* ================================================================== */
/* Domains                                                             */

static void test_introduce_release(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g;
	char sock[PATH_MAX + 16];
	struct stat st;
	bool ok;

	assert_false(xs_is_domain_introduced(f->h0, 9));
	assert_true(xs_introduce_domain(f->h0, 9, 4321, 3));
	assert_true(xs_is_domain_introduced(f->h0, 9));
	snprintf(sock, sizeof(sock), "%s.d/9", f->t.socket);
	assert_int_equal(stat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	/* Idempotent. */
	assert_true(xs_introduce_domain(f->h0, 9, 4321, 3));

	g = open_h(f, 9);
	/* "/" is n0: a missing node under it is as hidden as any. */
	assert_read_err(g, XBT_NULL, "/nothing", EACCES);

	assert_true(xs_release_domain(f->h0, 9));
	assert_false(xs_is_domain_introduced(f->h0, 9));
	assert_int_not_equal(stat(sock, &st), 0);
	/* Its connections are closed. */
	assert_null(xs_read(g, XBT_NULL, "/nothing", NULL));
	assert_int_not_equal(errno, ENOENT);

	ok = xs_release_domain(f->h0, 9);
	assert_false(ok);
	assert_int_equal(errno, ENOENT);
}

static void test_introduce_invalid(void **state)
{
	struct fx *f = *state;
	int fd = raw_open(f, 0);
	bool ok;

	ok = xs_introduce_domain(f->h0, 0, 1, 1);
	assert_false(ok);
	assert_int_equal(errno, EINVAL);
	ok = xs_introduce_domain(f->h0, 0x7FF0, 1, 1);
	assert_false(ok);
	assert_int_equal(errno, EINVAL);
	ok = xs_introduce_domain(f->h0, 0x7FF5, 1, 1);
	assert_false(ok);
	assert_int_equal(errno, EINVAL);
	assert_true(xs_introduce_domain(f->h0, 0x7FEF, 1, 1));
	raw_expect_error(fd, XS_INTRODUCE, 0, "abc\0" "1\0" "1", 8, "EINVAL");
	raw_expect_error(fd, XS_INTRODUCE, 0, "", 1, "EINVAL");
}

static void test_is_domain_introduced(void **state)
{
	struct fx *f = *state;
	int fd = raw_open(f, 0);
	char buf[16];
	uint32_t ty;
	int n;

	assert_true(xs_is_domain_introduced(f->h0, 0));
	assert_false(xs_is_domain_introduced(f->h0, 42));
	n = raw_call(fd, XS_IS_DOMAIN_INTRODUCED, 0, "42", 3, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_IS_DOMAIN_INTRODUCED);
	assert_int_equal(n, 2);
	assert_string_equal(buf, "F");
	n = raw_call(fd, XS_IS_DOMAIN_INTRODUCED, 0, "0", 2, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(n, 2);
	assert_string_equal(buf, "T");
	assert_int_equal(vbd_test_store_domain_add(&f->t, 42), 0);
	assert_true(xs_is_domain_introduced(f->h0, 42));
}

static void test_get_domain_path(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	char *p;

	p = xs_get_domain_path(f->h0, 5);
	assert_non_null(p);
	assert_string_equal(p, "/local/domain/5");
	free(p);
	p = xs_get_domain_path(f->h0, 0);
	assert_non_null(p);
	assert_string_equal(p, "/local/domain/0");
	free(p);
	p = xs_get_domain_path(f->h0, 321);
	assert_non_null(p);
	assert_string_equal(p, "/local/domain/321");
	free(p);
	p = xs_get_domain_path(g, 5);
	assert_non_null(p);
	assert_string_equal(p, "/local/domain/5");
	free(p);
}

static void test_domain_ops_need_dom0(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	bool ok;
	char *r;

	assert_int_equal(vbd_test_store_domain_add(&f->t, 6), 0);
	ok = xs_introduce_domain(g, 7, 1, 1);
	assert_false(ok);
	assert_int_equal(errno, EACCES);
	ok = xs_release_domain(g, 6);
	assert_false(ok);
	assert_int_equal(errno, EACCES);
	ok = xs_set_target(g, 5, 6);
	assert_false(ok);
	assert_int_equal(errno, EACCES);
	ok = xs_resume_domain(g, 6);
	assert_false(ok);
	assert_int_equal(errno, EACCES);
	r = xs_control_command(g, "check", NULL, 0);
	assert_null(r);
	assert_int_equal(errno, EACCES);
	assert_false(xs_is_domain_introduced(f->h0, 7));
	assert_true(xs_is_domain_introduced(f->h0, 6));
}

/* RELEASE deletes what the domain owns and strips it from every perm list,
 * so a reused domid inherits nothing. */
static void test_release_cleans_up(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);

	assert_int_equal(vbd_test_store_domain_add(&f->t, 6), 0);
	write_str(g, XBT_NULL, "data/x", "1");
	write_str(f->h0, XBT_NULL, "/shared", "s");
	set_perms_ok(f->h0, "/shared", "n0,r5,w6");
	write_str(f->h0, XBT_NULL, "/owned5/sub", "x");
	set_perms_ok(f->h0, "/owned5", "n5");
	assert_read(g, XBT_NULL, "/shared", "s");

	assert_true(xs_release_domain(f->h0, 5));
	assert_read_err(f->h0, XBT_NULL, "/local/domain/5", ENOENT);
	assert_read_err(f->h0, XBT_NULL, "/owned5", ENOENT);
	assert_read_err(f->h0, XBT_NULL, "/owned5/sub", ENOENT);
	assert_perms(f->h0, "/shared", "n0,w6");
	assert_read(f->h0, XBT_NULL, "/local", "");

	/* Domid reuse. */
	close_h(f, g);
	g = guest_bare(f, 5);
	assert_read_err(g, XBT_NULL, "/shared", EACCES);
}

/* Closing a domain's connection neither releases it nor fires
 * @releaseDomain. */
static void test_guest_close_no_release(void **state)
{
	struct fx *f = *state;
	struct xs_handle *w = open_h(f, 0);
	struct xs_handle *g = guest(f, 5);
	vbd_store_stats st;

	sync_arm(f, w, "/sync");
	assert_true(xs_watch(w, "@releaseDomain", "out"));
	expect_event(w, "@releaseDomain", "out");
	write_str(g, XBT_NULL, "x", "1");
	close_h(f, g);
	wait_connections(f, 2, &st);   /* h0 and w */
	assert_no_events(f, w, "/sync");
	assert_true(xs_is_domain_introduced(f->h0, 5));
	assert_read(f->h0, XBT_NULL, "/local/domain/5/x", "1");
	g = open_h(f, 5);
	assert_read(g, XBT_NULL, "x", "1");
}

static void test_set_target(void **state)
{
	struct fx *f = *state;
	struct xs_handle *dm = guest(f, 5);
	bool ok;

	guest(f, 6);
	write_str(f->h0, XBT_NULL, "/local/domain/6/priv", "p");
	assert_perms(f->h0, "/local/domain/6/priv", "n6");
	assert_read_err(dm, XBT_NULL, "/local/domain/6/priv", EACCES);
	assert_write_err(dm, XBT_NULL, "/local/domain/6/priv", "x", EACCES);

	assert_true(xs_set_target(f->h0, 5, 6));
	/* Full access to what the target owns... */
	assert_read(dm, XBT_NULL, "/local/domain/6/priv", "p");
	write_str(dm, XBT_NULL, "/local/domain/6/priv", "dm");
	assert_read(f->h0, XBT_NULL, "/local/domain/6/priv", "dm");
	/* ...and to what the target is granted by an entry. */
	write_str(f->h0, XBT_NULL, "/granted", "g");
	set_perms_ok(f->h0, "/granted", "n0,r6");
	assert_read(dm, XBT_NULL, "/granted", "g");
	/* Not to anything else. */
	write_str(f->h0, XBT_NULL, "/dom0only", "z");
	assert_read_err(dm, XBT_NULL, "/dom0only", EACCES);

	ok = xs_set_target(f->h0, 5, 77);
	assert_false(ok);
	assert_int_equal(errno, ENOENT);
	ok = xs_set_target(f->h0, 77, 5);
	assert_false(ok);
	assert_int_equal(errno, ENOENT);
}

static void test_resume(void **state)
{
	struct fx *f = *state;
	bool ok;

	guest(f, 5);
	assert_true(xs_resume_domain(f->h0, 5));
	ok = xs_resume_domain(f->h0, 77);
	assert_false(ok);
	assert_int_equal(errno, ENOENT);
}

/* Value of "name" in "name value\n" lines, or -1. */
static long text_value(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, name, n) && p[n] == ' ')
			return strtol(p + n + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

static void test_control(void **state)
{
	struct fx *f = *state;
	char *r;
	vbd_store_stats st;

	r = xs_control_command(f->h0, "check", NULL, 0);
	assert_non_null(r);
	assert_string_equal(r, "OK");
	free(r);

	r = xs_control_command(f->h0, "help", NULL, 0);
	assert_non_null(r);
	assert_non_null(strstr(r, "check"));
	assert_non_null(strstr(r, "quota"));
	assert_non_null(strstr(r, "stats"));
	free(r);

	write_str(f->h0, XBT_NULL, "/c/a", "1");
	r = xs_control_command(f->h0, "stats", NULL, 0);
	assert_non_null(r);
	vbd_test_store_stats(&f->t, &st);
	assert_int_equal(text_value(r, "nodes"), (long)st.nodes);
	assert_true(text_value(r, "connections") >= 1);
	free(r);

	r = xs_control_command(f->h0, "bogus", NULL, 0);
	assert_null(r);
	assert_int_equal(errno, EINVAL);
	/* "conns": a line per connection, its requests by type; this one
	 * wrote once above and asked for "check", "help", "stats", "bogus"
	 * and now this. */
	r = xs_control_command(f->h0, "conns", NULL, 0);
	assert_non_null(r);
	{
		char want[96];

		snprintf(want, sizeof(want), "pid %ld domid 0 events 0 control 5 write 1\n",
		         (long)getpid());
		if (!strstr(r, want))
			fail_msg("no line \"%.*s\" in:\n%s", (int)strlen(want) - 1, want, r);
	}
	free(r);
}

/* "quota" lists name/value lines; "quota <name> <value>" sets one.  Args
 * are sent the way xenstore-control sends them: NUL-separated. */
static void test_control_quota(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	char *r, name[64] = "", args[128];
	const char *p;
	int len;
	bool ok;

	r = xs_control_command(f->h0, "quota", NULL, 0);
	assert_non_null(r);
	/* Find the watch quota, whatever its exact name. */
	for (p = r; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char n[64];
		long v;

		assert_int_equal(sscanf(p, "%63s %ld", n, &v), 2);
		if (strstr(n, "watch")) {
			snprintf(name, sizeof(name), "%s", n);
			assert_int_equal(v, 128);
		}
	}
	free(r);
	if (!name[0])
		fail_msg("no watch quota in the quota listing");

	len = snprintf(args, sizeof(args), "%s%c1", name, 0) + 1;
	r = xs_control_command(f->h0, "quota", args, len);
	if (!r)
		fail_msg("quota %s 1: %s", name, strerror(errno));
	assert_string_equal(r, "OK");
	free(r);
	r = xs_control_command(f->h0, "quota", NULL, 0);
	assert_non_null(r);
	assert_int_equal(text_value(r, name), 1);
	free(r);

	assert_true(xs_watch(g, "a", "t"));
	ok = xs_watch(g, "b", "t");
	assert_false(ok);
	assert_int_equal(errno, E2BIG);
}

/* One line of CONTROL "quota <domid>"; NULL reply or no such line fails. */
static long quota_line(struct fx *f, unsigned domid, const char *name)
{
	char id[16], *r;
	long v;

	snprintf(id, sizeof(id), "%u", domid);
	r = xs_control_command(f->h0, "quota", id, (unsigned)strlen(id) + 1);
	if (!r)
		fail_msg("quota %u: %s", domid, strerror(errno));
	if (!strstr(r, name))
		fail_msg("quota %u: no line \"%s\" in \"%s\"", domid, name, r);
	v = text_value(r, name);
	free(r);
	return v;
}

/*
 * The sequence of a fuzzer report: dom0 makes a guest's home, hands it to
 * the guest and releases the guest over the wire while it holds a node, a
 * watch, an open transaction and a connection.  Afterwards CONTROL "quota"
 * refuses the id (ENOENT: there is no such domain, not a charge of -1), and
 * a domain introduced again with that id starts with nothing charged.
 */
static void test_control_quota_after_release(void **state)
{
	static const char *const kinds[] = { "memory", "memory-nodes",
	                                     "memory-transactions", "memory-output",
	                                     "memory-watches", "nodes", "watches",
	                                     "connections" };
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 1);
	xs_transaction_t t;
	vbd_store_stats st;
	unsigned i;
	char *r;

	write_str(g, XBT_NULL, "a", "1");
	assert_true(xs_watch(g, "a", "tok"));
	t = xs_transaction_start(g);
	assert_true(t != XBT_NULL);
	write_str(g, t, "b", "2");
	assert_true(quota_line(f, 1, "memory-nodes") > 0);
	assert_true(quota_line(f, 1, "memory-watches") > 0);
	assert_true(quota_line(f, 1, "memory-transactions") > 0);
	assert_int_equal(quota_line(f, 1, "connections"), 1);

	assert_true(xs_release_domain(f->h0, 1));
	assert_false(xs_is_domain_introduced(f->h0, 1));
	r = xs_control_command(f->h0, "quota", "1", 2);
	assert_null(r);
	assert_int_equal(errno, ENOENT);
	vbd_test_store_stats(&f->t, &st);
	assert_int_equal(st.transactions, 0);
	assert_int_equal(st.watches, 0);

	assert_true(xs_introduce_domain(f->h0, 1, 1001, 1));
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (quota_line(f, 1, kinds[i]) != 0)
			fail_msg("domain 1 introduced again: %s %ld", kinds[i],
			         quota_line(f, 1, kinds[i]));
}

/* ================================================================== */
/* Permissions from a guest socket                                     */

static void test_guest_perm_none(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	unsigned n;
	bool ok;

	write_str(f->h0, XBT_NULL, "/pg/n", "secret");
	assert_perms(f->h0, "/pg/n", "n0");
	assert_read_err(g, XBT_NULL, "/pg/n", EACCES);
	assert_write_err(g, XBT_NULL, "/pg/n", "x", EACCES);
	assert_write_err(g, XBT_NULL, "/pg/n/new", "x", EACCES);
	assert_null(xs_directory(g, XBT_NULL, "/pg", &n));
	assert_int_equal(errno, EACCES);
	ok = xs_mkdir(g, XBT_NULL, "/pg/n/dir");
	assert_false(ok);
	assert_int_equal(errno, EACCES);
	ok = xs_rm(g, XBT_NULL, "/pg/n");
	assert_false(ok);
	assert_int_equal(errno, EACCES);
	ok = set_perms(g, XBT_NULL, "/pg/n", "b5");
	assert_false(ok);
	assert_int_equal(errno, EACCES);
	/* Missing under what it may not read is EACCES too, as cxenstored:
	 * a guest cannot tell which nodes exist. */
	assert_read_err(g, XBT_NULL, "/pg/n/missing", EACCES);
	assert_read(f->h0, XBT_NULL, "/pg/n", "secret");
	assert_read_err(f->h0, XBT_NULL, "/pg/n/new", ENOENT);
}

static void test_guest_root(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	unsigned n;

	assert_read_err(g, XBT_NULL, "/", EACCES);
	assert_write_err(g, XBT_NULL, "/foo", "x", EACCES);
	assert_null(xs_directory(g, XBT_NULL, "/", &n));
	assert_int_equal(errno, EACCES);
	assert_read_err(f->h0, XBT_NULL, "/foo", ENOENT);
}

static void test_guest_perm_read(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	bool ok;

	write_str(f->h0, XBT_NULL, "/pr/c", "v");
	set_perms_ok(f->h0, "/pr", "n0,r5");
	set_perms_ok(f->h0, "/pr/c", "n0,r5");
	assert_read(g, XBT_NULL, "/pr/c", "v");
	assert_dir(g, XBT_NULL, "/pr", "c");
	assert_write_err(g, XBT_NULL, "/pr/c", "x", EACCES);
	assert_write_err(g, XBT_NULL, "/pr/new", "x", EACCES);
	ok = xs_rm(g, XBT_NULL, "/pr/c");
	assert_false(ok);
	assert_int_equal(errno, EACCES);
	assert_read(f->h0, XBT_NULL, "/pr/c", "v");
}

static void test_guest_perm_write(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);

	write_str(f->h0, XBT_NULL, "/pw", "v");
	set_perms_ok(f->h0, "/pw", "n0,w5");
	assert_read_err(g, XBT_NULL, "/pw", EACCES);
	write_str(g, XBT_NULL, "/pw", "fromguest");
	assert_read(f->h0, XBT_NULL, "/pw", "fromguest");
	/* Writing does not change the owner of an existing node. */
	assert_perms(f->h0, "/pw", "n0,w5");
	/* Creating a child under a writable parent is fine. */
	write_str(g, XBT_NULL, "/pw/kid", "k");
	assert_true(xs_rm(g, XBT_NULL, "/pw/kid"));
	assert_read_err(f->h0, XBT_NULL, "/pw/kid", ENOENT);
}

static void test_guest_perm_both(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);

	write_str(f->h0, XBT_NULL, "/pb", "v");
	set_perms_ok(f->h0, "/pb", "n0,b5");
	assert_read(g, XBT_NULL, "/pb", "v");
	write_str(g, XBT_NULL, "/pb", "w");
	assert_read(g, XBT_NULL, "/pb", "w");
	assert_true(xs_rm(g, XBT_NULL, "/pb"));
	assert_read_err(f->h0, XBT_NULL, "/pb", ENOENT);
}

/* perms[0]'s letter is the default; the first later entry matching the
 * domain decides. */
static void test_guest_perm_default_and_override(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g5 = guest(f, 5);
	struct xs_handle *g6 = guest(f, 6);

	write_str(f->h0, XBT_NULL, "/pd", "v");
	set_perms_ok(f->h0, "/pd", "r0,n5");
	assert_read_err(g5, XBT_NULL, "/pd", EACCES);
	assert_read(g6, XBT_NULL, "/pd", "v");
	assert_write_err(g6, XBT_NULL, "/pd", "x", EACCES);

	/* First matching entry wins. */
	set_perms_ok(f->h0, "/pd", "n0,r5,w5");
	assert_read(g5, XBT_NULL, "/pd", "v");
	assert_write_err(g5, XBT_NULL, "/pd", "x", EACCES);

	/* Default write for everyone. */
	set_perms_ok(f->h0, "/pd", "w0");
	write_str(g6, XBT_NULL, "/pd", "six");
	assert_read_err(g6, XBT_NULL, "/pd", EACCES);
	assert_read(f->h0, XBT_NULL, "/pd", "six");
}

/* The owner has full access whatever the letters say. */
static void test_guest_owner_full_access(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);

	write_str(f->h0, XBT_NULL, "/own", "v");
	set_perms_ok(f->h0, "/own", "n5,r6");
	assert_read(g, XBT_NULL, "/own", "v");
	write_str(g, XBT_NULL, "/own", "mine");
	assert_true(set_perms(g, XBT_NULL, "/own", "r5"));
	assert_perms(f->h0, "/own", "r5");
}

/* A guest creating nodes: perms are inherited, the owner becomes the guest,
 * for implicit parents too. */
static void test_guest_create_owner(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);

	guest(f, 6);
	write_str(f->h0, XBT_NULL, "/gc", "");
	set_perms_ok(f->h0, "/gc", "n0,w5,r6");
	write_str(g, XBT_NULL, "/gc/a/b", "1");
	assert_perms(f->h0, "/gc/a", "n5,w5,r6");
	assert_perms(f->h0, "/gc/a/b", "n5,w5,r6");
	/* Owner now: the guest may read what it created. */
	assert_read(g, XBT_NULL, "/gc/a/b", "1");

	/* dom0 creating under a guest's home inherits the guest as owner. */
	write_str(f->h0, XBT_NULL, "/local/domain/5/fromdom0", "x");
	assert_perms(f->h0, "/local/domain/5/fromdom0", "n5");
}

static void test_guest_set_perms_owner_change_eperm(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	bool ok;

	guest(f, 6);
	write_str(g, XBT_NULL, "mine", "1");
	assert_perms(g, "mine", "n5");
	ok = set_perms(g, XBT_NULL, "mine", "n6");
	assert_false(ok);
	assert_int_equal(errno, EPERM);
	ok = set_perms(g, XBT_NULL, "mine", "n0,r5");
	assert_false(ok);
	assert_int_equal(errno, EPERM);
	assert_perms(f->h0, "/local/domain/5/mine", "n5");
	/* Same owner, other entries: fine. */
	assert_true(set_perms(g, XBT_NULL, "mine", "r5,w6"));
	assert_perms(f->h0, "/local/domain/5/mine", "r5,w6");

	/* Not the owner at all: denied even with write access. */
	write_str(f->h0, XBT_NULL, "/notmine", "");
	set_perms_ok(f->h0, "/notmine", "n0,b5");
	ok = set_perms(g, XBT_NULL, "/notmine", "n0,b5,r6");
	assert_false(ok);
	assert_int_equal(errno, EACCES);
}

static void test_guest_perms_entries_limit(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	bool ok;
	unsigned d;

	for (d = 6; d <= 10; d++)
		assert_int_equal(vbd_test_store_domain_add(&f->t, d), 0);
	write_str(g, XBT_NULL, "pl", "");
	assert_true(set_perms(g, XBT_NULL, "pl", "n5,r6,r7,r8,r9"));
	ok = set_perms(g, XBT_NULL, "pl", "n5,r6,r7,r8,r9,r10");
	assert_false(ok);
	assert_int_equal(errno, ENOSPC);
	assert_perms(f->h0, "/local/domain/5/pl", "n5,r6,r7,r8,r9");
	/* dom0 is not limited. */
	set_perms_ok(f->h0, "/local/domain/5/pl", "n5,r6,r7,r8,r9,r10");
	assert_perms(f->h0, "/local/domain/5/pl", "n5,r6,r7,r8,r9,r10");
}

static void test_guest_relative_resolution(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g5 = guest(f, 5);
	struct xs_handle *g6 = guest(f, 6);

	write_str(g5, XBT_NULL, "same", "five");
	write_str(g6, XBT_NULL, "same", "six");
	assert_read(g5, XBT_NULL, "same", "five");
	assert_read(g6, XBT_NULL, "same", "six");
	assert_read_err(g5, XBT_NULL, "/local/domain/6/same", EACCES);
	assert_read(f->h0, XBT_NULL, "/local/domain/5/same", "five");
	assert_read(f->h0, XBT_NULL, "/local/domain/6/same", "six");
	assert_read_err(f->h0, XBT_NULL, "same", ENOENT);
}

/* ================================================================== */
/* Quotas (setup_small: nodes 8, watches 3, txns 2, txn nodes 4, perms 3,
 * value 16)                                                           */

static void quota_area(struct fx *f)
{
	unsigned d;

	write_str(f->h0, XBT_NULL, "/q", "");
	set_perms_ok(f->h0, "/q", "n0,b5");
	for (d = 6; d <= 9; d++)
		assert_int_equal(vbd_test_store_domain_add(&f->t, d), 0);
}

static void test_quota_nodes(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest_bare(f, 5);
	char path[64];
	unsigned i;

	quota_area(f);
	for (i = 1; i <= 8; i++) {
		snprintf(path, sizeof(path), "/q/n%u", i);
		write_str(g, XBT_NULL, path, "v");
	}
	assert_write_err(g, XBT_NULL, "/q/n9", "v", ENOSPC);
	assert_read_err(f->h0, XBT_NULL, "/q/n9", ENOENT);
	/* Rewriting an owned node is no new node. */
	write_str(g, XBT_NULL, "/q/n2", "again");
	/* Freeing one makes room. */
	assert_true(xs_rm(g, XBT_NULL, "/q/n1"));
	write_str(g, XBT_NULL, "/q/n9", "v");
	assert_write_err(g, XBT_NULL, "/q/n10", "v", ENOSPC);
	/* dom0 is not limited. */
	for (i = 20; i < 40; i++) {
		snprintf(path, sizeof(path), "/q/d%u", i);
		write_str(f->h0, XBT_NULL, path, "v");
	}
}

static void test_quota_nodes_implicit_parents(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest_bare(f, 5);

	quota_area(f);
	/* 3 + 3 + 2 = 8 nodes, then one more needs 2. */
	write_str(g, XBT_NULL, "/q/a/b/c", "v");
	write_str(g, XBT_NULL, "/q/d/e/f", "v");
	write_str(g, XBT_NULL, "/q/g/h", "v");
	assert_write_err(g, XBT_NULL, "/q/i/j", "v", ENOSPC);
	assert_read_err(f->h0, XBT_NULL, "/q/i", ENOENT);
}

static void test_quota_value_size(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest_bare(f, 5);

	quota_area(f);
	write_str(g, XBT_NULL, "/q/v", "0123456789abcdef");
	assert_read(g, XBT_NULL, "/q/v", "0123456789abcdef");
	assert_write_err(g, XBT_NULL, "/q/v", "0123456789abcdefX", ENOSPC);
	assert_read(g, XBT_NULL, "/q/v", "0123456789abcdef");
	write_str(f->h0, XBT_NULL, "/q/v", "0123456789abcdef-dom0-is-not-limited");
}

static void test_quota_perms_entries(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest_bare(f, 5);
	bool ok;

	quota_area(f);
	write_str(g, XBT_NULL, "/q/p", "");
	assert_perms(f->h0, "/q/p", "n5,b5");
	assert_true(set_perms(g, XBT_NULL, "/q/p", "n5,r6,r7"));
	ok = set_perms(g, XBT_NULL, "/q/p", "n5,r6,r7,r8");
	assert_false(ok);
	assert_int_equal(errno, ENOSPC);
	assert_perms(f->h0, "/q/p", "n5,r6,r7");
	set_perms_ok(f->h0, "/q/p", "n5,r6,r7,r8,r9");
}

static void test_quota_watches(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest_bare(f, 5);
	bool ok;

	assert_true(xs_watch(g, "/q/w1", "t"));
	assert_true(xs_watch(g, "/q/w2", "t"));
	assert_true(xs_watch(g, "/q/w3", "t"));
	ok = xs_watch(g, "/q/w4", "t");
	assert_false(ok);
	assert_int_equal(errno, E2BIG);
	assert_true(xs_unwatch(g, "/q/w1", "t"));
	assert_true(xs_watch(g, "/q/w4", "t"));
	/* dom0 is not limited. */
	assert_true(xs_watch(f->h0, "/q/d1", "t"));
	assert_true(xs_watch(f->h0, "/q/d2", "t"));
	assert_true(xs_watch(f->h0, "/q/d3", "t"));
	assert_true(xs_watch(f->h0, "/q/d4", "t"));
}

static void test_quota_watches_per_domain(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g1 = guest_bare(f, 5);
	struct xs_handle *g2 = open_h(f, 5);
	vbd_store_stats st;
	bool ok;

	assert_true(xs_watch(g1, "/q/w1", "t"));
	assert_true(xs_watch(g1, "/q/w2", "t"));
	assert_true(xs_watch(g2, "/q/w3", "t"));
	ok = xs_watch(g2, "/q/w4", "t");
	assert_false(ok);
	assert_int_equal(errno, E2BIG);
	/* Closing a conn gives its watches back (h0 and g2 remain). */
	close_h(f, g1);
	wait_connections(f, 2, &st);
	assert_int_equal(st.watches, 1);
	assert_true(xs_watch(g2, "/q/w4", "t"));
}

static void test_quota_transactions(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest_bare(f, 5);
	xs_transaction_t t1, t2, t3;

	t1 = xs_transaction_start(g);
	t2 = xs_transaction_start(g);
	assert_true(t1 != XBT_NULL);
	assert_true(t2 != XBT_NULL);
	assert_true(t1 != t2);
	t3 = xs_transaction_start(g);
	assert_int_equal(t3, XBT_NULL);
	assert_int_equal(errno, ENOSPC);
	assert_true(xs_transaction_end(g, t1, true));
	t3 = xs_transaction_start(g);
	assert_true(t3 != XBT_NULL);
	/* Per connection. */
	assert_true(xs_transaction_start(open_h(f, 5)) != XBT_NULL);
	/* dom0 is not limited. */
	assert_true(xs_transaction_start(f->h0) != XBT_NULL);
	assert_true(xs_transaction_start(f->h0) != XBT_NULL);
	assert_true(xs_transaction_start(f->h0) != XBT_NULL);
}

static void test_quota_nodes_per_transaction(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest_bare(f, 5);
	xs_transaction_t t;
	char path[32];
	unsigned i;
	bool ok;
	int e = 0;

	quota_area(f);
	for (i = 1; i <= 5; i++) {
		snprintf(path, sizeof(path), "/q/x%u", i);
		write_str(f->h0, XBT_NULL, path, "0");
		set_perms_ok(f->h0, path, "n0,b5");
	}
	t = xs_transaction_start(g);
	assert_true(t != XBT_NULL);
	for (i = 1; i <= 4; i++) {
		snprintf(path, sizeof(path), "/q/x%u", i);
		write_str(g, t, path, "1");
	}
	/* The fifth distinct node: ENOSPC at the write or at the latest at
	 * commit. */
	ok = xs_write(g, t, "/q/x5", "1", 1);
	if (!ok) {
		assert_int_equal(errno, ENOSPC);
		(void)xs_transaction_end(g, t, true);
	} else {
		ok = xs_transaction_end(g, t, false);
		e = errno;
		assert_false(ok);
		assert_int_equal(e, ENOSPC);
	}
	for (i = 1; i <= 5; i++) {
		snprintf(path, sizeof(path), "/q/x%u", i);
		assert_read(f->h0, XBT_NULL, path, "0");
	}
	/* Four is fine. */
	t = xs_transaction_start(g);
	assert_true(t != XBT_NULL);
	for (i = 1; i <= 4; i++) {
		snprintf(path, sizeof(path), "/q/x%u", i);
		write_str(g, t, path, "2");
	}
	assert_true(xs_transaction_end(g, t, false));
	assert_read(f->h0, XBT_NULL, "/q/x4", "2");
}

/* ================================================================== */
/* Exact reply payloads, pipelining, resources given back             */

static void test_reply_payloads_raw(void **state)
{
	struct fx *f = *state;
	int fd = raw_open(f, 0);
	char buf[256];
	uint32_t ty;
	int n;
	static const char wr[] = "/rp/a\0val";
	static const char wr_empty[] = "/rp/e\0";
	static const char sp[] = "/rp/a\0n0\0r5";

	assert_int_equal(vbd_test_store_domain_add(&f->t, 5), 0);
	raw_expect_ok(fd, XS_WRITE, 0, wr, sizeof(wr) - 1);
	n = raw_call(fd, XS_READ, 0, "/rp/a", 6, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_READ);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "val", 3);
	/* A value may be empty: "path\0" and nothing after. */
	raw_expect_ok(fd, XS_WRITE, 0, wr_empty, sizeof(wr_empty) - 1);
	n = raw_call(fd, XS_READ, 0, "/rp/e", 6, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_READ);
	assert_int_equal(n, 0);
	/* No separator at all: the path is not NUL-terminated. */
	raw_expect_error(fd, XS_WRITE, 0, "/rp/z", 5, "EINVAL");

	raw_expect_ok(fd, XS_SET_PERMS, 0, sp, sizeof(sp));
	n = raw_call(fd, XS_GET_PERMS, 0, "/rp/a", 6, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_GET_PERMS);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "n0\0r5\0", 6);

	raw_expect_ok(fd, XS_MKDIR, 0, "/rp/d", 6);
	n = raw_call(fd, XS_DIRECTORY, 0, "/rp/d", 6, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_DIRECTORY);
	assert_int_equal(n, 0);
	n = raw_call(fd, XS_DIRECTORY, 0, "/rp", 4, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_DIRECTORY);
	assert_int_equal(n, 6);   /* "a\0d\0e\0" in some order */
	assert_int_equal(buf[1], 0);
	assert_int_equal(buf[3], 0);
	assert_int_equal(buf[5], 0);
	raw_expect_ok(fd, XS_RM, 0, "/rp/d", 6);

	n = raw_call(fd, XS_GET_DOMAIN_PATH, 0, "5", 2, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_GET_DOMAIN_PATH);
	assert_int_equal(n, 16);
	assert_memory_equal(buf, "/local/domain/5\0", 16);

	n = raw_call(fd, XS_CONTROL, 0, "check", 6, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_CONTROL);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "OK\0", 3);
}

/* A guest that sends more requests than `outstanding` before reading any
 * reply still gets every reply, in order, once it reads. */
static void test_pipelined_requests_raw(void **state)
{
	struct fx *f = *state;
	int fd;
	unsigned i;
	char buf[64];

	guest(f, 5);
	write_str(f->h0, XBT_NULL, "/local/domain/5/pv", "x");
	fd = raw_open(f, 5);
	for (i = 0; i < 60; i++)
		assert_int_equal(vbd_test_raw_send(fd, XS_READ, 500 + i, 0, "pv", 3), 0);
	for (i = 0; i < 60; i++) {
		uint32_t ty, rid, rtx;
		int n = vbd_test_raw_recv(fd, &ty, &rid, &rtx, buf, sizeof(buf),
		                          EVENT_TIMEOUT_MS);

		if (n < 0)
			fail_msg("reply %u: %s", i, strerror(-n));
		assert_int_equal(ty, XS_READ);
		assert_int_equal(rid, 500 + i);
		assert_int_equal(n, 1);
		assert_string_equal(buf, "x");
	}
}

/* RESET_WATCHES gives the domain's watch and transaction quota back. */
static void test_reset_watches_frees_quota_raw(void **state)
{
	struct fx *f = *state;
	int fd;
	unsigned i, events = 0;
	char buf[64], req[32];
	uint32_t ty;

	guest_bare(f, 5);
	fd = raw_open(f, 5);
	for (i = 0; i < 3; i++) {
		snprintf(req, sizeof(req), "/q/w%u", i);
		assert_int_equal(raw_watch(fd, req, "t", buf, sizeof(buf)), XS_WATCH);
	}
	raw_expect_error(fd, XS_WATCH, 0, "/q/w9\0t", 8, "E2BIG");
	raw_txn_start(fd);
	raw_txn_start(fd);
	raw_expect_error(fd, XS_TRANSACTION_START, 0, "", 1, "ENOSPC");

	raw_call(fd, XS_RESET_WATCHES, 0, "", 1, &ty, buf, sizeof(buf), &events);
	assert_int_equal(ty, XS_RESET_WATCHES);
	assert_string_equal(buf, "OK");

	assert_int_equal(events, 0);
	for (i = 0; i < 3; i++) {
		snprintf(req, sizeof(req), "/q/x%u", i);
		if (raw_watch(fd, req, "t", buf, sizeof(buf)) != XS_WATCH)
			fail_msg("watch %u after RESET_WATCHES: %s", i, buf);
	}
	raw_txn_start(fd);
	raw_txn_start(fd);
}

/* A closed connection's watches and transactions are freed. */
static void test_close_frees_resources(void **state)
{
	struct fx *f = *state;
	struct xs_handle *h = open_h(f, 0);
	vbd_store_stats st;

	assert_true(xs_watch(h, "/cf", "t"));
	assert_true(xs_transaction_start(h) != XBT_NULL);
	vbd_test_store_stats(&f->t, &st);
	assert_int_equal(st.watches, 1);
	assert_int_equal(st.transactions, 1);
	assert_int_equal(st.connections, 2);
	close_h(f, h);
	wait_connections(f, 1, &st);
	assert_int_equal(st.watches, 0);
	assert_int_equal(st.transactions, 0);
}

/* A transaction that listed a directory conflicts with a new child. */
static void test_txn_eagain_directory_conflict(void **state)
{
	struct fx *f = *state;
	struct xs_handle *o = open_h(f, 0);
	xs_transaction_t t;
	bool ok;

	write_str(f->h0, XBT_NULL, "/td/a", "");
	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	assert_dir(f->h0, t, "/td", "a");
	write_str(o, XBT_NULL, "/td/b", "");
	write_str(f->h0, t, "/td2/x", "1");
	ok = xs_transaction_end(f->h0, t, false);
	assert_false(ok);
	assert_int_equal(errno, EAGAIN);
	assert_read_err(o, XBT_NULL, "/td2/x", ENOENT);
}

/* A guest may not change the special nodes' perms. */
static void test_guest_special_set_perms_denied(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	bool ok;

	ok = set_perms(g, XBT_NULL, "@introduceDomain", "n0,r5");
	assert_false(ok);
	assert_int_equal(errno, EACCES);
	ok = set_perms(g, XBT_NULL, "@releaseDomain", "r5");
	assert_false(ok);
	assert_int_equal(errno, EACCES);
	assert_perms(f->h0, "@introduceDomain", "n0");
	assert_perms(f->h0, "@releaseDomain", "n0");
}

/* ================================================================== */
/* More corners                                                        */

/* dom0 removing a guest's home: the guest's relative watch on an existing
 * descendant fires with its relative path. */
static void test_watch_rm_ancestor_relative_guest(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);

	write_str(g, XBT_NULL, "dev/vbd", "1");
	sync_arm(f, g, "/gsync");
	assert_true(xs_watch(g, "dev/vbd", "tok"));
	expect_event(g, "dev/vbd", "tok");
	assert_true(xs_rm(f->h0, XBT_NULL, "/local/domain/5"));
	assert_only_event(f, g, "/gsync", "dev/vbd", "tok");
}

/* A guest watching "/" gets events only for the nodes it can read. */
static void test_watch_root_guest_filtered_per_node(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);

	write_str(f->h0, XBT_NULL, "/gsync", "0");
	set_perms_ok(f->h0, "/gsync", "r0");
	assert_true(xs_watch(g, "/", "root"));
	expect_event(g, "/", "root");
	/* The sync node is under "/" too: its event carries token "root". */
	write_str(f->h0, XBT_NULL, "/secret", "s");
	write_str(f->h0, XBT_NULL, "/local/domain/5/mine", "m");
	write_str(f->h0, XBT_NULL, "/gsync", "1");
	expect_event(g, "/local/domain/5/mine", "root");
	expect_event(g, "/gsync", "root");
	assert_null(xs_check_watch(g));
	assert_int_equal(errno, EAGAIN);
}

/* Create and delete in one transaction (XSA-421 shape). */
static void test_txn_create_delete(void **state)
{
	struct fx *f = *state;
	xs_transaction_t t;

	write_str(f->h0, XBT_NULL, "/cd", "");
	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	write_str(f->h0, t, "/cd/a/b", "1");
	assert_true(xs_rm(f->h0, t, "/cd/a"));
	assert_read_err(f->h0, t, "/cd/a", ENOENT);
	assert_true(xs_transaction_end(f->h0, t, false));
	assert_read_err(f->h0, XBT_NULL, "/cd/a", ENOENT);
	assert_dir(f->h0, XBT_NULL, "/cd", "");
}

/* The parent of a node created in a transaction removed meanwhile. */
static void test_txn_eagain_parent_removed(void **state)
{
	struct fx *f = *state;
	struct xs_handle *o = open_h(f, 0);
	xs_transaction_t t;
	bool ok;

	write_str(f->h0, XBT_NULL, "/tpr/a", "");
	t = xs_transaction_start(f->h0);
	assert_true(t != XBT_NULL);
	write_str(f->h0, t, "/tpr/a/b", "1");
	assert_true(xs_rm(o, XBT_NULL, "/tpr/a"));
	ok = xs_transaction_end(f->h0, t, false);
	assert_false(ok);
	assert_int_equal(errno, EAGAIN);
	assert_read_err(o, XBT_NULL, "/tpr/a", ENOENT);
}

/* Node quota applies to nodes created in a transaction too. */
static void test_quota_nodes_in_txn(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest_bare(f, 5);
	xs_transaction_t t;
	char path[32];
	unsigned i;
	bool ok;

	quota_area(f);
	for (i = 1; i <= 6; i++) {
		snprintf(path, sizeof(path), "/q/n%u", i);
		write_str(g, XBT_NULL, path, "v");
	}
	t = xs_transaction_start(g);
	assert_true(t != XBT_NULL);
	write_str(g, t, "/q/t1", "v");
	write_str(g, t, "/q/t2", "v");
	ok = xs_write(g, t, "/q/t3", "v", 1);
	if (!ok) {
		assert_int_equal(errno, ENOSPC);
		(void)xs_transaction_end(g, t, true);
	} else {
		ok = xs_transaction_end(g, t, false);
		assert_false(ok);
		assert_int_equal(errno, ENOSPC);
	}
	assert_read_err(f->h0, XBT_NULL, "/q/t3", ENOENT);
}

/* Nodes in the subtree at path whose owner (first permission entry) is
 * domid, by dom0's walk of the tree. */
static unsigned owned_under(struct xs_handle *h0, const char *path, unsigned domid)
{
	struct xs_permissions *p;
	unsigned n = 0, i, count = 0;
	char **kids, child[256];

	p = xs_get_permissions(h0, XBT_NULL, path, &n);
	if (!p)
		fail_msg("xs_get_permissions(%s): %s", path, strerror(errno));
	count += n && p[0].id == domid;
	free(p);
	kids = xs_directory(h0, XBT_NULL, path, &n);
	if (!kids)
		fail_msg("xs_directory(%s): %s", path, strerror(errno));
	for (i = 0; i < n; i++) {
		snprintf(child, sizeof(child), "%s/%s", strcmp(path, "/") ? path : "", kids[i]);
		count += owned_under(h0, child, domid);
	}
	free(kids);
	return count;
}

/*
 * Two transactions of one guest, each within the node quota on its own but
 * together over it: the second commit is refused (ENOSPC, as cxenstored's
 * commit-time check), because the check counts what the domain owns by
 * then, not what it owned when the transaction started.  Each transaction
 * writes under its own parent, so they do not conflict (no EAGAIN to hide
 * the quota).  Quota 8: 3 owned, +3 in each.
 */
static void test_quota_nodes_concurrent_txns(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g1 = guest_bare(f, 5), *g2 = open_h(f, 5);
	xs_transaction_t t1, t2;
	char path[32];
	unsigned i, before;

	quota_area(f);
	write_str(f->h0, XBT_NULL, "/q/a", "");
	write_str(f->h0, XBT_NULL, "/q/b", "");
	set_perms_ok(f->h0, "/q/a", "n0,b5");
	set_perms_ok(f->h0, "/q/b", "n0,b5");
	before = owned_under(f->h0, "/", 5);
	for (i = 1; i <= 3; i++) {
		snprintf(path, sizeof(path), "/q/n%u", i);
		write_str(g1, XBT_NULL, path, "v");
	}
	assert_int_equal(owned_under(f->h0, "/", 5), before + 3);
	assert_int_equal(quota_line(f, 5, "nodes"), before + 3);

	/* Both started before either commits, on two connections. */
	t1 = xs_transaction_start(g1);
	t2 = xs_transaction_start(g2);
	assert_true(t1 != XBT_NULL && t2 != XBT_NULL);
	for (i = 1; i <= 3; i++) {
		snprintf(path, sizeof(path), "/q/a/%u", i);
		write_str(g1, t1, path, "v");
		snprintf(path, sizeof(path), "/q/b/%u", i);
		write_str(g2, t2, path, "v");
	}
	if (!xs_transaction_end(g1, t1, false))
		fail_msg("first commit (6 of 8 nodes): %s", strerror(errno));
	if (xs_transaction_end(g2, t2, false))
		fail_msg("second commit succeeded: dom5 now owns %u nodes, quota 8",
		         owned_under(f->h0, "/", 5));
	assert_int_equal(errno, ENOSPC);
	assert_read_err(f->h0, XBT_NULL, "/q/b/1", ENOENT);
	assert_int_equal(owned_under(f->h0, "/", 5), before + 6);
	assert_int_equal(quota_line(f, 5, "nodes"), before + 6);

	/* The same on one connection, two transactions open at once. */
	t1 = xs_transaction_start(g1);
	t2 = xs_transaction_start(g1);
	assert_true(t1 != XBT_NULL && t2 != XBT_NULL);
	write_str(g1, t1, "/q/a/4", "v");
	write_str(g1, t1, "/q/a/5", "v");
	write_str(g1, t2, "/q/b/1", "v");
	write_str(g1, t2, "/q/b/2", "v");
	assert_true(xs_transaction_end(g1, t1, false));
	assert_false(xs_transaction_end(g1, t2, false));
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(owned_under(f->h0, "/", 5), before + 8);
	assert_int_equal(quota_line(f, 5, "nodes"), before + 8);

	/* At the quota, a transaction that frees as many as it makes commits. */
	t1 = xs_transaction_start(g1);
	assert_true(t1 != XBT_NULL);
	assert_true(xs_rm(g1, t1, "/q/a/5"));
	write_str(g1, t1, "/q/b/1", "v");
	assert_true(xs_transaction_end(g1, t1, false));
	assert_int_equal(owned_under(f->h0, "/", 5), before + 8);
	assert_int_equal(quota_line(f, 5, "nodes"), before + 8);
}

/* DIRECTORY_PART through a relative path from a guest, and inside a
 * transaction that added a child. */
static void test_directory_part_guest_relative_txn(void **state)
{
	struct fx *f = *state;
	struct xs_handle *g = guest(f, 5);
	char name[64], path[128];
	unsigned n = 0, i;
	char **d;
	xs_transaction_t t;
	bool found = false;

	for (i = 0; i < BIG_N; i++) {
		big_name(name, sizeof(name), i);
		snprintf(path, sizeof(path), "big/%s", name);
		write_str(g, XBT_NULL, path, "");
	}
	d = xs_directory(g, XBT_NULL, "big", &n);
	if (!d)
		fail_msg("xs_directory(big) from guest: %s", strerror(errno));
	assert_int_equal(n, BIG_N);
	free(d);

	t = xs_transaction_start(g);
	assert_true(t != XBT_NULL);
	write_str(g, t, "big/extra-child", "");
	d = xs_directory(g, t, "big", &n);
	if (!d)
		fail_msg("xs_directory(big) in txn: %s", strerror(errno));
	assert_int_equal(n, BIG_N + 1);
	for (i = 0; i < n; i++)
		found |= !strcmp(d[i], "extra-child");
	free(d);
	assert_true(found);
	assert_true(xs_transaction_end(g, t, true));
}

/* The generation seen by DIRECTORY_PART changes between chunks when a
 * child is added, which is what makes libxenstore restart. */
static void test_directory_part_generation_midway_raw(void **state)
{
	struct fx *f = *state;
	char buf[4200], gen1[32], req[64];
	uint32_t ty;
	int fd, n, len;
	size_t body;

	make_big_dir(f, "/big");
	fd = raw_open(f, 0);
	n = raw_call(fd, XS_DIRECTORY_PART, 0, "/big\0" "0", 7, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_DIRECTORY_PART);
	assert_true(strlen(buf) < sizeof(gen1));
	strcpy(gen1, buf);
	body = n - strlen(gen1) - 1;
	write_str(f->h0, XBT_NULL, "/big/zzz-new", "");
	len = snprintf(req, sizeof(req), "/big%c%zu", 0, body) + 1;
	raw_call(fd, XS_DIRECTORY_PART, 0, req, len, &ty, buf, sizeof(buf), NULL);
	assert_int_equal(ty, XS_DIRECTORY_PART);
	assert_string_not_equal(buf, gen1);
	/* And libxenstore still gets the whole, new listing. */
	{
		unsigned num = 0;
		char **d = xs_directory(f->h0, XBT_NULL, "/big", &num);

		assert_non_null(d);
		assert_int_equal(num, BIG_N + 1);
		free(d);
	}
}

/* ================================================================== */
/* Many concurrent clients                                             */

#define CONC_THREADS 16
#define CONC_ITERS 200

struct conc_arg {
	struct xs_handle *h;
	unsigned id;
	unsigned retries;
	char why[256];
};

static void *conc_thread(void *p)
{
	struct conc_arg *a = p;
	char path[64], val[64];
	unsigned i;

	for (i = 0; i < CONC_ITERS; i++) {
		unsigned len, tries;
		char *v;

		snprintf(path, sizeof(path), "/conc/t%u/k%u", a->id, i % 7);
		snprintf(val, sizeof(val), "%u-%u", a->id, i);
		if (!xs_write(a->h, XBT_NULL, path, val, strlen(val))) {
			snprintf(a->why, sizeof(a->why), "write %s: %s", path, strerror(errno));
			return NULL;
		}
		v = xs_read(a->h, XBT_NULL, path, &len);
		if (!v || strcmp(v, val)) {
			snprintf(a->why, sizeof(a->why), "read %s: %s", path,
			         v ? v : strerror(errno));
			free(v);
			return NULL;
		}
		free(v);

		for (tries = 0;; tries++) {
			xs_transaction_t t;
			unsigned long n;

			if (tries > 100000) {
				snprintf(a->why, sizeof(a->why), "livelock");
				return NULL;
			}
			t = xs_transaction_start(a->h);
			if (t == XBT_NULL) {
				snprintf(a->why, sizeof(a->why), "txn start: %s", strerror(errno));
				return NULL;
			}
			v = xs_read(a->h, t, "/conc/counter", &len);
			if (!v) {
				snprintf(a->why, sizeof(a->why), "txn read: %s", strerror(errno));
				return NULL;
			}
			n = strtoul(v, NULL, 10) + 1;
			free(v);
			snprintf(val, sizeof(val), "%lu", n);
			if (!xs_write(a->h, t, "/conc/counter", val, strlen(val))) {
				snprintf(a->why, sizeof(a->why), "txn write: %s", strerror(errno));
				return NULL;
			}
			if (xs_transaction_end(a->h, t, false))
				break;
			if (errno != EAGAIN) {
				snprintf(a->why, sizeof(a->why), "commit: %s", strerror(errno));
				return NULL;
			}
			a->retries++;
		}
	}
	return NULL;
}

static void test_concurrent_clients(void **state)
{
	struct fx *f = *state;
	static struct conc_arg a[CONC_THREADS];
	pthread_t th[CONC_THREADS];
	char expect[32];
	unsigned i, retries = 0;

	write_str(f->h0, XBT_NULL, "/conc/counter", "0");
	memset(a, 0, sizeof(a));
	/* Opened here: the fixture's open uses setenv(). */
	for (i = 0; i < CONC_THREADS; i++) {
		a[i].h = open_h(f, 0);
		a[i].id = i;
	}
	for (i = 0; i < CONC_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, conc_thread, &a[i]), 0);
	for (i = 0; i < CONC_THREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < CONC_THREADS; i++) {
		if (a[i].why[0])
			fail_msg("thread %u: %s", i, a[i].why);
		retries += a[i].retries;
	}
	snprintf(expect, sizeof(expect), "%u", CONC_THREADS * CONC_ITERS);
	assert_read(f->h0, XBT_NULL, "/conc/counter", expect);
	for (i = 0; i < CONC_THREADS; i++) {
		char path[64], val[64];

		snprintf(path, sizeof(path), "/conc/t%u/k%u", i, (CONC_ITERS - 1) % 7);
		snprintf(val, sizeof(val), "%u-%u", i, CONC_ITERS - 1);
		assert_read(f->h0, XBT_NULL, path, val);
	}
	print_message("concurrent: %u EAGAIN retries\n", retries);
}

/* Several guests, each with its own handles, writing their homes at once. */
struct guest_arg {
	struct xs_handle *h;
	char why[256];
};

static void *guest_thread(void *p)
{
	struct guest_arg *a = p;
	unsigned i;

	for (i = 0; i < 100; i++) {
		char path[32], val[32];
		unsigned len;
		char *v;

		snprintf(path, sizeof(path), "k%u", i % 5);
		snprintf(val, sizeof(val), "%u", i);
		if (!xs_write(a->h, XBT_NULL, path, val, strlen(val))) {
			snprintf(a->why, sizeof(a->why), "write: %s", strerror(errno));
			return NULL;
		}
		v = xs_read(a->h, XBT_NULL, path, &len);
		if (!v || strcmp(v, val)) {
			snprintf(a->why, sizeof(a->why), "read: %s", v ? v : strerror(errno));
			free(v);
			return NULL;
		}
		free(v);
	}
	return NULL;
}

static void test_concurrent_guests(void **state)
{
	struct fx *f = *state;
	struct guest_arg a[8];
	pthread_t th[8];
	unsigned i;

	memset(a, 0, sizeof(a));
	for (i = 0; i < 8; i++)
		a[i].h = guest(f, 10 + i);
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, guest_thread, &a[i]), 0);
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 8; i++) {
		char path[64];

		if (a[i].why[0])
			fail_msg("guest %u: %s", 10 + i, a[i].why);
		snprintf(path, sizeof(path), "/local/domain/%u/k4", 10 + i);
		assert_read(f->h0, XBT_NULL, path, "99");
	}
}

/* ================================================================== */

/* vbd_store_fail_request: the seam lifecycle tests use to fail each
 * xenstore operation in turn.  The failed request is not executed. */
struct fail_arg {
	uint64_t nth;
	int err;
	int persistent;
};

static int arm_fail(vbd_store *s, void *arg)
{
	struct fail_arg *a = arg;
	vbd_store_fail_request(s, -1, a->nth, a->err, a->persistent);
	return 0;
}

static void test_fail_request_seam(void **state)
{
	struct fx *f = *state;
	struct fail_arg a = { 2, -EACCES, 0 };
	unsigned len;
	char *v;

	vbd_test_store_call(&f->t, arm_fail, &a);
	assert_true(xs_write(f->h0, XBT_NULL, "/f/one", "1", 1));     /* 1st: runs */
	assert_false(xs_write(f->h0, XBT_NULL, "/f/two", "2", 1));    /* 2nd: fails */
	assert_int_equal(errno, EACCES);
	assert_true(xs_write(f->h0, XBT_NULL, "/f/three", "3", 1));   /* 3rd: runs */
	v = xs_read(f->h0, XBT_NULL, "/f/two", &len);
	assert_null(v);
	assert_int_equal(errno, ENOENT);                              /* never executed */

	/* Persistent: from the 1st on, until disarmed. */
	a.nth = 1;
	a.err = -EIO;
	a.persistent = 1;
	vbd_test_store_call(&f->t, arm_fail, &a);
	assert_null(xs_read(f->h0, XBT_NULL, "/f/one", &len));
	assert_int_equal(errno, EIO);
	assert_false(xs_rm(f->h0, XBT_NULL, "/f"));
	assert_int_equal(errno, EIO);
	a.nth = 0;
	vbd_test_store_call(&f->t, arm_fail, &a);
	v = xs_read(f->h0, XBT_NULL, "/f/one", &len);
	assert_non_null(v);
	assert_string_equal(v, "1");
	free(v);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TS(fn) cmocka_unit_test_setup_teardown(fn, setup_small, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* basic operations */
		T(test_write_read),
		T(test_fail_request_seam),
		T(test_read_missing_enoent),
		T(test_write_creates_parents),
		T(test_mkdir),
		T(test_rm_subtree),
		T(test_rm_missing),
		T(test_rm_root_einval),
		T(test_directory),
		T(test_directory_part_big),
		T(test_directory_e2big_raw),
		T(test_directory_part_raw_chunks),
		T(test_directory_part_small_and_generation),
		T(test_get_set_perms),
		T(test_set_perms_bad_string_raw),
		T(test_relative_paths_dom0),
		T(test_relative_paths_guest),
		T(test_invalid_paths),
		T(test_unknown_type_raw),
		T(test_not_nul_terminated_raw),
		T(test_oversized_header_closes_raw),
		T(test_max_payload_accepted),
		T(test_reply_echoes_ids_raw),
		/* watches */
		T(test_watch_initial_event),
		T(test_watch_write_and_descendants),
		T(test_watch_mkdir_existing_no_event),
		T(test_watch_rm_missing_no_event),
		T(test_watch_rm_fires_descendants),
		T(test_watch_eexist),
		T(test_unwatch),
		T(test_watch_token_size),
		T(test_watch_invalid_path),
		T(test_watch_transaction_events_at_commit),
		T(test_watch_relative_dom0),
		T(test_watch_relative_guest),
		T(test_watch_special_dom0),
		T(test_watch_special_guest_filtered),
		T(test_watch_permission_filtered),
		T(test_xs_read_watch_blocking),
		T(test_watch_event_wire_format_raw),
		T(test_reset_watches_raw),
		/* transactions */
		T(test_txn_isolation),
		T(test_txn_rm_hidden_until_commit),
		T(test_txn_perms_in_txn),
		T(test_txn_eagain_read_conflict),
		T(test_txn_eagain_absent_conflict),
		T(test_txn_eagain_write_conflict),
		T(test_txn_unrelated_change_commits),
		T(test_txn_abort_discards),
		T(test_txn_unknown_id),
		T(test_txn_other_conn_enoent),
		T(test_txn_start_raw),
		T(test_txn_guest_limit),
		/* domains */
		T(test_introduce_release),
		T(test_introduce_invalid),
		T(test_is_domain_introduced),
		T(test_get_domain_path),
		T(test_domain_ops_need_dom0),
		T(test_release_cleans_up),
		T(test_guest_close_no_release),
		T(test_set_target),
		T(test_resume),
		T(test_control),
		T(test_control_quota),
		T(test_control_quota_after_release),
		/* permissions from a guest */
		T(test_guest_perm_none),
		T(test_guest_root),
		T(test_guest_perm_read),
		T(test_guest_perm_write),
		T(test_guest_perm_both),
		T(test_guest_perm_default_and_override),
		T(test_guest_owner_full_access),
		T(test_guest_create_owner),
		T(test_guest_set_perms_owner_change_eperm),
		T(test_guest_perms_entries_limit),
		T(test_guest_relative_resolution),
		/* quotas */
		TS(test_quota_nodes),
		TS(test_quota_nodes_implicit_parents),
		TS(test_quota_value_size),
		TS(test_quota_perms_entries),
		TS(test_quota_watches),
		TS(test_quota_watches_per_domain),
		TS(test_quota_transactions),
		TS(test_quota_nodes_per_transaction),
		/* wire details and resources */
		T(test_reply_payloads_raw),
		T(test_pipelined_requests_raw),
		TS(test_reset_watches_frees_quota_raw),
		T(test_close_frees_resources),
		T(test_txn_eagain_directory_conflict),
		T(test_guest_special_set_perms_denied),
		T(test_watch_rm_ancestor_relative_guest),
		T(test_watch_root_guest_filtered_per_node),
		T(test_txn_create_delete),
		T(test_txn_eagain_parent_removed),
		TS(test_quota_nodes_in_txn),
		TS(test_quota_nodes_concurrent_txns),
		T(test_directory_part_guest_relative_txn),
		T(test_directory_part_generation_midway_raw),
		/* concurrency */
		T(test_concurrent_clients),
		T(test_concurrent_guests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
