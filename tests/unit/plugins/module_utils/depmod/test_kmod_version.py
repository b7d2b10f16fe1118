import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_version import (
    KmodFlavour, detect_kmod, kmod_flavour, parse_version_option, parse_version_output)
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError

DEBIAN_30 = 'kmod version 30\n+ZSTD +XZ -ZLIB +LIBCRYPTO -EXPERIMENTAL\n'


def test_parse_version_output():
    assert parse_version_output(DEBIAN_30) == (30, {'ZSTD': True, 'XZ': True, 'ZLIB': False,
                                                    'LIBCRYPTO': True, 'EXPERIMENTAL': False})
    assert parse_version_output('kmod version 34.2\n+ZLIB\n') == (34, {'ZLIB': True})
    assert parse_version_output('') == (None, {})


@pytest.mark.parametrize('version, layout, weakdep, first', [
    (30, 'post', False, False), (32, 'post', False, False), (33, 'post', True, False), (34, 'pre', True, True)])
def test_flavours(version, layout, weakdep, first):
    flavour = KmodFlavour(version)
    assert (flavour.layout, flavour.weakdep, flavour.first_order_line_wins) == (layout, weakdep, first)
    assert flavour.suffixes == ('.ko.zst', '.ko.xz', '.ko.gz', '.ko')


def test_suffixes_follow_compiled_features():
    assert KmodFlavour(30, {'ZSTD': True, 'XZ': True, 'ZLIB': False}).suffixes == ('.ko.zst', '.ko.xz', '.ko')
    assert KmodFlavour(30, {'ZSTD': False, 'XZ': False, 'ZLIB': False}).suffixes == ('.ko',)


def test_kmod_flavour_choice():
    detected = kmod_flavour(detect=lambda: parse_version_output(DEBIAN_30))
    assert (detected.version, detected.detected, detected.suffixes) == (30, True, ('.ko.zst', '.ko.xz', '.ko'))
    forced = kmod_flavour('34', detect=lambda: parse_version_output(DEBIAN_30))
    assert (forced.version, forced.detected, forced.layout, forced.suffixes) == (
        34, False, 'pre', ('.ko.zst', '.ko.xz', '.ko'))
    absent = kmod_flavour(detect=lambda: (None, {}))
    assert (absent.version, absent.detected, absent.suffixes) == (30, False, ('.ko.zst', '.ko.xz', '.ko.gz', '.ko'))
    with pytest.raises(KmodError) as info:
        kmod_flavour('latest', detect=lambda: (None, {}))
    assert info.value.msg == "kmod_version 'latest' is not a kmod version number (such as 30 or 34)"


def test_parse_version_option():
    assert [parse_version_option(v) for v in ('30', ' 34.1 ', 'v33', 31, '3x')] == [30, 34, 33, 31, None]


def test_detect_kmod_with_a_fake_program(tmp_path):
    program = tmp_path / 'kmod'
    program.write_text('#!/bin/sh\necho "kmod version 33"\necho "-ZSTD +XZ +ZLIB"\n')
    os.chmod(str(program), 0o755)
    assert detect_kmod(str(program)) == (33, {'ZSTD': False, 'XZ': True, 'ZLIB': True})
    assert detect_kmod(str(tmp_path / 'missing')) == (None, {})
