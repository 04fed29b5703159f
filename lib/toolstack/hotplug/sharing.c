/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Whether a target may be used in a mode, as the block script decides it:
 * against the other backends of this domain (the sharing index) and
 * against this domain's own mounts.
 *
 * Example: /srv/a.img (st_dev 2051, inode 1234) has the key f-2051-1234.
 * With /libvbd/sharing/f-2051-1234/0-5-51712 = w, domain 6 asking for it in
 * mode w gets -EBUSY naming domain 5's backend, unless 6 and 5 are one VM
 * (the same vm path, or one the other's stub domain).
 *
 * An entry is live only while what it stands for is: its backend has its
 * physical-device, and its record (ours: <root>/backend/0-5-51712) still
 * names this key and, for a loop device, that device is still bound to the
 * file.  Otherwise it is stale (the backend went without REMOVE, its path
 * was reused for another file, REMOVE freed the loop device and stopped
 * before its transaction): skipped, and dropped inside a transaction.  Only
 * the records decide, never the backend's params or node: the liveness of
 * a claim is judged by what this domain wrote.  An entry without a record
 * is judged by its backend alone.
 */
#include <errno.h>
#include <linux/major.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <xenstore.h>

#include "toolstack/hotplug/hotplug_internal.h"

/* r, w, or ! (w without any check), as the block script canonicalises. */
char vbd__hp_canon_mode(const char *mode)
{
	if (!strchr(mode, 'w'))
		return 'r';
	return strchr(mode, '!') ? '!' : 'w';
}

static char *dom_read(const vbd__hp *h, xs_transaction_t t, long dom, const char *leaf)
{
	char p[64];

	if (dom < 0)
		return NULL;
	snprintf(p, sizeof(p), "/local/domain/%ld/%s", dom, leaf);
	return vbd__hp_read(h, t, p);
}

static bool eq(const char *a, const char *b)
{
	return a && b && *a && !strcmp(a, b);
}

/* Whether two frontends belong to one VM, as the block script's same_vm:
 * the same vm path, or one is the other's device-model stub domain
 * ("target").  Unlike the script, an unreadable vm counts as different. */
static bool same_vm(const vbd__hp *h, xs_transaction_t t, unsigned a, unsigned b)
{
	char *va, *vb, *ta, *tb, *vta = NULL, *vtb = NULL;
	bool r;

	if (a == b)
		return true;
	va = dom_read(h, t, a, "vm");
	vb = dom_read(h, t, b, "vm");
	ta = dom_read(h, t, a, "target");
	tb = dom_read(h, t, b, "target");
	if (ta && vbd__hp_all_digits(ta, strlen(ta)))
		vta = dom_read(h, t, strtol(ta, NULL, 10), "vm");
	if (tb && vbd__hp_all_digits(tb, strlen(tb)))
		vtb = dom_read(h, t, strtol(tb, NULL, 10), "vm");
	r = eq(va, vb) || eq(vta, vb) || eq(va, vtb) || eq(vta, vtb);
	free(va);
	free(vb);
	free(ta);
	free(tb);
	free(vta);
	free(vtb);
	return r;
}

/* The directory is listed first: with no other entry it goes whole, one
 * request, else the entry alone goes. */
int vbd__hp_index_take(vbd__hp *h, xs_transaction_t t, const char *dir, const char *entry)
{
	char p[192 + sizeof(h->entry)];
	unsigned n, i, others = 0;
	char **ents = vbd__hp_dir(h, t, dir, &n);

	if (!ents && errno == ENOENT)
		return 0;
	for (i = 0; ents && i < n; i++)
		others += strcmp(ents[i], entry) != 0;
	free(ents);
	if (ents && !others)
		return vbd__hp_rm(h, t, dir);
	snprintf(p, sizeof(p), "%s/%s", dir, entry);
	return vbd__hp_rm(h, t, p);
}

void vbd__hp_index_drop(vbd__hp *h, xs_transaction_t t, const char *key, const char *entry)
{
	char dir[192];

	snprintf(dir, sizeof(dir), "%s/sharing/%s", h->root, key);
	vbd__hp_index_take(h, t, dir, entry);
}

/* Whether entry ent of key, whose backend is obe, no longer stands for a
 * use of the object: see the head of the file.  Anything that cannot be
 * told counts as live. */
static bool stale(vbd__hp *h, xs_transaction_t t, const char *key, const char *ent,
                  const char *obe)
{
	char pd[BE_MAX + 80], rec[3 * BE_MAX + 96], *rkey, *node, *file;
	vbd_errbuf scratch = { "" };
	bool r = false;

	snprintf(pd, sizeof(pd), "%s/%s", obe, vbd__hp_done_key(obe));
	if (obe[0] && vbd__hp_exists(h, t, pd) == 0)
		return true;
	snprintf(rec, sizeof(rec), "%s/backend/%s/key", h->root, ent);
	rkey = vbd__hp_read(h, t, rec);
	if (!rkey)
		return false;
	snprintf(rec, sizeof(rec), "%s/backend/%s/node", h->root, ent);
	node = vbd__hp_read(h, t, rec);
	snprintf(rec, sizeof(rec), "%s/backend/%s/file", h->root, ent);
	file = vbd__hp_read(h, t, rec);
	if (strcmp(rkey, key))
		r = true;
	else if (node && file)
		/* Freed, and maybe taken by this very ADD for the same file. */
		r = !strcmp(node, h->own_loop) || vbd__loop_bound(node, file, &scratch) == 0;
	free(rkey);
	free(node);
	free(file);
	return r;
}

/* 0 if this backend may use the object named key in mode m as far as the
 * other backends in the index are concerned, else -EBUSY naming one of
 * them.  Stale entries are skipped, and removed when t is a transaction
 * (or recorded to be, with h->defer).
 * Entries of other backend domains name other objects (a device number
 * means something else there) and are skipped too. */
int vbd__hp_check_index(vbd__hp *h, xs_transaction_t t, const char *path, const char *key, char m)
{
	char dir[192], p[192 + sizeof(h->entry)], obe[BE_MAX + 64];
	unsigned n, i, ob = 0, ofe = 0;
	char **ents, *om = NULL;
	int r = 0;

	snprintf(dir, sizeof(dir), "%s/sharing/%s", h->root, key);
	ents = vbd__hp_dir(h, t, dir, &n);
	if (!ents)
		return errno == ENOENT ? 0 : vbd__errf(h->err, -(errno ? errno : EIO), "read %s", dir);
	for (i = 0; i < n && r == 0; i++) {
		bool parsed;

		if (!strcmp(ents[i], h->entry))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, ents[i]);
		free(om);
		if (!(om = vbd__hp_read(h, t, p)))
			continue;
		if (m == 'r' && om[0] != 'w')
			continue;
		obe[0] = 0;
		parsed = vbd__hp_entry_parse(ents[i], obe, sizeof(obe), &ob, &ofe);
		if (parsed && ob != h->bdom)
			continue;
		if (stale(h, t, key, ents[i], obe)) {
			if (t != XBT_NULL || h->defer)
				vbd__hp_index_drop(h, t, key, ents[i]);
			continue;
		}
		if (parsed && h->fe >= 0 && same_vm(h, t, (unsigned)h->fe, ofe))
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

/* -EBUSY if the target is mounted in this domain in a way that mode m
 * forbids: for w any mount, for r a read-write one.  A regular file counts
 * as mounted when a loop device backed by it is.  The cost grows with the
 * number of mounts, not of VBDs. */
int vbd__hp_check_mounts(vbd__hp *h, const vbd__hp_target *tg, char m)
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
			      vbd__loop_backed_by(maj, min, tg->dev, tg->ino);
		if (hit)
			r = vbd__errf(h->err, -EBUSY, "%s is mounted %son %s in this domain, and so "
			              "cannot be used %s", tg->path, tg->blk ? "" : "(through a loop device) ",
			              mnt, m == 'r' ? "read-only" : "read-write");
	}
	free(line);
	fclose(f);
	return r;
}
