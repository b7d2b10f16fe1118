# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod_scan against kmod's depmod: which files, in which order.

Both oracles (the `kmod` fixture): the host's kmod 30 and kmod 34.2 in a
Debian 13 chroot; the scan copies each (kmod 34 keeps the first position of
a module listed twice in modules.order, kmod 30 the last).

Synthetic trees of fake modules (one `gcc -c` object copied under many
names: the name comes from the path) with depmod.d files covering search
orders, built-in/external keywords, overrides, external directories,
duplicates, exclude, build/source, modules.order variants and compressed
files.  `depmod -b ROOT -C CONFDIR RELEASE` writes modules.dep, whose
lines list the modules in depmod's final order; its first column must equal
our scan's dep_path list.  Both kmods are built without zlib: they ignore
'.ko.gz', so the scan is run with the suffixes that kmod knows.
On Debian's real tree the scan equals that depmod's modules.dep order.
"""

import os
import random

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.config.depmod import load_depmod_config
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.pipeline import run_depmod
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.scan import scan_modules
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from tests.lib.fakeko import build_ko, compress_bytes

pytestmark = pytest.mark.conformance

RELEASE = '6.1.0-77-amd64'


@pytest.fixture(scope='module')
def ko_bytes(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('ko') / 'base.ko')
    build_ko(path, modinfo=['license=GPL'])
    with open(path, 'rb') as f:
        return f.read()


class Tree(object):
    """A fake root, a config directory and helpers to compare with kmod."""

    def __init__(self, kmod, tmp_path, ko):
        self.kmod = kmod
        self.base = str(tmp_path)
        self.root = os.path.join(self.base, 'root')
        self.module_dir = os.path.join(self.root, 'lib', 'modules', RELEASE)
        self.conf_dir = os.path.join(self.base, 'depmod.d')
        os.makedirs(self.module_dir)
        os.makedirs(self.conf_dir)
        self.ko = ko

    def add(self, path, compress=None):
        """A module at path (relative to the module dir, or absolute)."""
        full = path if os.path.isabs(path) else os.path.join(self.module_dir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, 'wb') as f:
            f.write(compress_bytes(self.ko, compress))
        return full

    def order(self, lines, final_newline=True):
        text = '\n'.join(lines) + ('\n' if final_newline and lines else '')
        with open(os.path.join(self.module_dir, 'modules.order'), 'w') as f:
            f.write(text)

    def conf(self, text, name='test.conf'):
        with open(os.path.join(self.conf_dir, name), 'w') as f:
            f.write(text)

    def kmod_order(self, fatal=None):
        """modules.dep's order; fatal: the FATAL message depmod must stop with after writing it."""
        proc = self.kmod.depmod(['-b', self.root, '-C', self.conf_dir, RELEASE], share=[self.base])
        if fatal is None:
            assert proc.returncode == 0, proc.stderr
        else:
            assert proc.returncode == 1 and 'depmod: FATAL: %s' % fatal in proc.stderr, proc.stderr
        with open(os.path.join(self.module_dir, 'modules.dep'), errors='surrogateescape') as f:
            return [line.split(':', 1)[0] for line in f]

    def our_order(self):
        config = load_depmod_config(paths=[self.conf_dir], release=RELEASE)
        return scan_modules(self.root, RELEASE, config=config, **scan_flavour(self.kmod)).dep_paths()

    def check(self, fatal=None):
        ours = self.our_order()
        theirs = self.kmod_order(fatal)
        assert ours == theirs
        return ours


def scan_flavour(kmod):
    """The scan options that copy this kmod."""
    flavour = kmod.flavour()
    return {'suffixes': flavour.suffixes, 'first_order_line_wins': flavour.first_order_line_wins}


@pytest.fixture
def tree(kmod, tmp_path, ko_bytes):
    return Tree(kmod, tmp_path, ko_bytes)


NAMES = ['snd-hda-intel', 'e1000e', 'ext4', 'xfs', 'dummy', 'loop', 'nbd', 'btrfs', 'virtio_net',
         'i915', 'amdgpu', 'usb-storage', 'uas', 'cdrom', 'sr_mod', 'ahci', 'libata', 'crc32c',
         'zram', 'kvm', 'kvm-intel', 'tun', 'bridge', 'veth', 'a', 'bb', 'ccc', 'dddd', 'eeeee']


def test_hash_order_without_modules_order(tree):
    for i, name in enumerate(NAMES):
        tree.add('kernel/d%d/%s.ko' % (i % 4, name))
    got = tree.check()
    assert len(got) == len(NAMES)
    assert got != sorted(got)


def test_modules_order_first_then_hash_order(tree):
    for i, name in enumerate(NAMES):
        tree.add('kernel/d%d/%s.ko' % (i % 3, name))
    listed = ['kernel/d%d/%s.ko' % (i % 3, n) for i, n in enumerate(NAMES) if i % 2 == 0]
    random.Random(3).shuffle(listed)
    tree.order(['kernel/missing.ko'] + listed + ['', 'kernel/d0/%s.ko' % NAMES[0], 'kernel/d0/nope.ko'])
    got = tree.check()
    # NAMES[0] is listed twice: kmod 30 keeps its last position, kmod 34 its first
    first = listed.index('kernel/d0/%s.ko' % NAMES[0])
    assert got.index('kernel/d0/%s.ko' % NAMES[0]) == (first if tree.kmod.major >= 34 else len(listed) - 1)


def test_modules_order_without_final_newline_is_ignored(tree):
    for name in NAMES[:12]:
        tree.add('kernel/%s.ko' % name)
    tree.order(sorted('kernel/%s.ko' % n for n in NAMES[:12]), final_newline=False)
    got = tree.check()
    assert got != sorted(got)


def test_empty_modules_order(tree):
    for name in NAMES[:10]:
        tree.add('kernel/%s.ko' % name)
    tree.order([])
    tree.check()


def test_compressed_files_and_order_matching(tree):
    tree.add('kernel/a/zz.ko.xz', compress='xz')
    tree.add('kernel/a/yy.ko.zst', compress='zst')
    tree.add('kernel/a/xx.ko')
    tree.add('kernel/a/gz.ko.gz', compress='gz')  # not a module for Debian's kmod 30 and 34
    tree.add('kernel/a/dotted.name.ko')
    tree.add('kernel/a/not-a-module.o')
    tree.add('kernel/a/ko')
    tree.add('kernel/a/.ko')
    tree.order(['kernel/a/dotted.name.ko', 'kernel/a/yy.ko', 'kernel/a/zz.ko', 'kernel/a/xx.ko.xz'])
    got = tree.check()
    assert got[:2] == ['kernel/a/yy.ko.zst', 'kernel/a/zz.ko.xz']
    assert sorted(got) == sorted(['kernel/a/zz.ko.xz', 'kernel/a/yy.ko.zst', 'kernel/a/xx.ko',
                                  'kernel/a/dotted.name.ko'])


def test_same_name_twice_in_one_directory(tree):
    tree.add('kernel/a/dup.ko')
    tree.add('kernel/a/dup.ko.xz', compress='xz')
    tree.add('kernel/a/dash-name.ko')
    tree.add('kernel/a/dash_name.ko')
    tree.add('kernel/b/dup.ko')
    tree.check()


def test_default_search_updates_first(tree):
    for name in ('dummy', 'loop', 'nbd'):
        tree.add('kernel/drivers/%s.ko' % name)
    tree.add('updates/dummy.ko')
    tree.add('updates/deep/loop.ko.xz', compress='xz')
    tree.add('extra/nbd.ko')
    tree.add('updates-old/nbd.ko')
    tree.order(['kernel/drivers/dummy.ko', 'kernel/drivers/loop.ko', 'kernel/drivers/nbd.ko'])
    got = tree.check()
    # updates wins; among built-in ties the file found first stays
    assert {'updates/dummy.ko', 'updates/deep/loop.ko.xz'} < set(got)
    assert len(got) == 3


def test_duplicates_inside_one_search_dir_newest_wins(tree):
    # kmod checks only the new file in a search step: the later one found wins
    for sub in ('a', 'b', 'c', 'd'):
        tree.add('updates/%s/same.ko' % sub)
        tree.add('kernel/%s/other.ko' % sub)
    tree.check()


@pytest.mark.parametrize('search', [
    'search extra built-in updates',
    'search built-in',
    'search updates\nsearch extra',
    'search extra',
    'search extra updates external built-in',
    'search external extra built-in',
    'search updates/sub updates built-in',
    'search kernel extra',
    'search built-in external updates extra',
    'search updates built-in\nsearch extra',
    'search',
])
def test_search_orders(tree, search):
    for top in ('kernel/fs', 'updates', 'updates/sub', 'extra', 'weird'):
        for name in ('m1', 'm2', 'm3'):
            tree.add('%s/%s.ko' % (top, name))
    tree.add('kernel/fs/only-kernel.ko')
    tree.add('extra/m4.ko')
    tree.add('weird/m4.ko')
    ext = os.path.join(tree.base, 'ext1')
    tree.add(os.path.join(ext, 'm1.ko'))
    tree.add(os.path.join(ext, 'm4.ko'))
    tree.add(os.path.join(ext, 'ext-only.ko'))
    tree.conf('%s\nexternal * %s\n' % (search, ext))
    tree.check()


@pytest.mark.parametrize('kver,expect_override', [
    ('*', True),
    (RELEASE, True),
    ('6\\.1\\.0-[0-9]+-amd64', True),
    ('^6\\.1', True),
    ('amd64$', True),
    ('^5\\.10', False),
    ('6.2', False),
    ('[[:digit:]]\\.1\\.0', True),
    ('(', False),
])
def test_override_kver(tree, kver, expect_override):
    tree.add('kernel/net/dummy.ko')
    tree.add('updates/dummy.ko')
    tree.add('extra/dummy.ko')
    tree.add('extra/sub/loop.ko')
    tree.add('updates/loop.ko')
    tree.conf('override dummy %s extra\noverride loop * extra\n' % kver)
    got = tree.check()
    assert ('extra/dummy.ko' in got) is expect_override
    assert 'updates/loop.ko' in got  # the override names the exact directory


def test_override_order_and_search_interplay(tree):
    for sub in ('kernel', 'updates', 'extra', 'extra/deeper', 'misc'):
        tree.add('%s/x.ko' % sub)
        tree.add('%s/y.ko' % sub)
    tree.conf('search misc updates built-in\n'
              'override x * extra\noverride x * extra/deeper\n'
              'override y * misc\noverride y * kernel\n'
              'override z * kernel\noverride\n')
    tree.check()


def test_external_dirs(tree):
    ext1 = os.path.join(tree.base, 'ext1')
    ext2 = os.path.join(tree.base, 'ext2')
    for name in ('m1', 'm2', 'm3'):
        tree.add('kernel/%s.ko' % name)
    for name in ('m1', 'm2', 'e1', 'both'):
        tree.add(os.path.join(ext1, 'sub', '%s.ko' % name))
    for name in ('m1', 'e2', 'both'):
        tree.add(os.path.join(ext2, '%s.ko' % name))
    tree.order(['kernel/m1.ko', 'kernel/m2.ko', 'kernel/m3.ko'])
    tree.conf('search external built-in\n'
              'external * %s\nexternal %s %s\nexternal 5.10 %s/never\n'
              'external * %s/missing\n' % (ext1, RELEASE, ext2, tree.base, tree.base))
    got = tree.check()
    assert os.path.join(ext1, 'sub', 'both.ko') in got


def test_external_without_keyword_ranks_as_built_in(tree):
    ext = os.path.join(tree.base, 'ext')
    tree.add('kernel/m1.ko')
    tree.add('updates/m2.ko')
    tree.add(os.path.join(ext, 'm1.ko'))
    tree.add(os.path.join(ext, 'm2.ko'))
    tree.add(os.path.join(ext, 'm3.ko'))
    tree.conf('external * %s\n' % ext)
    got = tree.check()
    assert 'kernel/m1.ko' in got and os.path.join(ext, 'm3.ko') in got


def test_external_inside_module_dir_is_relative(tree):
    tree.add('kernel/m1.ko')
    tree.add('extra/m2.ko')
    tree.conf('search external built-in\nexternal * %s/extra\n' % tree.module_dir)
    tree.check()


def test_exclude_build_source(tree):
    tree.add('kernel/a/m1.ko')
    tree.add('kernel/skipme/m2.ko')
    tree.add('kernel/a/skipme/m3.ko')
    tree.add('kernel/a/m4.ko')
    tree.add('kernel/a/m5.ko')
    tree.add('kernel/source/m6.ko')
    tree.add('kernel/build/m7.ko')
    other = os.path.join(tree.base, 'headers')
    tree.add(os.path.join(other, 'm8.ko'))
    os.symlink(other, os.path.join(tree.module_dir, 'build'))
    os.symlink(other, os.path.join(tree.module_dir, 'source'))
    os.symlink(other, os.path.join(tree.module_dir, 'linked'))
    tree.conf('exclude skipme m4.ko\nexclude\n')
    got = tree.check()
    assert sorted(got) == ['kernel/a/m1.ko', 'kernel/a/m5.ko', 'linked/m8.ko']


def test_symlinked_module_and_dangling_link(tree):
    real = tree.add('kernel/real.ko')
    os.symlink(real, os.path.join(tree.module_dir, 'kernel', 'alias-link.ko'))
    os.symlink('/nonexistent/x.ko', os.path.join(tree.module_dir, 'kernel', 'dangling.ko'))
    tree.check()


def test_debian_tree_order(kmod, indexed_debian_tree):
    """The scan's order equals the order of that depmod's modules.dep."""
    debian_tree = indexed_debian_tree
    config = load_depmod_config(paths=[], release=debian_tree.release)
    result = scan_modules(debian_tree.root, debian_tree.release, config=config, **scan_flavour(kmod))
    with open(os.path.join(debian_tree.module_dir, 'modules.dep')) as f:
        expected = [line.split(':', 1)[0] for line in f]
    assert len(expected) == 4023
    assert result.dep_paths() == expected
    assert [m.order for m in result.modules] == list(range(len(expected)))
    assert result.order_file == 'used'


def test_external_dirs_walked_last_defined_first(tree):
    # without the 'external' search word all externals tie with built-in:
    # the file found first stays, and kmod walks the last external line first
    first = os.path.join(tree.base, 'first')
    second = os.path.join(tree.base, 'second')
    tree.add('kernel/m0.ko')
    tree.add(os.path.join(first, 'shared.ko'))
    tree.add(os.path.join(second, 'shared.ko'))
    tree.conf('external * %s\nexternal * %s\n' % (first, second))
    assert os.path.join(second, 'shared.ko') in tree.check()


def test_modules_order_odd_lines(tree):
    for name in NAMES[:8]:
        tree.add('kernel/%s.ko' % name)
    with open(os.path.join(tree.module_dir, 'modules.order'), 'wb') as f:
        f.write(b'kernel/xfs.ko\n\0kernel/ext4.ko\n' + b'k' * 3000 + b'\nkernel/e1000e.ko\n')
    got = tree.check()
    assert got[:2] == ['kernel/xfs.ko', 'kernel/e1000e.ko']


def test_modules_order_overlong_line_ignores_file(tree):
    for name in NAMES[:8]:
        tree.add('kernel/%s.ko' % name)
    tree.order(['kernel/xfs.ko', 'k' * 4095, 'kernel/ext4.ko'])
    assert tree.check()[0] != 'kernel/xfs.ko'


def test_non_ascii_and_odd_names(tree):
    """kmod 30 indexes any byte; kmod 34 writes modules.dep, then stops at the first
    key of modules.dep.bin that is not 7-bit ASCII (and run_depmod refuses such a
    name for either before writing anything: see test_non_ascii_names_are_refused)."""
    for name in ('é', 'aé', 'abé', 'abcé', 'ü-x', 'x_ü', '\u4e2d\u6587', 'a.b.c', '-', '_x', 'UPPER', '.hidden'):
        tree.add('kernel/%s.ko' % name)
    fatal = 'Module index: bad character' if tree.kmod.major >= 34 else None
    tree.check(fatal)


def test_non_ascii_names_are_refused(tree):
    """Where kmod 34 stops (leaving modules.dep and a temporary .bin file behind)
    and kmod 30 writes the 8-bit key, we write nothing and say which key."""
    tree.add('kernel/ok.ko')
    tree.add('kernel/abé.ko')
    config = load_depmod_config(paths=[tree.conf_dir], release=RELEASE)
    with pytest.raises(KmodError, match="index key 'ab.': only 7-bit ASCII"):
        run_depmod(RELEASE, basedir=tree.root, config_paths=[tree.conf_dir], cache_dir=None,
                   flavour=tree.kmod.flavour())
    assert sorted(os.listdir(tree.module_dir)) == ['kernel']
    assert config.warnings == []


@pytest.mark.parametrize('seed', range(int(os.environ.get('DEPMOD_SCAN_SEEDS', '30'))))
def test_random_trees(tree, seed):
    """Random names, places, depmod.d lines and modules.order."""
    rng = random.Random(seed)
    ext = [os.path.join(tree.base, 'ext%d' % i) for i in range(3)]
    tops = ['kernel/a', 'kernel/b/c', 'updates', 'updates/x', 'extra', 'vendor', 'misc/deep'] + ext
    names = ['m%d' % i for i in range(25)] + ['snd-%d' % i for i in range(5)] + ['snd_%d' % i for i in range(5)]
    placed = []
    for name in names:
        for top in rng.sample(tops, rng.randint(1, 3)):
            suffix = rng.choice(['.ko', '.ko', '.ko.xz', '.ko.zst'])
            path = '%s/%s%s' % (top, name, suffix)
            tree.add(path, compress={'.ko.xz': 'xz', '.ko.zst': 'zst'}.get(suffix))
            placed.append(path)
    words = ['updates', 'extra', 'vendor', 'misc', 'built-in', 'external', 'kernel/b', 'updates/x']
    lines = []
    if rng.random() < 0.8:
        lines.append('search ' + ' '.join(rng.sample(words, rng.randint(1, 5))))
    for _i in range(rng.randint(0, 4)):
        kver = rng.choice(['*', RELEASE, '^5'])
        lines.append('override %s %s %s' % (rng.choice(names), kver, rng.choice(tops[:7])))
    for path in rng.sample(ext, rng.randint(0, 3)):
        lines.append('external * %s' % path)
    if rng.random() < 0.3:
        lines.append('exclude %s' % rng.choice(['x', 'deep', 'm3.ko']))
    tree.conf('\n'.join(lines) + '\n')
    inside = [p for p in placed if not p.startswith('/')]
    listed = [p.split('.ko')[0] + '.ko' for p in rng.sample(inside, len(inside) // 2)]
    tree.order(listed + rng.sample(listed, 3))
    tree.check()
