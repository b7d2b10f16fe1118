import ctypes
import ctypes.util
import os
import socket

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.config import modprobe as mc
from ansible_collections.kernel.kmod.plugins.module_utils.config.cmdline import parse_cmdline
from ansible_collections.kernel.kmod.plugins.module_utils.fnmatch_glibc import fnmatch
from tests.lib.fake_root import write


def parse(text, weakdep=True):
    return mc.parse_modprobe_text(text, 'f.conf', weakdep=weakdep)


def config(text, cmdline=None, weakdep=True):
    c = mc.ModprobeConfig(weakdep=weakdep)
    c.add_text(text, 'f.conf')
    if cmdline is not None:
        c.add_cmdline(parse_cmdline(cmdline))
    return c


# ------------------------------------------------------------------ lines

def test_logical_lines_continuation_escape_and_nul():
    text = 'a\\\nb\nc\\d\n\\\n\ne\0f\nlast\\'
    assert list(mc.logical_lines(text)) == [(1, 'ab'), (3, 'cd'), (4, ''), (6, 'e'), (7, 'last')]
    assert list(mc.logical_lines('x\n\ny')) == [(1, 'x'), (2, ''), (3, 'y')]
    assert list(mc.logical_lines('')) == []


def test_comments_only_at_line_start():
    directives, warnings = parse('# c\n#alias a b\noptions m x=1 # note\nblacklist b # c\n  # no\n')
    assert directives == [mc.Options('m', 'x=1 # note', 'f.conf', 3), mc.Blacklist('b', 'f.conf', 4)]
    assert warnings == ["f.conf:5: ignoring bad line starting with '#'"]


def test_blank_lines_and_whitespace_lines_are_skipped():
    assert parse('\n \t \n\n') == ([], [])


# ------------------------------------------------------------- directives

def test_alias_normalised_and_extra_words_ignored():
    directives, warnings = parse('alias  pci:v*-x[a-b]\tsnd-hda  ignored words\n')
    assert directives == [mc.Alias('pci:v*_x[a-b]', 'snd_hda', 'f.conf', 1)]
    assert warnings == []


def test_blacklist_normalised():
    assert parse('blacklist snd-pcsp extra\n')[0] == [mc.Blacklist('snd_pcsp', 'f.conf', 1)]


def test_options_rest_of_line_tabs_become_spaces():
    directives, _warnings = parse('options e1000e\tIntMode=1\tx=2  \noptions m  a\n')
    assert [(d.module, d.options) for d in directives] == [('e1000e', 'IntMode=1 x=2  '), ('m', ' a')]


def test_install_and_remove_keep_command_as_written():
    directives, _warnings = parse('install fake-* /bin/true\t$CMDLINE_OPTS\nremove a /sbin/modprobe -r --ignore-remove a\n')
    assert directives == [mc.Command('install', 'fake_*', '/bin/true\t$CMDLINE_OPTS', 'f.conf', 1),
                          mc.Command('remove', 'a', '/sbin/modprobe -r --ignore-remove a', 'f.conf', 2)]


def test_softdep_sections_names_kept_as_written():
    directives, warnings = parse('softdep snd-hda pre: a-b c post: d\nsoftdep x post: y pre: z post: w\n')
    assert [(d.module, d.pre, d.post) for d in directives] == [
        ('snd_hda', ['a-b', 'c'], ['d']), ('x', ['z'], ['y', 'w'])]
    assert directives[1].sections == ['post', 'pre', 'post']
    assert warnings == []


def test_softdep_names_before_a_section_are_ignored_with_warning():
    directives, warnings = parse('softdep m x y pre: z\n')
    assert (directives[0].pre, directives[0].post) == (['z'], [])
    assert warnings == ["f.conf:1: softdep m: 'x' before any 'pre:' or 'post:' is ignored",
                        "f.conf:1: softdep m: 'y' before any 'pre:' or 'post:' is ignored"]


def test_softdep_two_blanks_hide_the_first_section_like_kmod():
    directives, warnings = parse('softdep m  pre: x\nsoftdep n   pre: y\nsoftdep o \tpost: z\n')
    assert [(d.pre, d.post) for d in directives] == [([], []), (['y'], []), ([], [])]
    assert warnings[0] == "f.conf:1: softdep m: 'pre:' after two blanks is not seen by modprobe"
    assert warnings[2] == "f.conf:1: softdep m lists no module (it still hides later softdep lines for it)"


def test_softdep_other_whitespace_separates_names():
    directives, _warnings = parse('softdep m pre:\x0ba\rb\x0cc\n')
    assert directives[0].pre == ['a', 'b', 'c']


def test_a_weakdep_of_no_module_is_taken_with_a_warning_like_kmod():
    # found by the fuzz test: 'weakdep m  ' (two blanks) is a directive with nothing to load, 'weakdep m ' a bad line
    directives, warnings = parse('weakdep m  \nweakdep m a\nweakdep n \n')
    assert [(d.module, d.deps) for d in directives] == [('m', []), ('m', ['a'])]
    assert warnings == ['f.conf:1: weakdep m lists no module (it still hides later weakdep lines for it)',
                        "f.conf:3: ignoring bad line: 'weakdep' needs a module name and its weak dependencies"]


def test_weakdep_and_kmod30_mode():
    directives, warnings = parse('weakdep m-x a-b  c\n')
    assert directives == [mc.WeakDep('m_x', ['a-b', 'c'], 'f.conf', 1)]
    directives, warnings = parse('weakdep m a\n', weakdep=False)
    assert directives == []
    assert warnings == ["f.conf:1: ignoring bad line starting with 'weakdep'"]


@pytest.mark.parametrize('line, warning', [
    ('alias', "ignoring bad line: 'alias' needs a pattern and a module name"),
    ('alias a', "ignoring bad line: 'alias' needs a pattern and a module name"),
    ('blacklist', "ignoring bad line: 'blacklist' needs a module name"),
    ('options m', "ignoring bad line: 'options' needs a module name and options"),
    ('options m ', "ignoring bad line: 'options' needs a module name and options"),
    ('install m', "ignoring bad line: 'install' needs a module name and a command"),
    ('remove', "ignoring bad line: 'remove' needs a module name and a command"),
    ('softdep m ', "ignoring bad line: 'softdep' needs a module name and its soft dependencies"),
    ('weakdep m', "ignoring bad line: 'weakdep' needs a module name and its weak dependencies"),
    ('alias a] b', "ignoring bad line: unbalanced brackets in 'a]'"),
    ('alias a b[', "ignoring bad line: unbalanced brackets in 'b['"),
    ('blacklist [x', "ignoring bad line: unbalanced brackets in '[x'"),
    ('options x] a=1', "ignoring bad line: unbalanced brackets in 'x]'"),
    ('frobnicate a b', "ignoring bad line starting with 'frobnicate'"),
    ('Alias a b', "ignoring bad line starting with 'Alias'"),
    ('include /etc/x', "'include' is deprecated and not parsed anymore"),
    ('config y', "'config' is deprecated and not parsed anymore"),
])
def test_malformed_lines_are_warnings(line, warning):
    directives, warnings = parse('blacklist before\n' + line + '\nblacklist after\n')
    assert [d.module for d in directives] == ['before', 'after']
    assert warnings == ['f.conf:2: ' + warning]


def test_options_with_only_blanks_after_two_separators_is_kept():
    assert parse('options m  \n')[0] == [mc.Options('m', ' ', 'f.conf', 1)]


def test_entry_line_is_first_physical_line():
    directives, warnings = parse('\nalias a\\\n b\nfoo\\\nbar\n')
    assert directives == [mc.Alias('a', 'b', 'f.conf', 2)]
    assert warnings == ["f.conf:4: ignoring bad line starting with 'foobar'"]


def test_cr_is_ordinary_text():
    directives, _warnings = parse('alias a b\r\nblacklist x\r\n')
    assert [(d.kind, d.module) for d in directives] == [('alias', 'b\r'), ('blacklist', 'x\r')]


# ----------------------------------------------------------------- fnmatch

@pytest.mark.parametrize('pattern, name, want', [
    ('pci:v*d*', 'pci:v00008086d00001234', True),
    ('a?c', 'abc', True), ('a?c', 'ac', False),
    ('a*', 'a/b.c', True), ('*', '.hidden', True),
    ('[a-c]x', 'bx', True), ('[!a-c]x', 'bx', False), ('[^a-c]x', 'dx', True),
    ('[]]', ']', True), ('[!]]', 'a', True), ('[a-]', '-', True),
    ('[z-a]', 'm', False), ('[[:digit:]]', '7', True), ('[[:alpha:]]', '7', False),
    ('a\\*', 'a*', True), ('a\\*', 'ab', False), ('[a', '[a', True), ('a[', 'a[', True),
    ('x.y', 'xzy', False), ('(a|b)', '(a|b)', True), ('a', 'ab', False), ('a\\', 'a\\', False),
])
def test_fnmatch_like_glibc(pattern, name, want):
    assert fnmatch(pattern, name) is want
    # the expectation itself is what this machine's glibc says (0 = match)
    libc = ctypes.CDLL(ctypes.util.find_library('c'))
    assert (libc.fnmatch(pattern.encode(), name.encode(), 0) == 0) is want


# ----------------------------------------------------------------- queries

QUERY_CONF = '''alias net-pf-* ipv6
alias net-pf-10 other
alias snd-card-0 snd-hda
options snd-hda index=0
options snd_card_0 model=x
options snd-hda power_save=1
options snd-hda  spaced
install foo* /bin/true
install foobar /bin/false
remove foo /bin/echo
softdep snd* pre: a post: b
softdep snd-hda pre: c
weakdep snd-hda w1 w2
blacklist pcspkr
blacklist snd-pcsp
'''


def test_aliases_for_all_matches_in_order():
    c = config(QUERY_CONF)
    assert [(a.pattern, a.module) for a in c.aliases_for('net-pf-10')] == [('net_pf_*', 'ipv6'), ('net_pf_10', 'other')]
    assert c.aliases_for('snd_card_0')[0].module == 'snd_hda'
    assert c.aliases_for('nothing') == []


def test_options_for_joins_in_order_with_alias_and_extra():
    c = config(QUERY_CONF, cmdline='snd-hda.enable=1 other.x=2')
    assert c.options_for('snd-hda') == 'index=0 power_save=1  spaced enable=1'
    assert c.options_for('snd_hda', alias='snd_card_0', extra='probe_mask=1') == \
        'index=0 model=x power_save=1  spaced enable=1 probe_mask=1'
    assert c.options_for('none') == ''
    assert c.options_for('none', extra='a=1') == 'a=1'


def test_options_for_skips_empty_cmdline_param():
    c = config('options m a=1\n', cmdline='m. m.b=2')
    assert c.options_for('m') == 'a=1 b=2'


def test_install_remove_first_match_by_pattern():
    c = config(QUERY_CONF)
    assert c.install_command('foobar') == '/bin/true'
    assert c.install_command('bar') is None
    assert c.remove_command('foo') == '/bin/echo'
    assert c.remove_command('foobar') is None


def test_softdeps_and_weakdeps_first_match():
    c = config(QUERY_CONF)
    assert c.softdeps_for('snd-hda') == (['a'], ['b'])
    assert c.softdeps_for('e1000e') == ([], [])
    assert c.weakdeps_for('snd_hda') == ['w1', 'w2']
    assert c.weakdeps_for('x') == []


def test_is_blacklisted_exact_and_from_cmdline():
    c = config(QUERY_CONF, cmdline='modprobe.blacklist=nouveau,a-b')
    assert c.is_blacklisted('snd_pcsp') and c.is_blacklisted('snd-pcsp')
    assert c.is_blacklisted('nouveau') and c.is_blacklisted('a_b')
    assert not c.is_blacklisted('snd')
    assert [(b.module, b.file, b.line) for b in c.blacklists][-1] == ('a_b', '/proc/cmdline', 1)


def test_kind_lists():
    c = config(QUERY_CONF)
    assert [len(c.aliases), len(c.options), len(c.installs), len(c.removes), len(c.softdeps),
            len(c.weakdeps), len(c.blacklists)] == [3, 4, 2, 1, 2, 1, 2]


# ------------------------------------------------------------------ render

def test_render_in_kmod_group_order():
    c = config(QUERY_CONF + 'softdep x post: p1 pre: q post: p2\nsoftdep y  \n', cmdline='m.a=1')
    assert c.render() == (
        'blacklist pcspkr\nblacklist snd_pcsp\n'
        'install foo* /bin/true\ninstall foobar /bin/false\n'
        'remove foo /bin/echo\n'
        'alias net_pf_* ipv6\nalias net_pf_10 other\nalias snd_card_0 snd_hda\n'
        'options snd_hda index=0\noptions snd_card_0 model=x\noptions snd_hda power_save=1\n'
        'options snd_hda  spaced\noptions m a=1\n'
        'softdep snd* pre: a post: b\nsoftdep snd_hda pre: c\nsoftdep x pre: q post: p1 p2\nsoftdep y \n'
        'weakdep snd_hda w1 w2\n')
    quirky = c.render(weakdep=False, kmod_quirks=True)
    assert 'weakdep' not in quirky
    assert 'softdep snd* pre: apost: b\n' in quirky
    assert 'softdep x pre: qpost: p1 q p2\n' in quirky


def test_render_empty():
    assert mc.ModprobeConfig().render() == ''


# ------------------------------------------------------------------- load

def test_load_from_root_with_masking_module_dir_and_cmdline(tmp_path):
    write(tmp_path, '/usr/lib/modprobe.d/a.conf', 'blacklist masked\n')
    write(tmp_path, '/etc/modprobe.d/a.conf', 'blacklist etc\n')
    write(tmp_path, '/lib/modprobe.d/z.conf', 'options m z=1\n')
    write(tmp_path, '/lib/modules/6.1/modules.softdep', '# Soft dependencies\nsoftdep m pre: n\n')
    write(tmp_path, '/lib/modules/6.1/modules.weakdep', 'weakdep m w\n')
    write(tmp_path, '/proc/cmdline', 'quiet m.c=3 modprobe.blacklist=x\n')
    c = mc.load_modprobe_config(root=str(tmp_path), module_dir='/lib/modules/6.1')
    assert [(d.kind, d.file, d.line) for d in c.directives] == [
        ('blacklist', '/etc/modprobe.d/a.conf', 1),
        ('softdep', '/lib/modules/6.1/modules.softdep', 2),
        ('weakdep', '/lib/modules/6.1/modules.weakdep', 1),
        ('options', '/lib/modprobe.d/z.conf', 1),
        ('blacklist', '/proc/cmdline', 1),
        ('options', '/proc/cmdline', 1),
    ]
    assert c.options_for('m') == 'z=1 c=3'
    assert c.files.masked[0].path == '/usr/lib/modprobe.d/a.conf'
    assert c.warnings == []
    assert c.cmdline.blacklist == ['x']


def test_load_cmdline_choices(tmp_path):
    write(tmp_path, '/etc/modprobe.d/a.conf', 'options m a=1\n')
    write(tmp_path, '/proc/cmdline', 'm.b=2\n')
    root = str(tmp_path)
    assert mc.load_modprobe_config(root=root).options_for('m') == 'a=1 b=2'
    assert mc.load_modprobe_config(root=root, cmdline=False).options_for('m') == 'a=1'
    assert mc.load_modprobe_config(root=root, cmdline='m.c=3').options_for('m') == 'a=1 c=3'
    assert mc.load_modprobe_config(root=root, cmdline=parse_cmdline('m.d=4')).options_for('m') == 'a=1 d=4'


def test_load_unreadable_file_and_bad_cmdline_are_warnings(tmp_path):
    os.makedirs(str(tmp_path / 'proc' / 'cmdline'))
    os.makedirs(str(tmp_path / 'etc' / 'modprobe.d'))
    # A socket lists like a file but cannot be opened, even by root.
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / 'etc' / 'modprobe.d' / 'a.conf'))
    write(tmp_path, '/etc/modprobe.d/b.conf', 'blacklist b\nnonsense\n')
    try:
        c = mc.load_modprobe_config(root=str(tmp_path))
    finally:
        sock.close()
    assert [b.module for b in c.blacklists] == ['b']
    assert c.warnings == ['cannot read /etc/modprobe.d/a.conf: No such device or address',
                          "/etc/modprobe.d/b.conf:2: ignoring bad line starting with 'nonsense'",
                          'cannot read /proc/cmdline: Is a directory']


def test_load_kmod30_mode_skips_weakdep(tmp_path):
    write(tmp_path, '/lib/modules/1/modules.weakdep', 'weakdep m w\n')
    write(tmp_path, '/etc/modprobe.d/a.conf', 'weakdep m v\n')
    c = mc.load_modprobe_config(root=str(tmp_path), module_dir='/lib/modules/1', weakdep=False, cmdline=False)
    assert c.weakdeps == []
    assert c.warnings == ["/etc/modprobe.d/a.conf:1: ignoring bad line starting with 'weakdep'"]


def test_directive_repr_and_equality():
    a = mc.Alias('x', 'y', 'f', 1)
    assert a == mc.Alias('x', 'y', 'f', 1) and a != mc.Alias('x', 'y', 'f', 2)
    assert repr(a) == "Alias(pattern='x', module='y', at f:1)"
    assert mc.kmod_name('a-b[-]') == 'a_b[-]' and mc.kmod_name('a]') is None and mc.kmod_name(None) is None


def test_generated_softdep_file_reads_without_complaint():
    # Debian 12's modules.softdep has 'softdep cifs ccm' (MODULE_SOFTDEP without pre:)
    text = 'softdep cifs ccm\nsoftdep x pre: y\n'
    directives, warnings = mc.parse_modprobe_text(text, '/lib/modules/6.1.0/modules.softdep')
    assert warnings == [] and [(d.module, d.pre) for d in directives] == [('cifs', []), ('x', ['y'])]
    _directives, warnings = mc.parse_modprobe_text(text, '/etc/modprobe.d/x.conf')
    assert len(warnings) == 2 and warnings[0].startswith('/etc/modprobe.d/x.conf:1: softdep cifs')
