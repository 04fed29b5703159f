/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_transport - grants and event channels (vbd/transport.h) on the
 * simulated hypervisor (vbd/simhv.h): between handles of one process acting
 * as different domains, and between forked processes, which is what the sim
 * is for.  Plus the fault seam, hostile raw messages to the broker, and the
 * Xen implementation failing cleanly where there is no Xen.
 *
 * Each test gets a fresh broker in a thread (tests/simhv_fixture.h) with
 * domains 1 and 2 added.  Forked children never call cmocka: they report
 * through their exit status (0 ok, other values name the failed step).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "simhv_fixture.h"
#include "simhv/simhv_wire.h"
#include "transport/xport.h"

#define PG VBD_PAGE_SIZE
#define WAIT_MS 5000

struct fx {
	vbd_test_simhv t;
	vbd_xport *x0, *x1, *x2;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || vbd_test_simhv_start(&f->t) < 0)
		goto fail;
	if (vbd_test_simhv_domain_add(&f->t, 1) < 0 || vbd_test_simhv_domain_add(&f->t, 2) < 0)
		goto fail_stop;
	if (vbd_test_simhv_xport(&f->t, 0, &f->x0) < 0 ||
	    vbd_test_simhv_xport(&f->t, 1, &f->x1) < 0 ||
	    vbd_test_simhv_xport(&f->t, 2, &f->x2) < 0)
		goto fail_stop;
	*state = f;
	return 0;
fail_stop:
	vbd_xport_free(f->x0);
	vbd_xport_free(f->x1);
	vbd_xport_free(f->x2);
	vbd_test_simhv_stop(&f->t);
fail:
	free(f);
	return -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	vbd_xport_free(f->x0);
	vbd_xport_free(f->x1);
	vbd_xport_free(f->x2);
	vbd_test_simhv_stop(&f->t);
	free(f);
	return 0;
}

static vbd_simhv_stats stats(struct fx *f)
{
	vbd_simhv_stats s;

	vbd_test_simhv_stats(&f->t, &s);
	return s;
}

static bool idle_check(const vbd_simhv_stats *s, void *arg)
{
	const uint64_t *conns = arg;

	return s->grants == 0 && s->maps == 0 && s->ports == 0 && s->pages == 0 &&
	       s->conns == *conns;
}

/* Waits until nothing is held and conns connections remain. */
static void assert_idle(struct fx *f, uint64_t conns)
{
	vbd_simhv_stats s;

	if (!vbd_test_simhv_wait(&f->t, idle_check, &conns, WAIT_MS)) {
		s = stats(f);
		fail_msg("broker not idle: grants %llu maps %llu ports %llu pages %llu conns %llu",
		         (unsigned long long)s.grants, (unsigned long long)s.maps,
		         (unsigned long long)s.ports, (unsigned long long)s.pages,
		         (unsigned long long)s.conns);
	}
}

static void fill(void *p, size_t len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		((uint8_t *)p)[i] = (uint8_t)(seed + i * 7);
}

static bool check_fill(const void *p, size_t len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (((const uint8_t *)p)[i] != (uint8_t)(seed + i * 7))
			return false;
	return true;
}

static bool is_zero(const void *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (((const uint8_t *)p)[i])
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* Grants in one process                                               */

static void test_share_map_rw(void **state)
{
	struct fx *f = *state;
	uint32_t refs[4];
	void *a, *b;
	vbd_simhv_stats s;
	unsigned i;

	assert_int_equal(vbd_gnt_share(f->x0, 1, 4, true, refs, &a), 0);
	for (i = 0; i < 4; i++)
		assert_true(refs[i] >= 8);
	assert_true(is_zero(a, 4 * PG));
	s = stats(f);
	assert_int_equal(s.grants, 4);
	assert_int_equal(s.pages, 4);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 4, refs, true, &b), 0);
	assert_ptr_not_equal(a, b);
	s = stats(f);
	assert_int_equal(s.maps, 4);
	fill(a, 4 * PG, 1);
	assert_true(check_fill(b, 4 * PG, 1));
	fill(b, 4 * PG, 99);
	assert_true(check_fill(a, 4 * PG, 99));
	/* A subset of the refs, out of order, maps in that order. */
	{
		uint32_t sub[2] = { refs[3], refs[1] };
		uint8_t *c;

		assert_int_equal(vbd_gnt_map(f->x1, 0, 2, sub, false, (void **)&c), 0);
		assert_memory_equal(c, (uint8_t *)a + 3 * PG, PG);
		assert_memory_equal(c + PG, (uint8_t *)a + PG, PG);
		assert_int_equal(stats(f).maps, 6);
		assert_int_equal(vbd_gnt_unmap(f->x1, c, 2), 0);
	}
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 4), 0);
	assert_int_equal(stats(f).maps, 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 4), 0);
	assert_idle(f, 3);
}

/* A handle's mappings are found by id among many (the broker keeps them in
 * a table that grows: 16 buckets, then 32, then 64), unmapped in any order,
 * each exactly once, and the rest keep their pages. */
#define MANY_MAPS 40
static void test_many_maps_any_order(void **state)
{
	struct fx *f = *state;
	uint32_t refs[MANY_MAPS];
	uint8_t *a, *m[MANY_MAPS];
	unsigned i, left = MANY_MAPS;

	assert_int_equal(vbd_gnt_share(f->x0, 1, MANY_MAPS, true, refs, (void **)&a), 0);
	for (i = 0; i < MANY_MAPS; i++) {
		memset(a + i * PG, (int)(i + 1), PG);
		assert_int_equal(vbd_gnt_map(f->x1, 0, 1, &refs[i], false, (void **)&m[i]), 0);
	}
	assert_int_equal(stats(f).maps, MANY_MAPS);
	/* Even ones oldest first, then odd ones newest first. */
	for (i = 0; i < MANY_MAPS; i += 2) {
		assert_int_equal(vbd_gnt_unmap(f->x1, m[i], 1), 0);
		assert_int_equal(stats(f).maps, --left);
	}
	for (i = MANY_MAPS - 1; i < MANY_MAPS; i -= 2) {
		assert_int_equal(m[i][0], i + 1);
		assert_int_equal(m[i][PG - 1], i + 1);
		assert_int_equal(vbd_gnt_unmap(f->x1, m[i], 1), 0);
		assert_int_equal(stats(f).maps, --left);
	}
	/* Mapped again after all went: fresh ids, the same pages. */
	for (i = 0; i < MANY_MAPS; i++)
		assert_int_equal(vbd_gnt_map(f->x1, 0, 1, &refs[i], false, (void **)&m[i]), 0);
	assert_int_equal(stats(f).maps, MANY_MAPS);
	for (i = 0; i < MANY_MAPS; i++)
		assert_int_equal(m[i][0], i + 1);
	for (i = 0; i < MANY_MAPS; i++)   /* 7 and 40 coprime: each once */
		assert_int_equal(vbd_gnt_unmap(f->x1, m[(i * 7) % MANY_MAPS], 1), 0);
	assert_int_equal(stats(f).maps, 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, MANY_MAPS), 0);
	assert_idle(f, 3);
}

static void test_share_fresh_pages_zeroed(void **state)
{
	struct fx *f = *state;
	uint32_t refs[2];
	void *a;

	assert_int_equal(vbd_gnt_share(f->x0, 1, 2, true, refs, &a), 0);
	memset(a, 0xAB, 2 * PG);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 2), 0);
	/* The same slots come back: zeroed. */
	assert_int_equal(vbd_gnt_share(f->x0, 1, 2, true, refs, &a), 0);
	assert_true(is_zero(a, 2 * PG));
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 2), 0);
}

/* Writes to p in a child; returns the signal that killed it (0: none). */
static int write_in_child(volatile uint8_t *p)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		p[0] = 1;
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static void test_map_ro(void **state)
{
	struct fx *f = *state;
	uint32_t refs[2];
	uint8_t *a, *b;

	assert_int_equal(vbd_gnt_share(f->x0, 1, 2, false, refs, (void **)&a), 0);
	fill(a, 2 * PG, 5);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 2, refs, true, (void **)&b), -EACCES);
	assert_int_equal(stats(f).maps, 0);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 2, refs, false, (void **)&b), 0);
	assert_true(check_fill(b, 2 * PG, 5));
	assert_int_equal(write_in_child(b + PG), SIGSEGV);
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 2), 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 2), 0);

	/* A writable grant mapped read-only is read-only too. */
	assert_int_equal(vbd_gnt_share(f->x0, 1, 1, true, refs, (void **)&a), 0);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 1, refs, false, (void **)&b), 0);
	assert_int_equal(write_in_child(b), SIGSEGV);
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 1), 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 1), 0);
	assert_idle(f, 3);
}

static void test_map_mixed_grants(void **state)
{
	struct fx *f = *state;
	uint32_t rw[1], ro[1], both[2];
	uint8_t *a, *c, *b;

	assert_int_equal(vbd_gnt_share(f->x0, 1, 1, true, rw, (void **)&a), 0);
	assert_int_equal(vbd_gnt_share(f->x0, 1, 1, false, ro, (void **)&c), 0);
	a[0] = 'w';
	c[0] = 'r';
	both[0] = rw[0];
	both[1] = ro[0];
	/* Two arenas, two fds in one reply. */
	assert_int_equal(vbd_gnt_map(f->x1, 0, 2, both, false, (void **)&b), 0);
	assert_int_equal(b[0], 'w');
	assert_int_equal(b[PG], 'r');
	assert_int_equal(vbd_gnt_map(f->x1, 0, 2, both, true, (void **)&b), -EACCES);
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 2), 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 1), 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, c, 1), 0);
	assert_idle(f, 3);
}

static void test_map_other_domain(void **state)
{
	struct fx *f = *state;
	uint32_t refs[1];
	void *a, *b;

	assert_int_equal(vbd_gnt_share(f->x0, 1, 1, true, refs, &a), 0);
	/* Granted to dom1: dom2 and dom0 itself may not map it. */
	assert_int_equal(vbd_gnt_map(f->x2, 0, 1, refs, false, &b), -EACCES);
	assert_int_equal(vbd_gnt_map(f->x0, 0, 1, refs, false, &b), -EACCES);
	assert_int_equal(stats(f).maps, 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 1), 0);
}

static void test_map_bad_refs(void **state)
{
	struct fx *f = *state;
	uint32_t refs[2], bad[2];
	void *a, *b;

	assert_int_equal(vbd_gnt_share(f->x0, 1, 2, true, refs, &a), 0);
	bad[0] = refs[0];
	bad[1] = 7;               /* reserved */
	assert_int_equal(vbd_gnt_map(f->x1, 0, 2, bad, true, &b), -EINVAL);
	bad[1] = 100000;          /* beyond the table */
	assert_int_equal(vbd_gnt_map(f->x1, 0, 2, bad, true, &b), -EINVAL);
	bad[1] = refs[1] + 50;    /* never used */
	assert_int_equal(vbd_gnt_map(f->x1, 0, 2, bad, true, &b), -EINVAL);
	/* Wrong granter, and a domain that does not exist. */
	assert_int_equal(vbd_gnt_map(f->x1, 2, 2, refs, true, &b), -EINVAL);
	assert_int_equal(vbd_gnt_map(f->x1, 77, 2, refs, true, &b), -EINVAL);
	assert_int_equal(vbd_gnt_map(f->x1, 0x7FF0, 2, refs, true, &b), -EINVAL);
	assert_int_equal(stats(f).maps, 0);
	/* Arguments. */
	assert_int_equal(vbd_gnt_map(f->x1, 0, 0, refs, true, &b), -EINVAL);
	assert_int_equal(vbd_gnt_map(NULL, 0, 1, refs, true, &b), -EINVAL);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 1, NULL, true, &b), -EINVAL);
	assert_int_equal(vbd_gnt_share(f->x0, 1, 0, true, refs, &b), -EINVAL);
	assert_int_equal(vbd_gnt_share(f->x0, 0x7FF0, 1, true, refs, &b), -EINVAL);
	assert_int_equal(vbd_gnt_unmap(f->x1, a, 2), -EINVAL);     /* not a mapping */
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 1), -EINVAL);   /* wrong count */
	assert_int_equal(vbd_gnt_unshare(f->x1, a, 2), -EINVAL);   /* not x1's */
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 2), 0);
	assert_idle(f, 3);
}

static void test_unshare_busy(void **state)
{
	struct fx *f = *state;
	uint32_t refs[3];
	uint8_t *a, *b, *c;

	assert_int_equal(vbd_gnt_share(f->x0, 1, 3, true, refs, (void **)&a), 0);
	/* One mapped page makes the whole unshare fail, changing nothing. */
	assert_int_equal(vbd_gnt_map(f->x1, 0, 1, &refs[2], true, (void **)&b), 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 3), -EBUSY);
	assert_int_equal(stats(f).grants, 3);
	a[0] = 1;                 /* still mapped here */
	assert_int_equal(vbd_gnt_map(f->x2, 0, 1, &refs[0], true, (void **)&c), -EACCES);
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 1), 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 3), 0);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 3, refs, true, (void **)&b), -EINVAL);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 1, &refs[0], false, (void **)&b), -EINVAL);
	assert_idle(f, 3);
}

static int limits_fn(vbd_simhv *hv, void *arg)
{
	vbd__simhv_set_limits(hv, arg);
	return 0;
}

static void test_grant_table_full(void **state)
{
	struct fx *f = *state;
	vbd__simhv_limits l = VBD__SIMHV_LIMITS_INIT;
	uint32_t refs[16], more[2];
	void *a, *b, *c;
	unsigned i;

	l.grants = 8 + 16;
	l.refs_per_call = 12;
	vbd_test_simhv_call(&f->t, limits_fn, &l);
	assert_int_equal(vbd_gnt_share(f->x0, 1, 13, true, refs, &a), -E2BIG);
	assert_int_equal(vbd_gnt_share(f->x0, 1, 10, true, refs, &a), 0);
	assert_int_equal(vbd_gnt_share(f->x0, 2, 6, true, refs + 10, &b), 0);
	for (i = 0; i < 16; i++)
		assert_true(refs[i] >= 8 && refs[i] < 24);
	assert_int_equal(vbd_gnt_share(f->x0, 1, 1, true, more, &c), -ENOSPC);
	/* Per domain: dom1's table is empty. */
	assert_int_equal(vbd_gnt_share(f->x1, 0, 2, true, more, &c), 0);
	assert_int_equal(vbd_gnt_unshare(f->x1, c, 2), 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, b, 6), 0);
	assert_int_equal(vbd_gnt_share(f->x0, 1, 2, true, more, &c), 0);
	assert_int_equal(stats(f).grants, 12);
	assert_int_equal(vbd_gnt_unshare(f->x0, c, 2), 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 10), 0);
	/* Mapped pages per connection. */
	l.mapped_pages = 3;
	vbd_test_simhv_call(&f->t, limits_fn, &l);
	assert_int_equal(vbd_gnt_share(f->x0, 1, 4, true, refs, &a), 0);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 4, refs, true, &b), -ENOSPC);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 3, refs, true, &b), 0);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 1, refs, true, &c), -ENOSPC);
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 3), 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 4), 0);
	assert_idle(f, 3);
}

/* ------------------------------------------------------------------ */
/* Across processes                                                    */

struct msg {
	uint32_t refs[8];
	uint32_t port;
};

static int read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Polls an evtchn fd for up to WAIT_MS. */
static bool evt_wait(vbd_evtchn *e)
{
	struct pollfd p = { .fd = vbd_evtchn_fd(e), .events = POLLIN };

	return poll(&p, 1, WAIT_MS) == 1;
}

/* The child maps the parent's pages and writes to them, then shares pages
 * of its own, which the parent maps. */
static void test_fork_share_map(void **state)
{
	struct fx *f = *state;
	int to_child[2], to_parent[2];
	struct msg m;
	uint8_t *a, *b;
	char ok;
	pid_t pid;

	assert_int_equal(vbd_gnt_share(f->x0, 1, 3, true, m.refs, (void **)&a), 0);
	fill(a, 3 * PG, 3);
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		vbd_xport *x;
		uint8_t *p, *q;
		struct msg mine;

		if (vbd_test_simhv_xport(&f->t, 1, &x) < 0)
			_exit(1);
		if (vbd_gnt_map(x, 0, 3, m.refs, true, (void **)&p) < 0)
			_exit(2);
		if (!check_fill(p, 3 * PG, 3))
			_exit(3);
		fill(p, 3 * PG, 42);
		if (vbd_gnt_unmap(x, p, 3) < 0)
			_exit(4);
		if (vbd_gnt_share(x, 0, 2, false, mine.refs, (void **)&q) < 0)
			_exit(5);
		fill(q, 2 * PG, 77);
		if (write(to_parent[1], &mine, sizeof(mine)) != sizeof(mine))
			_exit(6);
		if (read_full(to_child[0], &ok, 1) < 0)
			_exit(7);
		if (vbd_gnt_unshare(x, q, 2) < 0)
			_exit(8);
		vbd_xport_free(x);
		_exit(0);
	}
	assert_int_equal(read_full(to_parent[0], &m, sizeof(m)), 0);
	assert_true(check_fill(a, 3 * PG, 42));
	assert_int_equal(vbd_gnt_map(f->x0, 1, 2, m.refs, false, (void **)&b), 0);
	assert_true(check_fill(b, 2 * PG, 77));
	assert_int_equal(vbd_gnt_map(f->x0, 1, 2, m.refs, true, (void **)&b), -EACCES);
	assert_int_equal(vbd_gnt_unmap(f->x0, b, 2), 0);
	assert_int_equal(write(to_child[1], "k", 1), 1);
	assert_int_equal(wait_child(pid), 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 3), 0);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
	assert_idle(f, 3);
}

static bool child_gone(const vbd_simhv_stats *s, void *arg)
{
	(void)arg;
	return s->conns == 3;
}

/* A child dies holding grants, a mapping and ports: the broker ends them;
 * the parent's mapping of its pages stays valid until unmapped; the
 * parent's port to it leads nowhere but works. */
static void test_process_death(void **state)
{
	struct fx *f = *state;
	int to_parent[2], to_child[2];
	vbd_evtchn *e;
	uint32_t myrefs[1], port;
	char ok;
	struct msg m;
	uint8_t *a, *b;
	vbd_simhv_stats s;
	pid_t pid;
	int r;

	assert_int_equal(vbd_evtchn_open(f->x0, &e), 0);
	assert_int_equal(vbd_gnt_share(f->x0, 1, 1, true, myrefs, (void **)&a), 0);
	assert_int_equal(pipe(to_parent), 0);
	assert_int_equal(pipe(to_child), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		vbd_xport *x;
		vbd_evtchn *ce;
		uint8_t *p, *q;

		if (vbd_test_simhv_xport(&f->t, 1, &x) < 0 || vbd_evtchn_open(x, &ce) < 0)
			_exit(1);
		if (vbd_gnt_map(x, 0, 1, myrefs, true, (void **)&q) < 0)
			_exit(2);
		if (vbd_gnt_share(x, 0, 3, true, m.refs, (void **)&p) < 0)
			_exit(3);
		fill(p, 3 * PG, 9);
		if (vbd_evtchn_alloc_unbound(ce, 0, &m.port) < 0)
			_exit(4);
		if (write(to_parent[1], &m, sizeof(m)) != sizeof(m))
			_exit(5);
		if (read_full(to_child[0], &ok, 1) < 0)
			_exit(6);
		_exit(0);    /* no cleanup: the kernel closes the socket */
	}
	assert_int_equal(read_full(to_parent[0], &m, sizeof(m)), 0);
	assert_int_equal(vbd_gnt_map(f->x0, 1, 3, m.refs, true, (void **)&b), 0);
	assert_int_equal(vbd_evtchn_bind_interdomain(e, 1, m.port, &port), 0);
	assert_int_equal(write(to_child[1], "k", 1), 1);
	assert_int_equal(wait_child(pid), 0);
	assert_true(vbd_test_simhv_wait(&f->t, child_gone, NULL, WAIT_MS));
	s = stats(f);
	assert_int_equal(s.grants, 1);       /* ours */
	assert_int_equal(s.maps, 3);         /* ours of the dead child's pages */
	assert_int_equal(s.pages, 4);
	assert_int_equal(s.ports, 1);
	/* Our mapping stays valid, and writable. */
	assert_true(check_fill(b, 3 * PG, 9));
	b[5] = 1;
	/* Our grant is no longer mapped by the child: unshare works. */
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 1), 0);
	/* Its refs are gone for new maps. */
	assert_int_equal(vbd_gnt_map(f->x0, 1, 3, m.refs, true, (void **)&a), -EINVAL);
	/* The port leads nowhere; notifying it is fine; bind to the dead
	 * child's port is refused. */
	r = vbd_evtchn_pending(e);
	assert_int_equal(r, (int)port);      /* the bind's own event */
	assert_int_equal(vbd_evtchn_unmask(e, port), 0);
	assert_int_equal(vbd_evtchn_notify(e, port), 0);
	assert_int_equal(vbd_evtchn_pending(e), -EAGAIN);
	assert_int_equal(vbd_gnt_unmap(f->x0, b, 3), 0);
	assert_int_equal(vbd_evtchn_unbind(e, port), 0);
	vbd_evtchn_close(e);
	close(to_parent[0]);
	close(to_parent[1]);
	close(to_child[0]);
	close(to_child[1]);
	assert_idle(f, 3);
}

/* Event channels between processes, both directions. */
static void test_fork_evtchn(void **state)
{
	struct fx *f = *state;
	int to_child[2], to_parent[2];
	vbd_evtchn *e;
	uint32_t port, rport;
	pid_t pid;
	int i;

	assert_int_equal(vbd_evtchn_open(f->x0, &e), 0);
	assert_int_equal(vbd_evtchn_alloc_unbound(e, 1, &port), 0);
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		vbd_xport *x;
		vbd_evtchn *ce;
		uint32_t p;
		struct pollfd pf;

		if (vbd_test_simhv_xport(&f->t, 1, &x) < 0 || vbd_evtchn_open(x, &ce) < 0)
			_exit(1);
		if (vbd_evtchn_bind_interdomain(ce, 0, port, &p) < 0)
			_exit(2);
		if (write(to_parent[1], &p, sizeof(p)) != sizeof(p))
			_exit(3);
		/* Echo each event back, 10 times. */
		for (i = 0; i < 10; i++) {
			pf = (struct pollfd){ .fd = vbd_evtchn_fd(ce), .events = POLLIN };
			if (poll(&pf, 1, WAIT_MS) != 1)
				_exit(4);
			if (vbd_evtchn_pending(ce) != (int)p)
				_exit(5);
			if (vbd_evtchn_unmask(ce, p) < 0 || vbd_evtchn_notify(ce, p) < 0)
				_exit(6);
		}
		vbd_xport_free(x);
		_exit(0);
	}
	assert_int_equal(read_full(to_parent[0], &rport, sizeof(rport)), 0);
	assert_true(rport >= 1);
	/* The child's first event is its bind's; it answers each. */
	for (i = 0; i < 10; i++) {
		assert_true(evt_wait(e));
		assert_int_equal(vbd_evtchn_pending(e), (int)port);
		assert_int_equal(vbd_evtchn_unmask(e, port), 0);
		if (i < 9)
			assert_int_equal(vbd_evtchn_notify(e, port), 0);
	}
	assert_int_equal(wait_child(pid), 0);
	assert_int_equal(vbd_evtchn_notify(e, port), 0);   /* peer gone */
	vbd_evtchn_close(e);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
	assert_idle(f, 3);
}

/* ------------------------------------------------------------------ */
/* Event channels in one process                                       */

static void bind_pair(struct fx *f, vbd_evtchn *e0, vbd_evtchn *e1, uint32_t *p0, uint32_t *p1)
{
	(void)f;
	assert_int_equal(vbd_evtchn_alloc_unbound(e0, 1, p0), 0);
	assert_int_equal(vbd_evtchn_bind_interdomain(e1, 0, *p0, p1), 0);
	/* The bind leaves the new port pending, as on Xen. */
	assert_int_equal(vbd_evtchn_pending(e1), (int)*p1);
	assert_int_equal(vbd_evtchn_unmask(e1, *p1), 0);
	assert_int_equal(vbd_evtchn_pending(e1), -EAGAIN);
	assert_int_equal(vbd_evtchn_pending(e0), -EAGAIN);
}

static bool readable(vbd_evtchn *e)
{
	struct pollfd p = { .fd = vbd_evtchn_fd(e), .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static void test_evtchn_basic(void **state)
{
	struct fx *f = *state;
	vbd_evtchn *e0, *e1;
	uint32_t p0, p1;

	assert_int_equal(vbd_evtchn_open(f->x0, &e0), 0);
	assert_int_equal(vbd_evtchn_open(f->x1, &e1), 0);
	assert_true(vbd_evtchn_fd(e0) >= 0);
	bind_pair(f, e0, e1, &p0, &p1);
	assert_int_equal(stats(f).ports, 2);
	assert_false(readable(e0));
	assert_int_equal(vbd_evtchn_notify(e0, p0), 0);
	assert_true(readable(e1));
	assert_false(readable(e0));
	assert_int_equal(vbd_evtchn_pending(e1), (int)p1);
	assert_int_equal(vbd_evtchn_pending(e1), -EAGAIN);
	assert_int_equal(vbd_evtchn_unmask(e1, p1), 0);
	assert_int_equal(vbd_evtchn_notify(e1, p1), 0);
	assert_true(readable(e0));
	assert_int_equal(vbd_evtchn_pending(e0), (int)p0);
	assert_int_equal(vbd_evtchn_unmask(e0, p0), 0);
	assert_false(readable(e0));
	assert_int_equal(vbd_evtchn_unbind(e1, p1), 0);
	assert_int_equal(vbd_evtchn_unbind(e0, p0), 0);
	assert_int_equal(stats(f).ports, 0);
	vbd_evtchn_close(e0);
	vbd_evtchn_close(e1);
}

static void test_evtchn_mask(void **state)
{
	struct fx *f = *state;
	vbd_evtchn *e0, *e1;
	uint32_t p0, p1;

	assert_int_equal(vbd_evtchn_open(f->x0, &e0), 0);
	assert_int_equal(vbd_evtchn_open(f->x1, &e1), 0);
	bind_pair(f, e0, e1, &p0, &p1);
	assert_int_equal(vbd_evtchn_notify(e0, p0), 0);
	assert_int_equal(vbd_evtchn_pending(e1), (int)p1);
	/* Masked: further events wait, coalesced, and show on unmask. */
	assert_int_equal(vbd_evtchn_notify(e0, p0), 0);
	assert_int_equal(vbd_evtchn_notify(e0, p0), 0);
	assert_false(readable(e1));
	assert_int_equal(vbd_evtchn_pending(e1), -EAGAIN);
	assert_int_equal(vbd_evtchn_unmask(e1, p1), 0);
	assert_true(readable(e1));
	assert_int_equal(vbd_evtchn_pending(e1), (int)p1);
	assert_int_equal(vbd_evtchn_unmask(e1, p1), 0);
	assert_int_equal(vbd_evtchn_pending(e1), -EAGAIN);
	/* Unmasking an unmasked port is harmless. */
	assert_int_equal(vbd_evtchn_unmask(e1, p1), 0);
	assert_int_equal(vbd_evtchn_pending(e1), -EAGAIN);
	vbd_evtchn_close(e0);
	vbd_evtchn_close(e1);
	assert_idle(f, 3);
}

static void test_evtchn_bad(void **state)
{
	struct fx *f = *state;
	vbd_evtchn *e0, *e1, *e2;
	uint32_t p0, p1, q;

	assert_int_equal(vbd_evtchn_open(f->x0, &e0), 0);
	assert_int_equal(vbd_evtchn_open(f->x1, &e1), 0);
	assert_int_equal(vbd_evtchn_open(f->x2, &e2), 0);
	assert_int_equal(vbd_evtchn_alloc_unbound(e0, 1, &p0), 0);
	/* For dom1 only. */
	assert_int_equal(vbd_evtchn_bind_interdomain(e2, 0, p0, &q), -EINVAL);
	assert_int_equal(vbd_evtchn_bind_interdomain(e1, 2, p0, &q), -EINVAL);
	assert_int_equal(vbd_evtchn_bind_interdomain(e1, 0, p0 + 1, &q), -EINVAL);
	assert_int_equal(vbd_evtchn_bind_interdomain(e1, 0, 0, &q), -EINVAL);
	assert_int_equal(vbd_evtchn_bind_interdomain(e1, 0, 99999, &q), -EINVAL);
	assert_int_equal(vbd_evtchn_bind_interdomain(e1, 55, 1, &q), -EINVAL);
	assert_int_equal(vbd_evtchn_alloc_unbound(e1, 0x7FF0, &q), -EINVAL);
	assert_int_equal(vbd_evtchn_bind_interdomain(e1, 0, p0, &p1), 0);
	/* Bound already. */
	assert_int_equal(vbd_evtchn_bind_interdomain(e1, 0, p0, &q), -EINVAL);
	/* Ports of other handles, or none. */
	assert_int_equal(vbd_evtchn_unbind(e2, p1), -EINVAL);
	assert_int_equal(vbd_evtchn_notify(e2, p1), -EINVAL);
	assert_int_equal(vbd_evtchn_unmask(e2, 5), -EINVAL);
	assert_int_equal(vbd_evtchn_unbind(e0, 12345), -EINVAL);
	assert_int_equal(vbd_evtchn_alloc_unbound(NULL, 1, &q), -EINVAL);
	assert_int_equal(vbd_evtchn_fd(NULL), -EINVAL);
	/* Binder gone: as on Xen, p0 is unbound again (for dom1 only) and a
	 * new bind works, with notifications both ways. */
	assert_int_equal(vbd_evtchn_unbind(e1, p1), 0);
	assert_int_equal(vbd_evtchn_notify(e0, p0), 0);
	assert_int_equal(stats(f).ports, 1);
	assert_int_equal(vbd_evtchn_bind_interdomain(e2, 0, p0, &q), -EINVAL);
	assert_int_equal(vbd_evtchn_bind_interdomain(e1, 0, p0, &p1), 0);
	assert_int_equal(stats(f).ports, 2);
	{
		struct pollfd pf = { vbd_evtchn_fd(e1), POLLIN, 0 };
		int got;

		/* Pending at once after the bind (Xen's rule), then a notify. */
		assert_int_equal(poll(&pf, 1, 2000), 1);
		got = vbd_evtchn_pending(e1);
		assert_int_equal(got, (int)p1);
		assert_int_equal(vbd_evtchn_unmask(e1, p1), 0);
		while (vbd_evtchn_pending(e1) >= 0)
			vbd_evtchn_unmask(e1, p1);
		assert_int_equal(vbd_evtchn_notify(e0, p0), 0);
		assert_int_equal(poll(&pf, 1, 2000), 1);
		assert_int_equal(vbd_evtchn_pending(e1), (int)p1);
		assert_int_equal(vbd_evtchn_unmask(e1, p1), 0);
		pf.fd = vbd_evtchn_fd(e0);
		assert_int_equal(vbd_evtchn_notify(e1, p1), 0);
		assert_int_equal(poll(&pf, 1, 2000), 1);
		assert_int_equal(vbd_evtchn_pending(e0), (int)p0);
		assert_int_equal(vbd_evtchn_unmask(e0, p0), 0);
	}
	assert_int_equal(vbd_evtchn_unbind(e1, p1), 0);
	assert_int_equal(stats(f).ports, 1);
	/* A handle of the same connection cannot unbind another's port. */
	{
		vbd_evtchn *e0b;

		assert_int_equal(vbd_evtchn_open(f->x0, &e0b), 0);
		assert_int_equal(vbd_evtchn_unbind(e0b, p0), -EINVAL);
		vbd_evtchn_close(e0b);
	}
	vbd_evtchn_close(e0);
	vbd_evtchn_close(e1);
	vbd_evtchn_close(e2);
	assert_idle(f, 3);
}

/* A domain can bind to its own unbound port (loopback), and handles keep
 * their ports apart. */
static void test_evtchn_loopback(void **state)
{
	struct fx *f = *state;
	vbd_evtchn *a, *b;
	uint32_t pa, pb;

	assert_int_equal(vbd_evtchn_open(f->x1, &a), 0);
	assert_int_equal(vbd_evtchn_open(f->x1, &b), 0);
	assert_int_equal(vbd_evtchn_alloc_unbound(a, 1, &pa), 0);
	assert_int_equal(vbd_evtchn_bind_interdomain(b, 1, pa, &pb), 0);
	assert_int_not_equal(pa, pb);
	assert_int_equal(vbd_evtchn_pending(b), (int)pb);
	assert_int_equal(vbd_evtchn_unmask(b, pb), 0);
	assert_int_equal(vbd_evtchn_notify(a, pa), 0);
	assert_int_equal(vbd_evtchn_pending(a), -EAGAIN);
	assert_int_equal(vbd_evtchn_pending(b), (int)pb);
	vbd_evtchn_close(a);
	vbd_evtchn_close(b);
	assert_idle(f, 3);
}

#define NPORTS 300

static void test_evtchn_many(void **state)
{
	struct fx *f = *state;
	static uint32_t p0[NPORTS], p1[NPORTS];
	static bool seen[NPORTS];
	vbd_evtchn *e0, *e1;
	vbd__simhv_limits l = VBD__SIMHV_LIMITS_INIT;
	unsigned i, n;
	uint32_t q;
	int r;

	assert_int_equal(vbd_evtchn_open(f->x0, &e0), 0);
	assert_int_equal(vbd_evtchn_open(f->x1, &e1), 0);
	for (i = 0; i < NPORTS; i++) {
		assert_int_equal(vbd_evtchn_alloc_unbound(e0, 1, &p0[i]), 0);
		assert_int_equal(vbd_evtchn_bind_interdomain(e1, 0, p0[i], &p1[i]), 0);
	}
	assert_int_equal(stats(f).ports, 2 * NPORTS);
	/* Drain the binds' events. */
	for (n = 0; (r = vbd_evtchn_pending(e1)) >= 0; n++)
		assert_int_equal(vbd_evtchn_unmask(e1, (uint32_t)r), 0);
	assert_int_equal(n, NPORTS);
	for (i = 0; i < NPORTS; i += 3)
		assert_int_equal(vbd_evtchn_notify(e0, p0[i]), 0);
	memset(seen, 0, sizeof(seen));
	for (n = 0; (r = vbd_evtchn_pending(e1)) >= 0; n++) {
		for (i = 0; i < NPORTS && p1[i] != (uint32_t)r; i++)
			;
		assert_true(i < NPORTS);
		assert_true(i % 3 == 0);
		assert_false(seen[i]);
		seen[i] = true;
	}
	assert_int_equal(n, (NPORTS + 2) / 3);
	/* The port limit. */
	l.ports = NPORTS + 1;       /* per domain; port 0 counts */
	vbd_test_simhv_call(&f->t, limits_fn, &l);
	assert_int_equal(vbd_evtchn_alloc_unbound(e0, 1, &q), -ENOSPC);
	assert_int_equal(vbd_evtchn_unbind(e0, p0[0]), 0);
	assert_int_equal(vbd_evtchn_alloc_unbound(e0, 1, &q), 0);
	assert_int_equal(q, p0[0]);   /* the lowest free port */
	vbd_evtchn_close(e0);
	vbd_evtchn_close(e1);
	assert_idle(f, 3);
}

/* ------------------------------------------------------------------ */
/* Lifetimes                                                           */

static void test_xport_free_releases(void **state)
{
	struct fx *f = *state;
	vbd_xport *x;
	vbd_evtchn *e, *e0;
	uint32_t refs[2], mine[2], p, p0;
	void *a, *b, *c;

	assert_int_equal(vbd_test_simhv_xport(&f->t, 1, &x), 0);
	assert_int_equal(vbd_xport_get_kind(x), VBD_XPORT_SIM);
	assert_int_equal(vbd_gnt_share(f->x0, 1, 2, true, refs, &a), 0);
	assert_int_equal(vbd_gnt_map(x, 0, 2, refs, true, &b), 0);
	assert_int_equal(vbd_gnt_share(x, 0, 2, true, mine, &c), 0);
	assert_int_equal(vbd_evtchn_open(x, &e), 0);
	assert_int_equal(vbd_evtchn_open(f->x0, &e0), 0);
	assert_int_equal(vbd_evtchn_alloc_unbound(e, 0, &p), 0);
	assert_int_equal(vbd_evtchn_bind_interdomain(e0, 1, p, &p0), 0);
	/* The evtchn handle is closed with its xport. */
	vbd_xport_free(x);
	assert_true(vbd_test_simhv_wait(&f->t, child_gone, NULL, WAIT_MS));
	vbd_evtchn_close(e0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 2), 0);
	assert_idle(f, 3);
	assert_null(vbd_xport_free(NULL));
	assert_null(vbd_evtchn_close(NULL));
}

static void test_domain_remove(void **state)
{
	struct fx *f = *state;
	uint32_t refs[2], mine[1], p;
	vbd_evtchn *e;
	void *a, *b, *c;

	assert_int_equal(vbd_gnt_share(f->x0, 1, 2, true, refs, &a), 0);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 2, refs, true, &b), 0);
	assert_int_equal(vbd_gnt_share(f->x1, 0, 1, true, mine, &c), 0);
	assert_int_equal(vbd_evtchn_open(f->x1, &e), 0);
	assert_int_equal(vbd_evtchn_alloc_unbound(e, 0, &p), 0);
	assert_int_equal(vbd_test_simhv_domain_remove(&f->t, 1), 0);
	assert_int_equal(vbd_test_simhv_domain_remove(&f->t, 1), -ENOENT);
	assert_int_equal(vbd_test_simhv_domain_add(&f->t, 2), -EEXIST);
	assert_int_equal(stats(f).grants, 2);
	assert_int_equal(stats(f).maps, 0);
	assert_int_equal(stats(f).ports, 0);
	/* Dom0's grant is free again. */
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 2), 0);
	/* dom1's handle is cut off; its calls fail, its teardown works. */
	assert_int_equal(vbd_gnt_share(f->x1, 0, 1, true, mine, &a), -EPIPE);
	assert_int_equal(vbd_evtchn_alloc_unbound(e, 0, &p), -EPIPE);
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 2), 0);
	assert_int_equal(vbd_gnt_unshare(f->x1, c, 1), 0);
	vbd_evtchn_close(e);
	/* Its socket is gone. */
	{
		vbd_xport *x;

		assert_int_equal(vbd_test_simhv_xport(&f->t, 1, &x), -ENOENT);
		assert_int_equal(vbd_test_simhv_domain_add(&f->t, 1), 0);
		assert_int_equal(vbd_test_simhv_xport(&f->t, 1, &x), 0);
		vbd_xport_free(x);
	}
	assert_idle(f, 2);    /* f->x1 was cut off */
}

/* ------------------------------------------------------------------ */
/* The fault seam                                                      */

static void test_fault_seam(void **state)
{
	struct fx *f = *state;
	uint32_t refs[1];
	void *a, *b;

	assert_int_equal(vbd__xport_fail(f->x1, "nonsense", 1, -EIO, false), -EINVAL);
	assert_int_equal(vbd_gnt_share(f->x0, 1, 1, true, refs, &a), 0);
	assert_int_equal(vbd__xport_fail(f->x1, "map", 2, -ENOMEM, false), 0);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 1, refs, true, &b), 0);
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 1), 0);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 1, refs, true, &b), -ENOMEM);
	assert_int_equal(stats(f).maps, 0);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 1, refs, true, &b), 0);
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 1), 0);
	/* Persistent, and any op. */
	assert_int_equal(vbd__xport_fail(f->x1, NULL, 2, -EIO, true), 0);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 1, refs, true, &b), 0);
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 1), -EIO);
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 1), -EIO);
	assert_int_equal(vbd__xport_fail(f->x1, NULL, 0, 0, false), 0);
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 1), 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 1), 0);
	assert_idle(f, 3);
}

/* One full exchange, undone step by step on failure: used with every call
 * failed in turn.  Returns the number of transport calls on success. */
static int exchange(vbd_xport *x0, vbd_xport *x1)
{
	vbd_evtchn *e0 = NULL, *e1 = NULL;
	uint32_t refs[2], p0 = 0, p1 = 0;
	void *a = NULL, *b = NULL;
	int r, p;

	if ((r = vbd_gnt_share(x0, 1, 2, true, refs, &a)) < 0)
		goto out;
	if ((r = vbd_gnt_map(x1, 0, 2, refs, true, &b)) < 0)
		goto out;
	if ((r = vbd_evtchn_open(x0, &e0)) < 0 || (r = vbd_evtchn_open(x1, &e1)) < 0)
		goto out;
	if ((r = vbd_evtchn_alloc_unbound(e0, 1, &p0)) < 0)
		goto out;
	if ((r = vbd_evtchn_bind_interdomain(e1, 0, p0, &p1)) < 0)
		goto out;
	if ((p = vbd_evtchn_pending(e1)) < 0) {
		r = p;
		goto out;
	}
	if ((r = vbd_evtchn_unmask(e1, p1)) < 0 || (r = vbd_evtchn_notify(e1, p1)) < 0)
		goto out;
	if ((r = vbd_evtchn_unbind(e1, p1)) < 0)
		goto out;
	p1 = 0;
	if ((r = vbd_gnt_unmap(x1, b, 2)) < 0)
		goto out;
	b = NULL;
	r = vbd_gnt_unshare(x0, a, 2);
	if (r >= 0)
		a = NULL;
out:
	/* Teardown without the failing calls: closing does it. */
	vbd__xport_fail(x0, NULL, 0, 0, false);
	vbd__xport_fail(x1, NULL, 0, 0, false);
	vbd_evtchn_close(e1);
	vbd_evtchn_close(e0);
	if (b)
		assert_int_equal(vbd_gnt_unmap(x1, b, 2), 0);
	if (a)
		assert_int_equal(vbd_gnt_unshare(x0, a, 2), 0);
	return r;
}

static void test_fault_each_call(void **state)
{
	struct fx *f = *state;
	unsigned n;
	int r;

	for (n = 1;; n++) {
		vbd_xport *target = n % 2 ? f->x0 : f->x1;

		assert_int_equal(vbd__xport_fail(target, NULL, (n + 1) / 2, -ENOMEM, false), 0);
		r = exchange(f->x0, f->x1);
		assert_idle(f, 3);
		if (r >= 0 && n > 20)
			break;
		if (r >= 0)
			continue;
		assert_int_equal(r, -ENOMEM);
	}
}

/* ------------------------------------------------------------------ */
/* Concurrency                                                         */

struct thr {
	struct fx *f;
	int rc;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	unsigned i;

	for (i = 0; i < 100 && !t->rc; i++) {
		uint32_t refs[3];
		uint8_t *a, *b;

		if (vbd_gnt_share(t->f->x0, 1, 3, true, refs, (void **)&a) < 0) {
			t->rc = 1;
			break;
		}
		a[0] = (uint8_t)i;
		if (vbd_gnt_map(t->f->x1, 0, 3, refs, true, (void **)&b) < 0 || b[0] != (uint8_t)i)
			t->rc = 2;
		else if (vbd_gnt_unmap(t->f->x1, b, 3) < 0)
			t->rc = 3;
		if (vbd_gnt_unshare(t->f->x0, a, 3) < 0)
			t->rc = 4;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fx *f = *state;
	pthread_t th[4];
	struct thr t[4];
	unsigned i;

	for (i = 0; i < 4; i++) {
		t[i] = (struct thr){ f, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].rc, 0);
	}
	assert_idle(f, 3);
}

/* What a thread's maps take from the heap: none.  blkback's ring workers
 * map the grants their requests bring, and a thread's first malloc() gives
 * it one of glibc's per-thread arenas, which keeps pages when the thread and
 * its blocks are gone.  heap_calls counts this thread's malloc, calloc and
 * realloc, the library's included (linked with --wrap for each). */
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
static _Thread_local unsigned heap_calls;

void *__wrap_malloc(size_t n)
{
	heap_calls++;
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	heap_calls++;
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	heap_calls++;
	return __real_realloc(p, n);
}

/* More maps than one page of records holds (127), so that pages of records
 * are added, and given back as they empty (but for one). */
#define HEAPLESS_MAPS 300

struct heapless {
	struct fx *f;
	const uint32_t *refs;
	unsigned calls, rc;
	size_t pages_most, pages_after;
};

static void *heapless_main(void *arg)
{
	struct heapless *h = arg;
	uint8_t *m[HEAPLESS_MAPS];
	unsigned i;

	for (i = 0; i < HEAPLESS_MAPS && !h->rc; i++)
		if (vbd_gnt_map(h->f->x1, 0, 1, &h->refs[i], true, (void **)&m[i]) < 0 ||
		    m[i][0] != (uint8_t)i)
			h->rc = 1 + i;
	h->pages_most = vbd__region_pages();
	for (i = 0; i < HEAPLESS_MAPS && !h->rc; i++)   /* 7 and 300 coprime */
		if (vbd_gnt_unmap(h->f->x1, m[(i * 7) % HEAPLESS_MAPS], 1) < 0)
			h->rc = 1000 + i;
	h->pages_after = vbd__region_pages();
	h->calls = heap_calls;
	return NULL;
}

static void test_map_in_thread_heapless(void **state)
{
	struct fx *f = *state;
	uint32_t refs[HEAPLESS_MAPS];
	struct heapless h = { .f = f, .refs = refs };
	size_t before = vbd__region_pages();
	pthread_t th;
	uint8_t *a;
	unsigned i;

	assert_int_equal(vbd_gnt_share(f->x0, 1, HEAPLESS_MAPS, true, refs, (void **)&a), 0);
	for (i = 0; i < HEAPLESS_MAPS; i++)
		a[i * PG] = (uint8_t)i;
	assert_int_equal(pthread_create(&th, NULL, heapless_main, &h), 0);
	pthread_join(th, NULL);
	assert_int_equal(h.rc, 0);
	assert_int_equal(h.calls, 0);
	/* 127 records a page; all given back but one page kept empty. */
	assert_true(before <= 1);
	assert_true(h.pages_most >= (HEAPLESS_MAPS + 126) / 127);
	assert_int_equal(h.pages_after, 1);
	assert_int_equal(stats(f).maps, 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, HEAPLESS_MAPS), 0);
	/* The counter counts: a share's record holds its refs, from the heap. */
	heap_calls = 0;
	assert_int_equal(vbd_gnt_share(f->x0, 1, 2, true, refs, (void **)&a), 0);
	assert_true(heap_calls > 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 2), 0);
	assert_idle(f, 3);
}

/* ------------------------------------------------------------------ */
/* Hostile clients                                                     */

static bool conn_killed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[64];

	if (poll(&p, 1, WAIT_MS) != 1)
		return false;
	return recv(fd, buf, sizeof(buf), 0) == 0;
}

static void test_malformed(void **state)
{
	struct fx *f = *state;
	struct simhv_req q;
	uint8_t big[SIMHV_REQ_MAX + 8];
	uint32_t refs[1];
	void *a, *b;
	int fd, k;
	uint64_t killed;

	assert_int_equal(vbd_gnt_share(f->x0, 1, 1, true, refs, &a), 0);
	assert_int_equal(vbd_gnt_map(f->x1, 0, 1, refs, true, &b), 0);
	for (k = 0; k < 9; k++) {
		struct iovec iov;
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} cm;
		size_t len = sizeof(q);

		fd = vbd_test_simhv_raw_connect(&f->t, 1);
		assert_true(fd >= 0);
		memset(&q, 0, sizeof(q));
		q.op = SIMHV_OP_UNMAP;
		switch (k) {
		case 0: len = 3; break;                        /* short */
		case 1: q.op = 0; break;                       /* unknown op */
		case 2: q.op = SIMHV_OP_COUNT; break;
		case 3: q.pad = 1; break;                      /* reserved */
		case 4: q.domid = 1; break;                    /* unused field */
		case 5: q.op = SIMHV_OP_MAP; q.count = 2; break; /* items missing */
		case 6: len = sizeof(big); break;              /* too long */
		case 7: len = sizeof(q) + 2; break;            /* ragged */
		case 8: break;                                 /* with an fd */
		}
		memset(big, 0, sizeof(big));
		memcpy(big, &q, sizeof(q));
		iov.iov_base = big;
		iov.iov_len = len;
		if (k == 8) {
			struct cmsghdr *ch;
			int one = 1;

			m.msg_control = cm.b;
			m.msg_controllen = sizeof(cm.b);
			ch = CMSG_FIRSTHDR(&m);
			ch->cmsg_level = SOL_SOCKET;
			ch->cmsg_type = SCM_RIGHTS;
			ch->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(ch), &one, sizeof(int));
		}
		assert_int_equal(sendmsg(fd, &m, MSG_NOSIGNAL), (ssize_t)len);
		assert_true(conn_killed(fd));
		close(fd);
	}
	killed = stats(f).conns_killed;
	assert_int_equal(killed, 9);
	/* Well-formed but wrong requests get errors, not a kill. */
	fd = vbd_test_simhv_raw_connect(&f->t, 1);
	memset(&q, 0, sizeof(q));
	q.op = SIMHV_OP_UNMAP;
	q.id = 12345;
	assert_int_equal(send(fd, &q, sizeof(q), MSG_NOSIGNAL), (ssize_t)sizeof(q));
	{
		struct simhv_rep rep;

		assert_int_equal(recv(fd, &rep, sizeof(rep), 0), (ssize_t)sizeof(rep));
		assert_int_equal(rep.status, -EINVAL);
	}
	close(fd);
	/* The others' grants and mappings were untouched. */
	assert_int_equal(stats(f).conns_killed, 9);
	assert_int_equal(stats(f).maps, 1);
	assert_int_equal(vbd_gnt_unmap(f->x1, b, 1), 0);
	assert_int_equal(vbd_gnt_unshare(f->x0, a, 1), 0);
	assert_idle(f, 3);
}

/* A client that sends requests and never reads: the broker stops reading
 * it once a reply is stuck, and holds no more than that. */
static void test_unread_replies(void **state)
{
	struct fx *f = *state;
	struct simhv_req q = { .op = SIMHV_OP_UNMAP, .id = 999 };
	int fd = vbd_test_simhv_raw_connect(&f->t, 1), i, sent = 0;
	int sz = 4096;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	for (i = 0; i < 20000; i++) {
		if (send(fd, &q, sizeof(q), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			break;
		sent++;
	}
	assert_true(sent > 0);
	usleep(100 * 1000);
	/* The broker is still responsive for others. */
	{
		uint32_t refs[1];
		void *a;

		assert_int_equal(vbd_gnt_share(f->x0, 1, 1, true, refs, &a), 0);
		assert_int_equal(vbd_gnt_unshare(f->x0, a, 1), 0);
	}
	close(fd);
	assert_idle(f, 3);
}

/* ------------------------------------------------------------------ */
/* Opening                                                             */

static void test_open(void **state)
{
	struct fx *f = *state;
	vbd_xport_options o = VBD_XPORT_OPTIONS_INIT;
	vbd_errbuf err = { "" };
	char path[PATH_MAX];
	vbd_xport *x = NULL;

	/* The default is the sim when $VBD_SIMHV_PATH is set. */
	vbd_test_simhv_path(&f->t, 2, path);
	setenv("VBD_SIMHV_PATH", path, 1);
	assert_int_equal(vbd_xport_open(&x, NULL, &err), 0);
	assert_int_equal(vbd_xport_get_kind(x), VBD_XPORT_SIM);
	x = vbd_xport_free(x);
	unsetenv("VBD_SIMHV_PATH");
	/* No broker there. */
	o.kind = VBD_XPORT_SIM;
	snprintf(path, sizeof(path), "%.*s/nothing", PATH_MAX - 16, f->t.dir);
	o.sim_path = path;
	assert_int_equal(vbd_xport_open(&x, &o, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "nothing"));
	assert_null(x);
	o.version = 99;
	assert_int_equal(vbd_xport_open(&x, &o, NULL), -EINVAL);
	assert_int_equal(vbd_xport_open(NULL, NULL, NULL), -EINVAL);
	/* Domain sockets: over the limit the connection is closed. */
	{
		vbd__simhv_limits l = VBD__SIMHV_LIMITS_INIT;
		uint32_t refs[1];
		void *a;

		l.conns = 1;    /* f->x2 is the one */
		vbd_test_simhv_call(&f->t, limits_fn, &l);
		assert_int_equal(vbd_test_simhv_xport(&f->t, 2, &x), 0);
		assert_int_equal(vbd_gnt_share(x, 0, 1, true, refs, &a), -EPIPE);
		vbd_xport_free(x);
	}
}

static void test_xen_enodev(void **state)
{
	vbd_xport_options o = VBD_XPORT_OPTIONS_INIT;
	vbd_errbuf err = { "" };
	vbd_xport *x = NULL;
	struct stat st;

	(void)state;
	if (stat("/dev/xen/evtchn", &st) == 0)
		skip();
	unsetenv("VBD_SIMHV_PATH");
	assert_int_equal(vbd_xport_open(&x, NULL, &err), -ENODEV);
	assert_non_null(strstr(err.msg, "/dev/xen/gntdev"));
	assert_non_null(strstr(err.msg, "/dev/xen/evtchn"));
	o.kind = VBD_XPORT_XEN;
	err.msg[0] = 0;
	assert_int_equal(vbd_xport_open(&x, &o, &err), -ENODEV);
	assert_null(x);
}

/* ------------------------------------------------------------------ */
/* Several calls as one: vbd__xport_run()                              */

/* This thread's sendmsg and recvmsg, the library's included, while
 * counting: a round trip is a receive after a send. */
ssize_t __real_sendmsg(int fd, const struct msghdr *m, int flags);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags);
ssize_t __real_recvmsg(int fd, struct msghdr *m, int flags);
ssize_t __wrap_recvmsg(int fd, struct msghdr *m, int flags);
static _Thread_local bool counting, sent_last;
static _Thread_local unsigned trips;

ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags)
{
	if (counting)
		sent_last = true;
	return __real_sendmsg(fd, m, flags);
}

ssize_t __wrap_recvmsg(int fd, struct msghdr *m, int flags)
{
	if (counting && sent_last) {
		trips++;
		sent_last = false;
	}
	return __real_recvmsg(fd, m, flags);
}

static int counted_run(vbd_xport *x, vbd__xop *ops, unsigned n, unsigned *failed,
                       unsigned *ret_trips)
{
	int r;

	trips = 0;
	sent_last = false;
	counting = true;
	r = vbd__xport_run(x, ops, n, failed);
	counting = false;
	*ret_trips = trips;
	return r;
}

/* dom0's and dom1's transports without their run op: vbd__xport_run()
 * makes one call after the other, as on Xen.  The table outlives a failed
 * assert; each test puts the sim's back at its end. */
static void one_by_one(struct fx *f)
{
	static struct vbd__xport_ops plain;

	plain = vbd__xport_sim_ops;
	plain.run = NULL;
	f->x1->ops = &plain;
	f->x0->ops = &plain;
}

/* Two rings as blkfront and blkback set them up: dom1 grants 2 pages a
 * ring and allocates a port for each, dom0 maps them and binds the ports.
 * Each side's run is one round trip on the simulated hypervisor (4 one
 * call after the other, the other implementations' way, checked with the
 * run op taken away), and what it made works: the pages are the same
 * memory, the ports deliver. */
static void run_rings(struct fx *f, bool pipelined)
{
	vbd_evtchn *fe[2], *be[2];
	uint32_t refs[2][2], fport[2], bport[2];
	void *fpage[2], *bpage[2];
	vbd__xop ops[4];
	unsigned i, failed = 99, rt;

	if (!pipelined)
		one_by_one(f);
	for (i = 0; i < 2; i++) {
		assert_int_equal(vbd_evtchn_open(f->x1, &fe[i]), 0);
		assert_int_equal(vbd_evtchn_open(f->x0, &be[i]), 0);
		ops[2 * i] = (vbd__xop){ .op = VBD__XOP_SHARE, .domid = 0, .count = 2,
		                         .writable = true, .refs = refs[i], .addr = &fpage[i] };
		ops[2 * i + 1] = (vbd__xop){ .op = VBD__XOP_ALLOC_UNBOUND, .e = fe[i], .domid = 0,
		                             .port = &fport[i] };
	}
	assert_int_equal(counted_run(f->x1, ops, 4, &failed, &rt), 0);
	assert_int_equal(rt, pipelined ? 1 : 4);
	for (i = 0; i < 2; i++) {
		fill(fpage[i], 2 * PG, (uint8_t)(7 + i));
		ops[2 * i] = (vbd__xop){ .op = VBD__XOP_MAP, .domid = 1, .count = 2,
		                         .writable = true, .refs = refs[i], .addr = &bpage[i] };
		ops[2 * i + 1] = (vbd__xop){ .op = VBD__XOP_BIND_INTERDOMAIN, .e = be[i], .domid = 1,
		                             .remote_port = fport[i], .port = &bport[i] };
	}
	assert_int_equal(counted_run(f->x0, ops, 4, &failed, &rt), 0);
	assert_int_equal(rt, pipelined ? 1 : 4);
	assert_int_equal(stats(f).maps, 4);
	assert_int_equal(stats(f).ports, 4);
	for (i = 0; i < 2; i++) {
		struct pollfd p = { .fd = vbd_evtchn_fd(fe[i]), .events = POLLIN };

		assert_true(check_fill(bpage[i], 2 * PG, (uint8_t)(7 + i)));
		assert_int_equal(vbd_evtchn_notify(be[i], bport[i]), 0);
		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		assert_int_equal(vbd_evtchn_pending(fe[i]), (int)fport[i]);
		assert_int_equal(vbd_gnt_unmap(f->x0, bpage[i], 2), 0);
		assert_int_equal(vbd_gnt_unshare(f->x1, fpage[i], 2), 0);
		vbd_evtchn_close(be[i]);
		vbd_evtchn_close(fe[i]);
	}
	assert_idle(f, 3);
	f->x0->ops = f->x1->ops = &vbd__xport_sim_ops;
}

static void test_run_rings(void **state)
{
	run_rings(*state, true);
}

static void test_run_rings_one_by_one(void **state)
{
	run_rings(*state, false);
}

/* All or nothing: a run whose third op fails leaves nothing held, with a
 * fault of the seam (counted per op; nothing done at all) and with the
 * broker refusing a bind to a port never allocated (the ops before and
 * after it done, then undone), pipelined or not. */
static void run_fails(struct fx *f, bool pipelined)
{
	vbd_evtchn *e0, *e1;
	uint32_t refs[2][1], port[3];
	void *page[2], *mapped[2];
	vbd__xop ops[4];
	unsigned failed = 99, rt;

	if (!pipelined)
		one_by_one(f);
	assert_int_equal(vbd_evtchn_open(f->x1, &e1), 0);
	assert_int_equal(vbd_evtchn_open(f->x0, &e0), 0);
	ops[0] = (vbd__xop){ .op = VBD__XOP_SHARE, .domid = 0, .count = 1, .writable = true,
	                     .refs = refs[0], .addr = &page[0] };
	ops[1] = (vbd__xop){ .op = VBD__XOP_ALLOC_UNBOUND, .e = e1, .domid = 0, .port = &port[0] };
	ops[2] = (vbd__xop){ .op = VBD__XOP_SHARE, .domid = 0, .count = 1, .writable = true,
	                     .refs = refs[1], .addr = &page[1] };
	ops[3] = (vbd__xop){ .op = VBD__XOP_ALLOC_UNBOUND, .e = e1, .domid = 0, .port = &port[1] };
	assert_int_equal(vbd__xport_fail(f->x1, "share", 2, -ENOSPC, false), 0);
	assert_int_equal(counted_run(f->x1, ops, 4, &failed, &rt), -ENOSPC);
	assert_int_equal(failed, 2);
	assert_int_equal(rt, 0);
	assert_idle(f, 3);
	/* The same run again: the fault was for one call. */
	assert_int_equal(vbd__xport_run(f->x1, ops, 4, &failed), 0);
	/* dom0: a map, a bind to a port dom1 never allocated, a map, a bind. */
	ops[0] = (vbd__xop){ .op = VBD__XOP_MAP, .domid = 1, .count = 1, .writable = true,
	                     .refs = refs[0], .addr = &mapped[0] };
	ops[1] = (vbd__xop){ .op = VBD__XOP_BIND_INTERDOMAIN, .e = e0, .domid = 1,
	                     .remote_port = port[1] + 100, .port = &port[2] };
	ops[2] = (vbd__xop){ .op = VBD__XOP_MAP, .domid = 1, .count = 1, .writable = true,
	                     .refs = refs[1], .addr = &mapped[1] };
	ops[3] = (vbd__xop){ .op = VBD__XOP_BIND_INTERDOMAIN, .e = e0, .domid = 1,
	                     .remote_port = port[0], .port = &port[2] };
	assert_true(counted_run(f->x0, ops, 4, &failed, &rt) < 0);
	assert_int_equal(failed, 1);
	/* The run, then the undoing of the two maps and the last bind; one by
	 * one: a map, the bind refused, the map undone. */
	assert_int_equal(rt, pipelined ? 1 + 3 : 3);
	/* dom1's two grants and two ports are all that is held. */
	assert_int_equal(stats(f).maps, 0);
	assert_int_equal(stats(f).ports, 2);
	assert_int_equal(stats(f).grants, 2);
	/* Nothing of the failed run is left on e0: the same port binds. */
	ops[1].remote_port = port[1];
	assert_int_equal(vbd__xport_run(f->x0, ops, 4, &failed), 0);
	assert_int_equal(stats(f).maps, 2);
	assert_int_equal(stats(f).ports, 4);
	assert_int_equal(vbd_gnt_unmap(f->x0, mapped[0], 1), 0);
	assert_int_equal(vbd_gnt_unmap(f->x0, mapped[1], 1), 0);
	assert_int_equal(vbd_gnt_unshare(f->x1, page[0], 1), 0);
	assert_int_equal(vbd_gnt_unshare(f->x1, page[1], 1), 0);
	vbd_evtchn_close(e0);
	vbd_evtchn_close(e1);
	assert_idle(f, 3);
	f->x0->ops = f->x1->ops = &vbd__xport_sim_ops;
}

static void test_run_all_or_nothing(void **state)
{
	run_fails(*state, true);
}

static void test_run_all_or_nothing_one_by_one(void **state)
{
	run_fails(*state, false);
}

/* Bad runs are refused before anything: no ops, too many, an op of
 * another kind, a handle of another transport. */
static void test_run_refused(void **state)
{
	struct fx *f = *state;
	vbd_evtchn *e2;
	vbd__xop ops[VBD__XOP_RUN_MAX + 1];
	uint32_t port;
	unsigned failed = 99;

	assert_int_equal(vbd_evtchn_open(f->x2, &e2), 0);
	memset(ops, 0, sizeof(ops));
	assert_int_equal(vbd__xport_run(f->x1, ops, 0, &failed), -EINVAL);
	assert_int_equal(vbd__xport_run(f->x1, ops, VBD__XOP_RUN_MAX + 1, &failed), -EINVAL);
	ops[0] = (vbd__xop){ .op = VBD__XOP_UNSHARE };
	assert_int_equal(vbd__xport_run(f->x1, ops, 1, &failed), -EINVAL);
	ops[0] = (vbd__xop){ .op = VBD__XOP_ALLOC_UNBOUND, .e = e2, .domid = 0, .port = &port };
	assert_int_equal(vbd__xport_run(f->x1, ops, 1, &failed), -EINVAL);
	assert_int_equal(failed, 0);
	vbd_evtchn_close(e2);
	assert_idle(f, 3);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_share_map_rw),
		T(test_many_maps_any_order),
		T(test_share_fresh_pages_zeroed),
		T(test_map_ro),
		T(test_map_mixed_grants),
		T(test_map_other_domain),
		T(test_map_bad_refs),
		T(test_unshare_busy),
		T(test_grant_table_full),
		T(test_fork_share_map),
		T(test_process_death),
		T(test_fork_evtchn),
		T(test_evtchn_basic),
		T(test_evtchn_mask),
		T(test_evtchn_bad),
		T(test_evtchn_loopback),
		T(test_evtchn_many),
		T(test_xport_free_releases),
		T(test_domain_remove),
		T(test_fault_seam),
		T(test_fault_each_call),
		T(test_threads),
		T(test_map_in_thread_heapless),
		T(test_malformed),
		T(test_unread_replies),
		T(test_open),
		T(test_run_rings),
		T(test_run_rings_one_by_one),
		T(test_run_all_or_nothing),
		T(test_run_all_or_nothing_one_by_one),
		T(test_run_refused),
		cmocka_unit_test(test_xen_enodev),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
