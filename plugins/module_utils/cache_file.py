# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small files of our own (caches, state): read forgivingly, write atomically.

Neither failure is fatal to the caller: an unreadable or unwritable file
comes back as a warning text, and the caller works without it.

Whatever is read back steers what root writes, so a cache is trusted only
when nobody but root (or the user running us) could have written it (see
trust.py: the file, its directory and every directory above).  The file is
opened without following a symlink and must be a regular file (a FIFO
would hang the run).  Only then is it decoded.  The depmod state,
parse cache, its delta and the graph cache are in Python's marshal form:
marshal is built into the interpreter, while
importing json also imports the regular expression engine, milliseconds
a run with nothing to do cannot spare.  A marshal file written by
another Python version that this one cannot read is only a warning, like a
damaged file.
"""

import errno
import marshal
import os
import stat

from ansible_collections.kernel.kmod.plugins.module_utils.files import create_temp, open_directory, read_fd
from ansible_collections.kernel.kmod.plugins.module_utils.trust import OURS, directory_problem, file_problem

# A file that is simply not there yet is no reason to warn.
ABSENT = (errno.ENOENT, errno.ENOTDIR)


def _read_trusted(path):
    """The bytes of path, opened without following a symlink and judged on
    its descriptor; ValueError when it may not be trusted."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError('not a regular file')
        problem = file_problem(st, 'it', OURS)
        if problem:
            raise ValueError(problem)
        return read_fd(fd)
    finally:
        os.close(fd)


def load(path, what, decode, absent=ABSENT):
    """(decode(bytes of path), None), or (None, warning) when it cannot be
    read, may not be trusted or cannot be decoded, or (None, None) when it
    does not exist (errno in `absent`)."""
    problem = directory_problem(os.path.dirname(path), OURS)
    if problem:
        return None, 'ignoring %s %s: %s' % (what, path, problem)
    try:
        data = _read_trusted(path)
    except OSError as exc:
        if exc.errno in absent:
            return None, None
        if exc.errno == errno.ELOOP:
            return None, 'ignoring %s %s: it is a symbolic link' % (what, path)
        return None, 'ignoring unreadable %s %s: %s' % (what, path, exc)
    except ValueError as exc:
        return None, 'ignoring %s %s: %s' % (what, path, exc)
    try:
        return decode(data), None
    except (ValueError, EOFError, TypeError) as exc:
        return None, 'ignoring unreadable %s %s: %s' % (what, path, exc)


def save(path, data, what):
    """Write bytes to path through a temporary file in its directory and a
    rename; None, or a warning when it cannot be written (nothing is left
    behind)."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        problem = directory_problem(directory, OURS)
        if problem:
            return 'not saving %s %s: %s' % (what, path, problem)
        dir_fd = open_directory(directory)
        try:
            name = os.path.basename(path)
            fd, tmp = create_temp(name, dir_fd=dir_fd)
            try:
                with os.fdopen(fd, 'wb') as f:
                    f.write(data)
                os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=dir_fd)
                except OSError:
                    pass
                raise
        finally:
            os.close(dir_fd)
    except OSError as exc:
        return 'cannot save %s %s: %s' % (what, path, exc.strerror or exc)
    return None


def load_marshal(path, what, absent=ABSENT):
    """load() of a marshal file."""
    return load(path, what, marshal.loads, absent)


def save_marshal(path, data, what):
    """save() of plain data (dict, list, str, int, float, bool, None) with marshal."""
    try:
        encoded = marshal.dumps(data)
    except ValueError as exc:
        return 'cannot save %s %s: %s' % (what, path, exc)
    return save(path, encoded, what)
