"""Benchmark: kmod_depmod on compressed module trees, as a node runs it, against kmod's depmod.

What a user runs: the module file as a process (`python3
plugins/modules/kmod_depmod.py ARGS`, AnsibleModule included) with only
`basedir` and `kernel_release` set (every default: parse cache and state in
/var/cache/kernel-kmod/depmod), the full run of a tree nothing is cached
for.  On copies of Debian's amd64 tree with every module compressed
(tests/lib/compressed_tree.py): xz as Debian's packaging does, zst as the
kernel's modules_install does.  Each round, in an order rotated from round
to round, on fresh copies:

- kmod: `/sbin/depmod -b COPY RELEASE`;
- ours: the module;
- zst only, ours with the zstandard package hidden (what a node without
  python3-zstandard runs: the zstd program decompresses, many files per
  process); the plain `ours` row of the zst tree has the package;
- floor: `python3 -c 'import ansible.module_utils.basic'`.

Wall time of each process, and CPU time (user + system of it and every
child it waited for).  Every run of ours is checked byte for byte against
kmod's outputs of the same round.

Run: .venv/bin/python bench/depmod_compressed.py   (results: bench/results/depmod_compressed.md)
Environment: BENCH_REPEAT (rounds, default 5), BENCH_TREES (default 'zst,xz'), BENCH_OUT.
"""

import datetime
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, '.build'), REPO]

from tests.lib.compressed_tree import tree_copy  # noqa: E402
from tests.lib.debian_tree import get_tree  # noqa: E402
from bench.module_process import (  # noqa: E402
    DEPMOD, ENV, children_cpu, forget_cache, run_module, same_outputs, timed)
from bench.report import publish  # noqa: E402

REPEAT = int(os.environ.get('BENCH_REPEAT', '5'))
TREES = [t for t in os.environ.get('BENCH_TREES', 'zst,xz').split(',') if t]
OUT = os.environ.get('BENCH_OUT', os.path.join(HERE, 'results', 'depmod_compressed.md'))


def cpu_timed(fn):
    """(wall, CPU of the children) of fn()."""
    before = children_cpu()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, children_cpu() - before


def one_round(tree, kind, order, hidden):
    top = tempfile.mkdtemp(prefix='bench-depmod-%s-' % kind)
    times = {}
    try:
        kmod_root = os.path.join(top, 'kmod')
        kmod_dir = tree_copy(tree, kind, kmod_root)

        def ours(name, env):
            root = os.path.join(top, name.replace(', ', '-').replace(' ', '-'))
            module_dir = tree_copy(tree, kind, root)
            times[name] = cpu_timed(lambda: run_module(root, tree.release, top, env=env))
            forget_cache(module_dir, tree.release)
            return module_dir

        steps = {
            'kmod': lambda: times.__setitem__('kmod', cpu_timed(
                lambda: timed([DEPMOD, '-b', kmod_root, tree.release]))),
            'ours': lambda: ours('ours', ENV),
            'ours, no zstandard': lambda: ours('ours, no zstandard', dict(
                ENV, PYTHONPATH=os.pathsep.join([hidden, ENV['PYTHONPATH']]))),
            'floor': lambda: times.__setitem__('floor', cpu_timed(
                lambda: timed([sys.executable, '-c', 'import ansible.module_utils.basic'], env=ENV))),
        }
        dirs = {}
        for name in order:
            dirs[name] = steps[name]()
        for name, module_dir in dirs.items():
            if name.startswith('ours') and not same_outputs(kmod_dir, module_dir):
                raise RuntimeError('%s tree: %s: outputs differ from kmod\'s' % (kind, name))
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return times


def main():
    tree = get_tree()
    hidden = tempfile.mkdtemp(prefix='bench-no-zstandard-')
    with open(os.path.join(hidden, 'zstandard.py'), 'w') as f:
        f.write('raise ImportError("zstandard is hidden for this benchmark")\n')
    load_before = os.getloadavg()
    results = {}
    try:
        for kind in TREES:
            base = ['kmod', 'ours'] + (['ours, no zstandard'] if kind == 'zst' else []) + ['floor']
            one_round(tree, kind, base, hidden)     # warm-up: page cache, .pyc files
            rounds = []
            for k in range(REPEAT):
                shift = k % len(base)
                rounds.append(one_round(tree, kind, base[shift:] + base[:shift], hidden))
            results[kind] = rounds
    finally:
        shutil.rmtree(hidden, ignore_errors=True)
    load_after = os.getloadavg()
    lines = [
        '# kmod_depmod on compressed trees as a node runs it (module process, default options) '
        'against kmod\'s depmod', '',
        '%s; %d CPUs, %s, Python %s; %s, %d modules; median of %d rounds, order rotated, after one warm-up; '
        'load average (1, 5, 15 min) %s before, %s after.' % (
            datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), os.cpu_count(),
            platform.machine(), platform.python_version(), tree.package, len(tree.ko_files()), REPEAT,
            '/'.join('%.2f' % x for x in load_before), '/'.join('%.2f' % x for x in load_after)),
        '', 'Reproduce: `.venv/bin/python bench/depmod_compressed.py` (BENCH_REPEAT=%d BENCH_TREES=%s).'
        % (REPEAT, ','.join(TREES)), '',
        '| tree | run | wall (median) | CPU (median) | wall / kmod (median of the rounds\' ratios) |',
        '|---|---|---|---|---|',
    ]
    labels = {'kmod': 'kmod 30 `depmod -b COPY REL`',
              'ours': 'kmod_depmod, full (no cache for this tree yet)',
              'ours, no zstandard': 'kmod_depmod, full, node without the zstandard package (zstd program)',
              'floor': '`python3 -c "import ansible.module_utils.basic"` (the floor)'}
    raw = []
    for kind, rounds in results.items():
        for name in rounds[0]:
            wall = statistics.median(r[name][0] for r in rounds)
            cpu = statistics.median(r[name][1] for r in rounds)
            ratio = statistics.median(r[name][0] / r['kmod'][0] for r in rounds)
            what = labels[name] if not (kind == 'zst' and name == 'ours') else labels[name] + ', zstandard installed'
            lines.append('| %s | %s | %.3f s | %.3f s | %.2f |' % (kind, what, wall, cpu, ratio))
            raw.append('- %s %s: %s' % (kind, name, ', '.join('%.3f/%.3f' % r[name] for r in rounds)))
    lines += ['', 'Raw seconds per round (wall/CPU):', ''] + raw
    text = '\n'.join(lines) + '\n'
    publish(text, OUT)


if __name__ == '__main__':
    main()
