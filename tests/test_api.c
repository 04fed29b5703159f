/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_api - the compatibility rules of vbd/common.h, on the objects that
 * need no Xen and no other process: options accepted from version 1 up to
 * the library's, zero meaning default, out-structs filled only as far as
 * the caller's size says.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/opts.h"
#include "vbd/ctx.h"
#include "vbd/simhv.h"
#include "vbd/store.h"
#include "vbd/transport.h"

static void test_store_versions(void **state)
{
	vbd_store_options o = { .version = 0 };
	vbd_errbuf err = { "" };
	vbd_store *s = NULL;
	unsigned v;

	(void)state;
	assert_int_equal(vbd_store_new(&s, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "version"));
	o.version = VBD_STORE_OPTIONS_VERSION + 1;
	assert_int_equal(vbd_store_new(&s, &o, NULL), -EINVAL);
	assert_null(s);
	for (v = 1; v <= VBD_STORE_OPTIONS_VERSION; v++) {
		o.version = v;
		assert_int_equal(vbd_store_new(&s, &o, NULL), 0);
		s = vbd_store_free(s);
	}
	assert_int_equal(vbd_store_new(&s, NULL, NULL), 0);
	vbd_store_free(s);
}

static void test_xport_versions(void **state)
{
	vbd_xport_options o = { .version = VBD_XPORT_OPTIONS_VERSION + 1 };
	vbd_errbuf err = { "" };
	vbd_xport *x = NULL;

	(void)state;
	assert_int_equal(vbd_xport_open(&x, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "version"));
	assert_null(x);
}

/* A constructor says why in the errbuf it is given. */
static void test_ctx_new_err(void **state)
{
	vbd_ctx_options o = { .version = 1, .xenstored_path = "/nonexistent/vbd-test/socket" };
	vbd_errbuf err = { "" };
	vbd_ctx *c = NULL;

	(void)state;
	assert_int_equal(vbd_ctx_new(&c, &o, &err), -ECONNREFUSED);
	assert_null(c);
	assert_non_null(strstr(err.msg, "/nonexistent/vbd-test/socket"));
	o.version = VBD_CTX_OPTIONS_VERSION + 1;
	err.msg[0] = 0;
	assert_int_equal(vbd_ctx_new(&c, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "version"));
	assert_int_equal(vbd_ctx_new(&c, &o, NULL), -EINVAL);
}

/* Version 1 of a struct that grew: the bytes past it are never read. */
static void test_opts_load(void **state)
{
	struct v2 { unsigned version; unsigned a; unsigned b; } d, src = { 1, 7, 99 };
	struct v2 *none = NULL;

	(void)state;
	assert_int_equal(VBD__OPTS_LOAD(&d, &src, 2, offsetof(struct v2, b), sizeof(d)), 0);
	assert_int_equal(d.version, 2);
	assert_int_equal(d.a, 7);
	assert_int_equal(d.b, 0);      /* the default, not the 99 beyond version 1 */
	src.version = 2;
	assert_int_equal(VBD__OPTS_LOAD(&d, &src, 2, offsetof(struct v2, b), sizeof(d)), 0);
	assert_int_equal(d.b, 99);
	src.version = 3;
	assert_int_equal(VBD__OPTS_LOAD(&d, &src, 2, offsetof(struct v2, b), sizeof(d)), -EINVAL);
	assert_int_equal(VBD__OPTS_LOAD(&d, none, 2, offsetof(struct v2, b), sizeof(d)), 0);
	assert_int_equal(d.version, 2);
	assert_int_equal(d.a, 0);
	assert_int_equal(vbd__opt_uint(0, 5), 5);
	assert_int_equal(vbd__opt_uint(VBD_OPT_ZERO, 5), 0);
	assert_int_equal(vbd__opt_uint(3, 5), 3);
}

/* A caller built when the stats ended earlier gets only its part. */
static void test_store_stats_size(void **state)
{
	vbd_store_stats st;
	vbd_store *s = NULL;

	(void)state;
	assert_int_equal(vbd_store_new(&s, NULL, NULL), 0);
	memset(&st, 0xA5, sizeof(st));
	st.size = offsetof(vbd_store_stats, connections);
	assert_int_equal(vbd_store_get_stats(s, &st), 0);
	assert_int_equal(st.size, offsetof(vbd_store_stats, connections));
	assert_true(st.nodes >= 1);       /* "/" at least */
	assert_int_equal(st.connections, 0xA5A5A5A5A5A5A5A5ull);
	assert_int_equal(st.generation, 0xA5A5A5A5A5A5A5A5ull);
	st.size = sizeof(st);
	assert_int_equal(vbd_store_get_stats(s, &st), 0);
	assert_int_equal(st.connections, 0);
	st.size = 0;
	assert_int_equal(vbd_store_get_stats(s, &st), -EINVAL);
	/* A larger struct (a later header) gets this library's part. */
	{
		struct { vbd_store_stats st; uint64_t later; } big;

		memset(&big, 0xA5, sizeof(big));
		big.st.size = sizeof(big);
		assert_int_equal(vbd_store_get_stats(s, &big.st), 0);
		assert_int_equal(big.st.connections, 0);
		assert_int_equal(big.later, 0xA5A5A5A5A5A5A5A5ull);
	}
	vbd_store_free(s);
}

static void test_simhv_stats_size(void **state)
{
	vbd_simhv_stats st = { .size = sizeof(st) };
	vbd_simhv *h = NULL;

	(void)state;
	assert_int_equal(vbd_simhv_new(&h, NULL, NULL), 0);
	assert_int_equal(vbd_simhv_get_stats(h, &st), 0);
	assert_int_equal(st.size, sizeof(st));
	assert_int_equal(st.conns, 0);
	st.size = 0;
	assert_int_equal(vbd_simhv_get_stats(h, &st), -EINVAL);
	vbd_simhv_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_versions),
		cmocka_unit_test(test_xport_versions),
		cmocka_unit_test(test_ctx_new_err),
		cmocka_unit_test(test_opts_load),
		cmocka_unit_test(test_store_stats_size),
		cmocka_unit_test(test_simhv_stats_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
