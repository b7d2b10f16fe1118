"""kmod_blacklist's writes under real faults (issue 11): a full tmpfs
(ENOSPC), a read-only bind mount of /etc (EROFS) and a run as an
unprivileged user (EACCES), for every kind of write it makes: its own file
created (with its directory or without), its own file updated, someone
else's file gaining lines or losing ours, and its own file removed.

The real task runs (run_task over a fake root, the kernel faked, the
file-system faults real).  Every file is left exactly as it was, the
error names the file with the fault's errno, nothing is unloaded, and
check mode reports the same plan before and after.
"""

import errno
import os
import shutil
import tempfile

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.blacklist.edit import HEADER
from ansible_collections.kernel.kmod.plugins.module_utils.blacklist.task import DEFAULT_PATH, run_task
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from ansible_collections.kernel.kmod.plugins.module_utils.load.task import System
from tests.lib.fake_calls import FakeKernelCalls
from tests.lib.fake_kernel import FakeKernel
from tests.lib.fake_tree import FakeTree
from tests.lib.faults import fill, host_nobody_can_write, read_only, tiny_tmpfs, tree_state
from tests.lib.privileges import call_as_nobody

RELEASE = '6.1.0-test-amd64'
OWN = HEADER.decode()
LOCAL = '/etc/modprobe.d/local.conf'

# kind -> (files under the root before, options of the task, the file written)
KINDS = {
    'create': ({'etc/modprobe.d/other.conf': ''}, dict(name=['pcspkr'], disable=True), DEFAULT_PATH),
    'create with directory': ({'etc/hostname': 'h\n'}, dict(name=['pcspkr']), DEFAULT_PATH),
    'update ours': ({DEFAULT_PATH: OWN + 'blacklist pcspkr\n'}, dict(name=['floppy'], disable=True), DEFAULT_PATH),
    'foreign gains lines': ({LOCAL: '# local\noptions snd_pcsp index=-2\n'},
                            dict(name=['pcspkr'], disable=True, path=LOCAL), LOCAL),
    'foreign loses ours': ({LOCAL: '# local\nblacklist pcspkr\noptions snd_pcsp index=-2\n'},
                           dict(name=['pcspkr'], state='absent', path=LOCAL), LOCAL),
    'remove ours': ({DEFAULT_PATH: OWN + 'blacklist pcspkr\n'}, dict(name=['pcspkr'], state='absent'), DEFAULT_PATH),
}


@pytest.fixture(scope='module')
def tree_root():
    """pcspkr and floppy in a module tree everybody may read (the EACCES runs are nobody's)."""
    root = tempfile.mkdtemp(prefix='kmod-faults-tree-')
    os.chmod(root, 0o755)
    tree = FakeTree(root, RELEASE)
    tree.add('kernel/drivers/input/misc/pcspkr.ko', modinfo=['license=GPL', 'alias=platform:pcspkr'])
    tree.add('kernel/drivers/block/floppy.ko', modinfo=['license=GPL'])
    tree.depmod()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def make_host(root, tree_root, kind):
    os.chmod(root, 0o755)
    os.symlink(os.path.join(tree_root, 'lib'), os.path.join(root, 'lib'))
    for path, text in KINDS[kind][0].items():
        full = os.path.join(root, path.lstrip('/'))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, 'w') as f:
            f.write(text)
    # pcspkr is loaded: an unload, were one planned, would show in the calls
    FakeKernel(root).add_module('pcspkr').write()


def system(root):
    calls = FakeKernelCalls(FakeKernel(root))
    return calls, System(root=root, calls=calls, kernel=KernelState(root), runner=lambda c, m: (0, '', ''))


def run(root, kind, check_mode=False):
    calls, host = system(root)
    result, _warnings = run_task(dict(KINDS[kind][1], unload=True), check_mode=check_mode, diff=True, system=host)
    return {'file': result['file'], 'diff': result['diff'], 'deleted': result['deleted'], 'calls': calls.calls}


def attempt(root, kind):
    """The run that must fail: what it raised, as plain data."""
    calls, host = system(root)
    try:
        run_task(dict(KINDS[kind][1], unload=True), system=host)
    except KmodError as exc:
        return {'msg': exc.msg, 'errno': exc.errno, 'path': exc.path, 'calls': calls.calls}
    return {'msg': None}


def check_failure(root, kind, failed, planned, before, err):
    target = os.path.join(root, KINDS[kind][2].lstrip('/'))
    assert planned['file'] is not None
    assert failed['msg'] is not None, 'the run did not fail'
    assert failed['errno'] == err and failed['path'] == target and target in failed['msg'], failed
    assert failed['calls'] == []
    assert tree_state(root) == before


@pytest.mark.parametrize('kind', [k for k in KINDS if k != 'remove ours'])
def test_a_full_filesystem_leaves_every_file_as_it_was(tree_root, kind):
    # removing a file takes no space: that kind cannot meet ENOSPC
    with tiny_tmpfs(1024) as mnt:
        make_host(mnt, tree_root, kind)
        planned = run(mnt, kind, check_mode=True)
        fill(mnt, 0)
        before = tree_state(mnt)
        failed = attempt(mnt, kind)
        check_failure(mnt, kind, failed, planned, before, errno.ENOSPC)
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
        check_failure(root, kind, failed, planned, before, errno.EROFS)
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
        check_failure(root, kind, failed, planned, before, errno.EACCES)
        assert 'Permission denied' in failed['msg']
        assert run(root, kind, check_mode=True) == planned
