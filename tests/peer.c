/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbd/dev.h"
#include "vbd/hotplug.h"

/* dir/key */
static char *rd(struct xs_handle *h, const char *dir, const char *key)
{
	char path[256];
	unsigned len;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, key) >= sizeof(path))
		return NULL;
	return xs_read(h, XBT_NULL, path, &len);
}

static int rd_int(struct xs_handle *h, const char *dir, const char *key)
{
	char *v = rd(h, dir, key);
	int r = v ? atoi(v) : -1;

	free(v);
	return r;
}

static void wr(struct xs_handle *h, xs_transaction_t t, const char *dir, const char *key,
               const char *val)
{
	char path[256];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, key) < sizeof(path))
		xs_write(h, t, path, val, strlen(val));
}

/* Moves be from state `from` to `to`, writing the n keys of kv (pairs)
 * with it, in one transaction that reads the state again, as blkback's
 * xenbus_switch_state: a state changed or removed meanwhile (a detach, a
 * rollback that deleted the device) is left alone, never recreated. */
static bool switch_state(struct xs_handle *h, const char *be, int from, int to,
                         const char *const *kv, unsigned n)
{
	char path[300], v[4], *cur;
	xs_transaction_t t;
	unsigned len, i;
	bool ok;

	if ((size_t)snprintf(path, sizeof(path), "%s/state", be) >= sizeof(path))
		return false;
	snprintf(v, sizeof(v), "%d", to);
	do {
		t = xs_transaction_start(h);
		if (t == XBT_NULL)
			return false;
		cur = xs_read(h, t, path, &len);
		if (!cur || atoi(cur) != from) {
			free(cur);
			xs_transaction_end(h, t, true);
			return false;
		}
		free(cur);
		for (i = 0; i + 1 < n; i += 2)
			wr(h, t, be, kv[i], kv[i + 1]);
		wr(h, t, be, "state", v);
	} while (!(ok = xs_transaction_end(h, t, false)) && errno == EAGAIN);
	return ok;
}

static bool unregistered(const vbd_test_peer *p, const char *be)
{
	unsigned i;

	for (i = 0; i < p->nunreg; i++)
		if (!strcmp(p->unreg[i], be))
			return true;
	return false;
}

/* Linux blkback's frontend_changed(XenbusStateUnknown): device_unregister,
 * whose xenbus_dev_remove writes Closed only over a Closing the toolstack
 * wrote (the driver allows rebinding), and nothing after. */
static void linux_unregister(vbd_test_peer *p, const char *be)
{
	if (p->nunreg < sizeof(p->unreg) / sizeof(p->unreg[0]))
		snprintf(p->unreg[p->nunreg++], sizeof(p->unreg[0]), "%s", be);
	__atomic_add_fetch(&p->unregistered, 1, __ATOMIC_SEQ_CST);
	/* Linux reads the state at removal (xenbus_dev_remove), not the value
	 * its caller read before the frontend's: switch_state reads it in its
	 * transaction and writes Closed only from Closing. */
	if (switch_state(p->be, be, VBD_STATE_CLOSING, VBD_STATE_CLOSED, NULL, 0))
		__atomic_add_fetch(&p->closed_on_vanish, 1, __ATOMIC_SEQ_CST);
}

/* What a driver domain's hotplug daemon does for one of its backends, through
 * the backend domain's own connection: true if the device is gone. */
static bool devd_step(vbd_test_peer *p, const char *be, int st)
{
	vbd_errbuf err = { "" };
	char *hs = rd(p->be, be, "hotplug-status");
	int online = rd_int(p->be, be, "online");
	bool gone = false;

	if (st == VBD_STATE_INITIALISING && online == 1 && !hs) {
		vbd_hotplug_builtin(p->be, be, VBD_HOTPLUG_ADD, &err);
	} else if (st == VBD_STATE_CLOSED && online == 0) {
		vbd_hotplug_builtin(p->be, be, VBD_HOTPLUG_REMOVE, &err);
		xs_rm(p->be, XBT_NULL, be);
		gone = true;
	}
	free(hs);
	return gone;
}

/* One backend device: what blkback's probe, backend_changed and
 * frontend_changed would do next. */
static void backend_step(vbd_test_peer *p, const char *be)
{
	int st = rd_int(p->be, be, "state"), fst;
	char *fe = rd(p->be, be, "frontend"), *pd;

	if (st < 0 || !fe || unregistered(p, be))
		goto out;
	if (p->backend_hotplug && devd_step(p, be, st))
		goto out;
	fst = rd_int(p->be, fe, "state");
	if (p->backend_linux_vanish && fst < 0) {
		linux_unregister(p, be);
		goto out;
	}
	/* A vbd3 (tap) backend is opened by path, as tapback takes
	 * block-tap's physical-device-path. */
	pd = rd(p->be, be, strstr(be, "/backend/vbd3/") ? "physical-device-path" : "physical-device");
	/* As Linux's blkback: InitWait at probe, Connected only once the
	 * device is open (physical-device written) and the frontend is ready;
	 * an empty CD-ROM drive stays in InitWait. */
	if (st == VBD_STATE_INITIALISING) {
		static const char *const probe[] = {
			"feature-max-indirect-segments", "256", "multi-queue-max-queues", "2",
			"max-ring-page-order", "4",
		};

		switch_state(p->be, be, VBD_STATE_INITIALISING, VBD_STATE_INITWAIT, probe, 6);
	} else if (st == VBD_STATE_INITWAIT && pd &&
	           (fst == VBD_STATE_INITIALISED || fst == VBD_STATE_CONNECTED)) {
		if (p->backend_error) {
			char path[256];
			unsigned d, id;

			const char *k = strstr(be, "/backend/vbd3/") ? "vbd3" : "vbd";

			sscanf(strstr(be, "/backend/") + 9 + strlen(k), "/%u/%u", &d, &id);
			snprintf(path, sizeof(path), "/local/domain/%u/error/backend/%s/%u/%u/error",
			         p->backend_domid, k, d, id);
			xs_write(p->be, XBT_NULL, path, "19 mapping ring-ref port 5", 26);
			switch_state(p->be, be, VBD_STATE_INITWAIT, VBD_STATE_CLOSING, NULL, 0);
		} else {
			static const char *const connect[] = {
				"feature-flush-cache", "1", "feature-barrier", "1",
				"feature-persistent", "1", "sectors", "16384", "info", "0",
				"sector-size", "512", "physical-sector-size", "512",
			};

			/* As blkback: connect only from the state read in the same
			 * transaction, never over a Closing written meanwhile by a
			 * detach. */
			switch_state(p->be, be, VBD_STATE_INITWAIT, VBD_STATE_CONNECTED, connect, 14);
		}
	} else if (st < VBD_STATE_CLOSING && fst == VBD_STATE_CLOSING && !p->backend_never_closes) {
		/* As blkback's frontend_changed: a frontend closing is
		 * answered by closing. */
		switch_state(p->be, be, st, VBD_STATE_CLOSING, NULL, 0);
	} else if (st == VBD_STATE_CLOSING && !p->backend_never_closes &&
	           (fst == VBD_STATE_CLOSED || fst < 0)) {
		/* As blkback: Closed follows the frontend's Closed (or its
		 * removal), never precedes it.  A driver domain's daemon removes
		 * the backend dir once it reads Closed, and a frontend that had
		 * not yet seen Closing would then find no backend state to
		 * follow and stay Connected. */
		switch_state(p->be, be, VBD_STATE_CLOSING, VBD_STATE_CLOSED, NULL, 0);
	}
	free(pd);
out:
	free(fe);
}

/* One frontend device, through the guest's own connection. */
static void frontend_step(vbd_test_peer *p, const char *fe)
{
	int st = rd_int(p->fe, fe, "state"), bst;
	char *be = rd(p->fe, fe, "backend");

	if (st < 0 || !be)
		goto out;
	bst = rd_int(p->fe, be, "state");
	if (st == VBD_STATE_INITIALISING && bst == VBD_STATE_INITWAIT && p->frontend_closes) {
		switch_state(p->fe, fe, VBD_STATE_INITIALISING, VBD_STATE_CLOSING, NULL, 0);
	} else if (st == VBD_STATE_INITIALISING && bst == VBD_STATE_INITWAIT &&
	    !p->frontend_never_connects) {
		static const char *const rings[] = {
			"ring-ref", "8", "event-channel", "8", "feature-persistent", "1",
		};

		switch_state(p->fe, fe, VBD_STATE_INITIALISING,
		             p->skip_initialised ? VBD_STATE_CONNECTED : VBD_STATE_INITIALISED, rings, 6);
	} else if (st == VBD_STATE_INITIALISED && bst == VBD_STATE_CONNECTED) {
		switch_state(p->fe, fe, VBD_STATE_INITIALISED, VBD_STATE_CONNECTED, NULL, 0);
	} else if ((bst == VBD_STATE_CLOSING || bst == VBD_STATE_CLOSED) && st != VBD_STATE_CLOSED) {
		if (switch_state(p->fe, fe, st, VBD_STATE_CLOSED, NULL, 0))
			__atomic_add_fetch(&p->fe_closed, 1, __ATOMIC_SEQ_CST);
	}
out:
	free(be);
}

static void scan(vbd_test_peer *p)
{
	static const char *const kinds[] = { "vbd", "vbd3" };  /* blkback's and tap's */
	char dir[128], path[256];
	unsigned n, m, i, j, k;
	char **doms, **devs, *v;

	/* A backend dir gone: a device at that path later is a new one. */
	for (i = 0; i < p->nunreg;) {
		if ((v = rd(p->be, p->unreg[i], "state"))) {
			free(v);
			i++;
			continue;
		}
		memmove(p->unreg[i], p->unreg[i + 1], (p->nunreg - i - 1) * sizeof(p->unreg[0]));
		p->nunreg--;
	}
	for (k = 0; k < 2; k++) {
		snprintf(dir, sizeof(dir), "/local/domain/%u/backend/%s", p->backend_domid, kinds[k]);
		doms = xs_directory(p->be, XBT_NULL, dir, &n);
		for (i = 0; doms && i < n; i++) {
			snprintf(dir, sizeof(dir), "/local/domain/%u/backend/%s/%s", p->backend_domid,
			         kinds[k], doms[i]);
			devs = xs_directory(p->be, XBT_NULL, dir, &m);
			for (j = 0; devs && j < m; j++) {
				snprintf(path, sizeof(path), "%s/%s", dir, devs[j]);
				backend_step(p, path);
			}
			free(devs);
		}
		free(doms);
	}
	/* Listing the guest's device/vbd takes the guest's own rights. */
	snprintf(dir, sizeof(dir), "/local/domain/%u/device/vbd", p->domid);
	devs = xs_directory(p->fe, XBT_NULL, dir, &m);
	for (j = 0; devs && j < m; j++) {
		snprintf(path, sizeof(path), "%s/%s", dir, devs[j]);
		frontend_step(p, path);
	}
	free(devs);
}

static void *peer_main(void *arg)
{
	vbd_test_peer *p = arg;

	for (;;) {
		unsigned n;
		char **ev = xs_read_watch(p->be, &n);

		if (!ev)
			break;
		if (!strcmp(ev[XS_WATCH_TOKEN], "stop")) {
			free(ev);
			break;
		}
		free(ev);
		/* Drain what queued meanwhile, then act on the current state. */
		while ((ev = xs_check_watch(p->be))) {
			bool stop = !strcmp(ev[XS_WATCH_TOKEN], "stop");
			free(ev);
			if (stop)
				return NULL;
		}
		scan(p);
	}
	return NULL;
}

int vbd_test_peer_start(vbd_test_peer *p, vbd_test_store *t, unsigned domid)
{
	char path[64];

	p->t = t;
	p->domid = domid;
	/* The backend side talks as its domain (dom0 or a driver domain). */
	p->be = vbd_test_xs_open(t, p->backend_domid);
	p->fe = vbd_test_xs_open(t, domid);
	if (!p->be || !p->fe)
		return -ECONNREFUSED;
	snprintf(path, sizeof(path), "/local/domain/%u/backend", p->backend_domid);
	if (!xs_watch(p->be, path, "be"))
		return -errno;
	/* Events for the frontends too (the backend may read their dirs); the
	 * thread reads events from this one handle. */
	snprintf(path, sizeof(path), "/local/domain/%u/device", domid);
	if (!xs_watch(p->be, path, "fe"))
		return -errno;
	if (p->also_watch && !xs_watch(p->be, p->also_watch, "also"))
		return -errno;
	if (pthread_create(&p->thread, NULL, peer_main, p) != 0)
		return -EAGAIN;
	p->running = true;
	return 0;
}

void vbd_test_peer_stop(vbd_test_peer *p)
{
	if (p->running) {
		/* A watch with the token "stop" wakes the thread. */
		xs_watch(p->be, "/peer-stop/now", "stop");
		pthread_join(p->thread, NULL);
		p->running = false;
	}
	if (p->be)
		xs_close(p->be);
	if (p->fe)
		xs_close(p->fe);
	p->be = p->fe = NULL;
}
