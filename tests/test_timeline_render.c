/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Draws a fixed sequence of the verifier's reports with vbdctl's timeline
 * (cli/timeline.c), to a text file (the terminal rows, no colour) and an
 * SVG file; tests/test_timeline.sh compares the text with its golden copy
 * and checks the SVG with an XML parser.
 *
 * Usage: test_timeline_render CASE TEXT SVG
 * CASE: clean (an attach and a detach seen whole by a change stream),
 * violation (a frontend stepping back, and the writer rule), gaps (what a
 * late reader saw: unseen states, unseen writes, a device created and gone
 * between two reads, a source's lost changes), checker (a change stream
 * through the library's checker), hostile (a 300-character node full of
 * what a guest may write).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeline.h"

#define T0 1765000000000000000LL   /* a fixed epoch time, ns */
#define MS 1000000LL

static struct vbdctl_timeline *tl;
static uint64_t seq;

/* A change from the stream: writer, seq and time known. */
static void step(unsigned dom, uint32_t devid, const char *side, int from, int to, int writer, int64_t ms)
{
	vbd_verify_event e = { .domid = dom, .devid = devid, .side = side, .old_state = from,
	                       .new_state = to, .writes = 1, .writer = writer, .seq = ++seq,
	                       .time_ns = T0 + ms * MS };

	vbdctl_timeline_add(tl, &e, 0);
}

static void violation(unsigned dom, uint32_t devid, const char *side, const char *rule, const char *node,
                      const char *detail, int writer, int64_t ms)
{
	vbd_violation v = { .rule = rule };
	vbd_verify_event e = { .domid = dom, .devid = devid, .side = side, .old_state = -1,
	                       .new_state = -1, .v = &v, .writer = writer, .seq = seq,
	                       .time_ns = T0 + ms * MS };

	snprintf(v.node, sizeof(v.node), "%s", node);
	snprintf(v.detail, sizeof(v.detail), "%s", detail);
	vbdctl_timeline_add(tl, &e, 0);
}

/* A reader's report (no seq, no time: read at ms). */
static void read_step(unsigned dom, uint32_t devid, const char *side, int from, int to, unsigned writes,
                      unsigned unseen, int64_t ms)
{
	vbd_verify_event e = { .domid = dom, .devid = devid, .side = side, .old_state = from,
	                       .new_state = to, .writes = writes, .unseen = unseen, .writer = -1 };

	vbdctl_timeline_add(tl, &e, T0 + ms * MS);
}

static void attach(unsigned dom, uint32_t devid, int64_t ms)
{
	step(dom, devid, "backend", -1, 1, 0, ms);
	step(dom, devid, "frontend", -1, 1, 0, ms + 1);
	step(dom, devid, "backend", 1, 2, 0, ms + 4);
	step(dom, devid, "frontend", 1, 3, (int)dom, ms + 9);
	step(dom, devid, "backend", 2, 4, 0, ms + 12);
	step(dom, devid, "frontend", 3, 4, (int)dom, ms + 13);
}

static void detach(unsigned dom, uint32_t devid, int64_t ms)
{
	step(dom, devid, "backend", 4, 5, 0, ms);
	step(dom, devid, "frontend", 4, 5, (int)dom, ms + 2);
	step(dom, devid, "frontend", 5, 6, (int)dom, ms + 3);
	step(dom, devid, "backend", 5, 6, 0, ms + 5);
	step(dom, devid, "frontend", 6, -1, 0, ms + 7);
	step(dom, devid, "backend", 6, -1, 0, ms + 8);
}

#define S(x) (1u << (x))

static void on_event(const vbd_verify_event *e, void *ud)
{
	(void)ud;
	vbdctl_timeline_add(tl, e, 0);
}

/* One change of a stream, fed to the library's checker. */
static void feed(vbd_checker *k, vbd_change_op op, int writer, const char *path, const char *value,
                 int64_t ms)
{
	vbd_change ch = { .op = op, .path = path, .value = value, .value_len = value ? strlen(value) : 0,
	                  .writer = writer, .seq = ++seq, .time_ns = T0 + ms * MS, .lost = 3 };

	if (vbd_checker_feed(k, &ch) < 0)
		abort();
}

/* An attach through the change-stream checker (vbd/verify.h), as the
 * store's trace or a xenstored log gives it: the frontend's Initialising
 * written and overwritten at once (invisible to a reader), the backend's
 * state written by the guest, a lost stretch, the removal. */
static void checker_case(void)
{
	static const char be[] = "/local/domain/0/backend/vbd/3/51712", fe[] = "/local/domain/3/device/vbd/51712";
	vbd_checker *k = NULL;
	char p[128];

#define AT(dir, key) (snprintf(p, sizeof(p), "%s/%s", dir, key), p)
	if (vbd_checker_new(VBD_DOMID_ALL, 0, on_event, NULL, &k) < 0)
		abort();
	feed(k, VBD_CHANGE_WRITE, 0, AT(be, "frontend"), fe, 0);
	feed(k, VBD_CHANGE_WRITE, 0, AT(be, "state"), "1", 0);
	feed(k, VBD_CHANGE_WRITE, 0, AT(fe, "backend"), be, 1);
	feed(k, VBD_CHANGE_WRITE, 0, AT(fe, "state"), "1", 1);
	feed(k, VBD_CHANGE_WRITE, 0, AT(be, "state"), "2", 5);
	feed(k, VBD_CHANGE_WRITE, 3, AT(fe, "ring-ref"), "8", 9);
	feed(k, VBD_CHANGE_WRITE, 3, AT(fe, "event-channel"), "5", 9);
	feed(k, VBD_CHANGE_WRITE, 3, AT(fe, "protocol"), "x86_64-abi", 9);
	feed(k, VBD_CHANGE_WRITE, 3, AT(fe, "state"), "3", 10);
	feed(k, VBD_CHANGE_WRITE, 0, AT(be, "sectors"), "32768", 12);
	feed(k, VBD_CHANGE_WRITE, 0, AT(be, "info"), "0", 12);
	feed(k, VBD_CHANGE_WRITE, 0, AT(be, "sector-size"), "512", 12);
	feed(k, VBD_CHANGE_WRITE, 0, AT(be, "state"), "4", 13);
	feed(k, VBD_CHANGE_WRITE, 3, AT(fe, "state"), "4", 14);
	feed(k, VBD_CHANGE_WRITE, 3, AT(fe, "state"), "1", 300);
	feed(k, VBD_CHANGE_WRITE, 3, AT(fe, "state"), "4", 300);
	feed(k, VBD_CHANGE_WRITE, 3, AT(be, "state"), "5", 400);
	feed(k, VBD_CHANGE_LOST, -1, "/", NULL, 500);
	feed(k, VBD_CHANGE_RM, 0, fe, NULL, 600);
	feed(k, VBD_CHANGE_RM, 0, be, NULL, 601);
#undef AT
	vbd_checker_free(k);
}

int main(int argc, char **argv)
{
	FILE *txt;
	int r;

	if (argc != 4) {
		fprintf(stderr, "usage: %s CASE TEXT SVG\n", argv[0]);
		return 2;
	}
	txt = fopen(argv[2], "we");
	if (!txt || vbdctl_timeline_new(txt, false, &tl) < 0) {
		perror(argv[2]);
		return 1;
	}
	if (!strcmp(argv[1], "clean")) {
		attach(1, 51712, 0);
		detach(1, 51712, 2500);
	} else if (!strcmp(argv[1], "violation")) {
		attach(1, 51728, 0);
		/* The frontend steps back: a driver that restarts its handshake
		 * without closing first. */
		step(1, 51728, "frontend", 4, 1, 1, 700);
		violation(1, 51728, "frontend", "frontend-transition", "/local/domain/1/device/vbd/51728/state",
		          "Connected -> Initialising is not a step of the protocol", 1, 700);
		/* The toolstack writes a driver's state. */
		step(1, 51728, "backend", 4, 5, 0, 900);
		step(1, 51728, "backend", 5, 4, 0, 901);
		violation(1, 51728, "backend", "writer", "/local/domain/0/backend/vbd/1/51728/state",
		          "Connected written by domain 0, the toolstack's: only the backend's domain writes it",
		          0, 901);
	} else if (!strcmp(argv[1], "gaps")) {
		/* First read: both ends already Connected, the handshake unseen. */
		read_step(2, 51712, "backend", -1, 4, 3, S(1) | S(2), 50);
		read_step(2, 51712, "frontend", -1, 4, 3, S(1) | S(3), 50);
		/* A resize or a bounce: writes between two reads of Connected. */
		read_step(2, 51712, "backend", 4, 4, 2, 0, 300);
		vbdctl_timeline_lost(tl, 17, T0 + 350 * MS);
		/* Gone without Closing or Closed seen. */
		read_step(2, 51712, "frontend", 4, -1, 2, S(6), 400);
		read_step(2, 51712, "backend", 4, -1, 3, S(5) | S(6), 401);
		/* A checker's stream lost changes while a third device was
		 * Connected: its states are unknown until the next seen. */
		step(2, 51744, "backend", -1, 4, 0, 600);
		step(2, 51744, "frontend", -1, 4, 2, 601);
		{
			vbd_verify_event e = { .domid = 2, .devid = 51744, .side = "backend", .old_state = 4,
			                       .new_state = 4, .unobserved = 1, .writer = -1, .seq = ++seq,
			                       .time_ns = T0 + 700 * MS };

			vbdctl_timeline_add(tl, &e, 0);
		}
		step(2, 51744, "frontend", -1, 6, 2, 800);
		/* A second device created and removed between two reads. */
		read_step(2, 51728, "backend", -1, -1, 4, 0, 500);
	} else if (!strcmp(argv[1], "checker")) {
		checker_case();
	} else if (!strcmp(argv[1], "hostile")) {
		char node[301];
		const char *bad = "\033]0;owned\a\033[2J\nPASS <svg onload=\"x\">&amp;'\xe2\x80\xae"
		                  "\xef\xbf\xbe\xc3\x28\x7f\xc2\x85]]>";
		size_t n;

		/* 300 characters: the domain's path, then what the guest wrote,
		 * repeated (node[] of a vbd_violation holds 191 of them). */
		n = (size_t)snprintf(node, sizeof(node), "/local/domain/7/device/vbd/51712/");
		while (n < 300) {
			size_t k = strlen(bad) < 300 - n ? strlen(bad) : 300 - n;

			memcpy(node + n, bad, k);
			n += k;
		}
		node[300] = 0;
		step(7, 51712, "backend", -1, 1, 0, 0);
		step(7, 51712, "frontend", -1, 1, 0, 1);
		violation(7, 51712, "frontend", "protocol", node, bad, 7, 5);
		violation(7, 51712, "backend", "physical-device", "/local/domain/0/backend/vbd/7/51712/physical-device",
		          "\"8:0\x1b[31m\" is not hex major:minor", 0, 6);
	} else {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 2;
	}
	r = vbdctl_timeline_svg(tl, argv[3]);
	if (r < 0)
		fprintf(stderr, "%s: %s\n", argv[3], strerror(-r));
	vbdctl_timeline_free(tl);
	if (fclose(txt) != 0)
		r = -1;
	return r < 0;
}
