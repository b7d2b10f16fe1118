# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fuzzing the module reader: whatever the bytes, only FormatError/KmodError escape.

Inputs are random bytes and mutations of valid fake modules (64-bit
little-endian from gcc, 32-bit big-endian from the powerpc cross compiler
when it is installed): truncation, byte flips, and header, section header and
symbol fields overwritten with random numbers.
"""

import os
import shutil
import struct
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.image.compression import decompress, detect_compression
from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import describe_modinfo, parse_module
from tests.lib.fakeko import build_ko

# KMOD_FUZZ_EXAMPLES raises the count for a long run; the default keeps the suite quick
FUZZ = settings(max_examples=int(os.environ.get('KMOD_FUZZ_EXAMPLES', '800')), deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SEEDS = {}


def seed(cc):
    """A valid fake module with every feature, built once per compiler."""
    if cc not in _SEEDS:
        if shutil.which(cc) is None:
            pytest.skip('%s missing: apt-get install gcc-powerpc-linux-gnu (tests/apt-packages.txt)' % cc)
        tmp = tempfile.mkdtemp(prefix='fuzz-ko-')
        try:
            path = build_ko(os.path.join(tmp, 'seed.ko'), cc=cc,
                            modinfo=['license=GPL', 'alias=x', 'parm=p:d', 'parmtype=p:int', 'depends=a,b'],
                            exports=['e1', 'e2'], crcs={'e1': 1, 'e2': 2}, needs=['n1', 'n2'],
                            weak_needs=['w'], versions=[(1, 'n1'), (2, 'n2')], signed=True)
            with open(path, 'rb') as f:
                _SEEDS[cc] = f.read()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return _SEEDS[cc]


SEED_COMPILERS = ['gcc', 'powerpc-linux-gnu-gcc']


def read_all(data):
    """Everything the reader offers; only the library's own errors may escape."""
    try:
        m = parse_module(data, 'fuzz.ko')
        describe_modinfo(m.modinfo)
        m.exports()
        m.needs()
        m.versions()
        m.sections
        m.section('.modinfo')
    except KmodError:
        pass


def field_offsets(data):
    """(offset, size) of every header, section header and symbol field of a valid module."""
    order = '<' if data[5] == 1 else '>'
    is64 = data[4] == 2
    out = []
    if is64:
        out += [(16, 2), (18, 2), (20, 4), (40, 8), (58, 2), (60, 2), (62, 2)]
        shoff, = struct.unpack_from(order + 'Q', data, 40)
        shnum, = struct.unpack_from(order + 'H', data, 60)
        sh_fields = ((0, 4), (4, 4), (24, 8), (32, 8), (40, 4), (44, 4), (56, 8))
        shsize, sym_fields, symsize = 64, ((0, 4), (4, 1), (6, 2), (8, 8)), 24
    else:
        out += [(16, 2), (18, 2), (20, 4), (32, 4), (46, 2), (48, 2), (50, 2)]
        shoff, = struct.unpack_from(order + 'I', data, 32)
        shnum, = struct.unpack_from(order + 'H', data, 48)
        sh_fields = ((0, 4), (4, 4), (16, 4), (20, 4), (24, 4), (28, 4), (36, 4))
        shsize, sym_fields, symsize = 40, ((0, 4), (4, 4), (12, 1), (14, 2)), 16
    for i in range(shnum):
        base = shoff + i * shsize
        out += [(base + o, s) for o, s in sh_fields]
        stype, = struct.unpack_from(order + 'I', data, base + 4)
        if stype == 2:  # SHT_SYMTAB: every symbol's fields too
            if is64:
                off, size = struct.unpack_from(order + 'QQ', data, base + 24)
            else:
                off, size = struct.unpack_from(order + 'II', data, base + 16)
            for j in range(size // symsize):
                out += [(off + j * symsize + o, s) for o, s in sym_fields]
    return order, out


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    read_all(data)


@FUZZ
@given(st.sampled_from([b'\x7fELF\x01\x01', b'\x7fELF\x01\x02', b'\x7fELF\x02\x01', b'\x7fELF\x02\x02']),
       st.binary(min_size=0, max_size=600))
def test_random_bytes_after_elf_ident(ident, rest):
    read_all(ident + rest)


@FUZZ
@given(st.sampled_from(SEED_COMPILERS), st.data())
def test_truncation(cc, data):
    good = seed(cc)
    size = data.draw(st.integers(0, len(good)))
    read_all(good[:size])


@FUZZ
@given(st.sampled_from(SEED_COMPILERS),
       st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(1, 255)), min_size=1, max_size=12))
def test_byte_flips(cc, flips):
    data = bytearray(seed(cc))
    for pos, xor in flips:
        data[pos % len(data)] ^= xor
    read_all(bytes(data))


@FUZZ
@given(st.sampled_from(SEED_COMPILERS), st.data())
def test_overwritten_fields(cc, data):
    good = seed(cc)
    order, fields = field_offsets(good)
    buf = bytearray(good)
    for _flip in range(data.draw(st.integers(1, 3))):
        off, size = data.draw(st.sampled_from(fields))
        special = [0, 1, 0xff, 0xffff, 0xfff1, 0xff00, len(good), len(good) - 1, (1 << (8 * size)) - 1]
        value = data.draw(st.one_of(st.sampled_from(special), st.integers(0, (1 << (8 * size)) - 1)))
        value &= (1 << (8 * size)) - 1
        buf[off:off + size] = value.to_bytes(size, 'little' if order == '<' else 'big')
    read_all(bytes(buf))


@FUZZ
@given(st.binary(max_size=256), st.sampled_from(['gzip', 'xz', 'zstd']))
def test_compressed_garbage(payload, kind):
    magic = {'gzip': b'\x1f\x8b', 'xz': b'\xfd7zXZ\x00', 'zstd': b'\x28\xb5\x2f\xfd'}[kind]
    data = magic + payload
    assert detect_compression(data) == kind
    try:
        read_all(decompress(data, kind, 'fuzz.ko'))
    except KmodError:
        pass


def test_field_offsets_cover_both_seeds():
    # the mutation test must reach symbols, not only headers
    for cc in SEED_COMPILERS:
        _order, fields = field_offsets(seed(cc))
        assert len(fields) > 100
