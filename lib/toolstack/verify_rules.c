/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The verifier's rules (vbd/verify.h), below both of their users: the
 * follower (verify.c), which reads the store after watch events or takes
 * the store's trace, and the checker (verify_check.c), which judges a
 * change stream against its own copy of each device.  Each reads nodes
 * through the reader seam and reports through the sink of verify_rules.h,
 * so both run this one code.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/verify_rules.h"
#include "vbd/dev.h"
#include "xenbus/xenbus.h"
#include "vbd/verify.h"

typedef vbd__vlist vlist;
#define add vbd__vlist_add

void vbd__vlist_add(vlist *l, const char *rule, const char *node, const char *fmt, ...)
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

/* Reads through the seam: path formatted, NULL when absent. */
static char *rd_get(const vbd__vreader *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *rd_get(const vbd__vreader *rd, const char *fmt, ...)
{
	char path[3200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return rd->read(rd->ud, path);
}

/* The number at dir/k: absent when there is none, -1 if it is not one. */
static long long key_num(const vbd__vreader *rd, const char *dir, const char *k, long long absent)
{
	char *s = rd_get(rd, "%s/%s", dir, k);
	long long v;

	if (!s)
		return absent;
	/* 20 digits at most: strtoll's range check does the rest. */
	v = strlen(s) <= 20 ? vbd__parse_num(s) : -1;
	free(s);
	return v;
}

int vbd__verify_state_of(const vbd__vreader *rd, const char *dir, vlist *l)
{
	char path[224], *s = rd_get(rd, "%s/state", dir);
	long long v;

	if (!s)
		return -1;
	v = strlen(s) <= 20 ? vbd__parse_num(s) : -1;
	if (v >= 0 && v <= VBD_STATE_RECONFIGURED) {
		free(s);
		return (int)v;
	}
	snprintf(path, sizeof(path), "%s/state", dir);
	add(l, "state-value", path, "\"%s\" is not a xenbus state (0..8)", s);
	free(s);
	return -2;
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

static void check_one_of(const vbd__vreader *rd, vlist *l, const char *dir, const char *k,
                         const char *rule, const char *const *ok)
{
	char path[224], *s = rd_get(rd, "%s/%s", dir, k);
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

static void ring_keys(const vbd__vreader *rd, vlist *l, const char *be, const char *fe)
{
	long long nq = key_num(rd, fe, "multi-queue-num-queues", 1);
	long long maxq = key_num(rd, be, "multi-queue-max-queues", 1);
	long long order = key_num(rd, fe, "ring-page-order", -2);
	long long maxo = key_num(rd, be, "max-ring-page-order", 0);
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
			s = rd_get(rd, "%s/ring-ref", qdir);
			if (!s || vbd__parse_num(s) < 0) {
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
				s = rd_get(rd, "%s/%s", qdir, k);
				if (!s || vbd__parse_num(s) < 0) {
					snprintf(path, sizeof(path), "%s/%s", qdir, k);
					add(l, "ring-keys", path, "missing or not a grant reference (ring-page-order %lld)",
					    order);
				}
				free(s);
			}
		}
		s = rd_get(rd, "%s/event-channel", qdir);
		if (!s || vbd__parse_num(s) < 0) {
			snprintf(path, sizeof(path), "%s/event-channel", qdir);
			add(l, "ring-keys", path, "missing or not a port number");
		}
		free(s);
	}
}

void vbd__verify_static(const vbd__vreader *rd, const char *be, const char *fe, int bs, int fs,
                        bool whole, vlist *l)
{
	static const char *const protocols[] = { "x86_32-abi", "x86_64-abi", "arm-abi", NULL };
	static const char *const hotplug[] = { "connected", "error", "busy", NULL };
	static const char *const online[] = { "0", "1", NULL };
	char path[224], *s;

	if (!whole)
		goto values;
	if (fe && (fs == 3 || fs == 4) && bs >= 0 && bs < 2)
		add(l, "frontend-early", fe, "frontend %s while the backend is %s (before InitWait)",
		    vbd_state_name(fs), vbd_state_name(bs));
	if (bs == 4 && fs >= 0 && fs < 3)
		add(l, "backend-early", be, "backend Connected while the frontend is %s",
		    vbd_state_name(fs));
	if (bs == 4) {
		long long ss = key_num(rd, be, "sector-size", -1);

		if (key_num(rd, be, "sectors", -1) < 0) {
			snprintf(path, sizeof(path), "%s/sectors", be);
			add(l, "connect-keys", path, "missing or not a number while Connected");
		}
		if (key_num(rd, be, "info", -1) < 0) {
			snprintf(path, sizeof(path), "%s/info", be);
			add(l, "connect-keys", path, "missing or not a number while Connected");
		}
		if (ss < 512 || (ss & (ss - 1))) {
			snprintf(path, sizeof(path), "%s/sector-size", be);
			add(l, "connect-keys", path, "%lld: missing, or not a power of two >= 512", ss);
		}
	}
	if (fe && (fs == 3 || fs == 4) && bs >= 2)
		ring_keys(rd, l, be, fe);
values:
	if (fe)
		check_one_of(rd, l, fe, "protocol", "protocol", protocols);
	s = rd_get(rd, "%s/physical-device", be);
	if (s && !is_hex_pair(s)) {
		snprintf(path, sizeof(path), "%s/physical-device", be);
		add(l, "physical-device", path, "\"%s\" is not hex major:minor", s);
	}
	free(s);
	check_one_of(rd, l, be, "hotplug-status", "hotplug-status", hotplug);
	check_one_of(rd, l, be, "online", "online", online);
}


void vbd__vlist_append(vlist *dst, vlist *src)
{
	size_t i;

	for (i = 0; i < src->n; i++)
		add(dst, src->v[i].rule, src->v[i].node, "%s", src->v[i].detail);
	free(src->v);
	src->v = NULL;
	src->n = src->cap = 0;
}

bool vbd__verify_legal(bool backend, int from, int to)
{
	if (from < 0 || to < 0 || from == to || to >= VBD_STATE_CLOSING || to > from)
		return true;
	/* Reconnect: Closed -> InitWait (blkback), Closed -> Initialising (blkfront). */
	if (from == VBD_STATE_CLOSED)
		return backend ? (to == VBD_STATE_INITWAIT || to == VBD_STATE_INITIALISING)
		               : to == VBD_STATE_INITIALISING;
	return false;
}

/* One decimal number of p without sign or leading zero, at most max: its
 * end, or NULL. */
static const char *num_at(const char *p, unsigned long max, unsigned long *ret)
{
	unsigned long v = 0;
	const char *q = p;

	if (*q < '0' || *q > '9' || (*q == '0' && q[1] >= '0' && q[1] <= '9'))
		return NULL;
	for (; *q >= '0' && *q <= '9'; q++) {
		v = v * 10 + (unsigned long)(*q - '0');
		if (v > max)
			return NULL;
	}
	*ret = v;
	return q;
}

bool vbd__verify_parse_path(const char *p, unsigned *domid, uint32_t *devid, size_t *dirlen,
                            bool *backend)
{
	static const char dom[] = "/local/domain/";
	const unsigned long maxdom = VBD_DOMID_FIRST_RESERVED - 1;
	unsigned long a, b, dev;
	const char *q;

	if (strncmp(p, dom, sizeof(dom) - 1) || !(q = num_at(p + sizeof(dom) - 1, maxdom, &a)))
		return false;
	/* Either kind of backend: vbd (phy) or vbd3 (tap). */
	if (!strncmp(q, "/backend/vbd/", 13) || !strncmp(q, "/backend/vbd3/", 14)) {
		q += q[12] == '/' ? 13 : 14;
		if (!(q = num_at(q, maxdom, &b)) || *q++ != '/' || !(q = num_at(q, UINT32_MAX, &dev)))
			return false;
		*domid = (unsigned)b;
		*backend = true;
	} else if (!strncmp(q, "/device/vbd/", 12)) {
		if (!(q = num_at(q + 12, UINT32_MAX, &dev)))
			return false;
		*domid = (unsigned)a;
		*backend = false;
	} else {
		return false;
	}
	if (*q && *q != '/')
		return false;
	*devid = (uint32_t)dev;
	*dirlen = (size_t)(q - p);
	return true;
}

void vbd__verify_emit(vbd__vsink *s, vbd_verify_event *e, bool unobserved_set)
{
	if (unobserved_set)
		;
	else if (e->v)
		e->unobserved = 0;
	else if (e->unseen)
		e->unobserved = (unsigned)__builtin_popcount(e->unseen);
	else if (e->old_state == e->new_state)
		e->unobserved = e->writes;    /* values between two equal reads */
	else
		e->unobserved = 0;
	e->writer = s->writer;
	e->seq = s->seq;
	e->time_ns = s->time_ns;
	if (e->v)
		s->violations++;
	vbd__vsink_deliver(s, e);
}

void vbd__vsink_deliver(const vbd__vsink *s, const vbd_verify_event *e)
{
	if (s->efn)
		s->efn(e, s->ud);
	else if (s->fn && (e->v || e->old_state != e->new_state))
		s->fn(e->domid, e->devid, e->side, e->old_state, e->new_state, e->v, s->ud);
}

void vbd__vactive_done(vbd__vactive *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

void vbd__verify_report_new(vbd__vsink *s, vbd__vactive *a, unsigned domid, uint32_t devid,
                            const vlist *l)
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
		for (j = 0; now[i] && j < a->n; j++)
			seen |= !strcmp(now[i], a->v[j]);
		if (!seen) {
			vbd_verify_event e = { .domid = domid, .devid = devid,
			                       .side = strstr(l->v[i].node, "/backend/") ? "backend"
			                                                                 : "frontend",
			                       .old_state = -1, .new_state = -1, .v = &l->v[i] };
			vbd__verify_emit(s, &e, false);
		}
	}
	vbd__vactive_done(a);
	a->v = now;
	a->n = l->n;
}

void vbd__verify_step(vbd__vsink *s, unsigned domid, uint32_t devid, bool backend, const char *dir,
                      int *prev, int now, unsigned writes, unsigned unseen, vlist *l)
{
	vbd_verify_event e = { .domid = domid, .devid = devid, .side = backend ? "backend" : "frontend",
	                       .old_state = *prev, .new_state = now, .writes = writes,
	                       .unseen = unseen };
	char node[224];

	vbd__verify_emit(s, &e, false);
	if (now != *prev && !vbd__verify_legal(backend, *prev, now)) {
		snprintf(node, sizeof(node), "%s/state", dir);
		add(l, backend ? "backend-transition" : "frontend-transition", node,
		    "%s -> %s is not a step of the protocol", vbd_state_name(*prev), vbd_state_name(now));
	}
	*prev = now;
}

/* The states each end passes through on the way the protocol describes
 * (docs/protocol.md): blkback 1 2 4 5 6, blkfront 1 3 4 6. */
#define PATH_BACKEND  (1u << 1 | 1u << 2 | 1u << 4 | 1u << 5 | 1u << 6)
#define PATH_FRONTEND (1u << 1 | 1u << 3 | 1u << 4 | 1u << 6)

/* Which states of the end's path lie between what was read last (from) and
 * now, and went unread: every end starts Initialising, so a first read of
 * anything else missed what came before; a removal after unread writes
 * missed them; and two or more writes between two reads of different
 * values passed states by.  One write from one value to another is a step
 * the end took (Mini-OS goes from Initialising to Connected). */
unsigned vbd__verify_unseen(bool backend, int from, int to, unsigned writes)
{
	unsigned path = backend ? PATH_BACKEND : PATH_FRONTEND, mask = 0;
	int lo = from < 0 ? 0 : from, hi = to < 0 ? VBD_STATE_CLOSED + 1 : to, s;

	if (from >= 0 && to >= 0 && writes == 1)
		return 0;
	if (from >= 0 && to < 0 && writes == 0)
		return 0;
	if (from < 0 && to < 0)
		return 0;      /* written and removed between two reads: values unknown */
	for (s = lo + 1; s < hi; s++)
		mask |= path & (1u << s);
	return mask;
}
