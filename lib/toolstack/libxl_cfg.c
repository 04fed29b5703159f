/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libxl's saved domain configuration, kept in step with our disks.
 *
 * libxl keeps what it created a domain with, devices included, in a JSON
 * file per domain and rebuilds the domain from it for save, restore,
 * migrate and reboot, dropping any device that file does not list
 * (docs/protocol.md, "libxl's saved domain configuration").  Example:
 * attach xvdb (51728) to domain 3, uuid 6f1c...:
 *
 *   /var/lib/xen/userdata-l.3.6f1c....domain-userdata-lock  open, flock
 *   /var/lib/xen/userdata-d.3.6f1c....libxl-json            read:
 *       { "c_info": {...}, "b_info": {...},
 *         "disks": [ { "pdev_path": "/img/root", "vdev": "xvda", ... } ] }
 *   the xenstore transaction of the nodes
 *   /var/lib/xen/userdata-n.3.6f1c....libxl-json            written:
 *       the same, with { "vdev": "xvdb", ... } appended to "disks"
 *       (libxl_device_disk_gen_json, libxl's own generator), renamed over d
 *   the lock file unlinked, then closed
 *
 * Only "disks" changes; every other value is copied through as parsed
 * (numbers as their text).  An entry whose vdev names the same device id
 * is replaced, as libxl replaces a stale entry.  Detach takes the entry
 * out the same way.  A domain without the file is not xl's: left alone.
 *
 * libxenlight's public libxl_userdata_retrieve() and _store() each take
 * and drop the lock, so a read-modify-write through them would lose a
 * concurrent libxl update; and the lock is per open file, so holding it
 * while calling _store() would deadlock.  Hence the lock and the files are
 * handled here, following libxl's protocol step for step (libxl__lock_file,
 * libxl__userdata_store in Xen 4.17).  The paths need the domain's uuid,
 * which the public libxl_domain_info() gives.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libxl.h>
/* libxl_json.h tells yajl 1 from 2 by yajl's version header only when
 * told that there is one. */
#define HAVE_YAJL_YAJL_VERSION_H 1
#include <libxl_json.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "toolstack/libxl_cfg.h"
#include "vbd/disk.h"

#ifndef VBD_XEN_LIB_DIR
#define VBD_XEN_LIB_DIR "/var/lib/xen"  /* Xen's XEN_LIB_DIR */
#endif

/* A configuration is a few kilobytes; the file is root's, but a bound
 * keeps a damaged one from costing more than this. */
#define CFG_MAX (16u << 20)
#define DEPTH_MAX 64

int vbd__lxcfg_files_init(vbd__lxcfg_files *f, const char *dir, unsigned domid,
                          const char *uuid)
{
	int a, b, c;

	a = snprintf(f->d, sizeof(f->d), "%s/userdata-d.%u.%s.libxl-json", dir, domid, uuid);
	b = snprintf(f->n, sizeof(f->n), "%s/userdata-n.%u.%s.libxl-json", dir, domid, uuid);
	c = snprintf(f->l, sizeof(f->l), "%s/userdata-l.%u.%s.domain-userdata-lock", dir, domid,
	             uuid);
	if (a < 0 || b < 0 || c < 0 || (size_t)a >= sizeof(f->d) || (size_t)b >= sizeof(f->n) ||
	    (size_t)c >= sizeof(f->l))
		return -ENAMETOOLONG;
	return 0;
}

/* ---- the edit ---- */

static bool gstr(yajl_gen g, const char *s)
{
	return yajl_gen_string(g, (const unsigned char *)s, strlen(s)) == yajl_gen_status_ok;
}

/* Copies v through unchanged.  false on a generator error or a tree too
 * deep. */
static bool emit(yajl_gen g, yajl_val v, int depth)
{
	size_t i;

	if (depth > DEPTH_MAX)
		return false;
	switch (v->type) {
	case yajl_t_string:
		return gstr(g, v->u.string);
	case yajl_t_number:
		/* As written: yajl keeps a number's text. */
		return yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r)) == yajl_gen_status_ok;
	case yajl_t_object:
		if (yajl_gen_map_open(g) != yajl_gen_status_ok)
			return false;
		for (i = 0; i < v->u.object.len; i++)
			if (!gstr(g, v->u.object.keys[i]) || !emit(g, v->u.object.values[i], depth + 1))
				return false;
		return yajl_gen_map_close(g) == yajl_gen_status_ok;
	case yajl_t_array:
		if (yajl_gen_array_open(g) != yajl_gen_status_ok)
			return false;
		for (i = 0; i < v->u.array.len; i++)
			if (!emit(g, v->u.array.values[i], depth + 1))
				return false;
		return yajl_gen_array_close(g) == yajl_gen_status_ok;
	case yajl_t_true:
		return yajl_gen_bool(g, 1) == yajl_gen_status_ok;
	case yajl_t_false:
		return yajl_gen_bool(g, 0) == yajl_gen_status_ok;
	case yajl_t_null:
		return yajl_gen_null(g) == yajl_gen_status_ok;
	default:
		return false;
	}
}

/* Whether a "disks" entry is the device devid: its vdev names that id.  A
 * vdev we cannot read is some other device (kept as it is). */
static bool is_devid(yajl_val disk, uint32_t devid)
{
	const char *path[] = { "vdev", NULL };
	yajl_val v = yajl_tree_get(disk, path, yajl_t_string);
	uint32_t id;

	return v && vbd_vdev_to_devid(v->u.string, &id) == 0 && id == devid;
}

/* "disks", with devid's entries dropped and add in the first one's place
 * (or last).  Omitted when empty, as libxl's generator omits it. */
static bool emit_disks(yajl_gen g, yajl_val disks, uint32_t devid, libxl_device_disk *add)
{
	size_t i, n = disks ? disks->u.array.len : 0, kept = 0;
	bool added = false;

	for (i = 0; i < n; i++)
		kept += !is_devid(disks->u.array.values[i], devid);
	if (!kept && !add)
		return true;
	if (!gstr(g, "disks") || yajl_gen_array_open(g) != yajl_gen_status_ok)
		return false;
	for (i = 0; i < n; i++) {
		yajl_val d = disks->u.array.values[i];

		if (!is_devid(d, devid)) {
			if (!emit(g, d, 2))
				return false;
		} else if (add && !added) {
			if (libxl_device_disk_gen_json(g, add) != yajl_gen_status_ok)
				return false;
			added = true;
		}
	}
	if (add && !added && libxl_device_disk_gen_json(g, add) != yajl_gen_status_ok)
		return false;
	return yajl_gen_array_close(g) == yajl_gen_status_ok;
}

/* The whole configuration: edited when edit is true, else copied (so that
 * "would anything change" compares two texts of one generator). */
static int generate(yajl_val root, bool edit, uint32_t devid, libxl_device_disk *add,
                    char **ret)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	bool ok, seen = false, has = false, b_info = false;
	size_t len, i;
	int r = -ENOMEM;

	if (!g)
		return -ENOMEM;
	yajl_gen_config(g, yajl_gen_beautify, 1);
	for (i = 0; i < root->u.object.len; i++) {
		has |= strcmp(root->u.object.keys[i], "disks") == 0;
		b_info |= strcmp(root->u.object.keys[i], "b_info") == 0;
	}
	ok = yajl_gen_map_open(g) == yajl_gen_status_ok;
	for (i = 0; ok && i < root->u.object.len; i++) {
		const char *k = root->u.object.keys[i];

		if (edit && strcmp(k, "disks") == 0) {
			ok = !seen && emit_disks(g, root->u.object.values[i], devid, add);
			seen = true;
		} else {
			ok = gstr(g, k) && emit(g, root->u.object.values[i], 1);
			/* A new "disks" goes where libxl's generator puts it. */
			if (ok && edit && !has && !seen && strcmp(k, "b_info") == 0) {
				ok = emit_disks(g, NULL, devid, add);
				seen = true;
			}
		}
	}
	if (ok && edit && !seen && !b_info)
		ok = emit_disks(g, NULL, devid, add);
	ok = ok && yajl_gen_map_close(g) == yajl_gen_status_ok &&
	     yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok;
	if (!ok) {
		r = -EBADMSG;
		goto out;
	}
	if (!(*ret = strndup((const char *)buf, len)))
		goto out;
	r = 0;
out:
	yajl_gen_free(g);
	return r;
}

int vbd__lxcfg_edit(const char *json, size_t len, uint32_t devid, const libxl_device_disk *add,
                    char **ret, vbd_errbuf *err)
{
	char *text = NULL, *before = NULL, *after = NULL, why[128] = "";
	yajl_val root = NULL, disks;
	size_t i;
	int r;

	*ret = NULL;
	/* libxl stores the text with its NUL; yajl wants it without. */
	while (len && json[len - 1] == 0)
		len--;
	if (memchr(json, 0, len))
		return vbd__errf(err, -EBADMSG, "libxl-json: a NUL inside the text");
	if (!(text = strndup(json, len)))
		return vbd__errf(err, -ENOMEM, "out of memory");
	root = yajl_tree_parse(text, why, sizeof(why));
	if (!root) {
		r = vbd__errf(err, -EBADMSG, "libxl-json is not JSON: %.*s", (int)strcspn(why, "\n"),
		              why);
		goto out;
	}
	if (!YAJL_IS_OBJECT(root)) {
		r = vbd__errf(err, -EBADMSG, "libxl-json is not an object");
		goto out;
	}
	for (i = 0; i < root->u.object.len; i++) {
		if (strcmp(root->u.object.keys[i], "disks") != 0)
			continue;
		disks = root->u.object.values[i];
		if (!YAJL_IS_ARRAY(disks)) {
			r = vbd__errf(err, -EBADMSG, "libxl-json: \"disks\" is not an array");
			goto out;
		}
		for (size_t j = 0; j < disks->u.array.len; j++)
			if (!YAJL_IS_OBJECT(disks->u.array.values[j])) {
				r = vbd__errf(err, -EBADMSG, "libxl-json: disk %zu is not an object", j);
				goto out;
			}
	}
	/* The generator takes a non-const disk; it only reads it. */
	if ((r = generate(root, false, devid, NULL, &before)) < 0 ||
	    (r = generate(root, true, devid, (libxl_device_disk *)add, &after)) < 0) {
		r = vbd__errf(err, r, r == -ENOMEM ? "out of memory"
		                      : "libxl-json: nested too deep to rewrite");
		goto out;
	}
	if (strcmp(before, after) == 0) {
		r = 0;
		goto out;
	}
	*ret = after;
	after = NULL;
	r = 1;
out:
	free(before);
	free(after);
	yajl_tree_free(root);
	free(text);
	return r;
}

/* ---- libxl's lock and files ---- */

/* libxl__lock_file: open (creating), flock exclusive (waiting), and make
 * sure the file locked is still the one at the path: an unlocker unlinks
 * it before closing, so a lock won on an unlinked file is no lock. */
static int lock_take(const char *path, int *ret_fd, vbd_errbuf *err)
{
	struct stat st, fst;
	int fd, r;

	for (;;) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
		if (fd < 0)
			return vbd__errf(err, -errno, "opening libxl's lock %s: %s", path,
			                 strerror(errno));
		while (flock(fd, LOCK_EX) < 0) {
			if (errno == EINTR)
				continue;
			r = vbd__errf(err, -errno, "locking %s: %s", path, strerror(errno));
			close(fd);
			return r;
		}
		if (fstat(fd, &fst) < 0) {
			r = vbd__errf(err, -errno, "fstat %s: %s", path, strerror(errno));
			close(fd);
			return r;
		}
		if (stat(path, &st) == 0) {
			if (st.st_dev == fst.st_dev && st.st_ino == fst.st_ino) {
				*ret_fd = fd;
				return 0;
			}
		} else if (errno != ENOENT) {
			r = vbd__errf(err, -errno, "stat %s: %s", path, strerror(errno));
			close(fd);
			return r;
		}
		close(fd);
	}
}

/* libxl__unlock_file: unlink first, then close (the other order lets a
 * waiter win a lock on a file about to be unlinked). */
static void lock_release(const char *path, int fd)
{
	unlink(path);
	close(fd);
}

/* The whole file; -ENOENT if there is none. */
static int read_all(const char *path, char **ret, size_t *ret_len, vbd_errbuf *err)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT
		       : vbd__errf(err, -errno, "opening %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = vbd__errf(err, -errno, "fstat %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > CFG_MAX) {
		r = vbd__errf(err, -EBADMSG, "%s: not a regular file of at most %u bytes", path,
		              CFG_MAX);
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		r = vbd__errf(err, -ENOMEM, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = vbd__errf(err, -errno, "reading %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = 0;
	*ret = buf;
	*ret_len = got;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

/* libxl__userdata_store: the new text, NUL included, to the n file (mode
 * 0600), closed, renamed over the d file. */
static int write_all(const vbd__lxcfg_files *f, const char *text, vbd_errbuf *err)
{
	size_t len = strlen(text) + 1, done = 0;
	int fd, r;

	fd = open(f->n, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return vbd__errf(err, -errno, "creating %s: %s", f->n, strerror(errno));
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = vbd__errf(err, -errno, "writing %s: %s", f->n, strerror(errno));
			close(fd);
			goto fail;
		}
		done += (size_t)n;
	}
	if (close(fd) < 0) {
		r = vbd__errf(err, -errno, "writing %s: %s", f->n, strerror(errno));
		goto fail;
	}
	if (rename(f->n, f->d) < 0) {
		r = vbd__errf(err, -errno, "renaming %s: %s", f->n, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	unlink(f->n);
	return r;
}

int vbd__lxcfg_update(const vbd__lxcfg_files *f, uint32_t devid, const libxl_device_disk *add,
                      const vbd__lxcfg_hooks *h, vbd_errbuf *err)
{
	static const vbd__lxcfg_hooks none;
	char *old = NULL, *text = NULL;
	bool between_ran = false;
	size_t len = 0;
	int fd = -1, r;

	if (!h)
		h = &none;
	if ((r = lock_take(f->l, &fd, err)) == -ENOENT) {
		/* No userdata directory: no libxl keeps domains here. */
		if (err)
			err->msg[0] = 0;
		r = h->between ? h->between(h->ud) : 0;
		return r > 0 ? 0 : r;
	}
	if (r < 0)
		return r;
	if (h->alive && (r = h->alive(h->ud)) <= 0) {
		if (r == 0)
			r = vbd__errf(err, -ENOENT, "the domain went away");
		goto out;
	}
	r = read_all(f->d, &old, &len, err);
	if (r == -ENOENT) {
		/* Not xl-managed. */
		r = h->between ? h->between(h->ud) : 0;
		if (r > 0)
			r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	if (len == 0 || (len == 1 && !old[0])) {
		/* libxl refuses an empty file too. */
		r = vbd__errf(err, -EBADMSG, "%s is empty", f->d);
		goto out;
	}
	if ((r = vbd__lxcfg_edit(old, len, devid, add, &text, err)) < 0) {
		vbd__errf(err, r, "%s", f->d);
		goto out;
	}
	if (text && h->check && (r = h->check(text, h->ud)) < 0)
		goto out;
	if (h->between) {
		if ((r = h->between(h->ud)) < 0)
			goto out;
		between_ran = true;
	}
	r = 0;
	if (text && (r = write_all(f, text, err)) == 0)
		r = 1;
	if (r < 0 && between_ran && h->undo)
		h->undo(h->ud);
out:
	lock_release(f->l, fd);
	free(old);
	free(text);
	return r;
}

/* ---- on a context ---- */

typedef struct lx_hooks {
	libxl_ctx *l;
	unsigned domid;
	vbd_ctx *c;
} lx_hooks;

static int lx_alive(void *ud)
{
	lx_hooks *x = ud;

	return libxl_domain_info(x->l, NULL, x->domid) == 0;
}

/* libxl itself must be able to read what is written: its own parser,
 * with the context it needs, over the new text. */
static int lx_check(const char *json, void *ud)
{
	lx_hooks *x = ud;
	libxl_domain_config cfg;
	int rc;

	libxl_domain_config_init(&cfg);
	rc = libxl_domain_config_from_json(x->l, &cfg, json);
	libxl_domain_config_dispose(&cfg);
	if (rc)
		return vbd__errf(&x->c->err, -EBADMSG, "libxenlight would not read the new "
		                 "configuration of domain %u (%d)", x->domid, rc);
	return 0;
}

/* Where domid's configuration lives; -ENOENT for a domain libxl does not
 * know, 1 if there is no libxl to ask (nothing to keep in step). */
static int files_of(vbd_ctx *c, unsigned domid, vbd__lxcfg_files *f, libxl_ctx **ret_l)
{
	libxl_dominfo info;
	libxl_ctx *l = NULL;
	char uuid[40];
	int rc;

	if (c->lxcfg_dir) {
		/* The test seam: the files in a directory of the test's, the
		 * uuid its own, no libxenlight. */
		snprintf(uuid, sizeof(uuid), "%s", c->lxcfg_uuid ? c->lxcfg_uuid : "test");
	} else {
		if (!(l = vbd__ctx_libxl(c)))
			return 1;
		libxl_dominfo_init(&info);
		rc = libxl_domain_info(l, &info, domid);
		if (rc == 0)
			snprintf(uuid, sizeof(uuid), LIBXL_UUID_FMT, LIBXL_UUID_BYTES(info.uuid));
		libxl_dominfo_dispose(&info);
		if (rc == ERROR_DOMAIN_NOTFOUND)
			return vbd__errf(&c->err, -ENOENT, "no domain %u (libxenlight)", domid);
		if (rc)
			return vbd__errf(&c->err, -EIO, "libxenlight could not say domain %u's uuid (%d)",
			                 domid, rc);
	}
	*ret_l = l;
	if (vbd__lxcfg_files_init(f, c->lxcfg_dir ? c->lxcfg_dir : VBD_XEN_LIB_DIR, domid, uuid) < 0)
		return vbd__errf(&c->err, -ENAMETOOLONG, "libxl userdata path too long");
	return 0;
}

/* The entry xl would have saved for this disk: the spec's fields as xl's
 * parser sets them, with the values the nodes hold (params, script). */
static int disk_of(const vbd_attach_options *o, const char *params, const char *script,
                   libxl_device_disk *d)
{
	const vbd_disk_spec *s = o->spec;

	d->backend_domid = o->backend_domid;
	d->backend = LIBXL_DISK_BACKEND_PHY;
	d->specification = LIBXL_DISK_SPECIFICATION_XEN;
	d->removable = s->cdrom;
	d->is_cdrom = s->cdrom;
	d->readwrite = !s->readonly;
	d->direct_io_safe = s->direct_io_safe;
	if (s->discard >= 0)
		libxl_defbool_set(&d->discard_enable, s->discard);
	libxl_defbool_set(&d->trusted, s->trusted);
	if (!*params)
		d->format = LIBXL_DISK_FORMAT_EMPTY;
	else if (!s->format || libxl_disk_format_from_string(s->format, &d->format) != 0)
		d->format = LIBXL_DISK_FORMAT_RAW;
	if (!(d->pdev_path = strdup(params)) || !(d->vdev = strdup(s->vdev)) ||
	    !(d->script = strdup(script)) ||
	    (s->backend_domain && !(d->backend_domname = strdup(s->backend_domain))))
		return -ENOMEM;
	return 0;
}

typedef struct attach_hooks {
	lx_hooks x;
	int (*write)(void *);
	void (*undo)(void *);
	void *ud;
} attach_hooks;

static int a_alive(void *ud)
{
	return lx_alive(&((attach_hooks *)ud)->x);
}

static int a_check(const char *json, void *ud)
{
	return lx_check(json, &((attach_hooks *)ud)->x);
}

static int a_between(void *ud)
{
	attach_hooks *a = ud;

	return a->write(a->ud);
}

static void a_undo(void *ud)
{
	attach_hooks *a = ud;

	a->undo(a->ud);
}

int vbd__lxcfg_attach(vbd_ctx *c, const vbd_attach_options *o, const char *params,
                      const char *script, int (*write)(void *), void (*undo)(void *), void *ud)
{
	attach_hooks a = { { NULL, o->domid, c }, write, undo, ud };
	vbd__lxcfg_hooks h = { NULL, NULL, a_between, a_undo, &a };
	vbd__lxcfg_files f;
	libxl_device_disk d;
	int r;

	libxl_device_disk_init(&d);
	r = files_of(c, o->domid, &f, &a.x.l);
	if (r == 1) {
		r = write(ud);
		goto out;
	}
	if (r < 0)
		goto out;
	if (a.x.l) {
		h.alive = a_alive;
		h.check = a_check;
	}
	if (disk_of(o, params, script, &d) < 0) {
		r = vbd__errf(&c->err, -ENOMEM, "out of memory");
		goto out;
	}
	r = vbd__lxcfg_update(&f, o->spec->devid, &d, &h, &c->err);
	if (r < 0)
		vbd__errf(&c->err, r, "keeping domain %u's libxl configuration in step", o->domid);
	else
		r = 0;
out:
	libxl_device_disk_dispose(&d);
	return r;
}

void vbd__lxcfg_forget(vbd_ctx *c, unsigned domid, uint32_t devid)
{
	lx_hooks x = { NULL, domid, c };
	vbd__lxcfg_hooks h = { NULL, NULL, NULL, NULL, &x };
	vbd__lxcfg_files f;
	vbd_errbuf keep = c->err, err = { 0 };
	int r;

	r = files_of(c, domid, &f, &x.l);
	if (r == 0) {
		if (x.l) {
			h.alive = lx_alive;
			h.check = lx_check;
		}
		r = vbd__lxcfg_update(&f, devid, NULL, &h, &err);
	}
	/* A domain already gone took its configuration with it. */
	if (r < 0 && r != -ENOENT)
		vbd__log(c, VBD_LOG_WARNING, "domain %u's libxl configuration still lists device %u: %s",
		         domid, devid, err.msg[0] ? err.msg : c->err.msg);
	c->err = keep;
}
