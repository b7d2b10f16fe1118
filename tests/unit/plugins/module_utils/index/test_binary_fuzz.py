# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fuzzing the index reader and writer.

Damaged files may only raise FormatError (never hang or crash); random key
sets round-trip through writer and reader in both layouts; wildcard lookups
find exactly the keys fnmatch accepts.
"""

import struct

from hypothesis import given, settings, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError
from ansible_collections.kernel.kmod.plugins.module_utils.fnmatch_glibc import fnmatch
from ansible_collections.kernel.kmod.plugins.module_utils.index.binary import BinaryIndex
from ansible_collections.kernel.kmod.plugins.module_utils.index.writer import build_index

HEADER = struct.pack('>II', 0xB007F457, 0x00020001)
SAMPLE = build_index([('pci:v*d0001*', 'a', 1), ('pci:v0002*', 'b', 2), ('usb:x[a-c]y', 'b', 2),
                      ('usb:x?y', 'c', 0), ('abc', 'd', 3), ('ab', 'e', 4), ('*', 'f', 5)], 'pre')
QUERIES = ['pci:v0002d0001', 'usb:xby', 'ab', 'abc', '', 'zzz']

KEY_CHARS = st.sampled_from('ab*?[]!^-:\\c\x7f')


def exercise(data):
    """Every read operation; only FormatError may come out."""
    try:
        with BinaryIndex.from_bytes(data, 'fuzz.bin') as idx:
            list(idx.items())
            for query in QUERIES:
                idx.lookup(query)
                idx.lookup_wildcard(query)
    except FormatError as exc:
        assert str(exc).startswith('fuzz.bin: ')


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 0xFFFFFFFF))
def test_random_bytes_after_a_valid_header(body, root):
    exercise(HEADER + struct.pack('>I', root) + body)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutations_of_a_valid_index(changes):
    data = bytearray(SAMPLE)
    for pos, byte in changes:
        data[pos] = byte
    exercise(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.integers(13, len(SAMPLE) - 1))
def test_truncations_of_a_valid_index(size):
    exercise(SAMPLE[:size])


ENTRIES = st.lists(st.tuples(st.text(KEY_CHARS, max_size=6), st.text('xyz', max_size=3),
                             st.integers(0, 4)), max_size=25)


def model_of(entries):
    """{key: [(priority, value)]} in depmod's order, built the naive way."""
    out = {}
    for key, value, priority in entries:
        values = out.setdefault(key, [])
        at = 0
        while at < len(values) and values[at][0] < priority:
            at += 1
        values.insert(at, (priority, value))
    return out


@settings(max_examples=150, deadline=None)
@given(ENTRIES)
def test_round_trip_both_layouts(entries):
    want = model_of(entries)
    for layout in ('pre', 'post'):
        with BinaryIndex.from_bytes(build_index(entries, layout)) as idx:
            assert idx.to_dict() == want
            assert list(idx.keys()) == sorted(want, key=lambda k: k.encode('latin-1'))
            for key in want:
                assert idx.lookup(key) == want[key]


@settings(max_examples=150, deadline=None)
@given(ENTRIES, st.text('ab:c', max_size=5))
def test_wildcard_lookup_finds_every_matching_pattern(entries, query):
    # without backslashes libkmod's walk finds exactly the keys fnmatch accepts
    entries = [(k.replace('\\', ''), v, p) for k, v, p in entries]
    with BinaryIndex.from_bytes(build_index(entries)) as idx:
        got = idx.lookup_wildcard(query)
    want = {(p, v) for k, v, p in entries if fnmatch(k, query)}
    assert set(got) == want
    assert [p for p, _v in got] == sorted(p for p, _v in got)
