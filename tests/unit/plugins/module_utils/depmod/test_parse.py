import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.depmod import parse as depmod_parse
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.model import ModuleRecord
from ansible_collections.kernel.kmod.plugins.module_utils.depmod.parse import ParseCache, parse_records
from tests.lib.fakeko import build_ko


def record(path):
    st = os.stat(path)
    name = os.path.basename(path).split('.ko')[0]
    return ModuleRecord(name, path, os.path.basename(path), 0, (st.st_size, st.st_mtime_ns, st.st_ino))


@pytest.fixture
def modules(tmp_path):
    paths = []
    for i, compress in enumerate((None, 'gz', 'xz', 'zst')):
        paths.append(build_ko(str(tmp_path / ('m%d.ko' % i)), compress=compress,
                              modinfo=['license=GPL', 'alias=a%d' % i, 'flag'],
                              exports=['e%d' % i], crcs={'e%d' % i: i + 1},
                              needs=['n%d' % i], weak_needs=['w%d' % i], versions=[(9, 'n%d' % i)]))
    bad = tmp_path / 'bad.ko'
    bad.write_bytes(b'\x7fELF garbage')
    paths.append(str(bad))
    return paths


def check(rec, i):
    assert rec.modinfo == [('license', 'GPL'), ('alias', 'a%d' % i), ('flag', '')]
    assert rec.exports == [('e%d' % i, i + 1)]
    assert rec.needs == [('n%d' % i, False), ('w%d' % i, True)]
    assert rec.versions == [('n%d' % i, 9)]


@pytest.mark.parametrize('workers', [1, 2, 3])
def test_parse_records(modules, workers, monkeypatch):
    monkeypatch.setattr(depmod_parse, 'PARALLEL_MIN_FILES', 1)
    monkeypatch.setattr(depmod_parse, 'PARALLEL_CHUNK', 1)  # two workers: one file per piece, shared as they go
    records = [record(p) for p in modules]
    good, problems = parse_records(records, workers=workers)
    assert [r.name for r in good] == ['m0', 'm1', 'm2', 'm3']
    for i, rec in enumerate(good):
        check(rec, i)
    assert len(problems) == 1 and problems[0].startswith(modules[-1] + ': invalid module file')


def test_cache_round_trip(modules, tmp_path):
    cache_path = str(tmp_path / 'cache' / 'parse.json')
    cache = ParseCache(cache_path)
    parse_records([record(p) for p in modules], workers=1, cache=cache)
    assert cache.save() is True
    again = ParseCache(cache_path)
    records = [record(p) for p in modules[:4]]
    for rec in records:
        assert again.get(rec) is not None
    good, problems = parse_records(records, workers=1, cache=again)
    assert problems == [] and not again.dirty
    for i, rec in enumerate(good):
        check(rec, i)
    assert again.save() is False  # nothing new to write
    # a changed file is a miss; entries not used in a run are dropped on save
    os.utime(modules[0], ns=(1, 1))
    third = ParseCache(cache_path)
    assert third.get(record(modules[0])) is None
    parse_records([record(p) for p in modules[1:3]], workers=1, cache=third)
    assert third.save() is True
    assert sorted(ParseCache(cache_path).entries) == sorted(modules[1:3])


def test_cache_without_versions_is_a_miss_when_versions_are_wanted(modules, tmp_path):
    cache = ParseCache(str(tmp_path / 'c.json'))
    rec = record(modules[0])
    parse_records([rec], workers=1, cache=cache, want_versions=False)
    assert rec.versions == []
    assert cache.get(record(modules[0]), want_versions=False) is None  # not saved yet: used, not entries
    cache.save()
    cache = ParseCache(str(tmp_path / 'c.json'))
    assert cache.get(record(modules[0]), want_versions=False) is not None
    assert cache.get(record(modules[0]), want_versions=True) is None


def test_corrupt_cache_is_ignored_with_a_warning(tmp_path):
    path = tmp_path / 'c.json'
    path.write_text('{not json')
    cache = ParseCache(str(path))
    assert cache.entries == {} and 'ignoring unreadable parse cache' in cache.warning


def test_unreadable_file_is_reported_by_path(tmp_path):
    rec = ModuleRecord('gone', str(tmp_path / 'gone.ko'), 'gone.ko')
    good, problems = parse_records([rec], workers=1)
    assert good == [] and problems == ['cannot read module file %s: No such file or directory' % rec.path]


def test_kmod_34_refuses_zstd_files_that_do_not_declare_their_size(tmp_path):
    sized = build_ko(str(tmp_path / 'sized.ko.zst'), compress='zst', exports=['e'])
    unsized = build_ko(str(tmp_path / 'unsized.ko.zst'), compress='zst-unsized', exports=['e'])
    good, problems = parse_records([record(sized), record(unsized)], workers=1)
    assert [r.name for r in good] == ['sized', 'unsized'] and problems == []
    good, problems = parse_records([record(sized), record(unsized)], workers=1, zstd_needs_size=True)
    assert [r.name for r in good] == ['sized']
    assert problems == ['%s: zstd: Failed to determine decompression size' % unsized]


def test_cache_of_a_run_without_the_zstd_check_is_a_miss_with_it(tmp_path):
    unsized = build_ko(str(tmp_path / 'unsized.ko.zst'), compress='zst-unsized', exports=['e'])
    cache = ParseCache(str(tmp_path / 'c.json'))
    parse_records([record(unsized)], workers=1, cache=cache)
    cache.save()
    cache = ParseCache(str(tmp_path / 'c.json'))
    assert cache.get(record(unsized)) is not None
    assert cache.get(record(unsized), zstd_needs_size=True) is None
    good, problems = parse_records([record(unsized)], workers=1, cache=cache, zstd_needs_size=True)
    assert good == [] and len(problems) == 1


def test_saving_removes_the_json_cache_of_older_versions(modules, tmp_path):
    old = tmp_path / 'cache' / 'r-x.parse.json'
    old.parent.mkdir()
    old.write_text('{"format": 3, "entries": {}}')
    cache = ParseCache(str(old.parent / 'r-x.parse'))
    parse_records([record(p) for p in modules[:2]], workers=1, cache=cache)
    assert cache.save() is True
    assert os.listdir(str(old.parent)) == ['r-x.parse']
    assert sorted(ParseCache(str(old.parent / 'r-x.parse')).entries) == sorted(modules[:2])


@pytest.mark.parametrize('workers', [1, 2])
def test_zstd_files_without_the_package_share_zstd_processes(tmp_path, monkeypatch, workers):
    from ansible_collections.kernel.kmod.plugins.module_utils.image import compression
    paths = [build_ko(str(tmp_path / ('z%d.ko.zst' % i)), compress='zst', modinfo=['license=GPL', 'alias=a%d' % i],
                      exports=['e%d' % i], needs=['n%d' % i]) for i in range(30)]
    paths.insert(7, build_ko(str(tmp_path / 'unsized.ko.zst'), compress='zst-unsized', exports=['u']))
    broken = tmp_path / 'broken.ko.zst'
    data = bytearray(open(paths[0], 'rb').read())
    data[len(data) // 2] ^= 0xff
    broken.write_bytes(bytes(data))
    paths.insert(12, str(broken))
    paths.insert(20, build_ko(str(tmp_path / 'plain.ko'), exports=['p']))
    with_package = parse_records([record(p) for p in paths], workers=1)

    monkeypatch.setattr(compression, '_zstandard', None)
    monkeypatch.setattr(depmod_parse, 'PARALLEL_MIN_FILES', 1)
    started = []
    real = compression.subprocess.Popen
    monkeypatch.setattr(compression.subprocess, 'Popen',
                        lambda argv, *a, **k: started.append(argv) or real(argv, *a, **k))
    good, problems = parse_records([record(p) for p in paths], workers=workers)
    assert [(r.name, r.modinfo, r.exports, r.needs) for r in good] == \
        [(r.name, r.modinfo, r.exports, r.needs) for r in with_package[0]]
    assert len(good) == 32 and len(problems) == 1 and problems[0].startswith(str(broken) + ': corrupt zstd data')
    # in this process (workers=1): one batch of 31, which the broken file (12th of it) fails, then halves
    # down to it (15, 16; 7, 8; 4, 4; 2, 2; 1, 1: 10 more), the broken file by itself as decompress() does
    # it, and the unsized file alone: 13, not 32; a child's processes (workers=2) are not counted here
    if workers == 1:
        assert len(started) == 1 + 10 + 1 + 1
