import os
import socket

from ansible_collections.kernel.kmod.plugins.module_utils.config import modules_load as ml
from tests.lib.fake_root import write, link


def test_parse_modules_load_comments_blanks_and_names():
    mods, warnings = ml.parse_modules_load_text(
        '# comment\n; also\n\n  virtio-net  \n\tloop\r\n  # indented\nfoo bar\nlast', 'f.conf')
    assert mods == [ml.BootModule('virtio_net', 'f.conf', 4), ml.BootModule('loop', 'f.conf', 5),
                    ml.BootModule('last', 'f.conf', 8)]
    assert warnings == ["f.conf:7: 'foo bar' is not a module name: systemd-modules-load takes the whole "
                        "line as the name, so it cannot load"]


def test_parse_etc_modules_with_args():
    mods, warnings = ml.parse_etc_modules_text(
        '# /etc/modules\n\nloop\nsnd-dummy  index=1 id=x \n  lp\n #x\n;y\n', '/etc/modules')
    assert mods == [ml.BootModule('loop', '/etc/modules', 3),
                    ml.BootModule('snd_dummy', '/etc/modules', 4, 'index=1 id=x'),
                    ml.BootModule('lp', '/etc/modules', 5)]
    assert warnings == []


def test_load_masking_order_and_dev_null(tmp_path):
    write(tmp_path, '/usr/lib/modules-load.d/a.conf', 'masked\n')
    write(tmp_path, '/etc/modules-load.d/a.conf', 'etc_a\n')
    write(tmp_path, '/run/modules-load.d/c.conf', 'run_c\n')
    write(tmp_path, '/usr/local/lib/modules-load.d/b.conf', 'local_b\n')
    write(tmp_path, '/lib/modules-load.d/d.conf', 'hidden\n')
    link(tmp_path, '/etc/modules-load.d/d.conf', '/dev/null')
    write(tmp_path, '/lib/modules-load.d/e.txt', 'ignored\n')
    got = ml.load_boot_modules(root=str(tmp_path))
    assert [(m.name, m.file) for m in got.modules] == [
        ('etc_a', '/etc/modules-load.d/a.conf'),
        ('local_b', '/usr/local/lib/modules-load.d/b.conf'),
        ('run_c', '/run/modules-load.d/c.conf'),
    ]
    assert [m.path for m in got.files.masked] == ['/usr/lib/modules-load.d/a.conf', '/lib/modules-load.d/d.conf']
    assert got.warnings == []


def test_debian_symlink_to_etc_modules_is_read_once_in_place(tmp_path):
    write(tmp_path, '/etc/modules', 'loop max_loop=8\n')
    link(tmp_path, '/etc/modules-load.d/modules.conf', '../modules')
    write(tmp_path, '/usr/lib/modules-load.d/a.conf', 'first\n')
    write(tmp_path, '/usr/lib/modules-load.d/z.conf', 'last\nloop\n')
    got = ml.load_boot_modules(root=str(tmp_path))
    assert got.modules == [ml.BootModule('first', '/usr/lib/modules-load.d/a.conf', 1),
                           ml.BootModule('loop', '/etc/modules', 1, 'max_loop=8'),
                           ml.BootModule('last', '/usr/lib/modules-load.d/z.conf', 1),
                           ml.BootModule('loop', '/usr/lib/modules-load.d/z.conf', 2)]
    assert got.names() == ['first', 'loop', 'last']


def test_etc_modules_without_link_comes_last_and_can_be_left_out(tmp_path):
    write(tmp_path, '/etc/modules', 'b\n')
    write(tmp_path, '/etc/modules-load.d/x.conf', 'a\n')
    assert ml.load_boot_modules(root=str(tmp_path)).names() == ['a', 'b']
    assert ml.load_boot_modules(root=str(tmp_path), etc_modules=None).names() == ['a']


def test_nothing_configured(tmp_path):
    got = ml.load_boot_modules(root=str(tmp_path))
    assert got.modules == [] and got.warnings == []


def test_explicit_paths(tmp_path):
    write(tmp_path, '/etc/modules-load.d/x.conf', 'default\n')
    write(tmp_path, '/srv/one.list', 'one\n')
    got = ml.load_boot_modules(root=str(tmp_path), paths=['/srv/one.list'], etc_modules=None)
    assert got.names() == ['one']


def test_unreadable_file_is_a_warning(tmp_path):
    os.makedirs(str(tmp_path / 'etc' / 'modules-load.d'))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / 'etc' / 'modules-load.d' / 'a.conf'))
    write(tmp_path, '/etc/modules-load.d/b.conf', 'b\n')
    try:
        got = ml.load_boot_modules(root=str(tmp_path))
    finally:
        sock.close()
    assert got.names() == ['b']
    assert got.warnings == ['cannot read /etc/modules-load.d/a.conf: No such device or address']


def test_boot_module_repr():
    assert repr(ml.BootModule('a', 'f', 2, 'x=1')) == "BootModule('a', f:2, args='x=1')"
    assert repr(ml.BootModule('a', 'f', 2)) == "BootModule('a', f:2)"


def test_read_modules_load_plain_data(tmp_path):
    write(tmp_path, '/etc/modules', 'loop max_loop=8\n')
    write(tmp_path, '/usr/lib/modules-load.d/a.conf', 'first\n')
    write(tmp_path, '/etc/modules-load.d/a.conf', 'winner\nbad line\n')
    got = ml.read_modules_load(root=str(tmp_path))
    assert got == {
        'entries': [{'name': 'winner', 'file': '/etc/modules-load.d/a.conf', 'line': 1, 'args': ''},
                    {'name': 'loop', 'file': '/etc/modules', 'line': 1, 'args': 'max_loop=8'}],
        'warnings': ["/etc/modules-load.d/a.conf:2: 'bad line' is not a module name: systemd-modules-load "
                     "takes the whole line as the name, so it cannot load"],
        'files': ['/etc/modules-load.d/a.conf'],
        'masked': [{'file': '/usr/lib/modules-load.d/a.conf', 'by': '/etc/modules-load.d/a.conf',
                    'reason': 'masked'}],
    }
