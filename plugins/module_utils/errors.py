# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception root of the library.

Every failure the library reports is a KmodError (or a subclass): it carries a
message in plain words, and where they are known the errno of the failing
system call, the file involved and the module name.  Modules turn it into
``fail_json`` in one place (``KmodError.fail_kwargs``).
"""

import errno as _errno
import os


class KmodError(Exception):
    """A failure with a clear message, an optional errno, path and module."""

    def __init__(self, msg, errno=None, path=None, module=None):
        Exception.__init__(self, msg)
        self.msg = msg
        self.errno = errno
        self.path = path
        self.module = module

    def __str__(self):
        return self.msg

    @classmethod
    def from_os_error(cls, exc, what, path=None, module=None):
        """Wrap an OSError: '<what> <path>: <strerror>' keeping its errno."""
        path = path or getattr(exc, 'filename', None)
        reason = exc.strerror or str(exc)
        where = ' %s' % path if path else ''
        return cls('%s%s: %s' % (what, where, reason), errno=exc.errno, path=path, module=module)

    def fail_kwargs(self):
        """Arguments for AnsibleModule.fail_json."""
        out = {'msg': self.msg}
        if self.errno is not None:
            out['errno'] = self.errno
            out['errno_name'] = _errno.errorcode.get(self.errno, str(self.errno))
        if self.path is not None:
            out['path'] = self.path
        if self.module is not None:
            out['module'] = self.module
        return out


class FormatError(KmodError):
    """A file exists and was read but its content is not what it must be."""


class ModuleNotFound(KmodError):
    """No module of that name, alias or path."""


def describe_errno(err):
    """'ENOENT (No such file or directory)' for an errno number."""
    name = _errno.errorcode.get(err, str(err))
    return '%s (%s)' % (name, os.strerror(err))


class TaskError(KmodError):
    """A task's failure with what had been done before it: details are extra
    fail_json fields (what was inserted, written, rebuilt...), warnings the
    ones gathered until then; the message and errno are the cause's."""

    def __init__(self, exc, details, warnings=()):
        KmodError.__init__(self, exc.msg, errno=exc.errno, path=exc.path, module=exc.module)
        self.cause = exc
        self.details = details
        self.warnings = list(warnings)

    def fail_kwargs(self):
        out = dict(self.details)
        out.update(self.cause.fail_kwargs())
        return out
