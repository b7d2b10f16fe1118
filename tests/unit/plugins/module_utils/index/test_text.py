# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Text fallbacks of the module indexes and open_index's choice of file."""

import errno
import os
import shutil

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError, KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.index.binary import BinaryIndex
from ansible_collections.kernel.kmod.plugins.module_utils.index.text import (
    ModuleOrder, TextIndex, depmod_alias_key, depmod_module_name, open_index, parse_modules_alias,
    parse_modules_builtin, parse_modules_builtin_modinfo, parse_modules_dep, parse_modules_softdep,
    parse_modules_symbols, read_text_index)
from tests.lib.depmod_tree import build_tree


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


@pytest.mark.parametrize('raw, want', [
    ('pci:v*d*sv-x', 'pci:v*d*sv_x'),
    ('usb:v[A-F]*-x', 'usb:v[A-F]*_x'),
    ('char-major-10-[0-9]', 'char_major_10_[0-9]'),
    ('a[-]-b', 'a[-]_b'),
    ('open[-x', None),
    ('close]x', None),
    ('', ''),
])
def test_depmod_alias_key(raw, want):
    assert depmod_alias_key(raw) == want


@pytest.mark.parametrize('path, want', [
    ('kernel/drivers/net/e1000e.ko', 'e1000e'),
    ('kernel/sound/snd-hda-intel.ko.xz', 'snd_hda_intel'),
    ('kernel/fs/ext4.ko\n', 'ext4'),
    ('/abs/extra/x-y.ko.zst', 'x_y'),
])
def test_depmod_module_name(path, want):
    assert depmod_module_name(path) == want


def test_modules_dep(tmp_path):
    path = write(tmp_path, 'modules.dep', 'kernel/a/x-y.ko: kernel/b/z.ko\nkernel/b/z.ko:\n\nno colon here\n')
    entries, warnings = parse_modules_dep(path)
    assert entries == [('x_y', 'kernel/a/x-y.ko: kernel/b/z.ko', 0), ('z', 'kernel/b/z.ko:', 1)]
    assert warnings == ["%s:4: expected \"PATH: DEPS\", got 'no colon here'" % path]


def test_modules_alias_with_and_without_order(tmp_path):
    path = write(tmp_path, 'modules.alias', '# Aliases extracted from modules themselves.\n'
                 'alias pci:v-1* b\nalias usb:[a-]* a\nalias bad[ a\nalias too many fields\nalias x b\n')
    entries, warnings = parse_modules_alias(path)
    assert entries == [('pci:v_1*', 'b', 0), ('usb:[a-]*', 'a', 1), ('x', 'b', 0)]
    assert [w.split(': ', 1)[1] for w in warnings] == ["unmatched bracket in 'bad['",
                                                       'expected "alias PATTERN MODULE", got \'alias too many fields\'']
    entries, _warnings = parse_modules_alias(path, ModuleOrder(['a', 'c', 'b']))
    assert entries == [('pci:v_1*', 'b', 2), ('usb:[a-]*', 'a', 0), ('x', 'b', 2)]


def test_modules_symbols(tmp_path):
    path = write(tmp_path, 'modules.symbols', '# Aliases for symbols, used by symbol_request().\n'
                 'alias symbol:foo m1\nalias notsym m2\n')
    entries, warnings = parse_modules_symbols(path, ModuleOrder(['m0', 'm1']))
    assert entries == [('symbol:foo', 'm1', 1)]
    assert warnings == ["%s:3: not a symbol alias: 'notsym'" % path]


def test_modules_builtin(tmp_path):
    path = write(tmp_path, 'modules.builtin', 'kernel/lib/crc-t10dif.ko\n/abs.ko\nkernel/fs/ext4.ko\n')
    entries, warnings = parse_modules_builtin(path)
    assert entries == [('crc_t10dif', '', 0), ('ext4', '', 0)]
    assert warnings == ["%s:2: invalid modules.builtin line '/abs.ko'" % path]


def test_modules_builtin_modinfo(tmp_path):
    path = write(tmp_path, 'modules.builtin.modinfo',
                 b'ext4.alias=fs-ext4\0ext4.license=GPL\0aes.alias=crypto-[ab\0broken\0ext4.alias=\0')
    entries, warnings = parse_modules_builtin_modinfo(path)
    assert entries == [('fs_ext4', 'ext4', 0)]
    assert warnings == ["%s: unmatched bracket in 'crypto-[ab'" % path, "%s: malformed record 'broken'" % path]


def test_modules_softdep(tmp_path):
    path = write(tmp_path, 'modules.softdep', '# Soft dependencies extracted from modules themselves.\n'
                 'softdep crc32c pre: crc32c_intel post: x\nsoftdep lonely\n')
    entries, warnings = parse_modules_softdep(path, ModuleOrder(['a', 'crc32c']))
    assert entries == [('crc32c', 'pre: crc32c_intel post: x', 1)]
    assert len(warnings) == 1 and ':3: expected "softdep MODULE DEPS"' in warnings[0]


def test_text_index_has_the_binary_api(tmp_path):
    idx = TextIndex('mem', [('pci:v*', 'm2', 2), ('pci:v1*', 'm1', 1), ('exact', 'e', 0)], ['w'])
    with idx:
        assert idx.lookup_wildcard('pci:v12') == [(1, 'm1'), (2, 'm2')]
        assert idx.lookup('exact') == [(0, 'e')]
        assert idx.warnings == ['w']
        assert list(idx.keys()) == ['exact', 'pci:v*', 'pci:v1*']


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp('text')
    modules = {
        'kernel/a/one.ko': dict(modinfo=['alias=pci:v*d00001111*', 'alias=same', 'softdep=pre: two_x',
                                         'license=GPL'], exports=['one_a']),
        'kernel/b/two-x.ko': dict(modinfo=['alias=pci:v0000AAAAd*', 'alias=same', 'license=GPL'],
                                  needs=['one_a'], exports=['two_a']),
    }
    return build_tree(base, '3.0', modules, order=['kernel/b/two-x.ko'], builtin=['kernel/lib/bi.ko'],
                      builtin_modinfo=b'bi.alias=bi-alias\0')


@pytest.mark.parametrize('name', ['modules.dep', 'modules.alias', 'modules.symbols', 'modules.builtin',
                                  'modules.builtin.alias'])
def test_text_fallback_equals_binary(tree, tmp_path, name):
    copy = str(tmp_path / 'copy')
    shutil.copytree(tree, copy)
    os.unlink(os.path.join(copy, name + '.bin'))
    with open_index(tree, name) as real, open_index(copy, name + '.bin') as text:
        assert isinstance(real, BinaryIndex) and not isinstance(real, TextIndex)
        assert isinstance(text, TextIndex)
        assert list(text.items()) == list(real.items())
        assert len(list(real.items())) > 0
        for query in ('pci:v0000AAAAd00001111', 'same', 'one', 'symbol:two_a', 'bi', 'bi_alias'):
            assert text.lookup_wildcard(query) == real.lookup_wildcard(query)
            assert text.lookup(query) == real.lookup(query)


def test_softdep_has_no_binary(tree):
    with open_index(tree, 'modules.softdep') as idx:
        assert list(idx.items()) == [('one', 1, 'pre: two_x')]


def test_missing_and_unknown_indexes(tmp_path):
    with pytest.raises(KmodError) as info:
        open_index(str(tmp_path), 'modules.dep')
    assert info.value.errno == errno.ENOENT
    assert 'neither modules.dep.bin nor modules.dep exists' in str(info.value)
    with pytest.raises(KmodError, match="unknown module index 'modules.devname'"):
        open_index(str(tmp_path), 'modules.devname')
    with pytest.raises(KmodError, match='unknown module index'):
        read_text_index(str(tmp_path), 'nonsense')


def test_empty_bin_reads_as_empty_but_damaged_bin_fails(tmp_path):
    write(tmp_path, 'modules.builtin.alias.bin', b'')
    with open_index(str(tmp_path), 'modules.builtin.alias') as idx:
        assert list(idx.items()) == []
    write(tmp_path, 'modules.alias.bin', b'garbage, not an index')
    with pytest.raises(FormatError, match='modules.alias.bin: not a kmod index'):
        open_index(str(tmp_path), 'modules.alias')
