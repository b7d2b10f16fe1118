# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Random and mutated depmod.d text: the parser only ever warns.

Whatever the text, parse_depmod_text returns; every warning names the file
and a line that exists; every word it keeps is a non-empty run without
blanks; KVER matching never raises, with the C library or without it.
"""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.config import depmod as dc
from tests.lib.strategies import any_config_text

SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = ('# depmod.d\nsearch updates extra built-in external\noverride snd-hda * extra\n'
         'override e1000e ^6\\\\.1 updates/net\nexternal * /opt/mods\nexclude debug\n'
         'search a \\\n b\ninclude x\nmake_map_files\n')

KEYWORDS = ['search', 'override', 'external', 'exclude', 'include', 'make_map_files', 'built-in',
            '*', '^', '$', '(', ')', '[', ']', '[[:digit:]]', '{2}', '|', '.', '#', '\\', '\\\n',
            '\n', ' ', '\t', '\0', '\r', '\xff', '/']

WARNING = re.compile(r'^f\.conf:(\d+): \S')
BLANKS = re.compile('[ \t\n]')


ANY_TEXT = any_config_text(VALID, KEYWORDS, ['a', 'b-c', '6.1'])


def check(text, release):
    config = dc.parse_depmod_text(text, 'f.conf', release=release)
    physical = text.count('\n') + 1
    for warning in config.warnings:
        m = WARNING.match(warning)
        assert m, warning
        assert 1 <= int(m.group(1)) <= physical
    words = [s.path for s in config.searches if s.kind == 'path'] + list(config.excludes)
    words += [w for o in config.overrides + config.not_matching for w in (
        getattr(o, 'module', 'x'), o.kver, getattr(o, 'subdir', None) or getattr(o, 'dir'))]
    for word in words:
        assert word and not BLANKS.search(word) and '\0' not in word
    for entry in config.overrides + config.externals:
        assert dc.kernel_matches(entry.kver, release)
    for entry in config.not_matching:
        assert not dc.kernel_matches(entry.kver, release)
    assert all(s.kind in ('path', 'built-in', 'external') for s in config.search_order)
    return config


@SETTINGS
@given(ANY_TEXT, st.sampled_from(['6.1.0-13-amd64', '5.10.0', '']))
def test_any_text_only_warns(text, release):
    check(text, release)


@SETTINGS
@given(st.text(alphabet='0123456789.-*+?|()[]{}^$\\:abdmx,', max_size=16),
       st.sampled_from(['6.1.0-13-amd64', '5.10.0-1', 'x']))
def test_kver_patterns_never_raise(pattern, release):
    answer = dc.kernel_matches(pattern, release)
    assert answer in (True, False)
    assert dc._python_regex_search(pattern, release) in (True, False)
