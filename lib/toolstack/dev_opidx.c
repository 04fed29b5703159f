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
 */
#include <stdio.h>
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
