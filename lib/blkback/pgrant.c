/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The persistent-grant LRU: a chained hash on gref plus a doubly linked
 * list, all in index-linked arrays allocated once.
 *
 *     max 2: use 5, use 6 -> [6 5];  use 5 -> [5 6];  use 7: evict 6 -> [7 5]
 */
#include <errno.h>
#include <stdlib.h>

#include "blkback/pgrant.h"

static unsigned hash(const struct vbd__pgrant_cache *c, uint32_t gref)
{
	return (gref * 2654435761u) & (c->nbuckets - 1);
}

int vbd__pgrant_init(struct vbd__pgrant_cache *c, unsigned max)
{
	unsigned i;

	*c = (struct vbd__pgrant_cache){ .head = -1, .tail = -1, .free = -1, .max = max };
	if (!max)
		return 0;
	for (c->nbuckets = 16; c->nbuckets < 2 * max; c->nbuckets *= 2)
		;
	c->e = calloc(max, sizeof(*c->e));
	c->bucket = malloc(c->nbuckets * sizeof(*c->bucket));
	if (!c->e || !c->bucket) {
		vbd__pgrant_done(c);
		return -ENOMEM;
	}
	for (i = 0; i < c->nbuckets; i++)
		c->bucket[i] = -1;
	for (i = 0; i < max; i++)
		c->e[i].hnext = i + 1 < max ? (int)i + 1 : -1;
	c->free = 0;
	return 0;
}

void vbd__pgrant_done(struct vbd__pgrant_cache *c)
{
	free(c->e);
	free(c->bucket);
	*c = (struct vbd__pgrant_cache){ .head = -1, .tail = -1, .free = -1 };
}

static void lru_unlink(struct vbd__pgrant_cache *c, int i)
{
	struct vbd__pgrant *e = &c->e[i];

	if (e->prev >= 0)
		c->e[e->prev].next = e->next;
	else
		c->head = e->next;
	if (e->next >= 0)
		c->e[e->next].prev = e->prev;
	else
		c->tail = e->prev;
}

static void lru_push_front(struct vbd__pgrant_cache *c, int i)
{
	struct vbd__pgrant *e = &c->e[i];

	e->prev = -1;
	e->next = c->head;
	if (c->head >= 0)
		c->e[c->head].prev = i;
	c->head = i;
	if (c->tail < 0)
		c->tail = i;
}

void *vbd__pgrant_get(struct vbd__pgrant_cache *c, uint32_t gref, uint64_t req)
{
	int i;

	if (!c->max)
		return NULL;
	for (i = c->bucket[hash(c, gref)]; i >= 0; i = c->e[i].hnext) {
		if (c->e[i].gref == gref) {
			c->e[i].used = req;
			lru_unlink(c, i);
			lru_push_front(c, i);
			return c->e[i].addr;
		}
	}
	return NULL;
}

/* Unlinks entry i from the hash and the list, and frees it. */
static void *remove_entry(struct vbd__pgrant_cache *c, int i)
{
	int *p = &c->bucket[hash(c, c->e[i].gref)];
	void *addr = c->e[i].addr;

	while (*p != i)
		p = &c->e[*p].hnext;
	*p = c->e[i].hnext;
	lru_unlink(c, i);
	c->e[i].hnext = c->free;
	c->free = i;
	c->count--;
	return addr;
}

int vbd__pgrant_make_room(struct vbd__pgrant_cache *c, uint64_t req, void **ret_evicted)
{
	*ret_evicted = NULL;
	if (!c->max)
		return -ENOSPC;
	if (c->count < c->max)
		return 0;
	/* What this request uses was moved to the front as it was looked up,
	 * so the tail is in use only if everything is. */
	if (c->e[c->tail].used == req)
		return -ENOSPC;
	*ret_evicted = remove_entry(c, c->tail);
	return 0;
}

void vbd__pgrant_add(struct vbd__pgrant_cache *c, uint32_t gref, void *addr, uint64_t req)
{
	int i = c->free;
	unsigned h = hash(c, gref);

	c->free = c->e[i].hnext;
	c->e[i].gref = gref;
	c->e[i].addr = addr;
	c->e[i].used = req;
	c->e[i].hnext = c->bucket[h];
	c->bucket[h] = i;
	lru_push_front(c, i);
	c->count++;
}

void *vbd__pgrant_pop(struct vbd__pgrant_cache *c)
{
	return c->count ? remove_entry(c, c->tail) : NULL;
}
