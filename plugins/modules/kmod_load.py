#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: kmod_load
short_description: Load or unload a Linux kernel module, now and at every boot
version_added: 0.1.0
description:
  - Loads a kernel module with its dependencies and soft dependencies, or unloads it and the dependencies
    nothing uses any more, the way C(modprobe) and C(modprobe -r) do, but through the kernel's own system calls
    (C(finit_module), C(init_module), C(delete_module)) rather than by running C(modprobe).
  - Finds the module by name, alias or C(symbol:NAME) in the running kernel's module indexes (see
    M(kernel.kmod.kmod_depmod)) and follows C(modprobe.d) (C(options), C(install), C(remove), C(softdep),
    C(blacklist), C(alias)) and the kernel command line, as C(modprobe) does.
  - Reports what it did step by step; a second identical run reports no change.
  - A module already loaded with other parameter values than O(params) asks for is left as it is, with a
    warning and RV(params_differ), unless O(param_drift=apply); see the notes.
  - With O(persistent=present), writes C(/etc/modules-load.d/NAME.conf) and C(/etc/modprobe.d/NAME.conf) so the
    module loads at every boot with O(params); when another C(modprobe.d) file would override O(params) at boot,
    the options go to C(/etc/modprobe.d/zz-kernel-kmod-NAME.conf) instead (see the notes).
author:
  - kernel.kmod developers (@kernel-kmod)
options:
  name:
    description:
      - The module to load or unload, by module name, alias (for example V(rtnl-link-dummy)), V(symbol:NAME),
        or absolute path of a module file; or a list of them.
      - With a list, the system is read once and every name is planned in order, each seeing what the names before
        it will have done; only then is anything loaded, unloaded or written. When a name cannot be planned (for
        example an unknown module), the task fails naming it and nothing is done. RV(results) has one entry per
        name.
      - An absolute path of a module file (C(.ko), C(.ko.xz), C(.ko.zst), C(.ko.gz)) is loaded the way C(insmod)
        loads it, that file alone with O(params) only (no dependencies, no C(modprobe.d) rules), and unloaded the way
        C(rmmod) does. The file and every directory above it must be owned by root and not writable by group or
        others, unless O(allow_untrusted); the check is made on the open file that is then loaded.
      - A name with blanks, control characters, shell metacharacters (V(;), V($), V(*), quotes...), or a V(/)
        without being an absolute path, is refused; so is an empty name or list element.
      - An alias that blacklisted modules match does not load them, as with C(modprobe); the task then fails.
    type: raw
    required: true
  state:
    description:
      - V(present) loads the module (with its dependencies), V(absent) unloads it.
      - V(absent) of a module that is neither loaded nor known is no change.
    type: str
    choices: [present, absent]
    default: present
  params:
    description:
      - Module parameters, as a string the way C(modprobe) takes them (V(numdummies=2 name="a b")), or as a
        mapping (booleans become V(Y) or V(N), lists comma-separated values).
      - Checked before anything changes; the task fails, quoting the bad part, on what cannot be what was meant,
        that is control characters (a newline), text not encodable as UTF-8, an unbalanced double quote, a parameter
        without a name (V(=1)), a trailing backslash, or a mapping value that is itself a mapping or a nested list.
      - Added after the C(options) lines of C(modprobe.d) and the kernel command line, and used by O(persistent).
      - They apply only when the module is loaded; see the notes.
      - Parameters go with one module; with several names in O(name), O(params) must be empty.
      - When the module has a C(modprobe.d) C(install) command, each of these parameters takes the place of
        C($CMDLINE_OPTS) as one shell word, quoted, so that V($(...\)) or a backtick in a value stays text and is
        never run; the options of C(modprobe.d) itself go in unquoted, as C(modprobe) puts them.
    type: raw
    default: ''
  persistent:
    description:
      - V(present) writes C(/etc/modules-load.d/NAME.conf) (the module loads at boot) and, when O(params) is not
        empty, C(/etc/modprobe.d/NAME.conf) with C(options NAME PARAMS) (removed when O(params) is empty).
        Files that already say the same thing, with or without the header this module writes, are left as they are.
      - Only files that carry the header this module writes are ever rewritten or removed. A C(NAME.conf) someone
        else wrote (an admin, a package, C(community.general.modprobe)) is left byte for byte, with a warning when it
        says something else; what this module would have written there goes to its own
        C(zz-kernel-kmod-NAME.conf) in the same directory.
      - When a C(modprobe.d) file that sorts after C(NAME.conf) sets one of O(params) to another value, the options
        are written to C(/etc/modprobe.d/zz-kernel-kmod-NAME.conf) instead, so they still win at boot; when even
        that cannot win, the task fails. See the notes and RV(boot_options).
      - V(absent) removes C(/etc/modules-load.d/NAME.conf), C(/etc/modules-load.d/zz-kernel-kmod-NAME.conf),
        C(/etc/modprobe.d/NAME.conf) and C(/etc/modprobe.d/zz-kernel-kmod-NAME.conf) when this module wrote them;
        other files that still load the module at boot are named in a warning.
      - On a host without C(systemd-modules-load) (no systemd), the module is listed in C(/etc/modules) instead of
        C(modules-load.d); V(present) adds the line V(NAME) unless a line loads it already, V(absent) removes that
        line; every other line and comment is kept byte for byte.
      - V(disabled) leaves both files alone.
      - NAME is the module the name resolved to. V(present) cannot go with O(state=absent).
    type: str
    choices: [present, absent, disabled]
    default: disabled
  ignore_install:
    description:
      - Ignore C(install) commands of C(modprobe.d) and the module's soft dependencies (C(modprobe -i)).
    type: bool
    default: false
  ignore_remove:
    description:
      - Ignore C(remove) commands of C(modprobe.d) and the module's soft dependencies (C(modprobe -r -i)).
    type: bool
    default: false
  use_blacklist:
    description:
      - Let C(blacklist) lines stop the module even when it is asked for by its name (C(modprobe -b)).
    type: bool
    default: false
  remove_dependencies:
    description:
      - With O(state=absent), also unload the dependencies that nothing else uses any more, as C(modprobe -r) does.
    type: bool
    default: true
  remove_holders:
    description:
      - With O(state=absent), first remove the modules that hold the module (use it), and theirs, recursively, as
        C(modprobe -r --remove-holders) does; they are listed in RV(deleted) in the order they went.
      - Without it, a module in use fails the task, naming its holders.
    type: bool
    default: false
  param_drift:
    description:
      - What to do when a module asked for is already loaded (or built in) with other values than O(params).
      - V(warn) reports them in RV(params_differ) and warns; nothing changes.
      - V(apply) writes each writable parameter through C(/sys/module/NAME/parameters/PARAM) and reads it back
        (RV(params_written)). When a read-only one differs, the module is unloaded and loaded again with O(params)
        if nothing holds it (RV(reloaded)); if something does, or the module is built into the kernel, the task
        fails naming the parameter and the holders, before anything is changed.
      - V(ignore) does not compare.
    type: str
    choices: [warn, apply, ignore]
    default: warn
  wait:
    description:
      - With O(state=absent), how many seconds to wait for a module in use to be released before failing
        (C(rmmod --wait)); the removal is retried with a doubling delay. V(0) fails at once, naming the holders.
      - V(true) and V(false), from earlier versions where this was a boolean, mean V(10) and V(0).
    type: raw
    default: 0
  allow_untrusted:
    description:
      - Load a module file given by its path even when it, or a directory above it, is not owned by root or is
        writable by group or others. Anyone who can write such a file or directory chooses the code root puts into
        the kernel.
    type: bool
    default: false
  allow_missing_hardware:
    description:
      - A module the kernel refuses with C(ENODEV) or C(ENXIO) (a driver for a device or CPU feature the host does not
        have) counts as done; it is listed in RV(missing_hardware) and is no change. Useful for one task over a
        fleet of different machines.
      - V(false) fails the task, as C(modprobe) does.
    type: bool
    default: false
  rollback:
    description:
      - When a step fails after others of the task succeeded, remove the modules this task inserted, newest first,
        so that the kernel is left as it was found; RV(rolled_back) lists them. Modules that were loaded before the
        task stay.
      - A module that an C(install) command of this task loaded is removed too; anything else the command did is not
        undone (what it did is not known), and a warning names the command.
      - V(false) leaves what was inserted before the failure loaded, as C(modprobe) does.
    type: bool
    default: true
  force:
    description:
      - Load even when the module's version magic or symbol versions do not match the kernel (C(modprobe -f)).
        The kernel is tainted; the module may crash it.
      - Has no effect on unloading.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Plans only and reports exactly the steps, modules and files that would change; nothing is loaded, run or written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Shows the changes of the O(persistent) files, and the loaded modules the task touches, before and after.
  platform:
    platforms: linux
    support: full
    description: Linux kernels with loadable module support; always the running kernel.
notes:
  - Needs root.
  - Parameters take effect only when a module is loaded. When the module is already loaded, the task compares
    O(params) with C(/sys/module/NAME/parameters) (values as the kernel shows them, so V(1) matches V(Y) and V(0x10)
    matches V(16)); differences are reported in RV(params_differ) and as a warning, and the task reports no change.
    It does not fail, because the module may be in use and cannot be reloaded without disruption; it does not
    reload on its own for the same reason. Unload it (O(state=absent)) and load it again to apply new values, or
    use O(param_drift=apply).
    Parameters that sysfs does not show, or root cannot read, are listed in RV(params_unchecked).
  - With O(persistent=present), the options must still be the ones the module gets at boot. C(modprobe) gives a
    module the C(options NAME) lines of all C(modprobe.d) files (C(/etc), C(/run), C(/usr/local/lib), C(/usr/lib),
    C(/lib)) in the order of their file names, then the C(NAME.PARAM=VALUE) words of the kernel command line, and the
    kernel keeps the last value of a repeated parameter. Distribution files can sort after C(NAME.conf); Debian's
    systemd ships C(systemd.conf) with C(options dummy numdummies=0) and C(options bonding max_bonds=0).
  - The rule is, for each parameter of O(params), with C(/etc/modprobe.d/NAME.conf) holding them, the last setting at
    boot must be that file's or have the same value. If so, C(NAME.conf) is used (the conventional name, and what
    C(community.general.modprobe) writes). If not, the options go to C(/etc/modprobe.d/zz-kernel-kmod-NAME.conf),
    which sorts after the distribution files; a C(NAME.conf) this module wrote (with its header) is removed, one
    written by someone else is left alone (with a warning if it sets other values), and RV(persistence) says which
    file and line made the move necessary. If the last setting would still not be ours (a file sorting after
    C(zz-kernel-kmod-NAME.conf), or the kernel command line, which always comes last) and its value differs, the
    task fails naming that file and line, before anything is loaded or written.
  - The kernel command line checked is the running kernel's C(/proc/cmdline). Options lines for an alias of the
    module are not counted (at boot the module is loaded by its name).
  - C(install) and C(remove) commands run with C(/bin/sh -c), with C(MODPROBE_MODULE) set, as C(modprobe) runs them;
    their output is returned in RV(commands).
  - With O(persistent=present) or O(persistent=absent), runs of this module and of M(kernel.kmod.kmod_blacklist) take
    turns on each configuration directory written (C(/etc/modprobe.d), and C(/etc/modules-load.d) or C(/etc) for
    C(/etc/modules)) with an C(flock) on the directory, shared in check mode, held from reading the files to
    replacing them. A run that waits more than 120 seconds fails, naming the directory and the other run's pid.
    A directory that someone other than root may write, or one above it, gets a warning.
seealso:
  - module: kernel.kmod.kmod_depmod
  - module: kernel.kmod.kmod_facts
  - name: community.general.modprobe
    description: The module this one can replace; see the migration guide of this collection.
    link: https://docs.ansible.com/ansible/latest/collections/community/general/modprobe_module.html
  - ref: ansible_collections.kernel.kmod.docsite.guide_load
    description: Loading and unloading modules, persistence, and migrating from community.general.modprobe.
  - name: modprobe(8)
    description: The kmod tool whose behaviour this module follows.
    link: https://man7.org/linux/man-pages/man8/modprobe.8.html
  - name: modules-load.d(5)
    description: Configure kernel modules to load at boot.
    link: https://man7.org/linux/man-pages/man5/modules-load.d.5.html
'''

EXAMPLES = r'''
- name: Load dummy with two devices
  kernel.kmod.kmod_load:
    name: dummy
    params: numdummies=2

- name: Load bonding at every boot with its options
  kernel.kmod.kmod_load:
    name: bonding
    params:
      mode: 802.3ad
      miimon: 100
    persistent: present

- name: Unload dummy and stop loading it at boot
  kernel.kmod.kmod_load:
    name: dummy
    state: absent
    persistent: absent

- name: Load a module built outside the tree, as insmod does
  kernel.kmod.kmod_load:
    name: /opt/drivers/acme.ko
    params: debug=1

- name: Load three modules in one task
  kernel.kmod.kmod_load:
    name: [dummy, brd, vxlan]

- name: Unload bonding, waiting up to 30 seconds for it to be released
  kernel.kmod.kmod_load:
    name: bonding
    state: absent
    wait: 30

- name: Load whatever provides a symbol
  kernel.kmod.kmod_load:
    name: symbol:crc32c
  register: loaded

- name: Show what was inserted
  ansible.builtin.debug:
    var: loaded.inserted
'''

RETURN = r'''
name:
  description: O(name) as given (a string or a list).
  returned: always
  type: raw
  sample: rtnl-link-dummy
state:
  description: The state asked for.
  returned: always
  type: str
  sample: present
params:
  description: O(params) as the option string used.
  returned: always
  type: str
  sample: numdummies=2
modules:
  description: The modules the name resolved to.
  returned: always
  type: list
  elements: str
  sample: [dummy]
steps:
  description:
    - The plan, in order. C(action) is V(insert), V(install) (a C(modprobe.d) command), V(delete), V(remove)
      (a C(modprobe.d) command), V(live) (already loaded) or V(builtin).
    - C(target) marks the modules asked for, C(softdep) the soft dependencies (whose failures only warn).
  returned: always
  type: list
  elements: dict
  sample:
    - {action: insert, name: dummy, path: /lib/modules/6.1.0-56-amd64/kernel/drivers/net/dummy.ko,
       options: numdummies=2, command: null, softdep: false, target: true}
inserted:
  description: Modules inserted (in check mode, that would be), in order.
  returned: always
  type: list
  elements: str
  sample: [dummy]
deleted:
  description: Modules removed from the kernel (in check mode, that would be), in order.
  returned: always
  type: list
  elements: str
commands:
  description: C(install) and C(remove) commands run, with C(rc), C(stdout) and C(stderr) (V(null) in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{module: pcspkr, action: install, command: /bin/true, rc: 0, stdout: '', stderr: ''}]
live:
  description: Modules of the plan that were already loaded.
  returned: always
  type: list
  elements: str
builtin:
  description: Modules of the plan built into the kernel.
  returned: always
  type: list
  elements: str
not_loaded:
  description: With O(state=absent), modules that were not loaded.
  returned: always
  type: list
  elements: str
blacklisted:
  description: Modules a C(blacklist) line kept from loading.
  returned: always
  type: list
  elements: str
params_differ:
  description: For a module already loaded, each parameter of O(params) whose loaded value differs, with both values.
  returned: always
  type: dict
  sample: {numdummies: {asked: '2', live: '1'}}
params_unchecked:
  description: For a module already loaded, the parameters of O(params) that C(/sys/module) does not show or root cannot read.
  returned: always
  type: list
  elements: str
persistence:
  description:
    - The O(persistent) files changed (in check mode, that would change), with C(action) V(create), V(update) or
      V(remove).
    - C(reason) is V(null), or says why the options moved to C(zz-kernel-kmod-NAME.conf) (the setting and the
      C(FILE:LINE) that would win over C(NAME.conf) at boot).
  returned: always
  type: list
  elements: dict
  sample:
    - {path: /etc/modules-load.d/dummy.conf, action: create, reason: null}
    - {path: /etc/modprobe.d/zz-kernel-kmod-dummy.conf, action: create,
       reason: 'options in /etc/modprobe.d/dummy.conf would lose at boot to numdummies=0 at
       /usr/lib/modprobe.d/systemd.conf:20, which sorts after it'}
boot_options:
  description:
    - With O(persistent=present) or V(absent), the option text the module gets when it loads at boot once the
      files are written (all C(options NAME) lines of C(modprobe.d) in order, then the kernel command line); the
      kernel keeps the last value of a repeated parameter.
    - V(null) with O(persistent=disabled), and with several names (each entry of RV(results) has its own).
  returned: always
  type: str
  sample: numdummies=0 numdummies=3
results:
  description:
    - One entry per name of O(name), in order. The aggregate keys above sum them up.
    - C(modules) the name resolved to; C(before) and C(after) the state (V(live), V(builtin) or V(absent)) of every
      module its plan touched, at the start of the task and once it is done (in check mode, as it would be);
      C(params) the option text asked for; C(params_differ) and C(params_unchecked) as the keys of the same name;
      C(inserted), C(deleted), C(commands), C(missing_hardware), C(params_written), C(reloaded), C(persistence)
      and C(boot_options) what this name did.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: dummy, modules: [dummy], before: {dummy: absent}, after: {dummy: live}, params: numdummies=2,
       params_differ: {}, params_unchecked: [], inserted: [dummy], deleted: [], commands: [], missing_hardware: [],
       params_written: [], reloaded: [], persistence: [], boot_options: null}
params_written:
  description: With O(param_drift=apply), the parameters written through sysfs (in check mode, that would be).
  returned: always
  type: list
  elements: dict
  sample: [{module: kvm, param: halt_poll_ns, value: '0'}]
reloaded:
  description: With O(param_drift=apply), the modules unloaded and loaded again to apply a read-only parameter.
  returned: always
  type: list
  elements: str
  sample: [brd]
missing_hardware:
  description: With O(allow_missing_hardware), the modules the kernel refused with C(ENODEV) or C(ENXIO).
  returned: always
  type: list
  elements: str
  sample: [coretemp]
rolled_back:
  description: When the task failed with O(rollback), the modules it had inserted and then removed again, newest first.
  returned: always
  type: list
  elements: str
  sample: [ip6_udp_tunnel, udp_tunnel]
kernel_log:
  description: When the kernel refused the module, its log lines about it.
  returned: failure, when the kernel logged something
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.load.task import run_task


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='raw', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            params=dict(type='raw', default=''),
            persistent=dict(type='str', default='disabled', choices=['present', 'absent', 'disabled']),
            ignore_install=dict(type='bool', default=False),
            ignore_remove=dict(type='bool', default=False),
            use_blacklist=dict(type='bool', default=False),
            remove_dependencies=dict(type='bool', default=True),
            wait=dict(type='raw', default=0),
            force=dict(type='bool', default=False),
            rollback=dict(type='bool', default=True),
            allow_missing_hardware=dict(type='bool', default=False),
            allow_untrusted=dict(type='bool', default=False),
            remove_holders=dict(type='bool', default=False),
            param_drift=dict(type='str', default='warn', choices=['warn', 'apply', 'ignore']),
        ),
        supports_check_mode=True,
    )
    try:
        result, warnings = run_task(module.params, check_mode=module.check_mode, diff=module._diff)
    except KmodError as exc:
        for warning in getattr(exc, 'warnings', ()):
            module.warn(warning)
        module.fail_json(**exc.fail_kwargs())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
