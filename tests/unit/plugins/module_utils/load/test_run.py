"""modprobe_run: carrying out load and unload plans with fake kernel calls and a fake shell runner."""

import errno

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.load import run as modprobe_run
from ansible_collections.kernel.kmod.plugins.module_utils.load.plan import LoadPlan, Step, UnloadPlan


def load_plan(request, steps):
    plan = LoadPlan(request, None)
    plan.steps = steps
    return plan


def unload_plan(request, steps):
    plan = UnloadPlan(request, None)
    plan.steps = steps
    return plan


class Calls(object):
    """Records calls; errors by module name or path: {key: errno}."""

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail or {}

    def insert(self, path, options='', ignore_vermagic=False, ignore_modversions=False):
        self.calls.append(('insert', path, options, ignore_vermagic, ignore_modversions))
        if path in self.fail:
            raise KmodError("could not insert '%s': %s" % (path, errno.errorcode[self.fail[path]]),
                            errno=self.fail[path], path=path)

    def delete(self, name, wait=False, force=False):
        self.calls.append(('delete', name, wait))
        if name in self.fail:
            raise KmodError("could not remove '%s': %s" % (name, errno.errorcode[self.fail[name]]),
                            errno=self.fail[name], module=name)


class Runner(object):
    def __init__(self, results=None):
        self.ran = []
        self.results = results or {}

    def __call__(self, command, module):
        self.ran.append((command, module))
        return self.results.get(command, (0, 'ok\n', ''))


def test_load_inserts_dependencies_then_target_with_options():
    plan = load_plan('dummy', [
        Step('live', 'dep0'),
        Step('insert', 'dep1', path='/m/dep1.ko'),
        Step('builtin', 'crc32c'),
        Step('insert', 'dummy', path='/m/dummy.ko', options='numdummies=2', target=True),
    ])
    calls = Calls()
    result = modprobe_run.run_load(plan, calls, runner=Runner())
    assert calls.calls == [('insert', '/m/dep1.ko', '', False, False),
                           ('insert', '/m/dummy.ko', 'numdummies=2', False, False)]
    assert result.as_dict() == {'inserted': ['dep1', 'dummy'], 'deleted': [], 'commands': [], 'live': ['dep0'],
                                'builtin': ['crc32c'], 'not_loaded': [], 'missing_hardware': [], 'warnings': []}
    assert result.changed is True


def test_force_ignores_vermagic_and_modversions():
    calls = Calls()
    modprobe_run.run_load(load_plan('a', [Step('insert', 'a', path='/m/a.ko', target=True)]), calls, force=True)
    assert calls.calls == [('insert', '/m/a.ko', '', True, True)]


def test_eexist_is_already_live_not_an_error():
    plan = load_plan('a', [Step('insert', 'b', path='/m/b.ko'), Step('insert', 'a', path='/m/a.ko', target=True)])
    result = modprobe_run.run_load(plan, Calls({'/m/b.ko': errno.EEXIST, '/m/a.ko': errno.EEXIST}))
    assert result.inserted == [] and result.live == ['b', 'a'] and result.changed is False


def test_softdep_failure_warns_and_goes_on():
    plan = load_plan('a', [Step('insert', 'pre', path='/m/pre.ko', softdep=True),
                           Step('insert', 'a', path='/m/a.ko', target=True)])
    result = modprobe_run.run_load(plan, Calls({'/m/pre.ko': errno.ENOEXEC}))
    assert result.inserted == ['a']
    assert result.warnings == ["softdep pre not loaded: could not insert '/m/pre.ko': ENOEXEC"]


def test_target_failure_raises_with_what_was_done():
    plan = load_plan('a', [Step('insert', 'dep', path='/m/dep.ko'),
                           Step('insert', 'a', path='/m/a.ko', target=True),
                           Step('insert', 'post', path='/m/post.ko', softdep=True)])
    calls = Calls({'/m/a.ko': errno.EINVAL})
    with pytest.raises(KmodError) as info:
        modprobe_run.run_load(plan, calls)
    assert info.value.errno == errno.EINVAL
    assert info.value.result.inserted == ['dep']
    assert [c[1] for c in calls.calls] == ['/m/dep.ko', '/m/a.ko']


def test_hard_dependency_failure_stops_the_load():
    plan = load_plan('a', [Step('insert', 'dep', path='/m/dep.ko'), Step('insert', 'a', path='/m/a.ko', target=True)])
    with pytest.raises(KmodError) as info:
        modprobe_run.run_load(plan, Calls({'/m/dep.ko': errno.ENOENT}))
    assert info.value.result.inserted == []


def test_install_command_runs_with_its_module():
    runner = Runner({'/bin/false': (1, '', 'no\n')})
    plan = load_plan('a', [Step('install', 'a', command='echo hi', target=True)])
    result = modprobe_run.run_load(plan, Calls(), runner=runner)
    assert runner.ran == [('echo hi', 'a')]
    assert result.commands == [{'module': 'a', 'action': 'install', 'command': 'echo hi', 'rc': 0,
                                'stdout': 'ok\n', 'stderr': ''}]
    assert result.changed is True


def test_failing_install_command_speaks_kmods_words():
    runner = Runner({'/bin/false': (1, '', 'no\n')})
    plan = load_plan('a', [Step('install', 'a', command='/bin/false', target=True)])
    with pytest.raises(modprobe_run.CommandError) as info:
        modprobe_run.run_load(plan, Calls(), runner=runner)
    exc = info.value
    assert exc.msg == "Error running install command '/bin/false' for module a: retcode 1"
    assert (exc.module, exc.rc, exc.stderr) == ('a', 1, 'no\n')
    assert exc.fail_kwargs()['command'] == '/bin/false'
    assert exc.result.commands[0]['rc'] == 1


def test_failing_softdep_install_command_only_warns():
    runner = Runner({'/bin/false': (1, '', '')})
    plan = load_plan('a', [Step('install', 's', command='/bin/false', softdep=True),
                           Step('insert', 'a', path='/m/a.ko', target=True)])
    result = modprobe_run.run_load(plan, Calls(), runner=runner)
    assert result.warnings == ["softdep s not loaded: Error running install command '/bin/false' for module s: retcode 1"]
    assert result.inserted == ['a']


def test_unstartable_shell_is_a_command_error():
    def runner(command, module):
        raise OSError(errno.ENOENT, 'No such file or directory')
    plan = load_plan('a', [Step('install', 'a', command='x', target=True)])
    with pytest.raises(modprobe_run.CommandError) as info:
        modprobe_run.run_load(plan, Calls(), runner=runner)
    assert info.value.msg == "Could not run install command 'x' for module a: No such file or directory"
    assert info.value.rc is None


def test_real_shell_sets_modprobe_module():
    rc, out, err = modprobe_run.run_shell('echo "$MODPROBE_MODULE"; echo e >&2; exit 3', 'snd_dummy')
    assert (rc, out, err) == (3, 'snd_dummy\n', 'e\n')


def test_real_shell_signal_is_negative_and_fails():
    plan = load_plan('a', [Step('install', 'a', command='kill -9 $$', target=True)])
    with pytest.raises(modprobe_run.CommandError) as info:
        modprobe_run.run_load(plan, Calls())
    assert info.value.msg == "Error running install command 'kill -9 $$' for module a: killed by signal 9"


def test_unload_deletes_target_then_unused_dependencies():
    plan = unload_plan('a', [Step('delete', 'post', softdep=True), Step('delete', 'a', target=True),
                             Step('delete', 'dep'), Step('delete', 'pre', softdep=True)])
    calls = Calls({'dep': errno.EBUSY, 'pre': errno.ENOENT})
    result = modprobe_run.run_unload(plan, calls, wait=True)
    assert calls.calls == [('delete', 'post', False), ('delete', 'a', True), ('delete', 'dep', False),
                           ('delete', 'pre', False)]
    assert result.deleted == ['post', 'a']
    assert result.not_loaded == ['pre']
    assert result.warnings == ["dependency dep not removed: could not remove 'dep': EBUSY"]


def test_unload_target_in_use_raises():
    plan = unload_plan('a', [Step('delete', 'post', softdep=True), Step('delete', 'a', target=True)])
    with pytest.raises(KmodError) as info:
        modprobe_run.run_unload(plan, Calls({'a': errno.EBUSY}))
    assert info.value.errno == errno.EBUSY
    assert info.value.result.deleted == ['post']


def test_unload_remove_command():
    runner = Runner({'false': (2, '', '')})
    plan = unload_plan('a', [Step('remove', 'a', command='false', target=True)])
    with pytest.raises(modprobe_run.CommandError) as info:
        modprobe_run.run_unload(plan, Calls(), runner=runner)
    assert info.value.msg == "Error running remove command 'false' for module a: retcode 2"
    result = modprobe_run.run_unload(unload_plan('a', [Step('remove', 'a', command='true', target=True)]),
                                     Calls(), runner=Runner())
    assert result.commands[0]['action'] == 'remove' and result.changed is True


def test_planned_result_matches_a_successful_run():
    steps = [Step('live', 'l'), Step('builtin', 'b'), Step('insert', 'd', path='/m/d.ko'),
             Step('install', 'a', command='modprobe --ignore-install a', target=True)]
    planned = modprobe_run.planned_result(load_plan('a', steps)).as_dict()
    done = modprobe_run.run_load(load_plan('a', steps), Calls(), runner=Runner()).as_dict()
    assert planned['commands'] == [{'module': 'a', 'action': 'install', 'command': 'modprobe --ignore-install a',
                                    'rc': None, 'stdout': None, 'stderr': None}]
    planned.pop('commands')
    done.pop('commands')
    assert planned == done
    unplanned = modprobe_run.planned_result(unload_plan('a', [Step('delete', 'a', target=True)]), unload=True)
    assert unplanned.deleted == ['a'] and unplanned.changed is True


def test_unknown_step_is_a_clear_error():
    with pytest.raises(KmodError) as info:
        modprobe_run.run_load(load_plan('a', [Step('delete', 'a', target=True)]), Calls())
    assert info.value.msg == "cannot carry out a 'delete' step while loading a"


def test_roll_back_removes_newest_first():
    calls = Calls(fail={'gone': errno.ENOENT, 'held': errno.EAGAIN})
    removed, warnings = modprobe_run.roll_back(['a', 'held', 'gone', 'b'], calls)
    assert [c[1] for c in calls.calls] == ['b', 'gone', 'held', 'a']
    assert removed == ['b', 'a']
    assert warnings == ["rollback could not remove held: could not remove 'held': EAGAIN"]
    assert modprobe_run.roll_back([], calls) == ([], [])


@pytest.mark.parametrize('err', [errno.ENODEV, errno.ENXIO])
def test_missing_hardware_counts_as_done_only_when_allowed(err):
    plan = load_plan('coretemp', [Step('insert', 'hwmon', path='/m/hwmon.ko'),
                                  Step('insert', 'coretemp', path='/m/coretemp.ko', target=True)])
    calls = Calls(fail={'/m/coretemp.ko': err})
    result = modprobe_run.run_load(plan, calls, allow_missing_hardware=True)
    assert result.inserted == ['hwmon'] and result.missing_hardware == ['coretemp'] and result.changed is True
    with pytest.raises(KmodError) as info:
        modprobe_run.run_load(plan, Calls(fail={'/m/coretemp.ko': err}))
    assert info.value.errno == err and info.value.result.inserted == ['hwmon']
    with pytest.raises(KmodError):
        modprobe_run.run_load(plan, Calls(fail={'/m/coretemp.ko': errno.EINVAL}), allow_missing_hardware=True)
