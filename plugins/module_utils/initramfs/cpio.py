# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cpio "newc" archives, the format of every initramfs, read as a stream.

An entry is a 110-byte ASCII header (magic ``070701``, or ``070702`` with a
checksum, then thirteen 8-digit hexadecimal fields: ino, mode, uid, gid,
nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize,
check), the NUL-terminated name padded so that header and name end on a
4-byte boundary, and the data padded likewise.  The entry named
``TRAILER!!!`` ends an archive.  The kernel accepts archives one after the
other with NUL padding between them; the reader here does the same.
"""

import stat

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError

MAGICS = (b'070701', b'070702')
HEADER_SIZE = 110
TRAILER = 'TRAILER!!!'
_FIELDS = ('ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devmajor', 'devminor', 'rdevmajor',
           'rdevminor', 'namesize', 'check')
# Names longer than PATH_MAX, or files larger than this, are not an initramfs.
MAX_NAME = 4096


def _pad(n):
    return (4 - n % 4) % 4


class Entry(object):
    """name (without a leading './' or '/'), mode, size, mtime, and data
    (bytes when asked for, else None)."""

    __slots__ = ('name', 'mode', 'size', 'mtime', 'data')

    def __init__(self, name, mode, size, mtime, data=None):
        self.name = name
        self.mode = mode
        self.size = size
        self.mtime = mtime
        self.data = data

    @property
    def is_file(self):
        return stat.S_ISREG(self.mode)

    def __repr__(self):
        return 'Entry(%r, %o, %d)' % (self.name, self.mode, self.size)


def normalise(name):
    """'./etc/x' and '/etc/x' -> 'etc/x'; '.' (the root itself) -> ''."""
    while name.startswith('./'):
        name = name[2:]
    return '' if name == '.' else name.lstrip('/')


def _read_exact(stream, n, where):
    data = stream.read(n)
    if len(data) != n:
        raise FormatError('%s: truncated cpio archive' % where)
    return data


def read_header(raw, where):
    """{field: int} of a 110-byte newc header; FormatError when it is not one."""
    if raw[:6] not in MAGICS:
        raise FormatError('%s: not a cpio newc header (magic %r)' % (where, bytes(raw[:6])))
    out = {}
    for i, field in enumerate(_FIELDS):
        text = raw[6 + 8 * i:14 + 8 * i]
        try:
            out[field] = int(text, 16)
        except ValueError:
            raise FormatError('%s: bad cpio header field %s: %r' % (where, field, bytes(text)))
    return out


def read_archive(stream, first, want, where):
    """The entries of one archive whose first 6 bytes (the magic) are `first`;
    returns when its trailer has been read.  want(name) -> True keeps a
    regular file's data; other data is read and dropped."""
    raw = first + _read_exact(stream, HEADER_SIZE - len(first), where)
    while True:
        header = read_header(raw, where)
        namesize = header['namesize']
        if namesize < 1 or namesize > MAX_NAME:
            raise FormatError('%s: bad cpio name size %d' % (where, namesize))
        name_raw = _read_exact(stream, namesize + _pad(HEADER_SIZE + namesize), where)[:namesize]
        name = name_raw.rstrip(b'\0').decode('utf-8', 'surrogateescape')
        if name == TRAILER:
            return
        size = header['filesize']
        entry = Entry(normalise(name), header['mode'], size, header['mtime'])
        if entry.is_file and want(entry.name):
            entry.data = _read_exact(stream, size, where)
            _read_exact(stream, _pad(size), where)
        else:
            _skip(stream, size + _pad(size), where)
        yield entry
        raw = _read_exact(stream, HEADER_SIZE, where)


def _skip(stream, n, where):
    while n > 0:
        chunk = stream.read(min(n, 1 << 20))
        if not chunk:
            raise FormatError('%s: truncated cpio archive' % where)
        n -= len(chunk)


def write_entry(name, data=b'', mode=0o100644, mtime=0, ino=0):
    """One newc entry (the tests build images with it, so does nothing else)."""
    encoded = name.encode('utf-8', 'surrogateescape') + b'\0'
    fields = (ino, mode, 0, 0, 1, mtime, len(data), 0, 0, 0, 0, len(encoded), 0)
    header = b'070701' + b''.join(b'%08X' % v for v in fields)
    return header + encoded + b'\0' * _pad(HEADER_SIZE + len(encoded)) + data + b'\0' * _pad(len(data))


def write_archive(files):
    """A whole newc archive of [(name, data or None for a directory)], with its trailer."""
    out = []
    for ino, (name, data) in enumerate(files, 1):
        if data is None:
            out.append(write_entry(name, b'', mode=0o040755, ino=ino))
        else:
            out.append(write_entry(name, data, ino=ino))
    out.append(write_entry(TRAILER, b'', mode=0))
    return b''.join(out)
