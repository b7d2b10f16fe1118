"""load_persistence: the modules-load.d and modprobe.d files of one module, planned whole."""

import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils import files, load_persistence, modprobe_config
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from tests.lib.fake_root import write

HEADER = load_persistence.HEADER


def plan(root, name='dummy', params='', state='present'):
    return load_persistence.plan_persistence(name, params, state, root=str(root))


def test_present_writes_both_files(tmp_path):
    changes = plan(tmp_path, params='numdummies=2')
    assert [(c.path, c.action) for c in changes] == [
        (str(tmp_path / 'etc/modules-load.d/dummy.conf'), 'create'),
        (str(tmp_path / 'etc/modprobe.d/dummy.conf'), 'create')]
    assert changes[0].new == (HEADER + 'dummy\n').encode()
    assert changes[1].new == (HEADER + 'options dummy numdummies=2\n').encode()
    os.makedirs(str(tmp_path / 'etc/modules-load.d'))
    os.makedirs(str(tmp_path / 'etc/modprobe.d'))
    files.apply_changes(changes)
    assert plan(tmp_path, params='numdummies=2') == []


def test_without_params_there_is_no_options_file(tmp_path):
    write(str(tmp_path), 'etc/modprobe.d/dummy.conf', HEADER + 'options dummy numdummies=2\n')
    changes = plan(tmp_path)
    assert [(c.path[len(str(tmp_path)):], c.action) for c in changes] == [
        ('/etc/modules-load.d/dummy.conf', 'create'), ('/etc/modprobe.d/dummy.conf', 'remove')]


def test_changed_params_update_the_options_file(tmp_path):
    write(str(tmp_path), 'etc/modules-load.d/dummy.conf', HEADER + 'dummy\n')
    write(str(tmp_path), 'etc/modprobe.d/dummy.conf', HEADER + 'options dummy numdummies=2\n')
    changes = plan(tmp_path, params='numdummies=3')
    assert [(c.action, c.new) for c in changes] == [('update', (HEADER + 'options dummy numdummies=3\n').encode())]


def test_equivalent_files_without_header_are_kept(tmp_path):
    # as community.general.modprobe writes them
    write(str(tmp_path), 'etc/modules-load.d/dummy.conf', 'dummy\n')
    write(str(tmp_path), 'etc/modprobe.d/dummy.conf', 'options dummy  numdummies=2   x=y\n')
    assert plan(tmp_path, params='numdummies=2 x=y') == []
    assert [c.action for c in plan(tmp_path, params='numdummies=2')] == ['update']


def test_other_content_at_our_path_is_replaced(tmp_path):
    write(str(tmp_path), 'etc/modules-load.d/dummy.conf', 'dummy\nbrd\n')
    write(str(tmp_path), 'etc/modprobe.d/dummy.conf', 'options dummy numdummies=2\nblacklist dummy\n')
    assert [c.action for c in plan(tmp_path, params='numdummies=2')] == ['update', 'update']


def test_absent_removes_both_and_is_then_idempotent(tmp_path):
    write(str(tmp_path), 'etc/modules-load.d/dummy.conf', 'dummy\n')
    write(str(tmp_path), 'etc/modprobe.d/dummy.conf', 'options dummy numdummies=2\n')
    changes = plan(tmp_path, state='absent')
    assert [c.action for c in changes] == ['remove', 'remove']
    files.apply_changes(changes)
    assert not os.path.exists(str(tmp_path / 'etc/modprobe.d/dummy.conf'))
    assert plan(tmp_path, state='absent') == []


def test_backslashes_survive_the_round_trip(tmp_path):
    params = r'path=C:\dir s="a b"'
    data = load_persistence.render_options('m', params)
    directives, warnings = modprobe_config.parse_modprobe_text(data.decode(), 'f')
    assert warnings == [] and directives[0].options == params


@pytest.mark.parametrize('params', ['a=1\ninstall dummy /bin/sh', 'a=1\r', 'a=\x00'])
def test_params_that_would_break_the_line_are_refused(tmp_path, params):
    with pytest.raises(KmodError) as info:
        plan(tmp_path, params=params)
    assert 'one line of printable text' in info.value.msg


@pytest.mark.parametrize('name', ['', '.hidden', '../etc/passwd', 'a b', 'a\nb', 'x/y'])
def test_names_that_are_no_file_names_are_refused(tmp_path, name):
    with pytest.raises(KmodError) as info:
        plan(tmp_path, name=name)
    assert info.value.msg.startswith('cannot persist')
    assert not os.path.exists(str(tmp_path / 'etc'))


def test_other_boot_entries_are_found(tmp_path):
    root = str(tmp_path)
    write(root, 'etc/modules-load.d/dummy.conf', HEADER + 'dummy\n')
    write(root, 'usr/lib/modules-load.d/net.conf', '# net\nbrd\ndummy\n')
    write(root, 'etc/modules', 'dummy numdummies=1\n')
    mine = load_persistence.paths('dummy', root)[0]
    assert load_persistence.other_boot_entries('dummy', root, skip=[mine]) == [
        '/usr/lib/modules-load.d/net.conf:3', '/etc/modules:1']


def test_bad_state_is_refused(tmp_path):
    with pytest.raises(KmodError):
        plan(tmp_path, state='disabled')
