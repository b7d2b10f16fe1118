# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the whole configuration says about a module once a file is written.

modprobe reads every modprobe.d file in basename order and the kernel
command line last (config.precedence, config.modprobe).  For a blacklist
task that means:
- a ``blacklist NAME`` line anywhere counts, whichever file it is in, and
  ``modprobe.blacklist=NAME`` on the command line adds one; nothing can
  lift a blacklist but removing every such line;
- of the ``install`` lines matching NAME only the first one counts, so an
  earlier one with another command makes ``install NAME /bin/false`` dead;
- a ``softdep`` line for NAME makes modprobe load the soft dependencies and
  the module itself instead of running its install command;
- a file whose basename an earlier directory also has is never read.
Boot entries that ask for the module anyway are reported too: modules-load.d
and /etc/modules, and ``modules-load=`` on the command line (systemd-modules-load
applies blacklists, so it skips a blacklisted module, but it runs the install
command of a disabled one, which fails the service), and initramfs-tools'
``/etc/initramfs-tools/modules``, which is loaded with plain modprobe at
early boot, where a blacklist does not stop a module asked for by name.
"""

import os

from ansible_collections.kernel.kmod.plugins.module_utils.config.cmdline import parse_cmdline, split_words
from ansible_collections.kernel.kmod.plugins.module_utils.config.modprobe import CMDLINE_FILE, ModprobeConfig
from ansible_collections.kernel.kmod.plugins.module_utils.config.modules_load import (
    load_boot_modules, parse_etc_modules_text,
)
from ansible_collections.kernel.kmod.plugins.module_utils.config.precedence import (
    CONF_SUFFIX, ConfigFile, host_path, modprobe_files, MODPROBE_DIRS, read_text, resolve_in_root,
)
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.fnmatch_glibc import fnmatch

INITRAMFS_TOOLS_MODULES = '/etc/initramfs-tools/modules'
# Commands that make an install line stop a module: it is never inserted.
DISABLING_COMMANDS = ('/bin/false', '/usr/bin/false', 'false', '/bin/true', '/usr/bin/true', 'true')
# Configuration that is gone at the next boot: it does not make our line redundant.
_VOLATILE = ('/run/', CMDLINE_FILE)


def where(directive):
    return '%s:%d' % (directive.file, directive.line)


def disables(command):
    """True when an install command keeps the module out (runs false or true alone)."""
    return command.strip(' \t') in DISABLING_COMMANDS


def is_volatile(directive):
    return directive.file == CMDLINE_FILE or directive.file.startswith('/run/')


def read_position(root, path):
    """Why a modprobe.d file at `path` (inside root) would not be read, or None.

    Not read: outside the modprobe.d directories, a name modprobe skips, or
    masked by a file of the same basename in an earlier directory.
    """
    directory, base = os.path.split(path)
    if directory not in MODPROBE_DIRS:
        return '%s is not in a directory modprobe reads (%s)' % (path, ', '.join(MODPROBE_DIRS))
    if base.startswith('.') or not base.endswith(CONF_SUFFIX) or base == CONF_SUFFIX:
        return '%s is not read by modprobe: only names ending in .conf and not starting with "." are' % path
    real = resolve_in_root(root, path)
    for entry in modprobe_files(root=root).files:
        earlier = MODPROBE_DIRS.index(os.path.dirname(entry.path)) < MODPROBE_DIRS.index(directory)
        if entry.name == base and entry.real != real and earlier:
            return '%s is masked by %s, which has the same name in an earlier directory' % (path, entry.path)
    return None


def config_after(root, path, text, cmdline):
    """The ModprobeConfig once `path` (inside root) holds `text` (None: removed).

    cmdline: a KernelCmdline or None.  A path modprobe would not read adds
    nothing.
    """
    config = ModprobeConfig()
    listing = modprobe_files(root=root)
    config.warnings.extend(listing.warnings)
    entries = dict((f.name, f) for f in listing.files)
    base = os.path.basename(path)
    readable = read_position(root, path) is None
    if readable:
        entries.pop(base, None)
    for name in sorted(set(entries) | ({base} if readable and text is not None else set())):
        if readable and name == base:
            config.add_text(text, path)
            continue
        entry = entries[name]
        if entry.null:
            continue
        try:
            config.add_text(read_text(entry), entry.path)
        except KmodError as exc:
            config.warnings.append(exc.msg)
    if cmdline is not None:
        config.add_cmdline(cmdline)
    return config


class ModuleReport(object):
    """What the configuration says about one module, apart from `own` (the
    file the task writes).

    blacklisted_by / disabled_by: 'FILE:LINE' of other blacklist lines and
    disabling install lines ('/proc/cmdline:1' for the command line);
    undone_by: sentences, each naming a FILE:LINE that makes the task's
    lines ineffective; boot_entries: 'FILE:LINE' of entries that ask for
    the module at boot.
    """

    def __init__(self, name):
        self.name = name
        self.blacklisted_by = []
        self.disabled_by = []
        self.undone_by = []
        self.boot_entries = []
        self._durable_blacklist = False
        self._durable_disable = False

    def covered(self, kind):
        """True when a lasting file other than ours already has a line of this kind."""
        return self._durable_blacklist if kind == 'blacklist' else self._durable_disable

    def as_dict(self):
        return {'blacklisted_by': list(self.blacklisted_by), 'disabled_by': list(self.disabled_by),
                'undone_by': list(self.undone_by), 'boot_entries': list(self.boot_entries)}


def others(config, name, own, kernel_blacklist=()):
    """A ModuleReport of the blacklist and disable lines outside `own`."""
    report = ModuleReport(name)
    for directive in config.blacklists:
        if directive.module == name and directive.file != own:
            report.blacklisted_by.append(where(directive))
            report._durable_blacklist = report._durable_blacklist or not is_volatile(directive)
    if name in kernel_blacklist:
        report.blacklisted_by.append('%s:1 (module_blacklist=, enforced by the kernel)' % CMDLINE_FILE)
    for directive in config.installs:
        if directive.file != own and fnmatch(directive.module, name) and disables(directive.command):
            report.disabled_by.append(where(directive))
            report._durable_disable = report._durable_disable or not is_volatile(directive)
    return report


def undoing(config, name, own, disable):
    """Sentences naming what keeps the lines of `own` from working."""
    out = []
    if not disable:
        return out
    first = None
    for directive in config.installs:
        if fnmatch(directive.module, name):
            first = directive
            break
    if first is not None and first.file != own and not disables(first.command):
        out.append('%s: "install %s %s" comes first, and modprobe runs only the first install line of a module, '
                   'so %s still loads' % (where(first), first.module, first.command, name))
    for directive in config.softdeps:
        if fnmatch(directive.module, name):
            out.append('%s: a softdep line for %s makes modprobe load it (and its soft dependencies) instead of '
                       'running its install command' % (where(directive), name))
            break
    return out


def remaining(report, state):
    """For state absent: sentences naming what still blacklists or disables the module."""
    if state != 'absent':
        return []
    out = []
    if report.blacklisted_by:
        out.append('%s is still blacklisted by %s' % (report.name, ', '.join(report.blacklisted_by)))
    if report.disabled_by:
        out.append('%s is still disabled by %s' % (report.name, ', '.join(report.disabled_by)))
    return out


def cmdline_boot_modules(cmdline_text):
    """{name: '/proc/cmdline:1 (WORD)'} of modules-load= and rd.modules-load= words."""
    out = {}
    if not cmdline_text:
        return out
    for word, closed in split_words(cmdline_text.split('\0', 1)[0]):
        key, eq, value = word.replace('"', '').partition('=')
        if eq and key in ('modules-load', 'modules_load', 'rd.modules-load', 'rd.modules_load'):
            for item in value.split(','):
                item = item.strip().replace('-', '_')
                if item and closed:
                    out.setdefault(item, '%s:1 (%s)' % (CMDLINE_FILE, word))
    return out


def boot_entries(root, cmdline_text=None):
    """{name: ['FILE:LINE ...']} of what asks for a module at boot, and warnings."""
    found = load_boot_modules(root=root)
    out = {}
    for entry in found.modules:
        out.setdefault(entry.name, []).append('%s:%d' % (entry.file, entry.line))
    initramfs_list = host_path(root, INITRAMFS_TOOLS_MODULES)
    if os.path.isfile(initramfs_list):
        try:
            text = read_text(ConfigFile(INITRAMFS_TOOLS_MODULES, initramfs_list, 'modules'))
        except KmodError as exc:
            found.warnings.append(exc.msg)
        else:
            modules, _warnings = parse_etc_modules_text(text, INITRAMFS_TOOLS_MODULES)
            for entry in modules:
                out.setdefault(entry.name, []).append('%s:%d' % (entry.file, entry.line))
    for name, text in cmdline_boot_modules(cmdline_text).items():
        out.setdefault(name, []).append(text)
    return out, found.warnings


def parse_kernel_cmdline(text):
    """The KernelCmdline of a command line text ('' when None)."""
    return parse_cmdline(text or '')
