# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The data depmod's stages hand to each other.

scan (which files, in which order) -> parse (what each file says, cached)
-> graph (who needs whom) -> outputs (the index files).  Each stage fills
its own fields of ModuleRecord and leaves the others alone.
"""

import re


class ModuleRecord(object):
    """One module file depmod indexes.

    Set by the scan:
      name      normalised module name ('snd_hda_intel')
      path      absolute path on this machine (for reading the file)
      dep_path  the path as written in modules.dep: relative to the module
                directory, or absolute (inside the root) for external dirs;
                keeps the compression suffix ('kernel/a/b.ko.xz')
      order     position in depmod's final module order (0-based); it is the
                priority of the module's entries in the .bin indexes
      stat_key  (st_size, st_mtime_ns, st_ino) of the file, for caches
    Set by the parse (None until parsed):
      modinfo   [(key, value), ...] in file order
      exports   [(symbol, crc or None), ...] in the order depmod meets them
      needs     [(symbol, weak), ...]
      versions  [(symbol, crc), ...] from __versions
                (all four built on first use from the compact parse result
                given to set_parsed; see the accessors for depmod's own use)
    Set by the graph:
      deps      [ModuleRecord, ...] the transitive dependencies in the order
                modules.dep lists them
    """

    __slots__ = ('name', 'path', 'dep_path', 'order', 'stat_key', 'deps',
                 '_compact', '_modinfo', '_exports', '_needs', '_versions')

    def __init__(self, name, path, dep_path, order=None, stat_key=None):
        self.name = name
        self.path = path
        self.dep_path = dep_path
        self.order = order
        self.stat_key = stat_key
        self.deps = None
        self._compact = None
        self._modinfo = self._exports = self._needs = self._versions = None

    # The parse stage hands over one compact result (compact() below:
    # a few joined strings per module).  The lists above are built from it
    # only when asked for; depmod's own stages use the accessors below,
    # which split the strings and never build a tuple per symbol.

    def set_parsed(self, result):
        """Set the parse fields from a compact parse result."""
        self._compact = result
        self._modinfo = self._exports = self._needs = self._versions = None

    def _expanded(self, field, build):
        value = getattr(self, field)
        if value is None and self._compact is not None:
            value = build(self._compact)
            setattr(self, field, value)
        return value

    @property
    def modinfo(self):
        return self._expanded('_modinfo', modinfo_of_compact)

    @modinfo.setter
    def modinfo(self, records):
        self._modinfo = records
        self._drop_compact()

    @property
    def exports(self):
        return self._expanded('_exports', exports_of_compact)

    @exports.setter
    def exports(self, exports):
        self._exports = exports
        self._drop_compact()

    @property
    def needs(self):
        return self._expanded('_needs', needs_of_compact)

    @needs.setter
    def needs(self, needs):
        self._needs = needs
        self._drop_compact()

    @property
    def versions(self):
        return self._expanded('_versions', versions_of_compact)

    @versions.setter
    def versions(self, versions):
        self._versions = versions
        self._drop_compact()

    def _drop_compact(self):
        # a field set by hand: the others keep what the compact result said
        if self._compact is not None:
            compact, self._compact = self._compact, None
            for field, build in _BUILDERS:
                if getattr(self, field) is None:
                    setattr(self, field, build(compact))

    def modinfo_values(self, key, prefix=''):
        """The values of one modinfo key, in file order ('' for a record
        without '='); with prefix, only the values starting with it."""
        if self._modinfo is None and self._compact is not None:
            # depmod asks a few keys of every module: a search beats expanding every record
            return _values_pattern(key, prefix).findall(self._compact[0])
        return [v for k, v in (self._modinfo or ()) if k == key and v.startswith(prefix)]

    def export_lists(self):
        """([symbol, ...], [crc or None, ...]) of the exports."""
        if self._exports is None and self._compact is not None:
            return _split(self._compact[1], '\n'), self._compact[2]
        exports = self._exports or ()
        return [name for name, _crc in exports], [crc for _name, crc in exports]

    def export_hashes(self):
        """kmod's hash of each export name (parallel to export_lists), or
        None when the parse result did not bring them."""
        if self._exports is None and self._compact is not None and len(self._compact) > 8:
            return self._compact[8]
        return None

    def need_lists(self):
        """([symbol, ...], {weak symbol, ...}, dotted): dotted is False when no
        name starts with '.' (ppc64 function descriptors, looked up without it)."""
        if self._needs is None and self._compact is not None:
            text = self._compact[3]
            return (_split(text, '\n'), set(_split(self._compact[4], '\n')),
                    text[:1] == '.' or '\n.' in text)
        needs = self._needs or ()
        names = [name for name, _weak in needs]
        return names, set(name for name, weak in needs if weak), any(name[:1] == '.' for name in names)

    def dependency_symbols(self):
        """([symbol, ...], dotted): the undefined symbols, then the __versions
        names (or only those no undefined symbol has: the same owners), as
        one list (what the dependency graph looks up); dotted as in
        need_lists."""
        if self._needs is None and self._versions is None and self._compact is not None:
            # the __versions names the needs already hold add no owner: only the others
            needs, versions = self._compact[3], self._compact[7]
            text = needs + '\n' + versions if needs and versions else needs or versions
            return _split(text, '\n'), text[:1] == '.' or '\n.' in text
        names, _weak, dotted = self.need_lists()
        version_names, _crcs, version_dotted = self.version_lists()
        return names + version_names, dotted or version_dotted

    def version_lists(self):
        """([symbol, ...], [crc, ...], dotted) of __versions."""
        if self._versions is None and self._compact is not None:
            text = self._compact[5]
            return _split(text, '\n'), self._compact[6], text[:1] == '.' or '\n.' in text
        versions = self._versions or ()
        names = [name for name, _crc in versions]
        return names, [crc for _name, crc in versions], any(name[:1] == '.' for name in names)

    def __repr__(self):
        return 'ModuleRecord(%r, %r, order=%r)' % (self.name, self.dep_path, self.order)


_VALUE_PATTERNS = {}


def _values_pattern(key, prefix):
    """findall() gives the value of every 'KEY=value' (or bare 'KEY') record
    whose value starts with prefix.

    The key comes first so the regex engine can hunt for it as a literal;
    the lookbehind then checks that it starts a record.
    """
    got = _VALUE_PATTERNS.get((key, prefix))
    if got is None:
        k = re.escape(key)
        if prefix:
            pattern = r'%s(?<![^\0]%s)=(%s[^\0]*)' % (k, k, re.escape(prefix))
        else:
            pattern = r'%s(?<![^\0]%s)(?:=([^\0]*)|(?=\0|\Z))' % (k, k)
        got = _VALUE_PATTERNS[(key, prefix)] = re.compile(pattern)
    return got


def _split(text, sep):
    return text.split(sep) if text else []


def modinfo_of_compact(compact):
    return [tuple(rec.partition('=')[::2]) for rec in _split(compact[0], '\0') if rec]


def exports_of_compact(compact):
    return list(zip(_split(compact[1], '\n'), compact[2]))


def needs_of_compact(compact):
    names = _split(compact[3], '\n')
    weak = set(_split(compact[4], '\n'))
    return [(name, name in weak) for name in names]


def versions_of_compact(compact):
    return list(zip(_split(compact[5], '\n'), compact[6]))


# A compact result is a few strings and one list of numbers instead of
# hundreds of tuples: cheap to send between processes and to cache.
# Names never hold NUL or newline (they come from NUL-terminated strings,
# and modinfo records are split at NULs).
# The last field repeats the __versions names no undefined symbol has: the
# graph looks those up after the needs, and this spares it the others.  It is
# kept when the versions themselves are not (keep_versions False: only
# depmod -e compares their CRCs).
def compact(modinfo, exports, needs, versions, keep_versions=True):
    needed = set(name for name, _weak in needs)
    unclaimed = '\n'.join(name for name, _crc in versions if name not in needed)
    if not keep_versions:
        versions = []
    return (
        '\0'.join('%s=%s' % kv for kv in modinfo),
        '\n'.join(name for name, _crc in exports),
        [crc for _name, crc in exports],
        '\n'.join(name for name, _weak in needs),
        '\n'.join(name for name, weak in needs if weak),
        '\n'.join(name for name, _crc in versions),
        [crc for _name, crc in versions],
        unclaimed,
    )


def expand(result):
    """(modinfo, exports, needs, versions) lists from a compact result."""
    return (modinfo_of_compact(result), exports_of_compact(result), needs_of_compact(result),
            versions_of_compact(result))


# What a compact result may hold, checked on what a cache gives back: the
# modinfo values that reach an index file and every symbol name are free of
# control characters (a newline would start a line of its own in
# modules.alias or modules.softdep), CRCs and hashes are numbers in range,
# and each list of CRCs is as long as its list of names.
_BAD_INDEX_VALUE = re.compile('(?:\\A|\\0)(?:alias|softdep|weakdep)=[^\\0\\x01-\\x1f\\x7f]*[\\x01-\\x1f\\x7f]')
# names are joined by single newlines: any other control character, or an
# empty name, was not made by compact()
_BAD_NAMES = re.compile('[\\x00-\\x09\\x0b-\\x1f\\x7f]|\\n\\n|\\A\\n|\\n\\Z')
_NONE = type(None)


def _names_ok(texts):
    """True when each text is names joined by single newlines, none holding
    a control character."""
    if not all(isinstance(t, str) for t in texts):
        return False
    for text in texts:
        if '\n\n' in text or text[:1] == '\n' or text[-1:] == '\n':
            return False
    joined = ''.join(texts).replace('\n', '')
    # the usual names are printable ASCII: a str method decides those at C speed
    return joined.isprintable() or not _BAD_NAMES.search(joined)


def _count(text):
    return text.count('\n') + 1 if text else 0


def _numbers_ok(values, count, bits, none_ok=False):
    if not isinstance(values, list) or len(values) != count:
        return False
    kinds = set(map(type, values))
    if not kinds <= ({int, _NONE} if none_ok else {int}):
        return False
    numbers = [v for v in values if v is not None] if _NONE in kinds else values
    return not numbers or (min(numbers) >= 0 and max(numbers) < 1 << bits)


def valid_compact(result):
    """True when result is shaped as compact() makes it (with or without the
    export hashes parse adds) and holds nothing an index file must not."""
    if not isinstance(result, (list, tuple)) or len(result) not in (8, 9):
        return False
    modinfo = result[0]
    if not isinstance(modinfo, str) or (not modinfo.replace('\0', '').isprintable()
                                        and _BAD_INDEX_VALUE.search(modinfo)):
        return False
    if not _names_ok([result[1], result[3], result[4], result[5], result[7]]):
        return False
    exports = _count(result[1])
    return (_numbers_ok(result[2], exports, 64, none_ok=True)
            and _numbers_ok(result[6], _count(result[5]), 64)
            and (len(result) == 8 or _numbers_ok(result[8], exports, 32)))


_BUILDERS = (('_modinfo', modinfo_of_compact), ('_exports', exports_of_compact), ('_needs', needs_of_compact),
             ('_versions', versions_of_compact))
