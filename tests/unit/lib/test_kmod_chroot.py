"""tests/lib/kmod_chroot: the mirror read from apt sources, the recipe key,
kmod's version line, and host paths shared into a root at the same place."""

import json
import os

import pytest

from tests.lib import kmod_chroot
from tests.lib.kmod_chroot import (ChrootError, KmodRoot, debian_mirror, parse_kmod_version, recipe,
                                   recipe_hash)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def test_mirror_from_deb822_skips_security_and_disabled(tmp_path):
    write(str(tmp_path / 'sources.list.d' / 'debian.sources'),
          'Types: deb\n# a comment\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n'
          'Components: main\n\n'
          'Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n'
          'Types: deb deb-src\nURIs: http://archive.example/debian/\nSuites: bookworm bookworm-updates\n'
          'Components: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n')
    assert debian_mirror(str(tmp_path)) == 'http://archive.example/debian'


def test_mirror_from_one_line_sources_and_ignored_files(tmp_path):
    write(str(tmp_path / 'sources.list.d' / 'other.list.disabled-by-farm'),
          'deb http://ignored.example/debian bookworm main\n')
    write(str(tmp_path / 'sources.list.d' / 'zz.list'),
          '# deb http://commented.example/debian bookworm main\n'
          'deb-src http://src.example/debian bookworm main\n'
          'deb http://noman.example/debian bookworm contrib\n'
          'deb [arch=amd64 signed-by=/k.gpg] https://one.example/debian bookworm main non-free\n')
    assert debian_mirror(str(tmp_path)) == 'https://one.example/debian'
    write(str(tmp_path / 'sources.list'), 'deb http://first.example/debian/ bookworm main\n')
    assert debian_mirror(str(tmp_path)) == 'http://first.example/debian'


def test_no_mirror(tmp_path, monkeypatch):
    assert debian_mirror(str(tmp_path)) is None
    monkeypatch.setattr(kmod_chroot, 'debian_mirror', lambda: None)
    monkeypatch.delenv(kmod_chroot.MIRROR_ENV, raising=False)
    with pytest.raises(ChrootError, match=kmod_chroot.MIRROR_ENV):
        kmod_chroot.mirror()
    monkeypatch.setenv(kmod_chroot.MIRROR_ENV, 'http://env.example/debian')
    assert kmod_chroot.mirror() == 'http://env.example/debian'


def test_recipe_is_the_documented_command_and_its_key():
    argv = recipe('http://a.example/debian')
    assert argv == ['mmdebstrap', '--variant=apt', '--include=kmod', '--mode=root', 'trixie', 'TARGET',
                    'deb http://a.example/debian trixie main']
    assert recipe_hash(argv) == recipe_hash(list(argv))
    assert recipe_hash(argv) != recipe_hash(recipe('http://b.example/debian'))
    assert len(recipe_hash(argv)) == 16


def test_kmod_version_line():
    assert parse_kmod_version('kmod version 34.2\n+ZSTD +XZ -ZLIB +OPENSSL\n') == (
        '34.2', {'ZSTD': True, 'XZ': True, 'ZLIB': False, 'OPENSSL': True})
    assert parse_kmod_version('kmod version 30\n')[0] == '30'
    with pytest.raises(ChrootError):
        parse_kmod_version('modprobe: ERROR')


@pytest.fixture
def fake_root(tmp_path):
    home = tmp_path / 'home'
    os.makedirs(str(home / 'root' / 'proc'))
    (home / kmod_chroot.META).write_text(json.dumps({'kmod_version': '34.2', 'features': {'XZ': True}}))
    return KmodRoot(str(home))


def test_share_places_host_paths_at_the_same_path_and_removes_them(fake_root, tmp_path):
    tree = tmp_path / 'tree'
    write(str(tree / 'lib' / 'modules' / 'r' / 'a.ko'), 'elf')
    os.symlink('a.ko', str(tree / 'lib' / 'modules' / 'r' / 'link.ko'))
    single = tmp_path / 'single.conf'
    single.write_text('x')
    assert (fake_root.major, fake_root.version) == (34, '34.2')
    placed = fake_root.share([str(tree), str(single)])
    inside = fake_root.path + str(tree)
    assert placed == [inside, fake_root.path + str(single)]
    ko = os.path.join(inside, 'lib', 'modules', 'r', 'a.ko')
    assert os.stat(ko).st_ino == os.stat(str(tree / 'lib' / 'modules' / 'r' / 'a.ko')).st_ino
    assert os.readlink(os.path.join(inside, 'lib', 'modules', 'r', 'link.ko')) == 'a.ko'
    with pytest.raises(ChrootError, match='already shared'):
        fake_root.share([str(tree)])
    fake_root.unshare(placed)
    assert not os.path.exists(inside) and not os.path.exists(fake_root.path + str(single))
    assert (tree / 'lib' / 'modules' / 'r' / 'a.ko').read_text() == 'elf'


def test_share_refuses_the_root_itself(fake_root):
    with pytest.raises(ChrootError):
        fake_root.inside('/')
    with pytest.raises(ChrootError):
        fake_root.inside(os.path.join(fake_root.path, 'etc'))


def test_command_binds_the_cmdline_file():
    root = KmodRoot.__new__(KmodRoot)
    root.path = '/r'
    assert root.command(['depmod', '-b', '/t', 'rel']) == ['chroot', '/r', 'depmod', '-b', '/t', 'rel']
    argv = root.command(['modprobe', '-c'], cmdline_file='/tmp/c')
    assert argv[:2] == ['unshare', '-m'] and argv[-4:] == ['chroot', '/r', 'modprobe', '-c']
    assert argv[5:7] == ['/tmp/c', '/r/proc/cmdline']


def test_missing_mmdebstrap_is_an_error(monkeypatch):
    monkeypatch.setattr(kmod_chroot.shutil, 'which', lambda name: None)
    with pytest.raises(ChrootError, match='mmdebstrap is not installed'):
        kmod_chroot.ensure_root()


def test_host_cmdline_copied_into_the_root(fake_root):
    target = os.path.join(fake_root.path, 'proc', 'cmdline')
    open(target, 'w').close()
    fake_root.copy_host_cmdline()
    with open('/proc/cmdline', 'rb') as a, open(target, 'rb') as b:
        assert a.read() == b.read()
    fake_root.copy_host_cmdline()  # already the same: left alone
    assert os.listdir(os.path.dirname(target)) == ['cmdline']
