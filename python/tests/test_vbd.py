# SPDX-License-Identifier: LGPL-2.1-or-later
# The binding against the simulated host: blocking attach/status/verify/
# detach, the same under asyncio driven by the context's fd, errors as
# vbd.Error with errno and the library's message, the verifier's watch
# yielding the handshake, and the embedded store.
import asyncio
import errno
import os
import subprocess
import threading
import time

import pytest

import vbd
from conftest import loops_on


def spec(path, vdev="xvdb"):
    return "format=raw,vdev=%s,access=rw,target=%s" % (vdev, path)


def no_loops(path):
    # A loop device another process still holds is freed on its last close,
    # just after the detach returned (tests/harness.sh no_loops).
    for _ in range(30):
        if not loops_on(path):
            return True
        time.sleep(0.1)
    return False


def test_attach_status_verify_detach(ctx, image):
    img = image()
    d = ctx.attach("guest1", spec(img), timeout=20)
    assert d["domid"] == 1 and d["vdev"] == "xvdb" and d["devid"] == 51728
    assert (d["backend_state"], d["backend_state_name"]) == (4, "Connected")
    assert (d["frontend_state"], d["frontend_state_name"]) == (4, "Connected")
    assert d["params"] == img and d["mode"] == "w" and d["hotplug_status"] == "connected"
    assert d["sectors"] == 32768 and d["sector_size"] == 512
    assert d["in_libxl"] is True
    assert len(loops_on(img)) == 1

    st = ctx.status("guest1")
    assert [x["vdev"] for x in st] == ["xvdb"]
    assert st[0]["backend_path"] == "/local/domain/0/backend/vbd/1/51728"
    assert ctx.status("guest1", "xvdb") == st
    assert ctx.status(2) == []
    assert [x["domid"] for x in ctx.status()] == [1]
    assert ctx.verify("guest1", "xvdb") == []

    ctx.detach("guest1", "xvdb")
    assert ctx.status() == []
    assert no_loops(img)


def test_orphan_loops(ctx, sim, image, monkeypatch):
    # The context's socket, not $XENSTORED_PATH (unset here), is the store
    # the attach's loop device is tagged for, and the one listed.
    monkeypatch.delenv("XENSTORED_PATH", raising=False)
    img = image()
    ctx.attach("guest1", spec(img), timeout=20)
    assert ctx.orphan_loops() == []          # its record names it
    env = dict(os.environ, XENSTORED_PATH=sim.xenstored_path)
    subprocess.run(["xenstore-rm", "/libvbd/backend/0-1-51728"], env=env, check=True)
    (o,) = ctx.orphan_loops()               # a store that lost the record
    assert o == {"device": loops_on(img)[0], "entry": "0-1-51728", "domid": 1,
                 "devid": 51728, "vdev": "xvdb", "backend_domid": 0, "backing_file": img}
    assert ctx.orphan_loops("guest1", "xvdb") == [o]
    assert ctx.orphan_loops("guest1", "xvdc") == [] and ctx.orphan_loops(2) == []
    ctx.detach("guest1", "xvdb", force=True, timeout=5)
    assert no_loops(img)
    assert ctx.orphan_loops() == []


def test_nonblocking_from_callers_loop(ctx, image):
    img = image()
    seen = []
    op = ctx.attach_start(1, spec(img, "xvdc"), callback=seen.append, timeout=20)
    assert op.done is None and seen == []      # never called back inside the call
    while not op.done:
        ctx.wait()
    assert seen == [op] and op.result == 0 and op.error() is None
    op = ctx.detach_start("guest1", "xvdc", callback=seen.append)
    while not op.done:
        ctx.wait()
    assert op.result == 0 and ctx.status() == []


def test_log_callback(sim, image):
    img = image()
    logs = []
    with vbd.Context(xenstored_path=sim.xenstored_path,
                     log=lambda level, msg: logs.append((level, msg))) as c:
        c.attach("guest1", spec(img, "xvdf"), timeout=20)
        c.detach("guest1", "xvdf")
    assert (6, "/local/domain/0/backend/vbd/1/51792: nodes written, running hotplug") in logs


def test_callback_exception_comes_out_of_process(ctx, image):
    img = image()

    def boom(op):
        raise RuntimeError("from the callback")
    op = ctx.attach_start("guest1", spec(img, "xvdd"), callback=boom, timeout=20)
    with pytest.raises(RuntimeError, match="from the callback"):
        while True:
            ctx.wait()
    assert op.result == 0
    ctx.detach("guest1", "xvdd")


def test_asyncio(ctx, image):
    imgs = [image("a.img"), image("b.img")]
    threads = threading.active_count()

    async def main():
        loop = asyncio.get_running_loop()
        # Two attaches at once on one context, one fd watched for both.
        t = [asyncio.create_task(ctx.attach_async("guest2", spec(p, v), timeout=20))
             for p, v in zip(imgs, ("xvdb", "xvdc"))]
        await asyncio.sleep(0)
        assert ctx._drivers[loop].users == 2
        devs = await asyncio.gather(*t)
        assert loop not in ctx._drivers           # the fd is no longer watched
        assert threading.active_count() == threads  # driven by the fd, no thread
        assert [d["frontend_state_name"] for d in devs] == ["Connected", "Connected"]
        with pytest.raises(vbd.Error) as e:
            await ctx.attach_async("guest2", spec(imgs[0], "xvdb"))
        assert e.value.errno == errno.EEXIST
        await asyncio.gather(ctx.detach_async("guest2", "xvdb"),
                             ctx.detach_async("guest2", "xvdc"))
    asyncio.run(main())
    assert ctx.status() == []
    assert all(no_loops(p) for p in imgs)


def test_errors(ctx, image):
    img = image()
    with pytest.raises(vbd.Error) as e:
        ctx.attach("guest1", "vdev=xvdb,bogus=1,target=" + img)
    assert e.value.errno == errno.EINVAL and isinstance(e.value, OSError)
    assert e.value.strerror.startswith("bad disk spec: ")
    assert "unknown parameter" in e.value.strerror

    with pytest.raises(vbd.Error) as e:
        ctx.attach("guest1", spec(img + ".missing"))
    assert e.value.errno == errno.ENOENT
    assert e.value.strerror == "target %s.missing: No such file or directory" % img

    # The message is this call's, not chained to the failure before.
    with pytest.raises(vbd.Error) as e:
        ctx.attach("guest9", spec(img))
    assert (e.value.errno, e.value.errname) == (errno.ENOENT, "ENOENT")
    assert e.value.strerror == "no domain named 'guest9'"
    assert str(e.value) == "[ENOENT] no domain named 'guest9'"

    with pytest.raises(vbd.Error) as e:
        ctx.verify("guest1", "xvdo")
    assert e.value.errno == errno.ENOENT
    assert e.value.strerror.startswith("domain 1 has no device 51936 ")

    with pytest.raises(vbd.Error) as e:
        ctx.detach("guest1", "xvdo")
    assert e.value.errno == errno.ENOENT

    ctx.attach("guest1", spec(img), timeout=20)
    with pytest.raises(vbd.Error) as e:
        ctx.attach("guest1", spec(img, "xvdb"))
    assert e.value.errno == errno.EEXIST and "exists already" in e.value.strerror
    ctx.detach("guest1", "xvdb")

    with pytest.raises(vbd.Error) as e:
        vbd.devid("nonsense")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(vbd.Error) as e:
        vbd.Context(xenstored_path="/nonexistent/xenstored.sock")
    assert e.value.errno == errno.ECONNREFUSED
    assert "/nonexistent/xenstored.sock" in e.value.strerror


def test_watch_yields_the_handshake(ctx, image):
    img = image()
    w = ctx.watch("guest1", timeout=120)   # a bound for a broken build, not a timing
    op = ctx.attach_start("guest1", spec(img), timeout=20)
    # Each end's way as the watch tells it: the states it read, and those it
    # says it did not see (passed by between two reads, or settled later:
    # a read that ran ahead of its events, vbd/verify.h).
    way = {"backend": set(), "frontend": set()}
    last = {}

    def take(ev):
        assert ev["kind"] == "state", ev
        assert (ev["domid"], ev["vdev"]) == (1, "xvdb")
        if ev["new_state_name"]:
            way[ev["side"]].add(ev["new_state_name"])
        way[ev["side"]].update(ev["unseen"])
        last[ev["side"]] = ev["new_state_name"]

    # The watch's iteration drives the context, and so the attach too.
    for ev in w:
        take(ev)
        if last == {"backend": "Connected", "frontend": "Connected"}:
            break
    assert last == {"backend": "Connected", "frontend": "Connected"}, way
    while not op.done:    # the attach saw them too, in this call or a later one
        ctx.wait()
    assert op.result == 0

    ctx.detach("guest1", "xvdb")
    # The removals' events may come after detach returned: the watch reads on.
    for ev in w:
        take(ev)
        if last == {"backend": None, "frontend": None}:
            break
    assert last == {"backend": None, "frontend": None}, way
    # The backend's way; the frontend may go from Initialising to Connected
    # in one write (as Mini-OS does), so Initialised is not required of it.
    assert {"Initialising", "InitWait", "Connected"} <= way["backend"]
    assert {"Initialising", "Connected"} <= way["frontend"]
    w.close()
    assert list(w) == []           # a closed watch ends


def test_watch_under_asyncio(ctx, image):
    img = image()

    async def main():
        w = ctx.watch("guest2", timeout=120)   # a bound for a broken build
        attach = asyncio.create_task(ctx.attach_async("guest2", spec(img, "xvde")))
        last = {}
        async for ev in w:
            assert ev["kind"] == "state" and ev["vdev"] == "xvde", ev
            last[ev["side"]] = ev["new_state_name"]
            if last == {"backend": "Connected", "frontend": "Connected"}:
                break
        assert last == {"backend": "Connected", "frontend": "Connected"}
        await attach
        await ctx.detach_async("guest2", "xvde")

        async def closer():
            w.close()
        asyncio.get_running_loop().call_soon(asyncio.ensure_future, closer())
        rest = [ev async for ev in w]       # ends when closed, from another task
        assert w.closed and all(ev["kind"] == "state" for ev in rest)
    asyncio.run(main())
    assert ctx.status() == [] and no_loops(img)


def test_watch_ends_at_its_timeout(ctx):
    with ctx.watch(timeout=0.2) as w:
        assert list(w) == []
    assert w.closed

    async def main():
        with ctx.watch(timeout=0.2) as w:
            return [ev async for ev in w]
    assert asyncio.run(main()) == []


def test_store_round_trip(tmp_path):
    sock = str(tmp_path / "xs.sock")
    with vbd.Store(sock) as s:
        s.serve_in_thread()
        env = dict(os.environ, XENSTORED_PATH=sock)
        subprocess.run(["xenstore-write", "/local/domain/7/name", "guest7", "/a/b", "hello"],
                       env=env, check=True)
        out = subprocess.run(["xenstore-read", "/a/b"], env=env, check=True,
                             capture_output=True, text=True).stdout
        assert out == "hello\n"
        with vbd.Context(xenstored_path=sock) as c:
            assert c.domain_lookup("guest7") == 7
            assert c.status() == []
        s.domain_add(7)
        assert os.path.exists(s.domain_socket(7))
        st = s.stats()
        assert st["domains"] == 1 and st["requests"] > 0
        with pytest.raises(vbd.Error) as e:
            s.domain_add(7)
        assert e.value.errno == errno.EEXIST
        path = s.domain_socket(7)
        s.domain_remove(7)
        assert not os.path.exists(path)
        with pytest.raises(vbd.Error) as e:
            s.domain_socket(7)
        assert e.value.errno == errno.ENOENT
        with pytest.raises(vbd.Error) as e:
            vbd.Store(sock)
        assert e.value.errno == errno.EADDRINUSE
    assert not os.path.exists(sock)


def test_simhost_sets_the_environment(sim):
    before = os.environ.get("XENSTORED_PATH")
    with vbd.SimHost(guests=1, set_env=True) as h:
        assert h.xenstored_path != sim.xenstored_path
        assert os.environ["XENSTORED_PATH"] == h.xenstored_path
        with vbd.Context() as c:       # found through $XENSTORED_PATH
            assert c.domain_lookup("guest1") == 1
            with pytest.raises(vbd.Error) as e:
                c.domain_lookup("guest2")
            assert e.value.errno == errno.ENOENT
        directory = h.directory
    assert os.environ.get("XENSTORED_PATH") == before
    assert not os.path.exists(directory)
