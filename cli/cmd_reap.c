/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl reap: the devices of domains that are gone, once or following
 * @releaseDomain.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "vbd/ctx.h"
#include "vbd/dev.h"

#include "vbdctl.h"

static const char reap_usage[] =
	"Usage: vbdctl reap [DOM] [--timeout S]\n"
	"       vbdctl reap --follow [--timeout S]\n"
	"\n"
	"Detaches the devices of domain DOM, which must be gone (a domain id), or\n"
	"without DOM those of every domain that is gone, as detach --force does:\n"
	"both ends asked to close, a backend still running waited for (at most\n"
	"--timeout seconds, 10), the hotplug remove step (loop devices freed), the\n"
	"frontend, backend and /libxl nodes deleted.  The devices are the ones in\n"
	"dom0's /libxl copy and dom0's own backend dir, never what a guest wrote.\n"
	"A domain that still exists is refused: detach its devices instead.\n"
	"A gone domain that served backends (a driver domain) counts too: the\n"
	"devices whose /libxl copy names it as the backend domain are reaped,\n"
	"their guests' frontends told (the backend set Closed where its dir\n"
	"remains, then the frontend dir deleted) and dom0's nodes cleaned.\n"
	"\n"
	"--follow stays: every domain that is gone is reaped at once and again each\n"
	"time xenstore announces that a domain went (@releaseDomain), until SIGINT,\n"
	"SIGTERM or SIGHUP.  Each device reaped is said on stderr.\n"
	"\n"
	"Exit status: 0 nothing left (--follow: stopped by a signal), 1 failed, 2 usage\n"
	"error, 128+N interrupted by signal N (what was not reaped yet stays; run it\n"
	"again).\n";

static void follow_pass(vbd_reaper *rr, int r, const char *message, void *ud)
{
	(void)rr;
	(void)ud;
	if (r < 0)
		vbdctl_err("reap failed (%s): %s", vbd_strerror(r), message);
}

/* reap --follow: the reaper on the loop until a signal. */
static int reap_follow(const vbd_reap_options *o, int sfd)
{
	vbd_reaper *rr = NULL;
	vbd_ctx *c = NULL;
	int r, ret = VBDCTL_EXIT_FAIL;

	/* What it reaps is what it is for: said unless asked for quiet. */
	setenv("VBDCTL_LOG", "info", 0);
	if (vbdctl_open_ctx(&c) < 0)
		goto out;
	if ((r = vbd_reaper_new(c, o, follow_pass, NULL, &rr)) < 0) {
		vbdctl_err("reap --follow: %s", vbd_ctx_last_error(c));
		goto out;
	}
	for (;;) {
		struct pollfd p[2] = { { vbd_ctx_get_fd(c), POLLIN, 0 }, { sfd, POLLIN, 0 } };
		struct signalfd_siginfo si;

		if (poll(p, 2, vbd_ctx_get_timeout_ms(c)) < 0 && errno != EINTR) {
			vbdctl_err("reap --follow: poll: %s", strerror(errno));
			goto out;
		}
		if ((p[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si))
			break;
		if ((r = vbd_ctx_process(c)) < 0) {
			vbdctl_err("reap --follow: %s", vbd_ctx_last_error(c));
			goto out;
		}
	}
	ret = VBDCTL_EXIT_OK;
out:
	vbd_reaper_free(rr);
	vbd_ctx_free(c);
	return ret;
}

int vbdctl_reap(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	vbd_reap_options o = VBD_REAP_OPTIONS_INIT;
	struct vbdctl_op_wait w = { false, 0, NULL };
	vbd_ctx *c = NULL;
	bool gone = false, follow = false;
	int opt, r, sig = 0, sfd = -1, ret = VBDCTL_EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "ft:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'f': follow = true; break;
		case 't':
			if (vbdctl_parse_seconds(optarg, &o.timeout_ms) < 0)
				return VBDCTL_EXIT_USAGE;
			break;
		case 'h': fputs(reap_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(reap_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (argc - optind > (follow ? 0 : 1)) {
		vbdctl_err(follow ? "reap --follow: takes no DOM: it reaps every domain that goes "
		           "(try --help)" : "reap: expected at most DOM (try --help)");
		return VBDCTL_EXIT_USAGE;
	}
	if ((sfd = vbdctl_signalfd()) < 0) {
		vbdctl_err("reap: signalfd: %s", strerror(errno));
		goto out;
	}
	if (follow) {
		ret = reap_follow(&o, sfd);
		goto out;
	}
	if (vbdctl_open_ctx(&c) < 0)
		goto out;
	if (argc - optind == 1 && vbdctl_lookup_maybe_gone(c, argv[optind], &o.domid, &gone) < 0) {
		vbdctl_err("%s", vbd_ctx_last_error(c));
		goto out;
	}
	r = vbd_dev_reap(c, &o, vbdctl_op_done, &w);
	if (r == 0 && (sig = vbdctl_run_op(c, sfd, &w)) > 0) {
		vbdctl_err("reap interrupted by %s: what was not reaped yet stays; vbdctl reap%s%s "
		           "finishes it", vbdctl_sig_name(sig), argc - optind ? " " : "",
		           argc - optind ? argv[optind] : "");
		ret = 128 + sig;
		goto out;
	}
	if (r == 0)
		r = sig < 0 ? sig : w.result;
	if (r < 0) {
		vbdctl_err("reap failed (%s): %s", vbd_strerror(r), vbd_ctx_last_error(c));
		goto out;
	}
	ret = VBDCTL_EXIT_OK;
out:
	vbd_ctx_free(c);
	if (sfd >= 0)
		close(sfd);
	return ret;
}
