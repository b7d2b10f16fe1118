"""Compressed copies of Debian's module tree, for the depmod benchmarks and conformance tests.

Every `.ko` of the tree (tests/lib/debian_tree.py) compressed once and
cached under $KMOD_TEST_CACHE/bench (default ~/.cache/kernel-kmod/bench):

- xz as Debian's kernel packaging does: `xz --check=crc32 --lzma2=dict=1MiB`;
- zst as the kernel's `make modules_install` does with
  CONFIG_MODULE_COMPRESS_ZSTD (`zstd -T0 -q`, level 3, from the file, so
  each frame declares its size).

A copy keeps modules.order's `.ko` lines, which depmod matches without the
compression suffix.
"""

import os
import shutil
import subprocess
import sys

from tests.lib.debian_tree import cache_dir

COMMANDS = {
    'xz': ['xz', '--check=crc32', '--lzma2=dict=1MiB', '-c'],
    'zst': ['zstd', '-T0', '-q', '-c'],
}
# depmod's inputs in the module directory; every other modules.* file is an output
INPUTS = ('modules.order', 'modules.builtin', 'modules.builtin.modinfo')


def compressed_modules(tree, kind):
    """A cached directory holding every module of the tree as REL.ko.KIND."""
    args = COMMANDS[kind]
    base = os.path.join(cache_dir(), 'bench', '%s-%s' % (kind, tree.package))
    done = os.path.join(base, '.done')
    if os.path.exists(done):
        return base
    sys.stderr.write('compressing %d modules with %s (once; cached in %s)\n'
                     % (len(tree.ko_files()), ' '.join(args), base))
    running = []
    limit = os.cpu_count() or 1
    for path in tree.ko_files():
        out = os.path.join(base, os.path.relpath(path, tree.root) + '.' + kind)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        while len(running) >= limit:
            running.pop(0).wait()
        with open(out + '.tmp', 'wb') as f:
            running.append(_Job(subprocess.Popen(args + [path], stdout=f), out))
    for job in running:
        job.wait()
    with open(done, 'w') as f:
        f.write('%s\n' % ' '.join(args))
    return base


class _Job(object):
    def __init__(self, proc, out):
        self.proc = proc
        self.out = out

    def wait(self):
        if self.proc.wait() != 0:
            raise SystemExit('compressing failed for %s' % self.out)
        os.rename(self.out + '.tmp', self.out)


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_tree(src_root, dst_root, module_name=None):
    """The module tree of src_root under dst_root: module files hard-linked
    (module_name maps a file name to the one to link, or None), every other
    file copied so that nothing written here reaches the source."""
    for dirpath, _dirs, files in os.walk(src_root):
        rel = os.path.relpath(dirpath, src_root)
        target = os.path.join(dst_root, rel)
        os.makedirs(target, exist_ok=True)
        for name in files:
            src = os.path.join(dirpath, name)
            if name.endswith('.ko'):
                linked = module_name(os.path.join(rel, name)) if module_name else src
                _link_or_copy(linked, os.path.join(target, os.path.basename(linked)))
            else:
                shutil.copy2(src, os.path.join(target, name))


def tree_copy(tree, kind, base):
    """BASE/lib/modules/RELEASE: the tree's modules (plain, 'xz' or 'zst'), no indexes."""
    src_modules = os.path.join(tree.root, 'lib', 'modules')
    module_name = None
    if kind != 'plain':
        packed = compressed_modules(tree, kind)

        def module_name(rel):
            return os.path.join(packed, 'lib', 'modules', rel + '.' + kind)
    copy_tree(src_modules, os.path.join(base, 'lib', 'modules'), module_name)
    module_dir = os.path.join(base, 'lib', 'modules', tree.release)
    delete_outputs(module_dir)
    return module_dir


def delete_outputs(module_dir):
    for name in os.listdir(module_dir):
        if name.startswith('modules.') and name not in INPUTS:
            os.unlink(os.path.join(module_dir, name))
