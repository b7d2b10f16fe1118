# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The text module indexes, read as if they were the binary ones.

libkmod reads only the ``*.bin`` files; when one is missing (a tree indexed
by an old or partial depmod, or shipped without them) the text files depmod
writes next to them hold the same content:

==========================  =========================  =======================
index                       text source                key -> value
==========================  =========================  =======================
modules.dep                 ``PATH: DEP DEP``          module name -> the line
modules.alias               ``alias PATTERN MOD``      normalised pattern -> MOD
modules.symbols             ``alias symbol:SYM MOD``   ``symbol:SYM`` -> MOD
modules.builtin             one path per line          module name -> ''
modules.builtin.alias       modules.builtin.modinfo    normalised alias -> MOD
modules.softdep             ``softdep MOD VALUE``      MOD -> VALUE
==========================  =========================  =======================

The entries are turned into the same trie depmod writes (same priorities:
the module's position in modules.dep) and read through ``BinaryIndex``, so
exact and wildcard lookups answer exactly as for the ``.bin`` file.
``open_index(module_dir, name)`` picks the ``.bin`` when present.
"""

import errno
import os

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.index.binary import BinaryIndex
from ansible_collections.kernel.kmod.plugins.module_utils.names import alias_key

# index name -> text file it can be rebuilt from
TEXT_SOURCES = {
    'modules.dep': 'modules.dep',
    'modules.alias': 'modules.alias',
    'modules.symbols': 'modules.symbols',
    'modules.builtin': 'modules.builtin',
    'modules.builtin.alias': 'modules.builtin.modinfo',
    'modules.softdep': 'modules.softdep',
}


def depmod_alias_key(alias):
    """An alias as depmod stores it in modules.alias.bin, or None (see names.alias_key)."""
    return alias_key(alias)


def depmod_module_name(path):
    """The module name depmod derives from a path: basename up to its first
    '.', with '-' turned into '_' (so 'kernel/fs/ext4.ko' -> 'ext4')."""
    base = path.rstrip('\n').rsplit('/', 1)[-1]
    return base.split('.', 1)[0].replace('-', '_')


def _read_lines(path):
    """(line number, line without newline) of a text file; KmodError if unreadable."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except (OSError, IOError) as exc:
        raise KmodError.from_os_error(exc, 'cannot read', path=path)
    text = data.decode('latin-1')
    return list(enumerate(text.splitlines(), 1))


class ModuleOrder(object):
    """Priorities as depmod gives them: a module's 0-based line in modules.dep.

    Modules it does not know get numbers after the known ones, in the order
    they are first asked for (the text files list modules in depmod's order,
    so the relative order still matches).
    """

    def __init__(self, names=()):
        self._index = {}
        for name in names:
            self._index.setdefault(name, len(self._index))
        self._known = len(self._index)

    @classmethod
    def from_modules_dep(cls, path):
        names = []
        for _number, line in _read_lines(path):
            head = line.split(':', 1)[0]
            if ':' in line and head:
                names.append(depmod_module_name(head))
        return cls(names)

    def priority(self, name):
        got = self._index.get(name)
        if got is None:
            got = self._index[name] = len(self._index)
        return got

    def __len__(self):
        return self._known


def parse_modules_dep(path):
    """(entries, warnings): key module name, value the whole line."""
    entries, warnings = [], []
    for number, line in _read_lines(path):
        if not line.strip() or line.startswith('#'):
            continue
        head = line.split(':', 1)[0]
        if ':' not in line or not head:
            warnings.append('%s:%d: expected "PATH: DEPS", got %r' % (path, number, line))
            continue
        entries.append((depmod_module_name(head), line, len(entries)))
    return entries, warnings


def _parse_alias_lines(path, order, want_symbols):
    entries, warnings = [], []
    for number, line in _read_lines(path):
        fields = line.split()
        if not fields or fields[0].startswith('#'):
            continue
        if len(fields) != 3 or fields[0] != 'alias':
            warnings.append('%s:%d: expected "alias PATTERN MODULE", got %r' % (path, number, line))
            continue
        pattern, module = fields[1], fields[2]
        if want_symbols:
            key = pattern
            if not key.startswith('symbol:'):
                warnings.append('%s:%d: not a symbol alias: %r' % (path, number, pattern))
                continue
        else:
            key = depmod_alias_key(pattern)
            if key is None:
                warnings.append('%s:%d: unmatched bracket in %r' % (path, number, pattern))
                continue
        entries.append((key, module, order.priority(module)))
    return entries, warnings


def parse_modules_alias(path, order=None):
    """(entries, warnings) from modules.alias: key the normalised pattern."""
    return _parse_alias_lines(path, order or ModuleOrder(), False)


def parse_modules_symbols(path, order=None):
    """(entries, warnings) from modules.symbols: key 'symbol:NAME'."""
    return _parse_alias_lines(path, order or ModuleOrder(), True)


def parse_modules_builtin(path):
    """(entries, warnings) from modules.builtin: key module name, value ''.

    Like depmod, a line must start with a letter.
    """
    entries, warnings = [], []
    for number, line in _read_lines(path):
        if not line[:1].isalpha():
            warnings.append('%s:%d: invalid modules.builtin line %r' % (path, number, line))
            continue
        entries.append((depmod_module_name(line), '', 0))
    return entries, warnings


def parse_modules_builtin_modinfo(path):
    """(entries, warnings) from modules.builtin.modinfo's alias records.

    Records are NUL-separated 'module.key=value'; only 'alias' keys count.
    """
    entries, warnings = [], []
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except (OSError, IOError) as exc:
        raise KmodError.from_os_error(exc, 'cannot read', path=path)
    for record in data.decode('latin-1').split('\0'):
        if not record:
            continue
        module, dot, rest = record.partition('.')
        key, equal, value = rest.partition('=')
        if not dot or not equal or not module:
            warnings.append('%s: malformed record %r' % (path, record))
            continue
        if key != 'alias' or not value:
            continue
        alias = depmod_alias_key(value)
        if alias is None:
            warnings.append('%s: unmatched bracket in %r' % (path, value))
            continue
        entries.append((alias, module, 0))
    return entries, warnings


def parse_modules_softdep(path, order=None):
    """(entries, warnings) from modules.softdep: key module, value the rest."""
    order = order or ModuleOrder()
    entries, warnings = [], []
    for number, line in _read_lines(path):
        fields = line.split(None, 2)
        if not fields or fields[0].startswith('#'):
            continue
        if len(fields) != 3 or fields[0] != 'softdep':
            warnings.append('%s:%d: expected "softdep MODULE DEPS", got %r' % (path, number, line))
            continue
        entries.append((fields[1], fields[2].strip(), order.priority(fields[1])))
    return entries, warnings


class TextIndex(BinaryIndex):
    """An index rebuilt in memory from (key, value, priority) entries.

    Same API as BinaryIndex; ``entries`` keeps the input in order and
    ``warnings`` the skipped lines.
    """

    def __init__(self, path, entries, warnings=()):
        # imported here: open_index on a tree with its .bin files builds no trie
        from ansible_collections.kernel.kmod.plugins.module_utils.index.writer import IndexBuilder
        builder = IndexBuilder()
        self.entries = list(entries)
        self.warnings = list(warnings)
        for key, value, priority in self.entries:
            builder.add(key, value, priority)
        BinaryIndex.__init__(self, path, data=builder.to_bytes('pre'))


def _index_name(name):
    base = os.path.basename(name)
    return base[:-len('.bin')] if base.endswith('.bin') else base


def read_text_index(module_dir, name, order=None):
    """The TextIndex of index name ('modules.alias', ...) from its text file."""
    name = _index_name(name)
    source = TEXT_SOURCES.get(name)
    if source is None:
        raise KmodError('unknown module index %r (known: %s)' % (name, ', '.join(sorted(TEXT_SOURCES))))
    path = os.path.join(module_dir, source)
    if not os.path.exists(path):
        raise KmodError('%s: no such index: neither %s.bin nor %s exists'
                        % (module_dir, name, source), errno=errno.ENOENT, path=path)
    if order is None and name in ('modules.alias', 'modules.symbols', 'modules.softdep'):
        dep = os.path.join(module_dir, 'modules.dep')
        order = ModuleOrder.from_modules_dep(dep) if os.path.exists(dep) else ModuleOrder()
    if name == 'modules.dep':
        entries, warnings = parse_modules_dep(path)
    elif name == 'modules.alias':
        entries, warnings = parse_modules_alias(path, order)
    elif name == 'modules.symbols':
        entries, warnings = parse_modules_symbols(path, order)
    elif name == 'modules.builtin':
        entries, warnings = parse_modules_builtin(path)
    elif name == 'modules.builtin.alias':
        entries, warnings = parse_modules_builtin_modinfo(path)
    else:
        entries, warnings = parse_modules_softdep(path, order)
    return TextIndex(path, entries, warnings)


def open_index(module_dir, name):
    """The index name ('modules.dep', 'modules.alias', ...) of a module dir:
    its ``.bin`` file when present, else rebuilt from the text file.

    depmod leaves an empty (0-byte) ``.bin`` when its source is missing, for
    example modules.builtin.alias.bin without modules.builtin.modinfo: that
    reads as an empty index.  Raises KmodError (errno ENOENT) when neither
    file exists, FormatError when the ``.bin`` is damaged.
    """
    name = _index_name(name)
    if name not in TEXT_SOURCES:
        raise KmodError('unknown module index %r (known: %s)' % (name, ', '.join(sorted(TEXT_SOURCES))))
    binary = os.path.join(module_dir, name + '.bin')
    if os.path.exists(binary):
        if os.path.isfile(binary) and os.path.getsize(binary) == 0:
            return TextIndex(binary, [])
        return BinaryIndex(binary)
    return read_text_index(module_dir, name)
