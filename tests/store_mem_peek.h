/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBD_TEST_STORE_MEM_PEEK_H
#define VBD_TEST_STORE_MEM_PEEK_H

#include <stdint.h>

#include "vbd/store.h"

/* Where the tree's node of path keeps its blocks, and its generation. */
typedef struct vbd_test_blocks {
	const char *path;
	const void *node, *npath, *kids, *perms;
	uint64_t gen;
} vbd_test_blocks;

/* For vbd_test_store_call(): fills the vbd_test_blocks at arg (-ENOENT if
 * absent); trims the store as its idle timer does. */
int vbd_test_node_blocks(vbd_store *s, void *arg);
int vbd_test_store_trim(vbd_store *s, void *arg);

#endif
