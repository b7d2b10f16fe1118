# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod_scan on small fake trees: discovery, duplicates, order, results.

The scan never reads a module's content, so empty files stand in for
modules here; tests/conformance/test_depmod_scan_vs_kmod.py holds the same
rules against the real depmod.
"""

import os

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.config.depmod import parse_depmod_text
from ansible_collections.kernel.kmod.plugins.module_utils.depmod import scan as ds
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.scan import (
    Skipped, hash_order, module_stem, read_order_file, scan_modules,
)
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError

REL = '6.1.0-13-amd64'

# The order kmod 30's depmod wrote these names in (no modules.order).
KMOD_HASH_ORDER = ['gamma', 'beta', 'four', 'zeta', 'delta', 'mid', 'two', 'alpha', 'one', 'eps',
                   'five', 'three']


def config(text='', root='/'):
    cfg = parse_depmod_text(text, 'test.conf', release=REL)
    cfg.root = root
    return cfg


class Tree(object):

    def __init__(self, tmp_path, top='lib/modules'):
        self.root = str(tmp_path / 'root')
        self.module_dir = os.path.join(self.root, top, REL)
        os.makedirs(self.module_dir)

    def add(self, *paths):
        for path in paths:
            full = path if os.path.isabs(path) else os.path.join(self.module_dir, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            open(full, 'wb').close()

    def order(self, data):
        with open(os.path.join(self.module_dir, 'modules.order'), 'wb') as f:
            f.write(data if isinstance(data, bytes) else data.encode())

    def scan(self, text='', **kwargs):
        return scan_modules(self.root, REL, config=config(text, kwargs.pop('root', '/')), **kwargs)

    def listing(self, rel):
        """Entry names of a directory in readdir order."""
        return [e.name for e in os.scandir(os.path.join(self.module_dir, rel))]


@pytest.fixture
def tree(tmp_path):
    return Tree(tmp_path)


def test_hash_order_is_kmods():
    assert hash_order(sorted(KMOD_HASH_ORDER)) == KMOD_HASH_ORDER


def test_scan_without_modules_order_uses_hash_order(tree):
    tree.add(*['kernel/d%d/%s.ko' % (i % 3, n) for i, n in enumerate(sorted(KMOD_HASH_ORDER))])
    result = tree.scan()
    assert [m.name for m in result.modules] == KMOD_HASH_ORDER
    assert [m.order for m in result.modules] == list(range(12))
    assert result.order_file == 'missing'
    assert result.warnings == ['%s/modules.order: cannot read: No such file or directory' % tree.module_dir]


def test_module_records(tree):
    tree.add('kernel/net/snd-hda.ko.xz')
    result = tree.scan()
    (record,) = result.modules
    path = os.path.join(tree.module_dir, 'kernel/net/snd-hda.ko.xz')
    st = os.stat(path)
    assert (record.name, record.path, record.dep_path, record.order) == (
        'snd_hda', path, 'kernel/net/snd-hda.ko.xz', 0)
    assert record.stat_key == (st.st_size, st.st_mtime_ns, st.st_ino)
    assert result.module_dir == tree.module_dir
    assert result.by_name() == {'snd_hda': record}


def test_stat_keys_the_state_walk_took_are_used_as_they_are(tree, monkeypatch):
    from ansible_collections.kernel.kmod.plugins.module_utils.config.depmod import parse_depmod_text as parse
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.state import input_fingerprint
    tree.add('kernel/a.ko', 'kernel/b.ko.xz', 'updates/c.ko')
    file_stats = {}
    input_fingerprint(tree.module_dir, parse('', 'x.conf', release=REL), {'suffixes': list(ds.MODULE_SUFFIXES)},
                      parallel=False, file_stats=file_stats)
    assert sorted(file_stats) == sorted(os.path.join(tree.module_dir, p)
                                        for p in ('kernel/a.ko', 'kernel/b.ko.xz', 'updates/c.ko'))
    stats = []
    real_stat = os.stat
    monkeypatch.setattr(ds.os, 'stat', lambda path, *a, **k: stats.append(path) or real_stat(path, *a, **k))
    result = tree.scan(known_stats=file_stats)
    assert [r.stat_key for r in result.modules] == [file_stats[r.path] for r in result.modules]
    assert [p for p in stats if p.endswith('.ko') or p.endswith('.xz')] == []   # none stat()ed again
    # a file the walk did not see is stat()ed as before
    del file_stats[os.path.join(tree.module_dir, 'updates/c.ko')]
    result = tree.scan(known_stats=file_stats)
    assert [p for p in stats if p.endswith('.ko')] == [os.path.join(tree.module_dir, 'updates/c.ko')]


def test_modules_order_first_last_position_wins(tree):
    tree.add(*['kernel/%s.ko' % n for n in KMOD_HASH_ORDER])
    tree.add('kernel/comp.ko.zst')
    tree.order('kernel/three.ko\nkernel/absent.ko\nkernel/alpha.ko\nkernel/comp.ko\n'
               'kernel/three.ko\n\nkernel/comp.ko.zst\n')
    result = tree.scan()
    names = [m.name for m in result.modules]
    assert names[:3] == ['alpha', 'comp', 'three']
    assert names[3:] == [n for n in KMOD_HASH_ORDER if n not in ('alpha', 'three')]
    assert result.order_file == 'used' and result.warnings == []
    first = tree.scan(first_order_line_wins=True)
    assert [m.name for m in first.modules][:3] == ['three', 'alpha', 'comp']


def test_modules_order_without_final_newline_is_ignored(tree):
    tree.add('kernel/alpha.ko', 'kernel/gamma.ko')
    tree.order('kernel/alpha.ko\nkernel/gamma.ko')
    result = tree.scan()
    assert [m.name for m in result.modules] == ['gamma', 'alpha']
    assert result.order_file == 'corrupt'
    assert result.warnings == ["%s/modules.order:2: corrupted line misses '\\n', file ignored" % tree.module_dir]


def test_read_order_file_pieces(tmp_path):
    path = str(tmp_path / 'modules.order')

    def read(data, **kwargs):
        with open(path, 'wb') as f:
            f.write(data)
        positions, state, _warning = read_order_file(path, **kwargs)
        return positions, state

    assert read(b'') == ({}, 'used')
    assert read(b'a.ko\n\0skipped\nb.ko\n') == ({'a.ko': 0, 'b.ko': 1}, 'used')
    assert read(b'a.ko\nb\0.ko\n') == ({}, 'corrupt')
    assert read(b'a.ko\nb.ko\na.ko\n') == ({'a.ko': 2, 'b.ko': 1}, 'used')
    assert read(b'a.ko\nb.ko\na.ko\n', first_wins=True) == ({'a.ko': 0, 'b.ko': 1}, 'used')
    assert read(b'x' * 4094 + b'\n') == ({'x' * 4094: 0}, 'used')
    assert read(b'x' * 4095 + b'\n') == ({}, 'corrupt')
    assert read(b'a\xffb.ko\n') == ({'a\udcffb.ko': 0}, 'used')
    assert read_order_file(str(tmp_path / 'none'))[1] == 'missing'


def test_order_matches_path_cut_after_name(tree):
    # kmod matches modules.order against dir/ + name + 3 more characters
    tree.add('kernel/a.b.ko', 'kernel/gamma.ko')
    tree.order('kernel/a.b.ko\n')
    assert [m.dep_path for m in tree.scan().modules] == ['kernel/gamma.ko', 'kernel/a.b.ko']
    tree.order('kernel/a.b.\n')
    assert [m.dep_path for m in tree.scan().modules] == ['kernel/a.b.ko', 'kernel/gamma.ko']


def test_which_files_count(tree):
    tree.add('kernel/a.ko', 'kernel/b.ko.xz', 'kernel/c.ko.zst', 'kernel/d.ko.gz', 'kernel/e.o',
             'kernel/ko', 'kernel/.ko', 'kernel/f.ko.bz2', 'kernel/g.KO', 'modules.dep')
    got = sorted(m.dep_path for m in tree.scan().modules)
    assert got == ['kernel/a.ko', 'kernel/b.ko.xz', 'kernel/c.ko.zst', 'kernel/d.ko.gz']
    without_gz = tree.scan(suffixes=('.ko', '.ko.xz', '.ko.zst'))
    assert sorted(m.dep_path for m in without_gz.modules) == got[:3]


def test_module_stem():
    assert module_stem('snd-hda.ko.xz') == 'snd-hda'
    assert module_stem('a.b.ko') == 'a'
    assert module_stem('.ko') is None
    assert module_stem('x.ko.gz', ('.ko',)) is None


def test_skipped_entries(tree):
    tree.add('kernel/a.ko', 'kernel/debug/b.ko', 'kernel/c.ko', 'build/d.ko', 'kernel/x/source/e.ko')
    result = tree.scan('exclude debug c.ko\n')
    assert [m.dep_path for m in result.modules] == ['kernel/a.ko']
    base = tree.module_dir
    assert sorted(result.skipped, key=lambda s: s.path) == [
        Skipped(base + '/build', 'build-or-source'),
        Skipped(base + '/kernel/c.ko', 'excluded'),
        Skipped(base + '/kernel/debug', 'excluded'),
        Skipped(base + '/kernel/x/source', 'build-or-source'),
    ]


def test_default_search_prefers_updates(tree):
    tree.add('kernel/net/dummy.ko', 'updates/dummy.ko.xz', 'extra/loop.ko', 'kernel/loop.ko')
    result = tree.scan()
    by_name = result.by_name()
    assert by_name['dummy'].dep_path == 'updates/dummy.ko.xz'
    assert Skipped(os.path.join(tree.module_dir, 'kernel/net/dummy.ko'), 'lower-priority',
                   'updates/dummy.ko.xz') in result.skipped
    # extra and kernel are both built-in: the file found first stays
    first_top = [n for n in tree.listing('') if n in ('extra', 'kernel')][0]
    assert by_name['loop'].dep_path == '%s/loop.ko' % first_top


def test_same_search_dir_newest_wins(tree):
    tree.add('updates/a/m.ko', 'updates/b/m.ko', 'kernel/a/n.ko', 'kernel/b/n.ko')
    by_name = tree.scan().by_name()
    order = [n for n in tree.listing('updates') if n in ('a', 'b')]
    assert by_name['m'].dep_path == 'updates/%s/m.ko' % order[-1]
    order = [n for n in tree.listing('kernel') if n in ('a', 'b')]
    assert by_name['n'].dep_path == 'kernel/%s/n.ko' % order[0]


def test_search_list_priorities(tree):
    tree.add('kernel/m.ko', 'updates/m.ko', 'extra/m.ko', 'kernel/n.ko', 'vendor/n.ko')
    assert tree.scan('search extra updates built-in\n').by_name()['m'].dep_path == 'extra/m.ko'
    assert tree.scan('search built-in extra\n').by_name()['m'].dep_path == 'kernel/m.ko'
    # without built-in in the list, the rest ranks below every listed dir
    assert tree.scan('search vendor\n').by_name()['n'].dep_path == 'vendor/n.ko'
    assert tree.scan('search kernel vendor\n').by_name()['n'].dep_path == 'kernel/n.ko'


def test_overrides(tree):
    tree.add('kernel/m.ko', 'updates/m.ko', 'extra/m.ko', 'extra/deep/n.ko', 'updates/n.ko',
             'kernel/snd-x.ko', 'extra/snd-x.ko')
    by_name = tree.scan('override m * extra\noverride n * extra\noverride snd-x * extra\n').by_name()
    assert by_name['m'].dep_path == 'extra/m.ko'
    assert by_name['n'].dep_path == 'updates/n.ko'
    assert by_name['snd_x'].dep_path == 'extra/snd-x.ko'
    # the names are compared as written: snd_x does not name snd-x.ko
    tree.add('updates/snd-x.ko')
    assert tree.scan('override snd_x * extra\n').by_name()['snd_x'].dep_path == 'updates/snd-x.ko'
    assert tree.scan('override snd-x * extra\n').by_name()['snd_x'].dep_path == 'extra/snd-x.ko'
    # the last override line is looked at first
    assert tree.scan('override m * kernel\noverride m * extra\n').by_name()['m'].dep_path == 'extra/m.ko'
    assert tree.scan('override m 5.4 extra\n').by_name()['m'].dep_path == 'updates/m.ko'


def test_external_dirs(tree, tmp_path):
    ext1, ext2 = str(tmp_path / 'ext1'), str(tmp_path / 'ext2')
    tree.add('kernel/m.ko', ext1 + '/sub/m.ko', ext1 + '/e.ko', ext2 + '/e.ko', ext2 + '/f.ko.xz')
    result = tree.scan('search external built-in\nexternal * %s\nexternal * %s\nexternal * %s/none\n'
                       % (ext1, ext2, tmp_path))
    by_name = result.by_name()
    assert by_name['m'].dep_path == ext1 + '/sub/m.ko'
    assert by_name['e'].dep_path == ext1 + '/e.ko'
    assert by_name['f'].dep_path == ext2 + '/f.ko.xz'
    assert by_name['f'].path == ext2 + '/f.ko.xz'
    assert result.warnings == ['%s/modules.order: cannot read: No such file or directory' % tree.module_dir]
    # without the 'external' word they rank as built-in: the kernel's file was found first
    plain = tree.scan('external * %s\n' % ext1).by_name()
    assert plain['m'].dep_path == 'kernel/m.ko'
    # a file found in the last external line's directory is found first
    assert tree.scan('external * %s\nexternal * %s\n' % (ext1, ext2)).by_name()['e'].dep_path == ext2 + '/e.ko'


def test_external_under_config_root(tree, tmp_path):
    tree.add(tree.root + '/opt/vendor/v.ko')
    result = tree.scan('external * /opt/vendor\n', root=tree.root)
    (record,) = result.modules
    assert (record.dep_path, record.path) == ('/opt/vendor/v.ko', tree.root + '/opt/vendor/v.ko')


def test_external_inside_module_dir_is_relative(tree):
    tree.add('extra/m.ko')
    result = tree.scan('search external built-in\nexternal * %s/extra\n' % tree.module_dir)
    assert [m.dep_path for m in result.modules] == ['extra/m.ko']


def test_symlinks_and_odd_entries(tree):
    tree.add('kernel/real.ko')
    kdir = os.path.join(tree.module_dir, 'kernel')
    os.symlink('real.ko', os.path.join(kdir, 'link.ko'))
    os.symlink('/nonexistent/x.ko', os.path.join(kdir, 'dangling.ko'))
    os.mkfifo(os.path.join(kdir, 'fifo.ko'))
    os.symlink('..', os.path.join(kdir, 'loop'))
    result = tree.scan()
    assert sorted(m.dep_path for m in result.modules) == ['kernel/link.ko', 'kernel/real.ko']
    warnings = [w for w in result.warnings if 'modules.order' not in w]
    assert sorted(warnings) == sorted([
        '%s/dangling.ko: cannot stat: No such file or directory' % kdir,
        '%s/fifo.ko: unsupported file type 10000' % kdir,
        '%s/loop: directory loop, not followed' % kdir,
    ])


def test_usr_lib_modules(tmp_path):
    tree = Tree(tmp_path, top='usr/lib/modules')
    tree.add('kernel/m.ko')
    result = tree.scan()
    assert result.module_dir == tree.module_dir
    assert result.dep_paths() == ['kernel/m.ko']


def test_explicit_module_dir(tmp_path):
    other = str(tmp_path / 'elsewhere')
    os.makedirs(other + '/kernel')
    open(other + '/kernel/m.ko', 'w').close()
    result = scan_modules(str(tmp_path), REL, config=config(), module_dir=other)
    assert result.modules[0].path == other + '/kernel/m.ko'


def test_missing_module_dir_is_an_error(tmp_path):
    with pytest.raises(KmodError) as info:
        scan_modules(str(tmp_path), REL, config=config())
    assert info.value.msg == 'cannot open module directory %s/lib/modules/%s: No such file or directory' % (
        tmp_path, REL)


def test_config_warnings_are_passed_on(tree):
    tree.add('kernel/m.ko')
    tree.order('kernel/m.ko\n')
    assert tree.scan('bogus line\n').warnings == ["test.conf:1: ignoring bad line starting with 'bogus'"]


def test_default_config_and_release(tree, monkeypatch):
    tree.add('kernel/m.ko')
    monkeypatch.setattr(ds, 'load_depmod_config', lambda release: config())
    assert scan_modules(tree.root, REL).dep_paths() == ['kernel/m.ko']


def test_repeated_lines_still_rank_before_unlisted(tree):
    tree.add('kernel/alpha.ko', 'kernel/gamma.ko', 'kernel/beta.ko')
    tree.order('kernel/alpha.ko\nkernel/alpha.ko\nkernel/alpha.ko\nkernel/beta.ko\nkernel/alpha.ko\n')
    assert [m.name for m in tree.scan().modules] == ['beta', 'alpha', 'gamma']


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from([b'kernel/a.ko', b'kernel/b-c.ko', b'', b'x\0y', b'k\xe9.ko']),
                          st.binary(max_size=12), st.just(b'L' * 4094), st.just(b'L' * 4095)), max_size=8),
       st.sampled_from([b'\n', b'']))
def test_order_file_quick_path_reads_as_kmod_does(lines, end):
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.scan import _fgets_lines, order_lines
    data = b'\n'.join(lines) + end
    assert order_lines(data, 'modules.order') == _fgets_lines(data, 'modules.order')
