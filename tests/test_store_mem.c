/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store's memory after many devices came and went (issue 12: the
 * simulated host's RSS back within 10% of its value before).
 *
 * What kept it: a commit put the transaction's copy of each changed node
 * in the tree, so a node that outlives the devices (a guest's
 * /local/domain/N/device, changed by each attach and detach) was made anew
 * among the devices' short-lived nodes, and its few small blocks kept the
 * heap pages of the peak resident once the devices were gone.
 *
 *   test_commit_keeps_node: the tree's node of a changed path keeps its
 *     blocks (node, path, permissions, children) through many commits.
 *   test_heap_given_back: 250 guests' long-lived nodes, then 1000 devices'
 *     directories written and removed as libxl does (a transaction a
 *     device, front and back); of what the peak added to the process's
 *     anonymous memory, at most 10% is still resident after the store
 *     trimmed.  A ratio of page counts, no time.  Not under ASan, whose
 *     allocator keeps freed blocks in quarantine on purpose.
 */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store_fixture.h"
#include "store_mem_peek.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#define GUESTS 250
#define DEVICES 1000        /* 4 a guest */

static vbd_test_store ts;
static struct xs_handle *xs;

static int setup(void **state)
{
	(void)state;
	if (vbd_test_store_start(&ts, NULL) < 0)
		return -1;
	xs = vbd_test_xs_open(&ts, 0);
	return xs ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (xs)
		xs_close(xs);
	vbd_test_store_stop(&ts);
	return 0;
}

static void writef(xs_transaction_t t, const char *val, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void writef(xs_transaction_t t, const char *val, const char *fmt, ...)
{
	char path[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (!xs_write(xs, t, path, val, strlen(val)))
		fail_msg("write %s: %s", path, strerror(errno));
}

static void rmf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rmf(const char *fmt, ...)
{
	char path[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (!xs_rm(xs, XBT_NULL, path))
		fail_msg("rm %s: %s", path, strerror(errno));
}

/* A guest's nodes that live as long as it does, as libxl makes them. */
static void guest_layout(unsigned g)
{
	writef(XBT_NULL, "guest", "/local/domain/%u/name", g);
	writef(XBT_NULL, "", "/local/domain/%u/control/shutdown", g);
	writef(XBT_NULL, "262144", "/local/domain/%u/memory/target", g);
	writef(XBT_NULL, "", "/local/domain/%u/device/suspend/event-channel", g);
	writef(XBT_NULL, "", "/libxl/%u/device", g);
}

/* One device's front and back directories in one transaction, as libxl's
 * device add writes them; and their removal. */
static void device_add(unsigned g, unsigned vdev)
{
	static const char *const back[] = { "frontend-id", "online", "state", "params",
	                                    "mode", "type", "dev", "removable" };
	static const char *const front[] = { "backend-id", "state", "virtual-device",
	                                     "device-type", "ring-ref", "event-channel" };
	xs_transaction_t t;
	size_t i;

	for (;;) {
		t = xs_transaction_start(xs);
		assert_true(t != XBT_NULL);
		for (i = 0; i < sizeof(back) / sizeof(back[0]); i++)
			writef(t, "1", "/local/domain/0/backend/vbd/%u/%u/%s", g, vdev, back[i]);
		writef(t, "/local/domain/0/backend/vbd/1/51712", "/local/domain/%u/device/vbd/%u/backend",
		       g, vdev);
		for (i = 0; i < sizeof(front) / sizeof(front[0]); i++)
			writef(t, "4", "/local/domain/%u/device/vbd/%u/%s", g, vdev, front[i]);
		writef(t, "phy", "/libxl/%u/device/vbd/%u/type", g, vdev);
		if (xs_transaction_end(xs, t, false))
			return;
		assert_int_equal(errno, EAGAIN);
	}
}

static void device_remove(unsigned g, unsigned vdev, bool last)
{
	rmf("/local/domain/%u/device/vbd/%u", g, vdev);
	rmf("/local/domain/0/backend/vbd/%u/%u", g, vdev);
	rmf("/libxl/%u/device/vbd/%u", g, vdev);
	if (last) {
		rmf("/local/domain/%u/device/vbd", g);
		rmf("/local/domain/0/backend/vbd/%u", g);
		rmf("/libxl/%u/device/vbd", g);
	}
}

static void test_commit_keeps_node(void **state)
{
	vbd_test_blocks a = { .path = "/local/domain/7/device" }, b = a;
	unsigned char *dir;
	unsigned i, n;
	(void)state;

	guest_layout(7);
	assert_int_equal(vbd_test_store_call(&ts, vbd_test_node_blocks, &a), 0);
	for (i = 0; i < 50; i++) {
		device_add(7, 51712 + 16 * (i % 4));
		if (i % 4 == 3)
			for (n = 0; n < 4; n++)
				device_remove(7, 51712 + 16 * n, n == 3);
	}
	device_add(7, 51712);
	assert_int_equal(vbd_test_store_call(&ts, vbd_test_node_blocks, &b), 0);
	/* The node changed (its children did) but is the same object. */
	assert_true(b.gen != a.gen);
	assert_ptr_equal(b.node, a.node);
	assert_ptr_equal(b.npath, a.npath);
	assert_ptr_equal(b.kids, a.kids);
	assert_ptr_equal(b.perms, a.perms);
	/* And holds what the last commit wrote. */
	dir = (unsigned char *)xs_directory(xs, XBT_NULL, "/local/domain/7/device", &n);
	assert_non_null(dir);
	assert_int_equal(n, 2);
	free(dir);
	device_remove(7, 51712, true);
	rmf("/local/domain/7");
	rmf("/libxl/7");
}

/* The process's anonymous memory, kB (its heaps; the rest is code). */
static long anon_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "re");
	char line[128];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Anonymous: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void test_heap_given_back(void **state)
{
	long before, peak, after;
	unsigned g, i;
	(void)state;

#ifdef UNDER_ASAN
	skip();
#endif
	for (g = 1; g <= GUESTS; g++)
		guest_layout(g);
	/* The baseline: one device came and went (what every later one reuses
	 * is made), the store trimmed. */
	device_add(1, 51712);
	device_remove(1, 51712, true);
	vbd_test_store_call(&ts, vbd_test_store_trim, NULL);
	malloc_trim(0);
	before = anon_kb();
	/* Attached in the order several toolstacks would: guests interleaved. */
	for (i = 0; i < DEVICES; i++)
		device_add(1 + i % GUESTS, 51712 + 16 * (i / GUESTS));
	peak = anon_kb();
	for (i = 0; i < DEVICES; i++)
		device_remove(1 + i % GUESTS, 51712 + 16 * (i / GUESTS), i / GUESTS == DEVICES / GUESTS - 1);
	vbd_test_store_call(&ts, vbd_test_store_trim, NULL);
	malloc_trim(0);
	after = anon_kb();
	print_message("anonymous kB: before %ld, peak %ld, after %ld: %.0f%% of the peak's growth kept\n",
	              before, peak, after, 100.0 * (after - before) / (peak - before));
	assert_true(before > 0 && peak > before + 1024);
	if ((after - before) * 10 > peak - before)
		fail_msg("kept %ld of the %ld kB the peak added (more than 10%%)", after - before,
		         peak - before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_keeps_node),
		cmocka_unit_test(test_heap_given_back),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
