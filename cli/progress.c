/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The line an attach or detach keeps on a terminal while it waits: what it
 * waits for, both ends' states, the time so far, redrawn in place ("\r",
 * then erase to the end of the line) at each report of the library
 * (vbd_dev_progress) and once a second, and erased when the operation
 * ends, so that the terminal is left as if it had never been there:
 *   attach xvdb to domain 1 (3s): waiting for both ends Connected,
 *   backend InitWait, frontend Initialising
 * Only when standard error is a terminal and not --quiet: a pipe or a
 * file gets nothing of it.  Any other line written to stderr meanwhile
 * (the library's log under --verbose, an error) erases it first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "vbdctl.h"

/* The one being shown, for vbdctl_progress_hide() from the log. */
static struct vbdctl_progress *shown;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void vbdctl_progress_init(struct vbdctl_progress *p, const char *fmt, ...)
{
	va_list ap;

	memset(p, 0, sizeof(*p));
	p->on = vbdctl_verbosity >= 0 && isatty(STDERR_FILENO);
	p->start_ms = now_ms();
	va_start(ap, fmt);
	vsnprintf(p->what, sizeof(p->what), fmt, ap);
	va_end(ap);
}

static const char *state(int s)
{
	return s < 0 ? "absent" : vbd_state_name(s);
}

static void draw(struct vbdctl_progress *p)
{
	struct winsize ws;
	size_t cols = 80, len = 0;
	char *line = NULL;
	FILE *f;

	if (!p->on || !p->have)
		return;
	if (!(f = open_memstream(&line, &len)))
		return;
	fprintf(f, "%s (%llus): %swaiting for ", p->what,
	        (unsigned long long)((now_ms() - p->start_ms) / 1000),
	        p->step == VBD_DEV_STEP_ROLLBACK ? "rolling back, " : "");
	/* The library's words name a script path, which may be anything. */
	vbdctl_escape(f, p->waiting_for, strlen(p->waiting_for));
	if (p->step == VBD_DEV_STEP_WAIT)
		fprintf(f, ", backend %s, frontend %s", state(p->backend_state),
		        state(p->frontend_state));
	if (fclose(f) != 0) {
		free(line);
		return;
	}
	/* A line longer than the terminal wraps, and "\r" would then go back
	 * to its last piece only: cut it, at a character's start. */
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		cols = ws.ws_col;
	if (len > cols - 1) {
		len = cols - 1;
		while (len && ((unsigned char)line[len] & 0xc0) == 0x80)
			len--;
	}
	fprintf(stderr, "\r\033[K%.*s", (int)len, line);
	fflush(stderr);
	free(line);
	p->drawn = true;
	shown = p;
}

void vbdctl_progress_fn(vbd_ctx *c, const vbd_dev_progress *r, void *ud)
{
	struct vbdctl_progress *p = ud;

	(void)c;
	/* Fields past r->size are a newer library's; these are all version 1's. */
	p->have = true;
	p->step = r->step;
	p->backend_state = r->backend_state;
	p->frontend_state = r->frontend_state;
	snprintf(p->waiting_for, sizeof(p->waiting_for), "%s",
	         r->waiting_for ? r->waiting_for : "the operation");
	draw(p);
}

int vbdctl_progress_timeout(const struct vbdctl_progress *p, int timeout_ms)
{
	int next;

	if (!p || !p->on || !p->have)
		return timeout_ms;
	/* The next whole second of the time shown. */
	next = (int)(1000 - (now_ms() - p->start_ms) % 1000);
	return timeout_ms < 0 || next < timeout_ms ? next : timeout_ms;
}

void vbdctl_progress_tick(struct vbdctl_progress *p)
{
	if (p)
		draw(p);
}

void vbdctl_progress_hide(void)
{
	if (!shown || !shown->drawn)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	shown->drawn = false;
}

void vbdctl_progress_end(struct vbdctl_progress *p)
{
	if (p && shown == p) {
		vbdctl_progress_hide();
		shown = NULL;
	}
	if (p)
		p->on = false;
}
