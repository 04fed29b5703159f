/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pipelined transaction client (lib/xenbus/xs_batch.c) against the
 * embedded store, and against a socket that answers what a store never
 * would: a batch lands whole or not at all, every request of it can be
 * failed through the store's fault seam, a reply that is not its
 * request's is refused, a conflict at commit is retried (and one that Xen's
 * C xenstored reports early, as an RM's EIO), and on the xenbus
 * device one request is in flight at a time.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "store_fixture.h"
#include "vbd/bus.h"
#include "xenbus/xenbus.h"

#define N 40   /* writes per batch: three windows */

struct fx {
	vbd_test_store t;
	struct xs_handle *h;   /* libxenstore, to look at the tree */
	vbd__xb_wire *w;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(vbd_test_store_start(&f->t, NULL), 0);
	assert_non_null(f->h = vbd_test_xs_open(&f->t, 0));
	assert_int_equal(vbd__xb_wire_open(f->t.socket, &f->w), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	vbd__xb_wire_free(f->w);
	xs_close(f->h);
	vbd_test_store_stop(&f->t);
	free(f);
	return 0;
}

struct fail_arg {
	uint64_t nth;
	int err;
};

static int arm(vbd_store *s, void *arg)
{
	struct fail_arg *a = arg;

	vbd_store_fail_request(s, 0, a->nth, a->err, 0);
	return 0;
}

static void fail_nth(struct fx *f, uint64_t nth, int err)
{
	struct fail_arg a = { nth, err };

	vbd_test_store_call(&f->t, arm, &a);
}

/* /t/k0 = "v0" ... /t/k<N-1>, after a check that /t/x is absent and an
 * RM of /t/gone (absent: fine). */
static vbd__xb_batch *make_batch(void)
{
	struct xs_permissions perms[2] = { { 0, XS_PERM_NONE }, { 1, XS_PERM_READ } };
	vbd__xb_batch *b;
	unsigned i;

	assert_int_equal(vbd__xb_batch_new(&b), 0);
	assert_int_equal(vbd__xb_batch_absent(b, "/t/x"), 0);
	assert_int_equal(vbd__xb_batch_rm(b, "/t/gone"), 0);
	assert_int_equal(vbd__xb_batch_mkdir(b, "/t"), 0);
	assert_int_equal(vbd__xb_batch_set_perms(b, "/t", perms, 2), 0);
	for (i = 0; i < N; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%u", i);
		assert_int_equal(vbd__xb_batch_printf(b, "/t", key, "v%u", i), 0);
	}
	assert_int_equal(vbd__xb_batch_count(b), N + 4);
	return b;
}

static unsigned open_transactions(struct fx *f)
{
	vbd_store_stats st = { .size = sizeof(st) };

	vbd_test_store_stats(&f->t, &st);
	return (unsigned)st.transactions;
}

static void assert_all_written(struct fx *f)
{
	unsigned i, n = 0;
	struct xs_permissions *p;
	char **d = xs_directory(f->h, XBT_NULL, "/t", &n);

	free(d);
	assert_int_equal(n, N);
	for (i = 0; i < N; i++) {
		char *v = vbd_test_xs_readf(f->h, "/t/k%u", i), want[16];

		snprintf(want, sizeof(want), "v%u", i);
		assert_non_null(v);
		assert_string_equal(v, want);
		free(v);
	}
	assert_non_null(p = xs_get_permissions(f->h, XBT_NULL, "/t", &n));
	assert_int_equal(n, 2);
	assert_int_equal(p[1].id, 1);
	assert_int_equal(p[1].perms, XS_PERM_READ);
	free(p);
}

static void assert_nothing(struct fx *f)
{
	char *v = vbd_test_xs_readf(f->h, "/t");

	if (v)
		fail_msg("/t is there: %s", v);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(open_transactions(f), 0);
}

static void test_batch_lands_as_one_transaction(void **state)
{
	struct fx *f = *state;
	vbd__xb_batch *b = make_batch();
	const char *failed = NULL;

	/* Its commit refused: none of it is there, so every write was in
	 * the transaction (start, N + 4 requests, end). */
	fail_nth(f, 1 + (N + 4) + 1, -EIO);
	assert_int_equal(vbd__xb_batch_run(f->w, b, &failed), -EIO);
	assert_null(failed);
	assert_nothing(f);
	fail_nth(f, 0, 0);

	assert_int_equal(vbd__xb_batch_run(f->w, b, &failed), 0);
	assert_all_written(f);
	assert_int_equal(open_transactions(f), 0);
	vbd__xb_batch_free(b);
}

/* Each request fails in turn, as the store's fault seam fails a request
 * of libxenstore: the batch stops at it, names it, and leaves nothing. */
static void test_each_request_fails_cleanly(void **state)
{
	struct fx *f = *state;
	vbd__xb_batch *b = make_batch();
	unsigned n;

	for (n = 1; n <= N + 6; n++) {
		const char *failed = NULL;
		int r;

		fail_nth(f, n, -EACCES);
		r = vbd__xb_batch_run(f->w, b, &failed);
		fail_nth(f, 0, 0);
		assert_int_equal(r, -EACCES);
		/* 1 is the start, N + 6 the commit: no request of the batch. */
		if (n >= 2 && n <= N + 5)
			assert_non_null(failed);
		else
			assert_null(failed);
		if (n == 4)   /* the MKDIR, after ABSENT and RM */
			assert_string_equal(failed, "/t");
		if (n == 7)
			assert_string_equal(failed, "/t/k1");
		assert_nothing(f);
		assert_false(vbd__xb_wire_broken(f->w));
	}
	/* Past the end: the whole batch ran. */
	assert_int_equal(vbd__xb_batch_run(f->w, b, NULL), 0);
	assert_all_written(f);
	vbd__xb_batch_free(b);
}

static void test_absent_node_present_is_eexist(void **state)
{
	struct fx *f = *state;
	vbd__xb_batch *b = make_batch();
	const char *failed = NULL;

	assert_true(xs_write(f->h, XBT_NULL, "/t/x", "1", 1));
	assert_int_equal(vbd__xb_batch_run(f->w, b, &failed), -EEXIST);
	assert_string_equal(failed, "/t/x");
	{
		char *v = vbd_test_xs_readf(f->h, "/t/k0");

		assert_null(v);
	}
	assert_int_equal(open_transactions(f), 0);
	vbd__xb_batch_free(b);
}

static void test_conflict_at_commit_is_retried(void **state)
{
	struct fx *f = *state;
	vbd__xb_batch *b = make_batch();

	fail_nth(f, 1 + (N + 4) + 1, -EAGAIN);
	assert_int_equal(vbd__xb_batch_run(f->w, b, NULL), 0);
	assert_all_written(f);
	assert_int_equal(open_transactions(f), 0);
	vbd__xb_batch_free(b);
}

/* path holds want. */
static void assert_value(struct fx *f, const char *path, const char *want)
{
	char *v = vbd_test_xs_readf(f->h, "%s", path);

	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

/* Work done while the store starts the transaction (vbd__xb_batch_at_start):
 * it runs once TRANSACTION_START is sent and before its reply is read,
 * once however many tries the run takes, and what it records is sent in
 * each; its failure aborts the started transaction, nothing written. */
struct at_start {
	vbd__xb_wire *w;
	unsigned runs;
	unsigned long long req_seen, replies_seen;
	int fail;
};

/* A start work's run: counted, with what the wire had sent and read. */
static void start_seen(struct at_start *a)
{
	unsigned long long rt;

	a->runs++;
	vbd__xb_wire_counts(a->w, &a->req_seen, &rt);
	a->replies_seen = vbd__xbw_replies(a->w);
}

static int work_at_start(vbd__xb_batch *b, void *ud)
{
	struct at_start *a = ud;

	start_seen(a);
	if (a->fail)
		return a->fail;
	return vbd__xb_batch_printf(b, "/s", "k", "%s", "v");
}

static void test_work_at_start(void **state)
{
	struct fx *f = *state;
	struct at_start a = { .w = f->w };
	unsigned long long req0, rt0, req, rt;
	uint64_t replies0;
	vbd__xb_batch *b = NULL;

	assert_int_equal(vbd__xb_batch_new(&b), 0);
	assert_int_equal(vbd__xb_batch_absent(b, "/s/none"), 0);
	vbd__xb_batch_at_start(b, work_at_start, &a);
	vbd__xb_wire_counts(f->w, &req0, &rt0);
	replies0 = vbd__xbw_replies(f->w);
	/* The commit a conflict: the run goes again, the work does not. */
	fail_nth(f, 1 + 2 + 1, -EAGAIN);
	assert_int_equal(vbd__xb_batch_run(f->w, b, NULL), 0);
	fail_nth(f, 0, 0);
	vbd__xb_wire_counts(f->w, &req, &rt);
	/* Two tries of 4, and the abort of the first (the seam refused its
	 * commit before it ran: commit()). */
	assert_int_equal(req - req0, 2 * 4 + 1);
	assert_int_equal(vbd__xb_batch_start_err(b), 0);
	assert_int_equal(a.runs, 1);
	assert_int_equal(a.req_seen, req0 + 1);        /* the start sent */
	assert_int_equal(a.replies_seen, replies0);    /* its reply not read yet */
	assert_value(f, "/s/k", "v");
	assert_int_equal(open_transactions(f), 0);
	vbd__xb_batch_free(b);

	/* Failing: its error, the transaction aborted, nothing of b sent. */
	assert_true(xs_rm(f->h, XBT_NULL, "/s"));
	assert_int_equal(vbd__xb_batch_new(&b), 0);
	assert_int_equal(vbd__xb_batch_printf(b, "/s", "early", "%s", "1"), 0);
	a = (struct at_start){ .w = f->w, .fail = -ENOMEM };
	vbd__xb_batch_at_start(b, work_at_start, &a);
	assert_int_equal(vbd__xb_batch_run(f->w, b, NULL), -ENOMEM);
	assert_int_equal(vbd__xb_batch_start_err(b), -ENOMEM);     /* the work's */
	assert_int_equal(a.runs, 1);
	assert_null(vbd_test_xs_readf(f->h, "/s/early"));
	assert_int_equal(open_transactions(f), 0);
	assert_false(vbd__xb_wire_broken(f->w));
	vbd__xb_batch_free(b);
}

/* Reads fetched with the transaction's start (vbd__xb_batch_before_start):
 * sent in the start's send, answered before the start's work runs, which
 * decides on them; fetched once however many tries; the work's "not now"
 * aborts the transaction; on the xenbus device, fetched first. */
struct pre_job {
	struct at_start seen;
	vbd__xb_batch *b;
	vbd__xb_value state, a;
};

static int work_on_pre(vbd__xb_batch *b, void *ud)
{
	struct pre_job *j = ud;

	start_seen(&j->seen);
	if (vbd__xb_batch_pre_result(b) < 0 || !j->state.got || j->state.err < 0)
		return -EIO;
	if (strcmp(j->state.val, "3") != 0)
		return 1;       /* not now */
	return vbd__xb_batch_printf(b, "/s", "k", "%s", j->a.err == 0 ? j->a.val : "none");
}

static void pre_job_run(struct pre_job *j, vbd__xb_wire *w, int expect)
{
	vbd__xb_batch *pre = NULL;

	free(j->state.val);
	free(j->a.val);
	*j = (struct pre_job){ .seen = { .w = w } };
	assert_int_equal(vbd__xb_batch_new(&pre), 0);
	assert_int_equal(vbd__xb_batch_check(pre, "/p/state", vbd__xb_value_take, &j->state), 0);
	assert_int_equal(vbd__xb_batch_check(pre, "/p/a", vbd__xb_value_take, &j->a), 0);
	assert_int_equal(vbd__xb_batch_new(&j->b), 0);
	vbd__xb_batch_at_start(j->b, work_on_pre, j);
	vbd__xb_batch_before_start(j->b, pre);
	assert_int_equal(vbd__xb_batch_run(w, j->b, NULL), expect);
	assert_int_equal(j->seen.runs, 1);
	j->b = vbd__xb_batch_free(j->b);
	vbd__xb_batch_free(pre);
}

static void test_fetch_before_start(void **state)
{
	struct fx *f = *state;
	struct pre_job j = { 0 };
	unsigned long long req0, rt0, req, rt;
	uint64_t replies0;
	vbd__xb_wire *w;
	int fd;

	assert_true(xs_write(f->h, XBT_NULL, "/p/state", "3", 1));
	assert_true(xs_write(f->h, XBT_NULL, "/p/a", "x", 1));
	vbd__xb_wire_counts(f->w, &req0, &rt0);
	replies0 = vbd__xbw_replies(f->w);
	/* The first try's commit a conflict: pre and the work once. */
	fail_nth(f, 2 + 1 + 1 + 1, -EAGAIN);
	pre_job_run(&j, f->w, 0);
	fail_nth(f, 0, 0);
	vbd__xb_wire_counts(f->w, &req, &rt);
	/* pre 2, start, write, commit, its abort (commit()); start, write,
	 * commit.  Round trips: pre with the start, the window, the commit,
	 * the abort; then three. */
	assert_int_equal(req - req0, 2 + 3 + 1 + 3);
	assert_int_equal(rt - rt0, 4 + 3);
	assert_int_equal(j.seen.req_seen, req0 + 3);        /* pre and the start sent */
	assert_int_equal(j.seen.replies_seen, replies0 + 2); /* pre's replies, not the start's */
	assert_value(f, "/s/k", "x");
	assert_int_equal(open_transactions(f), 0);

	/* Not now: the transaction aborted, nothing written. */
	assert_true(xs_rm(f->h, XBT_NULL, "/s"));
	assert_true(xs_write(f->h, XBT_NULL, "/p/state", "1", 1));
	vbd__xb_wire_counts(f->w, &req0, &rt0);
	pre_job_run(&j, f->w, 1);
	vbd__xb_wire_counts(f->w, &req, &rt);
	assert_int_equal(req - req0, 2 + 1 + 1);
	assert_int_equal(rt - rt0, 2);
	assert_null(vbd_test_xs_readf(f->h, "/s/k"));
	assert_int_equal(open_transactions(f), 0);

	/* pre's read failing is pre's result; the work decides on it. */
	assert_true(xs_write(f->h, XBT_NULL, "/p/state", "3", 1));
	assert_true(xs_rm(f->h, XBT_NULL, "/p/a"));
	pre_job_run(&j, f->w, 0);
	assert_int_equal(j.a.err, -ENOENT);
	assert_value(f, "/s/k", "none");

	/* On the xenbus device a window is one request: pre is fetched first,
	 * the same answers, a round trip each. */
	assert_true(xs_rm(f->h, XBT_NULL, "/s"));
	assert_true(xs_write(f->h, XBT_NULL, "/p/a", "y", 1));
	fd = vbd__xb_connect_unix(f->t.socket);
	assert_true(fd >= 0);
	assert_int_equal(vbd__xb_wire_adopt(fd, false, &w), 0);
	pre_job_run(&j, w, 0);
	vbd__xb_wire_counts(w, &req, &rt);
	assert_int_equal(req, 2 + 3);
	assert_int_equal(rt, req);
	assert_value(f, "/s/k", "y");
	assert_int_equal(open_transactions(f), 0);
	vbd__xb_wire_free(w);
	free(j.state.val);
	free(j.a.val);
}

/* vbd__xb_txn() through libxenstore: an RM that Xen's C xenstored answers
 * EIO (its copy in the transaction went stale: xenbus.h) runs the body
 * again, as a conflict at the commit does; an EIO anywhere else is the
 * body's error. */
struct rm_job {
	const char *path;
	bool read_first;
	int runs;
};

static int rm_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct rm_job *j = ud;
	unsigned len;
	char *v;

	j->runs++;
	if (j->read_first) {
		v = xs_read(xs, t, j->path, &len);
		if (!v)
			return -errno;
		free(v);
	}
	return vbd__xb_rm(xs, t, j->path);
}

static void test_txn_rm_eio_is_a_conflict(void **state)
{
	struct fx *f = *state;
	struct rm_job j = { "/t/a", false, 0 };
	char *v;

	assert_true(xs_write(f->h, XBT_NULL, "/t/a", "1", 1));
	/* START is the first request, the RM the second. */
	fail_nth(f, 2, -EIO);
	assert_int_equal(vbd__xb_txn(f->h, rm_body, &j), 0);
	assert_int_equal(j.runs, 2);
	assert_null(v = vbd_test_xs_readf(f->h, "/t/a"));
	assert_int_equal(open_transactions(f), 0);

	/* A read's EIO is not one. */
	assert_true(xs_write(f->h, XBT_NULL, "/t/a", "1", 1));
	j = (struct rm_job){ "/t/a", true, 0 };
	fail_nth(f, 2, -EIO);
	assert_int_equal(vbd__xb_txn(f->h, rm_body, &j), -EIO);
	assert_int_equal(j.runs, 1);
	assert_non_null(v = vbd_test_xs_readf(f->h, "/t/a"));
	free(v);
	/* Nor an RM's outside a transaction. */
	fail_nth(f, 1, -EIO);
	assert_int_equal(vbd__xb_rm(f->h, XBT_NULL, "/t/a"), -EIO);
	assert_int_equal(open_transactions(f), 0);
}

/* A transaction in two windows (vbd__xb_bus_run_parts): a part lists
 * /t, and its plan removes each child but "keep" and writes how many it
 * saw; the reads run again after a conflict at the commit; a plan's error
 * aborts with nothing landed. */
struct lister {
	int reads, plans, err, fail;
	unsigned n;
	char names[256];
	size_t len;
};

static int lister_names(const char *names, size_t len, int err, void *ud)
{
	struct lister *l = ud;

	l->err = err;
	l->len = len < sizeof(l->names) ? len : 0;
	if (l->len)
		memcpy(l->names, names, l->len);
	return 0;
}

static int lister_reads(vbd__xb_batch *b, void *ud)
{
	struct lister *l = ud;

	l->reads++;
	l->err = 1;     /* not answered yet */
	return vbd__xb_batch_dir(b, "/t", lister_names, l);
}

static int lister_plan(vbd__xb_batch *b, void *ud)
{
	struct lister *l = ud;
	const char *q;
	char p[300];
	int r = 0;

	l->plans++;
	assert_int_equal(l->err, 0);
	if (l->fail)
		return l->fail;
	for (q = l->names, l->n = 0; q < l->names + l->len && r == 0; q += strlen(q) + 1, l->n++) {
		snprintf(p, sizeof(p), "/t/%s", q);
		if (strcmp(q, "keep"))
			r = vbd__xb_batch_rm(b, p);
	}
	return r ? r : vbd__xb_batch_printf(b, "/t", "keep", "%u", l->n);
}

static void test_parts_read_then_plan(void **state)
{
	struct fx *f = *state;
	struct lister l = { 0 };
	vbd__xb_part part = { lister_reads, lister_plan, &l };
	vbd_bus_options o = VBD_BUS_OPTIONS_INIT;
	vbd_errbuf err = { "" };
	vbd_bus *bus;
	vbd__xb_wire *w;
	unsigned long long rq0, rt0, rq1, rt1;
	char *v;

	o.xenstored_path = f->t.socket;
	assert_int_equal(vbd_bus_new(&bus, &o, &err), 0);
	assert_true(xs_write(f->h, XBT_NULL, "/t/a", "1", 1));
	assert_true(xs_write(f->h, XBT_NULL, "/t/b", "2", 1));
	assert_true(xs_write(f->h, XBT_NULL, "/t/keep", "", 0));
	assert_int_equal(vbd__xb_bus_wire(bus, &w), 0);
	vbd__xb_wire_counts(w, &rq0, &rt0);
	/* START, the listing, RM RM WRITE, END: the END is the sixth. */
	fail_nth(f, 6, -EAGAIN);
	assert_int_equal(vbd__xb_bus_run_parts(bus, &part, 1), 0);
	vbd__xb_wire_counts(w, &rq1, &rt1);
	assert_int_equal(l.reads, 2);
	assert_int_equal(l.plans, 2);
	/* 4 a try, and the abort of the first: the seam refused its END
	 * without running it, so the transaction was still open. */
	assert_int_equal(rt1 - rt0, 9);
	assert_null(vbd_test_xs_readf(f->h, "/t/a"));
	assert_null(vbd_test_xs_readf(f->h, "/t/b"));
	assert_non_null(v = vbd_test_xs_readf(f->h, "/t/keep"));
	assert_string_equal(v, "3");
	free(v);
	/* A plan that fails: the transaction aborted, nothing of it landed. */
	assert_true(xs_write(f->h, XBT_NULL, "/t/c", "1", 1));
	l.fail = -ENOSPC;
	assert_int_equal(vbd__xb_bus_run_parts(bus, &part, 1), -ENOSPC);
	assert_non_null(v = vbd_test_xs_readf(f->h, "/t/c"));
	free(v);
	assert_int_equal(open_transactions(f), 0);
	vbd_bus_unref(bus);
}

/* A check that says "no" after seeing the value: the batch returns its
 * result and nothing after the read is left. */
struct seen {
	char val[16];
	int err, calls, answer;
};

static int check(const char *val, int err, void *ud)
{
	struct seen *s = ud;

	s->calls++;
	s->err = err;
	snprintf(s->val, sizeof(s->val), "%s", val ? val : "(null)");
	return s->answer;
}

static void test_check_decides(void **state)
{
	struct fx *f = *state;
	struct seen s = { .answer = 2 };
	vbd__xb_batch *b;

	assert_true(xs_write(f->h, XBT_NULL, "/s/state", "4", 1));
	assert_int_equal(vbd__xb_batch_new(&b), 0);
	assert_int_equal(vbd__xb_batch_check(b, "/s/state", check, &s), 0);
	assert_int_equal(vbd__xb_batch_printf(b, "/t", "k", "v"), 0);
	assert_int_equal(vbd__xb_batch_run(f->w, b, NULL), 2);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.err, 0);
	assert_string_equal(s.val, "4");
	assert_nothing(f);

	/* An absent node: NULL and -ENOENT; 0 goes on. */
	assert_true(xs_rm(f->h, XBT_NULL, "/s"));
	s.answer = 0;
	assert_int_equal(vbd__xb_batch_run(f->w, b, NULL), 0);
	assert_int_equal(s.err, -ENOENT);
	assert_string_equal(s.val, "(null)");
	{
		char *v = vbd_test_xs_readf(f->h, "/t/k");

		assert_non_null(v);
		free(v);
	}
	vbd__xb_batch_free(b);
}

/* A wait after a check: its no sends nothing of what comes after (the
 * start, the read, the abort: 3 requests in 3 round trips, not 4); its yes
 * sends the rest as the next window. */
static void test_wait_ends_the_window(void **state)
{
	struct fx *f = *state;
	struct seen s = { .answer = 1 };
	unsigned long long req0, rt0, req, rt;
	vbd__xb_batch *b;

	assert_true(xs_write(f->h, XBT_NULL, "/s/state", "1", 1));
	assert_int_equal(vbd__xb_batch_new(&b), 0);
	assert_int_equal(vbd__xb_batch_wait(b), -EINVAL);
	assert_int_equal(vbd__xb_batch_check(b, "/s/state", check, &s), 0);
	assert_int_equal(vbd__xb_batch_wait(b), 0);
	assert_int_equal(vbd__xb_batch_printf(b, "/t", "k", "v"), 0);
	assert_int_equal(vbd__xb_batch_printf(b, "/t", "l", "w"), 0);
	vbd__xb_wire_counts(f->w, &req0, &rt0);
	assert_int_equal(vbd__xb_batch_run(f->w, b, NULL), 1);
	vbd__xb_wire_counts(f->w, &req, &rt);
	assert_int_equal(req - req0, 3);
	assert_int_equal(rt - rt0, 3);
	assert_nothing(f);

	s.answer = 0;
	assert_int_equal(vbd__xb_batch_run(f->w, b, NULL), 0);
	vbd__xb_wire_counts(f->w, &req0, &rt0);
	assert_int_equal(req0 - req, 5);
	assert_int_equal(rt0 - rt, 4);
	{
		char *v = vbd_test_xs_readf(f->h, "/t/l");

		assert_non_null(v);
		assert_string_equal(v, "w");
		free(v);
	}
	vbd__xb_batch_free(b);
}

/* On a socket a window is up to 64 requests, past the daemon's quota of
 * 20 outstanding (it stops reading until replies are read, and they are
 * read as soon as the window is sent), and up to 32 KiB, so that its send
 * never waits on the daemon: 100 small writes in two windows, 40 writes
 * of 2000 bytes (16 fit in 32 KiB) in three. */
/* n writes of /w/<prefix><i> = val through one batch: their requests
 * and round trips as expected, the last one there. */
static void socket_writes(struct fx *f, unsigned n, const char *prefix, const char *val,
                          unsigned long long rt_want)
{
	unsigned long long req0, rt0, req, rt;
	char key[16], *v;
	vbd__xb_batch *b;
	unsigned i;

	assert_int_equal(vbd__xb_batch_new(&b), 0);
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s%u", prefix, i);
		assert_int_equal(vbd__xb_batch_printf(b, "/w", key, "%s", val), 0);
	}
	vbd__xb_wire_counts(f->w, &req0, &rt0);
	assert_int_equal(vbd__xb_batch_run(f->w, b, NULL), 0);
	vbd__xb_wire_counts(f->w, &req, &rt);
	vbd__xb_batch_free(b);
	assert_int_equal(req - req0, n + 2);
	assert_int_equal(rt - rt0, rt_want);
	v = vbd_test_xs_readf(f->h, "/w/%s%u", prefix, n - 1);
	assert_non_null(v);
	assert_string_equal(v, val);
	free(v);
}

static void test_socket_window(void **state)
{
	struct fx *f = *state;
	char big[2001];

	socket_writes(f, 100, "k", "v", 1 + 2 + 1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	socket_writes(f, 40, "b", big, 1 + 3 + 1);
	assert_int_equal(open_transactions(f), 0);
}

/* Reads outside a transaction: a driver's step reads its peer's keys in
 * one window each 16, every value to its callback in order, an absent node
 * as -ENOENT; a check that stops, and a request failed through the store's
 * seam, end the fetch with their result, and the stream stays in step for
 * the next one. */
struct got {
	char vals[20][16];
	int errs[20];
	unsigned n, stop_at;
};

static int collect(const char *val, int err, void *ud)
{
	struct got *g = ud;

	snprintf(g->vals[g->n], sizeof(g->vals[0]), "%s", val ? val : "(null)");
	g->errs[g->n] = err;
	return ++g->n == g->stop_at ? 3 : 0;
}

static vbd__xb_batch *fetch_batch(struct got *g)
{
	vbd__xb_batch *b;
	unsigned i;

	assert_int_equal(vbd__xb_batch_new(&b), 0);
	for (i = 0; i < 20; i++) {
		char path[16];

		snprintf(path, sizeof(path), "/f/k%u", i);
		assert_int_equal(vbd__xb_batch_check(b, path, collect, g), 0);
	}
	return b;
}

static void test_fetch_reads_outside_a_transaction(void **state)
{
	struct fx *f = *state;
	vbd_store_stats before = { .size = sizeof(before) }, after = { .size = sizeof(after) };
	struct got g = { .n = 0 };
	const char *failed = NULL;
	vbd__xb_batch *b = fetch_batch(&g);
	unsigned i;

	for (i = 0; i < 20; i += 2) {   /* the odd keys absent */
		char path[16], val[16];

		snprintf(path, sizeof(path), "/f/k%u", i);
		snprintf(val, sizeof(val), "v%u", i);
		assert_true(xs_write(f->h, XBT_NULL, path, val, strlen(val)));
	}
	vbd_test_store_stats(&f->t, &before);
	assert_int_equal(vbd__xb_batch_fetch(f->w, b, &failed), 0);
	vbd_test_store_stats(&f->t, &after);
	assert_int_equal(after.transactions, 0);
	assert_int_equal(after.requests - before.requests, 20);
	assert_null(failed);
	assert_int_equal(g.n, 20);
	for (i = 0; i < 20; i++) {
		char want[16];

		snprintf(want, sizeof(want), "v%u", i);
		assert_string_equal(g.vals[i], i % 2 ? "(null)" : want);
		assert_int_equal(g.errs[i], i % 2 ? -ENOENT : 0);
	}

	/* A check that stops: its result; the requests after it are answered
	 * and dropped, and the same wire fetches again in step. */
	g.n = 0;
	g.stop_at = 5;
	assert_int_equal(vbd__xb_batch_fetch(f->w, b, NULL), 3);
	assert_int_equal(g.n, 5);
	g.n = 0;
	g.stop_at = 0;
	assert_int_equal(vbd__xb_batch_fetch(f->w, b, NULL), 0);
	assert_int_equal(g.n, 20);
	assert_false(vbd__xb_wire_broken(f->w));

	/* A read the store fails goes to its callback, which decides: here
	 * it goes on, and the reads after it are made. */
	g.n = 0;
	fail_nth(f, 18, -EIO);
	assert_int_equal(vbd__xb_batch_fetch(f->w, b, NULL), 0);
	fail_nth(f, 0, 0);
	assert_int_equal(g.n, 20);
	assert_int_equal(g.errs[17], -EIO);
	assert_string_equal(g.vals[18], "v18");
	assert_false(vbd__xb_wire_broken(f->w));
	vbd__xb_batch_free(b);
}

/* A WATCH rides a fetch beside reads, its answer to its callback; in a
 * transaction (a run, or a run's parts) it is refused before anything is
 * sent: watches are not transactional. */
static void test_watch_only_fetched(void **state)
{
	struct fx *f = *state;
	unsigned long long req0, rt0, req, rt;
	struct got g = { .n = 0 };
	vbd__xb_batch *b = NULL;
	const char *failed = NULL;

	assert_int_equal(vbd__xb_batch_new(&b), 0);
	assert_int_equal(vbd__xb_batch_watch(b, "/f/w", "tok-1", collect, &g), 0);
	assert_int_equal(vbd__xb_batch_check(b, "/f/w", collect, &g), 0);
	vbd__xb_wire_counts(f->w, &req0, &rt0);
	assert_int_equal(vbd__xb_batch_run(f->w, b, &failed), -EINVAL);
	vbd__xb_wire_counts(f->w, &req, &rt);
	assert_int_equal(req - req0, 0);
	assert_int_equal(g.n, 0);
	assert_string_equal(failed, "/f/w");

	assert_int_equal(vbd__xb_batch_fetch(f->w, b, NULL), 0);
	vbd__xb_wire_counts(f->w, &req, &rt);
	assert_int_equal(req - req0, 2);
	assert_int_equal(rt - rt0, 1);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.errs[0], 0);
	assert_string_equal(g.vals[0], "OK");
	assert_int_equal(g.errs[1], -ENOENT);
	/* The watch's first event came with the replies, kept for the loop. */
	assert_true(vbd__xbw_pending(f->w));
	assert_false(vbd__xb_wire_broken(f->w));
	vbd__xb_batch_free(b);
}

/* On the xenbus device a request's reply is read before the next is
 * written: Linux's device hands the kernel's ring writer a pointer into
 * the file's one message buffer, which a second message written before
 * then overwrites (xs_batch.c).  The store's connection taken as a device
 * (one message per write(), as there): the batch and a fetch land whole,
 * each request its own round trip. */
static void test_device_one_request_at_a_time(void **state)
{
	struct fx *f = *state;
	vbd__xb_batch *b = make_batch();
	struct got g = { .n = 0 };
	vbd__xb_batch *fb = fetch_batch(&g);
	unsigned long long req, rt;
	vbd__xb_wire *w;
	int fd = vbd__xb_connect_unix(f->t.socket);

	assert_true(fd >= 0);
	assert_int_equal(vbd__xb_wire_adopt(fd, false, &w), 0);
	assert_int_equal(vbd__xb_batch_run(w, b, NULL), 0);
	assert_all_written(f);
	vbd__xb_wire_counts(w, &req, &rt);
	assert_int_equal(req, 1 + (N + 4) + 1);
	assert_int_equal(rt, req);

	assert_int_equal(vbd__xb_batch_fetch(w, fb, NULL), 0);
	assert_int_equal(g.n, 20);
	vbd__xb_wire_counts(w, &req, &rt);
	assert_int_equal(req, 1 + (N + 4) + 1 + 20);
	assert_int_equal(rt, req);
	assert_false(vbd__xb_wire_broken(w));

	/* On a socket the same batch is one window (up to 64): start, the
	 * window, end. */
	assert_true(xs_rm(f->h, XBT_NULL, "/t"));
	vbd__xb_wire_counts(f->w, &req, &rt);
	assert_int_equal(req + rt, 0);
	assert_int_equal(vbd__xb_batch_run(f->w, b, NULL), 0);
	assert_all_written(f);
	vbd__xb_wire_counts(f->w, &req, &rt);
	assert_int_equal(req, 1 + (N + 4) + 1);
	assert_int_equal(rt, 2 + 1);
	vbd__xb_wire_free(w);
	vbd__xb_batch_free(b);
	vbd__xb_batch_free(fb);
}

/* What was read before the transaction, read again in it: the same
 * answer lets the batch go on, another (a value, a child, a node made or
 * removed since) aborts it with -EAGAIN before anything of it lands. */
static void same_batch(vbd__xb_batch *b)
{
	assert_int_equal(vbd__xb_batch_printf(b, "/t", "k", "v"), 0);
}

static void run_same(struct fx *f, vbd__xb_batch *chk, int want)
{
	vbd__xb_batch *b;
	const char *failed = NULL;

	assert_int_equal(vbd__xb_batch_new(&b), 0);
	same_batch(b);
	assert_int_equal(vbd__xb_batch_append(chk, b), 0);
	assert_int_equal(vbd__xb_batch_run(f->w, chk, &failed), want);
	if (want < 0) {
		assert_non_null(failed);
		assert_nothing(f);
	} else {
		char *v = vbd_test_xs_readf(f->h, "/t/k");

		assert_non_null(v);
		free(v);
		assert_true(xs_rm(f->h, XBT_NULL, "/t"));
	}
	vbd__xb_batch_free(b);
	vbd__xb_batch_free(chk);
}

static vbd__xb_batch *chk_new(void)
{
	vbd__xb_batch *c;

	assert_int_equal(vbd__xb_batch_new(&c), 0);
	return c;
}

static void test_same_reads(void **state)
{
	struct fx *f = *state;
	char *kids[2] = { "a", "b" };
	vbd__xb_batch *c;

	assert_true(xs_write(f->h, XBT_NULL, "/s/a", "1", 1));
	assert_true(xs_write(f->h, XBT_NULL, "/s/b", "", 0));

	c = chk_new();     /* as read: goes on */
	assert_int_equal(vbd__xb_batch_same(c, "/s/a", "1", 1), 0);
	assert_int_equal(vbd__xb_batch_same(c, "/s/b", "", 0), 0);
	assert_int_equal(vbd__xb_batch_same(c, "/s/none", NULL, 0), 0);
	assert_int_equal(vbd__xb_batch_same_exists(c, "/s/a", true), 0);
	assert_int_equal(vbd__xb_batch_same_exists(c, "/s/none", false), 0);
	assert_int_equal(vbd__xb_batch_same_dir(c, "/s", kids, 2), 0);
	assert_int_equal(vbd__xb_batch_same_dir(c, "/s/none", NULL, 0), 0);
	run_same(f, c, 0);

	c = chk_new();     /* another value, even a longer one */
	assert_int_equal(vbd__xb_batch_same(c, "/s/a", "12", 2), 0);
	run_same(f, c, -EAGAIN);
	c = chk_new();
	assert_int_equal(vbd__xb_batch_same(c, "/s/a", "2", 1), 0);
	run_same(f, c, -EAGAIN);
	c = chk_new();     /* made since */
	assert_int_equal(vbd__xb_batch_same(c, "/s/a", NULL, 0), 0);
	run_same(f, c, -EAGAIN);
	c = chk_new();     /* removed since */
	assert_int_equal(vbd__xb_batch_same_exists(c, "/s/none", true), 0);
	run_same(f, c, -EAGAIN);
	c = chk_new();     /* a child fewer, or another order */
	assert_int_equal(vbd__xb_batch_same_dir(c, "/s", kids, 1), 0);
	run_same(f, c, -EAGAIN);
	c = chk_new();     /* a child more */
	assert_true(xs_write(f->h, XBT_NULL, "/s/c", "", 0));
	assert_int_equal(vbd__xb_batch_same_dir(c, "/s", kids, 2), 0);
	run_same(f, c, -EAGAIN);
	/* A value with a NUL in it is compared whole, not as a C string. */
	assert_true(xs_write(f->h, XBT_NULL, "/s/z", "a\0b", 3));
	c = chk_new();
	assert_int_equal(vbd__xb_batch_same(c, "/s/z", "a\0b", 3), 0);
	run_same(f, c, 0);
	c = chk_new();
	assert_int_equal(vbd__xb_batch_same(c, "/s/z", "a", 1), 0);
	run_same(f, c, -EAGAIN);
	assert_true(xs_rm(f->h, XBT_NULL, "/s/z"));
	c = chk_new();     /* an error that is not an answer stays an error */
	assert_int_equal(vbd__xb_batch_same(c, "/s/a", "1", 1), 0);
	fail_nth(f, 2, -EACCES);
	run_same(f, c, -EACCES);
	fail_nth(f, 0, 0);
}

static void test_limits(void **state)
{
	vbd__xb_batch *b;
	char big[XENSTORE_PAYLOAD_MAX + 8];
	unsigned i;

	(void)state;
	assert_int_equal(vbd__xb_batch_new(&b), 0);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(vbd__xb_batch_printf(b, "/t", "k", "%s", big), -E2BIG);
	big[XENSTORE_ABS_PATH_MAX + 1] = 0;
	big[0] = '/';
	assert_int_equal(vbd__xb_batch_mkdir(b, big), -ENAMETOOLONG);
	for (i = 0; i < VBD__XB_BATCH_MAX; i++)
		assert_int_equal(vbd__xb_batch_mkdir(b, "/t"), 0);
	assert_int_equal(vbd__xb_batch_mkdir(b, "/t"), -ENOSPC);
	vbd__xb_batch_free(b);
}

/* ---- a peer that answers what a store never would ---- */

/* Runs a one-write batch against replies queued in advance on the other
 * end of a socketpair: the client reads them as they come. */
static int run_against(const void *replies, size_t len, bool *ret_broken)
{
	vbd__xb_batch *b;
	vbd__xb_wire *w;
	int other, r;

	w = vbd_test_wire_peer(replies, len, true, &other);   /* no more than those: EOF */
	assert_int_equal(vbd__xb_batch_new(&b), 0);
	assert_int_equal(vbd__xb_batch_printf(b, "/t", "k", "v"), 0);
	r = vbd__xb_batch_run(w, b, NULL);
	*ret_broken = vbd__xb_wire_broken(w);
	vbd__xb_batch_free(b);
	vbd__xb_wire_free(w);
	close(other);
	return r;
}

#define put vbd_test_msg_put

static void test_reply_not_its_request_is_refused(void **state)
{
	char buf[512];
	size_t n;
	bool brk;

	(void)state;
	/* The good exchange first: start (req 1) -> "7", write (req 2), end
	 * (req 3). */
	n = put(buf, 0, XS_TRANSACTION_START, 1, 0, "7", 2);
	n = put(buf, n, XS_WRITE, 2, 7, "OK", 3);
	n = put(buf, n, XS_TRANSACTION_END, 3, 7, "OK", 3);
	assert_int_equal(run_against(buf, n, &brk), 0);
	assert_false(brk);

	/* The write's reply with another req_id. */
	n = put(buf, 0, XS_TRANSACTION_START, 1, 0, "7", 2);
	n = put(buf, n, XS_WRITE, 9, 7, "OK", 3);
	assert_int_equal(run_against(buf, n, &brk), -EPROTO);
	assert_true(brk);

	/* ... with another transaction's id. */
	n = put(buf, 0, XS_TRANSACTION_START, 1, 0, "7", 2);
	n = put(buf, n, XS_WRITE, 2, 8, "OK", 3);
	assert_int_equal(run_against(buf, n, &brk), -EPROTO);
	assert_true(brk);

	/* ... of another type. */
	n = put(buf, 0, XS_TRANSACTION_START, 1, 0, "7", 2);
	n = put(buf, n, XS_READ, 2, 7, "OK", 3);
	assert_int_equal(run_against(buf, n, &brk), -EPROTO);

	/* A transaction id that is not a number, or 0. */
	n = put(buf, 0, XS_TRANSACTION_START, 1, 0, "7x", 3);
	assert_int_equal(run_against(buf, n, &brk), -EPROTO);
	n = put(buf, 0, XS_TRANSACTION_START, 1, 0, "0", 2);
	assert_int_equal(run_against(buf, n, &brk), -EPROTO);

	/* The stream ends before the reply: -EPIPE. */
	n = put(buf, 0, XS_TRANSACTION_START, 1, 0, "7", 2);
	assert_int_equal(run_against(buf, n, &brk), -EPIPE);
	assert_true(brk);
}

static void test_oversized_reply_is_refused(void **state)
{
	struct xsd_sockmsg h = { XS_TRANSACTION_START, 1, 0, XENSTORE_PAYLOAD_MAX + 1 };
	bool brk;

	(void)state;
	assert_int_equal(run_against(&h, sizeof(h), &brk), -EPROTO);
	assert_true(brk);
}

static void test_error_names(void **state)
{
	char buf[512];
	size_t n;
	bool brk;

	(void)state;
	/* An error by name, mid-batch: that errno, then the abort's reply. */
	n = put(buf, 0, XS_TRANSACTION_START, 1, 0, "7", 2);
	n = put(buf, n, XS_ERROR, 2, 7, "ENOSPC", 7);
	n = put(buf, n, XS_TRANSACTION_END, 3, 7, "OK", 3);
	assert_int_equal(run_against(buf, n, &brk), -ENOSPC);
	assert_false(brk);
	/* A name not in Xen's table: EINVAL, as libxenstore. */
	n = put(buf, 0, XS_TRANSACTION_START, 1, 0, "7", 2);
	n = put(buf, n, XS_ERROR, 2, 7, "EWHAT", 6);
	n = put(buf, n, XS_TRANSACTION_END, 3, 7, "OK", 3);
	assert_int_equal(run_against(buf, n, &brk), -EINVAL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_batch_lands_as_one_transaction),
		T(test_each_request_fails_cleanly),
		T(test_absent_node_present_is_eexist),
		T(test_conflict_at_commit_is_retried),
		T(test_work_at_start),
		T(test_fetch_before_start),
		T(test_txn_rm_eio_is_a_conflict),
		T(test_parts_read_then_plan),
		T(test_check_decides),
		T(test_wait_ends_the_window),
		T(test_socket_window),
		T(test_same_reads),
		T(test_fetch_reads_outside_a_transaction),
		T(test_watch_only_fetched),
		T(test_device_one_request_at_a_time),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_reply_not_its_request_is_refused),
		cmocka_unit_test(test_oversized_reply_is_refused),
		cmocka_unit_test(test_error_names),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
