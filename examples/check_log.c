/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * check_log: judge the VBD handshakes in a xenstored log, as a driver
 * author's test harness would (what `vbdctl verify --log` does, through the
 * public API).
 *
 *   check_log FILE      a C xenstored trace (xenstored -T FILE) or an
 *                       oxenstored access log
 *
 * Each state change and each violation is printed with the domain that
 * wrote it; the exit status is 0 when every device passes with its history
 * whole, 1 when a rule was broken, 3 when the log could not tell everything
 * (the handshake was not seen whole, so "no violation" is no pass), 2 when
 * the file could not be read as a log.
 */
#include <stdio.h>
#include <string.h>

#include <vbd/common.h>
#include <vbd/verify.h>

static void report(const vbd_verify_event *e, void *ud)
{
	(void)ud;
	/* Values came from other domains: a real tool escapes them before a
	 * terminal (vbdctl does); this one prints only the rule's name and
	 * numbers, and the node, which the checker has bounded. */
	if (e->v)
		printf("dom %u device %u: %s violated at %s (written by dom %d)\n", e->domid, e->devid,
		       e->v->rule, e->v->node, e->writer);
	else if (e->old_state != e->new_state)
		printf("dom %u device %u: %s %s -> %s (written by dom %d)\n", e->domid, e->devid, e->side,
		       e->old_state < 0 ? "(none)" : vbd_state_name(e->old_state),
		       e->new_state < 0 ? "(gone)" : vbd_state_name(e->new_state), e->writer);
}

int main(int argc, char **argv)
{
	vbd_checker_summary ks = { .size = sizeof(ks) };
	vbd_xslog_summary ls = { .size = sizeof(ls) };
	vbd_checker *k = NULL;
	vbd_xslog *x = NULL;
	char buf[65536];
	size_t n;
	int ret = 2;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	if (!(f = fopen(argv[1], "r"))) {
		perror(argv[1]);
		return 2;
	}
	/* Domain 0 is the toolstack's: its writes of a driver's state break
	 * the writer rule. */
	if (vbd_checker_new(VBD_DOMID_ALL, 0, report, NULL, &k) < 0 ||
	    vbd_xslog_new(k, VBD_XSLOG_AUTO, &x) < 0)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (vbd_xslog_feed(x, buf, n) < 0)
			goto out;
	if (ferror(f) || vbd_xslog_finish(x, &ls) < 0 || vbd_checker_summary_get(k, &ks) < 0)
		goto out;
	printf("%u devices, %u violations, %u transitions unobserved, %llu things the log could "
	       "not tell, %llu lines not understood\n", ks.devices, ks.violations, ks.unobserved,
	       (unsigned long long)ls.unknown, (unsigned long long)ls.unparsed);
	ret = ks.violations ? 1 : ks.unobserved || ks.lost || ls.unknown || ls.unparsed ? 3 : 0;
out:
	if (ret == 2)
		fprintf(stderr, "%s: not a xenstored log this can read\n", argv[1]);
	vbd_xslog_free(x);
	vbd_checker_free(k);
	fclose(f);
	return ret;
}
