"""blacklist.effective: the configuration around a blacklist file, over fake roots."""

from ansible_collections.kernel.kmod.plugins.module_utils.blacklist.effective import (
    boot_entries, cmdline_boot_modules, config_after, disables, others, parse_kernel_cmdline, read_position,
    remaining, undoing,
)
from tests.lib.fake_root import link, write

OWN = '/etc/modprobe.d/kernel-kmod-blacklist.conf'


def test_others_name_file_and_line_and_skip_our_file(tmp_path):
    write(tmp_path, '/etc/modprobe.d/a.conf', '# x\nblacklist pcspkr\ninstall pcspkr /bin/true\n')
    write(tmp_path, '/run/modprobe.d/b.conf', 'blacklist floppy\n')
    write(tmp_path, OWN, 'blacklist pcspkr\n')
    cmdline = parse_kernel_cmdline('root=/dev/vda modprobe.blacklist=floppy module_blacklist=pcspkr')
    config = config_after(str(tmp_path), OWN, None, cmdline)
    report = others(config, 'pcspkr', OWN, cmdline.kernel_blacklist)
    assert report.blacklisted_by == ['/etc/modprobe.d/a.conf:2', '/proc/cmdline:1 (module_blacklist=, enforced by the kernel)']
    assert report.disabled_by == ['/etc/modprobe.d/a.conf:3']
    assert report.covered('blacklist') and report.covered('install')
    floppy = others(config, 'floppy', OWN)
    # /run and the command line are gone at the next boot: they do not make our line redundant
    assert floppy.blacklisted_by == ['/run/modprobe.d/b.conf:1', '/proc/cmdline:1']
    assert not floppy.covered('blacklist')
    assert remaining(floppy, 'absent') == ['floppy is still blacklisted by /run/modprobe.d/b.conf:1, /proc/cmdline:1']
    assert remaining(floppy, 'present') == []


def test_an_earlier_install_line_or_a_softdep_undo_disable(tmp_path):
    write(tmp_path, '/etc/modprobe.d/00-first.conf', 'install floppy /sbin/modprobe --ignore-install floppy\n')
    write(tmp_path, '/usr/lib/modprobe.d/zz.conf', 'softdep floppy pre: cdrom\n')
    config = config_after(str(tmp_path), OWN, 'install floppy /bin/false\n', None)
    found = undoing(config, 'floppy', OWN, disable=True)
    assert len(found) == 2
    assert found[0].startswith('/etc/modprobe.d/00-first.conf:1: "install floppy /sbin/modprobe --ignore-install floppy"')
    assert found[1].startswith('/usr/lib/modprobe.d/zz.conf:1: a softdep line for floppy')
    assert undoing(config, 'floppy', OWN, disable=False) == []
    assert undoing(config, 'pcspkr', OWN, disable=True) == []


def test_our_install_line_first_is_not_undone(tmp_path):
    write(tmp_path, '/etc/modprobe.d/zz.conf', 'install floppy /bin/echo\n')
    config = config_after(str(tmp_path), OWN, 'install floppy /bin/false\n', None)
    assert undoing(config, 'floppy', OWN, disable=True) == []
    assert [d.file for d in config.installs] == [OWN, '/etc/modprobe.d/zz.conf']


def test_read_position(tmp_path):
    root = str(tmp_path)
    assert read_position(root, OWN) is None
    assert 'not in a directory modprobe reads' in read_position(root, '/etc/blacklist.conf')
    assert 'only names ending in .conf' in read_position(root, '/etc/modprobe.d/x.txt')
    write(tmp_path, '/etc/modprobe.d/local.conf', '')
    assert 'masked by /etc/modprobe.d/local.conf' in read_position(root, '/lib/modprobe.d/local.conf')
    link(tmp_path, '/etc/modprobe.d/masked.conf', '/dev/null')
    assert 'masked by' in read_position(root, '/usr/lib/modprobe.d/masked.conf')
    # merged /usr: /lib/modprobe.d is /usr/lib/modprobe.d, the same file is not masked by itself
    write(tmp_path, '/usr/lib/modprobe.d/same.conf', '')
    link(tmp_path, '/lib', 'usr/lib')
    assert read_position(root, '/lib/modprobe.d/same.conf') is None
    config = config_after(root, '/lib/modprobe.d/same.conf', 'blacklist x\n', None)
    assert [(d.module, d.file) for d in config.blacklists] == [('x', '/lib/modprobe.d/same.conf')]


def test_a_file_modprobe_does_not_read_adds_nothing(tmp_path):
    config = config_after(str(tmp_path), '/etc/blacklist.conf', 'blacklist x\n', None)
    assert config.blacklists == []


def test_boot_entries(tmp_path):
    write(tmp_path, '/etc/modules-load.d/a.conf', '# x\npcspkr\n')
    write(tmp_path, '/etc/modules', 'floppy\n')
    write(tmp_path, '/etc/initramfs-tools/modules', '# list\npcspkr opt=1\n')
    found, warnings = boot_entries(str(tmp_path), 'quiet modules-load=pcspkr,snd-pcsp rd.modules-load=x')
    assert warnings == []
    assert found['pcspkr'] == ['/etc/modules-load.d/a.conf:2', '/etc/initramfs-tools/modules:2',
                               '/proc/cmdline:1 (modules-load=pcspkr,snd-pcsp)']
    assert found['floppy'] == ['/etc/modules:1']
    assert found['snd_pcsp'] == ['/proc/cmdline:1 (modules-load=pcspkr,snd-pcsp)']
    assert cmdline_boot_modules(None) == {} and cmdline_boot_modules('"modules-load=a') == {}


def test_disabling_commands():
    assert disables('/bin/false') and disables(' /bin/true ') and not disables('/bin/false; modprobe x')
