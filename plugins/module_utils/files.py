# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whole-file changes: compare, write atomically, describe for diff mode.

A change set is planned first (pure: what is on disk against what should
be), then applied: every new content goes to a temporary file in the target's
own directory and is fsynced before any target is touched, then each temp
file is renamed over its target.  A failure while writing the temporaries
removes them and leaves every target as it was.

Each directory a change set touches is opened once, when it is staged, and
everything done in it afterwards (the target's lstat, the temporary file,
the rename, the unlink, the fsync, a missing directory made) is done by name
relative to that descriptor: a directory path swapped for a symlink between
staging and commit (a parent some local account can write) cannot redirect
what root writes or removes.
"""

import errno
import os
import stat

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError

DEFAULT_MODE = 0o644


def read_fd(fd):
    """Every byte left in the open file fd (OSError as os.read raises it)."""
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


def read_current(path, shown=None):
    """The bytes of the regular file `path`, or None when it does not exist.

    A symlink is refused, never followed, and so is anything but a regular
    file (a FIFO would hang the read, a device would be read for ever):
    KmodError naming `shown` (the path as the user gave it) or `path`.
    """
    name = shown or path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.ELOOP:
            raise KmodError('cannot read %s: it is a symlink (a symbolic link is refused, never followed), '
                            'not a regular file' % name, path=name)
        raise KmodError.from_os_error(exc, 'cannot read', path=name)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise KmodError('cannot read %s: it is a %s, not a regular file'
                            % (name, 'directory' if stat.S_ISDIR(mode) else 'special file'), path=name)
        return read_fd(fd)
    except OSError as exc:
        raise KmodError.from_os_error(exc, 'cannot read', path=name)
    finally:
        os.close(fd)


class FileChange(object):
    """One file whose content should become `new` (None: be removed)."""

    __slots__ = ('path', 'old', 'new', 'mode')

    def __init__(self, path, old, new, mode=None):
        self.path = path
        self.old = old
        self.new = new
        self.mode = mode

    @property
    def action(self):
        if self.new is None:
            return 'remove'
        return 'create' if self.old is None else 'update'

    def __repr__(self):
        return 'FileChange(%r, %s)' % (self.path, self.action)


def plan_changes(wanted, current=read_current):
    """FileChanges for the entries of `wanted` ({path: bytes or None}) whose
    content differs from what is on disk, in the order given."""
    changes = []
    for path, new in wanted.items():
        old = current(path)
        if old != new:
            changes.append(FileChange(path, old, new))
    return changes


# Bits never carried over from a file being replaced: setuid, setgid,
# sticky and write by others make no sense on a configuration file or an
# index root writes, and would hand whoever set them a file root rewrote.
UNSAFE_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWOTH


def _mode_for(change, dir_fd):
    if change.mode is not None:
        return change.mode
    if change.old is not None:
        try:
            # lstat: the target was judged a regular file; never a link's target
            info = os.stat(os.path.basename(change.path), dir_fd=dir_fd, follow_symlinks=False)
            return stat.S_IMODE(info.st_mode) & ~UNSAFE_BITS
        except OSError:
            pass
    return DEFAULT_MODE


_DIRECTORY_FLAGS = os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | getattr(os, 'O_CLOEXEC', 0)


def open_directory(path, dir_fd=None, follow=True):
    """A descriptor of directory `path` (relative to dir_fd when given).
    follow=False refuses a symlink as the last component (ELOOP); symlinks
    on the way are followed, as every tool does (/lib -> usr/lib)."""
    return os.open(path, _DIRECTORY_FLAGS | (0 if follow else os.O_NOFOLLOW), dir_fd=dir_fd)


def create_temp(path, suffix='.tmp', dir_fd=None):
    """(fd, temporary name) of a new file, mode 0600, beside path: what
    tempfile.mkstemp does, without the few milliseconds of its import.
    With dir_fd, path is a name in that directory and so is the name
    returned; without, both are paths."""
    directory, base = os.path.split(path)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, 'O_CLOEXEC', 0)
    for _attempt in range(100):
        tmp = os.path.join(directory, '.%s.%s%s' % (base, os.urandom(6).hex(), suffix))
        try:
            return os.open(tmp, flags, 0o600, dir_fd=dir_fd), tmp
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
    raise OSError(errno.EEXIST, 'no unused temporary file name', directory or path)


_HEX = frozenset('0123456789abcdef')


def temporary_target(entry, suffix='.tmp'):
    """The name of the file whose temporary create_temp named `entry`
    ('.NAME.<12 hex>.tmp' -> 'NAME'), or None when it is no such name."""
    if not (entry.startswith('.') and entry.endswith(suffix)):
        return None
    target, _dot, token = entry[1:-len(suffix)].rpartition('.')
    if not target or len(token) != 12 or not set(token) <= _HEX:
        return None
    return target


def _write_temp(change, dir_fd):
    fd, tmp = create_temp(os.path.basename(change.path), dir_fd=dir_fd)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(change.new)
            f.flush()
            # on the descriptor: the path could be swapped for a symlink once closed
            os.fchmod(f.fileno(), _mode_for(change, dir_fd))
            os.fsync(f.fileno())
    except BaseException:
        _unlink_quietly(tmp, dir_fd)
        raise
    return tmp


def _unlink_quietly(name, dir_fd=None):
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _fsync_quietly(fd):
    try:
        os.fsync(fd)
    except OSError:
        pass


DIRECTORY_MODE = 0o755


class Transaction(object):
    """FileChanges staged by stage_changes: every new content is in a
    temporary file beside its target, fsynced; nothing visible has changed
    yet.  commit() renames them all over their targets, then removes the
    files to be removed; abort() takes back the temporaries and the
    directories staging created.  Either closes the directories' descriptors."""

    def __init__(self):
        self.directories = {}   # directory path -> descriptor, opened when staged
        self.temps = []         # (FileChange, directory descriptor, temporary name)
        self.removals = []      # (FileChange, directory descriptor) of files that go
        self.created_dirs = []  # (parent descriptor, name) of directories made, outermost first
        self.done = False

    def directory(self, path):
        """The descriptor of directory `path`, opened once per transaction."""
        fd = self.directories.get(path)
        if fd is None:
            fd = self.directories[path] = open_directory(path)
        return fd

    def make_parents(self, directory, make_directory):
        """The descriptor of `directory`, made first with its missing parents,
        mode 0755 (the umask does not decide), each by make_directory(name,
        mode, dir_fd) in its parent's descriptor: a parent swapped meanwhile
        for a symlink is refused (ELOOP), never followed."""
        if directory in self.directories:
            return self.directories[directory]
        missing = []
        while directory and not os.path.lexists(directory):
            missing.append(directory)
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        # a relative path whose first directory is missing: they are made in the working directory
        fd = self.directory(directory or '.')
        for path in reversed(missing):
            name = os.path.basename(path)
            make_directory(name, DIRECTORY_MODE, fd)
            self.created_dirs.append((fd, name))
            fd = self.directories[path] = open_directory(name, dir_fd=fd, follow=False)
        return fd

    def _close(self):
        self.done = True
        for fd in self.directories.values():
            os.close(fd)
        self.directories = {}

    def commit(self):
        """Make the staged changes visible; raises KmodError naming the
        file that failed (the temporaries still pending are removed)."""
        touched = set(fd for fd, _name in self.created_dirs)
        change = None
        try:
            try:
                for change, fd, tmp in self.temps:
                    name = os.path.basename(change.path)
                    os.rename(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
                    touched.add(fd)
                for change, fd in self.removals:
                    os.unlink(os.path.basename(change.path), dir_fd=fd)
                    touched.add(fd)
            except OSError as exc:
                for _change, fd, tmp in self.temps:
                    _unlink_quietly(tmp, fd)
                raise KmodError.from_os_error(exc, 'cannot replace', path=change.path)
            for fd in touched:
                _fsync_quietly(fd)
        finally:
            self._close()

    def abort(self):
        """Remove the temporaries and the directories staging made; the
        targets are as they were."""
        if self.done:
            return
        try:
            for _change, fd, tmp in self.temps:
                _unlink_quietly(tmp, fd)
            for parent, name in reversed(self.created_dirs):
                try:
                    os.rmdir(name, dir_fd=parent)
                except OSError:
                    pass
        finally:
            self._close()


def _make_directory(name, mode=DIRECTORY_MODE, dir_fd=None):
    """os.mkdir, then the mode set on the new directory's descriptor (the
    umask does not decide, and a swapped name cannot redirect the chmod)."""
    os.mkdir(name, mode, dir_fd=dir_fd)
    fd = open_directory(name, dir_fd=dir_fd, follow=False)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _check_target(change, dir_fd):
    """A target must be a regular file or absent; judged with lstat in its
    directory's descriptor, so a symlink is refused, never followed."""
    try:
        info = os.stat(os.path.basename(change.path), dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return  # nothing there: writing it tells what is wrong, if anything
        raise KmodError.from_os_error(exc, 'cannot check', path=change.path)
    if not stat.S_ISREG(info.st_mode):
        raise KmodError('cannot write %s: it is a %s, not a regular file' % (
            change.path, 'symlink' if stat.S_ISLNK(info.st_mode) else 'special file'), path=change.path)


def _unwritable_errno(directory):
    """Why a directory access(2) says we may not write is so: EROFS on a
    read-only mount (access cannot tell), else EACCES."""
    try:
        if os.statvfs(directory).f_flag & getattr(os, 'ST_RDONLY', 1):
            return errno.EROFS
    except OSError:
        pass
    return errno.EACCES


def stage_changes(changes, make_directory=None):
    """A Transaction with every change of `changes` staged, or KmodError
    naming the file that could not be (then nothing is left behind:
    temporaries and directories made are taken back).  Missing directories
    are created, mode 0755, by make_directory(path, mode) when given (a
    lock.DirectoryLocks' own, which makes them locked).  A file to be
    removed must be in a directory this process can write."""
    transaction = Transaction()
    change = None
    try:
        for change in changes:
            directory = os.path.dirname(change.path) or '.'
            if change.new is not None:
                fd = transaction.make_parents(directory, make_directory or _make_directory)
                _check_target(change, fd)
                transaction.temps.append((change, fd, _write_temp(change, fd)))
            elif change.old is not None:
                fd = transaction.directory(directory)
                _check_target(change, fd)
                if not os.access('.', os.W_OK, dir_fd=fd):
                    err = _unwritable_errno(directory)
                    raise OSError(err, os.strerror(err), directory)
                transaction.removals.append((change, fd))
    except OSError as exc:
        transaction.abort()
        raise KmodError.from_os_error(exc, 'cannot write', path=change.path)
    except KmodError:
        transaction.abort()
        raise
    return transaction


def apply_changes(changes, make_directory=None):
    """Carry out FileChanges; nothing is touched unless every temporary file
    could be written.  Raises KmodError naming the file that failed."""
    stage_changes(changes, make_directory).commit()


def diff_entry(change, max_bytes=65536):
    """An Ansible diff dict for one change of a text file, cut at max_bytes
    per side (with a note) so huge indexes do not flood the output."""
    def side(data):
        if data is None:
            return ''
        text = data.decode('utf-8', 'replace')
        if len(data) > max_bytes:
            text = text[:max_bytes] + '\n[... %d more bytes not shown]\n' % (len(data) - max_bytes)
        return text
    return {
        'before_header': change.path if change.old is not None else '%s (absent)' % change.path,
        'after_header': change.path if change.new is not None else '%s (removed)' % change.path,
        'before': side(change.old),
        'after': side(change.new),
    }
