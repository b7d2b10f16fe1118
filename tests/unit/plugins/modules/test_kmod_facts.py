"""kmod_facts run as Ansible runs it: the module file executed with an args file."""

import pytest

from tests.lib.module_runner import run_module as run_module_file
from tests.lib.fake_tree import FakeTree
from tests.lib.module_runner import warning_texts

RELEASE = '6.1.0-test-amd64'


def run_module(tmp_path, args):
    return run_module_file('kmod_facts', tmp_path, args)


@pytest.fixture
def image(tmp_path):
    tree = FakeTree(tmp_path / 'img', RELEASE)
    tree.add('kernel/drivers/net/dummy.ko', modinfo=['license=GPL', 'alias=rtnl-link-dummy', 'name=dummy'])
    tree.conf('etc/modprobe.d/bl.conf', 'blacklist pcspkr\n')
    return tree.depmod()


def test_facts_of_an_image(tmp_path, image):
    result = run_module(tmp_path, {'root': image, 'kernel_release': RELEASE, 'available': True,
                                   'modules': ['rtnl-link-dummy']})
    assert result['changed'] is False
    kmod = result['ansible_facts']['kmod']
    assert kmod['running'] is False
    assert list(kmod['available']) == ['dummy']
    assert kmod['info']['dummy']['license'] == 'GPL'
    assert kmod['lookup'] == {'rtnl-link-dummy': ['dummy']}
    assert [b['name'] for b in kmod['config']['blacklist']] == ['pcspkr']


def test_missing_module_warns(tmp_path, image):
    result = run_module(tmp_path, {'root': image, 'kernel_release': RELEASE, 'modules': ['nope']})
    assert result['ansible_facts']['kmod']['missing'] == ['nope']
    assert any('module nope not found' in w for w in warning_texts(result))


def test_bad_option_type_fails_cleanly(tmp_path, image):
    result = run_module(tmp_path, {'root': image, 'available': 'maybe'})
    assert result['failed'] is True
    assert 'available' in result['msg']
