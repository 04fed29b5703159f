/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * udev.c - whether a uevent runs the built-in step: the decisions of
 * hotplug/90-vbd.rules, here so that they can be tested without udev.
 *
 * Example.  xl attaches xvdb of domain 5 with script=block-drbd; the kernel's
 * blkback announces vbd-5-51728 and udev runs vbd-block add, hence
 * vbdctl hotplug --udev add, with XENBUS_PATH=backend/vbd/5/51728.  In dom0
 * the check reads /libxl/5/device/vbd/51728/script, finds
 * /etc/xen/scripts/block-drbd and answers 0: libxl runs block-drbd, the
 * built-in step must not make a loop device of its params.  With
 * script=vbd-block it answers 1, and the step runs; should libxl (or vbdctl
 * attach) run it too, the second ADD finds the first's physical-device.
 * At detach the kernel's remove event comes after the toolstack's own
 * REMOVE: this domain's record of the backend is gone, and the answer is 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "toolstack/hotplug/hotplug_internal.h"
#include "vbd/hotplug.h"

#define OUR_SCRIPT "vbd-block"

bool vbd__hp_script_is_ours(const char *script)
{
	const char *base = strrchr(script, '/');

	return !strcmp(base ? base + 1 : script, OUR_SCRIPT);
}

int vbd__hp_read_script(struct xs_handle *xs, unsigned self, long fe, uint32_t devid,
                        const char *be, char **ret, char *from, size_t size, vbd_errbuf *err)
{
	*ret = NULL;
	if (self == 0 && fe >= 0) {
		snprintf(from, size, "/libxl/%ld/device/vbd/%u/script", fe, (unsigned)devid);
		*ret = vbd__xb_read(xs, XBT_NULL, "%s", from);
		if (*ret)
			return 0;
		if (errno != ENOENT)
			return vbd__errf(err, errno > 0 ? -errno : -EIO, "read %s", from);
	}
	snprintf(from, size, "%s/script", be);
	*ret = vbd__xb_read(xs, XBT_NULL, "%s", from);
	if (!*ret && errno != ENOENT)
		return vbd__errf(err, errno > 0 ? -errno : -EIO, "read %s", from);
	return 0;
}

/* The device's script, as vbd__hp_read_script reads it for h's backend;
 * -ENOENT for none.  A vbd backend of dom0's own names its device in the
 * index entry (fe-devid); other entries have no /libxl copy to read. */
static int read_script(vbd__hp *h, char **ret, char *from, size_t size)
{
	unsigned bdom, fe, devid;
	int end = 0, r;
	bool named = sscanf(h->entry, "%u-%u-%u%n", &bdom, &fe, &devid, &end) == 3 && !h->entry[end];

	r = vbd__hp_read_script(h->xs, h->self, named ? (long)fe : -1, named ? devid : 0, h->be, ret,
	                        from, size, h->err);
	return r < 0 ? r : *ret ? 0 : -ENOENT;
}

static int check(vbd__hp *h, vbd_hotplug_action action)
{
	char from[BE_MAX + 64], *v = NULL;
	int r;

	snprintf(from, sizeof(from), "/local/domain/%u/libxl/disable_udev", h->self);
	r = vbd__xb_exists(h->xs, XBT_NULL, from);
	if (r < 0)
		return vbd__errf(h->err, r, "read %s", from);
	if (r > 0) {
		vbd__errf(h->err, 0, "%s is set: the toolstack runs the hotplug scripts, "
		          "not udev", from);
		return 0;
	}
	if (action == VBD_HOTPLUG_ADD) {
		r = read_script(h, &v, from, sizeof(from));
		if (r == -ENOENT) {
			vbd__errf(h->err, 0, "%s has no script: not a device for vbd-block", h->be);
			return 0;
		}
		if (r < 0)
			return r;
		r = vbd__hp_script_is_ours(v);
		if (!r)
			vbd__errf(h->err, 0, "%s is %s, not %s: that script is the toolstack's "
			          "to run", from, v, OUR_SCRIPT);
		free(v);
		return r;
	}
	r = vbd__hp_rec_read(h, "key", &v);
	free(v);
	v = NULL;
	if (r == -ENOENT) {
		vbd__errf(h->err, 0, "no record of an add of %s in this domain: nothing set up, "
		          "or removed already", h->be);
		return 0;
	}
	if (r < 0)
		return vbd__errf(h->err, r, "read the record of %s", h->be);
	if (vbd__hp_be_read(h, XBT_NULL, "online", &v) == 0 && !strcmp(v, "1")) {
		vbd__errf(h->err, 0, "%s is online: attached again since this remove event",
		          h->be);
		r = 0;
	} else {
		r = 1;
	}
	free(v);
	return r;
}

int vbd_hotplug_udev_check(struct xs_handle *xs, const char *be_path, vbd_hotplug_action action,
                           vbd_errbuf *err)
{
	vbd_errbuf local = { "" };
	vbd__hp *h;
	int r;

	if (!xs || !be_path || (action != VBD_HOTPLUG_ADD && action != VBD_HOTPLUG_REMOVE))
		return vbd__errf(err, -EINVAL, "vbd_hotplug_udev_check: invalid argument");
	h = calloc(1, sizeof(*h));
	if (!h)
		return vbd__errf(err, -ENOMEM, "vbd_hotplug_udev_check: out of memory");
	h->xs = xs;
	h->err = &local;
	r = vbd__hp_name(h, be_path);
	if (r == 0)
		r = check(h, action);
	if (err)
		memcpy(err->msg, local.msg, sizeof(err->msg));
	free(h);
	return r;
}
