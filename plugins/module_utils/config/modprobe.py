# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""modprobe.d configuration: parsing, the queries modprobe makes, ``modprobe -c``.

The grammar is kmod's (modprobe.d(5), checked against kmod 30 and 34):
- a line ending in '\\' continues on the next line; a '\\' before any other
  character is dropped and the character kept;
- a line whose very first character is '#' is a comment; a '#' anywhere else
  is ordinary text (so ``options m a=1 # note`` passes '# note' to the module);
- words are separated by spaces and tabs; directives are ``alias PATTERN MOD``,
  ``blacklist MOD``, ``options MOD TEXT``, ``install MOD TEXT``,
  ``remove MOD TEXT``, ``softdep MOD [pre: A...] [post: B...]`` and
  ``weakdep MOD A...`` (kmod 33+); extra words after alias and blacklist are
  ignored; TEXT is the rest of the line after the one separator that follows
  MOD (tabs in options become spaces);
- names get '-' turned into '_' outside '[...]' sets, and a name with an
  unbalanced bracket makes the line bad;
- softdep words before the first 'pre:'/'post:' are ignored, and softdep or
  weakdep names are kept as written.
Bad lines are warnings 'FILE:LINE: ...' (LINE is the first physical line of
the directive; kmod names the last), never errors.  Deliberate differences
from kmod: a '\\' at the very end of a file is dropped (kmod stores a 0xFF
byte), and the first weakdep name never keeps a leading blank (kmod 33+
glues one to it after two separators, a space, tab, carriage return,
vertical tab or form feed: ' a' is a name no module has).
"""

import os
import re

from ansible_collections.kernel.kmod.plugins.module_utils.config.cmdline import (
    brackets_balanced, KernelCmdline, parse_cmdline, read_cmdline,
)
from ansible_collections.kernel.kmod.plugins.module_utils.config.precedence import modprobe_files, read_text
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.names import alias_name, module_name

CMDLINE_FILE = '/proc/cmdline'

# Separators of directive words (strtok " \t") and of softdep lists (isspace).
_WORD_SEPARATORS = ' \t'
_SPACE = ' \t\n\v\f\r'
_SPACE_RUN = re.compile('[ \t\n\v\f\r]+')


# Files depmod writes into the module directory that modprobe reads as config.
GENERATED_FILES = ('modules.softdep', 'modules.weakdep')


class Directive(object):
    """Base of the parsed lines: every one remembers its file and line."""

    __slots__ = ('module', 'file', 'line')
    kind = None
    _fields = ('module',)

    def __eq__(self, other):
        return type(self) is type(other) and all(
            getattr(self, k) == getattr(other, k) for k in self._fields + ('file', 'line'))

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        values = ', '.join('%s=%r' % (k, getattr(self, k)) for k in self._fields)
        return '%s(%s, at %s:%s)' % (type(self).__name__, values, self.file, self.line)


class Alias(Directive):
    """``alias PATTERN MODULE``: pattern is an fnmatch pattern."""
    __slots__ = ('pattern',)
    kind = 'alias'
    _fields = ('pattern', 'module')

    def __init__(self, pattern, module, file, line):
        self.pattern, self.module, self.file, self.line = pattern, module, file, line


class Options(Directive):
    """``options MODULE TEXT``: module is a name (or an alias name)."""
    __slots__ = ('options',)
    kind = 'options'
    _fields = ('module', 'options')

    def __init__(self, module, options, file, line):
        self.module, self.options, self.file, self.line = module, options, file, line


class Command(Directive):
    """``install MODULE TEXT`` or ``remove MODULE TEXT``; module is a pattern."""
    __slots__ = ('kind', 'command')
    _fields = ('kind', 'module', 'command')

    def __init__(self, kind, module, command, file, line):
        self.kind, self.module, self.command, self.file, self.line = kind, module, command, file, line


class SoftDep(Directive):
    """``softdep MODULE pre: ... post: ...``; module is a pattern.

    sections: 'pre'/'post' for each name in the order written (only kmod's
    printing quirk needs it).
    """
    __slots__ = ('pre', 'post', 'sections')
    kind = 'softdep'
    _fields = ('module', 'pre', 'post')

    def __init__(self, module, pre, post, file, line, sections=None):
        self.module, self.pre, self.post, self.file, self.line = module, pre, post, file, line
        self.sections = sections if sections is not None else ['pre'] * len(pre) + ['post'] * len(post)


class WeakDep(Directive):
    """``weakdep MODULE A B``; module is a pattern."""
    __slots__ = ('deps',)
    kind = 'weakdep'
    _fields = ('module', 'deps')

    def __init__(self, module, deps, file, line):
        self.module, self.deps, self.file, self.line = module, deps, file, line


class Blacklist(Directive):
    """``blacklist MODULE``."""
    __slots__ = ()
    kind = 'blacklist'

    def __init__(self, module, file, line):
        self.module, self.file, self.line = module, file, line


# ---------------------------------------------------------------- parsing

def _next_word(text, pos):
    """strtok(" \\t"): (word, position after its one separator) or (None, end)."""
    n = len(text)
    while pos < n and text[pos] in _WORD_SEPARATORS:
        pos += 1
    if pos >= n:
        return None, n
    end = pos
    while end < n and text[end] not in _WORD_SEPARATORS:
        end += 1
    return text[pos:end], min(end + 1, n)


def kmod_name(word):
    """A name as kmod stores it ('-' -> '_' outside sets), None if unbalanced."""
    if word is None or not brackets_balanced(word):
        return None
    return alias_name(word)


def logical_lines(text):
    """(first line number, content) of each line after joining continuations.

    Content stops at a NUL, as a C string does.
    """
    if '\\' not in text:
        lines = text.split('\n')
        if lines and lines[-1] == '':
            lines.pop()
        for number, line in enumerate(lines, 1):
            yield number, line.split('\0', 1)[0]
        return
    buf = []
    start = number = 1
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '\n':
            yield start, ''.join(buf).split('\0', 1)[0]
            buf = []
            number += 1
            start = number
        elif c == '\\':
            if i + 1 < n:
                i += 1
                if text[i] == '\n':
                    number += 1
                else:
                    buf.append(text[i])
        else:
            buf.append(c)
        i += 1
    if buf:
        yield start, ''.join(buf).split('\0', 1)[0]


def _split_list(rest):
    """Words of a softdep/weakdep list: (words, first_word_glued).

    kmod glues a single leading blank to the first word (when the list came
    after two separators), so that word never reads as 'pre:'/'post:'.
    """
    glued = len(rest) >= 2 and rest[0] in _SPACE and rest[1] not in _SPACE
    return [w for w in _SPACE_RUN.split(rest) if w], glued


def _parse_softdep(module, rest, where, warnings):
    words, glued = _split_list(rest)
    pre, post, sections = [], [], []
    target = None
    for index, word in enumerate(words):
        if word in ('pre:', 'post:') and not (glued and index == 0):
            target = pre if word == 'pre:' else post
            section = word[:-1]
        elif target is None:
            if glued and index == 0 and word in ('pre:', 'post:'):
                warnings.append("%s: softdep %s: '%s' after two blanks is not seen by modprobe" % (
                    where, module, word))
            else:
                warnings.append("%s: softdep %s: '%s' before any 'pre:' or 'post:' is ignored" % (
                    where, module, word))
        else:
            target.append(word)
            sections.append(section)
    if not pre and not post:
        warnings.append('%s: softdep %s lists no module (it still hides later softdep lines for it)' % (
            where, module))
    return pre, post, sections


def parse_modprobe_text(text, filename, weakdep=True):
    """Parse one modprobe.d file's text: (directives, warnings).

    weakdep: accept 'weakdep' lines (kmod 33+); False reads like kmod 30-32,
    which warns about them.  The softdep lines of depmod's own
    modules.softdep come from module authors' MODULE_SOFTDEP strings (some
    lack 'pre:'); like modprobe, we read them without complaint.
    """
    directives = []
    warnings = []
    softdep_warnings = [] if os.path.basename(filename) in GENERATED_FILES else warnings
    for number, line in logical_lines(text):
        if not line or line[0] == '#':
            continue
        cmd, pos = _next_word(line, 0)
        if cmd is None:
            continue
        where = '%s:%d' % (filename, number)
        if cmd in ('alias', 'blacklist', 'options', 'install', 'remove', 'softdep') or (
                weakdep and cmd == 'weakdep'):
            first, pos = _next_word(line, pos)
            if cmd == 'alias':
                second, pos = _next_word(line, pos)
                rest = second
            elif cmd == 'blacklist':
                rest = ''
            else:
                rest = line[pos:] or None
            name = kmod_name(first)
            target = None if cmd != 'alias' else kmod_name(second)
            if first is None or rest is None:
                warnings.append("%s: ignoring bad line: '%s' needs %s" % (where, cmd, _NEEDS[cmd]))
                continue
            if name is None or (cmd == 'alias' and target is None):
                bad = first if name is None else second
                warnings.append("%s: ignoring bad line: unbalanced brackets in '%s'" % (where, bad))
                continue
            if cmd == 'alias':
                directives.append(Alias(name, target, filename, number))
            elif cmd == 'blacklist':
                directives.append(Blacklist(name, filename, number))
            elif cmd == 'options':
                directives.append(Options(name, rest.replace('\t', ' '), filename, number))
            elif cmd in ('install', 'remove'):
                directives.append(Command(cmd, name, rest, filename, number))
            elif cmd == 'softdep':
                pre, post, sections = _parse_softdep(name, rest, where, softdep_warnings)
                directives.append(SoftDep(name, pre, post, filename, number, sections))
            else:
                deps = _split_list(rest)[0]
                if not deps:  # 'weakdep m  ': kmod takes it, with nothing to load
                    warnings.append('%s: weakdep %s lists no module (it still hides later weakdep lines for it)'
                                    % (where, name))
                directives.append(WeakDep(name, deps, filename, number))
        elif cmd in ('include', 'config'):
            warnings.append("%s: '%s' is deprecated and not parsed anymore" % (where, cmd))
        else:
            warnings.append("%s: ignoring bad line starting with '%s'" % (where, cmd))
    return directives, warnings


_NEEDS = {
    'alias': 'a pattern and a module name',
    'blacklist': 'a module name',
    'options': 'a module name and options',
    'install': 'a module name and a command',
    'remove': 'a module name and a command',
    'softdep': 'a module name and its soft dependencies',
    'weakdep': 'a module name and its weak dependencies',
}


# ---------------------------------------------------------------- the config

class ModprobeConfig(object):
    """All directives in the order modprobe reads them, and its queries.

    directives: every Directive, files first (sorted by name), then the
    kernel command line (file '/proc/cmdline', line 1);
    files: the ConfigFileList read (None when built from text);
    cmdline: the KernelCmdline used, or None;
    warnings: 'FILE:LINE: ...' and 'PATH: ...' strings.
    """

    def __init__(self, weakdep=True):
        self.weakdep = weakdep
        self.directives = []
        self.files = None
        self.cmdline = None
        self.warnings = []

    def add_text(self, text, filename):
        """Parse one file's text and append what it says."""
        directives, warnings = parse_modprobe_text(text, filename, weakdep=self.weakdep)
        self.directives.extend(directives)
        self.warnings.extend(warnings)

    def add_cmdline(self, kernel_cmdline):
        """Append what a KernelCmdline says (modprobe reads it last)."""
        self.cmdline = kernel_cmdline
        for name in kernel_cmdline.blacklist:
            self.directives.append(Blacklist(name, CMDLINE_FILE, 1))
        for opt in kernel_cmdline.options:
            self.directives.append(Options(opt.module, opt.options, CMDLINE_FILE, 1))

    def of_kind(self, kind):
        return [d for d in self.directives if d.kind == kind]

    @property
    def aliases(self):
        return self.of_kind('alias')

    @property
    def blacklists(self):
        return self.of_kind('blacklist')

    @property
    def options(self):
        return self.of_kind('options')

    @property
    def installs(self):
        return self.of_kind('install')

    @property
    def removes(self):
        return self.of_kind('remove')

    @property
    def softdeps(self):
        return self.of_kind('softdep')

    @property
    def weakdeps(self):
        return self.of_kind('weakdep')

    # Queries, each the way libkmod answers it.

    def aliases_for(self, name):
        """Alias directives whose pattern matches name, in config order (all of them)."""
        from ansible_collections.kernel.kmod.plugins.module_utils.fnmatch_glibc import fnmatch
        name = alias_name(name)
        return [a for a in self.aliases if fnmatch(a.pattern, name)]

    def options_for(self, module, alias=None, extra=None):
        """Option text for a module: every 'options' line naming it (or the
        alias it was reached by), joined with spaces in config order, then
        extra (options given on the modprobe command line)."""
        module = module_name(module)
        parts = [o.options for o in self.options
                 if o.options and (o.module == module or (alias is not None and o.module == alias))]
        if extra:
            parts.append(extra)
        return ' '.join(parts)

    def _first_match(self, directives, module):
        from ansible_collections.kernel.kmod.plugins.module_utils.fnmatch_glibc import fnmatch
        module = module_name(module)
        for d in directives:
            if fnmatch(d.module, module):
                return d
        return None

    def install_command(self, module):
        """The command of the first 'install' line matching module, or None."""
        found = self._first_match(self.installs, module)
        return found.command if found else None

    def remove_command(self, module):
        """The command of the first 'remove' line matching module, or None."""
        found = self._first_match(self.removes, module)
        return found.command if found else None

    def softdeps_for(self, module):
        """(pre, post) of the first softdep line matching module; ([], []) if none."""
        found = self._first_match(self.softdeps, module)
        return (list(found.pre), list(found.post)) if found else ([], [])

    def weakdeps_for(self, module):
        """The names of the first weakdep line matching module; [] if none."""
        found = self._first_match(self.weakdeps, module)
        return list(found.deps) if found else []

    def is_blacklisted(self, name):
        """True when a 'blacklist' line (or modprobe.blacklist=) names the module."""
        name = module_name(name)
        return any(b.module == name for b in self.blacklists)

    def render(self, weakdep=None, kmod_quirks=False):
        """The configuration part of ``modprobe -c``: text, one line each.

        Order as kmod prints it: blacklist, install, remove, alias, options,
        softdep, weakdep lines, each group in config order (kmod 30-32 have no
        weakdep group: pass weakdep=False).  The index dump modprobe prints
        after '# End of configuration files' is not part of it.

        A softdep line reads 'softdep m pre: a b post: c'.  kmod_quirks
        prints it as kmod 30-34 do instead: no blank before 'post:', and each
        section as the run of names from its first to its last name as
        written, other sections' names included ('pre: a post: b pre: c'
        prints 'pre: a b cpost: b').
        """
        if weakdep is None:
            weakdep = self.weakdep
        lines = ['blacklist %s' % d.module for d in self.blacklists]
        lines += ['install %s %s' % (d.module, d.command) for d in self.installs]
        lines += ['remove %s %s' % (d.module, d.command) for d in self.removes]
        lines += ['alias %s %s' % (d.pattern, d.module) for d in self.aliases]
        lines += ['options %s %s' % (d.module, d.options) for d in self.options]
        for d in self.softdeps:
            lines.append('softdep %s %s' % (d.module, _softdep_text(d, kmod_quirks)))
        if weakdep:
            lines += ['weakdep %s %s' % (d.module, ' '.join(d.deps)) for d in self.weakdeps]
        return ''.join(line + '\n' for line in lines)


def _softdep_text(dep, kmod_quirks):
    if not kmod_quirks:
        parts = []
        if dep.pre:
            parts.append('pre: ' + ' '.join(dep.pre))
        if dep.post:
            parts.append('post: ' + ' '.join(dep.post))
        return ' '.join(parts)
    order = []
    counters = {'pre': 0, 'post': 0}
    for section in dep.sections:
        # Names as written: the n-th name of a section is its n-th list entry.
        index = counters[section]
        counters[section] += 1
        order.append(dep.pre[index] if section == 'pre' else dep.post[index])
    text = ''
    for section in ('pre', 'post'):
        where = [i for i, s in enumerate(dep.sections) if s == section]
        if where:
            text += '%s: %s' % (section, ' '.join(order[where[0]:where[-1] + 1]))
    return text


def load_modprobe_config(root='/', paths=None, module_dir=None, cmdline=True, weakdep=True):
    """Read the configuration modprobe would use.

    root: the system root every path is inside; paths: files or directories
    replacing the default modprobe.d directories (modprobe -C); module_dir:
    the module directory whose modules.softdep (and modules.weakdep) join in;
    cmdline: True reads <root>/proc/cmdline, a string is parsed as the
    command line, a KernelCmdline is used as is, False/None skips it;
    weakdep: read weakdep lines and modules.weakdep (kmod 33+).
    Unreadable files become warnings.  Returns a ModprobeConfig.
    """
    config = ModprobeConfig(weakdep=weakdep)
    listing = modprobe_files(root=root, paths=paths, module_dir=module_dir, weakdep=weakdep)
    config.files = listing
    config.warnings.extend(listing.warnings)
    for entry in listing.files:
        if entry.null:
            continue
        try:
            text = read_text(entry)
        except KmodError as exc:
            config.warnings.append(exc.msg)
            continue
        config.add_text(text, entry.path)
    if cmdline is True:
        try:
            config.add_cmdline(read_cmdline(root=root))
        except KmodError as exc:
            config.warnings.append(exc.msg)
    elif isinstance(cmdline, KernelCmdline):
        config.add_cmdline(cmdline)
    elif cmdline:
        config.add_cmdline(parse_cmdline(cmdline))
    return config
