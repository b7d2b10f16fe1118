# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""index.bulk: the same bytes as IndexBuilder on random entries, in both
layouts, and the same refusals of what kmod cannot store."""

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.index.bulk import build_index_bytes
from ansible_collections.kernel.kmod.plugins.module_utils.index.writer import IndexBuilder


entry_lists = st.lists(st.tuples(st.text('ab_-:*[]', max_size=6), st.sampled_from(['m1', 'm2', '', 'long_value']),
                                 st.integers(0, 3)), max_size=25)


@settings(max_examples=300, deadline=None)
@given(entry_lists, st.sampled_from(['pre', 'post']))
def test_bulk_index_equals_index_builder(entries, layout):
    assert build_index_bytes(entries, layout) == IndexBuilder().add_all(entries).to_bytes(layout)


@pytest.mark.parametrize('entries, message', [
    ([('a\0', 'x', 0)], 'NUL'), ([('a', 'x', 0), ('a', 'y\0', 1)], 'NUL'), ([('\xe9', 'x', 0)], 'ASCII'),
    ([('a', 'x', -1)], 'out of range'), ([('a', 'x', 1 << 32)], 'out of range'), ([('a', None, 0)], 'ASCII')])
def test_bulk_index_refuses_what_kmod_cannot_store(entries, message):
    with pytest.raises(KmodError) as info:
        build_index_bytes(entries)
    assert message in info.value.msg


# every 7-bit character but NUL: child ranges from 1 to 127, wide gaps between children
wide_entry_lists = st.lists(st.tuples(st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=8),
                                      st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=40),
                                      st.integers(0, 0xFFFFFFFF)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(wide_entry_lists)
def test_pre_order_written_backwards_equals_index_builder_on_any_7bit_keys(entries):
    """The pre-order file comes from a descending walk whose child offsets are
    corrected once the file's length is known: the same bytes as the
    builder's top-down layout, whatever the characters and priorities."""
    assert build_index_bytes(entries, 'pre') == IndexBuilder().add_all(entries).to_bytes('pre')


@pytest.mark.parametrize('keys', [[''], ['', 'a'], ['a', 'ab', 'abc', 'abd'], ['\x01', '\x7f'],
                                  ['x\x01', 'x\x7f', 'x'], ['ab', 'a\x7f', 'a\x01b']])
def test_pre_order_edge_shapes(keys):
    entries = [(key, 'v%d' % i, i) for i, key in enumerate(keys)]
    for layout in ('pre', 'post'):
        assert build_index_bytes(entries, layout) == IndexBuilder().add_all(entries).to_bytes(layout)
