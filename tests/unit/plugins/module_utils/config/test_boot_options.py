"""boot_options: modprobe.d as it will be after planned writes, and which line sets each parameter last."""

import os

from ansible_collections.kernel.kmod.plugins.module_utils.config import boot_options
from ansible_collections.kernel.kmod.plugins.module_utils.config.cmdline import parse_cmdline
from tests.lib.fake_root import link, write


def settings(config, module='dummy'):
    return dict((k, (s.text, s.where)) for k, s in boot_options.last_settings(config, module).items())


def test_files_in_basename_order_then_the_command_line(tmp_path):
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/systemd.conf', 'options dummy numdummies=0\n')
    write(root, '/etc/modprobe.d/dummy.conf', 'options dummy numdummies=2 other\n')
    write(root, '/run/modprobe.d/b.conf', '\noptions dummy "x-y=1"\noptions bonding max_bonds=0\n')
    write(root, '/proc/cmdline', 'root=/dev/vda dummy.numdummies=7\n')
    config = boot_options.load_boot_config(root)
    # option text goes to the module as written, quotes included
    assert boot_options.boot_options(config, 'dummy') == '"x-y=1" numdummies=2 other numdummies=0 numdummies=7'
    assert settings(config) == {'x_y': ('x-y=1', '/run/modprobe.d/b.conf:2'),
                                'numdummies': ('numdummies=7', '/proc/cmdline:1'),
                                'other': ('other', '/etc/modprobe.d/dummy.conf:1')}
    assert boot_options.last_settings(config, 'dummy')['numdummies'].on_cmdline is True
    without = boot_options.load_boot_config(root, cmdline=False)
    assert boot_options.boot_options(without, 'dummy') == '"x-y=1" numdummies=2 other numdummies=0'
    given = boot_options.load_boot_config(root, cmdline=parse_cmdline('dummy.other=5'))
    assert settings(given)['other'] == ('other=5', '/proc/cmdline:1')


def test_planned_files_replace_and_mask(tmp_path):
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/dummy.conf', 'options dummy numdummies=5\n')
    write(root, '/usr/lib/modprobe.d/systemd.conf', 'options dummy numdummies=0\n')
    # a new file of ours in /etc masks its namesake and sorts by its own name
    config = boot_options.load_boot_config(root, {'/etc/modprobe.d/dummy.conf': 'options dummy numdummies=3\n',
                                                  '/etc/modprobe.d/zz-x.conf': 'options dummy last=1\n'})
    assert boot_options.boot_options(config, 'dummy') == 'numdummies=3 numdummies=0 last=1'
    assert config.files.paths() == ['/usr/lib/modprobe.d/dummy.conf', '/usr/lib/modprobe.d/systemd.conf']


def test_a_removed_file_unmasks_its_namesake(tmp_path):
    root = str(tmp_path)
    write(root, '/etc/modprobe.d/dummy.conf', 'options dummy numdummies=3\n')
    write(root, '/usr/lib/modprobe.d/dummy.conf', 'options dummy numdummies=5\n')
    write(root, '/lib/modprobe.d/dummy.conf', 'options dummy numdummies=6\n')
    assert boot_options.boot_options(boot_options.load_boot_config(root), 'dummy') == 'numdummies=3'
    config = boot_options.load_boot_config(root, {'/etc/modprobe.d/dummy.conf': None})
    assert boot_options.boot_options(config, 'dummy') == 'numdummies=5'
    # removing a file that is not there changes nothing
    config = boot_options.load_boot_config(root, {'/etc/modprobe.d/zz.conf': None})
    assert boot_options.boot_options(config, 'dummy') == 'numdummies=3'


def test_a_dev_null_mask_adds_nothing(tmp_path):
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/systemd.conf', 'options dummy numdummies=0\n')
    link(root, '/etc/modprobe.d/systemd.conf', '/dev/null')
    assert boot_options.boot_options(boot_options.load_boot_config(root), 'dummy') == ''


def test_a_link_to_a_removed_file_is_not_read_again(tmp_path):
    # b.conf is the same file as a.conf: it does not count while a.conf does, and dangles once a.conf goes
    root = str(tmp_path)
    write(root, '/etc/modprobe.d/a.conf', 'options dummy a=1\n')
    os.symlink('a.conf', os.path.join(root, 'etc/modprobe.d/b.conf'))
    assert boot_options.boot_options(boot_options.load_boot_config(root), 'dummy') == 'a=1'
    config = boot_options.load_boot_config(root, {'/etc/modprobe.d/a.conf': None})
    assert boot_options.boot_options(config, 'dummy') == '' and config.warnings == []


def test_overrides_only_count_other_values(tmp_path):
    root = str(tmp_path)
    write(root, '/usr/lib/modprobe.d/systemd.conf', 'options dummy numdummies=0 flag y="a b"\n')
    config = boot_options.load_boot_config(root, {'/etc/modprobe.d/dummy.conf':
                                                  'options dummy numdummies=0 flag=1 x-y=1 y="a b"\n'})
    found = boot_options.overrides(config, 'dummy', 'numdummies=0 flag=1 x_y=1 y="a b"', '/etc/modprobe.d/dummy.conf')
    assert [(s.text, s.where) for s in found] == [('flag', '/usr/lib/modprobe.d/systemd.conf:1')]
    assert boot_options.asked_values('a=1 b a=2') == {'a': ('a', '2'), 'b': ('b', None)}
