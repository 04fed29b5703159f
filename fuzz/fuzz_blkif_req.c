/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for blkback's request validation (lib/blkback/req.c): the checks a
 * copied ring entry must pass before the backend maps a grant or touches
 * the disk (XSA-155), and the response written in its place (XSA-216).
 *
 * Input:
 *   byte 0      flags: 1 x86_32-abi, 2 read-only, 4 discard offered,
 *               8 persistent grants, 16 indirect not offered,
 *               32 the duplicate check's hash key 1 (else a spread one)
 *   bytes 1-8   disk size in sectors, little endian (byte 1 & 0x80: only
 *               the low 16 bits, so that small disks come up often)
 *   bytes 9-10  feature-max-indirect-segments (mod 4097)
 *   then        the ring entry (112 or 108 bytes; zero-padded), then the
 *               indirect pages' segment entries (zero-padded)
 *
 * Oracles, each an abort(): the id and op of a response are the entry's;
 * an accepted request is one of the known ops with a segment count in
 * bounds, on a writable disk if it writes, inside the disk; its segments,
 * once accepted, have 0 <= first <= last < 8, fit the disk, and (persistent)
 * have distinct refs; a rejection has a reason the oracle can name; the
 * response leaves no byte of the entry behind and nothing past its size.
 *
 *     flags 0, 1000 sectors, READ 1 seg {gref 5, 0..7} at 992 -> OKAY
 *     the same at 993                                          -> ERROR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blkback/req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 11

static void die(const char *what)
{
	fprintf(stderr, "fuzz_blkif_req: %s\n", what);
	abort();
}

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The oracle's own view of the segments: does check_segs have a reason to
 * refuse them? */
static bool segs_bad(const struct vbd__bb_limits *l, uint64_t sector,
                     const struct blkif_request_segment *s, unsigned n, uint64_t *ret_total)
{
	unsigned __int128 end = sector;
	uint32_t *refs = malloc((n ? n : 1) * sizeof(*refs));
	bool bad = false;
	unsigned i;

	if (!refs)
		die("out of memory");
	for (i = 0; i < n; i++) {
		if (s[i].first_sect > s[i].last_sect || s[i].last_sect > 7)
			bad = true;
		else
			end += (unsigned)(s[i].last_sect - s[i].first_sect + 1);
		refs[i] = s[i].gref;
	}
	if (!bad && end > l->sectors)
		bad = true;
	if (l->persistent) {
		qsort(refs, n, sizeof(*refs), cmp_u32);
		for (i = 1; i < n; i++)
			if (refs[i] == refs[i - 1])
				bad = true;
	}
	free(refs);
	*ret_total = (uint64_t)(end - sector);
	return bad;
}

static void check_response(enum vbd__bb_abi abi, const struct vbd__bb_req *req, uint64_t id,
                           uint8_t op, int16_t st)
{
	unsigned char slot[32];
	size_t sz = abi == VBD__BB_ABI_X86_32 ? 12 : 16, stoff = 10;
	int16_t got_st;
	uint64_t got_id;
	size_t i;

	memset(slot, 0xa5, sizeof(slot));
	vbd__bb_rsp_write(abi, slot, req, st);
	memcpy(&got_id, slot, 8);
	memcpy(&got_st, slot + stoff, 2);
	if (got_id != id || slot[8] != op || got_st != st)
		die("response fields");
	for (i = 0; i < sz; i++)
		if ((i == 9 || i >= 12) && slot[i] != 0)
			die("response padding not zeroed");
	for (i = sz; i < sizeof(slot); i++)
		if (slot[i] != 0xa5)
			die("response written past its size");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t flags = size > 0 ? data[0] : 0;
	enum vbd__bb_abi abi = flags & 1 ? VBD__BB_ABI_X86_32 : VBD__BB_ABI_64;
	size_t esz = abi == VBD__BB_ABI_X86_32 ? 108 : 112;
	size_t idoff = abi == VBD__BB_ABI_X86_32 ? 4 : 8;
	struct vbd__bb_limits l = { 0 };
	struct vbd__bb_req req;
	uint8_t hdr[HDR] = { 0 }, *entry, op;
	const struct blkif_request_segment *segs;
	struct blkif_request_segment *ind = NULL;
	uint16_t *seen = NULL;
	uint64_t id, total;
	size_t rest;
	int st;

	memcpy(hdr, data, size < HDR ? size : HDR);
	l.sectors = le(hdr + 1, 8);
	if (hdr[1] & 0x80)
		l.sectors &= 0xffff;
	l.max_indirect = flags & 16 ? 0 : (unsigned)(le(hdr + 9, 2) % (VBD__BB_MAX_INDIRECT_SEGS + 1));
	l.readonly = flags & 2;
	l.discard = flags & 4;
	l.persistent = flags & 8;
	/* Key 1 hashes every small ref to the first entry: the longest
	 * probes, around the table's end. */
	l.ref_key = flags & 32 ? 1u : 0x9E3779B1u;

	/* The entry in a buffer of exactly its size, so that reading past it
	 * is an ASan report. */
	entry = calloc(1, esz);
	if (!entry)
		return 0;
	rest = size > HDR ? size - HDR : 0;
	memcpy(entry, data + HDR, rest < esz ? rest : esz);
	op = entry[0];
	memcpy(&id, entry + idoff, 8);

	st = vbd__bb_req_decode(abi, entry, &l, &req);
	free(entry);
	if (st != BLKIF_RSP_OKAY && st != BLKIF_RSP_ERROR && st != BLKIF_RSP_EOPNOTSUPP)
		die("unknown status");
	if (req.id != id || req.op != op)
		die("id or op not the entry's");
	check_response(abi, &req, id, op, (int16_t)st);
	if (st == BLKIF_RSP_EOPNOTSUPP) {
		if (op == BLKIF_OP_READ || op == BLKIF_OP_WRITE || op == BLKIF_OP_FLUSH_DISKCACHE ||
		    op == BLKIF_OP_WRITE_BARRIER || (op == BLKIF_OP_INDIRECT && l.max_indirect) ||
		    (op == BLKIF_OP_DISCARD && l.discard && !req.secure))
			die("supported op refused as unsupported");
		return 0;
	}
	if (st == BLKIF_RSP_ERROR)
		return 0;

	/* Accepted: the header is sound. */
	switch (req.kind) {
	case BLKIF_OP_READ:
	case BLKIF_OP_WRITE:
		if (req.nr_segs == 0)
			die("read/write without segments");
		break;
	case BLKIF_OP_FLUSH_DISKCACHE:
	case BLKIF_OP_WRITE_BARRIER:
		if (op == BLKIF_OP_INDIRECT)
			die("indirect flush");
		break;
	case BLKIF_OP_DISCARD:
		if (!l.discard || req.secure || l.readonly)
			die("discard accepted where not allowed");
		if (req.sector > l.sectors || req.nr_sectors > l.sectors - req.sector)
			die("discard outside the disk");
		return 0;
	default:
		die("unknown kind accepted");
	}
	if (l.readonly && req.kind != BLKIF_OP_READ)
		die("write accepted on a read-only disk");
	if (op == BLKIF_OP_INDIRECT) {
		size_t want = req.nr_segs * sizeof(*ind), have = rest > esz ? rest - esz : 0;

		if (!l.max_indirect || req.nr_segs > l.max_indirect ||
		    req.nr_indirect != (req.nr_segs + 511) / 512 ||
		    req.nr_indirect > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST)
			die("indirect counts");
		ind = calloc(req.nr_segs, sizeof(*ind));
		if (!ind)
			return 0;
		memcpy(ind, data + HDR + esz, have < want ? have : want);
		segs = ind;
	} else {
		if (req.nr_segs > BLKIF_MAX_SEGMENTS_PER_REQUEST)
			die("too many direct segments");
		segs = req.seg;
	}
	if (req.nr_segs) {
		bool bad = segs_bad(&l, req.sector, segs, req.nr_segs, &total);

		/* Exactly the table's size, so that a probe past it is an ASan
		 * report. */
		seen = calloc(vbd__bb_seen_cap(req.nr_segs), sizeof(*seen));
		if (!seen)
			die("out of memory");
		st = vbd__bb_req_check_segs(&l, &req, segs, req.nr_segs, seen);
		if (st != BLKIF_RSP_OKAY && st != BLKIF_RSP_ERROR)
			die("unknown segment status");
		if ((st == BLKIF_RSP_ERROR) != bad)
			die(bad ? "bad segments accepted" : "good segments refused");
		if (st == BLKIF_RSP_OKAY && req.nr_sectors != total)
			die("nr_sectors is not the segments' sum");
	}
	free(seen);
	free(ind);
	return 0;
}
