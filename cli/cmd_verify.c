/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl verify and watch: the protocol's rules checked once, and followed
 * live through watches (lib/toolstack/verify.c), for a person.
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

#include "vbd/ctx.h"
#include "vbd/dev.h"
#include "vbd/disk.h"
#include "vbd/verify.h"
#include "timeline.h"
#include "vbdctl.h"

static const char verify_usage[] =
	"Usage: vbdctl verify DOM VDEV [--timeline] [--svg FILE]\n"
	"       vbdctl verify --log FILE [--log-format cxenstored|oxenstored]\n"
	"                     [--toolstack DOM] [--timeline] [--svg FILE] [DOM]\n"
	"\n"
	"Checks the device's backend and frontend nodes against the rules of the blkif\n"
	"xenstore protocol: states, when each end may be Initialised or Connected, the\n"
	"keys a Connected backend publishes, ring keys against ring-page-order and\n"
	"queues, protocol, physical-device, hotplug-status, online.  Each violation is\n"
	"printed with its rule, node and the values seen (see libvbd's vbd/verify.h).\n"
	"'vbdctl watch' also checks the transitions as they happen.\n"
	"One look sees the device as it is, not how it came there: a device past\n"
	"Initialising passed through states nobody here saw, so without a violation\n"
	"it is not a pass but 'incomplete: N transitions unobserved', naming them.\n"
	"\n"
	"With --log, replays a log of Xen's xenstored instead: the C xenstored's trace\n"
	"(xenstored -T FILE, or xenstore-control logfile FILE and log on) or oxenstored's\n"
	"access log (recognised from its lines unless --log-format says).  Every\n"
	"committed change of the VBDs of DOM (default: all) is judged in order, each\n"
	"state written and overwritten too, and who wrote it: the toolstack's domain\n"
	"(--toolstack, default 0) creates an end and closes a backend, and only each\n"
	"end's domain moves its state on (rule 'writer').  Each report is printed as\n"
	"'vbdctl watch' prints it, with the log's time, line and writing domain.\n"
	"What the log cannot tell (a value cut short, a connection whose domain it\n"
	"never named) makes the history incomplete.\n"
	"\n"
	"Exit status: 0 the device passes (both ends Initialising or absent; with --log,\n"
	"no violation and the history whole), 1 violations (or no such device, or a log\n"
	"that cannot be read), 2 usage error, 3 no violation but history incomplete.\n"
	"\n"
	"--timeline draws what the look read (with --log: the log's changes, with\n"
	"their time and writer) as the two ends' lanes (backend, frontend): states\n"
	"not observed as '? State' rows, each violation as an X in its lane with\n"
	"its rule and node; --svg FILE writes the same as an SVG picture.\n";

static int verify_log(int argc, char **argv, bool timeline, const char *svg);

/* --timeline, --svg FILE: *argc and argv without them; -1 on a usage error. */
static int timeline_opts(int *argc, char **argv, bool *timeline, const char **svg)
{
	int i, n = 0;

	for (i = 0; i < *argc; i++) {
		if (!strcmp(argv[i], "--timeline")) {
			*timeline = true;
		} else if (!strcmp(argv[i], "--svg")) {
			if (i + 1 >= *argc) {
				vbdctl_err("--svg needs a FILE");
				return -1;
			}
			*svg = argv[++i];
		} else {
			argv[n++] = argv[i];
		}
	}
	*argc = n;
	return 0;
}

/* The picture's end: the SVG file, said on failure. */
static int timeline_end(struct vbdctl_timeline *tl, const char *svg)
{
	int r = 0;

	if (tl && svg && (r = vbdctl_timeline_svg(tl, svg)) < 0)
		vbdctl_err("--svg %s: %s", svg, strerror(-r));
	vbdctl_timeline_free(tl);
	return r;
}

/* What one look read, as a reader's reports (vbd/verify.h): each end from
 * (none) to its state, the states it must have passed unseen, then the
 * violations. */
static void timeline_verify(struct vbdctl_timeline *tl, unsigned dom, uint32_t devid,
                            const vbd_verify_history *h, const vbd_violation *v, size_t n)
{
	vbd_verify_event e = { .domid = dom, .devid = devid, .old_state = -1, .writer = -1 };
	size_t i;

	e.side = "backend";
	e.new_state = h->backend_state;
	e.unseen = h->backend_unseen;
	if (e.new_state >= 0)
		vbdctl_timeline_add(tl, &e, 0);
	e.side = "frontend";
	e.new_state = h->frontend_state;
	e.unseen = h->frontend_unseen;
	if (e.new_state >= 0)
		vbdctl_timeline_add(tl, &e, 0);
	for (i = 0; i < n; i++) {
		vbd_verify_event ev = { .domid = dom, .devid = devid, .old_state = -1, .new_state = -1,
		                        .v = &v[i], .writer = -1 };

		ev.side = strstr(v[i].node, "/backend/") ? "backend" : "frontend";
		vbdctl_timeline_add(tl, &ev, 0);
	}
}

/* "backend Initialising, InitWait; frontend Initialising" */
static void print_states(const char *side, unsigned mask, const char **sep)
{
	const char *comma = " ";
	int s;

	if (!mask)
		return;
	vbdctl_print("%s%s", *sep, side);
	for (s = 0; s <= VBD_STATE_RECONFIGURED; s++)
		if (mask & (1u << s)) {
			vbdctl_print("%s%s", comma, vbd_state_name(s));
			comma = ", ";
		}
	*sep = "; ";
}

int vbdctl_verify(int argc, char **argv)
{
	vbd_verify_history h = { .size = sizeof(h) };
	vbd_violation *v = NULL;
	vbd_ctx *c = NULL;
	size_t n = 0, i;
	const char *sep = " (";
	unsigned dom;
	uint32_t devid;
	int r, ret = VBDCTL_EXIT_FAIL;
	struct vbdctl_timeline *tl = NULL;
	const char *svg = NULL;
	bool timeline = false;

	if (timeline_opts(&argc, argv, &timeline, &svg) < 0)
		return VBDCTL_EXIT_USAGE;
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(verify_usage, stdout);
		return VBDCTL_EXIT_OK;
	}
	for (i = 1; i < (size_t)argc; i++)
		if (!strncmp(argv[i], "--log", 5) || !strcmp(argv[i], "--toolstack"))
			return verify_log(argc, argv, timeline, svg);
	if (argc != 3) {
		vbdctl_err("verify: expected DOM and VDEV (try --help)");
		return VBDCTL_EXIT_USAGE;
	}
	if (vbd_vdev_to_devid(argv[2], &devid) < 0) {
		vbdctl_err("bad vdev '%s'", argv[2]);
		return VBDCTL_EXIT_USAGE;
	}
	if (vbdctl_open_ctx(&c) < 0)
		goto out;
	if (vbd_ctx_domain_lookup(c, argv[1], &dom) < 0) {
		vbdctl_err("%s", vbd_ctx_last_error(c));
		goto out;
	}
	r = vbd_dev_verify_history(c, dom, devid, &v, &n, &h);
	if (r < 0) {
		vbdctl_err("verify: %s", vbd_ctx_last_error(c));
		goto out;
	}
	if ((timeline || svg) && vbdctl_timeline_new(timeline ? stdout : NULL,
	                                             vbdctl_timeline_want_colour(stdout), &tl) < 0) {
		vbdctl_err("verify: out of memory");
		goto out;
	}
	if (tl)
		timeline_verify(tl, dom, devid, &h, v, n);
	for (i = 0; i < n; i++)
		vbdctl_print("VIOLATION %s: %s: %s\n", v[i].rule, v[i].node, v[i].detail);
	if (n == 0 && h.unobserved) {
		/* Never PASS for what was not seen (vbd/verify.h). */
		vbdctl_print("INCOMPLETE %s of domain %u: no violation in its nodes as they are; "
		             "incomplete: %u transition%s unobserved", argv[2], dom, h.unobserved,
		             h.unobserved == 1 ? "" : "s");
		print_states("backend", h.backend_unseen, &sep);
		print_states("frontend", h.frontend_unseen, &sep);
		vbdctl_print(")\n");
		ret = VBDCTL_EXIT_INCOMPLETE;
	} else if (n == 0) {
		vbdctl_print("PASS %s of domain %u: no rule of the protocol is broken\n", argv[2], dom);
		ret = VBDCTL_EXIT_OK;
	}
	if (timeline_end(tl, svg) < 0)
		ret = VBDCTL_EXIT_FAIL;
	tl = NULL;
out:
	vbdctl_timeline_free(tl);
	free(v);
	vbd_ctx_free(c);
	return ret;
}

static const char watch_usage[] =
	"Usage: vbdctl watch [DOM] [--count N] [--timeout S] [--timeline] [--svg FILE]\n"
	"\n"
	"Follows the VBDs of DOM (default: all domains) and prints every change of\n"
	"either end's state as it happens, with the verifier's verdicts: each rule of\n"
	"the protocol a change breaks, transitions included (see 'vbdctl verify').\n"
	"xenstore says that a node changed, not to what: states an end passed\n"
	"through before vbdctl could read them are named on the line, as\n"
	"'[not observed: Initialising, InitWait]'; a device created and removed\n"
	"in between shows as '(none) -> (gone)' with what it could not see.\n"
	"On the embedded store (vbdctl store serve) run as dom0, it follows the\n"
	"store's change trace instead: every value in commit order, each line\n"
	"with '(written by dom N)', and the writer rule checked (see vbd/verify.h).\n"
	"Runs until interrupted, or until N lines were printed, or S seconds passed,\n"
	"then prints a summary line per device: its violations, or 'incomplete: N\n"
	"transitions unobserved' when it could not see every one, or 'whole'.\n"
	"\n"
	"Exit status: 0 no violation seen and every transition observed, 1 violations\n"
	"seen (or a failure), 2 usage error, 3 no violation seen but history incomplete.\n"
	"\n"
	"--timeline draws the changes as they come as two lanes per device (backend,\n"
	"frontend), one row per change, time flowing down, with the writer of each\n"
	"change ('?' when not known), the states not observed as '? State' rows and\n"
	"each violation as an X in its lane with its rule and node.  --svg FILE\n"
	"writes the whole as an SVG picture when the watch ends.\n";

/* What the watch saw of one device, for the summary. */
struct watch_dev {
	vbd_domid domid;
	uint32_t devid;
	unsigned violations, unobserved;
};

struct watch_state {
	uint64_t t0;
	long printed;
	int violations;
	unsigned unobserved;
	struct watch_dev *devs;
	size_t ndevs, cap;
	struct vbdctl_timeline *tl;   /* --timeline or --svg */
	bool lines;                   /* the plain lines (no --timeline) */
};

/* The device's tally; NULL when out of memory (then the totals still
 * count, and the summary says so). */
static struct watch_dev *watch_dev(struct watch_state *w, vbd_domid domid, uint32_t devid)
{
	size_t i;

	for (i = 0; i < w->ndevs; i++)
		if (w->devs[i].domid == domid && w->devs[i].devid == devid)
			return &w->devs[i];
	if (w->ndevs == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct watch_dev *nd = realloc(w->devs, cap * sizeof(*nd));

		if (!nd)
			return NULL;
		w->devs = nd;
		w->cap = cap;
	}
	w->devs[w->ndevs] = (struct watch_dev){ domid, devid, 0, 0 };
	return &w->devs[w->ndevs++];
}

/* One line per device seen, then exit status: violations first, then gaps. */
static int watch_summary(const struct watch_state *w)
{
	size_t i;

	for (i = 0; i < w->ndevs; i++) {
		const struct watch_dev *d = &w->devs[i];
		char vdev[32];

		vbd_devid_to_vdev(d->devid, vdev, sizeof(vdev));
		vbdctl_print("summary: dom %u %-6s ", d->domid, vdev);
		if (d->violations)
			vbdctl_print("%u violation%s", d->violations, d->violations == 1 ? "" : "s");
		if (d->violations && d->unobserved)
			vbdctl_print("; ");
		if (d->unobserved)
			vbdctl_print("incomplete: %u transition%s unobserved", d->unobserved,
			             d->unobserved == 1 ? "" : "s");
		if (!d->violations && !d->unobserved)
			vbdctl_print("no violation, every transition observed");
		vbdctl_print("\n");
	}
	fflush(stdout);
	if (w->violations)
		return VBDCTL_EXIT_FAIL;
	return w->unobserved ? VBDCTL_EXIT_INCOMPLETE : VBDCTL_EXIT_OK;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* "  [not observed: Initialising, InitWait]" for the states the follower
 * could not read (vbd/verify.h), or "  [3 writes not observed]" when it read
 * the same value on both sides of them. */
static void print_unseen(const vbd_verify_event *e)
{
	const char *sep = "";
	int s;

	if (e->unseen) {
		vbdctl_print("  [not observed:");
		for (s = 0; s <= VBD_STATE_RECONFIGURED; s++)
			if (e->unseen & (1u << s)) {
				vbdctl_print("%s %s", sep, vbd_state_name(s));
				sep = ",";
			}
		vbdctl_print("]");
	} else if (e->old_state == e->new_state) {
		vbdctl_print("  [%u write%s not observed]", e->writes, e->writes == 1 ? "" : "s");
	}
}

/* Counts a report for the summaries and the timeline; the device's vdev
 * into vdev.  False when no line is to be printed for it. */
static bool watch_count(struct watch_state *w, const vbd_verify_event *e, char *vdev, size_t len)
{
	struct watch_dev *d = watch_dev(w, e->domid, e->devid);

	vbd_devid_to_vdev(e->devid, vdev, len);
	w->unobserved += e->unobserved;
	w->violations += e->v != NULL;
	if (d) {
		d->unobserved += e->unobserved;
		d->violations += e->v != NULL;
	}
	if (w->tl)
		vbdctl_timeline_add(w->tl, e, 0);
	if (!w->lines) {
		w->printed++;
		return false;
	}
	return true;
}

static void watch_print(const vbd_verify_event *e, void *ud)
{
	struct watch_state *w = ud;
	const vbd_violation *v = e->v;
	char vdev[32];

	if (!watch_count(w, e, vdev, sizeof(vdev)))
		return;
	if (v) {
		vbdctl_print("%8.3f dom %u %-6s VIOLATION %s: %s: %s", (mono_ms() - w->t0) / 1000.0, e->domid,
		       vdev, v->rule, v->node, v->detail);
	} else {
		vbdctl_print("%8.3f dom %u %-6s %-8s %s -> %s", (mono_ms() - w->t0) / 1000.0, e->domid, vdev,
		       e->side, e->old_state < 0 ? "(none)" : vbd_state_name(e->old_state),
		       e->new_state < 0 ? "(gone)" : vbd_state_name(e->new_state));
		print_unseen(e);
	}
	/* Known only from the store's change trace (vbd/verify.h). */
	if (e->writer >= 0)
		vbdctl_print("  (written by dom %d)", e->writer);
	vbdctl_print("\n");
	fflush(stdout);
	w->printed++;
}

int vbdctl_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "timeline", no_argument, NULL, 'T' },
		{ "svg", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct watch_state w = { .t0 = mono_ms(), .lines = true };
	const char *svg = NULL;
	vbd_verifier *vf = NULL;
	vbd_ctx *c = NULL;
	unsigned dom = 0, timeout_ms = 0;
	long count = 0;
	uint64_t end;
	sigset_t mask;
	int opt, sfd = -1, ret = VBDCTL_EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "n:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			count = strtol(optarg, NULL, 10);
			if (count <= 0) {
				vbdctl_err("bad --count '%s'", optarg);
				return VBDCTL_EXIT_USAGE;
			}
			break;
		case 't':
			if (vbdctl_parse_seconds(optarg, &timeout_ms) < 0)
				return VBDCTL_EXIT_USAGE;
			break;
		case 'T': w.lines = false; break;
		case 's': svg = optarg; break;
		case 'h': fputs(watch_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(watch_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		vbdctl_err("watch: expected at most DOM (try --help)");
		return VBDCTL_EXIT_USAGE;
	}
	if ((!w.lines || svg) && vbdctl_timeline_new(w.lines ? NULL : stdout,
	                                             vbdctl_timeline_want_colour(stdout), &w.tl) < 0) {
		vbdctl_err("watch: out of memory");
		return VBDCTL_EXIT_FAIL;
	}
	if (vbdctl_open_ctx(&c) < 0)
		goto out;
	if (argc - optind == 1 && vbd_ctx_domain_lookup(c, argv[optind], &dom) < 0) {
		vbdctl_err("%s", vbd_ctx_last_error(c));
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (vbd_verifier_follow(c, argc - optind == 1 ? (int)dom : -1, watch_print, &w, &vf) < 0) {
		vbdctl_err("watch: %s", vbd_ctx_last_error(c));
		goto out;
	}
	end = timeout_ms ? mono_ms() + timeout_ms : 0;
	while (!count || w.printed < count) {
		struct pollfd p[2] = { { vbd_ctx_get_fd(c), POLLIN, 0 }, { sfd, POLLIN, 0 } };
		int t = end ? (int)(end > mono_ms() ? end - mono_ms() : 0) : -1;

		if (end && t == 0)
			break;
		if (poll(p, 2, t) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		vbd_ctx_process(c);
	}
	ret = watch_summary(&w);
	if (timeline_end(w.tl, svg) < 0)
		ret = VBDCTL_EXIT_FAIL;
	w.tl = NULL;
out:
	vbdctl_timeline_free(w.tl);
	free(w.devs);
	vbd_verifier_free(vf);
	vbd_ctx_free(c);
	if (sfd >= 0)
		close(sfd);
	return ret;
}

/* ---- vbdctl verify --log ---- */

/* "10:00:01.000" of the log's clock (UTC), or "-" when it had none. */
static void print_log_time(int64_t t)
{
	time_t s = (time_t)(t / 1000000000);
	struct tm tm;

	if (t <= 0 || !gmtime_r(&s, &tm)) {
		vbdctl_print("%12s", "-");
		return;
	}
	vbdctl_print("%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
	             (int)(t / 1000000 % 1000));
}

static void log_print(const vbd_verify_event *e, void *ud)
{
	struct watch_state *w = ud;
	const vbd_violation *v = e->v;
	char vdev[32], who[32];

	if (!watch_count(w, e, vdev, sizeof(vdev)))
		return;
	if (e->writer >= 0)
		snprintf(who, sizeof(who), "by dom %d", e->writer);
	else
		snprintf(who, sizeof(who), "by ?");
	print_log_time(e->time_ns);
	vbdctl_print(" #%-7llu dom %u %-6s ", (unsigned long long)e->seq, e->domid, vdev);
	if (v) {
		vbdctl_print("VIOLATION %s: %s: %s (%s)\n", v->rule, v->node, v->detail, who);
	} else if (e->old_state == e->new_state && !e->writes) {
		vbdctl_print("%-8s changes lost by the log: history not whole\n", e->side);
	} else {
		vbdctl_print("%-8s %s -> %s %s", e->side,
		             e->old_state < 0 ? "(none)" : vbd_state_name(e->old_state),
		             e->new_state < 0 ? "(gone)" : vbd_state_name(e->new_state), who);
		print_unseen(e);
		vbdctl_print("\n");
	}
	fflush(stdout);
	w->printed++;
}

static int verify_log(int argc, char **argv, bool timeline, const char *svg)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "log-format", required_argument, NULL, 'f' },
		{ "toolstack", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	vbd_checker_summary ks = { .size = sizeof(ks) };
	vbd_xslog_summary ls = { .size = sizeof(ls) };
	vbd_xslog_format fmt = VBD_XSLOG_AUTO;
	struct watch_state w = { .t0 = 0, .lines = !timeline };
	const char *file = NULL;
	vbd_checker *k = NULL;
	vbd_xslog *x = NULL;
	unsigned long dom = VBD_DOMID_ALL, ts = 0;
	char buf[65536], *end;
	FILE *f = NULL;
	size_t n;
	int opt, r, ret = VBDCTL_EXIT_FAIL;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': file = optarg; break;
		case 'f':
			if (!strcmp(optarg, "cxenstored"))
				fmt = VBD_XSLOG_CXENSTORED;
			else if (!strcmp(optarg, "oxenstored"))
				fmt = VBD_XSLOG_OXENSTORED;
			else {
				vbdctl_err("bad --log-format '%s' (cxenstored or oxenstored)", optarg);
				return VBDCTL_EXIT_USAGE;
			}
			break;
		case 't':
			errno = 0;
			ts = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || ts >= VBD_DOMID_FIRST_RESERVED) {
				vbdctl_err("bad --toolstack '%s'", optarg);
				return VBDCTL_EXIT_USAGE;
			}
			break;
		case 'h': fputs(verify_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(verify_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (!file || argc - optind > 1) {
		vbdctl_err("verify: --log FILE and at most DOM (try --help)");
		return VBDCTL_EXIT_USAGE;
	}
	if (argc - optind == 1) {
		errno = 0;
		dom = strtoul(argv[optind], &end, 10);
		if (errno || *end || end == argv[optind] || dom >= VBD_DOMID_FIRST_RESERVED) {
			vbdctl_err("verify --log: DOM is a domain id, not '%s'", argv[optind]);
			return VBDCTL_EXIT_USAGE;
		}
	}
	if (!(f = !strcmp(file, "-") ? stdin : fopen(file, "re"))) {
		vbdctl_err("verify: %s: %s", file, strerror(errno));
		goto out;
	}
	if ((timeline || svg) && vbdctl_timeline_new(timeline ? stdout : NULL,
	                                             vbdctl_timeline_want_colour(stdout), &w.tl) < 0) {
		vbdctl_err("verify: out of memory");
		goto out;
	}
	if ((r = vbd_checker_new((vbd_domid)dom, (vbd_domid)ts, log_print, &w, &k)) < 0 ||
	    (r = vbd_xslog_new(k, fmt, &x)) < 0) {
		vbdctl_err("verify: %s", vbd_strerror(r));
		goto out;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if ((r = vbd_xslog_feed(x, buf, n)) < 0)
			break;
	if (ferror(f)) {
		vbdctl_err("verify: reading %s: %s", file, strerror(errno));
		goto out;
	}
	r = vbd_xslog_finish(x, &ls);
	if (r < 0) {
		vbdctl_err("verify: %s: neither a C xenstored trace nor an oxenstored access log", file);
		goto out;
	}
	vbd_checker_summary_get(k, &ks);
	ret = watch_summary(&w);
	vbdctl_print("log: %s, %llu lines, %llu changes replayed, %llu lines not understood, "
	             "%llu things it could not tell\n",
	             ls.format == VBD_XSLOG_CXENSTORED ? "C xenstored trace" : "oxenstored access log",
	             (unsigned long long)ls.lines, (unsigned long long)ls.changes,
	             (unsigned long long)ls.unparsed, (unsigned long long)ls.unknown);
	if (ls.first_unparsed)
		vbdctl_print("log: the first line not understood is line %llu\n",
		             (unsigned long long)ls.first_unparsed);
	if (ks.violations)
		ret = VBDCTL_EXIT_FAIL;
	else if (ks.unobserved || ks.lost || ls.unknown || ls.unparsed)
		ret = VBDCTL_EXIT_INCOMPLETE;   /* a line not understood may have been a change */
	if (ret == VBDCTL_EXIT_OK)
		vbdctl_print("PASS %u device%s: no violation, history whole\n", ks.devices,
		             ks.devices == 1 ? "" : "s");
	else if (ret == VBDCTL_EXIT_INCOMPLETE)
		vbdctl_print("INCOMPLETE no violation, but %u transition%s unobserved, %llu "
		             "thing%s the log could not tell and %llu line%s not understood\n",
		             ks.unobserved, ks.unobserved == 1 ? "" : "s", (unsigned long long)ls.unknown,
		             ls.unknown == 1 ? "" : "s", (unsigned long long)ls.unparsed,
		             ls.unparsed == 1 ? "" : "s");
	else
		vbdctl_print("FAIL %u violation%s\n", ks.violations, ks.violations == 1 ? "" : "s");
	if (timeline_end(w.tl, svg) < 0)
		ret = VBDCTL_EXIT_FAIL;
	w.tl = NULL;
out:
	vbdctl_timeline_free(w.tl);
	vbd_xslog_free(x);
	vbd_checker_free(k);
	free(w.devs);
	if (f && f != stdin)
		fclose(f);
	return ret;
}
