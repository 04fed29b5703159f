/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl complete: the live values bash completion offers (completion/vbdctl),
 * one a line on stdout, so that the completion script asks vbdctl and never
 * reads xenstore itself:
 *   vbdctl complete domains      guest1, guest2, ..., then 0, 1, 2, ...
 *   vbdctl complete vdevs guest1 xvda, xvdb, ...
 * Not in --help: it is for the completion script.  On any failure it prints
 * nothing, says nothing (a completion must not write over the command
 * line) and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "vbd/status.h"

#include "vbdctl.h"

/* Every domain under /local/domain: the names first (what people type),
 * then the ids. */
static int domains(void)
{
	struct xs_handle *xs = xs_open(0);
	char **ids = NULL, path[64];
	unsigned n = 0, i;
	int ret = VBDCTL_EXIT_FAIL;

	if (!xs)
		return ret;
	if (!(ids = xs_directory(xs, XBT_NULL, "/local/domain", &n)))
		goto out;
	for (i = 0; i < n; i++) {
		unsigned len;
		char *name;

		snprintf(path, sizeof(path), "/local/domain/%s/name", ids[i]);
		if ((name = xs_read(xs, XBT_NULL, path, &len))) {
			/* A name a guest could set to anything: one line, shown as is
			 * only when it has no space or control character. */
			if (len && strcspn(name, " \t\r\n\\'\"$`") == len)
				printf("%s\n", name);
			free(name);
		}
	}
	for (i = 0; i < n; i++)
		printf("%s\n", ids[i]);
	ret = VBDCTL_EXIT_OK;
out:
	free(ids);
	xs_close(xs);
	return ret;
}

static int vdevs(const char *dom)
{
	vbd_ctx_options o = VBD_CTX_OPTIONS_INIT;
	vbd_dev_info *v = NULL;
	vbd_ctx *c = NULL;
	vbd_domid id;
	size_t n = 0, i;
	int ret = VBDCTL_EXIT_FAIL;

	if (vbd_ctx_new(&c, &o, NULL) < 0)
		return ret;
	if (vbd_ctx_domain_lookup(c, dom, &id) < 0 || vbd_dev_list(c, id, -1, &v, &n) < 0)
		goto out;
	for (i = 0; i < n; i++)
		printf("%s\n", v[i].vdev);
	ret = VBDCTL_EXIT_OK;
out:
	vbd_dev_info_free(v, n);
	vbd_ctx_free(c);
	return ret;
}

int vbdctl_complete(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "domains"))
		return domains();
	if (argc == 3 && !strcmp(argv[1], "vdevs"))
		return vdevs(argv[2]);
	return VBDCTL_EXIT_USAGE;
}
