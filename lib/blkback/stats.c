/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Publishing per-device counters for other processes, in the layout Linux
 * xen-blkback gives them in sysfs, under a directory the caller names:
 *
 *     vbd_blkback_write_stats(b, "/run/vbd")  writes
 *     /run/vbd/bus/xen-backend/devices/vbd-8-51728/statistics/rd_req  "1234\n"
 *
 * so that one reader (vbd_dev_stats_read_sysfs, vbd/status.h) serves both
 * backends.  Each file is written beside its name and renamed over it, so
 * a reader sees one whole number, old or new; a directory of a device no
 * longer served is removed.  Nothing goes to xenstore.
 *
 * A device whose counters did not move since the last call, and whose
 * files are still there, is not written again: a backend of 1000 idle
 * devices publishing each second would otherwise create and rename 7000
 * files a second (on ext4, each create of a just-freed inode is a scan).
 *
 * The entry is named by the kind served (vbd-8-51728, vbd3-8-51744), and
 * only entries of this backend's kind are its to remove: a vbd and a vbd3
 * backend may publish in one directory without deleting each other's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blkback/blkback.h"

static const char *const names[] = {
	"oo_req", "rd_req", "wr_req", "f_req", "ds_req", "rd_sect", "wr_sect",
};

static int mkdir_one(const char *path)
{
	return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

/* root/bus/xen-backend/devices, made as needed, into buf. */
static int devices_dir(const char *root, char *buf, size_t size)
{
	static const char *const parts[] = { "", "/bus", "/bus/xen-backend",
		                             "/bus/xen-backend/devices" };
	size_t i;
	int r;

	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if ((size_t)snprintf(buf, size, "%s%s", root, parts[i]) >= size)
			return -ENAMETOOLONG;
		r = mkdir_one(buf);
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_file(const char *dir, const char *name, uint64_t v)
{
	char tmp[4200], path[4200], text[32];
	int fd, n, r = 0;

	snprintf(tmp, sizeof(tmp), "%s/.%s.new", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	n = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)v);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n)
		r = errno ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

static bool served(vbd_blkback *b, const char *entry)
{
	size_t k = strlen(b->kind);
	unsigned dom, devid;
	char tail;
	vbd__bb_dev *d;

	if (strncmp(entry, b->kind, k) ||
	    sscanf(entry + k, "-%u-%u%c", &dom, &devid, &tail) != 2)
		return true;    /* not ours to remove */
	for (d = b->devs; d; d = d->next)
		if (d->fe_domid == dom && d->devid == devid)
			return true;
	return false;
}

static void remove_dev_dir(const char *devices, const char *entry)
{
	char p[4400];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s/statistics/%s", devices, entry, names[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/%s/statistics", devices, entry);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/%s", devices, entry);
	rmdir(p);
}

int vbd_blkback_write_stats(vbd_blkback *b, const char *root)
{
	char devices[4096], dir[4200], last[4300];
	vbd__bb_dev *d;
	struct dirent *e;
	DIR *dp;
	int r;

	if (!b || !root || !*root)
		return -EINVAL;
	r = devices_dir(root, devices, sizeof(devices));
	if (r < 0)
		return r;
	for (d = b->devs; d; d = d->next) {
		vbd_dev_stats st = { .size = sizeof(st) };
		const uint64_t *v[] = { &st.oo_req,  &st.rd_req,  &st.wr_req, &st.f_req,
			                &st.ds_req,  &st.rd_sect, &st.wr_sect };
		size_t i;

		struct vbd__bb_dev_counters now;
		struct stat sb;

		r = vbd_blkback_get_dev_stats(b, (vbd_domid)d->fe_domid, d->devid, &st);
		if (r < 0)
			return r;
		now = (struct vbd__bb_dev_counters){ st.oo_req, st.rd_req, st.wr_req, st.f_req,
			                             st.ds_req, st.rd_sect, st.wr_sect };
		snprintf(dir, sizeof(dir), "%s/%s-%u-%u/statistics", devices, b->kind, d->fe_domid,
		         d->devid);
		/* The last of the files written: there, so are the others (or
		 * another root, or someone removed them: written again). */
		snprintf(last, sizeof(last), "%s/%s", dir, names[sizeof(names) / sizeof(names[0]) - 1]);
		if (d->published_ok && !memcmp(&now, &d->published, sizeof(now)) &&
		    stat(last, &sb) == 0)
			continue;
		d->published_ok = false;
		*strrchr(dir, '/') = 0;
		if ((r = mkdir_one(dir)) < 0)
			return r;
		strcat(dir, "/statistics");
		if ((r = mkdir_one(dir)) < 0)
			return r;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if ((r = write_file(dir, names[i], *v[i])) < 0)
				return r;
		d->published = now;
		d->published_ok = true;
	}
	dp = opendir(devices);
	if (!dp)
		return -errno;
	while ((e = readdir(dp)))
		if (!served(b, e->d_name))
			remove_dev_dir(devices, e->d_name);
	closedir(dp);
	return 0;
}
