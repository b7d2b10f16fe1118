# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The only layer that changes the running kernel: insert and delete modules.

Modules go in with the kernel's own system calls, through ctypes and one
lazily loaded libc (``use_errno=True``), the way kmod does it:

- ``finit_module(fd, params, flags)`` for a plain file, or for a compressed
  file whose compression the kernel decompresses itself (its name is in
  /sys/module/compression) with MODULE_INIT_COMPRESSED_FILE;
- otherwise, and when the kernel has no finit_module (ENOSYS), the file is
  decompressed here and handed over with ``init_module(image, len, params)``;
- ``delete_module(name, O_NONBLOCK)`` (``| O_TRUNC`` to force); waiting for
  a module in use is done here, retrying on EAGAIN with a doubling delay.

glibc has no wrapper for finit_module, so every call goes through
``syscall(2)`` with the number from the architecture's syscall table.  A
failed call keeps its errno; errors say what failed in kmod's words, with
the kernel's log lines about the module (read from /dev/kmsg) when the
kernel refused it.  Tests inject the syscall function, the clock and the
sleep, and point ``root`` at a fake tree: nothing here is mocked.
"""

import errno as _errno
import os
import stat
import time

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError, describe_errno
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from ansible_collections.kernel.kmod.plugins.module_utils.names import module_name, module_name_from_path

# An uncompressed module file begins with it (no compressed one can): such a
# file is loaded without importing the decompressors (image.compression).
ELF_MAGIC = b'\x7fELF'

# include/uapi/linux/module.h
MODULE_INIT_IGNORE_MODVERSIONS = 1
MODULE_INIT_IGNORE_VERMAGIC = 2
MODULE_INIT_COMPRESSED_FILE = 4

INIT_MODULE = 'init_module'
DELETE_MODULE = 'delete_module'
FINIT_MODULE = 'finit_module'

# (init_module, delete_module, finit_module) per syscall ABI, from the
# kernel's tables: arch/x86/entry/syscalls/syscall_{64,32}.tbl,
# include/uapi/asm-generic/unistd.h (arm64, riscv, loongarch),
# arch/arm/tools/syscall.tbl (EABI), arch/powerpc/kernel/syscalls/syscall.tbl,
# arch/s390/kernel/syscalls/syscall.tbl and arch/mips/kernel/syscalls/
# syscall_{o32,n64}.tbl (plus the ABI's base, 4000 and 5000).
SYSCALL_TABLES = {
    'x86_64': (175, 176, 313),
    'i386': (128, 129, 350),
    'generic': (105, 106, 273),
    'arm': (128, 129, 379),
    'powerpc': (128, 129, 353),
    's390': (128, 129, 344),
    'mips_o32': (4128, 4129, 4348),
    'mips_n64': (5168, 5169, 5307),
}

# kmod's first delay when waiting for a module in use, doubled on each retry
FIRST_WAIT_DELAY = 0.001
# how long delete(wait=True) waits for a module to fall out of use
DEFAULT_WAIT_SECONDS = 10.0

KMSG = '/dev/kmsg'
# a /dev/kmsg record is at most this big (the kernel refuses smaller reads)
KMSG_READ_SIZE = 16384
# records read after one call at most, so a log flood cannot hold us up
KMSG_MAX_RECORDS = 2000
# lines kept when none names the module (signature refusals name none)
KMSG_UNNAMED_KEEP = 10

_SIGNATURE_ERRNOS = frozenset(getattr(_errno, n) for n in ('EKEYREJECTED', 'ENOKEY', 'EKEYEXPIRED',
                                                           'EKEYREVOKED', 'EBADMSG', 'EPERM')
                              if hasattr(_errno, n))
_BAD_NAME_CHARS = frozenset('/\0 \t\r\n\x0b\x0c')


class KernelCallError(KmodError):
    """A system call on a module failed; ``kernel_log`` holds what the
    kernel logged about the module meanwhile (a list of str, maybe empty)."""

    def __init__(self, msg, errno=None, path=None, module=None, kernel_log=()):
        KmodError.__init__(self, msg, errno=errno, path=path, module=module)
        self.kernel_log = list(kernel_log)

    def fail_kwargs(self):
        out = KmodError.fail_kwargs(self)
        if self.kernel_log:
            out['kernel_log'] = list(self.kernel_log)
        return out


class LoadError(KernelCallError):
    """A module could not be inserted (EEXIST: it is in the kernel already)."""


class UnloadError(KernelCallError):
    """A module could not be deleted (ENOENT: it is not loaded)."""


# -- syscall numbers ---------------------------------------------------------

def syscall_abi(machine, pointer_bits):
    """The key of SYSCALL_TABLES for a uname machine and the process's
    pointer width (a 32-bit process on a 64-bit kernel uses the 32-bit
    numbers), or None when unknown.  x32 and MIPS n32 are not handled."""
    m = machine.lower()
    wide = pointer_bits == 64
    if m in ('x86_64', 'amd64'):
        return 'x86_64' if wide else 'i386'
    if m in ('i386', 'i486', 'i586', 'i686', 'x86'):
        return 'i386'
    if m in ('aarch64', 'aarch64_be', 'arm64'):
        return 'generic' if wide else 'arm'
    if m.startswith('arm'):
        return 'arm'
    if m.startswith('ppc') or m.startswith('powerpc'):
        return 'powerpc'
    if m in ('s390', 's390x'):
        return 's390'
    if m.startswith('riscv') or m.startswith('loongarch'):
        return 'generic'
    if m.startswith('mips'):
        return 'mips_n64' if wide else 'mips_o32'
    return None


def syscall_numbers(machine, pointer_bits):
    """{'init_module': n, 'delete_module': n, 'finit_module': n}; KmodError
    for an architecture without known numbers."""
    abi = syscall_abi(machine, pointer_bits)
    if abi is None:
        raise KmodError('no system call numbers known for machine %r (%d-bit process): cannot load or '
                        'unload modules with system calls here' % (machine, pointer_bits))
    init, delete, finit = SYSCALL_TABLES[abi]
    return {INIT_MODULE: init, DELETE_MODULE: delete, FINIT_MODULE: finit}


def _host_machine():
    import ctypes  # only when the real kernel is used
    return os.uname()[4], ctypes.sizeof(ctypes.c_void_p) * 8


# -- libc --------------------------------------------------------------------

_LIBC = []


def _libc():
    """(ctypes, libc) loaded once; libc.syscall returns a C long."""
    if not _LIBC:
        import ctypes
        lib = ctypes.CDLL(None, use_errno=True)
        if not hasattr(lib, 'syscall'):  # an interpreter not linked to libc dynamically
            import ctypes.util
            lib = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        lib.syscall.restype = ctypes.c_long
        _LIBC.append((ctypes, lib))
    return _LIBC[0]


def libc_syscall(number, *args):
    """syscall(2): bytes go as char pointers, ints as C longs; returns the
    result, raises OSError with the call's errno when it returns -1."""
    ctypes, lib = _libc()
    c_args = [ctypes.c_char_p(a) if isinstance(a, bytes) else ctypes.c_long(a) for a in args]
    result = lib.syscall(ctypes.c_long(number), *c_args)
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


# -- kernel log --------------------------------------------------------------

def parse_kmsg(chunk):
    """Message texts of /dev/kmsg records in `chunk` (bytes).

    A record is 'prio,seq,usec,flags[,...];text' and a newline; lines that
    start with a space are the record's KEY=VALUE dictionary and skipped.
    One read of /dev/kmsg gives one record; a plain file may hold many.
    """
    out = []
    for line in chunk.split(b'\n'):
        if not line or line[:1] == b' ':
            continue
        head, sep, text = line.partition(b';')
        fields = head.split(b',')
        if not sep or len(fields) < 4 or not all(f.isdigit() for f in fields[:3]):
            continue
        out.append(text.decode('utf-8', 'replace'))
    return out


def mentions_module(text, name):
    """True when a log line names the module (with '_' or '-')."""
    return name in text or name.replace('_', '-') in text


def _open_kmsg(path):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0))
    return os.fdopen(fd, 'rb', buffering=0)


class KernelLog(object):
    """New /dev/kmsg records from start() on; never raises: an unreadable
    log (no permission, no such device, a container) just gives nothing."""

    def __init__(self, path, opener=None):
        self.path = path
        self._opener = opener or _open_kmsg
        self._file = None

    def start(self):
        try:
            self._file = self._opener(self.path)
            self._file.seek(0, os.SEEK_END)
        except (OSError, ValueError):
            self.close()

    def read_new(self):
        """Texts of the records logged since start() (at most KMSG_MAX_RECORDS)."""
        out = []
        if self._file is None:
            return out
        while len(out) < KMSG_MAX_RECORDS:
            try:
                chunk = self._file.read(KMSG_READ_SIZE)
            except OSError as exc:
                if exc.errno == _errno.EPIPE:  # records overwritten before we read them
                    continue
                break
            except ValueError:
                break
            if not chunk:  # None: nothing more now (EAGAIN); b'': end of a plain file
                break
            out.extend(parse_kmsg(chunk))
        return out[:KMSG_MAX_RECORDS]

    def lines_about(self, name, unnamed=False):
        """New lines naming the module; with unnamed=True, when none does,
        the last few new lines (the kernel's signature refusals name no
        module)."""
        lines = self.read_new()
        named = [line for line in lines if mentions_module(line, name)]
        if named or not unnamed:
            return named
        return lines[-KMSG_UNNAMED_KEEP:]

    def close(self):
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
        self._file = None


# -- error wording -----------------------------------------------------------

def insert_reason(err, sig_enforce=None, modules_disabled=None):
    """Why the kernel refused a module, in kmod's words where it has them."""
    if err == _errno.EEXIST:
        return 'Module already in kernel'
    if err == _errno.ENOENT:
        return 'Unknown symbol in module, or unknown parameter (see dmesg)'
    if err == _errno.ENOEXEC:
        return 'Invalid module format'
    if err == _errno.ESRCH:
        return 'Module has wrong symbol version'
    if err == _errno.EINVAL:
        return 'Invalid parameters'
    if err == _errno.EPERM and modules_disabled:
        return 'Operation not permitted: module loading is disabled (/proc/sys/kernel/modules_disabled is 1)'
    if err in _SIGNATURE_ERRNOS and sig_enforce:
        return ('%s: module signatures are enforced and the module is unsigned or not signed by a '
                'trusted key' % os.strerror(err))
    if err == _errno.EPERM:
        return 'Operation not permitted (loading modules needs root with CAP_SYS_MODULE, and no kernel lockdown)'
    if err == _errno.ENOSYS:
        return 'Function not implemented: the kernel has no loadable module support'
    return describe_errno(err)


def delete_reason(err, name, holders=(), modules_disabled=None, waited=None):
    """Why a module could not be removed, in kmod's words where it has them."""
    if err == _errno.ENOENT:
        return 'Module %s is not currently loaded' % name
    if err == _errno.EAGAIN:
        text = 'Module %s is in use' % name
        if holders:
            text += ' by: %s' % ' '.join(holders)
        if waited is not None:
            text += ' (still, after waiting %g s)' % waited
        return text
    if err == _errno.EBUSY:
        return ('Module %s is in use (it is still loading or unloading, or it has no exit function and only '
                'a forced removal takes it out)' % name)
    if err == _errno.EPERM and modules_disabled:
        return ('could not remove module %s: Operation not permitted: module loading and unloading is '
                'disabled (/proc/sys/kernel/modules_disabled is 1)' % name)
    if err == _errno.ENOSYS:
        return 'could not remove module %s: Function not implemented: the kernel cannot unload modules' % name
    return 'could not remove module %s: %s' % (name, describe_errno(err))


def _with_log(msg, lines):
    return '%s (kernel log: %s)' % (msg, '; '.join(lines)) if lines else msg


def check_module_name(name):
    """The kernel's name of a module ('-' becomes '_'); UnloadError for a
    name that cannot be one (empty, a path, NUL, blanks)."""
    normal = module_name(name) if isinstance(name, str) else None
    if not normal or normal in ('.', '..') or any(c in _BAD_NAME_CHARS for c in normal):
        raise UnloadError('invalid module name %r: a module name has no path, NUL or blanks' % (name,),
                          errno=_errno.EINVAL, module=name if isinstance(name, str) else None)
    return normal


def check_trusted(fd, path):
    """Refuse (LoadError EPERM) a module file opened as fd unless it and
    every directory above it are root's alone (trust.py, without the sticky
    exception).  The file is judged by its descriptor, the one then loaded,
    so it cannot be swapped after the check; once each directory above is
    root's alone nobody else can replace what is below it."""
    from ansible_collections.kernel.kmod.plugins.module_utils.trust import ROOT_ONLY, directory_problem, file_problem
    name = module_name_from_path(path) or module_name(os.path.basename(path))
    info = os.fstat(fd)
    reasons = []
    if not stat.S_ISREG(info.st_mode):
        reasons.append('%s is not a regular file' % path)
    else:
        reason = file_problem(info, path, ROOT_ONLY)
        if reason:
            reasons.append(reason)
    reason = directory_problem(os.path.dirname(os.path.abspath(path)), ROOT_ONLY, sticky_ok=False)
    if reason:
        reasons.append(reason)
    if reasons:
        raise LoadError("could not insert '%s': refusing an untrusted module file: %s (allow_untrusted lifts this)"
                        % (name, '; '.join(reasons)), errno=_errno.EPERM, path=path, module=name)


def encode_params(options, name, path=None):
    """The parameter string as the kernel takes it: bytes ending in NUL."""
    if options is None:
        options = ''
    raw = options.encode('utf-8', 'surrogateescape') if isinstance(options, str) else bytes(options)
    if b'\0' in raw:
        raise LoadError("could not insert '%s': Invalid parameters: they contain a NUL byte" % name,
                        errno=_errno.EINVAL, path=path, module=name)
    return raw + b'\0'


# -- the calls ---------------------------------------------------------------

class KernelCalls(object):
    """Insert and delete modules in the running kernel.

    root only locates the files read around the calls (/sys/module/
    compression, sig_enforce, modules_disabled, holders, /dev/kmsg).
    syscall(number, *args) -> int raising OSError, machine/pointer_bits,
    sleep(seconds), clock() -> seconds and kmsg_opener(path) -> file are for
    tests.  ``last_method`` tells how the last insert went in:
    'finit_module', 'finit_module+compressed' or 'init_module'.
    """

    def __init__(self, root='/', syscall=None, machine=None, pointer_bits=None, sleep=None, clock=None,
                 kmsg_opener=None, wait_seconds=DEFAULT_WAIT_SECONDS):
        self.root = root
        self.state = KernelState(root)
        self._syscall = syscall or libc_syscall
        self._machine = machine
        self._pointer_bits = pointer_bits
        self._numbers = None
        self._sleep = sleep or time.sleep
        self._clock = clock or time.monotonic
        self._kmsg_opener = kmsg_opener
        self.wait_seconds = wait_seconds
        self.last_method = None

    # -- plumbing -------------------------------------------------------

    def numbers(self):
        """The syscall numbers of this machine (worked out on first use)."""
        if self._numbers is None:
            machine, bits = _host_machine() if self._machine is None else (self._machine, 64)
            if self._pointer_bits is not None:
                bits = self._pointer_bits
            self._numbers = syscall_numbers(machine, bits)
        return self._numbers

    def _check_numbers(self, error_class, name, path=None):
        try:
            self.numbers()
        except KmodError as exc:
            raise error_class(exc.msg, errno=_errno.ENOSYS, path=path, module=name)

    def _call(self, which, *args):
        return self._syscall(self.numbers()[which], *args)

    def _kernel_log(self):
        log = KernelLog(self.state.path(KMSG), self._kmsg_opener)
        log.start()
        return log

    # -- insert ---------------------------------------------------------

    def insert(self, path, options='', ignore_vermagic=False, ignore_modversions=False, trusted_only=False):
        """Insert the module file at path with options (a str such as
        'numdummies=2').  trusted_only: refuse the file unless it and its
        directories are root's alone (check_trusted, made on the descriptor
        then loaded; the path is opened without following a final symlink).
        Raises LoadError (errno EEXIST when a module of that name is in the
        kernel already, EPERM for an untrusted file)."""
        name = module_name_from_path(path) or module_name(os.path.basename(path))
        params = encode_params(options, name, path)
        flags = ((MODULE_INIT_IGNORE_MODVERSIONS if ignore_modversions else 0)
                 | (MODULE_INIT_IGNORE_VERMAGIC if ignore_vermagic else 0))
        self._check_numbers(LoadError, name, path)  # before anything is opened
        open_flags = os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0) | (getattr(os, 'O_NOFOLLOW', 0) if trusted_only else 0)
        try:
            fd = os.open(path, open_flags)
        except OSError as exc:
            raise LoadError("could not insert '%s': cannot open %s: %s" % (name, path, exc.strerror or exc),
                            errno=exc.errno, path=path, module=name)
        if trusted_only:
            try:
                check_trusted(fd, path)
            except BaseException:
                os.close(fd)
                raise
        log = self._kernel_log()
        try:
            try:
                self._insert_fd(fd, path, name, params, flags)
            except OSError as exc:
                reason = insert_reason(exc.errno, self.state.sig_enforce(), self.state.modules_disabled())
                lines = [] if exc.errno == _errno.EEXIST else log.lines_about(name, exc.errno in _SIGNATURE_ERRNOS)
                raise LoadError(_with_log("could not insert '%s': %s" % (name, reason), lines),
                                errno=exc.errno, path=path, module=name, kernel_log=lines)
        finally:
            log.close()
            os.close(fd)

    def _insert_fd(self, fd, path, name, params, flags):
        head = os.pread(fd, 6, 0)
        if head.startswith(ELF_MAGIC):
            compression = None
        else:
            from ansible_collections.kernel.kmod.plugins.module_utils.image.compression import detect_compression
            compression = detect_compression(head)
        if compression is None or compression == self.state.compression():
            file_flags = flags | (MODULE_INIT_COMPRESSED_FILE if compression else 0)
            try:
                self._call(FINIT_MODULE, fd, params, file_flags)
                self.last_method = FINIT_MODULE + ('+compressed' if compression else '')
                return
            except OSError as exc:
                if exc.errno != _errno.ENOSYS:
                    raise
        self._insert_image(path, name, compression, params, flags)

    def _insert_image(self, path, name, compression, params, flags):
        from ansible_collections.kernel.kmod.plugins.module_utils.image.compression import decompress, read_file
        from ansible_collections.kernel.kmod.plugins.module_utils.image.strip import strip_version_checks
        try:
            image = decompress(read_file(path), compression, path)
            image = strip_version_checks(image, bool(flags & MODULE_INIT_IGNORE_VERMAGIC),
                                         bool(flags & MODULE_INIT_IGNORE_MODVERSIONS), path)
        except KmodError as exc:
            raise LoadError("could not insert '%s': %s" % (name, exc.msg), errno=exc.errno, path=path, module=name)
        self._call(INIT_MODULE, image, len(image), params)
        self.last_method = INIT_MODULE

    # -- parameters of a loaded module ----------------------------------

    def set_param(self, name, param, value):
        """Write value to /sys/module/<name>/parameters/<param>, as the
        kernel's own store function of that parameter takes it.  The file
        must exist and be a regular file (no symlink is followed, nothing is
        created); a parameter shown read-only (no write bit) is refused
        before it is opened.  Raises KernelCallError."""
        name = check_module_name(name)
        if not isinstance(param, str) or not param or param in ('.', '..') or any(
                c in _BAD_NAME_CHARS for c in param):
            raise KernelCallError('invalid parameter name %r of module %s' % (param, name), errno=_errno.EINVAL,
                                  module=name)
        path = self.state.path('/sys/module/%s/parameters/%s' % (name, param))
        data = value.encode('utf-8') if isinstance(value, str) else bytes(value)
        what = 'could not set parameter %s of module %s' % (param, name)
        try:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                raise KernelCallError('%s: %s is not a parameter file' % (what, path), errno=_errno.EINVAL,
                                      path=path, module=name)
            if not info.st_mode & stat.S_IWUSR:
                raise KernelCallError('%s: it is read-only (mode %04o); only loading the module sets it'
                                      % (what, stat.S_IMODE(info.st_mode)), errno=_errno.EACCES, path=path,
                                      module=name)
            # O_TRUNC as a shell's > does: sysfs ignores it, a plain file (a test root) needs it
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0))
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            raise KernelCallError('%s: %s' % (what, exc.strerror or exc), errno=exc.errno, path=path, module=name)

    # -- delete ---------------------------------------------------------

    def _wait_limit(self, wait):
        if wait is True:
            return float(self.wait_seconds)
        if wait is False or wait is None:
            return None
        return max(float(wait), 0.0)

    def delete(self, name, wait=False, force=False):
        """Remove a loaded module.  wait: False, True (up to wait_seconds) or
        seconds to wait while it is in use; force: O_TRUNC, the kernel's
        forced removal (only kernels built with MODULE_FORCE_UNLOAD).
        Raises UnloadError (errno ENOENT when it is not loaded)."""
        name = check_module_name(name)
        limit = self._wait_limit(wait)
        flags = os.O_NONBLOCK | (os.O_TRUNC if force else 0)
        raw_name = name.encode('utf-8', 'surrogateescape') + b'\0'
        self._check_numbers(UnloadError, name)
        log = self._kernel_log()
        try:
            self._delete_waiting(raw_name, flags, limit)
        except OSError as exc:
            holders = []
            if exc.errno == _errno.EAGAIN:
                info = self.state.module_sysfs(name)
                holders = info['holders'] if info else []
            reason = delete_reason(exc.errno, name, holders, self.state.modules_disabled(),
                                   limit if limit is not None and exc.errno == _errno.EAGAIN else None)
            lines = log.lines_about(name) if exc.errno != _errno.ENOENT else []
            raise UnloadError(_with_log(reason, lines), errno=exc.errno, module=name, kernel_log=lines)
        finally:
            log.close()

    def _delete_waiting(self, raw_name, flags, limit):
        deadline = None
        delay = 0.0
        while True:
            try:
                self._call(DELETE_MODULE, raw_name, flags)
                return
            except OSError as exc:
                if exc.errno != _errno.EAGAIN or limit is None:
                    raise
                now = self._clock()
                if deadline is None:
                    deadline = now + limit
                remaining = deadline - now
                if remaining <= 0:
                    raise
                # doubling delays, the last one cut to what is left
                delay = min(delay * 2 if delay else FIRST_WAIT_DELAY, remaining)
                self._sleep(delay)


__all__ = ['KernelCalls', 'KernelCallError', 'LoadError', 'UnloadError', 'KernelLog',
           'MODULE_INIT_IGNORE_MODVERSIONS', 'MODULE_INIT_IGNORE_VERMAGIC', 'MODULE_INIT_COMPRESSED_FILE',
           'SYSCALL_TABLES', 'syscall_abi', 'syscall_numbers', 'libc_syscall', 'parse_kmsg',
           'mentions_module', 'insert_reason', 'delete_reason', 'check_module_name', 'encode_params',
           'check_trusted',
           'DEFAULT_WAIT_SECONDS', 'FIRST_WAIT_DELAY']
