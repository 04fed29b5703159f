/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl backend: the bundled userspace blkback as a daemon serving every
 * vbd (or, with --kind vbd3, vbd3) backend directory of one domain (dom0,
 * or a driver domain).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "vbd/blkback.h"
#include "vbd/ctx.h"
#include "vbd/transport.h"
#include "vbdctl.h"

static const char backend_usage[] =
	"Usage: vbdctl backend [--domain D] [--kind vbd|vbd3] [--max-queues N]\n"
	"                      [--max-ring-order N] [--max-indirect N]\n"
	"                      [--persistent-grants N] [--persistent-grants-total N]\n"
	"                      [--no-discard] [--resize-poll S] [--poll-us N]\n"
	"                      [--stats-dir DIR] [--ready-fd FD] [--verbose]\n"
	"\n"
	"Runs the bundled userspace block backend for every vbd backend directory\n"
	"of domain D (0): it probes each new device (InitWait), opens the target\n"
	"named by physical-device, maps the frontend's rings when it is ready and\n"
	"serves its requests (one worker thread per ring) until it closes.\n"
	"With --kind vbd3 it serves backend/vbd3 instead, libxl's directory for\n"
	"backendtype=tap disks (params aio:PATH), and leaves backend/vbd to the\n"
	"kernel's blkback: each serves its own disks on one host.\n"
	"The transport is the simulated hypervisor when $VBD_SIMHV_PATH is set\n"
	"(vbdctl sim), else Xen's grant and event-channel devices.\n"
	"\n"
	"  --kind vbd|vbd3        the backend directory served (vbd)\n"
	"  --max-queues N         multi-queue-max-queues offered (the online CPUs)\n"
	"  --max-ring-order N     max-ring-page-order offered, 0..4 (4)\n"
	"  --max-indirect N       feature-max-indirect-segments, 0 = none (256)\n"
	"  --persistent-grants N  kept mapped per ring, 0 = no feature-persistent (8192)\n"
	"  --persistent-grants-total N\n"
	"                         kept mapped by all rings together, 0 = none (half of\n"
	"                         vm.max_map_count): past it a ring reuses its own or\n"
	"                         maps for the request only\n"
	"  --no-discard           do not offer discard\n"
	"  --resize-poll S        re-check target sizes every S seconds (2; 0 = only\n"
	"                         on SIGHUP)\n"
	"  --poll-us N            a ring's worker busy-polls the ring up to N\n"
	"                         microseconds before sleeping on the event channel\n"
	"                         (0 = off, the default; at most 1000000): less\n"
	"                         latency, more CPU\n"
	"  --stats-dir DIR        publish each device's request counters every second\n"
	"                         under DIR, laid out as the kernel's sysfs (DIR/bus/\n"
	"                         xen-backend/devices/vbd-D-N/statistics/), for\n"
	"                         vbdctl status and top --stats-dir DIR\n"
	"  --ready-fd FD          write one byte to FD once serving, then close it\n"
	"  --verbose              log every step on stderr (else warnings and errors)\n"
	"\n"
	"Under systemd (vbd-backend@D.service, Type=notify) READY=1 goes to\n"
	"$NOTIFY_SOCKET once serving, as --ready-fd's byte; log lines carry their\n"
	"syslog priority for the journal.\n"
	"\n"
	"SIGHUP re-checks every target's size now; SIGTERM or SIGINT closes every\n"
	"device (Closed) and exits.\n"
	"\n"
	"Exit status: 0 stopped by a signal, 1 failed, 2 usage error.\n";

/* How often --stats-dir is refreshed: what vbdctl top samples at most. */
#define STATS_PERIOD_MS 1000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void log_stderr(int level, const char *msg, void *ud)
{
	bool verbose = ud != NULL;

	if (verbose || level <= VBD_LOG_WARNING)
		vbdctl_log_at(level, "vbdctl backend: ", msg);
}

static int parse_uint(const char *what, const char *s, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max) {
		vbdctl_err("bad %s '%s': expected 0..%u", what, s, max);
		return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}

/* An option whose 0 is a value, not "default": VBD_OPT_ZERO says so. */
static int parse_opt(const char *what, const char *s, unsigned max, unsigned *ret)
{
	int r = parse_uint(what, s, max, ret);

	if (r == 0 && *ret == 0)
		*ret = VBD_OPT_ZERO;
	return r;
}

int vbdctl_backend(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "kind", required_argument, NULL, 'k' },
		{ "max-queues", required_argument, NULL, 'q' },
		{ "max-ring-order", required_argument, NULL, 'o' },
		{ "max-indirect", required_argument, NULL, 'i' },
		{ "persistent-grants", required_argument, NULL, 'p' },
		{ "persistent-grants-total", required_argument, NULL, 'P' },
		{ "no-discard", no_argument, NULL, 'D' },
		{ "resize-poll", required_argument, NULL, 'r' },
		{ "poll-us", required_argument, NULL, 'U' },
		{ "ready-fd", required_argument, NULL, 'R' },
		{ "stats-dir", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	vbd_blkback_options o = VBD_BLKBACK_OPTIONS_INIT;
	vbd_xport_options xo = VBD_XPORT_OPTIONS_INIT;
	vbd_xport *x = NULL;
	vbd_blkback *b = NULL;
	vbd_errbuf err = { "" };
	unsigned poll_s = 2, ready = 0;
	const char *stats_dir = NULL;
	uint64_t next_stats = 0;
	bool have_ready = false, verbose = false, have_queues = false;
	int c, r, sfd = -1, ret = VBDCTL_EXIT_FAIL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:k:q:o:i:p:P:Dr:U:R:S:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': r = parse_uint("domain", optarg, 0x7FEF, &o.domid); break;
		case 'k':
			o.kind = optarg;
			r = strcmp(optarg, "vbd") && strcmp(optarg, "vbd3") ? -EINVAL : 0;
			if (r < 0)
				vbdctl_err("backend: bad kind '%s': expected vbd or vbd3", optarg);
			break;
		case 'q':
			r = parse_uint("queue count", optarg, 64, &o.max_queues);
			have_queues = true;
			break;
		case 'o': r = parse_opt("ring order", optarg, 4, &o.max_ring_page_order); break;
		case 'i': r = parse_opt("indirect segments", optarg, 4096, &o.max_indirect_segments); break;
		case 'p': r = parse_opt("persistent grants", optarg, 1u << 20, &o.persistent_grants_max); break;
		case 'P':
			r = parse_opt("persistent grants in all", optarg, 1u << 30,
			              &o.persistent_grants_total);
			break;
		case 'D': o.no_discard = true; r = 0; break;
		case 'r': r = parse_uint("resize poll", optarg, 86400, &poll_s); break;
		case 'U': r = parse_uint("poll bound", optarg, 1000000, &o.poll_us); break;
		case 'R': r = parse_uint("ready fd", optarg, 1u << 20, &ready); have_ready = true; break;
		case 'S': stats_dir = optarg; r = 0; break;
		case 'v': verbose = true; r = 0; break;
		case 'h': fputs(backend_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(backend_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
		if (r < 0)
			return VBDCTL_EXIT_USAGE;
	}
	if (optind != argc) {
		vbdctl_err("backend: unexpected argument '%s'", argv[optind]);
		return VBDCTL_EXIT_USAGE;
	}
	if (have_queues && o.max_queues == 0) {
		vbdctl_err("backend: --max-queues must be at least 1");
		return VBDCTL_EXIT_USAGE;
	}

	sfd = vbdctl_signalfd();
	if (sfd < 0) {
		vbdctl_err("signalfd: %s", strerror(errno));
		goto out;
	}
	r = vbd_xport_open(&x, &xo, &err);
	if (r < 0) {
		vbdctl_err("backend: no grant/event-channel transport: %s", err.msg[0] ? err.msg :
		           vbd_strerror(r));
		goto out;
	}
	o.xport = x;
	o.resize_poll_ms = poll_s * 1000;
	o.log = log_stderr;
	o.log_userdata = verbose ? (void *)1 : NULL;
	r = vbd_blkback_new(&b, &o, &err);
	if (r < 0) {
		vbdctl_err("backend: %s", err.msg[0] ? err.msg : vbd_strerror(r));
		goto out;
	}
	if (have_ready) {
		(void)!write((int)ready, "r", 1);
		close((int)ready);
	}
	vbdctl_notify("READY=1\nSTATUS=serving backend/%s of domain %u", o.kind ? o.kind : "vbd",
	              o.domid);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = vbd_blkback_get_fd(b), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};

		int timeout = vbd_blkback_get_timeout_ms(b);

		if (stats_dir) {
			uint64_t now = now_ms();

			if (now >= next_stats) {
				r = vbd_blkback_write_stats(b, stats_dir);
				if (r < 0)
					vbdctl_err("backend: publishing counters under %s: %s", stats_dir,
					           vbd_strerror(r));
				next_stats = now + STATS_PERIOD_MS;
			}
			if (timeout < 0 || (uint64_t)timeout > next_stats - now)
				timeout = (int)(next_stats - now);
		}
		if (poll(p, 2, timeout) < 0 && errno != EINTR) {
			vbdctl_err("poll: %s", strerror(errno));
			goto out;
		}
		if (p[1].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo != SIGHUP) {
					vbdctl_notify("STOPPING=1\nSTATUS=stopping on %s",
					              vbdctl_sig_name((int)si.ssi_signo));
					break;
				}
				vbd_blkback_refresh(b);
			}
		}
		r = vbd_blkback_process(b);
		if (r < 0) {
			vbdctl_err("backend: %s", vbd_strerror(r));
			goto out;
		}
	}
	ret = VBDCTL_EXIT_OK;
out:
	vbd_blkback_free(b);
	vbd_xport_free(x);
	if (sfd >= 0)
		close(sfd);
	return ret;
}
