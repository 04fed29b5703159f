/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_verify_log - xenstored logs replayed into the checker (vbd_xslog_*):
 * the committed truth of each format (transactions at their end, nothing
 * of an abort, a conflict or an error answer), the writing domain, what a
 * log cannot tell, hostile lines, and the same result whatever the pieces
 * the bytes come in.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vbd/verify.h"

typedef struct result {
	char text[8192];               /* one line per report */
	vbd_checker_summary k;
	vbd_xslog_summary l;
	int r;
} result;

static void on_event(const vbd_verify_event *e, void *ud)
{
	result *res = ud;
	size_t n = strlen(res->text);

	if (e->v)
		snprintf(res->text + n, sizeof(res->text) - n, "V %s %s w%d\n", e->v->rule, e->v->node,
		         e->writer);
	else
		snprintf(res->text + n, sizeof(res->text) - n, "%s %d>%d w%d u%u\n", e->side,
		         e->old_state, e->new_state, e->writer, e->unobserved);
}

/* The log fed in pieces of step bytes (0: all at once). */
static void replay(result *res, vbd_xslog_format fmt, const char *log, size_t step)
{
	vbd_checker *k = NULL;
	vbd_xslog *x = NULL;
	size_t len = strlen(log), i;

	memset(res, 0, sizeof(*res));
	res->k.size = sizeof(res->k);
	res->l.size = sizeof(res->l);
	assert_int_equal(vbd_checker_new(VBD_DOMID_ALL, 0, on_event, res, &k), 0);
	assert_int_equal(vbd_xslog_new(k, fmt, &x), 0);
	res->r = 0;
	for (i = 0; i < len && res->r == 0; i += step ? step : len)
		res->r = vbd_xslog_feed(x, log + i, step && len - i > step ? step : len - i);
	if (res->r == 0)
		res->r = vbd_xslog_finish(x, &res->l);
	assert_int_equal(vbd_checker_summary_get(k, &res->k), 0);
	vbd_xslog_free(x);
	vbd_checker_free(k);
	print_message("%s", res->text);
}

#define C_PRE "IN 0xa1 20261206 10:00:02 "
#define C_OK  "OUT 0xa1 20261206 10:00:02 WRITE (OK )\n"
#define BE "/local/domain/0/backend/vbd/3/51712"
#define FE "/local/domain/3/device/vbd/51712"

/* The toolstack (a socket: dom0) creates both ends in a transaction; guest
 * 3, introduced in the log, writes its own relative paths. */
static const char c_attach[] =
	"CREATE connection 0xa1\n"
	"IN 0xa1 20261206 10:00:01 INTRODUCE (3 1234 5 )\n"
	"CREATE connection 0xb2\n"
	"OUT 0xa1 20261206 10:00:01 INTRODUCE (OK )\n"
	C_PRE "TRANSACTION_START ( )\n"
	"OUT 0xa1 20261206 10:00:02 TRANSACTION_START (17 )\n"
	C_PRE "WRITE (" FE "/backend " BE ")\n" C_OK
	C_PRE "WRITE (" FE "/state 1)\n" C_OK
	C_PRE "WRITE (" BE "/state 1)\n" C_OK
	C_PRE "WRITE (" BE "/online 1)\n" C_OK
	C_PRE "TRANSACTION_END (T )\n"
	"OUT 0xa1 20261206 10:00:02 TRANSACTION_END (OK )\n"
	"OUT 0xb2 20261206 10:00:02 WATCH_EVENT (device/vbd/51712/state tok )\n"
	C_PRE "WRITE (" BE "/max-ring-page-order 2)\n" C_OK
	C_PRE "WRITE (" BE "/state 2)\n" C_OK
	"IN 0xb2 20261206 10:00:03 TRANSACTION_START ( )\n"
	"OUT 0xb2 20261206 10:00:03 TRANSACTION_START (5 )\n"
	"IN 0xb2 20261206 10:00:03 WRITE (device/vbd/51712/ring-ref 8)\n"
	"OUT 0xb2 20261206 10:00:03 WRITE (OK )\n"
	"IN 0xb2 20261206 10:00:03 WRITE (device/vbd/51712/event-channel 9)\n"
	"OUT 0xb2 20261206 10:00:03 WRITE (OK )\n"
	"IN 0xb2 20261206 10:00:03 WRITE (device/vbd/51712/protocol x86_64-abi)\n"
	"OUT 0xb2 20261206 10:00:03 WRITE (OK )\n"
	"IN 0xb2 20261206 10:00:03 TRANSACTION_END (T )\n"
	"OUT 0xb2 20261206 10:00:03 TRANSACTION_END (OK )\n"
	"IN 0xb2 20261206 10:00:03 WRITE (device/vbd/51712/state 3)\n"
	"OUT 0xb2 20261206 10:00:03 WRITE (OK )\n"
	C_PRE "TRANSACTION_START ( )\n"
	"OUT 0xa1 20261206 10:00:02 TRANSACTION_START (18 )\n"
	C_PRE "WRITE (" BE "/sectors 2048)\n" C_OK
	C_PRE "WRITE (" BE "/info 0)\n" C_OK
	C_PRE "WRITE (" BE "/sector-size 512)\n" C_OK
	C_PRE "TRANSACTION_END (T )\n"
	"OUT 0xa1 20261206 10:00:02 TRANSACTION_END (OK )\n"
	C_PRE "WRITE (" BE "/state 4)\n" C_OK
	"IN 0xb2 20261206 10:00:04 WRITE (device/vbd/51712/state 4)\n"
	"OUT 0xb2 20261206 10:00:04 WRITE (OK )\n";

static void test_c_attach_passes(void **state)
{
	static const size_t steps[] = { 0, 1, 7, 100 };
	result *res = malloc(sizeof(*res)), *first = malloc(sizeof(*first));
	size_t i;

	(void)state;
	assert_non_null(res);
	assert_non_null(first);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		replay(res, VBD_XSLOG_AUTO, c_attach, steps[i]);
		assert_int_equal(res->r, 0);
		assert_int_equal(res->l.format, VBD_XSLOG_CXENSTORED);
		assert_int_equal(res->k.devices, 1);
		assert_int_equal(res->k.violations, 0);
		assert_int_equal(res->k.unobserved, 0);
		assert_int_equal(res->l.unknown, 0);
		assert_int_equal(res->l.unparsed, 0);
		/* the guest's Connected is its own (domain 3, from INTRODUCE) */
		assert_non_null(strstr(res->text, "frontend 3>4 w3 u0"));
		assert_non_null(strstr(res->text, "backend 2>4 w0 u0"));
		if (i == 0)
			memcpy(first, res, sizeof(*res));
		else
			assert_string_equal(first->text, res->text);
	}
	free(res);
	free(first);
}

/* Nothing of an error answer, an EAGAIN commit, an abort. */
static void test_c_failures_change_nothing(void **state)
{
	result *res = malloc(sizeof(*res));
	char *log = malloc(16384);

	(void)state;
	assert_non_null(res);
	snprintf(log, 16384, "%s%s", c_attach,
	         /* the guest writes its backend's state: refused */
	         "IN 0xb2 20261206 10:00:05 WRITE (/local/domain/0/backend/vbd/3/51712/state 1)\n"
	         "OUT 0xb2 20261206 10:00:05 ERROR (EACCES )\n"
	         /* a transaction that fails at its end */
	         C_PRE "TRANSACTION_START ( )\n"
	         "OUT 0xa1 20261206 10:00:02 TRANSACTION_START (19 )\n"
	         C_PRE "WRITE (" FE "/state 2)\n" C_OK
	         C_PRE "TRANSACTION_END (T )\n"
	         "OUT 0xa1 20261206 10:00:02 ERROR (EAGAIN )\n"
	         /* and one aborted */
	         C_PRE "TRANSACTION_START ( )\n"
	         "OUT 0xa1 20261206 10:00:02 TRANSACTION_START (20 )\n"
	         C_PRE "WRITE (" BE "/state 2)\n" C_OK
	         C_PRE "TRANSACTION_END (F )\n"
	         "OUT 0xa1 20261206 10:00:02 TRANSACTION_END (OK )\n");
	replay(res, VBD_XSLOG_CXENSTORED, log, 0);
	assert_int_equal(res->r, 0);
	assert_int_equal(res->k.violations, 0);
	assert_int_equal(res->l.unknown, 0);
	/* The same requests answered OK are violations: the test can fail. */
	snprintf(log, 16384, "%s%s", c_attach,
	         "IN 0xb2 20261206 10:00:05 WRITE (/local/domain/0/backend/vbd/3/51712/state 1)\n"
	         "OUT 0xb2 20261206 10:00:05 WRITE (OK )\n");
	replay(res, VBD_XSLOG_CXENSTORED, log, 0);
	assert_non_null(strstr(res->text, "V writer " BE "/state w3"));
	assert_non_null(strstr(res->text, "V backend-transition"));
	free(log);
	free(res);
}

/* A toolstack writing a driver's state: the writer rule. */
static void test_c_writer(void **state)
{
	result *res = malloc(sizeof(*res));
	char *log = malloc(16384);

	(void)state;
	snprintf(log, 16384, "%s%s", c_attach,
	         C_PRE "WRITE (" FE "/state 5)\n" C_OK);
	replay(res, VBD_XSLOG_AUTO, log, 0);
	assert_int_equal(res->k.violations, 1);
	assert_non_null(strstr(res->text, "V writer " FE "/state w0"));
	free(log);
	free(res);
}

/* What the trace cannot tell: a connection it never saw created (its
 * domain), relative paths of it, two transactions open on one connection,
 * a value holding a newline, a line past the bound. */
static void test_c_cannot_tell(void **state)
{
	result *res = malloc(sizeof(*res));
	char *big;

	(void)state;
	replay(res, VBD_XSLOG_AUTO,
	       "IN 0xc3 20261206 10:00:02 WRITE (" BE "/state 1)\n"
	       "OUT 0xc3 20261206 10:00:02 WRITE (OK )\n", 0);
	assert_int_equal(res->k.violations, 0);
	assert_true(res->k.unobserved >= 1);         /* writer unknown */

	replay(res, VBD_XSLOG_AUTO,
	       "IN 0xc3 20261206 10:00:02 WRITE (device/vbd/51712/state 1)\n"
	       "OUT 0xc3 20261206 10:00:02 WRITE (OK )\n", 0);
	assert_true(res->l.unknown >= 1);

	replay(res, VBD_XSLOG_AUTO,
	       "CREATE connection 0xa1\n"
	       C_PRE "TRANSACTION_START ( )\n"
	       "OUT 0xa1 20261206 10:00:02 TRANSACTION_START (1 )\n"
	       C_PRE "TRANSACTION_START ( )\n"
	       "OUT 0xa1 20261206 10:00:02 TRANSACTION_START (2 )\n"
	       C_PRE "WRITE (" BE "/state 1)\n" C_OK, 0);
	assert_true(res->l.unknown >= 1);

	replay(res, VBD_XSLOG_AUTO,
	       "CREATE connection 0xa1\n"
	       C_PRE "WRITE (" BE "/params a\nOUT 0xa1 20261206 10:00:02 WRITE (OK )\nb)\n" C_OK, 0);
	assert_true(res->l.unknown >= 1);
	assert_int_equal(res->r, 0);

	big = malloc(40000);
	memset(big, 'x', 39999);
	big[39999] = 0;
	memcpy(big, "CREATE connection 0xa1\n" C_PRE "WRITE (" BE "/state ",
	       strlen("CREATE connection 0xa1\n" C_PRE "WRITE (" BE "/state "));
	replay(res, VBD_XSLOG_AUTO, big, 4096);
	assert_true(res->l.unparsed >= 1);
	assert_true(res->l.unknown >= 1);
	free(big);

	/* A request never answered by the end of the log */
	replay(res, VBD_XSLOG_AUTO, "CREATE connection 0xa1\n" C_PRE "WRITE (" BE "/state 1)\n", 0);
	assert_true(res->l.unknown >= 1);
	free(res);
}

/* Dom0's own kernel connection is older than the trace: its domain is
 * named by the watch events its relative writes fire, absolute to a
 * watcher of absolute paths (and the other way round). */
static void test_c_named_by_events(void **state)
{
	result *res = malloc(sizeof(*res));

	(void)state;
	replay(res, VBD_XSLOG_AUTO,
	       "CREATE connection 0xa1\n"
	       C_PRE "WRITE (" BE "/state 1)\n" C_OK
	       "OUT 0xa1 20261206 10:00:03 WATCH_EVENT (" BE "/state tok)\n"
	       "IN 0xk0 20261206 10:00:03 WRITE (backend/vbd/3/51712/state 2)\n"
	       "OUT 0xk0 20261206 10:00:03 WRITE (OK )\n"
	       "OUT 0xa1 20261206 10:00:03 WATCH_EVENT (" BE "/state tok)\n"
	       C_PRE "WRITE (" BE "/online 1)\n" C_OK
	       "OUT 0xk1 20261206 10:00:03 WATCH_EVENT (backend/vbd/3/51712/online tok)\n"
	       "IN 0xk1 20261206 10:00:03 WRITE (backend/vbd/3/51712/hotplug-status connected)\n"
	       "OUT 0xk1 20261206 10:00:03 WRITE (OK )\n", 0);
	assert_non_null(strstr(res->text, "backend 1>2 w0 u0"));
	assert_int_equal(res->l.unknown, 0);
	assert_int_equal(res->k.unobserved, 0);
	/* More requests than it remembers (the lab's trace has thousands) */
	{
		size_t cap = 200 * 160, n = 0, i;
		char *log = malloc(cap);

		n += (size_t)snprintf(log, cap, "CREATE connection 0xa1\n");
		for (i = 0; i < 200; i++)
			n += (size_t)snprintf(log + n, cap - n, C_PRE "WRITE (/tool/x%zu 1)\n" C_OK, i);
		replay(res, VBD_XSLOG_AUTO, log, 0);
		assert_int_equal(res->r, 0);
		assert_int_equal(res->l.changes, 200);
		free(log);
	}
	/* Without the event: unknown */
	replay(res, VBD_XSLOG_AUTO,
	       "CREATE connection 0xa1\n"
	       C_PRE "WRITE (" BE "/state 1)\n" C_OK
	       "IN 0xk0 20261206 10:00:03 WRITE (backend/vbd/3/51712/state 2)\n"
	       "OUT 0xk0 20261206 10:00:03 WRITE (OK )\n", 0);
	assert_true(res->l.unknown >= 1);
	/* The event is the earlier write's (a watcher's events come in the
	 * order of the changes): it names nobody */
	replay(res, VBD_XSLOG_AUTO,
	       "CREATE connection 0xa1\n"
	       "CREATE connection 0xa2\n"
	       C_PRE "WRITE (" BE "/state 1)\n" C_OK
	       "IN 0xk0 20261206 10:00:03 WRITE (backend/vbd/3/51712/state 2)\n"
	       "OUT 0xk0 20261206 10:00:03 WRITE (OK )\n"
	       "OUT 0xa2 20261206 10:00:03 WATCH_EVENT (" BE "/state tok)\n", 0);
	assert_true(res->l.unknown >= 1);
	free(res);
}

/* Xen 4.18's "io: " prefix and 4.19's "(d3)": the domain named. */
static void test_c_newer(void **state)
{
	result *res = malloc(sizeof(*res));

	(void)state;
	replay(res, VBD_XSLOG_AUTO,
	       "io: IN 0xb2 (d3) 20261206 10:00:02 WRITE (device/vbd/51712/state 1)\n"
	       "io: OUT 0xb2 (d3) 20261206 10:00:02 WRITE (OK )\n"
	       "obj: DESTROY connection 0xb2\n", 0);
	assert_int_equal(res->l.format, VBD_XSLOG_CXENSTORED);
	assert_non_null(strstr(res->text, "frontend -1>1 w3 u0"));
	assert_int_equal(res->l.unknown, 0);
	assert_int_equal(res->k.unobserved, 0);
	free(res);
}

#define O_PRE "[20261206T10:00:01.250Z]  "

static void test_o_access_log(void **state)
{
	result *res = malloc(sizeof(*res));

	(void)state;
	replay(res, VBD_XSLOG_AUTO,
	       O_PRE "A12          newconn   \n"
	       O_PRE "A12.4        write     " BE "/state 1\n"
	       O_PRE "A12.4        write     " FE "/state 1\n"
	       O_PRE "A12.4        commit    \n"
	       O_PRE "D0           write     " BE "/state 2\n"
	       /* conflict: nothing */
	       O_PRE "A12.5        write     " FE "/state 4\n"
	       O_PRE "A12.5        conflict  \n"
	       /* an error answer: nothing */
	       O_PRE "D3           write     " BE "/state 6\n"
	       O_PRE "D3           error     EACCES\n"
	       /* escaped: a newline in a value */
	       O_PRE "D3           write     device/vbd/51712/protocol x86\\n64\n"
	       O_PRE "D3           write     device/vbd/51712/state 3\n"
	       O_PRE "D3           w event   device/vbd/51712/state tok\n"
	       /* later lines of each connection: their writes were answered */
	       O_PRE "D0           watch     /local/domain/0/backend tok\n"
	       O_PRE "D3           watch     device tok\n"
	       O_PRE "A12          endconn   \n", 0);
	assert_int_equal(res->r, 0);
	assert_int_equal(res->l.format, VBD_XSLOG_OXENSTORED);
	assert_non_null(strstr(res->text, "backend -1>1 w0 u0"));
	assert_non_null(strstr(res->text, "frontend 1>3 w3 u0"));
	assert_null(strstr(res->text, ">4"));
	assert_null(strstr(res->text, ">6"));
	assert_non_null(strstr(res->text, "V protocol " FE "/protocol w3"));
	assert_non_null(strstr(res->text, "V ring-keys " FE "/ring-ref w3"));
	assert_int_equal(res->k.violations, 3);     /* and event-channel */
	assert_int_equal(res->l.unknown, 0);

	/* A line cut at access-log-nb-chars: the value is unknown */
	replay(res, VBD_XSLOG_OXENSTORED,
	       O_PRE "D0           write     " BE "/params /very/long/pa..\n", 0);
	assert_true(res->l.unknown >= 1);
	/* A write whose answer the log ends before */
	replay(res, VBD_XSLOG_OXENSTORED, O_PRE "D0           write     " BE "/state 1\n", 0);
	assert_true(res->l.unknown >= 1);
	/* A transaction never seen to end */
	replay(res, VBD_XSLOG_OXENSTORED, O_PRE "D0.9         write     " BE "/state 1\n", 0);
	assert_true(res->l.unknown >= 1);
	free(res);
}

/* oxenstored replays a transaction whose commit conflicted, logging the
 * replayed requests as "r(N):<conn>": the replay's own commit line is what
 * counts, the original's conflict changes nothing. */
static void test_o_replay(void **state)
{
	result *res = malloc(sizeof(*res));

	(void)state;
	replay(res, VBD_XSLOG_OXENSTORED,
	       O_PRE "A12.3        write     " BE "/state 1\n"
	       O_PRE "A12.3        write     " FE "/state 1\n"
	       O_PRE "A12.3        conflict  \n"
	       O_PRE "r(2):A12.3   write     " BE "/state 1\n"
	       O_PRE "r(2):A12.3   write     " FE "/state 1\n"
	       O_PRE "r(2):A12.3   commit    \n"
	       /* a replay that conflicts again: nothing */
	       O_PRE "r(3):A12.4   write     " FE "/state 4\n"
	       O_PRE "r(3):A12.4   conflict  \n"
	       O_PRE "A12          endconn   \n", 0);
	assert_int_equal(res->r, 0);
	assert_int_equal(res->l.unparsed, 0);
	assert_int_equal(res->l.first_unparsed, 0);
	assert_non_null(strstr(res->text, "backend -1>1 w0 u0"));
	assert_non_null(strstr(res->text, "frontend -1>1 w0 u0"));
	assert_null(strstr(res->text, ">4"));
	free(res);
}

static void test_hostile_lines(void **state)
{
	static const char *const logs[] = {
		"IN\nOUT\nIN 0x\nIN 0xa1 2026 WRITE (\n)\n(\n",
		"\n***\nwrl: dom    0      2  msec      10000 credit     1000000 reserve        400 discard\n",
		"IN 0xa1 20261399 10:00:02 WRITE (/a b)\n",
		"IN 0xa1 99999999999999999999 10:00:02 WRITE (/a b)\n",
		"CREATE connection \nDESTROY connection \nDESTROY connection 0xzz\n",
		"IN 0xa1 (d99999) 20261206 10:00:02 WRITE (/a b)\nOUT 0xa1 20261206 10:00:02 ERROR ()\n",
		"[20261206T10:00:01.250Z] D\n[20261206T10:00:01.250Z] D3.x write\n"
		"[20261206T10:00:01.250Z] D99999999999 write /a\n[2026",
		"[20261206T10:00:01.250Z] D3 write \\\\\\999\\0\\\n[20261206T10:00:01.250Z] A1.4294967296 rm /x\n",
		"OUT 0xa1 20261206 10:00:02 WRITE (OK )\nOUT 0xa1 20261206 10:00:02 TRANSACTION_START (99999999999 )\n",
	};
	result *res = malloc(sizeof(*res));
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		replay(res, VBD_XSLOG_AUTO, logs[i], 3);
		replay(res, VBD_XSLOG_CXENSTORED, logs[i], 0);
		replay(res, VBD_XSLOG_OXENSTORED, logs[i], 0);
		assert_int_equal(res->k.violations, 0);
	}
	/* xenstored's own notes are not "not understood" */
	replay(res, VBD_XSLOG_CXENSTORED,
	       "\n***\nwrl: dom    0      2  msec      10000 credit     1000000 reserve        400 discard\n"
	       "Delaying transaction start for connection 0xa1 req_id 3\n", 0);
	assert_int_equal(res->l.unparsed, 0);
	/* Neither format: said, after a bounded look */
	{
		char junk[64 * 4 + 1];

		for (i = 0; i < 64; i++)
			memcpy(junk + i * 4, "ab\n\n", 4);
		junk[sizeof(junk) - 1] = 0;
		replay(res, VBD_XSLOG_AUTO, junk, 0);
		assert_int_equal(res->r, -EINVAL);
	}
	/* Many connections, many transactions: bounded */
	{
		size_t cap = 6000 * 120, n = 0;
		char *log = malloc(cap);

		for (i = 0; i < 6000; i++)
			n += (size_t)snprintf(log + n, cap - n,
			                      "CREATE connection 0x%zx\nIN 0x%zx 20261206 10:00:02 "
			                      "TRANSACTION_START ( )\n", i, i);
		replay(res, VBD_XSLOG_CXENSTORED, log, 0);
		assert_int_equal(res->r, 0);
		free(log);
	}
	assert_int_equal(vbd_xslog_new(NULL, VBD_XSLOG_AUTO, NULL), -EINVAL);
	assert_null(vbd_xslog_free(NULL));
	free(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_c_attach_passes),
		cmocka_unit_test(test_c_failures_change_nothing),
		cmocka_unit_test(test_c_writer),
		cmocka_unit_test(test_c_cannot_tell),
		cmocka_unit_test(test_c_newer),
		cmocka_unit_test(test_c_named_by_events),
		cmocka_unit_test(test_o_access_log),
		cmocka_unit_test(test_o_replay),
		cmocka_unit_test(test_hostile_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
