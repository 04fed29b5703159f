/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Attaching many disks at once: every attach started through the
 * non-blocking vbd_dev_attach() on one context, up to K running at a time,
 * one loop over the context's fd until each has called back; then every
 * detach the same way.  One context, one fd, two xenstore connections,
 * however many devices: the pattern of an agent that starts many guests.
 *
 *     bulk_attach GUESTS PER_GUEST DIR [K]
 *
 * attaches PER_GUEST (1..8) disks, xvdb, xvdc, ..., to each of the domains
 * guest1..guestGUESTS (as `vbdctl sim start --guests GUESTS` names them),
 * each on a sparse file it makes in DIR, K at once (0, the default: all),
 * then detaches them all and removes the files.  Exit status 0 only if
 * every attach reached both ends Connected and every detach ended.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vbd/ctx.h>
#include <vbd/dev.h>
#include <vbd/disk.h>

struct disk {
	vbd_domid domid;
	vbd_disk_spec *spec;
	char path[512];
	bool attached;
};

struct run {
	bool detach;
	unsigned long running, ended, failed;
};

struct op {
	struct run *run;
	struct disk *d;
};

static void ended(vbd_ctx *c, int result, const char *message, void *userdata)
{
	struct op *op = userdata;

	(void)c;
	op->run->running--;
	op->run->ended++;
	if (result < 0) {
		op->run->failed++;
		fprintf(stderr, "%s of %s failed (%s): %s\n", op->run->detach ? "detach" : "attach",
		        op->d->spec->vdev, vbd_strerror(result), message);
	} else {
		op->d->attached = !op->run->detach;
	}
}

/* Starts an operation for each disk that needs one, never more than k
 * (0: no limit) running, and turns the loop until all have ended. */
static int all(vbd_ctx *c, struct disk *disks, struct op *ops, size_t n, unsigned long k,
               struct run *run)
{
	size_t next = 0;
	int r;

	for (;;) {
		struct pollfd p = { vbd_ctx_get_fd(c), POLLIN, 0 };

		for (; next < n && (!k || run->running < k); next++) {
			ops[next] = (struct op){ run, &disks[next] };
			if (run->detach) {
				vbd_detach_options o = VBD_DETACH_OPTIONS_INIT;

				if (!disks[next].attached)
					continue;
				o.domid = disks[next].domid;
				o.devid = disks[next].spec->devid;
				r = vbd_dev_detach(c, &o, ended, &ops[next]);
			} else {
				vbd_attach_options o = VBD_ATTACH_OPTIONS_INIT;

				o.domid = disks[next].domid;
				o.spec = disks[next].spec;
				r = vbd_dev_attach(c, &o, ended, &ops[next]);
			}
			/* A call that fails never calls back. */
			if (r < 0) {
				fprintf(stderr, "%s: %s\n", disks[next].spec->vdev, vbd_ctx_last_error(c));
				run->failed++;
				continue;
			}
			run->running++;
		}
		if (next == n && run->running == 0)
			return 0;
		if (poll(&p, 1, vbd_ctx_get_timeout_ms(c)) < 0 && errno != EINTR)
			return -errno;
		if ((r = vbd_ctx_process(c)) < 0)
			return r;
	}
}

int main(int argc, char **argv)
{
	struct run run = { false, 0, 0, 0 };
	unsigned long guests, per, k = 0, i;
	struct disk *disks = NULL;
	struct op *ops = NULL;
	vbd_ctx *c = NULL;
	size_t n = 0;
	int r = -EINVAL;

	if (argc < 4 || argc > 5 || !(guests = strtoul(argv[1], NULL, 10)) ||
	    !(per = strtoul(argv[2], NULL, 10)) || per > 8 || guests > 10000) {
		fprintf(stderr, "usage: %s GUESTS PER_GUEST(1..8) DIR [IN_FLIGHT]\n", argv[0]);
		return 2;
	}
	if (argc == 5)
		k = strtoul(argv[4], NULL, 10);
	n = guests * per;
	disks = calloc(n, sizeof(*disks));
	ops = calloc(n, sizeof(*ops));
	if (!disks || !ops || (r = vbd_ctx_new(&c, NULL, NULL)) < 0) {
		fprintf(stderr, "setup: %s\n", vbd_strerror(disks && ops ? r : -ENOMEM));
		goto out;
	}
	for (i = 0; i < n; i++) {
		char guest[32], arg[700];
		const char *args[1] = { arg };
		vbd_errbuf err = { "" };
		FILE *f;

		snprintf(guest, sizeof(guest), "guest%lu", i / per + 1);
		if ((r = vbd_ctx_domain_lookup(c, guest, &disks[i].domid)) < 0) {
			fprintf(stderr, "%s\n", vbd_ctx_last_error(c));
			goto out;
		}
		snprintf(disks[i].path, sizeof(disks[i].path), "%s/%s-%lu.img", argv[3], guest,
		         i % per);
		if (!(f = fopen(disks[i].path, "we")) || ftruncate(fileno(f), 16 << 20) < 0) {
			r = -errno;
			fprintf(stderr, "%s: %s\n", disks[i].path, strerror(errno));
			if (f)
				fclose(f);
			goto out;
		}
		fclose(f);
		snprintf(arg, sizeof(arg), "format=raw,vdev=xvd%c,access=rw,target=%s",
		         (char)('b' + i % per), disks[i].path);
		if ((r = vbd_disk_spec_parse(1, args, &disks[i].spec, &err)) < 0) {
			fprintf(stderr, "%s: %s\n", arg, err.msg);
			goto out;
		}
	}

	if ((r = all(c, disks, ops, n, k, &run)) < 0)
		goto out;
	printf("%zu attached, both ends Connected (%lu failed)\n", n - run.failed, run.failed);
	r = run.failed ? -EIO : 0;

	/* Detach what attached, failed or not. */
	run = (struct run){ true, 0, 0, 0 };
	if (all(c, disks, ops, n, k, &run) < 0 || run.failed)
		r = r < 0 ? r : -EIO;
	else
		printf("%lu detached\n", run.ended);
out:
	for (i = 0; disks && i < n; i++) {
		vbd_disk_spec_free(disks[i].spec);
		if (disks[i].path[0])
			unlink(disks[i].path);
	}
	free(disks);
	free(ops);
	vbd_ctx_free(c);
	return r < 0 ? 1 : 0;
}
