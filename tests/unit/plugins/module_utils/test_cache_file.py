import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.cache_file import (
    load_json, load_marshal, save_json, save_marshal)

CODECS = [(load_json, save_json), (load_marshal, save_marshal)]


@pytest.mark.parametrize('load, save', CODECS)
def test_round_trip_and_absent(tmp_path, load, save):
    path = str(tmp_path / 'sub' / 'state')
    assert load(path, 'state') == (None, None)
    assert save(path, {'a': [1, 2], 'b': None, 'c': 'x\udce9'}, 'state') is None
    assert load(path, 'state') == ({'a': [1, 2], 'b': None, 'c': 'x\udce9'}, None)
    assert os.listdir(str(tmp_path / 'sub')) == ['state']


def test_json_options_reach_the_encoder(tmp_path):
    path = tmp_path / 'c.json'
    assert save_json(str(path), {'b': 1, 'a': 2}, 'x', sort_keys=True, separators=(',', ':')) is None
    assert path.read_text() == '{"a":2,"b":1}'


@pytest.mark.parametrize('load, garbage', [(load_json, b'{nope'), (load_marshal, b'\xff\x00garbage'),
                                           (load_marshal, b'')])
def test_garbage_is_a_warning(tmp_path, load, garbage):
    path = tmp_path / 'c'
    path.write_bytes(garbage)
    data, warning = load(str(path), 'parse cache')
    assert data is None and warning.startswith('ignoring unreadable parse cache %s: ' % path)


@pytest.mark.parametrize('load, save', CODECS)
def test_absent_errnos_are_the_callers_choice(tmp_path, load, save):
    (tmp_path / 'file').write_text('x')
    inside_a_file = str(tmp_path / 'file' / 'c')
    assert load(inside_a_file, 'x') == (None, None)  # ENOTDIR counts as absent by default
    data, warning = load(inside_a_file, 'x', absent=())
    assert data is None and 'Not a directory' in warning


@pytest.mark.parametrize('load, save', CODECS)
def test_unwritable_place_is_a_warning_and_leaves_nothing(tmp_path, load, save):
    (tmp_path / 'file').write_text('x')
    warning = save(str(tmp_path / 'file' / 'c'), {}, 'depmod state')
    assert warning.startswith('cannot save depmod state %s: ' % (tmp_path / 'file' / 'c'))
    assert sorted(os.listdir(str(tmp_path))) == ['file']


def test_what_marshal_cannot_hold_is_a_warning(tmp_path):
    warning = save_marshal(str(tmp_path / 'c'), {'x': object()}, 'depmod state')
    assert warning.startswith('cannot save depmod state')
    assert os.listdir(str(tmp_path)) == []
