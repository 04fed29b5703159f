/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_store_mem's look at the store's tree: the store's internals, which
 * cannot share a file with libxenstore's header (both name an xs_watch). */
#include <errno.h>
#include <string.h>

#include "store/xs_internal.h"
#include "store_mem_peek.h"

int vbd_test_node_blocks(vbd_store *s, void *arg)
{
	vbd_test_blocks *b = arg;
	const xs_node *n = vbd__hmap_get(&s->tree, b->path, strlen(b->path));

	if (!n)
		return -ENOENT;
	b->node = n;
	b->npath = n->path;
	b->kids = n->kids;
	b->perms = n->perms.p;
	b->gen = n->gen;
	return 0;
}

int vbd_test_store_trim(vbd_store *s, void *arg)
{
	(void)arg;
	vbd__store_trim(s);
	return 0;
}
