/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loop devices: attach a file, free one, and tell what a loop device is
 * bound to.  A loop device and its backing file are one object to the
 * sharing check: /dev/loop3 bound to inode 1234 of st_dev 2051 has the key
 * of that file, f-2051-1234, not b-7-3.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/major.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "toolstack/hotplug/hotplug_internal.h"

/* Frees a loop device we attached; one already free is fine.  A device
 * still open elsewhere is freed on its last close (the kernel turns on
 * autoclear). */
int vbd__loop_detach(int lfd)
{
	if (ioctl(lfd, LOOP_CLR_FD) < 0 && errno != ENXIO)
		return -errno;
	return 0;
}

static int loop_configure(int lfd, int file_fd, bool ro, const char *name, const char *tag,
                          unsigned flags)
{
	struct loop_config cfg;
	struct loop_info64 info;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (uint32_t)file_fd;
	cfg.info.lo_flags = ro ? LO_FLAGS_READ_ONLY : 0;
	/* The name is for show only (the backing file's path is in sysfs,
	 * whole): a tag takes its place, as the one field the kernel keeps
	 * and gives back that nothing reads (it drops lo_crypt_name now).
	 * losetup writes an absolute path there, never "libvbd ...". */
	snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s",
	         tag ? tag : name);
	if (!(flags & VBD__LOOP_LEGACY)) {
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
			return 0;
		/* Kernels before 5.8 know no LOOP_CONFIGURE: ENOTTY, or EINVAL
		 * from the loop driver's default case. */
		if (errno != ENOTTY && errno != EINVAL)
			return -errno;
	}
	/* The read-only flag follows the file's open mode here. */
	if (ioctl(lfd, LOOP_SET_FD, file_fd) < 0)
		return -errno;
	info = cfg.info;
	info.lo_flags = 0;
	if (ioctl(lfd, LOOP_SET_STATUS64, &info) < 0) {
		int e = -errno;

		ioctl(lfd, LOOP_CLR_FD);
		return e;
	}
	return 0;
}

int vbd__loop_reserve(int *ret_fd, unsigned *ret_n, vbd_errbuf *err)
{
	char dev[32];
	int ctl, lfd, n, r;
	unsigned i;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return vbd__errf(err, -errno, "/dev/loop-control: %s", strerror(errno));
	for (i = 0; i < LOOP_TRIES; i++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			r = vbd__errf(err, -errno, "no free loop device: %s", strerror(errno));
			goto out;
		}
		snprintf(dev, sizeof(dev), "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd >= 0) {
			*ret_fd = lfd;
			*ret_n = (unsigned)n;
			r = 0;
			goto out;
		}
		/* Removed (LOOP_CTL_REMOVE) by someone else meanwhile. */
		if (errno != ENOENT && errno != ENXIO) {
			r = vbd__errf(err, -errno, "%s: %s", dev, strerror(errno));
			goto out;
		}
	}
	r = vbd__errf(err, -EBUSY, "no free loop device: each removed as it was found");
out:
	close(ctl);
	return r;
}

int vbd__loop_bind(int lfd, unsigned n, int file_fd, bool ro, const char *name, const char *tag,
                   unsigned flags, vbd_errbuf *err)
{
	int r = loop_configure(lfd, file_fd, ro, name, tag, flags);

	if (r == -EBUSY)
		return r;
	if (r < 0)
		return vbd__errf(err, r, "attach %s to /dev/loop%u: %s", name, n, strerror(-r));
	if (!ro) {
		int zero = 0;

		/* A read-only flag set on the device with BLKROSET (blockdev
		 * --setro) by an earlier user outlives LOOP_CLR_FD: a writable
		 * attach must clear it, or every write through the new device
		 * fails. */
		if (ioctl(lfd, BLKROSET, &zero) < 0) {
			r = vbd__errf(err, -errno, "/dev/loop%u: clear read-only flag: %s", n,
			              strerror(errno));
			vbd__loop_detach(lfd);
			return r;
		}
	}
	return 0;
}

int vbd__loop_attach(int file_fd, bool ro, const char *name, const char *tag, unsigned flags,
                     int *ret_fd, unsigned *ret_n, vbd_errbuf *err)
{
	unsigned i, n;
	int lfd, r;

	/* Another process may take the free device between GET_FREE and
	 * configuring it: that fails with EBUSY, and we ask again. */
	for (i = 0; i < LOOP_TRIES; i++) {
		if ((r = vbd__loop_reserve(&lfd, &n, err)) < 0)
			return r;
		r = vbd__loop_bind(lfd, n, file_fd, ro, name, tag, flags, err);
		if (r == 0) {
			*ret_fd = lfd;
			*ret_n = n;
			return 0;
		}
		close(lfd);
		if (r != -EBUSY)
			return r;
	}
	return vbd__errf(err, -EBUSY, "no loop device for %s: lost the race %u times", name, i);
}

/* Whether block device fd (rdev) is a loop device, or a partition of one,
 * bound to a file: then its st_dev and inode.  The file and the device are
 * one object to the sharing check, as the block script's losetup -a says. */
bool vbd__loop_file(int fd, dev_t rdev, uintmax_t *dev, uintmax_t *ino)
{
	struct loop_info64 info;
	char p[96];

	/* Only a loop device (a partition's loop/ is its parent's) is asked:
	 * the ioctl number means nothing to other drivers. */
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/loop", major(rdev), minor(rdev));
	if (major(rdev) != LOOP_MAJOR && access(p, F_OK) != 0) {
		snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/../loop", major(rdev), minor(rdev));
		if (access(p, F_OK) != 0)
			return false;
	}
	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
		return false;     /* ENXIO: not bound */
	*dev = (uintmax_t)info.lo_device;
	*ino = (uintmax_t)info.lo_inode;
	return true;
}

/* Opens and identifies the target; fills tg.  Checks access only. */

/* Whether loop device maj:min (or the loop device holding that partition)
 * is backed by the inode dev/ino. */
bool vbd__loop_backed_by(unsigned maj, unsigned min, dev_t dev, ino_t ino)
{
	char p[96], back[PATH_MAX + 16];
	struct stat st;
	size_t i, n;
	FILE *f;

	for (i = 0; i < 2; i++) {
		/* A partition's loop/ is its parent's. */
		snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/%sloop/backing_file", maj, min,
		         i ? "../" : "");
		f = fopen(p, "re");
		if (!f)
			continue;
		n = fread(back, 1, sizeof(back) - 1, f);
		fclose(f);
		while (n && back[n - 1] == '\n')
			n--;
		back[n] = 0;
		return stat(back, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
	}
	return false;
}


/* Opens node if it is a loop device bound to file ("st_dev:inode"): the fd
 * in *ret_fd, or -1 when it is not (unbound, bound to something else, not
 * a loop device, absent, or a record's file that does not parse). */
static int open_bound(const char *node, const char *file, int *ret_fd, vbd_errbuf *err)
{
	struct loop_info64 info;
	uintmax_t dev, ino;
	struct stat st;
	int lfd;

	*ret_fd = -1;
	if (sscanf(file, "%ju:%ju", &dev, &ino) != 2)
		return 0;
	if (stat(node, &st) < 0 || !S_ISBLK(st.st_mode) || major(st.st_rdev) != LOOP_MAJOR)
		return 0;
	lfd = open(node, O_RDONLY | O_CLOEXEC);
	if (lfd < 0)
		return errno == ENOENT || errno == ENXIO ? 0 :
		       vbd__errf(err, -errno, "%s: %s", node, strerror(errno));
	if (ioctl(lfd, LOOP_GET_STATUS64, &info) < 0) {
		int r = errno == ENXIO ? 0 : vbd__errf(err, -errno, "%s: LOOP_GET_STATUS64: %s",
		                                      node, strerror(errno));

		close(lfd);
		return r;
	}
	if ((uintmax_t)info.lo_device != dev || (uintmax_t)info.lo_inode != ino) {
		close(lfd);
		return 0;
	}
	*ret_fd = lfd;
	return 0;
}

int vbd__loop_bound(const char *node, const char *file, vbd_errbuf *err)
{
	int lfd, r = open_bound(node, file, &lfd, err);

	if (r < 0)
		return r;
	if (lfd < 0)
		return 0;
	close(lfd);
	return 1;
}

/* Frees the loop device the record names if it is still bound to the
 * file the record names (st_dev:inode).  Bound to anything else, it was
 * freed meanwhile and taken by another user: left alone. */
int vbd__loop_free_bound(const char *node, const char *file, vbd_errbuf *err)
{
	int lfd, r = open_bound(node, file, &lfd, err);

	if (r < 0 || lfd < 0)
		return r;
	r = vbd__loop_detach(lfd);
	if (r < 0)
		r = vbd__errf(err, r, "detach %s: %s", node, strerror(-r));
	close(lfd);
	return r;
}


/* FNV-1a, 64 bits: a short name for a long string in a tag. */
static uint64_t fnv64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

void vbd__loop_tag(char *tag, size_t size, const char *store, const char *entry)
{
	char prefix[LO_NAME_SIZE];
	int n;

	vbd__loop_tag_prefix(prefix, sizeof(prefix), store);
	n = snprintf(tag, size, "%s%s", prefix, entry);
	if (n < 0 || (size_t)n >= size)
		snprintf(tag, size, "%s#%016llx", prefix, (unsigned long long)fnv64(entry));
}

void vbd__loop_tag_prefix(char *prefix, size_t size, const char *store)
{
	snprintf(prefix, size, "libvbd %08llx ",
	         (unsigned long long)(fnv64(store ? store : "") & 0xffffffffull));
}

int vbd__loop_free_tagged(const char *tag, bool count_only, unsigned *freed, vbd_errbuf *err)
{
	struct loop_info64 info;
	struct dirent *e;
	char p[300];
	DIR *d;
	int r = 0;

	*freed = 0;
	d = opendir("/sys/block");
	if (!d)
		return errno == ENOENT ? 0 : vbd__errf(err, -errno, "/sys/block: %s", strerror(errno));
	while ((e = readdir(d))) {
		char *end;
		int lfd;

		if (strncmp(e->d_name, "loop", 4) || !e->d_name[4] ||
		    (strtoul(e->d_name + 4, &end, 10), *end))
			continue;
		/* Bound devices only: an unbound one has no status to ask. */
		snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", e->d_name);
		if (access(p, F_OK) != 0)
			continue;
		snprintf(p, sizeof(p), "/dev/%s", e->d_name);
		lfd = open(p, O_RDONLY | O_CLOEXEC);
		if (lfd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (ioctl(lfd, LOOP_GET_STATUS64, &info) == 0 &&
		    strncmp((const char *)info.lo_file_name, tag, sizeof(info.lo_file_name)) == 0) {
			int x = count_only ? 0 : vbd__loop_detach(lfd);

			if (x < 0 && r == 0)
				r = vbd__errf(err, x, "detach %s: %s", p, strerror(-x));
			else if (x == 0)
				(*freed)++;
		}
		close(lfd);
	}
	closedir(d);
	return r;
}
