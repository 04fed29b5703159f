# SPDX-License-Identifier: LGPL-2.1-or-later
# The binding's declarations (vbd/_ffi.py, used in cffi's ABI mode) are
# what the headers say: the same text compiled in API mode against
# include/vbd/ with -Werror, so that a wrong argument or field type is a
# compiler error, and loaded, so that a wrong field offset or struct size is
# an error from cffi's layout check.  $VBD_INCLUDE_DIR names the headers.
import os

import cffi
import pytest

from vbd import _ffi

HEADERS = ("common", "error", "ctx", "disk", "dev", "status", "verify", "store")


def test_declarations_match_the_headers(tmp_path):
    inc = os.environ.get("VBD_INCLUDE_DIR")
    if not inc:
        pytest.skip("VBD_INCLUDE_DIR is not set: the headers to compare with are unknown")
    libdir = os.path.dirname(os.environ["VBD_LIBRARY"])
    ffi = cffi.FFI()
    ffi.cdef(_ffi.CDEF)
    ffi.set_source("_vbd_cdef_check", "".join("#include <vbd/%s.h>\n" % h for h in HEADERS),
                   include_dirs=[inc], library_dirs=[libdir], runtime_library_dirs=[libdir],
                   libraries=[":" + os.path.basename(os.environ["VBD_LIBRARY"])],
                   extra_compile_args=["-Werror", "-Wno-unused-function",
                                       "-Wno-unused-variable"])
    so = ffi.compile(tmpdir=str(tmp_path))
    import importlib.util
    spec = importlib.util.spec_from_file_location("_vbd_cdef_check", so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)   # layout checks run here
    for name in ("vbd_dev_info", "vbd_attach_options", "vbd_detach_options", "vbd_dev_progress",
                 "vbd_store_stats", "vbd_verify_event", "vbd_disk_spec", "vbd_ctx_options",
                 "vbd_store_options", "vbd_change", "vbd_checker_summary",
                 "vbd_loop_orphan"):
        assert mod.ffi.sizeof(name) == _ffi.ffi.sizeof(name), name
        for f, _ in _ffi.ffi.typeof(name).fields:
            assert mod.ffi.offsetof(name, f) == _ffi.ffi.offsetof(name, f), (name, f)


def test_option_versions_match_the_headers():
    # Options structs grow by version: the binding must say the version
    # whose layout it declares, the headers' own.
    import re
    inc = os.environ.get("VBD_INCLUDE_DIR")
    if not inc:
        pytest.skip("VBD_INCLUDE_DIR is not set: the headers to compare with are unknown")
    text = "".join(open(os.path.join(inc, "vbd", h + ".h")).read() for h in HEADERS)
    for name in ("CTX", "ATTACH", "DETACH", "STORE"):
        m = re.search(r"#define VBD_%s_OPTIONS_VERSION (\d+)" % name, text)
        assert m, name
        assert getattr(_ffi, name + "_OPTIONS_VERSION") == int(m.group(1)), name
