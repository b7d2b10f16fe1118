"""load.drift: what param_drift does about a loaded module's parameters, decided without touching anything."""

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.load.drift import plan_drift

LIVE = {'halt_poll_ns': '200000', 'nx_huge_pages': 'N', 'rd_nr': '2', 'secret': None}
MODES = {'halt_poll_ns': 0o644, 'nx_huge_pages': 0o644, 'rd_nr': 0o444, 'secret': 0o200}


def test_ignore_compares_nothing():
    drift = plan_drift('kvm', 'halt_poll_ns=0', LIVE, MODES, 'ignore')
    assert drift.differences == {} and not drift.changes


def test_warn_reports_only():
    drift = plan_drift('kvm', 'halt-poll-ns=0 rd_nr=2 secret=1 gone=1', LIVE, MODES, 'warn')
    assert drift.differences == {'halt-poll-ns': {'asked': '0', 'live': '200000'}}
    assert drift.unchecked == ['gone', 'secret'] and not drift.changes


def test_apply_writes_writable_parameters_by_their_sysfs_names():
    drift = plan_drift('kvm', 'halt-poll-ns=0 nx_huge_pages', LIVE, MODES, 'apply')
    assert drift.writes == [('halt_poll_ns', '0'), ('nx_huge_pages', 'Y')] and drift.reload is False
    assert plan_drift('kvm', 'halt_poll_ns=200000', LIVE, MODES, 'apply').changes is False


def test_apply_reloads_for_a_read_only_parameter_when_nothing_holds_it():
    drift = plan_drift('brd', 'rd_nr=4 halt_poll_ns=0', LIVE, MODES, 'apply')
    assert drift.reload is True and drift.writes == []


def test_apply_refuses_to_reload_a_module_in_use_naming_parameter_and_holders():
    with pytest.raises(KmodError) as info:
        plan_drift('brd', 'rd_nr=4', LIVE, MODES, 'apply', holders=['md_mod', 'raid1'], refcnt=2)
    assert info.value.msg == ('cannot apply rd_nr=4 to brd: rd_nr (mode 0444) is read-only, so the module must be '
                              'reloaded, and it is in use by: md_mod raid1')
    with pytest.raises(KmodError) as info:
        plan_drift('brd', 'rd_nr=4', LIVE, MODES, 'apply', refcnt=1)
    assert info.value.msg.endswith('in use by: 1 reference')


def test_apply_to_a_builtin_module():
    drift = plan_drift('printk', 'halt_poll_ns=0', LIVE, MODES, 'apply', builtin=True)
    assert drift.writes == [('halt_poll_ns', '0')]
    with pytest.raises(KmodError) as info:
        plan_drift('printk', 'rd_nr=4', LIVE, MODES, 'apply', builtin=True)
    assert info.value.msg == ('cannot apply rd_nr=4 to printk: rd_nr (mode 0444) is read-only, and a module built '
                              'into the kernel cannot be reloaded; set printk.rd_nr on the kernel command line')


def test_bad_mode():
    with pytest.raises(KmodError):
        plan_drift('kvm', 'a=1', LIVE, MODES, 'always')
