"""Several runs at once, as processes: each forked child waits at a common
start line, runs its function, and reports what it returned or raised.

    outcomes = run_at_once([lambda: run_task(...), lambda: run_task(...)])
    [o.ok for o in outcomes], [o.text for o in outcomes]

A child that crashes (an exception, a signal, a hang past `timeout`
seconds) gives ok False with what it said.  Nothing is shared with the
children but the files they work on.
"""

import os
import signal
import tempfile
import time
import traceback


class Outcome(object):
    def __init__(self, ok, text):
        self.ok = ok
        self.text = text

    def __repr__(self):
        return 'Outcome(%r, %r)' % (self.ok, self.text)


def _child(fn, start, out_path):  # pragma: no cover - runs in the child
    status = 1
    try:
        os.read(start, 1)   # blocks until the parent lets every child go at once
        value = fn()
        text, status = repr(value), 0
    except BaseException:
        text = traceback.format_exc()
    finally:
        try:
            with open(out_path, 'w') as f:
                f.write(text)
        finally:
            os._exit(status)


def run_at_once(fns, timeout=120):
    """Run every function of fns in its own process, all released at once;
    [Outcome] in the order of fns."""
    start, go = os.pipe()
    out_dir = tempfile.mkdtemp(prefix='kmod-runs-')
    pids = []
    try:
        for index, fn in enumerate(fns):
            pid = os.fork()
            if pid == 0:
                os.close(go)
                _child(fn, start, os.path.join(out_dir, str(index)))
            pids.append(pid)
        os.close(start)
        os.close(go)   # every child's read returns now
        deadline = time.monotonic() + timeout
        statuses = {}
        while len(statuses) < len(pids):
            for pid in pids:
                if pid not in statuses:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        statuses[pid] = status
            if time.monotonic() > deadline:
                for pid in pids:
                    if pid not in statuses:
                        os.kill(pid, signal.SIGKILL)
                        statuses[pid] = os.waitpid(pid, 0)[1]
            time.sleep(0.005)
        outcomes = []
        for index, pid in enumerate(pids):
            try:
                with open(os.path.join(out_dir, str(index))) as f:
                    text = f.read()
            except OSError:
                text = 'no output (killed: status %d)' % statuses[pid]
            outcomes.append(Outcome(statuses[pid] == 0, text))
        return outcomes
    finally:
        for name in os.listdir(out_dir):
            os.unlink(os.path.join(out_dir, name))
        os.rmdir(out_dir)


class HeldByChild(object):
    """``with HeldByChild(path) as pid:`` another process holds
    lock.DirectoryLock on path (shared or not) until the block ends."""

    def __init__(self, path, shared=False):
        self.path = path
        self.shared = shared
        self.pid = None

    def __enter__(self):
        # imported here: the library is importable only once the collection is on the path
        from ansible_collections.kernel.kmod.plugins.module_utils.lock import DirectoryLock
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.close(read_end)
                DirectoryLock(self.path, 'child', shared=self.shared).acquire()
                os.write(write_end, b'x')
                time.sleep(120)
            finally:
                os._exit(0)
        os.close(write_end)
        said = os.read(read_end, 1)
        os.close(read_end)
        self.pid = pid
        if said != b'x':
            self.__exit__()
            raise RuntimeError('the child could not take the lock of %s' % self.path)
        return pid

    def __exit__(self, *exc):
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
