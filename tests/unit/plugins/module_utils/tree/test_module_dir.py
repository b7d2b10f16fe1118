import os

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.tree.module_dir import (
    ModuleTree, check_release, find_module_dir, parse_dep_value, releases_under,
)
from tests.lib.fake_tree import FakeTree

RELEASE = '6.1.0-test-amd64'


@pytest.fixture
def tree(tmp_path):
    fake = FakeTree(tmp_path, RELEASE)
    fake.add('kernel/a/core-x.ko', modinfo=['license=GPL', 'alias=pci:v00001111d*'], exports=['core_fn'])
    fake.add('kernel/b/user.ko.xz', modinfo=['license=GPL'], needs=['core_fn'], compress='xz')
    fake.add_builtin('kernel/kernel/printk.ko', modinfo=['parm=time:Show timing', 'alias=printk-alias'])
    fake.depmod()
    with ModuleTree(str(tmp_path), RELEASE) as t:
        yield t


def test_find_module_dir_prefers_lib_then_usr_lib(tmp_path):
    assert find_module_dir(str(tmp_path), 'r') is None
    os.makedirs(str(tmp_path / 'usr/lib/modules/r'))
    assert find_module_dir(str(tmp_path), 'r') == str(tmp_path / 'usr/lib/modules/r')
    os.makedirs(str(tmp_path / 'lib/modules/r'))
    assert find_module_dir(str(tmp_path), 'r') == str(tmp_path / 'lib/modules/r')
    os.makedirs(str(tmp_path / 'usr/lib/modules/s'))
    assert releases_under(str(tmp_path)) == ['r', 's']


def test_parse_dep_value():
    assert parse_dep_value('kernel/a.ko: kernel/b.ko kernel/c.ko') == ('kernel/a.ko', ['kernel/b.ko', 'kernel/c.ko'])
    assert parse_dep_value('kernel/a.ko:') == ('kernel/a.ko', [])


def test_dep_entry_and_paths(tree):
    mdir = tree.module_dir
    assert tree.dep_entry('user') == (os.path.join(mdir, 'kernel/b/user.ko.xz'), [os.path.join(mdir, 'kernel/a/core-x.ko')])
    assert tree.module_path('core-x') == os.path.join(mdir, 'kernel/a/core-x.ko')
    assert tree.dep_entry('nope') is None


def test_lookups(tree):
    assert tree.alias_matches('pci:v00001111d00002222') == ['core_x']
    assert tree.symbol_owner('core_fn') == ['core_x']
    assert tree.symbol_owner('symbol:core_fn') == ['core_x']
    assert tree.builtin_alias_matches('printk-alias') == ['printk']
    assert tree.builtin() == ['printk'] and tree.is_builtin('printk')
    assert tree.builtin_modinfo('printk') == [('parm', 'time:Show timing'), ('alias', 'printk-alias')]


def test_available(tree):
    mdir = tree.module_dir
    assert tree.available() == {'core_x': os.path.join(mdir, 'kernel/a/core-x.ko'),
                                'user': os.path.join(mdir, 'kernel/b/user.ko.xz')}


def test_text_fallback_and_walk_without_indexes(tree):
    mdir = tree.module_dir
    for name in os.listdir(mdir):
        if name.endswith('.bin'):
            os.unlink(os.path.join(mdir, name))
    with ModuleTree(tree.root, RELEASE) as t:
        assert t.dep_entry('user')[0].endswith('user.ko.xz')
        assert t.alias_matches('pci:v00001111d00002222') == ['core_x']
    os.unlink(os.path.join(mdir, 'modules.dep'))
    with ModuleTree(tree.root, RELEASE) as t:
        assert sorted(t.available()) == ['core_x', 'user']
        assert t.warnings == []


def test_corrupt_index_is_a_warning(tree):
    with open(os.path.join(tree.module_dir, 'modules.dep.bin'), 'wb') as f:
        f.write(b'\xb0\x07\xf4\x57garbage')
    with ModuleTree(tree.root, RELEASE) as t:
        assert t.dep_entry('user') is None
        assert len(t.warnings) == 1 and 'modules.dep.bin' in t.warnings[0]


def test_missing_module_dir(tmp_path):
    t = ModuleTree(str(tmp_path), 'nothing')
    assert not t.exists and t.available() == {} and t.builtin() == [] and t.dep_entry('x') is None


@pytest.mark.parametrize('release', ['', '.', '..', '/', '/etc', '../../etc', 'a/b', '6.1\n', 'a\0b', '\x7f', None, 6])
def test_a_release_that_would_lead_elsewhere_is_refused(tmp_path, release):
    (tmp_path / 'etc').mkdir()
    with pytest.raises(KmodError) as info:
        find_module_dir(str(tmp_path), release)
    assert info.value.msg.startswith('invalid kernel release %r: ' % (release,))
    with pytest.raises(KmodError):
        ModuleTree(str(tmp_path), release)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_check_release_accepts_exactly_one_plain_directory_name(release):
    plain = release not in ('', '.', '..') and '/' not in release and all(32 <= ord(c) != 127 for c in release)
    if plain:
        assert check_release(release) == release
    else:
        with pytest.raises(KmodError):
            check_release(release)
