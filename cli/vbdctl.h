/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBDCTL_H
#define VBDCTL_H

/* Exit codes, documented in vbdctl(8). */
enum {
	VBDCTL_EXIT_OK = 0,
	VBDCTL_EXIT_FAIL = 1,
	VBDCTL_EXIT_USAGE = 2,
	/* verify, watch: no violation seen, but not every transition was */
	VBDCTL_EXIT_INCOMPLETE = 3,
};

#define VBDCTL_DEFAULT_SOCKET "/run/vbd/xenstored/socket"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vbd/ctx.h"
#include "vbd/dev.h"
#include "vbd/status.h"

/* Output for a person (term.c): everything but one final newline escaped,
 * since guests write much of what is shown.  vbdctl_err: "vbdctl: " and the
 * message on stderr, one line.  vbdctl_log: prefix and msg, one line. */
void vbdctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vbdctl_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vbdctl_log(const char *prefix, const char *msg);
void vbdctl_escape(FILE *f, const char *s, size_t n);
/* What every command shares (common.c). */
/* --quiet (-1: only errors), default (0), --verbose (1: the library's log
 * at info and above, unless VBDCTL_LOG says otherwise). */
extern int vbdctl_verbosity;
/* -q/--quiet or -v/--verbose at argv[i]: sets vbdctl_verbosity, true. */
bool vbdctl_verbosity_opt(const char *arg);
/* The daemons' stop signals: blocks SIGTERM, SIGINT and SIGHUP, which the
 * returned signalfd (non-blocking) delivers, and ignores SIGPIPE.  -1 (errno)
 * on failure. */
int vbdctl_signalfd(void);
/* The store socket: --socket, else $XENSTORED_PATH, else the default. */
const char *vbdctl_socket(const char *opt);
/* s as a number in 0..max (any base strtoull takes); -EINVAL, said, if not. */
int vbdctl_parse_u64(const char *what, const char *s, uint64_t max, uint64_t *ret);
/* s as the decimal id of a guest domain (1..DOMID_FIRST_RESERVED-1);
 * -EINVAL, said, if not. */
int vbdctl_parse_domid(const char *s, unsigned *ret);
/* All of len bytes, or -EIO. */
int vbdctl_write_all(int fd, const void *buf, size_t len);
int vbdctl_read_all(int fd, void *buf, size_t len);

/* cmd_dev.c's helpers of the commands on devices (attach, detach, reap):
 * a context with VBDCTL_LOG's log (says why on failure); --timeout's
 * seconds; an operation's done callback and the loop that runs it until
 * done (0) or a signal on sfd (its number), -errno if the loop fails; a
 * signal's name; DOM as a name or an id, an id that names no domain being
 * a gone domain's (*ret_gone). */
struct vbdctl_op_wait {
	bool done;
	int result;
	struct vbdctl_progress *progress;   /* NULL: none shown */
};
int vbdctl_open_ctx(vbd_ctx **ret);
int vbdctl_open_dom_vdev(const char *cmd, int argc, char **argv, vbd_ctx **c, int *dom,
                         int64_t *devid);
int vbdctl_parse_seconds(const char *s, unsigned *ret_ms);
void vbdctl_op_done(vbd_ctx *c, int result, const char *message, void *ud);
int vbdctl_run_op(vbd_ctx *c, int sfd, struct vbdctl_op_wait *w);
const char *vbdctl_sig_name(int sig);
int vbdctl_lookup_maybe_gone(vbd_ctx *c, const char *s, vbd_domid *ret, bool *ret_gone);

/* progress.c: the line an attach or detach keeps on a terminal while it
 * waits (nothing off a terminal or with --quiet).  _init names the
 * operation; vbdctl_progress_fn is the options' progress callback (its
 * userdata the struct); _timeout shortens a poll timeout to the next
 * second shown and _tick redraws; _hide erases the line before another is
 * written to stderr (it comes back at the next draw); _end erases it for
 * good. */
struct vbdctl_progress {
	bool on, have, drawn;
	char what[96];
	uint64_t start_ms;
	vbd_dev_step step;
	int backend_state, frontend_state;
	char waiting_for[256];
};
void vbdctl_progress_init(struct vbdctl_progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vbdctl_progress_fn(vbd_ctx *c, const vbd_dev_progress *r, void *ud);
int vbdctl_progress_timeout(const struct vbdctl_progress *p, int timeout_ms);
void vbdctl_progress_tick(struct vbdctl_progress *p);
void vbdctl_progress_hide(void);
void vbdctl_progress_end(struct vbdctl_progress *p);

/* stats.c: the bundled backend's published counters (NULL: none known),
 * and one device's counters from there or the kernel's sysfs. */
const char *vbdctl_stats_dir(const char *opt, char *buf, size_t size);
bool vbdctl_dev_stats(const char *dir, vbd_domid domid, uint32_t devid, vbd_dev_stats *ret);

/* systemd.c: the daemons under systemd.  vbdctl_journal_prefix writes "<level>"
 * (syslog's numbers, as vbd_log_level) to f when f is stdout or stderr and
 * that stream is the journal ($JOURNAL_STREAM), else nothing.
 * vbdctl_notify: sd_notify() of the formatted state ("READY=1\nSTATUS=..."),
 * nothing without $NOTIFY_SOCKET.  vbdctl_listen_fd: the socket passed by
 * socket activation in *ret (1), or -1 when none was (0); -errno, said, when
 * the passed fds are not one socket. */
void vbdctl_journal_prefix(FILE *f, int level);
void vbdctl_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vbdctl_listen_fd(int *ret);
/* vbdctl_print and vbdctl_log at a syslog priority, for daemons' lines. */
void vbdctl_print_at(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vbdctl_log_at(int level, const char *prefix, const char *msg);

int vbdctl_store(int argc, char **argv);
int vbdctl_hotplug(int argc, char **argv);
int vbdctl_attach(int argc, char **argv);
int vbdctl_detach(int argc, char **argv);
int vbdctl_reap(int argc, char **argv);
int vbdctl_devd(int argc, char **argv);
int vbdctl_status(int argc, char **argv);
int vbdctl_top(int argc, char **argv);
int vbdctl_verify(int argc, char **argv);
int vbdctl_watch(int argc, char **argv);
int vbdctl_backend(int argc, char **argv);
int vbdctl_sim(int argc, char **argv);
int vbdctl_frontend(int argc, char **argv);
int vbdctl_io(int argc, char **argv);
int vbdctl_complete(int argc, char **argv);

#endif
