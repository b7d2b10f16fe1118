# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kmod_facts's logic: gathering, and the effective system configuration.

May import: the general files, image, config, kernel, tree, initramfs.
"""
