# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shell-pattern matching with the semantics of glibc's fnmatch(3), flags 0.

kmod matches alias patterns (modules.alias.bin keys, modprobe.d `alias`
lines) with the C library's ``fnmatch(pattern, string, 0)`` in the "C"
locale.  Python's ``fnmatch`` module differs from it: it does not know
``[^...]`` as negation, backslash escapes, character classes such as
``[[:digit:]]``, and it treats an unterminated ``[`` differently.

Here every pattern is compiled once.  A bracket expression is evaluated the
way glibc evaluates it, character by character (an unterminated one matches
a literal ``[``; a malformed one can fail only for some characters), and the
outcome for every byte value is turned into a regular-expression character
class.  Patterns whose brackets cannot be expressed that way fall back to a
small NFA simulation over the same outcome tables.  Either way a match takes
time bounded by the pattern's length times the string's, however many
stars the pattern has (see _build_regex).

Strings are handled as sequences of byte values: callers decode bytes as
latin-1.  As in C, pattern and string end at their first NUL.
"""

import re
import sys

from functools import lru_cache

NUL = '\0'
# (?>...) compiles and matches faster than the lookahead form older re needs
_ATOMIC_GROUPS = sys.version_info >= (3, 11)
WILDCARD_CHARS = frozenset('*?[')

# glibc's CHARCLASS_NAME_MAX: a longer "[:name:]" is an ill-formed pattern.
CLASS_NAME_MAX = 2048


def _ascii_set(pred):
    return frozenset(chr(i) for i in range(128) if pred(i))


# Character classes of the "C" locale: ASCII only.
CHAR_CLASSES = {
    'alnum': _ascii_set(lambda i: chr(i).isalnum()),
    'alpha': _ascii_set(lambda i: chr(i).isalpha()),
    'blank': frozenset(' \t'),
    'cntrl': _ascii_set(lambda i: i < 32 or i == 127),
    'digit': frozenset('0123456789'),
    'graph': _ascii_set(lambda i: 33 <= i <= 126),
    'lower': _ascii_set(lambda i: 97 <= i <= 122),
    'print': _ascii_set(lambda i: 32 <= i <= 126),
    'punct': _ascii_set(lambda i: 33 <= i <= 126 and not chr(i).isalnum()),
    'space': frozenset(' \t\n\v\f\r'),
    'upper': _ascii_set(lambda i: 65 <= i <= 90),
    'xdigit': frozenset('0123456789abcdefABCDEF'),
}

# Outcomes of one bracket expression for one string character.
_FAIL = None          # no match at this alignment
_LITERAL = -1         # unterminated: the '[' is an ordinary character

_NOT_LATIN1 = re.compile(u'[^\x00-\xff]')


def has_wildcard(s):
    """True when a string holds one of the characters '*', '?', '['."""
    return any(c in WILDCARD_CHARS for c in s)


def _cut_at_nul(s):
    cut = s.find(NUL)
    return s if cut < 0 else s[:cut]


class _Scanner(object):
    """Reads a pattern like C does: past its end there are only NULs."""

    def __init__(self, pattern):
        self.pattern = pattern
        self.size = len(pattern)

    def at(self, k):
        return self.pattern[k] if k < self.size else NUL


def _collating_symbol(scan, p):
    """Parse '[.x.]' whose '[' is at p-1 and '.' at p: (char or None, next p).

    None means the pattern is ill-formed there (the match fails): an
    unterminated symbol, or one that is not exactly one character (the "C"
    locale has no multi-character collating elements).
    """
    q = p
    count = 0
    while True:
        q += 1
        ch = scan.at(q)
        if ch == '.' and scan.at(q + 1) == ']':
            break
        if ch == NUL:
            return None, q
        count += 1
    if count != 1:
        return None, q + 2
    return scan.at(p + 1), q + 2


def _bracket_outcome(scan, start, fn):
    """Evaluate the bracket expression whose '[' is at start-1 for char fn.

    Returns the pattern index at which matching continues, _LITERAL when the
    '[' stands for itself, or _FAIL.
    """
    at = scan.at
    p = start
    negate = at(p) in ('!', '^')
    if negate:
        p += 1
    c = at(p)
    p += 1
    matched = False
    while not matched:
        kind = 'normal'
        if c == '\\':
            if at(p) == NUL:
                return _FAIL
            c = at(p)
            p += 1
        elif c == '[' and at(p) == ':':
            startp = p
            name = []
            q = p
            while True:
                if len(name) == CLASS_NAME_MAX:
                    return _FAIL
                q += 1
                ch = at(q)
                if ch == ':' and at(q + 1) == ']':
                    q += 2
                    break
                if ch < 'a' or ch >= 'z':
                    name = None
                    break
                name.append(ch)
            if name is None:
                # not a class name: the '[' is an ordinary member
                p = startp
                c = '['
            else:
                members = CHAR_CLASSES.get(''.join(name))
                if members is None:
                    return _FAIL
                p = q
                if fn in members:
                    matched = True
                    break
                c = at(p)
                p += 1
                kind = 'done'
        elif c == '[' and at(p) == '=':
            startp = p
            eq = at(p + 1)
            if eq == NUL or at(p + 2) != '=' or at(p + 3) != ']':
                p = startp
                c = '['
            else:
                p = p + 4
                if fn == eq:
                    matched = True
                    break
                c = at(p)
                p += 1
                kind = 'done'
        elif c == NUL:
            return _LITERAL
        elif c == '[' and at(p) == '.':
            sym, p = _collating_symbol(scan, p)
            if sym is None:
                return _FAIL
            is_range = at(p) == '-' and at(p + 1) != NUL
            if not is_range and fn == sym:
                matched = True
                break
            cold = sym
            c = at(p)
            p += 1
            kind = 'range'

        if kind == 'normal':
            is_range = at(p) == '-' and at(p + 1) not in (NUL, ']')
            if not is_range and c == fn:
                matched = True
                break
            cold = c
            c = at(p)
            p += 1
            kind = 'range'

        if kind == 'range' and c == '-' and at(p) != ']':
            cend = at(p)
            p += 1
            if cend == '[' and at(p) == '.':
                cend, p = _collating_symbol(scan, p)
                if cend is None:
                    return _FAIL
            else:
                if cend == '\\':
                    cend = at(p)
                    p += 1
                if cend == NUL:
                    return _FAIL
            # "C" locale: the collation sequence is the byte value
            if cold <= fn <= cend:
                matched = True
                break
            c = at(p)
            p += 1

        if c == ']':
            break

    if not matched:
        return p if negate else _FAIL
    return _skip_matched_bracket(scan, p, negate)


def _skip_matched_bracket(scan, p, negate):
    """After a member matched, find the closing ']' the way glibc does."""
    at = scan.at
    while True:
        c = at(p)
        p += 1
        if c == ']':
            break
        if c == NUL:
            # unterminated after all: the '[' stands for itself
            return _LITERAL
        if c == '\\':
            if at(p) == NUL:
                return _FAIL
            p += 1
        elif c == '[' and at(p) == ':':
            startp = p
            length = 0
            while True:
                p += 1
                c = at(p)
                length += 1
                if length == CLASS_NAME_MAX:
                    return _FAIL
                if c == ':' and at(p + 1) == ']':
                    break
                if c < 'a' or c >= 'z':
                    p = startp - 2
                    break
            p += 2
        elif c == '[' and at(p) == '=':
            p += 1
            if at(p) == NUL:
                return _FAIL
            p += 1
            if at(p) != '=' or at(p + 1) != ']':
                return _FAIL
            p += 2
        elif c == '[' and at(p) == '.':
            while True:
                p += 1
                c = at(p)
                if c == NUL:
                    return _FAIL
                if c == '.' and at(p + 1) == ']':
                    break
            p += 2
    return _FAIL if negate else p


# Token kinds of a compiled pattern, one per pattern position.
_STAR, _ANY, _LIT, _NEVER, _BRACKET = range(5)


class Pattern(object):
    """A compiled pattern: ``Pattern('pci:v*d[0-9]*').match('pci:v1d2')``."""

    def __init__(self, pattern):
        self.pattern = _cut_at_nul(pattern)
        self._scan = _Scanner(self.pattern)
        self._outcomes = {}
        self.regex = self._build_regex()

    def _outcome(self, i, fn):
        """Where matching goes on after the bracket at i meets char fn."""
        key = (i, fn)
        got = self._outcomes.get(key, False)
        if got is False:
            got = _bracket_outcome(self._scan, i + 1, fn)
            if got == _LITERAL:
                got = i + 1 if fn == '[' else _FAIL
            self._outcomes[key] = got
        return got

    def _token(self, i):
        """(kind, argument, next index) of the pattern position i."""
        c = self.pattern[i]
        if c == '*':
            return _STAR, None, i + 1
        if c == '?':
            return _ANY, None, i + 1
        if c == '\\':
            if i + 1 >= len(self.pattern):
                return _NEVER, None, i + 1
            return _LIT, self.pattern[i + 1], i + 2
        if c == '[':
            return _BRACKET, None, None
        return _LIT, c, i + 1

    def _build_regex(self):
        """A regular expression equal to the pattern, or None if none is.

        Each '*' is not simply '.*': a pattern of k stars would then cost up
        to len(string)**k steps of backtracking.  The pieces between stars
        match one character per pattern token, so the leftmost place where a
        middle piece matches is always a right place for it (a later one
        leaves the rest less room).  An atomic group (Python 3.11+) takes
        that place and is never backtracked into; older Pythons get the same
        from a lookahead, which re never backtracks into either, and a
        backreference that consumes what it saw.  Only the last piece is
        left to a plain '.*', which backtracks at most once over the string.
        Matching then takes time bounded by len(pattern) * len(string), as
        glibc's does.
        """
        pieces = [[]]
        i = 0
        n = len(self.pattern)
        while i < n:
            kind, arg, nxt = self._token(i)
            if kind == _STAR:
                pieces.append([])
            elif kind == _ANY:
                pieces[-1].append('.')
            elif kind == _NEVER:
                return re.compile('(?!)')
            elif kind == _LIT:
                pieces[-1].append(re.escape(arg))
            else:
                members = []
                targets = set()
                for code in range(1, 256):
                    got = self._outcome(i, chr(code))
                    if got is not _FAIL:
                        members.append(code)
                        targets.add(got)
                if len(targets) > 1:
                    return None
                if not targets:
                    return re.compile('(?!)')
                pieces[-1].append(_char_class(members))
                nxt = targets.pop()
            i = nxt
        parts = [''.join(pieces[0])]
        for group, middle in enumerate(pieces[1:-1], 1):
            if _ATOMIC_GROUPS:
                parts.append('(?>.*?%s)' % ''.join(middle) if middle else '')
            elif middle:
                parts.append('(?=(.*?%s))\\%d' % (''.join(middle), group))
            else:
                parts.append('()')     # keeps the group numbers in step
        if len(pieces) > 1:
            parts.append('.*' + ''.join(pieces[-1]))
        return re.compile(''.join(parts), re.DOTALL)

    def match(self, string):
        """True when the whole string matches (glibc fnmatch returning 0)."""
        string = _cut_at_nul(string)
        if self.regex is not None and not _NOT_LATIN1.search(string):
            return self.regex.fullmatch(string) is not None
        return self._simulate(string)

    def _closure(self, states):
        """Add the positions reachable without reading: '*' may match nothing."""
        todo = list(states)
        while todo:
            i = todo.pop()
            if i < len(self.pattern) and self.pattern[i] == '*' and i + 1 not in states:
                states.add(i + 1)
                todo.append(i + 1)
        return states

    def _simulate(self, string):
        n = len(self.pattern)
        states = self._closure({0})
        for ch in string:
            following = set()
            for i in states:
                if i >= n:
                    continue
                kind, arg, nxt = self._token(i)
                if kind == _STAR:
                    following.add(i)
                elif kind == _ANY or (kind == _LIT and arg == ch):
                    following.add(nxt)
                elif kind == _BRACKET:
                    got = self._outcome(i, ch)
                    if got is not _FAIL:
                        following.add(got)
            if not following:
                return False
            states = self._closure(following)
        return n in states


def _char_class(codes):
    """A regex character class for sorted byte values, with ranges."""
    out = []
    k = 0
    while k < len(codes):
        j = k
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        if j > k:
            out.append('\\x%02x-\\x%02x' % (codes[k], codes[j]))
        else:
            out.append('\\x%02x' % codes[k])
        k = j + 1
    return '[' + ''.join(out) + ']'


def _compile_uncached(pattern):
    return Pattern(pattern)


# Alias lookups match the same few thousand patterns again and again.
compile_pattern = lru_cache(maxsize=8192)(_compile_uncached)


# A pattern without these is a plain string: it matches itself alone (most
# modprobe.d names are), without compiling a regex for it.
_SPECIAL = re.compile(u'[*?[\\\\\x00]')


def fnmatch(pattern, string):
    """glibc ``fnmatch(pattern, string, 0) == 0`` in the "C" locale."""
    if _SPECIAL.search(pattern) is None:
        return _cut_at_nul(string) == pattern
    return compile_pattern(pattern).match(string)
