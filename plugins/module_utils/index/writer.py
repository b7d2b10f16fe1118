# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writer of kmod's binary indexes (the ``*.bin`` files depmod produces).

``IndexBuilder`` collects (key, value, priority) entries into the canonical
radix trie and serialises it in either node layout:
- ``'pre'``: pre-order, root right after the header (kmod 34);
- ``'post'``: post-order, root last (kmod 33 and older).

Insertion follows depmod: a value goes before the first stored value whose
priority is not lower, so equal priorities come out newest first, and a
value given twice for a key is stored twice (``add`` reports it).  With the
same entries in the same order the bytes equal depmod's.
"""

import struct

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.index.format import (
    FLAG_CHILDREN, FLAG_PREFIX, FLAG_VALUES, HEADER_SIZE, MAGIC, OFFSET_MASK, VERSION)

LAYOUTS = ('pre', 'post')


class _TrieNode(object):
    __slots__ = ('prefix', 'children', 'values', 'size', 'total')

    def __init__(self, prefix=b'', children=None, values=None):
        self.prefix = prefix
        self.children = children if children is not None else {}
        self.values = values if values is not None else []
        self.size = 0
        self.total = 0

    def mask(self):
        out = 0
        if self.prefix:
            out |= FLAG_PREFIX
        if self.children:
            out |= FLAG_CHILDREN
        if self.values:
            out |= FLAG_VALUES
        return out

    def add_value(self, priority, value):
        """depmod's order; True when the value was already there."""
        duplicate = any(v == value for _p, v in self.values)
        at = 0
        while at < len(self.values) and self.values[at][0] < priority:
            at += 1
        self.values.insert(at, (priority, value))
        return duplicate

    def encode(self, child_words):
        """The node's bytes, given the offset words of its child slots."""
        out = []
        if self.prefix:
            out.append(self.prefix + b'\0')
        if self.children:
            first, last = min(self.children), max(self.children)
            out.append(bytes((first, last)))
            out.append(struct.pack('>%dI' % (last - first + 1), *child_words))
        if self.values:
            out.append(struct.pack('>I', len(self.values)))
            for priority, value in self.values:
                out.append(struct.pack('>I', priority) + value + b'\0')
        return b''.join(out)

    def child_slots(self):
        """[child or None] for every character from the first to the last."""
        if not self.children:
            return []
        first, last = min(self.children), max(self.children)
        return [self.children.get(ch) for ch in range(first, last + 1)]


def _check_string(text, what):
    if not isinstance(text, str):
        raise KmodError('index %s must be a string, not %r' % (what, text))
    try:
        data = text.encode('ascii')
    except UnicodeEncodeError:
        raise KmodError('index %s %r: only 7-bit ASCII is supported' % (what, text))
    if b'\0' in data:
        raise KmodError('index %s %r contains a NUL byte' % (what, text))
    return data


class IndexBuilder(object):
    """Collects entries and serialises the trie: ``to_bytes(layout)``."""

    def __init__(self):
        self._root = _TrieNode()
        self.count = 0

    def add(self, key, value, priority=0):
        """Insert one value; True when this key already had this value."""
        key_bytes = _check_string(key, 'key')
        value_bytes = _check_string(value, 'value')
        if not isinstance(priority, int) or not 0 <= priority <= 0xFFFFFFFF:
            raise KmodError('index priority %r of %r out of range' % (priority, key))
        self.count += 1
        node = self._root
        i = 0
        while True:
            prefix = node.prefix
            j = 0
            limit = min(len(prefix), len(key_bytes) - i)
            while j < limit and prefix[j] == key_bytes[i + j]:
                j += 1
            if j < len(prefix):
                # the key leaves the prefix here: split the node in two
                lower = _TrieNode(prefix[j + 1:], node.children, node.values)
                node.prefix = prefix[:j]
                node.children = {prefix[j]: lower}
                node.values = []
            i += j
            if i == len(key_bytes):
                return node.add_value(priority, value_bytes)
            ch = key_bytes[i]
            child = node.children.get(ch)
            if child is None:
                node.children[ch] = _TrieNode(key_bytes[i + 1:], values=[(priority, value_bytes)])
                return False
            node = child
            i += 1

    def add_all(self, entries):
        """Insert (key, value, priority) triples in order."""
        for key, value, priority in entries:
            self.add(key, value, priority)
        return self

    def to_bytes(self, layout='pre'):
        """The whole index file: 'pre' (kmod 34) or 'post' (kmod <= 33)."""
        if layout not in LAYOUTS:
            raise KmodError('unknown index layout %r (use one of %s)' % (layout, ', '.join(LAYOUTS)))
        if layout == 'pre':
            body, root_word = _write_preorder(self._root)
        else:
            body, root_word = _write_postorder(self._root)
        if HEADER_SIZE + len(body) > OFFSET_MASK:
            raise KmodError('index too large: %d bytes do not fit 28-bit offsets' % (HEADER_SIZE + len(body)))
        return struct.pack('>III', MAGIC, VERSION, root_word) + body


def _write_postorder(root):
    """Children before their parent; returns (body, root offset word)."""
    chunks = []
    offset = HEADER_SIZE
    # offset words of finished child slots; a node takes its own off the end
    words = []
    stack = [(root, root.child_slots(), 0)]
    while stack:
        node, slots, k = stack.pop()
        if k < len(slots):
            stack.append((node, slots, k + 1))
            child = slots[k]
            if child is None:
                words.append(0)
            else:
                stack.append((child, child.child_slots(), 0))
            continue
        mine = words[len(words) - len(slots):]
        del words[len(words) - len(slots):]
        data = node.encode(mine)
        words.append(offset | node.mask())
        chunks.append(data)
        offset += len(data)
    return b''.join(chunks), words.pop()


def _write_preorder(root):
    """Each node before its children, root first; returns (body, root word)."""
    _measure(root)
    chunks = []
    stack = [(root, HEADER_SIZE)]
    while stack:
        node, offset = stack.pop()
        slots = node.child_slots()
        words = []
        placed = []
        next_offset = offset + node.size
        for child in slots:
            if child is None:
                words.append(0)
            else:
                words.append(next_offset | child.mask())
                placed.append((child, next_offset))
                next_offset += child.total
        chunks.append(node.encode(words))
        stack.extend(reversed(placed))
    return b''.join(chunks), HEADER_SIZE | root.mask()


def _measure(root):
    """Set size (own bytes) and total (subtree bytes) of every node."""
    order = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(node.children.values())
    for node in reversed(order):
        size = 0
        if node.prefix:
            size += len(node.prefix) + 1
        if node.children:
            size += 2 + 4 * (max(node.children) - min(node.children) + 1)
        if node.values:
            size += 4 + sum(5 + len(v) for _p, v in node.values)
        node.size = size
        node.total = size + sum(c.total for c in node.children.values())


def build_index(entries, layout='pre'):
    """The bytes of an index holding (key, value, priority) entries."""
    return IndexBuilder().add_all(entries).to_bytes(layout)
