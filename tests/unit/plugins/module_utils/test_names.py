import pytest

from ansible_collections.kernel.kmod.plugins.module_utils import names


@pytest.mark.parametrize('raw, want', [
    ('snd-hda-intel', 'snd_hda_intel'),
    ('e1000e', 'e1000e'),
    ('a-b_c', 'a_b_c'),
])
def test_module_name(raw, want):
    assert names.module_name(raw) == want


@pytest.mark.parametrize('raw, want', [
    ('pci:v*d*sv-x', 'pci:v*d*sv_x'),
    ('usb:v[A-F]*-x', 'usb:v[A-F]*_x'),
    ('char-major-10-[0-9]', 'char_major_10_[0-9]'),
    ('open[-x', 'open[-x'),
])
def test_alias_name_keeps_brackets(raw, want):
    assert names.alias_name(raw) == want


@pytest.mark.parametrize('path, want', [
    ('kernel/drivers/net/e1000e.ko', 'e1000e'),
    ('/x/snd-hda-intel.ko.xz', 'snd_hda_intel'),
    ('a.ko.zst', 'a'),
    ('a.ko.gz', 'a'),
    ('notes.txt', None),
    ('.ko', None),
])
def test_module_name_from_path(path, want):
    assert names.module_name_from_path(path) == want


def test_is_path():
    assert names.is_path('/lib/modules/x.ko')
    assert names.is_path('./x.ko')
    assert not names.is_path('x.ko')


@pytest.mark.parametrize('raw, want', [
    ('pci:v*d*sv-x', 'pci:v*d*sv_x'),
    ('usb:v[A-F]*-x', 'usb:v[A-F]*_x'),
    ('open[-x', None),
    ('stray]-x', None),
    ('[]x]-y', None),  # kmod's bracket ends at the first ']', so the second is stray
])
def test_alias_key_is_strict_like_depmod(raw, want):
    assert names.alias_key(raw) == want
