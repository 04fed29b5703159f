/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Deterministic crash points: see crashpoint.h. */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/crashpoint.h"

int vbd__crashpoint_armed = -1;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char want[64];
static unsigned long nth = 1, hits;

static void parse(void)
{
	const char *v = secure_getenv("VBD_CRASHPOINT"), *colon;
	size_t n;

	if (!v || !*v) {
		__atomic_store_n(&vbd__crashpoint_armed, 0, __ATOMIC_RELAXED);
		return;
	}
	colon = strchr(v, ':');
	n = colon ? (size_t)(colon - v) : strlen(v);
	if (n >= sizeof(want) || !n) {
		__atomic_store_n(&vbd__crashpoint_armed, 0, __ATOMIC_RELAXED);
		return;
	}
	memcpy(want, v, n);
	want[n] = 0;
	if (colon) {
		char *end;
		unsigned long k = strtoul(colon + 1, &end, 10);

		if (*end || !k || k == ULONG_MAX) {
			__atomic_store_n(&vbd__crashpoint_armed, 0, __ATOMIC_RELAXED);
			return;
		}
		nth = k;
	}
	__atomic_store_n(&vbd__crashpoint_armed, 1, __ATOMIC_RELAXED);
}

void vbd__crashpoint_hit(const char *name)
{
	pthread_once(&once, parse);
	if (!__atomic_load_n(&vbd__crashpoint_armed, __ATOMIC_RELAXED) || strcmp(name, want))
		return;
	if (__atomic_add_fetch(&hits, 1, __ATOMIC_RELAXED) != nth)
		return;
	/* Said where, so that a test can tell which point killed it; stderr is
	 * unbuffered.  Then the kill, as a crash would. */
	{
		char line[128];
		int len = snprintf(line, sizeof(line), "crashpoint %s: SIGKILL (pid %ld)\n", name,
		                   (long)getpid());

		if (len > 0)
			(void)!write(2, line, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
	}
	kill(getpid(), SIGKILL);
	raise(SIGKILL);
	_exit(137);
}
