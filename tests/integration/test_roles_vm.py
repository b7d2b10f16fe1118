"""The two roles in one play on a real kernel: their handlers share the topics `kernel.kmod initramfs` and
`kernel.kmod reboot`, so the initramfs is rebuilt once and the host reboots once, although both roles changed
files and both need a reboot.

The set-up loads brd with rd_nr=1 and holds /dev/ram0 open (persistent_modules cannot apply rd_nr=2 now, so it
needs a reboot) and makes sure pcspkr is loaded; module_blacklist runs with unload false (pcspkr stays loaded:
it needs a reboot too). Both roles may reboot. After the play brd has rd_nr=2 and pcspkr is not loaded (the
blacklist is in the rebuilt initramfs), and both facts say no reboot is needed. The restore puts the initramfs
and the files back as they were, without another rebuild.
"""

import pytest

pytestmark = pytest.mark.vm

from tests.vm.ansible_run import run_playbook  # noqa: E402

FILES = ['/etc/modprobe.d/brd.conf', '/etc/modules-load.d/brd.conf', '/etc/modprobe.d/kernel-kmod-blacklist.conf']

SETUP = r'''set -eu
systemctl is-system-running --wait >/dev/null || true
udevadm settle --timeout=120
rm -f {files}
image=/boot/initrd.img-$(uname -r)
cp -p "$image" /root/initrd.before-roles-test
modprobe -r brd 2>/dev/null || true
modprobe brd rd_nr=1
setsid sh -c 'exec sleep 100000 < /dev/ram0' > /dev/null 2>&1 &
echo $! > /run/kmod-brd-holder.pid
modprobe pcspkr
sleep 1
test "$(cat /sys/module/brd/refcnt)" -ge 1
'''.format(files=' '.join(FILES))

RESTORE = r'''rm -f {files}
[ -e /run/kmod-brd-holder.pid ] && kill "$(cat /run/kmod-brd-holder.pid)" 2>/dev/null; rm -f /run/kmod-brd-holder.pid
modprobe -r brd || true
cp -p /root/initrd.before-roles-test /boot/initrd.img-$(uname -r) && rm -f /root/initrd.before-roles-test
modprobe pcspkr || true
'''.format(files=' '.join(FILES))

PLAYBOOK = '''
- name: Both roles of kernel.kmod in one play
  hosts: all
  gather_facts: false
  roles:
    - role: kernel.kmod.persistent_modules
      vars:
        persistent_modules_list:
          - name: brd
            params:
              rd_nr: 2
        persistent_modules_reboot_ok: true
    - role: kernel.kmod.module_blacklist
      vars:
        module_blacklist_list:
          - name: pcspkr
        module_blacklist_unload: false
        module_blacklist_reboot_ok: true
  post_tasks:
    - name: Report the facts after the handlers
      ansible.builtin.debug:
        msg:
          persistent_modules: "{{ persistent_modules_reboot_required }}"
          module_blacklist: "{{ module_blacklist_reboot_required }}"
'''


def _one(play, suffix):
    found = [t for t in play.tasks if t['task'].endswith(suffix)]
    assert len(found) == 1, (suffix, [t['task'] for t in play.tasks])
    return found[0]


def test_both_roles_rebuild_the_initramfs_once_and_reboot_once(vm):
    rc, out, err = vm.ssh(SETUP)
    assert rc == 0, err
    try:
        before = vm.boot_id()
        play = run_playbook(vm, PLAYBOOK)
        assert play.rc == 0, play.stdout + play.stderr
        # each role asked for a reboot, the first because brd is held, the second because pcspkr stays loaded
        assert _one(play, 'persistent_modules : Report the reboot needed')['status'] == 'changed'
        assert _one(play, 'module_blacklist : Report the reboot needed')['status'] == 'changed'
        # one rebuild: the first handler rebuilt everything stale, the second found the image current
        first = _one(play, 'Check the initramfs and rebuild it if stale (persistent_modules)')
        second = _one(play, 'Check the initramfs and rebuild it if stale (module_blacklist)')
        assert first['status'] == 'changed' and first['result']['rebuilt']
        assert second['status'] == 'ok' and not second['result']['rebuilt']
        # one reboot: the second role's reboot handler sees the first one's
        assert _one(play, 'Reboot for the modules\' parameters (persistent_modules)')['status'] == 'changed'
        assert _one(play, 'Reboot for the blacklist (module_blacklist)')['status'] == 'skipped'
        assert _one(play, 'Report the facts after the handlers')['result']['msg'] == {
            'persistent_modules': False, 'module_blacklist': False}
        vm.settle()
        assert vm.boot_id() != before
        rc, out, err = vm.ssh('cat /sys/module/brd/parameters/rd_nr; test -d /sys/module/pcspkr && echo pcspkr-loaded')
        assert out.split() == ['2'], (out, err)
    finally:
        vm.ssh(RESTORE)
