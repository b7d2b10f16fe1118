# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decode kernel taint: the bitmask of /proc/sys/kernel/tainted and the
per-module letters of /proc/modules and /sys/module/<name>/taint.

Bits, letters and meanings follow the kernel's table in
Documentation/admin-guide/tainted-kernels.rst (bits 0 to 18) and the kernel's
TAINT_FWCTL (bit 19, letter 'J', Linux 6.15).  Names are the kernel's
TAINT_* constant names without the prefix.  Bits and letters this table does
not know are reported as unknown, never dropped.
"""

# (bit, letter, name, description)
TAINT_FLAGS = (
    (0, 'P', 'PROPRIETARY_MODULE', 'proprietary module was loaded'),
    (1, 'F', 'FORCED_MODULE', 'module was force loaded'),
    (2, 'S', 'CPU_OUT_OF_SPEC', 'kernel running on an out of specification system'),
    (3, 'R', 'FORCED_RMMOD', 'module was force unloaded'),
    (4, 'M', 'MACHINE_CHECK', 'processor reported a Machine Check Exception (MCE)'),
    (5, 'B', 'BAD_PAGE', 'bad page referenced or some unexpected page flags'),
    (6, 'U', 'USER', 'taint requested by userspace application'),
    (7, 'D', 'DIE', 'kernel died recently, i.e. there was an OOPS or BUG'),
    (8, 'A', 'OVERRIDDEN_ACPI_TABLE', 'ACPI table overridden by user'),
    (9, 'W', 'WARN', 'kernel issued warning'),
    (10, 'C', 'CRAP', 'staging driver was loaded'),
    (11, 'I', 'FIRMWARE_WORKAROUND', 'workaround for bug in platform firmware applied'),
    (12, 'O', 'OOT_MODULE', 'externally-built ("out-of-tree") module was loaded'),
    (13, 'E', 'UNSIGNED_MODULE', 'unsigned module was loaded'),
    (14, 'L', 'SOFTLOCKUP', 'soft lockup occurred'),
    (15, 'K', 'LIVEPATCH', 'kernel has been live patched'),
    (16, 'X', 'AUX', 'auxiliary taint, defined for and used by distros'),
    (17, 'T', 'RANDSTRUCT', 'kernel was built with the struct randomization plugin'),
    (18, 'N', 'TEST', 'an in-kernel test has been run'),
    (19, 'J', 'FWCTL', 'userspace used a mutating debug operation in fwctl'),
)

_BY_BIT = dict((f[0], f) for f in TAINT_FLAGS)
_BY_LETTER = dict((f[1], f) for f in TAINT_FLAGS)


def _flag(entry):
    bit, letter, name, description = entry
    return {'bit': bit, 'letter': letter, 'name': name, 'description': description}


def _unknown_bit(bit):
    return {'bit': bit, 'letter': None, 'name': 'UNKNOWN', 'description': 'unknown taint bit %d' % bit}


def _unknown_letter(letter):
    return {'bit': None, 'letter': letter, 'name': 'UNKNOWN',
            'description': 'unknown taint letter %r' % letter}


def decode_mask(value):
    """Decode the kernel's taint bitmask (an int >= 0).

    {'value': 12288, 'letters': 'OE', 'flags': [{'bit': 12, 'letter': 'O',
    'name': 'OOT_MODULE', 'description': ...}, {'bit': 13, ...}]}; flags in
    bit order; an unknown set bit gives name 'UNKNOWN' and letter None.
    """
    value = int(value)
    if value < 0:
        raise ValueError('a taint mask is not negative: %d' % value)
    flags = []
    bit = 0
    rest = value
    while rest:
        if rest & 1:
            entry = _BY_BIT.get(bit)
            flags.append(_flag(entry) if entry else _unknown_bit(bit))
        rest >>= 1
        bit += 1
    letters = ''.join(f['letter'] for f in flags if f['letter'])
    return {'value': value, 'letters': letters, 'flags': flags}


def decode_letters(letters):
    """Decode a module's taint letters, as in '(OE)' of /proc/modules.

    Parentheses and surrounding blanks are ignored; so are the '+' and '-'
    state markers the kernel appends for modules coming and going.  Returns
    the same shape as decode_mask: 'value' is the mask of the known letters,
    flags are in the order of the letters, an unknown letter gives bit None
    and name 'UNKNOWN'.  A repeated letter counts once.
    """
    text = (letters or '').strip()
    if text.startswith('(') and text.endswith(')'):
        text = text[1:-1]
    value = 0
    flags = []
    seen = set()
    kept = []
    for letter in text:
        if letter in '+-' or letter.isspace() or letter in seen:
            continue
        seen.add(letter)
        kept.append(letter)
        entry = _BY_LETTER.get(letter)
        if entry:
            value |= 1 << entry[0]
            flags.append(_flag(entry))
        else:
            flags.append(_unknown_letter(letter))
    return {'value': value, 'letters': ''.join(kept), 'flags': flags}


def letter_of_bit(bit):
    """The kernel's letter for a taint bit, or None when unknown."""
    entry = _BY_BIT.get(bit)
    return entry[1] if entry else None


def bit_of_letter(letter):
    """The bit number of a taint letter, or None when unknown."""
    entry = _BY_LETTER.get(letter)
    return entry[0] if entry else None
