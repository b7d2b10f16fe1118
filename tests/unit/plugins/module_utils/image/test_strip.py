import pytest
from elftools.elf.elffile import ELFFile

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError
from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import ModuleImage
from ansible_collections.kernel.kmod.plugins.module_utils.image.strip import SHF_ALLOC, strip_version_checks
from tests.lib.fakeko import build_ko

MODINFO = ['license=GPL', 'vermagic=6.1.0-18-amd64 SMP preempt mod_unload modversions ', 'name=fake']
VERSIONS = [(0x1234abcd, 'module_layout'), (0x0badf00d, 'printk')]


def _ko(tmp_path, cflags=()):
    path = build_ko(str(tmp_path / 'fake.ko'), modinfo=MODINFO, versions=VERSIONS, cflags=cflags)
    with open(path, 'rb') as f:
        return f.read()


def _versions_flags(data, tmp_path):
    p = tmp_path / 'out.o'
    p.write_bytes(data)
    with open(str(p), 'rb') as f:
        return ELFFile(f).get_section_by_name('__versions')['sh_flags']


@pytest.mark.parametrize('cflags', [(), ('-m32',)], ids=['elf64', 'elf32'])
def test_strip_both(tmp_path, cflags):
    data = _ko(tmp_path, cflags)
    assert _versions_flags(data, tmp_path) & SHF_ALLOC
    out = strip_version_checks(data, ignore_vermagic=True, ignore_modversions=True)
    assert len(out) == len(data)
    image = ModuleImage(out)
    assert image.modinfo == [('license', 'GPL'), ('name', 'fake')]
    assert not _versions_flags(out, tmp_path) & SHF_ALLOC
    # everything else unchanged: the versions table itself is still there
    assert image.versions() == ModuleImage(data).versions()
    changed = [i for i, (a, b) in enumerate(zip(data, out)) if a != b]
    vermagic_len = len(MODINFO[1])
    # the vermagic record's bytes plus one byte of the section flags
    assert len(changed) <= vermagic_len + 1


def test_strip_vermagic_only(tmp_path):
    data = _ko(tmp_path)
    out = strip_version_checks(data, ignore_vermagic=True)
    assert ModuleImage(out).modinfo_values('vermagic') == []
    assert _versions_flags(out, tmp_path) & SHF_ALLOC


def test_strip_modversions_only(tmp_path):
    data = _ko(tmp_path)
    out = strip_version_checks(data, ignore_modversions=True)
    assert ModuleImage(out).modinfo_values('vermagic') == [MODINFO[1][len('vermagic='):]]
    assert not _versions_flags(out, tmp_path) & SHF_ALLOC


@pytest.mark.parametrize('vermagic,modversions', [(True, False), (False, True)])
def test_signature_is_dropped(tmp_path, vermagic, modversions):
    path = build_ko(str(tmp_path / 'signed.ko'), modinfo=MODINFO, versions=VERSIONS, signed=True)
    with open(path, 'rb') as f:
        data = f.read()
    signed = ModuleImage(data)
    assert signed.signed
    out = strip_version_checks(data, vermagic, modversions)
    assert len(out) == signed.elf_size
    assert not ModuleImage(out).signed
    assert ModuleImage(out).modinfo_values('license') == ['GPL']


def test_nothing_asked_returns_the_same_object(tmp_path):
    data = b'not even ELF'
    assert strip_version_checks(data) is data


def test_module_without_versions_or_vermagic(tmp_path):
    path = build_ko(str(tmp_path / 'plain.ko'), modinfo=['license=GPL'])
    with open(path, 'rb') as f:
        data = f.read()
    assert strip_version_checks(data, True, True) == data


def test_not_a_module_is_a_format_error():
    with pytest.raises(FormatError) as info:
        strip_version_checks(b'garbage' * 10, ignore_vermagic=True, path='/x/bad.ko')
    assert info.value.path == '/x/bad.ko'
