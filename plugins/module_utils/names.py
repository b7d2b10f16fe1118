# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module and alias names, normalised the way kmod does it."""

import os

# Suffixes of module files, longest first so '.ko.xz' wins over '.ko'.
MODULE_SUFFIXES = ('.ko.zst', '.ko.xz', '.ko.gz', '.ko')


def module_name(name):
    """Normalise a module name: every '-' becomes '_'.

    'snd-hda-intel' -> 'snd_hda_intel'.  The kernel names a loaded module
    with underscores only, so this is the key used everywhere.
    """
    return name.replace('-', '_')


def _normalise_alias(alias, strict):
    out = []
    i = 0
    n = len(alias)
    while i < n:
        c = alias[i]
        if c == '[':
            end = alias.find(']', i + 1)
            if end < 0:
                if strict:
                    return None
                out.append(alias[i:])
                break
            out.append(alias[i:end + 1])
            i = end + 1
            continue
        if c == ']' and strict:
            return None
        out.append('_' if c == '-' else c)
        i += 1
    return ''.join(out)


def alias_name(alias):
    """Normalise an alias: '-' becomes '_' except inside '[...]' sets.

    kmod leaves bracket expressions alone so a pattern such as
    'pci:v*d*[0-9A-F]' keeps its range.  An unclosed '[' leaves the rest of
    the string as it is, and a stray ']' stays: lookups of odd names then
    simply find nothing.
    """
    return _normalise_alias(alias, strict=False)


def alias_key(alias):
    """The alias as depmod stores it in modules.alias.bin, or None when
    depmod drops it (with a warning): an unclosed '[' or a ']' outside
    brackets, which kmod's normalisation refuses."""
    return _normalise_alias(alias, strict=True)


def strip_module_suffix(filename):
    """'dir/e1000e.ko.xz' -> 'e1000e'; None when it is not a module file."""
    base = os.path.basename(filename)
    for suffix in MODULE_SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[:-len(suffix)]
    return None


def module_name_from_path(path):
    """The normalised module name of a module file path, or None."""
    stem = strip_module_suffix(path)
    return module_name(stem) if stem is not None else None


def is_path(name):
    """True when a user's name is a file path (modprobe bypasses lookup)."""
    return name.startswith('/') or name.startswith('./')
