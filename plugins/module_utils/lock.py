# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run at a time per directory: an flock(2) on the directory itself,
waited for within a bound.

Two runs of a task on one host (two playbooks, a playbook and a cron job)
would otherwise interleave their reads and writes of one module directory
or one configuration directory.  The lock is taken on the directory's own
descriptor, so no lock file is ever written (a run that fails leaves no
trace), and the kernel drops it when its holder exits, however it exits: a
killed run never leaves a stale lock.  Only runs of this collection take
it; kmod's tools do not look.
"""

import errno
import fcntl
import os
import time

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError

# How long a run waits for another to finish before it fails.
DEFAULT_WAIT = 120.0


class DirectoryLock(object):
    """``with DirectoryLock('/lib/modules/6.1', 'kmod_depmod'):`` ...

    shared: a lock that other shared holders may hold too (a run that only
    reads, such as check mode), while a writer waits for all of them.  A
    missing directory is not locked (there is nothing in it to guard yet).
    Raises KmodError when another run held the lock for longer than `wait`
    seconds, naming that run's pid when /proc/locks tells it.
    """

    def __init__(self, path, what, wait=DEFAULT_WAIT, shared=False):
        self.path = path
        self.what = what
        self.wait = wait
        self.mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        self.fd = None

    def acquire(self):
        try:
            # a symlinked directory is locked where it leads: that is the one written
            fd = os.open(self.path, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | getattr(os, 'O_CLOEXEC', 0))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return self
            raise KmodError.from_os_error(exc, '%s: cannot open %s to lock it' % (self.what, self.path),
                                          path=self.path)
        try:
            self._wait_for(fd)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def _wait_for(self, fd):
        deadline = time.monotonic() + self.wait
        delay = 0.02
        while True:
            try:
                fcntl.flock(fd, self.mode | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise KmodError.from_os_error(exc, '%s: cannot lock %s' % (self.what, self.path),
                                                  path=self.path)
            now = time.monotonic()
            if now >= deadline:
                raise KmodError('%s: another run (%s) is working on %s; gave up after waiting %g s'
                                % (self.what, holder_of(fd), self.path, self.wait), path=self.path)
            time.sleep(min(delay, deadline - now))
            delay = min(delay * 2, 1.0)

    def release(self):
        if self.fd is not None:
            os.close(self.fd)   # closing drops the flock
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def holder_of(fd, locks='/proc/locks'):
    """'pid N' of the process holding an flock on fd's file, from /proc/locks."""
    st = os.fstat(fd)
    wanted = '%02x:%02x:%d' % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    try:
        with open(locks) as f:
            for line in f:
                fields = line.split()
                # '1: FLOCK  ADVISORY  WRITE 1234 fe:01:5678 0 EOF'; waiters are marked '->'
                if len(fields) >= 6 and fields[1] == 'FLOCK' and fields[5] == wanted:
                    return 'pid %s' % fields[4]
    except OSError:
        pass
    return 'pid unknown'


def _nearest_existing(path):
    """path itself when it is a directory, else its nearest ancestor that is."""
    path = os.path.abspath(path)
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _lexists(name, dir_fd):
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return True


class DirectoryLocks(object):
    """The locks of the directories a run writes, all taken before it reads
    what it plans from and held until its changes are made:
    ``with DirectoryLocks(['/etc/modprobe.d', '/etc/modules-load.d'], 'kmod_load') as locks:``

    - One order for every run of every module (sorted real paths), so two
      runs locking two directories never wait for each other crosswise.
    - A directory that does not exist yet is guarded by its nearest existing
      ancestor's lock, and the run that then creates it does so through
      make_directory, which makes it under a temporary name, locks it and
      only then renames it into place: a run that finds it has to wait for
      the lock of the run that made it.  A run that waited for an ancestor
      and finds the directory made meanwhile starts again with its lock.
    - Two directories that are one (a symlink) are locked once.
    shared and wait: as DirectoryLock's (shared in check mode).  Raises
    KmodError as DirectoryLock does; none is held then.
    """

    # how often a run starts again because a directory appeared while it waited
    RETRIES = 10

    def __init__(self, directories, what, wait=DEFAULT_WAIT, shared=False):
        self.directories = list(directories)
        self.what = what
        self.wait = wait
        self.shared = shared
        self.held = []      # DirectoryLocks taken, in order
        self.made = []      # descriptors of directories this run made, locked

    def plan(self):
        """The real paths to lock, in the order they are taken."""
        return sorted(set(os.path.realpath(_nearest_existing(d)) for d in self.directories))

    def acquire(self):
        for _attempt in range(self.RETRIES):
            wanted = self.plan()
            try:
                for path in wanted:
                    self.held.append(DirectoryLock(path, self.what, self.wait, self.shared).acquire())
            except BaseException:
                self.release()
                raise
            if self.plan() == wanted:
                return self
            self.release()
        raise KmodError('%s: the directories %s kept changing while waiting to lock them'
                        % (self.what, ', '.join(self.directories)), path=self.directories[0])

    def make_directory(self, name, mode=0o755, dir_fd=None):
        """Create directory `name` (in directory dir_fd when given, as
        os.mkdir), mode `mode` whatever the umask, already locked by this run
        when it appears: for files.stage_changes.  OSError as os.mkdir
        raises it."""
        head, base = os.path.split(name)
        for _attempt in range(100):
            temporary = os.path.join(head, '.%s.%s.dir' % (base, os.urandom(6).hex()))
            try:
                os.mkdir(temporary, 0o700, dir_fd=dir_fd)
                break
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
        else:
            raise OSError(errno.EEXIST, 'no unused temporary directory name', head or name)
        try:
            fd = os.open(temporary, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | os.O_NOFOLLOW
                         | getattr(os, 'O_CLOEXEC', 0), dir_fd=dir_fd)
        except OSError:
            os.rmdir(temporary, dir_fd=dir_fd)
            raise
        try:
            os.fchmod(fd, mode)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _lexists(name, dir_fd):
                raise OSError(errno.EEXIST, os.strerror(errno.EEXIST), name)
            os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            os.close(fd)
            try:
                os.rmdir(temporary, dir_fd=dir_fd)
            except OSError:
                pass
            raise
        self.made.append(fd)

    def release(self):
        for fd in self.made:
            os.close(fd)
        self.made = []
        for lock in reversed(self.held):
            lock.release()
        self.held = []

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
