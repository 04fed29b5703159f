/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sim host's start: executed again without glibc's cache of freed
 * blocks (why below), the user's environment given back to its children. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"
#include "vbdctl.h"

/*
 * The host runs without glibc's per-thread cache of freed blocks.  After
 * 1000 devices came and went, what kept the host's heap pages resident
 * once the store had trimmed was that cache: up to seven blocks of each
 * size to 1 KiB, the last ones freed, anywhere among the peak's pages, and
 * malloc_trim leaves them alone (soak-mem at 400 devices, a walk of the
 * heap's chunks: 203 resident pages under 1 KiB of live data with the
 * cache, 9 without; after/before 1.25 and 1.02).  The host is one thread
 * serving short requests: the cache saves it little.  glibc reads the
 * setting only when a program starts, so the host, forked by sim start,
 * executes vbdctl again with it in GLIBC_TUNABLES (after whatever the
 * user's has) and takes the user's environment back before it starts
 * anything, so that the backend and guests run as they would without it.
 */
#define SIM_HOST_FD_ENV "VBDCTL_SIM_HOST_FD"     /* set: this is the host */
#define SIM_TUNABLES_ENV "VBDCTL_SIM_TUNABLES"   /* the user's GLIBC_TUNABLES */
#define SIM_HOST_TUNABLE "glibc.malloc.tcache_count=0"

/* Returns only if the host could not be executed again; it then runs with
 * the cache, as before. */
void vbdctl_sim_host_exec(const char *dir, uint64_t guests, int ready_fd)
{
#ifdef __GLIBC__
	const char *was = getenv("GLIBC_TUNABLES");
	char g[24], fd[16], *t = NULL;
	char *argv[] = { "vbdctl", "sim", "start", "--guests", g, "--dir", (char *)dir, NULL };

	if (asprintf(&t, "%s%s" SIM_HOST_TUNABLE, was ? was : "", was && *was ? ":" : "") < 0)
		return;
	snprintf(g, sizeof(g), "%" PRIu64, guests);
	snprintf(fd, sizeof(fd), "%d", ready_fd);
	if ((was ? setenv(SIM_TUNABLES_ENV, was, 1) : unsetenv(SIM_TUNABLES_ENV)) == 0 &&
	    setenv(SIM_HOST_FD_ENV, fd, 1) == 0 && setenv("GLIBC_TUNABLES", t, 1) == 0 &&
	    fcntl(ready_fd, F_SETFD, 0) == 0)
		execv("/proc/self/exe", argv);
	vbdctl_err("sim host: running with glibc's cache of freed blocks: cannot execute "
	           "again: %s", strerror(errno));
	fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
	unsetenv(SIM_HOST_FD_ENV);
	unsetenv(SIM_TUNABLES_ENV);
	if (was)
		setenv("GLIBC_TUNABLES", was, 1);
	else
		unsetenv("GLIBC_TUNABLES");
	free(t);
#else
	(void)dir, (void)guests, (void)ready_fd;
#endif
}

/* In the host executed again by vbdctl_sim_host_exec(): 1 and the ready
 * pipe's fd in *ready_fd, with the user's environment back; 0 if this is
 * not that host; -1 on a bad fd. */
int vbdctl_sim_host_resumed(int *ready_fd)
{
	const char *fd_str = getenv(SIM_HOST_FD_ENV), *was = getenv(SIM_TUNABLES_ENV);
	uint64_t fd;

	if (!fd_str)
		return 0;
	if (vbdctl_parse_u64(SIM_HOST_FD_ENV, fd_str, INT_MAX, &fd) < 0)
		return -1;
	if (was)
		setenv("GLIBC_TUNABLES", was, 1);
	else
		unsetenv("GLIBC_TUNABLES");
	unsetenv(SIM_TUNABLES_ENV);
	unsetenv(SIM_HOST_FD_ENV);
	fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	*ready_fd = (int)fd;
	return 1;
}
