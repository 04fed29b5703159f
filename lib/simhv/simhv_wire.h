/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulated hypervisor's wire protocol, between sim.c (the client in
 * each process) and simhv.c (the broker), over SOCK_SEQPACKET Unix sockets:
 * one request, one reply, host byte order, one message each.
 *
 * Request:  struct simhv_req, then count u32 items (refs) for UNSHARE and MAP.
 * Reply:    struct simhv_rep, then count struct simhv_item for SHARE and MAP,
 *           with file descriptors (SCM_RIGHTS):
 *   SHARE      a=ref, b=page index in the one fd (the grant memory, RW)
 *   MAP        a=index of the fd (0 or 1), b=page index in that fd
 *   EVT_ALLOC  fds: [inbound eventfd, notify eventfd], port
 *   EVT_BIND   the same
 * Every field that an op does not use must be 0.
 *
 * Example: dom1 maps refs 8 and 9 granted by dom0, read-only:
 *   req {op=MAP, domid=0, count=2, flags=0, port=0, id=0} 8 9
 *   rep {status=0, op=MAP, count=2, port=0, id=17} {0,4} {0,5}  + 1 fd
 * and later unmaps them with req {op=UNMAP, id=17}.
 */
#ifndef VBD_LIB_TRANSPORT_SIMHV_WIRE_H
#define VBD_LIB_TRANSPORT_SIMHV_WIRE_H

#include <stdint.h>

enum {
	SIMHV_OP_SHARE = 1,
	SIMHV_OP_UNSHARE,
	SIMHV_OP_MAP,
	SIMHV_OP_UNMAP,
	SIMHV_OP_EVT_ALLOC,
	SIMHV_OP_EVT_BIND,
	SIMHV_OP_EVT_UNBIND,
	SIMHV_OP_COUNT
};

#define SIMHV_F_WRITABLE 1u

struct simhv_req {
	uint32_t op;
	uint32_t domid;       /* SHARE: grantee; MAP: granter; EVT_*: remote */
	uint32_t count;       /* SHARE, UNSHARE, MAP: pages */
	uint32_t flags;       /* SHARE, MAP: SIMHV_F_WRITABLE */
	uint32_t port;        /* EVT_BIND: remote port; EVT_UNBIND: local port */
	uint32_t pad;
	uint64_t id;          /* UNMAP: the id MAP returned */
};

struct simhv_rep {
	int32_t status;       /* 0 or -errno */
	uint32_t op;
	uint32_t count;
	uint32_t port;        /* EVT_ALLOC, EVT_BIND: the new local port */
	uint64_t id;          /* MAP: the mapping's id */
};

struct simhv_item {
	uint32_t a, b;
};

/* Hard ceiling on pages per call, whatever the limits say: it sizes the
 * message buffers. */
#define SIMHV_REFS_MAX 4096u
#define SIMHV_REQ_MAX (sizeof(struct simhv_req) + 4u * SIMHV_REFS_MAX)
#define SIMHV_REP_MAX (sizeof(struct simhv_rep) + sizeof(struct simhv_item) * SIMHV_REFS_MAX)
#define SIMHV_FDS_MAX 2

#endif
