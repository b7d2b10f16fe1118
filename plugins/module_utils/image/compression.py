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

import lzma
import subprocess
import zlib

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError, KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.image.zstd_frames import declared_size, frame_header
from ansible_collections.kernel.kmod.plugins.module_utils.programs import find_program, program_env

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


# The most a module may decompress to.  The kernel copies a whole module
# image into vmalloc'ed memory before it looks at it, and the largest modules
# of distribution kernels are a few tens of MiB (debug builds a few hundred);
# a file that expands beyond this is refused instead of holding gigabytes in
# every worker that reads it.
MAX_MODULE_SIZE = 512 << 20
# zstd's worst case: a 4-byte RLE block stands for 128 KiB of output
_ZSTD_MAX_RATIO = 1 << 15
_CHUNK = 1 << 20


def zstd_content_size(data):
    """The uncompressed size the first zstd frame header of `data` declares,
    or None when the header leaves it out (as `zstd` writing from a pipe does)."""
    header = frame_header(bytes(data[:18]))
    return header[0] if header else None


def decompress(data, compression, path=None, limit=MAX_MODULE_SIZE):
    """The uncompressed bytes of `data`, streamed and at most `limit` of them.

    FormatError if the stream is corrupt or expands beyond `limit`.
    """
    if compression is None:
        return data
    where = path or '<memory>'
    if compression == GZIP:
        try:
            return _inflate_gzip(data, limit, where, path)
        except (OSError, EOFError, zlib.error) as exc:
            raise FormatError('%s: corrupt gzip data: %s' % (where, exc), path=path)
    if compression == XZ:
        try:
            return _inflate_xz(data, limit, where, path)
        except (lzma.LZMAError, EOFError) as exc:
            raise FormatError('%s: corrupt xz data: %s' % (where, exc), path=path)
    if compression == ZSTD:
        return _decompress_zstd(data, limit, where, path)
    raise KmodError('%s: unknown compression %r' % (where, compression), path=path)


def _too_large(where, path, limit):
    return FormatError('%s: decompresses to more than %d MiB, more than any module may be'
                       % (where, limit >> 20), path=path)


def _inflate_gzip(data, limit, where, path):
    """Every gzip member of data (as gzip.decompress), at most limit bytes."""
    out, size, rest = [], 0, bytes(data)
    while rest:
        dobj = zlib.decompressobj(16 + zlib.MAX_WBITS)   # a gzip header and trailer, CRC checked
        pending = rest
        while True:
            chunk = dobj.decompress(pending, min(_CHUNK, limit + 1 - size))
            size += len(chunk)
            if size > limit:
                raise _too_large(where, path, limit)
            out.append(chunk)
            if dobj.eof:
                rest = dobj.unused_data
                break
            pending = dobj.unconsumed_tail
            if not pending and not chunk:
                raise EOFError('compressed file ended before the end-of-stream marker was reached')
    return b''.join(out)


def _inflate_xz(data, limit, where, path):
    """Every xz stream of data (as lzma.decompress), at most limit bytes."""
    out, size, rest = [], 0, bytes(data)
    while rest:
        dobj = lzma.LZMADecompressor()
        pending = rest
        while not dobj.eof:
            if not pending and dobj.needs_input:
                raise EOFError('compressed data ended before the end-of-stream marker was reached')
            chunk = dobj.decompress(pending, min(_CHUNK, limit + 1 - size))
            pending = b''
            size += len(chunk)
            if size > limit:
                raise _too_large(where, path, limit)
            out.append(chunk)
        rest = dobj.unused_data
    return b''.join(out)


def _decompress_zstd(data, limit, where, path):
    if _zstandard is not None:
        return _decompress_zstd_module(data, limit, where, path)
    return _decompress_zstd_program(data, limit, where, path)


def _decompress_zstd_module(data, limit, where, path):
    dctx = _zstandard.ZstdDecompressor()
    out, size = [], 0
    rest = memoryview(bytes(data))
    try:
        # one decompressobj per frame: `zstd` may write several frames
        while len(rest):
            dobj = dctx.decompressobj()
            # input fed in pieces small enough that even zstd's densest
            # blocks cannot take the output far past the limit
            while len(rest) and not getattr(dobj, 'eof', False):
                step = max(64, (limit + 1 - size) // _ZSTD_MAX_RATIO)
                chunk = dobj.decompress(rest[:step].tobytes())
                rest = rest[step:]
                size += len(chunk)
                if size > limit:
                    raise _too_large(where, path, limit)
                out.append(chunk)
            if not getattr(dobj, 'eof', True):
                raise FormatError('%s: corrupt zstd data: truncated stream' % where, path=path)
            unused = getattr(dobj, 'unused_data', b'')
            if unused:
                rest = memoryview(bytes(unused) + rest.tobytes())
    except _zstandard.ZstdError as exc:
        raise FormatError('%s: corrupt zstd data: %s' % (where, exc), path=path)
    return b''.join(out)


def _decompress_zstd_program(data, limit, where, path):
    program = find_program('zstd')
    if program is None:
        raise KmodError('%s: cannot decompress zstd: neither the Python package zstandard '
                        'nor the zstd program (in the system directories) is installed' % where, path=path)
    try:
        proc, feeder = _start_zstd(program, [bytes(data)])
    except OSError as exc:
        raise KmodError.from_os_error(exc, 'cannot run %s to decompress' % program, path=path)
    # at most limit + 1 bytes of its output are read
    out, size = [], 0
    while True:
        chunk = proc.stdout.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        size += len(chunk)
        out.append(chunk)
        if size > limit:
            proc.kill()
            _finish(proc, feeder)
            raise _too_large(where, path, limit)
    err = _finish(proc, feeder)
    if proc.returncode != 0:
        reason = err.decode('utf-8', 'replace').strip() or 'exit status %d' % proc.returncode
        raise FormatError('%s: corrupt zstd data: %s' % (where, reason), path=path)
    return b''.join(out)


# The most output one zstd process is asked for by decompress_zstd_many: a
# batch is held twice (as read, then cut into files), and a small node may
# run two workers; Debian's tree is then about 30 zstd runs.
_BATCH_BYTES = 16 << 20


def decompress_zstd_many(items, limit=MAX_MODULE_SIZE):
    """The uncompressed bytes of each (path, data) of zstd data, in order;
    where one cannot be decompressed, its place holds the KmodError that
    decompress() raises for it.

    With the zstandard package each is decompressed here.  Without it, the
    files whose frames all declare their sizes (what `zstd` and the
    kernel's modules_install write) go to one `zstd` process per batch of
    up to 16 MiB of output, cut back into files by those sizes: starting
    a process per file costs more than decompressing the file.  A batch the
    program refuses, or whose output is not the length declared, is done
    again in halves down to single files, so that each error names its own
    file.
    """
    out = [None] * len(items)
    # without the program every file goes to decompress(), which says so for each
    program = find_program('zstd') if _zstandard is None else None
    batches, batch, batch_size = [], [], 0
    for k, (path, data) in enumerate(items):
        size = declared_size(data) if program is not None else None
        if size is None or size > limit:
            out[k] = _decompress_or_error(data, path, limit)
            continue
        if batch and batch_size + size > _BATCH_BYTES:
            batches.append(batch)
            batch, batch_size = [], 0
        batch.append((k, size))
        batch_size += size
    if batch:
        batches.append(batch)
    for batch in batches:
        _decompress_batch(program, items, batch, out, limit)
    return out


def _decompress_batch(program, items, batch, out, limit):
    """Fill out[k] for each (k, size) of the batch from one zstd run; when
    the run fails, each half again, down to single files: a bad file among
    hundreds costs a few more runs, not hundreds."""
    outputs = _zstd_batch(program, [items[k][1] for k, _size in batch], [size for _k, size in batch])
    if outputs is not None:
        for (k, _size), data in zip(batch, outputs):
            out[k] = data
    elif len(batch) == 1:
        path, data = items[batch[0][0]]
        out[batch[0][0]] = _decompress_or_error(data, path, limit)
    else:
        half = len(batch) // 2
        _decompress_batch(program, items, batch[:half], out, limit)
        _decompress_batch(program, items, batch[half:], out, limit)


def _decompress_or_error(data, path, limit):
    try:
        return decompress(data, ZSTD, path, limit)
    except KmodError as exc:
        return exc


def _zstd_batch(program, datas, sizes):
    """The outputs of one `zstd -d` fed every data in turn, cut by the sizes
    declared; None when the program cannot run, fails or writes another length."""
    total = sum(sizes)
    try:
        proc, feeder = _start_zstd(program, datas)
    except OSError:
        return None
    _widen_pipe(proc.stdout)
    buffer = bytearray(total + 1)   # one byte more than declared: a longer output is told apart
    view = memoryview(buffer)
    got = 0
    while got <= total:
        count = proc.stdout.readinto(view[got:])
        if not count:
            break
        got += count
    if got != total:
        proc.kill()
    _finish(proc, feeder)
    if got != total or proc.returncode != 0:
        return None
    outputs, at = [], 0
    for size in sizes:
        outputs.append(bytes(view[at:at + size]))
        at += size
    view.release()
    return outputs


def _start_zstd(program, datas):
    """(process, feeder thread) of `zstd -d` writing to a pipe what the
    thread feeds it, datas one after another: zstd reads all its input
    before it is done writing, so one thread cannot do both.  OSError when
    the program cannot be started."""
    proc = subprocess.Popen([program, '-d', '-q', '-c'], stdin=subprocess.PIPE, env=program_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    import threading
    feeder = threading.Thread(target=_feed, args=(proc.stdin, datas))
    feeder.daemon = True
    feeder.start()
    return proc, feeder


def _widen_pipe(pipe):
    """Ask for a 1 MiB pipe (Linux: F_SETPIPE_SZ) instead of 64 KiB: a tenth
    of the wake-ups for what zstd writes; without it nothing is lost but time."""
    try:
        import fcntl
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, 'F_SETPIPE_SZ', 1031), 1 << 20)
    except (ImportError, OSError, ValueError):
        pass


def _finish(proc, feeder):
    """Wait for zstd and its feeder; zstd's stderr."""
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    proc.wait()
    feeder.join()
    return err


def _feed(pipe, datas):
    try:
        for data in datas:
            pipe.write(data)
    except OSError:   # zstd stopped reading (killed, or it failed): its exit status tells
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


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


__all__ = ['GZIP', 'XZ', 'ZSTD', 'SUFFIXES', 'MAX_MODULE_SIZE', 'detect_compression', 'decompress',
           'read_file', 'read_module_file', 'detect_file_compression', 'zstd_content_size']
