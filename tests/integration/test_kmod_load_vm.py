"""kernel.kmod.kmod_load on a real kernel: load, unload, dependencies, persistence across a reboot, fresh indexes.

One set-up ssh call makes sure dummy, brd and vxlan (with its dependencies)
are not loaded and no persistence file exists, and backs up the running
kernel's index files.  Playbook one loads dummy (check mode first, then for
real, then again), brd with a readable parameter (and again with another
value), vxlan with its dependencies (compared with the VM's `modprobe -D`),
unloads them, and makes dummy persistent with numdummies=3 (written to
the zz- file, since the VM's systemd.conf sets numdummies=0 and sorts after
dummy.conf).  The VM reboots; playbook two checks dummy came back with its
3 devices, removes the
persistence, then deletes the indexes, rebuilds them with kmod_depmod and
loads dummy, moves dummy.ko under extra/, rebuilds and loads it from there.
The last ssh call restores everything.
"""

import pytest

from tests.vm import index_backup
from tests.vm.ansible_run import run_playbook

pytestmark = pytest.mark.vm

BACKUP = '/root/kmod-load-backup'
CACHE = '/var/cache/kernel-kmod/depmod'
DEP_MODULE = 'vxlan'
LOAD_FILE = '/etc/modules-load.d/dummy.conf'
OPTIONS_FILE = '/etc/modprobe.d/dummy.conf'
# Debian's systemd.conf sets numdummies=0 and sorts after dummy.conf: the options must go last
OVERRIDE_FILE = '/etc/modprobe.d/zz-kernel-kmod-dummy.conf'
FILES = (LOAD_FILE, OPTIONS_FILE, OVERRIDE_FILE)

SETUP = (r'''set -eu
udevadm settle --timeout=120
modprobe -r dummy brd {dep} 2>/dev/null || true
rm -f {files}
'''.format(dep=DEP_MODULE, files=' '.join(FILES)) + index_backup.MODULE_DIR + '''test ! -e "$mdir/extra/dummy.ko"
''' + index_backup.save(BACKUP, CACHE, 'extra') + r'''for m in $(modprobe -D {dep} | awk '{{print $2}}'); do n=$(basename "$m" .ko); n=${{n//-/_}}; \
  test ! -e /sys/module/$n/initstate || {{ echo "$n is loaded"; exit 4; }}; done
'''.format(dep=DEP_MODULE))

RESTORE = index_backup.MODULE_DIR + r'''modprobe -r dummy brd {dep} 2>/dev/null
rm -f {files}
if test -e "$mdir/extra/dummy.ko"; then mv "$mdir/extra/dummy.ko" "$mdir/kernel/drivers/net/dummy.ko"; fi
'''.format(dep=DEP_MODULE, files=' '.join(FILES)) + index_backup.restore(BACKUP, CACHE, 'extra')

PLAYBOOK_ONE = '''
- name: kmod_load on the VM, before the reboot
  hosts: all
  gather_facts: false
  tasks:
    - name: Options for dummy in the configuration
      ansible.builtin.shell: modprobe -c | sed -n 's/^options dummy //p'; grep -rn numdummies /etc/modprobe.d /lib/modprobe.d /usr/lib/modprobe.d || true
      changed_when: false
    - name: Load dummy in check mode
      kernel.kmod.kmod_load:
        name: dummy
        params: numdummies=3
      check_mode: true
      register: checked
    - name: Is dummy loaded after check mode
      ansible.builtin.shell: test -e /sys/module/dummy && echo yes || echo no
      changed_when: false
    - name: Load dummy
      kernel.kmod.kmod_load:
        name: dummy
        params: numdummies=3
    - name: Count dummy devices
      ansible.builtin.shell: ip -o link show type dummy | wc -l; cat /sys/module/dummy/initstate
      changed_when: false
    - name: Load dummy again
      kernel.kmod.kmod_load:
        name: dummy
        params: numdummies=3
    - name: Load brd with rd_nr
      kernel.kmod.kmod_load:
        name: brd
        params: {rd_nr: 2, rd_size: 8192}
    - name: Read brd parameters
      ansible.builtin.shell: cat /sys/module/brd/parameters/rd_nr /sys/module/brd/parameters/rd_size
      changed_when: false
    - name: Load brd with another rd_nr
      kernel.kmod.kmod_load:
        name: brd
        params: rd_nr=0x2 rd_size=4096
    - name: What modprobe would insert for the module with dependencies
      ansible.builtin.shell: modprobe -D {{ dep }} | awk '{print $2}'
      changed_when: false
    - name: Load the module with dependencies
      kernel.kmod.kmod_load:
        name: "{{ dep }}"
    - name: Loaded modules with dependencies
      ansible.builtin.shell: cut -d' ' -f1 /proc/modules | sort
      changed_when: false
    - name: Unload the module with dependencies
      kernel.kmod.kmod_load:
        name: "{{ dep }}"
        state: absent
    - name: Loaded modules after unloading
      ansible.builtin.shell: cut -d' ' -f1 /proc/modules | sort
      changed_when: false
    - name: Unload dummy and brd
      kernel.kmod.kmod_load:
        name: "{{ item }}"
        state: absent
      loop: [dummy, brd]
    - name: Unload dummy again
      kernel.kmod.kmod_load:
        name: dummy
        state: absent
    - name: Make dummy persistent in check mode
      kernel.kmod.kmod_load:
        name: dummy
        params: {numdummies: 3}
        persistent: present
      check_mode: true
      diff: true
    - name: Make dummy persistent
      kernel.kmod.kmod_load:
        name: dummy
        params: {numdummies: 3}
        persistent: present
      diff: true
    - name: Make dummy persistent again
      kernel.kmod.kmod_load:
        name: dummy
        params: {numdummies: 3}
        persistent: present
    - name: Unload dummy, keeping it persistent
      kernel.kmod.kmod_load:
        name: dummy
        state: absent
'''

PLAYBOOK_TWO = '''
- name: kmod_load on the VM, after the reboot
  hosts: all
  gather_facts: false
  tasks:
    - name: Release
      ansible.builtin.command: uname -r
      register: uname
      changed_when: false
    - name: Dummy after the reboot
      ansible.builtin.shell: cat /sys/module/dummy/initstate; ip -o link show type dummy | wc -l
      changed_when: false
    - name: Options for dummy after the reboot
      ansible.builtin.shell: modprobe -c | sed -n 's/^options dummy //p'
      changed_when: false
    - name: Persistent dummy after the reboot
      kernel.kmod.kmod_load:
        name: dummy
        params: {numdummies: 3}
        persistent: present
    - name: Remove dummy and its persistence
      kernel.kmod.kmod_load:
        name: dummy
        state: absent
        persistent: absent
    - name: Persistence files after removal
      ansible.builtin.shell: ls {{ files | join(' ') }} 2>&1; test -e /sys/module/dummy && echo loaded || echo unloaded
      changed_when: false
    - name: Delete the indexes
      ansible.builtin.shell: |
        cd /lib/modules/{{ uname.stdout }}
        for f in modules.*; do
          case "$f" in modules.order|modules.builtin|modules.builtin.modinfo) ;; *) rm -f "$f" ;; esac
        done
      changed_when: true
    - name: Load dummy without indexes
      kernel.kmod.kmod_load:
        name: dummy
      register: without
      ignore_errors: true
    - name: Rebuild the indexes
      kernel.kmod.kmod_depmod:
    - name: Load dummy after depmod
      kernel.kmod.kmod_load:
        name: dummy
    - name: Unload dummy after depmod
      kernel.kmod.kmod_load:
        name: dummy
        state: absent
    - name: Move dummy under extra/
      ansible.builtin.shell: |
        mdir=/lib/modules/{{ uname.stdout }}
        mkdir -p "$mdir/extra"
        mv "$mdir/kernel/drivers/net/dummy.ko" "$mdir/extra/dummy.ko"
      changed_when: true
    - name: Rebuild the indexes with extra/
      kernel.kmod.kmod_depmod:
    - name: Load dummy from extra/
      kernel.kmod.kmod_load:
        name: rtnl-link-dummy
    - name: Dummy from extra/
      ansible.builtin.shell: cat /sys/module/dummy/initstate; modinfo -n dummy
      changed_when: false
    - name: Unload dummy from extra/
      kernel.kmod.kmod_load:
        name: dummy
        state: absent
'''


@pytest.fixture(scope='module')
def run(vm):
    with index_backup.prepared(vm, SETUP, RESTORE):
        extra = {'dep': DEP_MODULE, 'files': list(FILES)}
        one = run_playbook(vm, PLAYBOOK_ONE, extra_vars=extra)
        assert one.rc == 0, one.stdout + one.stderr
        vm.reboot()
        two = run_playbook(vm, PLAYBOOK_TWO, extra_vars=extra)
        assert two.rc == 0, two.stdout + two.stderr
        yield one, two


def one(run, name):
    return run[0].task(name)


def two(run, name):
    return run[1].task(name)


def stdout_lines(task):
    return task['result']['stdout'].splitlines()


def configured_options(task):
    """The option words of the 'options dummy' lines modprobe -c shows."""
    return [w for line in stdout_lines(task) if not line.startswith('/') for w in line.split()]


def test_check_mode_reports_and_loads_nothing(run):
    checked = one(run, 'Load dummy in check mode')
    assert checked['changed'] is True
    assert checked['result']['inserted'] == ['dummy']
    # the VM's own options for dummy come first, the task's last (the kernel keeps the last value)
    options = ' '.join(configured_options(one(run, 'Options for dummy in the configuration')) + ['numdummies=3'])
    assert [(s['action'], s['name'], s['options']) for s in checked['result']['steps']] == [('insert', 'dummy', options)]
    assert stdout_lines(one(run, 'Is dummy loaded after check mode')) == ['no']


def test_load_with_params_then_unchanged(run):
    loaded = one(run, 'Load dummy')
    assert loaded['changed'] is True and loaded['result']['inserted'] == ['dummy']
    assert loaded['result']['steps'][0]['path'].endswith('/kernel/drivers/net/dummy.ko')
    assert stdout_lines(one(run, 'Count dummy devices')) == ['3', 'live']
    again = one(run, 'Load dummy again')
    assert again['changed'] is False and again['result']['live'] == ['dummy']
    # dummy shows no parameters in sysfs: nothing to compare, nothing to warn about
    assert again['result']['params_unchecked'] == ['numdummies'] and again['result']['params_differ'] == {}


def test_live_module_with_other_params_warns(run):
    assert one(run, 'Load brd with rd_nr')['changed'] is True
    assert stdout_lines(one(run, 'Read brd parameters')) == ['2', '8192']
    other = one(run, 'Load brd with another rd_nr')
    assert other['changed'] is False
    assert other['result']['params_differ'] == {'rd_size': {'asked': '4096', 'live': '8192'}}
    assert any('brd is already loaded with other parameter values: rd_size=4096 (loaded with 8192)' in str(w)
               for w in other['result'].get('warnings', []))


def test_dependencies_load_and_go(run):
    expected = [p.rsplit('/', 1)[-1].split('.ko')[0].replace('-', '_')
                for p in stdout_lines(one(run, 'What modprobe would insert for the module with dependencies'))]
    assert len(expected) > 1 and expected[-1] == DEP_MODULE
    loaded = one(run, 'Load the module with dependencies')
    assert loaded['changed'] is True and loaded['result']['inserted'] == expected
    assert set(expected) <= set(stdout_lines(one(run, 'Loaded modules with dependencies')))
    gone = one(run, 'Unload the module with dependencies')
    assert gone['changed'] is True
    assert gone['result']['deleted'][0] == DEP_MODULE and sorted(gone['result']['deleted']) == sorted(expected)
    assert not set(expected) & set(stdout_lines(one(run, 'Loaded modules after unloading')))


def test_unload(run):
    unloaded = one(run, 'Unload dummy and brd')
    assert unloaded['changed'] is True
    again = one(run, 'Unload dummy again')
    assert again['changed'] is False and again['result']['not_loaded'] == ['dummy']


def systemd_settings(run):
    """'FILE:LINE' of the VM's own numdummies settings (grep -rn output)."""
    lines = stdout_lines(one(run, 'Options for dummy in the configuration'))
    return set(line.rsplit(':', 1)[0] for line in lines
               if line.startswith('/') and line.endswith(':options dummy numdummies=0'))


def test_persistence_check_mode_then_written_then_unchanged(run):
    checked = one(run, 'Make dummy persistent in check mode')
    assert checked['changed'] is True
    persistence = checked['result']['persistence']
    assert [(p['path'], p['action']) for p in persistence] == [(LOAD_FILE, 'create'), (OVERRIDE_FILE, 'create')]
    # the options moved after systemd.conf, and the task says which line made it necessary
    reason = persistence[1]['reason']
    prefix = 'options in %s would lose at boot to numdummies=0 at ' % OPTIONS_FILE
    assert reason.startswith(prefix) and reason.endswith(', which sorts after it')
    assert reason[len(prefix):-len(', which sorts after it')] in systemd_settings(run)
    assert 'systemd.conf:' in reason and persistence[0]['reason'] is None
    assert [d['after_header'] for d in checked['result']['diff']] == [LOAD_FILE, OVERRIDE_FILE]
    boot = ' '.join(configured_options(one(run, 'Options for dummy in the configuration')) + ['numdummies=3'])
    assert checked['result']['boot_options'] == boot
    made = one(run, 'Make dummy persistent')
    assert made['changed'] is True and made['result']['inserted'] == ['dummy']
    assert made['result']['diff'][1]['after'].endswith('\noptions dummy numdummies=3\n')
    assert made['result']['boot_options'] == boot
    again = one(run, 'Make dummy persistent again')
    assert again['changed'] is False and again['result']['persistence'] == []


def test_persistence_survives_a_reboot(run):
    words = configured_options(two(run, 'Options for dummy after the reboot'))
    # modprobe.d files apply in name order and the kernel keeps the last value: ours is last
    assert [w for w in words if w.startswith('numdummies=')][-1] == 'numdummies=3'
    assert stdout_lines(two(run, 'Dummy after the reboot')) == ['live', '3']
    assert two(run, 'Persistent dummy after the reboot')['changed'] is False


def test_persistent_absent_removes_the_files(run):
    removed = two(run, 'Remove dummy and its persistence')
    assert removed['changed'] is True and removed['result']['deleted'] == ['dummy']
    assert [(p['path'], p['action']) for p in removed['result']['persistence']] == [
        (LOAD_FILE, 'remove'), (OVERRIDE_FILE, 'remove')]
    lines = stdout_lines(two(run, 'Persistence files after removal'))
    assert lines[-1] == 'unloaded'
    assert all('No such file' in line for line in lines[:-1]) and len(lines) == 4


def test_depmod_then_load(run):
    release = two(run, 'Release')['result']['stdout']
    without = two(run, 'Load dummy without indexes')
    assert without['status'] == 'ignored'
    assert without['result']['msg'] == 'Module dummy not found in directory /lib/modules/%s' % release
    assert two(run, 'Rebuild the indexes')['changed'] is True
    loaded = two(run, 'Load dummy after depmod')
    assert loaded['changed'] is True
    assert loaded['result']['steps'][0]['path'] == '/lib/modules/%s/kernel/drivers/net/dummy.ko' % release
    assert two(run, 'Unload dummy after depmod')['changed'] is True


def test_module_under_extra_loads(run):
    release = two(run, 'Release')['result']['stdout']
    assert two(run, 'Rebuild the indexes with extra/')['changed'] is True
    loaded = two(run, 'Load dummy from extra/')
    assert loaded['changed'] is True and loaded['result']['modules'] == ['dummy']
    assert loaded['result']['steps'][0]['path'] == '/lib/modules/%s/extra/dummy.ko' % release
    assert stdout_lines(two(run, 'Dummy from extra/')) == ['live', '/lib/modules/%s/extra/dummy.ko' % release]
    assert two(run, 'Unload dummy from extra/')['changed'] is True
