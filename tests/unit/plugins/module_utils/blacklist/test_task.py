"""blacklist.task: the whole kmod_blacklist task over a fake root (FakeTree + FakeKernel) with FakeKernelCalls."""

import os
import stat

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.blacklist.edit import HEADER
from ansible_collections.kernel.kmod.plugins.module_utils.blacklist.task import DEFAULT_PATH, run_task, TaskError
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from ansible_collections.kernel.kmod.plugins.module_utils.load.task import System
from tests.lib.fake_calls import FakeKernelCalls
from tests.lib.fake_initramfs import build_image
from tests.lib.fake_kernel import FakeKernel
from tests.lib.fake_root import link, write
from tests.lib.fake_tree import FakeTree
from tests.lib.processes import HeldByChild

RELEASE = '6.1.0-test-amd64'
OWN = b'blacklist pcspkr\n'


@pytest.fixture(scope='module')
def tree_root(tmp_path_factory):
    """pcspkr, floppy, snd_pcsp needing pcspkr's export, and a builtin crc32c."""
    root = tmp_path_factory.mktemp('tree')
    tree = FakeTree(root, RELEASE)
    tree.add('kernel/drivers/input/misc/pcspkr.ko', modinfo=['license=GPL', 'alias=platform:pcspkr'],
             exports=['pcspkr_beep'])
    tree.add('kernel/sound/drivers/snd-pcsp.ko', modinfo=['license=GPL'], needs=['pcspkr_beep'])
    tree.add('kernel/drivers/block/floppy.ko', modinfo=['license=GPL'])
    tree.add_builtin('kernel/crypto/crc32c.ko', modinfo=['license=GPL'])
    tree.depmod()
    return str(root)


class Host(object):
    def __init__(self, tmp_path, tree_root, loaded=(), files=None, cmdline=None, generator=False):
        self.root = str(tmp_path / 'host')
        os.makedirs(self.root)
        os.symlink(os.path.join(tree_root, 'lib'), os.path.join(self.root, 'lib'))
        for path, text in (files or {}).items():
            write(self.root, path, text)
        self.kernel = FakeKernel(self.root)
        for name, kwargs in loaded:
            self.kernel.add_module(name, **kwargs)
        if cmdline is not None:
            self.kernel.set_cmdline(cmdline)
        self.kernel.write()
        self.calls = FakeKernelCalls(self.kernel)
        if generator:
            write(self.root, '/usr/sbin/update-initramfs', '#!/bin/sh\n')
            os.chmod(self.path('/usr/sbin/update-initramfs'), 0o755)
            self.image([('etc/modprobe.d', None)])

    def image(self, files, data=None):
        write(self.root, '/boot/initrd.img-' + RELEASE, '')
        with open(self.path('/boot/initrd.img-' + RELEASE), 'wb') as f:
            f.write(data if data is not None else build_image(files, 'gzip'))

    def run(self, check_mode=False, diff=False, **options):
        system = System(root=self.root, calls=self.calls, kernel=KernelState(self.root), runner=lambda c, m: (0, '', ''))
        return run_task(options, check_mode=check_mode, diff=diff, system=system)

    def path(self, inside):
        return os.path.join(self.root, inside.lstrip('/'))

    def read(self, inside=DEFAULT_PATH):
        try:
            with open(self.path(inside), 'rb') as f:
                return f.read()
        except FileNotFoundError:
            return None


def test_blacklist_check_mode_then_apply_then_unchanged(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, generator=True)
    checked, _warnings = host.run(check_mode=True, diff=True, name=['pcspkr'])
    assert checked['changed'] is True and checked['file'] == 'create' and checked['initramfs_stale'] is True
    assert checked['diff'][0]['after'] == (HEADER + OWN).decode()
    assert host.read() is None and not os.path.exists(host.path('/etc/modprobe.d'))
    done, warnings = host.run(name=['pcspkr'])
    assert done['changed'] is True and warnings == []
    assert host.read() == HEADER + OWN
    assert stat.S_IMODE(os.stat(host.path(DEFAULT_PATH)).st_mode) == 0o644
    again, _warnings = host.run(name=['pcspkr'])
    assert again['changed'] is False and again['file'] is None and again['initramfs_stale'] is False


def test_initramfs_stale_is_exact(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, generator=True)
    host.image([('etc/modprobe.d/kernel-kmod-blacklist.conf', HEADER + OWN)])
    # the image already holds what is written: not stale
    done, _warnings = host.run(name=['pcspkr'])
    assert done['changed'] is True and done['initramfs_stale'] is False
    # removing the file makes the image's copy out of date
    gone, _warnings = host.run(name=['pcspkr'], state='absent')
    assert gone['file'] == 'remove' and gone['initramfs_stale'] is True
    # a file the generator does not copy never makes it stale
    other, _warnings = host.run(name=['pcspkr'], path='/run/modprobe.d/x.conf')
    assert other['changed'] is True and other['initramfs_stale'] is False
    host.image(None, data=b'garbage')
    broken, warnings = host.run(name=['floppy'])
    assert broken['initramfs_stale'] is True and warnings[0].startswith(
        'cannot tell whether /boot/initrd.img-%s holds the change, counted as stale: ' % RELEASE)


def test_disable_writes_install_line_and_absent_removes_our_file(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.run(name=['floppy', 'pcspkr'], disable=True)
    assert host.read() == HEADER + b'blacklist floppy\ninstall floppy /bin/false\nblacklist pcspkr\ninstall pcspkr /bin/false\n'
    result, _warnings = host.run(name=['floppy'], disable=False)
    assert result['changed'] is True
    assert host.read() == HEADER + b'blacklist floppy\nblacklist pcspkr\ninstall pcspkr /bin/false\n'
    host.run(name=['floppy', 'pcspkr'], state='absent')
    assert host.read() is None
    gone, _warnings = host.run(name=['floppy', 'pcspkr'], state='absent')
    assert gone['changed'] is False and gone['file'] is None


def test_foreign_file_keeps_its_lines(tmp_path, tree_root):
    mine = '/etc/modprobe.d/local.conf'
    text = b'# local settings\n\noptions snd_hda_intel power_save=1 # on\n\xe9t\xe9\nblacklist nouveau'
    host = Host(tmp_path, tree_root)
    write(host.root, mine, '')
    with open(host.path(mine), 'wb') as f:
        f.write(text)
    os.chmod(host.path(mine), 0o600)
    result, _warnings = host.run(diff=True, name=['pcspkr'], path=mine)
    assert result['file'] == 'update' and host.read(mine) == text + b'\nblacklist pcspkr\n'
    assert stat.S_IMODE(os.stat(host.path(mine)).st_mode) == 0o600
    host.run(name=['pcspkr'], path=mine, state='absent')
    assert host.read(mine) == text + b'\n'


def test_blacklisted_elsewhere_is_reported_and_not_duplicated(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, files={'/usr/lib/modprobe.d/dist.conf': '# dist\nblacklist pcspkr\n'})
    result, warnings = host.run(name=['pcspkr'])
    assert result['changed'] is False and host.read() is None
    assert result['modules']['pcspkr']['blacklisted_by'] == ['/usr/lib/modprobe.d/dist.conf:2']
    # disable adds only what is missing
    result, _warnings = host.run(name=['pcspkr'], disable=True)
    assert host.read() == HEADER + b'install pcspkr /bin/false\n'
    removed, warnings = host.run(name=['pcspkr'], state='absent')
    assert removed['file'] == 'remove'
    assert warnings == ['pcspkr is still blacklisted by /usr/lib/modprobe.d/dist.conf:2']


def test_our_line_stays_when_another_file_gains_one(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    host.run(name=['pcspkr'])
    write(host.root, '/etc/modprobe.d/other.conf', 'blacklist pcspkr\n')
    again, _warnings = host.run(name=['pcspkr'])
    assert again['changed'] is False and host.read() == HEADER + OWN


def test_undoing_lines_and_boot_entries_are_warned(tmp_path, tree_root):
    files = {'/etc/modprobe.d/aa.conf': 'install floppy /sbin/modprobe --ignore-install floppy\n',
             '/etc/modules-load.d/floppy.conf': 'floppy\n'}
    host = Host(tmp_path, tree_root, files=files, cmdline='root=/dev/vda modules-load=floppy')
    result, warnings = host.run(name=['floppy'], disable=True)
    report = result['modules']['floppy']
    assert report['undone_by'][0].startswith('/etc/modprobe.d/aa.conf:1: "install floppy')
    assert report['boot_entries'] == ['/etc/modules-load.d/floppy.conf:1', '/proc/cmdline:1 (modules-load=floppy)']
    assert len(warnings) == 2 and warnings[1].startswith('floppy is still asked for at boot by ')


def test_still_loaded_is_reported_or_unloaded(tmp_path, tree_root):
    loaded = [('pcspkr', {'used_by': ['snd_pcsp'], 'refcnt': 1}), ('snd_pcsp', {}), ('floppy', {})]
    host = Host(tmp_path, tree_root, loaded=loaded)
    result, warnings = host.run(name=['floppy'])
    assert result['still_loaded'] == ['floppy'] and result['deleted'] == []
    assert warnings == ['floppy is still loaded: a blacklist keeps it from loading, it does not remove it '
                        '(unload: true removes it now)']
    checked, _warnings = host.run(check_mode=True, name=['floppy'], unload=True)
    assert checked['deleted'] == ['floppy'] and host.calls.calls == []
    done, _warnings = host.run(name=['floppy'], unload=True)
    assert done['changed'] is True and done['deleted'] == ['floppy'] and done['still_loaded'] == []
    assert host.calls.calls == [('delete', 'floppy')]
    # a module in use is refused before anything is written, unless its holders go first
    with pytest.raises(KmodError) as refused:
        host.run(name=['pcspkr'], unload=True)
    assert 'in use' in refused.value.msg and b'pcspkr' not in host.read()
    held, _warnings = host.run(name=['pcspkr'], unload=True, remove_holders=True)
    assert held['deleted'] == ['snd_pcsp', 'pcspkr'] and b'blacklist pcspkr' in host.read()


def test_unload_failure_keeps_what_was_done(tmp_path, tree_root):
    import errno
    host = Host(tmp_path, tree_root, loaded=[('floppy', {})])
    host.calls.fail_delete('floppy', errno.EPERM)
    with pytest.raises(TaskError) as failed:
        host.run(name=['floppy'], unload=True)
    details = failed.value.fail_kwargs()
    assert details['changed'] is True and details['file'] == 'create' and details['module'] == 'floppy'


def test_bad_input_is_refused_with_nothing_written(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    for options in ({'name': ['pcspkr', 'a*']}, {'name': ['../x']}, {'name': []}, {'name': ['pcspkr'], 'state': 'x'},
                    {'name': ['pcspkr'], 'path': 'relative.conf'}):
        with pytest.raises(KmodError):
            host.run(**options)
    assert not os.path.exists(host.path('/etc/modprobe.d'))


def test_symlink_target_is_refused(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    write(host.root, '/etc/shadow-like', 'secret\n')
    link(host.root, DEFAULT_PATH, host.path('/etc/shadow-like'))
    with pytest.raises(KmodError) as refused:
        host.run(name=['pcspkr'])
    assert 'symbolic link' in refused.value.msg
    assert host.read('/etc/shadow-like') == b'secret\n'


def test_names_not_in_tree_and_builtin_are_warned(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    _result, warnings = host.run(name=['nosuch', 'crc32c', 'snd-pcsp'])
    assert warnings == ['nosuch: no such module in %s; blacklisted anyway' % host.path('/lib/modules/' + RELEASE),
                        'crc32c is built into kernel %s: modprobe.d cannot keep it out (initcall_blacklist= on the '
                        'kernel command line can stop its init function)' % RELEASE]
    assert b'blacklist snd_pcsp\n' in host.read()


def test_a_path_modprobe_does_not_read_is_warned(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    _result, warnings = host.run(name=['pcspkr'], path='/etc/modprobe.conf')
    assert warnings == ['/etc/modprobe.conf is not in a directory modprobe reads (/etc/modprobe.d, /run/modprobe.d, '
                        '/usr/local/lib/modprobe.d, /usr/lib/modprobe.d, /lib/modprobe.d): the lines written there '
                        'have no effect']


def test_unload_with_absent_is_warned_and_does_nothing(tmp_path, tree_root):
    host = Host(tmp_path, tree_root, loaded=[('floppy', {})])
    result, warnings = host.run(name=['floppy'], state='absent', unload=True)
    assert result['changed'] is False and host.calls.calls == []
    assert warnings == ['unload and remove_holders apply only with state=present; nothing is unloaded']


def locked_host(tmp_path, tree_root, **kwargs):
    host = Host(tmp_path, tree_root, **kwargs)
    os.makedirs(host.path('/etc/modprobe.d'))
    return host


def run_with_wait(host, wait, check_mode=False, **options):
    system = System(root=host.root, calls=host.calls, kernel=KernelState(host.root), runner=lambda c, m: (0, '', ''),
                    lock_wait=wait)
    return run_task(options, check_mode=check_mode, system=system)


def test_a_run_waits_for_the_lock_of_the_file_s_directory_and_names_the_holder(tmp_path, tree_root):
    host = locked_host(tmp_path, tree_root)
    with HeldByChild(host.path('/etc/modprobe.d')) as pid:
        with pytest.raises(KmodError) as info:
            run_with_wait(host, 0.2, name=['pcspkr'])
        assert info.value.msg == ('kmod_blacklist: another run (pid %d) is working on %s; gave up after waiting '
                                  '0.2 s' % (pid, host.path('/etc/modprobe.d')))
        # check mode reads only: it waits for a writer too
        with pytest.raises(KmodError, match='another run'):
            run_with_wait(host, 0.2, check_mode=True, name=['pcspkr'])
    assert host.read() is None
    result, _w = run_with_wait(host, 0.2, name=['pcspkr'])
    assert result['file'] == 'create'


def test_check_mode_shares_the_lock_and_a_missing_directory_waits_on_its_parent(tmp_path, tree_root):
    host = locked_host(tmp_path, tree_root)
    with HeldByChild(host.path('/etc/modprobe.d'), shared=True):
        checked, _w = run_with_wait(host, 0.2, check_mode=True, name=['pcspkr'])
        assert checked['file'] == 'create'
        with pytest.raises(KmodError, match='another run'):
            run_with_wait(host, 0.2, name=['pcspkr'])
    with HeldByChild(host.path('/etc')) as pid:
        with pytest.raises(KmodError) as info:
            run_with_wait(host, 0.2, name=['pcspkr'], path='/etc/other.d/x.conf')
        assert 'another run (pid %d) is working on %s;' % (pid, host.path('/etc')) in info.value.msg
    result, _w = run_with_wait(host, 0.2, name=['pcspkr'], path='/etc/other.d/x.conf')
    assert result['file'] == 'create' and os.stat(host.path('/etc/other.d')).st_mode & 0o777 == 0o755


def test_a_directory_others_may_write_is_warned_about(tmp_path, tree_root):
    host = Host(tmp_path, tree_root)
    os.makedirs(host.path('/etc/modprobe.d'))
    os.chmod(host.path('/etc'), 0o777)
    result, warnings = host.run(name=['pcspkr'])
    assert result['file'] == 'create'
    assert warnings[0] == ('kmod_blacklist writes into %s, but %s is writable by group and others (mode 0777): '
                           'whoever may write there can change what root loads at boot'
                           % (host.path('/etc/modprobe.d'), host.path('/etc')))
    os.chmod(host.path('/etc'), 0o755)
    _result, warnings = host.run(name=['pcspkr'])
    assert not any('writes into' in w for w in warnings)
