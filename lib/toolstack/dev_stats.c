/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A kernel-served device's counters, from the directory Linux xen-blkback
 * keeps for it in sysfs:
 *
 *     /sys/bus/xen-backend/devices/vbd-8-51728/statistics/rd_req  "1234\n"
 *
 * gives rd_req 1234 for domain 8's xvdb.  A bundled backend serving tap
 * disks publishes vbd3-8-51744 in the same layout.  The files are the kernel's, yet
 * read as carefully as anything else: a file that does not hold one
 * decimal that fits in 64 bits fails the read rather than showing a wrong
 * number.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/opts.h"
#include "vbd/status.h"

/* One counter file; 0 or -errno (-EBADMSG: not one decimal). */
static int read_counter(int dirfd, const char *name, uint64_t *ret)
{
	char buf[32];
	uint64_t v = 0;
	ssize_t n;
	size_t i;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf));
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	/* At most 20 digits and a newline: a longer file is not a counter. */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n == 0 || n > 20)
		return -EBADMSG;
	for (i = 0; i < (size_t)n; i++) {
		unsigned d = (unsigned char)buf[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

int vbd_dev_stats_read_sysfs(const char *root, vbd_domid domid, uint32_t devid,
                             vbd_dev_stats *out)
{
	vbd_dev_stats st = { 0 };
	const struct {
		const char *name;
		uint64_t *to;
	} files[] = {
		{ "oo_req", &st.oo_req },   { "rd_req", &st.rd_req },   { "wr_req", &st.wr_req },
		{ "f_req", &st.f_req },     { "ds_req", &st.ds_req },   { "rd_sect", &st.rd_sect },
		{ "wr_sect", &st.wr_sect },
	};
	char path[4096];
	size_t i;
	int dirfd, r = 0;

	if (!out || out->size < sizeof(out->size) || domid >= VBD_DOMID_FIRST_RESERVED)
		return -EINVAL;
	if (!root || !*root)
		root = "/sys";
	/* A device is one of either kind (vbd, vbd3: a tap disk), never both:
	 * a vdev names one device of a domain. */
	for (i = 0; i < 2; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/bus/xen-backend/devices/%s-%u-%u/statistics",
		                     root, i ? "vbd3" : "vbd", (unsigned)domid,
		                     (unsigned)devid) >= sizeof(path))
			return -ENAMETOOLONG;
		dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd >= 0 || errno != ENOENT)
			break;
	}
	if (dirfd < 0)
		return -errno;
	for (i = 0; i < sizeof(files) / sizeof(files[0]) && r == 0; i++)
		r = read_counter(dirfd, files[i].name, files[i].to);
	close(dirfd);
	if (r < 0)
		return r;
	return vbd__out_fill(out, &st, sizeof(st));
}
