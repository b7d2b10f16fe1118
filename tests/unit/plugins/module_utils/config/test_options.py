"""module_options: parameters as given, as the kernel splits them, compared with sysfs."""

import pytest
from hypothesis import given, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.config.options import (
    compare_live, options_text, same_value, split_options,
)
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError


def test_options_text_of_a_mapping():
    assert options_text({'numdummies': 2, 'debug': True, 'name': 'a b', 'list': [1, 2], 'flag': None,
                         'empty': ''}) == 'numdummies=2 debug=Y name="a b" list=1,2 flag empty=""'
    assert options_text('  numdummies=2 \n') == 'numdummies=2'
    assert options_text(None) == ''


@pytest.mark.parametrize('params', [{'a b': 1}, {'a=': 1}, {'': 1}, {'x': 'say "hi"'}, {'a\x01': 1}])
def test_options_text_refuses_what_cannot_be_said(params):
    with pytest.raises(KmodError):
        options_text(params)


@pytest.mark.parametrize('params, message', [
    ('=', "params: '=' in '=' has no parameter name"),
    ('a=1 =2', "params: '=2' in 'a=1 =2' has no parameter name"),
    ('a="2', "params: unbalanced double quote in 'a=\"2' (a value in quotes needs its closing quote)"),
    ('a=1 b="x y', "params: unbalanced double quote in 'a=1 b=\"x y' (a value in quotes needs its closing quote)"),
    ('a=1\\', "params: 'a=1\\\\' ends with a backslash"),
    ('a=1\nb=2', "params: '\\n' at position 3 of 'a=1\\nb=2' is a control character; parameters must be one "
                 "line of printable text"),
    ('a=\x00', "params: '\\x00' at position 2 of 'a=\\x00' is a control character; parameters must be one line "
               "of printable text"),
    ('a=\udc80', "params: '\\udc80' at position 2 of 'a=\\udc80' is a lone surrogate, not encodable as UTF-8; "
                 "parameters must be one line of printable text"),
    ({'a': {'b': 1}}, "params: the value of a must be a string, number, boolean or a list of them, not {'b': 1}"),
    ({'a': [1, [2]]}, 'params: the list value of a must hold only strings, numbers or booleans, found [2]'),
    ({'a': [1, None]}, 'params: the list value of a must hold only strings, numbers or booleans, found None'),
    ({'a': 'x\ty'}, "params: '\\t' at position 4 of 'a=\"x\\ty\"' is a control character; parameters must be one "
                    "line of printable text"),
    ({'a': '\udcff'}, "params: '\\udcff' at position 2 of 'a=\\udcff' is a lone surrogate, not encodable as UTF-8; "
                      "parameters must be one line of printable text"),
])
def test_bad_params_are_refused_quoting_the_bad_part(params, message):
    with pytest.raises(KmodError) as info:
        options_text(params)
    assert info.value.msg == message
    # the message itself must survive JSON as UTF-8 (no lone surrogate in it)
    info.value.msg.encode('utf-8')


@pytest.mark.parametrize('params', ['a="x y" b', '"a=x y"', 'path=C:\\dir', 'e= f=""', 'name=caf\u00e9'])
def test_good_params_pass(params):
    assert options_text(params) == params


@given(st.text(max_size=40))
def test_any_text_is_refused_cleanly_or_splits_into_named_parameters(text):
    try:
        out = options_text(text)
    except KmodError as exc:
        assert exc.msg.startswith('params: ')
        exc.msg.encode('utf-8')
        return
    out.encode('utf-8')
    assert all(name for name, _value in split_options(out))
    assert out.count('"') % 2 == 0 and not out.endswith('\\')


@given(st.dictionaries(st.text(max_size=8), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3),
    max_leaves=4), max_size=4))
def test_any_mapping_is_refused_cleanly_or_round_trips(params):
    try:
        out = options_text(params)
    except KmodError as exc:
        assert exc.msg.startswith('params')
        return
    assert [name for name, _value in split_options(out)] == [str(k) for k in params]


def test_split_like_the_kernel():
    assert split_options('a=1  b="x y" "c=z w" d e=') == [('a', '1'), ('b', 'x y'), ('c', 'z w'), ('d', None), ('e', '')]
    assert split_options('') == []


@pytest.mark.parametrize('asked, live, same', [
    ('1', 'Y', True), ('y', 'Y', True), ('on', 'Y', True), ('0', 'Y', False), ('off', 'N', True), (None, 'Y', True),
    ('2', '2', True), ('0x10', '16', True), ('010', '8', True), ('3', '2', False),
    ('a,b', 'a,b', True), ('1,0x2', '1,2', True), ('1,2', '1,2,3', False), ('text', 'other', False),
])
def test_same_value(asked, live, same):
    assert same_value(asked, live) is same


def test_compare_live():
    differences, unchecked = compare_live('numdummies=2 debug-level=1 secret=x missing=1 numdummies=3',
                                          {'numdummies': '2', 'debug_level': '1', 'secret': None})
    assert differences == {'numdummies': {'asked': '3', 'live': '2'}}
    assert unchecked == ['missing', 'secret']
