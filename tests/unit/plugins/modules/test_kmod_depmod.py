"""kmod_depmod run as Ansible runs it: the module file executed with an args file."""

import shutil

import pytest

from tests.lib.module_runner import run_module as run_module_file
from tests.lib.fakeko import build_ko

REL = '6.1.0-test-amd64'
OUTPUTS_30 = ['modules.dep', 'modules.dep.bin', 'modules.alias', 'modules.alias.bin', 'modules.softdep',
              'modules.symbols', 'modules.symbols.bin', 'modules.builtin.bin', 'modules.builtin.alias.bin',
              'modules.devname']


def run_module(tmp_path, args, check=False, diff=False):
    return run_module_file('kmod_depmod', tmp_path, args, check=check, diff=diff)


@pytest.fixture(scope='module')
def pristine(tmp_path_factory):
    base = tmp_path_factory.mktemp('pristine')
    module_dir = base / 'lib' / 'modules' / REL
    build_ko(str(module_dir / 'kernel' / 'drivers' / 'net' / 'dummy.ko'),
             modinfo=['license=GPL', 'alias=rtnl-link-dummy'], exports=['dummy_sym'])
    build_ko(str(module_dir / 'kernel' / 'user.ko'), modinfo=['license=GPL'], needs=['dummy_sym'])
    build_ko(str(base / 'cyc_a.ko'), exports=['ca'], needs=['cb'])
    build_ko(str(base / 'cyc_b.ko'), exports=['cb'], needs=['ca'])
    (module_dir / 'modules.order').write_text('kernel/drivers/net/dummy.ko\nkernel/user.ko\n')
    (module_dir / 'modules.builtin').write_text('')
    (module_dir / 'modules.builtin.modinfo').write_bytes(b'')
    return base


@pytest.fixture
def root(pristine, tmp_path):
    target = tmp_path / 'root'
    shutil.copytree(str(pristine), str(target))
    (target / 'depmod.d').mkdir()
    return target


def base_args(root, **extra):
    args = {'basedir': str(root), 'kernel_release': REL, 'config_paths': [str(root / 'depmod.d')],
            'cache_dir': str(root / 'cache'), 'kmod_version': '30', 'workers': 1}
    args.update(extra)
    return args


def module_dir(root):
    return root / 'lib' / 'modules' / REL


def test_run_check_diff_and_idempotence(tmp_path, root):
    mdir = module_dir(root)
    checked = run_module(tmp_path, base_args(root), check=True, diff=True)
    assert checked['changed'] is True
    assert checked['releases'][REL]['written'] == OUTPUTS_30
    assert [d['after_header'] for d in checked['diff']] == [
        str(mdir / 'modules.dep'), str(mdir / 'modules.alias'), str(mdir / 'modules.softdep')]
    assert checked['diff'][0]['after'] == 'kernel/drivers/net/dummy.ko:\nkernel/user.ko: kernel/drivers/net/dummy.ko\n'
    assert not (mdir / 'modules.dep').exists() and not (root / 'cache').exists()

    done = run_module(tmp_path, base_args(root))
    assert done['changed'] is True and 'diff' not in done
    release = done['releases'][REL]
    assert release['written'] == OUTPUTS_30
    assert release['modules'] == 2
    assert release['files']['modules.alias'] == {'action': 'create', 'added': 2, 'removed': 0}
    assert done['kmod']['version'] == 30 and done['kmod']['bin_layout'] == 'post'
    assert (mdir / 'modules.dep').read_text() == 'kernel/drivers/net/dummy.ko:\nkernel/user.ko: kernel/drivers/net/dummy.ko\n'
    mtimes = dict((p.name, p.stat().st_mtime_ns) for p in mdir.iterdir() if p.is_file())

    again = run_module(tmp_path, base_args(root), diff=True)
    assert again['changed'] is False and 'diff' not in again
    assert again['releases'][REL]['shortcut'] == 'state'
    assert dict((p.name, p.stat().st_mtime_ns) for p in mdir.iterdir() if p.is_file()) == mtimes


def test_all_and_kmod_34(tmp_path, root):
    result = run_module(tmp_path, base_args(root, kernel_release=['all'], kmod_version='34'))
    assert list(result['releases']) == [REL]
    assert result['kmod']['version'] == 34 and result['kmod']['bin_layout'] == 'pre'
    assert 'modules.weakdep' in result['releases'][REL]['written']
    assert (module_dir(root) / 'modules.weakdep').read_text() == '# Weak dependencies extracted from modules themselves.\n'


def test_cycle_fails_naming_it(tmp_path, root):
    shutil.copy(str(root / 'cyc_a.ko'), str(module_dir(root) / 'cyc_a.ko'))
    shutil.copy(str(root / 'cyc_b.ko'), str(module_dir(root) / 'cyc_b.ko'))
    result = run_module(tmp_path, base_args(root))
    assert result['failed'] is True
    assert result['msg'] == 'kernel release %s: dependency cycle: cyc_b -> cyc_a -> cyc_b; nothing was written' % REL
    assert result['module'] == 'cyc_b'
    assert not (module_dir(root) / 'modules.dep').exists()


def test_missing_release_fails_cleanly(tmp_path, root):
    result = run_module(tmp_path, base_args(root, kernel_release=['9.9-none']))
    assert result['failed'] is True
    assert result['msg'].startswith('kernel release 9.9-none: no module directory (looked for %s/lib/modules/9.9-none'
                                    % root)
    assert result['path'] == '%s/lib/modules/9.9-none' % root


@pytest.mark.parametrize('args, words', [
    ({'symvers': '/a', 'system_map': '/b'}, 'mutually exclusive'),
    ({'workers': 0}, 'workers must be at least 1'),
    ({'kmod_version': 'new'}, "kmod_version 'new' is not a kmod version number"),
])
def test_bad_options_fail_cleanly(tmp_path, root, args, words):
    result = run_module(tmp_path, base_args(root, **args))
    assert result['failed'] is True
    assert words in result['msg']


def test_unresolved_symbols(tmp_path, root):
    system_map = root / 'System.map'
    system_map.write_text('ffffffff82000000 r __ksymtab_printk\n')
    build_ko(str(module_dir(root) / 'extra' / 'needy.ko'), modinfo=['license=GPL'], needs=['printk', 'nowhere'])
    result = run_module(tmp_path, base_args(root, check_symbols=True, system_map=str(system_map)))
    assert result['changed'] is True
    assert result['releases'][REL]['unresolved'] == [
        {'module': 'needy', 'path': str(module_dir(root) / 'extra' / 'needy.ko'), 'symbol': 'nowhere'}]
    failed = run_module(tmp_path, base_args(root, fail_on_unresolved=True, system_map=str(system_map)))
    assert failed['failed'] is True
    assert failed['msg'].endswith('needy.ko needs unknown symbol nowhere')
