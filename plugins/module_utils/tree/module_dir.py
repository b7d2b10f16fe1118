# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One kernel release's module directory: where it is, what it holds.

``<root>/lib/modules/<release>`` (or ``<root>/usr/lib/modules/<release>`` on
systems whose kmod looks there), its indexes (the ``.bin`` files libkmod
reads, the text files as fallback), its builtin lists and its module files.
Paths in ``modules.dep`` are relative to the module directory unless absolute
(external directories), and keep their compression suffix.
"""

import errno
import os

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.names import (
    alias_name, module_name, module_name_from_path,
)

# Where module directories live under a root, in the order kmod looks.
MODULE_ROOTS = ('lib/modules', 'usr/lib/modules')


def check_release(release):
    """`release` itself if it can name a module directory; else KmodError.

    A release is one path component under lib/modules: a '/', '.', '..'
    or a control character would lead the path somewhere else (an absolute
    release would even escape the root), so each is refused here, where
    every caller joins a release to a root.
    """
    if not isinstance(release, str) or not release or release in ('.', '..') or '/' in release:
        raise KmodError('invalid kernel release %r: one directory name under lib/modules is expected' % (release,))
    bad = [c for c in release if ord(c) < 32 or ord(c) == 127]
    if bad:
        raise KmodError('invalid kernel release %r: it holds the control character %r' % (release, bad[0]))
    return release


def find_module_dir(root, release):
    """The module directory of `release` under `root`, or None."""
    check_release(release)
    for top in MODULE_ROOTS:
        path = os.path.join(root, top, release)
        if os.path.isdir(path):
            return os.path.normpath(path)
    return None


def releases_under(root):
    """Every kernel release that has a module directory under `root`, sorted."""
    found = set()
    for top in MODULE_ROOTS:
        try:
            entries = os.listdir(os.path.join(root, top))
        except OSError:
            continue
        found.update(e for e in entries if os.path.isdir(os.path.join(root, top, e)))
    return sorted(found)


def parse_dep_value(value):
    """'kernel/a.ko: kernel/b.ko kernel/c.ko' -> ('kernel/a.ko', [b, c])."""
    path, _sep, deps = value.partition(':')
    return path.strip(), deps.split()


class ModuleTree(object):
    """The module directory of one release; indexes are opened on first use.

    `warnings` collects what was odd (missing or corrupt indexes, unreadable
    builtin lists), each naming its file.
    """

    def __init__(self, root, release, module_dir=None):
        self.root = root
        self.release = release
        self.module_dir = module_dir or find_module_dir(root, release)
        self.warnings = []
        self._indexes = {}
        self._builtin = None

    @property
    def exists(self):
        return self.module_dir is not None

    def close(self):
        for index in self._indexes.values():
            if index is not None:
                index.close()
        self._indexes = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _warn(self, msg):
        if msg not in self.warnings:
            self.warnings.append(msg)

    def index(self, name):
        """The index `name` ('modules.dep', 'modules.alias', ...), `.bin`
        preferred, text as fallback; None when neither can be read."""
        if name not in self._indexes:
            # imported on first use: finding a module dir needs no index reader
            from ansible_collections.kernel.kmod.plugins.module_utils.index.text import open_index
            index = None
            if self.module_dir is not None:
                try:
                    index = open_index(self.module_dir, name)
                except KmodError as exc:
                    if exc.errno != errno.ENOENT:  # an absent index is simply empty
                        self._warn(str(exc))
            self._indexes[name] = index
        return self._indexes[name]

    def abs_path(self, dep_path):
        """Absolute path of a modules.dep path (relative to the module dir)."""
        if os.path.isabs(dep_path):
            return os.path.join(self.root, dep_path.lstrip('/')) if self.root != '/' else dep_path
        return os.path.join(self.module_dir, dep_path)

    def dep_entry(self, name):
        """(absolute path, [absolute dependency paths]) of a module, or None."""
        index = self.index('modules.dep')
        if index is None:
            return None
        values = index.lookup(module_name(name))
        if not values:
            return None
        path, deps = parse_dep_value(values[0][1])
        return self.abs_path(path), [self.abs_path(d) for d in deps]

    def module_path(self, name):
        entry = self.dep_entry(name)
        return entry[0] if entry else None

    def alias_matches(self, alias):
        """Module names whose alias patterns match `alias` (modules.alias)."""
        index = self.index('modules.alias')
        return _unique(v for _prio, v in index.lookup_wildcard(alias_name(alias))) if index else []

    def symbol_owner(self, symbol):
        """Module names exporting `symbol` (modules.symbols)."""
        index = self.index('modules.symbols')
        key = symbol if symbol.startswith('symbol:') else 'symbol:' + symbol
        return _unique(v for _prio, v in index.lookup(key)) if index else []

    def builtin_alias_matches(self, alias):
        index = self.index('modules.builtin.alias')
        return _unique(v for _prio, v in index.lookup_wildcard(alias_name(alias))) if index else []

    def available(self):
        """Every module of the tree: name -> absolute path.

        From modules.dep when there is one (what modprobe can load), else by
        walking the directory (first file of a name wins, in sorted order).
        """
        if self.module_dir is None:
            return {}
        index = self.index('modules.dep')
        out = {}
        if index is not None:
            for key, _prio, value in index.items():
                if key not in out:
                    out[key] = self.abs_path(parse_dep_value(value)[0])
            return out
        for dirpath, dirs, files in os.walk(self.module_dir):
            dirs.sort()
            for fname in sorted(files):
                name = module_name_from_path(fname)
                if name is not None and name not in out:
                    out[name] = os.path.join(dirpath, fname)
        return out

    def builtin(self):
        """Names of the modules built into the kernel, from modules.builtin
        (modules.builtin.bin when the text file is missing), sorted."""
        if self._builtin is None:
            self._builtin = self._read_builtin()
        return self._builtin

    def _read_builtin(self):
        if self.module_dir is None:
            return []
        path = os.path.join(self.module_dir, 'modules.builtin')
        try:
            with open(path, 'rb') as f:
                lines = f.read().decode('utf-8', 'replace').splitlines()
            names = set(module_name_from_path(line.strip()) for line in lines)
            names.discard(None)
            names.discard('')
            return sorted(names)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                self._warn('cannot read %s: %s' % (path, exc.strerror))
        index = self.index('modules.builtin')
        if index is None:
            return []
        return sorted({key for key, _prio, _value in index.items()})

    def is_builtin(self, name):
        return module_name(name) in set(self.builtin())

    def builtin_modinfo(self, name):
        """modinfo records (key, value) of a builtin module from
        modules.builtin.modinfo ('mod.key=value' NUL-separated), in order."""
        if self.module_dir is None:
            return []
        path = os.path.join(self.module_dir, 'modules.builtin.modinfo')
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                self._warn('cannot read %s: %s' % (path, exc.strerror))
            return []
        prefix = module_name(name) + '.'
        records = []
        for raw in data.split(b'\0'):
            rec = raw.decode('utf-8', 'replace')
            if not rec.startswith(prefix):
                continue
            key, sep, value = rec[len(prefix):].partition('=')
            if sep:
                records.append((key, value))
        return records


def _unique(values):
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen
