/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the simulated host's commands share (cmd_sim.c, cmd_frontend.c,
 * cmd_io.c): where a host's files are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
