/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transaction-retry helper now lives in lib/xenbus (vbd__xb_txn), with
 * one retry policy for every caller; this keeps the older name for the
 * callers that still pass a count of tries, which is no longer used.
 */
#ifndef VBD_UTIL_XS_TXN_H
#define VBD_UTIL_XS_TXN_H

#include "xenbus/xenbus.h"

typedef vbd__xb_txn_body vbd__txn_body;

static inline int vbd__xs_txn(struct xs_handle *xs, unsigned tries, vbd__txn_body body, void *ud)
{
	(void)tries;
	return vbd__xb_txn(xs, body, ud);
}

#endif
