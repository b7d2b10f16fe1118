"""kmod_blacklist runs at once on one host, as processes (issue 11): two and
four runs against one fake root, twenty rounds each, all writing one file.
No run crashes, and the file is what one run doing all of it writes: with
the same task, byte for byte; with a name each, every run's lines are in
it (none lost to another run's write) and nothing else.  Two runs of
kmod_load with persistence and two of kmod_blacklist at once take turns
without waiting for each other crosswise."""

import os
import shutil

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.blacklist.edit import HEADER
from ansible_collections.kernel.kmod.plugins.module_utils.blacklist.task import run_task
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from ansible_collections.kernel.kmod.plugins.module_utils.load.task import System, run_task as run_load_task
from tests.lib.fake_calls import FakeKernelCalls
from tests.lib.fake_kernel import FakeKernel
from tests.lib.fake_tree import FakeTree
from tests.lib.processes import run_at_once

RELEASE = '6.1.0-test-amd64'
ROUNDS = 20
NAMES = ['m0', 'm1', 'm2', 'm3']
PATH = '/etc/modprobe.d/kernel-kmod-blacklist.conf'


@pytest.fixture(scope='module')
def tree_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('tree')
    tree = FakeTree(root, RELEASE)
    for name in NAMES:
        tree.add('kernel/drivers/misc/%s.ko' % name, modinfo=['license=GPL'])
    tree.depmod()
    return str(root)


def make_host(tmp_path, tree_root):
    root = str(tmp_path / 'host')
    os.makedirs(root)
    os.symlink(os.path.join(tree_root, 'lib'), os.path.join(root, 'lib'))
    FakeKernel(root).write()
    return root


def blacklist(root, **options):
    system = System(root=root, calls=FakeKernelCalls(FakeKernel(root)), kernel=KernelState(root),
                    runner=lambda c, m: (0, '', ''))
    result, _warnings = run_task(options, system=system)
    return result['file']


def read(root):
    with open(os.path.join(root, PATH.lstrip('/')), 'rb') as f:
        return f.read()


def fresh(root, start):
    """A round starts without /etc (the runs race to make the directories
    too) or with an empty modprobe.d."""
    shutil.rmtree(os.path.join(root, 'etc'), ignore_errors=True)
    if start == 'directory':
        os.makedirs(os.path.join(root, 'etc', 'modprobe.d'))


STARTS = ['nothing', 'directory']


@pytest.mark.parametrize('start', STARTS)
@pytest.mark.parametrize('runs', [2, 4])
def test_the_same_task_at_once_writes_what_one_run_writes(tmp_path, tree_root, runs, start):
    root = make_host(tmp_path, tree_root)
    blacklist(root, name=NAMES, disable=True)
    single = read(root)
    for _round in range(ROUNDS):
        fresh(root, start)
        outcomes = run_at_once([lambda: blacklist(root, name=NAMES, disable=True)] * runs)
        assert [o.ok for o in outcomes] == [True] * runs, [o.text for o in outcomes if not o.ok]
        assert read(root) == single
        assert sorted(os.listdir(os.path.join(root, 'etc'))) == ['modprobe.d']
        assert os.listdir(os.path.join(root, 'etc', 'modprobe.d')) == ['kernel-kmod-blacklist.conf']


@pytest.mark.parametrize('start', STARTS)
@pytest.mark.parametrize('runs', [2, 4])
def test_a_name_each_at_once_loses_no_run_s_lines(tmp_path, tree_root, runs, start):
    root = make_host(tmp_path, tree_root)
    names = NAMES[:runs]
    blacklist(root, name=names, disable=True)
    single = read(root)
    for _round in range(ROUNDS):
        fresh(root, start)
        outcomes = run_at_once([(lambda name=name: blacklist(root, name=[name], disable=True)) for name in names])
        assert [o.ok for o in outcomes] == [True] * runs, [o.text for o in outcomes if not o.ok]
        data = read(root)
        # the runs' order decides the lines' order; what is in the file does not change
        assert data.startswith(HEADER)
        assert sorted(data.splitlines()) == sorted(single.splitlines())
        assert os.listdir(os.path.join(root, 'etc', 'modprobe.d')) == ['kernel-kmod-blacklist.conf']


def test_kmod_load_and_kmod_blacklist_at_once_take_turns_without_deadlock(tmp_path, tree_root):
    """Two runs of each module: kmod_load locks modprobe.d and modules-load.d,
    kmod_blacklist modprobe.d, in the one order; every run ends, every
    file is what the four runs one after the other make."""
    root = make_host(tmp_path, tree_root)
    os.makedirs(os.path.join(root, 'usr/lib/systemd'))
    open(os.path.join(root, 'usr/lib/systemd/systemd-modules-load'), 'w').close()
    FakeKernel(root).add_module('m0').add_module('m1').write()   # loaded: only files change

    def persist(name):
        system = System(root=root, calls=FakeKernelCalls(FakeKernel(root)), kernel=KernelState(root),
                        runner=lambda c, m: (0, '', ''))
        result, _warnings = run_load_task(dict(name=name, persistent='present'), system=system)
        assert result['inserted'] == []
        return [p['action'] for p in result['persistence']]

    tasks = [lambda: persist('m0'), lambda: persist('m1'),
             lambda: blacklist(root, name=['m2'], disable=True), lambda: blacklist(root, name=['m3'])]
    for task in tasks:
        task()
    single = snapshot(root)
    for _round in range(ROUNDS):
        fresh(root, 'nothing')
        outcomes = run_at_once(tasks)
        assert [o.ok for o in outcomes] == [True] * len(tasks), [o.text for o in outcomes if not o.ok]
        found = snapshot(root)
        blacklist_file = PATH.lstrip('/')
        assert sorted(found.pop(blacklist_file).splitlines()) == sorted(single[blacklist_file].splitlines())
        assert found == dict((k, v) for k, v in single.items() if k != blacklist_file)


def snapshot(root):
    out = {}
    for base, _dirs, names in os.walk(os.path.join(root, 'etc')):
        for name in names:
            path = os.path.join(base, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, root)] = f.read()
    return out
