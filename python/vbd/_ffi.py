# SPDX-License-Identifier: LGPL-2.1-or-later
"""The C declarations the binding uses, and the library they are found in.

cffi in ABI mode: these declarations are copied from include/vbd/*.h and
cffi lays the structs out by the platform's C rules, so nothing is compiled
when the package is installed.  What keeps them from drifting from the
headers is tests/test_cdef.py, which compiles the same text in API mode
against the headers: a wrong type is a compiler error there, a wrong field
offset or struct size an error when the module loads.
"""

import os

import cffi

CDEF = r"""
typedef uint32_t vbd_domid;

typedef struct vbd_errbuf {
	char msg[1024];
} vbd_errbuf;

const char *vbd_strerror(int r);
const char *vbd_state_name(int state);

typedef struct vbd_bus vbd_bus;
typedef struct vbd_ctx vbd_ctx;

typedef struct vbd_ctx_options {
	unsigned version;
	const char *xenstored_path;
	void (*log)(int level, const char *msg, void *userdata);
	void *log_userdata;
	vbd_bus *bus;
} vbd_ctx_options;

int vbd_ctx_new(vbd_ctx **ret, const vbd_ctx_options *opts, vbd_errbuf *err);
vbd_ctx *vbd_ctx_free(vbd_ctx *c);
int vbd_ctx_get_fd(vbd_ctx *c);
int vbd_ctx_get_timeout_ms(vbd_ctx *c);
int vbd_ctx_process(vbd_ctx *c);
const char *vbd_ctx_last_error(vbd_ctx *c);
int vbd_ctx_domain_lookup(vbd_ctx *c, const char *name_or_id, vbd_domid *ret_domid);

int vbd_vdev_to_devid(const char *vdev, uint32_t *ret_devid);
int vbd_devid_to_vdev(uint32_t devid, char *buf, size_t size);

typedef struct vbd_disk_spec {
	char *target;
	char *vdev;
	uint32_t devid;
	bool readonly;
	bool cdrom;
	char *format;
	char *script;
	char *backend_domain;
	char *backendtype;
	int discard;
	bool direct_io_safe;
	bool trusted;
} vbd_disk_spec;

int vbd_disk_spec_parse(int nspecs, const char *const *specs,
                        vbd_disk_spec **ret, vbd_errbuf *err);
vbd_disk_spec *vbd_disk_spec_free(vbd_disk_spec *spec);

typedef enum vbd_wait_for {
	VBD_WAIT_CONNECTED = 0,
	VBD_WAIT_INITWAIT,
	VBD_WAIT_NONE,
} vbd_wait_for;

typedef enum vbd_dev_step {
	VBD_DEV_STEP_HOTPLUG = 1,
	VBD_DEV_STEP_WAIT,
	VBD_DEV_STEP_ROLLBACK,
} vbd_dev_step;

typedef struct vbd_dev_progress {
	size_t size;
	vbd_domid domid;
	uint32_t devid;
	bool detach;
	vbd_dev_step step;
	int backend_state;
	int frontend_state;
	const char *waiting_for;
} vbd_dev_progress;

typedef void (*vbd_dev_progress_fn)(vbd_ctx *c, const vbd_dev_progress *p, void *userdata);

typedef struct vbd_attach_options {
	unsigned version;
	vbd_domid domid;
	vbd_domid backend_domid;
	const vbd_disk_spec *spec;
	vbd_wait_for wait;
	unsigned timeout_ms;
	const char *script;
	unsigned script_timeout_ms;
	vbd_dev_progress_fn progress;
	void *progress_userdata;
} vbd_attach_options;

typedef void (*vbd_dev_done_fn)(vbd_ctx *c, int result, const char *message, void *userdata);

int vbd_dev_attach(vbd_ctx *c, const vbd_attach_options *o, vbd_dev_done_fn done,
                   void *userdata);
int vbd_dev_attach_wait(vbd_ctx *c, const vbd_attach_options *o);

typedef struct vbd_detach_options {
	unsigned version;
	vbd_domid domid;
	uint32_t devid;
	unsigned timeout_ms;
	bool force;
	vbd_dev_progress_fn progress;
	void *progress_userdata;
} vbd_detach_options;

int vbd_dev_detach(vbd_ctx *c, const vbd_detach_options *o, vbd_dev_done_fn done,
                   void *userdata);
int vbd_dev_detach_wait(vbd_ctx *c, const vbd_detach_options *o);

typedef struct vbd_dev_stats {
	size_t size;
	uint64_t oo_req;
	uint64_t rd_req, wr_req;
	uint64_t f_req;
	uint64_t ds_req;
	uint64_t rd_sect, wr_sect;
} vbd_dev_stats;

typedef struct vbd_dev_info {
	vbd_domid domid;
	uint32_t devid;
	char vdev[32];
	vbd_domid backend_domid;
	bool in_libxl;
	int backend_state, frontend_state;
	char *backend_path, *frontend_path;
	char *params, *mode, *device_type, *script;
	char *physical_device, *node, *hotplug_status, *hotplug_error;
	char *backend_error, *frontend_error;
	char *protocol, *ring_ref, *event_channel;
	long long sectors;
	long sector_size, info;
	int queues, ring_page_order;
	bool feature_flush, feature_barrier, feature_discard, feature_persistent;
	long long target_size;
	char *target_type, *target_label, *target_uuid;
	bool has_stats;
	vbd_dev_stats stats;
} vbd_dev_info;

int vbd_dev_list(vbd_ctx *c, vbd_domid domid, int64_t devid, vbd_dev_info **ret,
                 size_t *ret_n);
void vbd_dev_info_free(vbd_dev_info *v, size_t n);

typedef struct vbd_loop_orphan {
	size_t size;
	char device[32];
	char entry[64];
	bool has_dev;
	vbd_domid backend_domid, domid;
	uint32_t devid;
	char backing_file[4096];
} vbd_loop_orphan;

int vbd_loop_orphan_list(vbd_ctx *c, vbd_loop_orphan *ret, size_t max, size_t *ret_n);

typedef struct vbd_violation {
	const char *rule;
	char node[192];
	char detail[256];
} vbd_violation;

int vbd_dev_verify(vbd_ctx *c, vbd_domid domid, uint32_t devid,
                   vbd_violation **ret, size_t *ret_n);

typedef struct vbd_verify_history {
	size_t size;
	int backend_state, frontend_state;
	unsigned backend_unseen, frontend_unseen;
	unsigned unobserved;
} vbd_verify_history;

int vbd_dev_verify_history(vbd_ctx *c, vbd_domid domid, uint32_t devid,
                           vbd_violation **ret, size_t *ret_n,
                           vbd_verify_history *ret_history);
vbd_violation *vbd_violation_free(vbd_violation *v, size_t n);

typedef struct vbd_verifier vbd_verifier;

typedef struct vbd_verify_event {
	vbd_domid domid;
	uint32_t devid;
	const char *side;
	int old_state;
	int new_state;
	unsigned writes;
	unsigned unseen;
	const vbd_violation *v;
	unsigned unobserved;
	int writer;
	uint64_t seq;
	int64_t time_ns;
} vbd_verify_event;

typedef void (*vbd_verify_event_fn)(const vbd_verify_event *e, void *userdata);

int vbd_verifier_follow(vbd_ctx *c, vbd_domid domid, vbd_verify_event_fn fn, void *userdata,
                        vbd_verifier **ret);
vbd_verifier *vbd_verifier_free(vbd_verifier *v);

typedef enum vbd_change_op {
	VBD_CHANGE_WRITE = 1,
	VBD_CHANGE_MKDIR,
	VBD_CHANGE_RM,
	VBD_CHANGE_LOST,
} vbd_change_op;

typedef struct vbd_change {
	vbd_change_op op;
	const char *path;
	const char *value;
	size_t value_len;
	int writer;
	uint64_t seq;
	int64_t time_ns;
	uint64_t lost;
	int more;
} vbd_change;

typedef struct vbd_checker vbd_checker;

int vbd_checker_new(vbd_domid domid, vbd_domid toolstack_domid, vbd_verify_event_fn fn,
                    void *userdata, vbd_checker **ret);
int vbd_checker_feed(vbd_checker *k, const vbd_change *ch);

typedef struct vbd_checker_summary {
	size_t size;
	unsigned devices;
	unsigned violations;
	unsigned unobserved;
	uint64_t lost;
} vbd_checker_summary;
int vbd_checker_summary_get(const vbd_checker *k, vbd_checker_summary *ret);
vbd_checker *vbd_checker_free(vbd_checker *k);

typedef struct vbd_store vbd_store;

typedef struct vbd_store_limits {
	unsigned nodes_per_domain;
	unsigned watches_per_domain;
	unsigned transactions_per_conn;
	unsigned nodes_per_transaction;
	unsigned perms_per_node;
	unsigned value_size;
	unsigned outstanding;
	unsigned max_payload;
	size_t max_pending_bytes;
	size_t max_pending_bytes_priv;
	unsigned conns_per_domain;
	unsigned memory_per_domain_soft;
	unsigned memory_per_domain;
} vbd_store_limits;

typedef struct vbd_store_options {
	unsigned version;
	const char *socket_path;
	unsigned socket_mode;
	vbd_store_limits limits;
	int listen_fd;
} vbd_store_options;

typedef struct vbd_store_stats {
	size_t size;
	uint64_t nodes;
	uint64_t connections;
	uint64_t domains;
	uint64_t watches;
	uint64_t transactions;
	uint64_t requests;
	uint64_t events_sent;
	uint64_t events_dropped;
	uint64_t events_filtered;
	uint64_t conns_killed;
	uint64_t pending_bytes;
	uint64_t pending_bytes_max;
	uint64_t generation;
} vbd_store_stats;

int vbd_store_new(vbd_store **ret, const vbd_store_options *opts, vbd_errbuf *err);
vbd_store *vbd_store_free(vbd_store *s);
int vbd_store_get_fd(const vbd_store *s);
int vbd_store_process(vbd_store *s);
int vbd_store_run_once(vbd_store *s, int timeout_ms);
int vbd_store_domain_add(vbd_store *s, vbd_domid domid);
int vbd_store_domain_remove(vbd_store *s, vbd_domid domid);
int vbd_store_domain_socket(const vbd_store *s, vbd_domid domid, char *buf, size_t size);
int vbd_store_get_stats(const vbd_store *s, vbd_store_stats *ret);
const char *vbd_store_socket_path(const vbd_store *s);
"""

# The options versions the declarations above have (vbd/ctx.h, vbd/dev.h,
# vbd/store.h).  A newer library accepts them: fields are only appended.
CTX_OPTIONS_VERSION = 1
ATTACH_OPTIONS_VERSION = 2
DETACH_OPTIONS_VERSION = 2
STORE_OPTIONS_VERSION = 3

DOMID_ALL = 0xFFFFFFFF

# The runtime package's name of the library (its SONAME); $VBD_LIBRARY
# names another file, a build tree's libvbd.so for instance.
SONAME = "libvbd.so.0"

ffi = cffi.FFI()
ffi.cdef(CDEF)
lib = ffi.dlopen(os.environ.get("VBD_LIBRARY") or SONAME)
