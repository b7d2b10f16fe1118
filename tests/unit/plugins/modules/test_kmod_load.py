"""kmod_load run as Ansible runs it: the module file executed with an args file.

Runs that change the kernel go through a launcher that gives load_task a
System over a fake root (FakeTree + FakeKernel) with FakeKernelCalls; the
fake kernel is pickled between runs so a second run sees what the first did.
"""

import json
import os
import pickle
import subprocess
import sys

import pytest

from tests.lib.fake_kernel import FakeKernel
from tests.lib.fake_tree import FakeTree
from tests.lib.module_runner import REPO, run_module as run_module_file, warning_texts

RELEASE = '6.1.0-test-amd64'
MODULE_FILE = os.path.join(REPO, 'plugins', 'modules', 'kmod_load.py')

LAUNCHER = '''
import atexit, json, pickle, runpy, sys
from tests.lib.fake_calls import FakeKernelCalls
from ansible_collections.kernel.kmod.plugins.module_utils.load import task as load_task

state_file, module_file, args_file = sys.argv[1:4]
with open(state_file, 'rb') as f:
    kernel = pickle.load(f)
calls = FakeKernelCalls(kernel)


RealSystem = load_task.System


class FakeSystem(RealSystem):
    def __init__(self):
        RealSystem.__init__(self, root=kernel.root, calls=calls)


def save():
    with open(state_file, 'wb') as f:
        pickle.dump(kernel, f)
    with open(state_file + '.calls', 'w') as f:
        json.dump(calls.calls, f)


load_task.System = FakeSystem
atexit.register(save)
sys.argv = [module_file, args_file]
runpy.run_path(module_file, run_name='__main__')
'''


class FakeHost(object):
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.root = str(tmp_path / 'host')
        tree = FakeTree(self.root, RELEASE)
        tree.add('kernel/drivers/net/dummy.ko', modinfo=['license=GPL', 'alias=rtnl-link-dummy'])
        tree.add('kernel/net/core/netcore.ko', modinfo=['license=GPL'], exports=['netcore_register'])
        tree.add('kernel/drivers/net/bonding.ko', modinfo=['license=GPL'], needs=['netcore_register'])
        tree.depmod()
        for directory in ('etc/modules-load.d', 'etc/modprobe.d', 'usr/lib/systemd'):
            os.makedirs(os.path.join(self.root, directory))
        open(os.path.join(self.root, 'usr/lib/systemd/systemd-modules-load'), 'w').close()
        self.state = str(tmp_path / 'kernel.pickle')
        kernel = FakeKernel(self.root)
        kernel.write()
        self.save(kernel)
        self.launcher = str(tmp_path / 'launcher.py')
        with open(self.launcher, 'w') as f:
            f.write(LAUNCHER)
        self.runs = 0

    def save(self, kernel):
        with open(self.state, 'wb') as f:
            pickle.dump(kernel, f)

    def kernel(self):
        with open(self.state, 'rb') as f:
            return pickle.load(f)

    def calls(self):
        with open(self.state + '.calls') as f:
            return [tuple(c) for c in json.load(f)]

    def run(self, args, check=False, diff=False):
        self.runs += 1
        args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        args_file = str(self.tmp / ('args-%d.json' % self.runs))
        with open(args_file, 'w') as f:
            json.dump({'ANSIBLE_MODULE_ARGS': args}, f)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, '.build')] + sys.path))
        proc = subprocess.run([sys.executable, self.launcher, self.state, MODULE_FILE, args_file],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              env=env, check=False, cwd=REPO)
        assert proc.stdout, proc.stderr
        return json.loads(proc.stdout)

    def loaded(self):
        return sorted(m['name'] for m in self.kernel().modules)

    def read(self, rel):
        with open(os.path.join(self.root, rel)) as f:
            return f.read()


@pytest.fixture
def host(tmp_path):
    return FakeHost(tmp_path)


def test_load_then_idempotent(host):
    result = host.run({'name': 'dummy', 'params': {'numdummies': 2}})
    assert result['changed'] is True and result['inserted'] == ['dummy']
    assert result['params'] == 'numdummies=2'
    path = os.path.join(host.root, 'lib/modules', RELEASE, 'kernel/drivers/net/dummy.ko')
    assert host.calls() == [('insert', path, 'numdummies=2')]
    assert host.kernel().modules[0]['params'] == {'numdummies': '2'}
    again = host.run({'name': 'dummy', 'params': 'numdummies=2'})
    assert again['changed'] is False and again['live'] == ['dummy'] and host.calls() == []
    assert 'warnings' not in again


def test_live_with_other_params_warns(host):
    host.run({'name': 'dummy', 'params': 'numdummies=2'})
    result = host.run({'name': 'dummy', 'params': 'numdummies=3'})
    assert result['changed'] is False
    assert result['params_differ'] == {'numdummies': {'asked': '3', 'live': '2'}}
    assert warning_texts(result)[0].startswith('dummy is already loaded with other parameter values: numdummies=3')


def test_check_mode_and_diff(host):
    result = host.run({'name': 'bonding', 'persistent': 'present', 'params': 'miimon=100'}, check=True, diff=True)
    assert result['changed'] is True and result['inserted'] == ['netcore', 'bonding']
    assert [d['after_header'] for d in result['diff']][:-1] == [
        os.path.join(host.root, 'etc/modules-load.d/bonding.conf'), os.path.join(host.root, 'etc/modprobe.d/bonding.conf')]
    # and the loaded modules, before and after
    assert (result['diff'][-1]['before'], result['diff'][-1]['after']) == ('', 'bonding\nnetcore\n')
    assert host.calls() == [] and host.loaded() == []
    assert os.listdir(os.path.join(host.root, 'etc/modules-load.d')) == []


def test_persist_load_unload(host):
    result = host.run({'name': 'bonding', 'persistent': 'present', 'params': 'miimon=100'})
    assert result['changed'] is True and host.loaded() == ['bonding', 'netcore']
    assert host.read('etc/modprobe.d/bonding.conf').endswith('options bonding miimon=100\n')
    assert host.read('etc/modules-load.d/bonding.conf').endswith('\nbonding\n')
    kernel = host.kernel()
    # the fake does not count references: say netcore is used by bonding, as the kernel would
    netcore = [m for m in kernel.modules if m['name'] == 'netcore'][0]
    netcore.update(used_by=['bonding'], holders=['bonding'], refcnt=1)
    kernel.write()
    host.save(kernel)
    gone = host.run({'name': 'bonding', 'state': 'absent', 'persistent': 'absent'})
    assert gone['changed'] is True and gone['deleted'] == ['bonding', 'netcore']
    assert host.loaded() == []
    assert [p['action'] for p in gone['persistence']] == ['remove', 'remove']
    again = host.run({'name': 'bonding', 'state': 'absent', 'persistent': 'absent'})
    assert again['changed'] is False and again['not_loaded'] == ['bonding']


def test_unknown_module_fails_in_kmods_words(host):
    result = host.run({'name': 'nosuch'})
    assert result['failed'] is True
    assert result['msg'] == 'Module nosuch not found in directory %s' % os.path.join(host.root, 'lib/modules', RELEASE)
    assert result['errno_name'] == 'ENOENT'


def test_bad_arguments_fail_cleanly(tmp_path):
    result = run_module_file('kmod_load', tmp_path, {'name': 'dummy', 'state': 'gone'})
    assert result['failed'] is True and 'state' in result['msg']
    result = run_module_file('kmod_load', tmp_path, {'name': 'dummy', 'state': 'absent', 'persistent': 'present'})
    assert result['failed'] is True and 'persistent=present with state=absent' in result['msg']
    result = run_module_file('kmod_load', tmp_path, {'name': 'dummy', 'params': ['a=1']})
    assert result['failed'] is True and result['msg'] == 'params must be a string or a mapping of parameter names to values'


@pytest.mark.parametrize('params, message', [
    # a lone surrogate as the whole string stops in AnsibleModule's own logging of its arguments (ansible-core
    # encodes each str argument to UTF-8), before this collection's code runs; inside a mapping it reaches us
    ({'a': '\udc80'}, "params: '\\udc80' at position 2 of 'a=\\udc80' is a lone surrogate, not encodable as UTF-8; "
                      "parameters must be one line of printable text"),
    ('a="2', "params: unbalanced double quote in 'a=\"2' (a value in quotes needs its closing quote)"),
    ({'a': {'b': [1]}}, "params: the value of a must be a string, number, boolean or a list of them, not {'b': [1]}"),
])
def test_bad_params_fail_without_a_traceback(host, params, message):
    result = host.run({'name': 'dummy', 'params': params, 'persistent': 'present'})
    assert result['failed'] is True and result['msg'] == message
    assert 'exception' not in result and 'module_stderr' not in result
    assert host.calls() == [] and os.listdir(os.path.join(host.root, 'etc/modprobe.d')) == []


def test_a_list_of_names_is_a_list(host):
    # once turned into the string "['dummy', 'bonding']": absent then succeeded and left both loaded
    loaded = host.run({'name': ['dummy', 'bonding']})
    assert loaded['changed'] is True and loaded['inserted'] == ['dummy', 'netcore', 'bonding']
    assert loaded['name'] == ['dummy', 'bonding'] and [e['name'] for e in loaded['results']] == ['dummy', 'bonding']
    kernel = host.kernel()
    netcore = [m for m in kernel.modules if m['name'] == 'netcore'][0]
    netcore.update(used_by=['bonding'], holders=['bonding'], refcnt=1)
    kernel.write()
    host.save(kernel)
    gone = host.run({'name': ['dummy', 'bonding'], 'state': 'absent'})
    assert gone['changed'] is True and gone['deleted'] == ['dummy', 'bonding', 'netcore']
    assert host.loaded() == []


@pytest.mark.parametrize('args, message', [
    ({'name': ['dummy', '']}, 'name: element 2 of the list is empty'),
    ({'name': 'dummy;reboot'}, "name 'dummy;reboot': ';' cannot be in a module name, alias or path"),
    ({'name': ['dummy', 'nosuch']}, 'Module nosuch not found in directory '),
    ({'name': 'dummy', 'state': 'absent', 'wait': -1}, 'wait must be a number of seconds, 0 or more, not -1'),
])
def test_bad_names_and_wait_fail_cleanly(host, args, message):
    result = host.run(args)
    assert result['failed'] is True and result['msg'].startswith(message)
    assert host.calls() == [] and host.loaded() == []
