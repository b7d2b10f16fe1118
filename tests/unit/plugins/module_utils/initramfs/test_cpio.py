"""initramfs.cpio: newc entries read back as written, bad archives refused."""

import io

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.cpio import (
    normalise, read_archive, read_header, write_archive, write_entry,
)


def entries(data, want=lambda n: True):
    stream = io.BytesIO(data)
    return list(read_archive(stream, stream.read(6), want, 'test'))


def test_round_trip_and_directories():
    data = write_archive([('.', None), ('./etc', None), ('./etc/modprobe.d/a.conf', b'blacklist x\n'),
                          ('usr/bin/x', b'\x7fELF')])
    found = entries(data)
    assert [(e.name, e.is_file, e.data) for e in found] == [
        ('', False, None), ('etc', False, None), ('etc/modprobe.d/a.conf', True, b'blacklist x\n'),
        ('usr/bin/x', True, b'\x7fELF')]
    assert [e.data for e in entries(data, want=lambda n: n == 'usr/bin/x')] == [None, None, None, b'\x7fELF']


def test_bad_archives():
    good = write_archive([('a', b'1234')])
    with pytest.raises(FormatError):
        entries(good[:50])
    with pytest.raises(FormatError):
        entries(good[:-20])
    with pytest.raises(FormatError):
        read_header(b'070701' + b'Z' * 104, 'x')
    with pytest.raises(FormatError):
        entries(b'070701' + b'0' * 88 + b'00000000' + b'0' * 8)
    assert normalise('./././a') == 'a' and normalise('/a/b') == 'a/b'
    assert write_entry('x', b'ab')[:6] == b'070701'


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=20).filter(lambda t: '\0' not in t and t != 'TRAILER!!!'),
                          st.binary(max_size=40)), max_size=6))
def test_fuzz_round_trip(files):
    found = entries(write_archive(files))
    assert [(e.name, e.data) for e in found] == [(normalise(n), d) for n, d in files]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_garbage_is_a_format_error(data):
    try:
        entries(b'070701' + data)
    except FormatError:
        pass
