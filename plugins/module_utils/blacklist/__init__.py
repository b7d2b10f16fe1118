# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kmod_blacklist's logic: the lines of one modprobe.d file edited in place
(edit), what the whole configuration says about a module once they are
written (effective), and the task that plans, writes, unloads and reports.

May import: the general files, image, config, kernel, tree, load.
"""
