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
