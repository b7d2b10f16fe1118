"""load_task: the whole kmod_load task over a fake root (FakeTree + FakeKernel) with FakeKernelCalls."""

import errno
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from ansible_collections.kernel.kmod.plugins.module_utils.load import persistence as load_persistence
from ansible_collections.kernel.kmod.plugins.module_utils.load.task import System, TaskError, run_task
from tests.lib.fake_calls import FakeKernelCalls
from tests.lib.fake_kernel import FakeKernel
from tests.lib.fake_tree import FakeTree
from tests.lib.processes import HeldByChild

RELEASE = '6.1.0-test-amd64'
HEADER = load_persistence.HEADER


@pytest.fixture(scope='module')
def tree_root(tmp_path_factory):
    """dummy (parameter numdummies), bonding needing netcore, netcore, and a builtin crc32c."""
    root = tmp_path_factory.mktemp('tree')
    tree = FakeTree(root, RELEASE)
    tree.add('kernel/drivers/net/dummy.ko', modinfo=['license=GPL', 'alias=rtnl-link-dummy',
                                                     'parm=numdummies:Number of dummy pseudo devices',
                                                     'parmtype=numdummies:int'])
    tree.add('kernel/net/core/netcore.ko', modinfo=['license=GPL'], exports=['netcore_register'])
    tree.add('kernel/drivers/net/bonding.ko', modinfo=['license=GPL'], needs=['netcore_register'])
    tree.add('kernel/drivers/net/withcmd.ko', modinfo=['license=GPL'])
    tree.add('kernel/drivers/net/softy.ko', modinfo=['license=GPL'])
    tree.add('kernel/drivers/net/pre1.ko', modinfo=['license=GPL'])
    tree.add_builtin('kernel/crypto/crc32c.ko', modinfo=['license=GPL'])
    tree.depmod()
    return str(root)


class Host(object):
    """A fake host: the tree copied under a fresh root, a fake kernel, fake calls."""

    def __init__(self, tmp_path, tree_root, conf=None, systemd=True):
        self.root = str(tmp_path / 'host')
        os.makedirs(self.root)
        os.symlink(os.path.join(tree_root, 'lib'), os.path.join(self.root, 'lib'))
        if systemd:
            # systemd-modules-load reads modules-load.d at boot
            os.makedirs(os.path.join(self.root, 'usr/lib/systemd'))
            open(os.path.join(self.root, 'usr/lib/systemd/systemd-modules-load'), 'w').close()
        for path, text in (conf or {}).items():
            full = os.path.join(self.root, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, 'w') as f:
                f.write(text)
        self.kernel = FakeKernel(self.root)
        self.kernel.write()
        self.calls = FakeKernelCalls(self.kernel)
        self.ran = []

    def runner(self, command, module):
        self.ran.append((command, module))
        if command.startswith('load-it'):
            # an install command that loads its module under its own name, as most do
            self.kernel.add_module(module)
            self.kernel.write()
        return (1, '', 'refused\n') if 'false' in command else (0, 'done\n', '')

    def run(self, check_mode=False, diff=False, **options):
        system = System(root=self.root, calls=self.calls, kernel=KernelState(self.root), runner=self.runner)
        return run_task(options, check_mode=check_mode, diff=diff, system=system)

    def loaded(self):
        return sorted(KernelState(self.root).loaded())

    def path(self, rel):
        return os.path.join(self.root, rel)


def module_path(host, rel):
    return os.path.join(host.root, 'lib/modules', RELEASE, rel)


def test_load_with_params_then_idempotent(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    result, warnings = host.run(name='dummy', params='numdummies=2')
    assert result['changed'] is True and warnings == []
    assert result['inserted'] == ['dummy'] and result['modules'] == ['dummy']
    assert result['steps'] == [{'action': 'insert', 'name': 'dummy', 'path': module_path(host, 'kernel/drivers/net/dummy.ko'),
                                'options': 'numdummies=2', 'command': None, 'softdep': False, 'target': True}]
    assert host.calls.calls == [('insert', module_path(host, 'kernel/drivers/net/dummy.ko'), 'numdummies=2')]
    assert KernelState(host.root).module_params('dummy') == {'numdummies': '2'}
    again, warnings = host.run(name='dummy', params={'numdummies': 2})
    assert again['changed'] is False and again['live'] == ['dummy'] and again['inserted'] == []
    assert again['params_differ'] == {} and warnings == []
    assert len(host.calls.calls) == 1


# What a task without persistent never imports (AnsiballZ ships them; the node compiles only what is imported)
PERSISTENCE_ONLY = ('load.persistence', 'files', 'lock', 'trust', 'config.boot_options', 'config.modules_load',
                    'image.compression', 'index.writer')
IMPORTS_OF_A_TASK = r"""
import json, sys
from tests.lib.fake_calls import FakeKernelCalls
from tests.lib.fake_kernel import FakeKernel
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from ansible_collections.kernel.kmod.plugins.module_utils.load.task import System, run_task
prefix = 'ansible_collections.kernel.kmod.plugins.module_utils.'
root = sys.argv[1]
kernel = FakeKernel(root)
kernel.write()
seen = []
for options in json.loads(sys.argv[2]):
    run_task(options, system=System(root=root, calls=FakeKernelCalls(kernel), kernel=KernelState(root)))
    seen.append(sorted(m[len(prefix):] for m in sys.modules if m.startswith(prefix)))
print(json.dumps(seen))
"""


def test_a_task_without_persistence_imports_none_of_its_code(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))))
    tasks = [{'name': 'dummy'}, {'name': ['dummy', 'bonding'], 'state': 'absent'},
             {'name': 'dummy', 'persistent': 'present'}]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(repo, '.build'), repo] + sys.path))
    proc = subprocess.run([sys.executable, '-c', IMPORTS_OF_A_TASK, host.root, json.dumps(tasks)], cwd=repo, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stderr
    load, unload, persistent = json.loads(proc.stdout)
    assert [m for m in PERSISTENCE_ONLY if m in load or m in unload] == []
    assert 'load.plan' in load and 'kernel.calls' in load
    # the same run with persistent imports what it needs
    assert [m for m in PERSISTENCE_ONLY if m not in persistent] == ['image.compression', 'index.writer']


def test_live_with_other_params_warns_and_changes_nothing(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('dummy', params={'numdummies': '1'})
    host.kernel.write()
    result, warnings = host.run(name='dummy', params='numdummies=3 other=1')
    assert result['changed'] is False
    assert result['params_differ'] == {'numdummies': {'asked': '3', 'live': '1'}}
    assert result['params_unchecked'] == ['other']
    assert warnings == ['dummy is already loaded with other parameter values: numdummies=3 (loaded with 1). '
                        'Parameters apply only when a module is loaded: unload it (state=absent) and load it '
                        'again to change them, or use param_drift=apply']
    assert host.calls.calls == []


def test_alias_and_dependencies(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    result, _w = host.run(name='bonding')
    assert result['inserted'] == ['netcore', 'bonding']
    assert [s['target'] for s in result['steps']] == [False, True]
    assert host.loaded() == ['bonding', 'netcore']
    result, _w = host.run(name='rtnl-link-dummy')
    assert result['inserted'] == ['dummy'] and result['modules'] == ['dummy']


def test_check_mode_plans_and_changes_nothing(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    result, _w = host.run(check_mode=True, diff=True, name='dummy', params='numdummies=2', persistent='present')
    assert result['changed'] is True
    assert result['inserted'] == ['dummy']
    assert [p['action'] for p in result['persistence']] == ['create', 'create']
    assert result['diff'][0]['after'] == HEADER + 'dummy\n'
    assert result['diff'][1]['after'] == HEADER + 'options dummy numdummies=2\n'
    assert host.calls.calls == [] and host.loaded() == []
    assert not os.path.exists(host.path('etc/modules-load.d/dummy.conf'))


def test_unload_removes_unused_dependencies(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('netcore', used_by=['bonding']).add_module('bonding')
    host.kernel.write()
    result, _w = host.run(name='bonding', state='absent')
    assert result['changed'] is True and result['deleted'] == ['bonding', 'netcore']
    assert host.loaded() == []
    again, warnings = host.run(name='bonding', state='absent')
    assert again['changed'] is False and again['not_loaded'] == ['bonding'] and warnings == []


def test_unload_keeps_dependencies_when_asked(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('netcore', used_by=['bonding']).add_module('bonding')
    host.kernel.write()
    result, _w = host.run(name='bonding', state='absent', remove_dependencies=False)
    assert result['deleted'] == ['bonding'] and host.loaded() == ['netcore']


def test_unload_in_use_fails_in_kmods_words(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('netcore', used_by=['bonding']).add_module('bonding')
    host.kernel.write()
    with pytest.raises(TaskError) as info:
        host.run(name='netcore', state='absent')
    assert info.value.msg == 'Module netcore is in use by: bonding'
    assert info.value.fail_kwargs()['errno_name'] == 'EBUSY'
    assert host.calls.calls == []


def test_absent_of_an_unknown_module_is_ok(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    result, warnings = host.run(name='nosuchmod', state='absent')
    assert result['changed'] is False and result['steps'] == []
    assert warnings == ['nosuchmod: no such module in %s and none loaded; nothing to remove'
                        % module_path(host, '')[:-1]]


def test_unknown_module_fails_with_kmods_words(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    with pytest.raises(KmodError) as info:
        host.run(name='nosuchmod')
    assert info.value.msg == 'Module nosuchmod not found in directory %s' % module_path(host, '')[:-1]


def test_builtin_is_reported(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    result, _w = host.run(name='crc32c')
    assert result['changed'] is False and result['builtin'] == ['crc32c']
    with pytest.raises(KmodError) as info:
        host.run(name='crc32c', state='absent')
    assert info.value.msg == 'Module crc32c is builtin.'


def test_failed_insert_reports_what_was_done(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.calls.fail_insert('bonding', errno.ENOEXEC, kernel_log=['bonding: bad ELF'])
    with pytest.raises(TaskError) as info:
        host.run(name='bonding', persistent='present')
    out = info.value.fail_kwargs()
    assert out['msg'].startswith("could not insert 'bonding': ")
    assert out['inserted'] == ['netcore'] and out['rolled_back'] == ['netcore'] and out['changed'] is False
    assert out['kernel_log'] == ['bonding: bad ELF']
    assert out['errno_name'] == 'ENOEXEC'
    assert not os.path.exists(host.path('etc/modules-load.d/bonding.conf'))
    assert host.loaded() == [] and host.calls.calls[-1] == ('delete', 'netcore')


def test_without_rollback_what_was_inserted_stays(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.calls.fail_insert('bonding', errno.ENOEXEC)
    with pytest.raises(TaskError) as info:
        host.run(name='bonding', rollback=False)
    out = info.value.fail_kwargs()
    assert out['inserted'] == ['netcore'] and out['rolled_back'] == [] and out['changed'] is True
    assert host.loaded() == ['netcore']


def test_rollback_goes_newest_first_and_keeps_what_was_there(tmp_path, tree_root):
    # netcore already loaded: only what the task inserted goes
    host = Host(tmp_path, tree_root, conf={'etc/modprobe.d/t.conf': 'install withcmd /bin/true\n'})
    host.kernel.add_module('netcore')
    host.kernel.write()
    host.calls.fail_insert('softy', errno.EINVAL)
    with pytest.raises(TaskError) as info:
        host.run(name=['dummy', 'bonding', 'withcmd', 'softy'])
    out = info.value.fail_kwargs()
    assert out['inserted'] == ['dummy', 'bonding'] and out['rolled_back'] == ['bonding', 'dummy']
    assert host.loaded() == ['netcore']
    assert info.value.warnings == ["rollback does not undo install commands: '/bin/true' (withcmd)"]


def test_rollback_removes_what_an_install_command_loaded(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, conf={'etc/modprobe.d/t.conf': 'install withcmd load-it\n'})
    host.calls.fail_insert('softy', errno.EINVAL)
    with pytest.raises(TaskError) as info:
        host.run(name=['dummy', 'withcmd', 'softy'])
    out = info.value.fail_kwargs()
    assert out['rolled_back'] == ['withcmd', 'dummy'] and host.loaded() == []
    assert info.value.warnings == ["rollback removed withcmd, which its install command 'load-it' loaded; anything "
                                   "else the command did is not undone"]


def test_a_module_that_cannot_go_back_is_a_warning(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.calls.fail_insert('bonding', errno.ENOEXEC).fail_delete('netcore', errno.EBUSY)
    with pytest.raises(TaskError) as info:
        host.run(name='bonding')
    assert info.value.fail_kwargs()['rolled_back'] == [] and info.value.fail_kwargs()['changed'] is True
    assert info.value.warnings[-1].startswith('rollback could not remove netcore: Module netcore is in use')


def test_install_command_and_softdeps(tmp_path, tree_root):
    conf = {'etc/modprobe.d/t.conf': 'install withcmd echo $CMDLINE_OPTS\nsoftdep softy pre: pre1 post: withcmd\n'
                                     'install pre1 /bin/false\noptions withcmd a=1\n'}
    host = Host(tmp_path, tree_root, conf)
    result, _w = host.run(name='withcmd', params='b=2')
    assert host.ran == [('echo a=1 b=2', 'withcmd')]
    assert result['commands'] == [{'module': 'withcmd', 'action': 'install', 'command': 'echo a=1 b=2', 'rc': 0,
                                   'stdout': 'done\n', 'stderr': ''}]
    assert result['changed'] is True
    result, warnings = host.run(name='softy')
    assert result['inserted'] == ['softy']
    assert warnings == ["softdep pre1 not loaded: Error running install command '/bin/false' for module pre1: retcode 1"]


def test_failing_install_command(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, {'etc/modprobe.d/t.conf': 'install dummy /bin/false\n'})
    with pytest.raises(TaskError) as info:
        host.run(name='dummy')
    out = info.value.fail_kwargs()
    assert out['msg'] == "Error running install command '/bin/false' for module dummy: retcode 1"
    assert out['rc'] == 1 and out['stderr'] == 'refused\n' and out['changed'] is True
    result, _w = host.run(name='dummy', ignore_install=True)
    assert result['inserted'] == ['dummy']


def test_blacklisted_alias_fails(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, {'etc/modprobe.d/bl.conf': 'blacklist dummy\n'})
    with pytest.raises(KmodError) as info:
        host.run(name='rtnl-link-dummy')
    assert info.value.msg.startswith('rtnl-link-dummy is blacklisted: dummy would not load')
    with pytest.raises(KmodError):
        host.run(name='dummy', use_blacklist=True)
    result, _w = host.run(name='dummy')
    assert result['inserted'] == ['dummy']


def test_persistent_present_then_absent(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    for directory in ('etc/modules-load.d', 'etc/modprobe.d'):
        os.makedirs(host.path(directory))
    result, _w = host.run(name='dummy', params='numdummies=2', persistent='present')
    assert [(p['path'], p['action']) for p in result['persistence']] == [
        (host.path('etc/modules-load.d/dummy.conf'), 'create'), (host.path('etc/modprobe.d/dummy.conf'), 'create')]
    with open(host.path('etc/modprobe.d/dummy.conf')) as f:
        assert f.read() == HEADER + 'options dummy numdummies=2\n'
    again, _w = host.run(name='dummy', params='numdummies=2', persistent='present')
    assert again['changed'] is False and again['persistence'] == []
    with open(host.path('etc/modules'), 'w') as f:
        f.write('dummy\n')
    gone, warnings = host.run(name='dummy', state='absent', persistent='absent', diff=True)
    assert gone['changed'] is True and gone['deleted'] == ['dummy']
    assert [p['action'] for p in gone['persistence']] == ['remove', 'remove']
    assert gone['diff'][0]['after_header'] == host.path('etc/modules-load.d/dummy.conf') + ' (removed)'
    assert not os.path.exists(host.path('etc/modules-load.d/dummy.conf'))
    assert warnings == ['dummy is still loaded at boot by /etc/modules:1']


def test_persistent_of_an_alias_names_the_module(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    result, _w = host.run(name='rtnl-link-dummy', persistent='present', check_mode=True)
    assert [p['path'] for p in result['persistence']] == [host.path('etc/modules-load.d/dummy.conf')]


@pytest.mark.parametrize('options, message', [
    ({'name': 'dummy', 'state': 'absent', 'persistent': 'present'}, 'persistent=present with state=absent'),
    ({'name': 'dummy', 'params': 'a=1\nb=2'}, 'parameters must be one line of printable text'),
    ({'name': 'dummy', 'params': '=', 'persistent': 'present'}, "params: '=' in '=' has no parameter name"),
    ({'name': 'dummy', 'params': 'a="2', 'persistent': 'present'}, 'params: unbalanced double quote'),
    ({'name': 'dummy', 'params': 'a=2\\', 'persistent': 'present'}, 'ends with a backslash'),
    ({'name': 'dummy', 'params': {'a': {'b': 1}}, 'persistent': 'present'}, 'the value of a must be a string'),
    ({'name': 'dummy', 'params': {'a': [[1]]}, 'persistent': 'present'}, 'the list value of a must hold only'),
    ({'name': 'dummy', 'params': 'a=\udc80', 'persistent': 'present'}, 'a lone surrogate, not encodable'),
    ({'name': ' dummy'}, "name ' dummy': ' ' cannot be in a module name, alias or path"),
    ({'name': 'dummy', 'state': 'gone'}, 'state must be one of present, absent'),
    ({'name': '/tmp/x.ko', 'persistent': 'present'}, 'persistent needs a module name, not the file path'),
])
def test_bad_options(tmp_path, tree_root, options, message):
    host = Host(tmp_path, tree_root)
    with pytest.raises(KmodError) as info:
        host.run(**options)
    assert message in info.value.msg
    assert host.calls.calls == [] and host.loaded() == []
    assert not os.path.exists(host.path('etc'))


def test_force_and_wait_reach_the_calls(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.run(name='dummy', force=True)
    assert host.calls.details[-1]['ignore_vermagic'] is True and host.calls.details[-1]['ignore_modversions'] is True
    host.run(name='dummy', state='absent', wait=True)
    assert host.calls.details[-1] == {'call': 'delete', 'name': 'dummy', 'wait': 10.0, 'force': False}


SYSTEMD_CONF = 'options bonding max_bonds=0\noptions dummy numdummies=0\n'
OVERRIDE = 'etc/modprobe.d/zz-kernel-kmod-dummy.conf'


def test_persistent_options_that_a_later_file_overrides_go_last(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, conf={'usr/lib/modprobe.d/systemd.conf': SYSTEMD_CONF,
                                           'etc/modprobe.d/dummy.conf': HEADER + 'options dummy numdummies=2\n'})
    os.makedirs(host.path('etc/modules-load.d'))
    checked, warnings = host.run(check_mode=True, diff=True, name='dummy', params='numdummies=3', persistent='present')
    why = ('options in /etc/modprobe.d/dummy.conf would lose at boot to numdummies=0 at '
           '/usr/lib/modprobe.d/systemd.conf:2, which sorts after it')
    assert checked['changed'] is True and warnings == []
    assert checked['persistence'] == [
        {'path': host.path('etc/modules-load.d/dummy.conf'), 'action': 'create', 'reason': None},
        {'path': host.path(OVERRIDE), 'action': 'create', 'reason': why},
        {'path': host.path('etc/modprobe.d/dummy.conf'), 'action': 'remove',
         'reason': 'replaced by /etc/modprobe.d/zz-kernel-kmod-dummy.conf: ' + why}]
    assert checked['boot_options'] == 'numdummies=0 numdummies=3'
    assert [(d['after_header'], d['after']) for d in checked['diff']][:-1] == [
        (host.path('etc/modules-load.d/dummy.conf'), HEADER + 'dummy\n'),
        (host.path(OVERRIDE), HEADER + 'options dummy numdummies=3\n'),
        (host.path('etc/modprobe.d/dummy.conf') + ' (removed)', '')]
    assert checked['diff'][2]['before'] == HEADER + 'options dummy numdummies=2\n'
    assert not os.path.exists(host.path(OVERRIDE)) and os.path.exists(host.path('etc/modprobe.d/dummy.conf'))
    assert host.calls.calls == []
    done, _w = host.run(name='dummy', params='numdummies=3', persistent='present')
    assert done['changed'] is True and done['inserted'] == ['dummy']
    assert [p['action'] for p in done['persistence']] == ['create', 'create', 'remove']
    assert sorted(os.listdir(host.path('etc/modprobe.d'))) == ['zz-kernel-kmod-dummy.conf']
    again, warnings = host.run(name='dummy', params='numdummies=3', persistent='present')
    assert again['changed'] is False and again['persistence'] == [] and warnings == []
    assert again['boot_options'] == 'numdummies=0 numdummies=3'
    gone, _w = host.run(name='dummy', state='absent', persistent='absent')
    assert [(p['path'], p['action']) for p in gone['persistence']] == [
        (host.path('etc/modules-load.d/dummy.conf'), 'remove'), (host.path(OVERRIDE), 'remove')]
    assert gone['boot_options'] == 'numdummies=0'


def test_persistent_options_that_cannot_win_fail_before_anything_is_done(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, conf={'usr/lib/modprobe.d/systemd.conf': SYSTEMD_CONF,
                                           'etc/modprobe.d/zzzz-local.conf': 'options dummy numdummies=1\n'})
    with pytest.raises(TaskError) as info:
        host.run(name='dummy', params='numdummies=3', persistent='present')
    assert info.value.msg.startswith('cannot persist the options of dummy: at boot numdummies=1 at '
                                     '/etc/modprobe.d/zzzz-local.conf:1 sorts after '
                                     '/etc/modprobe.d/zz-kernel-kmod-dummy.conf')
    assert info.value.fail_kwargs()['changed'] is False
    assert host.calls.calls == [] and host.loaded() == []
    assert sorted(os.listdir(host.path('etc/modprobe.d'))) == ['zzzz-local.conf']
    assert not os.path.exists(host.path('etc/modules-load.d'))


def test_boot_options_only_with_persistence(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, conf={'usr/lib/modprobe.d/systemd.conf': SYSTEMD_CONF})
    result, _w = host.run(name='dummy', params='numdummies=3', check_mode=True)
    assert result['boot_options'] is None and result['persistence'] == []
    result, _w = host.run(name='dummy', params='numdummies=0', persistent='present', check_mode=True)
    assert [p['path'] for p in result['persistence']] == [host.path('etc/modules-load.d/dummy.conf'),
                                                          host.path('etc/modprobe.d/dummy.conf')]
    assert result['boot_options'] == 'numdummies=0 numdummies=0'


ADMIN_CONF = 'alias eth-dummy dummy\ninstall brd /bin/true\n'


def test_foreign_namesakes_are_left_byte_for_byte(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, conf={'etc/modprobe.d/dummy.conf': ADMIN_CONF,
                                           'etc/modules-load.d/dummy.conf': 'dummy\n'})
    result, warnings = host.run(name='dummy', persistent='present')
    assert result['persistence'] == [] and result['inserted'] == ['dummy']
    assert warnings == ['/etc/modprobe.d/dummy.conf was not written by kmod_load and is left as it is']
    gone, warnings = host.run(name='dummy', state='absent', persistent='absent')
    assert gone['persistence'] == [] and gone['deleted'] == ['dummy']
    assert warnings == ['/etc/modules-load.d/dummy.conf was not written by kmod_load and is left as it is',
                        '/etc/modprobe.d/dummy.conf was not written by kmod_load and is left as it is',
                        'dummy is still loaded at boot by /etc/modules-load.d/dummy.conf:1']
    with open(host.path('etc/modprobe.d/dummy.conf')) as f:
        assert f.read() == ADMIN_CONF
    with open(host.path('etc/modules-load.d/dummy.conf')) as f:
        assert f.read() == 'dummy\n'


def test_many_names_are_planned_together_and_acted_once(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('netcore')
    host.kernel.write()
    checked, _w = host.run(check_mode=True, name=['dummy', 'bonding', 'rtnl-link-dummy'])
    assert checked['inserted'] == ['dummy', 'bonding'] and host.calls.calls == []
    result, warnings = host.run(name=['dummy', 'bonding', 'rtnl-link-dummy'])
    assert warnings == [] and result['changed'] is True
    assert result['name'] == ['dummy', 'bonding', 'rtnl-link-dummy']
    assert result['inserted'] == ['dummy', 'bonding'] and result['live'] == ['netcore', 'dummy']
    assert result['modules'] == ['dummy', 'bonding']
    assert [c[0] for c in host.calls.calls] == ['insert', 'insert']
    assert [(e['name'], e['modules'], e['before'], e['after'], e['inserted']) for e in result['results']] == [
        ('dummy', ['dummy'], {'dummy': 'absent'}, {'dummy': 'live'}, ['dummy']),
        ('bonding', ['bonding'], {'bonding': 'absent', 'netcore': 'live'}, {'bonding': 'live', 'netcore': 'live'},
         ['bonding']),
        # planned after dummy: already loaded by then, nothing to do
        ('rtnl-link-dummy', ['dummy'], {'dummy': 'absent'}, {'dummy': 'absent'}, [])]
    again, _w = host.run(name=['dummy', 'bonding', 'rtnl-link-dummy'])
    assert again['changed'] is False and again['live'] == ['dummy', 'bonding']
    assert len(host.calls.calls) == 2


def test_an_unknown_name_among_known_ones_loads_nothing(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    with pytest.raises(TaskError) as info:
        host.run(name=['dummy', 'nosuchmod', 'bonding'])
    assert info.value.msg == 'Module nosuchmod not found in directory %s' % module_path(host, '')[:-1]
    assert info.value.fail_kwargs()['module'] == 'nosuchmod'
    assert info.value.fail_kwargs()['changed'] is False
    assert host.calls.calls == [] and host.loaded() == []


def test_many_names_unloaded_in_order_with_shared_dependencies(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('netcore', used_by=['bonding']).add_module('bonding').add_module('dummy')
    host.kernel.write()
    result, warnings = host.run(name=['bonding', 'netcore', 'dummy', 'nosuchmod'], state='absent')
    assert result['deleted'] == ['bonding', 'netcore', 'dummy'] and host.loaded() == []
    assert result['not_loaded'] == ['netcore']
    assert warnings == ['nosuchmod: no such module in %s and none loaded; nothing to remove'
                        % module_path(host, '')[:-1]]
    assert [e['deleted'] for e in result['results']] == [['bonding', 'netcore'], [], ['dummy'], []]


def test_a_failing_name_reports_what_the_names_before_it_did(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.calls.fail_insert('bonding', errno.ENOEXEC)
    with pytest.raises(TaskError) as info:
        host.run(name=['dummy', 'bonding'])
    out = info.value.fail_kwargs()
    assert out['inserted'] == ['dummy', 'netcore'] and out['rolled_back'] == ['netcore', 'dummy']
    assert out['changed'] is False and host.loaded() == []
    assert [(e['name'], e['inserted']) for e in out['results']] == [('dummy', ['dummy']), ('bonding', ['netcore'])]


def test_many_names_persist_each(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    result, _w = host.run(check_mode=True, name=['dummy', 'bonding', 'rtnl-link-dummy'], persistent='present')
    assert [p['path'] for p in result['persistence']] == [host.path('etc/modules-load.d/dummy.conf'),
                                                          host.path('etc/modules-load.d/bonding.conf')]
    assert result['boot_options'] is None
    assert [e['persistence'] for e in result['results']][2] == []


@pytest.mark.parametrize('name, message', [
    (['dummy', ''], 'name: element 2 of the list is empty'),
    (['dummy', 'a/b'], "name 'a/b': a module file must be given by its absolute path"),
    (['dummy', '..'], "name '..' is no module name"),
    (['dummy', 'dum\x00my'], "name 'dum\\x00my': control character '\\x00' at position 3"),
    (['dummy', 'dummy\nbrd'], "name 'dummy\\nbrd': control character '\\n' at position 5"),
    (['dummy', 'dummy;reboot'], "name 'dummy;reboot': ';' cannot be in a module name, alias or path"),
    ("['dummy', 'bonding']", "name \"['dummy', 'bonding']\": ' ' \"'\" '[' ']' cannot be in a module name, alias "
                             "or path"),
])
@pytest.mark.parametrize('state', ['present', 'absent'])
def test_bad_names_change_nothing(tmp_path, tree_root, name, message, state):
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('dummy')
    host.kernel.write()
    with pytest.raises(KmodError) as info:
        host.run(name=name, state=state)
    assert info.value.msg == message
    assert host.calls.calls == [] and host.loaded() == ['dummy']


def test_wait_in_seconds_reaches_the_calls(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    for wait, given in ((0, False), (2.5, 2.5), (True, 10.0)):
        host.kernel.add_module('dummy')
        host.kernel.write()
        host.run(name='dummy', state='absent', wait=wait)
        assert host.calls.details[-1]['wait'] == given


def test_allow_missing_hardware(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.calls.fail_insert('dummy', errno.ENODEV)
    with pytest.raises(TaskError) as info:
        host.run(name=['bonding', 'dummy'])
    assert info.value.fail_kwargs()['errno_name'] == 'ENODEV'
    assert info.value.fail_kwargs()['rolled_back'] == ['bonding', 'netcore'] and host.loaded() == []
    result, _w = host.run(name=['bonding', 'dummy'], allow_missing_hardware=True)
    assert result['missing_hardware'] == ['dummy'] and result['inserted'] == ['netcore', 'bonding']
    assert [e['missing_hardware'] for e in result['results']] == [[], ['dummy']]
    again, _w = host.run(name='dummy', allow_missing_hardware=True)
    assert again['changed'] is False and again['missing_hardware'] == ['dummy']


def test_param_drift_apply_writes_through_sysfs(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('dummy', params={'numdummies': '1'})
    host.kernel.write()
    checked, warnings = host.run(check_mode=True, name='dummy', params='numdummies=3', param_drift='apply')
    assert checked['changed'] is True and warnings == [] and host.calls.calls == []
    assert checked['params_written'] == [{'module': 'dummy', 'param': 'numdummies', 'value': '3'}]
    result, _w = host.run(name='dummy', params='numdummies=3', param_drift='apply')
    assert result['changed'] is True and result['params_differ'] == {'numdummies': {'asked': '3', 'live': '1'}}
    assert host.calls.calls == [('set_param', 'dummy', 'numdummies', '3')]
    assert KernelState(host.root).module_params('dummy') == {'numdummies': '3'}
    assert result['results'][0]['params_written'] == result['params_written']
    again, _w = host.run(name='dummy', params='numdummies=3', param_drift='apply')
    assert again['changed'] is False and again['params_written'] == []


def test_param_drift_apply_reloads_for_a_read_only_parameter(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, conf={'etc/modprobe.d/d.conf': 'options dummy debug=1\n'})
    host.kernel.add_module('dummy', params={'numdummies': '1'}, param_modes={'numdummies': 0o444})
    host.kernel.write()
    host.calls.param_modes['dummy'] = {'numdummies': 0o444}
    result, _w = host.run(name='dummy', params='numdummies=3', param_drift='apply')
    assert result['reloaded'] == ['dummy'] and result['changed'] is True and result['inserted'] == []
    assert host.calls.calls == [('delete', 'dummy'), ('insert', module_path(host, 'kernel/drivers/net/dummy.ko'),
                                                      'debug=1 numdummies=3')]
    assert KernelState(host.root).module_params('dummy')['numdummies'] == '3'
    again, _w = host.run(name='dummy', params='numdummies=3', param_drift='apply')
    assert again['changed'] is False


def test_param_drift_apply_puts_the_module_back_when_the_kernel_refuses_the_reload(tmp_path, tree_root):
    # The kernel refuses numdummies=99 (EINVAL) after the module was unloaded for the reload:
    # rollback loads it again with the value it had, and the error says so.
    host = Host(tmp_path, tree_root, conf={'etc/modprobe.d/d.conf': 'options dummy debug=1\n'})
    host.kernel.add_module('dummy', params={'numdummies': '1'}, param_modes={'numdummies': 0o444})
    host.kernel.write()
    host.calls.param_modes['dummy'] = {'numdummies': 0o444}
    host.calls.fail_insert('dummy', errno.EINVAL, with_option='numdummies=99')
    with pytest.raises(TaskError) as info:
        host.run(name='dummy', params='numdummies=99', param_drift='apply')
    assert info.value.msg == ("could not insert 'dummy': Invalid parameters; dummy was unloaded to be reloaded with its "
                              "new parameters; rollback loaded it again as it was (debug=1 numdummies=1)")
    path = module_path(host, 'kernel/drivers/net/dummy.ko')
    assert host.calls.calls == [('delete', 'dummy'), ('insert', path, 'debug=1 numdummies=99'),
                                ('insert', path, 'debug=1 numdummies=1')]
    assert KernelState(host.root).module_params('dummy')['numdummies'] == '1'


def test_param_drift_apply_without_rollback_leaves_a_refused_reload_unloaded(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('dummy', params={'numdummies': '1'}, param_modes={'numdummies': 0o444})
    host.kernel.write()
    host.calls.param_modes['dummy'] = {'numdummies': 0o444}
    host.calls.fail_insert('dummy', errno.EINVAL, with_option='numdummies=99')
    with pytest.raises(TaskError) as info:
        host.run(name='dummy', params='numdummies=99', param_drift='apply', rollback=False)
    assert info.value.msg.endswith('dummy was unloaded to be reloaded with its new parameters and is not loaded '
                                   'now (rollback is off)')
    assert host.loaded() == []


def _netcore_in_use_by_bonding(tmp_path, tree_root):
    """A host where netcore is loaded with a read-only size=1 and held by bonding."""
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('netcore', params={'size': '1'}, param_modes={'size': 0o444}, used_by=['bonding'])
    host.kernel.add_module('bonding')
    host.kernel.write()
    return host


def test_param_drift_apply_refuses_a_module_in_use_before_anything_changes(tmp_path, tree_root):
    host = _netcore_in_use_by_bonding(tmp_path, tree_root)
    with pytest.raises(TaskError) as info:
        host.run(name='netcore', params='size=2', param_drift='apply')
    assert info.value.msg == ('cannot apply size=2 to netcore: size (mode 0444) is read-only, so the module must be '
                              'reloaded, and it is in use by: bonding')
    assert host.calls.calls == []


def test_param_drift_warn_does_not_advise_apply_where_apply_would_fail(tmp_path, tree_root):
    # the persistent_modules role retries with warn after apply failed: the advice must not send it back
    host = _netcore_in_use_by_bonding(tmp_path, tree_root)
    result, warnings = host.run(name='netcore', params='size=2')
    assert result['changed'] is False and result['params_differ'] == {'size': {'asked': '2', 'live': '1'}}
    assert warnings == ['netcore is already loaded with other parameter values: size=2 (loaded with 1). '
                        'Parameters apply only when a module is loaded: unload it (state=absent) and load it '
                        'again to change them; param_drift=apply cannot change them now either (size (mode 0444) '
                        'is read-only, so the module must be reloaded, and it is in use by: bonding)']
    assert host.calls.calls == []


def test_param_drift_ignore_and_builtin(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('dummy', params={'numdummies': '1'}).add_builtin('crc32c', params={'level': '1'})
    host.kernel.write()
    result, warnings = host.run(name='dummy', params='numdummies=3', param_drift='ignore')
    assert result['params_differ'] == {} and warnings == [] and result['changed'] is False
    result, _w = host.run(name='crc32c', params='level=2', param_drift='apply')
    assert host.calls.calls == [('set_param', 'crc32c', 'level', '2')] and result['changed'] is True
    with pytest.raises(KmodError) as info:
        host.run(name='dummy', params='numdummies=3', param_drift='sometimes')
    assert info.value.msg == "param_drift must be one of warn, apply, ignore, not 'sometimes'"


def test_remove_holders_goes_first_recursively(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('netcore', used_by=['bonding', 'dummy']).add_module('bonding', used_by=['softy'])
    host.kernel.add_module('softy').add_module('dummy')
    host.kernel.write()
    with pytest.raises(TaskError) as info:
        host.run(name='netcore', state='absent')
    assert info.value.msg == 'Module netcore is in use by: bonding dummy'
    result, _w = host.run(name='netcore', state='absent', remove_holders=True)
    assert result['deleted'] == ['dummy', 'softy', 'bonding', 'netcore'] and host.loaded() == []


def _copy(src, dst, mode=0o644):
    with open(src, 'rb') as f, open(dst, 'wb') as g:
        g.write(f.read())
    os.chmod(dst, mode)
    return dst


def test_a_path_is_insmod_with_trust_checks(tmp_path, tree_root):
    from tests.lib.trusted_dir import TrustedDir
    host = Host(tmp_path, tree_root, conf={'etc/modprobe.d/b.conf': 'options bonding miimon=1\ninstall bonding /bin/false\n'})
    with TrustedDir() as top:
        path = _copy(module_path(host, 'kernel/drivers/net/bonding.ko'), os.path.join(top, 'bonding.ko'))
        checked, _w = host.run(check_mode=True, name=path, params='max_bonds=1')
        # that file alone: no dependency, no modprobe.d options or install command
        assert checked['steps'] == [{'action': 'insert', 'name': 'bonding', 'path': path, 'options': 'max_bonds=1',
                                     'command': None, 'softdep': False, 'target': True}]
        os.chmod(path, 0o664)
        with pytest.raises(TaskError) as info:
            host.run(name=path)
        assert info.value.errno == errno.EPERM and 'is writable by group (mode 0664)' in info.value.msg
        assert host.loaded() == []
        result, _w = host.run(name=path, allow_untrusted=True)
        assert result['inserted'] == ['bonding'] and host.calls.details[-1]['trusted_only'] is False
        os.chmod(path, 0o644)
        again, _w = host.run(name=path)
        assert again['changed'] is False and again['live'] == ['bonding']
        gone, _w = host.run(name=path, state='absent')
        assert gone['deleted'] == ['bonding'] and host.loaded() == []
        result, _w = host.run(name=path)
        assert result['inserted'] == ['bonding'] and host.calls.details[-1]['trusted_only'] is True


def test_a_path_under_tmp_is_refused(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    path = _copy(module_path(host, 'kernel/drivers/net/dummy.ko'), str(tmp_path / 'dummy.ko'))
    with pytest.raises(TaskError) as info:
        host.run(name=['bonding', path])
    assert 'refusing an untrusted module file: /tmp is writable by group and others' in info.value.msg
    assert info.value.fail_kwargs()['rolled_back'] == ['bonding', 'netcore'] and host.loaded() == []


def test_a_file_that_cannot_be_written_stops_the_task_before_the_kernel(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    os.makedirs(host.path('etc/modules-load.d'))
    # a symlink to a file that looks like ours: read through, it would be rewritten; judged with lstat, refused
    elsewhere = str(tmp_path / 'elsewhere.conf')
    with open(elsewhere, 'w') as f:
        f.write(HEADER + 'other\n')
    os.symlink(elsewhere, host.path('etc/modules-load.d/bonding.conf'))
    with pytest.raises(TaskError) as info:
        host.run(name=['dummy', 'bonding'], persistent='present')
    assert info.value.msg == ('cannot read %s: it is a symlink (a symbolic link is refused, never followed), not a regular file'
                              % host.path('etc/modules-load.d/bonding.conf'))
    assert host.calls.calls == [] and host.loaded() == []
    assert os.listdir(host.path('etc/modules-load.d')) == ['bonding.conf']
    with open(elsewhere) as f:
        assert f.read() == HEADER + 'other\n'


def test_all_files_of_a_task_are_written_after_the_kernel_and_directories_made(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    result, _w = host.run(name=['dummy', 'bonding'], persistent='present')
    assert [p['action'] for p in result['persistence']] == ['create', 'create']
    assert os.stat(host.path('etc/modules-load.d')).st_mode & 0o777 == 0o755
    host2 = Host(tmp_path / 'second', tree_root)
    host2.calls.fail_insert('bonding', errno.ENOEXEC)
    with pytest.raises(TaskError):
        host2.run(name=['dummy', 'bonding'], persistent='present')
    # the kernel step failed: no file written, no directory left, and dummy rolled back
    assert not os.path.exists(host2.path('etc/modules-load.d')) and host2.loaded() == []


def test_diff_shows_the_loaded_modules_before_and_after(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.kernel.add_module('dummy')
    host.kernel.write()
    checked, _w = host.run(check_mode=True, diff=True, name=['dummy', 'bonding'])
    assert checked['diff'] == [{'before_header': 'loaded kernel modules (of those this task touched)',
                                'after_header': 'loaded kernel modules (of those this task touched)',
                                'before': 'dummy\n', 'after': 'bonding\ndummy\nnetcore\n'}]
    host.run(name=['dummy', 'bonding'])
    gone, _w = host.run(diff=True, name='bonding', state='absent')
    assert gone['diff'][0]['before'] == 'bonding\nnetcore\n' and gone['diff'][0]['after'] == ''
    again, _w = host.run(diff=True, name='bonding', state='absent')
    assert again['diff'] == []


def test_a_host_without_systemd_persists_in_etc_modules(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, conf={'etc/modules': '# boot\nloop\n'}, systemd=False)
    result, _w = host.run(name=['dummy', 'bonding'], persistent='present', diff=True)
    assert [(p['path'], p['action']) for p in result['persistence']] == [
        (host.path('etc/modules'), 'update'), (host.path('etc/modules'), 'update')]
    with open(host.path('etc/modules')) as f:
        assert f.read() == '# boot\nloop\ndummy\nbonding\n'
    assert [(d['before'], d['after']) for d in result['diff'][:1]] == [('# boot\nloop\n',
                                                                       '# boot\nloop\ndummy\nbonding\n')]
    again, _w = host.run(name=['dummy', 'bonding'], persistent='present')
    assert again['changed'] is False
    host.run(name='dummy', state='absent', persistent='absent')
    with open(host.path('etc/modules')) as f:
        assert f.read() == '# boot\nloop\nbonding\n'


def run_with_wait(host, wait, check_mode=False, **options):
    system = System(root=host.root, calls=host.calls, kernel=KernelState(host.root), runner=host.runner,
                    lock_wait=wait)
    return run_task(options, check_mode=check_mode, system=system)


@pytest.mark.parametrize('systemd, held', [(True, 'etc/modprobe.d'), (True, 'etc/modules-load.d'),
                                           (False, 'etc')])
def test_persistence_waits_for_the_lock_of_each_directory_it_writes(tmp_path, tree_root, systemd, held):
    host = Host(tmp_path, tree_root, conf={'etc/modprobe.d/other.conf': '', 'etc/modules-load.d/other.conf': ''},
                systemd=systemd)
    with HeldByChild(host.path(held)) as pid:
        with pytest.raises(TaskError) as info:
            run_with_wait(host, 0.2, name='dummy', params='numdummies=2', persistent='present')
        assert info.value.msg == ('kmod_load: another run (pid %d) is working on %s; gave up after waiting 0.2 s'
                                  % (pid, host.path(held)))
        assert host.calls.calls == [] and info.value.details['inserted'] == []
        with pytest.raises(TaskError, match='another run'):
            run_with_wait(host, 0.2, check_mode=True, name='dummy', params='numdummies=2', persistent='present')
        # without persistence no configuration directory is locked
        result, _w = run_with_wait(host, 0.2, name='dummy')
        assert result['inserted'] == ['dummy']
    result, _w = run_with_wait(host, 0.2, name='dummy', params='numdummies=2', persistent='present')
    assert [p['action'] for p in result['persistence']] == ['create', 'create']


def test_check_mode_shares_the_persistence_locks(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, conf={'etc/modprobe.d/other.conf': '', 'etc/modules-load.d/other.conf': ''})
    with HeldByChild(host.path('etc/modprobe.d'), shared=True):
        checked, _w = run_with_wait(host, 0.2, check_mode=True, name='dummy', params='numdummies=2',
                                    persistent='present')
        assert [p['action'] for p in checked['persistence']] == ['create', 'create']
        with pytest.raises(TaskError, match='another run'):
            run_with_wait(host, 0.2, name='dummy', params='numdummies=2', persistent='present')
    assert not os.path.exists(host.path('etc/modprobe.d/dummy.conf'))


def test_a_persistence_directory_others_may_write_is_warned_about(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, conf={'etc/modprobe.d/other.conf': ''})
    os.chmod(host.path('etc/modprobe.d'), 0o775)
    result, warnings = host.run(name='dummy', params='numdummies=2', persistent='present')
    assert [p['action'] for p in result['persistence']] == ['create', 'create']
    assert warnings == ['kmod_load writes into %s, but %s is writable by group (mode 0775): whoever may write '
                        'there can change what root loads at boot'
                        % (host.path('etc/modprobe.d'), host.path('etc/modprobe.d'))]
    assert host.run(name='dummy', params='numdummies=2')[1] == []   # without persistence, no warning
    os.chmod(host.path('etc/modprobe.d'), 0o755)
    assert host.run(name='dummy', params='numdummies=2', persistent='present')[1] == []


def test_param_drift_warn_why_apply_cannot_keeps_a_value_with_a_colon(tmp_path, tree_root):
    # the reason is cut from apply's error after the module's name, not after the first ': '
    host = _netcore_in_use_by_bonding(tmp_path, tree_root)
    _result, warnings = host.run(name='netcore', params='size="a: b"')
    assert len(warnings) == 1
    assert warnings[0].endswith('; param_drift=apply cannot change them now either (size (mode 0444) is read-only, '
                                'so the module must be reloaded, and it is in use by: bonding)')
