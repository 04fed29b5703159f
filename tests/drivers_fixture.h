/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBD_TEST_DRIVERS_FIXTURE_H
#define VBD_TEST_DRIVERS_FIXTURE_H
/* The whole stack around one guest disk, for tests of both bundled drivers
 * together (test_drivers, test_poll): the embedded store and the simulated
 * hypervisor in threads, guest domain DOM with its home, a context of
 * dom0's, an image file of the size asked, and a spec for xvdb on it.  The
 * test starts blkback itself, with the options it is about
 * (vbd_test_loop_start_blkback), and makes its frontend. */
#include <limits.h>
#include <xenstore.h>

#include "loop_thread.h"
#include "simhv_fixture.h"
#include "store_fixture.h"
#include "vbd/blkback.h"
#include "vbd/blkfront.h"
#include "vbd/dev.h"
#include "vbd/transport.h"
#include "xs_relay.h"

#define DOM 1
#define DEVID 51728u    /* xvdb */

struct fx {
	vbd_test_store t;
	vbd_test_simhv hv;
	struct xs_handle *h;
	vbd_ctx *c;
	vbd_xport *bx, *fx;        /* dom0's (backend) and the guest's */
	vbd_blkback *b;
	vbd_test_loop bloop;       /* the backend's xenstore side */
	char img[PATH_MAX + 16];
	char guest_xs[PATH_MAX + 16];
	vbd_disk_spec spec;
	vbd_blkfront *f;
	vbd_test_relay *relay;     /* between c and the store, if a test put one */
};

/* cmocka setup and teardown: the teardown frees the frontend, detaches by
 * force, stops the backend, the relay and everything else. */
int vbd_test_drivers_setup(void **state, unsigned disk_bytes);
int vbd_test_drivers_teardown(void **state);
/* Stops the test's blkback and its loop thread. */
void vbd_test_drivers_backend_stop(struct fx *f);

/* An operation's end, as vbd_test_on_done records it. */
struct done {
	int calls, result;
	char msg[512];
};
void vbd_test_on_done(vbd_ctx *c, int result, const char *msg, void *ud);

#endif
