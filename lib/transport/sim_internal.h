/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VBD_XPORT_SIM inside: the connection and its calls (sim.c), event
 * channels (sim_evtchn.c), several calls in one round trip (sim_run.c).
 */
#ifndef VBD_LIB_TRANSPORT_SIM_INTERNAL_H
#define VBD_LIB_TRANSPORT_SIM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "simhv/simhv_wire.h"
#include "transport/xport.h"

struct sim {
	pthread_mutex_t lock;     /* the socket, buf and the regions */
	int fd;
	vbd__region_map regions;
	uint8_t *buf;             /* SIMHV_REP_MAX + 1, replies */
};

/* sim.c */
void vbd__sim_close_fds(int *fds, unsigned n);
/* One request sent, under s->lock: 0, or -EPIPE when the broker is gone,
 * -errno. */
int vbd__sim_send(struct sim *s, const struct simhv_req *q, const uint32_t *items);
/* The reply to q, the next on the connection, under s->lock: the reply's
 * status, or a transport error (-EPIPE: the broker is gone; -EPROTO: a
 * reply that does not fit q); on success the number of fds (min_fds to
 * max_fds, into fds[], the caller's now), *ret_rep pointing into s->buf. */
int vbd__sim_recv(struct sim *s, const struct simhv_req *q, unsigned min_fds, unsigned max_fds,
                  const struct simhv_rep **ret_rep, int *fds);
/* Both, as one call. */
int vbd__sim_call(struct sim *s, const struct simhv_req *q, const uint32_t *items,
                  unsigned min_fds, unsigned max_fds, const struct simhv_rep **ret_rep, int *fds);
/* A SHARE's reply (at s->buf; its grant memory fd) taken, under s->lock:
 * its refs into rg, its pages mapped, rg recorded.  0 (rg the map's now),
 * or -errno with the grants still the broker's (vbd__sim_share_end()). */
int vbd__sim_share_accept(struct sim *s, vbd__region *rg, unsigned count, int fd,
                          uint32_t *ret_refs, void **ret_addr);
void vbd__sim_share_end(struct sim *s, const vbd__region *rg, unsigned count);
/* A MAP's reply taken likewise; its mapping ended by vbd__sim_map_end(). */
int vbd__sim_map_accept(struct sim *s, vbd__region *rg, unsigned count, bool writable,
                        const int *fds, unsigned nfds, void **ret_addr);
void vbd__sim_map_end(struct sim *s, uint64_t id);

/* sim_evtchn.c: the ops of the same names */
int vbd__sim_evtchn_open(vbd_evtchn *e);
void vbd__sim_evtchn_close(vbd_evtchn *e);
int vbd__sim_alloc_unbound(vbd_evtchn *e, unsigned remote_domid, uint32_t *ret_port);
int vbd__sim_bind_interdomain(vbd_evtchn *e, unsigned remote_domid, uint32_t remote_port,
                              uint32_t *ret_port);
int vbd__sim_unbind(vbd_evtchn *e, uint32_t port);
int vbd__sim_notify(vbd_evtchn *e, uint32_t port);
int vbd__sim_pending(vbd_evtchn *e);
int vbd__sim_unmask(vbd_evtchn *e, uint32_t port);
/* An alloc's or bind's reply taken: the port on e.  The fds are taken
 * either way.  0, or -errno with the port still the broker's (unbound by
 * vbd__sim_unbind_call(), if not 0). */
int vbd__sim_port_accept(vbd_evtchn *e, uint32_t port, int *fds, uint32_t *ret_port);
int vbd__sim_unbind_call(vbd_evtchn *e, uint32_t port);

/* sim_run.c */
int vbd__sim_run(vbd_xport *x, vbd__xop *ops, unsigned n, unsigned *ret_failed);

#endif
