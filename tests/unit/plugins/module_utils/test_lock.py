# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lock.DirectoryLock with real processes: a writer waits for another
writer and for readers, readers share, a killed holder frees the lock, and
the error after the bound names the holder's pid."""

import os
import signal
import time

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.lock import DirectoryLock, holder_of


def hold_in_child(path, shared=False):
    """Fork a process that takes the lock, says so through a pipe and sleeps: its pid."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(read_end)
            DirectoryLock(path, 'child', shared=shared).acquire()
            os.write(write_end, b'x')
            time.sleep(60)
        finally:
            os._exit(0)
    os.close(write_end)
    assert os.read(read_end, 1) == b'x'
    os.close(read_end)
    return pid


def stop(pid):
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


@pytest.mark.parametrize('child_shared, we_shared, blocked', [
    (False, False, True), (False, True, True), (True, False, True), (True, True, False)])
def test_writers_wait_for_everyone_and_readers_share(tmp_path, child_shared, we_shared, blocked):
    pid = hold_in_child(str(tmp_path), shared=child_shared)
    try:
        lock = DirectoryLock(str(tmp_path), 'kmod_depmod', wait=0.3, shared=we_shared)
        if blocked:
            with pytest.raises(KmodError) as info:
                lock.acquire()
            assert info.value.msg == ('kmod_depmod: another run (pid %d) is working on %s; gave up after waiting '
                                      '0.3 s' % (pid, tmp_path))
        else:
            with lock:
                pass
    finally:
        stop(pid)


def test_a_killed_holder_frees_the_lock(tmp_path):
    pid = hold_in_child(str(tmp_path))
    stop(pid)
    with DirectoryLock(str(tmp_path), 'x', wait=0.5) as lock:
        assert lock.fd is not None
    assert lock.fd is None


def test_the_lock_is_taken_as_soon_as_it_is_released(tmp_path):
    pid = hold_in_child(str(tmp_path))
    child = os.fork()
    if child == 0:
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        os._exit(0)
    start = time.monotonic()
    with DirectoryLock(str(tmp_path), 'x', wait=30):
        waited = time.monotonic() - start
    os.waitpid(pid, 0)
    os.waitpid(child, 0)
    assert waited < 30   # it was taken, not given up on


def test_nothing_is_written_and_a_missing_directory_is_not_locked(tmp_path):
    with DirectoryLock(str(tmp_path), 'x'):
        assert os.listdir(str(tmp_path)) == []
    with DirectoryLock(str(tmp_path / 'missing'), 'x') as lock:
        assert lock.fd is None
    assert not (tmp_path / 'missing').exists()


def test_a_symlinked_directory_is_locked_where_it_leads(tmp_path):
    (tmp_path / 'real').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'real')
    pid = hold_in_child(str(tmp_path / 'real'))
    try:
        with pytest.raises(KmodError, match='another run'):
            DirectoryLock(str(tmp_path / 'link'), 'x', wait=0.2).acquire()
    finally:
        stop(pid)


def test_holder_is_read_from_proc_locks(tmp_path):
    fd = os.open(str(tmp_path), os.O_RDONLY)
    try:
        st = os.fstat(fd)
        locks = tmp_path.parent / ('%s.locks' % tmp_path.name)
        locks.write_text('1: -> FLOCK  ADVISORY  WRITE 99 %02x:%02x:%d 0 EOF\n'
                         '2: FLOCK  ADVISORY  WRITE 4242 %02x:%02x:%d 0 EOF\n'
                         % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino,
                            os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
        assert holder_of(fd, str(locks)) == 'pid 4242'
        assert holder_of(fd, str(tmp_path / 'none')) == 'pid unknown'
    finally:
        os.close(fd)
