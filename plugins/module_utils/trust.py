# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a file may steer what root does: who could have written it.

The rule of sudo and OpenSSH's StrictModes: a file is trusted only when its
owner is one of the trusted users and neither its group nor others may
write it, and the same holds for its directory and every directory above
(whoever may write a directory may replace what is in it).  Two readings
of it:

- a directory that is root's, sticky and world-writable (/tmp) is fine
  above the file's own directory: nobody may rename or delete another
  user's entries in it;
- a symlink on the way is judged twice: where it leads (the directories
  really used) and where it stands (whoever may write the directory that
  holds it may point it elsewhere).  The symlink's own mode means nothing.

Used for caches and state (OURS: root or the user running us), for the
programs we run, and for module files loaded by path (ROOT_ONLY, and no
sticky exception).
"""

import errno
import os
import stat

# owners whose files may steer us: root, or also the user we run as
ROOT_ONLY = 'root'
OURS = 'ours'


def _trusted_owner(uid, owners):
    return uid == 0 or (owners == OURS and uid == os.geteuid())


def file_problem(st, what, owners=ROOT_ONLY):
    """None when a file or directory with this stat result may be trusted,
    else why not, naming `what`."""
    if not _trusted_owner(st.st_uid, owners):
        return '%s is owned by uid %d, not %s' % (what, st.st_uid, 'root' if owners == ROOT_ONLY else 'root or us')
    writers = [who for who, bit in (('group', stat.S_IWGRP), ('others', stat.S_IWOTH)) if st.st_mode & bit]
    if writers:
        return '%s is writable by %s (mode %04o)' % (what, ' and '.join(writers), stat.S_IMODE(st.st_mode))
    return None


def directory_problem(directory, owners=ROOT_ONLY, sticky_ok=True):
    """None when `directory` and every directory above it may be trusted,
    else why not (naming the directory at fault); missing ones are no
    problem (nothing is in them yet).  sticky_ok: a root-owned sticky
    directory above `directory` counts as trusted (False: as strict as
    OpenSSH's StrictModes, for module files root loads into the kernel)."""
    top = os.path.abspath(directory)
    path = top
    while True:
        try:
            st = os.lstat(path)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                return 'cannot check %s: %s' % (path, exc.strerror or exc)
        else:
            if stat.S_ISLNK(st.st_mode):
                problem = directory_problem(os.path.realpath(path), owners, sticky_ok)
                if problem:
                    return problem
            else:
                sticky_above = sticky_ok and st.st_uid == 0 and st.st_mode & stat.S_ISVTX and path != top
                problem = None if sticky_above else file_problem(st, path, owners)
                if problem:
                    return problem
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def writable_warnings(directories, what):
    """Warnings for the directories a task writes its files into (kmod_load's
    persistence, kmod_blacklist's file) when someone other than root or the
    user running us may write one of them or a directory above it: whoever
    may is able to replace what root then reads at boot.  The files are
    still written (the host's own layout is not ours to refuse); one warning
    per directory at fault, naming the directories written."""
    found = []
    written = {}
    for directory in directories:
        problem = directory_problem(directory, owners=OURS)
        if problem is None:
            continue
        if problem not in written:
            found.append(problem)
            written[problem] = []
        if directory not in written[problem]:
            written[problem].append(directory)
    return ['%s writes into %s, but %s: whoever may write there can change what root loads at boot'
            % (what, ', '.join(written[problem]), problem) for problem in found]
