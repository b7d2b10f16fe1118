# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod's writes under real faults: a full tmpfs (ENOSPC), a read-only
bind mount (EROFS), and a run killed with SIGKILL at random moments.

Every index file is always the complete old or the complete new bytes, the
error names the file, check mode plans the same writes, and the next run
repairs what a killed one left.
"""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_version import KmodFlavour
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.pipeline import DepmodOptions, run_depmod
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from tests.lib.fakeko import build_ko
from tests.lib.faults import fill, read_only, tiny_tmpfs

REL = '6.1.0-faults'
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '..'))


def build(base):
    module_dir = os.path.join(base, 'lib', 'modules', REL)
    for i in range(6):
        build_ko(os.path.join(module_dir, 'kernel', 'm%d.ko' % i), modinfo=['license=GPL', 'alias=m%d-alias*' % i],
                 exports=['f%d' % i], needs=['f%d' % (i - 1)] if i else [])
    return module_dir


def options(base, **kwargs):
    kwargs.setdefault('cache_dir', os.path.join(base, 'cache'))
    return DepmodOptions(basedir=base, config_paths=[], workers=1, flavour=KmodFlavour(30), **kwargs)


def outputs(module_dir):
    out = {}
    for name in sorted(os.listdir(module_dir)):
        path = os.path.join(module_dir, name)
        if os.path.isfile(path):
            with open(path, 'rb') as f:
                out[name] = f.read()
    return out


def add_module(module_dir, name):
    build_ko(os.path.join(module_dir, 'extra', name + '.ko'), modinfo=['license=GPL', 'alias=%s-new' % name],
             needs=['f0'])


def test_a_full_filesystem_leaves_every_index_as_it_was(tmp_path):
    with tiny_tmpfs(2048) as mnt:
        module_dir = build(mnt)
        run_depmod(REL, options(mnt))
        add_module(module_dir, 'late')
        planned = run_depmod(REL, options(mnt, check_mode=True))
        before = outputs(module_dir)
        fill(mnt, 4096)
        with pytest.raises(KmodError) as info:
            run_depmod(REL, options(mnt))
        assert info.value.errno == 28      # ENOSPC
        assert info.value.path.startswith(module_dir + '/modules.')
        assert 'No space left on device' in str(info.value.msg)
        assert outputs(module_dir) == before          # nothing renamed, no temporary left
        assert run_depmod(REL, options(mnt, check_mode=True))['written'] == planned['written']
        os.unlink(os.path.join(mnt, '.filler'))
        report = run_depmod(REL, options(mnt))
        assert report['written'] == planned['written'] and b'extra/late.ko' in outputs(module_dir)['modules.dep']


def test_a_read_only_mount_leaves_every_index_as_it_was(tmp_path):
    base = str(tmp_path)
    module_dir = build(base)
    run_depmod(REL, options(base))
    add_module(module_dir, 'late')
    before = outputs(module_dir)
    with read_only(module_dir):
        with pytest.raises(KmodError) as info:
            run_depmod(REL, options(base))
        assert info.value.errno == 30      # EROFS
        assert info.value.path.startswith(module_dir + '/modules.')
        assert outputs(module_dir) == before
    run_depmod(REL, options(base))
    assert b'extra/late.ko' in outputs(module_dir)['modules.dep']


CHILD = '''
import sys
sys.path[:0] = [%r, %r]
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_version import KmodFlavour
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.pipeline import DepmodOptions, run_depmod
run_depmod(%r, options=DepmodOptions(basedir=%r, config_paths=[], cache_dir=%r, workers=1, flavour=KmodFlavour(30)))
'''


def test_killed_at_random_moments_every_index_is_whole_and_the_next_run_repairs(tmp_path):
    base = str(tmp_path)
    module_dir = build(base)
    cache = os.path.join(base, 'cache')
    run_depmod(REL, options(base))
    script = CHILD % (os.path.join(REPO, '.build'), REPO, REL, base, cache)
    rng = random.Random(11)
    kills = 0
    for round_number in range(24):
        old = outputs(module_dir)
        # each round changes the inputs, so old and new outputs differ
        add_module(module_dir, 'r%d' % round_number)
        proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.0, 0.25))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        after = outputs(module_dir)
        new = dict(after)
        # what a complete run writes for these inputs (the next run, which must repair)
        run_depmod(REL, options(base))
        complete = outputs(module_dir)
        for name, data in new.items():
            if name.startswith('.'):
                continue               # a killed run's temporary: removed by the next run
            assert data in (old.get(name), complete.get(name)), (round_number, name)
        assert not [n for n in complete if n.startswith('.')], complete.keys()
        # and the state the repair left tells the truth
        assert run_depmod(REL, options(base))['shortcut'] == 'state'
    assert kills >= 6      # most rounds were really cut short


def test_the_temporaries_a_killed_run_left_are_removed_by_the_next(tmp_path):
    base = str(tmp_path)
    module_dir = build(base)
    stale = ['.modules.dep.0123456789ab.tmp', '.modules.alias.bin.a1b2c3d4e5f6.tmp']
    kept = ['.modules.dep.0123456789ab.tmp.bak', 'modules.dep.0123456789ab.tmp', '.modules.dep.xyz.tmp', '.other.tmp']
    for name in stale + kept:
        with open(os.path.join(module_dir, name), 'w') as f:
            f.write('left over')
    run_depmod(REL, options(base, check_mode=True))
    assert all(os.path.exists(os.path.join(module_dir, n)) for n in stale)    # check mode removes nothing
    run_depmod(REL, options(base))
    assert not any(os.path.exists(os.path.join(module_dir, n)) for n in stale)
    assert all(os.path.exists(os.path.join(module_dir, n)) for n in kept)


def _full_run_outputs(base, scratch):
    """What a full run of ours without any cache writes for base's tree (on a copy)."""
    import shutil
    module_dir = os.path.join(base, 'lib', 'modules', REL)
    copy = os.path.join(scratch, 'lib', 'modules', REL)
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(module_dir, copy, ignore=lambda d, names: [n for n in names if n.startswith(('modules.', '.'))])
    run_depmod(REL, options(scratch, cache_dir=None))
    return dict((n, d) for n, d in outputs(copy).items())


def test_killed_incremental_runs_leave_no_lie_and_the_repair_equals_a_full_run(tmp_path):
    """The incremental path (parse cache delta, indexes taken from disk by
    their digests) killed at random moments: each index is old or new, and
    the run that repairs writes what a full run without a cache writes."""
    base = str(tmp_path / 'tree')
    module_dir = build(base)
    cache = os.path.join(base, 'cache')
    run_depmod(REL, options(base))
    script = CHILD % (os.path.join(REPO, '.build'), REPO, REL, base, cache)
    rng = random.Random(12)
    spare = str(tmp_path / 'spare')
    # rebuilt modules: m2 that also exports f0 (it then owns it), m4 without exports
    build_ko(os.path.join(spare, 'm2.ko'), modinfo=['license=GPL', 'alias=m2-other'], exports=['f2', 'f0'],
             needs=['f1'])
    build_ko(os.path.join(spare, 'm4.ko'), modinfo=['license=GPL'], needs=['f3'])
    kills = 0
    for round_number in range(16):
        old = outputs(module_dir)
        if round_number % 3 == 0:
            add_module(module_dir, 'r%d' % round_number)
        else:
            name = 'm2.ko' if round_number % 3 == 1 else 'm4.ko'
            with open(os.path.join(spare, name), 'rb') as f:
                data = f.read()
            target = os.path.join(module_dir, 'kernel', name)
            with open(target + '.new', 'wb') as f:
                f.write(data if round_number % 2 else data + b'\0' * round_number)
            os.rename(target + '.new', target)
        proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.0, 0.15))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        after = outputs(module_dir)
        run_depmod(REL, options(base))
        complete = outputs(module_dir)
        full = _full_run_outputs(base, str(tmp_path / 'full'))
        assert dict((n, d) for n, d in complete.items() if n.startswith('modules.')) == full, round_number
        for name, data in after.items():
            if not name.startswith('.'):
                assert data in (old.get(name), complete.get(name)), (round_number, name)
        assert run_depmod(REL, options(base))['shortcut'] == 'state'
    assert kills >= 5      # most rounds were really cut short
