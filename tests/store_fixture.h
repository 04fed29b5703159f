/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test fixture: an embedded store running in a thread of the test process,
 * on a socket in a fresh temporary directory, so that blocking clients
 * (the real libxenstore) can talk to it from the test's own thread.
 *
 * The store object is touched only by its thread, except through
 * vbd_test_store_call(), which runs a function on it under the fixture's
 * lock while the thread is not processing.
 */
#ifndef VBD_TEST_STORE_FIXTURE_H
#define VBD_TEST_STORE_FIXTURE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <xenstore.h>

#include "loop_thread.h"
#include "vbd/store.h"

typedef struct vbd_test_store {
	vbd_store *store;
	vbd_test_loop loop;   /* the thread that runs it */
	char dir[PATH_MAX];
	char socket[PATH_MAX];
} vbd_test_store;

/* Starts a store with the given limits (NULL: defaults).  Returns 0 or -errno. */
int vbd_test_store_start(vbd_test_store *t, const vbd_store_limits *limits);
/* Stops the thread, frees the store, removes the directory. */
void vbd_test_store_stop(vbd_test_store *t);

/* Runs fn(store, arg) on the store while its thread is paused; returns fn's value. */
int vbd_test_store_call(vbd_test_store *t, int (*fn)(vbd_store *s, void *arg), void *arg);
void vbd_test_store_stats(vbd_test_store *t, vbd_store_stats *ret);
/* Introduces domid (vbd_store_domain_add) from the test thread. */
int vbd_test_store_domain_add(vbd_test_store *t, unsigned domid);
int vbd_test_store_domain_remove(vbd_test_store *t, unsigned domid);

/* Opens a real libxenstore handle: domid 0 on the main socket, any other
 * domid on that domain's socket (the domain must be introduced).  Sets
 * XENSTORED_PATH for the call.  NULL on failure. */
struct xs_handle *vbd_test_xs_open(vbd_test_store *t, unsigned domid);

/* xs_read of a path given printf-style; NULL (errno) if absent or unreadable. */
char *vbd_test_xs_readf(struct xs_handle *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A raw client socket (blocking, CLOEXEC) connected to domid's socket, for
 * tests that must send what libxenstore never would.  -errno on failure. */
int vbd_test_raw_connect(vbd_test_store *t, unsigned domid);
/* Sends one message {type, req_id, tx_id, len} + payload.  0 or -errno. */
int vbd_test_raw_send(int fd, uint32_t type, uint32_t req_id, uint32_t tx_id,
                      const void *payload, uint32_t len);
/* Receives one message; payload (NUL-terminated, len+1 bytes) into buf.
 * Waits at most timeout_ms.  Returns payload length, -ETIMEDOUT, -EPIPE on
 * EOF, or -errno. */
int vbd_test_raw_recv(int fd, uint32_t *type, uint32_t *req_id, uint32_t *tx_id,
                      char *buf, size_t size, int timeout_ms);

/* ---- a peer that sends what a store never would ---- */

/* Appends a message {type, req_id, tx_id, len} + payload to buf at at;
 * returns the new end (the caller sizes buf). */
size_t vbd_test_msg_put(char *buf, size_t at, uint32_t type, uint32_t req_id, uint32_t tx_id,
                        const void *payload, uint32_t len);
/* A wire client (lib/xenbus/wire.c) on one end of a socketpair whose other
 * end has sent the len bytes of buf and, with eof, shut its writing side
 * (nothing more comes: EOF); that other end in *ret_other, to close. */
struct vbd__xb_wire;
struct vbd__xb_wire *vbd_test_wire_peer(const void *buf, size_t len, bool eof, int *ret_other);

#endif
