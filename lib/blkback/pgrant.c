/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The persistent-grant LRU: a chained hash on gref plus a doubly linked
 * list, all in index-linked arrays.  The arrays grow with use, doubling
 * from 16 entries up to `max`, so that a ring which maps few grants holds
 * little; they live in one anonymous mapping, so that freeing them returns
 * the pages to the system whatever the heap around them holds.
 *
 *     max 2: use 5, use 6 -> [6 5];  use 5 -> [5 6];  use 7: evict 6 -> [5 7]
 *     max 1056: use 1..16 -> 16 entries, 1 page;  use 17 -> grows to 32
 *
 * Once full, a newcomer replaces the least recently used entry and takes
 * its place at that end (above: 7 after 5), unless it is the
 * VBD__PGRANT_PROMOTE-th, which goes to the front.  Plain LRU would evict,
 * in a sweep over more grants than it holds (1 MiB reads at QD8 from 8 MiB
 * of buffers: 2048 grants), each entry just before its next use: every
 * lookup a miss, a map and an unmap.  Here the sweep keeps most of the
 * cache and only the end churns; one newcomer in PROMOTE joining at the
 * front lets a new working set replace an old one.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blkback/pgrant.h"

#define MIN_ENTRIES 16u

static unsigned hash(const struct vbd__pgrant_cache *c, uint32_t gref)
{
	return (gref * 2654435761u) & (c->nbuckets - 1);
}

size_t vbd__pgrant_bytes_for(unsigned entries)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n;
	unsigned nb;

	if (!entries)
		return 0;
	for (nb = 16; nb < 2 * entries; nb *= 2)
		;
	n = entries * sizeof(struct vbd__pgrant) + nb * sizeof(int);
	return (n + page - 1) / page * page;
}

int vbd__pgrant_init(struct vbd__pgrant_cache *c, unsigned max)
{
	*c = (struct vbd__pgrant_cache){ .head = -1, .tail = -1, .free = -1, .max = max };
	return 0;
}

void vbd__pgrant_done(struct vbd__pgrant_cache *c)
{
	if (c->e)
		munmap(c->e, c->bytes);
	*c = (struct vbd__pgrant_cache){ .head = -1, .tail = -1, .free = -1 };
}

/* Doubles a full cache (count == cap < max): a new mapping, the entries
 * copied at the same indexes, the hash rebuilt from the LRU list. */
static int grow(struct vbd__pgrant_cache *c)
{
	unsigned cap = c->cap ? 2 * c->cap : MIN_ENTRIES, nb, i;
	struct vbd__pgrant *e;
	size_t bytes;
	int *bucket, k;

	if (cap > c->max)
		cap = c->max;
	for (nb = 16; nb < 2 * cap; nb *= 2)
		;
	bytes = vbd__pgrant_bytes_for(cap);
	e = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e == MAP_FAILED)
		return -ENOMEM;
	bucket = (int *)(e + cap);
	if (c->cap)
		memcpy(e, c->e, c->cap * sizeof(*e));
	if (c->e)
		munmap(c->e, c->bytes);
	c->e = e;
	c->bucket = bucket;
	c->bytes = bytes;
	c->nbuckets = nb;
	for (i = 0; i < nb; i++)
		bucket[i] = -1;
	for (k = c->head; k >= 0; k = e[k].next) {
		unsigned h = hash(c, e[k].gref);

		e[k].hnext = bucket[h];
		bucket[h] = k;
	}
	/* Full before, so the free list is just the new entries. */
	for (i = c->cap; i < cap; i++)
		e[i].hnext = i + 1 < cap ? (int)i + 1 : -1;
	c->free = (int)c->cap;
	c->cap = cap;
	return 0;
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

	if (!c->cap)
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

int vbd__pgrant_make_room(struct vbd__pgrant_cache *c, uint64_t req, bool may_add,
                          void **ret_evicted)
{
	int i;

	*ret_evicted = NULL;
	if (may_add && c->count < c->cap)
		return 0;
	/* Out of memory to grow: evict instead, as when at max. */
	if (may_add && c->cap < c->max && grow(c) == 0)
		return 0;
	if (!c->count)
		return -ENOSPC;
	/* What requests from `req` on use may be in flight (the io_uring
	 * engine answers out of order): it stays.  What a request looked up
	 * was moved to the front; what it added just now joined at the tail:
	 * the victim is the least recently used entry above those. */
	for (i = c->tail; i >= 0 && c->e[i].used >= req; i = c->e[i].prev)
		;
	if (i < 0)
		return -ENOSPC;
	*ret_evicted = remove_entry(c, i);
	c->add_cold = ++c->replaced % VBD__PGRANT_PROMOTE != 0;
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
	if (c->add_cold && c->tail >= 0) {
		c->e[i].next = -1;
		c->e[i].prev = c->tail;
		c->e[c->tail].next = i;
		c->tail = i;
	} else {
		lru_push_front(c, i);
	}
	c->add_cold = false;
	c->count++;
}

void *vbd__pgrant_pop(struct vbd__pgrant_cache *c)
{
	return c->count ? remove_entry(c, c->tail) : NULL;
}
