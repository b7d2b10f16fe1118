"""Benchmark: the load plan of every module of Debian's amd64 tree, ours against kmod's `modprobe -D`.

Ours: one process reads the tree's indexes and an empty modprobe.d once and
plans `modprobe NAME` for every module name of the tree in turn (load.plan.
plan_load, nothing live), as kmod_load does for a list of names.  kmod's:
`modprobe -D -d ROOT -S RELEASE -C EMPTY NAME` once per name, the way a loop
of shell tasks (or community.general.modprobe) asks it.  Both sides see the
same kernel command line (kmod always reads the host's /proc/cmdline; ours
is given that text).  Each side runs REPEAT times, alternately; the median is
reported and the ratio taken from the same run.

Run: .venv/bin/python bench/plan_tree.py   (BENCH_REPEAT=3 by default)
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, '.build'), REPO]

from ansible_collections.kernel.kmod.plugins.module_utils.config.modprobe import load_modprobe_config  # noqa: E402
from ansible_collections.kernel.kmod.plugins.module_utils.load.plan import plan_load  # noqa: E402
from ansible_collections.kernel.kmod.plugins.module_utils.names import module_name_from_path  # noqa: E402
from ansible_collections.kernel.kmod.plugins.module_utils.tree.module_dir import ModuleTree  # noqa: E402
from tests.lib.debian_tree import get_tree  # noqa: E402

REPEAT = int(os.environ.get('BENCH_REPEAT', '3'))
MODPROBE = '/sbin/modprobe'


def host_cmdline():
    try:
        with open('/proc/cmdline') as f:
            return f.read()
    except OSError:
        return ''


def ours(root, release, conf, names):
    with ModuleTree(root, release) as tree:
        config = load_modprobe_config(paths=[conf], module_dir=tree.module_dir, cmdline=host_cmdline())
        builtin = tree.builtin()
        steps = 0
        for name in names:
            steps += len(plan_load(tree, config, name, builtin=builtin).steps)
    return steps


def kmods(root, release, conf, names):
    lines = 0
    for name in names:
        out = subprocess.run([MODPROBE, '-D', '-d', root, '-S', release, '-C', conf, name],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False).stdout
        lines += out.count(b'\n')
    return lines


def measure(fn, *args):
    start = time.perf_counter()
    count = fn(*args)
    return time.perf_counter() - start, count


def main():
    tree = get_tree()
    names = sorted(set(module_name_from_path(p) for p in tree.ko_files()))
    conf = tempfile.mkdtemp(prefix='kmod-bench-conf-')
    times = {'ours': [], 'kmod': []}
    counts = {}
    try:
        for _round in range(REPEAT):
            for side, fn in (('kmod', kmods), ('ours', ours)):
                seconds, counts[side] = measure(fn, tree.root, tree.release, conf, names)
                times[side].append(seconds)
    finally:
        os.rmdir(conf)
    med = dict((k, statistics.median(v)) for k, v in times.items())
    print('load plans of %d modules of %s (%s), median of %d runs:' % (len(names), tree.package, tree.release,
                                                                       REPEAT))
    print('  kmod modprobe -D, one process a name : %.3f s (%d lines)' % (med['kmod'], counts['kmod']))
    print('  kernel.kmod plan_load, one process   : %.3f s (%d steps)' % (med['ours'], counts['ours']))
    print('  ratio ours/kmod: %.3f' % (med['ours'] / med['kmod']))
    return med


if __name__ == '__main__':
    main()
