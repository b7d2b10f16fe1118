# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kmod's binary index built from all its entries at once, for depmod.

``build_index_bytes(entries, layout)`` returns exactly the bytes that
writer.IndexBuilder gives for the same (key, value, priority) entries
in the same order, several times faster: instead of inserting key after key
character by character, it walks the sorted distinct keys once, and the
length two neighbours share says where the trie branches.

Values of one key keep depmod's order: ascending priority, and among equal
priorities the value added last comes first.
"""

import struct

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.index.format import (
    FLAG_CHILDREN, FLAG_PREFIX, FLAG_VALUES, HEADER_SIZE, MAGIC, OFFSET_MASK, VERSION)

_U32 = struct.Struct('>I')
_ONE = _U32.pack(1)


def _encode(text, what):
    try:
        data = text.encode('ascii')
    except (UnicodeEncodeError, AttributeError):
        raise KmodError('index %s %r: only 7-bit ASCII strings are supported' % (what, text))
    if b'\0' in data:
        raise KmodError('index %s %r contains a NUL byte' % (what, text))
    return data


def _group_values(entries):
    """{key bytes: values block bytes} with depmod's value order."""
    groups = {}
    get = groups.get
    try:
        for key, value, priority in entries:
            got = get(key)
            if got is None:
                groups[key] = (priority, value)
            elif isinstance(got, tuple):
                groups[key] = [got, (priority, value)]
            else:
                got.append((priority, value))
        # keys and values checked and encoded in bulk: ASCII, no NUL inside
        names = '\0'.join(groups).encode('ascii')
        if names.count(b'\0') != max(0, len(groups) - 1) or '\0' in ''.join([v for _k, v, _p in entries]):
            _explain_bad_entry(entries)
        blocks = {}
        pack = _U32.pack
        for k, got in zip(names.split(b'\0') if groups else (), groups.values()):
            if isinstance(got, tuple):
                blocks[k] = b''.join((_ONE, pack(got[0]), got[1].encode('ascii'), b'\0'))
                continue
            # stable sort on (priority, newest first)
            order = sorted(range(len(got)), key=lambda i: (got[i][0], -i))
            blocks[k] = pack(len(got)) + b''.join(
                pack(got[i][0]) + got[i][1].encode('ascii') + b'\0' for i in order)
    except (UnicodeEncodeError, AttributeError, TypeError, ValueError, struct.error):
        _explain_bad_entry(entries)
        raise
    return blocks


def _explain_bad_entry(entries):
    """Raise KmodError for the first entry IndexBuilder would refuse."""
    for key, value, priority in entries:
        _encode(key, 'key')
        _encode(value, 'value')
        if not isinstance(priority, int) or not 0 <= priority <= 0xFFFFFFFF:
            raise KmodError('index priority %r of %r out of range' % (priority, key))


def _walk_trie(keys, blocks, leaf, inner):
    """Build the trie of sorted distinct keys bottom-up; the root's handle.

    Each node is made once all of its children are: leaf(prefix, values)
    for a key with nothing below it, inner(prefix, values or None,
    [(char, child handle), ...]) for a node with children (lowest character
    first); both return the handle the parent keeps.  Nodes are made in
    post-order.  One pass over the keys: where a key parts from the one
    before (their common length, from one XOR of the two as integers) says
    which open nodes are complete and which node or leaf splits there.
    """
    # open inner nodes, the root first: [start, end, values, char, children, a key below it]
    # (a node's prefix is key[start:end]; its children are chosen by key[end])
    stack = [[0, 0, None, None, [], b'']]
    from_bytes = int.from_bytes
    prev = None  # the last key: a leaf not made yet, from leaf_start on, below leaf_char
    leaf_start = leaf_char = 0
    for key in keys:
        if prev is None:
            if not key:
                stack[0][2] = blocks[key]  # the empty key's values sit in the root
                continue
            common = 0
        else:
            size = len(prev) if len(prev) < len(key) else len(key)
            x = from_bytes(prev[:size], 'big') ^ from_bytes(key[:size], 'big')
            common = size - ((x.bit_length() + 7) >> 3) if x else size
            if common == len(prev):
                # key goes on below prev: prev's leaf becomes an inner node with values
                stack.append([leaf_start, common, blocks[prev], leaf_char, [], prev])
            elif leaf_start > common:
                stack[-1][4].append((leaf_char, leaf(prev[leaf_start:], blocks[prev])))
            else:
                # prev and key part inside the leaf's prefix: a new inner node there
                made = leaf(prev[common + 1:], blocks[prev])
                stack.append([leaf_start, common, None, leaf_char, [(prev[common], made)], prev])
            top = stack[-1]
            while top[0] > common:
                stack.pop()
                start, end, values, char, children, src = top
                made = inner(src[start:end], values, children)
                top = stack[-1]
                top[4].append((char, made))
            if top[1] > common:
                # top's prefix runs past where key leaves it: split top there
                start, end, values, char, children, src = top
                made = inner(src[common + 1:end], values, children)
                stack[-1] = [start, common, None, char, [(src[common], made)], src]
        prev = key
        leaf_start = common + 1
        leaf_char = key[common]
    if prev:
        stack[-1][4].append((leaf_char, leaf(prev[leaf_start:], blocks[prev])))
    while len(stack) > 1:
        start, end, values, char, children, src = stack.pop()
        stack[-1][4].append((char, inner(src[start:end], values, children)))
    values, children = stack[0][2], stack[0][4]
    if children:
        return inner(b'', values, children)
    # the root without children: nothing, or the empty key's values
    return leaf(b'', values) if values is not None else None


_PACKERS = {}


def _child_words(children, word_of):
    """(range bytes, words bytes) of a node's children, gaps as zero words."""
    first = children[0][0]
    count = children[-1][0] - first + 1
    words = [0] * count
    for char, child in children:
        words[char - first] = word_of(child)
    packer = _PACKERS.get(count)
    if packer is None:
        packer = _PACKERS[count] = struct.Struct('>%dI' % count)
    return bytes((first, first + count - 1)), packer.pack(*words)


def _identity(word):
    return word


def _post_order_body(keys, blocks):
    """(body bytes, root offset word) of the trie of sorted distinct keys, in
    kmod 33's post-order: each node's children (lowest character first) are
    written before it, so every offset a node holds is known when it is
    written, and the file comes out as the trie is built."""
    pieces = []
    emit = pieces.append
    where = [HEADER_SIZE]

    def leaf(prefix, values):
        pos = where[0]
        if prefix:
            data = prefix + b'\0' + values
            word = pos | FLAG_PREFIX | FLAG_VALUES
        else:
            data = values
            word = pos | FLAG_VALUES
        emit(data)
        where[0] = pos + len(data)
        return word

    def inner(prefix, values, children):
        pos = where[0]
        span, words = _child_words(children, _identity)
        mask = FLAG_CHILDREN
        data = span + words
        if prefix:
            data = prefix + b'\0' + data
            mask |= FLAG_PREFIX
        if values is not None:
            data += values
            mask |= FLAG_VALUES
        emit(data)
        where[0] = pos + len(data)
        return pos | mask

    root = _walk_trie(keys, blocks, leaf, inner)
    return b''.join(pieces), HEADER_SIZE if root is None else root


# The pre-order layout, before offsets are known: a leaf is a tuple (mask,
# size, bytes), an inner node a list [mask, total size of its subtree, its
# own size, prefix bytes, values or None, children, offset].
_MASK, _TOTAL, _SIZE, _HEAD, _VALUES, _CHILDREN, _OFFSET = range(7)


def _pre_leaf(prefix, values):
    if prefix:
        data = prefix + b'\0' + values
        return (FLAG_PREFIX | FLAG_VALUES, len(data), data)
    return (FLAG_VALUES, len(values), values)


def _pre_inner(prefix, values, children):
    mask = FLAG_CHILDREN
    head = b''
    if prefix:
        head = prefix + b'\0'
        mask |= FLAG_PREFIX
    size = len(head) + 2 + 4 * (children[-1][0] - children[0][0] + 1)
    if values is not None:
        size += len(values)
        mask |= FLAG_VALUES
    total = size
    for _char, child in children:
        total += child[_TOTAL]
    return [mask, total, size, head, values, children, 0]


def _pre_order_body(keys, blocks):
    """(body bytes, root offset word) of the trie in kmod 34's pre-order:
    each node before its children, lowest character first.  The trie is
    built with sizes first; offsets follow from them, top down."""
    root = _walk_trie(keys, blocks, _pre_leaf, _pre_inner)
    if root is None:
        return b'', HEADER_SIZE
    if isinstance(root, tuple):
        return root[2], HEADER_SIZE | root[_MASK]
    pieces = []
    emit = pieces.append
    root[_OFFSET] = HEADER_SIZE
    stack = [root]
    pop = stack.pop
    while stack:
        node = pop()
        if isinstance(node, tuple):
            emit(node[2])
            continue
        children = node[_CHILDREN]
        at = node[_OFFSET] + node[_SIZE]
        first = children[0][0]
        count = children[-1][0] - first + 1
        words = [0] * count
        for char, child in children:
            if not isinstance(child, tuple):
                child[_OFFSET] = at
            words[char - first] = at | child[_MASK]
            at += child[_TOTAL]
        packer = _PACKERS.get(count)
        if packer is None:
            packer = _PACKERS[count] = struct.Struct('>%dI' % count)
        values = node[_VALUES]
        emit(node[_HEAD] + bytes((first, first + count - 1)) + packer.pack(*words)
             + (values if values is not None else b''))
        stack.extend(child for _char, child in reversed(children))
    return b''.join(pieces), HEADER_SIZE | root[_MASK]


def build_index_bytes(entries, layout='post'):
    """The index file of (key, value, priority) entries: 'post' (kmod <= 33)
    or 'pre' (kmod 34) node order; equal to IndexBuilder's bytes."""
    if layout not in ('pre', 'post'):
        raise KmodError('unknown index layout %r (use one of pre, post)' % (layout,))
    blocks = _group_values(entries)
    body, root_word = (_post_order_body if layout == 'post' else _pre_order_body)(sorted(blocks), blocks)
    if len(body) + HEADER_SIZE > OFFSET_MASK:
        raise KmodError('index too large: %d bytes do not fit 28-bit offsets' % (HEADER_SIZE + len(body)))
    return struct.pack('>III', MAGIC, VERSION, root_word) + body
