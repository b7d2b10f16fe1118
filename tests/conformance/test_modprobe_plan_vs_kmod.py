# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Our load plans against the real `modprobe --show-depends`: the host's
kmod 30 and kmod 34.2 in a Debian 13 chroot (the `kmod` fixture runs each
test with both, on trees that kmod's own depmod indexed).

`modprobe -D -d ROOT -S RELEASE -C CONFDIR [-i] [-b] NAME [OPTIONS]` prints
what it would do, one line a module: `insmod PATH OPTIONS`, `builtin NAME`
or `install RAW-COMMAND OPTIONS` (the command as configured, $CMDLINE_OPTS
not substituted).  It ignores what is loaded (nothing is: this kernel has no
module support), so nothing here is live; live and builtin skipping are unit
tests.  kmod prints a module again when two paths reach it (two softdeps
sharing a dependency): our plan keeps its first place, so kmod's repeats are
dropped before comparing.  kmod ends its option text with a blank when there
are config options: lines are compared without trailing blanks.

modprobe always reads /proc/cmdline; where we may (root and `unshare`) it
runs in a private mount namespace with a fake one bind-mounted over it, and
we give our planner the same text.  Otherwise both see the host's own.
"""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.config import modprobe as mc
from ansible_collections.kernel.kmod.plugins.module_utils.config.cmdline import parse_cmdline
from ansible_collections.kernel.kmod.plugins.module_utils.errors import ModuleNotFound
from ansible_collections.kernel.kmod.plugins.module_utils.load.plan import plan_load
from ansible_collections.kernel.kmod.plugins.module_utils.tree.module_dir import ModuleTree
from tests.lib.fake_cmdline import FAKE_CMDLINE, host_cmdline
from tests.lib.fake_tree import FakeTree

pytestmark = pytest.mark.conformance

RELEASE = '6.1.0-plan-amd64'


class Oracle(object):
    """Runs a kmod's modprobe -D many times under one fake /proc/cmdline
    (the module tree must be shared with that kmod: kmod.sharing)."""

    def __init__(self, kmod, tmp, root, release, confdirs, cmdline_text):
        self.kmod = kmod
        self.root = root
        self.release = release
        self.confdirs = confdirs
        self.cmdline_text = cmdline_text if FAKE_CMDLINE else host_cmdline()
        self.cmdline_file = os.path.join(str(tmp), 'cmdline')
        with open(self.cmdline_file, 'w') as f:
            f.write(self.cmdline_text)

    def run(self, args):
        """(lines with kmod's repeats dropped, or None when kmod found nothing)."""
        argv = ['-D', '-d', self.root, '-S', self.release]
        for d in self.confdirs:
            argv += ['-C', d]
        argv += list(args)
        r = self.kmod.modprobe(argv, share=self.confdirs, cmdline_file=self.cmdline_file if FAKE_CMDLINE else None)
        if r.returncode != 0:
            assert 'not found in directory' in r.stderr, r.stderr
            return None
        lines = []
        seen = set()
        for line in r.stdout.splitlines():
            line = line.rstrip(' ')
            module = _line_module(line)
            if line in lines or module in seen:
                continue
            lines.append(line)
            if module is not None:
                seen.add(module)
        return lines


def _line_module(line):
    """The module a modprobe -D line is about, when the line says it: insmod
    and builtin lines, and the install commands of the random configs below
    (which echo the module's name).  -D lists a module again each time it is
    reached (as a dependency of a later match, say), perhaps with another
    action; a real run finds it live the second time and skips it."""
    words = line.split()
    if words[:1] == ['insmod'] and len(words) > 1:
        return words[1].rsplit('/', 1)[-1].split('.', 1)[0].replace('-', '_')
    if words[:1] == ['builtin'] and len(words) > 1:
        return words[1].replace('-', '_')
    if words[:2] == ['install', '/bin/echo'] and len(words) > 2 and words[2].startswith('module='):
        return words[2][len('module='):].rsplit('-', 1)[0].replace('-', '_')
    return None


def plan_lines(tree, config, args, **kwargs):
    """Our plan of a modprobe -D argument list, as modprobe -D lines (None: not found)."""
    flags = {'ignore_install': '-i' in args, 'use_blacklist': '-b' in args}
    words = [a for a in args if a not in ('-i', '-b')]
    flags.update(kwargs)
    try:
        plan = plan_load(tree, config, words[0], user_options=' '.join(words[1:]), **flags)
    except ModuleNotFound:
        return None
    lines = []
    for step in plan.steps:
        if step.action == 'insert':
            lines.append(('insmod %s %s' % (step.path, step.options)).rstrip(' '))
        elif step.action == 'builtin':
            lines.append('builtin %s' % step.name)
        elif step.action == 'install':
            raw = config.install_command(step.name)
            assert step.command == raw.replace('$CMDLINE_OPTS', step.options)
            lines.append(('install %s %s' % (raw, step.options)).rstrip(' '))
        else:
            raise AssertionError('unexpected step %r' % step)
    return lines


# ---------------------------------------------------------------- a synthetic tree

CONFIG = r"""
alias cfgalias top
alias cfg-pat* mid
alias two-mods low
alias two-mods wide
alias two-mods sfx
options top t=1
options top t2=2
options cfgalias via=alias
options cfg-pat* viapattern=1
options mid m=1
options two-mods both=1
options sfx sfx=1
options sfx_alias sa=1
install withinst /bin/echo inst $CMDLINE_OPTS end
options withinst w=1
install cmdonly /bin/true
install withsd /bin/false
install sdlow /bin/echo sdlow-inst
softdep withsd pre: low post: sfx
softdep cycx pre: cycy
softdep cycy pre: cycx post: top
softdep wide pre: sfx_alias post: nowhere-at-all
softdep shared1 pre: sdlow
softdep shared2 pre: low sdlow post: shared1
softdep selfish pre: selfish mid
softdep postonly post: sfx
install postonly /bin/false
blacklist blk
blacklist wide
weakdep top sfx low-alias
"""

CMDLINE = ('BOOT_IMAGE=/vmlinuz root=/dev/vda ro quiet top.c=1 "mid.q=x y" cfgalias.cx=2 '
           'two-mods.tm=3 low.l=4 modprobe.blacklist=blk2,mid')


@pytest.fixture(scope='module')
def synthetic(kmod, tmp_path_factory):
    """The tree, indexed by this kmod's depmod and shared with it for the module's tests."""
    tmp = tmp_path_factory.mktemp('plan')
    fake = FakeTree(tmp, RELEASE)
    gpl = 'license=GPL'
    fake.add('kernel/low.ko', modinfo=[gpl, 'alias=low-alias'], exports=['low_fn'])
    fake.add('kernel/mid.ko', modinfo=[gpl, 'alias=mid-alias'], exports=['mid_fn'], needs=['low_fn'])
    fake.add('kernel/top.ko', modinfo=[gpl, 'alias=top-alias', 'alias=pci:v00001234d*'],
             exports=['top_fn'], needs=['mid_fn'])
    fake.add('kernel/wide.ko', modinfo=[gpl, 'alias=pci:v00001234d00000001*'], needs=['low_fn', 'top_fn'])
    fake.add('kernel/sfx.ko', modinfo=[gpl, 'alias=sfx-alias'])
    fake.add('kernel/withinst.ko', modinfo=[gpl], needs=['mid_fn'])
    fake.add('kernel/withsd.ko', modinfo=[gpl])
    fake.add('kernel/cycx.ko', modinfo=[gpl])
    fake.add('kernel/cycy.ko', modinfo=[gpl])
    fake.add('kernel/sdlow.ko', modinfo=[gpl], needs=['low_fn'])
    fake.add('kernel/shared1.ko', modinfo=[gpl], needs=['mid_fn'])
    fake.add('kernel/shared2.ko', modinfo=[gpl], needs=['mid_fn'])
    fake.add('kernel/selfish.ko', modinfo=[gpl])
    fake.add('kernel/postonly.ko', modinfo=[gpl])
    fake.add('kernel/modsd.ko', modinfo=[gpl, 'softdep=pre: sfx post: low-alias', 'weakdep=cycx'], needs=['top_fn'])
    fake.add('kernel/blk.ko', modinfo=[gpl, 'alias=blk-alias'], exports=['blk_fn'])
    fake.add('kernel/blk2.ko', modinfo=[gpl, 'alias=blk2-alias'])
    fake.add('kernel/usesblk.ko', modinfo=[gpl], needs=['blk_fn'])
    fake.add('kernel/sub/dash-mod.ko', modinfo=[gpl, 'alias=dash-alias'], needs=['low_fn'])
    fake.add('extra/outoforder.ko', in_order=False, modinfo=[gpl], needs=['top_fn'])
    fake.add_builtin('kernel/bi.ko', modinfo=['alias=bi-alias', 'parm=p:x'])
    fake.conf('conf/plan.conf', CONFIG)
    fake.depmod(kmod)
    with kmod.sharing([fake.root]):
        yield fake


REQUESTS = [
    'top', 'mid', 'low', 'top-alias', 'pci:v00001234d00000001sv0', 'pci:v00001234d00000002',
    'symbol:top_fn', 'symbol:low_fn', 'cfgalias', 'cfg-pattern', 'two-mods', 'withinst', 'cmdonly',
    'withsd', 'cycx', 'cycy', 'wide', 'shared2', 'selfish', 'postonly', 'modsd', 'blk', 'blk-alias', 'blk2',
    'blk2-alias', 'symbol:blk_fn', 'usesblk', 'dash-mod', 'dash_mod', 'dash-alias', 'outoforder',
    'bi', 'bi-alias', 'sfx-alias', 'nothing-here', 'symbol:nothing', 'low-alias',
]
FLAGS = [[], ['-i'], ['-b'], ['-i', '-b']]


@pytest.fixture(scope='module', params=['host-or-fake-cmdline', 'no-module-words'])
def synthetic_setup(request, kmod, synthetic, tmp_path_factory):
    text = CMDLINE if request.param == 'host-or-fake-cmdline' else 'root=/dev/vda ro'
    oracle = Oracle(kmod, tmp_path_factory.mktemp('cmdline'), synthetic.root, RELEASE,
                    [os.path.join(synthetic.root, 'conf')], text)
    tree = ModuleTree(synthetic.root, RELEASE)
    # weakdep lines and modules.weakdep (kmod 33+) are read, and never loaded
    weakdep = kmod.major >= 33
    config = mc.load_modprobe_config(paths=oracle.confdirs, module_dir=tree.module_dir,
                                     cmdline=oracle.cmdline_text, weakdep=weakdep)
    kmod_30_warns = ["ignoring bad line starting with 'weakdep'"]
    assert [w.split(': ', 1)[1] for w in config.warnings] == ([] if weakdep else kmod_30_warns)
    assert config.weakdeps_for('top') == (['sfx', 'low-alias'] if weakdep else [])
    assert config.weakdeps_for('modsd') == (['cycx'] if weakdep else [])
    yield oracle, tree, config
    tree.close()


@pytest.mark.parametrize('flags', FLAGS, ids=lambda f: ' '.join(f) or 'plain')
def test_synthetic_tree(synthetic_setup, flags):
    oracle, tree, config = synthetic_setup
    for name in REQUESTS:
        args = flags + [name]
        if name == 'cmdonly' and '-i' in flags:
            # Only an install command, and it is ignored: kmod -D prints
            # nothing and a real run fails; we fail at planning time.
            assert oracle.run(args) == [] and plan_lines(tree, config, args) is None
            continue
        assert plan_lines(tree, config, args) == oracle.run(args), args


def test_user_options(synthetic_setup):
    oracle, tree, config = synthetic_setup
    for args in (['top', 'u=1', 'v=2'], ['cfgalias', 'u=1'], ['withinst', 'a=1'], ['two-mods', 'x=1'],
                 ['-i', 'withinst', 'b=2'], ['modsd', 'q=1']):
        assert plan_lines(tree, config, args) == oracle.run(args), args


def test_kmod_repeats_a_module_the_plan_does_not(synthetic_setup):
    """shared2: pre low sdlow post shared1; sdlow and shared1 share low/mid."""
    oracle, tree, config = synthetic_setup
    proc = oracle.kmod.modprobe(['-D', '-d', oracle.root, '-S', RELEASE, '-C', oracle.confdirs[0], 'shared2'])
    assert proc.returncode == 0, proc.stderr
    raw = proc.stdout.splitlines()
    assert len(raw) > len(set(raw))
    ours = plan_lines(tree, config, ['shared2'])
    assert len(ours) == len(set(ours))


@pytest.mark.skipif(not FAKE_CMDLINE, reason='cannot give modprobe a fake /proc/cmdline here')
def test_cmdline_given_apart_equals_config_cmdline(kmod, synthetic, tmp_path):
    oracle = Oracle(kmod, tmp_path, synthetic.root, RELEASE, [os.path.join(synthetic.root, 'conf')], CMDLINE)
    with ModuleTree(synthetic.root, RELEASE) as tree:
        config = mc.load_modprobe_config(paths=oracle.confdirs, module_dir=tree.module_dir, cmdline=False)
        for name in ('top', 'mid', 'cfgalias', 'two-mods', 'blk2', 'blk2-alias', 'low-alias'):
            for flags in ([], ['-b']):
                args = flags + [name]
                assert plan_lines(tree, config, args, cmdline=parse_cmdline(CMDLINE)) == oracle.run(args), args
        # the command line decides: options and blacklist words show up
        assert 'c=1' in plan_lines(tree, config, ['top'], cmdline=parse_cmdline(CMDLINE))[-1]
        assert plan_lines(tree, config, ['-b', 'blk2'], cmdline=parse_cmdline(CMDLINE)) == []


# ---------------------------------------------------------------- Debian's real tree

DEBIAN_CONFIG = """
options snd-pcsp index=-2
options snd-hda-intel power_save=1 model=auto
options dummy numdummies=0
softdep uhci-hcd pre: ehci-hcd
softdep ohci-hcd pre: ehci-hcd
alias net-pf-31 bluetooth
blacklist pcspkr
blacklist floppy
install cramfs /bin/true
install usb-storage /sbin/modprobe --ignore-install usb-storage $CMDLINE_OPTS
"""
DEBIAN_CMDLINE = 'root=/dev/vda ro dummy.numdummies=3 e1000e.debug=1 "usbcore.autosuspend=-1" modprobe.blacklist=snd_pcsp'


def debian_requests(tree, module_dir):
    """A deterministic spread of names: every 16th module, every 97th alias
    (wildcards dropped), every 400th symbol, and some known to be special."""
    names = sorted(tree.available())[::16]
    aliases = []
    with open(os.path.join(module_dir, 'modules.alias')) as f:
        lines = [line.split() for line in f if line.startswith('alias ')]
    for words in lines[::97]:
        alias = words[1].replace('*', '')
        if '[' not in alias and '?' not in alias:
            aliases.append(alias)
    with open(os.path.join(module_dir, 'modules.symbols')) as f:
        symbols = [line.split()[1] for line in f if line.startswith('alias ')][::400]
    special = ['ext4', 'btrfs', 'iwlmvm', 'snd-hda-intel', 'uhci-hcd', 'ohci_hcd', 'usb-storage', 'cramfs',
               'pcspkr', 'floppy', 'snd-pcsp', 'net-pf-31', 'crypto-crc32c', 'fs-xfs', 'dummy', 'e1000e',
               'usbcore', 'crc32c', 'not-a-module', 'nf_conntrack']
    return special + names + aliases + symbols


def test_debian_tree(kmod, indexed_debian_tree, tmp_path):
    debian_tree = indexed_debian_tree
    conf = os.path.join(str(tmp_path), 'conf')
    os.makedirs(conf)
    with open(os.path.join(conf, 'debian.conf'), 'w') as f:
        f.write(DEBIAN_CONFIG)
    oracle = Oracle(kmod, tmp_path, debian_tree.root, debian_tree.release, [conf], DEBIAN_CMDLINE)
    with ModuleTree(debian_tree.root, debian_tree.release) as tree, kmod.sharing([debian_tree.root]):
        config = mc.load_modprobe_config(paths=[conf], module_dir=tree.module_dir, cmdline=oracle.cmdline_text)
        requests = debian_requests(tree, tree.module_dir)
        assert len(requests) > 300
        compared = 0
        for name in requests:
            flags = ['-b'] if compared % 5 == 4 else []
            args = flags + [name]
            assert plan_lines(tree, config, args) == oracle.run(args), args
            compared += 1
        for args in (['-i', 'usb-storage'], ['dummy', 'numdummies=4'], ['-b', 'pcspkr'], ['-i', 'uhci-hcd']):
            assert plan_lines(tree, config, args) == oracle.run(args), args


# ---------------------------------------------------------------- random configurations

# Few names, so that lines often meet.
MODULES = ['low', 'mid', 'top', 'sfx', 'cycx', 'sdlow', 'modsd', 'blk', 'dash-mod']
# Names a softdep or request may use: modules, their aliases, symbols, a builtin, nothing.
NAMES = MODULES + ['top-alias', 'sfx-alias', 'symbol:mid_fn', 'bi', 'bi-alias', 'ghost', 'fz-alias']

_name = st.sampled_from(NAMES)
_module = st.sampled_from(MODULES)
_line = st.one_of(
    st.builds(lambda m, pre, post: 'softdep %s pre: %s post: %s' % (m, ' '.join(pre), ' '.join(post)),
              _module, st.lists(_name, max_size=3), st.lists(_name, max_size=2)),
    st.builds(lambda m, w: 'install %s /bin/echo module=%s-%s $CMDLINE_OPTS' % (m, m, w), _module,
              st.sampled_from('xyz')),
    st.builds(lambda m, v: 'options %s k%d=%d' % (m, v, v), _module, st.integers(0, 3)),
    st.builds(lambda m: 'alias fz-alias %s' % m, _module),
    st.builds(lambda m: 'blacklist %s' % m, _module),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, max_size=12), request=_name,
       flags=st.sampled_from(FLAGS))
def test_random_configs(kmod, synthetic, tmp_path, lines, request, flags):
    """Random softdep/install/options/alias/blacklist lines over the synthetic
    tree (no alias-keyed options and no user options: there kmod -D prints a
    module twice with different options, where a real run skips the second)."""
    conf = os.path.join(str(tmp_path), 'fuzz-conf')
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, 'fuzz.conf'), 'w') as f:
        f.write(''.join(line + '\n' for line in lines))
    oracle = Oracle(kmod, tmp_path, synthetic.root, RELEASE, [conf], 'root=/dev/vda top.c=1')
    with ModuleTree(synthetic.root, RELEASE) as tree:
        config = mc.load_modprobe_config(paths=[conf], module_dir=tree.module_dir, cmdline=oracle.cmdline_text)
        args = flags + [request]
        assert plan_lines(tree, config, args) == oracle.run(args), (lines, args)
