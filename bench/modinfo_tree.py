"""Benchmark: modinfo of every module of Debian's amd64 tree, ours against kmod's.

Ours: read, decompress if needed, parse the ELF image and describe its
modinfo (plugins/module_utils: elf.read_module + describe_modinfo, plus the
signature fields), one process, every file.  kmod's: `modinfo FILE...` over
the same files in as few processes as the argument limit allows.  Each side
runs REPEAT times alternately; the median is reported and the ratio taken
from the same run.

Run: make bench   (or: .venv/bin/python bench/modinfo_tree.py)
"""

import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, '.build'), REPO]

from ansible_collections.kernel.kmod.plugins.module_utils.image.modinfo import file_info  # noqa: E402
from tests.lib.debian_tree import get_tree  # noqa: E402

REPEAT = int(os.environ.get('BENCH_REPEAT', '5'))
CHUNK = 1000


def ours(files):
    for path in files:
        file_info(path, None)


def kmods(files):
    for i in range(0, len(files), CHUNK):
        subprocess.run(['modinfo'] + files[i:i + CHUNK], stdout=subprocess.DEVNULL, check=True)


def measure(fn, files):
    start = time.perf_counter()
    fn(files)
    return time.perf_counter() - start


def main():
    tree = get_tree()
    files = tree.ko_files()
    times = {'ours': [], 'kmod': []}
    for _round in range(REPEAT):
        times['kmod'].append(measure(kmods, files))
        times['ours'].append(measure(ours, files))
    med = dict((k, statistics.median(v)) for k, v in times.items())
    print('modinfo of %d modules of %s (%s), median of %d runs:' % (len(files), tree.package, tree.release, REPEAT))
    print('  kmod modinfo : %.3f s' % med['kmod'])
    print('  kernel.kmod  : %.3f s' % med['ours'])
    print('  ratio ours/kmod: %.2f' % (med['ours'] / med['kmod']))
    return med


if __name__ == '__main__':
    main()
