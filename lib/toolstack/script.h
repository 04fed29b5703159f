/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBD_LIB_SCRIPT_H
#define VBD_LIB_SCRIPT_H

#include "toolstack/ctx.h"

typedef struct vbd__script vbd__script;
/* r: 0 if it exited 0, else -ETIMEDOUT or -EIO with the message in c->err. */
typedef void (*vbd__script_done_fn)(vbd_ctx *c, int r, void *ud);

/* Starts a hotplug script as libxl does: argv {script, verb}, environment
 * XENBUS_PATH=<xenbus_path> (relative to the backend domain's home),
 * XENBUS_TYPE=vbd, XENBUS_BASE_PATH=backend, script=<script>, plus the
 * caller's environment; stdin /dev/null; stdout and stderr captured (the
 * tail goes into the message).  The child is followed through a pidfd in
 * the context's loop and killed (SIGKILL) after timeout_ms; done runs from
 * vbd_ctx_process() once it has been reaped.  On failure to start, a
 * negative errno (message in c->err) and done is never called. */
int vbd__script_start(vbd_ctx *c, const char *script, const char *verb, const char *xenbus_path,
                      unsigned timeout_ms, vbd__script_done_fn done, void *ud, vbd__script **ret);
/* 0 if script is a regular file this process may execute, else -ENOENT,
 * -EACCES or -errno with the message in c->err. */
int vbd__script_check(vbd_ctx *c, const char *script);
/* Kills and reaps the child; done is not called. */
void vbd__script_cancel(vbd__script *s);

#endif
