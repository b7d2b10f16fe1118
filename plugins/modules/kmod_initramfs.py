#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: kmod_initramfs
short_description: Rebuild the initramfs exactly when it is stale
version_added: 0.1.0
description:
  - Finds the initramfs generator (initramfs-tools' C(update-initramfs), C(dracut) or C(mkinitcpio)) and reads the
    image of each kernel release asked for in place, without unpacking it to disk (the cpio archives it is made of,
    an uncompressed early part first, then the main part compressed with gzip, xz, lzma or bzip2 by the standard
    library, or zstd, lz4 or lzop by their program).
  - Compares what the image holds with what the generator would put in now, file by file and byte for byte - the
    C(modprobe.d) files it copies, the module list (C(/etc/initramfs-tools/modules), dracut's C(add_drivers),
    C(force_drivers) and C(omit_drivers), mkinitcpio's C(MODULES)), and every module file it carries against the
    module tree - and returns C(stale) per release with the reasons.
  - With O(state=current), rebuilds exactly the stale images and reports C(changed) only then; a second run right
    after reports no change.
author:
  - kernel.kmod developers (@kernel-kmod)
options:
  kernel_release:
    description:
      - The kernel releases whose images to check, V(all) for every release with a module directory; the running
        kernel when not given.
    type: list
    elements: str
  state:
    description:
      - V(current) rebuilds the stale images only, V(rebuilt) rebuilds them all.
    type: str
    choices: [current, rebuilt]
    default: current
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads the images and reports what would be rebuilt and why; the generator is never run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    platforms: linux
    support: full
    description: Hosts with initramfs-tools, dracut or mkinitcpio.
notes:
  - Needs root. The generator is run without a shell, with C(PATH) set to the system directories.
  - dracut is assumed to build host-only images (it then copies C(/etc/modprobe.d)); mkinitcpio's image is
    C(/boot/initramfs-linux.img), rebuilt with C(mkinitcpio -k RELEASE -g IMAGE).
  - Files the generator's own hooks add to the module list (initramfs-tools' C(force_load)) are reported as
    removed, since no configuration file lists them.
seealso:
  - module: kernel.kmod.kmod_blacklist
  - ref: ansible_collections.kernel.kmod.docsite.guide_blacklist
    description: Blacklist versus disable, and the initramfs.
'''

EXAMPLES = r'''
- name: Rebuild the running kernel's initramfs if it is stale
  kernel.kmod.kmod_initramfs:

- name: Which images are stale, and why
  kernel.kmod.kmod_initramfs:
    kernel_release: all
  check_mode: true
  register: images

- name: Always rebuild one release
  kernel.kmod.kmod_initramfs:
    kernel_release: [6.1.0-18-amd64]
    state: rebuilt
'''

RETURN = r'''
generator:
  description: The generator found - V(initramfs-tools), V(dracut) or V(mkinitcpio).
  returned: always
  type: str
  sample: initramfs-tools
program:
  description: Its program.
  returned: always
  type: str
  sample: /usr/sbin/update-initramfs
images:
  description:
    - One entry per release - C(release), C(image) (its path), C(stale), C(reasons) (each with C(path), C(change)
      V(added), V(removed) or V(differs), and C(what) V(modprobe.d), V(module list), V(module) or V(image)),
      C(rebuilt), C(seconds) the rebuild took, and C(command) run (or that would run in check mode).
  returned: always
  type: list
  elements: dict
  sample:
    - release: 6.1.0-18-amd64
      image: /boot/initrd.img-6.1.0-18-amd64
      stale: true
      reasons: [{path: /etc/modprobe.d/kernel-kmod-blacklist.conf, change: added, what: modprobe.d}]
      rebuilt: true
      seconds: 54.2
      command: [/usr/sbin/update-initramfs, -u, -k, 6.1.0-18-amd64]
rebuilt:
  description: The releases whose image was rebuilt (in check mode, would be).
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.task import run_task


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kernel_release=dict(type='list', elements='str'),
            state=dict(type='str', default='current', choices=['current', 'rebuilt']),
        ),
        supports_check_mode=True,
    )
    try:
        result, warnings = run_task(module.params, check_mode=module.check_mode)
    except KmodError as exc:
        module.fail_json(**exc.fail_kwargs())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
