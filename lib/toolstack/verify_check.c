/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The checker: judges a device's whole history from a change stream (rules
 * in vbd/verify.h, run by the code the follower runs: verify_rules.h).
 *
 * Example: the stream says, in order,
 *     #1 dom0  WRITE /local/domain/0/backend/vbd/3/51712/state = 1
 *     #2 dom3  WRITE /local/domain/3/device/vbd/51712/state = 1
 *     #3 dom0  WRITE /local/domain/0/backend/vbd/3/51712/state = 2
 *     #4 dom3  WRITE /local/domain/3/device/vbd/51712/state = 4
 *     #5 dom3  WRITE /local/domain/3/device/vbd/51712/state = 3
 * The checker keeps a copy of both directories of device (3, 51712) built
 * from these alone.  #4 is reported as the frontend's step 1 -> 4 (legal:
 * Mini-OS skips Initialised), then ring-keys (Connected without ring-ref),
 * then #5 as 4 -> 3, a frontend-transition violation.  A follower that
 * read the store after #5 would have seen 1 -> 3 and nothing wrong.
 *
 * A change it cannot see (LOST) leaves each device then present "not seen
 * whole": reported once with unobserved 1, its states taken as unknown, and
 * from then on only the rules on one node's value (and the steps from the
 * next state seen) run on it, since its copy may miss a node written in the
 * gap.  An end first seen past Initialising is not whole either: the states
 * before it are counted unseen, as a follower's first read does.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/verify_rules.h"
#include "vbd/verify.h"

/* Bounds on what a stream (another domain's writes, a log) can make the
 * checker hold. */
#define MAX_DEVICES     16384
#define MAX_NODES       1024     /* per end */
#define MAX_VALUE       4096     /* xenstore's payload limit */
#define MAX_PATH        3072     /* xenstore's absolute path limit, and then some */

typedef struct cnode {
	char *rel;                   /* below the end's directory: "" for itself */
	char *val;                   /* NUL-terminated copy, NULs inside as 0x7f */
} cnode;

typedef struct cend {
	char *dir;                   /* NULL: no node of this end held */
	cnode *n;
	size_t nn, cap;
	int state;                   /* last state seen: -1 absent or unknown, -2 not a state */
	bool whole;                  /* every change since its creation seen */
} cend;

typedef struct cdev {
	struct cdev *next;
	unsigned domid;
	uint32_t devid;
	cend e[2];                   /* backend, frontend */
	char fe_dir[64];             /* where the frontend lives, known from the ids */
	bool pending;                /* a change waits for the end of its commit */
	bool be_dom_gone;            /* the backend's domain directory was removed */
	vbd__vactive active;
} cdev;

struct vbd_checker {
	int domid;                   /* -1: all */
	int toolstack;
	vbd__vsink sink;
	cdev *devs, **tail;
	unsigned ndevs;
	vbd_checker_summary sum;
};

static void end_clear(cend *e)
{
	size_t i;

	for (i = 0; i < e->nn; i++) {
		free(e->n[i].rel);
		free(e->n[i].val);
	}
	free(e->n);
	free(e->dir);
	memset(e, 0, sizeof(*e));
	e->state = -1;
}

static void dev_free(cdev *d)
{
	end_clear(&d->e[0]);
	end_clear(&d->e[1]);
	vbd__vactive_done(&d->active);
	free(d);
}

static cnode *node_find(cend *e, const char *rel)
{
	size_t i;

	for (i = 0; i < e->nn; i++)
		if (!strcmp(e->n[i].rel, rel))
			return &e->n[i];
	return NULL;
}

/* The checker's side of the reader seam: its copy. */
static char *copy_read(void *ud, const char *path)
{
	cdev *d = ud;
	int i;

	for (i = 0; i < 2; i++) {
		cend *e = &d->e[i];
		size_t n = e->dir ? strlen(e->dir) : 0;
		cnode *c;

		if (!e->dir || strncmp(path, e->dir, n) || (path[n] && path[n] != '/'))
			continue;
		c = node_find(e, path[n] ? path + n + 1 : "");
		return c ? strdup(c->val) : NULL;
	}
	return NULL;
}

/* The device's backend directory for the rules: where it was seen, or a
 * name nothing is held under. */
static const char *be_dir(const cdev *d)
{
	return d->e[0].dir ? d->e[0].dir : "(backend not seen)";
}

static void check_nodes(vbd_checker *k, cdev *d)
{
	vbd__vreader rd = { copy_read, d };
	vbd__vlist l = { NULL, 0, 0 };
	/* An end never seen holds nothing a rule could take for missing. */
	bool whole = (d->e[0].whole || !d->e[0].dir) && (d->e[1].whole || !d->e[1].dir);

	/* state-value is judged when the state is written (judge_state()). */
	vbd__verify_static(&rd, be_dir(d), d->fe_dir, d->e[0].state, d->e[1].state, whole, &l);
	vbd__verify_report_new(&k->sink, &d->active, d->domid, d->devid, &l);
	free(l.v);
	d->pending = false;
}

static void report_now(vbd_checker *k, cdev *d, vbd__vlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		vbd_verify_event e = { .domid = d->domid, .devid = d->devid,
		                       .side = strstr(l->v[i].node, "/backend/") ? "backend" : "frontend",
		                       .old_state = -1, .new_state = -1, .v = &l->v[i] };

		vbd__verify_emit(&k->sink, &e, false);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* The writer rule on a write of end's state (value s, after prev): who may
 * write it.  The toolstack's domain creates an end (Initialising), closes a
 * backend (Closing) and, once the backend's domain is gone, closes it for
 * good (Closed).  A backend in the toolstack's own domain cannot be told
 * apart from it: allowed. */
static void judge_writer(vbd_checker *k, cdev *d, bool backend, unsigned owner, int prev, int s,
                         const char *path, vbd__vlist *l)
{
	int w = k->sink.writer;

	if (w < 0 || (unsigned)w == owner)
		return;
	if (w == k->toolstack) {
		if (s == 1 && prev == -1)
			return;
		if (backend && (s == 5 || (s == 6 && d->be_dom_gone)))
			return;
		vbd__vlist_add(l, "writer", path, "the toolstack's domain %d wrote %s (after %s): %s", w,
		               vbd_state_name(s), vbd_state_name(prev),
		               backend ? "only the backend's domain moves its state on"
		                       : "a frontend's state is its driver's");
		return;
	}
	vbd__vlist_add(l, "writer", path, "domain %d wrote %s; only the %s's domain %u writes it", w,
	               s >= 0 ? vbd_state_name(s) : "a state", backend ? "backend" : "frontend", owner);
}

/* The end's state now, after a change to it: the step judged. */
static void judge_state(vbd_checker *k, cdev *d, int i, bool written, unsigned owner)
{
	cend *e = &d->e[i];
	bool backend = i == 0;
	const char *dir = backend ? be_dir(d) : d->fe_dir;
	vbd__vreader rd = { copy_read, d };
	vbd__vlist l = { NULL, 0, 0 };
	int now = vbd__verify_state_of(&rd, dir, &l), prev = e->state;
	char path[MAX_PATH + 16];
	unsigned unseen = 0;

	snprintf(path, sizeof(path), "%s/state", dir);
	if (written)
		judge_writer(k, d, backend, owner, prev, now, path, &l);
	if (now < -1 || prev < -1) {
		/* Not a state (state-value says so): kept out of the steps, as the
		 * follower does; the next state is a step from the last one. */
		report_now(k, d, &l);
		return;
	}
	if (now == prev) {
		/* A state written again: seen, so nothing unobserved. */
		vbd_verify_event ev = { .domid = d->domid, .devid = d->devid,
		                        .side = backend ? "backend" : "frontend", .old_state = prev,
		                        .new_state = now, .writes = 1 };

		vbd__verify_emit(&k->sink, &ev, true);
	} else {
		/* Every end starts Initialising: one first seen further on came
		 * through states this stream did not carry (or did before a loss). */
		if (prev == -1 && now > 1) {
			unseen = vbd__verify_unseen(backend, -1, now, 0);
			e->whole = false;
		}
		vbd__verify_step(&k->sink, d->domid, d->devid, backend, dir, &e->state, now, 1, unseen,
		                 &l);
		k->sum.unobserved += (unsigned)__builtin_popcount(unseen);
	}
	report_now(k, d, &l);
}

static cdev *dev_get(vbd_checker *k, unsigned domid, uint32_t devid, bool create)
{
	cdev *d;

	for (d = k->devs; d; d = d->next)
		if (d->domid == domid && d->devid == devid)
			return d;
	if (!create || k->ndevs >= MAX_DEVICES)
		return NULL;
	if (!(d = calloc(1, sizeof(*d))))
		return NULL;
	d->domid = domid;
	d->devid = devid;
	d->e[0].state = d->e[1].state = -1;
	snprintf(d->fe_dir, sizeof(d->fe_dir), "/local/domain/%u/device/vbd/%u", domid, devid);
	*k->tail = d;
	k->tail = &d->next;
	k->ndevs++;
	k->sum.devices++;
	return d;
}

/* Forgets a device both of whose ends are gone: a new one of the same ids
 * starts afresh. */
static void dev_forget_if_gone(vbd_checker *k, cdev *d)
{
	cdev **pp;

	if (d->e[0].dir || d->e[1].dir)
		return;
	for (pp = &k->devs; *pp != d; pp = &(*pp)->next)
		;
	*pp = d->next;
	if (k->tail == &d->next)
		k->tail = pp;
	k->ndevs--;
	dev_free(d);
}

/* Removes rel and everything under it from the end ("": the whole end);
 * true if its state went with it. */
static bool end_rm(cend *e, const char *rel)
{
	size_t i = 0, n = strlen(rel);
	bool state = false;

	if (!n) {
		int last = e->state;   /* the step to absent is judged from it */

		state = node_find(e, "state") != NULL;
		end_clear(e);
		e->state = last;
		return state;
	}
	while (i < e->nn) {
		const char *r = e->n[i].rel;

		if (!strncmp(r, rel, n) && (r[n] == 0 || r[n] == '/')) {
			state |= !strcmp(r, "state");
			free(e->n[i].rel);
			free(e->n[i].val);
			e->n[i] = e->n[--e->nn];
			continue;
		}
		i++;
	}
	return state;
}

/* Sets rel = value in the end, creating the end: 0, or -ENOSPC past the
 * bounds, -ENOMEM. */
static int end_set(cend *e, const char *dir, size_t dirlen, const char *rel, const char *v,
                   size_t len)
{
	cnode *c;
	char *copy;
	size_t i;

	if (!e->dir) {
		if (!(e->dir = strndup(dir, dirlen)))
			return -ENOMEM;
		e->whole = true;   /* created now: seen whole so far */
	}
	if (len > MAX_VALUE)
		len = MAX_VALUE;
	if (!(copy = malloc(len + 1)))
		return -ENOMEM;
	for (i = 0; i < len; i++)
		copy[i] = v[i] ? v[i] : 0x7f;
	copy[len] = 0;
	if ((c = node_find(e, rel))) {
		if (!v) {          /* MKDIR of what exists: nothing changes */
			free(copy);
			return 0;
		}
		free(c->val);
		c->val = copy;
		return 0;
	}
	if (e->nn >= MAX_NODES) {
		free(copy);
		return -ENOSPC;
	}
	if (e->nn == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		cnode *nn = realloc(e->n, cap * sizeof(*nn));

		if (!nn) {
			free(copy);
			return -ENOMEM;
		}
		e->n = nn;
		e->cap = cap;
	}
	if (!(e->n[e->nn].rel = strdup(rel))) {
		free(copy);
		return -ENOMEM;
	}
	e->n[e->nn++].val = copy;
	return 0;
}

/* A device the checker could not follow on: reported as not seen whole. */
static void lose(vbd_checker *k, cdev *d, unsigned count)
{
	vbd_verify_event ev = { .domid = d->domid, .devid = d->devid, .side = "backend",
	                        .old_state = d->e[0].state, .new_state = d->e[0].state,
	                        .unobserved = count };
	int i;

	for (i = 0; i < 2; i++)
		if (d->e[i].dir) {
			d->e[i].whole = false;
			if (d->e[i].state >= 0)
				d->e[i].state = -1;   /* unknown: the next one seen starts afresh */
		}
	k->sum.unobserved += count;
	vbd__verify_emit(&k->sink, &ev, true);
}

/* RM of a path above devices' ends: each end under it goes. */
static void rm_above(vbd_checker *k, const char *path)
{
	size_t n = strlen(path);
	cdev *d, *next;
	int i;

	while (n > 0 && path[n - 1] == '/')
		n--;
	for (d = k->devs; d; d = next) {
		next = d->next;
		/* The backend's domain's own directory: its driver is gone. */
		if (d->e[0].dir && !strncmp(d->e[0].dir, path, n) && d->e[0].dir[n] == '/' &&
		    !strncmp(d->e[0].dir + n, "/backend/", 9))
			d->be_dom_gone = true;
		for (i = 0; i < 2; i++) {
			cend *e = &d->e[i];

			if (!e->dir || strncmp(e->dir, path, n) || e->dir[n] != '/')
				continue;
			if (end_rm(e, ""))
				judge_state(k, d, i, false, 0);
			d->pending = true;
		}
		if (d->pending && !d->e[0].dir && !d->e[1].dir) {
			check_nodes(k, d);
			dev_forget_if_gone(k, d);
		}
	}
}

static void run_pending(vbd_checker *k)
{
	cdev *d, *next;

	for (d = k->devs; d; d = next) {
		next = d->next;
		if (d->pending) {
			check_nodes(k, d);
			dev_forget_if_gone(k, d);
		}
	}
}

int vbd_checker_new(vbd_domid domid, vbd_domid toolstack_domid, vbd_verify_event_fn fn,
                    void *userdata, vbd_checker **ret)
{
	vbd_checker *k;

	if (!fn || !ret || (domid != VBD_DOMID_ALL && domid >= VBD_DOMID_FIRST_RESERVED) ||
	    toolstack_domid >= VBD_DOMID_FIRST_RESERVED)
		return -EINVAL;
	if (!(k = calloc(1, sizeof(*k))))
		return -ENOMEM;
	k->domid = domid == VBD_DOMID_ALL ? -1 : (int)domid;
	k->toolstack = (int)toolstack_domid;
	k->sink.efn = fn;
	k->sink.ud = userdata;
	k->sink.writer = -1;
	k->tail = &k->devs;
	k->sum.size = sizeof(k->sum);
	*ret = k;
	return 0;
}

int vbd_checker_feed(vbd_checker *k, const vbd_change *ch)
{
	unsigned domid, owner;
	uint32_t devid;
	size_t dirlen, plen;
	bool backend;
	cdev *d;
	cend *e;
	const char *rel;
	int i, r = 0;

	if (!k || !ch || ch->op < VBD_CHANGE_WRITE || ch->op > VBD_CHANGE_LOST ||
	    (ch->op != VBD_CHANGE_LOST && (!ch->path || ch->path[0] != '/')) ||
	    (ch->op == VBD_CHANGE_WRITE && !ch->value && ch->value_len))
		return -EINVAL;
	k->sink.writer = ch->writer < 0 || ch->writer >= (int)VBD_DOMID_FIRST_RESERVED ? -1 : ch->writer;
	k->sink.seq = ch->seq;
	k->sink.time_ns = ch->time_ns;
	if (ch->op == VBD_CHANGE_LOST) {
		k->sum.lost += ch->lost;
		for (d = k->devs; d; d = d->next)
			lose(k, d, 1);
		goto out;
	}
	plen = strnlen(ch->path, MAX_PATH + 1);
	if (plen > MAX_PATH)
		goto out;          /* past xenstore's limit: not a node it holds */
	if (!vbd__verify_parse_path(ch->path, &domid, &devid, &dirlen, &backend)) {
		if (ch->op == VBD_CHANGE_RM)
			rm_above(k, ch->path);
		goto out;
	}
	if (k->domid >= 0 && domid != (unsigned)k->domid)
		goto out;
	i = backend ? 0 : 1;
	rel = ch->path[dirlen] ? ch->path + dirlen + 1 : "";
	if (!(d = dev_get(k, domid, devid, ch->op != VBD_CHANGE_RM))) {
		if (ch->op != VBD_CHANGE_RM)
			k->sum.unobserved++;   /* past MAX_DEVICES: said, not judged */
		goto out;
	}
	e = &d->e[i];
	/* A second backend directory for one frontend device (vbd and vbd3)
	 * while the first is held: not this device's. */
	if (e->dir && (strncmp(e->dir, ch->path, dirlen) || e->dir[dirlen]))
		goto out;
	/* The backend's domain: the number after /local/domain/. */
	owner = backend ? (unsigned)strtoul(ch->path + 14, NULL, 10) : domid;
	if (ch->op == VBD_CHANGE_RM) {
		if (!e->dir)
			goto out;
		if (end_rm(e, rel))
			judge_state(k, d, i, false, owner);   /* a removal is no write of a state */
		d->pending = true;
		goto out;
	}
	r = end_set(e, ch->path, dirlen, rel, ch->op == VBD_CHANGE_WRITE ? (ch->value ? ch->value : "")
	                                                                 : NULL,
	            ch->op == VBD_CHANGE_WRITE ? ch->value_len : 0);
	if (r == -ENOSPC) {
		lose(k, d, 1);     /* a node it cannot hold: the copy is no longer whole */
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	if (!strcmp(rel, "state") && ch->op == VBD_CHANGE_WRITE)
		judge_state(k, d, i, true, owner);
	d->pending = true;
out:
	if (!ch->more)
		run_pending(k);
	return r;
}

int vbd_checker_summary_get(const vbd_checker *k, vbd_checker_summary *ret)
{
	vbd_checker_summary s;

	if (!k || !ret || ret->size < sizeof(ret->size))
		return -EINVAL;
	s = k->sum;
	s.violations = k->sink.violations;
	s.size = ret->size < sizeof(s) ? ret->size : sizeof(s);
	memcpy(ret, &s, s.size);
	return 0;
}

vbd_checker *vbd_checker_free(vbd_checker *k)
{
	if (!k)
		return NULL;
	while (k->devs) {
		cdev *d = k->devs;

		k->devs = d->next;
		dev_free(d);
	}
	free(k);
	return NULL;
}
