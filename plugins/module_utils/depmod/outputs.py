# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod's output stage: the exact bytes of every index file it writes.

``render_outputs(graph, module_dir)`` takes the graph stage's result (its
records carry modinfo and deps) and returns ``(files, warnings)``: files is
{file name: bytes} in the order depmod writes them, so the caller can
compare each with what is on disk and write only what differs.

What each file holds, as kmod 30 writes it:
- modules.dep: 'PATH:' plus ' DEP' for every transitive dependency, one
  line per module in module order;
- modules.alias / modules.softdep (/ modules.weakdep, kmod 33+): a header
  line, then every alias / softdep / weakdep record of every module, in
  module order and file order, values as the module says them;
- modules.symbols: a header, then 'alias symbol:SYM OWNER' in the iteration
  order of depmod's symbol hash table (see kmod_hash.py);
- modules.devname: 'NAME DEVNAME cMAJ:MIN' for modules with a devname:
  alias and a char-major-/block-major- alias; the header only when there is
  a line (so an empty file otherwise);
- modules.dep.bin / alias.bin / symbols.bin: the same entries as tries, the
  priority of an entry being its module's position in module order; aliases
  normalised ('-' -> '_' outside brackets), dropped with a warning when a
  bracket is unmatched;
- modules.builtin.bin: module names of modules.builtin, priority 0;
- modules.builtin.alias.bin: the alias records of modules.builtin.modinfo.
  A missing modules.builtin(.modinfo) gives a warning and a 0-byte file.
"""

import os
import re

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_hash import (
    DEPMOD_SYMBOL_BUCKETS, bucket_count, hash_iteration_order)
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.index.bulk import build_index_bytes
from ansible_collections.kernel.kmod.plugins.module_utils.names import alias_key

ALIAS_HEADER = '# Aliases extracted from modules themselves.\n'
SOFTDEP_HEADER = '# Soft dependencies extracted from modules themselves.\n'
WEAKDEP_HEADER = '# Weak dependencies extracted from modules themselves.\n'
SYMBOLS_HEADER = '# Aliases for symbols, used by symbol_request().\n'
DEVNAME_HEADER = '# Device nodes to trigger on-demand module loading.\n'

# kmod reads lines and fields into PATH_MAX buffers
_PATH_MAX = 4096

# Read modules.builtin(.modinfo) from module_dir (the default)
FROM_MODULE_DIR = object()


def output_names(weakdep=False):
    """The files depmod writes, in its order (modules.weakdep with kmod 33+)."""
    names = ['modules.dep', 'modules.dep.bin', 'modules.alias', 'modules.alias.bin', 'modules.softdep']
    if weakdep:
        names.append('modules.weakdep')
    names += ['modules.symbols', 'modules.symbols.bin', 'modules.builtin.bin',
              'modules.builtin.alias.bin', 'modules.devname']
    return names


def _encode(text):
    # names come from elf.py decoded with surrogateescape: give back the raw bytes
    return text.encode('utf-8', 'surrogateescape')


def _index_bytes(entries, layout):
    return build_index_bytes(entries, layout)


def render_dep(records):
    """(modules.dep text, [(name, line, priority)]) from records with .deps."""
    lines = []
    entries = []
    for i, record in enumerate(records):
        if record.deps is None:
            raise KmodError('%s: dependencies not resolved (a dependency cycle?): nothing to render'
                            % record.dep_path, module=record.name)
        line = record.dep_path + ':'
        if record.deps:
            line += ' ' + ' '.join(d.dep_path for d in record.deps)
        lines.append(line)
        entries.append((record.name, line, i))
    text = '\n'.join(lines) + '\n' if lines else ''
    return text, entries


def render_modinfo_lines(records, key, header):
    """modules.softdep / modules.weakdep text: 'KEY NAME VALUE' per record."""
    out = [header]
    for record in records:
        for value in record.modinfo_values(key):
            out.append('%s %s %s\n' % (key, record.name, value))
    return ''.join(out)


def render_aliases(records, warnings):
    """(modules.alias text, alias.bin entries); bad brackets warned about."""
    out = [ALIAS_HEADER]
    entries = []
    for i, record in enumerate(records):
        name = record.name
        for value in record.modinfo_values('alias'):
            out.append('alias %s %s\n' % (value, name))
            if '[' in value or ']' in value:
                key = alias_key(value)
            else:
                key = value.replace('-', '_')
            if key is None:
                warnings.append('Unmatched bracket in %s' % value)
                continue
            entries.append((key, name, i))
    return ''.join(out), entries


def render_symbols(records, owners):
    """(modules.symbols text, symbols.bin entries) from the symbol table."""
    position = {}
    for i, record in enumerate(records):
        position[id(record)] = i
    out = [SYMBOLS_HEADER]
    entries = []
    for symbol in _symbol_order(records, owners):
        owner = owners[symbol]
        if owner is None:
            continue
        out.append('alias symbol:%s %s\n' % (symbol, owner.name))
        entries.append(('symbol:' + symbol, owner.name, position[id(owner)]))
    return ''.join(out), entries


def _symbol_order(records, owners):
    """The symbols in the order of depmod's symbol hash table.

    With the hashes the parse workers worked out for every export, only the
    sort is left to do here (hash_iteration_order's order, for the symbols
    modules own; the kernel's own are not written).
    """
    hashes = {}
    for record in records:
        got = record.export_hashes()
        if got is None:
            return hash_iteration_order(owners, DEPMOD_SYMBOL_BUCKETS)
        hashes.update(zip(record.export_lists()[0], got))
    mask = bucket_count(DEPMOD_SYMBOL_BUCKETS) - 1
    try:
        decorated = [(hashes[symbol] & mask, symbol.encode('utf-8', 'surrogateescape'), symbol)
                     for symbol, owner in owners.items() if owner is not None]
    except KeyError:
        # an owner's name that is not an export name as parsed (depmod -P prefixes)
        return hash_iteration_order(owners, DEPMOD_SYMBOL_BUCKETS)
    decorated.sort()
    return [symbol for _bucket, _raw, symbol in decorated]


_C_UNSIGNED = re.compile(r'[ \t\n\v\f\r]*([+-]?)([0-9]+)')


def _scan_unsigned(text, at):
    """sscanf's %u at text[at:]: (value, end) or None."""
    m = _C_UNSIGNED.match(text, at)
    if m is None:
        return None
    value = int(m.group(2))
    if value > 0xFFFFFFFFFFFFFFFF:
        value = 0xFFFFFFFFFFFFFFFF
    if m.group(1) == '-':
        value = -value
    return value & 0xFFFFFFFF, m.end()


def _major_minor(value, prefix):
    """(major, minor) when value matches sscanf(value, PREFIX%u-%u) == 2."""
    if not value.startswith(prefix):
        return None
    first = _scan_unsigned(value, len(prefix))
    if first is None or not value.startswith('-', first[1]):
        return None
    second = _scan_unsigned(value, first[1] + 1)
    if second is None:
        return None
    return first[0], second[0]


def render_devname(records, warnings):
    """modules.devname text (empty when no module names a device)."""
    out = []
    for record in records:
        if not record.modinfo_values('alias', 'devname:'):
            continue  # most modules: one search, no walk over their aliases
        devname = None
        kind = None
        numbers = (0, 0)
        for value in record.modinfo_values('alias'):
            if value.startswith('devname:'):
                devname = value[len('devname:'):]
            else:
                got = _major_minor(value, 'char-major-')
                if got is not None:
                    kind, numbers = 'c', got
                else:
                    got = _major_minor(value, 'block-major-')
                    if got is not None:
                        kind, numbers = 'b', got
            if kind is not None and devname is not None:
                break
        if devname is None:
            continue
        if kind is None:
            warnings.append("Module '%s' has devname (%s) but lacks major and minor information. Ignoring."
                            % (record.name, devname))
            continue
        if not out:
            out.append(DEVNAME_HEADER)
        out.append('%s %s %s%u:%u\n' % (record.name, devname, kind, numbers[0], numbers[1]))
    return ''.join(out)


def _fgets_lines(data):
    """The lines fgets() with a PATH_MAX buffer returns, as C strings (bytes)."""
    out = []
    pos = 0
    end = len(data)
    while pos < end:
        newline = data.find(b'\n', pos)
        stop = end if newline < 0 else newline + 1
        stop = min(stop, pos + _PATH_MAX - 1)
        out.append(data[pos:stop].split(b'\0', 1)[0])
        pos = stop
    return out


def builtin_entries(data, warnings):
    """modules.builtin.bin entries from the bytes of modules.builtin.

    A line must start with an ASCII letter; the key is the basename up to its
    first '.', '-' made '_' (a line without '.' keeps its newline, as kmod's
    does).
    """
    entries = []
    name = None
    for line in _fgets_lines(data):
        if not line[:1].isalpha():
            warnings.append('Invalid modules.builtin line: %s' % line.decode('utf-8', 'surrogateescape').rstrip('\n'))
            continue
        base = line.rsplit(b'/', 1)[-1]
        if base:
            name = base.split(b'.', 1)[0].replace(b'-', b'_').decode('utf-8', 'surrogateescape')
        if name is not None:
            entries.append((name, '', 0))
    return entries


class _Stream(object):
    """Just enough of a FILE for kmod's modules.builtin.modinfo reader."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def at_end(self):
        return self.pos >= len(self.data)

    def read_to(self, endchar, warnings, limit=_PATH_MAX):
        """kmod's flush_stream_to: (bytes, ok) reading through endchar.

        Stops at endchar, NUL or end of data; only a stop at endchar counts
        (ok).  A field of `limit` bytes or more is cut, as kmod cuts it.
        """
        data = self.data
        start = self.pos
        stops = [len(data)]
        for ch in (endchar, b'\0'):
            at = data.find(ch, start)
            if at >= 0:
                stops.append(at)
        stop = min(stops)
        if stop - start >= limit:
            field = data[start:start + limit]
            warnings.append('Could not flush stream: %d. Partial content: %s'
                            % (28, field.decode('utf-8', 'surrogateescape')))
            self.pos = start + limit + 1
            consumed = data[start + limit:start + limit + 1]
            return field[:limit - 1], consumed == endchar
        self.pos = stop + 1
        return data[start:stop], stop < len(data) and data[stop:stop + 1] == endchar


def builtin_alias_entries(data, warnings):
    """modules.builtin.alias.bin entries from modules.builtin.modinfo bytes.

    Records are 'module.key=value' ended by NUL; only key 'alias' counts.
    Read the way kmod reads them, quirks included: a record with no '=' makes
    the reader skip the record after it too.
    """
    stream = _Stream(data)
    entries = []
    while not stream.at_end():
        module, ok = stream.read_to(b'.', warnings)
        if not ok or not module:
            continue
        key, ok = stream.read_to(b'=', warnings)
        if not ok or key != b'alias':
            stream.read_to(b'\0', warnings, limit=len(data) + 1)
            continue
        value, ok = stream.read_to(b'\0', warnings)
        if not ok or not value:
            continue
        text = value.decode('utf-8', 'surrogateescape')
        alias = alias_key(text)
        if alias is None:
            warnings.append('Unmatched bracket in %s' % text)
            continue
        entries.append((alias, module.decode('utf-8', 'surrogateescape'), 0))
    return entries


# The two largest tries, which need no dependency graph (large_index_bytes).
LARGE_FILES = ('modules.alias.bin', 'modules.symbols.bin')


def large_index_bytes(alias_entries, symbol_entries, layout='post'):
    """{name: bytes} of LARGE_FILES from their entries (render_aliases' and
    symbol_entries_unordered's, with the records in module order and the
    symbol owners): all a process building them while the graph is resolved
    needs (render_outputs takes the result as `prebuilt`).  The same bytes as
    render_outputs builds itself."""
    return {'modules.alias.bin': _index_bytes(alias_entries, layout),
            'modules.symbols.bin': _index_bytes(symbol_entries, layout)}


def symbol_entries_unordered(records, owners):
    """The entries of modules.symbols.bin in no particular order (one key
    per symbol: the trie does not depend on their order)."""
    position = {}
    for i, record in enumerate(records):
        position[id(record)] = i
    return [('symbol:' + symbol, owner.name, position[id(owner)])
            for symbol, owner in owners.items() if owner is not None]


def _read_optional(module_dir, name, warnings):
    """The bytes of module_dir/name, or None with depmod's warning."""
    path = os.path.join(module_dir, name)
    try:
        with open(path, 'rb') as f:
            return f.read()
    except (OSError, IOError) as exc:
        warnings.append('could not open %s at %s: %s' % (name, module_dir, exc.strerror or exc))
        return None


def render_outputs(graph, module_dir=None, builtin=FROM_MODULE_DIR, builtin_modinfo=FROM_MODULE_DIR,
                   layout='post', weakdep=False, prebuilt=None, entries=None, aliases=None, reuse=None,
                   symbol_digest=None):
    """Every file depmod writes, as bytes: ({name: bytes}, [warning, ...]).

    graph: a GraphResult without cycles (graph.resolve_dependencies).
    builtin / builtin_modinfo: the bytes of modules.builtin and
    modules.builtin.modinfo, None when missing, or read from module_dir
    (default).  layout: 'post' (kmod up to 33, the host's kmod 30) or 'pre'
    (kmod 34) node order of the .bin files.  weakdep: also write
    modules.weakdep (kmod 33 and later do; kmod 30 does not).  prebuilt:
    {name: bytes} of LARGE_FILES already built for the same records, owners
    and layout (large_index_bytes), used instead of rendering them, or a
    function returning them, called once everything else is rendered (so a
    process building them meanwhile is waited for last).  entries:
    a dict to fill with {name: [(key, value, priority), ...]} of every .bin
    file built from entries (what the trie holds, cheaper than reading it
    back).  aliases: (text, entries, warnings) of render_aliases over the
    same records in module order, when already rendered.  reuse: an
    incremental.OutputReuse; an index whose entries are the last run's and
    whose file is as that run left it is taken from disk instead of built
    (with prebuilt given, modules.symbols too when symbol_digest, the digest
    of the entries both it and its trie come from, says so).
    """
    if graph.cycles:
        raise KmodError('dependency cycle: %s; nothing is written'
                        % '; '.join(' -> '.join(c) for c in graph.cycles))
    records = graph.records
    warnings = []
    if builtin is FROM_MODULE_DIR or builtin_modinfo is FROM_MODULE_DIR:
        if module_dir is None:
            raise KmodError('render_outputs needs module_dir to read modules.builtin and modules.builtin.modinfo')
    files = {}

    def index(name, made):
        got = reuse.bytes_of(name, made) if reuse is not None else None
        return got if got is not None else _index_bytes(made, layout)

    dep_text, dep_entries = render_dep(records)
    files['modules.dep'] = _encode(dep_text)
    files['modules.dep.bin'] = index('modules.dep.bin', dep_entries)
    kept = entries if entries is not None else {}
    kept['modules.dep.bin'] = dep_entries
    if aliases is None:
        alias_text, alias_entries = render_aliases(records, warnings)
    else:
        alias_text, alias_entries, alias_warnings = aliases
        warnings.extend(alias_warnings)
    files['modules.alias'] = _encode(alias_text)
    kept['modules.alias.bin'] = alias_entries
    files['modules.softdep'] = _encode(render_modinfo_lines(records, 'softdep', SOFTDEP_HEADER))
    if weakdep:
        files['modules.weakdep'] = _encode(render_modinfo_lines(records, 'weakdep', WEAKDEP_HEADER))
    symbols = None
    if reuse is not None and symbol_digest and prebuilt is not None:
        symbols = reuse.bytes_of('modules.symbols', digest=symbol_digest)
    if symbols is None:
        symbols_text, kept['modules.symbols.bin'] = render_symbols(records, graph.owners)
        symbols = _encode(symbols_text)
    files['modules.symbols'] = symbols

    for name, data, source, make_entries in (
            ('modules.builtin.bin', builtin, 'modules.builtin', builtin_entries),
            ('modules.builtin.alias.bin', builtin_modinfo, 'modules.builtin.modinfo', builtin_alias_entries)):
        if data is FROM_MODULE_DIR:
            data = _read_optional(module_dir, source, warnings)
        if data is None:
            files[name] = b''  # as depmod leaves it when its input is missing
        else:
            kept[name] = make_entries(data, warnings)
            files[name] = index(name, kept[name])
    files['modules.devname'] = _encode(render_devname(records, warnings))
    if prebuilt is None:
        files['modules.alias.bin'] = _index_bytes(alias_entries, layout)
        files['modules.symbols.bin'] = _index_bytes(kept['modules.symbols.bin'], layout)
    else:
        done = prebuilt() if callable(prebuilt) else prebuilt
        for name in LARGE_FILES:
            files[name] = done[name]
    return dict((name, files[name]) for name in output_names(weakdep)), warnings
