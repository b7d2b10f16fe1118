"""initramfs.task: judge, rebuild exactly the stale images, check mode runs nothing."""

import hashlib
import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.task import releases, run_task
from tests.lib.fake_initramfs import build_image
from tests.lib.fake_root import link, write

REL = '6.1.0-test'
OTHER = '6.1.0-old'


class Host(object):
    """A root with initramfs-tools whose fake generator writes a current image."""

    def __init__(self, tmp_path):
        self.root = str(tmp_path)
        write(self.root, '/usr/sbin/update-initramfs', '#!/bin/sh\n')
        os.chmod(self.path('/usr/sbin/update-initramfs'), 0o755)
        link(self.root, '/lib', 'usr/lib')
        for release in (REL, OTHER):
            write(self.root, '/usr/lib/modules/%s/kernel/a.ko' % release, 'ko')
        write(self.root, '/etc/modprobe.d/local.conf', 'blacklist pcspkr\n')
        write(self.root, '/proc/sys/kernel/osrelease', REL + '\n')
        self.ran = []
        for release in (REL, OTHER):
            self.generate(release)

    def path(self, inside):
        return os.path.join(self.root, inside.lstrip('/'))

    def generate(self, release):
        with open(self.path('/etc/modprobe.d/local.conf'), 'rb') as f:
            conf = f.read()
        files = [('etc/modprobe.d/local.conf', conf), ('usr/lib/modules/%s/kernel/a.ko' % release, b'ko')]
        write(self.root, '/boot/initrd.img-' + release, '')
        with open(self.path('/boot/initrd.img-' + release), 'wb') as f:
            f.write(build_image(files, 'gzip', early=True))

    def runner(self, argv):
        self.ran.append(argv)
        assert argv[0] == self.path('/usr/sbin/update-initramfs') and argv[1] in ('-u', '-c') and argv[2] == '-k'
        self.generate(argv[3])
        return 0, '', ''

    def run(self, check_mode=False, **options):
        return run_task(options, check_mode=check_mode, root=self.root, runner=self.runner)

    def digest(self, release=REL):
        path = self.path('/boot/initrd.img-' + release)
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mtime_ns


def test_current_images_are_left_alone(tmp_path):
    host = Host(tmp_path)
    result, warnings = host.run()
    assert result['changed'] is False and warnings == [] and host.ran == []
    assert result['generator'] == 'initramfs-tools' and result['program'] == '/usr/sbin/update-initramfs'
    assert [(i['release'], i['stale'], i['reasons']) for i in result['images']] == [(REL, False, [])]


def test_stale_image_rebuilt_once_and_check_mode_runs_nothing(tmp_path):
    host = Host(tmp_path)
    write(host.root, '/etc/modprobe.d/local.conf', 'blacklist pcspkr\nblacklist floppy\n')
    before = host.digest()
    checked, _warnings = host.run(check_mode=True, kernel_release=['all'])
    assert checked['changed'] is True and checked['rebuilt'] == [OTHER, REL] and host.ran == []
    assert host.digest() == before
    assert checked['images'][1]['reasons'] == [{'path': '/etc/modprobe.d/local.conf', 'change': 'differs',
                                                'what': 'modprobe.d'}]
    assert checked['images'][1]['command'] == ['/usr/sbin/update-initramfs', '-u', '-k', REL]
    done, _warnings = host.run(kernel_release=[REL])
    assert done['changed'] is True and done['rebuilt'] == [REL] and done['images'][0]['rebuilt'] is True
    assert isinstance(done['images'][0]['seconds'], float) and len(host.ran) == 1
    again, _warnings = host.run(kernel_release=[REL])
    assert again['changed'] is False and len(host.ran) == 1
    # the other release is still stale
    assert host.run(check_mode=True, kernel_release=[OTHER])[0]['rebuilt'] == [OTHER]


def test_state_rebuilt_always_rebuilds_and_missing_image_is_created(tmp_path):
    host = Host(tmp_path)
    result, _warnings = host.run(state='rebuilt')
    assert result['changed'] is True and host.ran == [[host.path('/usr/sbin/update-initramfs'), '-u', '-k', REL]]
    os.unlink(host.path('/boot/initrd.img-' + OTHER))
    created, _warnings = host.run(kernel_release=[OTHER])
    assert created['images'][0]['reasons'][0]['what'] == 'image' and host.ran[-1][1] == '-c'


def test_failures(tmp_path):
    host = Host(tmp_path)
    with pytest.raises(KmodError) as bad:
        host.run(kernel_release=['../etc'])
    assert 'is not a kernel release name' in bad.value.msg
    with pytest.raises(KmodError) as missing:
        host.run(kernel_release=['5.0-none'])
    assert 'no module directory for kernel release 5.0-none' in missing.value.msg
    with pytest.raises(KmodError):
        host.run(state='sometimes')
    write(host.root, '/etc/modprobe.d/local.conf', 'changed\n')
    with pytest.raises(KmodError) as failed:
        run_task({}, root=host.root, runner=lambda argv: (1, '', 'E: out of space\n'))
    details = failed.value.fail_kwargs()
    assert details['msg'] == '/usr/sbin/update-initramfs -u -k %s failed for kernel %s (exit status 1): E: out of space' % (REL, REL)
    assert details['changed'] is False and details['stderr'] == 'E: out of space\n'


def test_no_generator(tmp_path):
    with pytest.raises(KmodError) as none:
        run_task({}, root=str(tmp_path))
    assert none.value.msg.startswith('no initramfs generator found')


def test_release_selection(tmp_path):
    host = Host(tmp_path)
    assert releases(None, host.root, REL) == [REL]
    assert releases(['all'], host.root, REL) == [OTHER, REL]
    assert releases([REL, REL], host.root, None) == [REL]
    with pytest.raises(KmodError):
        releases(None, host.root, None)


def test_a_fake_generator_program_runs_without_a_shell_and_with_a_fixed_path(tmp_path):
    host = Host(tmp_path)
    image = host.path('/boot/initrd.img-%s' % REL)
    # what the generator would build now, kept aside; the image on disk still holds the old file
    write(host.root, '/etc/modprobe.d/local.conf', 'blacklist floppy\n')
    host.generate(REL)
    os.rename(image, host.path('/fresh.img'))
    with open(image, 'wb') as f:
        f.write(build_image([('etc/modprobe.d/local.conf', b'blacklist pcspkr\n')], 'gzip'))
    # the program puts the fresh image in place and logs its PATH and arguments
    write(host.root, '/usr/sbin/update-initramfs', '#!/bin/sh\necho "$PATH $*" > "%s"\ncp "%s" "%s"\n'
          % (host.path('/ran'), host.path('/fresh.img'), image))
    result, _warnings = run_task({}, root=host.root)
    assert result['changed'] is True and result['images'][0]['rebuilt'] is True
    with open(host.path('/ran')) as f:
        assert f.read() == '/usr/sbin:/usr/bin:/sbin:/bin -u -k %s\n' % REL
    again, _warnings = run_task({}, root=host.root)
    assert again['changed'] is False


def test_release_names():
    from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.task import check_release
    assert check_release('6.1.0-18-amd64') == '6.1.0-18-amd64' and check_release('5.15.0+rt~1') == '5.15.0+rt~1'
    for bad in ('', '.', '..', '-x', '../x', 'a/b', 'a b', '6.1\n', 'é', None):
        with pytest.raises(KmodError):
            check_release(bad)
