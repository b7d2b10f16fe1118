# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carry out a load or unload plan (load.plan) step by step.

The kernel is changed only through the `calls` object given (kernel.calls.
KernelCalls on a real host, a fake in tests); modprobe.d install and remove
commands run as kmod runs them: ``/bin/sh -c COMMAND`` with MODPROBE_MODULE
set to the module's name.  What was done is kept as plain data (RunResult).

Errors follow modprobe: a failing step of a module the user asked for, or of
a hard dependency on load, stops the run and is raised (the partial
RunResult rides along as ``exc.result``, so callers can say what changed
before the failure); a failing softdep step only warns; on unload a
dependency that cannot be removed (still used by another module) only warns,
as modprobe -r ignores it.  EEXIST on insert means already loaded: not an
error.  A module that is gone by the time it is deleted is not an error.
"""

import errno
import os
import subprocess

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError

SHELL = '/bin/sh'


class CommandError(KmodError):
    """An install or remove command of modprobe.d failed.

    command, rc, stdout, stderr: what ran and what it said (rc is None when
    the shell could not be started, negative when a signal killed it).
    """

    def __init__(self, msg, module=None, command=None, rc=None, stdout='', stderr=''):
        KmodError.__init__(self, msg, errno=errno.EINVAL, module=module)
        self.command = command
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def fail_kwargs(self):
        out = KmodError.fail_kwargs(self)
        out.update(command=self.command, rc=self.rc, stdout=self.stdout, stderr=self.stderr)
        return out


def run_shell(command, module):
    """Run one modprobe.d command like kmod's system(3) call, output captured.

    Returns (rc, stdout, stderr); rc is negative when a signal ended the shell.
    Raises OSError when /bin/sh cannot be started.
    """
    env = dict(os.environ, MODPROBE_MODULE=module)
    proc = subprocess.run([SHELL, '-c', command], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return (proc.returncode, proc.stdout.decode('utf-8', 'replace'),
            proc.stderr.decode('utf-8', 'replace'))


class RunResult(object):
    """What a run did (or, when built from a plan in check mode, would do).

    inserted / deleted: module names, in order; commands: dicts {'module',
    'action' ('install'/'remove'), 'command', 'rc', 'stdout', 'stderr'};
    live: modules already in the kernel (nothing to insert); builtin:
    modules built into the kernel; not_loaded: modules an unload found
    already gone; missing_hardware: modules the kernel refused with ENODEV
    or ENXIO (no device, no CPU feature for them) when that was allowed;
    warnings: strings (failed softdeps, dependencies left in use).
    """

    def __init__(self, request):
        self.request = request
        self.inserted = []
        self.deleted = []
        self.commands = []
        self.live = []
        self.builtin = []
        self.not_loaded = []
        self.missing_hardware = []
        self.warnings = []

    @property
    def changed(self):
        return bool(self.inserted or self.deleted or self.commands)

    def as_dict(self):
        return {
            'inserted': list(self.inserted),
            'deleted': list(self.deleted),
            'commands': [dict(c) for c in self.commands],
            'live': list(self.live),
            'builtin': list(self.builtin),
            'not_loaded': list(self.not_loaded),
            'missing_hardware': list(self.missing_hardware),
            'warnings': list(self.warnings),
        }


class LoadResult(RunResult):
    """The outcome of run_load."""


class UnloadResult(RunResult):
    """The outcome of run_unload."""


def _add_once(names, name):
    if name not in names:
        names.append(name)


def _run_command(step, kind, runner, result):
    """Run an install/remove step; a CommandError when it fails."""
    entry = {'module': step.name, 'action': kind, 'command': step.command, 'rc': None, 'stdout': '', 'stderr': ''}
    try:
        rc, out, err = runner(step.command, step.name)
    except OSError as exc:
        result.commands.append(entry)
        return CommandError("Could not run %s command '%s' for module %s: %s"
                            % (kind, step.command, step.name, exc.strerror or exc), module=step.name,
                            command=step.command)
    entry.update(rc=rc, stdout=out, stderr=err)
    result.commands.append(entry)
    if rc == 0:
        return None
    if rc < 0:
        why = 'killed by signal %d' % -rc
    else:
        why = 'retcode %d' % rc
    # kmod's words: "Error running install command '...' for module m: retcode 1"
    return CommandError("Error running %s command '%s' for module %s: %s" % (kind, step.command, step.name, why),
                        module=step.name, command=step.command, rc=rc, stdout=out, stderr=err)


def _give_up(exc, result):
    exc.result = result
    raise exc


# What the kernel answers when a driver finds nothing to drive.
MISSING_HARDWARE = (errno.ENODEV, errno.ENXIO)


def run_load(plan, calls, runner=None, force=False, allow_missing_hardware=False, trusted_only=False):
    """Carry out a LoadPlan; returns a LoadResult.

    calls: KernelCalls-like (insert(path, options, ignore_vermagic,
    ignore_modversions)); runner: callable (command, module) -> (rc, stdout,
    stderr), run_shell by default; force: ignore vermagic and modversions
    (modprobe -f); allow_missing_hardware: a module refused with ENODEV or
    ENXIO is listed in missing_hardware instead of failing; trusted_only:
    passed on to calls.insert (refuse module files that are not root's
    alone, judged on the descriptor loaded).  Raises the
    first error of a non-softdep step, with the partial LoadResult as its
    `result` attribute.
    """
    runner = runner or run_shell
    result = LoadResult(plan.request)
    for step in plan.steps:
        if step.action == 'live':
            _add_once(result.live, step.name)
        elif step.action == 'builtin':
            _add_once(result.builtin, step.name)
        elif step.action == 'insert':
            try:
                if trusted_only:
                    calls.insert(step.path, step.options or '', ignore_vermagic=force, ignore_modversions=force,
                                 trusted_only=True)
                else:
                    calls.insert(step.path, step.options or '', ignore_vermagic=force, ignore_modversions=force)
            except KmodError as exc:
                if exc.errno == errno.EEXIST:
                    _add_once(result.live, step.name)
                elif allow_missing_hardware and exc.errno in MISSING_HARDWARE:
                    _add_once(result.missing_hardware, step.name)
                elif step.softdep:
                    result.warnings.append('softdep %s not loaded: %s' % (step.name, exc.msg))
                else:
                    _give_up(exc, result)
            else:
                result.inserted.append(step.name)
        elif step.action == 'install':
            error = _run_command(step, 'install', runner, result)
            if error is not None:
                if step.softdep:
                    result.warnings.append('softdep %s not loaded: %s' % (step.name, error.msg))
                else:
                    _give_up(error, result)
        else:
            _give_up(KmodError('cannot carry out a %r step while loading %s' % (step.action, step.name),
                               module=step.name), result)
    return result


def run_unload(plan, calls, runner=None, wait=False):
    """Carry out an UnloadPlan; returns an UnloadResult.

    calls: KernelCalls-like (delete(name, wait)); runner as for run_load;
    wait: False, or True or a number of seconds to wait while a module the
    user asked for is in use (rmmod --wait), passed on to calls.delete.  Only a failure on a module the user asked for is raised
    (with the partial UnloadResult as its `result` attribute); dependencies
    and softdeps that cannot go are warnings, as modprobe -r ignores them.
    """
    runner = runner or run_shell
    result = UnloadResult(plan.request)
    for step in plan.steps:
        if step.action == 'live':
            continue
        if step.action == 'builtin':
            _add_once(result.builtin, step.name)
        elif step.action == 'delete':
            try:
                calls.delete(step.name, wait=wait if step.target else False)
            except KmodError as exc:
                if exc.errno == errno.ENOENT:
                    _add_once(result.not_loaded, step.name)
                elif step.target:
                    _give_up(exc, result)
                else:
                    result.warnings.append('%s %s not removed: %s'
                                           % ('softdep' if step.softdep else 'dependency', step.name, exc.msg))
            else:
                result.deleted.append(step.name)
        elif step.action == 'remove':
            error = _run_command(step, 'remove', runner, result)
            if error is not None and step.target:
                _give_up(error, result)
            elif error is not None:
                result.warnings.append('%s %s not removed: %s'
                                       % ('softdep' if step.softdep else 'dependency', step.name, error.msg))
        else:
            _give_up(KmodError('cannot carry out a %r step while unloading %s' % (step.action, step.name),
                               module=step.name), result)
    return result


def roll_back(inserted, calls):
    """Remove the modules a failed task inserted, newest first, so that the
    kernel is left as it was found; returns (removed names, warnings).

    inserted: module names in the order they went in; calls: KernelCalls-
    like.  A module that cannot go (something outside the task took hold of
    it meanwhile) stays, with a warning; one already gone is not an error.
    Install commands are not undone: what they did is not known.
    """
    removed = []
    warnings = []
    for name in reversed(inserted):
        try:
            calls.delete(name)
        except KmodError as exc:
            if exc.errno != errno.ENOENT:
                warnings.append('rollback could not remove %s: %s' % (name, exc.msg))
        else:
            removed.append(name)
    return removed, warnings


def planned_result(plan, unload=False):
    """What run_load (run_unload when `unload`) would report for `plan` if
    every step worked, for check mode: commands are listed with rc, stdout
    and stderr None."""
    result = UnloadResult(plan.request) if unload else LoadResult(plan.request)
    for step in plan.steps:
        if step.action == 'live':
            if not unload:
                _add_once(result.live, step.name)
        elif step.action == 'builtin':
            _add_once(result.builtin, step.name)
        elif step.action == 'insert':
            result.inserted.append(step.name)
        elif step.action == 'delete':
            result.deleted.append(step.name)
        elif step.action in ('install', 'remove'):
            result.commands.append({'module': step.name, 'action': step.action, 'command': step.command,
                                    'rc': None, 'stdout': None, 'stderr': None})
    return result
