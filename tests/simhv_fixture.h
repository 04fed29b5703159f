/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test fixture: a simulated hypervisor (vbd/simhv.h) running in a thread of
 * the test process, on a socket in a fresh temporary directory, so that
 * blocking clients (vbd_xport handles of this process, or of forked
 * children) can talk to it.
 *
 * The broker is touched only by its thread, except through
 * vbd_test_simhv_call(), which runs a function on it under the fixture's
 * lock while the thread is not processing.
 */
#ifndef VBD_TEST_SIMHV_FIXTURE_H
#define VBD_TEST_SIMHV_FIXTURE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#include "loop_thread.h"
#include "vbd/simhv.h"
#include "vbd/transport.h"

typedef struct vbd_test_simhv {
	vbd_simhv *hv;
	vbd_test_loop loop;       /* the thread that runs it */
	char dir[PATH_MAX];
	char socket[PATH_MAX];    /* dom0's; a domain's is "<socket>.d/<domid>" */
} vbd_test_simhv;

/* Starts a broker.  Returns 0 or -errno. */
int vbd_test_simhv_start(vbd_test_simhv *t);
/* Stops the thread, frees the broker, removes the directory. */
void vbd_test_simhv_stop(vbd_test_simhv *t);

/* Runs fn(hv, arg) while the thread is paused; returns fn's value. */
int vbd_test_simhv_call(vbd_test_simhv *t, int (*fn)(vbd_simhv *hv, void *arg), void *arg);
void vbd_test_simhv_stats(vbd_test_simhv *t, vbd_simhv_stats *ret);
int vbd_test_simhv_domain_add(vbd_test_simhv *t, unsigned domid);
int vbd_test_simhv_domain_remove(vbd_test_simhv *t, unsigned domid);

/* The socket path acting as domid, into buf (PATH_MAX bytes). */
void vbd_test_simhv_path(vbd_test_simhv *t, unsigned domid, char *buf);
/* Opens a VBD_XPORT_SIM handle acting as domid (which must be added unless
 * it is 0).  Returns 0 or -errno. */
int vbd_test_simhv_xport(vbd_test_simhv *t, unsigned domid, vbd_xport **ret);
/* A raw SOCK_SEQPACKET client acting as domid, for tests that send what
 * the library never would.  The fd, or -errno. */
int vbd_test_simhv_raw_connect(vbd_test_simhv *t, unsigned domid);

/* Waits (up to timeout_ms) until check(stats, arg) holds; true if it did.
 * For effects of a peer's death, which the broker sees asynchronously. */
bool vbd_test_simhv_wait(vbd_test_simhv *t, bool (*check)(const vbd_simhv_stats *s, void *arg),
                         void *arg, int timeout_ms);

#endif
