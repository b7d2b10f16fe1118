# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod in Python: scan, parse (with its fast ELF reader), model, graph,
outputs, state, kmod's hash and version, and the pipeline that runs them.

May import: the general files, image, index, config, tree.
"""
