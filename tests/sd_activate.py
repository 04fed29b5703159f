#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What systemd does for a socket unit, at once (systemd-socket-activate
waits for a first connection before it starts the program):

    sd_activate.py SOCK PROGRAM [ARGS...]

binds and listens on the Unix stream socket SOCK, makes it fd 3, sets
LISTEN_FDS=1 and LISTEN_PID to this process, and execs PROGRAM in place (so
that LISTEN_PID names it)."""
import os
import socket
import sys

if len(sys.argv) < 3:
    sys.exit(__doc__)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(4)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
# Python's sockets and dup2's copies are close-on-exec by default: fd 3 is
# passed on purpose.
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])
