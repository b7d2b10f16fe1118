# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An initramfs image read in place: its cpio archives, one after the other.

An image is a sequence of segments, each a cpio newc archive either as is
(the early part with CPU microcode comes first, uncompressed, so the kernel
finds it before anything is unpacked) or compressed (the main part), with
NUL padding between them.  Compression is told by magic bytes: gzip, xz and
lzma (lzma module), bzip2 (bz2); zstd, lz4 and lzop need their program,
found only in the system's sbin and bin directories.  Data is decompressed
as a stream and never written to disk; entries come out one by one, so only
the files asked for are held in memory.
"""

import errno
import zlib

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError, KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.cpio import MAGICS, read_archive
from ansible_collections.kernel.kmod.plugins.module_utils.programs import SYSTEM_DIRS, find_program, program_env

GZIP, XZ, LZMA, BZIP2, ZSTD, LZ4, LZOP = 'gzip', 'xz', 'lzma', 'bzip2', 'zstd', 'lz4', 'lzop'
COMPRESSION_MAGICS = (
    (b'\x1f\x8b', GZIP),
    (b'\x1f\x9e', GZIP),
    (b'\xfd7zXZ\x00', XZ),
    (b'\x5d\x00\x00', LZMA),
    (b'BZh', BZIP2),
    (b'\x28\xb5\x2f\xfd', ZSTD),
    (b'\x02\x21\x4c\x18', LZ4),
    (b'\x04\x22\x4d\x18', LZ4),
    (b'\x89LZO\x00', LZOP),
)
# The program and its arguments for what the standard library cannot read.
PROGRAMS = {ZSTD: ('zstd', '-d', '-q', '-c'), LZ4: ('lz4', '-d', '-q', '-c'), LZOP: ('lzop', '-d', '-q', '-c')}
CHUNK = 1 << 20


def compression_of(head):
    for magic, name in COMPRESSION_MAGICS:
        if head.startswith(magic):
            return name
    return None


class _Buffer(object):
    """read(n) over bytes from an offset; `pos` is where the next read starts."""

    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def read(self, n):
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return bytes(out)


class _Decompressing(object):
    """read(n) of the uncompressed stream of data[pos:]; `src` is the offset
    after the compressed stream once it has ended (drain)."""

    def __init__(self, data, pos, decompressor, where):
        self.data = memoryview(data)
        self.src = pos
        self.dec, self.errors = decompressor
        # Output not read yet: buf[at:]; kept as bytes so a read is one slice.
        self.buf = b''
        self.at = 0
        self.where = where
        self.ended = False

    def _feed(self):
        if self.ended:
            return b''
        if self.src >= len(self.data):
            raise FormatError('%s: compressed data ends before its stream does' % self.where)
        chunk = self.data[self.src:self.src + CHUNK]
        self.src += len(chunk)
        try:
            out = self.dec.decompress(chunk)
        except self.errors as exc:
            raise FormatError('%s: corrupt compressed data: %s' % (self.where, exc))
        if self.dec.eof:
            self.ended = True
            self.src -= len(self.dec.unused_data)
        return out

    def read(self, n):
        end = self.at + n
        if end <= len(self.buf):
            out = self.buf[self.at:end]
            self.at = end
            return out
        parts = [self.buf[self.at:]]
        have = len(parts[0])
        while have < n and not self.ended:
            more = self._feed()
            parts.append(more)
            have += len(more)
        self.buf = b''.join(parts)
        out = self.buf[:n]
        self.at = len(out)
        return out

    def drain(self):
        """Read to the end of the stream; the offset after it."""
        while not self.ended:
            self._feed()
        self.buf, self.at = b'', 0
        return self.src


def _decompressor(kind):
    """(decompressor, the exceptions that mean corrupt data); lzma and bz2
    are imported only for images that need them (most are gzip)."""
    errors = (zlib.error, OSError, EOFError, ValueError)
    if kind == GZIP:
        return zlib.decompressobj(16 + zlib.MAX_WBITS), errors
    if kind in (XZ, LZMA):
        import lzma
        return lzma.LZMADecompressor(lzma.FORMAT_AUTO), errors + (lzma.LZMAError,)
    import bz2
    return bz2.BZ2Decompressor(), errors


def _run_program(kind, data, where, find):
    """The output of the host's decompressor for kind (never a program of
    the image's root: see programs.py)."""
    argv = PROGRAMS[kind]
    program = find(argv[0])
    if program is None:
        raise KmodError('%s: the main part is compressed with %s, which needs the %s program (not found in %s)'
                        % (where, kind, argv[0], ', '.join(SYSTEM_DIRS)), path=where)
    # Imported here: most images are gzip or xz, read without a program.
    import subprocess
    try:
        proc = subprocess.run([program] + list(argv[1:]), input=bytes(data), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, check=False, env=program_env())
    except OSError as exc:
        raise KmodError.from_os_error(exc, 'cannot run %s to read' % program, path=where)
    if proc.returncode != 0:
        reason = proc.stderr.decode('utf-8', 'replace').strip() or 'exit status %d' % proc.returncode
        raise FormatError('%s: %s cannot decompress it: %s' % (where, argv[0], reason), path=where)
    return proc.stdout


def _skip_padding(data, pos):
    n = len(data)
    while pos < n and data[pos] == 0:
        pos += 1
    return pos


def _archives(stream, want, where):
    """Every archive of an uncompressed stream (NUL padding between them)."""
    while True:
        head = stream.read(1)
        while head == b'\0':
            head = stream.read(1)
        if not head:
            return
        head += stream.read(5)
        if head not in MAGICS:
            raise FormatError('%s: not a cpio archive after the last one (bytes %r)' % (where, head))
        yield from read_archive(stream, head, want, where)


def read_image(path, want=lambda name: False, data=None, find=find_program):
    """Yield (segment, Entry) for every entry of the image at `path` (a host
    path; data: its bytes when already read).  segment: {'index',
    'compression' (None for an uncompressed part), 'offset'}; a file's data
    is in the Entry when want(name) is true.  find: how a decompressor
    program is found (the host's, programs.find_program).  Raises KmodError
    when the image cannot be read, FormatError when it is not an initramfs."""
    if data is None:
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise KmodError('%s: no such initramfs image' % path, errno=exc.errno, path=path)
            raise KmodError.from_os_error(exc, 'cannot read initramfs image', path=path)
    pos = 0
    index = 0
    while True:
        pos = _skip_padding(data, pos)
        if pos >= len(data):
            return
        head = bytes(data[pos:pos + 6])
        segment = {'index': index, 'offset': pos, 'compression': None}
        index += 1
        if head in MAGICS:
            stream = _Buffer(data, pos + 6)
            for entry in read_archive(stream, head, want, path):
                yield segment, entry
            pos = stream.pos
            continue
        kind = compression_of(head)
        if kind is None:
            raise FormatError('%s: neither a cpio archive nor a known compression at offset %d (bytes %r)'
                              % (path, pos, head), path=path)
        segment['compression'] = kind
        if kind in PROGRAMS:
            # The program reads to the end: the compressed part is the last one.
            for entry in _archives(_Buffer(_run_program(kind, memoryview(data)[pos:], path, find)), want, path):
                yield segment, entry
            return
        stream = _Decompressing(data, pos, _decompressor(kind), path)
        for entry in _archives(stream, want, path):
            yield segment, entry
        pos = stream.drain()
