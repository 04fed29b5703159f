/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl top: per-device request rates, as xentop's VBD columns.  Each
 * sample is the difference of two readings of the counters an interval
 * apart, divided by the time between them:
 *
 *     rd_req 100 then 160, 2 s apart  ->  RD_REQ/s 30.0
 *
 * A device whose counters went down (its backend began again) shows the
 * new counts over the interval; one without counters shows dashes.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vbd/disk.h"
#include "vbd/status.h"
#include "vbdctl.h"

static const char top_usage[] =
	"Usage: vbdctl top [DOM [VDEV]] [--interval S] [--count N] [--stats-dir DIR]\n"
	"\n"
	"Shows each VBD's request rates per second, as xentop's VBD columns: read\n"
	"and write requests and sectors, requests the backend left on the ring\n"
	"for lack of resources (OO), flushes and discards.  The counters are the\n"
	"kernel blkback's (/sys) or the bundled backend's, from the directory it\n"
	"publishes them in every second (as for status: --stats-dir DIR, else\n"
	"$VBD_STATS_DIR, else the simulated host's: $VBD_SIM_DIR, or the one\n"
	"$XENSTORED_PATH names).\n"
	"On a terminal the table is redrawn in place; otherwise each sample is\n"
	"printed as lines of its own, one per device, after a header line.\n"
	"\n"
	"  --interval S   seconds between samples (1; fractions allowed)\n"
	"  --count N      stop after N samples (0, the default: until interrupted)\n"
	"\n"
	"Exit status: 0 done, 1 failed, 2 usage error.\n";

struct reading {
	vbd_domid domid;
	uint32_t devid;
	char vdev[32];
	bool has;
	vbd_dev_stats s;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The devices and their counters now; *ret malloc'd. */
static int take(vbd_ctx *c, int dom, int64_t devid, const char *dir, struct reading **ret,
                size_t *ret_n)
{
	vbd_dev_info *v = NULL;
	struct reading *out;
	size_t n = 0, i;
	int r;

	r = vbd_dev_list(c, dom, devid, &v, &n);
	if (r < 0)
		return r;
	out = calloc(n ? n : 1, sizeof(*out));
	if (!out) {
		vbd_dev_info_free(v, n);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		out[i].domid = v[i].domid;
		out[i].devid = v[i].devid;
		snprintf(out[i].vdev, sizeof(out[i].vdev), "%s", v[i].vdev);
		out[i].has = vbdctl_dev_stats(dir, v[i].domid, v[i].devid, &out[i].s);
	}
	vbd_dev_info_free(v, n);
	*ret = out;
	*ret_n = n;
	return 0;
}

static const struct reading *find(const struct reading *v, size_t n, const struct reading *x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].domid == x->domid && v[i].devid == x->devid)
			return &v[i];
	return NULL;
}

static double rate(uint64_t now, uint64_t before, double secs)
{
	return (double)(now >= before ? now - before : now) / secs;
}

static void print_sample(const struct reading *prev, size_t np, const struct reading *cur, size_t nc,
                         double secs, bool tty, unsigned long long sample)
{
	static const char head[] = "%-8s %-5s %-8s %9s %9s %11s %11s %7s %7s %7s\n";
	size_t i;

	if (tty)
		fputs("\033[H\033[2J", stdout);   /* home, clear: redraw in place */
	if (tty || sample == 1)
		vbdctl_print(head, "Sample", "Dom", "Vdev", "RD_REQ/s", "WR_REQ/s", "RD_SECT/s",
		             "WR_SECT/s", "OO/s", "FLUSH/s", "DSCRD/s");
	for (i = 0; i < nc; i++) {
		const struct reading *x = &cur[i], *p = find(prev, np, x);
		vbd_dev_stats z = { 0 };
		const vbd_dev_stats *a = &x->s, *b = p && p->has ? &p->s : &z;

		if (!x->has) {
			vbdctl_print("%-8llu %-5u %-8s %9s %9s %11s %11s %7s %7s %7s\n", sample, x->domid,
			             x->vdev, "-", "-", "-", "-", "-", "-", "-");
			continue;
		}
		vbdctl_print("%-8llu %-5u %-8s %9.1f %9.1f %11.1f %11.1f %7.1f %7.1f %7.1f\n", sample,
		             x->domid, x->vdev, rate(a->rd_req, b->rd_req, secs),
		             rate(a->wr_req, b->wr_req, secs), rate(a->rd_sect, b->rd_sect, secs),
		             rate(a->wr_sect, b->wr_sect, secs), rate(a->oo_req, b->oo_req, secs),
		             rate(a->f_req, b->f_req, secs), rate(a->ds_req, b->ds_req, secs));
	}
	fflush(stdout);
}

int vbdctl_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "stats-dir", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *stats_opt = NULL, *dir;
	char dir_buf[4200];
	struct reading *prev = NULL, *cur = NULL;
	size_t np = 0, nc = 0;
	unsigned interval_ms = 1000;
	uint64_t count = 0, sample, t0, t1;
	int64_t devid;
	bool tty = isatty(STDOUT_FILENO);
	vbd_ctx *c = NULL;
	int opt, r, dom, ret = VBDCTL_EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "i:c:S:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (vbdctl_parse_seconds(optarg, &interval_ms) < 0 || interval_ms == 0)
				return VBDCTL_EXIT_USAGE;
			break;
		case 'c':
			if (vbdctl_parse_u64("count", optarg, UINT32_MAX, &count) < 0)
				return VBDCTL_EXIT_USAGE;
			break;
		case 'S': stats_opt = optarg; break;
		case 'h': fputs(top_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(top_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if ((r = vbdctl_open_dom_vdev("top", argc - optind, argv + optind, &c, &dom, &devid))) {
		ret = r;
		goto out;
	}
	dir = vbdctl_stats_dir(stats_opt, dir_buf, sizeof(dir_buf));
	t0 = now_ms();
	r = take(c, dom, devid, dir, &prev, &np);
	for (sample = 1; r >= 0 && (count == 0 || sample <= count); sample++) {
		struct timespec ts = { interval_ms / 1000, (long)(interval_ms % 1000) * 1000000 };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		t1 = now_ms();
		r = take(c, dom, devid, dir, &cur, &nc);
		if (r < 0)
			break;
		print_sample(prev, np, cur, nc, (double)(t1 > t0 ? t1 - t0 : 1) / 1000.0, tty, sample);
		free(prev);
		prev = cur;
		np = nc;
		cur = NULL;
		t0 = t1;
	}
	if (r < 0) {
		vbdctl_err("listing devices: %s", vbd_strerror(r));
		goto out;
	}
	ret = VBDCTL_EXIT_OK;
out:
	free(prev);
	vbd_ctx_free(c);
	return ret;
}
