#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What a Type=notify unit's service manager sees, without systemd as PID 1.

    sd_notify_run.py DIR CLIENT -- DAEMON [ARGS...]

Binds a datagram socket DIR/notify (with SD_NOTIFY_ABSTRACT=1 in the
environment, an abstract one, named "@..." in NOTIFY_SOCKET as systemd names
it), runs DAEMON with NOTIFY_SOCKET naming it,
and reads what DAEMON sends.  Once READY=1 arrives it runs CLIENT (a shell
command) at once, then sends DAEMON SIGTERM and reads on until DAEMON exits.
Prints one line per message ("msg: READY=1"), "client: RC" and "exit: RC".
A daemon that exits or stays silent is reported, never waited for forever.
"""
import os
import select
import signal
import socket
import subprocess
import sys
import time

GUARD_S = 60  # a hang guard only: a daemon that never answers fails


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    tmp, client, daemon = sys.argv[1], sys.argv[2], sys.argv[4:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if os.environ.get("SD_NOTIFY_ABSTRACT") == "1":
        name = "vbd-test-notify-%d" % os.getpid()
        sock.bind("\0" + name)
        path = "@" + name
    else:
        path = os.path.join(tmp, "notify")
        sock.bind(path)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    env.pop("SD_NOTIFY_ABSTRACT", None)
    proc = subprocess.Popen(daemon, env=env)
    ready = stopping = False
    deadline = time.monotonic() + GUARD_S
    try:
        while not stopping:
            # Whichever comes first: a message, the daemon's exit (a
            # daemon that fails never sends READY=1), or the guard.
            if not select.select([sock], [], [], 0.2)[0]:
                if proc.poll() is not None:
                    print("daemon exited without STOPPING=1")
                    break
                if time.monotonic() > deadline:
                    print("timeout: nothing more from the daemon in %d s" % GUARD_S)
                    break
                continue
            lines = sock.recv(4096).decode("utf-8", "replace").split("\n")
            for line in lines:
                if line:
                    print("msg: " + line, flush=True)
            if "READY=1" in lines and not ready:
                ready = True
                rc = subprocess.call(client, shell=True)
                print("client: %d" % rc, flush=True)
                proc.send_signal(signal.SIGTERM)
            stopping = "STOPPING=1" in lines
    finally:
        if not stopping:
            proc.kill()
        try:
            rc = proc.wait(GUARD_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        print("exit: %d" % rc, flush=True)


if __name__ == "__main__":
    main()
