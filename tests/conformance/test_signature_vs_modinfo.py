# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signature fields against the real `modinfo -F` on a sample of Debian's signed modules."""

import subprocess

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import read_module
from ansible_collections.kernel.kmod.plugins.module_utils.image.signature import module_signature

pytestmark = pytest.mark.conformance

MODINFO = '/sbin/modinfo'
FIELDS = ('sig_id', 'signer', 'sig_key', 'sig_hashalgo', 'signature')
SAMPLE = 50


def modinfo_field(path, field):
    out = subprocess.run([MODINFO, '-F', field, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    # modinfo wraps the signature's hex over lines that start with tabs
    return ''.join(line.strip() for line in out.splitlines()) or None


def test_signature_fields_match_modinfo(debian_tree):
    files = debian_tree.ko_files()
    step = max(1, len(files) // SAMPLE)
    sample = files[::step][:SAMPLE]
    assert len(sample) == SAMPLE
    mismatches = []
    for path in sample:
        ours = module_signature(read_module(path))
        assert ours is not None, '%s: Debian signs every module' % path
        assert all(ours[field] for field in FIELDS), (path, ours)
        for field in FIELDS:
            want = modinfo_field(path, field)
            if ours[field] != want:
                mismatches.append('%s: %s: modinfo %r, ours %r' % (path, field, want, ours[field]))
    assert mismatches == [], '\n'.join(mismatches[:20])
