# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The initramfs generators this collection knows, and what each copies.

- initramfs-tools (Debian, Ubuntu): ``update-initramfs -u -k REL`` writes
  ``/boot/initrd.img-REL``; its hooks copy ``/etc/modprobe.d`` and
  ``/lib/modprobe.d`` (``/usr/lib/modprobe.d`` on merged-/usr) whole, and
  ``/etc/initramfs-tools/modules`` lists modules it adds and loads early.
- dracut (Fedora, RHEL, SUSE): ``dracut -f --kver REL`` writes
  ``/boot/initramfs-REL.img``; in host-only mode it copies
  ``/etc/modprobe.d``.
- mkinitcpio (Arch): ``mkinitcpio -k REL -g IMAGE``; its ``modconf`` hook
  copies ``/etc/modprobe.d`` and ``/usr/lib/modprobe.d``.
Programs are found under the root's sbin and bin directories only, never
through PATH, so nothing a local user puts first in a PATH is run as root.
"""

import os

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.programs import SYSTEM_DIRS


class Generator(object):
    """One generator: name, program (path inside root), the modprobe.d
    directories it copies, its module list file, and image paths."""

    def __init__(self, name, program, copies, module_list, images):
        self.name = name
        self.program = program
        self.copies = copies
        self.module_list = module_list
        self._images = images

    def image_candidates(self, release):
        return [pattern % release for pattern in self._images]

    def image_path(self, root, release):
        """The image of a release inside root: the first candidate that exists, else the first."""
        candidates = self.image_candidates(release)
        for path in candidates:
            if os.path.isfile(_host(root, path)):
                return path
        return candidates[0]

    def rebuild_command(self, release, image, create=False):
        """The argument list that rebuilds (create: makes the missing) image of release."""
        if self.name == 'initramfs-tools':
            return [self.program, '-c' if create else '-u', '-k', release]
        if self.name == 'dracut':
            return [self.program, '-f', '--kver', release, image]
        return [self.program, '-k', release, '-g', image]

    def copies_path(self, path):
        """True when a modprobe.d file at `path` (inside root) goes into the image."""
        return os.path.dirname(path) in self.copies


_KNOWN = (
    ('initramfs-tools', 'update-initramfs', ('/etc/modprobe.d', '/lib/modprobe.d', '/usr/lib/modprobe.d'),
     '/etc/initramfs-tools/modules', ('/boot/initrd.img-%s',)),
    ('dracut', 'dracut', ('/etc/modprobe.d',), None, ('/boot/initramfs-%s.img', '/boot/initrd.img-%s')),
    ('mkinitcpio', 'mkinitcpio', ('/etc/modprobe.d', '/usr/lib/modprobe.d'), None,
     ('/boot/initramfs-linux.img',)),
)
NAMES = tuple(k[0] for k in _KNOWN)
# Generators this collection recognises but cannot drive: named in the error.
UNSUPPORTED = (('booster', 'booster'), ('mkinitrd', 'mkinitrd'), ('ugrd', 'ugrd'))


def _host(root, path):
    if root in (None, '', '/'):
        return path
    return os.path.join(root, path.lstrip('/'))


def find_program(root, program):
    """The path inside root of an executable program in SYSTEM_DIRS, or None."""
    for directory in SYSTEM_DIRS:
        path = '%s/%s' % (directory, program)
        if os.path.isfile(_host(root, path)) and os.access(_host(root, path), os.X_OK):
            return path
    return None


def detect(root='/'):
    """The Generator installed under root (the first known one found), or None."""
    for name, program, copies, module_list, images in _KNOWN:
        found = find_program(root, program)
        if found is not None:
            return Generator(name, found, copies, module_list, images)
    return None


def require(root='/', supported=NAMES):
    """detect(), or KmodError naming what was looked for, or the generator
    found that is not supported."""
    found = detect(root)
    if found is None:
        for name, program in UNSUPPORTED:
            path = find_program(root, program)
            if path is not None:
                raise KmodError('initramfs generator %s (%s) is not supported; supported: %s'
                                % (name, path, ', '.join(supported)), path=path)
        raise KmodError('no initramfs generator found: looked for %s in %s'
                        % (', '.join(k[1] for k in _KNOWN), ', '.join(SYSTEM_DIRS)))
    if found.name not in supported:
        raise KmodError('initramfs generator %s (%s) is not supported here; supported: %s'
                        % (found.name, found.program, ', '.join(supported)), path=found.program)
    return found
