"""blacklist.edit: managed lines added and removed, every other byte kept."""

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.blacklist.edit import (
    check_name, edit, HEADER, is_ours, managed_line, scan, split_lines, wanted_lines,
)
from ansible_collections.kernel.kmod.plugins.module_utils.config.modprobe import parse_modprobe_text
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError

BOTH = wanted_lines('pcspkr', True)
FOREIGN = (b'# my own blacklist\n'
           b'\n'
           b'blacklist  nouveau   \n'
           b'options snd_hda_intel power_save=1\n'
           b'\xff\xfe not utf-8 # kept\n'
           b'install  pcspkr   /bin/false\n'
           b'blacklist pcspkr \\\n'
           b'  continued\n'
           b'\tblacklist\tpcspkr\n'
           b'# blacklist pcspkr\n')


def test_names_are_normalised_and_checked():
    assert check_name('snd-pcsp') == 'snd_pcsp'
    for bad in ('', 'a b', 'a\nb', '../x', 'pc*', 'pc?', 'a[b]', '-', 'x' * 56, 'é', None, 3):
        if bad == '-':
            continue
        with pytest.raises(KmodError):
            check_name(bad)
    assert check_name('x' * 55) == 'x' * 55


def test_new_file_carries_the_header_and_mode_lines():
    new = edit(None, 'pcspkr', BOTH)
    assert new == HEADER + b'blacklist pcspkr\ninstall pcspkr /bin/false\n'
    assert is_ours(new)
    assert edit(None, 'pcspkr', {}) is None


def test_foreign_file_keeps_every_other_byte():
    new = edit(FOREIGN, 'pcspkr', {})
    # both managed pcspkr lines go; the continued one and the comment stay
    assert new == FOREIGN.replace(b'install  pcspkr   /bin/false\n', b'').replace(b'\tblacklist\tpcspkr\n', b'')
    again = edit(new, 'pcspkr', BOTH)
    assert again == new + b'blacklist pcspkr\ninstall pcspkr /bin/false\n'
    assert edit(again, 'pcspkr', BOTH) == again


def test_existing_lines_are_kept_as_written_and_copies_dropped():
    data = b'blacklist  pcspkr\nblacklist pcspkr\nblacklist snd-pcsp\n'
    assert edit(data, 'pcspkr', {'blacklist': 'blacklist pcspkr'}) == b'blacklist  pcspkr\nblacklist snd-pcsp\n'
    assert edit(data, 'snd_pcsp', {}) == b'blacklist  pcspkr\nblacklist pcspkr\n'


def test_missing_last_newline_gets_one_before_an_addition():
    assert edit(b'# mine', 'floppy', {'blacklist': 'blacklist floppy'}) == b'# mine\nblacklist floppy\n'


def test_our_file_is_removed_when_its_last_line_goes():
    data = HEADER + b'blacklist pcspkr\n'
    assert edit(data, 'pcspkr', {}) is None
    # a foreign file that becomes empty stays (empty)
    assert edit(b'blacklist pcspkr\n', 'pcspkr', {}) == b''


def test_disable_false_removes_our_install_line():
    data = HEADER + b'blacklist pcspkr\ninstall pcspkr /bin/false\n'
    assert edit(data, 'pcspkr', wanted_lines('pcspkr', False)) == HEADER + b'blacklist pcspkr\n'


def test_managed_line_recognition():
    assert managed_line(b'blacklist snd-pcsp\n') == ('blacklist', 'snd_pcsp')
    assert managed_line(b'install floppy /bin/false') == ('install', 'floppy')
    for other in (b'install floppy /bin/true\n', b'blacklist a b\n', b'blacklist\n', b'blacklist a*\n',
                  b'blacklist caf\xc3\xa9\n', b'blacklist pcspkr\r\n'):
        assert managed_line(other) is None
    found = [s[1:] for s in scan(FOREIGN)]
    assert found == [('blacklist', 'nouveau'), ('install', 'pcspkr'), ('blacklist', 'pcspkr')]


def test_split_lines_ends_lines_at_newline_only():
    assert split_lines(b'a\rb\nc') == [b'a\rb\n', b'c']
    assert split_lines(b'') == []


_line = st.one_of(
    st.binary(max_size=30).map(lambda b: b.replace(b'\n', b'')),
    st.sampled_from([b'blacklist pcspkr', b'install pcspkr /bin/false', b'blacklist pcspkr \\', b'# x',
                     b'  blacklist\tpcspkr ', b'blacklist floppy', b'\\', b'']),
)
_file = st.lists(_line, max_size=12).map(b'\n'.join) | st.binary(max_size=80)


@settings(max_examples=300, deadline=None)
@given(_file, st.sampled_from([{}, {'blacklist': 'blacklist pcspkr'}, BOTH]))
def test_fuzz_only_managed_lines_of_the_module_change(data, wanted):
    new = edit(data, 'pcspkr', wanted)
    assert new is not None
    managed = set(i for i, kind, name in scan(data) if name == 'pcspkr')
    kept_old = [line.rstrip(b'\n') for i, line in enumerate(split_lines(data)) if i not in managed]
    kept_new = [line.rstrip(b'\n') for i, line in enumerate(split_lines(new))
                if i not in set(j for j, kind, name in scan(new) if name == 'pcspkr')]
    # every line not managed for pcspkr is there, in order, byte for byte (a last newline may be
    # added, and an empty line after a continued last line)
    assert kept_new[:len(kept_old)] == kept_old and set(kept_new[len(kept_old):]) <= {b''}
    # what modprobe reads for pcspkr is exactly what was wanted, once each
    directives, _warnings = parse_modprobe_text(new.decode('utf-8', 'surrogateescape'), 'f')
    ours = sorted((i, kind) for i, kind, name in scan(new) if name == 'pcspkr')
    assert sorted(kind for _i, kind in ours) == sorted(wanted)
    if 'blacklist' in wanted:
        assert any(d.kind == 'blacklist' and d.module == 'pcspkr' and (d.line - 1, 'blacklist') in ours for d in directives)
    if 'install' in wanted:
        assert any(d.kind == 'install' and d.module == 'pcspkr' and d.command == '/bin/false' for d in directives)
    assert edit(new, 'pcspkr', wanted) == new


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_a_name_is_refused_or_reads_back_as_itself(name):
    try:
        normal = check_name(name)
    except KmodError as exc:
        assert exc.msg
        return
    text = edit(None, normal, wanted_lines(normal, True)).decode('ascii')
    directives, warnings = parse_modprobe_text(text, 'f')
    assert warnings == []
    assert [(d.kind, d.module) for d in directives] == [('blacklist', normal), ('install', normal)]
    assert directives[1].command == '/bin/false'
