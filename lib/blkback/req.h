/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Ring entries of the three guest ABIs, and the checks a request must pass
 * before the backend acts on it.  Nothing here touches shared memory, the
 * transport or the target: the callers copy first (RING_COPY_REQUEST) and
 * hand over the copy, so the fuzzer drives exactly this code.
 *
 * Layouts.  x86_64-abi and arm-abi align uint64_t to 8, so their entries are
 * the ones xen/io/blkif.h describes on this host (asserted in req.c).
 * x86_32-abi aligns uint64_t to 4, which moves every field after `handle`:
 *
 *     field          64-bit   x86_32
 *     operation         0        0
 *     nr_segments       1        1
 *     handle            2        2
 *     id                8        4
 *     sector_number    16       12
 *     seg[11]          24       20      entry 112 / 108 bytes
 *     response: id 0, operation 8, status 10; 16 / 12 bytes
 *
 * The x86_32 structs below are written from that documented ABI (packed,
 * with every offset asserted), not taken from any other implementation.
 */
#ifndef VBD_LIB_BLKBACK_REQ_H
#define VBD_LIB_BLKBACK_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbd/transport.h"

/* ring.h takes its barriers (blkif.h's fences) only from interface
 * 0x00030208 on; without a version, xen-compat.h picks the legacy one,
 * whose barriers are the kernel's mb()/rmb()/wmb(). */
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#endif
#include "blkif.h"

enum vbd__bb_abi {
	VBD__BB_ABI_64 = 0,       /* x86_64-abi, arm-abi */
	VBD__BB_ABI_X86_32,
};

struct vbd__blkif32_rw {
	uint8_t operation;
	uint8_t nr_segments;
	uint16_t handle;
	uint64_t id;
	uint64_t sector_number;
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
} __attribute__((packed));

struct vbd__blkif32_discard {
	uint8_t operation;
	uint8_t flag;
	uint16_t handle;
	uint64_t id;
	uint64_t sector_number;
	uint64_t nr_sectors;
} __attribute__((packed));

struct vbd__blkif32_indirect {
	uint8_t operation;
	uint8_t indirect_op;
	uint16_t nr_segments;
	uint64_t id;
	uint64_t sector_number;
	uint16_t handle;
	uint16_t pad1;
	uint32_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	uint64_t pad2;
} __attribute__((packed));

union vbd__blkif32_request {
	uint8_t operation;
	struct vbd__blkif32_rw rw;
	struct vbd__blkif32_discard discard;
	struct vbd__blkif32_indirect indirect;
};

struct vbd__blkif32_response {
	uint64_t id;
	uint8_t operation;
	uint8_t pad;
	int16_t status;
} __attribute__((packed, aligned(4)));

DEFINE_RING_TYPES(vbd__blkif32, union vbd__blkif32_request, struct vbd__blkif32_response);

/* Segments per indirect page, and the most an indirect request can carry. */
#define VBD__BB_SEGS_PER_PAGE (VBD_PAGE_SIZE / sizeof(struct blkif_request_segment))
#define VBD__BB_MAX_INDIRECT_SEGS (BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * VBD__BB_SEGS_PER_PAGE)

/* What the request's checks depend on. */
struct vbd__bb_limits {
	uint64_t sectors;          /* disk size, 512-byte units */
	unsigned max_indirect;     /* offered; 0: not offered */
	bool readonly;
	bool discard;              /* feature-discard offered */
	bool discard_secure;       /* discard-secure offered */
	bool persistent;           /* negotiated: a grant ref may occur once per request */
	uint32_t ref_key;          /* odd: the duplicate check's hash key, unknown to the frontend */
};

/* A request as decoded from its copy. */
struct vbd__bb_req {
	uint64_t id;
	uint8_t op;                /* as on the ring: echoed in the response */
	uint8_t kind;              /* op, or indirect_op for BLKIF_OP_INDIRECT */
	bool secure;               /* discard: BLKIF_DISCARD_SECURE */
	uint64_t sector;
	uint64_t nr_sectors;       /* discard: from the request; r/w: from the segments */
	unsigned nr_segs;
	unsigned nr_indirect;      /* indirect pages holding the segments */
	uint32_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST]; /* direct only */
};

/* Decodes a copied ring entry of the given ABI and checks its header: the
 * op is known and offered, the segment count is within bounds, a discard's
 * range fits the disk and the disk is writable for what writes.  req->id
 * and req->op are always filled, so that even a rejected request can be
 * answered.  Returns BLKIF_RSP_OKAY, BLKIF_RSP_ERROR (invalid) or
 * BLKIF_RSP_EOPNOTSUPP (an op not offered). */
int vbd__bb_req_decode(enum vbd__bb_abi abi, const void *entry, const struct vbd__bb_limits *l,
                       struct vbd__bb_req *req);

/* The entries of the duplicate check's table for n segments: the least
 * power of two >= 2n, so that the table is at most half full. */
static inline unsigned vbd__bb_seen_cap(unsigned n)
{
	unsigned c = 2;

	while (c < 2 * n)
		c <<= 1;
	return c;
}

/* Checks the segments of a decoded read/write (req->seg, or a copy of the
 * indirect pages' entries): first_sect <= last_sect < 8, the whole range
 * inside the disk, and with persistent grants no ref twice.  Sets
 * req->nr_sectors.  seen has vbd__bb_seen_cap(n) entries (the duplicate
 * check's table; n <= 4096).  Returns BLKIF_RSP_OKAY or BLKIF_RSP_ERROR. */
int vbd__bb_req_check_segs(const struct vbd__bb_limits *l, struct vbd__bb_req *req,
                           const struct blkif_request_segment *segs, unsigned n,
                           uint16_t *seen);

/* Writes a response for req into the ring slot: built whole in a local
 * struct (no byte of the slot is left from the request, XSA-216), then
 * copied. */
void vbd__bb_rsp_write(enum vbd__bb_abi abi, void *slot, const struct vbd__bb_req *req,
                       int16_t status);

#endif
