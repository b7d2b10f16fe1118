# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ModuleRecord: lists built on demand from the compact parse result, accessors."""

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.model import ModuleRecord, compact, valid_compact

MODINFO = [('alias', 'x'), ('alias', ''), ('foo', 'alias=y'), ('xalias', 'q'), ('alias', 'a=b'), ('softdep', 'pre: m')]
EXPORTS = [('e1', 5), ('e2', None)]
NEEDS = [('n1', False), ('.n2', True), ('n3', False)]
VERSIONS = [('n1', 1), ('module_layout', 2)]


def parsed():
    r = ModuleRecord('m', '/m.ko', 'm.ko')
    r.set_parsed(compact(MODINFO, EXPORTS, NEEDS, VERSIONS))
    return r


def listed():
    r = ModuleRecord('m', '/m.ko', 'm.ko')
    r.modinfo, r.exports, r.needs, r.versions = list(MODINFO), list(EXPORTS), list(NEEDS), list(VERSIONS)
    return r


def test_lists_from_compact_result():
    r = parsed()
    assert r.modinfo == MODINFO
    assert r.exports == EXPORTS
    assert r.needs == NEEDS
    assert r.versions == VERSIONS


@pytest.mark.parametrize('make', [parsed, listed])
def test_accessors(make):
    r = make()
    assert r.modinfo_values('alias') == ['x', '', 'a=b']
    assert r.modinfo_values('softdep') == ['pre: m']
    assert r.modinfo_values('foo') == ['alias=y']
    assert r.modinfo_values('none') == []
    assert r.modinfo_values('alias', 'a=') == ['a=b']
    assert r.modinfo_values('foo', 'alias') == ['alias=y']
    assert r.modinfo_values('alias', 'q') == []
    assert r.export_lists() == (['e1', 'e2'], [5, None])
    assert r.need_lists() == (['n1', '.n2', 'n3'], {'.n2'}, True)
    assert r.version_lists() == (['n1', 'module_layout'], [1, 2], False)
    # the compact result leaves out the __versions names the needs hold (same owners)
    expected = ['n1', '.n2', 'n3', 'module_layout'] if make is parsed else ['n1', '.n2', 'n3', 'n1', 'module_layout']
    assert r.dependency_symbols() == (expected, True)


def test_setting_one_field_keeps_the_others():
    r = parsed()
    r.needs = [('z', False)]
    assert r.needs == [('z', False)]
    assert r.modinfo == MODINFO and r.exports == EXPORTS and r.versions == VERSIONS
    assert r.need_lists() == (['z'], set(), False)


def test_unparsed_record_is_empty():
    r = ModuleRecord('m', '/m.ko', 'm.ko')
    assert r.modinfo is None and r.needs is None
    assert r.modinfo_values('alias') == []
    assert r.export_lists() == ([], [])
    assert r.need_lists() == ([], set(), False)


_text = st.text(alphabet='ab=\x01 .', max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(['alias', 'a', 'aliasx', 'xalias', '']), _text), max_size=8),
       st.sampled_from(['alias', 'a', 'x']), st.sampled_from(['', 'a', 'b=', '.']))
def test_modinfo_values_search_equals_the_list(records, key, prefix):
    records = [(k, v) for k, v in records if k or v]  # an empty record is not kept by the reader
    r = ModuleRecord('m', '/m.ko', 'm.ko')
    r.set_parsed(compact(records, [], [], []))
    expected = [v for k, v in r.modinfo if k == key and v.startswith(prefix)]
    assert r.modinfo_values(key, prefix) == expected


# -- valid_compact: what a cache may give back ---------------------------------

NAME = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8)
VALUE = st.text(st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters='\0'), max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(['alias', 'softdep', 'license', 'parm']), VALUE), max_size=4),
       st.lists(st.tuples(NAME, st.one_of(st.none(), st.integers(0, 2 ** 64 - 1))), max_size=4),
       st.lists(st.tuples(NAME, st.booleans()), max_size=4),
       st.lists(st.tuples(NAME, st.integers(0, 2 ** 64 - 1)), max_size=4),
       st.sampled_from([0, 1, 2, 3]), st.sampled_from('\x00\x01\n\t\x1b\x7f'))
def test_compact_results_are_valid_and_a_control_character_where_it_would_reach_an_index_is_not(
        modinfo, exports, needs, versions, where, control):
    result = list(compact(modinfo, exports, needs, versions))
    assert valid_compact(result)
    assert valid_compact(result + [[0] * len(exports)])
    if where == 0 and modinfo and modinfo[0][0] in ('alias', 'softdep') and control != '\x00':
        result[0] = result[0].replace('=', '=' + control, 1)
        assert not valid_compact(result)
    elif where == 1 and exports:
        result[1] = result[1] + control + 'x'
        assert not valid_compact(result)     # a newline adds a name without a CRC
    elif where == 2:
        result[2] = result[2] + [None]
        assert not valid_compact(result)
    elif where == 3 and versions:
        result[6] = [-1] + result[6][1:]
        assert not valid_compact(result)


@pytest.mark.parametrize('bad', [None, (), 'x', [''] * 8, ['', '', [], '', '', '', [], 1],
                                 ['', 'a', [True], '', '', '', [], ''], ['', '', [], '', '', '', [], '', [5]]])
def test_shapes_compact_never_makes_are_invalid(bad):
    assert not valid_compact(bad)


def test_tab_and_newline_in_a_description_are_kept():
    assert valid_compact(compact([('description', 'two\nlines\tand a tab'), ('alias', 'x')], [], [], []))
