/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Disk names and disk specifications.
 *
 * A vdev name is a device id in disguise (xen-vbd-interface(7)):
 *
 *   "xvdb3"   disk 1, partition 3   202<<8 | 1<<4 | 3           = 51731
 *   "xvdq"    disk 16: too big for the 4-bit field, so the
 *             extended encoding     1<<28 | 16<<8 | 0           = 268439552
 *   "d1p3"    same as "xvdb3"                                   = 51731
 *   "hdc"     disk 2 on the second IDE controller: 22<<8 | 0<<6  = 5632
 *   "sdb1"    8<<8 | 1<<4 | 1                                   = 2065
 *   "51731"   a bare number is the id itself
 *
 * Disk letters count in bijective base 26: a..z are 0..25, "aa" is 26,
 * "zz" is 701, "aaa" is 702.  The parser is stricter than libxl's
 * (libxl__device_disk_dev_number): libxl takes "xvd" alone as disk -1,
 * "d0x10p1" in hex and "0xca00" as a number; all of those are rejected
 * here, as are leading zeros, signs and spaces, so that each id has a
 * single canonical name and vbd_devid_to_vdev() is its exact inverse.
 *
 * A disk spec is parsed by xl's own parser, xlu_disk_parse(), and the
 * result is checked and copied out of the libxl structure.
 */
#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxl.h>
#include <libxlutil.h>

#include "util/err.h"
#include "vbd/disk.h"
#include "util/opts.h"

#define XVD_MAJOR 202u
#define HD_MAJOR_01 3u
#define HD_MAJOR_23 22u
#define SD_MAJOR 8u
#define EXT_FLAG (1u << 28)
#define RESERVED_FROM (2u << 28)
#define EXT_DISK_MAX ((1u << 20) - 1)
#define EXT_PART_MAX 255u
#define HD_DISK_MAX 3u
#define HD_PART_MAX 63u
#define SD_DISK_MAX 15u
#define SD_PART_MAX 15u
#define SHORT_MAX 15u          /* disk and partition fields of 202<<8 ids */

/* Longest name: "xvd" + 5 letters (disk up to 2^20 - 1) + "255". */
#define VDEV_NAME_MAX 16

/* One spec string longer than this is refused before xl's parser sees it:
 * xenstore caps a value at 4096 bytes, and the lexer rescans the rest of
 * the string for some tokens, which is quadratic in the length. */
#define DISK_SPEC_MAX 8192

/* A decimal number with no sign and no leading zero ("0" itself is fine),
 * at most max.  Returns the end, or NULL. */
static const char *parse_dec(const char *s, uint32_t max, uint32_t *ret)
{
	uint32_t v = 0;

	if (*s < '0' || *s > '9')
		return NULL;
	if (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
		return NULL;
	for (; *s >= '0' && *s <= '9'; s++) {
		uint32_t digit = (uint32_t)(*s - '0');

		if (v > (max - digit) / 10)
			return NULL;
		v = v * 10 + digit;
	}
	*ret = v;
	return s;
}

/* Bijective base-26 letters, at least one, at most max.  Returns the end,
 * or NULL. */
static const char *parse_letters(const char *s, uint32_t max, uint32_t *ret)
{
	uint32_t v = 0;
	bool any = false;

	for (; *s >= 'a' && *s <= 'z'; s++) {
		/* v + 1 <= max + 1 < 2^20, so this cannot overflow. */
		v = (any ? (v + 1) * 26 : 0) + (uint32_t)(*s - 'a');
		any = true;
		if (v > max)
			return NULL;
	}
	if (!any)
		return NULL;
	*ret = v;
	return s;
}

/* prefix, letters, then an optional partition number that cannot be 0
 * (the whole disk is written without one). */
static int parse_lettered(const char *s, uint32_t disk_max, uint32_t part_max,
                          uint32_t *ret_disk, uint32_t *ret_part)
{
	uint32_t disk, part = 0;

	s = parse_letters(s, disk_max, &disk);
	if (!s)
		return -EINVAL;
	if (*s) {
		if (*s == '0')
			return -EINVAL;
		s = parse_dec(s, part_max, &part);
		if (!s || *s)
			return -EINVAL;
	}
	*ret_disk = disk;
	*ret_part = part;
	return 0;
}

static uint32_t xvd_devid(uint32_t disk, uint32_t part)
{
	if (disk <= SHORT_MAX && part <= SHORT_MAX)
		return XVD_MAJOR << 8 | disk << 4 | part;
	return EXT_FLAG | disk << 8 | part;
}

int vbd_vdev_to_devid(const char *vdev, uint32_t *ret_devid)
{
	uint32_t disk, part, id;
	const char *s;

	if (!vdev || !ret_devid)
		return -EINVAL;

	if (strncmp(vdev, "xvd", 3) == 0) {
		if (parse_lettered(vdev + 3, EXT_DISK_MAX, EXT_PART_MAX, &disk, &part) < 0)
			return -EINVAL;
		id = xvd_devid(disk, part);
	} else if (vdev[0] == 'd' && vdev[1] >= '0' && vdev[1] <= '9') {
		s = parse_dec(vdev + 1, EXT_DISK_MAX, &disk);
		if (!s || *s != 'p')
			return -EINVAL;
		s = parse_dec(s + 1, EXT_PART_MAX, &part);
		if (!s || *s)
			return -EINVAL;
		id = xvd_devid(disk, part);
	} else if (strncmp(vdev, "hd", 2) == 0) {
		if (parse_lettered(vdev + 2, HD_DISK_MAX, HD_PART_MAX, &disk, &part) < 0)
			return -EINVAL;
		id = (disk < 2 ? HD_MAJOR_01 : HD_MAJOR_23) << 8 | (disk & 1) << 6 | part;
	} else if (strncmp(vdev, "sd", 2) == 0) {
		if (parse_lettered(vdev + 2, SD_DISK_MAX, SD_PART_MAX, &disk, &part) < 0)
			return -EINVAL;
		id = SD_MAJOR << 8 | disk << 4 | part;
	} else {
		s = parse_dec(vdev, RESERVED_FROM - 1, &id);
		if (!s || *s)
			return -EINVAL;
	}
	*ret_devid = id;
	return 0;
}

/* Writes prefix, the letters of disk and the partition (if not 0) into
 * out, which has VDEV_NAME_MAX bytes. */
static void format_lettered(char *out, const char *prefix, uint32_t disk, uint32_t part)
{
	char letters[8];
	size_t n = 0, i, len = strlen(prefix);
	int64_t d = disk;

	/* Least significant letter first: d % 26, then (d / 26) - 1, which is
	 * the bijective step ("aa" = 26 is 1*26 + 0 with digits 1..26). */
	do {
		letters[n++] = (char)('a' + d % 26);
		d = d / 26 - 1;
	} while (d >= 0);
	memcpy(out, prefix, len);
	for (i = 0; i < n; i++)
		out[len + i] = letters[n - 1 - i];
	out[len + n] = 0;
	if (part)
		snprintf(out + len + n, VDEV_NAME_MAX - len - n, "%u", part);
}

int vbd_devid_to_vdev(uint32_t devid, char *buf, size_t size)
{
	char name[VDEV_NAME_MAX];
	uint32_t major = devid >> 8, minor = devid & 0xff;
	size_t len;

	if (!buf && size)
		return -EINVAL;
	if (devid >= RESERVED_FROM)
		return -EINVAL;

	/* An extended id whose fields would fit the short form is not what
	 * any name turns into; only its number names it. */
	if (devid & EXT_FLAG) {
		uint32_t disk = (devid >> 8) & EXT_DISK_MAX, part = devid & EXT_PART_MAX;

		if (disk > SHORT_MAX || part > SHORT_MAX)
			format_lettered(name, "xvd", disk, part);
		else
			snprintf(name, sizeof(name), "%u", devid);
	} else if (major == XVD_MAJOR) {
		format_lettered(name, "xvd", minor >> 4, minor & 15);
	} else if ((major == HD_MAJOR_01 || major == HD_MAJOR_23) && minor <= 127) {
		format_lettered(name, "hd", (major == HD_MAJOR_23 ? 2 : 0) + (minor >> 6),
		                minor & HD_PART_MAX);
	} else if (major == SD_MAJOR) {
		format_lettered(name, "sd", minor >> 4, minor & 15);
	} else {
		snprintf(name, sizeof(name), "%u", devid);
	}

	len = strlen(name);
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(buf, name, len + 1);
	return 0;
}

vbd_disk_spec *vbd_disk_spec_free(vbd_disk_spec *spec)
{
	if (!spec)
		return NULL;
	free(spec->target);
	free(spec->vdev);
	free(spec->format);
	free(spec->script);
	free(spec->backend_domain);
	free(spec->backendtype);
	free(spec);
	return NULL;
}

/* strdup of a string xl's parser left behind; "" (which its savestring()
 * treats as not given) and NULL both become NULL. */
static int dup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (!s || !*s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

/* What xl's parser printed, on one line: each report ends in a newline and
 * one spec can produce several ("unknown value for access", then "bad disk
 * syntax" for the rest of the string). */
static void report_to_err(vbd_errbuf *err, int r, const char *text)
{
	char line[sizeof(err->msg)];
	size_t len = 0;

	while (text && *text && len + 1 < sizeof(line)) {
		size_t n = strcspn(text, "\n");
		int w = snprintf(line + len, sizeof(line) - len, "%s%.*s", len ? "; " : "",
		                 (int)n, text);

		if (w < 0)
			break;
		len += (size_t)w;
		text += n;
		text += strspn(text, "\n");
	}
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	line[len] = 0;
	if (!len)
		vbd__errf(err, r, "disk spec: %s", strerror(-r));
	else
		vbd__errf(err, r, "%s", line);
}

static int spec_from_libxl(const libxl_device_disk *d, vbd_disk_spec *spec, vbd_errbuf *err)
{
	const char *name;
	int r;

	/* Features xl's parser knows but that are not Xen vbds, or that need
	 * machinery libvbd does not have: refuse rather than drop them. */
	if (d->specification == LIBXL_DISK_SPECIFICATION_VIRTIO)
		return vbd__errf(err, -ENOTSUP, "disk spec: specification=virtio is not a Xen vbd");
	if (!libxl_defbool_is_default(d->colo_enable) && libxl_defbool_val(d->colo_enable))
		return vbd__errf(err, -ENOTSUP, "disk spec: colo replication is not supported");

	if (vbd_vdev_to_devid(d->vdev, &spec->devid) < 0)
		return vbd__errf(err, -EINVAL,
		                 "disk spec: vdev `%s' is not a virtual disk name "
		                 "(xvd<letters>[<part>], d<disk>p<part>, hd.., sd.. or a number)",
		                 d->vdev);
	if (!d->is_cdrom && (!d->pdev_path || !*d->pdev_path))
		return vbd__errf(err, -EINVAL, "disk spec: vdev %s: no target (and not a cdrom)",
		                 d->vdev);
	if (!d->is_cdrom && d->format == LIBXL_DISK_FORMAT_EMPTY)
		return vbd__errf(err, -EINVAL, "disk spec: vdev %s: format empty is for cdroms only",
		                 d->vdev);

	spec->readonly = !d->readwrite;
	spec->cdrom = d->is_cdrom;
	spec->direct_io_safe = d->direct_io_safe;
	spec->discard = libxl_defbool_is_default(d->discard_enable)
	                ? -1 : libxl_defbool_val(d->discard_enable);
	spec->trusted = libxl_defbool_is_default(d->trusted) || libxl_defbool_val(d->trusted);

	if ((r = dup_opt(d->pdev_path, &spec->target)) < 0 ||
	    (r = dup_opt(d->vdev, &spec->vdev)) < 0 ||
	    (r = dup_opt(d->script, &spec->script)) < 0 ||
	    (r = dup_opt(d->backend_domname, &spec->backend_domain)) < 0)
		return vbd__errf(err, r, "disk spec: out of memory");

	/* libxl's enum names are its own spelling of the keywords ("raw",
	 * "qcow2", "phy", "qdisk"); UNKNOWN has no keyword and stays NULL. */
	name = d->format == LIBXL_DISK_FORMAT_UNKNOWN ? NULL
	       : libxl_disk_format_to_string(d->format);
	if ((r = dup_opt(name, &spec->format)) < 0)
		return vbd__errf(err, r, "disk spec: out of memory");
	name = d->backend == LIBXL_DISK_BACKEND_UNKNOWN ? NULL
	       : libxl_disk_backend_to_string(d->backend);
	if ((r = dup_opt(name, &spec->backendtype)) < 0)
		return vbd__errf(err, r, "disk spec: out of memory");
	return 0;
}

/* Xen 4.17's xlu_disk_parse has no `trusted' or `untrusted' keyword
 * (libxl_device_disk got the field with XSA-403, the lexer the keywords
 * only later), so they are taken out here, before xl's parser sees the
 * string, on every version alike.  A keyword is a whole comma-separated
 * token, leading blanks aside, as the lexer reads it; everything from a
 * token holding "target=" on is left alone, since target= takes the rest
 * of the string, commas and all.  Sets *trusted to 1 or 0 for the last
 * keyword seen; returns the copy to parse, or NULL without memory. */
static char *take_trust_keywords(const char *spec, int *trusted)
{
	char *out = malloc(strlen(spec) + 1), *o = out;
	const char *p = spec;

	if (!out)
		return NULL;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p), skip;

		if (memmem(p, len, "target=", 7)) {
			strcpy(o, p);
			o += strlen(p);
			break;
		}
		skip = strspn(p, " \t");
		if (skip > len)
			skip = len;
		if (len - skip == 7 && memcmp(p + skip, "trusted", 7) == 0) {
			*trusted = 1;
		} else if (len - skip == 9 && memcmp(p + skip, "untrusted", 9) == 0) {
			*trusted = 0;
		} else {
			memcpy(o, p, len);
			o += len;
			if (comma)
				*o++ = ',';
		}
		p += comma ? len + 1 : len;
	}
	*o = 0;
	return out;
}

int vbd_disk_spec_parse(int nspecs, const char *const *specs,
                        vbd_disk_spec **ret, vbd_errbuf *err)
{
	libxl_device_disk disk;
	XLU_Config *cfg = NULL;
	vbd_disk_spec *spec = NULL;
	char **copies = NULL, *report = NULL;
	size_t report_len = 0;
	FILE *fp = NULL;
	int r, i, trusted = -1;

	if (!ret || nspecs < 1 || !specs)
		return vbd__errf(err, -EINVAL, "disk spec: nothing to parse");
	for (i = 0; i < nspecs; i++) {
		const char *p;

		if (!specs[i])
			return vbd__errf(err, -EINVAL, "disk spec: string %d is NULL", i);
		if (strlen(specs[i]) > DISK_SPEC_MAX)
			return vbd__errf(err, -E2BIG, "disk spec: longer than %d bytes", DISK_SPEC_MAX);
		/* xl's lexer has no rule for a newline after a syntax error, and
		 * a jammed flex scanner calls exit(2): keep control characters
		 * (which no path or keyword needs) away from it. */
		for (p = specs[i]; *p; p++)
			if ((unsigned char)*p < 0x20 && *p != '\t')
				return vbd__errf(err, -EINVAL,
				                 "disk spec: control character 0x%02x in `%s'",
				                 (unsigned char)*p, specs[i]);
	}

	libxl_device_disk_init(&disk);
	copies = calloc((size_t)nspecs, sizeof(*copies));
	if (!copies) {
		r = vbd__errf(err, -ENOMEM, "disk spec: out of memory");
		goto out;
	}
	for (i = 0; i < nspecs; i++) {
		copies[i] = take_trust_keywords(specs[i], &trusted);
		if (!copies[i]) {
			r = vbd__errf(err, -ENOMEM, "disk spec: out of memory");
			goto out;
		}
	}

	fp = open_memstream(&report, &report_len);
	if (!fp) {
		r = vbd__errf(err, -errno, "disk spec: open_memstream: %s", strerror(errno));
		goto out;
	}
	cfg = xlu_cfg_init(fp, "disk spec");
	if (!cfg) {
		r = vbd__errf(err, -ENOMEM, "disk spec: out of memory");
		goto out;
	}

	r = xlu_disk_parse(cfg, nspecs, (const char *const *)copies, &disk);
	/* The report stream is complete only once it is closed. */
	xlu_cfg_destroy(cfg);
	cfg = NULL;
	fclose(fp);
	fp = NULL;
	if (r) {
		r = r > 0 ? -r : -EINVAL;
		report_to_err(err, r, report);
		goto out;
	}

	spec = calloc(1, sizeof(*spec));
	if (!spec) {
		r = vbd__errf(err, -ENOMEM, "disk spec: out of memory");
		goto out;
	}
	r = spec_from_libxl(&disk, spec, err);
	if (r < 0)
		goto out;
	if (trusted >= 0)
		spec->trusted = trusted;
	*ret = spec;
	spec = NULL;
	r = 0;
out:
	vbd_disk_spec_free(spec);
	if (cfg)
		xlu_cfg_destroy(cfg);
	if (fp)
		fclose(fp);
	free(report);
	if (copies)
		for (i = 0; i < nspecs; i++)
			free(copies[i]);
	free(copies);
	libxl_device_disk_dispose(&disk);
	return r;
}

/* The tags libblkid can look up (blkid_evaluate_tag, through udev's
 * /dev/disk/by-* links or by probing). */
static bool is_tag(const char *target)
{
	static const char *const tags[] = { "LABEL=", "UUID=", "PARTLABEL=", "PARTUUID=" };
	size_t i;

	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (strncmp(target, tags[i], strlen(tags[i])) == 0)
			return true;
	return false;
}

int vbd_disk_target_resolve(const char *target, char **ret_path, vbd_errbuf *err)
{
	blkid_cache cache = NULL;
	const char *eq;
	char *path;

	if (!target || !ret_path)
		return vbd__errf(err, -EINVAL, "target: NULL");

	if (!is_tag(target)) {
		path = strdup(target);
		if (!path)
			return vbd__errf(err, -ENOMEM, "target %s: out of memory", target);
		*ret_path = path;
		return 0;
	}

	eq = strchr(target, '=');
	if (!eq[1])
		return vbd__errf(err, -EINVAL, "target %s: empty value", target);

	/* A private cache read from and written to /dev/null (as blkid -c
	 * /dev/null): every lookup probes afresh, so a device relabelled a
	 * moment ago is not found under its old name from
	 * /run/blkid/blkid.tab, and that file is left alone. */
	if (blkid_get_cache(&cache, "/dev/null") < 0)
		return vbd__errf(err, -ENOMEM, "target %s: cannot create a blkid cache", target);
	path = blkid_evaluate_tag(target, NULL, &cache);
	blkid_put_cache(cache);
	if (!path)
		return vbd__errf(err, -ENOENT, "target %s: no block device carries this %.*s",
		                 target, (int)(eq - target), target);
	*ret_path = path;
	return 0;
}

int vbd_disk_target_probe(const char *path, vbd_target_info *ret, vbd_errbuf *err)
{
	vbd_target_info info;
	blkid_probe pr = NULL;
	const char *v;
	struct stat st;
	int fd, r = 0;

	if (!path || !ret || ret->size < sizeof(ret->size))
		return vbd__errf(err, -EINVAL, "target: NULL, or ret->size unset");
	memset(&info, 0, sizeof(info));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return vbd__errf(err, -errno, "target %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = vbd__errf(err, -errno, "target %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		r = vbd__errf(err, -ENODEV, "target %s is neither a regular file nor a block device", path);
		goto out;
	}
	info.block = S_ISBLK(st.st_mode);
	pr = blkid_new_probe();
	if (!pr || blkid_probe_set_device(pr, fd, 0, 0) < 0) {
		r = vbd__errf(err, -ENOMEM, "target %s: libblkid cannot probe it", path);
		goto out;
	}
	info.bytes = info.block ? (long long)blkid_probe_get_size(pr) : (long long)st.st_size;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL |
	                                      BLKID_SUBLKS_UUID);
	blkid_probe_enable_partitions(pr, 1);
	/* 0: found, 1: nothing, -2: ambiguous (several signatures), -1: error.
	 * Only a found signature is reported. */
	if (blkid_do_safeprobe(pr) == 0) {
		if (blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0 ||
		    blkid_probe_lookup_value(pr, "PTTYPE", &v, NULL) == 0)
			snprintf(info.type, sizeof(info.type), "%s", v);
		if (blkid_probe_lookup_value(pr, "LABEL", &v, NULL) == 0)
			snprintf(info.label, sizeof(info.label), "%s", v);
		if (blkid_probe_lookup_value(pr, "UUID", &v, NULL) == 0 ||
		    blkid_probe_lookup_value(pr, "PTUUID", &v, NULL) == 0)
			snprintf(info.uuid, sizeof(info.uuid), "%s", v);
	}
	vbd__out_fill(ret, &info, sizeof(info));
out:
	if (pr)
		blkid_free_probe(pr);
	close(fd);
	return r;
}
