/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl frontend: the bundled blkfront for every vbd of one domain, as a
 * guest kernel runs it, serving I/O requests (vbdctl io) on
 * DIR/guest<domid>.sock: one request per connection, a header line
 * "<op> <devid> <offset> <len>\n" (op read, write, flush, discard, info),
 * for write followed by len bytes; the reply is "ok <n>\n" and n bytes, or
 * "err <errno> <message>\n".
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vbd/blkfront.h"
#include "vbd/bus.h"
#include "io_request.h"
#include "sim.h"
#include "vbdctl.h"

static const char frontend_usage[] =
	"Usage: vbdctl frontend [--domain D] [--dir DIR] [--poll-us N] [--ready-fd FD]\n"
	"\n"
	"Runs the bundled userspace block frontend for every vbd of domain D (0), as\n"
	"a guest kernel does: a frontend for each device/vbd/<devid> that appears at\n"
	"Initialising (ring keys, Initialised, Connected), freed when the toolstack\n"
	"removes the directory.  One xenstore connection serves every device.  The\n"
	"transport is the simulated hypervisor when $VBD_SIMHV_PATH is set, else\n"
	"Xen's grant and event-channel devices.  It serves I/O requests (vbdctl io)\n"
	"on DIR/guest<D>.sock; DIR is $VBD_SIM_DIR, else " VBDCTL_SIM_DEFAULT_DIR ".\n"
	"SIGTERM closes every device (Closing, Closed).\n"
	"\n"
	"  --poll-us N     with I/O in flight, busy-poll the rings up to N microseconds\n"
	"                  before sleeping on the event channel (0 = off, the default;\n"
	"                  at most 1000000): less latency, more CPU\n"
	"\n"
	"Exit status: 0 stopped by a signal, 1 failed, 2 usage error.\n";

/* ------------------------------------------------------------------ */
/* The guest: a frontend per device of its domain, I/O on a socket     */

/* How long an I/O request waits for its device to connect. */
#define VBDCTL_GUEST_CONNECT_WAIT_MS 15000

typedef struct gdev {
	uint32_t devid;
	vbd_blkfront *f;
	int last_state;             /* the frontend's state at the last look */
	bool check;                 /* Closed: is a new device at its path? */
	bool state_event;           /* its state's event, running, since the last look */
} gdev;

typedef struct guest {
	unsigned domid;
	vbd_xport *x;
	/* Every device's, and the scan's: one bus, one libxenstore
	 * connection (and, from the first device, the bus's pipelined
	 * client's) for the whole process however many devices it serves. */
	vbd_bus *bus;
	vbd_bus_watch *w;           /* on dir */
	bool rescan;                /* dir changed: scan after the callbacks */
	/* Devices not served here that events named, a new one's events all
	 * naming it: their states alone are read, no listing (rescan: more
	 * than this many, or the dir's own event). */
	uint32_t named[8];
	unsigned nnamed;
	gdev devs[VBDCTL_GUEST_MAX_DEVICES];
	unsigned ndevs;
	/* Frontends of removed devices that still share pages (holding()):
	 * kept, and processed, until they share none. */
	vbd_blkfront *draining[VBDCTL_GUEST_MAX_DEVICES];
	unsigned ndraining;
	char dir[64];               /* /local/domain/<domid>/device/vbd */
	unsigned poll_us;           /* --poll-us, for every frontend */
} guest;

static void glog(int level, const char *msg, void *ud)
{
	guest *g = ud;

	if (level <= VBD_LOG_INFO)
		fprintf(stderr, "guest%u: %s\n", g->domid, msg);
}

static uint64_t grants_deferred(vbd_blkfront *f)
{
	vbd_blkfront_info in = { .size = sizeof(in) };

	return vbd_blkfront_get_info(f, &in) == 0 ? in.grants_deferred : 0;
}

/* What a frontend still shares: pages the backend still mapped when it
 * let go of them, or its rings, when it has not yet seen its device go
 * (Closed is after they were let go). */
static bool holding(vbd_blkfront *f)
{
	return vbd_blkfront_get_state(f) != 6 || grants_deferred(f);
}

/* A removed device's frontend goes, or, while it still shares pages,
 * drains.  Freed now, with pages the backend still maps (a forced detach
 * before the backend let go of the ring), it would leave their grants in
 * place for as long as this process runs.  The scan can see the device
 * gone before its frontend does (the removal's events read in one go):
 * the drain's process() is then where it sees it, and lets go. */
static void gdev_let_go(guest *g, vbd_blkfront *f)
{
	if (holding(f) && g->ndraining < VBDCTL_GUEST_MAX_DEVICES) {
		g->draining[g->ndraining++] = f;
		return;
	}
	vbd_blkfront_free(f);
}

/* The draining frontends: each processed, and freed once it shares
 * nothing. */
static void drain(guest *g)
{
	unsigned i;

	for (i = 0; i < g->ndraining;) {
		vbd_blkfront_process(g->draining[i]);
		if (holding(g->draining[i])) {
			i++;
			continue;
		}
		vbd_blkfront_free(g->draining[i]);
		g->draining[i] = g->draining[--g->ndraining];
	}
}

static gdev *gdev_find(guest *g, uint32_t devid)
{
	unsigned i;

	for (i = 0; i < g->ndevs; i++)
		if (g->devs[i].devid == devid)
			return &g->devs[i];
	return NULL;
}

/* Runs inside a process() of the bus, maybe one of a frontend's: the scan,
 * which frees frontends, waits for the main loop. */
static void guest_changed(const char *path, void *ud)
{
	guest *g = ud;
	size_t n = strlen(g->dir);
	const char *key;
	char *end;
	unsigned long devid;
	bool num;
	gdev *d;

	/* What a running frontend of ours writes under its own dir (its
	 * rings' keys, its state) is no news to the scan: a device made,
	 * removed, or at a state nobody here serves is. */
	if (!strncmp(path, g->dir, n) && path[n] == '/') {
		devid = strtoul(path + n + 1, &end, 10);
		key = *end == '/' ? end + 1 : NULL;
		num = end != path + n + 1 && devid <= UINT32_MAX;
		d = num ? gdev_find(g, (uint32_t)devid) : NULL;
		if (d && key && vbd_blkfront_get_state(d->f) != 6) {
			d->state_event |= !strcmp(key, "state");
			return;
		}
		/* A Closed one's: a new device at its path writes its state
		 * (its dir's removal comes as the dir's event). */
		if (d && key) {
			d->check |= !strcmp(key, "state");
			return;
		}
		/* A device not served here: its state says whether to serve
		 * it (guest_named). */
		if (!d && num && (key || !*end)) {
			unsigned i;

			for (i = 0; i < g->nnamed && g->named[i] != devid; i++)
				;
			if (i < g->nnamed)
				return;
			if (g->nnamed < sizeof(g->named) / sizeof(g->named[0])) {
				g->named[g->nnamed++] = (uint32_t)devid;
				return;
			}
		}
	}
	g->rescan = true;
}

/* Closed frontends whose state changed, or that went Closed: the state
 * alone says whether a new device is there (Initialising), for which
 * the scan starts a frontend; not the whole directory. */
static void guest_check(guest *g)
{
	char path[128], *st;
	unsigned i;

	for (i = 0; i < g->ndevs; i++) {
		if (!g->devs[i].check)
			continue;
		g->devs[i].check = false;
		snprintf(path, sizeof(path), "%s/%u/state", g->dir, g->devs[i].devid);
		st = NULL;
		if (vbd_bus_read(g->bus, path, &st) < 0 || !strcmp(st, "1"))
			g->rescan = true;
		free(st);
	}
}

/* A frontend for device devid, unless one runs, if its state says so:
 * Initialising, or Initialised or Connected with no frontend here (this
 * process's predecessor's: sim restart guestN; taken over). */
static void guest_start(guest *g, uint32_t devid)
{
	vbd_blkfront_options o = VBD_BLKFRONT_OPTIONS_INIT;
	vbd_errbuf err = { "" };
	char path[128], *st = NULL;
	gdev *old = gdev_find(g, devid);
	int r;

	/* A frontend still running, or Closed with no new device yet. */
	if (old && vbd_blkfront_get_state(old->f) != 6)
		return;
	snprintf(path, sizeof(path), "%s/%u/state", g->dir, devid);
	if (vbd_bus_read(g->bus, path, &st) < 0 ||
	    (strcmp(st, "1") && (old || (strcmp(st, "3") && strcmp(st, "4"))))) {
		free(st);
		return;
	}
	free(st);
	if (old) {
		/* Removed and made again between two looks: a new device at
		 * the old path. */
		gdev_let_go(g, old->f);
		*old = g->devs[--g->ndevs];
	}
	if (g->ndevs == VBDCTL_GUEST_MAX_DEVICES) {
		fprintf(stderr, "guest%u: more than %d devices; %u ignored\n", g->domid,
		        VBDCTL_GUEST_MAX_DEVICES, devid);
		return;
	}
	o.xport = g->x;
	o.bus = g->bus;
	o.domid = g->domid;
	o.devid = devid;
	o.poll_us = g->poll_us;
	o.log = glog;
	o.log_userdata = g;
	r = vbd_blkfront_new(&g->devs[g->ndevs].f, &o, &err);
	if (r < 0) {
		fprintf(stderr, "guest%u: device %u: %s\n", g->domid, devid, err.msg);
		return;
	}
	g->devs[g->ndevs].last_state = vbd_blkfront_get_state(g->devs[g->ndevs].f);
	g->devs[g->ndevs++].devid = devid;
	fprintf(stderr, "guest%u: device %u: frontend started\n", g->domid, devid);
}

/* Devices named by events and not served here: each one's state read,
 * no listing (a device removed is a rescan's: its dir's event). */
static void guest_named(guest *g)
{
	unsigned i, n = g->nnamed;

	g->nnamed = 0;
	for (i = 0; i < n; i++)
		guest_start(g, g->named[i]);
}

/* device/vbd changed: a frontend for each new device at Initialising, and
 * away with those whose directory the toolstack removed. */
static void guest_scan(guest *g)
{
	size_t n = 0, i, k;
	char **ids = NULL;

	/* Unreadable: no devices, as when the directory is gone. */
	if (vbd_bus_directory(g->bus, g->dir, &ids, &n) < 0) {
		ids = NULL;
		n = 0;
	}

	for (i = 0; i < g->ndevs;) {
		bool there = false;

		for (k = 0; ids && k < n; k++)
			there |= strtoul(ids[k], NULL, 10) == g->devs[i].devid;
		if (!there) {
			fprintf(stderr, "guest%u: device %u removed\n", g->domid, g->devs[i].devid);
			gdev_let_go(g, g->devs[i].f);
			g->devs[i] = g->devs[--g->ndevs];
		} else {
			i++;
		}
	}
	for (k = 0; ids && k < n; k++) {
		char *end;
		unsigned long devid = strtoul(ids[k], &end, 10);

		if (!*end && devid <= UINT32_MAX)
			guest_start(g, (uint32_t)devid);
	}
	vbd_bus_names_free(ids, n);
}

/* All of len bytes, or -EIO (EOF, or an error other than EINTR). */

static void reply_err(int fd, int r, const char *msg)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "err %d %s\n", -r, msg);

	vbdctl_write_all(fd, line, (size_t)(n < (int)sizeof(line) ? n : (int)sizeof(line) - 1));
}

/* One request on a control connection, served with the blocking helpers. */
static void guest_serve(guest *g, int fd)
{
	char hdr[VBDCTL_IO_LINE_MAX], line[64];
	vbdctl_io_req q;
	uint64_t off, len;
	vbd_blkfront_info info = { .size = sizeof(info) };
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
		vbdctl_write_all(fd, line, strlen(line));
		vbdctl_write_all(fd, text, (size_t)n);
		return;
	}
	/* A device still connecting (a restarted guest's, taking over):
	 * the request waits for it, as a kernel's would for its disk. */
	vbd_blkfront_get_info(d->f, &info);
	if (!info.connected) {
		r = vbd_blkfront_wait_connected(d->f, VBDCTL_GUEST_CONNECT_WAIT_MS);
		if (r < 0) {
			reply_err(fd, r, vbd_blkfront_last_error(d->f)[0] ?
			          vbd_blkfront_last_error(d->f) : strerror(-r));
			return;
		}
	}
	if (q.op == VBDCTL_IO_FLUSH || q.op == VBDCTL_IO_DISCARD) {
		r = q.op == VBDCTL_IO_FLUSH ? vbd_blkfront_flush(d->f) :
		    vbd_blkfront_discard(d->f, off, len);
		if (r < 0)
			reply_err(fd, r, vbd_blkfront_last_error(d->f));
		else
			vbdctl_write_all(fd, "ok 0\n", 5);
		return;
	}
	buf = malloc(VBDCTL_IO_CHUNK);
	if (!buf) {
		reply_err(fd, -ENOMEM, "out of memory");
		return;
	}
	if (q.op == VBDCTL_IO_WRITE) {
		/* Take it all in chunks, write each through the ring; answer once. */
		uint64_t done = 0;

		r = 0;
		while (done < len) {
			size_t n = len - done > VBDCTL_IO_CHUNK ? VBDCTL_IO_CHUNK : (size_t)(len - done);

			if (vbdctl_read_all(fd, buf, n) < 0) {
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
			vbdctl_write_all(fd, "ok 0\n", 5);
	} else {
		/* Read the first chunk before answering, so that an error comes
		 * as an error line, not as a short stream. */
		uint64_t done = 0;
		bool header = false;

		while (done < len || !header) {
			size_t n = len - done > VBDCTL_IO_CHUNK ? VBDCTL_IO_CHUNK : (size_t)(len - done);

			r = n ? vbd_blkfront_read(d->f, off + done, buf, n) : 0;
			if (r < 0) {
				if (!header)
					reply_err(fd, r, vbd_blkfront_last_error(d->f)[0] ?
					          vbd_blkfront_last_error(d->f) : strerror(-r));
				break;
			}
			if (!header) {
				snprintf(line, sizeof(line), "ok %" PRIu64 "\n", len);
				vbdctl_write_all(fd, line, strlen(line));
				header = true;
			}
			if (vbdctl_write_all(fd, buf, n) < 0)
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
		{ "poll-us", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	vbd_xport_options xo = VBD_XPORT_OPTIONS_INIT;
	vbd_bus_options bo = VBD_BUS_OPTIONS_INIT;
	vbd_errbuf err = { "" };
	const char *dir = NULL;
	uint64_t domid = 0, ready = 0, poll_us = 0;
	bool have_ready = false;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	guest *g = NULL;
	int o, lfd = -1, sfd = -1, ret = VBDCTL_EXIT_FAIL;
	unsigned i;

	optind = 1;
	while ((o = getopt_long(argc, argv, "D:d:R:P:h", opts, NULL)) != -1) {
		switch (o) {
		case 'D':
			if (vbdctl_parse_u64("domain id", optarg, 0x7FEF, &domid) < 0)
				return VBDCTL_EXIT_USAGE;
			break;
		case 'd': dir = optarg; break;
		case 'R':
			if (vbdctl_parse_u64("ready fd", optarg, 1 << 20, &ready) < 0)
				return VBDCTL_EXIT_USAGE;
			have_ready = true;
			break;
		case 'P':
			if (vbdctl_parse_u64("poll bound", optarg, 1000000, &poll_us) < 0)
				return VBDCTL_EXIT_USAGE;
			break;
		case 'h': fputs(frontend_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(frontend_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(frontend_usage, stderr);
		return VBDCTL_EXIT_USAGE;
	}
	dir = vbdctl_sim_dir(dir);
	sfd = vbdctl_signalfd();
	g = calloc(1, sizeof(*g));
	if (!g || sfd < 0)
		goto out;
	g->domid = (unsigned)domid;
	g->poll_us = (unsigned)poll_us;
	snprintf(g->dir, sizeof(g->dir), "/local/domain/%u/device/vbd", g->domid);
	if (vbd_xport_open(&g->x, &xo, &err) < 0) {
		vbdctl_err("guest%u: %s", g->domid, err.msg);
		goto out;
	}
	if (vbd_bus_new(&g->bus, &bo, &err) < 0 ||
	    vbd_bus_watch_add(g->bus, g->dir, guest_changed, g, &g->w, &err) < 0) {
		vbdctl_err("guest%u: %s", g->domid, err.msg);
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
		struct pollfd p[3 + 2 * VBDCTL_GUEST_MAX_DEVICES];
		unsigned n = 0;
		int timeout = vbd_bus_get_timeout_ms(g->bus);

		p[n++] = (struct pollfd){ vbd_bus_get_fd(g->bus), POLLIN, 0 };
		p[n++] = (struct pollfd){ sfd, POLLIN, 0 };
		p[n++] = (struct pollfd){ lfd, POLLIN, 0 };
		for (i = 0; i < g->ndevs; i++) {
			int t = vbd_blkfront_get_timeout_ms(g->devs[i].f);

			p[n++] = (struct pollfd){ vbd_blkfront_get_fd(g->devs[i].f), POLLIN, 0 };
			if (t >= 0 && (timeout < 0 || t < timeout))
				timeout = t;
		}
		for (i = 0; i < g->ndraining; i++) {
			int t = vbd_blkfront_get_timeout_ms(g->draining[i]);

			p[n++] = (struct pollfd){ vbd_blkfront_get_fd(g->draining[i]), POLLIN, 0 };
			if (t >= 0 && (timeout < 0 || t < timeout))
				timeout = t;
		}
		/* A watch event taken by a frontend's process() (in a blocking
		 * request, say) leaves nothing on the fd: scan without waiting. */
		if (g->rescan || g->nnamed)
			timeout = 0;
		for (i = 0; i < g->ndevs; i++)
			if (g->devs[i].check)
				timeout = 0;
		if (poll(p, n, timeout) < 0 && errno != EINTR)
			break;
		if (p[1].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGHUP)
				break;
		}
		/* The bus's callbacks (the scan's watch among them) run in
		 * whichever process() comes first. */
		vbd_bus_process(g->bus);
		if (g->rescan) {
			g->rescan = false;
			g->nnamed = 0;     /* the scan sees them */
			guest_scan(g);
		} else if (g->nnamed) {
			guest_named(g);
		}
		for (i = 0; i < g->ndevs; i++)
			vbd_blkfront_process(g->devs[i].f);
		drain(g);
		/* A frontend that went Closed since the last look after an
		 * event of its state may have seen a new device made at its
		 * path (removed and made again between two scans, which the
		 * directory does not show): the scan then starts a frontend
		 * for it.  One that closed on its own writes Closed, whose
		 * event is checked when it comes. */
		for (i = 0; i < g->ndevs; i++) {
			int s = vbd_blkfront_get_state(g->devs[i].f);

			if (s == 6 && g->devs[i].last_state != 6 && g->devs[i].state_event)
				g->devs[i].check = true;
			g->devs[i].last_state = s;
			g->devs[i].state_event = false;
		}
		guest_check(g);
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
		for (i = 0; i < g->ndraining; i++)
			vbd_blkfront_free(g->draining[i]);
		vbd_bus_watch_remove(g->bus, g->w);
		vbd_bus_unref(g->bus);
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

