# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The iteration order of kmod's internal hash tables.

depmod writes some outputs in the order its hash tables iterate, not in a
sorted order: modules.symbols walks the symbol table, and without a usable
modules.order the module list itself is the walk of the table of module
names.  Reproducing those files byte for byte means reproducing that order.

kmod's table has a fixed number of buckets (the requested size rounded up to
a power of two), picks a bucket with Paul Hsieh's SuperFastHash of the key
and keeps each bucket sorted by strcmp(); iteration visits buckets in index
order.  So the order is: by bucket, then by key bytes.

The hash reads 16-bit words in the byte order of the machine depmod runs on
(so does this code) and single bytes as a signed C `char` (as on x86).
"""

import struct
import sys
from bisect import bisect_right

# sizes depmod gives its tables (rounded up to a power of two by kmod)
DEPMOD_SYMBOL_BUCKETS = 2048
DEPMOD_MODULE_NAME_BUCKETS = 512

_MASK = 0xFFFFFFFF
_LITTLE_ENDIAN = sys.byteorder == 'little'


_HALVES = {}


def _halves_struct(count):
    """struct of `count` 16-bit words in the machine's byte order (cached)."""
    got = _HALVES.get(count)
    if got is None:
        got = _HALVES[count] = struct.Struct('=%dH' % count)
    return got


def _half(key, at):
    if _LITTLE_ENDIAN:
        return key[at] | key[at + 1] << 8
    return key[at] << 8 | key[at + 1]


def superfast_hash(key):
    """kmod's hash of a key (bytes, or str as elf.py decodes names), as an unsigned 32-bit int."""
    if not isinstance(key, bytes):
        key = key.encode('utf-8', 'surrogateescape')
    length = len(key)
    words = length >> 2
    value = length
    if words:
        halves = iter(_halves_struct(2 * words).unpack_from(key))
        for low, high in zip(halves, halves):
            value = (value + low) & _MASK
            value = ((value << 16) & _MASK) ^ (high << 11) ^ value
            value = (value + (value >> 11)) & _MASK
    rem = length & 3
    if rem:
        tail = words * 4
        if rem == 3:
            value = (value + _half(key, tail)) & _MASK
            value ^= (value << 16) & _MASK
            # a C char: bytes above 127 are negative (x86)
            last = key[tail + 2]
            value ^= ((last - 256 if last >= 128 else last) << 18) & _MASK
            value = (value + (value >> 11)) & _MASK
        elif rem == 2:
            value = (value + _half(key, tail)) & _MASK
            value ^= (value << 11) & _MASK
            value = (value + (value >> 17)) & _MASK
        else:
            last = key[tail]
            value = (value + (last - 256 if last >= 128 else last)) & _MASK
            value ^= (value << 10) & _MASK
            value = (value + (value >> 1)) & _MASK
    # final avalanche
    value ^= (value << 3) & _MASK
    value = (value + (value >> 5)) & _MASK
    value ^= (value << 4) & _MASK
    value = (value + (value >> 17)) & _MASK
    value ^= (value << 25) & _MASK
    return (value + (value >> 6)) & _MASK


# Many keys at once: each key's 32-bit state sits in its own 64-bit lane of
# one big integer, and each step of the hash is a handful of big-integer
# operations for all keys of the same length.  Lanes never mix: left shifts
# stay under bit 64 of a lane, what right shifts bring in from the next lane
# lands above bit 32 and is masked off, as are carries.
# A last odd byte as a signed char: added (length % 4 == 1) or shifted and
# xored (length % 4 == 3), as 32-bit values.
_SIGNED_BYTE = [(b - 256 if b >= 128 else b) & _MASK for b in range(256)]
_SIGNED_BYTE_18 = [((b - 256 if b >= 128 else b) << 18) & _MASK for b in range(256)]


def _lanes(values):
    return int.from_bytes(struct.pack('<%dQ' % len(values), *values), 'little')


def _hash_group(keys, length):
    """superfast_hash of keys (bytes) that all have this length."""
    count = len(keys)
    mask = int.from_bytes(b'\xff\xff\xff\xff\0\0\0\0' * count, 'little')
    value = _lanes([length] * count)
    words = length >> 2
    rem = length & 3
    halves = length >> 1
    if halves:
        unpack = _halves_struct(halves).unpack_from
        columns = list(zip(*map(unpack, keys)))
        for at in range(0, 2 * words, 2):
            value = (value + _lanes(columns[at])) & mask
            value = ((value << 16) & mask) ^ (_lanes(columns[at + 1]) << 11) ^ value
            value = (value + (value >> 11)) & mask
    if rem == 3:
        value = (value + _lanes(columns[2 * words])) & mask
        value ^= (value << 16) & mask
        value ^= _lanes(list(map(_SIGNED_BYTE_18.__getitem__, [key[-1] for key in keys])))
        value = (value + (value >> 11)) & mask
    elif rem == 2:
        value = (value + _lanes(columns[2 * words])) & mask
        value ^= (value << 11) & mask
        value = (value + (value >> 17)) & mask
    elif rem == 1:
        value = (value + _lanes(list(map(_SIGNED_BYTE.__getitem__, [key[-1] for key in keys])))) & mask
        value ^= (value << 10) & mask
        value = (value + (value >> 1)) & mask
    value ^= (value << 3) & mask
    value = (value + (value >> 5)) & mask
    value ^= (value << 4) & mask
    value = (value + (value >> 17)) & mask
    value ^= (value << 25) & mask
    value = (value + (value >> 6)) & mask
    return struct.unpack('<%dQ' % count, value.to_bytes(8 * count, 'little'))


def superfast_hashes(keys):
    """[superfast_hash(key) for key in keys] (bytes keys), several times
    faster for thousands of keys."""
    keys = list(keys)
    lengths = list(map(len, keys))
    order = sorted(range(len(keys)), key=lengths.__getitem__)
    ordered = list(map(keys.__getitem__, order))
    ordered_lengths = list(map(lengths.__getitem__, order))
    hashes = []
    start = 0
    total = len(ordered)
    while start < total:
        length = ordered_lengths[start]
        end = bisect_right(ordered_lengths, length, start)
        group = ordered[start:end]
        if end - start < 4:
            # too few to be worth the lanes
            hashes.extend(map(superfast_hash, group))
        else:
            hashes.extend(_hash_group(group, length))
        start = end
    return list(map(dict(zip(order, hashes)).__getitem__, range(total)))


def bucket_count(requested):
    """The number of buckets kmod allocates for a requested size."""
    if requested < 2:
        # kmod's rounding of 1 is undefined behaviour in C; depmod never asks for it
        return 1
    return 1 << (requested - 1).bit_length()


def hash_iteration_order(keys, requested_buckets):
    """The keys (str) in the order kmod's table of that size iterates them.

    Duplicate keys are kept once, as kmod's table keeps one entry per key.
    """
    mask = bucket_count(requested_buckets) - 1
    unique = list(set(keys))
    raw = [key.encode('utf-8', 'surrogateescape') for key in unique]
    decorated = sorted(zip([value & mask for value in superfast_hashes(raw)], raw, unique))
    return [key for _bucket, _raw, key in decorated]
