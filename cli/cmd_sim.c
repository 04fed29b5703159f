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
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "vbd/domain.h"
#include "vbd/simhv.h"
#include "vbd/store.h"
#include "sim.h"
#include "vbdctl.h"

#define SIM_MAX_GUESTS 1000

const char vbdctl_sim_usage[] =
	"Usage: vbdctl sim start [--guests N] [--dir DIR]\n"
	"       vbdctl sim stop [--dir DIR] [--timeout S]\n"
	"       vbdctl sim restart backend|guestN [--dir DIR] [--timeout S]\n"
	"       vbdctl sim status [--dir DIR]\n"
	"\n"
	"start: runs a simulated Xen host in the background: the embedded xenstore\n"
	"daemon and the simulated hypervisor (grant tables, event channels) in one\n"
	"process, which supervises the bundled backend (vbdctl backend, dom0) and N\n"
	"guest domains (1) named guest1..guestN, each a process running the bundled\n"
	"frontend for every vbd of its domain (vbdctl frontend).  It returns once\n"
	"all of them are ready and prints the environment for the other commands:\n"
	"    export XENSTORED_PATH=DIR/xenstored.sock\n"
	"After that vbdctl attach, status, detach, watch and verify work as on a real\n"
	"host, and vbdctl io does I/O inside a guest.  The host logs to DIR/host.log;\n"
	"the backend publishes its counters under DIR/" VBDCTL_SIM_STATS_DIR ", where status\n"
	"and top on this host find them.\n"
	"DIR is $VBD_SIM_DIR, else " VBDCTL_SIM_DEFAULT_DIR "; for stop, also the host\n"
	"whose DIR/xenstored.sock $XENSTORED_PATH names.\n"
	"\n"
	"stop: stops the host: the guests and the backend get SIGTERM (SIGKILL after\n"
	"--timeout seconds, 10), then the daemons end and the sockets go (a killed\n"
	"guest's too: the host removes a guest's socket when the guest ends).\n"
	"\n"
	"restart: starts the backend or guest N again (killed first if it runs, as\n"
	"a crash would) and waits, up to --timeout seconds (30), until it is ready.\n"
	"A restarted backend serves again every device whose nodes are still there;\n"
	"a restarted guest's frontend connects every vbd of its domain again.\n"
	"\n"
	"status: each process's pid and state (ready, starting, gone), and what the\n"
	"simulated hypervisor holds: grant entries in use, pages mapped, event\n"
	"channel ports, connections.  The host keeps the same lines in DIR/status.\n"
	"\n"
	"VBD_SIM_CRASHPOINT=<backend|guestN>=<point>[:<nth>] at start gives that\n"
	"process's first start VBD_CRASHPOINT (crash points: tests/README.md);\n"
	"VBD_CRASHPOINT itself is the host's (the store's) and no child's.\n"
	"\n"
	"Exit status: 0 done, 1 failed, 2 usage error.\n";

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
	bool restart;              /* start again once reaped (sim restart) */
	char *crashpoint;          /* VBD_CRASHPOINT for its first start only */
} child;

typedef struct host {
	const char *dir;
	unsigned guests;
	char store_sock[PATH_MAX], hv_sock[PATH_MAX];
	vbd_store *store;
	vbd_simhv *hv;
	child *kids;
	unsigned nkids;
	/* The host's loop waits on one epoll set: the store's and the
	 * hypervisor's epoll fds, the signalfd, and the children's pidfds and
	 * ready pipes, so a host of 250 guests costs the store's next request
	 * no 500-fd poll (and the kernel no pidfd_poll per guest per message)
	 * and no poll of four fds either.  A child's entry's data is
	 * 2 * child + (1 for the ready pipe); the host's own, HOST_EV_*. */
	int kfd;
	int sfd;
	bool stopping;
	uint64_t status_seq;        /* DIR/status's "seq": bumped on each rewrite */
} host;

static int child_start(host *h, unsigned i);
static void write_status(host *h);

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

static int kid_watch(host *h, int fd, uint64_t data)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = data };

	return epoll_ctl(h->kfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Out of the set before the fd closes or stays readable for good (the
 * pidfd of a reaped child). */
static void kid_unwatch(host *h, int fd)
{
	if (fd >= 0)
		epoll_ctl(h->kfd, EPOLL_CTL_DEL, fd, NULL);
}

/* fork + exec of this vbdctl with a ready pipe as fd 3.  The host has no
 * threads, so fork is safe. */
static int spawn(host *h, child *k, const char *xs_path, const char *hv_path,
                 char *const argv[])
{
	int p[2];
	pid_t pid, parent = getpid();

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
		/* The host is their xenstore and hypervisor: killed, it takes
		 * them along rather than leave them serving dead sockets. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		if (dup2(p[1], 3) < 0)
			_exit(127);
		setenv("XENSTORED_PATH", xs_path, 1);
		setenv("VBD_SIMHV_PATH", hv_path, 1);
		setenv("VBD_SIM_DIR", h->dir, 1);
		/* The host's own crash point (the store's) is not its children's:
		 * a child gets one only as VBD_SIM_CRASHPOINT named it. */
		unsetenv("VBD_SIM_CRASHPOINT");
		if (k->crashpoint)
			setenv("VBD_CRASHPOINT", k->crashpoint, 1);
		else
			unsetenv("VBD_CRASHPOINT");
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(p[1]);
	free(k->crashpoint);
	k->crashpoint = NULL;
	k->pid = pid;
	k->ready_fd = p[0];
	k->pidfd = pidfd_open(pid, 0);
	if (k->pidfd < 0) {
		kill(pid, SIGKILL);
		return -errno;
	}
	if (kid_watch(h, k->pidfd, (uint64_t)(k - h->kids) * 2) < 0 ||
	    kid_watch(h, k->ready_fd, (uint64_t)(k - h->kids) * 2 + 1) < 0) {
		int r = -errno;

		pidfd_send_signal(k->pidfd, SIGKILL, NULL, 0);
		return r;
	}
	return 0;
}

/* Starts (or starts again) child i: 0 the backend, N guestN. */
static int child_start(host *h, unsigned i)
{
	child *k = &h->kids[i];
	char ready_arg[] = "3", arg[16], stats[PATH_MAX + 32];
	char xs_path[PATH_MAX + 16], hv_path[PATH_MAX + 16];

	kid_unwatch(h, k->pidfd);
	kid_unwatch(h, k->ready_fd);
	if (k->pidfd >= 0)
		close(k->pidfd);
	if (k->ready_fd >= 0)
		close(k->ready_fd);
	k->pidfd = k->ready_fd = -1;
	k->ready = k->gone = k->restart = false;
	if (i == 0) {
		char *argv[] = { "vbdctl", "backend", "--domain", "0", "--ready-fd", ready_arg,
		                 "--stats-dir", stats, NULL };

		vbdctl_sim_path(stats, sizeof(stats), h->dir, VBDCTL_SIM_STATS_DIR);
		return spawn(h, k, h->store_sock, h->hv_sock, argv);
	} else {
		char *argv[] = { "vbdctl", "frontend", "--domain", arg, "--ready-fd", ready_arg, NULL };

		snprintf(arg, sizeof(arg), "%u", i);
		snprintf(k->sock, sizeof(k->sock), "%s/guest%u.sock", h->dir, i);
		snprintf(xs_path, sizeof(xs_path), "%s.d/%u", h->store_sock, i);
		snprintf(hv_path, sizeof(hv_path), "%s.d/%u", h->hv_sock, i);
		return spawn(h, k, xs_path, hv_path, argv);
	}
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
			if (vbd_domain_write_home(xs, d, name) < 0)
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

/* The one status file, DIR/status, rewritten whole (a rename) on each
 * change and on request: each child's state and pid, and what the
 * hypervisor holds (grants in use, pages mapped, ports, connections). */
static void write_status(host *h)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	vbd_simhv_stats st = { .size = sizeof(st) };
	unsigned i;
	FILE *f;

	vbdctl_sim_path(path, sizeof(path), h->dir, "status");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "host %ld\nseq %" PRIu64 "\n", (long)getpid(), ++h->status_seq);
	for (i = 0; i < h->nkids; i++) {
		const child *k = &h->kids[i];

		fprintf(f, "%s %ld %s\n", i ? k->what : "backend", (long)k->pid,
		        k->gone ? "gone" : k->ready ? "ready" : "starting");
	}
	if (vbd_simhv_get_stats(h->hv, &st) == 0)
		fprintf(f, "grants %" PRIu64 "\nmaps %" PRIu64 "\nports %" PRIu64
		        "\nhv-connections %" PRIu64 "\npages %" PRIu64 "\n",
		        st.grants, st.maps, st.ports, st.conns, st.pages);
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

/* A request of vbdctl sim restart or status, as a queued signal's value:
 * 0 the backend, N guestN (start it again, killing it first if it runs),
 * -1 write the status file. */
static void sim_request(host *h, int v)
{
	child *k;

	if (v == -1 || v < 0 || (unsigned)v >= h->nkids || h->stopping) {
		write_status(h);
		return;
	}
	k = &h->kids[v];
	if (k->gone) {
		hlog("restarting %s", k->what);
		child_start(h, (unsigned)v);
		write_status(h);
		return;
	}
	hlog("restarting %s (pid %ld): killing it first", k->what, (long)k->pid);
	k->restart = true;
	pidfd_send_signal(k->pidfd, SIGKILL, NULL, 0);
}

/* A child's ready pipe said something, or its pidfd that it ended. */
static void kid_event(host *h, unsigned i, bool ready_pipe)
{
	child *k = &h->kids[i];

	if (ready_pipe && k->ready_fd >= 0) {
		char c;

		k->ready = read(k->ready_fd, &c, 1) == 1;
		kid_unwatch(h, k->ready_fd);
		close(k->ready_fd);
		k->ready_fd = -1;
		if (k->ready)
			hlog("%s (pid %ld) ready", k->what, (long)k->pid);
		write_status(h);
	}
	if (!ready_pipe && !k->gone) {
		int status;

		if (waitpid(k->pid, &status, WNOHANG) == k->pid) {
			k->gone = true;
			kid_unwatch(h, k->pidfd);
			if (k->sock[0])
				unlink(k->sock);
			if (WIFEXITED(status))
				hlog("%s (pid %ld) exited with status %d", k->what, (long)k->pid,
				     WEXITSTATUS(status));
			else
				hlog("%s (pid %ld) killed by signal %d", k->what, (long)k->pid,
				     WTERMSIG(status));
			if (k->restart && !h->stopping) {
				k->restart = false;
				child_start(h, i);
			}
			write_status(h);
		}
	}
}

/* The host's own entries in its epoll set, beside the children's
 * 2 * child + pipe. */
#define HOST_EV_STORE UINT64_MAX
#define HOST_EV_HV (UINT64_MAX - 1)
#define HOST_EV_SIGNAL (UINT64_MAX - 2)

/* One pass: serve the daemons, note readiness and deaths.  Returns true
 * when a stop signal came. */
static bool host_pass(host *h, int timeout_ms)
{
	struct epoll_event ev[32];
	bool stop = false, store = false, hv = false, sig = false, kids = false;
	int i, pipes, n = epoll_wait(h->kfd, ev, 32, timeout_ms);

	for (i = 0; i < n; i++) {
		uint64_t d = ev[i].data.u64;

		store |= d == HOST_EV_STORE;
		hv |= d == HOST_EV_HV;
		sig |= d == HOST_EV_SIGNAL;
		kids |= d / 2 < h->nkids;
	}
	if (sig) {
		struct signalfd_siginfo si;

		while (read(h->sfd, &si, sizeof(si)) == sizeof(si)) {
			if ((int)si.ssi_signo == SIGRTMIN)
				sim_request(h, si.ssi_int);
			else if (si.ssi_signo != SIGHUP)
				stop = true;
		}
	}
	/* Ready pipes before deaths: a death can start the child again, and
	 * its new pipe must not be read for the old one's event. */
	for (pipes = 1; kids && pipes >= 0; pipes--)
		for (i = 0; i < n; i++) {
			uint64_t d = ev[i].data.u64;

			if (d / 2 < h->nkids && (int)(d & 1) == pipes)
				kid_event(h, (unsigned)(d / 2), pipes);
		}
	/* Each daemon only when its fd is ready: one epoll_wait fewer per
	 * store message (the hypervisor is idle for most of them).  After a
	 * signal or a child's event, which may have touched them, both. */
	if (store || sig || kids)
		vbd_store_process(h->store);
	if (hv || sig || kids)
		vbd_simhv_process(h->hv);
	return stop;
}

static int host_main(const char *dir, unsigned guests, int ready_out)
{
	host h = { .dir = dir, .guests = guests, .kfd = -1, .sfd = -1 };
	vbd_store_options so = VBD_STORE_OPTIONS_INIT;
	char pidfile[PATH_MAX];
	unsigned i, d;
	uint64_t deadline;
	int r, ret = VBDCTL_EXIT_FAIL;
	bool told = false;

	vbdctl_sim_path(h.store_sock, sizeof(h.store_sock), dir, "xenstored.sock");
	vbdctl_sim_path(h.hv_sock, sizeof(h.hv_sock), dir, "simhv.sock");
	vbdctl_sim_path(pidfile, sizeof(pidfile), dir, "host.pid");
	h.sfd = vbdctl_signalfd();
	{
		/* sim restart and sim status: a queued signal each. */
		sigset_t rt;

		sigemptyset(&rt);
		sigaddset(&rt, SIGTERM);
		sigaddset(&rt, SIGINT);
		sigaddset(&rt, SIGHUP);
		sigaddset(&rt, SIGRTMIN);
		sigprocmask(SIG_BLOCK, &rt, NULL);
		if (h.sfd >= 0)
			signalfd(h.sfd, &rt, SFD_CLOEXEC | SFD_NONBLOCK);
	}
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
	if ((r = vbd_store_new(&h.store, &so, NULL)) < 0) {
		hlog("cannot serve xenstore on %s: %s", h.store_sock, strerror(-r));
		goto out;
	}
	if ((r = vbd_simhv_new(&h.hv, h.hv_sock, NULL)) < 0) {
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
	h.kfd = epoll_create1(EPOLL_CLOEXEC);
	if (!h.kids || h.kfd < 0 || kid_watch(&h, vbd_store_get_fd(h.store), HOST_EV_STORE) < 0 ||
	    kid_watch(&h, vbd_simhv_get_fd(h.hv), HOST_EV_HV) < 0 ||
	    (h.sfd >= 0 && kid_watch(&h, h.sfd, HOST_EV_SIGNAL) < 0)) {
		hlog("cannot set up the host's loop: %s", h.kids ? strerror(errno) : "out of memory");
		goto out;
	}
	/* VBD_SIM_CRASHPOINT=<child>=<point>[:<nth>]: that child's first
	 * start has VBD_CRASHPOINT (the crash matrix); <child> is backend or
	 * guestN. */
	{
		const char *cp = getenv("VBD_SIM_CRASHPOINT"), *eq = cp ? strchr(cp, '=') : NULL;

		for (i = 0; eq && i <= guests; i++) {
			char name[32];

			if (i)
				snprintf(name, sizeof(name), "guest%u", i);
			else
				snprintf(name, sizeof(name), "backend");
			if ((size_t)(eq - cp) == strlen(name) && !strncmp(cp, name, strlen(name)))
				h.kids[i].crashpoint = strdup(eq + 1);
		}
	}
	for (i = 0; i <= guests; i++) {
		child *k = &h.kids[i];

		k->pidfd = k->ready_fd = -1;
		if (i == 0)
			snprintf(k->what, sizeof(k->what), "backend (dom0)");
		else
			snprintf(k->what, sizeof(k->what), "guest%u", i);
		h.nkids++;
		if ((r = child_start(&h, i)) < 0) {
			hlog("cannot start %s: %s", k->what, strerror(-r));
			k->gone = true;
			goto stop;
		}
	}
	write_status(&h);
	deadline = vbdctl_mono_ms() + 30000;
	while (!all_ready(&h)) {
		unsigned k;

		if (host_pass(&h, 100))
			goto stop;
		for (k = 0; k < h.nkids; k++)
			if (h.kids[k].gone && !h.kids[k].ready) {
				hlog("%s ended before it was ready", h.kids[k].what);
				goto stop;
			}
		if (vbdctl_mono_ms() > deadline) {
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
	h.stopping = true;
	hlog("stopping %u processes", live(&h));
	/* Guests first, then the backend: each closes its devices while the
	 * daemons still serve it. */
	for (i = 1; i < h.nkids; i++)
		if (!h.kids[i].gone)
			pidfd_send_signal(h.kids[i].pidfd, SIGTERM, NULL, 0);
	deadline = vbdctl_mono_ms() + 5000;
	while (vbdctl_mono_ms() < deadline) {
		bool guests_gone = true;

		for (i = 1; i < h.nkids; i++)
			guests_gone &= h.kids[i].gone;
		if (guests_gone)
			break;
		host_pass(&h, 50);
	}
	signal_all(&h, SIGTERM);
	deadline = vbdctl_mono_ms() + 5000;
	while (live(&h) && vbdctl_mono_ms() < deadline)
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
		free(h.kids[i].crashpoint);
		if (h.kids[i].pidfd >= 0)
			close(h.kids[i].pidfd);
		if (h.kids[i].ready_fd >= 0)
			close(h.kids[i].ready_fd);
	}
	free(h.kids);
	if (h.kfd >= 0)
		close(h.kfd);
	vbd_simhv_free(h.hv);
	vbd_store_free(h.store);
	unlink(pidfile);
	vbdctl_sim_path(pidfile, sizeof(pidfile), dir, "status");
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
	int o, p[2], logfd, nul, resumed_fd;
	pid_t pid, old;

	while ((o = getopt_long(argc, argv, "g:d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'g':
			if (vbdctl_parse_u64("guest count", optarg, SIM_MAX_GUESTS, &guests) < 0 || !guests) {
				vbdctl_err("sim start: --guests must be 1..%d", SIM_MAX_GUESTS);
				return VBDCTL_EXIT_USAGE;
			}
			break;
		case 'd': dir = optarg; break;
		case 'h': fputs(vbdctl_sim_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(vbdctl_sim_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		vbdctl_err("sim start: unexpected argument '%s'", argv[optind]);
		return VBDCTL_EXIT_USAGE;
	}
	dir = vbdctl_sim_dir(dir);
	if ((o = vbdctl_sim_host_resumed(&resumed_fd)) != 0)
		return o < 0 ? VBDCTL_EXIT_FAIL : host_main(dir, (unsigned)guests, resumed_fd);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		vbdctl_err("sim start: cannot create %s: %s", dir, strerror(errno));
		return VBDCTL_EXIT_FAIL;
	}
	if (vbdctl_sim_read_pid(dir, &old) == 0 && vbdctl_sim_running(old)) {
		vbdctl_err("sim start: a simulated host runs already in %s (pid %ld); vbdctl sim stop",
		           dir, (long)old);
		return VBDCTL_EXIT_FAIL;
	}
	vbdctl_sim_path(path, sizeof(path), dir, "host.log");
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
		vbdctl_sim_path(path, sizeof(path), dir, "host.pid");
		pf = fopen(path, "we");
		if (pf) {
			fprintf(pf, "%ld\n", (long)getpid());
			fclose(pf);
		}
		vbdctl_sim_host_exec(dir, guests, p[1]);
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

int vbdctl_sim(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(vbdctl_sim_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? VBDCTL_EXIT_USAGE : VBDCTL_EXIT_OK;
	}
	optind = 1;
	if (!strcmp(argv[1], "start"))
		return cmd_start(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stop"))
		return vbdctl_sim_stop(argc - 1, argv + 1);
	if (!strcmp(argv[1], "restart"))
		return vbdctl_sim_restart(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return vbdctl_sim_status(argc - 1, argv + 1);
	vbdctl_err("sim: unknown command '%s'", argv[1]);
	fputs(vbdctl_sim_usage, stderr);
	return VBDCTL_EXIT_USAGE;
}
