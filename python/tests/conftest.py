# SPDX-License-Identifier: LGPL-2.1-or-later
# Fixtures: the simulated host (vbdctl sim start, in a directory of its own)
# and disk images.  The build's libvbd.so and vbdctl come from $VBD_LIBRARY
# and $VBDCTL (CTest sets both); vbd itself from $PYTHONPATH.
import os
import subprocess

import pytest

import vbd

# Under ASan (python/CMakeLists.txt) this interpreter runs with the runtime
# preloaded and leak checking off; the programs it starts are not CPython,
# and get the suite's usual options back.  The interpreter read its own at
# start, so changing them here touches only the children.
if "VBD_CHILD_ASAN_OPTIONS" in os.environ:
    os.environ["ASAN_OPTIONS"] = os.environ.pop("VBD_CHILD_ASAN_OPTIONS")
    os.environ.pop("LD_PRELOAD", None)


@pytest.fixture(scope="module")
def sim():
    with vbd.SimHost(guests=2) as host:
        yield host


@pytest.fixture
def ctx(sim):
    with vbd.Context(xenstored_path=sim.xenstored_path) as c:
        yield c
        # A test that failed half-way leaves nothing to the next one.
        for d in c.status():
            c.detach(d["domid"], d["devid"], force=True, timeout=5)


def loops_on(path):
    out = subprocess.run(["losetup", "-j", path, "-O", "NAME", "-n"], capture_output=True,
                         text=True).stdout
    return [line for line in out.split() if "loop" in line]


@pytest.fixture
def image(tmp_path):
    made = []

    def make(name="d.img", size=16 << 20):
        p = str(tmp_path / name)
        with open(p, "wb") as f:
            f.truncate(size)
        made.append(p)
        return p
    yield make
    for p in made:   # what a failed detach left
        for dev in loops_on(p):
            subprocess.run(["losetup", "-d", dev])
