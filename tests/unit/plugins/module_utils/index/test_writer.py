# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IndexBuilder: exact bytes of both layouts, depmod's value order, and byte
equality with the real depmod's files rebuilt from its text files."""

import os
import struct

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.index.binary import BinaryIndex
from ansible_collections.kernel.kmod.plugins.module_utils.index.text import read_text_index
from ansible_collections.kernel.kmod.plugins.module_utils.index.writer import IndexBuilder, build_index
from tests.lib.depmod_tree import build_tree

HEAD = b'\xb0\x07\xf4\x57\x00\x02\x00\x01'


@pytest.mark.parametrize('layout', ['pre', 'post'])
def test_empty_index(layout):
    assert build_index([], layout) == HEAD + b'\x00\x00\x00\x0c'


def test_single_key_pre_order():
    data = build_index([('a', 'x', 3)], 'pre')
    assert data == (HEAD + struct.pack('>I', 0x2000000c)
                    + b'aa' + struct.pack('>I', 0x40000000 | 18)
                    + struct.pack('>II', 1, 3) + b'x\0')


def test_single_key_post_order():
    data = build_index([('a', 'x', 3)], 'post')
    assert data == (HEAD + struct.pack('>I', 0x20000000 | 22)
                    + struct.pack('>II', 1, 3) + b'x\0'
                    + b'aa' + struct.pack('>I', 0x40000000 | 12))


def test_split_nodes_and_prefixes():
    # 'abc' then 'abd' splits the leaf 'bc' into prefix 'b' and children c, d
    data = build_index([('abc', '1', 0), ('abd', '2', 0)], 'pre')
    root = b'aa' + struct.pack('>I', 0xA0000000 | 18)
    mid = b'b\0' + b'cd' + struct.pack('>II', 0x40000000 | 30, 0x40000000 | 40)
    leaf1 = struct.pack('>II', 1, 0) + b'1\0'
    leaf2 = struct.pack('>II', 1, 0) + b'2\0'
    assert data == HEAD + struct.pack('>I', 0x2000000c) + root + mid + leaf1 + leaf2


def test_canonical_for_any_insertion_order():
    keys = ['ab', 'a', 'abc', 'b', 'abd', 'ba', '', 'zz', 'z']
    first = build_index([(k, 'v', 0) for k in keys])
    assert build_index([(k, 'v', 0) for k in reversed(keys)]) == first
    assert build_index([(k, 'v', 0) for k in sorted(keys)]) == first


def test_value_order_and_duplicates_follow_depmod():
    builder = IndexBuilder()
    assert builder.add('k', 'a', 5) is False
    assert builder.add('k', 'b', 1) is False
    assert builder.add('k', 'c', 5) is False
    assert builder.add('k', 'a', 5) is True
    with BinaryIndex.from_bytes(builder.to_bytes()) as idx:
        # ascending priority; among equals the newest first; duplicates kept
        assert idx.lookup('k') == [(1, 'b'), (5, 'a'), (5, 'c'), (5, 'a')]


def test_gaps_in_child_ranges_are_zero_words():
    data = build_index([('a', '1', 0), ('d', '2', 0)], 'pre')
    assert data[12:14] == b'ad'
    words = struct.unpack('>4I', data[14:30])
    assert words[1] == 0 and words[2] == 0
    assert words[0] == 0x40000000 | 30 and words[3] == 0x40000000 | 40


@pytest.mark.parametrize('key, value, priority, words', [
    ('caf\u00e9', 'x', 0, '7-bit ASCII'),
    ('k', '\u00ff', 0, '7-bit ASCII'),
    ('a\0b', 'x', 0, 'NUL'),
    ('k', 'x', -1, 'out of range'),
    ('k', 'x', 2 ** 32, 'out of range'),
    (b'k', 'x', 0, 'must be a string'),
])
def test_bad_entries(key, value, priority, words):
    with pytest.raises(KmodError, match=words):
        IndexBuilder().add(key, value, priority)


def test_unknown_layout():
    with pytest.raises(KmodError, match='unknown index layout'):
        IndexBuilder().to_bytes('sideways')


def test_0x7f_key_both_layouts():
    entries = [('\x7f', 'del', 1), ('~\x7f~', 'x', 2)]
    for layout in ('pre', 'post'):
        with BinaryIndex.from_bytes(build_index(entries, layout)) as idx:
            assert list(idx.items()) == [('~\x7f~', 2, 'x'), ('\x7f', 1, 'del')]


@pytest.fixture(scope='module')
def depmod_tree(tmp_path_factory):
    base = tmp_path_factory.mktemp('writer')
    modinfo = (b'crc32c_generic.alias=crypto-crc32c\0crc32c_generic.alias=crc32c\0crc32c_generic.license=GPL\0'
               b'aes_generic.alias=aes\0aes_generic.alias=crypto-aes\0aes_generic.alias=crypto-aes\0')
    modules = {
        'kernel/a/one.ko': dict(modinfo=['alias=pci:v*d00001111*', 'alias=of:N*T*Cvendor,one-[ab]', 'alias=same',
                                         'alias=same', 'license=GPL'], exports=['one_a', 'one_b']),
        'kernel/b/two-x.ko': dict(modinfo=['alias=pci:v*d00001111*', 'alias=same', 'license=GPL'],
                                  needs=['one_a'], exports=['two_a']),
        'kernel/c/three.ko': dict(modinfo=['alias=usb:v*p*', 'alias=bad]x', 'license=GPL'], needs=['two_a']),
        'kernel/c/four.ko': dict(modinfo=['alias=usb:v*p*', 'license=GPL']),
    }
    order = ['kernel/c/three.ko', 'kernel/b/two-x.ko', 'kernel/a/one.ko']
    module_dir = build_tree(base, '2.0', modules, order=order,
                            builtin=['kernel/lib/zz-top.ko', 'kernel/lib/aa.ko', 'kernel/lib/aa.ko'],
                            builtin_modinfo=modinfo)
    return module_dir


@pytest.mark.parametrize('name', ['modules.dep', 'modules.alias', 'modules.symbols', 'modules.builtin',
                                  'modules.builtin.alias'])
def test_rebuilds_depmods_files_byte_for_byte(depmod_tree, name):
    text = read_text_index(depmod_tree, name)
    with open(os.path.join(depmod_tree, name + '.bin'), 'rb') as f:
        theirs = f.read()
    assert IndexBuilder().add_all(text.entries).to_bytes('post') == theirs
    pre = IndexBuilder().add_all(text.entries).to_bytes('pre')
    with BinaryIndex.from_bytes(pre) as ours, BinaryIndex(os.path.join(depmod_tree, name + '.bin')) as real:
        assert list(ours.items()) == list(real.items())
        assert len(list(real.items())) > 0
