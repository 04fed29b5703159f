/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl store: run the embedded xenstore daemon and manage its domains.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xenstore.h>

#include "vbd/domain.h"
#include "vbd/store.h"
#include "vbdctl.h"

static const char store_usage[] =
	"Usage: vbdctl store serve [--socket PATH] [--pidfile FILE] [--daemon]\n"
	"                          [--quota NAME=VALUE]...\n"
	"       vbdctl store domain add DOMID [--name NAME] [--socket PATH]\n"
	"       vbdctl store domain remove DOMID [--socket PATH]\n"
	"\n"
	"serve    Run the embedded xenstore daemon on PATH (default: $XENSTORED_PATH,\n"
	"         else " VBDCTL_DEFAULT_SOCKET ").  Connections there act as dom0.\n"
	"         Runs in the foreground until SIGTERM or SIGINT, then removes its\n"
	"         sockets.  --daemon detaches once the socket accepts connections;\n"
	"         --pidfile records the daemon's pid.  Quotas (guests only):\n"
	"           nodes-per-domain=1000 watches-per-domain=128\n"
	"           transactions-per-conn=10 nodes-per-transaction=1024\n"
	"           perms-per-node=5 value-size=2048 outstanding=20\n"
	"           conns-per-domain=64 memory-per-domain=2621440\n"
	"           memory-per-domain-soft=2097152\n"
	"         Point any xenstore client at it: XENSTORED_PATH=PATH xenstore-ls\n"
	"         Under systemd (vbd-xenstored.socket and .service): the listening\n"
	"         socket may come from socket activation ($LISTEN_FDS, one stream\n"
	"         socket; PATH is then where it is bound, its .d/ beside it), and\n"
	"         READY=1 goes to $NOTIFY_SOCKET once it serves; run it without\n"
	"         --daemon there.\n"
	"domain add\n"
	"         Introduce DOMID (1..32751) to the daemon, as a toolstack does, and\n"
	"         write its home /local/domain/DOMID (name, domid, device/, control/,\n"
	"         data/, ...) with libxl 4.17's permissions.  A domain that exists\n"
	"         already is refused and left as it is.  Its own socket is\n"
	"         PATH.d/DOMID: connections there act as that unprivileged domain.\n"
	"domain remove\n"
	"         Delete /local/domain/DOMID and release the domain: its\n"
	"         connections close, every node it owns is deleted, it is removed\n"
	"         from all permissions, and @releaseDomain fires.\n"
	"\n"
	"Exit status: 0 success, 1 failure, 2 usage error.\n";

static int parse_quota(vbd_store_limits *l, const char *arg)
{
	static const struct {
		const char *name;
		size_t off;
	} q[] = {
		{ "nodes-per-domain", offsetof(vbd_store_limits, nodes_per_domain) },
		{ "watches-per-domain", offsetof(vbd_store_limits, watches_per_domain) },
		{ "transactions-per-conn", offsetof(vbd_store_limits, transactions_per_conn) },
		{ "nodes-per-transaction", offsetof(vbd_store_limits, nodes_per_transaction) },
		{ "perms-per-node", offsetof(vbd_store_limits, perms_per_node) },
		{ "value-size", offsetof(vbd_store_limits, value_size) },
		{ "outstanding", offsetof(vbd_store_limits, outstanding) },
		{ "conns-per-domain", offsetof(vbd_store_limits, conns_per_domain) },
		{ "memory-per-domain", offsetof(vbd_store_limits, memory_per_domain) },
		{ "memory-per-domain-soft", offsetof(vbd_store_limits, memory_per_domain_soft) },
	};
	const char *eq = strchr(arg, '=');
	char *end;
	unsigned long v;
	size_t i;

	if (!eq)
		goto bad;
	errno = 0;
	v = strtoul(eq + 1, &end, 10);
	if (errno || *end || end == eq + 1 || v == 0 || v > 0x7FFFFFFF)
		goto bad;
	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		if (strlen(q[i].name) == (size_t)(eq - arg) && !strncmp(arg, q[i].name, eq - arg)) {
			*(unsigned *)((char *)l + q[i].off) = (unsigned)v;
			return 0;
		}
	}
bad:
	vbdctl_err("bad --quota '%s': expected NAME=VALUE with a known NAME and VALUE >= 1", arg);
	return -EINVAL;
}

static int write_pidfile(const char *path)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		return -EIO;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* Forks; the parent exits 0 once the child says it is ready, so that
 * `vbdctl store serve --daemon && xenstore-ls` never races the socket. */
static int daemonize(int *ready_fd)
{
	int p[2], nul;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? VBDCTL_EXIT_OK : VBDCTL_EXIT_FAIL);
	}
	close(p[0]);
	setsid();
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		close(nul);
	}
	*ready_fd = p[1];
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "quota", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	vbd_store_options o = VBD_STORE_OPTIONS_INIT;
	const char *sock = NULL, *pidfile = NULL;
	bool daemon = false;
	vbd_store *s = NULL;
	int c, r, sfd = -1, ready = -1, lfd = -1, ret = VBDCTL_EXIT_FAIL;
	char dir[4096];

	while ((c = getopt_long(argc, argv, "s:p:dq:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'p': pidfile = optarg; break;
		case 'd': daemon = true; break;
		case 'q':
			if (parse_quota(&o.limits, optarg) < 0)
				return VBDCTL_EXIT_USAGE;
			break;
		case 'h': fputs(store_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(store_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		vbdctl_err("store serve: unexpected argument '%s'", argv[optind]);
		return VBDCTL_EXIT_USAGE;
	}
	if (vbdctl_listen_fd(&lfd) < 0)
		return VBDCTL_EXIT_FAIL;
	if (lfd >= 0 && daemon) {
		/* The service manager that passed the socket supervises this
		 * process: a fork would leave it watching the wrong pid. */
		vbdctl_err("store serve: --daemon with a socket from socket activation");
		close(lfd);
		return VBDCTL_EXIT_USAGE;
	}
	if (lfd >= 0) {
		/* Bound by systemd (ListenStream=): its path is the socket's
		 * own, --socket only checks it. */
		o.listen_fd = lfd;
		o.socket_path = sock;
	} else {
		sock = vbdctl_socket(sock);
		/* The default lives under /run/vbd: create the directory if needed. */
		snprintf(dir, sizeof(dir), "%s", sock);
		if (strrchr(dir, '/') && strrchr(dir, '/') != dir) {
			*strrchr(dir, '/') = 0;
			if (mkdir(dir, 0755) < 0 && errno != EEXIST && errno != ENOENT)
				vbdctl_err("cannot create %s: %s", dir, strerror(errno));
		}
		o.socket_path = sock;
	}
	r = vbd_store_new(&s, &o, NULL);
	if (r < 0) {
		if (lfd >= 0)
			vbdctl_err("cannot serve on the socket passed as fd %d%s%s: %s", lfd,
			           sock ? " for " : "", sock ? sock : "", strerror(-r));
		else
			vbdctl_err("cannot serve on %s: %s%s", sock, strerror(-r),
			           r == -EADDRINUSE ? " (another daemon answers there)" : "");
		if (lfd >= 0)
			close(lfd);
		goto out;
	}
	sock = vbd_store_socket_path(s);
	if (daemon && (r = daemonize(&ready)) < 0) {
		vbdctl_err("cannot daemonize: %s", strerror(-r));
		goto out;
	}
	sfd = vbdctl_signalfd();
	if (sfd < 0) {
		vbdctl_err("signalfd: %s", strerror(errno));
		goto out;
	}
	if (pidfile && (r = write_pidfile(pidfile)) < 0) {
		vbdctl_err("cannot write pidfile %s: %s", pidfile, strerror(-r));
		goto out;
	}
	if (ready >= 0) {
		(void)!write(ready, "r", 1);
		close(ready);
		ready = -1;
	} else {
		printf("vbdctl: xenstore daemon listening on %s\n"
		       "vbdctl: clients: export XENSTORED_PATH=%s\n", sock, sock);
		fflush(stdout);
	}
	/* Only now: a client started after READY=1 finds the socket
	 * listening (a socket-activated one queued its connection anyway). */
	vbdctl_notify("READY=1\nSTATUS=serving on %s", sock);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = vbd_store_get_fd(s), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			vbdctl_err("poll: %s", strerror(errno));
			goto out;
		}
		if (p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGHUP) {
				vbdctl_notify("STOPPING=1\nSTATUS=stopping on %s",
				              vbdctl_sig_name((int)si.ssi_signo));
				break;
			}
		}
		r = vbd_store_process(s);
		if (r < 0) {
			vbdctl_err("store: %s", strerror(-r));
			goto out;
		}
	}
	ret = VBDCTL_EXIT_OK;
out:
	vbd_store_free(s);
	if (pidfile && ret == VBDCTL_EXIT_OK)
		unlink(pidfile);
	if (sfd >= 0)
		close(sfd);
	if (ready >= 0)
		close(ready);
	return ret;
}

static struct xs_handle *open_store(const char *sock)
{
	struct xs_handle *h;

	setenv("XENSTORED_PATH", sock, 1);
	h = xs_open(XS_OPEN_SOCKETONLY);
	if (!h)
		vbdctl_err("cannot connect to the xenstore daemon at %s: %s", sock, strerror(errno));
	return h;
}

static int cmd_domain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *sock = NULL, *name = NULL, *verb;
	char path[64], defname[32];
	struct xs_handle *h;
	unsigned domid;
	int c, r, ret = VBDCTL_EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "s:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'n': name = optarg; break;
		case 'h': fputs(store_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(store_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		vbdctl_err("store domain: expected 'add DOMID' or 'remove DOMID'");
		return VBDCTL_EXIT_USAGE;
	}
	verb = argv[optind];
	if (strcmp(verb, "add") && strcmp(verb, "remove")) {
		vbdctl_err("store domain: unknown action '%s' (add or remove)", verb);
		return VBDCTL_EXIT_USAGE;
	}
	if (vbdctl_parse_domid(argv[optind + 1], &domid) < 0)
		return VBDCTL_EXIT_USAGE;
	if (name && !strcmp(verb, "remove")) {
		vbdctl_err("store domain remove: --name is for add");
		return VBDCTL_EXIT_USAGE;
	}
	sock = vbdctl_socket(sock);
	h = open_store(sock);
	if (!h)
		return VBDCTL_EXIT_FAIL;
	if (!strcmp(verb, "add")) {
		if (!name) {
			snprintf(defname, sizeof(defname), "domain-%u", domid);
			name = defname;
		}
		/* INTRODUCE of a known domain succeeds (as in xenstored), and
		 * writing the home would then rename it and wipe what a
		 * toolstack wrote there: refuse instead. */
		if (xs_is_domain_introduced(h, domid)) {
			vbdctl_err("store domain add: domain %u already exists (%s); nothing changed",
			           domid, strerror(EEXIST));
			goto out;
		}
		if (!xs_introduce_domain(h, domid, 0, 0)) {
			vbdctl_err("introducing domain %u: %s", domid, strerror(errno));
			goto out;
		}
		r = vbd_domain_write_home(h, domid, name);
		if (r < 0) {
			vbdctl_err("writing /local/domain/%u: %s", domid, strerror(-r));
			xs_release_domain(h, domid);
			goto out;
		}
		printf("domain %u (%s) introduced; its socket: %s.d/%u\n", domid, name, sock, domid);
	} else {
		if (!xs_is_domain_introduced(h, domid)) {
			vbdctl_err("releasing domain %u: no such domain", domid);
			goto out;
		}
		snprintf(path, sizeof(path), "/local/domain/%u", domid);
		if (!xs_rm(h, XBT_NULL, path) && errno != ENOENT) {
			vbdctl_err("removing %s: %s", path, strerror(errno));
			goto out;
		}
		if (!xs_release_domain(h, domid)) {
			vbdctl_err("releasing domain %u: %s", domid,
			           errno == ENOENT ? "no such domain" : strerror(errno));
			goto out;
		}
	}
	ret = VBDCTL_EXIT_OK;
out:
	xs_close(h);
	return ret;
}

int vbdctl_store(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(store_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? VBDCTL_EXIT_USAGE : VBDCTL_EXIT_OK;
	}
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "domain"))
		return cmd_domain(argc - 1, argv + 1);
	vbdctl_err("store: unknown command '%s' (try 'vbdctl store --help')", argv[1]);
	return VBDCTL_EXIT_USAGE;
}
