/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBD_LIB_SCRIPT_H
#define VBD_LIB_SCRIPT_H

#include "util/err.h"

/* Runs a hotplug script as libxl does: argv {script, verb}, environment
 * XENBUS_PATH=<xenbus_path> (relative to the backend domain's home),
 * XENBUS_TYPE=vbd, XENBUS_BASE_PATH=backend, script=<script>, plus the
 * caller's environment; stdin /dev/null; stdout and stderr captured.  The
 * child is followed through a pidfd and killed (SIGKILL) after timeout_ms.
 * 0 if it exited 0; -ETIMEDOUT, or -EIO for another exit, with what it
 * printed in err. */
int vbd__run_hotplug_script(const char *script, const char *verb, const char *xenbus_path,
                            unsigned timeout_ms, vbd_errbuf *err);

#endif
