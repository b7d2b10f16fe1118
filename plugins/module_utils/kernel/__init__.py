# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The running kernel: its state (/proc/modules, /sys/module), the syscalls
that change it, taint.  The only layer that changes the kernel.

May import: the general files, image.
"""
