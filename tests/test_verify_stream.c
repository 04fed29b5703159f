/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_verify_stream - the checker (vbd_checker_*, vbd/verify.h) fed
 * hand-written change streams: a libxl-style attach and detach that
 * passes, each rule broken once (the writer rule included), a state written
 * and overwritten, a lost stretch, removals of a parent, and hostile paths
 * and values.  No store: the stream is the input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vbd/verify.h"

#define TS 0     /* the toolstack's domain */
#define BD 2     /* a driver domain: the backend's */
#define FD 3     /* the guest: the frontend's */
#define BE "/local/domain/2/backend/vbd/3/51712"
#define FE "/local/domain/3/device/vbd/51712"

typedef struct rec {
	char side[16];
	int old_state, new_state;
	char rule[32];
	char node[192];
	int writer;
	uint64_t seq;
	unsigned unobserved, unseen;
} rec;

static rec recs[256];
static size_t nrecs;
static uint64_t seq;

static void on_event(const vbd_verify_event *e, void *ud)
{
	rec *r;

	(void)ud;
	assert_true(nrecs < sizeof(recs) / sizeof(recs[0]));
	r = &recs[nrecs++];
	memset(r, 0, sizeof(*r));
	snprintf(r->side, sizeof(r->side), "%s", e->side);
	r->old_state = e->old_state;
	r->new_state = e->new_state;
	if (e->v) {
		snprintf(r->rule, sizeof(r->rule), "%s", e->v->rule);
		snprintf(r->node, sizeof(r->node), "%s", e->v->node);
	}
	r->writer = e->writer;
	r->seq = e->seq;
	r->unobserved = e->unobserved;
	r->unseen = e->unseen;
}

static vbd_checker *new_checker(vbd_domid ts)
{
	vbd_checker *k = NULL;

	nrecs = 0;
	seq = 0;
	assert_int_equal(vbd_checker_new(VBD_DOMID_ALL, ts, on_event, NULL, &k), 0);
	return k;
}

static void feed(vbd_checker *k, vbd_change_op op, int writer, const char *path, const char *value,
                 size_t len, int more)
{
	vbd_change ch = { .op = op, .path = path, .value = value, .value_len = len,
	                  .writer = writer, .seq = ++seq, .time_ns = 1000 * (int64_t)seq, .more = more };

	assert_int_equal(vbd_checker_feed(k, &ch), 0);
}

static void w(vbd_checker *k, int writer, const char *dir, const char *key, const char *value)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	feed(k, VBD_CHANGE_WRITE, writer, path, value, strlen(value), 0);
}

/* A write inside a commit that goes on. */
static void wm(vbd_checker *k, int writer, const char *dir, const char *key, const char *value)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	feed(k, VBD_CHANGE_WRITE, writer, path, value, strlen(value), 1);
}

static void rm(vbd_checker *k, int writer, const char *path)
{
	feed(k, VBD_CHANGE_RM, writer, path, NULL, 0, 0);
}

/* The index of the first violation of rule, or -1. */
static int find_rule(const char *rule)
{
	size_t i;

	for (i = 0; i < nrecs; i++)
		if (!strcmp(recs[i].rule, rule))
			return (int)i;
	return -1;
}

static unsigned count_violations(void)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < nrecs; i++)
		n += recs[i].rule[0] != 0;
	return n;
}

static void print_recs(void)
{
	size_t i;

	for (i = 0; i < nrecs; i++)
		print_message("  #%llu %s %d -> %d w%d %s %s u%u\n", (unsigned long long)recs[i].seq,
		              recs[i].side, recs[i].old_state, recs[i].new_state, recs[i].writer,
		              recs[i].rule, recs[i].node, recs[i].unobserved);
}

static vbd_checker_summary summary(vbd_checker *k)
{
	vbd_checker_summary s = { .size = sizeof(s) };

	assert_int_equal(vbd_checker_summary_get(k, &s), 0);
	return s;
}

/* libxl's device add: both directories in one transaction, written by the
 * toolstack. */
static void toolstack_add(vbd_checker *k)
{
	wm(k, TS, FE, "backend", BE);
	wm(k, TS, FE, "backend-id", "2");
	wm(k, TS, FE, "virtual-device", "51712");
	wm(k, TS, FE, "device-type", "disk");
	wm(k, TS, FE, "trusted", "1");
	wm(k, TS, FE, "state", "1");
	wm(k, TS, BE, "frontend", FE);
	wm(k, TS, BE, "frontend-id", "3");
	wm(k, TS, BE, "params", "/srv/disk.img");
	wm(k, TS, BE, "type", "phy");
	wm(k, TS, BE, "mode", "w");
	wm(k, TS, BE, "online", "1");
	wm(k, TS, BE, "removable", "0");
	wm(k, TS, BE, "bootable", "1");
	wm(k, TS, BE, "dev", "xvda");
	wm(k, TS, BE, "device-type", "disk");
	w(k, TS, BE, "state", "1");
}

/* Both drivers to Connected, each writing its own nodes. */
static void drivers_connect(vbd_checker *k)
{
	w(k, BD, BE, "physical-device", "7:0");
	w(k, BD, BE, "hotplug-status", "connected");
	wm(k, BD, BE, "feature-flush-cache", "1");
	wm(k, BD, BE, "multi-queue-max-queues", "4");
	w(k, BD, BE, "max-ring-page-order", "4");
	w(k, BD, BE, "state", "2");
	wm(k, FD, FE, "ring-ref", "8");
	wm(k, FD, FE, "event-channel", "10");
	w(k, FD, FE, "protocol", "x86_64-abi");
	w(k, FD, FE, "state", "3");
	wm(k, BD, BE, "sectors", "2048");
	wm(k, BD, BE, "info", "0");
	w(k, BD, BE, "sector-size", "512");
	w(k, BD, BE, "state", "4");
	w(k, FD, FE, "state", "4");
}

static void drivers_close_and_remove(vbd_checker *k)
{
	wm(k, TS, BE, "online", "0");
	w(k, TS, BE, "state", "5");
	w(k, FD, FE, "state", "5");
	w(k, FD, FE, "state", "6");
	w(k, BD, BE, "state", "6");
	feed(k, VBD_CHANGE_RM, TS, BE, NULL, 0, 1);
	rm(k, TS, FE);
}

static void test_attach_detach_passes(void **state)
{
	vbd_checker *k = new_checker(TS);
	vbd_checker_summary s;
	size_t i;

	(void)state;
	toolstack_add(k);
	drivers_connect(k);
	drivers_close_and_remove(k);
	print_recs();
	s = summary(k);
	assert_int_equal(s.devices, 1);
	assert_int_equal(s.violations, 0);
	assert_int_equal(s.unobserved, 0);
	assert_int_equal(s.lost, 0);
	assert_int_equal(count_violations(), 0);
	/* Every step seen, with who wrote it and when: backend 1 2 4 5 6 gone,
	 * frontend 1 3 4 5 6 gone. */
	{
		static const struct { const char *side; int from, to, writer; } want[] = {
			{ "frontend", -1, 1, TS }, { "backend", -1, 1, TS }, { "backend", 1, 2, BD },
			{ "frontend", 1, 3, FD },  { "backend", 2, 4, BD },  { "frontend", 3, 4, FD },
			{ "backend", 4, 5, TS },   { "frontend", 4, 5, FD }, { "frontend", 5, 6, FD },
			{ "backend", 5, 6, BD },   { "backend", 6, -1, TS }, { "frontend", 6, -1, TS },
		};
		assert_int_equal(nrecs, sizeof(want) / sizeof(want[0]));
		for (i = 0; i < nrecs; i++) {
			assert_string_equal(recs[i].side, want[i].side);
			assert_int_equal(recs[i].old_state, want[i].from);
			assert_int_equal(recs[i].new_state, want[i].to);
			assert_int_equal(recs[i].writer, want[i].writer);
			assert_int_equal(recs[i].unobserved, 0);
			assert_true(recs[i].seq > 0);
		}
	}
	vbd_checker_free(k);
}

/* The case: a state written and overwritten between two reads of a
 * follower (Connected -> Initialised -> Connected) is judged here. */
static void test_written_and_overwritten(void **state)
{
	vbd_checker *k = new_checker(TS);
	int i;

	(void)state;
	toolstack_add(k);
	drivers_connect(k);
	w(k, FD, FE, "state", "1");
	w(k, FD, FE, "state", "4");
	print_recs();
	i = find_rule("frontend-transition");
	assert_true(i >= 0);
	assert_string_equal(recs[i].node, FE "/state");
	assert_int_equal(recs[i].seq, seq - 1);     /* the write of 1, not the later one */
	assert_int_equal(recs[i].writer, FD);
	vbd_checker_free(k);
}

static void test_backend_backward(void **state)
{
	vbd_checker *k = new_checker(TS);

	(void)state;
	toolstack_add(k);
	drivers_connect(k);
	w(k, BD, BE, "state", "2");
	assert_true(find_rule("backend-transition") >= 0);
	assert_int_equal(summary(k).violations, 1);
	vbd_checker_free(k);
}

/* A rule that needs a node value: broken once each. */
static void one_bad_value(const char *dir, const char *key, const char *value, const char *rule)
{
	vbd_checker *k = new_checker(TS);
	int writer = strstr(dir, "/backend/") ? BD : FD;
	int i;

	toolstack_add(k);
	drivers_connect(k);
	w(k, writer, dir, key, value);
	print_recs();
	i = find_rule(rule);
	assert_true(i >= 0);
	assert_int_equal(count_violations(), 1);
	assert_int_equal(recs[i].writer, writer);
	vbd_checker_free(k);
}

static void test_value_rules(void **state)
{
	(void)state;
	one_bad_value(FE, "state", "abc", "state-value");
	one_bad_value(FE, "state", "9", "state-value");
	one_bad_value(FE, "protocol", "x86_65-abi", "protocol");
	one_bad_value(BE, "physical-device", "7:zz", "physical-device");
	one_bad_value(BE, "hotplug-status", "fine", "hotplug-status");
	one_bad_value(BE, "online", "2", "online");
	one_bad_value(BE, "sector-size", "500", "connect-keys");
	one_bad_value(FE, "ring-ref", "x", "ring-keys");
}

static void test_early_and_keys(void **state)
{
	vbd_checker *k;

	(void)state;
	/* frontend Initialised before the backend's InitWait */
	k = new_checker(TS);
	toolstack_add(k);
	wm(k, FD, FE, "ring-ref", "8");
	w(k, FD, FE, "event-channel", "10");
	w(k, FD, FE, "state", "3");
	assert_true(find_rule("frontend-early") >= 0);
	vbd_checker_free(k);

	/* backend Connected while the frontend is Initialising, and without
	 * its keys */
	k = new_checker(TS);
	toolstack_add(k);
	w(k, BD, BE, "state", "2");
	w(k, BD, BE, "state", "4");
	print_recs();
	assert_true(find_rule("backend-early") >= 0);
	assert_true(find_rule("connect-keys") >= 0);
	vbd_checker_free(k);

	/* frontend Initialised without a ring */
	k = new_checker(TS);
	toolstack_add(k);
	w(k, BD, BE, "state", "2");
	w(k, FD, FE, "state", "3");
	assert_true(find_rule("ring-keys") >= 0);
	vbd_checker_free(k);
}

/* Writes inside one commit are judged when the commit is whole: a frontend
 * that writes its ring and Initialised in one transaction is fine; the same
 * writes as separate commits show a moment without the ring. */
static void test_commit_is_judged_whole(void **state)
{
	vbd_checker *k = new_checker(TS);

	(void)state;
	toolstack_add(k);
	w(k, BD, BE, "state", "2");
	wm(k, FD, FE, "state", "3");
	wm(k, FD, FE, "ring-ref", "8");
	w(k, FD, FE, "event-channel", "10");
	assert_int_equal(count_violations(), 0);
	vbd_checker_free(k);

	k = new_checker(TS);
	toolstack_add(k);
	w(k, BD, BE, "state", "2");
	w(k, FD, FE, "state", "3");
	w(k, FD, FE, "ring-ref", "8");
	w(k, FD, FE, "event-channel", "10");
	assert_true(find_rule("ring-keys") >= 0);
	vbd_checker_free(k);
}

static void test_writer_rule(void **state)
{
	vbd_checker *k;
	int i;

	(void)state;
	/* The toolstack writes a driver's state: the frontend's Initialised. */
	k = new_checker(TS);
	toolstack_add(k);
	w(k, BD, BE, "state", "2");
	wm(k, FD, FE, "ring-ref", "8");
	w(k, FD, FE, "event-channel", "10");
	w(k, TS, FE, "state", "3");
	print_recs();
	i = find_rule("writer");
	assert_true(i >= 0);
	assert_string_equal(recs[i].node, FE "/state");
	assert_int_equal(recs[i].writer, TS);
	assert_int_equal(count_violations(), 1);
	vbd_checker_free(k);

	/* The toolstack moves the backend on (Connected) */
	k = new_checker(TS);
	toolstack_add(k);
	w(k, BD, BE, "state", "2");
	w(k, TS, BE, "state", "4");
	assert_true(find_rule("writer") >= 0);
	vbd_checker_free(k);

	/* The guest writes its backend's state */
	k = new_checker(TS);
	toolstack_add(k);
	w(k, FD, BE, "state", "2");
	i = find_rule("writer");
	assert_true(i >= 0);
	assert_string_equal(recs[i].node, BE "/state");
	vbd_checker_free(k);

	/* The backend's domain writes the frontend's state */
	k = new_checker(TS);
	toolstack_add(k);
	w(k, BD, FE, "state", "3");
	assert_true(find_rule("writer") >= 0);
	vbd_checker_free(k);

	/* Not known who wrote: not judged */
	k = new_checker(TS);
	toolstack_add(k);
	w(k, -1, BE, "state", "2");
	assert_int_equal(find_rule("writer"), -1);
	vbd_checker_free(k);

	/* A backend in the toolstack's own domain cannot be told apart from
	 * it: every state it writes is the backend's. */
	k = new_checker(TS);
	w(k, TS, "/local/domain/0/backend/vbd/3/51712", "state", "1");
	w(k, TS, "/local/domain/0/backend/vbd/3/51712", "state", "2");
	w(k, TS, "/local/domain/0/backend/vbd/3/51712", "state", "4");
	assert_int_equal(find_rule("writer"), -1);
	assert_true(find_rule("backend-early") == -1 && find_rule("connect-keys") >= 0);
	vbd_checker_free(k);
}

static void test_lost(void **state)
{
	vbd_checker *k = new_checker(TS);
	vbd_change lost = { .op = VBD_CHANGE_LOST, .lost = 17, .seq = 99 };
	vbd_checker_summary s;
	size_t i, before;

	(void)state;
	toolstack_add(k);
	w(k, BD, BE, "state", "2");
	before = nrecs;
	assert_int_equal(vbd_checker_feed(k, &lost), 0);
	assert_int_equal(nrecs, before + 1);
	assert_int_equal(recs[before].unobserved, 1);
	assert_int_equal(recs[before].seq, 99);
	/* In the gap the frontend wrote its ring; its Connected now must not
	 * be taken for one without a ring (the copy may miss nodes), and the
	 * step from the unknown state counts what it did not see. */
	w(k, FD, FE, "state", "4");
	print_recs();
	assert_int_equal(count_violations(), 0);
	for (i = before + 1; i < nrecs; i++)
		if (!strcmp(recs[i].side, "frontend") && recs[i].new_state == 4)
			break;
	assert_true(i < nrecs);
	assert_int_equal(recs[i].old_state, -1);
	assert_true(recs[i].unobserved >= 1);
	s = summary(k);
	assert_int_equal(s.lost, 17);
	assert_true(s.unobserved >= 2);
	/* A value rule still runs on a copy that is not whole. */
	w(k, FD, FE, "protocol", "bogus");
	assert_true(find_rule("protocol") >= 0);
	vbd_checker_free(k);
}

/* A device first seen half way (a log started late) is not whole: its
 * first state counts the states before it. */
static void test_first_seen_late(void **state)
{
	vbd_checker *k = new_checker(TS);

	(void)state;
	w(k, BD, BE, "state", "4");
	assert_int_equal(nrecs, 1);
	assert_int_equal(recs[0].old_state, -1);
	assert_int_equal(recs[0].new_state, 4);
	assert_int_equal(recs[0].unobserved, 2);      /* Initialising, InitWait */
	assert_int_equal(count_violations(), 0);      /* no connect-keys on a partial copy */
	assert_int_equal(summary(k).unobserved, 2);
	vbd_checker_free(k);
}

static void test_rm_parent(void **state)
{
	vbd_checker *k = new_checker(TS);
	vbd_checker_summary s;

	(void)state;
	toolstack_add(k);
	drivers_connect(k);
	/* The guest's whole directory, then the backends of the guest. */
	rm(k, TS, "/local/domain/3");
	assert_string_equal(recs[nrecs - 1].side, "frontend");
	assert_int_equal(recs[nrecs - 1].old_state, 4);
	assert_int_equal(recs[nrecs - 1].new_state, -1);
	rm(k, TS, "/local/domain/2/backend/vbd/3");
	assert_string_equal(recs[nrecs - 1].side, "backend");
	assert_int_equal(recs[nrecs - 1].new_state, -1);
	/* Forgotten: the same ids start afresh, Initialising is a creation. */
	toolstack_add(k);
	s = summary(k);
	assert_int_equal(s.devices, 2);
	assert_int_equal(count_violations(), 0);
	/* A removal of a node below the end: only it goes. */
	rm(k, TS, BE "/state");
	assert_int_equal(recs[nrecs - 1].new_state, -1);
	/* The root. */
	rm(k, TS, "/");
	assert_int_equal(recs[nrecs - 1].new_state, -1);
	assert_string_equal(recs[nrecs - 1].side, "frontend");
	vbd_checker_free(k);
}

static void test_hostile(void **state)
{
	static const char *const paths[] = {
		"/local/domain/99999999999/device/vbd/1/state",
		"/local/domain/-1/device/vbd/1/state",
		"/local/domain/03/device/vbd/1/state",
		"/local/domain/32752/device/vbd/1/state",      /* DOMID_FIRST_RESERVED */
		"/local/domain/3/device/vbd/4294967296/state",
		"/local/domain/3/device/vbd/+1/state",
		"/local/domain/3/device/vbdx/1/state",
		"/local/domain/2/backend/vbd/3",
		"/local/domain/2/backend/vbd/3/",
		"/local/domain/2/backend/vbd//1/state",
		"/local/domain/",
		"/",
		"relative/path",
	};
	vbd_checker *k = new_checker(TS);
	vbd_change bad = { .op = 9, .path = "/x" };
	char *big = malloc(100000);
	size_t i;

	(void)state;
	assert_non_null(big);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		vbd_change ch = { .op = VBD_CHANGE_WRITE, .path = paths[i], .value = "4",
		                  .value_len = 1, .writer = 7 };
		int r = vbd_checker_feed(k, &ch);

		assert_int_equal(r, paths[i][0] == '/' ? 0 : -EINVAL);
	}
	assert_int_equal(nrecs, 0);
	assert_int_equal(summary(k).devices, 0);
	assert_int_equal(vbd_checker_feed(k, &bad), -EINVAL);
	assert_int_equal(vbd_checker_feed(k, NULL), -EINVAL);
	bad.op = VBD_CHANGE_WRITE;
	bad.path = NULL;
	assert_int_equal(vbd_checker_feed(k, &bad), -EINVAL);

	/* A path past xenstore's limit: not a node */
	memset(big, 'a', 99999);
	big[99999] = 0;
	memcpy(big, FE "/", sizeof(FE));
	feed(k, VBD_CHANGE_WRITE, FD, big, "1", 1, 0);
	assert_int_equal(nrecs, 0);

	/* Values: embedded NUL, not UTF-8, huge, empty, numbers out of range */
	toolstack_add(k);
	nrecs = 0;
	feed(k, VBD_CHANGE_WRITE, FD, FE "/state", "4\0", 2, 0);
	assert_true(find_rule("state-value") >= 0);
	feed(k, VBD_CHANGE_WRITE, FD, FE "/protocol", "\xff\xfe\x80", 3, 0);
	assert_true(find_rule("protocol") >= 0);
	memset(big, '9', 99999);
	feed(k, VBD_CHANGE_WRITE, FD, FE "/state", big, 99999, 0);
	feed(k, VBD_CHANGE_WRITE, FD, FE "/state", "", 0, 0);
	feed(k, VBD_CHANGE_WRITE, FD, FE "/state", NULL, 0, 0);
	feed(k, VBD_CHANGE_WRITE, BD, BE "/sectors", "99999999999999999999999", 23, 0);
	feed(k, VBD_CHANGE_WRITE, BD, BE "/state", "-1", 2, 0);
	feed(k, VBD_CHANGE_WRITE, 70000, BE "/state", " 2", 2, 0);
	feed(k, VBD_CHANGE_MKDIR, FD, FE "/queue-0", NULL, 0, 0);
	print_recs();
	/* Each bad state judged, none taken for a state */
	for (i = 0; i < nrecs; i++)
		assert_true(recs[i].rule[0] || recs[i].new_state < 0 || recs[i].new_state == 1);
	/* 1024 nodes per end, then the copy is no longer whole */
	for (i = 0; i < 1100; i++) {
		char p[128];

		snprintf(p, sizeof(p), FE "/junk/%zu", i);
		feed(k, VBD_CHANGE_WRITE, FD, p, "x", 1, 0);
	}
	assert_true(summary(k).unobserved >= 1);
	free(big);
	vbd_checker_free(k);
}

/* Only the devices of the domain asked for. */
static void test_domain_filter(void **state)
{
	vbd_checker *k = NULL;

	(void)state;
	nrecs = 0;
	assert_int_equal(vbd_checker_new(5, TS, on_event, NULL, &k), 0);
	toolstack_add(k);
	assert_int_equal(nrecs, 0);
	assert_int_equal(summary(k).devices, 0);
	vbd_checker_free(k);
	assert_int_equal(vbd_checker_new(VBD_DOMID_FIRST_RESERVED, TS, on_event, NULL, &k), -EINVAL);
	assert_int_equal(vbd_checker_new(VBD_DOMID_ALL, TS, NULL, NULL, &k), -EINVAL);
	assert_null(vbd_checker_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_detach_passes),
		cmocka_unit_test(test_written_and_overwritten),
		cmocka_unit_test(test_backend_backward),
		cmocka_unit_test(test_value_rules),
		cmocka_unit_test(test_early_and_keys),
		cmocka_unit_test(test_commit_is_judged_whole),
		cmocka_unit_test(test_writer_rule),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_first_seen_late),
		cmocka_unit_test(test_rm_parent),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_domain_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
