/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd_dev_stats_read_sysfs() against a directory laid out like sysfs: no
 * kernel blkback runs here, so the test writes the files the kernel would,
 * and some it never would.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vbd/error.h"
#include "vbd/status.h"

#define DOM 8
#define DEVID 51728

struct fx {
	char root[1024], dir[1600];
};

static void put(struct fx *f, const char *name, const char *text)
{
	char path[2048];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	const char *names[] = { "oo_req", "rd_req", "wr_req", "f_req", "ds_req", "rd_sect", "wr_sect" };
	char p[1536];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "%s/vbd-dev-stats-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->root));
	snprintf(p, sizeof(p), "%s/bus", f->root);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/bus/xen-backend", f->root);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/bus/xen-backend/devices", f->root);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/bus/xen-backend/devices/vbd-%d-%d", f->root, DOM, DEVID);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(f->dir, sizeof(f->dir), "%s/statistics", p);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char v[32];

		snprintf(v, sizeof(v), "%zu\n", (i + 1) * 100);
		put(f, names[i], v);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[1100];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_read(void **state)
{
	struct fx *f = *state;
	vbd_dev_stats s = { .size = sizeof(s) };

	assert_int_equal(vbd_dev_stats_read_sysfs(f->root, DOM, DEVID, &s), 0);
	assert_int_equal(s.size, sizeof(s));
	assert_int_equal(s.oo_req, 100);
	assert_int_equal(s.rd_req, 200);
	assert_int_equal(s.wr_req, 300);
	assert_int_equal(s.f_req, 400);
	assert_int_equal(s.ds_req, 500);
	assert_int_equal(s.rd_sect, 600);
	assert_int_equal(s.wr_sect, 700);
	/* The largest counter, and one without a newline. */
	put(f, "wr_sect", "18446744073709551615");
	assert_int_equal(vbd_dev_stats_read_sysfs(f->root, DOM, DEVID, &s), 0);
	assert_true(s.wr_sect == UINT64_MAX);
}

static void test_older_struct(void **state)
{
	struct fx *f = *state;
	struct {
		size_t size;
		uint64_t oo_req, rd_req;
		uint64_t past;
	} old = { offsetof(vbd_dev_stats, wr_req), 1, 1, 42 };

	assert_int_equal(vbd_dev_stats_read_sysfs(f->root, DOM, DEVID, (vbd_dev_stats *)&old), 0);
	assert_int_equal(old.oo_req, 100);
	assert_int_equal(old.rd_req, 200);
	assert_int_equal(old.past, 42);
}

static void test_missing(void **state)
{
	struct fx *f = *state;
	vbd_dev_stats s = { .size = sizeof(s) };
	char p[2048];

	assert_int_equal(vbd_dev_stats_read_sysfs(f->root, DOM, DEVID + 1, &s), -ENOENT);
	assert_int_equal(vbd_dev_stats_read_sysfs(f->root, DOM + 1, DEVID, &s), -ENOENT);
	snprintf(p, sizeof(p), "%s/ds_req", f->dir);
	assert_int_equal(unlink(p), 0);
	s.rd_req = 7;
	assert_int_equal(vbd_dev_stats_read_sysfs(f->root, DOM, DEVID, &s), -ENOENT);
	assert_int_equal(s.rd_req, 7);      /* untouched on failure */
}

/* What the kernel never writes is refused, not shown as a number. */
static void test_not_a_counter(void **state)
{
	struct fx *f = *state;
	const char *bad[] = { "", "\n", "-1\n", "12 \n", " 12\n", "1x\n", "0x10\n",
	                      "18446744073709551616\n", "123456789012345678901\n", "1\n\n" };
	vbd_dev_stats s = { .size = sizeof(s) };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(f, "rd_req", bad[i]);
		s.rd_req = 7;
		assert_int_equal(vbd_dev_stats_read_sysfs(f->root, DOM, DEVID, &s), -EBADMSG);
		assert_int_equal(s.rd_req, 7);
	}
}

static void test_args(void **state)
{
	struct fx *f = *state;
	vbd_dev_stats s = { .size = sizeof(s) };

	assert_int_equal(vbd_dev_stats_read_sysfs(f->root, DOM, DEVID, NULL), -EINVAL);
	assert_int_equal(vbd_dev_stats_read_sysfs(f->root, VBD_DOMID_FIRST_RESERVED, DEVID, &s),
	                 -EINVAL);
	s.size = 0;
	assert_int_equal(vbd_dev_stats_read_sysfs(f->root, DOM, DEVID, &s), -EINVAL);
	/* No such device in the real /sys either (no Xen here, or no such domain). */
	s.size = sizeof(s);
	assert_int_equal(vbd_dev_stats_read_sysfs(NULL, VBD_DOMID_FIRST_RESERVED - 1, DEVID, &s),
	                 -ENOENT);
	assert_string_equal(vbd_strerror(-EBADMSG),
	                    "-EBADMSG: a file that should hold a number does not");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_older_struct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_args, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
