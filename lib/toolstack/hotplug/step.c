/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * step.c - Xen's block hotplug script, in-process: ADD and REMOVE.
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
 * removed without REMOVE, or REMOVE never ran), whose record names another
 * key (the backend path was reused) or whose recorded loop device is no
 * longer bound to the file (REMOVE stopped after freeing it) is stale: it
 * is ignored, and dropped by the next transaction that sees it
 * (sharing.c).
 *
 * A tap backend (backend/vbd3/5/51712, params = aio:/srv/a.img) gets no
 * loop device: the userspace backend serving vbd3 opens the file itself.
 * ADD checks the format (aio, raw, is what is served), opens the file as
 * above, keeps the same index entry (0-5-51712-vbd3) and record, and writes
 * physical-device-path = /srv/a.img and hotplug-status = connected, as
 * libxl's block-tap writes physical-device-path (never physical-device)
 * for tapback.
 *
 * Run by the toolstack that has just written the backend dir, in its own
 * context, ADD takes params and mode from it instead (vbd__hp_known) and
 * its transaction reads online, not params; REMOVE's transaction then also
 * removes the device's nodes.  For dom0's own backend the toolstack runs
 * ADD in two halves (vbd__hp_add_begin, _batch, _end): everything up to
 * the transaction first, the loop device included, then its writes at the
 * end of the pipelined transaction that makes the backend dir, which reads
 * nothing of the dir (its reads of the index and the record are guessed
 * absent at the first try, made just before it at the next, and read
 * again in it: vbd__hp_defer, record.c); a conflict there (-EBUSY)
 * fails the attach before any node is written, so no hotplug-status=busy
 * is ever seen.
 *
 * REMOVE is remove.c's.  The names and the record are record.c's, the
 * sharing checks sharing.c's, the loop devices loop.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xenstore.h>

#include "toolstack/hotplug/hotplug_internal.h"
#include "vbd/hotplug.h"
#include "util/crashpoint.h"

/* ------------------------------------------------------------------ */
/* ADD                                                                 */

static int target_open(vbd__hp *h, const char *params, char m, bool writable, vbd__hp_target *tg)
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
		if (e == EBUSY && (r = vbd__hp_check_mounts(h, tg, m)) < 0)
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
		if (vbd__loop_file(tg->fd, tg->rdev, &lo_dev, &lo_ino))
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

/* Whether the toolstack has taken the backend offline (online = 0, written
 * before it runs REMOVE).  Such a backend gets nothing: an ADD that comes
 * after REMOVE (a late uevent, a second runner) would set up a loop device
 * nobody frees.  Absent counts as online, as for blkback. */
static bool be_offline(const vbd__hp *h, xs_transaction_t t)
{
	char *v = NULL;
	bool off = vbd__hp_be_read(h, t, "online", &v) == 0 && !strcmp(v, "0");

	free(v);
	return off;
}

/* The transaction's body: 1 if another ADD of this backend got there
 * first or the backend went offline, 0 when everything is written, -errno. */
static int add_txn(vbd__hp *h, xs_transaction_t t, const vbd__hp_target *tg, char m, const char *pd,
                   const char *pdpath, bool loop)
{
	char p[192 + sizeof(h->entry)], rec[192 + sizeof(h->entry)], key[200 + sizeof(h->entry)];
	char file[48], *v = NULL;
	char mv[2] = { m, 0 };
	bool fresh = h->known && h->known->fresh;
	bool in_nodes = h->known && h->known->in_nodes;
	int r;

	/* In the transaction that makes the dir, nothing else can have been
	 * there: not removed, not offline, no other ADD's physical-device. */
	if (in_nodes)
		goto index;
	/* The backend may have been removed since we started: writing into it
	 * now would recreate it.  Written by the caller with online=1, the dir
	 * without its online was removed (or is being), and one with online=0
	 * is a detach's: one read says both. */
	r = vbd__hp_be_read(h, t, fresh ? "online" : "params", &v);
	if (r == 0 && fresh && !strcmp(v, "0")) {
		free(v);
		return 1;
	}
	free(v);
	v = NULL;
	if (r == -ENOENT)
		return vbd__errf(h->err, -ENOENT, "backend %s was removed during hotplug add", h->be);
	if (r < 0)
		return vbd__errf(h->err, r, "read %s/%s", h->be, fresh ? "online" : "params");
	if (vbd__hp_be_read(h, t, vbd__hp_done_key(h->be), &v) == 0) {
		free(v);
		return 1;
	}
	if (!fresh && be_offline(h, t))
		return 1;
index:
	if (m != '!') {
		r = vbd__hp_check_index(h, t, tg->path, tg->key, m);
		if (r < 0)
			return r;
	}
	/* The record REMOVE goes by, where only this domain writes; a record
	 * left by an earlier ADD of this backend whose REMOVE never ran is
	 * replaced (what it named is not this ADD's), and so is its index
	 * entry: under another key, nothing would ever drop it, and the
	 * reused backend, live, would keep that object busy. */
	snprintf(p, sizeof(p), "%s/sharing/%s", h->root, tg->key);
	snprintf(rec, sizeof(rec), "%s/backend/%s", h->root, h->entry);
	snprintf(file, sizeof(file), "%ju:%ju", (uintmax_t)tg->dev, (uintmax_t)tg->ino);
	snprintf(key, sizeof(key), "%s/key", rec);
	v = vbd__hp_read(h, t, key);
	if (v && v[0] && strcmp(v, tg->key) && !strchr(v, '/'))
		vbd__hp_index_drop(h, t, v, h->entry);
	/* Every record is written whole, its key with the rest, in one
	 * transaction: without a key there is none to replace. */
	r = in_nodes && !v && errno == ENOENT ? 0 : vbd__hp_rm(h, t, rec);
	free(v);
	v = NULL;
	if (r < 0 ||
	    (r = vbd__hp_write(h, t, p, h->entry, mv)) < 0 ||
	    (r = vbd__hp_rec_write(h, t, "key", tg->key)) < 0 ||
	    (loop && (r = vbd__hp_rec_write(h, t, "node", pdpath)) < 0) ||
	    (loop && (r = vbd__hp_rec_write(h, t, "file", file)) < 0))
		return vbd__errf(h->err, r, "write %s: %s", rec, strerror(-r));
	if ((!h->vbd3 && (r = vbd__hp_be_write(h, t, "physical-device", pd)) < 0) ||
	    (r = vbd__hp_be_write(h, t, "physical-device-path", pdpath)) < 0 ||
	    (loop && (r = vbd__hp_be_write(h, t, "node", pdpath)) < 0) ||
	    (!fresh && (r = vbd__hp_be_rm(h, t, "hotplug-error")) < 0) ||
	    (r = vbd__hp_be_write(h, t, "hotplug-status", "connected")) < 0)
		return vbd__errf(h->err, r, "write %s: %s", h->be, strerror(-r));
	return 0;
}

/* ADD's inputs, params and mode (malloc'd, the caller frees them), from
 * what the caller knows or else from the backend dir: 0 to go on, 1 if
 * there is nothing to do, -errno. */
static int add_inputs(vbd__hp *h, char **params, char **mode)
{
	char *v = NULL;
	int r;

	if (h->known && h->known->params) {
		/* The caller wrote them: see vbd__hp_known.  Whether the dir is
		 * still there and online, and whether another ADD got there
		 * first, the transaction reads. */
		if (!(*params = strdup(h->known->params)) || !(*mode = strdup(h->known->mode)))
			return vbd__errf(h->err, -ENOMEM, "hotplug add: out of memory");
		return !**params && h->known->cdrom;
	}
	r = vbd__hp_be_read(h, XBT_NULL, "params", params);
	if (r == -ENOENT && vbd__xb_exists(h->xs, XBT_NULL, h->be) <= 0)
		return vbd__errf(h->err, -ENOENT, "backend %s: no such node", h->be);
	if (r < 0)
		return vbd__errf(h->err, r == -ENOENT ? -EINVAL : r, "read %s/params: %s", h->be,
		                 strerror(-r));
	r = vbd__hp_be_read(h, XBT_NULL, "mode", mode);
	if (r < 0)
		return vbd__errf(h->err, r == -ENOENT ? -EINVAL : r, "read %s/mode: %s", h->be,
		                 strerror(-r));
	if (be_offline(h, XBT_NULL))
		return 1;
	/* An empty CD-ROM drive (devtype=cdrom without a target) has nothing
	 * to set up: without physical-device a blkback, Linux's or ours, waits
	 * in InitWait, as for a drive with no medium. */
	if (!**params && vbd__hp_be_read(h, XBT_NULL, "device-type", &v) == 0 &&
	    !strcmp(v, "cdrom")) {
		free(v);
		return 1;
	}
	free(v);
	v = NULL;
	/* Run twice (udev and libxl both, or a retry): nothing to do. */
	if (vbd__hp_be_read(h, XBT_NULL, vbd__hp_done_key(h->be), &v) == 0) {
		free(v);
		v = NULL;
		r = 0;
		if (vbd__hp_be_read(h, XBT_NULL, "hotplug-status", &v) < 0 || strcmp(v, "connected"))
			r = vbd__hp_be_write(h, XBT_NULL, "hotplug-status", "connected");
		free(v);
		if (r < 0)
			return vbd__errf(h->err, r, "write %s/hotplug-status", h->be);
		return 1;
	}
	return 0;
}

/* An ADD between its two halves: what add_prepare() opened and set up for
 * add_txn() to record, and what add_end() frees unless it was. */
struct vbd__hp_add {
	vbd__hp h;
	vbd__hp_known known;
	vbd_errbuf local;
	vbd__hp_target tg;
	char m;
	bool nothing;           /* nothing to set up (an empty CD-ROM drive, ...) */
	unsigned tries;         /* of its writes recorded (vbd__hp_add_batch) */
	int lfd;
	unsigned loopn;
	/* In the nodes' transaction (vbd__hp_add_begin), the loop device is
	 * reserved before it and bound, the mounts checked, while the store
	 * does its first window (add_while): these say what is done. */
	bool later, bound, checked;
	char pd[32], pdpath[PATH_MAX];
};

/* The tag of the loop device this step binds: killed before its record
 * is committed (or the store lost with the record), the device is still
 * found and freed by the remove step of this backend (detach, detach
 * --force). */
static void own_tag(const vbd__hp *h, char tag[LO_NAME_SIZE])
{
	vbd__loop_tag(tag, LO_NAME_SIZE, h->store, h->entry);
}

/* The loop device's number, so physical-device, known from its node. */
static int loop_known(vbd__hp_add *a)
{
	struct stat st;

	if (fstat(a->lfd, &st) < 0)
		return vbd__errf(a->h.err, -errno, "/dev/loop%u: %s", a->loopn, strerror(errno));
	snprintf(a->pd, sizeof(a->pd), "%x:%x", major(st.st_rdev), minor(st.st_rdev));
	snprintf(a->pdpath, sizeof(a->pdpath), "/dev/loop%u", a->loopn);
	snprintf(a->h.own_loop, sizeof(a->h.own_loop), "/dev/loop%u", a->loopn);
	return 0;
}

/* Everything of ADD before its transaction: the inputs, the target opened
 * and checked, the loop device.  0 (a->nothing: nothing to record), or
 * -errno said in h->err. */
static int add_prepare(vbd__hp_add *a)
{
	vbd__hp *h = &a->h;
	char *params = NULL, *mode = NULL;
	const char *path;
	vbd__hp_target *tg = &a->tg;
	bool writable;
	int r;

	r = add_inputs(h, &params, &mode);
	if (r != 0) {
		a->nothing = r > 0;
		r = r > 0 ? 0 : r;
		goto out;
	}
	a->m = vbd__hp_canon_mode(mode);
	writable = a->m != 'r';
	/* tap: "<format>:<path>"; only aio (raw) is served, and the path is
	 * absolute (libxl's block-tap hands it to tapdisk as it is). */
	path = params;
	if (h->vbd3) {
		char *colon = strchr(params, ':');

		if (!colon || (size_t)(colon - params) != 3 || strncmp(params, "aio", 3)) {
			r = vbd__errf(h->err, -ENOTSUP, "%s/params: format %.*s is not served (a vbd3 "
			              "backend here serves aio:<path>, raw images)", h->be,
			              colon ? (int)(colon - params < 16 ? colon - params : 16) : 16, params);
			goto out;
		}
		path = colon + 1;
		if (path[0] != '/') {
			r = vbd__errf(h->err, -EINVAL, "%s/params: the path of a vbd3 target must be "
			              "absolute", h->be);
			goto out;
		}
	}

	r = target_open(h, path, a->m, writable, tg);
	if (r < 0)
		goto out;
	if (a->m != '!') {
		/* Checked now to spare a loop device in the common conflict,
		 * and again in the transaction, where it counts.  For a toolstack's
		 * own fresh attach (vbd__hp_known), whose target its validation
		 * just opened, the index is left to the transaction: a conflict
		 * there costs a loop device set up and freed, the common case
		 * one request fewer.  In the nodes' transaction the mounts are
		 * read while the store does its first window (add_while). */
		r = a->later ? 0 : vbd__hp_check_mounts(h, tg, a->m);
		if (r == 0 && !(h->known && h->known->fresh))
			r = vbd__hp_check_index(h, XBT_NULL, tg->path, tg->key, a->m);
		if (r < 0)
			goto out;
	}
	a->checked = !a->later || a->m == '!';
	if (tg->blk || h->vbd3) {
		snprintf(a->pd, sizeof(a->pd), "%x:%x", major(tg->rdev), minor(tg->rdev));
		snprintf(a->pdpath, sizeof(a->pdpath), "%s", tg->path);
	} else if (a->later) {
		/* Bound while the store does the transaction's first window:
		 * its number is all the writes need. */
		r = vbd__loop_reserve(&a->lfd, &a->loopn, h->err);
		if (r == 0)
			r = loop_known(a);
	} else {
		char tag[LO_NAME_SIZE];

		own_tag(h, tag);
		r = vbd__loop_attach(tg->fd, !writable, tg->path, tag, 0, &a->lfd, &a->loopn, h->err);
		if (r < 0)
			goto out;
		a->bound = true;
		r = loop_known(a);
		vbd__crashpoint("hotplug.loop-attached");
	}
out:
	free(params);
	free(mode);
	return r;
}

/* After the transaction: the loop device stays if it was recorded, and
 * goes if not (a failure, or another ADD won); the target is closed. */
static void add_end(vbd__hp_add *a, bool recorded)
{
	/* Only one of ours: a device reserved and not bound may be another
	 * process's since. */
	if (a->lfd >= 0 && !recorded && a->bound)
		vbd__loop_detach(a->lfd);
	if (a->lfd >= 0)
		close(a->lfd);
	if (a->tg.fd >= 0)
		close(a->tg.fd);
	a->lfd = a->tg.fd = -1;
}

static int add_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	vbd__hp_add *a = ud;

	(void)xs;
	if (a->nothing)
		return 0;
	return add_txn(&a->h, t, &a->tg, a->m, a->pd, a->pdpath, a->lfd >= 0);
}

static int hp_add(vbd__hp *h, bool *busy)
{
	vbd__hp_add *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return vbd__errf(h->err, -ENOMEM, "hotplug add: out of memory");
	a->h = *h;
	a->lfd = a->tg.fd = -1;
	r = add_prepare(a);
	if (r == 0 && !a->nothing) {
		r = vbd__xb_txn(h->xs, add_body, a);
		/* > 0: a concurrent ADD of this backend won (it owns the loop
		 * device it recorded), or the backend went offline: ours goes. */
		if (r < 0 && (!h->err->msg[0] || r == -EAGAIN))
			vbd__errf(h->err, r, "commit %s: %s", h->be, strerror(-r));
		if (r == 0)
			vbd__crashpoint("hotplug.committed");
	}
	add_end(a, r == 0);
	r = r > 0 ? 0 : r;
	*busy = r == -EBUSY;
	free(a);
	return r;
}

int vbd__hp_add_begin(struct xs_handle *xs, const char *store, const char *be_path,
                      const vbd__hp_known *known, vbd_errbuf *err, vbd__hp_add **ret)
{
	vbd__hp_add *a;
	int r;

	*ret = NULL;
	if (!(a = calloc(1, sizeof(*a))))
		return vbd__errf(err, -ENOMEM, "hotplug add: out of memory");
	a->lfd = a->tg.fd = -1;
	a->later = true;
	a->known = *known;
	a->known.in_nodes = true;
	a->h.xs = xs;
	a->h.store = store;
	a->h.known = &a->known;
	a->h.err = &a->local;
	r = vbd__hp_name(&a->h, be_path);
	if (r == 0)
		r = add_prepare(a);
	if (r < 0 || a->nothing) {
		if (r < 0)
			memcpy(err->msg, a->local.msg, sizeof(err->msg));
		vbd__hp_add_end(a, false);
		return r;
	}
	*ret = a;
	return 0;
}

/* While the store starts the nodes' transaction: the mounts checked,
 * once (the loop device is bound in the next round trip, add_while()).
 * A target mounted in this domain aborts that transaction, nothing of it
 * sent. */
static int add_at_start(vbd__xb_batch *b, void *ud)
{
	vbd__hp_add *a = ud;
	int r;

	(void)b;
	if (a->checked)
		return 0;
	r = vbd__hp_check_mounts(&a->h, &a->tg, a->m);
	a->checked = r == 0;
	return r;
}

/* While the store does the nodes' transaction's first window: the loop
 * device bound, once (and the mounts checked, if the start's work did not
 * run); before the commit, which waits for this.  A device another
 * process took since it was found free is given up for another: -EAGAIN,
 * the transaction made again with the new one's number. */
static int add_while(void *ud)
{
	vbd__hp_add *a = ud;
	char tag[LO_NAME_SIZE];
	int r = add_at_start(NULL, a);

	if (r < 0)
		return r;
	if (a->lfd < 0 || a->bound)
		return 0;
	own_tag(&a->h, tag);
	r = vbd__loop_bind(a->lfd, a->loopn, a->tg.fd, a->m == 'r', a->tg.path, tag, 0, a->h.err);
	if (r == -EBUSY) {
		close(a->lfd);
		a->lfd = -1;
		r = vbd__loop_reserve(&a->lfd, &a->loopn, a->h.err);
		if (r == 0)
			r = loop_known(a);
		return r < 0 ? r : -EAGAIN;
	}
	if (r < 0)
		return r;
	a->bound = true;
	vbd__crashpoint("hotplug.loop-attached");
	return 0;
}

int vbd__hp_add_batch(vbd__xb_batch *chk, vbd__xb_batch *wr, void *add)
{
	vbd__hp_add *a = add;
	/* The first try guesses its reads (record.c); the next ones read. */
	vbd__hp_defer d = { chk, wr, 0, a->tries++ == 0 };
	int r;

	if (a->nothing)
		return 0;
	a->local.msg[0] = 0;
	/* chk's requests go first: its window is the first.  The mounts,
	 * about 50 us of reading /proc/self/mountinfo, while the store starts
	 * the transaction; the bind, about 80 us, while it does the window:
	 * each beside a round trip it would otherwise wait out. */
	if (!a->checked)
		vbd__xb_batch_at_start(chk, add_at_start, a);
	if (!a->checked || (a->lfd >= 0 && !a->bound))
		vbd__xb_batch_while(chk, add_while, a);
	a->h.defer = &d;
	r = add_txn(&a->h, XBT_NULL, &a->tg, a->m, a->pd, a->pdpath, a->lfd >= 0);
	a->h.defer = NULL;
	if (r == 0 && d.err < 0)
		r = vbd__errf(&a->local, d.err, "recording the writes of %s: %s", a->h.be,
		              strerror(-d.err));
	/* Nothing can have got there first in the transaction that made the
	 * dir: 1 would be a bug. */
	return r > 0 ? -EIO : r;
}

const char *vbd__hp_add_error(const vbd__hp_add *a)
{
	return a->local.msg;
}

void vbd__hp_add_end(vbd__hp_add *a, bool committed)
{
	if (!a)
		return;
	if (committed)
		vbd__crashpoint("hotplug.committed");
	add_end(a, committed);
	free(a);
}

/* hotplug-error first: libxl reads it when it sees hotplug-status. */
struct failure_job {
	vbd__hp *h;
	bool busy;
};

static int failure_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct failure_job *j = ud;

	if (vbd__xb_exists(xs, t, j->h->be) <= 0)
		return 1;     /* gone: nothing to report on */
	vbd__hp_be_write(j->h, t, "hotplug-error", j->h->err->msg);
	vbd__hp_be_write(j->h, t, "hotplug-status", j->busy ? "busy" : "error");
	return 0;
}

static void report_failure(vbd__hp *h, bool busy)
{
	struct failure_job j = { h, busy };

	vbd__xb_txn(h->xs, failure_body, &j);
}


/* ------------------------------------------------------------------ */


int vbd__hp_tagged_loops(struct xs_handle *xs, const char *store, const char *be_path, unsigned *n,
                         vbd_errbuf *err)
{
	char tag[LO_NAME_SIZE];
	vbd__hp h = { 0 };
	int r;

	*n = 0;
	h.xs = xs;
	h.err = err;
	r = vbd__hp_name(&h, be_path);
	if (r < 0 || !h.entry[0])
		return r;
	vbd__loop_tag(tag, sizeof(tag), store, h.entry);
	return vbd__loop_free_tagged(tag, true, n, err);
}

/* Called with a bare handle, the step takes the store to be the one
 * libxenstore's xs_open() found: $XENSTORED_PATH, else its default. */
int vbd_hotplug_builtin(struct xs_handle *xs, const char *be_path, vbd_hotplug_action action,
                        vbd_errbuf *err)
{
	return vbd__hotplug_run(xs, getenv("XENSTORED_PATH"), be_path, action, NULL, err);
}

int vbd__hotplug_run(struct xs_handle *xs, const char *store, const char *be_path,
                     vbd_hotplug_action action, const vbd__hp_known *known, vbd_errbuf *err)
{
	vbd_errbuf local = { "" };
	bool busy = false;
	vbd__hp *h;
	int r;

	if (!xs || !be_path || (action != VBD_HOTPLUG_ADD && action != VBD_HOTPLUG_REMOVE))
		return vbd__errf(err, -EINVAL, "vbd_hotplug_builtin: invalid argument");
	h = calloc(1, sizeof(*h));
	if (!h)
		return vbd__errf(err, -ENOMEM, "vbd_hotplug_builtin: out of memory");
	h->xs = xs;
	h->store = store;
	h->known = known;
	h->err = &local;
	r = vbd__hp_name(h, be_path);
	if (r == 0 && action == VBD_HOTPLUG_ADD) {
		r = hp_add(h, &busy);
		if (r < 0 && vbd__xb_exists(xs, XBT_NULL, h->be) > 0)
			report_failure(h, busy);
	} else if (r == 0) {
		r = vbd__hp_remove(h);
	}
	if (err)
		memcpy(err->msg, local.msg, sizeof(err->msg));
	free(h);
	return r;
}
