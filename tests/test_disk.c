/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Disk names, device ids, disk specs and target resolution (vbd/disk.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vbd/disk.h"

/* ---- vdev -> devid ---------------------------------------------------- */

struct vdev_case {
	const char *vdev;
	int r;
	uint32_t devid;
};

#define EXT(d, p) ((1u << 28) | (uint32_t)(d) << 8 | (uint32_t)(p))
#define XVD(d, p) (202u << 8 | (uint32_t)(d) << 4 | (uint32_t)(p))

static const struct vdev_case vdev_cases[] = {
	/* docs/protocol.md's worked values. */
	{ "xvda", 0, 51712 },
	{ "xvdb", 0, 51728 },
	{ "xvdq", 0, 268439552 },
	{ "hda", 0, 768 },
	{ "hdc", 0, 5632 },
	{ "sda", 0, 2048 },

	/* xvd, short form: disk and partition up to 15. */
	{ "xvda1", 0, XVD(0, 1) },
	{ "xvda15", 0, XVD(0, 15) },
	{ "xvdp", 0, XVD(15, 0) },
	{ "xvdp15", 0, 51967 },
	/* The first extended ids: partition 16, disk 16. */
	{ "xvda16", 0, EXT(0, 16) },
	{ "xvdp16", 0, EXT(15, 16) },
	{ "xvdq1", 0, EXT(16, 1) },
	{ "xvda255", 0, EXT(0, 255) },
	{ "xvda256", -EINVAL, 0 },
	/* Letters: bijective base 26. */
	{ "xvdz", 0, EXT(25, 0) },
	{ "xvdaa", 0, EXT(26, 0) },
	{ "xvdaz", 0, EXT(51, 0) },
	{ "xvdba", 0, EXT(52, 0) },
	{ "xvdzz", 0, EXT(701, 0) },
	{ "xvdaaa", 0, EXT(702, 0) },
	{ "xvdzzz", 0, EXT(18277, 0) },
	{ "xvdaaaa", 0, EXT(18278, 0) },
	{ "xvdzzzz", 0, EXT(475253, 0) },
	{ "xvdaaaaa", 0, EXT(475254, 0) },
	{ "xvdbgqcv", 0, EXT(1048575, 0) },     /* 2^20 - 1, the last disk */
	{ "xvdbgqcv255", 0, 536870911 },        /* the highest id there is */
	{ "xvdbgqcw", -EINVAL, 0 },             /* 2^20 */
	{ "xvdzzzzz", -EINVAL, 0 },
	{ "xvdaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -EINVAL, 0 },

	/* d<disk>p<part>. */
	{ "d0p0", 0, 51712 },
	{ "d0p1", 0, XVD(0, 1) },
	{ "d15p15", 0, 51967 },
	{ "d16p0", 0, 268439552 },
	{ "d0p16", 0, EXT(0, 16) },
	{ "d15p16", 0, EXT(15, 16) },
	{ "d16p15", 0, EXT(16, 15) },
	{ "d1048575p255", 0, 536870911 },
	{ "d1048576p0", -EINVAL, 0 },
	{ "d0p256", -EINVAL, 0 },
	{ "d99999999999p0", -EINVAL, 0 },
	{ "d0p99999999999", -EINVAL, 0 },
	{ "d01p1", -EINVAL, 0 },
	{ "d1p01", -EINVAL, 0 },
	{ "d00p0", -EINVAL, 0 },
	{ "d1p", -EINVAL, 0 },
	{ "d1", -EINVAL, 0 },
	{ "dp1", -EINVAL, 0 },
	{ "d", -EINVAL, 0 },
	{ "d+1p1", -EINVAL, 0 },
	{ "d1p-1", -EINVAL, 0 },
	{ "d0x1p1", -EINVAL, 0 },
	{ "d1p1x", -EINVAL, 0 },
	{ "d1P1", -EINVAL, 0 },

	/* hd: disks a..d, partitions up to 63. */
	{ "hda1", 0, 769 },
	{ "hda63", 0, 831 },
	{ "hda64", -EINVAL, 0 },
	{ "hdb", 0, 832 },
	{ "hdb63", 0, 895 },
	{ "hdc1", 0, 5633 },
	{ "hdd", 0, 5696 },
	{ "hdd63", 0, 5759 },
	{ "hde", -EINVAL, 0 },
	{ "hdaa", -EINVAL, 0 },
	{ "hd", -EINVAL, 0 },
	{ "hda0", -EINVAL, 0 },
	{ "hda01", -EINVAL, 0 },

	/* sd: disks a..p, partitions up to 15. */
	{ "sda1", 0, 2049 },
	{ "sda15", 0, 2063 },
	{ "sda16", -EINVAL, 0 },
	{ "sdb", 0, 2064 },
	{ "sdp", 0, 2288 },
	{ "sdp15", 0, 2303 },
	{ "sdq", -EINVAL, 0 },
	{ "sdaa", -EINVAL, 0 },
	{ "sd", -EINVAL, 0 },
	{ "sda0", -EINVAL, 0 },

	/* Bare numbers are the id, below the reserved 2<<28. */
	{ "0", 0, 0 },
	{ "1", 0, 1 },
	{ "51712", 0, 51712 },
	{ "268435456", 0, 268435456 },
	{ "536870911", 0, 536870911 },
	{ "536870912", -EINVAL, 0 },
	{ "4294967295", -EINVAL, 0 },
	{ "4294967296", -EINVAL, 0 },
	{ "18446744073709551617", -EINVAL, 0 },
	{ "051712", -EINVAL, 0 },
	{ "00", -EINVAL, 0 },
	{ "0x10", -EINVAL, 0 },
	{ "+1", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ " 1", -EINVAL, 0 },
	{ "1 ", -EINVAL, 0 },

	/* Junk. */
	{ "", -EINVAL, 0 },
	{ "xvd", -EINVAL, 0 },
	{ "xvd1", -EINVAL, 0 },
	{ "xvda0", -EINVAL, 0 },
	{ "xvda01", -EINVAL, 0 },
	{ "xvda1a", -EINVAL, 0 },
	{ "xvda-1", -EINVAL, 0 },
	{ "xvda+1", -EINVAL, 0 },
	{ "xvda 1", -EINVAL, 0 },
	{ "xvda\n", -EINVAL, 0 },
	{ "xvdA", -EINVAL, 0 },
	{ "XVDA", -EINVAL, 0 },
	{ "Xvda", -EINVAL, 0 },
	{ "hdA", -EINVAL, 0 },
	{ "sdA", -EINVAL, 0 },
	{ "vda", -EINVAL, 0 },
	{ "xvde\xff", -EINVAL, 0 },
	{ "/dev/xvda", -EINVAL, 0 },
	{ "xvda1p1", -EINVAL, 0 },
};

static void test_vdev_to_devid(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(vdev_cases) / sizeof(vdev_cases[0]); i++) {
		const struct vdev_case *c = &vdev_cases[i];
		uint32_t id = 0xdeadbeef;
		int r = vbd_vdev_to_devid(c->vdev, &id);

		if (r != c->r)
			fail_msg("vdev_to_devid(\"%s\"): got %d, want %d", c->vdev, r, c->r);
		if (r == 0 && id != c->devid)
			fail_msg("vdev_to_devid(\"%s\"): got %u, want %u", c->vdev, id, c->devid);
		if (r < 0 && id != 0xdeadbeef)
			fail_msg("vdev_to_devid(\"%s\") failed but wrote %u", c->vdev, id);
	}
	assert_int_equal(vbd_vdev_to_devid(NULL, &(uint32_t){ 0 }), -EINVAL);
	assert_int_equal(vbd_vdev_to_devid("xvda", NULL), -EINVAL);
}

/* ---- devid -> vdev ---------------------------------------------------- */

struct devid_case {
	uint32_t devid;
	int r;
	const char *vdev;
};

static const struct devid_case devid_cases[] = {
	{ 51712, 0, "xvda" },
	{ 51713, 0, "xvda1" },
	{ 51727, 0, "xvda15" },
	{ 51728, 0, "xvdb" },
	{ 51967, 0, "xvdp15" },
	{ 268439552, 0, "xvdq" },
	{ EXT(0, 16), 0, "xvda16" },
	{ EXT(0, 255), 0, "xvda255" },
	{ EXT(25, 0), 0, "xvdz" },
	{ EXT(26, 0), 0, "xvdaa" },
	{ EXT(701, 0), 0, "xvdzz" },
	{ EXT(702, 0), 0, "xvdaaa" },
	{ EXT(475254, 7), 0, "xvdaaaaa7" },
	{ 536870911, 0, "xvdbgqcv255" },
	/* Extended ids of disks and partitions that fit the short form: no
	 * name leads there, so the number is the name. */
	{ EXT(0, 0), 0, "268435456" },
	{ EXT(15, 15), 0, "268439311" },
	{ EXT(3, 0), 0, "268436224" },
	{ 768, 0, "hda" },
	{ 769, 0, "hda1" },
	{ 831, 0, "hda63" },
	{ 832, 0, "hdb" },
	{ 895, 0, "hdb63" },
	{ 896, 0, "896" },                    /* major 3, minor 128 */
	{ 1023, 0, "1023" },
	{ 5632, 0, "hdc" },
	{ 5696, 0, "hdd" },
	{ 5759, 0, "hdd63" },
	{ 5760, 0, "5760" },
	{ 2048, 0, "sda" },
	{ 2063, 0, "sda15" },
	{ 2064, 0, "sdb" },
	{ 2303, 0, "sdp15" },
	{ 0, 0, "0" },
	{ 1, 0, "1" },
	{ 767, 0, "767" },
	{ 202u << 8 | 256, 0, "51968" },
	{ 65535, 0, "65535" },
	{ 0x0fffffff, 0, "268435455" },
	{ 536870912, -EINVAL, NULL },
	{ 0x80000000u, -EINVAL, NULL },
	{ 0xffffffffu, -EINVAL, NULL },
};

static void test_devid_to_vdev(void **state)
{
	char buf[32];
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(devid_cases) / sizeof(devid_cases[0]); i++) {
		const struct devid_case *c = &devid_cases[i];
		int r;

		strcpy(buf, "untouched");
		r = vbd_devid_to_vdev(c->devid, buf, sizeof(buf));
		if (r != c->r)
			fail_msg("devid_to_vdev(%u): got %d, want %d", c->devid, r, c->r);
		if (r == 0 && strcmp(buf, c->vdev) != 0)
			fail_msg("devid_to_vdev(%u): got \"%s\", want \"%s\"", c->devid, buf, c->vdev);
		if (r < 0)
			assert_string_equal(buf, "untouched");
	}

	/* Size: the terminating NUL counts. */
	strcpy(buf, "untouched");
	assert_int_equal(vbd_devid_to_vdev(51712, buf, 4), -ENAMETOOLONG);
	assert_string_equal(buf, "untouched");
	assert_int_equal(vbd_devid_to_vdev(51712, buf, 5), 0);
	assert_string_equal(buf, "xvda");
	assert_int_equal(vbd_devid_to_vdev(536870911, buf, 11), -ENAMETOOLONG);
	assert_int_equal(vbd_devid_to_vdev(536870911, buf, 12), 0);
	assert_string_equal(buf, "xvdbgqcv255");
	assert_int_equal(vbd_devid_to_vdev(51712, NULL, 0), -ENAMETOOLONG);
	assert_int_equal(vbd_devid_to_vdev(51712, NULL, 16), -EINVAL);
}

/* ---- round trips ------------------------------------------------------ */

static void check_roundtrip(uint32_t id)
{
	char name[32];
	uint32_t back = 0;
	int r = vbd_devid_to_vdev(id, name, sizeof(name));

	if (r != 0)
		fail_msg("devid_to_vdev(%u): %d", id, r);
	r = vbd_vdev_to_devid(name, &back);
	if (r != 0 || back != id)
		fail_msg("devid %u -> \"%s\" -> %d, %u", id, name, r, back);
}

/* Every valid id has a name that means it: all ids up to 2^17 (every
 * major of the short schemes), every id of the extended range's first
 * disks, and a stride through the rest. */
static void test_devid_roundtrip(void **state)
{
	uint64_t id;
	(void)state;

	for (id = 0; id < (1u << 17); id++)
		check_roundtrip((uint32_t)id);
	for (id = 1u << 28; id < (1u << 28) + (1u << 16); id++)
		check_roundtrip((uint32_t)id);
	for (id = 0; id < (2u << 28); id += 7919)
		check_roundtrip((uint32_t)id);
	for (id = (2u << 28) - (1u << 16); id < (2u << 28); id++)
		check_roundtrip((uint32_t)id);
}

/* Names that vbd_devid_to_vdev gives back unchanged: the xvd names of
 * every disk up to "zzz"+ with every partition, and all of hd and sd. */
static void check_canonical(const char *name)
{
	char back[32];
	uint32_t id;

	if (vbd_vdev_to_devid(name, &id) != 0)
		fail_msg("\"%s\" rejected", name);
	if (vbd_devid_to_vdev(id, back, sizeof(back)) != 0 || strcmp(back, name) != 0)
		fail_msg("\"%s\" -> %u -> \"%s\"", name, id, back);
}

static void letters(uint32_t d, char *out)
{
	char tmp[8];
	int n = 0, i;
	int64_t v = d;

	do {
		tmp[n++] = (char)('a' + v % 26);
		v = v / 26 - 1;
	} while (v >= 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = 0;
}

static void test_vdev_canonical(void **state)
{
	char name[32], l[8];
	uint32_t d, p;
	(void)state;

	for (d = 0; d < 20000; d += (d < 800 ? 1 : 37)) {
		letters(d, l);
		for (p = 0; p <= 255; p++) {
			if (p)
				snprintf(name, sizeof(name), "xvd%s%u", l, p);
			else
				snprintf(name, sizeof(name), "xvd%s", l);
			check_canonical(name);
		}
	}
	for (d = 0; d <= 3; d++)
		for (p = 0; p <= 63; p++) {
			letters(d, l);
			snprintf(name, sizeof(name), p ? "hd%s%u" : "hd%s", l, p);
			check_canonical(name);
		}
	for (d = 0; d <= 15; d++)
		for (p = 0; p <= 15; p++) {
			letters(d, l);
			snprintf(name, sizeof(name), p ? "sd%s%u" : "sd%s", l, p);
			check_canonical(name);
		}
	/* d<N>p<M> names the same device as the xvd name. */
	for (d = 0; d < 40; d++)
		for (p = 0; p <= 255; p += 5) {
			uint32_t a, b;

			letters(d, l);
			snprintf(name, sizeof(name), "d%up%u", d, p);
			assert_int_equal(vbd_vdev_to_devid(name, &a), 0);
			snprintf(name, sizeof(name), p ? "xvd%s%u" : "xvd%s", l, p);
			assert_int_equal(vbd_vdev_to_devid(name, &b), 0);
			assert_int_equal(a, b);
		}
}

/* ---- disk specs ------------------------------------------------------- */

static vbd_disk_spec *parse_ok(const char *s)
{
	vbd_disk_spec *spec = NULL;
	vbd_errbuf err = { "" };
	int r = vbd_disk_spec_parse(1, &s, &spec, &err);

	if (r != 0)
		fail_msg("parse(\"%s\"): %d (%s)", s, r, err.msg);
	assert_non_null(spec);
	assert_string_equal(err.msg, "");
	return spec;
}

/* Fails with r, *ret untouched, and a message containing want. */
static void parse_fails(const char *s, int want_r, const char *want)
{
	vbd_disk_spec *spec = (vbd_disk_spec *)&spec;   /* a sentinel */
	vbd_errbuf err = { "" };
	int r = vbd_disk_spec_parse(1, &s, &spec, &err);

	if (r != want_r)
		fail_msg("parse(\"%s\"): got %d, want %d (%s)", s, r, want_r, err.msg);
	assert_ptr_equal(spec, (vbd_disk_spec *)&spec);
	if (!strstr(err.msg, want))
		fail_msg("parse(\"%s\"): message \"%s\" lacks \"%s\"", s, err.msg, want);
}

static void assert_str_or_null(const char *got, const char *want)
{
	if (!want)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
}

static void check_spec(const char *s, const char *target, const char *vdev, uint32_t devid,
                       const char *format, bool readonly, bool cdrom)
{
	vbd_disk_spec *spec = parse_ok(s);

	assert_str_or_null(spec->target, target);
	assert_str_or_null(spec->vdev, vdev);
	assert_int_equal(spec->devid, devid);
	assert_str_or_null(spec->format, format);
	assert_int_equal(spec->readonly, readonly);
	assert_int_equal(spec->cdrom, cdrom);
	vbd_disk_spec_free(spec);
}

/* xl-disk-configuration(5)'s examples. */
static void test_spec_positional(void **state)
{
	vbd_disk_spec *spec;
	(void)state;

	/* "these strings are equivalent" */
	check_spec("/dev/vg/guest-volume,,hda", "/dev/vg/guest-volume", "hda", 768, "raw", false, false);
	check_spec("/dev/vg/guest-volume,raw,hda,rw", "/dev/vg/guest-volume", "hda", 768, "raw",
	           false, false);
	check_spec("format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume",
	           "/dev/vg/guest-volume", "hda", 768, "raw", false, false);
	check_spec("raw:/dev/vg/guest-volume,hda,w", "/dev/vg/guest-volume", "hda", 768, "raw",
	           false, false);
	/* "As are these" */
	check_spec("/root/image.iso,,hdc,cdrom", "/root/image.iso", "hdc", 5632, "raw", true, true);
	check_spec("/root/image.iso,,hdc,devtype=cdrom", "/root/image.iso", "hdc", 5632, "raw",
	           true, true);
	check_spec("format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso",
	           "/root/image.iso", "hdc", 5632, "raw", true, true);
	check_spec("raw:/root/image.iso,hdc:cdrom,ro", "/root/image.iso", "hdc", 5632, "raw",
	           true, true);
	/* An empty cdrom drive. */
	check_spec(",,hdc:cdrom", NULL, "hdc", 5632, "empty", true, true);
	check_spec(",empty,hdc:cdrom", NULL, "hdc", 5632, "empty", true, true);
	check_spec("vdev=hdc,devtype=cdrom", NULL, "hdc", 5632, "empty", true, true);
	check_spec("vdev=xvdc,devtype=cdrom,target=", NULL, "xvdc", XVD(2, 0), "empty", true, true);

	/* Every position. */
	check_spec("/img,qcow2,xvdb,r", "/img", "xvdb", 51728, "qcow2", true, false);
	check_spec("/img,qcow,xvdb", "/img", "xvdb", 51728, "qcow", false, false);
	check_spec("/img,vhd,xvdb,w", "/img", "xvdb", 51728, "vhd", false, false);
	check_spec("/img,qed,xvdb,ro", "/img", "xvdb", 51728, "qed", true, false);
	check_spec("/img,,xvdb,", "/img", "xvdb", 51728, "raw", false, false);
	check_spec("/img,,xvdb:disk", "/img", "xvdb", 51728, "raw", false, false);
	check_spec("/img,raw,d16p3", "/img", "d16p3", EXT(16, 3), "raw", false, false);
	check_spec("/img,raw,51712", "/img", "51712", 51712, "raw", false, false);
	check_spec("/img,raw,sdb2", "/img", "sdb2", 2066, "raw", false, false);

	/* Defaults. */
	spec = parse_ok("/img,,xvda");
	assert_null(spec->script);
	assert_null(spec->backend_domain);
	assert_null(spec->backendtype);
	assert_int_equal(spec->discard, -1);
	assert_false(spec->direct_io_safe);
	assert_true(spec->trusted);
	vbd_disk_spec_free(spec);
}

static void test_spec_keywords(void **state)
{
	vbd_disk_spec *spec;
	(void)state;

	check_spec("format=qcow2,vdev=xvdc,access=r,target=/img", "/img", "xvdc", XVD(2, 0),
	           "qcow2", true, false);
	check_spec("vdev=xvdc,access=rw,target=/img", "/img", "xvdc", XVD(2, 0), "raw", false, false);
	check_spec("vdev=xvdc,access=ro,target=/img", "/img", "xvdc", XVD(2, 0), "raw", true, false);
	check_spec("vdev=xvdc,access=w,target=/img", "/img", "xvdc", XVD(2, 0), "raw", false, false);
	check_spec("vdev=xvdc,devtype=disk,target=/img", "/img", "xvdc", XVD(2, 0), "raw", false,
	           false);
	/* A cdrom is read-only whatever access says. */
	check_spec("vdev=xvdc,devtype=cdrom,access=rw,target=/i.iso", "/i.iso", "xvdc", XVD(2, 0),
	           "raw", true, true);

	spec = parse_ok("/img,,xvda,backend=driverdom,backendtype=phy,script=block-drbd");
	assert_string_equal(spec->backend_domain, "driverdom");
	assert_string_equal(spec->backendtype, "phy");
	assert_string_equal(spec->script, "block-drbd");
	vbd_disk_spec_free(spec);

	spec = parse_ok("/img,,xvda,backend=3,backendtype=qdisk");
	assert_string_equal(spec->backend_domain, "3");
	assert_string_equal(spec->backendtype, "qdisk");
	vbd_disk_spec_free(spec);

	spec = parse_ok("/img,,xvda,backendtype=standalone");
	assert_string_equal(spec->backendtype, "standalone");
	vbd_disk_spec_free(spec);

	spec = parse_ok("/img,,xvda,backendtype=tap");
	assert_string_equal(spec->backendtype, "tap");
	vbd_disk_spec_free(spec);

	/* An empty value is "not given", as xl's parser takes it. */
	spec = parse_ok("/img,,xvda,backend=,script=");
	assert_null(spec->backend_domain);
	assert_null(spec->script);
	vbd_disk_spec_free(spec);

	spec = parse_ok("/img,,xvda,discard");
	assert_int_equal(spec->discard, 1);
	vbd_disk_spec_free(spec);
	spec = parse_ok("/img,,xvda,no-discard");
	assert_int_equal(spec->discard, 0);
	vbd_disk_spec_free(spec);
	spec = parse_ok("/img,,xvda,no-discard,discard");
	assert_int_equal(spec->discard, 1);
	vbd_disk_spec_free(spec);

	spec = parse_ok("/img,,xvda,direct-io-safe");
	assert_true(spec->direct_io_safe);
	vbd_disk_spec_free(spec);

	spec = parse_ok("/img,,xvda,untrusted");
	assert_false(spec->trusted);
	vbd_disk_spec_free(spec);
	spec = parse_ok("/img,,xvda,trusted");
	assert_true(spec->trusted);
	vbd_disk_spec_free(spec);
	spec = parse_ok("untrusted,trusted,/img,,xvda");
	assert_true(spec->trusted);
	vbd_disk_spec_free(spec);
	spec = parse_ok("/img, untrusted,,xvda,r");
	assert_false(spec->trusted);
	assert_true(spec->readonly);
	assert_string_equal(spec->format, "raw");
	vbd_disk_spec_free(spec);
	/* After target= it is part of the target. */
	spec = parse_ok("vdev=xvda,untrusted,target=/a,trusted");
	assert_string_equal(spec->target, "/a,trusted");
	assert_false(spec->trusted);
	vbd_disk_spec_free(spec);
	/* Not a keyword with anything around it. */
	parse_fails("/img,,xvda,untrusted=1", -EINVAL, "unknown parameter");
	parse_fails("/img,,xvda,r,untrusted2", -EINVAL, "too many positional parameters");

	/* specification=xen is what a vbd is. */
	check_spec("/img,,xvda,specification=xen", "/img", "xvda", 51712, "raw", false, false);

	/* Everything at once, keywords first. */
	spec = parse_ok("format=vhd,vdev=xvdq,access=r,devtype=disk,backend=dd,backendtype=phy,"
	                "script=block-x,no-discard,direct-io-safe,untrusted,target=/a,b,c=d");
	assert_string_equal(spec->target, "/a,b,c=d");
	assert_string_equal(spec->vdev, "xvdq");
	assert_int_equal(spec->devid, 268439552);
	assert_string_equal(spec->format, "vhd");
	assert_true(spec->readonly);
	assert_false(spec->cdrom);
	assert_string_equal(spec->backend_domain, "dd");
	assert_string_equal(spec->backendtype, "phy");
	assert_string_equal(spec->script, "block-x");
	assert_int_equal(spec->discard, 0);
	assert_true(spec->direct_io_safe);
	assert_false(spec->trusted);
	vbd_disk_spec_free(spec);
}

/* target= takes the rest of the string, commas, '=' and ':' included. */
static void test_spec_target_last(void **state)
{
	(void)state;

	check_spec("vdev=xvda,target=/a,b", "/a,b", "xvda", 51712, "raw", false, false);
	check_spec("vdev=xvda,target=/x:y,format=qcow2,z", "/x:y,format=qcow2,z", "xvda", 51712,
	           "raw", false, false);
	check_spec("vdev=xvda,access=r,target=iqn.2001-05.com:disk,lun=1", "iqn.2001-05.com:disk,lun=1",
	           "xvda", 51712, "raw", true, false);
	/* A trailing comma is stripped, as xl does. */
	check_spec("vdev=xvda,target=/a,", "/a", "xvda", 51712, "raw", false, false);
}

/* The deprecated prefixes xl still reads. */
static void test_spec_deprecated(void **state)
{
	vbd_disk_spec *spec;
	(void)state;

	check_spec("phy:/dev/vg/x,xvdb,r", "/dev/vg/x", "xvdb", 51728, "raw", true, false);
	check_spec("file:/img,xvdb,w", "/img", "xvdb", 51728, "raw", false, false);
	check_spec("tap:/img,xvdb", "/img", "xvdb", 51728, "raw", false, false);
	check_spec("qcow2:/img,xvdb", "/img", "xvdb", 51728, "qcow2", false, false);
	check_spec("vhd:/img,xvdb", "/img", "xvdb", 51728, "vhd", false, false);
	spec = parse_ok("iscsi:iqn.x,xvdb");
	assert_string_equal(spec->target, "iqn.x");
	assert_string_equal(spec->script, "block-iscsi");
	vbd_disk_spec_free(spec);
	spec = parse_ok("drbd:res0,xvdb");
	assert_string_equal(spec->script, "block-drbd");
	vbd_disk_spec_free(spec);
}

/* One spec over several strings, as on xl's command line. */
static void test_spec_multi(void **state)
{
	const char *const parts[] = { "/img", "vdev=xvdc", "access=r", "discard" };
	vbd_disk_spec *spec = NULL;
	vbd_errbuf err = { "" };
	(void)state;

	assert_int_equal(vbd_disk_spec_parse(4, parts, &spec, &err), 0);
	assert_string_equal(spec->target, "/img");
	assert_string_equal(spec->vdev, "xvdc");
	assert_true(spec->readonly);
	assert_int_equal(spec->discard, 1);
	assert_true(spec->trusted);
	spec = vbd_disk_spec_free(spec);
	{
		const char *const more[] = { "untrusted", "/img", "vdev=xvdc", "trusted,untrusted" };

		assert_int_equal(vbd_disk_spec_parse(4, more, &spec, &err), 0);
		assert_false(spec->trusted);
		assert_string_equal(spec->target, "/img");
		spec = vbd_disk_spec_free(spec);
	}
	assert_null(spec);
	assert_null(vbd_disk_spec_free(NULL));
}

static void test_spec_errors(void **state)
{
	char big[9000];
	const char *p;
	vbd_disk_spec *spec = NULL;
	vbd_errbuf err = { "" };
	(void)state;

	/* From xl's parser, in its own words. */
	parse_fails("/img,fat,xvda", -EINVAL, "unknown value for format: near `fat'");
	parse_fails("/img,,xvda,rx", -EINVAL, "unknown value for access: near `rx'");
	parse_fails("/img,,xvda,devtype=floppy", -EINVAL, "unknown value for type");
	parse_fails("/img,,xvda,backendtype=nbd", -EINVAL, "unknown value for backendtype");
	parse_fails("/img,,xvda,specification=scsi", -EINVAL, "unknown value for specification");
	parse_fails("/img,,xvda,r,extra", -EINVAL, "too many positional parameters: near `extra'");
	parse_fails("/img,raw", -EINVAL, "no vdev specified in `/img,raw'");
	parse_fails("", -EINVAL, "no vdev specified");
	parse_fails("vdev=xvda", -EINVAL, "no target specified (and device not removable)");
	parse_fails("/img,,xvda,vdev=xvdb", -EINVAL, "vdev respecified: near `xvdb'");
	parse_fails("/img,,xvda,format=qcow2", -EINVAL, "format respecified");
	parse_fails("/img,,xvda,script=a,script=b", -EINVAL, "script respecified");
	parse_fails("/img,,xvda,foo=b", -EINVAL, "unknown parameter: near `foo=b'");
	parse_fails("=x", -EINVAL, "bad disk syntax: near `=x'");
	parse_fails("nosuch:/img,xvda", -EINVAL, "unknown deprecated disk prefix");
	parse_fails("/img,,xvda,colo-port=x", -EINVAL, "unknown value for colo_port");
	/* Two reports from one spec, on one line. */
	parse_fails("/img,,xvda,x_y=1", -EINVAL,
	            "unknown value for access: near `x_y' in `/img,,xvda,x_y=1'; "
	            "disk spec: config parsing error in disk specification: bad disk syntax");
	/* The whole report: the name we gave xl's parser, and the spec. */
	parse_fails("/img,fat,xvda", -EINVAL,
	            "disk spec: config parsing error in disk specification: "
	            "unknown value for format: near `fat' in `/img,fat,xvda'");

	/* Ours. */
	parse_fails("/img,,xvdA", -EINVAL, "vdev `xvdA' is not a virtual disk name");
	parse_fails("/img,,xvd", -EINVAL, "vdev `xvd' is not a virtual disk name");
	parse_fails("/img,,xvda0", -EINVAL, "vdev `xvda0'");
	parse_fails("/img,,hde", -EINVAL, "vdev `hde'");
	parse_fails("/img,,536870912", -EINVAL, "vdev `536870912'");
	parse_fails(",,xvda", -EINVAL, "vdev xvda: no target (and not a cdrom)");
	parse_fails("vdev=xvda,target=", -EINVAL, "no target");
	parse_fails("/img,empty,xvda", -EINVAL, "format empty is for cdroms only");
	parse_fails("/img,,xvda,specification=virtio", -ENOTSUP, "specification=virtio");
	parse_fails("/img,,xvda,colo", -ENOTSUP, "colo");
	/* xl's lexer would exit(2) on this one ("flex scanner jammed"). */
	parse_fails("=\nx", -EINVAL, "control character 0x0a");
	parse_fails("/img,,xvda\r", -EINVAL, "control character 0x0d");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	parse_fails(big, -E2BIG, "longer than");

	/* Arguments. */
	p = "/img,,xvda";
	assert_int_equal(vbd_disk_spec_parse(0, &p, &spec, &err), -EINVAL);
	assert_int_equal(vbd_disk_spec_parse(-1, &p, &spec, &err), -EINVAL);
	assert_int_equal(vbd_disk_spec_parse(1, NULL, &spec, &err), -EINVAL);
	assert_int_equal(vbd_disk_spec_parse(1, &p, NULL, &err), -EINVAL);
	assert_null(spec);
	{
		const char *const two[] = { "/img", NULL };

		err.msg[0] = 0;
		assert_int_equal(vbd_disk_spec_parse(2, two, &spec, &err), -EINVAL);
		assert_string_equal(err.msg, "disk spec: string 1 is NULL");
	}
	/* No errbuf is fine. */
	assert_int_equal(vbd_disk_spec_parse(1, &p, &spec, NULL), 0);
	vbd_disk_spec_free(spec);
	p = "/img,fat,xvda";
	spec = NULL;
	assert_int_equal(vbd_disk_spec_parse(1, &p, &spec, NULL), -EINVAL);
	assert_null(spec);
}

/* ---- target resolution ------------------------------------------------ */

static void test_target_passthrough(void **state)
{
	const char *same[] = { "/dev/vg/guest", "/img,with,commas", "relative", "foo=bar",
	                       "label=x", "uuid=x", "TYPE=ext4", "" };
	vbd_errbuf err = { "" };
	char *path = NULL;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(vbd_disk_target_resolve(same[i], &path, &err), 0);
		assert_string_equal(path, same[i]);
		free(path);
		path = NULL;
	}
	assert_string_equal(err.msg, "");

	assert_int_equal(vbd_disk_target_resolve("LABEL=", &path, &err), -EINVAL);
	assert_string_equal(err.msg, "target LABEL=: empty value");
	err.msg[0] = 0;
	assert_int_equal(vbd_disk_target_resolve("UUID=00000000-dead-beef-0000-000000000000", &path,
	                                         &err), -ENOENT);
	assert_string_equal(err.msg, "target UUID=00000000-dead-beef-0000-000000000000: "
	                             "no block device carries this UUID");
	err.msg[0] = 0;
	assert_int_equal(vbd_disk_target_resolve("LABEL=vbd-no-such-label", &path, &err), -ENOENT);
	assert_int_equal(vbd_disk_target_resolve("PARTUUID=00000000-dead-beef-0000-000000000000",
	                                         &path, &err), -ENOENT);
	assert_int_equal(vbd_disk_target_resolve("PARTLABEL=vbd-no-such", &path, &err), -ENOENT);
	assert_null(path);
	assert_int_equal(vbd_disk_target_resolve(NULL, &path, NULL), -EINVAL);
	assert_int_equal(vbd_disk_target_resolve("/x", NULL, NULL), -EINVAL);
}

/* A real ext4 filesystem on a loop device. */
struct loopfs {
	char image[64];
	char loopdev[64];
	char label[17];        /* ext4 labels hold 16 bytes */
	char uuid[37];
	bool skip;
};

static int loopfs_setup(void **state)
{
	struct loopfs *fs = calloc(1, sizeof(*fs));
	char cmd[512];
	FILE *p;
	int fd;

	if (!fs)
		return -1;
	*state = fs;
	if (system("command -v mkfs.ext4 >/dev/null 2>&1") != 0) {
		fs->skip = true;
		return 0;
	}
	snprintf(fs->image, sizeof(fs->image), "/tmp/vbd-test-disk.XXXXXX");
	fd = mkstemp(fs->image);
	if (fd < 0)
		return -1;
	close(fd);
	/* Names of our own, so that no other filesystem can answer. */
	snprintf(fs->label, sizeof(fs->label), "vbdt%d", (int)getpid());
	snprintf(fs->uuid, sizeof(fs->uuid), "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)getpid(),
	         (unsigned)rand() & 0xffff, (unsigned)rand() & 0xfff, (unsigned)rand() & 0xfff,
	         (unsigned long long)time(NULL));
	snprintf(cmd, sizeof(cmd), "truncate -s 8M %s && mkfs.ext4 -q -F -L %s -U %s %s",
	         fs->image, fs->label, fs->uuid, fs->image);
	if (system(cmd) != 0) {
		fprintf(stderr, "loopfs: %s failed\n", cmd);
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "losetup -f --show %s", fs->image);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(fs->loopdev, sizeof(fs->loopdev), p))
		fs->loopdev[0] = 0;
	if (pclose(p) != 0 || !fs->loopdev[0]) {
		fprintf(stderr, "loopfs: %s failed\n", cmd);
		fs->loopdev[0] = 0;
		return -1;
	}
	fs->loopdev[strcspn(fs->loopdev, "\n")] = 0;
	return 0;
}

static int loopfs_teardown(void **state)
{
	struct loopfs *fs = *state;
	char cmd[128];
	int r = 0;

	if (!fs)
		return 0;
	if (fs->loopdev[0]) {
		snprintf(cmd, sizeof(cmd), "losetup -d %s", fs->loopdev);
		if (system(cmd) != 0)
			r = -1;
	}
	if (fs->image[0])
		unlink(fs->image);
	free(fs);
	return r;
}

static void assert_same_device(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		fail_msg("stat %s or %s: %s", a, b, strerror(errno));
	if (sa.st_rdev != sb.st_rdev)
		fail_msg("%s and %s are different devices", a, b);
}

static void test_target_blkid(void **state)
{
	struct loopfs *fs = *state;
	vbd_errbuf err = { "" };
	char tag[128], *path = NULL;

	if (fs->skip)
		skip();

	snprintf(tag, sizeof(tag), "LABEL=%s", fs->label);
	if (vbd_disk_target_resolve(tag, &path, &err) != 0)
		fail_msg("%s: %s", tag, err.msg);
	assert_same_device(path, fs->loopdev);
	free(path);
	path = NULL;

	snprintf(tag, sizeof(tag), "UUID=%s", fs->uuid);
	if (vbd_disk_target_resolve(tag, &path, &err) != 0)
		fail_msg("%s: %s", tag, err.msg);
	assert_same_device(path, fs->loopdev);
	free(path);
	path = NULL;

	/* Tags are case-sensitive values: another label is another disk. */
	snprintf(tag, sizeof(tag), "LABEL=%sx", fs->label);
	assert_int_equal(vbd_disk_target_resolve(tag, &path, &err), -ENOENT);
	assert_null(path);
}

/* What a target holds: the image file and its loop device say the same. */
static void test_target_probe(void **state)
{
	struct loopfs *fs = *state;
	vbd_errbuf err = { "" };
	vbd_target_info ti = { .size = sizeof(ti) };
	char empty[] = "/tmp/vbd-test-empty.XXXXXX";
	int fd;

	if (fs->skip)
		skip();
	if (vbd_disk_target_probe(fs->image, &ti, &err) != 0)
		fail_msg("%s: %s", fs->image, err.msg);
	assert_false(ti.block);
	assert_int_equal(ti.bytes, 8 << 20);
	assert_string_equal(ti.type, "ext4");
	assert_string_equal(ti.label, fs->label);
	assert_string_equal(ti.uuid, fs->uuid);
	if (vbd_disk_target_probe(fs->loopdev, &ti, &err) != 0)
		fail_msg("%s: %s", fs->loopdev, err.msg);
	assert_true(ti.block);
	assert_int_equal(ti.bytes, 8 << 20);
	assert_string_equal(ti.type, "ext4");
	assert_string_equal(ti.label, fs->label);

	/* Zeros hold nothing: success, no type. */
	fd = mkstemp(empty);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	assert_int_equal(vbd_disk_target_probe(empty, &ti, &err), 0);
	assert_int_equal(ti.bytes, 1 << 20);
	assert_string_equal(ti.type, "");
	unlink(empty);

	assert_int_equal(vbd_disk_target_probe("/dev/null", &ti, &err), -ENODEV);
	assert_non_null(strstr(err.msg, "/dev/null"));
	assert_int_equal(vbd_disk_target_probe("/nonexistent/disk.img", &ti, &err), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vdev_to_devid),
		cmocka_unit_test(test_devid_to_vdev),
		cmocka_unit_test(test_devid_roundtrip),
		cmocka_unit_test(test_vdev_canonical),
		cmocka_unit_test(test_spec_positional),
		cmocka_unit_test(test_spec_keywords),
		cmocka_unit_test(test_spec_target_last),
		cmocka_unit_test(test_spec_deprecated),
		cmocka_unit_test(test_spec_multi),
		cmocka_unit_test(test_spec_errors),
		cmocka_unit_test(test_target_passthrough),
		cmocka_unit_test_setup_teardown(test_target_blkid, loopfs_setup, loopfs_teardown),
		cmocka_unit_test_setup_teardown(test_target_probe, loopfs_setup, loopfs_teardown),
	};

	srand((unsigned)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
