"""Benchmark: the shell-pattern matcher (fnmatch_glibc) against glibc's fnmatch(3).

A narrow figure by design: the matcher alone, not a module run.  Two loads:

- adversarial: patterns with many stars that make a backtracking matcher
  take time exponential in their star count (one 22-character alias took
  a lookup 13.6 s before the matcher was bounded); each (pattern, string) is
  compiled and matched afresh, median of REPEAT rounds, alternating with
  libc's fnmatch through ctypes;
- real: every alias pattern of Debian's amd64 tree (modules.alias) matched
  against 300 modalias strings made from those patterns, the whole load
  timed, alternating with libc the same way (compiled patterns cached, as
  the library does).

BENCH_FNMATCH_FILE=path/to/fnmatch_glibc.py times another version of the
file (an older commit's, say) on the real load in the same run, beside this
checkout's (not on the adversarial one, where a backtracking version would
not finish).

Run: .venv/bin/python bench/fnmatch_patterns.py   (results: bench/results/fnmatch_patterns.md)
"""

import ctypes
import ctypes.util
import datetime
import importlib.util
import os
import platform
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, '.build'), REPO]

from tests.lib.debian_tree import get_tree  # noqa: E402
from bench.report import publish  # noqa: E402

REPEAT = int(os.environ.get('BENCH_REPEAT', '5'))
OUT = os.environ.get('BENCH_OUT', os.path.join(HERE, 'results', 'fnmatch_patterns.md'))
ADVERSARIAL = [
    ('*a*a*a*a*a*a*a*a*a*a*b', 'a' * 40),
    ('*a' * 30 + '*b', 'a' * 200),
    ('a*' * 20 + '[!a]', 'a' * 300),
    ('pci:v*d*sv*sd*bc*sc*i*' * 4 + 'z', 'pci:v' * 60),
]


def load_matcher(path):
    spec = importlib.util.spec_from_file_location('fnmatch_under_test_%d' % abs(hash(path)), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def libc_matcher():
    libc = ctypes.CDLL(ctypes.util.find_library('c'))
    libc.fnmatch.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    return lambda p, s: libc.fnmatch(p, s, 0) == 0


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def real_load():
    tree = get_tree()
    with open(os.path.join(tree.module_dir, 'modules.alias')) as f:
        patterns = sorted({line.split()[1] for line in f if line.startswith('alias ')})
    rng = random.Random(5)
    strings = [''.join(rng.choice('0123456789ABCDEF') if c in '*?' else c for c in p.replace('[', '').replace(']', ''))
               for p in rng.sample(patterns, 300)]
    return patterns, strings


def main():
    libc = libc_matcher()
    matchers = [('this checkout', load_matcher(os.path.join(REPO, 'plugins', 'module_utils', 'fnmatch_glibc.py')))]
    other = os.environ.get('BENCH_FNMATCH_FILE')
    if other:
        matchers.append(('BENCH_FNMATCH_FILE', load_matcher(other)))
    patterns, strings = real_load()
    encoded = [(p.encode('latin-1'), s.encode('latin-1')) for p in patterns for s in strings]
    rows = []
    for pattern, string in ADVERSARIAL:
        times = {'libc': []}
        for _round in range(REPEAT):
            times['libc'].append(timed(lambda: libc(pattern.encode(), string.encode())))
            # only this checkout: a backtracking version would not finish
            label, m = matchers[0]
            times.setdefault(label, []).append(timed(lambda: m.Pattern(pattern).match(string)))
        shown = pattern[:30] + ('...' if len(pattern) > 30 else '')
        rows.append(('adversarial `%s` (%d chars) on %d chars' % (shown, len(pattern), len(string)), times))
    times = {'libc': []}
    for _round in range(REPEAT):
        times['libc'].append(timed(lambda: [libc(p, s) for p, s in encoded]))
        for label, m in matchers:
            m.compile_pattern.cache_clear()
            times.setdefault(label, []).append(timed(lambda: [m.fnmatch(p, s) for p in patterns for s in strings]))
    rows.append(('real: %d alias patterns x %d modaliases (%d matches)' % (len(patterns), len(strings), len(encoded)),
                 times))

    labels = ['libc'] + [label for label, _m in matchers]
    lines = ['# fnmatch_glibc against glibc fnmatch(3): the matcher alone (a narrow figure)', '',
             '%s; %d CPUs, %s, Python %s; load average %s; median of %d alternating rounds.' % (
                 datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), os.cpu_count(),
                 platform.machine(), platform.python_version(), '%.2f' % os.getloadavg()[0], REPEAT),
             '', 'Reproduce: `.venv/bin/python bench/fnmatch_patterns.py`%s.' % (
                 ' with BENCH_FNMATCH_FILE=%s' % os.environ['BENCH_FNMATCH_FILE'] if other else ''), '',
             '| load | ' + ' | '.join(labels) + ' | ' + ' | '.join('%s / libc' % la for la in labels[1:]) + ' |',
             '|---' * (2 * len(labels)) + '|']
    for what, times in rows:
        med = {label: statistics.median(times[label]) for label in times}
        lines.append('| %s | %s | %s |' % (
            what, ' | '.join('%.6f s' % med[la] if la in med else 'not run' for la in labels),
            ' | '.join('%.1f' % (med[la] / med['libc']) if la in med else '-' for la in labels[1:])))
    text = '\n'.join(lines) + '\n'
    publish(text, OUT)


if __name__ == '__main__':
    main()
