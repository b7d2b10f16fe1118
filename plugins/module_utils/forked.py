# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A function call run in a forked child while this process does other work.

depmod's stages are CPU-bound Python; a forked child sees every object of
this process as it was at the fork (nothing is sent to it) and hands back
one result through a pipe, with marshal (built in, fast, for plain data)
or pickle for anything else.  That is cheaper than a multiprocessing pool,
which pickles the work out as well as back.

Where fork is missing or fails, or the child dies or fails, the call is run
here instead when its result is asked for: the same function on the same
objects gives the same result or raises the same error, so callers never
see the difference except in time.
"""

import marshal
import os
import struct

_READ_SIZE = 1 << 20


class ForkedCall(object):
    """fn(*args) started in a child process; result() waits for it.

    fork=False runs nothing in the background: result() makes the call.
    """

    def __init__(self, fn, *args, fork=True):
        self._fn = fn
        self._args = args
        self._pid = None
        self._fd = None
        self._done = False
        self._value = None
        if not fork:
            return
        try:
            read_fd, write_fd = os.pipe()
        except OSError:
            return
        try:
            pid = os.fork()
        except (OSError, AttributeError):
            os.close(read_fd)
            os.close(write_fd)
            return
        if pid == 0:  # the child: never returns
            os.close(read_fd)
            _run_child(write_fd, fn, args)
        os.close(write_fd)
        self._pid = pid
        self._fd = read_fd

    @property
    def forked(self):
        """True when a child process is doing the work."""
        return self._pid is not None

    def result(self):
        """The function's result (computed here if the child could not)."""
        if self._done:
            return self._value
        data = None
        if self._pid is not None:
            chunks = []
            try:
                while True:
                    chunk = os.read(self._fd, _READ_SIZE)
                    if not chunk:
                        break
                    chunks.append(chunk)
            finally:
                os.close(self._fd)
                status = os.waitpid(self._pid, 0)[1]
            if status == 0 and chunks:
                data = b''.join(chunks)
        if data is not None:
            ok, value = _decode(data)
            if ok:
                self._value = value
                self._done = True
                return value
        # no child, or it failed: do the work here, errors included
        self._value = self._fn(*self._args)
        self._done = True
        return self._value

    def cancel(self):
        """Stop the child (when its result is no longer wanted) and reap it."""
        if self._pid is not None and not self._done:
            import signal  # only here: most calls are waited for, not cancelled
            try:
                os.kill(self._pid, signal.SIGKILL)
            except OSError:
                pass
            os.close(self._fd)
            os.waitpid(self._pid, 0)
            self._pid = None
        self._done = True


def _run_child(write_fd, fn, args):
    code = 1
    try:
        try:
            data = _encode((True, fn(*args)))
        except Exception:  # pylint: disable=broad-except
            # the parent reruns the call and raises the error itself
            data = _encode((False, None))
        view = memoryview(data)
        while view:
            written = os.write(write_fd, view)
            view = view[written:]
        code = 0
    finally:
        # no atexit handlers, no flushing of the parent's buffered output
        os._exit(code)


# The first byte says which: marshal (plain data) or pickle.
_MARSHAL, _PICKLE = b'M', b'P'


def _encode(value):
    try:
        return _MARSHAL + marshal.dumps(value)
    except ValueError:
        import pickle  # only for results marshal cannot hold
        return _PICKLE + pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def _decode(data):
    if data[:1] == _MARSHAL:
        return marshal.loads(data[1:])
    import pickle
    return pickle.loads(data[1:])


# shared_map's two counters, in memory both processes see: how many items
# this process has claimed from the front (first), and the lowest item the
# child has claimed from the back (second).  Each process writes only its own.
_FRONT, _BACK = 0, 8
_COUNTER = struct.Struct('=q')


def shared_map(fn, items, fork=True):
    """[fn(item) for item in items], the items shared with a forked child as
    they go: this process takes them from the front, the child from the
    back, until they meet.  Neither waits on the other, so a few large
    items do not leave one of them idle.  An item both took in the same
    instant is done twice (harmless: the result is the same); none is
    missed, as each stops only on seeing the other's claim.  Without a
    child (no fork, or it failed) this process does everything.
    """
    items = list(items)
    count = len(items)
    if not fork or count < 2:
        return [fn(item) for item in items]
    import mmap
    counter = _COUNTER
    shared = mmap.mmap(-1, 16)
    counter.pack_into(shared, _FRONT, 0)
    counter.pack_into(shared, _BACK, count)
    child = ForkedCall(_take_from_back, fn, items, shared)
    mine = []
    claimed = 0
    while claimed < counter.unpack_from(shared, _BACK)[0]:
        claimed += 1
        counter.pack_into(shared, _FRONT, claimed)
        mine.append(fn(items[claimed - 1]))
    # the child's results run from `lowest` to the end, and lowest <= claimed
    lowest, theirs = child.result()
    shared.close()
    return mine + theirs[claimed - lowest:]


def _take_from_back(fn, items, shared):
    """(lowest index taken, [fn(item) from there to the end])."""
    counter = _COUNTER
    lowest = len(items)
    out = []
    while lowest > counter.unpack_from(shared, _FRONT)[0]:
        lowest -= 1
        counter.pack_into(shared, _BACK, lowest)
        out.append(fn(items[lowest]))
    out.reverse()
    return lowest, out
