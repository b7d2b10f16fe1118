import errno
import json
import os
import shutil
import tempfile

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.kernel import state as kernel_state
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState, parse_proc_modules
from tests.lib.fake_kernel import WRITE_ONLY, FakeKernel


# -- /proc/modules parsing ---------------------------------------------------

REAL_LINES = (
    'bridge 380928 1 br_netfilter, Live 0xffffffffc0a55000\n'
    'stp 16384 1 bridge, Live 0xffffffffc0a4f000\n'
    'llc 16384 2 bridge,stp, Live 0xffffffffc0a45000\n'
    'vboxdrv 663552 2 vboxnetadp,vboxnetflt, Live 0x0000000000000000 (OE)\n'
    'dummy 16384 0 - Loading 0xffffffffc0a00000 (O+)\n'
    'nvidia 56807424 0 [permanent], Live 0xffffffffc1000000 (POE)\n'
)


def test_parse_real_lines():
    mods, warnings = parse_proc_modules(REAL_LINES)
    assert warnings == []
    assert list(mods) == ['bridge', 'stp', 'llc', 'vboxdrv', 'dummy', 'nvidia']
    assert mods['llc'] == {'size': 16384, 'refcnt': 2, 'used_by': ['bridge', 'stp'], 'permanent': False,
                           'state': 'Live', 'address': '0xffffffffc0a45000', 'taint': ''}
    assert mods['vboxdrv']['taint'] == 'OE'
    assert mods['vboxdrv']['address'] == '0x0000000000000000'
    assert mods['dummy'] == {'size': 16384, 'refcnt': 0, 'used_by': [], 'permanent': False,
                             'state': 'Loading', 'address': '0xffffffffc0a00000', 'taint': 'O'}
    assert mods['nvidia']['permanent'] is True
    assert mods['nvidia']['used_by'] == []
    assert mods['nvidia']['taint'] == 'POE'


def test_parse_kernel_without_module_unload():
    mods, warnings = parse_proc_modules('dummy 16384 - - Live 0xffffffffc0a00000\n')
    assert warnings == []
    assert mods['dummy']['refcnt'] is None
    assert mods['dummy']['used_by'] == []


def test_parse_unloading_marker_is_not_a_taint_letter():
    mods = parse_proc_modules('x 1 0 - Unloading 0x1 (E-)\n')[0]
    assert mods['x']['state'] == 'Unloading'
    assert mods['x']['taint'] == 'E'


@pytest.mark.parametrize('line, reason', [
    ('', '1 fields'),
    ('dummy 16384 0 - Live', '5 fields'),
    ('dummy 16384 0 - Live 0x0 (O) extra', '8 fields'),
    ('dummy  16384 0 - Live 0x0', 'extra spaces'),
    ('dummy 16384 0 - Live 0x0 ', 'extra spaces'),
    (' dummy 16384 0 - Live 0x0', 'extra spaces'),
    ('dummy big 0 - Live 0x0', "size 'big' is not a decimal number"),
    ('dummy -5 0 - Live 0x0', "size '-5' is not a decimal number"),
    ('dummy \u00b2 0 - Live 0x0', 'is not a decimal number'),
    ('dummy 1 x - Live 0x0', "refcnt 'x' is neither a number nor -"),
    ('dummy 1 0 a,b Live 0x0', "does not end with ','"),
    ('dummy 1 0 a,,b, Live 0x0', 'empty name in users column'),
    ('dummy 1 0 - Dead 0x0', "state 'Dead' is not Live, Loading or Unloading"),
    ('dummy 1 0 - Live ffff', "address 'ffff' is not 0x and hex digits"),
    ('dummy 1 0 - Live 0x', "address '0x' is not 0x and hex digits"),
    ('dummy 1 0 - Live 0x0 OE', "taint column 'OE' is not in parentheses"),
    ('dummy 1 0 - Live 0x0 (oe)', 'has characters other than capital letters'),
    ('du/mmy 1 0 - Live 0x0', 'unprintable characters or a slash'),
    ('dummy\t1 0 - Live 0x0', '5 fields'),
])
def test_odd_lines_are_skipped_with_a_warning(line, reason):
    text = 'ok 1 0 - Live 0x0\n' + line + '\nok2 2 0 - Live 0x0\n'
    mods, warnings = parse_proc_modules(text, '/proc/modules')
    assert list(mods) == ['ok', 'ok2']
    assert len(warnings) == 1
    assert warnings[0].startswith('/proc/modules line 2: skipped, ')
    assert reason in warnings[0]


def test_duplicate_module_keeps_the_first():
    mods, warnings = parse_proc_modules('a 1 0 - Live 0x0\na 2 0 - Live 0x0\n')
    assert mods['a']['size'] == 1
    assert warnings == ['/proc/modules line 2: skipped, module a listed twice']


def test_empty_file_and_missing_final_newline():
    assert parse_proc_modules('') == ({}, [])
    mods, warnings = parse_proc_modules('a 1 0 - Live 0x0')
    assert list(mods) == ['a'] and warnings == []


def test_long_odd_line_is_shortened_in_the_warning():
    warnings = parse_proc_modules('x' * 500 + '\n')[1]
    assert len(warnings[0]) < 200
    assert warnings[0].endswith("...'")


def test_fake_kernel_renders_lines_the_parser_reads_back(tmp_path):
    fk = FakeKernel(tmp_path)
    fk.add_module('llc', size=16384, used_by=['bridge', 'stp'])
    fk.add_module('vboxdrv', size=663552, taint='OE', state='Unloading', used_by=['vboxnetflt'])
    fk.add_module('nvidia', permanent=True, taint='POE')
    assert fk.proc_modules_line(fk.modules[0]) == 'llc 16384 2 bridge,stp, Live 0xffffffffc0000000'
    assert fk.proc_modules_line(fk.modules[1]) == \
        'vboxdrv 663552 1 vboxnetflt, Unloading 0xffffffffc0000000 (OE-)'
    assert fk.proc_modules_line(fk.modules[2]) == \
        'nvidia 16384 0 [permanent], Live 0xffffffffc0000000 (POE)'
    fk.without_module_unload()
    assert fk.proc_modules_line(fk.modules[0]) == 'llc 16384 - - Live 0xffffffffc0000000'


# -- KernelState on fake roots ------------------------------------------------

def _typical(tmp_path):
    return (FakeKernel(tmp_path)
            .add_module('dummy', size=16384, params={'numdummies': '1'}, srcversion='ABCDEF0123456789ABCDEF0')
            .add_module('bridge', size=380928, used_by=['br_netfilter'], version='2.3', coresize=370000,
                        initsize=4096, params={'dummy_arr': '1,2,3', 'empty': ''})
            .add_module('br_netfilter', size=32768)
            .add_module('vboxdrv', size=663552, taint='OE')
            .add_builtin('printk', params={'time': 'Y', 'console_suspend': 'Y'})
            .add_builtin('tcp_cubic', version='2.3')
            .add_builtin('kernel', params={'panic': '0'})
            .set_tainted(12288)
            .set_compression('zstd')
            .set_sig_enforce(False))


def test_proc_modules(tmp_path):
    ks = KernelState(_typical(tmp_path).write())
    mods = ks.proc_modules()
    assert list(mods) == ['dummy', 'bridge', 'br_netfilter', 'vboxdrv']
    assert mods['bridge'] == {'size': 380928, 'refcnt': 1, 'used_by': ['br_netfilter'], 'permanent': False,
                              'state': 'Live', 'address': '0xffffffffc0000000', 'taint': ''}
    assert ks.warnings == []


def test_loaded_merges_proc_and_sysfs(tmp_path):
    ks = KernelState(_typical(tmp_path).write())
    loaded = ks.loaded()
    assert sorted(loaded) == ['br_netfilter', 'bridge', 'dummy', 'vboxdrv']
    assert loaded['bridge'] == {
        'size': 380928, 'refcnt': 1, 'used_by': ['br_netfilter'], 'holders': ['br_netfilter'],
        'permanent': False, 'state': 'Live', 'initstate': 'live', 'address': '0xffffffffc0000000',
        'taint': '', 'srcversion': None, 'version': '2.3', 'coresize': 370000, 'initsize': 4096,
        'in_proc_modules': True, 'in_sysfs': True,
    }
    assert loaded['dummy']['srcversion'] == 'ABCDEF0123456789ABCDEF0'
    assert loaded['vboxdrv']['taint'] == 'OE'
    assert 'params' not in loaded['dummy']
    assert ks.warnings == [] and ks.unreadable_params == []


def test_loaded_lazily_is_loaded_read_on_demand(tmp_path):
    root = _typical(tmp_path).write()
    ks = KernelState(root)
    lazy = ks.loaded_lazily()
    # the sysfs of a module is read only when its value is asked for: take one away first
    shutil.rmtree(os.path.join(root, 'sys/module/vboxdrv'))
    assert sorted(lazy) == ['br_netfilter', 'bridge', 'dummy', 'vboxdrv'] and len(lazy) == 4
    assert 'bridge' in lazy and 'nosuch' not in lazy and lazy.state('bridge') == 'Live'
    assert lazy['bridge'] == KernelState(root).loaded()['bridge']
    assert lazy['vboxdrv']['in_sysfs'] is False and lazy['vboxdrv']['holders'] == []
    with pytest.raises(KeyError):
        lazy['nosuch']
    assert lazy.get('nosuch') is None
    # a planner's additions and removals
    lazy['new'] = {'refcnt': 0, 'holders': []}
    lazy.setdefault('dummy', {'replaced': True})
    del lazy['br_netfilter']
    assert sorted(lazy) == ['bridge', 'dummy', 'new', 'vboxdrv'] and lazy['dummy']['size'] == 16384
    assert dict(lazy)['new'] == {'refcnt': 0, 'holders': []}


def test_loaded_lazily_equals_loaded(tmp_path):
    root = _typical(tmp_path).write()
    assert dict(KernelState(root).loaded_lazily()) == KernelState(root).loaded()
    empty = FakeKernel(tmp_path / 'empty').write()
    assert dict(KernelState(empty).loaded_lazily()) == KernelState(empty).loaded() == {}


def test_loaded_with_params(tmp_path):
    ks = KernelState(_typical(tmp_path).write())
    loaded = ks.loaded(params=True)
    assert loaded['dummy']['params'] == {'numdummies': '1'}
    assert loaded['bridge']['params'] == {'dummy_arr': '1,2,3', 'empty': ''}
    assert loaded['vboxdrv']['params'] == {}


def test_builtin_in_sysfs(tmp_path):
    ks = KernelState(_typical(tmp_path).write())
    # 'module' is there because sig_enforce lives in /sys/module/module/parameters
    assert ks.builtin_in_sysfs() == {
        'kernel': {'version': None}, 'module': {'version': None},
        'printk': {'version': None}, 'tcp_cubic': {'version': '2.3'},
    }
    with_params = ks.builtin_in_sysfs(params=True)
    assert with_params['printk'] == {'version': None, 'params': {'console_suspend': 'Y', 'time': 'Y'}}
    assert with_params['tcp_cubic'] == {'version': '2.3', 'params': {}}
    assert with_params['module']['params'] == {'sig_enforce': 'N'}


def test_survey_is_both_in_one_pass(tmp_path):
    ks = KernelState(_typical(tmp_path).write())
    got = ks.survey()
    assert sorted(got) == ['builtin', 'loaded']
    assert sorted(got['loaded']) == ['br_netfilter', 'bridge', 'dummy', 'vboxdrv']
    assert sorted(got['builtin']) == ['kernel', 'module', 'printk', 'tcp_cubic']


def test_module_coming_up_is_not_builtin(tmp_path):
    root = (FakeKernel(tmp_path)
            .add_module('slowinit', state='Loading', params={'delay': '5'}, sysfs='bare')
            .add_builtin('printk', params={'time': 'Y'})
            .write())
    ks = KernelState(root)
    assert sorted(ks.builtin_in_sysfs()) == ['printk']
    got = ks.loaded()['slowinit']
    assert got['state'] == 'Loading'
    assert got['initstate'] is None
    assert got['in_sysfs'] is True


def test_module_in_proc_without_sysfs_dir(tmp_path):
    root = FakeKernel(tmp_path).add_module('early', sysfs='none').write()
    got = KernelState(root).loaded(params=True)['early']
    assert got['size'] == 16384 and got['state'] == 'Live'
    assert got['initstate'] is None and got['holders'] == [] and got['params'] == {}
    assert got['in_sysfs'] is False


def test_module_in_sysfs_only(tmp_path):
    # loaded between the two reads: sysfs has it, /proc/modules not yet
    fk = FakeKernel(tmp_path).add_module('late', taint='E', refcnt=3)
    root = fk.write()
    with open(os.path.join(root, 'proc/modules'), 'w'):
        pass
    got = KernelState(root).loaded()['late']
    assert got['state'] == 'Live' and got['initstate'] == 'live'
    assert got['size'] is None and got['address'] is None
    assert got['refcnt'] == 3 and got['taint'] == 'E'
    assert got['in_proc_modules'] is False


def test_module_sysfs(tmp_path):
    ks = KernelState(_typical(tmp_path).write())
    assert ks.module_sysfs('bridge') == {
        'initstate': 'live', 'taint': '', 'srcversion': None, 'version': '2.3',
        'refcnt': 1, 'coresize': 370000, 'initsize': 4096, 'holders': ['br_netfilter'],
    }
    assert ks.module_sysfs('printk', params=True) == {
        'initstate': None, 'taint': None, 'srcversion': None, 'version': None,
        'refcnt': None, 'coresize': None, 'initsize': None, 'holders': [],
        'params': {'console_suspend': 'Y', 'time': 'Y'},
    }
    assert ks.module_sysfs('absent') is None
    # names are normalised as the kernel stores them
    assert ks.module_sysfs('br-netfilter')['initstate'] == 'live'


@pytest.mark.parametrize('bad', ['', '.', '..', 'a/b', '../../etc'])
def test_module_sysfs_refuses_path_names(tmp_path, bad):
    ks = KernelState(FakeKernel(tmp_path).write())
    with pytest.raises(KmodError) as err:
        ks.module_sysfs(bad)
    assert 'invalid module name' in str(err.value)


def test_kernel_without_module_unload(tmp_path):
    root = (FakeKernel(tmp_path).without_module_unload()
            .add_module('dummy').add_module('bridge', used_by=['stp']).write())
    loaded = KernelState(root).loaded()
    assert loaded['dummy']['refcnt'] is None
    assert loaded['bridge']['refcnt'] is None
    assert loaded['bridge']['used_by'] == []
    assert loaded['bridge']['holders'] == ['stp']


def test_kernel_without_modules(tmp_path):
    root = FakeKernel(tmp_path).without_modules().add_builtin('printk', params={'time': 'N'}).write()
    ks = KernelState(root)
    assert ks.modules_supported() is False
    assert ks.proc_modules() == {}
    assert ks.loaded() == {}
    assert ks.builtin_in_sysfs(params=True) == {'printk': {'version': None, 'params': {'time': 'N'}}}
    assert ks.modules_disabled() is None
    assert ks.warnings == []


def test_odd_proc_lines_warn_with_the_file_and_line(tmp_path):
    root = (FakeKernel(tmp_path).add_module('dummy')
            .add_proc_line('garbage').add_proc_line('').add_module('bridge').write())
    ks = KernelState(root)
    assert sorted(ks.proc_modules()) == ['bridge', 'dummy']
    path = os.path.join(root, 'proc/modules')
    assert ks.warnings == [
        "%s line 3: skipped, 1 fields, expected 6 or 7 separated by single spaces: 'garbage'" % path,
        "%s line 4: skipped, 1 fields, expected 6 or 7 separated by single spaces: ''" % path,
    ]
    ks.proc_modules()
    assert len(ks.warnings) == 2  # not repeated


def test_unreadable_proc_modules_is_an_error(tmp_path):
    root = FakeKernel(tmp_path).write()
    os.remove(os.path.join(root, 'proc/modules'))
    os.mkdir(os.path.join(root, 'proc/modules'))
    with pytest.raises(KmodError) as err:
        KernelState(root).proc_modules()
    assert err.value.path == os.path.join(root, 'proc/modules')
    assert str(err.value).startswith('cannot read %s: ' % err.value.path)


def test_parameter_that_is_a_directory_is_counted_and_warned(tmp_path):
    root = FakeKernel(tmp_path).add_module('dummy', params={'ok': '1'}).write()
    os.mkdir(os.path.join(root, 'sys/module/dummy/parameters/odd'))
    ks = KernelState(root)
    assert ks.loaded(params=True)['dummy']['params'] == {'ok': '1', 'odd': None}
    assert ks.unreadable_params == ['dummy.odd']
    assert len(ks.warnings) == 1
    assert ks.warnings[0].startswith('cannot read parameter %s: ' % os.path.join(
        root, 'sys/module/dummy/parameters/odd'))


def _params_as_nobody(root):
    """Read the parameters of 'dummy' with the permissions of nobody (root
    reads mode 0200 files; the kernel refuses even root, which this stands
    for).  Returns (params, unreadable, warnings)."""
    def read():
        ks = KernelState(root)
        return ks.module_params('dummy'), ks.unreadable_params, ks.warnings
    if os.geteuid() != 0:
        return read()
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            os.close(rfd)
            os.setgid(65534)
            os.setuid(65534)
            os.write(wfd, json.dumps(read()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(wfd)
    chunks = []
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(rfd)
    status = os.waitpid(pid, 0)[1]
    assert status == 0
    return tuple(json.loads(b''.join(chunks).decode()))


def test_write_only_parameter_is_none_and_counted():
    # a world-readable root: the check runs as nobody when the tests run as root
    base = tempfile.mkdtemp(prefix='kmod-fake-kernel-')
    try:
        os.chmod(base, 0o755)
        root = FakeKernel(base).add_module('dummy', params={'numdummies': '2', 'secret': WRITE_ONLY}).write()
        params, unreadable, warnings = _params_as_nobody(root)
    finally:
        shutil.rmtree(base)
    assert params == {'numdummies': '2', 'secret': None}
    assert unreadable == ['dummy.secret']
    assert warnings == []


def test_kernel_wide_settings(tmp_path):
    ks = KernelState(_typical(tmp_path).write())
    assert ks.compression() == 'zstd'
    assert ks.sig_enforce() is False
    assert ks.modules_disabled() is False
    assert ks.tainted() == 12288
    assert ks.release() == '6.1.0-test-amd64'
    assert ks.cmdline() == 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-test-amd64 root=/dev/vda ro quiet'
    assert ks.modules_supported() is True
    assert ks.warnings == []


def test_kernel_wide_settings_absent(tmp_path):
    root = (FakeKernel(tmp_path).set_tainted(None).set_release(None).set_cmdline(None)
            .set_modules_disabled(None).write())
    ks = KernelState(root)
    assert ks.compression() is None
    assert ks.sig_enforce() is None
    assert ks.modules_disabled() is None
    assert ks.tainted() is None
    assert ks.release() is None  # no uname fallback for a fake root
    assert ks.cmdline() is None
    assert ks.warnings == []


def test_kernel_wide_settings_other_values(tmp_path):
    root = (FakeKernel(tmp_path).set_sig_enforce(True).set_modules_disabled(1)
            .set_compression('xz').set_tainted(0).write())
    ks = KernelState(root)
    assert ks.sig_enforce() is True
    assert ks.modules_disabled() is True
    assert ks.compression() == 'xz'
    assert ks.tainted() == 0


def test_kernel_wide_settings_garbage_warns(tmp_path):
    root = (FakeKernel(tmp_path).set_sig_enforce('maybe\n')
            .set_file('/proc/sys/kernel/tainted', 'lots\n')
            .set_file('/proc/sys/kernel/modules_disabled', '-\n').write())
    ks = KernelState(root)
    assert ks.sig_enforce() is None
    assert ks.tainted() is None
    assert ks.modules_disabled() is None

    def p(rel):
        return os.path.join(root, rel)
    assert ks.warnings == [
        "%s: expected Y or N, got 'maybe'" % p('sys/module/module/parameters/sig_enforce'),
        "%s: expected an integer, got 'lots'" % p('proc/sys/kernel/tainted'),
        "%s: expected an integer, got '-'" % p('proc/sys/kernel/modules_disabled'),
    ]


def test_cmdline_keeps_inner_spaces(tmp_path):
    root = FakeKernel(tmp_path).set_cmdline('a  b=" c "').write()
    assert KernelState(root).cmdline() == 'a  b=" c "'


def test_bad_sysfs_integer_warns_and_gives_none(tmp_path):
    root = FakeKernel(tmp_path).add_module('dummy').write()
    with open(os.path.join(root, 'sys/module/dummy/coresize'), 'w') as f:
        f.write('12k\n')
    ks = KernelState(root)
    assert ks.loaded()['dummy']['coresize'] is None
    assert ks.warnings == ["%s: expected an integer, got '12k'" % os.path.join(root, 'sys/module/dummy/coresize')]


def test_fake_kernel_write_is_repeatable(tmp_path):
    fk = FakeKernel(tmp_path).add_module('dummy', params={'secret': WRITE_ONLY})
    fk.write()
    fk.add_module('bridge').set_compression('xz')
    root = fk.write()
    ks = KernelState(root)
    assert sorted(ks.loaded()) == ['bridge', 'dummy']
    assert ks.compression() == 'xz'
    fk.set_compression(None).write()
    assert ks.compression() is None


# -- the real kernel of this machine ----------------------------------------

def _independent_proc_modules():
    with open('/proc/modules') as f:
        out = {}
        for line in f:
            parts = line.split()
            out[parts[0]] = {'size': int(parts[1]), 'refcnt': None if parts[2] == '-' else int(parts[2]),
                             'state': parts[4]}
        return out


def test_real_proc_modules_agrees_with_cat():
    if not os.path.exists('/proc/modules'):
        pytest.skip('this kernel has no /proc/modules (built without module support)')
    ks = KernelState('/')
    mods = ks.proc_modules()
    want = _independent_proc_modules()
    assert ks.warnings == []
    assert sorted(mods) == sorted(want)
    for name, info in want.items():
        assert mods[name]['size'] == info['size']
        assert mods[name]['state'] == info['state']
    loaded = ks.loaded()
    assert sorted(loaded) == sorted(want)


def test_real_sys_module_agrees_with_listing():
    if not os.path.isdir('/sys/module'):
        pytest.skip('no /sys/module here')
    proc = _independent_proc_modules() if os.path.exists('/proc/modules') else {}
    want_builtin = set()
    want_loaded = set(proc)
    for name in os.listdir('/sys/module'):
        d = os.path.join('/sys/module', name)
        if not os.path.isdir(d):
            continue
        if os.path.exists(os.path.join(d, 'initstate')):
            want_loaded.add(name)
        elif name not in proc:
            want_builtin.add(name)
    ks = KernelState('/')
    got = ks.survey(params=True)
    assert set(got['builtin']) == want_builtin
    assert set(got['loaded']) == want_loaded
    for name, info in got['builtin'].items():
        pdir = os.path.join('/sys/module', name, 'parameters')
        names = sorted(os.listdir(pdir)) if os.path.isdir(pdir) else []
        assert sorted(info['params']) == names
        for param, value in info['params'].items():
            if value is not None and param not in ('', ):
                with open(os.path.join(pdir, param), 'rb') as f:
                    raw = f.read().decode('utf-8', 'replace')
                assert value == (raw[:-1] if raw.endswith('\n') else raw)
    assert len(ks.unreadable_params) == sum(
        1 for info in got['builtin'].values() for v in info['params'].values() if v is None) + sum(
        1 for info in got['loaded'].values() for v in info['params'].values() if v is None)


def test_real_kernel_wide_settings():
    ks = KernelState('/')
    assert ks.release() == os.uname()[2]
    if os.path.exists('/proc/sys/kernel/tainted'):
        with open('/proc/sys/kernel/tainted') as f:
            assert ks.tainted() == int(f.read())
    if os.path.exists('/proc/cmdline'):
        with open('/proc/cmdline') as f:
            assert ks.cmdline() == f.read().rstrip('\n')
    assert ks.modules_supported() == os.path.exists('/proc/modules')
    assert ks.compression() == (open('/sys/module/compression').read().strip()
                                if os.path.exists('/sys/module/compression') else None)
    assert ks.warnings == []


def test_release_falls_back_to_uname_only_for_the_real_root(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel_state, 'OSRELEASE', '/proc/sys/kernel/no-such-osrelease')
    assert KernelState('/').release() == os.uname()[2]
    assert KernelState(str(tmp_path)).release() is None


def test_survey_reads_sysfs_dirs_by_their_own_names(tmp_path):
    # the kernel names dirs with '_', but a survey must not rename what it finds
    root = FakeKernel(tmp_path).add_builtin('odd-name', params={'x': '1'}).write()
    assert KernelState(root).builtin_in_sysfs(params=True) == {'odd-name': {'version': None, 'params': {'x': '1'}}}


def test_module_param_modes(tmp_path):
    root = (FakeKernel(tmp_path).add_module('brd', params={'rd_nr': '2', 'rd_size': '4096'},
                                            param_modes={'rd_nr': 0o444})
            .add_builtin('printk', params={'time': 'Y'}).write())
    state = KernelState(root)
    assert state.module_param_modes('brd') == {'rd_nr': 0o444, 'rd_size': 0o644}
    assert state.module_param_modes('printk') == {'time': 0o644}
    assert state.module_param_modes('nosuch') == {}
    os.symlink('/etc/passwd', os.path.join(root, 'sys/module/brd/parameters/evil'))
    assert 'evil' not in state.module_param_modes('brd')


# -- reading kernel files ------------------------------------------------------

def test_read_bytes_reads_past_one_chunk_and_empty_files(tmp_path):
    big = tmp_path / 'big'
    big.write_bytes(b'x' * 200000 + b'\n')
    empty = tmp_path / 'empty'
    empty.write_bytes(b'')
    assert kernel_state._read_bytes(str(big)) == b'x' * 200000 + b'\n'
    assert kernel_state._read_bytes(str(empty)) == b''
    with pytest.raises(OSError) as info:
        kernel_state._read_bytes(str(tmp_path))
    assert info.value.errno == errno.EISDIR
    with pytest.raises(OSError) as info:
        kernel_state._read_bytes(str(tmp_path / 'absent'))
    assert info.value.errno == errno.ENOENT


@pytest.mark.parametrize('text, decimal', [
    ('0', True), ('16384', True), ('', False), ('-1', False), ('1 ', False), ('0x10', False),
    ('\u0663', False), ('1\u0663', False), ('\u00b2', False)])
def test_is_decimal_takes_ascii_digits_only(text, decimal):
    assert kernel_state._is_decimal(text) is decimal


def test_survey_skips_sysfs_attributes_proc_modules_gives(tmp_path):
    # refcnt and taint come from /proc/modules when it has them; the sysfs
    # files are not read (made unreadable here: reading one would warn).
    root = FakeKernel(tmp_path).add_module('dummy').write()
    for attr in ('refcnt', 'taint'):
        path = os.path.join(root, 'sys/module/dummy', attr)
        if os.path.exists(path):
            os.remove(path)
        os.mkdir(path)
    ks = KernelState(root)
    loaded = ks.loaded()
    assert loaded['dummy']['refcnt'] == 0 and loaded['dummy']['taint'] == ''
    assert ks.warnings == []


def test_survey_reads_sysfs_refcnt_without_module_unload(tmp_path):
    root = FakeKernel(tmp_path).without_module_unload().add_module('dummy').write()
    with open(os.path.join(root, 'sys/module/dummy/refcnt'), 'w') as f:
        f.write('3\n')
    assert KernelState(root).loaded()['dummy']['refcnt'] == 3
