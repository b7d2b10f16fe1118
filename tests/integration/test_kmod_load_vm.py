"""kernel.kmod.kmod_load on a real kernel: load, unload, dependencies, persistence across a reboot, fresh indexes.

Playbook one begins with what issue 8 added, each through kmod_load itself:
bad names and params (each fails cleanly, nothing loaded or written), a list
of three names (and again, unchanged), an admin's modprobe.d files left byte
for byte by persistent present and absent, a copy of dummy.ko loaded by path
(and refused when group-writable or another user's), vxlan with a bad
parameter rolled back, coretemp refused with ENODEV and allowed as missing
hardware; after the loads below it applies parameter drift (brd's read-only
rd_nr by reloading, kvm's writable halt_poll_ns through sysfs, put back),
waits for a brd held open by a process, removes tls with its holder bonding,
tries the builtin unix both ways and honours an install command and a
softdep.

A host without systemd-modules-load is made by moving the program aside
(kmod_load looks for it to tell): nlmon made persistent goes into
/etc/modules, one line added to Debian's comments and the admin's lines;
the program is put back before the reboot, and playbook two finds nlmon
loaded at boot by systemd-modules-load (which reads /etc/modules through
/etc/modules-load.d/modules.conf), loaded again by Debian's own
/etc/init.d/kmod (what boots such a host), then, the program aside again,
ends its persistence: /etc/modules is byte for byte as before.

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

import base64
import hashlib

import pytest

from tests.vm.ansible_run import run_playbook
from tests.vm.index_backup import MODULE_DIR, prepared, restore, save

pytestmark = pytest.mark.vm

BACKUP = '/root/kmod-load-backup'
CACHE = '/var/cache/kernel-kmod/depmod'
DEP_MODULE = 'vxlan'
LOAD_FILE = '/etc/modules-load.d/dummy.conf'
OPTIONS_FILE = '/etc/modprobe.d/dummy.conf'
# Debian's systemd.conf sets numdummies=0 and sorts after dummy.conf: the options must go last
OVERRIDE_FILE = '/etc/modprobe.d/zz-kernel-kmod-dummy.conf'
FILES = (LOAD_FILE, OPTIONS_FILE, OVERRIDE_FILE)
# An admin's modprobe.d files that share a name with a module (brd) and with a name asked to be absent
FOREIGN = {'/etc/modprobe.d/brd.conf': '# the admin\'s\nalias kmodtest-disk brd\ninstall kmodtest-none /bin/true\n',
           '/etc/modprobe.d/kmodtest.conf': '# the admin\'s own\nblacklist kmodtest-none\n'}
# What the tests create besides FILES, removed before and after
EXTRA_FILES = tuple(FOREIGN) + ('/etc/modules-load.d/brd.conf', '/etc/modprobe.d/kmodtest-commands.conf')
LIST = ['dummy', 'brd', DEP_MODULE]
# the diff mode entry of the loaded modules a task touched
LOADED_HEADER = 'loaded kernel modules (of those this task touched)'
# refused with ENODEV under qemu's TCG CPU (no Intel digital thermal sensor)
NO_HARDWARE = 'coretemp'
# where a copy of dummy.ko is loaded by path (root's alone, as /root is)
COPY_DIR = '/root/kmodtest-mods'
# made persistent on a host without systemd-modules-load: its line goes into /etc/modules
BOOT_MODULE = 'nlmon'
MODULES_LOAD = '/usr/lib/systemd/systemd-modules-load'   # /lib is /usr/lib on Debian 12
HIDDEN = MODULES_LOAD + '.kmodtest-hidden'
ETC_MODULES_BACKUP = '/root/kmod-load-etc-modules'
# the admin's lines added to Debian's /etc/modules (its comments stay): kept byte for byte
ADMIN_LINES = "# kmodtest: lines of the admin\nunix\t# built in: loads nothing\n\n"

SETUP = (r'''set -eu
udevadm settle --timeout=120
modprobe -r dummy brd bonding tls {dep} {hw} {boot} 2>/dev/null || true
rm -f {files}
rm -rf {copy}
if test -e {hidden}; then mv {hidden} {service}; fi
test -x {service}
if test -e {etc_backup}; then cp -p {etc_backup} /etc/modules; else cp -p /etc/modules {etc_backup}; fi
printf '{admin}' >> /etc/modules
'''.format(dep=DEP_MODULE, hw=NO_HARDWARE, files=' '.join(FILES + EXTRA_FILES), copy=COPY_DIR, boot=BOOT_MODULE,
           hidden=HIDDEN, service=MODULES_LOAD, etc_backup=ETC_MODULES_BACKUP,
           admin=ADMIN_LINES.replace('\\', '\\\\').replace('\n', '\\n').replace('\t', '\\t')) + MODULE_DIR + '''test ! -e "$mdir/extra/dummy.ko"
''' + save(BACKUP, CACHE, 'extra') + r'''for m in $(modprobe -D {dep} | awk '{{print $2}}'); do n=$(basename "$m" .ko); n=${{n//-/_}}; \
  test ! -e /sys/module/$n/initstate || {{ echo "$n is loaded"; exit 4; }}; done
'''.format(dep=DEP_MODULE))

RESTORE = MODULE_DIR + r'''modprobe -r dummy brd bonding tls {dep} {hw} {boot} 2>/dev/null
rm -f {files}
rm -rf {copy}
if test -e {hidden}; then mv {hidden} {service}; fi
if test -e {etc_backup}; then cp -p {etc_backup} /etc/modules && rm -f {etc_backup}; fi
if test -e "$mdir/extra/dummy.ko"; then mv "$mdir/extra/dummy.ko" "$mdir/kernel/drivers/net/dummy.ko"; fi
'''.format(dep=DEP_MODULE, hw=NO_HARDWARE, files=' '.join(FILES + EXTRA_FILES), copy=COPY_DIR, boot=BOOT_MODULE,
           hidden=HIDDEN, service=MODULES_LOAD, etc_backup=ETC_MODULES_BACKUP) + restore(BACKUP, CACHE, 'extra')

PLAYBOOK_ONE = '''
- name: kmod_load on the VM, before the reboot
  hosts: all
  gather_facts: false
  tasks:
    - name: Options for dummy in the configuration
      ansible.builtin.shell: modprobe -c | sed -n 's/^options dummy //p'; grep -rn numdummies /etc/modprobe.d /lib/modprobe.d /usr/lib/modprobe.d || true
      changed_when: false
    - name: Bad names
      kernel.kmod.kmod_load:
        name: "{{ item }}"
      loop: "{{ bad_names }}"
      ignore_errors: true
    - name: Bad params
      kernel.kmod.kmod_load:
        name: dummy
        params: "{{ item }}"
        persistent: present
      loop: "{{ bad_params }}"
      ignore_errors: true
    - name: Loaded and written after the bad input
      ansible.builtin.shell: |
        for m in dummy brd; do test -e /sys/module/$m && echo $m; done
        ls /etc/modprobe.d /etc/modules-load.d | grep -E 'dummy|brd' || true
      changed_when: false
    - name: What modprobe would insert for the list
      ansible.builtin.shell: for m in {{ list | join(' ') }}; do modprobe -D $m; done | awk '{print $2}'
      changed_when: false
    - name: Load a list of names
      kernel.kmod.kmod_load:
        name: "{{ list }}"
    - name: Load a list of names again
      kernel.kmod.kmod_load:
        name: "{{ list }}"
    - name: Write the foreign files
      ansible.builtin.copy:
        dest: "{{ item.key }}"
        content: "{{ item.value }}"
        mode: "0644"
      loop: "{{ foreign | dict2items }}"
    - name: Make brd persistent beside the foreign brd.conf
      kernel.kmod.kmod_load:
        name: brd
        persistent: present
    - name: Unload the list and end brd's persistence
      kernel.kmod.kmod_load:
        name: "{{ list }}"
        state: absent
        persistent: absent
    - name: Absent for a name whose foreign file exists
      kernel.kmod.kmod_load:
        name: kmodtest
        state: absent
        persistent: absent
    - name: Foreign files and modules after the list
      ansible.builtin.shell: |
        for f in {{ foreign.keys() | join(' ') }}; do sha256sum "$f"; done
        ls /etc/modules-load.d/brd.conf 2>&1 || true
        cut -d' ' -f1 /proc/modules | sort
      changed_when: false
    - name: Remove the foreign files
      ansible.builtin.file:
        path: "{{ item }}"
        state: absent
      loop: "{{ foreign.keys() | list }}"
    - name: Copy dummy.ko
      ansible.builtin.shell: |
        mkdir -p -m 0755 {{ copy_dir }}
        cp "$(modinfo -n dummy)" {{ copy_dir }}/dummy.ko
        chmod 0644 {{ copy_dir }}/dummy.ko
      changed_when: true
    - name: Load the copy by path
      kernel.kmod.kmod_load:
        name: "{{ copy_dir }}/dummy.ko"
        params: numdummies=2
    - name: Devices of the copy
      ansible.builtin.shell: ip -o link show type dummy | wc -l
      changed_when: false
    - name: Unload the copy by path
      kernel.kmod.kmod_load:
        name: "{{ copy_dir }}/dummy.ko"
        state: absent
    - name: Make the copy group-writable
      ansible.builtin.command: chmod g+w {{ copy_dir }}/dummy.ko
      changed_when: true
    - name: Load the group-writable copy
      kernel.kmod.kmod_load:
        name: "{{ copy_dir }}/dummy.ko"
      ignore_errors: true
    - name: Give the copy to another user
      ansible.builtin.shell: chmod 0644 {{ copy_dir }}/dummy.ko && chown nobody {{ copy_dir }}/dummy.ko
      changed_when: true
    - name: Load the copy owned by another user
      kernel.kmod.kmod_load:
        name: "{{ copy_dir }}/dummy.ko"
      ignore_errors: true
    - name: Dummy after the untrusted copies
      ansible.builtin.shell: test -e /sys/module/dummy && echo loaded || echo unloaded
      changed_when: false
    - name: Remove the copy
      ansible.builtin.file:
        path: "{{ copy_dir }}"
        state: absent
    - name: Load the module with dependencies and a bad parameter
      kernel.kmod.kmod_load:
        name: "{{ dep }}"
        params: udp_port=not_a_number
      ignore_errors: true
    - name: Modules after the bad parameter
      ansible.builtin.shell: cut -d' ' -f1 /proc/modules | sort
      changed_when: false
    - name: Load a driver for hardware the VM lacks
      kernel.kmod.kmod_load:
        name: "{{ no_hardware }}"
      ignore_errors: true
    - name: Load it allowing missing hardware
      kernel.kmod.kmod_load:
        name: "{{ no_hardware }}"
        allow_missing_hardware: true
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
    - name: Apply a read-only parameter by reloading
      kernel.kmod.kmod_load:
        name: brd
        params: rd_nr=3
        param_drift: apply
    - name: Read rd_nr after the reload
      ansible.builtin.shell: cat /sys/module/brd/parameters/rd_nr; stat -c %a /sys/module/brd/parameters/rd_nr
      changed_when: false
    - name: Reload with a value the kernel refuses
      kernel.kmod.kmod_load:
        name: brd
        params: rd_nr=not_a_number
        param_drift: apply
      ignore_errors: true
    - name: Read rd_nr after the refused reload
      ansible.builtin.shell: cat /sys/module/brd/parameters/rd_nr
      changed_when: false
    - name: Hold brd for a while
      ansible.builtin.shell: |
        nohup sh -c 'exec 3</dev/ram0; sleep 12' >/dev/null 2>&1 &
        for i in $(seq 50); do test "$(cat /sys/module/brd/refcnt)" -gt 0 && break; sleep 0.1; done
        cat /sys/module/brd/refcnt
      changed_when: false
    - name: Unload brd in use without waiting
      kernel.kmod.kmod_load:
        name: brd
        state: absent
      ignore_errors: true
    - name: Unload brd waiting for it
      kernel.kmod.kmod_load:
        name: brd
        state: absent
        wait: 60
    - name: Read kvm halt_poll_ns
      ansible.builtin.command: cat /sys/module/kvm/parameters/halt_poll_ns
      register: halt_poll_ns
      changed_when: false
    - name: Apply a writable parameter through sysfs
      kernel.kmod.kmod_load:
        name: kvm
        params: "halt_poll_ns={{ halt_poll_ns.stdout | int + 1000 }}"
        param_drift: apply
    - name: Read kvm halt_poll_ns after applying
      ansible.builtin.command: cat /sys/module/kvm/parameters/halt_poll_ns
      changed_when: false
    - name: Put kvm halt_poll_ns back
      kernel.kmod.kmod_load:
        name: kvm
        params: "halt_poll_ns={{ halt_poll_ns.stdout }}"
        param_drift: apply
    - name: Load bonding
      kernel.kmod.kmod_load:
        name: bonding
    - name: Unload the module bonding holds
      kernel.kmod.kmod_load:
        name: tls
        state: absent
      ignore_errors: true
    - name: Unload it with its holders
      kernel.kmod.kmod_load:
        name: tls
        state: absent
        remove_holders: true
    - name: Builtin module present
      kernel.kmod.kmod_load:
        name: unix
    - name: Builtin module absent
      kernel.kmod.kmod_load:
        name: unix
        state: absent
      ignore_errors: true
    - name: Unload dummy and brd
      kernel.kmod.kmod_load:
        name: "{{ item }}"
        state: absent
      loop: [dummy, brd]
    - name: Unload dummy again
      kernel.kmod.kmod_load:
        name: dummy
        state: absent
    - name: Write an install command and a softdep
      ansible.builtin.copy:
        dest: /etc/modprobe.d/kmodtest-commands.conf
        content: "install kmodtest-cmd echo ran $MODPROBE_MODULE\\nsoftdep brd pre: dummy\\n"
        mode: "0644"
    - name: Load through an install command and a softdep
      kernel.kmod.kmod_load:
        name: [kmodtest-cmd, brd]
    - name: Unload brd with its softdep
      kernel.kmod.kmod_load:
        name: brd
        state: absent
    - name: Remove the install command and the softdep
      ansible.builtin.file:
        path: /etc/modprobe.d/kmodtest-commands.conf
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
    - name: /etc/modules before
      ansible.builtin.slurp:
        src: /etc/modules
    - name: Move systemd-modules-load aside
      ansible.builtin.command: mv {{ modules_load }} {{ hidden }}
      changed_when: true
    - name: Make the boot module persistent without systemd-modules-load
      kernel.kmod.kmod_load:
        name: "{{ boot_module }}"
        persistent: present
      diff: true
    - name: Make the boot module persistent again
      kernel.kmod.kmod_load:
        name: "{{ boot_module }}"
        persistent: present
    - name: /etc/modules with the boot module
      ansible.builtin.slurp:
        src: /etc/modules
    - name: Modules-load.d with the boot module
      ansible.builtin.command: ls /etc/modules-load.d
      changed_when: false
    - name: Put systemd-modules-load back
      ansible.builtin.command: mv {{ hidden }} {{ modules_load }}
      changed_when: true
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
    - name: The boot module after the reboot
      ansible.builtin.shell: |
        cat /sys/module/{{ boot_module }}/initstate
        # by identifier, not unit: what it logs before journald runs comes through kmsg without a unit
        journalctl -b -t systemd-modules-load --no-pager -o cat | grep -F "'{{ boot_module }}'"
      changed_when: false
    - name: The boot module loaded by Debian's kmod init script
      ansible.builtin.shell: |
        modprobe -r {{ boot_module }}
        test ! -e /sys/module/{{ boot_module }}
        SYSTEMCTL_SKIP_REDIRECT=true /etc/init.d/kmod start
        cat /sys/module/{{ boot_module }}/initstate
      changed_when: true
    - name: Move systemd-modules-load aside after the reboot
      ansible.builtin.command: mv {{ modules_load }} {{ hidden }}
      changed_when: true
    - name: End the boot module's persistence without systemd-modules-load
      kernel.kmod.kmod_load:
        name: "{{ boot_module }}"
        state: absent
        persistent: absent
      diff: true
    - name: End the boot module's persistence again
      kernel.kmod.kmod_load:
        name: "{{ boot_module }}"
        state: absent
        persistent: absent
    - name: /etc/modules after
      ansible.builtin.slurp:
        src: /etc/modules
    - name: Put systemd-modules-load back after the reboot
      ansible.builtin.command: mv {{ hidden }} {{ modules_load }}
      changed_when: true
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


# (name given, the start of the message); nothing may be loaded or written for any of them
BAD_NAMES = [
    ('', 'name: an empty string is no module name'),
    (['dummy', ''], 'name: element 2 of the list is empty'),
    ('net/dummy', "name 'net/dummy': a module file must be given by its absolute path"),
    ('..', "name '..' is no module name"),
    ('/lib/modules/../dummy.ko', "name '/lib/modules/../dummy.ko': a module file path must not have"),
    ('dum\u0000my', "name 'dum\\x00my': control character '\\x00' at position 3"),
    ('dummy\nbrd', "name 'dummy\\nbrd': control character '\\n' at position 5"),
    ('dummy;reboot', "name 'dummy;reboot': ';' cannot be in a module name, alias or path"),
    ('$(reboot)', "name '$(reboot)': '$' '(' ')' cannot be in a module name, alias or path"),
    (['dummy', 'kmodtest_nosuch', 'brd'], 'Module kmodtest_nosuch not found in directory /lib/modules/'),
]
BAD_PARAMS = [
    ('=', "params: '=' in '=' has no parameter name"),
    ('numdummies="2', 'params: unbalanced double quote in \'numdummies="2\''),
    ('numdummies=2\\', "params: 'numdummies=2\\\\' ends with a backslash"),
    ('numdummies=2\ninstall dummy /bin/sh', "params: '\\n' at position 12 of"),
    ({'numdummies': {'a': 1}}, "params: the value of numdummies must be a string, number, boolean or a list"),
]


@pytest.fixture(scope='module')
def run(vm):
    with prepared(vm, SETUP, RESTORE):
        extra = {'dep': DEP_MODULE, 'files': list(FILES), 'list': LIST, 'foreign': FOREIGN,
                 'no_hardware': NO_HARDWARE, 'copy_dir': COPY_DIR, 'boot_module': BOOT_MODULE,
                 'modules_load': MODULES_LOAD, 'hidden': HIDDEN, 'bad_names': [b[0] for b in BAD_NAMES], 'bad_params': [b[0] for b in BAD_PARAMS]}
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
    assert [d['after_header'] for d in checked['result']['diff']] == [LOAD_FILE, OVERRIDE_FILE, LOADED_HEADER]
    assert (checked['result']['diff'][2]['before'], checked['result']['diff'][2]['after']) == ('', 'dummy\n')
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


def slurped(task):
    return base64.b64decode(task['result']['content'])


def test_etc_modules_without_systemd_one_line_and_honoured_at_boot(run):
    before = slurped(one(run, '/etc/modules before'))
    # Debian's comments and the admin's lines
    assert before.startswith(b'# /etc/modules: kernel modules to load at boot time.\n')
    assert before.endswith(ADMIN_LINES.encode())
    line = BOOT_MODULE.encode() + b'\n'
    made = one(run, 'Make the boot module persistent without systemd-modules-load')
    assert made['changed'] is True and made['result']['inserted'] == [BOOT_MODULE]
    assert made['result']['persistence'] == [{'path': '/etc/modules', 'action': 'update', 'reason': None}]
    diff = made['result']['diff'][0]
    assert (diff['before'], diff['after']) == (before.decode(), (before + line).decode())
    again = one(run, 'Make the boot module persistent again')
    assert again['changed'] is False and again['result']['persistence'] == []
    assert slurped(one(run, '/etc/modules with the boot module')) == before + line
    assert '%s.conf' % BOOT_MODULE not in stdout_lines(one(run, 'Modules-load.d with the boot module'))
    # loaded at boot by systemd-modules-load, and by the init script a host without systemd runs
    booted = stdout_lines(two(run, 'The boot module after the reboot'))
    assert booted[0] == 'live' and "Inserted module '%s'" % BOOT_MODULE in booted[1:]
    assert stdout_lines(two(run, "The boot module loaded by Debian's kmod init script"))[-1] == 'live'
    ended = two(run, "End the boot module's persistence without systemd-modules-load")
    assert ended['changed'] is True and ended['result']['deleted'] == [BOOT_MODULE]
    assert ended['result']['persistence'] == [{'path': '/etc/modules', 'action': 'update', 'reason': None}]
    assert (ended['result']['diff'][0]['before'], ended['result']['diff'][0]['after']) == (
        (before + line).decode(), before.decode())
    again = two(run, "End the boot module's persistence again")
    assert again['changed'] is False and again['result']['persistence'] == []
    assert slurped(two(run, '/etc/modules after')) == before


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


def item_results(task):
    return task['result']['results']


def test_bad_input_fails_cleanly_and_changes_nothing(run):
    for (given, message), item in zip(BAD_NAMES + BAD_PARAMS, item_results(one(run, 'Bad names'))
                                      + item_results(one(run, 'Bad params'))):
        assert item['failed'] is True, (given, item)
        assert item['msg'].startswith(message), (given, item['msg'])
        # ansible-core 2.19 adds exception: '(traceback unavailable)' to a fail_json made while handling one
        assert 'module_stderr' not in item and 'Traceback' not in str(item.get('exception', '')), item
    assert len(item_results(one(run, 'Bad names'))) == len(BAD_NAMES)
    assert stdout_lines(one(run, 'Loaded and written after the bad input')) == []


def test_a_list_of_names_in_one_task(run):
    expected = []
    for path in stdout_lines(one(run, 'What modprobe would insert for the list')):
        name = path.rsplit('/', 1)[-1].split('.ko')[0].replace('-', '_')
        if name not in expected:
            expected.append(name)
    loaded = one(run, 'Load a list of names')
    assert loaded['changed'] is True and loaded['result']['inserted'] == expected
    assert [e['name'] for e in loaded['result']['results']] == LIST
    assert [e['after'][e['name']] for e in loaded['result']['results']] == ['live'] * 3
    again = one(run, 'Load a list of names again')
    assert again['changed'] is False and again['result']['live'] == LIST
    gone = one(run, 'Unload the list and end brd\'s persistence')
    assert gone['changed'] is True and sorted(gone['result']['deleted']) == sorted(expected)
    modules = stdout_lines(one(run, 'Foreign files and modules after the list'))[len(FOREIGN) + 1:]
    assert not set(expected) & set(modules)


def test_foreign_files_are_left_byte_for_byte(run):
    made = one(run, 'Make brd persistent beside the foreign brd.conf')
    assert made['changed'] is True
    assert [(p['path'], p['action']) for p in made['result']['persistence']] == [
        ('/etc/modules-load.d/brd.conf', 'create')]
    assert any('/etc/modprobe.d/brd.conf was not written by kmod_load and is left as it is' in str(w)
               for w in made['result'].get('warnings', []))
    gone = one(run, 'Unload the list and end brd\'s persistence')
    assert [(p['path'], p['action']) for p in gone['result']['persistence']] == [
        ('/etc/modules-load.d/brd.conf', 'remove')]
    absent = one(run, 'Absent for a name whose foreign file exists')
    assert absent['changed'] is False and absent['result']['persistence'] == []
    lines = stdout_lines(one(run, 'Foreign files and modules after the list'))
    digests = dict((line.split()[1], line.split()[0]) for line in lines[:len(FOREIGN)])
    assert digests == dict((path, hashlib.sha256(text.encode()).hexdigest()) for path, text in FOREIGN.items())
    assert 'No such file' in lines[len(FOREIGN)]


def test_rollback_leaves_the_kernel_as_found(run):
    failed = one(run, 'Load the module with dependencies and a bad parameter')
    assert failed['status'] == 'ignored' and failed['result']['errno_name'] == 'EINVAL'
    inserted = failed['result']['inserted']
    assert {'udp_tunnel', 'ip6_udp_tunnel'} <= set(inserted) and DEP_MODULE not in inserted
    assert failed['result']['rolled_back'] == list(reversed(inserted))
    assert failed['result']['changed'] is False
    assert not set(inserted) & set(stdout_lines(one(run, 'Modules after the bad parameter')))


def test_missing_hardware(run):
    refused = one(run, 'Load a driver for hardware the VM lacks')
    assert refused['status'] == 'ignored' and refused['result']['errno_name'] in ('ENODEV', 'ENXIO')
    allowed = one(run, 'Load it allowing missing hardware')
    assert allowed['status'] == 'ok' and allowed['changed'] is False
    assert allowed['result']['missing_hardware'] == [NO_HARDWARE]


def test_param_drift_applied(run):
    reloaded = one(run, 'Apply a read-only parameter by reloading')
    assert reloaded['changed'] is True and reloaded['result']['reloaded'] == ['brd']
    assert reloaded['result']['params_written'] == []
    assert stdout_lines(one(run, 'Read rd_nr after the reload')) == ['3', '444']
    # the kernel refuses the new value after brd was unloaded: rollback loads it again as it was
    refused = one(run, 'Reload with a value the kernel refuses')
    assert refused['status'] == 'ignored' and refused['result']['errno_name'] == 'EINVAL'
    assert 'rollback loaded it again as it was (rd_nr=3)' in refused['result']['msg'], refused['result']['msg']
    assert stdout_lines(one(run, 'Read rd_nr after the refused reload')) == ['3']
    original = int(one(run, 'Read kvm halt_poll_ns')['result']['stdout'])
    written = one(run, 'Apply a writable parameter through sysfs')
    assert written['changed'] is True and written['result']['reloaded'] == []
    assert written['result']['params_written'] == [{'module': 'kvm', 'param': 'halt_poll_ns',
                                                    'value': str(original + 1000)}]
    assert stdout_lines(one(run, 'Read kvm halt_poll_ns after applying')) == [str(original + 1000)]
    assert one(run, 'Put kvm halt_poll_ns back')['changed'] is True


def test_wait_for_a_module_released_while_waiting(run):
    assert int(stdout_lines(one(run, 'Hold brd for a while'))[-1]) > 0
    refused = one(run, 'Unload brd in use without waiting')
    assert refused['status'] == 'ignored' and refused['result']['msg'].startswith('Module brd is in use')
    waited = one(run, 'Unload brd waiting for it')
    assert waited['changed'] is True and waited['result']['deleted'] == ['brd']


def test_remove_holders(run):
    assert 'tls' in one(run, 'Load bonding')['result']['inserted']
    refused = one(run, 'Unload the module bonding holds')
    assert refused['status'] == 'ignored' and refused['result']['msg'] == 'Module tls is in use by: bonding'
    removed = one(run, 'Unload it with its holders')
    assert removed['changed'] is True and removed['result']['deleted'][:2] == ['bonding', 'tls']


def test_builtin_module(run):
    present = one(run, 'Builtin module present')
    assert present['changed'] is False and present['result']['builtin'] == ['unix']
    absent = one(run, 'Builtin module absent')
    assert absent['status'] == 'ignored' and absent['result']['msg'] == 'Module unix is builtin.'


def test_install_command_and_softdep(run):
    loaded = one(run, 'Load through an install command and a softdep')
    assert loaded['changed'] is True
    assert [c['rc'] for c in loaded['result']['commands']] == [0]
    assert loaded['result']['commands'][0]['stdout'].startswith('ran kmodtest')
    # the pre: softdep comes before brd
    assert [(s['action'], s['name'], s['softdep']) for s in loaded['result']['steps']] == [
        ('install', 'kmodtest_cmd', False), ('insert', 'dummy', True), ('insert', 'brd', False)], loaded['result']
    assert loaded['result']['inserted'] == ['dummy', 'brd'], loaded['result']
    gone = one(run, 'Unload brd with its softdep')
    assert gone['result']['deleted'] == ['brd', 'dummy']


def test_load_by_path_with_trust_checks(run):
    loaded = one(run, 'Load the copy by path')
    assert loaded['changed'] is True and loaded['result']['inserted'] == ['dummy']
    # insmod: that file, with the task's params only (the VM's numdummies=0 in modprobe.d does not apply)
    assert loaded['result']['steps'] == [{'action': 'insert', 'name': 'dummy', 'path': COPY_DIR + '/dummy.ko',
                                          'options': 'numdummies=2', 'command': None, 'softdep': False,
                                          'target': True}]
    assert stdout_lines(one(run, 'Devices of the copy')) == ['2']
    assert one(run, 'Unload the copy by path')['result']['deleted'] == ['dummy']
    writable = one(run, 'Load the group-writable copy')
    assert writable['status'] == 'ignored' and writable['result']['errno_name'] == 'EPERM'
    assert 'dummy.ko is writable by group (mode 0664)' in writable['result']['msg']
    foreign = one(run, 'Load the copy owned by another user')
    assert foreign['status'] == 'ignored' and 'dummy.ko is owned by uid 65534, not root' in foreign['result']['msg']
    assert stdout_lines(one(run, 'Dummy after the untrusted copies')) == ['unloaded']
