/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Between the files of the built-in hotplug step: step.c (ADD and REMOVE),
 * record.c (names, this domain's record and the xenstore access the step
 * makes), sharing.c (whether a target may be used in a mode: the sharing
 * index and this domain's mounts) and loop.c (loop devices).  Tests take
 * what they use from here.
 */
#ifndef VBD_LIB_HOTPLUG_INTERNAL_H
#define VBD_LIB_HOTPLUG_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <xenstore.h>

#include "util/err.h"
#include "vbd/hotplug.h"
#include "xenbus/xenbus.h"

#define DOM0_ROOT "/libvbd"   /* dom0's records and index; data/libvbd elsewhere */
#define LOOP_TRIES 64      /* lost races for a free loop device */
#define BE_MAX 512         /* longest backend path accepted */

/* What the caller of the step knows for certain, so that the step does not
 * read it back: a toolstack running the step in its own context right after
 * its own transaction wrote the backend dir.  NULL: everything is read from
 * the store, as a script reads it.
 *   self: the domain running the step (the "domid" in its home, which dom0
 *     writes and the context read once);
 *   params, mode, cdrom (ADD; params NULL: not known): what that transaction
 *     wrote into the backend dir, which only dom0 writes (perms n0,r1; the
 *     step runs for dom0's own backends only, see vbd__hp_name());
 *   fresh (ADD): the dir was made by that transaction with online=1 and no
 *     hotplug-status or hotplug-error, and this is the only ADD it gets.
 * What another dom0 process may have done since (a detach: online=0, or
 * the dir removed; a second ADD: physical-device) is still read, in the
 * step's transaction. */
typedef struct vbd__hp_known {
	unsigned self;
	const char *params, *mode;
	bool cdrom;
	bool fresh;
	/* ADD (set by vbd__hp_add_begin): its writes go into the transaction
	 * that makes the backend dir, so nothing of the dir is read. */
	bool in_nodes;
	/* REMOVE: look through every bound loop device for ones tagged with
	 * this backend's entry (an ADD killed before its commit, a record lost
	 * with its store) even when the record names the device's own.  A
	 * plain detach leaves that to status and detach --force: the look
	 * opens each loop device on the machine, so a detach of each of N
	 * devices would cost N^2.  Without a record, or with nothing known,
	 * the step always looks. */
	bool sweep;
	/* REMOVE: the rest of its transaction, after the step's own removals
	 * (its record and index entry): the caller's removal of the device's
	 * nodes, the backend dir with them.  The step then leaves the keys it
	 * wrote there to that, and does not ask whether the dir is there.
	 * NULL: the step's transaction is its own. */
	int (*also)(struct xs_handle *xs, xs_transaction_t t, void *ud);
	void *also_ud;
	/* REMOVE with also: the same removal as a part of a pipelined
	 * transaction (vbd__xb_part), the step's own removals the other part,
	 * on bus's wire client (vbd__xb_bus_run_parts); if that fails, also
	 * through libxenstore.  NULL bus: libxenstore's transaction. */
	vbd_bus *bus;
	const vbd__xb_part *also_part;
} vbd__hp_known;

/* One run of the step: which backend, whose records. */
/* ADD's transaction recorded, for a toolstack that sends its nodes'
 * transaction as one batch (dev_nodes.c): the step's reads are made
 * before it, outside any transaction, and each is recorded in chk to be
 * read again in it (vbd__xb_batch_same: another answer, and the batch is
 * made again); its writes are recorded in wr.  err: the first recording
 * that failed. */
typedef struct vbd__hp_defer {
	vbd__xb_batch *chk, *wr;
	int err;
	/* Every read answered "no such node" without asking, and checked as
	 * that in the transaction: the first try of an attach's (record.c). */
	bool guess;
} vbd__hp_defer;

typedef struct vbd__hp {
	struct xs_handle *xs;
	vbd__hp_defer *defer;   /* NULL: in transaction t of libxenstore's */
	vbd_errbuf *err;
	const vbd__hp_known *known;   /* NULL: nothing known, all read */
	char be[BE_MAX];        /* as given, without a trailing '/' */
	char entry[3 * BE_MAX]; /* this backend's name in the index */
	unsigned bdom;          /* the backend's domain */
	unsigned self;          /* the domain running the step */
	char root[64];          /* its records: <root>/sharing, <root>/backend */
	long fe;                /* the frontend's domain, -1: not known */
	bool vbd3;              /* backend/vbd3: no loop device, physical-device-path only */
	const char *store;      /* the store's socket, for loop tags (NULL: the default) */
	char own_loop[32];      /* the loop device this ADD bound: a record naming it
	                         * is of an owner that freed it */
} vbd__hp;

typedef struct vbd__hp_target {
	char path[PATH_MAX];
	bool blk;
	dev_t rdev;             /* block device */
	dev_t dev;              /* regular file: its st_dev and inode */
	ino_t ino;
	int fd;
	char key[64];
} vbd__hp_target;

/* ---- names and records (record.c) ---- */

/* The step's reads and writes in transaction t, or recorded in h->defer
 * when set (t is then XBT_NULL): as vbd__xb_read (malloc'd, NULL with
 * errno), vbd__xb_exists, xs_directory, vbd__xb_printf and vbd__xb_rm. */
char *vbd__hp_read(const vbd__hp *h, xs_transaction_t t, const char *path);
int vbd__hp_exists(const vbd__hp *h, xs_transaction_t t, const char *path);
char **vbd__hp_dir(const vbd__hp *h, xs_transaction_t t, const char *path, unsigned *n);
int vbd__hp_write(const vbd__hp *h, xs_transaction_t t, const char *dir, const char *key,
                  const char *val);
int vbd__hp_rm(const vbd__hp *h, xs_transaction_t t, const char *path);

/* The backend's <be>/<leaf>, on lib/xenbus.  *ret is malloc'd; -ENOENT if
 * absent.  Removing an absent leaf is 0. */
int vbd__hp_be_read(const vbd__hp *h, xs_transaction_t t, const char *leaf, char **ret);
int vbd__hp_be_write(const vbd__hp *h, xs_transaction_t t, const char *leaf, const char *val);
int vbd__hp_be_rm(const vbd__hp *h, xs_transaction_t t, const char *leaf);
/* This backend's record: <root>/backend/<entry>/<leaf>. */
int vbd__hp_rec_write(const vbd__hp *h, xs_transaction_t t, const char *leaf, const char *val);
int vbd__hp_rec_read(const vbd__hp *h, const char *leaf, char **ret);
/* n (1..10) decimal digits. */
bool vbd__hp_all_digits(const char *s, size_t n);
/* Fills h from be_path: the backend, the domains, the record's root and
 * this backend's index entry.  -EPERM for another domain's backend. */
int vbd__hp_name(vbd__hp *h, const char *be_path);
/* The other side of vbd__hp_name: false for an entry of an escaped path
 * (be is then that path). */
/* The node whose presence says ADD is done for backend path be:
 * physical-device, or for a vbd3 backend (tap: nothing to map, the
 * userspace backend opens the file) physical-device-path, as block-tap. */
const char *vbd__hp_done_key(const char *be);
bool vbd__hp_entry_parse(const char *e, char *be, size_t size, unsigned *bdom, unsigned *fe);

/* ---- the device's script (udev.c) ---- */

/* Whether a script path names ours (vbd-block), by its last component. */
bool vbd__hp_script_is_ours(const char *script);
/* A device's script, *ret NULL for none: in dom0 (self 0) the toolstack's
 * /libxl copy of frontend fe's device devid first, where no other domain
 * writes (fe < 0: none to read), else or without a copy the backend's own
 * key (a driver domain's backends are its own).  from gets the node read.
 * 0, or -errno said in err. */
int vbd__hp_read_script(struct xs_handle *xs, unsigned self, long fe, uint32_t devid,
                        const char *be, char **ret, char *from, size_t size, vbd_errbuf *err);

/* ---- sharing (sharing.c) ---- */

/* r, w, or ! (w without any check). */
char vbd__hp_canon_mode(const char *mode);
/* 0 or -EBUSY naming another backend that uses key in a conflicting mode;
 * stale entries are dropped when t is a transaction (or recorded, h->defer). */
int vbd__hp_check_index(vbd__hp *h, xs_transaction_t t, const char *path, const char *key, char m);
/* Removes entry from index directory dir (<root>/sharing/<key>), or the
 * directory whole when entry was all it held; an absent one is 0.
 * 0 or -errno. */
int vbd__hp_index_take(vbd__hp *h, xs_transaction_t t, const char *dir, const char *entry);
/* REMOVE (remove.c): the loop device its record names freed, then the
 * record, its index entry and, with known->also, the device's nodes in one
 * transaction.  0 or -errno, h->err saying why. */
int vbd__hp_remove(vbd__hp *h);
/* Drops entry from key's index directory, and the directory once empty. */
void vbd__hp_index_drop(vbd__hp *h, xs_transaction_t t, const char *key, const char *entry);
/* -EBUSY if the target is mounted in this domain in a way m forbids. */
int vbd__hp_check_mounts(vbd__hp *h, const vbd__hp_target *tg, char m);

/* ---- loop devices (loop.c) ---- */

/* A free loop device bound to file_fd (read-only if ro), in *ret_fd (open,
 * O_CLOEXEC) and its number in *ret_n.  VBD__LOOP_LEGACY skips
 * LOOP_CONFIGURE, as on kernels before 5.8. */
#define VBD__LOOP_LEGACY 1u
/* tag (NULL: none), as vbd__loop_tag makes it, goes into the device's
 * lo_file_name in place of name (informational: sysfs has the path). */
int vbd__loop_attach(int file_fd, bool ro, const char *name, const char *tag, unsigned flags,
                     int *ret_fd, unsigned *ret_n, vbd_errbuf *err);
/* vbd__loop_attach() in two steps, for work between them (the nodes'
 * transaction sent while the device is configured): a free loop device
 * opened, not yet bound (its number, so its major:minor, known); then
 * bound to file_fd: 0, -EBUSY unsaid when another process took it first
 * (the caller closes it and reserves another), or -errno said in err. */
int vbd__loop_reserve(int *ret_fd, unsigned *ret_n, vbd_errbuf *err);
int vbd__loop_bind(int lfd, unsigned n, int file_fd, bool ro, const char *name, const char *tag,
                   unsigned flags, vbd_errbuf *err);
/* The tag of the loop device a backend's hotplug ADD makes: "libvbd",
 * the socket of the store the step runs on (store; NULL: libxenstore's
 * default, the host's), hashed, so that a loop device of another store is
 * never another's, and the backend's record entry (hashed, "#" and 16 hex
 * digits, if the whole does not fit in LO_NAME_SIZE): "libvbd 1f2e3d4c
 * 0-5-51712". */
void vbd__loop_tag(char *tag, size_t size, const char *store, const char *entry);
/* What every tag of store starts with: "libvbd 1f2e3d4c ". */
void vbd__loop_tag_prefix(char *prefix, size_t size, const char *store);
/* Frees (count_only: counts) every bound loop device whose tag is tag,
 * however it came to be left (its record never committed, or lost with
 * the store); how many in *freed.  A loop device made by anything else
 * has no such tag. */
int vbd__loop_free_tagged(const char *tag, bool count_only, unsigned *freed, vbd_errbuf *err);
/* How many loop devices tagged for backend be_path (ours) are bound: left
 * by an ADD killed before its commit or by a store that died; the REMOVE
 * step of that backend frees them. */
int vbd__hp_tagged_loops(struct xs_handle *xs, const char *store, const char *be_path, unsigned *n,
                         vbd_errbuf *err);
/* ADD in two halves around a transaction of the caller's, for a toolstack
 * that writes a backend dir of its own and wants the step's writes in that
 * same transaction (dev_nodes.c): no transaction of its own, nothing of the
 * dir read back, no retry against a driver's probe of the dir.
 *   vbd__hp_add_begin: known as for vbd__hotplug_run (fresh, params and
 *     mode set); the target opened and checked, the loop device set up
 *     (tagged, as ever).  *ret NULL with 0: nothing to set up (an empty
 *     CD-ROM drive).  -errno said in err.
 *   vbd__hp_add_batch: the step's writes for the caller's batched
 *     transaction: the sharing index checked and the entry, the record,
 *     physical-device and hotplug-status recorded in wr, every read they
 *     were decided on recorded in chk (vbd__hp_defer).  -EBUSY on a
 *     conflict; vbd__hp_add_error says why.
 *   vbd__hp_add_end: committed or not (then the loop device is freed),
 *     closes what begin opened and frees a; NULL is fine. */
typedef struct vbd__hp_add vbd__hp_add;
int vbd__hp_add_begin(struct xs_handle *xs, const char *store, const char *be_path,
                      const vbd__hp_known *known, vbd_errbuf *err, vbd__hp_add **ret);
int vbd__hp_add_batch(vbd__xb_batch *chk, vbd__xb_batch *wr, void *add);
const char *vbd__hp_add_error(const vbd__hp_add *a);
void vbd__hp_add_end(vbd__hp_add *a, bool committed);
/* vbd_hotplug_builtin() on the store at socket store (NULL: libxenstore's
 * default), the one the loop tags name: what a context runs, with its bus's
 * socket, whatever $XENSTORED_PATH says meanwhile; known (NULL: nothing) is
 * what the caller wrote and need not be read back (vbd__hp_known). */
int vbd__hotplug_run(struct xs_handle *xs, const char *store, const char *be_path,
                     vbd_hotplug_action action, const vbd__hp_known *known, vbd_errbuf *err);
/* This domain's records and index: /libvbd in dom0, data/libvbd elsewhere. */
void vbd__hp_root(struct xs_handle *xs, char *root, size_t size);
/* Frees a loop device we attached; one already free is fine. */
int vbd__loop_detach(int lfd);
/* Whether block device fd (rdev) is a loop device, or a partition of one,
 * bound to a file: then its st_dev and inode. */
bool vbd__loop_file(int fd, dev_t rdev, uintmax_t *dev, uintmax_t *ino);
/* Whether loop device maj:min (or the one holding that partition) is
 * backed by the inode dev/ino. */
bool vbd__loop_backed_by(unsigned maj, unsigned min, dev_t dev, ino_t ino);
/* 1 if loop device node is bound to file ("st_dev:inode", as a record
 * keeps it), 0 if not (freed, rebound to another file, absent), -errno
 * if that cannot be told. */
int vbd__loop_bound(const char *node, const char *file, vbd_errbuf *err);
/* Frees loop device node if it is still bound to file ("st_dev:inode", as
 * the record holds it); bound to anything else, it is left alone. */
int vbd__loop_free_bound(const char *node, const char *file, vbd_errbuf *err);

#endif
