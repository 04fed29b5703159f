/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBD_UTIL_ERR_H
#define VBD_UTIL_ERR_H

#include "vbd/error.h"

/* Formats into e (if not NULL) and returns r, so that a failure path reads
 *     return vbd__errf(err, -ENOENT, "target %s: no such file", path);
 * An existing message is kept as the cause: "new: old". */
int vbd__errf(vbd_errbuf *e, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
