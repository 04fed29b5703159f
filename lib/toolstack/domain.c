/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Domains by id or by name.  Where a hypervisor runs and the context talks
 * to the host's own xenstored, libxenlight answers (the domain list comes
 * from the hypervisor, as xl's does); elsewhere - the embedded store, a
 * machine without Xen - /local/domain/<id>/name in xenstore does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libxl.h>
#include <libxl_utils.h>

#include "toolstack/ctx.h"

/* libxenlight's messages go to the context's log, never to stderr. */
typedef struct xtl_bridge {
	xentoollog_logger vtable;
	vbd_ctx *c;
} xtl_bridge;

static void xtl_vmessage(xentoollog_logger *l, xentoollog_level level, int errnoval,
                         const char *context, const char *format, va_list al)
	__attribute__((format(printf, 5, 0)));
static void xtl_vmessage(xentoollog_logger *l, xentoollog_level level, int errnoval,
                         const char *context, const char *format, va_list al)
{
	xtl_bridge *b = (xtl_bridge *)l;
	char msg[512];

	(void)errnoval;
	vsnprintf(msg, sizeof(msg), format, al);
	vbd__log(b->c, level >= XTL_ERROR ? VBD_LOG_ERR : VBD_LOG_DEBUG, "libxenlight%s%s: %s",
	         context ? " " : "", context ? context : "", msg);
}

static void xtl_destroy(xentoollog_logger *l)
{
	free(l);
}

/* Run by vbd_ctx_free(). */
static void domain_done(vbd_ctx *c)
{
	if (c->lx)
		libxl_ctx_free(c->lx);
	if (c->lx_logger)
		xtl_destroy(c->lx_logger);
	c->lx = NULL;
	c->lx_logger = NULL;
}

/* A libxenlight context, made on first use; NULL (and never tried again)
 * where no hypervisor runs or the context is not the host's xenstored. */
static libxl_ctx *lx(vbd_ctx *c)
{
	xtl_bridge *b;

	if (c->lx || c->lx_tried)
		return c->lx;
	c->lx_tried = true;
	if (!c->host_xenstore || vbd__ctx_on_free(c, domain_done) < 0 ||
	    (access("/dev/xen/privcmd", F_OK) != 0 && access("/proc/xen/privcmd", F_OK) != 0))
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->vtable.vmessage = xtl_vmessage;
	b->vtable.destroy = xtl_destroy;
	b->c = c;
	if (libxl_ctx_alloc((libxl_ctx **)&c->lx, LIBXL_VERSION, 0, &b->vtable) != 0) {
		free(b);
		c->lx = NULL;
		vbd__log(c, VBD_LOG_DEBUG, "libxenlight unavailable: domains from xenstore");
		return NULL;
	}
	c->lx_logger = b;
	return c->lx;
}

void *vbd__ctx_libxl(vbd_ctx *c)
{
	return lx(c);
}

static int lookup_lx(vbd_ctx *c, libxl_ctx *l, const char *name_or_id, bool numeric,
                     unsigned long id, unsigned *ret_domid)
{
	libxl_dominfo info;
	uint32_t domid;
	int rc;

	if (!numeric) {
		if (libxl_name_to_domid(l, name_or_id, &domid) != 0)
			return vbd__errf(&c->err, -ENOENT, "no domain named '%s' (libxenlight)", name_or_id);
		vbd__log(c, VBD_LOG_DEBUG, "domain '%s' is %u (libxenlight)", name_or_id, domid);
		*ret_domid = domid;
		return 0;
	}
	libxl_dominfo_init(&info);
	rc = libxl_domain_info(l, &info, (uint32_t)id);
	libxl_dominfo_dispose(&info);
	if (rc == ERROR_DOMAIN_NOTFOUND)
		return vbd__errf(&c->err, -ENOENT, "no domain %lu (libxenlight)", id);
	if (rc != 0)
		return vbd__errf(&c->err, -EIO, "libxenlight could not say whether domain %lu exists (%d)",
		                 id, rc);
	*ret_domid = (unsigned)id;
	return 0;
}

/* One domain's name read in a batch: the first that is the one looked for
 * stops it (the later reads, sent already, are answered and dropped). */
struct name_job {
	const char *want;
	int found;               /* the index of the first with that name, or -1 */
};

struct name_read {
	struct name_job *j;
	unsigned i;
};

static int name_check(const char *val, int err, void *ud)
{
	struct name_read *nr = ud;

	(void)err;
	if (!val || strcmp(val, nr->j->want) != 0)
		return 0;
	nr->j->found = (int)nr->i;
	return 1;
}

/* The domain named want among ids[0..n): its index, -1 if none has that
 * name, or -errno when the names could not be read.  Each domain's name
 * is a read of its own, so they go pipelined on the bus's wire client, a
 * window of up to 64 a round trip instead of one each (a host of 250
 * guests: 4 round trips, not 250); one by one where that cannot be. */
static int find_name(vbd_ctx *c, const char *want, char *const *ids, unsigned n)
{
	struct name_job j = { want, -1 };
	struct name_read nr[VBD__XB_BATCH_MAX];
	unsigned from, i;
	int r = 0;

	for (from = 0; from < n && j.found < 0 && r >= 0; from += VBD__XB_BATCH_MAX) {
		vbd__xb_batch *b = NULL;
		unsigned k = n - from < VBD__XB_BATCH_MAX ? n - from : VBD__XB_BATCH_MAX;

		r = vbd__xb_batch_new(&b);
		for (i = 0; i < k && r == 0; i++) {
			char path[64];

			nr[i] = (struct name_read){ &j, from + i };
			snprintf(path, sizeof(path), "/local/domain/%.20s/name", ids[from + i]);
			r = vbd__xb_batch_check(b, path, name_check, &nr[i]);
		}
		if (r == 0)
			r = vbd__xb_bus_fetch(c->bus, b, NULL);
		vbd__xb_batch_free(b);
	}
	if (r >= 0)
		return j.found;
	for (i = 0; i < n; i++) {
		char *v = vbd__xb_read(c->xs, XBT_NULL, "/local/domain/%s/name", ids[i]);
		bool same = v && !strcmp(v, want);

		free(v);
		if (same)
			return (int)i;
	}
	return -1;
}

int vbd_ctx_domain_lookup(vbd_ctx *c, const char *name_or_id, unsigned *ret_domid)
{
	char **ids, *end, *v;
	unsigned n;
	unsigned long id;
	int k;
	bool numeric;
	libxl_ctx *l;

	if (!c || !name_or_id || !ret_domid)
		return -EINVAL;
	/* A new call's message, not chained to an earlier call's (the
	 * callers in the library add their own prefix to this one). */
	c->err.msg[0] = 0;
	errno = 0;
	id = strtoul(name_or_id, &end, 10);
	numeric = !errno && *name_or_id && !*end;
	if (numeric && id >= DOMID_FIRST_RESERVED)
		return vbd__errf(&c->err, -EINVAL, "domain id %s is out of range", name_or_id);
	if ((l = lx(c)))
		return lookup_lx(c, l, name_or_id, numeric, id, ret_domid);
	if (numeric) {
		v = vbd__xb_read(c->xs, XBT_NULL, "/local/domain/%lu", id);
		if (!v && errno != ENOENT)
			return vbd__errf(&c->err, -errno, "reading /local/domain/%lu: %s", id, strerror(errno));
		/* dom0 exists whether or not anyone wrote its home. */
		if (!v && id != 0)
			return vbd__errf(&c->err, -ENOENT, "no domain %lu (/local/domain/%lu is missing)",
			                 id, id);
		free(v);
		*ret_domid = (unsigned)id;
		return 0;
	}
	ids = xs_directory(c->xs, XBT_NULL, "/local/domain", &n);
	if (!ids && errno != ENOENT)
		return vbd__errf(&c->err, -errno, "listing /local/domain: %s", strerror(errno));
	k = ids ? find_name(c, name_or_id, ids, n) : -1;
	if (k >= 0) {
		*ret_domid = (unsigned)strtoul(ids[k], NULL, 10);
		free(ids);
		return 0;
	}
	free(ids);
	return vbd__errf(&c->err, -ENOENT, "no domain named '%s'", name_or_id);
}

int vbd__ctx_own_domid(vbd_ctx *c, unsigned *ret_domid)
{
	/* A relative path names the connection's own home; "domid" there is
	 * written by dom0 (libxl, xen-init-dom0) and no guest can change it.
	 * Absent: dom0, as on a host whose dom0 home nobody wrote.  Read
	 * once per context: its connection stays in one domain. */
	char *v;
	long long d;

	if (c->own_known) {
		*ret_domid = c->own_domid;
		return 0;
	}
	v = vbd__xb_read(c->xs, XBT_NULL, "domid");
	if (!v && errno != ENOENT)
		return vbd__errf(&c->err, -(errno ? errno : EIO), "reading this domain's domid: %s",
		                 strerror(errno ? errno : EIO));
	d = v ? vbd__parse_num(v) : 0;
	free(v);
	if (d < 0 || d >= DOMID_FIRST_RESERVED)
		return vbd__errf(&c->err, -EINVAL, "this domain's domid node is not a domain id");
	c->own_known = true;
	c->own_domid = (unsigned)d;
	*ret_domid = (unsigned)d;
	return 0;
}

int vbd__domain_gone(vbd_ctx *c, unsigned domid)
{
	libxl_dominfo info;
	libxl_ctx *l;
	bool in, dying;
	int rc;

	if (domid == 0)
		return 0;
	if ((l = lx(c))) {
		/* A domain that crashed and is kept (on_crash=preserve) is not
		 * gone: its devices wait for xl destroy.  A dying one is: the
		 * hypervisor destroyed it, and it stays a zombie as long as a
		 * backend still maps its grants, that is until its devices are
		 * torn down, so waiting for it to vanish first would wait
		 * forever. */
		libxl_dominfo_init(&info);
		rc = libxl_domain_info(l, &info, domid);
		dying = rc == 0 && info.dying;
		libxl_dominfo_dispose(&info);
		if (rc == ERROR_DOMAIN_NOTFOUND || dying)
			return 1;
		if (rc != 0)
			return vbd__errf(&c->err, -EIO, "libxenlight could not say whether domain %u "
			                 "exists (%d)", domid, rc);
		return 0;
	}
	/* libxenstore answers false for "no" and for a failed request alike;
	 * errno tells them apart. */
	errno = 0;
	in = xs_is_domain_introduced(c->xs, domid);
	if (!in && errno)
		return vbd__errf(&c->err, -errno, "asking xenstore whether domain %u exists: %s", domid,
		                 strerror(errno));
	return !in;
}
