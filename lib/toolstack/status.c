/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device listing: libxl's copies first (they say where each device lives,
 * XSA-178), then backend dirs no copy names (what a crashed attach leaves).
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "toolstack/ctx.h"
#include "vbd/dev.h"
#include "vbd/disk.h"
#include "vbd/status.h"

/* A number for display: def when absent, unreadable or not a number. */
static long rd_long(vbd_ctx *c, const char *dir, const char *key, long def)
{
	unsigned long long v;

	return vbd__xb_read_num(c->xs, XBT_NULL, dir, key, LONG_MAX, &v) == 0 ? (long)v : def;
}

static void fill(vbd_ctx *c, vbd_dev_info *d)
{
	bool vbd3 = strstr(d->backend_path, "/backend/vbd3/") != NULL;
	const char *tp;
	char path[256];

	vbd_devid_to_vdev(d->devid, d->vdev, sizeof(d->vdev));
	d->backend_state = (int)rd_long(c, d->backend_path, "state", -1);
	d->frontend_state = d->frontend_path ? (int)rd_long(c, d->frontend_path, "state", -1) : -1;
	d->params = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", d->backend_path, "params");
	d->mode = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", d->backend_path, "mode");
	d->device_type = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", d->backend_path, "device-type");
	d->script = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", d->backend_path, "script");
	d->physical_device = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", d->backend_path, "physical-device");
	d->node = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", d->backend_path, "node");
	d->hotplug_status = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", d->backend_path, "hotplug-status");
	d->hotplug_error = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", d->backend_path, "hotplug-error");
	snprintf(path, sizeof(path), "/local/domain/%u/error/backend/%s/%u/%u/error",
	         d->backend_domid, vbd3 ? "vbd3" : "vbd", d->domid, d->devid);
	d->backend_error = vbd__xb_read(c->xs, XBT_NULL, "%s", path);
	snprintf(path, sizeof(path), "/local/domain/%u/error/device/vbd/%u/error", d->domid, d->devid);
	d->frontend_error = vbd__xb_read(c->xs, XBT_NULL, "%s", path);
	if (d->frontend_path) {
		d->protocol = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", d->frontend_path, "protocol");
		/* One queue: in the frontend dir; several: queue-0's shown. */
		static const char *const refs[] = { "ring-ref", "ring-ref0", "queue-0/ring-ref",
		                                    "queue-0/ring-ref0" };
		size_t k;

		for (k = 0; !d->ring_ref && k < sizeof(refs) / sizeof(refs[0]); k++)
			d->ring_ref = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", d->frontend_path, refs[k]);
		d->event_channel = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", d->frontend_path, "event-channel");
		if (!d->event_channel)
			d->event_channel = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", d->frontend_path, "queue-0/event-channel");
		d->queues = (int)rd_long(c, d->frontend_path, "multi-queue-num-queues", 1);
		d->ring_page_order = (int)rd_long(c, d->frontend_path, "ring-page-order", 0);
	}
	{
		unsigned long long v;

		d->sectors = vbd__xb_read_num(c->xs, XBT_NULL, d->backend_path, "sectors", LLONG_MAX,
		                              &v) == 0 ? (long long)v : -1;
	}
	d->sector_size = rd_long(c, d->backend_path, "sector-size", -1);
	d->info = rd_long(c, d->backend_path, "info", -1);
	d->target_size = -1;
	/* A vbd3 (tap) params is "aio:<path>". */
	tp = d->params && vbd3 && !strncmp(d->params, "aio:", 4) ? d->params + 4 : d->params;
	if (tp && tp[0] == '/') {
		vbd_target_info ti = { .size = sizeof(ti) };
		vbd_errbuf e;

		if (vbd_disk_target_probe(tp, &ti, &e) == 0) {
			d->target_size = ti.bytes;
			d->target_type = ti.type[0] ? strdup(ti.type) : NULL;
			d->target_label = ti.label[0] ? strdup(ti.label) : NULL;
			d->target_uuid = ti.uuid[0] ? strdup(ti.uuid) : NULL;
		}
	}
	d->feature_flush = rd_long(c, d->backend_path, "feature-flush-cache", 0) == 1;
	d->feature_barrier = rd_long(c, d->backend_path, "feature-barrier", 0) == 1;
	d->feature_discard = rd_long(c, d->backend_path, "feature-discard", 0) == 1;
	d->feature_persistent = rd_long(c, d->backend_path, "feature-persistent", 0) == 1;
}

static int push(vbd_dev_info **v, size_t *n, size_t *cap, vbd_dev_info **ret)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		vbd_dev_info *nv = realloc(*v, nc * sizeof(**v));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	*ret = memset(&(*v)[(*n)++], 0, sizeof(**v));
	return 0;
}

static bool known(const vbd_dev_info *v, size_t n, const char *be)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].backend_path && !strcmp(v[i].backend_path, be))
			return true;
	return false;
}

int vbd_dev_list(vbd_ctx *c, vbd_domid domid, int64_t devid, vbd_dev_info **ret, size_t *ret_n)
{
	vbd_dev_info *v = NULL, *d;
	size_t n = 0, cap = 0;
	char **doms = NULL, **devs, **fes, dir[128];
	unsigned nd = 0, i, j, k, m, nf;
	int r = 0;

	if (!c || !ret || !ret_n)
		return -EINVAL;
	doms = xs_directory(c->xs, XBT_NULL, "/libxl", &nd);
	for (i = 0; doms && i < nd; i++) {
		unsigned id = (unsigned)strtoul(doms[i], NULL, 10);

		if (domid != VBD_DOMID_ALL && id != domid)
			continue;
		snprintf(dir, sizeof(dir), "/libxl/%u/device/vbd", id);
		devs = xs_directory(c->xs, XBT_NULL, dir, &m);
		for (j = 0; devs && j < m; j++) {
			char lx[160];

			if (devid >= 0 && strtoul(devs[j], NULL, 10) != (unsigned long)devid)
				continue;
			if ((r = push(&v, &n, &cap, &d)) < 0) {
				free(devs);
				goto fail;
			}
			d->domid = id;
			d->devid = (uint32_t)strtoul(devs[j], NULL, 10);
			d->in_libxl = true;
			snprintf(lx, sizeof(lx), "%s/%s", dir, devs[j]);
			d->backend_path = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", lx, "backend");
			d->frontend_path = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", lx, "frontend");
			if (!d->backend_path) {
				n--;
				continue;
			}
			sscanf(d->backend_path, "/local/domain/%u/", &d->backend_domid);
			fill(c, d);
		}
		free(devs);
	}
	free(doms);
	doms = NULL;
	/* Backend dirs of every domain's backend/vbd and backend/vbd3 that no
	 * copy names. */
	doms = xs_directory(c->xs, XBT_NULL, "/local/domain", &nd);
	for (i = 0; doms && i < 2 * nd; i++) {
		unsigned bd = (unsigned)strtoul(doms[i / 2], NULL, 10);

		snprintf(dir, sizeof(dir), "/local/domain/%u/backend/%s", bd, i % 2 ? "vbd3" : "vbd");
		fes = xs_directory(c->xs, XBT_NULL, dir, &nf);
		for (k = 0; fes && k < nf; k++) {
			unsigned fd_id = (unsigned)strtoul(fes[k], NULL, 10);
			char sub[160];

			if (domid != VBD_DOMID_ALL && fd_id != domid)
				continue;
			snprintf(sub, sizeof(sub), "%s/%u", dir, fd_id);
			devs = xs_directory(c->xs, XBT_NULL, sub, &m);
			for (j = 0; devs && j < m; j++) {
				char be[200];

				snprintf(be, sizeof(be), "%s/%s", sub, devs[j]);
				if (known(v, n, be) ||
				    (devid >= 0 && strtoul(devs[j], NULL, 10) != (unsigned long)devid))
					continue;
				if ((r = push(&v, &n, &cap, &d)) < 0) {
					free(devs);
					free(fes);
					goto fail;
				}
				d->domid = fd_id;
				d->devid = (uint32_t)strtoul(devs[j], NULL, 10);
				d->backend_domid = bd;
				d->backend_path = strdup(be);
				d->frontend_path = vbd__xb_read(c->xs, XBT_NULL, "%s/%s", be, "frontend");
				fill(c, d);
			}
			free(devs);
		}
		free(fes);
	}
	free(doms);
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	free(doms);
	vbd_dev_info_free(v, n);
	return r;
}

void vbd_dev_info_free(vbd_dev_info *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		vbd_dev_info *d = &v[i];
		char *s[] = { d->backend_path, d->frontend_path, d->params, d->mode, d->device_type,
		              d->script, d->physical_device, d->node, d->hotplug_status,
		              d->target_type, d->target_label, d->target_uuid,
		              d->hotplug_error, d->backend_error, d->frontend_error, d->protocol,
		              d->ring_ref, d->event_channel };
		size_t k;

		for (k = 0; k < sizeof(s) / sizeof(s[0]); k++)
			free(s[k]);
	}
	free(v);
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no
 * overlong form, no surrogate, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;          /* overlong */
	else if (s[0] == 0xed)
		hi = 0x9f;          /* surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90;          /* overlong */
	else if (s[0] == 0xf4)
		hi = 0x8f;          /* past U+10FFFF */
	for (i = 1; i < n; i++, lo = 0x80, hi = 0xbf)
		if (s[i] < lo || s[i] > hi)   /* the NUL ends it too */
			return 0;
	return n;
}

/* A string as JSON text.  Most are what some domain wrote into xenstore,
 * so any bytes can be there; JSON is UTF-8 (RFC 8259) and yajl passes
 * bytes through unchecked, so a byte that is not part of a well-formed
 * sequence is written as U+FFFD, one per byte: a guest's "protocol" of
 * "\xff" must not make the whole list unreadable to a JSON parser. */
static void gstr(yajl_gen g, const char *k, const char *v)
{
	const unsigned char *p = (const unsigned char *)v;
	unsigned char *clean, *o;
	size_t n;

	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	if (!v) {
		yajl_gen_null(g);
		return;
	}
	while (*p && (n = utf8_len(p)))
		p += n;
	if (!*p) {
		yajl_gen_string(g, (const unsigned char *)v, strlen(v));
		return;
	}
	clean = malloc(3 * strlen(v) + 1);
	if (!clean) {
		yajl_gen_null(g);   /* out of memory: as for an absent string */
		return;
	}
	for (p = (const unsigned char *)v, o = clean; *p;) {
		if ((n = utf8_len(p))) {
			memcpy(o, p, n);
			o += n, p += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3, p++;
		}
	}
	yajl_gen_string(g, clean, (size_t)(o - clean));
	free(clean);
}

static void gint(yajl_gen g, const char *k, long long v, bool null_if_negative)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	if (null_if_negative && v < 0)
		yajl_gen_null(g);
	else
		yajl_gen_integer(g, v);
}

static void gbool(yajl_gen g, const char *k, bool v)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	yajl_gen_bool(g, v);
}

static void gu64(yajl_gen g, const char *k, uint64_t v)
{
	char num[24];

	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	yajl_gen_number(g, num, strlen(num));
}

/* One device object's keys (vbdctl-json(7)), in an open map; with no_dev
 * (an orphan loop device whose tag names no device) domid, devid, vdev and
 * backend_domid are null. */
static void dev_keys(yajl_gen g, const vbd_dev_info *d, bool no_dev)
{
	/* In each object rather than in an envelope: the array stays
	 * what scripts index, and an object taken out of it (jq '.[]')
	 * still says which schema it follows (vbdctl-json(7)). */
	gint(g, "schema_version", VBD_DEV_INFO_JSON_SCHEMA_VERSION, false);
	gint(g, "domid", no_dev ? -1 : (long long)d->domid, no_dev);
	gint(g, "devid", no_dev ? -1 : (long long)d->devid, no_dev);
	gstr(g, "vdev", no_dev ? NULL : d->vdev);
	gint(g, "backend_domid", no_dev ? -1 : (long long)d->backend_domid, no_dev);
	gbool(g, "in_libxl", d->in_libxl);
	gint(g, "backend_state", d->backend_state, true);
	gstr(g, "backend_state_name", d->backend_state < 0 ? NULL : vbd_state_name(d->backend_state));
	gint(g, "frontend_state", d->frontend_state, true);
	gstr(g, "frontend_state_name", d->frontend_state < 0 ? NULL : vbd_state_name(d->frontend_state));
	gstr(g, "backend_path", d->backend_path);
	gstr(g, "frontend_path", d->frontend_path);
	gstr(g, "params", d->params);
	gstr(g, "mode", d->mode);
	gstr(g, "device_type", d->device_type);
	gbool(g, "empty", d->params && !d->params[0] && d->device_type &&
	                  !strcmp(d->device_type, "cdrom"));
	gstr(g, "script", d->script);
	gstr(g, "physical_device", d->physical_device);
	gstr(g, "node", d->node);
	gstr(g, "hotplug_status", d->hotplug_status);
	gstr(g, "hotplug_error", d->hotplug_error);
	gstr(g, "backend_error", d->backend_error);
	gstr(g, "frontend_error", d->frontend_error);
	gstr(g, "protocol", d->protocol);
	gstr(g, "ring_ref", d->ring_ref);
	gstr(g, "event_channel", d->event_channel);
	gint(g, "queues", d->queues, true);
	gint(g, "ring_page_order", d->ring_page_order, true);
	gint(g, "sectors", d->sectors, true);
	gint(g, "sector_size", d->sector_size, true);
	gint(g, "info", d->info, true);
	yajl_gen_string(g, (const unsigned char *)"target", 6);
	yajl_gen_map_open(g);
	gint(g, "size", d->target_size, true);
	gstr(g, "type", d->target_type);
	gstr(g, "label", d->target_label);
	gstr(g, "uuid", d->target_uuid);
	yajl_gen_map_close(g);
	yajl_gen_string(g, (const unsigned char *)"features", 8);
	yajl_gen_map_open(g);
	gbool(g, "flush_cache", d->feature_flush);
	gbool(g, "barrier", d->feature_barrier);
	gbool(g, "discard", d->feature_discard);
	gbool(g, "persistent", d->feature_persistent);
	yajl_gen_map_close(g);
	if (d->has_stats) {
		yajl_gen_string(g, (const unsigned char *)"statistics", 10);
		yajl_gen_map_open(g);
		gu64(g, "oo_req", d->stats.oo_req);
		gu64(g, "rd_req", d->stats.rd_req);
		gu64(g, "wr_req", d->stats.wr_req);
		gu64(g, "f_req", d->stats.f_req);
		gu64(g, "ds_req", d->stats.ds_req);
		gu64(g, "rd_sect", d->stats.rd_sect);
		gu64(g, "wr_sect", d->stats.wr_sect);
		yajl_gen_map_close(g);
	}
}

/* An orphan loop device: a device object of its domid and devid with every
 * node absent, and what the loop device says under "orphan_loop". */
static void orphan_obj(yajl_gen g, const vbd_loop_orphan *o)
{
	vbd_dev_info d;

	memset(&d, 0, sizeof(d));
	d.backend_state = d.frontend_state = -1;
	d.sectors = d.target_size = -1;
	d.sector_size = d.info = -1;
	d.queues = d.ring_page_order = -1;
	yajl_gen_map_open(g);
	if (o->has_dev) {
		d.domid = o->domid;
		d.devid = o->devid;
		d.backend_domid = o->backend_domid;
		if (vbd_devid_to_vdev(o->devid, d.vdev, sizeof(d.vdev)) < 0)
			d.vdev[0] = 0;
	}
	dev_keys(g, &d, !o->has_dev);
	yajl_gen_string(g, (const unsigned char *)"orphan_loop", 11);
	yajl_gen_map_open(g);
	gstr(g, "device", o->device);
	gstr(g, "tag_entry", o->entry);
	gstr(g, "backing_file", o->backing_file[0] ? o->backing_file : NULL);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
}

int vbd_dev_info_json(const vbd_dev_info *v, size_t n, bool pretty, char **ret)
{
	return vbd_status_json(v, n, NULL, 0, pretty, ret);
}

int vbd_status_json(const vbd_dev_info *v, size_t n, const vbd_loop_orphan *o, size_t no,
                    bool pretty, char **ret)
{
	yajl_gen g;
	const unsigned char *buf;
	size_t len, i;

	if (!ret || (n && !v) || (no && (!o || o->size < offsetof(vbd_loop_orphan, backing_file) +
	                                                  sizeof(o->backing_file))))
		return -EINVAL;
	if (!(g = yajl_gen_alloc(NULL)))
		return -ENOMEM;
	yajl_gen_config(g, yajl_gen_beautify, pretty ? 1 : 0);
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		dev_keys(g, &v[i], false);
		yajl_gen_map_close(g);
	}
	for (i = 0; i < no; i++)
		orphan_obj(g, (const vbd_loop_orphan *)((const char *)o + i * o->size));
	yajl_gen_array_close(g);
	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
		yajl_gen_free(g);
		return -ENOMEM;
	}
	/* yajl's beautified empty array spans lines; an empty list is "[]". */
	if (!n && !no) {
		buf = (const unsigned char *)"[]";
		len = 2;
	}
	*ret = malloc(len + 1);
	if (!*ret) {
		yajl_gen_free(g);
		return -ENOMEM;
	}
	memcpy(*ret, buf, len);
	(*ret)[len] = 0;
	yajl_gen_free(g);
	return 0;
}
