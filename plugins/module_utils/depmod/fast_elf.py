# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The few facts depmod needs from one module image, read fast.

``depmod_facts(data, path, compression)`` gives the compact parse result of
depmod.parse (modinfo records, exports with CRCs, needs with weak flags,
__versions) for the bytes of a module.  It reads the same things as
elf.ModuleImage, but column-wise: the section table and the symbol table
are unpacked in one C call each, undefined symbols are found by OR-ing the
two bytes of every st_shndx as big integers, and only those symbols (and
the __crc_ ones) are looked at one by one.  That is several times less
Python work per module than walking every symbol.

Anything unusual (a bound out of range, extended section numbering, a name
with a newline, ...) sends the file to elf.ModuleImage, whose result or
error is then the answer: the fast path only ever answers for files on
which both readers agree.
"""

import os
import struct
import sys
from array import array
from itertools import compress, repeat
from operator import add

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.model import compact
from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import (
    CRC_PREFIX, ELFCLASS64, SHN_ABS, SHN_LORESERVE, SHN_XINDEX, SHT_NOBITS, SIGNATURE_INFO_SIZE,
    SIGNATURE_MAGIC, STB_WEAK, VERSION_RECORD_SIZE, _LAYOUTS, parse_module)

_MAGIC_LEN = len(SIGNATURE_MAGIC)
# enough for the ELF header of either class
_HEAD_SIZE = 64
_CRC_LEN = len(CRC_PREFIX)
_SIGNATURE_LEN = struct.Struct('>I')
# translate() tables: 1 for a zero byte; 1 for an st_info with STB_WEAK binding
_ZERO_TO_ONE = bytes([1] + [0] * 255)
_WEAK_BINDING = bytes(1 if b >> 4 == STB_WEAK else 0 for b in range(256))
# an array typecode of 4-byte items
_U32_CODE = [code for code in 'IL' if array(code).itemsize == 4][0]


class _Unusual(Exception):
    """The file needs the full reader (elf.ModuleImage)."""


class _Columns(object):
    """Byte positions of the fields of a symbol entry, per ELF class and order."""

    def __init__(self, elf_class, little):
        if elf_class == ELFCLASS64:
            self.size, self.name, self.info, self.shndx = 24, 0, 4, 6
        else:
            self.size, self.name, self.info, self.shndx = 16, 0, 12, 14
        self.order = 'little' if little else 'big'
        # st_name bytes in the order int.from_bytes / struct expect
        self.u32 = struct.Struct(('<' if little else '>') + 'I')
        # __versions records: CRC (as wide as a long), then the name
        crc, name = ('Q', 56) if elf_class == ELFCLASS64 else ('I', 60)
        self.version_names = struct.Struct('%s%dx%ds' % ('<' if little else '>', 64 - name, name))
        self.version_crcs = struct.Struct('%s%s%dx' % ('<' if little else '>', crc, name))


_COLUMNS = {}
for (_class, _data), _layout in _LAYOUTS.items():
    _COLUMNS[(_class, _data)] = _Columns(_class, _data == 1)


def _full(data, path, compression, want_versions):
    image = parse_module(data, path, compression)
    return compact(image.modinfo, image.exports(), image.needs(), image.versions(), keep_versions=want_versions)


def depmod_facts(data, path=None, compression=None, want_versions=True):
    """The compact parse result (model.compact) of module bytes.

    data: bytes or mmap of the uncompressed module.  Raises FormatError for a
    malformed file, exactly as elf.ModuleImage does.
    """
    try:
        return _fast(data, want_versions)
    except (_Unusual, struct.error, IndexError, ValueError, OverflowError):
        return _full(data, path, compression, want_versions)


def _text(raw):
    return raw.decode('utf-8', 'surrogateescape')


def _section_index(shstr, name_offsets, name):
    """The first section called `name` (bytes): any section whose name
    offset points at name + NUL, wherever that sits in the name table."""
    needle = name + b'\0'
    best = None
    at = shstr.find(needle)
    while at >= 0:
        if at in name_offsets:
            index = name_offsets.index(at)
            if best is None or index < best:
                best = index
        at = shstr.find(needle, at + 1)
    return best


class _Sections(object):
    """The section headers as one flat tuple: 7 fields per section (name
    offset, type, offset, size, link, info, entsize), unpacked in one call."""

    __slots__ = ('flat', 'count')

    def __init__(self, flat, count):
        self.flat = flat
        self.count = count

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self.flat[7 * index:7 * index + 7]

    def __iter__(self):
        for index in range(self.count):
            yield self[index]

    def columns(self):
        flat = self.flat
        return flat[0::7], flat[1::7], flat[2::7], flat[3::7]


_TABLE_STRUCTS = {}


def _section_table_struct(layout, key, count):
    got = _TABLE_STRUCTS.get((key, count))
    if got is None:
        entry = layout.section.format
        if isinstance(entry, bytes):
            entry = entry.decode('ascii')
        got = _TABLE_STRUCTS[(key, count)] = struct.Struct(entry[0] + entry[1:] * count)
    return got


def _fast(data, want_versions):
    """The fast path over bytes or an mmap of the whole module."""
    return _fast_read(_slicer(data), len(data), want_versions)


def _slicer(data):
    def read(offset, length):
        return data[offset:offset + length]
    return read


def file_reader(fd):
    """read(offset, length) of an open file: exactly that many bytes, or _Unusual."""
    pread = os.pread

    def read(offset, length):
        got = pread(fd, length, offset)
        if len(got) != length:
            raise _Unusual()  # the file changed under us: the full reader reports it
        return got
    return read


def depmod_facts_fd(fd, size, path=None, want_versions=True):
    """The compact parse result of an uncompressed module file open as fd.

    Only the parts depmod needs are read (headers, .modinfo, the symbol and
    string tables, __versions, CRCs): about a sixth of a typical module,
    fewer system calls and copies than reading or mapping it whole.
    """
    try:
        return _fast_read(file_reader(fd), size, want_versions)
    except (_Unusual, struct.error, IndexError, ValueError, OverflowError):
        data = os.pread(fd, size, 0)
        return _full(data, path, None, want_versions)


def _fast_read(read, size, want_versions):
    elf_size = size
    if size >= _MAGIC_LEN + SIGNATURE_INFO_SIZE:
        tail = read(size - _MAGIC_LEN - SIGNATURE_INFO_SIZE, _MAGIC_LEN + SIGNATURE_INFO_SIZE)
        if tail[SIGNATURE_INFO_SIZE:] == SIGNATURE_MAGIC:
            info_start = size - _MAGIC_LEN - SIGNATURE_INFO_SIZE
            elf_size = info_start - _SIGNATURE_LEN.unpack_from(tail, SIGNATURE_INFO_SIZE - 4)[0]
            if elf_size < 0:
                raise _Unusual()
    elif size >= _MAGIC_LEN and read(size - _MAGIC_LEN, _MAGIC_LEN) == SIGNATURE_MAGIC:
        raise _Unusual()  # a marker without its signature information
    if elf_size < 16:
        raise _Unusual()
    head = read(0, min(elf_size, _HEAD_SIZE))
    if head[:4] != b'\x7fELF':
        raise _Unusual()
    key = (head[4], head[5])
    layout = _LAYOUTS.get(key)
    if layout is None or elf_size < 16 + layout.header.size:
        raise _Unusual()
    header = layout.header.unpack_from(head, 16)
    shoff, shentsize, shnum, shstrndx = header[5], header[10], header[11], header[12]
    if (shoff == 0 or shentsize != layout.section.size or shnum == 0 or shstrndx == SHN_XINDEX
            or shstrndx >= shnum or shoff + shnum * shentsize > elf_size):
        raise _Unusual()
    raw = _Sections(_section_table_struct(layout, key, shnum).unpack(read(shoff, shnum * shentsize)), shnum)
    name_offsets, types, offsets, sizes = raw.columns()
    if max(map(add, offsets, sizes)) > elf_size:
        # .bss and other NOBITS sections may; any other is the full reader's error
        for _name, stype, offset, length, _l, _i, _e in raw:
            if offset + length > elf_size and stype != SHT_NOBITS:
                raise _Unusual()
    _n, stype, names_start, names_size, _l, _i, _e = raw[shstrndx]
    if stype == SHT_NOBITS:
        raise _Unusual()
    shstr = read(names_start, names_size)
    if shstr.rfind(b'\0') < max(name_offsets):
        raise _Unusual()  # a section name without its NUL

    def section_bytes(name):
        index = _section_index(shstr, name_offsets, name)
        if index is None or types[index] == SHT_NOBITS or not sizes[index]:
            return b''
        return read(offsets[index], sizes[index])

    modinfo = b'\0'.join(filter(None, section_bytes(b'.modinfo').split(b'\0')))
    needs, weak, crcs = _symbols(read, raw, _section_index(shstr, name_offsets, b'.symtab'), layout, key)
    if crcs:
        export_names = [name for name, _crc in crcs]
        export_crcs = [crc for _name, crc in crcs]
    else:
        export_names = list(filter(None, section_bytes(b'__ksymtab_strings').split(b'\0')))
        export_crcs = [None] * len(export_names)
    version_names, version_crcs = _versions(section_bytes(b'__versions'), key, want_versions)
    exports = b'\n'.join(export_names)
    need_text = b'\n'.join(needs)
    versions_text = b'\n'.join(version_names)
    # a name holding a newline would not survive the compact form's joins
    if (exports.count(b'\n') > max(0, len(export_names) - 1) or need_text.count(b'\n') > max(0, len(needs) - 1)
            or versions_text.count(b'\n') > max(0, len(version_names) - 1)):
        raise _Unusual()
    needed = set(needs)
    unclaimed = b'\n'.join([name for name in version_names if name not in needed])
    if not want_versions:
        versions_text = b''
    return (_text(modinfo), _text(exports), export_crcs, _text(need_text), _text(b'\n'.join(weak)),
            _text(versions_text), version_crcs, _text(unclaimed))


def _versions(records, key, want_versions):
    """(names, CRCs or [] unless wanted) of the __versions records."""
    if len(records) % VERSION_RECORD_SIZE:
        raise _Unusual()
    if not records:
        return [], []
    columns = _COLUMNS[key]
    names = [field.split(b'\0', 1)[0] for (field,) in columns.version_names.iter_unpack(records)]
    if not want_versions:
        return names, []
    return names, [crc for (crc,) in columns.version_crcs.iter_unpack(records)]


def _symbols(read, raw, index, layout, key):
    """(need names, weak need names, [(export name, crc)]) from .symtab, as elf.py reads them."""
    if index is None:
        return [], [], []
    _n, stype, sym_offset, sym_size, link, first_global, entsize = raw[index]
    if stype == SHT_NOBITS or not sym_size:
        return [], [], []
    columns = _COLUMNS[key]
    step = columns.size
    if entsize not in (0, step) or link == 0 or link >= len(raw) or raw[link][1] == SHT_NOBITS:
        raise _Unusual()
    strtab = read(raw[link][2], raw[link][3])
    count = sym_size // step
    has_crcs = strtab.find(CRC_PREFIX) >= 0
    first = 1
    if not has_crcs and 1 < first_global <= count:
        first = first_global
    total = count - first
    if total <= 0:
        return [], [], []
    table = read(sym_offset + first * step, total * step)
    if strtab[:1] != b'\0':
        raise _Unusual()  # name offset 0 would not be the empty name
    at = columns.shndx
    # 1 where st_shndx is SHN_UNDEF (both of its bytes 0), else 0
    undefined = (int.from_bytes(table[at::step], 'little') | int.from_bytes(table[at + 1::step], 'little')).to_bytes(
        total, 'little').translate(_ZERO_TO_ONE)
    names = _u32_column(table, columns.name, step, total, columns.order)
    # the names and flags of the undefined symbols, each looked at by C code only
    # (str.index raises ValueError for a name without its NUL: the full reader's case)
    wanted = list(compress(names, undefined))
    ends = list(map(strtab.index, repeat(b'\0'), wanted))
    symbols = list(map(strtab.__getitem__, map(slice, wanted, ends)))
    weak_flags = bytes(compress(table[columns.info::step], undefined)).translate(_WEAK_BINDING)
    needs = list(filter(None, symbols))
    weak = list(filter(None, compress(symbols, weak_flags))) if any(weak_flags) else []
    crcs = []
    if has_crcs:
        if any(strtab.endswith(CRC_PREFIX[:k]) for k in range(1, _CRC_LEN)):
            raise _Unusual()  # a prefix that may run on past the string table: the full reader's call
        crcs = _crc_exports(read, raw, table, names, undefined, columns, layout, strtab)
    return needs, weak, crcs


def _crc_exports(read, raw, table, names, undefined, columns, layout, strtab):
    """[(name, crc)] of the defined __crc_ symbols, in symbol-table order."""
    step = columns.size
    if max(names) >= len(strtab):
        raise _Unusual()  # the full reader may look past the string table here
    # 1 at each offset of the string table where a __crc_ name starts
    starts = bytearray(len(strtab))
    at = strtab.find(CRC_PREFIX)
    while at >= 0:
        starts[at] = 1
        at = strtab.find(CRC_PREFIX, at + 1)
    hits = compress(range(len(names)), bytes(map(starts.__getitem__, names)))
    out = []
    symbol = layout.symbol
    wide = step == 24
    sections = {}
    for i in hits:
        if undefined[i]:
            continue  # a need, already counted
        fields = symbol.unpack_from(table, i * step)
        if wide:
            _name, _info, shndx, value = fields
        else:
            _name, value, _info, shndx = fields
        start = names[i]
        out.append((strtab[start + _CRC_LEN:strtab.index(b'\0', start)],
                    _crc_value(read, raw, layout, shndx, value, sections)))
    return out


def _u32_column(table, at, step, total, order):
    """The u32 at `at` of every entry of a table, as an array."""
    packed = bytearray(4 * total)
    for k in range(4):
        packed[k::4] = table[at + k::step]
    column = array(_U32_CODE, bytes(packed))
    if order != sys.byteorder:
        column.byteswap()
    return column


def _crc_value(read, raw, layout, shndx, value, sections):
    if shndx == SHN_ABS:
        return value
    if shndx >= SHN_LORESERVE or shndx >= len(raw):
        raise _Unusual()
    contents = sections.get(shndx)
    if contents is None:
        _n, stype, offset, size, _l, _i, _e = raw[shndx]
        if stype == SHT_NOBITS:
            raise _Unusual()
        contents = sections[shndx] = read(offset, size)
    if value + 4 > len(contents):
        raise _Unusual()
    return layout.u32.unpack_from(contents, value)[0]
