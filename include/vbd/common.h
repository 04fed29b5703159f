/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbd/common.h - what every libvbd header shares: the export macro, the C++
 * guards, log levels, xenbus states and the domain id type.
 *
 *     #include <vbd/blkfront.h>            // includes this header itself
 *     vbd_domid d = 5;                     // a guest
 *     vbd_dev_list(c, VBD_DOMID_ALL, -1, &v, &n);
 *
 * Every public header includes it; none defines these names itself.
 *
 * Compatibility rules (man libvbd(3), VERSIONING AND COMPATIBILITY):
 *   - an options struct starts with `unsigned version`; the library accepts
 *     any version from 1 up to the one it was built with, and reads a field
 *     only if the caller's version has it.  Fields are only ever appended.
 *   - in an options struct, a field left 0 (or false, or NULL) means the
 *     default; a count whose 0 is meaningful takes VBD_OPT_ZERO to say 0.
 *     So `{ .version = 1 }` and the *_OPTIONS_INIT macros mean "defaults".
 *   - a struct the library fills (stats, info) starts with `size_t size`,
 *     set by the caller to sizeof the struct it has; the library fills only
 *     what fits, and sets nothing past it.
 *   - exported names are listed per release in the library's symbol map;
 *     a name is never removed or changed within a soname.
 *
 * Thread safety: nothing here has state.
 */
#ifndef VBD_COMMON_H
#define VBD_COMMON_H

#include <stdint.h>

#if defined(__GNUC__) && __GNUC__ >= 4
#define VBD_PUBLIC __attribute__((visibility("default")))
#else
#define VBD_PUBLIC
#endif

#ifdef __cplusplus
#define VBD_BEGIN_DECLS extern "C" {
#define VBD_END_DECLS }
#else
#define VBD_BEGIN_DECLS
#define VBD_END_DECLS
#endif

VBD_BEGIN_DECLS

/* Levels of the log callbacks, syslog's numbers. */
typedef enum vbd_log_level {
	VBD_LOG_ERR = 3,
	VBD_LOG_WARNING = 4,
	VBD_LOG_INFO = 6,
	VBD_LOG_DEBUG = 7,
} vbd_log_level;

/* xenbus states (xen/io/xenbus.h, enum xenbus_state). */
typedef enum vbd_state {
	VBD_STATE_UNKNOWN = 0,
	VBD_STATE_INITIALISING = 1,
	VBD_STATE_INITWAIT = 2,
	VBD_STATE_INITIALISED = 3,
	VBD_STATE_CONNECTED = 4,
	VBD_STATE_CLOSING = 5,
	VBD_STATE_CLOSED = 6,
	VBD_STATE_RECONFIGURING = 7,
	VBD_STATE_RECONFIGURED = 8,
} vbd_state;

/* "Initialising", "Connected", ...; "Unknown" outside 0..8.  Never NULL. */
VBD_PUBLIC const char *vbd_state_name(int state);

/* A domain id.  Real domains are below VBD_DOMID_FIRST_RESERVED (Xen's
 * DOMID_FIRST_RESERVED, xen/xen.h); VBD_DOMID_ALL, where a call takes it,
 * means every domain (it was -1 in an int before). */
typedef uint32_t vbd_domid;

#define VBD_DOMID_FIRST_RESERVED ((vbd_domid)0x7FF0)
#define VBD_DOMID_ALL ((vbd_domid)UINT32_MAX)

/* In an options struct, "this count is 0" where 0 itself means the
 * default (see above). */
#define VBD_OPT_ZERO UINT32_MAX

VBD_END_DECLS

#endif
