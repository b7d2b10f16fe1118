# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod.d parsing: every directive, bad lines, KVER matching, file loading."""

import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.config import depmod as dc
from ansible_collections.kernel.kmod.plugins.module_utils.config.depmod import (
    External, Override, SearchEntry, kernel_matches, load_depmod_config, parse_depmod_text,
)

REL = '6.1.0-13-amd64'


def parse(text):
    return parse_depmod_text(text, 'f.conf', release=REL)


def test_search_words_and_keywords():
    config = parse('search updates built-in\nsearch extra external\tvendor/x\n')
    assert config.searches == [SearchEntry('path', 'updates'), SearchEntry('built-in'),
                               SearchEntry('path', 'extra'), SearchEntry('external'),
                               SearchEntry('path', 'vendor/x')]
    assert [(s.file, s.line) for s in config.searches] == [('f.conf', 1)] * 2 + [('f.conf', 2)] * 3
    assert config.search_order == config.searches
    assert config.warnings == []


def test_default_search_is_updates_only():
    config = parse('# nothing\n\nsearch\n')
    assert config.searches == []
    assert config.search_order == [SearchEntry('path', 'updates')]


def test_override_and_external():
    config = parse('override snd-hda * extra\noverride e1000e %s updates/net\n'
                   'external * /opt/mods\nexternal ^6\\.1 /srv/a /srv/b\n' % REL)
    assert config.overrides == [Override('snd-hda', '*', 'extra'), Override('e1000e', REL, 'updates/net')]
    assert config.overrides[0].path == 'extra/snd-hda'
    # like kmod, a backslash before anything but a newline is dropped: '^6\\.1' reads '^6.1'
    assert config.externals == [External('*', '/opt/mods'), External('^6.1', '/srv/a')]
    assert config.warnings == ['f.conf:4: external: only the first directory of a line counts, ignoring /srv/b']


def test_not_matching_kver_is_dropped():
    config = parse('override a 5.10.0 extra\nexternal ^5 /opt\noverride b 6.1 extra\n')
    assert config.overrides == [Override('b', '6.1', 'extra')]
    assert config.externals == []
    assert config.not_matching == [Override('a', '5.10.0', 'extra'), External('^5', '/opt')]
    assert config.warnings == []


def test_exclude_words():
    config = parse('exclude debug tmp\nexclude\nexclude x.ko\n')
    assert config.excludes == ['debug', 'tmp', 'x.ko']


@pytest.mark.parametrize('line,word', [
    ('override a *', 'override'),
    ('override a', 'override'),
    ('external *', 'external'),
    ('external', 'external'),
    ('blacklist x', 'blacklist'),
    ('  # indented comment', '#'),
    ('Search updates', 'Search'),
])
def test_bad_lines(line, word):
    config = parse('search a\n%s\n' % line)
    assert config.warnings == ["f.conf:2: ignoring bad line starting with '%s'" % word]
    assert config.searches == [SearchEntry('path', 'a')]


def test_include_and_make_map_files_are_ignored_with_a_note():
    config = parse('include /etc/other.conf\nmake_map_files\n')
    assert config.warnings == ['f.conf:1: command include not implemented (ignored, as by kmod)',
                               'f.conf:2: command make_map_files not implemented (ignored, as by kmod)']


def test_continuation_and_comment():
    config = parse('#search hidden\nsearch a \\\n b\nexclude c\\d\n')
    assert config.searches == [SearchEntry('path', 'a'), SearchEntry('path', 'b')]
    assert config.excludes == ['cd']


def test_names_are_kept_as_written():
    config = parse('override snd-hda-intel * extra\n')
    assert config.overrides[0].module == 'snd-hda-intel'


@pytest.mark.parametrize('pattern,release,expected', [
    ('*', 'anything', True),
    ('6.1', '6.10.2', True),
    ('6\\.1\\.', '6.10.2', False),
    ('^6\\.1\\.0-13-amd64$', REL, True),
    ('amd64', REL, True),
    ('arm64', REL, False),
    ('[[:digit:]]+\\.[0-9]+', REL, True),
    ('^(5|6)\\.', REL, True),
    ('^(4|5)\\.', REL, False),
    ('6.1|7', '7.0', True),
    ('(', REL, False),
    ('[a', REL, False),
    ('x\\', REL, False),
    ('-13-', REL, True),
    ('', REL, True),
])
def test_kernel_matches(pattern, release, expected):
    assert kernel_matches(pattern, release) is expected
    if pattern != '*':
        # the Python fallback agrees with the C library on these
        assert dc._python_regex_search(pattern, release) is expected


def test_kernel_matches_without_libc(monkeypatch):
    monkeypatch.setattr(dc, '_libc_regex_search', lambda pattern, text: None)
    assert kernel_matches('^6\\.1', REL) is True
    assert kernel_matches('[[:alpha:]]{3}', REL) is True
    assert kernel_matches('[[:alpha:]]{4}', REL) is False
    assert kernel_matches('(', REL) is False


def test_translate_ere():
    assert dc._translate_ere('a.b') == 'a.b'
    assert dc._translate_ere('[]a]') == '[\\]a]'
    assert dc._translate_ere('[^[:digit:]-]') == '[^0-9\\-]'
    assert dc._translate_ere('\\<x\\>') == '\\bx\\b'
    assert dc._translate_ere('\\.') == '\\.'
    assert dc._translate_ere('(?i)x') is None
    assert dc._translate_ere('[[:nope:]]') is None
    # a '-' ending a range whose end is '-' never gives '--' (a FutureWarning, "possible set difference")
    assert '--' not in dc._translate_ere('[a---]')
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert dc._python_regex_search('[+---]', 'x') is False


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def test_load_default_dirs_sorted_and_masked(tmp_path):
    root = str(tmp_path)
    _write(root + '/etc/depmod.d/b.conf', 'search etc-b\n')
    _write(root + '/lib/depmod.d/b.conf', 'search masked\n')
    _write(root + '/lib/depmod.d/a.conf', 'search lib-a\noverride x * extra\n')
    _write(root + '/run/depmod.d/c.conf', 'bogus\n')
    _write(root + '/etc/depmod.d/notconf.txt', 'search never\n')
    config = load_depmod_config(root=root, release=REL)
    assert config.files == ['/lib/depmod.d/a.conf', '/etc/depmod.d/b.conf', '/run/depmod.d/c.conf']
    assert [s.path for s in config.searches] == ['lib-a', 'etc-b']
    assert config.overrides == [Override('x', '*', 'extra')]
    assert config.warnings == ["/run/depmod.d/c.conf:1: ignoring bad line starting with 'bogus'"]
    assert config.release == REL and config.root == root


def test_load_explicit_paths(tmp_path):
    root = str(tmp_path)
    _write(root + '/conf/one.conf', 'search one\n')
    _write(root + '/single', 'search single\n')
    _write(root + '/etc/depmod.d/z.conf', 'search never\n')
    config = load_depmod_config(root=root, paths=['/conf', '/single'], release=REL)
    assert [s.path for s in config.searches] == ['one', 'single']
    assert load_depmod_config(root=root, paths=[], release=REL).files == []


def test_load_unreadable_file_is_a_warning(tmp_path):
    root = str(tmp_path)
    os.makedirs(root + '/etc/depmod.d')
    os.symlink('/dev/null', root + '/etc/depmod.d/null.conf')
    os.symlink('.', root + '/etc/depmod.d/dir.conf')
    config = load_depmod_config(root=root, release=REL)
    assert config.searches == []
    assert config.warnings == ['/etc/depmod.d/dir.conf: directories inside directories are not supported']


def test_default_release_is_the_running_kernel():
    assert parse_depmod_text('').release == os.uname()[2]
