/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Attaching and detaching a disk from a libuv loop (node, many C agents):
 * libvbd joins the loop as a uv_poll_t on its fd and a uv_timer_t, which a
 * uv_prepare_t re-arms from vbd_ctx_get_timeout_ms() before the loop
 * blocks.  Both call vbd_ctx_process(), which runs the operations' steps
 * and their callbacks.
 *
 *     attach_libuv guest1 format=raw,vdev=xvdb,access=rw,target=/srv/disk.img
 *
 * attaches to Connected, prints what it waits for on the way (the progress
 * callback), detaches again and closes its handles, which ends uv_run().
 * Exit status 0 when both worked.  Against a simulated host (vbdctl sim
 * start) or a real one.
 */
#include <errno.h>
#include <stdio.h>

#include <uv.h>

#include <vbd/ctx.h>
#include <vbd/dev.h>
#include <vbd/disk.h>

struct app {
	vbd_ctx *c;
	uv_poll_t io;
	uv_timer_t timer;
	uv_prepare_t prepare;
	vbd_disk_spec *spec;
	vbd_domid domid;
	int result;
};

/* The end: with its handles closed, uv_run() returns. */
static void finish(struct app *a, int result)
{
	a->result = result;
	uv_close((uv_handle_t *)&a->io, NULL);
	uv_close((uv_handle_t *)&a->timer, NULL);
	uv_close((uv_handle_t *)&a->prepare, NULL);
}

static void process(struct app *a)
{
	int r = vbd_ctx_process(a->c);

	if (r < 0 && !uv_is_closing((uv_handle_t *)&a->io)) {
		fprintf(stderr, "vbd_ctx_process: %s\n", vbd_strerror(r));
		finish(a, r);
	}
}

static void on_io(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	process(h->data);
}

static void on_time(uv_timer_t *h)
{
	process(h->data);
}

/* Before the loop blocks: the library's next deadline, if any. */
static void on_prepare(uv_prepare_t *h)
{
	struct app *a = h->data;
	int t = vbd_ctx_get_timeout_ms(a->c);

	if (t < 0)
		uv_timer_stop(&a->timer);
	else
		uv_timer_start(&a->timer, on_time, (uint64_t)t, 0);
}

static void progress(vbd_ctx *c, const vbd_dev_progress *p, void *userdata)
{
	(void)c;
	(void)userdata;
	printf("%s: waiting for %s (backend %s, frontend %s)\n", p->detach ? "detach" : "attach",
	       p->waiting_for, p->backend_state < 0 ? "absent" : vbd_state_name(p->backend_state),
	       p->frontend_state < 0 ? "absent" : vbd_state_name(p->frontend_state));
}

static void detached(vbd_ctx *c, int result, const char *message, void *userdata)
{
	struct app *a = userdata;

	(void)c;
	if (result < 0)
		fprintf(stderr, "detach failed (%s): %s\n", vbd_strerror(result), message);
	else
		printf("%s detached from domain %u\n", a->spec->vdev, a->domid);
	finish(a, result);
}

static void attached(vbd_ctx *c, int result, const char *message, void *userdata)
{
	struct app *a = userdata;
	vbd_detach_options d = VBD_DETACH_OPTIONS_INIT;
	int r;

	if (result < 0) {
		fprintf(stderr, "attach failed (%s): %s\n", vbd_strerror(result), message);
		finish(a, result);
		return;
	}
	printf("%s attached to domain %u, both ends Connected\n", a->spec->vdev, a->domid);
	/* A new operation may start from inside a callback. */
	d.domid = a->domid;
	d.devid = a->spec->devid;
	d.progress = progress;
	if ((r = vbd_dev_detach(c, &d, detached, a)) < 0) {
		fprintf(stderr, "detach: %s\n", vbd_ctx_last_error(c));
		finish(a, r);
	}
}

int main(int argc, char **argv)
{
	vbd_attach_options ao = VBD_ATTACH_OPTIONS_INIT;
	uv_loop_t *loop = uv_default_loop();
	struct app a = { 0 };
	vbd_errbuf err = { "" };
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: %s DOMAIN SPEC\n", argv[0]);
		return 2;
	}
	if ((r = vbd_disk_spec_parse(1, (const char *const *)&argv[2], &a.spec, &err)) < 0) {
		fprintf(stderr, "%s: %s\n", argv[2], err.msg);
		return 2;
	}
	if ((r = vbd_ctx_new(&a.c, NULL, NULL)) < 0) {
		fprintf(stderr, "xenstore: %s\n", vbd_strerror(r));
		goto out;
	}
	if ((r = vbd_ctx_domain_lookup(a.c, argv[1], &a.domid)) < 0) {
		fprintf(stderr, "%s\n", vbd_ctx_last_error(a.c));
		goto out;
	}
	if ((r = uv_poll_init(loop, &a.io, vbd_ctx_get_fd(a.c))) < 0 ||
	    (r = uv_timer_init(loop, &a.timer)) < 0 || (r = uv_prepare_init(loop, &a.prepare)) < 0) {
		fprintf(stderr, "libuv: %s\n", uv_strerror(r));
		goto out;
	}
	a.io.data = a.timer.data = a.prepare.data = &a;
	ao.domid = a.domid;
	ao.spec = a.spec;
	ao.progress = progress;
	/* Fails at once (and never calls back) if the nodes cannot be written. */
	if ((r = vbd_dev_attach(a.c, &ao, attached, &a)) < 0) {
		fprintf(stderr, "attach: %s\n", vbd_ctx_last_error(a.c));
		finish(&a, r);
		uv_run(loop, UV_RUN_DEFAULT);
		goto out;
	}
	uv_poll_start(&a.io, UV_READABLE, on_io);
	uv_prepare_start(&a.prepare, on_prepare);
	uv_run(loop, UV_RUN_DEFAULT);
	r = a.result;
out:
	uv_loop_close(loop);
	vbd_ctx_free(a.c);
	vbd_disk_spec_free(a.spec);
	return r < 0 ? 1 : 0;
}
