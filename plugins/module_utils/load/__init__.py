# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kmod_load's logic: plan (modprobe -D), run (the syscalls), persistence
(modules-load.d, modprobe.d) and the task that ties them together.

May import: the general files, image, config, kernel, tree.
"""
