/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl attach / detach.
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
#include <yajl/yajl_gen.h>

#include "vbd/ctx.h"
#include "vbd/dev.h"
#include "vbd/disk.h"
#include "vbd/status.h"
#include "vbd/verify.h"

#include "vbdctl.h"

static const char attach_usage[] =
	"Usage: vbdctl attach DOM SPEC... [--backend-domain D] [--wait connected|initwait|none]\n"
	"                     [--timeout S] [--script PATH | --builtin-hotplug] [--json]\n"
	"                     [--quiet | --verbose]\n"
	"\n"
	"Attaches a disk to domain DOM (an id or a name).  SPEC is an xl disk\n"
	"specification (xl-disk-configuration(5)), parsed by xl's own parser, e.g.\n"
	"  vbdctl attach guest1 format=raw,vdev=xvdb,access=rw,target=/srv/disk.img\n"
	"The nodes are written as libxl writes them, in one transaction; the hotplug\n"
	"step runs (built in by default; --script runs a script as libxl does); then\n"
	"vbdctl waits until both ends are Connected (--wait), at most --timeout\n"
	"seconds (30).  On any failure everything written is removed again and the\n"
	"message says why.  --json prints, on success, the device as status --json\n"
	"does; on failure an object {\"errno\", \"error\", \"message\"}.\n"
	"\n"
	"backendtype=phy (the default) is for the kernel's blkback (backend/vbd);\n"
	"backendtype=tap writes libxl's layout for tap disks (backend/vbd3, params\n"
	"aio:PATH, raw images only), served by vbdctl backend --kind vbd3, with no\n"
	"loop device.  Other backend types are refused.\n"
	"\n"
	"An empty CD-ROM drive (vdev=hdc,devtype=cdrom, no target) has nothing for\n"
	"the hotplug step to set up and never connects: the backend waits in\n"
	"InitWait, where --wait connected stops for it; status shows it as\n"
	"(empty cdrom drive).\n"
	"\n"
	"For a domain xl created, the disk is also added to libxl's saved domain\n"
	"configuration (its libxl-json userdata, under libxl's lock), so that xl\n"
	"save/restore, migrate and reboot keep it; if that file cannot be kept in\n"
	"step, the attach fails and writes nothing.\n"
	"\n"
	"On a terminal, while it waits, one line says for what (the hotplug step,\n"
	"both ends' states) and for how long, updated in place and erased at the\n"
	"end; off a terminal nothing of it is written.  --quiet prints errors only;\n"
	"--verbose adds the library's log (VBDCTL_LOG=debug gives more).\n"
	"\n"
	"SIGINT, SIGTERM or SIGHUP rolls the attach back as a failure does; a second\n"
	"one during the rollback stops it and says what is left.\n"
	"\n"
	"Exit status: 0 attached (and connected, unless --wait says otherwise),\n"
	"1 failed (rolled back), 2 usage error, 128+N interrupted by signal N.\n";

static const char detach_usage[] =
	"Usage: vbdctl detach DOM VDEV [--force] [--timeout S] [--quiet | --verbose]\n"
	"\n"
	"Asks both ends of the device to close (online=0, state=5), waits until they\n"
	"are Closed (at most --timeout seconds, 10), runs the hotplug remove step and\n"
	"deletes the frontend, backend and /libxl nodes.  --force cleans up anyway\n"
	"after the timeout, loop devices included: the way to remove what a crashed\n"
	"attach left behind.  DOM may be the id of a domain that is gone: the device\n"
	"is then found by dom0's /libxl copy (vbdctl reap does it for all of them).\n"
	"With --force, an end whose domain is gone (the guest, or the driver domain\n"
	"serving the backend) is handled as reap handles it.\n"
	"For a domain xl created, the device also leaves libxl's saved domain\n"
	"configuration, so that xl restore or reboot does not bring it back.\n"
	"On a terminal a line says what the detach waits for, as attach's does;\n"
	"--quiet prints errors only, --verbose adds the library's log.\n"
	"\n"
	"SIGINT, SIGTERM or SIGHUP stops it where it is and says where: both ends'\n"
	"states, and whether the backing device is still held.\n"
	"\n"
	"Exit status: 0 detached, 1 failed (nothing deleted unless --force), 2 usage error,\n"
	"128+N interrupted by signal N.\n";

/* VBDCTL_LOG=debug|info|warning: the library's log on stderr. */
static void log_stderr(int level, const char *msg, void *ud)
{
	int max = (int)(intptr_t)ud;

	if (level <= max)
		vbdctl_log(level <= VBD_LOG_ERR ? "vbdctl: error: " : level <= VBD_LOG_WARNING ?
		           "vbdctl: warning: " : level <= VBD_LOG_INFO ? "vbdctl: info: " : "vbdctl: debug: ",
		           msg);
}

int vbdctl_open_ctx(vbd_ctx **ret)
{
	vbd_ctx_options o = VBD_CTX_OPTIONS_INIT;
	const char *lv = getenv("VBDCTL_LOG");
	int r;

	if (lv && *lv) {
		o.log = log_stderr;
		o.log_userdata = (void *)(intptr_t)(!strcmp(lv, "debug") ? VBD_LOG_DEBUG :
		                                     !strcmp(lv, "info") ? VBD_LOG_INFO : VBD_LOG_WARNING);
	} else if (vbdctl_verbosity > 0) {
		o.log = log_stderr;
		o.log_userdata = (void *)(intptr_t)VBD_LOG_INFO;
	}
	r = vbd_ctx_new(ret, &o, NULL);

	if (r < 0)
		vbdctl_err("cannot connect to xenstore (%s): %s",
		           getenv("XENSTORED_PATH") ? getenv("XENSTORED_PATH") : "the default socket",
		           vbd_strerror(r));
	return r;
}

/* The [DOM [VDEV]] that status and top take after their options (argv
 * starts there): checked, then *c opened and DOM looked up.  *dom and
 * *devid are -1 when not given.  Returns 0, or the exit status to end with
 * (a usage error, or a failure already said); *c is the caller's to free. */
int vbdctl_open_dom_vdev(const char *cmd, int argc, char **argv, vbd_ctx **c, int *dom,
                         int64_t *devid)
{
	uint32_t id32 = 0;
	unsigned id = 0;

	*c = NULL;
	*dom = -1;
	*devid = -1;
	if (argc > 2) {
		vbdctl_err("%s: expected at most DOM and VDEV (try --help)", cmd);
		return VBDCTL_EXIT_USAGE;
	}
	if (argc == 2) {
		if (vbd_vdev_to_devid(argv[1], &id32) < 0) {
			vbdctl_err("bad vdev '%s'", argv[1]);
			return VBDCTL_EXIT_USAGE;
		}
		*devid = id32;
	}
	if (vbdctl_open_ctx(c) < 0)
		return VBDCTL_EXIT_FAIL;
	if (argc >= 1) {
		if (vbd_ctx_domain_lookup(*c, argv[0], &id) < 0) {
			vbdctl_err("%s", vbd_ctx_last_error(*c));
			return VBDCTL_EXIT_FAIL;
		}
		*dom = (int)id;
	}
	return 0;
}

int vbdctl_parse_seconds(const char *s, unsigned *ret_ms)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v <= 0 || v > 86400) {
		vbdctl_err("bad timeout '%s': expected seconds, > 0", s);
		return -EINVAL;
	}
	*ret_ms = (unsigned)(v * 1000);
	return 0;
}

/* {"schema_version": 1, "errno": -110, "error": "-ETIMEDOUT: ...",
 * "message": "..."} on stdout: vbdctl-json(7)'s error object. */
static void print_json_error(int r, const char *message)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t len;

	if (!g)
		return;
	yajl_gen_config(g, yajl_gen_beautify, 1);
	yajl_gen_map_open(g);
	yajl_gen_string(g, (const unsigned char *)"schema_version", 14);
	yajl_gen_integer(g, VBD_DEV_INFO_JSON_SCHEMA_VERSION);
	yajl_gen_string(g, (const unsigned char *)"errno", 5);
	yajl_gen_integer(g, r);
	yajl_gen_string(g, (const unsigned char *)"error", 5);
	yajl_gen_string(g, (const unsigned char *)vbd_strerror(r), strlen(vbd_strerror(r)));
	yajl_gen_string(g, (const unsigned char *)"message", 7);
	yajl_gen_string(g, (const unsigned char *)message, strlen(message));
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
		printf("%.*s\n", (int)len, (const char *)buf);
	yajl_gen_free(g);
}

/* ---- attach and detach through the library's loop, with signals ----
 *
 * An interrupt is not a crash: SIGINT, SIGTERM and SIGHUP are blocked and
 * read from a signalfd in the same loop that runs the operation
 * (vbd_dev_attach/vbd_dev_detach and vbd_ctx_process()), so the CLI decides
 * what an interrupt does.  An attach is rolled back the way the library
 * rolls back any attach in progress, by vbd_ctx_free(); a second interrupt
 * during that says what it leaves and exits.  A detach is left where it
 * stopped, and said where that is. */

void vbdctl_op_done(vbd_ctx *c, int result, const char *message, void *ud)
{
	struct vbdctl_op_wait *w = ud;

	(void)c;
	(void)message;
	w->done = true;
	w->result = result;
}

/* Runs the loop until the operation is done (0) or a signal comes (its
 * number); -errno if the loop fails.  w->progress's line, if any, is
 * redrawn as the loop goes and erased when it ends. */
int vbdctl_run_op(vbd_ctx *c, int sfd, struct vbdctl_op_wait *w)
{
	int r = 0;

	while (!w->done) {
		struct pollfd p[2] = { { vbd_ctx_get_fd(c), POLLIN, 0 }, { sfd, POLLIN, 0 } };
		struct signalfd_siginfo si;

		if (poll(p, 2, vbdctl_progress_timeout(w->progress, vbd_ctx_get_timeout_ms(c))) < 0 &&
		    errno != EINTR) {
			r = -errno;
			break;
		}
		if ((p[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			r = (int)si.ssi_signo;
			break;
		}
		if ((r = vbd_ctx_process(c)) < 0)
			break;
		r = 0;
		vbdctl_progress_tick(w->progress);
	}
	/* Whatever comes next on the terminal starts on a clean line. */
	vbdctl_progress_end(w->progress);
	return r;
}

/* What a second interrupt prints, made before it can come (a handler may
 * only write and exit). */
static char again_msg[1024];

static void on_again(int sig)
{
	ssize_t n = write(STDERR_FILENO, again_msg, strlen(again_msg));

	(void)n;
	_exit(128 + sig);
}

static void catch_again(void)
{
	struct sigaction sa = { .sa_handler = on_again };
	sigset_t mask;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
}

const char *vbdctl_sig_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

/* The attach in progress on *c was interrupted by sig: roll it back (the
 * library does, in vbd_ctx_free()), then look whether anything is left.
 * Returns the exit status, 128 + sig. */
static int interrupted_attach(vbd_ctx **c, const vbd_attach_options *ao, int sig, bool json)
{
	const vbd_disk_spec *spec = ao->spec;
	vbd_dev_info *v = NULL;
	char msg[512];
	size_t n = 0;

	snprintf(again_msg, sizeof(again_msg),
	         "vbdctl: interrupted again: the rollback of %s stopped; what it had not removed yet "
	         "stays (nodes /local/domain/%u/backend/vbd/%u/%u, /local/domain/%u/device/vbd/%u, "
	         "/libxl/%u/device/vbd/%u, and the backend's device for %s): "
	         "vbdctl detach %u %s --force removes it\n",
	         spec->vdev, ao->backend_domid, ao->domid, spec->devid, ao->domid, spec->devid,
	         ao->domid, spec->devid, spec->target ? spec->target : "the target", ao->domid,
	         spec->vdev);
	vbdctl_err("attach %s to domain %u interrupted by %s: rolling back (interrupt again to stop)",
	           spec->vdev, ao->domid, vbdctl_sig_name(sig));
	catch_again();
	*c = vbd_ctx_free(*c);
	/* Whatever went wrong in the rollback, say what is there now. */
	if (vbdctl_open_ctx(c) == 0 && vbd_dev_list(*c, (int)ao->domid, spec->devid, &v, &n) == 0 && n) {
		snprintf(msg, sizeof(msg), "attach %s to domain %u interrupted by %s: the rollback left "
		         "the device (backend %s, frontend %s): vbdctl detach %u %s --force removes it",
		         spec->vdev, ao->domid, vbdctl_sig_name(sig),
		         v[0].backend_state < 0 ? "gone" : vbd_state_name(v[0].backend_state),
		         v[0].frontend_state < 0 ? "gone" : vbd_state_name(v[0].frontend_state),
		         ao->domid, spec->vdev);
	} else if (*c) {
		snprintf(msg, sizeof(msg), "attach %s to domain %u interrupted by %s: rolled back, "
		         "nothing left", spec->vdev, ao->domid, vbdctl_sig_name(sig));
	} else {
		snprintf(msg, sizeof(msg), "attach %s to domain %u interrupted by %s: rolled back, "
		         "but xenstore could not be asked what is left", spec->vdev, ao->domid,
		         vbdctl_sig_name(sig));
	}
	vbdctl_err("%s", msg);
	if (json)
		print_json_error(-EINTR, msg);
	vbd_dev_info_free(v, n);
	return 128 + sig;
}

int vbdctl_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend-domain", required_argument, NULL, 'b' },
		{ "wait", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "script", required_argument, NULL, 's' },
		{ "builtin-hotplug", no_argument, NULL, 'B' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	vbd_attach_options ao = VBD_ATTACH_OPTIONS_INIT;
	struct vbdctl_progress prog;
	bool json = false;
	const char *bdom = NULL, *script = NULL;
	vbd_disk_spec *spec = NULL;
	vbd_errbuf err = { "" };
	struct vbdctl_op_wait w = { false, 0, &prog };
	vbd_ctx *c = NULL;
	int opt, r, sig = 0, sfd = -1, ret = VBDCTL_EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "b:w:t:s:Bjqvh", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'q': vbdctl_verbosity = -1; break;
		case 'v': vbdctl_verbosity = 1; break;
		case 'b': bdom = optarg; break;
		case 'w':
			if (!strcmp(optarg, "connected"))
				ao.wait = VBD_WAIT_CONNECTED;
			else if (!strcmp(optarg, "initwait"))
				ao.wait = VBD_WAIT_INITWAIT;
			else if (!strcmp(optarg, "none"))
				ao.wait = VBD_WAIT_NONE;
			else {
				vbdctl_err("bad --wait '%s': connected, initwait or none", optarg);
				return VBDCTL_EXIT_USAGE;
			}
			break;
		case 't':
			if (vbdctl_parse_seconds(optarg, &ao.timeout_ms) < 0)
				return VBDCTL_EXIT_USAGE;
			break;
		case 's': script = optarg; break;
		case 'B': script = NULL; break;
		case 'h': fputs(attach_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(attach_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (argc - optind < 2) {
		vbdctl_err("attach: expected DOM and a disk SPEC (try --help)");
		return VBDCTL_EXIT_USAGE;
	}
	r = vbd_disk_spec_parse(argc - optind - 1, (const char *const *)argv + optind + 1, &spec, &err);
	if (r < 0) {
		vbdctl_err("bad disk spec: %s", err.msg[0] ? err.msg : vbd_strerror(r));
		return VBDCTL_EXIT_USAGE;
	}
	/* Before anything is written: from here an interrupt rolls back. */
	if ((sfd = vbdctl_signalfd()) < 0) {
		vbdctl_err("attach: signalfd: %s", strerror(errno));
		goto out;
	}
	if (vbdctl_open_ctx(&c) < 0)
		goto out;
	if ((r = vbd_ctx_domain_lookup(c, argv[optind], &ao.domid)) < 0 ||
	    (r = vbd_ctx_domain_lookup(c, bdom ? bdom : spec->backend_domain ? spec->backend_domain : "0",
	                               &ao.backend_domid)) < 0) {
		vbdctl_err("%s", vbd_ctx_last_error(c));
		goto out;
	}
	ao.spec = spec;
	ao.script = script ? script : spec->script;
	vbdctl_progress_init(&prog, "attach %s to domain %u", spec->vdev, ao.domid);
	ao.progress = vbdctl_progress_fn;
	ao.progress_userdata = &prog;
	r = vbd_dev_attach(c, &ao, vbdctl_op_done, &w);
	if (r == 0 && (sig = vbdctl_run_op(c, sfd, &w)) > 0) {
		ret = interrupted_attach(&c, &ao, sig, json);
		goto out;
	}
	if (r == 0)
		r = sig < 0 ? sig : w.result;
	if (r < 0) {
		vbdctl_err("attach %s to domain %u failed (%s): %s", spec->vdev, ao.domid,
		           vbd_strerror(r), vbd_ctx_last_error(c));
		if (json)
			print_json_error(r, vbd_ctx_last_error(c));
		goto out;
	}
	if (json) {
		vbd_dev_info *v = NULL;
		size_t n = 0;
		char *out = NULL;

		if ((r = vbd_dev_list(c, (int)ao.domid, spec->devid, &v, &n)) < 0 ||
		    (r = vbd_dev_info_json(v, n, true, &out)) < 0) {
			vbdctl_err("attached, but the device could not be listed: %s", vbd_strerror(r));
			vbd_dev_info_free(v, n);
			goto out;
		}
		printf("%s\n", out);
		free(out);
		vbd_dev_info_free(v, n);
	} else if (vbdctl_verbosity >= 0) {
		/* An empty drive goes no further than InitWait (libvbd(3)). */
		bool empty = spec->cdrom && !spec->target;

		vbdctl_print("%s (%u) attached to domain %u%s\n", spec->vdev, spec->devid, ao.domid,
		       ao.wait == VBD_WAIT_CONNECTED && empty ?
		               ", backend in InitWait (an empty drive connects no further)" :
		       ao.wait == VBD_WAIT_CONNECTED ? ", both ends Connected" :
		       ao.wait == VBD_WAIT_INITWAIT ? ", backend in InitWait" : "");
	}
	ret = VBDCTL_EXIT_OK;
out:
	vbd_ctx_free(c);
	vbd_disk_spec_free(spec);
	if (sfd >= 0)
		close(sfd);
	return ret;
}

/* DOM as a name or an id; a domain id that names no domain is the id of
 * one that is gone (*ret_gone), whose devices dom0's /libxl copy still
 * lists.  A name of a gone domain is gone with its home. */
int vbdctl_lookup_maybe_gone(vbd_ctx *c, const char *s, vbd_domid *ret, bool *ret_gone)
{
	unsigned id;
	char *end;
	unsigned long v;
	int r = vbd_ctx_domain_lookup(c, s, &id);

	*ret_gone = false;
	if (r == 0) {
		*ret = id;
		return 0;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (r != -ENOENT || errno || *end || end == s || v >= VBD_DOMID_FIRST_RESERVED)
		return r;
	*ret = (vbd_domid)v;
	*ret_gone = true;
	return 0;
}

/* The detach in progress on c was interrupted by sig: the library leaves
 * it where it is (vbd_ctx_free()); say where that is.  128 + sig. */
static int interrupted_detach(vbd_ctx *c, const vbd_detach_options *d, const char *vdev, int sig)
{
	vbd_dev_info *v = NULL;
	size_t n = 0;

	if (vbd_dev_list(c, (int)d->domid, d->devid, &v, &n) < 0) {
		vbdctl_err("detach %s from domain %u interrupted by %s: where it stopped is not known "
		           "(%s); vbdctl status %u %s shows it", vdev, d->domid, vbdctl_sig_name(sig),
		           vbd_ctx_last_error(c), d->domid, vdev);
	} else if (!n) {
		vbdctl_err("detach %s from domain %u interrupted by %s: the nodes are gone already",
		           vdev, d->domid, vbdctl_sig_name(sig));
	} else {
		vbdctl_err("detach %s from domain %u interrupted by %s: stopped with the backend %s, "
		           "the frontend %s%s; vbdctl detach %u %s%s finishes it", vdev, d->domid,
		           vbdctl_sig_name(sig),
		           v[0].backend_state < 0 ? "gone" : vbd_state_name(v[0].backend_state),
		           v[0].frontend_state < 0 ? "gone" : vbd_state_name(v[0].frontend_state),
		           v[0].physical_device ? ", its device still held" : "", d->domid, vdev,
		           d->force ? " --force" : "");
	}
	vbd_dev_info_free(v, n);
	return 128 + sig;
}

int vbdctl_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	vbd_detach_options d = VBD_DETACH_OPTIONS_INIT;
	struct vbdctl_progress prog;
	struct vbdctl_op_wait w = { false, 0, &prog };
	vbd_ctx *c = NULL;
	bool gone = false;
	int opt, r, sig = 0, sfd = -1, ret = VBDCTL_EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "ft:qvh", opts, NULL)) != -1) {
		switch (opt) {
		case 'f': d.force = true; break;
		case 'q': vbdctl_verbosity = -1; break;
		case 'v': vbdctl_verbosity = 1; break;
		case 't':
			if (vbdctl_parse_seconds(optarg, &d.timeout_ms) < 0)
				return VBDCTL_EXIT_USAGE;
			break;
		case 'h': fputs(detach_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(detach_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		vbdctl_err("detach: expected DOM and VDEV (try --help)");
		return VBDCTL_EXIT_USAGE;
	}
	if (vbd_vdev_to_devid(argv[optind + 1], &d.devid) < 0) {
		vbdctl_err("bad vdev '%s' (xvda, hdc, sda1, d0p1, 51712, ...)", argv[optind + 1]);
		return VBDCTL_EXIT_USAGE;
	}
	if ((sfd = vbdctl_signalfd()) < 0) {
		vbdctl_err("detach: signalfd: %s", strerror(errno));
		goto out;
	}
	if (vbdctl_open_ctx(&c) < 0)
		goto out;
	if ((r = vbdctl_lookup_maybe_gone(c, argv[optind], &d.domid, &gone)) < 0) {
		vbdctl_err("%s", vbd_ctx_last_error(c));
		goto out;
	}
	vbdctl_progress_init(&prog, "detach %s from domain %u", argv[optind + 1], d.domid);
	d.progress = vbdctl_progress_fn;
	d.progress_userdata = &prog;
	r = vbd_dev_detach(c, &d, vbdctl_op_done, &w);
	if (r == -ENOENT && gone) {
		vbdctl_err("no domain %u, and no device %s of it in /libxl", d.domid, argv[optind + 1]);
		goto out;
	}
	if (r == 0 && (sig = vbdctl_run_op(c, sfd, &w)) > 0) {
		ret = interrupted_detach(c, &d, argv[optind + 1], sig);
		goto out;
	}
	if (r == 0)
		r = sig < 0 ? sig : w.result;
	if (r < 0) {
		vbdctl_err("detach %s from domain %u failed (%s): %s", argv[optind + 1], d.domid,
		           vbd_strerror(r), vbd_ctx_last_error(c));
		goto out;
	}
	if (vbdctl_verbosity >= 0)
		vbdctl_print("%s detached from domain %u\n", argv[optind + 1], d.domid);
	ret = VBDCTL_EXIT_OK;
out:
	vbd_ctx_free(c);
	if (sfd >= 0)
		close(sfd);
	return ret;
}
