/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The names the built-in step gives a backend, and its record.
 *
 * Example: in dom0, the backend /local/domain/0/backend/vbd/5/51712 (or
 * backend/vbd/5/51712, relative to dom0's home) is entry 0-5-51712; its
 * record is /libvbd/backend/0-5-51712/{node, file, key}.  In driver domain
 * 3 the root is /local/domain/3/data/libvbd instead.  A backend outside
 * that layout, /x/y, is entry p_2fx_2fy (every byte outside [A-Za-z0-9-]
 * as _xx), and vbd__hp_entry_parse() gives the path back.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "toolstack/hotplug/hotplug_internal.h"

/* -errno of the xenstore call that just failed, -EIO if it set none. */
static int xs_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* *ret is malloc'd.  -ENOENT if absent. */
static int read_str(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *leaf,
                    char **ret)
{
	char *v = vbd__xb_read(xs, t, "%s/%s", dir, leaf);

	if (!v)
		return xs_errno();
	*ret = v;
	return 0;
}

/* A recording that failed fails the ADD: the first one's -errno is kept. */
static void deferred(const vbd__hp *h, int r)
{
	if (r < 0 && !h->defer->err)
		h->defer->err = r;
}

/* Deferred reads (h->defer): made now, outside the transaction, and
 * recorded with their answers, which the transaction reads again in its
 * first window (vbd__xb_batch_same: another answer there is -EAGAIN, and
 * the caller reads and records again).  With defer->guess they are not
 * made at all: each is taken as "no such node", what a fresh attach
 * nearly always finds (no other backend shares its file, no record was
 * left at its entry), and checked as that in the transaction.  A wrong
 * guess costs that one transaction; a right one the round trip of each
 * read (two for an attach: the sharing index, the old record's key). */
static bool guessed(const vbd__hp *h)
{
	return h->defer && h->defer->guess;
}

char *vbd__hp_read(const vbd__hp *h, xs_transaction_t t, const char *path)
{
	unsigned len;
	char *v;
	int e;

	if (guessed(h)) {
		deferred(h, vbd__xb_batch_same(h->defer->chk, path, NULL, 0));
		errno = ENOENT;
		return NULL;
	}
	v = xs_read(h->xs, h->defer ? XBT_NULL : t, path, &len);
	e = errno;

	if (h->defer) {
		if (v || e == ENOENT)
			deferred(h, vbd__xb_batch_same(h->defer->chk, path, v, v ? len : 0));
		else
			deferred(h, -(e ? e : EIO));
	}
	errno = e;
	return v;
}

int vbd__hp_exists(const vbd__hp *h, xs_transaction_t t, const char *path)
{
	int r;

	if (guessed(h)) {
		deferred(h, vbd__xb_batch_same_exists(h->defer->chk, path, false));
		return 0;
	}
	r = vbd__xb_exists(h->xs, h->defer ? XBT_NULL : t, path);

	if (h->defer)
		deferred(h, r < 0 ? r : vbd__xb_batch_same_exists(h->defer->chk, path, r));
	return r;
}

char **vbd__hp_dir(const vbd__hp *h, xs_transaction_t t, const char *path, unsigned *n)
{
	char **v;
	int e;

	if (guessed(h)) {
		deferred(h, vbd__xb_batch_same_dir(h->defer->chk, path, NULL, 0));
		*n = 0;
		errno = ENOENT;
		return NULL;
	}
	v = xs_directory(h->xs, h->defer ? XBT_NULL : t, path, n);
	e = errno;

	if (h->defer) {
		if (v || e == ENOENT)
			deferred(h, vbd__xb_batch_same_dir(h->defer->chk, path, v, v ? *n : 0));
		else
			deferred(h, -(e ? e : EIO));
	}
	errno = e;
	return v;
}

int vbd__hp_write(const vbd__hp *h, xs_transaction_t t, const char *dir, const char *key,
                  const char *val)
{
	int r;

	if (!h->defer)
		return vbd__xb_printf(h->xs, t, dir, key, "%s", val);
	deferred(h, r = vbd__xb_batch_printf(h->defer->wr, dir, key, "%s", val));
	return r;
}

int vbd__hp_rm(const vbd__hp *h, xs_transaction_t t, const char *path)
{
	int r;

	if (!h->defer)
		return vbd__xb_rm(h->xs, t, path);
	deferred(h, r = vbd__xb_batch_rm(h->defer->wr, path));
	return r;
}

static void be_key(const vbd__hp *h, char *buf, size_t size, const char *leaf)
{
	snprintf(buf, size, "%s/%s", h->be, leaf);
}

int vbd__hp_be_read(const vbd__hp *h, xs_transaction_t t, const char *leaf, char **ret)
{
	return read_str(h->xs, t, h->be, leaf, ret);
}

int vbd__hp_be_write(const vbd__hp *h, xs_transaction_t t, const char *leaf, const char *val)
{
	return vbd__hp_write(h, t, h->be, leaf, val);
}

int vbd__hp_be_rm(const vbd__hp *h, xs_transaction_t t, const char *leaf)
{
	char p[BE_MAX + 64];

	be_key(h, p, sizeof(p), leaf);
	return vbd__hp_rm(h, t, p);
}

/* This backend's record: <root>/backend/<entry>/<leaf>. */
static void rec_dir(const vbd__hp *h, char *buf, size_t size)
{
	snprintf(buf, size, "%s/backend/%s", h->root, h->entry);
}

int vbd__hp_rec_write(const vbd__hp *h, xs_transaction_t t, const char *leaf, const char *val)
{
	char dir[256 + 3 * BE_MAX];

	rec_dir(h, dir, sizeof(dir));
	return vbd__hp_write(h, t, dir, leaf, val);
}

int vbd__hp_rec_read(const vbd__hp *h, const char *leaf, char **ret)
{
	char dir[256 + 3 * BE_MAX];

	rec_dir(h, dir, sizeof(dir));
	return read_str(h->xs, XBT_NULL, dir, leaf, ret);
}


bool vbd__hp_all_digits(const char *s, size_t n)
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
	if (!c || !vbd__hp_all_digits(b + 1, (size_t)(c - b - 1)) ||
	    !vbd__hp_all_digits(c + 1, strlen(c + 1)))
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
	char *v = vbd__xb_read(xs, XBT_NULL, "domid");
	unsigned d = 0;

	if (v && vbd__hp_all_digits(v, strlen(v)))
		d = (unsigned)strtoul(v, NULL, 10);
	free(v);
	return d;
}

static void root_of(unsigned self, char *root, size_t size)
{
	if (self == 0)
		snprintf(root, size, "%s", DOM0_ROOT);
	else
		snprintf(root, size, "/local/domain/%u/data/libvbd", self);
}

void vbd__hp_root(struct xs_handle *xs, char *root, size_t size)
{
	root_of(own_domid(xs), root, size);
}

/* Our index entry: "<bdom>-<fe>-<devid>" for a vbd ("-<type>" appended for
 * other types), so that another attach can tell which domain uses the
 * target and find its backend; "p<escaped path>" for a path outside the
 * usual layout.  A relative be_path names the calling domain's backend.
 * A backend of another domain is refused: its domain runs its hotplug step,
 * on its own devices, with its own records. */
int vbd__hp_name(vbd__hp *h, const char *be_path)
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
	h->self = h->known ? h->known->self : own_domid(h->xs);
	h->bdom = h->self;
	root_of(h->self, h->root, sizeof(h->root));
	if (!strncmp(h->be, "/local/domain/", 14)) {
		const char *d = h->be + 14, *s = strchr(d, '/');

		if (s && vbd__hp_all_digits(d, (size_t)(s - d))) {
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
			h->vbd3 = !strcmp(type, "vbd3");
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

const char *vbd__hp_done_key(const char *be)
{
	return strstr(be, "/backend/vbd3/") ? "physical-device-path" : "physical-device";
}

/* The other side of vbd__hp_name: the backend path and domains of an entry. */
bool vbd__hp_entry_parse(const char *e, char *be, size_t size, unsigned *bdom, unsigned *fe)
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
