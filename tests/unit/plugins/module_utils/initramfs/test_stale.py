"""initramfs.stale: images built by the tests against fake roots, for each generator."""

import os

from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.generators import detect
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.stale import (
    compare, driver_settings, image_copy, parse_module_list,
)
from tests.lib.fake_initramfs import build_image
from tests.lib.fake_root import link, write

REL = '6.1.0-test'
KO = b'\x7fELF module bytes'


def host(tmp_path, generator='update-initramfs'):
    root = str(tmp_path)
    write(root, '/usr/sbin/' + generator, '#!/bin/sh\n')
    os.chmod(os.path.join(root, 'usr/sbin', generator), 0o755)
    link(root, '/lib', 'usr/lib')
    write(root, '/usr/lib/modules/%s/kernel/a.ko' % REL, '')
    with open(os.path.join(root, 'usr/lib/modules', REL, 'kernel/a.ko'), 'wb') as f:
        f.write(KO)
    write(root, '/usr/lib/modprobe.d/systemd.conf', 'options dummy numdummies=0\n')
    write(root, '/etc/modprobe.d/local.conf', 'blacklist pcspkr\n')
    return root


def image(root, files, path='/boot/initrd.img-%s' % REL, compression='gzip'):
    write(root, path, '')
    with open(os.path.join(root, path.lstrip('/')), 'wb') as f:
        f.write(build_image(files, compression, early=True))


CURRENT = [('etc/modprobe.d', None), ('etc/modprobe.d/local.conf', b'blacklist pcspkr\n'),
           ('usr/lib/modprobe.d/systemd.conf', b'options dummy numdummies=0\n'),
           ('usr/lib/modules/%s/kernel/a.ko' % REL, KO)]


def reasons(root, module_dir=None):
    generator = detect(root)
    module_dir = module_dir or os.path.join(root, 'usr/lib/modules', REL)
    return [(r.path, r.change, r.what) for r in compare(root, generator, REL, generator.image_path(root, REL), module_dir)]


def test_current_image_is_not_stale(tmp_path):
    root = host(tmp_path)
    image(root, CURRENT)
    assert reasons(root) == []


def test_missing_image_is_stale(tmp_path):
    assert reasons(host(tmp_path)) == [('/boot/initrd.img-%s' % REL, 'added', 'image')]


def test_modprobe_d_added_removed_differing(tmp_path):
    root = host(tmp_path)
    image(root, CURRENT[:3] + [('usr/lib/modprobe.d/old.conf', b'x\n'), CURRENT[3]])
    write(root, '/etc/modprobe.d/local.conf', 'blacklist pcspkr\nblacklist floppy\n')
    write(root, '/etc/modprobe.d/new.conf', 'x\n')
    write(root, '/etc/modprobe.d/notes.txt', 'not read by modprobe\n')
    assert reasons(root) == [('/etc/modprobe.d/local.conf', 'differs', 'modprobe.d'),
                             ('/etc/modprobe.d/new.conf', 'added', 'modprobe.d'),
                             ('/usr/lib/modprobe.d/old.conf', 'removed', 'modprobe.d')]


def test_module_files_changed_or_gone(tmp_path):
    root = host(tmp_path)
    image(root, CURRENT + [('usr/lib/modules/%s/kernel/gone.ko' % REL, b'x'),
                           ('usr/lib/modules/other/kernel/b.ko', b'other release')])
    with open(os.path.join(root, 'usr/lib/modules', REL, 'kernel/a.ko'), 'ab') as f:
        f.write(b'rebuilt')
    assert reasons(root) == [('usr/lib/modules/%s/kernel/a.ko' % REL, 'differs', 'module'),
                             ('usr/lib/modules/%s/kernel/gone.ko' % REL, 'removed', 'module')]


def test_many_module_files_compared_in_image_order(tmp_path):
    # more files than the comparing thread's queue holds; same sizes, so each is read and compared
    root = host(tmp_path)
    files = list(CURRENT)
    for i in range(100):
        rel = 'kernel/m%03d.ko' % i
        with open(os.path.join(root, 'usr/lib/modules', REL, rel), 'wb') as f:
            f.write(b'module %03d' % i)
        files.append(('usr/lib/modules/%s/%s' % (REL, rel), (b'MODULE %03d' if i % 40 == 7 else b'module %03d') % i))
    image(root, files + [('usr/lib/modules/%s/kernel/gone.ko' % REL, b'x')])
    assert reasons(root) == [('usr/lib/modules/%s/kernel/m%03d.ko' % (REL, i), 'differs', 'module')
                             for i in (7, 47, 87)] + [('usr/lib/modules/%s/kernel/gone.ko' % REL, 'removed', 'module')]


def test_initramfs_tools_module_list(tmp_path):
    root = host(tmp_path)
    image(root, CURRENT + [('conf/modules', b'dummy numdummies=2\nold \n')])
    write(root, '/etc/initramfs-tools/modules', '# list\n\ndummy   numdummies=2 \n  floppy\n')
    assert reasons(root) == [('/etc/initramfs-tools/modules: floppy ', 'added', 'module list'),
                             ('conf/modules: old ', 'removed', 'module list')]
    assert parse_module_list(b'#c\n a  b  c\n\n') == [('a', 'b  c')]


def test_dracut_drivers(tmp_path):
    root = host(tmp_path, 'dracut')
    image(root, CURRENT, path='/boot/initramfs-%s.img' % REL)
    write(root, '/etc/dracut.conf.d/a.conf', 'add_drivers+=" a dummy "\nomit_drivers+="b-c" # no\n')
    # dracut copies /etc/modprobe.d only: the /usr/lib file of the image is not compared; a.ko is in it
    assert reasons(root) == [('add_drivers dummy', 'added', 'module list')]
    assert driver_settings(root, ['/etc/dracut.conf.d']) == {'add_drivers': ['a', 'dummy'], 'omit_drivers': ['b_c']}


def test_mkinitcpio_modules(tmp_path):
    root = str(tmp_path)
    write(root, '/etc/mkinitcpio.conf', 'MODULES=(a vfat?)\nMODULES+=(c)\n')
    assert driver_settings(root, ['/etc/mkinitcpio.conf']) == {'MODULES': ['a', 'vfat', 'c']}


def test_image_copy(tmp_path):
    root = host(tmp_path)
    image(root, CURRENT)
    generator = detect(root)
    img = generator.image_path(root, REL)
    assert image_copy(root, generator, img, '/lib/modprobe.d/systemd.conf') == b'options dummy numdummies=0\n'
    assert image_copy(root, generator, img, '/etc/modprobe.d/none.conf') is None


def test_module_file_names():
    from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.stale import module_file
    assert module_file('usr/lib/modules/6.1/kernel/a.ko') == ('6.1', 'kernel/a.ko')
    assert module_file('lib/modules/6.1/extra/b.ko.zst') == ('6.1', 'extra/b.ko.zst')
    for other in ('usr/lib/modules/6.1/modules.dep', 'usr/lib/modules/6.1', 'usr/lib/modules//a.ko', 'etc/a.ko',
                  'usr/lib/modules/6.1/a.ko.bz2'):
        assert module_file(other) is None
