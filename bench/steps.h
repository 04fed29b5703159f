/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The handshake's steps of each attach, timed from the embedded store's
 * change trace (steps.c): commit -> backend InitWait -> frontend
 * Initialised -> backend Connected -> frontend Connected.
 *
 *     bench_steps *s;
 *     if (bench_steps_open(domid, &s) == 0) {   // -EOPNOTSUPP: a real xenstored
 *             ... attach and detach, bench_steps_drain(s) after each,
 *                 bench_steps_call(s, t0, t1) with the attach call's bounds ...
 *             bench_steps_report(s, "builtin-file");
 *             bench_steps_free(s);
 *     }
 */
#ifndef VBD_BENCH_STEPS_H
#define VBD_BENCH_STEPS_H

#include "common.h"

typedef struct bench_steps bench_steps;

/* Subscribes to the trace of the store at $XENSTORED_PATH, following the
 * devices of guest domid.  0, -EOPNOTSUPP where no trace is offered,
 * -errno. */
int bench_steps_open(unsigned domid, bench_steps **ret);
/* Takes what the trace holds (between cycles: the store keeps up to 4 MiB
 * of it queued). */
void bench_steps_drain(bench_steps *s);
/* The last attach's call began at t0 and returned at t1 (CLOCK_REALTIME ns,
 * the trace's clock): times the call to its commit and both ends Connected
 * to its return.  After bench_steps_drain(). */
void bench_steps_call(bench_steps *s, int64_t t0, int64_t t1);
/* CLOCK_REALTIME in nanoseconds, for bench_steps_call(). */
int64_t bench_steps_now(void);
/* Prints the medians of each step, and their CSV rows (workload). */
void bench_steps_report(bench_steps *s, const char *workload);
bench_steps *bench_steps_free(bench_steps *s);

#endif
