/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The target a device is served from: a block device or a regular file.
 *
 * No O_DIRECT: requests go through the page cache.  The frontend's flushes
 * (feature-flush-cache, feature-barrier) become fdatasync(), so what it was
 * told is durable is durable; in between, the page cache acts as a disk's
 * volatile write cache.  Buffered I/O also works on every file system and
 * for any 512-byte-aligned request, where O_DIRECT would need the target's
 * logical block size and fails on tmpfs; and the benchmark that measures
 * the data path compares against plain pread/pwrite on the same file.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "blkback/blkback.h"

/* A small decimal from a sysfs file, or -1. */
static long long sysfs_num(unsigned maj, unsigned min, const char *rel)
{
	char path[128], buf[32];
	long long v;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s", maj, min, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	v = vbd__parse_num(buf);
	return v;
}

/* A partition has no queue/ of its own: its disk's is one level up. */
static long long queue_num(unsigned maj, unsigned min, const char *key)
{
	char rel[64];
	long long v;

	snprintf(rel, sizeof(rel), "queue/%s", key);
	v = sysfs_num(maj, min, rel);
	if (v < 0) {
		snprintf(rel, sizeof(rel), "../queue/%s", key);
		v = sysfs_num(maj, min, rel);
	}
	return v;
}

int vbd__bb_disk_open(struct vbd__bb_disk *d, const char *path, bool readonly, bool want_discard,
                      char *why, size_t whylen)
{
	struct stat st;
	int fd, r;

	fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "opening %s %s: %s", path, readonly ? "read-only" : "read-write",
		         strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(why, whylen, "stat %s: %s", path, strerror(errno));
		goto fail;
	}
	d->is_blk = S_ISBLK(st.st_mode);
	d->readonly = readonly;
	d->sector_size = d->physical_sector_size = 512;
	d->discard = false;
	d->discard_granularity = 0;
	if (d->is_blk) {
		uint64_t bytes;
		int ssz = 0;
		unsigned pssz = 0;

		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
			r = -errno;
			snprintf(why, whylen, "size of %s: %s", path, strerror(errno));
			goto fail;
		}
		d->sectors = bytes / 512;
		if (ioctl(fd, BLKSSZGET, &ssz) == 0 && ssz >= 512)
			d->sector_size = (unsigned)ssz;
		if (ioctl(fd, BLKPBSZGET, &pssz) == 0 && pssz >= 512)
			d->physical_sector_size = pssz;
		if (want_discard && queue_num(major(st.st_rdev), minor(st.st_rdev),
		                              "discard_max_bytes") > 0) {
			long long g = queue_num(major(st.st_rdev), minor(st.st_rdev),
			                        "discard_granularity");

			d->discard = true;
			d->discard_granularity = g > 0 && g <= (1 << 30) ? (unsigned)g : d->sector_size;
		}
	} else if (S_ISREG(st.st_mode)) {
		d->sectors = (uint64_t)st.st_size / 512;
		if (want_discard) {
			/* Hole punching is the file system's discard; a file system
			 * without it answers EOPNOTSUPP, passed on per request. */
			d->discard = true;
			d->discard_granularity = st.st_blksize >= 512 ? (unsigned)st.st_blksize : 512;
		}
	} else {
		r = -ENODEV;
		snprintf(why, whylen, "%s is neither a block device nor a regular file", path);
		goto fail;
	}
	d->fd = fd;
	snprintf(d->path, sizeof(d->path), "%s", path);
	return 0;
fail:
	close(fd);
	return r;
}

void vbd__bb_disk_close(struct vbd__bb_disk *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

int64_t vbd__bb_disk_sectors(const struct vbd__bb_disk *d)
{
	struct stat st;
	uint64_t bytes;

	if (d->fd < 0)
		return -EBADF;
	if (d->is_blk) {
		if (ioctl(d->fd, BLKGETSIZE64, &bytes) < 0)
			return -errno;
	} else {
		if (fstat(d->fd, &st) < 0)
			return -errno;
		bytes = (uint64_t)st.st_size;
	}
	return (int64_t)(bytes / 512);
}

int vbd__bb_disk_flush(const struct vbd__bb_disk *d)
{
	return fdatasync(d->fd) < 0 ? -errno : 0;
}

int vbd__bb_disk_discard(const struct vbd__bb_disk *d, uint64_t sector, uint64_t nr, bool secure)
{
	uint64_t range[2] = { sector * 512, nr * 512 };

	if (!nr)
		return 0;
	if (secure)
		return -EOPNOTSUPP;
	if (d->is_blk) {
		if (ioctl(d->fd, BLKDISCARD, range) < 0)
			return errno == ENOTTY || errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
		return 0;
	}
	if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)range[0],
	              (off_t)range[1]) < 0)
		return errno == ENOSYS ? -EOPNOTSUPP : -errno;
	return 0;
}
