/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl devd: the hotplug daemon of the domain it runs in (vbd_devd on
 * the context's loop), what xl devd is for a libxl driver domain.
 *
 * Example, in driver domain 2 (or a sim guest acting as one):
 *   vbdctl devd --socket DIR/xenstored.sock.d/2
 *   /local/domain/2/backend/vbd/1/51728 add ok
 *   /local/domain/2/backend/vbd/1/51728 remove ok
 * one line per step it ran, until SIGINT, SIGTERM or SIGHUP.
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

static const char devd_usage[] =
	"Usage: vbdctl devd [--socket PATH] [--script-timeout S] [--no-reap]\n"
	"                   [--reap-timeout S] [--ready-fd FD]\n"
	"\n"
	"Runs the block hotplug step for every vbd backend of the domain it runs in\n"
	"(dom0 or a driver domain: the domain of its xenstore connection), as xl devd\n"
	"does for a libxl driver domain, until SIGINT, SIGTERM or SIGHUP:\n"
	"  - a backend online, Initialising or InitWait, without hotplug-status: add\n"
	"    (built in when its script is vbd-block or absent, else its script, run as\n"
	"    libxl runs it, with XENBUS_PATH);\n"
	"  - a backend offline and Closed: remove; in a driver domain its directory\n"
	"    is then removed, which dom0's detach waits for;\n"
	"  - a backend whose directory is gone, this domain holding a record of its\n"
	"    add: the built-in remove (loop device freed, record deleted).\n"
	"A script that fails without writing hotplug-status gets hotplug-error and\n"
	"hotplug-status=error.  In dom0 a device whose script is not vbd-block is left\n"
	"to the toolstack, and devd also reaps the devices of domains that are gone\n"
	"(as vbdctl reap --follow).  Started after another devd stopped, it finishes\n"
	"what that one left and repeats nothing.\n"
	"\n"
	"Each step it ran is one line on stdout: the backend path, add or remove, and\n"
	"ok or \"failed (ERROR): why\" (a reap that failed says reap).\n"
	"\n"
	"  --socket PATH        the xenstore socket (else $XENSTORED_PATH, else the\n"
	"                       system's); scripts run with XENSTORED_PATH set to it\n"
	"  --script-timeout S   a hotplug script is killed after S seconds (40)\n"
	"  --no-reap            in dom0: leave domains that are gone to vbdctl reap\n"
	"  --reap-timeout S     how long a reap waits for a backend to close (10)\n"
	"  --ready-fd FD        write one byte to FD once watching, then close it\n"
	"\n"
	"Under systemd (vbd-devd.service, Type=notify) READY=1 goes to $NOTIFY_SOCKET\n"
	"once watching, as --ready-fd's byte; each line carries its syslog priority\n"
	"for the journal (failures are errors).\n"
	"\n"
	"Exit status: 0 stopped by a signal, 1 failed, 2 usage error.\n";

static void on_step(vbd_devd *d, const char *be, vbd_hotplug_action action, int result,
                    const char *message, void *ud)
{
	const char *verb = action == VBD_HOTPLUG_ADD ? "add" : "remove";

	(void)d;
	(void)ud;
	/* be is this domain's own path, the message may quote a script or a
	 * node another domain wrote: the whole line is escaped. */
	if (!be)
		vbdctl_print_at(VBD_LOG_ERR, "reap %s failed (%s): %s\n", verb, vbd_strerror(result),
		                message);
	else if (result < 0)
		vbdctl_print_at(VBD_LOG_ERR, "%s %s failed (%s): %s\n", be, verb, vbd_strerror(result),
		                message);
	else
		vbdctl_print_at(VBD_LOG_INFO, "%s %s ok\n", be, verb);
	fflush(stdout);
}

int vbdctl_devd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "script-timeout", required_argument, NULL, 't' },
		{ "no-reap", no_argument, NULL, 'n' },
		{ "reap-timeout", required_argument, NULL, 'r' },
		{ "ready-fd", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	vbd_devd_options o = VBD_DEVD_OPTIONS_INIT;
	const char *sock = NULL;
	vbd_devd *d = NULL;
	vbd_ctx *c = NULL;
	uint64_t ready = 0;
	bool have_ready = false;
	int opt, r, sfd = -1, ret = VBDCTL_EXIT_FAIL;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:t:nr:R:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; r = 0; break;
		case 't': r = vbdctl_parse_seconds(optarg, &o.script_timeout_ms); break;
		case 'n': o.no_reap = true; r = 0; break;
		case 'r': r = vbdctl_parse_seconds(optarg, &o.reap_timeout_ms); break;
		case 'R':
			r = vbdctl_parse_u64("ready fd", optarg, 1u << 20, &ready);
			have_ready = true;
			break;
		case 'h': fputs(devd_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(devd_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
		if (r < 0)
			return VBDCTL_EXIT_USAGE;
	}
	if (optind != argc) {
		vbdctl_err("devd: unexpected argument '%s' (try --help)", argv[optind]);
		return VBDCTL_EXIT_USAGE;
	}
	/* Through the environment rather than the context's option: the
	 * scripts devd runs then reach the same store (xenstore-write in a
	 * block script). */
	if (sock && setenv("XENSTORED_PATH", sock, 1) < 0) {
		vbdctl_err("devd: %s", strerror(errno));
		goto out;
	}
	if ((sfd = vbdctl_signalfd()) < 0) {
		vbdctl_err("devd: signalfd: %s", strerror(errno));
		goto out;
	}
	if (vbdctl_open_ctx(&c) < 0)
		goto out;
	if ((r = vbd_devd_new(c, &o, on_step, NULL, &d)) < 0) {
		vbdctl_err("devd: %s", vbd_ctx_last_error(c));
		goto out;
	}
	if (have_ready) {
		(void)!write((int)ready, "r", 1);
		close((int)ready);
	}
	vbdctl_notify("READY=1\nSTATUS=running the hotplug steps of this domain's backends");
	for (;;) {
		struct pollfd p[2] = { { vbd_ctx_get_fd(c), POLLIN, 0 }, { sfd, POLLIN, 0 } };
		struct signalfd_siginfo si;

		if (poll(p, 2, vbd_ctx_get_timeout_ms(c)) < 0 && errno != EINTR) {
			vbdctl_err("devd: poll: %s", strerror(errno));
			goto out;
		}
		if ((p[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			vbdctl_notify("STOPPING=1\nSTATUS=stopping on %s",
			              vbdctl_sig_name((int)si.ssi_signo));
			break;
		}
		if ((r = vbd_ctx_process(c)) < 0) {
			vbdctl_err("devd: %s", vbd_ctx_last_error(c));
			goto out;
		}
	}
	ret = VBDCTL_EXIT_OK;
out:
	/* A script still running is killed: it left no hotplug-status, so
	 * the next devd runs it again. */
	vbd_devd_free(d);
	vbd_ctx_free(c);
	if (sfd >= 0)
		close(sfd);
	return ret;
}
