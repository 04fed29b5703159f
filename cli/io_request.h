/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The request line of vbdctl frontend's I/O socket (vbdctl io):
 *
 *     "read 51728 1048576 4096"       op devid offset len, decimal
 *
 * followed, for write, by len bytes.  The frontend parses what any local
 * process sent, so the parser takes exactly what the formatter writes.
 */
#ifndef VBDCTL_IO_REQUEST_H
#define VBDCTL_IO_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#define VBDCTL_IO_MAX_LEN (1ull << 30)     /* bytes per request */
#define VBDCTL_IO_LINE_MAX 96              /* the longest line, with its NUL */

typedef enum vbdctl_io_op {
	VBDCTL_IO_READ,
	VBDCTL_IO_WRITE,
	VBDCTL_IO_DISCARD,
	VBDCTL_IO_FLUSH,
	VBDCTL_IO_INFO,
} vbdctl_io_op;

typedef struct vbdctl_io_req {
	vbdctl_io_op op;
	uint32_t devid;
	uint64_t offset, len;   /* 0 for flush and info */
} vbdctl_io_req;

/* "read", ... ; NULL for an unknown op. */
const char *vbdctl_io_op_name(vbdctl_io_op op);
/* 0, or -EINVAL for anything but op, then three decimal numbers without
 * sign or leading zero, single spaces, len <= VBDCTL_IO_MAX_LEN, offset +
 * len without overflow, offset and len 0 for flush and info. */
int vbdctl_io_parse(const char *line, vbdctl_io_req *ret);
/* The line for r (without newline) into buf: its length, or -ENAMETOOLONG. */
int vbdctl_io_format(char *buf, size_t size, const vbdctl_io_req *r);

#endif
