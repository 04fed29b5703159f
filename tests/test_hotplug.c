/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_hotplug - vbd_hotplug_builtin against the embedded store, with real
 * loop devices, mounts and read-only targets (needs root).
 *
 * Each test writes backend directories as libxl would and calls the
 * builtin.  Every image lives in the test's own temporary directory, so the
 * loop devices a test created (or the library leaked) are exactly those
 * whose backing file lies there: that is what the leak checks count, and
 * what the teardown frees, whatever the test did before failing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>
#include <xenstore.h>

#include "store_fixture.h"
#include "toolstack/hotplug/hotplug_internal.h"
#include "vbd/ctx.h"
#include "vbd/hotplug.h"
#include "vbd/status.h"

#define MAX_MOUNTS 8
#define NTHREADS 8

struct fx {
	vbd_test_store t;
	struct xs_handle *h;
	char dir[PATH_MAX];          /* realpath of the test's temporary directory */
	char mounts[MAX_MOUNTS][PATH_MAX];
	unsigned nmounts;
};

/* ------------------------------------------------------------------ */
/* Loop devices and files                                              */

static bool read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	while (n && buf[n - 1] == '\n')
		n--;
	buf[n] = 0;
	return true;
}

/* Calls fn for each bound loop device whose backing file starts with prefix. */
static unsigned each_loop(const char *prefix, void (*fn)(unsigned n))
{
	char p[PATH_MAX], back[PATH_MAX];
	unsigned count = 0, n;
	struct dirent *de;
	DIR *d = opendir("/sys/block");

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (sscanf(de->d_name, "loop%u", &n) != 1)
			continue;
		snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", de->d_name);
		if (!read_line(p, back, sizeof(back)) || strncmp(back, prefix, strlen(prefix)))
			continue;
		count++;
		if (fn)
			fn(n);
	}
	closedir(d);
	return count;
}

static void detach_loop(unsigned n)
{
	char dev[32];
	int fd;

	snprintf(dev, sizeof(dev), "/dev/loop%u", n);
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		int zero = 0;

		/* BLKROSET outlives the binding: leave the device writable. */
		ioctl(fd, BLKROSET, &zero);
		ioctl(fd, LOOP_CLR_FD);
		close(fd);
	}
}

static unsigned loops_of(const char *path)
{
	return each_loop(path, NULL);
}

/* The loop devices bound to path once the frees still pending have
 * happened: the count, taken again for up to 5 s until it is want.
 * LOOP_CLR_FD on a device that anything else has open (another process's
 * attach between LOOP_CTL_GET_FREE and its EBUSY, a probe, a scan) only
 * sets autoclear, and the kernel frees it on that last close, after the
 * remove has returned.  A count that never settles is still wrong. */
static void assert_loops(const char *path, unsigned want)
{
	unsigned n = loops_of(path);

	for (int i = 0; i < 500 && n != want; i++) {
		usleep(10000);
		n = loops_of(path);
	}
	assert_int_equal(n, want);
}

static void make_file(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void pathf(struct fx *f, char *buf, const char *name)
{
	assert_true(snprintf(buf, PATH_MAX, "%s/%s", f->dir, name) < PATH_MAX);
}

/* A loop device of our own over path (what an administrator would pass
 * as a phy: target).  Freed by the teardown. */
static unsigned test_loop(const char *path, bool ro)
{
	vbd_errbuf err = { "" };
	unsigned n;
	int ffd, lfd;

	ffd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	assert_true(ffd >= 0);
	assert_int_equal(vbd__loop_attach(ffd, ro, path, NULL, 0, &lfd, &n, &err), 0);
	close(ffd);
	close(lfd);
	return n;
}

static void loop_info(unsigned n, char *back, size_t size, bool *ro)
{
	char p[96], v[16];

	snprintf(p, sizeof(p), "/sys/block/loop%u/loop/backing_file", n);
	assert_true(read_line(p, back, size));
	snprintf(p, sizeof(p), "/sys/block/loop%u/ro", n);
	assert_true(read_line(p, v, sizeof(v)));
	*ro = !strcmp(v, "1");
}

static void do_mount(struct fx *f, const char *src, const char *dst, const char *type,
                     unsigned long flags)
{
	assert_true(f->nmounts < MAX_MOUNTS);
	assert_int_equal(mount(src, dst, type, flags, NULL), 0);
	snprintf(f->mounts[f->nmounts++], PATH_MAX, "%s", dst);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[PATH_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* ------------------------------------------------------------------ */
/* Store                                                               */


static void assert_node(struct xs_handle *h, const char *path, const char *want)
{
	char *v = vbd_test_xs_readf(h, "%s", path);

	if (!want) {
		if (v)
			fail_msg("%s = '%s', expected absent", path, v);
		return;
	}
	if (!v)
		fail_msg("%s absent, expected '%s'", path, want);
	assert_string_equal(v, want);
	free(v);
}

static void assert_leaf(struct xs_handle *h, const char *be, const char *leaf, const char *want)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", be, leaf);
	assert_node(h, p, want);
}

static void wr(struct xs_handle *h, const char *be, const char *leaf, const char *val)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", be, leaf);
	assert_true(xs_write(h, XBT_NULL, p, val, strlen(val)));
}

/* A backend directory as libxl writes it for frontend domain fe. */
static void write_be_kind(struct xs_handle *h, char *be, size_t size, const char *kind, unsigned fe,
                          const char *params, const char *mode)
{
	char v[64];

	snprintf(be, size, "/local/domain/0/backend/%s/%u/51712", kind, fe);
	snprintf(v, sizeof(v), "/local/domain/%u/device/vbd/51712", fe);
	wr(h, be, "frontend", v);
	snprintf(v, sizeof(v), "%u", fe);
	wr(h, be, "frontend-id", v);
	wr(h, be, "online", "1");
	wr(h, be, "removable", "0");
	wr(h, be, "state", "2");
	wr(h, be, "dev", "xvda");
	wr(h, be, "type", "phy");
	wr(h, be, "device-type", "disk");
	wr(h, be, "params", params);
	wr(h, be, "mode", mode);
}

static void write_be(struct xs_handle *h, char *be, size_t size, unsigned fe,
                     const char *params, const char *mode)
{
	write_be_kind(h, be, size, "vbd", fe, params, mode);
}

static int add(struct xs_handle *h, const char *be, vbd_errbuf *err)
{
	memset(err, 0, sizeof(*err));
	return vbd_hotplug_builtin(h, be, VBD_HOTPLUG_ADD, err);
}

static int rem(struct xs_handle *h, const char *be)
{
	vbd_errbuf err = { "" };
	int r = vbd_hotplug_builtin(h, be, VBD_HOTPLUG_REMOVE, &err);

	if (r < 0)
		print_error("remove %s: %d %s\n", be, r, err.msg);
	return r;
}

/* Checks a connected backend over a loop device of image; returns n. */
static unsigned assert_loop_backend(struct xs_handle *h, const char *be, const char *image,
                                    bool want_ro)
{
	char *node, *pd, back[PATH_MAX], want[32];
	struct stat st;
	unsigned n;
	bool ro;

	assert_leaf(h, be, "hotplug-status", "connected");
	assert_leaf(h, be, "hotplug-error", NULL);
	node = vbd_test_xs_readf(h, "%s/node", be);
	assert_non_null(node);
	assert_int_equal(sscanf(node, "/dev/loop%u", &n), 1);
	assert_int_equal(stat(node, &st), 0);
	assert_true(S_ISBLK(st.st_mode));
	snprintf(want, sizeof(want), "%x:%x", major(st.st_rdev), minor(st.st_rdev));
	pd = vbd_test_xs_readf(h, "%s/physical-device", be);
	assert_non_null(pd);
	assert_string_equal(pd, want);
	assert_leaf(h, be, "physical-device-path", node);
	loop_info(n, back, sizeof(back), &ro);
	assert_string_equal(back, image);
	assert_int_equal(ro, want_ro);
	free(node);
	free(pd);
	return n;
}

static void index_path(char *buf, size_t size, const char *image, const char *entry)
{
	struct stat st;

	assert_int_equal(stat(image, &st), 0);
	snprintf(buf, size, "/libvbd/sharing/f-%ju-%ju%s%s", (uintmax_t)st.st_dev,
	         (uintmax_t)st.st_ino, entry ? "/" : "", entry ? entry : "");
}

/* ------------------------------------------------------------------ */
/* Fixture                                                             */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char tmpl[] = "/tmp/vbd-hotplug-XXXXXX";

	if (!f || !mkdtemp(tmpl) || !realpath(tmpl, f->dir))
		goto fail;
	if (vbd_test_store_start(&f->t, NULL) < 0)
		goto fail;
	f->h = vbd_test_xs_open(&f->t, 0);
	if (!f->h) {
		vbd_test_store_stop(&f->t);
		goto fail;
	}
	*state = f;
	return 0;
fail:
	if (f && f->dir[0])
		rmdir(f->dir);
	free(f);
	return -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char prefix[PATH_MAX + 1];

	if (!f)
		return 0;
	while (f->nmounts)
		umount2(f->mounts[--f->nmounts], MNT_DETACH);
	snprintf(prefix, sizeof(prefix), "%s/", f->dir);
	each_loop(prefix, detach_loop);
	run("chattr -R -i '%s' 2>/dev/null; rm -rf '%s'", f->dir, f->dir);
	xs_close(f->h);
	vbd_test_store_stop(&f->t);
	free(f);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

static void test_file_rw(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], be[128], idx[256];
	vbd_errbuf err;
	unsigned n;

	pathf(f, img, "a.img");
	make_file(img, 4 << 20);
	write_be(f->h, be, sizeof(be), 5, img, "w");
	assert_int_equal(add(f->h, be, &err), 0);
	n = assert_loop_backend(f->h, be, img, false);
	(void)n;
	assert_loops(img, 1);
	index_path(idx, sizeof(idx), img, "0-5-51712");
	assert_node(f->h, idx, "w");

	assert_int_equal(rem(f->h, be), 0);
	assert_loops(img, 0);
	assert_node(f->h, idx, NULL);
	index_path(idx, sizeof(idx), img, NULL);
	assert_node(f->h, idx, NULL); /* the key dir went with its last entry */
	assert_leaf(f->h, be, "node", NULL);
	assert_leaf(f->h, be, "physical-device", NULL);
	/* Twice is fine. */
	assert_int_equal(rem(f->h, be), 0);
	assert_loops(img, 0);
}

static void test_file_ro(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], be[128], idx[256];
	vbd_errbuf err;

	pathf(f, img, "a.img");
	make_file(img, 1 << 20);
	write_be(f->h, be, sizeof(be), 5, img, "r");
	assert_int_equal(add(f->h, be, &err), 0);
	assert_loop_backend(f->h, be, img, true);
	index_path(idx, sizeof(idx), img, "0-5-51712");
	assert_node(f->h, idx, "r");
	assert_int_equal(rem(f->h, be), 0);
	assert_loops(img, 0);
}

/* A remove while another process has the loop device open (a racing
 * attach between LOOP_CTL_GET_FREE and its EBUSY, a probe): the remove
 * succeeds and forgets the device, the kernel frees it on that last close,
 * and the file can be attached again meanwhile. */
static void test_remove_while_open_elsewhere(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], be[128], idx[256], *node, *again;
	vbd_errbuf err;
	int fd;

	pathf(f, img, "a.img");
	make_file(img, 1 << 20);
	write_be(f->h, be, sizeof(be), 5, img, "w");
	assert_int_equal(add(f->h, be, &err), 0);
	assert_loop_backend(f->h, be, img, false);
	node = vbd_test_xs_readf(f->h, "%s/node", be);
	assert_non_null(node);
	fd = open(node, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);

	assert_int_equal(rem(f->h, be), 0);
	assert_int_equal(loops_of(img), 1);       /* held open: autoclear only */
	index_path(idx, sizeof(idx), img, NULL);
	assert_node(f->h, idx, NULL);
	assert_leaf(f->h, be, "node", NULL);
	/* Twice is fine, and leaves the device to its last close. */
	assert_int_equal(rem(f->h, be), 0);
	assert_int_equal(loops_of(img), 1);

	assert_int_equal(add(f->h, be, &err), 0);
	assert_loop_backend(f->h, be, img, false);
	again = vbd_test_xs_readf(f->h, "%s/node", be);
	assert_non_null(again);
	assert_string_not_equal(again, node);
	assert_int_equal(loops_of(img), 2);
	assert_int_equal(rem(f->h, be), 0);

	close(fd);
	assert_loops(img, 0);
	free(node);
	free(again);
}

static void test_block_device(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], be[128], dev[32], want[32], idx[256];
	vbd_errbuf err;
	struct stat st;
	unsigned n;

	pathf(f, img, "disk.img");
	make_file(img, 1 << 20);
	n = test_loop(img, false);
	snprintf(dev, sizeof(dev), "/dev/loop%u", n);
	assert_int_equal(stat(dev, &st), 0);
	snprintf(want, sizeof(want), "%x:%x", major(st.st_rdev), minor(st.st_rdev));

	write_be(f->h, be, sizeof(be), 5, dev, "w");
	assert_int_equal(add(f->h, be, &err), 0);
	assert_leaf(f->h, be, "physical-device", want);
	assert_leaf(f->h, be, "physical-device-path", dev);
	assert_leaf(f->h, be, "node", NULL);
	assert_leaf(f->h, be, "hotplug-status", "connected");
	/* A loop device is indexed as the file it is bound to. */
	index_path(idx, sizeof(idx), img, "0-5-51712");
	assert_node(f->h, idx, "w");

	/* Not ours: remove leaves the device alone. */
	assert_int_equal(rem(f->h, be), 0);
	assert_loops(img, 1);
	assert_node(f->h, idx, NULL);

	/* A bare name is a device under /dev, as in the block script. */
	write_be(f->h, be, sizeof(be), 6, dev + 5, "r");
	assert_int_equal(add(f->h, be, &err), 0);
	assert_leaf(f->h, be, "physical-device", want);
	assert_leaf(f->h, be, "physical-device-path", dev);
	assert_int_equal(rem(f->h, be), 0);
}

static void test_idempotent_add(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], be[128], *node1, *node2;
	vbd_errbuf err;

	pathf(f, img, "a.img");
	make_file(img, 1 << 20);
	write_be(f->h, be, sizeof(be), 5, img, "w");
	assert_int_equal(add(f->h, be, &err), 0);
	node1 = vbd_test_xs_readf(f->h, "%s/node", be);
	assert_int_equal(add(f->h, be, &err), 0);
	node2 = vbd_test_xs_readf(f->h, "%s/node", be);
	assert_string_equal(node1, node2);
	assert_loops(img, 1);
	/* physical-device there, status lost: set again, nothing attached. */
	assert_true(xs_rm(f->h, XBT_NULL, "/local/domain/0/backend/vbd/5/51712/hotplug-status"));
	assert_int_equal(add(f->h, be, &err), 0);
	assert_leaf(f->h, be, "hotplug-status", "connected");
	assert_loops(img, 1);
	assert_int_equal(rem(f->h, be), 0);
	assert_loops(img, 0);
	/* Remove, then add again on the same directory: a real add. */
	assert_int_equal(add(f->h, be, &err), 0);
	assert_loop_backend(f->h, be, img, false);
	assert_int_equal(rem(f->h, be), 0);
	assert_loops(img, 0);
	free(node1);
	free(node2);
}

static void test_relative_path(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], be[128], idx[256];
	vbd_errbuf err;

	pathf(f, img, "a.img");
	make_file(img, 1 << 20);
	write_be(f->h, be, sizeof(be), 7, img, "w");
	/* XENBUS_PATH as libxl and uevents give it, from dom0. */
	assert_int_equal(add(f->h, "backend/vbd/7/51712", &err), 0);
	assert_loop_backend(f->h, be, img, false);
	index_path(idx, sizeof(idx), img, "0-7-51712");
	assert_node(f->h, idx, "w");
	assert_int_equal(rem(f->h, "backend/vbd/7/51712/"), 0);
	assert_loops(img, 0);
	assert_node(f->h, idx, NULL);
}

static void test_missing(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], be[128], *e;
	vbd_errbuf err;

	pathf(f, img, "nonexistent.img");
	write_be(f->h, be, sizeof(be), 5, img, "w");
	assert_int_equal(add(f->h, be, &err), -ENOENT);
	assert_non_null(strstr(err.msg, img));
	assert_leaf(f->h, be, "hotplug-status", "error");
	e = vbd_test_xs_readf(f->h, "%s/hotplug-error", be);
	assert_non_null(e);
	assert_string_equal(e, err.msg);
	free(e);
	assert_leaf(f->h, be, "physical-device", NULL);

	/* No backend at all: nothing is created. */
	assert_int_equal(add(f->h, "/local/domain/0/backend/vbd/9/51712", &err), -ENOENT);
	assert_node(f->h, "/local/domain/0/backend/vbd/9", NULL);

	/* A directory is neither. */
	write_be(f->h, be, sizeof(be), 5, f->dir, "w");
	assert_int_equal(add(f->h, be, &err), -ENODEV);
	assert_leaf(f->h, be, "hotplug-status", "error");

	/* No mode. */
	assert_true(xs_rm(f->h, XBT_NULL, "/local/domain/0/backend/vbd/5/51712/mode"));
	assert_int_equal(add(f->h, be, &err), -EINVAL);

	/* LABEL= is resolved elsewhere. */
	write_be(f->h, be, sizeof(be), 5, "LABEL=nothing-here", "r");
	assert_int_equal(add(f->h, be, &err), -ENOENT);
}

static void test_readonly(void **state)
{
	struct fx *f = *state;
	char src[PATH_MAX], mnt[PATH_MAX], img[PATH_MAX], be[128], dev[32];
	vbd_errbuf err;
	unsigned n;
	int fd, ro = 1;

	/* A file on a read-only bind mount. */
	pathf(f, src, "src");
	pathf(f, mnt, "ro");
	assert_int_equal(mkdir(src, 0755), 0);
	assert_int_equal(mkdir(mnt, 0755), 0);
	assert_true(snprintf(img, sizeof(img), "%s/a.img", src) < (int)sizeof(img));
	make_file(img, 1 << 20);
	do_mount(f, src, mnt, NULL, MS_BIND);
	assert_int_equal(mount(NULL, mnt, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0);
	assert_true(snprintf(img, sizeof(img), "%s/a.img", mnt) < (int)sizeof(img));

	write_be(f->h, be, sizeof(be), 5, img, "w");
	assert_int_equal(add(f->h, be, &err), -EROFS);
	assert_leaf(f->h, be, "hotplug-status", "error");
	assert_leaf(f->h, be, "hotplug-error", err.msg);
	assert_leaf(f->h, be, "physical-device", NULL);
	assert_loops(img, 0);
	/* Read-only is fine. */
	write_be(f->h, be, sizeof(be), 5, img, "r");
	assert_int_equal(add(f->h, be, &err), 0);
	assert_loop_backend(f->h, be, img, true);
	assert_int_equal(rem(f->h, be), 0);

	/* An immutable file. */
	pathf(f, img, "immutable.img");
	make_file(img, 1 << 20);
	if (run("chattr +i '%s' 2>/dev/null", img) == 0) {
		write_be(f->h, be, sizeof(be), 6, img, "w");
		assert_int_equal(add(f->h, be, &err), -EROFS);
		assert_leaf(f->h, be, "hotplug-status", "error");
		run("chattr -i '%s'", img);
	}

	/* A block device set read-only (blockdev --setro). */
	pathf(f, img, "disk.img");
	make_file(img, 1 << 20);
	n = test_loop(img, false);
	snprintf(dev, sizeof(dev), "/dev/loop%u", n);
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, BLKROSET, &ro), 0);
	close(fd);
	write_be(f->h, be, sizeof(be), 7, dev, "w");
	assert_int_equal(add(f->h, be, &err), -EROFS);
	assert_leaf(f->h, be, "hotplug-status", "error");
	write_be(f->h, be, sizeof(be), 8, dev, "r");
	assert_int_equal(add(f->h, be, &err), 0);
	assert_int_equal(rem(f->h, be), 0);
}

/* Frontends 5 and 6 are different VMs: a vm path each. */
static void two_vms(struct fx *f)
{
	wr(f->h, "/local/domain/5", "vm", "/vm/00000000-0000-0000-0000-000000000005");
	wr(f->h, "/local/domain/6", "vm", "/vm/00000000-0000-0000-0000-000000000006");
}

static void test_sharing_file(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], be1[128], be2[128], idx[256];
	vbd_errbuf err;

	two_vms(f);
	pathf(f, img, "a.img");
	make_file(img, 1 << 20);

	/* w + w */
	write_be(f->h, be1, sizeof(be1), 5, img, "w");
	write_be(f->h, be2, sizeof(be2), 6, img, "w");
	assert_int_equal(add(f->h, be1, &err), 0);
	assert_int_equal(add(f->h, be2, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "domain 5"));
	assert_leaf(f->h, be2, "hotplug-status", "busy");
	assert_leaf(f->h, be2, "hotplug-error", err.msg);
	assert_leaf(f->h, be2, "physical-device", NULL);
	assert_loops(img, 1);
	/* After the first goes, the second may. */
	assert_int_equal(rem(f->h, be1), 0);
	assert_int_equal(add(f->h, be2, &err), 0);
	assert_loop_backend(f->h, be2, img, false);
	assert_int_equal(rem(f->h, be2), 0);
	assert_loops(img, 0);

	/* r + r */
	write_be(f->h, be1, sizeof(be1), 5, img, "r");
	write_be(f->h, be2, sizeof(be2), 6, img, "r");
	assert_int_equal(add(f->h, be1, &err), 0);
	assert_int_equal(add(f->h, be2, &err), 0);
	assert_loops(img, 2);
	assert_int_equal(rem(f->h, be1), 0);
	/* The other reader's entry keeps the key. */
	index_path(idx, sizeof(idx), img, "0-6-51712");
	assert_node(f->h, idx, "r");
	assert_int_equal(rem(f->h, be2), 0);
	assert_loops(img, 0);

	/* w then r */
	write_be(f->h, be1, sizeof(be1), 5, img, "w");
	write_be(f->h, be2, sizeof(be2), 6, img, "r");
	assert_int_equal(add(f->h, be1, &err), 0);
	assert_int_equal(add(f->h, be2, &err), -EBUSY);
	assert_leaf(f->h, be2, "hotplug-status", "busy");
	assert_loops(img, 1);
	assert_int_equal(rem(f->h, be1), 0);
	assert_int_equal(add(f->h, be2, &err), 0);
	assert_leaf(f->h, be2, "hotplug-error", NULL);
	assert_int_equal(rem(f->h, be2), 0);

	/* r then w */
	write_be(f->h, be1, sizeof(be1), 5, img, "r");
	write_be(f->h, be2, sizeof(be2), 6, img, "w");
	assert_int_equal(add(f->h, be1, &err), 0);
	assert_int_equal(add(f->h, be2, &err), -EBUSY);
	assert_leaf(f->h, be2, "hotplug-status", "busy");
	assert_loops(img, 1);
	assert_int_equal(rem(f->h, be1), 0);
	assert_int_equal(add(f->h, be2, &err), 0);
	assert_int_equal(rem(f->h, be2), 0);
	assert_loops(img, 0);

	/* w! skips the checks, as in the block script. */
	write_be(f->h, be1, sizeof(be1), 5, img, "w");
	write_be(f->h, be2, sizeof(be2), 6, img, "w!");
	assert_int_equal(add(f->h, be1, &err), 0);
	assert_int_equal(add(f->h, be2, &err), 0);
	assert_loops(img, 2);
	assert_int_equal(rem(f->h, be1), 0);
	assert_int_equal(rem(f->h, be2), 0);
	assert_loops(img, 0);
}

/* A vbd3 (tap) backend: params "aio:<path>", no loop device; ADD writes
 * physical-device-path (never physical-device) and hotplug-status, and
 * keeps the same sharing index as a phy disk, so a phy disk of another
 * domain cannot take the file read-write meanwhile.  Formats other than
 * aio, a missing format and a relative path are refused. */
static void test_vbd3(void **state)
{
	struct fx *f = *state;
	/* Each a prefix and whether the image's path follows it. */
	static const struct { const char *pre; bool path; } bad[] = {
		{ "vhd:", true }, { "", true }, { "aio:a.img", false }, { "qcow2:", true },
		{ "aio:", false }, { "aiox:", true },
	};
	char img[PATH_MAX], be[128], be3[128], params[PATH_MAX + 16], idx[256];
	vbd_errbuf err;
	size_t i;

	two_vms(f);
	pathf(f, img, "a.img");
	make_file(img, 1 << 20);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(params, sizeof(params), "%s%s", bad[i].pre, bad[i].path ? img : "");
		write_be_kind(f->h, be3, sizeof(be3), "vbd3", 5, params, "w");
		if (add(f->h, be3, &err) == 0)
			fail_msg("params %s accepted", params);
		assert_leaf(f->h, be3, "hotplug-status", "error");
		assert_leaf(f->h, be3, "physical-device-path", NULL);
		assert_true(xs_rm(f->h, XBT_NULL, "/local/domain/0/backend/vbd3"));
	}
	snprintf(params, sizeof(params), "aio:%s", img);
	write_be_kind(f->h, be3, sizeof(be3), "vbd3", 5, params, "w");
	if (add(f->h, be3, &err) != 0)
		fail_msg("add: %s", err.msg);
	assert_leaf(f->h, be3, "hotplug-status", "connected");
	assert_leaf(f->h, be3, "physical-device-path", img);
	assert_leaf(f->h, be3, "physical-device", NULL);
	assert_loops(img, 0);
	index_path(idx, sizeof(idx), img, "0-5-51712-vbd3");
	assert_node(f->h, idx, "w");
	/* Twice: nothing more. */
	assert_int_equal(add(f->h, be3, &err), 0);
	/* A phy disk of domain 6, read-write: refused, naming domain 5. */
	write_be(f->h, be, sizeof(be), 6, img, "w");
	assert_int_equal(add(f->h, be, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "domain 5"));
	assert_loops(img, 0);
	assert_int_equal(rem(f->h, be3), 0);
	assert_node(f->h, idx, NULL);
	assert_leaf(f->h, be3, "physical-device-path", NULL);
	assert_int_equal(add(f->h, be, &err), 0);
	assert_int_equal(rem(f->h, be), 0);
	assert_loops(img, 0);
}

/* A file and a loop device bound to it are one object, whatever name the
 * spec uses: the file, the device, or a link to the device. */
static void test_sharing_loop_and_file(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], img2[PATH_MAX], link[PATH_MAX], be1[128], be2[128], dev[32], *node;
	vbd_errbuf err;
	unsigned n;

	two_vms(f);
	pathf(f, img, "a.img");
	pathf(f, img2, "b.img");
	pathf(f, link, "link-to-loop");
	make_file(img, 1 << 20);
	make_file(img2, 1 << 20);

	/* The file first (our loop device L), then L itself, then a link to L. */
	write_be(f->h, be1, sizeof(be1), 5, img, "w");
	assert_int_equal(add(f->h, be1, &err), 0);
	node = vbd_test_xs_readf(f->h, "%s/node", be1);
	assert_non_null(node);
	write_be(f->h, be2, sizeof(be2), 6, node, "w");
	assert_int_equal(add(f->h, be2, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "domain 5"));
	assert_leaf(f->h, be2, "hotplug-status", "busy");
	assert_int_equal(symlink(node, link), 0);
	write_be(f->h, be2, sizeof(be2), 6, link, "r");
	assert_int_equal(add(f->h, be2, &err), -EBUSY);
	assert_int_equal(rem(f->h, be1), 0);
	free(node);

	/* The loop device first, then its file. */
	n = test_loop(img2, false);
	snprintf(dev, sizeof(dev), "/dev/loop%u", n);
	write_be(f->h, be1, sizeof(be1), 5, dev, "w");
	assert_int_equal(add(f->h, be1, &err), 0);
	write_be(f->h, be2, sizeof(be2), 6, img2, "w");
	assert_int_equal(add(f->h, be2, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "domain 5"));
	assert_loops(img2, 1);
	/* Read-only both ways is fine. */
	assert_int_equal(rem(f->h, be1), 0);
	write_be(f->h, be1, sizeof(be1), 5, dev, "r");
	write_be(f->h, be2, sizeof(be2), 6, img2, "r");
	assert_int_equal(add(f->h, be1, &err), 0);
	assert_int_equal(add(f->h, be2, &err), 0);
	assert_int_equal(rem(f->h, be2), 0);
	assert_int_equal(rem(f->h, be1), 0);
}

static void test_sharing_same_vm_and_stale(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], be1[128], be2[128], be3[128];
	vbd_errbuf err;

	pathf(f, img, "a.img");
	make_file(img, 1 << 20);
	/* Domain 6 is the stub domain of domain 5: one VM, sharing allowed. */
	two_vms(f);
	wr(f->h, "/local/domain/6", "target", "5");
	write_be(f->h, be1, sizeof(be1), 5, img, "w");
	write_be(f->h, be2, sizeof(be2), 6, img, "w");
	assert_int_equal(add(f->h, be1, &err), 0);
	assert_int_equal(add(f->h, be2, &err), 0);
	assert_int_equal(rem(f->h, be2), 0);

	/* Domain 7 is another VM. */
	wr(f->h, "/local/domain/7", "vm", "/vm/00000000-0000-0000-0000-000000000007");
	write_be(f->h, be3, sizeof(be3), 7, img, "w");
	assert_int_equal(add(f->h, be3, &err), -EBUSY);
	/* Domain 5's backend vanishes without REMOVE: its entry is stale. */
	assert_true(xs_rm(f->h, XBT_NULL, "/local/domain/0/backend/vbd/5"));
	assert_int_equal(add(f->h, be3, &err), 0);
	assert_int_equal(rem(f->h, be3), 0);
	/* Domain 5's loop device is still attached: the teardown frees it. */
	assert_loops(img, 1);
}

/* No entry left anywhere in the sharing index (an empty key directory is
 * dropped with its last entry). */
static void assert_index_clean(struct fx *f, const char *when)
{
	unsigned n = 0, i, k;
	char **keys = xs_directory(f->h, XBT_NULL, "/libvbd/sharing", &n);

	for (i = 0; keys && i < n; i++) {
		char p[256], **ents;

		snprintf(p, sizeof(p), "/libvbd/sharing/%s", keys[i]);
		ents = xs_directory(f->h, XBT_NULL, p, &k);
		fail_msg("%s: %s left in the index (%u entries%s%s)", when, p, ents ? k : 0,
		         ents && k ? ", first " : "", ents && k ? ents[0] : "");
	}
	free(keys);
}

/* The bound loop device a connected backend uses. */
static unsigned be_loop(struct fx *f, const char *be)
{
	char *node = vbd_test_xs_readf(f->h, "%s/node", be);
	unsigned n;

	assert_non_null(node);
	assert_int_equal(sscanf(node, "/dev/loop%u", &n), 1);
	free(node);
	return n;
}

/* One VM is the same vm path (a domain and the one it is being migrated or
 * restored into), or one domain the other's stub domain, either way round;
 * a domain without a vm path, or with an empty one, is nobody's twin. */
static void test_sharing_same_vm_rules(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *vm5, *vm6, *target5, *target6;
		bool shared;
	} cases[] = {
		{ "/vm/a", "/vm/a", NULL, NULL, true },
		{ "/vm/a", "/vm/b", NULL, NULL, false },
		{ NULL, NULL, NULL, NULL, false },
		{ "", "", NULL, NULL, false },
		{ "/vm/a", "/vm/b", "6", NULL, true },
		{ "/vm/a", "/vm/b", NULL, "5", true },
		{ "/vm/a", "/vm/b", "7", NULL, false },
		{ "/vm/a", "/vm/b", "x6", NULL, false },
	};
	char img[PATH_MAX], be5[128], be6[128];
	vbd_errbuf err;
	size_t i;

	pathf(f, img, "a.img");
	make_file(img, 1 << 20);
	wr(f->h, "/local/domain/7", "vm", "/vm/c");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		xs_rm(f->h, XBT_NULL, "/local/domain/5");
		xs_rm(f->h, XBT_NULL, "/local/domain/6");
		if (cases[i].vm5)
			wr(f->h, "/local/domain/5", "vm", cases[i].vm5);
		if (cases[i].vm6)
			wr(f->h, "/local/domain/6", "vm", cases[i].vm6);
		if (cases[i].target5)
			wr(f->h, "/local/domain/5", "target", cases[i].target5);
		if (cases[i].target6)
			wr(f->h, "/local/domain/6", "target", cases[i].target6);
		write_be(f->h, be5, sizeof(be5), 5, img, "w");
		write_be(f->h, be6, sizeof(be6), 6, img, "w");
		assert_int_equal(add(f->h, be5, &err), 0);
		r = add(f->h, be6, &err);
		if (r != (cases[i].shared ? 0 : -EBUSY))
			fail_msg("case %zu: second writer got %d (%s), want %s", i, r, err.msg,
			         cases[i].shared ? "shared" : "EBUSY");
		if (r == 0)
			assert_int_equal(rem(f->h, be6), 0);
		assert_int_equal(rem(f->h, be5), 0);
		assert_index_clean(f, "same-vm case");
	}
	assert_loops(img, 0);
}

/*
 * Each way an index entry outlives what it stood for: a later attach of
 * the (unused) file by another VM succeeds, and once the devices are
 * removed nothing is left in the index.
 *   1. the backend dir removed without REMOVE;
 *   2. the backend path reused for another file (REMOVE never ran): the
 *      record now names the new file, so the old key's entry is dropped;
 *   3. the record gone (REMOVE then cannot know the key);
 *   4. a crash between REMOVE's two writes: the loop device freed, the
 *      index entry and the backend's physical-device still there.
 */
static void test_sharing_index_stale(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], img2[PATH_MAX], be5[128], be7[128], idx[256];
	vbd_errbuf err;

	two_vms(f);
	wr(f->h, "/local/domain/7", "vm", "/vm/00000000-0000-0000-0000-000000000007");
	pathf(f, img, "a.img");
	pathf(f, img2, "b.img");
	make_file(img, 1 << 20);
	make_file(img2, 1 << 20);

	/* 1. */
	write_be(f->h, be5, sizeof(be5), 5, img, "w");
	assert_int_equal(add(f->h, be5, &err), 0);
	detach_loop(be_loop(f, be5));
	assert_true(xs_rm(f->h, XBT_NULL, "/local/domain/0/backend/vbd/5"));
	write_be(f->h, be7, sizeof(be7), 7, img, "w");
	if (add(f->h, be7, &err) != 0)
		fail_msg("backend dir gone: %s", err.msg);
	assert_int_equal(rem(f->h, be7), 0);
	assert_index_clean(f, "backend dir gone");

	/* 2. */
	write_be(f->h, be5, sizeof(be5), 5, img, "w");
	assert_int_equal(add(f->h, be5, &err), 0);
	detach_loop(be_loop(f, be5));
	assert_true(xs_rm(f->h, XBT_NULL, "/local/domain/0/backend/vbd/5"));
	write_be(f->h, be5, sizeof(be5), 5, img2, "w");
	if (add(f->h, be5, &err) != 0)
		fail_msg("backend path reused: %s", err.msg);
	index_path(idx, sizeof(idx), img, NULL);
	assert_node(f->h, idx, NULL);
	if (add(f->h, be7, &err) != 0)
		fail_msg("backend path reused, then the old file: %s", err.msg);
	assert_int_equal(rem(f->h, be7), 0);
	assert_int_equal(rem(f->h, be5), 0);
	assert_index_clean(f, "backend path reused");
	assert_loops(img, 0);
	assert_loops(img2, 0);

	/* 3. */
	write_be(f->h, be5, sizeof(be5), 5, img, "w");
	assert_int_equal(add(f->h, be5, &err), 0);
	detach_loop(be_loop(f, be5));
	assert_true(xs_rm(f->h, XBT_NULL, "/libvbd/backend/0-5-51712"));
	assert_int_equal(rem(f->h, be5), 0);
	if (add(f->h, be7, &err) != 0)
		fail_msg("record gone: %s", err.msg);
	assert_int_equal(rem(f->h, be7), 0);
	assert_index_clean(f, "record gone");

	/* 4. */
	write_be(f->h, be5, sizeof(be5), 5, img, "w");
	assert_int_equal(add(f->h, be5, &err), 0);
	detach_loop(be_loop(f, be5));
	assert_loops(img, 0);
	if (add(f->h, be7, &err) != 0)
		fail_msg("loop device freed, REMOVE unfinished: %s", err.msg);
	/* The user's recovery: REMOVE again. */
	assert_int_equal(rem(f->h, be5), 0);
	assert_int_equal(rem(f->h, be7), 0);
	assert_index_clean(f, "crash between REMOVE's writes");
	assert_loops(img, 0);

	/* A live entry still counts, its loop device bound. */
	write_be(f->h, be5, sizeof(be5), 5, img, "w");
	assert_int_equal(add(f->h, be5, &err), 0);
	assert_int_equal(add(f->h, be7, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "domain 5"));
	assert_int_equal(rem(f->h, be5), 0);
	assert_index_clean(f, "live entry removed");
}

static void test_mounted_block_device(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], mnt[PATH_MAX], be[128], dev[32];
	vbd_errbuf err;
	unsigned n;

	pathf(f, img, "fs.img");
	pathf(f, mnt, "mnt");
	make_file(img, 8 << 20);
	assert_int_equal(run("mkfs.ext4 -q -F '%s' >/dev/null 2>&1", img), 0);
	assert_int_equal(mkdir(mnt, 0755), 0);
	n = test_loop(img, false);
	snprintf(dev, sizeof(dev), "/dev/loop%u", n);
	do_mount(f, dev, mnt, "ext4", 0);

	write_be(f->h, be, sizeof(be), 5, dev, "w");
	assert_int_equal(add(f->h, be, &err), -EBUSY);
	assert_non_null(strstr(err.msg, mnt));
	assert_leaf(f->h, be, "hotplug-status", "busy");
	/* Mounted read-write: not even read-only. */
	write_be(f->h, be, sizeof(be), 6, dev, "r");
	assert_int_equal(add(f->h, be, &err), -EBUSY);

	/* The image file itself is mounted through that loop device. */
	write_be(f->h, be, sizeof(be), 7, img, "w");
	assert_int_equal(add(f->h, be, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "loop device"));
	assert_loops(img, 1);

	/* Mounted read-only: readers are fine, writers are not. */
	assert_int_equal(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
	write_be(f->h, be, sizeof(be), 8, dev, "r");
	assert_int_equal(add(f->h, be, &err), 0);
	assert_int_equal(rem(f->h, be), 0);
	write_be(f->h, be, sizeof(be), 9, dev, "w");
	assert_int_equal(add(f->h, be, &err), -EBUSY);
}

struct racer {
	struct xs_handle *h;
	pthread_barrier_t *go;
	char be[128];
	int r;
	vbd_errbuf err;
};

static void *race(void *arg)
{
	struct racer *c = arg;

	pthread_barrier_wait(c->go);
	c->r = vbd_hotplug_builtin(c->h, c->be, VBD_HOTPLUG_ADD, &c->err);
	return NULL;
}

static void test_concurrent_w(void **state)
{
	struct fx *f = *state;
	struct racer c[NTHREADS];
	pthread_t th[NTHREADS];
	pthread_barrier_t go;
	char img[PATH_MAX];
	unsigned i, wins = 0, busy = 0, winner = 0;

	pathf(f, img, "a.img");
	make_file(img, 1 << 20);
	assert_int_equal(pthread_barrier_init(&go, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++) {
		char vm[64];

		snprintf(vm, sizeof(vm), "/local/domain/%u", 10 + i);
		wr(f->h, vm, "vm", vm); /* a distinct VM each */
		memset(&c[i], 0, sizeof(c[i]));
		c[i].h = vbd_test_xs_open(&f->t, 0);
		assert_non_null(c[i].h);
		c[i].go = &go;
		write_be(f->h, c[i].be, sizeof(c[i].be), 10 + i, img, "w");
	}
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race, &c[i]), 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < NTHREADS; i++) {
		if (c[i].r == 0) {
			wins++;
			winner = i;
		} else if (c[i].r == -EBUSY) {
			busy++;
			assert_leaf(f->h, c[i].be, "hotplug-status", "busy");
			assert_leaf(f->h, c[i].be, "physical-device", NULL);
		} else {
			print_error("thread %u: %d %s\n", i, c[i].r, c[i].err.msg);
		}
	}
	assert_int_equal(wins, 1);
	assert_int_equal(busy, NTHREADS - 1);
	assert_loops(img, 1);
	assert_loop_backend(f->h, c[winner].be, img, false);
	assert_int_equal(rem(f->h, c[winner].be), 0);
	assert_loops(img, 0);
	for (i = 0; i < NTHREADS; i++)
		xs_close(c[i].h);
	pthread_barrier_destroy(&go);
}

/* The fallback for kernels without LOOP_CONFIGURE. */
static void test_loop_legacy(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], back[PATH_MAX];
	vbd_errbuf err = { "" };
	unsigned n;
	int ffd, lfd;
	bool ro;

	pathf(f, img, "a.img");
	make_file(img, 1 << 20);
	for (int i = 0; i < 2; i++) {
		ffd = open(img, (i ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		assert_true(ffd >= 0);
		assert_int_equal(vbd__loop_attach(ffd, i, img, NULL, VBD__LOOP_LEGACY, &lfd, &n, &err), 0);
		close(ffd);
		loop_info(n, back, sizeof(back), &ro);
		assert_string_equal(back, img);
		assert_int_equal(ro, i == 1);
		assert_int_equal(ioctl(lfd, LOOP_CLR_FD), 0);
		close(lfd);
	}
	assert_loops(img, 0);
}

/* Orphan loop devices: a tagged device whose record went (a store that
 * lost it) is listed with its entry and backing file, through a context on
 * the same store; a recorded one, a plain one (losetup's path in
 * lo_file_name), one tagged for another store are not; REMOVE, what
 * detach --force runs, frees it.  A crafted tag with this store's prefix
 * is listed as it is, naming no device, and is never made into a path. */
static size_t orphans(vbd_ctx *c, vbd_loop_orphan *v, size_t max)
{
	size_t n = 12345;

	if (max)
		v[0].size = sizeof(*v);
	assert_int_equal(vbd_loop_orphan_list(c, v, max, &n), 0);
	return n;
}

static void test_orphan_loops(void **state)
{
	struct fx *f = *state;
	vbd_ctx_options o = VBD_CTX_OPTIONS_INIT;
	char img[PATH_MAX], img2[PATH_MAX], be[256], tag[LO_NAME_SIZE], *node, *json = NULL;
	vbd_loop_orphan v[4], small;
	vbd_errbuf err = { "" };
	vbd_ctx *c = NULL;
	unsigned n2, n3;
	int ffd, l2, l3, k;
	size_t n;

	pathf(f, img, "a.img");
	pathf(f, img2, "b.img");
	make_file(img, 1 << 20);
	make_file(img2, 1 << 20);
	o.xenstored_path = f->t.socket;
	assert_int_equal(vbd_ctx_new(&c, &o, NULL), 0);
	/* Recorded: the device's own. */
	write_be(f->h, be, sizeof(be), 5, img, "w");
	assert_int_equal(add(f->h, be, &err), 0);
	node = vbd_test_xs_readf(f->h, "%s/node", be);
	assert_non_null(node);
	assert_int_equal(orphans(c, v, 4), 0);
	/* The record lost: an orphan. */
	assert_true(xs_rm(f->h, XBT_NULL, "/libvbd/backend/0-5-51712"));
	memset(v, 0x55, sizeof(v));
	assert_int_equal(orphans(c, v, 4), 1);
	assert_int_equal(v[0].size, sizeof(v[0]));
	assert_string_equal(v[0].device, node);
	assert_string_equal(v[0].entry, "0-5-51712");
	assert_true(v[0].has_dev);
	assert_int_equal(v[0].backend_domid, 0);
	assert_int_equal(v[0].domid, 5);
	assert_int_equal(v[0].devid, 51712);
	assert_string_equal(v[0].backing_file, img);
	/* Counting only; a short struct gets nothing past its size. */
	assert_int_equal(orphans(c, NULL, 0), 1);
	memset(&small, 0x55, sizeof(small));
	small.size = offsetof(vbd_loop_orphan, backing_file);
	assert_int_equal(vbd_loop_orphan_list(c, &small, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(small.size, offsetof(vbd_loop_orphan, backing_file));
	assert_string_equal(small.device, node);
	assert_int_equal((unsigned char)small.backing_file[0], 0x55);
	/* Someone else's (losetup's path in lo_file_name), and one tagged for
	 * another store: never listed. */
	ffd = open(img2, O_RDWR | O_CLOEXEC);
	assert_true(ffd >= 0);
	assert_int_equal(vbd__loop_attach(ffd, false, img2, NULL, 0, &l2, &n2, &err), 0);
	vbd__loop_tag(tag, sizeof(tag), "/elsewhere/socket", "0-5-51712");
	assert_int_equal(vbd__loop_attach(ffd, false, img2, tag, 0, &l3, &n3, &err), 0);
	assert_int_equal(orphans(c, v, 4), 1);
	close(l3);
	/* A crafted tag with this store's prefix: listed as it is, no device,
	 * and its escapes stay escaped in JSON. */
	vbd__loop_tag(tag, sizeof(tag), f->t.socket, "0-5-1/../\x1b[31m\xff");
	assert_int_equal(ioctl(l2, LOOP_CLR_FD), 0);
	close(l2);
	assert_int_equal(vbd__loop_attach(ffd, false, img2, tag, 0, &l2, &n2, &err), 0);
	close(ffd);
	assert_int_equal(orphans(c, v, 4), 2);
	/* Listed by device number, which other users of loop devices decide. */
	k = v[0].has_dev ? 1 : 0;
	assert_string_equal(v[k].entry, "0-5-1/../\x1b[31m\xff");
	assert_false(v[k].has_dev);
	assert_true(v[1 - k].has_dev);
	assert_int_equal(vbd_status_json(NULL, 0, v, 2, false, &json), 0);
	assert_non_null(strstr(json, "\"orphan_loop\":{\"device\":\"/dev/loop"));
	assert_non_null(strstr(json, "\"tag_entry\":\"0-5-1/../\\u001B[31m\xef\xbf\xbd\""));
	assert_non_null(strstr(json, "\"domid\":5,\"devid\":51712,\"vdev\":\"xvda\""));
	assert_non_null(strstr(json, "\"domid\":null,\"devid\":null,\"vdev\":null"));
	free(json);
	assert_int_equal(vbd_status_json(NULL, 0, NULL, 0, false, &json), 0);
	assert_string_equal(json, "[]");
	free(json);
	small.size = 8;
	assert_int_equal(vbd_status_json(NULL, 0, &small, 1, false, &json), -EINVAL);
	/* REMOVE of that backend (detach --force) frees its tagged device. */
	assert_int_equal(rem(f->h, be), 0);
	assert_int_equal(orphans(c, v, 4), 1);
	assert_false(v[0].has_dev);
	assert_int_equal(ioctl(l2, LOOP_CLR_FD), 0);
	close(l2);
	assert_int_equal(orphans(c, v, 4), 0);
	assert_int_equal(vbd_loop_orphan_list(c, NULL, 1, &n), -EINVAL);
	assert_int_equal(vbd_loop_orphan_list(NULL, NULL, 0, &n), -EINVAL);
	assert_int_equal(vbd_loop_orphan_list(c, NULL, 0, NULL), -EINVAL);
	free(node);
	vbd_ctx_free(c);
}

static void test_bad_args(void **state)
{
	struct fx *f = *state;
	vbd_errbuf err;

	assert_int_equal(vbd_hotplug_builtin(NULL, "backend/vbd/1/2", VBD_HOTPLUG_ADD, &err), -EINVAL);
	assert_int_equal(vbd_hotplug_builtin(f->h, NULL, VBD_HOTPLUG_ADD, &err), -EINVAL);
	assert_int_equal(vbd_hotplug_builtin(f->h, "", VBD_HOTPLUG_ADD, &err), -EINVAL);
	assert_int_equal(vbd_hotplug_builtin(f->h, "x", (vbd_hotplug_action)7, NULL), -EINVAL);
	/* Remove of a backend that never was. */
	assert_int_equal(rem(f->h, "/local/domain/0/backend/vbd/3/51712"), 0);
	assert_node(f->h, "/local/domain/0/backend/vbd/3", NULL);
}

/* The trust rule, in the step itself: dom0 refuses a driver domain's
 * backend (that domain runs its own step), a driver domain keeps its
 * records in its own home, and REMOVE goes by the record, not by what the
 * backend dir says when it is rewritten. */
static void test_driver_domain_records(void **state)
{
	struct fx *f = *state;
	struct xs_permissions home[2] = { { 0, XS_PERM_NONE }, { 5, XS_PERM_READ } };
	struct xs_permissions own[1] = { { 5, XS_PERM_NONE } };
	char img[PATH_MAX], other[PATH_MAX], be[128], be6[128], *node6;
	const char *dbe = "/local/domain/5/backend/vbd/7/51712";
	struct xs_handle *dd;
	vbd_errbuf err;
	unsigned n;

	pathf(f, img, "dd.img");
	pathf(f, other, "dom0.img");
	make_file(img, 1 << 20);
	make_file(other, 1 << 20);
	assert_true(xs_introduce_domain(f->h, 5, 0, 0));
	assert_true(xs_mkdir(f->h, XBT_NULL, "/local/domain/5"));
	assert_true(xs_set_permissions(f->h, XBT_NULL, "/local/domain/5", home, 2));
	wr(f->h, "/local/domain/5", "domid", "5");
	assert_true(xs_mkdir(f->h, XBT_NULL, "/local/domain/5/data"));
	assert_true(xs_set_permissions(f->h, XBT_NULL, "/local/domain/5/data", own, 1));
	/* dom0's own device on other.img. */
	write_be(f->h, be6, sizeof(be6), 6, other, "w");
	assert_int_equal(add(f->h, be6, &err), 0);
	node6 = vbd_test_xs_readf(f->h, "%s/node", be6);
	assert_non_null(node6);

	/* Domain 5's backend, as libxl writes it (owned by domain 5). */
	snprintf(be, sizeof(be), "%s", dbe);
	wr(f->h, be, "params", img);
	wr(f->h, be, "mode", "w");
	{
		struct xs_permissions bp[2] = { { 5, XS_PERM_NONE }, { 7, XS_PERM_READ } };
		assert_true(xs_set_permissions(f->h, XBT_NULL, be, bp, 2));
		assert_true(xs_set_permissions(f->h, XBT_NULL, "/local/domain/5/backend/vbd/7/51712/params", bp, 2));
		assert_true(xs_set_permissions(f->h, XBT_NULL, "/local/domain/5/backend/vbd/7/51712/mode", bp, 2));
	}
	/* Not dom0's to run. */
	assert_int_equal(add(f->h, be, &err), -EPERM);
	assert_non_null(strstr(err.msg, "domain 5"));
	assert_loops(img, 0);
	assert_leaf(f->h, be, "physical-device", NULL);

	/* Domain 5 runs it, with its records in its own home. */
	dd = vbd_test_xs_open(&f->t, 5);
	assert_non_null(dd);
	assert_int_equal(add(dd, "backend/vbd/7/51712", &err), 0);
	n = assert_loop_backend(f->h, be, img, false);
	(void)n;
	{
		char *k = vbd_test_xs_readf(f->h, "/local/domain/5/data/libvbd/backend/5-7-51712/key");
		char idx[256];

		assert_non_null(k);
		snprintf(idx, sizeof(idx), "/local/domain/5/data/libvbd/sharing/%s/5-7-51712", k);
		assert_node(f->h, idx, "w");
		free(k);
	}
	assert_node(f->h, "/libvbd/backend/5-7-51712/key", NULL);

	/* Its backend dir rewritten to name dom0's loop device and file:
	 * REMOVE frees what the record names, and nothing else. */
	wr(dd, be, "node", node6);
	wr(dd, be, "params", other);
	assert_int_equal(rem(dd, "backend/vbd/7/51712"), 0);
	assert_loops(img, 0);
	assert_loops(other, 1);
	assert_node(f->h, "/local/domain/5/data/libvbd/backend/5-7-51712", NULL);
	/* And dom0's own remove goes by dom0's record in the same way. */
	wr(f->h, be6, "node", "/dev/loop-nothing");
	wr(f->h, be6, "params", img);
	assert_int_equal(rem(f->h, be6), 0);
	assert_loops(other, 0);
	xs_close(dd);
	free(node6);
}

/* ADD run by the toolstack that just wrote the backend dir
 * (vbd__hp_known): params and mode are the toolstack's, not read back;
 * what another dom0 process may have done since (the dir taken offline or
 * removed) is still read, in the transaction, and sets nothing up. */
static void test_known_add(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], be[128];
	vbd_errbuf err = { "" };
	vbd__hp_known k = { .self = 0, .mode = "w", .fresh = true };

	pathf(f, img, "a.img");
	make_file(img, 1 << 20);
	k.params = img;
	/* What the store says of params is not what the step goes by. */
	write_be(f->h, be, sizeof(be), 5, "/nonexistent", "r");
	assert_int_equal(vbd__hotplug_run(f->h, f->t.socket, be, VBD_HOTPLUG_ADD, &k, &err), 0);
	assert_loop_backend(f->h, be, img, false);
	assert_int_equal(rem(f->h, be), 0);
	assert_loops(img, 0);
	assert_true(xs_rm(f->h, XBT_NULL, be));
	/* Taken offline (a detach) before the step ran: nothing set up. */
	write_be(f->h, be, sizeof(be), 5, img, "w");
	wr(f->h, be, "online", "0");
	assert_int_equal(vbd__hotplug_run(f->h, f->t.socket, be, VBD_HOTPLUG_ADD, &k, &err), 0);
	assert_loops(img, 0);
	assert_leaf(f->h, be, "physical-device", NULL);
	assert_leaf(f->h, be, "hotplug-status", NULL);
	assert_node(f->h, "/libvbd/backend/0-5-51712", NULL);
	/* Removed (a forced detach): an error, and the dir is not made again. */
	assert_true(xs_rm(f->h, XBT_NULL, be));
	assert_int_equal(vbd__hotplug_run(f->h, f->t.socket, be, VBD_HOTPLUG_ADD, &k, &err),
	                 -ENOENT);
	assert_non_null(strstr(err.msg, "removed"));
	assert_loops(img, 0);
	assert_node(f->h, be, NULL);
	assert_node(f->h, "/libvbd/backend/0-5-51712", NULL);
}

/* An ADD after the toolstack took the backend offline (a late uevent, a
 * second runner after REMOVE) sets nothing up: nobody would free it. */
static void test_offline_add(void **state)
{
	struct fx *f = *state;
	char img[PATH_MAX], be[128];
	vbd_errbuf err;

	pathf(f, img, "a.img");
	make_file(img, 1 << 20);
	write_be(f->h, be, sizeof(be), 5, img, "w");
	wr(f->h, be, "online", "0");
	assert_int_equal(add(f->h, be, &err), 0);
	assert_int_equal(loops_of(img), 0);
	assert_leaf(f->h, be, "physical-device", NULL);
	assert_leaf(f->h, be, "hotplug-status", NULL);
	assert_node(f->h, "/libvbd/backend/0-5-51712", NULL);
	/* Online again (attached anew): a real add. */
	wr(f->h, be, "online", "1");
	assert_int_equal(add(f->h, be, &err), 0);
	assert_loop_backend(f->h, be, img, false);
	/* Offline with physical-device there: status left as it is. */
	wr(f->h, be, "online", "0");
	assert_true(xs_rm(f->h, XBT_NULL, "/local/domain/0/backend/vbd/5/51712/hotplug-status"));
	assert_int_equal(add(f->h, be, &err), 0);
	assert_leaf(f->h, be, "hotplug-status", NULL);
	assert_int_equal(rem(f->h, be), 0);
	assert_int_equal(loops_of(img), 0);
}

/* An empty CD-ROM drive has nothing to set up; an empty disk is an error. */
static void test_empty_cdrom(void **state)
{
	struct fx *f = *state;
	char be[128];
	vbd_errbuf err;

	write_be(f->h, be, sizeof(be), 5, "", "r");
	wr(f->h, be, "device-type", "cdrom");
	assert_int_equal(add(f->h, be, &err), 0);
	assert_leaf(f->h, be, "physical-device", NULL);
	assert_leaf(f->h, be, "hotplug-status", NULL);
	assert_leaf(f->h, be, "hotplug-error", NULL);
	assert_node(f->h, "/libvbd/backend/0-5-51712", NULL);
	assert_int_equal(rem(f->h, be), 0);
	wr(f->h, be, "device-type", "disk");
	assert_int_equal(add(f->h, be, &err), -EINVAL);
	assert_leaf(f->h, be, "hotplug-status", "error");
}

static int udev_check(struct xs_handle *h, const char *be, vbd_hotplug_action a, vbd_errbuf *err)
{
	memset(err, 0, sizeof(*err));
	return vbd_hotplug_udev_check(h, be, a, err);
}

/* What 90-vbd.rules decides through vbdctl hotplug --udev. */
static void test_udev_check(void **state)
{
	struct fx *f = *state;
	const char *copy = "/libxl/5/device/vbd/51712";
	char img[PATH_MAX], be[128];
	vbd_errbuf err;

	pathf(f, img, "a.img");
	make_file(img, 1 << 20);
	write_be(f->h, be, sizeof(be), 5, img, "w");

	/* No script anywhere: not ours. */
	assert_int_equal(udev_check(f->h, be, VBD_HOTPLUG_ADD, &err), 0);
	assert_non_null(strstr(err.msg, "has no script"));
	/* Another script in the backend dir, no toolstack copy. */
	wr(f->h, be, "script", "/etc/xen/scripts/block-drbd");
	assert_int_equal(udev_check(f->h, be, VBD_HOTPLUG_ADD, &err), 0);
	assert_non_null(strstr(err.msg, "block-drbd, not vbd-block"));
	wr(f->h, be, "script", "/etc/xen/scripts/vbd-block");
	assert_int_equal(udev_check(f->h, be, VBD_HOTPLUG_ADD, &err), 1);
	assert_string_equal(err.msg, "");
	/* The toolstack's copy is what dom0 believes. */
	wr(f->h, copy, "script", "/etc/xen/scripts/block");
	assert_int_equal(udev_check(f->h, be, VBD_HOTPLUG_ADD, &err), 0);
	assert_non_null(strstr(err.msg, "/libxl/5/device/vbd/51712/script is "
	                                "/etc/xen/scripts/block, not vbd-block"));
	wr(f->h, copy, "script", "vbd-block");
	wr(f->h, be, "script", "/etc/xen/scripts/block");
	assert_int_equal(udev_check(f->h, "backend/vbd/5/51712", VBD_HOTPLUG_ADD, &err), 1);
	/* libxl/disable_udev: the toolstack runs the scripts, whatever they are. */
	wr(f->h, "/local/domain/0/libxl", "disable_udev", "1");
	assert_int_equal(udev_check(f->h, be, VBD_HOTPLUG_ADD, &err), 0);
	assert_non_null(strstr(err.msg, "disable_udev is set"));
	assert_int_equal(udev_check(f->h, be, VBD_HOTPLUG_REMOVE, &err), 0);
	assert_true(xs_rm(f->h, XBT_NULL, "/local/domain/0/libxl/disable_udev"));

	/* REMOVE: only what this domain's step set up, and not once the
	 * device is online again. */
	assert_int_equal(udev_check(f->h, be, VBD_HOTPLUG_REMOVE, &err), 0);
	assert_non_null(strstr(err.msg, "no record"));
	assert_int_equal(add(f->h, be, &err), 0);
	assert_int_equal(udev_check(f->h, be, VBD_HOTPLUG_REMOVE, &err), 0);
	assert_non_null(strstr(err.msg, "is online"));
	wr(f->h, be, "online", "0");
	assert_int_equal(udev_check(f->h, be, VBD_HOTPLUG_REMOVE, &err), 1);
	assert_true(xs_rm(f->h, XBT_NULL, be));
	assert_int_equal(udev_check(f->h, be, VBD_HOTPLUG_REMOVE, &err), 1);
	assert_int_equal(rem(f->h, be), 0);
	assert_int_equal(loops_of(img), 0);
	assert_int_equal(udev_check(f->h, be, VBD_HOTPLUG_REMOVE, &err), 0);

	/* Another domain's backend, bad arguments. */
	assert_int_equal(udev_check(f->h, "/local/domain/3/backend/vbd/5/51712",
	                            VBD_HOTPLUG_ADD, &err), -EPERM);
	assert_int_equal(vbd_hotplug_udev_check(NULL, be, VBD_HOTPLUG_ADD, &err), -EINVAL);
	assert_int_equal(vbd_hotplug_udev_check(f->h, be, (vbd_hotplug_action)7, NULL), -EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_file_rw),
		T(test_vbd3),
		T(test_file_ro),
		T(test_remove_while_open_elsewhere),
		T(test_block_device),
		T(test_idempotent_add),
		T(test_relative_path),
		T(test_missing),
		T(test_readonly),
		T(test_sharing_file),
		T(test_sharing_loop_and_file),
		T(test_sharing_same_vm_and_stale),
		T(test_sharing_index_stale),
		T(test_sharing_same_vm_rules),
		T(test_mounted_block_device),
		T(test_concurrent_w),
		T(test_loop_legacy),
		T(test_orphan_loops),
		T(test_bad_args),
		T(test_driver_domain_records),
		T(test_offline_add),
		T(test_known_add),
		T(test_udev_check),
		T(test_empty_cdrom),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_hotplug: needs root (loop devices, mounts)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
