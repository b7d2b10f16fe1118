"""tests/lib/fake_calls.FakeKernelCalls: records calls, changes the FakeKernel
the way the kernel would, and fails like KernelCalls."""

import errno
import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.kernel.calls import LoadError, UnloadError
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from tests.lib.fake_calls import FakeKernelCalls, params_from_options
from tests.lib.fake_kernel import FakeKernel

DUMMY = '/lib/modules/6.1.0-test-amd64/kernel/drivers/net/dummy.ko'


@pytest.fixture
def kernel(tmp_path):
    k = FakeKernel(tmp_path).add_module('bridge', used_by=['br_netfilter']).add_module('br_netfilter')
    k.write()
    return k


def test_insert_adds_the_module_with_its_params(kernel):
    calls = FakeKernelCalls(kernel)
    calls.insert(DUMMY, 'numdummies=2 label="a b" flag')
    assert calls.calls == [('insert', DUMMY, 'numdummies=2 label="a b" flag')]
    state = KernelState(kernel.root)
    loaded = state.loaded(params=True)
    assert sorted(loaded) == ['br_netfilter', 'bridge', 'dummy']
    assert loaded['dummy']['params'] == {'numdummies': '2', 'label': 'a b', 'flag': 'Y'}
    assert loaded['dummy']['refcnt'] == 0


def test_insert_names_come_from_the_file_name(kernel):
    calls = FakeKernelCalls(kernel)
    calls.insert('/x/snd-dummy.ko.xz', ignore_vermagic=True)
    assert 'snd_dummy' in KernelState(kernel.root).loaded()
    assert calls.details == [{'call': 'insert', 'path': '/x/snd-dummy.ko.xz', 'options': '',
                              'ignore_vermagic': True, 'ignore_modversions': False, 'trusted_only': False}]


def test_second_insert_is_eexist(kernel):
    calls = FakeKernelCalls(kernel)
    calls.insert(DUMMY)
    with pytest.raises(LoadError) as info:
        calls.insert(DUMMY, 'numdummies=3')
    e = info.value
    assert (e.errno, e.module, e.path, e.msg) == (errno.EEXIST, 'dummy', DUMMY,
                                                  "could not insert 'dummy': Module already in kernel")
    assert len(calls.calls) == 2


def test_configured_insert_failure_by_name_or_path(kernel):
    calls = FakeKernelCalls(kernel)
    calls.fail_insert('snd-dummy', errno.EINVAL, kernel_log=["snd_dummy: `x' invalid for parameter `n'"])
    calls.fail_insert('/other/dummy.ko', errno.ENOEXEC)
    with pytest.raises(LoadError) as info:
        calls.insert('/x/snd_dummy.ko', 'n=x')
    assert info.value.errno == errno.EINVAL
    assert info.value.kernel_log == ["snd_dummy: `x' invalid for parameter `n'"]
    assert info.value.msg == ("could not insert 'snd_dummy': Invalid parameters (kernel log: snd_dummy: `x' "
                              "invalid for parameter `n')")
    with pytest.raises(LoadError) as info:
        calls.insert('/other/dummy.ko')
    assert info.value.msg == "could not insert 'dummy': Invalid module format"
    calls.insert(DUMMY)  # same name, other path: no failure configured
    assert 'snd_dummy' not in KernelState(kernel.root).loaded()


def test_delete_removes_the_module_and_its_holder_links(kernel):
    calls = FakeKernelCalls(kernel)
    calls.delete('br-netfilter')
    assert calls.calls == [('delete', 'br-netfilter')]
    state = KernelState(kernel.root)
    loaded = state.loaded()
    assert sorted(loaded) == ['bridge']
    assert loaded['bridge']['refcnt'] == 0
    assert loaded['bridge']['holders'] == []
    assert loaded['bridge']['used_by'] == []
    assert not os.path.exists(os.path.join(kernel.root, 'sys/module/br_netfilter'))
    calls.delete('bridge')
    assert KernelState(kernel.root).loaded() == {}


def test_delete_in_use_unless_forced(kernel):
    calls = FakeKernelCalls(kernel)
    with pytest.raises(UnloadError) as info:
        calls.delete('bridge', wait=True)
    assert (info.value.errno, info.value.msg) == (errno.EAGAIN, 'Module bridge is in use by: br_netfilter')
    calls.delete('bridge', force=True)
    assert sorted(KernelState(kernel.root).loaded()) == ['br_netfilter']
    assert calls.details[-1] == {'call': 'delete', 'name': 'bridge', 'wait': False, 'force': True}


def test_delete_not_loaded_and_configured_failures(kernel):
    calls = FakeKernelCalls(kernel)
    with pytest.raises(UnloadError) as info:
        calls.delete('dummy')
    assert (info.value.errno, info.value.msg) == (errno.ENOENT, 'Module dummy is not currently loaded')
    calls.fail_delete('br_netfilter', errno.EBUSY)
    with pytest.raises(UnloadError) as info:
        calls.delete('br_netfilter')
    assert info.value.errno == errno.EBUSY
    assert 'br_netfilter' in KernelState(kernel.root).loaded()


def test_bad_name(kernel):
    with pytest.raises(UnloadError) as info:
        FakeKernelCalls(kernel).delete('../dummy')
    assert info.value.errno == errno.EINVAL


def test_params_from_options():
    assert params_from_options('') == {}
    assert params_from_options(None) == {}
    assert params_from_options("a=1 b='x y' c= d") == {'a': '1', 'b': 'x y', 'c': '', 'd': 'Y'}


def test_reference_counts_count(tmp_path):
    from tests.lib.fake_tree import FakeTree
    tree = FakeTree(str(tmp_path), '6.1.0-test-amd64')
    tree.add('kernel/net/core/netcore.ko', modinfo=['license=GPL'], exports=['netcore_register'])
    tree.add('kernel/drivers/net/bonding.ko', modinfo=['license=GPL'], needs=['netcore_register'])
    tree.depmod()
    kernel = FakeKernel(str(tmp_path))
    kernel.write()
    calls = FakeKernelCalls(kernel)
    module_dir = os.path.join(str(tmp_path), 'lib/modules/6.1.0-test-amd64')
    calls.insert(os.path.join(module_dir, 'kernel/net/core/netcore.ko'))
    calls.insert(os.path.join(module_dir, 'kernel/drivers/net/bonding.ko'))
    loaded = KernelState(kernel.root).loaded()
    assert loaded['netcore']['refcnt'] == 1 and loaded['netcore']['holders'] == ['bonding']
    with pytest.raises(UnloadError) as info:
        calls.delete('netcore')
    assert info.value.errno == errno.EAGAIN and info.value.msg == 'Module netcore is in use by: bonding'
    calls.delete('bonding')
    assert KernelState(kernel.root).loaded()['netcore']['refcnt'] == 0
    calls.delete('netcore')
    assert KernelState(kernel.root).loaded() == {}
