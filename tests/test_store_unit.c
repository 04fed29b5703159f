/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the store's internals: paths, permissions, the hash map, nodes,
 * and the fuzzer's connection detach. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "store/store_hooks.h"
#include "store/xs_internal.h"

static void check_canon(unsigned domid, const char *in, bool special, int want_r,
                        const char *want)
{
	char out[XS_CANON_MAX];
	int r = vbd__path_canon(domid, in, special, out);

	if (r != want_r)
		fail_msg("canon(%u, \"%.60s\"): got %d, want %d", domid, in, r, want_r);
	if (want)
		assert_string_equal(out, want);
}

static void test_path_canon(void **state)
{
	char big[XENSTORE_ABS_PATH_MAX + 2];
	int c;
	(void)state;

	check_canon(0, "/", false, 0, "/");
	check_canon(0, "/local/domain/0/x", false, 0, "/local/domain/0/x");
	check_canon(5, "device/vbd/51712", false, 0, "/local/domain/5/device/vbd/51712");
	check_canon(0, "a-b_c@d", false, 0, "/local/domain/0/a-b_c@d");
	check_canon(0, "", false, -EINVAL, NULL);
	check_canon(0, "/a/", false, -EINVAL, NULL);
	check_canon(0, "/a//b", false, -EINVAL, NULL);
	check_canon(0, "//", false, -EINVAL, NULL);
	check_canon(0, "/a/./b", false, -EINVAL, NULL);
	check_canon(0, "/a/../b", false, -EINVAL, NULL);
	check_canon(0, "/a b", false, -EINVAL, NULL);
	check_canon(0, "/a\xff", false, -EINVAL, NULL);
	check_canon(0, "@releaseDomain", true, 0, "@releaseDomain");
	check_canon(0, "@introduceDomain", true, 0, "@introduceDomain");
	check_canon(0, "@releaseDomain", false, -EINVAL, NULL);
	check_canon(0, "@other", true, -EINVAL, NULL);

	/* Every byte value, against the rule as written in the protocol:
	 * a-z A-Z 0-9 - / _ @ and nothing else (the check is a table). */
	for (c = 1; c < 256; c++) {
		char p[4] = { '/', 'a', (char)c, '\0' };
		bool legal = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '@';

		if (c == '/')
			continue;   /* "/a/": a trailing slash, refused apart */
		check_canon(0, p, false, legal ? 0 : -EINVAL, legal ? p : NULL);
	}

	/* Length limits: absolute 3072, relative 2048. */
	big[0] = '/';
	memset(big + 1, 'a', XENSTORE_ABS_PATH_MAX - 1);
	big[XENSTORE_ABS_PATH_MAX] = 0;
	check_canon(0, big, false, 0, NULL);
	big[XENSTORE_ABS_PATH_MAX] = 'a';
	big[XENSTORE_ABS_PATH_MAX + 1] = 0;
	check_canon(0, big, false, -EINVAL, NULL);
	memset(big, 'r', XENSTORE_REL_PATH_MAX);
	big[XENSTORE_REL_PATH_MAX] = 0;
	check_canon(32000, big, false, 0, NULL);
	big[XENSTORE_REL_PATH_MAX] = 'r';
	big[XENSTORE_REL_PATH_MAX + 1] = 0;
	check_canon(0, big, false, -EINVAL, NULL);
}

static void test_path_parent(void **state)
{
	(void)state;
	assert_int_equal(vbd__path_parent_len("/a", 2), 1);
	assert_int_equal(vbd__path_parent_len("/a/b", 4), 2);
	assert_int_equal(vbd__path_parent_len("/abc/de/f", 9), 7);
	assert_string_equal(vbd__path_basename("/abc/de", 7), "de");
	assert_string_equal(vbd__path_basename("/a", 2), "a");
}

static void test_parse_uint(void **state)
{
	unsigned v = 99;
	(void)state;

	assert_int_equal(vbd__parse_uint("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(vbd__parse_uint("32751", 0x7FEF, &v), 0);
	assert_int_equal(v, 32751);
	assert_int_equal(vbd__parse_uint("32752", 0x7FEF, &v), -EINVAL);
	assert_int_equal(vbd__parse_uint("", 10, &v), -EINVAL);
	assert_int_equal(vbd__parse_uint("01", 10, &v), -EINVAL);
	assert_int_equal(vbd__parse_uint("1x", 10, &v), -EINVAL);
	assert_int_equal(vbd__parse_uint("-1", 10, &v), -EINVAL);
	assert_int_equal(vbd__parse_uint("99999999999999999999", 0xFFFFFFFF, &v), -EINVAL);
}

static void test_perms(void **state)
{
	static const char in[] = "r5\0b7\0n9\0w0";
	char out[64];
	xs_perms p;
	size_t len;
	(void)state;

	assert_int_equal(vbd__perms_parse(in, sizeof(in), &p), 0);
	assert_int_equal(p.n, 4);
	assert_int_equal(p.p[0].id, 5);
	assert_int_equal(p.p[0].perm, XS_PERM_READ);
	len = vbd__perms_format(&p, out, sizeof(out));
	assert_int_equal(len, sizeof(in));
	assert_memory_equal(out, in, len);

	/* Owner: everything.  Listed domains: their entry.  Others: the default. */
	assert_int_equal(vbd__perms_mask(&p, 5, false, false, 0), XS_PERM_BOTH | XS_PERM_OWNER);
	assert_int_equal(vbd__perms_mask(&p, 7, false, false, 0), XS_PERM_BOTH);
	assert_int_equal(vbd__perms_mask(&p, 9, false, false, 0), XS_PERM_NONE);
	assert_int_equal(vbd__perms_mask(&p, 3, false, false, 0), XS_PERM_READ);
	assert_int_equal(vbd__perms_mask(&p, 0, true, false, 0), XS_PERM_BOTH | XS_PERM_OWNER);
	/* An entry for dom0 does not limit a privileged connection... */
	assert_int_equal(vbd__perms_mask(&p, 0, false, false, 0), XS_PERM_WRITE);
	/* ...and a target's rights are the device model's (SET_TARGET). */
	assert_int_equal(vbd__perms_mask(&p, 11, false, true, 5), XS_PERM_BOTH | XS_PERM_OWNER);
	assert_int_equal(vbd__perms_mask(&p, 11, false, true, 9), XS_PERM_NONE);

	/* An ignored entry (its domain did not exist when set) grants nothing
	 * and is skipped, so the default applies; it still prints. */
	p.p[1].perm |= XS_PERM_IGNORE;
	assert_int_equal(vbd__perms_mask(&p, 7, false, false, 0), XS_PERM_READ);
	assert_int_equal(vbd__perms_format(&p, out, sizeof(out)), sizeof(in));
	assert_memory_equal(out, in, sizeof(in));
	p.p[1].perm &= ~(uint32_t)XS_PERM_IGNORE;

	/* A small buffer still reports the size needed. */
	assert_int_equal(vbd__perms_format(&p, out, 3), sizeof(in));
	vbd__perms_done(&p);

	assert_int_equal(vbd__perms_parse("x5", 3, &p), -EINVAL);
	assert_int_equal(vbd__perms_parse("r", 2, &p), -EINVAL);
	assert_int_equal(vbd__perms_parse("r65536", 7, &p), -EINVAL);
	assert_int_equal(vbd__perms_parse("r5", 2, &p), -EINVAL);   /* unterminated */
	assert_int_equal(vbd__perms_parse("r5\0\0", 4, &p), -EINVAL); /* empty entry */
}

static void test_hmap(void **state)
{
	vbd__hmap m = { 0 };
	char keys[2000][12];
	size_t i, b, seen = 0;
	vbd__hent *e;
	(void)state;

	for (i = 0; i < 2000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "/k%zu", i);
		assert_int_equal(vbd__hmap_put(&m, keys[i], strlen(keys[i]), keys[i]), 0);
	}
	assert_int_equal(m.count, 2000);
	for (i = 0; i < 2000; i++)
		assert_ptr_equal(vbd__hmap_get(&m, keys[i], strlen(keys[i])), keys[i]);
	assert_null(vbd__hmap_get(&m, "/k2000", 6));
	/* A key that is a prefix of another is a different key. */
	assert_null(vbd__hmap_get(&m, "/k1", 2));
	for (i = 0; i < 2000; i += 2)
		assert_ptr_equal(vbd__hmap_del(&m, keys[i], strlen(keys[i])), keys[i]);
	assert_null(vbd__hmap_del(&m, keys[0], strlen(keys[0])));
	assert_int_equal(m.count, 1000);
	for (e = NULL; (e = vbd__hmap_next(&m, &b, e));) {
		assert_true(((const char *)e->val)[2] != 0);
		seen++;
	}
	assert_int_equal(seen, 1000);
	assert_int_equal(vbd__hmap_reserve(&m, 5000), 0);
	assert_true(m.nb >= 6000);
	/* What the peak left goes: the buckets down to twice the count, the
	 * reserved entries; every key stays found. */
	vbd__hmap_shrink(&m);
	assert_int_equal(m.nb, 2048);
	assert_null(m.spare);
	for (i = 0; i < 2000; i++)
		assert_ptr_equal(vbd__hmap_get(&m, keys[i], strlen(keys[i])),
		                 i % 2 ? keys[i] : NULL);
	for (i = 1; i < 2000; i += 2)
		assert_ptr_equal(vbd__hmap_del(&m, keys[i], strlen(keys[i])), keys[i]);
	vbd__hmap_shrink(&m);
	assert_int_equal(m.nb, 16);
	assert_int_equal(vbd__hmap_put(&m, keys[0], strlen(keys[0]), keys[0]), 0);
	assert_ptr_equal(vbd__hmap_get(&m, keys[0], strlen(keys[0])), keys[0]);
	vbd__hmap_done(&m);
}

static void test_node_kids(void **state)
{
	xs_node *n = vbd__node_new("/a", 2), *d;
	int i;
	(void)state;

	assert_non_null(n);
	for (i = 0; i < 100; i++) {
		char name[8];
		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(vbd__node_add_kid(n, name, strlen(name)), 0);
	}
	vbd__node_del_kid(n, "k5", 2);
	vbd__node_del_kid(n, "k", 1);       /* a prefix of a name is not a name */
	vbd__node_del_kid(n, "missing", 7);
	assert_int_equal(memcmp(n->kids, "k0\0k1\0k2\0k3\0k4\0k6\0", 18), 0);
	assert_int_equal(vbd__node_set_value(n, "v\0x", 3), 0);
	d = vbd__node_dup(n);
	assert_non_null(d);
	assert_int_equal(d->kids_len, n->kids_len);
	assert_memory_equal(d->kids, n->kids, n->kids_len);
	assert_int_equal(d->vlen, 3);
	assert_memory_equal(d->value, "v\0x", 3);
	vbd__node_free(n);
	vbd__node_free(d);
}

/* One request on fd: payload a (alen bytes). */
static void send_req(int fd, uint32_t type, uint32_t req_id, const void *a, size_t alen)
{
	uint8_t buf[XS_HDR_SIZE + 4200];
	struct xsd_sockmsg h = { type, req_id, 0, (uint32_t)alen };

	memcpy(buf, &h, XS_HDR_SIZE);
	memcpy(buf + XS_HDR_SIZE, a, alen);
	assert_int_equal(send(fd, buf, XS_HDR_SIZE + alen, MSG_NOSIGNAL), (ssize_t)(XS_HDR_SIZE + alen));
}

/* Reads what is there; returns bytes read. */
static size_t drain_fd(int fd)
{
	static uint8_t buf[65536];
	size_t total = 0;
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	return total;
}

/* vbd__store_detach_fd() ends a connection with everything it held, as a
 * close would, and the socket adopted again is a new connection: none of
 * the old one's requests, not even those still in the socket, is handled
 * on it. */
static void test_detach_fd(void **state)
{
	vbd_store_options o = VBD_STORE_OPTIONS_INIT;
	vbd_store_stats st = { .size = sizeof(st) };
	static char value[4000];
	static uint8_t reads[2000 * 19];   /* 2000 READs of "/a" */
	struct xsd_sockmsg h;
	vbd_store *s;
	int sv[2], sz = 2048, i;
	(void)state;

	o.limits.outstanding = 4;
	assert_int_equal(vbd_store_new(&s, &o, NULL), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	assert_int_equal(vbd_store_adopt_fd(s, sv[1], 0), 0);

	/* A big value, a watch and a transaction, all answered. */
	memset(value, 'v', sizeof(value));
	memcpy(value, "/a", 3);
	send_req(sv[0], XS_WRITE, 1, value, sizeof(value));
	send_req(sv[0], XS_WATCH, 2, "/a\0t", 5);
	send_req(sv[0], XS_TRANSACTION_START, 3, "", 1);
	for (i = 0; i < 4; i++) {
		vbd_store_process(s);
		drain_fd(sv[0]);
	}
	/* Then more reads of it than the store takes in while we do not
	 * read: replies queued (the socket is full), input left in its
	 * buffer and in the socket. */
	for (i = 0; i < 2000; i++) {
		struct xsd_sockmsg r = { XS_READ, 100 + (uint32_t)i, 0, 3 };

		memcpy(reads + i * 19, &r, XS_HDR_SIZE);
		memcpy(reads + i * 19 + XS_HDR_SIZE, "/a", 3);
	}
	assert_int_equal(send(sv[0], reads, sizeof(reads), MSG_NOSIGNAL), (ssize_t)sizeof(reads));
	for (i = 0; i < 4; i++)
		vbd_store_process(s);
	vbd_store_get_stats(s, &st);
	assert_int_equal(st.connections, 1);
	assert_int_equal(st.watches, 1);
	assert_int_equal(st.transactions, 1);
	assert_true(st.pending_bytes > 0);

	assert_int_equal(vbd__store_detach_fd(s, sv[1]), sv[1]);
	vbd_store_get_stats(s, &st);
	assert_int_equal(st.connections, 0);
	assert_int_equal(st.watches, 0);
	assert_int_equal(st.transactions, 0);
	assert_int_equal(st.pending_bytes, 0);
	assert_true(fcntl(sv[1], F_GETFD) >= 0);   /* still open, ours */
	assert_int_equal(vbd__store_detach_fd(s, sv[1]), -ENOENT);
	assert_int_equal(vbd__store_detach_fd(s, -1), -EINVAL);

	/* What the store had sent is ours to read; then the socket is new. */
	drain_fd(sv[0]);
	assert_int_equal(vbd_store_adopt_fd(s, sv[1], 0), 0);
	send_req(sv[0], XS_READ, 7, "/a", 3);
	for (i = 0; i < 4; i++)
		vbd_store_process(s);
	assert_int_equal(recv(sv[0], &h, sizeof(h), MSG_DONTWAIT), (ssize_t)sizeof(h));
	assert_int_equal(h.req_id, 7);
	assert_int_equal(h.type, XS_READ);
	assert_int_equal(h.len, sizeof(value) - 3);
	close(sv[0]);
	for (i = 0; i < 4; i++)
		vbd_store_process(s);
	vbd_store_get_stats(s, &st);
	assert_int_equal(st.connections, 0);
	vbd_store_free(s);
}

/* vbd__store_perms_name() finds a node, special or not, whose permission
 * list names a domain; after the domain's release none may (XSA-322), which
 * the fuzzer checks with it after every release. */
static void test_perms_name(void **state)
{
	vbd_store_options o = VBD_STORE_OPTIONS_INIT;
	vbd_store *s;
	char path[64];
	int sv[2], i;
	(void)state;

	assert_int_equal(vbd_store_new(&s, &o, NULL), 0);
	assert_int_equal(vbd_store_domain_add(s, 5), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(vbd_store_adopt_fd(s, sv[1], 0), 0);
	assert_int_equal(vbd__store_perms_name(s, 5, path, sizeof(path)), 0);
	send_req(sv[0], XS_WRITE, 1, "/a/b\0v", 6);
	send_req(sv[0], XS_SET_PERMS, 2, "/a/b\0n0\0r5", 11);
	for (i = 0; i < 4; i++) {
		vbd_store_process(s);
		drain_fd(sv[0]);
	}
	assert_int_equal(vbd__store_perms_name(s, 5, path, sizeof(path)), 1);
	assert_string_equal(path, "/a/b");
	assert_int_equal(vbd__store_perms_name(s, 6, path, sizeof(path)), 0);
	send_req(sv[0], XS_SET_PERMS, 3, "@releaseDomain\0n5", 18);
	send_req(sv[0], XS_SET_PERMS, 4, "/a/b\0n0", 8);
	for (i = 0; i < 4; i++) {
		vbd_store_process(s);
		drain_fd(sv[0]);
	}
	assert_int_equal(vbd__store_perms_name(s, 5, path, sizeof(path)), 1);
	assert_string_equal(path, "@releaseDomain");
	send_req(sv[0], XS_SET_PERMS, 5, "/a/b\0n0\0b5", 11);
	for (i = 0; i < 4; i++) {
		vbd_store_process(s);
		drain_fd(sv[0]);
	}
	/* The release takes domain 5 out of every list. */
	assert_int_equal(vbd_store_domain_remove(s, 5), 0);
	assert_int_equal(vbd__store_perms_name(s, 5, path, sizeof(path)), 0);
	assert_int_equal(vbd__store_perms_name(NULL, 5, NULL, 0), -EINVAL);
	close(sv[0]);
	vbd_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_canon),
		cmocka_unit_test(test_path_parent),
		cmocka_unit_test(test_parse_uint),
		cmocka_unit_test(test_perms),
		cmocka_unit_test(test_hmap),
		cmocka_unit_test(test_node_kids),
		cmocka_unit_test(test_detach_fd),
		cmocka_unit_test(test_perms_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
