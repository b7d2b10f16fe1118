"""kernel_calls against a real kernel: the syscalls, their errors and the kernel log.

The library's module_utils go to the VM inside one Python script (a base64
tarball unpacked under a temp dir as ansible_collections/kernel/kmod/...),
which runs every step on the VM's kernel and prints one JSON document: for
each step what the call did (method, or errno, message and kernel log) and
what the kernel shows afterwards (/sys/module, `ip link`, taint).  The
checks here read that document; the VM's own tools (modinfo, modprobe, ip,
/boot/config) give the expectations.
"""

import json

import pytest

from tests.lib.library_payload import guest_script

pytestmark = pytest.mark.vm

GUEST_SCRIPT = r'''
import json, lzma, os, subprocess, tempfile

from ansible_collections.kernel.kmod.plugins.module_utils.kernel.calls import KernelCalls, KernelCallError

def sh(cmd):
    p = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    return p.stdout.strip()

def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None

def dummy_view():
    return {'loaded': os.path.isdir('/sys/module/dummy'),
            'taint': read('/sys/module/dummy/taint'),
            'links': sorted(sh('ip -o link show type dummy | cut -d: -f2').split())}

kc = KernelCalls()
out = {'uname': os.uname()[2], 'compression': read('/sys/module/compression'),
       'force_load': sh('grep -c "^CONFIG_MODULE_FORCE_LOAD=y" /boot/config-$(uname -r)'),
       'sig_enforce': read('/sys/module/module/parameters/sig_enforce'), 'steps': []}

def step(label, fn, *args, **kw):
    kc.last_method = None
    rec = {'label': label}
    try:
        fn(*args, **kw)
        rec.update(ok=True, method=kc.last_method)
    except KernelCallError as e:
        rec.update(ok=False, errno=e.errno, msg=e.msg, kernel_log=e.kernel_log, module=e.module, path=e.path)
    rec['after'] = dummy_view()
    out['steps'].append(rec)

sh('udevadm settle --timeout=120; modprobe -r -a dummy br_netfilter bridge')
path = sh('modinfo -n dummy')
out['path'] = path
work = tempfile.mkdtemp(prefix='kcalls-ko-')
xz = os.path.join(work, 'dummy.ko.xz')
with open(path, 'rb') as f, open(xz, 'wb') as g:
    g.write(lzma.compress(f.read(), check=lzma.CHECK_CRC32))

step('insert', kc.insert, path, 'numdummies=2')
step('insert again', kc.insert, path, 'numdummies=2')
step('delete', kc.delete, 'dummy')
step('delete again', kc.delete, 'dummy')
step('insert xz', kc.insert, xz, 'numdummies=1')
step('delete xz', kc.delete, 'dummy')
step('bad parameter', kc.insert, path, 'numdummies=notanumber')
step('bad parameter again', kc.insert, path, 'numdummies=stillnotanumber')
step('forced insert', kc.insert, path, 'numdummies=3', ignore_vermagic=True, ignore_modversions=True)
step('forced delete', kc.delete, 'dummy', force=True)
step('forced insert xz', kc.insert, xz, 'numdummies=4', ignore_vermagic=True, ignore_modversions=True)
step('forced delete xz', kc.delete, 'dummy', force=True)

# a module in use: bridge is held by br_netfilter
sh('modprobe br_netfilter')
out['bridge_holders'] = sorted(os.listdir('/sys/module/bridge/holders'))
step('delete in use', kc.delete, 'bridge')
step('delete in use waiting', kc.delete, 'bridge', wait=0.3)
step('delete holder', kc.delete, 'br_netfilter')
step('delete freed', kc.delete, 'bridge')
out['bridge_left'] = os.path.isdir('/sys/module/bridge')
sh('modprobe -r -a stp llc')
print(json.dumps(out))
'''


@pytest.fixture(scope='module')
def run(vm):
    script = guest_script(GUEST_SCRIPT)
    try:
        rc, out, err = vm.ssh('python3 -', input=script)
        assert rc == 0, 'guest script failed (rc %s): %s %s' % (rc, out, err)
        result = json.loads(out)
        result['steps'] = dict((s['label'], s) for s in result['steps'])
        yield result
    finally:
        vm.ssh('modprobe -r -a dummy br_netfilter bridge stp llc')


def step(run, label):
    return run['steps'][label]


def test_insert_with_parameters(run):
    s = step(run, 'insert')
    assert s['ok'], s
    assert s['method'] == 'finit_module'
    # dummy's numdummies has no sysfs file (permission 0): the links it made tell
    assert s['after']['links'] == ['dummy0', 'dummy1']


def test_second_insert_is_already_in_kernel(run):
    s = step(run, 'insert again')
    assert not s['ok']
    assert (s['errno'], s['module'], s['path']) == (17, 'dummy', run['path'])
    assert s['msg'] == "could not insert 'dummy': Module already in kernel"
    assert s['kernel_log'] == []
    assert s['after']['links'] == ['dummy0', 'dummy1']


def test_delete_and_second_delete(run):
    s = step(run, 'delete')
    assert s['ok'], s
    assert s['after'] == {'loaded': False, 'taint': None, 'links': []}
    s = step(run, 'delete again')
    assert (s['ok'], s['errno'], s['msg']) == (False, 2, 'Module dummy is not currently loaded')


def test_xz_copy_loads(run):
    s = step(run, 'insert xz')
    assert s['ok'], s
    # the kernel takes the file itself only when it decompresses xz
    expected = 'finit_module+compressed' if run['compression'] == 'xz' else 'init_module'
    assert s['method'] == expected
    assert s['after']['links'] == ['dummy0']
    assert step(run, 'delete xz')['ok']


def test_bad_parameter_is_refused_with_the_kernel_line(run):
    for label, value in (('bad parameter', 'notanumber'), ('bad parameter again', 'stillnotanumber')):
        s = step(run, label)
        assert not s['ok']
        assert s['errno'] == 22
        # only this call's line: the first refusal's line is not read again
        assert s['kernel_log'] == ["dummy: `%s' invalid for parameter `numdummies'" % value]
        assert s['msg'] == ("could not insert 'dummy': Invalid parameters (kernel log: dummy: `%s' invalid "
                            "for parameter `numdummies')" % value)
        assert not s['after']['loaded']


@pytest.mark.parametrize('label,method,links', [('forced insert', 'finit_module', 3),
                                                ('forced insert xz', None, 4)])
def test_forced_insert(run, label, method, links):
    s = step(run, label)
    if run['force_load'] == '1':
        # the kernel loads it and marks it forced
        assert s['ok'], s
        assert s['method'] == (method or ('finit_module+compressed' if run['compression'] == 'xz'
                                          else 'init_module'))
        assert 'F' in s['after']['taint']
        assert s['after']['links'] == ['dummy%d' % i for i in range(links)]
    else:
        # without CONFIG_MODULE_FORCE_LOAD the kernel refuses and says why
        assert not s['ok']
        assert s['errno'] == 8, s
        assert s['msg'].startswith("could not insert 'dummy': Invalid module format")
        assert s['kernel_log'] and all('dummy' in line for line in s['kernel_log'])


def test_forced_delete(run):
    for label in ('forced delete', 'forced delete xz'):
        s = step(run, label)
        if run['force_load'] == '1':
            assert s['ok'], s
            assert not s['after']['loaded']
        else:
            assert (s['errno'], s['msg']) == (2, 'Module dummy is not currently loaded')


def test_module_in_use(run):
    assert run['bridge_holders'] == ['br_netfilter']
    s = step(run, 'delete in use')
    assert (s['ok'], s['errno'], s['msg']) == (False, 11, 'Module bridge is in use by: br_netfilter')
    s = step(run, 'delete in use waiting')
    assert (s['ok'], s['errno']) == (False, 11)
    assert s['msg'] == 'Module bridge is in use by: br_netfilter (still, after waiting 0.3 s)'
    assert step(run, 'delete holder')['ok']
    assert step(run, 'delete freed')['ok']
    assert run['bridge_left'] is False
