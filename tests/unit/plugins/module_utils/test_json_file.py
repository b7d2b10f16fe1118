import os

from ansible_collections.kernel.kmod.plugins.module_utils.json_file import load_json, save_json


def test_round_trip_and_absent(tmp_path):
    path = str(tmp_path / 'sub' / 'state.json')
    assert load_json(path, 'state') == (None, None)
    assert save_json(path, {'a': [1, 2]}, 'state', sort_keys=True) is None
    assert load_json(path, 'state') == ({'a': [1, 2]}, None)
    assert os.listdir(str(tmp_path / 'sub')) == ['state.json']


def test_garbage_is_a_warning(tmp_path):
    path = tmp_path / 'c.json'
    path.write_text('{nope')
    data, warning = load_json(str(path), 'parse cache')
    assert data is None and warning.startswith('ignoring unreadable parse cache %s: ' % path)


def test_absent_errnos_are_the_callers_choice(tmp_path):
    (tmp_path / 'file').write_text('x')
    inside_a_file = str(tmp_path / 'file' / 'c.json')
    assert load_json(inside_a_file, 'x') == (None, None)  # ENOTDIR counts as absent by default
    data, warning = load_json(inside_a_file, 'x', absent=())
    assert data is None and 'Not a directory' in warning


def test_unwritable_place_is_a_warning_and_leaves_nothing(tmp_path):
    (tmp_path / 'file').write_text('x')
    warning = save_json(str(tmp_path / 'file' / 'c.json'), {}, 'depmod state')
    assert warning.startswith('cannot save depmod state %s: ' % (tmp_path / 'file' / 'c.json'))
    assert sorted(os.listdir(str(tmp_path))) == ['file']
