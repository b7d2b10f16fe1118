# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""trust: owners and write bits of a file and of every directory above it,
sticky root directories, and symlinks judged where they lead and where they
stand."""

import os
import stat

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.trust import (
    OURS, ROOT_ONLY, directory_problem, file_problem, writable_warnings,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='giving files to another user needs root')


class Stat(object):
    def __init__(self, uid, mode):
        self.st_uid = uid
        self.st_mode = mode


@pytest.mark.parametrize('uid, mode, owners, want', [
    (0, 0o100644, ROOT_ONLY, None),
    (0, 0o100664, ROOT_ONLY, 'f is writable by group (mode 0664)'),
    (0, 0o100666, ROOT_ONLY, 'f is writable by group and others (mode 0666)'),
    (0, 0o040757, OURS, 'f is writable by others (mode 0757)'),
    (1000, 0o100600, ROOT_ONLY, 'f is owned by uid 1000, not root'),
])
def test_file_problem(uid, mode, owners, want):
    assert file_problem(Stat(uid, mode), 'f', owners) == want


def test_the_running_user_counts_only_for_ours(monkeypatch):
    monkeypatch.setattr(os, 'geteuid', lambda: 1000)
    assert file_problem(Stat(1000, 0o100600), 'f', OURS) is None
    assert file_problem(Stat(1000, 0o100600), 'f', ROOT_ONLY) == 'f is owned by uid 1000, not root'


def test_every_directory_above_counts(tmp_path):
    deep = tmp_path / 'a' / 'b'
    deep.mkdir(parents=True)
    assert directory_problem(str(deep)) is None
    assert directory_problem(str(deep / 'missing' / 'more')) is None
    os.chmod(str(tmp_path / 'a'), 0o775)
    assert directory_problem(str(deep)) == '%s is writable by group (mode 0775)' % (tmp_path / 'a')


@needs_root
def test_a_root_sticky_directory_is_fine_above_but_not_as_the_directory_itself(tmp_path):
    shared = tmp_path / 'shared'
    (shared / 'mine').mkdir(parents=True)
    os.chmod(str(shared), 0o1777)
    assert directory_problem(str(shared / 'mine')) is None
    assert directory_problem(str(shared)) == '%s is writable by group and others (mode 1777)' % shared
    os.chown(str(shared), 65534, 65534)
    assert directory_problem(str(shared / 'mine')) == '%s is owned by uid 65534, not root' % shared


def test_a_symlink_is_judged_where_it_leads_and_where_it_stands(tmp_path):
    (tmp_path / 'real').mkdir()
    (tmp_path / 'stand').mkdir()
    link = tmp_path / 'stand' / 'link'
    link.symlink_to(tmp_path / 'real')
    assert stat.S_IMODE(os.lstat(str(link)).st_mode) == 0o777    # a symlink's own mode means nothing
    assert directory_problem(str(link)) is None
    os.chmod(str(tmp_path / 'real'), 0o777)
    assert directory_problem(str(link)) == '%s is writable by group and others (mode 0777)' % (tmp_path / 'real')
    os.chmod(str(tmp_path / 'real'), 0o755)
    os.chmod(str(tmp_path / 'stand'), 0o777)
    assert directory_problem(str(link)) == '%s is writable by group and others (mode 0777)' % (tmp_path / 'stand')


def test_a_merged_usr_layout_is_trusted(tmp_path):
    # /lib -> usr/lib as on Debian 12: the link's 0777 must not count
    (tmp_path / 'usr' / 'lib' / 'modules').mkdir(parents=True)
    (tmp_path / 'lib').symlink_to('usr/lib')
    assert directory_problem(str(tmp_path / 'lib' / 'modules')) is None


def test_writable_warnings_name_the_directories_written_and_the_one_at_fault(tmp_path):
    shared = tmp_path / 'shared'
    shared.mkdir()
    os.chmod(str(shared), 0o777)
    (tmp_path / 'fine').mkdir()
    below = shared / 'etc' / 'modprobe.d'      # missing: judged by what is above it
    other = shared / 'etc' / 'modules-load.d'
    assert writable_warnings([str(tmp_path / 'fine')], 'kmod_load') == []
    assert writable_warnings([str(below), str(tmp_path / 'fine'), str(other)], 'kmod_load') == [
        'kmod_load writes into %s, %s, but %s is writable by group and others (mode 0777): whoever may write '
        'there can change what root loads at boot' % (below, other, shared)]


@needs_root
def test_writable_warnings_for_a_directory_of_another_user(tmp_path):
    (tmp_path / 'd').mkdir()
    os.chown(str(tmp_path / 'd'), 65534, 65534)
    assert writable_warnings([str(tmp_path / 'd')], 'kmod_blacklist') == [
        'kmod_blacklist writes into %s, but %s is owned by uid 65534, not root or us: whoever may write there '
        'can change what root loads at boot' % (tmp_path / 'd', tmp_path / 'd')]
