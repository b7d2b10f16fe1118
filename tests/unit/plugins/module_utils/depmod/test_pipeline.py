"""The depmod orchestrator: whole runs over small fake trees.

Trees are built once per test module with gcc (tests/lib/fakeko.py) and
copied for each test; every run pins kmod 30's behaviour (no `kmod
--version`), reads depmod.d from an empty directory and uses one process.
"""

import marshal
import os
import shutil
import tempfile

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.depmod import parse as depmod_parse
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_version import KmodFlavour
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.outputs import output_names
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.pipeline import (
    DIFF_MAX_BYTES, DepmodOptions, bounded_diff, change_summary, plan_release, resolve_releases, run_depmod,
    run_depmod_releases)
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.state import quick_up_to_date
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.files import FileChange
from ansible_collections.kernel.kmod.plugins.module_utils.index.binary import BinaryIndex
from tests.lib.fakeko import build_ko
from tests.lib.privileges import as_nobody

REL = '6.1.0-unit'
REL2 = '6.2.0-unit'
INPUTS = ('modules.order', 'modules.builtin', 'modules.builtin.modinfo')
OUTPUTS = output_names(weakdep=False)
DEP_TEXT = b'kernel/a.ko:\nkernel/b.ko: kernel/a.ko\nkernel/c.ko:\n'


def _build(base, release=REL, extra=None):
    module_dir = os.path.join(base, 'lib', 'modules', release)
    build_ko(os.path.join(module_dir, 'kernel', 'a.ko'), modinfo=['license=GPL', 'alias=foo-bar'], exports=['sa'])
    build_ko(os.path.join(module_dir, 'kernel', 'b.ko'),
             modinfo=['license=GPL', 'softdep=pre: c'], needs=['sa', 'printk', 'missing_sym'])
    build_ko(os.path.join(module_dir, 'kernel', 'c.ko'), modinfo=['license=GPL'])
    for name, spec in (extra or {}).items():
        build_ko(os.path.join(module_dir, name), **spec)
    with open(os.path.join(module_dir, 'modules.order'), 'w') as f:
        f.write('kernel/a.ko\nkernel/b.ko\nkernel/c.ko\n')
    with open(os.path.join(module_dir, 'modules.builtin'), 'w') as f:
        f.write('kernel/x.ko\n')
    with open(os.path.join(module_dir, 'modules.builtin.modinfo'), 'wb') as f:
        f.write(b'x.alias=xx\0')
    return module_dir


@pytest.fixture(scope='module')
def pristine(tmp_path_factory):
    """Two releases of fake modules (no index files), built once."""
    base = str(tmp_path_factory.mktemp('pristine'))
    _build(base, REL)
    _build(base, REL2)
    spare = str(tmp_path_factory.mktemp('spare'))
    build_ko(os.path.join(spare, 'd.ko'), modinfo=['license=GPL', 'alias=dee'], needs=['sa'])
    build_ko(os.path.join(spare, 'cyc_a.ko'), modinfo=['license=GPL'], exports=['ca'], needs=['cb'])
    build_ko(os.path.join(spare, 'cyc_b.ko'), modinfo=['license=GPL'], exports=['cb'], needs=['ca'])
    return base, spare


class Tree(object):
    def __init__(self, root, spare):
        self.root = root
        self.spare = spare
        self.module_dir = os.path.join(root, 'lib', 'modules', REL)
        self.conf_dir = os.path.join(root, 'depmod.d')
        self.cache_dir = os.path.join(root, 'cache')
        os.makedirs(self.conf_dir)

    def options(self, **kwargs):
        kwargs.setdefault('basedir', self.root)
        kwargs.setdefault('config_paths', [self.conf_dir])
        kwargs.setdefault('cache_dir', self.cache_dir)
        kwargs.setdefault('workers', 1)
        kwargs.setdefault('flavour', KmodFlavour(30))
        return DepmodOptions(**kwargs)

    def run(self, release=REL, **kwargs):
        return run_depmod(release, options=self.options(**kwargs))

    def path(self, name):
        return os.path.join(self.module_dir, name)

    def read(self, name):
        with open(self.path(name), 'rb') as f:
            return f.read()

    def snapshot(self):
        """{name: (bytes, mtime_ns, inode)} of every file in the module dir."""
        out = {}
        for name in os.listdir(self.module_dir):
            path = self.path(name)
            if os.path.isfile(path):
                st = os.stat(path)
                out[name] = (self.read(name), st.st_mtime_ns, st.st_ino)
        return out

    def add_spare(self, name, rel):
        target = self.path(rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy(os.path.join(self.spare, name), target)
        return target


@pytest.fixture
def tree(pristine, tmp_path):
    base, spare = pristine
    root = str(tmp_path / 'root')
    shutil.copytree(base, root, symlinks=True)
    return Tree(root, spare)


def _outputs(tree):
    return sorted(n for n in os.listdir(tree.module_dir) if n.startswith('modules.') and n not in INPUTS)


# ---------------------------------------------------------------- first run, idempotence

def test_first_run_writes_every_index(tree):
    report = tree.run()
    assert report['changed'] is True and report['shortcut'] is None
    assert report['modules'] == 3
    assert report['written'] == OUTPUTS
    assert _outputs(tree) == sorted(OUTPUTS)
    assert tree.read('modules.dep') == DEP_TEXT
    assert tree.read('modules.alias') == b'# Aliases extracted from modules themselves.\nalias foo-bar a\n'
    assert tree.read('modules.softdep') == b'# Soft dependencies extracted from modules themselves.\nsoftdep b pre: c\n'
    assert report['files']['modules.dep'] == {'action': 'create', 'added': 3, 'removed': 0}
    assert report['files']['modules.dep.bin'] == {'action': 'create', 'added': 3, 'removed': 0}
    assert report['files']['modules.alias.bin'] == {'action': 'create', 'added': 1, 'removed': 0}
    assert report['files']['modules.builtin.alias.bin'] == {'action': 'create', 'added': 1, 'removed': 0}
    dep = sorted(BinaryIndex.from_bytes(tree.read('modules.dep.bin')).items())
    assert dep == [('a', 0, 'kernel/a.ko:'), ('b', 1, 'kernel/b.ko: kernel/a.ko'), ('c', 2, 'kernel/c.ko:')]
    assert report['unresolved'] == [] and report['skipped'] == [] and report['warnings'] == []
    assert [d['before_header'] for d in report['diff']] == [
        tree.path('modules.dep') + ' (absent)', tree.path('modules.alias') + ' (absent)',
        tree.path('modules.softdep') + ' (absent)']
    assert report['diff'][0]['after'] == DEP_TEXT.decode()


@pytest.mark.parametrize('cache', [True, False])
def test_second_run_changes_nothing(tree, cache):
    tree.run()
    before = tree.snapshot()
    report = tree.run(cache_dir=tree.cache_dir if cache else None)
    assert report['changed'] is False
    assert report['shortcut'] == ('state' if cache else None)
    assert report['written'] == [] and report['files'] == {} and report['diff'] == []
    assert report['modules'] == 3
    assert tree.snapshot() == before


def test_state_shortcut_parses_nothing(tree, monkeypatch):
    tree.run()

    def no_parsing(*args, **kwargs):
        raise AssertionError('parsed although nothing changed')
    monkeypatch.setattr('ansible_collections.kernel.kmod.plugins.module_utils.depmod.parse.parse_records', no_parsing)
    assert tree.run()['shortcut'] == 'state'


def test_cache_dir_holds_state_and_parse_cache(tree):
    tree.run()
    names = sorted(os.listdir(tree.cache_dir))
    assert len(names) == 3
    assert names[1].startswith(REL + '-') and names[1].endswith('.parse')
    assert names[0] == names[1].replace('.parse', '.graph')
    assert names[2] == names[1].replace('.parse', '.state')
    shutil.rmtree(tree.cache_dir)  # safe to delete: the next run is a full one, still unchanged
    report = tree.run()
    assert (report['changed'], report['shortcut']) == (False, None)


# ---------------------------------------------------------------- what the state shortcut must not hide

def _fall_through(tree):
    report = tree.run()
    assert report['shortcut'] is None
    return report


def test_hand_edited_output_is_rewritten(tree):
    tree.run()
    with open(tree.path('modules.alias'), 'ab') as f:
        f.write(b'alias by-hand c\n')
    report = _fall_through(tree)
    assert report['written'] == ['modules.alias']
    assert report['files'] == {'modules.alias': {'action': 'update', 'added': 0, 'removed': 1}}
    assert tree.read('modules.alias') == b'# Aliases extracted from modules themselves.\nalias foo-bar a\n'


def test_deleted_output_is_rewritten(tree):
    tree.run()
    os.unlink(tree.path('modules.dep.bin'))
    report = _fall_through(tree)
    assert report['written'] == ['modules.dep.bin']
    assert report['files'] == {'modules.dep.bin': {'action': 'create', 'added': 3, 'removed': 0}}


def test_touched_module_is_read_again(tree):
    tree.run()
    before = tree.snapshot()
    st = os.stat(tree.path('kernel/c.ko'))
    os.utime(tree.path('kernel/c.ko'), ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    report = _fall_through(tree)
    assert report['changed'] is False
    assert dict((n, v) for n, v in tree.snapshot().items() if n != 'kernel') == before
    assert tree.run()['shortcut'] == 'state'


def test_rewritten_module_is_read_again(tree):
    tree.run()
    # same size and mtime, new content through a new inode: the inode tells
    st = os.stat(tree.path('kernel/c.ko'))
    shutil.copy(tree.path('kernel/a.ko'), tree.path('kernel/c.new'))
    os.rename(tree.path('kernel/c.new'), tree.path('kernel/c.ko'))
    os.utime(tree.path('kernel/c.ko'), ns=(st.st_atime_ns, st.st_mtime_ns))
    report = _fall_through(tree)
    # c now exports sa too and, later in modules.order, owns it
    assert report['written'] == ['modules.dep', 'modules.dep.bin', 'modules.alias', 'modules.alias.bin',
                                 'modules.symbols', 'modules.symbols.bin']
    assert tree.read('modules.dep') == b'kernel/a.ko:\nkernel/b.ko: kernel/c.ko\nkernel/c.ko:\n'


def test_new_module_is_indexed(tree):
    tree.run()
    tree.add_spare('d.ko', 'updates/d.ko')
    report = _fall_through(tree)
    assert report['modules'] == 4
    assert tree.read('modules.dep') == DEP_TEXT + b'updates/d.ko: kernel/a.ko\n'
    assert report['files']['modules.dep'] == {'action': 'update', 'added': 1, 'removed': 0}
    assert report['files']['modules.alias'] == {'action': 'update', 'added': 1, 'removed': 0}
    assert report['written'] == ['modules.dep', 'modules.dep.bin', 'modules.alias', 'modules.alias.bin']
    # a .bin takes the counts of the text it mirrors; they are what reading both tries back says
    assert report['files']['modules.dep.bin'] == report['files']['modules.dep']
    assert report['files']['modules.alias.bin'] == report['files']['modules.alias']


def test_bin_counts_are_those_of_the_tries(tree):
    tree.run()
    before = dict((name, tree.read(name)) for name in ('modules.dep.bin', 'modules.alias.bin'))
    tree.add_spare('d.ko', 'updates/d.ko')
    report = _fall_through(tree)
    for name, old in before.items():
        read_back = change_summary(FileChange(tree.path(name), old, tree.read(name)))
        assert report['files'][name] == read_back, name


def test_removed_module_is_dropped(tree):
    tree.run()
    os.unlink(tree.path('kernel/c.ko'))
    report = _fall_through(tree)
    assert tree.read('modules.dep') == b'kernel/a.ko:\nkernel/b.ko: kernel/a.ko\n'
    assert report['files']['modules.dep'] == {'action': 'update', 'added': 0, 'removed': 1}


def test_changed_config_is_applied(tree):
    tree.run()
    with open(os.path.join(tree.conf_dir, 'x.conf'), 'w') as f:
        f.write('exclude c.ko\n')
    report = _fall_through(tree)
    assert tree.read('modules.dep') == b'kernel/a.ko:\nkernel/b.ko: kernel/a.ko\n'
    assert report['skipped'] == [{'path': tree.path('kernel/c.ko'), 'reason': 'excluded'}]
    # and the shortcut reports what the full run reported
    again = tree.run()
    assert again['shortcut'] == 'state' and again['skipped'] == report['skipped']


def test_changed_modules_order_is_applied(tree):
    tree.run()
    with open(tree.path('modules.order'), 'w') as f:
        f.write('kernel/c.ko\nkernel/b.ko\nkernel/a.ko\n')
    _fall_through(tree)
    assert tree.read('modules.dep') == b'kernel/c.ko:\nkernel/b.ko: kernel/a.ko\nkernel/a.ko:\n'


def test_changed_builtin_list_is_applied(tree):
    tree.run()
    with open(tree.path('modules.builtin'), 'a') as f:
        f.write('kernel/y.ko\n')
    report = _fall_through(tree)
    assert report['written'] == ['modules.builtin.bin']
    assert report['files']['modules.builtin.bin'] == {'action': 'update', 'added': 1, 'removed': 0}


def test_changed_kmod_flavour_is_applied(tree):
    tree.run()
    report = tree.run(flavour=KmodFlavour(34))
    assert report['shortcut'] is None
    assert 'modules.weakdep' in report['written']
    assert tree.read('modules.weakdep') == b'# Weak dependencies extracted from modules themselves.\n'
    # pre-order tries: the root node right after the 12-byte header
    assert tree.read('modules.dep.bin')[8:12] == bytes([0x20, 0, 0, 12])
    assert sorted(BinaryIndex.from_bytes(tree.read('modules.dep.bin')).items())[0] == ('a', 0, 'kernel/a.ko:')


# ---------------------------------------------------------------- check mode and diff

def test_check_mode_writes_nothing_and_reports_exactly(tree):
    before = tree.snapshot()
    report = tree.run(check_mode=True)
    assert report['changed'] is True and report['written'] == OUTPUTS
    assert report['files']['modules.dep'] == {'action': 'create', 'added': 3, 'removed': 0}
    assert tree.snapshot() == before
    assert not os.path.exists(tree.cache_dir)

    tree.run()
    tree.add_spare('d.ko', 'extra/d.ko')
    before = tree.snapshot()
    report = tree.run(check_mode=True)
    assert report['changed'] is True
    assert report['written'] == ['modules.dep', 'modules.dep.bin', 'modules.alias', 'modules.alias.bin']
    assert report['files']['modules.alias'] == {'action': 'update', 'added': 1, 'removed': 0}
    assert report['diff'][0]['after'] == (DEP_TEXT + b'extra/d.ko: kernel/a.ko\n').decode()
    assert report['diff'][0]['before'] == DEP_TEXT.decode()
    assert tree.snapshot() == before
    assert tree.run()['written'] == report['written']


def test_diff_is_bounded(tree, monkeypatch):
    monkeypatch.setattr('ansible_collections.kernel.kmod.plugins.module_utils.depmod.pipeline.DIFF_MAX_BYTES', 10)
    report = tree.run(check_mode=True)
    assert report['diff'][0]['after'] == 'kernel/a.k\n[... %d more bytes not shown]\n' % (len(DEP_TEXT) - 10)
    assert DIFF_MAX_BYTES == 65536


def test_large_diff_shows_the_changed_region():
    old = b''.join(b'line %d\n' % i for i in range(100))
    new = old.replace(b'line 50\n', b'line fifty\n')
    entry = bounded_diff(FileChange('/d/modules.dep', old, new), 200, context=2)
    assert entry['before'] == ('[... 48 unchanged lines not shown]\nline 48\nline 49\nline 50\nline 51\nline 52\n'
                               '[... 47 unchanged lines not shown]\n')
    assert entry['after'] == entry['before'].replace('line 50', 'line fifty')
    appended = bounded_diff(FileChange('/d/modules.dep', old, old + b'new\n'), 200, context=1)
    assert appended['before'] == '[... 99 unchanged lines not shown]\nline 99\n'
    assert appended['after'] == '[... 99 unchanged lines not shown]\nline 99\nnew\n'
    two = old.replace(b'line 10\n', b'ten\n').replace(b'line 90\n', b'ninety\n')
    entry = bounded_diff(FileChange('/d/modules.dep', old, two), 200, context=1)
    assert entry['before'] == ('[... 9 unchanged lines not shown]\nline 9\nline 10\nline 11\n'
                               '[... 77 unchanged lines not shown]\nline 89\nline 90\nline 91\n'
                               '[... 8 unchanged lines not shown]\n')
    assert entry['after'] == entry['before'].replace('line 10\n', 'ten\n').replace('line 90\n', 'ninety\n')
    small = bounded_diff(FileChange('/d/modules.dep', b'a\n', b'b\n'), 200)
    assert (small['before'], small['after']) == ('a\n', 'b\n')


def test_change_summary_counts_entries():
    old = b'x\ny\ny\n'
    new = b'y\nz\nw\n'
    assert change_summary(FileChange('/d/modules.alias', old, new)) == {'action': 'update', 'added': 2, 'removed': 2}
    assert change_summary(FileChange('/d/modules.dep.bin', b'garbage', b'')) == {
        'action': 'update', 'added': 0, 'removed': 0}


def test_change_summary_of_a_bin_from_its_known_entries():
    from ansible_collections.kernel.kmod.plugins.module_utils.index.bulk import build_index_bytes
    old_entries = [('a', 'm1', 0), ('b', 'm2', 1), ('b', 'm3', 2)]
    new_entries = [('a', 'm1', 0), ('b', 'm3', 2), ('c', 'm4', 3), ('c', 'm4', 3)]
    change = FileChange('/d/modules.alias.bin', build_index_bytes(old_entries), build_index_bytes(new_entries))
    expected = {'action': 'update', 'added': 2, 'removed': 1}
    assert change_summary(change) == expected
    assert change_summary(change, new_entries) == expected
    created = FileChange('/d/modules.alias.bin', None, build_index_bytes(new_entries))
    assert change_summary(created) == change_summary(created, new_entries) == {
        'action': created.action, 'added': 4, 'removed': 0}


# ---------------------------------------------------------------- bad input

def _cycle_tree(tree):
    tree.add_spare('cyc_a.ko', 'kernel/cyc_a.ko')
    tree.add_spare('cyc_b.ko', 'kernel/cyc_b.ko')


def test_cycle_fails_and_writes_nothing(tree):
    _cycle_tree(tree)
    before = tree.snapshot()
    with pytest.raises(KmodError) as info:
        tree.run()
    assert info.value.msg == ('kernel release %s: dependency cycle: cyc_b -> cyc_a -> cyc_b; nothing was written'
                              % REL)
    assert tree.snapshot() == before
    assert not os.path.exists(tree.cache_dir)


def test_cycle_in_one_release_leaves_all_untouched(tree):
    _cycle_tree(tree)
    other = os.path.join(tree.root, 'lib', 'modules', REL2)
    before = sorted(os.listdir(other))
    with pytest.raises(KmodError):
        run_depmod_releases([REL2, REL], options=tree.options())
    assert sorted(os.listdir(other)) == before


def test_corrupt_and_empty_modules_are_reported_and_indexed_bare(tree):
    with open(tree.path('kernel/bad.ko'), 'wb') as f:
        f.write(b'\x7fELF garbage')
    with open(tree.path('kernel/empty.ko'), 'wb') as f:
        f.write(b'')
    report = tree.run()
    assert sorted(s['path'] for s in report['skipped']) == [tree.path('kernel/bad.ko'), tree.path('kernel/empty.ko')]
    assert all(s['reason'] for s in report['skipped'])
    # kmod keeps such a file in modules.dep, with no dependencies (unlisted files in kmod's hash order)
    assert tree.read('modules.dep') == DEP_TEXT + b'kernel/empty.ko:\nkernel/bad.ko:\n'
    assert report['modules'] == 5


def test_missing_module_dir_names_release_and_path(tree):
    with pytest.raises(KmodError) as info:
        tree.run('9.9.9-none')
    assert info.value.msg.startswith('kernel release 9.9.9-none: no module directory (looked for %s'
                                     % os.path.join(tree.root, 'lib', 'modules', '9.9.9-none'))
    assert info.value.path == os.path.join(tree.root, 'lib', 'modules', '9.9.9-none')


def test_read_only_module_dir_fails_cleanly(pristine):
    base, spare = pristine
    top = tempfile.mkdtemp(prefix='kmod-depmod-ro-')
    try:
        os.chmod(top, 0o755)
        root = os.path.join(top, 'root')
        shutil.copytree(base, root, symlinks=True)
        for directory, _dirs, _files in os.walk(root):
            os.chmod(directory, 0o755)
        tree = Tree(root, spare)
        tree.run(cache_dir=None)
        tree.add_spare('d.ko', 'kernel/d.ko')
        os.chmod(tree.path('kernel/d.ko'), 0o644)
        if os.geteuid() != 0:
            os.chmod(tree.module_dir, 0o555)
        before = tree.snapshot()

        def attempt():
            with pytest.raises(KmodError) as info:
                tree.run(cache_dir=None)
            assert info.value.msg.startswith('kernel release %s: cannot write %s' % (REL, tree.module_dir))
            assert info.value.errno is not None

        try:
            assert as_nobody(attempt) == 0
        finally:
            os.chmod(tree.module_dir, 0o755)
        assert tree.snapshot() == before  # no index changed, no temporary file left
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ---------------------------------------------------------------- depmod -A

def test_quick_mode(tree):
    report = tree.run(quick=True)  # no modules.dep yet: a full run
    assert report['changed'] is True and report['shortcut'] is None
    before = tree.snapshot()
    report = tree.run(quick=True, cache_dir=None)
    assert (report['changed'], report['shortcut'], report['modules']) == (False, 'quick', 3)
    assert tree.snapshot() == before
    # a new module, older than modules.dep: depmod -A does not see it either
    dep_mtime = os.stat(tree.path('modules.dep')).st_mtime
    target = tree.add_spare('d.ko', 'extra/d.ko')
    os.utime(target, (dep_mtime - 10, dep_mtime - 10))
    assert tree.run(quick=True, cache_dir=None)['shortcut'] == 'quick'
    # newer by whole seconds: a full run
    os.utime(target, (dep_mtime + 2, dep_mtime + 2))
    report = tree.run(quick=True, cache_dir=None)
    assert report['shortcut'] is None and report['changed'] is True
    assert tree.read('modules.dep').endswith(b'extra/d.ko: kernel/a.ko\n')


def test_quick_rule_ignores_build_and_other_files(tree):
    tree.run()
    dep_mtime = os.stat(tree.path('modules.dep')).st_mtime
    for rel in ('build/new.ko', 'kernel/notes.txt'):
        os.makedirs(os.path.dirname(tree.path(rel)), exist_ok=True)
        with open(tree.path(rel), 'w') as f:
            f.write('x')
        os.utime(tree.path(rel), (dep_mtime + 5, dep_mtime + 5))
    assert quick_up_to_date(tree.module_dir, ('.ko',)) == (True, None)
    os.utime(tree.path('kernel/b.ko'), (dep_mtime + 5, dep_mtime + 5))
    assert quick_up_to_date(tree.module_dir, ('.ko',)) == (
        False, '%s is newer than modules.dep' % tree.path('kernel/b.ko'))


# ---------------------------------------------------------------- several releases

def test_all_releases(tree):
    result = run_depmod_releases('all', options=tree.options())
    assert result['changed'] is True
    assert sorted(result['releases']) == [REL, REL2]
    for release in (REL, REL2):
        assert result['releases'][release]['written'] == OUTPUTS
        with open(os.path.join(tree.root, 'lib', 'modules', release, 'modules.dep'), 'rb') as f:
            assert f.read() == DEP_TEXT
    assert len(result['diff']) == 6
    again = run_depmod_releases(['all'], options=tree.options())
    assert again['changed'] is False
    assert [again['releases'][r]['shortcut'] for r in (REL, REL2)] == ['state', 'state']


def test_resolve_releases(tmp_path):
    assert resolve_releases(None) == [os.uname()[2]]
    assert resolve_releases(['a', 'b', 'a']) == ['a', 'b']
    with pytest.raises(KmodError) as info:
        resolve_releases('all', str(tmp_path))
    assert info.value.msg == 'no kernel release has a module directory under %s/lib/modules' % tmp_path
    with pytest.raises(KmodError):
        resolve_releases(['../etc'])


# ---------------------------------------------------------------- kernel symbols

def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return path


def test_check_symbols_with_symvers(tree):
    symvers = _write(os.path.join(tree.root, 'Module.symvers'), '0x00000000\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n')
    report = tree.run(check_symbols=True, symvers=symvers)
    assert report['unresolved'] == [{'module': 'b', 'path': tree.path('kernel/b.ko'), 'symbol': 'missing_sym'}]
    assert report['messages'] == ['%s needs unknown symbol missing_sym' % tree.path('kernel/b.ko')]
    assert tree.read('modules.dep') == DEP_TEXT
    # the state shortcut gives the same report
    again = tree.run(check_symbols=True, symvers=symvers)
    assert again['shortcut'] == 'state' and again['unresolved'] == report['unresolved']


def test_check_symbols_with_system_map(tree):
    system_map = _write(os.path.join(tree.root, 'System.map'),
                        'ffffffff81000000 T printk\nffffffff82000000 r __ksymtab_printk\n')
    report = tree.run(check_symbols=True, system_map=system_map)
    assert [u['symbol'] for u in report['unresolved']] == ['missing_sym']
    # without check_symbols the list is loaded but nothing is reported
    assert tree.run(system_map=system_map, cache_dir=None)['unresolved'] == []


def test_fail_on_unresolved_fails_and_writes_nothing(tree):
    system_map = _write(os.path.join(tree.root, 'System.map'), 'ffffffff82000000 r __ksymtab_printk\n')
    with pytest.raises(KmodError) as info:
        tree.run(fail_on_unresolved=True, system_map=system_map)
    assert info.value.msg == ('kernel release %s: 1 unresolved symbol(s) and 0 symbol version mismatch(es): '
                              '%s needs unknown symbol missing_sym' % (REL, tree.path('kernel/b.ko')))
    assert _outputs(tree) == []


def test_symbol_options_are_checked(tree):
    with pytest.raises(KmodError) as info:
        tree.options(symvers='/a', system_map='/b')
    assert 'mutually exclusive' in info.value.msg
    with pytest.raises(KmodError) as info:
        tree.options(fail_on_unresolved=True)
    assert info.value.msg.startswith('fail_on_unresolved needs symvers or system_map')
    report = tree.run(check_symbols=True)
    assert report['warnings'] == ['check_symbols needs symvers or system_map; symbols not checked '
                                  '(as depmod -e without -E or -F)']
    with pytest.raises(KmodError) as info:
        tree.run(symvers=os.path.join(tree.root, 'nope'), cache_dir=None)
    assert info.value.msg.startswith('kernel release %s: could not load %s/nope' % (REL, tree.root))


def test_parallel_parse_gives_the_same_files(tree, monkeypatch):
    monkeypatch.setattr(depmod_parse, 'PARALLEL_MIN_FILES', 1)
    tree.run(workers=2, cache_dir=None)
    assert tree.read('modules.dep') == DEP_TEXT


def test_plan_release_writes_nothing(tree):
    plan = plan_release(REL, tree.options())
    assert [os.path.basename(c.path) for c in plan.changes] == OUTPUTS
    assert _outputs(tree) == []


def test_unusable_cache_dir_only_warns(tree):
    blocker = os.path.join(tree.root, 'not-a-dir')
    with open(blocker, 'w') as f:
        f.write('x')
    cache = os.path.join(blocker, 'cache')
    report = tree.run(cache_dir=cache)
    assert report['changed'] is True and tree.read('modules.dep') == DEP_TEXT
    assert [w.split(' %s' % cache)[0] for w in report['warnings']] == [
        'ignoring unreadable parse cache', 'cannot save parse cache', 'cannot save depmod state']
    assert tree.run(cache_dir=cache)['shortcut'] is None


# ---------------------------------------------------------------- caches that were tampered with

def _poison_parse_cache(tree, change):
    [name] = [n for n in os.listdir(tree.cache_dir) if n.endswith('.parse')]
    path = os.path.join(tree.cache_dir, name)
    with open(path, 'rb') as f:
        doc = marshal.loads(f.read())
    [entry] = [e for p, e in doc['entries'].items() if p.endswith('/a.ko')]
    change(entry[1])
    with open(path, 'wb') as f:
        f.write(marshal.dumps(doc))


@pytest.mark.parametrize('change', [
    lambda r: r.__setitem__(0, r[0].replace('alias=foo-bar', 'alias=foo-bar\ninstall evil /bin/sh')),
    lambda r: r.__setitem__(0, r[0].replace('alias=foo-bar', 'alias=other\x1b[0m')),
    lambda r: r.__setitem__(1, r[1] + '\n\nx'),
    lambda r: r.__setitem__(2, ['not a crc'] * len(r[2])),
    lambda r: r.__setitem__(2, r[2] + [1]),
    lambda r: r.pop(),
    # what marshal can hold and JSON could not: bytes, a set, a code object
    lambda r: r.__setitem__(0, r[0].encode()),
    lambda r: r.__setitem__(1, frozenset(r[1].split('\n'))),
    lambda r: r.__setitem__(3, compile('1', 'x', 'eval')),
])
def test_a_cache_entry_no_parse_could_make_is_parsed_again(tree, change):
    tree.run()
    alias_before = tree.read('modules.alias')
    os.utime(tree.path('kernel/b.ko'), ns=(1, 1))       # a full run that reads a.ko from the cache
    _poison_parse_cache(tree, change)
    report = tree.run()
    assert report['shortcut'] is None
    # before: the entry was taken as it was, and 'install evil /bin/sh' became a line of modules.alias
    assert tree.read('modules.alias') == alias_before
    assert tree.read('modules.dep') == DEP_TEXT


def test_a_state_file_that_does_not_hold_what_a_run_saves_is_ignored(tree):
    tree.run()
    [name] = [n for n in os.listdir(tree.cache_dir) if n.endswith('.state')]
    path = os.path.join(tree.cache_dir, name)
    with open(path, 'rb') as f:
        state = marshal.loads(f.read())
    state['report']['modules'] = [b'bytes are not plain data']
    with open(path, 'wb') as f:
        f.write(marshal.dumps(state))
    report = tree.run()
    assert report['shortcut'] is None and report['modules'] == 3
    assert any('does not hold what a run saves' in w for w in report['warnings'])


def test_a_cache_directory_others_can_write_is_not_used(tree):
    tree.run()
    os.chmod(tree.cache_dir, 0o777)
    report = tree.run()
    assert report['shortcut'] is None and report['changed'] is False
    assert any('cache is writable by group and others (mode 0777)' in w for w in report['warnings'])


# ---------------------------------------------------------------- concurrent runs, inputs that change meanwhile

def _outputs_bytes(tree):
    return dict((name, tree.read(name)) for name in _outputs(tree))


def _fresh_outputs(tree):
    """What one run with no cache writes for the tree as it is now (in a copy)."""
    copy = tempfile.mkdtemp(prefix='depmod-fresh-')
    try:
        shutil.copytree(tree.root, os.path.join(copy, 'root'), symlinks=True)
        other = Tree.__new__(Tree)
        other.root = os.path.join(copy, 'root')
        other.module_dir = os.path.join(other.root, 'lib', 'modules', REL)
        other.conf_dir = os.path.join(other.root, 'depmod.d')
        other.cache_dir = None
        for name in _outputs(other):
            os.unlink(other.path(name))
        other.run(cache_dir=None)
        return _outputs_bytes(other)
    finally:
        shutil.rmtree(copy)


def _run_in_children(tree, count):
    pids = []
    for _n in range(count):
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                tree.run()
                status = 0
            finally:
                os._exit(status)
        pids.append(pid)
    return [os.waitpid(pid, 0)[1] for pid in pids]


@pytest.mark.parametrize('count', [2, 4])
def test_concurrent_runs_end_as_one_run_and_no_state_lies(tree, count):
    for round_number in range(3):
        # a new module between rounds, so every round has real work
        tree.add_spare('d.ko', 'extra/d%d.ko' % round_number)
        assert _run_in_children(tree, count) == [0] * count
        assert _outputs_bytes(tree) == _fresh_outputs(tree)
        report = tree.run()
        # the state shortcut is taken only where the outputs are those of the tree as it is
        assert report['shortcut'] == 'state' and report['changed'] is False
        assert report['modules'] == 4 + round_number


def test_a_module_added_during_a_run_is_not_vouched_for_by_the_state(tree, monkeypatch):
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod import pipeline
    real_apply = pipeline.apply_changes

    def apply_then_add(changes):
        real_apply(changes)
        tree.add_spare('d.ko', 'extra/late.ko')   # lands after the scan, before the state is saved
    monkeypatch.setattr(pipeline, 'apply_changes', apply_then_add)
    report = tree.run()
    assert b'extra/late.ko' not in tree.read('modules.dep')
    monkeypatch.setattr(pipeline, 'apply_changes', real_apply)
    # the state holds the fingerprint taken before the tree was read (without late.ko): the next
    # run's differs, so it rebuilds instead of taking the outputs without late.ko as current
    report = tree.run()
    assert report['shortcut'] is None and report['modules'] == 4
    assert b'extra/late.ko' in tree.read('modules.dep')


def test_a_run_waits_for_another_that_holds_the_module_directory(tree):
    from ansible_collections.kernel.kmod.plugins.module_utils.lock import DirectoryLock
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            DirectoryLock(tree.module_dir, 'test').acquire()
            os.write(write_end, b'x')
            import time
            time.sleep(60)
        finally:
            os._exit(0)
    assert os.read(read_end, 1) == b'x'
    try:
        with pytest.raises(KmodError) as info:
            tree.run(lock_wait=0.2)
        assert info.value.msg.startswith('kmod_depmod: another run (pid %d) is working on %s' % (pid, tree.module_dir))
        assert _outputs(tree) == []
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert tree.run()['changed'] is True
