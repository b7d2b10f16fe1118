# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small files of our own (caches, state): read forgivingly, write atomically.

Neither failure is fatal to the caller: an unreadable or unwritable file
comes back as a warning text, and the caller works without it.  Two
encodings: JSON (the parse cache), and Python's marshal for the depmod
state, which a run with nothing to do reads: marshal is built into the
interpreter, while importing json also imports the regular expression
engine, milliseconds such a run cannot spare.  A marshal file written by
another Python version that this one cannot read is only a warning, like a
damaged file.
"""

import errno
import marshal
import os

from ansible_collections.kernel.kmod.plugins.module_utils.files import create_temp

# A file that is simply not there yet is no reason to warn.
ABSENT = (errno.ENOENT, errno.ENOTDIR)


def load(path, what, decode, absent=ABSENT):
    """(decode(bytes of path), None), or (None, warning) when it cannot be
    read or decoded, or (None, None) when it does not exist (errno in `absent`)."""
    try:
        with open(path, 'rb') as f:
            return decode(f.read()), None
    except (OSError, ValueError, EOFError, TypeError) as exc:
        if isinstance(exc, OSError) and exc.errno in absent:
            return None, None
        return None, 'ignoring unreadable %s %s: %s' % (what, path, exc)


def save(path, data, what):
    """Write bytes to path through a temporary file in its directory and a
    rename; None, or a warning when it cannot be written (nothing is left
    behind)."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        fd, tmp = create_temp(path)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(data)
            os.rename(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as exc:
        return 'cannot save %s %s: %s' % (what, path, exc.strerror or exc)
    return None


def _json_decode(data):
    import json  # only where JSON is used (see the docstring)
    return json.loads(data.decode('utf-8'))


def load_json(path, what, absent=ABSENT):
    """load() of a JSON file."""
    return load(path, what, _json_decode, absent)


def save_json(path, data, what, **dumps_args):
    """save() of data as JSON (json.dumps: its C encoder is far faster than json.dump)."""
    import json
    return save(path, json.dumps(data, **dumps_args).encode('utf-8'), what)


def load_marshal(path, what, absent=ABSENT):
    """load() of a marshal file."""
    return load(path, what, marshal.loads, absent)


def save_marshal(path, data, what):
    """save() of plain data (dict, list, str, int, float, bool, None) with marshal."""
    try:
        encoded = marshal.dumps(data)
    except ValueError as exc:
        return 'cannot save %s %s: %s' % (what, path, exc)
    return save(path, encoded, what)
