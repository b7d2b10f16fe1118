import os
import signal

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.cache_file import load_marshal, save_marshal

CODECS = [(load_marshal, save_marshal)]


@pytest.mark.parametrize('load, save', CODECS)
def test_round_trip_and_absent(tmp_path, load, save):
    path = str(tmp_path / 'sub' / 'state')
    assert load(path, 'state') == (None, None)
    assert save(path, {'a': [1, 2], 'b': None, 'c': 'x\udce9'}, 'state') is None
    assert load(path, 'state') == ({'a': [1, 2], 'b': None, 'c': 'x\udce9'}, None)
    assert os.listdir(str(tmp_path / 'sub')) == ['state']


@pytest.mark.parametrize('load, garbage', [(load_marshal, b'\xff\x00garbage'), (load_marshal, b'')])
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


# -- trust: only what nobody else could have written is read ------------------

def saved(tmp_path, name='state'):
    path = tmp_path / 'cache' / name
    assert save_marshal(str(path), {'a': 1}, 'state') is None
    return path


@pytest.mark.parametrize('where, mode', [('cache', 0o775), ('cache', 0o757), ('cache', 0o1777), ('file', 0o664),
                                         ('file', 0o646)])
def test_writable_by_others_is_not_read(tmp_path, where, mode):
    path = saved(tmp_path)
    os.chmod(str(path.parent if where == 'cache' else path), mode)
    data, warning = load_marshal(str(path), 'state')
    assert data is None and warning.startswith('ignoring state %s: ' % path)
    assert 'writable by' in warning


def test_a_parent_writable_by_others_is_not_trusted_unless_root_sticky(tmp_path):
    path = tmp_path / 'shared' / 'cache' / 'state'
    assert save_marshal(str(path), {'a': 1}, 'state') is None
    os.chmod(str(tmp_path / 'shared'), 0o777)
    data, warning = load_marshal(str(path), 'state')
    assert data is None and '%s is writable by group and others (mode 0777)' % (tmp_path / 'shared') in warning
    # a world-writable sticky directory (like /tmp) cannot have our entries swapped
    os.chmod(str(tmp_path / 'shared'), 0o1777)
    if os.stat(str(tmp_path / 'shared')).st_uid == 0:
        assert load_marshal(str(path), 'state') == ({'a': 1}, None)
    # saving into an untrusted directory is refused too, leaving nothing behind
    os.chmod(str(tmp_path / 'shared' / 'cache'), 0o777)
    warning = save_marshal(str(path), {'a': 2}, 'state')
    assert warning.startswith('not saving state %s: ' % path)
    assert os.listdir(str(tmp_path / 'shared' / 'cache')) == ['state']


def test_a_file_owned_by_another_user_is_not_read(tmp_path):
    path = saved(tmp_path)
    if os.geteuid() != 0:
        pytest.skip('needs root to give the file away')
    os.chown(str(path), 65534, 65534)
    data, warning = load_marshal(str(path), 'state')
    assert data is None and warning == 'ignoring state %s: it is owned by uid 65534, not root or us' % path


def test_a_directory_owned_by_another_user_is_not_trusted(tmp_path):
    path = saved(tmp_path)
    if os.geteuid() != 0:
        pytest.skip('needs root to give the directory away')
    os.chown(str(path.parent), 65534, 65534)
    data, warning = load_marshal(str(path), 'state')
    assert data is None and '%s is owned by uid 65534' % path.parent in warning


def test_a_symlink_is_not_followed(tmp_path):
    real = saved(tmp_path, 'real')
    link = real.parent / 'state'
    link.symlink_to(real)
    data, warning = load_marshal(str(link), 'state')
    assert data is None and warning == 'ignoring state %s: it is a symbolic link' % link


def test_a_fifo_does_not_hang_the_run(tmp_path):
    path = saved(tmp_path, 'other').parent / 'state'
    os.mkfifo(str(path), 0o600)

    def hung(*_args):
        raise AssertionError('load() waits on the FIFO')
    # before: open() waited for a writer for ever; the alarm turns that into a failure
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        data, warning = load_marshal(str(path), 'state')
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert data is None and warning == 'ignoring state %s: not a regular file' % path


def test_a_symlinked_directory_is_judged_where_it_leads_and_where_it_stands(tmp_path):
    path = saved(tmp_path)
    (tmp_path / 'open').mkdir()
    (tmp_path / 'open' / 'cache').symlink_to(path.parent)
    assert load_marshal(str(tmp_path / 'open' / 'cache' / 'state'), 'state') == ({'a': 1}, None)
    os.chmod(str(tmp_path / 'open'), 0o777)   # anyone could point the link elsewhere
    data, warning = load_marshal(str(tmp_path / 'open' / 'cache' / 'state'), 'state')
    assert data is None and 'open is writable by group and others (mode 0777)' in warning
