# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading module files whole, compressed or not.

Compression is told by the magic bytes at the start of the file, never by the
file name, the way the kernel and kmod do.  The names used are the kernel's
own (`/sys/module/compression` prints `gzip`, `xz` or `zstd`), so a caller
can compare them directly when it decides whether the kernel can take the
compressed file itself.  gzip and xz come from the standard library; zstd
from the `zstandard` package when it is installed, else from the `zstd`
program.
"""

import errno as _errno
import gzip
import lzma
import subprocess
import zlib

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError, KmodError

try:
    import zstandard as _zstandard
except ImportError:  # optional: the zstd program is the fallback
    _zstandard = None

GZIP = 'gzip'
XZ = 'xz'
ZSTD = 'zstd'

# (magic, name): longest magic first is not needed, none is a prefix of another
MAGICS = (
    (b'\x28\xb5\x2f\xfd', ZSTD),
    (b'\xfd\x37\x7a\x58\x5a\x00', XZ),
    (b'\x1f\x8b', GZIP),
)

# file name suffixes kmod uses for each compression
SUFFIXES = {GZIP: '.gz', XZ: '.xz', ZSTD: '.zst'}


def detect_compression(data):
    """'gzip', 'xz', 'zstd' or None from the first bytes of a file."""
    head = bytes(data[:6])
    for magic, name in MAGICS:
        if head.startswith(magic):
            return name
    return None


def zstd_content_size(data):
    """The uncompressed size the first zstd frame header of `data` declares,
    or None when the header leaves it out (as `zstd` writing from a pipe does).

    The frame header descriptor follows the 4-byte magic: its top two bits
    give the size field's width (0, 2, 4 or 8 bytes, where 0 means 1 byte when
    the single-segment bit 0x20 is set); a window descriptor byte comes first
    unless the frame is single-segment, and a dictionary id of 0, 1, 2 or 4
    bytes (low two bits) sits before the size."""
    data = bytes(data[:18])
    if len(data) < 5:
        return None
    descriptor = data[4]
    single_segment = bool(descriptor & 0x20)
    width = (0, 2, 4, 8)[descriptor >> 6]
    if width == 0:
        if not single_segment:
            return None
        width = 1
    at = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]
    field = data[at:at + width]
    if len(field) != width:
        return None
    size = int.from_bytes(field, 'little')
    return size + 256 if width == 2 else size


def decompress(data, compression, path=None):
    """The uncompressed bytes of `data`; FormatError if the stream is corrupt."""
    if compression is None:
        return data
    where = path or '<memory>'
    if compression == GZIP:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise FormatError('%s: corrupt gzip data: %s' % (where, exc), path=path)
    if compression == XZ:
        try:
            return lzma.decompress(data)
        except (lzma.LZMAError, EOFError) as exc:
            raise FormatError('%s: corrupt xz data: %s' % (where, exc), path=path)
    if compression == ZSTD:
        return _decompress_zstd(data, where, path)
    raise KmodError('%s: unknown compression %r' % (where, compression), path=path)


def _decompress_zstd(data, where, path):
    if _zstandard is not None:
        return _decompress_zstd_module(data, where, path)
    return _decompress_zstd_program(data, where, path)


def _decompress_zstd_module(data, where, path):
    dctx = _zstandard.ZstdDecompressor()
    out = []
    rest = bytes(data)
    try:
        # one decompressobj per frame: `zstd` may write several frames
        while rest:
            dobj = dctx.decompressobj()
            out.append(dobj.decompress(rest))
            if not getattr(dobj, 'eof', True):
                raise FormatError('%s: corrupt zstd data: truncated stream' % where, path=path)
            rest = getattr(dobj, 'unused_data', b'')
    except _zstandard.ZstdError as exc:
        raise FormatError('%s: corrupt zstd data: %s' % (where, exc), path=path)
    return b''.join(out)


def _decompress_zstd_program(data, where, path):
    try:
        proc = subprocess.run(['zstd', '-d', '-q', '-c'], input=bytes(data),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    except OSError as exc:
        if exc.errno == _errno.ENOENT:
            raise KmodError('%s: cannot decompress zstd: neither the Python package zstandard '
                            'nor the zstd program is installed' % where, path=path)
        raise KmodError.from_os_error(exc, 'cannot run zstd to decompress', path=path)
    if proc.returncode != 0:
        reason = proc.stderr.decode('utf-8', 'replace').strip() or 'exit status %d' % proc.returncode
        raise FormatError('%s: corrupt zstd data: %s' % (where, reason), path=path)
    return proc.stdout


def read_file(path):
    """All bytes of a file; KmodError with the OS errno when it cannot be read."""
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as exc:
        raise KmodError.from_os_error(exc, 'cannot read module file', path=path)


def read_module_file(path):
    """(uncompressed bytes, compression name or None) of a module file."""
    raw = read_file(path)
    compression = detect_compression(raw)
    return decompress(raw, compression, path), compression


def detect_file_compression(path):
    """The compression of a file from its first bytes, without reading it all."""
    try:
        with open(path, 'rb') as f:
            return detect_compression(f.read(6))
    except OSError as exc:
        raise KmodError.from_os_error(exc, 'cannot read module file', path=path)


__all__ = ['GZIP', 'XZ', 'ZSTD', 'SUFFIXES', 'detect_compression', 'decompress',
           'read_file', 'read_module_file', 'detect_file_compression']
