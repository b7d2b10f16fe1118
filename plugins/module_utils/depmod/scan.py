# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which module files depmod indexes, and in which order.

The first stage of the Python depmod, following kmod 30's depmod:

1. Walk the module directory, then each external directory (in the reverse
   of the order the config lists them, as kmod does), in directory (readdir)
   order.  Entries named '.', '..', 'build', 'source' or any ``exclude``
   name are skipped at every depth, files as well as directories; symlinks
   are followed.  A file counts when its name ends with a module suffix
   (``.ko``, ``.ko.xz``, ``.ko.zst``, ``.ko.gz``; Debian's kmod 30 is built
   without zlib and ignores ``.ko.gz``).  Its module name is the basename up
   to the first '.', with '-' turned into '_'.
2. For two files of one module name the config decides: an ``override``
   naming exactly the file's directory wins; then ``search`` priorities
   (built-in = everything not under a listed subdirectory); on a tie the
   file found first stays.  kmod's comparison has a quirk kept here: within
   one search step only the new file is checked, so when both files lie
   under the same search subdirectory the newer one wins.
3. Order: kmod keeps modules in a hash table (512 buckets, Paul Hsieh's
   SuperFastHash of the name, names sorted inside a bucket) and lists them
   in bucket order; then, when modules.order is readable and every line ends
   in '\\n', a stable sort puts the modules it lists first, by the position
   of their *last* line there (kmod 34 takes the first), matching the path
   relative to the module directory with the suffix cut to '.ko'.  Modules
   not listed (and external ones) keep the hash order.  So the order of
   unlisted modules depends on their names only, never on the directory.

dep_path is relative to the module directory, or the file's path under the
config root for external directories (kmod writes the path as found).
"""

import errno
import os
import stat

from ansible_collections.kernel.kmod.plugins.module_utils.config.depmod import (
    ALWAYS_SKIPPED, external_path, load_depmod_config)
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_hash import hash_iteration_order
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.model import ModuleRecord
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.names import MODULE_SUFFIXES
from ansible_collections.kernel.kmod.plugins.module_utils.tree.module_dir import find_module_dir

ORDER_FILE = 'modules.order'
# Entries kmod never descends into or reads, whatever the config says.
# fgets() in kmod reads modules.order through a PATH_MAX buffer.
_ORDER_LINE_MAX = 4096 - 1
_HASH_BUCKETS = 512


class Skipped(object):
    """A file or directory the scan did not index: path, reason, detail.

    reason: 'excluded' (an exclude name), 'build-or-source', 'lower-priority'
    (detail: the dep_path that won), 'unsupported-type', 'unreadable'
    (detail: the error).
    """

    __slots__ = ('path', 'reason', 'detail')

    def __init__(self, path, reason, detail=None):
        self.path, self.reason, self.detail = path, reason, detail

    def __eq__(self, other):
        return isinstance(other, Skipped) and (self.path, self.reason, self.detail) == (
            other.path, other.reason, other.detail)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return 'Skipped(%r, %r, %r)' % (self.path, self.reason, self.detail)


class ScanResult(object):
    """The outcome of a scan.

    modules: ModuleRecord list in depmod's final order (order = 0..n-1);
    module_dir: the module directory on this machine;
    order_file: 'used', 'missing' or 'corrupt' (modules.order);
    skipped: Skipped entries, in the order met;
    warnings: 'PATH: message' strings.
    """

    def __init__(self, module_dir):
        self.module_dir = module_dir
        self.modules = []
        self.order_file = 'missing'
        self.skipped = []
        self.warnings = []

    def dep_paths(self):
        return [m.dep_path for m in self.modules]

    def by_name(self):
        return dict((m.name, m) for m in self.modules)


class _Found(object):
    """A candidate file, with the strings kmod's comparisons work on."""

    __slots__ = ('name', 'stem', 'kpath', 'host', 'dep_path', 'rel', 'st')

    def __init__(self, name, stem, kpath, host, dep_path, rel, st):
        self.name = name          # normalised module name
        self.stem = stem          # basename up to the first '.'
        self.kpath = kpath        # the path string kmod compares
        self.host = host          # where it is on this machine
        self.dep_path = dep_path  # as written in modules.dep
        self.rel = rel            # relative to the module dir, or None
        self.st = st

    def short_path(self):
        """kpath cut after the module name: 'dir/' + stem (kmod's newlen)."""
        return self.kpath[:self.kpath.rindex('/') + 1 + len(self.stem)]

    def order_key(self):
        """The path modules.order is matched against: suffix cut to '.ko'."""
        if self.rel is None:
            return None
        base = self.rel.rfind('/') + 1
        return self.rel[:base + len(self.stem) + 3]


# ---------------------------------------------------------------- kmod's hash

def hash_order(names):
    """Names in the order kmod's module table (512 buckets) iterates them."""
    return hash_iteration_order(names, _HASH_BUCKETS)


# ---------------------------------------------------------------- priorities

def _starts_with_dir(path, prefix):
    """path continues prefix with a '/' after it (and something more)."""
    return len(path) > len(prefix) and path[len(prefix)] == '/' and path.startswith(prefix)


class _Priorities(object):
    """Decides between two files of one module name, as kmod 30 does."""

    def __init__(self, config, kdir):
        self.kdir = kdir
        # kmod prepends every entry to a linked list: it walks them newest first.
        self.overrides = [o.path for o in reversed(config.overrides)]
        self.searches = list(reversed(config.search_order))
        self.externals = [external_path(config, e.dir) for e in reversed(config.externals)]

    def _relative(self, short):
        if short.startswith(self.kdir):
            return short[len(self.kdir) + 1:]
        return None

    def existing_wins(self, old, new):
        """True when the file already kept (old) stays over new."""
        new_short, old_short = new.short_path(), old.short_path()
        new_rel, old_rel = self._relative(new_short), self._relative(old_short)
        for path in self.overrides:
            if new_rel == path:
                return False
            if old_rel == path:
                return True
        builtin = old_prio = new_prio = -1
        i = 0
        for entry in self.searches:
            if entry.kind == 'built-in':
                builtin = i
            elif entry.kind == 'external':
                for ext in self.externals:
                    if _starts_with_dir(new_short, ext):
                        new_prio = i
                    if _starts_with_dir(old_short, ext):
                        old_prio = i
                    i += 1
            elif new_rel is not None and _starts_with_dir(new_rel, entry.path):
                new_prio = i
            elif old_rel is not None and _starts_with_dir(old_rel, entry.path):
                # only when new did not match this step (kmod's else-if)
                old_prio = i
            i += 1
        if new_prio < 0:
            new_prio = builtin
        if old_prio < 0:
            old_prio = builtin
        return new_prio <= old_prio


# ---------------------------------------------------------------- the walk

def module_stem(filename, suffixes=MODULE_SUFFIXES):
    """The basename up to its first '.', when filename is a module file."""
    for suffix in suffixes:
        if len(filename) > len(suffix) and filename.endswith(suffix):
            return filename.split('.', 1)[0]
    return None


class _Walker(object):

    def __init__(self, result, config, kdir, module_dir, suffixes):
        self.result = result
        self.kdir = kdir
        self.module_dir = module_dir
        self.suffixes = tuple(suffixes)
        self.excludes = frozenset(config.excludes)
        self.priorities = _Priorities(config, kdir)
        self.found = {}

    def walk(self, host_dir, kpath_dir, dep_dir, rel_dir, required):
        """Walk one top directory; kpath_dir/dep_dir/rel_dir name it for kmod,
        modules.dep and modules.order (rel_dir None outside the module dir)."""
        try:
            top = os.stat(host_dir)
        except OSError as exc:
            self._cannot_open(host_dir, exc, required)
            return
        self._walk_dir(host_dir, kpath_dir, dep_dir, rel_dir, [(top.st_dev, top.st_ino)], required)

    def _cannot_open(self, path, exc, required):
        if required:
            raise KmodError.from_os_error(exc, 'cannot open module directory', path=path)
        if exc.errno != errno.ENOENT:
            self.result.warnings.append('%s: cannot open directory: %s' % (path, exc.strerror))

    def _walk_dir(self, host_dir, kpath_dir, dep_dir, rel_dir, stack, required=False):
        try:
            with os.scandir(host_dir) as iterator:
                entries = list(iterator)
        except OSError as exc:
            if required:
                raise KmodError.from_os_error(exc, 'cannot open module directory', path=host_dir)
            self.result.warnings.append('%s: cannot open directory: %s' % (host_dir, exc.strerror))
            self.result.skipped.append(Skipped(host_dir, 'unreadable', exc.strerror))
            return
        for entry in entries:
            name = entry.name
            host = host_dir + '/' + name if host_dir[-1:] != '/' else host_dir + name
            if name in ALWAYS_SKIPPED:
                self.result.skipped.append(Skipped(host, 'build-or-source'))
                continue
            if name in self.excludes:
                self.result.skipped.append(Skipped(host, 'excluded'))
                continue
            kind, st = self._kind(entry, host)
            if kind is None:
                continue
            kpath = kpath_dir + '/' + name
            rel = name if rel_dir == '' else (rel_dir + '/' + name if rel_dir is not None else None)
            dep = rel if rel is not None else dep_dir + '/' + name
            if kind == 'dir':
                ident = (st.st_dev, st.st_ino)
                if ident in stack:
                    # kmod would recurse until it runs out of file descriptors
                    self.result.warnings.append('%s: directory loop, not followed' % host)
                    self.result.skipped.append(Skipped(host, 'unreadable', 'directory loop'))
                    continue
                self._walk_dir(host, kpath, dep, rel, stack + [ident])
            else:
                self._file(name, host, kpath, dep, rel)

    def _kind(self, entry, host):
        """('dir' or 'file', stat or None), or (None, None) with a warning."""
        try:
            if not entry.is_symlink():
                if entry.is_dir(follow_symlinks=False):
                    return 'dir', entry.stat(follow_symlinks=False)
                if entry.is_file(follow_symlinks=False):
                    return 'file', None
            st = entry.stat(follow_symlinks=True)
        except OSError as exc:
            self.result.warnings.append('%s: cannot stat: %s' % (host, exc.strerror))
            self.result.skipped.append(Skipped(host, 'unreadable', exc.strerror))
            return None, None
        if stat.S_ISDIR(st.st_mode):
            return 'dir', st
        if stat.S_ISREG(st.st_mode):
            return 'file', st
        self.result.warnings.append('%s: unsupported file type %o' % (host, stat.S_IFMT(st.st_mode)))
        self.result.skipped.append(Skipped(host, 'unsupported-type', '%o' % stat.S_IFMT(st.st_mode)))
        return None, None

    def _file(self, filename, host, kpath, dep, rel):
        stem = module_stem(filename, self.suffixes)
        if stem is None:
            return
        if kpath.startswith(self.kdir + '/'):
            # an external directory inside the module dir: kmod writes it relative
            rel = kpath[len(self.kdir) + 1:]
            dep = rel
        new = _Found(stem.replace('-', '_'), stem, kpath, host, dep, rel, None)
        old = self.found.get(new.name)
        if old is not None:
            if self.priorities.existing_wins(old, new):
                self.result.skipped.append(Skipped(host, 'lower-priority', old.dep_path))
                return
            self.result.skipped.append(Skipped(old.host, 'lower-priority', new.dep_path))
        self.found[new.name] = new


# ---------------------------------------------------------------- modules.order

def _fgets_chunks(data):
    """The pieces kmod's fgets() loop reads from modules.order."""
    pos = 0
    n = len(data)
    while pos < n:
        end = data.find(b'\n', pos, pos + _ORDER_LINE_MAX)
        stop = end + 1 if end >= 0 else min(n, pos + _ORDER_LINE_MAX)
        yield data[pos:stop]
        pos = stop


def read_order_file(path, first_wins=False):
    """{path without suffix: position} from a modules.order, and its state.

    Returns (positions, 'used' | 'missing' | 'corrupt', warning or None).
    A piece without its '\\n' (a last line without newline, a NUL inside a
    line, a line of 4095 bytes or more) makes kmod ignore the whole file.
    A line listed twice keeps its last position (first_wins: the first, as
    kmod 34 does).
    """
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except (IOError, OSError) as exc:
        return {}, 'missing', '%s: cannot read: %s' % (path, exc.strerror)
    lines = order_lines(data, path)
    if isinstance(lines, str):
        return {}, 'corrupt', lines
    positions = {}
    for position, line in enumerate(lines):
        if first_wins:
            positions.setdefault(line, position)
        else:
            positions[line] = position
    return positions, 'used', None


def order_lines(data, path):
    """The lines of a modules.order as kmod's fgets() loop reads them, or
    the warning (a str) when kmod would ignore the file."""
    parts = data[:-1].split(b'\n') if data.endswith(b'\n') else None
    if parts is not None and b'\0' not in data and max(map(len, parts)) < _ORDER_LINE_MAX:
        # the usual file: every line whole, no NUL; one split reads it as fgets() would
        return [line.decode('utf-8', 'surrogateescape') for line in parts]
    return _fgets_lines(data, path)


def _fgets_lines(data, path):
    """order_lines, piece by piece as kmod's fgets() loop reads them."""
    lines = []
    for number, chunk in enumerate(_fgets_chunks(data), 1):
        text = chunk.split(b'\0', 1)[0]
        if not text:
            continue
        if not text.endswith(b'\n'):
            return "%s:%d: corrupted line misses '\\n', file ignored" % (path, number)
        lines.append(text[:-1].decode('utf-8', 'surrogateescape'))
    return lines


# ---------------------------------------------------------------- the scan

def scan_modules(root='/', release=None, config=None, module_dir=None, suffixes=MODULE_SUFFIXES,
                 first_order_line_wins=False, stat_files=True, known_stats=None):
    """The module files depmod indexes for a release, in depmod's order.

    root: the base directory (depmod -b); release: default the running
    kernel; config: a DepmodConfig (default: load_depmod_config() for the
    release, read from '/' as kmod does); module_dir: the module directory on
    this machine (default <root>/lib/modules/<release>, or usr/lib/modules);
    suffixes: the module file suffixes that count (drop '.ko.gz' to match a
    kmod built without zlib); first_order_line_wins: kmod 34's handling of a
    module listed twice in modules.order.  Returns a ScanResult; raises
    KmodError when the module directory cannot be read.
    """
    if release is None:
        release = config.release if config is not None else os.uname()[2]
    if config is None:
        config = load_depmod_config(release=release)
    if module_dir is None:
        module_dir = find_module_dir(root, release) or os.path.join(root, 'lib', 'modules', release)
    kdir = module_dir.rstrip('/') or '/'
    result = ScanResult(module_dir)
    result.warnings.extend(config.warnings)
    walker = _Walker(result, config, kdir, module_dir, suffixes)
    walker.walk(module_dir, kdir, None, '', required=True)
    for ext in reversed(config.externals):
        host = external_path(config, ext.dir)
        walker.walk(host, host, ext.dir, None, required=False)

    found = [walker.found[name] for name in hash_order(walker.found)]
    positions, state, warning = read_order_file(os.path.join(module_dir, ORDER_FILE),
                                                first_wins=first_order_line_wins)
    result.order_file = state
    if warning:
        result.warnings.append(warning)
    if state == 'used':
        unlisted = max(positions.values(), default=-1) + 1
        found.sort(key=lambda f: positions.get(f.order_key(), unlisted))

    for order, item in enumerate(found):
        stat_key = known_stats.get(item.host) if known_stats else None
        if stat_files and stat_key is None:
            st = item.st
            try:
                st = os.stat(item.host)
            except OSError as exc:
                result.warnings.append('%s: cannot stat: %s' % (item.host, exc.strerror))
            stat_key = (st.st_size, st.st_mtime_ns, st.st_ino) if st is not None else None
        result.modules.append(ModuleRecord(item.name, item.host, item.dep_path, order=order,
                                           stat_key=stat_key))
    return result
