"""Small module trees of fake `.ko` files, indexed by the host's real depmod.

build_tree(base, release, modules) compiles each fake module with
tests/lib/fakeko.py under base/lib/modules/<release>/, writes the optional
modules.order and modules.builtin, and runs `/sbin/depmod -b base release`
(the oracle).  Returns the module directory.
"""

import os
import subprocess

from tests.lib.fakeko import build_ko

DEPMOD = '/sbin/depmod'


def build_tree(base, release, modules, order=None, builtin=None, builtin_modinfo=None):
    """modules: {relative path: {build_ko keyword arguments}}.

    order: relative paths for modules.order; builtin: lines of
    modules.builtin; builtin_modinfo: bytes of modules.builtin.modinfo.
    """
    module_dir = os.path.join(str(base), 'lib', 'modules', release)
    os.makedirs(module_dir, exist_ok=True)
    for rel, spec in modules.items():
        build_ko(os.path.join(module_dir, rel), **spec)
    if order is not None:
        with open(os.path.join(module_dir, 'modules.order'), 'w') as f:
            f.write(''.join(line + '\n' for line in order))
    if builtin is not None:
        with open(os.path.join(module_dir, 'modules.builtin'), 'w') as f:
            f.write(''.join(line + '\n' for line in builtin))
    if builtin_modinfo is not None:
        with open(os.path.join(module_dir, 'modules.builtin.modinfo'), 'wb') as f:
            f.write(builtin_modinfo)
    subprocess.run([DEPMOD, '-b', str(base), release], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return module_dir


def modprobe_resolve(base, release, alias):
    """Module names `modprobe -R` resolves an alias to (no config), or []."""
    proc = subprocess.run(['/sbin/modprobe', '-d', str(base), '-S', release, '-C', '/dev/null', '-R', alias],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    return proc.stdout.split() if proc.returncode == 0 else []
