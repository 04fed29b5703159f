/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for the hotplug step's inputs: `vbdctl hotplug [--udev]
 * add|remove` itself (cli/cmd_hotplug.c, then vbd_hotplug_udev_check() and
 * vbd_hotplug_builtin()), run with a fuzzed $XENBUS_PATH against a real
 * embedded store (in a thread, reached through $XENSTORED_PATH as the
 * command reaches the system's) holding fuzzed backend nodes, the
 * toolstack's /libxl copy, the disable_udev flag and this domain's own
 * records, as dom0 or as a driver domain (5).
 *
 * Input:
 *     u8 flags     bit 0: remove (else add); bit 1: --udev; bit 2: run as
 *                  domain 5 (its socket) instead of dom0
 *     u8 len + bytes: XENBUS_PATH (cut at a NUL, as an environment is)
 *     then nodes, until the input ends or op 0xff:
 *       u8 op      < NLEAF: <XENBUS_PATH>/<leaf[op]>, written the way the
 *                  step reads it (relative paths against the connection's
 *                  home); 0xfe: u8 len + bytes, a path of its own
 *       u8 len + bytes: the value (any bytes, NULs included); as domain
 *                  5, the node is made its own
 *
 * Oracles: the command exits 0, 1, or 2 (2 only for an empty XENBUS_PATH);
 * nothing crashes or trips ASan/UBSan; the step changes no node outside
 * the backend's directory and the records of libvbd (/libvbd,
 * /local/domain/N/data/libvbd): the whole tree is compared before and
 * after.  Then every node is removed and the store must be back to its
 * root alone.
 *
 * The step opens and binds to loop devices what params names, and frees
 * what its records name.  So that a run of the fuzzer touches nothing of
 * the machine's, an input with a value that names an existing file (as it
 * is, under /dev/, or from any '/' in it) writes its nodes but does not run
 * the step: every run ends in the step's checks or at a target that is not
 * there.  FUZZ_HOTPLUG_TRACE=1 shows the command's messages.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xenstore.h>

#include "store_fixture.h"
#include "vbdctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int vbdctl_verbosity;   /* vbdctl's main.c has it; term.c reads it */

#define DRIVER_DOM 5
#define MAX_NODES 512
#define VAL_MAX 256

static const char *const leaf[] = {
	"params", "mode", "device-type", "online", "script", "physical-device",
	"physical-device-path", "hotplug-status", "node", "hotplug-error",
	"frontend-id", "frontend", "type", "state", "domid",
};
#define NLEAF (sizeof(leaf) / sizeof(leaf[0]))

static vbd_test_store ts;
static struct xs_handle *admin;   /* dom0: sets up, audits, cleans */
static char sock[2][PATH_MAX];    /* dom0's, the driver domain's */

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_hotplug_env: %s%s%s\n", what, detail ? ": " : "",
	        detail ? detail : "");
	abort();
}

struct in {
	const uint8_t *p;
	size_t left;
};

static unsigned take8(struct in *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static size_t take_bytes(struct in *in, char *buf, size_t max)
{
	size_t n = take8(in);

	if (n > in->left)
		n = in->left;
	if (n > max)
		n = max;
	memcpy(buf, in->p, n);
	in->p += n, in->left -= n;
	buf[n] = 0;
	return n;
}

/* ---- the tree, as dom0 reads it ---- */

struct node {
	char *path;
	char *val;
	unsigned len;
};

struct tree {
	struct node n[MAX_NODES];
	unsigned count;
	bool full;
};

static void tree_walk(struct tree *t, const char *path)
{
	char **kids, child[4096];
	unsigned nk, i, len;

	if (t->count == MAX_NODES) {
		t->full = true;
		return;
	}
	t->n[t->count].path = strdup(path);
	t->n[t->count].val = xs_read(admin, XBT_NULL, path, &len);
	t->n[t->count].len = t->n[t->count].val ? len : 0;
	t->count++;
	kids = xs_directory(admin, XBT_NULL, path, &nk);
	for (i = 0; kids && i < nk; i++) {
		snprintf(child, sizeof(child), "%s/%s", strcmp(path, "/") ? path : "", kids[i]);
		tree_walk(t, child);
	}
	free(kids);
}

static void tree_free(struct tree *t)
{
	unsigned i;

	for (i = 0; i < t->count; i++) {
		free(t->n[i].path);
		free(t->n[i].val);
	}
	t->count = 0;
	t->full = false;
}

static const struct node *tree_find(const struct tree *t, const char *path)
{
	unsigned i;

	for (i = 0; i < t->count; i++)
		if (!strcmp(t->n[i].path, path))
			return &t->n[i];
	return NULL;
}

static bool under(const char *path, const char *top)
{
	size_t n = strlen(top);

	return !strcmp(top, "/") || (!strncmp(path, top, n) && (!path[n] || path[n] == '/'));
}

/* Where the step may write: its backend's directory and libvbd's records. */
static bool allowed(const char *path, const char *be_abs)
{
	const char *p;

	if (under(path, be_abs) || under(path, "/libvbd"))
		return true;
	if (strncmp(path, "/local/domain/", 14))
		return false;
	p = path + 14 + strspn(path + 14, "0123456789");
	return p != path + 14 && under(p, "/data/libvbd");
}

static void tree_compare(const struct tree *a, const struct tree *b, const char *be_abs)
{
	const struct node *o;
	unsigned i;

	for (i = 0; i < b->count; i++) {
		o = tree_find(a, b->n[i].path);
		if ((!o || o->len != b->n[i].len ||
		     (o->len && memcmp(o->val, b->n[i].val, o->len))) &&
		    !allowed(b->n[i].path, be_abs))
			die("the step wrote outside its backend and records", b->n[i].path);
	}
	for (i = 0; i < a->count; i++)
		if (!tree_find(b, a->n[i].path) && !allowed(a->n[i].path, be_abs))
			die("the step removed a node outside its backend and records",
			    a->n[i].path);
}

/* ---- the guard ---- */

static bool exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0 || stat(p, &st) == 0;
}

/* Whether value could name something of this machine's. */
static bool names_something(const char *v)
{
	char dev[VAL_MAX + 8];
	const char *s;

	if (!*v)
		return false;
	snprintf(dev, sizeof(dev), "/dev/%s", v);
	if (exists(v) || exists(dev))
		return true;
	for (s = strchr(v, '/'); s; s = strchr(s + 1, '/'))
		if (exists(s))
			return true;
	return false;
}

static int sock_fn(vbd_store *s, void *arg)
{
	return vbd_store_domain_socket(s, DRIVER_DOM, arg, PATH_MAX);
}

/* At exit (libFuzzer's end of run, the replay's end): the store's thread
 * and its temporary directory go. */
static void teardown(void)
{
	if (admin)
		xs_close(admin);
	admin = NULL;
	vbd_test_store_stop(&ts);
}

static void setup(void)
{
	if (vbd_test_store_start(&ts, NULL) < 0)
		die("store", NULL);
	if (vbd_test_store_domain_add(&ts, DRIVER_DOM) < 0)
		die("domain_add", NULL);
	snprintf(sock[0], sizeof(sock[0]), "%s", ts.socket);
	if (vbd_test_store_call(&ts, sock_fn, sock[1]) < 0)
		die("domain socket", NULL);
	admin = vbd_test_xs_open(&ts, 0);
	if (!admin)
		die("xs_open", NULL);
	atexit(teardown);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tree before, after;
	static bool quiet_checked, quiet;
	struct in in = { data, size };
	char be[VAL_MAX + 1], path[2 * VAL_MAX + 2], val[VAL_MAX + 1], be_abs[2 * VAL_MAX + 32];
	char full[sizeof(path) + 32];
	char *argv[4], **kids;
	unsigned flags, op, nk, i, self;
	size_t vlen;
	bool run = true;
	vbd_store_stats st = { .size = sizeof(st) };
	FILE *saved = stderr;
	int argc = 0, r;

	if (!admin)
		setup();
	if (!quiet_checked) {
		quiet = !getenv("FUZZ_HOTPLUG_TRACE");
		quiet_checked = true;
	}
	flags = take8(&in);
	self = flags & 4 ? DRIVER_DOM : 0;
	take_bytes(&in, be, VAL_MAX);
	/* The nodes, written as dom0; the step's own connection comes later. */
	while (in.left) {
		op = take8(&in);
		if (op == 0xff)
			break;
		if (op == 0xfe)
			take_bytes(&in, path, VAL_MAX);
		else if (op < NLEAF)
			snprintf(path, sizeof(path), "%s%s%s", be,
			         be[0] && be[strlen(be) - 1] == '/' ? "" : "/", leaf[op]);
		else
			continue;
		vlen = take_bytes(&in, val, VAL_MAX);
		/* A relative path is the step's connection's: dom0's or the
		 * driver domain's home. */
		if (path[0] == '/')
			snprintf(full, sizeof(full), "%s", path);
		else
			snprintf(full, sizeof(full), "/local/domain/%u/%s", self, path);
		xs_write(admin, XBT_NULL, full, val, (unsigned)vlen);
		/* A driver domain's backends are its own, as the toolstack
		 * makes them. */
		if (self) {
			struct xs_permissions owner = { .id = self, .perms = XS_PERM_NONE };

			xs_set_permissions(admin, XBT_NULL, full, &owner, 1);
		}
		if (names_something(val))
			run = false;
	}
	/* The backend as the step names it, for the audit. */
	if (be[0] == '/')
		snprintf(be_abs, sizeof(be_abs), "%s", be);
	else
		snprintf(be_abs, sizeof(be_abs), "/local/domain/%u/%s", self, be);
	while (strlen(be_abs) > 1 && be_abs[strlen(be_abs) - 1] == '/')
		be_abs[strlen(be_abs) - 1] = 0;

	if (run) {
		tree_walk(&before, "/");
		argv[argc++] = "hotplug";
		if (flags & 2)
			argv[argc++] = "--udev";
		argv[argc++] = flags & 1 ? "remove" : "add";
		argv[argc] = NULL;
		if (be[0])
			setenv("XENBUS_PATH", be, 1);
		else
			unsetenv("XENBUS_PATH");
		setenv("XENSTORED_PATH", sock[self ? 1 : 0], 1);
		if (quiet)
			stderr = fopen("/dev/null", "w");
		r = vbdctl_hotplug(argc, argv);
		if (quiet) {
			fclose(stderr);
			stderr = saved;
		}
		if (r != 0 && r != 1 && !(r == 2 && !be[0]))
			die("exit status out of range", NULL);
		if (r == 2 && be[0])
			die("usage error for a XENBUS_PATH that is set", NULL);
		tree_walk(&after, "/");
		if (!before.full && !after.full)
			tree_compare(&before, &after, be_abs);
		tree_free(&before);
		tree_free(&after);
	}

	/* Back to a store holding its root alone. */
	kids = xs_directory(admin, XBT_NULL, "/", &nk);
	for (i = 0; kids && i < nk; i++) {
		snprintf(path, sizeof(path), "/%s", kids[i]);
		if (!xs_rm(admin, XBT_NULL, path))
			die("cannot remove", path);
	}
	free(kids);
	vbd_test_store_stats(&ts, &st);
	if (st.nodes != 1)
		die("nodes left in the store", NULL);
	if (st.connections != 1 || st.transactions || st.watches)
		die("the step left a connection, transaction or watch", NULL);
	return 0;
}
