# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which configuration files count: directory precedence, sorting, masking.

modprobe.d, depmod.d and modules-load.d share one rule: every ``*.conf`` file
(name not starting with '.') of every directory is taken, all of them sorted
by basename, and for a basename present in several directories only the file
of the first directory counts.  ``/etc/modprobe.d/x.conf`` therefore masks
``/usr/lib/modprobe.d/x.conf``, and a symlink to ``/dev/null`` masks without
adding anything.

Everything is read under a root directory (default ``/``): paths given here
are paths inside that root, and symlinks are followed inside it, so a fake
root in a test or a mounted image behaves like a live system.

On merged-/usr systems ``/lib`` is a symlink to ``usr/lib``: kmod then sees
``/lib/modprobe.d/x.conf`` and ``/usr/lib/modprobe.d/x.conf`` and keeps the
first by basename.  Here a directory that is the same directory as an earlier
one is skipped whole (reported in ``same_dirs``) and a file that is the same
file as one already counted, under any name, is not counted again (reported
as masked with reason 'same-file').
"""

import errno
import os
import stat

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError

MODPROBE_DIRS = (
    '/etc/modprobe.d',
    '/run/modprobe.d',
    '/usr/local/lib/modprobe.d',
    '/usr/lib/modprobe.d',
    '/lib/modprobe.d',
)

DEPMOD_DIRS = tuple(d.replace('modprobe.d', 'depmod.d') for d in MODPROBE_DIRS)

MODULES_LOAD_DIRS = tuple(d.replace('modprobe.d', 'modules-load.d') for d in MODPROBE_DIRS)

CONF_SUFFIX = '.conf'
DEV_NULL = '/dev/null'

# Symlink hops followed before giving up (the kernel's limit is 40 too).
_MAX_SYMLINKS = 40


class ConfigFile(object):
    """One file that counts.

    path: the path inside the root ('/etc/modprobe.d/a.conf');
    host_path: where to open it on this machine (root joined with path);
    name: the basename it is sorted and masked by;
    null: True for a symlink to /dev/null (masks, adds nothing);
    real: the path inside the root after following symlinks (identity).
    """

    __slots__ = ('path', 'host_path', 'name', 'null', 'real')

    def __init__(self, path, host_path, name, null=False, real=None):
        self.path = path
        self.host_path = host_path
        self.name = name
        self.null = null
        self.real = real if real is not None else path

    def __eq__(self, other):
        return isinstance(other, ConfigFile) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return 'ConfigFile(%r, name=%r%s)' % (self.path, self.name, ', null=True' if self.null else '')


class MaskedFile(object):
    """A file that does not count: path, name, by (the path that won), reason.

    reason: 'masked' (same basename in an earlier directory) or 'same-file'
    (the very file that was already counted, seen again through a symlink).
    """

    __slots__ = ('path', 'name', 'by', 'reason')

    def __init__(self, path, name, by, reason):
        self.path = path
        self.name = name
        self.by = by
        self.reason = reason

    def __eq__(self, other):
        return isinstance(other, MaskedFile) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return 'MaskedFile(%r, by=%r, reason=%r)' % (self.path, self.by, self.reason)


class ConfigFileList(object):
    """The outcome of a directory scan.

    files: ConfigFile entries in the order they are read (sorted by name);
    masked: MaskedFile entries, in the order they were met;
    same_dirs: (dir, earlier_dir) pairs of directories skipped as duplicates;
    warnings: 'PATH: message' strings (unreadable directories, subdirectories).
    """

    def __init__(self):
        self.files = []
        self.masked = []
        self.same_dirs = []
        self.warnings = []

    def paths(self):
        """The paths of the files that count, nulls excluded."""
        return [f.path for f in self.files if not f.null]


def host_path(root, path):
    """Where a path inside root lives on this machine."""
    if root in (None, '', '/'):
        return path if os.path.isabs(path) else os.path.join('/', path)
    return os.path.join(root, path.lstrip('/'))


def inside_root(root, path):
    """A path inside root, given either inside root or as a host path under it.

    '/srv/img/lib/modules/6.1' with root '/srv/img' -> '/lib/modules/6.1'.
    """
    if root in (None, '', '/'):
        return path
    prefix = root.rstrip('/')
    if path == prefix:
        return '/'
    if path.startswith(prefix + '/'):
        return path[len(prefix):]
    return path


def resolve_in_root(root, path):
    """Follow symlinks of a path inside root, keeping absolute targets in root.

    Returns the resolved path inside root ('/usr/lib/modprobe.d/a.conf' for
    '/lib/modprobe.d/a.conf' when /lib -> usr/lib).  Components that do not
    exist are kept as they are.  A symlink loop raises KmodError (ELOOP).
    """
    parts = [p for p in path.split('/') if p not in ('', '.')]
    done = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == '..':
            if done:
                done.pop()
            continue
        candidate = '/' + '/'.join(done + [part])
        try:
            target = os.readlink(host_path(root, candidate))
        except OSError:
            done.append(part)
            continue
        hops += 1
        if hops > _MAX_SYMLINKS:
            raise KmodError('too many levels of symbolic links: %s' % path, errno=errno.ELOOP, path=path)
        if target.startswith('/'):
            done = []
        parts = [p for p in target.split('/') if p not in ('', '.')] + parts
    return '/' + '/'.join(done)


def _is_conf_name(name, suffix):
    return not name.startswith('.') and len(name) > len(suffix) and name.endswith(suffix)


class _Collector(object):
    """Inserts files by basename; the first of a name wins."""

    def __init__(self, root):
        self.root = root
        self.result = ConfigFileList()
        self.by_name = {}
        self.by_real = {}
        self.dirs_seen = {}

    def add(self, path, name):
        try:
            real = resolve_in_root(self.root, path)
        except KmodError as exc:
            self.result.warnings.append('%s: %s' % (path, exc.msg))
            return
        winner = self.by_name.get(name)
        if winner is not None:
            reason = 'same-file' if winner.real == real and not winner.null else 'masked'
            self.result.masked.append(MaskedFile(path, name, winner.path, reason))
            return
        null = real == DEV_NULL
        if not null and real in self.by_real:
            self.result.masked.append(MaskedFile(path, name, self.by_real[real].path, 'same-file'))
            return
        entry = ConfigFile(path, host_path(self.root, path), name, null=null, real=real)
        self.by_name[name] = entry
        if not null:
            self.by_real[real] = entry

    def add_dir_or_file(self, path, suffix):
        """One configured path: a directory to scan, or a single file."""
        try:
            real = resolve_in_root(self.root, path)
        except KmodError as exc:
            self.result.warnings.append('%s: %s' % (path, exc.msg))
            return
        where = host_path(self.root, path)
        try:
            st = os.stat(host_path(self.root, real))
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                self.result.warnings.append('%s: %s' % (path, exc.strerror))
            return
        if not stat.S_ISDIR(st.st_mode):
            # A single file counts whatever its name (like modprobe -C FILE).
            self.add(path, os.path.basename(path.rstrip('/')))
            return
        if real in self.dirs_seen:
            self.result.same_dirs.append((path, self.dirs_seen[real]))
            return
        self.dirs_seen[real] = path
        try:
            names = sorted(os.listdir(where))
        except OSError as exc:
            self.result.warnings.append('%s: cannot read directory: %s' % (path, exc.strerror))
            return
        for name in names:
            if not _is_conf_name(name, suffix):
                continue
            child = path.rstrip('/') + '/' + name
            try:
                child_real = resolve_in_root(self.root, child)
                child_st = None if child_real == DEV_NULL else os.stat(host_path(self.root, child_real))
            except KmodError as exc:
                self.result.warnings.append('%s: %s' % (child, exc.msg))
                continue
            except OSError as exc:
                # A dangling symlink: skipped, and it masks nothing (kmod 31+).
                self.result.warnings.append('%s: cannot stat: %s' % (child, exc.strerror))
                continue
            if child_st is not None and stat.S_ISDIR(child_st.st_mode):
                self.result.warnings.append('%s: directories inside directories are not supported' % child)
                continue
            self.add(child, name)

    def finish(self):
        self.result.files = [self.by_name[n] for n in sorted(self.by_name)]
        return self.result


def list_config_files(paths, root='/', suffix=CONF_SUFFIX, first=()):
    """The files that count among paths (directories or files), in read order.

    paths: in precedence order, each a directory (its ``*suffix`` files are
    taken) or a single file (taken whatever its name, under its basename).
    first: paths of files inserted before everything else, each under its
    own basename, when it exists (modprobe puts the module dir's
    ``modules.softdep`` there).  Returns a ConfigFileList.
    """
    collector = _Collector(root)
    for path in first:
        if os.path.isfile(host_path(root, path)):
            collector.add(path, os.path.basename(path))
    for path in paths:
        collector.add_dir_or_file(path, suffix)
    return collector.finish()


def modprobe_files(root='/', paths=None, module_dir=None, weakdep=True):
    """modprobe.d files as modprobe reads them.

    paths: explicit files or directories replacing the default directories
    (modprobe -C); module_dir: the module directory inside root whose
    modules.softdep (and modules.weakdep when weakdep is True) join the list
    (a path already under root on this machine is accepted too).
    """
    first = []
    if module_dir:
        module_dir = inside_root(root, module_dir)
        first.append(module_dir.rstrip('/') + '/modules.softdep')
        if weakdep:
            first.append(module_dir.rstrip('/') + '/modules.weakdep')
    return list_config_files(MODPROBE_DIRS if paths is None else paths, root=root, first=first)


def depmod_files(root='/', paths=None):
    """depmod.d files as depmod reads them (paths: like depmod -C)."""
    return list_config_files(DEPMOD_DIRS if paths is None else paths, root=root)


def modules_load_files(root='/', paths=None):
    """modules-load.d files as systemd-modules-load reads them."""
    return list_config_files(MODULES_LOAD_DIRS if paths is None else paths, root=root)


def read_text(config_file):
    """The text of a ConfigFile ('' for a /dev/null mask).

    Bytes that are not UTF-8 survive as surrogate escapes, so a rendered
    line can be written back byte for byte.  Raises KmodError when unreadable.
    """
    if config_file.null:
        return ''
    try:
        with open(config_file.host_path, 'rb') as f:
            data = f.read()
    except (IOError, OSError) as exc:
        raise KmodError.from_os_error(exc, 'cannot read', path=config_file.path)
    return data.decode('utf-8', 'surrogateescape')
