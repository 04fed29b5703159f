/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A scripted peer for lifecycle tests: plays blkback (through a dom0 handle)
 * and blkfront (through the guest's own socket) on the xenstore side only -
 * states and keys, no rings - following the handshake of docs/protocol.md.  Knobs make
 * it misbehave the ways the tests need.
 */
#ifndef VBD_TEST_PEER_H
#define VBD_TEST_PEER_H

#include <pthread.h>
#include <stdbool.h>

#include "store_fixture.h"

typedef struct vbd_test_peer {
	vbd_test_store *t;
	unsigned domid;               /* the guest */
	unsigned backend_domid;       /* 0, or a driver domain (set before start) */
	/* knobs, set before start */
	bool frontend_never_connects; /* stays Initialising */
	bool skip_initialised;        /* Mini-OS: 1 -> 4 without 3 */
	bool backend_error;           /* writes an error node and Closing instead of connecting */
	bool backend_never_closes;    /* ignores Closing */
	bool frontend_closes;         /* Closing where it would go Initialised */
	bool backend_hotplug;         /* the backend domain runs the built-in hotplug step
	                               * for its own backends, as a driver domain's daemon
	                               * does: add at Initialising, and once Closed with
	                               * online=0, remove and delete the backend dir */
	bool backend_linux_vanish;    /* as Linux blkback since 5.5 (allow_rebind): when
	                               * its frontend dir vanishes it unregisters the
	                               * device, writing Closed only if it is Closing
	                               * then, and never acts on it again */
	const char *also_watch;       /* a path whose events also make it step: the
	                               * backend dir a lone frontend follows, as
	                               * blkfront watches its backend's state */
	/* what it did, read with __atomic_load_n */
	int closed_on_vanish;         /* Closed written when a frontend vanished */
	int unregistered;             /* devices unregistered on a frontend's vanishing */
	int fe_closed;                /* frontends switched to Closed */
	/* internals */
	char unreg[8][256];           /* the unregistered backends, until their dir goes */
	unsigned nunreg;
	struct xs_handle *be, *fe;
	pthread_t thread;
	bool running;
} vbd_test_peer;

int vbd_test_peer_start(vbd_test_peer *p, vbd_test_store *t, unsigned domid);
void vbd_test_peer_stop(vbd_test_peer *p);

#endif
