# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kmod_depmod end to end against kmod's depmod: the host's kmod 30 and
kmod 34.2 in a Debian 13 chroot (the `kmod` fixture runs each test with both;
ours copies that kmod, as `kmod_version` does).

Each synthetic tree is built once with gcc and copied twice: that kmod's
depmod -b indexes one copy, run_depmod (or the module file, run as Ansible
runs it) the other.  Every output file must be byte-identical; that kmod's
modprobe -D and modprobe -R, pointed at either copy, must give the same
answers; with -e -E / -e -F our unresolved symbols must be depmod's
messages.  The same on a copy of Debian's real tree (its .ko files
hard-linked, never written).
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.kmod_version import KmodFlavour, kmod_flavour
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.outputs import output_names
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.pipeline import run_depmod
from tests.conformance.conftest import link_copy
from tests.lib.fakeko import build_ko
from tests.lib.kmod_oracle import get_oracle

pytestmark = pytest.mark.conformance

REL = '6.1.0-kdepmod'
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
MODULE = os.path.join(REPO, 'plugins', 'modules', 'kmod_depmod.py')
INPUTS = ('modules.order', 'modules.builtin', 'modules.builtin.modinfo')


def host_flavour():
    """The host's kmod (30 on Debian 12), with its compression features."""
    return kmod_flavour()


# ---------------------------------------------------------------- trees

GPL = 'license=GPL'
SCENARIOS = {
    'basic': {
        'modules': {
            'kernel/lib/core.ko': dict(modinfo=[GPL, 'alias=core-alias', 'alias=pci:v00001234d*sv*sd*bc*sc*i*'],
                                       exports=['core_fn', 'core_data']),
            'kernel/drivers/mid.ko.xz': dict(modinfo=[GPL, 'softdep=pre: helper post: extra_mod'],
                                             exports=['mid_fn'], needs=['core_fn'], compress='xz'),
            'kernel/drivers/top-level.ko.zst': dict(modinfo=[GPL, 'alias=top_alias', 'weakdep=core'],
                                                    needs=['mid_fn', 'core_data', 'printk'], compress='zst'),
            'kernel/drivers/helper.ko': dict(modinfo=[GPL, 'alias=devname:helper0', 'alias=char-major-10-200'],
                                             weak_needs=['mid_fn']),
            'kernel/drivers/dup1.ko': dict(modinfo=[GPL], exports=['shared_sym']),
            'kernel/drivers/dup2.ko': dict(modinfo=[GPL], exports=['shared_sym']),
            'kernel/drivers/user.ko': dict(modinfo=[GPL], needs=['shared_sym'], versions=[(0x11, 'core_fn')]),
            'extra/extra_mod.ko': dict(modinfo=[GPL, 'alias=block-major-7-*'], needs=['nothere']),
            # kmod 34 cannot read a zstd file that does not declare its size
            'kernel/drivers/unsized.ko.zst': dict(modinfo=[GPL, 'alias=unsized-alias'], exports=['unsized_fn'],
                                                  compress='zst-unsized'),
            'kernel/drivers/unsized-user.ko': dict(modinfo=[GPL], needs=['unsized_fn']),
        },
        'corrupt': ['kernel/drivers/broken.ko'],
        'order': ['kernel/lib/core.ko', 'kernel/drivers/mid.ko', 'kernel/drivers/top-level.ko',
                  'kernel/drivers/dup1.ko', 'kernel/drivers/dup2.ko', 'kernel/drivers/user.ko'],
        'builtin': 'kernel/fs/ext4.ko\nkernel/crypto/crc32c.ko\n',
        'builtin_modinfo': b'ext4.alias=fs-ext4\0ext4.license=GPL\0crc32c.alias=crypto-crc32c\0',
        'config': '',
    },
    'config': {
        'modules': {
            'kernel/a/same.ko': dict(modinfo=[GPL, 'alias=from-kernel'], exports=['same_sym']),
            'updates/same.ko': dict(modinfo=[GPL, 'alias=from-updates'], exports=['same_sym']),
            'kernel/a/over.ko': dict(modinfo=[GPL, 'alias=over-kernel']),
            'extra/over.ko': dict(modinfo=[GPL, 'alias=over-extra']),
            'kernel/a/user.ko': dict(modinfo=[GPL], needs=['same_sym', 'ext_sym']),
            'kernel/skipme/hidden.ko': dict(modinfo=[GPL, 'alias=hidden']),
            'weird/early.ko': dict(modinfo=[GPL], exports=['early_sym']),
        },
        'external': {'ext.ko': dict(modinfo=[GPL, 'alias=external-one'], exports=['ext_sym'])},
        'order': ['kernel/a/same.ko', 'kernel/a/over.ko', 'kernel/a/user.ko'],
        'builtin': '',
        'builtin_modinfo': b'',
        'config': ('search weird updates built-in external\n'
                   'override over * extra\n'
                   'exclude skipme\n'
                   'external * {external}\n'),
    },
    'missing-inputs': {
        'modules': {
            'kernel/one.ko': dict(modinfo=[GPL], exports=['one_sym']),
            'kernel/two.ko.xz': dict(modinfo=[GPL], needs=['one_sym'], compress='xz'),
        },
    },
}


def build_scenario(base, spec):
    module_dir = os.path.join(base, 'lib', 'modules', REL)
    for rel, kwargs in spec['modules'].items():
        build_ko(os.path.join(module_dir, rel), **kwargs)
    for rel in spec.get('corrupt', ()):
        with open(os.path.join(module_dir, rel), 'wb') as f:
            f.write(b'\x7fELF\x02\x01\x01 not really')
    external = os.path.join(base, 'external')
    for rel, kwargs in spec.get('external', {}).items():
        build_ko(os.path.join(external, rel), **kwargs)
    if 'order' in spec:
        with open(os.path.join(module_dir, 'modules.order'), 'w') as f:
            f.write(''.join(line + '\n' for line in spec['order']))
    if 'builtin' in spec:
        with open(os.path.join(module_dir, 'modules.builtin'), 'w') as f:
            f.write(spec['builtin'])
    if 'builtin_modinfo' in spec:
        with open(os.path.join(module_dir, 'modules.builtin.modinfo'), 'wb') as f:
            f.write(spec['builtin_modinfo'])
    conf = os.path.join(base, 'depmod.d')
    os.makedirs(conf)
    with open(os.path.join(conf, 'test.conf'), 'w') as f:
        f.write(spec.get('config', '').format(external=external))


@pytest.fixture(scope='module')
def scenarios(tmp_path_factory):
    built = {}
    for name, spec in SCENARIOS.items():
        base = str(tmp_path_factory.mktemp('scenario-' + name))
        build_scenario(base, spec)
        built[name] = base
    return built


class Pair(object):
    """Two copies of one tree: kmod indexes `theirs`, we index `ours`."""

    def __init__(self, kmod, source, tmp_path):
        self.kmod = kmod
        self.source = source
        self.theirs = str(tmp_path / 'theirs')
        self.ours = str(tmp_path / 'ours')
        for target in (self.theirs, self.ours):
            shutil.copytree(os.path.join(source, 'lib'), os.path.join(target, 'lib'), symlinks=True)
        # both read the same depmod.d and external directory (outside the copies)
        self.conf = os.path.join(source, 'depmod.d')

    def module_dir(self, which):
        return os.path.join(getattr(self, which), 'lib', 'modules', REL)

    def run_kmod(self, *extra, **kwargs):
        share = [self.theirs, self.source] + list(kwargs.pop('share', ()))
        proc = self.kmod.depmod(['-b', self.theirs, '-C', self.conf] + list(extra) + [REL], share=share)
        assert proc.returncode == 0, proc.stderr
        return proc.stderr.splitlines()

    def run_ours(self, **kwargs):
        kwargs.setdefault('config_paths', [self.conf])
        kwargs.setdefault('cache_dir', None)
        kwargs.setdefault('flavour', self.kmod.flavour())
        return run_depmod(REL, basedir=self.ours, **kwargs)

    def outputs(self):
        return output_names(weakdep=self.kmod.flavour().weakdep)


def read_outputs(module_dir):
    out = {}
    for name in sorted(os.listdir(module_dir)):
        if name.startswith('modules.') and name not in INPUTS:
            with open(os.path.join(module_dir, name), 'rb') as f:
                out[name] = f.read()
    return out


def assert_same_outputs(pair):
    theirs = read_outputs(pair.module_dir('theirs'))
    ours = read_outputs(pair.module_dir('ours'))
    assert sorted(ours) == sorted(theirs) == sorted(pair.outputs())
    # paths of external modules are absolute and the same in both copies
    assert [n for n in pair.outputs() if ours[n] != theirs[n]] == []


def modprobe(kmod, root, *args, **kwargs):
    """(status, output with root replaced) of this kmod's modprobe -d root."""
    proc = kmod.modprobe(['-d', root, '-S', kwargs.get('release', REL), '-C', '/dev/null'] + list(args),
                         share=[root], timeout=120)
    return proc.returncode, (proc.stdout + proc.stderr).replace(root, 'ROOT')


def assert_same_modprobe_answers(pair, names, aliases=()):
    kmod = pair.kmod
    with kmod.sharing([pair.ours, pair.theirs, pair.source]):
        for name in names:
            assert modprobe(kmod, pair.ours, '-D', name) == modprobe(kmod, pair.theirs, '-D', name), name
        for alias in aliases:
            assert modprobe(kmod, pair.ours, '-R', alias) == modprobe(kmod, pair.theirs, '-R', alias), alias


def kmod_symbol_messages(lines, root):
    """depmod's 'needs unknown symbol' / 'disagrees about version' lines, root replaced."""
    found = []
    for line in lines:
        m = re.match(r'depmod: WARNING: (.* (?:needs unknown symbol|disagrees about version of symbol) .*)$', line)
        if m:
            found.append(m.group(1).replace(root, 'ROOT'))
    return found


# ---------------------------------------------------------------- synthetic trees

MODULE_NAMES = ['core', 'mid', 'top_level', 'top-level', 'helper', 'dup1', 'dup2', 'user', 'extra_mod', 'broken',
                'unsized', 'unsized_user',
                'same', 'over', 'hidden', 'early', 'ext', 'one', 'two', 'ext4', 'nosuch']
ALIASES = ['core-alias', 'pci:v00001234d00005678sv0sd0bc0sc0i0', 'top-alias', 'char-major-10-200',
           'block-major-7-3', 'fs-ext4', 'crypto-crc32c', 'from-updates', 'from-kernel', 'over-extra',
           'over-kernel', 'external-one', 'hidden', 'symbol:same_sym', 'symbol:shared_sym', 'symbol:ext_sym',
           'unsized-alias', 'symbol:unsized_fn']


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_outputs_equal_depmod(kmod, scenarios, tmp_path, name):
    pair = Pair(kmod, scenarios[name], tmp_path)
    pair.run_kmod()
    report = pair.run_ours()
    assert report['changed'] is True
    assert_same_outputs(pair)
    assert_same_modprobe_answers(pair, MODULE_NAMES, ALIASES)
    # a second run finds nothing to do
    again = pair.run_ours()
    assert again['changed'] is False and again['written'] == []


def test_corrupt_module_reported_and_kept_as_kmod_does(kmod, scenarios, tmp_path):
    pair = Pair(kmod, scenarios['basic'], tmp_path)
    lines = pair.run_kmod()
    report = pair.run_ours()
    unreadable = ['kernel/drivers/broken.ko'] + (['kernel/drivers/unsized.ko.zst'] if kmod.major >= 34 else [])
    assert sorted(s['path'] for s in report['skipped']) == [os.path.join(pair.module_dir('ours'), rel)
                                                            for rel in unreadable]
    theirs = [line.split(': ')[2][len('failed to load symbols from '):] for line in lines
              if line.startswith('depmod: ERROR: failed to load symbols from ')]
    assert sorted(theirs) == [os.path.join(pair.module_dir('theirs'), rel) for rel in unreadable]
    with open(os.path.join(pair.module_dir('ours'), 'modules.dep')) as f:
        text = f.read()
    for rel in unreadable:
        assert '\n%s:\n' % rel in text


def test_rerun_over_kmods_files_changes_nothing(kmod, scenarios, tmp_path):
    pair = Pair(kmod, scenarios['config'], tmp_path)
    pair.run_kmod()
    report = run_depmod(REL, basedir=pair.theirs, config_paths=[pair.conf], cache_dir=None, flavour=kmod.flavour())
    assert report['changed'] is False and report['written'] == []


@pytest.mark.parametrize('kind', ['symvers', 'system_map'])
def test_unresolved_symbols_equal_depmods(kmod, scenarios, tmp_path, kind):
    pair = Pair(kmod, scenarios['basic'], tmp_path)
    symbols = str(tmp_path / kind)
    with open(symbols, 'w') as f:
        if kind == 'symvers':
            f.write('0x00000000\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n0x00000011\tnothere_not\tvmlinux\tEXPORT_SYMBOL\t\n')
        else:
            f.write('ffffffff81000000 T printk\nffffffff82000000 r __ksymtab_printk\n')
    flag = '-E' if kind == 'symvers' else '-F'
    theirs = kmod_symbol_messages(pair.run_kmod('-e', flag, symbols, share=[symbols]), pair.theirs)
    report = pair.run_ours(check_symbols=True, **{kind: symbols})
    ours = [m.replace(pair.ours, 'ROOT') for m in report['messages']]
    assert ours == theirs
    assert 'ROOT/lib/modules/%s/extra/extra_mod.ko needs unknown symbol nothere' % REL in ours
    assert sorted(u['symbol'] for u in report['unresolved']) == sorted(
        m.rsplit(' ', 1)[1] for m in theirs if ' needs unknown symbol ' in m)
    assert_same_outputs(pair)


def test_module_file_equals_depmod(kmod, scenarios, tmp_path):
    """The module as Ansible runs it: the node's kmod detected (30 here), or kmod_version: "34"."""
    pair = Pair(kmod, scenarios['basic'], tmp_path)
    pair.run_kmod()
    args = {'basedir': pair.ours, 'kernel_release': REL, 'config_paths': [pair.conf],
            'cache_dir': str(tmp_path / 'cache'), '_ansible_check_mode': False, '_ansible_diff': False}
    detected = kmod.major == host_flavour().version
    if not detected:
        args['kmod_version'] = kmod.version
    args_file = tmp_path / 'args.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, '.build')] + sys.path))
    proc = subprocess.run([sys.executable, MODULE, str(args_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=300, check=False)
    result = json.loads(proc.stdout)
    assert result['changed'] is True, result
    assert (result['kmod']['version'], result['kmod']['detected']) == (kmod.major, detected)
    assert_same_outputs(pair)


# ---------------------------------------------------------------- Debian's tree

def test_debian_tree(kmod, indexed_debian_tree, tmp_path):
    debian_tree = indexed_debian_tree
    outputs = output_names(weakdep=kmod.flavour().weakdep)
    ours_root = str(tmp_path / 'ours')
    module_dir = link_copy(debian_tree.root, debian_tree.release, ours_root)
    for name in outputs:
        os.unlink(os.path.join(module_dir, name))
    empty_conf = str(tmp_path / 'depmod.d')
    os.makedirs(empty_conf)
    report = run_depmod(debian_tree.release, basedir=ours_root, config_paths=[empty_conf],
                        cache_dir=str(tmp_path / 'cache'), flavour=kmod.flavour())
    assert report['modules'] == len(debian_tree.ko_files())
    assert report['written'] == outputs and report['skipped'] == []
    theirs = read_outputs(debian_tree.module_dir)
    ours = read_outputs(module_dir)
    assert sorted(ours) == sorted(theirs) == sorted(outputs)
    assert [n for n in sorted(ours) if ours[n] != theirs[n]] == []
    names = ['e1000e', 'snd_hda_intel', 'dummy', 'btrfs', 'nvme', 'xfs', 'i915', 'kvm_intel', 'usb_storage',
             'ext4', 'virtio_net', 'nf_conntrack', 'bluetooth', 'nosuch']
    release = debian_tree.release
    with kmod.sharing([ours_root, debian_tree.root]):
        for name in names:
            theirs_answer = modprobe(kmod, debian_tree.root, '-D', name, release=release)
            assert modprobe(kmod, ours_root, '-D', name, release=release) == theirs_answer, name
        for alias in ('pci:v00008086d000010D3sv*sd*bc*sc*i*', 'fs-btrfs', 'net-pf-10',
                      'symbol:kvm_irq_has_notifier', 'usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00'):
            assert modprobe(kmod, ours_root, '-R', alias, release=release) == \
                modprobe(kmod, debian_tree.root, '-R', alias, release=release), alias
    # second run: the state shortcut
    again = run_depmod(debian_tree.release, basedir=ours_root, config_paths=[empty_conf],
                       cache_dir=str(tmp_path / 'cache'), flavour=kmod.flavour())
    assert (again['changed'], again['shortcut'], again['modules']) == (False, 'state', report['modules'])


def test_debian_tree_zstd_through_the_program(debian_tree, tmp_path, monkeypatch):
    """Debian's tree with every module zstd-compressed as modules_install
    does, on a node without the zstandard package: files decompressed in
    batches by the zstd program, outputs byte-identical to kmod 30's on
    the same tree."""
    from ansible_collections.kernel.kmod.plugins.module_utils.image import compression
    from tests.lib.compressed_tree import tree_copy
    kmod = get_oracle('kmod30')
    release = debian_tree.release
    theirs_dir = tree_copy(debian_tree, 'zst', str(tmp_path / 'theirs'))
    ours_dir = tree_copy(debian_tree, 'zst', str(tmp_path / 'ours'))
    proc = kmod.depmod(['-b', str(tmp_path / 'theirs'), release])
    assert proc.returncode == 0 and proc.stderr == '', proc.stderr
    monkeypatch.setattr(compression, '_zstandard', None)
    empty_conf = str(tmp_path / 'depmod.d')
    os.makedirs(empty_conf)
    report = run_depmod(release, basedir=str(tmp_path / 'ours'), config_paths=[empty_conf], cache_dir=None,
                        flavour=kmod.flavour())
    assert report['modules'] == len(debian_tree.ko_files()) and report['skipped'] == []
    theirs, ours = read_outputs(theirs_dir), read_outputs(ours_dir)
    assert sorted(ours) == sorted(theirs)
    assert [n for n in sorted(ours) if ours[n] != theirs[n]] == []


def test_debian_tree_kmod_34_layout_holds_the_same_entries(debian_tree, tmp_path):
    """kmod 34's pre-order .bin files: other bytes, same entries; kmod 30's modprobe reads them
    (byte for byte they are compared with kmod 34's own in test_debian_tree)."""
    host = get_oracle('kmod30')
    ours_root = str(tmp_path / 'ours')
    module_dir = link_copy(debian_tree.root, debian_tree.release, ours_root)
    empty_conf = str(tmp_path / 'depmod.d')
    os.makedirs(empty_conf)
    report = run_depmod(debian_tree.release, basedir=ours_root, config_paths=[empty_conf], cache_dir=None,
                        flavour=KmodFlavour(34, host_flavour().features))
    assert report['written'] == ['modules.dep.bin', 'modules.alias.bin', 'modules.weakdep', 'modules.symbols.bin',
                                 'modules.builtin.bin', 'modules.builtin.alias.bin']
    assert all(report['files'][n]['added'] == report['files'][n]['removed'] == 0
               for n in report['written'] if n.endswith('.bin'))
    for name in ('e1000e', 'btrfs', 'i915'):
        assert modprobe(host, ours_root, '-D', name, release=debian_tree.release)[1] == \
            modprobe(host, debian_tree.root, '-D', name, release=debian_tree.release)[1]
    assert os.path.exists(os.path.join(module_dir, 'modules.weakdep'))


# ---------------------------------------------------------------- depmod -A

QUICK_CASES = {
    # what is touched after the indexes were written: (path relative to the base, seconds after modules.dep)
    'nothing': None,
    'a module newer': ('lib/modules/%s/kernel/lib/core.ko' % REL, 5),
    'a module later in the same second': ('lib/modules/%s/kernel/lib/core.ko' % REL, 0.5),
    'modules.order newer': ('lib/modules/%s/modules.order' % REL, 5),
    'modules.builtin newer': ('lib/modules/%s/modules.builtin' % REL, 5),
    'a depmod.d file newer': ('depmod.d/test.conf', 5),
}


@pytest.mark.parametrize('case', sorted(QUICK_CASES))
def test_quick_rebuilds_when_depmod_A_does(kmod, scenarios, tmp_path, case):
    """depmod -A rebuilds only when a module file is newer than modules.dep
    (whole seconds); inputs and depmod.d do not count, for kmod 30 and 34 alike."""
    source = str(tmp_path / 'source')
    shutil.copytree(scenarios['basic'], source, symlinks=True)
    pair = Pair(kmod, source, tmp_path)
    pair.run_kmod()
    pair.run_ours()
    seen = {}
    for which in ('theirs', 'ours'):
        dep = os.path.join(pair.module_dir(which), 'modules.dep')
        written = int(os.stat(dep).st_mtime)
        for dirpath, _dirs, files in os.walk(getattr(pair, which)):
            for name in files:
                os.utime(os.path.join(dirpath, name), (written - 100, written - 100))
        for name in os.listdir(os.path.join(source, 'depmod.d')):
            os.utime(os.path.join(source, 'depmod.d', name), (written - 100, written - 100))
        os.utime(dep, (written, written))
        if QUICK_CASES[case] is not None:
            rel, later = QUICK_CASES[case]
            target = os.path.join(source if rel.startswith('depmod.d') else getattr(pair, which), rel)
            os.utime(target, (written + later, written + later))
        seen[which] = os.stat(dep).st_ino
    pair.run_kmod('-A')
    report = pair.run_ours(quick=True)
    kmod_rebuilt = os.stat(os.path.join(pair.module_dir('theirs'), 'modules.dep')).st_ino != seen['theirs']
    assert (report['shortcut'] != 'quick') == kmod_rebuilt
    assert kmod_rebuilt == (case == 'a module newer')
