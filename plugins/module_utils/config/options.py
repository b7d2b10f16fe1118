# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module parameters as users give them, as the kernel reads them, as sysfs shows them.

A user gives parameters as a modprobe-style string ('numdummies=2 name="a b"')
or as a mapping.  The kernel splits the string its own way (blanks outside
double quotes separate; the quotes around a value are dropped), treats '-'
and '_' in parameter names alike, and shows the values of readable
parameters in /sys/module/NAME/parameters normalised: booleans as Y/N,
integers in decimal, arrays comma-separated.  compare_live tells which asked
values a loaded module does not have.
"""

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError

_BLANKS = ' \t\n\r\v\f'


_SCALARS = (str, int, float, bool)


def _value_text(name, value):
    if isinstance(value, bool):
        return 'Y' if value else 'N'
    if isinstance(value, (list, tuple)):
        # an array parameter: comma-separated scalars, as modprobe takes it
        for item in value:
            if item is None or not isinstance(item, _SCALARS):
                raise KmodError('params: the list value of %s must hold only strings, numbers or booleans, '
                                'found %r' % (name, item))
        return ','.join(_value_text(name, v) for v in value)
    if value is None:
        return ''
    if not isinstance(value, _SCALARS):
        raise KmodError('params: the value of %s must be a string, number, boolean or a list of them, not %r'
                        % (name, value))
    return str(value)


def _bad_character(text):
    """(index, char) of the first control or non-encodable character, or None."""
    for i, c in enumerate(text):
        code = ord(c)
        if code < 0x20 or code == 0x7f or 0xd800 <= code <= 0xdfff:
            return i, c
    return None


def check_options(text):
    """Refuse an option string that cannot be what the user meant; the
    message quotes the bad part.  The kernel takes any bytes, so what is
    refused is what would be read otherwise than written: control
    characters (a newline ends a modprobe.d line), lone surrogates (text
    that is not encodable as UTF-8), an unbalanced double quote (the kernel
    would swallow the rest of the line into one value), a parameter
    without a name ('=1', '='), and a trailing backslash (modprobe.d would
    join the next line)."""
    bad = _bad_character(text)
    if bad is not None:
        i, c = bad
        what = 'a lone surrogate, not encodable as UTF-8' if 0xd800 <= ord(c) <= 0xdfff else 'a control character'
        raise KmodError('params: %r at position %d of %r is %s; parameters must be one line of printable text'
                        % (c, i, text, what))
    if text.count('"') % 2:
        raise KmodError('params: unbalanced double quote in %r (a value in quotes needs its closing quote)'
                        % text)
    if text.endswith('\\'):
        raise KmodError('params: %r ends with a backslash' % text)
    for name, value in split_options(text):
        if not name:
            word = '=' if value is None else '=%s' % value
            raise KmodError('params: %r in %r has no parameter name' % (word, text))


def options_text(params):
    """The option string for a str (returned stripped) or a mapping
    ({'numdummies': 2, 'name': 'a b'} -> 'numdummies=2 name="a b"'),
    checked with check_options.

    Booleans become Y/N, lists comma-separated values, None a bare name;
    other values (mappings, nested lists) are refused.
    """
    if params is None:
        return ''
    if isinstance(params, (list, tuple, set)):
        raise KmodError('params must be a string or a mapping of parameter names to values')
    if not isinstance(params, dict):
        if not isinstance(params, _SCALARS):
            raise KmodError('params must be a string or a mapping of parameter names to values, not %r'
                            % (params,))
        text = str(params).strip(_BLANKS)
        check_options(text)
        return text
    words = []
    for key in params:
        name = str(key)
        if not name or any(c in _BLANKS + '="' for c in name) or _bad_character(name):
            raise KmodError('params: invalid module parameter name %r' % name)
        value = params[key]
        if value is None:
            words.append(name)
            continue
        text = _value_text(name, value)
        if '"' in text:
            raise KmodError('params: the value of module parameter %s cannot contain a double quote: %r'
                            % (name, text))
        if not text or any(c in _BLANKS for c in text):
            text = '"%s"' % text
        words.append('%s=%s' % (name, text))
    text = ' '.join(words)
    check_options(text)
    return text


def split_options(text):
    """[(name, value or None)] the way the kernel's parse_args splits them.

    Blanks outside double quotes separate parameters; a quote opening the
    word or the value is dropped with its closing quote.
    """
    out = []
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] in _BLANKS:
            i += 1
        if i >= n:
            break
        start = i
        quoted = False
        while i < n and (quoted or text[i] not in _BLANKS):
            if text[i] == '"':
                quoted = not quoted
            i += 1
        out.append(_split_word(text[start:i]))
    return out


def _strip_quotes(text):
    if text.startswith('"'):
        text = text[1:]
        if text.endswith('"'):
            text = text[:-1]
    return text


def _split_word(word):
    word = _strip_quotes(word) if word.startswith('"') else word
    name, sep, value = word.partition('=')
    if not sep:
        return name, None
    return name, _strip_quotes(value)


def param_key(name):
    """Parameter names match with '-' and '_' alike (the kernel's parameq)."""
    return name.replace('-', '_')


def _as_bool(text):
    # The kernel's kstrtobool: the first characters decide.
    if text == '':
        return True
    first = text[0]
    if first in 'yYtT1':
        return True
    if first in 'nNfF0':
        return False
    if first in 'oO' and len(text) > 1:
        if text[1] in 'nN':
            return True
        if text[1] in 'fF':
            return False
    return None


def _as_int(text):
    # kstrtoint with base 0: 0x for hex, a leading 0 for octal.
    sign = -1 if text.startswith('-') else 1
    digits = text[1:] if text[:1] in '+-' else text
    base = 10
    if digits[:2] in ('0x', '0X'):
        digits, base = digits[2:], 16
    elif len(digits) > 1 and digits.startswith('0'):
        base = 8
    try:
        return sign * int(digits, base) if digits and digits.isalnum() else None
    except ValueError:
        return None


def same_value(asked, live):
    """Whether an asked value (None: bare name) is what sysfs shows."""
    asked = '' if asked is None else asked
    if live in ('Y', 'N'):
        wanted = _as_bool(asked)
        if wanted is not None:
            return wanted == (live == 'Y')
    if asked == live:
        return True
    if ',' in live or ',' in asked:
        parts_asked = asked.split(',')
        parts_live = live.split(',')
        return len(parts_asked) == len(parts_live) and all(
            same_value(a, b) for a, b in zip(parts_asked, parts_live))
    a_int = _as_int(asked)
    return a_int is not None and a_int == _as_int(live)


def compare_live(options, live_params):
    """(differences, unchecked) of an option string against a loaded module.

    live_params: {param: value or None (unreadable)} from
    KernelState.module_params.  differences: {param: {'asked', 'live'}} for
    every readable parameter whose value differs; unchecked: the asked
    parameters sysfs does not show or root cannot read, sorted.
    """
    live = dict((param_key(k), v) for k, v in live_params.items())
    asked = {}
    for name, value in split_options(options):
        asked[param_key(name)] = (name, value)  # the kernel keeps the last setting
    differences = {}
    unchecked = set()
    for key, (name, value) in asked.items():
        if live.get(key) is None:
            unchecked.add(name)
        elif not same_value(value, live[key]):
            differences[name] = {'asked': value, 'live': live[key]}
    return differences, sorted(unchecked)
