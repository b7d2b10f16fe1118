"""A directory whose whole chain of parents is root's alone, for module files
that must pass kmod_load's trust check (pytest's tmp_path is under /tmp,
which everybody may write to).  It lives in the test cache
($KMOD_TEST_CACHE, default ~/.cache/kernel-kmod), not in the checkout,
which CI may clone under /tmp."""

import os
import shutil
import tempfile

BASE = os.environ.get('KMOD_TEST_CACHE') or os.path.join(os.path.expanduser('~'), '.cache', 'kernel-kmod')


class TrustedDir(object):
    def __enter__(self):
        os.makedirs(BASE, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix='trusted-', dir=BASE)
        os.chmod(self.path, 0o755)
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
