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
