"""Fuzz the /proc/modules parser: random lines give warnings, never exceptions,
and lines in the kernel's format always read back to what was written."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import (
    KernelState, parse_proc_modules)
from tests.lib.fake_kernel import FakeKernel

NAME = st.text(alphabet='abcdefghijklmnopqrstuvwxyz0123456789_', min_size=1, max_size=20)
TOKEN = st.one_of(
    NAME, st.integers(-5, 10 ** 9).map(str), st.sampled_from(
        ['-', 'Live', 'Loading', 'Unloading', 'Dead', '0x', '0xffffffffc0a00000', '(OE)', '(O+)',
         '(oe)', '()', '(', ')', ',', 'a,b,', 'a,,', '[permanent],', '\t', '\r', '\x0b', '\x1c',
         '\u2028', '\x00', '\u00b2', 'a/b', '..', '']),
    st.text(max_size=12))
# Lines near the kernel's format (tokens joined by one or two spaces), and
# arbitrary text, including line breaks of every kind.
NEAR_LINE = st.lists(TOKEN, min_size=0, max_size=9).flatmap(
    lambda toks: st.lists(st.sampled_from([' ', ' ', ' ', '  ']), min_size=len(toks), max_size=len(toks))
    .map(lambda seps: ''.join(s + t for s, t in zip(seps, toks))[1:]))
ANY_LINE = st.one_of(NEAR_LINE, st.text(max_size=120))

VALID_ENTRY = st.fixed_dictionaries({
    'size': st.integers(0, 2 ** 32 - 1),
    'refcnt': st.integers(0, 1000),
    'used_by': st.lists(NAME, max_size=4, unique=True),
    'permanent': st.booleans(),
    'state': st.sampled_from(['Live', 'Loading', 'Unloading']),
    'address': st.integers(0, 2 ** 64 - 1).map(lambda a: '0x%016x' % a),
    'taint': st.text(alphabet='POEFCKTNJX', max_size=4),
})


@settings(max_examples=1000, deadline=None)
@given(st.lists(ANY_LINE, max_size=8))
def test_random_lines_give_warnings_never_exceptions(lines):
    text = '\n'.join(lines)
    modules, warnings = parse_proc_modules(text, '/proc/modules')
    assert all(isinstance(w, str) and w.startswith('/proc/modules line ') for w in warnings)
    # every line is either a module or a warning (duplicates are warned too)
    physical = text.split('\n')
    if physical and physical[-1] == '':
        physical.pop()
    assert len(modules) + len(warnings) == len(physical)
    for info in modules.values():
        assert isinstance(info['size'], int) and info['size'] >= 0
        assert info['state'] in ('Live', 'Loading', 'Unloading')
        assert info['address'].startswith('0x')
        assert info['taint'].isalpha() or info['taint'] == ''


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_in_the_file(tmp_path_factory, data):
    root = tmp_path_factory.mktemp('fuzz')
    (root / 'proc').mkdir()
    (root / 'proc' / 'modules').write_bytes(data)
    ks = KernelState(str(root))
    modules = ks.proc_modules()
    assert isinstance(modules, dict)
    assert all(w.startswith(str(root / 'proc' / 'modules') + ' line ') for w in ks.warnings)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(NAME, VALID_ENTRY, max_size=6), st.booleans())
def test_kernel_format_reads_back(tmp_path, entries, module_unload):
    fk = FakeKernel(tmp_path)
    if not module_unload:
        fk.without_module_unload()
    for name, e in entries.items():
        fk.add_module(name, **e)
    text = ''.join(fk.proc_modules_line(m) + '\n' for m in fk.modules)
    modules, warnings = parse_proc_modules(text)
    assert warnings == []
    assert list(modules) == list(entries)
    for name, e in entries.items():
        got = modules[name]
        assert got['size'] == e['size']
        assert got['state'] == e['state']
        assert got['address'] == e['address']
        assert got['taint'] == e['taint']
        if module_unload:
            assert got['refcnt'] == e['refcnt']
            assert got['used_by'] == e['used_by']
            assert got['permanent'] == e['permanent']
        else:
            assert got['refcnt'] is None and got['used_by'] == [] and got['permanent'] is False


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(VALID_ENTRY, ANY_LINE), max_size=10))
def test_good_lines_survive_among_bad_ones(items):
    # good lines get names no junk line can produce by chance ('Vmod<i>')
    fk = FakeKernel('/nonexistent')
    lines = []
    want = {}
    for i, item in enumerate(items):
        if isinstance(item, dict):
            name = 'Vmod%d' % i
            fk.add_module(name, **item)
            lines.append(fk.proc_modules_line(fk.modules[-1]))
            want[name] = item
        else:
            lines.extend(item.split('\n'))
    modules, warnings = parse_proc_modules(''.join(line + '\n' for line in lines))
    for name, item in want.items():
        assert modules[name]['size'] == item['size']
        assert modules[name]['used_by'] == item['used_by']
    assert len(modules) + len(warnings) == len(lines)
