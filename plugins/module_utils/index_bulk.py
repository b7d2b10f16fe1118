# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kmod's binary index built from all its entries at once, for depmod.

``build_index_bytes(entries, layout)`` returns exactly the bytes that
index_writer.IndexBuilder gives for the same (key, value, priority) entries
in the same order, several times faster: instead of inserting key after key
character by character, it sorts the distinct keys and cuts the sorted list
into trie nodes (a node's prefix is what its first and last key share; its
children are runs of keys with the same next character, found by bisection),
so the per-character work happens inside bytes comparisons.

Values of one key keep depmod's order: ascending priority, and among equal
priorities the value added last comes first.
"""

import struct
from bisect import bisect_left

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.index import (
    FLAG_CHILDREN, FLAG_PREFIX, FLAG_VALUES, HEADER_SIZE, MAGIC, OFFSET_MASK, VERSION)

_U32 = struct.Struct('>I')
_NEXT_BYTE = [bytes((c + 1,)) for c in range(255)]
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


def _shared_length(a, b, start):
    """The end of the common part of a and b, both known equal up to start."""
    limit = min(len(a), len(b))
    if a[start:limit] == b[start:limit]:
        return limit
    low, high = start, limit
    while high - low > 1:
        mid = (low + high) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid
    return low


# A node is a list: [mask, size, total, offset, prefix, values, first, slots]
# (slots: child nodes or None from the first to the last character).
MASK, SIZE, TOTAL, OFFSET, PREFIX, VALUES, FIRST, SLOTS = range(8)


def _leaf(prefix, values):
    size = len(values)
    mask = FLAG_VALUES
    if prefix:
        size += len(prefix) + 1
        mask |= FLAG_PREFIX
    return [mask, size, size, 0, prefix, values, 0, None]


def _build(keys, blocks):
    """The trie of sorted distinct keys: (root, nodes in post-order), sized."""
    postorder = []
    root = [0, 0, 0, 0, b'', None, 0, None]
    if not keys:
        postorder.append(root)
        return root, postorder
    # frames: (node, lo, hi, depth); a frame with lo < 0 closes its node
    stack = [(root, 0, len(keys), 0)]
    pop = stack.pop
    push = stack.append
    emit = postorder.append
    while stack:
        node, lo, hi, depth = pop()
        if lo < 0:
            # its children are done: size it and place it after them
            size = 0
            mask = 0
            if node[PREFIX]:
                size = len(node[PREFIX]) + 1
                mask = FLAG_PREFIX
            if node[VALUES] is not None:
                size += len(node[VALUES])
                mask |= FLAG_VALUES
            total = 0
            slots = node[SLOTS]
            if slots:
                size += 2 + 4 * len(slots)
                mask |= FLAG_CHILDREN
                for child in slots:
                    if child is not None:
                        total += child[TOTAL]
            node[MASK] = mask
            node[SIZE] = size
            node[TOTAL] = size + total
            emit(node)
            continue
        if lo == hi:
            # a leaf, made by its parent
            emit(node)
            continue
        first_key = keys[lo]
        if depth == 0:
            # kmod's root never holds a prefix
            end = 0
        else:
            end = _shared_length(first_key, keys[hi - 1], depth)
        node[PREFIX] = first_key[depth:end]
        start = lo
        if len(first_key) == end:
            node[VALUES] = blocks[first_key]
            start = lo + 1
        runs = []
        i = start
        while i < hi:
            key = keys[i]
            ch = key[end]
            if ch == 255:
                j = hi
            else:
                j = bisect_left(keys, key[:end] + _NEXT_BYTE[ch], i, hi)
            runs.append((ch, i, j))
            i = j
        push((node, -1, -1, depth))
        if not runs:
            continue
        first = runs[0][0]
        slots = [None] * (runs[-1][0] - first + 1)
        node[FIRST] = first
        node[SLOTS] = slots
        child_depth = end + 1
        # pushed last-first so the lowest character is walked first
        for ch, i, j in reversed(runs):
            if j - i == 1:
                key = keys[i]
                child = _leaf(key[child_depth:], blocks[key])
                push((child, 0, 0, 0))
            else:
                child = [0, 0, 0, 0, b'', None, 0, None]
                push((child, i, j, child_depth))
            slots[ch - first] = child
    return root, postorder


def _encode_node(node):
    prefix = node[PREFIX]
    slots = node[SLOTS]
    values = node[VALUES]
    if not slots:
        if prefix:
            return prefix + b'\0' + values if values is not None else prefix + b'\0'
        return values if values is not None else b''
    out = [prefix + b'\0'] if prefix else []
    out.append(bytes((node[FIRST], node[FIRST] + len(slots) - 1)))
    out.append(struct.pack('>%dI' % len(slots), *[0 if c is None else c[OFFSET] | c[MASK] for c in slots]))
    if values is not None:
        out.append(values)
    return b''.join(out)


_LEAF_WITH_PREFIX = FLAG_PREFIX | FLAG_VALUES
_PACKERS = {}


def _node_bytes(prefix, values, children):
    """(bytes, flags) of a node with children: prefix, child range and words, values."""
    first = children[0][0]
    count = children[-1][0] - first + 1
    words = [0] * count
    for char, word in children:
        words[char - first] = word
    packer = _PACKERS.get(count)
    if packer is None:
        packer = _PACKERS[count] = struct.Struct('>%dI' % count)
    mask = FLAG_CHILDREN
    head = bytes((first, first + count - 1)) + packer.pack(*words)
    if prefix:
        head = prefix + b'\0' + head
        mask |= FLAG_PREFIX
    if values is not None:
        head += values
        mask |= FLAG_VALUES
    return head, mask


def _post_order_body(keys, blocks):
    """(body bytes, root offset word) of the trie of sorted distinct keys, in
    kmod 33's post-order: each node's children (lowest character first) are
    written before it, so every offset a node holds is known when it is
    written.  One pass over the keys: where a key parts from the one before
    (their common length, from one XOR of the two as integers) says which
    open nodes are complete, and which node or leaf splits there.
    """
    pieces = []
    emit = pieces.append
    pos = HEADER_SIZE
    # open inner nodes, the root first: [start, end, values, char, children, a key below it]
    # (a node's prefix is key[start:end]; its children are chosen by key[end])
    stack = [[0, 0, None, None, [], b'']]
    from_bytes = int.from_bytes
    prev = None  # the last key: a leaf not written yet, from leaf_start on, below leaf_char
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
            else:
                cut = leaf_start if leaf_start > common else common + 1
                values = blocks[prev]
                if len(prev) > cut:
                    data = prev[cut:] + b'\0' + values
                    word = pos | _LEAF_WITH_PREFIX
                else:
                    data = values
                    word = pos | FLAG_VALUES
                emit(data)
                pos += len(data)
                if leaf_start > common:
                    stack[-1][4].append((leaf_char, word))
                else:
                    # prev and key part inside the leaf's prefix: a new inner node there
                    stack.append([leaf_start, common, None, leaf_char, [(prev[common], word)], prev])
            top = stack[-1]
            while top[0] > common:
                stack.pop()
                start, end, values, char, children, src = top
                data, mask = _node_bytes(src[start:end], values, children)
                emit(data)
                top = stack[-1]
                top[4].append((char, pos | mask))
                pos += len(data)
            if top[1] > common:
                # top's prefix runs past where key leaves it: split top there
                start, end, values, char, children, src = top
                data, mask = _node_bytes(src[common + 1:end], values, children)
                emit(data)
                stack[-1] = [start, common, None, char, [(src[common], pos | mask)], src]
                pos += len(data)
        prev = key
        leaf_start = common + 1
        leaf_char = key[common]
    if prev:
        values = blocks[prev]
        if len(prev) > leaf_start:
            data = prev[leaf_start:] + b'\0' + values
            word = pos | _LEAF_WITH_PREFIX
        else:
            data = values
            word = pos | FLAG_VALUES
        emit(data)
        pos += len(data)
        stack[-1][4].append((leaf_char, word))
    while stack:
        start, end, values, char, children, src = stack.pop()
        if children:
            data, mask = _node_bytes(src[start:end], values, children)
        else:
            # the root without children: nothing, or the empty key's values
            data, mask = (values, FLAG_VALUES) if values is not None else (b'', 0)
        emit(data)
        word = pos | mask
        pos += len(data)
        if stack:
            stack[-1][4].append((char, word))
    return b''.join(pieces), word


def build_index_bytes(entries, layout='post'):
    """The index file of (key, value, priority) entries: 'post' (kmod <= 33)
    or 'pre' (kmod 34) node order; equal to IndexBuilder's bytes."""
    if layout not in ('pre', 'post'):
        raise KmodError('unknown index layout %r (use one of pre, post)' % (layout,))
    blocks = _group_values(entries)
    if layout == 'post':
        body, root_word = _post_order_body(sorted(blocks), blocks)
        if len(body) + HEADER_SIZE > OFFSET_MASK:
            raise KmodError('index too large: %d bytes do not fit 28-bit offsets' % (HEADER_SIZE + len(body)))
        return struct.pack('>III', MAGIC, VERSION, root_word) + body
    root, postorder = _build(sorted(blocks), blocks)
    if layout == 'post':
        offset = HEADER_SIZE
        for node in postorder:
            node[OFFSET] = offset
            offset += node[SIZE]
        ordered = postorder
    else:
        ordered = []
        root[OFFSET] = HEADER_SIZE
        stack = [root]
        while stack:
            node = stack.pop()
            ordered.append(node)
            slots = node[SLOTS]
            if slots:
                at = node[OFFSET] + node[SIZE]
                for child in slots:
                    if child is not None:
                        child[OFFSET] = at
                        at += child[TOTAL]
                stack.extend(c for c in reversed(slots) if c is not None)
    if HEADER_SIZE + root[TOTAL] > OFFSET_MASK:
        raise KmodError('index too large: %d bytes do not fit 28-bit offsets' % (HEADER_SIZE + root[TOTAL]))
    body = b''.join([_encode_node(node) for node in ordered])
    return struct.pack('>III', MAGIC, VERSION, root[OFFSET] | root[MASK]) + body
