# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The blacklist and disable lines of one modprobe.d file, edited in place.

The file is handled as bytes: a line this task does not manage (comments,
blanks, other directives, bytes that are not UTF-8, a continued line) is
kept exactly as it was.  Managed lines are ``blacklist NAME`` and ``install
NAME /bin/false``; they are recognised with any blanks between the words
and NAME written with '-' or '_', and only on a line that is not the
continuation of the one before.  New lines are appended at the end.
"""

import re

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.names import module_name

HEADER = b'# Managed by Ansible (kernel.kmod.kmod_blacklist): only the lines of the modules it manages change.\n'
DISABLE_COMMAND = '/bin/false'
KINDS = ('blacklist', 'install')

# The kernel's MODULE_NAME_LEN (64 - sizeof(unsigned long)) less the NUL.
MAX_NAME_LEN = 55
_NAME = re.compile(r'[A-Za-z0-9_-]+\Z')
_BLANKS = b' \t'


def check_name(name):
    """The normalised module name, or KmodError for anything that is not one.

    Only letters, digits, '-' and '_': a name goes into an ``install`` line,
    whose module field modprobe matches as a shell pattern, so '*', '?' and
    '[' would disable other modules too.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise KmodError('%r is not a module name: use letters, digits, "-" and "_" only (no paths, patterns, '
                        'blanks or control characters)' % (name,), module=name if isinstance(name, str) else None)
    if len(name) > MAX_NAME_LEN:
        raise KmodError('%s is not a module name: longer than %d characters, the kernel\'s limit'
                        % (name, MAX_NAME_LEN), module=name)
    return module_name(name)


def wanted_lines(name, disable):
    """{kind: line text} this task manages for one module."""
    lines = {'blacklist': 'blacklist %s' % name}
    if disable:
        lines['install'] = 'install %s %s' % (name, DISABLE_COMMAND)
    return lines


def split_lines(data):
    """The physical lines of data, each with its '\\n' (the last may lack it).

    Only '\\n' ends a line, as for modprobe: a '\\r' stays part of its line.
    """
    parts = data.split(b'\n')
    out = [p + b'\n' for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def managed_line(line):
    """(kind, module name) when the physical line is one this module manages, else None."""
    words = line.rstrip(b'\n').replace(b'\t', b' ').split(b' ')
    words = [w for w in words if w]
    try:
        words = [w.decode('ascii') for w in words]
    except UnicodeDecodeError:
        return None
    if len(words) == 2 and words[0] == 'blacklist' and _NAME.match(words[1]):
        return 'blacklist', module_name(words[1])
    if len(words) == 3 and words[0] == 'install' and _NAME.match(words[1]) and words[2] == DISABLE_COMMAND:
        return 'install', module_name(words[1])
    return None


def _continues(line):
    body = line.rstrip(b'\n')
    # An odd run of trailing backslashes joins the next line to this one.
    return (len(body) - len(body.rstrip(b'\\'))) % 2 == 1 and line.endswith(b'\n')


def scan(data):
    """[(index, kind, name)] of the managed lines of data (bytes)."""
    found = []
    continued = False
    for index, line in enumerate(split_lines(data)):
        if not continued and not line.startswith(b'#'):
            managed = managed_line(line)
            if managed is not None:
                found.append((index,) + managed)
        continued = _continues(line)
    return found


def edit(data, name, wanted, owned_header=HEADER):
    """New bytes of a file whose managed lines for `name` become `wanted`.

    data: the file's bytes, or None when it does not exist; wanted: {kind:
    line} (empty: remove every managed line of the module).  The first line
    already there of each wanted kind is kept, extra copies are removed, and
    what is missing is appended (after a '\\n' ending the last line, when it
    had none, and an empty line when the last line is continued).  Returns the new bytes, or None when the file should not
    exist: it was created by this collection (starts with its header) and
    holds nothing else, or it did not exist and nothing is wanted.
    """
    if data is None:
        if not wanted:
            return None
        data = owned_header
    lines = split_lines(data)
    keep = set()
    drop = set()
    for index, kind, found_name in scan(data):
        if found_name != name:
            continue
        if kind in wanted and kind not in keep:
            keep.add(kind)
        else:
            drop.add(index)
    out = [line for index, line in enumerate(lines) if index not in drop]
    missing = [wanted[kind] for kind in KINDS if kind in wanted and kind not in keep]
    if missing:
        if out and not out[-1].endswith(b'\n'):
            out[-1] += b'\n'
        if out and _continues(out[-1]):
            # A last line ending in '\\' would swallow ours: an empty line ends it.
            out.append(b'\n')
        out.extend(line.encode('ascii') + b'\n' for line in missing)
    new = b''.join(out)
    if new == owned_header and data.startswith(owned_header):
        return None
    return new


def is_ours(data):
    """True when the file was written by this collection (carries its header)."""
    return data is not None and data.startswith(HEADER)
