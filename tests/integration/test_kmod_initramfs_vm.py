"""kernel.kmod.kmod_initramfs on the VM's real initramfs-tools image: one rebuild, after a blacklist change.

The set-up saves the image.  The playbook checks that the image is current,
blacklists pcspkr with kmod_blacklist (initramfs_stale), runs
kmod_initramfs in check mode (stale, the new file as the reason; the
image's hash and mtime unchanged), then for real (the one rebuild of the
suite), then again (no change), and reads the rebuilt image back with
lsinitramfs and unmkinitramfs.  A script with the project's own reader
reads the new file out of the image.  The restore puts the saved image and
the modprobe.d directory back, so no second rebuild is needed.
"""

import json

import pytest

from tests.lib.library_payload import library_payload
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

READER = r'''
import base64, io, json, os, sys, tarfile, tempfile
top = tempfile.mkdtemp(prefix='kinitramfs-')
base = os.path.join(top, 'ansible_collections', 'kernel', 'kmod', 'plugins', 'module_utils')
os.makedirs(base)
for d in ('ansible_collections', 'ansible_collections/kernel', 'ansible_collections/kernel/kmod',
          'ansible_collections/kernel/kmod/plugins'):
    open(os.path.join(top, d, '__init__.py'), 'w').close()
tarfile.open(fileobj=io.BytesIO(base64.b64decode(PAYLOAD)), mode='r:gz').extractall(base)
sys.path.insert(0, top)
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
        rc, out, err = vm.ssh('python3 -', input='PAYLOAD = %r\n' % library_payload() + READER)
        assert rc == 0, out + err
        yield play, json.loads(out)
    finally:
        vm.ssh(RESTORE)


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
    assert lines[-1] == 'blacklist pcspkr'
    assert run[1]['copy'].endswith('\nblacklist pcspkr\n')
    # the VM has no microcode package: one gzip part (initramfs.conf asks for zstd, which is not installed)
    assert run[1]['segments'] == [[0, 'gzip']]
