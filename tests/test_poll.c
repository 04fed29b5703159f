/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Busy-polling (poll_us of both drivers), through the whole stack as
 * test_drivers: the embedded store, the simulated hypervisor, attach with
 * the built-in hotplug, blkback's workers in their threads and the
 * frontend in the test's thread.
 *
 * Covered: a QD1 sequence of reads costs fewer event-channel notifies
 * (frontend to backend) and fewer events (backend to frontend) with both
 * sides polling than with neither, because a side that polls leaves its
 * event index behind; and the bound holds: once the I/O is over, an idle
 * second of the caller's loop costs the process far less than a second of
 * CPU (nothing spins on after the bound); and a response the frontend's
 * busy-poll saw has its callback run before process() makes a system call
 * (epoll_wait and poll are wrapped at link time to count them, per
 * thread).  Counts and CPU time, never a latency.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "drivers_fixture.h"
#include "simhv_fixture.h"
#include "store_fixture.h"
#include "vbd/blkback.h"
#include "vbd/blkfront.h"
#include "vbd/dev.h"
#include "vbd/transport.h"

#define DISK (4u << 20)
#define READS 200u

static void backend_start(struct fx *f, unsigned poll_us)
{
	vbd_blkback_options o = VBD_BLKBACK_OPTIONS_INIT;
	vbd_errbuf err = { "" };

	o.xenstored_path = f->t.socket;
	o.xport = f->bx;
	o.max_queues = 1;
	o.poll_us = poll_us;
	if (vbd_blkback_new(&f->b, &o, &err) != 0)
		fail_msg("blkback: %s", err.msg);
	assert_int_equal(vbd_test_loop_start_blkback(&f->bloop, f->b), 0);
}

static int setup(void **state)
{
	return vbd_test_drivers_setup(state, DISK);
}

/* Drives the toolstack's operation and the frontend until it ends. */
static void drive(struct fx *f, struct done *d, const vbd_blkfront_options *fo)
{
	unsigned waited = 0;

	while (!d->calls) {
		struct pollfd p[2] = { { vbd_ctx_get_fd(f->c), POLLIN, 0 }, { -1, POLLIN, 0 } };

		if (!f->f && fo) {
			vbd_errbuf err = { "" };
			if (vbd_blkfront_new(&f->f, fo, &err) != 0)
				fail_msg("blkfront: %s", err.msg);
		}
		if (f->f)
			p[1].fd = vbd_blkfront_get_fd(f->f);
		poll(p, 2, 10);
		vbd_ctx_process(f->c);
		if (f->f)
			vbd_blkfront_process(f->f);
		waited += 10;
		if (waited > 15000)
			fail_msg("no end within 15 s");
	}
}

static void attach(struct fx *f, unsigned poll_us)
{
	vbd_blkfront_options fo = VBD_BLKFRONT_OPTIONS_INIT;
	vbd_attach_options ao = VBD_ATTACH_OPTIONS_INIT;
	struct done d = { 0 };

	fo.xenstored_path = f->guest_xs;
	fo.xport = f->fx;
	fo.domid = DOM;
	fo.devid = DEVID;
	fo.max_queues = 1;
	fo.poll_us = poll_us;
	ao.domid = DOM;
	ao.spec = &f->spec;
	ao.timeout_ms = 10000;
	if (vbd_dev_attach(f->c, &ao, vbd_test_on_done, &d) != 0)
		fail_msg("attach: %s", vbd_ctx_last_error(f->c));
	drive(f, &d, &fo);
	if (d.result)
		fail_msg("attach: %s", d.msg);
	if (vbd_blkfront_wait_connected(f->f, 10000) != 0)
		fail_msg("frontend: %s", vbd_blkfront_last_error(f->f));
}

static void detach(struct fx *f)
{
	vbd_detach_options dd = VBD_DETACH_OPTIONS_INIT;
	struct done d = { 0 };

	dd.domid = DOM;
	dd.devid = DEVID;
	assert_int_equal(vbd_dev_detach(f->c, &dd, vbd_test_on_done, &d), 0);
	drive(f, &d, NULL);
	if (d.result)
		fail_msg("detach: %s", d.msg);
	f->f = vbd_blkfront_free(f->f);
}

/* READS reads of 4 KiB, one after the other (QD1), on a device whose two
 * ends poll for poll_us: the notifies and events they cost. */
static void qd1_reads(struct fx *f, unsigned poll_us, uint64_t *ret_notifies,
                      uint64_t *ret_events)
{
	vbd_blkfront_info a = { .size = sizeof(a) }, b = { .size = sizeof(b) };
	uint8_t buf[4096];
	unsigned i;

	backend_start(f, poll_us);
	attach(f, poll_us);
	assert_int_equal(vbd_blkfront_get_info(f->f, &a), 0);
	for (i = 0; i < READS; i++)
		assert_int_equal(vbd_blkfront_read(f->f, (uint64_t)(i * 7919u % (DISK / 4096)) * 4096,
		                                   buf, sizeof(buf)), 0);
	assert_int_equal(vbd_blkfront_get_info(f->f, &b), 0);
	detach(f);
	vbd_test_drivers_backend_stop(f);
	*ret_notifies = b.notifies - a.notifies;
	*ret_events = b.events - a.events;
}

static void test_poll_saves_notifications(void **state)
{
	struct fx *f = *state;
	uint64_t n_off, e_off, n_on, e_on;

	int tries;

	/* Without polling each side sleeps between requests: nearly one
	 * notify and one event each.  On a loaded machine a side can still
	 * be awake, after its last check, when the next request or response
	 * comes, and then needs no wake-up: a run with fewer than half has
	 * nothing to compare polling with, and is made again (3 at most). */
	for (tries = 0;; tries++) {
		qd1_reads(f, 0, &n_off, &e_off);
		if ((n_off >= READS / 2 && e_off >= READS / 2) || tries == 2)
			break;
		print_message("without polling, only %llu notifies and %llu events: again\n",
		              (unsigned long long)n_off, (unsigned long long)e_off);
	}
	/* A bound far above one request's round trip, even on a loaded
	 * machine under a sanitizer: each side sees the next request or
	 * response while it still polls. */
	qd1_reads(f, 200000, &n_on, &e_on);
	print_message("%u QD1 reads: notifies %llu -> %llu, events %llu -> %llu\n", READS,
	              (unsigned long long)n_off, (unsigned long long)n_on,
	              (unsigned long long)e_off, (unsigned long long)e_on);
	assert_true(n_off >= READS / 2);
	assert_true(e_off >= READS / 2);
	if (n_on * 4 >= n_off)
		fail_msg("backend polling: %llu notifies, %llu without",
		         (unsigned long long)n_on, (unsigned long long)n_off);
	if (e_on * 4 >= e_off)
		fail_msg("frontend polling: %llu events, %llu without",
		         (unsigned long long)e_on, (unsigned long long)e_off);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Both sides poll for 10 ms.  After a burst of I/O, a second of the
 * caller's loop (poll on the fd for get_timeout_ms(), process) with
 * nothing to do: a worker or a frontend that spun on past its bound
 * would cost up to a CPU second for it; what polling may cost is 10 ms a
 * side, the rest is the idle loops of the store and the backend. */
static void test_poll_bound_respected(void **state)
{
	struct fx *f = *state;
	uint8_t buf[4096];
	uint64_t end;
	double cpu;
	unsigned i;

	backend_start(f, 10000);
	attach(f, 10000);
	for (i = 0; i < 50; i++)
		assert_int_equal(vbd_blkfront_read(f->f, (uint64_t)i * 4096, buf, sizeof(buf)), 0);
	cpu = cpu_seconds();
	end = mono_ms() + 1000;
	while (mono_ms() < end) {
		struct pollfd p = { vbd_blkfront_get_fd(f->f), POLLIN, 0 };
		int t = vbd_blkfront_get_timeout_ms(f->f);
		int left = (int)(end - mono_ms());

		if (left < 0)
			left = 0;
		poll(&p, 1, t < 0 || t > left ? left : t);
		assert_true(vbd_blkfront_process(f->f) >= 0);
	}
	cpu = cpu_seconds() - cpu;
	print_message("an idle second after I/O with poll_us 10000: %.3f s of CPU\n", cpu);
	if (cpu >= 0.25)
		fail_msg("an idle second cost %.3f s of CPU: something spun past its bound", cpu);
	/* Still alive after the idle time: the sleeping sides wake. */
	assert_int_equal(vbd_blkfront_read(f->f, 0, buf, sizeof(buf)), 0);
	detach(f);
	vbd_test_drivers_backend_stop(f);
}

/* This thread's epoll_wait(2) and poll(2) calls, the library's included
 * (CMakeLists.txt links the test with --wrap for both). */
static __thread unsigned long syscalls;

int __real_epoll_wait(int ep, struct epoll_event *evs, int n, int timeout);
int __wrap_epoll_wait(int ep, struct epoll_event *evs, int n, int timeout);
int __real_poll(struct pollfd *p, nfds_t n, int timeout);
int __wrap_poll(struct pollfd *p, nfds_t n, int timeout);

int __wrap_epoll_wait(int ep, struct epoll_event *evs, int n, int timeout)
{
	syscalls++;
	return __real_epoll_wait(ep, evs, n, timeout);
}

int __wrap_poll(struct pollfd *p, nfds_t n, int timeout)
{
	syscalls++;
	return __real_poll(p, n, timeout);
}

/* READS reads, each submitted from the callback of the one before. */
struct chain {
	vbd_blkfront *f;
	uint8_t buf[4096];
	unsigned left, quick;
	unsigned long at_process;   /* syscalls when process() was called */
	int err;
};

static void chain_done(int result, void *ud)
{
	struct chain *c = ud;

	if (result && !c->err)
		c->err = result;
	/* Nothing waited on or polled since process() began. */
	if (syscalls == c->at_process)
		c->quick++;
	if (--c->left && !c->err)
		c->err = vbd_blkfront_submit(c->f, VBD_BLKFRONT_READ,
		                             (uint64_t)(c->left * 7919u % (DISK / 4096)) * 4096, c->buf,
		                             sizeof(c->buf), chain_done, c);
}

/* Both sides poll, far longer than a round trip: the frontend's spin sees
 * each response, and the next process() collects it and runs its callback
 * (which submits the next read) before it looks at xenstore or the event
 * channels.  Before, each process() began with two epoll_wait calls, while
 * the backend, with nothing on its ring, waited. */
static void test_poll_response_first(void **state)
{
	struct fx *f = *state;
	struct chain c = { .left = READS };
	unsigned waited = 0;

	backend_start(f, 200000);
	attach(f, 200000);
	c.f = f->f;
	assert_int_equal(vbd_blkfront_submit(f->f, VBD_BLKFRONT_READ, 0, c.buf, sizeof(c.buf),
	                                     chain_done, &c), 0);
	while (c.left && !c.err) {
		int t = vbd_blkfront_get_timeout_ms(f->f);

		if (t != 0) {
			struct pollfd p = { vbd_blkfront_get_fd(f->f), POLLIN, 0 };

			poll(&p, 1, t < 0 || t > 100 ? 100 : t);
			waited += 100;
			if (waited > 60000)
				fail_msg("%u reads left after a minute", c.left);
		}
		c.at_process = syscalls;
		assert_true(vbd_blkfront_process(f->f) >= 0);
	}
	assert_int_equal(c.err, 0);
	print_message("%u QD1 reads, both sides polling: %u callbacks before any system call\n",
	              READS, c.quick);
	/* The first response may come before the frontend spins for it; on
	 * a loaded machine a spin may pass its bound. */
	if (c.quick < READS * 9 / 10)
		fail_msg("%u of %u callbacks ran before any system call of their process()",
		         c.quick, READS);
	detach(f);
	vbd_test_drivers_backend_stop(f);
}

static void test_poll_option_range(void **state)
{
	struct fx *f = *state;
	vbd_blkback_options o = VBD_BLKBACK_OPTIONS_INIT;
	vbd_blkfront_options fo = VBD_BLKFRONT_OPTIONS_INIT;
	vbd_blkback *b = NULL;
	vbd_blkfront *fr = NULL;

	o.xenstored_path = f->t.socket;
	o.xport = f->bx;
	o.poll_us = 1000001;
	assert_int_equal(vbd_blkback_new(&b, &o, NULL), -EINVAL);
	assert_null(b);
	fo.xenstored_path = f->guest_xs;
	fo.xport = f->fx;
	fo.domid = DOM;
	fo.devid = DEVID;
	fo.poll_us = 1000001;
	assert_int_equal(vbd_blkfront_new(&fr, &fo, NULL), -EINVAL);
	assert_null(fr);
	/* A version-1 caller has no poll_us: what follows its struct is
	 * never read. */
	o.version = 1;
	assert_int_equal(vbd_blkback_new(&b, &o, NULL), 0);
	b = vbd_blkback_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_poll_saves_notifications, setup, vbd_test_drivers_teardown),
		cmocka_unit_test_setup_teardown(test_poll_bound_respected, setup, vbd_test_drivers_teardown),
		cmocka_unit_test_setup_teardown(test_poll_response_first, setup, vbd_test_drivers_teardown),
		cmocka_unit_test_setup_teardown(test_poll_option_range, setup, vbd_test_drivers_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
