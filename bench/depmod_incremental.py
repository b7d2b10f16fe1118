"""Benchmark: kmod_depmod after a few module files changed, as a node runs it.

The module file as a process (`python3 plugins/modules/kmod_depmod.py
ARGS`, AnsibleModule included) with only `basedir` and `kernel_release`
set (parse cache and state in the default cache_dir), on a hard-linked copy
of Debian's amd64 tree (tests/lib/debian_tree.py) that a first, untimed run
of the module indexed.  Each round then times, on that copy, one after the
other:

- one added: a module without exports dropped into updates/ (a copy of
  dummy.ko under a new name; "add a module, run depmod");
- nothing changed: the module again;
- one removed: that module deleted again;
- one rebuilt: a module of kernel/ replaced by a copy of itself (new inode
  and mtime, same bytes: a DKMS rebuild);
- exporter added: a module that exports symbols (a copy of mii.ko under a
  new name) dropped into updates/;

and, before or after those (alternating from round to round), kmod's
`depmod -b COPY RELEASE` on a fresh copy without indexes, and the floor
(`python3 -c 'import ansible.module_utils.basic'`).  Each case's time is
divided by the same round's kmod time.  After the last step, every index
is compared byte for byte with kmod's depmod run on the same tree.

Run: .venv/bin/python bench/depmod_incremental.py   (results: bench/results/depmod_incremental.md)
Environment: BENCH_REPEAT (rounds, default 7), BENCH_OUT.
"""

import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, '.build'), REPO]

from tests.lib.debian_tree import get_tree  # noqa: E402
from bench.module_process import (  # noqa: E402
    DEPMOD, ENV, forget_cache, fresh_copy, outputs, run_module, same_outputs, timed)
from bench.report import publish  # noqa: E402

REPEAT = int(os.environ.get('BENCH_REPEAT', '7'))
OUT = os.environ.get('BENCH_OUT', os.path.join(HERE, 'results', 'depmod_incremental.md'))
CASES = ('one added', 'nothing changed', 'one removed', 'one rebuilt', 'exporter added')


def _copy_new_inode(source, target):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy(source, target + '.new')
    os.rename(target + '.new', target)


def one_round(tree, kmod_first):
    top = tempfile.mkdtemp(prefix='bench-depmod-incr-')
    times, parsed = {}, {}
    src = tree.module_dir
    try:
        ours_root = fresh_copy(tree, top, 'ours')
        ours_dir = os.path.join(ours_root, 'lib', 'modules', tree.release)
        run_module(ours_root, tree.release, top)     # indexed, parse cache written: not timed

        def kmod_and_floor():
            kmod_root = fresh_copy(tree, top, 'kmod')
            times['kmod'] = timed([DEPMOD, '-b', kmod_root, tree.release])[0]
            times['floor'] = timed([sys.executable, '-c', 'import ansible.module_utils.basic'], env=ENV)[0]
            shutil.rmtree(kmod_root)

        if kmod_first:
            kmod_and_floor()
        steps = (
            ('one added', lambda: _copy_new_inode(os.path.join(src, 'kernel/drivers/net/dummy.ko'),
                                                  os.path.join(ours_dir, 'updates', 'bench_added.ko'))),
            ('nothing changed', lambda: None),
            ('one removed', lambda: os.unlink(os.path.join(ours_dir, 'updates', 'bench_added.ko'))),
            ('one rebuilt', lambda: _copy_new_inode(os.path.join(src, 'kernel/drivers/net/dummy.ko'),
                                                    os.path.join(ours_dir, 'kernel/drivers/net/dummy.ko'))),
            ('exporter added', lambda: _copy_new_inode(os.path.join(src, 'kernel/drivers/net/mii.ko'),
                                                       os.path.join(ours_dir, 'updates', 'bench_mii.ko'))),
        )
        for name, change in steps:
            change()
            times[name], result = run_module(ours_root, tree.release, top)
            report = result['releases'][tree.release]
            parsed[name] = report['parsed']
            if report['changed'] != (name not in ('nothing changed', 'one rebuilt')):
                raise RuntimeError('%s: changed is %s' % (name, report['changed']))
        if not kmod_first:
            kmod_and_floor()
        check_root = os.path.join(top, 'check')
        check_dir = os.path.join(check_root, 'lib', 'modules', tree.release)
        os.makedirs(os.path.dirname(check_dir))
        subprocess.run(['cp', '-al', ours_dir, check_dir], check=True)
        for entry in outputs(check_dir):
            os.unlink(os.path.join(check_dir, entry))
        timed([DEPMOD, '-b', check_root, tree.release])
        if not same_outputs(check_dir, ours_dir):
            raise RuntimeError('after the changes our outputs differ from kmod\'s')
        forget_cache(ours_dir, tree.release)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return times, parsed


def main():
    tree = get_tree()
    load_before = os.getloadavg()
    one_round(tree, True)     # warm-up: page cache, .pyc files
    rounds = []
    parsed = None
    for k in range(REPEAT):
        times, parsed = one_round(tree, k % 2 == 0)
        rounds.append(times)
    load_after = os.getloadavg()
    med = dict((name, statistics.median(r[name] for r in rounds)) for name in rounds[0])
    ratio = dict((name, statistics.median(r[name] / r['kmod'] for r in rounds)) for name in rounds[0])
    lines = [
        '# kmod_depmod after a few changed module files (module process, default options) against kmod\'s full run',
        '',
        '%s; %d CPUs, %s, Python %s; %s, %d modules; median of %d rounds, kmod before or after alternating, after '
        'one warm-up; load average (1, 5, 15 min) %s before, %s after.' % (
            datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), os.cpu_count(),
            platform.machine(), platform.python_version(), tree.package, len(tree.ko_files()), REPEAT,
            '/'.join('%.2f' % v for v in load_before), '/'.join('%.2f' % v for v in load_after)),
        '', 'Reproduce: `.venv/bin/python bench/depmod_incremental.py` (BENCH_REPEAT=%d).' % REPEAT, '',
        '| run | wall (median) | / kmod full (median of the rounds\' ratios) | module files parsed |',
        '|---|---|---|---|',
        '| kmod 30 `depmod -b COPY REL` (full, fresh copy) | %.3f s | 1.00 | all |' % med['kmod'],
    ]
    for name in CASES:
        lines.append('| kmod_depmod, %s | %.3f s | %.2f | %d |' % (name, med[name], ratio[name], parsed[name]))
    lines.append('| `python3 -c "import ansible.module_utils.basic"` (the floor) | %.3f s | %.2f | |'
                 % (med['floor'], ratio['floor']))
    lines += ['', 'Raw seconds per round:', '']
    for name in med:
        lines.append('- %s: %s' % (name, ', '.join('%.3f' % r[name] for r in rounds)))
    text = '\n'.join(lines) + '\n'
    publish(text, OUT)


if __name__ == '__main__':
    main()
