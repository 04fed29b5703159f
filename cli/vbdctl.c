/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl: the command-line front end of libvbd.
 */
#include <stdio.h>
#include <string.h>

#include "vbdctl.h"

static const char usage[] =
	"Usage: vbdctl [--help] [--version] [--quiet | --verbose] COMMAND [ARGS...]\n"
	"\n"
	"Commands:\n"
	"  attach DOM SPEC... [--backend-domain D] [--wait connected|initwait|none]\n"
	"                     [--timeout S] [--script PATH | --builtin-hotplug]\n"
	"                         attach a disk (xl disk spec) and wait until Connected\n"
	"  detach DOM VDEV [--force] [--timeout S]\n"
	"                         close both ends, free the backing device, delete the nodes\n"
	"  reap [DOM | --follow] [--timeout S]\n"
	"                         detach the devices of domains that are gone\n"
	"  devd [--socket PATH] [--script-timeout S] [--no-reap] [--reap-timeout S]\n"
	"                         the hotplug daemon of this domain (dom0 or a driver domain)\n"
	"  status|list [DOM [VDEV]] [--json | --format text|json|xl] [--stats-dir DIR]\n"
	"                         list VBDs: states, target, hotplug, errors, rings\n"
	"  top [DOM [VDEV]] [--interval S] [--count N] [--stats-dir DIR]\n"
	"                         per-device request rates, live\n"
	"  verify DOM VDEV        check a device against the protocol's rules\n"
	"  verify --log FILE [--log-format cxenstored|oxenstored] [--toolstack DOM] [DOM]\n"
	"                         replay xenstored's own log through the rules\n"
	"  watch [DOM] [--count N] [--timeout S]\n"
	"                         follow state changes live, with the verifier's verdicts\n"

	"  store serve [--socket PATH] [--pidfile FILE] [--daemon] [--quota NAME=VALUE]...\n"
	"                         run the embedded xenstore daemon\n"
	"  store domain add DOMID [--name NAME] [--socket PATH]\n"
	"                         introduce a guest domain and write its home\n"
	"  store domain remove DOMID [--socket PATH]\n"
	"                         remove its home and release the domain\n"
	"  hotplug add|remove     the block hotplug step for $XENBUS_PATH (udev, libxl)\n"
	"  backend [--domain D]   the bundled userspace blkback, serving domain D's vbds\n"
	"  frontend [--domain D]  the bundled userspace blkfront, for domain D's vbds\n"
	"  io DOM VDEV read|write|discard|flush|info ...\n"
	"                         I/O inside a domain, through its vbdctl frontend\n"
	"  sim start [--guests N] | sim stop\n"
	"                         a simulated Xen host: store, hypervisor, backend, guests\n"
	"\n"
	"Every command takes --help.  --quiet: attach and detach print errors only;\n"
	"--verbose adds the library's log.  See vbdctl(8), vbdctl-json(7), libvbd(3).\n";

int main(int argc, char **argv)
{
	/* --quiet and --verbose before the command hold for any command. */
	while (argc >= 2 && vbdctl_verbosity_opt(argv[1])) {
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	if (argc < 2) {
		fputs(usage, stderr);
		return VBDCTL_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return VBDCTL_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("vbdctl %s\n", VBD_VERSION);
		return VBDCTL_EXIT_OK;
	}
	if (!strcmp(argv[1], "store"))
		return vbdctl_store(argc - 1, argv + 1);
	if (!strcmp(argv[1], "hotplug"))
		return vbdctl_hotplug(argc - 1, argv + 1);
	if (!strcmp(argv[1], "attach"))
		return vbdctl_attach(argc - 1, argv + 1);
	if (!strcmp(argv[1], "detach"))
		return vbdctl_detach(argc - 1, argv + 1);
	if (!strcmp(argv[1], "reap"))
		return vbdctl_reap(argc - 1, argv + 1);
	if (!strcmp(argv[1], "devd"))
		return vbdctl_devd(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status") || !strcmp(argv[1], "list"))
		return vbdctl_status(argc - 1, argv + 1);
	if (!strcmp(argv[1], "verify"))
		return vbdctl_verify(argc - 1, argv + 1);
	if (!strcmp(argv[1], "top"))
		return vbdctl_top(argc - 1, argv + 1);
	if (!strcmp(argv[1], "watch"))
		return vbdctl_watch(argc - 1, argv + 1);
	if (!strcmp(argv[1], "backend"))
		return vbdctl_backend(argc - 1, argv + 1);
	if (!strcmp(argv[1], "sim"))
		return vbdctl_sim(argc - 1, argv + 1);
	if (!strcmp(argv[1], "frontend"))
		return vbdctl_frontend(argc - 1, argv + 1);
	if (!strcmp(argv[1], "io"))
		return vbdctl_io(argc - 1, argv + 1);
	/* Not in the usage: for completion/vbdctl (cmd_complete.c). */
	if (!strcmp(argv[1], "complete"))
		return vbdctl_complete(argc - 1, argv + 1);
	vbdctl_err("unknown command '%s' (try 'vbdctl --help')", argv[1]);
	return VBDCTL_EXIT_USAGE;
}
