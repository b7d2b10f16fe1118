# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Configuration files: precedence of the config directories, modprobe.d,
depmod.d, the kernel command line, modules-load.d, module options and the
options a module gets at boot.

May import: the general files at the top of module_utils.
"""
