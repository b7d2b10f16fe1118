# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which kmod the node has, and what its depmod writes differently.

``kmod --version`` prints 'kmod version 30' and a feature line such as
'+ZSTD +XZ -ZLIB +LIBCRYPTO'.  The Python depmod copies the node's kmod so
that its modprobe reads what it expects:
- kmod 33 and later write modules.weakdep;
- kmod 34 writes the .bin tries in pre-order (older ones in post-order) and
  keeps the first position of a module listed twice in modules.order;
- kmod 34 decompresses a zstd module in one call sized by its frame header:
  a file whose header leaves the size out fails ("zstd: Failed to determine
  decompression size") and is indexed with no symbols, like a corrupt one;
- a compression kmod was built without (-XZ, -ZLIB, -ZSTD) makes its depmod
  ignore module files with that suffix.
Without kmod on the node, kmod 30 with every compression is assumed.
What `kmod --version` printed is kept in the cache directory with the
program's identity (path, size, mtime, inode, ctime), so a run asks it only
after kmod was installed or upgraded.
"""

import os

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.names import MODULE_SUFFIXES
from ansible_collections.kernel.kmod.plugins.module_utils.programs import find_program, program_env

DEFAULT_KMOD_VERSION = 30
# The compression feature word of `kmod --version` for each module suffix.
SUFFIX_FEATURES = {'.ko.gz': 'ZLIB', '.ko.xz': 'XZ', '.ko.zst': 'ZSTD'}


class KmodFlavour(object):
    """The depmod behaviour to copy.

    version: kmod's major version; detected: True when read from the node's
    kmod; features: {'XZ': True, 'ZLIB': False, ...} as kmod printed them
    (empty when unknown); layout: '.bin' node order ('post' or 'pre');
    weakdep: write modules.weakdep; first_order_line_wins: modules.order
    rule for a module listed twice; zstd_needs_size: a zstd module must
    declare its size; suffixes: module file suffixes indexed.
    """

    def __init__(self, version, features=None, detected=False):
        self.version = version
        self.features = dict(features or {})
        self.detected = detected
        self.layout = 'pre' if version >= 34 else 'post'
        self.weakdep = version >= 33
        self.first_order_line_wins = version >= 34
        self.zstd_needs_size = version >= 34
        self.suffixes = tuple(s for s in MODULE_SUFFIXES
                              if self.features.get(SUFFIX_FEATURES.get(s), True))

    def as_dict(self):
        return {'version': self.version, 'detected': self.detected, 'bin_layout': self.layout,
                'weakdep': self.weakdep, 'first_order_line_wins': self.first_order_line_wins,
                'zstd_needs_size': self.zstd_needs_size, 'suffixes': list(self.suffixes)}


def parse_version_output(text):
    """(major version or None, {feature: enabled}) from `kmod --version` output."""
    import re  # only when kmod was asked (a run with nothing to do imports no re)
    match = re.search(r'kmod version ([0-9]+)', text)
    version = int(match.group(1)) if match else None
    features = {}
    for word in text.split():
        if len(word) > 1 and word[0] in '+-' and word[1:].isalnum():
            features[word[1:].upper()] = word[0] == '+'
    return version, features


def find_kmod():
    """The path of the host's kmod program (programs.find_program: the
    system directories, not PATH), or None."""
    return find_program('kmod')


def detect_kmod(program=None):
    """(version or None, features) of the node's kmod; (None, {}) without one."""
    program = program or find_kmod()
    output = _version_output(program) if program is not None else None
    return parse_version_output(output) if output is not None else (None, {})


def _version_output(program):
    import subprocess  # imported here: most runs need only the version they cached
    try:
        proc = subprocess.run([program, '--version'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=30, check=False, env=program_env())
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout


# The file in a cache directory that keeps what `kmod --version` printed.
VERSION_CACHE = 'kmod-version'


def detect_kmod_cached(cache_dir, save=True, program=None):
    """detect_kmod(), from cache_dir/kmod-version when it holds the output
    of this very program (same path, size, mtime, inode and ctime: an
    upgrade changes them); otherwise kmod is asked and, with save, the
    answer kept (a check-mode run writes nothing).  The file is read only
    when trusted (cache_file.py); any trouble with it means asking kmod."""
    program = program or find_kmod()
    if program is None:
        return None, {}
    if not cache_dir:
        return detect_kmod(program)
    try:
        st = os.stat(program)
    except OSError:
        return detect_kmod(program)
    from ansible_collections.kernel.kmod.plugins.module_utils.cache_file import load_marshal, save_marshal
    key = [program, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
    path = os.path.join(cache_dir, VERSION_CACHE)
    data, _warning = load_marshal(path, 'kmod version cache')
    if isinstance(data, dict) and data.get('key') == key and isinstance(data.get('output'), str):
        return parse_version_output(data['output'])
    output = _version_output(program)
    if output is None:
        return None, {}
    if save:
        save_marshal(path, {'key': key, 'output': output}, 'kmod version cache')
    return parse_version_output(output)


def parse_version_option(value):
    """The major version of a user's kmod_version ('34', '34.2', 'v33', 30)."""
    import re
    match = re.match(r'\s*v?([0-9]+)(?:\.[0-9]+)*\s*\Z', str(value))
    if not match:
        return None
    return int(match.group(1))


def kmod_flavour(forced_version=None, detect=detect_kmod):
    """The KmodFlavour to copy: forced_version (a number or text such as '34')
    wins over the node's kmod; compression features still come from the node.
    Raises KmodError for a forced version that is not a version number."""
    forced = None
    if forced_version is not None and forced_version != '':
        forced = parse_version_option(forced_version)
        if forced is None:
            raise KmodError('kmod_version %r is not a kmod version number (such as 30 or 34)' % (forced_version,))
    version, features = detect()
    detected = version is not None
    if forced is not None:
        version, detected = forced, False
    if version is None:
        version = DEFAULT_KMOD_VERSION
    return KmodFlavour(version, features, detected)
