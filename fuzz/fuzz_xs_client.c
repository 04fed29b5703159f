/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for the wire client's reading of what the daemon sends
 * (lib/xenbus/wire.c): watch events where only events may come, and
 * events met while a request waits for its reply.
 *
 * The first byte picks the mode, the rest is the daemon's byte stream,
 * written whole to the other end of a socketpair and then closed:
 *   even  the loop's read: vbd__xbw_events() until it stops;
 *   odd   a WATCH (req_id 1) waits for its reply first, its events kept,
 *         then vbd__xbw_events() as above.
 * Checked: every event handed out has a path and a token, each within the
 * payload limit; no more events than the stream could hold; the calls end;
 * a failure leaves the connection closed, and a closed connection hands
 * out only what was queued before.  Every violation is an abort(); leaks
 * and overruns are the sanitizers'.
 *
 *     01 | 0f000000 00000000 00000000 06000000 "/a\0t\0"
 *        the watch's wait meets one event, then the stream ends: -EPIPE
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xenbus/xenbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (64u * 1024)   /* within the socket's buffer: one write */

struct count {
	size_t events, cap;
};

static void die(const char *what)
{
	fprintf(stderr, "fuzz_xs_client: %s\n", what);
	abort();
}

static void on_event(const char *path, const char *token, uint64_t seq, void *ud)
{
	struct count *c = ud;

	(void)seq;
	size_t lp = strlen(path), lt = strlen(token);

	if (!lp || !lt)
		die("an event without a path or a token");
	if (lp + lt + 2 > XENSTORE_PAYLOAD_MAX)
		die("an event past the payload limit");
	if (++c->events > c->cap)
		die("more events than the stream holds");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct count c = { 0, 0 };
	vbd__xb_wire *w;
	int sv[2], r, rounds;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	/* The smallest event is a header and "a\0t\0". */
	c.cap = (size - 1) / (sizeof(struct xsd_sockmsg) + 4);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	if (vbd__xb_wire_adopt(sv[0], true, &w) < 0)
		die("adopt");
	if (size > 1 && write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1))
		die("write");
	shutdown(sv[1], SHUT_WR);
	if (data[0] & 1) {
		/* 0, an XS_ERROR's errno with the connection open, or a
		 * stream out of step: closed. */
		r = vbd__xbw_watch(w, "/p", "t");
		if ((r == -EPROTO || r == -EPIPE) && !vbd__xb_wire_broken(w))
			die("a failed wait left the connection open");
		if (r == 0 && vbd__xb_wire_broken(w))
			die("a wait that succeeded closed the connection");
	}
	/* The stream is finite: each round takes at least one event or ends. */
	for (rounds = 0;; rounds++) {
		size_t before = c.events;

		if (rounds > (int)c.cap + 2)
			die("events() does not end");
		r = vbd__xbw_events(w, on_event, &c);
		if (r < 0) {
			if (!vbd__xb_wire_broken(w))
				die("a failure left the connection open");
			break;
		}
		if ((size_t)r != c.events - before)
			die("events() miscounted");
		if (vbd__xb_wire_broken(w) || r == 0)
			break;
	}
	if (vbd__xb_wire_broken(w) && vbd__xbw_events(w, on_event, &c) != 0)
		die("a closed connection handed out more");
	vbd__xb_wire_free(w);
	close(sv[1]);
	return 0;
}
