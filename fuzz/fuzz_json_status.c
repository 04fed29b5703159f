/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for the JSON that `vbdctl status --json` prints: devices with
 * hostile strings and numbers at their limits go through the library's own
 * writer, vbd_dev_info_json(), and the text comes back through yajl's
 * parser (as jq or a script would read it), field by field.
 *
 * Most strings of a device are what some domain wrote into xenstore
 * (protocol, ring-ref, event-channel, the error nodes are the guest's), so
 * any bytes can be in them.  The input, read front to back (missing bytes
 * read as 0):
 *
 *     u8 flags      bit 0: pretty; bits 1-2: number of devices (0-3)
 *     per device:
 *       u16 domid, u16 backend_domid, u32 devid
 *       u8 bools    in_libxl, 4 features, has_stats (bits 0-5)
 *       u8 len + bytes: vdev (at most 31)
 *       i32 backend_state, frontend_state, queues, ring_page_order
 *       i64 sectors, target_size, sector_size, info
 *       18 strings: u8 len (0xff: absent, NULL), then len bytes, cut at
 *         the first NUL as C strings are
 *       with has_stats: 7 u64 counters
 *
 * Oracles: the output parses as JSON (RFC 8259: UTF-8); it is an array of
 * one object per device, in order, each with exactly the documented keys
 * (vbdctl-json(7)); every string comes back as it was, except that bytes
 * that are not UTF-8 come back as U+FFFD (one per byte), as
 * vbd_dev_info_json() documents; NULL strings and negative "unknown"
 * numbers come back as null; every number comes back exactly, the 64-bit
 * counters too; the state names are vbd_state_name()'s.  Every violation is
 * an abort().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "vbd/common.h"
#include "vbd/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NDEV_MAX 3
#define NSTR 18

struct in {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct in *in, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		uint64_t b = 0;

		if (in->left) {
			b = *in->p++;
			in->left--;
		}
		v |= b << (8 * i);
	}
	return v;
}

/* A string of the input: NULL (0xff), or up to 254 bytes cut at a NUL. */
static char *take_str(struct in *in)
{
	unsigned len = (unsigned)take(in, 1), i;
	char *s;

	if (len == 0xff)
		return NULL;
	s = calloc(1, len + 1);
	if (!s)
		abort();
	for (i = 0; i < len; i++)
		s[i] = (char)take(in, 1);
	return s;
}

static void die(const char *what, const char *key)
{
	fprintf(stderr, "fuzz_json_status: %s%s%s\n", what, key ? ": " : "", key ? key : "");
	abort();
}

/* What a string must read as after the round trip: itself if it is UTF-8,
 * else with each byte that is not part of a well-formed sequence replaced
 * by U+FFFD.  Written from RFC 3629's table, apart from the writer. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n, i;
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	for (i = 1; i < n; i++) {
		if (s[i] < lo || s[i] > hi)
			return 0;
		lo = 0x80, hi = 0xbf;
	}
	return n;
}

static char *expected_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc(3 * strlen(s) + 1), *o = out;

	if (!out)
		abort();
	while (*p) {
		size_t n = utf8_seq(p);

		if (n) {
			memcpy(o, p, n);
			o += n, p += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3, p++;
		}
	}
	*o = 0;
	return out;
}

static yajl_val get(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(obj, path, yajl_t_any);

	if (!v)
		die("key missing", key);
	return v;
}

static void check_str(yajl_val obj, const char *key, const char *want)
{
	yajl_val v = get(obj, key);
	const char *got;
	char *exp;

	if (!want) {
		if (!YAJL_IS_NULL(v))
			die("NULL string not null", key);
		return;
	}
	got = YAJL_GET_STRING(v);
	if (!got)
		die("string not a string", key);
	exp = expected_text(want);
	if (strcmp(got, exp)) {
		fprintf(stderr, "fuzz_json_status: %s: wrote \"%s\", read \"%s\"\n", key, exp,
		        got);
		die("string changed", key);
	}
	free(exp);
}

/* An integer; negative ones are null when unknown_if_negative. */
static void check_int(yajl_val obj, const char *key, long long want, bool unknown_if_negative)
{
	yajl_val v = get(obj, key);

	if (unknown_if_negative && want < 0) {
		if (!YAJL_IS_NULL(v))
			die("unknown number not null", key);
		return;
	}
	if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) != want) {
		fprintf(stderr, "fuzz_json_status: %s: wrote %lld\n", key, want);
		die("number changed", key);
	}
}

static void check_u64(yajl_val obj, const char *key, uint64_t want)
{
	yajl_val v = get(obj, key);
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, want);
	if (!YAJL_IS_NUMBER(v) || strcmp(YAJL_GET_NUMBER(v), num))
		die("64-bit counter changed", key);
}

static void check_bool(yajl_val obj, const char *key, bool want)
{
	yajl_val v = get(obj, key);

	if (want ? !YAJL_IS_TRUE(v) : !YAJL_IS_FALSE(v))
		die("boolean changed", key);
}

static void check_keys(yajl_val obj, size_t want, const char *what)
{
	if (!YAJL_IS_OBJECT(obj) || obj->u.object.len != want)
		die("not an object with the documented keys", what);
}

static void check_dev(yajl_val o, const vbd_dev_info *d)
{
	yajl_val t, f, s;

	check_keys(o, 33u + (d->has_stats ? 1u : 0u), "device");
	check_int(o, "schema_version", VBD_DEV_INFO_JSON_SCHEMA_VERSION, false);
	check_int(o, "domid", d->domid, false);
	check_int(o, "devid", d->devid, false);
	check_str(o, "vdev", d->vdev);
	check_int(o, "backend_domid", d->backend_domid, false);
	check_bool(o, "in_libxl", d->in_libxl);
	check_int(o, "backend_state", d->backend_state, true);
	check_str(o, "backend_state_name",
	          d->backend_state < 0 ? NULL : vbd_state_name(d->backend_state));
	check_int(o, "frontend_state", d->frontend_state, true);
	check_str(o, "frontend_state_name",
	          d->frontend_state < 0 ? NULL : vbd_state_name(d->frontend_state));
	check_str(o, "backend_path", d->backend_path);
	check_str(o, "frontend_path", d->frontend_path);
	check_str(o, "params", d->params);
	check_str(o, "mode", d->mode);
	check_str(o, "device_type", d->device_type);
	check_bool(o, "empty", d->params && !d->params[0] && d->device_type &&
	                       !strcmp(d->device_type, "cdrom"));
	check_str(o, "script", d->script);
	check_str(o, "physical_device", d->physical_device);
	check_str(o, "node", d->node);
	check_str(o, "hotplug_status", d->hotplug_status);
	check_str(o, "hotplug_error", d->hotplug_error);
	check_str(o, "backend_error", d->backend_error);
	check_str(o, "frontend_error", d->frontend_error);
	check_str(o, "protocol", d->protocol);
	check_str(o, "ring_ref", d->ring_ref);
	check_str(o, "event_channel", d->event_channel);
	check_int(o, "queues", d->queues, true);
	check_int(o, "ring_page_order", d->ring_page_order, true);
	check_int(o, "sectors", d->sectors, true);
	check_int(o, "sector_size", d->sector_size, true);
	check_int(o, "info", d->info, true);
	t = get(o, "target");
	check_keys(t, 4, "target");
	check_int(t, "size", d->target_size, true);
	check_str(t, "type", d->target_type);
	check_str(t, "label", d->target_label);
	check_str(t, "uuid", d->target_uuid);
	f = get(o, "features");
	check_keys(f, 4, "features");
	check_bool(f, "flush_cache", d->feature_flush);
	check_bool(f, "barrier", d->feature_barrier);
	check_bool(f, "discard", d->feature_discard);
	check_bool(f, "persistent", d->feature_persistent);
	if (d->has_stats) {
		s = get(o, "statistics");
		check_keys(s, 7, "statistics");
		check_u64(s, "oo_req", d->stats.oo_req);
		check_u64(s, "rd_req", d->stats.rd_req);
		check_u64(s, "wr_req", d->stats.wr_req);
		check_u64(s, "f_req", d->stats.f_req);
		check_u64(s, "ds_req", d->stats.ds_req);
		check_u64(s, "rd_sect", d->stats.rd_sect);
		check_u64(s, "wr_sect", d->stats.wr_sect);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	vbd_dev_info *v;
	unsigned flags = (unsigned)take(&in, 1), n = (flags >> 1) & 3, i, k, len;
	char *out = NULL, errbuf[256];
	yajl_val root;
	int r;

	v = calloc(NDEV_MAX, sizeof(*v));
	if (!v)
		abort();
	for (i = 0; i < n; i++) {
		vbd_dev_info *d = &v[i];
		char **str[NSTR] = {
			&d->backend_path, &d->frontend_path, &d->params, &d->mode,
			&d->device_type, &d->script, &d->physical_device, &d->node,
			&d->hotplug_status, &d->hotplug_error, &d->backend_error,
			&d->frontend_error, &d->protocol, &d->ring_ref, &d->event_channel,
			&d->target_type, &d->target_label, &d->target_uuid,
		};
		unsigned b;

		d->domid = (vbd_domid)take(&in, 2);
		d->backend_domid = (vbd_domid)take(&in, 2);
		d->devid = (uint32_t)take(&in, 4);
		b = (unsigned)take(&in, 1);
		d->in_libxl = b & 1;
		d->feature_flush = b & 2;
		d->feature_barrier = b & 4;
		d->feature_discard = b & 8;
		d->feature_persistent = b & 16;
		d->has_stats = b & 32;
		len = (unsigned)take(&in, 1) % sizeof(d->vdev);
		for (k = 0; k < len; k++)
			d->vdev[k] = (char)take(&in, 1);
		d->backend_state = (int32_t)take(&in, 4);
		d->frontend_state = (int32_t)take(&in, 4);
		d->queues = (int32_t)take(&in, 4);
		d->ring_page_order = (int32_t)take(&in, 4);
		d->sectors = (long long)take(&in, 8);
		d->target_size = (long long)take(&in, 8);
		d->sector_size = (long)take(&in, 8);
		d->info = (long)take(&in, 8);
		for (k = 0; k < NSTR; k++)
			*str[k] = take_str(&in);
		if (d->has_stats) {
			d->stats.size = sizeof(d->stats);
			d->stats.oo_req = take(&in, 8);
			d->stats.rd_req = take(&in, 8);
			d->stats.wr_req = take(&in, 8);
			d->stats.f_req = take(&in, 8);
			d->stats.ds_req = take(&in, 8);
			d->stats.rd_sect = take(&in, 8);
			d->stats.wr_sect = take(&in, 8);
		}
	}
	r = vbd_dev_info_json(v, n, flags & 1, &out);
	if (r < 0)
		die("vbd_dev_info_json failed", NULL);
	root = yajl_tree_parse(out, errbuf, sizeof(errbuf));
	if (!root) {
		fprintf(stderr, "fuzz_json_status: %s\n%s\n", errbuf, out);
		die("the output is not JSON", NULL);
	}
	if (!YAJL_IS_ARRAY(root) || root->u.array.len != n)
		die("not an array of one object per device", NULL);
	if (n == 0 && strcmp(out, "[]"))
		die("an empty list is not \"[]\"", NULL);
	for (i = 0; i < n; i++)
		check_dev(root->u.array.values[i], &v[i]);
	yajl_tree_free(root);
	free(out);
	vbd_dev_info_free(v, NDEV_MAX);
	return 0;
}
