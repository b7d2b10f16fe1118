# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the module image reader on fake modules built with gcc (and cross gcc)."""

import shutil
import struct
import subprocess

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError
from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import (
    SIGNATURE_MAGIC, describe_modinfo, parse_module, read_module)
from tests.lib.fakeko import build_ko, module_source

MODINFO = ['license=GPL', 'description=A fake: module', 'author=A <a@example.org>', 'author=B',
           'alias=pci:v00008086d*', 'alias=fake-alias', 'depends=dep_a,dep-b', 'softdep=pre: x post: y',
           'parm=debug:Debug level (0-3)', 'parmtype=debug:int', 'parmtype=quiet:bool',
           'intree=Y', 'name=fake', 'vermagic=6.1.0 SMP mod_unload modversions ', 'noequals']
MODINFO_RECORDS = [('license', 'GPL'), ('description', 'A fake: module'), ('author', 'A <a@example.org>'),
                   ('author', 'B'), ('alias', 'pci:v00008086d*'), ('alias', 'fake-alias'),
                   ('depends', 'dep_a,dep-b'), ('softdep', 'pre: x post: y'),
                   ('parm', 'debug:Debug level (0-3)'), ('parmtype', 'debug:int'), ('parmtype', 'quiet:bool'),
                   ('intree', 'Y'), ('name', 'fake'), ('vermagic', '6.1.0 SMP mod_unload modversions '),
                   ('noequals', '')]
EXPORTS = ['fake_a', 'fake_b', 'fake_c']
CRCS = {'fake_a': 0x11223344, 'fake_c': 0xdeadbeef}
NEEDS = ['printk', 'kfree', 'kmalloc']
WEAK = ['maybe_there']
VERSIONS = [(0x1badb002, 'module_layout'), (0x12345678, 'printk'), (0xfedcba98, 'kfree')]

# (compiler, ELF class, byte order, machine name)
TARGETS = [
    ('gcc', 64, 'little', 'x86_64'),
    ('i686-linux-gnu-gcc', 32, 'little', 'i386'),
    ('s390x-linux-gnu-gcc', 64, 'big', 's390'),
    ('powerpc-linux-gnu-gcc', 32, 'big', 'ppc'),
]
CROSS_PACKAGES = {'i686-linux-gnu-gcc': 'gcc-i686-linux-gnu', 's390x-linux-gnu-gcc': 'gcc-s390x-linux-gnu',
                  'powerpc-linux-gnu-gcc': 'gcc-powerpc-linux-gnu'}


def _target_params():
    out = []
    for cc, cls, order, machine in TARGETS:
        marks = ()
        if shutil.which(cc) is None:
            marks = pytest.mark.skip(reason='%s missing: apt-get install %s (listed in tests/apt-packages.txt)'
                                     % (cc, CROSS_PACKAGES.get(cc, cc)))
        out.append(pytest.param(cc, cls, order, machine, marks=marks, id=machine))
    return out


def full_module(path, cc='gcc', **kw):
    args = dict(modinfo=MODINFO, exports=EXPORTS, crcs=CRCS, needs=NEEDS, weak_needs=WEAK,
                versions=VERSIONS, cc=cc)
    args.update(kw)
    return build_ko(str(path), **args)


@pytest.mark.parametrize('cc, cls, order, machine', _target_params())
def test_full_module_every_class_and_byte_order(tmp_path, cc, cls, order, machine):
    m = read_module(full_module(tmp_path / 'fake.ko', cc))
    assert (m.elf_class, m.byte_order, m.machine_name) == (cls, order, machine)
    assert m.elf_type == 1  # ET_REL
    assert m.compression is None
    assert m.signed is False
    assert m.modinfo == MODINFO_RECORDS
    # modversions: the exports are the __crc_ symbols (fake_b has none)
    assert m.exports() == [('fake_a', 0x11223344), ('fake_c', 0xdeadbeef)]
    assert m.export_names() == ['fake_a', 'fake_c']
    assert m.needs() == [('printk', False), ('kfree', False), ('kmalloc', False), ('maybe_there', True)]
    assert m.versions() == [('module_layout', 0x1badb002), ('printk', 0x12345678), ('kfree', 0xfedcba98)]


@pytest.mark.parametrize('cc, cls, order, machine', _target_params())
def test_exports_without_crcs_come_from_ksymtab_strings(tmp_path, cc, cls, order, machine):
    m = read_module(build_ko(str(tmp_path / 'm.ko'), exports=EXPORTS, needs=['a'], cc=cc))
    assert m.exports() == [('fake_a', None), ('fake_b', None), ('fake_c', None)]
    assert m.needs() == [('a', False)]
    assert m.versions() == []
    assert m.modinfo == []


def _compile(tmp_path, source, cc='gcc'):
    c_file = tmp_path / 'old.c'
    o_file = tmp_path / 'old.o'
    c_file.write_text(source)
    subprocess.run([cc, '-c', '-O0', '-fno-pic', '-o', str(o_file), str(c_file)], check=True)
    return o_file.read_bytes()


def test_absolute_crc_symbols_of_older_kernels(tmp_path):
    # Older kernels defined __crc_SYM as an absolute symbol whose value is the CRC.
    source = module_source(exports=['old_sym', 'other']) + (
        'asm(".globl __crc_old_sym\\n.set __crc_old_sym, 0x1234abcd\\n'
        '.globl __crc_other\\n.set __crc_other, 0x5\\n");\n')
    m = parse_module(_compile(tmp_path, source), 'old.ko')
    assert m.exports() == [('old_sym', 0x1234abcd), ('other', 5)]


@pytest.mark.parametrize('kind, name', [('gz', 'gzip'), ('xz', 'xz'), ('zst', 'zstd')])
def test_compressed_modules(tmp_path, kind, name):
    m = read_module(full_module(tmp_path / ('m.ko.' + kind), compress=kind))
    assert m.compression == name
    assert m.modinfo == MODINFO_RECORDS
    assert m.export_names() == ['fake_a', 'fake_c']


def test_signed_module(tmp_path):
    plain = open(full_module(tmp_path / 'plain.ko'), 'rb').read()
    signed = open(full_module(tmp_path / 'signed.ko', signed=True, compress='xz'), 'rb').read()
    m = read_module(str(tmp_path / 'signed.ko'))
    assert m.signed is True
    assert m.compression == 'xz'
    assert m.elf_size == len(plain)
    assert m.signature == b'\x30\x82' + b'\x00' * 30
    assert m.signature_info == bytes([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 32])
    assert m.modinfo == MODINFO_RECORDS
    assert m.needs()[-1] == ('maybe_there', True)
    assert len(signed) > 0
    unsigned = read_module(str(tmp_path / 'plain.ko'))
    assert (unsigned.signed, unsigned.signature, unsigned.signature_info) == (False, None, None)


def test_padding_nuls_in_modinfo_are_skipped(tmp_path):
    m = read_module(build_ko(str(tmp_path / 'm.ko'), modinfo=['', 'a=1', '', '', 'b=x=y', '']))
    assert m.modinfo == [('a', '1'), ('b', 'x=y')]
    assert m.modinfo_values('a') == ['1']


def test_empty_module(tmp_path):
    m = read_module(build_ko(str(tmp_path / 'm.ko')))
    assert (m.modinfo, m.exports(), m.needs(), m.versions()) == ([], [], [], [])
    assert m.section('.modinfo') is None


def _patch_section_name(data, old, new):
    """Rename a section in .shstrtab (same length) so the reader cannot find it."""
    assert len(old) == len(new)
    at = data.index(b'\0' + old + b'\0') + 1
    return data[:at] + new + data[at + len(old):]


def test_no_symbol_table(tmp_path):
    data = open(full_module(tmp_path / 'm.ko'), 'rb').read()
    m = parse_module(_patch_section_name(data, b'.symtab', b'.symtaX'), 'm.ko')
    assert m.needs() == []
    # without __crc_ symbols the names come from __ksymtab_strings
    assert m.export_names() == EXPORTS
    assert m.modinfo == MODINFO_RECORDS


def test_sections(tmp_path):
    m = read_module(full_module(tmp_path / 'm.ko'))
    header = m.section('.modinfo')
    assert header.name == '.modinfo'
    assert m.sections[header.index] == header
    assert m.section_data(b'.modinfo').split(b'\0')[0] == b'license=GPL'
    assert m.sections[0].name == ''
    assert m.section('nope') is None
    assert m.section_data(b'nope') == b''


# ---- malformed input -------------------------------------------------------

@pytest.fixture(scope='module')
def good64(tmp_path_factory):
    path = tmp_path_factory.mktemp('elf') / 'good.ko'
    return open(full_module(path), 'rb').read()


def _u(data, fmt, off):
    return struct.unpack_from('<' + fmt, data, off)[0]


def _put(data, fmt, off, value):
    buf = bytearray(data)
    struct.pack_into('<' + fmt, buf, off, value)
    return bytes(buf)


def _section_header_offset(data, name):
    shoff, shstrndx = _u(data, 'Q', 0x28), _u(data, 'H', 0x3e)
    names_off = _u(data, 'Q', shoff + shstrndx * 64 + 0x18)
    for i in range(_u(data, 'H', 0x3c)):
        hdr = shoff + i * 64
        start = names_off + _u(data, 'I', hdr)
        if data[start:data.index(b'\0', start)] == name:
            return hdr
    raise AssertionError(name)


def _read_everything(data):
    m = parse_module(data, '/x/bad.ko')
    return m.modinfo, m.exports(), m.needs(), m.versions(), m.sections


def _expect(data, message):
    with pytest.raises(FormatError) as info:
        _read_everything(data)
    assert str(info.value) == '/x/bad.ko: invalid module file: ' + message
    assert info.value.path == '/x/bad.ko'


def test_not_elf():
    _expect(b'', 'not an ELF file')
    _expect(b'MZ' + b'\0' * 100, 'not an ELF file')


def test_bad_ident(good64):
    _expect(good64[:4] + b'\x03' + good64[5:], 'unknown ELF class 3')
    _expect(good64[:5] + b'\x00' + good64[6:], 'unknown ELF data encoding 0')
    _expect(good64[:40], 'truncated ELF header')


def test_every_truncation_is_format_error(good64):
    for size in range(0, len(good64), 7):
        with pytest.raises(FormatError):
            _read_everything(good64[:size])


def test_section_headers_past_end(good64):
    _expect(_put(good64, 'Q', 0x28, len(good64) - 10),
            '%d section headers at offset %d lie past the end of the file'
            % (_u(good64, 'H', 0x3c), len(good64) - 10))
    _expect(_put(good64, 'Q', 0x28, 0), 'no section headers')
    _expect(_put(good64, 'H', 0x3a, 40), 'section header size 40, expected 64')


def test_section_name_table_index(good64):
    shnum = _u(good64, 'H', 0x3c)
    _expect(_put(good64, 'H', 0x3e, shnum), 'section name table index %d out of range (%d sections)'
            % (shnum, shnum))


def test_section_out_of_range(good64):
    hdr = _section_header_offset(good64, b'.modinfo')
    index = (hdr - _u(good64, 'Q', 0x28)) // 64
    size = _u(good64, 'Q', hdr + 0x20)
    _expect(_put(good64, 'Q', hdr + 0x18, len(good64)),
            'section %d (offset %d, size %d) extends past the end of the file' % (index, len(good64), size))


def test_symbol_string_table_overrun(good64):
    symtab = _section_header_offset(good64, b'.symtab')
    strtab = _u(good64, 'Q', _section_header_offset(good64, b'.strtab') + 0x18)
    link_hdr = _u(good64, 'Q', 0x28) + _u(good64, 'I', symtab + 0x28) * 64
    assert _u(good64, 'Q', link_hdr + 0x18) == strtab
    # the string table cut to 3 bytes: names point past its end
    with pytest.raises(FormatError) as info:
        _read_everything(_put(good64, 'Q', link_hdr + 0x20, 3))
    assert 'symbol string table' in str(info.value)
    # the string table's last byte not a NUL: the last name runs past its end
    size = _u(good64, 'Q', link_hdr + 0x20)
    data = bytearray(good64)
    data[strtab + size - 1] = ord('x')
    with pytest.raises(FormatError) as info:
        _read_everything(bytes(data))
    assert 'runs past the end of the symbol string table' in str(info.value)


def test_section_name_overrun(good64):
    shstrndx = _u(good64, 'H', 0x3e)
    hdr = _u(good64, 'Q', 0x28) + shstrndx * 64
    size = _u(good64, 'Q', hdr + 0x20)
    with pytest.raises(FormatError) as info:
        _read_everything(_put(good64, 'Q', hdr + 0x20, 1))
    assert 'section name table' in str(info.value)
    assert size > 1


def test_symbol_table_bad_link_and_entsize(good64):
    symtab = _section_header_offset(good64, b'.symtab')
    _expect(_put(good64, 'I', symtab + 0x28, 0), 'symbol table names string table 0, which does not exist')
    _expect(_put(good64, 'Q', symtab + 0x38, 16), 'symbol table entry size 16, expected 24')


def test_versions_size_not_a_multiple(good64):
    hdr = _section_header_offset(good64, b'__versions')
    _expect(_put(good64, 'Q', hdr + 0x20, 100), '__versions size 100 is not a multiple of 64')


def test_crc_outside_its_section(good64):
    hdr = _section_header_offset(good64, b'__kcrctab')
    _expect(_put(good64, 'Q', hdr + 0x20, 2), 'CRC at offset 0 lies outside section %d'
            % ((hdr - _u(good64, 'Q', 0x28)) // 64))


def test_signature_longer_than_file(good64):
    data = good64 + bytes([0, 0, 2, 0, 0, 0, 0, 0]) + (10 ** 8).to_bytes(4, 'big') + SIGNATURE_MAGIC
    _expect(data, 'signature length 100000000 exceeds the file')
    _expect(SIGNATURE_MAGIC, 'signature marker without signature information')


def test_memoryview_input(good64):
    assert parse_module(memoryview(good64)).modinfo == MODINFO_RECORDS


def test_unnamed_input_says_memory():
    with pytest.raises(FormatError) as info:
        parse_module(b'junk')
    assert str(info.value) == '<memory>: invalid module file: not an ELF file'
    assert info.value.path is None


# ---- describe_modinfo ------------------------------------------------------

def test_describe_modinfo():
    d = describe_modinfo(MODINFO_RECORDS)
    assert d['license'] == 'GPL'
    assert d['description'] == 'A fake: module'
    assert d['author'] == ['A <a@example.org>', 'B']
    assert d['alias'] == ['pci:v00008086d*', 'fake-alias']
    assert d['depends'] == ['dep_a', 'dep-b']
    assert d['softdep'] == ['pre: x post: y']
    assert d['weakdep'] == []
    assert d['intree'] is True
    assert d['name'] == 'fake'
    assert d['vermagic'] == '6.1.0 SMP mod_unload modversions '
    assert d['srcversion'] is None
    assert d['firmware'] == []
    assert d['import_ns'] == []
    assert d['parameters'] == {'debug': {'type': 'int', 'description': 'Debug level (0-3)'},
                               'quiet': {'type': 'bool', 'description': None}}
    assert list(d['parameters']) == ['debug', 'quiet']
    assert d['fields']['author'] == ['A <a@example.org>', 'B']
    assert d['fields']['noequals'] == ['']


def test_describe_modinfo_empty_and_edge_cases():
    d = describe_modinfo([('depends', ''), ('intree', 'N'), ('parm', 'p'), ('firmware', 'a.bin'),
                          ('import_ns', 'USB_STORAGE'), ('weakdep', 'x y')])
    assert d['depends'] == []
    assert d['intree'] is False
    assert d['parameters'] == {'p': {'type': None, 'description': ''}}
    assert d['firmware'] == ['a.bin']
    assert d['import_ns'] == ['USB_STORAGE']
    assert d['weakdep'] == ['x y']
    empty = describe_modinfo([])
    assert empty['depends'] == [] and empty['parameters'] == {} and empty['license'] is None


def test_extended_section_numbering(good64):
    # e_shnum 0 and e_shstrndx SHN_XINDEX: the real values sit in section header 0
    shoff = _u(good64, 'Q', 0x28)
    shnum, shstrndx = _u(good64, 'H', 0x3c), _u(good64, 'H', 0x3e)
    data = _put(_put(good64, 'H', 0x3c, 0), 'H', 0x3e, 0xffff)
    data = _put(_put(data, 'Q', shoff + 0x20, shnum), 'I', shoff + 0x28, shstrndx)
    m = parse_module(data, 'x.ko')
    assert len(m.sections) == shnum
    assert m.modinfo == MODINFO_RECORDS
    assert m.export_names() == ['fake_a', 'fake_c']


def test_reads_an_mmap_in_place(tmp_path):
    """depmod maps module files instead of copying them: same answers."""
    import mmap
    from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import parse_module
    from tests.lib.fakeko import build_ko
    path = build_ko(str(tmp_path / 'm.ko'), modinfo=['license=GPL', 'alias=x'], exports=['e1'],
                    needs=['n1'], crcs={'e1': 7}, versions=[(5, 'n1')], signed=True)
    with open(path, 'rb') as f:
        data = f.read()
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        a, b = parse_module(data, path), parse_module(mapped, path)
        assert b.signed and a.signed
        assert (a.modinfo, a.exports(), a.needs(), a.versions()) == (b.modinfo, b.exports(), b.needs(), b.versions())
        assert b.exports() == [('e1', 7)]
    finally:
        del b
        mapped.close()
