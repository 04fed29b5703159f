/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bus's watches (bus.c runs the loop): a table by id, so that an
 * event's token finds its watch in one step; the list the loop sets again
 * on a new connection; the idle ones a driver released for a later take
 * of the same path; and takes whose WATCH rides a caller's batch.
 *
 *     vbd__xb_watch_take_rec(bus, b, ".../state", fn, ud, &w, &fresh)
 *       -> w in the table, WATCH ".../state" "vbd-7" recorded in b
 *     vbd__xb_bus_fetch(bus, b, NULL)           the WATCH among b's reads
 *     vbd__xb_watch_sent(bus, w)                -> in the list: true
 *
 * A removed watch is only marked dead, and freed by the loop's reap once
 * no callback runs (bus.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "xenbus/xenbus.h"

struct vbd_bus_watch {
	vbd__xb_watch *next;
	vbd__xb_watch *hnext;       /* in the bus's table by id */
	unsigned id;                /* the token is "vbd-<id>" */
	char token[24];
	char *path;
	vbd__xb_watch_fn fn;        /* NULL while kept idle */
	void *ud;
	bool dead;
	vbd__xb_watch *inext;       /* in the bus's idle list, oldest first */
	/* Its WATCH in a caller's batch (vbd__xb_watch_take_rec): in the
	 * table, not yet in the list; answer 0 once the WATCH succeeded, 1
	 * while unanswered. */
	bool pending;
	int answer;
};

static void wtab_remove(vbd_bus *bus, vbd__xb_watch *w)
{
	vbd__xb_watch **pp;

	if (!bus->wtab_size)
		return;
	for (pp = &bus->wtab[w->id & (bus->wtab_size - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == w) {
			*pp = w->hnext;
			bus->nwatches--;
			return;
		}
}

/* Adds w to the table, doubling it past two entries a bucket. */
static int wtab_add(vbd_bus *bus, vbd__xb_watch *w)
{
	if (bus->nwatches + 1 > 2 * bus->wtab_size) {
		unsigned size = bus->wtab_size ? 2 * bus->wtab_size : 64, i;
		vbd__xb_watch **t = calloc(size, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (i = 0; i < bus->wtab_size; i++) {
			vbd__xb_watch *x, *next;

			for (x = bus->wtab[i]; x; x = next) {
				next = x->hnext;
				x->hnext = t[x->id & (size - 1)];
				t[x->id & (size - 1)] = x;
			}
		}
		free(bus->wtab);
		bus->wtab = t;
		bus->wtab_size = size;
	}
	w->hnext = bus->wtab[w->id & (bus->wtab_size - 1)];
	bus->wtab[w->id & (bus->wtab_size - 1)] = w;
	bus->nwatches++;
	return 0;
}

static vbd__xb_watch *wtab_find(vbd_bus *bus, const char *token)
{
	vbd__xb_watch *w;
	unsigned long id;
	char *end;

	if (strncmp(token, "vbd-", 4) || !bus->wtab_size)
		return NULL;
	id = strtoul(token + 4, &end, 10);
	if (*end)
		return NULL;
	for (w = bus->wtab[id & (bus->wtab_size - 1)]; w; w = w->hnext)
		if (w->id == id && !w->dead)
			return w;
	return NULL;
}

void vbd__xb_watch_fired(const char *path, const char *token, uint64_t seq, void *ud)
{
	vbd_bus *bus = ud;
	vbd__xb_watch *w = wtab_find(bus, token);
	uint64_t outer = bus->ev_seq;

	if (w && w->fn) {
		bus->ev_seq = seq;
		w->fn(path, w->ud);
		bus->ev_seq = outer;
	}
}


/* Frees the dead watches (the loop's reap). */
void vbd__xb_watches_reap(vbd_bus *bus)
{
	vbd__xb_watch **pw = &bus->watches, *w;

	while ((w = *pw)) {
		if (w->dead) {
			*pw = w->next;
			free(w->path);
			free(w);
		} else {
			pw = &w->next;
		}
	}
}

void vbd__xb_watches_end(vbd_bus *bus)
{
	vbd__xb_watch *w;

	for (w = bus->watches; w; w = w->next)
		w->dead = true;
	vbd__xb_watches_reap(bus);
	free(bus->wtab);
	bus->wtab = NULL;
	bus->wtab_size = 0;
}

int vbd__xb_watches_set(vbd_bus *bus, vbd__xb_wire *w)
{
	vbd__xb_watch *x;
	int r;

	for (x = bus->watches; x; x = x->next) {
		if (x->dead)
			continue;
		if ((r = vbd__xbw_watch(w, x->path, x->token)) < 0) {
			vbd__xb_log(bus, VBD_LOG_ERR, "watching %s again on a new connection: %s",
			            x->path, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* Out of the idle list, if there. */
static void idle_unlink(vbd_bus *bus, vbd__xb_watch *w)
{
	vbd__xb_watch **pp;

	for (pp = &bus->idle; *pp; pp = &(*pp)->inext)
		if (*pp == w) {
			*pp = w->inext;
			w->inext = NULL;
			bus->nidle--;
			return;
		}
}

/* A watch of path in the table, not yet set: NULL if out of memory. */
static vbd__xb_watch *watch_new(vbd_bus *bus, const char *path, vbd__xb_watch_fn fn, void *ud)
{
	vbd__xb_watch *w = calloc(1, sizeof(*w));

	if (!w || !(w->path = strdup(path))) {
		free(w);
		return NULL;
	}
	w->id = ++bus->next_token;
	snprintf(w->token, sizeof(w->token), "vbd-%u", w->id);
	w->fn = fn;
	w->ud = ud;
	/* In the table first: the watch fires as soon as it is set. */
	if (wtab_add(bus, w) < 0) {
		free(w->path);
		free(w);
		return NULL;
	}
	return w;
}

static void watch_free(vbd_bus *bus, vbd__xb_watch *w)
{
	wtab_remove(bus, w);
	free(w->path);
	free(w);
}

int vbd__xb_watch_add(vbd_bus *bus, const char *path, vbd__xb_watch_fn fn, void *ud,
                      vbd_errbuf *err, vbd__xb_watch **ret)
{
	vbd__xb_watch *w = watch_new(bus, path, fn, ud);
	vbd__xb_wire *wire;
	int r;

	if (!w)
		return vbd__errf(err, -ENOMEM, "watching %s: out of memory", path);
	if ((r = vbd__xb_bus_wire(bus, &wire)) < 0 ||
	    (r = vbd__xbw_watch(wire, path, w->token)) < 0) {
		watch_free(bus, w);
		return vbd__errf(err, r, "watching %s: %s", path, strerror(-r));
	}
	w->next = bus->watches;
	bus->watches = w;
	if (ret)
		*ret = w;
	return 0;
}

void vbd__xb_watch_remove(vbd_bus *bus, vbd__xb_watch *w)
{
	if (!w || w->dead)
		return;
	if (!w->fn)
		idle_unlink(bus, w);
	if (!bus->closing && bus->wire && !vbd__xb_wire_broken(bus->wire))
		(void)vbd__xbw_unwatch(bus->wire, w->path, w->token);
	wtab_remove(bus, w);
	w->dead = true;
	bus->ndead++;
	if (!bus->depth)
		vbd__xb_bus_reap(bus);
}

/* Every idle watch removed for real: what a refused watch may need. */
static void idle_drop(vbd_bus *bus)
{
	vbd__xb_watch *w;

	while ((w = bus->idle)) {
		idle_unlink(bus, w);
		vbd__xb_watch_remove(bus, w);
	}
}

void vbd__xb_watch_release(vbd_bus *bus, vbd__xb_watch *w)
{
	vbd__xb_watch **pp;

	if (!w || w->dead || !w->fn)
		return;
	if (bus->nidle >= VBD__XB_IDLE_MAX) {
		vbd__xb_watch *old = bus->idle;

		idle_unlink(bus, old);
		vbd__xb_watch_remove(bus, old);
	}
	w->fn = NULL;
	w->ud = NULL;
	for (pp = &bus->idle; *pp; pp = &(*pp)->inext)
		;
	*pp = w;
	w->inext = NULL;
	bus->nidle++;
}

/* An idle watch of path, out of the idle list for fn: or NULL. */
static vbd__xb_watch *idle_take(vbd_bus *bus, const char *path, vbd__xb_watch_fn fn, void *ud)
{
	vbd__xb_watch *w;

	for (w = bus->idle; w; w = w->inext)
		if (!strcmp(w->path, path))
			break;
	if (w) {
		idle_unlink(bus, w);
		w->fn = fn;
		w->ud = ud;
	}
	return w;
}

int vbd__xb_watch_take(vbd_bus *bus, const char *path, vbd__xb_watch_fn fn, void *ud,
                       vbd_errbuf *err, vbd__xb_watch **ret, bool *fresh)
{
	vbd__xb_watch *w = idle_take(bus, path, fn, ud);
	int r;

	*fresh = !w;
	if (w) {
		if (ret)
			*ret = w;
		return 0;
	}
	r = vbd__xb_watch_add(bus, path, fn, ud, err, ret);
	if (r < 0 && r != -ENOMEM && bus->nidle) {
		/* A domain's watches are counted against a quota: the idle
		 * ones give way. */
		idle_drop(bus);
		r = vbd__xb_watch_add(bus, path, fn, ud, err, ret);
	}
	return r;
}

/* The WATCH's answer, as its batch reads it. */
static int watch_answered(const char *val, int err, void *ud)
{
	vbd__xb_watch *w = ud;

	(void)val;
	w->answer = err;
	return 0;       /* the batch's other requests go on either way */
}

int vbd__xb_watch_take_rec(vbd_bus *bus, vbd__xb_batch *b, const char *path,
                           vbd__xb_watch_fn fn, void *ud, vbd__xb_watch **ret, bool *fresh)
{
	vbd__xb_watch *w = idle_take(bus, path, fn, ud);
	int r;

	*fresh = !w;
	if (!w) {
		if (!(w = watch_new(bus, path, fn, ud)))
			return -ENOMEM;
		w->pending = true;
		w->answer = 1;
		r = vbd__xb_batch_watch(b, path, w->token, watch_answered, w);
		if (r < 0) {
			watch_free(bus, w);
			return r;
		}
	}
	*ret = w;
	return 0;
}

bool vbd__xb_watch_sent(vbd_bus *bus, vbd__xb_watch *w)
{
	if (!w->pending)
		return true;
	w->pending = false;
	if (w->answer == 0) {
		w->next = bus->watches;
		bus->watches = w;
		return true;
	}
	/* Unanswered (the batch failed before it): set, maybe, on a
	 * connection that is still up. */
	if (w->answer > 0 && bus->wire && !vbd__xb_wire_broken(bus->wire))
		(void)vbd__xbw_unwatch(bus->wire, w->path, w->token);
	watch_free(bus, w);
	return false;
}

int vbd_bus_watch_add(vbd_bus *bus, const char *path, vbd_bus_watch_fn fn, void *userdata,
                      vbd_bus_watch **ret, vbd_errbuf *err)
{
	if (!bus || !path || !fn)
		return vbd__errf(err, -EINVAL, "vbd_bus_watch_add: no %s",
		                 !bus ? "bus" : !path ? "path" : "callback");
	if (!*path || strlen(path) > XENSTORE_ABS_PATH_MAX)
		return vbd__errf(err, -EINVAL, "vbd_bus_watch_add: bad path");
	return vbd__xb_watch_add(bus, path, fn, userdata, err, ret);
}

vbd_bus_watch *vbd_bus_watch_remove(vbd_bus *bus, vbd_bus_watch *w)
{
	if (bus)
		vbd__xb_watch_remove(bus, w);
	return NULL;
}
