/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The verifier's rules, shared by its two users: the follower (verify.c),
 * which reads the store after watch events, and the checker
 * (verify_check.c), which reads its own copy of each device built from a
 * change stream.  The rules read nodes through one seam, a vbd__vreader:
 *
 *     vbd__vreader rd = { my_read, my_data };
 *     vbd__verify_static(&rd, be, fe, bs, fs, true, &list);
 *
 * and report through one sink (vbd__vsink), so that both run the same
 * rule code and give the same events.
 */
#ifndef VBD_TOOLSTACK_VERIFY_RULES_H
#define VBD_TOOLSTACK_VERIFY_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbd/verify.h"

typedef struct vbd__vlist {
	vbd_violation *v;
	size_t n, cap;
} vbd__vlist;

void vbd__vlist_add(vbd__vlist *l, const char *rule, const char *node, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Moves src's violations to the end of dst. */
void vbd__vlist_append(vbd__vlist *dst, vbd__vlist *src);

/* Reads the node at path: a NUL-terminated copy the caller frees, or NULL
 * when it is absent or cannot be read. */
typedef struct vbd__vreader {
	char *(*read)(void *ud, const char *path);
	void *ud;
} vbd__vreader;

/* dir/state through rd: the state, -1 absent, -2 not a state (a
 * state-value violation added to l). */
int vbd__verify_state_of(const vbd__vreader *rd, const char *dir, vbd__vlist *l);

/* The rules that look at the nodes as they are (every rule but the two
 * transition rules and writer).  whole false: only the rules on one
 * node's value run, not those that need a node written earlier (the early
 * rules, connect-keys, ring-keys), since a copy that missed changes may
 * lack it. */
void vbd__verify_static(const vbd__vreader *rd, const char *be, const char *fe, int bs, int fs,
                        bool whole, vbd__vlist *l);

/* Whether from -> to is a step of the end's way (either may be -1). */
bool vbd__verify_legal(bool backend, int from, int to);
/* The states of the end's way between from and to that went unread, after
 * writes writes (see verify.c). */
unsigned vbd__verify_unseen(bool backend, int from, int to, unsigned writes);

/* The device a path belongs to: (frontend domid, devid) from either end,
 * and where that end's directory ends in p (*dirlen) and which end it is.
 * Strict: decimal numbers without sign or leading zeros, domids below
 * VBD_DOMID_FIRST_RESERVED. */
bool vbd__verify_parse_path(const char *p, unsigned *domid, uint32_t *devid, size_t *dirlen,
                            bool *backend);

/* Where reports go: the first API's callback or events, stamped with the
 * change that caused them (writer -1, seq and time 0: not known). */
typedef struct vbd__vsink {
	vbd_verify_fn fn;
	vbd_verify_event_fn efn;
	void *ud;
	int writer;
	uint64_t seq;
	int64_t time_ns;
	unsigned violations;      /* reported so far */
} vbd__vsink;

/* Fills unobserved unless set (unobserved_set), stamps, and reports. */
void vbd__verify_emit(vbd__vsink *s, vbd_verify_event *e, bool unobserved_set);
/* Hands a report as it is to the sink's callback (efn gets every report;
 * fn the changes of a state and the violations). */
void vbd__vsink_deliver(const vbd__vsink *s, const vbd_verify_event *e);

/* The violations of one device already reported, so that a rule that
 * still fails is not reported again; one that passes and fails later is. */
typedef struct vbd__vactive {
	char **v;
	size_t n;
} vbd__vactive;

void vbd__verify_report_new(vbd__vsink *s, vbd__vactive *a, unsigned domid, uint32_t devid,
                            const vbd__vlist *l);
void vbd__vactive_done(vbd__vactive *a);

/* One end's step from *prev to now, reported with writes and unseen, and
 * judged (a transition violation added to l); *prev becomes now. */
void vbd__verify_step(vbd__vsink *s, unsigned domid, uint32_t devid, bool backend, const char *dir,
                      int *prev, int now, unsigned writes, unsigned unseen, vbd__vlist *l);

#endif
