# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by every module that reads a module tree."""


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  kernel_release:
    description:
      - The kernel release whose module tree is used, as C(uname -r) prints it.
      - Defaults to the running kernel's release (read under O(root)).
      - One directory name under C(lib/modules); a value with C(/), C(.) or C(..) alone, or a control
        character, is refused.
    type: str
  root:
    description:
      - Base directory under which the module tree (C(lib/modules/<release>) or
        C(usr/lib/modules/<release>)) and the configuration directories are read,
        as C(depmod -b) and C(modprobe -d) take it.
      - The running kernel (C(/proc), C(/sys)) is read only when O(root=/) and
        O(kernel_release) is the running kernel's release.
    type: path
    default: /
'''
