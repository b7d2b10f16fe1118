# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Our .bin reader and writer on Debian's real tree, indexed by each oracle's
depmod (the `kmod` fixture: the host's kmod 30, post-order tries; kmod 34.2
in a Debian 13 chroot, pre-order tries).

- Every (key, value) of modules.dep.bin, modules.alias.bin,
  modules.symbols.bin and modules.builtin.bin equals what the text files
  say (parsed here plainly, independently of text_index.py).
- The writer, fed the text files' content, reproduces that depmod's five
  .bin files byte for byte in its layout; the other layout reads back the same.
- Wildcard lookups of 200 concrete modaliases made from the real patterns
  give the module list that kmod's `modprobe -R` prints, in the same order.
"""

import os
import random
import re

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.fnmatch_glibc import fnmatch
from ansible_collections.kernel.kmod.plugins.module_utils.index.binary import BinaryIndex
from ansible_collections.kernel.kmod.plugins.module_utils.index.text import read_text_index
from ansible_collections.kernel.kmod.plugins.module_utils.index.writer import IndexBuilder

pytestmark = pytest.mark.conformance

SAMPLE_SIZE = 200


def text_lines(module_dir, name):
    with open(os.path.join(module_dir, name)) as f:
        return [line.rstrip('\n') for line in f if line.strip() and not line.startswith('#')]


def bin_pairs(module_dir, name):
    with BinaryIndex(os.path.join(module_dir, name)) as idx:
        return sorted((key, value) for key, _priority, value in idx.items())


def modname(path):
    return os.path.basename(path).split('.')[0].replace('-', '_')


def normalise_alias(alias):
    # '-' -> '_' outside brackets (no alias in this tree has a bad bracket)
    return re.sub(r'\[[^\]]*\]|-', lambda m: '_' if m.group(0) == '-' else m.group(0), alias)


def test_dep_bin_equals_modules_dep(indexed_debian_tree):
    tree = indexed_debian_tree
    lines = text_lines(tree.module_dir, 'modules.dep')
    want = sorted((modname(line.split(':', 1)[0]), line) for line in lines)
    assert len(want) == 4023
    assert bin_pairs(tree.module_dir, 'modules.dep.bin') == want


def test_alias_bin_equals_modules_alias(indexed_debian_tree):
    tree = indexed_debian_tree
    want = sorted((normalise_alias(f[1]), f[2]) for f in
                  (line.split() for line in text_lines(tree.module_dir, 'modules.alias')))
    assert len(want) > 20000
    assert bin_pairs(tree.module_dir, 'modules.alias.bin') == want


def test_symbols_bin_equals_modules_symbols(indexed_debian_tree):
    tree = indexed_debian_tree
    want = sorted((f[1], f[2]) for f in
                  (line.split() for line in text_lines(tree.module_dir, 'modules.symbols')))
    assert len(want) > 10000
    assert bin_pairs(tree.module_dir, 'modules.symbols.bin') == want


def test_builtin_bin_keys_are_builtin_module_names(indexed_debian_tree):
    tree = indexed_debian_tree
    names = sorted(modname(line) for line in text_lines(tree.module_dir, 'modules.builtin'))
    with BinaryIndex(os.path.join(tree.module_dir, 'modules.builtin.bin')) as idx:
        items = list(idx.items())
    assert sorted(key for key, _p, _v in items) == names
    assert {(p, v) for _k, p, v in items} == {(0, '')}


@pytest.mark.parametrize('name', ['modules.dep', 'modules.alias', 'modules.symbols', 'modules.builtin',
                                  'modules.builtin.alias'])
def test_writer_reproduces_depmod_byte_for_byte(kmod, indexed_debian_tree, name):
    tree = indexed_debian_tree
    text = read_text_index(tree.module_dir, name)
    assert text.warnings == []
    with open(os.path.join(tree.module_dir, name + '.bin'), 'rb') as f:
        theirs = f.read()
    layout = kmod.flavour().layout
    ours = IndexBuilder().add_all(text.entries).to_bytes(layout)
    assert len(ours) == len(theirs)
    assert ours == theirs
    other = IndexBuilder().add_all(text.entries).to_bytes('pre' if layout == 'post' else 'post')
    with BinaryIndex.from_bytes(other) as a, BinaryIndex(os.path.join(tree.module_dir, name + '.bin')) as b:
        assert list(a.items()) == list(b.items())


def concrete(pattern, rng):
    """A string the pattern matches: wildcards replaced by chosen characters."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == '*':
            out.append(''.join(rng.choice('0123456789ABCDEF') for _digit in range(rng.choice((0, 0, 1, 2, 4)))))
        elif c == '?':
            out.append(rng.choice('0123456789ABCDEF'))
        elif c == '[':
            end = pattern.index(']', i + 2)
            members = [chr(x) for x in range(33, 127) if fnmatch(pattern[i:end + 1], chr(x))]
            out.append(rng.choice(members))
            i = end
        else:
            out.append(c)
        i += 1
    return ''.join(out)


@pytest.fixture(scope='module')
def modalias_sample(indexed_debian_tree):
    tree = indexed_debian_tree
    with BinaryIndex(os.path.join(tree.module_dir, 'modules.alias.bin')) as idx:
        patterns = sorted(set(key for key, _p, _v in idx.items() if any(c in key for c in '*?[')))
    rng = random.Random(20240601)
    chosen = rng.sample(patterns, SAMPLE_SIZE)
    # all bracket patterns too: they are few and the interesting ones
    chosen += [p for p in patterns if '[' in p and p not in chosen]
    return [(p, concrete(p, rng)) for p in chosen]


def test_wildcard_lookups_equal_modprobe(kmod, indexed_debian_tree, modalias_sample):
    tree = indexed_debian_tree
    mismatches = []
    found_several = 0
    with BinaryIndex(os.path.join(tree.module_dir, 'modules.alias.bin')) as idx, kmod.sharing([tree.root]):
        for pattern, query in modalias_sample:
            assert fnmatch(pattern, query), (pattern, query)
            ours = [value for _priority, value in idx.lookup_wildcard(query)]
            proc = kmod.modprobe(['-d', tree.root, '-S', tree.release, '-C', '/dev/null', '-R', query])
            theirs = proc.stdout.split()
            if ours != theirs:
                mismatches.append((query, ours, theirs))
            found_several += len(set(ours)) > 1
    assert mismatches == []
    assert len(modalias_sample) >= SAMPLE_SIZE
    # the sample exercises results with more than one module, so order counts
    assert found_several > 5, found_several
