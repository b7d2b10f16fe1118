# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The numbers of kmod's binary index format, shared by its reader and writers.

A 12-byte big-endian header (magic, version, root offset word), then nodes
reached through 32-bit offset words whose high bits say which parts a node
has.  Kept apart from the reader so that the writers depmod uses import no
more than these numbers.
"""

MAGIC = 0xB007F457
VERSION = 0x00020001
HEADER_SIZE = 12

FLAG_PREFIX = 0x80000000
FLAG_VALUES = 0x40000000
FLAG_CHILDREN = 0x20000000
FLAGS_KNOWN = FLAG_PREFIX | FLAG_VALUES | FLAG_CHILDREN
OFFSET_MASK = 0x0FFFFFFF
