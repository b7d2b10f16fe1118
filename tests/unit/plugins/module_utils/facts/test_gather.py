import json
import os
import subprocess
import sys

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.facts.gather import gather_facts
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from tests.lib.fake_kernel import FakeKernel
from tests.lib.fake_tree import FakeTree

RELEASE = '6.1.0-test-amd64'


@pytest.fixture
def system(tmp_path):
    """A fake root with a module tree, configuration and a running kernel."""
    tree = FakeTree(tmp_path, RELEASE)
    tree.add('kernel/drivers/net/dummy.ko',
             modinfo=['license=GPL', 'description=Dummy netdevice driver', 'alias=rtnl-link-dummy',
                      'parm=numdummies:Number of dummy pseudo devices', 'parmtype=numdummies:int',
                      'depends=', 'intree=Y', 'name=dummy', 'vermagic=6.1.0 SMP mod_unload'])
    tree.add('kernel/drivers/base/core-a.ko', modinfo=['license=GPL', 'name=core_a'], exports=['core_a_fn'])
    tree.add('kernel/drivers/net/user-b.ko.xz',
             modinfo=['license=GPL', 'name=user_b', 'depends=core_a', 'alias=pci:v00001234d*sv*sd*bc*sc*i*'],
             needs=['core_a_fn'], signed=True, compress='xz')
    tree.add_builtin('kernel/kernel/printk/printk.ko',
                     modinfo=['parm=time:Show timing information on printks', 'parmtype=time:bool'])
    tree.conf('etc/modprobe.d/blacklist.conf', 'blacklist pcspkr\n# comment\nbogus line here\n')
    tree.conf('etc/modprobe.d/disable.conf', 'install usb-storage /bin/false\noptions dummy numdummies=2\n')
    tree.conf('usr/lib/modprobe.d/disable.conf', 'blacklist masked_one\n')
    tree.conf('etc/modprobe.d/alias.conf', 'alias my-net dummy\nsoftdep user_b pre: dummy\n')
    tree.conf('etc/modules-load.d/net.conf', 'dummy\n')
    tree.conf('etc/modules', '# /etc/modules\nuser_b\n')
    tree.depmod()
    kernel = (FakeKernel(tmp_path)
              .set_release(RELEASE)
              .add_module('user_b', size=20480)
              .add_module('core_a', size=16384, used_by=['user_b'])
              .add_module('dummy', size=16384, params={'numdummies': '2'})
              .add_builtin('printk', params={'time': 'Y'})
              .set_tainted(4096)
              .set_cmdline('root=/dev/vda dummy.numdummies=3 modprobe.blacklist=floppy module_blacklist=evil'))
    kernel.write()
    return str(tmp_path), KernelState(str(tmp_path))


def test_running_system(system):
    root, kernel = system
    facts, warnings = gather_facts(root=root, kernel=kernel)
    assert facts['kernel_release'] == RELEASE
    assert facts['running'] is True
    assert facts['module_dir'] == os.path.join(root, 'lib/modules', RELEASE)
    assert sorted(facts['loaded']) == ['core_a', 'dummy', 'user_b']
    assert facts['loaded']['core_a']['holders'] == ['user_b']
    assert facts['loaded']['core_a']['refcnt'] == 1
    assert facts['loaded']['dummy']['params'] == {'numdummies': '2'}
    assert facts['builtin'] == ['printk']
    assert facts['builtin_params'] == {'printk': {'time': 'Y'}}
    assert facts['kernel']['tainted'] == 4096
    assert [f['letter'] for f in facts['kernel']['taint_flags']] == ['O']
    config = facts['config']
    assert [b['name'] for b in config['blacklist']] == ['pcspkr', 'floppy']
    assert config['blacklist'][0]['file'] == '/etc/modprobe.d/blacklist.conf'
    assert config['blacklist'][0]['line'] == 1
    assert config['blacklist'][1]['file'] == '/proc/cmdline'
    assert config['disabled'] == [{'name': 'usb_storage', 'command': '/bin/false',
                                   'file': '/etc/modprobe.d/disable.conf', 'line': 1}]
    assert [o['options'] for o in config['options']['dummy']] == ['numdummies=2', 'numdummies=3']
    assert config['module_blacklist'] == ['evil']
    assert config['masked'][0]['file'] == '/usr/lib/modprobe.d/disable.conf'
    assert any('blacklist.conf:3' in w for w in warnings)
    assert [e['name'] for e in facts['modules_load']] == ['dummy', 'user_b']
    assert 'available' not in facts and 'info' not in facts


def test_available_and_info(system):
    root, kernel = system
    facts, _warnings = gather_facts(root=root, kernel=kernel, available=True,
                                    modules=['dummy', 'my-net', 'pci:v00001234d00000001sv0sd0bc0sc0i0',
                                             'printk', 'nosuchmod'])
    mdir = facts['module_dir']
    assert facts['available'] == {
        'dummy': os.path.join(mdir, 'kernel/drivers/net/dummy.ko'),
        'core_a': os.path.join(mdir, 'kernel/drivers/base/core-a.ko'),
        'user_b': os.path.join(mdir, 'kernel/drivers/net/user-b.ko.xz'),
    }
    info = facts['info']
    assert info['dummy']['parameters'] == {'numdummies': {'type': 'int', 'description': 'Number of dummy pseudo devices'}}
    assert info['dummy']['alias'] == ['rtnl-link-dummy']
    assert info['dummy']['intree'] is True
    assert info['user_b']['depends'] == ['core_a']
    assert info['user_b']['signed'] is True
    assert info['user_b']['compression'] == 'xz'
    assert info['printk']['builtin'] is True
    assert info['printk']['filename'] == '(builtin)'
    assert info['printk']['parameters']['time']['type'] == 'bool'
    assert facts['lookup'] == {'dummy': ['dummy'], 'my-net': ['dummy'],
                               'pci:v00001234d00000001sv0sd0bc0sc0i0': ['user_b'], 'printk': ['printk']}
    assert facts['missing'] == ['nosuchmod']


def test_image_root_does_not_read_the_live_kernel(system, tmp_path):
    root, kernel = system
    other = KernelState(str(tmp_path / 'elsewhere'))
    facts, _w = gather_facts(root=root, release=RELEASE, kernel=other)
    assert facts['running'] is False
    assert facts['loaded'] == {}
    assert facts['cmdline'] is None
    assert [b['name'] for b in facts['config']['blacklist']] == ['pcspkr']


def test_missing_module_dir_is_a_warning(system):
    root, kernel = system
    facts, warnings = gather_facts(root=root, release='9.9.9', kernel=kernel)
    assert facts['module_dir'] is None
    assert facts['builtin'] == []
    assert any('no module directory for kernel 9.9.9' in w and RELEASE in w for w in warnings)


def test_no_release_anywhere_fails(tmp_path):
    with pytest.raises(KmodError, match='kernel release'):
        gather_facts(root=str(tmp_path), kernel=KernelState(str(tmp_path)))


def test_an_absolute_release_does_not_escape_the_root(system, tmp_path):
    # before: os.path.join(root, 'lib/modules', '/abs') is '/abs', read as the module directory
    root, kernel = system
    outside = os.path.join(root, 'lib', 'modules', RELEASE)
    with pytest.raises(KmodError, match="invalid kernel release '%s'" % outside):
        gather_facts(root=str(tmp_path / 'empty-root'), release=outside, kernel=kernel)
    with pytest.raises(KmodError, match='invalid kernel release'):
        gather_facts(root=root, release='../modules/' + RELEASE, kernel=kernel)


def test_initramfs_only_when_asked(system):
    root, kernel = system
    facts, warnings = gather_facts(root=root, kernel=kernel)
    assert 'initramfs' not in facts
    facts, warnings = gather_facts(root=root, kernel=kernel, initramfs=True)
    assert facts['initramfs'] == {'generator': None, 'program': None, 'image': None, 'stale': None, 'reasons': []}
    assert 'initramfs: no initramfs generator found (update-initramfs, dracut, mkinitcpio)' in warnings
    path = os.path.join(root, 'usr/sbin/update-initramfs')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n')
    os.chmod(path, 0o755)
    facts, warnings = gather_facts(root=root, kernel=kernel, initramfs=True)
    assert facts['initramfs']['generator'] == 'initramfs-tools' and facts['initramfs']['stale'] is True
    assert facts['initramfs']['reasons'] == [{'path': '/boot/initrd.img-%s' % RELEASE, 'change': 'added', 'what': 'image'}]


# Run in a fresh interpreter: which of the library's files a call imports.
IMPORTS_OF_A_RUN = r'''
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
from ansible_collections.kernel.kmod.plugins.module_utils.facts.gather import gather_facts
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
gather_facts(root=sys.argv[2], kernel=KernelState(sys.argv[2]), modules=json.loads(sys.argv[3]))
prefix = 'ansible_collections.kernel.kmod.plugins.module_utils.'
print(json.dumps(sorted(m[len(prefix):] for m in sys.modules if m.startswith(prefix))))
'''


def _imports_of_a_run(root, modules):
    out = subprocess.run([sys.executable, '-c', IMPORTS_OF_A_RUN, json.dumps(sys.path), root, json.dumps(modules)],
                         stdout=subprocess.PIPE, check=True, universal_newlines=True).stdout
    return json.loads(out)


def test_default_run_imports_only_what_it_uses(system):
    # Under Ansible every imported file is compiled on every run (slow on a
    # small node): the modinfo readers, the lookup, the initramfs readers
    # and the glob matcher wait until a run asks for what needs them.
    root, _kernel = system
    default = _imports_of_a_run(root, [])
    for lazy in ('tree.lookup', 'fnmatch_glibc', 'image.modinfo', 'image.elf', 'initramfs.task'):
        assert lazy not in default
    assert 'config.modprobe' in default and 'kernel.state' in default
    asked = _imports_of_a_run(root, ['dummy'])
    assert 'tree.lookup' in asked and 'image.modinfo' in asked
