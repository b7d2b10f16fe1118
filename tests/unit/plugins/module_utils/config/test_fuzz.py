"""Random and mutated input for the configuration parsers.

Whatever the text, the parsers return (or raise KmodError), every warning
names its file and line, and what is rendered reads back the same.
"""

import os
import re
import shutil
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.config import cmdline as cl
from ansible_collections.kernel.kmod.plugins.module_utils.config import precedence as cf
from ansible_collections.kernel.kmod.plugins.module_utils.config import modprobe as mc
from ansible_collections.kernel.kmod.plugins.module_utils.config import modules_load as ml
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.fnmatch_glibc import fnmatch
from tests.lib.strategies import any_config_text

SETTINGS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = ('# comment\nalias pci:v*d* snd-hda\nblacklist pcspkr\noptions snd-hda index=0 model=x\n'
         'install fake /bin/true\nremove fake /bin/false\nsoftdep a pre: b c post: d\nweakdep a e\n'
         'options m a=1 \\\n b=2\n')

KEYWORDS = ['alias', 'blacklist', 'options', 'install', 'remove', 'softdep', 'weakdep', 'include',
            'pre:', 'post:', '#', '\\', '\\\n', '\n', ' ', '\t', '[', ']', '-', '*', '\0', '\r', '\xff']


ANY_TEXT = any_config_text(VALID, KEYWORDS, ['a', 'b-c', 'x=1'])

WARNING = re.compile(r'^f\.conf:(\d+): \S')


def physical_lines(text):
    return text.count('\n') + 1


def check_modprobe(text):
    try:
        directives, warnings = mc.parse_modprobe_text(text, 'f.conf')
    except KmodError:
        return None
    top = physical_lines(text)
    for w in warnings:
        m = WARNING.match(w)
        assert m, w
        assert 1 <= int(m.group(1)) <= top
    for d in directives:
        assert d.file == 'f.conf' and 1 <= d.line <= top
        assert d.module and not any(c in d.module for c in ' \t\n\0')
    return directives


def comparable(directives):
    out = []
    for d in directives:
        if d.kind == 'softdep' and not (d.pre or d.post):
            continue  # 'softdep m ' cannot be read back (kmod prints it that way too)
        if d.kind == 'weakdep' and not d.deps:
            continue  # nor 'weakdep m ', which 'weakdep m  ' (two blanks) gives
        out.append((d.kind,) + tuple(tuple(v) if isinstance(v, list) else v
                                     for v in (getattr(d, k) for k in d._fields)))
    return out


def by_kind(items):
    order = ['blacklist', 'install', 'remove', 'alias', 'options', 'softdep', 'weakdep']
    return sorted(items, key=lambda t: order.index(t[0]))


@SETTINGS
@given(ANY_TEXT)
def test_modprobe_parser_never_fails(text):
    directives = check_modprobe(text)
    if directives is None:
        return
    config = mc.ModprobeConfig()
    config.directives = directives
    rendered = config.render()
    config.render(kmod_quirks=True, weakdep=False)
    for name in ('snd-hda', 'a', 'pci:v1d2', ''):
        config.aliases_for(name)
        config.options_for(name, alias=name, extra='x=1')
        config.install_command(name)
        config.remove_command(name)
        config.softdeps_for(name)
        config.weakdeps_for(name)
        config.is_blacklisted(name)
    # Rendering is a fixed point: reading it back gives the same directives
    # (texts with a backslash may lose it, as kmod's reading does).
    if '\\' not in text:
        again, warnings = mc.parse_modprobe_text(rendered, 'f.conf')
        assert by_kind(comparable(directives)) == comparable(again)


@SETTINGS
@given(ANY_TEXT)
def test_fnmatch_never_fails(pattern):
    fnmatch(pattern, 'pci:v00008086d*')
    fnmatch(pattern, pattern)


@SETTINGS
@given(st.one_of(st.text(max_size=200),
                 st.lists(st.sampled_from(['a', 'b-c', '.', '=', '"', ' ', '\t', 'modprobe', 'blacklist',
                                           'module_blacklist', ',', '[', ']', '\0', 'x.y=1 ']),
                          max_size=40).map(''.join)))
def test_cmdline_parser_never_fails(text):
    got = cl.parse_cmdline(text)
    for opt in got.options:
        assert opt.module and not any(c in opt.module for c in ' \t\n"=.')
        assert cl.brackets_balanced(opt.module)
        assert opt.word in text
    for name in got.blacklist + got.kernel_blacklist:
        assert name and ',' not in name and '"' not in name
    # Options as modprobe would see them read back identically through modprobe.d.
    config = mc.ModprobeConfig()
    config.add_cmdline(got)
    assert [d.module for d in config.blacklists] == got.blacklist


@SETTINGS
@given(ANY_TEXT)
def test_modules_load_parsers_never_fail(text):
    mods, warnings = ml.parse_modules_load_text(text, 'f.conf')
    for w in warnings:
        assert WARNING.match(w), w
    for m in mods:
        assert m.name and not any(c in m.name for c in ' \t')
    mods, warnings = ml.parse_etc_modules_text(text, 'f.conf')
    for m in mods:
        assert m.name and m.name[0] not in '#;' and 1 <= m.line <= physical_lines(text)


# ---------------------------------------------------------- directory model

DIRS = cf.MODPROBE_DIRS
FILE = st.tuples(st.integers(0, len(DIRS) - 1),
                 st.sampled_from(['a.conf', 'b.conf', 'B.conf', '00.conf', '.h.conf', 'x.txt', 'zz.conf']),
                 st.sampled_from(['file', 'file', 'null', 'dir', 'dangling']))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FILE, max_size=12), st.booleans())
def test_directory_listing_matches_model(entries, merged_usr):
    root = tempfile.mkdtemp(prefix='kmod-fuzz-')
    try:
        made = {}
        for index, name, kind in entries:
            d = DIRS[index]
            if merged_usr and d == '/lib/modprobe.d':
                d = '/usr/lib/modprobe.d'
            path = os.path.join(root, d.lstrip('/'), name)
            if (d, name) in made:
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if kind == 'file':
                with open(path, 'w') as f:
                    f.write('blacklist %s\n' % name)
            elif kind == 'null':
                os.symlink('/dev/null', path)
            elif kind == 'dir':
                os.makedirs(path)
            else:
                os.symlink('missing', path)
            made[(d, name)] = kind
        if merged_usr:
            os.makedirs(os.path.join(root, 'usr', 'lib'), exist_ok=True)
            os.symlink('usr/lib', os.path.join(root, 'lib'))
        got = cf.modprobe_files(root=root)
        # The model: first directory wins per counted name; sorted by name.
        want = {}
        for d in DIRS:
            for (dd, name), kind in made.items():
                if dd != d or name.startswith('.') or not name.endswith('.conf'):
                    continue
                if kind in ('dir', 'dangling'):
                    continue
                want.setdefault(name, (d + '/' + name, kind == 'null'))
        assert [(f.path, f.null) for f in got.files] == [want[n] for n in sorted(want)]
        assert len(got.masked) == sum(1 for (d, n), k in made.items()
                                      if n in want and k in ('file', 'null')
                                      and want[n][0] != d + '/' + n)
        for m in got.masked:
            assert m.by == want[m.name][0]
        if merged_usr and any(d == '/usr/lib/modprobe.d' for d, n in made):
            assert got.same_dirs == [('/lib/modprobe.d', '/usr/lib/modprobe.d')]
    finally:
        shutil.rmtree(root)
