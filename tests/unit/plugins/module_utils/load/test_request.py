"""load.request: the task's options judged before anything is read or changed."""

import pytest
from hypothesis import given, strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.load.request import (
    Request, SHELL_CHARACTERS, WAIT_TRUE_SECONDS, check_name, check_names, check_wait,
)


@pytest.mark.parametrize('name', ['dummy', 'snd-hda-intel', 'rtnl-link-dummy', 'symbol:crc32c', 'of:Nx,y',
                                  'pci:v00008086d00001533sv00008086sd00000001bc02sc00i00',
                                  '/lib/modules/6.1/kernel/drivers/net/dummy.ko', 'char-major-10-237'])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize('name, message', [
    ('', 'name: an empty string is no module name'),
    ('a/b', "name 'a/b': a module file must be given by its absolute path"),
    ('./dummy.ko', "name './dummy.ko': a module file must be given by its absolute path"),
    ('/lib/../tmp/x.ko', "name '/lib/../tmp/x.ko': a module file path must not have \".\" or \"..\" components"),
    ('..', "name '..' is no module name"),
    ('dum\x00my', "name 'dum\\x00my': control character '\\x00' at position 3"),
    ('dummy\n', "name 'dummy\\n': control character '\\n' at position 5"),
    ('dummy;reboot', "name 'dummy;reboot': ';' cannot be in a module name, alias or path"),
    ('$(reboot)', "name '$(reboot)': '$' '(' ')' cannot be in a module name, alias or path"),
    ('a b', "name 'a b': ' ' cannot be in a module name, alias or path"),
    ('`id`', "name '`id`': '`' cannot be in a module name, alias or path"),
    ('pci:v*', "name 'pci:v*': '*' cannot be in a module name, alias or path"),
    ('x\udc80', "name 'x\\udc80': a lone surrogate at position 1 is not encodable as UTF-8"),
    (3, 'name must be a module name or a list of them, not 3'),
])
def test_bad_names(name, message):
    with pytest.raises(KmodError) as info:
        check_name(name)
    assert info.value.msg == message
    info.value.msg.encode('utf-8')


def test_lists_of_names():
    assert check_names('dummy') == ['dummy']
    assert check_names(['dummy', 'brd', 'dummy']) == ['dummy', 'brd']
    with pytest.raises(KmodError) as info:
        check_names(['dummy', '', 'brd'])
    assert info.value.msg == 'name: element 2 of the list is empty'
    with pytest.raises(KmodError) as info:
        check_names([])
    assert info.value.msg == 'name: an empty list names no module'
    with pytest.raises(KmodError) as info:
        check_names(['dummy', None])
    assert info.value.msg == 'name: element 2 of the list is empty'
    with pytest.raises(KmodError) as info:
        check_names({'dummy': 1})
    assert info.value.msg.startswith('name must be a module name or a list of them')


@given(st.text(max_size=20))
def test_any_name_is_refused_cleanly_or_is_one_word(name):
    try:
        check_name(name)
    except KmodError as exc:
        exc.msg.encode('utf-8')
        return
    assert name and not set(name) & SHELL_CHARACTERS and all(ord(c) >= 0x20 for c in name)
    name.encode('utf-8')


@pytest.mark.parametrize('value, seconds', [(None, 0), (False, 0), (True, WAIT_TRUE_SECONDS), (0, 0), (5, 5),
                                            ('2.5', 2.5), (0.1, 0.1)])
def test_wait(value, seconds):
    assert check_wait(value) == seconds


@pytest.mark.parametrize('value', [-1, 'soon', float('nan'), float('inf'), [1]])
def test_bad_wait(value):
    with pytest.raises(KmodError) as info:
        check_wait(value)
    assert info.value.msg.startswith('wait must be a number of seconds')


def test_request():
    req = Request({'name': ['dummy', 'brd'], 'state': 'absent', 'wait': True, 'params': None})
    assert req.names == ['dummy', 'brd'] and req.given == ['dummy', 'brd'] and req.wait == WAIT_TRUE_SECONDS
    assert req.options == '' and req.remove_dependencies is True and req.persistent == 'disabled'


@pytest.mark.parametrize('options, message', [
    ({'name': ['dummy', 'brd'], 'params': 'a=1'}, 'params go with one module, and name lists 2 (dummy, brd)'),
    ({'name': 'dummy', 'state': 'absent', 'persistent': 'present'}, 'persistent=present with state=absent'),
    ({'name': 'dummy', 'persistent': 'always'}, 'persistent must be one of present, absent, disabled'),
    ({'name': 'dummy', 'state': 'gone'}, 'state must be one of present, absent'),
])
def test_bad_requests(options, message):
    with pytest.raises(KmodError) as info:
        Request(options)
    assert message in info.value.msg
