# -*- coding: utf-8 -*-
"""depmod_state: the input fingerprint, depmod -A's rule and the state file."""

import os

from ansible_collections.kernel.kmod.plugins.module_utils.config.depmod import parse_depmod_text
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.state import (
    DepmodState, input_fingerprint, quick_up_to_date, state_file_name)

OPTIONS = {'suffixes': ['.ko', '.ko.xz']}


def _tree(tmp_path):
    top = tmp_path / 'lib' / 'modules' / '6.1.0'
    (top / 'kernel' / 'net').mkdir(parents=True)
    (top / 'kernel' / 'net' / 'a.ko').write_bytes(b'a')
    (top / 'kernel' / 'b.ko.xz').write_bytes(b'b')
    (top / 'modules.order').write_text('kernel/net/a.ko\n')
    return top


def _print(top, config=None):
    return input_fingerprint(str(top), config or parse_depmod_text(''), OPTIONS)


def test_same_tree_same_fingerprint(tmp_path):
    top = _tree(tmp_path)
    assert _print(top) == _print(top)


def test_each_kind_of_change_changes_it(tmp_path):
    top = _tree(tmp_path)
    seen = {_print(top)}
    a = top / 'kernel' / 'net' / 'a.ko'
    os.utime(str(a), ns=(1, 1))  # touched
    seen.add(_print(top))
    a.write_bytes(b'longer')  # rewritten in place
    seen.add(_print(top))
    (top / 'kernel' / 'c.ko').write_bytes(b'c')  # added
    seen.add(_print(top))
    os.rename(str(top / 'kernel' / 'c.ko'), str(top / 'kernel' / 'd.ko'))  # renamed
    seen.add(_print(top))
    (top / 'modules.order').write_text('kernel/net/a.ko\nkernel/d.ko\n')  # an input file
    seen.add(_print(top))
    assert len(seen) == 6


def test_other_files_build_source_and_excludes_do_not_count(tmp_path):
    top = _tree(tmp_path)
    config = parse_depmod_text('exclude skipme\n')
    before = _print(top, config)
    for name in ('build', 'source', 'skipme'):
        (top / name).mkdir()
        (top / name / 'x.ko').write_bytes(b'x')
    (top / 'kernel' / 'notes.txt').write_text('x')
    (top / 'kernel' / 'y.ko.gz').write_bytes(b'y')  # a suffix this kmod does not index
    assert _print(top, config) == before


def test_symlink_loops_end_and_linked_dirs_count(tmp_path):
    top = _tree(tmp_path)
    before = _print(top)
    outside = tmp_path / 'elsewhere'
    outside.mkdir()
    (outside / 'e.ko').write_bytes(b'e')
    os.symlink(str(outside), str(top / 'kernel' / 'linked'))
    os.symlink(str(top / 'kernel'), str(top / 'kernel' / 'net' / 'loop'))
    with_links = _print(top)
    assert with_links != before
    (outside / 'e.ko').write_bytes(b'changed')
    assert _print(top) != with_links


def test_quick_rule(tmp_path):
    top = _tree(tmp_path)
    assert quick_up_to_date(str(top), ('.ko', '.ko.xz'))[0] is False  # no modules.dep
    (top / 'modules.dep').write_text('')
    os.utime(str(top / 'modules.dep'), (2000000000, 2000000000))
    assert quick_up_to_date(str(top), ('.ko', '.ko.xz')) == (True, None)
    os.utime(str(top / 'kernel' / 'b.ko.xz'), (2000000100, 2000000100))
    up_to_date, why = quick_up_to_date(str(top), ('.ko', '.ko.xz'))
    assert up_to_date is False and why.endswith('b.ko.xz is newer than modules.dep')


def test_state_round_trip_and_outputs_checked(tmp_path):
    top = _tree(tmp_path)
    (top / 'modules.dep').write_text('x\n')
    path = str(tmp_path / 'cache' / (state_file_name(str(top), '6.1.0') + '.state'))
    os.makedirs(os.path.dirname(path))
    state = DepmodState(path)
    assert not state.matches('f', str(top))
    outputs = {'modules.dep': [2, os.stat(str(top / 'modules.dep')).st_mtime_ns, os.stat(str(top / 'modules.dep')).st_ino]}
    assert state.save('f', outputs, {'modules': 1})
    again = DepmodState(path)
    assert again.matches('f', str(top)) and again.report == {'modules': 1}
    assert not again.matches('g', str(top))
    (top / 'modules.dep').write_text('edited\n')
    assert not again.matches('f', str(top))


def test_state_file_name_is_safe():
    name = state_file_name('/lib/modules/6.1.0', '6.1.0/../x y')
    assert '/' not in name and ' ' not in name and name.startswith('6.1.0_.._x_y-')


def test_walk_shared_with_a_child_gives_the_same_fingerprint(tmp_path):
    top = _tree(tmp_path)
    for i in range(40):
        sub = top / 'kernel' / ('d%02d' % i) / ('e%d' % (i % 3))
        sub.mkdir(parents=True)
        for j in range(i % 5):
            (sub / ('m%d_%d.ko' % (i, j))).write_bytes(b'x')
        (top / 'kernel' / ('d%02d' % i) / ('top%d.ko' % i)).write_bytes(b'y')
    config = parse_depmod_text('')
    alone = input_fingerprint(str(top), config, OPTIONS, parallel=False)
    assert input_fingerprint(str(top), config, OPTIONS, parallel=True) == alone
    (top / 'kernel' / 'd39' / 'e0' / 'm39_0.ko').write_bytes(b'changed')
    assert input_fingerprint(str(top), config, OPTIONS, parallel=True) != alone


def test_fingerprint_is_the_same_with_either_sha256(tmp_path, monkeypatch):
    import sys
    top = _tree(tmp_path)
    (top / 'kernel' / '\udcff not utf-8.ko').write_bytes(b'x' * 3)   # a name marshal writes with surrogatepass
    config = parse_depmod_text('')
    import hashlib  # noqa: F401  (OpenSSL's, as when AnsibleModule has loaded it)
    with_openssl = input_fingerprint(str(top), config, OPTIONS, parallel=False)
    monkeypatch.setitem(sys.modules, 'hashlib', None)
    assert input_fingerprint(str(top), config, OPTIONS, parallel=False) == with_openssl


def test_state_keeps_digests_and_refuses_bad_ones(tmp_path):
    import marshal
    path = str(tmp_path / 'cache' / 'r.state')
    os.makedirs(os.path.dirname(path))
    outputs = {'modules.dep.bin': [1, 2, 3], 'modules.dep': None}
    good = 'ab' * 32
    assert DepmodState(path).save('f', outputs, {}, {'modules.dep.bin': good, 'modules.gone': good})
    again = DepmodState(path)
    assert again.digests == {'modules.dep.bin': good}  # only of outputs the state lists
    with open(path, 'rb') as f:
        data = marshal.loads(f.read())
    for bad in ({'modules.dep.bin': 'AB' * 32}, {'modules.dep.bin': good[:-1]}, {'modules.x': good},
                {'modules.dep.bin': 7}, ['modules.dep.bin'], None):
        with open(path, 'wb') as f:
            f.write(marshal.dumps(dict(data, digests=bad)))
        state = DepmodState(path)
        assert state.digests is None and state.fingerprint is None
        assert 'does not hold what a run saves' in state.warning
