# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options a module gets at boot, and which line sets each parameter last.

At boot a module is loaded by name (systemd-modules-load, udev), so modprobe
gives it every ``options NAME ...`` line of modprobe.d, in the order of the
file basenames across all directories, then the ``NAME.PARAM=`` words of the
kernel command line; the kernel keeps the last value of a repeated
parameter.  load_boot_config reads that configuration as it will be once some
files are written or removed (their planned text substituted, nothing on
disk touched); last_settings and overrides tell which line wins for each
parameter a user asked for.
"""

from ansible_collections.kernel.kmod.plugins.module_utils.config.cmdline import read_cmdline
from ansible_collections.kernel.kmod.plugins.module_utils.config.modprobe import CMDLINE_FILE, ModprobeConfig
from ansible_collections.kernel.kmod.plugins.module_utils.config.options import param_key, split_options
from ansible_collections.kernel.kmod.plugins.module_utils.config.precedence import (
    ConfigFile, host_path, modprobe_files, read_text,
)
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError


class Setting(object):
    """One parameter set by one options line: name and value as written
    (value None for a bare name), and the Options directive it is on."""

    __slots__ = ('name', 'value', 'directive')

    def __init__(self, name, value, directive):
        self.name = name
        self.value = value
        self.directive = directive

    @property
    def text(self):
        return self.name if self.value is None else '%s=%s' % (self.name, self.value)

    @property
    def where(self):
        """'FILE:LINE' of the directive (/proc/cmdline:1 for the kernel command line)."""
        return '%s:%d' % (self.directive.file, self.directive.line)

    @property
    def on_cmdline(self):
        return self.directive.file == CMDLINE_FILE

    def __repr__(self):
        return 'Setting(%r at %s)' % (self.text, self.where)


def _replaced_entries(listing, replace):
    """{basename: (path, text or None to read from disk)} after replace."""
    entries = dict((f.name, (f.path, None if not f.null else '')) for f in listing.files)
    for path, text in replace.items():
        name = path.rstrip('/').rsplit('/', 1)[-1]
        current = entries.get(name)
        if text is not None:
            # Our files are in the first directory: they mask any namesake.
            entries[name] = (path, text)
        elif current is not None and current[0] == path:
            del entries[name]
            # The namesake it masked counts again (the first in directory order).
            for masked in listing.masked:
                if masked.name == name and masked.by == path and masked.reason == 'masked':
                    entries[name] = (masked.path, None)
                    break
    return entries


def load_boot_config(root='/', replace=None, cmdline=True):
    """The ModprobeConfig modprobe would read at boot, with files replaced.

    replace: {path inside root: text, or None for a file that will be
    removed}; the paths must be in /etc/modprobe.d (the first directory).
    cmdline: True reads <root>/proc/cmdline, a KernelCmdline is used as is,
    False skips it.  Unreadable files become warnings.
    """
    config = ModprobeConfig()
    listing = modprobe_files(root=root)
    config.files = listing
    config.warnings.extend(listing.warnings)
    entries = _replaced_entries(listing, replace or {})
    for name in sorted(entries):
        path, text = entries[name]
        if text is None:
            try:
                text = read_text(ConfigFile(path, host_path(root, path), name))
            except KmodError as exc:
                config.warnings.append(exc.msg)
                continue
        config.add_text(text, path)
    if cmdline is True:
        try:
            config.add_cmdline(read_cmdline(root=root))
        except KmodError as exc:
            config.warnings.append(exc.msg)
    elif cmdline:
        config.add_cmdline(cmdline)
    return config


def boot_options(config, module):
    """The option text the module gets at boot: its options lines joined in order."""
    return ' '.join(d.options for d in config.options if d.module == module and d.options)


def last_settings(config, module):
    """{parameter key: the Setting the kernel keeps} of a module at boot."""
    out = {}
    for directive in config.options:
        if directive.module != module or not directive.options:
            continue
        for name, value in split_options(directive.options):
            out[param_key(name)] = Setting(name, value, directive)
    return out


def asked_values(options):
    """{parameter key: (name, value)} of a user's option text, the last of each kept."""
    out = {}
    for name, value in split_options(options):
        out[param_key(name)] = (name, value)
    return out


def overrides(config, module, options, own_path):
    """The Settings that win at boot over the user's options written in own_path.

    options: the option text the user asked for.  A parameter whose last
    setting is on another line is overridden only when that value differs:
    a later line with the same value gives what the user asked for anyway.
    Returned in the order of the user's parameters.
    """
    last = last_settings(config, module)
    out = []
    for key, (_name, value) in asked_values(options).items():
        setting = last.get(key)
        if setting is None or setting.directive.file == own_path:
            continue
        if setting.value != value:
            out.append(setting)
    return out
