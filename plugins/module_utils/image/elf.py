# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a kernel module image (`.ko`): what depmod and modinfo need.

A module is a relocatable ELF object, 32 or 64 bit, little- or big-endian,
maybe followed by a signature.  From it this file reads the `.modinfo`
records, the exported symbols (with their CRCs on modversions kernels), the
undefined symbols the module needs, the `__versions` table and the signature
marker.  The whole image is in memory already; headers are read with
struct.unpack_from straight out of the buffer and the symbol table is only
walked when exports or needs are asked for.  Anything malformed is a
FormatError naming the file and what is wrong.

Strings from the file are decoded as UTF-8 with 'surrogateescape', so bytes
that are not UTF-8 survive a round trip back to bytes unchanged.
"""

import mmap
import struct
from collections import namedtuple

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError

SIGNATURE_MAGIC = b'~Module signature appended~\n'
# struct module_signature: u8 algo, hash, id_type, signer_len, key_id_len, pad[3], be32 sig_len
SIGNATURE_INFO_SIZE = 12

ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2

SHN_UNDEF = 0
SHN_LORESERVE = 0xff00
SHN_ABS = 0xfff1
SHN_XINDEX = 0xffff
SHT_NOBITS = 8
STB_WEAK = 2

VERSION_RECORD_SIZE = 64
CRC_PREFIX = b'__crc_'

# e_machine numbers of the architectures Linux builds modules for
MACHINE_NAMES = {
    2: 'sparc', 3: 'i386', 8: 'mips', 15: 'parisc', 18: 'sparc32plus', 20: 'ppc', 21: 'ppc64',
    22: 's390', 40: 'arm', 42: 'sh', 43: 'sparcv9', 50: 'ia64', 62: 'x86_64', 183: 'aarch64',
    243: 'riscv', 258: 'loongarch',
}

SectionHeader = namedtuple('SectionHeader', 'index name type offset size link info entsize')


class _Layout(object):
    """struct formats of one ELF class and byte order."""

    def __init__(self, elf_class, order):
        e = '<' if order == 'little' else '>'
        if elf_class == ELFCLASS64:
            # e_type .. e_shstrndx after e_ident
            self.header = struct.Struct(e + 'HHIQQQIHHHHHH')
            # sh_name sh_type sh_flags sh_addr sh_offset sh_size sh_link sh_info sh_addralign sh_entsize
            self.section = struct.Struct(e + 'II8x8xQQII8xQ')
            # st_name st_info st_other st_shndx st_value st_size
            self.symbol = struct.Struct(e + 'IBxHQ8x')
            self.sym_size = 24
            self.version = struct.Struct(e + 'Q56s')
        else:
            self.header = struct.Struct(e + 'HHIIIIIHHHHHH')
            self.section = struct.Struct(e + 'II4x4xIIII4xI')
            # st_name st_value st_size st_info st_other st_shndx
            self.symbol = struct.Struct(e + 'II4xBxH')
            self.sym_size = 16
            self.version = struct.Struct(e + 'I60s')
        self.u32 = struct.Struct(e + 'I')


_LAYOUTS = {}
for _c in (ELFCLASS32, ELFCLASS64):
    for _d, _o in ((ELFDATA2LSB, 'little'), (ELFDATA2MSB, 'big')):
        _LAYOUTS[(_c, _d)] = _Layout(_c, _o)


def _text(raw):
    return raw.decode('utf-8', 'surrogateescape')


class ModuleImage(object):
    """One parsed module image.

    Attributes: path, compression (None, 'gzip', 'xz', 'zstd'), elf_class
    (32 or 64), byte_order ('little' or 'big'), machine (e_machine number),
    machine_name, elf_type (e_type), signed (bool), elf_size (bytes of the ELF
    part, the signature excluded), sections (list of SectionHeader).
    """

    def __init__(self, data, path=None, compression=None):
        self.path = path
        self.compression = compression
        self._where = path or '<memory>'
        # bytes, bytearray and mmap are read in place (mmap spares copying a
        # whole file when only a few sections are wanted); anything else is copied
        if not isinstance(data, (bytes, bytearray, mmap.mmap)):
            data = bytes(data)
        self._data = data
        self._modinfo = None
        self._symbols = None
        self._find_signature()
        self._read_header()
        self._read_sections()

    # -- errors -----------------------------------------------------------
    def _fail(self, what):
        raise FormatError('%s: invalid module file: %s' % (self._where, what), path=self.path)

    # -- layout -----------------------------------------------------------
    def _find_signature(self):
        data = self._data
        size = len(data)
        self.signed = size >= len(SIGNATURE_MAGIC) and data[size - len(SIGNATURE_MAGIC):] == SIGNATURE_MAGIC
        self.signature_info = None
        self.signature = None
        if self.signed:
            info_end = size - len(SIGNATURE_MAGIC)
            info_start = info_end - SIGNATURE_INFO_SIZE
            if info_start < 0:
                self._fail('signature marker without signature information')
            sig_len = struct.unpack_from('>I', data, info_end - 4)[0]
            sig_start = info_start - sig_len
            if sig_start < 0:
                self._fail('signature length %d exceeds the file' % sig_len)
            self.signature_info = bytes(data[info_start:info_end])
            self.signature = bytes(data[sig_start:info_start])
            size = sig_start
        self.elf_size = size

    def _read_header(self):
        data = self._data
        if self.elf_size < 16 or data[:4] != b'\x7fELF':
            self._fail('not an ELF file')
        elf_class = data[4]
        encoding = data[5]
        layout = _LAYOUTS.get((elf_class, encoding))
        if layout is None:
            if elf_class not in (ELFCLASS32, ELFCLASS64):
                self._fail('unknown ELF class %d' % elf_class)
            self._fail('unknown ELF data encoding %d' % encoding)
        self._layout = layout
        self.elf_class = 64 if elf_class == ELFCLASS64 else 32
        self.byte_order = 'little' if encoding == ELFDATA2LSB else 'big'
        if self.elf_size < 16 + layout.header.size:
            self._fail('truncated ELF header')
        (self.elf_type, self.machine, _version, _entry, _phoff, self._shoff, _flags, _ehsize,
         _phentsize, _phnum, self._shentsize, self._shnum, self._shstrndx) = layout.header.unpack_from(data, 16)
        self.machine_name = MACHINE_NAMES.get(self.machine, 'unknown')

    def _section_header(self, index):
        off = self._shoff + index * self._shentsize
        if off + self._layout.section.size > self.elf_size:
            self._fail('section header %d lies past the end of the file' % index)
        return self._layout.section.unpack_from(self._data, off)

    def _read_sections(self):
        shnum = self._shnum
        shstrndx = self._shstrndx
        if self._shoff == 0:
            self._fail('no section headers')
        if self._shentsize != self._layout.section.size:
            self._fail('section header size %d, expected %d' % (self._shentsize, self._layout.section.size))
        if shnum == 0 or shstrndx == SHN_XINDEX:
            # extended numbering: the real values live in section header 0
            _n, _t, _o, size0, link0, _i, _e = self._section_header(0)
            if shnum == 0:
                shnum = size0
            if shstrndx == SHN_XINDEX:
                shstrndx = link0
        if shnum == 0:
            self._fail('no sections')
        if self._shoff + shnum * self._shentsize > self.elf_size:
            self._fail('%d section headers at offset %d lie past the end of the file' % (shnum, self._shoff))
        if shstrndx >= shnum:
            self._fail('section name table index %d out of range (%d sections)' % (shstrndx, shnum))
        data = self._data
        elf_size = self.elf_size
        table = memoryview(data)[self._shoff:self._shoff + shnum * self._shentsize]
        raw = list(self._layout.section.iter_unpack(table))
        for index, (_name, stype, offset, size, _link, _info, _entsize) in enumerate(raw):
            if offset + size > elf_size and stype != SHT_NOBITS:
                self._fail('section %d (offset %d, size %d) extends past the end of the file' % (index, offset, size))
        names_hdr = raw[shstrndx]
        if names_hdr[1] == SHT_NOBITS:
            self._fail('section name table has no data')
        names_start = names_hdr[2]
        names_end = names_start + names_hdr[3]
        # raw section headers stay tuples; SectionHeader objects are made on demand
        self._raw_sections = raw
        self._names_range = (names_start, names_end)
        self._sections = None
        by_name = {}
        find = data.find
        for index, header in enumerate(raw):
            start = names_start + header[0]
            stop = find(b'\0', start, names_end)
            if stop < 0 or start >= names_end:
                self._c_string(start, names_end, 'section name table')  # raises with the reason
            name = data[start:stop]
            if name not in by_name:
                by_name[name] = index
        self._by_name = by_name

    @property
    def sections(self):
        """All section headers, as SectionHeader tuples, in file order."""
        if self._sections is None:
            names_start, names_end = self._names_range
            out = []
            for index, (name_off, stype, offset, size, link, info, entsize) in enumerate(self._raw_sections):
                name = _text(self._c_string(names_start + name_off, names_end, 'section name table'))
                out.append(SectionHeader(index, name, stype, offset, size, link, info, entsize))
            self._sections = out
        return self._sections

    def _c_string(self, start, end, table):
        """The NUL-terminated bytes at start, which must end before end."""
        if start >= end:
            self._fail('string offset %d out of range of the %s' % (start, table))
        stop = self._data.find(b'\0', start, end)
        if stop < 0:
            self._fail('string at offset %d runs past the end of the %s' % (start, table))
        return self._data[start:stop]

    # -- sections ---------------------------------------------------------
    def section(self, name):
        """The first SectionHeader of that name, or None."""
        index = self._by_name.get(name.encode('utf-8', 'surrogateescape'))
        return None if index is None else self.sections[index]

    def section_data(self, name):
        """The bytes of the first section of that name (bytes name); b'' if absent or NOBITS."""
        index = self._by_name.get(name)
        if index is None:
            return b''
        _n, stype, offset, size, _l, _i, _e = self._raw_sections[index]
        if stype == SHT_NOBITS:
            return b''
        return self._data[offset:offset + size]

    # -- .modinfo ---------------------------------------------------------
    @property
    def modinfo(self):
        """[(key, value), ...] of the .modinfo records, in file order.

        A record without '=' gives (record, '').  Padding NULs are skipped.
        """
        if self._modinfo is None:
            out = []
            for rec in self.section_data(b'.modinfo').split(b'\0'):
                if rec:
                    key, _eq, value = rec.partition(b'=')
                    out.append((_text(key), _text(value)))
            self._modinfo = out
        return list(self._modinfo)

    def modinfo_values(self, key):
        """All values of one modinfo key, in file order."""
        self.modinfo
        return [v for k, v in self._modinfo if k == key]

    # -- symbols ----------------------------------------------------------
    def _walk_symbols(self):
        """One pass over .symtab: (needs, crc exports); cached."""
        if self._symbols is not None:
            return self._symbols
        needs = []
        crcs = []
        index = self._by_name.get(b'.symtab')
        symtab = None if index is None else self._raw_sections[index]
        if symtab is not None and symtab[1] != SHT_NOBITS and symtab[3]:
            _n, _t, sym_offset, sym_size, link, first_global, entsize = symtab
            layout = self._layout
            if entsize not in (0, layout.sym_size):
                self._fail('symbol table entry size %d, expected %d' % (entsize, layout.sym_size))
            if link >= len(self._raw_sections) or link == 0:
                self._fail('symbol table names string table %d, which does not exist' % link)
            strtab = self._raw_sections[link]
            if strtab[1] == SHT_NOBITS:
                self._fail('symbol string table has no data')
            str_start = strtab[2]
            str_end = str_start + strtab[3]
            data = self._data
            count = sym_size // layout.sym_size
            has_crcs = data.find(CRC_PREFIX, str_start, str_end) >= 0
            crc_len = len(CRC_PREFIX)
            # Entry 0 is the null symbol.  Local symbols (sh_info counts them)
            # are never undefined, so without __crc_ names only globals matter:
            # that skips two thirds of a typical table.
            first = 1
            if not has_crcs and 1 < first_global <= count:
                first = first_global
            view = memoryview(data)[sym_offset + first * layout.sym_size:sym_offset + count * layout.sym_size]
            c_string = self._c_string
            entries = layout.symbol.iter_unpack(view)
            if layout.sym_size == 24:
                # (name, info, shndx, value)
                for name, info, shndx, value in entries:
                    if shndx == SHN_UNDEF:
                        if name:
                            raw = c_string(str_start + name, str_end, 'symbol string table')
                            if raw:
                                needs.append((raw, info >> 4 == STB_WEAK))
                    elif has_crcs and data[str_start + name:str_start + name + crc_len] == CRC_PREFIX:
                        crcs.append((c_string(str_start + name, str_end, 'symbol string table'), shndx, value))
            else:
                # (name, value, info, shndx)
                for name, value, info, shndx in entries:
                    if shndx == SHN_UNDEF:
                        if name:
                            raw = c_string(str_start + name, str_end, 'symbol string table')
                            if raw:
                                needs.append((raw, info >> 4 == STB_WEAK))
                    elif has_crcs and data[str_start + name:str_start + name + crc_len] == CRC_PREFIX:
                        crcs.append((c_string(str_start + name, str_end, 'symbol string table'), shndx, value))
        self._symbols = ([(_text(n), w) for n, w in needs],
                         [(_text(n[len(CRC_PREFIX):]), self._crc_value(shndx, value)) for n, shndx, value in crcs])
        return self._symbols

    def _crc_value(self, shndx, value):
        """A __crc_ symbol's CRC: its value when absolute, else the u32 it points at."""
        if shndx == SHN_ABS:
            return value
        if shndx >= SHN_LORESERVE or shndx >= len(self._raw_sections):
            self._fail('CRC symbol in section %d, which does not exist' % shndx)
        _n, stype, offset, size, _l, _i, _e = self._raw_sections[shndx]
        if stype == SHT_NOBITS or value + 4 > size:
            self._fail('CRC at offset %d lies outside section %d' % (value, shndx))
        return self._layout.u32.unpack_from(self._data, offset + value)[0]

    def needs(self):
        """[(symbol, weak), ...]: the undefined symbols, in symbol-table order."""
        return list(self._walk_symbols()[0])

    def exports(self):
        """[(symbol, crc), ...] the module exports.

        With `__crc_` symbols (modversions) those symbols in symbol-table order
        with their CRCs; else the names in `__ksymtab_strings` with crc None.
        """
        crcs = self._walk_symbols()[1]
        if crcs:
            return list(crcs)
        return [(_text(name), None) for name in self.section_data(b'__ksymtab_strings').split(b'\0') if name]

    def export_names(self):
        """The exported symbol names only."""
        return [name for name, _crc in self.exports()]

    # -- __versions -------------------------------------------------------
    def versions(self):
        """[(symbol, crc), ...] of the __versions table, in file order."""
        raw = self.section_data(b'__versions')
        if len(raw) % VERSION_RECORD_SIZE:
            self._fail('__versions size %d is not a multiple of %d' % (len(raw), VERSION_RECORD_SIZE))
        out = []
        for crc, name in self._layout.version.iter_unpack(raw):
            out.append((_text(name.split(b'\0', 1)[0]), crc))
        return out


def parse_module(data, path=None, compression=None):
    """A ModuleImage of uncompressed module bytes; path is for messages."""
    return ModuleImage(data, path, compression)


def read_module(path):
    """Read, decompress and parse a module file."""
    from ansible_collections.kernel.kmod.plugins.module_utils.image.compression import read_module_file
    data, compression = read_module_file(path)
    return ModuleImage(data, path, compression)


# modinfo keys shown as one value (the first record wins) and as lists
_SINGLE_KEYS = ('vermagic', 'name', 'srcversion', 'license', 'description', 'retpoline')
_LIST_KEYS = ('alias', 'author', 'firmware', 'import_ns', 'softdep', 'weakdep')


def describe_modinfo(records):
    """What modinfo(8) shows, from [(key, value), ...] records.

    Returns a dict:
      fields: {key: [values in file order]} for every key;
      alias, author, firmware, import_ns, softdep, weakdep: lists of values
        (softdep and weakdep kept as the raw strings);
      depends: the names of `depends=` split on ',' ([] when empty or absent);
      vermagic, name, srcversion, license, description, retpoline: the first
        value or None;
      intree: True when `intree=Y`;
      parameters: {name: {'type': str or None, 'description': str or None}},
        merged from `parm=name:desc` and `parmtype=name:type`, in order of
        first appearance.
    """
    fields = {}
    parameters = {}
    for key, value in records:
        fields.setdefault(key, []).append(value)
        if key in ('parm', 'parmtype'):
            pname, _colon, rest = value.partition(':')
            entry = parameters.setdefault(pname, {'type': None, 'description': None})
            entry['type' if key == 'parmtype' else 'description'] = rest
    out = {'fields': fields, 'parameters': parameters}
    for key in _SINGLE_KEYS:
        values = fields.get(key)
        out[key] = values[0] if values else None
    for key in _LIST_KEYS:
        out[key] = list(fields.get(key, ()))
    depends = []
    for value in fields.get('depends', ()):
        depends.extend(name for name in value.split(',') if name)
    out['depends'] = depends
    out['intree'] = 'Y' in fields.get('intree', ())
    return out
