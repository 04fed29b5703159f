/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reads, writes and transactions as every xenstore user of libvbd does
 * them: numbers parsed strictly (whatever a peer wrote is hostile), one
 * retry policy, a state written only in a transaction that read it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xenbus/xenbus.h"

/* The public constant spells Xen's out, for headers that do not include
 * xen/xen.h; the two must not drift. */
_Static_assert(VBD_DOMID_FIRST_RESERVED == DOMID_FIRST_RESERVED, "Xen's first reserved domid");

const char *vbd_state_name(int state)
{
	static const char *const names[] = {
		[VBD_STATE_UNKNOWN] = "Unknown",
		[VBD_STATE_INITIALISING] = "Initialising",
		[VBD_STATE_INITWAIT] = "InitWait",
		[VBD_STATE_INITIALISED] = "Initialised",
		[VBD_STATE_CONNECTED] = "Connected",
		[VBD_STATE_CLOSING] = "Closing",
		[VBD_STATE_CLOSED] = "Closed",
		[VBD_STATE_RECONFIGURING] = "Reconfiguring",
		[VBD_STATE_RECONFIGURED] = "Reconfigured",
	};
	return state >= 0 && state <= VBD_STATE_RECONFIGURED ? names[state] : "Invalid";
}

void vbd__xb_txn_pause(unsigned try)
{
	struct timespec ts = { 0, (long)(try < 20 ? try : 20) * 500000L };

	nanosleep(&ts, NULL);
}

int vbd__xb_txn(struct xs_handle *xs, vbd__xb_txn_body body, void *ud)
{
	unsigned try;

	for (try = 0; try < VBD__XB_TXN_TRIES; try++) {
		xs_transaction_t t = xs_transaction_start(xs);
		int r;

		if (t == XBT_NULL)
			return -(errno ? errno : EIO);
		r = body(xs, t, ud);
		if (r == -EAGAIN) {
			xs_transaction_end(xs, t, true);
			vbd__xb_txn_pause(try);
			continue;
		}
		if (r != 0) {
			int e = errno;
			xs_transaction_end(xs, t, true);
			errno = e;
			return r;
		}
		if (xs_transaction_end(xs, t, false))
			return 0;
		if (errno != EAGAIN)
			return -(errno ? errno : EIO);
		vbd__xb_txn_pause(try);
	}
	return -EAGAIN;
}

long long vbd__parse_num(const char *s)
{
	char *end;
	long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno || *end ? -1 : v;
}

int vbd__parse_num_max(const char *s, unsigned long long max, unsigned long long *ret)
{
	/* 20 digits at most: strtoll's range check does the rest. */
	long long v = s && strlen(s) <= 20 ? vbd__parse_num(s) : -1;

	if (v < 0 || (unsigned long long)v > max)
		return -EINVAL;
	*ret = (unsigned long long)v;
	return 0;
}

char *vbd__xb_read(struct xs_handle *xs, xs_transaction_t t, const char *fmt, ...)
{
	char path[3200];
	unsigned len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return xs_read(xs, t, path, &len);   /* libxenstore NUL-terminates */
}

int vbd__xb_read_num(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *key,
                     unsigned long long max, unsigned long long *ret)
{
	char *s = vbd__xb_read(xs, t, "%s/%s", dir, key);
	int r;

	if (!s)
		return errno == ENOENT ? -ENOENT : -(errno ? errno : EIO);
	r = vbd__parse_num_max(s, max, ret);
	free(s);
	return r;
}

int vbd__xb_read_state(struct xs_handle *xs, xs_transaction_t t, const char *dir)
{
	unsigned long long v;
	int r = vbd__xb_read_num(xs, t, dir, "state", VBD_STATE_RECONFIGURED, &v);

	return r < 0 ? r : (int)v;
}

int vbd__xb_format(char *path, char *val, const char *dir, const char *key, const char *fmt,
                   va_list ap)
{
	int n;

	if ((size_t)snprintf(path, XENSTORE_ABS_PATH_MAX + 1, "%s/%s", dir, key) >
	    XENSTORE_ABS_PATH_MAX)
		return -ENAMETOOLONG;
	n = vsnprintf(val, XENSTORE_PAYLOAD_MAX + 1, fmt, ap);
	if (n < 0)
		return -EINVAL;
	return n > XENSTORE_PAYLOAD_MAX ? -E2BIG : n;
}

int vbd__xb_printf(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *key,
                   const char *fmt, ...)
{
	/* xenstore's own limits: a toolstack writes a disk's target (up to
	 * 1 KB) and hotplug records under long backend paths. */
	char path[XENSTORE_ABS_PATH_MAX + 1], val[XENSTORE_PAYLOAD_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vbd__xb_format(path, val, dir, key, fmt, ap);
	va_end(ap);
	if (n < 0)
		return n;
	if (!xs_write(xs, t, path, val, (unsigned)n))
		return -(errno ? errno : EIO);
	return 0;
}

int vbd__xb_exists(struct xs_handle *xs, xs_transaction_t t, const char *path)
{
	unsigned len;
	char *v = xs_read(xs, t, path, &len);

	if (!v)
		return errno == ENOENT ? 0 : -(errno ? errno : EIO);
	free(v);
	return 1;
}

int vbd__xb_rm(struct xs_handle *xs, xs_transaction_t t, const char *path)
{
	if (xs_rm(xs, t, path) || errno == ENOENT)
		return 0;
	if (errno == EIO && t != XBT_NULL)
		return -EAGAIN;     /* a stale copy in the transaction (xenbus.h) */
	return -(errno ? errno : EIO);
}

struct switch_job {
	const char *dir;
	vbd_state state;
};

static int switch_body(struct xs_handle *xs, xs_transaction_t t, void *ud)
{
	struct switch_job *j = ud;
	int s = vbd__xb_read_state(xs, t, j->dir);

	if (s == -ENOENT)
		return 1;    /* removed: never recreate it */
	if (s < 0 && s != -EINVAL)
		return s;
	return vbd__xb_printf(xs, t, j->dir, "state", "%d", (int)j->state);
}

int vbd__xb_switch_state(struct xs_handle *xs, const char *dir, vbd_state state)
{
	struct switch_job j = { dir, state };

	return vbd__xb_txn(xs, switch_body, &j);
}

bool vbd__xb_backend_live(struct xs_handle *xs, const char *base, unsigned fe_domid,
                          uint32_t devid)
{
	char dir[VBD__XB_PATH_MAX];
	int st;

	snprintf(dir, sizeof(dir), "%s/%u/%u", base, fe_domid, devid);
	st = vbd__xb_read_state(xs, XBT_NULL, dir);
	if (st == VBD_STATE_CLOSED) {
		/* Closed with online 1: a guest's reset that a dead backend left
		 * half done, which a restarted one takes over; online 0 is a
		 * detach, the toolstack's. */
		char *v = vbd__xb_read(xs, XBT_NULL, "%s/online", dir);
		bool on = v && !strcmp(v, "1");

		free(v);
		return on;
	}
	return st == VBD_STATE_INITIALISING || st == VBD_STATE_INITWAIT ||
	       st == VBD_STATE_CONNECTED || st == VBD_STATE_CLOSING ||
	       (st < 0 && st != -ENOENT && st != -EINVAL);
}

int vbd__xb_dev_fatal(struct xs_handle *xs, unsigned home, const char *nodename, int err,
                      const char *msg, const char *dir, int *ret_switch)
{
	char path[VBD__XB_PATH_MAX + 64], val[512];
	int n, r = 0;

	snprintf(path, sizeof(path), "/local/domain/%u/error/%s/error", home, nodename);
	n = snprintf(val, sizeof(val), "%d %s", err < 0 ? -err : err, msg);
	if (n >= (int)sizeof(val))
		n = (int)sizeof(val) - 1;
	if (!xs_write(xs, XBT_NULL, path, val, (unsigned)n))
		r = -(errno ? errno : EIO);
	if (dir) {
		int s = vbd__xb_switch_state(xs, dir, VBD_STATE_CLOSING);

		if (ret_switch)
			*ret_switch = s;
	}
	return r;
}

int vbd__xb_backend_path(char *buf, size_t size, unsigned bdom, const char *type, unsigned fedom,
                         uint32_t devid)
{
	int n = snprintf(buf, size, "/local/domain/%u/backend/%s/%u/%u", bdom, type, fedom, devid);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int vbd__xb_frontend_path(char *buf, size_t size, unsigned fedom, const char *type,
                          uint32_t devid)
{
	int n = snprintf(buf, size, "/local/domain/%u/device/%s/%u", fedom, type, devid);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
