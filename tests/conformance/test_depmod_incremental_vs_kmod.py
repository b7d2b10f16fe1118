# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kmod_depmod after a few module files changed, on Debian's tree, against
kmod's depmod: a few sequences of adds, removes and rewrites, each step run
by us with the cache (the parse cache delta, indexes taken from disk by
their digests) and by kmod's depmod on a copy, every index byte for byte."""

import os
import shutil

import pytest

from tests.conformance.conftest import INPUTS, link_copy
from tests.lib.kmod_oracle import get_oracle

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.pipeline import run_depmod

# (what, relative path, source module relative path or None, files the run parses)
SEQUENCES = {
    # the usual case, then a module of the same name in updates/ that shadows kernel/'s, then gone again
    # (kernel/'s is indexed again: its parse result left the cache while it was shadowed)
    'add': [('put', 'updates/bench_added.ko', 'kernel/drivers/net/dummy.ko', 1),
            ('put', 'updates/dummy.ko', 'kernel/drivers/net/dummy.ko', 1),
            ('remove', 'updates/dummy.ko', None, 1)],
    # an exporter many modules need removed (their dependencies change), then back
    'exporter': [('remove', 'kernel/drivers/net/mii.ko', None, 0),
                 ('put', 'kernel/drivers/net/mii.ko', 'kernel/drivers/net/mii.ko', 1)],
    # a module rewritten with another's bytes (new exports, aliases), a new one in extra/, a touch
    'rewrite': [('put', 'kernel/drivers/net/dummy.ko', 'kernel/drivers/net/mii.ko', 1),
                ('put', 'extra/a.ko', 'kernel/fs/nls/nls_utf8.ko', 1),
                ('touch', 'kernel/drivers/net/dummy.ko', None, 1)],
}


def _read_outputs(module_dir):
    out = {}
    for name in sorted(os.listdir(module_dir)):
        if name.startswith('modules.') and name not in INPUTS:
            with open(os.path.join(module_dir, name), 'rb') as f:
                out[name] = f.read()
    return out


def _apply(module_dir, pristine_dir, step):
    what, rel, source, _parsed = step
    target = os.path.join(module_dir, rel)
    if what == 'remove':
        os.unlink(target)
    elif what == 'touch':
        st = os.stat(target)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy(os.path.join(pristine_dir, source), target + '.new')
        os.rename(target + '.new', target)


@pytest.mark.parametrize('sequence', sorted(SEQUENCES))
def test_runs_after_a_few_changes_equal_depmod(debian_tree, tmp_path, sequence):
    kmod = get_oracle('kmod30')
    release = debian_tree.release
    ours_root = str(tmp_path / 'ours')
    module_dir = link_copy(debian_tree.root, debian_tree.release, ours_root)
    conf = str(tmp_path / 'depmod.d')
    os.makedirs(conf)
    cache = str(tmp_path / 'cache')

    def ours():
        return run_depmod(release, basedir=ours_root, config_paths=[conf], cache_dir=cache, flavour=kmod.flavour())

    first = ours()
    assert first['changed'] is False and first['parsed'] == first['modules']  # kmod's own files, all parsed
    for number, step in enumerate(SEQUENCES[sequence]):
        _apply(module_dir, debian_tree.module_dir, step)
        report = ours()
        assert report['parsed'] == step[3], (step, report['parsed'])
        theirs_root = str(tmp_path / ('theirs%d' % number))
        theirs_dir = link_copy(ours_root, release, theirs_root)
        for name in os.listdir(theirs_dir):
            if name.startswith('modules.') and name not in INPUTS:
                os.unlink(os.path.join(theirs_dir, name))
        proc = kmod.depmod(['-b', theirs_root, '-C', conf, release], share=[theirs_root, conf])
        assert proc.returncode == 0, proc.stderr
        theirs, mine = _read_outputs(theirs_dir), _read_outputs(module_dir)
        assert sorted(mine) == sorted(theirs)
        assert [n for n in sorted(mine) if mine[n] != theirs[n]] == [], step
        shutil.rmtree(theirs_root)
        assert ours()['shortcut'] == 'state'
