# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Forced loading for init_module: strip the version checks from a module image.

finit_module takes MODULE_INIT_IGNORE_VERMAGIC and
MODULE_INIT_IGNORE_MODVERSIONS; init_module has no flags.  When a module
must go through init_module (no finit_module, or a compression the kernel
cannot take) and the caller asked to force it, the image is changed the way
the kernel itself applies those flags: the `vermagic=` record of `.modinfo`
is blanked with NUL bytes (the kernel then sees no vermagic, which forcing
allows), and the `__versions` section loses SHF_ALLOC (the kernel only looks
for allocated sections, so it finds no symbol versions to check).  An
appended signature is dropped: it cannot match the changed image, and the
kernel refuses a signature that does not verify (EKEYREJECTED) even when
signatures are not enforced, while an unsigned module only taints it.  That
is also how finit_module treats a module loaded with those flags: as
unsigned.
"""

import struct

from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import ModuleImage

SHF_ALLOC = 0x2

# (e_shoff offset and format, e_shentsize offset, sh_flags format) per ELF class
_LAYOUT = {
    32: (0x20, 'I', 0x2E, 'I'),
    64: (0x28, 'Q', 0x3A, 'Q'),
}
_SH_FLAGS_OFFSET = 8  # after sh_name and sh_type in both classes
_VERMAGIC = b'vermagic='


def _blank_vermagic(buf, image):
    section = image.section('.modinfo')
    if section is None:
        return
    start = section.offset
    end = start + section.size
    pos = start
    while pos < end:
        stop = buf.find(b'\0', pos, end)
        if stop < 0:
            stop = end
        if buf[pos:pos + len(_VERMAGIC)] == _VERMAGIC:
            buf[pos:stop] = b'\0' * (stop - pos)
        pos = stop + 1


def _unallocate_versions(buf, image):
    section = image.section('__versions')
    if section is None:
        return
    shoff_at, shoff_fmt, shentsize_at, flags_fmt = _LAYOUT[image.elf_class]
    order = '<' if image.byte_order == 'little' else '>'
    shoff = struct.unpack_from(order + shoff_fmt, buf, shoff_at)[0]
    shentsize = struct.unpack_from(order + 'H', buf, shentsize_at)[0]
    at = shoff + section.index * shentsize + _SH_FLAGS_OFFSET
    flags = struct.unpack_from(order + flags_fmt, buf, at)[0]
    struct.pack_into(order + flags_fmt, buf, at, flags & ~SHF_ALLOC)


def strip_version_checks(data, ignore_vermagic=False, ignore_modversions=False, path=None):
    """The module image `data` (uncompressed bytes) with the asked checks
    removed and without its signature; `data` itself when nothing is asked.  FormatError when the image
    is not a module."""
    if not (ignore_vermagic or ignore_modversions):
        return data
    image = ModuleImage(data, path=path)
    buf = bytearray(data)
    if ignore_vermagic:
        _blank_vermagic(buf, image)
    if ignore_modversions:
        _unallocate_versions(buf, image)
    return bytes(buf[:image.elf_size])


__all__ = ['strip_version_checks', 'SHF_ALLOC']
