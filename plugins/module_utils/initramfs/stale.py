# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether an initramfs image is stale: what it holds against what its
generator would copy from the host now.

Three things are compared, each file by name and bytes:
- the modprobe.d files the generator copies (generators.Generator.copies,
  ``*.conf`` only, as modprobe reads them), found in the image under the
  path they have on the host once symlinks are followed (on merged-/usr
  Debian ``/lib/modprobe.d`` is ``usr/lib/modprobe.d`` in the image too);
- the module list: initramfs-tools writes every ``MODULE ARGS`` line of
  ``/etc/initramfs-tools/modules`` and ``/usr/share/initramfs-tools/modules.d/*``
  into the image's ``conf/modules``; dracut's ``add_drivers`` and
  ``force_drivers`` must be in the image and its ``omit_drivers`` not;
  mkinitcpio's ``MODULES`` must be in the image;
- every module file the image carries, against the file of the same path in
  the release's module directory (removed from the host, or other bytes).
A missing image is stale.  Nothing is unpacked to disk.
"""

import os
import queue
import threading

from ansible_collections.kernel.kmod.plugins.module_utils.config.precedence import host_path, resolve_in_root
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.image import read_image
from ansible_collections.kernel.kmod.plugins.module_utils.names import module_name_from_path

CONF_MODULES = 'conf/modules'
INITRAMFS_TOOLS_LISTS = ('/etc/initramfs-tools/modules', '/usr/share/initramfs-tools/modules.d')
DRACUT_CONFS = ('/etc/dracut.conf', '/etc/dracut.conf.d', '/usr/lib/dracut/dracut.conf.d')
MKINITCPIO_CONFS = ('/etc/mkinitcpio.conf', '/etc/mkinitcpio.conf.d')
_MODULE_TOPS = ('usr/lib/modules/', 'lib/modules/')
_MODULE_SUFFIXES = ('.ko', '.ko.xz', '.ko.gz', '.ko.zst')
_ASSIGN = r'\s*(add_drivers|force_drivers|omit_drivers|MODULES)\s*(\+?=)\s*(.*)\Z'


def module_file(name):
    """(release, path inside its module directory) of an image entry that is a
    module file ('usr/lib/modules/REL/kernel/x.ko'), else None.  No regular
    expression: the check that finds nothing stale spares importing re."""
    for top in _MODULE_TOPS:
        if name.startswith(top):
            release, _sep, rel = name[len(top):].partition('/')
            if release and rel and rel.endswith(_MODULE_SUFFIXES):
                return release, rel
    return None


class Reason(object):
    """One difference: path (in the image, or on the host), change ('added':
    on the host, not in the image; 'removed'; 'differs'), what ('modprobe.d',
    'module list', 'module', 'image')."""

    __slots__ = ('path', 'change', 'what')

    def __init__(self, path, change, what):
        self.path = path
        self.change = change
        self.what = what

    def as_dict(self):
        return {'path': self.path, 'change': self.change, 'what': self.what}

    def __repr__(self):
        return 'Reason(%r, %r, %r)' % (self.path, self.change, self.what)


def _read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as exc:
        raise KmodError.from_os_error(exc, 'cannot read', path=path)


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def copied_files(root, generator):
    """{name in the image: host path} of the modprobe.d files the generator copies now."""
    out = {}
    for directory in generator.copies:
        real = resolve_in_root(root, directory)
        where = host_path(root, real)
        for name in _listdir(where):
            full = os.path.join(where, name)
            if name.endswith('.conf') and not name.startswith('.') and os.path.isfile(full):
                out.setdefault('%s/%s' % (real.strip('/'), name), full)
    return out


def _copied_dirs(root, generator):
    return set(resolve_in_root(root, d).strip('/') for d in generator.copies)


def initramfs_tools_list(root):
    """The (module, args) lines initramfs-tools writes to conf/modules, in order."""
    files = [INITRAMFS_TOOLS_LISTS[0]]
    files += ['%s/%s' % (INITRAMFS_TOOLS_LISTS[1], n) for n in _listdir(host_path(root, INITRAMFS_TOOLS_LISTS[1]))]
    out = []
    for path in files:
        full = host_path(root, path)
        if not os.path.isfile(full):
            continue
        out.extend(parse_module_list(_read(full)))
    return out


def parse_module_list(data):
    """(module, args) of each line not starting with '#': the shell's `read -r module args`."""
    out = []
    for line in data.decode('utf-8', 'surrogateescape').split('\n'):
        if not line or line.startswith('#'):
            continue
        words = line.strip(' \t\n').split(None, 1)
        if words:
            out.append((words[0], words[1].strip(' \t') if len(words) > 1 else ''))
    return out


def _shell_words(value):
    value = value.split('#', 1)[0].strip()
    for quote in ('"', "'"):
        value = value.replace(quote, ' ')
    return value.replace('(', ' ').replace(')', ' ').split()


def driver_settings(root, files):
    """{setting: [module names]} of dracut or mkinitcpio configuration files
    (files: paths of files or directories of *.conf inside root)."""
    out = {}
    paths = []
    for path in files:
        full = host_path(root, path)
        if os.path.isdir(full):
            paths += [os.path.join(full, n) for n in _listdir(full) if n.endswith('.conf')]
        elif os.path.isfile(full):
            paths.append(full)
    import re
    assign = re.compile(_ASSIGN)
    for full in paths:
        for line in _read(full).decode('utf-8', 'surrogateescape').split('\n'):
            match = assign.match(line)
            if match:
                key, operator, value = match.groups()
                # mkinitcpio marks optional modules with a trailing '?'
                words = [w.rstrip('?').replace('-', '_') for w in _shell_words(value)]
                if operator == '+=':
                    out.setdefault(key, []).extend(words)
                else:
                    out[key] = words
    return out


class ImageState(object):
    """What one image holds that staleness is judged on."""

    def __init__(self):
        self.conf = {}
        self.conf_modules = None
        self.module_names = set()
        self.reasons = []


class _Comparer(object):
    """Compares image entries with host files in a second thread, in the
    order given: reading the module tree's files then overlaps with
    decompressing the image (both release the GIL), which together are most
    of a check that finds the image current.  The queue is bounded, so only
    a few entries' bytes wait in memory."""

    def __init__(self):
        self._jobs = queue.Queue(maxsize=32)
        self._same = {}
        self._error = None
        self._thread = threading.Thread(target=self._work, name='initramfs-compare')
        self._thread.daemon = True
        self._thread.start()

    def _work(self):
        while True:
            job = self._jobs.get()
            if job is None:
                return
            key, host, data = job
            if self._error is None:
                try:
                    self._same[key] = _read(host) == data
                except KmodError as exc:
                    self._error = exc

    def submit(self, key, host, data):
        self._jobs.put((key, host, data))

    def results(self):
        """{key: True when the bytes are the same}, once every job is done."""
        self.stop()
        if self._error is not None:
            raise self._error
        return self._same

    def stop(self):
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()


def read_state(image_host_path, root, release, generator, module_dir):
    """Read the image once: its modprobe.d files and module list, and each
    of its module files compared on the way (reasons for those)."""
    dirs = _copied_dirs(root, generator)
    state = ImageState()

    def want(name):
        return os.path.dirname(name) in dirs or name == CONF_MODULES or module_file(name) is not None

    found_modules = []  # Reason, or (entry name, number of its comparison), in image order
    comparer = _Comparer()
    try:
        for _segment, entry in read_image(image_host_path, want):
            if entry.data is None:
                continue
            if entry.name == CONF_MODULES:
                state.conf_modules = parse_module_list(entry.data)
                continue
            found = module_file(entry.name)
            if found is not None:
                if found[0] != release:
                    continue
                state.module_names.add(module_name_from_path(entry.name))
                host = os.path.join(module_dir, found[1]) if module_dir else None
                if host is None or not os.path.isfile(host):
                    found_modules.append(Reason(entry.name, 'removed', 'module'))
                elif os.path.getsize(host) != entry.size:
                    found_modules.append(Reason(entry.name, 'differs', 'module'))
                else:
                    key = len(found_modules)
                    found_modules.append((entry.name, key))
                    comparer.submit(key, host, entry.data)
                continue
            if entry.name.endswith('.conf'):
                state.conf[entry.name] = entry.data
    except BaseException:
        comparer.stop()
        raise
    same = comparer.results()
    for item in found_modules:
        if isinstance(item, Reason):
            state.reasons.append(item)
        elif not same[item[1]]:
            state.reasons.append(Reason(item[0], 'differs', 'module'))
    return state


def compare(root, generator, release, image, module_dir):
    """[Reason] why the image (path inside root) of release is stale; [] when it is current."""
    full = host_path(root, image)
    if not os.path.isfile(full):
        return [Reason(image, 'added', 'image')]
    state = read_state(full, root, release, generator, module_dir)
    reasons = list(state.reasons)
    host = copied_files(root, generator)
    for name in sorted(set(host) | set(state.conf)):
        if name not in state.conf:
            reasons.append(Reason('/' + name, 'added', 'modprobe.d'))
        elif name not in host:
            reasons.append(Reason('/' + name, 'removed', 'modprobe.d'))
        elif _read(host[name]) != state.conf[name]:
            reasons.append(Reason('/' + name, 'differs', 'modprobe.d'))
    reasons.extend(_list_reasons(root, generator, state))
    return reasons


def _list_reasons(root, generator, state):
    out = []
    if generator.name == 'initramfs-tools':
        wanted = initramfs_tools_list(root)
        held = state.conf_modules or []
        for module, args in wanted:
            if (module, args) not in held:
                out.append(Reason('%s: %s %s' % (INITRAMFS_TOOLS_LISTS[0], module, args), 'added', 'module list'))
        for module, args in held:
            if (module, args) not in wanted:
                out.append(Reason('%s: %s %s' % (CONF_MODULES, module, args), 'removed', 'module list'))
        return out
    confs = DRACUT_CONFS if generator.name == 'dracut' else MKINITCPIO_CONFS
    settings = driver_settings(root, confs)
    for key in ('add_drivers', 'force_drivers', 'MODULES'):
        for name in settings.get(key, []):
            if name not in state.module_names:
                out.append(Reason('%s %s' % (key, name), 'added', 'module list'))
    for name in settings.get('omit_drivers', []):
        if name in state.module_names:
            out.append(Reason('omit_drivers %s' % name, 'removed', 'module list'))
    return [r for i, r in enumerate(out) if r.path not in [o.path for o in out[:i]]]


def image_copy(root, generator, image, path):
    """The bytes the image (path inside root) holds for the host file `path`
    (inside root) that the generator copies, or None when it holds none."""
    name = '%s/%s' % (resolve_in_root(root, os.path.dirname(path)).strip('/'), os.path.basename(path))
    for _segment, entry in read_image(host_path(root, image), lambda n: n == name):
        if entry.name == name and entry.data is not None:
            return entry.data
    return None
