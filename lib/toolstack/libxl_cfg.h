/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libxl's saved domain configuration ("libxl-json" userdata) kept in step
 * with the disks vbdctl attaches and detaches (lib/toolstack/libxl_cfg.c).
 */
#ifndef VBD_LIB_LIBXL_CFG_H
#define VBD_LIB_LIBXL_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <libxl.h>

#include "toolstack/ctx.h"
#include "util/err.h"
#include "vbd/dev.h"

/* ---- the part that needs no libxenlight context (tests call it) ---- */

/* The three files of one domain's "libxl-json" userdata, as libxl names
 * them: <dir>/userdata-<d|n|l>.<domid>.<uuid>.<id>. */
typedef struct vbd__lxcfg_files {
	char d[256];   /* the configuration */
	char n[256];   /* the new one, renamed over d */
	char l[256];   /* the lock file (id "domain-userdata-lock") */
} vbd__lxcfg_files;

/* -ENAMETOOLONG if dir is too long. */
int vbd__lxcfg_files_init(vbd__lxcfg_files *f, const char *dir, unsigned domid,
                          const char *uuid);

/* The edit of a configuration's text (len bytes, a trailing NUL allowed):
 * every entry of "disks" whose vdev names devid goes; add, if not NULL,
 * takes the first one's place (or comes last).  Everything else is copied
 * as it was.  1 and the new text (malloc'd, NUL-terminated) in *ret,
 * 0 when nothing would change (*ret NULL), -EBADMSG for a text that is not
 * a configuration (message in err), -ENOMEM. */
int vbd__lxcfg_edit(const char *json, size_t len, uint32_t devid, const libxl_device_disk *add,
                    char **ret, vbd_errbuf *err);

/* What the read-modify-write calls, all with the lock held.  Each may be
 * NULL.  alive: 1 if the domain still exists (libxl checks it once it holds
 * the lock), 0 (-ENOENT then), -errno.  check: a last look at the new text
 * before anything is written.  between: runs after the edit and before the
 * write (an attach's xenstore transaction); if it fails, nothing is
 * written.  undo: the write failed after between succeeded. */
typedef struct vbd__lxcfg_hooks {
	int (*alive)(void *ud);
	int (*check)(const char *json, void *ud);
	int (*between)(void *ud);
	void (*undo)(void *ud);
	void *ud;
} vbd__lxcfg_hooks;

/* libxl's userdata lock taken as libxl takes it, the configuration read,
 * edited (vbd__lxcfg_edit) and written back as libxl writes it, the lock
 * released.  A domain without a configuration is not xl-managed: between
 * still runs and nothing else happens.  0 (nothing to write, or not
 * xl-managed), 1 (written), or -errno with the message in err; on
 * failure the configuration is as it was. */
int vbd__lxcfg_update(const vbd__lxcfg_files *f, uint32_t devid, const libxl_device_disk *add,
                      const vbd__lxcfg_hooks *h, vbd_errbuf *err);

/* ---- on a context ---- */

/* Attach: write(ud) (the nodes' transaction) inside the read-modify-write
 * that adds the device's entry to the guest's configuration, when the
 * guest is xl-managed; otherwise write(ud) alone.  undo(ud) takes the
 * nodes away again if the configuration could not be written.  0 or
 * -errno (message in c->err), with nothing left behind. */
int vbd__lxcfg_attach(vbd_ctx *c, const vbd_attach_options *o, const char *params,
                      const char *script, int (*write)(void *), void (*undo)(void *), void *ud);

/* Detach, rollback: the entry of devid goes from domid's configuration.
 * Best effort: a failure is logged as a warning (libxl itself drops an
 * entry whose device is not in xenstore when it rebuilds a domain). */
void vbd__lxcfg_forget(vbd_ctx *c, unsigned domid, uint32_t devid);

#endif
