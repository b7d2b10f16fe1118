# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The initramfs: which generator builds it and what it copies
(generators), reading an image without unpacking it (cpio, image), and
whether an image is stale against the host (stale).

May import: the general files, image, config, tree (and index, which tree uses).
"""
