import errno
import os
import pathlib
import stat

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils import files
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from tests.lib.faults import need_root, read_only
from tests.lib.privileges import SharedDir, as_nobody


def test_plan_only_lists_differences(tmp_path):
    (tmp_path / 'same').write_bytes(b'a\n')
    (tmp_path / 'other').write_bytes(b'old\n')
    wanted = {str(tmp_path / 'same'): b'a\n', str(tmp_path / 'other'): b'new\n', str(tmp_path / 'fresh'): b'x'}
    changes = files.plan_changes(wanted)
    assert [(os.path.basename(c.path), c.action) for c in changes] == [('other', 'update'), ('fresh', 'create')]


def test_apply_writes_and_keeps_mode(tmp_path):
    target = tmp_path / 'f'
    target.write_bytes(b'old')
    os.chmod(target, 0o600)
    files.apply_changes(files.plan_changes({str(target): b'new', str(tmp_path / 'g'): b'g'}))
    assert target.read_bytes() == b'new'
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / 'g').st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ['f', 'g']  # no temporaries left


def test_unchanged_file_is_not_touched(tmp_path):
    target = tmp_path / 'f'
    target.write_bytes(b'same')
    os.utime(target, ns=(1, 1))
    changes = files.plan_changes({str(target): b'same'})
    files.apply_changes(changes)
    assert changes == [] and os.stat(target).st_mtime_ns == 1


@pytest.fixture
def shared_dir():
    with SharedDir() as path:
        yield pathlib.Path(path)


def test_failure_leaves_every_file_as_it_was(shared_dir):
    tmp_path = shared_dir
    good = tmp_path / 'good'
    good.write_bytes(b'old')
    ro = tmp_path / 'ro'
    ro.mkdir()
    (ro / 'f').write_bytes(b'old')
    for p in (good, ro / 'f'):
        os.chmod(p, 0o666)
    os.chmod(ro, 0o555)  # a directory nobody may write into

    def attempt():
        with pytest.raises(KmodError) as info:
            files.apply_changes(files.plan_changes({str(good): b'new', str(ro / 'f'): b'new'}))
        assert info.value.path == str(ro / 'f')

    try:
        assert as_nobody(attempt) == 0
    finally:
        os.chmod(ro, 0o700)
    assert good.read_bytes() == b'old' and (ro / 'f').read_bytes() == b'old'
    assert sorted(os.listdir(tmp_path)) == ['good', 'ro']


def test_failure_writing_temporaries_cleans_up(tmp_path):
    good = tmp_path / 'good'
    good.write_bytes(b'old')
    # a directory is made for the second file, then the third cannot be: nothing stays
    (tmp_path / 'plain').write_bytes(b'')
    made = tmp_path / 'made' / 'deeper' / 'f'
    under_a_file = tmp_path / 'plain' / 'f'
    with pytest.raises(KmodError) as info:
        files.apply_changes(files.plan_changes({str(good): b'new', str(made): b'x'})
                            + [files.FileChange(str(under_a_file), None, b'x')])
    assert 'cannot write' in str(info.value) and info.value.errno is not None
    assert good.read_bytes() == b'old'
    assert sorted(os.listdir(tmp_path)) == ['good', 'plain']


def test_missing_directories_are_made_0755(tmp_path):
    target = tmp_path / 'etc' / 'modprobe.d' / 'x.conf'
    old_umask = os.umask(0o077)
    try:
        files.apply_changes(files.plan_changes({str(target): b'x'}))
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b'x'
    assert [os.stat(str(d)).st_mode & 0o777 for d in (target.parent.parent, target.parent)] == [0o755, 0o755]


def test_missing_directories_of_a_relative_path_are_made_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    files.apply_changes(files.plan_changes({os.path.join('etc', 'modprobe.d', 'x.conf'): b'x'}))
    assert (tmp_path / 'etc' / 'modprobe.d' / 'x.conf').read_bytes() == b'x'


def test_missing_directories_are_made_by_the_given_maker_and_taken_back_on_failure(tmp_path):
    made = []

    def maker(name, mode, dir_fd):
        made.append((name, mode, os.readlink('/proc/self/fd/%d' % dir_fd)))
        os.mkdir(name, mode, dir_fd=dir_fd)

    target = tmp_path / 'etc' / 'modprobe.d' / 'x.conf'
    staged = files.stage_changes(files.plan_changes({str(target): b'x'}), make_directory=maker)
    assert made == [('etc', 0o755, str(tmp_path)), ('modprobe.d', 0o755, str(tmp_path / 'etc'))]
    staged.abort()
    assert os.listdir(str(tmp_path)) == []


def test_stage_then_abort_or_commit(tmp_path):
    keep = tmp_path / 'keep'
    keep.write_bytes(b'old')
    gone = tmp_path / 'gone'
    gone.write_bytes(b'x')
    changes = files.plan_changes({str(keep): b'new', str(gone): None, str(tmp_path / 'd' / 'n'): b'n'})
    staged = files.stage_changes(changes)
    assert keep.read_bytes() == b'old' and gone.exists() and not (tmp_path / 'd' / 'n').exists()
    staged.abort()
    assert sorted(os.listdir(str(tmp_path))) == ['gone', 'keep'] and keep.read_bytes() == b'old'
    staged = files.stage_changes(changes)
    staged.commit()
    assert keep.read_bytes() == b'new' and not gone.exists() and (tmp_path / 'd' / 'n').read_bytes() == b'n'
    staged.abort()  # after commit: nothing to take back
    assert keep.read_bytes() == b'new'


def test_a_symlink_target_is_refused_never_followed(tmp_path):
    real = tmp_path / 'real'
    real.write_bytes(b'real')
    link = tmp_path / 'link.conf'
    os.symlink(str(real), str(link))
    with pytest.raises(KmodError) as info:
        files.stage_changes(files.plan_changes({str(link): b'new', str(tmp_path / 'other'): b'o'}))
    assert info.value.msg == ('cannot read %s: it is a symlink (a symbolic link is refused, never followed), '
                              'not a regular file' % link)
    assert real.read_bytes() == b'real' and sorted(os.listdir(str(tmp_path))) == ['link.conf', 'real']


def test_remove(tmp_path):
    target = tmp_path / 'f'
    target.write_bytes(b'x')
    changes = files.plan_changes({str(target): None, str(tmp_path / 'absent'): None})
    assert [c.action for c in changes] == ['remove']
    files.apply_changes(changes)
    assert not target.exists()


def test_diff_entry_is_bounded():
    change = files.FileChange('/x/modules.dep', None, b'a' * 100)
    d = files.diff_entry(change, max_bytes=10)
    assert d['before'] == '' and d['before_header'] == '/x/modules.dep (absent)'
    assert d['after'].startswith('a' * 10 + '\n[... 90 more bytes not shown]')


def test_unreadable_current_file_is_an_error(tmp_path):
    with pytest.raises(KmodError, match='cannot read'):
        files.read_current(str(tmp_path))  # a directory


def test_create_temp_makes_a_private_new_file_beside_the_target(tmp_path):
    from ansible_collections.kernel.kmod.plugins.module_utils.files import create_temp
    target = str(tmp_path / 'modules.dep')
    names = set()
    for _n in range(20):
        fd, tmp = create_temp(target)
        os.close(fd)
        assert os.path.dirname(tmp) == str(tmp_path)
        assert os.path.basename(tmp).startswith('.modules.dep.') and tmp.endswith('.tmp')
        assert os.stat(tmp).st_mode & 0o777 == 0o600
        names.add(tmp)
    assert len(names) == 20


def test_create_temp_in_a_missing_directory_raises_oserror(tmp_path):
    from ansible_collections.kernel.kmod.plugins.module_utils.files import create_temp
    with pytest.raises(OSError) as exc:
        create_temp(str(tmp_path / 'missing' / 'x'))
    assert exc.value.errno == errno.ENOENT


@pytest.mark.parametrize('old_mode, new_mode', [(0o4755, 0o755), (0o2644, 0o644), (0o1644, 0o644),
                                                (0o666, 0o664), (0o640, 0o640), (0o6777, 0o775)])
def test_modes_carried_over_lose_setuid_setgid_sticky_and_world_write(tmp_path, old_mode, new_mode):
    target = tmp_path / 'f.conf'
    target.write_bytes(b'old\n')
    os.chmod(str(target), old_mode)
    files.apply_changes(files.plan_changes({str(target): b'new\n'}))
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == new_mode


def test_the_mode_is_set_on_the_descriptor_not_by_path(tmp_path, monkeypatch):
    # before: os.chmod(tmp) after close, which a symlink swapped in for tmp would redirect
    target = tmp_path / 'f.conf'
    calls = []
    real_chmod = os.chmod
    monkeypatch.setattr(os, 'chmod', lambda *a, **k: calls.append(a) or real_chmod(*a, **k))
    files.apply_changes(files.plan_changes({str(target): b'new\n'}))
    assert [c for c in calls if not os.path.isdir(str(c[0]))] == []
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o644


def test_a_fifo_or_device_target_is_refused_without_hanging(tmp_path):
    # before: read_current opened the FIFO and waited for a writer for ever
    fifo = tmp_path / 'fifo.conf'
    os.mkfifo(str(fifo))
    with pytest.raises(KmodError) as info:
        files.plan_changes({str(fifo): b'x\n'})
    assert info.value.msg == 'cannot read %s: it is a special file, not a regular file' % fifo
    with pytest.raises(KmodError) as info:
        files.read_current('/dev/zero')
    assert info.value.msg == 'cannot read /dev/zero: it is a special file, not a regular file'


def test_temporary_target_reads_back_what_create_temp_names(tmp_path):
    fd, tmp = files.create_temp(str(tmp_path / 'modules.dep'))
    os.close(fd)
    assert files.temporary_target(os.path.basename(tmp)) == 'modules.dep'
    for other in ('.modules.dep.xyz.tmp', 'modules.dep.0123456789ab.tmp', '.modules.dep.0123456789ab.tmp.bak',
                  '..0123456789ab.tmp', '.x.0123456789AB.tmp'):
        assert files.temporary_target(other) is None


def test_a_removal_on_a_read_only_mount_says_so(tmp_path):
    need_root()
    (tmp_path / 'ro').mkdir()
    gone = tmp_path / 'ro' / 'gone'
    gone.write_bytes(b'old')
    with read_only(str(tmp_path / 'ro')):
        with pytest.raises(KmodError) as info:
            files.stage_changes([files.FileChange(str(gone), b'old', None)])
    assert info.value.errno == errno.EROFS and info.value.path == str(gone)
    assert 'Read-only file system' in info.value.msg and gone.read_bytes() == b'old'


def test_read_fd_reads_to_the_end_past_one_chunk(tmp_path):
    data = bytes(range(256)) * (5 * 4096 + 3)   # more than one 1 MiB read
    path = tmp_path / 'big'
    path.write_bytes(data)
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.read(fd, 10)
        assert files.read_fd(fd) == data[10:]
        assert files.read_fd(fd) == b''
    finally:
        os.close(fd)


def _swap_for_symlink(directory, elsewhere):
    """What a local account that can write directory's parent does between
    staging and commit: the directory moved away, a symlink in its place."""
    os.rename(str(directory), str(directory) + '.moved')
    os.symlink(str(elsewhere), str(directory))


def _ours_and_precious(tmp_path):
    """modprobe.d/x.conf (ours) and cron.d/x.conf (one root must not touch)."""
    conf, elsewhere = tmp_path / 'modprobe.d', tmp_path / 'cron.d'
    for directory, content in ((conf, b'ours'), (elsewhere, b'precious')):
        directory.mkdir()
        (directory / 'x.conf').write_bytes(content)
    return conf, elsewhere


def test_a_directory_swapped_for_a_symlink_after_staging_cannot_redirect_a_removal(tmp_path):
    # failed before the directory's descriptor was kept: commit unlinked elsewhere/x.conf
    conf, elsewhere = _ours_and_precious(tmp_path)
    staged = files.stage_changes(files.plan_changes({str(conf / 'x.conf'): None}))
    _swap_for_symlink(conf, elsewhere)
    staged.commit()
    assert (elsewhere / 'x.conf').read_bytes() == b'precious'
    assert os.listdir(str(tmp_path / 'modprobe.d.moved')) == []


def test_a_directory_swapped_for_a_symlink_after_staging_cannot_redirect_a_write(tmp_path):
    # failed before: the rename was looked up through the symlink (ENOENT there, or
    # a temporary planted there by the swapper renamed over elsewhere/x.conf)
    conf, elsewhere = _ours_and_precious(tmp_path)
    staged = files.stage_changes(files.plan_changes({str(conf / 'x.conf'): b'new'}))
    (temp,) = [e for e in os.listdir(str(conf)) if e != 'x.conf']
    (elsewhere / temp).write_bytes(b'planted')
    _swap_for_symlink(conf, elsewhere)
    staged.commit()
    assert (elsewhere / 'x.conf').read_bytes() == b'precious'
    assert (tmp_path / 'modprobe.d.moved' / 'x.conf').read_bytes() == b'new'
    assert sorted(os.listdir(str(tmp_path / 'modprobe.d.moved'))) == ['x.conf']


def test_a_parent_made_then_swapped_for_a_symlink_while_staging_is_never_followed(tmp_path):
    # each directory is made in its parent's descriptor, never through a path
    target = tmp_path / 'etc' / 'modprobe.d' / 'x.conf'
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()

    def maker(name, mode, dir_fd):
        if name == 'modprobe.d':  # etc was made and opened; now swapped
            _swap_for_symlink(tmp_path / 'etc', elsewhere)
        os.mkdir(name, mode, dir_fd=dir_fd)

    staged = files.stage_changes(files.plan_changes({str(target): b'x'}), make_directory=maker)
    staged.commit()
    assert os.listdir(str(elsewhere)) == []
    assert (tmp_path / 'etc.moved' / 'modprobe.d' / 'x.conf').read_bytes() == b'x'


def test_a_parent_swapped_for_a_symlink_as_it_is_made_is_refused(tmp_path):
    target = tmp_path / 'etc' / 'modprobe.d' / 'x.conf'
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()

    def maker(name, mode, dir_fd):
        os.mkdir(name, mode, dir_fd=dir_fd)
        if name == 'etc':  # swapped before it is opened
            _swap_for_symlink(tmp_path / 'etc', elsewhere)

    with pytest.raises(KmodError) as info:
        files.stage_changes(files.plan_changes({str(target): b'x'}), make_directory=maker)
    assert info.value.msg == 'cannot write %s: Not a directory' % target
    assert os.listdir(str(elsewhere)) == [] and os.listdir(str(tmp_path / 'etc.moved')) == []


def test_a_transaction_closes_its_directory_descriptors(tmp_path):
    before = len(os.listdir('/proc/self/fd'))
    staged = files.stage_changes(files.plan_changes({str(tmp_path / 'a'): b'a', str(tmp_path / 'd' / 'b'): b'b'}))
    assert len(os.listdir('/proc/self/fd')) == before + 2
    staged.commit()
    assert len(os.listdir('/proc/self/fd')) == before
    staged = files.stage_changes(files.plan_changes({str(tmp_path / 'a'): b'c'}))
    staged.abort()
    assert len(os.listdir('/proc/self/fd')) == before
