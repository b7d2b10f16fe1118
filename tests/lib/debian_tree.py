"""Debian's real amd64 kernel module tree, downloaded once and cached.

The package is the one `linux-image-amd64` depends on today (resolved with
apt-cache, never hard-coded).  It is fetched with `apt-get download`,
unpacked with `dpkg -x` and indexed with the machine's own kmod `depmod`, the
oracle.  Everything lives under the cache directory (KMOD_TEST_CACHE, default
~/.cache/kernel-kmod), never in the repository.
"""

import fcntl
import os
import re
import shutil
import subprocess

META_PACKAGE = 'linux-image-amd64'


def cache_dir():
    base = os.environ.get('KMOD_TEST_CACHE') or os.path.join(os.path.expanduser('~'), '.cache', 'kernel-kmod')
    os.makedirs(base, exist_ok=True)
    return base


def _depends_of(meta):
    proc = subprocess.run(['apt-cache', 'depends', meta], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          universal_newlines=True, check=False)
    for line in proc.stdout.splitlines():
        m = re.match(r'\s*Depends:\s*(linux-image-\S+)', line)
        if m:
            return m.group(1)
    return None


def resolve_image_package(meta=META_PACKAGE):
    """'linux-image-6.1.0-56-amd64' from `apt-cache depends linux-image-amd64`.

    A fresh machine may have no package lists yet: then update them once."""
    package = _depends_of(meta)
    if package is None:
        subprocess.run(['apt-get', 'update', '-q'], check=True)
        package = _depends_of(meta)
    if package is None:
        raise RuntimeError('cannot resolve the kernel image package of %s' % meta)
    return package


class DebianTree(object):
    """root: a base directory (as depmod -b takes it); release: the kernel release."""

    def __init__(self, root, release, package):
        self.root = root
        self.release = release
        self.package = package

    @property
    def module_dir(self):
        return os.path.join(self.root, 'lib', 'modules', self.release)

    def ko_files(self):
        out = []
        for dirpath, _dirs, files in os.walk(self.module_dir):
            for f in files:
                if re.search(r'\.ko(\.(gz|xz|zst))?$', f):
                    out.append(os.path.join(dirpath, f))
        out.sort()
        return out


def get_tree(meta=META_PACKAGE):
    """Download, unpack and index the tree once; later calls reuse it."""
    package = resolve_image_package(meta)
    base = os.path.join(cache_dir(), 'debian', package)
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        root = os.path.join(base, 'root')
        done = os.path.join(base, '.done')
        if not os.path.exists(done):
            debs = [f for f in os.listdir(base) if f.endswith('.deb')]
            if not debs:
                subprocess.run(['apt-get', 'download', package], cwd=base, check=True)
                debs = [f for f in os.listdir(base) if f.endswith('.deb')]
            shutil.rmtree(root, ignore_errors=True)
            subprocess.run(['dpkg', '-x', os.path.join(base, debs[0]), root], check=True)
            release = _release_of(root)
            subprocess.run(['/sbin/depmod', '-b', root, release], check=True)
            with open(done, 'w') as f:
                f.write(release + '\n')
        with open(done) as f:
            release = f.read().strip()
    return DebianTree(root, release, package)


def _release_of(root):
    for top in ('lib/modules', 'usr/lib/modules'):
        d = os.path.join(root, top)
        if os.path.isdir(d):
            rels = sorted(os.listdir(d))
            if rels:
                return rels[0]
    raise RuntimeError('no module tree in %s' % root)
