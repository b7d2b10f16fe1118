"""Make the repository importable as ansible_collections.kernel.kmod.

The collection is tested in place: `.build/ansible_collections/kernel/kmod`
is a symlink to this checkout, and `.build` goes first on sys.path, so tests
import the library exactly as Ansible does on a managed node.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, '.build')
LINK = os.path.join(BUILD, 'ansible_collections', 'kernel', 'kmod')

if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(HERE, LINK)
for p in (BUILD, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)
