/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBDCTL_SIM_H
#define VBDCTL_SIM_H
/* The simulated host's commands: the host (cmd_sim.c), the guest's frontend
 * server (cmd_frontend.c) and its client (cmd_io.c); sim_common.c.  The
 * helpers every command shares are in vbdctl.h (common.c). */
#include <stddef.h>
#include <stdint.h>

#define VBDCTL_SIM_DEFAULT_DIR "/run/vbd-sim"
/* Under a host's DIR: where its backend publishes counters (--stats-dir). */
#define VBDCTL_SIM_STATS_DIR "backend-stats"
#define VBDCTL_GUEST_MAX_DEVICES 256     /* vbds one frontend process serves */
#define VBDCTL_IO_CHUNK (1u << 20)       /* the largest I/O one request moves */

/* --dir, else $VBD_SIM_DIR, else the default. */
const char *vbdctl_sim_dir(const char *opt);
/* The host a client command (io, stop) talks to: --dir, else $VBD_SIM_DIR,
 * else the one whose xenstore $XENSTORED_PATH names, else the default. */
const char *vbdctl_sim_client_dir(const char *opt, char *buf, size_t size);

#endif
