/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where status and top find a device's request counters: the kernel's
 * blkback keeps them in /sys; the bundled backend (vbdctl backend
 * --stats-dir DIR) publishes the same layout under DIR.  DIR is
 * --stats-dir, else $VBD_STATS_DIR, else, on a simulated host ($VBD_SIM_DIR,
 * or the one $XENSTORED_PATH names), the directory its backend was given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"
#include "vbdctl.h"

const char *vbdctl_stats_dir(const char *opt, char *buf, size_t size)
{
	const char *env = getenv("VBD_STATS_DIR"), *sim = getenv("VBD_SIM_DIR");
	const char *xs = getenv("XENSTORED_PATH");
	char host[4096];
	const char *dir;

	if (opt)
		return opt;
	if (env && *env)
		return env;
	if (sim && *sim) {
		dir = sim;
	} else if (xs) {
		/* Only the host $XENSTORED_PATH names, never the default one. */
		dir = vbdctl_sim_client_dir(NULL, host, sizeof(host));
		if (dir != host)
			return NULL;
	} else {
		return NULL;
	}
	if ((size_t)snprintf(buf, size, "%s/" VBDCTL_SIM_STATS_DIR, dir) >= size)
		return NULL;
	return buf;
}

bool vbdctl_dev_stats(const char *dir, vbd_domid domid, uint32_t devid, vbd_dev_stats *ret)
{
	ret->size = sizeof(*ret);
	if (dir && vbd_dev_stats_read_sysfs(dir, domid, devid, ret) == 0)
		return true;
	return vbd_dev_stats_read_sysfs(NULL, domid, devid, ret) == 0;
}
