import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.config import precedence as cf
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from tests.lib.fake_root import write, link


def test_default_dirs_in_precedence_order():
    assert cf.MODPROBE_DIRS == ('/etc/modprobe.d', '/run/modprobe.d', '/usr/local/lib/modprobe.d',
                                '/usr/lib/modprobe.d', '/lib/modprobe.d')
    assert cf.DEPMOD_DIRS[0] == '/etc/depmod.d' and cf.DEPMOD_DIRS[-1] == '/lib/depmod.d'
    assert cf.MODULES_LOAD_DIRS[3] == '/usr/lib/modules-load.d'


def test_sorted_by_basename_across_dirs(tmp_path):
    write(tmp_path, '/lib/modprobe.d/a.conf')
    write(tmp_path, '/etc/modprobe.d/c.conf')
    write(tmp_path, '/run/modprobe.d/b.conf')
    write(tmp_path, '/usr/local/lib/modprobe.d/B.conf')
    got = cf.modprobe_files(root=str(tmp_path))
    assert [(f.path, f.name) for f in got.files] == [
        ('/usr/local/lib/modprobe.d/B.conf', 'B.conf'),
        ('/lib/modprobe.d/a.conf', 'a.conf'),
        ('/run/modprobe.d/b.conf', 'b.conf'),
        ('/etc/modprobe.d/c.conf', 'c.conf'),
    ]
    assert got.files[1].host_path == os.path.join(str(tmp_path), 'lib/modprobe.d/a.conf')
    assert got.masked == [] and got.warnings == []


def test_first_dir_masks_later_ones(tmp_path):
    write(tmp_path, '/usr/lib/modprobe.d/x.conf', 'usr')
    write(tmp_path, '/run/modprobe.d/x.conf', 'run')
    write(tmp_path, '/etc/modprobe.d/x.conf', 'etc')
    got = cf.modprobe_files(root=str(tmp_path))
    assert got.paths() == ['/etc/modprobe.d/x.conf']
    assert got.masked == [
        cf.MaskedFile('/run/modprobe.d/x.conf', 'x.conf', '/etc/modprobe.d/x.conf', 'masked'),
        cf.MaskedFile('/usr/lib/modprobe.d/x.conf', 'x.conf', '/etc/modprobe.d/x.conf', 'masked'),
    ]


def test_only_conf_and_not_hidden(tmp_path):
    for name in ('a.conf', '.hidden.conf', 'b.conf.bak', 'c.alias', 'd.CONF', '.conf', 'README'):
        write(tmp_path, '/etc/modprobe.d/' + name)
    got = cf.modprobe_files(root=str(tmp_path))
    assert got.paths() == ['/etc/modprobe.d/a.conf']


def test_dev_null_symlink_masks_and_adds_nothing(tmp_path):
    write(tmp_path, '/usr/lib/modprobe.d/x.conf', 'blacklist a')
    link(tmp_path, '/etc/modprobe.d/x.conf', '/dev/null')
    got = cf.modprobe_files(root=str(tmp_path))
    assert len(got.files) == 1
    assert got.files[0].null is True and got.files[0].path == '/etc/modprobe.d/x.conf'
    assert got.paths() == []
    assert cf.read_text(got.files[0]) == ''
    assert got.masked[0].by == '/etc/modprobe.d/x.conf'
    assert got.masked[0].reason == 'masked'


def test_merged_usr_counts_each_file_once(tmp_path):
    write(tmp_path, '/usr/lib/modprobe.d/a.conf', 'x')
    write(tmp_path, '/usr/lib/modprobe.d/b.conf', 'y')
    link(tmp_path, '/lib', 'usr/lib')
    got = cf.modprobe_files(root=str(tmp_path))
    assert got.paths() == ['/usr/lib/modprobe.d/a.conf', '/usr/lib/modprobe.d/b.conf']
    assert got.same_dirs == [('/lib/modprobe.d', '/usr/lib/modprobe.d')]
    assert got.masked == []


def test_merged_usr_with_absolute_link_stays_in_root(tmp_path):
    write(tmp_path, '/usr/lib/modprobe.d/a.conf', 'x')
    link(tmp_path, '/lib', '/usr/lib')
    got = cf.modprobe_files(root=str(tmp_path))
    assert got.paths() == ['/usr/lib/modprobe.d/a.conf']
    assert got.same_dirs == [('/lib/modprobe.d', '/usr/lib/modprobe.d')]


def test_same_file_under_another_name_counts_once(tmp_path):
    write(tmp_path, '/usr/lib/modprobe.d/b.conf', 'x')
    link(tmp_path, '/etc/modprobe.d/a.conf', '/usr/lib/modprobe.d/b.conf')
    got = cf.modprobe_files(root=str(tmp_path))
    assert got.paths() == ['/etc/modprobe.d/a.conf']
    assert got.files[0].real == '/usr/lib/modprobe.d/b.conf'
    assert got.masked == [cf.MaskedFile('/usr/lib/modprobe.d/b.conf', 'b.conf', '/etc/modprobe.d/a.conf', 'same-file')]


def test_file_symlinked_into_two_dirs_is_same_file(tmp_path):
    write(tmp_path, '/srv/x.conf', 'x')
    link(tmp_path, '/etc/modprobe.d/x.conf', '../../srv/x.conf')
    link(tmp_path, '/run/modprobe.d/x.conf', '/srv/x.conf')
    got = cf.modprobe_files(root=str(tmp_path))
    assert got.paths() == ['/etc/modprobe.d/x.conf']
    assert got.masked[0].reason == 'same-file'


def test_subdirectory_and_dangling_link_are_warned_and_skipped(tmp_path):
    os.makedirs(str(tmp_path / 'etc/modprobe.d/sub.conf'))
    link(tmp_path, '/etc/modprobe.d/gone.conf', 'nowhere.conf')
    write(tmp_path, '/lib/modprobe.d/gone.conf', 'x')
    got = cf.modprobe_files(root=str(tmp_path))
    assert got.paths() == ['/lib/modprobe.d/gone.conf']
    assert got.warnings == [
        '/etc/modprobe.d/gone.conf: cannot stat: No such file or directory',
        '/etc/modprobe.d/sub.conf: directories inside directories are not supported',
    ]


def test_symlink_loop_is_a_warning(tmp_path):
    link(tmp_path, '/etc/modprobe.d/loop.conf', 'loop.conf')
    got = cf.modprobe_files(root=str(tmp_path))
    assert got.paths() == []
    assert got.warnings == ['/etc/modprobe.d/loop.conf: too many levels of symbolic links: /etc/modprobe.d/loop.conf']


def test_explicit_paths_replace_defaults_file_and_dir(tmp_path):
    write(tmp_path, '/etc/modprobe.d/ignored.conf')
    write(tmp_path, '/my/dir/b.conf')
    write(tmp_path, '/my/dir/z.txt')
    write(tmp_path, '/my/single.txt')
    write(tmp_path, '/other/b.conf')
    got = cf.modprobe_files(root=str(tmp_path), paths=['/my/single.txt', '/my/dir', '/other/b.conf', '/missing'])
    assert [(f.path, f.name) for f in got.files] == [
        ('/my/dir/b.conf', 'b.conf'),
        ('/my/single.txt', 'single.txt'),
    ]
    assert got.masked == [cf.MaskedFile('/other/b.conf', 'b.conf', '/my/dir/b.conf', 'masked')]


def test_module_dir_softdep_and_weakdep_join_the_sorted_list(tmp_path):
    write(tmp_path, '/lib/modules/1/modules.softdep', '')
    write(tmp_path, '/lib/modules/1/modules.weakdep', '')
    write(tmp_path, '/etc/modprobe.d/a.conf')
    write(tmp_path, '/etc/modprobe.d/z.conf')
    got = cf.modprobe_files(root=str(tmp_path), module_dir='/lib/modules/1')
    assert [f.name for f in got.files] == ['a.conf', 'modules.softdep', 'modules.weakdep', 'z.conf']
    got = cf.modprobe_files(root=str(tmp_path), module_dir='/lib/modules/1', weakdep=False)
    assert [f.name for f in got.files] == ['a.conf', 'modules.softdep', 'z.conf']
    # Absent index files are simply not there.
    got = cf.modprobe_files(root=str(tmp_path), module_dir='/lib/modules/2')
    assert [f.name for f in got.files] == ['a.conf', 'z.conf']


def test_module_dir_softdep_wins_over_single_file_of_same_name(tmp_path):
    write(tmp_path, '/lib/modules/1/modules.softdep', '')
    write(tmp_path, '/x/modules.softdep', '')
    got = cf.modprobe_files(root=str(tmp_path), paths=['/x/modules.softdep'], module_dir='/lib/modules/1')
    assert got.paths() == ['/lib/modules/1/modules.softdep']
    assert got.masked[0].path == '/x/modules.softdep'


def test_depmod_and_modules_load_use_their_own_dirs(tmp_path):
    write(tmp_path, '/usr/lib/depmod.d/a.conf')
    write(tmp_path, '/etc/modules-load.d/b.conf')
    write(tmp_path, '/etc/modprobe.d/c.conf')
    assert cf.depmod_files(root=str(tmp_path)).paths() == ['/usr/lib/depmod.d/a.conf']
    assert cf.modules_load_files(root=str(tmp_path)).paths() == ['/etc/modules-load.d/b.conf']


def test_resolve_in_root(tmp_path):
    link(tmp_path, '/lib', 'usr/lib')
    link(tmp_path, '/a', '/b/../c')
    assert cf.resolve_in_root(str(tmp_path), '/lib/x/y') == '/usr/lib/x/y'
    assert cf.resolve_in_root(str(tmp_path), '/a/z') == '/c/z'
    assert cf.resolve_in_root(str(tmp_path), '/../../etc') == '/etc'
    link(tmp_path, '/l1', 'l2')
    link(tmp_path, '/l2', 'l1')
    with pytest.raises(KmodError) as exc:
        cf.resolve_in_root(str(tmp_path), '/l1')
    assert exc.value.errno == 40


def test_host_path():
    assert cf.host_path('/', '/etc/x') == '/etc/x'
    assert cf.host_path('/r', '/etc/x') == '/r/etc/x'
    assert cf.host_path(None, 'etc/x') == '/etc/x'


def test_read_text_keeps_bytes_and_reports_errors(tmp_path):
    full = write(tmp_path, '/etc/modprobe.d/a.conf')
    with open(full, 'wb') as f:
        f.write(b'alias \xff x\n')
    got = cf.modprobe_files(root=str(tmp_path))
    text = cf.read_text(got.files[0])
    assert text.encode('utf-8', 'surrogateescape') == b'alias \xff x\n'
    os.unlink(full)
    with pytest.raises(KmodError) as exc:
        cf.read_text(got.files[0])
    assert exc.value.path == '/etc/modprobe.d/a.conf'
    assert exc.value.errno == 2


def test_module_dir_given_as_host_path_under_root(tmp_path):
    write(tmp_path, '/lib/modules/1/modules.softdep', '')
    host = os.path.join(str(tmp_path), 'lib/modules/1')
    got = cf.modprobe_files(root=str(tmp_path), module_dir=host)
    assert got.paths() == ['/lib/modules/1/modules.softdep']


def test_inside_root():
    assert cf.inside_root('/srv/img', '/srv/img/lib/modules/6.1') == '/lib/modules/6.1'
    assert cf.inside_root('/srv/img/', '/srv/img') == '/'
    assert cf.inside_root('/srv/img', '/srv/image/x') == '/srv/image/x'
    assert cf.inside_root('/', '/lib/modules') == '/lib/modules'
