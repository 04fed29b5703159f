/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The target a device is served from: a block device or a regular file.
 *
 * Buffered by default: requests go through the page cache.  The
 * frontend's flushes (feature-flush-cache, feature-barrier) become
 * fdatasync(), so what it was told is durable is durable; in between, the
 * page cache acts as a disk's volatile write cache.  Buffered I/O works on
 * every file system and for any 512-byte-aligned request.
 *
 * O_DIRECT when the toolstack says the target is safe for it (the backend
 * key direct-io-safe, libxl's disk option of that name, as QEMU's qdisk
 * reads it): a second descriptor of the same file (device and inode
 * checked) opened with O_DIRECT, beside the buffered one.  A request goes
 * to it when its offset, its length and every piece's length are
 * multiples of the target's O_DIRECT offset alignment and every piece's
 * address of its memory alignment (statx STATX_DIOALIGN; without it, a
 * block device's logical block size, a file's page size); the rest, a
 * guest's 512-byte sectors on a 4 KiB-sector device, go to the buffered
 * one, which the kernel keeps coherent with direct I/O (a direct read
 * writes back dirty cached pages of its range first, a direct write drops
 * them after):
 *
 *     4 KiB logical blocks; write sectors 8..15 from page offset 0:
 *       direct.  Write sectors 9..9 (first_sect 1): buffered, counted in
 *       direct_unaligned.
 *
 * A file system that refuses O_DIRECT (EINVAL at open, or statx saying
 * so) leaves the target buffered, logged and counted; so does an O_DIRECT
 * transfer that fails with EINVAL (the kernel's alignment rules are
 * stricter than it said) or EFAULT (memory direct I/O cannot pin): it is
 * done again buffered, and the target stays buffered from then on.
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

/* open(), without the access-time update of every read where the kernel
 * allows it (the file's owner, or CAP_FOWNER): a guest's reads are not
 * accesses anyone asks the image's atime about, and the check alone
 * (touch_atime) is a visible part of a 4 KiB read's cost. */
static int open_noatime(const char *path, int flags)
{
	int fd = open(path, flags | O_NOATIME);

	if (fd < 0 && errno == EPERM)
		fd = open(path, flags);
	return fd;
}

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

/* The target's O_DIRECT alignment (offset, memory) into d; false if the
 * file system says it has no O_DIRECT. */
static bool dio_align(struct vbd__bb_disk *d, int fd, bool is_blk)
{
	unsigned page = (unsigned)sysconf(_SC_PAGESIZE);
	struct statx sx;

#ifdef STATX_DIOALIGN
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN)) {
		if (!sx.stx_dio_offset_align)
			return false;
		d->dio_off_align = sx.stx_dio_offset_align;
		d->dio_mem_align = sx.stx_dio_mem_align ? sx.stx_dio_mem_align : 1;
		return true;
	}
#else
	(void)sx;
#endif
	d->dio_off_align = d->dio_mem_align = is_blk ? d->sector_size : page;
	return true;
}

/* A second descriptor of the target, O_DIRECT, into d->dfd; or the
 * reason there is none in why (d->dfd stays -1). */
static void open_direct(struct vbd__bb_disk *d, const char *path, const struct stat *st,
                        char *why, size_t whylen)
{
	struct stat dst;
	int fd;

	if (!dio_align(d, d->fd, d->is_blk)) {
		snprintf(why, whylen, "its file system has no O_DIRECT");
		return;
	}
	fd = open_noatime(path, (d->readonly ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(why, whylen, "O_DIRECT refused: %s", strerror(errno));
		return;
	}
	/* The path named another file by now: not this target's. */
	if (fstat(fd, &dst) < 0 || dst.st_dev != st->st_dev || dst.st_ino != st->st_ino ||
	    dst.st_rdev != st->st_rdev) {
		snprintf(why, whylen, "%s changed while it was opened", path);
		close(fd);
		return;
	}
	d->dfd = fd;
}

int vbd__bb_disk_open(struct vbd__bb_disk *d, const char *path, bool readonly, bool want_discard,
                      char *why, size_t whylen)
{
	struct stat st;
	int fd, r;

	d->dfd = -1;
	fd = open_noatime(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY);
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
	d->dfd = -1;
	d->direct_off = false;
	d->direct_why[0] = 0;
	if (d->direct_wanted)
		open_direct(d, path, &st, d->direct_why, sizeof(d->direct_why));
	snprintf(d->path, sizeof(d->path), "%s", path);
	return 0;
fail:
	close(fd);
	return r;
}

void vbd__bb_disk_close(struct vbd__bb_disk *d)
{
	/* dfd means something only while fd is open (a device's disk starts
	 * zeroed, fd -1). */
	if (d->fd >= 0) {
		close(d->fd);
		if (d->dfd >= 0)
			close(d->dfd);
	}
	d->fd = d->dfd = -1;
}

bool vbd__bb_disk_aligned(const struct vbd__bb_disk *d, const struct iovec *iov, unsigned cnt,
                          off_t off)
{
	uint64_t oa = d->dio_off_align, ma = d->dio_mem_align;

	if ((uint64_t)off % oa)
		return false;
	for (unsigned i = 0; i < cnt; i++)
		if (iov[i].iov_len % oa || (uintptr_t)iov[i].iov_base % ma)
			return false;
	return true;
}

int vbd__bb_disk_fd_for(const struct vbd__bb_disk *d, const struct iovec *iov, unsigned cnt,
                        off_t off, bool *ret_unaligned)
{
	*ret_unaligned = false;
	if (d->dfd < 0 || __atomic_load_n(&d->direct_off, __ATOMIC_RELAXED))
		return d->fd;
	if (vbd__bb_disk_aligned(d, iov, cnt, off))
		return d->dfd;
	*ret_unaligned = true;
	return d->fd;
}

bool vbd__bb_disk_direct_failed(struct vbd__bb_disk *d, int fd, int err, bool *ret_first)
{
	*ret_first = false;
	if (fd < 0 || fd != d->dfd || (err != -EINVAL && err != -EFAULT))
		return false;
	/* For the whole target: every ring sees it from its next request. */
	*ret_first = !__atomic_exchange_n(&d->direct_off, true, __ATOMIC_RELAXED);
	return true;
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
