# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod's graph stage: who exports what, who needs whom, in which order.

From parsed ModuleRecords (in depmod's module order) this builds:
- the symbol table: every export of every module; when several modules
  export one symbol the last one in module order owns it.  Symbols of the
  kernel image (Module.symvers or System.map, depmod -E/-F) go in first with
  no owner, so a module exporting the same name takes it over;
- each module's direct dependencies: owners of the symbols it needs (the
  undefined symbols, then the `__versions` names no undefined symbol
  matched, as kmod reads them), each owner once, in the order first needed.
  A module needing its own export depends on itself: kmod calls that a cycle;
- depmod's topological order: Kahn's algorithm starting from the modules
  nobody uses, taken from a stack (last pushed first);
- record.deps: the transitive dependencies sorted by that order, exactly as
  modules.dep lists them;
- cycles, reported the way depmod reports them, when the sort cannot finish;
  then no record gets deps and the caller must write nothing.
"""

import re

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError

# Symbols the kernel provides that no symbol list names; depmod adds them
# with the kernel's symbols.
_FAKE_KERNEL_SYMBOLS = ('__this_module', '_GLOBAL_OFFSET_TABLE_')
_PPC64_TOC_SYMBOL = 'TOC.'

# A walk reporting cycles stops after this many steps: depmod's own walk is
# exponential on some graphs, and only the reports are at stake.
_CYCLE_WALK_LIMIT = 100000

# strtoull(s, &end, 16) consuming the whole token
_HEX_CRC = re.compile(r'[+-]?(?:0[xX])?[0-9a-fA-F]+\Z')


class GraphResult(object):
    """What the graph stage found.

    records        the records in module order (their .deps are set when
                   there is no cycle)
    owners         {symbol: ModuleRecord or None}; None: the kernel's own
    crcs           {symbol: crc} of the owning export (0 when unknown)
    sort_index     {id(record): position in depmod's topological order}
    cycles         [[name, ...], ...] each as depmod prints it: the path
                   from a module back to itself ('a -> b -> a' is
                   ['a', 'b', 'a']); empty when the graph has no cycle
    cycle_modules  the number of modules depmod counts in cycles
    unresolved     [(record, symbol), ...] needed, not weak, owned by
                   nothing (collected when kernel symbols were given)
    bad_versions   [(record, symbol), ...] CRC of the need differs from the
                   export's (collected with check_versions)
    messages       depmod's own words for all of the above, in its order
                   ('Cycle detected: a -> b -> a', 'PATH needs unknown
                   symbol SYM', ...)
    """

    def __init__(self, records):
        self.records = records
        self.owners = {}
        self.crcs = {}
        self.sort_index = {}
        self.cycles = []
        self.cycle_modules = 0
        self.unresolved = []
        self.bad_versions = []
        self.messages = []

    @property
    def ok(self):
        return not self.cycles


def _strip_prefix(name, prefix):
    if prefix and name.startswith(prefix):
        return name[1:]
    return name


def read_module_symvers(path, symbol_prefix=None):
    """(symbols, warnings) of a Module.symvers: [(name, crc), ...] of vmlinux.

    Lines are 'CRC<tab>SYMBOL<tab>vmlinux<tab>...'; lines of other modules and
    short lines are skipped, a CRC that is not hexadecimal is warned about.
    """
    symbols, warnings = [], []
    for number, line in enumerate(_read_text_lines(path), 1):
        fields = [f for f in re.split(r'[ \t]', line) if f]
        if len(fields) < 3 or fields[2] != 'vmlinux':
            continue
        if not _HEX_CRC.match(fields[0]):
            warnings.append('%s:%u Invalid symbol version %s' % (path, number, fields[0]))
            continue
        symbols.append((_strip_prefix(fields[1], symbol_prefix), _parse_crc(fields[0])))
    return symbols, warnings


def _parse_crc(text):
    negative = text.startswith('-')
    digits = text.lstrip('+-')
    if digits[:2] in ('0x', '0X'):
        digits = digits[2:]
    value = int(digits, 16)
    if value > 0xFFFFFFFFFFFFFFFF:
        value = 0xFFFFFFFFFFFFFFFF
    return (-value) & 0xFFFFFFFFFFFFFFFF if negative else value


def read_system_map(path, symbol_prefix=None):
    """(symbols, warnings) of a System.map: [(name, 0), ...] of its __ksymtab_ entries."""
    symbols, warnings = [], []
    for number, line in enumerate(_read_text_lines(path), 1):
        parts = line.split(' ', 2)
        if len(parts) < 3:
            warnings.append('%s:%u: invalid line: %s' % (path, number, line.rstrip('\n')))
            continue
        name = _strip_prefix(parts[2], symbol_prefix)
        if not name.startswith('__ksymtab_'):
            continue
        symbols.append((name[len('__ksymtab_'):].split('\n', 1)[0], 0))
    return symbols, warnings


def _read_text_lines(path):
    """The lines of a text file as fgets() gives them: each keeps its '\\n'."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except (OSError, IOError) as exc:
        raise KmodError.from_os_error(exc, 'could not load', path=path)
    text = data.decode('utf-8', 'surrogateescape')
    lines = [line + '\n' for line in text.split('\n')]
    if lines[-1] == '\n':
        lines.pop()
    else:
        lines[-1] = lines[-1][:-1]
    return lines


def _effective_needs(record):
    """[(symbol, weak, crc)] the way kmod lists a module's dependency symbols.

    Undefined symbols first (CRC from the first __versions entry of that
    name, else 0), then every __versions entry no undefined symbol claimed
    (module_layout and the like), as strong needs.
    """
    needs = record.needs or ()
    versions = record.versions or ()
    if not versions:
        return [(name, weak, 0) for name, weak in needs]
    first_crc = {}
    first_index = {}
    for i, (name, crc) in enumerate(versions):
        if name not in first_crc:
            first_crc[name] = crc
            first_index[name] = i
    claimed = set()
    out = []
    for name, weak in needs:
        crc = first_crc.get(name)
        if crc is None:
            out.append((name, weak, 0))
        else:
            claimed.add(first_index[name])
            out.append((name, weak, crc))
    for i, (name, crc) in enumerate(versions):
        if i not in claimed:
            out.append((name, False, crc))
    return out


def build_symbol_table(records, kernel_symbols=None, symbol_prefix=None):
    """({symbol: owner record or None}, {symbol: crc}).

    kernel_symbols: [(name, crc), ...] from read_module_symvers or
    read_system_map, or None.  Later entries replace earlier ones.
    """
    owners = {}
    crcs = {}
    if kernel_symbols is not None:
        for name, crc in kernel_symbols:
            owners[name] = None
            crcs[name] = crc
        for name in _FAKE_KERNEL_SYMBOLS:
            owners[name] = None
            crcs[name] = 0
        if _PPC64_TOC_SYMBOL not in owners:
            owners[_PPC64_TOC_SYMBOL] = None
            crcs[_PPC64_TOC_SYMBOL] = 0
    for record in records:
        names, values = record.export_lists()
        if symbol_prefix:
            names = [name[1:] if name.startswith(symbol_prefix) else name for name in names]
        # dict updates run in C; a later duplicate replaces an earlier one as in a loop
        owners.update(dict.fromkeys(names, record))
        crcs.update(zip(names, [crc or 0 for crc in values]) if any(values) else dict.fromkeys(names, 0))
    return owners, crcs


def order_records(records):
    """The records in depmod's module order (by .order when every record has one)."""
    records = list(records)
    if all(r.order is not None for r in records):
        records.sort(key=lambda r: r.order)
    return records


def resolve_dependencies(records, kernel_symbols=None, symbol_prefix=None, check_versions=False,
                         collect_unresolved=None, symbol_table=None):
    """Build the graph of records (ModuleRecord, parsed) and set their .deps.

    records: in depmod's module order (sorted by .order when every record
    has one).  kernel_symbols: [(name, crc)] of the kernel image, or None.
    symbol_prefix: depmod -P character.  check_versions: compare CRCs (depmod
    does with -E).  collect_unresolved: default True when kernel_symbols is
    given (without them every kernel symbol would be unresolved).
    symbol_table: build_symbol_table() of the same records and arguments,
    when the caller already has it.
    Returns a GraphResult; on a cycle .cycles is set and no .deps are.
    """
    records = order_records(records)
    result = GraphResult(records)
    owners, crcs = symbol_table or build_symbol_table(records, kernel_symbols, symbol_prefix)
    result.owners = owners
    result.crcs = crcs
    if collect_unresolved is None:
        collect_unresolved = kernel_symbols is not None

    position = {}
    for i, record in enumerate(records):
        position[id(record)] = i
    count = len(records)
    direct = [None] * count
    users = [0] * count
    exact = collect_unresolved or check_versions or symbol_prefix
    # symbol -> position of the module owning it (the kernel's own symbols left out)
    owner_position = None
    if not exact:
        owner_position = dict((name, position[id(owner)]) for name, owner in owners.items() if owner is not None)
    for i, record in enumerate(records):
        if exact:
            mine = _direct_deps_exact(record, owners, crcs, position, symbol_prefix, check_versions,
                                      collect_unresolved, result)
        else:
            mine = _direct_deps(record, owner_position)
        for j in mine:
            users[j] += 1
        direct[i] = mine

    topo = _topological_order(direct, users)
    if len(topo) < count:
        _report_cycles(result, records, direct, users)
        return result

    sort_index = [0] * count
    for k, i in enumerate(topo):
        sort_index[i] = k
    for i in range(count):
        result.sort_index[id(records[i])] = sort_index[i]
    _set_transitive_deps(records, direct, topo, sort_index)
    return result


def _direct_deps(record, owner_position):
    """Positions of the modules a record needs, each once, in the order first
    needed: the undefined symbols, then the __versions names they leave.

    A __versions name an undefined symbol claimed has that symbol's owner,
    already found, so every __versions name can be looked up alike.  Only
    owners count here: weakness and CRCs matter for the reports
    _direct_deps_exact makes, not for the graph.
    """
    names, dotted = record.dependency_symbols()
    if dotted:
        # ppc64 function descriptors: '.foo' is 'foo'
        names = [name[1:] if name[:1] == '.' else name for name in names]
    # each owner once, first need first (map and fromkeys: loops in C)
    found = list(dict.fromkeys(map(owner_position.get, names)))
    if None in found:
        found.remove(None)
    return found


def _direct_deps_exact(record, owners, crcs, position, symbol_prefix, check_versions, collect_unresolved, result):
    """_direct_deps, one need at a time, collecting unresolved symbols and
    CRC mismatches in result as depmod reports them."""
    mine = []
    seen = set()
    for name, weak, crc in _effective_needs(record):
        key = name
        if key.startswith('.'):
            # ppc64 function descriptors: '.foo' is 'foo'
            key = key[1:]
        if symbol_prefix and key.startswith(symbol_prefix):
            key = key[1:]
        if key not in owners:
            if collect_unresolved and not weak:
                result.unresolved.append((record, name))
                result.messages.append('%s needs unknown symbol %s' % (record.path, name))
            continue
        owner = owners[key]
        if check_versions and not weak and crcs.get(key, 0) != crc:
            result.bad_versions.append((record, name))
            result.messages.append('%s disagrees about version of symbol %s' % (record.path, name))
        if owner is None:
            continue
        j = position[id(owner)]
        if j not in seen:
            seen.add(j)
            mine.append(j)
    return mine


def _topological_order(direct, users):
    """Module positions, users before providers; `users` is consumed.

    Unsorted modules keep users > 0: they are in or below a cycle.
    """
    stack = [i for i, n in enumerate(users) if n == 0]
    order = []
    while stack:
        i = stack.pop()
        order.append(i)
        for j in direct[i]:
            users[j] -= 1
            if users[j] == 0:
                stack.append(j)
    return order


def _set_transitive_deps(records, direct, topo, sort_index):
    """record.deps = every module reachable, sorted by topological position.

    Providers come after their users in topo, so walking it backwards meets
    every module after all of its dependencies: the closure of a module is
    the union of its direct deps' closures plus the deps, kept as bit sets
    indexed by topological position.
    """
    closure = [0] * len(records)
    by_sort = [records[i] for i in topo]
    for i in reversed(topo):
        bits = 0
        for j in direct[i]:
            bits |= closure[j] | (1 << sort_index[j])
        closure[i] = bits
        deps = []
        while bits:
            low = bits & -bits
            deps.append(by_sort[low.bit_length() - 1])
            bits ^= low
        records[i].deps = deps


def _report_cycles(result, records, direct, users):
    """Find the cycles among the unsorted modules as depmod reports them.

    Each unsorted module, in module order, becomes a root unless an earlier
    report already covered it; a depth-first walk from the root (a module's
    dependencies pushed in need order, the last explored first) reports every
    path that comes back to the root.  depmod never stops a walk that enters
    a cycle not through its root (it loops forever there); this walk reports
    that cycle instead, from the module met twice.
    """
    roots = [i for i, n in enumerate(users) if n > 0]
    pending = set(roots)
    reported = set()
    visited = set()
    in_cycles = set()
    for root in roots:
        if root not in pending:
            continue
        pending.discard(root)
        # (module, parent vertex index) in one growing list: paths by parent links
        vertices = [(root, -1)]
        stack = [0]
        while stack and len(vertices) < _CYCLE_WALK_LIMIT:
            v = stack.pop()
            m, parent = vertices[v]
            if m in visited and m == root:
                path = []
                p = parent
                while p >= 0:
                    path.append(vertices[p][0])
                    p = vertices[p][1]
                path.reverse()
                for k in path:
                    in_cycles.add(k)
                    pending.discard(k)
                names = [records[k].name for k in path] + [records[m].name]
                result.cycles.append(names)
                result.messages.append('Cycle detected: %s' % ' -> '.join(names))
                continue
            visited.add(m)
            if not direct[m]:
                pending.discard(m)
                continue
            on_path = set()
            p = v
            while p >= 0:
                on_path.add(vertices[p][0])
                p = vertices[p][1]
            for d in direct[m]:
                if d in on_path and d != root:
                    # depmod would walk this loop forever: report it from d
                    names = _loop_names(records, vertices, v, d)
                    if tuple(names) not in reported:
                        reported.add(tuple(names))
                        result.cycles.append(names)
                        result.messages.append('Cycle detected: %s' % ' -> '.join(names))
                    on_loop = _loop_positions(vertices, v, d)
                    in_cycles.update(on_loop)
                    pending.difference_update(on_loop)
                    continue
                vertices.append((d, v))
                stack.append(len(vertices) - 1)
    result.cycle_modules = len(in_cycles)
    result.messages.append('Found %d modules in dependency cycles!' % len(in_cycles))


def _loop_positions(vertices, v, start):
    """Module positions from `start` down the path to vertex v."""
    out = []
    while v >= 0:
        m, parent = vertices[v]
        out.append(m)
        if m == start:
            break
        v = parent
    out.reverse()
    return out


def _loop_names(records, vertices, v, start):
    loop = _loop_positions(vertices, v, start)
    return [records[k].name for k in loop] + [records[start].name]
