"""module_blacklist's kernel command line on a host that boots through GRUB's configuration.

A VM of its own, booted with boot_loader='grub': the harness plays GRUB's menu, booting the kernel, initrd and
command line of the first entry of the guest's /boot/grub/grub.cfg, which the guest's own update-grub writes
(the image has grub2-common and a /etc/default/grub, no boot sector: qemu is handed the files GRUB would load).
So the role sees BOOT_IMAGE= on /proc/cmdline, takes its update-grub path for real, and the next boot shows
whether the drop-in reached the kernel.

- The role with module_blacklist_kernel_cmdline, pcspkr loaded and left loaded (unload false), reboot allowed:
  the drop-in is written, update-grub runs before the reboot handler, and the kernel boots with
  modprobe.blacklist=pcspkr; pcspkr is not loaded after that boot. A second run changes nothing.
- state absent with update-grub failing (made not executable): the drop-in is gone, the task fails; with
  update-grub back, a rerun regenerates grub.cfg although the drop-in has nothing left to change (grub.cfg is
  older than /etc/default/grub.d), and grub.cfg no longer has the argument; a third run changes nothing.
"""

import pytest

pytestmark = pytest.mark.vm

from tests.vm.ansible_run import run_playbook  # noqa: E402
from tests.vm.vm import VM  # noqa: E402

DROP_IN = '/etc/default/grub.d/kernel-kmod-blacklist.cfg'

PLAYBOOK = '''
- name: module_blacklist on a host booted through GRUB
  hosts: all
  gather_facts: false
  roles:
    - role: kernel.kmod.module_blacklist
      vars:
        module_blacklist_list:
          - name: pcspkr
            state: {state}
        module_blacklist_kernel_cmdline: true
        module_blacklist_unload: false
        module_blacklist_reboot_ok: true
'''


@pytest.fixture(scope='module')
def grub_vm():
    machine = VM(boot_loader='grub')
    machine.start()
    try:
        yield machine
    finally:
        machine.stop()


def _one(play, suffix):
    found = [t for t in play.tasks if t['task'].endswith(suffix)]
    assert len(found) == 1, (suffix, [t['task'] for t in play.tasks])
    return found[0]


def _sh(vm, command):
    rc, out, err = vm.ssh(command)
    assert rc == 0, (command, out, err)
    return out


def test_the_blacklist_reaches_the_kernel_command_line_through_update_grub(grub_vm):
    vm = grub_vm
    cmdline = _sh(vm, 'cat /proc/cmdline')
    assert cmdline.startswith('BOOT_IMAGE=/boot/vmlinuz-') and 'modprobe.blacklist' not in cmdline
    # an installed system has a grub.cfg; this one gets its first from its own update-grub
    _sh(vm, 'update-grub 2>&1 && modprobe pcspkr && test -d /sys/module/pcspkr')
    assert 'modprobe.blacklist' not in _sh(vm, 'cat /boot/grub/grub.cfg')

    before = vm.boot_id()
    play = run_playbook(vm, PLAYBOOK.format(state='present'))
    assert play.rc == 0, play.stdout + play.stderr
    assert _one(play, 'Write the GRUB drop-in with modprobe.blacklist=')['status'] == 'changed'
    assert _one(play, 'Update the GRUB configuration')['status'] == 'changed'
    assert _one(play, 'Reboot for the blacklist (module_blacklist)')['status'] == 'changed'
    assert play.tasks.index(_one(play, 'Update the GRUB configuration')) < play.tasks.index(
        _one(play, 'Reboot for the blacklist (module_blacklist)'))

    vm.settle()
    assert vm.boot_id() != before
    cmdline = _sh(vm, 'cat /proc/cmdline')
    assert cmdline.startswith('BOOT_IMAGE=/boot/vmlinuz-'), cmdline
    assert 'modprobe.blacklist=pcspkr' in cmdline.split(), cmdline
    assert 'console=ttyS0' in cmdline.split()
    assert _sh(vm, 'test -d /sys/module/pcspkr && echo loaded || echo absent').strip() == 'absent'

    again = run_playbook(vm, PLAYBOOK.format(state='present'))
    assert again.rc == 0, again.stdout + again.stderr
    assert not again.changed, [t['task'] for t in again.tasks if t['changed']]

    _sh(vm, 'chmod -x /usr/sbin/update-grub')
    try:
        failed = run_playbook(vm, PLAYBOOK.format(state='absent'))
    finally:
        _sh(vm, 'chmod +x /usr/sbin/update-grub')
    assert failed.rc != 0
    assert _one(failed, 'Remove the GRUB drop-in (no module left)')['status'] == 'changed'
    assert _one(failed, 'Update the GRUB configuration')['status'] == 'failed'
    assert _sh(vm, 'test -e %s && echo present || echo gone' % DROP_IN).strip() == 'gone'
    assert 'modprobe.blacklist=pcspkr' in _sh(vm, 'cat /boot/grub/grub.cfg')

    gone = run_playbook(vm, PLAYBOOK.format(state='absent'))
    assert gone.rc == 0, gone.stdout + gone.stderr
    assert _one(gone, 'Remove the GRUB drop-in (no module left)')['status'] == 'ok'
    assert _one(gone, 'Update the GRUB configuration')['status'] == 'changed'
    assert 'modprobe.blacklist' not in _sh(vm, 'cat /boot/grub/grub.cfg')
    settled = run_playbook(vm, PLAYBOOK.format(state='absent'))
    assert settled.rc == 0 and not settled.changed, [t['task'] for t in settled.tasks if t['changed']]
