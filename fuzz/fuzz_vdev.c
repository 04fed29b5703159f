/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for vdev names and device ids (vbd_vdev_to_devid,
 * vbd_devid_to_vdev).
 *
 * The input, up to its first NUL, is a vdev name.  If it is accepted:
 * its id is below the reserved range; the id's canonical name parses back
 * to the same id and prints as itself again; a name in the xvd, hd or sd
 * scheme is its own canonical name (the parser takes no spelling other
 * than the one the printer writes); a bare number is its own id.  The
 * first four bytes, little endian, are also taken as an id: it has a name
 * exactly when it is below 2<<28, and that name means it; a buffer one
 * byte short gets -ENAMETOOLONG and is left alone.  Every violation is an
 * abort().
 *
 *     "xvdq3"   accepted, 268439555, prints "xvdq3"
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbd/disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RESERVED_FROM (2u << 28)

static void die(const char *what, const char *name, uint32_t id)
{
	fprintf(stderr, "fuzz_vdev: %s (name \"%.80s\", id %u)\n", what, name, id);
	abort();
}

/* The id has a name, which means it; returns the name in buf. */
static void check_id(uint32_t id, char *buf, size_t size)
{
	char again[32];
	uint32_t back;
	size_t len;
	int r;

	r = vbd_devid_to_vdev(id, buf, size);
	if (id >= RESERVED_FROM) {
		if (r != -EINVAL)
			die("reserved id printed", "", id);
		buf[0] = 0;
		return;
	}
	if (r != 0)
		die("id has no name", "", id);
	len = strlen(buf);
	if (len == 0 || len >= 16)
		die("odd name length", buf, id);
	if (vbd_vdev_to_devid(buf, &back) != 0 || back != id)
		die("name does not mean its id", buf, id);

	/* Exact size fits; one byte less does not, and writes nothing. */
	if (vbd_devid_to_vdev(id, again, len + 1) != 0 || strcmp(again, buf) != 0)
		die("exact-size buffer refused", buf, id);
	memset(again, 'X', sizeof(again));
	if (vbd_devid_to_vdev(id, again, len) != -ENAMETOOLONG)
		die("short buffer accepted", buf, id);
	for (size_t i = 0; i < sizeof(again); i++)
		if (again[i] != 'X')
			die("short buffer written", buf, id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[32], canon[32];
	char *s = malloc(size + 1);
	uint32_t id = 0xdeadbeef, raw = 0;
	int r;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;

	r = vbd_vdev_to_devid(s, &id);
	if (r == 0) {
		if (id >= RESERVED_FROM)
			die("reserved id accepted", s, id);
		check_id(id, canon, sizeof(canon));
		if ((strncmp(s, "xvd", 3) == 0 || strncmp(s, "hd", 2) == 0 ||
		     strncmp(s, "sd", 2) == 0) && strcmp(s, canon) != 0)
			die("scheme name is not canonical", s, id);
		if (s[0] >= '0' && s[0] <= '9' && strtoul(s, NULL, 10) != id)
			die("number is not its own id", s, id);
		if (s[0] == 'd') {
			unsigned d, p;
			int n = -1;

			if (sscanf(s, "d%up%u%n", &d, &p, &n) != 2 || n != (int)strlen(s))
				die("odd d<N>p<M> accepted", s, id);
			if (id != ((d <= 15 && p <= 15) ? (202u << 8 | d << 4 | p)
			                                : (1u << 28 | d << 8 | p)))
				die("d<N>p<M> mis-encoded", s, id);
		}
	} else {
		if (r != -EINVAL)
			die("unexpected error", s, (uint32_t)r);
		if (id != 0xdeadbeef)
			die("failure wrote the id", s, id);
	}

	if (size >= 4) {
		raw = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
		      (uint32_t)data[3] << 24;
		/* Half the time in range, so that ids with names get explored. */
		if (size >= 5 && (data[4] & 1))
			raw &= RESERVED_FROM - 1;
		check_id(raw, name, sizeof(name));
	}
	free(s);
	return 0;
}
