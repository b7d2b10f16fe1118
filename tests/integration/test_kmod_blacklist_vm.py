"""kernel.kmod.kmod_blacklist on a real kernel, in one playbook run without a reboot.

The set-up makes sure pcspkr and floppy are loaded (udev loads both at boot
on this VM) and that neither test file exists.  The playbook blacklists
pcspkr (check mode with diff first, then for real, then again), proves that
the alias lookup udev makes (modprobe platform:pcspkr) no longer loads it
while modprobe pcspkr still does; disables floppy with unload: true and
proves modprobe floppy fails; edits a user's own file with comments and
blanks and restores it byte for byte; then removes everything with
state: absent and proves floppy loads again.  The restore always runs.
"""

import pytest

pytestmark = pytest.mark.vm

from tests.vm.ansible_run import run_playbook  # noqa: E402

OWN = '/etc/modprobe.d/kernel-kmod-blacklist.conf'
USER_FILE = '/etc/modprobe.d/local-kmod-test.conf'
USER_TEXT = '# my settings\\n\\n  # indented comment\\noptions snd_hda_intel power_save=1\\nblacklist  nouveau\\n'

SETUP = r'''set -eu
udevadm settle --timeout=120
rm -f {own} {user}
modprobe pcspkr
modprobe floppy
printf '{text}' > {user}
'''.format(own=OWN, user=USER_FILE, text=USER_TEXT)

RESTORE = r'''rm -f {own} {user}
modprobe pcspkr || true
modprobe floppy || true
'''.format(own=OWN, user=USER_FILE)

PLAYBOOK = '''
- name: kmod_blacklist on the VM
  hosts: all
  gather_facts: false
  tasks:
    - name: Blacklist pcspkr in check mode
      kernel.kmod.kmod_blacklist:
        name: pcspkr
      check_mode: true
      diff: true
    - name: Our file after check mode
      ansible.builtin.shell: test -e {own} && echo exists || echo absent
      changed_when: false
    - name: Blacklist pcspkr
      kernel.kmod.kmod_blacklist:
        name: pcspkr
      diff: true
    - name: Blacklist pcspkr again
      kernel.kmod.kmod_blacklist:
        name: pcspkr
    - name: Alias lookup and name lookup of pcspkr
      ansible.builtin.shell: |
        stat -c %a {own}
        modprobe -c | grep -x 'blacklist pcspkr'
        modprobe -r pcspkr
        modprobe platform:pcspkr; echo "alias rc=$?"
        test -e /sys/module/pcspkr && echo loaded || echo unloaded
        modprobe pcspkr; echo "name rc=$?"
        test -e /sys/module/pcspkr && echo loaded || echo unloaded
      changed_when: false
    - name: Disable floppy and unload it
      kernel.kmod.kmod_blacklist:
        name: floppy
        disable: true
        unload: true
    - name: Disable floppy again
      kernel.kmod.kmod_blacklist:
        name: floppy
        disable: true
        unload: true
    - name: Try modprobe floppy
      ansible.builtin.shell: |
        test -e /sys/module/floppy && echo loaded || echo unloaded
        modprobe floppy; echo "rc=$?"
        test -e /sys/module/floppy && echo loaded || echo unloaded
      changed_when: false
    - name: Checksum of the user file
      ansible.builtin.command: sha256sum {user}
      changed_when: false
      register: before
    - name: Blacklist dummy in the user file
      kernel.kmod.kmod_blacklist:
        name: dummy
        blacklist_file: {user}
      diff: true
    - name: The user file with dummy
      ansible.builtin.command: cat {user}
      changed_when: false
    - name: Remove dummy from the user file
      kernel.kmod.kmod_blacklist:
        name: dummy
        state: absent
        path: {user}
    - name: Checksum of the user file after
      ansible.builtin.command: sha256sum {user}
      changed_when: false
    - name: Remove the blacklists
      kernel.kmod.kmod_blacklist:
        name: [pcspkr, floppy]
        state: absent
    - name: After removal
      ansible.builtin.shell: |
        test -e {own} && echo exists || echo absent
        modprobe floppy; echo "rc=$?"
        test -e /sys/module/floppy && echo loaded || echo unloaded
      changed_when: false
'''.format(own=OWN, user=USER_FILE)


@pytest.fixture(scope='module')
def run(vm):
    rc, out, err = vm.ssh(SETUP)
    assert rc == 0, out + err
    try:
        play = run_playbook(vm, PLAYBOOK)
        assert play.rc == 0, play.stdout + play.stderr
        yield play
    finally:
        vm.ssh(RESTORE)


def lines(task):
    return task['result']['stdout'].splitlines()


def warnings(task):
    return [w if isinstance(w, str) else w['event']['msg'] for w in task['result'].get('warnings', [])]


def test_check_mode_writes_nothing(run):
    checked = run.task('Blacklist pcspkr in check mode')
    assert checked['changed'] is True and checked['result']['file'] == 'create'
    assert checked['result']['diff'][0]['after'].endswith('\nblacklist pcspkr\n')
    assert lines(run.task('Our file after check mode')) == ['absent']


def test_blacklist_written_once_and_reported(run):
    done = run.task('Blacklist pcspkr')
    assert done['changed'] is True and done['result']['file'] == 'create'
    # Debian's initramfs copies /etc/modprobe.d: the image does not have the new line yet
    assert done['result']['initramfs_stale'] is True
    assert done['result']['still_loaded'] == ['pcspkr']
    assert any(w.startswith('pcspkr is still loaded') for w in warnings(done))
    again = run.task('Blacklist pcspkr again')
    assert again['changed'] is False and again['result']['initramfs_stale'] is False


def test_blacklist_stops_the_alias_lookup_only(run):
    out = lines(run.task('Alias lookup and name lookup of pcspkr'))
    assert out[0] == '644' and out[1] == 'blacklist pcspkr'
    assert out[2:] == ['alias rc=0', 'unloaded', 'name rc=0', 'loaded']


def test_disable_and_unload(run):
    done = run.task('Disable floppy and unload it')
    assert done['changed'] is True and done['result']['deleted'] == ['floppy']
    assert done['result']['still_loaded'] == []
    again = run.task('Disable floppy again')
    assert again['changed'] is False and again['result']['deleted'] == []
    out = lines(run.task('Try modprobe floppy'))
    assert out[0] == 'unloaded' and out[1] == 'rc=1' and out[2] == 'unloaded'


def test_user_file_keeps_every_other_line(run):
    added = run.task('Blacklist dummy in the user file')
    assert added['changed'] is True and added['result']['file'] == 'update'
    original = USER_TEXT.replace('\\n', '\n')
    assert run.task('The user file with dummy')['result']['stdout'] + '\n' == original + 'blacklist dummy\n'
    assert run.task('Remove dummy from the user file')['changed'] is True
    assert run.task('Checksum of the user file after')['result']['stdout'] == \
        run.task('Checksum of the user file')['result']['stdout']


def test_absent_undoes_it(run):
    removed = run.task('Remove the blacklists')
    assert removed['changed'] is True and removed['result']['file'] == 'remove'
    assert lines(run.task('After removal')) == ['absent', 'rc=0', 'loaded']
