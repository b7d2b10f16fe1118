# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From a name a user gives to the modules it means, in libkmod's order.

The first step that yields modules wins: modprobe.d `alias` lines,
modules.dep (names without ':'), modules.symbols (`symbol:` names),
modules.alias, modules.builtin, modules.builtin.alias.  The answer says which
step matched, so callers can apply blacklists (which only bind alias lookups).
"""

from ansible_collections.kernel.kmod.plugins.module_utils.names import alias_name, module_name


class Match(object):
    """Module names a lookup found, and through which source."""

    def __init__(self, names, source, builtin=False):
        self.names = names
        self.source = source
        self.builtin = builtin

    def __repr__(self):
        return 'Match(%r, %r, builtin=%r)' % (self.names, self.source, self.builtin)


def lookup(tree, name, config_aliases=None):
    """A Match for `name`, or None when nothing knows it.

    config_aliases: callable alias -> [module names] from modprobe.d, or None.
    """
    alias = alias_name(name)
    if config_aliases is not None:
        names = config_aliases(alias)
        if names:
            return Match(names, 'config-alias')
    if ':' not in name:
        modname = module_name(name)
        if tree.dep_entry(modname) is not None:
            return Match([modname], 'modules.dep')
    if alias.startswith('symbol:'):
        names = tree.symbol_owner(alias)
        if names:
            return Match(names, 'modules.symbols')
    names = tree.alias_matches(alias)
    if names:
        return Match(names, 'modules.alias')
    if ':' not in name and tree.is_builtin(name):
        return Match([module_name(name)], 'modules.builtin', builtin=True)
    names = tree.builtin_alias_matches(alias)
    if names:
        return Match(names, 'modules.builtin.alias', builtin=True)
    return None
