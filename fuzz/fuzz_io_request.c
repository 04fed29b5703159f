/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for the request line of vbdctl frontend's I/O socket
 * (cli/io_request.c), which any local process may write to.
 *
 * The input, up to its first NUL, is a line.  If it is accepted: the op is
 * known, the numbers are in bounds (devid fits 32 bits, len at most
 * VBDCTL_IO_MAX_LEN, offset + len does not wrap, flush and info carry
 * zeros), and formatting the result gives back exactly the input (the
 * parser takes no spelling the formatter does not write).  Any line the
 * formatter writes is accepted.  Every violation is an abort().
 *
 *     "read 51728 1048576 4096"   accepted
 *     "read 51728 01 4096"        refused (leading zero)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *line)
{
	fprintf(stderr, "fuzz_io_request: %s (line \"%.120s\")\n", what, line);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[256], back[VBDCTL_IO_LINE_MAX];
	vbdctl_io_req q, q2;
	size_t n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
	int len;

	memcpy(line, data, n);
	line[n] = 0;
	if (vbdctl_io_parse(line, &q) < 0)
		return 0;
	if (!vbdctl_io_op_name(q.op))
		die("accepted an unknown op", line);
	if (q.len > VBDCTL_IO_MAX_LEN || q.offset > UINT64_MAX - q.len)
		die("accepted numbers out of bounds", line);
	if ((q.op == VBDCTL_IO_FLUSH || q.op == VBDCTL_IO_INFO) && (q.offset || q.len))
		die("flush or info with a range", line);
	len = vbdctl_io_format(back, sizeof(back), &q);
	if (len < 0)
		die("an accepted request does not format", line);
	if (strcmp(back, line))
		die("accepted a spelling the formatter does not write", line);
	if (vbdctl_io_parse(back, &q2) < 0 || memcmp(&q, &q2, sizeof(q)))
		die("the formatted line does not parse to the same request", line);
	return 0;
}
