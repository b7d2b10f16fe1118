"""Run a piece of a test without root's power to write anywhere.

Tests run as root in CI; a read-only directory does not stop root, so the
checks that a read-only place fails cleanly run in a forked child that has
dropped to nobody (uid and gid 65534).
"""

import os
import shutil
import sys
import tempfile

NOBODY = 65534


def as_nobody(fn):
    """Run fn in a child as nobody (or here when not root); 0 when fn returned."""
    if os.geteuid() != 0:
        fn()
        return 0
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            fn()
            status = 0
        except BaseException as exc:
            sys.stderr.write('as nobody: %r\n' % (exc,))
        finally:
            os._exit(status)
    return os.WEXITSTATUS(os.waitpid(pid, 0)[1])


class SharedDir(object):
    """A temporary directory nobody can reach (pytest's tmp_path is 0700 under root's)."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix='kmod-test-')
        os.chmod(self.path, 0o777)
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def call_as_nobody(fn):
    """fn() run in a child as nobody (or here when not root): what it
    returned (anything json can carry), or RuntimeError with the child's
    traceback when it raised."""
    import json
    import traceback
    if os.geteuid() != 0:
        return fn()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read_end)
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                said = json.dumps({'value': fn()})
            except BaseException:
                said = json.dumps({'error': traceback.format_exc()})
            with os.fdopen(write_end, 'w') as f:
                f.write(said)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        said = f.read()
    os.waitpid(pid, 0)
    if not said:
        raise RuntimeError('the child run as nobody said nothing')
    data = json.loads(said)
    if 'error' in data:
        raise RuntimeError('as nobody:\n' + data['error'])
    return data['value']
