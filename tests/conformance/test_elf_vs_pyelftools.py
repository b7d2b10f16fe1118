# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Our ELF reader against pyelftools on every module of Debian's real tree.

The reference side uses pyelftools plainly: its sections, its symbol table
iterator and its parsed fields; only the byte layouts pyelftools knows
nothing about (`.modinfo` strings, `__versions` records, the u32 a `__crc_`
symbol points at) are decoded here by hand, independently of elf.py.
Compared per file: modinfo records, exports with CRCs, undefined symbols with
weak flags, `__versions`, ELF class and byte order.
"""

import io
import shutil
import struct
import time

import pytest
from elftools.elf.elffile import ELFFile

from ansible_collections.kernel.kmod.plugins.module_utils.image.compression import read_module_file
from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import parse_module
from tests.lib.fakeko import build_ko

pytestmark = pytest.mark.conformance


def reference(data):
    """What pyelftools says about one module image."""
    elf = ELFFile(io.BytesIO(data))
    order = '<' if elf.little_endian else '>'
    out = {'class': elf.elfclass, 'order': 'little' if elf.little_endian else 'big'}

    modinfo = []
    sec = elf.get_section_by_name('.modinfo')
    if sec is not None:
        for rec in sec.data().split(b'\0'):
            if rec:
                key, _eq, value = rec.partition(b'=')
                modinfo.append((key, value))
    out['modinfo'] = modinfo

    needs = []
    crc_exports = []
    symtab = elf.get_section_by_name('.symtab')
    if symtab is not None:
        for index, sym in enumerate(symtab.iter_symbols()):
            if index == 0:
                continue
            name = sym.name.encode('latin-1')  # pyelftools decodes names as latin-1
            shndx = sym['st_shndx']
            if shndx == 'SHN_UNDEF':
                if name:
                    needs.append((name, sym['st_info']['bind'] == 'STB_WEAK'))
            elif name.startswith(b'__crc_'):
                if shndx == 'SHN_ABS':
                    crc = sym['st_value']
                else:
                    raw = elf.get_section(shndx).data()
                    crc = struct.unpack(order + 'I', raw[sym['st_value']:sym['st_value'] + 4])[0]
                crc_exports.append((name[len(b'__crc_'):], crc))
    out['needs'] = needs
    if crc_exports:
        out['exports'] = crc_exports
    else:
        strings = elf.get_section_by_name('__ksymtab_strings')
        names = strings.data().split(b'\0') if strings is not None else []
        out['exports'] = [(n, None) for n in names if n]

    versions = []
    sec = elf.get_section_by_name('__versions')
    if sec is not None:
        raw = sec.data()
        crc_size = 8 if elf.elfclass == 64 else 4
        for start in range(0, len(raw), 64):
            record = raw[start:start + 64]
            crc = int.from_bytes(record[:crc_size], 'little' if elf.little_endian else 'big')
            versions.append((record[crc_size:].split(b'\0')[0], crc))
    out['versions'] = versions
    return out


def ours(data, path):
    m = parse_module(data, path)

    def b(s):
        # back to the bytes in the file, to compare with pyelftools' bytes
        return s.encode('utf-8', 'surrogateescape')

    return {
        'class': m.elf_class,
        'order': m.byte_order,
        'modinfo': [(b(k), b(v)) for k, v in m.modinfo],
        'needs': [(b(n), w) for n, w in m.needs()],
        'exports': [(b(n), c) for n, c in m.exports()],
        'versions': [(b(n), c) for n, c in m.versions()],
    }


def test_every_module_agrees_with_pyelftools(debian_tree):
    files = debian_tree.ko_files()
    assert len(files) > 4000
    mismatches = []
    totals = {'modinfo': 0, 'needs': 0, 'weak': 0, 'exports': 0, 'crcs': 0, 'versions': 0, 'signed': 0}
    for path in files:
        data, _compression = read_module_file(path)
        want = reference(data)
        got = ours(data, path)
        for key in want:
            if want[key] != got[key]:
                mismatches.append('%s: %s differs: pyelftools %r, ours %r'
                                  % (path, key, want[key][:5], got[key][:5]))
        totals['modinfo'] += len(want['modinfo'])
        totals['needs'] += len(want['needs'])
        totals['weak'] += sum(1 for _n, w in want['needs'] if w)
        totals['exports'] += len(want['exports'])
        totals['crcs'] += sum(1 for _n, c in want['exports'] if c is not None)
        totals['versions'] += len(want['versions'])
        totals['signed'] += parse_module(data, path).signed
    assert mismatches == [], '\n'.join(mismatches[:20])
    # the tree exercises what is compared above (Debian's modules have no weak
    # needs and export only through __crc_ symbols: unit tests cover the rest)
    assert all(totals[k] for k in ('modinfo', 'needs', 'exports', 'crcs', 'versions', 'signed')), totals
    print('compared %d modules: %r' % (len(files), totals))


@pytest.mark.parametrize('cc', ['gcc', 'i686-linux-gnu-gcc', 's390x-linux-gnu-gcc', 'powerpc-linux-gnu-gcc'])
def test_fake_modules_of_every_class_and_byte_order(tmp_path, cc):
    """Debian's tree is all ELF64 little-endian: cross-compiled fakes cover the rest."""
    if shutil.which(cc) is None:
        pytest.skip('%s missing (see tests/apt-packages.txt)' % cc)
    variants = [
        dict(modinfo=['license=GPL', '', 'alias=a'], exports=['e1', 'e2'], crcs={'e1': 0xabcdef01, 'e2': 2},
             needs=['n1', 'n2'], weak_needs=['w1'], versions=[(0x12345678, 'n1'), (9, 'n2')], signed=True),
        dict(modinfo=['x=y'], exports=['e1', 'e2'], needs=['n1']),
        dict(),
    ]
    for number, kw in enumerate(variants):
        path = build_ko(str(tmp_path / ('m%d.ko' % number)), cc=cc, **kw)
        data, _compression = read_module_file(path)
        assert ours(data, path) == reference(data)


def test_our_reader_time_over_the_tree(debian_tree):
    """Not a benchmark (bench/ has that): prints how long reading everything takes."""
    files = debian_tree.ko_files()
    start = time.perf_counter()
    for path in files:
        data, _compression = read_module_file(path)
        m = parse_module(data, path)
        m.modinfo
        m.exports()
        m.needs()
        m.versions()
    elapsed = time.perf_counter() - start
    print('our reader: %d modules (read, modinfo, exports, needs, __versions) in %.2f s' % (len(files), elapsed))
