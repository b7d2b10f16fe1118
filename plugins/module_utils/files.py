# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whole-file changes: compare, write atomically, describe for diff mode.

A change set is planned first (pure: what is on disk against what should
be), then applied: every new content goes to a temporary file in the target's
own directory and is fsynced before any target is touched, then each temp
file is renamed over its target.  A failure while writing the temporaries
removes them and leaves every target as it was.
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


def _mode_for(change):
    if change.mode is not None:
        return change.mode
    if change.old is not None:
        try:
            # lstat: the target was judged a regular file; never a link's target
            return stat.S_IMODE(os.lstat(change.path).st_mode) & ~UNSAFE_BITS
        except OSError:
            pass
    return DEFAULT_MODE


def create_temp(path, suffix='.tmp'):
    """(fd, temporary path) of a new file, mode 0600, beside path: what
    tempfile.mkstemp does, without the few milliseconds of its import."""
    directory = os.path.dirname(path) or '.'
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, 'O_CLOEXEC', 0)
    for _attempt in range(100):
        tmp = os.path.join(directory, '.%s.%s%s' % (os.path.basename(path), os.urandom(6).hex(), suffix))
        try:
            return os.open(tmp, flags, 0o600), tmp
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
    raise OSError(errno.EEXIST, 'no unused temporary file name', directory)


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


def _write_temp(change):
    fd, tmp = create_temp(change.path)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(change.new)
            f.flush()
            # on the descriptor: the path could be swapped for a symlink once closed
            os.fchmod(f.fileno(), _mode_for(change))
            os.fsync(f.fileno())
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


DIRECTORY_MODE = 0o755


class Transaction(object):
    """FileChanges staged by stage_changes: every new content is in a
    temporary file beside its target, fsynced; nothing visible has changed
    yet.  commit() renames them all over their targets, then removes the
    files to be removed; abort() takes back the temporaries and the
    directories staging created."""

    def __init__(self):
        self.temps = []         # (FileChange, temporary path)
        self.removals = []      # FileChanges whose file goes
        self.created_dirs = []  # directories made for the changes, outermost first
        self.done = False

    def commit(self):
        """Make the staged changes visible; raises KmodError naming the
        file that failed (the temporaries still pending are removed)."""
        directories = set()
        change = None
        try:
            for change, tmp in self.temps:
                os.rename(tmp, change.path)
                directories.add(os.path.dirname(change.path) or '.')
            for change in self.removals:
                os.unlink(change.path)
                directories.add(os.path.dirname(change.path) or '.')
        except OSError as exc:
            for _change, tmp in self.temps:
                _unlink_quietly(tmp)
            self.done = True
            raise KmodError.from_os_error(exc, 'cannot replace', path=change.path)
        self.done = True
        for directory in sorted(directories | set(os.path.dirname(d) for d in self.created_dirs)):
            _fsync_dir(directory)

    def abort(self):
        """Remove the temporaries and the directories staging made; the
        targets are as they were."""
        if self.done:
            return
        for _change, tmp in self.temps:
            _unlink_quietly(tmp)
        for directory in reversed(self.created_dirs):
            try:
                os.rmdir(directory)
            except OSError:
                pass
        self.done = True


def _make_directory(path, mode=DIRECTORY_MODE):
    os.mkdir(path, mode)
    os.chmod(path, mode)


def _make_parents(directory, created, make_directory=_make_directory):
    """Create directory and its missing parents, mode 0755 (the umask does
    not decide) with make_directory(path, mode); each one made is appended
    to created."""
    missing = []
    while directory and not os.path.lexists(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for path in reversed(missing):
        make_directory(path, DIRECTORY_MODE)
        created.append(path)


def _check_target(change):
    """A target must be a regular file or absent, and its directory a
    directory; judged with lstat, so a symlink is refused, never followed."""
    try:
        info = os.lstat(change.path)
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
            _check_target(change)
            directory = os.path.dirname(change.path) or '.'
            if change.new is not None:
                _make_parents(directory, transaction.created_dirs, make_directory or _make_directory)
                transaction.temps.append((change, _write_temp(change)))
            elif change.old is not None:
                if not os.access(directory, os.W_OK):
                    err = _unwritable_errno(directory)
                    raise OSError(err, os.strerror(err), directory)
                transaction.removals.append(change)
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
