# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures of the conformance tests.

`kmod` is each oracle in turn (tests/lib/kmod_oracle.py): the host's kmod 30
and Debian 13's kmod 34.2 in a chroot; a test taking it runs once for each.
`indexed_debian_tree` is Debian's tree as that kmod indexed it.
"""

import os
import shutil

import pytest

from tests.lib.debian_tree import DebianTree, get_tree
from tests.lib.kmod_oracle import ORACLE_IDS, get_oracle

INPUTS = ('modules.order', 'modules.builtin', 'modules.builtin.modinfo')


@pytest.fixture(scope='session')
def debian_tree():
    """Debian's real amd64 module tree (downloaded once, cached, indexed by kmod's depmod)."""
    return get_tree()


@pytest.fixture(scope='session', params=ORACLE_IDS)
def kmod(request):
    """The host's kmod, then kmod 34 in its chroot."""
    return get_oracle(request.param)


@pytest.fixture(scope='session')
def kmod34():
    return get_oracle('kmod34')


def link_copy(source_root, release, target_root):
    """target_root/lib/modules/<release>: module files hard-linked, every
    file of the module directory itself (indexes, inputs) a real copy."""
    source = os.path.join(source_root, 'lib', 'modules', release)
    target = os.path.join(target_root, 'lib', 'modules', release)
    for dirpath, dirnames, filenames in os.walk(source):
        rel = os.path.relpath(dirpath, source)
        os.makedirs(os.path.join(target, rel), exist_ok=True)
        for link in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            os.symlink(os.readlink(os.path.join(dirpath, link)), os.path.join(target, rel, link))
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            src, dst = os.path.join(dirpath, name), os.path.join(target, rel, name)
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            elif rel == '.':
                shutil.copy2(src, dst)
            else:
                os.link(src, dst)
    return target


# pytest may finish a session fixture of one parameter and set it up again
# later (when the order of tests switches between oracles): index once.
_INDEXED = {}


@pytest.fixture(scope='session')
def indexed_debian_tree(kmod, debian_tree, tmp_path_factory):
    """Debian's tree with the outputs of this kmod's depmod: the cached tree
    for the host's kmod, a copy indexed once per session for kmod 34."""
    if kmod.id == 'kmod30':
        return debian_tree
    if kmod.id not in _INDEXED:
        root = str(tmp_path_factory.mktemp('debian-' + kmod.id))
        module_dir = link_copy(debian_tree.root, debian_tree.release, root)
        for name in os.listdir(module_dir):
            if name.startswith('modules.') and name not in INPUTS:
                os.unlink(os.path.join(module_dir, name))
        proc = kmod.depmod(['-b', root, debian_tree.release], share=[root])
        assert proc.returncode == 0 and proc.stderr == '', proc.stderr
        _INDEXED[kmod.id] = DebianTree(root, debian_tree.release, debian_tree.package)
    return _INDEXED[kmod.id]
