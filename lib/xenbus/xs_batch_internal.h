/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A batch as xs_batch_rec.c records it and xs_batch.c sends it: the
 * messages back to back, and for each request what its reply is checked
 * against.  Internal to those two files.
 */
#ifndef VBD_LIB_XENBUS_XS_BATCH_INTERNAL_H
#define VBD_LIB_XENBUS_XS_BATCH_INTERNAL_H

#include "xenbus/xenbus.h"

#define HDR sizeof(struct xsd_sockmsg)

typedef struct batch_op {
	size_t off;         /* of its message (header, payload) in msgs */
	size_t path_off;    /* of its path, in msgs too */
	unsigned flags;
	vbd__xb_check_fn check;   /* a READ whose value decides: or NULL */
	vbd__xb_dir_fn dir;       /* a DIRECTORY whose names decide: or NULL */
	void *check_ud;
	size_t exp_off;     /* VBD__XB_OP_SAME: the answer expected, in exp */
	uint32_t exp_len;   /* NO_NODE: ENOENT expected */
} batch_op;

#define NO_NODE UINT32_MAX
/* The window ends after this request (vbd__xb_batch_wait()). */
#define OP_WAIT 0x100u

struct vbd__xb_batch {
	batch_op ops[VBD__XB_BATCH_MAX];
	unsigned n;
	char *msgs;         /* the messages, back to back, as they are sent */
	size_t len, cap;
	char *exp;          /* the answers VBD__XB_OP_SAME requests expect */
	size_t elen, ecap;
};

/* Empties b for recording again, its buffers kept (xs_batch_rec.c). */
void vbd__xb_batch_clear(vbd__xb_batch *b);

#endif
