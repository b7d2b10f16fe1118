# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Python depmod: rebuild the module indexes of kernel releases.

For each release: depmod.d -> (depmod -A's shortcut) -> the state shortcut
(state.py: nothing changed since the last run, nothing to parse) ->
scan -> parse (worker processes, parse cache) -> graph (kernel symbols,
unresolved symbols) -> render every index file -> compare with what is on
disk -> write only what differs (all temporaries fsynced before any rename).

Every release is planned before any is written, so a dependency cycle,
unresolved symbols with ``fail_on_unresolved`` or a missing module directory
in one release leave all of them untouched.  A module file that cannot be
read or parsed is reported by path and indexed without symbols or modinfo,
as kmod's depmod does ('failed to load symbols from ...').

Which depmod is copied comes from the node's kmod (kmod_version.py): .bin
layout, modules.weakdep, modules.order rule and the module suffixes.
"""

import gc
import os

from ansible_collections.kernel.kmod.plugins.module_utils.config.depmod import load_depmod_config
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_version import (
    KmodFlavour, detect_kmod_cached, kmod_flavour)
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.state import (
    DepmodState, input_fingerprint, outputs_stat, quick_up_to_date, state_file_name, stat_key)
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.files import (
    FileChange, apply_changes, diff_entry, open_directory, plan_changes, temporary_target)
from ansible_collections.kernel.kmod.plugins.module_utils.lock import DEFAULT_WAIT, DirectoryLocks
from ansible_collections.kernel.kmod.plugins.module_utils.tree.module_dir import (
    MODULE_ROOTS, check_release, find_module_dir, releases_under)

# The rebuild stages (scan, parse, graph, outputs, forked workers) are
# imported inside the functions that rebuild: a run in which nothing changed
# needs none of them, and under AnsiballZ every import is compiled afresh.

DEFAULT_CACHE_DIR = '/var/cache/kernel-kmod/depmod'
ALL_RELEASES = 'all'
# Files shown in diff mode, each side cut at DIFF_MAX_BYTES.
DIFF_FILES = ('modules.dep', 'modules.alias', 'modules.softdep')
DIFF_MAX_BYTES = 65536
# Scan skip reasons worth reporting ('build' and 'source' are in every tree).
_REPORTED_SKIPS = ('excluded', 'lower-priority', 'unsupported-type', 'unreadable')
# Report keys kept in the state file and given back by the state shortcut.
_KEPT_REPORT_KEYS = ('modules', 'unresolved', 'bad_versions', 'skipped', 'warnings', 'messages')


class DepmodOptions(object):
    """Everything a run needs besides the release.

    basedir: depmod -b; config_paths: depmod -C (None: the depmod.d dirs);
    config_root: where depmod.d is read ('/', as kmod does even with -b);
    quick: depmod -A; check_symbols: depmod -e, with symvers (-E) or
    system_map (-F); fail_on_unresolved: unresolved symbols fail the run;
    cache_dir: state and parse cache (None: no cache, no state shortcut);
    workers: parse processes (None: one per CPU); flavour: the KmodFlavour
    to copy; check_mode: plan and report, write nothing; lock_wait: seconds
    to wait for another run that holds a module directory's lock; diff:
    make the diff entries of changed text indexes (False: the caller does
    not show them, and a large index's diff is not worked out).
    """

    def __init__(self, basedir='/', config_paths=None, config_root='/', quick=False, check_symbols=False,
                 symvers=None, system_map=None, fail_on_unresolved=False, cache_dir=DEFAULT_CACHE_DIR,
                 workers=None, flavour=None, check_mode=False, lock_wait=DEFAULT_WAIT, diff=True):
        if symvers and system_map:
            raise KmodError('symvers and system_map are mutually exclusive (as depmod -E and -F)')
        self.basedir = basedir or '/'
        self.config_paths = list(config_paths) if config_paths is not None else None
        self.config_root = config_root or '/'
        self.quick = bool(quick)
        self.check_symbols = bool(check_symbols or fail_on_unresolved)
        self.symvers = symvers or None
        self.system_map = system_map or None
        self.fail_on_unresolved = bool(fail_on_unresolved)
        self.cache_dir = cache_dir or None
        self.workers = workers
        self.flavour = flavour if flavour is not None else KmodFlavour(30)
        self.check_mode = bool(check_mode)
        self.lock_wait = lock_wait
        self.diff = bool(diff)
        if self.fail_on_unresolved and not (self.symvers or self.system_map):
            raise KmodError('fail_on_unresolved needs symvers or system_map: without the kernel\'s own '
                            'symbols every kernel symbol would count as unresolved')

    def output_settings(self):
        """The options that change what is written or reported, as plain data."""
        return {
            'basedir': self.basedir,
            'layout': self.flavour.layout,
            'weakdep': self.flavour.weakdep,
            'first_order_line_wins': self.flavour.first_order_line_wins,
            'zstd_needs_size': self.flavour.zstd_needs_size,
            'suffixes': list(self.flavour.suffixes),
            'check_symbols': self.check_symbols,
            'symvers': [self.symvers, stat_key(self.symvers)] if self.symvers else None,
            'system_map': [self.system_map, stat_key(self.system_map)] if self.system_map else None,
        }


class ReleasePlan(object):
    """One release, planned: its report, the file changes, what to save."""

    def __init__(self, release, module_dir, report):
        self.release = release
        self.module_dir = module_dir
        self.report = report
        self.changes = []
        self.diff = []
        self.output_names = []
        self.state = None
        self.fingerprint = None
        self.parse_cache = None
        self.parse_delta = None
        self.digests = None
        self.graph_cache = None
        self.state_name = None


def _new_report(release, module_dir):
    return {
        'release': release, 'module_dir': module_dir, 'changed': False, 'shortcut': None,
        'modules': 0, 'parsed': 0, 'written': [], 'files': {}, 'unresolved': [], 'bad_versions': [],
        'cycles': [], 'skipped': [], 'warnings': [], 'messages': [],
    }


def _in_release(release, exc):
    """The same error, its message prefixed with the release."""
    return KmodError('kernel release %s: %s' % (release, exc.msg), errno=exc.errno, path=exc.path,
                     module=exc.module)


def _missing_dir_error(release, basedir):
    looked = ', '.join(os.path.join(basedir, top, release) for top in MODULE_ROOTS)
    return KmodError('kernel release %s: no module directory (looked for %s)' % (release, looked),
                     path=os.path.join(basedir, MODULE_ROOTS[0], release))


def _count_lines(path):
    try:
        with open(path, 'rb') as f:
            return f.read().count(b'\n')
    except OSError:
        return 0


# ---------------------------------------------------------------- summaries

def _entries(name, data, known=None):
    """The entries of an index file: lines of a text file, (key, value) of a
    .bin (known: its (key, value, priority) entries, not to read them back)."""
    if known is not None:
        return [(key, value) for key, value, _priority in known]
    if not data:
        return []
    if name.endswith('.bin'):
        # only when an index changed: not worth importing the reader in every run
        from ansible_collections.kernel.kmod.plugins.module_utils.index.binary import BinaryIndex
        try:
            return [(key, value) for key, _priority, value in BinaryIndex.from_bytes(data, name).items()]
        except KmodError:
            return []  # a corrupt old index: every new entry counts as added
    return data.splitlines()


def change_summary(change, new_entries=None):
    """{'action', 'added', 'removed'} of a FileChange, counting entries.

    new_entries: the (key, value, priority) entries the new .bin was built
    from, when known (render_outputs' entries).
    """
    name = os.path.basename(change.path)
    known = new_entries if change.new is not None else None
    if not change.old:
        # nothing before: every entry is new (what the Counters below would say);
        # known entries are counted as they are, without pairing them up
        return {'action': change.action, 'added': len(known if known is not None else _entries(name, change.new)),
                'removed': 0}
    if change.new is not None and not name.endswith('.bin'):
        # only when a file changed: a run with nothing to do does not import it
        from ansible_collections.kernel.kmod.plugins.module_utils.depmod.incremental import text_change_counts
        added, removed = text_change_counts(change.old, change.new)
        return {'action': change.action, 'added': added, 'removed': removed}
    new = _entries(name, change.new, known)
    from collections import Counter  # only when a file changed
    old = Counter(_entries(name, change.old))
    new = Counter(new)
    return {'action': change.action, 'added': sum((new - old).values()), 'removed': sum((old - new).values())}


def _changed_region(old, new, context):
    """Only the hunks that differ (with `context` lines around), on both
    sides, the unchanged stretches between them replaced by the same note."""
    old_lines = old.splitlines(True)
    new_lines = new.splitlines(True)
    import difflib  # only for diffs of large files
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    old_out, new_out = [], []
    old_at = 0
    for group in matcher.get_grouped_opcodes(context):
        i1, j1 = group[0][1], group[0][3]
        i2, j2 = group[-1][2], group[-1][4]
        if i1 > old_at:
            note = b'[... %d unchanged lines not shown]\n' % (i1 - old_at)
            old_out.append(note)
            new_out.append(note)
        old_out.extend(old_lines[i1:i2])
        new_out.extend(new_lines[j1:j2])
        old_at = i2
    if old_at < len(old_lines):
        note = b'[... %d unchanged lines not shown]\n' % (len(old_lines) - old_at)
        old_out.append(note)
        new_out.append(note)
    return b''.join(old_out), b''.join(new_out)


def bounded_diff(change, max_bytes, context=3):
    """A diff entry for a change of a text file: when it is large, only the
    region that changed (with `context` lines around), each side cut at max_bytes."""
    old, new = change.old, change.new
    if old is not None and new is not None and max(len(old), len(new)) > max_bytes:
        old, new = _changed_region(old, new, context)
    return diff_entry(FileChange(change.path, old, new), max_bytes)


# ---------------------------------------------------------------- planning

def _kernel_symbols(options, report):
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.graph import read_module_symvers, read_system_map
    if options.symvers:
        symbols, warnings = read_module_symvers(options.symvers)
    elif options.system_map:
        symbols, warnings = read_system_map(options.system_map)
    else:
        if options.check_symbols:
            report['warnings'].append('check_symbols needs symvers or system_map; symbols not checked '
                                      '(as depmod -e without -E or -F)')
        return None
    report['warnings'].extend(warnings)
    return symbols


def _parse(scan, options, plan, report):
    """Parse every scanned module; unreadable ones stay in with no symbols, as with kmod."""
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.incremental import ParseDelta
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.parse import ParseCache, parse_records
    cache = None
    if options.cache_dir:
        cache = ParseCache.in_dir(options.cache_dir, plan.state_name)
        if cache.warning:
            report['warnings'].append(cache.warning)
        # a few entries changed by the last run come from a small file beside it
        plan.parse_delta = ParseDelta(cache)
        if plan.parse_delta.warning:
            report['warnings'].append(plan.parse_delta.warning)
    plan.parse_cache = cache
    # the CRCs of __versions matter only to depmod -e (the graph needs just the names
    # no undefined symbol has, which every parse result carries)
    good, problems = parse_records(scan.modules, workers=options.workers, cache=cache,
                                   want_versions=options.check_symbols,
                                   zstd_needs_size=options.flavour.zstd_needs_size)
    if len(good) != len(scan.modules):
        parsed = set(id(r) for r in good)
        for record in scan.modules:
            if id(record) not in parsed:
                record.modinfo, record.exports, record.needs, record.versions = [], [], [], []
    report['parsed'] = plan.parse_delta.parsed(len(scan.modules)) if plan.parse_delta else len(scan.modules)
    for problem in problems:
        path, _sep, reason = problem.partition(': ')
        report['skipped'].append({'path': path, 'reason': reason or problem})
    return scan.modules


def _check_graph(graph, release, options, report):
    if graph.cycles:
        cycles = '; '.join(' -> '.join(c) for c in graph.cycles)
        raise KmodError('kernel release %s: dependency cycle: %s; nothing was written' % (release, cycles),
                        module=graph.cycles[0][0])
    report['unresolved'] = [{'module': r.name, 'path': r.path, 'symbol': s} for r, s in graph.unresolved]
    report['bad_versions'] = [{'module': r.name, 'path': r.path, 'symbol': s} for r, s in graph.bad_versions]
    report['messages'] = list(graph.messages)
    if options.fail_on_unresolved and (graph.unresolved or graph.bad_versions):
        shown = graph.messages[:10]
        more = len(graph.messages) - len(shown)
        raise KmodError('kernel release %s: %d unresolved symbol(s) and %d symbol version mismatch(es): %s%s'
                        % (release, len(graph.unresolved), len(graph.bad_versions), '; '.join(shown),
                           ' (and %d more)' % more if more > 0 else ''))


def plan_release(release, options):
    """Plan one release: a ReleasePlan whose report says what would change.

    Writes nothing.  Raises KmodError (message naming the release) for a
    missing module directory, a dependency cycle, unresolved symbols with
    fail_on_unresolved, or unreadable symbol files.
    """
    module_dir = find_module_dir(options.basedir, release)
    if module_dir is None:
        raise _missing_dir_error(release, options.basedir)
    report = _new_report(release, module_dir)
    plan = ReleasePlan(release, module_dir, report)
    plan.state_name = state_file_name(module_dir, release)
    flavour = options.flavour
    config = load_depmod_config(root=options.config_root, paths=options.config_paths, release=release)

    if options.quick:
        up_to_date, _why = quick_up_to_date(module_dir, flavour.suffixes)
        if up_to_date:
            report['shortcut'] = 'quick'
            report['modules'] = _count_lines(os.path.join(module_dir, 'modules.dep'))
            report['warnings'].extend(config.warnings)
            return plan

    settings = options.output_settings()
    file_stats = {}
    if options.cache_dir:
        plan.fingerprint = input_fingerprint(module_dir, config, settings,
                                             options.workers is None or options.workers > 1, file_stats)
        plan.state = DepmodState(os.path.join(options.cache_dir, plan.state_name + '.state'))
        if plan.state.warning:
            report['warnings'].append(plan.state.warning)
        if plan.state.matches(plan.fingerprint, module_dir):
            report['shortcut'] = 'state'
            for key in _KEPT_REPORT_KEYS:
                kept = plan.state.report.get(key, report[key])
                if type(kept) is type(report[key]):
                    report[key] = kept
            if options.fail_on_unresolved and (report['unresolved'] or report['bad_versions']):
                raise KmodError('kernel release %s: unresolved symbols: %s'
                                % (release, '; '.join(report['messages'][:10])))
            plan.state = None  # nothing to save
            return plan

    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.graph import (
        build_symbol_table, order_records, resolve_dependencies)
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.incremental import (
        GraphCache, OutputReuse, build_indexes, entries_digest, graph_cache_path,
        resolve_reusing)
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.outputs import (
        large_index_bytes, render_aliases, render_outputs, symbol_entries_unordered)
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.parse import PARALLEL_MIN_FILES, default_workers
    from ansible_collections.kernel.kmod.plugins.module_utils.depmod.scan import scan_modules
    from ansible_collections.kernel.kmod.plugins.module_utils.forked import ForkedCall
    try:
        scan = scan_modules(options.basedir, release, config, module_dir=module_dir,
                            suffixes=flavour.suffixes, first_order_line_wins=flavour.first_order_line_wins,
                            stat_files=options.cache_dir is not None, known_stats=file_stats)
    except KmodError as exc:
        raise _in_release(release, exc)
    report['warnings'].extend(scan.warnings)
    report['skipped'].extend({'path': s.path, 'reason': s.reason + (': %s' % s.detail if s.detail else '')}
                             for s in scan.skipped if s.reason in _REPORTED_SKIPS)
    records = _parse(scan, options, plan, report)
    report['modules'] = len(records)
    try:
        kernel_symbols = _kernel_symbols(options, report)
    except KmodError as exc:
        raise _in_release(release, exc)
    # the two largest tries need no dependency graph: a child builds them meanwhile
    # from their entries, made first (the child touches nothing else, so its
    # copy-on-write pages stay few)
    ordered = order_records(records)
    alias_warnings = []
    alias_text, alias_entries = render_aliases(ordered, alias_warnings)
    symbol_table = build_symbol_table(ordered, kernel_symbols)
    workers = default_workers() if options.workers is None else options.workers
    fork = workers > 1 and len(records) >= PARALLEL_MIN_FILES
    symbol_entries = symbol_entries_unordered(ordered, symbol_table[0])
    reuse = None
    if plan.state is not None:
        # with a state: the indexes whose entries are the last run's are taken as they are
        reuse = OutputReuse(plan.state, module_dir, flavour.layout)
        reused, todo = {}, {}
        for name, made in (('modules.alias.bin', alias_entries), ('modules.symbols.bin', symbol_entries)):
            got = reuse.bytes_of(name, made) if reuse.may_reuse(name) else None
            if got is None:
                todo[name] = made
            else:
                reused[name] = got
        large = ForkedCall(build_indexes, todo, flavour.layout, fork=fork and bool(todo))
        # the digests of what is built anew, for the next run, while a child builds it
        for name, made in todo.items():
            reuse.digests[name] = entries_digest(flavour.layout, made)
        symbol_digest = reuse.digests['modules.symbols.bin']
    else:
        large = ForkedCall(large_index_bytes, alias_entries, symbol_entries, flavour.layout, fork=fork)
    try:
        check_versions = bool(options.check_symbols and options.symvers)
        collect_unresolved = options.check_symbols and kernel_symbols is not None
        graph = None
        if reuse is not None and not (check_versions or collect_unresolved):
            # the direct dependencies of unchanged modules whose symbols kept their owners come from
            # the graph cache (the reports of depmod -e need every need looked at: not then)
            cache = GraphCache(graph_cache_path(plan.state.path), repr(settings))
            if cache.warning:
                report['warnings'].append(cache.warning)
            graph, direct, names = resolve_reusing(ordered, symbol_table, cache)
            plan.graph_cache = (cache, ordered, direct, names)
        if graph is None:
            graph = resolve_dependencies(ordered, kernel_symbols=kernel_symbols, check_versions=check_versions,
                                         collect_unresolved=collect_unresolved, symbol_table=symbol_table)
        _check_graph(graph, release, options, report)
        entries = {}
        if reuse is None:
            files, warnings = render_outputs(graph, module_dir, layout=flavour.layout, weakdep=flavour.weakdep,
                                             prebuilt=large.result, entries=entries,
                                             aliases=(alias_text, alias_entries, alias_warnings))
        else:
            def built():
                done = dict(reused)
                done.update(large.result())
                return done
            files, warnings = render_outputs(graph, module_dir, layout=flavour.layout, weakdep=flavour.weakdep,
                                             prebuilt=built, entries=entries,
                                             aliases=(alias_text, alias_entries, alias_warnings),
                                             reuse=reuse, symbol_digest=symbol_digest)
            plan.digests = reuse.digests
    finally:
        large.cancel()
    report['warnings'].extend(warnings)
    plan.output_names = list(files)
    try:
        plan.changes = plan_changes(dict((os.path.join(module_dir, name), data) for name, data in files.items()))
    except KmodError as exc:
        raise _in_release(release, exc)
    texts = dict((os.path.basename(c.path), c) for c in plan.changes if not c.path.endswith('.bin'))
    for change in plan.changes:
        name = os.path.basename(change.path)
        report['written'].append(name)
        mirror = texts.get(name[:-len('.bin')]) if name.endswith('.bin') and change.old else None
        if mirror is not None and mirror.old:
            # A .bin holds the entries its text file lists, both rendered from the same entries:
            # the text's counts are the .bin's, without reading the old trie back (the slowest
            # part of a small update).
            counted = report['files'].get(os.path.basename(mirror.path)) or change_summary(mirror)
            report['files'][name] = dict(counted, action=change.action)
        else:
            report['files'][name] = change_summary(change, entries.get(name))
        if name in DIFF_FILES and options.diff:
            plan.diff.append(bounded_diff(change, DIFF_MAX_BYTES))
    report['changed'] = bool(plan.changes)
    return plan


def remove_stale_temporaries(module_dir):
    """Remove what a killed run left: the temporary files of the indexes
    (files.create_temp's, of a 'modules.*' file).  Called with the
    directory's lock held, so no other run of ours writes them."""
    try:
        dir_fd = open_directory(module_dir)
    except OSError:
        return []
    removed = []
    try:
        # by name in the directory's descriptor: a module_dir swapped meanwhile redirects nothing
        for entry in os.listdir(dir_fd):
            if (temporary_target(entry) or '').startswith('modules.'):
                try:
                    os.unlink(entry, dir_fd=dir_fd)
                    removed.append(entry)
                except OSError:
                    pass
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return removed


def apply_release(plan, options):
    """Write a planned release (not in check mode); save its state and parse cache."""
    report = plan.report
    if options.check_mode:
        return report
    remove_stale_temporaries(plan.module_dir)
    if plan.changes:
        try:
            apply_changes(plan.changes)
        except KmodError as exc:
            raise _in_release(plan.release, exc)
    # what the state shortcut gives back: the run's findings, not this run's cache troubles
    kept = dict((key, list(report[key]) if isinstance(report[key], list) else report[key])
                for key in _KEPT_REPORT_KEYS)
    if plan.parse_delta is not None:
        # the whole parse cache, or only what this run changed in it
        warning = plan.parse_delta.save()
        if warning:
            report['warnings'].append(warning)
    elif plan.parse_cache is not None:
        plan.parse_cache.save()
        if plan.parse_cache.warning:
            report['warnings'].append(plan.parse_cache.warning)
    if plan.state is not None and plan.output_names:
        # plan.fingerprint was taken before the tree was read: a module file
        # changed since makes the next run's fingerprint differ, so this
        # state can never vouch for outputs that do not describe the tree
        if not plan.state.save(plan.fingerprint, outputs_stat(plan.module_dir, plan.output_names), kept,
                               plan.digests):
            report['warnings'].append(plan.state.warning)
        elif plan.graph_cache is not None:
            cache, records, direct, names = plan.graph_cache
            warning = cache.save(records, direct, names)
            if warning:
                report['warnings'].append(warning)
    return report


def _module_dir_locks(releases, options):
    """The locks of each module directory of a run (lock.DirectoryLocks: all
    taken before planning and held until the state is saved, in the one
    order every run uses).  A check-mode run only reads: its locks are
    shared."""
    found = set(find_module_dir(options.basedir, release) for release in releases) - {None}
    return DirectoryLocks(sorted(found), 'kmod_depmod', options.lock_wait, shared=options.check_mode)


# ---------------------------------------------------------------- entry points

class _CollectorPaused(object):
    """No cyclic garbage collection while a release is planned (a context
    manager; a class rather than contextlib, whose import a run with
    nothing to do would pay for).

    Planning allocates a few million small objects (names, records, trie
    pieces) that hold no reference cycles worth finding; the collector's
    passes over them cost about 5% of a full run, in forked children too.
    """

    def __enter__(self):
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was_enabled:
            gc.enable()


def resolve_releases(releases, basedir='/'):
    """The release list: None -> the running kernel; 'all' -> every release
    with a module directory under basedir; a string or a list otherwise."""
    if releases is None or releases == [] or releases == '':
        return [os.uname()[2]]
    if isinstance(releases, str):
        releases = [releases]
    out = []
    for release in releases:
        if release == ALL_RELEASES:
            found = releases_under(basedir or '/')
            if not found:
                raise KmodError('no kernel release has a module directory under %s'
                                % os.path.join(basedir or '/', MODULE_ROOTS[0]), path=basedir)
            out.extend(found)
        else:
            out.append(check_release(release))
    unique = []
    for release in out:
        if release not in unique:
            unique.append(release)
    return unique


def make_options(kmod_version=None, flavour=None, **kwargs):
    """DepmodOptions with the KmodFlavour of the node's kmod (or kmod_version);
    what the node's kmod says is kept in the cache directory, if any."""
    if flavour is None:
        cache_dir = kwargs.get('cache_dir', DEFAULT_CACHE_DIR)
        save = not kwargs.get('check_mode', False)
        flavour = kmod_flavour(kmod_version, detect=lambda: detect_kmod_cached(cache_dir, save=save))
    return DepmodOptions(flavour=flavour, **kwargs)


def run_depmod_releases(releases=None, options=None, **kwargs):
    """Run depmod for several releases: every one planned before any is written.

    releases: see resolve_releases; options: DepmodOptions (or keyword
    arguments for make_options).  Returns {'changed', 'releases': {release:
    report}, 'diff': [diff entries], 'kmod': flavour as a dict}.
    """
    if options is None:
        options = make_options(**kwargs)
    names = resolve_releases(releases, options.basedir)
    result = {'changed': False, 'releases': {}, 'diff': [], 'kmod': options.flavour.as_dict()}
    with _module_dir_locks(names, options):
        with _CollectorPaused():
            plans = [plan_release(release, options) for release in names]
        for plan in plans:
            report = apply_release(plan, options)
            result['releases'][plan.release] = report
            result['diff'].extend(plan.diff)
            result['changed'] = result['changed'] or report['changed']
    return result


def run_depmod(release=None, options=None, **kwargs):
    """Run depmod for one release (default: the running kernel): its report.

    report: {release, module_dir, changed, shortcut (None, 'state' or
    'quick'), modules, written [file names], files {name: {action, added,
    removed}}, unresolved [{module, path, symbol}], bad_versions, cycles,
    skipped [{path, reason}], warnings, messages (depmod's words), diff}.
    """
    if options is None:
        options = make_options(**kwargs)
    release = resolve_releases(release, options.basedir)[0] if release is None else release
    with _module_dir_locks([release], options):
        with _CollectorPaused():
            plan = plan_release(release, options)
        report = apply_release(plan, options)
    report['diff'] = plan.diff
    return report
