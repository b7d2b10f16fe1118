import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_version import (
    VERSION_CACHE, KmodFlavour, detect_kmod, detect_kmod_cached, kmod_flavour, parse_version_option,
    parse_version_output)
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


def _fake_kmod(tmp_path, version):
    program = tmp_path / 'bin' / 'kmod'
    program.parent.mkdir(exist_ok=True)
    calls = tmp_path / 'calls'
    program.write_text('#!/bin/sh\necho x >> %s\necho "kmod version %d"\necho "+ZSTD +XZ -ZLIB"\n' % (calls, version))
    os.chmod(str(program), 0o755)
    return str(program), calls


def _calls(calls):
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def test_kmod_version_is_asked_once_per_program(tmp_path):
    program, calls = _fake_kmod(tmp_path, 33)
    cache = str(tmp_path / 'cache')
    expected = (33, {'ZSTD': True, 'XZ': True, 'ZLIB': False})
    assert detect_kmod_cached(cache, program=program) == expected
    assert detect_kmod_cached(cache, program=program) == expected
    assert _calls(calls) == 1
    # kmod upgraded: a new file in its place (new inode, mtime, ctime) is asked again
    os.unlink(program)
    program, calls = _fake_kmod(tmp_path, 34)
    assert detect_kmod_cached(cache, program=program)[0] == 34
    assert detect_kmod_cached(cache, program=program)[0] == 34
    assert _calls(calls) == 2
    # even rewritten in place with the same size: its ctime moves
    with open(program, 'r+') as f:
        text = f.read()
        f.seek(0)
        f.write(text.replace('version 34', 'version 35'))
    assert detect_kmod_cached(cache, program=program)[0] == 35
    assert _calls(calls) == 3


def test_kmod_version_cache_in_check_mode_and_when_distrusted(tmp_path):
    program, calls = _fake_kmod(tmp_path, 33)
    cache = tmp_path / 'cache'
    assert detect_kmod_cached(str(cache), save=False, program=program)[0] == 33
    assert not (cache / VERSION_CACHE).exists()          # check mode writes nothing
    assert detect_kmod_cached(None, program=program)[0] == 33   # no cache directory: kmod is asked
    assert detect_kmod_cached(str(cache), program=program)[0] == 33
    assert _calls(calls) == 3
    # a cache file another user could have written is not believed
    os.chmod(str(cache / VERSION_CACHE), 0o666)
    assert detect_kmod_cached(str(cache), program=program)[0] == 33
    assert _calls(calls) == 4
    # nor one that holds something else
    (cache / VERSION_CACHE).write_bytes(b'not marshal')
    os.chmod(str(cache / VERSION_CACHE), 0o600)
    assert detect_kmod_cached(str(cache), program=program)[0] == 33
    assert _calls(calls) == 5
