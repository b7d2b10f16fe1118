# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small JSON files of our own (caches, state): read forgivingly, write atomically.

Neither failure is fatal to the caller: an unreadable or unwritable file
comes back as a warning text, and the caller works without it.
"""

import errno
import json
import os

from ansible_collections.kernel.kmod.plugins.module_utils.files import create_temp

# A file that is simply not there yet is no reason to warn.
ABSENT = (errno.ENOENT, errno.ENOTDIR)


def load_json(path, what, absent=ABSENT):
    """(data, None), or (None, warning) when it cannot be read or parsed,
    or (None, None) when it does not exist (errno in `absent`)."""
    try:
        with open(path, 'r') as f:
            return json.load(f), None
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno in absent:
            return None, None
        return None, 'ignoring unreadable %s %s: %s' % (what, path, exc)


def save_json(path, data, what, **dumps_args):
    """Write data to path through a temporary file in its directory and a
    rename; None, or a warning when it cannot be written (nothing is left
    behind).  json.dumps is used: its C encoder is far faster than json.dump."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        fd, tmp = create_temp(path)
        try:
            with os.fdopen(fd, 'w') as f:
                f.write(json.dumps(data, **dumps_args))
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
