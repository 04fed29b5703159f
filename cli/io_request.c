/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "io_request.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = { "read", "write", "discard", "flush", "info" };

const char *vbdctl_io_op_name(vbdctl_io_op op)
{
	return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : NULL;
}

/* A decimal number at *p up to the next space or the end: no sign, no
 * leading zero, at most max. */
static int number(const char **p, uint64_t max, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9' || (*s == '0' && s[1] >= '0' && s[1] <= '9'))
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (max - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*p = s;
	*ret = v;
	return 0;
}

int vbdctl_io_parse(const char *line, vbdctl_io_req *ret)
{
	vbdctl_io_req r = { 0 };
	const char *p = line;
	uint64_t devid;
	size_t i, n;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = strlen(names[i]);
		if (!strncmp(p, names[i], n) && p[n] == ' ')
			break;
	}
	if (i == sizeof(names) / sizeof(names[0]))
		return -EINVAL;
	r.op = (vbdctl_io_op)i;
	p += n + 1;
	if (number(&p, UINT32_MAX, &devid) < 0 || *p++ != ' ' ||
	    number(&p, UINT64_MAX, &r.offset) < 0 || *p++ != ' ' ||
	    number(&p, VBDCTL_IO_MAX_LEN, &r.len) < 0 || *p)
		return -EINVAL;
	if (r.offset > UINT64_MAX - r.len)
		return -EINVAL;
	if ((r.op == VBDCTL_IO_FLUSH || r.op == VBDCTL_IO_INFO) && (r.offset || r.len))
		return -EINVAL;
	r.devid = (uint32_t)devid;
	*ret = r;
	return 0;
}

int vbdctl_io_format(char *buf, size_t size, const vbdctl_io_req *r)
{
	const char *name = vbdctl_io_op_name(r->op);
	int n;

	if (!name)
		return -EINVAL;
	n = snprintf(buf, size, "%s %" PRIu32 " %" PRIu64 " %" PRIu64, name, r->devid, r->offset,
	             r->len);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : n;
}
