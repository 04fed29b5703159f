#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes the seed corpus of fuzz_xs_wire (fuzz/corpus/fuzz_xs_wire/).

Input format (see fuzz_xs_wire.c): chunks of  u8 op, u16 len (LE), bytes.
op 0/1/2 write raw wire bytes to the connection acting as dom0/dom1/dom2;
op >= 0xf0 is a control action (pause, reconnect, shutdown, domain
remove/add, stats).  A tx_id of TX(k) = 0xfffffff8 + k is replaced by the
harness with the k-th newest transaction id the daemon gave that
connection, so the seeds work whatever ids the daemon hands out.

    python3 fuzz/make_corpus.py [OUTDIR]

Files named regress-* in the directory are reproducers of past findings and
are left alone; every other file is rewritten.
"""
import os
import struct
import sys

# enum xsd_sockmsg_type, xen/io/xs_wire.h
XS_CONTROL, XS_DIRECTORY, XS_READ, XS_GET_PERMS, XS_WATCH, XS_UNWATCH, \
    XS_TRANSACTION_START, XS_TRANSACTION_END, XS_INTRODUCE, XS_RELEASE, \
    XS_GET_DOMAIN_PATH, XS_WRITE, XS_MKDIR, XS_RM, XS_SET_PERMS, \
    XS_WATCH_EVENT, XS_ERROR, XS_IS_DOMAIN_INTRODUCED, XS_RESUME, \
    XS_SET_TARGET = range(20)
XS_RESET_WATCHES = 21
XS_DIRECTORY_PART = 22
XS_TYPE_COUNT = 23

TYPE_NAMES = {
    XS_CONTROL: "control", XS_DIRECTORY: "directory", XS_READ: "read",
    XS_GET_PERMS: "get-perms", XS_WATCH: "watch", XS_UNWATCH: "unwatch",
    XS_TRANSACTION_START: "transaction-start",
    XS_TRANSACTION_END: "transaction-end", XS_INTRODUCE: "introduce",
    XS_RELEASE: "release", XS_GET_DOMAIN_PATH: "get-domain-path",
    XS_WRITE: "write", XS_MKDIR: "mkdir", XS_RM: "rm",
    XS_SET_PERMS: "set-perms", XS_WATCH_EVENT: "watch-event",
    XS_ERROR: "error", XS_IS_DOMAIN_INTRODUCED: "is-domain-introduced",
    XS_RESUME: "resume", XS_SET_TARGET: "set-target",
    XS_RESET_WATCHES: "reset-watches", XS_DIRECTORY_PART: "directory-part",
}

DOM0, DOM1, DOM2 = 0, 1, 2
PAUSE = [0xf0, 0xf1, 0xf2]        # toggles reading of a slot
RECONNECT = [0xf3, 0xf4, 0xf5]
SHUT_WR = [0xf6, 0xf7, 0xf8]
REMOVE = {1: 0xf9, 2: 0xfb}
ADD = {1: 0xfa, 2: 0xfc}
STATS = 0xfd


def TX(k=0):
    return 0xfffffff8 + k


def z(*parts):
    """NUL-terminated strings, concatenated."""
    out = b""
    for p in parts:
        out += (p.encode() if isinstance(p, str) else p) + b"\0"
    return out


def raw(s):
    return s.encode() if isinstance(s, str) else s


class Input:
    def __init__(self):
        self.data = b""
        self.req = 0

    def chunk(self, op, payload=b""):
        self.data += struct.pack("<BH", op, len(payload)) + payload
        return self

    def msg_bytes(self, type_, payload=b"", tx=0, length=None, req=None):
        if req is None:
            self.req += 1
            req = self.req
        if length is None:
            length = len(payload)
        return struct.pack("<IIII", type_, req, tx, length) + payload

    def msg(self, slot, type_, payload=b"", tx=0, length=None, req=None):
        return self.chunk(slot, self.msg_bytes(type_, payload, tx, length, req))

    def ctl(self, op):
        return self.chunk(op)

    # Shorthands.
    def read(self, slot, path, tx=0):
        return self.msg(slot, XS_READ, z(path), tx)

    def write(self, slot, path, value, tx=0):
        return self.msg(slot, XS_WRITE, z(path) + raw(value), tx)

    def mkdir(self, slot, path, tx=0):
        return self.msg(slot, XS_MKDIR, z(path), tx)

    def rm(self, slot, path, tx=0):
        return self.msg(slot, XS_RM, z(path), tx)

    def ls(self, slot, path, tx=0):
        return self.msg(slot, XS_DIRECTORY, z(path), tx)

    def perms(self, slot, path, *perms, tx=0):
        return self.msg(slot, XS_SET_PERMS, z(path, *perms), tx)

    def getperms(self, slot, path, tx=0):
        return self.msg(slot, XS_GET_PERMS, z(path), tx)

    def watch(self, slot, path, token):
        return self.msg(slot, XS_WATCH, z(path, token))

    def unwatch(self, slot, path, token):
        return self.msg(slot, XS_UNWATCH, z(path, token))

    def start(self, slot):
        return self.msg(slot, XS_TRANSACTION_START, z(""))

    def end(self, slot, commit=True, k=0):
        return self.msg(slot, XS_TRANSACTION_END, z("T" if commit else "F"), TX(k))

    def home(self, domid):
        """What a toolstack does: the guest's home, owned by the guest."""
        p = "/local/domain/%d" % domid
        self.mkdir(DOM0, p)
        return self.perms(DOM0, p, "n%d" % domid)


SEEDS = {}


def seed(name):
    def reg(fn):
        SEEDS[name] = fn
        return fn
    return reg


# ---- one seed per message type: valid requests, then broken ones ----

VALID = {
    XS_CONTROL: [z("print", "hello"), z("log", "on"), z("quota")],
    XS_DIRECTORY: [z("/"), z("/local/domain"), z("@introduceDomain")],
    XS_READ: [z("/"), z("/local/domain/1/name"), z("name")],
    XS_GET_PERMS: [z("/"), z("/local"), z("data")],
    XS_WATCH: [z("/local", "tok"), z("@releaseDomain", "rel"), z("data", "rel")],
    XS_UNWATCH: [z("/local", "tok"), z("@releaseDomain", "rel")],
    XS_TRANSACTION_START: [z("")],
    XS_TRANSACTION_END: [z("T"), z("F")],
    XS_INTRODUCE: [z("5", "12345", "7")],
    XS_RELEASE: [z("5")],
    XS_GET_DOMAIN_PATH: [z("1"), z("0"), z("32752")],
    XS_WRITE: [z("/local/domain/1/name") + b"guest", z("data/x") + b"1",
               z("/tool/a") + b""],
    XS_MKDIR: [z("/tool/d"), z("data/d")],
    XS_RM: [z("/tool/d"), z("/nonexistent"), z("data")],
    XS_SET_PERMS: [z("/tool", "n0", "r1"), z("/local/domain/1", "n1", "r2")],
    XS_WATCH_EVENT: [z("/x", "tok")],
    XS_ERROR: [z("EINVAL")],
    XS_IS_DOMAIN_INTRODUCED: [z("1"), z("3")],
    XS_RESUME: [z("1")],
    XS_SET_TARGET: [z("2", "1")],
    XS_RESET_WATCHES: [b""],
    XS_DIRECTORY_PART: [z("/", "0"), z("/local/domain", "0")],
}

BROKEN = [b"", b"\0", b"no-nul", b"//\0", b"/a/\0", b"/a b\0x",
          b"\0\0\0\0", b"99999999999999999999\0", b"-1\0", b"/" * 40 + b"\0"]


def make_type_seed(t):
    def fn(i):
        i.home(1)
        for slot in (DOM0, DOM1):
            for p in VALID[t]:
                i.msg(slot, t, p)
        for p in BROKEN[:6]:
            i.msg(DOM1, t, p)
        for p in BROKEN[6:]:
            i.msg(DOM0, t, p)
        return i
    return fn


for _t, _n in TYPE_NAMES.items():
    SEEDS["type-%02d-%s" % (_t, _n)] = make_type_seed(_t)


@seed("type-unknown")
def _(i):
    i.msg(DOM0, 20, z("/"))            # the removed XS_RESTRICT
    i.msg(DOM0, XS_TYPE_COUNT, z("/"))
    i.msg(DOM1, 0xffff, z("/"))        # XS_INVALID
    return i.msg(DOM1, 0xffffffff, b"")


# ---- basic tree operations ----

@seed("tree-basic")
def _(i):
    i.write(DOM0, "/a/b/c", "v1").read(DOM0, "/a/b/c").ls(DOM0, "/a")
    i.mkdir(DOM0, "/a/e").mkdir(DOM0, "/a/e").getperms(DOM0, "/a/b")
    i.rm(DOM0, "/a/b").read(DOM0, "/a/b/c").rm(DOM0, "/a/b")
    return i.ls(DOM0, "/").write(DOM0, "rel", "relative-to-dom0-home")


@seed("tree-deep")
def _(i):
    deep = "/d" + "/x" * 1000         # 2002 chars, well within 3072
    i.write(DOM0, deep, "leaf").read(DOM0, deep)
    i.watch(DOM0, "/d", "deep").rm(DOM0, "/d")
    return i.read(DOM0, deep)


@seed("tree-wide-directory-part")
def _(i):
    # 40 writes of 100-char names: DIRECTORY > 4096 -> E2BIG, then parts.
    for n in range(45):
        i.write(DOM0, "/w/%s%03d" % ("n" * 96, n), "")
    i.ls(DOM0, "/w")
    i.msg(DOM0, XS_DIRECTORY_PART, z("/w", "0"))
    i.msg(DOM0, XS_DIRECTORY_PART, z("/w", "2000"))
    i.msg(DOM0, XS_DIRECTORY_PART, z("/w", "4000"))
    i.msg(DOM0, XS_DIRECTORY_PART, z("/w", "999999"))
    i.msg(DOM0, XS_DIRECTORY_PART, z("/w", "x"))
    return i.msg(DOM0, XS_DIRECTORY_PART, z("/w"))


@seed("paths-invalid")
def _(i):
    i.home(1)
    for p in ["", "/", "//", "/a//b", "/a/", "a/", "/a b", "/a\tb", "/a.b",
              "/local/domain/01/x", "/local/domain/1/../2", "/local/domain//1",
              "@introduceDomain/x", "@other"]:
        i.read(DOM1, p)
        i.write(DOM0, p, "x")
    # At and just past the limits: absolute 3072, relative 2048.
    i.write(DOM0, "/" + "p" * 3071, "x").read(DOM0, "/" + "p" * 3072)
    return i.write(DOM1, "r" * 2048, "x").read(DOM1, "r" * 2049)


@seed("paths-domain-canon")
def _(i):
    i.home(1).home(2)
    i.write(DOM1, "/local/domain/1/a", "1").read(DOM1, "a")
    i.write(DOM1, "/local/domain/001/a", "2").read(DOM1, "/local/domain/0x1/a")
    return i.write(DOM2, "/local/domain/2/../1/a", "3").read(DOM2, "/local/domain/1/a")


# ---- transactions ----

@seed("txn-commit")
def _(i):
    i.start(DOM0).write(DOM0, "/t/a", "1", TX()).read(DOM0, "/t/a", TX())
    i.read(DOM0, "/t/a").ls(DOM0, "/t", TX()).end(DOM0, True)
    return i.read(DOM0, "/t/a")


@seed("txn-abort")
def _(i):
    i.start(DOM0).write(DOM0, "/t/a", "1", TX()).mkdir(DOM0, "/t/b", TX())
    return i.end(DOM0, False).read(DOM0, "/t/a").end(DOM0, True)


@seed("txn-conflict")
def _(i):
    i.home(1).write(DOM0, "/local/domain/1/x", "0")
    i.start(DOM1).read(DOM1, "x", TX()).write(DOM1, "x", "1", TX())
    i.write(DOM0, "/local/domain/1/x", "2")
    return i.end(DOM1, True).read(DOM1, "x")


@seed("txn-nested-and-ids")
def _(i):
    i.start(DOM0).start(DOM0)
    i.msg(DOM0, XS_TRANSACTION_START, z(""), TX())   # start inside a txn
    i.read(DOM0, "/", 12345).read(DOM0, "/", TX(1))
    i.end(DOM0, True, 1).end(DOM0, True, 1)
    i.msg(DOM0, XS_TRANSACTION_END, z("T"), 0)
    i.msg(DOM0, XS_TRANSACTION_END, z("X"), TX())
    i.msg(DOM0, XS_TRANSACTION_END, b"T", TX())
    return i.msg(DOM1, XS_TRANSACTION_END, z("T"), TX())


@seed("txn-quota")
def _(i):
    i.home(1)
    for _ in range(5):
        i.start(DOM1)
    for k in range(3):
        i.write(DOM1, "k%d" % k, "v", TX(k))
    for k in range(3):
        i.end(DOM1, True, k)
    return i


@seed("txn-too-many-nodes")
def _(i):
    i.home(1).start(DOM1)
    for n in range(70):
        i.write(DOM1, "n%d" % n, "", TX())
    return i.end(DOM1, True).ls(DOM1, "/local/domain/1")


@seed("txn-node-quota-at-commit")
def _(i):
    i.home(1).start(DOM1)
    for n in range(55):
        i.write(DOM1, "n%d" % n, "", TX())
    i.end(DOM1, True).ls(DOM1, "/local/domain/1")
    return i.start(DOM1).rm(DOM1, "n1", TX()).write(DOM1, "m", "", TX()).end(DOM1, True)


@seed("txn-node-quota-raced")
def _(i):
    # The guest's transaction fits its quota when made, but dom0 gives it
    # more nodes before it commits: ENOSPC at commit.
    i.home(1).start(DOM1)
    for n in range(20):
        i.write(DOM1, "t%d" % n, "", TX())
    for n in range(5):
        i.write(DOM0, "/g%d" % n, "").perms(DOM0, "/g%d" % n, "n1")
    i.end(DOM1, True).ls(DOM1, "/local/domain/1")
    return i.rm(DOM0, "/g0").start(DOM1).write(DOM1, "u", "", TX()).end(DOM1, True)


@seed("txn-create-delete")
def _(i):
    i.home(1).start(DOM1)
    i.write(DOM1, "c/d/e", "x", TX()).rm(DOM1, "c", TX())
    i.write(DOM1, "c", "y", TX()).rm(DOM1, "c", TX())
    i.mkdir(DOM1, "f", TX()).rm(DOM1, "f", TX())
    return i.end(DOM1, True).ls(DOM1, "/local/domain/1")


@seed("txn-failed-create")
def _(i):
    i.home(1).start(DOM1)
    i.write(DOM1, "/local/domain/0/x", "no", TX())   # EACCES inside txn
    i.write(DOM1, "ok", "v" * 300, TX())             # too big
    i.write(DOM1, "ok", "v", TX())
    return i.end(DOM1, True).read(DOM1, "ok")


@seed("txn-reset-watches")
def _(i):
    i.home(1).watch(DOM1, "/local/domain/1", "t").start(DOM1).write(DOM1, "x", "1", TX())
    i.msg(DOM1, XS_RESET_WATCHES, b"", TX())
    i.msg(DOM1, XS_RESET_WATCHES, b"")
    return i.end(DOM1, True).write(DOM1, "x", "2")


@seed("txn-watch-events-at-commit")
def _(i):
    i.home(1).watch(DOM0, "/local/domain/1", "w0")
    i.start(DOM1)
    for n in range(10):
        i.write(DOM1, "e%d" % n, str(n), TX())
    return i.end(DOM1, True)


@seed("txn-close-during")
def _(i):
    i.home(1).start(DOM1).write(DOM1, "x", "1", TX())
    i.ctl(RECONNECT[1]).read(DOM1, "x")
    i.start(DOM0).write(DOM0, "/z", "1", TX()).ctl(SHUT_WR[0])
    return i.ctl(RECONNECT[0]).read(DOM0, "/z")


# ---- watches ----

@seed("watch-basic")
def _(i):
    i.home(1).watch(DOM0, "/local", "l").watch(DOM1, "/local/domain/1", "home")
    i.write(DOM1, "a/b", "1").rm(DOM1, "a").perms(DOM0, "/local/domain/1", "n1", "r0")
    i.unwatch(DOM0, "/local", "l").unwatch(DOM0, "/local", "l")
    return i.write(DOM1, "a", "2")


@seed("watch-dup-and-quota")
def _(i):
    i.home(1).watch(DOM1, "x", "t").watch(DOM1, "x", "t")
    for n in range(10):
        i.watch(DOM1, "w%d" % n, "t")
    return i.msg(DOM1, XS_RESET_WATCHES, b"").watch(DOM1, "x", "t")


@seed("watch-big-token")
def _(i):
    i.home(1)
    i.watch(DOM1, "/local/domain/1", "T" * 1000).watch(DOM1, "/local/domain/1", "U" * 4000)
    i.watch(DOM0, "/" + "p" * 3000, "V" * 1000)
    return i.write(DOM1, "x", "1").write(DOM0, "/" + "p" * 3000, "1")


@seed("watch-max-size-event")
def _(i):
    # Events of path + token = 4096 bytes, the most a message may carry.
    i.home(1)
    longp = "/local/domain/1/" + "/".join(["y" * 99] * 30)   # 3015 chars
    i.watch(DOM1, "/local/domain/1", "M" * 1022).watch(DOM0, "/local/domain/1", "L" * 1022)
    i.ctl(PAUSE[1]).write(DOM1, longp, "v").write(DOM0, longp, "x")
    return i.rm(DOM0, "/local/domain/1/" + "y" * 99).ctl(PAUSE[1])


@seed("watch-special")
def _(i):
    i.watch(DOM1, "@introduceDomain", "i").watch(DOM1, "@releaseDomain", "r")
    i.watch(DOM0, "@introduceDomain", "i").watch(DOM0, "@releaseDomain", "r")
    i.msg(DOM0, XS_INTRODUCE, z("5", "1", "1"))
    i.msg(DOM0, XS_RELEASE, z("5"))
    return i.ctl(REMOVE[2]).ctl(ADD[2])


@seed("watch-leak-unreadable")
def _(i):
    # dom2 watches dom1's private node: events must be filtered.
    i.home(1).home(2).write(DOM1, "secret", "s")
    i.watch(DOM2, "/local/domain/1", "spy").watch(DOM2, "/local/domain/1/secret", "spy2")
    i.write(DOM1, "secret", "t").perms(DOM1, "secret", "n1", "r2")
    return i.write(DOM1, "secret", "u").perms(DOM1, "secret", "n1").rm(DOM1, "secret")


@seed("watch-event-flood-paused")
def _(i):
    i.home(1).watch(DOM1, "/local/domain/1", "flood").ctl(PAUSE[1])
    for n in range(60):
        i.write(DOM0, "/local/domain/1/f", "x" * 200)
    return i.ctl(PAUSE[1]).read(DOM1, "f")


@seed("outstanding-paused")
def _(i):
    i.home(1).write(DOM1, "big", "b" * 256).ctl(PAUSE[1])
    for _ in range(60):
        i.read(DOM1, "big")
    return i.ctl(STATS).ctl(PAUSE[1])


@seed("outstanding-paused-dom0")
def _(i):
    i.write(DOM0, "/big", "b" * 4000).watch(DOM0, "/", "all").ctl(PAUSE[0])
    for _ in range(40):
        i.read(DOM0, "/big")
        i.write(DOM0, "/big", "c" * 100)
    return i.ctl(STATS).ctl(PAUSE[0])


# ---- permissions and quotas ----

@seed("perms-basic")
def _(i):
    i.home(1).home(2).write(DOM1, "p", "1")
    i.read(DOM2, "/local/domain/1/p").write(DOM2, "/local/domain/1/p", "x")
    i.perms(DOM1, "p", "n1", "r2").read(DOM2, "/local/domain/1/p")
    i.perms(DOM1, "p", "n1", "w2").write(DOM2, "/local/domain/1/p", "y")
    i.perms(DOM1, "p", "r1", "b2").getperms(DOM2, "/local/domain/1/p")
    return i.rm(DOM2, "/local/domain/1/p")


@seed("perms-owner-change")
def _(i):
    i.home(1).write(DOM1, "o", "1").perms(DOM1, "o", "n2")
    i.perms(DOM1, "o", "n1", "n1", "n1", "n1", "n1", "n1")
    i.perms(DOM1, "o", "x1").perms(DOM1, "o", "n").perms(DOM1, "o", "n99999")
    i.perms(DOM1, "o").perms(DOM1, "/", "n1").perms(DOM1, "/local/domain/1", "n1", "r0")
    return i.perms(DOM0, "/", "r0").read(DOM1, "/").write(DOM1, "/x", "1")


@seed("quota-nodes")
def _(i):
    i.home(1)
    for n in range(55):
        i.write(DOM1, "q/%d" % n, "")
    return i.rm(DOM1, "q").write(DOM1, "q/again", "")


@seed("quota-value-size")
def _(i):
    i.home(1).write(DOM1, "v", "x" * 256).write(DOM1, "v", "x" * 257)
    return i.write(DOM0, "/v", "y" * 4000).read(DOM0, "/v")


@seed("set-target")
def _(i):
    i.home(1).home(2).write(DOM1, "t", "1")
    i.msg(DOM0, XS_SET_TARGET, z("2", "1"))
    i.read(DOM2, "/local/domain/1/t").write(DOM2, "/local/domain/1/t", "2")
    i.msg(DOM1, XS_SET_TARGET, z("1", "2"))
    return i.msg(DOM0, XS_SET_TARGET, z("2", "99"))


# ---- domains ----

@seed("domain-release-reuse")
def _(i):
    i.home(1).write(DOM1, "data", "old").watch(DOM0, "@releaseDomain", "r")
    i.start(DOM1).write(DOM1, "t", "x", TX()).watch(DOM1, "/local/domain/1", "w")
    i.perms(DOM0, "/local/domain", "n0", "r1")
    i.ctl(REMOVE[1]).ctl(REMOVE[1]).ctl(ADD[1])
    return i.read(DOM1, "data").ls(DOM0, "/local/domain").getperms(DOM0, "/local/domain")


@seed("domain-release-during-txn")
def _(i):
    i.home(1).home(2).write(DOM1, "d", "1").perms(DOM1, "d", "n1", "r2", "w0")
    i.start(DOM0).perms(DOM0, "/local/domain/2", "n2", "b1", tx=TX())
    i.write(DOM0, "/local/domain/1/d", "2", TX()).start(DOM2)
    i.write(DOM2, "x", "1", TX())
    i.ctl(REMOVE[1]).end(DOM0, True).end(DOM2, True)
    i.ctl(ADD[1]).read(DOM1, "d").getperms(DOM0, "/local/domain/2")
    return i.ctl(REMOVE[2])


@seed("domain-introduce-release-wire")
def _(i):
    i.home(1).msg(DOM0, XS_RELEASE, z("1")).read(DOM1, "x")
    i.msg(DOM0, XS_INTRODUCE, z("1", "0", "0")).ctl(RECONNECT[1])
    i.msg(DOM0, XS_INTRODUCE, z("0", "0", "0"))
    i.msg(DOM0, XS_INTRODUCE, z("32752", "0", "0"))
    i.msg(DOM1, XS_INTRODUCE, z("9", "0", "0"))
    i.msg(DOM0, XS_IS_DOMAIN_INTRODUCED, z("1"))
    return i.msg(DOM0, XS_RELEASE, z("0")).msg(DOM0, XS_RELEASE, z("77"))


# ---- framing ----

@seed("frame-oversized")
def _(i):
    i.msg(DOM1, XS_READ, z("/"), length=4097)
    i.read(DOM1, "/")
    i.msg(DOM0, XS_WRITE, b"x" * 100, length=0xffffffff)
    return i.ctl(RECONNECT[0]).ctl(RECONNECT[1]).read(DOM0, "/").read(DOM1, "/")


@seed("frame-max-payload")
def _(i):
    i.write(DOM0, "/m", "m" * (4096 - 3))
    i.read(DOM0, "/m")
    return i.msg(DOM0, XS_WRITE, z("/m") + b"m" * 4093)


@seed("frame-truncated-header")
def _(i):
    return i.chunk(DOM0, i.msg_bytes(XS_READ, z("/"))[:10])


@seed("frame-truncated-payload")
def _(i):
    return i.chunk(DOM1, i.msg_bytes(XS_WRITE, z("/x") + b"v" * 100)[:40])


@seed("frame-split")
def _(i):
    m = i.msg_bytes(XS_WRITE, z("/split") + b"value")
    i.chunk(DOM0, m[:3]).chunk(DOM0, m[3:13]).chunk(DOM0, m[13:20]).chunk(DOM0, m[20:])
    return i.read(DOM0, "/split")


@seed("frame-pipelined")
def _(i):
    b = b""
    for n in range(30):
        b += i.msg_bytes(XS_WRITE, z("/p/%d" % n) + b"v")
        b += i.msg_bytes(XS_READ, z("/p/%d" % n))
    return i.chunk(DOM0, b).ls(DOM0, "/p")


@seed("frame-shutdown")
def _(i):
    i.home(1).watch(DOM1, "/local/domain/1", "w")
    i.chunk(DOM1, i.msg_bytes(XS_READ, z("x")) + i.msg_bytes(XS_WRITE, z("x") + b"1"))
    i.ctl(SHUT_WR[1]).write(DOM0, "/local/domain/1/y", "1")
    return i.ctl(RECONNECT[1]).read(DOM1, "x")


@seed("control-commands")
def _(i):
    for cmd in (["check"], ["help"], ["quota"], ["stats"],
                ["quota", "value-size", "100"], ["quota", "outstanding", "2"],
                ["quota", "nodes-per-domain", "3"], ["quota", "bogus", "1"],
                ["quota", "value-size", "x"], ["nosuch"]):
        i.msg(DOM0, XS_CONTROL, z(*cmd))
        i.msg(DOM1, XS_CONTROL, z(*cmd))
    i.home(1).write(DOM1, "a", "x" * 150)
    for n in range(5):
        i.write(DOM1, "n%d" % n, "")
    return i


@seed("special-perms")
def _(i):
    i.getperms(DOM0, "@introduceDomain").getperms(DOM1, "@releaseDomain")
    i.perms(DOM0, "@releaseDomain", "n0", "r1").perms(DOM1, "@releaseDomain", "n1")
    i.watch(DOM1, "@releaseDomain", "r").ctl(REMOVE[2])
    i.perms(DOM0, "@introduceDomain", "n0", "r2", "r1")
    i.watch(DOM2, "@introduceDomain", "i").ctl(ADD[2])
    return i.read(DOM0, "@introduceDomain").write(DOM0, "@introduceDomain", "x")


@seed("watch-big-token-flood-paused")
def _(i):
    i.home(1).home(2)
    i.watch(DOM1, "/local/domain/1", "T" * 900).watch(DOM2, "/local/domain/1", "U" * 900)
    i.perms(DOM0, "/local/domain/1", "n1", "r2").ctl(PAUSE[1]).ctl(PAUSE[2])
    for n in range(40):
        i.write(DOM0, "/local/domain/1/x", str(n))
    i.ctl(SHUT_WR[2]).ctl(PAUSE[1]).ctl(STATS)
    return i.ctl(PAUSE[2])


@seed("big-replies-paused")
def _(i):
    i.write(DOM0, "/big", "b" * 4000).ctl(PAUSE[0])
    for _ in range(12):
        i.read(DOM0, "/big")
    i.ctl(SHUT_WR[0]).ctl(PAUSE[0]).ctl(RECONNECT[0])
    for _ in range(6):
        i.read(DOM0, "/big")
    return i.ctl(PAUSE[0]).ctl(RECONNECT[0]).read(DOM0, "/big")


# ---- issue 8: what an attack as a hostile guest found ----

@seed("guest-existence-probes")
def _(i):
    # A guest probes hidden nodes, there or not: EACCES alike; ENOENT only
    # under what it may read.
    i.home(1).write(DOM0, "/secret/x", "v").perms(DOM0, "/secret", "n0")
    i.start(DOM1)
    for p in ["/secret/x", "/secret/missing", "/secret/missing/deeper", "/nothing",
              "missing", "missing/deeper"]:
        i.read(DOM1, p).getperms(DOM1, p).ls(DOM1, p)
        i.msg(DOM1, XS_DIRECTORY_PART, z(p, "0"))
        i.perms(DOM1, p, "n1").rm(DOM1, p).read(DOM1, p, TX())
    return i.end(DOM1, False)


@seed("special-perms-in-transaction")
def _(i):
    i.home(1)
    i.start(DOM0).perms(DOM0, "@releaseDomain", "n0", "r1", tx=TX())
    i.getperms(DOM0, "@releaseDomain", TX()).getperms(DOM0, "@releaseDomain")
    i.end(DOM0, False).getperms(DOM0, "@releaseDomain")
    i.start(DOM0).perms(DOM0, "@introduceDomain", "n0", "r1", tx=TX())
    i.perms(DOM0, "@introduceDomain", "n0", "b1").end(DOM0, True)
    i.start(DOM0).perms(DOM0, "@introduceDomain", "n0", "r2", tx=TX()).end(DOM0, True)
    i.start(DOM1).perms(DOM1, "@releaseDomain", "n1", tx=TX()).end(DOM1, True)
    return i.ctl(REMOVE[1]).ctl(ADD[1]).getperms(DOM0, "@introduceDomain")


@seed("txn-ids-across-connections")
def _(i):
    i.home(1).home(2)
    i.start(DOM1)
    for _ in range(3):
        i.start(DOM0)
    i.start(DOM2).start(DOM1).read(DOM1, "/local/domain/1", TX(0))
    i.end(DOM1, True, 1).end(DOM1, False, 0).start(DOM1)
    return i.ctl(RECONNECT[1]).start(DOM1).end(DOM1, True)


@seed("memory-quota-attack")
def _(i):
    # Long names under one parent until the memory quota says ENOMEM, then
    # transactions reading the parent and writing under it, a watch with a
    # long token, events for the guest while it does not read; then
    # everything closed: the charge must be back to the nodes' share.
    i.home(1).watch(DOM1, "/local/domain/1", "t" * 1000)
    for _ in range(3):
        i.start(DOM1).read(DOM1, "/local/domain/1/a", TX())
    for n in range(8):
        i.write(DOM1, "/local/domain/1/a/%s%02d" % ("n" * 1500, n), "")
    i.write(DOM1, "/local/domain/1/a/new", "x", TX(1)).ctl(PAUSE[1])
    for n in range(10):
        i.write(DOM0, "/local/domain/1/e", "v" * 200)
    i.ctl(PAUSE[1]).end(DOM1, True, 2).rm(DOM1, "/local/domain/1/a")
    i.msg(DOM0, XS_CONTROL, z("quota", "1"))
    return i.ctl(RECONNECT[1]).msg(DOM0, XS_CONTROL, z("quota", "1"))


@seed("control-ops")
def _(i):
    i.ctl(STATS).ctl(0xfe).ctl(0xff).ctl(PAUSE[2]).ctl(PAUSE[2])
    return i.ctl(RECONNECT[2]).ctl(SHUT_WR[2]).ctl(REMOVE[2]).ctl(ADD[2]).read(DOM2, "/local/domain/2")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "fuzz_xs_wire")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if not f.startswith("regress-"):
            os.unlink(os.path.join(out, f))
    for name, fn in sorted(SEEDS.items()):
        data = fn(Input()).data
        assert len(data) <= 16384, (name, len(data))
        with open(os.path.join(out, name), "wb") as fp:
            fp.write(data)
    print("%d seeds in %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
