/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of vbd_ctx: watches with callbacks, deadlines, the error buffer.
 */
#ifndef VBD_LIB_CTX_H
#define VBD_LIB_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <xenstore.h>

#include "util/err.h"
#include "vbd/ctx.h"

typedef struct vbd__watch vbd__watch;
typedef void (*vbd__watch_fn)(vbd_ctx *c, const char *path, void *ud);

struct vbd__watch {
	vbd__watch *next;
	vbd__watch *hnext;          /* in the context's table by id */
	unsigned id;                /* the token is "vbd-<id>" */
	char token[24];
	char *path;
	vbd__watch_fn fn;
	void *ud;
	bool dead;
};

typedef struct vbd__timer vbd__timer;
struct vbd__timer {
	vbd__timer *next;
	uint64_t deadline_ms;       /* CLOCK_MONOTONIC */
	void (*fn)(vbd_ctx *c, void *ud);
	void *ud;
	bool dead;
};

/* An fd followed through the context's epoll set (a script's pidfd and
 * output pipe). */
typedef struct vbd__io vbd__io;
struct vbd__io {
	vbd__io *next;
	int fd;
	void (*fn)(vbd_ctx *c, int fd, void *ud);
	void *ud;
	bool dead;
};

typedef struct vbd_dev_op vbd_dev_op;

struct vbd_ctx {
	/* Two connections: xs for requests, xsw for watches.  libxenstore
	 * starts a reader thread on a handle's first watch, and from then on
	 * every reply of that handle is handed over through it (a futex wake
	 * and a switch per request); a handle that never watches reads its
	 * replies itself. */
	struct xs_handle *xs;
	struct xs_handle *xsw;
	int epfd;                   /* the one fd: libxenstore's watch fd and every vbd__io */
	vbd_errbuf err;
	void (*log)(int level, const char *msg, void *ud);
	void *log_ud;
	vbd__watch *watches;
	/* Live watches by id: an event finds its watch in one step, however
	 * many watches a backend serving a thousand devices holds. */
	vbd__watch **wtab;
	unsigned wtab_size, nwatches;
	unsigned ndead;             /* entries marked dead, freed by reap() */
	vbd__timer *timers;
	vbd__io *ios;
	vbd_dev_op *ops;            /* attaches and detaches in progress */
	bool host_xenstore;         /* the host's xenstored, not a chosen socket */
	bool lx_tried;
	void *lx, *lx_logger;       /* libxenlight, where a hypervisor runs (domain.c) */
	unsigned next_token;
	int depth;                  /* inside process(): defer frees */
};

uint64_t vbd__now_ms(void);
void vbd__log(vbd_ctx *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Registers a watch; fn runs from vbd_ctx_process() for each event,
 * including the first one xenstore sends at once. */
int vbd__ctx_watch(vbd_ctx *c, const char *path, vbd__watch_fn fn, void *ud, vbd__watch **ret);
void vbd__ctx_unwatch(vbd_ctx *c, vbd__watch *w);
int vbd__ctx_timer(vbd_ctx *c, uint64_t deadline_ms, void (*fn)(vbd_ctx *, void *), void *ud,
                   vbd__timer **ret);
void vbd__ctx_timer_cancel(vbd_ctx *c, vbd__timer *t);
/* Follows fd (POLLIN) through the context's fd; fn runs from process(). */
int vbd__ctx_io(vbd_ctx *c, int fd, void (*fn)(vbd_ctx *, int, void *), void *ud, vbd__io **ret);
void vbd__ctx_io_cancel(vbd_ctx *c, vbd__io *io);
/* The domain the context's connection acts as (lib/toolstack/domain.c). */
int vbd__ctx_own_domid(vbd_ctx *c, unsigned *ret_domid);
/* Frees what domain lookups made (lib/toolstack/domain.c). */
void vbd__ctx_domain_done(vbd_ctx *c);
/* Cancels the operations in progress without callbacks (lib/toolstack/dev.c). */
void vbd__dev_ops_cancel(vbd_ctx *c);

/* Reads a node as a NUL-terminated string (NULL if absent: errno ENOENT). */
char *vbd__xs_read(vbd_ctx *c, xs_transaction_t t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* dir/key as a string; NULL if absent (errno ENOENT) or unreadable (errno). */
char *vbd__xs_read_key(vbd_ctx *c, const char *dir, const char *key);
/* A non-negative decimal ("0", "51712"; no sign, no blanks), or -1. */
long long vbd__parse_num(const char *s);
/* dir/key as such a number: 0 and *ret; -ENOENT if absent, -EINVAL if not
 * such a number, -errno if xenstore could not say (never taken for absent). */
int vbd__xs_read_num(vbd_ctx *c, const char *dir, const char *key, long long *ret);

/* Where a device lives.  libxl's /libxl copy names the backend domain
 * (XSA-178: never the backend's own keys); without a copy, dom0.  The paths
 * follow from the ids.  -errno if xenstore could not say. */
typedef struct vbd__dev_loc {
	unsigned bdom;
	bool in_libxl;           /* the copy exists */
	char be[96], fe[96];
} vbd__dev_loc;

int vbd__dev_locate(vbd_ctx *c, unsigned domid, uint32_t devid, vbd__dev_loc *ret);

#endif
