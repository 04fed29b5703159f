/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for the simulated hypervisor's broker (lib/simhv/): the
 * wire parser and every request handler, through SOCK_SEQPACKET socketpairs
 * adopted as connections of dom0, dom1 and dom2 (slots 0, 1, 2).
 *
 * Each input builds a broker without sockets, with small limits (so that
 * every one is reached in a few hundred bytes), and is a sequence of chunks:
 *
 *     u8 op, u16 len (little endian), len bytes
 *
 * (a chunk whose len runs past the end takes what is left).  op < 0xf0 sends
 * the bytes to slot op % 3 as one message; op >= 0xf0 is a control action,
 * see control().  Requests are struct simhv_req (lib/simhv/simhv_wire.h)
 * plus u32 items.  For example, dom1 sharing 2 pages with dom0, writable:
 *
 *     01 20 00  01000000 00000000 02000000 01000000 00000000 00000000 0000000000000000
 *     op len    SHARE    domid 0  count 2  writable port     pad      id
 *
 * So that inputs can name refs, ports and map ids without knowing what the
 * broker hands out, a request's u32 items and its port field of the form
 * 0xffffff00 + k are replaced with the k-th most recent ref or port the
 * broker returned (to anyone), and an id of 0xffffffffffffff00 + k with the
 * k-th most recent map id returned to that slot.
 *
 * After each chunk the broker runs until quiet and every reply is read and
 * checked: size, status, op and count against the request, fd counts, and
 * the kernel's view of the fds (a read-only map must refuse PROT_WRITE).
 * At the end of every input every connection is closed: all counters must
 * be back to zero, and no grant entry, port, page or arena may be left in
 * the broker's tables (vbd__simhv_reset() checks them).  The broker itself
 * is kept from one input to the next, reset to what vbd_simhv_new() makes:
 * so the input that leaves something behind is the one reported, and an
 * input replays alone exactly as it ran.  Leaked fds are caught after each
 * input, leaked memory by the sanitizer.  Every violation is an abort().
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "simhv/simhv_hooks.h"
#include "simhv/simhv_wire.h"
#include "transport/xport.h"
#include "vbd/simhv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSLOT 3
#define QLEN 64
#define NREM 16
#define MAGIC32 0xffffff00u
#define MAGIC64 0xffffffffffffff00ull
#define PUMP_MAX 1000

struct pending {
	uint32_t op, count, flags;
};

struct slot {
	int fd;                /* our end; -1 when gone */
	unsigned domid;
	struct pending q[QLEN];  /* well-formed requests not yet answered */
	unsigned q_head, q_len;
	bool q_lost;           /* sent something malformed: the broker may kill
	                        * us, and stops answering in request order */
	uint64_t ids[NREM];
	unsigned nids;
};

struct fuzz {
	vbd_simhv *h;
	struct slot slot[NSLOT];
	bool dom_present[NSLOT];
	uint32_t refs[NREM], ports[NREM];
	unsigned nrefs, nports;
	uint8_t rbuf[SIMHV_REP_MAX + 1] __attribute__((aligned(8)));
};

static void die(const char *what, const struct slot *c)
{
	fprintf(stderr, "fuzz_simhv_wire: %s (slot domid %u)\n", what, c ? c->domid : 0);
	abort();
}

static void on_sigpipe(int sig)
{
	static const char msg[] = "fuzz_simhv_wire: broker raised SIGPIPE\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
}

/* The lowest free fd number: dup() of stderr, cheaper than an open(). */
static int lowest_free_fd(void)
{
	int fd = fcntl(2, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	return fd;
}

static void slot_close(struct slot *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->q_head = c->q_len = 0;
	c->q_lost = false;
	c->nids = 0;
}

static void slot_open(struct fuzz *z, unsigned i)
{
	struct slot *c = &z->slot[i];
	int sv[2];

	slot_close(c);
	if (!z->dom_present[i])
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair", c);
	if (vbd__simhv_adopt_fd(z->h, sv[1], c->domid) < 0) {
		/* Over the connection limit: not a bug. */
		close(sv[0]);
		close(sv[1]);
		return;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	c->fd = sv[0];
}

static void remember(uint32_t *ring, unsigned *n, uint32_t v)
{
	memmove(ring + 1, ring, (NREM - 1) * sizeof(*ring));
	ring[0] = v;
	if (*n < NREM)
		(*n)++;
}

static uint32_t recall32(const uint32_t *ring, unsigned n, uint32_t v)
{
	if (v < MAGIC32)
		return v;
	v -= MAGIC32;
	return v < n ? ring[v] : 0;
}

/* Checks what the kernel lets us do with a grant fd. */
static void check_fd(const struct slot *c, int fd, bool writable)
{
	void *p = mmap(NULL, VBD_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (writable && p == MAP_FAILED)
		die("writable grant fd refuses PROT_WRITE", c);
	if (!writable && p != MAP_FAILED)
		die("read-only grant fd allows PROT_WRITE", c);
	if (p != MAP_FAILED)
		munmap(p, VBD_PAGE_SIZE);
}

static void on_reply(struct fuzz *z, struct slot *c, size_t n, const int *fds, unsigned nfds)
{
	const struct simhv_rep *rep = (const struct simhv_rep *)z->rbuf;
	const struct simhv_item *it = (const struct simhv_item *)(rep + 1);
	struct pending p;
	unsigned i, want_fds = 0;

	if (n < sizeof(*rep))
		die("short reply", c);
	if (rep->status > 0 || rep->op == 0 || rep->op >= SIMHV_OP_COUNT)
		die("bad reply header", c);
	if (c->q_len == 0) {
		if (!c->q_lost)
			die("reply without request", c);
		return;
	}
	p = c->q[c->q_head];
	c->q_head = (c->q_head + 1) % QLEN;
	c->q_len--;
	if (c->q_lost)
		return;
	if (rep->op != p.op)
		die("reply to another request", c);
	if (rep->status < 0) {
		if (n != sizeof(*rep) || nfds || rep->count || rep->port || rep->id)
			die("error reply carries data", c);
		return;
	}
	switch (p.op) {
	case SIMHV_OP_SHARE:
	case SIMHV_OP_MAP:
		if (rep->count != p.count || n != sizeof(*rep) + p.count * sizeof(*it))
			die("reply count", c);
		want_fds = 1;
		break;
	case SIMHV_OP_EVT_ALLOC:
	case SIMHV_OP_EVT_BIND:
		want_fds = 2;
		if (rep->port == 0)
			die("port 0", c);
		remember(z->ports, &z->nports, rep->port);
		/* fallthrough */
	default:
		if (n != sizeof(*rep) || rep->count)
			die("reply size", c);
	}
	if (p.op == SIMHV_OP_MAP ? nfds < 1 || nfds > 2 : nfds != want_fds)
		die("fd count", c);
	if (p.op == SIMHV_OP_SHARE) {
		check_fd(c, fds[0], true);
		for (i = 0; i < rep->count; i++) {
			if (it[i].a < 8)
				die("reserved ref handed out", c);
			remember(z->refs, &z->nrefs, it[i].a);
		}
	}
	if (p.op == SIMHV_OP_MAP) {
		for (i = 0; i < nfds; i++)
			check_fd(c, fds[i], p.flags & SIMHV_F_WRITABLE);
		for (i = 0; i < rep->count; i++)
			if (it[i].a >= nfds)
				die("map item names no fd", c);
		memmove(c->ids + 1, c->ids, (NREM - 1) * sizeof(c->ids[0]));
		c->ids[0] = rep->id;
		if (c->nids < NREM)
			c->nids++;
	}
}

/* Reads everything a slot has; returns the number of messages. */
static int drain(struct fuzz *z, struct slot *c)
{
	int got = 0;

	while (c->fd >= 0) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * 8)];
		} cm;
		struct iovec iov = { z->rbuf, sizeof(z->rbuf) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
		                    .msg_control = cm.b, .msg_controllen = sizeof(cm.b) };
		struct cmsghdr *ch;
		int fds[8];
		unsigned nfds = 0, i;
		ssize_t n = recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			/* Killed: only for something malformed, or a domain gone. */
			if (!c->q_lost)
				die("connection closed after well-formed requests", c);
			slot_close(c);
			break;
		}
		for (ch = CMSG_FIRSTHDR(&m); ch; ch = CMSG_NXTHDR(&m, ch))
			if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_RIGHTS)
				for (i = 0; i < (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int) && nfds < 8; i++)
					memcpy(&fds[nfds++], CMSG_DATA(ch) + i * sizeof(int), sizeof(int));
		if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
			die("reply truncated", c);
		on_reply(z, c, (size_t)n, fds, nfds);
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		got++;
	}
	return got;
}

static void pump(struct fuzz *z)
{
	int rounds, work;
	unsigned i;

	for (rounds = 0; rounds < PUMP_MAX; rounds++) {
		work = vbd_simhv_process(z->h);
		if (work < 0)
			die("process failed", NULL);
		for (i = 0; i < NSLOT; i++)
			work += drain(z, &z->slot[i]);
		if (work == 0)
			return;
	}
	die("livelock", NULL);
}

/* Is this what the broker must answer (rather than kill us for)? */
static bool well_formed(const uint8_t *b, size_t len, struct pending *p)
{
	struct simhv_req q;
	size_t items;

	if (len < sizeof(q) || len > SIMHV_REQ_MAX || (len - sizeof(q)) % 4)
		return false;
	memcpy(&q, b, sizeof(q));
	items = (len - sizeof(q)) / 4;
	p->op = q.op;
	p->count = q.count;
	p->flags = q.flags;
	if (q.pad)
		return false;
	switch (q.op) {
	case SIMHV_OP_SHARE:
		return !items && !q.port && !q.id && !(q.flags & ~SIMHV_F_WRITABLE);
	case SIMHV_OP_UNSHARE:
		return items == q.count && !q.domid && !q.flags && !q.port && !q.id;
	case SIMHV_OP_MAP:
		return items == q.count && !q.port && !q.id && !(q.flags & ~SIMHV_F_WRITABLE);
	case SIMHV_OP_UNMAP:
		return !items && !q.domid && !q.count && !q.flags && !q.port;
	case SIMHV_OP_EVT_ALLOC:
		return !items && !q.count && !q.flags && !q.port && !q.id;
	case SIMHV_OP_EVT_BIND:
		return !items && !q.count && !q.flags && !q.id;
	case SIMHV_OP_EVT_UNBIND:
		return !items && !q.domid && !q.count && !q.flags && !q.id;
	default:
		return false;
	}
}

static void send_msg(struct fuzz *z, struct slot *c, const uint8_t *data, size_t len)
{
	uint8_t *b;
	struct pending p;
	struct simhv_req q;
	size_t i;

	if (c->fd < 0)
		return;
	b = malloc(len ? len : 1);
	if (!b)
		die("out of memory", c);
	memcpy(b, data, len);
	if (len >= sizeof(q)) {
		memcpy(&q, b, sizeof(q));
		q.port = recall32(z->ports, z->nports, q.port);
		if (q.id >= MAGIC64)
			q.id = q.id - MAGIC64 < c->nids ? c->ids[q.id - MAGIC64] : 0;
		memcpy(b, &q, sizeof(q));
		for (i = sizeof(q); i + 4 <= len; i += 4) {
			uint32_t v;

			memcpy(&v, b + i, 4);
			v = recall32(z->refs, z->nrefs, v);
			memcpy(b + i, &v, 4);
		}
	}
	if (send(c->fd, b, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		free(b);
		return;
	}
	if (!c->q_lost && well_formed(b, len, &p)) {
		if (c->q_len == QLEN)
			die("queue", c);
		c->q[(c->q_head + c->q_len++) % QLEN] = p;
	} else {
		c->q_lost = true;
	}
	free(b);
	/* One request at a time, as the library does: the oracle stays exact. */
	pump(z);
}

/* 0xf0-0xf2 reconnect slot; 0xf3 remove the domain of slot (1 + b0 % 2);
 * 0xf4 add it back and reconnect; others: nothing. */
static void control(struct fuzz *z, uint8_t op, const uint8_t *d, size_t len)
{
	unsigned i = 1 + (len ? d[0] % 2 : 0);

	switch (op) {
	case 0xf0: case 0xf1: case 0xf2:
		slot_open(z, op - 0xf0u);
		break;
	case 0xf3:
		if (z->dom_present[i]) {
			if (vbd_simhv_domain_remove(z->h, i) < 0)
				die("domain remove", NULL);
			z->dom_present[i] = false;
			/* Its connection is gone: that is not a violation. */
			z->slot[i].q_lost = true;
		}
		break;
	case 0xf4:
		if (!z->dom_present[i]) {
			if (vbd_simhv_domain_add(z->h, i) < 0)
				die("domain add", NULL);
			z->dom_present[i] = true;
			slot_open(z, i);
		}
		break;
	default:
		break;
	}
	pump(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static vbd_simhv *h;   /* kept across inputs, reset after each */
	static struct fuzz *z;
	int fd_base;
	vbd__simhv_limits lim = { .grants = 8 + 24, .ports = 12, .conns = 3, .refs_per_call = 8,
	                          .mapped_pages = 16 };
	vbd_simhv_stats st = { .size = sizeof(st) };
	char what[256];
	size_t off = 0;
	unsigned i;

	if (!h) {
		signal(SIGPIPE, on_sigpipe);
		z = malloc(sizeof(*z));
		if (!z || vbd_simhv_new(&h, NULL, NULL) < 0)
			die("setup", NULL);
	}
	/* Taken afresh for every input: between two inputs libFuzzer may open
	 * descriptors of its own (the pipes to the symbolizer it starts to
	 * print a NEW_FUNC line), and the previous input's end was checked. */
	fd_base = lowest_free_fd();
	memset(z, 0, offsetof(struct fuzz, rbuf));
	z->h = h;
	vbd__simhv_set_limits(z->h, &lim);
	for (i = 0; i < NSLOT; i++) {
		z->slot[i].fd = -1;
		z->slot[i].domid = i;
		if (i && vbd_simhv_domain_add(z->h, i) < 0)
			die("domain add", NULL);
		z->dom_present[i] = true;
		slot_open(z, i);
	}
	while (off + 3 <= size) {
		uint8_t op = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;

		off += 3;
		if (len > size - off)
			len = size - off;
		if (op < 0xf0)
			send_msg(z, &z->slot[op % NSLOT], data + off, len);
		else
			control(z, op, data + off, len);
		off += len;
	}
	for (i = 0; i < NSLOT; i++) {
		drain(z, &z->slot[i]);
		slot_close(&z->slot[i]);
	}
	pump(z);
	vbd_simhv_get_stats(z->h, &st);
	if (st.grants || st.maps || st.ports || st.pages || st.conns)
		die("resources left after every connection closed", NULL);
	if (vbd__simhv_reset(z->h, what, sizeof(what)) < 0) {
		fprintf(stderr, "fuzz_simhv_wire: left: %s\n", what);
		die("resources left after every connection closed", NULL);
	}
	if (lowest_free_fd() != fd_base)
		die("fd leaked", NULL);
	return 0;
}
