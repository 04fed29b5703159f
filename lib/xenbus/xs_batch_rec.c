/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Recording a batch (xs_batch.c sends it): each request's message built
 * as it goes on the wire, with what its reply decides or must be.  Nothing
 * is sent here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xenbus/xs_batch_internal.h"

int vbd__xb_batch_new(vbd__xb_batch **ret)
{
	vbd__xb_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	*ret = b;
	return 0;
}

void vbd__xb_batch_clear(vbd__xb_batch *b)
{
	b->n = 0;
	b->len = 0;
	b->elen = 0;
}

void vbd__xb_batch_while(vbd__xb_batch *b, int (*fn)(void *ud), void *ud)
{
	b->while_fn = fn;
	b->while_ud = ud;
	b->while_err = 0;
}

void vbd__xb_batch_at_start(vbd__xb_batch *b, int (*fn)(vbd__xb_batch *b, void *ud), void *ud)
{
	b->start_fn = fn;
	b->start_ud = ud;
	b->start_done = false;
	b->start_err = 0;
}

void vbd__xb_batch_before_start(vbd__xb_batch *b, vbd__xb_batch *pre)
{
	b->pre = pre;
	b->pre_result = 0;
	b->start_done = false;
}

int vbd__xb_batch_pre_result(const vbd__xb_batch *b)
{
	return b->pre_result;
}

int vbd__xb_batch_while_err(const vbd__xb_batch *b)
{
	return b->while_err;
}

int vbd__xb_batch_start_err(const vbd__xb_batch *b)
{
	return b->start_err;
}

vbd__xb_batch *vbd__xb_batch_free(vbd__xb_batch *b)
{
	if (b) {
		free(b->msgs);
		free(b->exp);
	}
	free(b);
	return NULL;
}

/* Grows *buf (of *cap) to hold need bytes: 0 or -ENOMEM. */
static int reserve(char **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 8192;
	char *m;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if (!(m = realloc(*buf, c)))
		return -ENOMEM;
	*buf = m;
	*cap = c;
	return 0;
}

int vbd__xb_batch_room(vbd__xb_batch *b, size_t extra)
{
	return reserve(&b->msgs, &b->cap, b->len + extra);
}

/* Appends one message: path NUL, then val (len bytes: a WRITE's value is
 * not NUL-terminated; SET_PERMS's list is, entry by entry). */
static int add(vbd__xb_batch *b, uint32_t type, unsigned flags, const char *path,
               const char *val, size_t len)
{
	size_t plen = strlen(path) + 1, need = HDR + plen + len;
	struct xsd_sockmsg h = { type, 0, 0, (uint32_t)(plen + len) };
	batch_op *op;

	if (plen > XENSTORE_ABS_PATH_MAX + 1)
		return -ENAMETOOLONG;
	if (plen + len > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	if (b->n == VBD__XB_BATCH_MAX)
		return -ENOSPC;
	if (reserve(&b->msgs, &b->cap, b->len + need) < 0)
		return -ENOMEM;
	op = &b->ops[b->n++];
	memset(op, 0, sizeof(*op));
	op->off = b->len;
	op->path_off = b->len + HDR;
	op->flags = flags;
	memcpy(b->msgs + b->len, &h, HDR);
	memcpy(b->msgs + b->len + HDR, path, plen);
	if (len)
		memcpy(b->msgs + b->len + HDR + plen, val, len);
	b->len += need;
	return 0;
}

int vbd__xb_batch_absent(vbd__xb_batch *b, const char *path)
{
	return add(b, XS_READ, VBD__XB_OP_ABSENT, path, NULL, 0);
}

/* A READ, DIRECTORY or WATCH (val: its token) whose answer goes to check
 * or dir (ud). */
static int add_answered(vbd__xb_batch *b, uint32_t type, unsigned flags, const char *path,
                        const char *val, vbd__xb_check_fn check, vbd__xb_dir_fn dir, void *ud)
{
	int r = add(b, type, flags, path, val, val ? strlen(val) + 1 : 0);

	if (r == 0) {
		b->ops[b->n - 1].check = check;
		b->ops[b->n - 1].dir = dir;
		b->ops[b->n - 1].check_ud = ud;
	}
	return r;
}

int vbd__xb_batch_check(vbd__xb_batch *b, const char *path, vbd__xb_check_fn fn, void *ud)
{
	return add_answered(b, XS_READ, 0, path, NULL, fn, NULL, ud);
}

int vbd__xb_batch_dir(vbd__xb_batch *b, const char *path, vbd__xb_dir_fn fn, void *ud)
{
	return add_answered(b, XS_DIRECTORY, 0, path, NULL, NULL, fn, ud);
}

int vbd__xb_batch_watch(vbd__xb_batch *b, const char *path, const char *token,
                        vbd__xb_check_fn fn, void *ud)
{
	return add_answered(b, XS_WATCH, OP_NOTX, path, token, fn, NULL, ud);
}

int vbd__xb_list_take(const char *names, size_t len, int err, void *ud)
{
	vbd__xb_list *l = ud;

	vbd__xb_list_clear(l);
	l->err = err;
	/* One NUL more: a last name the daemon left unterminated ends too. */
	if (err == 0 && len && !(l->names = malloc(len + 1)))
		l->err = -ENOMEM;
	else if (err == 0 && len) {
		memcpy(l->names, names, len);
		l->names[len] = 0;
		l->len = len;
	}
	return 0;
}

int vbd__xb_value_take(const char *val, int err, void *ud)
{
	vbd__xb_value *v = ud;

	v->got = true;
	v->err = err;
	if (!err && !(v->val = strdup(val)))
		v->err = -ENOMEM;
	return 0;
}

void vbd__xb_list_clear(vbd__xb_list *l)
{
	free(l->names);
	l->names = NULL;
	l->len = 0;
	l->err = 1;
}

/* Records a request whose answer must be exp (len bytes; NULL: ENOENT). */
static int add_same(vbd__xb_batch *b, uint32_t type, unsigned flags, const char *path,
                    const char *exp, size_t len)
{
	batch_op *op;
	int r;

	if (exp && len > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	if (reserve(&b->exp, &b->ecap, b->elen + len) < 0)
		return -ENOMEM;
	if ((r = add(b, type, VBD__XB_OP_SAME | flags, path, NULL, 0)) < 0)
		return r;
	op = &b->ops[b->n - 1];
	op->exp_off = b->elen;
	op->exp_len = exp ? (uint32_t)len : NO_NODE;
	if (exp && len)
		memcpy(b->exp + b->elen, exp, len);
	b->elen += exp ? len : 0;
	return 0;
}

int vbd__xb_batch_same(vbd__xb_batch *b, const char *path, const char *val, size_t len)
{
	return add_same(b, XS_READ, 0, path, val, val ? len : 0);
}

int vbd__xb_batch_same_exists(vbd__xb_batch *b, const char *path, bool exists)
{
	return add_same(b, XS_READ, VBD__XB_OP_ANY_VALUE, path, exists ? "" : NULL, 0);
}

int vbd__xb_batch_same_dir(vbd__xb_batch *b, const char *path, char *const *names, unsigned n)
{
	char list[XENSTORE_PAYLOAD_MAX];
	size_t len = 0;
	unsigned i;

	for (i = 0; names && i < n; i++) {
		size_t k = strlen(names[i]) + 1;

		if (len + k > sizeof(list))
			return -E2BIG;
		memcpy(list + len, names[i], k);
		len += k;
	}
	return add_same(b, XS_DIRECTORY, 0, path, names ? list : NULL, len);
}

int vbd__xb_batch_append(vbd__xb_batch *dst, const vbd__xb_batch *src)
{
	unsigned i;

	if (dst->n + src->n > VBD__XB_BATCH_MAX)
		return -ENOSPC;
	if (reserve(&dst->msgs, &dst->cap, dst->len + src->len) < 0 ||
	    reserve(&dst->exp, &dst->ecap, dst->elen + src->elen) < 0)
		return -ENOMEM;
	for (i = 0; i < src->n; i++) {
		batch_op *op = &dst->ops[dst->n++];

		*op = src->ops[i];
		op->off += dst->len;
		op->path_off += dst->len;
		op->exp_off += dst->elen;
	}
	if (src->len)
		memcpy(dst->msgs + dst->len, src->msgs, src->len);
	if (src->elen)
		memcpy(dst->exp + dst->elen, src->exp, src->elen);
	dst->len += src->len;
	dst->elen += src->elen;
	return 0;
}

int vbd__xb_batch_rm(vbd__xb_batch *b, const char *path)
{
	return add(b, XS_RM, VBD__XB_OP_ENOENT_OK, path, NULL, 0);
}

int vbd__xb_batch_mkdir(vbd__xb_batch *b, const char *path)
{
	return add(b, XS_MKDIR, 0, path, NULL, 0);
}

int vbd__xb_batch_set_perms(vbd__xb_batch *b, const char *path,
                            const struct xs_permissions *perms, unsigned n)
{
	/* "n0\0r1\0": as libxenstore's xs_perm_to_string spells each entry. */
	static const char letter[4] = { 'n', 'r', 'w', 'b' };
	char list[XENSTORE_PAYLOAD_MAX];
	size_t len = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		int k = snprintf(list + len, sizeof(list) - len, "%c%u",
		                 letter[perms[i].perms & (XS_PERM_READ | XS_PERM_WRITE)], perms[i].id);

		if (k < 0 || (size_t)k + 1 >= sizeof(list) - len)
			return -E2BIG;
		len += (size_t)k + 1;   /* and its NUL */
	}
	return add(b, XS_SET_PERMS, 0, path, list, len);
}

int vbd__xb_batch_printf(vbd__xb_batch *b, const char *dir, const char *key, const char *fmt, ...)
{
	char path[XENSTORE_ABS_PATH_MAX + 1], val[XENSTORE_PAYLOAD_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vbd__xb_format(path, val, dir, key, fmt, ap);
	va_end(ap);
	return n < 0 ? n : add(b, XS_WRITE, 0, path, val, (size_t)n);
}

int vbd__xb_batch_wait(vbd__xb_batch *b)
{
	if (!b->n)
		return -EINVAL;
	b->ops[b->n - 1].flags |= OP_WAIT;
	return 0;
}

unsigned vbd__xb_batch_count(const vbd__xb_batch *b)
{
	return b->n;
}
