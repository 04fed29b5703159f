/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl hotplug: the hotplug step of one VBD, as udev or libxl runs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "vbd/hotplug.h"
#include "vbdctl.h"

static const char hotplug_usage[] =
	"Usage: vbdctl hotplug add|remove\n"
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
	"Exit status: 0 success, 1 failure (the reason on stderr), 2 usage error.\n";

int vbdctl_hotplug(int argc, char **argv)
{
	vbd_errbuf err = { "" };
	vbd_hotplug_action action;
	const char *be = getenv("XENBUS_PATH");
	struct xs_handle *xs;
	int r;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(hotplug_usage, stdout);
		return VBDCTL_EXIT_OK;
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
	r = vbd_hotplug_builtin(xs, be, action, &err);
	xs_close(xs);
	if (r < 0) {
		vbdctl_err("hotplug %s %s: %s", argv[1], be, err.msg[0] ? err.msg : vbd_strerror(r));
		return VBDCTL_EXIT_FAIL;
	}
	return VBDCTL_EXIT_OK;
}
