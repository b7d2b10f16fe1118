# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod_elf's fast reader against elf.ModuleImage on every module of Debian's tree.

Every file must be answered by the fast path alone (no hand-over to the full
reader) with the same compact parse result, modinfo compared as records.
"""

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.depmod import fast_elf as depmod_elf
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.model import compact, expand
from ansible_collections.kernel.kmod.plugins.module_utils.image.compression import read_module_file
from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import parse_module

pytestmark = pytest.mark.conformance


def _normal(result):
    return (expand(result)[0],) + tuple(result[1:])


def test_fast_reader_equals_full_reader_on_every_module(debian_tree):
    files = debian_tree.ko_files()
    assert len(files) > 4000
    differ = []
    for path in files:
        data, compression = read_module_file(path)
        image = parse_module(data, path, compression)
        for want_versions in (True, False):
            full = compact(image.modinfo, image.exports(), image.needs(), image.versions(),
                           keep_versions=want_versions)
            if _normal(depmod_elf._fast(data, want_versions)) != _normal(full):
                differ.append((path, want_versions))
    assert differ == []
