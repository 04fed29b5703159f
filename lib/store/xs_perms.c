/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Permission lists: "n0\0r5\0w7\0" - the first entry names the owner and the
 * access of everyone not listed; later entries override it per domain.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xs_internal.h"

static int letter_to_perm(char c)
{
	switch (c) {
	case 'n': return XS_PERM_NONE;
	case 'r': return XS_PERM_READ;
	case 'w': return XS_PERM_WRITE;
	case 'b': return XS_PERM_BOTH;
	default: return -EINVAL;
	}
}

int vbd__perms_parse(const char *strs, size_t len, xs_perms *ret)
{
	xs_perms p = { NULL, 0 };
	size_t i, n = 0;
	const char *s;

	for (i = 0; i < len; i++)
		n += strs[i] == 0;
	if (n == 0 || strs[len - 1] != 0)
		return -EINVAL;
	p.p = calloc(n, sizeof(*p.p));
	if (!p.p)
		return -ENOMEM;
	for (s = strs; s < strs + len; s += strlen(s) + 1) {
		int perm = letter_to_perm(s[0]);
		unsigned id;

		if (perm < 0 || vbd__parse_uint(s + 1, 0xFFFF, &id) < 0) {
			free(p.p);
			return -EINVAL;
		}
		p.p[p.n].id = id;
		p.p[p.n].perm = (uint32_t)perm;
		p.n++;
	}
	*ret = p;
	return 0;
}

size_t vbd__perms_format(const xs_perms *p, char *buf, size_t size)
{
	static const char letters[] = "nrwb";
	size_t used = 0;
	uint32_t i;

	for (i = 0; i < p->n; i++) {
		char tmp[16];
		int l = snprintf(tmp, sizeof(tmp), "%c%u", letters[p->p[i].perm & 3], p->p[i].id);

		if (used + (size_t)l + 1 <= size)
			memcpy(buf + used, tmp, (size_t)l + 1);
		used += (size_t)l + 1;
	}
	return used;
}

int vbd__perms_copy(xs_perms *dst, const xs_perms *src)
{
	xs_perm *p = NULL;

	if (src->n) {
		p = malloc(src->n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memcpy(p, src->p, src->n * sizeof(*p));
	}
	dst->p = p;
	dst->n = src->n;
	return 0;
}

void vbd__perms_done(xs_perms *p)
{
	free(p->p);
	p->p = NULL;
	p->n = 0;
}

unsigned vbd__perms_mask(const xs_perms *p, unsigned domid, bool priv,
                         bool has_target, unsigned target)
{
	uint32_t i;

	if (priv || p->n == 0)
		return priv ? (XS_PERM_BOTH | XS_PERM_OWNER) : XS_PERM_NONE;
	if (p->p[0].id == domid || (has_target && p->p[0].id == target))
		return XS_PERM_BOTH | XS_PERM_OWNER;
	for (i = 1; i < p->n; i++)
		if (!(p->p[i].perm & XS_PERM_IGNORE) &&
		    (p->p[i].id == domid || (has_target && p->p[i].id == target)))
			return p->p[i].perm & XS_PERM_BOTH;
	return p->p[0].perm & XS_PERM_BOTH;
}
