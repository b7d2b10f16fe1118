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

Both layouts come out of one walk each, as the trie is built: post-order
from the keys in ascending order, each node written when its children are;
pre-order from the keys in descending order, the same post-order with the
highest character first, which is the pre-order file read backwards.
"""

import struct

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.index.format import (
    FLAG_CHILDREN, FLAG_PREFIX, FLAG_VALUES, HEADER_SIZE, MAGIC, OFFSET_MASK, VERSION)

_U32 = struct.Struct('>I')
# Offsets are below _LIMIT; child words wait for the file's length as flags | (_LIMIT - distance).
_LIMIT = OFFSET_MASK + 1
_NONZERO = bytes([0] + [1] * 255)
_GAPS = [0] * 128  # child characters are 7-bit
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


def _walk_trie_descending(keys, blocks, leaf, inner):
    """Build the trie of distinct keys given in descending byte order, bottom-up.

    The mirror of _walk_trie: nodes are made in post-order with the highest
    character first, which is kmod 34's pre-order read backwards, and a key
    comes after every key it is a prefix of (so a node's own values are
    known when the walk leaves it).  leaf(prefix, values) and inner(prefix,
    values or None, [(char, child handle), ...], highest character first)
    return the handle the parent keeps; the root's handle is returned.
    """
    # open inner nodes, the root first: [start, end, values, char, children, a key below it]
    stack = [[0, 0, None, None, [], b'']]
    from_bytes = int.from_bytes
    prev = None  # the last key; its leaf (when it has one) is not made yet
    pending = False  # whether prev has a leaf: from leaf_start on, below leaf_char
    leaf_start = leaf_char = 0
    for key in keys:
        if prev is None:
            common = 0
        else:
            size = len(prev) if len(prev) < len(key) else len(key)
            x = from_bytes(prev[:size], 'big') ^ from_bytes(key[:size], 'big')
            common = size - ((x.bit_length() + 7) >> 3) if x else size
            if pending:
                if leaf_start > common:
                    stack[-1][4].append((leaf_char, leaf(prev[leaf_start:], blocks[prev])))
                else:
                    # key parts from prev inside the leaf's prefix: a new inner node there
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
        if common == len(key):
            # every key below this node came before: the node's own values
            stack[-1][2] = blocks[key]
            pending = False
        else:
            pending = True
            leaf_start = common + 1
            leaf_char = key[common]
    if pending:
        stack[-1][4].append((leaf_char, leaf(prev[leaf_start:], blocks[prev])))
    while len(stack) > 1:
        start, end, values, char, children, src = stack.pop()
        stack[-1][4].append((char, inner(src[start:end], values, children)))
    values, children = stack[0][2], stack[0][4]
    if children:
        return inner(b'', values, children)
    return leaf(b'', values) if values is not None else None


def _pre_order_body(keys, blocks):
    """(body bytes, root offset word) of the trie in kmod 34's pre-order:
    each node before its children, lowest character first.

    The file is written backwards, in one pass: the descending walk makes
    the nodes in the reverse of their order in the file, so each piece goes
    onto a list that is reversed at the end, and a node's distance from the
    end of the file (the bytes made so far) is known when it is made.  Its
    offset is the file's length less that distance, and the length is known
    at the end only: child words wait in one flat list, as flags |
    (_LIMIT - distance), and are packed and corrected all at once when it is.
    """
    pieces = []
    emit = pieces.append
    made = 0  # bytes made so far: the distance of the last node from the end
    words = []  # every child slot of every inner node: flags | (_LIMIT - distance), 0 for a gap
    extend = words.extend
    slots = []  # where each inner node's words go in pieces
    ends = []  # and where they end in the packed words (bytes)

    def leaf(prefix, values):
        nonlocal made
        if prefix:
            data = prefix + b'\0' + values
            emit(data)
            made += len(data)
            return (FLAG_PREFIX | FLAG_VALUES) | (_LIMIT - made)
        emit(values)
        made += len(values)
        return FLAG_VALUES | (_LIMIT - made)

    def inner(prefix, values, children):
        nonlocal made
        first = children[-1][0]
        count = children[0][0] - first + 1
        at = len(words) - first
        extend(_GAPS[:count])
        for char, word in children:
            words[at + char] = word
        ends.append(4 * len(words))
        size = 2 + 4 * count
        mask = FLAG_CHILDREN
        if values is not None:
            emit(values)
            size += len(values)
            mask = FLAG_CHILDREN | FLAG_VALUES
        slots.append(len(pieces))
        emit(None)
        if prefix:
            emit(prefix + b'\0' + bytes((first, first + count - 1)))
            made += size + len(prefix) + 1
            return (mask | FLAG_PREFIX) | (_LIMIT - made)
        emit(bytes((first, first + count - 1)))
        made += size
        return mask | (_LIMIT - made)

    root = _walk_trie_descending(keys, blocks, leaf, inner)
    if root is None:
        return b'', HEADER_SIZE
    end = HEADER_SIZE + made
    if end > OFFSET_MASK:
        raise KmodError('index too large: %d bytes do not fit 28-bit offsets' % end)
    if words:
        packed = struct.pack('>%dI' % len(words), *words)
        # every present word less (_LIMIT - end), at once: a number holding 1 in
        # the last byte of each (its first byte, the flags, is never 0; a gap is 0)
        ones = bytearray(len(packed))
        ones[3::4] = packed[0::4].translate(_NONZERO)
        packed = (int.from_bytes(packed, 'big') - (_LIMIT - end) * int.from_bytes(ones, 'big')).to_bytes(
            len(packed), 'big')
        start = 0
        for index, stop in zip(slots, ends):
            pieces[index] = packed[start:stop]
            start = stop
    pieces.reverse()
    return b''.join(pieces), root - _LIMIT + end


def build_index_bytes(entries, layout='post'):
    """The index file of (key, value, priority) entries: 'post' (kmod <= 33)
    or 'pre' (kmod 34) node order; equal to IndexBuilder's bytes."""
    if layout not in ('pre', 'post'):
        raise KmodError('unknown index layout %r (use one of pre, post)' % (layout,))
    blocks = _group_values(entries)
    if layout == 'post':
        body, root_word = _post_order_body(sorted(blocks), blocks)
    else:
        body, root_word = _pre_order_body(sorted(blocks, reverse=True), blocks)
    if len(body) + HEADER_SIZE > OFFSET_MASK:
        raise KmodError('index too large: %d bytes do not fit 28-bit offsets' % (HEADER_SIZE + len(body)))
    return struct.pack('>III', MAGIC, VERSION, root_word) + body
