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


class _Point(object):
    def __init__(self, x):
        self.x = x


def _objects(pid_box):
    pid_box.append(os.getpid())
    return [_Point(3), 'x\udce9']


def test_results_marshal_cannot_hold_come_pickled():
    box = []
    call = ForkedCall(_objects, box)
    assert call.forked
    point, text = call.result()
    assert point.x == 3 and text == 'x\udce9'
    assert box == []  # the work was done in the child


def test_plain_data_round_trips_through_marshal():
    value = {'a': [(1, None, b'\0\xff')], 'b': 'x\udce9', 'c': 1 << 70}
    assert forked._decode(forked._encode(value)) == value
    assert forked._encode(value)[:1] == b'M'
    assert forked._encode([_Point(1)])[:1] == b'P'


def _square_with_pid(x):
    return x * x, os.getpid()


def _slow_square_with_pid(x):
    import time
    time.sleep(0.002)
    return x * x, os.getpid()


@pytest.mark.parametrize('count', [0, 1, 2, 3, 50, 1000])
def test_shared_map_gives_every_result_in_order(count):
    out = forked.shared_map(_square_with_pid, range(count))
    assert [value for value, _pid in out] == [x * x for x in range(count)]


def test_shared_map_shares_work_that_takes_time():
    out = forked.shared_map(_slow_square_with_pid, range(100))
    assert [value for value, _pid in out] == [x * x for x in range(100)]
    mine = [x for x, (_v, pid) in enumerate(out) if pid == os.getpid()]
    # this process took a run from the front, the child the rest from the back
    assert 10 < len(mine) < 90 and mine == list(range(len(mine)))


def _slow_first(x):
    if x == 0:
        import time
        time.sleep(0.3)
    return x, os.getpid()


def test_shared_map_child_takes_the_rest_while_one_item_is_slow():
    out = forked.shared_map(_slow_first, range(40))
    assert [x for x, _pid in out] == list(range(40))
    # this process spent its time on item 0: the child did nearly all the others
    assert sum(1 for _x, pid in out if pid == os.getpid()) <= 2


def test_shared_map_without_fork_runs_here(monkeypatch):
    def no_fork():
        raise OSError('no fork here')
    monkeypatch.setattr(forked.os, 'fork', no_fork)
    out = forked.shared_map(_square_with_pid, range(30))
    assert out == [(x * x, os.getpid()) for x in range(30)]
    assert forked.shared_map(_square_with_pid, range(5), fork=False) == [(x * x, os.getpid()) for x in range(5)]
