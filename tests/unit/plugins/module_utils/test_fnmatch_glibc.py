# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pattern matcher against the C library: our matcher agrees with
glibc's fnmatch(3) in the "C" locale, on random patterns and on a table of
the cases where Python's fnmatch would not.
"""

import ctypes
import ctypes.util
import locale

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils import fnmatch_glibc
from ansible_collections.kernel.kmod.plugins.module_utils.fnmatch_glibc import Pattern, fnmatch


@pytest.fixture(scope='module')
def libc_fnmatch():
    libc = ctypes.CDLL(ctypes.util.find_library('c'))
    libc.fnmatch.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    # kmod never calls setlocale: it matches in the "C" locale
    saved = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, 'C')
    yield lambda p, s: libc.fnmatch(p.encode('latin-1'), s.encode('latin-1'), 0) == 0
    locale.setlocale(locale.LC_CTYPE, saved)


PATTERN_PIECES = st.sampled_from(['[', ']', '[:alpha:]', '[:digit:]', '[:bad:]', '[:', '[=a=]', '[=', '[.a.]',
                                  '[.ab.]', '.]', ':]', '-', '!', '^', '\\', 'a', 'b', 'z', '*', '?', '0', '\xe9'])


@settings(max_examples=3000, deadline=None)
@given(st.lists(PATTERN_PIECES, max_size=7).map(''.join), st.text('ab-]![^\\*:.=z0\xe9 ', max_size=4))
def test_matcher_agrees_with_libc(libc_fnmatch, pattern, string):
    compiled = Pattern(pattern)
    assert compiled.match(string) == libc_fnmatch(pattern, string)
    assert compiled._simulate(string) == libc_fnmatch(pattern, string)


@pytest.mark.parametrize('pattern, string, want', [
    ('[^a]', 'b', True),        # Python's fnmatch: '^' is a member
    ('[^a]', '^', True),
    ('[!a]', 'a', False),
    ('a\\*', 'a*', True),       # backslash escapes; Python keeps it literal
    ('a\\*', 'a\\b', False),
    ('a\\', 'a\\', False),      # a trailing backslash never matches
    ('[[:digit:]]x', '7x', True),
    ('[[:digit:]]x', 'dx', False),
    ('[[:bogus:]]', 'b', False),
    ('[ab', '[ab', True),       # unterminated: '[' is literal
    ('[ab', 'a', False),
    ('[[', '[[', True),         # unterminated even after a member matched: literal '['
    ('[a[', '[a[', True),
    ('[a[', 'a[', False),
    ('[a[=b', '[a[=b', True),
    ('[]a]', ']', True),        # a leading ']' is a member
    ('[a-]', '-', True),
    ('[z-a]', 'm', False),
    ('[[.-.]x]', '-', True),
    ('*[0-9A-F]', 'pci:vB', True),
    ('x*', 'x\ny', True),
])
def test_glibc_behaviour_table(libc_fnmatch, pattern, string, want):
    assert fnmatch(pattern, string) is want
    assert libc_fnmatch(pattern, string) is want


# -- patterns with many stars: glibc's results, without backtracking blow-ups --

STAR_PIECES = st.sampled_from(['*', '*', 'a', 'b', '?', '[ab]', '[!a]', '\\*'])


@settings(max_examples=1500, deadline=None)
@given(st.lists(STAR_PIECES, max_size=24).map(''.join), st.text('ab*', max_size=40))
def test_many_stars_agree_with_libc(libc_fnmatch, pattern, string):
    assert fnmatch(pattern, string) == libc_fnmatch(pattern, string)


ADVERSARIAL = [
    ('*a*a*a*a*a*a*a*a*a*a*b', 'a' * 60),                # 22 characters; took 13 s and more
    ('*a' * 30 + '*b', 'a' * 200),
    ('a*' * 20 + '[!a]', 'a' * 300),
    ('*?*?*?*?*?*?*?*?*?*?x', 'y' * 100),
    ('pci:v*d*sv*sd*bc*sc*i*' * 4 + 'z', 'pci:v' * 60),
]


@pytest.mark.parametrize('pattern, string', ADVERSARIAL)
def test_adversarial_patterns_agree_with_libc(libc_fnmatch, pattern, string):
    # their speed is measured by bench/fnmatch_adversarial.py, not here
    assert fnmatch(pattern, string) == libc_fnmatch(pattern, string)
    assert fnmatch(pattern, string[:-1] + 'b') == libc_fnmatch(pattern, string[:-1] + 'b')


def _unbounded_repeats(items):
    """How many unbounded repeats stand at the top level of a parsed regex
    (those inside atomic groups and lookaheads are never backtracked into)."""
    from re import _parser as parser  # Python 3.11's sre_parse
    count = 0
    for op, av in items:
        if op in (parser.MAX_REPEAT, parser.MIN_REPEAT) and av[1] == parser.MAXREPEAT:
            count += 1
        elif op == parser.SUBPATTERN:
            count += _unbounded_repeats(av[-1])
    return count


@pytest.mark.parametrize('atomic', [True, False])
@pytest.mark.parametrize('pattern', [p for p, _s in ADVERSARIAL] + ['*', 'a*b', '**a**', '*[0-9A-F]*x'])
def test_at_most_one_star_can_backtrack(monkeypatch, libc_fnmatch, pattern, atomic):
    from re import _parser as parser
    monkeypatch.setattr(fnmatch_glibc, '_ATOMIC_GROUPS', atomic)   # both forms, whatever runs the tests
    compiled = Pattern(pattern)
    for string in ('', 'ab', 'a' * 50 + 'b', pattern):
        assert compiled.match(string) == libc_fnmatch(pattern, string)
    regex = compiled.regex
    assert regex is not None
    assert _unbounded_repeats(parser.parse(regex.pattern, regex.flags)) <= 1
