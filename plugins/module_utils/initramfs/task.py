# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kmod_initramfs task: find the generator, judge each image, rebuild
exactly the stale ones (or all with state rebuilt), and say how long it took.

The generator is run with an argument list (no shell) and a fixed PATH of
the system directories; in check mode it is never run.
"""

import os
import time

from ansible_collections.kernel.kmod.plugins.module_utils.config.precedence import host_path
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError, TaskError
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.generators import detect, require
from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.stale import compare
from ansible_collections.kernel.kmod.plugins.module_utils.programs import program_env
from ansible_collections.kernel.kmod.plugins.module_utils.tree.module_dir import find_module_dir, releases_under

STATES = ('current', 'rebuilt')
# Characters of a release name (uname -r).  Spelt out: the string module imports re,
# which the check that finds nothing stale does without.
_RELEASE_CHARS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+~-')


def run_program(argv):
    """(rc, stdout, stderr) of a program run without a shell, with a fixed PATH."""
    # Imported here: a check that finds nothing stale runs no program.
    import subprocess
    env = program_env()
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    except OSError as exc:
        raise KmodError.from_os_error(exc, 'cannot run', path=argv[0])
    return proc.returncode, proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')


def check_release(release):
    # _RELEASE_CHARS is ASCII: no str.isascii, which Python 3.6 nodes lack
    if (not isinstance(release, str) or not release or not release[0].isalnum()
            or not set(release) <= _RELEASE_CHARS):
        raise KmodError('%r is not a kernel release name' % (release,))
    return release


def releases(asked, root, running):
    """The releases a task is about: running when asked is empty, every
    release with a module directory for 'all', else the names given."""
    if asked in (None, '', []):
        if not running:
            raise KmodError('cannot tell the running kernel release; give kernel_release')
        return [running]
    if isinstance(asked, str):
        asked = [asked]
    if list(asked) == ['all']:
        found = releases_under(root)
        if not found:
            raise KmodError('kernel_release=all: no module directory under %s' % host_path(root, '/lib/modules'))
        return found
    out = []
    for release in asked:
        if check_release(release) not in out:
            out.append(release)
    return out


def _running_release(root):
    path = host_path(root, '/proc/sys/kernel/osrelease')
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return os.uname()[2] if root in ('/', '') else None


def judge(root, generator, release):
    """{release, image, stale, reasons} of one release."""
    module_dir = find_module_dir(root, release)
    if module_dir is None:
        raise KmodError('no module directory for kernel release %s under %s' % (release, host_path(root, '/lib/modules')))
    image = generator.image_path(root, release)
    reasons = compare(root, generator, release, image, module_dir)
    return {'release': release, 'image': image, 'stale': bool(reasons),
            'reasons': [r.as_dict() for r in reasons], 'rebuilt': False, 'seconds': None, 'command': None}


def run_task(options, check_mode=False, root='/', runner=None, running=None):
    """Carry out one kmod_initramfs task; returns (result dict, warnings)."""
    state = options.get('state') or 'current'
    if state not in STATES:
        raise KmodError('state must be one of %s, not %r' % (', '.join(STATES), state))
    runner = runner or run_program
    generator = require(root)
    running = running or _running_release(root)
    images = [judge(root, generator, release) for release in releases(options.get('kernel_release'), root, running)]
    result = {'generator': generator.name, 'program': generator.program, 'images': images, 'rebuilt': []}
    warnings = []
    for item in images:
        if not (item['stale'] or state == 'rebuilt'):
            continue
        create = any(r['what'] == 'image' for r in item['reasons'])
        argv = generator.rebuild_command(item['release'], item['image'], create=create)
        item['command'] = argv
        result['rebuilt'].append(item['release'])
        if check_mode:
            continue
        started = time.time()
        try:
            rc, out, err = runner([host_path(root, argv[0])] + argv[1:])
        except KmodError as exc:
            raise TaskError(exc, dict(result, changed=_done(images)))
        item['seconds'] = round(time.time() - started, 3)
        if rc != 0:
            reason = (err.strip() or out.strip() or 'no output').splitlines()[-1]
            raise TaskError(KmodError('%s failed for kernel %s (exit status %d): %s'
                                      % (' '.join(argv), item['release'], rc, reason), path=item['image']),
                            dict(result, changed=_done(images), stdout=out, stderr=err))
        item['rebuilt'] = True
    result['changed'] = bool(result['rebuilt'])
    return result, warnings


def _done(images):
    return any(i['rebuilt'] for i in images)


def describe(root, release):
    """({generator, program, image, stale, reasons} of one release, warnings)
    for kmod_facts: no generator, or an image that cannot be read, is a
    warning with None values, never a failure."""
    out = {'generator': None, 'program': None, 'image': None, 'stale': None, 'reasons': []}
    generator = detect(root)
    if generator is None:
        return out, ['initramfs: no initramfs generator found (update-initramfs, dracut, mkinitcpio)']
    out.update(generator=generator.name, program=generator.program)
    try:
        judged = judge(root, generator, release)
    except KmodError as exc:
        return out, ['initramfs: %s' % exc.msg]
    out.update(image=judged['image'], stale=judged['stale'], reasons=judged['reasons'])
    return out, []
