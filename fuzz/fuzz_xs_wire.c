/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for the embedded xenstore daemon: the whole request path, through
 * the public API only.
 *
 * Each input starts from a store with small limits (so that every quota
 * can be reached in a few kilobytes), introduces guests 1 and 2, and
 * connects one socket per slot: slot 0 acts as dom0, slot 1 as dom1, slot 2
 * as dom2.  The sockets are kept from one input to the next (a connection
 * ended by the store at the end of an input, its socket adopted again by
 * the next: slot_park()); a slot the input closed, shut down or got ended,
 * and every slot on every 64th input, is closed for real.
 * The input is a sequence of chunks:
 *
 *     u8 op, u16 len (little endian), len bytes
 *
 * (a chunk whose len runs past the end takes what is left).  op < 0xf0
 * writes the bytes to slot op % 3 as raw wire data; op >= 0xf0 is a control
 * action, see do_control().  For example, dom1 reading "a":
 *
 *     01 13 00  02000000 07000000 00000000 02000000  61 00
 *     op len    type     req_id   tx_id    len       "a\0"
 *
 * Transaction ids are whatever the daemon hands out; so that inputs can use
 * them without knowing the daemon's scheme, a request whose tx_id is
 * 0xfffffff8 + k is sent with the id of the k-th most recent transaction
 * that the daemon started on that connection (0: the newest).
 *
 * After each chunk the daemon runs until it is quiet, and everything it
 * sends is read back and checked: framing (payload <= 4096), reply types,
 * error names, watch-event format, that replies come in request order, and
 * that every event carries the token of a watch the connection holds.
 * After a domain's release no node may name it in its permission list:
 * checked in process after every release, and by a walk of the tree through
 * the wire after every 64th (FUZZ_XS_AUDIT; audit_released()).  After a
 * chunk that cannot have given the daemon anything to do (nothing sent, a
 * slot paused) the daemon is not run.  At the end every complete request
 * must have been answered, and with all clients gone (closed, or ended
 * with the socket kept) the counters must be back to zero.
 * Then the store must hold nothing but its tree, with each domain charged
 * exactly for its nodes (every owner in the tree, every domain, and every
 * domid the input's requests named), and is put back as new for the next
 * input (vbd__store_reset(); see store_reset_check()); leaked fds are
 * caught too, and a socket the store ended and did not close.  That runs in process after every input, so the first input
 * that leaves state behind is the one that aborts.
 *
 * On every 64th input (FUZZ_XS_AUDIT=N: every Nth, 0: never; the corpus
 * replay: every input) the store is also audited through the wire before
 * the reset, as a client sees it (audit_end()): the node count must match
 * a walk of the tree, each guest must be able to create exactly as many
 * nodes as its quota leaves, and each domain's memory charge must be
 * exactly its nodes' share (a guest released meanwhile, here or over the
 * wire, is introduced again for that: it must start clean).  That checks
 * how the daemon enforces what it counts, at about twice the cost of
 * everything else; as every input starts from a store checked as new,
 * what it finds belongs to the input it follows.  Every violation is an
 * abort(): each one is a bug in the daemon.  FUZZ_XS_TRACE=1 prints what
 * the daemon sends.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xen/io/xs_wire.h>

#include "store/store_hooks.h"
#include "vbd/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSLOT 3
#define HDR ((unsigned)sizeof(struct xsd_sockmsg))
#define QLEN 2048              /* requests tracked per connection */
#define NTX 8                  /* transaction ids remembered per connection */
#define TX_MAGIC 0xfffffff8u
#define PUMP_MAX 20000         /* process/drain rounds before "livelock" */
#define WRITE_TRIES 8          /* rounds to wait for a full socket */
/* The end-of-input audit through the wire (audit_end()) on every Nth
 * input; FUZZ_XS_AUDIT=N at run time (0: never).  The corpus replay runs
 * it on every input. */
#ifndef FUZZ_XS_AUDIT_EVERY
#define FUZZ_XS_AUDIT_EVERY 64
#endif
#define TRACE_PAYLOAD_MAX 8192 /* a trace record's payload, at most */
#define STORE_SNDBUF 2048      /* the kernel's minimum: backpressure and
                                * partial writes within reach */

static const unsigned slot_domid[NSLOT] = { 0, 1, 2 };

/* The bytes we send, parsed the way the daemon must parse them. */
struct out_parser {
	uint8_t hdr[HDR];
	unsigned fill;         /* header bytes seen */
	uint32_t left;         /* payload bytes still to come */
	bool lost;             /* sent an oversized header: stream is over */
};

/* The bytes the daemon sends us. */
struct in_parser {
	uint8_t hdr[HDR];
	unsigned fill;
	uint32_t len, got;
	char payload[TRACE_PAYLOAD_MAX + 1];
};

struct pending_req {
	uint32_t type, req_id;
	/* WATCH and UNWATCH: hashes of path and token, if well formed */
	bool args_ok;
	bool trace;            /* CONTROL "trace": subscribes if answered OK */
	uint64_t phash, thash;
};

#define NWATCH 256

struct watch_ref {
	uint64_t phash, thash;
};

struct slot {
	int fd;                /* our end; -1 when gone */
	int sfd;               /* the store's end, if kept across inputs
	                        * (see keep_fd()); else -1 */
	unsigned domid;
	bool paused;           /* not reading: lets replies pile up */
	bool eof;              /* the daemon closed its end */
	bool wr_shut;          /* we shut down our sending side */
	struct out_parser out;
	unsigned q_head, q_len;  /* requests in q */
	bool q_overflow;       /* too many to track: stop checking order */
	uint32_t tx[NTX];
	unsigned ntx;
	unsigned nwatch;       /* in watch */
	bool watch_unknown;    /* lost track: don't check */
	int wq;                /* WATCH/UNWATCH being sent: its index in q, or -1 */
	uint64_t dval;         /* the number being read in a payload sent */
	bool indig;
	uint32_t wpay_len;     /* in wpay */
	bool tracing;          /* a trace subscriber: only records from now on */
	uint64_t trace_seq;    /* the last record's seq */
	/* The audit connection keeps its last reply. */
	bool capture, got_reply;
	struct reply_log *log;  /* if set, every reply is kept here too */
	unsigned n_ok, n_enospc;
	uint32_t reply_type, reply_len;
	/* Last, the buffers, valid only as far as the counts above (and
	 * in.len) say: slot_clear() leaves them as they are. */
	struct in_parser in;
	struct pending_req q[QLEN];
	/* The watches this connection holds, as far as its replies tell: an
	 * event must carry the token of one of them. */
	struct watch_ref watch[NWATCH];
	uint8_t wpay[XENSTORE_PAYLOAD_MAX];
	char reply[XENSTORE_PAYLOAD_MAX + 1];
};

/* A slot as new, but for its buffers (75 KB, cleared at every input and
 * every connection, they were 3% of the time). */
static void slot_clear(struct slot *c)
{
	memset(c, 0, offsetof(struct slot, in) + offsetof(struct in_parser, payload));
}

/* Replies of the audit connection, in order, for pipelined requests. */
struct reply_log {
	struct logged { uint32_t type, len; size_t off; } *r;
	unsigned n, cap;
	char *buf;
	size_t used, size;
};

struct fuzz {
	vbd_store *s;
	struct reply_log log;
	struct slot slot[NSLOT];
	struct slot audit;     /* for the audits only */
	bool dom_present[NSLOT];
	/* Between two inputs: a slot's socket pair, its connection ended by
	 * vbd__store_detach_fd(), to be adopted again by the next input. */
	bool parked[NSLOT];
	int park_fd[NSLOT], park_sfd[NSLOT];
};

static void die(const char *what, const struct slot *c)
{
	fprintf(stderr, "fuzz_xs_wire: %s (slot domid %u)\n", what,
	        c ? c->domid : 0);
	abort();
}

/* The library must never raise a signal in its host (it writes to sockets
 * whose peer may be gone): SIGPIPE would otherwise kill us silently. */
static void on_sigpipe(int sig)
{
	static const char msg[] = "fuzz_xs_wire: daemon raised SIGPIPE\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
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

/* ---- checking what the daemon sends ---- */

static bool is_request_type(uint32_t t)
{
	return t < XS_TYPE_COUNT && t != XS_WATCH_EVENT && t != XS_ERROR &&
	       t != XS_SET_TARGET + 1;   /* the removed XS_RESTRICT */
}

/* cxenstored sends "EINVAL\0"; libxenstore would accept it without the NUL
 * too, so only the name itself is checked. */
static bool known_error(const char *p, uint32_t len)
{
	size_t i;

	if (len && p[len - 1] == '\0')
		len--;
	if (len == 0 || strlen(p) != len)
		return false;
	for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (!strcmp(p, xsd_errors[i].errstring))
			return true;
	return false;
}

static void remember_tx(struct slot *c, const char *p, uint32_t len)
{
	char *end;
	unsigned long v;

	if (len == 0 || p[len - 1] != '\0')
		die("TRANSACTION_START reply not NUL-terminated", c);
	errno = 0;
	v = strtoul(p, &end, 10);
	if (errno || end == p || *end || v == 0 || v > UINT32_MAX)
		die("TRANSACTION_START reply is not a decimal id", c);
	memmove(c->tx + 1, c->tx, sizeof(c->tx[0]) * (NTX - 1));
	c->tx[0] = (uint32_t)v;
	if (c->ntx < NTX)
		c->ntx++;
}

/* FUZZ_XS_TRACE=1 prints every message the daemon sends, to see what an
 * input does. */
static void trace(const struct slot *c, uint32_t type, uint32_t req_id,
                  uint32_t tx_id, const char *p, uint32_t len)
{
	static int on = -1;
	uint32_t i;

	if (on < 0)
		on = getenv("FUZZ_XS_TRACE") != NULL;
	if (!on)
		return;
	fprintf(stderr, "dom%u <- type %u req %u tx %u len %u \"", c->domid,
	        type, req_id, tx_id, len);
	for (i = 0; i < len && i < 80; i++)
		fputc(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.', stderr);
	fprintf(stderr, "%s\"\n", len > 80 ? "..." : "");
}

/* Every domid the input's requests (and the audit's) could have charged
 * something to: each run of digits in a payload sent, as the daemon would
 * take it (low 16 bits).  The store's reset checks these domains too, so
 * that a charge left to a domain that is gone from the tree and from the
 * domain list is still found on the input that left it. */
static unsigned touched[0x10000];
static unsigned ntouched;
static uint8_t touched_bit[0x10000 / 8];

static __attribute__((noinline)) void touch(unsigned id)
{
	id &= 0xFFFF;
	if (touched_bit[id / 8] & (1u << (id % 8)))
		return;
	touched_bit[id / 8] |= (uint8_t)(1u << (id % 8));
	touched[ntouched++] = id;
}

static __attribute__((noinline)) void touched_clear(void)
{
	while (ntouched)
		touched_bit[touched[--ntouched] / 8] = 0;
}

/* noinline: the coverage ignorelist names functions as compiled, so an
 * inlined copy inside parse_out() would be traced byte by byte (2.5% of
 * the time). */
static __attribute__((noinline)) void scan_digits(struct slot *c, const uint8_t *p,
                                                  size_t n, bool end)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] >= '0' && p[i] <= '9') {
			c->dval = c->dval * 10 + (p[i] - '0');
			c->indig = true;
		} else if (c->indig) {
			touch((unsigned)(c->dval & 0xFFFF));
			c->dval = 0;
			c->indig = false;
		}
	}
	if (end && c->indig) {
		touch((unsigned)(c->dval & 0xFFFF));
		c->dval = 0;
		c->indig = false;
	}
}

static uint64_t hash(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h;
}

/* A WATCH/UNWATCH payload is complete: parse it as the daemon must,
 * exactly two NUL-terminated strings, path and token. */
static void watch_args_done(struct slot *c)
{
	struct pending_req *r = &c->q[c->wq];
	const char *p = (const char *)c->wpay, *nul1, *nul2;
	size_t n = c->wpay_len;

	c->wq = -1;
	r->args_ok = false;
	if (r->type == XS_CONTROL) {
		r->trace = n >= 6 && !memcmp(p, "trace", 6);
		return;
	}
	nul1 = memchr(p, 0, n);
	if (!nul1)
		return;
	nul2 = memchr(nul1 + 1, 0, n - (size_t)(nul1 + 1 - p));
	if (!nul2 || nul2 != p + n - 1)
		return;
	r->args_ok = true;
	r->phash = hash(p, (size_t)(nul1 - p));
	r->thash = hash(nul1 + 1, (size_t)(nul2 - nul1 - 1));
}

static void watch_track(struct slot *c, const struct pending_req *r)
{
	unsigned i;

	if (c->watch_unknown)
		return;
	if (r->type == XS_RESET_WATCHES) {
		c->nwatch = 0;
	} else if (!r->args_ok || (r->type == XS_WATCH && c->nwatch == NWATCH)) {
		c->watch_unknown = true;
	} else if (r->type == XS_WATCH) {
		c->watch[c->nwatch].phash = r->phash;
		c->watch[c->nwatch++].thash = r->thash;
	} else if (r->type == XS_UNWATCH) {
		/* Paths the daemon takes as equal may differ here ("a" and
		 * "/local/domain/1/a"): then a stale entry stays, which can
		 * only hide a bug, never invent one. */
		for (i = 0; i < c->nwatch; i++)
			if (c->watch[i].phash == r->phash && c->watch[i].thash == r->thash) {
				c->watch[i] = c->watch[--c->nwatch];
				break;
			}
	}
}

static void log_add(struct reply_log *l, uint32_t type, const char *p, uint32_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->r = realloc(l->r, l->cap * sizeof(*l->r));
	}
	while (l->used + len + 1 > l->size) {
		l->size = l->size ? l->size * 2 : 65536;
		l->buf = realloc(l->buf, l->size);
	}
	if (!l->r || !l->buf)
		die("out of memory", NULL);
	l->r[l->n].type = type;
	l->r[l->n].len = len;
	l->r[l->n].off = l->used;
	memcpy(l->buf + l->used, p, len);
	l->buf[l->used + len] = '\0';
	l->used += len + 1;
	l->n++;
}

/* A record of the change trace (docs/protocol.md): op\0seq\0time\0writer\0
 * path\0value, seq growing by at least one a record ("lost" repeats the
 * last counted). */
static void check_record(struct slot *c, uint32_t type, uint32_t req_id,
                         uint32_t tx_id, const char *p, uint32_t len)
{
	const char *f[5], *end = p + len, *q = p;
	unsigned long long seq;
	char *e;
	int i;

	if (type != XS_CONTROL || req_id || tx_id)
		die("trace record: not CONTROL with ids 0", c);
	for (i = 0; i < 5; i++) {
		f[i] = q;
		q = memchr(q, 0, (size_t)(end - q));
		if (!q)
			die("trace record: fewer than six fields", c);
		q++;
	}
	if (strcmp(f[0], "write") && strcmp(f[0], "mkdir") && strcmp(f[0], "rm") &&
	    strcmp(f[0], "lost"))
		die("trace record: unknown op", c);
	if (strcmp(f[0], "write") && q != end)
		die("trace record: a value on no write", c);
	errno = 0;
	seq = strtoull(f[1], &e, 10);
	if (errno || *e || e == f[1] || !seq)
		die("trace record: seq is not a number from 1", c);
	if (strcmp(f[0], "lost") ? seq <= c->trace_seq : seq < c->trace_seq)
		die("trace record: seq out of order", c);
	c->trace_seq = seq;
	if (strcmp(f[0], "lost") && f[4][0] != '/' && f[4][0] != '@')
		die("trace record: path not absolute", c);
}

static void check_message(struct slot *c)
{
	struct in_parser *in = &c->in;
	uint32_t type = get32(in->hdr), req_id = get32(in->hdr + 4);
	uint32_t tx_id = get32(in->hdr + 8);
	struct pending_req r;
	const char *nul;
	uint32_t i;

	in->payload[in->len] = '\0';
	trace(c, type, req_id, tx_id, in->payload, in->len);
	if (c->tracing) {
		check_record(c, type, req_id, tx_id, in->payload, in->len);
		return;
	}
	if (type == XS_WATCH_EVENT) {
		if (req_id != 0 || tx_id != 0)
			die("watch event with non-zero req_id/tx_id", c);
		/* Two NULs at least (memchr: no traced loop over the bytes). */
		nul = memchr(in->payload, 0, in->len);
		if (nul)
			nul = memchr(nul + 1, 0, in->len - (uint32_t)(nul + 1 - in->payload));
		if (in->len == 0 || in->payload[in->len - 1] != '\0' || !nul)
			die("watch event payload is not path\\0token\\0", c);
		if (!c->watch_unknown) {
			const char *tok = in->payload + strlen(in->payload) + 1;
			uint64_t th = hash(tok, strlen(tok));

			for (i = 0; i < c->nwatch && c->watch[i].thash != th; i++)
				;
			if (i == c->nwatch)
				die("watch event whose token no watch of this connection has", c);
		}
		return;
	}
	if (type == XS_ERROR && !known_error(in->payload, in->len))
		die("XS_ERROR payload is not a known errno name", c);
	if (c->q_overflow)
		return;
	if (c->q_len == 0)
		die("reply to a request that was never sent", c);
	r = c->q[c->q_head];
	c->q_head = (c->q_head + 1) % QLEN;
	c->q_len--;
	if (req_id != r.req_id)
		die("reply out of order (req_id mismatch)", c);
	if (type != XS_ERROR && type != r.type)
		die("reply type is neither the request's nor XS_ERROR", c);
	if (type != XS_ERROR && !is_request_type(type))
		die("non-error reply to an invalid request type", c);
	if (type == XS_TRANSACTION_START)
		remember_tx(c, in->payload, in->len);
	if (type == XS_WATCH || type == XS_UNWATCH || type == XS_RESET_WATCHES)
		watch_track(c, &r);
	if (type == XS_CONTROL && r.trace) {
		if (c->domid != 0 || strcmp(in->payload, "OK"))
			die("CONTROL trace answered but not OK, or to a guest", c);
		/* The last reply: what was sent after it is ignored. */
		c->tracing = true;
	}
	if (c->capture) {
		if (type == XS_ERROR && !strcmp(in->payload, "ENOSPC"))
			c->n_enospc++;
		else if (type != XS_ERROR)
			c->n_ok++;
		c->got_reply = true;
		c->reply_type = type;
		c->reply_len = in->len;
		memcpy(c->reply, in->payload, in->len + 1);
		if (c->log)
			log_add(c->log, type, in->payload, in->len);
	}
}

static void parse_in(struct slot *c, const uint8_t *p, size_t n)
{
	struct in_parser *in = &c->in;
	size_t k;

	while (n) {
		if (in->fill < HDR) {
			k = HDR - in->fill < n ? HDR - in->fill : n;
			memcpy(in->hdr + in->fill, p, k);
			in->fill += k, p += k, n -= k;
			if (in->fill < HDR)
				break;
			in->len = get32(in->hdr + 12);
			in->got = 0;
			if (in->len > (c->tracing ? TRACE_PAYLOAD_MAX : XENSTORE_PAYLOAD_MAX))
				die("daemon sent a payload over XENSTORE_PAYLOAD_MAX", c);
		}
		k = in->len - in->got < n ? in->len - in->got : n;
		memcpy(in->payload + in->got, p, k);
		in->got += k, p += k, n -= k;
		if (in->got == in->len) {
			check_message(c);
			in->fill = 0;
		}
	}
}

/* Reads what is there on every slot that is reading.  Returns bytes read.
 * One poll() finds the slots with something to read, so that a quiet slot
 * costs no recv(). */
static size_t drain(struct fuzz *f)
{
	static uint8_t buf[16384];   /* static: no stack poisoning per call */
	struct pollfd pfd[NSLOT + 1];
	struct slot *ready[NSLOT + 1];
	size_t total = 0;
	ssize_t n;
	int i, np = 0;

	for (i = 0; i <= NSLOT; i++) {
		struct slot *c = i < NSLOT ? &f->slot[i] : &f->audit;

		if (c->fd >= 0 && !c->eof && !c->paused) {
			pfd[np].fd = c->fd;
			pfd[np].events = POLLIN | POLLRDHUP;
			pfd[np].revents = 0;
			ready[np++] = c;
		}
	}
	if (np == 0)
		return 0;
	while ((n = poll(pfd, (nfds_t)np, 0)) < 0 && errno == EINTR)
		;
	if (n < 0)
		die("poll", NULL);
	if (n == 0)
		return 0;
	for (i = 0; i < np; i++) {
		struct slot *c = ready[i];

		if (!pfd[i].revents)
			continue;
		while (c->fd >= 0 && !c->eof && !c->paused) {
			n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n > 0) {
				parse_in(c, buf, (size_t)n);
				total += (size_t)n;
				/* A short read is all there was (recv() on a
				 * stream takes every queued byte up to its size),
				 * but for the end of the stream when the daemon
				 * closed its end: read on to see it, so that no
				 * later drain has anything left to find. */
				if ((size_t)n < sizeof(buf) &&
				    !(pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
					break;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				c->eof = true;   /* EOF or ECONNRESET: closed */
			} else if (errno == EAGAIN) {
				break;
			}
		}
	}
	return total;
}

/* Runs the daemon until it has nothing left to do and we have read all
 * that it sent.  A daemon that never gets there is busy-looping.
 *
 * After the first round, a round in which the daemon handled no event
 * sent nothing either (it writes only while handling one, or to flush
 * what a call from outside, such as vbd_store_domain_add(), queued: the
 * first round flushed that), and the drain before it read every slot
 * that is reading to the end (a short read or EAGAIN, and the end of the
 * stream if the daemon closed it): so no poll() is needed to see that we
 * are done, which saves one per pump. */
static void pump(struct fuzz *f)
{
	int i, r;

	for (i = 0; i < PUMP_MAX; i++) {
		r = vbd_store_process(f->s);
		if (r < 0)
			die("vbd_store_process failed", NULL);
		if (r == 0 && i > 0)
			return;
		if (drain(f) == 0 && r == 0)
			return;
	}
	die("daemon never goes quiet (livelock?)", NULL);
}

/* ---- sending ---- */

/* Walks bytes about to be sent (rewrite: substitute magic tx ids) or just
 * sent (track: queue the requests, to check the replies against). */
static void parse_out(struct slot *c, struct out_parser *o, uint8_t *p,
                      size_t n, bool rewrite)
{
	unsigned start_fill;
	uint32_t tx;
	size_t k;

	while (n && !o->lost) {
		if (o->left) {
			k = o->left < n ? o->left : n;
			if (!rewrite && c->wq >= 0) {
				memcpy(c->wpay + c->wpay_len, p, k);
				c->wpay_len += (uint32_t)k;
			}
			if (!rewrite)
				scan_digits(c, p, k, o->left == k);
			o->left -= (uint32_t)k, p += k, n -= k;
			if (!rewrite && c->wq >= 0 && !o->left)
				watch_args_done(c);
			continue;
		}
		start_fill = o->fill;
		k = HDR - o->fill < n ? HDR - o->fill : n;
		memcpy(o->hdr + o->fill, p, k);
		o->fill += k;
		/* The tx field (bytes 8..11) lies wholly in this buffer. */
		if (rewrite && start_fill <= 8 && o->fill >= 12) {
			tx = get32(o->hdr + 8);
			if (tx >= TX_MAGIC && tx - TX_MAGIC < c->ntx) {
				put32(o->hdr + 8, c->tx[tx - TX_MAGIC]);
				memcpy(p + 8 - start_fill, o->hdr + 8, 4);
			}
		}
		p += k, n -= k;
		if (o->fill < HDR)
			break;
		o->fill = 0;
		o->left = get32(o->hdr + 12);
		if (o->left > XENSTORE_PAYLOAD_MAX) {
			o->lost = true;   /* the daemon must drop us now */
			break;
		}
		if (rewrite)
			continue;
		if (c->q_len == QLEN) {
			c->q_overflow = true;
		} else {
			unsigned idx = (c->q_head + c->q_len++) % QLEN;
			struct pending_req *r = &c->q[idx];

			memset(r, 0, sizeof(*r));
			r->type = get32(o->hdr);
			r->req_id = get32(o->hdr + 4);
			if (r->type == XS_WATCH || r->type == XS_UNWATCH ||
			    r->type == XS_CONTROL) {
				c->wq = (int)idx;
				c->wpay_len = 0;
				if (!o->left)
					watch_args_done(c);
			}
		}
	}
}

/* Returns whether anything was sent. */
static bool send_chunk(struct fuzz *f, struct slot *c, const uint8_t *data,
                       size_t n)
{
	static uint8_t buf[65536];   /* static: no stack poisoning per call */
	struct out_parser dry = c->out;
	size_t off = 0;
	ssize_t k;
	int tries = 0;

	if (c->fd < 0 || c->eof || c->wr_shut || c->out.lost || n == 0)
		return false;
	memcpy(buf, data, n);
	parse_out(c, &dry, buf, n, true);
	while (off < n) {
		k = send(c->fd, buf + off, n - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k > 0) {
			parse_out(c, &c->out, buf + off, (size_t)k, false);
			off += (size_t)k;
		} else if (k < 0 && errno == EAGAIN) {
			/* Full: let the daemon read, unless it won't. */
			if (++tries > WRITE_TRIES)
				break;
			pump(f);
		} else if (k < 0 && errno == EINTR) {
			continue;
		} else {
			c->eof = true;    /* EPIPE/ECONNRESET: the daemon closed it */
			break;
		}
	}
	return off > 0;
}

/* ---- connections ---- */

static void slot_reset(struct slot *c)
{
	int fd = c->fd, sfd = c->sfd;
	unsigned domid = c->domid;

	slot_clear(c);
	c->fd = fd;
	c->sfd = sfd;
	c->domid = domid;
	c->wq = -1;
}

/* The sockets of the three client slots are kept across inputs: at the
 * end of an input each live connection is ended by vbd__store_detach_fd()
 * (as a close would end it, but the store gives its end of the socket back
 * open) and the next input adopts the same socket again, so that no input
 * pays for three socketpairs and their closes (the kernel's share of the
 * time).  Their fds are moved to KEEP_FD_MIN and up, out of the range the
 * fd-leak check watches (the lowest free fd); a store end that a real close
 * ends must then be closed by the store, which retired_check() verifies at
 * the end of the input.  Every FUZZ_XS_REOPEN-th input (0: never keep)
 * closes all three for real instead, as do inputs that close a slot
 * themselves (f3-f5, fa, fc), shut one down (f6-f8), make the store end one
 * or subscribe one to the trace. */
#define KEEP_FD_MIN 256
#ifndef FUZZ_XS_REOPEN_EVERY
#define FUZZ_XS_REOPEN_EVERY 64
#endif
static bool keep_fds = true;   /* cleared if fds cannot be moved up */
static int retired[64];        /* kept store ends that a real close ended */
static unsigned nretired;

static void retired_check(const struct fuzz *f);

static void slot_close(struct slot *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->sfd >= 0 && nretired < sizeof(retired) / sizeof(retired[0]))
		retired[nretired++] = c->sfd;
	c->sfd = -1;
	slot_reset(c);
}

/* fd moved to KEEP_FD_MIN or above; -1 if it cannot be (the original is
 * closed either way). */
static int keep_fd(int fd)
{
	int k = fcntl(fd, F_DUPFD_CLOEXEC, KEEP_FD_MIN);

	close(fd);
	return k;
}

/* A fresh connection for slot c; the daemon may refuse it (unknown domain,
 * connection limit), which leaves the slot closed. */
static void slot_connect(struct fuzz *f, struct slot *c)
{
	int sv[2], sz = STORE_SNDBUF;
	bool keep = keep_fds && c >= f->slot && c < f->slot + NSLOT;

	slot_close(c);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		die("socketpair", c);
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (keep) {
		sv[0] = keep_fd(sv[0]);
		sv[1] = keep_fd(sv[1]);
		if (sv[0] < 0 || sv[1] < 0) {
			/* A low RLIMIT_NOFILE: no keeping from now on. */
			if (sv[0] >= 0)
				close(sv[0]);
			if (sv[1] >= 0)
				close(sv[1]);
			keep_fds = false;
			slot_connect(f, c);
			return;
		}
	}
	if (vbd_store_adopt_fd(f->s, sv[1], c->domid) < 0) {
		close(sv[0]);
		close(sv[1]);   /* on failure the caller still owns it */
		return;
	}
	c->fd = sv[0];
	c->sfd = keep ? sv[1] : -1;
	/* Many closes in one input: check those so far (after a pump, so
	 * that the store has seen them) before the list is full. */
	if (nretired == sizeof(retired) / sizeof(retired[0])) {
		pump(f);
		retired_check(f);
	}
}

/* End of an input: the connection of a slot that is still as any client's
 * could be (not shut down, not ended by the store, not a trace subscriber)
 * is ended by the store with the socket kept for the next input; any other
 * is closed.  Either way the store holds nothing of it afterwards. */
static void slot_park(struct fuzz *f, int i, bool reopen)
{
	struct slot *c = &f->slot[i];
	int r;

	f->parked[i] = false;
	if (reopen || c->fd < 0 || c->sfd < 0 || c->eof || c->wr_shut || c->out.lost ||
	    c->tracing) {
		slot_close(c);
		return;
	}
	r = vbd__store_detach_fd(f->s, c->sfd);
	if (r == -ENOENT) {
		slot_close(c);   /* the store ended it: it closed the fd */
		return;
	}
	if (r != c->sfd)
		die("vbd__store_detach_fd did not give the fd back", c);
	f->parked[i] = true;
	f->park_fd[i] = c->fd;
	f->park_sfd[i] = c->sfd;
	c->fd = c->sfd = -1;
	slot_reset(c);
}

/* Slot i connected again on its parked socket: the same public call as for
 * a new socket. */
static void slot_unpark(struct fuzz *f, int i)
{
	struct slot *c = &f->slot[i];

	f->parked[i] = false;
	if (vbd_store_adopt_fd(f->s, f->park_sfd[i], c->domid) < 0)
		die("the store refused a kept socket", c);
	c->fd = f->park_fd[i];
	c->sfd = f->park_sfd[i];
}

/* Every kept store end whose connection a real close ended must be closed
 * by now, unless its number was given to a socket kept since. */
static void retired_check(const struct fuzz *f)
{
	unsigned k;
	int i;

	for (k = 0; k < nretired; k++) {
		int fd = retired[k];
		bool reused = false;

		for (i = 0; i < NSLOT; i++)
			reused |= fd == f->slot[i].fd || fd == f->slot[i].sfd ||
			          (f->parked[i] && (fd == f->park_fd[i] || fd == f->park_sfd[i]));
		if (!reused && (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)) {
			fprintf(stderr, "fuzz_xs_wire: fd %d\n", fd);
			die("the store left the socket of a closed connection open", NULL);
		}
	}
	nretired = 0;
}

/* ---- audits: what the daemon holds, seen through the wire ----
 *
 * After a domain is released no node may name it (XSA-322).  At the end of
 * an input, with every client gone, the store's counters must be back to
 * zero, the node count must match the tree, and each guest must be able to
 * create exactly as many nodes as its quota leaves (the per-domain count
 * that releases, owner changes and transactions keep up to date). */

#define AUDIT_MAX 256          /* nodes visited per walk */
#define QUOTA_PROBE_MAX 64     /* node creations tried per guest */

struct walk {
	unsigned nodes;        /* visited */
	bool complete;         /* every node was seen and read */
	unsigned owned[NSLOT]; /* nodes owned by domains 0..2 */
};

/* Connects the audit slot as domid, fresh; false if the daemon refuses. */
static bool audit_connect(struct fuzz *f, unsigned domid)
{
	slot_close(&f->audit);
	f->audit.domid = domid;
	slot_connect(f, &f->audit);
	f->audit.capture = true;
	return f->audit.fd >= 0;
}

static size_t put_raw(uint8_t *buf, uint32_t type, uint32_t req_id,
                      const void *payload, size_t len)
{
	struct xsd_sockmsg h = { type, req_id, 0, (uint32_t)len };

	memcpy(buf, &h, HDR);
	memcpy(buf + HDR, payload, len);
	return HDR + len;
}

/* A request with payload "a\0" or "a\0b\0" ("a\0b" for WRITE, whose value
 * has no terminator). */
static size_t put_msg(uint8_t *buf, uint32_t type, uint32_t req_id,
                      const char *a, const char *b)
{
	static char p[XENSTORE_PAYLOAD_MAX];
	size_t la = strlen(a) + 1, lb = b ? strlen(b) + (type != XS_WRITE) : 0;

	memcpy(p, a, la);
	if (lb)
		memcpy(p + la, b, lb);
	return put_raw(buf, type, req_id, p, la + lb);
}

/* One request on the audit connection; the reply lands in f->audit.  The
 * connection is fresh and reads everything, so a missing reply is a bug. */
static void audit_raw(struct fuzz *f, uint32_t type, const void *p, size_t len)
{
	static uint8_t msg[HDR + XENSTORE_PAYLOAD_MAX];
	struct slot *c = &f->audit;

	c->got_reply = false;
	send_chunk(f, c, msg, put_raw(msg, type, 0x5eed, p, len));
	pump(f);
	if (!c->got_reply)
		die("audit: a request on a fresh connection got no reply", c);
}

/* Requests already laid out in buf (len bytes, n of them), sent at once on
 * the audit connection; their replies, in order, in f->log. */
static const struct logged *audit_batch(struct fuzz *f, const uint8_t *buf, size_t len,
                                        unsigned n)
{
	struct slot *a = &f->audit;

	f->log.n = 0;
	f->log.used = 0;
	a->log = &f->log;
	send_chunk(f, a, buf, len);
	pump(f);
	a->log = NULL;
	if (f->log.n != n)
		die("audit: requests on a fresh connection got no reply", a);
	return f->log.r;
}

/* The same with payload "a\0" or "a\0b\0", see put_msg(). */
static void audit_call(struct fuzz *f, uint32_t type, const char *a, const char *b)
{
	static uint8_t msg[HDR + XENSTORE_PAYLOAD_MAX];
	size_t len = put_msg(msg, type, 0, a, b) - HDR;

	audit_raw(f, type, msg + HDR, len);
}

/* Checks a GET_PERMS reply: well formed, and gone named in no entry.
 * Returns the owner. */
static unsigned long audit_perms(const struct slot *a, unsigned gone)
{
	const char *p = a->reply, *end = a->reply + a->reply_len;
	unsigned long id, owner = ~0ul;
	char *e;

	if (a->reply_len == 0 || a->reply[a->reply_len - 1] != '\0')
		die("GET_PERMS reply not NUL-terminated", a);
	for (; p < end; p += strlen(p) + 1) {
		if (p[0] == '\0' || !strchr("nrwb", p[0]) || p[1] < '0' || p[1] > '9')
			die("GET_PERMS reply: malformed entry", a);
		id = strtoul(p + 1, &e, 10);
		if (*e)
			die("GET_PERMS reply: malformed entry", a);
		if (id == gone)
			die("released domain still in a permission list", a);
		if (owner == ~0ul)
			owner = id;
	}
	return owner;
}

/* Walks the tree breadth first (bounded) on the audit slot, connected as
 * dom0, one level per round trip.  gone: a released domid to look for, or
 * ~0u. */
static void audit_walk(struct fuzz *f, unsigned gone, struct walk *w)
{
	static const char *const specials[] = { "@introduceDomain", "@releaseDomain" };
	static uint8_t batch[65536];
	struct slot *a = &f->audit;
	struct reply_log *l = &f->log;
	char *queue[AUDIT_MAX];
	unsigned head = 0, n = 0, i, k, level_end;
	unsigned long owner;
	size_t used;

	memset(w, 0, sizeof(*w));
	w->complete = true;
	for (i = 0; i < 2; i++) {
		audit_call(f, XS_GET_PERMS, specials[i], NULL);
		if (a->reply_type != XS_ERROR)
			audit_perms(a, gone);
	}
	queue[n++] = strdup("/");
	a->log = l;
	while (head < n) {
		level_end = n;
		l->n = 0;
		l->used = 0;
		used = 0;
		for (k = head; k < level_end; k++) {
			if (!queue[k])
				die("out of memory", NULL);
			if (used + 2 * (HDR + XENSTORE_PAYLOAD_MAX) > sizeof(batch)) {
				send_chunk(f, a, batch, used);
				used = 0;
			}
			used += put_msg(batch + used, XS_GET_PERMS, k, queue[k], NULL);
			used += put_msg(batch + used, XS_DIRECTORY, k, queue[k], NULL);
		}
		send_chunk(f, a, batch, used);
		pump(f);
		if (l->n != 2 * (level_end - head))
			die("audit: requests on a fresh connection got no reply", a);
		for (k = head, i = 0; k < level_end; k++, i += 2) {
			const struct logged *rp = &l->r[i], *rd = &l->r[i + 1];
			const char *name, *end;

			w->nodes++;
			if (rp->type == XS_ERROR) {
				w->complete = false;
			} else {
				/* audit_perms() reads the slot's copy */
				a->reply_len = rp->len;
				memcpy(a->reply, l->buf + rp->off, rp->len + 1);
				owner = audit_perms(a, gone);
				if (owner < NSLOT)
					w->owned[owner]++;
			}
			if (rd->type != XS_DIRECTORY) {
				w->complete = false;   /* E2BIG: too many children */
				continue;
			}
			end = l->buf + rd->off + rd->len;
			for (name = l->buf + rd->off; name < end; name += strlen(name) + 1) {
				size_t len = strlen(queue[k]) + strlen(name) + 2;
				char *child;

				if (n == AUDIT_MAX) {
					w->complete = false;
					break;
				}
				child = malloc(len);
				if (child)
					snprintf(child, len, "%s%s%s", queue[k],
					         strcmp(queue[k], "/") ? "/" : "", name);
				queue[n++] = child;
			}
		}
		head = level_end;
	}
	a->log = NULL;
	for (i = 0; i < n; i++)
		free(queue[i]);
}

static unsigned long audit_every, releases;

/* After domain gone's release no node may name it (XSA-322).  Checked in
 * process on every release (vbd__store_perms_name(): the tree and the
 * special nodes, at the cost of the release's own walk of the tree); on
 * every FUZZ_XS_AUDIT-th release (the corpus replay: every one) also as a
 * client sees it, by a walk of the tree through the wire, which took half
 * of the time on a grown corpus when it ran on every release. */
static void audit_released(struct fuzz *f, unsigned gone)
{
	char path[256];
	struct walk w;

	if (vbd__store_perms_name(f->s, gone, path, sizeof(path)) != 0) {
		fprintf(stderr, "fuzz_xs_wire: dom%u named by %s\n", gone, path);
		die("released domain still in a permission list", NULL);
	}
	if (!audit_every || ++releases % audit_every)
		return;
	if (audit_connect(f, 0))
		audit_walk(f, gone, &w);
	slot_close(&f->audit);
}

/* nodes-per-domain as the daemon has it now (CONTROL quota may change it),
 * from the reply r to CONTROL "quota"; 0 if it cannot tell. */
static unsigned audit_node_quota(struct fuzz *f, const struct logged *r)
{
	const char *p;
	unsigned v;

	if (r->type != XS_CONTROL)
		return 0;
	p = strstr(f->log.buf + r->off, "nodes-per-domain");
	if (!p || sscanf(p + 16, "%u", &v) != 1)
		return 0;
	return v;
}

/* CONTROL "quota <domid>" into the audit slot's reply.  Only asked of
 * domains that are introduced: each must get an answer, whose fields must
 * not be taken for a charge of -1. */
static void audit_quota_of(struct fuzz *f, unsigned domid)
{
	char id[16];

	snprintf(id, sizeof(id), "%u", domid);
	audit_call(f, XS_CONTROL, "quota", id);
	if (f->audit.reply_type != XS_CONTROL) {
		fprintf(stderr, "fuzz_xs_wire: dom%u: CONTROL quota: %s\n", domid,
		        f->audit.reply);
		die("audit: CONTROL quota refused for an introduced domain", NULL);
	}
}

/* One number of the reply of audit_quota_of(). */
static long long audit_quota_field(struct fuzz *f, const char *name)
{
	const char *p;
	size_t nl = strlen(name);

	for (p = f->audit.reply; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, nl) && p[nl] == ' ')
			return strtoll(p + nl, NULL, 10);
	die("audit: CONTROL quota reply lacks a field", NULL);
	return -1;
}

/* Whether the daemon has domid introduced now.  The input may have
 * released or introduced it over the wire, which dom_present does not
 * follow. */
static bool audit_introduced(struct fuzz *f, unsigned domid)
{
	char id[16];

	snprintf(id, sizeof(id), "%u", domid);
	audit_call(f, XS_IS_DOMAIN_INTRODUCED, id, NULL);
	if (f->audit.reply_type != XS_IS_DOMAIN_INTRODUCED)
		die("audit: IS_DOMAIN_INTRODUCED refused", NULL);
	return !strcmp(f->audit.reply, "T");
}

/* With every client gone, a domain is charged exactly what its nodes hold:
 * nothing for transactions, watches or output is left behind.  A guest
 * that is gone (removed here or released over the wire) is introduced
 * afresh first: what its release left charged, the new domain with its id
 * would carry. */
static void audit_memory(struct fuzz *f)
{
	static const char *const gone[] = { "memory-transactions", "memory-watches",
	                                    "memory-output" };
	long long v;
	unsigned d, k;

	for (d = 0; d < NSLOT; d++) {
		long long mem, nodes;

		if (d && !audit_introduced(f, d)) {
			if (vbd_store_domain_add(f->s, d) < 0)
				die("audit: cannot introduce a released domain again", NULL);
			pump(f);
		}
		if (d)
			f->dom_present[d] = true;
		audit_quota_of(f, d);
		for (k = 0; k < 3; k++) {
			/* dom0's output: the audit connection's own replies. */
			if (d == 0 && k == 2)
				continue;
			v = audit_quota_field(f, gone[k]);
			if (v != 0) {
				fprintf(stderr, "fuzz_xs_wire: dom%u: %s %lld\n", d, gone[k], v);
				die("memory charged for what no longer exists", NULL);
			}
		}
		if (d == 0)
			continue;
		mem = audit_quota_field(f, "memory");
		nodes = audit_quota_field(f, "memory-nodes");
		if (mem < 0 || mem != nodes) {
			fprintf(stderr, "fuzz_xs_wire: dom%u charged %lld, its nodes %lld\n", d,
			        mem, nodes);
			die("memory charge is not the nodes' share", NULL);
		}
	}
}

/* With every client gone, no connection, watch, transaction or output is
 * counted.  The in-process part of the end-of-input audit, with
 * vbd__store_reset()'s checks. */
static void audit_counters(struct fuzz *f)
{
	vbd_store_stats st = { .size = sizeof(st) };

	vbd_store_get_stats(f->s, &st);
	if (st.connections || st.watches || st.transactions || st.pending_bytes)
		die("with every client gone, a counter is not back to 0", NULL);
}

static void audit_end(struct fuzz *f)
{
	static uint8_t buf[QUOTA_PROBE_MAX * (HDR + 32)];
	struct slot *a = &f->audit;
	vbd_store_stats st = { .size = sizeof(st) };
	char dir[32], path[48];
	unsigned quota, d, i, ok, enospc, expect;
	bool ready[NSLOT] = { false };
	const struct logged *r;
	struct walk w;
	size_t len;

	audit_counters(f);
	if (!audit_connect(f, 0))
		die("audit: cannot connect as dom0", NULL);
	audit_memory(f);
	/* The node quota; then, so that the probe below runs in one round
	 * trip and meets the node quota only, no limit on requests in flight
	 * or on memory. */
	len = put_msg(buf, XS_CONTROL, 0, "quota", NULL);
	len += put_raw(buf + len, XS_CONTROL, 1, "quota\0outstanding\0" "64", 21);
	len += put_raw(buf + len, XS_CONTROL, 2, "quota\0memory-per-domain\0" "2147483647", 35);
	r = audit_batch(f, buf, len, 3);
	quota = audit_node_quota(f, &r[0]);
	/* A fresh directory owned by each guest, for the quota probe: RM,
	 * MKDIR, SET_PERMS for each, in one round trip (a SET_PERMS after a
	 * failed MKDIR fails too: no node). */
	for (d = 1, len = 0; d < NSLOT; d++) {
		snprintf(dir, sizeof(dir), "/vbd-fuzz-quota-%u", d);
		snprintf(path, sizeof(path), "n%u", d);
		len += put_msg(buf + len, XS_RM, d, dir, NULL);
		len += put_msg(buf + len, XS_MKDIR, d, dir, NULL);
		len += put_msg(buf + len, XS_SET_PERMS, d, dir, path);
	}
	r = audit_batch(f, buf, len, 3 * (NSLOT - 1));
	for (d = 1; d < NSLOT; d++)
		ready[d] = r[3 * (d - 1) + 1].type == XS_MKDIR &&
		           r[3 * (d - 1) + 2].type == XS_SET_PERMS;
	audit_walk(f, ~0u, &w);
	vbd_store_get_stats(f->s, &st);
	if (w.complete && w.nodes != st.nodes) {
		fprintf(stderr, "fuzz_xs_wire: walked %u nodes, stats say %llu\n",
		        w.nodes, (unsigned long long)st.nodes);
		die("node count disagrees with the tree", NULL);
	}
	for (d = 1; d < NSLOT && w.complete && quota; d++) {
		if (!ready[d] || w.owned[d] + QUOTA_PROBE_MAX - 2 < quota)
			continue;   /* no directory, or quota raised past the probe */
		expect = quota > w.owned[d] ? quota - w.owned[d] : 0;
		if (!audit_connect(f, d))
			continue;   /* released over the wire, or too many conns */
		for (i = 0, len = 0; i < expect + 2 && i < QUOTA_PROBE_MAX; i++) {
			snprintf(path, sizeof(path), "/vbd-fuzz-quota-%u/%u", d, i);
			len += put_msg(buf + len, XS_WRITE, i, path, "");
		}
		a->n_ok = a->n_enospc = 0;
		send_chunk(f, a, buf, len);
		pump(f);
		ok = a->n_ok, enospc = a->n_enospc;
		if (ok != expect || ok + enospc != i) {
			fprintf(stderr, "fuzz_xs_wire: dom%u owns %u nodes, quota %u: "
			        "%u creations succeeded, %u ENOSPC, of %u\n",
			        d, w.owned[d], quota, ok, enospc, i);
			die("node quota accounting is off", a);
		}
	}
	slot_close(a);
}

/* Control actions, op 0xf0..0xff:
 *   f0-f2  pause/resume reading slot 0-2 (replies and events pile up)
 *   f3-f5  close slot 0-2 and connect it afresh
 *   f6-f8  shut down the sending side of slot 0-2 (daemon sees EOF)
 *   f9/fa  remove / re-add domain 1 (re-adding reconnects slot 1); a
 *          removal is followed by a check of the whole tree
 *          (audit_released())
 *   fb/fc  the same for domain 2
 *   fd     read the stats (and check what can be checked)
 *   fe-ff  only run the daemon
 * Returns whether the daemon may have something to do: not after a pause,
 * a stats read or an action that did nothing (the pump before left it
 * quiet and every reading slot read to the end). */
static bool do_control(struct fuzz *f, uint8_t op)
{
	struct slot *c;
	vbd_store_stats st = { .size = sizeof(st) };
	unsigned d;

	switch (op) {
	case 0xf0: case 0xf1: case 0xf2:
		c = &f->slot[op - 0xf0];
		c->paused = !c->paused;
		return !c->paused;   /* resumed: read what piled up */
	case 0xf3: case 0xf4: case 0xf5:
		slot_connect(f, &f->slot[op - 0xf3]);
		break;
	case 0xf6: case 0xf7: case 0xf8:
		c = &f->slot[op - 0xf6];
		if (c->fd < 0 || c->wr_shut)
			return false;
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
		break;
	case 0xf9: case 0xfb:
		d = op == 0xf9 ? 1 : 2;
		if (vbd_store_domain_remove(f->s, d) < 0)
			return false;   /* not there: nothing changed */
		f->dom_present[d] = false;
		pump(f);
		audit_released(f, d);
		break;
	case 0xfa: case 0xfc:
		d = op == 0xfa ? 1 : 2;
		if (vbd_store_domain_add(f->s, d) < 0)
			return false;   /* there already: nothing changed */
		f->dom_present[d] = true;
		slot_connect(f, &f->slot[d]);
		break;
	case 0xfd:
		vbd_store_get_stats(f->s, &st);
		if (st.connections > 16 || st.pending_bytes > st.pending_bytes_max)
			die("stats out of range", NULL);
		return false;
	default:
		break;
	}
	return true;
}

/* After the audit, with every client gone: the store must hold nothing
 * but its tree, with each domain charged exactly for its nodes
 * (vbd__store_reset() checks that before anything else), and once reset it
 * must be what vbd_store_new() gave: the same statistics and generation,
 * the same limits (CONTROL "quota" changes them).  So no state goes from
 * one input to the next, and an input replays alone as it ran.
 * FUZZ_XS_FRESH=1 builds a new store for every input instead. */
static vbd_store *store;
static unsigned long reopen_every, inputs;
static vbd_store_limits store_lim;
static vbd_store_stats store_stats;
static bool fresh;

static bool limits_equal(const vbd_store_limits *a, const vbd_store_limits *b)
{
	return a->nodes_per_domain == b->nodes_per_domain &&
	       a->watches_per_domain == b->watches_per_domain &&
	       a->transactions_per_conn == b->transactions_per_conn &&
	       a->nodes_per_transaction == b->nodes_per_transaction &&
	       a->perms_per_node == b->perms_per_node &&
	       a->value_size == b->value_size && a->outstanding == b->outstanding &&
	       a->max_payload == b->max_payload &&
	       a->max_pending_bytes == b->max_pending_bytes &&
	       a->max_pending_bytes_priv == b->max_pending_bytes_priv &&
	       a->conns_per_domain == b->conns_per_domain &&
	       a->memory_per_domain_soft == b->memory_per_domain_soft &&
	       a->memory_per_domain == b->memory_per_domain;
}

static void store_reset_check(struct fuzz *f)
{
	vbd_store_stats st = { .size = sizeof(st) };
	vbd_store_limits lim;
	char what[256];
	int r;

	r = vbd__store_reset(f->s, &store_lim, touched, ntouched, what, sizeof(what));
	touched_clear();
	if (r < 0) {
		fprintf(stderr, "fuzz_xs_wire: store reset: %s\n",
		        r == -EBUSY ? what : strerror(-r));
		die("the store holds more than its tree after the input", NULL);
	}
	vbd_store_get_stats(f->s, &st);
	vbd__store_limits(f->s, &lim);
	if (memcmp(&st, &store_stats, sizeof(st)) || !limits_equal(&lim, &store_lim))
		die("the store after reset is not the store as new", NULL);
	if (fresh) {
		store = vbd_store_free(store);
		f->s = NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vbd_store_options o = VBD_STORE_OPTIONS_INIT;
	static struct fuzz f;   /* large: keep it off the stack */
	static bool sigpipe_trapped;
	/* The lowest free fd at the input's start, and with the store: taken
	 * afresh for every input, since between two inputs libFuzzer may
	 * open descriptors of its own (the pipes to the symbolizer it starts
	 * to print a NEW_FUNC line); the previous input's end was checked. */
	int fd_start = lowest_free_fd(), fd_store = fd_start;
	int i;
	size_t n;

	o.limits.nodes_per_domain = 24;
	o.limits.watches_per_domain = 8;
	o.limits.transactions_per_conn = 3;
	o.limits.nodes_per_transaction = 64;
	o.limits.perms_per_node = 5;
	o.limits.value_size = 256;
	o.limits.outstanding = 8;
	o.limits.max_pending_bytes = 4096;
	o.limits.max_pending_bytes_priv = 16384;
	o.limits.conns_per_domain = 16;
	/* Within reach of a few kilobytes of input, as the other quotas. */
	o.limits.memory_per_domain_soft = 12288;
	o.limits.memory_per_domain = 16384;

	if (!sigpipe_trapped) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sigpipe;
		sigaction(SIGPIPE, &sa, NULL);
		sigpipe_trapped = true;
	}
	/* One store for every input, put back as new after each (see the
	 * end): building one costs more than most inputs. */
	if (!store) {
		vbd_store_stats st0 = { .size = sizeof(st0) };

		const char *e = getenv("FUZZ_XS_AUDIT");

		fresh = getenv("FUZZ_XS_FRESH") != NULL;
		audit_every = e && *e ? strtoul(e, NULL, 10) : FUZZ_XS_AUDIT_EVERY;
		e = getenv("FUZZ_XS_REOPEN");
		reopen_every = e && *e ? strtoul(e, NULL, 10) : FUZZ_XS_REOPEN_EVERY;
		if (vbd_store_new(&store, &o, NULL) < 0)
			die("vbd_store_new", NULL);
		vbd__store_limits(store, &store_lim);
		vbd_store_get_stats(store, &st0);
		store_stats = st0;
		fd_store = lowest_free_fd();
	}
	memset(&f.log, 0, sizeof(f.log));
	memset(f.dom_present, 0, sizeof(f.dom_present));
	for (i = 0; i < NSLOT; i++)
		slot_clear(&f.slot[i]);
	slot_clear(&f.audit);
	f.audit.fd = f.audit.sfd = -1;
	f.audit.wq = -1;
	f.s = store;
	for (i = 0; i < NSLOT; i++) {
		touch(slot_domid[i]);   /* removed and reaped, they are no domain */
		f.slot[i].fd = f.slot[i].sfd = -1;
		f.slot[i].wq = -1;
		f.slot[i].domid = slot_domid[i];
		if (slot_domid[i] != 0) {
			if (vbd_store_domain_add(f.s, slot_domid[i]) < 0)
				die("vbd_store_domain_add", NULL);
			f.dom_present[i] = true;
		}
		if (f.parked[i])
			slot_unpark(&f, i);
		else
			slot_connect(&f, &f.slot[i]);
		if (f.slot[i].fd < 0)
			die("vbd_store_adopt_fd", NULL);
	}
	pump(&f);

	while (size) {
		uint8_t op = data[0];

		n = size >= 3 ? (size_t)data[1] | (size_t)data[2] << 8 : 0;
		data += size >= 3 ? 3 : size;
		size -= size >= 3 ? 3 : size;
		if (n > size)
			n = size;
		/* The daemon runs after each chunk, unless the chunk cannot
		 * have given it anything to do (nothing sent, a slot paused:
		 * the last pump left it quiet), which saves a pump's
		 * epoll_wait() and poll() for many of a grown input's chunks
		 * (pausing is a frequent one). */
		if (op < 0xf0 ? send_chunk(&f, &f.slot[op % NSLOT], data, n)
		              : do_control(&f, op))
			pump(&f);
		data += n, size -= n;
	}

	/* Read everything; then every complete request must be answered. */
	for (i = 0; i < NSLOT; i++)
		f.slot[i].paused = false;
	pump(&f);
	for (i = 0; i < NSLOT; i++) {
		struct slot *c = &f.slot[i];

		if (c->fd < 0 || c->eof || c->wr_shut || c->out.lost ||
		    c->q_overflow || c->tracing)
			continue;
		if (c->q_len > 1 || (c->q_len == 1 && !c->out.left))
			die("request never answered", c);
	}
	inputs++;
	for (i = 0; i < NSLOT; i++)
		slot_park(&f, i, fresh || !reopen_every || inputs % reopen_every == 0);
	pump(&f);
	if (audit_every && inputs % audit_every == 0)
		audit_end(&f);
	else
		audit_counters(&f);

	slot_close(&f.audit);
	pump(&f);
	store_reset_check(&f);
	retired_check(&f);
	free(f.log.r);
	free(f.log.buf);
	if (lowest_free_fd() != (store ? fd_store : fd_start))
		die("file descriptor leaked", NULL);
	return 0;
}
