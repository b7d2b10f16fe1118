"""A directory whose whole chain of parents is root's alone, for module files
that must pass kmod_load's trust check (pytest's tmp_path is under /tmp,
which everybody may write to).  It lives in the checkout's ignored .cache/."""

import os
import shutil
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class TrustedDir(object):
    def __enter__(self):
        base = os.path.join(REPO, '.cache')
        os.makedirs(base, exist_ok=True)
        os.chmod(base, 0o755)
        self.path = tempfile.mkdtemp(prefix='trusted-', dir=base)
        os.chmod(self.path, 0o755)
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
