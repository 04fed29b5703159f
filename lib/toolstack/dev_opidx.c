/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The operations in progress on a context, by the dirs their waits follow,
 * so that a kept watch's event (dev_op.c) reaches its device's operations
 * and no other.  Before, every event went to every operation: with a
 * thousand attaches on one context, each of their events cost a thousand
 * calls.  Each operation is in the index under four dirs, from its launch
 * to its free: its backend and frontend device dirs and both drivers'
 * error/<nodename> dirs.
 *
 * Example: the kept watch on /local/domain/0/backend/vbd/5 fires for
 * /local/domain/0/backend/vbd/5/51712/state.  The key is the path up to
 * the first '/' after the watched one, /local/domain/0/backend/vbd/5/51712:
 * the backend dir of the operations on domain 5's device 51712 (an attach,
 * or a detach, or both for a moment).  An event on the watched dir itself
 * (made, or pruned) is no operation's.
 *
 * Below, the kept watches themselves, which the waits (dev_op.c) take and
 * give back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/dev_internal.h"

static unsigned opidx_hash(const char *dir, size_t n)
{
	unsigned h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)dir[i]) * 16777619u;
	return h % VBD__DEV_OPIDX;
}

void vbd__dev_op_index(vbd_dev_op *op)
{
	const char *dirs[4];
	unsigned i;

	snprintf(op->be_errdir, sizeof(op->be_errdir), "%s", op->p.be_err);
	snprintf(op->fe_errdir, sizeof(op->fe_errdir), "%s", op->p.fe_err);
	if (strrchr(op->be_errdir, '/'))
		*strrchr(op->be_errdir, '/') = 0;
	if (strrchr(op->fe_errdir, '/'))
		*strrchr(op->fe_errdir, '/') = 0;
	dirs[0] = op->p.be;
	dirs[1] = op->p.fe;
	dirs[2] = op->be_errdir;
	dirs[3] = op->fe_errdir;
	for (i = 0; i < 4; i++) {
		struct vbd__dev_opkey *k = &op->keys[i];
		unsigned h = opidx_hash(dirs[i], strlen(dirs[i]));

		k->op = op;
		k->dir = dirs[i];
		k->next = op->c->opidx[h];
		op->c->opidx[h] = k;
	}
	op->indexed = true;
}

void vbd__dev_op_unindex(vbd_dev_op *op)
{
	struct vbd__dev_opkey **pp;
	unsigned i;

	if (!op->indexed)
		return;
	for (i = 0; i < 4; i++)
		for (pp = &op->c->opidx[opidx_hash(op->keys[i].dir, strlen(op->keys[i].dir))]; *pp;
		     pp = &(*pp)->next)
			if (*pp == &op->keys[i]) {
				*pp = op->keys[i].next;
				break;
			}
	op->indexed = false;
}

int vbd__dev_op_find(vbd_ctx *c, const char *watched, const char *path,
                     vbd_dev_op *hit[VBD__DEV_FOUND_MAX])
{
	size_t n = strlen(watched), len;
	struct vbd__dev_opkey *key;
	const char *slash;
	int nhit = 0;

	if (strncmp(path, watched, n) || path[n] != '/')
		return 0;
	slash = strchr(path + n + 1, '/');
	len = slash ? (size_t)(slash - path) : strlen(path);
	for (key = c->opidx[opidx_hash(path, len)]; key; key = key->next) {
		if (strncmp(key->dir, path, len) || key->dir[len])
			continue;
		if (nhit == VBD__DEV_FOUND_MAX)
			return -1;
		hit[nhit++] = key->op;
	}
	return nhit;
}

/* ---- the watches of the waits, kept by the context ----
 *
 * A wait follows four nodes of its device: the backend and frontend dirs
 * and the drivers' error nodes.  Watching each and removing the watch
 * afterwards cost eight requests per attach and four per detach, so the
 * context watches their parents instead (the guest's backend dir under its
 * backend domain, its device/vbd, and both error dirs), keeps those
 * watches between operations (up to KEPT_IDLE unused ones, the least
 * recently used going first), and hands each event to the operations of
 * the device it is under (the context's index, dev_opidx.c), which take
 * only their own nodes' (the kept watch's tell).  Repeated attaches and
 * detaches of one guest's devices then set no watch. */
#define KEPT_IDLE 8

static void kept_fired(vbd_ctx *c, const char *path, void *ud)
{
	vbd__dev_kept *k = ud;
	vbd_dev_op *op, *next, *hit[VBD__DEV_FOUND_MAX];
	int n = vbd__dev_op_find(c, k->path, path, hit), i;

	/* tell (dev_op.c) defers its check to a timer, so no operation
	 * ends (and is freed) under these calls but, out of memory, the one
	 * called. */
	for (i = 0; i < n; i++)
		k->tell(c, path, hit[i]);
	if (n >= 0)
		return;
	/* More operations on one device than that: each is told, as all
	 * were before the index. */
	for (op = c->ops; op; op = next) {
		next = op->next;
		k->tell(c, path, op);
	}
}

int vbd__dev_kept_get(vbd_ctx *c, const char *path, vbd__dev_tell_fn tell,
                      vbd__dev_kept **ret)
{
	vbd__dev_kept *k;
	size_t n = strlen(path);
	int r;

	for (k = c->kept; k; k = k->next)
		if (!strcmp(k->path, path)) {
			k->users++;
			*ret = k;
			return 0;
		}
	if (!(k = calloc(1, sizeof(*k) + n + 1)))
		return vbd__errf(&c->err, -ENOMEM, "watching %s: out of memory", path);
	memcpy(k->path, path, n + 1);
	k->c = c;
	k->tell = tell;
	k->serial = ++c->kept_serial;
	if ((r = vbd__ctx_watch(c, path, kept_fired, k, &k->w)) < 0) {
		free(k);
		return r;
	}
	k->users = 1;
	k->next = c->kept;
	c->kept = k;
	*ret = k;
	return 0;
}

static void kept_drop(vbd_ctx *c, vbd__dev_kept *k)
{
	vbd__dev_kept **pp;

	for (pp = &c->kept; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	vbd__ctx_unwatch(c, k->w);
	free(k);
}

/* The list is kept in the order of use, the last released first, so
 * that the idle entries beyond KEPT_IDLE are the least recently used. */
void vbd__dev_kept_put(vbd_ctx *c, vbd__dev_kept *k)
{
	vbd__dev_kept **pp, *i, *last = NULL;
	unsigned idle = 0;

	if (!k)
		return;
	k->users--;
	for (pp = &c->kept; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	k->next = c->kept;
	c->kept = k;
	for (i = c->kept; i; i = i->next)
		if (!i->users && ++idle > KEPT_IDLE)
			last = i;
	if (last)
		kept_drop(c, last);
}

void vbd__dev_kept_free(vbd_ctx *c)
{
	while (c->kept)
		kept_drop(c, c->kept);
}
