"""Benchmark: depmod of Debian's whole amd64 tree, ours against two kmods.

The kmods: the host's (kmod 30, `/sbin/depmod`) and Debian 13's kmod 34.2
in a chroot (tests/lib/kmod_chroot.py; `chroot ROOT depmod -b COPY REL` on
a copy of the same tree placed at the same path inside the root).  Both run
in the same rounds; the headline ratio is against the faster of the two.

On a copy of Debian's kernel module tree (tests/lib/debian_tree.py; module
files hard-linked, never written) and on an xz-compressed copy of it (each
`.ko` compressed as Debian's kernel packaging does, `xz --check=crc32
--lzma2=dict=1MiB`, renamed `.ko.xz`; modules.order keeps its `.ko` lines,
which depmod matches without the compression suffix), each round runs, in an
order rotated from round to round:

- kmod 30: `/sbin/depmod -b COPY RELEASE`, outputs deleted first;
- kmod 34: `chroot ROOT depmod -b COPY RELEASE` on the copy inside the
  root, outputs deleted first;
- ours, full: a fresh Python process importing the library and calling
  run_depmod with no cache (so no parse cache and no state shortcut),
  outputs deleted first, copying kmod 30 (post-order .bin files) and, as a
  second run, kmod 34 (pre-order, modules.weakdep);
- ours, nothing changed: a fresh process calling run_depmod with a cache
  directory after a priming run saved its state (the state shortcut);
- both of ours again without bytecode files: the library compiled from
  source at import, as it is when Ansible ships it to a node inside
  AnsiballZ's zip (the runs above read .pyc files written, under
  PYTHONPYCACHEPREFIX, by the warm-up);
- the floor: `python3 -c pass` and a process importing only
  ansible.module_utils.basic (what every module run pays before its own
  work; the runs above do not import it).

Wall time of each process, its CPU time (user + system of the process and
every child it waited for, from RUSAGE_CHILDREN) and, for ours, the time
spent inside the run_depmod call as the process itself measured it (the
rest is interpreter start and imports).  Every round checks that our outputs
equal the copied kmod's byte for byte.  Medians and ratios are from this one
run.

Run: make bench   (or: .venv/bin/python bench/depmod_tree.py)
Environment: BENCH_REPEAT (rounds, default 7), BENCH_TREES (default
'plain,xz'), BENCH_OUT (also write the Markdown report to that file).
The xz copy is built once (about a minute on 2 CPUs) and cached under
$KMOD_TEST_CACHE/bench (default ~/.cache/kernel-kmod/bench).
"""

import ast
import filecmp
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO]

from tests.lib.debian_tree import get_tree  # noqa: E402
from tests.lib.kmod_chroot import ensure_root  # noqa: E402
from tests.lib.compressed_tree import INPUTS, delete_outputs, tree_copy  # noqa: E402
from bench.module_process import children_cpu  # noqa: E402

REPEAT = int(os.environ.get('BENCH_REPEAT', '7'))
TREES = [t for t in os.environ.get('BENCH_TREES', 'plain,xz').split(',') if t]
DEPMOD = '/sbin/depmod'
FLOOR_ANSIBLE = 'import ansible.module_utils.basic'

# The child process for our runs: times only the run_depmod call itself.  It
# imports nothing the library does not (no json to print its findings): the
# process's own time is what a task on a node would pay.
OURS = r'''
import sys, time
start = time.perf_counter()
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_version import KmodFlavour
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.pipeline import DepmodOptions, run_depmod
imported = time.perf_counter()
basedir, release, cache, version = sys.argv[1], sys.argv[2], sys.argv[3] or None, int(sys.argv[4])
report = run_depmod(release, DepmodOptions(basedir=basedir, cache_dir=cache, flavour=KmodFlavour(version)))
done = time.perf_counter()
print(repr({'import': imported - start, 'call': done - imported, 'shortcut': report['shortcut'],
            'modules': report['modules'], 'written': len(report['written'])}))
'''


def timed(argv, env=None):
    """(wall seconds, CPU seconds of the process tree, stdout) of one command."""
    cpu = children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    wall = time.perf_counter() - start
    cpu = children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit('%s failed (%d): %s' % (' '.join(argv), proc.returncode,
                                                 proc.stderr.decode('utf-8', 'replace')[-2000:]))
    return wall, cpu, proc.stdout


def machine():
    model = ''
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    kmod = subprocess.run([DEPMOD, '--version'], stdout=subprocess.PIPE, check=False,
                          universal_newlines=True).stdout.splitlines()[0]
    return '%d CPUs (%s), Linux %s, Python %s, host %s' % (
        os.cpu_count(), model, platform.release(), platform.python_version(), kmod)


def same_outputs(module_dir, reference):
    names = sorted(n for n in os.listdir(reference) if n.startswith('modules.') and n not in INPUTS)
    _match, mismatch, errors = filecmp.cmpfiles(reference, module_dir, names, shallow=False)
    return mismatch + errors


def bench_tree(kind, tree, work, python, envs, chroot):
    """{measure: [(wall, cpu, call)]} of REPEAT rounds on one copy of the tree
    (and its twin inside the kmod 34 root)."""
    base = os.path.join(work, kind)
    module_dir = tree_copy(tree, kind, base)
    chroot.share([base])  # the same tree at the same path inside the kmod 34 root
    module_dir_34 = chroot.inside(module_dir)
    references = {30: os.path.join(work, kind + '-kmod30'), 34: os.path.join(work, kind + '-kmod34')}
    cache = os.path.join(work, kind + '-cache')

    def kmod30():
        delete_outputs(module_dir)
        wall, cpu, _out = timed([DEPMOD, '-b', base, tree.release])
        return wall, cpu, None

    def kmod34():
        delete_outputs(module_dir_34)
        wall, cpu, _out = timed(chroot.command(['depmod', '-b', base, tree.release]))
        return wall, cpu, None

    def ours(cache_dir='', pyc=True, version=30):
        wall, cpu, out = timed([python, '-c', OURS, base, tree.release, cache_dir, str(version)], env=envs[pyc])
        return wall, cpu, ast.literal_eval(out.decode('ascii'))

    def full(pyc=True, version=30):
        delete_outputs(module_dir)
        wall, cpu, info = ours(pyc=pyc, version=version)
        if info['shortcut'] is not None or info['modules'] != len(tree.ko_files()):
            raise SystemExit('full run took a shortcut or missed modules: %r' % (info,))
        bad = same_outputs(module_dir, references[version])
        if bad:
            raise SystemExit('our outputs differ from kmod %d\'s on the %s tree: %s' % (version, kind, ', '.join(bad)))
        return wall, cpu, info['call']

    def unchanged(pyc=True):
        shutil.rmtree(cache, ignore_errors=True)
        ours(cache)  # priming: saves the state (and writes kmod 30's layout if another was there)
        wall, cpu, info = ours(cache, pyc=pyc)
        if info['shortcut'] != 'state' or info['written']:
            raise SystemExit('nothing-changed run did not take the state shortcut: %r' % (info,))
        return wall, cpu, info['call']

    def floor(code):
        wall, cpu, _out = timed([python, '-c', code], env=envs[True])
        return wall, cpu, None

    # each kmod's outputs on its copy, to compare ours with
    for version, run, outputs in ((30, kmod30, module_dir), (34, kmod34, module_dir_34)):
        run()
        os.makedirs(references[version])
        for name in os.listdir(outputs):
            if name.startswith('modules.') and name not in INPUTS:
                shutil.copy2(os.path.join(outputs, name), references[version])
    runs = [('kmod30', kmod30), ('kmod34', kmod34), ('full', full), ('full-34', lambda: full(version=34)),
            ('unchanged', unchanged), ('full-nopyc', lambda: full(False)),
            ('unchanged-nopyc', lambda: unchanged(False)),
            ('floor-python', lambda: floor('pass')), ('floor-ansible', lambda: floor(FLOOR_ANSIBLE))]
    results = dict((name, []) for name, _fn in runs)
    for name, fn in runs:  # one warm-up of each (page cache, .pyc)
        fn()
    for number in range(REPEAT):
        shift = number % len(runs)
        for name, fn in runs[shift:] + runs[:shift]:
            results[name].append(fn())
    return results


def median(values):
    return statistics.median(values) if values and values[0] is not None else None


RUN_ORDER = ('kmod30', 'kmod34', 'full', 'full-34', 'unchanged', 'full-nopyc', 'unchanged-nopyc',
             'floor-python', 'floor-ansible')


def report(tree, all_results, load_before, load_after, kmod34_version):
    lines = ['# depmod of Debian\'s amd64 tree: kernel.kmod against kmod 30 and kmod %s' % kmod34_version, '',
             '%s; %s; kmod %s in a Debian 13 chroot; %s (%s), %d modules; median of %d alternating rounds '
             'after one warm-up; load average %s before, %s after.'
             % (time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), machine(), kmod34_version, tree.package,
                tree.release, len(tree.ko_files()), REPEAT, load_before, load_after), '',
             'Reproduce: `make bench` or `.venv/bin/python bench/depmod_tree.py` '
             '(BENCH_REPEAT=%d BENCH_TREES=%s).' % (REPEAT, ','.join(TREES)), '',
             'The faster kmod is the anchor: "/ faster kmod" divides by its median wall (CPU) time.', '',
             '| tree | run | wall (process) | CPU (process tree) | run_depmod call | wall / kmod 30 '
             '| wall / kmod 34 | wall / faster kmod | CPU / faster kmod |',
             '|---|---|---|---|---|---|---|---|---|']
    labels = {'kmod30': 'kmod 30: `/sbin/depmod -b COPY REL`',
              'kmod34': 'kmod %s: `chroot ROOT depmod -b COPY REL`' % kmod34_version,
              'full': 'ours, full, copying kmod 30 (no cache, outputs deleted)',
              'full-34': 'ours, full, copying kmod 34 (pre-order .bin, modules.weakdep)',
              'unchanged': 'ours, nothing changed (state shortcut)',
              'full-nopyc': 'ours, full, library compiled at import (no .pyc)',
              'unchanged-nopyc': 'ours, nothing changed, no .pyc',
              'floor-python': 'floor: `python3 -c pass`',
              'floor-ansible': 'floor: a process importing ansible.module_utils.basic'}
    headline = []
    for kind, results in all_results:
        med = dict((name, (median([r[0] for r in rows]), median([r[1] for r in rows]), median([r[2] for r in rows])))
                   for name, rows in results.items())
        faster = min(('kmod30', 'kmod34'), key=lambda name: med[name][0])
        for name in RUN_ORDER:
            wall, cpu, call = med[name]
            lines.append('| %s | %s | %.3f s | %.3f s | %s | %.2f | %.2f | %.2f | %.2f |' % (
                kind, labels[name], wall, cpu, '%.3f s' % call if call is not None else '-',
                wall / med['kmod30'][0], wall / med['kmod34'][0], wall / med[faster][0], cpu / med[faster][1]))
        headline.append('- %s tree: the faster kmod is %s (%.3f s against %.3f s); ours, full, copying kmod 34: '
                        '%.2f of it (copying kmod 30: %.2f); nothing changed: %.2f (floor: interpreter %.3f s, '
                        'with ansible.module_utils.basic imported %.3f s)'
                        % (kind, labels[faster].split(':')[0], med[faster][0],
                           med['kmod34' if faster == 'kmod30' else 'kmod30'][0],
                           med['full-34'][0] / med[faster][0], med['full'][0] / med[faster][0],
                           med['unchanged'][0] / med[faster][0], med['floor-python'][0], med['floor-ansible'][0]))
    lines += ['', 'Headline (wall, against the faster kmod):', ''] + headline
    lines += ['', 'Raw seconds (wall, CPU, call) per round:', '']
    for kind, results in all_results:
        for name, rows in results.items():
            lines.append('- %s %s: %s' % (kind, name, ', '.join(
                '(%.3f, %.3f%s)' % (w, c, ', %.3f' % k if k is not None else '') for w, c, k in rows)))
    return '\n'.join(lines) + '\n'


def main():
    tree = get_tree()
    chroot = ensure_root(lambda msg: sys.stderr.write(msg + '\n'))
    load_before = '%.2f' % os.getloadavg()[0]
    work = tempfile.mkdtemp(prefix='bench-depmod-')
    try:
        # the collection importable as ansible_collections.kernel.kmod, whatever the checkout is called
        link = os.path.join(work, 'collections', 'ansible_collections', 'kernel')
        os.makedirs(link)
        os.symlink(REPO, os.path.join(link, 'kmod'))
        env = dict(os.environ)
        env.pop('PYTHONDONTWRITEBYTECODE', None)
        env.pop('PYTHONPYCACHEPREFIX', None)
        # a copy of the library that never gets .pyc files (the standard library keeps its own)
        shutil.copytree(os.path.join(REPO, 'plugins'),
                        os.path.join(work, 'source-only', 'ansible_collections', 'kernel', 'kmod', 'plugins'),
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        # True: .pyc files written by the warm-up to a private prefix and read after
        envs = {True: dict(env, PYTHONPATH=os.path.join(work, 'collections'),
                           PYTHONPYCACHEPREFIX=os.path.join(work, 'pycache')),
                False: dict(env, PYTHONPATH=os.path.join(work, 'source-only'), PYTHONDONTWRITEBYTECODE='1')}
        all_results = []
        for kind in TREES:
            all_results.append((kind, bench_tree(kind, tree, work, sys.executable, envs, chroot)))
        text = report(tree, all_results, load_before, '%.2f' % os.getloadavg()[0], chroot.version)
    finally:
        if os.path.lexists(chroot.inside(work)):
            shutil.rmtree(chroot.inside(work), ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.write(text)
    if os.environ.get('BENCH_OUT'):
        with open(os.environ['BENCH_OUT'], 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
