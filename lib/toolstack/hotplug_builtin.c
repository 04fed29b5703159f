/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hotplug_builtin.c - Xen's block hotplug script, in-process.
 *
 * Worked example.  libxl has written
 *     /local/domain/0/backend/vbd/5/51712/params = /srv/a.img
 *     /local/domain/0/backend/vbd/5/51712/mode   = w
 * ADD stats /srv/a.img (st_dev 2051, inode 1234): a regular file, so the
 * index key is f-2051-1234 and this backend's entry in it is 0-5-51712.  No
 * mount in this domain goes through a loop device backed by that inode, and
 * /libvbd/sharing/f-2051-1234/ is empty, so it attaches /dev/loop3 to the
 * file and, in one transaction that reads that directory again, writes
 *     /libvbd/sharing/f-2051-1234/0-5-51712 = w
 *     /libvbd/backend/0-5-51712/{node = /dev/loop3, file = 2051:1234,
 *                                key = f-2051-1234}
 *     .../51712/physical-device = 7:3, physical-device-path = /dev/loop3,
 *     .../51712/node = /dev/loop3, hotplug-status = connected
 * REMOVE reads only /libvbd/backend/0-5-51712: it frees /dev/loop3 if that
 * is still bound to inode 1234 of st_dev 2051, and drops the index entry
 * the record names.  The backend dir's node and params are never used: in a
 * driver domain's backend they are that domain's to rewrite.
 *
 * Records and index belong to the domain running the step, where only it
 * (and dom0) can write: /libvbd in dom0, data/libvbd under a driver
 * domain's home.  The step refuses a backend of another domain: that
 * domain runs hotplug for its own backends.
 *
 * A loop device and its backing file are one object: a target /dev/loop3
 * (or a partition of it, or a link to either) has the key of the file it
 * is bound to, f-2051-1234, not b-7-3.
 * ADD of the same file for domain 6 in mode w then finds 0-5-51712 there,
 * frees its loop device, writes hotplug-status=busy and returns -EBUSY.  It
 * looked at one directory, whatever the number of VBDs on the host, and took
 * no lock: two concurrent ADDs both read the directory in their transaction,
 * so the store lets only one of them commit and the other retries and sees
 * the winner's entry.
 *
 * An entry whose backend has lost its physical-device (the backend was
 * removed without REMOVE, or REMOVE never ran) is stale: it is ignored, and
 * dropped by the next transaction that sees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
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
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "util/err.h"
#include "util/xs_txn.h"
#include "vbd/hotplug.h"

#define DOM0_ROOT "/libvbd"   /* dom0's records and index; data/libvbd elsewhere */
#define TXN_TRIES 100      /* EAGAIN retries of one transaction */
#define LOOP_TRIES 64      /* lost races for a free loop device */
#define BE_MAX 512         /* longest backend path accepted */

/* Internal, also declared by tests/test_hotplug.c.  VBD__LOOP_LEGACY skips
 * LOOP_CONFIGURE, as on kernels before 5.8. */
#define VBD__LOOP_LEGACY 1u
int vbd__loop_attach(int file_fd, bool ro, const char *name, unsigned flags,
                     int *ret_fd, unsigned *ret_n, vbd_errbuf *err);

typedef struct hp {
	struct xs_handle *xs;
	vbd_errbuf *err;
	char be[BE_MAX];        /* as given, without a trailing '/' */
	char entry[3 * BE_MAX]; /* this backend's name in the index */
	unsigned bdom;          /* the backend's domain */
	unsigned self;          /* the domain running the step */
	char root[64];          /* its records: <root>/sharing, <root>/backend */
	long fe;                /* the frontend's domain, -1: not known */
} hp;

typedef struct target {
	char path[PATH_MAX];
	bool blk;
	dev_t rdev;             /* block device */
	dev_t dev;              /* regular file: its st_dev and inode */
	ino_t ino;
	int fd;
	char key[64];
} target;

/* ------------------------------------------------------------------ */
/* xenstore                                                            */

static int xs_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* *ret is malloc'd.  -ENOENT if absent. */
static int xread(struct xs_handle *xs, xs_transaction_t t, const char *path, char **ret)
{
	unsigned len;
	char *v = xs_read(xs, t, path, &len);

	if (!v)
		return xs_errno();
	*ret = v;
	return 0;
}

static int xwrite(struct xs_handle *xs, xs_transaction_t t, const char *path, const char *val)
{
	return xs_write(xs, t, path, val, strlen(val)) ? 0 : xs_errno();
}

static int xrm(struct xs_handle *xs, xs_transaction_t t, const char *path)
{
	if (xs_rm(xs, t, path) || errno == ENOENT)
		return 0;
	return xs_errno();
}

static bool xexists(struct xs_handle *xs, xs_transaction_t t, const char *path)
{
	char *v = NULL;
	bool r = xread(xs, t, path, &v) == 0;

	free(v);
	return r;
}

static void be_key(const hp *h, char *buf, size_t size, const char *leaf)
{
	snprintf(buf, size, "%s/%s", h->be, leaf);
}

static int be_read(const hp *h, xs_transaction_t t, const char *leaf, char **ret)
{
	char p[BE_MAX + 64];

	be_key(h, p, sizeof(p), leaf);
	return xread(h->xs, t, p, ret);
}

static int be_write(const hp *h, xs_transaction_t t, const char *leaf, const char *val)
{
	char p[BE_MAX + 64];

	be_key(h, p, sizeof(p), leaf);
	return xwrite(h->xs, t, p, val);
}

static int be_rm(const hp *h, xs_transaction_t t, const char *leaf)
{
	char p[BE_MAX + 64];

	be_key(h, p, sizeof(p), leaf);
	return xrm(h->xs, t, p);
}

/* This backend's record: <root>/backend/<entry>/<leaf>. */
static void rec_key(const hp *h, char *buf, size_t size, const char *leaf)
{
	snprintf(buf, size, "%s/backend/%s/%s", h->root, h->entry, leaf);
}

static int rec_write(const hp *h, xs_transaction_t t, const char *leaf, const char *val)
{
	char p[256 + 3 * BE_MAX];

	rec_key(h, p, sizeof(p), leaf);
	return xwrite(h->xs, t, p, val);
}

static int rec_read(const hp *h, const char *leaf, char **ret)
{
	char p[256 + 3 * BE_MAX];

	rec_key(h, p, sizeof(p), leaf);
	return xread(h->xs, XBT_NULL, p, ret);
}

/* ------------------------------------------------------------------ */
/* Naming: backend path -> index entry                                 */

static bool all_digits(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 10)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* "p" and the path with every byte outside [A-Za-z0-9-] as _xx. */
static void escape_path(const char *path, char *out, size_t size)
{
	size_t o = 0;

	out[o++] = 'p';
	for (; *path && o + 4 < size; path++) {
		if (name_char(*path))
			out[o++] = *path;
		else
			o += (size_t)snprintf(out + o, size - o, "_%02x", (unsigned char)*path);
	}
	out[o] = 0;
}

static void unescape_path(const char *e, char *out, size_t size)
{
	size_t o = 0;
	unsigned x;

	for (e++; *e && o + 1 < size; e++) {
		if (*e == '_' && sscanf(e + 1, "%2x", &x) == 1 && e[1] && e[2]) {
			out[o++] = (char)x;
			e += 2;
		} else {
			out[o++] = *e;
		}
	}
	out[o] = 0;
}

/* Splits "backend/<type>/<fe>/<devid>" (rel) into its parts. */
static bool split_rel(const char *rel, char *type, size_t tsize, unsigned *fe, unsigned *devid)
{
	const char *a, *b, *c;

	if (strncmp(rel, "backend/", 8))
		return false;
	a = rel + 8;
	b = strchr(a, '/');
	if (!b || b == a || (size_t)(b - a) >= tsize)
		return false;
	c = strchr(b + 1, '/');
	if (!c || !all_digits(b + 1, (size_t)(c - b - 1)) || !all_digits(c + 1, strlen(c + 1)))
		return false;
	for (const char *p = a; p < b; p++)
		if (!name_char(*p) || *p == '-')
			return false;
	memcpy(type, a, (size_t)(b - a));
	type[b - a] = 0;
	*fe = (unsigned)strtoul(b + 1, NULL, 10);
	*devid = (unsigned)strtoul(c + 1, NULL, 10);
	return true;
}

/* The calling domain, from its home ("domid", which libxl and
 * xen-init-dom0 write, owned by dom0): 0 if absent. */
static unsigned own_domid(struct xs_handle *xs)
{
	char *v = NULL;
	unsigned d = 0;

	if (xread(xs, XBT_NULL, "domid", &v) == 0 && all_digits(v, strlen(v)))
		d = (unsigned)strtoul(v, NULL, 10);
	free(v);
	return d;
}

/* Our index entry: "<bdom>-<fe>-<devid>" for a vbd ("-<type>" appended for
 * other types), so that another attach can tell which domain uses the
 * target and find its backend; "p<escaped path>" for a path outside the
 * usual layout.  A relative be_path names the calling domain's backend.
 * A backend of another domain is refused: its domain runs its hotplug step,
 * on its own devices, with its own records. */
static int hp_name(hp *h, const char *be_path)
{
	size_t n = strlen(be_path);
	char type[32];
	const char *rel = h->be;
	unsigned devid, fe;

	while (n > 1 && be_path[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(h->be))
		return vbd__errf(h->err, -EINVAL, "backend path '%s': empty or too long", be_path);
	memcpy(h->be, be_path, n);
	h->be[n] = 0;
	h->fe = -1;
	h->self = own_domid(h->xs);
	h->bdom = h->self;
	if (h->self == 0)
		snprintf(h->root, sizeof(h->root), "%s", DOM0_ROOT);
	else
		snprintf(h->root, sizeof(h->root), "/local/domain/%u/data/libvbd", h->self);
	if (!strncmp(h->be, "/local/domain/", 14)) {
		const char *d = h->be + 14, *s = strchr(d, '/');

		if (s && all_digits(d, (size_t)(s - d))) {
			h->bdom = (unsigned)strtoul(d, NULL, 10);
			rel = s + 1;
		}
		if (h->bdom != h->self)
			return vbd__errf(h->err, -EPERM, "backend %s belongs to domain %u: its hotplug "
			                 "step runs there, not in domain %u", h->be, h->bdom, h->self);
	}
	if (rel != h->be || h->be[0] != '/') {
		if (split_rel(rel, type, sizeof(type), &fe, &devid)) {
			h->fe = fe;
			if (!strcmp(type, "vbd"))
				snprintf(h->entry, sizeof(h->entry), "%u-%u-%u", h->bdom, fe, devid);
			else
				snprintf(h->entry, sizeof(h->entry), "%u-%u-%u-%s", h->bdom, fe, devid, type);
			return 0;
		}
	}
	escape_path(h->be, h->entry, sizeof(h->entry));
	return 0;
}

/* The other side of hp_name: the backend path and domains of an entry. */
static bool entry_parse(const char *e, char *be, size_t size, unsigned *bdom, unsigned *fe)
{
	unsigned b, f, d;
	int end = 0;

	if (e[0] == 'p') {
		unescape_path(e, be, size);
		return false;
	}
	if (sscanf(e, "%u-%u-%u%n", &b, &f, &d, &end) != 3)
		return false;
	if (e[end] == '-')
		snprintf(be, size, "/local/domain/%u/backend/%s/%u/%u", b, e + end + 1, f, d);
	else
		snprintf(be, size, "/local/domain/%u/backend/vbd/%u/%u", b, f, d);
	*bdom = b;
	*fe = f;
	return true;
}

/* ------------------------------------------------------------------ */
/* Sharing                                                             */

/* r, w, or ! (w without any check), as the block script canonicalises. */
static char canon_mode(const char *mode)
{
	if (!strchr(mode, 'w'))
		return 'r';
	return strchr(mode, '!') ? '!' : 'w';
}

static char *dom_read(struct xs_handle *xs, xs_transaction_t t, long dom, const char *leaf)
{
	char p[64], *v = NULL;

	if (dom < 0)
		return NULL;
	snprintf(p, sizeof(p), "/local/domain/%ld/%s", dom, leaf);
	if (xread(xs, t, p, &v) < 0)
		return NULL;
	return v;
}

static bool eq(const char *a, const char *b)
{
	return a && b && *a && !strcmp(a, b);
}

/* Whether two frontends belong to one VM, as the block script's same_vm:
 * the same vm path, or one is the other's device-model stub domain
 * ("target").  Unlike the script, an unreadable vm counts as different. */
static bool same_vm(struct xs_handle *xs, xs_transaction_t t, unsigned a, unsigned b)
{
	char *va, *vb, *ta, *tb, *vta = NULL, *vtb = NULL;
	bool r;

	if (a == b)
		return true;
	va = dom_read(xs, t, a, "vm");
	vb = dom_read(xs, t, b, "vm");
	ta = dom_read(xs, t, a, "target");
	tb = dom_read(xs, t, b, "target");
	if (ta && all_digits(ta, strlen(ta)))
		vta = dom_read(xs, t, strtol(ta, NULL, 10), "vm");
	if (tb && all_digits(tb, strlen(tb)))
		vtb = dom_read(xs, t, strtol(tb, NULL, 10), "vm");
	r = eq(va, vb) || eq(vta, vb) || eq(va, vtb) || eq(vta, vtb);
	free(va);
	free(vb);
	free(ta);
	free(tb);
	free(vta);
	free(vtb);
	return r;
}

/* 0 if this backend may use the object named key in mode m as far as the
 * other backends in the index are concerned, else -EBUSY naming one of
 * them.  Stale entries are skipped, and removed when t is a transaction.
 * Entries of other backend domains name other objects (a device number
 * means something else there) and are skipped too. */
static int check_index(hp *h, xs_transaction_t t, const char *path, const char *key, char m)
{
	char dir[192], p[192 + sizeof(h->entry)], obe[BE_MAX + 64], pd[BE_MAX + 80];
	unsigned n, i, ob = 0, ofe = 0;
	char **ents, *om = NULL;
	int r = 0;

	snprintf(dir, sizeof(dir), "%s/sharing/%s", h->root, key);
	ents = xs_directory(h->xs, t, dir, &n);
	if (!ents)
		return errno == ENOENT ? 0 : vbd__errf(h->err, xs_errno(), "read %s", dir);
	for (i = 0; i < n && r == 0; i++) {
		bool parsed;

		if (!strcmp(ents[i], h->entry))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, ents[i]);
		free(om);
		om = NULL;
		if (xread(h->xs, t, p, &om) < 0)
			continue;
		if (m == 'r' && om[0] != 'w')
			continue;
		obe[0] = 0;
		parsed = entry_parse(ents[i], obe, sizeof(obe), &ob, &ofe);
		if (parsed && ob != h->bdom)
			continue;
		snprintf(pd, sizeof(pd), "%s/physical-device", obe);
		if (obe[0] && !xexists(h->xs, t, pd)) {
			if (t != XBT_NULL)
				xrm(h->xs, t, p);
			continue;
		}
		if (parsed && h->fe >= 0 && same_vm(h->xs, t, (unsigned)h->fe, ofe))
			continue;
		if (parsed)
			r = vbd__errf(h->err, -EBUSY, "%s is in use %sby domain %u (backend %s), and so "
			              "cannot be used %s", path, om[0] == 'r' ? "read-only " : "",
			              ofe, obe, m == 'r' ? "read-only" : "read-write");
		else
			r = vbd__errf(h->err, -EBUSY, "%s is in use %sby backend %s, and so cannot "
			              "be used %s", path, om[0] == 'r' ? "read-only " : "", obe,
			              m == 'r' ? "read-only" : "read-write");
	}
	free(om);
	free(ents);
	return r;
}

static bool has_opt(const char *opts, const char *o)
{
	size_t n = strlen(o);

	for (const char *p = opts; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (!strncmp(p, o, n) && (p[n] == ',' || p[n] == 0 || p[n] == '\n'))
			return true;
	}
	return false;
}

/* Whether loop device maj:min (or the loop device holding that partition)
 * is backed by the inode dev/ino. */
static bool loop_backed_by(unsigned maj, unsigned min, dev_t dev, ino_t ino)
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

/* -EBUSY if the target is mounted in this domain in a way that mode m
 * forbids: for w any mount, for r a read-write one.  A regular file counts
 * as mounted when a loop device backed by it is.  The cost grows with the
 * number of mounts, not of VBDs. */
static int check_mounts(hp *h, const target *tg, char m)
{
	char *line = NULL, mnt[256];
	unsigned maj, min;
	size_t cap = 0;
	int r = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return vbd__errf(h->err, -errno, "cannot check whether %s is mounted: "
		                 "/proc/self/mountinfo: %s", tg->path, strerror(errno));
	while (r == 0 && getline(&line, &cap, f) > 0) {
		const char *sep = strstr(line, " - ");
		char opts[256];
		bool rw, hit;

		if (!sep || sscanf(line, "%*d %*d %u:%u %*s %255s %255s", &maj, &min, mnt, opts) != 4)
			continue;
		/* Super options are the last field, after fstype and source. */
		rw = !has_opt(opts, "ro");
		{
			const char *so = strrchr(sep, ' ');

			if (so && has_opt(so + 1, "ro"))
				rw = false;
		}
		if (m == 'r' && !rw)
			continue;
		if (tg->blk)
			hit = makedev(maj, min) == tg->rdev;
		else
			hit = (maj == LOOP_MAJOR || maj == BLOCK_EXT_MAJOR) &&
			      loop_backed_by(maj, min, tg->dev, tg->ino);
		if (hit)
			r = vbd__errf(h->err, -EBUSY, "%s is mounted %son %s in this domain, and so "
			              "cannot be used %s", tg->path, tg->blk ? "" : "(through a loop device) ",
			              mnt, m == 'r' ? "read-only" : "read-write");
	}
	free(line);
	fclose(f);
	return r;
}

/* ------------------------------------------------------------------ */
/* Loop devices                                                        */

/* Frees a loop device we attached; one already free is fine.  A device
 * still open elsewhere is freed on its last close (the kernel turns on
 * autoclear). */
static int loop_detach(int lfd)
{
	if (ioctl(lfd, LOOP_CLR_FD) < 0 && errno != ENXIO)
		return -errno;
	return 0;
}

static int loop_configure(int lfd, int file_fd, bool ro, const char *name, unsigned flags)
{
	struct loop_config cfg;
	struct loop_info64 info;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (uint32_t)file_fd;
	cfg.info.lo_flags = ro ? LO_FLAGS_READ_ONLY : 0;
	snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", name);
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

int vbd__loop_attach(int file_fd, bool ro, const char *name, unsigned flags,
                     int *ret_fd, unsigned *ret_n, vbd_errbuf *err)
{
	char dev[32];
	int ctl, lfd = -1, n = -1, r = -EBUSY;
	unsigned i;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return vbd__errf(err, -errno, "/dev/loop-control: %s", strerror(errno));
	/* Another process may take the free device between GET_FREE and
	 * configuring it: that fails with EBUSY, and we ask again. */
	for (i = 0; i < LOOP_TRIES; i++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			r = vbd__errf(err, -errno, "no free loop device: %s", strerror(errno));
			goto out;
		}
		snprintf(dev, sizeof(dev), "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			/* Removed (LOOP_CTL_REMOVE) by someone else meanwhile. */
			if (errno == ENOENT || errno == ENXIO)
				continue;
			r = vbd__errf(err, -errno, "%s: %s", dev, strerror(errno));
			goto out;
		}
		r = loop_configure(lfd, file_fd, ro, name, flags);
		if (r == 0 && !ro) {
			int zero = 0;

			/* A read-only flag set on the device with BLKROSET
			 * (blockdev --setro) by an earlier user outlives
			 * LOOP_CLR_FD: a writable attach must clear it, or
			 * every write through the new device fails. */
			if (ioctl(lfd, BLKROSET, &zero) < 0) {
				r = vbd__errf(err, -errno, "%s: clear read-only flag: %s", dev,
				              strerror(errno));
				loop_detach(lfd);
				close(lfd);
				lfd = -1;
				goto out;
			}
		}
		if (r == 0)
			break;
		close(lfd);
		lfd = -1;
		if (r != -EBUSY) {
			r = vbd__errf(err, r, "attach %s to %s: %s", name, dev, strerror(-r));
			goto out;
		}
	}
	if (lfd < 0) {
		r = vbd__errf(err, -EBUSY, "no loop device for %s: lost the race %u times", name, i);
		goto out;
	}
	*ret_fd = lfd;
	*ret_n = (unsigned)n;
	r = 0;
out:
	close(ctl);
	return r;
}

/* ------------------------------------------------------------------ */
/* ADD                                                                 */

/* Whether block device fd (rdev) is a loop device, or a partition of one,
 * bound to a file: then its st_dev and inode.  The file and the device are
 * one object to the sharing check, as the block script's losetup -a says. */
static bool loop_file(int fd, dev_t rdev, uintmax_t *dev, uintmax_t *ino)
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
static int target_open(hp *h, const char *params, char m, bool writable, target *tg)
{
	struct stat st, st2;
	uintmax_t lo_dev, lo_ino;
	int flags, ro = 0, r;

	if (!*params)
		return vbd__errf(h->err, -EINVAL, "%s/params is empty (an empty drive has no "
		                 "backing device)", h->be);
	if (!strncmp(params, "LABEL=", 6) || !strncmp(params, "UUID=", 5))
		return vbd__errf(h->err, -ENOENT, "target %s: not resolved to a device", params);
	/* A bare name is a device under /dev, as in the block script. */
	if (snprintf(tg->path, sizeof(tg->path), "%s%s", params[0] == '/' ? "" : "/dev/",
	             params) >= (int)sizeof(tg->path))
		return vbd__errf(h->err, -EINVAL, "target %s: path too long", params);
	if (stat(tg->path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return vbd__errf(h->err, -ENOENT, "target %s: no such file or device",
			                 tg->path);
		return vbd__errf(h->err, -errno, "target %s: %s", tg->path, strerror(errno));
	}
	if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
		return vbd__errf(h->err, -ENODEV, "target %s: neither a block device nor a regular "
		                 "file", tg->path);
	tg->blk = S_ISBLK(st.st_mode);
	tg->rdev = st.st_rdev;
	tg->dev = st.st_dev;
	tg->ino = st.st_ino;
	if (writable && !tg->blk && !(st.st_mode & 0222))
		return vbd__errf(h->err, -EROFS, "target %s is read-only (mode %04o), and so cannot "
		                 "be used read-write", tg->path, (unsigned)(st.st_mode & 07777));
	flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY;
	/* O_EXCL on a block device fails with EBUSY while anything in this
	 * domain holds it: a mount (also of a partition), swap, device-mapper,
	 * md.  Held only until the transaction is done. */
	if (tg->blk && m == 'w')
		flags |= O_EXCL;
	tg->fd = open(tg->path, flags);
	if (tg->fd < 0) {
		int e = errno;

		if (writable && (e == EROFS || e == EACCES || e == EPERM))
			return vbd__errf(h->err, -EROFS, "target %s is read-only (%s), and so cannot "
			                 "be used read-write", tg->path, strerror(e));
		/* Say where it is mounted if it is. */
		if (e == EBUSY && (r = check_mounts(h, tg, m)) < 0)
			return r;
		if (e == EBUSY)
			return vbd__errf(h->err, -EBUSY, "%s is in use in this domain (mounted, swap, or "
			                 "held by device-mapper or md), and so cannot be used "
			                 "read-write", tg->path);
		if (e == ENOENT)
			return vbd__errf(h->err, -ENOENT, "target %s: no such file or device", tg->path);
		return vbd__errf(h->err, -e, "target %s: %s", tg->path, strerror(e));
	}
	if (fstat(tg->fd, &st2) < 0)
		return vbd__errf(h->err, -errno, "target %s: %s", tg->path, strerror(errno));
	if ((st2.st_mode & S_IFMT) != (st.st_mode & S_IFMT) || st2.st_dev != st.st_dev ||
	    st2.st_ino != st.st_ino)
		return vbd__errf(h->err, -EAGAIN, "target %s changed while being opened", tg->path);
	if (tg->blk) {
		tg->rdev = st2.st_rdev;
		if (writable && ioctl(tg->fd, BLKROGET, &ro) == 0 && ro)
			return vbd__errf(h->err, -EROFS, "target %s is a read-only device, and so cannot "
			                 "be used read-write", tg->path);
		if (loop_file(tg->fd, tg->rdev, &lo_dev, &lo_ino))
			snprintf(tg->key, sizeof(tg->key), "f-%ju-%ju", lo_dev, lo_ino);
		else
			snprintf(tg->key, sizeof(tg->key), "b-%u-%u", major(tg->rdev),
			         minor(tg->rdev));
	} else {
		tg->dev = st2.st_dev;
		tg->ino = st2.st_ino;
		snprintf(tg->key, sizeof(tg->key), "f-%ju-%ju", (uintmax_t)tg->dev,
		         (uintmax_t)tg->ino);
	}
	return 0;
}

/* The transaction's body: 1 if another ADD of this backend got there
 * first, 0 when everything is written, -errno. */
static int add_txn(hp *h, xs_transaction_t t, const target *tg, char m, const char *pd,
                   const char *pdpath, bool loop)
{
	char p[192 + sizeof(h->entry)], rec[192 + sizeof(h->entry)], file[48], *v = NULL;
	char mv[2] = { m, 0 };
	int r;

	/* The backend may have been removed since we started: writing into it
	 * now would recreate it. */
	r = be_read(h, t, "params", &v);
	free(v);
	v = NULL;
	if (r == -ENOENT)
		return vbd__errf(h->err, -ENOENT, "backend %s was removed during hotplug add", h->be);
	if (r < 0)
		return vbd__errf(h->err, r, "read %s/params", h->be);
	if (be_read(h, t, "physical-device", &v) == 0) {
		free(v);
		return 1;
	}
	if (m != '!') {
		r = check_index(h, t, tg->path, tg->key, m);
		if (r < 0)
			return r;
	}
	/* The record REMOVE goes by, where only this domain writes; a record
	 * left by an earlier ADD of this backend whose REMOVE never ran is
	 * replaced (what it named is not this ADD's). */
	snprintf(p, sizeof(p), "%s/sharing/%s/%s", h->root, tg->key, h->entry);
	snprintf(rec, sizeof(rec), "%s/backend/%s", h->root, h->entry);
	snprintf(file, sizeof(file), "%ju:%ju", (uintmax_t)tg->dev, (uintmax_t)tg->ino);
	if ((r = xrm(h->xs, t, rec)) < 0 || (r = xwrite(h->xs, t, p, mv)) < 0 ||
	    (r = rec_write(h, t, "key", tg->key)) < 0 ||
	    (loop && (r = rec_write(h, t, "node", pdpath)) < 0) ||
	    (loop && (r = rec_write(h, t, "file", file)) < 0))
		return vbd__errf(h->err, r, "write %s: %s", rec, strerror(-r));
	if ((r = be_write(h, t, "physical-device", pd)) < 0 ||
	    (r = be_write(h, t, "physical-device-path", pdpath)) < 0 ||
	    (loop && (r = be_write(h, t, "node", pdpath)) < 0) ||
	    (r = be_rm(h, t, "hotplug-error")) < 0 ||
	    (r = be_write(h, t, "hotplug-status", "connected")) < 0)
		return vbd__errf(h->err, r, "write %s: %s", h->be, strerror(-r));
	return 0;
}

struct add_job {
	hp *h;
	const target *tg;
	char m;
	const char *pd, *pdpath;
	bool loop;
};

static int add_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct add_job *j = ud;

	(void)xs;
	return add_txn(j->h, t, j->tg, j->m, j->pd, j->pdpath, j->loop);
}

static int hp_add(hp *h, bool *busy)
{
	char *params = NULL, *mode = NULL, *v = NULL, pd[32], pdpath[PATH_MAX];
	target tg = { .fd = -1 };
	unsigned loopn = 0;
	int r, lfd = -1;
	bool writable;
	char m;

	r = be_read(h, XBT_NULL, "params", &params);
	if (r == -ENOENT && !xexists(h->xs, XBT_NULL, h->be))
		return vbd__errf(h->err, -ENOENT, "backend %s: no such node", h->be);
	if (r < 0) {
		r = vbd__errf(h->err, r == -ENOENT ? -EINVAL : r, "read %s/params: %s", h->be,
		              strerror(-r));
		goto out;
	}
	r = be_read(h, XBT_NULL, "mode", &mode);
	if (r < 0) {
		r = vbd__errf(h->err, r == -ENOENT ? -EINVAL : r, "read %s/mode: %s", h->be,
		              strerror(-r));
		goto out;
	}
	/* Run twice (udev and libxl both, or a retry): nothing to do. */
	if (be_read(h, XBT_NULL, "physical-device", &v) == 0) {
		free(v);
		v = NULL;
		if (be_read(h, XBT_NULL, "hotplug-status", &v) < 0 || strcmp(v, "connected"))
			r = be_write(h, XBT_NULL, "hotplug-status", "connected");
		if (r < 0)
			r = vbd__errf(h->err, r, "write %s/hotplug-status", h->be);
		goto out;
	}
	m = canon_mode(mode);
	writable = m != 'r';

	r = target_open(h, params, m, writable, &tg);
	if (r < 0)
		goto out;
	if (m != '!') {
		/* Checked now to spare a loop device in the common conflict,
		 * and again in the transaction, where it counts. */
		r = check_mounts(h, &tg, m);
		if (r == 0)
			r = check_index(h, XBT_NULL, tg.path, tg.key, m);
		if (r < 0)
			goto out;
	}
	if (tg.blk) {
		snprintf(pd, sizeof(pd), "%x:%x", major(tg.rdev), minor(tg.rdev));
		snprintf(pdpath, sizeof(pdpath), "%s", tg.path);
	} else {
		struct stat st;

		r = vbd__loop_attach(tg.fd, !writable, tg.path, 0, &lfd, &loopn, h->err);
		if (r < 0)
			goto out;
		if (fstat(lfd, &st) < 0) {
			r = vbd__errf(h->err, -errno, "/dev/loop%u: %s", loopn, strerror(errno));
			goto out;
		}
		snprintf(pd, sizeof(pd), "%x:%x", major(st.st_rdev), minor(st.st_rdev));
		snprintf(pdpath, sizeof(pdpath), "/dev/loop%u", loopn);
	}

	{
		struct add_job j = { h, &tg, m, pd, pdpath, lfd >= 0 };

		r = vbd__xs_txn(h->xs, TXN_TRIES, add_body, &j);
		if (r > 0) {
			/* A concurrent ADD of this backend won; it owns the loop
			 * device it recorded, ours goes. */
			r = 0;
			goto out;
		}
		if (r < 0) {
			if (!h->err->msg[0] || r == -EAGAIN)
				vbd__errf(h->err, r, "commit %s: %s", h->be, strerror(-r));
			goto out;
		}
	}
	if (lfd >= 0) {
		close(lfd);
		lfd = -1;
	}
	r = 0;
out:
	if (lfd >= 0) {
		loop_detach(lfd);
		close(lfd);
	}
	if (tg.fd >= 0)
		close(tg.fd);
	*busy = r == -EBUSY;
	free(v);
	free(params);
	free(mode);
	return r;
}

/* hotplug-error first: libxl reads it when it sees hotplug-status. */
struct failure_job {
	hp *h;
	bool busy;
};

static int failure_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct failure_job *j = ud;

	if (!xexists(xs, t, j->h->be))
		return 1;     /* gone: nothing to report on */
	be_write(j->h, t, "hotplug-error", j->h->err->msg);
	be_write(j->h, t, "hotplug-status", j->busy ? "busy" : "error");
	return 0;
}

static void report_failure(hp *h, bool busy)
{
	struct failure_job j = { h, busy };

	vbd__xs_txn(h->xs, TXN_TRIES, failure_body, &j);
}

/* ------------------------------------------------------------------ */
/* REMOVE                                                              */

/* Frees the loop device the record names if it is still bound to the
 * file the record names (st_dev:inode).  Bound to anything else, it was
 * freed meanwhile and taken by another user: left alone. */
static int remove_loop(hp *h, const char *node, const char *file)
{
	struct loop_info64 info;
	uintmax_t dev, ino;
	struct stat st;
	int lfd, r = 0;

	if (sscanf(file, "%ju:%ju", &dev, &ino) != 2)
		return 0;
	if (stat(node, &st) < 0 || !S_ISBLK(st.st_mode) || major(st.st_rdev) != LOOP_MAJOR)
		return 0;
	lfd = open(node, O_RDONLY | O_CLOEXEC);
	if (lfd < 0)
		return errno == ENOENT || errno == ENXIO ? 0 :
		       vbd__errf(h->err, -errno, "%s: %s", node, strerror(errno));
	if (ioctl(lfd, LOOP_GET_STATUS64, &info) < 0) {
		r = errno == ENXIO ? 0 : vbd__errf(h->err, -errno, "%s: LOOP_GET_STATUS64: %s", node,
		                                   strerror(errno));
		goto out;
	}
	if ((uintmax_t)info.lo_device != dev || (uintmax_t)info.lo_inode != ino)
		goto out;
	r = loop_detach(lfd);
	if (r < 0)
		r = vbd__errf(h->err, r, "detach %s: %s", node, strerror(-r));
out:
	close(lfd);
	return r;
}

static int remove_txn(hp *h, xs_transaction_t t, const char *key, bool be_there)
{
	char dir[192], p[192 + sizeof(h->entry)];
	unsigned n;
	char **ents;
	int r;

	if (key && key[0]) {
		snprintf(dir, sizeof(dir), "%s/sharing/%s", h->root, key);
		snprintf(p, sizeof(p), "%s/%s", dir, h->entry);
		r = xrm(h->xs, t, p);
		if (r < 0)
			return vbd__errf(h->err, r, "remove %s", p);
		ents = xs_directory(h->xs, t, dir, &n);
		if (ents && n == 0)
			xrm(h->xs, t, dir);
		free(ents);
	}
	snprintf(p, sizeof(p), "%s/backend/%s", h->root, h->entry);
	if ((r = xrm(h->xs, t, p)) < 0)
		return vbd__errf(h->err, r, "remove %s", p);
	/* So that a repeated REMOVE finds nothing to free, and a later ADD
	 * really adds. */
	if (be_there && ((r = be_rm(h, t, "node")) < 0 || (r = be_rm(h, t, "physical-device")) < 0 ||
	                 (r = be_rm(h, t, "physical-device-path")) < 0 ||
	                 (r = be_rm(h, t, "hotplug-status")) < 0))
		return vbd__errf(h->err, r, "write %s", h->be);
	return 0;
}

struct remove_job {
	hp *h;
	const char *key;
	bool be_there;
	bool said;          /* remove_txn wrote the reason into err */
};

static int remove_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct remove_job *j = ud;
	int r;

	(void)xs;
	r = remove_txn(j->h, t, j->key, j->be_there);
	j->said = r < 0;
	return r;
}

/* Goes by this domain's record only: whatever the backend dir says now
 * (node, params, physical-device) may have been rewritten by its owner, or
 * be gone. */
static int hp_remove(hp *h)
{
	char *node = NULL, *file = NULL, *key = NULL;
	bool be_there;
	int r = 0;

	be_there = xexists(h->xs, XBT_NULL, h->be);
	rec_read(h, "node", &node);
	rec_read(h, "file", &file);
	rec_read(h, "key", &key);
	if (node && file) {
		r = remove_loop(h, node, file);
		if (r < 0)
			goto out;
	}
	{
		struct remove_job j = { h, key, be_there, false };

		r = vbd__xs_txn(h->xs, TXN_TRIES, remove_body, &j);
		/* remove_txn says why itself; the helper's own failures (start,
		 * commit) are named here. */
		if (r < 0 && !j.said)
			vbd__errf(h->err, r, "removing the hotplug nodes of %s", h->be);
	}
out:
	free(node);
	free(file);
	free(key);
	return r;
}

/* ------------------------------------------------------------------ */

int vbd_hotplug_builtin(struct xs_handle *xs, const char *be_path, vbd_hotplug_action action,
                        vbd_errbuf *err)
{
	vbd_errbuf local = { "" };
	bool busy = false;
	hp *h;
	int r;

	if (!xs || !be_path || (action != VBD_HOTPLUG_ADD && action != VBD_HOTPLUG_REMOVE))
		return vbd__errf(err, -EINVAL, "vbd_hotplug_builtin: invalid argument");
	h = calloc(1, sizeof(*h));
	if (!h)
		return vbd__errf(err, -ENOMEM, "vbd_hotplug_builtin: out of memory");
	h->xs = xs;
	h->err = &local;
	r = hp_name(h, be_path);
	if (r == 0 && action == VBD_HOTPLUG_ADD) {
		r = hp_add(h, &busy);
		if (r < 0 && xexists(xs, XBT_NULL, h->be))
			report_failure(h, busy);
	} else if (r == 0) {
		r = hp_remove(h);
	}
	if (err)
		memcpy(err->msg, local.msg, sizeof(err->msg));
	free(h);
	return r;
}
