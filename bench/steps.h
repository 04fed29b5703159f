/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The handshake's steps of each attach, timed from the embedded store's
 * change trace (steps.c): commit -> backend InitWait -> frontend
 * Initialised -> backend Connected -> frontend Connected.
 *
 *     bench_steps *s;
 *     if (bench_steps_open(domid, &s) == 0) {   // -EOPNOTSUPP: a real xenstored
 *             ... attach and detach, bench_steps_drain(s) after each ...
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
/* Prints the medians of each step, and their CSV rows (workload). */
void bench_steps_report(bench_steps *s, const char *workload);
bench_steps *bench_steps_free(bench_steps *s);

#endif
