# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One module file: compression, ELF, signature, modinfo, stripping.

What a ``.ko`` (or ``.ko.xz``/``.zst``/``.gz``) says about itself, read from
its bytes alone.  May import: the general files at the top of module_utils.
"""
