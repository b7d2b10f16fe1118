# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The running kernel's module state, read from /proc and /sys.

Everything is read under an injectable root (``KernelState(root='/')``) so
tests point it at a fake tree.  This layer only reads: /proc/modules,
/sys/module/<name>/..., and a few files of /proc/sys/kernel.  Bad or odd
content never raises: it gives a warning (collected in
``KernelState.warnings``, naming the file and line) and the value is skipped
or None.  Only an unreadable /proc/modules that exists raises a KmodError,
because nothing sound can be said about loaded modules without it.
"""

import errno
import os
import stat

from collections.abc import MutableMapping

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.names import module_name

PROC_MODULES = '/proc/modules'
SYS_MODULE = '/sys/module'
SYS_COMPRESSION = '/sys/module/compression'
SIG_ENFORCE = '/sys/module/module/parameters/sig_enforce'
MODULES_DISABLED = '/proc/sys/kernel/modules_disabled'
TAINTED = '/proc/sys/kernel/tainted'
OSRELEASE = '/proc/sys/kernel/osrelease'
CMDLINE = '/proc/cmdline'

# /proc/modules states and the matching /sys/module/<name>/initstate words.
STATE_TO_INITSTATE = {'Live': 'live', 'Loading': 'coming', 'Unloading': 'going'}
INITSTATE_TO_STATE = dict((v, k) for k, v in STATE_TO_INITSTATE.items())

# The kernel prints this in the users column of a module that has an init but
# no exit function: it can never be unloaded.
PERMANENT_MARK = '[permanent]'

# Attributes of /sys/module/<name>/ read for a loaded module.
SYSFS_TEXT_ATTRS = ('initstate', 'taint', 'srcversion', 'version')
SYSFS_INT_ATTRS = ('refcnt', 'coresize', 'initsize')

_DIGITS = '0123456789'
_HEX_DIGITS = '0123456789abcdefABCDEF'
_TAINT_LETTERS = frozenset('ABCDEFGHIJKLMNOPQRSTUVWXYZ')
# Bytes never allowed in a module name field: path separators and controls.
_BAD_NAME_CHARS = frozenset('/\0\t\r\n\x0b\x0c')

# Parameter read failures that only mean "write-only": counted, not warned.
_PERMISSION_ERRNOS = (errno.EACCES, errno.EPERM)


class _BadLine(Exception):
    """A /proc/modules line that does not have the kernel's format."""


def _is_decimal(text):
    # One C-level pass (str.isdigit would also take other scripts' digits).
    return bool(text) and not text.strip(_DIGITS)


def _parse_users(field):
    """'a,b,' -> (['a', 'b'], False); '-' -> ([], False); '[permanent],' -> ([], True)."""
    if field == '-':
        return [], False
    if not field.endswith(','):
        raise _BadLine("users column %r does not end with ',' or is not '-'" % field)
    names = field[:-1].split(',')
    if any(not n for n in names):
        raise _BadLine('empty name in users column %r' % field)
    permanent = PERMANENT_MARK in names
    return [n for n in names if n != PERMANENT_MARK], permanent


def _parse_taint_field(field):
    """'(OE)' -> 'OE'; the '+'/'-' of a module coming or going are dropped."""
    if len(field) < 2 or field[0] != '(' or field[-1] != ')':
        raise _BadLine('taint column %r is not in parentheses' % field)
    inner = field[1:-1]
    if inner[-1:] in ('+', '-'):
        inner = inner[:-1]
    if not all(c in _TAINT_LETTERS for c in inner):
        raise _BadLine('taint column %r has characters other than capital letters' % field)
    return inner


def parse_proc_modules_line(line):
    """One line of /proc/modules -> (name, info).

    info: {'size': int, 'refcnt': int or None, 'used_by': [names],
    'permanent': bool, 'state': 'Live'|'Loading'|'Unloading',
    'address': '0x...', 'taint': letters or ''}.
    Raises _BadLine when the line does not have the kernel's format.
    """
    # The kernel separates fields by exactly one space: anything else is odd.
    fields = line.split(' ')
    if len(fields) not in (6, 7):
        raise _BadLine('%d fields, expected 6 or 7 separated by single spaces' % len(fields))
    if any(not f for f in fields):
        raise _BadLine('empty field (extra spaces)')
    name, size, refcnt, users, state, address = fields[:6]
    # Every character of _BAD_NAME_CHARS but '/' is unprintable: two C-level checks.
    if not name.isprintable() or '/' in name:
        raise _BadLine('module name %r has unprintable characters or a slash' % name)
    if not _is_decimal(size):
        raise _BadLine('size %r is not a decimal number' % size)
    if refcnt == '-':
        refcount = None
    elif _is_decimal(refcnt.lstrip('-')) and refcnt.count('-') <= 1:
        refcount = int(refcnt)
    else:
        raise _BadLine('refcnt %r is neither a number nor -' % refcnt)
    used_by, permanent = _parse_users(users)
    if state not in STATE_TO_INITSTATE:
        raise _BadLine('state %r is not Live, Loading or Unloading' % state)
    if not (address.startswith('0x') and len(address) > 2 and not address[2:].strip(_HEX_DIGITS)):
        raise _BadLine('address %r is not 0x and hex digits' % address)
    taint_letters = _parse_taint_field(fields[6]) if len(fields) == 7 else ''
    return name, {
        'size': int(size),
        'refcnt': refcount,
        'used_by': used_by,
        'permanent': permanent,
        'state': state,
        'address': address,
        'taint': taint_letters,
    }


def _shorten(text, limit=80):
    return text if len(text) <= limit else text[:limit] + '...'


def parse_proc_modules(text, path=PROC_MODULES):
    """Parse the whole text of /proc/modules -> (modules, warnings).

    modules: dict name -> info (see parse_proc_modules_line), in file order.
    warnings: one string per skipped line, '<path> line <n>: ...'.
    """
    modules = {}
    warnings = []
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()  # the final newline ends the last line, it adds none
    for number, line in enumerate(lines, 1):
        try:
            name, info = parse_proc_modules_line(line)
        except _BadLine as exc:
            warnings.append('%s line %d: skipped, %s: %r' % (path, number, exc, _shorten(line)))
            continue
        if name in modules:
            warnings.append('%s line %d: skipped, module %s listed twice' % (path, number, name))
            continue
        modules[name] = info
    return modules, warnings


def _decode(data):
    return data.decode('utf-8', 'replace')


def _read_bytes(path):
    """The whole content of a kernel file, with the fewest system calls:
    open, read until the end, close (no buffered file object, no fstat;
    a sysfs attribute is one read of at most a page).  OSError as raised."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 65536)
        if data:
            chunks = [data]
            while data:
                data = os.read(fd, 65536)
                chunks.append(data)
            data = b''.join(chunks)
        return data
    finally:
        os.close(fd)


def _skip_known(entries, proc_info):
    """Leave out of a loaded module's sysfs entries the attributes that
    _merge takes from its /proc/modules line when it has one (the reference
    count, unless the kernel cannot unload modules, and the taint letters):
    reading them would only be thrown away."""
    if proc_info is None:
        return
    if proc_info.get('refcnt') is not None:
        entries.discard('refcnt')
    if proc_info.get('taint') is not None:
        entries.discard('taint')


def _strip_newline(text):
    return text[:-1] if text.endswith('\n') else text


class KernelState(object):
    """Read-only view of the running kernel's modules under ``root``.

    Each method reads the files afresh (no caching: the kernel changes under
    us).  ``warnings`` collects what was odd, without duplicates;
    ``unreadable_params`` lists 'module.param' for each parameter file that
    could not be read (write-only parameters give EACCES even to root).
    """

    def __init__(self, root='/'):
        self.root = root
        self.warnings = []
        self.unreadable_params = []

    # -- plumbing -------------------------------------------------------

    def path(self, abs_path):
        """The file of the kernel path abs_path ('/proc/modules') under root."""
        if self.root == '/':   # the usual case, and a few hundred calls per survey
            return '/' + abs_path.lstrip('/')
        return os.path.join(self.root, abs_path.lstrip('/'))

    def _warn(self, msg):
        if msg not in self.warnings:
            self.warnings.append(msg)

    def _read_optional(self, abs_path):
        """Text of a kernel file under root; None (and a warning unless it
        is simply absent) when it cannot be read."""
        real = self.path(abs_path)
        try:
            return _decode(_read_bytes(real))
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                self._warn('cannot read %s: %s' % (real, exc.strerror or exc))
            return None

    def _read_int(self, abs_path):
        text = self._read_optional(abs_path)
        if text is None:
            return None
        value = text.strip()
        if _is_decimal(value.lstrip('-')) and value.count('-') <= 1 and not value.endswith('-'):
            return int(value)
        self._warn('%s: expected an integer, got %r' % (self.path(abs_path), _shorten(value)))
        return None

    def _list_dir(self, abs_path):
        """Sorted entry names of a directory under root; None if absent."""
        real = self.path(abs_path)
        try:
            return sorted(os.listdir(real))
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                self._warn('cannot list %s: %s' % (real, exc.strerror or exc))
            return None

    # -- /proc/modules --------------------------------------------------

    def modules_supported(self):
        """False on a kernel built without module support (no /proc/modules)."""
        return os.path.exists(self.path(PROC_MODULES))

    def proc_modules(self):
        """Loaded modules from /proc/modules: dict name -> info.

        info: size (int), refcnt (int, or None on kernels without module
        unloading), used_by (list), permanent (bool), state
        ('Live'/'Loading'/'Unloading'), address ('0x...'), taint (letters,
        '' if none).  {} when the kernel has no /proc/modules.  Odd lines are
        skipped with a warning.
        """
        real = self.path(PROC_MODULES)
        try:
            with open(real, 'rb') as f:
                text = _decode(f.read())
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return {}
            raise KmodError.from_os_error(exc, 'cannot read', path=real)
        modules, warnings = parse_proc_modules(text, real)
        for w in warnings:
            self._warn(w)
        return modules

    # -- /sys/module ----------------------------------------------------

    def module_params(self, name):
        """Parameters of a module (loaded or builtin) from
        /sys/module/<name>/parameters: dict param -> value string (trailing
        newline stripped), None for a parameter that cannot be read.  {} when
        the module has no parameters directory."""
        return self._read_params(self._check_name(name))

    def module_param_modes(self, name):
        """{param: permission bits} of /sys/module/<name>/parameters, judged
        with lstat (the kernel shows a parameter without a store function
        as 0444, one that root may change as 0644 or 0600); {} without a
        parameters directory.  Entries that are not regular files are left
        out."""
        params_dir = '%s/%s/parameters' % (SYS_MODULE, self._check_name(name))
        modes = {}
        for param in self._list_dir(params_dir) or ():
            try:
                info = os.lstat(self.path('%s/%s' % (params_dir, param)))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                modes[param] = stat.S_IMODE(info.st_mode)
        return modes

    def _read_params(self, name):
        """Parameters of /sys/module/<name> for a name as the directory has it."""
        params_dir = '%s/%s/parameters' % (SYS_MODULE, name)
        entries = self._list_dir(params_dir)
        params = {}
        for param in entries or ():
            real = self.path('%s/%s' % (params_dir, param))
            try:
                params[param] = _strip_newline(_decode(_read_bytes(real)))
            except OSError as exc:
                params[param] = None
                self.unreadable_params.append('%s.%s' % (name, param))
                if exc.errno not in _PERMISSION_ERRNOS:
                    self._warn('cannot read parameter %s: %s' % (real, exc.strerror or exc))
        return params

    def _check_name(self, name):
        name = module_name(name)
        if not name or name in ('.', '..') or any(c in _BAD_NAME_CHARS for c in name):
            raise KmodError('invalid module name %r' % name, module=name)
        return name

    def _sysfs_info(self, name, entries, params):
        """Attributes of /sys/module/<name>/ whose entry names are known."""
        base = '%s/%s' % (SYS_MODULE, name)
        info = {}
        for attr in SYSFS_TEXT_ATTRS:
            text = self._read_optional('%s/%s' % (base, attr)) if attr in entries else None
            info[attr] = text.strip() if text is not None else None
        for attr in SYSFS_INT_ATTRS:
            info[attr] = self._read_int('%s/%s' % (base, attr)) if attr in entries else None
        holders = self._list_dir(base + '/holders') if 'holders' in entries else None
        info['holders'] = holders or []
        if params is not None:
            info['params'] = self._read_params(name) if 'parameters' in entries else {}
        return info

    def module_sysfs(self, name, params=False):
        """What /sys/module/<name>/ says, or None when there is no such dir.

        {'initstate': 'live'|'coming'|'going'|None (None: builtin or not set
        up yet), 'refcnt', 'coresize', 'initsize': int or None, 'taint',
        'srcversion', 'version': str or None, 'holders': [names]}, plus
        'params' (see module_params) when params=True.
        """
        name = self._check_name(name)
        entries = self._list_dir('%s/%s' % (SYS_MODULE, name))
        if entries is None:
            return None
        return self._sysfs_info(name, set(entries), True if params else None)

    def survey(self, params=False):
        """One pass over /proc/modules and /sys/module.

        Returns {'loaded': {...}, 'builtin': {...}} (see loaded() and
        builtin_in_sysfs()).  A /sys/module dir without initstate is a builtin
        module, unless /proc/modules lists it (a module still coming up).
        """
        proc = self.proc_modules()
        want_params = True if params else None
        sys_entries = self._list_dir(SYS_MODULE) or []
        loaded = {}
        builtin = {}
        for name in sys_entries:
            entries = self._list_dir('%s/%s' % (SYS_MODULE, name))
            if entries is None:  # a file such as /sys/module/compression, or gone meanwhile
                continue
            entries = set(entries)
            if 'initstate' in entries or name in proc:
                _skip_known(entries, proc.get(name))
                loaded[name] = self._merge(name, proc.get(name), self._sysfs_info(name, entries, want_params))
            else:
                version = self._read_optional('%s/%s/version' % (SYS_MODULE, name)) if 'version' in entries else None
                info = {'version': version.strip() if version is not None else None}
                if params:
                    info['params'] = self._read_params(name) if 'parameters' in entries else {}
                builtin[name] = info
        for name in proc:
            if name not in loaded:  # listed by the kernel but no /sys/module dir (yet)
                loaded[name] = self._merge(name, proc[name], None, want_params)
        return {'loaded': dict(sorted(loaded.items())), 'builtin': builtin}

    @staticmethod
    def _merge(name, proc, sysfs, want_params=None):
        proc = proc or {}
        sysfs = sysfs or {}
        state = proc.get('state') or INITSTATE_TO_STATE.get(sysfs.get('initstate'))
        refcnt = proc.get('refcnt')
        if refcnt is None:
            refcnt = sysfs.get('refcnt')
        taint_letters = proc.get('taint')
        if taint_letters is None:
            taint_letters = sysfs.get('taint') or ''
        merged = {
            'size': proc.get('size'),
            'refcnt': refcnt,
            'used_by': proc.get('used_by', []),
            'holders': sysfs.get('holders', []),
            'permanent': proc.get('permanent', False),
            'state': state,
            'initstate': sysfs.get('initstate'),
            'address': proc.get('address'),
            'taint': taint_letters,
            'srcversion': sysfs.get('srcversion'),
            'version': sysfs.get('version'),
            'coresize': sysfs.get('coresize'),
            'initsize': sysfs.get('initsize'),
            'in_proc_modules': bool(proc),
            'in_sysfs': bool(sysfs),
        }
        if 'params' in sysfs:
            merged['params'] = sysfs['params']
        elif want_params:
            merged['params'] = {}
        return merged

    def loaded_lazily(self):
        """loaded() as a LoadedModules: the names from /proc/modules now, each
        module's /sys/module attributes when it is first looked up.  A task
        that plans a few modules out of the dozens loaded reads only theirs
        (reading every module's sysfs first was most of a kmod_load run on a
        slow machine).  Without /proc/modules, the whole survey at once."""
        if not self.modules_supported():
            return LoadedModules(self, {}, self.loaded())
        return LoadedModules(self, self.proc_modules())

    def loaded_entry(self, name, proc_info):
        """One value of loaded(): /proc/modules' info merged with /sys/module/<name>/."""
        entries = self._list_dir('%s/%s' % (SYS_MODULE, name))
        sysfs = self._sysfs_info(name, set(entries), None) if entries is not None else None
        return self._merge(name, proc_info, sysfs)

    def loaded(self, params=False):
        """Loaded modules, /proc/modules and /sys/module merged: dict name ->
        {size, refcnt, used_by, holders, permanent, state, initstate, address,
        taint, srcversion, version, coresize, initsize, in_proc_modules,
        in_sysfs} plus params (dict) when params=True.  Values a source does
        not give are None ([] for lists)."""
        return self.survey(params)['loaded']

    def builtin_in_sysfs(self, params=False):
        """Builtin modules visible in /sys/module (those with parameters or a
        version): dict name -> {'version': str or None} plus 'params' when
        params=True."""
        return self.survey(params)['builtin']

    # -- kernel-wide settings -------------------------------------------

    def compression(self):
        """The in-kernel module decompressor ('xz', 'zstd', 'gzip'; kernel
        6.4+), or None when the kernel has none or is older."""
        text = self._read_optional(SYS_COMPRESSION)
        if text is None:
            return None
        return text.strip() or None

    def sig_enforce(self):
        """True when only validly signed modules load, False when not
        enforced, None when the kernel has no module signing."""
        text = self._read_optional(SIG_ENFORCE)
        if text is None:
            return None
        value = text.strip()
        if value in ('Y', '1'):
            return True
        if value in ('N', '0'):
            return False
        self._warn('%s: expected Y or N, got %r' % (self.path(SIG_ENFORCE), _shorten(value)))
        return None

    def modules_disabled(self):
        """True once module loading was switched off until reboot; None when
        the kernel has no such switch (no module support)."""
        value = self._read_int(MODULES_DISABLED)
        return None if value is None else value != 0

    def tainted(self):
        """The kernel's taint bitmask (int), None when unreadable."""
        value = self._read_int(TAINTED)
        if value is not None and value < 0:
            self._warn('%s: negative taint mask %d' % (self.path(TAINTED), value))
            return None
        return value

    def release(self):
        """The running kernel's release ('6.1.0-18-amd64').  Falls back to
        uname only for the real root: a fake root has no uname."""
        text = self._read_optional(OSRELEASE)
        if text is not None and text.strip():
            return text.strip()
        if os.path.abspath(self.root) == '/':
            return os.uname()[2]
        return None

    def cmdline(self):
        """The kernel command line (trailing newline stripped), or None."""
        text = self._read_optional(CMDLINE)
        return None if text is None else _strip_newline(text)


class LoadedModules(MutableMapping):
    """KernelState.loaded() read on demand (KernelState.loaded_lazily):
    iteration, `in` and state() use /proc/modules alone; a value is read
    from /sys/module the first time it is asked for, then kept, so the
    snapshot stays one snapshot.  Planners may add and remove entries."""

    def __init__(self, kernel, proc, values=None):
        self._kernel = kernel
        self._proc = proc
        self._values = dict(values or {})
        self._names = sorted(set(proc) | set(self._values))

    def state(self, name):
        """'Live', 'Loading' or 'Unloading' (None when unknown), without reading sysfs."""
        if name in self._values:
            return (self._values[name] or {}).get('state')
        return (self._proc.get(name) or {}).get('state')

    def __getitem__(self, name):
        if name in self._values:
            return self._values[name]
        if name not in self._proc or name not in self._names:
            raise KeyError(name)
        value = self._values[name] = self._kernel.loaded_entry(name, self._proc[name])
        return value

    def __setitem__(self, name, value):
        if name not in self._values and name not in self._names:
            self._names.append(name)
        self._values[name] = value

    def __delitem__(self, name):
        if name not in self._names:
            raise KeyError(name)
        self._names.remove(name)
        self._values.pop(name, None)

    def __contains__(self, name):
        return name in self._names

    def __iter__(self):
        return iter(list(self._names))

    def __len__(self):
        return len(self._names)
