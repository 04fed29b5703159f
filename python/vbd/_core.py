# SPDX-License-Identifier: LGPL-2.1-or-later
"""Context, operations and the verifier's follower over libvbd's public API.

The library's rule holds here too: a Context is used by one thread at a
time, and callbacks run only inside Context.process() (or inside the
blocking calls and iterators, which are loops over it).  No thread is
started: the caller's loop polls Context.fileno().
"""

import errno as _errno
import os
import select
import time

from ._ffi import (ATTACH_OPTIONS_VERSION, CTX_OPTIONS_VERSION, DETACH_OPTIONS_VERSION,
                   DOMID_ALL, ffi, lib)

STATES = {n: ffi.string(lib.vbd_state_name(n)).decode() for n in range(9)}
WAIT = {"connected": lib.VBD_WAIT_CONNECTED, "initwait": lib.VBD_WAIT_INITWAIT,
        "none": lib.VBD_WAIT_NONE}


class Error(OSError):
    """A libvbd failure: errno (positive) and the library's message.

    vbd.Error(errno.ENOENT, "no domain guest9") -- e.errno, e.strerror
    (the message), str(e).  e.errname is the symbol ("ENOENT").
    """

    def __init__(self, err, message=None):
        if not message:
            message = ffi.string(lib.vbd_strerror(-err)).decode()
        super().__init__(err, message)
        self.errname = _errno.errorcode.get(err, str(err))

    def __str__(self):
        return "[%s] %s" % (self.errname, self.strerror)


def _s(p):
    """A C string, or None for NULL."""
    return None if p == ffi.NULL else ffi.string(p).decode("utf-8", "replace")


def _state(n):
    return None if n < 0 else STATES.get(n, "Unknown")


def _vdev(devid):
    buf = ffi.new("char[32]")
    r = lib.vbd_devid_to_vdev(devid, buf, 32)
    return ffi.string(buf).decode() if r >= 0 else str(devid)


def devid(vdev):
    """The device id of a vdev name ("xvdb" -> 51728), or an int as is."""
    if isinstance(vdev, int):
        return vdev
    out = ffi.new("uint32_t *")
    r = lib.vbd_vdev_to_devid(vdev.encode(), out)
    if r < 0:
        raise Error(-r, "bad vdev %r: %s" % (vdev, ffi.string(lib.vbd_strerror(r)).decode()))
    return out[0]


_INFO_STRINGS = ("backend_path", "frontend_path", "params", "mode", "device_type", "script",
                 "physical_device", "node", "hotplug_status", "hotplug_error", "backend_error",
                 "frontend_error", "protocol", "ring_ref", "event_channel", "target_type",
                 "target_label", "target_uuid")
_INFO_NUMBERS = ("domid", "devid", "backend_domid", "sectors", "sector_size", "info", "queues",
                 "ring_page_order", "target_size")
_INFO_BOOLS = ("in_libxl", "feature_flush", "feature_barrier", "feature_discard",
               "feature_persistent")
_STATS = ("oo_req", "rd_req", "wr_req", "f_req", "ds_req", "rd_sect", "wr_sect")


def _info_dict(d):
    """One vbd_dev_info as a dict: its fields by name, strings None when the
    node is absent, each state as a number (-1: absent) and a name."""
    out = {"vdev": ffi.string(d.vdev).decode()}
    for k in _INFO_NUMBERS:
        out[k] = int(getattr(d, k))
    for k in _INFO_BOOLS:
        out[k] = bool(getattr(d, k))
    for k in _INFO_STRINGS:
        out[k] = _s(getattr(d, k))
    for side in ("backend", "frontend"):
        n = getattr(d, side + "_state")
        out[side + "_state"] = n
        out[side + "_state_name"] = _state(n)
    out["stats"] = {k: int(getattr(d.stats, k)) for k in _STATS} if d.has_stats else None
    return out


def _violation_dict(v):
    return {"rule": _s(v.rule), "node": ffi.string(v.node).decode(),
            "detail": ffi.string(v.detail).decode()}


class _Closable:
    """A `with` block and garbage collection both end in close()."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:   # at interpreter exit the module may be gone
            pass


class Operation:
    """An attach or detach in progress (Context.attach_start/detach_start).

    done is None while it runs, then True; result is 0 or a negative errno,
    message the library's word on it.  error() is the vbd.Error or None.
    """

    def __init__(self, ctx, kind, domid, devid_, callback):
        self.ctx, self.kind, self.domid, self.devid = ctx, kind, domid, devid_
        self.vdev = _vdev(devid_)
        self.callback = callback
        self.done = None
        self.result = None
        self.message = None
        self._handle = ffi.new_handle(self)

    def error(self):
        if self.result is not None and self.result < 0:
            return Error(-self.result, self.message)
        return None

    def __repr__(self):
        return "<vbd.Operation %s %d/%s %s>" % (self.kind, self.domid, self.vdev,
                                                "running" if self.done is None else self.result)


@ffi.callback("void(vbd_ctx *, int, const char *, void *)")
def _on_done(c, result, message, userdata):
    op = ffi.from_handle(userdata)
    ctx = op.ctx
    ctx._ops.discard(op)
    op.done, op.result, op.message = True, result, _s(message) or ""
    if op.callback is not None:
        try:
            op.callback(op)
        except BaseException as e:  # raised again from process()
            ctx._callback_errors.append(e)


@ffi.callback("void(int, const char *, void *)")
def _on_log(level, msg, userdata):
    ctx = ffi.from_handle(userdata)
    try:
        ctx._log(level, _s(msg))
    except BaseException as e:
        ctx._callback_errors.append(e)


@ffi.callback("void(const vbd_verify_event *, void *)")
def _on_verify(e, userdata):
    w = ffi.from_handle(userdata)
    ev = {"domid": int(e.domid), "devid": int(e.devid), "vdev": _vdev(e.devid),
          "side": _s(e.side)}
    if e.v != ffi.NULL:
        ev["kind"] = "violation"
        ev["violation"] = _violation_dict(e.v)
    else:
        ev["kind"] = "state"
        ev.update(old_state=e.old_state, old_state_name=_state(e.old_state),
                  new_state=e.new_state, new_state_name=_state(e.new_state),
                  writes=int(e.writes),
                  unseen=[STATES[s] for s in range(9) if e.unseen & (1 << s)],
                  unobserved=int(e.unobserved))
    w._queue.append(ev)
    w._wake()


class Context(_Closable):
    """A libvbd context: the toolstack's connection to xenstore.

    with vbd.Context() as ctx:            # $XENSTORED_PATH, else the host's
        ctx.attach("guest1", "vdev=xvdb,target=/dev/vg/disk", timeout=30)

    xenstored_path: the xenstore daemon's socket (None: $XENSTORED_PATH, else
    libxenstore's default).  log: callable(level, message), syslog levels,
    called inside libvbd calls.  close() (or leaving the with block) frees
    it: attaches in progress are rolled back, detaches left where they are.
    """

    def __init__(self, xenstored_path=None, log=None):
        self._c = ffi.NULL
        self._ops = set()
        self._watches = set()
        self._callback_errors = []
        self._drivers = {}
        self._log = log
        self._self_handle = ffi.new_handle(self)
        o = ffi.new("vbd_ctx_options *")
        o.version = CTX_OPTIONS_VERSION
        keep = None
        if xenstored_path is not None:
            keep = ffi.new("char[]", os.fsencode(xenstored_path))
            o.xenstored_path = keep
        if log is not None:
            o.log = _on_log
            o.log_userdata = self._self_handle
        err = ffi.new("vbd_errbuf *")
        ret = ffi.new("vbd_ctx **")
        r = lib.vbd_ctx_new(ret, o, err)
        if r < 0:
            raise Error(-r, ffi.string(err.msg).decode() or None)
        self._c = ret[0]

    # -- life ---------------------------------------------------------------
    def close(self):
        """Frees the context (idempotent).  Watches end; operations in
        progress end without their callback, as vbd_ctx_free() does."""
        if self._c == ffi.NULL:
            return
        for w in list(self._watches):
            w.close()
        for d in list(self._drivers.values()):
            d.close()
        self._drivers.clear()
        lib.vbd_ctx_free(self._c)
        self._c = ffi.NULL
        self._ops.clear()

    @property
    def closed(self):
        return self._c == ffi.NULL

    def _ctx(self):
        if self._c == ffi.NULL:
            raise ValueError("vbd.Context is closed")
        return self._c

    def _fail(self, r, prefix=None):
        msg = _s(lib.vbd_ctx_last_error(self._c)) if self._c != ffi.NULL else ""
        if prefix:
            msg = "%s: %s" % (prefix, msg) if msg else prefix
        return Error(-r, msg or None)

    def _raise_callback_errors(self):
        if self._callback_errors:
            e = self._callback_errors.pop(0)
            self._callback_errors.clear()
            raise e

    # -- the caller's loop --------------------------------------------------
    def fileno(self):
        """The fd to poll for reading (select, poll, asyncio add_reader)."""
        return lib.vbd_ctx_get_fd(self._ctx())

    def timeout(self):
        """Seconds until the next deadline (a poll timeout), None if none."""
        ms = lib.vbd_ctx_get_timeout_ms(self._ctx())
        return None if ms < 0 else ms / 1000.0

    def process(self):
        """Handles pending events and expired deadlines; runs callbacks.
        Never blocks.  An exception raised by a callback comes out here."""
        r = lib.vbd_ctx_process(self._ctx())
        self._raise_callback_errors()
        if r < 0:
            raise self._fail(r)
        return r

    def wait(self, timeout=None):
        """Waits for the fd or the next deadline (at most timeout seconds),
        then process().  A blocking loop is `while not op.done: ctx.wait()`."""
        t = self.timeout()
        if timeout is not None:
            t = timeout if t is None else min(t, timeout)
        select.select([self.fileno()], [], [], t)
        return self.process()

    # -- names --------------------------------------------------------------
    def domain_lookup(self, dom):
        """A domain's id, from an id or a name.  Error(ENOENT) if none."""
        if isinstance(dom, int):
            dom = str(dom)
        out = ffi.new("vbd_domid *")
        r = lib.vbd_ctx_domain_lookup(self._ctx(), dom.encode(), out)
        if r < 0:
            raise self._fail(r)
        return int(out[0])

    # -- attach and detach --------------------------------------------------
    def _attach_options(self, dom, spec, timeout, wait, backend_domain, script, keep):
        specs = [spec] if isinstance(spec, str) else list(spec)
        cspecs = [ffi.new("char[]", s.encode()) for s in specs]
        arr = ffi.new("const char *[]", cspecs)
        err = ffi.new("vbd_errbuf *")
        ret = ffi.new("vbd_disk_spec **")
        r = lib.vbd_disk_spec_parse(len(specs), arr, ret, err)
        if r < 0:
            raise Error(-r, "bad disk spec: " + (ffi.string(err.msg).decode()
                                                 or ffi.string(lib.vbd_strerror(r)).decode()))
        parsed = ffi.gc(ret[0], lib.vbd_disk_spec_free)
        keep.append(parsed)
        o = ffi.new("vbd_attach_options *")
        o.version = ATTACH_OPTIONS_VERSION
        o.domid = self.domain_lookup(dom)
        if backend_domain is None:
            backend_domain = _s(parsed.backend_domain) or "0"
        o.backend_domid = self.domain_lookup(backend_domain)
        o.spec = parsed
        if wait not in WAIT:
            raise ValueError("wait must be one of %s" % ", ".join(WAIT))
        o.wait = WAIT[wait]
        if timeout is not None:
            o.timeout_ms = max(1, int(timeout * 1000))
        if script is not None:
            cs = ffi.new("char[]", os.fsencode(script))
            keep.append(cs)
            o.script = cs
        return o

    def attach(self, dom, spec, timeout=None, wait="connected", backend_domain=None,
               script=None):
        """Attaches a disk and waits until both ends are Connected (or
        wait="initwait"/"none"); returns its status dict.

        dom: name or id.  spec: an xl disk spec (xl-disk-configuration(5)),
        a string or a list of its parts.  timeout: seconds (None: 30).
        script: a hotplug script run as libxl runs it (None: built in).
        Raises vbd.Error: EEXIST, ENOENT, EROFS, EBUSY, ETIMEDOUT, EIO ...;
        on failure nothing is left behind (vbd_dev_attach_wait)."""
        keep = []
        o = self._attach_options(dom, spec, timeout, wait, backend_domain, script, keep)
        r = lib.vbd_dev_attach_wait(self._ctx(), o)
        self._raise_callback_errors()
        if r < 0:
            raise self._fail(r)
        return self._one(o.domid, o.spec.devid)

    def attach_start(self, dom, spec, callback=None, timeout=None, wait="connected",
                     backend_domain=None, script=None):
        """Starts an attach and returns its Operation; the nodes are written
        before it returns, the rest runs from process(), and callback(op),
        if given, runs there once at the end.  Raises at once (and never
        calls back) for what fails before the nodes are written."""
        keep = []
        o = self._attach_options(dom, spec, timeout, wait, backend_domain, script, keep)
        op = Operation(self, "attach", int(o.domid), int(o.spec.devid), callback)
        op._keep = keep
        r = lib.vbd_dev_attach(self._ctx(), o, _on_done, op._handle)
        if r < 0:
            raise self._fail(r)
        self._ops.add(op)
        return op

    def _detach_options(self, dom, vdev, force, timeout):
        o = ffi.new("vbd_detach_options *")
        o.version = DETACH_OPTIONS_VERSION
        o.domid = self.domain_lookup(dom)
        o.devid = devid(vdev)
        o.force = bool(force)
        if timeout is not None:
            o.timeout_ms = max(1, int(timeout * 1000))
        return o

    def detach(self, dom, vdev, force=False, timeout=None):
        """Closes both ends, runs the hotplug remove step, deletes the
        nodes.  vdev: a name ("xvdb") or a device id.  timeout: seconds for
        the ends to close (None: 10); force: clean up anyway after it.
        Raises vbd.Error (ENOENT: no such device, ETIMEDOUT)."""
        o = self._detach_options(dom, vdev, force, timeout)
        r = lib.vbd_dev_detach_wait(self._ctx(), o)
        self._raise_callback_errors()
        if r < 0:
            raise self._fail(r)

    def detach_start(self, dom, vdev, callback=None, force=False, timeout=None):
        """Starts a detach (both ends asked to close before it returns) and
        returns its Operation, finished from process() as attach_start's."""
        o = self._detach_options(dom, vdev, force, timeout)
        op = Operation(self, "detach", int(o.domid), int(o.devid), callback)
        r = lib.vbd_dev_detach(self._ctx(), o, _on_done, op._handle)
        if r < 0:
            raise self._fail(r)
        self._ops.add(op)
        return op

    # -- asyncio ------------------------------------------------------------
    def _driver(self, loop):
        from ._aio import LoopDriver
        d = self._drivers.get(loop)
        if d is None or d.closed:
            d = self._drivers[loop] = LoopDriver(self, loop)
        return d

    async def attach_async(self, dom, spec, **kw):
        """attach() for asyncio: the running loop polls fileno() (add_reader)
        and a timer follows timeout(); returns the status dict."""
        op = await self._run_async(self.attach_start, dom, spec, **kw)
        return self._one(op.domid, op.devid)

    async def detach_async(self, dom, vdev, **kw):
        """detach() for asyncio, driven as attach_async()."""
        await self._run_async(self.detach_start, dom, vdev, **kw)

    async def _run_async(self, start, *args, **kw):
        import asyncio
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def done(op):
            if not fut.done():
                fut.set_result(op)
        driver = self._driver(loop)
        driver.hold()
        try:
            op = start(*args, callback=done, **kw)
            driver.rearm()
            await fut
        finally:
            driver.release()
        if op.result < 0:
            raise op.error()
        return op

    # -- status, verify, watch ----------------------------------------------
    def status(self, dom=None, vdev=None):
        """The VBDs of dom (None: every domain), only vdev's if given, as
        dicts with the fields of vbd_dev_info (vbd/status.h)."""
        domid = DOMID_ALL if dom is None else self.domain_lookup(dom)
        return self._list(domid, -1 if vdev is None else devid(vdev))

    def _list(self, domid, devid_):
        ret = ffi.new("vbd_dev_info **")
        n = ffi.new("size_t *")
        r = lib.vbd_dev_list(self._ctx(), domid, devid_, ret, n)
        if r < 0:   # vbd_dev_list's errno says all (no message of its own)
            raise Error(-r, "listing devices: " + ffi.string(lib.vbd_strerror(r)).decode())
        try:
            return [_info_dict(ret[0][i]) for i in range(n[0])]
        finally:
            lib.vbd_dev_info_free(ret[0], n[0])

    def orphan_loops(self, dom=None, vdev=None):
        """The loop devices the built-in hotplug step made on this store
        that no record names (an attach killed before its record, a store
        that died): dicts with device, entry (the tag's), domid, devid,
        vdev and backend_domid (None when the entry names no device), and
        backing_file (None when unknown).  Strings come from a tag that any
        process configuring a loop device could write: escape them before
        a terminal.  detach(domid, vdev, force=True) frees one."""
        domid = None if dom is None else self.domain_lookup(dom)
        want = None if vdev is None else devid(vdev)
        n = ffi.new("size_t *")
        v, room = ffi.NULL, 0
        while True:   # another attach may leave one more between two calls
            r = lib.vbd_loop_orphan_list(self._ctx(), v, room, n)
            if r < 0:
                raise self._fail(r, "listing orphan loop devices")
            if n[0] <= room:
                break
            room = n[0]
            v = ffi.new("vbd_loop_orphan[]", room)
            v[0].size = ffi.sizeof("vbd_loop_orphan")
        out = []
        for i in range(n[0]):
            o = v[i]
            dev = bool(o.has_dev)
            if (domid is not None and (not dev or o.domid != domid)) or \
                    (want is not None and (not dev or o.devid != want)):
                continue
            back = ffi.string(o.backing_file).decode("utf-8", "replace")
            out.append({
                "device": ffi.string(o.device).decode("utf-8", "replace"),
                "entry": ffi.string(o.entry).decode("utf-8", "replace"),
                "domid": int(o.domid) if dev else None,
                "devid": int(o.devid) if dev else None,
                "vdev": _vdev(o.devid) if dev else None,
                "backend_domid": int(o.backend_domid) if dev else None,
                "backing_file": back or None,
            })
        return out

    def _one(self, domid, devid_):
        v = self._list(domid, devid_)
        return v[0] if v else None

    def verify(self, dom, vdev):
        """Checks a device's nodes against the protocol's rules; the list of
        violations ({"rule", "node", "detail"}), empty when it passes."""
        domid = self.domain_lookup(dom)
        ret = ffi.new("vbd_violation **")
        n = ffi.new("size_t *")
        r = lib.vbd_dev_verify(self._ctx(), domid, devid(vdev), ret, n)
        if r < 0:
            raise self._fail(r)
        try:
            return [_violation_dict(ret[0][i]) for i in range(n[0])]
        finally:
            lib.vbd_violation_free(ret[0], n[0])

    def watch(self, dom=None, timeout=None):
        """The verifier following the VBDs of dom (None: all), as an
        iterator of dicts: {"kind": "state", "side", "old_state(_name)",
        "new_state(_name)", "writes", "unseen", "unobserved"} or {"kind": "violation",
        "violation": {...}}, each with domid, devid, vdev.  It ends when
        closed (Watch.close(), or the context's), or timeout seconds after
        it began if given.  `async for` works too, under asyncio."""
        domid = DOMID_ALL if dom is None else self.domain_lookup(dom)
        return Watch(self, domid, timeout)


class Watch:
    """Context.watch(): an iterator over the verifier's reports."""

    def __init__(self, ctx, domid, timeout):
        import collections
        self.ctx = ctx
        self._queue = collections.deque()
        self._waiter = None     # an asyncio future while `async for` waits
        self._v = ffi.NULL
        self._handle = ffi.new_handle(self)
        self._deadline = None if timeout is None else time.monotonic() + timeout
        ret = ffi.new("vbd_verifier **")
        r = lib.vbd_verifier_follow(ctx._ctx(), domid, _on_verify, self._handle, ret)
        if r < 0:
            raise ctx._fail(r)
        self._v = ret[0]
        ctx._watches.add(self)

    @property
    def closed(self):
        return self._v == ffi.NULL

    def close(self):
        """Stops following; iteration ends after what was already read."""
        if self._v != ffi.NULL:
            lib.vbd_verifier_free(self._v)
            self._v = ffi.NULL
            self.ctx._watches.discard(self)
        self._queue.clear()
        self._wake()

    def _wake(self):
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return self

    def pending(self):
        """The reports read so far and not yet iterated, taken (no wait)."""
        out = list(self._queue)
        self._queue.clear()
        return out

    def __next__(self):
        while not self._queue:
            if self.closed:
                raise StopIteration
            left = None
            if self._deadline is not None:
                left = self._deadline - time.monotonic()
                if left <= 0:
                    raise StopIteration
            self.ctx.wait(left)
        return self._queue.popleft()

    # `async for ev in ctx.watch(...)`: the running loop polls the context's
    # fd while it waits, as for attach_async (no thread).
    def __aiter__(self):
        return self

    async def __anext__(self):
        import asyncio
        loop = asyncio.get_running_loop()
        while not self._queue:
            if self.closed:
                raise StopAsyncIteration
            left = None
            if self._deadline is not None:
                left = self._deadline - time.monotonic()
                if left <= 0:
                    raise StopAsyncIteration
            driver = self.ctx._driver(loop)
            driver.hold()
            self._waiter = loop.create_future()
            try:
                driver.rearm()
                await asyncio.wait_for(asyncio.shield(self._waiter), left)
            except asyncio.TimeoutError:
                pass     # the deadline: checked again above
            finally:
                self._waiter = None
                driver.release()
        return self._queue.popleft()
