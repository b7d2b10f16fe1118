# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module indexes: the ``.bin`` trie (format numbers, reader, the two
writers) and the text indexes beside it.

May import: the general files at the top of module_utils.
"""
