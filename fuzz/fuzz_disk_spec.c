/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for disk specs (vbd_disk_spec_parse, through xl's own parser).
 *
 * The input is one spec split into strings at NUL bytes (at most 8), as
 * xl's command line splits it into arguments:
 *
 *     "/img,qcow2\0vdev=xvdb,untrusted"   -> 2 strings, one disk
 *
 * A parse must not crash, leak or leave *ret set on failure, and must say
 * why it failed.  A parsed spec must hang together: devid is what its vdev
 * means, a target is missing only from a cdrom, a cdrom is read-only,
 * discard is -1, 0 or 1.  Then it is written back out in keyword form and
 * parsed again, which must give the same spec: so nothing the first parse
 * accepted is lost or changed on the way through.  Every violation is an
 * abort().
 *
 * xl's parser is not instrumented, so coverage cannot steer the fuzzer
 * through its lexer.  An input that starts with 0x01 is therefore a list of
 * fragments instead: each further byte picks one from frags[] ("format=",
 * "xvdq", ",", "untrusted", a NUL to start another string ...), so that
 * random bytes make specs xl's lexer has to take apart.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbd/disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STRINGS 8

static void die(const char *what, const vbd_disk_spec *spec, const char *text)
{
	fprintf(stderr, "fuzz_disk_spec: %s\n", what);
	if (spec)
		fprintf(stderr, "  target \"%s\" vdev \"%s\" devid %u format %s ro %d cdrom %d\n"
		        "  script %s backend %s backendtype %s discard %d dio %d trusted %d\n",
		        spec->target ? spec->target : "(null)", spec->vdev ? spec->vdev : "(null)",
		        spec->devid, spec->format ? spec->format : "(null)", spec->readonly,
		        spec->cdrom, spec->script ? spec->script : "(null)",
		        spec->backend_domain ? spec->backend_domain : "(null)",
		        spec->backendtype ? spec->backendtype : "(null)", spec->discard,
		        spec->direct_io_safe, spec->trusted);
	if (text)
		fprintf(stderr, "  %s\n", text);
	abort();
}

static const char *const frags[] = {
	",", ",", ",", "=", ":", " ", "\0",
	"format=", "vdev=", "access=", "devtype=", "backend=", "backendtype=",
	"specification=", "script=", "target=", "colo-host=", "colo-port=",
	"discard", "no-discard", "direct-io-safe", "trusted", "untrusted", "colo",
	"no-colo", "cdrom", "disk", ":cdrom", ":disk",
	"raw", "qcow", "qcow2", "vhd", "qed", "empty", "fat",
	"phy", "tap", "qdisk", "standalone", "xen", "virtio",
	"r", "ro", "rw", "w",
	"raw:", "qcow2:", "phy:", "file:", "tap2:", "iscsi:", "drbd:", "nope:",
	"xvda", "xvdq", "xvdzz255", "hdc", "hda63", "sdp15", "d16p0", "51712", "xvdA", "hde",
	"/dev/vg/guest", "/img,a", "a=b", "LABEL=x", "dom1", "3", "block-x",
};

#define NFRAGS (sizeof(frags) / sizeof(frags[0]))

/* The spec a fragment list describes, with NULs between strings; its
 * length goes to *ret_size. */
static char *from_fragments(const uint8_t *data, size_t size, size_t *ret_size)
{
	size_t i, len = 0, cap = 1;
	char *out;

	for (i = 0; i < size; i++)
		cap += strlen(frags[data[i] % NFRAGS]) + 1;
	out = malloc(cap);
	if (!out)
		return NULL;
	for (i = 0; i < size; i++) {
		const char *f = frags[data[i] % NFRAGS];
		size_t n = f[0] ? strlen(f) : 1;   /* "\0": one NUL */

		memcpy(out + len, f, n);
		len += n;
	}
	out[len] = 0;
	*ret_size = len;
	return out;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_consistent(const vbd_disk_spec *spec)
{
	uint32_t id;

	if (!spec->vdev || vbd_vdev_to_devid(spec->vdev, &id) != 0 || id != spec->devid)
		die("devid is not what vdev means", spec, NULL);
	if (!spec->target && !spec->cdrom)
		die("no target, not a cdrom", spec, NULL);
	if (spec->target && !spec->target[0])
		die("empty target string", spec, NULL);
	if (spec->cdrom && !spec->readonly)
		die("writable cdrom", spec, NULL);
	if (spec->discard < -1 || spec->discard > 1)
		die("discard out of range", spec, NULL);
	if (!spec->format)
		die("no format", spec, NULL);
	if ((spec->script && !spec->script[0]) ||
	    (spec->backend_domain && !spec->backend_domain[0]) ||
	    (spec->backendtype && !spec->backendtype[0]))
		die("empty optional string", spec, NULL);
}

static int append(char *buf, size_t size, size_t *len, const char *a, const char *b)
{
	int n = snprintf(buf + *len, size - *len, "%s%s,", a, b);

	if (n < 0 || (size_t)n >= size - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

/* The spec in keyword form, target last (with one more comma, which the
 * parser strips, so that a target ending in a comma keeps it). */
static char *unparse(const vbd_disk_spec *spec)
{
	size_t size = 256 + (spec->target ? strlen(spec->target) : 0) +
	              (spec->script ? strlen(spec->script) : 0) +
	              (spec->backend_domain ? strlen(spec->backend_domain) : 0);
	char *buf = malloc(size);
	size_t len = 0;
	int r = 0;

	if (!buf)
		return NULL;
	buf[0] = 0;
	r |= append(buf, size, &len, spec->trusted ? "trusted" : "untrusted", "");
	r |= append(buf, size, &len, "format=", spec->format);
	r |= append(buf, size, &len, "vdev=", spec->vdev);
	r |= append(buf, size, &len, "access=", spec->readonly ? "r" : "rw");
	if (spec->cdrom)
		r |= append(buf, size, &len, "devtype=cdrom", "");
	if (spec->backend_domain)
		r |= append(buf, size, &len, "backend=", spec->backend_domain);
	if (spec->backendtype)
		r |= append(buf, size, &len, "backendtype=", spec->backendtype);
	if (spec->script)
		r |= append(buf, size, &len, "script=", spec->script);
	if (spec->discard >= 0)
		r |= append(buf, size, &len, spec->discard ? "discard" : "no-discard", "");
	if (spec->direct_io_safe)
		r |= append(buf, size, &len, "direct-io-safe", "");
	if (spec->target)
		r |= append(buf, size, &len, "target=", spec->target);
	if (r) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void check_reparse(const vbd_disk_spec *spec)
{
	vbd_disk_spec *again = NULL;
	vbd_errbuf err = { "" };
	char *text = unparse(spec);
	const char *one;
	int r;

	if (!text)
		return;
	one = text;
	r = vbd_disk_spec_parse(1, &one, &again, &err);
	if (r == -E2BIG) {     /* the keyword form can be longer than the input */
		free(text);
		return;
	}
	if (r != 0)
		die("keyword form does not parse", spec, err.msg);
	if (!str_eq(spec->target, again->target) || !str_eq(spec->vdev, again->vdev) ||
	    spec->devid != again->devid || spec->readonly != again->readonly ||
	    spec->cdrom != again->cdrom || !str_eq(spec->format, again->format) ||
	    !str_eq(spec->script, again->script) ||
	    !str_eq(spec->backend_domain, again->backend_domain) ||
	    !str_eq(spec->backendtype, again->backendtype) || spec->discard != again->discard ||
	    spec->direct_io_safe != again->direct_io_safe || spec->trusted != again->trusted) {
		fprintf(stderr, "second parse:\n");
		die("keyword form parses differently", again, text);
	}
	vbd_disk_spec_free(again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *specs[MAX_STRINGS];
	vbd_disk_spec *spec = (vbd_disk_spec *)&specs;   /* a sentinel */
	vbd_errbuf err = { "" };
	char *copy;
	size_t off = 0;
	int n = 0, r;

	if (size > 0 && data[0] == 0x01) {
		copy = from_fragments(data + 1, size - 1, &size);
	} else {
		copy = malloc(size + 1);
		if (copy) {
			memcpy(copy, data, size);
			copy[size] = 0;
		}
	}
	if (!copy)
		return 0;
	/* Strings at NUL bytes; the last one runs to the end. */
	while (n < MAX_STRINGS) {
		specs[n++] = copy + off;
		off += strlen(copy + off);
		if (off >= size)
			break;
		off++;
	}

	r = vbd_disk_spec_parse(n, specs, &spec, &err);
	if (r < 0) {
		if (spec != (vbd_disk_spec *)&specs)
			die("failed parse set *ret", NULL, NULL);
		if (!err.msg[0])
			die("failed parse said nothing", NULL, NULL);
		if (r != -EINVAL && r != -ENOTSUP && r != -E2BIG && r != -ENOMEM)
			die("unexpected error", NULL, err.msg);
	} else {
		if (r != 0 || !spec || spec == (vbd_disk_spec *)&specs)
			die("odd success", NULL, NULL);
		if (err.msg[0])
			die("success with a message", spec, err.msg);
		check_consistent(spec);
		check_reparse(spec);
		vbd_disk_spec_free(spec);
	}
	free(copy);
	return 0;
}
