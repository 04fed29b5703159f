/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Options structs that survive releases (the rules are in vbd/common.h).
 *
 *     vbd_ctx_options o;
 *     if ((r = VBD__OPTS_LOAD(&o, opts, VBD_CTX_OPTIONS_VERSION, sizeof(o))) < 0)
 *             return r;
 *
 * copies what the caller's version has of *opts into o and zeroes the rest
 * (zero being "default"), so that the code after it reads o alone and never
 * a byte past the caller's struct.  The sizes are those of version 1, 2,
 * ...: a struct that grows appends its new size, e.g. the store's
 *     offsetof(vbd_store_options, limits.memory_per_domain_soft), sizeof(o)
 * opts NULL gives the defaults.  A version 0 or newer than the library's is
 * -EINVAL: the caller was built against headers this library does not know.
 */
#ifndef VBD_UTIL_OPTS_H
#define VBD_UTIL_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "vbd/common.h"

int vbd__opts_load(void *dst, size_t dst_size, const void *src, unsigned current,
                   const size_t *size_by_version);

#define VBD__OPTS_LOAD(dst, src, current, ...) \
	vbd__opts_load((dst), sizeof(*(dst)), (src), (current), (const size_t[]){ __VA_ARGS__ })

/* An unsigned option: 0 is def, VBD_OPT_ZERO is 0, anything else itself. */
static inline unsigned vbd__opt_uint(unsigned v, unsigned def)
{
	return v == 0 ? def : v == VBD_OPT_ZERO ? 0 : v;
}

/* A struct the library fills (vbd/common.h): *ret gets the first
 * min(ret->size, sizeof(*src)) bytes of src, its size field kept.  -EINVAL
 * for a size smaller than the size field itself. */
int vbd__out_fill(void *ret, const void *src, size_t src_size);

#endif
