/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Persistent grants of one ring: gref -> mapped page, at most `max`, least
 * recently used first out; once full, what replaces an entry joins at the
 * least recently used end (but every VBD__PGRANT_PROMOTE-th), so that a working
 * set larger than the cache keeps most of it instead of none; its arrays
 * grow as it fills.  Only the ring's
 * worker uses it (and the main thread once the worker is joined), so there
 * is no lock.  The cache maps nothing itself: its user maps a miss and
 * unmaps what it evicts.
 */
#ifndef VBD_LIB_BLKBACK_PGRANT_H
#define VBD_LIB_BLKBACK_PGRANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At max, every PGRANT_PROMOTE-th newcomer joins as most recently used:
 * how a new working set gets in. */
#define VBD__PGRANT_PROMOTE 4u

struct vbd__pgrant {
	uint32_t gref;
	void *addr;
	uint64_t used;          /* the request that last used it */
	int hnext;              /* hash chain, or the free list */
	int prev, next;         /* LRU list: head is the most recent */
};

struct vbd__pgrant_cache {
	struct vbd__pgrant *e;
	int *bucket;               /* in the same mapping as e */
	unsigned max, cap, nbuckets, count;
	unsigned replaced;         /* entries evicted to make room, at max */
	bool add_cold;             /* the next add joins at the LRU end */
	int head, tail, free;
	size_t bytes;              /* mapped for e and bucket */
};

/* An empty cache of at most max entries; it allocates as it fills. */
int vbd__pgrant_init(struct vbd__pgrant_cache *c, unsigned max);
/* What a cache of `entries` entries holds, in bytes (whole pages). */
size_t vbd__pgrant_bytes_for(unsigned entries);
/* Frees the cache; the caller unmapped every entry (vbd__pgrant_pop). */
void vbd__pgrant_done(struct vbd__pgrant_cache *c);
/* The page of gref, marked as used by request `req` and moved to the front;
 * NULL if not cached. */
void *vbd__pgrant_get(struct vbd__pgrant_cache *c, uint32_t gref, uint64_t req);
/* Makes room for one entry.  With may_add, it uses a free entry or grows
 * the arrays while below max (c->bytes changes; out of memory, it evicts
 * as at max); without (the backend-wide budget is spent), or at max, it
 * removes the least recently used entry that no request numbered `req` or
 * later uses (it may be in flight), and returns its page for the caller
 * to unmap (*ret_evicted), or NULL.  Returns 0, or -ENOSPC if such
 * requests use every entry (or the cache is empty and may not or cannot
 * grow): the caller maps that grant for the request only. */
int vbd__pgrant_make_room(struct vbd__pgrant_cache *c, uint64_t req, bool may_add,
                          void **ret_evicted);
/* Adds gref (not cached) at addr; there must be room. */
void vbd__pgrant_add(struct vbd__pgrant_cache *c, uint32_t gref, void *addr, uint64_t req);
/* Removes any entry, returning its page; NULL when empty. */
void *vbd__pgrant_pop(struct vbd__pgrant_cache *c);

#endif
