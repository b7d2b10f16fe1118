# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kmod_load task: read the running system, plan, act, persist, report.

Everything the module does lives here so that it can run against a fake
system in tests: System bundles the root the running kernel, its module
tree, modprobe.d and the persistence files are read under, and the object
that changes the kernel (kernel.calls.KernelCalls on a real host).
One task may name several modules: the system is read once, every name is
planned in order (each seeing what the names before it will have done),
and only then is anything done.  run_task returns plain data: the
aggregate keys over all names and one entry per name under ``results``;
every failure is a TaskError whose fail_kwargs also say what was already
done.

What only persistence needs (its planning, the file transaction, the
directory locks, the trust warnings) is imported when a task has
``persistent``: AnsiballZ ships every file a module may import, but the
node compiles only those imported, and under an emulated CPU that costs
more than a plain ``name: X`` task's own work.
"""

from ansible_collections.kernel.kmod.plugins.module_utils.config.modprobe import load_modprobe_config
from ansible_collections.kernel.kmod.plugins.module_utils.config.options import options_text, same_value
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError, ModuleNotFound, TaskError
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from ansible_collections.kernel.kmod.plugins.module_utils.load.drift import plan_drift
from ansible_collections.kernel.kmod.plugins.module_utils.load.plan import (
    LoadPlan, plan_insmod, plan_load, plan_rmmod, plan_unload,
)
from ansible_collections.kernel.kmod.plugins.module_utils.load.request import Request
from ansible_collections.kernel.kmod.plugins.module_utils.load.run import (
    planned_result, roll_back, run_load, run_unload, UnloadResult,
)
from ansible_collections.kernel.kmod.plugins.module_utils.names import alias_name, is_path, module_name
from ansible_collections.kernel.kmod.plugins.module_utils.tree.module_dir import ModuleTree


class System(object):
    """The host the task works on.

    root: where /proc, /sys, the module tree, modprobe.d, modules-load.d
    are read and the persistence files written ('/' on a real host);
    calls: the kernel-changing object (insert, delete); kernel: a
    KernelState; runner: how install/remove commands run
    (run.run_shell when None); lock_wait: seconds to wait for another run
    that holds the lock of a configuration directory to be written (None:
    lock.DEFAULT_WAIT).
    """

    def __init__(self, root='/', calls=None, kernel=None, runner=None, lock_wait=None):
        self.root = root
        self.kernel = kernel or KernelState(root)
        self._calls = calls
        self.runner = runner
        self.lock_wait = lock_wait

    def config_locks(self, dirs, what, shared):
        """The lock.DirectoryLocks of configuration directories a task writes
        (shared: a check-mode run, which only reads them)."""
        from ansible_collections.kernel.kmod.plugins.module_utils.lock import DEFAULT_WAIT, DirectoryLocks
        wait = DEFAULT_WAIT if self.lock_wait is None else self.lock_wait
        return DirectoryLocks(dirs, what, wait=wait, shared=shared)

    @property
    def calls(self):
        if self._calls is None:
            # Imported here: ctypes and the syscall layer are only needed to act.
            from ansible_collections.kernel.kmod.plugins.module_utils.kernel.calls import KernelCalls
            self._calls = KernelCalls(self.root)
        return self._calls


def run_task(options, check_mode=False, diff=False, system=None):
    """Carry out one kmod_load task; returns (result dict, warnings).

    options: the module's parameters (name: a string or a list, state,
    params, persistent, ignore_install, ignore_remove, use_blacklist,
    remove_dependencies, wait, force), checked by request.Request before
    anything is read.  Nothing changes in check mode; the result says what
    would.  Raises TaskError (a KmodError).
    """
    req = Request(options)
    task = _Task(req, system or System(), check_mode)
    try:
        task.run(diff)
    except KmodError as exc:
        done = getattr(exc, 'result', None)
        if done is not None and task.failing is not None:
            task.add_outcome(task.failing, done)
        task.roll_back()
        report = task.report
        kernel_log = getattr(exc, 'kernel_log', None)
        if kernel_log:
            report['kernel_log'] = list(kernel_log)
        kept = [name for name in report['inserted'] if name not in report['rolled_back']]
        report['changed'] = bool(kept or report['deleted'] or report['commands'])
        raise TaskError(exc, report, task.warnings)
    return task.report, task.warnings


def _add_once(names, name):
    if name not in names:
        names.append(name)


def _module_state(name, loaded, builtin):
    if name in loaded:
        return 'live'
    return 'builtin' if name in builtin else 'absent'


def _file_diff(changes):
    """The diff mode entries of the file changes."""
    if not changes:
        return []
    from ansible_collections.kernel.kmod.plugins.module_utils.files import diff_entry
    return [diff_entry(change) for change in changes]


def _loaded_diff(entries):
    """The diff mode entry of the loaded modules the task touched, before
    and after (in check mode, as they would be); [] when they are the same."""
    before, after = {}, {}
    for entry in entries:
        for module, state in entry['before'].items():
            before.setdefault(module, state)
        after.update(entry['after'])
    old = sorted(m for m, state in before.items() if state == 'live')
    new = sorted(m for m, state in after.items() if state == 'live')
    if old == new:
        return []
    return [{'before_header': 'loaded kernel modules (of those this task touched)',
             'after_header': 'loaded kernel modules (of those this task touched)',
             'before': ''.join(m + '\n' for m in old), 'after': ''.join(m + '\n' for m in new)}]


def _after_unload(loaded, plan):
    """The loaded snapshot once plan's deletions are done, for planning the
    names after it: the modules gone, the counts of what they held lowered."""
    gone = set(step.name for step in plan.steps if step.action in ('delete', 'remove'))
    if not gone:
        return loaded
    out = {}
    for name, info in loaded.items():
        if name in gone:
            continue
        info = dict(info or {})
        before = info.get('holders') or []
        holders = [h for h in before if module_name(h) not in gone]
        if info.get('refcnt') is not None:
            info['refcnt'] = max(info['refcnt'] - (len(before) - len(holders)), 0)
        info['holders'] = holders
        out[name] = info
    return out


def _why_apply_cannot(module, options, live_params, kernel, builtin, info):
    """Why param_drift=apply would fail for this module now (a read-only
    parameter differs and it is built in or in use), or None when it would
    work: so that warn's advice never names a way that cannot work."""
    try:
        plan_drift(module, options, live_params, kernel.module_param_modes(module), 'apply',
                   builtin=builtin, holders=info.get('holders') or [], refcnt=info.get('refcnt') or 0)
    except KmodError as exc:
        # 'cannot apply NAME=VALUE... to MODULE: why': a value may hold ': ' itself, the reason never this
        return exc.msg.rpartition(' to %s: ' % module)[2]
    return None


class _Named(object):
    """One name of the task: its plan (None: nothing to remove), the state
    of its modules before ({module: 'live', 'builtin' or 'absent'}), and
    what it did (a RunResult) once done."""

    def __init__(self, name, plan, before):
        self.name = name
        self.plan = plan
        self.before = before
        self.persistence = []
        self.boot_options = None
        self.params_differ = {}
        self.params_unchecked = []
        self.drifts = []        # load.drift.Drift of its loaded targets
        self.reloads = []       # LoadPlans that load a module again (param_drift=apply)
        self.params_written = []
        self.reloaded = []
        self.outcome = None

    def modules(self):
        return list(self.plan.match.names) if self.plan is not None and self.plan.match is not None else []

    def entry(self, options):
        """The per-name result entry."""
        done = self.outcome.as_dict() if self.outcome is not None else {}
        after = dict(self.before)
        for name in done.get('inserted', []):
            after[name] = 'live'
        for name in done.get('deleted', []):
            after[name] = 'absent'
        return {'name': self.name, 'modules': self.modules(), 'before': dict(self.before), 'after': after,
                'params': options, 'params_differ': dict(self.params_differ),
                'params_unchecked': list(self.params_unchecked),
                'inserted': done.get('inserted', []), 'deleted': done.get('deleted', []),
                'commands': done.get('commands', []), 'missing_hardware': done.get('missing_hardware', []),
                'params_written': list(self.params_written), 'reloaded': list(self.reloaded),
                'persistence': list(self.persistence),
                'boot_options': self.boot_options}


class _Task(object):
    """One run of the task over one System: report and warnings grow as it goes."""

    def __init__(self, req, system, check_mode):
        self.req = req
        self.system = system
        self.check_mode = check_mode
        self.warnings = []
        self.report = {'name': req.given, 'state': req.state, 'params': req.options, 'modules': [], 'steps': [],
                       'inserted': [], 'deleted': [], 'commands': [], 'live': [], 'builtin': [], 'not_loaded': [],
                       'blacklisted': [], 'params_differ': {}, 'params_unchecked': [], 'persistence': [],
                       'boot_options': None, 'results': [], 'rolled_back': [],
                       'missing_hardware': [], 'params_written': [], 'reloaded': []}
        self.named = []
        self.failing = None

    def run(self, diff):
        kernel = self.system.kernel
        release = kernel.release()
        if not release:
            raise KmodError('cannot tell the running kernel release from %s'
                            % kernel.path('/proc/sys/kernel/osrelease'))
        tree = ModuleTree(self.system.root, release)
        try:
            config = load_modprobe_config(root=self.system.root, module_dir=tree.module_dir, cmdline=True)
            self.warnings.extend(config.warnings)
            loaded = kernel.loaded_lazily()
            builtin = frozenset(tree.builtin())
            self._plan_all(tree, config, loaded, builtin)
            self.warnings.extend(tree.warnings)
        finally:
            tree.close()
        for named in self.named:
            self._check_plan(named)
        if self.req.persistent == 'disabled':
            # no file to read or write, no directory to lock
            changes = []
            self._act()
        else:
            changes = self._persist_and_act(release, builtin)
        report = self.report
        report['changed'] = bool(report['inserted'] or report['deleted'] or report['commands'] or changes
                                 or report['params_written'] or report['reloaded'])
        if diff:
            report['diff'] = _file_diff(changes) + _loaded_diff(report['results'])

    def _persist_and_act(self, release, builtin):
        """Plan the persistence files, act, write them; returns the FileChanges."""
        from ansible_collections.kernel.kmod.plugins.module_utils.files import stage_changes
        from ansible_collections.kernel.kmod.plugins.module_utils.load.persistence import boots_with_modules_load_d
        etc_modules = not boots_with_modules_load_d(self.system.root)
        with self._locks(etc_modules) as locks:
            # the persistence files read, planned and written under the lock
            # of their directories: no other run of ours changes them between
            changes = self._plan_files(release, builtin, etc_modules)
            # every file written to its temporary before the kernel is touched:
            # a file that cannot be written stops the task with nothing done
            staged = None if self.check_mode else stage_changes(changes, locks.make_directory)
            try:
                self._act()
            except BaseException:
                if staged is not None:
                    staged.abort()
                raise
            if staged is not None:
                staged.commit()
        return changes

    # -- planning, all names before anything is done ---------------------

    def _plan_all(self, tree, config, loaded, builtin):
        req = self.req
        live = set(name for name in loaded if loaded.state(name) != 'Unloading')
        at_start = set(loaded)
        for name in req.names:
            if req.state == 'present' and is_path(name):
                plan = plan_insmod(name, user_options=req.options, live=live)
            elif req.state == 'present':
                plan = plan_load(tree, config, name, user_options=req.options, live=live, builtin=builtin,
                                 ignore_install=req.ignore_install, use_blacklist=req.use_blacklist)
            elif is_path(name):
                plan = plan_rmmod(name, loaded)
            else:
                plan = self._plan_unload(tree, config, name, loaded, builtin)
            touched = []
            if plan is not None:
                for module in self._planned_modules(plan):
                    _add_once(touched, module)
            self.named.append(_Named(name, plan, dict((m, _module_state(m, at_start, builtin)) for m in touched)))
            if plan is None:
                continue
            if req.state == 'present':
                self._plan_drift(self.named[-1], tree, config, loaded, live, builtin)
                live.update(step.name for step in plan.steps if step.action in ('insert', 'install'))
                # what this name will load counts as loaded for the names after it
                for step in plan.steps:
                    if step.action in ('insert', 'install'):
                        loaded.setdefault(step.name, {'refcnt': 0, 'holders': []})
            else:
                loaded = _after_unload(loaded, plan)

    def _plan_drift(self, named, tree, config, loaded, live, builtin):
        """What param_drift does about the targets already in the kernel."""
        req, kernel = self.req, self.system.kernel
        if not req.options or req.param_drift == 'ignore':
            return
        for step in named.plan.steps:
            if not step.target or step.action not in ('live', 'builtin'):
                continue
            info = loaded.get(step.name) or {}
            modes = kernel.module_param_modes(step.name) if req.param_drift == 'apply' else {}
            live_params = kernel.module_params(step.name)
            drift = plan_drift(step.name, req.options, live_params, modes, req.param_drift,
                               builtin=step.action == 'builtin', holders=info.get('holders') or [],
                               refcnt=info.get('refcnt') or 0)
            if drift.differences and req.param_drift == 'warn':
                drift.apply_blocked = _why_apply_cannot(step.name, req.options, live_params, kernel,
                                                        step.action == 'builtin', info)
            named.drifts.append(drift)
            if drift.reload:
                named.reloads.append((self._reload_plan(tree, config, step.name, live, builtin),
                                      self._restore_plan(tree, config, drift, live, builtin)))

    def _reload_plan(self, tree, config, module, live, builtin, options=None):
        """The LoadPlan that loads `module` again with the asked options (its
        dependencies stay loaded)."""
        req = self.req
        again = plan_load(tree, config, module, user_options=req.options if options is None else options,
                          live=set(live) - set([module]), builtin=builtin, ignore_install=req.ignore_install)
        plan = LoadPlan(module, again.match)
        plan.steps = [s for s in again.steps if s.name == module and s.action in ('insert', 'install')]
        if not plan.steps:
            raise KmodError('cannot reload %s to apply its parameters: no module file or install command for it'
                            % module, module=module)
        return plan

    def _restore_plan(self, tree, config, drift, live, builtin):
        """The LoadPlan that loads `drift.module` again with the values its
        differing parameters have now: rollback's answer when the kernel
        refuses the new ones.  None when those values cannot be given back
        (a parameter sysfs does not show, a value no option text can carry)."""
        if not self.req.rollback or any(d['live'] is None for d in drift.differences.values()):
            return None
        try:
            text = options_text(dict((param, d['live']) for param, d in sorted(drift.differences.items())))
            return self._reload_plan(tree, config, drift.module, live, builtin, options=text)
        except KmodError:
            return None

    @staticmethod
    def _planned_modules(plan):
        names = list(plan.match.names) if plan.match is not None else []
        return names + [step.name for step in plan.steps]

    def _plan_unload(self, tree, config, name, loaded, builtin):
        req = self.req
        try:
            return plan_unload(tree, config, name, loaded=loaded, builtin=builtin, ignore_remove=req.ignore_remove,
                               remove_dependencies=req.remove_dependencies, remove_holders=req.remove_holders,
                               wait=req.wait > 0)
        except ModuleNotFound:
            # Not in the tree and not loaded: absent already.
            self.warnings.append('%s: no such module in %s and none loaded; nothing to remove'
                                 % (name, tree.module_dir or 'the module tree'))
            return None

    def _check_plan(self, named):
        plan, report = named.plan, self.report
        if plan is None:
            return
        for module in named.modules():
            _add_once(report['modules'], module)
        report['steps'].extend(step.as_dict() for step in plan.steps)
        self.warnings.extend(plan.warnings)
        if self.req.state != 'present':
            return
        for module in plan.blacklisted:
            _add_once(report['blacklisted'], module)
        if plan.blacklisted and not plan.steps:
            raise KmodError('%s is blacklisted: %s would not load (a blacklist line binds lookups by alias, '
                            'and every name with use_blacklist); load it by module name or remove the blacklist'
                            % (named.name, ', '.join(plan.blacklisted)), module=named.name)
        self._check_live_params(named)

    def _check_live_params(self, named):
        """Report the parameter drift of the targets already in the kernel;
        with param_drift=warn, warn: parameters apply only when a module is
        loaded, so nothing is done."""
        report = self.report
        for drift in named.drifts:
            named.params_differ.update(drift.differences)
            report['params_differ'].update(drift.differences)
            for param in drift.unchecked:
                _add_once(named.params_unchecked, param)
                _add_once(report['params_unchecked'], param)
            if drift.differences and self.req.param_drift == 'warn':
                listed = ', '.join('%s=%s (loaded with %s)' % (k, '' if v['asked'] is None else v['asked'],
                                                               v['live'])
                                   for k, v in sorted(drift.differences.items()))
                if drift.apply_blocked:
                    hint = '; param_drift=apply cannot change them now either (%s)' % drift.apply_blocked
                else:
                    hint = ', or use param_drift=apply'
                self.warnings.append('%s is already loaded with other parameter values: %s. Parameters apply '
                                     'only when a module is loaded: unload it (state=absent) and load it again '
                                     'to change them%s' % (drift.module, listed, hint))

    def _locks(self, etc_modules):
        """The locks of the directories persistence writes."""
        from ansible_collections.kernel.kmod.plugins.module_utils.load.persistence import directories
        from ansible_collections.kernel.kmod.plugins.module_utils.trust import writable_warnings
        dirs = directories(self.system.root, etc_modules)
        self.warnings.extend(writable_warnings(dirs, 'kmod_load'))
        return self.system.config_locks(dirs, 'kmod_load', shared=self.check_mode)

    def _plan_files(self, release, builtin, etc_modules):
        from ansible_collections.kernel.kmod.plugins.module_utils.files import read_current
        from ansible_collections.kernel.kmod.plugins.module_utils.load.persistence import (
            other_boot_entries, plan_persistence,
        )
        req, root = self.req, self.system.root
        changes = []
        done = set()
        pending = {}
        for named in self.named:
            name = _persistent_name(named.name, named.plan.match if named.plan is not None else None)
            if name in done:
                continue
            done.add(name)
            planned = plan_persistence(name, req.options, req.persistent, root=root, etc_modules=etc_modules,
                                       current=lambda path: pending[path] if path in pending else read_current(path))
            for change in planned.changes:
                # a file two names change (/etc/modules): one change, from what was there to the last content
                if change.path in pending:
                    first = [c for c in changes if c.path == change.path][0]
                    first.new = change.new
                else:
                    changes.append(change)
                pending[change.path] = change.new
            named.persistence = planned.entries()
            named.boot_options = planned.boot_options
            self.report['persistence'].extend(named.persistence)
            self.warnings.extend(planned.warnings)
            if req.persistent == 'present' and req.options and name in builtin:
                self.warnings.append('%s is built into kernel %s: modprobe.d options do not reach it; set them on '
                                     'the kernel command line as %s.PARAM=VALUE' % (name, release, name))
            if req.persistent == 'absent':
                # a file of ours that is removed no longer loads it; a foreign namesake still does
                removed = [change.path for change in planned.changes if change.new is None]
                others = other_boot_entries(name, root, skip=removed)
                if others:
                    self.warnings.append('%s is still loaded at boot by %s' % (name, ', '.join(others)))
        if len(self.named) == 1:
            self.report['boot_options'] = self.named[0].boot_options
        return changes

    # -- acting, once every name is planned ------------------------------

    def add_outcome(self, named, outcome):
        """Merge one name's RunResult into the aggregate keys and add its entry."""
        named.outcome = outcome
        data = outcome.as_dict()
        report = self.report
        for key in ('inserted', 'deleted'):
            report[key].extend(data[key])
        for key in ('live', 'builtin', 'not_loaded', 'missing_hardware'):
            for module in data[key]:
                _add_once(report[key], module)
        report['commands'].extend(data['commands'])
        self.warnings.extend(data['warnings'])
        report['results'].append(named.entry(self.req.options))

    def roll_back(self):
        """After a failure: with rollback, remove what this task inserted and
        the modules its install commands loaded, newest first (nothing is
        inserted or run in check mode)."""
        commands = [c for c in self.report['commands'] if c['action'] == 'install' and c['rc'] == 0]
        if not self.req.rollback or self.check_mode or not (self.report['inserted'] or commands):
            return
        by_command = set(c['module'] for c in commands)
        inserted = set(self.report['inserted'])
        order = []
        for named in self.named:
            for step in named.plan.steps if named.plan is not None else ():
                done = step.name in (inserted if step.action == 'insert' else
                                     by_command if step.action == 'install' else ())
                if done and step.name not in order:
                    order.append(step.name)
        order += [name for name in self.report['inserted'] if name not in order]
        removed, warnings = roll_back(order, self.system.calls)
        self.report['rolled_back'] = removed
        self.warnings.extend(warnings)
        for command in commands:
            if command['module'] in removed:
                self.warnings.append("rollback removed %s, which its install command '%s' loaded; anything else "
                                     "the command did is not undone" % (command['module'], command['command']))
            else:
                self.warnings.append("rollback does not undo install commands: '%s' (%s)"
                                     % (command['command'], command['module']))

    def _apply_drift(self, named, outcome):
        """param_drift=apply: write the writable parameters, reload the
        modules whose read-only parameters differ (predicted in check mode)."""
        calls, kernel = (None, None) if self.check_mode else (self.system.calls, self.system.kernel)
        for drift in named.drifts:
            for param, value in drift.writes:
                if calls is not None:
                    calls.set_param(drift.module, param, value)
                    now = kernel.module_params(drift.module).get(param)
                    if now is None or not same_value(value, now):
                        raise KmodError('wrote %s=%s to /sys/module/%s/parameters/%s, but it reads back %r'
                                        % (param, value, drift.module, param, now), module=drift.module)
                named.params_written.append({'module': drift.module, 'param': param, 'value': value})
        for plan, restore in named.reloads:
            module = plan.request
            if calls is not None:
                calls.delete(module)
                try:
                    run_load(plan, calls, runner=self.system.runner, force=self.req.force)
                except KmodError as exc:
                    exc.msg = '%s; %s' % (exc.msg, self._put_back(module, restore))
                    exc.result = outcome
                    raise
            named.reloaded.append(module)
        self.report['params_written'].extend(named.params_written)
        self.report['reloaded'].extend(named.reloaded)

    def _put_back(self, module, restore):
        """After the kernel refused a reload's new parameters: load the
        module again with the values it had (rollback), and say what the
        kernel holds now."""
        unloaded = '%s was unloaded to be reloaded with its new parameters' % module
        if restore is None:
            return unloaded + ' and is not loaded now' + ('' if self.req.rollback else ' (rollback is off)')
        try:
            run_load(restore, self.system.calls, runner=self.system.runner, force=self.req.force)
        except KmodError as exc:
            return '%s, and loading it again as it was failed too (%s): it is not loaded now' % (unloaded, exc.msg)
        options = ' '.join(step.options for step in restore.steps if step.options)
        return '%s; rollback loaded it again as it was (%s)' % (unloaded, options or 'no parameters')

    def _act(self):
        req, system = self.req, self.system
        unload = req.state == 'absent'
        for named in self.named:
            plan = named.plan
            self.failing = named
            if plan is None:
                outcome = UnloadResult(named.name)
            elif self.check_mode:
                outcome = planned_result(plan, unload=unload)
            elif unload:
                outcome = run_unload(plan, system.calls, runner=system.runner, wait=req.wait or False)
            else:
                outcome = run_load(plan, system.calls, runner=system.runner, force=req.force,
                                   allow_missing_hardware=req.allow_missing_hardware,
                                   trusted_only=is_path(named.name) and not req.allow_untrusted)
            if not unload:
                self._apply_drift(named, outcome)
            self.failing = None
            if plan is not None and unload:
                for module in plan.not_loaded:
                    _add_once(outcome.not_loaded, module)
            self.add_outcome(named, outcome)
        if unload:
            self.report['not_loaded'] = sorted(self.report['not_loaded'])


def _persistent_name(request, plan_match):
    """The one module name the persistence files of `request` are about."""
    if is_path(request):
        raise KmodError('persistent needs a module name, not the file path %s' % request, module=request)
    names = list(plan_match.names) if plan_match is not None else [alias_name(request)]
    if len(names) != 1:
        raise KmodError('persistent needs a name that means one module; %s means %s'
                        % (request, ', '.join(names)), module=request)
    return names[0]
