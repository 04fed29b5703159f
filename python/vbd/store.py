# SPDX-License-Identifier: LGPL-2.1-or-later
"""vbd.Store: libvbd's embedded xenstore daemon (vbd/store.h) in this process,
for tests and for hosts without Xen.  libxenstore clients (xenstore-utils,
vbd.Context) reach it with XENSTORED_PATH=<path>.

    with vbd.Store("/tmp/t/xenstored.sock") as s:
        s.serve_in_thread()           # or poll s.fileno() and s.process()
        with vbd.Context(xenstored_path=s.path) as ctx: ...

Like the C object, it is used by one thread at a time: either the caller's
loop drives it, or serve_in_thread() hands it to one thread of its own (the
only thread this package ever starts, and only when asked) until stop();
the methods may be called meanwhile (a lock takes turns with the thread).
"""

import os
import select
import threading

from ._core import Error, _Closable
from ._ffi import STORE_OPTIONS_VERSION, ffi, lib

_STATS = ("nodes", "connections", "domains", "watches", "transactions", "requests",
          "events_sent", "events_dropped", "events_filtered", "conns_killed",
          "pending_bytes", "pending_bytes_max", "generation")


class Store(_Closable):
    def __init__(self, path, mode=0o600):
        """Listens on path (a stale socket file is replaced; a live one is
        Error(EADDRINUSE)).  mode: the sockets' permission bits."""
        self._s = ffi.NULL
        self._thread = None
        self._stop = threading.Event()
        # Held by each call and by the serving thread's process(), not
        # across its wait: calls from the caller's thread are safe then.
        self._lock = threading.Lock()
        o = ffi.new("vbd_store_options *")
        o.version = STORE_OPTIONS_VERSION
        cpath = ffi.new("char[]", os.fsencode(path))
        o.socket_path = cpath
        o.socket_mode = mode
        err = ffi.new("vbd_errbuf *")
        ret = ffi.new("vbd_store **")
        r = lib.vbd_store_new(ret, o, err)
        if r < 0:
            raise Error(-r, ffi.string(err.msg).decode() or None)
        self._s = ret[0]
        self.path = os.fsdecode(ffi.string(lib.vbd_store_socket_path(self._s)))

    def _store(self):
        if self._s == ffi.NULL:
            raise ValueError("vbd.Store is closed")
        return self._s

    def _check(self, r):
        if r < 0:
            raise Error(-r)
        return r

    def fileno(self):
        return lib.vbd_store_get_fd(self._store())

    def process(self):
        """Serves what is ready, without blocking; the number of things done."""
        with self._lock:
            return self._check(lib.vbd_store_process(self._store()))

    def run_once(self, timeout=None):
        """Waits up to timeout seconds (None: forever) and serves."""
        ms = -1 if timeout is None else int(timeout * 1000)
        return self._check(lib.vbd_store_run_once(self._store(), ms))

    def serve_in_thread(self):
        """Serves from a thread of its own until stop() or close(), for a
        test whose main thread makes blocking xenstore calls."""
        if self._thread is not None:
            return
        self._store()
        self._stop.clear()

        fd = self.fileno()

        def serve():
            # A short wait so that stop() is seen; the fd wakes it for work.
            while not self._stop.is_set():
                select.select([fd], [], [], 0.05)
                with self._lock:
                    if lib.vbd_store_process(self._s) < 0:
                        break
        self._thread = threading.Thread(target=serve, name="vbd.Store", daemon=True)
        self._thread.start()

    def stop(self):
        """Ends serve_in_thread(); the caller's thread may use it again."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def domain_add(self, domid):
        """Introduces a domain (its socket "<path>.d/<domid>"); writes no node."""
        with self._lock:
            self._check(lib.vbd_store_domain_add(self._store(), domid))

    def domain_remove(self, domid):
        """Releases a domain: its connections, socket and nodes go."""
        with self._lock:
            self._check(lib.vbd_store_domain_remove(self._store(), domid))

    def domain_socket(self, domid):
        buf = ffi.new("char[4096]")
        with self._lock:
            self._check(lib.vbd_store_domain_socket(self._store(), domid, buf, 4096))
        return os.fsdecode(ffi.string(buf))

    def stats(self):
        st = ffi.new("vbd_store_stats *")
        st.size = ffi.sizeof("vbd_store_stats")
        with self._lock:
            self._check(lib.vbd_store_get_stats(self._store(), st))
        return {k: int(getattr(st, k)) for k in _STATS}

    def close(self):
        """Stops serving, closes every connection, unlinks the sockets."""
        self.stop()
        if self._s != ffi.NULL:
            lib.vbd_store_free(self._s)
            self._s = ffi.NULL

    @property
    def closed(self):
        return self._s == ffi.NULL
