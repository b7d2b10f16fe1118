"""load_persistence: the modules-load.d and modprobe.d files of one module, planned whole."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils import files

from ansible_collections.kernel.kmod.plugins.module_utils.load import persistence as load_persistence

from ansible_collections.kernel.kmod.plugins.module_utils.config import modprobe as modprobe_config
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from tests.lib.fake_root import write

HEADER = load_persistence.HEADER


def full_plan(root, name='dummy', params='', state='present'):
    return load_persistence.plan_persistence(name, params, state, root=str(root))


def plan(root, name='dummy', params='', state='present'):
    return full_plan(root, name, params, state).changes


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
    planned = full_plan(tmp_path, params='numdummies=2 x=y')
    assert planned.changes == [] and planned.warnings == []
    assert planned.options_path == str(tmp_path / 'etc/modprobe.d/dummy.conf')


def test_one_options_line_per_parameter_is_the_same_as_one_line(tmp_path):
    # community.general.modprobe writes a line per parameter; modprobe joins them in file order
    write(str(tmp_path), 'etc/modules-load.d/dummy.conf', 'dummy\n')
    write(str(tmp_path), 'etc/modprobe.d/dummy.conf', 'options dummy numdummies=2\noptions dummy x=y\n')
    planned = full_plan(tmp_path, params='numdummies=2 x=y')
    assert planned.changes == [] and planned.warnings == []
    # other words, another order, or a line for another module are not the same
    for text in ('options dummy x=y\noptions dummy numdummies=2\n', 'options dummy numdummies=2\n',
                 'options dummy numdummies=2\noptions dummy x=y\noptions other z=1\n'):
        write(str(tmp_path), 'etc/modprobe.d/dummy.conf', text)
        assert full_plan(tmp_path, params='numdummies=2 x=y').changes != [], text


def test_a_foreign_file_that_says_otherwise_is_left_and_ours_gets_the_options(tmp_path):
    write(str(tmp_path), 'etc/modules-load.d/dummy.conf', 'dummy\n')
    write(str(tmp_path), 'etc/modprobe.d/dummy.conf', 'options dummy  numdummies=2   x=y\n')
    planned = full_plan(tmp_path, params='numdummies=3')
    assert inside(tmp_path, planned.changes) == [(OVERRIDE, 'create')]
    assert planned.changes[0].new == (HEADER + 'options dummy numdummies=3\n').encode()
    assert planned.reasons == {os.path.join(str(tmp_path), OVERRIDE[1:]):
                               '/etc/modprobe.d/dummy.conf was not written by kmod_load'}
    assert planned.warnings == [
        '/etc/modprobe.d/dummy.conf was not written by kmod_load and is left as it is; it sets numdummies=2 at '
        '/etc/modprobe.d/dummy.conf:1, and %s sorts after it and sets numdummies=3 for dummy at boot' % OVERRIDE]
    assert planned.boot_options.split() == ['numdummies=2', 'x=y', 'numdummies=3']


ADMIN_CONF = 'alias eth-dummy dummy\ninstall brd /bin/true\noptions dummy numdummies=1\n'


@pytest.mark.parametrize('params', ['', 'numdummies=4'])
def test_a_foreign_name_conf_is_never_rewritten_or_removed(tmp_path, params):
    root = str(tmp_path)
    write(root, 'etc/modprobe.d/dummy.conf', ADMIN_CONF)
    planned = full_plan(root, params=params)
    wanted = [('/etc/modules-load.d/dummy.conf', 'create')] + ([(OVERRIDE, 'create')] if params else [])
    assert inside(root, planned.changes) == wanted
    assert all('/etc/modprobe.d/dummy.conf was not written by kmod_load and is left as it is' in w
               for w in planned.warnings) and len(planned.warnings) == 1
    for directory in ('etc/modules-load.d', 'etc/modprobe.d'):
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    files.apply_changes(planned.changes)
    assert read(root, '/etc/modprobe.d/dummy.conf') == ADMIN_CONF
    gone = full_plan(root, state='absent')
    assert inside(root, gone.changes) == [('/etc/modules-load.d/dummy.conf', 'remove')] + (
        [(OVERRIDE, 'remove')] if params else [])
    assert gone.warnings == ['/etc/modprobe.d/dummy.conf was not written by kmod_load and is left as it is; '
                             'it sets numdummies=1 for dummy at boot']
    files.apply_changes(gone.changes)
    assert read(root, '/etc/modprobe.d/dummy.conf') == ADMIN_CONF
    assert os.listdir(os.path.join(root, 'etc/modprobe.d')) == ['dummy.conf']


def test_a_foreign_file_named_like_a_module_survives_absent(tmp_path):
    # name: blacklist, state: absent, persistent: absent once deleted /etc/modprobe.d/blacklist.conf
    root = str(tmp_path)
    write(root, 'etc/modprobe.d/blacklist.conf', 'blacklist pcspkr\n')
    write(root, 'etc/modules-load.d/blacklist.conf', 'brd\n')
    planned = full_plan(root, name='blacklist', state='absent')
    assert planned.changes == []
    assert planned.warnings == [
        '/etc/modules-load.d/blacklist.conf was not written by kmod_load and is left as it is',
        '/etc/modprobe.d/blacklist.conf was not written by kmod_load and is left as it is']


def test_a_foreign_modules_load_file_that_lists_others_gets_ours_beside_it(tmp_path):
    root = str(tmp_path)
    write(root, 'etc/modules-load.d/dummy.conf', 'dummy\nbrd\n')
    planned = full_plan(root)
    assert inside(root, planned.changes) == [('/etc/modules-load.d/zz-kernel-kmod-dummy.conf', 'create')]
    assert planned.changes[0].new == (HEADER + 'dummy\n').encode()
    assert planned.warnings == ['/etc/modules-load.d/dummy.conf was not written by kmod_load and is left as it '
                                'is; /etc/modules-load.d/zz-kernel-kmod-dummy.conf loads dummy at boot']
    files.apply_changes(planned.changes)
    assert full_plan(root).changes == []
    assert inside(root, full_plan(root, state='absent').changes) == [
        ('/etc/modules-load.d/zz-kernel-kmod-dummy.conf', 'remove')]


def test_a_foreign_file_with_our_own_name_is_refused(tmp_path):
    root = str(tmp_path)
    write(root, 'etc/modprobe.d/dummy.conf', ADMIN_CONF)
    write(root, OVERRIDE, 'options dummy numdummies=9\n')
    with pytest.raises(KmodError) as info:
        full_plan(root, params='numdummies=4')
    assert info.value.msg == ('cannot write %s: the file exists and was not written by kmod_load; move it away '
                              'to let kmod_load manage dummy' % OVERRIDE)
    assert full_plan(root, state='absent').changes == []


def test_absent_removes_both_and_is_then_idempotent(tmp_path):
    write(str(tmp_path), 'etc/modules-load.d/dummy.conf', HEADER + 'dummy\n')
    write(str(tmp_path), 'etc/modprobe.d/dummy.conf', HEADER + 'options dummy numdummies=2\n')
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


# ---------------------------------------------------------------- options that must win at boot

SYSTEMD_CONF = '# from systemd\noptions bonding max_bonds=0\noptions dummy numdummies=0\n'
OVERRIDE = '/etc/modprobe.d/zz-kernel-kmod-dummy.conf'
WHY = ('options in /etc/modprobe.d/dummy.conf would lose at boot to numdummies=0 at '
       '/usr/lib/modprobe.d/systemd.conf:3, which sorts after it')


def inside(root, changes):
    return [(c.path[len(str(root)):], c.action) for c in changes]


def read(root, path):
    with open(os.path.join(str(root), path.lstrip('/'))) as f:
        return f.read()


def test_nothing_later_keeps_name_conf(tmp_path):
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/00-base.conf', 'options dummy numdummies=0\n')
    write(root, '/usr/lib/modprobe.d/systemd.conf', 'options bonding max_bonds=0\noptions dummy other=1\n')
    planned = full_plan(root, params='numdummies=3')
    assert inside(root, planned.changes) == [('/etc/modules-load.d/dummy.conf', 'create'),
                                             ('/etc/modprobe.d/dummy.conf', 'create')]
    assert planned.options_path == os.path.join(root, 'etc/modprobe.d/dummy.conf')
    assert planned.boot_options == 'numdummies=0 numdummies=3 other=1'
    assert planned.reasons == {} and planned.warnings == []
    assert [e['reason'] for e in planned.entries()] == [None, None]


def test_a_later_file_with_the_same_value_is_no_override(tmp_path):
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/systemd.conf', SYSTEMD_CONF)
    assert inside(root, plan(root, params='numdummies=0')) == [('/etc/modules-load.d/dummy.conf', 'create'),
                                                               ('/etc/modprobe.d/dummy.conf', 'create')]


def test_a_distribution_file_sorting_later_moves_the_options_to_zz(tmp_path):
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/systemd.conf', SYSTEMD_CONF)
    planned = full_plan(root, params='numdummies=3')
    assert inside(root, planned.changes) == [('/etc/modules-load.d/dummy.conf', 'create'), (OVERRIDE, 'create')]
    assert planned.changes[1].new == (HEADER + 'options dummy numdummies=3\n').encode()
    assert planned.reasons == {os.path.join(root, OVERRIDE[1:]): WHY}
    assert planned.boot_options == 'numdummies=0 numdummies=3'
    assert planned.options_path == os.path.join(root, OVERRIDE[1:])
    assert planned.warnings == []
    for directory in ('etc/modules-load.d', 'etc/modprobe.d'):
        os.makedirs(os.path.join(root, directory))
    files.apply_changes(planned.changes)
    # idempotent, and modprobe reads the file back as the last word
    again = full_plan(root, params='numdummies=3')
    assert again.changes == [] and again.boot_options == 'numdummies=0 numdummies=3'
    config = modprobe_config.load_modprobe_config(root=root, cmdline=False)
    assert config.options_for('dummy') == 'numdummies=0 numdummies=3'


def test_merged_usr_names_the_file_as_modprobe_finds_it(tmp_path):
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/systemd.conf', SYSTEMD_CONF)
    os.symlink('usr/lib', os.path.join(root, 'lib'))
    assert full_plan(root, params='numdummies=3').reasons == {os.path.join(root, OVERRIDE[1:]): WHY}


def test_our_old_name_conf_is_removed_when_moving(tmp_path):
    root = str(tmp_path)
    write(root, '/lib/modprobe.d/systemd.conf', SYSTEMD_CONF)
    write(root, '/etc/modules-load.d/dummy.conf', HEADER + 'dummy\n')
    write(root, '/etc/modprobe.d/dummy.conf', HEADER + 'options dummy numdummies=3\n')
    planned = full_plan(root, params='numdummies=3')
    assert inside(root, planned.changes) == [(OVERRIDE, 'create'), ('/etc/modprobe.d/dummy.conf', 'remove')]
    why = WHY.replace('/usr/lib/', '/lib/')
    assert [e['reason'] for e in planned.entries()] == [why, 'replaced by %s: %s' % (OVERRIDE, why)]
    assert planned.boot_options == 'numdummies=0 numdummies=3'


def test_a_foreign_name_conf_is_left_alone_with_a_warning_when_it_disagrees(tmp_path):
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/systemd.conf', SYSTEMD_CONF)
    write(root, '/etc/modprobe.d/dummy.conf', 'options dummy numdummies=2 other=1\n')
    planned = full_plan(root, params='numdummies=3')
    assert inside(root, planned.changes) == [('/etc/modules-load.d/dummy.conf', 'create'), (OVERRIDE, 'create')]
    assert planned.warnings == [
        '/etc/modprobe.d/dummy.conf was not written by kmod_load and is left as it is; it sets numdummies=2 at '
        '/etc/modprobe.d/dummy.conf:1, and %s sorts after it and sets numdummies=3 for dummy at boot' % OVERRIDE]
    assert planned.boot_options == 'numdummies=2 other=1 numdummies=0 numdummies=3'
    assert read(root, '/etc/modprobe.d/dummy.conf') == 'options dummy numdummies=2 other=1\n'


def test_a_foreign_name_conf_that_agrees_gives_no_warning(tmp_path):
    # as community.general.modprobe wrote it
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/systemd.conf', SYSTEMD_CONF)
    write(root, '/etc/modprobe.d/dummy.conf', 'options dummy numdummies=3\n')
    planned = full_plan(root, params='numdummies=3')
    assert inside(root, planned.changes) == [('/etc/modules-load.d/dummy.conf', 'create'), (OVERRIDE, 'create')]
    assert planned.warnings == []


def test_back_to_name_conf_when_nothing_overrides_any_more(tmp_path):
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/systemd.conf', SYSTEMD_CONF)
    write(root, '/etc/modules-load.d/dummy.conf', HEADER + 'dummy\n')
    write(root, OVERRIDE, HEADER + 'options dummy numdummies=3\n')
    planned = full_plan(root, params='numdummies=0')
    assert inside(root, planned.changes) == [('/etc/modprobe.d/dummy.conf', 'create'), (OVERRIDE, 'remove')]
    assert planned.boot_options == 'numdummies=0 numdummies=0'


@pytest.mark.parametrize('where, text, message', [
    ('/etc/modprobe.d/zzz.conf', 'options dummy numdummies=1\n',
     'cannot persist the options of dummy: at boot numdummies=1 at /etc/modprobe.d/zzz.conf:1 sorts after '
     '/etc/modprobe.d/zz-kernel-kmod-dummy.conf'),
    ('/proc/cmdline', 'quiet dummy.numdummies=1 root=/dev/vda\n',
     'cannot persist the options of dummy: at boot dummy.numdummies=1 is on the kernel command line '
     '(/proc/cmdline:1), which modprobe applies after every modprobe.d file'),
])
def test_an_override_that_cannot_be_beaten_fails(tmp_path, where, text, message):
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/systemd.conf', SYSTEMD_CONF)
    write(root, where, text)
    with pytest.raises(KmodError) as info:
        full_plan(root, params='numdummies=3')
    assert info.value.msg == message + (', and the kernel keeps the last value of a parameter; change or remove '
                                        'that setting (or ask for the value it sets)')
    assert info.value.path == ('/proc/cmdline' if where == '/proc/cmdline' else where)
    assert not os.path.exists(os.path.join(root, 'etc/modules-load.d'))


def test_the_command_line_with_the_asked_value_is_fine(tmp_path):
    root = str(tmp_path)
    write(root, '/proc/cmdline', 'dummy.numdummies=3 dummy.other\n')
    planned = full_plan(root, params='numdummies=3 other')
    assert inside(root, planned.changes)[1] == ('/etc/modprobe.d/dummy.conf', 'create')
    assert planned.boot_options == 'numdummies=3 other numdummies=3 other'


def test_absent_removes_either_options_file(tmp_path):
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/systemd.conf', SYSTEMD_CONF)
    write(root, '/etc/modules-load.d/dummy.conf', HEADER + 'dummy\n')
    write(root, OVERRIDE, HEADER + 'options dummy numdummies=3\n')
    planned = full_plan(root, state='absent')
    assert inside(root, planned.changes) == [('/etc/modules-load.d/dummy.conf', 'remove'), (OVERRIDE, 'remove')]
    assert planned.boot_options == 'numdummies=0'
    write(root, '/etc/modprobe.d/dummy.conf', HEADER + 'options dummy numdummies=3\n')
    assert inside(root, plan(root, state='absent')) == [
        ('/etc/modules-load.d/dummy.conf', 'remove'), ('/etc/modprobe.d/dummy.conf', 'remove'), (OVERRIDE, 'remove')]
    # present without params: no options file of ours under either name
    assert inside(root, plan(root)) == [('/etc/modprobe.d/dummy.conf', 'remove'), (OVERRIDE, 'remove')]


ETC_MODULES = b'# /etc/modules: kernel modules to load at boot time.\n\nloop\nbrd rd_nr=2\n'


def test_etc_modules_gets_one_line_added_and_removed():
    text = load_persistence.etc_modules_text
    assert text(ETC_MODULES, 'dummy', 'present') == ETC_MODULES + b'dummy\n'
    assert text(ETC_MODULES + b'dummy\n', 'dummy', 'absent') == ETC_MODULES
    # a file without a final newline keeps that shape, and present then absent is the same bytes
    assert text(b'loop', 'dummy', 'present') == b'loop\ndummy'
    assert text(b'loop\ndummy', 'dummy', 'absent') == b'loop'
    assert text(b'# x\nloop', 'dummy', 'absent') == b'# x\nloop'
    assert text(None, 'dummy', 'present') == b'dummy\n'
    # a line that loads it already, with arguments or a dash, is enough and is never removed
    assert text(ETC_MODULES, 'brd', 'present') == ETC_MODULES
    assert text(ETC_MODULES, 'brd', 'absent') == ETC_MODULES
    assert text(b'snd-dummy\n', 'snd_dummy', 'present') == b'snd-dummy\n'
    assert text(b'# dummy\ndummy\r\n dummy \n', 'dummy', 'absent') == b'# dummy\n'


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b'loop', b'# dummy', b'', b'  ', b'brd rd_nr=2', b'\r', b'dummyx']), max_size=6),
       st.booleans())
def test_etc_modules_present_then_absent_gives_back_the_same_bytes(lines, final_newline):
    text = load_persistence.etc_modules_text
    data = b'\n'.join(lines) + (b'\n' if final_newline and lines else b'')
    added = text(data, 'dummy', 'present')
    assert added != data and text(added, 'dummy', 'present') == added
    assert text(added, 'dummy', 'absent') == data


def test_without_systemd_the_boot_list_is_etc_modules(tmp_path):
    root = str(tmp_path)
    write(root, 'etc/modules', ETC_MODULES.decode())
    write(root, 'etc/modules-load.d/dummy.conf', HEADER + 'dummy\n')
    planned = load_persistence.plan_persistence('dummy', 'numdummies=2', 'present', root=root, etc_modules=True)
    assert inside(root, planned.changes) == [('/etc/modules', 'update'), ('/etc/modules-load.d/dummy.conf', 'remove'),
                                             ('/etc/modprobe.d/dummy.conf', 'create')]
    assert planned.changes[0].new == ETC_MODULES + b'dummy\n'
    files.apply_changes(planned.changes)
    assert load_persistence.plan_persistence('dummy', 'numdummies=2', 'present', root=root,
                                             etc_modules=True).changes == []
    gone = load_persistence.plan_persistence('dummy', '', 'absent', root=root, etc_modules=True)
    assert inside(root, gone.changes) == [('/etc/modules', 'update'), ('/etc/modprobe.d/dummy.conf', 'remove')]
    files.apply_changes(gone.changes)
    assert read(root, '/etc/modules') == ETC_MODULES.decode()


def test_boots_with_modules_load_d(tmp_path):
    root = str(tmp_path)
    assert load_persistence.boots_with_modules_load_d(root) is False
    write(root, 'lib/systemd/systemd-modules-load', '')
    assert load_persistence.boots_with_modules_load_d(root) is True
