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
not reachable from the project's machines.  Medians and ratios from the same
run go to bench/results/load_vm.md.  Never used as a test.

Run: .venv/bin/python bench/load_vm.py    (BENCH_LOAD_N rounds, default 3)
"""

import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from tests.vm.ansible_run import ansible_env, ansible_tool  # noqa: E402
from tests.vm.vm import VM  # noqa: E402

ROUNDS = int(os.environ.get('BENCH_LOAD_N', '3'))
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


def run_play(vm, name, env):
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as f:
        f.write(PLAY % '\n'.join(PLAYS[name]))
    try:
        cmd = [ansible_tool('ansible-playbook'), '-i', vm.inventory, f.name]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        elapsed = time.perf_counter() - start
    finally:
        os.remove(f.name)
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc %s):\n%s' % (name, proc.returncode, proc.stdout[-3000:]))
    return elapsed


def main():
    started = datetime.datetime.now(datetime.timezone.utc)
    cg = community_general()
    env = ansible_env()
    env['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join([os.path.join(REPO, '.build'), cg])
    times = dict((name, []) for name in PLAYS)
    load = [os.getloadavg()[0]]
    with VM() as vm:
        kernel = vm.ssh('uname -r')[1].strip()
        names = list(PLAYS)
        for name in names:          # warm-up: ssh control master, caches
            vm.ssh(UNLOAD)
            run_play(vm, name, env)
        for i in range(ROUNDS):
            order = names if i % 2 == 0 else names[::-1]
            for name in order:
                vm.ssh(UNLOAD)
                times[name].append(run_play(vm, name, env))
        vm.ssh(UNLOAD)
    load.append(os.getloadavg()[0])
    med = dict((k, statistics.median(v)) for k, v in times.items())
    lines = [
        '# kmod_load against community.general.modprobe on a real kernel (test VM)',
        '',
        '- date: %s' % started.strftime('%Y-%m-%d %H:%M UTC'),
        '- machine: %d CPUs; host load average (1 min) before and after: %.2f, %.2f (a shared machine)'
        % (os.cpu_count(), load[0], load[1]),
        '- VM: Debian 12, kernel %s, qemu %s; community.general from PyPI %s'
        % (kernel, vm.accel.upper(), ANSIBLE_PACKAGE),
        '- reproduce: `.venv/bin/python bench/load_vm.py` (BENCH_LOAD_N=%d rounds, alternating)' % ROUNDS,
        '- ten modules: %s' % ' '.join(TEN),
        '',
        '| play (wall time of ansible-playbook) | median |',
        '|---|---|',
    ]
    lines += ['| %s | %.2f s |' % (name, med[name]) for name in names]
    floor = med['floor_true']
    lines += [
        '',
        'one module: kmod_load / community.general.modprobe = %.2f (%.2f above the floor against %.2f)'
        % (med['one_kmod_load'] / med['one_cg_modprobe'], med['one_kmod_load'] - floor,
           med['one_cg_modprobe'] - floor),
        'ten modules: one kmod_load / ten community.general.modprobe = %.2f; / one command modprobe -a = %.2f'
        % (med['ten_kmod_load'] / med['ten_cg_modprobe'], med['ten_kmod_load'] / med['ten_command_modprobe_a']),
        '',
        '## Raw seconds',
        '',
        '```',
    ] + ['%s: %s' % (name, ' '.join('%.2f' % t for t in times[name])) for name in names] + ['```', '']
    text = '\n'.join(lines)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
