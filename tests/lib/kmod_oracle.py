"""The two kmods the conformance tests compare with, behind one interface.

- the host's kmod (30 on Debian 12): /sbin/depmod and /sbin/modprobe;
- Debian 13's kmod 34.2 in a chroot (tests/lib/kmod_chroot.py).

Both take the same arguments with host paths: the chroot one is given the
paths it needs (`share`) at the same place inside its root, and a depmod
run's index files are copied back into the host's tree, so a test reads the
outputs of either where it would read the host kmod's.  `flavour()` is the
KmodFlavour that kmod_depmod copies for that kmod.
"""

import contextlib
import os
import shutil
import subprocess

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_version import (
    KmodFlavour, parse_version_output)
from tests.lib.kmod_chroot import ensure_root

HOST_DEPMOD = '/sbin/depmod'
HOST_MODPROBE = '/sbin/modprobe'
# pytest ids of the oracles, in the order tests run them
ORACLE_IDS = ('kmod30', 'kmod34')


class HostKmod(object):
    """The host's kmod."""

    id = 'kmod30'

    def __init__(self):
        out = subprocess.run([HOST_DEPMOD, '--version'], stdout=subprocess.PIPE, universal_newlines=True,
                             check=True).stdout
        self.major, self.features = parse_version_output(out)
        self.version = str(self.major)
        self.name = 'kmod %s (host)' % self.version

    def flavour(self):
        return KmodFlavour(self.major, self.features)

    @contextlib.contextmanager
    def sharing(self, paths):
        """Host paths kept visible to every run inside the block (here: always)."""
        yield

    def depmod(self, args, share=(), **kwargs):
        """CompletedProcess of depmod ARGS (text; stdout and stderr captured)."""
        return _run([HOST_DEPMOD] + list(args), **kwargs)

    def modprobe(self, args, share=(), cmdline_file=None, **kwargs):
        argv = [HOST_MODPROBE] + list(args)
        if cmdline_file is not None:
            from tests.lib.fake_cmdline import under_cmdline
            argv = under_cmdline(argv, cmdline_file)
        return _run(argv, **kwargs)


class ChrootKmod(object):
    """kmod 34 of Debian 13, run with chroot (see tests/lib/kmod_chroot.py)."""

    id = 'kmod34'

    def __init__(self, root=None):
        self.root = root or ensure_root()
        self.major = self.root.major
        self.version = self.root.version
        self.features = self.root.features
        self.name = 'kmod %s (Debian %s chroot)' % (self.version, 'trixie')
        self.active = []
        self.root.copy_host_cmdline()

    def flavour(self):
        return KmodFlavour(self.major, self.features)

    @contextlib.contextmanager
    def sharing(self, paths):
        """Host paths shared once for every run inside the block (a big tree
        is copied once, not for each modprobe); the copies are read-only use."""
        placed = self._share(paths)
        self.active.extend(os.path.abspath(p) for p in paths)
        try:
            yield
        finally:
            del self.active[-len(paths):]
            self.root.unshare(placed)

    def _share(self, paths):
        """Share what no enclosing sharing() block shares already."""
        def covered(path):
            path = os.path.abspath(path)
            return any(path == a or path.startswith(a.rstrip('/') + '/') for a in self.active)
        return self.root.share([p for p in paths if not covered(p)])

    def depmod(self, args, share=(), **kwargs):
        """depmod ARGS in the chroot over the shared host paths; the index
        files it writes in the module directories of its -b BASE (which must
        be shared) come back to the host."""
        args = list(args)
        placed = self._share(share)
        try:
            proc = _run(self.root.command(['depmod'] + args), **kwargs)
            if '-b' in args:
                self._bring_back(args[args.index('-b') + 1])
        finally:
            self.root.unshare(placed)
        return proc

    def modprobe(self, args, share=(), cmdline_file=None, **kwargs):
        """modprobe ARGS in the chroot; /proc/cmdline is cmdline_file, or the host's
        (copied into the root: no mount namespace needed for the usual run)."""
        placed = self._share(share)
        try:
            return _run(self.root.command(['modprobe'] + list(args), cmdline_file), **kwargs)
        finally:
            self.root.unshare(placed)

    def _bring_back(self, host_path):
        """Files depmod wrote (new inodes) in module directories under host_path."""
        for host_dir in _module_dirs(host_path):
            inside = self.root.inside(host_dir)
            for name in os.listdir(inside):
                src = os.path.join(inside, name)
                if not os.path.isfile(src) or os.path.islink(src):
                    continue
                dst = os.path.join(host_dir, name)
                if os.path.lexists(dst) and os.lstat(dst).st_ino == os.lstat(src).st_ino:
                    continue  # a hard link the share made: not written
                tmp = dst + '.from-chroot'
                shutil.copy2(src, tmp)
                os.rename(tmp, dst)


def _module_dirs(host_path):
    """The lib/modules/REL directories of a base directory (or the path itself)."""
    top = os.path.join(host_path, 'lib', 'modules')
    if not os.path.isdir(top):
        return [host_path] if os.path.basename(os.path.dirname(host_path)) == 'modules' else []
    return [os.path.join(top, rel) for rel in sorted(os.listdir(top))
            if os.path.isdir(os.path.join(top, rel)) and not os.path.islink(os.path.join(top, rel))]


def _run(argv, timeout=300, binary=False, input=None):
    """Text (bytes that are no UTF-8 kept as surrogates) unless binary."""
    text = {} if binary else {'encoding': 'utf-8', 'errors': 'surrogateescape'}
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, input=input, timeout=timeout,
                          check=False, **text)


_ORACLES = {}


def get_oracle(oracle_id):
    """The oracle of an id in ORACLE_IDS, made once per process."""
    if oracle_id not in _ORACLES:
        _ORACLES[oracle_id] = {'kmod30': HostKmod, 'kmod34': ChrootKmod}[oracle_id]()
    return _ORACLES[oracle_id]
