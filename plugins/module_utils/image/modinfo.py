# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What modinfo(8) shows about one module, as a dict.

From a module file (its `.modinfo` section and appended signature) or, for a
builtin module, from the tree's `modules.builtin.modinfo`.
"""

from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import describe_modinfo, read_module

from ansible_collections.kernel.kmod.plugins.module_utils.image.signature import module_signature

# Keys of the result, in the order modinfo prints its fields.
INFO_KEYS = ('name', 'filename', 'builtin', 'license', 'description', 'author', 'alias',
             'firmware', 'import_ns', 'depends', 'softdep', 'weakdep', 'retpoline',
             'intree', 'vermagic', 'srcversion', 'signed', 'signer', 'sig_key',
             'sig_hashalgo', 'parameters', 'compression')


def _shape(described, **extra):
    info = dict((key, described.get(key)) for key in INFO_KEYS if key in described)
    info.update(extra)
    for key in ('softdep', 'weakdep'):  # one string as modinfo prints it, or None
        values = described.get(key) or []
        info[key] = ' '.join(values) if values else None
    info['fields'] = described['fields']
    return info


def file_info(path, name):
    """modinfo of the module file at `path` (plain or compressed)."""
    image = read_module(path)
    described = describe_modinfo(image.modinfo)
    sig = {'signer': None, 'sig_key': None, 'sig_hashalgo': None}
    found = module_signature(image)
    if found:
        sig.update((k, found.get(k)) for k in sig)
    info = _shape(described, filename=path, builtin=False, signed=image.signed,
                  compression=image.compression, **sig)
    info['name'] = described.get('name') or name
    return info


def builtin_info(records, name):
    """modinfo of a builtin module from its modules.builtin.modinfo records."""
    described = describe_modinfo(records)
    info = _shape(described, filename='(builtin)', builtin=True, signed=False,
                  compression=None, signer=None, sig_key=None, sig_hashalgo=None)
    info['name'] = name
    return info
