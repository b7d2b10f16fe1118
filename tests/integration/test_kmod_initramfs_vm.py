"""kernel.kmod.kmod_initramfs on the VM's real initramfs-tools image, across two reboots.

The set-up saves the image.  The playbook checks that the image is current,
blacklists pcspkr and disables floppy with kmod_blacklist (initramfs_stale),
runs kmod_initramfs in check mode (stale, the new file as the reason; the
image's hash and mtime unchanged), then for real, then again (no change),
and reads the rebuilt image back with lsinitramfs and unmkinitramfs.  A
script with the project's own reader reads the new file out of the image.
Then the guest reboots on the image it rebuilt (the harness boots the
guest's own /boot/initrd.img): udev no longer loads pcspkr, and
`modprobe floppy` fails.  A second playbook undoes both with state: absent
and rebuilds (the file removed is the reason); after a second reboot udev
loads both again.  The restore puts the saved image and the modprobe.d
directory back whatever failed.
"""

import json

import pytest

from tests.lib.library_payload import guest_script
from tests.vm.ansible_run import run_playbook

pytestmark = pytest.mark.vm

OWN = '/etc/modprobe.d/kernel-kmod-blacklist.conf'
SAVED = '/root/kmod-initramfs-saved.img'

SETUP = r'''set -eu
rm -f {own}
cp -p /boot/initrd.img-$(uname -r) {saved}
'''.format(own=OWN, saved=SAVED)

RESTORE = r'''rm -f {own}
if test -e {saved}; then mv {saved} /boot/initrd.img-$(uname -r); fi
'''.format(own=OWN, saved=SAVED)

PLAYBOOK = '''
- name: kmod_initramfs on the VM
  hosts: all
  gather_facts: false
  tasks:
    - name: Image before anything
      kernel.kmod.kmod_initramfs:
      check_mode: true
    - name: Blacklist pcspkr
      kernel.kmod.kmod_blacklist:
        name: pcspkr
    - name: Disable floppy
      kernel.kmod.kmod_blacklist:
        name: floppy
        disable: true
    - name: Hash and mtime before check mode
      ansible.builtin.shell: sha256sum /boot/initrd.img-$(uname -r); stat -c %Y /boot/initrd.img-$(uname -r)
      changed_when: false
    - name: Rebuild in check mode
      kernel.kmod.kmod_initramfs:
      check_mode: true
    - name: Hash and mtime after check mode
      ansible.builtin.shell: sha256sum /boot/initrd.img-$(uname -r); stat -c %Y /boot/initrd.img-$(uname -r)
      changed_when: false
    - name: Rebuild
      kernel.kmod.kmod_initramfs:
    - name: Rebuild again
      kernel.kmod.kmod_initramfs:
    - name: Read back with lsinitramfs and unmkinitramfs
      ansible.builtin.shell: |
        set -e
        img=/boot/initrd.img-$(uname -r)
        lsinitramfs "$img" | grep -x 'etc/modprobe.d/kernel-kmod-blacklist.conf'
        d=$(mktemp -d)
        unmkinitramfs "$img" "$d"
        cat "$d/etc/modprobe.d/kernel-kmod-blacklist.conf" 2>/dev/null || cat "$d/main/etc/modprobe.d/kernel-kmod-blacklist.conf"
        rm -rf "$d"
      changed_when: false
'''

UNDO = '''
- name: kmod_blacklist state absent, then kmod_initramfs
  hosts: all
  gather_facts: false
  tasks:
    - name: Remove the blacklist and the disable
      kernel.kmod.kmod_blacklist:
        name: [pcspkr, floppy]
        state: absent
    - name: Rebuild after the removal
      kernel.kmod.kmod_initramfs:
'''

# What udev left loaded after a boot, and whether an explicit load of floppy works.
AFTER_BOOT = r'''for m in pcspkr floppy; do test -d /sys/module/$m && echo "$m loaded" || echo "$m not loaded"; done
modprobe floppy >/dev/null 2>&1 && echo "modprobe floppy ok" || echo "modprobe floppy failed"
sha256sum /boot/initrd.img-$(uname -r) | cut -d' ' -f1
'''

READER = r'''
import json, os
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.generators import detect
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.image import read_image
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.stale import image_copy
generator = detect('/')
release = os.uname()[2]
image = generator.image_path('/', release)
copy = image_copy('/', generator, image, '/etc/modprobe.d/kernel-kmod-blacklist.conf')
segments = sorted(set((s['index'], s['compression']) for s, e in read_image(image)))
print(json.dumps({'copy': copy.decode() if copy is not None else None, 'segments': segments}))
'''


@pytest.fixture(scope='module')
def run(vm):
    rc, out, err = vm.ssh(SETUP)
    assert rc == 0, out + err
    try:
        play = run_playbook(vm, PLAYBOOK)
        assert play.rc == 0, play.stdout + play.stderr
        rc, out, err = vm.ssh('python3 -', input=guest_script(READER))
        assert rc == 0, out + err
        reader = json.loads(out)
        boots = {}
        vm.reboot()
        boots['blacklisted'] = after_boot(vm)
        undo = run_playbook(vm, UNDO)
        assert undo.rc == 0, undo.stdout + undo.stderr
        vm.reboot()
        boots['undone'] = after_boot(vm)
        yield play, reader, boots, undo
    finally:
        vm.ssh(RESTORE)


def after_boot(vm):
    rc, out, err = vm.ssh(AFTER_BOOT)
    assert rc == 0, out + err
    lines = out.splitlines()
    return {'lines': lines[:3], 'booted_guest_initrd': lines[3] == vm.booted_initrd_sha256()}


def test_current_image_is_not_stale(run):
    first = run[0].task('Image before anything')
    assert first['changed'] is False, first['result']['images']
    assert first['result']['generator'] == 'initramfs-tools'
    assert first['result']['images'][0]['stale'] is False
    assert run[0].task('Blacklist pcspkr')['result']['initramfs_stale'] is True


def test_check_mode_reports_and_runs_nothing(run):
    checked = run[0].task('Rebuild in check mode')
    assert checked['changed'] is True
    image = checked['result']['images'][0]
    assert image['stale'] is True and image['rebuilt'] is False and image['seconds'] is None
    assert image['reasons'] == [{'path': OWN, 'change': 'added', 'what': 'modprobe.d'}]
    assert image['command'] == ['/usr/sbin/update-initramfs', '-u', '-k', image['release']]
    assert run[0].task('Hash and mtime after check mode')['result']['stdout'] == \
        run[0].task('Hash and mtime before check mode')['result']['stdout']


def test_rebuilt_once_then_unchanged(run):
    rebuilt = run[0].task('Rebuild')
    assert rebuilt['changed'] is True and rebuilt['result']['images'][0]['rebuilt'] is True
    assert rebuilt['result']['images'][0]['seconds'] > 0
    again = run[0].task('Rebuild again')
    assert again['changed'] is False and again['result']['images'][0]['stale'] is False, again['result']


def test_rebuilt_image_holds_the_line(run):
    lines = run[0].task('Read back with lsinitramfs and unmkinitramfs')['result']['stdout'].splitlines()
    assert lines[0] == 'etc/modprobe.d/kernel-kmod-blacklist.conf'
    assert 'blacklist pcspkr' in lines[1:] and 'install floppy /bin/false' in lines[1:]
    copied = run[1]['copy'].splitlines()
    assert 'blacklist pcspkr' in copied and 'install floppy /bin/false' in copied
    # the VM has no microcode package: one gzip part (initramfs.conf asks for zstd, which is not installed)
    assert run[1]['segments'] == [[0, 'gzip']]


def test_reboot_boots_the_rebuilt_image_and_the_modules_stay_out(run):
    after = run[2]['blacklisted']
    assert after['booted_guest_initrd'] is True
    assert after['lines'] == ['pcspkr not loaded', 'floppy not loaded', 'modprobe floppy failed']


def test_absent_rebuilds_and_the_next_boot_loads_both_again(run):
    undo = run[3]
    assert undo.task('Remove the blacklist and the disable')['result']['initramfs_stale'] is True
    image = undo.task('Rebuild after the removal')['result']['images'][0]
    assert image['rebuilt'] is True
    assert image['reasons'] == [{'path': OWN, 'change': 'removed', 'what': 'modprobe.d'}]
    after = run[2]['undone']
    assert after['booted_guest_initrd'] is True
    assert after['lines'] == ['pcspkr loaded', 'floppy loaded', 'modprobe floppy ok']
