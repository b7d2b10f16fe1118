# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""programs: the host's programs from the system directories only, never
through PATH or from an image root, and only when nobody but root may
replace them."""

import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.image import compression
from ansible_collections.kernel.kmod.plugins.module_utils.programs import SAFE_ENV, find_program, program_env
from tests.lib.fakeko import compress_bytes

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='giving a file to another user needs root')


def make(directory, name, mode=0o755, text='#!/bin/sh\ntouch "$0.ran"\n'):
    path = os.path.join(str(directory), name)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def test_found_in_the_dirs_given_and_only_when_trusted(tmp_path):
    good = make(tmp_path, 'tool')
    assert find_program('tool', dirs=[str(tmp_path)]) == good
    os.chmod(good, 0o775)
    assert find_program('tool', dirs=[str(tmp_path)]) is None       # its group could replace it
    os.chmod(good, 0o644)
    assert find_program('tool', dirs=[str(tmp_path)]) is None       # not executable
    os.chmod(good, 0o755)
    os.chmod(str(tmp_path), 0o777)
    assert find_program('tool', dirs=[str(tmp_path)]) is None       # anyone could swap it
    os.chmod(str(tmp_path), 0o755)
    assert find_program('../tool', dirs=[str(tmp_path)]) is None
    assert find_program('', dirs=[str(tmp_path)]) is None


@needs_root
def test_a_program_owned_by_another_user_is_not_used(tmp_path):
    path = make(tmp_path, 'tool')
    os.chown(path, 65534, 65534)
    assert find_program('tool', dirs=[str(tmp_path)]) is None


def test_path_is_never_consulted(tmp_path, monkeypatch):
    make(tmp_path, 'zz-kmod-test-program')
    monkeypatch.setenv('PATH', str(tmp_path) + os.pathsep + os.environ.get('PATH', ''))
    assert find_program('zz-kmod-test-program') is None
    assert find_program('sh') in ('/usr/bin/sh', '/bin/sh')


def test_the_environment_is_fixed():
    assert program_env(MODPROBE_MODULE='x') == dict(SAFE_ENV, MODPROBE_MODULE='x')
    assert SAFE_ENV['PATH'] == '/usr/sbin:/usr/bin:/sbin:/bin'


def test_a_zstd_first_in_path_is_not_what_decompresses(tmp_path, monkeypatch):
    # before: subprocess ran 'zstd' through PATH
    data = compress_bytes(b'payload', 'zst')
    fake = make(tmp_path, 'zstd', text='#!/bin/sh\ntouch "$0.ran"\nexit 1\n')
    monkeypatch.setenv('PATH', str(tmp_path) + os.pathsep + os.environ.get('PATH', ''))
    monkeypatch.setattr(compression, '_zstandard', None)
    if find_program('zstd') is None:
        with pytest.raises(Exception) as info:
            compression.decompress(data, 'zstd', 'm.ko.zst')
        assert 'zstd program (in the system directories)' in str(info.value)
    else:
        assert compression.decompress(data, 'zstd', 'm.ko.zst') == b'payload'
    assert not os.path.exists(fake + '.ran')
