# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""depmod.d configuration: which module files depmod prefers, and where it looks.

The grammar is kmod's (depmod.d(5), checked against kmod 30 and 34):
- a line ending in '\\' continues on the next line; a line whose very first
  character is '#' is a comment; words are separated by spaces and tabs;
- ``search DIR...``: subdirectories of the module directory, the first
  listed has the highest priority; the words ``built-in`` (everything else
  in the module directory) and ``external`` (the external directories) are
  keywords.  All search lines of all files add to one list.  Without any
  search word the list is just ``updates``, and everything else ranks below
  it as built-in;
- ``override MODULE KVER SUBDIR``: the file MODULE.ko* directly in SUBDIR
  (relative to the module directory) wins over any other file of that name;
- ``external KVER DIR``: DIR is searched after the module directory (only
  the first DIR of a line counts, as in kmod);
- ``exclude NAME...``: files and directories called NAME are skipped at any
  depth of the walk (kmod 30 has it too);
- ``include`` and ``make_map_files`` are accepted and ignored (kmod says "not
  implemented yet"); anything else, or an override/external line missing a
  word, is a warning 'FILE:LINE: ignoring bad line starting with ...'.
KVER is '*' (every release) or a POSIX extended regular expression searched
anywhere in the release (so '6.1' also matches '6.10.2'); lines whose KVER
does not match the release are dropped at parse time, as kmod does, and
listed in ``not_matching``.

Like kmod, names are kept exactly as written ('-' is not turned into '_'),
and LINE is the first physical line of a continued line (kmod names the
last).  Where kmod reads the files: /etc, /run, /usr/local/lib and /lib
``depmod.d`` on the host even with ``depmod -b``; here they are read under
``root``, which defaults to '/' (precedence.DEPMOD_DIRS also has
/usr/lib/depmod.d, which kmod 31 and later read).
"""

import os

from ansible_collections.kernel.kmod.plugins.module_utils.config.precedence import (
    depmod_files, host_path, read_text,
)
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError

BUILTIN_KEYWORD = 'built-in'
EXTERNAL_KEYWORD = 'external'
# The search list kmod uses when no config file has a search word.
DEFAULT_SEARCH = ('updates',)

# Names depmod never walks into, wherever they are in the module directory.
ALWAYS_SKIPPED = ('build', 'source')


def external_path(config, directory):
    """Where an external directory is on this machine (kmod: as written)."""
    if config.root in (None, '', '/'):
        return directory
    return host_path(config.root, directory)


class SearchEntry(object):
    """One word of a search line: kind 'path', 'built-in' or 'external'.

    path: the subdirectory for kind 'path' (as written), else None.
    """

    __slots__ = ('kind', 'path', 'file', 'line')

    def __init__(self, kind, path=None, file=None, line=None):
        self.kind, self.path, self.file, self.line = kind, path, file, line

    @classmethod
    def from_word(cls, word, file=None, line=None):
        if word == BUILTIN_KEYWORD:
            return cls('built-in', None, file, line)
        if word == EXTERNAL_KEYWORD:
            return cls('external', None, file, line)
        return cls('path', word, file, line)

    def __eq__(self, other):
        return isinstance(other, SearchEntry) and (self.kind, self.path) == (other.kind, other.path)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return 'SearchEntry(%r)' % (self.path if self.kind == 'path' else self.kind)


class Override(object):
    """``override MODULE KVER SUBDIR``: SUBDIR/MODULE.ko* wins for MODULE."""

    __slots__ = ('module', 'kver', 'subdir', 'file', 'line')

    def __init__(self, module, kver, subdir, file=None, line=None):
        self.module, self.kver, self.subdir, self.file, self.line = module, kver, subdir, file, line

    @property
    def path(self):
        """The path without suffix it matches, relative to the module dir."""
        return self.subdir + '/' + self.module

    def __eq__(self, other):
        return isinstance(other, Override) and (self.module, self.kver, self.subdir) == (
            other.module, other.kver, other.subdir)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return 'Override(%r, %r, %r)' % (self.module, self.kver, self.subdir)


class External(object):
    """``external KVER DIR``: DIR is searched for modules too."""

    __slots__ = ('kver', 'dir', 'file', 'line')

    def __init__(self, kver, dir, file=None, line=None):  # pylint: disable=redefined-builtin
        self.kver, self.dir, self.file, self.line = kver, dir, file, line

    def __eq__(self, other):
        return isinstance(other, External) and (self.kver, self.dir) == (other.kver, other.dir)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return 'External(%r, %r)' % (self.kver, self.dir)


class DepmodConfig(object):
    """What the depmod.d files say, for one kernel release.

    release: the release KVER patterns were matched against;
    root: where the files (and external directories) live on this machine;
    searches: SearchEntry list in config order (first = highest priority);
    overrides / externals: the lines whose KVER matched, in config order;
    excludes: names skipped by the walk, in config order;
    not_matching: Override/External lines dropped because KVER did not match;
    files: paths (inside root) of the files read, in read order;
    warnings: 'FILE:LINE: ...' and 'PATH: ...' strings.
    """

    def __init__(self, release, root='/'):
        self.release = release
        self.root = root or '/'
        self.searches = []
        self.overrides = []
        self.externals = []
        self.excludes = []
        self.not_matching = []
        self.files = []
        self.warnings = []

    @property
    def search_order(self):
        """The effective search list (the default when no search word was seen)."""
        if self.searches:
            return list(self.searches)
        return [SearchEntry('path', p) for p in DEFAULT_SEARCH]

    def add_text(self, text, filename):
        """Parse one file's text and add what it says."""
        # imported here: most machines have no depmod.d file at all
        from ansible_collections.kernel.kmod.plugins.module_utils.config.modprobe import logical_lines
        for number, line in logical_lines(text):
            self._add_line(line, filename, number)

    def _add_line(self, line, filename, number):
        if not line or line[0] == '#':
            return
        # words split at blanks and tabs only (no regular expressions: see _python_regex_search)
        words = [w for w in line.replace('\t', ' ').split(' ') if w]
        if not words:
            return
        cmd, args = words[0], words[1:]
        where = '%s:%d' % (filename, number)
        if cmd == 'search':
            self.searches.extend(SearchEntry.from_word(w, filename, number) for w in args)
        elif cmd == 'override':
            if len(args) < 3:
                self._bad(where, cmd)
                return
            entry = Override(args[0], args[1], args[2], filename, number)
            self._keep_if_matching(entry, self.overrides)
        elif cmd == 'external':
            if len(args) < 2:
                self._bad(where, cmd)
                return
            entry = External(args[0], args[1], filename, number)
            if len(args) > 2:
                self.warnings.append('%s: external: only the first directory of a line counts, '
                                     'ignoring %s' % (where, ' '.join(args[2:])))
            self._keep_if_matching(entry, self.externals)
        elif cmd == 'exclude':
            self.excludes.extend(args)
        elif cmd in ('include', 'make_map_files'):
            # kmod accepts these words and does nothing with them.
            self.warnings.append('%s: command %s not implemented (ignored, as by kmod)' % (where, cmd))
        else:
            self._bad(where, cmd)

    def _bad(self, where, cmd):
        self.warnings.append("%s: ignoring bad line starting with '%s'" % (where, cmd))

    def _keep_if_matching(self, entry, target):
        if kernel_matches(entry.kver, self.release):
            target.append(entry)
        else:
            self.not_matching.append(entry)


# ---------------------------------------------------------------- KVER

def kernel_matches(pattern, release):
    """True when a KVER pattern selects `release`, as kmod decides it.

    '*' matches every release; anything else is a POSIX extended regular
    expression searched in the release (unanchored).  A pattern that does
    not compile matches nothing.  The C library's regex is used when it can
    be loaded, so the answer is the one kmod gets on the same machine;
    otherwise a translation to Python's re (exact for the usual literals,
    '.', '*', '+', '?', '|', groups, brackets with POSIX classes, anchors).
    """
    if pattern == '*':
        return True
    answer = _libc_regex_search(pattern, release)
    if answer is None:
        answer = _python_regex_search(pattern, release)
    return answer


# regcomp flags (the same values in glibc and musl).
_REG_EXTENDED = 1
_REG_NOSUB = 8
# regex_t is 64 bytes in glibc on 64-bit machines; leave generous room.
_REGEX_T_SIZE = 1024
_libc = []


def _load_libc():
    import ctypes  # only for KVER lines in the config: not worth its import time in every run
    import ctypes.util
    if not _libc:
        lib = None
        try:
            # The running program's own symbols include the C library's.
            lib = ctypes.CDLL(None)
            if not hasattr(lib, 'regcomp'):
                lib = ctypes.CDLL(ctypes.util.find_library('c'))
            if lib is not None:
                for func in ('regcomp', 'regexec', 'regfree'):
                    getattr(lib, func)
                lib.regcomp.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int)
                lib.regexec.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                        ctypes.c_void_p, ctypes.c_int)
                lib.regfree.argtypes = (ctypes.c_void_p,)
        except (OSError, AttributeError):
            lib = None
        _libc.append(lib)
    return _libc[0]


def _libc_regex_search(pattern, text):
    """regcomp(REG_EXTENDED|REG_NOSUB) + regexec, or None without a libc."""
    import ctypes
    lib = _load_libc()
    if lib is None:
        return None
    if '\0' in pattern or '\0' in text:
        return None
    buf = ctypes.create_string_buffer(_REGEX_T_SIZE)
    pat = pattern.encode('utf-8', 'surrogateescape')
    if lib.regcomp(buf, pat, _REG_EXTENDED | _REG_NOSUB) != 0:
        return False
    try:
        return lib.regexec(buf, text.encode('utf-8', 'surrogateescape'), 0, None, 0) == 0
    finally:
        lib.regfree(buf)


_POSIX_CLASSES = {
    'alpha': 'a-zA-Z', 'digit': '0-9', 'alnum': '0-9a-zA-Z', 'upper': 'A-Z', 'lower': 'a-z',
    'space': ' \\t\\n\\r\\f\\v', 'blank': ' \\t', 'xdigit': '0-9A-Fa-f',
    # re.escape() of the punctuation characters
    'punct': '!"\\#\\$%\\&\'\\(\\)\\*\\+,\\-\\./:;<=>\\?@\\[\\\\\\]\\^_`\\{\\|\\}\\~',
    'cntrl': '\\x00-\\x1f\\x7f', 'print': '\\x20-\\x7e', 'graph': '\\x21-\\x7e',
}
_GNU_ESCAPES = {'w': '\\w', 'W': '\\W', 's': '\\s', 'S': '\\S', 'b': '\\b', 'B': '\\B',
                '<': '\\b', '>': '\\b', '`': '\\A', "'": '\\Z'}


def _python_regex_search(pattern, text):
    # re is imported only here, where the C library's regcomp is not at hand:
    # its import would cost a run that has nothing to do a few milliseconds
    import re
    translated = _translate_ere(pattern)
    if translated is None:
        return False
    try:
        return re.search(translated, text) is not None
    except re.error:
        return False


def _translate_ere(pattern):
    import re
    """A POSIX ERE as a Python pattern, or None when it is not valid."""
    out = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == '\\':
            if i + 1 >= n:
                return None
            nxt = pattern[i + 1]
            if nxt in _GNU_ESCAPES:
                out.append(_GNU_ESCAPES[nxt])
            elif nxt.isdigit() and nxt != '0':
                out.append('\\' + nxt)
            else:
                out.append(re.escape(nxt))
            i += 2
        elif c == '[':
            end, body = _translate_bracket(pattern, i + 1)
            if end is None:
                return None
            out.append(body)
            i = end
        elif c == '(' and pattern.startswith('(?', i):
            return None  # '?' cannot follow '(' in an ERE
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def _translate_bracket(pattern, i):
    import re
    """Translate a bracket expression whose body starts at i: (end, text)."""
    n = len(pattern)
    parts = ['[']
    if i < n and pattern[i] == '^':
        parts.append('^')
        i += 1
    first = True
    while i < n:
        c = pattern[i]
        if c == ']' and not first:
            parts.append(']')
            return i + 1, ''.join(parts)
        first = False
        if c == '[' and i + 1 < n and pattern[i + 1] in ':.=':
            kind = pattern[i + 1]
            close = pattern.find(kind + ']', i + 2)
            if close < 0:
                return None, None
            name = pattern[i + 2:close]
            if kind == ':':
                if name not in _POSIX_CLASSES:
                    return None, None
                parts.append(_POSIX_CLASSES[name])
            else:
                parts.append(re.escape(name))
            i = close + 2
            continue
        # a '-' right after a range's '-' is its end point, escaped: '--' would read as a set difference
        if c == '-' and parts[-1] not in ('[', '^', '-') and i + 1 < n and pattern[i + 1] != ']':
            parts.append('-')
        else:
            parts.append(re.escape(c))
        i += 1
    return None, None


# ---------------------------------------------------------------- loading

def parse_depmod_text(text, filename='<text>', release=None):
    """A DepmodConfig from one file's text (for tests and single files)."""
    config = DepmodConfig(release if release is not None else os.uname()[2])
    config.add_text(text, filename)
    return config


def load_depmod_config(root='/', paths=None, release=None):
    """Read depmod.d as depmod does: a DepmodConfig.

    root: where the files are on this machine ('/' is what kmod reads, even
    with depmod -b); paths: files or directories inside root replacing the
    default directories (depmod -C); release: the kernel release KVER is
    matched against (default: the running kernel).  Unreadable files are
    warnings.
    """
    config = DepmodConfig(release if release is not None else os.uname()[2], root=root)
    listing = depmod_files(root=config.root, paths=paths)
    config.warnings.extend(listing.warnings)
    for config_file in listing.files:
        try:
            text = read_text(config_file)
        except KmodError as exc:
            config.warnings.append(exc.msg)
            continue
        config.files.append(config_file.path)
        config.add_text(text, config_file.path)
    return config
