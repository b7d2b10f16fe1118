# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of one kmod_load task, checked before anything is read or changed.

Everything a user gives is judged here, so that a bad value fails with a
message naming it and nothing else happens: the names (one string or a
list; each a module name, alias, symbol:NAME or an absolute path of a
module file), the parameters (config.options.check_options), the states
and the seconds to wait for a module in use.
"""

import math

from ansible_collections.kernel.kmod.plugins.module_utils.config.options import options_text
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.load.drift import DRIFT_MODES

STATES = ('present', 'absent')
PERSISTENT = ('present', 'absent', 'disabled')

# wait: true of the earlier boolean option meant this many seconds
WAIT_TRUE_SECONDS = 10

DEFAULTS = {
    'state': 'present',
    'params': '',
    'persistent': 'disabled',
    'ignore_install': False,
    'ignore_remove': False,
    'use_blacklist': False,
    'remove_dependencies': True,
    'wait': 0,
    'force': False,
    'rollback': True,
    'allow_missing_hardware': False,
    'remove_holders': False,
    'param_drift': 'warn',
    'allow_untrusted': False,
}

# Characters no module name, alias or symbol has, and that a shell would
# read: refused so that a name can never mean more than one word anywhere.
SHELL_CHARACTERS = frozenset(' \t;&|$`\\\'"<>(){}!*?[]~#^%')


def _describe(name):
    return repr(name)


def check_name(name):
    """The name, or KmodError saying why it cannot be a module name, alias,
    symbol:NAME or absolute module path."""
    if not isinstance(name, str):
        raise KmodError('name must be a module name or a list of them, not %r' % (name,))
    if not name:
        raise KmodError('name: an empty string is no module name')
    for i, c in enumerate(name):
        code = ord(c)
        if code < 0x20 or code == 0x7f:
            raise KmodError('name %s: control character %r at position %d' % (_describe(name), c, i))
        if 0xd800 <= code <= 0xdfff:
            raise KmodError('name %s: a lone surrogate at position %d is not encodable as UTF-8'
                            % (_describe(name), i))
    bad = sorted(set(c for c in name if c in SHELL_CHARACTERS))
    if bad:
        raise KmodError('name %s: %s cannot be in a module name, alias or path'
                        % (_describe(name), ' '.join(repr(c) for c in bad)), module=name)
    if '/' in name:
        if not name.startswith('/'):
            raise KmodError('name %s: a module file must be given by its absolute path' % _describe(name),
                            module=name)
        if '..' in name.split('/') or '.' in name.split('/'):
            raise KmodError('name %s: a module file path must not have "." or ".." components'
                            % _describe(name), module=name)
    elif name in ('.', '..'):
        raise KmodError('name %s is no module name' % _describe(name), module=name)
    return name


def check_names(value):
    """[names] of a string or a list of strings, each checked, in order,
    repeats dropped."""
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
        if not items:
            raise KmodError('name: an empty list names no module')
    else:
        raise KmodError('name must be a module name or a list of them, not %r' % (value,))
    out = []
    for index, item in enumerate(items):
        if isinstance(value, (list, tuple)) and (item is None or item == ''):
            raise KmodError('name: element %d of the list is empty' % (index + 1))
        item = check_name(item)
        if item not in out:
            out.append(item)
    return out


def check_wait(value):
    """Seconds (float) to wait for a module in use: a number >= 0; true and
    false of the earlier boolean option mean WAIT_TRUE_SECONDS and 0."""
    if value is None or value is False:
        return 0.0
    if value is True:
        return float(WAIT_TRUE_SECONDS)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise KmodError('wait must be a number of seconds, not %r' % (value,))
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise KmodError('wait must be a number of seconds, 0 or more, not %r' % (value,))
    return seconds


class Request(object):
    """The checked options: names (list), given (name as given), state,
    options (the parameter text), persistent, wait (seconds), and the
    flags ignore_install, ignore_remove, use_blacklist,
    remove_dependencies, force, rollback, allow_missing_hardware,
    remove_holders, allow_untrusted; param_drift ('warn', 'apply' or
    'ignore')."""

    def __init__(self, options):
        out = dict(DEFAULTS)
        out.update((k, v) for k, v in options.items() if v is not None)
        self.given = out.get('name')
        self.names = check_names(self.given)
        if out['state'] not in STATES:
            raise KmodError('state must be one of %s, not %r' % (', '.join(STATES), out['state']))
        if out['persistent'] not in PERSISTENT:
            raise KmodError('persistent must be one of %s, not %r' % (', '.join(PERSISTENT), out['persistent']))
        self.state = out['state']
        self.persistent = out['persistent']
        if self.state == 'absent' and self.persistent == 'present':
            raise KmodError('persistent=present with state=absent would load %s again at every boot; '
                            'use persistent=absent (or disabled)' % ', '.join(self.names), module=self.names[0])
        self.options = options_text(out['params'])
        if self.options and len(self.names) > 1:
            raise KmodError('params go with one module, and name lists %d (%s); give each module with params '
                            'a task of its own' % (len(self.names), ', '.join(self.names)))
        self.wait = check_wait(out['wait'])
        if out['param_drift'] not in DRIFT_MODES:
            raise KmodError('param_drift must be one of %s, not %r' % (', '.join(DRIFT_MODES), out['param_drift']))
        self.param_drift = out['param_drift']
        for flag in ('ignore_install', 'ignore_remove', 'use_blacklist', 'remove_dependencies', 'force', 'rollback',
                     'allow_missing_hardware', 'remove_holders', 'allow_untrusted'):
            setattr(self, flag, bool(out[flag]))
