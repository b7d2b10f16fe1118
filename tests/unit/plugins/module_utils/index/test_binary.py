# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""BinaryIndex: hand-made files, our writer's files, and files of the real depmod."""

import os
import struct

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError, KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.index.binary import (
    FLAG_CHILDREN, FLAG_PREFIX, FLAG_VALUES, MAGIC, BinaryIndex, PriorityList)
from ansible_collections.kernel.kmod.plugins.module_utils.index.writer import build_index
from tests.lib.depmod_tree import build_tree, modprobe_resolve

RELEASE = '1.0.0-test'


def header(root_word, magic=MAGIC, version=0x00020001):
    return struct.pack('>III', magic, version, root_word)


def write(tmp_path, data, name='x.bin'):
    path = str(tmp_path / name)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def open_bytes(data):
    return BinaryIndex.from_bytes(data, 'test.bin')


# -- hand-made files -------------------------------------------------------

def test_empty_index_as_depmod_writes_it(tmp_path):
    path = write(tmp_path, header(12))
    with BinaryIndex(path) as idx:
        assert idx.lookup('') == []
        assert idx.lookup('a') == []
        assert idx.lookup_wildcard('a') == []
        assert list(idx.items()) == []
    assert idx.closed


def test_single_key_by_hand(tmp_path):
    # root at 12: children 'a'..'a' -> leaf at 18 with prefix 'bc' and one value
    leaf = b'bc\0' + struct.pack('>II', 1, 7) + b'val\0'
    root = b'aa' + struct.pack('>I', 18 | FLAG_PREFIX | FLAG_VALUES)
    data = header(12 | FLAG_CHILDREN) + root + leaf
    with BinaryIndex(write(tmp_path, data)) as idx:
        assert idx.lookup('abc') == [(7, 'val')]
        assert idx.lookup('ab') == []
        assert idx.lookup('abcd') == []
        assert idx.lookup_first('abc') == 'val'
        assert 'abc' in idx and 'a' not in idx
        assert list(idx.items()) == [('abc', 7, 'val')]


def test_post_order_file_by_hand():
    # the same index with the leaf first and the root last (kmod <= 33)
    leaf = b'bc\0' + struct.pack('>II', 1, 7) + b'val\0'
    root = b'aa' + struct.pack('>I', 12 | FLAG_PREFIX | FLAG_VALUES)
    data = header((12 + len(leaf)) | FLAG_CHILDREN) + leaf + root
    with open_bytes(data) as idx:
        assert idx.lookup('abc') == [(7, 'val')]
        assert list(idx.items()) == [('abc', 7, 'val')]


def test_prefix_keys_values_and_order():
    entries = [('ab', 'v2', 2), ('a', 'v1', 1), ('abc', 'v3', 3), ('abd', 'v4', 4), ('b', 'x', 0),
               ('a', 'w0', 0), ('a', 'w5', 5)]
    for layout in ('pre', 'post'):
        with open_bytes(build_index(entries, layout)) as idx:
            assert idx.lookup('a') == [(0, 'w0'), (1, 'v1'), (5, 'w5')]
            assert idx.lookup('ab') == [(2, 'v2')]
            assert idx.lookup('abc') == [(3, 'v3')]
            assert idx.lookup('abe') == []
            assert list(idx.keys()) == ['a', 'ab', 'abc', 'abd', 'b']
            assert idx.to_dict()['abd'] == [(4, 'v4')]


def test_byte_0x7f_and_many_values():
    entries = [('k\x7f', 'del', 1), ('k~', 'tilde', 2)] + [('many', 'v%04d' % i, i) for i in range(3000)]
    with open_bytes(build_index(entries)) as idx:
        assert idx.lookup('k\x7f') == [(1, 'del')]
        assert list(idx.keys()) == ['k~', 'k\x7f', 'many']
        values = idx.lookup('many')
        assert len(values) == 3000
        assert values[0] == (0, 'v0000') and values[-1] == (2999, 'v2999')


def test_queries_that_cannot_be_keys():
    with open_bytes(build_index([('a', 'x', 0)])) as idx:
        assert idx.lookup('a\0') == []
        assert idx.lookup('\u20ac') == []
        assert idx.lookup_wildcard('\u20ac') == []


def test_minor_version_is_accepted():
    data = build_index([('a', 'x', 0)])
    data = data[:4] + struct.pack('>I', 0x00020007) + data[8:]
    with open_bytes(data) as idx:
        assert idx.version == 0x00020007
        assert idx.lookup('a') == [(0, 'x')]


# -- errors ----------------------------------------------------------------

@pytest.mark.parametrize('data, words', [
    (b'', 'shorter than its header'),
    (b'\xb0\x07\xf4\x57\0\2\0', 'shorter than its header'),
    (header(12, magic=0xB007FA57), 'magic 0xb007fa57'),
    (header(12, version=0x00010001), 'version 0x00010001'),
    (header(0x1000 | FLAG_VALUES), 'offset outside the file'),
    (header(4 | FLAG_VALUES), 'offset outside the file'),
    (header(12 | FLAG_PREFIX) + b'abc', 'without NUL'),
    (header(12 | FLAG_VALUES) + struct.pack('>I', 1000), '1000 values cannot fit'),
    (header(12 | FLAG_CHILDREN) + b'ba' + b'\0' * 8, 'bad child range 98..97'),
    (header(12 | FLAG_CHILDREN) + b'\x7f\x80' + b'\0' * 8, 'bad child range 127..128'),
    (header(12 | FLAG_CHILDREN) + b'az', 'child offsets past the end'),
    (header(12 | 0x10000000 | FLAG_VALUES) + b'\0' * 4, 'unknown node flags'),
])
def test_corrupt_files_raise_format_error_naming_the_file(tmp_path, data, words):
    path = write(tmp_path, data)
    with pytest.raises(FormatError) as info:
        BinaryIndex(path)
    assert path in str(info.value)
    assert words in str(info.value)
    assert info.value.path == path


def test_bad_child_offsets_are_found_on_use():
    data = header(12 | FLAG_CHILDREN) + b'aa' + struct.pack('>I', 0x0FFFFFF0 | FLAG_VALUES)
    with open_bytes(data) as idx:
        with pytest.raises(FormatError, match='test.bin: corrupt kmod index: offset outside'):
            idx.lookup('a')
        with pytest.raises(FormatError):
            list(idx.items())
        with pytest.raises(FormatError):
            idx.lookup_wildcard('a')


def test_loops_are_reported_not_followed():
    # root's only child, '*', points back at the root itself
    root = b'**' + struct.pack('>I', 12 | FLAG_CHILDREN)
    data = header(12 | FLAG_CHILDREN) + root
    with open_bytes(data) as idx:
        with pytest.raises(FormatError, match='node reached twice'):
            list(idx.items())
        with pytest.raises(FormatError, match='node reached twice'):
            idx.lookup_wildcard('abc')
        # an exact lookup eats one key byte per step, so it just ends
        assert idx.lookup('*' * 50) == []


def test_shared_subtrees_are_reported():
    leaf = struct.pack('>II', 1, 0) + b'v\0'
    root = b'ab' + struct.pack('>II', 22 | FLAG_VALUES, 22 | FLAG_VALUES)
    with open_bytes(header(12 | FLAG_CHILDREN) + root + leaf) as idx:
        with pytest.raises(FormatError, match='node reached twice'):
            list(idx.items())


def test_value_string_without_nul():
    data = header(12 | FLAG_VALUES) + struct.pack('>II', 1, 5) + b'abcd'
    with open_bytes(data) as idx:
        with pytest.raises(FormatError, match='without NUL'):
            idx.lookup('')


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(KmodError) as info:
        BinaryIndex(str(tmp_path / 'nope.bin'))
    assert info.value.errno == 2
    assert 'nope.bin' in str(info.value)
    with pytest.raises(KmodError) as info:
        BinaryIndex(str(tmp_path))
    assert info.value.errno == 21


def test_closed_index_refuses_lookups(tmp_path):
    idx = BinaryIndex(write(tmp_path, build_index([('a', 'x', 0)])))
    idx.close()
    idx.close()
    with pytest.raises(KmodError, match='index is closed'):
        idx.lookup('a')


# -- wildcard lookups ------------------------------------------------------

def test_priority_list_is_libkmods_add_value():
    found = PriorityList()
    for priority, value in [(5, 'a'), (1, 'b'), (5, 'c'), (3, 'd'), (5, 'e'), (0, 'f')]:
        found.add(priority, value)
    assert found.pairs() == [(0, 'f'), (1, 'b'), (3, 'd'), (5, 'e'), (5, 'c'), (5, 'a')]


def test_wildcard_walk_order_and_ties():
    entries = [('a*', 'm1', 5), ('*', 'm2', 5), ('a?', 'm3', 1), ('ab', 'm4', 9), ('a[b-c]', 'm5', 5),
               ('b*', 'no', 0)]
    for layout in ('pre', 'post'):
        with open_bytes(build_index(entries, layout)) as idx:
            # root '*' subtree first, then at 'a': '*', '?', '[' subtrees, then the literal key
            assert idx.lookup_wildcard('ab') == [(1, 'm3'), (5, 'm5'), (5, 'm1'), (5, 'm2'), (9, 'm4')]
            assert idx.lookup_wildcard('ad') == [(1, 'm3'), (5, 'm1'), (5, 'm2')]
            assert idx.lookup_wildcard('') == [(5, 'm2')]


def test_wildcard_in_stored_prefix():
    # 'x*y' and 'x*z' share the stored prefix 'x*': the walk turns to fnmatch there
    entries = [('x*y', 'a', 1), ('x*z', 'b', 2), ('xq', 'c', 3)]
    with open_bytes(build_index(entries)) as idx:
        assert idx.lookup_wildcard('x123y') == [(1, 'a')]
        assert idx.lookup_wildcard('xz') == [(2, 'b')]
        assert idx.lookup_wildcard('xq') == [(3, 'c')]
        assert idx.lookup_wildcard('x') == []


def test_wildcard_uses_glibc_fnmatch_not_pythons():
    entries = [('m[^a]', 'caret', 1), ('n[!a]', 'bang', 2), ('p\\*', 'escaped', 3), ('c[[:digit:]]', 'cls', 4)]
    with open_bytes(build_index(entries)) as idx:
        assert idx.lookup_wildcard('mb') == [(1, 'caret')]
        assert idx.lookup_wildcard('ma') == []
        assert idx.lookup_wildcard('m^') == [(1, 'caret')]
        assert idx.lookup_wildcard('nb') == [(2, 'bang')]
        assert idx.lookup_wildcard('c7') == [(4, 'cls')]
        assert idx.lookup_wildcard('cx') == []
        # the literal descent compares the backslash itself, as libkmod does
        assert idx.lookup_wildcard('p\\*') == [(3, 'escaped')]
        assert idx.lookup_wildcard('p*') == []


def test_query_with_wildcard_characters_finds_a_key_twice():
    # libkmod searches the '*' child's subtree and then also descends into it
    # literally; with 'a*' alone, '*' is in a stored prefix and counts once
    with open_bytes(build_index([('a*', 'm', 1), ('ab', 'n', 2)])) as idx:
        assert idx.lookup_wildcard('a*') == [(1, 'm'), (1, 'm')]
        assert idx.lookup('a*') == [(1, 'm')]
    with open_bytes(build_index([('a*', 'm', 1)])) as idx:
        assert idx.lookup_wildcard('a*') == [(1, 'm')]


# -- the real depmod's files -----------------------------------------------

@pytest.fixture(scope='module')
def depmod_tree(tmp_path_factory):
    base = tmp_path_factory.mktemp('depmod')
    modules = {
        'kernel/drivers/net/foo-eth.ko': dict(
            modinfo=['alias=pci:v00001234d*sv*sd*bc*sc*i*', 'alias=net-pf-99', 'license=GPL'],
            exports=['foo_send']),
        'kernel/drivers/net/bar.ko': dict(modinfo=['alias=pci:v00001234d00000001sv*sd*bc*sc*i*',
                                                   'alias=usb:v1D6Bp000[1-3]d*', 'license=GPL'],
                                          needs=['foo_send'], exports=['bar_recv']),
        'kernel/drivers/usb/baz.ko': dict(modinfo=['alias=usb:v1D6Bp0002d*', 'alias=usb:v*p*d*ic09*',
                                                   'softdep=pre: bar', 'license=GPL'], needs=['bar_recv']),
        'kernel/fs/qux.ko': dict(modinfo=['alias=fs-qux', 'alias=devname:qux', 'alias=char-major-10-200',
                                          'license=GPL']),
    }
    order = ['kernel/fs/qux.ko', 'kernel/drivers/usb/baz.ko', 'kernel/drivers/net/bar.ko']
    module_dir = build_tree(base, RELEASE, modules, order=order, builtin=['kernel/lib/crc-x.ko', 'kernel/fs/ext9.ko'])
    return base, module_dir


def test_reads_real_depmod_indexes(depmod_tree):
    _base, module_dir = depmod_tree
    with BinaryIndex(os.path.join(module_dir, 'modules.dep.bin')) as idx:
        assert idx.to_dict() == {
            'qux': [(0, 'kernel/fs/qux.ko:')],
            'baz': [(1, 'kernel/drivers/usb/baz.ko: kernel/drivers/net/bar.ko kernel/drivers/net/foo-eth.ko')],
            'bar': [(2, 'kernel/drivers/net/bar.ko: kernel/drivers/net/foo-eth.ko')],
            'foo_eth': [(3, 'kernel/drivers/net/foo-eth.ko:')],
        }
    with BinaryIndex(os.path.join(module_dir, 'modules.symbols.bin')) as idx:
        assert list(idx.items()) == [('symbol:bar_recv', 2, 'bar'), ('symbol:foo_send', 3, 'foo_eth')]
    with BinaryIndex(os.path.join(module_dir, 'modules.builtin.bin')) as idx:
        assert list(idx.items()) == [('crc_x', 0, ''), ('ext9', 0, '')]
    with BinaryIndex(os.path.join(module_dir, 'modules.alias.bin')) as idx:
        assert idx.lookup('net_pf_99') == [(3, 'foo_eth')]
        assert idx.lookup('char_major_10_200') == [(0, 'qux')]
        assert len(list(idx.items())) == 9


@pytest.mark.parametrize('query', [
    'pci:v00001234d00000001sv00000000sd00000000bc02sc00i00',
    'pci:v00001234d00000002sv00000000sd00000000bc02sc00i00',
    'usb:v1D6Bp0002d0100dc09dsc00dp00ic09isc00ip00in00',
    'usb:v1D6Bp0003d0100',
    'usb:v1D6Bp0004d0100ic09',
    'usb:v0000p0000d0000ic09',
    'fs_qux',
    'net_pf_99',
    'nothing:here',
])
def test_wildcard_lookup_equals_modprobe(depmod_tree, query):
    base, module_dir = depmod_tree
    with BinaryIndex(os.path.join(module_dir, 'modules.alias.bin')) as idx:
        ours = [value for _priority, value in idx.lookup_wildcard(query)]
    assert ours == modprobe_resolve(base, RELEASE, query)
