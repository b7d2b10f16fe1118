"""module_options: parameters as given, as the kernel splits them, compared with sysfs."""

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.config.options import (
    compare_live, options_text, same_value, split_options,
)
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError


def test_options_text_of_a_mapping():
    assert options_text({'numdummies': 2, 'debug': True, 'name': 'a b', 'list': [1, 2], 'flag': None,
                         'empty': ''}) == 'numdummies=2 debug=Y name="a b" list=1,2 flag empty=""'
    assert options_text('  numdummies=2 \n') == 'numdummies=2'
    assert options_text(None) == ''


@pytest.mark.parametrize('params', [{'a b': 1}, {'a=': 1}, {'': 1}, {'x': 'say "hi"'}])
def test_options_text_refuses_what_cannot_be_said(params):
    with pytest.raises(KmodError):
        options_text(params)


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
