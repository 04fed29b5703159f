/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Attaching and detaching a disk from an sd-event loop (libsystemd), as a
 * systemd-style agent would: libvbd joins the loop as one I/O source on its
 * fd and one timer, which a prepare callback re-arms from
 * vbd_ctx_get_timeout_ms() before each iteration (sd-bus attaches to
 * sd-event the same way).  Both sources call vbd_ctx_process(), which runs
 * the operations' steps and their callbacks.
 *
 *     attach_sd_event guest1 format=raw,vdev=xvdb,access=rw,target=/srv/disk.img
 *
 * attaches to Connected, prints what it waits for on the way (the progress
 * callback), detaches again and leaves the loop.  Exit status 0 when both
 * worked.  Against a simulated host (vbdctl sim start) or a real one.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <systemd/sd-event.h>

#include <vbd/ctx.h>
#include <vbd/dev.h>
#include <vbd/disk.h>

struct app {
	vbd_ctx *c;
	sd_event *loop;
	sd_event_source *io, *timer;
	vbd_disk_spec *spec;
	vbd_domid domid;
	int result;
};

/* Either source fired: let the library take its events and due timers. */
static int process(struct app *a)
{
	int r = vbd_ctx_process(a->c);

	if (r < 0) {
		fprintf(stderr, "vbd_ctx_process: %s\n", vbd_strerror(r));
		a->result = r;
		sd_event_exit(a->loop, 1);
	}
	return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	(void)s;
	(void)fd;
	(void)revents;
	return process(userdata);
}

static int on_time(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	return process(userdata);
}

/* Before each iteration: the library's next deadline, if any, as the
 * timer's (one-shot, CLOCK_MONOTONIC as the library's). */
static int on_prepare(sd_event_source *s, void *userdata)
{
	struct app *a = userdata;
	int t = vbd_ctx_get_timeout_ms(a->c);
	struct timespec now;

	(void)s;
	if (t < 0)
		return sd_event_source_set_enabled(a->timer, SD_EVENT_OFF);
	clock_gettime(CLOCK_MONOTONIC, &now);
	sd_event_source_set_time(a->timer, (uint64_t)now.tv_sec * 1000000 +
	                         (uint64_t)now.tv_nsec / 1000 + (uint64_t)t * 1000);
	return sd_event_source_set_enabled(a->timer, SD_EVENT_ONESHOT);
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
	a->result = result;
	sd_event_exit(a->loop, result < 0);
}

static void attached(vbd_ctx *c, int result, const char *message, void *userdata)
{
	struct app *a = userdata;
	vbd_detach_options d = VBD_DETACH_OPTIONS_INIT;
	int r;

	if (result < 0) {
		fprintf(stderr, "attach failed (%s): %s\n", vbd_strerror(result), message);
		a->result = result;
		sd_event_exit(a->loop, 1);
		return;
	}
	printf("%s attached to domain %u, both ends Connected\n", a->spec->vdev, a->domid);
	/* A new operation may start from inside a callback. */
	d.domid = a->domid;
	d.devid = a->spec->devid;
	d.progress = progress;
	if ((r = vbd_dev_detach(c, &d, detached, a)) < 0) {
		fprintf(stderr, "detach: %s\n", vbd_ctx_last_error(c));
		a->result = r;
		sd_event_exit(a->loop, 1);
	}
}

int main(int argc, char **argv)
{
	vbd_attach_options ao = VBD_ATTACH_OPTIONS_INIT;
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
	if ((r = sd_event_default(&a.loop)) < 0 ||
	    (r = sd_event_add_io(a.loop, &a.io, vbd_ctx_get_fd(a.c), EPOLLIN, on_io, &a)) < 0 ||
	    (r = sd_event_source_set_prepare(a.io, on_prepare)) < 0 ||
	    (r = sd_event_add_time(a.loop, &a.timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_time, &a)) < 0) {
		fprintf(stderr, "sd-event: %s\n", strerror(-r));
		goto out;
	}
	ao.domid = a.domid;
	ao.spec = a.spec;
	ao.progress = progress;
	/* Fails at once (and never calls back) if the nodes cannot be written. */
	if ((r = vbd_dev_attach(a.c, &ao, attached, &a)) < 0) {
		fprintf(stderr, "attach: %s\n", vbd_ctx_last_error(a.c));
		goto out;
	}
	if ((r = sd_event_loop(a.loop)) < 0)
		fprintf(stderr, "sd_event_loop: %s\n", strerror(-r));
	else
		r = a.result;
out:
	/* The sources go before the context whose fd they watch. */
	sd_event_source_unref(a.io);
	sd_event_source_unref(a.timer);
	sd_event_unref(a.loop);
	vbd_ctx_free(a.c);
	vbd_disk_spec_free(a.spec);
	return r < 0 ? 1 : 0;
}
