"""tests/lib/kmod_oracle: what the chroot oracle shares, and which files of a
depmod run inside the root come back to the host's tree."""

import json
import os

import pytest

from tests.lib import kmod_chroot
from tests.lib.kmod_oracle import ChrootKmod, HostKmod, _module_dirs


@pytest.fixture
def oracle(tmp_path):
    home = tmp_path / 'home'
    os.makedirs(str(home / 'root' / 'proc'))
    (home / kmod_chroot.META).write_text(json.dumps({'kmod_version': '34.2', 'features': {'ZLIB': False}}))
    return ChrootKmod(kmod_chroot.KmodRoot(str(home)))


def tree(tmp_path, release='6.1.0-t'):
    base = tmp_path / 'tree'
    module_dir = base / 'lib' / 'modules' / release
    os.makedirs(str(module_dir / 'kernel'))
    (module_dir / 'kernel' / 'a.ko').write_text('elf')
    (module_dir / 'modules.order').write_text('kernel/a.ko\n')
    (module_dir / 'modules.dep').write_text('old\n')
    return str(base), str(module_dir)


def test_flavour_follows_the_roots_kmod(oracle):
    flavour = oracle.flavour()
    assert (flavour.version, flavour.layout, flavour.weakdep) == (34, 'pre', True)
    assert '.ko.gz' not in flavour.suffixes
    assert oracle.id == 'kmod34' and '34.2' in oracle.name


def test_what_depmod_wrote_inside_comes_back(oracle, tmp_path):
    base, module_dir = tree(tmp_path)
    placed = oracle.root.share([base])
    inside = oracle.root.inside(module_dir)
    # depmod replaces modules.dep (a new inode) and adds modules.alias; the
    # hard-linked inputs stay as they were
    os.unlink(os.path.join(inside, 'modules.dep'))
    with open(os.path.join(inside, 'modules.dep'), 'w') as f:
        f.write('kernel/a.ko:\n')
    with open(os.path.join(inside, 'modules.alias'), 'w') as f:
        f.write('# Aliases extracted from modules themselves.\n')
    order_inode = os.stat(os.path.join(module_dir, 'modules.order')).st_ino
    oracle._bring_back(base)
    oracle.root.unshare(placed)
    with open(os.path.join(module_dir, 'modules.dep')) as f:
        assert f.read() == 'kernel/a.ko:\n'
    assert os.path.exists(os.path.join(module_dir, 'modules.alias'))
    assert os.stat(os.path.join(module_dir, 'modules.order')).st_ino == order_inode
    assert sorted(os.listdir(module_dir)) == ['kernel', 'modules.alias', 'modules.dep', 'modules.order']
    assert not os.path.exists(inside)


def test_sharing_covers_the_paths_below_it(oracle, tmp_path):
    base, module_dir = tree(tmp_path)
    with oracle.sharing([base]):
        assert os.path.isdir(oracle.root.inside(module_dir))
        assert oracle._share([module_dir, base]) == []  # already there: nothing copied twice
        other = tmp_path / 'other'
        other.mkdir()
        placed = oracle._share([str(other)])
        assert placed == [oracle.root.inside(str(other))]
        oracle.root.unshare(placed)
    assert not os.path.exists(oracle.root.inside(base))
    assert oracle.active == []


def test_module_dirs_of_a_base(tmp_path):
    base, module_dir = tree(tmp_path)
    os.symlink(module_dir, os.path.join(base, 'lib', 'modules', 'linked'))
    assert _module_dirs(base) == [module_dir]
    assert _module_dirs(module_dir) == [module_dir]
    assert _module_dirs(str(tmp_path / 'nothing')) == []


def test_host_kmod_reads_its_version():
    if not os.path.exists('/sbin/depmod'):
        pytest.skip('no kmod on this machine')
    host = HostKmod()
    assert host.major >= 30 and host.flavour().version == host.major
