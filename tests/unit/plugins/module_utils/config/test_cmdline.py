import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.config import cmdline
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError


def opts(text):
    return [(o.module, o.options) for o in cmdline.parse_cmdline(text).options]


def test_module_options_normalised_in_order():
    assert opts('root=/dev/vda snd-hda-intel.power_save=1 quiet e1000e.IntMode=1,2 a.b=3\n') == [
        ('snd_hda_intel', 'power_save=1'), ('e1000e', 'IntMode=1,2'), ('a', 'b=3')]


def test_param_without_value_and_empty_param():
    assert opts('a.flag b. c.=1') == [('a', 'flag'), ('b', ''), ('c', '=1')]


def test_dots_allowed_in_value_not_in_param_name():
    assert opts('a.b=1.2.3 c.d.e=1 0.0.0.0:2024 x.y=0.0.0.0:2024') == [('a', 'b=1.2.3'), ('x', 'y=0.0.0.0:2024')]


def test_equals_before_dot_is_not_a_module_option():
    assert opts('console=ttyS0,115200n8 root=UUID=a.b rd.luks=0') == [('rd', 'luks=0')]


def test_quoted_value_keeps_quotes_and_spaces():
    assert opts('a.b="x y" c.d=1') == [('a', 'b="x y"'), ('c', 'd=1')]


def test_word_quoted_whole_is_rewritten():
    assert opts('"parport.dyndbg=file drivers/x.c +mpf" z.y=2') == [
        ('parport', 'dyndbg="file drivers/x.c +mpf"'), ('z', 'y=2')]


def test_quotes_in_name_or_param_make_garbage():
    assert opts('a"b.c=1 a.b"c=1 ""a.b=1 "a.b" "a b.c=1" a.b=1') == [('a', 'b=1')]


def test_quoted_space_outside_value_swallows_word():
    assert opts('x="a b.c=1" d.e=1') == [('d', 'e=1')]


def test_unclosed_quote_drops_the_rest():
    got = cmdline.parse_cmdline('a.b=1 c.d="open e.f=2')
    assert [(o.module, o.options) for o in got.options] == [('a', 'b=1')]
    assert got.ignored == [('c.d="open e.f=2', 'unclosed quote')]


def test_nul_ends_the_text():
    assert opts('a.b=1\0c.d=2') == [('a', 'b=1')]


def test_all_c_whitespace_separates():
    assert opts('a.b=1\tc.d=2\ve.f=3\fg.h=4\ri.j=5\nk.l=6') == [
        ('a', 'b=1'), ('c', 'd=2'), ('e', 'f=3'), ('g', 'h=4'), ('i', 'j=5'), ('k', 'l=6')]


def test_modprobe_blacklist_and_kernel_blacklist():
    got = cmdline.parse_cmdline('modprobe.blacklist=a-b,,c modprobe.blacklist="d" module_blacklist=e-f,g '
                                'modprobe.foo=1 modprobe.blacklist')
    assert got.blacklist == ['a_b', 'c', 'd']
    assert got.kernel_blacklist == ['e_f', 'g']
    assert got.options == []
    assert got.ignored == [('modprobe.foo=1', 'modprobe.foo is not a module option'),
                           ('modprobe.blacklist', 'modprobe.blacklist is not a module option')]


def test_bad_module_names_are_ignored():
    got = cmdline.parse_cmdline('n[.x=1 m].x=1 .e=1 k[-].x=1')
    assert [(o.module, o.options) for o in got.options] == [('k[-]', 'x=1')]
    assert got.ignored == [('n[.x=1', 'bad module name'), ('m].x=1', 'bad module name'),
                           ('.e=1', 'empty module name')]


def test_options_for_and_word():
    got = cmdline.parse_cmdline('a-b.x=1 c.y=2 a_b.z=3')
    assert got.options_for('a_b') == ['x=1', 'z=3']
    assert got.options[0].word == 'a-b.x=1'
    assert got.text == 'a-b.x=1 c.y=2 a_b.z=3'


def test_split_words():
    assert cmdline.split_words(' a  "b c"d\te"') == [('a', True), ('"b c"d', True), ('e"', False)]


@pytest.mark.parametrize('word, ok', [('abc', True), ('a[b-c]d', True), ('a]', False), ('a[b', False),
                                      ('[]]', False), ('[x][y]', True)])
def test_brackets_balanced(word, ok):
    assert cmdline.brackets_balanced(word) is ok


def test_read_cmdline_from_root(tmp_path):
    os.makedirs(str(tmp_path / 'proc'))
    (tmp_path / 'proc' / 'cmdline').write_bytes(b'x.y=\xff\n')
    got = cmdline.read_cmdline(root=str(tmp_path))
    assert got.options[0].options.encode('utf-8', 'surrogateescape') == b'y=\xff'


def test_read_cmdline_missing_is_empty(tmp_path):
    got = cmdline.read_cmdline(root=str(tmp_path))
    assert got.options == [] and got.blacklist == [] and got.text == ''


def test_read_cmdline_unreadable_raises(tmp_path):
    os.makedirs(str(tmp_path / 'proc' / 'cmdline'))
    with pytest.raises(KmodError) as exc:
        cmdline.read_cmdline(root=str(tmp_path))
    assert exc.value.path == '/proc/cmdline'
