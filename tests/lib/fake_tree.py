"""A small module tree under a fake root, indexed by the real depmod.

    root = FakeTree(tmp_path, '6.1.0-test-amd64')
    root.add('kernel/drivers/net/dummy.ko', modinfo=['license=GPL', 'alias=rtnl-link-dummy'])
    root.add_builtin('kernel/kernel/printk.ko', modinfo=['parm=time:Show timing', 'parmtype=time:bool'])
    root.conf('etc/modprobe.d/x.conf', 'blacklist pcspkr\\n')
    root.depmod()
"""

import os
import subprocess

from tests.lib.fakeko import build_ko

DEPMOD = '/sbin/depmod'


class FakeTree(object):

    def __init__(self, root, release='6.1.0-test-amd64', top='lib/modules'):
        self.root = str(root)
        self.release = release
        self.module_dir = os.path.join(self.root, top, release)
        os.makedirs(self.module_dir, exist_ok=True)
        self.order = []
        self.builtins = []
        self.builtin_records = []

    def add(self, relpath, in_order=True, **kwargs):
        """Build a fake module at module_dir/relpath (see fakeko.build_ko)."""
        path = os.path.join(self.module_dir, relpath)
        build_ko(path, **kwargs)
        if in_order:
            self.order.append(relpath.split('.ko')[0] + '.ko')
        return path

    def add_builtin(self, relpath, modinfo=()):
        self.builtins.append(relpath)
        name = os.path.basename(relpath).split('.ko')[0].replace('-', '_')
        self.builtin_records.extend('%s.%s' % (name, rec) for rec in modinfo)

    def conf(self, relpath, text):
        path = os.path.join(self.root, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def depmod(self, kmod=None):
        """Index the tree with the host's depmod, or with an oracle of
        tests/lib/kmod_oracle.py (kmod 34 in its chroot, say)."""
        with open(os.path.join(self.module_dir, 'modules.order'), 'w') as f:
            f.write(''.join(p + '\n' for p in self.order))
        with open(os.path.join(self.module_dir, 'modules.builtin'), 'w') as f:
            f.write(''.join(p + '\n' for p in self.builtins))
        with open(os.path.join(self.module_dir, 'modules.builtin.modinfo'), 'wb') as f:
            f.write(b''.join(r.encode() + b'\0' for r in self.builtin_records))
        if kmod is None:
            subprocess.run([DEPMOD, '-b', self.root, self.release], check=True)
        else:
            proc = kmod.depmod(['-b', self.root, self.release], share=[self.root])
            assert proc.returncode == 0, proc.stderr
        return self.root
