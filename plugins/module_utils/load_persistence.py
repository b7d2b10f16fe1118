# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two files that load a module at every boot, with its options.

``/etc/modules-load.d/NAME.conf`` holds the module name (systemd-modules-load
loads it at boot) and ``/etc/modprobe.d/NAME.conf`` holds ``options NAME
PARAMS`` (applied whenever the module loads).  Both paths belong to the
module NAME: they are rendered whole, with a header saying who manages them,
and planned with files.plan_changes.  An existing file that already says
the same thing (one written by hand or by community.general.modprobe, without
our header) is left alone, so moving to this collection changes nothing.
"""

import os

from ansible_collections.kernel.kmod.plugins.module_utils import files
from ansible_collections.kernel.kmod.plugins.module_utils import modprobe_config
from ansible_collections.kernel.kmod.plugins.module_utils import modules_load
from ansible_collections.kernel.kmod.plugins.module_utils.config_files import host_path
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError

MODULES_LOAD_DIR = '/etc/modules-load.d'
MODPROBE_DIR = '/etc/modprobe.d'
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
    found, warnings = modules_load.parse_modules_load_text(text, 'existing')
    return not warnings and [m.name for m in found] == [name]


def _same_options(name, params, data):
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        return False
    directives, warnings = modprobe_config.parse_modprobe_text(text, 'existing')
    return (not warnings and len(directives) == 1 and directives[0].kind == 'options'
            and directives[0].module == name and directives[0].options.split() == params.split())


def plan_persistence(name, params='', state='present', root='/', modules_load_dir=MODULES_LOAD_DIR,
                     modprobe_dir=MODPROBE_DIR, current=files.read_current):
    """FileChanges that make `name` load at boot with `params` (state
    'present') or stop this collection loading it at boot ('absent').

    present: the modules-load.d file lists the module; the modprobe.d file
    holds its options, or is removed when params is empty.  absent: both
    files are removed.  A file that already means the same (parsed back) is
    kept as it is.
    """
    if state not in STATES:
        raise KmodError('persistence state must be one of %s, not %r' % (', '.join(STATES), state))
    load_path, options_path = paths(name, root, modules_load_dir, modprobe_dir)
    if state == 'absent':
        wanted = {load_path: None, options_path: None}
    else:
        wanted = {load_path: render_modules_load(name), options_path: render_options(name, params)}
    changes = []
    for change in files.plan_changes(wanted, current=current):
        if change.old is not None and change.new is not None:
            if change.path == load_path and _same_modules_load(name, change.old):
                continue
            if change.path == options_path and _same_options(name, params, change.old):
                continue
        changes.append(change)
    return changes


def other_boot_entries(name, root='/', skip=()):
    """'FILE:LINE' of every other modules-load.d (or /etc/modules) entry that
    loads `name` at boot; files in `skip` (host paths) are left out."""
    skip = set(os.path.normpath(p) for p in skip)
    found = modules_load.load_boot_modules(root=root)
    out = []
    for entry in found.modules:
        if entry.name == name and os.path.normpath(host_path(root, entry.file)) not in skip:
            out.append('%s:%d' % (entry.file, entry.line))
    return out
