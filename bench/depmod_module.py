"""Benchmark: kmod_depmod as a node runs it, against kmod's depmod.

What a user runs: the module file as a process (`python3
plugins/modules/kmod_depmod.py ARGS`, AnsibleModule included) with only
`basedir` and `kernel_release` set, so every default applies (the parse
cache and the state in the default cache_dir, /var/cache/kernel-kmod/depmod).
On fresh hard-linked copies of Debian's amd64 tree (tests/lib/debian_tree.py),
each round runs, in an order rotated from round to round:

- kmod: `/sbin/depmod -b COPY RELEASE` on a copy without indexes;
- full: the module on another such copy (nothing cached for it yet);
- one added: on the copy the full run indexed, a module file dropped into
  updates/ (the usual "add a module, run depmod"), then the module again;
- nothing changed: the module once more on that copy;
- floor: `python3 -c 'import ansible.module_utils.basic'`, which every
  module run pays.

Wall time of each process.  Every round checks that the module's outputs
equal kmod's on the same tree, byte for byte (after the added module too).
The cache files of the copies are removed from the default cache_dir after
each round.

Run: .venv/bin/python bench/depmod_module.py   (results: bench/results/depmod_module.md)
Environment: BENCH_REPEAT (rounds, default 5), BENCH_OUT.
"""

import datetime
import os
import platform
import shutil
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, '.build'), REPO]

from tests.lib.debian_tree import get_tree  # noqa: E402
from bench.module_process import (  # noqa: E402
    DEPMOD, ENV, forget_cache, fresh_copy, run_module, same_outputs, timed)
from bench.report import publish  # noqa: E402

REPEAT = int(os.environ.get('BENCH_REPEAT', '5'))
OUT = os.environ.get('BENCH_OUT', os.path.join(HERE, 'results', 'depmod_module.md'))


def one_round(tree, added_ko, order):
    top = tempfile.mkdtemp(prefix='bench-depmod-module-')
    times = {}
    try:
        kmod_root = fresh_copy(tree, top, 'kmod')
        ours_root = fresh_copy(tree, top, 'ours')
        kmod_dir = os.path.join(kmod_root, 'lib', 'modules', tree.release)
        ours_dir = os.path.join(ours_root, 'lib', 'modules', tree.release)
        steps = {
            'kmod': lambda: timed([DEPMOD, '-b', kmod_root, tree.release])[0],
            'full': lambda: run_module(ours_root, tree.release, top)[0],
            'floor': lambda: timed([sys.executable, '-c', 'import ansible.module_utils.basic'], env=ENV)[0],
        }
        for name in order:
            times[name] = steps[name]()
        if not same_outputs(kmod_dir, ours_dir):
            raise RuntimeError('full run: our outputs differ from kmod\'s')
        # one module added to the indexed copy (and, for the check, to kmod's)
        for module_dir in (ours_dir, kmod_dir):
            os.makedirs(os.path.join(module_dir, 'updates'), exist_ok=True)
            shutil.copy(added_ko, os.path.join(module_dir, 'updates', 'bench_added.ko'))
        times['one added'], result = run_module(ours_root, tree.release, top)
        if not result['changed']:
            raise RuntimeError('one added: the module reported no change')
        times['nothing changed'], result = run_module(ours_root, tree.release, top)
        if result['changed']:
            raise RuntimeError('nothing changed: the module reported a change')
        timed([DEPMOD, '-b', kmod_root, tree.release])
        if not same_outputs(kmod_dir, ours_dir):
            raise RuntimeError('one added: our outputs differ from kmod\'s')
        forget_cache(ours_dir, tree.release)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return times


def main():
    tree = get_tree()
    added_ko = os.path.join(tree.module_dir, 'kernel', 'drivers', 'net', 'dummy.ko')
    load_before = os.getloadavg()[0]
    base_order = ['kmod', 'full', 'floor']
    one_round(tree, added_ko, base_order)     # warm-up: page cache, .pyc files
    rounds = []
    for k in range(REPEAT):
        order = base_order[k % 3:] + base_order[:k % 3]
        rounds.append(one_round(tree, added_ko, order))
    load_after = os.getloadavg()[0]
    med = dict((name, statistics.median(r[name] for r in rounds)) for name in rounds[0])
    lines = [
        '# kmod_depmod as a node runs it (module process, default options) against kmod\'s depmod', '',
        '%s; %d CPUs, %s, Python %s; %s, %d modules; median of %d rounds, order rotated, after one warm-up; '
        'load average %.2f before, %.2f after.' % (
            datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), os.cpu_count(),
            platform.machine(), platform.python_version(), tree.package, len(tree.ko_files()), REPEAT,
            load_before, load_after),
        '', 'Reproduce: `.venv/bin/python bench/depmod_module.py` (BENCH_REPEAT=%d).' % REPEAT, '',
        '| run | wall (median) | / kmod full |', '|---|---|---|',
        '| kmod 30 `depmod -b COPY REL` (full) | %.3f s | 1.00 |' % med['kmod'],
    ]
    for name, what in (('full', 'kmod_depmod, full (no cache for this tree yet)'),
                       ('one added', 'kmod_depmod, one module added to updates/'),
                       ('nothing changed', 'kmod_depmod, nothing changed'),
                       ('floor', '`python3 -c "import ansible.module_utils.basic"` (the floor)')):
        lines.append('| %s | %.3f s | %.2f |' % (what, med[name], med[name] / med['kmod']))
    lines += ['', 'Raw seconds per round:', '']
    for name in med:
        lines.append('- %s: %s' % (name, ', '.join('%.3f' % r[name] for r in rounds)))
    text = '\n'.join(lines) + '\n'
    publish(text, OUT)


if __name__ == '__main__':
    main()
