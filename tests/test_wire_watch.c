/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Watches on the wire client's connection (lib/xenbus/wire.c) and the bus
 * that runs them (lib/xenbus/bus.c): events that arrive while a request
 * waits for its reply are kept, in order, and run after it; without a
 * wait they are read as they come; the bus's fd shows events a wait has read although the
 * socket is empty (its kick); a connection that breaks is replaced with
 * every watch set again; and what is not an event where only events may
 * come, or an event without its token, closes the connection.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "store_fixture.h"
#include "vbd/bus.h"
#include "xenbus/xenbus.h"
#include "xenbus/xs_batch_internal.h"   /* vbd__xbw_fail() */

#define K 30   /* nodes written while the watcher waits */

struct fx {
	vbd_test_store t;
	struct xs_handle *h;   /* libxenstore: the writer */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(vbd_test_store_start(&f->t, NULL), 0);
	assert_non_null(f->h = vbd_test_xs_open(&f->t, 0));
	assert_true(xs_write(f->h, XBT_NULL, "/w", "", 0));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	xs_close(f->h);
	vbd_test_store_stop(&f->t);
	free(f);
	return 0;
}

static void write_keys(struct fx *f, unsigned k)
{
	unsigned i;

	for (i = 0; i < k; i++) {
		char p[32], v[16];

		snprintf(p, sizeof(p), "/w/k%u", i);
		snprintf(v, sizeof(v), "%u", i);
		assert_true(xs_write(f->h, XBT_NULL, p, v, strlen(v)));
	}
}

struct seen {
	unsigned n;
	char path[K + 8][32];
	char token[K + 8][16];
	uint64_t seq[K + 8];
};

static void saw(const char *path, const char *token, uint64_t seq, void *ud)
{
	struct seen *s = ud;

	assert_true(s->n < K + 8);
	snprintf(s->path[s->n], sizeof(s->path[0]), "%s", path);
	snprintf(s->token[s->n], sizeof(s->token[0]), "%s", token);
	s->seq[s->n] = seq;
	s->n++;
}

static int read_check(const char *val, int err, void *ud)
{
	(void)ud;
	assert_int_equal(err, 0);
	assert_string_equal(val, "0");
	return 0;
}

/* K events reach the watcher before the reply to its read: the read gets
 * its answer, the connection stays whole, and the events come after it,
 * the watch's own first and then every write's in order. */
static void test_events_met_by_a_wait_are_kept(void **state)
{
	struct fx *f = *state;
	struct seen s = { 0 };
	vbd__xb_wire *w;
	vbd__xb_batch *b;
	unsigned i;

	assert_int_equal(vbd__xb_wire_open(f->t.socket, &w), 0);
	assert_int_equal(vbd__xbw_watch(w, "/w", "tok-1"), 0);
	assert_int_equal(vbd__xbw_replies(w), 1);
	write_keys(f, K);
	assert_int_equal(vbd__xb_batch_new(&b), 0);
	assert_int_equal(vbd__xb_batch_check(b, "/w/k0", read_check, NULL), 0);
	assert_int_equal(vbd__xb_batch_fetch(w, b, NULL), 0);
	assert_false(vbd__xb_wire_broken(w));
	assert_true(vbd__xbw_pending(w));
	assert_int_equal(vbd__xbw_events(w, saw, &s), K + 1);
	assert_string_equal(s.path[0], "/w");
	for (i = 0; i < K; i++) {
		char p[32];

		snprintf(p, sizeof(p), "/w/k%u", i);
		assert_string_equal(s.path[i + 1], p);
		assert_string_equal(s.token[i + 1], "tok-1");
		/* Each came before the read's reply, the second: the read
		 * saw its change. */
		assert_true(s.seq[i + 1] <= 1);
	}
	assert_int_equal(vbd__xbw_replies(w), 2);
	assert_false(vbd__xbw_pending(w));
	assert_int_equal(vbd__xbw_events(w, saw, &s), 0);
	/* Unwatched: a write fires nothing. */
	assert_int_equal(vbd__xbw_unwatch(w, "/w", "tok-1"), 0);
	write_keys(f, 1);
	assert_int_equal(vbd__xbw_events(w, saw, &s), 0);
	vbd__xb_batch_free(b);
	vbd__xb_wire_free(w);
}

/* With no request waiting, events are read as they arrive, whatever a
 * read() holds of them, in order; a call with nothing there returns 0
 * without waiting. */
static void test_events_without_a_wait(void **state)
{
	struct fx *f = *state;
	struct seen s = { 0 };
	vbd__xb_wire *w;
	int tries, r;

	assert_int_equal(vbd__xb_wire_open(f->t.socket, &w), 0);
	assert_int_equal(vbd__xbw_watch(w, "/w", "t"), 0);
	write_keys(f, K);
	for (tries = 0; tries < 500 && s.n < K + 1; tries++) {
		struct pollfd p = { vbd__xbw_fd(w), POLLIN, 0 };

		poll(&p, 1, 10);
		assert_true((r = vbd__xbw_events(w, saw, &s)) >= 0);
	}
	assert_int_equal(s.n, K + 1);
	assert_string_equal(s.path[K], "/w/k29");
	assert_int_equal(vbd__xbw_events(w, saw, &s), 0);
	assert_false(vbd__xb_wire_broken(w));
	vbd__xb_wire_free(w);
}

static void bus_saw(const char *path, void *ud)
{
	struct seen *s = ud;

	saw(path, "", 0, s);
}

static void process_until(vbd_bus *bus, struct seen *s, unsigned n)
{
	int tries;

	for (tries = 0; tries < 500 && s->n < n; tries++) {
		struct pollfd p = { vbd_bus_get_fd(bus), POLLIN, 0 };

		poll(&p, 1, 10);
		assert_true(vbd_bus_process(bus) >= 0);
	}
	assert_int_equal(s->n, n);
}

/* A bus on the fixture's store watching /w with fn(ud), its first event
 * (the watch's own) run: on *seen (ud's, or ud itself). */
static vbd_bus *bus_watching(struct fx *f, vbd_bus_watch_fn fn, void *ud, struct seen *seen,
                             vbd_bus_watch **bw)
{
	vbd_bus_options o = VBD_BUS_OPTIONS_INIT;
	vbd_errbuf err = { "" };
	vbd_bus *bus;

	o.xenstored_path = f->t.socket;
	assert_int_equal(vbd_bus_new(&bus, &o, &err), 0);
	assert_int_equal(vbd_bus_watch_add(bus, "/w", fn, ud, bw, &err), 0);
	process_until(bus, seen, 1);
	return bus;
}

/* Events a request's wait read off the socket leave the socket empty: the
 * bus's fd shows them all the same, and its process() runs them. */
static void test_bus_fd_shows_events_a_wait_took(void **state)
{
	struct fx *f = *state;
	struct seen s = { 0 };
	vbd_bus_watch *bw;
	vbd_bus *bus = bus_watching(f, bus_saw, &s, &s, &bw);
	vbd__xb_batch *b;
	struct pollfd p;

	write_keys(f, 5);
	assert_int_equal(vbd__xb_batch_new(&b), 0);
	assert_int_equal(vbd__xb_batch_check(b, "/w/k0", read_check, NULL), 0);
	assert_int_equal(vbd__xb_bus_fetch(bus, b, NULL), 0);
	vbd__xb_batch_free(b);
	p = (struct pollfd){ vbd__xbw_fd(bus->wire), POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 0), 0);          /* the socket: nothing */
	p = (struct pollfd){ vbd_bus_get_fd(bus), POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 0), 1);          /* the bus: something */
	assert_int_equal(vbd_bus_process(bus), 5);
	assert_string_equal(s.path[5], "/w/k4");
	vbd_bus_watch_remove(bus, bw);
	vbd_bus_unref(bus);
}

struct before {
	vbd_bus *bus;
	uint64_t mark;
	struct seen s;
	bool before[4];
};

static void note_before(const char *path, void *ud)
{
	struct before *b = ud;

	if (b->s.n < 4 && b->bus)     /* the bus is known from the second */
		b->before[b->s.n] = vbd__xb_bus_event_before(b->bus, b->mark);
	saw(path, "", 0, &b->s);
}

/* An event that came before a read's reply is one the read saw: k0's,
 * written before the read was sent; k1's, written after its reply, is
 * news.  Outside a callback, nothing is "before". */
static void test_event_before_a_read(void **state)
{
	struct fx *f = *state;
	struct before b = { NULL, 0, { 0 }, { false } };
	vbd_bus_watch *bw;
	vbd__xb_batch *bt;

	b.bus = bus_watching(f, note_before, &b, &b.s, &bw);
	assert_false(vbd__xb_bus_event_before(b.bus, UINT64_MAX - 1));
	b.mark = vbd__xb_bus_replies(b.bus);
	write_keys(f, 1);
	assert_int_equal(vbd__xb_batch_new(&bt), 0);
	assert_int_equal(vbd__xb_batch_check(bt, "/w/k0", read_check, NULL), 0);
	assert_int_equal(vbd__xb_bus_fetch(b.bus, bt, NULL), 0);
	vbd__xb_batch_free(bt);
	assert_true(xs_write(f->h, XBT_NULL, "/w/k1", "1", 1));
	process_until(b.bus, &b.s, 3);
	assert_string_equal(b.s.path[1], "/w/k0");
	assert_true(b.before[1]);
	assert_string_equal(b.s.path[2], "/w/k1");
	assert_false(b.before[2]);
	vbd_bus_watch_remove(b.bus, bw);
	vbd_bus_unref(b.bus);
}

/* The connection breaks (here by hand, as a protocol error would): the
 * bus's fd wakes the loop, which opens another and sets the watch again
 * there; it fires once for that, then for each change as before. */
static void test_broken_connection_is_replaced(void **state)
{
	struct fx *f = *state;
	struct seen s = { 0 };
	vbd_bus_watch *bw;
	vbd_bus *bus = bus_watching(f, bus_saw, &s, &s, &bw);
	struct pollfd p;

	vbd__xbw_fail(bus->wire, -EPROTO);
	p = (struct pollfd){ vbd_bus_get_fd(bus), POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 0), 1);
	assert_true(vbd_bus_process(bus) >= 0);
	assert_false(vbd__xb_wire_broken(bus->wire));
	process_until(bus, &s, 2);                    /* set again: fires once */
	assert_string_equal(s.path[1], "/w");
	write_keys(f, 1);
	process_until(bus, &s, 3);
	assert_string_equal(s.path[2], "/w/k0");
	vbd_bus_watch_remove(bus, bw);
	vbd_bus_unref(bus);
}

struct breaker {
	vbd_bus *bus;
	struct seen s;
};

/* The first event breaks the connection and asks for the wire client, as
 * a request inside a callback meeting a broken one does: a new one
 * replaces it while the loop is still walking the old one's events. */
static void break_in(const char *path, void *ud)
{
	struct breaker *b = ud;
	vbd__xb_wire *w;

	saw(path, "", 0, &b->s);
	if (b->s.n == 2) {
		vbd__xbw_fail(b->bus->wire, -EPROTO);
		assert_int_equal(vbd__xb_bus_wire(b->bus, &w), 0);
		assert_false(vbd__xb_wire_broken(w));
	}
}

/* Under the sanitizers: the old one is not freed under the loop. */
static void test_break_inside_a_callback(void **state)
{
	struct fx *f = *state;
	struct breaker b = { NULL, { 0 } };
	vbd_bus_watch *bw;
	unsigned i;

	b.bus = bus_watching(f, break_in, &b, &b.s, &bw);
	write_keys(f, 5);
	/* k0 breaks it; what the old one had queued may still come; the new
	 * one's watch fires for /w; then a write after it arrives. */
	for (i = 0; i < 200 && !(b.s.n >= 3 && !strcmp(b.s.path[b.s.n - 1], "/w")); i++) {
		struct pollfd p = { vbd_bus_get_fd(b.bus), POLLIN, 0 };

		poll(&p, 1, 10);
		assert_true(vbd_bus_process(b.bus) >= 0);
	}
	assert_string_equal(b.s.path[1], "/w/k0");
	assert_string_equal(b.s.path[b.s.n - 1], "/w");
	i = b.s.n;
	assert_true(xs_write(f->h, XBT_NULL, "/w/after", "1", 1));
	process_until(b.bus, &b.s, i + 1);
	assert_string_equal(b.s.path[i], "/w/after");
	vbd_bus_watch_remove(b.bus, bw);
	vbd_bus_unref(b.bus);
}

/* ---- a peer that sends what a store never would ---- */

#define put vbd_test_msg_put
#define peer(buf, n, o) vbd_test_wire_peer(buf, n, false, o)

/* Events between a transaction's replies: the batch runs, the events wait
 * for the loop, in order. */
static void test_events_between_replies(void **state)
{
	char buf[512];
	struct seen s = { 0 };
	vbd__xb_batch *b;
	vbd__xb_wire *w;
	size_t n;
	int o;

	(void)state;
	n = put(buf, 0, XS_TRANSACTION_START, 1, 0, "7", 2);
	n = put(buf, n, XS_WATCH_EVENT, 0, 0, "/a\0t1", 6);
	n = put(buf, n, XS_WRITE, 2, 7, "OK", 3);
	n = put(buf, n, XS_WATCH_EVENT, 0, 0, "/b\0t2", 6);
	n = put(buf, n, XS_TRANSACTION_END, 3, 7, "OK", 3);
	w = peer(buf, n, &o);
	assert_int_equal(vbd__xb_batch_new(&b), 0);
	assert_int_equal(vbd__xb_batch_printf(b, "/t", "k", "v"), 0);
	assert_int_equal(vbd__xb_batch_run(w, b, NULL), 0);
	assert_false(vbd__xb_wire_broken(w));
	assert_int_equal(vbd__xbw_events(w, saw, &s), 2);
	assert_string_equal(s.path[0], "/a");
	assert_string_equal(s.token[0], "t1");
	assert_string_equal(s.path[1], "/b");
	assert_string_equal(s.token[1], "t2");
	vbd__xb_batch_free(b);
	vbd__xb_wire_free(w);
	close(o);
}

/* Where only events may come: a reply nobody waits for, an event without
 * its token, or with bytes after it, each closes the connection. */
static void test_what_is_no_event_is_refused(void **state)
{
	static const struct {
		uint32_t type;
		const char *p;
		uint32_t len;
	} bad[] = {
		{ XS_READ, "x", 2 },              /* a reply, unasked */
		{ XS_WATCH_EVENT, "/a", 3 },      /* no token */
		{ XS_WATCH_EVENT, "/a\0t\0x", 6 }, /* something after it */
		{ XS_WATCH_EVENT, "\0t", 3 },     /* no path */
		{ XS_WATCH_EVENT, "/a\0t", 4 },   /* the token unterminated */
		{ XS_WATCH_EVENT, "/a\0", 4 },    /* an empty token */
	};
	struct seen s = { 0 };
	char buf[128];
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = put(buf, 0, XS_WATCH_EVENT, 0, 0, "/ok\0t", 6);
		vbd__xb_wire *w;
		int o;

		n = put(buf, n, bad[i].type, 0, 0, bad[i].p, bad[i].len);
		w = peer(buf, n, &o);
		s.n = 0;
		assert_int_equal(vbd__xbw_events(w, saw, &s), -EPROTO);
		assert_int_equal(s.n, 1);             /* the good one ran */
		assert_true(vbd__xb_wire_broken(w));
		vbd__xb_wire_free(w);
		close(o);
	}
	/* The same bad event met by a wait: the request fails, -EPROTO. */
	{
		size_t n = put(buf, 0, XS_WATCH_EVENT, 0, 0, "/a", 3);
		vbd__xb_wire *w;
		int o;

		w = peer(buf, n, &o);
		assert_int_equal(vbd__xbw_watch(w, "/x", "t"), -EPROTO);
		assert_true(vbd__xb_wire_broken(w));
		vbd__xb_wire_free(w);
		close(o);
	}
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_events_met_by_a_wait_are_kept),
		T(test_events_without_a_wait),
		T(test_bus_fd_shows_events_a_wait_took),
		T(test_event_before_a_read),
		T(test_broken_connection_is_replaced),
		T(test_break_inside_a_callback),
		cmocka_unit_test(test_events_between_replies),
		cmocka_unit_test(test_what_is_no_event_is_refused),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
