# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""index.format: the numbers agree with the files the host's real depmod
writes, and the flag bits and the offset mask never overlap."""

import os
import struct

from ansible_collections.kernel.kmod.plugins.module_utils.index.format import (
    FLAG_CHILDREN, FLAG_PREFIX, FLAG_VALUES, FLAGS_KNOWN, HEADER_SIZE, MAGIC, OFFSET_MASK, VERSION)
from tests.lib.depmod_tree import build_tree


def test_flag_bits_are_distinct_and_above_the_offset():
    flags = (FLAG_PREFIX, FLAG_VALUES, FLAG_CHILDREN)
    assert all(bin(f).count('1') == 1 for f in flags)
    assert FLAGS_KNOWN == FLAG_PREFIX | FLAG_VALUES | FLAG_CHILDREN
    assert FLAGS_KNOWN & OFFSET_MASK == 0
    # the one bit left between them is one kmod never sets
    assert (FLAGS_KNOWN | OFFSET_MASK) ^ 0xFFFFFFFF == 0x10000000


def test_header_of_the_real_depmods_files(tmp_path):
    module_dir = build_tree(tmp_path, '1.0', {'kernel/a.ko': {'modinfo': ['alias=pci:v1*'], 'exports': ['a_fn']}})
    for name in ('modules.dep.bin', 'modules.alias.bin', 'modules.symbols.bin'):
        with open(os.path.join(module_dir, name), 'rb') as f:
            data = f.read()
        magic, version, root = struct.unpack('>III', data[:HEADER_SIZE])
        assert (magic, version) == (MAGIC, VERSION), name
        assert HEADER_SIZE <= root & OFFSET_MASK < len(data), name
        assert root & ~(FLAGS_KNOWN | OFFSET_MASK) == 0, name
