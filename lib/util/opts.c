/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "util/opts.h"

int vbd__opts_load(void *dst, size_t dst_size, const void *src, unsigned current,
                   const size_t *size_by_version)
{
	unsigned version;
	size_t n;

	memset(dst, 0, dst_size);
	if (src) {
		memcpy(&version, src, sizeof(version));
		if (version < 1 || version > current)
			return -EINVAL;
		n = size_by_version[version - 1];
		memcpy(dst, src, n < dst_size ? n : dst_size);
	}
	/* What follows reads the struct as this library's version. */
	memcpy(dst, &current, sizeof(current));
	return 0;
}

int vbd__out_fill(void *ret, const void *src, size_t src_size)
{
	size_t size;

	memcpy(&size, ret, sizeof(size));
	if (size < sizeof(size))
		return -EINVAL;
	if (size > src_size)
		size = src_size;
	memcpy((char *)ret + sizeof(size), (const char *)src + sizeof(size), size - sizeof(size));
	return 0;
}
