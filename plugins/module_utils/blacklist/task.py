# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kmod_blacklist task: plan the file, report the configuration, write,
unload, and say whether the initramfs is now out of date.

Planning reads everything first and is pure; in check mode nothing is
opened for writing and nothing is unloaded.  The one file is changed with
files.apply_changes (temporary file beside it, fsync, rename), and only after
it is written are modules unloaded, so udev cannot load one again by alias
in between.
"""

import errno
import os

from ansible_collections.kernel.kmod.plugins.module_utils.blacklist.edit import (
    check_name, edit, is_ours, scan, wanted_lines,
)
from ansible_collections.kernel.kmod.plugins.module_utils.blacklist.effective import (
    boot_entries, config_after, others, parse_kernel_cmdline, read_position, remaining, undoing,
)
from ansible_collections.kernel.kmod.plugins.module_utils.config.modprobe import load_modprobe_config
from ansible_collections.kernel.kmod.plugins.module_utils.config.precedence import host_path
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError, ModuleNotFound, TaskError
from ansible_collections.kernel.kmod.plugins.module_utils.files import (
    apply_changes, diff_entry, FileChange, read_current,
)
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.generators import detect
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.stale import image_copy
from ansible_collections.kernel.kmod.plugins.module_utils.load.plan import plan_unload
from ansible_collections.kernel.kmod.plugins.module_utils.load.run import planned_result, run_unload
from ansible_collections.kernel.kmod.plugins.module_utils.load.task import System
from ansible_collections.kernel.kmod.plugins.module_utils.tree.module_dir import ModuleTree
from ansible_collections.kernel.kmod.plugins.module_utils.trust import writable_warnings

DEFAULT_PATH = '/etc/modprobe.d/kernel-kmod-blacklist.conf'
STATES = ('present', 'absent')
MODE = 0o644

DEFAULTS = {'state': 'present', 'disable': False, 'path': DEFAULT_PATH, 'unload': False, 'remove_holders': False}


def check_options(options):
    """The options with defaults, names normalised; KmodError for bad input."""
    out = dict(DEFAULTS)
    out.update((k, v) for k, v in options.items() if v is not None)
    names = out.get('name')
    if isinstance(names, str):
        names = [names]
    if not names or not isinstance(names, (list, tuple)):
        raise KmodError('name must be a list of module names, not %r' % (names,))
    seen = []
    for name in names:
        normal = check_name(name)
        if normal not in seen:
            seen.append(normal)
    out['name'] = seen
    if out['state'] not in STATES:
        raise KmodError('state must be one of %s, not %r' % (', '.join(STATES), out['state']))
    path = out['path']
    if not isinstance(path, str) or not path.startswith('/') or '\0' in path or path.endswith('/'):
        raise KmodError('path must be an absolute file path, not %r' % (path,))
    out['path'] = os.path.normpath(path)
    return out


def _existing(host, path):
    """The bytes of the target, or None; anything but a regular file is
    refused (files.read_current: judged without following a symlink)."""
    try:
        return read_current(host, shown=path)
    except KmodError as exc:
        if exc.errno == errno.ENOTDIR:
            return None
        raise


def _decode(data):
    return None if data is None else data.decode('utf-8', 'surrogateescape')


def plan_file(opts, root, kernel_cmdline):
    """(FileChange or None, {name: ModuleReport}, warnings) for the task."""
    path = opts['path']
    host = host_path(root, path)
    old = _existing(host, path)
    present = opts['state'] == 'present'
    without = config_after(root, path, None, kernel_cmdline)
    reports = {}
    new = old
    own_kinds = {}
    for _index, kind, name in scan(old or b''):
        own_kinds.setdefault(name, set()).add(kind)
    for name in opts['name']:
        report = others(without, name, path, kernel_cmdline.kernel_blacklist)
        reports[name] = report
        wanted = {}
        if present:
            for kind, line in wanted_lines(name, opts['disable']).items():
                # A lasting line elsewhere already does it: no duplicate, but ours stays if it is there.
                if kind in own_kinds.get(name, ()) or not report.covered(kind):
                    wanted[kind] = line
        new = edit(new, name, wanted)
    warnings = []
    after = config_after(root, path, _decode(new), kernel_cmdline)
    warnings.extend(w for w in after.warnings if w not in without.warnings)
    for name in opts['name']:
        report = reports[name]
        report.undone_by = undoing(after, name, path, present and opts['disable'])
        warnings.extend(report.undone_by)
        warnings.extend(remaining(report, opts['state']))
    position = read_position(root, path)
    if position and present:
        warnings.append(position + ': the lines written there have no effect')
    change = None
    if new != old:
        change = FileChange(host, old, new, mode=MODE if is_ours(new if new is not None else old) else None)
    return change, reports, warnings


def _boot_warnings(opts, root, cmdline_text, reports, warnings):
    if opts['state'] != 'present':
        return
    entries, found_warnings = boot_entries(root, cmdline_text)
    warnings.extend(found_warnings)
    for name in opts['name']:
        listed = entries.get(name, [])
        reports[name].boot_entries = listed
        if listed:
            warnings.append('%s is still asked for at boot by %s: systemd-modules-load applies blacklists and skips '
                            'it, but runs the install command of a disabled module, which fails the service; the '
                            'initramfs loads the modules of /etc/initramfs-tools/modules by name, which a blacklist '
                            'does not stop; remove those entries' % (name, ', '.join(listed)))


def _plan_unloads(opts, system, tree, loaded, warnings):
    config = load_modprobe_config(root=system.root, module_dir=tree.module_dir, cmdline=True)
    plans = []
    for name in opts['name']:
        if name not in loaded:
            continue
        try:
            plans.append(plan_unload(tree, config, name, loaded=loaded, builtin=tree.builtin(),
                                     remove_holders=opts['remove_holders']))
        except ModuleNotFound:
            continue
    warnings.extend(w for plan in plans for w in plan.warnings)
    return plans


def _tree_warnings(opts, tree, loaded, warnings):
    if opts['state'] != 'present' or not tree.exists:
        return
    builtin = set(tree.builtin())
    for name in opts['name']:
        if name in builtin:
            warnings.append('%s is built into kernel %s: modprobe.d cannot keep it out (initcall_blacklist= on the '
                            'kernel command line can stop its init function)' % (name, tree.release))
        elif name not in loaded and tree.dep_entry(name) is None:
            warnings.append('%s: no such module in %s; blacklisted anyway' % (name, tree.module_dir))


def run_task(options, check_mode=False, diff=False, system=None):
    """Carry out one kmod_blacklist task; returns (result dict, warnings).

    Raises KmodError for bad input (nothing written) and TaskError when
    something failed after the file was written.  The file is read,
    planned and written under its directory's lock (lock.DirectoryLocks,
    shared in check mode), so no other run of ours changes it in between.
    """
    opts = check_options(options)
    system = system or System()
    directory = os.path.dirname(host_path(system.root, opts['path']))
    with system.config_locks([directory], 'kmod_blacklist', shared=check_mode) as locks:
        change, result, plans, loaded, warnings = _plan(opts, system)
        if not check_mode and change is not None:
            apply_changes([change], locks.make_directory)
    warnings[:0] = writable_warnings([directory], 'kmod_blacklist')
    try:
        for plan in plans:
            if check_mode:
                outcome = planned_result(plan, unload=True)
            else:
                outcome = run_unload(plan, system.calls, runner=system.runner)
            done = outcome.as_dict()
            result['deleted'].extend(n for n in done['deleted'] if n not in result['deleted'])
            result['commands'].extend(done['commands'])
            warnings.extend(done['warnings'])
    except KmodError as exc:
        partial = getattr(exc, 'result', None)
        if partial is not None:
            result['deleted'].extend(partial.deleted)
        result['changed'] = change is not None or bool(result['deleted'])
        raise TaskError(exc, result)
    gone = set(result['deleted'])
    result['still_loaded'] = [n for n in opts['name'] if n in loaded and n not in gone]
    if opts['state'] == 'present' and not opts['unload']:
        for name in result['still_loaded']:
            warnings.append('%s is still loaded: a blacklist keeps it from loading, it does not remove it '
                            '(unload: true removes it now)' % name)
    result['changed'] = change is not None or bool(result['deleted']) or bool(result['commands'])
    if diff:
        result['diff'] = [diff_entry(change)] if change is not None else []
    return result, warnings


def _plan(opts, system):
    """(FileChange or None, result so far, unload plans, loaded modules, warnings)."""
    kernel = system.kernel
    cmdline_text = kernel.cmdline() or ''
    kernel_cmdline = parse_kernel_cmdline(cmdline_text)
    change, reports, warnings = plan_file(opts, system.root, kernel_cmdline)
    if opts['state'] == 'absent' and (opts['unload'] or opts['remove_holders']):
        warnings.append('unload and remove_holders apply only with state=present; nothing is unloaded')
    _boot_warnings(opts, system.root, cmdline_text, reports, warnings)
    loaded = kernel.loaded()
    release = kernel.release()
    tree = ModuleTree(system.root, release) if release else None
    plans = []
    try:
        if tree is not None:
            _tree_warnings(opts, tree, loaded, warnings)
            warnings.extend(tree.warnings)
            if opts['unload'] and opts['state'] == 'present':
                plans = _plan_unloads(opts, system, tree, loaded, warnings)
    finally:
        if tree is not None:
            tree.close()
    result = {
        # not 'path': AnsibleModule.exit_json adds a file's owner, mode and 'state' to a result with a 'path'
        'name': list(opts['name']), 'state': opts['state'], 'disable': opts['disable'], 'blacklist_file': opts['path'],
        'file': None if change is None else change.action,
        'modules': dict((n, reports[n].as_dict()) for n in opts['name']),
        'deleted': [], 'commands': [], 'still_loaded': [], 'initramfs_stale': False,
    }
    if change is not None:
        result['initramfs_stale'] = initramfs_stale(system.root, opts['path'], release, change.new, warnings)
    return change, result, plans, loaded, warnings


def initramfs_stale(root, path, release, new, warnings):
    """True when the installed generator copies `path` into the image of
    `release`, that image exists, and its copy is not `new` (None: the file
    is removed): the image is out of date with the change."""
    generator = detect(root)
    if generator is None or not release or not generator.copies_path(path):
        return False
    image = generator.image_path(root, release)
    if not os.path.isfile(host_path(root, image)):
        return False
    try:
        return image_copy(root, generator, image, path) != new
    except KmodError as exc:
        warnings.append('cannot tell whether %s holds the change, counted as stale: %s' % (image, exc.msg))
        return True
