/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBDCTL_SIM_H
#define VBDCTL_SIM_H
/* The simulated host's commands: the host (cmd_sim.c), the guest's frontend
 * server (cmd_frontend.c) and its client (cmd_io.c); sim_common.c.  The
 * helpers every command shares are in vbdctl.h (common.c). */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
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
/* DIR/name into buf. */
void vbdctl_sim_path(char *buf, size_t size, const char *dir, const char *name);
uint64_t vbdctl_mono_ms(void);
/* Whether pid runs (not a zombie); the host's pid from DIR/host.pid. */
bool vbdctl_sim_running(pid_t pid);
int vbdctl_sim_read_pid(const char *dir, pid_t *ret);

/* vbdctl sim (cmd_sim.c): its usage; stop, restart, status (sim_ctl.c). */
extern const char vbdctl_sim_usage[];
int vbdctl_sim_stop(int argc, char **argv);
int vbdctl_sim_restart(int argc, char **argv);
int vbdctl_sim_status(int argc, char **argv);
/* The host's start (sim_host_exec.c): sim start's forked host executes
 * vbdctl again with its allocator's settings, which returns only if it
 * could not; the host so started takes its ready pipe's fd and the user's
 * environment back (1; 0: not that host; -1: a bad fd). */
void vbdctl_sim_host_exec(const char *dir, uint64_t guests, int ready_fd);
int vbdctl_sim_host_resumed(int *ready_fd);

#endif
