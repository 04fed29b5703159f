/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VBD_UTIL_XS_TXN_H
#define VBD_UTIL_XS_TXN_H

#include <xenstore.h>

/* The body of a transaction: < 0 aborts with that error, 0 commits, > 0
 * aborts and is returned as it is (nothing to write after all). */
typedef int (*vbd__txn_body)(struct xs_handle *xs, xs_transaction_t t, void *ud);

/* Runs body in a transaction and commits, redoing the whole transaction on
 * EAGAIN up to tries times, with a short growing pause so that racing
 * writers spread out.  Returns body's result (0 after the commit), -errno of
 * a failed start or commit, or -EAGAIN when every try conflicted. */
int vbd__xs_txn(struct xs_handle *xs, unsigned tries, vbd__txn_body body, void *ud);

#endif
