# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The programs root runs for us: the host's own, found in the system
directories only, and run with a fixed environment.

Looking a program up through PATH would let whoever put a directory first
in it choose what root runs; looking it up inside an image root (kmod_facts
root=, a chroot) would run that tree's binaries.  So a program is the
host's, an executable regular file in SYSTEM_DIRS that nobody but root may
replace (trust.py), and it runs with SAFE_ENV, without a shell.
"""

import os
import stat

from ansible_collections.kernel.kmod.plugins.module_utils.trust import directory_problem, file_problem

SYSTEM_DIRS = ('/usr/sbin', '/usr/bin', '/sbin', '/bin')
SAFE_ENV = {'PATH': ':'.join(SYSTEM_DIRS), 'LANG': 'C', 'LC_ALL': 'C'}


def find_program(name, dirs=SYSTEM_DIRS):
    """The path of the host's program `name` in dirs, or None when no
    trusted executable of that name is there."""
    if '/' in name or not name:
        return None
    for directory in dirs:
        path = os.path.join(directory, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (stat.S_ISREG(st.st_mode) and st.st_mode & 0o111 and not file_problem(st, path)
                and not directory_problem(os.path.dirname(os.path.realpath(path)))):
            return path
    return None


def program_env(**extra):
    """SAFE_ENV with extra variables (such as MODPROBE_MODULE)."""
    env = dict(SAFE_ENV)
    env.update(extra)
    return env
