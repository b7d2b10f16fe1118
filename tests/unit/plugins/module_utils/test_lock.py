# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lock.DirectoryLock with real processes: a writer waits for another
writer and for readers, readers share, a killed holder frees the lock, and
the error after the bound names the holder's pid.  lock.DirectoryLocks:
one order for any list, a missing directory guarded by its nearest
ancestor, directories made already locked, a run that waited starting
again when a directory appeared, nothing held after a failure."""

import errno
import os
import signal
import time

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.lock import DirectoryLock, DirectoryLocks, holder_of


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


def test_directory_locks_have_one_order_lock_a_missing_directory_by_its_ancestor_and_a_link_once(tmp_path):
    for name in ('a', 'b'):
        (tmp_path / name).mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'a')
    wanted = [str(tmp_path / 'b'), str(tmp_path / 'link'), str(tmp_path / 'missing' / 'deeper'), str(tmp_path / 'a')]
    plan = DirectoryLocks(wanted, 'x').plan()
    assert plan == [str(tmp_path), str(tmp_path / 'a'), str(tmp_path / 'b')]
    assert DirectoryLocks(list(reversed(wanted)), 'x').plan() == plan
    with DirectoryLocks(wanted, 'x') as locks:
        assert [lock.path for lock in locks.held] == plan
    assert locks.held == []


def test_a_missing_directory_waits_for_the_run_holding_its_ancestor(tmp_path):
    pid = hold_in_child(str(tmp_path))
    try:
        with pytest.raises(KmodError) as info:
            DirectoryLocks([str(tmp_path / 'etc' / 'modprobe.d')], 'kmod_blacklist', wait=0.2).acquire()
        assert info.value.msg == ('kmod_blacklist: another run (pid %d) is working on %s; gave up after waiting '
                                  '0.2 s' % (pid, tmp_path))
    finally:
        stop(pid)


def test_nothing_is_held_after_a_failure(tmp_path):
    for name in ('a', 'b'):
        (tmp_path / name).mkdir()
    pid = hold_in_child(str(tmp_path / 'b'))
    try:
        locks = DirectoryLocks([str(tmp_path / 'b'), str(tmp_path / 'a')], 'x', wait=0.2)
        with pytest.raises(KmodError, match='another run'):
            locks.acquire()
        assert locks.held == []
        # a is free again: another descriptor of this process takes it at once
        with DirectoryLock(str(tmp_path / 'a'), 'x', wait=0):
            pass
    finally:
        stop(pid)


def test_a_directory_made_is_0755_locked_when_it_appears_and_leaves_no_temporary(tmp_path):
    old_umask = os.umask(0o077)
    try:
        with DirectoryLocks([str(tmp_path / 'etc')], 'x') as locks:
            locks.make_directory(str(tmp_path / 'etc'))
            assert os.stat(str(tmp_path / 'etc')).st_mode & 0o7777 == 0o755
            assert os.listdir(str(tmp_path)) == ['etc']
            read_end, write_end = os.pipe()
            child = os.fork()
            if child == 0:  # another run finds it locked
                try:
                    DirectoryLock(str(tmp_path / 'etc'), 'other', wait=0.2).acquire()
                    os.write(write_end, b'free')
                except KmodError as exc:
                    os.write(write_end, exc.msg.encode())
                finally:
                    os._exit(0)
            os.close(write_end)
            os.waitpid(child, 0)
            said = os.read(read_end, 4096).decode()
            os.close(read_end)
            assert said == 'other: another run (pid %d) is working on %s; gave up after waiting 0.2 s' % (
                os.getpid(), tmp_path / 'etc')
            with pytest.raises(OSError) as info:
                locks.make_directory(str(tmp_path / 'etc'))
            assert info.value.errno == errno.EEXIST
            assert os.listdir(str(tmp_path)) == ['etc']
    finally:
        os.umask(old_umask)
    assert locks.made == []
    with DirectoryLock(str(tmp_path / 'etc'), 'x', wait=0):
        pass


def test_a_run_that_waited_starts_again_when_its_directory_appeared(tmp_path):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # a run that makes the directory while holding its parent, then holds both a while
        try:
            os.close(read_end)
            locks = DirectoryLocks([str(tmp_path / 'd')], 'child').acquire()
            os.write(write_end, b'x')
            time.sleep(0.3)
            locks.make_directory(str(tmp_path / 'd'))
            time.sleep(0.3)
        finally:
            os._exit(0)
    os.close(write_end)
    assert os.read(read_end, 1) == b'x'
    os.close(read_end)
    try:
        with DirectoryLocks([str(tmp_path / 'd')], 'x', wait=30) as locks:
            assert [lock.path for lock in locks.held] == [str(tmp_path / 'd')]
            assert os.waitpid(pid, os.WNOHANG) != (0, 0)   # taken only once the maker was done
    finally:
        stop_quietly(pid)


def stop_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (OSError, ChildProcessError):
        pass


LAYOUT = ['a', 'a/b', 'c', 'link', 'a/missing/deeper', 'c/missing', 'gone', 'a/b/../b']


@pytest.fixture(scope='module')
def layout(tmp_path_factory):
    base = tmp_path_factory.mktemp('layout')
    for name in ('a/b', 'c'):
        (base / name).mkdir(parents=True)
    (base / 'link').symlink_to(base / 'a' / 'b')
    return str(base)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(LAYOUT), min_size=1, max_size=8))
def test_the_lock_order_is_one_whatever_the_order_asked(layout, names):
    """For any list: the same sorted real paths in any order, each one a
    directory that exists, and every directory asked for guarded by its own
    lock or its nearest existing ancestor's, the same for a link and where
    it leads."""
    wanted = [os.path.join(layout, name) for name in names]
    plan = DirectoryLocks(wanted, 'x').plan()
    assert plan == sorted(set(plan)) == DirectoryLocks(list(reversed(wanted)), 'x').plan()
    assert all(os.path.isdir(path) and os.path.realpath(path) == path for path in plan)
    for path in wanted:
        guard = path
        while not os.path.isdir(guard):
            guard = os.path.dirname(guard)
        assert os.path.realpath(guard) in plan


def test_a_directory_is_made_in_the_given_directory_descriptor(tmp_path):
    (tmp_path / 'parent').mkdir()
    dir_fd = os.open(str(tmp_path / 'parent'), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.rename(str(tmp_path / 'parent'), str(tmp_path / 'moved'))  # the path no longer leads there
        with DirectoryLocks([str(tmp_path / 'moved' / 'etc')], 'x') as locks:
            locks.make_directory('etc', dir_fd=dir_fd)
            assert os.listdir(str(tmp_path / 'moved')) == ['etc']
            assert os.stat(str(tmp_path / 'moved' / 'etc')).st_mode & 0o7777 == 0o755
    finally:
        os.close(dir_fd)
