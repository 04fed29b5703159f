/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Attaching a disk from an application's own event loop, without blocking:
 * vbd_dev_attach() writes the nodes and returns; the hotplug step, the wait
 * for both ends and any rollback run from vbd_ctx_process(), and the
 * callback says how it ended.  Here the loop also ticks once a second, as
 * an application's other work would.
 *
 *     attach_async guest1 format=raw,vdev=xvdb,access=rw,target=/srv/disk.img
 *
 * Against a simulated host (vbdctl sim start) or a real one.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>

#include <vbd/ctx.h>
#include <vbd/dev.h>
#include <vbd/disk.h>

struct outcome {
	bool done;
	int result;
};

static void attached(vbd_ctx *c, int result, const char *message, void *userdata)
{
	struct outcome *o = userdata;

	(void)c;
	o->done = true;
	o->result = result;
	if (result < 0)
		fprintf(stderr, "attach failed (%s): %s\n", vbd_strerror(result), message);
}

int main(int argc, char **argv)
{
	vbd_attach_options ao = VBD_ATTACH_OPTIONS_INIT;
	struct outcome o = { false, 0 };
	vbd_disk_spec *spec = NULL;
	vbd_errbuf err = { "" };
	vbd_ctx *c = NULL;
	unsigned ticks = 0;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: %s DOMAIN SPEC\n", argv[0]);
		return 2;
	}
	if ((r = vbd_disk_spec_parse(1, (const char *const *)&argv[2], &spec, &err)) < 0) {
		fprintf(stderr, "%s: %s\n", argv[2], err.msg);
		return 2;
	}
	if ((r = vbd_ctx_new(&c, NULL, NULL)) < 0) {
		fprintf(stderr, "xenstore: %s\n", vbd_strerror(r));
		goto out;
	}
	if ((r = vbd_ctx_domain_lookup(c, argv[1], &ao.domid)) < 0) {
		fprintf(stderr, "%s\n", vbd_ctx_last_error(c));
		goto out;
	}
	ao.spec = spec;
	/* Fails at once (and never calls back) if the nodes cannot be written. */
	if ((r = vbd_dev_attach(c, &ao, attached, &o)) < 0) {
		fprintf(stderr, "attach: %s\n", vbd_ctx_last_error(c));
		goto out;
	}
	printf("nodes written; waiting for both ends\n");
	while (!o.done) {
		struct pollfd p = { vbd_ctx_get_fd(c), POLLIN, 0 };
		int t = vbd_ctx_get_timeout_ms(c);

		/* The application's own 1 s tick bounds the wait too. */
		if (poll(&p, 1, t < 0 || t > 1000 ? 1000 : t) == 0 && t != 0)
			printf("tick %u: still connecting\n", ++ticks);
		if ((r = vbd_ctx_process(c)) < 0) {
			fprintf(stderr, "process: %s\n", vbd_strerror(r));
			goto out;
		}
	}
	r = o.result;
	if (r == 0)
		printf("%s attached to domain %u, both ends Connected\n", spec->vdev, ao.domid);
out:
	vbd_ctx_free(c);
	vbd_disk_spec_free(spec);
	return r < 0 ? 1 : 0;
}
