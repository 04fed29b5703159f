/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An old caller: a program written against the headers of libvbd 0.1 and
 * never edited afterwards.  It is built against the current headers and run
 * against the current libvbd.so, so that a change that breaks programs of
 * 0.1 fails the tests.  A later release that freezes its own API adds
 * old_caller_0_2.c beside it; this file stays as it is.
 *
 * It fills every options struct as `{ .version = 1, <the required fields> }`
 * (every other field 0: the defaults) and each struct the library fills
 * with its size.  It needs no Xen: the embedded store and the simulated
 * hypervisor run in a thread of this process.
 *
 * Exit status: 0, or the line of the first check that failed.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <vbd/blkback.h>
#include <vbd/blkfront.h>
#include <vbd/ctx.h>
#include <vbd/dev.h>
#include <vbd/disk.h>
#include <vbd/simhv.h>
#include <vbd/store.h>
#include <vbd/transport.h>

#define CHECK(cond) do { \
		if (!(cond)) { \
			fprintf(stderr, "old_caller: line %d: %s\n", __LINE__, #cond); \
			exit(__LINE__); \
		} \
	} while (0)

struct servers {
	vbd_store *store;
	vbd_simhv *hv;
	int stop;            /* eventfd */
};

/* The store and the hypervisor answer from here while main() makes
 * blocking calls. */
static void *serve(void *arg)
{
	struct servers *sv = arg;
	struct pollfd p[3];

	p[0].fd = vbd_store_get_fd(sv->store);
	p[1].fd = vbd_simhv_get_fd(sv->hv);
	p[2].fd = sv->stop;
	p[0].events = p[1].events = p[2].events = POLLIN;
	for (;;) {
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[2].revents)
			break;
		vbd_store_process(sv->store);
		vbd_simhv_process(sv->hv);
	}
	return NULL;
}

static void done(vbd_ctx *c, int result, const char *message, void *userdata)
{
	(void)c;
	(void)result;
	(void)message;
	(void)userdata;
	CHECK(!"a failed call never calls back");
}

int main(void)
{
	char dir[] = "/tmp/vbd-old-caller.XXXXXX", xs[128], hvp[128];
	const char *spec_str[] = { "vdev=xvda,target=/nonexistent/disk.img" };
	struct servers sv;
	pthread_t th;
	uint64_t one = 1;
	vbd_errbuf err = { "" };
	vbd_disk_spec *spec = NULL;
	vbd_xport *x = NULL;
	vbd_ctx *c = NULL;
	vbd_blkback *b = NULL;
	vbd_blkfront *f = NULL;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(xs, sizeof(xs), "%s/xs", dir);
	snprintf(hvp, sizeof(hvp), "%s/hv", dir);

	{
		vbd_store_options so = { .version = 1, .socket_path = xs };
		vbd_store_options too_new = { .version = 999 };

		CHECK(vbd_store_new(&sv.store, &too_new, NULL) == -EINVAL);
		CHECK(vbd_store_new(&sv.store, &so, NULL) == 0);
	}
	CHECK(vbd_simhv_new(&sv.hv, hvp, NULL) == 0);
	CHECK(vbd_store_domain_add(sv.store, 5) == 0);
	CHECK(vbd_simhv_domain_add(sv.hv, 5) == 0);
	sv.stop = eventfd(0, EFD_CLOEXEC);
	CHECK(sv.stop >= 0);
	CHECK(pthread_create(&th, NULL, serve, &sv) == 0);

	{
		vbd_ctx_options co = { .version = 1, .xenstored_path = xs };

		CHECK(vbd_ctx_new(&c, &co, NULL) == 0);
	}
	CHECK(vbd_disk_spec_parse(1, spec_str, &spec, &err) == 0);
	{
		/* No domain 7: refused before anything is written. */
		vbd_attach_options ao = { .version = 1, .domid = 7, .spec = spec };
		vbd_detach_options dd = { .version = 1, .domid = 7, .devid = spec->devid };

		CHECK(vbd_dev_attach(c, &ao, done, NULL) == -ENOENT);
		CHECK(vbd_dev_detach(c, &dd, done, NULL) == -ENOENT);
	}
	{
		vbd_xport_options xo = { .version = 1, .kind = VBD_XPORT_SIM, .sim_path = hvp };

		CHECK(vbd_xport_open(&x, &xo, &err) == 0);
	}
	{
		vbd_blkback_options bo = { .version = 1, .xenstored_path = xs, .xport = x };
		vbd_blkback_stats bs = { .size = sizeof(bs) };

		CHECK(vbd_blkback_new(&b, &bo, &err) == 0);
		CHECK(vbd_blkback_process(b) >= 0);
		CHECK(vbd_blkback_get_stats(b, &bs) == 0);
		CHECK(bs.size == sizeof(bs) && bs.devices == 0);
		b = vbd_blkback_free(b);
	}
	{
		/* No device 51712 in domain 5: every option but these is a
		 * default, so only the device can be missing. */
		vbd_blkfront_options fo = { .version = 1, .xenstored_path = xs, .xport = x,
		                            .domid = 5, .devid = 51712 };

		CHECK(vbd_blkfront_new(&f, &fo, &err) == -ENOENT);
		CHECK(f == NULL);
	}

	x = vbd_xport_free(x);
	spec = vbd_disk_spec_free(spec);
	c = vbd_ctx_free(c);
	CHECK(write(sv.stop, &one, sizeof(one)) == sizeof(one));
	CHECK(pthread_join(th, NULL) == 0);
	{
		vbd_store_stats st = { .size = sizeof(st) };
		vbd_simhv_stats hs = { .size = sizeof(hs) };

		CHECK(vbd_store_get_stats(sv.store, &st) == 0);
		CHECK(st.domains == 1);
		CHECK(vbd_simhv_get_stats(sv.hv, &hs) == 0);
	}
	vbd_store_free(sv.store);
	vbd_simhv_free(sv.hv);
	close(sv.stop);
	rmdir(dir);
	return 0;
}
