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

/* The characters a path may hold: a-z A-Z 0-9 - / _ @ (a table: one load
 * a character instead of up to ten comparisons). */
static const bool legal[256] = {
	['-'] = true, ['/'] = true, ['_'] = true, ['@'] = true,
	['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true, ['4'] = true,
	['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true,
	['a'] = true, ['b'] = true, ['c'] = true, ['d'] = true, ['e'] = true,
	['f'] = true, ['g'] = true, ['h'] = true, ['i'] = true, ['j'] = true,
	['k'] = true, ['l'] = true, ['m'] = true, ['n'] = true, ['o'] = true,
	['p'] = true, ['q'] = true, ['r'] = true, ['s'] = true, ['t'] = true,
	['u'] = true, ['v'] = true, ['w'] = true, ['x'] = true, ['y'] = true,
	['z'] = true,
	['A'] = true, ['B'] = true, ['C'] = true, ['D'] = true, ['E'] = true,
	['F'] = true, ['G'] = true, ['H'] = true, ['I'] = true, ['J'] = true,
	['K'] = true, ['L'] = true, ['M'] = true, ['N'] = true, ['O'] = true,
	['P'] = true, ['Q'] = true, ['R'] = true, ['S'] = true, ['T'] = true,
	['U'] = true, ['V'] = true, ['W'] = true, ['X'] = true, ['Y'] = true,
	['Z'] = true,
};

/* Whether in[0..len) holds only legal characters and no "//".  A function
 * of its own so that fuzz builds can leave this loop over every byte of
 * every path out of their coverage tracing (fuzz/coverage-ignore.txt):
 * path_canon()'s own branches still tell what the check decided. */
__attribute__((noinline)) bool vbd__path_chars_ok(const char *in, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!legal[(unsigned char)in[i]])
			return false;
		if (in[i] == '/' && i + 1 < len && in[i + 1] == '/')
			return false;
	}
	return true;
}

bool vbd__path_is_special(const char *p)
{
	return strcmp(p, XS_SPECIAL_INTRO) == 0 || strcmp(p, XS_SPECIAL_REL) == 0;
}

int vbd__path_canon(unsigned domid, const char *in, bool allow_special, char *out)
{
	size_t len = strlen(in), pre = 0;

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
	if (!vbd__path_chars_ok(in, len))
		return -EINVAL;
	if (len > 1 && in[len - 1] == '/')
		return -EINVAL;
	memcpy(out + pre, in, len + 1);
	return 0;
}

/* The last '/' of path[0..len), by memrchr(): these run for every
 * ancestor of every path a request names, and a loop over the bytes was
 * a visible share of a request's cost under the sanitizers. */
static size_t after_last_slash(const char *path, size_t len)
{
	const char *p = len ? memrchr(path, '/', len) : NULL;

	return p ? (size_t)(p - path) + 1 : 0;
}

size_t vbd__path_parent_len(const char *path, size_t len)
{
	len = after_last_slash(path, len);
	/* "/a" -> "/" (length 1); "/a/b" -> "/a" */
	return len > 1 ? len - 1 : 1;
}

const char *vbd__path_basename(const char *path, size_t len)
{
	return path + after_last_slash(path, len);
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
