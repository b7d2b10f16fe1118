#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: kmod_facts
short_description: Gather facts about Linux kernel modules
version_added: 0.1.0
description:
  - Reports the kernel modules of a host as C(ansible_facts.kmod), that is which are
    loaded (with size, reference count, holders, state, taint and parameters),
    which are built into the kernel, which are available in the module tree,
    and the effective configuration from C(modprobe.d), C(modules-load.d),
    C(/etc/modules) and the kernel command line, each entry with the file that set it.
  - With O(modules), reports what C(modinfo) shows for each of those modules.
  - Reads only; never changes the host.
author:
  - kernel.kmod developers (@kernel-kmod)
extends_documentation_fragment:
  - kernel.kmod.module_tree
options:
  available:
    description:
      - Also report every module of the module tree, name to file path, as RV(ansible_facts.kmod.available).
    type: bool
    default: false
  modules:
    description:
      - Report the C(modinfo) of these modules, found by name, alias, C(symbol:NAME) or absolute file
        path the way C(modinfo) finds them, as RV(ansible_facts.kmod.info).
      - A name that is neither a module of the tree nor a builtin module is
        listed in RV(ansible_facts.kmod.missing) with a warning; the task does not fail.
    type: list
    elements: str
    default: []
  initramfs:
    description:
      - Also read the release's initramfs image and report whether it is stale, as
        RV(ansible_facts.kmod.initramfs) (see M(kernel.kmod.kmod_initramfs)). Reading an image takes a while, so it is
        not done by default.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads only, in check mode as well.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  facts:
    support: full
    description: Returns C(ansible_facts.kmod).
  platform:
    platforms: linux
    support: full
    description: Linux kernels with loadable module support.
notes:
  - Reading the parameters of loaded modules under C(/sys/module) needs root
    for some parameters; those that cannot be read are reported as V(null).
seealso:
  - name: modinfo(8)
    description: Show information about a Linux kernel module.
    link: https://man7.org/linux/man-pages/man8/modinfo.8.html
  - name: modprobe.d(5)
    description: Configuration directory for modprobe.
    link: https://man7.org/linux/man-pages/man5/modprobe.d.5.html
'''

EXAMPLES = r'''
- name: Gather kernel module facts
  kernel.kmod.kmod_facts:

- name: Fail when the dummy module is loaded
  ansible.builtin.assert:
    that: "'dummy' not in ansible_facts.kmod.loaded"

- name: Show the modinfo of two modules
  kernel.kmod.kmod_facts:
    modules:
      - e1000e
      - pci:v00008086d000010D3sv*sd*bc*sc*i*
  register: kmod

- name: Print the parameters of e1000e
  ansible.builtin.debug:
    var: ansible_facts.kmod.info.e1000e.parameters

- name: List every module available for another kernel in an image being built
  kernel.kmod.kmod_facts:
    root: /srv/images/rootfs
    kernel_release: 6.1.0-56-amd64
    available: true
'''

RETURN = r'''
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    kmod:
      description: Kernel module facts.
      returned: always
      type: dict
      contains:
        kernel_release:
          description: The kernel release the facts describe.
          type: str
          returned: always
          sample: 6.1.0-56-amd64
        module_dir:
          description: The module directory of that release, or V(null) when it does not exist.
          type: str
          returned: always
          sample: /lib/modules/6.1.0-56-amd64
        running:
          description: Whether the facts describe the running kernel (O(root=/) and its release).
          type: bool
          returned: always
        loaded:
          description:
            - Loaded modules by name, from C(/proc/modules) and C(/sys/module).
            - C(state) is as C(/proc/modules) spells it (V(Live), V(Loading), V(Unloading)),
              C(initstate) as C(/sys/module) does; C(refcnt) is V(null) on kernels without module unloading.
            - C(params) holds the parameters the module lets sysfs show (some, like dummy's, show none);
              an unreadable parameter is V(null).
            - Empty unless RV(ansible_facts.kmod.running) is true.
          type: dict
          returned: always
          sample:
            brd:
              size: 20480
              refcnt: 0
              used_by: []
              holders: []
              permanent: false
              state: Live
              initstate: live
              address: '0x0000000000000000'
              taint: ''
              params:
                max_part: '1'
                rd_nr: '2'
                rd_size: '8192'
              srcversion: 9C3F5A0B1E2D4C6F7A8B9C0
              version: null
              coresize: 20480
              initsize: 0
              in_proc_modules: true
              in_sysfs: true
        builtin:
          description: Modules built into the kernel (C(modules.builtin)), by name, sorted.
          type: list
          elements: str
          returned: always
        builtin_params:
          description: Parameters of builtin modules from C(/sys/module), by module name.
          type: dict
          returned: always
        config:
          description:
            - The effective C(modprobe.d) configuration and kernel command line.
            - Every entry names the C(file) and C(line) that set it (C(/proc/cmdline) for the command line).
          type: dict
          returned: always
          contains:
            blacklist:
              description: Blacklisted modules.
              type: list
              elements: dict
              sample: [{name: pcspkr, file: /etc/modprobe.d/blacklist.conf, line: 1}]
            disabled:
              description: Modules whose C(install) command is C(/bin/false) or C(/bin/true) (so modprobe never loads them).
              type: list
              elements: dict
            options:
              description: Options by module name, in configuration order, each with its file and line.
              type: dict
            aliases:
              description: C(alias) lines.
              type: list
              elements: dict
            softdeps:
              description: C(softdep) lines with their pre and post modules.
              type: list
              elements: dict
            weakdeps:
              description: C(weakdep) lines.
              type: list
              elements: dict
            install:
              description: C(install) commands.
              type: list
              elements: dict
            remove:
              description: C(remove) commands.
              type: list
              elements: dict
            files:
              description: The configuration files read, in the order kmod reads them.
              type: list
              elements: str
            masked:
              description: Files ignored because a file of the same name in a directory of higher precedence masks them.
              type: list
              elements: dict
            module_blacklist:
              description: Modules listed in C(module_blacklist=) on the kernel command line (enforced by the kernel).
              type: list
              elements: str
            warnings:
              description: Lines that kmod would skip, each as C(FILE:LINE) followed by the reason.
              type: list
              elements: str
        modules_load:
          description: Modules loaded at boot by C(modules-load.d) and C(/etc/modules), in that order, each with its file and line.
          type: list
          elements: dict
        cmdline:
          description: The kernel command line (C(/proc/cmdline)); V(null) unless running.
          type: str
          returned: always
        kernel:
          description: The state of the running kernel's module support; values are V(null) unless running.
          type: dict
          returned: always
          contains:
            tainted:
              description: The taint bitmask of C(/proc/sys/kernel/tainted).
              type: int
            taint_flags:
              description: The bits of RV(ansible_facts.kmod.kernel.tainted), with letter, name and meaning.
              type: list
              elements: dict
            sig_enforce:
              description: Whether the kernel only loads validly signed modules.
              type: bool
            modules_disabled:
              description: Whether loading and unloading modules is disabled until reboot.
              type: bool
            compression:
              description: The compression the kernel decompresses itself (kernel 6.4 and newer), else V(null).
              type: str
        available:
          description: Every module of the tree, name to absolute file path.
          returned: when O(available=true)
          type: dict
          sample: {dummy: /lib/modules/6.1.0-56-amd64/kernel/drivers/net/dummy.ko}
        info:
          description:
            - The C(modinfo) of each module that the names in O(modules) resolved to, keyed by module name.
            - C(fields) holds every C(.modinfo) record, key to the list of its values, in file order.
          returned: when O(modules) is not empty
          type: dict
          sample:
            dummy:
              name: dummy
              filename: /lib/modules/6.1.0-56-amd64/kernel/drivers/net/dummy.ko
              license: GPL
              description: Dummy netdevice driver which discards all packets sent to it
              author: []
              alias: [rtnl-link-dummy]
              depends: []
              softdep: null
              weakdep: null
              vermagic: 6.1.0-56-amd64 SMP preempt mod_unload modversions
              intree: true
              builtin: false
              signer: Build time autogenerated kernel key
              sig_key: 4B:6E:F5:AB:CA:66:98:25:17:8E:05:2C:84:66:7C:CB:C0:53:1F:8C
              sig_hashalgo: sha256
              parameters:
                numdummies: {type: int, description: Number of dummy pseudo devices}
        lookup:
          description: Each name of O(modules) that was found, to the module names it resolved to (an alias may match several).
          returned: when O(modules) is not empty
          type: dict
          sample: {"pci:v00008086d000010D3sv*sd*bc*sc*i*": [e1000e]}
        missing:
          description: Names in O(modules) that are neither modules of the tree nor builtin.
          returned: when O(modules) is not empty
          type: list
          elements: str
        initramfs:
          description:
            - The initramfs of the release - C(generator) (V(initramfs-tools), V(dracut), V(mkinitcpio) or V(null) when
              none is installed), C(program), C(image), C(stale) and C(reasons) as M(kernel.kmod.kmod_initramfs)
              returns them (V(null) with a warning when the image cannot be read).
          returned: when O(initramfs=true)
          type: dict
          sample:
            generator: initramfs-tools
            program: /usr/sbin/update-initramfs
            image: /boot/initrd.img-6.1.0-18-amd64
            stale: true
            reasons: [{path: /etc/modprobe.d/kernel-kmod-blacklist.conf, change: added, what: modprobe.d}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.facts.gather import gather_facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kernel_release=dict(type='str'),
            root=dict(type='path', default='/'),
            available=dict(type='bool', default=False),
            modules=dict(type='list', elements='str', default=[]),
            initramfs=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    try:
        facts, warnings = gather_facts(
            root=module.params['root'],
            release=module.params['kernel_release'],
            available=module.params['available'],
            modules=module.params['modules'],
            initramfs=module.params['initramfs'],
        )
    except KmodError as exc:
        module.fail_json(**exc.fail_kwargs())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, ansible_facts={'kmod': facts})


if __name__ == '__main__':
    main()
