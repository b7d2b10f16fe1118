import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.tree.lookup import lookup
from ansible_collections.kernel.kmod.plugins.module_utils.tree.module_dir import ModuleTree
from tests.lib.fake_tree import FakeTree

RELEASE = '6.1.0-test-amd64'


@pytest.fixture
def tree(tmp_path):
    fake = FakeTree(tmp_path, RELEASE)
    fake.add('kernel/a/snd-x.ko', modinfo=['license=GPL', 'alias=pci:v00001111d*', 'alias=snd-x-alias'],
             exports=['snd_x_fn'])
    fake.add('kernel/a/other.ko', modinfo=['license=GPL', 'alias=pci:v00001111d00000001*'])
    fake.add_builtin('kernel/kernel/printk.ko', modinfo=['alias=printk-alias'])
    fake.depmod()
    with ModuleTree(str(tmp_path), RELEASE) as t:
        yield t


def names(match):
    return (match.names, match.source, match.builtin) if match else None


def test_order_of_sources(tree):
    assert names(lookup(tree, 'snd-x')) == (['snd_x'], 'modules.dep', False)
    assert names(lookup(tree, 'symbol:snd_x_fn')) == (['snd_x'], 'modules.symbols', False)
    assert names(lookup(tree, 'snd_x_alias')) == (['snd_x'], 'modules.alias', False)
    assert names(lookup(tree, 'printk')) == (['printk'], 'modules.builtin', True)
    assert names(lookup(tree, 'printk-alias')) == (['printk'], 'modules.builtin.alias', True)
    assert lookup(tree, 'nothing') is None


def test_alias_matching_several_modules(tree):
    match = lookup(tree, 'pci:v00001111d00000001sv0')
    assert match.source == 'modules.alias' and sorted(match.names) == ['other', 'snd_x']


def test_config_alias_wins(tree):
    assert names(lookup(tree, 'snd-x', config_aliases=lambda a: ['other'] if a == 'snd_x' else [])) == (
        ['other'], 'config-alias', False)


def test_name_with_colon_skips_modules_dep(tree):
    assert lookup(tree, 'snd_x:1') is None
