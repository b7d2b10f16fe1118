# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Graph and output stages against kmod's depmod: the host's kmod 30 and
kmod 34.2 in a Debian 13 chroot (the `kmod` fixture runs each test with both).

Fake module trees built with gcc are indexed by the oracle's depmod; the
records are taken in the order its modules.dep lists them (the scan stage's
job) and parsed with elf.read_module; then every file our renderer produces,
rendered as that kmod writes them (post- or pre-order .bin files, with or
without modules.weakdep), must equal depmod's byte for byte, and depmod's
messages must be ours.  The same on Debian's whole amd64 tree.
"""

import os
import re
import subprocess

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.graph import resolve_dependencies
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_hash import (
    DEPMOD_MODULE_NAME_BUCKETS, hash_iteration_order)
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.model import ModuleRecord
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.outputs import output_names, render_outputs
from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import read_module
from ansible_collections.kernel.kmod.plugins.module_utils.index.text import depmod_module_name
from tests.lib.fakeko import build_ko

pytestmark = pytest.mark.conformance

RELEASE = '6.1.0-conformance'


def make_tree(kmod, base, modules, order=None, builtin=None, builtin_modinfo=None):
    """Build fake modules and run kmod's depmod: (module_dir, returncode, stderr lines)."""
    module_dir = os.path.join(str(base), 'lib', 'modules', RELEASE)
    os.makedirs(module_dir, exist_ok=True)
    for rel, spec in modules.items():
        build_ko(os.path.join(module_dir, rel), **spec)
    if order is not None:
        with open(os.path.join(module_dir, 'modules.order'), 'w') as f:
            f.write(''.join(line + '\n' for line in order))
    if builtin is not None:
        with open(os.path.join(module_dir, 'modules.builtin'), 'wb') as f:
            f.write(builtin)
    if builtin_modinfo is not None:
        with open(os.path.join(module_dir, 'modules.builtin.modinfo'), 'wb') as f:
            f.write(builtin_modinfo)
    proc = kmod.depmod(['-b', str(base), RELEASE], share=[str(base)], timeout=60)
    return module_dir, proc.returncode, proc.stderr.splitlines()


def parsed_record(module_dir, rel, order):
    record = ModuleRecord(depmod_module_name(rel), os.path.join(module_dir, rel), rel, order=order)
    image = read_module(record.path)
    record.modinfo = image.modinfo
    record.exports = image.exports()
    record.needs = image.needs()
    record.versions = image.versions()
    return record


def records_in_depmod_order(module_dir):
    """Records in the order of modules.dep's first column (depmod's module order)."""
    with open(os.path.join(module_dir, 'modules.dep')) as f:
        rels = [line.split(':', 1)[0] for line in f]
    return [parsed_record(module_dir, rel, i) for i, rel in enumerate(rels)]


def assert_same_files(module_dir, files):
    on_disk = sorted(n for n in os.listdir(module_dir) if n.startswith('modules.') and n not in (
        'modules.order', 'modules.builtin', 'modules.builtin.modinfo'))
    assert sorted(files) == on_disk
    differ = []
    for name, data in files.items():
        with open(os.path.join(module_dir, name), 'rb') as f:
            if f.read() != data:
                differ.append(name)
    assert differ == []


def depmod_says(stderr):
    """depmod's messages without the 'depmod: LEVEL: ' prefix (and without the
    empty line a message quoting a whole input line with its newline leaves)."""
    return [re.sub(r'^depmod: (WARNING|ERROR): ', '', line) for line in stderr if line]


def render_as(kmod, graph, module_dir):
    """Our files as this kmod writes them."""
    flavour = kmod.flavour()
    return render_outputs(graph, module_dir, layout=flavour.layout, weakdep=flavour.weakdep)


def index_and_compare(kmod, module_dir, stderr):
    graph = resolve_dependencies(records_in_depmod_order(module_dir))
    assert graph.cycles == []
    files, warnings = render_as(kmod, graph, module_dir)
    assert_same_files(module_dir, files)
    # modules.order is the scan stage's to read and to warn about
    theirs = [m for m in depmod_says(stderr) if not m.startswith('could not open modules.order')]
    assert sorted(warnings) == sorted(theirs)
    return graph, files


MIXED = {
    # a chain, a diamond, duplicate exporters, weak needs, compression
    'kernel/app/app.ko': dict(needs=['left_fn', 'right_fn', 'dup_fn'], modinfo=['alias=app-thing', 'license=GPL']),
    'kernel/lib/left.ko.xz': dict(exports=['left_fn'], needs=['bottom_fn'], compress='xz'),
    'kernel/lib/right.ko': dict(exports=['right_fn'], needs=['bottom_fn', 'chain1_fn']),
    # Debian's kmod 30 is built without zlib: .ko.gz files are no modules to it
    'kernel/lib/gzipped.ko.gz': dict(exports=['gz_fn'], compress='gz'),
    'kernel/lib/bottom.ko.zst': dict(exports=['bottom_fn'], compress='zst'),
    'kernel/lib/chain-1.ko': dict(exports=['chain1_fn'], needs=['chain2_fn']),
    'kernel/lib/chain-2.ko': dict(exports=['chain2_fn'], needs=['chain3_fn']),
    'kernel/lib/chain_3.ko': dict(exports=['chain3_fn']),
    'kernel/dup/dup-a.ko': dict(exports=['dup_fn', 'only_a']),
    'kernel/dup/dup-b.ko': dict(exports=['dup_fn', 'only_b']),
    'kernel/weak/weakuser.ko': dict(weak_needs=['only_a', 'nowhere_fn'], needs=['printk']),
    # needs that only __versions names
    'kernel/ver/veruser.ko': dict(versions=[(0x1234, 'module_layout'), (0x99, 'only_b')]),
    # aliases: normalisation, brackets, bad brackets, devname rules
    'kernel/drv/aliases.ko': dict(modinfo=[
        'alias=pci:v00008086d*sv*sd*bc02sc00i*', 'alias=usb:v1234p*d*dc*dsc*dp*ic-ff*',
        'alias=of:N*T*Cfoo,bar-baz[-_]x', 'alias=acpi*:ABC-DEF:*', 'alias=bad]bracket',
        'alias=open[bracket', 'alias=fs-my-fs', 'softdep=pre: left post: right', 'softdep=post: chain_3']),
    'kernel/drv/chardev.ko': dict(modinfo=['alias=devname:mydev', 'alias=char-major-10-200']),
    'kernel/drv/blockdev.ko': dict(modinfo=['alias=block-major-8-*', 'alias=block-major-259-4',
                                            'alias=devname:disk/by-x']),
    'kernel/drv/late.ko': dict(modinfo=['alias=char-major-5-1', 'alias=char-major-7-3', 'alias=devname:late0',
                                        'alias=char-major-9-9']),
    'kernel/drv/oddmajor.ko': dict(modinfo=['alias=char-major- +4-  -1junk', 'alias=devname:odd']),
    'kernel/drv/nomajor.ko': dict(modinfo=['alias=devname:lonely', 'alias=char-major-x-1']),
    'kernel/drv/weakdep.ko': dict(modinfo=['weakdep=chain_3', 'softdep=pre: app']),
    # not in modules.order: goes after the listed ones, in scan order
    'extra/unlisted.ko': dict(exports=['unlisted_fn'], needs=['dup_fn']),
}
MIXED_ORDER = ['kernel/app/app.ko', 'kernel/lib/left.ko', 'kernel/lib/right.ko', 'kernel/lib/bottom.ko',
               'kernel/lib/chain-1.ko', 'kernel/lib/chain-2.ko', 'kernel/lib/chain_3.ko', 'kernel/dup/dup-a.ko',
               'kernel/dup/dup-b.ko', 'kernel/weak/weakuser.ko', 'kernel/ver/veruser.ko',
               'kernel/drv/aliases.ko', 'kernel/drv/chardev.ko', 'kernel/drv/blockdev.ko', 'kernel/drv/late.ko',
               'kernel/drv/oddmajor.ko', 'kernel/drv/nomajor.ko', 'kernel/drv/weakdep.ko', 'kernel/not/there.ko']
MIXED_BUILTIN = (b'kernel/fs/ext4.ko\nkernel/drivers/char/mem-x.ko\n/bad/leading/slash.ko\n\nkernel/noext\n'
                 b'kernel/nul\0.ko\n' + b'x' * 5000 + b'\n')
MIXED_BUILTIN_MODINFO = (b'ext4.alias=fs-ext4\0ext4.alias=fs-ext3\0ext4.license=GPL\0mem_x.alias=char-major-1-*\0'
                         b'bad.alias=x]y\0noequals.alias\0swallowed.alias=never-seen\0'
                         b'after.alias=seen-again\0.alias=no-module\0tail.alias=no-nul-at-end')


@pytest.fixture(scope='module')
def mixed_tree(kmod, tmp_path_factory):
    return make_tree(kmod, tmp_path_factory.mktemp('mixed'), MIXED, MIXED_ORDER, MIXED_BUILTIN,
                     MIXED_BUILTIN_MODINFO)


WEAKDEP_FILE = b'# Weak dependencies extracted from modules themselves.\nweakdep weakdep chain_3\n'


def test_mixed_tree_every_file_equals_depmod(kmod, mixed_tree):
    module_dir, returncode, stderr = mixed_tree
    assert returncode == 0
    graph, files = index_and_compare(kmod, module_dir, stderr)
    deps = {r.name: [d.name for d in r.deps] for r in graph.records}
    # the facts the tree was built to show, as depmod wrote them
    assert deps['app'] == ['dup_b', 'right', 'chain_1', 'chain_2', 'chain_3', 'left', 'bottom']
    assert deps['weakuser'] == ['dup_a']
    assert deps['veruser'] == ['dup_b']
    assert graph.records[-1].name == 'unlisted'
    assert 'gzipped' not in deps
    assert b'lonely' not in files['modules.devname']
    assert b'oddmajor odd c4:4294967295\n' in files['modules.devname']
    # kmod 33 and later write modules.weakdep
    assert files.get('modules.weakdep') == (WEAKDEP_FILE if kmod.major >= 33 else None)


def test_mixed_tree_pre_order_layout_holds_the_same_entries(mixed_tree):
    """Both layouts of one graph read back the same (kmod 34's pre-order is
    compared byte for byte with kmod 34 above)."""
    from ansible_collections.kernel.kmod.plugins.module_utils.index.binary import BinaryIndex
    module_dir = mixed_tree[0]
    graph = resolve_dependencies(records_in_depmod_order(module_dir))
    post, _w = render_outputs(graph, module_dir)
    pre, _w = render_outputs(graph, module_dir, layout='pre')
    for name in post:
        if name.endswith('.bin') and post[name]:
            assert pre[name] != post[name]
            with BinaryIndex.from_bytes(pre[name]) as a, BinaryIndex.from_bytes(post[name]) as b:
                assert list(a.items()) == list(b.items())
        else:
            assert pre[name] == post[name]


def test_weakdep_is_written_by_kmod_33_and_later_only(kmod, mixed_tree):
    module_dir = mixed_tree[0]
    weakdep = os.path.join(module_dir, 'modules.weakdep')
    if kmod.major >= 33:
        with open(weakdep, 'rb') as f:
            assert f.read() == WEAKDEP_FILE
    else:
        assert not os.path.exists(weakdep)
    graph = resolve_dependencies(records_in_depmod_order(module_dir))
    files, _w = render_outputs(graph, module_dir, weakdep=True)
    assert list(files) == output_names(weakdep=True)
    assert files['modules.weakdep'] == WEAKDEP_FILE


def test_missing_builtin_files_give_warnings_and_empty_indexes(kmod, tmp_path):
    module_dir, returncode, stderr = make_tree(kmod, tmp_path, {'kernel/a.ko': dict(exports=['fa'])},
                                               ['kernel/a.ko'])
    assert returncode == 0
    index_and_compare(kmod, module_dir, stderr)
    assert os.path.getsize(os.path.join(module_dir, 'modules.builtin.bin')) == 0
    assert os.path.getsize(os.path.join(module_dir, 'modules.devname')) == 0


def test_without_modules_order_depmod_uses_its_hash_order(kmod, tmp_path):
    modules = {'kernel/d%02d/m-%d%s.ko' % (i % 7, i, 'x' * (i % 5)): dict(exports=['f%d' % i], needs=['f%d' % (i + 1)])
               for i in range(40)}
    module_dir, returncode, stderr = make_tree(kmod, tmp_path, modules, builtin=b'', builtin_modinfo=b'')
    assert returncode == 0
    graph, _files = index_and_compare(kmod, module_dir, stderr)
    names = [r.name for r in graph.records]
    assert names == hash_iteration_order(names, DEPMOD_MODULE_NAME_BUCKETS)
    assert names != sorted(names)
    # a chain of 40: the first listed module depends on every later one
    assert len(graph.records[names.index('m_0')].deps) == 39


CYCLES = [
    ({'a': (['fa'], ['fb']), 'b': (['fb'], ['fa']), 'x': ([], ['fa'])}, None),
    ({'a': (['fa'], ['fb']), 'b': (['fb'], ['fa']), 'c': (['fc'], ['fd']), 'd': (['fd'], ['fe']),
      'e': (['fe'], ['fc'])}, None),
    ({'a': (['fa'], ['fb', 'fz']), 'b': (['fb'], ['fa', 'fc']), 'c': (['fc'], ['fa']), 'z': (['fz'], [])}, None),
    ({'a': (['fa'], ['fb', 'fc']), 'b': (['fb'], ['fa']), 'c': (['fc'], ['fa'])}, None),
    ({'a': (['fa'], ['fb']), 'b': (['fb'], ['fa']), 'x': ([], ['fa'])}, ['x', 'b', 'a']),
    ({'a': (['fa'], ['fb']), 'b': (['fb'], ['fa', 'fc']), 'c': (['fc'], ['fd']), 'd': (['fd'], [])}, None),
]


@pytest.mark.parametrize('graph_spec, order', CYCLES)
def test_cycles_are_reported_as_depmod_reports_them_and_nothing_is_written(kmod, tmp_path, graph_spec, order):
    modules = {'kernel/%s.ko' % name: dict(exports=e, needs=n) for name, (e, n) in graph_spec.items()}
    order = ['kernel/%s.ko' % name for name in (order or sorted(graph_spec))]
    module_dir, returncode, stderr = make_tree(kmod, tmp_path, modules, order)
    assert returncode == 1
    assert sorted(os.listdir(module_dir)) == ['kernel', 'modules.order']
    records = [parsed_record(module_dir, rel, i) for i, rel in enumerate(order)]
    graph = resolve_dependencies(records)
    assert graph.messages == depmod_says(stderr)
    assert graph.cycles


def test_module_needing_its_own_export_is_a_cycle_for_depmod(kmod, tmp_path):
    module_dir = os.path.join(str(tmp_path), 'lib', 'modules', RELEASE)
    os.makedirs(os.path.join(module_dir, 'kernel'))
    source = tmp_path / 'self.c'
    source.write_text('static const char s[] __attribute__((section("__ksymtab_strings"), used)) = "foo";\n'
                      'extern int foo(void);\nint init(void) { return foo(); }\n')
    subprocess.run(['gcc', '-c', '-o', os.path.join(module_dir, 'kernel', 's.ko'), str(source)], check=True)
    with open(os.path.join(module_dir, 'modules.order'), 'w') as f:
        f.write('kernel/s.ko\n')
    proc = kmod.depmod(['-b', str(tmp_path), RELEASE], share=[str(tmp_path)])
    assert proc.returncode == 1
    graph = resolve_dependencies([parsed_record(module_dir, 'kernel/s.ko', 0)])
    assert graph.messages == depmod_says(proc.stderr.splitlines())


def test_debian_tree_every_file_equals_depmod(kmod, indexed_debian_tree):
    module_dir = indexed_debian_tree.module_dir
    graph = resolve_dependencies(records_in_depmod_order(module_dir))
    assert len(graph.records) == 4023
    files, warnings = render_as(kmod, graph, module_dir)
    assert warnings == []
    assert_same_files(module_dir, files)
