"""Build a fake running kernel's /proc and /sys under a directory.

Readers of the running kernel take a root; tests give them one of these::

    root = (FakeKernel(tmp_path)
            .add_module('dummy', size=16384, params={'numdummies': '1'})
            .add_module('bridge', size=380928, used_by=['br_netfilter'], refcnt=1)
            .add_builtin('printk', params={'time': 'Y'})
            .set_tainted(4096)
            .write())
    KernelState(root).loaded()

Nothing is written until write(), which returns the root path (a str) and may
be called again after more changes (it rewrites everything it knows about).
The defaults describe a plain, untainted 6.1 kernel with module unloading,
no module compression in the kernel and no signature enforcement.
"""

import os

# A parameter value that makes a write-only (mode 0200) parameter file, the
# way the kernel shows parameters declared without read permission.
WRITE_ONLY = object()

# Where each kind of module dir comes from:
#   'full' - a loaded module's /sys/module/<name> with initstate, refcnt, ...
#   'bare' - only the dir and its parameters (a module still coming up)
#   'none' - no /sys/module/<name> at all
SYSFS_KINDS = ('full', 'bare', 'none')

_INITSTATE = {'Live': 'live', 'Loading': 'coming', 'Unloading': 'going'}


class FakeKernel(object):
    """Accumulates a fake kernel's state, then writes it under root."""

    def __init__(self, root):
        self.root = str(root)
        self.modules = []          # dicts, in /proc/modules order
        self.builtins = {}         # name -> {'params': ..., 'version': ...}
        self.extra_proc_lines = []  # raw lines appended to /proc/modules
        self.files = {}            # kernel path -> content (None: absent)
        self.module_unload = True
        self.proc_modules = True
        self.set_tainted(0)
        self.set_release('6.1.0-test-amd64')
        self.set_cmdline('BOOT_IMAGE=/boot/vmlinuz-6.1.0-test-amd64 root=/dev/vda ro quiet')
        self.set_modules_disabled(0)
        self.set_sig_enforce(None)
        self.set_compression(None)

    # -- modules ----------------------------------------------------------

    def add_module(self, name, size=16384, refcnt=None, used_by=(), holders=None, state='Live',
                   taint='', address='0xffffffffc0000000', params=None, srcversion=None,
                   version=None, coresize=None, initsize=0, permanent=False, sysfs='full', param_modes=None):
        """A loaded module: one /proc/modules line and /sys/module/<name>.

        refcnt defaults to len(used_by); holders default to used_by; coresize
        defaults to size; taint is the letters ('OE'); params maps names to
        value strings (WRITE_ONLY for a write-only parameter); param_modes
        maps parameter names to their file modes (0644 when not given;
        0444 is how the kernel shows one that only loading sets).
        """
        if sysfs not in SYSFS_KINDS:
            raise ValueError('sysfs must be one of %s' % (SYSFS_KINDS,))
        self.modules.append({
            'name': name, 'size': size,
            'refcnt': len(used_by) if refcnt is None else refcnt,
            'used_by': list(used_by),
            'holders': list(used_by if holders is None else holders),
            'state': state, 'taint': taint, 'address': address,
            'params': dict(params or {}), 'srcversion': srcversion, 'version': version,
            'coresize': size if coresize is None else coresize, 'initsize': initsize,
            'permanent': permanent, 'sysfs': sysfs, 'param_modes': dict(param_modes or {}),
        })
        return self

    def add_builtin(self, name, params=None, version=None, param_modes=None):
        """A builtin module that shows in /sys/module: it has parameters or
        a version, and no initstate."""
        self.builtins[name] = {'params': dict(params or {}), 'version': version,
                               'param_modes': dict(param_modes or {})}
        return self

    def add_proc_line(self, line):
        """A raw line appended to /proc/modules (for odd-line tests)."""
        self.extra_proc_lines.append(line)
        return self

    def without_module_unload(self):
        """A kernel built without CONFIG_MODULE_UNLOAD: '- -' for refcnt and
        users in /proc/modules, no refcnt file in /sys/module/<name>."""
        self.module_unload = False
        return self

    def without_modules(self):
        """A kernel built without module support: no /proc/modules and no
        /proc/sys/kernel/modules_disabled."""
        self.proc_modules = False
        self.files['/proc/sys/kernel/modules_disabled'] = None
        return self

    # -- kernel-wide files ------------------------------------------------

    def set_file(self, kernel_path, content):
        """Any file under root, by its kernel path; content None removes it."""
        self.files[kernel_path] = content
        return self

    def set_tainted(self, value):
        return self.set_file('/proc/sys/kernel/tainted', None if value is None else '%s\n' % value)

    def set_release(self, release):
        return self.set_file('/proc/sys/kernel/osrelease', None if release is None else release + '\n')

    def set_cmdline(self, cmdline):
        return self.set_file('/proc/cmdline', None if cmdline is None else cmdline + '\n')

    def set_modules_disabled(self, value):
        return self.set_file('/proc/sys/kernel/modules_disabled', None if value is None else '%s\n' % value)

    def set_sig_enforce(self, value):
        """True/False -> 'Y'/'N' in /sys/module/module/parameters/sig_enforce;
        None -> absent (no module signing); a str is written as it is."""
        if value is None:
            text = None
        elif isinstance(value, bool):
            text = 'Y\n' if value else 'N\n'
        else:
            text = value
        return self.set_file('/sys/module/module/parameters/sig_enforce', text)

    def set_compression(self, name):
        """'xz', 'zstd', 'gzip' -> /sys/module/compression; None -> absent."""
        return self.set_file('/sys/module/compression', None if name is None else name + '\n')

    # -- rendering --------------------------------------------------------

    def proc_modules_line(self, mod):
        """The /proc/modules line the kernel would print for one module."""
        if self.module_unload:
            users = ''.join('%s,' % u for u in mod['used_by'])
            if mod['permanent']:
                users += '[permanent],'
            unload = '%d %s' % (mod['refcnt'], users or '-')
        else:
            unload = '- -'
        line = '%s %d %s %s %s' % (mod['name'], mod['size'], unload, mod['state'], mod['address'])
        marker = {'Loading': '+', 'Unloading': '-'}.get(mod['state'], '')
        if mod['taint']:
            line += ' (%s%s)' % (mod['taint'], marker)
        return line

    def _path(self, kernel_path):
        return os.path.join(self.root, kernel_path.lstrip('/'))

    def _write(self, kernel_path, content, mode=None):
        real = self._path(kernel_path)
        os.makedirs(os.path.dirname(real), exist_ok=True)
        if os.path.lexists(real):
            os.chmod(real, 0o644)
        with open(real, 'w') as f:
            f.write(content)
        if mode is not None:
            os.chmod(real, mode)

    def _remove(self, kernel_path):
        real = self._path(kernel_path)
        if os.path.lexists(real):
            os.remove(real)

    def _write_params(self, name, params, modes=None):
        for param, value in params.items():
            kernel_path = '/sys/module/%s/parameters/%s' % (name, param)
            if value is WRITE_ONLY:
                self._write(kernel_path, '', mode=0o200)
            else:
                self._write(kernel_path, '%s\n' % value, mode=(modes or {}).get(param))

    def _write_module_sysfs(self, mod):
        name = mod['name']
        base = '/sys/module/%s' % name
        os.makedirs(self._path(base), exist_ok=True)
        self._write_params(name, mod['params'], mod.get('param_modes'))
        if mod['sysfs'] != 'full':
            return
        self._write(base + '/initstate', _INITSTATE.get(mod['state'], mod['state']) + '\n')
        if self.module_unload:
            self._write(base + '/refcnt', '%d\n' % mod['refcnt'])
        self._write(base + '/taint', mod['taint'] + '\n')
        self._write(base + '/coresize', '%d\n' % mod['coresize'])
        self._write(base + '/initsize', '%d\n' % mod['initsize'])
        for attr in ('srcversion', 'version'):
            if mod[attr] is not None:
                self._write('%s/%s' % (base, attr), mod[attr] + '\n')
        holders = self._path(base + '/holders')
        os.makedirs(holders, exist_ok=True)
        for holder in mod['holders']:
            link = os.path.join(holders, holder)
            if not os.path.lexists(link):
                os.symlink('../../%s' % holder, link)

    def write(self):
        """Write everything under root; returns root (a str)."""
        os.makedirs(self._path('/sys/module'), exist_ok=True)
        os.makedirs(self._path('/proc/sys/kernel'), exist_ok=True)
        if self.proc_modules:
            lines = [self.proc_modules_line(m) for m in self.modules] + self.extra_proc_lines
            self._write('/proc/modules', ''.join(line + '\n' for line in lines))
        else:
            self._remove('/proc/modules')
        for mod in self.modules:
            if mod['sysfs'] != 'none':
                self._write_module_sysfs(mod)
        for name, info in self.builtins.items():
            os.makedirs(self._path('/sys/module/%s' % name), exist_ok=True)
            self._write_params(name, info['params'], info.get('param_modes'))
            if info['version'] is not None:
                self._write('/sys/module/%s/version' % name, info['version'] + '\n')
        for kernel_path, content in self.files.items():
            if content is None:
                self._remove(kernel_path)
            else:
                self._write(kernel_path, content)
        return self.root
