"""kmod_load runs with persistence at once on one host, as processes (issue
11): two and four runs against one fake root, twenty rounds each.  The
modules are loaded already, so only the persistence files change.  No run
crashes, and the files are what the same runs one after the other write:
with the same task, byte for byte (also when the runs race to make the
directories, or all remove the same files); with a module each in the
shared /etc/modules of a host without systemd, every run's line is in it."""

import os
import shutil

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from ansible_collections.kernel.kmod.plugins.module_utils.load.task import System, run_task
from tests.lib.fake_calls import FakeKernelCalls
from tests.lib.fake_kernel import FakeKernel
from tests.lib.fake_tree import FakeTree
from tests.lib.processes import run_at_once

RELEASE = '6.1.0-test-amd64'
ROUNDS = 20
NAMES = ['m0', 'm1', 'm2', 'm3']


@pytest.fixture(scope='module')
def tree_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('tree')
    tree = FakeTree(root, RELEASE)
    for name in NAMES:
        tree.add('kernel/drivers/misc/%s.ko' % name,
                 modinfo=['license=GPL', 'parm=level:a level', 'parmtype=level:int'])
    tree.depmod()
    return str(root)


def make_host(tmp_path, tree_root, systemd=True):
    root = str(tmp_path / 'host')
    os.makedirs(root)
    os.symlink(os.path.join(tree_root, 'lib'), os.path.join(root, 'lib'))
    if systemd:
        os.makedirs(os.path.join(root, 'usr/lib/systemd'))
        open(os.path.join(root, 'usr/lib/systemd/systemd-modules-load'), 'w').close()
    kernel = FakeKernel(root)
    for name in NAMES:
        kernel.add_module(name, params={'level': '1'})
    kernel.write()
    return root


def load(root, **options):
    system = System(root=root, calls=FakeKernelCalls(FakeKernel(root)), kernel=KernelState(root),
                    runner=lambda c, m: (0, '', ''))
    options.setdefault('param_drift', 'ignore')
    result, _warnings = run_task(options, system=system)
    assert result['inserted'] == [] and result['deleted'] == []
    return [p['action'] for p in result['persistence']]


def files(root):
    """{path under /etc: bytes} of every file there; directories listed too."""
    out = {}
    top = os.path.join(root, 'etc')
    for base, dirs, names in os.walk(top):
        for name in dirs:
            out[os.path.relpath(os.path.join(base, name), top) + '/'] = None
        for name in names:
            with open(os.path.join(base, name), 'rb') as f:
                out[os.path.relpath(os.path.join(base, name), top)] = f.read()
    return out


def reset(root, start):
    """A round starts without /etc (the runs race to make the directories
    too), with an empty /etc, or with the files one run made (start: a
    dict of them)."""
    shutil.rmtree(os.path.join(root, 'etc'), ignore_errors=True)
    if start == 'etc':
        os.makedirs(os.path.join(root, 'etc'))
    elif isinstance(start, dict):
        for path, data in sorted(start.items()):
            full = os.path.join(root, 'etc', path)
            if data is None:
                os.makedirs(full, exist_ok=True)
            else:
                with open(full, 'wb') as f:
                    f.write(data)


def together(root, start, tasks):
    for _round in range(ROUNDS):
        reset(root, start)
        outcomes = run_at_once(tasks)
        assert [o.ok for o in outcomes] == [True] * len(tasks), [o.text for o in outcomes if not o.ok]
        yield files(root)


@pytest.mark.parametrize('start', ['nothing', 'etc'])
@pytest.mark.parametrize('runs', [2, 4])
def test_the_same_task_at_once_writes_what_one_run_writes(tmp_path, tree_root, runs, start):
    root = make_host(tmp_path, tree_root)
    task = dict(name='m0', params='level=2', persistent='present')
    load(root, **task)
    single = files(root)
    for found in together(root, start, [lambda: load(root, **task)] * runs):
        assert found == single


@pytest.mark.parametrize('runs', [2, 4])
def test_the_same_removal_at_once_removes_once(tmp_path, tree_root, runs):
    root = make_host(tmp_path, tree_root)
    for name in NAMES:
        load(root, name=name, params='level=2', persistent='present')
    made = files(root)
    task = dict(name=NAMES, persistent='absent')
    load(root, **task)
    single = files(root)
    assert single == {'modprobe.d/': None, 'modules-load.d/': None}
    for found in together(root, made, [lambda: load(root, **task)] * runs):
        assert found == single


@pytest.mark.parametrize('start', ['nothing', 'etc'])
@pytest.mark.parametrize('runs', [2, 4])
def test_a_module_each_in_etc_modules_at_once_loses_no_run_s_line(tmp_path, tree_root, runs, start):
    root = make_host(tmp_path, tree_root, systemd=False)
    names = NAMES[:runs]
    for name in names:
        load(root, name=name, params='level=2', persistent='present')
    single = files(root)
    tasks = [(lambda name=name: load(root, name=name, params='level=2', persistent='present')) for name in names]
    for found in together(root, start, tasks):
        # the runs' order decides the lines' order in /etc/modules; what is in it does not change
        assert sorted(found.pop('modules').splitlines()) == sorted(single['modules'].splitlines())
        assert found == dict((k, v) for k, v in single.items() if k != 'modules')
