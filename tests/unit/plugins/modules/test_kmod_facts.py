"""kmod_facts run as Ansible runs it: the module file executed with an args file."""

import json
import os
import subprocess
import sys

import pytest

from tests.lib.fake_tree import FakeTree

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..', '..'))
MODULE = os.path.join(REPO, 'plugins', 'modules', 'kmod_facts.py')
RELEASE = '6.1.0-test-amd64'


def run_module(tmp_path, args):
    args_file = tmp_path / 'args.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, '.build')] + sys.path))
    proc = subprocess.run([sys.executable, MODULE, str(args_file)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env, check=False)
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def warning_texts(result):
    """Warning messages: plain strings before ansible-core 2.19, summaries since."""
    return [w if isinstance(w, str) else w['event']['msg'] for w in result.get('warnings', [])]


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
