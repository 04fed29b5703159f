/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl sim: a simulated Xen host on any Linux machine.
 *
 *   vbdctl sim start --guests 2     host process: embedded xenstored + the
 *                                   simulated hypervisor (grants, event
 *                                   channels) in one loop, supervising
 *                                     vbdctl backend        (dom0, blkback)
 *                                     vbdctl frontend --domain 1  (guest1)
 *                                     vbdctl frontend --domain 2  (guest2)
 *   vbdctl attach guest1 ...        as on a real host (XENSTORED_PATH)
 *   vbdctl io guest1 xvdb read 0 4096    I/O inside the guest, through its
 *                                   blkfront and the shared rings
 *   vbdctl sim stop
 *
 * Each frontend process serves every vbd of its domain, as a guest kernel does:
 * a frontend for each device/vbd/<devid> that appears at Initialising, freed
 * when the toolstack removes the directory.  It answers I/O requests on
 * DIR/guest<domid>.sock: one request per connection, a header line
 * "<op> <devid> <offset> <len>\n" (op read, write, flush, discard, info),
 * for write followed by len bytes; the reply is "ok <n>\n" and n bytes, or
 * "err <errno> <message>\n".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "vbd/blkfront.h"
#include "vbd/ctx.h"
#include "vbd/disk.h"
#include "vbd/simhv.h"
#include "vbd/store.h"
#include "vbd/transport.h"
#include "io_request.h"
#include "vbdctl.h"

#define SIM_DEFAULT_DIR "/run/vbd-sim"
#define SIM_MAX_GUESTS 1000
#define GUEST_MAX_DEVICES 256
#define IO_CHUNK (1u << 20)

static const char sim_usage[] =
	"Usage: vbdctl sim start [--guests N] [--dir DIR]\n"
	"       vbdctl sim stop [--dir DIR] [--timeout S]\n"
	"\n"
	"start: runs a simulated Xen host in the background: the embedded xenstore\n"
	"daemon and the simulated hypervisor (grant tables, event channels) in one\n"
	"process, which supervises the bundled backend (vbdctl backend, dom0) and N\n"
	"guest domains (1) named guest1..guestN, each a process running the bundled\n"
	"frontend for every vbd of its domain (vbdctl frontend).  It returns once\n"
	"all of them are ready and prints the environment for the other commands:\n"
	"    export XENSTORED_PATH=DIR/xenstored.sock\n"
	"After that vbdctl attach, status, detach, watch and verify work as on a real\n"
	"host, and vbdctl io does I/O inside a guest.  The host logs to DIR/host.log.\n"
	"DIR is $VBD_SIM_DIR, else " SIM_DEFAULT_DIR "; for stop, also the host\n"
	"whose DIR/xenstored.sock $XENSTORED_PATH names.\n"
	"\n"
	"stop: stops the host: the guests and the backend get SIGTERM (SIGKILL after\n"
	"--timeout seconds, 10), then the daemons end and the sockets go (a killed\n"
	"guest's too: the host removes a guest's socket when the guest ends).\n"
	"\n"
	"Exit status: 0 done, 1 failed, 2 usage error.\n";

static const char frontend_usage[] =
	"Usage: vbdctl frontend [--domain D] [--dir DIR] [--ready-fd FD]\n"
	"\n"
	"Runs the bundled userspace block frontend for every vbd of domain D (0), as\n"
	"a guest kernel does: a frontend for each device/vbd/<devid> that appears at\n"
	"Initialising (ring keys, Initialised, Connected), freed when the toolstack\n"
	"removes the directory.  The transport is the simulated hypervisor when\n"
	"$VBD_SIMHV_PATH is set, else Xen's grant and event-channel devices.  It\n"
	"serves I/O requests (vbdctl io) on DIR/guest<D>.sock; DIR is $VBD_SIM_DIR,\n"
	"else " SIM_DEFAULT_DIR ".  SIGTERM closes every device (Closing, Closed).\n"
	"\n"
	"Exit status: 0 stopped by a signal, 1 failed, 2 usage error.\n";

static const char io_usage[] =
	"Usage: vbdctl io DOM VDEV read|write|discard OFFSET LEN [--file F] [--dir DIR]\n"
	"       vbdctl io DOM VDEV flush|info [--dir DIR]\n"
	"\n"
	"I/O inside a domain, through the vbdctl frontend that serves it, the shared\n"
	"ring and the backend: read writes LEN bytes from byte OFFSET to stdout (or\n"
	"--file), write takes them from stdin (or --file); info prints the frontend's\n"
	"view (sectors, sector size, queues, ring order, persistent grants, indirect\n"
	"segments, features).  OFFSET and LEN are multiples of the sector size.\n"
	"DIR (where the frontend's socket is) is $VBD_SIM_DIR, else the simulated\n"
	"host's whose DIR/xenstored.sock $XENSTORED_PATH names, else " SIM_DEFAULT_DIR ".\n"
	"\n"
	"Exit status: 0 done, 1 failed, 2 usage error.\n";

static const char *sim_dir(const char *opt)
{
	const char *env = getenv("VBD_SIM_DIR");

	if (opt)
		return opt;
	return env && *env ? env : SIM_DEFAULT_DIR;
}

/* The host a client command (io, stop) talks to: --dir, else $VBD_SIM_DIR,
 * else the one whose xenstore $XENSTORED_PATH names (what sim start told to
 * export: DIR/xenstored.sock, with the host's pid file beside it), else the
 * default. */
static const char *sim_client_dir(const char *opt, char *buf, size_t size)
{
	const char *env = getenv("VBD_SIM_DIR"), *xs = getenv("XENSTORED_PATH"), *slash;
	static const char sock[] = "/xenstored.sock";
	size_t n;

	if (opt || (env && *env) || !xs)
		return sim_dir(opt);
	slash = strrchr(xs, '/');
	n = slash ? (size_t)(slash - xs) : 0;
	if (!slash || strcmp(slash, sock) || n + sizeof("/host.pid") > size)
		return sim_dir(NULL);
	snprintf(buf, size, "%.*s/host.pid", (int)n, xs);
	if (access(buf, F_OK) < 0)
		return sim_dir(NULL);
	buf[n] = 0;
	return buf;
}

static void sim_path(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int parse_u64(const char *what, const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v > max) {
		vbdctl_err("bad %s '%s': expected 0..%" PRIu64, what, s, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int read_pid(const char *dir, pid_t *ret)
{
	char path[PATH_MAX], buf[32];
	FILE *f;
	long v;

	sim_path(path, sizeof(path), dir, "host.pid");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f) || (v = strtol(buf, NULL, 10)) <= 0) {
		fclose(f);
		return -EINVAL;
	}
	fclose(f);
	*ret = (pid_t)v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The host: store + hypervisor in one loop, supervising the others    */

typedef struct child {
	char what[32];
	/* What the child serves and removes when it exits; a child killed by
	 * SIGKILL cannot, so the host does once it has reaped it. */
	char sock[PATH_MAX];
	pid_t pid;
	int pidfd, ready_fd;       /* ready_fd: read end, -1 once it said so */
	bool ready, gone;
} child;

typedef struct host {
	const char *dir;
	unsigned guests;
	char store_sock[PATH_MAX], hv_sock[PATH_MAX];
	vbd_store *store;
	vbd_simhv *hv;
	child *kids;
	unsigned nkids;
	struct pollfd *pfds;        /* [3 + 2 * (guests + 1)]: host_pass's */
	int sfd;
} host;

static void hlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void hlog(const char *fmt, ...)
{
	va_list ap;
	time_t t = time(NULL);
	char ts[32];

	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&t));
	fprintf(stderr, "%s sim host: ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* fork + exec of this vbdctl with a ready pipe as fd 3.  The host has no
 * threads, so fork is safe. */
static int spawn(host *h, child *k, const char *xs_path, const char *hv_path,
                 char *const argv[])
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(p[1], 3) < 0)
			_exit(127);
		setenv("XENSTORED_PATH", xs_path, 1);
		setenv("VBD_SIMHV_PATH", hv_path, 1);
		setenv("VBD_SIM_DIR", h->dir, 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(p[1]);
	k->pid = pid;
	k->ready_fd = p[0];
	k->pidfd = pidfd_open(pid, 0);
	if (k->pidfd < 0) {
		kill(pid, SIGKILL);
		return -errno;
	}
	return 0;
}

static int write_homes(host *h)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct xs_handle *xs;
		unsigned d;
		char name[32];

		setenv("XENSTORED_PATH", h->store_sock, 1);
		xs = xs_open(XS_OPEN_SOCKETONLY);
		if (!xs)
			_exit(1);
		/* dom0's own home, as a Xen host has it. */
		if (!xs_write(xs, XBT_NULL, "/local/domain/0/name", "Domain-0", 8) ||
		    !xs_write(xs, XBT_NULL, "/local/domain/0/domid", "0", 1))
			_exit(1);
		for (d = 1; d <= h->guests; d++) {
			snprintf(name, sizeof(name), "guest%u", d);
			if (vbdctl_write_home(xs, d, name) < 0)
				_exit(1);
		}
		xs_close(xs);
		_exit(0);
	}
	/* Serve the writer while it writes. */
	for (;;) {
		struct pollfd p[2] = { { vbd_store_get_fd(h->store), POLLIN, 0 },
		                       { vbd_simhv_get_fd(h->hv), POLLIN, 0 } };
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
		poll(p, 2, 10);
		vbd_store_process(h->store);
		vbd_simhv_process(h->hv);
	}
}

static bool all_ready(host *h)
{
	unsigned i;

	for (i = 0; i < h->nkids; i++)
		if (!h->kids[i].ready)
			return false;
	return true;
}

static unsigned live(host *h)
{
	unsigned i, n = 0;

	for (i = 0; i < h->nkids; i++)
		n += !h->kids[i].gone;
	return n;
}

static void signal_all(host *h, int sig)
{
	unsigned i;

	for (i = 0; i < h->nkids; i++)
		if (!h->kids[i].gone)
			pidfd_send_signal(h->kids[i].pidfd, sig, NULL, 0);
}

/* One pass: serve the daemons, note readiness and deaths.  Returns true
 * when a stop signal came. */
static bool host_pass(host *h, int timeout_ms)
{
	struct pollfd *p = h->pfds;
	unsigned i, n = 0;
	bool stop = false;

	p[n++] = (struct pollfd){ vbd_store_get_fd(h->store), POLLIN, 0 };
	p[n++] = (struct pollfd){ vbd_simhv_get_fd(h->hv), POLLIN, 0 };
	p[n++] = (struct pollfd){ h->sfd, POLLIN, 0 };
	for (i = 0; i < h->nkids; i++) {
		child *k = &h->kids[i];

		p[n++] = (struct pollfd){ k->gone ? -1 : k->pidfd, POLLIN, 0 };
		p[n++] = (struct pollfd){ k->ready_fd, POLLIN, 0 };
	}
	poll(p, n, timeout_ms);
	if (p[2].revents) {
		struct signalfd_siginfo si;

		if (read(h->sfd, &si, sizeof(si)) == sizeof(si))
			stop = si.ssi_signo != SIGHUP;
	}
	for (i = 0; i < h->nkids; i++) {
		child *k = &h->kids[i];
		struct pollfd *pp = &p[3 + 2 * i], *pr = &p[4 + 2 * i];

		if (k->ready_fd >= 0 && pr->revents) {
			char c;

			k->ready = read(k->ready_fd, &c, 1) == 1;
			close(k->ready_fd);
			k->ready_fd = -1;
			if (k->ready)
				hlog("%s (pid %ld) ready", k->what, (long)k->pid);
		}
		if (!k->gone && pp->revents) {
			int status;

			if (waitpid(k->pid, &status, WNOHANG) == k->pid) {
				k->gone = true;
				if (k->sock[0])
					unlink(k->sock);
				if (WIFEXITED(status))
					hlog("%s (pid %ld) exited with status %d", k->what, (long)k->pid,
					     WEXITSTATUS(status));
				else
					hlog("%s (pid %ld) killed by signal %d", k->what, (long)k->pid,
					     WTERMSIG(status));
			}
		}
	}
	vbd_store_process(h->store);
	vbd_simhv_process(h->hv);
	return stop;
}

static int host_main(const char *dir, unsigned guests, int ready_out)
{
	host h = { .dir = dir, .guests = guests, .sfd = -1 };
	vbd_store_options so = VBD_STORE_OPTIONS_INIT;
	char pidfile[PATH_MAX], exe_arg[16], ready_arg[] = "3";
	unsigned i, d;
	uint64_t deadline;
	int r, ret = VBDCTL_EXIT_FAIL;
	bool told = false;

	sim_path(h.store_sock, sizeof(h.store_sock), dir, "xenstored.sock");
	sim_path(h.hv_sock, sizeof(h.hv_sock), dir, "simhv.sock");
	sim_path(pidfile, sizeof(pidfile), dir, "host.pid");
	h.sfd = vbdctl_signalfd();
	/* The hypervisor holds fds for every grant group and event channel
	 * of every domain, the store one per connection: take the hard
	 * limit, for this process and the ones it starts. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	so.socket_path = h.store_sock;
	/* A guest's frontend daemon holds one connection, and each device's
	 * frontend two (requests, watches). */
	so.limits.conns_per_domain = 2 * GUEST_MAX_DEVICES + 8;
	if ((r = vbd_store_new(&h.store, &so)) < 0) {
		hlog("cannot serve xenstore on %s: %s", h.store_sock, strerror(-r));
		goto out;
	}
	if ((r = vbd_simhv_new(&h.hv, h.hv_sock)) < 0) {
		hlog("cannot serve the simulated hypervisor on %s: %s", h.hv_sock, strerror(-r));
		goto out;
	}
	for (d = 1; d <= guests; d++) {
		if ((r = vbd_store_domain_add(h.store, d)) < 0 ||
		    (r = vbd_simhv_domain_add(h.hv, d)) < 0) {
			hlog("cannot introduce domain %u: %s", d, strerror(-r));
			goto out;
		}
	}
	if ((r = write_homes(&h)) < 0) {
		hlog("cannot write the domains' homes: %s", strerror(-r));
		goto out;
	}
	h.kids = calloc(guests + 1, sizeof(*h.kids));
	h.pfds = calloc(3 + 2 * ((size_t)guests + 1), sizeof(*h.pfds));
	if (!h.kids || !h.pfds)
		goto out;
	for (i = 0; i <= guests; i++) {
		child *k = &h.kids[i];
		char xs_path[PATH_MAX + 16], hv_path[PATH_MAX + 16];

		k->pidfd = k->ready_fd = -1;
		if (i == 0) {
			char *argv[] = { "vbdctl", "backend", "--domain", "0", "--ready-fd", ready_arg, NULL };

			snprintf(k->what, sizeof(k->what), "backend (dom0)");
			r = spawn(&h, k, h.store_sock, h.hv_sock, argv);
		} else {
			char *argv[] = { "vbdctl", "frontend", "--domain", exe_arg, "--ready-fd", ready_arg,
			                 NULL };

			snprintf(exe_arg, sizeof(exe_arg), "%u", i);
			snprintf(k->what, sizeof(k->what), "guest%u", i);
			snprintf(k->sock, sizeof(k->sock), "%s/guest%u.sock", dir, i);
			snprintf(xs_path, sizeof(xs_path), "%s.d/%u", h.store_sock, i);
			snprintf(hv_path, sizeof(hv_path), "%s.d/%u", h.hv_sock, i);
			r = spawn(&h, k, xs_path, hv_path, argv);
		}
		if (r < 0) {
			hlog("cannot start %s: %s", k->what, strerror(-r));
			k->gone = true;
			goto stop;
		}
		h.nkids++;
	}
	deadline = mono_ms() + 30000;
	while (!all_ready(&h)) {
		unsigned k;

		if (host_pass(&h, 100))
			goto stop;
		for (k = 0; k < h.nkids; k++)
			if (h.kids[k].gone && !h.kids[k].ready) {
				hlog("%s ended before it was ready", h.kids[k].what);
				goto stop;
			}
		if (mono_ms() > deadline) {
			hlog("not ready within 30 s");
			goto stop;
		}
	}
	hlog("up: xenstore %s, hypervisor %s, backend and %u guests", h.store_sock, h.hv_sock,
	     guests);
	(void)!write(ready_out, "r", 1);
	close(ready_out);
	told = true;
	while (!host_pass(&h, -1))
		;
	ret = VBDCTL_EXIT_OK;
stop:
	hlog("stopping %u processes", live(&h));
	/* Guests first, then the backend: each closes its devices while the
	 * daemons still serve it. */
	for (i = 1; i < h.nkids; i++)
		if (!h.kids[i].gone)
			pidfd_send_signal(h.kids[i].pidfd, SIGTERM, NULL, 0);
	deadline = mono_ms() + 5000;
	while (mono_ms() < deadline) {
		bool guests_gone = true;

		for (i = 1; i < h.nkids; i++)
			guests_gone &= h.kids[i].gone;
		if (guests_gone)
			break;
		host_pass(&h, 50);
	}
	signal_all(&h, SIGTERM);
	deadline = mono_ms() + 5000;
	while (live(&h) && mono_ms() < deadline)
		host_pass(&h, 50);
	if (live(&h)) {
		hlog("killing %u processes that did not stop", live(&h));
		signal_all(&h, SIGKILL);
		while (live(&h))
			host_pass(&h, 50);
	}
out:
	if (!told) {
		(void)!write(ready_out, "f", 1);
		close(ready_out);
	}
	for (i = 0; h.kids && i < h.nkids; i++) {
		if (h.kids[i].pidfd >= 0)
			close(h.kids[i].pidfd);
		if (h.kids[i].ready_fd >= 0)
			close(h.kids[i].ready_fd);
	}
	free(h.kids);
	free(h.pfds);
	vbd_simhv_free(h.hv);
	vbd_store_free(h.store);
	unlink(pidfile);
	if (h.sfd >= 0)
		close(h.sfd);
	hlog("stopped");
	return ret;
}

static int cmd_start(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "guests", required_argument, NULL, 'g' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *dir = NULL;
	uint64_t guests = 1;
	char path[PATH_MAX], c = 0;
	int o, p[2], logfd, nul;
	pid_t pid, old;

	while ((o = getopt_long(argc, argv, "g:d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'g':
			if (parse_u64("guest count", optarg, SIM_MAX_GUESTS, &guests) < 0 || !guests) {
				vbdctl_err("sim start: --guests must be 1..%d", SIM_MAX_GUESTS);
				return VBDCTL_EXIT_USAGE;
			}
			break;
		case 'd': dir = optarg; break;
		case 'h': fputs(sim_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(sim_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		vbdctl_err("sim start: unexpected argument '%s'", argv[optind]);
		return VBDCTL_EXIT_USAGE;
	}
	dir = sim_dir(dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		vbdctl_err("sim start: cannot create %s: %s", dir, strerror(errno));
		return VBDCTL_EXIT_FAIL;
	}
	if (read_pid(dir, &old) == 0 && kill(old, 0) == 0) {
		vbdctl_err("sim start: a simulated host runs already in %s (pid %ld); vbdctl sim stop",
		           dir, (long)old);
		return VBDCTL_EXIT_FAIL;
	}
	sim_path(path, sizeof(path), dir, "host.log");
	logfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0 || pipe2(p, O_CLOEXEC) < 0) {
		vbdctl_err("sim start: %s: %s", path, strerror(errno));
		return VBDCTL_EXIT_FAIL;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		vbdctl_err("sim start: fork: %s", strerror(errno));
		return VBDCTL_EXIT_FAIL;
	}
	if (pid == 0) {
		FILE *pf;

		close(p[0]);
		setsid();
		nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(logfd, 2);
		close(nul);
		close(logfd);
		sim_path(path, sizeof(path), dir, "host.pid");
		pf = fopen(path, "we");
		if (pf) {
			fprintf(pf, "%ld\n", (long)getpid());
			fclose(pf);
		}
		_exit(host_main(dir, (unsigned)guests, p[1]));
	}
	close(p[1]);
	close(logfd);
	if (read(p[0], &c, 1) != 1 || c != 'r') {
		vbdctl_err("sim start: the simulated host did not come up; see %s/host.log", dir);
		waitpid(pid, NULL, 0);
		return VBDCTL_EXIT_FAIL;
	}
	if (guests > 1)
		printf("vbdctl: simulated host up in %s: xenstore, hypervisor, backend (dom0), "
		       "%" PRIu64 " guests (guest1..guest%" PRIu64 ")\n", dir, guests, guests);
	else
		printf("vbdctl: simulated host up in %s: xenstore, hypervisor, backend (dom0), "
		       "1 guest (guest1)\n", dir);
	printf("export XENSTORED_PATH=%s/xenstored.sock\n", dir);
	return VBDCTL_EXIT_OK;
}

static int cmd_stop(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *dir = NULL;
	char dirbuf[PATH_MAX];
	uint64_t timeout_s = 10;
	pid_t pid;
	int o, pfd;

	while ((o = getopt_long(argc, argv, "d:t:h", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dir = optarg; break;
		case 't':
			if (parse_u64("timeout", optarg, 3600, &timeout_s) < 0)
				return VBDCTL_EXIT_USAGE;
			break;
		case 'h': fputs(sim_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(sim_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	dir = sim_client_dir(dir, dirbuf, sizeof(dirbuf));
	if (read_pid(dir, &pid) < 0 || (pfd = pidfd_open(pid, 0)) < 0) {
		vbdctl_err("sim stop: no simulated host runs in %s", dir);
		return VBDCTL_EXIT_FAIL;
	}
	pidfd_send_signal(pfd, SIGTERM, NULL, 0);
	{
		struct pollfd p = { pfd, POLLIN, 0 };

		/* The host gives its processes 10 s; then it is its own turn. */
		if (poll(&p, 1, (int)(timeout_s * 1000 + 5000)) <= 0) {
			vbdctl_err("sim stop: host %ld did not stop; killing it", (long)pid);
			pidfd_send_signal(pfd, SIGKILL, NULL, 0);
			poll(&p, 1, 5000);
		}
	}
	close(pfd);
	printf("vbdctl: simulated host in %s stopped\n", dir);
	return VBDCTL_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* The guest: a frontend per device of its domain, I/O on a socket     */

typedef struct gdev {
	uint32_t devid;
	vbd_blkfront *f;
} gdev;

typedef struct guest {
	unsigned domid;
	vbd_xport *x;
	struct xs_handle *xs;
	gdev devs[GUEST_MAX_DEVICES];
	unsigned ndevs;
	char dir[64];               /* /local/domain/<domid>/device/vbd */
} guest;

static void glog(void *ud, int level, const char *msg)
{
	guest *g = ud;

	if (level <= VBD_LOG_INFO)
		fprintf(stderr, "guest%u: %s\n", g->domid, msg);
}

static gdev *gdev_find(guest *g, uint32_t devid)
{
	unsigned i;

	for (i = 0; i < g->ndevs; i++)
		if (g->devs[i].devid == devid)
			return &g->devs[i];
	return NULL;
}

/* device/vbd changed: a frontend for each new device at Initialising, and
 * away with those whose directory the toolstack removed. */
static void guest_scan(guest *g)
{
	unsigned n = 0, i, k;
	char **ids = xs_directory(g->xs, XBT_NULL, g->dir, &n);

	for (i = 0; i < g->ndevs;) {
		bool there = false;

		for (k = 0; ids && k < n; k++)
			there |= strtoul(ids[k], NULL, 10) == g->devs[i].devid;
		if (!there) {
			fprintf(stderr, "guest%u: device %u removed\n", g->domid, g->devs[i].devid);
			vbd_blkfront_free(g->devs[i].f);
			g->devs[i] = g->devs[--g->ndevs];
		} else {
			i++;
		}
	}
	for (k = 0; ids && k < n; k++) {
		vbd_blkfront_options o = VBD_BLKFRONT_OPTIONS_INIT;
		vbd_errbuf err = { "" };
		char path[128], *st;
		unsigned len;
		char *end;
		unsigned long devid = strtoul(ids[k], &end, 10);
		int r;

		gdev *old;

		if (*end || devid > UINT32_MAX)
			continue;
		old = gdev_find(g, (uint32_t)devid);
		/* A frontend still running, or Closed with no new device yet. */
		if (old && vbd_blkfront_get_state(old->f) != 6)
			continue;
		snprintf(path, sizeof(path), "%s/%lu/state", g->dir, devid);
		st = xs_read(g->xs, XBT_NULL, path, &len);
		if (!st || strcmp(st, "1") != 0) {
			free(st);
			continue;
		}
		free(st);
		if (old) {
			/* Removed and made again between two looks: a new device
			 * at the old path. */
			vbd_blkfront_free(old->f);
			*old = g->devs[--g->ndevs];
		}
		if (g->ndevs == GUEST_MAX_DEVICES) {
			fprintf(stderr, "guest%u: more than %d devices; %lu ignored\n", g->domid,
			        GUEST_MAX_DEVICES, devid);
			continue;
		}
		o.xport = g->x;
		o.domid = g->domid;
		o.devid = (uint32_t)devid;
		o.log = glog;
		o.log_userdata = g;
		r = vbd_blkfront_new(&g->devs[g->ndevs].f, &o, &err);
		if (r < 0) {
			fprintf(stderr, "guest%u: device %lu: %s\n", g->domid, devid, err.msg);
			continue;
		}
		g->devs[g->ndevs++].devid = (uint32_t)devid;
		fprintf(stderr, "guest%u: device %lu: frontend started\n", g->domid, devid);
	}
	free(ids);
}

/* All of len bytes, or -EIO (EOF, or an error other than EINTR). */
static int xfer_all(int fd, void *buf, size_t len, bool out)
{
	char *p = buf;

	while (len) {
		ssize_t n = out ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	return xfer_all(fd, (void *)buf, len, true);
}

static int read_all(int fd, void *buf, size_t len)
{
	return xfer_all(fd, buf, len, false);
}

static void reply_err(int fd, int r, const char *msg)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "err %d %s\n", -r, msg);

	write_all(fd, line, (size_t)(n < (int)sizeof(line) ? n : (int)sizeof(line) - 1));
}

/* One request on a control connection, served with the blocking helpers. */
static void guest_serve(guest *g, int fd)
{
	char hdr[VBDCTL_IO_LINE_MAX], line[64];
	vbdctl_io_req q;
	uint64_t off, len;
	vbd_blkfront_info info;
	gdev *d;
	size_t i = 0;
	char *buf = NULL;
	int r;

	/* The header, byte by byte up to the newline: the payload follows. */
	while (i < sizeof(hdr) - 1 && read(fd, &hdr[i], 1) == 1 && hdr[i] != '\n')
		i++;
	hdr[i] = 0;
	if (vbdctl_io_parse(hdr, &q) < 0) {
		reply_err(fd, -EINVAL, "bad request");
		return;
	}
	off = q.offset;
	len = q.len;
	d = gdev_find(g, q.devid);
	if (!d) {
		reply_err(fd, -ENOENT, "no such device in this guest");
		return;
	}
	if (q.op == VBDCTL_IO_INFO) {
		char text[1024];
		int n;

		vbd_blkfront_get_info(d->f, &info);
		n = snprintf(text, sizeof(text),
		             "state %d\nconnected %d\nsectors %" PRIu64 "\nsector-size %u\n"
		             "physical-sector-size %u\ninfo %u\nqueues %u\nring-page-order %u\n"
		             "ring-size %u\npersistent %d\nindirect-segments %u\nflush %d\n"
		             "barrier %d\ndiscard %d\nmax-request-bytes %zu\n",
		             vbd_blkfront_get_state(d->f), info.connected, info.sectors,
		             info.sector_size, info.physical_sector_size, info.info, info.queues,
		             info.ring_page_order, info.ring_size, info.persistent,
		             info.indirect_segments, info.flush, info.barrier, info.discard,
		             info.max_request_bytes);
		snprintf(line, sizeof(line), "ok %d\n", n);
		write_all(fd, line, strlen(line));
		write_all(fd, text, (size_t)n);
		return;
	}
	if (q.op == VBDCTL_IO_FLUSH || q.op == VBDCTL_IO_DISCARD) {
		r = q.op == VBDCTL_IO_FLUSH ? vbd_blkfront_flush(d->f) :
		    vbd_blkfront_discard(d->f, off, len);
		if (r < 0)
			reply_err(fd, r, vbd_blkfront_last_error(d->f));
		else
			write_all(fd, "ok 0\n", 5);
		return;
	}
	buf = malloc(IO_CHUNK);
	if (!buf) {
		reply_err(fd, -ENOMEM, "out of memory");
		return;
	}
	if (q.op == VBDCTL_IO_WRITE) {
		/* Take it all in chunks, write each through the ring; answer once. */
		uint64_t done = 0;

		r = 0;
		while (done < len) {
			size_t n = len - done > IO_CHUNK ? IO_CHUNK : (size_t)(len - done);

			if (read_all(fd, buf, n) < 0) {
				r = -EIO;
				break;
			}
			if (r == 0)
				r = vbd_blkfront_write(d->f, off + done, buf, n);
			done += n;
		}
		if (r < 0)
			reply_err(fd, r, vbd_blkfront_last_error(d->f)[0] ?
			          vbd_blkfront_last_error(d->f) : strerror(-r));
		else
			write_all(fd, "ok 0\n", 5);
	} else {
		/* Read the first chunk before answering, so that an error comes
		 * as an error line, not as a short stream. */
		uint64_t done = 0;
		bool header = false;

		while (done < len || !header) {
			size_t n = len - done > IO_CHUNK ? IO_CHUNK : (size_t)(len - done);

			r = n ? vbd_blkfront_read(d->f, off + done, buf, n) : 0;
			if (r < 0) {
				if (!header)
					reply_err(fd, r, vbd_blkfront_last_error(d->f)[0] ?
					          vbd_blkfront_last_error(d->f) : strerror(-r));
				break;
			}
			if (!header) {
				snprintf(line, sizeof(line), "ok %" PRIu64 "\n", len);
				write_all(fd, line, strlen(line));
				header = true;
			}
			if (write_all(fd, buf, n) < 0)
				break;
			done += n;
		}
	}
	free(buf);
}

int vbdctl_frontend(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'D' },
		{ "dir", required_argument, NULL, 'd' },
		{ "ready-fd", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	vbd_xport_options xo = VBD_XPORT_OPTIONS_INIT;
	vbd_errbuf err = { "" };
	const char *dir = NULL;
	uint64_t domid = 0, ready = 0;
	bool have_ready = false;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	guest *g = NULL;
	int o, lfd = -1, sfd = -1, ret = VBDCTL_EXIT_FAIL;
	unsigned i;

	optind = 1;
	while ((o = getopt_long(argc, argv, "D:d:R:h", opts, NULL)) != -1) {
		switch (o) {
		case 'D':
			if (parse_u64("domain id", optarg, 0x7FEF, &domid) < 0)
				return VBDCTL_EXIT_USAGE;
			break;
		case 'd': dir = optarg; break;
		case 'R':
			if (parse_u64("ready fd", optarg, 1 << 20, &ready) < 0)
				return VBDCTL_EXIT_USAGE;
			have_ready = true;
			break;
		case 'h': fputs(frontend_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(frontend_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(frontend_usage, stderr);
		return VBDCTL_EXIT_USAGE;
	}
	dir = sim_dir(dir);
	sfd = vbdctl_signalfd();
	g = calloc(1, sizeof(*g));
	if (!g || sfd < 0)
		goto out;
	g->domid = (unsigned)domid;
	snprintf(g->dir, sizeof(g->dir), "/local/domain/%u/device/vbd", g->domid);
	if (vbd_xport_open(&g->x, &xo, &err) < 0) {
		vbdctl_err("guest%u: %s", g->domid, err.msg);
		goto out;
	}
	g->xs = xs_open(XS_OPEN_SOCKETONLY);
	if (!g->xs || !xs_watch(g->xs, g->dir, "vbd")) {
		vbdctl_err("guest%u: xenstore: %s", g->domid, strerror(errno));
		goto out;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/guest%u.sock", dir, g->domid);
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0) {
		vbdctl_err("guest%u: %s: %s", g->domid, sa.sun_path, strerror(errno));
		goto out;
	}
	if (have_ready) {
		(void)!write((int)ready, "r", 1);
		close((int)ready);
	}
	for (;;) {
		struct pollfd p[3 + GUEST_MAX_DEVICES];
		unsigned n = 0;
		int timeout = -1;

		p[n++] = (struct pollfd){ xs_fileno(g->xs), POLLIN, 0 };
		p[n++] = (struct pollfd){ sfd, POLLIN, 0 };
		p[n++] = (struct pollfd){ lfd, POLLIN, 0 };
		for (i = 0; i < g->ndevs; i++) {
			int t = vbd_blkfront_get_timeout_ms(g->devs[i].f);

			p[n++] = (struct pollfd){ vbd_blkfront_get_fd(g->devs[i].f), POLLIN, 0 };
			if (t >= 0 && (timeout < 0 || t < timeout))
				timeout = t;
		}
		if (poll(p, n, timeout) < 0 && errno != EINTR)
			break;
		if (p[1].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGHUP)
				break;
		}
		if (p[0].revents) {
			char **ev;

			while ((ev = xs_check_watch(g->xs)))
				free(ev);
			guest_scan(g);
		}
		for (i = 0; i < g->ndevs; i++)
			vbd_blkfront_process(g->devs[i].f);
		if (p[2].revents) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0) {
				guest_serve(g, c);
				close(c);
			}
		}
	}
	ret = VBDCTL_EXIT_OK;
out:
	if (g) {
		/* A guest shutting down closes its devices as a kernel would. */
		for (i = 0; i < g->ndevs; i++) {
			vbd_blkfront_close(g->devs[i].f, 2000);
			vbd_blkfront_free(g->devs[i].f);
		}
		if (g->xs)
			xs_close(g->xs);
		vbd_xport_free(g->x);
		free(g);
	}
	if (lfd >= 0) {
		close(lfd);
		unlink(sa.sun_path);
	}
	if (sfd >= 0)
		close(sfd);
	return ret;
}

/* ------------------------------------------------------------------ */
/* vbdctl io: the client of a frontend's socket                     */

int vbdctl_io(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *dir = NULL, *file = NULL, *op;
	uint64_t off = 0, len = 0;
	uint32_t devid;
	unsigned domid;
	vbd_ctx *c = NULL;
	char hdr[160], line[640], sock_env[PATH_MAX], dirbuf[PATH_MAX];
	int o, fd = -1, io = -1, r, ret = VBDCTL_EXIT_FAIL;
	size_t i = 0;

	optind = 1;
	while ((o = getopt_long(argc, argv, "d:f:h", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dir = optarg; break;
		case 'f': file = optarg; break;
		case 'h': fputs(io_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(io_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (argc - optind < 3) {
		fputs(io_usage, stderr);
		return VBDCTL_EXIT_USAGE;
	}
	dir = sim_client_dir(dir, dirbuf, sizeof(dirbuf));
	op = argv[optind + 2];
	if (!strcmp(op, "read") || !strcmp(op, "write") || !strcmp(op, "discard")) {
		if (argc - optind != 5 || parse_u64("offset", argv[optind + 3], UINT64_MAX, &off) < 0 ||
		    parse_u64("length", argv[optind + 4], VBDCTL_IO_MAX_LEN, &len) < 0) {
			fputs(io_usage, stderr);
			return VBDCTL_EXIT_USAGE;
		}
	} else if (strcmp(op, "flush") && strcmp(op, "info")) {
		vbdctl_err("io: unknown operation '%s'", op);
		return VBDCTL_EXIT_USAGE;
	} else if (argc - optind != 3) {
		fputs(io_usage, stderr);
		return VBDCTL_EXIT_USAGE;
	}
	if (vbd_vdev_to_devid(argv[optind + 1], &devid) < 0) {
		vbdctl_err("io: bad vdev '%s'", argv[optind + 1]);
		return VBDCTL_EXIT_USAGE;
	}
	/* The guest by name or id: through the simulated host's xenstore when
	 * one runs in dir and nothing else was chosen. */
	snprintf(sock_env, sizeof(sock_env), "%s/xenstored.sock", dir);
	if (!getenv("XENSTORED_PATH") && access(sock_env, F_OK) == 0)
		setenv("XENSTORED_PATH", sock_env, 1);
	if ((r = vbd_ctx_new(&c, NULL)) < 0) {
		vbdctl_err("io: cannot connect to xenstore: %s", vbd_strerror(r));
		return VBDCTL_EXIT_FAIL;
	}
	r = vbd_ctx_domain_lookup(c, argv[optind], &domid);
	if (r < 0) {
		vbdctl_err("io: %s", vbd_ctx_last_error(c));
		goto out;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/guest%u.sock", dir, domid);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		vbdctl_err("io: no vbdctl frontend serves domain %u (%s: %s)", domid, sa.sun_path,
		           strerror(errno));
		goto out;
	}
	if (file) {
		io = open(file, !strcmp(op, "read") ? O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC :
		                                      O_RDONLY | O_CLOEXEC, 0644);
		if (io < 0) {
			vbdctl_err("io: %s: %s", file, strerror(errno));
			goto out;
		}
	} else {
		io = !strcmp(op, "read") || !strcmp(op, "info") ? 1 : 0;
	}
	{
		vbdctl_io_req q = { .devid = devid, .offset = off, .len = len };
		int n;

		for (q.op = VBDCTL_IO_READ; strcmp(vbdctl_io_op_name(q.op), op); q.op++)
			;
		n = vbdctl_io_format(hdr, sizeof(hdr) - 1, &q);
		if (n < 0 || vbdctl_io_parse(hdr, &q) < 0) {
			vbdctl_err("io: %s at %" PRIu64 " of %" PRIu64 " bytes does not fit the device",
			           op, off, len);
			goto out;
		}
		hdr[n] = '\n';
		if (write_all(fd, hdr, (size_t)n + 1) < 0)
			goto lost;
	}
	if (!strcmp(op, "write")) {
		char *buf = malloc(IO_CHUNK);
		uint64_t done = 0;

		if (!buf)
			goto out;
		while (done < len) {
			size_t n = len - done > IO_CHUNK ? IO_CHUNK : (size_t)(len - done);

			if (read_all(io, buf, n) < 0) {
				vbdctl_err("io: the input ended before %" PRIu64 " bytes", len);
				free(buf);
				goto out;
			}
			if (write_all(fd, buf, n) < 0) {
				free(buf);
				goto lost;
			}
			done += n;
		}
		free(buf);
	}
	while (i < sizeof(line) - 1 && read(fd, &line[i], 1) == 1 && line[i] != '\n')
		i++;
	line[i] = 0;
	if (!strncmp(line, "err ", 4)) {
		char *msg = strchr(line + 4, ' ');
		vbdctl_err("io: %s %s: %s", op, argv[optind + 1], msg ? msg + 1 : line);
		goto out;
	}
	if (strncmp(line, "ok ", 3) != 0)
		goto lost;
	len = strtoull(line + 3, NULL, 10);
	{
		char buf[65536];
		uint64_t done = 0;

		while (done < len) {
			size_t n = len - done > sizeof(buf) ? sizeof(buf) : (size_t)(len - done);

			if (read_all(fd, buf, n) < 0)
				goto lost;
			/* info is text from the guest, for a person: escaped (term.c),
			 * line by line.  Data read from the disk is written as it is. */
			if (!strcmp(op, "info") && !file) {
				char *p = buf, *e = buf + n, *nl;

				for (; p < e; p = nl + 1) {
					nl = memchr(p, '\n', (size_t)(e - p));
					vbdctl_escape(stdout, p, (size_t)((nl ? nl : e) - p));
					if (!nl)
						break;
					putchar('\n');
				}
			} else if (write_all(io, buf, n) < 0) {
				vbdctl_err("io: writing the output: %s", strerror(errno));
				goto out;
			}
			done += n;
		}
	}
	ret = VBDCTL_EXIT_OK;
	goto out;
lost:
	vbdctl_err("io: the guest closed the connection");
out:
	if (fd >= 0)
		close(fd);
	if (io > 1 && file)
		close(io);
	vbd_ctx_free(c);
	return ret;
}

int vbdctl_sim(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(sim_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? VBDCTL_EXIT_USAGE : VBDCTL_EXIT_OK;
	}
	optind = 1;
	if (!strcmp(argv[1], "start"))
		return cmd_start(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stop"))
		return cmd_stop(argc - 1, argv + 1);
	vbdctl_err("sim: unknown command '%s'", argv[1]);
	fputs(sim_usage, stderr);
	return VBDCTL_EXIT_USAGE;
}
