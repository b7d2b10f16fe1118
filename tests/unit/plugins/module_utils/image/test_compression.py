# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of compression detection and whole-file reading of module files."""

import errno
import gzip
import lzma
import shutil

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError, KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.image import compression
from ansible_collections.kernel.kmod.plugins.module_utils.image.compression import (
    decompress, detect_compression, detect_file_compression, read_module_file)
from tests.lib.fakeko import compress_bytes

PAYLOAD = b'\x7fELF' + bytes(range(256)) * 40

needs_zstd_program = pytest.mark.skipif(shutil.which('zstd') is None, reason='the zstd program is not installed')


@pytest.mark.parametrize('data, expected', [
    (b'\x28\xb5\x2f\xfd\x00', 'zstd'),
    (b'\xfd7zXZ\x00\x00', 'xz'),
    (b'\x1f\x8b\x08', 'gzip'),
    (b'\x7fELF\x02\x01', None),
    (b'\xfd7zXZ', None),  # xz magic cut short
    (b'\x1f', None),
    (b'', None),
])
def test_detect_compression(data, expected):
    assert detect_compression(data) == expected


@pytest.mark.parametrize('kind, name', [(None, None), ('gz', 'gzip'), ('xz', 'xz'),
                                        pytest.param('zst', 'zstd', marks=needs_zstd_program)])
def test_read_module_file(tmp_path, kind, name):
    path = tmp_path / 'm.ko'
    path.write_bytes(compress_bytes(PAYLOAD, kind))
    assert read_module_file(str(path)) == (PAYLOAD, name)
    assert detect_file_compression(str(path)) == name


@needs_zstd_program
def test_zstd_through_the_program(tmp_path, monkeypatch):
    monkeypatch.setattr(compression, '_zstandard', None)
    path = tmp_path / 'm.ko.zst'
    path.write_bytes(compress_bytes(PAYLOAD, 'zst'))
    assert read_module_file(str(path)) == (PAYLOAD, 'zstd')


@needs_zstd_program
def test_zstd_several_frames():
    data = compress_bytes(b'first', 'zst') + compress_bytes(b'second', 'zst')
    assert decompress(data, 'zstd', 'x.ko.zst') == b'firstsecond'


def test_zstd_missing_everything(tmp_path, monkeypatch):
    monkeypatch.setattr(compression, '_zstandard', None)
    monkeypatch.setattr(compression, 'find_program', lambda name: None)   # none in the system directories
    with pytest.raises(KmodError) as info:
        decompress(b'\x28\xb5\x2f\xfd' + b'\x00' * 10, 'zstd', '/lib/modules/x/m.ko.zst')
    assert str(info.value) == ('/lib/modules/x/m.ko.zst: cannot decompress zstd: neither the Python '
                               'package zstandard nor the zstd program (in the system directories) is installed')
    assert info.value.path == '/lib/modules/x/m.ko.zst'


@pytest.mark.parametrize('kind, name, use_program', [
    ('gz', 'gzip', False), ('xz', 'xz', False),
    pytest.param('zst', 'zstd', False, marks=needs_zstd_program),
    pytest.param('zst', 'zstd', True, marks=needs_zstd_program),
])
@pytest.mark.parametrize('damage', ['truncate', 'garbage'])
def test_corrupt_stream_is_format_error(tmp_path, monkeypatch, kind, name, use_program, damage):
    if use_program:
        monkeypatch.setattr(compression, '_zstandard', None)
    good = compress_bytes(PAYLOAD, kind)
    if damage == 'truncate':
        bad = good[:len(good) // 2]
    else:
        bad = good[:8] + b'\xa5' * (len(good) - 8)
    path = tmp_path / 'bad.ko'
    path.write_bytes(bad)
    with pytest.raises(FormatError) as info:
        read_module_file(str(path))
    assert str(info.value).startswith('%s: corrupt %s data: ' % (path, name))
    assert info.value.path == str(path)


def test_missing_file_keeps_errno(tmp_path):
    path = str(tmp_path / 'nope.ko')
    with pytest.raises(KmodError) as info:
        read_module_file(path)
    assert info.value.errno == errno.ENOENT
    assert info.value.path == path
    assert str(info.value) == 'cannot read module file %s: No such file or directory' % path
    with pytest.raises(KmodError) as info:
        detect_file_compression(path)
    assert info.value.errno == errno.ENOENT


def test_directory_is_error(tmp_path):
    with pytest.raises(KmodError) as info:
        read_module_file(str(tmp_path))
    assert info.value.errno == errno.EISDIR


def test_stdlib_round_trip_needs_no_helper():
    assert decompress(gzip.compress(b'abc'), 'gzip') == b'abc'
    assert decompress(lzma.compress(b'abc'), 'xz') == b'abc'
    assert decompress(b'abc', None) == b'abc'


def test_unknown_compression_name():
    with pytest.raises(KmodError) as info:
        decompress(b'abc', 'lz4', 'm.ko.lz4')
    assert str(info.value) == "m.ko.lz4: unknown compression 'lz4'"


# -- decompression bombs: streamed, refused past the limit ---------------------

ZEROS = b'\0' * (4 << 20)


def bomb(kind, copies):
    """copies x 4 MiB of zeros, as that many concatenated streams (members, frames)."""
    return compress_bytes(ZEROS, kind) * copies


@pytest.mark.parametrize('kind, name', [('gz', 'gzip'), ('xz', 'xz'), ('zst', 'zstd'),
                                        pytest.param('zst', 'zstd-program', marks=needs_zstd_program)])
def test_output_past_the_limit_is_refused(monkeypatch, kind, name):
    if name == 'zstd-program':
        monkeypatch.setattr(compression, '_zstandard', None)
    data = bomb(kind, 3)
    assert decompress(data, detect_compression(data), 'm.ko', limit=12 << 20) == ZEROS * 3
    with pytest.raises(FormatError) as info:
        decompress(data, detect_compression(data), 'm.ko', limit=(12 << 20) - 1)
    assert info.value.msg == 'm.ko: decompresses to more than 11 MiB, more than any module may be'


def test_default_limit_refuses_a_small_file_that_expands_past_it(tmp_path):
    data = bomb('xz', (compression.MAX_MODULE_SIZE >> 22) + 1)
    assert len(data) < 200 << 10          # a few KiB that would be 516 MiB
    path = tmp_path / 'bomb.ko.xz'
    path.write_bytes(data)
    with pytest.raises(FormatError) as info:
        read_module_file(str(path))
    assert 'decompresses to more than 512 MiB' in info.value.msg and info.value.path == str(path)


@pytest.mark.parametrize('kind', ['gz', 'xz', 'zst'])
def test_several_streams_and_each_cut_short(kind):
    data = compress_bytes(b'first', kind) + compress_bytes(PAYLOAD, kind)
    assert decompress(data, detect_compression(data), 'x') == b'first' + PAYLOAD
    for cut in (1, 7, len(data) // 2):
        with pytest.raises(FormatError):
            decompress(data[:-cut], detect_compression(data), 'x')


@needs_zstd_program
@pytest.mark.parametrize('size', [0, 5, 255, 256, 300, 65791, 65792, 100000, 1 << 20])
def test_zstd_content_size_of_what_the_zstd_program_writes(size):
    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    assert compression.zstd_content_size(compress_bytes(data, 'zst')) == size
    if size:  # an empty stream declares its size 0 even from a pipe
        assert compression.zstd_content_size(compress_bytes(data, 'zst-unsized')) is None


@pytest.mark.parametrize('header, expected', [
    (b'\x28\xb5\x2f\xfd\x20\x07', 7),                     # single segment, 1-byte size
    (b'\x28\xb5\x2f\xfd\x00\x58', None),                  # window byte, no size
    (b'\x28\xb5\x2f\xfd\x61\x09\x2c\x00', 300),           # single segment, 1-byte dictionary id, 2-byte size
    (b'\x28\xb5\x2f\xfd\x82\x58\x01\x02\x10\x00\x00\x00', 16),  # window, 2-byte dictionary id, 4-byte size
    (b'\x28\xb5\x2f\xfd\xc0\x58' + (5).to_bytes(8, 'little'), 5),
    (b'\x28\xb5\x2f\xfd\xc0\x58\x01', None),              # size field cut short
    (b'\x28\xb5\x2f\xfd', None),
])
def test_zstd_content_size_header_fields(header, expected):
    assert compression.zstd_content_size(header) == expected


class _CountedPopen(object):
    """subprocess.Popen that counts the processes started, for the zstd batches."""

    def __init__(self, monkeypatch):
        self.started = []
        real = compression.subprocess.Popen

        def popen(argv, *args, **kwargs):
            self.started.append(argv)
            return real(argv, *args, **kwargs)
        monkeypatch.setattr(compression.subprocess, 'Popen', popen)


def _outcome(path, data):
    try:
        return decompress(data, 'zstd', path)
    except KmodError as exc:
        return type(exc), str(exc)


def _outcomes(results):
    return [(type(r), str(r)) if isinstance(r, KmodError) else r for r in results]


def _files(count):
    return [('/m/%d.ko.zst' % k, compress_bytes(PAYLOAD * (k + 1), 'zst')) for k in range(count)]


@needs_zstd_program
def test_zstd_many_through_one_program_run(monkeypatch):
    monkeypatch.setattr(compression, '_zstandard', None)
    files = _files(12)
    counted = _CountedPopen(monkeypatch)
    assert compression.decompress_zstd_many(files) == [PAYLOAD * (k + 1) for k in range(12)]
    assert len(counted.started) == 1


@needs_zstd_program
def test_zstd_many_batches_by_output_size(monkeypatch):
    monkeypatch.setattr(compression, '_zstandard', None)
    monkeypatch.setattr(compression, '_BATCH_BYTES', len(PAYLOAD) * 7)
    files = _files(6)   # 1+2+3 fill a batch, 4, 5 and 6 one each
    counted = _CountedPopen(monkeypatch)
    assert compression.decompress_zstd_many(files) == [PAYLOAD * (k + 1) for k in range(6)]
    assert len(counted.started) == 4


def _declaring(data, size):
    """data's single-segment 4-byte-size frame made to declare another size."""
    header = compression.frame_header(data)
    assert header is not None and header[0] is not None
    fixed = bytearray(data)
    width = {0: 1, 1: 2, 2: 4, 3: 8}[data[4] >> 6]
    at = header[1] - width
    fixed[at:at + width] = (size - (256 if width == 2 else 0)).to_bytes(width, 'little')
    return bytes(fixed)


@needs_zstd_program
def test_zstd_many_with_bad_files_among_good_ones(monkeypatch):
    monkeypatch.setattr(compression, '_zstandard', None)
    good = _files(4)
    sized = compress_bytes(PAYLOAD, 'zst')
    corrupt = bytearray(sized)
    corrupt[len(corrupt) // 2] ^= 0xff
    files = [good[0],
             ('/m/unsized.ko.zst', compress_bytes(PAYLOAD, 'zst-unsized')),   # a process of its own
             ('/m/corrupt.ko.zst', bytes(corrupt)),
             good[1],
             ('/m/larger.ko.zst', _declaring(sized, len(PAYLOAD) + 1)),
             ('/m/smaller.ko.zst', _declaring(sized, len(PAYLOAD) - 1)),
             ('/m/truncated.ko.zst', sized[:-7]),
             good[2], good[3]]
    results = compression.decompress_zstd_many(files)
    # each file ends as decompress() alone would leave it: its data, or the error naming it
    assert _outcomes(results) == [_outcome(path, data) for path, data in files]
    assert results[0] == PAYLOAD and results[1] == PAYLOAD and results[-1] == PAYLOAD * 4
    for k, name in ((2, 'corrupt'), (4, 'larger'), (5, 'smaller'), (6, 'truncated')):
        assert isinstance(results[k], FormatError) and '/m/%s.ko.zst: corrupt zstd data' % name in str(results[k])


def test_zstd_many_without_any_decompressor(monkeypatch):
    monkeypatch.setattr(compression, '_zstandard', None)
    monkeypatch.setattr(compression, 'find_program', lambda name: None)
    results = compression.decompress_zstd_many(_files(2))
    assert [type(r) for r in results] == [KmodError, KmodError]
    assert '/m/1.ko.zst: cannot decompress zstd: neither' in str(results[1])


def test_zstd_many_with_the_package(monkeypatch):
    pytest.importorskip('zstandard')
    files = _files(3)
    monkeypatch.setattr(compression.subprocess, 'Popen', None)   # no process at all
    assert compression.decompress_zstd_many(files) == [PAYLOAD * (k + 1) for k in range(3)]
