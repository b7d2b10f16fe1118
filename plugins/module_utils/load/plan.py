# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What `modprobe NAME` and `modprobe -r NAME` would do, as a list of steps.

Pure planning: the module tree, the modprobe.d configuration, the kernel
command line and a snapshot of the running kernel go in; an ordered list of
Step objects comes out.  Nothing here touches the kernel or runs a command.

Loading follows libkmod (kmod 30 to 34), checked against `modprobe -D`:
- the name is looked up in lookup.py's order, with modprobe.d install/remove
  commands for the exact name between modules.symbols and modules.alias;
- a module reached through an alias (config alias, modules.alias,
  `symbol:`, builtin alias) is skipped when blacklisted; use_blacklist (-b)
  skips a blacklisted module asked for by name too; dependencies and softdeps
  are never filtered;
- a module already live or built in is reported and nothing else is done;
- otherwise, for each dependency (providers first) and then the module:
  its pre-softdeps (each a full plan of its own, errors ignored), itself,
  its post-softdeps; a module with softdeps ignores its install command;
  ignore_install (-i) drops the requested module's install command and
  softdeps (not those of its dependencies);
- options: every `options` line for the module name or the alias it was
  reached by, in config order, then the kernel command line's `mod.param=`,
  then the user's options (the requested module only); `$CMDLINE_OPTS` in an
  install command is replaced by that text.
Where kmod repeats a module (two softdeps sharing a dependency), the plan
keeps its first place only.

Removal follows modprobe -r: post-softdeps (in reverse), holders when asked,
the module itself (its remove command instead, if any), then its
dependencies that nothing else holds any more, then pre-softdeps (in
reverse).  Errors of softdeps are not fatal.
"""

import errno
import os

from ansible_collections.kernel.kmod.plugins.module_utils.config.modprobe import CMDLINE_FILE
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError, ModuleNotFound
from ansible_collections.kernel.kmod.plugins.module_utils.names import (
    MODULE_SUFFIXES, alias_name, is_path, module_name, module_name_from_path,
)
from ansible_collections.kernel.kmod.plugins.module_utils.tree.lookup import Match, lookup

# Lookup sources that reach a module through an alias: blacklists bind them,
# and `options ALIAS ...` lines apply to what they find.
ALIAS_SOURCES = ('config-alias', 'modules.symbols', 'modules.alias', 'modules.builtin.alias')

# Sources lookup.py tries after modprobe.d install/remove commands would have.
_AFTER_COMMANDS = ('modules.alias', 'modules.builtin', 'modules.builtin.alias')

ACTIONS = ('insert', 'builtin', 'install', 'delete', 'remove', 'live')


class Step(object):
    """One thing to do (or to report) for one module.

    action: 'insert' (the .ko at path, with options), 'builtin' (built into
    the kernel: nothing to do), 'install' (run command, a modprobe.d install
    command with $CMDLINE_OPTS substituted), 'delete' (delete_module(name)),
    'remove' (run command, a modprobe.d remove command), 'live' (already in
    the kernel: nothing to do).
    softdep: its failure is only a warning: here because of a softdep, or
    (unloading) a dependency removed because nothing uses it any more;
    target: one of the modules the user asked for.
    """

    __slots__ = ('action', 'name', 'path', 'options', 'command', 'softdep', 'target')

    def __init__(self, action, name, path=None, options='', command=None, softdep=False, target=False):
        if action not in ACTIONS:
            raise ValueError('unknown step action %r' % (action,))
        self.action = action
        self.name = name
        self.path = path
        self.options = options
        self.command = command
        self.softdep = softdep
        self.target = target

    def as_dict(self):
        return dict((k, getattr(self, k)) for k in self.__slots__)

    def __eq__(self, other):
        return isinstance(other, Step) and self.as_dict() == other.as_dict()

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return 'Step(%s)' % ', '.join('%s=%r' % (k, getattr(self, k)) for k in self.__slots__)


class LoadPlan(object):
    """request: the name given; match: the lookup.Match (None for a path);
    steps: Step list in execution order; blacklisted: requested modules
    skipped because of a blacklist; warnings: softdeps that resolve to
    nothing, and the like."""

    def __init__(self, request, match):
        self.request = request
        self.match = match
        self.steps = []
        self.blacklisted = []
        self.warnings = []

    @property
    def changes(self):
        """The steps that change something (insert and install)."""
        return [s for s in self.steps if s.action in ('insert', 'install')]

    def as_dict(self):
        return {'request': self.request, 'steps': [s.as_dict() for s in self.steps],
                'blacklisted': list(self.blacklisted), 'warnings': list(self.warnings)}


class UnloadPlan(object):
    """request, match, steps as in LoadPlan; not_loaded: requested modules
    that are not in the kernel (nothing to do); warnings: softdeps left in
    the kernel because they are in use, and the like."""

    def __init__(self, request, match):
        self.request = request
        self.match = match
        self.steps = []
        self.not_loaded = []
        self.warnings = []

    @property
    def changes(self):
        """The steps that change something (delete and remove)."""
        return [s for s in self.steps if s.action in ('delete', 'remove')]

    def as_dict(self):
        return {'request': self.request, 'steps': [s.as_dict() for s in self.steps],
                'not_loaded': list(self.not_loaded), 'warnings': list(self.warnings)}


# ---------------------------------------------------------------- lookup

class _Found(object):
    """A module a lookup found: its name, the alias it was reached by
    (None for a name lookup), and a command that lookup gave it."""

    __slots__ = ('name', 'alias', 'install', 'remove', 'builtin', 'path')

    def __init__(self, name, alias=None, install=None, remove=None, builtin=False, path=None):
        self.name = name
        self.alias = alias
        self.install = install
        self.remove = remove
        self.builtin = builtin
        self.path = path

    @property
    def key(self):
        return (self.name, self.alias)


def _command_lookup(config, alias):
    """Match for the first install (then remove) line naming exactly alias."""
    for kind, commands in (('install', config.installs), ('remove', config.removes)):
        for d in commands:
            if d.module == alias:
                return Match([module_name(d.module)], 'config-' + kind), d.command
    return None, None


def find_modules(tree, config, name):
    """(Match, [_Found]) for a name as modprobe looks it up, (None, []) if unknown.

    A name starting with '/' or './' is a module file: its name comes from
    the file name and its dependencies from modules.dep.
    """
    if is_path(name):
        modname = module_name_from_path(name)
        if modname is None:
            return None, []
        return Match([modname], 'path'), [_Found(modname, path=os.path.abspath(name))]
    patterns = {}

    def config_aliases(alias):
        found = []
        for a in config.aliases_for(alias):
            patterns.setdefault(a.module, a.pattern)
            found.append(a.module)
        return found

    match = lookup(tree, name, config_aliases=config_aliases)
    if match is None or match.source in _AFTER_COMMANDS:
        command_match, command = _command_lookup(config, alias_name(name))
        if command_match is not None:
            only = command_match.names[0]
            if command_match.source == 'config-install':
                return command_match, [_Found(only, install=command)]
            return command_match, [_Found(only, remove=command)]
    if match is None:
        return None, []
    found = []
    seen = set()
    for modname in match.names:
        if modname in seen:
            continue
        seen.add(modname)
        if match.source == 'config-alias':
            alias = patterns.get(modname)
        elif match.source in ALIAS_SOURCES:
            alias = alias_name(name)
        else:
            alias = None
        found.append(_Found(modname, alias=alias, builtin=match.builtin))
    return match, found


# ---------------------------------------------------------------- shared view of the config

class _Settings(object):
    """The parts of the configuration planning asks about, with the kernel
    command line given apart (it replaces the one the config carries)."""

    def __init__(self, tree, config, cmdline, builtin, ignore_softdeps):
        self.tree = tree
        self.config = config
        self.cmdline = cmdline
        self.builtin = frozenset(module_name(n) for n in builtin)
        self.ignore_softdeps = ignore_softdeps
        self._deps = {}

    def _from_config(self, directives):
        if self.cmdline is None:
            return directives
        return [d for d in directives if d.file != CMDLINE_FILE]

    def options(self, name, alias):
        parts = [o.options for o in self._from_config(self.config.options)
                 if o.options and (o.module == name or (alias is not None and o.module == alias))]
        if self.cmdline is not None:
            parts += [o.options for o in self.cmdline.options
                      if o.options and (o.module == name or (alias is not None and o.module == alias))]
        return ' '.join(parts)

    def is_blacklisted(self, name):
        if any(b.module == name for b in self._from_config(self.config.blacklists)):
            return True
        return self.cmdline is not None and name in self.cmdline.blacklist

    def is_builtin(self, found):
        return found.builtin or found.name in self.builtin or self.tree.is_builtin(found.name)

    def softdeps(self, name):
        if self.ignore_softdeps:
            return [], []
        return self.config.softdeps_for(name)

    def dep_entry(self, name):
        """(path or None, [dependency paths in load order]) from modules.dep."""
        if name not in self._deps:
            entry = self.tree.dep_entry(name)
            if entry is None:
                self._deps[name] = (None, [])
            else:
                # modules.dep lists users before providers: load the other way round.
                self._deps[name] = (entry[0], list(reversed(entry[1])))
        return self._deps[name]

    def resolve_softdeps(self, owner, names, warnings):
        found = []
        for dep in names:
            _match, modules = find_modules(self.tree, self.config, dep)
            if not modules:
                warnings.append('softdep %s of module %s: not found in directory %s' % (
                    dep, owner, self.tree.module_dir))
            found.extend(modules)
        return found


# ---------------------------------------------------------------- loading

class _LoadList(object):
    """libkmod's probe list: modules in load order, each with its flags."""

    def __init__(self, settings, warnings):
        self.settings = settings
        self.warnings = warnings
        self.order = []         # _Found, possibly repeated
        self.visited = set()    # keys whose own plan was built
        self.required = set()   # names whose failure fails the load
        self.ignore_command = {}  # key -> bool, the last word wins as in kmod

    def _append(self, found, ignore_command):
        self.order.append(found)
        self.ignore_command[found.key] = ignore_command

    def add_plan(self, found, required, ignore_command):
        """A module with its dependencies and softdeps (kmod: get_probe_list)."""
        if found.key in self.visited:
            return
        self.visited.add(found.key)
        path, deps = self.settings.dep_entry(found.name)
        deps = [_Found(module_name_from_path(p), path=p) for p in deps]
        if required:
            self.required.add(found.name)
            self.required.update(d.name for d in deps)
        for dep in deps:
            self.add_with_softdeps(dep)
        if ignore_command:
            self._append(found, True)
        else:
            self.add_with_softdeps(found)

    def add_with_softdeps(self, found):
        """Pre-softdeps, the module, post-softdeps (kmod: fill_softdep)."""
        pre_names, post_names = self.settings.softdeps(found.name)
        pre = self.settings.resolve_softdeps(found.name, pre_names, self.warnings)
        post = self.settings.resolve_softdeps(found.name, post_names, self.warnings)
        for dep in pre:
            self.add_plan(dep, False, False)
        # A module with softdeps is inserted, never replaced by its install command.
        self._append(found, bool(pre or post))
        for dep in post:
            self.add_plan(dep, False, False)


def _load_step(settings, found, ignore_command, target, required, user_options, live):
    """The Step for one module of the list, or None when there is nothing to insert."""
    name = found.name
    softdep = not required
    if name in live:
        return Step('live', name, softdep=softdep, target=target)
    if settings.is_builtin(found):
        return Step('builtin', name, softdep=softdep, target=target)
    config_options = settings.options(name, found.alias)
    options = config_options
    if target and user_options:
        options = (options + ' ' + user_options) if options else user_options
    command = None
    if not ignore_command:
        command = found.install if found.install is not None else settings.config.install_command(name)
    if command is not None:
        # modprobe.d's own options go in as kmod puts them, raw: they are
        # root's configuration.  The task's come from inventory data: each
        # goes in as one shell word, so '$(...)' or a backtick stays text.
        shell_options = config_options
        if target and user_options:
            quoted = ' '.join(shell_word(word) for word in option_words(user_options))
            shell_options = (shell_options + ' ' + quoted) if shell_options else quoted
        return Step('install', name, options=options, command=command.replace('$CMDLINE_OPTS', shell_options),
                    softdep=softdep, target=target)
    path = found.path or settings.dep_entry(name)[0]
    if path is None:
        return None
    return Step('insert', name, path=path, options=options, softdep=softdep, target=target)


def _not_found(tree, name):
    where = tree.module_dir or os.path.join(tree.root, 'lib/modules', tree.release)
    return ModuleNotFound('Module %s not found in directory %s' % (name, where), errno=errno.ENOENT, module=name)


def plan_load(tree, config, name, cmdline=None, user_options='', live=frozenset(), builtin=frozenset(),
              ignore_install=False, use_blacklist=False, ignore_softdeps=False):
    """The LoadPlan of `modprobe [-i] [-b] NAME USER_OPTIONS`.

    tree: tree.module_dir.ModuleTree; config: config.modprobe.ModprobeConfig; cmdline:
    cmdline.KernelCmdline, or None to use the command line the config
    carries; live: names of modules live in the kernel; builtin: names the
    running kernel has built in (the tree's modules.builtin counts too);
    ignore_softdeps: plan as if there were no softdep lines.
    Raises ModuleNotFound when nothing matches NAME, or when a module that
    must be loaded has no file, no install command and is not built in.
    """
    settings = _Settings(tree, config, cmdline, builtin, ignore_softdeps)
    live = frozenset(module_name(n) for n in live)
    match, targets = find_modules(tree, config, name)
    if not targets:
        raise _not_found(tree, name)
    plan = LoadPlan(name, match)
    done = set()
    for found in targets:
        if found.name in done:
            # already planned as a dependency of an earlier match: kmod then
            # finds it live and adds nothing (not even the user's options)
            for step in plan.steps:
                step.target = step.target or step.name == found.name
            continue
        steps = _plan_one_target(settings, plan, found, user_options, live, ignore_install, use_blacklist)
        for step in steps:
            if step.name not in done:
                done.add(step.name)
                plan.steps.append(step)
    return plan


def _plan_one_target(settings, plan, found, user_options, live, ignore_install, use_blacklist):
    if found.name in live:
        return [Step('live', found.name, target=True)]
    if settings.is_builtin(found):
        return [Step('builtin', found.name, target=True)]
    if settings.is_blacklisted(found.name) and (found.alias is not None or use_blacklist):
        plan.blacklisted.append(found.name)
        return []
    probe = _LoadList(settings, plan.warnings)
    probe.add_plan(found, True, ignore_install)
    steps = []
    seen = set()
    for item in probe.order:
        if item.name in seen:
            continue
        seen.add(item.name)
        target = item.key == found.key
        step = _load_step(settings, item, probe.ignore_command[item.key], target,
                          item.name in probe.required, user_options, live)
        if step is not None:
            steps.append(step)
        elif item.name in probe.required:
            raise _not_found(settings.tree, item.name)
        else:
            plan.warnings.append('softdep %s: no module file, install command or builtin module' % item.name)
    return steps


def plan_insmod(path, user_options='', live=frozenset()):
    """The LoadPlan of `insmod PATH USER_OPTIONS`: that file alone, with
    the user's options only: no dependency lookup, no modprobe.d rules.
    A module of that name already live is reported as live.  Raises
    ModuleNotFound when path is no module file name (.ko, .ko.xz, ...)."""
    modname = module_name_from_path(path)
    if modname is None:
        raise ModuleNotFound('%s is no module file (a name ending in %s)' % (path, ', '.join(MODULE_SUFFIXES)),
                             errno=errno.ENOENT, path=path, module=path)
    plan = LoadPlan(path, Match([modname], 'path'))
    if modname in frozenset(module_name(n) for n in live):
        plan.steps.append(Step('live', modname, target=True))
    else:
        plan.steps.append(Step('insert', modname, path=path, options=user_options or '', target=True))
    return plan


def plan_rmmod(path, loaded):
    """The UnloadPlan of `rmmod PATH`: the module named by the file, alone
    (no dependencies, no modprobe.d rules); loaded as for plan_unload."""
    modname = module_name_from_path(path)
    if modname is None:
        raise ModuleNotFound('%s is no module file (a name ending in %s)' % (path, ', '.join(MODULE_SUFFIXES)),
                             errno=errno.ENOENT, path=path, module=path)
    plan = UnloadPlan(path, Match([modname], 'path'))
    info = (loaded or {}).get(modname)
    if loaded is not None and modname not in loaded:
        plan.not_loaded.append(modname)
    elif info and ((info.get('refcnt') or 0) > 0 or info.get('holders')):
        holders = [module_name(h) for h in info.get('holders') or []]
        raise KmodError('Module %s is in use by: %s' % (modname, ' '.join(holders)) if holders
                        else 'Module %s is in use' % modname, errno=errno.EBUSY, module=modname)
    else:
        plan.steps.append(Step('delete', modname, target=True))
    return plan


# ---------------------------------------------------------------- unloading

class _Unloader(object):
    """modprobe -r over a snapshot of the kernel: predicts reference counts
    as the planned deletions go, so dependencies that become unused go too."""

    def __init__(self, settings, plan, loaded, ignore_remove, remove_dependencies, remove_holders, wait):
        self.settings = settings
        self.plan = plan
        self.loaded = loaded
        self.ignore_remove = ignore_remove
        self.remove_dependencies = remove_dependencies
        self.remove_holders = remove_holders
        self.wait = wait
        self.removed = set()
        self.active = set()  # modules being worked on: breaks softdep cycles

    def is_loaded(self, name):
        return self.loaded is None or (name in self.loaded and name not in self.removed)

    def refcnt(self, name):
        """Predicted reference count, None when unknown."""
        if self.loaded is None or name not in self.loaded:
            return None
        info = self.loaded[name] or {}
        count = info.get('refcnt')
        if count is None:
            return None
        gone = [h for h in (info.get('holders') or []) if module_name(h) in self.removed]
        return max(count - len(gone), 0)

    def holders(self, name):
        if self.loaded is None or name not in self.loaded:
            return []
        return [module_name(h) for h in ((self.loaded[name] or {}).get('holders') or [])
                if module_name(h) not in self.removed]

    def _delete(self, name, softdep, target):
        self.removed.add(name)
        self.plan.steps.append(Step('delete', name, softdep=softdep, target=target))

    def remove_list(self, modules):
        """Softdeps or holders, last first (kmod: rmmod_do_modlist)."""
        for found in reversed(modules):
            self.remove(found, softdep=True, target=False, quiet_builtin=True)

    def remove(self, found, softdep, target, quiet_builtin):
        """One module and what goes with it (kmod: rmmod_do_module).

        Returns False when it stays (not loaded, builtin or in use)."""
        name = found.name
        if name in self.active or name in self.removed:
            return True
        settings = self.settings
        pre = post = []
        command = None
        if not self.ignore_remove:
            pre_names, post_names = settings.softdeps(name)
            pre = settings.resolve_softdeps(name, pre_names, self.plan.warnings)
            post = settings.resolve_softdeps(name, post_names, self.plan.warnings)
            command = found.remove if found.remove is not None else settings.config.remove_command(name)
        if command is None:
            if settings.is_builtin(found):
                if quiet_builtin:
                    return False
                raise KmodError('Module %s is builtin.' % name, errno=errno.ENOENT, module=name)
            if not self.is_loaded(name):
                if target:
                    self.plan.not_loaded.append(name)
                return False
        self.active.add(name)
        try:
            self.remove_list(post)
            if self.remove_holders and command is None:
                for holder in reversed(self.holders(name)):
                    self.remove(_Found(holder), softdep=softdep, target=False, quiet_builtin=True)
            if command is None and not self.wait and (self.refcnt(name) or 0) > 0:
                self._in_use(name, softdep)
                return False
            if command is not None:
                self.removed.add(name)
                self.plan.steps.append(Step('remove', name, command=command, softdep=softdep, target=target))
            else:
                self._delete(name, softdep, target)
                if self.remove_dependencies:
                    self.remove_unused_dependencies(name)
            self.remove_list(pre)
        finally:
            self.active.discard(name)
        return True

    def _in_use(self, name, softdep):
        holders = self.holders(name)
        msg = 'Module %s is in use by: %s' % (name, ' '.join(holders)) if holders else 'Module %s is in use' % name
        if not softdep:
            raise KmodError(msg, errno=errno.EBUSY, module=name)
        self.plan.warnings.append(msg)

    def remove_unused_dependencies(self, name):
        # modules.dep lists users before providers: walking it in that order
        # lets a provider go once its last user went (kmod walks the other
        # way and leaves such providers loaded).
        load_order = self.settings.dep_entry(name)[1]
        for dep_path in reversed(load_order):
            dep = module_name_from_path(dep_path)
            # one being removed further up (a holder's dependency) goes in its own turn
            if dep in self.active or dep in self.removed:
                continue
            if self.is_loaded(dep) and self.refcnt(dep) == 0:
                # kmod ignores failures here, as it does for softdeps
                self._delete(dep, softdep=True, target=False)


def plan_unload(tree, config, name, cmdline=None, loaded=None, builtin=frozenset(), ignore_remove=False,
                remove_dependencies=True, remove_holders=False, wait=False):
    """The UnloadPlan of `modprobe -r [-i] NAME`.

    loaded: {name: {'refcnt': int or None, 'holders': [names]}} of the
    running kernel (KernelState.loaded() shape); None plans as if every
    module were loaded and unused (dependencies then stay: their use is
    unknown).  builtin: names the running kernel has built in.
    remove_holders: remove the modules holding it first (modprobe
    --remove-holders); wait: no in-use check (the caller waits for the
    count to drop, modprobe --wait).
    Raises ModuleNotFound when nothing matches NAME (a loaded module of that
    name with no file in the tree is still removed), KmodError 'Module NAME
    is builtin.' and 'Module NAME is in use by: X Y' (errno EBUSY).
    """
    settings = _Settings(tree, config, cmdline, builtin, ignore_softdeps=False)
    if loaded is not None and any(module_name(k) != k for k in loaded):
        loaded = dict((module_name(k), v) for k, v in loaded.items())
    match, targets = find_modules(tree, config, name)
    if not targets:
        modname = module_name(name) if not is_path(name) else module_name_from_path(name)
        if loaded is None or modname not in loaded:
            raise ModuleNotFound('Module %s not found.' % name, errno=errno.ENOENT, module=name)
        match, targets = Match([modname], 'loaded'), [_Found(modname)]
    plan = UnloadPlan(name, match)
    unloader = _Unloader(settings, plan, loaded, ignore_remove, remove_dependencies, remove_holders, wait)
    for found in targets:
        unloader.remove(found, softdep=False, target=True, quiet_builtin=False)
    return plan


def option_words(text):
    """The words of an option text as the kernel splits it: at blanks
    outside double quotes ('a="x y" b' -> ['a="x y"', 'b'])."""
    words, word, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char in ' \t\n' and not quoted:
            if word:
                words.append(''.join(word))
                word = []
            continue
        word.append(char)
    if word:
        words.append(''.join(word))
    return words


_SHELL_SAFE = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,:=+/@%')


def shell_word(word):
    """word quoted for /bin/sh so that it stays one literal argument."""
    if word and all(c in _SHELL_SAFE for c in word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"
