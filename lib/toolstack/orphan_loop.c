/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Orphan loop devices: ours, that no record names.
 *
 * Example.  An attach of guest 5's xvda on the store at /run/a.sock made
 * /dev/loop3 with lo_file_name "libvbd 1f2e3d4c 0-5-51712" (1f2e3d4c: the
 * socket's hash) and was killed before its record was committed.  The scan
 * of /sys/block finds loop3 bound, asks its lo_file_name, sees this store's
 * prefix, and reads /libvbd/backend/0-5-51712/node: absent, so loop3 is
 * an orphan of backend 0, domain 5, devid 51712, and vbdctl detach --force
 * 5 xvda frees it.  Had the record named /dev/loop3 with file
 * "<st_dev>:<inode>" matching what loop3 is bound to, loop3 would be the
 * device's own.  /dev/loop4, set up by losetup, holds a path there and is
 * never looked at again; a tag of another store has another hash.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/loop.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "toolstack/ctx.h"
#include "toolstack/hotplug/hotplug_internal.h"
#include "vbd/status.h"

/* Whether this domain's record of entry names node, bound to dev/ino. */
static int recorded(vbd_ctx *c, const char *root, const char *entry, const char *node,
                    uintmax_t dev, uintmax_t ino)
{
	char p[128 + LO_NAME_SIZE], want[48];
	char *rn = NULL, *rf = NULL;
	int r;

	snprintf(p, sizeof(p), "%s/backend/%s/node", root, entry);
	rn = vbd__xb_read(c->xs, XBT_NULL, "%s", p);
	if (!rn) {
		r = errno == ENOENT ? 0 : vbd__errf(&c->err, -(errno ? errno : EIO), "read %s: %s", p,
		                                   strerror(errno ? errno : EIO));
		goto out;
	}
	snprintf(p, sizeof(p), "%s/backend/%s/file", root, entry);
	rf = vbd__xb_read(c->xs, XBT_NULL, "%s", p);
	if (!rf) {
		r = errno == ENOENT ? 0 : vbd__errf(&c->err, -(errno ? errno : EIO), "read %s: %s", p,
		                                   strerror(errno ? errno : EIO));
		goto out;
	}
	snprintf(want, sizeof(want), "%ju:%ju", dev, ino);
	r = !strcmp(rn, node) && !strcmp(rf, want);
out:
	free(rn);
	free(rf);
	return r;
}

/* What an entry vbd__hp_name makes can hold: anything else in a tag was not
 * written by the step, and is not made into a store path. */
static bool entry_ok(const char *e)
{
	if (!*e)
		return false;
	for (; *e; e++)
		if (!((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') ||
		      (*e >= '0' && *e <= '9') || *e == '-' || *e == '_'))
			return false;
	return true;
}

/* "<bdom>-<fe>-<devid>[-<type>]", each number as vbd__hp_name writes it. */
static bool entry_dev(const char *e, vbd_loop_orphan *o)
{
	unsigned long v[3];
	const char *p = e;
	char *end;
	int k;

	for (k = 0; k < 3; k++) {
		size_t n = strspn(p, "0123456789");

		if (!n || n > 10 || (p[n] && p[n] != '-') || (k < 2 && !p[n]))
			return false;
		v[k] = strtoul(p, &end, 10);
		p = end + (*end == '-');
	}
	if (v[0] >= VBD_DOMID_FIRST_RESERVED || v[1] >= VBD_DOMID_FIRST_RESERVED ||
	    v[2] > UINT32_MAX)
		return false;
	o->has_dev = true;
	o->backend_domid = (vbd_domid)v[0];
	o->domid = (vbd_domid)v[1];
	o->devid = (uint32_t)v[2];
	return true;
}

static void read_backing(const char *name, char *buf, size_t size)
{
	char p[300];
	size_t n;
	FILE *f;

	buf[0] = 0;
	snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", name);
	f = fopen(p, "re");
	if (!f)
		return;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	while (n && buf[n - 1] == '\n')
		n--;
	buf[n] = 0;
}

static int by_number(const struct dirent **a, const struct dirent **b)
{
	unsigned long x = strtoul((*a)->d_name + 4, NULL, 10), y = strtoul((*b)->d_name + 4, NULL, 10);

	return x < y ? -1 : x > y;
}

static int is_loop(const struct dirent *e)
{
	char *end;

	if (strncmp(e->d_name, "loop", 4) || !e->d_name[4] || e->d_name[4] < '0' || e->d_name[4] > '9')
		return 0;
	strtoul(e->d_name + 4, &end, 10);
	return !*end && end - e->d_name < 15;
}

int vbd_loop_orphan_list(vbd_ctx *c, vbd_loop_orphan *ret, size_t max, size_t *ret_n)
{
	char prefix[LO_NAME_SIZE], root[64];
	struct dirent **ents = NULL;
	size_t plen, found = 0, esize = 0;
	int n, i, r = 0;

	if (!c || !ret_n || (max && (!ret || ret->size < sizeof(size_t))))
		return vbd__errf(c ? &c->err : NULL, -EINVAL, "vbd_loop_orphan_list: invalid argument");
	if (max)
		esize = ret->size;
	vbd__loop_tag_prefix(prefix, sizeof(prefix), c->bus->socket);
	plen = strlen(prefix);
	vbd__hp_root(c->xs, root, sizeof(root));
	n = scandir("/sys/block", &ents, is_loop, by_number);
	if (n < 0) {
		if (errno == ENOENT)
			goto done;
		return vbd__errf(&c->err, -errno, "/sys/block: %s", strerror(errno));
	}
	for (i = 0; i < n; i++) {
		struct loop_info64 info;
		vbd_loop_orphan o;
		char node[300];
		const char *entry;
		int lfd, rec;

		snprintf(node, sizeof(node), "/sys/block/%s/loop/backing_file", ents[i]->d_name);
		if (access(node, F_OK) != 0)
			continue;     /* not bound */
		snprintf(node, sizeof(node), "/dev/%s", ents[i]->d_name);
		lfd = open(node, O_RDONLY | O_CLOEXEC);
		if (lfd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		rec = ioctl(lfd, LOOP_GET_STATUS64, &info);
		close(lfd);
		if (rec < 0)
			continue;     /* freed meanwhile */
		/* The kernel keeps LO_NAME_SIZE bytes, not always NUL-ended. */
		info.lo_file_name[LO_NAME_SIZE - 1] = 0;
		if (strncmp((const char *)info.lo_file_name, prefix, plen))
			continue;
		entry = (const char *)info.lo_file_name + plen;
		rec = !entry_ok(entry) ? 0 : recorded(c, root, entry, node, (uintmax_t)info.lo_device,
		                                     (uintmax_t)info.lo_inode);
		if (rec < 0) {
			r = rec;
			goto out;
		}
		if (rec)
			continue;
		if (found++ >= max)
			continue;
		memset(&o, 0, sizeof(o));
		o.size = esize < sizeof(o) ? esize : sizeof(o);
		snprintf(o.device, sizeof(o.device), "%.20s", node);   /* is_loop: short */
		snprintf(o.entry, sizeof(o.entry), "%s", entry);
		if (entry_ok(entry))
			entry_dev(entry, &o);
		read_backing(ents[i]->d_name, o.backing_file, sizeof(o.backing_file));
		memcpy((char *)ret + (found - 1) * esize, &o, o.size);
	}
done:
	*ret_n = found;
out:
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return r;
}
