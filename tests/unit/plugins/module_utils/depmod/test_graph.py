# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod_graph on hand-built records: owners, dependency order, cycles,
kernel symbol lists.  The cycle messages are the ones kmod 30's depmod
printed for the same graphs (see the conformance tests)."""

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.graph import (
    build_symbol_table, read_module_symvers, read_system_map, resolve_dependencies)
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.model import ModuleRecord
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError


def record(name, order, exports=(), needs=(), weak=(), versions=(), crcs=None):
    r = ModuleRecord(name, '/m/kernel/%s.ko' % name, 'kernel/%s.ko' % name, order=order)
    r.modinfo = []
    r.exports = [(s, (crcs or {}).get(s)) for s in exports]
    r.needs = [(s, False) for s in needs] + [(s, True) for s in weak]
    r.versions = list(versions)
    return r


def tree(*specs):
    """specs: (name, exports, needs) in module order."""
    return [record(name, i, exports, needs) for i, (name, exports, needs) in enumerate(specs)]


def deps(result):
    return {r.name: [d.name for d in r.deps] for r in result.records}


def test_chain_lists_every_level_users_first():
    recs = tree(('top', [], ['fmid']), ('mid', ['fmid'], ['fbase']), ('base', ['fbase'], []))
    result = resolve_dependencies(recs)
    assert result.ok
    assert deps(result) == {'top': ['mid', 'base'], 'mid': ['base'], 'base': []}


def test_diamond_lists_shared_dependency_once_after_both_users():
    recs = tree(('app', [], ['fl', 'fr']), ('left', ['fl'], ['fb']), ('right', ['fr'], ['fb']),
                ('bottom', ['fb'], []))
    result = resolve_dependencies(recs)
    # left and right become free together; the one pushed last (right) goes first
    assert deps(result)['app'] == ['right', 'left', 'bottom']


def test_order_is_kahn_with_a_stack_not_alphabetical():
    # roots a, b (no users) pushed in module order; b is popped first, so
    # b's dependency z is placed before a's dependency y.
    recs = tree(('a', [], ['fy']), ('b', [], ['fz', 'fy']), ('y', ['fy'], []), ('z', ['fz'], []))
    result = resolve_dependencies(recs)
    positions = sorted(result.records, key=lambda r: result.sort_index[id(r)])
    assert [r.name for r in positions] == ['b', 'z', 'a', 'y']
    assert deps(result)['b'] == ['z', 'y']


def test_later_exporter_owns_a_duplicate_symbol():
    recs = tree(('user', [], ['dup']), ('first', ['dup'], []), ('second', ['dup'], []))
    result = resolve_dependencies(recs)
    assert result.owners['dup'] is recs[2]
    assert deps(result)['user'] == ['second']


def test_records_are_taken_in_their_order_field():
    recs = tree(('user', [], ['dup']), ('first', ['dup'], []), ('second', ['dup'], []))
    recs[1].order, recs[2].order = 2, 1
    result = resolve_dependencies(list(reversed(recs)))
    assert [r.name for r in result.records] == ['user', 'second', 'first']
    assert result.owners['dup'].name == 'first'


def test_weak_need_makes_a_dependency_but_is_never_unresolved():
    recs = [record('a', 0, weak=['fb', 'nowhere']), record('b', 1, exports=['fb'])]
    result = resolve_dependencies(recs, kernel_symbols=[])
    assert deps(result)['a'] == ['b']
    assert result.unresolved == []


def test_versions_entries_no_undefined_symbol_claims_are_needs():
    recs = [record('a', 0, needs=['fb'], versions=[('fb', 5), ('fc', 6)]),
            record('b', 1, exports=['fb']), record('c', 2, exports=['fc'])]
    result = resolve_dependencies(recs)
    assert deps(result)['a'] == ['c', 'b']
    assert resolve_dependencies(recs[:1] + recs[2:]).records[0].deps == [recs[2]]


def test_ppc64_dot_names_resolve_to_the_plain_symbol():
    recs = [record('a', 0, needs=['.fb']), record('b', 1, exports=['fb'])]
    assert deps(resolve_dependencies(recs))['a'] == ['b']


def test_symbol_prefix_is_stripped_from_exports_and_needs():
    recs = [record('a', 0, needs=['_fb']), record('b', 1, exports=['_fb'])]
    result = resolve_dependencies(recs, symbol_prefix='_')
    assert deps(result)['a'] == ['b']
    assert list(result.owners) == ['fb']


def test_unresolved_and_kernel_symbols():
    recs = [record('a', 0, needs=['printk', 'missing', '__this_module', 'fb'], weak=['gone']),
            record('b', 1, exports=['fb', 'printk'])]
    result = resolve_dependencies(recs, kernel_symbols=[('printk', 7), ('kmalloc', 8)])
    assert [(r.name, s) for r, s in result.unresolved] == [('a', 'missing')]
    assert result.messages == ['/m/kernel/a.ko needs unknown symbol missing']
    # a module's export takes over the kernel's
    assert result.owners['printk'] is recs[1]
    assert result.owners['kmalloc'] is None
    assert deps(result)['a'] == ['b']


def test_unresolved_not_collected_without_kernel_symbols():
    result = resolve_dependencies([record('a', 0, needs=['printk'])])
    assert result.unresolved == [] and result.messages == []


def test_check_versions_compares_crcs():
    a = record('a', 0, needs=['fb', 'printk', 'fw'], versions=[('fb', 1), ('printk', 9), ('fw', 3)])
    a.needs[2] = ('fw', True)
    b = record('b', 1, exports=['fb', 'fw'], crcs={'fb': 2, 'fw': 4})
    result = resolve_dependencies([a, b], kernel_symbols=[('printk', 9)], check_versions=True)
    assert [(r.name, s) for r, s in result.bad_versions] == [('a', 'fb')]
    assert result.messages == ['/m/kernel/a.ko disagrees about version of symbol fb']


def test_fake_kernel_symbols_only_with_a_symbol_list():
    owners, _crcs = build_symbol_table([], kernel_symbols=[])
    assert sorted(owners) == ['TOC.', '_GLOBAL_OFFSET_TABLE_', '__this_module']
    assert build_symbol_table([])[0] == {}


def cycle_messages(*specs):
    result = resolve_dependencies(tree(*specs))
    assert all(r.deps is None for r in result.records)
    return result.messages


def test_simple_cycle_is_reported_as_depmod_does():
    assert cycle_messages(('a', ['fa'], ['fb']), ('b', ['fb'], ['fa']), ('x', [], ['fa'])) == [
        'Cycle detected: a -> b -> a', 'Found 2 modules in dependency cycles!']


def test_two_cycles():
    assert cycle_messages(('a', ['fa'], ['fb']), ('b', ['fb'], ['fa']), ('c', ['fc'], ['fd']),
                          ('d', ['fd'], ['fe']), ('e', ['fe'], ['fc'])) == [
        'Cycle detected: a -> b -> a', 'Cycle detected: c -> d -> e -> c',
        'Found 5 modules in dependency cycles!']


def test_cycles_sharing_a_module():
    assert cycle_messages(('a', ['fa'], ['fb', 'fz']), ('b', ['fb'], ['fa', 'fc']), ('c', ['fc'], ['fa']),
                          ('z', ['fz'], [])) == [
        'Cycle detected: a -> b -> c -> a', 'Cycle detected: a -> b -> a',
        'Found 3 modules in dependency cycles!']
    assert cycle_messages(('a', ['fa'], ['fb', 'fc']), ('b', ['fb'], ['fa']), ('c', ['fc'], ['fa'])) == [
        'Cycle detected: a -> c -> a', 'Cycle detected: a -> b -> a', 'Found 3 modules in dependency cycles!']


def test_module_below_a_cycle_is_reported_alone_like_depmod():
    assert cycle_messages(('a', ['fa'], ['fb']), ('b', ['fb'], ['fa', 'fc']), ('c', ['fc'], ['fd']),
                          ('d', ['fd'], [])) == [
        'Cycle detected: a -> b -> a', 'Cycle detected: c', 'Found 2 modules in dependency cycles!']


def test_module_needing_its_own_export_is_a_cycle():
    result = resolve_dependencies(tree(('s', ['foo'], ['foo'])))
    assert result.cycles == [['s', 's']]
    assert result.messages == ['Cycle detected: s -> s', 'Found 1 modules in dependency cycles!']


def test_cycle_not_through_the_root_ends():
    # kmod 30 loops forever on this graph; this reports both cycles
    result = resolve_dependencies(tree(('a', ['fa'], ['fb']), ('b', ['fb'], ['fa', 'fc']),
                                       ('c', ['fc'], ['fd']), ('d', ['fd'], ['fc']), ('e', [], ['fa'])))
    # the walk from a meets c -> d -> c before coming back to a
    assert result.cycles == [['c', 'd', 'c'], ['a', 'b', 'a']]
    assert result.cycle_modules == 4


def test_read_module_symvers(tmp_path):
    path = tmp_path / 'Module.symvers'
    path.write_text('0x1234abcd\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n'
                    '0x00000001\tfoo\tdrivers/foo\tEXPORT_SYMBOL_GPL\n'
                    'zz\tbad\tvmlinux\tEXPORT_SYMBOL\n'
                    '0x5 short vmlinux\n'
                    '0x6 spaced vmlinux EXPORT_SYMBOL\n'
                    'two fields\n')
    symbols, warnings = read_module_symvers(str(path))
    # a line ending right after 'vmlinux' has 'vmlinux\n' as third field: skipped, as by kmod
    assert symbols == [('printk', 0x1234abcd), ('spaced', 6)]
    assert warnings == ['%s:3 Invalid symbol version zz' % path]


def test_read_system_map(tmp_path):
    path = tmp_path / 'System.map'
    path.write_text('ffffffff81000000 T _text\n'
                    'ffffffff82000000 r __ksymtab_printk\n'
                    'ffffffff82000010 r __ksymtab_gpl_only\n'
                    'garbage\n'
                    'ffffffff82000020 r __ksymtab_last')
    symbols, warnings = read_system_map(str(path))
    assert symbols == [('printk', 0), ('gpl_only', 0), ('last', 0)]
    assert warnings == ['%s:4: invalid line: garbage' % path]


def test_unreadable_symbol_list_is_a_kmod_error(tmp_path):
    with pytest.raises(KmodError) as info:
        read_system_map(str(tmp_path / 'absent'))
    assert 'absent' in str(info.value.msg)
