import errno
import os
import re

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.config.cmdline import parse_cmdline
from ansible_collections.kernel.kmod.plugins.module_utils.config.modprobe import ModprobeConfig
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError, ModuleNotFound
from ansible_collections.kernel.kmod.plugins.module_utils.load.plan import (
    LoadPlan, Step, UnloadPlan, option_words, plan_load, plan_unload, shell_word,
)
from ansible_collections.kernel.kmod.plugins.module_utils.load.run import run_shell
from ansible_collections.kernel.kmod.plugins.module_utils.tree.module_dir import ModuleTree
from tests.lib.fake_tree import FakeTree

RELEASE = '6.1.0-test-amd64'


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    """low <- mid <- top; other and twin need low; bi is built in."""
    root = tmp_path_factory.mktemp('plan')
    fake = FakeTree(root, RELEASE)
    gpl = 'license=GPL'
    fake.add('kernel/low.ko', modinfo=[gpl, 'alias=low-alias'], exports=['low_fn'])
    fake.add('kernel/mid.ko', modinfo=[gpl], exports=['mid_fn'], needs=['low_fn'])
    fake.add('kernel/top.ko', modinfo=[gpl, 'alias=top-alias', 'alias=pci:v0000AAAAd*'], needs=['mid_fn'])
    fake.add('kernel/other.ko', modinfo=[gpl, 'alias=pci:v0000AAAAd0000000B*'], needs=['low_fn'])
    fake.add('kernel/twin-a.ko', modinfo=[gpl], needs=['low_fn'])
    fake.add('kernel/sfx.ko', modinfo=[gpl, 'alias=sfx-alias'])
    fake.add('kernel/pre1.ko', modinfo=[gpl], needs=['mid_fn'])
    fake.add('kernel/post1.ko', modinfo=[gpl])
    fake.add_builtin('kernel/bi.ko', modinfo=['alias=bi-alias'])
    fake.depmod()
    with ModuleTree(str(root), RELEASE) as t:
        yield t


def config_of(text, cmdline=None):
    config = ModprobeConfig()
    config.add_text(text, '/etc/modprobe.d/test.conf')
    assert config.warnings == []
    if cmdline is not None:
        config.add_cmdline(parse_cmdline(cmdline))
    return config


def ko(tree, name):
    return os.path.join(tree.module_dir, 'kernel', name + '.ko')


def summary(plan):
    """(action, name, options, softdep, target) of each step."""
    return [(s.action, s.name, s.options, s.softdep, s.target) for s in plan.steps]


# ---------------------------------------------------------------- Step

def test_step_fields_and_dict():
    step = Step('insert', 'dummy', path='/m/dummy.ko', options='numdummies=2', target=True)
    assert step.as_dict() == {'action': 'insert', 'name': 'dummy', 'path': '/m/dummy.ko',
                              'options': 'numdummies=2', 'command': None, 'softdep': False, 'target': True}
    assert step == Step('insert', 'dummy', '/m/dummy.ko', 'numdummies=2', None, False, True)
    assert step != Step('insert', 'dummy', '/m/dummy.ko', 'numdummies=2')
    with pytest.raises(ValueError):
        Step('load', 'dummy')


# ---------------------------------------------------------------- loading

def test_dependencies_load_providers_first(tree):
    plan = plan_load(tree, config_of(''), 'top')
    assert isinstance(plan, LoadPlan) and plan.request == 'top' and plan.match.source == 'modules.dep'
    assert plan.steps == [
        Step('insert', 'low', path=ko(tree, 'low')),
        Step('insert', 'mid', path=ko(tree, 'mid')),
        Step('insert', 'top', path=ko(tree, 'top'), target=True),
    ]
    assert [s.name for s in plan.changes] == ['low', 'mid', 'top']
    assert plan.as_dict()['steps'][2]['target'] is True


def test_live_target_is_all_there_is(tree):
    plan = plan_load(tree, config_of('softdep top pre: sfx'), 'top', live={'top'})
    assert plan.steps == [Step('live', 'top', target=True)]
    assert plan.changes == []


def test_live_dependency_is_reported_in_place(tree):
    plan = plan_load(tree, config_of(''), 'top', live=frozenset(['low']))
    assert summary(plan) == [('live', 'low', '', False, False), ('insert', 'mid', '', False, False),
                             ('insert', 'top', '', False, True)]


def test_builtin_target_from_tree_and_from_running_kernel(tree):
    assert plan_load(tree, config_of(''), 'bi').steps == [Step('builtin', 'bi', target=True)]
    assert plan_load(tree, config_of(''), 'bi-alias').steps == [Step('builtin', 'bi', target=True)]
    # built into the running kernel though the tree has a file for it
    assert plan_load(tree, config_of(''), 'mid', builtin={'mid'}).steps == [Step('builtin', 'mid', target=True)]


def test_builtin_dependency_and_softdep(tree):
    plan = plan_load(tree, config_of('softdep top post: bi'), 'top', builtin={'low'})
    assert summary(plan) == [('builtin', 'low', '', False, False), ('insert', 'mid', '', False, False),
                             ('insert', 'top', '', False, True), ('builtin', 'bi', '', True, False)]


def test_softdeps_around_the_module_with_their_dependencies(tree):
    plan = plan_load(tree, config_of('softdep top pre: pre1 post: post1 sfx-alias'), 'top')
    assert summary(plan) == [
        ('insert', 'low', '', False, False), ('insert', 'mid', '', False, False),
        ('insert', 'pre1', '', True, False), ('insert', 'top', '', False, True),
        ('insert', 'post1', '', True, False), ('insert', 'sfx', '', True, False),
    ]


def test_softdeps_of_a_dependency_and_a_softdep_reaching_a_required_module(tree):
    # mid's pre-softdep pre1 needs mid: mid stays required (kmod's required flag is per module)
    plan = plan_load(tree, config_of('softdep mid pre: pre1\nsoftdep low post: sfx'), 'top')
    assert summary(plan) == [
        ('insert', 'low', '', False, False), ('insert', 'sfx', '', True, False),
        ('insert', 'mid', '', False, False), ('insert', 'pre1', '', True, False),
        ('insert', 'top', '', False, True),
    ]


def test_softdep_cycle_ends(tree):
    plan = plan_load(tree, config_of('softdep sfx pre: post1\nsoftdep post1 pre: sfx'), 'sfx')
    assert [s.name for s in plan.steps] == ['post1', 'sfx']


def test_softdep_not_found_is_a_warning(tree):
    plan = plan_load(tree, config_of('softdep sfx pre: no-such post: post1'), 'sfx')
    assert [s.name for s in plan.steps] == ['sfx', 'post1']
    assert plan.warnings == ['softdep no-such of module sfx: not found in directory %s' % tree.module_dir]


def test_ignore_softdeps(tree):
    config = config_of('softdep top pre: pre1\ninstall top /bin/top-inst')
    plan = plan_load(tree, config, 'top', ignore_softdeps=True)
    # no softdeps: the install command counts again
    assert [(s.action, s.name) for s in plan.steps] == [('insert', 'low'), ('insert', 'mid'), ('install', 'top')]


def test_options_config_then_cmdline_then_user(tree):
    config = config_of('options top a=1\noptions mid m=1\noptions top b=2\noptions top-alias via=alias\n',
                       cmdline='root=/dev/sda top.c=3 mid.q="x y" other.z=1')
    plan = plan_load(tree, config, 'top', user_options='u=4 v=5')
    assert summary(plan) == [('insert', 'low', '', False, False), ('insert', 'mid', 'm=1 q="x y"', False, False),
                             ('insert', 'top', 'a=1 b=2 c=3 u=4 v=5', False, True)]
    # reached by its alias: the alias's options join, in config order
    plan = plan_load(tree, config, 'top-alias')
    assert plan.steps[-1].options == 'a=1 b=2 via=alias c=3'


def test_cmdline_given_apart_replaces_the_configs(tree):
    config = config_of('options top a=1\n', cmdline='top.old=1 modprobe.blacklist=top')
    plan = plan_load(tree, config, 'top-alias', cmdline=parse_cmdline('top.new=2'))
    assert plan.steps[-1].options == 'a=1 new=2'
    assert plan_load(tree, config, 'top-alias').blacklisted == ['top']
    assert plan_load(tree, config_of(''), 'top-alias', cmdline=parse_cmdline('modprobe.blacklist=top')).steps == []


def test_install_command_gets_options(tree):
    config = config_of('options top a=1\ninstall top /sbin/x $CMDLINE_OPTS --then $CMDLINE_OPTS\n')
    plan = plan_load(tree, config, 'top', user_options='u=2')
    assert plan.steps[-1] == Step('install', 'top', options='a=1 u=2', command='/sbin/x a=1 u=2 --then a=1 u=2',
                                  target=True)


@pytest.mark.parametrize('params', ['x=$(touch {marker})', 'x=`touch {marker}`', 'x=1;touch {marker}',
                                    'x="a b" y=$(touch {marker})', "x='$(touch {marker})'", 'x=1|touch {marker}'])
def test_task_params_reach_an_install_command_as_text_never_as_code(tree, tmp_path, params):
    # before: $CMDLINE_OPTS was replaced by the raw text, and /bin/sh ran the $(...) in it
    marker = str(tmp_path / 'ran')
    config = config_of('options top a=1\ninstall top printf "[%s]" $CMDLINE_OPTS\n')
    user = params.format(marker=marker)
    plan = plan_load(tree, config, 'top', user_options=user)
    step = plan.steps[-1]
    assert step.options == 'a=1 ' + user          # what the module is given, as it is
    rc, out, _err = run_shell(step.command, 'top')
    assert rc == 0 and not os.path.exists(marker)
    assert re.findall(r'\[(.*?)\]', out) == ['a=1'] + option_words(user)


def test_option_words_and_shell_words():
    assert option_words(' a=1  b="x y"\tc ') == ['a=1', 'b="x y"', 'c']
    assert shell_word('numdummies=2') == 'numdummies=2'
    assert shell_word("it's") == "'it'\\''s'"
    assert shell_word('') == "''"


def test_install_command_of_a_dependency_and_ignore_install(tree):
    config = config_of('install mid /bin/mid-inst\ninstall top /bin/top-inst\nsoftdep top pre: sfx\n'
                       'softdep low post: post1\n')
    assert [(s.action, s.name) for s in plan_load(tree, config, 'top').steps] == [
        ('insert', 'low'), ('insert', 'post1'), ('install', 'mid'), ('insert', 'sfx'), ('insert', 'top')]
    # -i: the target's command and softdeps go, its dependencies' stay
    assert [(s.action, s.name) for s in plan_load(tree, config, 'top', ignore_install=True).steps] == [
        ('insert', 'low'), ('insert', 'post1'), ('install', 'mid'), ('insert', 'top')]


def test_install_command_for_a_name_without_module(tree):
    config = config_of('install ghost /bin/true\n')
    plan = plan_load(tree, config, 'ghost')
    assert plan.match.source == 'config-install'
    assert plan.steps == [Step('install', 'ghost', command='/bin/true', target=True)]
    with pytest.raises(ModuleNotFound):
        plan_load(tree, config, 'ghost', ignore_install=True)


def test_install_command_wins_over_modules_alias(tree):
    config = config_of('install top-alias /bin/echo by-command\n')
    plan = plan_load(tree, config, 'top-alias')
    assert plan.steps == [Step('install', 'top_alias', command='/bin/echo by-command', target=True)]


def test_blacklist_binds_aliases_and_with_use_blacklist_names(tree):
    config = config_of('blacklist top\nalias my-top top\n')
    for name in ('top-alias', 'my-top', 'pci:v0000AAAAd00000001'):
        plan = plan_load(tree, config, name)
        assert (plan.steps, plan.blacklisted) == ([], ['top']), name
    assert plan_load(tree, config, 'top').steps[-1] == Step('insert', 'top', path=ko(tree, 'top'), target=True)
    plan = plan_load(tree, config, 'top', use_blacklist=True)
    assert (plan.steps, plan.blacklisted) == ([], ['top'])
    # never for dependencies or softdeps
    config = config_of('blacklist low\nblacklist sfx\nsoftdep top post: sfx-alias\n')
    assert [s.name for s in plan_load(tree, config, 'top', use_blacklist=True).steps] == ['low', 'mid', 'top', 'sfx']


def test_live_blacklisted_target_is_live(tree):
    plan = plan_load(tree, config_of('blacklist top'), 'top-alias', live={'top'})
    assert (plan.steps, plan.blacklisted) == ([Step('live', 'top', target=True)], [])


def test_alias_matching_several_modules_plans_each_once(tree):
    plan = plan_load(tree, config_of('options other o=1'), 'pci:v0000AAAAd0000000Bsv1', user_options='u=1')
    assert sorted(plan.match.names) == ['other', 'top']
    names = [s.name for s in plan.steps]
    assert sorted(names) == ['low', 'mid', 'other', 'top'] and len(names) == len(set(names))
    assert dict((s.name, (s.options, s.target)) for s in plan.steps) == {
        'low': ('', False), 'mid': ('', False), 'other': ('o=1 u=1', True), 'top': ('u=1', True)}


def test_second_match_already_planned_as_a_dependency(tree):
    config = config_of('alias both top\nalias both mid\n')
    plan = plan_load(tree, config, 'both', user_options='u=1')
    assert summary(plan) == [('insert', 'low', '', False, False), ('insert', 'mid', '', False, True),
                             ('insert', 'top', 'u=1', False, True)]
    config = config_of('alias both mid\nalias both top\n')
    plan = plan_load(tree, config, 'both', user_options='u=1')
    assert summary(plan) == [('insert', 'low', '', False, False), ('insert', 'mid', 'u=1', False, True),
                             ('insert', 'top', 'u=1', False, True)]


def test_symbol_and_dashes(tree):
    assert [s.name for s in plan_load(tree, config_of(''), 'symbol:mid_fn').steps] == ['low', 'mid']
    plan = plan_load(tree, config_of('options twin-a t=1'), 'twin-a')
    assert summary(plan)[-1] == ('insert', 'twin_a', 't=1', False, True)
    assert plan.steps[-1].path == ko(tree, 'twin-a')


def test_path_request(tree):
    plan = plan_load(tree, config_of('options mid m=1'), ko(tree, 'mid'))
    assert plan.match.source == 'path'
    assert plan.steps == [Step('insert', 'low', path=ko(tree, 'low')),
                          Step('insert', 'mid', path=ko(tree, 'mid'), options='m=1', target=True)]


def test_not_found(tree):
    with pytest.raises(ModuleNotFound) as info:
        plan_load(tree, config_of(''), 'no-such-thing')
    assert info.value.msg == 'Module no-such-thing not found in directory %s' % tree.module_dir
    assert info.value.errno == errno.ENOENT and info.value.module == 'no-such-thing'
    # a config alias naming a module the tree lacks
    with pytest.raises(ModuleNotFound) as info:
        plan_load(tree, config_of('alias thing gone'), 'thing')
    assert info.value.msg == 'Module gone not found in directory %s' % tree.module_dir


# ---------------------------------------------------------------- unloading

def loaded_state(**modules):
    """name=(refcnt, [holders]) -> KernelState.loaded() shape."""
    return dict((name, {'refcnt': rc, 'holders': list(holders)}) for name, (rc, holders) in modules.items())


def deletes(plan):
    return [(s.action, s.name, s.softdep, s.target) for s in plan.steps]


def test_unload_not_loaded(tree):
    plan = plan_unload(tree, config_of(''), 'top', loaded={})
    assert isinstance(plan, UnloadPlan) and plan.steps == [] and plan.not_loaded == ['top']


def test_unload_removes_dependencies_nothing_else_holds(tree):
    loaded = loaded_state(top=(0, []), mid=(1, ['top']), low=(1, ['mid']))
    plan = plan_unload(tree, config_of(''), 'top', loaded=loaded)
    # dependencies going because they are unused: failures only warn (softdep=True), as in kmod
    assert deletes(plan) == [('delete', 'top', False, True), ('delete', 'mid', True, False),
                             ('delete', 'low', True, False)]
    assert [s.name for s in plan.changes] == ['top', 'mid', 'low']
    # another user of low keeps it
    loaded['other'] = {'refcnt': 0, 'holders': []}
    loaded['low'] = {'refcnt': 2, 'holders': ['mid', 'other']}
    assert [s.name for s in plan_unload(tree, config_of(''), 'top', loaded=loaded).steps] == ['top', 'mid']
    assert [s.name for s in plan_unload(tree, config_of(''), 'top', loaded=loaded,
                                        remove_dependencies=False).steps] == ['top']


def test_unload_in_use(tree):
    loaded = loaded_state(mid=(2, ['top', 'pre1']), low=(1, ['mid']), top=(0, []), pre1=(0, []))
    with pytest.raises(KmodError) as info:
        plan_unload(tree, config_of(''), 'mid', loaded=loaded)
    assert info.value.msg == 'Module mid is in use by: top pre1' and info.value.errno == errno.EBUSY
    with pytest.raises(KmodError) as info:
        plan_unload(tree, config_of(''), 'low', loaded=loaded_state(low=(1, [])))
    assert info.value.msg == 'Module low is in use'
    # --wait: no check, the caller waits
    assert [s.name for s in plan_unload(tree, config_of(''), 'low', loaded=loaded_state(low=(1, [])),
                                        wait=True).steps] == ['low']


def test_unload_remove_holders(tree):
    loaded = loaded_state(mid=(2, ['top', 'pre1']), low=(1, ['mid']), top=(0, []), pre1=(0, []))
    plan = plan_unload(tree, config_of(''), 'mid', loaded=loaded, remove_holders=True)
    assert [s.name for s in plan.steps] == ['pre1', 'top', 'mid', 'low']
    assert [s.target for s in plan.steps] == [False, False, True, False]


def test_unload_builtin(tree):
    for name, builtin in (('bi', ()), ('sfx', ('sfx',))):
        with pytest.raises(KmodError) as info:
            plan_unload(tree, config_of(''), name, loaded={}, builtin=builtin)
        assert info.value.msg == 'Module %s is builtin.' % name


def test_unload_remove_command(tree):
    config = config_of('remove top /sbin/top-off\n')
    # the command runs even when top is not loaded, and dependencies stay
    plan = plan_unload(tree, config, 'top', loaded=loaded_state(mid=(0, []), low=(1, ['mid'])))
    assert plan.steps == [Step('remove', 'top', command='/sbin/top-off', target=True)]
    plan = plan_unload(tree, config, 'top', loaded=loaded_state(top=(0, [])), ignore_remove=True)
    assert plan.steps == [Step('delete', 'top', target=True)]


def test_unload_softdeps_post_first_pre_last(tree):
    config = config_of('softdep top pre: pre1 sfx post: post1 bi\n')
    loaded = loaded_state(top=(0, []), mid=(2, ['top', 'pre1']), low=(1, ['mid']), pre1=(0, []), sfx=(0, []),
                          post1=(0, []))
    plan = plan_unload(tree, config, 'top', loaded=loaded)
    # post-softdeps last first (bi is builtin: skipped), top, its free dependencies, pre-softdeps last first;
    # mid is still held by pre1 when top goes; pre1's removal then frees it
    assert deletes(plan) == [('delete', 'post1', True, False), ('delete', 'top', False, True),
                             ('delete', 'sfx', True, False), ('delete', 'pre1', True, False),
                             ('delete', 'mid', True, False), ('delete', 'low', True, False)]
    plan = plan_unload(tree, config, 'top', loaded=loaded, ignore_remove=True)
    assert [s.name for s in plan.steps] == ['top']


def test_unload_softdep_in_use_is_a_warning(tree):
    config = config_of('softdep top post: post1\n')
    plan = plan_unload(tree, config, 'top', loaded=loaded_state(top=(0, []), post1=(1, ['sfx']), sfx=(0, [])))
    assert [s.name for s in plan.steps] == ['top']
    assert plan.warnings == ['Module post1 is in use by: sfx']


def test_unload_unknown_kernel_state(tree):
    plan = plan_unload(tree, config_of(''), 'top', loaded=None)
    assert plan.steps == [Step('delete', 'top', target=True)]
    plan = plan_unload(tree, config_of(''), 'top', loaded=loaded_state(top=(None, []), mid=(None, [])))
    assert [s.name for s in plan.steps] == ['top']


def test_unload_by_alias_and_not_found(tree):
    plan = plan_unload(tree, config_of(''), 'top-alias', loaded=loaded_state(top=(0, [])))
    assert plan.match.source == 'modules.alias' and [s.name for s in plan.steps] == ['top']
    # loaded but unknown to the tree: removed all the same
    plan = plan_unload(tree, config_of(''), 'out-of-tree', loaded=loaded_state(out_of_tree=(0, [])))
    assert plan.match.source == 'loaded' and plan.steps == [Step('delete', 'out_of_tree', target=True)]
    with pytest.raises(ModuleNotFound) as info:
        plan_unload(tree, config_of(''), 'out-of-tree', loaded={})
    assert info.value.msg == 'Module out-of-tree not found.'


def test_plan_insmod_is_that_file_alone():
    from ansible_collections.kernel.kmod.plugins.module_utils.load.plan import plan_insmod, Step
    plan = plan_insmod('/opt/x/snd-dummy.ko.xz', user_options='a=1')
    assert plan.steps == [Step('insert', 'snd_dummy', path='/opt/x/snd-dummy.ko.xz', options='a=1', target=True)]
    assert list(plan.match.names) == ['snd_dummy']
    assert plan_insmod('/opt/x/dummy.ko', live=['dummy']).steps == [Step('live', 'dummy', target=True)]
    with pytest.raises(KmodError) as info:
        plan_insmod('/opt/x/dummy.txt')
    assert info.value.msg == '/opt/x/dummy.txt is no module file (a name ending in .ko.zst, .ko.xz, .ko.gz, .ko)'


def test_plan_rmmod_is_that_module_alone():
    from ansible_collections.kernel.kmod.plugins.module_utils.load.plan import plan_rmmod, Step
    loaded = {'dummy': {'refcnt': 0, 'holders': []}, 'netcore': {'refcnt': 1, 'holders': ['bonding']}}
    assert plan_rmmod('/opt/dummy.ko', loaded).steps == [Step('delete', 'dummy', target=True)]
    gone = plan_rmmod('/opt/brd.ko', loaded)
    assert gone.steps == [] and gone.not_loaded == ['brd']
    with pytest.raises(KmodError) as info:
        plan_rmmod('/opt/netcore.ko', loaded)
    assert info.value.msg == 'Module netcore is in use by: bonding'
