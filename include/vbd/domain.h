/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/domain.h - a guest domain's place in xenstore.
 *
 * What a toolstack writes for a new domain before any device is attached:
 * its home, /local/domain/<domid>, laid out as libxl 4.17 does.  The home,
 * device/ and control/ belong to dom0 and the domain may read them; the
 * leaves a guest writes itself (control/shutdown, the feature flags, data/,
 * drivers/, attr/, error/ ...) belong to the domain.
 *
 *     struct xs_handle *xs = xs_open(0);
 *     xs_introduce_domain(xs, 5, 0, 0);
 *     r = vbd_domain_write_home(xs, 5, "guest5");
 *
 * Thread safety: the call uses only the handle it is given, as libxenstore
 * allows for that handle.
 */
#ifndef VBD_DOMAIN_H
#define VBD_DOMAIN_H

#include "vbd/common.h"
#include "vbd/error.h"

VBD_BEGIN_DECLS

struct xs_handle;

/* Writes the home of domain domid (1..32751) named name, in one transaction
 * retried on conflict.  A stale home of an earlier domain with that id is
 * removed first.  xs: a libxenstore handle acting as dom0 (the host's
 * xenstored or the embedded daemon).  Returns 0, -EINVAL (NULL argument or
 * a domid out of range), -EAGAIN (every try conflicted) or the -errno of the
 * failing xenstore call. */
VBD_PUBLIC int vbd_domain_write_home(struct xs_handle *xs, vbd_domid domid, const char *name);

VBD_END_DECLS

#endif
