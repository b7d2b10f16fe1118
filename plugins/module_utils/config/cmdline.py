# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module settings on the kernel command line (/proc/cmdline).

What modprobe takes from it (as kmod does):
- ``MOD.PARAM=VALUE`` and ``MOD.PARAM`` act as ``options MOD PARAM=VALUE``;
  MOD gets '-' turned into '_'; PARAM may not contain a '.', the value may;
  double quotes group a value with spaces (``a.b="x y"``) and are kept in
  the option text, and a word quoted whole (``"a.b=x y"``, as some boot
  loaders pass it) is rewritten to ``b="x y"``;
- ``modprobe.blacklist=a,b`` acts as ``blacklist a`` and ``blacklist b``.
What the kernel itself enforces: ``module_blacklist=a,b`` (reported apart).

Where this differs from kmod 30-34, on purpose: other ``modprobe.*`` words
are ignored (kmod adds them as options of a module named 'modprobe'), words
with an empty module name are ignored, and blacklisted names are normalised
and stripped of quotes (kmod keeps 'a-b' as is, so it never matches).
Anything else on the line is skipped; nothing here raises on odd input.
"""

import os

from ansible_collections.kernel.kmod.plugins.module_utils.config.precedence import host_path
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.names import alias_name, module_name

PROC_CMDLINE = '/proc/cmdline'

# C isspace(): what separates words on the command line.
_SPACE = ' \t\n\v\f\r'


class CmdlineOption(object):
    """``options MODULE OPTIONS`` taken from one word of the command line."""

    __slots__ = ('module', 'options', 'word')

    def __init__(self, module, options, word):
        self.module = module
        self.options = options
        self.word = word

    def __eq__(self, other):
        return isinstance(other, CmdlineOption) and (self.module, self.options, self.word) == (
            other.module, other.options, other.word)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return 'CmdlineOption(%r, %r)' % (self.module, self.options)


class KernelCmdline(object):
    """What the command line says about modules.

    options: CmdlineOption list in command-line order;
    blacklist: module names from modprobe.blacklist= (modprobe honours them);
    kernel_blacklist: module names from module_blacklist= (the kernel refuses
    to load them at all);
    ignored: (word, reason) pairs for words that looked like module settings
    but are not used.
    """

    def __init__(self, text=''):
        self.text = text
        self.options = []
        self.blacklist = []
        self.kernel_blacklist = []
        self.ignored = []

    def options_for(self, module):
        """The option texts given for one (normalised) module name."""
        return [o.options for o in self.options if o.module == module]


def split_words(text):
    """Words of a command line: unquoted whitespace separates, quotes are kept.

    Returns (word, closed) pairs; closed is False for a last word whose
    double quote never closes (kmod drops such a word).
    """
    words = []
    current = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch in _SPACE and not quoted:
            if current:
                words.append((''.join(current), True))
                current = []
            continue
        current.append(ch)
    if current:
        words.append((''.join(current), not quoted))
    return words


def _split_setting(word):
    """(module, param, value or None, whole_quoted) of a MOD.PARAM[=VALUE] word, or None."""
    whole_quoted = word.startswith('"')
    body = word[1:] if whole_quoted else word
    dot = body.find('.')
    if dot < 0:
        return None
    module = body[:dot]
    if any(c in module for c in '="' + _SPACE):
        return None
    rest = body[dot + 1:]
    eq = rest.find('=')
    param = rest if eq < 0 else rest[:eq]
    if any(c in param for c in '."' + _SPACE):
        return None
    if eq < 0:
        # A whole-quoted word cannot end inside its name: kmod drops it.
        return None if whole_quoted else (module, param, None, False)
    return module, param, rest[eq + 1:], whole_quoted


def _name_list(value):
    """'a,b-c,,"d"' -> ['a', 'b_c', 'd']."""
    out = []
    for item in value.replace('"', '').split(','):
        item = item.strip()
        if item:
            out.append(module_name(item))
    return out


def brackets_balanced(word):
    """kmod's check of a name: every '[' closed, no ']' outside a set."""
    i = 0
    n = len(word)
    while i < n:
        c = word[i]
        if c == ']':
            return False
        if c == '[':
            end = word.find(']', i + 1)
            if end < 0:
                return False
            i = end
        i += 1
    return True


def parse_cmdline(text):
    """A KernelCmdline from the text of /proc/cmdline."""
    result = KernelCmdline(text)
    # The kernel hands over a C string: nothing after a NUL counts.
    text = text.split('\0', 1)[0]
    for word, closed in split_words(text):
        if not closed:
            result.ignored.append((word, 'unclosed quote'))
            continue
        if word.startswith('module_blacklist='):
            result.kernel_blacklist.extend(_name_list(word[len('module_blacklist='):]))
            continue
        setting = _split_setting(word)
        if setting is None:
            continue
        module, param, value, whole_quoted = setting
        if module == 'modprobe':
            if param == 'blacklist' and value is not None:
                result.blacklist.extend(_name_list(value))
            else:
                result.ignored.append((word, 'modprobe.%s is not a module option' % param))
            continue
        if not module:
            result.ignored.append((word, 'empty module name'))
            continue
        if not brackets_balanced(module):
            result.ignored.append((word, 'bad module name'))
            continue
        if value is None:
            options = param
        elif whole_quoted:
            options = '%s="%s' % (param, value)
        else:
            options = '%s=%s' % (param, value)
        result.options.append(CmdlineOption(alias_name(module), options, word))
    return result


def read_cmdline(root='/', path=PROC_CMDLINE):
    """Parse <root>/proc/cmdline; a missing file gives an empty result.

    Raises KmodError when the file exists but cannot be read.
    """
    full = host_path(root, path)
    try:
        with open(full, 'rb') as f:
            data = f.read()
    except (IOError, OSError) as exc:
        if not os.path.exists(full):
            return KernelCmdline('')
        raise KmodError.from_os_error(exc, 'cannot read', path=path)
    return parse_cmdline(data.decode('utf-8', 'surrogateescape'))
