/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The broker's reset hook, which the broker fuzzer calls after every input:
 * it must refuse while anything is held, and afterwards leave a broker
 * that is as new (guests gone, limits back, stats zero).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "simhv/simhv_hooks.h"
#include "simhv/simhv_wire.h"
#include "vbd/simhv.h"

/* Runs the broker until it has nothing to do. */
static void settle(vbd_simhv *h)
{
	int i;

	for (i = 0; i < 100 && vbd_simhv_process(h) > 0; i++)
		;
	assert_true(i < 100);
}

/* One request from fd, its reply read (and its fds closed). */
static int32_t call(vbd_simhv *h, int fd, const struct simhv_req *q)
{
	uint8_t buf[SIMHV_REP_MAX];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * SIMHV_FDS_MAX)];
	} cm;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
	                    .msg_controllen = sizeof(cm.b) };
	struct simhv_rep rep;
	struct cmsghdr *ch;
	size_t k;
	int one;

	assert_int_equal(send(fd, q, sizeof(*q), 0), (ssize_t)sizeof(*q));
	settle(h);
	assert_true(recvmsg(fd, &m, MSG_DONTWAIT) >= (ssize_t)sizeof(rep));
	for (ch = CMSG_FIRSTHDR(&m); ch; ch = CMSG_NXTHDR(&m, ch))
		for (k = 0; k < (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++) {
			memcpy(&one, CMSG_DATA(ch) + k * sizeof(int), sizeof(int));
			close(one);
		}
	memcpy(&rep, buf, sizeof(rep));
	return rep.status;
}

static void test_reset_refuses_while_held(void **state)
{
	vbd__simhv_limits lim = VBD__SIMHV_LIMITS_INIT;
	vbd_simhv_stats st = { .size = sizeof(st) };
	struct simhv_req share = { .op = SIMHV_OP_SHARE, .domid = 1, .count = 2,
	                           .flags = SIMHV_F_WRITABLE };
	struct simhv_req alloc = { .op = SIMHV_OP_EVT_ALLOC, .domid = 1 };
	char what[256] = "";
	vbd_simhv *h;
	int sv[2];

	(void)state;
	assert_int_equal(vbd_simhv_new(&h, NULL, NULL), 0);
	assert_int_equal(vbd_simhv_domain_add(h, 1), 0);
	lim.grants = 8 + 1;
	vbd__simhv_set_limits(h, &lim);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vbd__simhv_adopt_fd(h, sv[1], 0), 0);
	/* Over the small grant limit; one page fits. */
	assert_int_equal(call(h, sv[0], &share), -ENOSPC);
	share.count = 1;
	assert_int_equal(call(h, sv[0], &share), 0);
	assert_int_equal(call(h, sv[0], &alloc), 0);

	assert_int_equal(vbd__simhv_reset(h, what, sizeof(what)), -EBUSY);
	assert_non_null(strstr(what, "connection"));
	assert_int_equal(vbd_simhv_get_stats(h, &st), 0);
	assert_int_equal(st.grants, 1);   /* a refused reset changes nothing */
	assert_int_equal(st.ports, 1);

	close(sv[0]);
	settle(h);
	assert_int_equal(vbd__simhv_reset(h, what, sizeof(what)), 0);
	assert_int_equal(vbd_simhv_get_stats(h, &st), 0);
	assert_int_equal(st.grants + st.maps + st.ports + st.pages + st.conns, 0);
	/* dom1 is gone (it can be added again), the limits are the default. */
	assert_int_equal(vbd_simhv_domain_add(h, 1), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vbd__simhv_adopt_fd(h, sv[1], 0), 0);
	share.count = 2;
	assert_int_equal(call(h, sv[0], &share), 0);
	close(sv[0]);
	settle(h);
	assert_int_equal(vbd__simhv_reset(h, NULL, 0), 0);
	vbd_simhv_free(h);
}

/* A guest between its devices keeps no grant or port table: each goes
 * with the domain's last entry (the sim host's memory after its devices
 * went), and comes back with the next share or port. */
static void test_tables_go_with_last_entry(void **state)
{
	struct simhv_req share = { .op = SIMHV_OP_SHARE, .domid = 0, .count = 2,
	                           .flags = SIMHV_F_WRITABLE };
	struct simhv_req alloc = { .op = SIMHV_OP_EVT_ALLOC, .domid = 0 };
	struct simhv_req unbind = { .op = SIMHV_OP_EVT_UNBIND, .port = 1 };
	size_t base, both;
	vbd_simhv *h;
	int sv[2], round;

	(void)state;
	assert_int_equal(vbd_simhv_new(&h, NULL, NULL), 0);
	assert_int_equal(vbd_simhv_domain_add(h, 1), 0);
	base = vbd__simhv_table_bytes(h);
	for (round = 0; round < 2; round++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		assert_int_equal(vbd__simhv_adopt_fd(h, sv[1], 1), 0);
		assert_int_equal(call(h, sv[0], &share), 0);
		assert_true(vbd__simhv_table_bytes(h) > base);
		assert_int_equal(call(h, sv[0], &alloc), 0);
		both = vbd__simhv_table_bytes(h);
		/* The last port unbound: the port table goes, the grant
		 * table stays for the grants still held. */
		assert_int_equal(call(h, sv[0], &unbind), 0);
		assert_true(vbd__simhv_table_bytes(h) < both);
		assert_true(vbd__simhv_table_bytes(h) > base);
		assert_int_equal(call(h, sv[0], &alloc), 0);
		/* The guest's process ends: its grants and port end, and
		 * with them its tables. */
		close(sv[0]);
		settle(h);
		assert_int_equal(vbd__simhv_table_bytes(h), base);
	}
	/* What reset checks holds for the tables given back. */
	assert_int_equal(vbd__simhv_reset(h, NULL, 0), 0);
	vbd_simhv_free(h);
}

static void test_reset_needs_socketless(void **state)
{
	(void)state;
	assert_int_equal(vbd__simhv_reset(NULL, NULL, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reset_refuses_while_held),
		cmocka_unit_test(test_reset_needs_socketless),
		cmocka_unit_test(test_tables_go_with_last_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
