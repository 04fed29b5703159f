/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the simulated host's commands share (cmd_sim.c, cmd_frontend.c,
 * cmd_io.c): where a host's files are.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"
#include "vbdctl.h"

const char *vbdctl_sim_dir(const char *opt)
{
	const char *env = getenv("VBD_SIM_DIR");

	if (opt)
		return opt;
	return env && *env ? env : VBDCTL_SIM_DEFAULT_DIR;
}

/* The host a client command (io, stop) talks to: --dir, else $VBD_SIM_DIR,
 * else the one whose xenstore $XENSTORED_PATH names (what sim start told to
 * export: DIR/xenstored.sock, with the host's pid file beside it), else the
 * default. */
const char *vbdctl_sim_client_dir(const char *opt, char *buf, size_t size)
{
	const char *env = getenv("VBD_SIM_DIR"), *xs = getenv("XENSTORED_PATH"), *slash;
	static const char sock[] = "/xenstored.sock";
	size_t n;

	if (opt || (env && *env) || !xs)
		return vbdctl_sim_dir(opt);
	slash = strrchr(xs, '/');
	n = slash ? (size_t)(slash - xs) : 0;
	if (!slash || strcmp(slash, sock) || n + sizeof("/host.pid") > size)
		return vbdctl_sim_dir(NULL);
	snprintf(buf, size, "%.*s/host.pid", (int)n, xs);
	if (access(buf, F_OK) < 0)
		return vbdctl_sim_dir(NULL);
	buf[n] = 0;
	return buf;
}

void vbdctl_sim_path(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

uint64_t vbdctl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Whether pid runs: kill(pid, 0) also succeeds on a zombie, which a
 * killed host whose parent does not reap stays. */
bool vbdctl_sim_running(pid_t pid)
{
	char path[64], buf[256], *rp;
	FILE *f;
	bool r = false;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!(f = fopen(path, "re")))
		return false;
	if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) && rp[1] == ' ')
		r = rp[2] != 'Z' && rp[2] != 'X';
	fclose(f);
	return r;
}

int vbdctl_sim_read_pid(const char *dir, pid_t *ret)
{
	char path[PATH_MAX], buf[32];
	FILE *f;
	long v;

	vbdctl_sim_path(path, sizeof(path), dir, "host.pid");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f) || (v = strtol(buf, NULL, 10)) <= 0) {
		fclose(f);
		return -EINVAL;
	}
	fclose(f);
	*ret = (pid_t)v;
	return 0;
}
