/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl status (list): the VBDs as xenstore shows them, and the loop
 * devices the built-in hotplug step left that no record names.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbd/ctx.h"
#include "vbd/dev.h"
#include "vbd/disk.h"
#include "vbd/status.h"

#include "vbdctl.h"

static const char status_usage[] =
	"Usage: vbdctl status [DOM [VDEV]] [--json | --format text|json|xl] [--stats-dir DIR]\n"
	"                                                        (also: vbdctl list)\n"
	"\n"
	"Lists VBDs: what xl block-list shows (the devices in libxl's /libxl copy),\n"
	"plus backend dirs no copy names (half-made or left by a crashed attach;\n"
	"vbdctl detach --force removes them), with both ends' states, the backing\n"
	"target and device, hotplug status and errors, rings, queues and features;\n"
	"under a device, its request counters where they are known (a line\n"
	"\"requests: rd N (N sect) wr N (N sect) flush N discard N oo N\").\n"
	"--json (--format json) prints an array of objects, [] when there is none,\n"
	"each with its \"schema_version\" (the fields are in vbdctl-json(7)), with a\n"
	"device's request counters as \"statistics\" where they are known: the\n"
	"kernel blkback's from /sys, the bundled backend's from the directory it\n"
	"publishes them in (--stats-dir DIR, else $VBD_STATS_DIR, else the\n"
	"simulated host's: $VBD_SIM_DIR, or the one $XENSTORED_PATH names).\n"
	"--format xl prints what xl block-list prints, column for column, for the\n"
	"devices libxl's copy lists: Vdev (the devid), BE (backend domain), handle\n"
	"(the frontend's domain), state (the frontend's), evt-ch and ring-ref (the\n"
	"frontend's single-queue keys, -1 when absent) and BE-path.\n"
	"\n"
	"After the devices, text and JSON list the loop devices the built-in hotplug\n"
	"step made on this store that no record names (an attach killed between its\n"
	"loop device and its record, or a store that died): a line \"orphan loop\n"
	"device /dev/loopN (tag entry E, backing FILE): run vbdctl detach --force\n"
	"DOM VDEV\", which frees it; in JSON an object with \"orphan_loop\".  A loop\n"
	"device another program set up is never listed.\n"
	"\n"
	"Exit status: 0 listed (also when empty), 1 failed, 2 usage error.\n";

/* 8.0M, 1.5G: what ls -h and lsblk print. */
static void human_size(long long bytes, char *buf, size_t size)
{
	static const char units[] = "BKMGTP";
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f%c" : "%.0f%c", v, units[u]);
}

/* The orphan loop devices of DOM [VDEV] (dom < 0: all), in *ret (malloc'd,
 * NULL when none) and *ret_n; 0 or -errno. */
static int orphans(vbd_ctx *c, int dom, int64_t devid, vbd_loop_orphan **ret, size_t *ret_n)
{
	vbd_loop_orphan *v = NULL, *w;
	size_t n = 0, found = 0, i, k = 0;
	int r;

	*ret = NULL;
	*ret_n = 0;
	/* Another attach may leave one more between two calls: ask again. */
	for (;;) {
		r = vbd_loop_orphan_list(c, v, n, &found);
		if (r < 0)
			goto fail;
		if (found <= n)
			break;
		n = found;
		if (!(w = realloc(v, n * sizeof(*v)))) {
			r = -ENOMEM;
			goto fail;
		}
		v = w;
		v[0].size = sizeof(*v);
	}
	for (i = 0; i < found; i++) {
		if (dom >= 0 && (!v[i].has_dev || v[i].domid != (vbd_domid)dom ||
		                 (devid >= 0 && v[i].devid != (uint32_t)devid)))
			continue;
		v[k++] = v[i];
	}
	if (!k) {
		free(v);
		v = NULL;
	}
	*ret = v;
	*ret_n = k;
	return 0;
fail:
	free(v);
	return r;
}

static const char *or_dash(const char *s);

static void print_orphan(const vbd_loop_orphan *o)
{
	char vdev[32];

	if (o->has_dev && vbd_devid_to_vdev(o->devid, vdev, sizeof(vdev)) < 0)
		snprintf(vdev, sizeof(vdev), "%u", o->devid);
	if (o->has_dev)
		vbdctl_print("orphan loop device %s (tag entry %s, backing %s): run vbdctl detach "
		             "--force %u %s\n", o->device, o->entry, or_dash(o->backing_file),
		             o->domid, vdev);
	else
		vbdctl_print("orphan loop device %s (tag entry %s, backing %s): names no device; "
		             "losetup -d %s frees it\n", o->device, o->entry, or_dash(o->backing_file),
		             o->device);
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* A frontend key as libxl_device_disk_getinfo() reads it: strtoul's value
 * stored in an int, -1 when the key is absent. */
static int xl_num(const char *s)
{
	return s ? (int)strtoul(s, NULL, 10) : -1;
}

/* xl block-list's table (xen.git tools/xl/xl_block.c), its widths and its
 * sources: the devices in /libxl; the frontend's state; the frontend's
 * event-channel and ring-ref keys only, so a multi-queue or multi-page
 * ring shows -1 there as in xl. */
static void print_xl(const vbd_dev_info *v, size_t n)
{
	size_t i;

	printf("%-5s %-3s %-6s %-5s %-6s %-8s %-30s\n",
	       "Vdev", "BE", "handle", "state", "evt-ch", "ring-ref", "BE-path");
	for (i = 0; i < n; i++) {
		const vbd_dev_info *d = &v[i];
		bool one_queue = d->queues <= 1;

		if (!d->in_libxl)
			continue;
		printf("%-5d %-3d %-6d %-5d %-6d %-8d %-30s\n", (int)d->devid, (int)d->backend_domid,
		       (int)d->domid, d->frontend_state, one_queue ? xl_num(d->event_channel) : -1,
		       one_queue && d->ring_page_order <= 0 ? xl_num(d->ring_ref) : -1,
		       d->backend_path);
	}
}

int vbdctl_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'F' },
		{ "stats-dir", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *stats_opt = NULL, *stats_dir;
	char stats_buf[4200];
	vbd_dev_info *v = NULL;
	vbd_loop_orphan *o = NULL;
	size_t n = 0, no = 0, i;
	bool json = false, xl = false;
	vbd_ctx *c = NULL;
	int64_t devid;
	int opt, r, dom, ret = VBDCTL_EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "jF:S:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; xl = false; break;
		case 'F':
			json = !strcmp(optarg, "json");
			xl = !strcmp(optarg, "xl");
			if (!json && !xl && strcmp(optarg, "text")) {
				vbdctl_err("bad --format '%s': text, json or xl", optarg);
				return VBDCTL_EXIT_USAGE;
			}
			break;
		case 'S': stats_opt = optarg; break;
		case 'h': fputs(status_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(status_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if ((r = vbdctl_open_dom_vdev("status", argc - optind, argv + optind, &c, &dom, &devid))) {
		ret = r;
		goto out;
	}
	r = vbd_dev_list(c, dom, devid, &v, &n);
	if (r < 0) {
		vbdctl_err("listing devices: %s", vbd_strerror(r));
		goto out;
	}
	if (!xl && (r = orphans(c, dom, devid, &o, &no)) < 0) {
		vbdctl_err("listing orphan loop devices: %s", vbd_ctx_last_error(c)[0] ?
		           vbd_ctx_last_error(c) : vbd_strerror(r));
		goto out;
	}
	stats_dir = vbdctl_stats_dir(stats_opt, stats_buf, sizeof(stats_buf));
	for (i = 0; i < n; i++)
		v[i].has_stats = vbdctl_dev_stats(stats_dir, v[i].domid, v[i].devid, &v[i].stats);
	if (xl) {
		print_xl(v, n);
	} else if (json) {
		char *s;
		if ((r = vbd_status_json(v, n, o, no, true, &s)) < 0) {
			vbdctl_err("JSON: %s", vbd_strerror(r));
			goto out;
		}
		printf("%s\n", s);
		free(s);
	} else {
		vbdctl_print("%-5s %-8s %-6s %-4s %-15s %-15s %-9s %-10s %-8s %-6s %s\n", "Dom", "Vdev", "Devid",
		       "BE", "BE-state", "FE-state", "Phys", "Hotplug", "Size", "Holds", "Target");
		for (i = 0; i < n; i++) {
			const vbd_dev_info *d = &v[i];
			char be[24], fe[24], size[16] = "-";

			snprintf(be, sizeof(be), "%d %s", d->backend_state,
			         d->backend_state < 0 ? "-" : vbd_state_name(d->backend_state));
			snprintf(fe, sizeof(fe), "%d %s", d->frontend_state,
			         d->frontend_state < 0 ? "-" : vbd_state_name(d->frontend_state));
			if (d->target_size >= 0)
				human_size(d->target_size, size, sizeof(size));
			vbdctl_print("%-5u %-8s %-6u %-4u %-15s %-15s %-9s %-10s %-8s %-6s %s%s\n", d->domid,
			       d->vdev, d->devid, d->backend_domid, be, fe, or_dash(d->physical_device),
			       or_dash(d->hotplug_status), size, or_dash(d->target_type),
			       d->params && !d->params[0] && d->device_type &&
			       !strcmp(d->device_type, "cdrom") ? "(empty cdrom drive)" : or_dash(d->params),
			       d->in_libxl ? "" : "  [no /libxl copy: detach --force]");
			if (d->has_stats)
				vbdctl_print("      requests: rd %llu (%llu sect) wr %llu (%llu sect) flush %llu "
				             "discard %llu oo %llu\n",
				             (unsigned long long)d->stats.rd_req, (unsigned long long)d->stats.rd_sect,
				             (unsigned long long)d->stats.wr_req, (unsigned long long)d->stats.wr_sect,
				             (unsigned long long)d->stats.f_req, (unsigned long long)d->stats.ds_req,
				             (unsigned long long)d->stats.oo_req);
			if (d->hotplug_error)
				vbdctl_print("      hotplug-error: %s\n", d->hotplug_error);
			if (d->backend_error)
				vbdctl_print("      backend error: %s\n", d->backend_error);
			if (d->frontend_error)
				vbdctl_print("      frontend error: %s\n", d->frontend_error);
		}
		for (i = 0; i < no; i++)
			print_orphan(&o[i]);
	}
	ret = VBDCTL_EXIT_OK;
out:
	free(o);
	vbd_dev_info_free(v, n);
	vbd_ctx_free(c);
	return ret;
}
