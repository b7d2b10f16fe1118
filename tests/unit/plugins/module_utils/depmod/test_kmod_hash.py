# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kmod_hash: the iteration order of kmod's hash table, the one-key hash on
every tail length, and the many-keys form equal to the one-key form."""

import random

from hypothesis import given, settings, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_hash import (
    hash_iteration_order, superfast_hash, superfast_hashes)


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


DEBIAN_SYMBOL_ORDER = ['drm_need_swiotlb', 'jbd2_journal_inode_ranged_write', 'qmi_txn_wait', '__twofish_setkey',
                       'mlx4_db_free', 'nf_send_unreach', 'nvmf_register_transport', 'phy_write_mmd',
                       'sdhci_remove_host', 't10_pi_type1_crc']


def test_hash_order_matches_kmod():
    shuffled = list(DEBIAN_SYMBOL_ORDER)
    random.Random(3).shuffle(shuffled)
    assert hash_iteration_order(shuffled + shuffled[:3], 2048) == DEBIAN_SYMBOL_ORDER


def test_hash_handles_every_tail_length_and_high_bytes():
    values = [superfast_hash(b'abcdefg'[:n]) for n in range(8)]
    assert len(set(values)) == 8 and all(0 <= v <= 0xFFFFFFFF for v in values)
    assert superfast_hash(b'\xff') != superfast_hash(b'\x7f')
    assert superfast_hash('caf\udce9') == superfast_hash(b'caf\xe9')
