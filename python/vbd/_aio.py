# SPDX-License-Identifier: LGPL-2.1-or-later
"""A Context joined to an asyncio loop: the loop watches the context's fd
(add_reader) and a timer follows its next deadline; each wake-up runs
Context.process(), which runs the callbacks that resolve the futures.
No thread: everything happens in the loop's thread."""

import errno


class LoopDriver:
    def __init__(self, ctx, loop):
        self.ctx, self.loop = ctx, loop
        self.users = 0
        self.timer = None
        self.fd = None
        self.closed = False

    def hold(self):
        """One more awaiting coroutine; the fd is watched while any waits."""
        if self.users == 0:
            self.fd = self.ctx.fileno()
            self.loop.add_reader(self.fd, self.run)
        self.users += 1

    def release(self):
        self.users -= 1
        if self.users == 0:
            self.close()

    def close(self):
        if self.fd is not None:
            self.loop.remove_reader(self.fd)
            self.fd = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.closed = True
        self.ctx._drivers.pop(self.loop, None)

    def run(self):
        try:
            self.ctx.process()
        except BaseException as e:  # the context itself failed: every waiter hears it
            for op in list(self.ctx._ops):
                if op.callback is not None and op.done is None:
                    err = getattr(e, "errno", None) or errno.EIO
                    op.done, op.result, op.message = True, -err, str(e)
                    op.callback(op)
            if not isinstance(e, Exception):
                raise
        if not self.closed and not self.ctx.closed:
            self.rearm()

    def rearm(self):
        """A timer for the context's next deadline (the fd covers the rest)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        t = self.ctx.timeout()
        if t is not None:
            self.timer = self.loop.call_later(t, self.run)
