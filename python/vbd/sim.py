# SPDX-License-Identifier: LGPL-2.1-or-later
"""vbd.sim.SimHost: a simulated Xen host for tests, `vbdctl sim start` in a
directory of its own (the embedded xenstore daemon, the simulated
hypervisor, the bundled backend and guests guest1..guestN).

    with vbd.SimHost(guests=1) as host:
        with vbd.Context(xenstored_path=host.xenstored_path) as ctx:
            ctx.attach("guest1", "vdev=xvdb,target=/tmp/disk.img")

vbdctl is found as vbdctl=..., else $VBDCTL, else on PATH.  Attaching needs
what vbdctl attach needs on the sim host (root, for the loop devices).
"""

import os
import shutil
import subprocess
import tempfile

from ._core import Error


class SimHost:
    def __init__(self, guests=1, vbdctl=None, directory=None, set_env=False):
        """guests: how many guest domains.  directory: where the host keeps
        its sockets and log (None: a new temporary one, removed at close).
        set_env: also set XENSTORED_PATH in os.environ (for vbd.Context()
        and child processes), put back at close."""
        self.vbdctl = vbdctl or os.environ.get("VBDCTL") or shutil.which("vbdctl")
        if not self.vbdctl:
            raise FileNotFoundError("vbdctl not found: pass vbdctl= or set $VBDCTL")
        self._tmp = None
        if directory is None:
            self._tmp = tempfile.mkdtemp(prefix="vbd-sim.")
            directory = os.path.join(self._tmp, "sim")
        self.directory = directory
        self.xenstored_path = os.path.join(directory, "xenstored.sock")
        self.guests = guests
        self._set_env = set_env
        self._old_env = None
        self.running = False
        self._run("start", "--guests", str(guests))
        self.running = True
        if set_env:
            self._old_env = os.environ.get("XENSTORED_PATH")
            os.environ["XENSTORED_PATH"] = self.xenstored_path

    def _run(self, *args):
        env = dict(os.environ, XENSTORED_PATH=self.xenstored_path)
        p = subprocess.run([self.vbdctl, "sim", *args, "--dir", self.directory], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if p.returncode != 0:
            raise Error(5, "vbdctl sim %s: %s" % (args[0], (p.stderr or p.stdout).strip()))
        return p.stdout

    def log(self):
        """What the host wrote to its log so far."""
        try:
            with open(os.path.join(self.directory, "host.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def close(self):
        """vbdctl sim stop, then the temporary directory goes."""
        if self.running:
            self.running = False
            try:
                self._run("stop")
            finally:
                if self._set_env:
                    if self._old_env is None:
                        os.environ.pop("XENSTORED_PATH", None)
                    else:
                        os.environ["XENSTORED_PATH"] = self._old_env
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
