/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Path syntax and canonicalisation.
 *
 *   "device/vbd/51712" from domain 5 -> "/local/domain/5/device/vbd/51712"
 *   "/local/domain//5", "/a/", "a/../b", ""                  -> EINVAL
 *
 * A path is checked as text only: there is no "." or ".." component because
 * '.' is not a legal character, so no spelling can reach a node other than
 * the one it names (XSA-481).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xs_internal.h"

static bool legal_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '/' || c == '_' || c == '@';
}

bool vbd__path_is_special(const char *p)
{
	return strcmp(p, XS_SPECIAL_INTRO) == 0 || strcmp(p, XS_SPECIAL_REL) == 0;
}

int vbd__path_canon(unsigned domid, const char *in, bool allow_special, char *out)
{
	size_t len = strlen(in), i, pre = 0;

	if (len == 0)
		return -EINVAL;
	if (in[0] == '@') {
		if (!allow_special || !vbd__path_is_special(in))
			return -EINVAL;
		memcpy(out, in, len + 1);
		return 0;
	}
	if (in[0] == '/') {
		if (len > XENSTORE_ABS_PATH_MAX)
			return -EINVAL;
	} else {
		if (len > XENSTORE_REL_PATH_MAX)
			return -EINVAL;
		pre = (size_t)snprintf(out, XS_CANON_MAX, "/local/domain/%u/", domid);
	}
	for (i = 0; i < len; i++) {
		if (!legal_char(in[i]))
			return -EINVAL;
		if (in[i] == '/' && i + 1 < len && in[i + 1] == '/')
			return -EINVAL;
	}
	if (len > 1 && in[len - 1] == '/')
		return -EINVAL;
	memcpy(out + pre, in, len + 1);
	return 0;
}

size_t vbd__path_parent_len(const char *path, size_t len)
{
	while (len > 0 && path[len - 1] != '/')
		len--;
	/* "/a" -> "/" (length 1); "/a/b" -> "/a" */
	return len > 1 ? len - 1 : 1;
}

const char *vbd__path_basename(const char *path, size_t len)
{
	while (len > 0 && path[len - 1] != '/')
		len--;
	return path + len;
}

int vbd__parse_uint(const char *s, unsigned max, unsigned *ret)
{
	unsigned long v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}
