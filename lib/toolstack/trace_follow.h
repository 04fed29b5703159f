/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The verifier's source when the store offers its change trace: the trace
 * connection is one more fd of the context, and each change goes to a
 * checker (vbd_checker_*), whose reports go to the sink's callback from
 * vbd_ctx_process(), as the watch follower's do.
 */
#ifndef VBD_TOOLSTACK_TRACE_FOLLOW_H
#define VBD_TOOLSTACK_TRACE_FOLLOW_H

#include "toolstack/ctx.h"
#include "toolstack/verify_rules.h"
#include "vbd/verify.h"

typedef struct vbd__trace_follower vbd__trace_follower;

/* Subscribes to the trace of the store the context's bus is connected to,
 * and checks the VBDs of domid (-1: all).  -EOPNOTSUPP when the store does
 * not offer it (a real xenstored), -EACCES when it refuses this client (not
 * dom0), other -errno when it could not ask: the caller then follows
 * watches. */
int vbd__trace_follower_new(vbd_ctx *c, int domid, const vbd__vsink *sink,
                            vbd__trace_follower **ret);
vbd__trace_follower *vbd__trace_follower_free(vbd__trace_follower *f);

#endif
