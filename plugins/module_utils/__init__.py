# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The library of kernel.kmod, in layers (see each package's docstring).

General files at this level; image, index and config above them; kernel and
tree above those; depmod, load and facts, one per module's job, at the top.
tests/unit/plugins/module_utils/test_layering.py holds the imports to that.
"""
