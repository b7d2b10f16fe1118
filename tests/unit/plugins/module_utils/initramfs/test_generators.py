"""initramfs.generators: which generator a root has, where its images are, what it copies."""

import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.generators import detect, find_program, require
from tests.lib.fake_root import write


def program(root, path, mode=0o755):
    write(root, path, '#!/bin/sh\n')
    os.chmod(os.path.join(str(root), path.lstrip('/')), mode)


def test_nothing_found_is_a_clear_error(tmp_path):
    assert detect(str(tmp_path)) is None
    with pytest.raises(KmodError) as failed:
        require(str(tmp_path))
    assert failed.value.msg.startswith('no initramfs generator found: looked for update-initramfs, dracut, mkinitcpio')


def test_initramfs_tools(tmp_path):
    program(tmp_path, '/usr/sbin/update-initramfs')
    found = detect(str(tmp_path))
    assert found.name == 'initramfs-tools' and found.program == '/usr/sbin/update-initramfs'
    assert found.image_path(str(tmp_path), '6.1') == '/boot/initrd.img-6.1'
    assert found.rebuild_command('6.1', '/boot/initrd.img-6.1') == ['/usr/sbin/update-initramfs', '-u', '-k', '6.1']
    assert found.copies_path('/etc/modprobe.d/x.conf') and found.copies_path('/lib/modprobe.d/x.conf')
    assert not found.copies_path('/run/modprobe.d/x.conf')
    assert found.module_list == '/etc/initramfs-tools/modules'


def test_dracut_and_mkinitcpio(tmp_path):
    program(tmp_path, '/usr/bin/dracut')
    found = detect(str(tmp_path))
    assert found.name == 'dracut' and found.rebuild_command('6.1', '/boot/initramfs-6.1.img') == [
        '/usr/bin/dracut', '-f', '--kver', '6.1', '/boot/initramfs-6.1.img']
    write(tmp_path, '/boot/initrd.img-6.1', '')
    assert found.image_path(str(tmp_path), '6.1') == '/boot/initrd.img-6.1'
    assert not found.copies_path('/usr/lib/modprobe.d/x.conf')
    with pytest.raises(KmodError) as refused:
        require(str(tmp_path), supported=('initramfs-tools',))
    assert 'dracut (/usr/bin/dracut) is not supported' in refused.value.msg
    other = tmp_path / 'arch'
    program(other, '/usr/bin/mkinitcpio')
    arch = detect(str(other))
    assert arch.rebuild_command('6.1', '/boot/initramfs-linux.img') == [
        '/usr/bin/mkinitcpio', '-k', '6.1', '-g', '/boot/initramfs-linux.img']


def test_a_program_must_be_executable_and_in_the_system_dirs(tmp_path):
    program(tmp_path, '/usr/sbin/update-initramfs', mode=0o644)
    program(tmp_path, '/usr/local/bin/dracut')
    assert find_program(str(tmp_path), 'update-initramfs') is None
    assert detect(str(tmp_path)) is None


def test_a_known_unsupported_generator_is_named(tmp_path):
    program(tmp_path, '/usr/bin/booster')
    with pytest.raises(KmodError) as refused:
        require(str(tmp_path))
    assert refused.value.msg == ('initramfs generator booster (/usr/bin/booster) is not supported; supported: '
                                 'initramfs-tools, dracut, mkinitcpio')
