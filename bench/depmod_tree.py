"""Benchmark: depmod of Debian's whole amd64 tree, ours against kmod's.

On a copy of Debian's kernel module tree (tests/lib/debian_tree.py; module
files hard-linked, never written) and on an xz-compressed copy of it (each
`.ko` compressed as Debian's kernel packaging does, `xz --check=crc32
--lzma2=dict=1MiB`, renamed `.ko.xz`; modules.order keeps its `.ko` lines,
which depmod matches without the compression suffix), each round runs, in an
order rotated from round to round:

- kmod: `/sbin/depmod -b COPY RELEASE`, outputs deleted first;
- ours, full: a fresh Python process importing the library and calling
  run_depmod with no cache (so no parse cache and no state shortcut),
  outputs deleted first;
- ours, nothing changed: a fresh process calling run_depmod with a cache
  directory after a priming run saved its state (the state shortcut);
- both of ours again without bytecode files: the library compiled from
  source at import, as it is when Ansible ships it to a node inside
  AnsiballZ's zip (the runs above read .pyc files written, under
  PYTHONPYCACHEPREFIX, by the warm-up).

Wall time of each process, its CPU time (user + system of the process and
every child it waited for, from RUSAGE_CHILDREN) and, for ours, the time
spent inside the run_depmod call as the process itself measured it (the
rest is interpreter start and imports).  Every round checks that our outputs
equal kmod's byte for byte.  Medians and ratios are from this one run.

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
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO]

from tests.lib.debian_tree import cache_dir, get_tree  # noqa: E402

REPEAT = int(os.environ.get('BENCH_REPEAT', '7'))
TREES = [t for t in os.environ.get('BENCH_TREES', 'plain,xz').split(',') if t]
DEPMOD = '/sbin/depmod'
XZ_ARGS = ['xz', '--check=crc32', '--lzma2=dict=1MiB']
# depmod's inputs in the module directory; every other modules.* file is an output
INPUTS = ('modules.order', 'modules.builtin', 'modules.builtin.modinfo')

# The child process for our runs: times only the run_depmod call itself.  It
# imports nothing the library does not (no json to print its findings): the
# process's own time is what a task on a node would pay.
OURS = r'''
import sys, time
start = time.perf_counter()
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.pipeline import DepmodOptions, run_depmod
imported = time.perf_counter()
basedir, release, cache = sys.argv[1], sys.argv[2], sys.argv[3] or None
report = run_depmod(release, DepmodOptions(basedir=basedir, cache_dir=cache))
done = time.perf_counter()
print(repr({'import': imported - start, 'call': done - imported, 'shortcut': report['shortcut'],
            'modules': report['modules'], 'written': len(report['written'])}))
'''


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv, env=None):
    """(wall seconds, CPU seconds of the process tree, stdout) of one command."""
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit('%s failed (%d): %s' % (' '.join(argv), proc.returncode,
                                                 proc.stderr.decode('utf-8', 'replace')[-2000:]))
    return wall, cpu, proc.stdout


def delete_outputs(module_dir):
    for name in os.listdir(module_dir):
        if name.startswith('modules.') and name not in INPUTS:
            os.unlink(os.path.join(module_dir, name))


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_tree(src_root, dst_root, module_name=None):
    """The module tree of src_root under dst_root: module files hard-linked
    (module_name maps a file name to the one to link, or None), every other
    file copied so that nothing written here reaches the source."""
    for dirpath, dirs, files in os.walk(src_root):
        rel = os.path.relpath(dirpath, src_root)
        target = os.path.join(dst_root, rel)
        os.makedirs(target, exist_ok=True)
        for name in files:
            src = os.path.join(dirpath, name)
            if name.endswith('.ko'):
                linked = module_name(os.path.join(rel, name)) if module_name else src
                _link_or_copy(linked, os.path.join(target, os.path.basename(linked)))
            else:
                shutil.copy2(src, os.path.join(target, name))


def xz_modules(tree):
    """A cached directory holding every module of the tree as REL.ko.xz."""
    base = os.path.join(cache_dir(), 'bench', 'xz-' + tree.package)
    done = os.path.join(base, '.done')
    if os.path.exists(done):
        return base
    sys.stderr.write('compressing %d modules with %s (once; cached in %s)\n'
                     % (len(tree.ko_files()), ' '.join(XZ_ARGS), base))
    todo = []
    for path in tree.ko_files():
        rel = os.path.relpath(path, tree.root)
        out = os.path.join(base, rel + '.xz')
        os.makedirs(os.path.dirname(out), exist_ok=True)
        todo.append((path, out))
    running = []
    limit = os.cpu_count() or 1
    for path, out in todo:
        while len(running) >= limit:
            running.pop(0).wait()
        with open(out + '.tmp', 'wb') as f:
            running.append(_XzJob(subprocess.Popen(XZ_ARGS + ['-c', path], stdout=f), out))
    for job in running:
        job.wait()
    with open(done, 'w') as f:
        f.write('%s\n' % ' '.join(XZ_ARGS))
    return base


class _XzJob(object):
    def __init__(self, proc, out):
        self.proc = proc
        self.out = out

    def wait(self):
        if self.proc.wait() != 0:
            raise SystemExit('xz failed for %s' % self.out)
        os.rename(self.out + '.tmp', self.out)


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
    return '%d CPUs (%s), Linux %s, Python %s, %s' % (
        os.cpu_count(), model, platform.release(), platform.python_version(), kmod)


def same_outputs(module_dir, reference):
    names = sorted(n for n in os.listdir(reference) if n.startswith('modules.') and n not in INPUTS)
    _match, mismatch, errors = filecmp.cmpfiles(reference, module_dir, names, shallow=False)
    return mismatch + errors


def bench_tree(kind, tree, work, python, envs):
    """{measure: [(wall, cpu, call)]} of REPEAT rounds on one copy of the tree."""
    base = os.path.join(work, kind)
    src_modules = os.path.join(tree.root, 'lib', 'modules')
    if kind == 'xz':
        xz_base = xz_modules(tree)

        def xz_name(rel):
            return os.path.join(xz_base, 'lib', 'modules', rel + '.xz')
        copy_tree(src_modules, os.path.join(base, 'lib', 'modules'), xz_name)
    else:
        copy_tree(src_modules, os.path.join(base, 'lib', 'modules'))
    module_dir = os.path.join(base, 'lib', 'modules', tree.release)
    reference = os.path.join(work, kind + '-kmod')
    cache = os.path.join(work, kind + '-cache')
    os.makedirs(reference)

    def kmod():
        delete_outputs(module_dir)
        wall, cpu, _out = timed([DEPMOD, '-b', base, tree.release])
        return wall, cpu, None

    def ours(cache_dir='', pyc=True):
        wall, cpu, out = timed([python, '-c', OURS, base, tree.release, cache_dir], env=envs[pyc])
        return wall, cpu, ast.literal_eval(out.decode('ascii'))

    def full(pyc=True):
        delete_outputs(module_dir)
        wall, cpu, info = ours(pyc=pyc)
        if info['shortcut'] is not None or info['modules'] != len(tree.ko_files()):
            raise SystemExit('full run took a shortcut or missed modules: %r' % (info,))
        bad = same_outputs(module_dir, reference)
        if bad:
            raise SystemExit('our outputs differ from kmod\'s on the %s tree: %s' % (kind, ', '.join(bad)))
        return wall, cpu, info['call']

    def unchanged(pyc=True):
        shutil.rmtree(cache, ignore_errors=True)
        ours(cache)  # priming: saves the state (outputs already equal, nothing written)
        wall, cpu, info = ours(cache, pyc=pyc)
        if info['shortcut'] != 'state' or info['written']:
            raise SystemExit('nothing-changed run did not take the state shortcut: %r' % (info,))
        return wall, cpu, info['call']

    # kmod's outputs on this copy, to compare ours with
    kmod()
    for name in os.listdir(module_dir):
        if name.startswith('modules.') and name not in INPUTS:
            shutil.copy2(os.path.join(module_dir, name), reference)
    runs = [('kmod', kmod), ('full', full), ('unchanged', unchanged),
            ('full-nopyc', lambda: full(False)), ('unchanged-nopyc', lambda: unchanged(False))]
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


def report(tree, all_results, load_before, load_after):
    lines = ['# depmod of Debian\'s amd64 tree: kernel.kmod against kmod', '',
             '%s; %s; %s (%s), %d modules; median of %d alternating rounds after one warm-up; '
             'load average %s before, %s after.'
             % (time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), machine(), tree.package, tree.release,
                len(tree.ko_files()), REPEAT, load_before, load_after), '',
             'Reproduce: `make bench` or `.venv/bin/python bench/depmod_tree.py` '
             '(BENCH_REPEAT=%d BENCH_TREES=%s).' % (REPEAT, ','.join(TREES)), '',
             '| tree | run | wall (process) | CPU (process tree) | run_depmod call | wall / kmod | CPU / kmod |',
             '|---|---|---|---|---|---|---|']
    labels = {'kmod': '`/sbin/depmod -b COPY REL`', 'full': 'ours, full (no cache, outputs deleted)',
              'unchanged': 'ours, nothing changed (state shortcut)',
              'full-nopyc': 'ours, full, library compiled at import (no .pyc)',
              'unchanged-nopyc': 'ours, nothing changed, no .pyc'}
    for kind, results in all_results:
        kmod_wall = median([r[0] for r in results['kmod']])
        kmod_cpu = median([r[1] for r in results['kmod']])
        for name in ('kmod', 'full', 'unchanged', 'full-nopyc', 'unchanged-nopyc'):
            rows = results[name]
            wall = median([r[0] for r in rows])
            cpu = median([r[1] for r in rows])
            call = median([r[2] for r in rows])
            lines.append('| %s | %s | %.3f s | %.3f s | %s | %.2f | %.2f |' % (
                kind, labels[name], wall, cpu, '%.3f s' % call if call is not None else '-',
                wall / kmod_wall, cpu / kmod_cpu))
    lines += ['', 'Raw seconds (wall, CPU, call) per round:', '']
    for kind, results in all_results:
        for name, rows in results.items():
            lines.append('- %s %s: %s' % (kind, name, ', '.join(
                '(%.3f, %.3f%s)' % (w, c, ', %.3f' % k if k is not None else '') for w, c, k in rows)))
    return '\n'.join(lines) + '\n'


def main():
    tree = get_tree()
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
            all_results.append((kind, bench_tree(kind, tree, work, sys.executable, envs)))
        text = report(tree, all_results, load_before, '%.2f' % os.getloadavg()[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.write(text)
    if os.environ.get('BENCH_OUT'):
        with open(os.environ['BENCH_OUT'], 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
