# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod's parse stage: what each module file says, read once.

Fills modinfo, exports, needs and versions of ModuleRecords.  Of
uncompressed files only the few sections depmod needs are read; compressed
ones are decompressed in memory.  Work is spread over worker
processes when there is enough of it, and results of unchanged files can
come from a ParseCache.  A file that cannot be read or parsed is reported by
path and skipped, as kmod's depmod does.
"""

import errno
import os

from ansible_collections.kernel.kmod.plugins.module_utils.cache_file import load_marshal, save_marshal
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.fast_elf import depmod_facts, depmod_facts_fd
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_hash import superfast_hashes
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.model import valid_compact
from ansible_collections.kernel.kmod.plugins.module_utils.errors import FormatError, KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.forked import ForkedCall, shared_map

# Below this many files the cost of starting workers outweighs their help.
PARALLEL_MIN_FILES = 256
# Files per piece of work when two processes share the parse as they go.
PARALLEL_CHUNK = 48
ELF_MAGIC = b'\x7fELF'
CACHE_FORMAT = 4
# The parse cache's file name after the state's (CACHE_FORMAT 3 was JSON, '.parse.json').
CACHE_SUFFIX = '.parse'


def parse_file(path, want_versions=True, zstd_needs_size=False):
    """The compact parse result of one module file (see model.expand()).

    zstd_needs_size: refuse a zstd file whose frame header does not declare
    its size, as kmod 34 does.  Raises KmodError/FormatError naming the path.
    """
    return with_export_hashes(_read_facts(path, want_versions, zstd_needs_size))


def _read_facts(path, want_versions, zstd_needs_size=False, zstd_later=None):
    """The facts of one file, or None when it is zstd data and zstd_later,
    a list, took (path, data) to be decompressed with others."""
    try:
        # os.open and pread, no file object: a few microseconds per file add up over thousands
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
    except OSError as exc:
        raise KmodError.from_os_error(exc, 'cannot read module file', path=path)
    try:
        size = os.fstat(fd).st_size
        head = os.read(fd, 6)
        if head[:4] == ELF_MAGIC:
            # only the parts depmod needs are read
            result = depmod_facts_fd(fd, size, path, want_versions)
        else:
            # the decompressors are imported only for files that need them
            from ansible_collections.kernel.kmod.plugins.module_utils.image.compression import (
                ZSTD, decompress, detect_compression, zstd_content_size)
            compression = detect_compression(head)
            data = head + _read_rest(fd, size)
            if zstd_needs_size and compression == ZSTD and zstd_content_size(data) is None:
                raise FormatError('%s: zstd: Failed to determine decompression size' % path, path=path)
            if compression == ZSTD and zstd_later is not None:
                zstd_later.append((path, data))
                return None
            if compression is not None:
                data = decompress(data, compression, path)
            result = depmod_facts(data, path, compression, want_versions)
    except OSError as exc:
        raise KmodError.from_os_error(exc, 'cannot read module file', path=path)
    finally:
        os.close(fd)
    return result


def with_export_hashes(result):
    """The compact result with kmod's hash of each export name added."""
    return _with_export_hashes([result])[0]


def _with_export_hashes(results):
    """The compact results with kmod's hash of each export name added.

    modules.symbols lists symbols in the order of depmod's hash table; the
    hashes are worked out in the parse workers, rather than after the graph,
    where the main process is busiest, and for all the files of a worker at
    once (superfast_hashes is fastest on many names).
    """
    texts = [result[1] for result in results if result[1]]
    hashes = superfast_hashes('\n'.join(texts).encode('utf-8', 'surrogateescape').split(b'\n')) if texts else []
    out = []
    at = 0
    for result in results:
        count = result[1].count('\n') + 1 if result[1] else 0
        out.append(tuple(result[:8]) + (hashes[at:at + count],))
        at += count
    return out


def _read_rest(fd, size):
    """Everything left to read from fd (size: the file's size, a hint)."""
    chunks = []
    while True:
        chunk = os.read(fd, max(size, 1 << 16))
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


# Compressed bytes of zstd files held before they are decompressed together
# (about a batch of decompress_zstd_many's output at zstd's usual ratio).
_ZSTD_HELD = 4 << 20


def _parse_many(job):
    """Worker: parse a list of (index, path); errors come back as text."""
    items, want_versions, zstd_needs_size = job
    out = []
    parsed = []
    later, later_index, held = [], [], 0
    for index, path in items:
        try:
            facts = _read_facts(path, want_versions, zstd_needs_size, later)
        except KmodError as exc:
            out.append((index, None, str(exc)))
            continue
        if facts is not None:
            parsed.append((index, facts))
            continue
        later_index.append(index)
        held += len(later[-1][1])
        if held >= _ZSTD_HELD:
            _parse_zstd(later_index, later, want_versions, parsed, out)
            later, later_index, held = [], [], 0
    if later:
        _parse_zstd(later_index, later, want_versions, parsed, out)
    results = _with_export_hashes([result for _index, result in parsed])
    out.extend((index, result, None) for (index, _r), result in zip(parsed, results))
    return out


def _parse_zstd(indexes, files, want_versions, parsed, out):
    """Decompress the (path, data) of zstd files together (one zstd process
    for many where the program does it) and parse each."""
    from ansible_collections.kernel.kmod.plugins.module_utils.image.compression import ZSTD, decompress_zstd_many
    for index, (path, _data), data in zip(indexes, files, decompress_zstd_many(files)):
        try:
            if isinstance(data, KmodError):
                raise data
            parsed.append((index, depmod_facts(data, path, ZSTD, want_versions)))
        except KmodError as exc:
            out.append((index, None, str(exc)))


class _ParseChunk(object):
    """_parse_many of one chunk of files: the work shared_map shares."""

    def __init__(self, want_versions, zstd_needs_size):
        self.want_versions = want_versions
        self.zstd_needs_size = zstd_needs_size

    def __call__(self, items):
        return _parse_many((items, self.want_versions, self.zstd_needs_size))


def default_workers():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_records(records, workers=None, cache=None, want_versions=True, zstd_needs_size=False):
    """Fill the parse fields of each record; return (good records, problems).

    problems: 'PATH: reason' for each file skipped.  workers: processes to
    use (None: one per CPU; 1: this process only).  cache: a ParseCache or
    None.  want_versions: False leaves record.versions empty (the names
    the graph needs from __versions are kept all the same).
    zstd_needs_size: kmod 34's refusal of zstd files that do not declare
    their size (a cached result of a run without it is not reused).
    """
    todo = []
    for index, record in enumerate(records):
        hit = cache.get(record, want_versions, zstd_needs_size) if cache is not None else None
        if hit is not None:
            record.set_parsed(hit)
        else:
            todo.append((index, record.path))
    workers = default_workers() if workers is None else max(1, workers)
    if workers == 2 and len(todo) >= PARALLEL_MIN_FILES:
        # one child, sharing chunks of files with this process as they go
        chunks = [todo[k:k + PARALLEL_CHUNK] for k in range(0, len(todo), PARALLEL_CHUNK)]
        results = [r for done in shared_map(_ParseChunk(want_versions, zstd_needs_size), chunks) for r in done]
    elif workers > 1 and len(todo) >= PARALLEL_MIN_FILES:
        # forked children take every n-th file (neighbours in module order
        # are alike in size), this process the rest; results come back compact
        shares = [todo[k::workers] for k in range(workers)]
        children = [ForkedCall(_parse_many, (share, want_versions, zstd_needs_size)) for share in shares[1:]]
        results = _parse_many((shares[0], want_versions, zstd_needs_size))
        for child in children:
            results.extend(child.result())
    else:
        results = _parse_many((todo, want_versions, zstd_needs_size))
    problems = []
    bad = set()
    for index, parsed, error in sorted(results, key=lambda r: r[0]):
        record = records[index]
        if error is not None:
            problems.append(error)
            bad.add(index)
            continue
        record.set_parsed(parsed)
        if cache is not None:
            cache.put(record, parsed, want_versions, zstd_needs_size)
    good = [r for i, r in enumerate(records) if i not in bad]
    return good, problems


class ParseCache(object):
    """Parse results of module files keyed by path and (size, mtime, inode).

    One file, plain data in marshal's form (cache_file.py: read only when
    trusted, like the state; on Debian's tree 7 MB written in about 3 ms
    where JSON took 24, read in 5 where JSON took 22); safe to delete at any
    time (it is rebuilt on the next run).  Whatever is read back is checked
    again entry by entry (get: shape, valid_compact, the file's stat key).
    Entries of files not seen in a run are dropped when it is saved.
    """

    def __init__(self, path):
        self.path = path
        self.entries = {}
        self.used = {}
        self.dirty = False
        self.warning = None
        self._load()

    @classmethod
    def in_dir(cls, cache_dir, name):
        """The parse cache of a release in cache_dir (name: the state's file name)."""
        return cls(os.path.join(cache_dir, name + CACHE_SUFFIX))

    def _load(self):
        data, self.warning = load_marshal(self.path, 'parse cache', absent=(errno.ENOENT,))
        if isinstance(data, dict) and data.get('format') == CACHE_FORMAT and isinstance(data.get('entries'), dict):
            self.entries = data['entries']

    def get(self, record, want_versions=True, zstd_needs_size=False):
        entry = self.entries.get(record.path)
        if not entry or record.stat_key is None:
            return None
        if not (isinstance(entry, list) and len(entry) in (3, 4) and valid_compact(entry[1])):
            # an entry no parse could have made: the file is parsed again
            del self.entries[record.path]
            return None
        if list(record.stat_key) != entry[0]:
            return None
        if want_versions and not entry[2]:
            return None
        if zstd_needs_size and not (len(entry) > 3 and entry[3]):
            return None  # parsed without kmod 34's zstd check
        self.used[record.path] = entry
        return entry[1]

    def put(self, record, result, want_versions=True, zstd_needs_size=False):
        """Remember the compact parse result of a record's file."""
        if record.stat_key is None:
            return
        self.used[record.path] = [list(record.stat_key), list(result), bool(want_versions), bool(zstd_needs_size)]
        self.dirty = True

    def save(self):
        """Write the entries used in this run, if anything changed."""
        if not self.dirty and len(self.used) == len(self.entries):
            return False
        self.warning = save_marshal(self.path, {'format': CACHE_FORMAT, 'entries': self.used}, 'parse cache')
        if self.warning is None and self.path.endswith(CACHE_SUFFIX):
            try:
                os.unlink(self.path + '.json')  # what CACHE_FORMAT 3 left (unlink does not follow a link)
            except OSError:
                pass
        return self.warning is None
