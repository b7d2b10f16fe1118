"""A stand-in for kernel_calls.KernelCalls that changes a FakeKernel instead.

    kernel = FakeKernel(tmp_path).add_module('bridge', used_by=['br_netfilter'], refcnt=1)
    kernel.write()
    calls = FakeKernelCalls(kernel)
    calls.fail_insert('broken', errno.ENOEXEC, kernel_log=['broken: bad ELF'])
    calls.insert('/lib/modules/6.1/kernel/drivers/net/dummy.ko', 'numdummies=2')
    calls.delete('dummy')
    calls.calls == [('insert', '/lib/.../dummy.ko', 'numdummies=2'), ('delete', 'dummy')]

It behaves like the kernel as seen through KernelCalls: a module of the same
name already loaded gives LoadError EEXIST; deleting a module that is not
loaded gives UnloadError ENOENT; one with a refcount gives EAGAIN ("in use")
unless forced.  Errors carry the same messages as the real layer.  Each
successful call rewrites the fake kernel's files, so KernelState(root) sees
the new state.  ``details`` has one dict per call with every argument.

Reference counts count: inserting a module whose modules.dep entry (in the
fake root's tree of the running release, when there is one) names loaded
modules makes it their holder, as the kernel does when a module's symbols
resolve to theirs; deleting it lowers their counts again.
"""

import errno as _errno
import os
import shlex
import shutil

from ansible_collections.kernel.kmod.plugins.module_utils.kernel.calls import (
    KernelCallError, LoadError, UnloadError, check_module_name, check_trusted, delete_reason, insert_reason)
from ansible_collections.kernel.kmod.plugins.module_utils.names import module_name, module_name_from_path


def params_from_options(options):
    """'a=1 b="x y" c' -> {'a': '1', 'b': 'x y', 'c': 'Y'} (how the module's
    parameter files would read; a bare flag reads Y)."""
    params = {}
    for word in shlex.split(options or ''):
        key, eq, value = word.partition('=')
        params[key] = value if eq else 'Y'
    return params


class FakeKernelCalls(object):
    """Same methods as KernelCalls; records calls, raises configured errors."""

    def __init__(self, fake_kernel):
        self.kernel = fake_kernel
        self.calls = []
        self.details = []
        self._insert_failures = {}
        self._delete_failures = {}
        # module name -> {param: mode} its parameter files get when inserted
        self.param_modes = {}

    # -- configuration --------------------------------------------------

    def fail_insert(self, name_or_path, errno, kernel_log=(), with_option=None):
        """Every insert of that module name (or exact path) raises LoadError;
        with_option: only the inserts whose option text has that word (a value the module refuses)."""
        key = name_or_path if '/' in name_or_path else module_name(name_or_path)
        self._insert_failures[key] = (errno, list(kernel_log), with_option)
        return self

    def fail_delete(self, name, errno, kernel_log=()):
        """Every delete of that module raises UnloadError."""
        self._delete_failures[module_name(name)] = (errno, list(kernel_log))
        return self

    # -- the fake kernel ------------------------------------------------

    def _loaded(self, name):
        for mod in self.kernel.modules:
            if mod['name'] == name:
                return mod
        return None

    def _remove(self, mod):
        name = mod['name']
        self.kernel.modules.remove(mod)
        for other in self.kernel.modules:
            if name in other['used_by']:
                other['used_by'].remove(name)
                other['refcnt'] = max(other['refcnt'] - 1, 0)
            if name in other['holders']:
                other['holders'].remove(name)
                link = os.path.join(self.kernel.root, 'sys/module', other['name'], 'holders', name)
                if os.path.lexists(link):
                    os.remove(link)
        shutil.rmtree(os.path.join(self.kernel.root, 'sys/module', name), ignore_errors=True)

    # -- KernelCalls ----------------------------------------------------

    def insert(self, path, options='', ignore_vermagic=False, ignore_modversions=False, trusted_only=False):
        self.calls.append(('insert', path, options))
        self.details.append({'call': 'insert', 'path': path, 'options': options,
                             'ignore_vermagic': ignore_vermagic, 'ignore_modversions': ignore_modversions,
                             'trusted_only': trusted_only})
        name = module_name_from_path(path) or module_name(os.path.basename(path))
        if trusted_only:
            # the real judgement, on the real file the test made
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                check_trusted(fd, path)
            finally:
                os.close(fd)
        failure = self._insert_failures.get(path) or self._insert_failures.get(name)
        if failure is not None and failure[2] is not None and failure[2] not in options.split():
            failure = None
        if failure is None and self._loaded(name) is not None:
            failure = (_errno.EEXIST, [], None)
        if failure is not None:
            err, lines, _word = failure
            msg = "could not insert '%s': %s" % (name, insert_reason(err))
            if lines:
                msg += ' (kernel log: %s)' % '; '.join(lines)
            raise LoadError(msg, errno=err, path=path, module=name, kernel_log=lines)
        self.kernel.add_module(name, params=params_from_options(options), param_modes=self.param_modes.get(name))
        for dep in self._dependencies(path):
            provider = self._loaded(dep)
            if provider is not None and name not in provider['used_by']:
                provider['refcnt'] += 1
                provider['used_by'].append(name)
                provider['holders'].append(name)
        self.kernel.write()

    def _dependencies(self, path):
        """Module names modules.dep lists for the file at path ([] when unknown)."""
        release = (self.kernel.files.get('/proc/sys/kernel/osrelease') or '').strip()
        module_dir = os.path.join(self.kernel.root, 'lib/modules', release)
        try:
            with open(os.path.join(module_dir, 'modules.dep')) as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        for line in lines:
            rel, sep, deps = line.partition(':')
            if sep and (path == rel or path == os.path.join(module_dir, rel) or path.endswith('/' + rel)):
                return [module_name_from_path(d) for d in deps.split()]
        return []

    def set_param(self, name, param, value):
        """Like KernelCalls.set_param: refuses a read-only parameter
        (mode without the owner's write bit), else stores the value as the
        parameter file then reads (the kernel would normalise it: booleans
        to Y/N; done here for '1'/'0'/'y'/'n')."""
        self.calls.append(('set_param', name, param, value))
        self.details.append({'call': 'set_param', 'name': name, 'param': param, 'value': value})
        name = check_module_name(name)
        mod = self._loaded(name)
        holder = mod if mod is not None else self.kernel.builtins.get(name)
        if holder is None or param not in holder['params']:
            raise KernelCallError('could not set parameter %s of module %s: No such file or directory'
                                  % (param, name), errno=_errno.ENOENT, module=name)
        mode = holder.get('param_modes', {}).get(param, 0o644)
        if not mode & 0o200:
            raise KernelCallError('could not set parameter %s of module %s: it is read-only (mode %04o); only '
                                  'loading the module sets it' % (param, name, mode), errno=_errno.EACCES,
                                  module=name)
        old = holder['params'][param]
        if old in ('Y', 'N') and value in ('1', '0', 'y', 'n', 'Y', 'N'):
            value = 'Y' if value in ('1', 'y', 'Y') else 'N'
        holder['params'][param] = value
        self.kernel.write()

    def delete(self, name, wait=False, force=False):
        self.calls.append(('delete', name))
        self.details.append({'call': 'delete', 'name': name, 'wait': wait, 'force': force})
        name = check_module_name(name)
        mod = self._loaded(name)
        failure = self._delete_failures.get(name)
        if failure is None and mod is None:
            failure = (_errno.ENOENT, [])
        if failure is None and mod['refcnt'] and not force:
            failure = (_errno.EAGAIN, [])
        if failure is not None:
            err, lines = failure
            msg = delete_reason(err, name, mod['holders'] if mod else ())
            if lines:
                msg += ' (kernel log: %s)' % '; '.join(lines)
            raise UnloadError(msg, errno=err, module=name, kernel_log=lines)
        self._remove(mod)
        self.kernel.write()
