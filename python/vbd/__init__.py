# SPDX-License-Identifier: LGPL-2.1-or-later
"""libvbd for Python: attach and detach Xen virtual block devices, follow
them, check them against the protocol; the embedded xenstore daemon and the
simulated host for tests.  See docs/python.md.

    import vbd
    with vbd.Context() as ctx:
        ctx.attach("guest1", "format=raw,vdev=xvdb,access=rw,target=/dev/vg/d1")
        print(ctx.status("guest1", "xvdb"))
        ctx.detach("guest1", "xvdb")
"""

from ._core import STATES, Context, Error, Operation, Watch, devid
from ._ffi import SONAME
from .sim import SimHost
from .store import Store

__all__ = ["Context", "Error", "Operation", "SimHost", "STATES", "Store", "Watch", "devid",
           "SONAME"]
__version__ = "0.1.0"
