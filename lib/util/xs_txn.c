/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <time.h>

#include "util/xs_txn.h"

int vbd__xs_txn(struct xs_handle *xs, unsigned tries, vbd__txn_body body, void *ud)
{
	unsigned try;

	for (try = 0; try < tries; try++) {
		xs_transaction_t t = xs_transaction_start(xs);
		int r;

		if (t == XBT_NULL)
			return -(errno ? errno : EIO);
		r = body(xs, t, ud);
		if (r != 0) {
			int e = errno;
			xs_transaction_end(xs, t, true);
			errno = e;
			return r;
		}
		if (xs_transaction_end(xs, t, false))
			return 0;
		if (errno != EAGAIN)
			return -(errno ? errno : EIO);
		{
			struct timespec ts = { 0, (long)(try < 20 ? try : 20) * 500000L };
			nanosleep(&ts, NULL);
		}
	}
	return -EAGAIN;
}
