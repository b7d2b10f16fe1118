"""kernel.kmod.kmod_depmod on a real kernel: rebuild deleted indexes, load, add a module under updates/.

One set-up ssh call unloads dummy, backs up the running kernel's index files
and deletes them (modules.order, modules.builtin and modules.builtin.modinfo
stay).  One playbook then: rebuilds them (changed), compares them with the
backup the VM's own depmod wrote, loads dummy with modprobe, reruns
(unchanged), copies dummy.ko under updates/, runs in check and diff mode
(reports the change, writes nothing), rebuilds, and asks modinfo and
modprobe which file dummy is now, and loads it.  The last ssh call restores
everything as it was.
"""

import pytest

from tests.vm.ansible_run import run_playbook
from tests.vm.index_backup import CLEAR, MODULE_DIR, prepared, restore, save

pytestmark = pytest.mark.vm

BACKUP = '/root/kmod-depmod-backup'
CACHE = '/var/cache/kernel-kmod/depmod'
INPUTS = ('modules.order', 'modules.builtin', 'modules.builtin.modinfo')
OUTPUTS = ['modules.dep', 'modules.dep.bin', 'modules.alias', 'modules.alias.bin', 'modules.softdep',
           'modules.symbols', 'modules.symbols.bin', 'modules.builtin.bin', 'modules.builtin.alias.bin',
           'modules.devname']

SETUP = (r'''set -eu
udevadm settle --timeout=120
modprobe -r dummy 2>/dev/null || true
''' + MODULE_DIR + '''test ! -e "$mdir/updates/dummy.ko"
''' + save(BACKUP, CACHE, 'updates') + CLEAR + '''ls "$mdir" | grep '^modules\\.' | sort
''')

RESTORE = MODULE_DIR + '''modprobe -r dummy 2>/dev/null
rm -f "$mdir/updates/dummy.ko"
''' + restore(BACKUP, CACHE, 'updates')

PLAYBOOK = '''
- name: kmod_depmod on the VM
  hosts: all
  gather_facts: false
  tasks:
    - name: Release
      ansible.builtin.command: uname -r
      register: uname
      changed_when: false
    - name: Rebuild the deleted indexes
      kernel.kmod.kmod_depmod:
      register: rebuilt
    - name: Compare with the indexes the VM's depmod wrote
      ansible.builtin.shell: |
        cd /lib/modules/{{ uname.stdout }}
        for f in {{ outputs | join(' ') }}; do cmp -s "{{ backup }}/$f" "$f" || echo "$f"; done
      register: compared
      changed_when: false
    - name: Load dummy with modprobe
      ansible.builtin.command: modprobe dummy
      changed_when: true
    - name: Rebuild again
      kernel.kmod.kmod_depmod:
      register: again
    - name: Copy dummy under updates/
      ansible.builtin.shell: |
        mdir=/lib/modules/{{ uname.stdout }}
        mkdir -p "$mdir/updates"
        cp "$mdir/kernel/drivers/net/dummy.ko" "$mdir/updates/dummy.ko"
      changed_when: true
    - name: Stat modules.dep before check mode
      ansible.builtin.stat:
        path: /lib/modules/{{ uname.stdout }}/modules.dep
      register: before_check
    - name: Rebuild in check mode
      kernel.kmod.kmod_depmod:
      check_mode: true
      diff: true
      register: checked
    - name: Stat modules.dep after check mode
      ansible.builtin.stat:
        path: /lib/modules/{{ uname.stdout }}/modules.dep
      register: after_check
    - name: Rebuild with the updates copy
      kernel.kmod.kmod_depmod:
        kernel_release: "{{ uname.stdout }}"
      register: updated
    - name: Ask the VM's tools about dummy, and reload it
      ansible.builtin.shell: |
        modinfo -n dummy
        modprobe -D dummy
        modprobe -r dummy
        modprobe dummy
        cat /sys/module/dummy/initstate
      register: tools
      changed_when: true
'''


@pytest.fixture(scope='module')
def run(vm):
    with prepared(vm, SETUP, RESTORE) as out:
        left = out.split()
        result = run_playbook(vm, PLAYBOOK, extra_vars={'outputs': OUTPUTS, 'backup': BACKUP})
        assert result.rc == 0, result.stdout + result.stderr
        yield left, result


def task(run, name):
    return run[1].task(name)


def test_only_the_inputs_were_left(run):
    assert run[0] == sorted(INPUTS)


def test_rebuild_writes_what_the_vms_depmod_wrote(run):
    rebuilt = task(run, 'Rebuild the deleted indexes')
    assert rebuilt['changed'] is True
    release = task(run, 'Release')['result']['stdout']
    report = rebuilt['result']['releases'][release]
    assert report['written'] == OUTPUTS
    assert report['module_dir'] == '/lib/modules/' + release
    assert report['modules'] > 1000
    assert rebuilt['result']['kmod']['version'] == 30 and rebuilt['result']['kmod']['detected'] is True
    assert task(run, 'Compare with the indexes the VM\'s depmod wrote')['result']['stdout'] == ''
    assert task(run, 'Load dummy with modprobe')['status'] == 'changed'


def test_second_run_changes_nothing(run):
    again = task(run, 'Rebuild again')
    assert again['changed'] is False
    release = task(run, 'Release')['result']['stdout']
    assert again['result']['releases'][release]['shortcut'] == 'state'
    assert again['result']['releases'][release]['written'] == []


def test_check_mode_reports_and_writes_nothing(run):
    checked = task(run, 'Rebuild in check mode')
    release = task(run, 'Release')['result']['stdout']
    assert checked['changed'] is True
    report = checked['result']['releases'][release]
    assert report['files']['modules.dep'] == {'action': 'update', 'added': 1, 'removed': 1}
    # the parse cache of the earlier runs gave every other module: only the copy was read
    assert report['parsed'] == 1
    diff = checked['result']['diff'][0]
    assert diff['after_header'] == '/lib/modules/%s/modules.dep' % release
    assert 'updates/dummy.ko:' in diff['after'] and 'updates/dummy.ko:' not in diff['before']
    before = task(run, 'Stat modules.dep before check mode')['result']['stat']
    after = task(run, 'Stat modules.dep after check mode')['result']['stat']
    assert (after['checksum'], after['mtime'], after['inode']) == (before['checksum'], before['mtime'], before['inode'])


def test_updates_copy_is_found_and_loads(run):
    updated = task(run, 'Rebuild with the updates copy')
    release = task(run, 'Release')['result']['stdout']
    assert updated['changed'] is True
    report = updated['result']['releases'][release]
    assert report['files']['modules.dep'] == {'action': 'update', 'added': 1, 'removed': 1}
    # the parse cache of the earlier runs gave every other module: only the copy was read
    assert report['parsed'] == 1
    assert report['skipped'] == [{'path': '/lib/modules/%s/kernel/drivers/net/dummy.ko' % release,
                                  'reason': 'lower-priority: updates/dummy.ko'}]
    lines = task(run, 'Ask the VM\'s tools about dummy, and reload it')['result']['stdout'].splitlines()
    path = '/lib/modules/%s/updates/dummy.ko' % release
    assert lines[0] == path
    # dummy needs nothing; options from the VM's modprobe.d may follow the path
    assert [line.split()[:2] for line in lines[1:-1]] == [['insmod', path]]
    assert lines[-1] == 'live'
