/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulated hypervisor's insides, shared by its files: simhv.c (the
 * object: sockets, domains, connections and the wire), grant.c (grant
 * memory and grant tables) and evtchn.c (event channels).
 *
 * Each request handler (vbd__simhv_op_*) gets the parsed request and its
 * u32 items, fills the reply and returns its status, or KILL when the
 * request breaks the framing rules of simhv_wire.h.
 */
#ifndef VBD_LIB_SIMHV_INTERNAL_H
#define VBD_LIB_SIMHV_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "simhv/simhv_hooks.h"
#include "simhv/simhv_wire.h"
#include "util/listen.h"
#include "vbd/transport.h"        /* VBD_PAGE_SIZE */

#define DOMID_LIMIT ((unsigned)VBD_DOMID_FIRST_RESERVED)
#define GNT_RESERVED 8u          /* refs 0..7 are the toolstack's on Xen */

enum { SRC_LISTEN = 1, SRC_CONN };
enum { PORT_FREE, PORT_UNBOUND, PORT_BOUND, PORT_DEAD };

typedef struct hv_conn hv_conn;

typedef struct hv_arena {
	struct hv_arena *next;
	unsigned granter, grantee;
	bool writable;
	int fd_rw, fd_ro;
	uint32_t cap;            /* slots the file holds */
	uint32_t top;            /* slots [top, cap) never used */
	uint32_t used;
	uint32_t nfree;
	uint32_t *free;          /* stack of freed slots */
	uint32_t *mapcnt;
	uint8_t *granted;
} hv_arena;

typedef struct hv_gnt {
	hv_conn *owner;          /* NULL: free */
	hv_arena *ar;
	uint32_t slot;
	uint16_t grantee;
	bool writable;
	bool mark;               /* seen in this UNSHARE (duplicates) */
} hv_gnt;

typedef struct hv_port {
	uint8_t state;
	hv_conn *owner;
	uint32_t rdom, rport;
	int fd_in, fd_peer;      /* PORT_UNBOUND: this port's inbound eventfd
	                          * and the binder's; else -1 */
} hv_port;

typedef struct hv_domain {
	int kind;                /* SRC_LISTEN */
	struct hv_domain *next;
	unsigned id;
	vbd__listener listen;    /* <path>.d/<id> (dom0: path); acts as id */
	unsigned nconns;
	hv_gnt *gnt;
	uint32_t gnt_cap, gnt_top, gnt_used, gnt_nfree;
	uint32_t *gnt_free;
	hv_port *ports;
	uint32_t port_cap, ports_used;
} hv_domain;

struct hv_page {
	hv_arena *ar;
	uint32_t slot;
};

typedef struct hv_map {
	struct hv_map *next;
	uint64_t id;
	uint32_t count;
	struct hv_page pg[];
} hv_map;

struct hv_conn {
	int kind;                /* SRC_CONN */
	hv_conn *next;
	hv_domain *dom;
	int fd;
	bool dead;
	unsigned ngrants, nports;
	uint64_t mapped;
	uint64_t next_map_id;
	/* Its mappings by id: mtab_cap buckets (a power of 2, or 0), chained
	 * by next, doubled when nmaps reaches mtab_cap.  The backend holds a
	 * mapping per ring of every device, so an UNMAP must not walk them. */
	hv_map **mtab;
	uint32_t mtab_cap, nmaps;
	/* one reply the socket did not take; nothing more is read until sent */
	void *out;
	size_t out_len;
	int out_fds[SIMHV_FDS_MAX];
	unsigned out_nfds;
};

struct vbd_simhv {
	int epfd;
	char *path;
	hv_domain *domains;
	hv_conn *conns;
	bool conns_dead;         /* some of them killed: conn_reap() has work */
	hv_arena *arenas;
	vbd__simhv_limits lim;
	vbd_simhv_stats st;
	int spare_fd;            /* given up to drop a client when out of fds */
	uint8_t *rbuf, *wbuf;
	uint32_t *scratch;       /* SIMHV_REFS_MAX slots */
};

/* Handlers return a status for the reply, or KILL for a violation. */
#define KILL INT_MIN

struct reply {
	struct simhv_rep *rep;
	struct simhv_item *items;
	int fds[SIMHV_FDS_MAX];
	unsigned nfds;
	int close_fds[SIMHV_FDS_MAX];   /* ours, closed once sent */
	unsigned nclose;
};

static inline void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* simhv.c */
hv_domain *vbd__simhv_domain_find(vbd_simhv *h, unsigned id);

/* grant.c */
void vbd__simhv_arena_free(vbd_simhv *h, hv_arena *a);
void vbd__simhv_gnt_end(vbd_simhv *h, hv_domain *d, uint32_t ref);
void vbd__simhv_map_drop(vbd_simhv *h, hv_conn *c, hv_map *m);
/* Drops every mapping of c and its table. */
void vbd__simhv_maps_drop(vbd_simhv *h, hv_conn *c);
int vbd__simhv_op_share(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                        const uint32_t *items, unsigned n, struct reply *rp);
int vbd__simhv_op_unshare(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                          const uint32_t *refs, unsigned n, struct reply *rp);
int vbd__simhv_op_map(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                      const uint32_t *refs, unsigned n, struct reply *rp);
int vbd__simhv_op_unmap(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                        const uint32_t *items, unsigned n, struct reply *rp);

/* evtchn.c */
void vbd__simhv_port_close(vbd_simhv *h, hv_domain *d, uint32_t port);
int vbd__simhv_op_evt_alloc(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                            const uint32_t *items, unsigned n, struct reply *rp);
int vbd__simhv_op_evt_bind(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                           const uint32_t *items, unsigned n, struct reply *rp);
int vbd__simhv_op_evt_unbind(vbd_simhv *h, hv_conn *c, const struct simhv_req *q,
                             const uint32_t *items, unsigned n, struct reply *rp);

#endif
