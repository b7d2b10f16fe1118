# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules a system loads at boot: modules-load.d and Debian's /etc/modules.

modules-load.d(5), read by systemd-modules-load: ``*.conf`` files of
/etc, /run, /usr/local/lib, /usr/lib and /lib ``modules-load.d``, masked by
basename like modprobe.d; one module name per line, surrounding blanks
stripped, empty lines and lines starting with '#' or ';' skipped.  The whole
line is the name: systemd passes no arguments, so a line with a blank in it
cannot load and is warned about.

/etc/modules (Debian): one module per line, optional arguments after it,
lines starting with '#' (or ';', a comment too when systemd reads it) skipped.  Debian links
/etc/modules-load.d/modules.conf to it; that link is not read twice, the
file's entries (with their arguments) stand where the link sorts.
"""

import os
import re

from ansible_collections.kernel.kmod.plugins.module_utils.config.precedence import (
    ConfigFile, host_path, modules_load_files, read_text, resolve_in_root,
)
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.names import module_name

ETC_MODULES = '/etc/modules'

# systemd's strstrip() blanks.
_BLANKS = ' \t\n\r'
_ARG_SPLIT = re.compile('[ \t\r\v\f]+')


class BootModule(object):
    """One module to load at boot.

    name: normalised module name (or alias, as written with '-' -> '_');
    file, line: where it is listed; args: the arguments after the name
    ('' when none; only /etc/modules has them).
    """

    __slots__ = ('name', 'file', 'line', 'args')

    def __init__(self, name, file, line, args=''):
        self.name = name
        self.file = file
        self.line = line
        self.args = args

    def __eq__(self, other):
        return isinstance(other, BootModule) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        args = ', args=%r' % self.args if self.args else ''
        return 'BootModule(%r, %s:%s%s)' % (self.name, self.file, self.line, args)


class BootModules(object):
    """modules: BootModule list in load order; files: the ConfigFileList of
    modules-load.d; warnings: 'FILE:LINE: ...' and 'PATH: ...' strings."""

    def __init__(self):
        self.modules = []
        self.files = None
        self.warnings = []

    def names(self):
        """The module names, first listing of each kept, in load order."""
        seen = set()
        out = []
        for m in self.modules:
            if m.name not in seen:
                seen.add(m.name)
                out.append(m.name)
        return out


def _lines(text):
    # Only '\n' ends a line; the last line may lack it.
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    return enumerate(lines, 1)


def parse_modules_load_text(text, filename):
    """(BootModule list, warnings) of one modules-load.d file."""
    modules = []
    warnings = []
    for number, raw in _lines(text):
        line = raw.strip(_BLANKS)
        if not line or line[0] in '#;':
            continue
        if any(c in line for c in ' \t\v\f\0'):
            warnings.append("%s:%d: '%s' is not a module name: systemd-modules-load takes the whole "
                            "line as the name, so it cannot load" % (filename, number, line))
            continue
        modules.append(BootModule(module_name(line), filename, number))
    return modules, warnings


def parse_etc_modules_text(text, filename=ETC_MODULES):
    """(BootModule list, warnings) of Debian's /etc/modules: 'NAME [ARGS]' lines."""
    modules = []
    for number, raw in _lines(text):
        line = raw.strip(' \t\r\v\f')
        if not line or line[0] in '#;':
            continue
        # Only ASCII blanks separate (str.split() would also cut at U+0085).
        parts = _ARG_SPLIT.split(line, 1)
        args = parts[1] if len(parts) > 1 else ''
        modules.append(BootModule(module_name(parts[0]), filename, number, args))
    return modules, []


def _read(entry, result):
    try:
        return read_text(entry)
    except KmodError as exc:
        result.warnings.append(exc.msg)
        return None


def load_boot_modules(root='/', paths=None, etc_modules=ETC_MODULES):
    """Every module listed for loading at boot, in load order.

    root: the system root; paths: modules-load.d directories or files
    replacing the defaults; etc_modules: the Debian file inside root, or
    None to leave it out.  Returns BootModules.
    """
    result = BootModules()
    listing = modules_load_files(root=root, paths=paths)
    result.files = listing
    result.warnings.extend(listing.warnings)
    etc_entry = None
    if etc_modules:
        etc_entry = ConfigFile(etc_modules, host_path(root, etc_modules), etc_modules.rsplit('/', 1)[-1])
        try:
            etc_real = resolve_in_root(root, etc_modules)
        except KmodError as exc:
            result.warnings.append(exc.msg)
            etc_entry = None
    etc_done = False
    for entry in listing.files:
        if entry.null:
            continue
        if etc_entry is not None and entry.real == etc_real:
            if not etc_done:
                etc_done = _add_etc_modules(etc_entry, result)
            continue
        text = _read(entry, result)
        if text is not None:
            modules, warnings = parse_modules_load_text(text, entry.path)
            result.modules.extend(modules)
            result.warnings.extend(warnings)
    if etc_entry is not None and not etc_done:
        _add_etc_modules(etc_entry, result)
    return result


def _add_etc_modules(entry, result):
    if not os.path.exists(entry.host_path):
        return True
    text = _read(entry, result)
    if text is not None:
        modules, warnings = parse_etc_modules_text(text, entry.path)
        result.modules.extend(modules)
        result.warnings.extend(warnings)
    return True


def read_modules_load(root='/', paths=None, etc_modules=ETC_MODULES):
    """load_boot_modules as plain data: {'entries', 'warnings', 'files', 'masked'}.

    entries: [{'name', 'file', 'line', 'args'}] in load order; files: the
    modules-load.d paths read; masked: [{'file', 'by', 'reason'}].
    """
    result = load_boot_modules(root=root, paths=paths, etc_modules=etc_modules)
    return {
        'entries': [{'name': m.name, 'file': m.file, 'line': m.line, 'args': m.args} for m in result.modules],
        'warnings': list(result.warnings),
        'files': result.files.paths(),
        'masked': [{'file': m.path, 'by': m.by, 'reason': m.reason} for m in result.files.masked],
    }
