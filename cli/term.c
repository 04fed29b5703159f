/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What vbdctl prints for a person goes through here, escaped.
 *
 * Much of it is text a guest or a driver domain wrote (error nodes, states,
 * keys, a script's words), and a terminal obeys what it is sent: ESC ]0;
 * renames the window, ESC [2J clears it, a newline starts a fake "PASS"
 * line, U+202E turns the rest of a line around.  So every byte that is not
 * part of a printable UTF-8 character is shown as \xNN:
 *   "\e[2Jok\n"  ->  \x1b[2Jok\x0a
 * C0 controls and DEL, C1 controls (U+0080..U+009F), bytes that are not
 * valid UTF-8, and the bidi controls (U+200E, U+200F, U+202A..U+202E,
 * U+2066..U+2069).  Escaping the whole formatted line, not chosen
 * arguments, leaves no argument to forget; a line's own end is written
 * after the escaping.  JSON output does not come here: yajl escapes it,
 * and the library writes U+FFFD for bytes that are not UTF-8.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbdctl.h"

/* The length of the printable UTF-8 character at s (n bytes left), or 0. */
static size_t utf8_printable(const unsigned char *s, size_t n)
{
	unsigned cp;
	size_t len, i;

	if (s[0] >= 0x20 && s[0] < 0x7f)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, past U+10FFFF: not UTF-8. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (cp <= 0x9f)                                   /* C1 */
		return 0;
	if (cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069))
		return 0;
	return len;
}

void vbdctl_escape(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		k = utf8_printable(p + i, n - i);
		if (k) {
			fwrite(p + i, 1, k, f);
			i += k;
		} else {
			fprintf(f, "\\x%02x", p[i]);
			i++;
		}
	}
}

/* Formats, escapes all of it but one final newline, writes. */
static void vprint(FILE *f, const char *prefix, bool newline, const char *fmt, va_list ap)
{
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	bool nl = newline;

	if (n < 0)
		return;
	if (n > 0 && s[n - 1] == '\n') {
		nl = true;
		n--;
	}
	if (prefix)
		fputs(prefix, f);
	vbdctl_escape(f, s, (size_t)n);
	if (nl)
		fputc('\n', f);
	free(s);
}

void vbdctl_print(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(stdout, NULL, false, fmt, ap);
	va_end(ap);
}

void vbdctl_print_at(int level, const char *fmt, ...)
{
	va_list ap;

	vbdctl_journal_prefix(stdout, level);
	va_start(ap, fmt);
	vprint(stdout, NULL, false, fmt, ap);
	va_end(ap);
}

void vbdctl_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	vbdctl_progress_hide();
	vbdctl_journal_prefix(stderr, VBD_LOG_ERR);
	va_start(ap, fmt);
	vprint(stderr, "vbdctl: ", true, fmt, ap);
	va_end(ap);
}

void vbdctl_log(const char *prefix, const char *msg)
{
	vbdctl_log_at(-1, prefix, msg);
}

void vbdctl_log_at(int level, const char *prefix, const char *msg)
{
	vbdctl_progress_hide();
	vbdctl_journal_prefix(stderr, level);
	fputs(prefix, stderr);
	vbdctl_escape(stderr, msg, strlen(msg));
	fputc('\n', stderr);
}
