"""Benchmark: a kmod_depmod task against a `command: depmod -a` task, through Ansible on the test VM.

Boots the test VM (tests/vm, TCG unless KMOD_VM_ACCEL=kvm) and times, from
the controller, whole `ansible-playbook` runs (wall time, Ansible's start-up
included), the order alternating each round:

- floor: a play whose one task is `ansible.builtin.command: /bin/true`;
- depmod_a: `ansible.builtin.command: depmod -a` (kmod always does the whole work);
- ours_unchanged: `kernel.kmod.kmod_depmod` with default options, nothing
  changed since its last run (the usual case of a play run again);
- ours_one_added: the same task after one module file was added to
  `updates/` (or taken away again: the rounds alternate), the case of
  "run depmod each time we add a module";
- ours_full: the same task with its cache directory removed first (the
  first run on a node, or a cache that could not be trusted).

What the other side leaves is put right untimed: depmod -a rewrites the
indexes, so ours runs once, untimed, before each of its timed runs, and the
module file is added or removed untimed over ssh.  Medians and ratios from
one run go to bench/results/depmod_vm.md.  Never used as a test.

Run: .venv/bin/python bench/depmod_vm.py    (BENCH_DEPMOD_VM_N rounds, default 5)
"""

import datetime
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from tests.vm.ansible_run import ansible_env  # noqa: E402
from tests.vm.vm import VM  # noqa: E402
from bench.playbook_timing import time_playbook  # noqa: E402

ROUNDS = int(os.environ.get('BENCH_DEPMOD_VM_N', '5'))
RESULTS = os.path.join(HERE, 'results', 'depmod_vm.md')
CACHE_DIR = '/var/cache/kernel-kmod/depmod'
# A module copied under another name, so that it shadows nothing: a new module, as a driver package adds one
# (its suffix, .ko or .ko.xz, is the original's).
ADDED = 'updates/kmod-bench-dummy'

PLAY = '''
- hosts: all
  gather_facts: false
  tasks:
    - %s
'''

PLAYS = {
    'floor': 'ansible.builtin.command: /bin/true',
    'depmod_a': 'ansible.builtin.command: depmod -a',
    'ours_unchanged': 'kernel.kmod.kmod_depmod: {}',
    'ours_one_added': 'kernel.kmod.kmod_depmod: {}',
    'ours_full': 'kernel.kmod.kmod_depmod: {}',
}


def run_play(vm, task, env):
    return time_playbook(vm, PLAY % task, env, repr(task))


class Guest(object):
    """The untimed steps between timed runs."""

    def __init__(self, vm, env):
        self.vm = vm
        self.env = env
        self.release = vm.ssh('uname -r')[1].strip()
        self.moddir = '/lib/modules/%s' % self.release
        self.added = False
        self.source = self.sh('modinfo -n dummy').strip()
        self.target = '%s/%s%s' % (self.moddir, ADDED, self.source[self.source.index('.ko'):])

    def sh(self, command):
        rc, out, err = self.vm.ssh(command)
        if rc != 0:
            raise RuntimeError('%s: rc %s\n%s%s' % (command, rc, out, err))
        return out

    def ours_current(self):
        run_play(self.vm, PLAYS['ours_unchanged'], self.env)

    def toggle_module(self):
        if self.added:
            self.sh('rm -f %s' % self.target)
        else:
            self.sh('mkdir -p %s/updates && cp %s %s' % (self.moddir, self.source, self.target))
        self.added = not self.added

    def before(self, name):
        if name == 'ours_unchanged':
            self.ours_current()
        elif name == 'ours_one_added':
            self.ours_current()
            self.toggle_module()
        elif name == 'ours_full':
            self.sh('rm -rf %s' % CACHE_DIR)

    def restore(self):
        self.sh('rm -f %s; rmdir %s/updates 2>/dev/null; depmod -a' % (self.target, self.moddir))


def main():
    started = datetime.datetime.now(datetime.timezone.utc)
    env = ansible_env()
    env['ANSIBLE_COLLECTIONS_PATH'] = os.path.join(REPO, '.build')
    names = list(PLAYS)
    times = dict((name, []) for name in names)
    load = [os.getloadavg()[0]]
    with VM() as vm:
        guest = Guest(vm, env)
        modules = guest.sh('grep -c . %s/modules.dep' % guest.moddir).strip()
        kmod = guest.sh('kmod --version | head -1').strip()
        try:
            for name in names:      # warm-up: ssh control master, page cache, the first cache
                guest.before(name)
                run_play(vm, PLAYS[name], env)
            for i in range(ROUNDS):
                for name in (names if i % 2 == 0 else names[::-1]):
                    guest.before(name)
                    times[name].append(run_play(vm, PLAYS[name], env))
        finally:
            guest.restore()
    load.append(os.getloadavg()[0])
    med = dict((k, statistics.median(v)) for k, v in times.items())
    floor = med['floor']
    lines = [
        '# kmod_depmod against `command: depmod -a`, through Ansible on a real kernel (test VM)',
        '',
        '- date: %s' % started.strftime('%Y-%m-%d %H:%M UTC'),
        '- machine: %d CPUs; host load average (1 min) before and after: %.2f, %.2f (a shared machine)'
        % (os.cpu_count(), load[0], load[1]),
        '- VM: Debian 12, kernel %s (%s modules), %s, qemu %s, %d vCPUs'
        % (guest.release, modules, kmod, vm.accel.upper(), vm.cpus),
        '- reproduce: `.venv/bin/python bench/depmod_vm.py` (BENCH_DEPMOD_VM_N=%d rounds, alternating, '
        'after one warm-up round)' % ROUNDS,
        '- kmod_depmod with default options (parse cache and state in %s)' % CACHE_DIR,
        '',
        '| play (wall time of ansible-playbook) | median | / depmod -a | above the floor |',
        '|---|---|---|---|',
    ]
    lines += ['| %s | %.2f s | %.2f | %.2f s |' % (name, med[name], med[name] / med['depmod_a'], med[name] - floor)
              for name in names]
    lines += [
        '',
        'kmod_depmod / depmod -a: nothing changed %.2f, one module added or removed %.2f, no cache %.2f'
        % (med['ours_unchanged'] / med['depmod_a'], med['ours_one_added'] / med['depmod_a'],
           med['ours_full'] / med['depmod_a']),
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
