# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files that load a module at every boot, with its options.

``/etc/modules-load.d/NAME.conf`` holds the module name (systemd-modules-load
loads it at boot) and ``/etc/modprobe.d/NAME.conf`` holds ``options NAME
PARAMS`` (applied whenever the module loads).  Both paths belong to the
module NAME: they are rendered whole, with a header saying who manages them,
and planned with files.plan_changes.  An existing file that already says
the same thing (one written by hand or by community.general.modprobe, without
our header) is left alone, so moving to this collection changes nothing.

modprobe reads the options lines of all modprobe.d files in basename order
and the kernel keeps the last value of a parameter, so a distribution file
sorting after NAME.conf (Debian's systemd.conf sets ``options dummy
numdummies=0``) would silently win at boot.  When it would, the options go
to ``/etc/modprobe.d/zz-kernel-kmod-NAME.conf`` instead, which sorts after
such files; when even that cannot win, planning fails (boot_options tells).
"""

import os

from ansible_collections.kernel.kmod.plugins.module_utils.config.boot_options import (
    asked_values, boot_options, load_boot_config, overrides, Setting,
)
from ansible_collections.kernel.kmod.plugins.module_utils.config.modprobe import parse_modprobe_text
from ansible_collections.kernel.kmod.plugins.module_utils.config.modules_load import (
    load_boot_modules, parse_modules_load_text,
)
from ansible_collections.kernel.kmod.plugins.module_utils.config.options import param_key, split_options
from ansible_collections.kernel.kmod.plugins.module_utils.config.precedence import host_path
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.files import plan_changes, read_current

MODULES_LOAD_DIR = '/etc/modules-load.d'
MODPROBE_DIR = '/etc/modprobe.d'
# The options file used when NAME.conf would lose to a file sorting after it.
OVERRIDE_PREFIX = 'zz-kernel-kmod-'
HEADER = '# Managed by Ansible (kernel.kmod.kmod_load): local changes are overwritten.\n'

STATES = ('present', 'absent')


def check_file_name(name):
    """Refuse a module name that cannot be a file name of its own in a config dir."""
    if not name or name.startswith('.') or '/' in name or any(ord(c) < 0x21 or ord(c) == 0x7f for c in name):
        raise KmodError('cannot persist %r: a module name for a file name must be non-empty, without "/", '
                        'blanks or control characters, and must not start with "."' % name, module=name)


def check_params(params):
    """Refuse options that would not stay one line of modprobe.d."""
    bad = [c for c in params if ord(c) < 0x20 or ord(c) == 0x7f]
    if bad:
        raise KmodError('module options must be one line of printable text, found %r' % bad[0])


def paths(name, root='/', modules_load_dir=MODULES_LOAD_DIR, modprobe_dir=MODPROBE_DIR):
    """(modules-load.d file, modprobe.d file) of module `name` under root."""
    check_file_name(name)
    return (host_path(root, '%s/%s.conf' % (modules_load_dir.rstrip('/'), name)),
            host_path(root, '%s/%s.conf' % (modprobe_dir.rstrip('/'), name)))


def render_modules_load(name):
    """The modules-load.d file: header and the module name."""
    return (HEADER + name + '\n').encode('utf-8')


def _escape(params):
    # modprobe.d drops a backslash and keeps the next character: double them.
    return params.replace('\\', '\\\\')


def render_options(name, params):
    """The modprobe.d file: header and 'options NAME PARAMS'; None without params."""
    params = params.strip(' ')
    if not params:
        return None
    check_params(params)
    return (HEADER + 'options %s %s\n' % (name, _escape(params))).encode('utf-8')


def _same_modules_load(name, data):
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        return False
    found, warnings = parse_modules_load_text(text, 'existing')
    return not warnings and [m.name for m in found] == [name]


def _same_options(name, params, data):
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        return False
    directives, warnings = parse_modprobe_text(text, 'existing')
    return (not warnings and len(directives) == 1 and directives[0].kind == 'options'
            and directives[0].module == name and directives[0].options.split() == params.split())


class PersistencePlan(object):
    """What plan_persistence decided.

    changes: FileChanges, in order; reasons: {host path: why} for changes
    that are not the plain one (the options moved to the file that sorts
    last); boot_options: the option text the module gets at boot once the
    changes are made (modprobe.d and kernel command line); options_path: the
    host path of the file holding the options, None without options;
    warnings: strings.
    """

    def __init__(self, changes, boot_options='', options_path=None, reasons=None, warnings=None):
        self.changes = changes
        self.boot_options = boot_options
        self.options_path = options_path
        self.reasons = reasons or {}
        self.warnings = warnings or []

    def entries(self):
        """The changes as result entries: path, action, reason (None when plain)."""
        return [{'path': c.path, 'action': c.action, 'reason': self.reasons.get(c.path)} for c in self.changes]


def _inside(directory, basename):
    return '%s/%s' % (directory.rstrip('/'), basename)


def _is_ours(data):
    return data is not None and data.startswith(HEADER.encode('utf-8'))


def _changes(wanted, name, params, load_path, options_path, current):
    """FileChanges of wanted, without those whose file already means the same."""
    changes = []
    for change in plan_changes(wanted, current=current):
        if change.old is not None and change.new is not None:
            if change.path == load_path and _same_modules_load(name, change.old):
                continue
            if change.path == options_path and _same_options(name, params, change.old):
                continue
        changes.append(change)
    return changes


def _losing_to(settings):
    return ', '.join('%s at %s' % (s.text, s.where) for s in settings)


def _cannot_win(name, settings, override_inside):
    parts = []
    for setting in settings:
        if setting.on_cmdline:
            parts.append('%s.%s is on the kernel command line (%s), which modprobe applies after every '
                         'modprobe.d file' % (name, setting.text, setting.where))
        else:
            parts.append('%s at %s sorts after %s' % (setting.text, setting.where, override_inside))
    return KmodError('cannot persist the options of %s: at boot %s, and the kernel keeps the last value of a '
                     'parameter; change or remove that setting (or ask for the value it sets)'
                     % (name, '; '.join(parts)), path=settings[0].directive.file, module=name)


def _foreign_conflicts(name, params, data, inside_path):
    """Settings of a file not written by us that differ from what is asked."""
    directives, _warnings = parse_modprobe_text(data.decode('utf-8', 'surrogateescape'), inside_path)
    asked = asked_values(params)
    out = []
    for d in directives:
        if d.kind != 'options' or d.module != name:
            continue
        for pname, value in split_options(d.options):
            key = param_key(pname)
            if key in asked and asked[key][1] != value:
                out.append(Setting(pname, value, d))
    return out


def plan_persistence(name, params='', state='present', root='/', modules_load_dir=MODULES_LOAD_DIR,
                     modprobe_dir=MODPROBE_DIR, current=read_current, cmdline=True):
    """The PersistencePlan that makes `name` load at boot with `params`
    (state 'present') or stops this collection loading it at boot ('absent').

    present: the modules-load.d file lists the module; the options go to
    ``NAME.conf`` when they win at boot there, else to
    ``zz-kernel-kmod-NAME.conf`` (which sorts after distribution files; our
    own NAME.conf is then removed, a foreign one kept with a warning when it
    says otherwise); without params both options files are removed.  A
    parameter wins when the last setting at boot (modprobe.d in basename
    order, then the kernel command line) is ours or has the asked value.
    Raises KmodError, naming the file and line, when even the last file would
    lose.  absent: the modules-load.d file and both options files are
    removed.  A file that already means the same (parsed back) is kept as it
    is.  cmdline: as boot_options.load_boot_config takes it.
    """
    if state not in STATES:
        raise KmodError('persistence state must be one of %s, not %r' % (', '.join(STATES), state))
    load_path, options_path = paths(name, root, modules_load_dir, modprobe_dir)
    options_inside = _inside(modprobe_dir, name + '.conf')
    override_inside = _inside(modprobe_dir, OVERRIDE_PREFIX + name + '.conf')
    override_path = host_path(root, override_inside)
    rendered = render_options(name, params) if state == 'present' else None
    if rendered is None:
        wanted = {load_path: None if state == 'absent' else render_modules_load(name),
                  options_path: None, override_path: None}
        config = load_boot_config(root, {options_inside: None, override_inside: None}, cmdline)
        return PersistencePlan(_changes(wanted, name, params, load_path, options_path, current),
                               boot_options(config, name))
    text = rendered.decode('utf-8')
    config = load_boot_config(root, {options_inside: text, override_inside: None}, cmdline)
    winners = overrides(config, name, params, options_inside)
    if not winners:
        wanted = {load_path: render_modules_load(name), options_path: rendered, override_path: None}
        return PersistencePlan(_changes(wanted, name, params, load_path, options_path, current),
                               boot_options(config, name), options_path)
    old_options = current(options_path)
    ours = _is_ours(old_options)
    replace = {override_inside: text}
    if ours:
        replace[options_inside] = None
    config = load_boot_config(root, replace, cmdline)
    still = overrides(config, name, params, override_inside)
    if still:
        raise _cannot_win(name, still, override_inside)
    wanted = {load_path: render_modules_load(name), override_path: rendered}
    if ours:
        wanted[options_path] = None
    why = 'options in %s would lose at boot to %s, which sorts after it' % (options_inside, _losing_to(winners))
    reasons = {override_path: why, options_path: 'replaced by %s: %s' % (override_inside, why)}
    warnings = []
    if old_options is not None and not ours:
        conflicts = _foreign_conflicts(name, params, old_options, options_inside)
        if conflicts:
            warnings.append('%s was not written by kmod_load and is left as it is; it sets %s, and %s sorts after '
                            'it and sets %s for %s at boot'
                            % (options_inside, _losing_to(conflicts), override_inside, params, name))
    changes = _changes(wanted, name, params, load_path, override_path, current)
    return PersistencePlan(changes, boot_options(config, name), override_path,
                           dict((c.path, reasons[c.path]) for c in changes if c.path in reasons), warnings)


def other_boot_entries(name, root='/', skip=()):
    """'FILE:LINE' of every other modules-load.d (or /etc/modules) entry that
    loads `name` at boot; files in `skip` (host paths) are left out."""
    skip = set(os.path.normpath(p) for p in skip)
    found = load_boot_modules(root=root)
    out = []
    for entry in found.modules:
        if entry.name == name and os.path.normpath(host_path(root, entry.file)) not in skip:
            out.append('%s:%d' % (entry.file, entry.line))
    return out
