/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_store_trace - the embedded store's change trace through real
 * connections: the library's trace reader subscribes on a socket of its own,
 * and real libxenstore handles (dom0 and a guest) make the changes.
 *
 * That nothing else arrived is decided without timeouts: after the change
 * under test, dom0 writes a marker node, and the marker must be the next
 * record.  The store handles requests in order and traces at commit.
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
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <xenstore.h>
#include <xen/xen.h>
#include <xen/io/xs_wire.h>

#include "store_fixture.h"
#include "xenbus/trace.h"

/* Only a guard against a hang: every record awaited is one the store must send. */
#define WAIT_MS 20000
#define GUEST 5

typedef struct rec {
	vbd_change_op op;
	char path[256];
	char value[2048];
	size_t value_len;
	int writer;
	uint64_t seq, lost;
	int64_t time_ns;
} rec;

struct fx {
	vbd_test_store t;
	struct xs_handle *h0, *hg;
	vbd__trace *tr;
	rec *q;              /* records read, not yet taken */
	size_t nq, cap, head;
};

static int setup_max(void **state, size_t max)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct xs_permissions perms[] = { { GUEST, XS_PERM_NONE } };

	if (!f || vbd_test_store_start(&f->t, NULL) < 0)
		return -1;
	f->h0 = vbd_test_xs_open(&f->t, 0);
	if (!f->h0 || vbd_test_store_domain_add(&f->t, GUEST) < 0 ||
	    !xs_mkdir(f->h0, XBT_NULL, "/local/domain/5") ||
	    !xs_set_permissions(f->h0, XBT_NULL, "/local/domain/5", perms, 1))
		return -1;
	f->hg = vbd_test_xs_open(&f->t, GUEST);
	if (!f->hg || vbd__trace_open(f->t.socket, max, &f->tr) < 0)
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_max(state, 0);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	vbd__trace_free(f->tr);
	if (f->hg)
		xs_close(f->hg);
	if (f->h0)
		xs_close(f->h0);
	vbd_test_store_stop(&f->t);
	free(f->q);
	free(f);
	return 0;
}

static void on_change(const vbd_change *ch, void *ud)
{
	struct fx *f = ud;
	rec *r;

	if (f->nq == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->q = realloc(f->q, f->cap * sizeof(*f->q));
		assert_non_null(f->q);
	}
	r = &f->q[f->nq++];
	memset(r, 0, sizeof(*r));
	r->op = ch->op;
	snprintf(r->path, sizeof(r->path), "%s", ch->path);
	assert_true(ch->value_len < sizeof(r->value));
	if (ch->value_len)
		memcpy(r->value, ch->value, ch->value_len);
	r->value_len = ch->value_len;
	r->writer = ch->writer;
	r->seq = ch->seq;
	r->lost = ch->lost;
	r->time_ns = ch->time_ns;
}

/* The next record, read from the socket if none is waiting. */
static rec *next(struct fx *f)
{
	if (f->head == f->nq)
		f->head = f->nq = 0;
	while (f->head == f->nq) {
		struct pollfd p = { vbd__trace_fd(f->tr), POLLIN, 0 };

		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		assert_int_equal(vbd__trace_read(f->tr, on_change, f), 0);
	}
	return &f->q[f->head++];
}

static void expect(struct fx *f, vbd_change_op op, const char *path, const char *value,
                   int writer)
{
	rec *r = next(f);

	if (r->op != op || strcmp(r->path, path) != 0 ||
	    (value && (r->value_len != strlen(value) || memcmp(r->value, value, r->value_len))) ||
	    r->writer != writer)
		fail_msg("expected op %d %s=%s by %d, got op %d %s=%.*s by %d", op, path,
		         value ? value : "", writer, r->op, r->path, (int)r->value_len, r->value,
		         r->writer);
}

static unsigned marker_n;

static void marker(struct fx *f)
{
	char v[16];

	snprintf(v, sizeof(v), "%u", ++marker_n);
	assert_true(xs_write(f->h0, XBT_NULL, "/marker", v, strlen(v)));
	expect(f, VBD_CHANGE_WRITE, "/marker", v, 0);
}

/* Skips whatever came before a marker written now. */
static void skip_to_marker(struct fx *f)
{
	char v[16];
	rec *r;

	snprintf(v, sizeof(v), "%u", ++marker_n);
	assert_true(xs_write(f->h0, XBT_NULL, "/marker", v, strlen(v)));
	do
		r = next(f);
	while (strcmp(r->path, "/marker") != 0 || r->value_len != strlen(v) ||
	       memcmp(r->value, v, r->value_len) != 0);
}

static void test_order_values_writer(void **state)
{
	struct fx *f = *state;
	uint64_t seq;
	int64_t t0;
	rec *r;

	assert_true(xs_write(f->h0, XBT_NULL, "/a", "one", 3));
	assert_true(xs_write(f->hg, XBT_NULL, "/local/domain/5/x", "two", 3));
	assert_true(xs_write(f->h0, XBT_NULL, "/a", "one", 3));  /* same value: still a write */
	assert_true(xs_mkdir(f->h0, XBT_NULL, "/b"));
	assert_true(xs_write(f->hg, XBT_NULL, "/local/domain/5/x", "", 0));
	assert_true(xs_rm(f->h0, XBT_NULL, "/a"));
	r = next(f);
	assert_int_equal(r->op, VBD_CHANGE_WRITE);
	assert_string_equal(r->path, "/a");
	assert_int_equal(r->writer, 0);
	assert_true(r->seq >= 1);
	assert_true(r->time_ns > 0);
	seq = r->seq;
	t0 = r->time_ns;
	r = next(f);
	assert_string_equal(r->path, "/local/domain/5/x");
	assert_int_equal(r->writer, GUEST);
	assert_int_equal(r->value_len, 3);
	assert_memory_equal(r->value, "two", 3);
	assert_int_equal(r->seq, seq + 1);
	assert_true(r->time_ns >= t0);
	expect(f, VBD_CHANGE_WRITE, "/a", "one", 0);
	expect(f, VBD_CHANGE_MKDIR, "/b", NULL, 0);
	expect(f, VBD_CHANGE_WRITE, "/local/domain/5/x", "", GUEST);
	expect(f, VBD_CHANGE_RM, "/a", NULL, 0);
	assert_int_equal(f->q[f->head - 1].seq, seq + 5);
	marker(f);
}

/* A write below missing nodes creates them: each is traced, top first. */
static void test_implicit_parents(void **state)
{
	struct fx *f = *state;

	assert_true(xs_write(f->h0, XBT_NULL, "/p/q/r", "v", 1));
	expect(f, VBD_CHANGE_MKDIR, "/p", NULL, 0);
	expect(f, VBD_CHANGE_MKDIR, "/p/q", NULL, 0);
	expect(f, VBD_CHANGE_WRITE, "/p/q/r", "v", 0);
	marker(f);
}

static void test_transactions(void **state)
{
	struct fx *f = *state;
	xs_transaction_t t;

	/* Committed: its changes at commit, with the values committed. */
	assert_true(xs_mkdir(f->h0, XBT_NULL, "/t"));
	expect(f, VBD_CHANGE_MKDIR, "/t", NULL, 0);
	t = xs_transaction_start(f->hg);
	assert_true(t != XBT_NULL);
	assert_true(xs_write(f->hg, t, "/local/domain/5/s", "1", 1));
	assert_true(xs_write(f->hg, t, "/local/domain/5/k", "x", 1));
	assert_true(xs_write(f->hg, t, "/local/domain/5/s", "2", 1));
	marker(f);   /* nothing of the open transaction went out */
	assert_true(xs_transaction_end(f->hg, t, false));
	expect(f, VBD_CHANGE_WRITE, "/local/domain/5/k", "x", GUEST);
	expect(f, VBD_CHANGE_WRITE, "/local/domain/5/s", "2", GUEST);
	marker(f);

	/* In the order the transaction last changed each node, not the order
	 * it first touched them: the state read first, written last. */
	assert_true(xs_write(f->h0, XBT_NULL, "/o/state", "1", 1));
	skip_to_marker(f);
	t = xs_transaction_start(f->h0);
	free(xs_read(f->h0, t, "/o/state", NULL));
	assert_true(xs_write(f->h0, t, "/o/state", "2", 1));
	assert_true(xs_write(f->h0, t, "/o/k", "v", 1));
	assert_true(xs_write(f->h0, t, "/o/state", "4", 1));
	assert_true(xs_transaction_end(f->h0, t, false));
	expect(f, VBD_CHANGE_WRITE, "/o/k", "v", 0);
	expect(f, VBD_CHANGE_WRITE, "/o/state", "4", 0);
	marker(f);

	/* Aborted: nothing. */
	t = xs_transaction_start(f->h0);
	assert_true(xs_write(f->h0, t, "/t/gone", "1", 1));
	assert_true(xs_rm(f->h0, t, "/t"));
	assert_true(xs_transaction_end(f->h0, t, true));
	marker(f);

	/* Failed at commit (another client changed what it read): nothing. */
	t = xs_transaction_start(f->h0);
	{
		char *v = NULL;
		unsigned len;

		v = xs_read(f->h0, t, "/t", &len);
		free(v);
	}
	assert_true(xs_write(f->h0, t, "/t/lost", "1", 1));
	assert_true(xs_write(f->hg, XBT_NULL, "/local/domain/5/s", "3", 1));
	expect(f, VBD_CHANGE_WRITE, "/local/domain/5/s", "3", GUEST);
	assert_true(xs_write(f->h0, XBT_NULL, "/t", "changed", 7));
	expect(f, VBD_CHANGE_WRITE, "/t", "changed", 0);
	assert_false(xs_transaction_end(f->h0, t, false));
	assert_int_equal(errno, EAGAIN);
	marker(f);
}

static void test_rm_subtree(void **state)
{
	struct fx *f = *state;
	xs_transaction_t t;

	assert_true(xs_write(f->h0, XBT_NULL, "/r/a/b", "1", 1));
	assert_true(xs_write(f->h0, XBT_NULL, "/r/c", "2", 1));
	skip_to_marker(f);
	/* One record for the subtree. */
	assert_true(xs_rm(f->h0, XBT_NULL, "/r"));
	expect(f, VBD_CHANGE_RM, "/r", NULL, 0);
	marker(f);

	/* Removed and made again in one transaction: the old children go,
	 * the new node is written. */
	assert_true(xs_write(f->h0, XBT_NULL, "/r/a/b", "1", 1));
	skip_to_marker(f);
	t = xs_transaction_start(f->h0);
	assert_true(xs_rm(f->h0, t, "/r"));
	assert_true(xs_write(f->h0, t, "/r/n", "3", 1));
	assert_true(xs_transaction_end(f->h0, t, false));
	expect(f, VBD_CHANGE_RM, "/r/a", NULL, 0);
	expect(f, VBD_CHANGE_WRITE, "/r", "", 0);
	expect(f, VBD_CHANGE_WRITE, "/r/n", "3", 0);
	marker(f);
}

/* A guest may not subscribe, on a raw connection nor through the reader. */
static void test_guest_refused(void **state)
{
	struct fx *f = *state;
	char buf[64], path[PATH_MAX + 16];
	uint32_t type, rid, tid;
	vbd__trace *g = NULL;
	int fd = vbd_test_raw_connect(&f->t, GUEST);

	assert_true(fd >= 0);
	assert_int_equal(vbd_test_raw_send(fd, XS_CONTROL, 7, 0, "trace", 6), 0);
	assert_int_equal(vbd_test_raw_recv(fd, &type, &rid, &tid, buf, sizeof(buf), WAIT_MS), 7);
	assert_int_equal(type, XS_ERROR);
	assert_string_equal(buf, "EACCES");
	/* The connection still works as an ordinary one. */
	assert_int_equal(vbd_test_raw_send(fd, XS_READ, 8, 0, "/local/domain/5/none", 21), 0);
	assert_true(vbd_test_raw_recv(fd, &type, &rid, &tid, buf, sizeof(buf), WAIT_MS) > 0);
	assert_int_equal(type, XS_ERROR);
	assert_string_equal(buf, "ENOENT");
	close(fd);
	snprintf(path, sizeof(path), "%s.d/%u", f->t.socket, GUEST);
	assert_int_equal(vbd__trace_open(path, 0, &g), -EACCES);
	assert_null(g);
	marker(f);
}

static int setup_small(void **state)
{
	return setup_max(state, 64u << 10);
}

/* A subscriber that does not read: the store drops records past its
 * bound, holds no more than that, keeps serving the writer, and says how
 * many it dropped once the subscriber has caught up. */
static void test_lost_marker(void **state)
{
	enum { N = 3000, VLEN = 1000 };
	struct fx *f = *state;
	vbd_store_stats st = { .size = sizeof(st) };
	char v[VLEN];
	uint64_t got = 0, lost = 0, gap = 0, markers = 0, last_seq = 0;
	unsigned i;

	for (i = 0; i < N; i++) {
		memset(v, 'a' + (int)(i % 26), sizeof(v));
		assert_true(xs_write(f->h0, XBT_NULL, "/big", v, sizeof(v)));
	}
	vbd_test_store_stats(&f->t, &st);
	/* 64 KiB for the subscriber, plus what one reply and one request hold. */
	assert_true(st.pending_bytes_max <= (64u << 10) + 8192);
	/* Catch up: every change is either received or counted lost, and the
	 * sequence numbers show no gap the markers do not account for. */
	while (got + lost < N) {
		rec *r = next(f);

		if (r->op == VBD_CHANGE_LOST) {
			assert_true(r->lost > 0);
			lost += r->lost;
			gap += r->lost;
			markers++;
			continue;
		}
		assert_int_equal(r->op, VBD_CHANGE_WRITE);
		assert_int_equal(r->value_len, VLEN);
		if (last_seq)
			assert_int_equal(r->seq, last_seq + 1 + gap);
		last_seq = r->seq;
		gap = 0;
		got++;
	}
	assert_int_equal(got + lost, N);
	assert_true(lost > 0);
	assert_true(markers >= 1);
	marker(f);
}

/* The reader takes nothing on trust: each malformed record is refused. */
static void test_parse_hostile(void **state)
{
#define S(x) x, sizeof(x) - 1
	static const struct { const char *p; size_t len; int ok; } cases[] = {
		{ S("write\0" "1\0" "2\0" "3\0" "/a\0" "v"), 1 },
		{ S("write\0" "1\0" "2\0" "-1\0" "/a\0"), 1 },
		{ S("lost\0" "9\0" "2\0" "-1\0" "\0" "17"), 1 },
		{ S("mkdir\0" "1\0" "2\0" "0\0" "/a\0"), 1 },
		{ S("write\0" "1\0" "2\0" "3\0" "/a"), 0 },           /* path not terminated */
		{ S("write\0" "1\0" "2\0" "3\0" "a\0"), 0 },         /* relative */
		{ S("mkdir\0" "1\0" "2\0" "0\0" "/a\0" "x"), 0 },    /* mkdir with a value */
		{ S("chmod\0" "1\0" "2\0" "0\0" "/a\0"), 0 },        /* no such op */
		{ S("write\0" "01\0" "2\0" "3\0" "/a\0"), 0 },       /* leading zero */
		{ S("write\0" "1\0" "2\0" "65536\0" "/a\0"), 0 },    /* no such domid */
		{ S("write\0" "1\0" "99999999999999999999\0" "3\0" "/a\0"), 0 },
		{ S("lost\0" "9\0" "2\0" "-1\0" "/a\0" "17"), 0 },   /* lost with a path */
		{ S("lost\0" "9\0" "2\0" "-1\0" "\0" "1x"), 0 },
		{ S("lost\0" "9\0" "2\0" "-1\0" "\0"), 0 },
		{ S(""), 0 },
	};
#undef S
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64];
		vbd_change ch;
		int r;

		memcpy(buf, cases[i].p, cases[i].len);
		r = vbd__trace_parse(buf, cases[i].len, &ch);
		if ((r == 0) != cases[i].ok)
			fail_msg("case %zu: parse gave %d", i, r);
	}
}

/* A connection with watches cannot turn into a trace. */
static void test_busy(void **state)
{
	struct fx *f = *state;
	char buf[64];
	uint32_t type, rid, tid;
	int fd = vbd_test_raw_connect(&f->t, 0);

	assert_true(fd >= 0);
	assert_int_equal(vbd_test_raw_send(fd, XS_WATCH, 1, 0, "/w\0tok", 7), 0);
	assert_true(vbd_test_raw_recv(fd, &type, &rid, &tid, buf, sizeof(buf), WAIT_MS) >= 0);
	assert_int_equal(type, XS_WATCH);
	assert_int_equal(vbd_test_raw_send(fd, XS_CONTROL, 2, 0, "trace", 6), 0);
	do
		assert_true(vbd_test_raw_recv(fd, &type, &rid, &tid, buf, sizeof(buf), WAIT_MS) >= 0);
	while (type == XS_WATCH_EVENT);
	assert_int_equal(type, XS_ERROR);
	assert_string_equal(buf, "EBUSY");
	close(fd);
	marker(f);
}

/* A daemon that is not ours, on a socket of its own: it answers every
 * request with OK (oxenstored acks a debug command it does not know), or
 * with EINVAL (xenstored without the subcommand), until the client goes. */
struct fake {
	char path[108];
	bool ack_all;
	int lfd;
	pthread_t th;
};

static void *fake_main(void *arg)
{
	struct fake *k = arg;
	int fd = accept(k->lfd, NULL, NULL);
	char buf[256];
	uint32_t type, rid, tid;

	while (fd >= 0 && vbd_test_raw_recv(fd, &type, &rid, &tid, buf, sizeof(buf), WAIT_MS) >= 0)
		if ((k->ack_all ? vbd_test_raw_send(fd, XS_CONTROL, rid, tid, "OK", 3)
		                : vbd_test_raw_send(fd, XS_ERROR, rid, tid, "EINVAL", 7)) < 0)
			break;
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void fake_start(struct fake *k, const char *dir, bool ack_all)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	assert_true(strlen(dir) + sizeof("/fake.sock") <= sizeof(k->path));
	memcpy(k->path, dir, strlen(dir));
	memcpy(k->path + strlen(dir), "/fake.sock", sizeof("/fake.sock"));
	k->ack_all = ack_all;
	memcpy(sa.sun_path, k->path, strlen(k->path) + 1);
	k->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(k->lfd >= 0);
	assert_int_equal(bind(k->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(k->lfd, 1), 0);
	assert_int_equal(pthread_create(&k->th, NULL, fake_main, k), 0);
}

static void fake_stop(struct fake *k)
{
	pthread_join(k->th, NULL);
	close(k->lfd);
	unlink(k->path);
}

/* A daemon that acks every CONTROL, or refuses trace, offers no trace:
 * the reader says so at once, so that its caller reads after watch events
 * instead of waiting for records that never come. */
static void test_not_offered(void **state)
{
	struct fx *f = *state;
	unsigned i;

	for (i = 0; i < 2; i++) {
		struct fake k;
		vbd__trace *t = NULL;

		fake_start(&k, f->t.dir, i == 0);
		assert_int_equal(vbd__trace_open(k.path, 0, &t), -EOPNOTSUPP);
		assert_null(t);
		fake_stop(&k);
	}
	marker(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_values_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_implicit_parents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rm_subtree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_marker, setup_small, teardown),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_offered, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
