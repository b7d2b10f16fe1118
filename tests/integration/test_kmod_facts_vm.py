"""kernel.kmod.kmod_facts on a real kernel, checked against the VM's own tools.

One set-up ssh call puts test files into /etc/modprobe.d, loads dummy with
numdummies=3 and brd with rd_nr=2, and snapshots what the VM's tools say (/proc/modules, lsmod,
/sys/module, modules.builtin, modules.dep, `modprobe -c`, `modprobe -R`,
`modinfo`).  One playbook then gathers the facts the way a user does (with
`available` and `modules`), repeats that task in check mode, unloads dummy
and brd and gathers again.  Every comparison parses the tools' output here, without
the library, so a shared misreading cannot hide.
"""

import os
import re

import pytest

from tests.vm.ansible_run import run_playbook

pytestmark = pytest.mark.vm

CONF_DIR = '/etc/modprobe.d'
# kmodtest.conf: every directive kind, a continued line, '-' names kmod normalises.
TEST_CONF = 'kmodtest.conf'
TEST_CONF_TEXT = r'''# kernel.kmod integration test
blacklist kmodtest_bl
blacklist kmodtest-dash
options kmodtest_opt a=1 b=two
options kmodtest_opt c=3 \
    d=4
alias kmodtest-alias dummy
alias pci:v0000ABCDd*sv*sd*bc*sc*i* kmodtest_opt
softdep kmodtest_opt pre: kmodtest_pre1 kmodtest-pre2 post: kmodtest_post
softdep kmodtest_two post: dummy
install kmodtest_off /bin/false
install kmodtest_cmd /sbin/modprobe --ignore-install kmodtest_cmd $CMDLINE_OPTS
remove kmodtest_cmd /bin/true
'''
# Same name as Debian's /lib/modprobe.d/fbdev-blacklist.conf: this one masks it.
MASK_CONF = 'fbdev-blacklist.conf'
MASK_CONF_TEXT = 'blacklist kmodtest_fb\n'
TEST_FILES = {TEST_CONF: TEST_CONF_TEXT, MASK_CONF: MASK_CONF_TEXT}

# A concrete RTL8139 device: matches patterns of both 8139cp and 8139too.
PCI_DEVICE = 'pci:v000010ECd00008139sv000010ECsd00008139bc02sc00i00'
# A pattern exactly as written in modules.alias (e1000e's 82574L).
PCI_PATTERN = 'pci:v00008086d000010D3sv*sd*bc*sc*i*'
REQUESTED = ['dummy', PCI_DEVICE, PCI_PATTERN, 'e1000e']

MARK = '@@@ '
SYSFS_TEXT = ('initstate', 'srcversion', 'version', 'taint')
SYSFS_INT = ('refcnt', 'coresize', 'initsize')
SYSFS_ATTRS = SYSFS_TEXT + SYSFS_INT
END_OF_CONFIG = '# End of configuration files'


def _q(text):
    return "'" + text.replace("'", "'\\''") + "'"


def setup_and_snapshot_script():
    """One shell script: write the test config, load dummy, print every tool's view in sections."""
    # settle: after a boot (or another test's reboot) udev may still be loading modules.
    lines = ['set -u', 'udevadm settle --timeout=120', 'modprobe -r -a dummy brd 2>/dev/null']
    for name, text in sorted(TEST_FILES.items()):
        lines.append('printf %%s %s > %s/%s' % (_q(text), CONF_DIR, name))
    lines += [
        'modprobe dummy numdummies=3 || exit 10',
        'modprobe brd rd_nr=2 rd_size=8192 || exit 11',
        'mdir=/lib/modules/$(uname -r)',
        'echo "%sproc_modules"; cat /proc/modules' % MARK,
        'echo "%slsmod"; lsmod' % MARK,
        # One process each: a fork per file costs tens of ms under TCG.
        'echo "%sholders"; ls -1 /sys/module/*/holders' % MARK,
        'echo "%sparams"; tail -v -n +1 /sys/module/*/parameters/*' % MARK,
        'echo "%sdummy_links"; ls /sys/class/net | grep "^dummy"' % MARK,
        'echo "%sinitstate"; ls -d /sys/module/*/initstate' % MARK,
        'echo "%ssysfs_attrs"; grep -H "" %s 2>/dev/null' % (MARK, ' '.join('/sys/module/*/%s' % a for a in SYSFS_ATTRS)),
        'echo "%ssig_enforce"; cat /sys/module/module/parameters/sig_enforce' % MARK,
        'echo "%smodules_disabled"; cat /proc/sys/kernel/modules_disabled' % MARK,
        'echo "%scompression"; cat /sys/module/compression 2>/dev/null' % MARK,
        'echo "%sbuiltin"; cat "$mdir/modules.builtin"' % MARK,
        'echo "%smodules_dep"; cut -d: -f1 "$mdir/modules.dep"' % MARK,
        'echo "%smodprobe_c"; modprobe -c | sed "/^%s/q"' % (MARK, END_OF_CONFIG),
        'echo "%stainted"; cat /proc/sys/kernel/tainted' % MARK,
        'echo "%scmdline"; cat /proc/cmdline' % MARK,
        'echo "%suname"; uname -r' % MARK,
        'echo "%smodule_dir"; echo "$mdir"' % MARK,
    ]
    for name in REQUESTED:
        lines.append('echo "%sresolve %s"; modprobe -R %s' % (MARK, name, _q(name)))
    lines.append('for n in %s; do modprobe -R "$n"; done | sort -u | while read -r m; do'
                 ' echo "%smodinfo $m"; modinfo "$m"; done' % (' '.join(_q(n) for n in REQUESTED), MARK))
    return '\n'.join(lines) + '\n'


def sections(text):
    """{'name': body} from the MARK-separated output."""
    out = {}
    current = None
    for line in text.splitlines(True):
        if line.startswith(MARK):
            current = line[len(MARK):].rstrip('\n')
            out[current] = ''
        elif current is not None:
            out[current] += line
    return out


PLAYBOOK = '''
- name: kmod_facts against the VM's tools
  hosts: all
  gather_facts: false
  tasks:
    - name: Gather everything
      kernel.kmod.kmod_facts:
        available: true
        modules: "{{ requested }}"
      register: gathered
    - name: Gather everything in check mode
      kernel.kmod.kmod_facts:
        available: true
        modules: "{{ requested }}"
      check_mode: true
    - name: Facts are set on the host
      ansible.builtin.assert:
        that:
          - "'dummy' in ansible_facts.kmod.loaded"
          - ansible_facts.kmod.loaded.brd.params.rd_nr == '2'
          - ansible_facts.kmod.kernel_release == gathered.ansible_facts.kmod.kernel_release
    - name: Unload dummy and brd
      ansible.builtin.command: modprobe -r -a dummy brd
      changed_when: true
    - name: Gather after unloading
      kernel.kmod.kmod_facts:
'''


class Run(object):
    """What the VM's tools said (tools: sections) and the playbook's task results."""

    def __init__(self, tools, result, after_proc_modules):
        self.tools = tools
        self.result = result
        self.facts = result.task('Gather everything')['result']['ansible_facts']['kmod']
        self.after_proc_modules = after_proc_modules


@pytest.fixture(scope='module')
def run(vm):
    cleanup = 'rm -f %s; modprobe -r -a dummy brd' % ' '.join('%s/%s' % (CONF_DIR, n) for n in TEST_FILES)
    try:
        rc, out, err = vm.ssh(setup_and_snapshot_script())
        assert rc == 0, 'set-up failed (rc %s): %s' % (rc, err)
        result = run_playbook(vm, PLAYBOOK, extra_vars={'requested': REQUESTED})
        assert result.rc == 0, result.stdout + result.stderr
        rc, after, err = vm.ssh('cat /proc/modules')
        assert rc == 0, err
        yield Run(sections(out), result, after)
    finally:
        vm.ssh(cleanup)


# ---------------------------------------------------------------- parsing the tools

def parse_proc_modules(text):
    """name -> (size, refcnt or None for '-', [used_by])."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        users = [] if fields[3] == '-' else [u for u in fields[3].split(',') if u]
        out[fields[0]] = (int(fields[1]), None if fields[2] == '-' else int(fields[2]), users)
    return out


def parse_lsmod(text):
    """name -> (size, used count, set of holder names)."""
    out = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        out[fields[0]] = (int(fields[1]), int(fields[2]), set(fields[3].split(',')) if len(fields) > 3 else set())
    return out


def parse_ls_holders(text):
    """module -> sorted holder names from `ls -1 /sys/module/*/holders`."""
    out = {}
    current = None
    for line in text.splitlines():
        if line.startswith('/sys/module/') and line.endswith('/holders:'):
            current = out.setdefault(line.split('/')[3], [])
        elif line:
            current.append(line)
    return dict((name, sorted(holders)) for name, holders in out.items())


def parse_params(text):
    """module -> {param: value} from `tail -v -n +1 FILES`: '==> PATH <==' then the
    content, and one blank line before each later header."""
    out = {}
    parts = re.split(r'(?:^|\n)==> (/sys/module/[^\n]*) <==\n', text)
    for path, value in zip(parts[1::2], parts[2::2]):
        names = path.split('/')      # /sys/module/M/parameters/P
        value = value[:-1] if value.endswith('\n') else value
        out.setdefault(names[3], {})[names[5]] = value
    return out


def module_name_of(path):
    base = os.path.basename(path)
    base = re.sub(r'\.ko(\.(gz|xz|zst))?$', '', base)
    return base.replace('-', '_')


def parse_modinfo(text):
    """key -> [values] from `modinfo NAME` (signature continuation lines dropped)."""
    out = {}
    for line in text.splitlines():
        if line.startswith('\t'):
            continue
        key, _colon, value = line.partition(':')
        out.setdefault(key, []).append(value.lstrip(' '))
    return out


def modinfo_parm_line(name, param):
    """A facts parameter as kmod 30's modinfo prints it."""
    text = '%s:%s' % (name, param['description'] or '')
    if param['type']:
        text += ' (%s)' % param['type']
    return text


def kmod30_softdep_line(entry):
    """A facts softdep as kmod 30's `modprobe -c` prints it: no blank before 'post:'."""
    text = ''
    if entry['pre']:
        text += 'pre: ' + ' '.join(entry['pre'])
    if entry['post']:
        text += 'post: ' + ' '.join(entry['post'])
    return 'softdep %s %s' % (entry['module'], text)


def modprobe_c_from_facts(config):
    """The config part of `modprobe -c`, rebuilt from the facts in kmod's group order."""
    order = dict((path, i) for i, path in enumerate(config['files'] + ['/proc/cmdline']))
    options = sorted((e for entries in config['options'].values() for e in entries),
                     key=lambda e: (order[e['file']], e['line']))
    module_of = dict((id(e), m) for m, entries in config['options'].items() for e in entries)
    lines = ['blacklist %s' % e['name'] for e in config['blacklist']]
    lines += ['install %s %s' % (e['module'], e['command']) for e in config['install']]
    lines += ['remove %s %s' % (e['module'], e['command']) for e in config['remove']]
    lines += ['alias %s %s' % (e['pattern'], e['module']) for e in config['aliases']]
    lines += ['options %s %s' % (module_of[id(e)], e['options']) for e in options]
    lines += [kmod30_softdep_line(e) for e in config['softdeps']]
    return lines


# ---------------------------------------------------------------- loaded modules

def test_loaded_match_proc_modules(run):
    proc = parse_proc_modules(run.tools['proc_modules'])
    loaded = run.facts['loaded']
    assert sorted(loaded) == sorted(proc)
    for name, (size, refcnt, used_by) in proc.items():
        assert loaded[name]['size'] == size, name
        if refcnt is not None:
            assert loaded[name]['refcnt'] == refcnt, name
        assert loaded[name]['used_by'] == used_by, name


def test_loaded_match_lsmod(run):
    lsmod = parse_lsmod(run.tools['lsmod'])
    loaded = run.facts['loaded']
    assert sorted(loaded) == sorted(lsmod)
    for name, (size, used, holders) in lsmod.items():
        assert loaded[name]['size'] == size, name
        assert loaded[name]['refcnt'] == used, name
        # lsmod lists the holders of /sys/module/NAME/holders.
        assert set(loaded[name]['holders']) == holders, name


def test_holders_match_sysfs(run):
    holders = parse_ls_holders(run.tools['holders'])
    loaded = run.facts['loaded']
    assert set(holders) >= set(loaded)
    for name in loaded:
        assert sorted(loaded[name]['holders']) == holders[name], name
    assert any(loaded[name]['holders'] for name in loaded), 'no module with holders: the check proves little'


def test_params_match_sysfs(run):
    params = parse_params(run.tools['params'])
    initstate = set(line.split('/')[3] for line in run.tools['initstate'].splitlines())
    loaded = run.facts['loaded']
    with_params = [name for name in loaded if params.get(name)]
    assert len(with_params) >= 3, with_params
    for name in loaded:
        assert loaded[name]['params'] == params.get(name, {}), name
    # A /sys/module dir without initstate is a builtin module with parameters.
    builtin = dict((name, values) for name, values in params.items() if name not in initstate)
    assert set(builtin) <= set(run.facts['builtin_params'])
    for name, values in builtin.items():
        assert run.facts['builtin_params'][name] == values, name
    assert run.facts['loaded']['brd']['params'] == {'rd_nr': '2', 'rd_size': '8192', 'max_part': '1'}


def parse_grep_attrs(text):
    """module -> {attr: value} from `grep -H '' /sys/module/*/ATTR`."""
    out = {}
    for line in text.splitlines():
        path, _colon, value = line.partition(':')
        names = path.split('/')      # /sys/module/M/ATTR
        out.setdefault(names[3], {})[names[4]] = value
    return out


def test_loaded_match_sysfs_attributes(run):
    attrs = parse_grep_attrs(run.tools['sysfs_attrs'])
    loaded = run.facts['loaded']
    for name, info in loaded.items():
        found = attrs.get(name, {})
        for attr in SYSFS_TEXT:
            assert info[attr] == found.get(attr), (name, attr)
        for attr in SYSFS_INT:
            assert info[attr] == int(found[attr]), (name, attr)
        assert info['in_sysfs'] is True and info['in_proc_modules'] is True, name
    assert any(info['srcversion'] for info in loaded.values())


def test_dummy_loaded_with_numdummies(run):
    # numdummies is module_param(..., 0): the kernel takes it but shows it
    # nowhere in /sys, so the facts have no value to report; the three
    # interfaces prove the parameter arrived.
    assert run.tools['dummy_links'].split() == ['dummy0', 'dummy1', 'dummy2']
    dummy = run.facts['loaded']['dummy']
    assert dummy['params'] == {}
    assert dummy['state'] == 'Live' and dummy['initstate'] == 'live'
    assert dummy['refcnt'] == 0 and dummy['holders'] == [] and dummy['used_by'] == []


def test_dummy_gone_after_modprobe_r(run):
    after = run.result.task('Gather after unloading')['result']['ansible_facts']['kmod']
    assert 'dummy' in run.facts['loaded'] and 'brd' in run.facts['loaded']
    assert 'dummy' not in after['loaded'] and 'brd' not in after['loaded']
    assert sorted(after['loaded']) == sorted(parse_proc_modules(run.after_proc_modules))
    assert 'available' not in after and 'info' not in after


# ---------------------------------------------------------------- tree, kernel

def test_builtin_matches_modules_builtin(run):
    expected = sorted(set(module_name_of(p) for p in run.tools['builtin'].split()))
    assert len(expected) > 100
    assert run.facts['builtin'] == expected


def test_kernel_state(run):
    assert run.facts['kernel']['tainted'] == int(run.tools['tainted'])
    assert run.facts['cmdline'] == run.tools['cmdline'].rstrip('\n')
    assert run.facts['kernel_release'] == run.tools['uname'].strip()
    assert run.facts['module_dir'] == run.tools['module_dir'].strip()
    assert run.facts['running'] is True
    assert run.facts['kernel']['sig_enforce'] is {'Y': True, 'N': False}[run.tools['sig_enforce'].strip()]
    assert run.facts['kernel']['modules_disabled'] is (run.tools['modules_disabled'].strip() != '0')
    assert run.facts['kernel']['compression'] == (run.tools['compression'].strip() or None)
    taint = int(run.tools['tainted'])
    assert sum(1 << f['bit'] for f in run.facts['kernel']['taint_flags']) == taint


def test_available_matches_modules_dep(run):
    mdir = run.tools['module_dir'].strip()
    expected = dict((module_name_of(p), '%s/%s' % (mdir, p)) for p in run.tools['modules_dep'].split())
    assert len(expected) > 3000
    assert run.facts['available'] == expected


# ---------------------------------------------------------------- configuration

def test_config_matches_modprobe_c(run):
    text = run.tools['modprobe_c']
    assert text.splitlines()[-1].startswith(END_OF_CONFIG), 'modprobe -c gave no end marker'
    expected = [line for line in text.splitlines()[:-1] if line]
    assert modprobe_c_from_facts(run.facts['config']) == expected


def test_config_has_the_test_files(run):
    config = run.facts['config']
    test_conf = '%s/%s' % (CONF_DIR, TEST_CONF)
    mask_conf = '%s/%s' % (CONF_DIR, MASK_CONF)
    assert test_conf in config['files'] and mask_conf in config['files']
    masked = [m for m in config['masked'] if m['by'] == mask_conf]
    assert [os.path.basename(m['file']) for m in masked] == [MASK_CONF]
    assert os.path.dirname(masked[0]['file']) in ('/lib/modprobe.d', '/usr/lib/modprobe.d')
    names = [(e['name'], e['file'], e['line']) for e in config['blacklist'] if e['file'] in (test_conf, mask_conf)]
    assert names == [('kmodtest_fb', mask_conf, 1), ('kmodtest_bl', test_conf, 2), ('kmodtest_dash', test_conf, 3)]
    assert not any(e['name'] == 'vt8623fb' for e in config['blacklist'])     # from the masked file
    assert config['options']['kmodtest_opt'] == [
        {'options': 'a=1 b=two', 'file': test_conf, 'line': 4},
        {'options': 'c=3     d=4', 'file': test_conf, 'line': 5},
    ]
    assert config['disabled'] == [{'name': 'kmodtest_off', 'command': '/bin/false', 'file': test_conf, 'line': 11}]
    assert {'module': 'kmodtest_opt', 'pre': ['kmodtest_pre1', 'kmodtest-pre2'], 'post': ['kmodtest_post'],
            'file': test_conf, 'line': 9} in config['softdeps']


# ---------------------------------------------------------------- modinfo

def test_lookup_matches_modprobe_resolve(run):
    for name in REQUESTED:
        expected = []
        for found in run.tools['resolve %s' % name].split():     # modprobe -R prints one line per matching alias
            if found not in expected:
                expected.append(found)
        assert run.facts['lookup'][name] == expected, name
    assert run.facts['missing'] == []
    assert sorted(run.facts['lookup'][PCI_DEVICE]) == ['8139cp', '8139too']


def test_info_matches_modinfo(run):
    info = run.facts['info']
    expected_names = sorted(key.split(' ', 1)[1] for key in run.tools if key.startswith('modinfo '))
    assert sorted(info) == expected_names
    assert set(expected_names) >= {'dummy', 'e1000e', '8139cp', '8139too'}
    for name in expected_names:
        tool = parse_modinfo(run.tools['modinfo %s' % name])
        ours = info[name]
        # Sorted: the JSON that carries the facts back does not keep key order.
        assert sorted(modinfo_parm_line(p, v) for p, v in ours['parameters'].items()) == sorted(tool.get('parm', [])), name
        assert ours['alias'] == tool.get('alias', []), name
        assert ','.join(ours['depends']) == tool['depends'][0], name
        assert ours['license'] == tool['license'][0], name
        assert ours['vermagic'] == tool['vermagic'][0], name
        assert ours['signer'] == tool['signer'][0], name
        assert ours['sig_key'] == tool['sig_key'][0], name
        assert ours['sig_hashalgo'] == tool['sig_hashalgo'][0], name
        assert ours['filename'] == tool['filename'][0], name
        assert ours['name'] == tool['name'][0], name
        assert ours['author'] == tool.get('author', []), name
        assert ours['description'] == (tool['description'][0] if 'description' in tool else None), name
        assert ours['intree'] is (tool.get('intree') == ['Y']), name
        assert ours['srcversion'] == (tool['srcversion'][0] if 'srcversion' in tool else None), name
        assert ours['builtin'] is False and ours['signed'] is True, name
        # Records without an entry of their own (version, ...) are in fields.
        for key in set(tool) - set(ours) - {'sig_id', 'signature', 'parm'}:
            assert ours['fields'][key] == tool[key], (name, key)
    assert info['8139too']['fields']['version'] == ['0.9.28']
    assert info['dummy']['parameters'] == {'numdummies': {'type': 'int',
                                                          'description': 'Number of dummy pseudo devices'}}


# ---------------------------------------------------------------- check mode

def test_check_mode_reports_the_same_facts_unchanged(run):
    normal = run.result.task('Gather everything')
    checked = run.result.task('Gather everything in check mode')
    assert normal['status'] == 'ok' and normal['changed'] is False
    assert checked['status'] == 'ok' and checked['changed'] is False
    assert checked['result']['ansible_facts'] == normal['result']['ansible_facts']
    assert run.result.task('Facts are set on the host')['status'] == 'ok'
