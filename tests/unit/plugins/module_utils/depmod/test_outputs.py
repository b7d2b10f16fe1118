# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod.outputs on hand-built input."""

import random

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.graph import resolve_dependencies
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.model import ModuleRecord
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.outputs import (
    LARGE_FILES, builtin_alias_entries, builtin_entries, large_index_bytes, output_names, render_aliases,
    render_devname, render_outputs, symbol_entries_unordered)
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.index.binary import BinaryIndex


def record(name, order, modinfo=(), exports=(), needs=()):
    r = ModuleRecord(name, '/m/%s.ko' % name, 'kernel/%s.ko' % name, order=order)
    r.modinfo = [tuple(x.split('=', 1)) for x in modinfo]
    r.exports = [(s, None) for s in exports]
    r.needs = [(s, False) for s in needs]
    r.versions = []
    return r


def render(records, **kwargs):
    kwargs.setdefault('builtin', b'kernel/fs/ext4.ko\n')
    kwargs.setdefault('builtin_modinfo', b'ext4.alias=fs-ext4\0')
    return render_outputs(resolve_dependencies(records), **kwargs)


def test_text_files_exactly():
    records = [record('app', 0, ['alias=pci:v*d-1*', 'softdep=pre: lib', 'alias=bad]x'], needs=['lib_fn']),
               record('lib', 1, ['alias=char-major-4-*', 'weakdep=app'], exports=['lib_fn', 'other'])]
    files, warnings = render(records)
    assert list(files) == output_names()
    assert files['modules.dep'] == b'kernel/app.ko: kernel/lib.ko\nkernel/lib.ko:\n'
    assert files['modules.alias'] == (b'# Aliases extracted from modules themselves.\n'
                                      b'alias pci:v*d-1* app\nalias bad]x app\nalias char-major-4-* lib\n')
    assert files['modules.softdep'] == (b'# Soft dependencies extracted from modules themselves.\n'
                                        b'softdep app pre: lib\n')
    assert files['modules.symbols'].startswith(b'# Aliases for symbols, used by symbol_request().\n')
    assert sorted(files['modules.symbols'].splitlines()[1:]) == [b'alias symbol:lib_fn lib',
                                                                 b'alias symbol:other lib']
    assert files['modules.devname'] == b''
    assert warnings == ['Unmatched bracket in bad]x']


def test_bin_files_hold_normalised_keys_and_module_priorities():
    records = [record('app', 0, ['alias=pci:v*d-1*', 'alias=x-[a-b]-y'], needs=['lib_fn']),
               record('lib', 1, ['alias=pci:v*d-1*'], exports=['lib_fn'])]
    files, _w = render(records)
    with BinaryIndex.from_bytes(files['modules.alias.bin']) as idx:
        assert list(idx.items()) == [('pci:v*d_1*', 0, 'app'), ('pci:v*d_1*', 1, 'lib'), ('x_[a-b]_y', 0, 'app')]
    with BinaryIndex.from_bytes(files['modules.dep.bin']) as idx:
        assert list(idx.items()) == [('app', 0, 'kernel/app.ko: kernel/lib.ko'), ('lib', 1, 'kernel/lib.ko:')]
    with BinaryIndex.from_bytes(files['modules.symbols.bin']) as idx:
        assert list(idx.items()) == [('symbol:lib_fn', 1, 'lib')]
    with BinaryIndex.from_bytes(files['modules.builtin.bin']) as idx:
        assert list(idx.items()) == [('ext4', 0, '')]
    with BinaryIndex.from_bytes(files['modules.builtin.alias.bin']) as idx:
        assert list(idx.items()) == [('fs_ext4', 0, 'ext4')]


def test_layouts_and_weakdep_option():
    records = [record('a', 0, ['weakdep=b c', 'alias=x']), record('b', 1)]
    post, _w = render(records)
    pre, _w = render(records, layout='pre', weakdep=True)
    assert pre['modules.weakdep'] == b'# Weak dependencies extracted from modules themselves.\nweakdep a b c\n'
    assert 'modules.weakdep' not in post
    assert pre['modules.alias.bin'] != post['modules.alias.bin']
    assert pre['modules.alias'] == post['modules.alias']


def test_missing_builtin_inputs_give_empty_indexes_and_warnings(tmp_path):
    files, warnings = render_outputs(resolve_dependencies([]), str(tmp_path))
    assert files['modules.builtin.bin'] == b'' and files['modules.builtin.alias.bin'] == b''
    assert files['modules.dep'] == b'' and files['modules.alias'].startswith(b'# Aliases')
    assert warnings == ['could not open modules.builtin at %s: No such file or directory' % tmp_path,
                        'could not open modules.builtin.modinfo at %s: No such file or directory' % tmp_path]


def test_cycle_refuses_to_render():
    graph = resolve_dependencies([record('a', 0, exports=['x'], needs=['x'])])
    with pytest.raises(KmodError) as info:
        render_outputs(graph, builtin=None, builtin_modinfo=None)
    assert 'a -> a' in info.value.msg


def test_devname_rules():
    records = [record('c', 0, ['alias=devname:cdev', 'alias=char-major-10-200']),
               # the last major before both are known wins; later ones are not read
               record('late', 1, ['alias=char-major-5-1', 'alias=block-major-7-3', 'alias=devname:l0',
                                  'alias=char-major-9-9']),
               record('wild', 2, ['alias=block-major-8-*', 'alias=devname:w']),
               record('odd', 3, ['alias=char-major- +4-  -1junk', 'alias=devname:o']),
               record('none', 4, ['alias=devname:n'])]
    warnings = []
    assert render_devname(records, warnings) == (
        '# Device nodes to trigger on-demand module loading.\n'
        'c cdev c10:200\nlate l0 b7:3\nodd o c4:4294967295\n')
    assert warnings == ["Module 'wild' has devname (w) but lacks major and minor information. Ignoring.",
                        "Module 'none' has devname (n) but lacks major and minor information. Ignoring."]


def test_builtin_lines_like_kmod():
    warnings = []
    data = b'kernel/fs/ext4.ko\n/abs.ko\n\nkernel/a-b.ko.xz\nkernel/noext\nkernel/nul\0.ko\n' + b'x' * 5000
    assert builtin_entries(data, warnings) == [
        ('ext4', '', 0), ('a_b', '', 0), ('noext\n', '', 0), ('nul', '', 0), ('x' * 4095, '', 0),
        ('x' * 905, '', 0)]
    assert warnings == ['Invalid modules.builtin line: /abs.ko', 'Invalid modules.builtin line: ']


def test_builtin_modinfo_records_like_kmod():
    warnings = []
    data = (b'ext4.alias=fs-ext4\0ext4.license=GPL\0bad.alias=x]y\0noequals.alias\0swallowed.alias=gone\0'
            b'after.alias=a-[b-c]\0.alias=nomod\0m.alias=\0tail.alias=no-nul')
    assert builtin_alias_entries(data, warnings) == [('fs_ext4', 'ext4', 0), ('a_[b-c]', 'after', 0)]
    assert warnings == ['Unmatched bracket in x]y']


def test_builtin_modinfo_overlong_field_is_cut():
    warnings = []
    entries = builtin_alias_entries(b'm.alias=' + b'a' * 4096 + b'\0', warnings)
    assert entries == [('a' * 4095, 'm', 0)]
    assert len(warnings) == 1 and warnings[0].startswith('Could not flush stream: 28.')


# Ten consecutive lines of Debian's modules.symbols written by kmod 30: the
# iteration order of its symbol table
def _many_records():
    records = [record('m%02d' % i, i, ['alias=pci:v%04xd*' % i, 'alias=usb:v1d-%d*' % (i % 3), 'alias=dup',
                                       'softdep=pre: m%02d' % ((i + 1) % 20)],
                      exports=['sym_%d' % i, 'shared'], needs=['sym_%d' % (i + 1)] if i < 19 else [])
               for i in range(20)]
    return records


def render_large_indexes(graph, layout='post', alias_entries=None):
    """What depmod's child builds: the two largest tries from their entries."""
    if alias_entries is None:
        alias_entries = render_aliases(graph.records, [])[1]
    return large_index_bytes(alias_entries, symbol_entries_unordered(graph.records, graph.owners), layout)


@pytest.mark.parametrize('layout', ['post', 'pre'])
def test_prebuilt_large_indexes_give_the_same_files(layout):
    graph = resolve_dependencies(_many_records())
    plain, plain_warnings = render_outputs(graph, builtin=b'', builtin_modinfo=b'', layout=layout)
    large = render_large_indexes(graph, layout)
    assert sorted(large) == sorted(LARGE_FILES)
    for prebuilt in (large, lambda: large):
        files, warnings = render_outputs(graph, builtin=b'', builtin_modinfo=b'', layout=layout, prebuilt=prebuilt)
        assert files == plain
        assert list(files) == list(plain) == output_names()
        assert warnings == plain_warnings


@pytest.mark.parametrize('layout', ['post', 'pre'])
def test_aliases_rendered_before_give_the_same_files(layout):
    records = _many_records()
    records[3].modinfo.append(('alias', 'bad[bracket'))
    graph = resolve_dependencies(records)
    plain, plain_warnings = render_outputs(graph, builtin=b'', builtin_modinfo=b'', layout=layout)
    alias_warnings = []
    text, entries = render_aliases(graph.records, alias_warnings)
    assert alias_warnings == ['Unmatched bracket in bad[bracket']
    large = render_large_indexes(graph, layout, alias_entries=entries)
    files, warnings = render_outputs(graph, builtin=b'', builtin_modinfo=b'', layout=layout, prebuilt=large,
                                     aliases=(text, entries, alias_warnings))
    assert files == plain
    assert warnings == plain_warnings


@pytest.mark.parametrize('prebuilt', [False, True])
def test_entries_are_what_each_bin_file_holds(prebuilt):
    graph = resolve_dependencies(_many_records())
    entries = {}
    large = render_large_indexes(graph) if prebuilt else None
    files, _w = render_outputs(graph, builtin=b'kernel/a.ko\nkernel/b-c.ko\n', builtin_modinfo=b'a.alias=x-y\0',
                               prebuilt=large, entries=entries)
    assert sorted(entries) == ['modules.alias.bin', 'modules.builtin.alias.bin', 'modules.builtin.bin',
                               'modules.dep.bin', 'modules.symbols.bin']
    for name, kept in entries.items():
        with BinaryIndex.from_bytes(files[name]) as idx:
            assert sorted((k, p, v) for k, p, v in idx.items()) == sorted((k, p, v) for k, v, p in kept)
    assert len(entries['modules.symbols.bin']) == 21


def test_symbol_order_from_parse_hashes_equals_hashing_here():
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.model import compact
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.parse import with_export_hashes
    rng = random.Random(7)
    names = ['sym_%d_%s' % (i, 'x' * rng.randrange(0, 9)) for i in range(400)]

    def make(with_hashes):
        out = []
        for m in range(8):
            exports = [(n, None) for n in names[m * 50:(m + 1) * 50]] + [('shared', None)]
            r = ModuleRecord('m%d' % m, '/m%d.ko' % m, 'm%d.ko' % m, order=m)
            result = compact([], exports, [], [])
            r.set_parsed(with_export_hashes(result) if with_hashes else result)
            out.append(r)
        return out
    with_hashes, plain = make(True), make(False)
    assert with_hashes[0].export_hashes() is not None and plain[0].export_hashes() is None
    texts = []
    for records in (with_hashes, plain):
        graph = resolve_dependencies(records)
        files, _w = render_outputs(graph, builtin=b'', builtin_modinfo=b'')
        texts.append(files['modules.symbols'])
    assert texts[0] == texts[1]
    assert len(texts[0].splitlines()) == 402
