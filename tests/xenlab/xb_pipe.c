/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd-lab-xbpipe PATH DIR ROUNDS DEPTH [write]: sends DEPTH requests at a
 * time to xenstore through PATH (xenstored's socket or the xenbus device),
 * each message in its own write(), before reading their replies, and says
 * how many replies were not their request's answer:
 *
 *   read    DEPTH reads of DIR/k0 .. DIR/k<DEPTH-1>, whose values the lab
 *           wrote before ("value-<i>-" and i x's): each reply must be its
 *           key's value;
 *   write   a transaction (its start and end each sent alone) of DEPTH
 *           writes DIR/w<i> = "w<i>-<round>" (the lab reads them back).
 *
 *   $ vbd-lab-xbpipe /dev/xen/xenbus /xbpipe 50 16
 *   first wrong: /xbpipe/k1: type 16 req 2: "ENOENT?"
 *   xbpipe read /dev/xen/xenbus depth 16 rounds 50: requests 800 wrong 748
 *
 * (type 16 is XS_ERROR: k1's read ran with a path that was no longer
 * k1's; the NUL after ENOENT printed as '?'.)
 *
 * Linux's xenbus device keeps one message buffer per open file and hands
 * the kernel's writer a pointer to the body in it, not a copy: a request
 * written before the kernel has put the one before it on the ring leaves
 * that one with the newer request's bytes.  Depth 1 (a reply before the
 * next request) never is wrong; on a socket no depth is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <xen/io/xs_wire.h>

#define HDR sizeof(struct xsd_sockmsg)
#define MAXD 16

static int fd;
static uint32_t next_req = 1;

static int open_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int s;

	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISSOCK(st.st_mode))
		return open(path, O_RDWR | O_CLOEXEC);
	if (strlen(path) >= sizeof(sa.sun_path) || (s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/* One message, in one write(): its req_id. */
static uint32_t send_msg(uint32_t type, uint32_t tx, const char *a, size_t alen, const char *b,
                         size_t blen)
{
	char msg[HDR + XENSTORE_PAYLOAD_MAX];
	struct xsd_sockmsg h = { type, next_req++, tx, (uint32_t)(alen + blen) };

	if (alen + blen > XENSTORE_PAYLOAD_MAX) {
		fprintf(stderr, "xbpipe: message too long\n");
		exit(2);
	}
	memcpy(msg, &h, HDR);
	memcpy(msg + HDR, a, alen);
	if (blen)
		memcpy(msg + HDR + alen, b, blen);
	if (write(fd, msg, HDR + h.len) != (ssize_t)(HDR + h.len)) {
		fprintf(stderr, "xbpipe: write: %s\n", strerror(errno));
		exit(1);
	}
	return h.req_id;
}

static void read_all(void *p, size_t len)
{
	static char buf[8 * (HDR + XENSTORE_PAYLOAD_MAX)];
	static size_t have;
	ssize_t n;

	while (have < len) {
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0) {
			fprintf(stderr, "xbpipe: read: %s\n", n ? strerror(errno) : "end of stream");
			exit(1);
		}
		have += (size_t)n;
	}
	memcpy(p, buf, len);
	memmove(buf, buf + len, have - len);
	have -= len;
}

/* The next reply, its payload NUL-terminated in out. */
static void recv_msg(struct xsd_sockmsg *h, char *out)
{
	read_all(h, HDR);
	if (h->len > XENSTORE_PAYLOAD_MAX) {
		fprintf(stderr, "xbpipe: reply of %u bytes\n", h->len);
		exit(1);
	}
	read_all(out, h->len);
	out[h->len] = 0;
}

/* Prints (once) what the first wrong reply was, bounded and printable. */
static void first_wrong(const char *what, const struct xsd_sockmsg *h, const char *got)
{
	static bool said;
	unsigned i;

	if (said)
		return;
	said = true;
	fprintf(stdout, "first wrong: %s: type %u req %u: \"", what, h->type, h->req_id);
	for (i = 0; i < h->len && i < 40; i++)
		fputc(got[i] >= 0x20 && got[i] < 0x7f ? got[i] : '?', stdout);
	fprintf(stdout, "\"\n");
}

int main(int argc, char **argv)
{
	char path[MAXD][256], want[MAXD][256], got[XENSTORE_PAYLOAD_MAX + 1];
	unsigned rounds, depth, r, i, wrong = 0, requests = 0;
	bool wr;

	if (argc < 5 || argc > 6 || (argc == 6 && strcmp(argv[5], "write")) ||
	    (rounds = (unsigned)atoi(argv[3])) == 0 || (depth = (unsigned)atoi(argv[4])) == 0 ||
	    depth > MAXD) {
		fprintf(stderr, "usage: vbd-lab-xbpipe PATH DIR ROUNDS DEPTH(1-16) [write]\n");
		return 2;
	}
	wr = argc == 6;
	if ((fd = open_path(argv[1])) < 0) {
		fprintf(stderr, "xbpipe: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (i = 0; i < depth; i++) {
		snprintf(path[i], sizeof(path[i]), "%s/%c%u", argv[2], wr ? 'w' : 'k', i);
		snprintf(want[i], sizeof(want[i]), "value-%u-%.*s", i, (int)i,
		         "xxxxxxxxxxxxxxxx");
	}
	for (r = 0; r < rounds; r++) {
		struct xsd_sockmsg h;
		uint32_t req0, tx = 0;

		if (wr) {
			send_msg(XS_TRANSACTION_START, 0, "", 1, NULL, 0);
			recv_msg(&h, got);
			requests++;
			if (h.type != XS_TRANSACTION_START || !(tx = (uint32_t)strtoul(got, NULL, 10))) {
				fprintf(stderr, "xbpipe: transaction start: type %u \"%.20s\"\n", h.type, got);
				return 1;
			}
		}
		req0 = next_req;
		for (i = 0; i < depth; i++) {
			if (wr) {
				char val[64];
				int n = snprintf(val, sizeof(val), "w%u-%u", i, r);

				send_msg(XS_WRITE, tx, path[i], strlen(path[i]) + 1, val, (size_t)n);
			} else {
				send_msg(XS_READ, 0, path[i], strlen(path[i]) + 1, NULL, 0);
			}
		}
		for (i = 0; i < depth; i++) {
			recv_msg(&h, got);
			requests++;
			if (h.req_id != req0 + i || h.tx_id != tx) {
				fprintf(stderr, "xbpipe: reply req %u tx %u, wanted req %u tx %u\n", h.req_id,
				        h.tx_id, req0 + i, tx);
				return 1;
			}
			if (wr ? h.type != XS_WRITE : h.type != XS_READ || strcmp(got, want[i])) {
				wrong++;
				first_wrong(path[i], &h, got);
			}
		}
		if (wr) {
			send_msg(XS_TRANSACTION_END, tx, "T", 2, NULL, 0);
			recv_msg(&h, got);
			requests++;
			if (h.type != XS_TRANSACTION_END) {
				wrong++;
				first_wrong("transaction end", &h, got);
			}
		}
	}
	printf("xbpipe %s %s depth %u rounds %u: requests %u wrong %u\n", wr ? "write" : "read",
	       argv[1], depth, rounds, requests, wrong);
	return 0;
}
