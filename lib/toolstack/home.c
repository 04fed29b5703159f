/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A new domain's home, as libxl 4.17 writes it (captured from a real xl
 * create in tests/golden/libxl-4.17-block-attach.txt).  For domain 5:
 *   /local/domain/5              dom0, domain 5 may read
 *   /local/domain/5/{name,domid} inherit that
 *   /local/domain/5/{device,control}                  the same
 *   /local/domain/5/control/shutdown, data, ...       owned by domain 5
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <xenstore.h>
#include <xen/xen.h>

#include "xenbus/xenbus.h"
#include "vbd/domain.h"

struct home_job {
	unsigned domid;
	const char *name;
};

static int home_body(struct xs_handle *h, xs_transaction_t t, void *ud)
{
	static const char *const ro_dirs[] = { "device", "control" };
	static const char *const rw_nodes[] = {
		"device/suspend/event-channel", "control/shutdown", "control/feature-poweroff",
		"control/feature-reboot", "control/feature-suspend", "control/sysrq",
		"data", "drivers", "feature", "attr", "error",
	};
	struct home_job *j = ud;
	struct xs_permissions ro[2] = { { 0, XS_PERM_NONE }, { j->domid, XS_PERM_READ } };
	struct xs_permissions own[1] = { { j->domid, XS_PERM_NONE } };
	char home[64], path[128];
	bool ok;
	size_t i;
	int r;

	snprintf(home, sizeof(home), "/local/domain/%u", j->domid);
	/* A stale home from an earlier domain with this id goes first (absent
	 * is fine: /local/domain may not exist yet). */
	if ((r = vbd__xb_rm(h, t, home)) < 0)
		return r;
	if (!xs_mkdir(h, t, home) || !xs_set_permissions(h, t, home, ro, 2))
		return -(errno ? errno : EIO);
	if ((r = vbd__xb_printf(h, t, home, "name", "%s", j->name)) < 0 ||
	    (r = vbd__xb_printf(h, t, home, "domid", "%u", j->domid)) < 0)
		return r;
	ok = true;
	for (i = 0; ok && i < sizeof(ro_dirs) / sizeof(ro_dirs[0]); i++) {
		snprintf(path, sizeof(path), "/local/domain/%u/%s", j->domid, ro_dirs[i]);
		ok = xs_mkdir(h, t, path);
	}
	for (i = 0; ok && i < sizeof(rw_nodes) / sizeof(rw_nodes[0]); i++) {
		snprintf(path, sizeof(path), "/local/domain/%u/%s", j->domid, rw_nodes[i]);
		ok = xs_mkdir(h, t, path) && xs_set_permissions(h, t, path, own, 1);
	}
	return ok ? 0 : -(errno ? errno : EIO);
}

int vbd_domain_write_home(struct xs_handle *xs, vbd_domid domid, const char *name)
{
	struct home_job j = { domid, name };

	if (!xs || !name || domid == 0 || domid >= DOMID_FIRST_RESERVED)
		return -EINVAL;
	return vbd__xb_txn(xs, home_body, &j);
}
