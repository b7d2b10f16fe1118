"""kmod_load's persistence writes under real faults (issue 11): a full
tmpfs (ENOSPC), a read-only bind mount of /etc (EROFS) and a run as an
unprivileged user (EACCES), for every kind of write the persistence makes:
files created (with their directories or without), an options file
updated, the override file beside someone else's, files removed, and
/etc/modules gaining or losing a line.

The real task runs (run_task over a fake root, the kernel faked, the
file-system faults real).  Every file is left exactly as it was, the
error names a file the plan writes (with the fault's errno), nothing is
inserted, and check mode reports the same plan before and after.
"""

import errno
import os
import shutil
import tempfile

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from ansible_collections.kernel.kmod.plugins.module_utils.load import persistence
from ansible_collections.kernel.kmod.plugins.module_utils.load.task import System, TaskError, run_task
from tests.lib.fake_calls import FakeKernelCalls
from tests.lib.fake_kernel import FakeKernel
from tests.lib.fake_tree import FakeTree
from tests.lib.faults import fill, host_nobody_can_write, read_only, tiny_tmpfs, tree_state
from tests.lib.privileges import call_as_nobody

RELEASE = '6.1.0-test-amd64'
OURS = persistence.HEADER

# kind -> (files under the root before, options of the task, systemd-modules-load installed)
KINDS = {
    'create': ({'etc/modprobe.d/other.conf': '', 'etc/modules-load.d/other.conf': ''},
               dict(name='dummy', params='numdummies=2', persistent='present'), True),
    'create with directories': ({'etc/hostname': 'h\n'},
                                dict(name='dummy', params='numdummies=2', persistent='present'), True),
    'update': ({'etc/modprobe.d/dummy.conf': OURS + 'options dummy numdummies=1\n',
                'etc/modules-load.d/dummy.conf': OURS + 'dummy\n'},
               dict(name='dummy', params='numdummies=2', persistent='present'), True),
    'override': ({'etc/modprobe.d/dummy.conf': 'options dummy numdummies=7\n',
                  'etc/modules-load.d/dummy.conf': 'dummy\n'},
                 dict(name='dummy', params='numdummies=2', persistent='present'), True),
    'remove': ({'etc/modprobe.d/dummy.conf': OURS + 'options dummy numdummies=1\n',
                'etc/modules-load.d/dummy.conf': OURS + 'dummy\n'},
               dict(name='dummy', persistent='absent'), True),
    'etc/modules add': ({'etc/modules': '# boot\nloop\n', 'etc/modprobe.d/other.conf': ''},
                        dict(name='dummy', params='numdummies=2', persistent='present'), False),
    'etc/modules remove': ({'etc/modules': '# boot\nloop\ndummy\n',
                            'etc/modprobe.d/dummy.conf': OURS + 'options dummy numdummies=1\n'},
                           dict(name='dummy', persistent='absent'), False),
}


@pytest.fixture(scope='module')
def tree_root():
    """dummy in a module tree everybody may read (the EACCES runs are nobody's)."""
    root = tempfile.mkdtemp(prefix='kmod-faults-tree-')
    os.chmod(root, 0o755)
    tree = FakeTree(root, RELEASE)
    tree.add('kernel/drivers/net/dummy.ko', modinfo=['license=GPL', 'parm=numdummies:Number of dummy devices',
                                                     'parmtype=numdummies:int'])
    tree.depmod()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def make_host(root, tree_root, kind):
    files, _options, systemd = KINDS[kind]
    os.chmod(root, 0o755)
    os.symlink(os.path.join(tree_root, 'lib'), os.path.join(root, 'lib'))
    if systemd:
        os.makedirs(os.path.join(root, 'usr/lib/systemd'))
        open(os.path.join(root, 'usr/lib/systemd/systemd-modules-load'), 'w').close()
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, 'w') as f:
            f.write(text)
    FakeKernel(root).write()


def run(root, kind, check_mode=False):
    calls = FakeKernelCalls(FakeKernel(root))
    system = System(root=root, calls=calls, kernel=KernelState(root), runner=lambda c, m: (0, '', ''))
    result, _warnings = run_task(dict(KINDS[kind][1]), check_mode=check_mode, diff=True, system=system)
    return {'persistence': result['persistence'], 'diff': result['diff'], 'calls': calls.calls}


def attempt(root, kind):
    """The run that must fail: what it raised, as plain data."""
    calls = FakeKernelCalls(FakeKernel(root))
    system = System(root=root, calls=calls, kernel=KernelState(root), runner=lambda c, m: (0, '', ''))
    try:
        run_task(dict(KINDS[kind][1]), system=system)
    except TaskError as exc:
        return {'msg': exc.msg, 'errno': exc.errno, 'path': exc.path, 'calls': calls.calls,
                'inserted': exc.details['inserted']}
    return {'msg': None}


def check_failure(root, failed, planned, before, err):
    written = [p['path'] for p in planned['persistence']]
    assert failed['msg'] is not None, 'the run did not fail'
    assert failed['errno'] == err, failed
    assert failed['path'] in written and failed['path'] in failed['msg'], failed
    assert failed['calls'] == [] and failed['inserted'] == []
    assert tree_state(root) == before


@pytest.mark.parametrize('kind', [k for k in KINDS if k != 'remove'])
def test_a_full_filesystem_leaves_every_file_as_it_was(tree_root, kind):
    # removing a file takes no space: that kind cannot meet ENOSPC
    with tiny_tmpfs(1024) as mnt:
        make_host(mnt, tree_root, kind)
        planned = run(mnt, kind, check_mode=True)
        assert planned['persistence'] and planned['calls'] == []
        fill(mnt, 0)
        before = tree_state(mnt)
        failed = attempt(mnt, kind)
        check_failure(mnt, failed, planned, before, errno.ENOSPC)
        assert 'No space left on device' in failed['msg']
        assert run(mnt, kind, check_mode=True) == planned


@pytest.mark.parametrize('kind', list(KINDS))
def test_a_read_only_etc_leaves_every_file_as_it_was(tmp_path, tree_root, kind):
    root = str(tmp_path / 'host')
    os.makedirs(root)
    make_host(root, tree_root, kind)
    planned = run(root, kind, check_mode=True)
    before = tree_state(root)
    with read_only(os.path.join(root, 'etc')):
        failed = attempt(root, kind)
        check_failure(root, failed, planned, before, errno.EROFS)
        assert 'Read-only file system' in failed['msg']
        assert run(root, kind, check_mode=True) == planned


@pytest.mark.parametrize('kind', list(KINDS))
def test_a_user_who_may_not_write_leaves_every_file_as_it_was(tree_root, kind):
    with host_nobody_can_write() as root:
        make_host(root, tree_root, kind)
        planned = run(root, kind, check_mode=True)
        before = tree_state(root)
        assert call_as_nobody(lambda: run(root, kind, check_mode=True)) == planned
        failed = call_as_nobody(lambda: attempt(root, kind))
        check_failure(root, failed, planned, before, errno.EACCES)
        assert 'Permission denied' in failed['msg']
        assert run(root, kind, check_mode=True) == planned
