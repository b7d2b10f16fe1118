# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod/incremental.py: what a run after a few changed module files skips,
and the proof that it changes no byte: random add/remove/change sequences on
a synthetic tree, each run compared with a full run of ours on a copy."""

import marshal
import os
import shutil
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.depmod import incremental, outputs
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.incremental import (
    ParseDelta, delta_path, text_change_counts)
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_version import KmodFlavour
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.parse import ParseCache
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.pipeline import DepmodOptions, run_depmod
from tests.lib.fakeko import build_ko

REL = '6.1.0-incr'
INPUTS = ('modules.order', 'modules.builtin', 'modules.builtin.modinfo')

# What the pool's modules say: symbols shared between them (two exporters of
# 'sa', so the later one in module order owns it), aliases, a softdep, a
# weak need, a devname, and a file no reader takes for a module.
POOL = {
    'exp_a': dict(modinfo=['license=GPL', 'alias=pa'], exports=['sa', 'sb']),
    'exp_a2': dict(modinfo=['license=GPL', 'alias=pa2'], exports=['sa'], needs=['sb']),
    'need_a': dict(modinfo=['license=GPL', 'alias=na-*', 'softdep=pre: exp_a'], needs=['sa']),
    'need_b': dict(modinfo=['license=GPL', 'alias=char-major-10-99', 'alias=devname:foo'], needs=['sb', 'sc']),
    'exp_c': dict(modinfo=['license=GPL', 'alias=pc'], exports=['sc'], needs=['sa']),
    'plain': dict(modinfo=['license=GPL', 'alias=plain']),
    'weak': dict(modinfo=['license=GPL'], weak_needs=['sc'], needs=['sd']),
    'exp_d': dict(modinfo=['license=GPL'], exports=['sd', 'se']),
}
NAMES = ['m%d' % i for i in range(6)]
DIRS = ['kernel', 'updates', 'extra']


@pytest.fixture(scope='module')
def pool(tmp_path_factory):
    """{pool name: bytes of the module file} (gcc runs once per module)."""
    top = str(tmp_path_factory.mktemp('pool'))
    out = {}
    for name, spec in POOL.items():
        with open(build_ko(os.path.join(top, name + '.ko'), **spec), 'rb') as f:
            out[name] = f.read()
    out['corrupt'] = b'\x7fELF not really a module'
    return out


class Tree(object):
    """A module directory of pool modules, indexed with a cache (incremental)
    or copied and indexed without one (the full run it must equal)."""

    def __init__(self, root, pool):
        self.root = root
        self.pool = pool
        self.module_dir = os.path.join(root, 'lib', 'modules', REL)
        self.cache_dir = os.path.join(root, 'cache')
        self.conf_dir = os.path.join(root, 'depmod.d')
        os.makedirs(self.module_dir)
        os.makedirs(self.conf_dir)
        with open(os.path.join(self.module_dir, 'modules.order'), 'w') as f:
            f.write(''.join('kernel/%s.ko\n' % n for n in NAMES))
        with open(os.path.join(self.module_dir, 'modules.builtin'), 'w') as f:
            f.write('kernel/x.ko\n')
        with open(os.path.join(self.module_dir, 'modules.builtin.modinfo'), 'wb') as f:
            f.write(b'x.alias=xx\0')

    def options(self, root=None, **kwargs):
        kwargs.setdefault('basedir', root or self.root)
        kwargs.setdefault('config_paths', [self.conf_dir])
        kwargs.setdefault('cache_dir', self.cache_dir)
        kwargs.setdefault('workers', 1)
        kwargs.setdefault('flavour', KmodFlavour(30))
        return DepmodOptions(**kwargs)

    def run(self, **kwargs):
        return run_depmod(REL, options=self.options(**kwargs))

    def path(self, rel):
        return os.path.join(self.module_dir, rel)

    def put(self, rel, module, in_place=False):
        """The pool module's bytes at rel: a new inode, or the same file rewritten
        (its mtime moved on, as a copy over it would)."""
        target = self.path(rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if in_place and os.path.exists(target):
            st = os.stat(target)
            with open(target, 'wb') as f:
                f.write(self.pool[module])
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
        else:
            with open(target + '.new', 'wb') as f:
                f.write(self.pool[module])
            os.rename(target + '.new', target)

    def remove(self, rel):
        if os.path.exists(self.path(rel)):
            os.unlink(self.path(rel))

    def outputs(self, module_dir=None):
        module_dir = module_dir or self.module_dir
        return dict((name, _read(os.path.join(module_dir, name))) for name in sorted(os.listdir(module_dir))
                    if name.startswith('modules.') and name not in INPUTS)

    def full_run_outputs(self, scratch):
        """The outputs of a full run of ours (no cache) on a copy of the tree."""
        if os.path.exists(scratch):
            shutil.rmtree(scratch)
        copy = os.path.join(scratch, 'lib', 'modules', REL)
        shutil.copytree(self.module_dir, copy,
                        ignore=lambda d, names: [n for n in names if d == self.module_dir
                                                 and n.startswith('modules.') and n not in INPUTS])
        run_depmod(REL, options=self.options(root=scratch, cache_dir=None))
        return self.outputs(copy)


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


@pytest.fixture
def tree(pool, tmp_path):
    t = Tree(str(tmp_path / 'root'), pool)
    for name, module in zip(NAMES[:4], ('exp_a', 'need_a', 'exp_c', 'plain')):
        t.put('kernel/%s.ko' % name, module)
    return t


# ---------------------------------------------------------------- counting changed lines

def _counted(old, new):
    a, b = Counter(old.splitlines()), Counter(new.splitlines())
    return sum((b - a).values()), sum((a - b).values())


_LINES = st.lists(st.sampled_from([b'a', b'b', b'ab', b'', b'ba', b'a\r', b'aa', b'b\rb']), max_size=10)


@settings(max_examples=400, deadline=None)
@given(_LINES, _LINES, _LINES, _LINES, st.booleans(), st.booleans())
def test_text_change_counts_are_the_multiset_difference(head, old, new, tail, old_end, new_end):
    old_text = b'\n'.join(head + old + tail) + (b'\n' if old_end else b'')
    new_text = b'\n'.join(head + new + tail) + (b'\n' if new_end else b'')
    assert text_change_counts(old_text, new_text) == _counted(old_text, new_text)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=40))
def test_text_change_counts_of_any_bytes(old, new):
    many_newlines = bytes.maketrans(b'\x00\x01\x02', b'\n\n\n')
    old, new = old.translate(many_newlines), new.translate(many_newlines)
    assert text_change_counts(old, new) == _counted(old, new)


# ---------------------------------------------------------------- the parse cache's delta

def _cache_files(tree):
    names = sorted(os.listdir(tree.cache_dir))
    cache_name = [n for n in names if n.endswith('.parse')][0]
    return os.path.join(tree.cache_dir, cache_name), names


def test_a_few_changed_files_write_a_delta_not_the_whole_cache(tree):
    report = tree.run()
    assert report['parsed'] == 4
    cache_path, names = _cache_files(tree)
    assert not any(n.endswith('.delta') for n in names)
    before = (_read(cache_path), os.stat(cache_path).st_mtime_ns)
    tree.put('updates/m4.ko', 'exp_a2')
    report = tree.run()
    assert report['parsed'] == 1
    assert (_read(cache_path), os.stat(cache_path).st_mtime_ns) == before
    delta = marshal.loads(_read(delta_path(cache_path)))
    assert sorted(delta['entries']) == [tree.path('updates/m4.ko')] and delta['removed'] == []
    # the next run takes m4 from the delta: only the newly changed file is parsed
    tree.put('kernel/m0.ko', 'exp_d')
    report = tree.run()
    assert report['parsed'] == 1
    delta = marshal.loads(_read(delta_path(cache_path)))
    assert sorted(delta['entries']) == sorted([tree.path('updates/m4.ko'), tree.path('kernel/m0.ko')])
    tree.remove('kernel/m3.ko')
    assert tree.run()['parsed'] == 0
    assert marshal.loads(_read(delta_path(cache_path)))['removed'] == [tree.path('kernel/m3.ko')]
    assert tree.outputs() == tree.full_run_outputs(tree.root + '.full')


def test_many_changed_files_rewrite_the_cache_and_drop_the_delta(tree, monkeypatch):
    tree.run()
    tree.put('updates/m4.ko', 'plain')
    tree.run()
    cache_path, _names = _cache_files(tree)
    assert os.path.exists(delta_path(cache_path))
    monkeypatch.setattr(incremental, 'DELTA_MAX_ENTRIES', 1)
    tree.put('updates/m5.ko', 'plain')
    tree.put('kernel/m3.ko', 'exp_d')
    report = tree.run()
    assert report['parsed'] == 2
    assert not os.path.exists(delta_path(cache_path))
    assert sorted(ParseCache(cache_path).entries) == sorted(
        tree.path(rel) for rel in ('kernel/m0.ko', 'kernel/m1.ko', 'kernel/m2.ko', 'kernel/m3.ko',
                                   'updates/m4.ko', 'updates/m5.ko'))


def test_a_delta_for_another_cache_file_is_not_used(tree):
    tree.run()
    tree.put('updates/m4.ko', 'plain')
    tree.run()
    cache_path, _names = _cache_files(tree)
    # the cache file rewritten since the delta was made (a killed run's leftovers)
    data = _read(cache_path)
    os.unlink(cache_path)
    with open(cache_path, 'wb') as f:
        f.write(data)
    tree.put('kernel/m3.ko', 'exp_d')
    report = tree.run()
    assert report['parsed'] == 2  # m4 again: its entry was only in the ignored delta
    assert report['warnings'] == []
    assert tree.outputs() == tree.full_run_outputs(tree.root + '.full')


def test_an_untrusted_delta_is_ignored_with_a_warning(tree):
    tree.run()
    tree.put('updates/m4.ko', 'plain')
    tree.run()
    cache_path, _names = _cache_files(tree)
    os.chmod(delta_path(cache_path), 0o666)
    tree.put('kernel/m3.ko', 'exp_d')
    report = tree.run()
    assert report['parsed'] == 2
    assert any('ignoring parse cache delta' in w and 'writable' in w for w in report['warnings']), report['warnings']
    assert tree.outputs() == tree.full_run_outputs(tree.root + '.full')


@pytest.mark.parametrize('bad', [
    'not a dict', {'format': 1, 'base': 'x', 'entries': {}, 'removed': []},
    {'format': 1, 'base': [1, 2, 3], 'entries': {'p': 'not a list'}, 'removed': []},
    {'format': 1, 'base': [1, 2, 3], 'entries': {}, 'removed': [7]}])
def test_a_delta_of_the_wrong_shape_is_ignored(tree, bad):
    tree.run()
    cache_path, _names = _cache_files(tree)
    with open(delta_path(cache_path), 'wb') as f:
        f.write(marshal.dumps(bad))
    os.chmod(delta_path(cache_path), 0o600)
    cache = ParseCache(cache_path)
    before = dict(cache.entries)
    delta = ParseDelta(cache)
    assert cache.entries == before and not delta.applied
    assert delta.warning is None or 'does not hold what a run saves' in delta.warning


def test_a_delta_entry_no_parse_made_is_parsed_again(tree):
    """A delta's entries meet the parse cache's own checks: an alias with a
    newline never reaches modules.alias."""
    tree.run()
    tree.put('updates/m4.ko', 'plain')
    tree.run()
    cache_path, _names = _cache_files(tree)
    path = delta_path(cache_path)
    delta = marshal.loads(_read(path))
    entry = delta['entries'][tree.path('updates/m4.ko')]
    entry[1][0] = entry[1][0].replace('alias=plain', 'alias=plain\nalias evil m4')
    with open(path, 'wb') as f:
        f.write(marshal.dumps(delta))
    tree.put('kernel/m3.ko', 'exp_d')
    report = tree.run()
    assert report['parsed'] == 2
    assert b'evil' not in tree.outputs()['modules.alias']
    assert tree.outputs() == tree.full_run_outputs(tree.root + '.full')


def test_check_mode_leaves_cache_and_delta_alone(tree):
    tree.run()
    tree.put('updates/m4.ko', 'plain')
    tree.run()
    before = dict((n, _read(os.path.join(tree.cache_dir, n))) for n in os.listdir(tree.cache_dir))
    tree.put('kernel/m3.ko', 'exp_d')
    report = tree.run(check_mode=True)
    assert report['changed'] and report['parsed'] == 1
    assert dict((n, _read(os.path.join(tree.cache_dir, n))) for n in os.listdir(tree.cache_dir)) == before


# ---------------------------------------------------------------- the property: no byte differs

_STEP = st.one_of(
    st.tuples(st.just('put'), st.sampled_from(DIRS), st.sampled_from(NAMES), st.sampled_from(sorted(POOL) + ['corrupt']),
              st.booleans()),
    st.tuples(st.just('remove'), st.sampled_from(DIRS), st.sampled_from(NAMES)),
    st.tuples(st.just('touch'), st.sampled_from(DIRS), st.sampled_from(NAMES)),
)


def _apply(tree, step):
    rel = '%s/%s.ko' % (step[1], step[2])
    if step[0] == 'put':
        tree.put(rel, step[3], in_place=step[4])
    elif step[0] == 'remove':
        tree.remove(rel)
    elif os.path.exists(tree.path(rel)):
        st_ = os.stat(tree.path(rel))
        os.utime(tree.path(rel), ns=(st_.st_atime_ns, st_.st_mtime_ns + 1000))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.lists(_STEP, min_size=1, max_size=3), min_size=1, max_size=5))
def test_every_run_after_changes_equals_a_full_run(pool, tmp_path_factory, steps):
    top = str(tmp_path_factory.mktemp('seq'))
    tree = Tree(os.path.join(top, 'root'), pool)
    for name, module in zip(NAMES[:4], ('exp_a', 'need_a', 'exp_c', 'plain')):
        tree.put('kernel/%s.ko' % name, module)
    tree.run()
    for changes in steps:
        for step in changes:
            _apply(tree, step)
        report = tree.run()
        assert tree.outputs() == tree.full_run_outputs(os.path.join(top, 'full')), (steps, report)
        again = tree.run()
        assert again['shortcut'] == 'state' and not again['changed']
    shutil.rmtree(top, ignore_errors=True)


# ---------------------------------------------------------------- outputs taken as the last run left them

def _no_call(what):
    def refuse(*args, **kwargs):
        raise AssertionError('%s rendered again' % what)
    return refuse


def test_an_index_whose_entries_did_not_change_is_not_rendered(tree, monkeypatch):
    tree.run()
    tree.put('updates/m4.ko', 'plain')  # no exports: the symbol indexes stay
    monkeypatch.setattr(outputs, 'render_symbols', _no_call('modules.symbols'))
    built = []
    real_build = incremental.build_indexes
    monkeypatch.setattr(incremental, 'build_indexes', lambda todo, layout: built.append(sorted(todo))
                        or real_build(todo, layout))
    report = tree.run()
    assert report['written'] == ['modules.dep', 'modules.dep.bin', 'modules.alias', 'modules.alias.bin']
    assert built == [['modules.alias.bin']]  # the symbol trie was taken from disk
    monkeypatch.undo()
    assert tree.outputs() == tree.full_run_outputs(tree.root + '.full')


@pytest.mark.parametrize('name', ['modules.symbols', 'modules.symbols.bin', 'modules.builtin.bin'])
@pytest.mark.parametrize('how', ['edited', 'removed'])
def test_a_reusable_index_changed_by_hand_is_rendered_again(tree, name, how):
    tree.run()
    path = tree.path(name)
    if how == 'edited':
        with open(path, 'ab') as f:
            f.write(b'by hand\n')
    else:
        os.unlink(path)
    tree.put('updates/m4.ko', 'plain')
    report = tree.run()
    assert name in report['written']
    assert tree.outputs() == tree.full_run_outputs(tree.root + '.full')


def test_digests_of_another_layout_are_not_reused(tree):
    """The .bin layout is part of what a trie is rendered from (kmod 34 writes pre-order)."""
    tree.run()
    tree.put('updates/m4.ko', 'plain')
    tree.run(flavour=KmodFlavour(34))
    full = tree.full_run_outputs(tree.root + '.full')
    assert tree.outputs() != full  # kmod 34 also writes modules.weakdep and other tries
    run_depmod(REL, options=tree.options(root=tree.root + '.full', cache_dir=None, flavour=KmodFlavour(34)))
    assert tree.outputs() == tree.outputs(os.path.join(tree.root + '.full', 'lib', 'modules', REL))


def test_render_outputs_reusing_nothing_is_render_outputs_alone(tree):
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.graph import resolve_dependencies
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.parse import parse_records
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.scan import scan_modules
    from ansible_collections.kernel.kmod.plugins.module_utils.config.depmod import load_depmod_config
    tree.put('kernel/m4.ko', 'need_b')
    tree.put('kernel/m5.ko', 'corrupt')
    for layout, weakdep in (('post', False), ('pre', True)):
        config = load_depmod_config(root='/', paths=[tree.conf_dir], release=REL)
        scan = scan_modules(tree.root, REL, config, module_dir=tree.module_dir)
        good, _problems = parse_records(scan.modules, workers=1)
        for record in scan.modules:
            if record not in good:
                record.modinfo, record.exports, record.needs, record.versions = [], [], [], []
        graph = resolve_dependencies(scan.modules)
        expected = outputs.render_outputs(graph, tree.module_dir, layout=layout, weakdep=weakdep)
        reuse = incremental.OutputReuse(None, tree.module_dir, layout)
        got = outputs.render_outputs(
            graph, tree.module_dir, layout=layout, weakdep=weakdep, reuse=reuse,
            prebuilt=lambda: outputs.large_index_bytes(outputs.render_aliases(graph.records, [])[1],
                                                       outputs.symbol_entries_unordered(graph.records, graph.owners),
                                                       layout))
        assert got == expected
        assert reuse.reused == []


_TEXT = st.text(st.characters(blacklist_characters='\0'), max_size=4)
_ENTRIES = st.lists(st.tuples(_TEXT, _TEXT, st.integers(0, 5)), max_size=4)


@settings(max_examples=300, deadline=None)
@given(_ENTRIES, _ENTRIES, st.sampled_from(['post', 'pre']), st.sampled_from(['post', 'pre']))
def test_entries_digest_tells_apart_what_differs(a, b, layout_a, layout_b):
    same = incremental.entries_digest(layout_a, a) == incremental.entries_digest(layout_b, b)
    assert same == ((layout_a, a) == (layout_b, b))


def test_entries_digest_tells_apart_names_that_encode_alike():
    # 'é' and the two escaped bytes of its UTF-8 form are one byte string under surrogateescape
    assert incremental.entries_digest('post', [('\udcc3\udca9', 'm', 0)]) != \
        incremental.entries_digest('post', [('\u00e9', 'm', 0)])


# ---------------------------------------------------------------- direct dependencies the last run found

def _count_lookups(monkeypatch):
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod import graph
    looked_up = []
    real = graph._direct_deps  # pylint: disable=protected-access

    def counting(record, owner_position):
        looked_up.append(record.name)
        return real(record, owner_position)
    monkeypatch.setattr(graph, '_direct_deps', counting)
    return looked_up


def _graph_cache_file(tree):
    return [os.path.join(tree.cache_dir, n) for n in os.listdir(tree.cache_dir) if n.endswith('.graph')][0]


def test_only_new_modules_are_looked_up_while_owners_stay(tree, monkeypatch):
    tree.run()
    looked_up = _count_lookups(monkeypatch)
    tree.put('updates/m4.ko', 'need_b')   # needs sb and sc, exports nothing
    tree.run()
    assert looked_up == ['m4']
    del looked_up[:]
    tree.put('kernel/m1.ko', 'need_a', in_place=True)   # rewritten: its file is not the one the cache saw
    tree.run()
    assert looked_up == ['m1']
    monkeypatch.undo()
    assert tree.outputs() == tree.full_run_outputs(tree.root + '.full')


def test_a_new_owner_makes_every_module_looked_up(tree, monkeypatch):
    tree.run()
    looked_up = _count_lookups(monkeypatch)
    tree.put('kernel/m5.ko', 'exp_a2')   # later in modules.order than m0: owns sa now
    report = tree.run()
    assert sorted(looked_up) == ['m0', 'm1', 'm2', 'm3', 'm5'] and report['modules'] == 5
    monkeypatch.undo()
    assert tree.outputs() == tree.full_run_outputs(tree.root + '.full')


@pytest.mark.parametrize('bad', [
    'not a dict',
    {'format': 1, 'key': 'other options', 'owners': {}, 'direct': {}},
    'direct names a module that is not there',
    'direct entry of the wrong shape',
    'direct entry of the wrong type',
])
def test_a_graph_cache_a_run_did_not_write_is_not_used(tree, monkeypatch, bad):
    tree.run()
    path = _graph_cache_file(tree)
    data = marshal.loads(_read(path))
    m1 = tree.path('kernel/m1.ko')
    if bad == 'direct names a module that is not there':
        data['direct'][m1][1] = ['nosuch']
    elif bad == 'direct entry of the wrong shape':
        data['direct'][m1] = [data['direct'][m1][0]]
    elif bad == 'direct entry of the wrong type':
        data['direct'][m1] = 7
    elif isinstance(bad, dict):
        data = dict(data, key=bad['key'])
    else:
        data = bad
    with open(path, 'wb') as f:
        f.write(marshal.dumps(data))
    looked_up = _count_lookups(monkeypatch)
    tree.put('updates/m4.ko', 'plain')
    tree.run()
    assert sorted(looked_up) == ['m0', 'm1', 'm2', 'm3', 'm4']
    monkeypatch.undo()
    assert tree.outputs() == tree.full_run_outputs(tree.root + '.full')


def test_an_untrusted_graph_cache_is_ignored_with_a_warning(tree, monkeypatch):
    tree.run()
    os.chmod(_graph_cache_file(tree), 0o666)
    looked_up = _count_lookups(monkeypatch)
    tree.put('updates/m4.ko', 'plain')
    report = tree.run()
    assert len(looked_up) == 5
    assert any('ignoring depmod graph cache' in w for w in report['warnings']), report['warnings']


def test_a_dependency_cycle_is_still_reported(tree):
    from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
    tree.run()
    # m5 (exp_a2) owns sa and needs sb; m4, later, owns sb and needs sa
    build_ko(os.path.join(tree.root, 'cyc.ko'), modinfo=['license=GPL'], exports=['sb'], needs=['sa'])
    tree.pool['cyc'] = _read(os.path.join(tree.root, 'cyc.ko'))
    tree.put('kernel/m5.ko', 'exp_a2')
    tree.put('updates/m4.ko', 'cyc')
    before = tree.outputs()
    with pytest.raises(KmodError) as info:
        tree.run()
    assert 'dependency cycle' in info.value.msg and 'm4' in info.value.msg
    assert tree.outputs() == before
