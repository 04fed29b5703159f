/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBD_TEST_XS_RELAY_H
#define VBD_TEST_XS_RELAY_H
/*
 * A relay that counts a client's round trips to the store, for tests that
 * pin how many an operation takes (test_blkfront's handshake, test_drivers'
 * attach).  The client is pointed at the relay's socket instead of the
 * store's; each connection it opens is relayed to one of its own to the
 * store, bytes unchanged, in a thread.
 *
 * Example: a client reads a node, then runs a transaction of five writes
 * sent together (a pipelined window):
 *   READ                        -> round trip 0 (READ, 1 request)
 *   its answer; TRANSACTION_START -> round trip 1 (1 request)
 *   its answer; WRITE x5        -> round trip 2 (WRITE, 5 requests)
 *   the answers; TRANSACTION_END -> round trip 3 (1 request)
 * vbd_test_relay_trips() says 4; vbd_test_relay_log() gives the four rows.
 *
 * Thread-safety: the relay's thread counts; every call here may be made
 * from any one other thread (the counts are read under a lock).
 */
#include <stdbool.h>
#include <stdint.h>

typedef struct vbd_test_relay vbd_test_relay;

/* One round trip: the connection it was on (numbered from 0 in the order
 * the relay accepted them), the types of the first and the last request it
 * carried (XS_READ...), and how many requests it carried, so far. */
typedef struct vbd_test_relay_trip {
	unsigned conn;
	uint32_t type, last;
	unsigned requests;
} vbd_test_relay_trip;

/* The round trips the log keeps, from the first; later ones are counted
 * only. */
#define VBD_TEST_RELAY_LOG 1024u

/* Starts a relay listening on <dir>/relay (vbd_test_relay_path) that
 * forwards each connection to the socket `to`; fails the test if it
 * cannot.  Stop it with vbd_test_relay_stop. */
vbd_test_relay *vbd_test_relay_start(const char *dir, const char *to);
const char *vbd_test_relay_path(const vbd_test_relay *r);
/* The round trips so far, every connection's. */
unsigned vbd_test_relay_trips(vbd_test_relay *r);
/* Copies the log's rows [from, from + max) into ret; returns how many it
 * copied. */
unsigned vbd_test_relay_log(vbd_test_relay *r, unsigned from, vbd_test_relay_trip *ret,
                            unsigned max);
/* Arms a one-shot hook: the next request of type (XS_TRANSACTION_END...)
 * that any relayed client sends runs fn(ud) in the relay's thread before
 * the request is passed on, so that what fn does reaches the store first:
 * a change made while a client's request is on its way.  Replaces a hook
 * armed before and not yet run. */
void vbd_test_relay_on(vbd_test_relay *r, uint32_t type, void (*fn)(void *ud), void *ud);
/* Whether the armed hook has run. */
bool vbd_test_relay_hook_ran(vbd_test_relay *r);
/* Stops the thread, closes every connection, removes the socket, frees r.
 * NULL does nothing.  Returns NULL. */
vbd_test_relay *vbd_test_relay_stop(vbd_test_relay *r);

#endif
