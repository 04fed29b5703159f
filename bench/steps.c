/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where an attach's time goes between its commit and both ends Connected,
 * from the embedded store's change trace: each state write with its commit
 * time, whoever wrote it.  One attach of guest 1's xvdb, times in ms after
 * the toolstack's commit (the backend's state 1):
 *
 *     backend 2 at 0.32   frontend 3 at 0.78   backend 4 at 1.03
 *     frontend 4 at 1.32
 *
 * is the four steps 0.32, 0.46, 0.25, 0.29 and 1.32 in all; the report is
 * the median of each over the attaches seen.  With the attach call's own
 * bounds (bench_steps_call()), also the call's start to the commit (its
 * checks, a loop device, the nodes' transaction) and both Connected to
 * the call's return (the toolstack seeing it).  A real xenstored offers no
 * trace: then there is no report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "steps.h"
#include "xenbus/trace.h"

enum { S_T0, S_B2, S_F3, S_B4, S_F4, S_N };
enum { C_PRE, C_POST, C_N };            /* call -> commit, both Connected -> return */
#define DEVS 16
#define MAX_ATTACHES 4096

struct bench_steps {
	vbd__trace *t;
	unsigned domid;
	struct {
		uint32_t devid;
		bool used;
		int64_t at[S_N];        /* 0: not yet */
	} dev[DEVS];
	samples step[S_N];          /* S_T0: commit -> both Connected */
	samples call[C_N];
	int64_t last_commit, last_connected;    /* the last attach seen whole */
	bool lost;
};

int bench_steps_open(unsigned domid, bench_steps **ret)
{
	bench_steps *s = calloc(1, sizeof(*s));
	int i, r;

	if (!s)
		return -ENOMEM;
	s->domid = domid;
	for (i = 0; i < S_N + C_N; i++) {
		samples *v = i < S_N ? &s->step[i] : &s->call[i - S_N];

		if (!(v->ns = calloc(MAX_ATTACHES, sizeof(uint64_t)))) {
			bench_steps_free(s);
			return -ENOMEM;
		}
	}
	/* Room for a few cycles' records between two drains. */
	r = vbd__trace_open(NULL, 4u << 20, &s->t);
	if (r < 0) {
		bench_steps_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* The device's entry, new (its attach's commit) when at is S_T0. */
static int dev_slot(bench_steps *s, uint32_t devid, bool start)
{
	int i, free_slot = -1;

	for (i = 0; i < DEVS; i++) {
		if (s->dev[i].used && s->dev[i].devid == devid)
			break;
		if (!s->dev[i].used && free_slot < 0)
			free_slot = i;
	}
	if (i == DEVS) {
		if (!start || free_slot < 0)
			return -1;
		i = free_slot;
	}
	if (start) {
		memset(s->dev[i].at, 0, sizeof(s->dev[i].at));
		s->dev[i].used = true;
		s->dev[i].devid = devid;
	}
	return i;
}

static void on_change(const vbd_change *ch, void *ud)
{
	bench_steps *s = ud;
	unsigned dom, be_dom;
	uint32_t devid;
	char tail[8];
	int k, at = -1, i;
	bool be;

	if (ch->op == VBD_CHANGE_LOST) {
		s->lost = true;
		return;
	}
	if (ch->op != VBD_CHANGE_WRITE || ch->value_len != 1 || !ch->time_ns)
		return;
	if (sscanf(ch->path, "/local/domain/%u/backend/vbd/%u/%u/%7s", &be_dom, &dom, &devid,
	           tail) == 4)
		be = true;
	else if (sscanf(ch->path, "/local/domain/%u/device/vbd/%u/%7s", &dom, &devid, tail) == 3)
		be = false;
	else
		return;
	if (dom != s->domid || strcmp(tail, "state") != 0)
		return;
	switch (ch->value[0]) {
	case '1': at = be ? S_T0 : -1; break;
	case '2': at = be ? S_B2 : -1; break;
	case '3': at = be ? -1 : S_F3; break;
	case '4': at = be ? S_B4 : S_F4; break;
	default: break;
	}
	if (at < 0 || (k = dev_slot(s, devid, at == S_T0)) < 0)
		return;
	if (at != S_T0 && (!s->dev[k].at[S_T0] || s->dev[k].at[at]))
		return;          /* not an attach seen from its commit, or again */
	s->dev[k].at[at] = ch->time_ns;
	if (at != S_F4)
		return;
	/* Both Connected: the steps, each from the one before it. */
	for (i = S_B2; i <= S_F4; i++)
		if (!s->dev[k].at[i] || s->dev[k].at[i] < s->dev[k].at[i - 1])
			break;
	if (i > S_F4 && s->step[0].n < MAX_ATTACHES) {
		for (i = S_B2; i <= S_F4; i++)
			s->step[i].ns[s->step[i].n++] = (uint64_t)(s->dev[k].at[i] - s->dev[k].at[i - 1]);
		s->step[S_T0].ns[s->step[S_T0].n++] = (uint64_t)(s->dev[k].at[S_F4] - s->dev[k].at[S_T0]);
		s->last_commit = s->dev[k].at[S_T0];
		s->last_connected = s->dev[k].at[S_F4];
	}
	s->dev[k].used = false;
}

void bench_steps_drain(bench_steps *s)
{
	if (s && s->t && vbd__trace_read(s->t, on_change, s) < 0) {
		s->lost = true;
		s->t = vbd__trace_free(s->t);
	}
}

int64_t bench_steps_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_steps_call(bench_steps *s, int64_t t0, int64_t t1)
{
	if (!s || !s->last_commit)
		return;
	/* Only an attach inside this call (a clock step would break that). */
	if (s->last_commit >= t0 && s->last_connected >= s->last_commit &&
	    s->last_connected <= t1 && s->call[C_PRE].n < MAX_ATTACHES) {
		s->call[C_PRE].ns[s->call[C_PRE].n++] = (uint64_t)(s->last_commit - t0);
		s->call[C_POST].ns[s->call[C_POST].n++] = (uint64_t)(t1 - s->last_connected);
	}
	s->last_commit = s->last_connected = 0;
}

void bench_steps_report(bench_steps *s, const char *workload)
{
	static const char *const what[S_N] = { "commit_to_connected", "to_backend_initwait",
	                                       "to_frontend_initialised", "to_backend_connected",
	                                       "to_frontend_connected" };
	double ms[S_N];
	int i;

	bench_steps_drain(s);
	if (!s->step[0].n) {
		printf("handshake steps: no attach seen whole in the store's change trace\n");
		return;
	}
	for (i = 0; i < S_N; i++) {
		bench_sort(&s->step[i]);
		ms[i] = bench_median_ns(&s->step[i]) / 1e6;
		bench_csv_row(&(bench_row){ .workload = workload, .op = "attach",
		                            .n = s->step[i].n, .metric = what[i], .value = ms[i],
		                            .unit = "ms" });
	}
	printf("handshake steps of %s, medians of %zu attaches from the store's change trace (ms):\n"
	       "  commit -> backend InitWait %.3f, -> frontend Initialised %.3f, -> backend "
	       "Connected %.3f, -> frontend Connected %.3f; commit -> both Connected %.3f%s\n",
	       workload, s->step[0].n, ms[S_B2], ms[S_F3], ms[S_B4], ms[S_F4], ms[S_T0],
	       s->lost ? " (the trace lost changes: some attaches not counted)" : "");
	if (!s->call[C_PRE].n)
		return;
	for (i = 0; i < C_N; i++) {
		bench_sort(&s->call[i]);
		ms[i] = bench_median_ns(&s->call[i]) / 1e6;
		bench_csv_row(&(bench_row){ .workload = workload, .op = "attach",
		                            .n = s->call[i].n,
		                            .metric = i == C_PRE ? "call_to_commit" : "connected_to_return",
		                            .value = ms[i], .unit = "ms" });
	}
	printf("  around them, medians of %zu: the attach call -> commit %.3f, both Connected -> "
	       "the call's return %.3f\n", s->call[C_PRE].n, ms[C_PRE], ms[C_POST]);
}

bench_steps *bench_steps_free(bench_steps *s)
{
	int i;

	if (!s)
		return NULL;
	vbd__trace_free(s->t);
	for (i = 0; i < S_N; i++)
		free(s->step[i].ns);
	for (i = 0; i < C_N; i++)
		free(s->call[i].ns);
	free(s);
	return NULL;
}
