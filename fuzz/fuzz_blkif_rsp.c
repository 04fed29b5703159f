/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for the frontend's checks on blkif responses (lib/blkfront/ring.c):
 * the input plays a hostile backend on a ring the frontend pushes requests
 * to, writing any bytes as responses and any value as rsp_prod.
 *
 * Input: byte 0 picks the ring order (0 or 1); then commands, each one byte
 * and its operands:
 *   0 n op sub    push n % 8 requests of operation op % 8 (sub for indirect)
 *   1 b[16]       write 16 raw bytes as the response at rsp_prod's slot,
 *                 and advance a private rsp_prod by one
 *   2 u32         set the private rsp_prod to u32 (little endian)
 *   3 max         publish the private rsp_prod, collect up to max % 8 + 1
 *   4             publish and collect the whole ring's worth
 * Oracles (abort() on violation): a reference model, written here from the
 * protocol and not from ring.c, decides for each collect how many responses
 * are good and whether the ring breaks; ring.c must agree exactly, return
 * only ids in flight, each once, with a known result; ids in flight plus
 * free ids always make the ring's size; a broken ring stays broken and
 * hands out no request and no response.
 *
 *     00 01 00 00  push one READ (id 0)
 *     01 00..00    response id 0, op 0, status 0
 *     03 00        collect: id 0 done, 0
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blkfront/blkfront.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RING 64

static void die(const char *what, unsigned a, unsigned b)
{
	fprintf(stderr, "fuzz_blkif_rsp: %s (%u, %u)\n", what, a, b);
	abort();
}

struct model {
	bool busy[MAX_RING];
	uint8_t op[MAX_RING], sub[MAX_RING];
	unsigned inflight;
	bool broken;
};

/* How many of the responses the ring shows would the protocol accept, and
 * does the rest break it?  Written from xen/io/blkif.h's rules. */
static unsigned model_collect(struct model *m, vbd__bf_ring *r, RING_IDX prod, unsigned max,
                              bool *ret_broken)
{
	RING_IDX cons = r->fr.rsp_cons;
	bool busy[MAX_RING];
	unsigned n = 0;

	*ret_broken = false;
	if ((RING_IDX)(prod - cons) > (RING_IDX)(r->fr.req_prod_pvt - cons)) {
		*ret_broken = true;
		return 0;
	}
	memcpy(busy, m->busy, sizeof(busy));
	while (cons != prod && n < max) {
		const blkif_response_t *rsp = RING_GET_RESPONSE(&r->fr, cons);
		uint64_t id = rsp->id;

		if (id >= r->size || !busy[id] ||
		    !(rsp->operation == m->op[id] ||
		      (m->op[id] == BLKIF_OP_INDIRECT && rsp->operation == m->sub[id])) ||
		    rsp->status < BLKIF_RSP_EOPNOTSUPP || rsp->status > BLKIF_RSP_OKAY) {
			*ret_broken = true;
			return n;
		}
		busy[id] = false;
		n++;
		cons++;
	}
	return n;
}

static void check_collect(struct model *m, vbd__bf_ring *r, RING_IDX prod, unsigned max)
{
	vbd__bf_rsp out[MAX_RING];
	bool seen[MAX_RING] = { false };
	bool want_broken = false;
	unsigned want = 0, i;
	int n;

	if (!m->broken)
		want = model_collect(m, r, prod, max, &want_broken);
	r->fr.sring->rsp_prod = prod;
	n = vbd__bf_ring_collect(r, out, max);
	if (m->broken || want_broken) {
		/* Good responses before the bad one may be handed out first or
		 * not at all: either way the ring ends broken now or on the
		 * next call, never silently. */
		if (n >= 0) {
			if ((unsigned)n != want)
				die("accepted a different count before a violation", (unsigned)n, want);
			if (!m->broken && vbd__bf_ring_collect(r, out + n, 1) != -EPROTO)
				die("violation not reported", 0, 0);
		}
		if (!r->broken)
			die("violation did not break the ring", 0, 0);
	} else if (n < 0 || (unsigned)n != want) {
		die("count differs from the model", (unsigned)n, want);
	}
	for (i = 0; n > 0 && i < (unsigned)n; i++) {
		unsigned id = out[i].id;

		if (id >= r->size || !m->busy[id] || seen[id])
			die("returned an id not in flight", id, r->size);
		if (out[i].result != 0 && out[i].result != -EIO && out[i].result != -EOPNOTSUPP)
			die("unknown result", id, (unsigned)-out[i].result);
		seen[id] = true;
		m->busy[id] = false;
		m->inflight--;
	}
	if (want_broken || m->broken)
		m->broken = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned order, i;
	size_t at = 1;
	struct model m = { { false }, { 0 }, { 0 }, 0, false };
	vbd__bf_ring r;
	RING_IDX prod = 0;
	void *sring;

	if (size < 1)
		return 0;
	order = data[0] & 1;
	sring = aligned_alloc(VBD_PAGE_SIZE, (size_t)VBD_PAGE_SIZE << order);
	if (!sring)
		return 0;
	memset(sring, 0, (size_t)VBD_PAGE_SIZE << order);
	if (vbd__bf_ring_init(&r, sring, order) < 0) {
		free(sring);
		return 0;
	}
	if (r.size > MAX_RING)
		die("ring larger than the model", r.size, MAX_RING);

	while (at < size) {
		uint8_t cmd = data[at++] % 5;

		switch (cmd) {
		case 0: {
			unsigned n, id;
			uint8_t op, sub;

			if (at + 3 > size)
				goto out;
			n = data[at] % 8;
			op = data[at + 1] % 8;
			sub = data[at + 2] % 2;
			at += 3;
			for (i = 0; i < n; i++) {
				blkif_request_t *req = vbd__bf_ring_next(&r, op, sub, &id);

				if (!req) {
					if (!m.broken && m.inflight < r.size)
						die("ring full too early", m.inflight, r.size);
					break;
				}
				if (m.broken)
					die("broken ring handed out a request", id, 0);
				if (id >= r.size || m.busy[id])
					die("handed out an id in flight", id, r.size);
				if (req->id != id || req->operation != op)
					die("request not stamped", id, op);
				m.busy[id] = true;
				m.op[id] = op;
				m.sub[id] = sub;
				m.inflight++;
			}
			vbd__bf_ring_push(&r);
			break;
		}
		case 1:
			if (at + sizeof(blkif_response_t) > size)
				goto out;
			memcpy(RING_GET_RESPONSE(&r.fr, prod), data + at, sizeof(blkif_response_t));
			at += sizeof(blkif_response_t);
			prod++;
			break;
		case 2:
			if (at + 4 > size)
				goto out;
			prod = (RING_IDX)data[at] | (RING_IDX)data[at + 1] << 8 |
			       (RING_IDX)data[at + 2] << 16 | (RING_IDX)data[at + 3] << 24;
			at += 4;
			break;
		case 3:
			if (at + 1 > size)
				goto out;
			check_collect(&m, &r, prod, data[at++] % 8 + 1);
			break;
		case 4:
			check_collect(&m, &r, prod, r.size);
			break;
		}
		if (vbd__bf_ring_inflight(&r) != m.inflight)
			die("ids in flight differ from the model", vbd__bf_ring_inflight(&r), m.inflight);
	}
out:
	vbd__bf_ring_done(&r);
	free(sring);
	return 0;
}
