"""Real faults for the failure paths: a full filesystem, a read-only mount.

Both need root (CI runs as root); elsewhere the tests that use them skip,
saying so.  Each is a context manager that undoes its mount, whatever
happens inside.
"""

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager

import pytest


def need_root():
    if os.geteuid() != 0:
        pytest.skip('mounting a tmpfs or a read-only bind mount needs root')


@contextmanager
def tiny_tmpfs(size_kib):
    """A fresh tmpfs of size_kib KiB: its mount point."""
    need_root()
    point = tempfile.mkdtemp(prefix='kmod-tmpfs-')
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%dk,mode=0755' % size_kib, 'tmpfs', point], check=True)
    try:
        yield point
    finally:
        subprocess.run(['umount', '-l', point], check=False)
        os.rmdir(point)


def fill(directory, leave_bytes):
    """Take all the free space of directory's filesystem but leave_bytes."""
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    with open(os.path.join(directory, '.filler'), 'wb') as f:
        f.write(b'\0' * max(0, free - leave_bytes))


@contextmanager
def read_only(path):
    """path bind-mounted read-only onto itself for the duration."""
    need_root()
    subprocess.run(['mount', '--bind', path, path], check=True)
    try:
        subprocess.run(['mount', '-o', 'remount,bind,ro', path], check=True)
        yield path
    finally:
        subprocess.run(['umount', '-l', path], check=False)


@contextmanager
def host_nobody_can_write():
    """A host root for the EACCES runs (tests.lib.privileges.call_as_nobody):
    inside a fresh 0755 directory, so nobody may read it and write nothing
    in it; removed afterwards."""
    need_root()
    base = tempfile.mkdtemp(prefix='kmod-faults-')
    try:
        os.chmod(base, 0o755)
        root = os.path.join(base, 'host')
        os.makedirs(root)
        yield root
    finally:
        shutil.rmtree(base, ignore_errors=True)


def copy_tree(source, dest):
    shutil.copytree(source, dest, symlinks=True)
    return dest


def tree_state(root, skip=('.filler',)):
    """{relative path: (kind, mode, bytes or link target)} of everything
    under root but the names in skip: to tell that a failed run left every
    file (and directory, and link) exactly as it was, temporaries included."""
    import stat
    out = {}
    for base, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in dirs + names:
            if name in skip:
                continue
            path = os.path.join(base, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ('link', 0, os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ('dir', stat.S_IMODE(st.st_mode), None)
            else:
                with open(path, 'rb') as f:
                    out[rel] = ('file', stat.S_IMODE(st.st_mode), f.read())
    return out
