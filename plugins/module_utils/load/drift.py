# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parameter drift: a loaded module whose parameters differ from those asked.

The kernel reads a module's parameters when it loads it; afterwards only
those whose sysfs file is writable (mode with the owner's write bit) can
be changed, through /sys/module/NAME/parameters/PARAM.  plan_drift decides,
without touching anything, what param_drift asks for:

- 'ignore': nothing is compared;
- 'warn': the differences are reported (and warned about by the caller);
- 'apply': writable parameters are written; when a read-only one differs
  the module must be reloaded, which is refused for a builtin module and
  for a module something holds (naming the parameter and the holders).
"""

from ansible_collections.kernel.kmod.plugins.module_utils.config.options import (
    compare_live, param_key, split_options,
)
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError

DRIFT_MODES = ('warn', 'apply', 'ignore')

_WRITE_BIT = 0o200


class Drift(object):
    """What plan_drift found and decided for one module.

    differences: {param: {'asked', 'live'}} (compare_live's); unchecked:
    asked parameters sysfs does not show; writes: [(sysfs param, value)] to
    write; reload: True when the module must be unloaded and loaded again
    (the reload then sets every asked parameter)."""

    def __init__(self, module, differences=None, unchecked=(), writes=(), reload=False):
        self.module = module
        self.differences = differences or {}
        self.unchecked = list(unchecked)
        self.writes = list(writes)
        self.reload = reload
        self.apply_blocked = None  # with 'warn': why 'apply' would fail now, if it would

    @property
    def changes(self):
        return bool(self.writes or self.reload)


def _asked(options):
    out = {}
    for name, value in split_options(options):
        out[param_key(name)] = (name, value)
    return out


def plan_drift(module, options, live_params, modes, mode='warn', builtin=False, holders=(), refcnt=0):
    """The Drift of one loaded (or builtin) module.

    options: the option text asked for; live_params: {param: value or None}
    (KernelState.module_params); modes: {param: permission bits}
    (KernelState.module_param_modes); holders, refcnt: who uses the
    module.  Raises KmodError when 'apply' cannot apply: a read-only
    parameter differs and the module is builtin or in use.
    """
    if mode not in DRIFT_MODES:
        raise KmodError('param_drift must be one of %s, not %r' % (', '.join(DRIFT_MODES), mode))
    if mode == 'ignore' or not options:
        return Drift(module)
    differences, unchecked = compare_live(options, live_params)
    if mode == 'warn' or not differences:
        return Drift(module, differences, unchecked)
    by_key = dict((param_key(p), p) for p in live_params)
    asked = _asked(options)
    writes = []
    read_only = []
    for name in sorted(differences):
        sysfs_name = by_key[param_key(name)]
        value = asked[param_key(name)][1]
        # a bare name sets a boolean parameter
        value = 'Y' if value is None else value
        if modes.get(sysfs_name, 0) & _WRITE_BIT:
            writes.append((sysfs_name, value))
        else:
            read_only.append('%s (mode %04o)' % (sysfs_name, modes.get(sysfs_name, 0)))
    if not read_only:
        return Drift(module, differences, unchecked, writes)
    asked_text = ', '.join('%s=%s' % (name, asked[param_key(name)][1]) for name in sorted(differences))
    if builtin:
        raise KmodError('cannot apply %s to %s: %s read-only, and a module built into the kernel cannot be '
                        'reloaded; set %s on the kernel command line'
                        % (asked_text, module, _is_are(read_only),
                           ' '.join('%s.%s' % (module, w.split(' ')[0]) for w in read_only)), module=module)
    if holders or refcnt:
        users = ' '.join(holders) if holders else '%d reference%s' % (refcnt, '' if refcnt == 1 else 's')
        raise KmodError('cannot apply %s to %s: %s read-only, so the module must be reloaded, and it is in use '
                        'by: %s' % (asked_text, module, _is_are(read_only), users), module=module)
    return Drift(module, differences, unchecked, reload=True)


def _is_are(params):
    return '%s %s' % (', '.join(params), 'is' if len(params) == 1 else 'are')
