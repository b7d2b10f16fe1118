# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One kernel release's module directory and libkmod's lookup of a name in it.

May import: the general files, index.
"""
