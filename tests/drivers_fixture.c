/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The whole stack around one guest disk, shared by test_drivers and
 * test_poll (drivers_fixture.h). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "drivers_fixture.h"

void vbd_test_drivers_backend_stop(struct fx *f)
{
	vbd_test_loop_stop(&f->bloop);
	f->b = vbd_blkback_free(f->b);
}

int vbd_test_drivers_setup(void **state, unsigned disk_bytes)
{
	struct xs_permissions home[2] = { { 0, XS_PERM_NONE }, { DOM, XS_PERM_READ } };
	vbd_ctx_options co = VBD_CTX_OPTIONS_INIT;
	struct fx *f = calloc(1, sizeof(*f));
	int fd;

	assert_non_null(f);
	vbd_test_loop_init(&f->bloop);
	assert_int_equal(vbd_test_store_start(&f->t, NULL), 0);
	assert_int_equal(vbd_test_simhv_start(&f->hv), 0);
	f->h = vbd_test_xs_open(&f->t, 0);
	assert_non_null(f->h);
	assert_true(xs_introduce_domain(f->h, DOM, 0, 0));
	assert_true(xs_mkdir(f->h, XBT_NULL, "/local/domain/1"));
	assert_true(xs_set_permissions(f->h, XBT_NULL, "/local/domain/1", home, 2));
	assert_true(xs_write(f->h, XBT_NULL, "/local/domain/1/name", "guest1", 6));
	assert_int_equal(vbd_test_simhv_domain_add(&f->hv, DOM), 0);
	assert_int_equal(vbd_test_simhv_xport(&f->hv, 0, &f->bx), 0);
	assert_int_equal(vbd_test_simhv_xport(&f->hv, DOM, &f->fx), 0);
	snprintf(f->guest_xs, sizeof(f->guest_xs), "%s.d/%d", f->t.socket, DOM);
	co.xenstored_path = f->t.socket;
	assert_int_equal(vbd_ctx_new(&f->c, &co, NULL), 0);
	snprintf(f->img, sizeof(f->img), "%s/disk.img", f->t.dir);
	fd = open(f->img, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, disk_bytes), 0);
	close(fd);
	f->spec.target = f->img;
	f->spec.vdev = "xvdb";
	f->spec.devid = DEVID;
	f->spec.discard = -1;
	f->spec.trusted = true;
	*state = f;
	return 0;
}

int vbd_test_drivers_teardown(void **state)
{
	struct fx *f = *state;
	vbd_detach_options d = VBD_DETACH_OPTIONS_INIT;

	f->f = vbd_blkfront_free(f->f);
	d.domid = DOM;
	d.devid = DEVID;
	d.force = true;
	d.timeout_ms = 300;
	vbd_dev_detach_wait(f->c, &d);
	vbd_test_drivers_backend_stop(f);
	vbd_ctx_free(f->c);
	f->relay = vbd_test_relay_stop(f->relay);
	vbd_xport_free(f->fx);
	vbd_xport_free(f->bx);
	xs_close(f->h);
	vbd_test_simhv_stop(&f->hv);
	vbd_test_store_stop(&f->t);
	free(f);
	return 0;
}

void vbd_test_on_done(vbd_ctx *c, int result, const char *msg, void *ud)
{
	struct done *d = ud;

	(void)c;
	d->calls++;
	d->result = result;
	snprintf(d->msg, sizeof(d->msg), "%s", msg);
}
