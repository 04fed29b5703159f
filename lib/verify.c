/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The handshake verifier (rules in vbd/verify.h).
 *
 * Example: a frontend writes state 3 while its backend still says 1.  The
 * follower sees the event for .../device/vbd/51728/state, finds the device,
 * reads both ends, reports the transition 1 -> 3 on the frontend, then
 * "frontend-early" (frontend Initialised, backend Initialising).  A rule that
 * still fails on the next event is not reported again; one that passes and
 * fails later is.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "vbd/dev.h"
#include "vbd/verify.h"

typedef struct vlist {
	vbd_violation *v;
	size_t n, cap;
} vlist;

static void add(vlist *l, const char *rule, const char *node, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add(vlist *l, const char *rule, const char *node, const char *fmt, ...)
{
	va_list ap;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		vbd_violation *nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n].rule = rule;
	snprintf(l->v[l->n].node, sizeof(l->v[0].node), "%s", node);
	va_start(ap, fmt);
	vsnprintf(l->v[l->n].detail, sizeof(l->v[0].detail), fmt, ap);
	va_end(ap);
	l->n++;
}

/* The number at dir/k: absent when there is none, -1 if it is not one. */
static long long key_num(vbd_ctx *c, const char *dir, const char *k, long long absent)
{
	long long v;
	int r = vbd__xs_read_num(c, dir, k, &v);

	return r == 0 ? v : r == -EINVAL ? -1 : absent;
}

/* State of one end: -1 absent, -2 not a state (reported). */
static int state_of(vbd_ctx *c, const char *dir, vlist *l)
{
	char path[224], *s = vbd__xs_read_key(c, dir, "state");
	long long v;

	if (!s)
		return -1;
	v = vbd__parse_num(s);
	if (v < 0 || v > 8) {
		snprintf(path, sizeof(path), "%s/state", dir);
		add(l, "state-value", path, "\"%s\" is not a xenbus state (0..8)", s);
		free(s);
		return -2;
	}
	free(s);
	return (int)v;
}

static bool is_hex_pair(const char *s)
{
	const char *colon = strchr(s, ':');
	const char *p;

	if (!colon || colon == s || !colon[1])
		return false;
	for (p = s; *p; p++)
		if (p != colon && !((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		                    (*p >= 'A' && *p <= 'F')))
			return false;
	return true;
}

static void check_one_of(vbd_ctx *c, vlist *l, const char *dir, const char *k, const char *rule,
                         const char *const *ok)
{
	char path[224], *s = vbd__xs_read_key(c, dir, k);
	const char *const *o;

	if (!s)
		return;
	for (o = ok; *o; o++)
		if (!strcmp(s, *o))
			break;
	if (!*o) {
		snprintf(path, sizeof(path), "%s/%s", dir, k);
		add(l, rule, path, "\"%s\" is not one of the values the protocol allows", s);
	}
	free(s);
}

static void ring_keys(vbd_ctx *c, vlist *l, const char *be, const char *fe)
{
	long long nq = key_num(c, fe, "multi-queue-num-queues", 1);
	long long maxq = key_num(c, be, "multi-queue-max-queues", 1);
	long long order = key_num(c, fe, "ring-page-order", -2);
	long long maxo = key_num(c, be, "max-ring-page-order", 0);
	char path[320];
	long long q, r;

	if (nq < 1 || nq > maxq) {
		snprintf(path, sizeof(path), "%s/multi-queue-num-queues", fe);
		add(l, "ring-keys", path, "%lld queues; the backend offers 1..%lld", nq, maxq);
		return;
	}
	if (order != -2 && (order < 0 || order > maxo || order > 16)) {
		snprintf(path, sizeof(path), "%s/ring-page-order", fe);
		add(l, "ring-keys", path, "order %lld; the backend offers 0..%lld", order, maxo);
		return;
	}
	for (q = 0; q < nq; q++) {
		char qdir[256];
		char *s;

		if (nq == 1)
			snprintf(qdir, sizeof(qdir), "%s", fe);
		else
			snprintf(qdir, sizeof(qdir), "%s/queue-%lld", fe, q);
		if (order == -2) {
			if (!(s = vbd__xs_read_key(c, qdir, "ring-ref")) || vbd__parse_num(s) < 0) {
				snprintf(path, sizeof(path), "%s/ring-ref", qdir);
				if (s)
					add(l, "ring-keys", path, "\"%s\" is not a grant reference", s);
				else
					add(l, "ring-keys", path, "missing while the frontend is %s",
					    "Initialised or Connected");
			}
			free(s);
		} else {
			for (r = 0; r < (1LL << order); r++) {
				char k[32];

				snprintf(k, sizeof(k), "ring-ref%lld", r);
				if (!(s = vbd__xs_read_key(c, qdir, k)) || vbd__parse_num(s) < 0) {
					snprintf(path, sizeof(path), "%s/%s", qdir, k);
					add(l, "ring-keys", path, "missing or not a grant reference (ring-page-order %lld)",
					    order);
				}
				free(s);
			}
		}
		if (!(s = vbd__xs_read_key(c, qdir, "event-channel")) || vbd__parse_num(s) < 0) {
			snprintf(path, sizeof(path), "%s/event-channel", qdir);
			add(l, "ring-keys", path, "missing or not a port number");
		}
		free(s);
	}
}

/* The rules that look at the nodes as they are. */
static void check_static(vbd_ctx *c, const char *be, const char *fe, int bs, int fs, vlist *l)
{
	static const char *const protocols[] = { "x86_32-abi", "x86_64-abi", "arm-abi", NULL };
	static const char *const hotplug[] = { "connected", "error", "busy", NULL };
	static const char *const online[] = { "0", "1", NULL };
	char path[224], *s;

	if (fe && (fs == 3 || fs == 4) && bs >= 0 && bs < 2)
		add(l, "frontend-early", fe, "frontend %s while the backend is %s (before InitWait)",
		    vbd_state_name(fs), vbd_state_name(bs));
	if (bs == 4 && fs >= 0 && fs < 3)
		add(l, "backend-early", be, "backend Connected while the frontend is %s",
		    vbd_state_name(fs));
	if (bs == 4) {
		long long ss = key_num(c, be, "sector-size", -1);

		if (key_num(c, be, "sectors", -1) < 0) {
			snprintf(path, sizeof(path), "%s/sectors", be);
			add(l, "connect-keys", path, "missing or not a number while Connected");
		}
		if (key_num(c, be, "info", -1) < 0) {
			snprintf(path, sizeof(path), "%s/info", be);
			add(l, "connect-keys", path, "missing or not a number while Connected");
		}
		if (ss < 512 || (ss & (ss - 1))) {
			snprintf(path, sizeof(path), "%s/sector-size", be);
			add(l, "connect-keys", path, "%lld: missing, or not a power of two >= 512", ss);
		}
	}
	if (fe && (fs == 3 || fs == 4) && bs >= 2)
		ring_keys(c, l, be, fe);
	if (fe)
		check_one_of(c, l, fe, "protocol", "protocol", protocols);
	s = vbd__xs_read_key(c, be, "physical-device");
	if (s && !is_hex_pair(s)) {
		snprintf(path, sizeof(path), "%s/physical-device", be);
		add(l, "physical-device", path, "\"%s\" is not hex major:minor", s);
	}
	free(s);
	check_one_of(c, l, be, "hotplug-status", "hotplug-status", hotplug);
	check_one_of(c, l, be, "online", "online", online);
}

static bool legal(bool backend, int from, int to)
{
	if (from < 0 || to < 0 || from == to || to >= VBD_STATE_CLOSING || to > from)
		return true;
	/* Reconnect: Closed -> InitWait (blkback), Closed -> Initialising (blkfront). */
	if (from == VBD_STATE_CLOSED)
		return backend ? (to == VBD_STATE_INITWAIT || to == VBD_STATE_INITIALISING)
		               : to == VBD_STATE_INITIALISING;
	return false;
}

/* Where a device lives (vbd__dev_locate), as two strings. */
static int locate(vbd_ctx *c, unsigned domid, uint32_t devid, char **be, char **fe)
{
	vbd__dev_loc loc;
	int r = vbd__dev_locate(c, domid, devid, &loc);

	if (r < 0)
		return r;
	*be = strdup(loc.be);
	*fe = strdup(loc.fe);
	return *be && *fe ? 0 : -ENOMEM;
}

int vbd_dev_verify(vbd_ctx *c, unsigned domid, uint32_t devid, vbd_violation **ret, size_t *ret_n)
{
	char *be = NULL, *fe = NULL, *s;
	vlist l = { NULL, 0, 0 };
	int bs, fs, r;

	if (!c || !ret || !ret_n)
		return -EINVAL;
	if ((r = locate(c, domid, devid, &be, &fe)) < 0) {
		r = vbd__errf(&c->err, r, "locating device %u of domain %u: %s", devid, domid, strerror(-r));
		goto out;
	}
	s = vbd__xs_read(c, XBT_NULL, "%s", be);
	if (!s) {
		r = errno == ENOENT ? vbd__errf(&c->err, -ENOENT, "domain %u has no device %u (%s)",
		                                domid, devid, be)
		                    : vbd__errf(&c->err, -errno, "reading %s: %s", be, strerror(errno));
		goto out;
	}
	free(s);
	bs = state_of(c, be, &l);
	fs = state_of(c, fe, &l);
	check_static(c, be, fe, bs, fs, &l);
	*ret = l.v;
	*ret_n = l.n;
	l.v = NULL;
	r = 0;
out:
	free(l.v);
	free(be);
	free(fe);
	return r;
}

/* ---- following ---- */

typedef struct vdev {
	struct vdev *next;
	unsigned domid;
	uint32_t devid;
	char *be, *fe;
	int bs, fs;
	char **active;     /* "rule node" of violations already reported */
	size_t nactive;
} vdev;

struct vbd_verifier {
	vbd_ctx *c;
	int domid;
	vbd_verify_fn fn;
	void *ud;
	vbd__watch *w;
	vdev *devs;
};

static void vdev_free(vdev *d)
{
	size_t i;

	for (i = 0; i < d->nactive; i++)
		free(d->active[i]);
	free(d->active);
	free(d->be);
	free(d->fe);
	free(d);
}

/* The device a changed path belongs to: (domid, devid) from either end. */
static bool parse_path(const char *p, unsigned *domid, uint32_t *devid)
{
	unsigned a, b, dev;
	int n = 0;

	if (sscanf(p, "/local/domain/%u/backend/vbd/%u/%u%n", &a, &b, &dev, &n) == 3 &&
	    (p[n] == 0 || p[n] == '/')) {
		*domid = b;
		*devid = dev;
		return true;
	}
	if (sscanf(p, "/local/domain/%u/device/vbd/%u%n", &a, &dev, &n) == 2 &&
	    (p[n] == 0 || p[n] == '/')) {
		*domid = a;
		*devid = dev;
		return true;
	}
	return false;
}

static void report_new(vbd_verifier *v, vdev *d, const vlist *l)
{
	char **now = calloc(l->n ? l->n : 1, sizeof(*now));
	size_t i, j;

	if (!now)
		return;
	for (i = 0; i < l->n; i++) {
		bool seen = false;
		size_t len = strlen(l->v[i].rule) + strlen(l->v[i].node) + 2;

		now[i] = malloc(len);
		if (now[i])
			snprintf(now[i], len, "%s %s", l->v[i].rule, l->v[i].node);
		for (j = 0; now[i] && j < d->nactive; j++)
			seen |= !strcmp(now[i], d->active[j]);
		if (!seen)
			v->fn(v->ud, d->domid, d->devid, strstr(l->v[i].node, "/backend/") ? "backend" : "frontend",
			      -1, -1, &l->v[i]);
	}
	for (j = 0; j < d->nactive; j++)
		free(d->active[j]);
	free(d->active);
	d->active = now;
	d->nactive = l->n;
}

/* One side's state moved from *prev to now: report it, check the step. */
static void transition(vbd_verifier *v, vdev *d, bool backend, int *prev, int now, vlist *l)
{
	char node[224];

	if (now == *prev || now < -1)
		return;
	v->fn(v->ud, d->domid, d->devid, backend ? "backend" : "frontend", *prev, now, NULL);
	if (!legal(backend, *prev, now)) {
		snprintf(node, sizeof(node), "%s/state", backend ? d->be : d->fe);
		add(l, backend ? "backend-transition" : "frontend-transition", node,
		    "%s -> %s is not a step of the protocol", vbd_state_name(*prev), vbd_state_name(now));
	}
	*prev = now;
}

static void on_change(vbd_ctx *c, const char *path, void *ud)
{
	vbd_verifier *v = ud;
	vlist l = { NULL, 0, 0 };
	unsigned domid;
	uint32_t devid;
	vdev *d;
	int bs, fs;

	if (!parse_path(path, &domid, &devid) || (v->domid >= 0 && domid != (unsigned)v->domid))
		return;
	for (d = v->devs; d; d = d->next)
		if (d->domid == domid && d->devid == devid)
			break;
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d || locate(c, domid, devid, &d->be, &d->fe) < 0) {
			if (d)
				vdev_free(d);
			return;
		}
		d->domid = domid;
		d->devid = devid;
		d->bs = d->fs = -1;
		d->next = v->devs;
		v->devs = d;
	}
	bs = state_of(c, d->be, &l);
	fs = state_of(c, d->fe, &l);
	transition(v, d, true, &d->bs, bs, &l);
	transition(v, d, false, &d->fs, fs, &l);
	if (bs >= 0 || fs >= 0)
		check_static(c, d->be, d->fe, bs, fs, &l);
	report_new(v, d, &l);
	free(l.v);
	/* Both ends gone: forget the device, so a new one starts afresh. */
	if (bs == -1 && fs == -1) {
		vdev **pp;
		for (pp = &v->devs; *pp != d; pp = &(*pp)->next)
			;
		*pp = d->next;
		vdev_free(d);
	}
}

int vbd_verifier_new(vbd_ctx *c, int domid, vbd_verify_fn fn, void *userdata, vbd_verifier **ret)
{
	vbd_verifier *v;
	int r;

	if (!c || !fn || !ret)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->c = c;
	v->domid = domid;
	v->fn = fn;
	v->ud = userdata;
	/* Both ends of any device live under /local/domain. */
	r = vbd__ctx_watch(c, "/local/domain", on_change, v, &v->w);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	return 0;
}

vbd_verifier *vbd_verifier_free(vbd_verifier *v)
{
	if (!v)
		return NULL;
	vbd__ctx_unwatch(v->c, v->w);
	while (v->devs) {
		vdev *d = v->devs;
		v->devs = d->next;
		vdev_free(d);
	}
	free(v);
	return NULL;
}
