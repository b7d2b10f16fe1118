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
    ETC_MODULES, load_boot_modules, parse_modules_load_text,
)
from ansible_collections.kernel.kmod.plugins.module_utils.config.options import param_key, split_options
from ansible_collections.kernel.kmod.plugins.module_utils.config.precedence import host_path
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.files import FileChange, plan_changes, read_current
from ansible_collections.kernel.kmod.plugins.module_utils.names import module_name

MODULES_LOAD_DIR = '/etc/modules-load.d'
MODPROBE_DIR = '/etc/modprobe.d'
# The options file used when NAME.conf would lose to a file sorting after it.
OVERRIDE_PREFIX = 'zz-kernel-kmod-'
HEADER = '# Managed by Ansible (kernel.kmod.kmod_load): local changes are overwritten.\n'

STATES = ('present', 'absent')

# Where systemd keeps the service that reads modules-load.d at boot.
MODULES_LOAD_SERVICE = ('/usr/lib/systemd/systemd-modules-load', '/lib/systemd/systemd-modules-load')


def boots_with_modules_load_d(root='/'):
    """Whether the host loads modules-load.d at boot (systemd-modules-load
    is installed); when not, /etc/modules (read by Debian's kmod init
    script, OpenRC, busybox) is the boot list."""
    return any(os.path.lexists(host_path(root, p)) for p in MODULES_LOAD_SERVICE)


def etc_modules_text(data, name, state):
    """/etc/modules as bytes once `name` is added (present) or its own line
    removed (absent); every other line and comment kept byte for byte.
    present adds the line 'NAME' unless a line already loads the module;
    absent removes lines that are exactly 'NAME' (what present adds): a
    line with arguments is someone's setting and stays.  A file whose last
    line has no newline keeps that shape: present adds '\\nNAME', and absent
    of an unterminated last line takes the newline before it, so that
    present then absent gives back the very bytes."""
    data = data or b''
    lines = data.splitlines(True)
    if state == 'present':
        for line in lines:
            words = line.split(b'#', 1)[0].split()
            if words and module_name(words[0].decode('utf-8', 'surrogateescape')) == name:
                return data
        if data and not data.endswith(b'\n'):
            return data + b'\n' + name.encode('utf-8')
        return data + name.encode('utf-8') + b'\n'
    kept = [line for line in lines if line.rstrip(b'\r\n').strip() != name.encode('utf-8')]
    if kept and lines and kept[-1] is not lines[-1] and not lines[-1].endswith(b'\n'):
        kept[-1] = kept[-1][:-1] if kept[-1].endswith(b'\n') else kept[-1]
    return b''.join(kept)


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


def directories(root='/', etc_modules=False, modules_load_dir=MODULES_LOAD_DIR, modprobe_dir=MODPROBE_DIR):
    """The host directories persistence writes into: modprobe.d, and
    modules-load.d or (etc_modules) the directory of /etc/modules."""
    boot = os.path.dirname(ETC_MODULES) if etc_modules else modules_load_dir
    return [host_path(root, modprobe_dir), host_path(root, boot)]


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
    # One options line, or one per parameter as community.general.modprobe writes them:
    # modprobe joins a module's options lines in file order, so both say the same.
    if warnings or not directives or any(d.kind != 'options' or d.module != name for d in directives):
        return False
    return [word for d in directives for word in d.options.split()] == params.split()


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
                     modprobe_dir=MODPROBE_DIR, current=read_current, cmdline=True, etc_modules=False):
    """The PersistencePlan that makes `name` load at boot with `params`
    (state 'present') or stops this collection loading it at boot ('absent').

    present: the modules-load.d file lists the module; the options go to
    ``NAME.conf`` when they win at boot there, else to
    ``zz-kernel-kmod-NAME.conf`` (which sorts after distribution files; our
    own NAME.conf is then removed); without params both options files of
    ours are removed.  A parameter wins when the last setting at boot
    (modprobe.d in basename order, then the kernel command line) is ours or
    has the asked value.  Raises KmodError, naming the file and line, when
    even the last file would lose.  absent: the modules-load.d file and both
    options files are removed.

    Only files that carry HEADER are rewritten or removed.  A file of the
    same name without it (an admin's, a package's) is left byte for byte,
    with a warning when the plan would have changed it: what belongs there
    then goes to this collection's own ``zz-kernel-kmod-NAME.conf`` in the
    same directory.  A foreign file that already means the same (as
    community.general.modprobe writes them) is kept without a warning.
    cmdline: as boot_options.load_boot_config takes it.  etc_modules: the
    host boots without systemd-modules-load (boots_with_modules_load_d):
    the module goes into /etc/modules instead (etc_modules_text), and our
    own modules-load.d files of it are removed.
    """
    if state not in STATES:
        raise KmodError('persistence state must be one of %s, not %r' % (', '.join(STATES), state))
    load_path, options_path = paths(name, root, modules_load_dir, modprobe_dir)
    own_name = OVERRIDE_PREFIX + name + '.conf'
    files = _Files(root, current, {
        'load': (_inside(modules_load_dir, name + '.conf'), load_path),
        'own_load': (_inside(modules_load_dir, own_name), host_path(root, _inside(modules_load_dir, own_name))),
        'options': (_inside(modprobe_dir, name + '.conf'), options_path),
        'override': (_inside(modprobe_dir, own_name), host_path(root, _inside(modprobe_dir, own_name))),
    })
    planned = _Planned(files)
    if etc_modules:
        path = host_path(root, ETC_MODULES)
        old = current(path)
        new = etc_modules_text(old, name, state)
        if new != (old or b''):
            planned.extra.append(FileChange(path, old, new))
        planned.want('load', None)
        planned.want('own_load', None)
    else:
        _plan_boot_loading(planned, name, state)
    rendered = render_options(name, params) if state == 'present' else None
    if rendered is None:
        _plan_no_options(planned, name)
    else:
        _plan_options(planned, name, params, rendered, cmdline)
    return planned.finish(name, params, cmdline)


class _Files(object):
    """The four files of one module: inside path, host path and content now."""

    def __init__(self, root, current, where):
        self.root = root
        self.inside = dict((k, v[0]) for k, v in where.items())
        self.host = dict((k, v[1]) for k, v in where.items())
        self.data = dict((k, current(v[1])) for k, v in where.items())

    def exists(self, key):
        return self.data[key] is not None

    def foreign(self, key):
        """It exists and this collection did not write it."""
        return self.exists(key) and not _is_ours(self.data[key])


class _Planned(object):
    """What plan_persistence has decided so far: wanted content per file key
    (in the order the changes are listed), reasons, warnings, and the
    modprobe.d files replaced for the boot configuration."""

    def __init__(self, files):
        self.files = files
        self.wanted = []
        self.reasons = {}
        self.warnings = []
        self.replace = None
        self.options_key = None
        self.config = None
        self.extra = []  # changes of files shared with others (/etc/modules): only our line changes

    def want(self, key, data):
        self.wanted.append((key, data))

    def left_alone(self, key, why=''):
        self.warnings.append('%s was not written by kmod_load and is left as it is%s'
                             % (self.files.inside[key], why))

    def finish(self, name, params, cmdline):
        files = self.files
        wanted = {}
        for key, data in self.wanted:
            if files.foreign(key):
                if data is not None and key in ('own_load', 'override'):
                    raise KmodError('cannot write %s: the file exists and was not written by kmod_load; '
                                    'move it away to let kmod_load manage %s' % (files.inside[key], name),
                                    path=files.inside[key], module=name)
                continue
            wanted[files.host[key]] = data
        load_key = 'load' if files.host['load'] in wanted else 'own_load'
        options_path = files.host[self.options_key] if self.options_key else None
        changes = self.extra + _changes(wanted, name, params, files.host[load_key], options_path,
                                        lambda p: _current_of(files, p))
        if self.config is None:
            self.config = load_boot_config(files.root, self.replace or {}, cmdline)
        reasons = dict((files.host[k], v) for k, v in self.reasons.items())
        return PersistencePlan(changes, boot_options(self.config, name), options_path,
                               dict((c.path, reasons[c.path]) for c in changes if c.path in reasons), self.warnings)


def _current_of(files, path):
    for key, host in files.host.items():
        if host == path:
            return files.data[key]
    return None


def _plan_boot_loading(planned, name, state):
    files = planned.files
    if state == 'absent':
        if files.foreign('load'):
            planned.left_alone('load')
        planned.want('load', None)
        planned.want('own_load', None)
    elif not files.foreign('load'):
        planned.want('load', render_modules_load(name))
        planned.want('own_load', None)
    elif _same_modules_load(name, files.data['load']):
        planned.want('own_load', None)
    else:
        planned.left_alone('load', '; %s loads %s at boot' % (files.inside['own_load'], name))
        planned.reasons['own_load'] = '%s was not written by kmod_load' % files.inside['load']
        planned.want('own_load', render_modules_load(name))


def _plan_no_options(planned, name):
    files = planned.files
    if files.foreign('options'):
        sets = [d for d in _directives(files.data['options'], files.inside['options'])
                if d.kind == 'options' and d.module == name and d.options]
        planned.left_alone('options', '; it sets %s for %s at boot' % (' '.join(d.options for d in sets), name)
                           if sets else '')
    planned.want('options', None)
    planned.want('override', None)
    planned.replace = dict((files.inside[k], None) for k in ('options', 'override') if not files.foreign(k))


def _directives(data, inside_path):
    directives, _warnings = parse_modprobe_text(data.decode('utf-8', 'surrogateescape'), inside_path)
    return directives


def _plan_options(planned, name, params, rendered, cmdline):
    files = planned.files
    text = rendered.decode('utf-8')
    options_inside, override_inside = files.inside['options'], files.inside['override']
    usable = not files.foreign('options') or _same_options(name, params, files.data['options'])
    if usable:
        replace = {options_inside: text}
        if not files.foreign('override'):
            replace[override_inside] = None
        config = load_boot_config(files.root, replace, cmdline)
        winners = overrides(config, name, params, options_inside)
        if not winners:
            planned.want('options', rendered)
            planned.want('override', None)
            planned.options_key, planned.config = 'options', config
            return
        why = 'options in %s would lose at boot to %s, which sorts after it' % (options_inside, _losing_to(winners))
    else:
        why = '%s was not written by kmod_load' % options_inside
    replace = {override_inside: text}
    if files.exists('options') and not files.foreign('options'):
        replace[options_inside] = None
    config = load_boot_config(files.root, replace, cmdline)
    still = overrides(config, name, params, override_inside)
    if still:
        raise _cannot_win(name, still, override_inside)
    planned.want('override', rendered)
    planned.want('options', None)
    planned.reasons['override'] = why
    planned.reasons['options'] = 'replaced by %s: %s' % (override_inside, why)
    planned.options_key, planned.config = 'override', config
    if files.foreign('options'):
        conflicts = _foreign_conflicts(name, params, files.data['options'], options_inside)
        if conflicts:
            planned.left_alone('options', '; it sets %s, and %s sorts after it and sets %s for %s at boot'
                               % (_losing_to(conflicts), override_inside, params, name))
        elif not usable:
            planned.left_alone('options', '; the options of %s go to %s' % (name, override_inside))


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
