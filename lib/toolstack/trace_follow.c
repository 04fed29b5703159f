/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Following a device through the store's change trace.  Example: a guest
 * writes its frontend state 3 and then 1 before the toolstack's process()
 * runs.  A watcher would read 1 twice; here the trace holds both records,
 * in order, with their values and writer, and the checker judges the step
 * 3 -> 1 (frontend-transition) when process() feeds them.
 *
 * If the trace ends (the store closed it or sent what is not a record),
 * the checker is told that changes were lost from there on, so no device
 * it follows can pass as seen whole.
 */
#include <errno.h>
#include <stdlib.h>

#include "toolstack/trace_follow.h"
#include "xenbus/trace.h"

struct vbd__trace_follower {
	vbd_ctx *c;
	vbd__trace *t;
	vbd__io *io;
	vbd_checker *k;
	const vbd__vsink *sink;     /* the verifier's: where reports go */
};

/* The checker counted what it did not see and stamped the writer: the
 * report goes out as it is. */
static void on_report(const vbd_verify_event *e, void *ud)
{
	vbd__vsink_deliver(((vbd__trace_follower *)ud)->sink, e);
}

static void feed(const vbd_change *ch, void *ud)
{
	vbd__trace_follower *f = ud;

	vbd_checker_feed(f->k, ch);
}

static void on_readable(vbd_ctx *c, int fd, void *ud)
{
	vbd__trace_follower *f = ud;
	int r;

	(void)fd;
	if (!f->t)
		return;
	r = vbd__trace_read(f->t, feed, f);
	if (r < 0) {
		/* How much went unseen cannot be known: at least one change. */
		vbd_change lost = { .op = VBD_CHANGE_LOST, .path = "", .writer = -1, .lost = 1 };

		vbd__ctx_io_cancel(c, f->io);
		f->io = NULL;
		f->t = vbd__trace_free(f->t);
		vbd_checker_feed(f->k, &lost);
	}
}

int vbd__trace_follower_new(vbd_ctx *c, int domid, const vbd__vsink *sink,
                            vbd__trace_follower **ret)
{
	vbd__trace_follower *f = calloc(1, sizeof(*f));
	unsigned own = 0;
	int r;

	if (!f)
		return -ENOMEM;
	f->c = c;
	f->sink = sink;
	/* The toolstack's writes are those of the domain this context acts as. */
	if ((r = vbd__ctx_own_domid(c, &own)) < 0)
		goto fail;
	r = vbd__trace_open(c->bus->socket ? c->bus->socket : "/var/run/xenstored/socket", 0, &f->t);
	if (r < 0)
		goto fail;
	r = vbd_checker_new(domid < 0 ? VBD_DOMID_ALL : (vbd_domid)domid, (vbd_domid)own, on_report, f, &f->k);
	if (r < 0)
		goto fail;
	r = vbd__ctx_io(c, vbd__trace_fd(f->t), on_readable, f, &f->io);
	if (r < 0)
		goto fail;
	*ret = f;
	return 0;
fail:
	vbd__trace_follower_free(f);
	return r;
}

vbd__trace_follower *vbd__trace_follower_free(vbd__trace_follower *f)
{
	if (!f)
		return NULL;
	if (f->io)
		vbd__ctx_io_cancel(f->c, f->io);
	vbd__trace_free(f->t);
	vbd_checker_free(f->k);
	free(f);
	return NULL;
}
