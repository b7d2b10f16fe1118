# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run after a few changed module files can skip.

- ``ParseDelta``: the parse cache (parse.ParseCache, one file of every
  module's parse result, megabytes on a distribution's tree) is rewritten
  whole only when many entries changed.
  After a few files were added, removed or changed, only those entries go to
  a small file beside it (marshal, through cache_file: trusted only when
  ours, opened without following links), tied to the (size, mtime_ns, inode)
  of the cache file it amends.  The next run lays it over the loaded cache;
  its entries then meet the same checks as the cache's own
  (ParseCache.get: shape, valid_compact, the module file's stat key), so a
  delta can make no entry the cache file could not.  A delta that does not
  belong to the cache file on disk (the file was rewritten, or a run was
  killed between the two) is ignored: the entries it held are parsed again.
- ``text_change_counts``: the added/removed line counts of a text index
  (what change_summary reports) without a Counter over every line: lines
  common to the start and the end of both versions cancel out of a multiset
  difference, so only the middle is counted.
- ``parsed_count``: how many module files this run parsed (not from a cache).
- ``OutputReuse`` (render_outputs takes it): an index file is not
  built again when the entries it is built from are those of the run that
  wrote it and the file is as that run left it.  The state (state.py)
  keeps, beside each output's (size, mtime_ns, inode), a digest of the
  entries and .bin layout it was rendered from; a run whose entries have
  the same digest, finding the file with the same stat key, takes the
  file's bytes as the new ones (they are what rendering would give: the
  writers are functions of the entries and layout alone).  After one module
  without exports was added, modules.symbols and its trie (the largest
  after the alias trie) are not rendered; modules.builtin's two tries
  never are while their inputs stay.  Files are still compared and written
  as in a full run, so a hand-edited or removed output is rebuilt.
"""

import os
from array import array

from ansible_collections.kernel.kmod.plugins.module_utils.cache_file import load_marshal, save_marshal
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.state import stat_key

DELTA_FORMAT = 1
# The parse cache is rewritten whole when the delta would hold more entries
# than this (or more than a tenth of the cache).
DELTA_MAX_ENTRIES = 256


def delta_path(cache_path):
    """The delta file of a parse cache file."""
    return cache_path + '.delta'


def _valid_delta(data):
    """The shape save() writes: the base's stat key, {path: entry}, [path]."""
    base = data.get('base')
    entries = data.get('entries')
    removed = data.get('removed')
    return (isinstance(base, list) and len(base) == 3
            and all(isinstance(n, int) and not isinstance(n, bool) for n in base)
            and isinstance(entries, dict) and all(isinstance(p, str) and isinstance(e, list)
                                                  for p, e in entries.items())
            and isinstance(removed, list) and all(isinstance(p, str) for p in removed))


class ParseDelta(object):
    """The delta of one parse cache: laid over it after loading, written
    instead of it when a run changed few entries."""

    def __init__(self, cache):
        self.cache = cache
        self.path = delta_path(cache.path)
        self.warning = None
        self.applied = False
        # the entries as the cache file alone holds them (before the delta)
        self.base = dict(cache.entries)
        self.base_key = stat_key(cache.path) if cache.entries else None
        self._apply()
        # ... and with the delta laid over them: what this run may take
        self.loaded = dict(cache.entries) if self.applied else self.base

    def _apply(self):
        if self.base_key is None:
            return
        data, self.warning = load_marshal(self.path, 'parse cache delta')
        if not isinstance(data, dict) or data.get('format') != DELTA_FORMAT:
            return
        if not _valid_delta(data):
            self.warning = 'ignoring parse cache delta %s: it does not hold what a run saves' % self.path
            return
        if data['base'] != self.base_key:
            return  # written for another version of the cache file
        entries = self.cache.entries
        for path in data['removed']:
            entries.pop(path, None)
        entries.update(data['entries'])
        self.applied = True

    def parsed(self, total):
        """How many of `total` module files were parsed in this run rather
        than taken from the cache (or its delta)."""
        return parsed_count(self.cache, self.loaded, total)

    def changes(self):
        """(entries, removed) of this run against the cache file: {path: entry}
        used now and not as the file holds it, [path] the file holds and this
        run did not use."""
        used = self.cache.used
        base = self.base
        changed = dict((path, entry) for path, entry in used.items() if base.get(path) is not entry)
        removed = [path for path in base if path not in used]
        return changed, removed

    def save(self):
        """Write what this run changed: as a delta when it is small, else the
        whole cache (and no delta).  Returns a warning or None."""
        cache = self.cache
        changed, removed = self.changes()
        small = len(changed) + len(removed) <= min(DELTA_MAX_ENTRIES, max(16, len(cache.used) // 10))
        if self.base_key is not None and small and stat_key(cache.path) == self.base_key:
            if not changed and not removed and not self.applied:
                self.forget()
                return None
            return save_marshal(self.path, {'format': DELTA_FORMAT, 'base': self.base_key, 'entries': changed,
                                            'removed': removed}, 'parse cache delta')
        # the whole cache, then no delta (a run killed in between leaves a
        # delta whose base no longer matches: ignored)
        if changed or removed or cache.dirty:
            cache.dirty = True
        cache.save()
        self.forget()
        return cache.warning

    def forget(self):
        try:
            os.unlink(self.path)
        except OSError:
            pass


def parsed_count(cache, loaded, total):
    """How many of `total` module files were parsed in this run rather than
    taken from the cache (loaded: its entries before the run)."""
    if cache is None:
        return total
    taken = sum(1 for path, entry in cache.used.items() if loaded.get(path) is entry)
    return total - taken


def _common_prefix(a, b):
    """The length of the longest common prefix of two byte strings (slices
    compared in C, halving the step)."""
    low, high = 0, min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    while high - low > 1:
        mid = (low + high) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid
    return low if a[low:low + 1] != b[low:low + 1] else low + 1


def _common_suffix(a, b, limit):
    """The length of the longest common suffix, at most limit."""
    low, high = 0, min(len(a), len(b), limit)
    if high == 0 or a[len(a) - high:] == b[len(b) - high:]:
        return high
    while high - low > 1:
        mid = (low + high) // 2
        if a[len(a) - mid:] == b[len(b) - mid:]:
            low = mid
        else:
            high = mid
    return low


def text_change_counts(old, new):
    """(added, removed): the lines of new not in old and of old not in new,
    counted as multisets (what Counter(new) - Counter(old) sums to, lines as
    bytes.splitlines() cuts them)."""
    old_mid, new_mid = old, new
    if b'\r' not in old and b'\r' not in new:
        # every line ends at a newline: a common start and end cut at line
        # boundaries leave the multiset difference as it is
        prefix = old.rfind(b'\n', 0, _common_prefix(old, new)) + 1
        suffix = _common_suffix(old, new, min(len(old), len(new)) - prefix)
        if suffix:
            at_old, at_new = len(old) - suffix, len(new) - suffix
            if not ((at_old == 0 or old[at_old - 1] == 10) and (at_new == 0 or new[at_new - 1] == 10)):
                newline = old.find(b'\n', at_old)
                suffix = 0 if newline < 0 else len(old) - newline - 1
        old_mid = old[prefix:len(old) - suffix]
        new_mid = new[prefix:len(new) - suffix]
    from collections import Counter  # only when a file changed
    old_lines = Counter(old_mid.splitlines())
    new_lines = Counter(new_mid.splitlines())
    return sum((new_lines - old_lines).values()), sum((old_lines - new_lines).values())


# ---------------------------------------------------------------- outputs the last run already wrote

def _encode(text):
    # names were decoded with surrogateescape: give back the raw bytes
    return text.encode('utf-8', 'surrogateescape')


def entries_digest(layout, entries):
    """A hex digest of what an index file is rendered from: the .bin layout
    and the (key, value, priority) entries in the order they are built.

    Keys and values are joined by NUL, which none can hold (they come from
    NUL-terminated strings and file names), and encoded with surrogatepass,
    which gives distinct bytes for distinct strings; priorities are packed
    as 32-bit numbers.  Columns of a whole list at once: a few passes in C
    rather than a repr of every tuple.  hashlib's SHA-256 (OpenSSL's) is
    several times faster than the interpreter's own on the megabytes of a
    large index, and AnsibleModule has imported it already.
    """
    from hashlib import sha256
    digest = sha256(('%s\0%d\0' % (layout, len(entries))).encode())
    if entries:
        keys, values, priorities = zip(*entries)
        digest.update('\0'.join(keys).encode('utf-8', 'surrogatepass'))
        digest.update(b'\0\1')
        digest.update('\0'.join(values).encode('utf-8', 'surrogatepass'))
        digest.update(b'\0\1')
        digest.update(array('L', priorities).tobytes())
    return digest.hexdigest()


class OutputReuse(object):
    """Which index files of the last run this run would write again.

    state: the release's DepmodState (its outputs' stat keys and digests;
    None: nothing is reused); digests: this run's, {name: digest}, to be
    saved with the state once the files are written.
    """

    def __init__(self, state, module_dir, layout):
        self.module_dir = module_dir
        self.layout = layout
        self.old_digests = (state.digests if state is not None else None) or {}
        self.old_outputs = (state.outputs if state is not None else None) or {}
        self.digests = {}
        self.reused = []

    def may_reuse(self, name):
        """False when the file `name` cannot be taken whatever the entries
        (no digest of it, or it is not as the last run left it): its digest
        can wait."""
        kept = self.old_outputs.get(name)
        return (name in self.old_digests and kept is not None
                and stat_key(os.path.join(self.module_dir, name)) == kept)

    def bytes_of(self, name, entries=None, digest=None):
        """The bytes of the file `name` when they are what rendering from
        entries (or what `digest` says) would give, else None."""
        if digest is None:
            digest = entries_digest(self.layout, entries)
        self.digests[name] = digest
        if self.old_digests.get(name) != digest:
            return None
        path = os.path.join(self.module_dir, name)
        kept = self.old_outputs.get(name)
        if kept is None or stat_key(path) != kept:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0))
        except OSError:
            return None
        try:
            if [os.fstat(fd).st_size, os.fstat(fd).st_mtime_ns, os.fstat(fd).st_ino] != kept:
                return None  # replaced since it was judged
            from ansible_collections.kernel.kmod.plugins.module_utils.files import read_fd
            data = read_fd(fd)
        except OSError:
            return None
        finally:
            os.close(fd)
        self.reused.append(name)
        return data


def build_indexes(entries_by_name, layout):
    """{name: trie bytes} of each {name: entries} (the work a child does)."""
    from ansible_collections.kernel.kmod.plugins.module_utils.index.bulk import build_index_bytes
    return dict((name, build_index_bytes(entries, layout)) for name, entries in entries_by_name.items())


# ---------------------------------------------------------------- dependencies the last run worked out

GRAPH_FORMAT = 1


def graph_cache_path(state_path):
    """The graph cache beside a state file."""
    return state_path[:-len('.state')] + '.graph' if state_path.endswith('.state') else state_path + '.graph'


class GraphCache(object):
    """What the last rebuild worked out about dependencies: the owner of every
    symbol a module exports, and each module file's direct dependencies (by
    name, in the order first needed), keyed by its path and (size,
    mtime_ns, inode).

    A module's direct dependencies are the owners of the symbols it needs:
    when its file is the one the cache saw and every symbol has the owner
    the cache saw, they are the ones the cache holds.  So after a module
    without exports is added, only that module's symbols are looked up.
    Nothing read back is trusted further than that: entries are used only
    through lookups that fail on anything a run did not write (a name that
    is no module of this run, a malformed entry), and then the whole graph is
    worked out again.  key: the options the parse depends on (a cache of
    other options is not used).
    """

    def __init__(self, path, key):
        self.path = path
        self.key = key
        self.owners = None
        self.direct = None
        self.warning = None
        data, self.warning = load_marshal(path, 'depmod graph cache')
        if (isinstance(data, dict) and data.get('format') == GRAPH_FORMAT and data.get('key') == key
                and isinstance(data.get('owners'), dict) and isinstance(data.get('direct'), dict)):
            self.owners = data['owners']
            self.direct = data['direct']

    def save(self, records, direct, owners):
        """Keep this run's owners ({symbol: module name}) and direct
        dependencies (positions into records); a warning or None."""
        kept = {}
        for record, mine in zip(records, direct):
            if record.stat_key is not None:
                kept[record.path] = [list(record.stat_key), [records[j].name for j in mine]]
        return save_marshal(self.path, {'format': GRAPH_FORMAT, 'key': self.key, 'owners': owners, 'direct': kept},
                            'depmod graph cache')


def owner_names(owners):
    """{symbol: name of the module owning it} (the kernel's own symbols left out)."""
    return dict((symbol, owner.name) for symbol, owner in owners.items() if owner is not None)


def resolve_reusing(records, symbol_table, cache):
    """graph.resolve_dependencies(records, symbol_table=...) without kernel
    symbol checks, taking from the GraphCache what it still knows.

    Returns (GraphResult or None, direct, names): None when the modules form
    a cycle (the caller reports it through resolve_dependencies); direct:
    each record's direct dependencies (positions), names: owner_names, for
    the next run's cache.
    """
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.graph import (
        GraphResult, _direct_deps, _set_transitive_deps, _topological_order)
    owners, crcs = symbol_table
    names = owner_names(owners)
    position = dict((id(record), i) for i, record in enumerate(records))
    position_of_name = dict((record.name, i) for i, record in enumerate(records))
    known = None
    if cache is not None and cache.owners == names and len(position_of_name) == len(records):
        known = cache.direct
    owner_position = None
    direct = []
    for record in records:
        mine = None
        if known is not None and record.stat_key is not None:
            try:
                key, deps = known.get(record.path) or (None, ())
                if key == list(record.stat_key):
                    mine = [position_of_name[name] for name in deps]
            except (TypeError, ValueError, KeyError):
                # not what a run writes: every module's symbols are looked up again
                return resolve_reusing(records, symbol_table, None)
        if mine is None:
            if owner_position is None:
                owner_position = dict((symbol, position[id(owner)]) for symbol, owner in owners.items()
                                      if owner is not None)
            mine = _direct_deps(record, owner_position)
        direct.append(mine)
    users = [0] * len(records)
    for mine in direct:
        for j in mine:
            users[j] += 1
    topo = _topological_order(direct, users)
    if len(topo) < len(records):
        return None, direct, names
    result = GraphResult(records)
    result.owners = owners
    result.crcs = crcs
    sort_index = [0] * len(records)
    for k, i in enumerate(topo):
        sort_index[i] = k
    for i, record in enumerate(records):
        result.sort_index[id(record)] = sort_index[i]
    _set_transitive_deps(records, direct, topo, sort_index)
    return result, direct, names
