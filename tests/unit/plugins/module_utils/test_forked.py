# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""forked.ForkedCall: results from a child, the same results or errors without one."""

import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils import forked
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.forked import ForkedCall


def _pid_and_value(value):
    return os.getpid(), value


def test_result_comes_from_a_child():
    call = ForkedCall(_pid_and_value, {'a': [1, 2]})
    assert call.forked
    pid, value = call.result()
    assert pid != os.getpid()
    assert value == {'a': [1, 2]}
    assert call.result() == (pid, value)  # asked again: the same, no second run


def test_large_result_through_the_pipe():
    data = b'x' * (5 << 20)
    assert ForkedCall(bytes, data).result() == data


def test_fork_false_runs_here_when_asked():
    call = ForkedCall(_pid_and_value, 7, fork=False)
    assert not call.forked
    assert call.result() == (os.getpid(), 7)


def _fail(message):
    raise KmodError(message)


def test_error_in_child_is_raised_here_by_running_again():
    call = ForkedCall(_fail, 'bad index')
    with pytest.raises(KmodError, match='bad index'):
        call.result()


def test_dead_child_means_running_here():
    # the child dies without a result; here the call runs again (and returns)
    calls = []

    def fn():
        if os.getpid() != parent:
            os._exit(3)
        calls.append(1)
        return 'here'
    parent = os.getpid()
    assert ForkedCall(fn).result() == 'here'
    assert calls == [1]


def test_no_fork_available_means_running_here(monkeypatch):
    def no_fork():
        raise OSError(11, 'Resource temporarily unavailable')
    monkeypatch.setattr(forked.os, 'fork', no_fork)
    call = ForkedCall(_pid_and_value, 1)
    assert not call.forked
    assert call.result() == (os.getpid(), 1)


def _sleep():
    import time
    time.sleep(30)
    return 'late'


def test_cancel_kills_and_reaps_the_child():
    call = ForkedCall(_sleep)
    pid = call._pid
    call.cancel()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    call.cancel()  # twice is harmless
