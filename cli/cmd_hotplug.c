/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl hotplug: the hotplug step of one VBD, as udev or libxl runs it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "vbd/hotplug.h"
#include "vbdctl.h"

static const char hotplug_usage[] =
	"Usage: vbdctl hotplug [--udev] add|remove\n"
	"\n"
	"Does for one backend what Xen's block script does, without forking and\n"
	"without a global lock.  The backend is $XENBUS_PATH, as libxl and the\n"
	"kernel's uevents give it: relative (backend/vbd/DOMID/DEVID, resolved\n"
	"against the calling domain's home) or absolute.  The store is the one\n"
	"libxenstore finds ($XENSTORED_PATH, else the system's).\n"
	"\n"
	"add      Make params available as a block device (a regular file through\n"
	"         a new loop device), check that mode allows sharing it, and write\n"
	"         physical-device, physical-device-path, node (loop devices) and\n"
	"         hotplug-status=connected.  Succeeds at once if physical-device is\n"
	"         there already.  On failure writes hotplug-error and hotplug-status\n"
	"         (busy for a sharing conflict, else error).\n"
	"remove   Free the loop device add attached and forget the sharing entry.\n"
	"         Running it twice is harmless.\n"
	"\n"
	"--udev   Called for a kernel uevent (90-vbd.rules): first decide whether\n"
	"         the step is ours to run, and exit 0 doing nothing when it is not:\n"
	"         when libxl/disable_udev exists in this domain (the toolstack runs\n"
	"         the scripts), for add when the device's script is not vbd-block\n"
	"         (dom0 reads it from /libxl/DOMID/device/vbd/DEVID/script), for\n"
	"         remove when this domain recorded no add of the backend or the\n"
	"         backend is online again.  The reason is printed on stderr.\n"
	"\n"
	"Exit status: 0 success, 1 failure (the reason on stderr), 2 usage error.\n";

int vbdctl_hotplug(int argc, char **argv)
{
	vbd_errbuf err = { "" };
	vbd_hotplug_action action;
	const char *be = getenv("XENBUS_PATH");
	struct xs_handle *xs;
	bool udev = false;
	int r = 1;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(hotplug_usage, stdout);
		return VBDCTL_EXIT_OK;
	}
	if (argc == 3 && !strcmp(argv[1], "--udev")) {
		udev = true;
		argc--;
		argv++;
	}
	if (argc != 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "remove"))) {
		fputs(hotplug_usage, stderr);
		return VBDCTL_EXIT_USAGE;
	}
	action = !strcmp(argv[1], "add") ? VBD_HOTPLUG_ADD : VBD_HOTPLUG_REMOVE;
	if (!be || !*be) {
		vbdctl_err("hotplug %s: XENBUS_PATH is not set", argv[1]);
		return VBDCTL_EXIT_USAGE;
	}
	xs = xs_open(0);
	if (!xs) {
		vbdctl_err("hotplug %s %s: cannot connect to xenstore: %m", argv[1], be);
		return VBDCTL_EXIT_FAIL;
	}
	if (udev) {
		r = vbd_hotplug_udev_check(xs, be, action, &err);
		if (r == 0) {
			vbdctl_err("hotplug %s %s: not run: %s", argv[1], be, err.msg);
			xs_close(xs);
			return VBDCTL_EXIT_OK;
		}
		if (r > 0)
			err.msg[0] = 0;
	}
	if (r > 0)
		r = vbd_hotplug_builtin(xs, be, action, &err);
	xs_close(xs);
	if (r < 0) {
		vbdctl_err("hotplug %s %s: %s", argv[1], be, err.msg[0] ? err.msg : vbd_strerror(r));
		return VBDCTL_EXIT_FAIL;
	}
	return VBDCTL_EXIT_OK;
}
