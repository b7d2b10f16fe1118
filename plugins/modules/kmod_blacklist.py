#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: kmod_blacklist
short_description: Keep Linux kernel modules from loading, with modprobe.d blacklist and install lines
version_added: 0.1.0
description:
  - Writes C(blacklist NAME) lines, and with O(disable) also C(install NAME /bin/false), into one C(modprobe.d) file,
    or removes them.
  - A C(blacklist) line only stops a module that is looked up by an alias (what udev does for hardware); it does not
    stop C(modprobe NAME) nor a load as a dependency of another module. O(disable=true) also makes those fail. See
    the guide of this collection for the difference, with an example of each.
  - In a file written by someone else only the lines of the modules named are added or removed; every other line,
    comment and blank stays byte for byte.
  - Reports, per module, the other files (with C(FILE:LINE)) that already blacklist or disable it (no duplicate is
    added then), the lines that would make what it writes ineffective, and the boot entries (C(modules-load.d),
    C(/etc/modules), C(modules-load=) on the kernel command line, C(/etc/initramfs-tools/modules)) that still ask for
    the module.
  - With O(unload=true), also removes the modules from the running kernel, as M(kernel.kmod.kmod_load) does with
    O(kernel.kmod.kmod_load#module:state=absent); otherwise the modules still loaded are reported.
  - RV(initramfs_stale) tells when the initramfs copies the file changed, so the change is not in the image until
    it is rebuilt (see M(kernel.kmod.kmod_initramfs)).
author:
  - kernel.kmod developers (@kernel-kmod)
options:
  name:
    description:
      - The modules, by module name (V(pcspkr), V(snd-pcsp) and V(snd_pcsp) are the same module).
      - Letters, digits, V(-) and V(_) only; aliases, patterns and paths are refused.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) writes the lines, V(absent) removes them from O(path) (other files are never changed; what they
        still say is reported as a warning).
    type: str
    choices: [present, absent]
    default: present
  disable:
    description:
      - Also write C(install NAME /bin/false), so that C(modprobe NAME) and loads as a dependency fail too.
      - V(false) removes such a line from O(path) when it is there.
    type: bool
    default: false
  path:
    description:
      - The C(modprobe.d) file to edit. Created (with its directory, mode V(0644)) when missing; a file created by
        this module carries a header and is removed when its last line goes.
      - A symbolic link or a file that is not a regular file is refused.
    type: path
    default: /etc/modprobe.d/kernel-kmod-blacklist.conf
    aliases: [blacklist_file]
  unload:
    description:
      - With O(state=present), remove the modules from the running kernel too, with the dependencies nothing else
        uses (C(modprobe -r)), after the file is written. A module in use by others fails the task unless
        O(remove_holders=true).
    type: bool
    default: false
  remove_holders:
    description:
      - With O(unload=true), remove the modules that hold a module first (C(modprobe --remove-holders)).
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Nothing is written or unloaded; the result says what would change.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Shows the change of O(path).
  platform:
    platforms: linux
    support: full
    description: Linux hosts whose modules are loaded by kmod's C(modprobe) or libkmod.
notes:
  - Needs root.
  - Of the C(install) lines for a module, C(modprobe) runs only the first in the order of the file names; an earlier
    one with another command, or a C(softdep) line for the module, make O(disable) ineffective; both are reported in
    RV(modules) (C(undone_by)) and as warnings.
  - On Debian and Ubuntu the initramfs holds its own copy of C(/etc/modprobe.d); until it is rebuilt, the change does
    not apply at early boot. RV(initramfs_stale) says when that is the case.
  - Runs of this module and of M(kernel.kmod.kmod_load) with O(kernel.kmod.kmod_load#module:persistent) take turns on
    the directory of O(path) with an C(flock) on the directory (on its nearest existing parent while it does not
    exist), shared in check mode, held from reading the file to replacing it. A run that waits more than 120
    seconds fails, naming the directory and the other run's pid. A directory that someone other than root may
    write, or one above it, gets a warning.
seealso:
  - module: kernel.kmod.kmod_initramfs
  - module: kernel.kmod.kmod_load
  - ref: ansible_collections.kernel.kmod.docsite.guide_blacklist
    description: Blacklist versus disable, and the initramfs.
  - name: modprobe.d(5)
    description: The configuration format.
    link: https://man7.org/linux/man-pages/man5/modprobe.d.5.html
'''

EXAMPLES = r'''
- name: Keep pcspkr from being loaded for its hardware
  kernel.kmod.kmod_blacklist:
    name: pcspkr
  register: blacklisted

- name: Rebuild the initramfs when it copies the changed file
  kernel.kmod.kmod_initramfs:
  when: blacklisted.initramfs_stale

- name: Make sure floppy never loads, not even by modprobe floppy, and remove it now
  kernel.kmod.kmod_blacklist:
    name: floppy
    disable: true
    unload: true

- name: Stop blacklisting pcspkr in a file of your own
  kernel.kmod.kmod_blacklist:
    name: pcspkr
    state: absent
    path: /etc/modprobe.d/blacklist-local.conf
'''

RETURN = r'''
name:
  description: The module names, normalised (V(-) becomes V(_)).
  returned: always
  type: list
  elements: str
  sample: [pcspkr]
state:
  description: The state asked for.
  returned: always
  type: str
  sample: present
disable:
  description: O(disable) as given.
  returned: always
  type: bool
blacklist_file:
  description:
    - The file edited (O(path)). Not returned as C(path), which would make Ansible add the file's owner and mode to the
      result and replace RV(state) with the file's type.
  returned: always
  type: str
  sample: /etc/modprobe.d/kernel-kmod-blacklist.conf
file:
  description: What happened (in check mode, would happen) to O(path) - V(create), V(update), V(remove), or V(null).
  returned: always
  type: str
  sample: create
modules:
  description:
    - Per module, C(blacklisted_by) and C(disabled_by) list the other lines (C(FILE:LINE), V(/proc/cmdline:1) for
      the kernel command line) that already blacklist or disable it; C(undone_by) says what would make the lines
      written ineffective; C(boot_entries) the entries that ask for it at boot.
  returned: always
  type: dict
  sample: {pcspkr: {blacklisted_by: [], disabled_by: [], undone_by: [], boot_entries: []}}
deleted:
  description: With O(unload=true), the modules removed from the kernel (in check mode, that would be).
  returned: always
  type: list
  elements: str
commands:
  description: C(remove) commands of C(modprobe.d) run while unloading, with C(rc), C(stdout), C(stderr).
  returned: always
  type: list
  elements: dict
still_loaded:
  description: The modules named that are loaded in the running kernel after the task.
  returned: always
  type: list
  elements: str
initramfs_stale:
  description:
    - V(true) when O(path) changed (in check mode, would change), the installed initramfs generator copies it into
      the image, and the running kernel's image exists; rebuild it with M(kernel.kmod.kmod_initramfs).
  returned: always
  type: bool
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kernel.kmod.plugins.module_utils.blacklist.task import run_task
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='list', elements='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            disable=dict(type='bool', default=False),
            path=dict(type='path', default='/etc/modprobe.d/kernel-kmod-blacklist.conf', aliases=['blacklist_file']),
            unload=dict(type='bool', default=False),
            remove_holders=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    try:
        result, warnings = run_task(module.params, check_mode=module.check_mode, diff=module._diff)
    except KmodError as exc:
        module.fail_json(**exc.fail_kwargs())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
