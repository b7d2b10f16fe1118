# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kmod_load task: read the running system, plan, act, persist, report.

Everything the module does lives here so that it can run against a fake
system in tests: System bundles the root the running kernel, its module
tree, modprobe.d and the persistence files are read under, and the object
that changes the kernel (kernel.calls.KernelCalls on a real host).
run_task returns plain data; every failure is a TaskError whose
fail_kwargs also say what was already done.
"""

from ansible_collections.kernel.kmod.plugins.module_utils.config.modprobe import load_modprobe_config
from ansible_collections.kernel.kmod.plugins.module_utils.config.options import compare_live, options_text
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError, ModuleNotFound
from ansible_collections.kernel.kmod.plugins.module_utils.files import apply_changes, diff_entry
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from ansible_collections.kernel.kmod.plugins.module_utils.load.persistence import (
    check_params, other_boot_entries, plan_persistence,
)
from ansible_collections.kernel.kmod.plugins.module_utils.load.plan import plan_load, plan_unload
from ansible_collections.kernel.kmod.plugins.module_utils.load.run import (
    planned_result, run_load, run_unload, UnloadResult,
)
from ansible_collections.kernel.kmod.plugins.module_utils.names import alias_name, is_path
from ansible_collections.kernel.kmod.plugins.module_utils.tree.module_dir import ModuleTree

STATES = ('present', 'absent')
PERSISTENT = ('present', 'absent', 'disabled')

DEFAULTS = {
    'state': 'present',
    'params': '',
    'persistent': 'disabled',
    'ignore_install': False,
    'ignore_remove': False,
    'use_blacklist': False,
    'remove_dependencies': True,
    'wait': False,
    'force': False,
}


class TaskError(KmodError):
    """A failure of the task, with what had been done before it (details:
    extra fail_json fields such as inserted, deleted, commands, kernel_log)
    and the warnings gathered until then."""

    def __init__(self, exc, details, warnings=()):
        KmodError.__init__(self, exc.msg, errno=exc.errno, path=exc.path, module=exc.module)
        self.cause = exc
        self.details = details
        self.warnings = list(warnings)

    def fail_kwargs(self):
        out = dict(self.details)
        out.update(self.cause.fail_kwargs())
        return out


class System(object):
    """The host the task works on.

    root: where /proc, /sys, the module tree, modprobe.d, modules-load.d
    are read and the persistence files written ('/' on a real host);
    calls: the kernel-changing object (insert, delete); kernel: a
    KernelState; runner: how install/remove commands run
    (run.run_shell when None).
    """

    def __init__(self, root='/', calls=None, kernel=None, runner=None):
        self.root = root
        self.kernel = kernel or KernelState(root)
        self._calls = calls
        self.runner = runner

    @property
    def calls(self):
        if self._calls is None:
            # Imported here: ctypes and the syscall layer are only needed to act.
            from ansible_collections.kernel.kmod.plugins.module_utils.kernel.calls import KernelCalls
            self._calls = KernelCalls(self.root)
        return self._calls


def _check_options(options):
    out = dict(DEFAULTS)
    out.update((k, v) for k, v in options.items() if v is not None)
    name = out.get('name')
    if not name or not isinstance(name, str) or name != name.strip() or any(ord(c) < 0x20 for c in name):
        raise KmodError('name must be a module name, alias, symbol:NAME or module file path, not %r' % (name,))
    if out['state'] not in STATES:
        raise KmodError('state must be one of %s, not %r' % (', '.join(STATES), out['state']))
    if out['persistent'] not in PERSISTENT:
        raise KmodError('persistent must be one of %s, not %r' % (', '.join(PERSISTENT), out['persistent']))
    if out['state'] == 'absent' and out['persistent'] == 'present':
        raise KmodError('persistent=present with state=absent would load %s again at every boot; '
                        'use persistent=absent (or disabled)' % name, module=name)
    out['options'] = options_text(out['params'])
    check_params(out['options'])
    return out


def _persistent_name(opts, plan_match):
    """The one module name the persistence files are about."""
    request = opts['name']
    if is_path(request):
        raise KmodError('persistent needs a module name, not the file path %s' % request, module=request)
    names = list(plan_match.names) if plan_match is not None else [alias_name(request)]
    if len(names) != 1:
        raise KmodError('persistent needs a name that means one module; %s means %s'
                        % (request, ', '.join(names)), module=request)
    return names[0]


def run_task(options, check_mode=False, diff=False, system=None):
    """Carry out one kmod_load task; returns (result dict, warnings).

    options: the module's parameters (name, state, params, persistent,
    ignore_install, ignore_remove, use_blacklist, remove_dependencies, wait,
    force).  Nothing changes in check mode; the result says what would.
    Raises TaskError (a KmodError).
    """
    opts = _check_options(options)
    system = system or System()
    warnings = []
    report = {'name': opts['name'], 'state': opts['state'], 'params': opts['options'], 'modules': [], 'steps': [],
              'inserted': [], 'deleted': [], 'commands': [], 'live': [], 'builtin': [], 'not_loaded': [],
              'blacklisted': [], 'params_differ': {}, 'params_unchecked': [], 'persistence': [],
              'boot_options': None}
    try:
        _run(opts, check_mode, diff, system, report, warnings)
    except KmodError as exc:
        done = getattr(exc, 'result', None)
        if done is not None:
            report.update(done.as_dict())
            warnings.extend(report.pop('warnings'))
        kernel_log = getattr(exc, 'kernel_log', None)
        if kernel_log:
            report['kernel_log'] = list(kernel_log)
        report['changed'] = bool(report['inserted'] or report['deleted'] or report['commands'])
        raise TaskError(exc, report, warnings)
    return report, warnings


def _run(opts, check_mode, diff, system, report, warnings):
    kernel = system.kernel
    release = kernel.release()
    if not release:
        raise KmodError('cannot tell the running kernel release from %s' % kernel.path('/proc/sys/kernel/osrelease'))
    tree = ModuleTree(system.root, release)
    try:
        config = load_modprobe_config(root=system.root, module_dir=tree.module_dir, cmdline=True)
        warnings.extend(config.warnings)
        loaded = kernel.loaded()
        if opts['state'] == 'present':
            plan = _plan_load(opts, tree, config, loaded)
        else:
            plan = _plan_unload(opts, tree, config, loaded, warnings)
        warnings.extend(tree.warnings)
    finally:
        tree.close()
    if plan is not None:
        report['modules'] = list(plan.match.names) if plan.match is not None else []
        report['steps'] = [step.as_dict() for step in plan.steps]
        warnings.extend(plan.warnings)
        if opts['state'] == 'present':
            _check_blacklisted(opts, plan, report)
            _check_live_params(opts, plan, kernel, report, warnings)
    changes = _plan_files(opts, plan, system.root, release, tree, report, warnings)
    unload = opts['state'] == 'absent'
    if plan is None:
        outcome = UnloadResult(opts['name'])
    elif check_mode:
        outcome = planned_result(plan, unload=unload)
    elif unload:
        outcome = run_unload(plan, system.calls, runner=system.runner, wait=opts['wait'])
    else:
        outcome = run_load(plan, system.calls, runner=system.runner, force=opts['force'])
    report.update(outcome.as_dict())
    warnings.extend(report.pop('warnings'))
    if plan is not None and unload:
        report['not_loaded'] = sorted(set(report['not_loaded']) | set(plan.not_loaded))
    if not check_mode:
        apply_changes(changes)
    report['changed'] = outcome.changed or bool(changes)
    if diff:
        report['diff'] = [diff_entry(change) for change in changes]


def _plan_load(opts, tree, config, loaded):
    live = [name for name, info in loaded.items() if info.get('state') != 'Unloading']
    return plan_load(tree, config, opts['name'], user_options=opts['options'], live=live,
                     builtin=tree.builtin(), ignore_install=opts['ignore_install'],
                     use_blacklist=opts['use_blacklist'])


def _plan_unload(opts, tree, config, loaded, warnings):
    try:
        return plan_unload(tree, config, opts['name'], loaded=loaded, builtin=tree.builtin(),
                           ignore_remove=opts['ignore_remove'], remove_dependencies=opts['remove_dependencies'],
                           wait=opts['wait'])
    except ModuleNotFound:
        # Not in the tree and not loaded: absent already.
        warnings.append('%s: no such module in %s and none loaded; nothing to remove'
                        % (opts['name'], tree.module_dir or 'the module tree'))
        return None


def _check_blacklisted(opts, plan, report):
    report['blacklisted'] = list(plan.blacklisted)
    if plan.blacklisted and not plan.steps:
        raise KmodError('%s is blacklisted: %s would not load (a blacklist line binds lookups by alias, '
                        'and every name with use_blacklist); load it by module name or remove the blacklist'
                        % (opts['name'], ', '.join(plan.blacklisted)), module=opts['name'])


def _check_live_params(opts, plan, kernel, report, warnings):
    """Warn when a module already loaded has other values than asked:
    parameters apply only when a module is loaded, so nothing is done."""
    if not opts['options']:
        return
    for step in plan.steps:
        if not (step.target and step.action == 'live'):
            continue
        differences, unchecked = compare_live(opts['options'], kernel.module_params(step.name))
        report['params_differ'].update(differences)
        report['params_unchecked'].extend(n for n in unchecked if n not in report['params_unchecked'])
        if differences:
            listed = ', '.join('%s=%s (loaded with %s)' % (k, '' if v['asked'] is None else v['asked'], v['live'])
                               for k, v in sorted(differences.items()))
            warnings.append('%s is already loaded with other parameter values: %s. Parameters apply only '
                            'when a module is loaded: unload it (state=absent) and load it again to change them'
                            % (step.name, listed))


def _plan_files(opts, plan, root, release, tree, report, warnings):
    if opts['persistent'] == 'disabled':
        return []
    name = _persistent_name(opts, plan.match if plan is not None else None)
    planned = plan_persistence(name, opts['options'], opts['persistent'], root=root)
    changes = planned.changes
    report['persistence'] = planned.entries()
    report['boot_options'] = planned.boot_options
    warnings.extend(planned.warnings)
    if opts['persistent'] == 'present' and opts['options'] and name in tree.builtin():
        warnings.append('%s is built into kernel %s: modprobe.d options do not reach it; set them on the kernel '
                        'command line as %s.PARAM=VALUE' % (name, release, name))
    if opts['persistent'] == 'absent':
        # a file of ours that is removed no longer loads it; a foreign namesake still does
        removed = [change.path for change in changes if change.new is None]
        others = other_boot_entries(name, root, skip=removed)
        if others:
            warnings.append('%s is still loaded at boot by %s' % (name, ', '.join(others)))
    return changes
