/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store_bench - how close the embedded store comes to a bare Unix socket.
 *
 * In one process it runs an embedded store (vbd_store, driven by its own
 * thread) and a raw echo server (another thread) that reads a 16-byte header
 * plus `len` payload bytes and writes them straight back.  It then measures,
 * with the real libxenstore as the client:
 *
 *   echo   one 16+32-byte message to the echo server and back: the floor
 *   read   xs_read of a 32-byte value
 *   write  xs_write of a 32-byte value
 *   watch  handle B does xs_write on a watched node; the time from just
 *          before B's write until handle A's xs_read_watch returns (A waits
 *          in a thread of its own, so the watcher is independent of the writer)
 *   echo_libxs  the same echo made the way libxenstore talks: SIGPIPE
 *          ignored and restored around it, header and payload written by two
 *          write()s, reply read by two read()s.  Not a target; it tells the
 *          client library's share of read/echo from the daemon's.
 *
 * All are interleaved in rounds (a slice of each per round, the order
 * rotating) so that drift in machine load hits all of them alike, with the
 * threads pinned (see choose_cpus()) so that all see the same placement.  It prints
 * median and p99 of each and the ratios of the medians against the targets
 * read <= 1.5x echo and watch <= 2x echo.  A benchmark reports; it never
 * fails on a timing.  Exit status is non-zero only if it could not run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "common.h"
#include "vbd/store.h"
#include "xenbus/xenbus.h"

#define PAYLOAD 32              /* bytes of value / echo payload */
#define HDR 16                  /* sizeof(struct xsd_sockmsg) */
#define WATCH_PATH "/bench/watch"
#define WATCH_TOKEN "bench"

enum { M_ECHO, M_READ, M_WRITE, M_WATCH, M_ECHO_XS, M_COUNT };
static const char *const metric_name[M_COUNT] = {
	"echo", "read", "write", "watch", "echo_libxs"
};

enum { PIN_NONE, PIN_SAME, PIN_SPLIT };

typedef struct bench {
	int pin;
	int client_cpu, server_cpu; /* -1: not pinned */

	char dir[PATH_MAX - 64];     /* room left for the names below */
	char store_sock[PATH_MAX];
	char store_dsock[PATH_MAX];  /* "<socket>.d", domain sockets */
	char echo_sock[PATH_MAX];

	vbd_store *store;
	int store_stop[2];
	pthread_t store_thread;
	bool store_running;

	int echo_listen;
	int echo_stop[2];
	pthread_t echo_thread;
	bool echo_running;
	int echo_fd;                /* client side */

	struct xs_handle *xa;       /* watcher */
	struct xs_handle *xb;       /* reader / writer */

	pthread_t watch_thread;
	bool watch_running;
	sem_t watch_seen;           /* posted by the watcher: event received */
	atomic_bool watch_quit;
	uint64_t watch_t1;          /* written by the watcher before watch_seen */
	int watch_errors;

	samples m[M_COUNT];
} bench;

/* --- CPU placement ------------------------------------------------------------- */

/* Cross-CPU wake-ups cost several microseconds and the scheduler places the
 * threads differently from run to run, so an unpinned run can land in one of
 * two modes (echo on one CPU, the store across two: ratios double).  Pinning
 * makes the placement the same for every metric and every run: clients (this
 * thread, the watcher and libxenstore's reader thread, which inherit it) on
 * one CPU, servers (store, echo) on the same one (default: no wake-up
 * latency hides the daemon's own cost) or on another (--pin split). */
static void pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void choose_cpus(bench *b)
{
	cpu_set_t set;
	int cpu, first = -1, second = -1;

	b->client_cpu = b->server_cpu = -1;
	if (b->pin == PIN_NONE || sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (first < 0)
			first = cpu;
		else if (second < 0)
			second = cpu;
	}
	b->client_cpu = first;
	b->server_cpu = b->pin == PIN_SPLIT && second >= 0 ? second : first;
}

/* --- the store, in a thread --------------------------------------------------- */

static void *store_main(void *arg)
{
	bench *b = arg;

	pin_self(b->server_cpu);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = vbd_store_get_fd(b->store), .events = POLLIN },
			{ .fd = b->store_stop[0], .events = POLLIN },
		};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (vbd_store_process(b->store) < 0)
			break;
	}
	return NULL;
}

/* --- the echo server, in a thread ------------------------------------------------ */

static int read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

/* One message: the header's len field (offset 12) says how much follows.
 * The first read takes whatever has arrived, as a server reading into a
 * buffer would, so that the floor costs as few system calls as it can. */
static int echo_one(int fd)
{
	char buf[HDR + 4096];
	size_t got;
	uint32_t len;
	ssize_t n;
	int r;

	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	got = (size_t)n;
	if (got < HDR) {
		r = read_full(fd, buf + got, HDR - got);
		if (r < 0)
			return r;
		got = HDR;
	}
	memcpy(&len, buf + 12, sizeof(len));
	if (len > 4096 || got > HDR + len)   /* one message at a time */
		return -EMSGSIZE;
	r = read_full(fd, buf + got, HDR + len - got);
	if (r < 0)
		return r;
	return write_full(fd, buf, HDR + len);
}

static void *echo_main(void *arg)
{
	bench *b = arg;
	struct epoll_event ev, evs[16];
	int ep, i, n;

	pin_self(b->server_cpu);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return NULL;
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = b->echo_listen };
	epoll_ctl(ep, EPOLL_CTL_ADD, b->echo_listen, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = b->echo_stop[0] };
	epoll_ctl(ep, EPOLL_CTL_ADD, b->echo_stop[0], &ev);

	for (;;) {
		n = epoll_wait(ep, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == b->echo_stop[0])
				goto out;
			if (fd == b->echo_listen) {
				int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
				if (c < 0)
					continue;
				ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = c };
				if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0)
					close(c);
				continue;
			}
			if (echo_one(fd) < 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
			}
		}
	}
out:
	close(ep);
	return NULL;
}

static int unix_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* --- the watcher, in a thread ------------------------------------------------------ */

static void *watch_main(void *arg)
{
	bench *b = arg;

	/* Always already waiting in xs_read_watch() when a write starts, so
	 * that no wake-up of this thread but the event's own is timed. */
	for (;;) {
		unsigned int num;
		char **vec;

		vec = xs_read_watch(b->xa, &num);
		b->watch_t1 = bench_now_ns();
		if (b->watch_quit) {
			free(vec);
			break;
		}
		if (!vec || num < 2 || strcmp(vec[XS_WATCH_TOKEN], WATCH_TOKEN) != 0)
			b->watch_errors++;
		free(vec);
		sem_post(&b->watch_seen);
	}
	return NULL;
}

/* --- one sample of each metric ---------------------------------------------------------- */

static int one_echo(bench *b, uint64_t *ret)
{
	char msg[HDR + PAYLOAD], back[HDR + PAYLOAD];
	uint32_t hdr[4] = { 2 /* XS_READ */, 1, 0, PAYLOAD };
	uint64_t t0, t1;
	int r;

	memcpy(msg, hdr, HDR);
	memset(msg + HDR, 'e', PAYLOAD);
	t0 = bench_now_ns();
	r = write_full(b->echo_fd, msg, sizeof(msg));
	if (r == 0)
		r = read_full(b->echo_fd, back, sizeof(back));
	t1 = bench_now_ns();
	if (r < 0)
		return r;
	if (memcmp(msg, back, sizeof(msg)) != 0)
		return -EIO;
	*ret = t1 - t0;
	return 0;
}

static int one_read(bench *b, uint64_t *ret)
{
	unsigned int len;
	uint64_t t0, t1;
	char *v;

	t0 = bench_now_ns();
	v = xs_read(b->xb, XBT_NULL, "/bench/node", &len);
	t1 = bench_now_ns();
	if (!v)
		return -errno;
	free(v);
	if (len != PAYLOAD)
		return -EIO;
	*ret = t1 - t0;
	return 0;
}

static int one_write(bench *b, uint64_t *ret)
{
	static const char val[PAYLOAD] = "0123456789abcdef0123456789abcdef";
	uint64_t t0, t1;
	bool ok;

	t0 = bench_now_ns();
	ok = xs_write(b->xb, XBT_NULL, "/bench/w", val, PAYLOAD);
	t1 = bench_now_ns();
	if (!ok)
		return -errno;
	*ret = t1 - t0;
	return 0;
}

static int one_watch(bench *b, uint64_t *ret)
{
	static const char val[PAYLOAD] = "fedcba9876543210fedcba9876543210";
	struct timespec dl;
	uint64_t t0;
	int errs = b->watch_errors;

	t0 = bench_now_ns();
	if (!xs_write(b->xb, XBT_NULL, WATCH_PATH, val, PAYLOAD))
		return -errno;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	while (sem_timedwait(&b->watch_seen, &dl) < 0) {
		if (errno != EINTR)
			return -ETIMEDOUT;
	}
	if (b->watch_errors != errs)
		return -EIO;
	*ret = b->watch_t1 - t0;
	return 0;
}

/* The system calls of libxenstore's xs_talkv() and read_message(). */
static int one_echo_libxs(bench *b, uint64_t *ret)
{
	struct sigaction ignore = { .sa_handler = SIG_IGN }, old;
	uint32_t hdr[4] = { 2 /* XS_READ */, 1, 0, PAYLOAD }, rhdr[4];
	char payload[PAYLOAD], back[PAYLOAD];
	uint64_t t0, t1;
	int r;

	memset(payload, 'x', PAYLOAD);
	t0 = bench_now_ns();
	sigaction(SIGPIPE, &ignore, &old);
	r = write_full(b->echo_fd, hdr, HDR);
	if (r == 0)
		r = write_full(b->echo_fd, payload, PAYLOAD);
	if (r == 0)
		r = read_full(b->echo_fd, rhdr, HDR);
	if (r == 0)
		r = read_full(b->echo_fd, back, PAYLOAD);
	sigaction(SIGPIPE, &old, NULL);
	t1 = bench_now_ns();
	if (r < 0)
		return r;
	if (memcmp(hdr, rhdr, HDR) != 0 || memcmp(payload, back, PAYLOAD) != 0)
		return -EIO;
	*ret = t1 - t0;
	return 0;
}

typedef int (*one_fn)(bench *b, uint64_t *ret);
static const one_fn one[M_COUNT] = {
	one_echo, one_read, one_write, one_watch, one_echo_libxs
};

/* --- setup and teardown ------------------------------------------------------------------ */

static int setup(bench *b)
{
	vbd_store_options o = VBD_STORE_OPTIONS_INIT;
	const char *tmp = getenv("TMPDIR");
	unsigned int num;
	char **vec;
	int r;

	choose_cpus(b);
	pin_self(b->client_cpu);
	snprintf(b->dir, sizeof(b->dir), "%s/vbdbench.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(b->dir)) {
		b->dir[0] = 0;
		return -errno;
	}
	snprintf(b->store_sock, sizeof(b->store_sock), "%s/socket", b->dir);
	snprintf(b->store_dsock, sizeof(b->store_dsock), "%s/socket.d", b->dir);
	snprintf(b->echo_sock, sizeof(b->echo_sock), "%s/echo", b->dir);

	o.socket_path = b->store_sock;
	r = vbd_store_new(&b->store, &o, NULL);
	if (r < 0) {
		fprintf(stderr, "store_bench: vbd_store_new: %s\n", strerror(-r));
		return r;
	}
	if (pipe2(b->store_stop, O_CLOEXEC) < 0 || pipe2(b->echo_stop, O_CLOEXEC) < 0)
		return -errno;
	r = -pthread_create(&b->store_thread, NULL, store_main, b);
	if (r < 0)
		return r;
	b->store_running = true;

	b->echo_listen = unix_listen(b->echo_sock);
	if (b->echo_listen < 0)
		return b->echo_listen;
	r = -pthread_create(&b->echo_thread, NULL, echo_main, b);
	if (r < 0)
		return r;
	b->echo_running = true;
	b->echo_fd = vbd__xb_connect_unix(b->echo_sock);
	if (b->echo_fd < 0)
		return b->echo_fd;

	setenv("XENSTORED_PATH", b->store_sock, 1);
	b->xa = xs_open(XS_OPEN_SOCKETONLY);
	b->xb = xs_open(XS_OPEN_SOCKETONLY);
	if (!b->xa || !b->xb) {
		r = -errno;
		fprintf(stderr, "store_bench: xs_open: %s\n", strerror(errno));
		return r < 0 ? r : -EIO;
	}
	if (!xs_write(b->xb, XBT_NULL, "/bench/node", "0123456789ABCDEF0123456789ABCDEF", PAYLOAD) ||
	    !xs_write(b->xb, XBT_NULL, WATCH_PATH, "", 0))
		return -errno;
	if (!xs_watch(b->xa, WATCH_PATH, WATCH_TOKEN))
		return -errno;
	/* The event every watch fires once when it is registered. */
	vec = xs_read_watch(b->xa, &num);
	if (!vec)
		return -errno;
	free(vec);

	if (sem_init(&b->watch_seen, 0, 0) < 0)
		return -errno;
	r = -pthread_create(&b->watch_thread, NULL, watch_main, b);
	if (r < 0)
		return r;
	b->watch_running = true;
	return 0;
}

static void teardown(bench *b, vbd_store_stats *ret_stats)
{
	int i;

	if (b->watch_running) {
		struct timespec dl;

		/* One more event lets the watcher see watch_quit; if events are
		 * lost it still sits in xs_read_watch(), hence the cancel. */
		b->watch_quit = true;
		xs_write(b->xb, XBT_NULL, WATCH_PATH, "", 0);
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 2;
		if (pthread_timedjoin_np(b->watch_thread, NULL, &dl) != 0) {
			pthread_cancel(b->watch_thread);
			pthread_join(b->watch_thread, NULL);
		}
		sem_destroy(&b->watch_seen);
	}
	if (b->xa)
		xs_close(b->xa);
	if (b->xb)
		xs_close(b->xb);
	if (b->echo_fd >= 0)
		close(b->echo_fd);
	if (b->echo_running) {
		(void)!write(b->echo_stop[1], "x", 1);
		pthread_join(b->echo_thread, NULL);
	}
	if (b->echo_listen >= 0)
		close(b->echo_listen);
	if (b->store_running) {
		(void)!write(b->store_stop[1], "x", 1);
		pthread_join(b->store_thread, NULL);
	}
	if (b->store && ret_stats)
		vbd_store_get_stats(b->store, ret_stats);
	b->store = vbd_store_free(b->store);
	for (i = 0; i < 2; i++) {
		if (b->store_stop[i] >= 0)
			close(b->store_stop[i]);
		if (b->echo_stop[i] >= 0)
			close(b->echo_stop[i]);
	}
	if (b->dir[0]) {
		unlink(b->echo_sock);
		unlink(b->store_sock);          /* normally gone already */
		rmdir(b->store_dsock);          /* if the store made one */
		if (rmdir(b->dir) < 0)
			fprintf(stderr, "store_bench: could not remove %s: %s\n",
			        b->dir, strerror(errno));
	}
	for (i = 0; i < M_COUNT; i++)
		free(b->m[i].ns);
}

/* --- statistics and output ---------------------------------------------------------------- */

static double pct_us(const samples *s, double p)
{
	return bench_pct_ns(s, p) / 1000.0;
}

static double median_us(const samples *s)
{
	return bench_median_ns(s) / 1000.0;
}

/* The table below as CSV rows: median and p99 of each, against the echo's. */
static void csv_rows(const double *med, const double *p99)
{
	int i;

	for (i = 0; i < M_COUNT; i++) {
		bench_csv_row(&(bench_row){ .workload = metric_name[i], .metric = "median",
		                            .value = med[i], .unit = "us",
		                            .baseline = med[M_ECHO] });
		bench_csv_row(&(bench_row){ .workload = metric_name[i], .metric = "p99",
		                            .value = p99[i], .unit = "us",
		                            .baseline = p99[M_ECHO] });
	}
}

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: store_bench [--iterations N] [--rounds R] [--warmup N]\n"
	        "                   [--pin none|same|split] [--json]\n"
	        "\n"
	        "Measures the round trip of a raw Unix-socket echo, xs_read and xs_write\n"
	        "through libxenstore against the embedded store, and watch-event latency;\n"
	        "prints median and p99 (microseconds) and the ratios against echo.\n"
	        "\n"
	        "  -n, --iterations N  samples per measurement (default 20000)\n"
	        "  -r, --rounds R      interleaving rounds (default 100)\n"
	        "  -w, --warmup N      unmeasured iterations of each first (default 1000)\n"
	        "  -p, --pin MODE      same: clients and servers on one CPU (default);\n"
	        "                      split: clients on one CPU, servers on another;\n"
	        "                      none: let the scheduler place the threads\n"
	        "  -j, --json          machine-readable output\n"
	        "      --csv FILE      also append CSV rows to FILE (see bench/README.md)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "iterations", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "pin", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static const struct { int metric; double max; const char *name; } target[] = {
		{ M_READ, 1.5, "read/echo" },
		{ M_WATCH, 2.0, "watch/echo" },
	};
	unsigned long iterations = 20000, rounds = 100, warmup = 1000;
	double med[M_COUNT], p99[M_COUNT];
	vbd_store_stats stats = { .size = sizeof(stats) };
	static const char *const pin_name[] = { "none", "same", "split" };
	bench b = { .pin = PIN_SAME, .echo_listen = -1, .echo_fd = -1,
	            .client_cpu = -1, .server_cpu = -1,
	            .store_stop = { -1, -1 }, .echo_stop = { -1, -1 } };
	bool json = false;
	int c, r, i, ret = 1;
	unsigned long k, round;
	uint64_t t;

	if (bench_csv_init("store_bench", &argc, argv) < 0)
		return 2;
	while ((c = getopt_long(argc, argv, "n:r:w:p:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (bench_parse_count(optarg, &iterations) < 0 || iterations == 0)
				goto bad_arg;
			break;
		case 'r':
			if (bench_parse_count(optarg, &rounds) < 0 || rounds == 0)
				goto bad_arg;
			break;
		case 'w':
			if (bench_parse_count(optarg, &warmup) < 0)
				goto bad_arg;
			break;
		case 'p':
			if (!strcmp(optarg, "none"))
				b.pin = PIN_NONE;
			else if (!strcmp(optarg, "same"))
				b.pin = PIN_SAME;
			else if (!strcmp(optarg, "split"))
				b.pin = PIN_SPLIT;
			else
				goto bad_arg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc)
		goto bad_arg;
	if (rounds > iterations)
		rounds = iterations;
	bench_csv_config("pin=%s", pin_name[b.pin]);

	signal(SIGPIPE, SIG_IGN);

	r = setup(&b);
	if (r < 0) {
		fprintf(stderr, "store_bench: setup failed: %s\n", strerror(-r));
		goto out;
	}
	for (i = 0; i < M_COUNT; i++) {
		b.m[i].ns = calloc(iterations, sizeof(uint64_t));
		if (!b.m[i].ns) {
			fprintf(stderr, "store_bench: out of memory\n");
			goto out;
		}
	}

	for (k = 0; k < warmup; k++) {
		for (i = 0; i < M_COUNT; i++) {
			r = one[i](&b, &t);
			if (r < 0) {
				fprintf(stderr, "store_bench: %s (warm-up): %s\n",
				        metric_name[i], strerror(-r));
				goto out;
			}
		}
	}

	/* Round `round` takes samples [round*N/R, (round+1)*N/R) of each metric,
	 * starting with a different metric each round. */
	for (round = 0; round < rounds; round++) {
		unsigned long lo = round * iterations / rounds;
		unsigned long hi = (round + 1) * iterations / rounds;
		int j;

		for (j = 0; j < M_COUNT; j++) {
			i = (int)((round + (unsigned long)j) % M_COUNT);
			for (k = lo; k < hi; k++) {
				r = one[i](&b, &t);
				if (r < 0) {
					fprintf(stderr, "store_bench: %s, sample %lu: %s\n",
					        metric_name[i], k, strerror(-r));
					goto out;
				}
				b.m[i].ns[b.m[i].n++] = t;
			}
		}
	}

	for (i = 0; i < M_COUNT; i++) {
		bench_sort(&b.m[i]);
		med[i] = median_us(&b.m[i]);
		p99[i] = pct_us(&b.m[i], 99.0);
		bench_csv_pcts(metric_name[i], "latency", &b.m[i], 1000.0, "us");
	}
	ret = 0;
out:
	teardown(&b, ret == 0 ? &stats : NULL);
	if (ret != 0)
		return ret;
	csv_rows(med, p99);
	for (i = 0; i < 2; i++) {
		double m = med[target[i].metric];
		char tgt[16];

		snprintf(tgt, sizeof(tgt), "<=%.1f", target[i].max);
		bench_csv_row(&(bench_row){ .workload = target[i].name, .metric = "median",
		                            .value = m, .unit = "us", .baseline = med[M_ECHO],
		                            .target = tgt,
		                            .verdict = bench_verdict(m / med[M_ECHO] <= target[i].max) });
	}

	if (json) {
		printf("{\n  \"iterations\": %lu,\n  \"rounds\": %lu,\n  \"payload_bytes\": %d,\n",
		       iterations, rounds, PAYLOAD);
		printf("  \"pin\": \"%s\",\n  \"client_cpu\": %d,\n  \"server_cpu\": %d,\n",
		       pin_name[b.pin], b.client_cpu, b.server_cpu);
		printf("  \"results_us\": {\n");
		for (i = 0; i < M_COUNT; i++)
			printf("    \"%s\": { \"median\": %.3f, \"p99\": %.3f }%s\n",
			       metric_name[i], med[i], p99[i], i + 1 < M_COUNT ? "," : "");
		printf("  },\n  \"ratios\": {\n");
		for (i = M_READ; i < M_COUNT; i++)
			printf("    \"%s_echo\": { \"median\": %.3f, \"p99\": %.3f },\n",
			       metric_name[i], med[i] / med[M_ECHO], p99[i] / p99[M_ECHO]);
		for (i = M_READ; i <= M_WATCH; i++)
			printf("    \"%s_echo_libxs\": { \"median\": %.3f, \"p99\": %.3f }%s\n",
			       metric_name[i], med[i] / med[M_ECHO_XS], p99[i] / p99[M_ECHO_XS],
			       i < M_WATCH ? "," : "");
		printf("  },\n  \"targets\": [\n");
		for (i = 0; i < 2; i++) {
			double ratio = med[target[i].metric] / med[M_ECHO];
			printf("    { \"name\": \"%s\", \"max\": %.1f, \"ratio\": %.3f, \"result\": \"%s\" }%s\n",
			       target[i].name, target[i].max, ratio,
			       ratio <= target[i].max ? "PASS" : "MISS", i ? "" : ",");
		}
		printf("  ],\n  \"store\": { \"requests\": %llu, \"events_sent\": %llu, "
		       "\"events_dropped\": %llu, \"nodes\": %llu }\n}\n",
		       (unsigned long long)stats.requests, (unsigned long long)stats.events_sent,
		       (unsigned long long)stats.events_dropped, (unsigned long long)stats.nodes);
		return 0;
	}

	printf("store_bench: %lu iterations in %lu interleaved rounds, %d-byte payloads, ",
	       iterations, rounds, PAYLOAD);
	if (b.pin == PIN_NONE)
		printf("threads unpinned\n\n");
	else
		printf("clients on CPU %d, servers on CPU %d\n\n", b.client_cpu, b.server_cpu);
	printf("%-11s %12s %12s %10s\n", "", "median (us)", "p99 (us)", "x echo");
	for (i = 0; i < M_COUNT; i++)
		printf("%-11s %12.2f %12.2f %10.2f\n", metric_name[i], med[i], p99[i],
		       med[i] / med[M_ECHO]);
	printf("\n");
	for (i = 0; i < 2; i++) {
		double ratio = med[target[i].metric] / med[M_ECHO];
		printf("target %-10s <= %.1fx: %5.2fx  %s\n", target[i].name, target[i].max,
		       ratio, ratio <= target[i].max ? "PASS" : "MISS");
	}
	printf("(no target: write/echo %.2fx; against echo_libxs, the same syscalls as\n"
	       " libxenstore: read %.2fx, write %.2fx, watch %.2fx)\n",
	       med[M_WRITE] / med[M_ECHO], med[M_READ] / med[M_ECHO_XS],
	       med[M_WRITE] / med[M_ECHO_XS], med[M_WATCH] / med[M_ECHO_XS]);
	printf("\nstore: %llu requests, %llu events sent, %llu dropped\n",
	       (unsigned long long)stats.requests, (unsigned long long)stats.events_sent,
	       (unsigned long long)stats.events_dropped);
	return 0;

bad_arg:
	usage(stderr);
	return 2;
}
