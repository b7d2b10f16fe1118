# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Knowing, cheaply, that depmod has nothing to do.

Two shortcuts:
- ``quick_up_to_date``: depmod -A's rule.  modules.dep exists and no module
  file under the module directory (walked as kmod does: 'build' and
  'source' skipped, symlinks followed, external directories not looked at)
  has a modification time, in whole seconds, later than modules.dep's;
- ``DepmodState``: a small file (Python marshal, see cache_file) per module
  directory in the cache directory.  It holds a digest of every input of the last full run (each
  module file's path and (size, mtime_ns, inode) in walk order, the
  depmod.d settings, modules.order / modules.builtin / modules.builtin.modinfo
  and the options that change the output) and the (size, mtime_ns, inode) of
  every output file as it was left, with a digest of the entries each
  index was rendered from (incremental.OutputReuse: a later run whose
  entries are the same takes the file as it is).  When both still match, the outputs are
  what a full run would write again.  A hand-edited or deleted output, a
  touched, new or removed module file, a changed setting: each changes one
  of them, and the caller falls back to the full run.  The file is safe to
  delete at any time.
"""

import marshal
import os
import stat
import sys

try:
    # the interpreter's own SHA-256: importing hashlib loads OpenSSL, a few
    # milliseconds of a run that has nothing to do (3.12 renamed the module)
    from _sha256 import sha256
except ImportError:
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

from ansible_collections.kernel.kmod.plugins.module_utils.cache_file import load_marshal, save_marshal
from ansible_collections.kernel.kmod.plugins.module_utils.config.depmod import ALWAYS_SKIPPED, external_path

STATE_FORMAT = 3
# Inputs depmod reads from the module directory besides the module files.
INPUT_FILES = ('modules.order', 'modules.builtin', 'modules.builtin.modinfo')


def stat_key(path):
    """[size, mtime_ns, inode] of path (symlinks followed), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


class _Dir(object):
    """A directory still to walk: its path, device and the (dev, inode)
    of it and every directory above it (a loop through symlinks ends there)."""

    __slots__ = ('path', 'dev', 'stack')

    def __init__(self, path, dev, stack):
        self.path = path
        self.dev = dev
        self.stack = stack


def _list_dir(directory, suffixes, skipped_names):
    """What one directory holds, in readdir order: (path, size, mtime_ns,
    inode) of each module file, a note for what could not be read, and a
    _Dir for each subdirectory.  A directory's identity comes from its
    directory entry (stat() only for symlinks)."""
    try:
        with os.scandir(directory.path) as iterator:
            entries = list(iterator)
    except OSError as exc:
        return [('!', directory.path, exc.errno)]
    out = []
    for entry in entries:
        name = entry.name
        if name in skipped_names:
            continue
        try:
            if entry.is_dir():
                if entry.is_symlink():
                    st = entry.stat()
                    ident = (st.st_dev, st.st_ino)
                else:
                    ident = (directory.dev, entry.inode())
                if ident not in directory.stack:
                    out.append(_Dir(entry.path, ident[0], directory.stack + [ident]))
                continue
            if not name.endswith(suffixes):
                continue
            st = entry.stat()
        except OSError as exc:
            out.append(('!', entry.path, exc.errno))
            continue
        out.append((entry.path, st.st_size, st.st_mtime_ns, st.st_ino))
    return out


def _walk(items, suffixes, skipped_names, out):
    """Append the files of items (what _list_dir gives) to out, depth first."""
    for item in items:
        if isinstance(item, _Dir):
            _walk(_list_dir(item, suffixes, skipped_names), suffixes, skipped_names, out)
        else:
            out.append(item)


class _WalkOne(object):
    """The files below one directory: the work shared_map shares."""

    def __init__(self, suffixes, skipped_names):
        self.suffixes = suffixes
        self.skipped_names = skipped_names

    def __call__(self, directory):
        found = []
        _walk([directory], self.suffixes, self.skipped_names, found)
        return found


# Directories opened breadth-first before the rest is shared with a child
# process: enough pieces for the two to finish together.
_SHARED_PIECES = 24
_MAX_OPENED_LEVELS = 3


def _module_files(top, ident, suffixes, skipped_names, parallel):
    """Every module file below top, in the order a depth-first walk finds
    them.  ident: (device, inode) of top.  parallel: share the walk with a
    forked child (a tree of thousands of files is walked in about half the
    time; the result is the same)."""
    items = [_Dir(top, ident[0], [ident])]
    if parallel:
        for _level in range(_MAX_OPENED_LEVELS):
            if sum(1 for item in items if isinstance(item, _Dir)) >= _SHARED_PIECES:
                break
            opened = []
            for item in items:
                opened.extend(_list_dir(item, suffixes, skipped_names) if isinstance(item, _Dir) else [item])
            items = opened
    pieces = [item for item in items if isinstance(item, _Dir)]
    if not parallel or len(pieces) < _SHARED_PIECES:
        found = []
        _walk(items, suffixes, skipped_names, found)
        return found
    from ansible_collections.kernel.kmod.plugins.module_utils.forked import shared_map
    listings = iter(shared_map(_WalkOne(suffixes, skipped_names), pieces))
    found = []
    for item in items:
        if isinstance(item, _Dir):
            found.extend(next(listings))
        else:
            found.append(item)
    return found


def _config_settings(config):
    """What of a DepmodConfig changes depmod's output, as plain data."""
    return {
        'search': [[s.kind, s.path] for s in config.search_order],
        'override': [[o.module, o.kver, o.subdir] for o in config.overrides],
        'external': [[e.kver, e.dir] for e in config.externals],
        'exclude': list(config.excludes),
    }


def input_fingerprint(module_dir, config, options, parallel=True, file_stats=None):
    """A hex digest of every input of a depmod run on module_dir.

    config: the DepmodConfig used; options: plain data (JSON-serialisable)
    of everything else that changes the output; parallel: let a child
    process walk part of a large tree; file_stats: a dict filled with
    {path: (size, mtime_ns, inode)} of each module file seen, so that a
    rebuild that follows need not stat them again.
    """
    # OpenSSL's SHA-256 when something (AnsibleModule does) has imported
    # hashlib already: five times faster on the half megabyte of a large tree
    hashlib = sys.modules.get('hashlib')
    digest = hashlib.sha256() if hashlib is not None else sha256()
    head = {'module_dir': module_dir, 'config': _config_settings(config), 'options': options,
            'inputs': dict((name, stat_key(os.path.join(module_dir, name))) for name in INPUT_FILES)}
    # repr, not json: the same every time (dicts keep the order they are built in), and no import
    digest.update(repr(head).encode('utf-8', 'surrogateescape'))
    suffixes = tuple(options.get('suffixes') or ())
    skipped_names = frozenset(ALWAYS_SKIPPED) | frozenset(config.excludes)
    tops = [module_dir] + [external_path(config, e.dir) for e in reversed(config.externals)]
    for top in tops:
        digest.update(('@%s\n' % top).encode('utf-8', 'surrogateescape'))
        try:
            st = os.stat(top)
        except OSError as exc:
            digest.update(('!%s\n' % exc.errno).encode())
            continue
        found = _module_files(top, (st.st_dev, st.st_ino), suffixes, skipped_names, parallel)
        if file_stats is not None:
            file_stats.update((item[0], item[1:]) for item in found if item[0] != '!')
        # the whole list in marshal's version 2, which has no back-references,
        # so equal lists give equal bytes (a fifth of repr()'s time)
        digest.update(marshal.dumps(found, 2))
    return digest.hexdigest()


def outputs_stat(module_dir, names):
    """{name: [size, mtime_ns, inode] or None} of the output files."""
    return dict((name, stat_key(os.path.join(module_dir, name))) for name in names)


# ---------------------------------------------------------------- depmod -A

def _newer_module(directory, mtime, suffixes):
    try:
        with os.scandir(directory) as iterator:
            entries = list(iterator)
    except OSError:
        return None  # kmod reports the error and goes on
    for entry in entries:
        if entry.name in ALWAYS_SKIPPED:
            continue
        try:
            st = entry.stat()
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            found = _newer_module(entry.path, mtime, suffixes)
            if found:
                return found
        elif stat.S_ISREG(st.st_mode) and entry.name.endswith(suffixes) and int(st.st_mtime) > mtime:
            return entry.path
    return None


def quick_up_to_date(module_dir, suffixes):
    """(True, None) when depmod -A would do nothing; else (False, why)."""
    try:
        dep_mtime = int(os.stat(os.path.join(module_dir, 'modules.dep')).st_mtime)
    except OSError as exc:
        return False, 'modules.dep: %s' % (exc.strerror or exc)
    newer = _newer_module(module_dir, dep_mtime, tuple(suffixes))
    if newer is not None:
        return False, '%s is newer than modules.dep' % newer
    return True, None


# ---------------------------------------------------------------- the state file

def state_file_name(module_dir, release):
    """'<release>-<hash of the module dir>': one state per module directory."""
    ident = sha256(os.path.abspath(module_dir).encode('utf-8', 'surrogateescape')).hexdigest()[:16]
    safe = ''.join(c if c.isalnum() or c in '._-+' else '_' for c in release) or 'release'
    return '%s-%s' % (safe, ident)


class DepmodState(object):
    """The state file of one module directory: load, compare, save.

    fingerprint: the input digest of the run that wrote it; outputs: {name:
    stat} of the outputs as left; report: what that run reported (module
    count, unresolved symbols, skipped files, warnings), given back when the
    outputs are current; digests: {name: hex digest} of what each index
    was rendered from (incremental.entries_digest), for the outputs that
    have one.
    """

    def __init__(self, path):
        self.path = path
        self.fingerprint = None
        self.outputs = None
        self.report = None
        self.digests = None
        self.warning = None
        self._load()

    def _load(self):
        data, self.warning = load_marshal(self.path, 'depmod state')
        if not isinstance(data, dict) or data.get('format') != STATE_FORMAT:
            return
        if _valid_state(data):
            self.fingerprint = data['fingerprint']
            self.outputs = data['outputs']
            self.report = data['report']
            self.digests = data['digests']
        else:
            self.warning = 'ignoring depmod state %s: it does not hold what a run saves' % self.path

    def matches(self, fingerprint, module_dir):
        """True when the inputs are those of the saved run and every output
        file is still exactly as that run left it."""
        if self.fingerprint is None or self.fingerprint != fingerprint:
            return False
        return outputs_stat(module_dir, sorted(self.outputs)) == self.outputs

    def save(self, fingerprint, outputs, report, digests=None):
        """Write the state atomically; False (with .warning) when it cannot."""
        digests = dict((name, digest) for name, digest in (digests or {}).items() if name in outputs)
        data = {'format': STATE_FORMAT, 'fingerprint': fingerprint, 'outputs': outputs, 'report': report,
                'digests': digests}
        warning = save_marshal(self.path, data, 'depmod state')
        if warning is not None:
            self.warning = warning
            return False
        self.fingerprint, self.outputs, self.report, self.digests = fingerprint, outputs, report, digests
        return True

    def forget(self):
        """Remove the state file (the outputs are about to change)."""
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _plain(value):
    """Only what a report holds: numbers, text, and lists and str-keyed dicts of them."""
    if isinstance(value, (str, int, float)) or value is None:
        return not isinstance(value, str) or '\0' not in value
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


_HEX = frozenset('0123456789abcdef')


def _valid_digests(digests, outputs):
    """{output name: 64 hex digits}, of outputs the state lists."""
    return isinstance(digests, dict) and all(
        name in outputs and isinstance(digest, str) and len(digest) == 64 and set(digest) <= _HEX
        for name, digest in digests.items())


def _valid_state(data):
    """The shapes save() writes: a text fingerprint, {output name: stat key
    or None}, a report of plain data and {output name: digest}."""
    outputs = data.get('outputs')
    return (isinstance(data.get('fingerprint'), str) and isinstance(outputs, dict)
            and _valid_digests(data.get('digests'), outputs)
            and all(isinstance(name, str) and '/' not in name
                    and (key is None or (isinstance(key, list) and len(key) == 3
                                         and all(isinstance(n, int) and not isinstance(n, bool) for n in key)))
                    for name, key in outputs.items())
            and isinstance(data.get('report'), dict) and _plain(data['report']))
