"""Benchmark: kmod_load against community.general.modprobe on a real kernel (the test VM).

Boots the test VM (tests/vm, TCG unless KMOD_VM_ACCEL=kvm) and times, from
the controller, whole `ansible-playbook` runs (wall time, Ansible's start-up
included), alternating the order each round:

- one module: a play with one `kernel.kmod.kmod_load` task against one with
  one `community.general.modprobe` task (name: dummy);
- ten modules: one `kmod_load` task with the ten names, against ten
  `community.general.modprobe` tasks, against one `command: modprobe -a ...`;
- a play whose one task is `ansible.builtin.command: /bin/true`: the floor
  every play pays (ansible-playbook start, ssh, one module transfer).

Between runs (untimed) the modules are unloaded over ssh, so every timed run
loads them.  community.general is taken from the `ansible` package on PyPI
(`pip download`, cached under $KMOD_TEST_CACHE/community-general): Galaxy is
not reachable from the project's machines.  Medians, minimums and ratios
from the same run go to bench/results/load_vm.md, with the host's load
average (1 min) taken before every timed run: the machine is shared, and
under load the minimum of a play says more about its own cost than the
median.  Never used as a test.

With BENCH_LOAD_BASELINE=DIR (another checkout of this collection, for
example `git archive REV | tar -x -C DIR`), the kmod_load plays also run
from DIR's collection, in the same rounds: a change measured against what
it changed under the same load.

Run: .venv/bin/python bench/load_vm.py    (BENCH_LOAD_N rounds, default 5)
"""

import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from tests.vm.ansible_run import ansible_env  # noqa: E402
from tests.vm.vm import VM  # noqa: E402
from bench.playbook_timing import time_playbook  # noqa: E402

ROUNDS = int(os.environ.get('BENCH_LOAD_N', '5'))
RESULTS = os.path.join(HERE, 'results', 'load_vm.md')
ANSIBLE_PACKAGE = 'ansible==10.7.0'
TEN = ['dummy', 'brd', 'veth', 'macvlan', 'ipvlan', 'nlmon', 'ifb', 'vcan', 'geneve', 'vxcan']
UNLOAD = 'modprobe -r -a %s 2>/dev/null; modprobe -r -a udp_tunnel ip6_udp_tunnel can_dev 2>/dev/null; true' % (
    ' '.join(TEN))

PLAY = '''
- hosts: all
  gather_facts: false
  tasks:
%s
'''


def task(module, args):
    body = ''.join('\n        %s: %s' % (k, v) for k, v in args.items())
    return '    - %s:%s' % (module, body)


PLAYS = {
    'floor_true': [task('ansible.builtin.command', {'cmd': '/bin/true'})],
    'one_kmod_load': [task('kernel.kmod.kmod_load', {'name': 'dummy'})],
    'one_cg_modprobe': [task('community.general.modprobe', {'name': 'dummy'})],
    'ten_kmod_load': [task('kernel.kmod.kmod_load', {'name': '[%s]' % ', '.join(TEN)})],
    'ten_cg_modprobe': [task('community.general.modprobe', {'name': m}) for m in TEN],
    'ten_command_modprobe_a': [task('ansible.builtin.command', {'cmd': 'modprobe -a %s' % ' '.join(TEN)})],
}


def community_general():
    """A collections path holding community.general (extracted once from the ansible wheel)."""
    cache = os.path.join(os.environ.get('KMOD_TEST_CACHE', os.path.expanduser('~/.cache/kernel-kmod')),
                         'community-general')
    done = os.path.join(cache, 'ansible_collections', 'community', 'general', 'MANIFEST.json')
    if not os.path.exists(done):
        wheels = os.path.join(cache, 'wheel')
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '-q', '-d', wheels, ANSIBLE_PACKAGE],
                       check=True)
        wheel = [os.path.join(wheels, f) for f in os.listdir(wheels) if f.endswith('.whl')][0]
        with zipfile.ZipFile(wheel) as z:
            z.extractall(cache, [n for n in z.namelist() if n.startswith('ansible_collections/community/general/')])
    return cache


def baseline_plays(directory):
    """Add the kmod_load plays run from the collection in `directory`; returns
    (its collections path, the names of the plays added)."""
    path = tempfile.mkdtemp(prefix='kmod-baseline-')
    os.makedirs(os.path.join(path, 'ansible_collections', 'kernel'))
    os.symlink(os.path.abspath(directory), os.path.join(path, 'ansible_collections', 'kernel', 'kmod'))
    added = []
    for name in ('one_kmod_load', 'ten_kmod_load'):
        PLAYS[name + '_baseline'] = PLAYS[name]
        added.append(name + '_baseline')
    return path, added


def run_play(vm, name, env):
    return time_playbook(vm, PLAY % '\n'.join(PLAYS[name]), env, name)


def main():
    started = datetime.datetime.now(datetime.timezone.utc)
    cg = community_general()
    env = ansible_env()
    env['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join([os.path.join(REPO, '.build'), cg])
    envs = dict((name, env) for name in PLAYS)
    baseline = os.environ.get('BENCH_LOAD_BASELINE')
    baseline_path = None
    if baseline:
        baseline_path, added = baseline_plays(baseline)
        for name in added:
            envs[name] = dict(env, ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([baseline_path, cg]))
    try:
        kernel, accel, times, load = measure(envs)
    finally:
        if baseline_path:
            shutil.rmtree(baseline_path)
    report(started, kernel, accel, times, load, baseline)


def measure(envs):
    """(kernel release, accelerator, {play: [seconds]}, [load averages]) of ROUNDS alternating rounds."""
    times = dict((name, []) for name in PLAYS)
    load = []
    with VM() as vm:
        kernel = vm.ssh('uname -r')[1].strip()
        names = list(PLAYS)
        for name in names:          # warm-up: ssh control master, caches
            vm.ssh(UNLOAD)
            run_play(vm, name, envs[name])
        for i in range(ROUNDS):
            order = names if i % 2 == 0 else names[::-1]
            for name in order:
                vm.ssh(UNLOAD)
                load.append(os.getloadavg()[0])
                times[name].append(run_play(vm, name, envs[name]))
        vm.ssh(UNLOAD)
    return kernel, vm.accel, times, load


def report(started, kernel, accel, times, load, baseline):
    names = list(PLAYS)
    med = dict((k, statistics.median(v)) for k, v in times.items())
    low = dict((k, min(v)) for k, v in times.items())
    lines = [
        '# kmod_load against community.general.modprobe on a real kernel (test VM)',
        '',
        '- date: %s' % started.strftime('%Y-%m-%d %H:%M UTC'),
        '- machine: %d CPUs, shared; host load average (1 min) before each timed run: min %.2f, median %.2f, max %.2f'
        % (os.cpu_count(), min(load), statistics.median(load), max(load)),
        '- VM: Debian 12, kernel %s, qemu %s; community.general from PyPI %s'
        % (kernel, accel.upper(), ANSIBLE_PACKAGE),
        '- reproduce: `%s.venv/bin/python bench/load_vm.py` (BENCH_LOAD_N=%d rounds, alternating)'
        % ('BENCH_LOAD_BASELINE=DIR ' if baseline else '', ROUNDS),
        '- ten modules: %s' % ' '.join(TEN),
    ] + (['- baseline (the *_baseline plays): the collection in %s' % os.environ.get('BENCH_LOAD_BASELINE_LABEL', baseline)]
         if baseline else []) + [
        '',
        '| play (wall time of ansible-playbook) | median | minimum |',
        '|---|---|---|',
    ]
    lines += ['| %s | %.2f s | %.2f s |' % (name, med[name], low[name]) for name in names]
    for label, of in (('medians', med), ('minimums', low)):
        floor = of['floor_true']
        lines += [
            '',
            '%s: one module: kmod_load / community.general.modprobe = %.2f (%.2f above the floor against %.2f)'
            % (label, of['one_kmod_load'] / of['one_cg_modprobe'], of['one_kmod_load'] - floor,
               of['one_cg_modprobe'] - floor),
            '%s: ten modules: one kmod_load / ten community.general.modprobe = %.2f; / one command modprobe -a = %.2f'
            % (label, of['ten_kmod_load'] / of['ten_cg_modprobe'], of['ten_kmod_load'] / of['ten_command_modprobe_a']),
        ]
        if baseline:
            lines.append('%s: this checkout / the baseline: one module %.2f, ten modules %.2f'
                         % (label, of['one_kmod_load'] / of['one_kmod_load_baseline'],
                            of['ten_kmod_load'] / of['ten_kmod_load_baseline']))
    lines += [
        '',
        '## Raw seconds',
        '',
        '```',
    ] + ['%s: %s' % (name, ' '.join('%.2f' % t for t in times[name])) for name in names] + [
        'load average (1 min) before each timed run: %s' % ' '.join('%.2f' % x for x in load), '```', '']
    text = '\n'.join(lines)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
