/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * timeline.c: a picture of devices' handshakes from the verifier's reports
 * (vbd_verify_event), for vbdctl verify --timeline and watch --timeline:
 * rows on a terminal as the reports come, and an SVG file of the whole.
 *
 * Ownership: the timeline copies what it keeps of each event; the FILE it
 * draws on stays the caller's.  Not thread-safe: one caller at a time.
 */
#ifndef VBDCTL_TIMELINE_H
#define VBDCTL_TIMELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vbd/verify.h"

struct vbdctl_timeline;

/* The rows go to term as each event is added (NULL: none, an SVG only);
 * colour: ANSI colours on those rows.  -ENOMEM. */
int vbdctl_timeline_new(FILE *term, bool colour, struct vbdctl_timeline **ret);
/* Whether rows on f should have colour: f is a terminal, $NO_COLOR is not
 * set and $TERM is set and not "dumb". */
bool vbdctl_timeline_want_colour(FILE *f);
/* One report, drawn now.  An event with neither seq nor time_ns is a
 * reader's (vbd/verify.h): its time is now_ns, the time it was read (0:
 * the clock's now), and its writer unknown whatever it says. */
void vbdctl_timeline_add(struct vbdctl_timeline *t, const vbd_verify_event *e, int64_t now_ns);
/* A source's "lost n changes" at now_ns (0: now): drawn across all lanes. */
void vbdctl_timeline_lost(struct vbdctl_timeline *t, uint64_t n, int64_t now_ns);
/* The SVG picture of everything added so far, to path (written whole, then
 * renamed into place).  -errno. */
int vbdctl_timeline_svg(const struct vbdctl_timeline *t, const char *path);
struct vbdctl_timeline *vbdctl_timeline_free(struct vbdctl_timeline *t);

#endif
