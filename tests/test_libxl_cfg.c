/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libxl's saved domain configuration kept in step with our disks
 * (lib/toolstack/libxl_cfg.c), without a hypervisor: the configurations
 * are made by libxenlight's own generator (libxl_domain_config_gen_json,
 * which needs no context), edited by ours, and compared with what libxl's
 * generator makes of the expected configuration, byte for byte.  The file
 * protocol (lock, read, write, rename) runs on a directory of the test's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <libxl.h>
#define HAVE_YAJL_YAJL_VERSION_H 1
#include <libxl_json.h>

#include "toolstack/libxl_cfg.h"

#define XVDA 51712u
#define XVDB 51728u
#define XVDC 51744u

/* A disk as xl's parser leaves it (the fields it sets). */
static void make_disk(libxl_device_disk *d, const char *vdev, const char *target,
                      const char *script, bool rw)
{
	libxl_device_disk_init(d);
	d->pdev_path = strdup(target);
	d->vdev = strdup(vdev);
	d->script = script ? strdup(script) : NULL;
	d->format = LIBXL_DISK_FORMAT_RAW;
	d->backend = LIBXL_DISK_BACKEND_PHY;
	d->readwrite = rw;
	d->specification = LIBXL_DISK_SPECIFICATION_XEN;
	libxl_defbool_set(&d->trusted, true);
	assert_non_null(d->pdev_path);
	assert_non_null(d->vdev);
}

static void ours(libxl_device_disk *d)
{
	make_disk(d, "xvdb", "/data/disk1.img", "/etc/xen/scripts/vbd-block", true);
}

/* A PV guest's configuration with the given disks (vdevs of xl's own
 * disks, then ours if with_ours), in libxl's JSON. */
static char *config(const char *const *xl_vdevs, int nxl, bool with_ours)
{
	libxl_domain_config cfg;
	const unsigned char *buf;
	yajl_gen g;
	size_t len;
	char *out;
	int i, n = nxl + with_ours;

	libxl_domain_config_init(&cfg);
	libxl_domain_create_info_init(&cfg.c_info);
	cfg.c_info.type = LIBXL_DOMAIN_TYPE_PV;
	cfg.c_info.name = strdup("guest1");
	libxl_domain_build_info_init_type(&cfg.b_info, LIBXL_DOMAIN_TYPE_PV);
	cfg.b_info.max_memkb = 163840;
	cfg.b_info.target_memkb = 163840;
	cfg.b_info.kernel = strdup("/boot/vmlinuz");
	if (n) {
		cfg.disks = calloc((size_t)n, sizeof(*cfg.disks));
		assert_non_null(cfg.disks);
		cfg.num_disks = n;
		for (i = 0; i < nxl; i++)
			make_disk(&cfg.disks[i], xl_vdevs[i], "/data/xl.img", NULL, false);
		if (with_ours)
			ours(&cfg.disks[nxl]);
	}
	g = yajl_gen_alloc(NULL);
	assert_non_null(g);
	yajl_gen_config(g, yajl_gen_beautify, 1);
	assert_int_equal(libxl_domain_config_gen_json(g, &cfg), yajl_gen_status_ok);
	assert_int_equal(yajl_gen_get_buf(g, &buf, &len), yajl_gen_status_ok);
	out = strndup((const char *)buf, len);
	assert_non_null(out);
	yajl_gen_free(g);
	libxl_domain_config_dispose(&cfg);
	return out;
}

static const char *const XL2[] = { "xvda", "xvdc" };

/* edit(before) must be exactly want (or unchanged: want NULL). */
static void assert_edit(const char *before, uint32_t devid, bool add, const char *want)
{
	libxl_device_disk d;
	vbd_errbuf err = { "" };
	char *got = NULL;
	int r;

	ours(&d);
	r = vbd__lxcfg_edit(before, strlen(before) + 1, devid, add ? &d : NULL, &got, &err);
	libxl_device_disk_dispose(&d);
	if (r < 0)
		fail_msg("edit: %d %s", r, err.msg);
	if (!want) {
		assert_int_equal(r, 0);
		assert_null(got);
		return;
	}
	assert_int_equal(r, 1);
	if (strcmp(got, want))
		fail_msg("edited:\n%s\nlibxl's generator:\n%s", got, want);
	free(got);
}

/* Ours comes last, xl's own disks stay as they were. */
static void test_add_keeps_xl_disks(void **state)
{
	char *before = config(XL2, 2, false), *want = config(XL2, 2, true);

	(void)state;
	assert_edit(before, XVDB, true, want);
	free(before);
	free(want);
}

static void test_remove(void **state)
{
	char *before = config(XL2, 2, true), *want = config(XL2, 2, false);

	(void)state;
	assert_edit(before, XVDB, false, want);
	free(before);
	free(want);
}

/* Adding what is there, removing what is not: nothing to write. */
static void test_idempotent(void **state)
{
	char *with = config(XL2, 2, true), *without = config(XL2, 2, false);

	(void)state;
	assert_edit(with, XVDB, true, NULL);
	assert_edit(without, XVDB, false, NULL);
	free(with);
	free(without);
}

/* No "disks" at all (libxl omits it): it appears where libxl puts it, and
 * goes again with the last disk. */
static void test_config_without_disks(void **state)
{
	char *none = config(NULL, 0, false), *one = config(NULL, 0, true);

	(void)state;
	assert_null(strstr(none, "\"disks\""));
	assert_edit(none, XVDB, true, one);
	assert_edit(one, XVDB, false, none);
	free(none);
	free(one);
}

/* A stale entry of the same device id, under another name, is replaced
 * in its place, as libxl replaces a stale entry. */
static void test_same_devid_replaced(void **state)
{
	static const char *const stale[] = { "xvda", "51728", "xvdc" };
	char *before = config(stale, 3, false), *got = NULL, *p;
	libxl_device_disk d;
	vbd_errbuf err = { "" };

	(void)state;
	ours(&d);
	assert_int_equal(vbd__lxcfg_edit(before, strlen(before), XVDB, &d, &got, &err), 1);
	libxl_device_disk_dispose(&d);
	/* xvda, ours, xvdc: in that order, and no "51728" left. */
	assert_null(strstr(got, "\"51728\""));
	p = strstr(got, "\"xvda\"");
	assert_non_null(p);
	p = strstr(p, "\"xvdb\"");
	assert_non_null(p);
	assert_non_null(strstr(p, "\"xvdc\""));
	free(got);
	free(before);
}

static void test_malformed_refused(void **state)
{
	static const char *const bad[] = {
		"{ \"c_info\": ", "[]", "\"x\"", "{ \"disks\": {} }", "{ \"disks\": [ 1 ] }",
		"{ \"disks\": [ \"xvdb\" ] }", "",
	};
	libxl_device_disk d;
	size_t i;

	(void)state;
	ours(&d);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vbd_errbuf err = { "" };
		char *got = (char *)"untouched";

		assert_int_equal(vbd__lxcfg_edit(bad[i], strlen(bad[i]), XVDB, &d, &got, &err), -EBADMSG);
		assert_null(got);
		assert_true(err.msg[0] != 0);
	}
	libxl_device_disk_dispose(&d);
}

/* ---- the files ---- */

struct fdir {
	char dir[PATH_MAX];
	vbd__lxcfg_files f;
	int betweens, undos;
	int between_result;
};

static int setup_dir(void **state)
{
	struct fdir *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	snprintf(x->dir, sizeof(x->dir), "/tmp/vbd-lxcfg.XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	assert_int_equal(vbd__lxcfg_files_init(&x->f, x->dir, 7, "0a1b2c3d-0000-4000-8000-00000000beef"),
	                 0);
	*state = x;
	return 0;
}

static int teardown_dir(void **state)
{
	struct fdir *x = *state;

	unlink(x->f.d);
	unlink(x->f.n);
	unlink(x->f.l);
	rmdir(x->dir);
	free(x);
	return 0;
}

static void put(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* The file's bytes; *len its size. */
static char *get(const char *path, size_t *len)
{
	char *buf = calloc(1, 1 << 20);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_non_null(buf);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	n = read(fd, buf, (1 << 20) - 1);
	close(fd);
	assert_true(n >= 0);
	*len = (size_t)n;
	return buf;
}

static int between(void *ud)
{
	struct fdir *x = ud;

	x->betweens++;
	return x->between_result;
}

static void undo(void *ud)
{
	((struct fdir *)ud)->undos++;
}

static int update(struct fdir *x, uint32_t devid, bool add)
{
	vbd__lxcfg_hooks h = { NULL, NULL, between, undo, x };
	vbd_errbuf err = { "" };
	libxl_device_disk d;
	int r;

	ours(&d);
	r = vbd__lxcfg_update(&x->f, devid, add ? &d : NULL, &h, &err);
	libxl_device_disk_dispose(&d);
	return r;
}

/* The names libxl gives the files; the text written with its NUL, 0600;
 * the lock file gone once released; a second run writes nothing. */
static void test_file_add_remove(void **state)
{
	struct fdir *x = *state;
	char *before = config(XL2, 2, false), *want = config(XL2, 2, true), *got;
	struct stat st;
	size_t len;

	assert_non_null(strstr(x->f.d, "/userdata-d.7.0a1b2c3d-0000-4000-8000-00000000beef.libxl-json"));
	assert_non_null(strstr(x->f.l, "/userdata-l.7.0a1b2c3d-0000-4000-8000-00000000beef."
	                                "domain-userdata-lock"));
	put(x->f.d, before, strlen(before) + 1);
	assert_int_equal(update(x, XVDB, true), 1);
	assert_int_equal(x->betweens, 1);
	got = get(x->f.d, &len);
	assert_non_null(got);
	assert_int_equal(len, strlen(want) + 1);
	assert_string_equal(got, want);
	free(got);
	assert_int_equal(stat(x->f.d, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(access(x->f.n, F_OK), -1);
	assert_int_equal(access(x->f.l, F_OK), -1);
	/* Again: nothing to write, but the transaction still ran. */
	assert_int_equal(update(x, XVDB, true), 0);
	assert_int_equal(x->betweens, 2);
	assert_int_equal(update(x, XVDB, false), 1);
	got = get(x->f.d, &len);
	assert_string_equal(got, before);
	free(got);
	assert_int_equal(x->undos, 0);
	free(before);
	free(want);
}

/* A domain without the file is not xl's: the transaction runs, no file. */
static void test_file_not_xl_managed(void **state)
{
	struct fdir *x = *state;

	assert_int_equal(update(x, XVDB, true), 0);
	assert_int_equal(x->betweens, 1);
	assert_int_equal(access(x->f.d, F_OK), -1);
	assert_int_equal(access(x->f.l, F_OK), -1);
}

/* A malformed or empty file: refused before the transaction, unwritten. */
static void test_file_malformed_untouched(void **state)
{
	struct fdir *x = *state;
	static const char bad[] = "{ \"c_info\": { \"name\": \"g\" }, \"disks\": 3 }";
	size_t len;
	char *got;

	put(x->f.d, bad, sizeof(bad));
	assert_int_equal(update(x, XVDB, true), -EBADMSG);
	assert_int_equal(x->betweens, 0);
	got = get(x->f.d, &len);
	assert_int_equal(len, sizeof(bad));
	assert_memory_equal(got, bad, sizeof(bad));
	free(got);
	assert_int_equal(access(x->f.n, F_OK), -1);
	assert_int_equal(access(x->f.l, F_OK), -1);
	put(x->f.d, "", 1);
	assert_int_equal(update(x, XVDB, true), -EBADMSG);
	assert_int_equal(x->betweens, 0);
}

/* The transaction fails: the configuration stays as it was. */
static void test_file_between_fails(void **state)
{
	struct fdir *x = *state;
	char *before = config(XL2, 2, false), *got;
	size_t len;

	put(x->f.d, before, strlen(before) + 1);
	x->between_result = -EEXIST;
	assert_int_equal(update(x, XVDB, true), -EEXIST);
	got = get(x->f.d, &len);
	assert_string_equal(got, before);
	assert_int_equal(x->undos, 0);
	free(got);
	free(before);
}

/* The write fails after the transaction: undo runs, the file is as it
 * was.  (A directory where the new file would go makes the write fail.) */
static void test_file_write_fails_undo(void **state)
{
	struct fdir *x = *state;
	char *before = config(XL2, 2, false), *got;
	size_t len;

	put(x->f.d, before, strlen(before) + 1);
	assert_int_equal(mkdir(x->f.n, 0700), 0);
	assert_true(update(x, XVDB, true) < 0);
	assert_int_equal(x->betweens, 1);
	assert_int_equal(x->undos, 1);
	got = get(x->f.d, &len);
	assert_string_equal(got, before);
	free(got);
	rmdir(x->f.n);
	free(before);
}

/* Whether pid waits for a flock (a "->" line of /proc/locks). */
static bool waits_for_lock(pid_t pid)
{
	char line[256], want[32];
	FILE *fp = fopen("/proc/locks", "r");
	bool found = false;

	assert_non_null(fp);
	snprintf(want, sizeof(want), " %d ", (int)pid);
	while (fgets(line, sizeof(line), fp))
		if (strstr(line, "->") && strstr(line, "FLOCK") && strstr(line, want))
			found = true;
	fclose(fp);
	return found;
}

/* libxl holds the lock (here: the test, as libxl takes it) and rewrites
 * the configuration; an update started meanwhile waits, then edits what
 * libxl wrote: nothing of libxl's change is lost. */
static void test_file_waits_for_libxl(void **state)
{
	struct fdir *x = *state;
	static const char *const one[] = { "xvda" };
	char *before = config(one, 1, false), *libxls = config(XL2, 2, false);
	char *want = config(XL2, 2, true), *got;
	int fd, status;
	size_t len;
	pid_t pid;

	put(x->f.d, before, strlen(before) + 1);
	fd = open(x->f.l, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The lock is the open file's: the child's copy would hold it. */
		close(fd);
		_exit(update(x, XVDB, true) == 1 ? 0 : 1);
	}
	while (!waits_for_lock(pid)) {
		/* A child that did not wait has failed already. */
		if (waitpid(pid, &status, WNOHANG) == pid)
			fail_msg("the update did not wait for the lock (status %d)", status);
		usleep(1000);
	}
	/* libxl's own device add, under its lock. */
	put(x->f.n, libxls, strlen(libxls) + 1);
	assert_int_equal(rename(x->f.n, x->f.d), 0);
	unlink(x->f.l);
	close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	got = get(x->f.d, &len);
	assert_string_equal(got, want);
	free(got);
	free(before);
	free(libxls);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_keeps_xl_disks),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_config_without_disks),
		cmocka_unit_test(test_same_devid_replaced),
		cmocka_unit_test(test_malformed_refused),
		cmocka_unit_test_setup_teardown(test_file_add_remove, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_file_not_xl_managed, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_file_malformed_untouched, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_file_between_fails, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_file_write_fails_undo, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_file_waits_for_libxl, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
