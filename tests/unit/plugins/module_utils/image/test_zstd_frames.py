# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of reading zstd frame layouts: declared sizes and where frames end."""

import os
import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.image.zstd_frames import declared_size, frame_header

zstandard = pytest.importorskip('zstandard')
needs_zstd_program = pytest.mark.skipif(shutil.which('zstd') is None, reason='the zstd program is not installed')

TEXT = b''.join(b'line %d of a module image\n' % k for k in range(20000))
RANDOM = os.urandom(300000)   # incompressible: raw blocks
RUNS = b'\0' * 400000         # one byte repeated: RLE blocks


def frame(data, size=True, checksum=True, level=3):
    return zstandard.ZstdCompressor(level=level, write_content_size=size, write_checksum=checksum).compress(data)


def skippable(payload, low=0):
    return bytes([0x50 | low]) + b'\x2a\x4d\x18' + len(payload).to_bytes(4, 'little') + payload


@pytest.mark.parametrize('data', [b'', b'x', TEXT, RANDOM, RUNS], ids=['empty', 'one', 'text', 'random', 'runs'])
@pytest.mark.parametrize('checksum', [True, False])
def test_one_frame_declares_its_size(data, checksum):
    assert declared_size(frame(data, checksum=checksum)) == len(data)


def test_several_frames_and_skippable_frames_add_up():
    data = frame(TEXT) + skippable(b'metadata', 5) + frame(RANDOM, checksum=False) + frame(b'') + skippable(b'')
    assert declared_size(data) == len(TEXT) + len(RANDOM)
    assert zstandard.ZstdDecompressor().decompressobj().decompress(frame(TEXT)) == TEXT


def test_a_frame_without_its_size_says_nothing():
    assert declared_size(frame(TEXT, size=False)) is None
    assert declared_size(frame(TEXT) + frame(b'abc', size=False)) is None


@pytest.mark.parametrize('data', [frame(TEXT), frame(RANDOM, checksum=False), frame(TEXT) + frame(RUNS)],
                         ids=['text', 'random', 'two'])
def test_cut_short_or_followed_by_anything_says_nothing(data):
    for cut in (1, 2, 3, 4, 5, len(data) // 2, len(data) - 4, len(data) - 1):
        assert declared_size(data[:-cut]) is None, cut
    for tail in (b'\0', b'\x28\xb5\x2f', b'\x28\xb5\x2f\xfd', b'garbage'):
        assert declared_size(data + tail) is None, tail


def test_not_zstd_at_all():
    for data in (b'', b'\x7fELF' + bytes(100), b'\xfd7zXZ\x00', skippable(b'x')[:7]):
        assert declared_size(data) is None
    # a reserved block type or the reserved descriptor bit is no frame a decoder accepts
    good = frame(b'abc', checksum=False)
    assert declared_size(good) == 3
    at = frame_header(good)[1]
    reserved_block = bytearray(good)
    reserved_block[at] |= 0x06
    assert declared_size(bytes(reserved_block)) is None
    reserved_bit = bytearray(good)
    reserved_bit[4] |= 0x08
    assert frame_header(bytes(reserved_bit)) is None


@needs_zstd_program
def test_what_the_program_writes(tmp_path):
    path = tmp_path / 'm.ko'
    path.write_bytes(TEXT + RANDOM + RUNS)
    from_file = subprocess.run(['zstd', '-q', '-T0', '-c', str(path)], stdout=subprocess.PIPE, check=True).stdout
    assert declared_size(from_file) == len(TEXT + RANDOM + RUNS)
    from_pipe = subprocess.run(['zstd', '-q', '-c'], input=TEXT, stdout=subprocess.PIPE, check=True).stdout
    assert declared_size(from_pipe) is None
    ultra = subprocess.run(['zstd', '-q', '--ultra', '-22', '--no-check', '-c', str(path)], stdout=subprocess.PIPE,
                           check=True).stdout
    assert declared_size(ultra) == len(TEXT + RANDOM + RUNS)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_anything_after_a_magic(tail):
    for head in (b'', b'\x28\xb5\x2f\xfd', b'\x50\x2a\x4d\x18'):
        size = declared_size(head + tail)
        assert size is None or size >= 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=3000), st.booleans(), st.integers(1, 5)), min_size=1, max_size=4),
       st.data())
def test_fuzz_frames_and_their_damage(parts, data):
    whole = b''.join(frame(part * repeat, checksum=checksum) for part, checksum, repeat in parts)
    assert declared_size(whole) == sum(len(part * repeat) for part, _c, repeat in parts)
    at = data.draw(st.integers(0, len(whole) - 1))
    damaged = bytearray(whole)
    damaged[at] ^= data.draw(st.integers(1, 255))
    size = declared_size(bytes(damaged))
    assert size is None or size >= 0    # never an error: a damaged block is the decompressor's to find
