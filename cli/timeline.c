/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The handshake as a picture: each device's two ends as two lanes, one row
 * per change, time flowing down.  An attach seen whole by the change stream:
 *
 *        time device       backend           frontend          writer
 *       0.000 dom1 xvdb    Initialising                        dom0
 *       0.001 dom1 xvdb    |                 Initialising      dom0
 *       0.004 dom1 xvdb    InitWait          |                 dom0
 *       0.009 dom1 xvdb    |                 Initialised       dom1
 *
 * and what a late reader saw of it: the states it could not read are rows
 * of their own, marked "?", without a time; a violation is an X in the lane
 * where it happened, its rule and node on the lines below:
 *
 *           ? dom1 xvdb    ? InitWait        |                          not observed
 *      ~0.052 dom1 xvdb    Connected         |                 ?
 *      ~0.052 dom1 xvdb    |                 X                 ?
 *             !! frontend-early at /local/domain/1/device/vbd/51728/state:
 *                Connected while the backend is Initialising
 *
 * A "~" time is when vbdctl read the state, not when it was written (a
 * reader knows no commit time, nor the writer: "?").  Down, not across: a
 * terminal appends lines, so watch draws each change as it comes, on a
 * pipe or in a log too, and any number of changes fits 80 columns; a time
 * axis across would need the whole history first and overflow the width.
 *
 * The SVG has time across (the whole is known by then): one column per
 * change, each labelled with its time, since a handshake's steps come
 * milliseconds apart and then nothing for minutes, and on a true scale they
 * would fall on one pixel.
 *
 * Everything that came from xenstore (nodes, details) is escaped as every
 * terminal line is (term.c), and in the SVG escaped again for XML.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vbd/disk.h"
#include "timeline.h"
#include "vbdctl.h"

#define TL_WIDTH 80
#define TL_MAX_ITEMS 100000   /* kept for the SVG; the terminal draws all */

/* TL_GONE: a device's changes were lost (a source's gap, or a node its
 * checker could not hold): both ends' states unknown until the next. */
enum tl_kind { TL_STEP, TL_UNSEEN, TL_WRITES, TL_VIOLATION, TL_LOST, TL_GONE };

struct tl_dev {
	vbd_domid domid;
	uint32_t devid;
	char name[40];          /* "dom1 xvdb" */
	int state[2];           /* backend, frontend as drawn: -1 none, -2 unknown */
};

struct tl_item {
	enum tl_kind kind;
	size_t dev;             /* index in devs (not for TL_LOST) */
	int side;               /* 0 backend, 1 frontend */
	int state;              /* STEP: new (-1 gone); UNSEEN: the state */
	unsigned writes;        /* WRITES */
	uint64_t lost;          /* LOST */
	int writer;             /* -1 unknown */
	int64_t time_ns;        /* 0 unknown */
	bool approx;            /* time_ns is when it was read */
	char *rule, *node, *detail;   /* VIOLATION, as received */
};

struct vbdctl_timeline {
	FILE *term;
	bool colour, header;
	int64_t t0;
	struct tl_dev *devs;
	size_t ndevs, capdevs;
	struct tl_item *items;
	size_t nitems, capitems;
	uint64_t dropped;       /* items not kept for the SVG */
};

static const char *const side_name[2] = { "backend", "frontend" };

static int64_t now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int vbdctl_timeline_new(FILE *term, bool colour, struct vbdctl_timeline **ret)
{
	struct vbdctl_timeline *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->term = term;
	t->colour = colour;
	*ret = t;
	return 0;
}

bool vbdctl_timeline_want_colour(FILE *f)
{
	const char *term = getenv("TERM");

	return isatty(fileno(f)) && !getenv("NO_COLOR") && term && *term && strcmp(term, "dumb") != 0;
}

static void item_done(struct tl_item *it)
{
	free(it->rule);
	free(it->node);
	free(it->detail);
}

struct vbdctl_timeline *vbdctl_timeline_free(struct vbdctl_timeline *t)
{
	size_t i;

	if (!t)
		return NULL;
	for (i = 0; i < t->nitems; i++)
		item_done(&t->items[i]);
	free(t->items);
	free(t->devs);
	free(t);
	return NULL;
}

/* ---- escaping ---- */

/* s (n bytes) as a terminal line shows it (term.c): a new string, or NULL. */
static char *esc(const char *s, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m)
		return NULL;
	vbdctl_escape(m, s, n);
	if (fclose(m) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Columns an escaped string takes: one per character (the escaped text is
 * printable UTF-8 only). */
static size_t cols(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* The byte length of the first w characters of s, moved back so that it
 * does not split a "\xNN" escape. */
static size_t fit(const char *s, size_t w)
{
	size_t i = 0, c = 0, k;

	while (s[i] && c < w) {
		i++;
		while (((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		c++;
	}
	if (!s[i])
		return i;
	for (k = 1; k <= 3 && k <= i; k++)
		if (s[i - k] == '\\' && s[i - k + 1] == 'x' && i - k > 0)
			return i - k;
	return i;
}

/* s (escaped) from column at, wrapped at TL_WIDTH, continued at column
 * indent. */
static void put_wrapped(FILE *f, const char *s, size_t at, size_t indent)
{
	while (*s) {
		size_t room = at < TL_WIDTH ? TL_WIDTH - at : 1, n;

		if (cols(s) <= room) {
			fputs(s, f);
			break;
		}
		n = fit(s, room);
		if (!n)
			n = fit(s, room + 3);
		fwrite(s, 1, n, f);
		fprintf(f, "\n%*s", (int)indent, "");
		s += n;
		at = indent;
	}
	fputc('\n', f);
}

/* ---- the terminal ---- */

static void put_cell(FILE *f, const char *s, size_t w)
{
	size_t n = cols(s);

	fputs(s, f);
	fprintf(f, "%*s", (int)(n < w ? w - n : 0), "");
}

static void fmt_time(const struct vbdctl_timeline *t, const struct tl_item *it, char *buf, size_t size)
{
	if (!it->time_ns)
		snprintf(buf, size, "?");
	else
		snprintf(buf, size, "%s%.3f", it->approx ? "~" : "", (double)(it->time_ns - t->t0) / 1e9);
}

static void fmt_writer(const struct tl_item *it, char *buf, size_t size)
{
	if (it->kind == TL_UNSEEN || it->kind == TL_WRITES || it->kind == TL_GONE)
		snprintf(buf, size, "%s", "");
	else if (it->writer < 0)
		snprintf(buf, size, "?");
	else
		snprintf(buf, size, "dom%d", it->writer);
}

#define C_RED "\033[1;31m"
#define C_YELLOW "\033[33m"
#define C_BOLD "\033[1m"
#define C_OFF "\033[0m"

static void draw(struct vbdctl_timeline *t, const struct tl_item *it)
{
	FILE *f = t->term;
	char tm[32], wr[24], cell[2][40];
	const char *colour = NULL;
	struct tl_dev *d;
	int s;

	if (!f)
		return;
	if (!t->header) {
		t->header = true;
		fprintf(f, "%s%9s %-13s %-17s %-17s %s%s\n", t->colour ? C_BOLD : "", "time", "device",
		        "backend", "frontend", "writer", t->colour ? C_OFF : "");
	}
	fmt_time(t, it, tm, sizeof(tm));
	if (it->kind == TL_LOST) {
		if (t->colour)
			fputs(C_YELLOW, f);
		fprintf(f, "%9s ~~ the source lost %llu change%s here: states may be missing ~~", tm,
		        (unsigned long long)it->lost, it->lost == 1 ? "" : "s");
		fprintf(f, "%s\n", t->colour ? C_OFF : "");
		return;
	}
	d = &t->devs[it->dev];
	for (s = 0; s < 2; s++)
		snprintf(cell[s], sizeof(cell[s]), "%s", d->state[s] >= 0 ? "|" : d->state[s] == -2 ? ":" : "");
	s = it->side;
	switch (it->kind) {
	case TL_STEP:
		snprintf(cell[s], sizeof(cell[s]), "%s", it->state < 0 ? "(gone)" : vbd_state_name(it->state));
		break;
	case TL_UNSEEN:
		snprintf(cell[s], sizeof(cell[s]), "? %s", vbd_state_name(it->state));
		colour = C_YELLOW;
		break;
	case TL_WRITES:
		snprintf(cell[s], sizeof(cell[s]), "~ %u write%s", it->writes, it->writes == 1 ? "" : "s");
		colour = C_YELLOW;
		break;
	case TL_VIOLATION:
		snprintf(cell[s], sizeof(cell[s]), "X");
		colour = C_RED;
		break;
	case TL_GONE:
		snprintf(cell[0], sizeof(cell[0]), "~ changes lost");
		snprintf(cell[1], sizeof(cell[1]), "~ changes lost");
		colour = C_YELLOW;
		break;
	case TL_LOST:
		break;
	}
	fmt_writer(it, wr, sizeof(wr));
	if (t->colour && colour)
		fputs(colour, f);
	fprintf(f, "%9s ", tm);
	put_cell(f, d->name, 13);
	fputc(' ', f);
	put_cell(f, cell[0], 17);
	fputc(' ', f);
	put_cell(f, cell[1], 17);
	fputc(' ', f);
	fputs(it->kind == TL_UNSEEN || it->kind == TL_WRITES || it->kind == TL_GONE ? "not observed" : wr, f);
	if (it->kind == TL_VIOLATION) {
		char *rule = esc(it->rule, strlen(it->rule)), *node = esc(it->node, strlen(it->node));
		char *detail = esc(it->detail, strlen(it->detail));

		fputc('\n', f);
		fprintf(f, "%10s!! ", "");
		if (rule && node && detail) {
			char *line = NULL;

			if (asprintf(&line, "%s at %s:", rule, node) >= 0) {
				put_wrapped(f, line, 13, 15);
				free(line);
			}
			fprintf(f, "%13s", "");
			put_wrapped(f, detail, 13, 15);
		} else {
			fputs("(out of memory)\n", f);
		}
		free(rule);
		free(node);
		free(detail);
		if (t->colour)
			fputs(C_OFF, f);
	} else {
		fprintf(f, "%s\n", t->colour && colour ? C_OFF : "");
	}
	if (it->kind == TL_STEP || (it->kind == TL_WRITES && it->state < 0))
		d->state[s] = it->state;     /* writes then gone: the end is gone */
	if (it->kind == TL_GONE)
		for (s = 0; s < 2; s++)
			if (d->state[s] >= 0)
				d->state[s] = -2;
	fflush(f);
}

/* ---- collecting ---- */

static struct tl_dev *find_dev(struct vbdctl_timeline *t, vbd_domid domid, uint32_t devid, size_t *ret)
{
	size_t i;
	char vdev[32];

	for (i = 0; i < t->ndevs; i++)
		if (t->devs[i].domid == domid && t->devs[i].devid == devid) {
			*ret = i;
			return &t->devs[i];
		}
	if (t->ndevs == t->capdevs) {
		size_t cap = t->capdevs ? t->capdevs * 2 : 8;
		struct tl_dev *nd = realloc(t->devs, cap * sizeof(*nd));

		if (!nd)
			return NULL;
		t->devs = nd;
		t->capdevs = cap;
	}
	if (vbd_devid_to_vdev(devid, vdev, sizeof(vdev)) < 0)
		snprintf(vdev, sizeof(vdev), "%u", devid);
	t->devs[t->ndevs] = (struct tl_dev){ .domid = domid, .devid = devid, .state = { -1, -1 } };
	snprintf(t->devs[t->ndevs].name, sizeof(t->devs[t->ndevs].name), "dom%u %s", domid, vdev);
	*ret = t->ndevs;
	return &t->devs[t->ndevs++];
}

/* Draws it and keeps it for the SVG (a copy, strings included). */
static void push(struct vbdctl_timeline *t, struct tl_item *it)
{
	if (!t->t0 && it->time_ns)
		t->t0 = it->time_ns;
	draw(t, it);
	if (t->nitems >= TL_MAX_ITEMS)
		goto drop;
	if (t->nitems == t->capitems) {
		size_t cap = t->capitems ? t->capitems * 2 : 64;
		struct tl_item *ni = realloc(t->items, cap * sizeof(*ni));

		if (!ni)
			goto drop;
		t->items = ni;
		t->capitems = cap;
	}
	if (it->kind == TL_VIOLATION) {
		it->rule = strdup(it->rule);
		it->node = strdup(it->node);
		it->detail = strdup(it->detail);
		if (!it->rule || !it->node || !it->detail) {
			item_done(it);
			goto drop;
		}
	}
	t->items[t->nitems++] = *it;
	return;
drop:
	t->dropped++;
}

void vbdctl_timeline_add(struct vbdctl_timeline *t, const vbd_verify_event *e, int64_t now_ns)
{
	/* A reader's report: neither a commit's place nor its time (vbd/verify.h). */
	bool reader = e->seq == 0 && e->time_ns == 0;
	struct tl_item it = { .writer = reader ? -1 : e->writer, .time_ns = e->time_ns };
	size_t dev;
	int s;

	if (!find_dev(t, e->domid, e->devid, &dev)) {
		t->dropped++;
		return;
	}
	it.dev = dev;
	if (reader) {
		it.time_ns = now_ns ? now_ns : now_realtime();
		it.approx = true;
	}
	if (e->v) {
		it.kind = TL_VIOLATION;
		if (e->side)
			it.side = strcmp(e->side, "backend") != 0;
		else
			it.side = strstr(e->v->node, "/backend/") == NULL;
		it.rule = (char *)(e->v->rule ? e->v->rule : "?");
		it.node = (char *)e->v->node;
		it.detail = (char *)e->v->detail;
		push(t, &it);
		return;
	}
	it.side = !e->side || strcmp(e->side, "backend") != 0;
	/* The states it passed without being read: a row each, no time, no writer. */
	for (s = 0; s <= VBD_STATE_RECONFIGURED; s++)
		if (e->unseen & (1u << s)) {
			struct tl_item u = { .kind = TL_UNSEEN, .dev = dev, .side = it.side, .state = s,
			                     .writer = -1 };

			push(t, &u);
		}
	if (e->old_state != e->new_state) {
		it.kind = TL_STEP;
		it.state = e->new_state;
		push(t, &it);
	} else if (!e->unseen && e->writes) {
		it.kind = TL_WRITES;
		it.state = e->new_state;
		it.writes = e->writes;
		if (reader)
			it.time_ns = 0;      /* they happened before it read, when is unknown */
		push(t, &it);
	} else if (!e->unseen && e->unobserved) {
		/* Nothing read changed, yet something was not observed: the
		 * device's changes were lost (a checker's report of a gap). */
		it.kind = TL_GONE;
		push(t, &it);
	}
}

void vbdctl_timeline_lost(struct vbdctl_timeline *t, uint64_t n, int64_t now_ns)
{
	struct tl_item it = { .kind = TL_LOST, .lost = n, .writer = -1,
	                      .time_ns = now_ns ? now_ns : now_realtime() };

	push(t, &it);
}

/* ---- the SVG ---- */

#define SVG_LEFT 150
#define SVG_TOP 40
#define SVG_COLW 112
#define SVG_LANEH 34
#define SVG_DEVGAP 22

/* Text that came from anywhere, escaped for a terminal (no control
 * character is left, nor invalid UTF-8) and then for XML; U+FFFE and U+FFFF,
 * which XML does not allow either, shown as their bytes. */
static void xml_text(FILE *f, const char *s)
{
	char *e = esc(s, strlen(s));
	const unsigned char *p;

	if (!e) {
		fputs("(out of memory)", f);
		return;
	}
	for (p = (const unsigned char *)e; *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			if (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf)) {
				fprintf(f, "\\x%02x\\x%02x\\x%02x", p[0], p[1], p[2]);
				p += 2;
			} else {
				fputc(*p, f);
			}
		}
	}
	free(e);
}

static int lane_y(size_t dev, int side)
{
	return SVG_TOP + (int)dev * (2 * SVG_LANEH + SVG_DEVGAP) + side * SVG_LANEH;
}

static int col_x(size_t col)
{
	return SVG_LEFT + (int)col * SVG_COLW;
}

static void svg_segment(FILE *f, size_t dev, int side, int state, int writer, size_t from, size_t to)
{
	int x = col_x(from), y = lane_y(dev, side);

	if (state < 0 || to <= from)
		return;
	fprintf(f, "<g class=\"segment\" data-state=\"%s\"><title>%s %s", vbd_state_name(state),
	        side_name[side], vbd_state_name(state));
	if (writer >= 0)
		fprintf(f, ", written by dom%d", writer);
	fprintf(f, "</title><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"s%d\"/>"
	        "<text x=\"%d\" y=\"%d\">%s</text>", x + 1, y + 4, (int)(to - from) * SVG_COLW - 2,
	        SVG_LANEH - 8, state, x + 5, y + 17, vbd_state_name(state));
	fprintf(f, "<text class=\"writer\" x=\"%d\" y=\"%d\">%s", x + 5, y + 27, writer >= 0 ? "by " : "by ?");
	if (writer >= 0)
		fprintf(f, "dom%d", writer);
	fputs("</text></g>\n", f);
}

static const char svg_style[] =
	"<style>\n"
	"text { font-family: monospace; font-size: 11px; fill: #222; }\n"
	"text.writer { font-size: 9px; fill: #555; }\n"
	"text.label { font-size: 12px; }\n"
	"rect { stroke: #555; stroke-width: 1; fill: #ddd; }\n"
	"rect.s1 { fill: #e8eef8; } rect.s2 { fill: #cfdcf0; } rect.s3 { fill: #bcd0ee; }\n"
	"rect.s4 { fill: #a8e0a8; } rect.s5 { fill: #f4dca0; } rect.s6 { fill: #e0e0e0; }\n"
	"rect.unseen { fill: #fff; stroke-dasharray: 4 3; stroke: #a60; }\n"
	".violation circle { fill: #d22; stroke: #600; }\n"
	".violation text { fill: #fff; font-weight: bold; }\n"
	".writes path, .lost line { stroke: #a60; stroke-width: 2; fill: #fc6; stroke-dasharray: 5 3; }\n"
	".writes path { stroke-dasharray: none; }\n"
	"line.axis { stroke: #555; }\n"
	"</style>\n";

int vbdctl_timeline_svg(const struct vbdctl_timeline *t, const char *path)
{
	size_t ncols = 0, i, *col = NULL, d;
	int width, height, r = 0, s, axis_y;
	char *tmp = NULL;
	FILE *f = NULL;

	col = calloc(t->nitems ? t->nitems : 1, sizeof(*col));
	if (!col || asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		r = -ENOMEM;
		goto out;
	}
	/* A column per change; a violation goes in the column of the change
	 * that caused it. */
	for (i = 0; i < t->nitems; i++) {
		if (t->items[i].kind == TL_VIOLATION && ncols > 0)
			col[i] = ncols - 1;
		else
			col[i] = ncols++;
	}
	if (!ncols)
		ncols = 1;
	width = col_x(ncols) + 40 < 620 ? 620 : col_x(ncols) + 40;
	axis_y = lane_y(t->ndevs, 0);
	height = axis_y + 160;
	f = fopen(tmp, "we");
	if (!f) {
		r = -errno;
		goto out;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	        "viewBox=\"0 0 %d %d\">\n<title>handshake timeline: %zu device%s, %zu change%s</title>\n%s",
	        width, height, width, height, t->ndevs, t->ndevs == 1 ? "" : "s", t->nitems,
	        t->nitems == 1 ? "" : "s", svg_style);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" style=\"fill:#fff;stroke:none\"/>\n",
	        width, height);
	/* The lanes: each end's states as segments from change to change. */
	for (d = 0; d < t->ndevs; d++)
		for (s = 0; s < 2; s++) {
			int state = -1, writer = -1;
			size_t from = 0;

			fprintf(f, "<g class=\"lane\" data-device=\"%s\" data-side=\"%s\">\n", t->devs[d].name,
			        side_name[s]);
			fprintf(f, "<text class=\"label\" x=\"8\" y=\"%d\">%s %s</text>\n", lane_y(d, s) + 21,
			        s == 0 ? t->devs[d].name : "", side_name[s]);
			for (i = 0; i < t->nitems; i++) {
				const struct tl_item *it = &t->items[i];

				if (it->kind == TL_LOST || it->dev != d || (it->side != s && it->kind != TL_GONE))
					continue;
				if (it->kind == TL_STEP || it->kind == TL_UNSEEN || it->kind == TL_GONE) {
					svg_segment(f, d, s, state, writer, from, col[i]);
					state = it->kind == TL_STEP ? it->state : -1;
					writer = it->writer;
					from = col[i];
				}
				if (it->kind == TL_UNSEEN) {
					fprintf(f, "<g class=\"unseen\"><title>%s %s: not observed</title>"
					        "<rect class=\"unseen\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>"
					        "<text x=\"%d\" y=\"%d\">?%s</text></g>\n", side_name[s],
					        vbd_state_name(it->state), col_x(col[i]) + 1, lane_y(d, s) + 4,
					        SVG_COLW - 2, SVG_LANEH - 8, col_x(col[i]) + 5, lane_y(d, s) + 21,
					        vbd_state_name(it->state));
					from = col[i] + 1;
				}
				if (it->kind == TL_GONE) {
					fprintf(f, "<g class=\"gap\"><title>%s: changes lost, states unknown until "
					        "the next seen</title><rect class=\"unseen\" x=\"%d\" y=\"%d\" "
					        "width=\"%d\" height=\"%d\"/><text x=\"%d\" y=\"%d\">~lost</text></g>\n",
					        side_name[s], col_x(col[i]) + 1, lane_y(d, s) + 4, SVG_COLW - 2,
					        SVG_LANEH - 8, col_x(col[i]) + 5, lane_y(d, s) + 21);
					from = col[i] + 1;
				}
			}
			svg_segment(f, d, s, state, writer, from, ncols);
			/* Markers last, over the segments. */
			for (i = 0; i < t->nitems; i++) {
				const struct tl_item *it = &t->items[i];
				int x = col_x(col[i]) + SVG_COLW - 12, y = lane_y(d, s) + SVG_LANEH / 2;

				if (it->kind == TL_LOST || it->dev != d || it->side != s)
					continue;
				if (it->kind == TL_WRITES) {
					fprintf(f, "<g class=\"writes\"><title>%s: %u write%s not observed</title>"
					        "<path d=\"M %d %d l 8 8 l -8 8 l -8 -8 z\"/></g>\n", side_name[s],
					        it->writes, it->writes == 1 ? "" : "s", x, y - 8);
				} else if (it->kind == TL_VIOLATION) {
					fputs("<g class=\"violation\" data-rule=\"", f);
					xml_text(f, it->rule);
					fputs("\"><title>", f);
					xml_text(f, it->rule);
					fputs(": ", f);
					xml_text(f, it->node);
					fputs(": ", f);
					xml_text(f, it->detail);
					fprintf(f, "</title><circle cx=\"%d\" cy=\"%d\" r=\"9\"/>"
					        "<text x=\"%d\" y=\"%d\">!</text></g>\n", x, y, x - 3, y + 4);
				}
			}
			fputs("</g>\n", f);
		}
	for (i = 0; i < t->nitems; i++)
		if (t->items[i].kind == TL_LOST)
			fprintf(f, "<g class=\"lost\"><title>the source lost %llu change%s here</title>"
			        "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/></g>\n",
			        (unsigned long long)t->items[i].lost, t->items[i].lost == 1 ? "" : "s",
			        col_x(col[i]) + SVG_COLW / 2, SVG_TOP - 10, col_x(col[i]) + SVG_COLW / 2, axis_y);
	/* The time axis: each column's time; "~" read then, "?" not known. */
	fprintf(f, "<g class=\"axis\"><line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n",
	        SVG_LEFT, axis_y, col_x(ncols), axis_y);
	fprintf(f, "<text x=\"8\" y=\"%d\">time (s)</text>\n", axis_y + 16);
	for (i = 0; i < t->nitems; i++) {
		char tm[32];

		if (i > 0 && col[i] == col[i - 1])
			continue;
		fmt_time(t, &t->items[i], tm, sizeof(tm));
		fprintf(f, "<text x=\"%d\" y=\"%d\">%s</text>\n", col_x(col[i]) + 4, axis_y + 16, tm);
	}
	fputs("</g>\n", f);
	/* The legend. */
	fprintf(f, "<g class=\"legend\" transform=\"translate(8,%d)\">\n"
	        "<rect class=\"s4\" x=\"0\" y=\"0\" width=\"24\" height=\"14\"/>"
	        "<text x=\"30\" y=\"11\">a state, from the change that set it (by: its writer)</text>\n"
	        "<rect class=\"unseen\" x=\"0\" y=\"20\" width=\"24\" height=\"14\"/>"
	        "<text x=\"30\" y=\"31\">?state: passed through, not observed</text>\n"
	        "<g class=\"writes\"><path d=\"M 12 40 l 7 7 l -7 7 l -7 -7 z\"/></g>"
	        "<text x=\"30\" y=\"51\">writes not observed (same value read before and after)</text>\n"
	        "<g class=\"violation\"><circle cx=\"12\" cy=\"67\" r=\"7\"/></g>"
	        "<text x=\"30\" y=\"71\">a violation (its rule, node and detail as a tooltip)</text>\n"
	        "<g class=\"lost\"><line x1=\"12\" y1=\"78\" x2=\"12\" y2=\"94\"/></g>"
	        "<text x=\"30\" y=\"91\">changes the source lost (~lost: a device's states unknown "
	        "until the next seen)</text>\n"
	        "<text x=\"0\" y=\"111\">time: s from the first change; ~ when read, not written; "
	        "? unknown%s</text>\n</g>\n</svg>\n",
	        axis_y + 30, t->dropped ? "; some reports were not drawn (too many)" : "");
	if (ferror(f) | (fclose(f) != 0)) {
		f = NULL;
		r = -EIO;
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) < 0)
		r = -errno;
out:
	if (f)
		fclose(f);
	if (r < 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(col);
	return r;
}
