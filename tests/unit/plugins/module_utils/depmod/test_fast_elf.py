# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod_elf's fast reader against the full one (elf.ModuleImage).

On valid fake modules (64-bit little-endian from gcc, 32-bit big-endian from
the powerpc cross compiler) the fast path must answer by itself and give
exactly the full reader's compact result; on mutated and truncated modules
depmod_facts must give the same result or the same error as the full reader.
"""

import os
import shutil
import struct
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.depmod import fast_elf as depmod_elf
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.fast_elf import depmod_facts, depmod_facts_fd
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.model import compact, expand
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import parse_module
from tests.lib.fakeko import build_ko

FUZZ = settings(max_examples=int(os.environ.get('KMOD_FUZZ_EXAMPLES', '300')), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
COMPILERS = ['gcc', 'powerpc-linux-gnu-gcc']

SHAPES = {
    'crcs': dict(modinfo=['license=GPL', 'alias=pci:v*', 'flag', 'softdep=pre: x', 'alias='],
                 exports=['e1', 'e2', 'e3'], crcs={'e1': 1, 'e2': 0xdeadbeef, 'e3': 3},
                 needs=['n1', 'n2', 'e9'], weak_needs=['w1', 'w2'],
                 versions=[(1, 'n1'), (2, 'n2'), (7, 'module_layout'), (9, ''), (5, 'n1')]),
    'no-crcs': dict(modinfo=['license=GPL', 'alias=a-b'], exports=['x1', 'x2'], needs=['n1'],
                    versions=[(1, 'n1'), (3, 'module_layout')]),
    'needs-only': dict(needs=['a', 'b', 'c'], weak_needs=['d']),
    'empty': dict(),
    'long-version-name': dict(needs=['s'], versions=[(1, 's' * 55), (2, 't')]),
}

_BUILT = {}


def build(cc, shape, signed=False):
    key = (cc, shape, signed)
    if key not in _BUILT:
        if shutil.which(cc) is None:
            pytest.skip('%s missing: apt-get install gcc-powerpc-linux-gnu (tests/apt-packages.txt)' % cc)
        tmp = tempfile.mkdtemp(prefix='depmod-elf-')
        try:
            path = build_ko(os.path.join(tmp, 'm.ko'), cc=cc, signed=signed, **SHAPES[shape])
            with open(path, 'rb') as f:
                _BUILT[key] = f.read()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return _BUILT[key]


def normal(result):
    """A compact result with modinfo as records: the full reader writes a
    record without '=' as 'key=', the fast one as it is in the file."""
    return (expand(result)[0],) + tuple(result[1:])


def full_result(data, want_versions=True):
    """('ok', compact result) or ('error', message) of the full reader."""
    try:
        image = parse_module(data, 'm.ko')
        return 'ok', normal(compact(image.modinfo, image.exports(), image.needs(), image.versions(),
                                    keep_versions=want_versions))
    except KmodError as exc:
        return 'error', str(exc)


def _from_bytes(data, want_versions):
    return depmod_facts(data, 'm.ko', want_versions=want_versions)


def _from_file(data, want_versions):
    """depmod_facts_fd on a file holding data: reads only parts of it."""
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        return depmod_facts_fd(f.fileno(), len(data), 'm.ko', want_versions=want_versions)


def fast_result(data, want_versions=True):
    """('ok', compact result) or ('error', message), the same from bytes and from a file."""
    answers = []
    for reader in (_from_bytes, _from_file):
        try:
            answers.append(('ok', normal(reader(data, want_versions))))
        except KmodError as exc:
            answers.append(('error', str(exc)))
    assert answers[0] == answers[1]
    return answers[0]


@pytest.mark.parametrize('cc', COMPILERS)
@pytest.mark.parametrize('shape', sorted(SHAPES))
@pytest.mark.parametrize('signed', [False, True])
@pytest.mark.parametrize('want_versions', [True, False])
def test_fast_path_answers_alone_and_equals_full_reader(cc, shape, signed, want_versions):
    data = build(cc, shape, signed)
    # _fast raises _Unusual when it would hand over to the full reader
    assert normal(depmod_elf._fast(data, want_versions)) == full_result(data, want_versions)[1]
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        reader = depmod_elf.file_reader(f.fileno())
        assert normal(depmod_elf._fast_read(reader, len(data), want_versions)) == full_result(data, want_versions)[1]


def test_crc_module_values():
    modinfo, exports, crcs, needs, weak, versions, version_crcs, unclaimed = depmod_facts(build('gcc', 'crcs'))
    assert exports.split('\n') == ['e1', 'e2', 'e3']
    assert crcs == [1, 0xdeadbeef, 3]
    assert sorted(needs.split('\n')) == ['e9', 'n1', 'n2', 'w1', 'w2']
    assert sorted(weak.split('\n')) == ['w1', 'w2']
    assert versions.split('\n') == ['n1', 'n2', 'module_layout', '', 'n1']
    assert version_crcs == [1, 2, 7, 9, 5]
    assert unclaimed.split('\n') == ['module_layout', '']
    assert modinfo.split('\0') == ['license=GPL', 'alias=pci:v*', 'flag', 'softdep=pre: x', 'alias=']


def test_want_versions_false_leaves_versions_out():
    result = depmod_facts(build('gcc', 'crcs'), want_versions=False)
    assert result[5:] == ('', [], 'module_layout\n')


def test_mmap_input_gives_the_same(tmp_path):
    import mmap
    path = tmp_path / 'm.ko'
    path.write_bytes(build('gcc', 'crcs', True))
    with open(str(path), 'rb') as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            assert normal(depmod_facts(mapped, str(path))) == full_result(path.read_bytes())[1]
        finally:
            mapped.close()


def test_file_shorter_than_its_size_goes_to_full_reader(tmp_path):
    data = build('gcc', 'crcs')
    path = tmp_path / 'm.ko'
    path.write_bytes(data[:len(data) // 2])
    with open(str(path), 'rb') as f:
        # the size given is the size before the file was cut: pread comes back short
        with pytest.raises(KmodError) as exc:
            depmod_facts_fd(f.fileno(), len(data), str(path))
    assert 'm.ko: invalid module file' in str(exc.value)


def test_unusual_file_goes_to_full_reader():
    data = bytearray(build('gcc', 'crcs'))
    data[4] = 9  # unknown ELF class: the full reader's error, word for word
    assert fast_result(bytes(data)) == full_result(bytes(data))
    assert fast_result(bytes(data))[0] == 'error'


def _fields(data):
    """(offset, size) of header, section header and symbol fields of a valid module."""
    order = '<' if data[5] == 1 else '>'
    is64 = data[4] == 2
    if is64:
        out = [(40, 8), (58, 2), (60, 2), (62, 2)]
        shoff, = struct.unpack_from(order + 'Q', data, 40)
        shnum, = struct.unpack_from(order + 'H', data, 60)
        sh_fields = ((0, 4), (4, 4), (24, 8), (32, 8), (40, 4), (44, 4), (56, 8))
        shsize, sym_fields, symsize = 64, ((0, 4), (4, 1), (6, 2), (8, 8)), 24
    else:
        out = [(32, 4), (46, 2), (48, 2), (50, 2)]
        shoff, = struct.unpack_from(order + 'I', data, 32)
        shnum, = struct.unpack_from(order + 'H', data, 48)
        sh_fields = ((0, 4), (4, 4), (16, 4), (20, 4), (24, 4), (28, 4), (36, 4))
        shsize, sym_fields, symsize = 40, ((0, 4), (4, 4), (12, 1), (14, 2)), 16
    for i in range(shnum):
        base = shoff + i * shsize
        out += [(base + o, s) for o, s in sh_fields]
        stype, = struct.unpack_from(order + 'I', data, base + 4)
        if stype == 2:
            if is64:
                off, size = struct.unpack_from(order + 'QQ', data, base + 24)
            else:
                off, size = struct.unpack_from(order + 'II', data, base + 16)
            for j in range(size // symsize):
                out += [(off + j * symsize + o, s) for o, s in sym_fields]
    return order, out


@FUZZ
@given(st.sampled_from(COMPILERS), st.sampled_from(['crcs', 'no-crcs']), st.data())
def test_overwritten_fields_agree_with_full_reader(cc, shape, data):
    good = build(cc, shape, signed=data.draw(st.booleans()))
    order, fields = _fields(good)
    buf = bytearray(good)
    for _flip in range(data.draw(st.integers(1, 3))):
        off, size = data.draw(st.sampled_from(fields))
        special = [0, 1, 2, 0xff, 0xffff, 0xfff1, 0xff00, len(good), len(good) - 1, (1 << (8 * size)) - 1]
        value = data.draw(st.one_of(st.sampled_from(special), st.integers(0, (1 << (8 * size)) - 1)))
        value &= (1 << (8 * size)) - 1
        buf[off:off + size] = value.to_bytes(size, 'little' if order == '<' else 'big')
    want_versions = data.draw(st.booleans())
    assert fast_result(bytes(buf), want_versions) == full_result(bytes(buf), want_versions)


@FUZZ
@given(st.sampled_from(COMPILERS),
       st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(1, 255)), min_size=1, max_size=8), st.data())
def test_byte_flips_and_truncation_agree_with_full_reader(cc, flips, data):
    buf = bytearray(build(cc, 'crcs'))
    for pos, xor in flips:
        buf[pos % len(buf)] ^= xor
    size = data.draw(st.integers(0, len(buf)))
    if data.draw(st.booleans()):
        buf = buf[:size]
    want_versions = data.draw(st.booleans())
    assert fast_result(bytes(buf), want_versions) == full_result(bytes(buf), want_versions)
