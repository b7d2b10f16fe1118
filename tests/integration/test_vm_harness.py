"""The VM harness itself: boot, ssh, the image's kernel, module load/unload, Ansible, reboot."""

import re

import pytest

from tests.vm.ansible_run import run_module, run_playbook

pytestmark = pytest.mark.vm


def loaded_modules(vm):
    rc, out, err = vm.ssh('cat /proc/modules')
    assert rc == 0, err
    return set(line.split()[0] for line in out.splitlines())


def test_ssh_runs_commands_and_reports_exit_codes(vm):
    assert vm.ssh('echo hello; echo oops >&2') == (0, 'hello\n', 'oops\n')
    assert vm.ssh('exit 7')[0] == 7
    assert vm.ssh(['printf', '%s', "it's; $(not run)"]) == (0, "it's; $(not run)", '')


def test_guest_runs_the_image_kernel(vm):
    rc, out, err = vm.ssh('uname -r')
    assert rc == 0
    assert out.strip() == vm.image.kernel_release
    assert re.match(r'^\d+\.\d+\.\d+-\d+-amd64$', vm.image.kernel_release)


def test_modprobe_loads_and_removes_dummy(vm):
    vm.ssh('modprobe -r dummy')
    assert 'dummy' not in loaded_modules(vm)
    rc, out, err = vm.ssh('modprobe dummy')
    assert rc == 0, err
    rc, out, err = vm.ssh('lsmod')
    assert rc == 0
    assert re.search(r'^dummy\s+\d+\s+0', out, re.M), out
    assert 'dummy' in loaded_modules(vm)
    rc, out, err = vm.ssh('modprobe -r dummy')
    assert rc == 0, err
    assert 'dummy' not in loaded_modules(vm)


def test_ansible_adhoc_command_through_inventory(vm):
    result = run_module(vm, 'ansible.builtin.command', {'argv': ['cat', '/etc/hostname']})
    assert result['_status'] == 'changed'
    assert result['rc'] == 0
    assert result['stdout'] == 'kmod-test'


def test_ansible_playbook_results_are_parsed(vm):
    play = '''
- name: Harness round trip
  hosts: all
  gather_facts: false
  tasks:
    - name: Read the kernel release
      ansible.builtin.command: uname -r
      changed_when: false
      register: release
    - name: Show it
      ansible.builtin.debug:
        msg: "release={{ release.stdout }} extra={{ extra_value }}"
'''
    result = run_playbook(vm, play, extra_vars={'extra_value': 'x1'})
    assert result.rc == 0, result.stdout + result.stderr
    assert [(t['task'], t['status']) for t in result.tasks] == [
        ('Read the kernel release', 'ok'), ('Show it', 'ok')]
    assert result.task('Read the kernel release')['result']['stdout'] == vm.image.kernel_release
    assert result.task('Show it')['result']['msg'] == 'release=%s extra=x1' % vm.image.kernel_release
    assert result.stats['kmodvm']['failures'] == 0


def test_ansible_failure_is_reported(vm):
    result = run_module(vm, 'ansible.builtin.command', {'argv': ['false']})
    assert result['_status'] == 'failed'
    assert result['rc'] == 1


def test_reboot_changes_boot_id_and_keeps_the_disk(vm):
    marker = '/root/kmod-harness-marker'
    assert vm.ssh('echo kept > %s && sync' % marker)[0] == 0
    # The next boot must use the guest's own initrd, as its boot loader would: change
    # it (NUL padding between initramfs archives is skipped by the kernel) and compare.
    initrd = '/boot/initrd.img-%s' % vm.image.kernel_release
    assert vm.ssh('head -c 512 /dev/zero >> %s && sync' % initrd)[0] == 0
    rc, guest_sum, err = vm.ssh('sha256sum %s' % initrd)
    assert rc == 0, err
    assert guest_sum.split()[0] != vm.booted_initrd_sha256()
    before = vm.boot_id()
    after = vm.reboot()
    assert after != before
    assert re.match(r'^[0-9a-f-]{36}$', after)
    assert vm.boot_id() == after
    assert vm.ssh('cat %s' % marker) == (0, 'kept\n', '')
    assert vm.booted_initrd_sha256() == guest_sum.split()[0]
    rc, out, err = vm.ssh('uname -r')
    assert rc == 0, err
    assert out.strip() == vm.image.kernel_release


def test_ansible_reboot_module_works(vm):
    before = vm.boot_id()
    result = run_module(vm, 'ansible.builtin.reboot', {'reboot_timeout': 600})
    assert result['_status'] == 'changed', result
    assert result['rebooted'] is True
    assert vm.boot_id() != before
