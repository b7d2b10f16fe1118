"""The collection as users install it: `ansible-galaxy collection build`, then
`install` into an empty collections path, then each module run from there
against the VM, and the demo playbook of the installed copy (both roles) on a
VM of its own, since it changes what the other tests start from.

AnsiballZ must pack the library's packages (module_utils/depmod/,
load/, ...) for every module; a module that imported a file the tarball
lacks, or that Ansible failed to find, would fail here and nowhere else,
since the other tests use this checkout through a symlink.
"""

import os
import shutil
import subprocess
import tarfile

import pytest

from tests.vm.ansible_run import REPO, ansible_env, ansible_tool, run_module, run_playbook
from tests.vm.vm import VM

pytestmark = pytest.mark.vm


def tracked_files():
    out = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=REPO, check=True,
                         stdout=subprocess.PIPE).stdout
    return [p for p in out.decode().split('\0') if p and os.path.isfile(os.path.join(REPO, p))]


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """(collections path, names in the tarball) of a build from the tracked files."""
    work = tmp_path_factory.mktemp('galaxy')
    source = work / 'src' / 'ansible_collections' / 'kernel' / 'kmod'
    for rel in tracked_files():
        dest = source / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), str(dest))
    subprocess.run([ansible_tool('ansible-galaxy'), 'collection', 'build', '--output-path', str(work)],
                   cwd=str(source), check=True, stdout=subprocess.PIPE)
    tarball = str(next(work.glob('kernel-kmod-*.tar.gz')))
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    collections = str(work / 'collections')
    # with this checkout on ANSIBLE_COLLECTIONS_PATH galaxy would find kernel.kmod installed already
    subprocess.run([ansible_tool('ansible-galaxy'), 'collection', 'install', '-p', collections, tarball],
                   check=True, stdout=subprocess.PIPE, env=ansible_env(collections_path=collections))
    installed = os.path.join(collections, 'ansible_collections', 'kernel', 'kmod')
    assert os.path.isfile(os.path.join(installed, 'MANIFEST.json')) and not os.path.islink(installed)
    return collections, names


def test_tarball_holds_every_library_package(installed):
    _path, names = installed
    for rel in tracked_files():
        if rel.startswith('plugins/') and rel.endswith('.py'):
            assert rel in names, rel
    assert not [n for n in names if n.startswith(('.venv', '.build', 'tests/output')) or '__pycache__' in n]


def test_kmod_facts_from_the_installed_collection(vm, installed):
    path, _names = installed
    result = run_module(vm, 'kernel.kmod.kmod_facts', {'modules': ['dummy']}, collections_path=path)
    assert result['_status'] == 'ok', result
    facts = result['ansible_facts']['kmod']
    assert facts['loaded'] and facts['builtin']


def test_kmod_depmod_from_the_installed_collection(vm, installed):
    path, _names = installed
    result = run_module(vm, 'kernel.kmod.kmod_depmod', {}, check=True, collections_path=path)
    assert result['_status'] in ('ok', 'changed'), result


def test_kmod_load_from_the_installed_collection(vm, installed):
    path, _names = installed
    result = run_module(vm, 'kernel.kmod.kmod_load', {'name': 'dummy'}, check=True, collections_path=path)
    assert result['_status'] in ('ok', 'changed'), result


def test_demo_playbook_from_the_installed_collection(installed):
    path, names = installed
    demo = os.path.join(path, 'ansible_collections', 'kernel', 'kmod', 'playbooks', 'demo.yml')
    assert os.path.isfile(demo) and 'playbooks/rolling.yml' in names
    with VM() as machine:
        play = run_playbook(machine, demo, collections_path=path, timeout=1800)
    assert play.rc == 0, play.stdout[-3000:] + play.stderr[-3000:]
    shown = play.task('Show the host before and after')['result']['msg']
    after = shown[shown.index(next(line for line in shown if line.startswith('after:'))):]
    assert after[0] == 'after: loaded brd, dummy (brd rd_nr=2)', shown
    assert after[1] == '  blacklisted: pcspkr, floppy; disabled: floppy', shown
    # systemd's /usr/lib/modprobe.d/systemd.conf has 'options dummy numdummies=0'; the role's file comes after it
    assert after[2] == '  loaded at boot: brd, dummy; options at boot: brd rd_nr=2, dummy numdummies=0 numdummies=2', shown
    assert after[3].endswith(': current'), shown
    assert shown[-1] == 'reboot required: False', shown
