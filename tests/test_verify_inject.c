/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_verify_inject - each rule of vbd/verify.h broken by real writes
 * through the embedded store, each from the domain that would write it
 * (real libxenstore connections: the toolstack as dom0, the backend as
 * driver domain 2, the frontend as guest 1), and reported by the follower
 * (vbd_verifier_follow, which uses the store's change trace).
 *
 * Most of the faults are written and then undone before the follower's
 * process() runs, so a reader that looks late sees a clean device: only a
 * source that keeps every value can report them.  The same scenarios with
 * the trace turned off (CONTROL trace-offer 0: the store answers the
 * subscription with EINVAL, as a real xenstored) report no violation but
 * say "incomplete".
 *
 * Whether the follower has seen everything is decided without timeouts:
 * each scenario ends by removing the device, and the test runs process()
 * until both ends were reported gone.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xenstore.h>

#include "store_fixture.h"
#include "vbd/ctx.h"
#include "vbd/verify.h"

#define FE_DOM 1
#define BE_DOM 2
#define DEVID 51712
#define BE "/local/domain/2/backend/vbd/1/51712"
#define FE "/local/domain/1/device/vbd/51712"
/* Only a guard against a hang: the follower must report what it waits for. */
#define WAIT_MS 20000

struct fx {
	vbd_test_store t;
	struct xs_handle *ts, *be, *fe;   /* toolstack, backend, frontend */
	vbd_ctx *c;
	vbd_verifier *vf;
	bool trace;
	/* what the follower reported */
	char log[8192];
	unsigned violations, unobserved, gone;
	bool writer_known;
};

static void on_event(const vbd_verify_event *e, void *ud)
{
	struct fx *f = ud;
	size_t n = strlen(f->log);

	if (e->domid != FE_DOM || e->devid != DEVID)
		return;
	f->unobserved += e->unobserved;
	f->writer_known |= e->writer >= 0;
	if (e->v) {
		f->violations++;
		snprintf(f->log + n, sizeof(f->log) - n, "[%s %s: %s]", e->v->rule, e->v->node,
		         e->v->detail);
		return;
	}
	if (e->new_state < 0)
		f->gone++;
	snprintf(f->log + n, sizeof(f->log) - n, "(%s %d->%d by %d)", e->side, e->old_state,
	         e->new_state, e->writer);
}

static void mkend(struct xs_handle *h, const char *dir, unsigned owner, unsigned other)
{
	struct xs_permissions p[] = { { owner, XS_PERM_NONE }, { other, XS_PERM_READ } };

	assert_true(xs_mkdir(h, XBT_NULL, dir));
	assert_true(xs_set_permissions(h, XBT_NULL, dir, p, 2));
}

static int start(void **state, bool trace)
{
	struct fx *f = calloc(1, sizeof(*f));
	vbd_ctx_options co = VBD_CTX_OPTIONS_INIT;

	if (!f || vbd_test_store_start(&f->t, NULL) < 0)
		return -1;
	f->trace = trace;
	f->ts = vbd_test_xs_open(&f->t, 0);
	if (!f->ts || vbd_test_store_domain_add(&f->t, FE_DOM) < 0 ||
	    vbd_test_store_domain_add(&f->t, BE_DOM) < 0)
		return -1;
	mkend(f->ts, "/local/domain/1", FE_DOM, BE_DOM);
	mkend(f->ts, "/local/domain/2", BE_DOM, FE_DOM);
	f->fe = vbd_test_xs_open(&f->t, FE_DOM);
	f->be = vbd_test_xs_open(&f->t, BE_DOM);
	co.xenstored_path = f->t.socket;
	if (!f->fe || !f->be || vbd_ctx_new(&f->c, &co, NULL) < 0)
		return -1;
	/* Off, the store answers the subscription as a real xenstored. */
	if (!trace) {
		char *ok = xs_control_command(f->ts, "trace-offer", "0", 2);

		if (!ok)
			return -1;
		free(ok);
	}
	if (vbd_verifier_follow(f->c, FE_DOM, on_event, f, &f->vf) < 0)
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return start(state, true);
}

static int setup_notrace(void **state)
{
	return start(state, false);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	vbd_verifier_free(f->vf);
	vbd_ctx_free(f->c);
	if (f->fe)
		xs_close(f->fe);
	if (f->be)
		xs_close(f->be);
	if (f->ts)
		xs_close(f->ts);
	vbd_test_store_stop(&f->t);
	free(f);
	return 0;
}

static void put(struct xs_handle *h, const char *dir, const char *key, const char *value)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	if (!xs_write(h, XBT_NULL, path, value, strlen(value)))
		fail_msg("write %s=%s: %s", path, value, strerror(errno));
}

/* What the toolstack does to create a device (as libxl, in one go). */
static void create(struct fx *f)
{
	char v[64];

	mkend(f->ts, BE, BE_DOM, FE_DOM);
	mkend(f->ts, FE, FE_DOM, BE_DOM);
	put(f->ts, BE, "frontend", FE);
	put(f->ts, BE, "frontend-id", "1");
	put(f->ts, BE, "online", "1");
	put(f->ts, BE, "params", "/tmp/disk.img");
	snprintf(v, sizeof(v), "%s", BE);
	put(f->ts, FE, "backend", v);
	put(f->ts, FE, "backend-id", "2");
	put(f->ts, FE, "virtual-device", "51712");
	put(f->ts, BE, "state", "1");
	put(f->ts, FE, "state", "1");
}

static void backend_initwait(struct fx *f)
{
	put(f->be, BE, "physical-device", "7:0");
	put(f->be, BE, "hotplug-status", "connected");
	put(f->be, BE, "state", "2");
}

static void frontend_initialised(struct fx *f)
{
	put(f->fe, FE, "ring-ref", "8");
	put(f->fe, FE, "event-channel", "5");
	put(f->fe, FE, "protocol", "x86_64-abi");
	put(f->fe, FE, "state", "3");
}

static void backend_connected(struct fx *f)
{
	put(f->be, BE, "sectors", "2048");
	put(f->be, BE, "info", "0");
	put(f->be, BE, "sector-size", "512");
	put(f->be, BE, "state", "4");
}

static void handshake(struct fx *f)
{
	create(f);
	backend_initwait(f);
	frontend_initialised(f);
	backend_connected(f);
	put(f->fe, FE, "state", "4");
}

/* The toolstack removes the device; then process() until the follower
 * has reported it gone: with the trace, both ends, i.e. every change
 * before; without, the device as one late read finds it (created and
 * removed between two reads: gone on the frontend, the end it follows by),
 * and nothing a later read could find changes that. */
static void finish(struct fx *f)
{
	assert_true(xs_rm(f->ts, XBT_NULL, FE));
	assert_true(xs_rm(f->ts, XBT_NULL, BE));
	while (f->gone < (f->trace ? 2u : 1u)) {
		struct pollfd p = { vbd_ctx_get_fd(f->c), POLLIN, 0 };

		if (poll(&p, 1, WAIT_MS) != 1)
			fail_msg("the follower never reported the device gone: %s", f->log);
		assert_true(vbd_ctx_process(f->c) >= 0);
	}
}

/* The rule was reported with the trace; without it, the device is
 * incomplete (and the fault, undone before any read, unseen). */
static void expect_rule(struct fx *f, const char *rule)
{
	char want[64];

	snprintf(want, sizeof(want), "[%s ", rule);
	if (f->trace) {
		if (!strstr(f->log, want))
			fail_msg("%s not reported: %s", rule, f->log);
		if (!f->writer_known)
			fail_msg("no writer known on the trace: %s", f->log);
	} else {
		if (f->violations)
			fail_msg("a late reader saw a fault undone before it read: %s", f->log);
		if (!f->unobserved)
			fail_msg("not reported incomplete: %s", f->log);
		if (f->writer_known)
			fail_msg("a writer known without the trace: %s", f->log);
	}
}

static void test_clean(void **state)
{
	struct fx *f = *state;

	handshake(f);
	finish(f);
	if (f->violations)
		fail_msg("a clean handshake: %s", f->log);
	/* Seen whole from its creation: only with the trace. */
	if (f->trace ? f->unobserved != 0 : f->unobserved == 0)
		fail_msg("unobserved %u with trace %d: %s", f->unobserved, f->trace, f->log);
}

/* A state that is no state, overwritten with a good one at once. */
static void test_state_value(void **state)
{
	struct fx *f = *state;

	handshake(f);
	put(f->fe, FE, "state", "9");
	put(f->fe, FE, "state", "4");
	finish(f);
	expect_rule(f, "state-value");
}

/* The backend steps back and forth again before anyone reads it. */
static void test_backend_step_back(void **state)
{
	struct fx *f = *state;

	handshake(f);
	put(f->be, BE, "state", "2");
	put(f->be, BE, "state", "4");
	finish(f);
	expect_rule(f, "backend-transition");
}

static void test_frontend_step_back(void **state)
{
	struct fx *f = *state;

	handshake(f);
	put(f->fe, FE, "state", "1");
	put(f->fe, FE, "state", "4");
	finish(f);
	expect_rule(f, "frontend-transition");
}

/* The frontend says Initialised before the backend reached InitWait. */
static void test_frontend_early(void **state)
{
	struct fx *f = *state;

	create(f);
	frontend_initialised(f);
	put(f->fe, FE, "state", "1");
	backend_initwait(f);
	frontend_initialised(f);
	backend_connected(f);
	put(f->fe, FE, "state", "4");
	finish(f);
	expect_rule(f, "frontend-early");
}

/* The backend says Connected while the frontend is still Initialising. */
static void test_backend_early(void **state)
{
	struct fx *f = *state;

	create(f);
	backend_initwait(f);
	backend_connected(f);
	put(f->be, BE, "state", "2");
	frontend_initialised(f);
	put(f->be, BE, "state", "4");
	put(f->fe, FE, "state", "4");
	finish(f);
	expect_rule(f, "backend-early");
}

/* Connected for a moment before its keys were there. */
static void test_connect_keys(void **state)
{
	struct fx *f = *state;

	create(f);
	backend_initwait(f);
	frontend_initialised(f);
	put(f->be, BE, "state", "4");
	put(f->be, BE, "state", "2");
	backend_connected(f);
	put(f->fe, FE, "state", "4");
	finish(f);
	expect_rule(f, "connect-keys");
}

/* Initialised for a moment before its ring was there. */
static void test_ring_keys(void **state)
{
	struct fx *f = *state;

	create(f);
	backend_initwait(f);
	put(f->fe, FE, "state", "3");
	put(f->fe, FE, "state", "1");
	frontend_initialised(f);
	backend_connected(f);
	put(f->fe, FE, "state", "4");
	finish(f);
	expect_rule(f, "ring-keys");
}

/* A key with a bad value for a moment, then a good one, by its writer. */
static void bad_then_good(struct fx *f, struct xs_handle *h, const char *dir, const char *key,
                          const char *bad, const char *good, const char *rule)
{
	handshake(f);
	put(h, dir, key, bad);
	put(h, dir, key, good);
	finish(f);
	expect_rule(f, rule);
}

static void test_protocol(void **state)
{
	struct fx *f = *state;

	bad_then_good(f, f->fe, FE, "protocol", "x86_16-abi", "x86_64-abi", "protocol");
}

static void test_physical_device(void **state)
{
	struct fx *f = *state;

	bad_then_good(f, f->be, BE, "physical-device", "zz:0", "7:0", "physical-device");
}

static void test_hotplug_status(void **state)
{
	struct fx *f = *state;

	bad_then_good(f, f->be, BE, "hotplug-status", "maybe", "connected", "hotplug-status");
}

static void test_online(void **state)
{
	struct fx *f = *state;

	bad_then_good(f, f->ts, BE, "online", "7", "1", "online");
}

/* The toolstack (dom0) writes the driver domain's backend state, with the
 * value the backend itself would have written: only the writer is wrong. */
static void test_writer_backend(void **state)
{
	struct fx *f = *state;

	create(f);
	backend_initwait(f);
	frontend_initialised(f);
	put(f->be, BE, "sectors", "2048");
	put(f->be, BE, "info", "0");
	put(f->be, BE, "sector-size", "512");
	put(f->ts, BE, "state", "4");
	put(f->fe, FE, "state", "4");
	finish(f);
	expect_rule(f, "writer");
}

/* ... and the guest's frontend state. */
static void test_writer_frontend(void **state)
{
	struct fx *f = *state;

	create(f);
	backend_initwait(f);
	put(f->fe, FE, "ring-ref", "8");
	put(f->fe, FE, "event-channel", "5");
	put(f->fe, FE, "protocol", "x86_64-abi");
	put(f->ts, FE, "state", "3");
	backend_connected(f);
	put(f->fe, FE, "state", "4");
	finish(f);
	expect_rule(f, "writer");
}

#define BOTH(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown), \
                 cmocka_unit_test_setup_teardown(fn, setup_notrace, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_clean),
		BOTH(test_state_value),
		BOTH(test_backend_step_back),
		BOTH(test_frontend_step_back),
		BOTH(test_frontend_early),
		BOTH(test_backend_early),
		BOTH(test_connect_keys),
		BOTH(test_ring_keys),
		BOTH(test_protocol),
		BOTH(test_physical_device),
		BOTH(test_hotplug_status),
		BOTH(test_online),
		BOTH(test_writer_backend),
		BOTH(test_writer_frontend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
