/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * remove.c - the built-in hotplug step's REMOVE (step.c runs it).
 *
 * It goes by this domain's record only (step.c's worked example: the
 * record of 0-5-51712 names /dev/loop3, bound to 2051:1234, and the key
 * f-2051-1234): the loop device is freed if it is still bound to that
 * file, then one transaction drops the index entry (the key whole when it
 * was the last) and the record.  Run by the toolstack, the same
 * transaction removes the device's nodes (vbd__hp_known's also), pipelined
 * on its bus's wire client when it gives one (also_part): the index's
 * listing and the nodes' parents in one window, the removals in the next.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/loop.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "toolstack/hotplug/hotplug_internal.h"

static int remove_txn(vbd__hp *h, xs_transaction_t t, const char *key, bool be_there)
{
	char dir[192], p[192 + sizeof(h->entry)];
	int r;

	if (key && key[0]) {
		snprintf(dir, sizeof(dir), "%s/sharing/%s", h->root, key);
		snprintf(p, sizeof(p), "%s/%s", dir, h->entry);
		r = vbd__hp_index_take(h, t, dir, h->entry);
		if (r < 0)
			return vbd__errf(h->err, r, "remove %s", p);
	}
	snprintf(p, sizeof(p), "%s/backend/%s", h->root, h->entry);
	if ((r = vbd__xb_rm(h->xs, t, p)) < 0)
		return vbd__errf(h->err, r, "remove %s", p);
	/* So that a repeated REMOVE finds nothing to free, and a later ADD
	 * really adds. */
	if (be_there && ((r = vbd__hp_be_rm(h, t, "node")) < 0 ||
	                 (r = vbd__hp_be_rm(h, t, "physical-device")) < 0 ||
	                 (r = vbd__hp_be_rm(h, t, "physical-device-path")) < 0 ||
	                 (r = vbd__hp_be_rm(h, t, "hotplug-status")) < 0))
		return vbd__errf(h->err, r, "write %s", h->be);
	return 0;
}

struct remove_job {
	vbd__hp *h;
	const char *key;
	bool be_there;
	bool said;          /* remove_txn wrote the reason into err */
};

static int remove_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct remove_job *j = ud;
	int r;

	r = remove_txn(j->h, t, j->key, j->be_there);
	j->said = r < 0;
	if (r == 0 && j->h->known && j->h->known->also)
		r = j->h->known->also(xs, t, j->h->known->also_ud);
	return r;
}

/* REMOVE's transaction pipelined (vbd__hp_known's bus and also_part): the
 * index key's listing in the first window, with the caller's parents;
 * then the entry (or the key, when it was the last) and the record
 * removed in the second, as remove_txn() removes them, with the caller's
 * removals.  The backend dir goes with the caller's part, so its keys are
 * not cleared one by one (be_there is false with also). */
struct remove_pipe {
	vbd__hp *h;
	const char *key;
	char dir[192];
	vbd__xb_list list;
};

static int remove_pipe_reads(vbd__xb_batch *b, void *ud)
{
	struct remove_pipe *rp = ud;

	vbd__xb_list_clear(&rp->list);
	if (!rp->key || !rp->key[0]) {
		rp->list.err = -ENOENT;     /* no index entry to drop */
		return 0;
	}
	snprintf(rp->dir, sizeof(rp->dir), "%s/sharing/%s", rp->h->root, rp->key);
	return vbd__xb_batch_dir(b, rp->dir, vbd__xb_list_take, &rp->list);
}

static int remove_pipe_plan(vbd__xb_batch *b, void *ud)
{
	struct remove_pipe *rp = ud;
	char p[192 + sizeof(rp->h->entry)];
	unsigned others = 0;
	const char *q;
	int r = 0;

	if (rp->list.err && rp->list.err != -ENOENT)
		return rp->list.err > 0 ? -EIO : rp->list.err;
	if (rp->list.err == 0) {
		/* vbd__hp_index_take(): the key whole when ours is its only entry. */
		for (q = rp->list.names; q && q < rp->list.names + rp->list.len; q += strlen(q) + 1)
			others += strcmp(q, rp->h->entry) != 0;
		snprintf(p, sizeof(p), "%s/%s", rp->dir, rp->h->entry);
		r = vbd__xb_batch_rm(b, others ? p : rp->dir);
	}
	snprintf(p, sizeof(p), "%s/backend/%s", rp->h->root, rp->h->entry);
	return r < 0 ? r : vbd__xb_batch_rm(b, p);
}

static int remove_pipelined(vbd__hp *h, const char *key)
{
	struct remove_pipe rp = { .h = h, .key = key, .list = { NULL, 0, 1 } };
	vbd__xb_part parts[2] = { { remove_pipe_reads, remove_pipe_plan, &rp },
		                  *h->known->also_part };
	int r = vbd__xb_bus_run_parts(h->known->bus, parts, 2);

	vbd__xb_list_clear(&rp.list);
	return r;
}

/* The index key of a loop device's file, from the record's "file"
 * ("st_dev:inode", decimal): true and *ret (malloc'd) "f-st_dev-inode",
 * false for anything else. */
static bool file_key(const char *file, char **ret)
{
	uintmax_t dev, ino;
	int end = 0;

	if (sscanf(file, "%ju:%ju%n", &dev, &ino, &end) != 2 || file[end] ||
	    !(file[0] >= '0' && file[0] <= '9') || asprintf(ret, "f-%ju-%ju", dev, ino) < 0) {
		*ret = NULL;
		return false;
	}
	return true;
}

/* Goes by this domain's record only: whatever the backend dir says now
 * (node, params, physical-device) may have been rewritten by its owner, or
 * be gone. */
int vbd__hp_remove(vbd__hp *h)
{
	char *node = NULL, *file = NULL, *key = NULL;
	bool be_there;
	int r = 0;

	/* With the caller's removal of the dir in the transaction, its keys go
	 * with it (vbd__hp_known). */
	be_there = !(h->known && h->known->also) && vbd__xb_exists(h->xs, XBT_NULL, h->be) > 0;
	vbd__hp_rec_read(h, "node", &node);
	vbd__hp_rec_read(h, "file", &file);
	/* A loop device's record names its file as "2051:1234", which is its
	 * key f-2051-1234 (ADD writes both from the one stat): the key is
	 * read only for a record without a loop device. */
	if (!(node && file && file_key(file, &key)))
		vbd__hp_rec_read(h, "key", &key);
	if (node && file) {
		r = vbd__loop_free_bound(node, file, h->err);
		if (r < 0)
			goto out;
	}
	if (h->entry[0] && (!h->known || h->known->sweep || !node || !file)) {
		/* Ours that no record names: set up by an ADD killed before
		 * its commit, or recorded in a store that died since. */
		char tag[LO_NAME_SIZE];
		unsigned freed = 0;

		vbd__loop_tag(tag, sizeof(tag), h->store, h->entry);
		r = vbd__loop_free_tagged(tag, false, &freed, h->err);
		if (r < 0)
			goto out;
	}
	{
		struct remove_job j = { h, key, be_there, false };

		r = 1;
		if (h->known && h->known->also && h->known->also_part && h->known->bus)
			r = remove_pipelined(h, key);
		/* Not pipelined, or that failed: one by one (both are the same
		 * removals, and either may run after the other). */
		if (r != 0)
			r = vbd__xb_txn(h->xs, remove_body, &j);
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
