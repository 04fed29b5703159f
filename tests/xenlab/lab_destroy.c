/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd-lab-destroy DOMID: destroys a domain through the hypervisor alone,
 * as a toolstack that died half-way (or another toolstack that does not
 * know our devices) leaves it: no device torn down, no xenstore node
 * removed.  The lab uses it to prove that dom0's reaper alone tears down
 * the devices of such a domain; `xl destroy` would do it itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenctrl.h>

int main(int argc, char **argv)
{
	xc_interface *xch;
	char *end;
	unsigned long domid;
	int r;

	if (argc != 2 || (errno = 0, domid = strtoul(argv[1], &end, 10), errno || *end || end == argv[1] ||
	                  domid == 0 || domid >= DOMID_FIRST_RESERVED)) {
		fprintf(stderr, "usage: vbd-lab-destroy DOMID (a guest's domain id)\n");
		return 2;
	}
	if (!(xch = xc_interface_open(NULL, NULL, 0))) {
		fprintf(stderr, "vbd-lab-destroy: cannot open the hypervisor interface: %s\n",
		        strerror(errno));
		return 1;
	}
	r = xc_domain_destroy(xch, (uint32_t)domid);
	if (r < 0)
		fprintf(stderr, "vbd-lab-destroy: destroying domain %lu: %s\n", domid, strerror(errno));
	xc_interface_close(xch);
	return r < 0 ? 1 : 0;
}
