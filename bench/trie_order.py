"""Benchmark: kmod's .bin tries built in both node orders, library only.

index/bulk.py builds every .bin file depmod writes: post-order (kmod 33 and
older, the host's kmod 30) or pre-order (kmod 34).  This times
build_index_bytes on the entries of Debian's amd64 tree (modules.alias.bin,
modules.symbols.bin and modules.dep.bin, read back from the tree the host's
kmod 30 indexed: tests/lib/debian_tree.py), both orders alternating, the
order of the two rotated from round to round, in this one process (garbage
collection off, as pipeline.py runs it).  Each round checks that the
pre-order bytes equal writer.IndexBuilder's (the slow reference the unit
tests hold against kmod 34's depmod) once, and that every post-order file
equals kmod 30's on disk.

This is a library-only figure: no process start, no imports, no parsing.

Run: .venv/bin/python bench/trie_order.py
Environment: BENCH_REPEAT (rounds, default 7), BENCH_OUT (also write the
Markdown report to that file).
"""

import gc
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, '.build'), REPO]

from tests.lib.debian_tree import get_tree  # noqa: E402
from ansible_collections.kernel.kmod.plugins.module_utils.index.binary import BinaryIndex  # noqa: E402
from ansible_collections.kernel.kmod.plugins.module_utils.index.bulk import build_index_bytes  # noqa: E402
from ansible_collections.kernel.kmod.plugins.module_utils.index.writer import build_index  # noqa: E402

REPEAT = int(os.environ.get('BENCH_REPEAT', '7'))
FILES = ('modules.alias.bin', 'modules.symbols.bin', 'modules.dep.bin')
ORDERS = ('post', 'pre')


def load_entries(module_dir):
    """{file: ((key, value, priority), ...)} read back from kmod 30's files."""
    out = {}
    for name in FILES:
        with BinaryIndex(os.path.join(module_dir, name)) as index:
            out[name] = [(key, value, priority) for key, priority, value in index.items()]
    return out


def time_one(entries, layout):
    """(wall seconds, CPU seconds of this process) of one build."""
    start, cpu = time.perf_counter(), time.process_time()
    build_index_bytes(entries, layout)
    return time.perf_counter() - start, time.process_time() - cpu


def main():
    tree = get_tree()
    entries = load_entries(tree.module_dir)
    for name in FILES:
        with open(os.path.join(tree.module_dir, name), 'rb') as f:
            if build_index_bytes(entries[name], 'post') != f.read():
                raise SystemExit('%s: post-order bytes differ from kmod 30\'s' % name)
        if build_index_bytes(entries[name], 'pre') != build_index(entries[name], 'pre'):
            raise SystemExit('%s: pre-order bytes differ from IndexBuilder\'s' % name)
    load_before = os.getloadavg()[0]
    times = dict(((name, layout), []) for name in FILES for layout in ORDERS)
    totals = dict((layout, []) for layout in ORDERS)
    cpu_totals = dict((layout, []) for layout in ORDERS)
    gc.disable()
    for _warm in range(1):
        for name in FILES:
            for layout in ORDERS:
                time_one(entries[name], layout)
    for rnd in range(REPEAT):
        order = ORDERS if rnd % 2 == 0 else ORDERS[::-1]
        sums = dict((layout, 0.0) for layout in ORDERS)
        cpu_sums = dict((layout, 0.0) for layout in ORDERS)
        for name in FILES:
            for layout in order:
                took, cpu = time_one(entries[name], layout)
                times[(name, layout)].append(took)
                sums[layout] += took
                cpu_sums[layout] += cpu
        for layout in ORDERS:
            totals[layout].append(sums[layout])
            cpu_totals[layout].append(cpu_sums[layout])
    gc.enable()
    load_after = os.getloadavg()[0]
    lines = ['# .bin tries of Debian\'s amd64 tree: pre-order (kmod 34) against post-order (kmod 30), library only',
             '',
             '%s; %d CPUs, %s, Python %s; %s (%s); median of %d alternating rounds after one warm-up; '
             'load average %.2f before, %.2f after.'
             % (time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), os.cpu_count(), platform.machine(),
                platform.python_version(), tree.package, tree.release, REPEAT, load_before, load_after),
             '',
             'Reproduce: `.venv/bin/python bench/trie_order.py` (BENCH_REPEAT=%d). `build_index_bytes` alone, '
             'entries read back from kmod 30\'s files; bytes checked against kmod 30 (post) and IndexBuilder (pre).'
             % REPEAT,
             '',
             '| file | entries | post-order (wall) | pre-order (wall) | pre / post |',
             '|---|---|---|---|---|']
    for name in FILES:
        post = statistics.median(times[(name, 'post')])
        pre = statistics.median(times[(name, 'pre')])
        lines.append('| %s | %d | %.4f s | %.4f s | %.2f |' % (name, len(entries[name]), post, pre, pre / post))
    post = statistics.median(totals['post'])
    pre = statistics.median(totals['pre'])
    lines.append('| all three | %d | %.4f s | %.4f s | %.2f |'
                 % (sum(len(e) for e in entries.values()), post, pre, pre / post))
    post_cpu = statistics.median(cpu_totals['post'])
    pre_cpu = statistics.median(cpu_totals['pre'])
    lines.append('| all three, CPU time of the process | %d | %.4f s | %.4f s | %.2f |'
                 % (sum(len(e) for e in entries.values()), post_cpu, pre_cpu, pre_cpu / post_cpu))
    lines += ['', 'Raw seconds per round (all three files, wall; CPU):', '']
    for layout in ORDERS:
        wall = ', '.join('%.4f' % t for t in totals[layout])
        cpu = ', '.join('%.4f' % t for t in cpu_totals[layout])
        lines.append('- %s: %s; CPU %s' % (layout, wall, cpu))
    text = '\n'.join(lines) + '\n'
    sys.stdout.write(text)
    out = os.environ.get('BENCH_OUT')
    if out:
        with open(out, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
