# -*- coding: utf-8 -*-
"""kmod_hash.superfast_hashes: the many-keys form equals the one-key form."""

import random

from hypothesis import given, settings, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.kmod_hash import superfast_hash, superfast_hashes


def test_every_length_and_signed_bytes():
    rng = random.Random(7)
    keys = []
    for length in range(0, 40):
        for _n in range(6):
            keys.append(bytes(rng.randrange(256) for _i in range(length)))
    keys += [b'\xff' * 9] * 5 + [b'\x80\x7f\x00'] * 5 + [b'']
    rng.shuffle(keys)
    assert superfast_hashes(keys) == [superfast_hash(k) for k in keys]


def test_few_keys_and_no_keys():
    assert superfast_hashes([]) == []
    assert superfast_hashes([b'abc']) == [superfast_hash(b'abc')]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=24), max_size=60), st.lists(st.binary(min_size=7, max_size=7), max_size=20))
def test_random_keys(keys, same_length):
    keys = keys + same_length
    assert superfast_hashes(keys) == [superfast_hash(k) for k in keys]
