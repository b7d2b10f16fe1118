# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The data depmod's stages hand to each other.

scan (which files, in which order) -> parse (what each file says, cached)
-> graph (who needs whom) -> outputs (the index files).  Each stage fills
its own fields of ModuleRecord and leaves the others alone.
"""


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
    Set by the graph:
      deps      [ModuleRecord, ...] the transitive dependencies in the order
                modules.dep lists them
    """

    __slots__ = ('name', 'path', 'dep_path', 'order', 'stat_key',
                 'modinfo', 'exports', 'needs', 'versions', 'deps')

    def __init__(self, name, path, dep_path, order=None, stat_key=None):
        self.name = name
        self.path = path
        self.dep_path = dep_path
        self.order = order
        self.stat_key = stat_key
        self.modinfo = None
        self.exports = None
        self.needs = None
        self.versions = None
        self.deps = None

    def modinfo_values(self, key):
        return [v for k, v in (self.modinfo or ()) if k == key]

    def __repr__(self):
        return 'ModuleRecord(%r, %r, order=%r)' % (self.name, self.dep_path, self.order)
