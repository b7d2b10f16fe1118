# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reader of kmod's binary indexes (modules.dep.bin, modules.alias.bin, ...).

The file is a radix trie, big-endian: a 12-byte header (magic, version, root
node offset word) and nodes reached through offset words whose high bits say
which parts the node has (prefix, children, values).  kmod 34 writes nodes in
pre-order, older depmods in post-order; both read the same here.

``BinaryIndex`` maps the file with mmap and offers:
- ``lookup(key)``: the (priority, value) pairs of one key, in stored order;
- ``lookup_wildcard(query)``: what libkmod's alias lookup returns, stored
  keys being fnmatch patterns, walked the way libkmod walks them so the
  result set and order are the same;
- ``items()``: every (key, priority, value) in key order.

Damaged files raise FormatError naming the file; every walk visits a node at
most once, so a file with loops cannot hang a reader.
"""

import bisect
import mmap
import os
import struct

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError, KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.fnmatch_glibc import compile_pattern
from ansible_collections.kernel.kmod.plugins.module_utils.index.format import (
    FLAG_CHILDREN, FLAG_PREFIX, FLAG_VALUES, FLAGS_KNOWN, HEADER_SIZE, MAGIC, OFFSET_MASK, VERSION)

# Child characters are 7-bit: libkmod refuses a child range reaching 128.
CHILD_MAX = 128

# Keys and values are bytes; latin-1 maps each byte to one character and back.
ENCODING = 'latin-1'

_WILDCARD_BYTES = (ord('*'), ord('?'), ord('['))
_U32 = struct.Struct('>I')
_HEADER = struct.Struct('>III')


def encode_key(text):
    """The bytes of a key or query, or None if it cannot be in an index."""
    try:
        data = text.encode(ENCODING)
    except UnicodeEncodeError:
        return None
    if b'\0' in data:
        return None
    return data


class _Node(object):
    """One parsed node: its prefix, child slots and where its values are."""

    __slots__ = ('offset', 'prefix', 'first', 'last', 'children_at', 'value_count', 'values_at')

    def __init__(self, offset, prefix, first, last, children_at, value_count, values_at):
        self.offset = offset
        self.prefix = prefix
        self.first = first
        self.last = last
        self.children_at = children_at
        self.value_count = value_count
        self.values_at = values_at


class PriorityList(object):
    """Values kept in libkmod's order: ascending priority, and a value of the
    same priority as earlier ones goes before them (libkmod's add_value)."""

    def __init__(self):
        self._priorities = []
        self._values = []

    def add(self, priority, value):
        at = bisect.bisect_left(self._priorities, priority)
        self._priorities.insert(at, priority)
        self._values.insert(at, value)

    def pairs(self):
        return list(zip(self._priorities, self._values))


class BinaryIndex(object):
    """A kmod binary index file opened read-only with mmap.

    Use as a context manager or call close().  Raises KmodError when the file
    cannot be opened, FormatError when it is not a valid index.
    """

    def __init__(self, path, data=None):
        """Open and map the file at path; with data (bytes), read those
        instead and use path only in messages."""
        self.path = path
        self._map = None
        if data is not None:
            self._map = data
        else:
            self._map = self._open_map(path)
        self.size = len(self._map)
        if self.size < HEADER_SIZE:
            self.close()
            raise FormatError('%s: not a kmod index: %d bytes, shorter than its header'
                              % (path, self.size), path=path)
        magic, version, root = _HEADER.unpack_from(self._map, 0)
        if magic != MAGIC:
            self.close()
            raise FormatError('%s: not a kmod index: magic 0x%08x instead of 0x%08x'
                              % (path, magic, MAGIC), path=path)
        if version >> 16 != VERSION >> 16:
            self.close()
            raise FormatError('%s: unsupported kmod index version 0x%08x (expected major %d)'
                              % (path, version, VERSION >> 16), path=path)
        self.version = version
        self.root_word = root
        # A bad root is reported when the index is opened, not at first use.
        try:
            self._root = self._node(root)
        except FormatError:
            self.close()
            raise

    @classmethod
    def from_bytes(cls, data, name='<memory>'):
        """An index held in memory (bytes); name appears in error messages."""
        return cls(name, data=bytes(data))

    @staticmethod
    def _open_map(path):
        try:
            with open(path, 'rb') as f:
                size = os.fstat(f.fileno()).st_size
                if size < HEADER_SIZE:
                    # mmap cannot map an empty file; the caller reports the size
                    return f.read()
                return mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
        except (OSError, IOError) as exc:
            raise KmodError.from_os_error(exc, 'cannot read index', path=path)
        except ValueError as exc:
            raise FormatError('%s: cannot map index: %s' % (path, exc), path=path)

    # -- life cycle ---------------------------------------------------------

    def close(self):
        if self._map is not None:
            if isinstance(self._map, mmap.mmap):
                self._map.close()
            self._map = None

    @property
    def closed(self):
        return self._map is None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    # -- node decoding ------------------------------------------------------

    def _bad(self, what, offset):
        return FormatError('%s: corrupt kmod index: %s (node at offset %d)' % (self.path, what, offset),
                           path=self.path)

    def _check_open(self):
        if self._map is None:
            raise KmodError('%s: index is closed' % self.path, path=self.path)

    def _string_at(self, pos, offset):
        end = self._map.find(b'\0', pos)
        if end < 0:
            raise self._bad('string without NUL terminator at %d' % pos, offset)
        return self._map[pos:end], end + 1

    def _node(self, word):
        """The node an offset word points to, or None for no node."""
        offset = word & OFFSET_MASK
        if offset == 0:
            return None
        if word & 0xF0000000 & ~FLAGS_KNOWN:
            raise self._bad('unknown node flags 0x%08x' % (word & 0xF0000000), offset)
        if offset < HEADER_SIZE or offset > self.size or (offset == self.size and word & FLAGS_KNOWN):
            raise self._bad('offset outside the file (size %d)' % self.size, offset)
        pos = offset
        prefix = b''
        if word & FLAG_PREFIX:
            prefix, pos = self._string_at(pos, offset)
        first, last, children_at = 1, 0, 0
        if word & FLAG_CHILDREN:
            if pos + 2 > self.size:
                raise self._bad('child range past the end of the file', offset)
            first = self._map[pos]
            last = self._map[pos + 1]
            if first > last or last >= CHILD_MAX:
                raise self._bad('bad child range %d..%d' % (first, last), offset)
            children_at = pos + 2
            pos = children_at + 4 * (last - first + 1)
            if pos > self.size:
                raise self._bad('child offsets past the end of the file', offset)
        value_count, values_at = 0, 0
        if word & FLAG_VALUES:
            if pos + 4 > self.size:
                raise self._bad('value count past the end of the file', offset)
            value_count = _U32.unpack_from(self._map, pos)[0]
            values_at = pos + 4
            # each value takes at least a priority and a NUL
            if value_count * 5 > self.size - values_at:
                raise self._bad('%d values cannot fit in the file' % value_count, offset)
        return _Node(offset, prefix, first, last, children_at, value_count, values_at)

    def _child(self, node, ch):
        if node.first <= ch <= node.last:
            word = _U32.unpack_from(self._map, node.children_at + 4 * (ch - node.first))[0]
            return self._node(word)
        return None

    def _children(self, node):
        """(char, child) of every present child, in character order."""
        out = []
        for ch in range(node.first, node.last + 1):
            child = self._child(node, ch)
            if child is not None:
                out.append((ch, child))
        return out

    def _values(self, node):
        out = []
        pos = node.values_at
        for _value in range(node.value_count):
            if pos + 4 > self.size:
                raise self._bad('value past the end of the file', node.offset)
            priority = _U32.unpack_from(self._map, pos)[0]
            value, pos = self._string_at(pos + 4, node.offset)
            out.append((priority, value.decode(ENCODING)))
        return out

    # -- lookups ------------------------------------------------------------

    def lookup(self, key):
        """[(priority, value), ...] stored for exactly this key, in file order."""
        self._check_open()
        data = encode_key(key)
        if data is None:
            return []
        node = self._root
        i = 0
        # every step consumes at least one key byte, so this ends
        while node is not None:
            prefix = node.prefix
            if data[i:i + len(prefix)] != prefix:
                return []
            i += len(prefix)
            if i == len(data):
                return self._values(node)
            node = self._child(node, data[i])
            i += 1
        return []

    def lookup_first(self, key):
        """The first value of a key (what libkmod's exact search gives), or None."""
        values = self.lookup(key)
        return values[0][1] if values else None

    def __contains__(self, key):
        return bool(self.lookup(key))

    def lookup_wildcard(self, query):
        """[(priority, value), ...] of every stored pattern matching query.

        Like libkmod: descend literally along the query; at each node, the
        subtrees under the children '*', '?' and '[' are searched whole, and
        a stored prefix that reaches a wildcard character ends the literal
        descent.  In a searched subtree each key with values is matched with
        fnmatch against the rest of the query.  Results are ordered by
        ascending priority, ties in reverse order of discovery.
        """
        self._check_open()
        data = encode_key(query)
        found = PriorityList()
        if data is None:
            return []
        node = self._root
        i = 0
        while node is not None:
            prefix = node.prefix
            for j, ch in enumerate(prefix):
                if ch in _WILDCARD_BYTES:
                    self._search_subtree(node, prefix[j:], data[i + j:], found)
                    return found.pairs()
                if i + j >= len(data) or data[i + j] != ch:
                    return found.pairs()
            i += len(prefix)
            for wild in _WILDCARD_BYTES:
                child = self._child(node, wild)
                if child is not None:
                    self._search_subtree(child, bytes((wild,)) + child.prefix, data[i:], found)
            if i == len(data):
                for priority, value in self._values(node):
                    found.add(priority, value)
                return found.pairs()
            node = self._child(node, data[i])
            i += 1
        return found.pairs()

    def _search_subtree(self, top, top_pattern, rest, found):
        """Match every key of a subtree against rest: children first, then
        the node itself (libkmod's order, which decides ties)."""
        rest_text = rest.decode(ENCODING)
        seen = set([top.offset])
        stack = [(top, top_pattern, self._children(top), 0)]
        while stack:
            node, pattern, children, k = stack.pop()
            if k < len(children):
                stack.append((node, pattern, children, k + 1))
                ch, child = children[k]
                if child.offset in seen:
                    raise self._bad('node reached twice', child.offset)
                seen.add(child.offset)
                stack.append((child, pattern + bytes((ch,)) + child.prefix, self._children(child), 0))
                continue
            if node.value_count and compile_pattern(pattern.decode(ENCODING)).match(rest_text):
                for priority, value in self._values(node):
                    found.add(priority, value)

    # -- whole-index walks --------------------------------------------------

    def items(self):
        """Yield (key, priority, value) for every value, keys in byte order."""
        self._check_open()
        if self._root is None:
            return
        seen = set([self._root.offset])
        stack = [(self._root, self._root.prefix)]
        while stack:
            node, key = stack.pop()
            if node.value_count:
                text = key.decode(ENCODING)
                for priority, value in self._values(node):
                    yield text, priority, value
            children = self._children(node)
            for ch, child in reversed(children):
                if child.offset in seen:
                    raise self._bad('node reached twice', child.offset)
                seen.add(child.offset)
                stack.append((child, key + bytes((ch,)) + child.prefix))

    def keys(self):
        """Every key with values, in byte order."""
        last = None
        for key, _priority, _value in self.items():
            if key != last:
                yield key
                last = key

    def to_dict(self):
        """{key: [(priority, value), ...]} of the whole index."""
        out = {}
        for key, priority, value in self.items():
            out.setdefault(key, []).append((priority, value))
        return out
