# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The effective module configuration of a system, as plain data for facts.

modprobe.d (with the kernel command line), modules-load.d and /etc/modules,
every entry carrying the file and line that set it.
"""

from ansible_collections.kernel.kmod.plugins.module_utils.config.cmdline import parse_cmdline
from ansible_collections.kernel.kmod.plugins.module_utils.config.modprobe import load_modprobe_config
from ansible_collections.kernel.kmod.plugins.module_utils.config.modules_load import read_modules_load

# An install command that is only one of these means "never load this module".
DISABLING_COMMANDS = frozenset(('/bin/false', '/bin/true', '/usr/bin/false', '/usr/bin/true',
                                'false', 'true'))


def _where(directive):
    return {'file': directive.file, 'line': directive.line}


def _entry(directive, **fields):
    fields.update(_where(directive))
    return fields


def disabling_installs(config):
    """The first install line of each module, when it only runs true/false."""
    seen = set()
    out = []
    for d in config.installs:
        if d.module in seen:
            continue
        seen.add(d.module)
        if d.command.split() and len(d.command.split()) == 1 and d.command.strip() in DISABLING_COMMANDS:
            out.append(_entry(d, name=d.module, command=d.command))
    return out


def modprobe_facts(config, kernel_cmdline):
    """The modprobe.d part of the facts from a ModprobeConfig."""
    options = {}
    for d in config.options:
        options.setdefault(d.module, []).append(_entry(d, options=d.options))
    listing = config.files
    return {
        'blacklist': [_entry(d, name=d.module) for d in config.blacklists],
        'disabled': disabling_installs(config),
        'options': options,
        'aliases': [_entry(d, pattern=d.pattern, module=d.module) for d in config.aliases],
        'softdeps': [_entry(d, module=d.module, pre=list(d.pre), post=list(d.post)) for d in config.softdeps],
        'weakdeps': [_entry(d, module=d.module, deps=list(d.deps)) for d in config.weakdeps],
        'install': [_entry(d, module=d.module, command=d.command) for d in config.installs],
        'remove': [_entry(d, module=d.module, command=d.command) for d in config.removes],
        'files': listing.paths() if listing is not None else [],
        'masked': [{'file': m.path, 'by': m.by, 'reason': m.reason} for m in listing.masked] if listing else [],
        'module_blacklist': list(kernel_cmdline.kernel_blacklist) if kernel_cmdline else [],
        'warnings': list(config.warnings),
    }


def read_system_config(root, module_dir, cmdline_text):
    """{'modprobe', 'modules_load', 'warnings', 'alias_lookup'} for a root.

    cmdline_text: the running kernel's command line, or None when the facts
    are about an image (then no command line applies).
    """
    kernel_cmdline = parse_cmdline(cmdline_text) if cmdline_text is not None else None
    config = load_modprobe_config(root=root, module_dir=module_dir,
                                  cmdline=kernel_cmdline if kernel_cmdline is not None else False)
    load = read_modules_load(root=root)
    warnings = ['%s' % w for w in config.warnings] + list(load.get('warnings', []))

    def alias_lookup(name):
        found = []
        for alias in config.aliases_for(name):
            if alias.module not in found:
                found.append(alias.module)
        return found

    return {
        'modprobe': modprobe_facts(config, kernel_cmdline),
        'modules_load': load.get('entries', []),
        'warnings': warnings,
        'alias_lookup': alias_lookup,
    }
